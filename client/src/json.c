/*
 * proto3 JSON readers and the resource mappings of libsbx (see json.h).
 * Every reader tolerates absent zero values, int64 as string or number and
 * unknown fields, because the managed service and sbxd may differ there.
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pb.h"
#include "extension.pb-c.h"
#include "sandbox.pb-c.h"
#include "util.h"

int sbx_json_too_deep(const char *text, size_t len, int max)
{
	int depth = 0, in_str = 0, esc = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[') {
			if (++depth > max)
				return 1;
		} else if (c == '}' || c == ']')
			depth--;
	}
	return 0;
}

cJSON *sbx_json_parse(const char *text, size_t len)
{
	if (!text || sbx_json_too_deep(text, len, SBX_JSON_MAX_DEPTH))
		return NULL;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root)
		return NULL;
	/* Trailing garbage after the value is malformed, not ignorable. */
	while (end && (size_t)(end - text) < len) {
		char c = *end;
		if (c != ' ' && c != '\n' && c != '\r' && c != '\t' && c != '\0') {
			cJSON_Delete(root);
			return NULL;
		}
		end++;
	}
	return root;
}

int sbx_json_item_i64(const cJSON *it, int64_t *out)
{
	*out = 0;
	if (!it || cJSON_IsNull(it))
		return 0;
	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;
		if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18)
			return -1;
		*out = (int64_t)d;
		return 0;
	}
	if (cJSON_IsString(it)) {
		if (!it->valuestring[0])
			return 0;
		return sbx_parse_i64(it->valuestring, out);
	}
	return -1;
}

int sbx_json_get_i64(const cJSON *obj, const char *key, int64_t *out)
{
	return sbx_json_item_i64(cJSON_GetObjectItemCaseSensitive(obj, key), out);
}

static const char *const state_words[] = {
	"unknown", "pending", "creating", "running", "paused", "terminating", "completed", "failed", "terminated",
};

#define NELEM(a) (sizeof(a) / sizeof(*(a)))
_Static_assert(NELEM(state_words) == SBX_STATE_TERMINATED + 1, "one word a sandbox state");

const char *sbx_state_word(sbx_state s)
{
	if ((unsigned)s >= NELEM(state_words))
		return "unknown";
	return state_words[s];
}

int sbx_state_is_terminal(sbx_state s)
{
	return s == SBX_STATE_COMPLETED || s == SBX_STATE_FAILED || s == SBX_STATE_TERMINATED;
}

static const char *const proc_words[] = {"unknown", "running", "exited", "killed", "failed"};

const char *sbx_proc_state_word(sbx_proc_state s)
{
	if ((unsigned)s >= NELEM(proc_words))
		return "unknown";
	return proc_words[s];
}

char *sbx_json_pretty(const cJSON *root)
{
	char *raw = cJSON_Print(root);
	if (!raw)
		return NULL;
	/* cJSON indents with tabs and puts a tab after each colon; raw tabs
	 * appear nowhere else (inside strings they are escaped), so two spaces
	 * per level and one after a colon give the usual look. */
	size_t tabs = 0, n = 0;
	for (const char *p = raw; *p; p++, n++)
		tabs += *p == '\t';
	char *out = malloc(n + tabs + 2);
	if (out) {
		char *q = out;
		for (const char *p = raw; *p; p++) {
			if (*p != '\t') {
				*q++ = *p;
			} else if (p > raw && p[-1] == ':') {
				*q++ = ' ';
			} else {
				*q++ = ' ';
				*q++ = ' ';
			}
		}
		*q++ = '\n';
		*q = '\0';
	}
	free(raw);
	return out;
}

void sbx_sandbox_free(sbx_sandbox *s)
{
	if (!s)
		return;
	free(s->id);
	free(s->name);
	free(s->state_reason);
	free(s->image);
	for (size_t i = 0; i < s->ntags; i++)
		free(s->tags[i]);
	free(s->tags);
	free(s->json);
	free(s);
}

void sbx_sandbox_list_free(sbx_sandbox **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		sbx_sandbox_free(v[i]);
	free(v);
}

static int int_range(int64_t v, int64_t lo, int64_t hi);

/* The schema's State numbers (STATE_RUNNING is 2) to sbx_state, whose
 * order is the public header's: mapped by meaning, never by number. */
