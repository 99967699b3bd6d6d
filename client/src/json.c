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

const char *sbx_json_get_str(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(it) ? it->valuestring : NULL;
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

int sbx_json_get_bool(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsTrue(it);
}

cJSON *sbx_json_add_i64(cJSON *obj, const char *key, int64_t v)
{
	char num[24];
	snprintf(num, sizeof num, "%lld", (long long)v);
	return cJSON_AddStringToObject(obj, key, num);
}

static const char *const state_words[] = {
	"unknown", "pending", "creating", "running", "paused", "terminating", "completed", "failed", "terminated",
};

#define NELEM(a) (sizeof(a) / sizeof(*(a)))
_Static_assert(NELEM(state_words) == SBX_STATE_TERMINATED + 1, "one word a sandbox state");

/* An enum from its wire name or its number; 0 (unspecified) for anything
 * else. names[i] is the name of value i. */
static int enum_parse(const cJSON *it, const char *const *names, size_t n)
{
	int64_t v;
	if (cJSON_IsString(it)) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(it->valuestring, names[i]) == 0)
				return (int)i;
		if (sbx_parse_i64(it->valuestring, &v) != 0)
			return 0;
	} else if (!cJSON_IsNumber(it) || sbx_json_item_i64(it, &v) != 0) {
		return 0;
	}
	return v >= 0 && v < (int64_t)n ? (int)v : 0;
}

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

static const char *const proc_names[] = {
	"PROCESS_STATE_UNSPECIFIED", "PROCESS_STATE_RUNNING", "PROCESS_STATE_EXITED",
	"PROCESS_STATE_KILLED", "PROCESS_STATE_FAILED",
};
_Static_assert(NELEM(proc_names) == SBX_PROC_FAILED + 1, "one name a process state");
static const char *const proc_words[] = {"unknown", "running", "exited", "killed", "failed"};

const char *sbx_proc_state_word(sbx_proc_state s)
{
	if ((unsigned)s >= NELEM(proc_words))
		return "unknown";
	return proc_words[s];
}

sbx_proc_state sbx_proc_state_parse(const cJSON *it)
{
	return (sbx_proc_state)enum_parse(it, proc_names, NELEM(proc_names));
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

sbx_result sbx_process_from_json(const cJSON *root, sbx_process **out, sbx_error *err)
{
	sbx_result r = SBX_E_NOMEM;
	sbx_process *p = NULL;
	*out = NULL;
	if (!cJSON_IsObject(root)) {
		r = sbx_fail(err, SBX_E_PROTOCOL, "process answer is not a JSON object");
		goto out;
	}
	p = calloc(1, sizeof *p);
	if (!p)
		goto nomem;
	int64_t v;
	if (sbx_json_get_i64(root, "processId", &p->id) != 0 || p->id < 1) {
		r = sbx_fail(err, SBX_E_PROTOCOL, "process answer lacks a valid processId");
		goto out;
	}
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(root, "command");
	int na = cJSON_IsArray(cmd) ? cJSON_GetArraySize(cmd) : 0;
	p->argv = calloc((size_t)na + 1, sizeof *p->argv);
	if (!p->argv)
		goto nomem;
	int k = 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, cmd) {
		if (!cJSON_IsString(a) || k >= na)
			continue;
		p->argv[k] = strdup(a->valuestring);
		if (!p->argv[k])
			goto nomem;
		k++;
	}
	const char *cwd = sbx_json_get_str(root, "workingDir");
	const char *reason = sbx_json_get_str(root, "stateReason");
	p->cwd = strdup(cwd ? cwd : "");
	p->state_reason = strdup(reason ? reason : "");
	if (!p->cwd || !p->state_reason)
		goto nomem;
	p->state = sbx_proc_state_parse(cJSON_GetObjectItemCaseSensitive(root, "state"));
	if (sbx_json_get_i64(root, "exitCode", &v) != 0 || !int_range(v, -1000000, 1000000))
		goto bad;
	p->exit_code = (int)v;
	if (sbx_json_get_i64(root, "signal", &v) != 0 || !int_range(v, 0, 1024))
		goto bad;
	p->signal = (int)v;
	p->has_stdin = sbx_json_get_bool(root, "stdin");
	p->stdin_closed = sbx_json_get_bool(root, "stdinClosed");
	p->start_time_ns = sbx_parse_time(sbx_json_get_str(root, "startTime"));
	p->end_time_ns = sbx_parse_time(sbx_json_get_str(root, "endTime"));
	if (sbx_json_get_i64(root, "stdoutBytes", &p->stdout_bytes) != 0 || p->stdout_bytes < 0 ||
	    sbx_json_get_i64(root, "stderrBytes", &p->stderr_bytes) != 0 || p->stderr_bytes < 0)
		goto bad;
	*out = p;
	p = NULL;
	r = SBX_OK;
	goto out;
bad:
	r = sbx_fail(err, SBX_E_PROTOCOL, "process answer has a field out of range");
	goto out;
nomem:
	r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
out:
	sbx_process_free(p);
	return r;
}

