/*
 * The answers of list, exec and file calls decoded into libsbx's types
 * (answer.h). Taken out of the calls themselves so that what the service
 * sends is parsed by code the fuzz target reaches without a network.
 */
#include "answer.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "pb.h"
#include "extension.pb-c.h"
#include "sandbox.pb-c.h"
#include "util.h"

sbx_result sbx_sandbox_page_from_pb(const ProtobufCMessage *msg, sbx_sandbox ***v, size_t *nv, size_t *cap,
                                    const char **next, sbx_error *err)
{
	sbx_result r;
	const Coreweave__Sandbox__V1__ListSandboxesResponse *m = (const Coreweave__Sandbox__V1__ListSandboxesResponse *)msg;
	*next = NULL;
	if (m->base.descriptor != &coreweave__sandbox__v1__list_sandboxes_response__descriptor)
		return sbx_fail(err, SBX_E_INTERNAL, "not a ListSandboxesResponse");
	for (size_t i = 0; i < m->n_sandboxes; i++) {
		if (*nv == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			sbx_sandbox **p = realloc(*v, nc * sizeof *p);
			if (!p)
				return sbx_fail(err, SBX_E_NOMEM, "out of memory");
			*v = p;
			*cap = nc;
		}
		if ((r = sbx_sandbox_from_pb(&m->sandboxes[i]->base, &(*v)[*nv], err)) != SBX_OK)
			return r;
		(*nv)++;
	}
	*next = m->next_page_token;
	return SBX_OK;
}

sbx_result sbx_processes_from_pb(const ProtobufCMessage *msg, sbx_process ***out, size_t *n, sbx_error *err)
{
	const Sbxd__Ext__V1__ListProcessesResponse *m = (const Sbxd__Ext__V1__ListProcessesResponse *)msg;
	sbx_result res = SBX_OK;
	size_t nv = 0;
	*out = NULL;
	*n = 0;
	if (m->base.descriptor != &sbxd__ext__v1__list_processes_response__descriptor)
		return sbx_fail(err, SBX_E_INTERNAL, "not a ListProcessesResponse");
	sbx_process **v = calloc(m->n_processes ? m->n_processes : 1, sizeof *v);
	if (!v)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	for (size_t i = 0; i < m->n_processes; i++) {
		if ((res = sbx_process_from_pb(&m->processes[i]->base, &v[nv], err)) != SBX_OK) {
			sbx_process_list_free(v, nv);
			return res;
		}
		nv++;
	}
	*out = v;
	*n = nv;
	return SBX_OK;
}

/* Bytes of a decoded message into a NUL-terminated copy (the callers
 * treat output as text too). */
static sbx_result bytes_copy(const ProtobufCBinaryData *b, char **out, size_t *len, sbx_error *err)
{
	*out = malloc(b->len + 1);
	if (!*out)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	if (b->len)
		memcpy(*out, b->data, b->len);
	(*out)[b->len] = '\0';
	*len = b->len;
	return SBX_OK;
}

sbx_result sbx_exec_result_from_pb(const ProtobufCMessage *msg, sbx_exec_result **out, sbx_error *err)
{
	const Coreweave__Sandbox__V1__ExecResponse *m = (const Coreweave__Sandbox__V1__ExecResponse *)msg;
	sbx_result res;
	*out = NULL;
	if (m->base.descriptor != &coreweave__sandbox__v1__exec_response__descriptor)
		return sbx_fail(err, SBX_E_INTERNAL, "not an ExecResponse");
	if (m->exit_code < -1000000 || m->exit_code > 1000000)
		return sbx_fail(err, SBX_E_PROTOCOL, "exec answer has a bad exitCode");
	if (m->stdout_bytes_produced < 0 || m->stderr_bytes_produced < 0)
		return sbx_fail(err, SBX_E_PROTOCOL, "exec answer has bad byte counts");
	sbx_exec_result *x = calloc(1, sizeof *x);
	if (!x)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	x->exit_code = m->exit_code;
	if ((res = bytes_copy(&m->stdout, &x->out, &x->out_len, err)) != SBX_OK ||
	    (res = bytes_copy(&m->stderr, &x->errout, &x->err_len, err)) != SBX_OK) {
		sbx_exec_result_free(x);
		return res;
	}
	x->out_truncated = m->stdout_truncated;
	x->err_truncated = m->stderr_truncated;
	x->out_total = m->stdout_bytes_produced;
	x->err_total = m->stderr_bytes_produced;
	/* A service that omits the counts: what came is all there was. */
	if (x->out_total < (int64_t)x->out_len)
		x->out_total = (int64_t)x->out_len;
	if (x->err_total < (int64_t)x->err_len)
		x->err_total = (int64_t)x->err_len;
	*out = x;
	return SBX_OK;
}