static const struct {
	int pb;
	sbx_state s;
} state_map[] = {
	{COREWEAVE__SANDBOX__V1__STATE__STATE_PENDING, SBX_STATE_PENDING},
	{COREWEAVE__SANDBOX__V1__STATE__STATE_CREATING, SBX_STATE_CREATING},
	{COREWEAVE__SANDBOX__V1__STATE__STATE_RUNNING, SBX_STATE_RUNNING},
	{COREWEAVE__SANDBOX__V1__STATE__STATE_PAUSED, SBX_STATE_PAUSED},
	{COREWEAVE__SANDBOX__V1__STATE__STATE_TERMINATING, SBX_STATE_TERMINATING},
	{COREWEAVE__SANDBOX__V1__STATE__STATE_COMPLETED, SBX_STATE_COMPLETED},
	{COREWEAVE__SANDBOX__V1__STATE__STATE_FAILED, SBX_STATE_FAILED},
	{COREWEAVE__SANDBOX__V1__STATE__STATE_TERMINATED, SBX_STATE_TERMINATED},
};

sbx_state sbx_state_from_pb(int v)
{
	for (size_t i = 0; i < NELEM(state_map); i++)
		if (state_map[i].pb == v)
			return state_map[i].s;
	return SBX_STATE_UNSPECIFIED;
}

int sbx_state_to_pb(sbx_state s)
{
	for (size_t i = 0; i < NELEM(state_map); i++)
		if (state_map[i].s == s)
			return state_map[i].pb;
	return 0;
}

static int64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
	if (!t || t->seconds < 0 || t->seconds > INT64_MAX / 1000000000 - 1)
		return 0;
	return t->seconds * 1000000000 + t->nanos;
}

sbx_result sbx_sandbox_from_pb(const ProtobufCMessage *msg, sbx_sandbox **out, sbx_error *err)
{
	const Coreweave__Sandbox__V1__Sandbox *m = (const Coreweave__Sandbox__V1__Sandbox *)msg;
	sbx_sandbox *s = NULL;
	*out = NULL;
	if (!m || m->base.descriptor != &coreweave__sandbox__v1__sandbox__descriptor)
		return sbx_fail(err, SBX_E_INTERNAL, "not a Sandbox message");
	if (!sbx_id_ok(m->sandbox_id))
		return sbx_fail(err, SBX_E_PROTOCOL, "sandbox answer lacks a valid sandboxId");
	s = calloc(1, sizeof *s);
	if (!s)
		goto nomem;
	const Coreweave__Sandbox__V1__SandboxSpec *sp = m->spec;
	const Coreweave__Sandbox__V1__SandboxStatus *st = m->status;
	/* The image of the primary container (or the only one). */
	const char *image = "";
	if (sp && sp->n_containers) {
		const Coreweave__Sandbox__V1__Container *c = sp->containers[0];
		for (size_t i = 0; sp->primary_container && sp->primary_container[0] && i < sp->n_containers; i++)
			if (sp->containers[i]->name && strcmp(sp->containers[i]->name, sp->primary_container) == 0)
				c = sp->containers[i];
		if (c && c->image)
			image = c->image;
	}
	s->id = strdup(m->sandbox_id);
	s->image = strdup(image);
	s->state_reason = strdup(st && st->state_reason ? st->state_reason : "");
	if (!s->id || !s->image || !s->state_reason)
		goto nomem;
	if (st) {
		s->state = sbx_state_from_pb(st->state);
		if (st->_exit_code_case == COREWEAVE__SANDBOX__V1__SANDBOX_STATUS___EXIT_CODE_EXIT_CODE) {
			if (!int_range(st->exit_code, -1000000, 1000000)) {
				sbx_sandbox_free(s);
				return sbx_fail(err, SBX_E_PROTOCOL, "sandbox answer has a bad exitCode");
			}
			s->exit_code = st->exit_code;
		}
		s->create_time_ns = ts_ns(st->create_time);
		s->start_time_ns = ts_ns(st->start_time);
		s->end_time_ns = ts_ns(st->end_time);
	}
	if (sp && sp->n_tags) {
		s->tags = calloc(sp->n_tags, sizeof *s->tags);
		if (!s->tags)
			goto nomem;
		for (size_t i = 0; i < sp->n_tags; i++) {
			if (!(s->tags[s->ntags] = strdup(sp->tags[i] ? sp->tags[i] : "")))
				goto nomem;
			s->ntags++;
		}
	}
	/* sbxfs's name is the tag it wrote at create (WIRE-CONTRACT point 1). */
	for (size_t i = 0; i < s->ntags; i++) {
		if (strncmp(s->tags[i], SBX_NAME_TAG, SBX_NAME_TAG_LEN) == 0 && s->tags[i][SBX_NAME_TAG_LEN]) {
			if (!(s->name = strdup(s->tags[i] + SBX_NAME_TAG_LEN)))
				goto nomem;
			break;
		}
	}
	s->json = sbx_pb_pretty(msg);
	if (!s->json)
		goto nomem;
	*out = s;
	return SBX_OK;
nomem:
	sbx_sandbox_free(s);
	return sbx_fail(err, SBX_E_NOMEM, "out of memory");
}