sbx_result sbx_dirent_from_json(const cJSON *obj, sbx_dirent *out)
{
	memset(out, 0, sizeof *out);
	const char *name = sbx_json_get_str(obj, "name");
	if (!cJSON_IsObject(obj) || !name || !*name || strchr(name, '/'))
		return SBX_E_PROTOCOL;
	const char *type = sbx_json_get_str(obj, "type");
	out->type = SBX_FT_OTHER;
	if (type) {
		if (strcmp(type, "FILE_TYPE_FILE") == 0)
			out->type = SBX_FT_FILE;
		else if (strcmp(type, "FILE_TYPE_DIRECTORY") == 0)
			out->type = SBX_FT_DIR;
		else if (strcmp(type, "FILE_TYPE_SYMLINK") == 0)
			out->type = SBX_FT_SYMLINK;
	}
	int64_t v;
	if (sbx_json_get_i64(obj, "size", &out->size) != 0 || out->size < 0)
		return SBX_E_PROTOCOL;
	if (sbx_json_get_i64(obj, "mode", &v) != 0 || v < 0 || v > 0xffffffffLL)
		return SBX_E_PROTOCOL;
	/* Permission bits only, even from a server that sends st_mode. */
	out->mode = (unsigned)v & 07777;
	out->mtime_ns = sbx_parse_time(sbx_json_get_str(obj, "modifyTime"));
	/* The "posix" extension's fields: all or none (uid marks them). */
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(obj, "uid");
	if (uid && !cJSON_IsNull(uid)) {
		int64_t g, nl, b = 0;
		if (sbx_json_item_i64(uid, &v) != 0 || v < 0 || v > 0xffffffffLL ||
		    sbx_json_get_i64(obj, "gid", &g) != 0 || g < 0 || g > 0xffffffffLL ||
		    sbx_json_get_i64(obj, "nlink", &nl) != 0 || nl < 0 || nl > 0xffffffffLL ||
		    (cJSON_GetObjectItemCaseSensitive(obj, "blocks") && (sbx_json_get_i64(obj, "blocks", &b) != 0 || b < 0)))
			return SBX_E_PROTOCOL;
		out->has_posix = 1;
		out->uid = (uint32_t)v;
		out->gid = (uint32_t)g;
		out->nlink = (uint32_t)nl;
		out->blocks = b;
		out->atime_ns = sbx_parse_time(sbx_json_get_str(obj, "accessTime"));
		out->ctime_ns = sbx_parse_time(sbx_json_get_str(obj, "changeTime"));
		int64_t ino = 0;
		if (cJSON_GetObjectItemCaseSensitive(obj, "ino") && (sbx_json_get_i64(obj, "ino", &ino) != 0 || ino < 0))
			return SBX_E_PROTOCOL;
		out->ino = (uint64_t)ino;
		const char *sp = out->type == SBX_FT_OTHER ? sbx_json_get_str(obj, "special") : NULL;
		if (sp)
			out->special = strcmp(sp, "fifo") == 0 ? S_IFIFO : strcmp(sp, "socket") == 0 ? S_IFSOCK
			             : strcmp(sp, "char") == 0 ? S_IFCHR : strcmp(sp, "block") == 0 ? S_IFBLK : 0;
	}
	out->name = strdup(name);
	if (!out->name)
		return SBX_E_NOMEM;
	/* A symlink's text, never resolved (docs/api.md, second round). */
	const char *lt = sbx_json_get_str(obj, "linkTarget");
	if (lt && out->type == SBX_FT_SYMLINK) {
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
	const char *lr = sbx_json_get_str(obj, "linkResolved");
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