sbx_result sbx_dirents_from_pb(const ProtobufCMessage *msg, sbx_dirent **out, size_t *n, sbx_error *err)
{
	const Sbxd__Ext__V1__ListDirResponse *m = (const Sbxd__Ext__V1__ListDirResponse *)msg;
	size_t nv = 0;
	*out = NULL;
	*n = 0;
	if (m->base.descriptor != &sbxd__ext__v1__list_dir_response__descriptor)
		return sbx_fail(err, SBX_E_INTERNAL, "not a ListDirResponse");
	sbx_dirent *v = calloc(m->n_entries ? m->n_entries : 1, sizeof *v);
	if (!v)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	for (size_t i = 0; i < m->n_entries; i++) {
		sbx_result r = sbx_dirent_from_pb(&m->entries[i]->base, &v[nv]);
		if (r != SBX_OK) {
			sbx_dirent_list_free(v, nv);
			return sbx_fail(err, r, "bad directory entry in the answer");
		}
		nv++;
	}
	*out = v;
	*n = nv;
	return SBX_OK;
}

sbx_result sbx_stat_from_pb(const ProtobufCMessage *msg, sbx_dirent *out, sbx_error *err)
{
	memset(out, 0, sizeof *out);
	if (msg->descriptor != &sbxd__ext__v1__file_entry__descriptor)
		return sbx_fail(err, SBX_E_INTERNAL, "not a FileEntry");
	/* The root "/" has no last component; sbxd names it "/" (or ""). */
	Sbxd__Ext__V1__FileEntry e = *(const Sbxd__Ext__V1__FileEntry *)msg;
	if (!e.name || !e.name[0] || strcmp(e.name, "/") == 0 || strchr(e.name, '/'))
		e.name = (char *)".";
	sbx_result r = sbx_dirent_from_pb(&e.base, out);
	if (r != SBX_OK)
		return sbx_fail(err, r, "bad file entry in the answer");
	return SBX_OK;
}

sbx_result sbx_read_range_from_pb(const ProtobufCMessage *msg, void **data, size_t *len, int64_t *size, sbx_error *err)
{
	const Sbxd__Ext__V1__ReadFileRangeResponse *m = (const Sbxd__Ext__V1__ReadFileRangeResponse *)msg;
	char *d = NULL;
	*data = NULL;
	*len = 0;
	if (m->base.descriptor != &sbxd__ext__v1__read_file_range_response__descriptor)
		return sbx_fail(err, SBX_E_INTERNAL, "not a ReadFileRangeResponse");
	sbx_result r = bytes_copy(&m->content, &d, len, err);
	*data = d;
	if (size)
		*size = m->size >= 0 ? m->size : -1;
	return r;
}

sbx_result sbx_read_from_pb(const ProtobufCMessage *msg, void **data, size_t *len, sbx_error *err)
{
	const Coreweave__Sandbox__V1__ReadFileResponse *m = (const Coreweave__Sandbox__V1__ReadFileResponse *)msg;
	char *d = NULL;
	*data = NULL;
	*len = 0;
	if (m->base.descriptor != &coreweave__sandbox__v1__read_file_response__descriptor)
		return sbx_fail(err, SBX_E_INTERNAL, "not a ReadFileResponse");
	sbx_result r = bytes_copy(&m->content, &d, len, err);
	*data = d;
	return r;
}