sbx_result sbx_sandbox_from_text(const char *text, size_t len, sbx_sandbox **out, sbx_error *err)
{
	ProtobufCMessage *m = NULL;
	*out = NULL;
	sbx_result r = sbx_pb_answer(&coreweave__sandbox__v1__sandbox__descriptor, text, len, &m, err);
	if (r == SBX_OK)
		r = sbx_sandbox_from_pb(m, out, err);
	wire_message_free(m);
	return r;
}

static int int_range(int64_t v, int64_t lo, int64_t hi)
{
	return v >= lo && v <= hi;
}

void sbx_process_free(sbx_process *p)
{
	if (!p)
		return;
	sbx_strv_free(p->argv);
	free(p->cwd);
	free(p->state_reason);
	free(p);
}

void sbx_process_list_free(sbx_process **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		sbx_process_free(v[i]);
	free(v);
}

sbx_result sbx_process_from_pb(const ProtobufCMessage *msg, sbx_process **out, sbx_error *err)
{
	const Sbxd__Ext__V1__Process *m = (const Sbxd__Ext__V1__Process *)msg;
	sbx_process *p = NULL;
	*out = NULL;
	if (!m || m->base.descriptor != &sbxd__ext__v1__process__descriptor)
		return sbx_fail(err, SBX_E_INTERNAL, "not a Process message");
	if (m->process_id < 1)
		return sbx_fail(err, SBX_E_PROTOCOL, "process answer lacks a valid processId");
	int has_code = m->_exit_code_case == SBXD__EXT__V1__PROCESS___EXIT_CODE_EXIT_CODE;
	if ((has_code && !int_range(m->exit_code, -1000000, 1000000)) || !int_range(m->signal, 0, 1024) ||
	    m->stdout_bytes < 0 || m->stderr_bytes < 0)
		return sbx_fail(err, SBX_E_PROTOCOL, "process answer has a field out of range");
	p = calloc(1, sizeof *p);
	if (!p)
		goto nomem;
	p->id = m->process_id;
	p->argv = calloc(m->n_command + 1, sizeof *p->argv);
	if (!p->argv)
		goto nomem;
	for (size_t k = 0; k < m->n_command; k++)
		if (!(p->argv[k] = strdup(m->command[k])))
			goto nomem;
	p->cwd = strdup(m->working_dir ? m->working_dir : "");
	p->state_reason = strdup(m->state_reason ? m->state_reason : "");
	if (!p->cwd || !p->state_reason)
		goto nomem;
	switch (m->state) {
	case SBXD__EXT__V1__PROCESS_STATE__PROCESS_STATE_RUNNING: p->state = SBX_PROC_RUNNING; break;
	case SBXD__EXT__V1__PROCESS_STATE__PROCESS_STATE_EXITED: p->state = SBX_PROC_EXITED; break;
	case SBXD__EXT__V1__PROCESS_STATE__PROCESS_STATE_KILLED: p->state = SBX_PROC_KILLED; break;
	case SBXD__EXT__V1__PROCESS_STATE__PROCESS_STATE_FAILED: p->state = SBX_PROC_FAILED; break;
	default: p->state = SBX_PROC_UNSPECIFIED; break;
	}
	p->exit_code = has_code ? m->exit_code : 0;
	p->signal = m->signal;
	p->has_stdin = m->stdin;
	p->stdin_closed = m->stdin_closed;
	p->start_time_ns = ts_ns(m->start_time);
	p->end_time_ns = ts_ns(m->end_time);
	p->stdout_bytes = m->stdout_bytes;
	p->stderr_bytes = m->stderr_bytes;
	*out = p;
	return SBX_OK;
nomem:
	sbx_process_free(p);
	return sbx_fail(err, SBX_E_NOMEM, "out of memory");
}

sbx_result sbx_process_from_text(const char *text, size_t len, sbx_process **out, sbx_error *err)
{
	ProtobufCMessage *m = NULL;
	*out = NULL;
	sbx_result r = sbx_pb_answer(&sbxd__ext__v1__process__descriptor, text, len, &m, err);
	if (r == SBX_OK)
		r = sbx_process_from_pb(m, out, err);
	wire_message_free(m);
	return r;
}

sbx_result sbx_dirent_from_pb(const ProtobufCMessage *msg, sbx_dirent *out)
{
	const Sbxd__Ext__V1__FileEntry *m = (const Sbxd__Ext__V1__FileEntry *)msg;
	memset(out, 0, sizeof *out);
	if (!m || m->base.descriptor != &sbxd__ext__v1__file_entry__descriptor)
		return SBX_E_INTERNAL;
	const char *name = m->name;
	if (!name || !*name || strchr(name, '/'))
		return SBX_E_PROTOCOL;
	if (m->size < 0 || m->blocks < 0)
		return SBX_E_PROTOCOL;
	switch (m->type) {
	case SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_FILE: out->type = SBX_FT_FILE; break;
	case SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_DIRECTORY: out->type = SBX_FT_DIR; break;
	case SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_SYMLINK: out->type = SBX_FT_SYMLINK; break;
	default: out->type = SBX_FT_OTHER; break;
	}
	out->size = m->size;
	/* Permission bits only, even from a server that sends st_mode. */
	out->mode = m->mode & 07777;
	out->mtime_ns = ts_ns(m->modify_time);
	/* The "posix" extension's fields: sbxd fills them on every entry
	 * where posix is served; an entry with nlink 0 has none. */
	if (m->nlink) {
		if (m->nlink > 0xffffffffULL)
			return SBX_E_PROTOCOL;
		out->has_posix = 1;
		out->uid = m->uid;
		out->gid = m->gid;
		out->nlink = (uint32_t)m->nlink;
		out->blocks = m->blocks;
		out->atime_ns = ts_ns(m->access_time);
		out->ctime_ns = ts_ns(m->change_time);
		out->ino = m->ino;
		const char *sp = out->type == SBX_FT_OTHER ? m->special : NULL;
		if (sp)
			out->special = strcmp(sp, "fifo") == 0 ? S_IFIFO : strcmp(sp, "socket") == 0 ? S_IFSOCK
			             : strcmp(sp, "char") == 0 ? S_IFCHR : strcmp(sp, "block") == 0 ? S_IFBLK : 0;
	}
	out->name = strdup(name);
	if (!out->name)
		return SBX_E_NOMEM;
	/* A symlink's text, never resolved (docs/api.md, second round). */
	const char *lt = m->link_target;
	if (lt && *lt && out->type == SBX_FT_SYMLINK) {
		sbx_result r = strlen(lt) > 4096 ? SBX_E_PROTOCOL : SBX_OK;
		if (r == SBX_OK && !(out->link_target = strdup(lt)))
			r = SBX_E_NOMEM;
		if (r != SBX_OK) {
			free(out->name);
			out->name = NULL;
			return r;
		}
	}
	/* Where the text leads in the sandbox (sbxd's extension): only an
	 * absolute path is taken; a client still checks what it shows. */
	const char *lr = m->link_resolved;
	if (lr && out->link_target && lr[0] == '/' && strlen(lr) <= 4096 && !(out->link_resolved = strdup(lr))) {
		free(out->name);
		free(out->link_target);
		out->name = out->link_target = NULL;
		return SBX_E_NOMEM;
	}
	return SBX_OK;
}

void sbx_dirent_list_free(sbx_dirent *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].link_target);
		free(v[i].link_resolved);
	}
	free(v);
}
