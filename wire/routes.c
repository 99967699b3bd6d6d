/*
 * The HTTP bindings of SandboxService (routes.h): one row per RPC with a
 * google.api.http option in sandbox.proto, in the .proto's order; the test
 * wire_routes holds it to the compiled descriptor. Also the few steps every
 * handler takes with a row: match a path, make the request message, put
 * the body and the path variables into it.
 */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.pb-c.h"

#define PB(x) &coreweave__sandbox__v1__##x##__descriptor

const wire_route wire_routes[] = {
	{"CreateSandbox", "POST", "/v1/sandboxes", "sandbox", PB(create_sandbox_request), PB(sandbox), {NULL}, NULL},
	{"CreateSandboxFromTemplate", "POST", "/v1/sandboxes:createFromTemplate", "*",
	 PB(create_sandbox_from_template_request), PB(sandbox), {NULL}, NULL},
	{"GetSandbox", "GET", "/v1/sandboxes/{sandbox_id}", "", PB(get_sandbox_request), PB(sandbox),
	 {"sandbox_id"}, NULL},
	{"ListSandboxes", "GET", "/v1/sandboxes", "", PB(list_sandboxes_request), PB(list_sandboxes_response),
	 {NULL}, NULL},
	{"DeleteSandbox", "DELETE", "/v1/sandboxes/{sandbox_id}", "", PB(delete_sandbox_request),
	 PB(delete_sandbox_response), {"sandbox_id"}, NULL},
	{"PurgeSandboxes", "POST", "/v1/sandboxes:purge", "*", PB(purge_sandboxes_request),
	 PB(purge_sandboxes_response), {NULL}, NULL},
	{"Exec", "POST", "/v1/sandboxes/{sandbox_id}:exec", "*", PB(exec_request), PB(exec_response),
	 {"sandbox_id"}, NULL},
	{"WriteFile", "POST", "/v1/sandboxes/{sandbox_id}:writeFile", "*", PB(write_file_request),
	 PB(write_file_response), {"sandbox_id"}, NULL},
	{"ReadFile", "GET", "/v1/sandboxes/{sandbox_id}:readFile", "", PB(read_file_request),
	 PB(read_file_response), {"sandbox_id"}, NULL},
	{"CreateFileSystemSnapshot", "POST", "/v1/sandboxes/{sandbox_id}:snapshot", "*",
	 PB(create_file_system_snapshot_request), PB(file_system_snapshot), {"sandbox_id"}, NULL},
	{"GetFileSystemSnapshot", "GET", "/v1/fileSystemSnapshots/{file_system_snapshot_id}", "",
	 PB(get_file_system_snapshot_request), PB(file_system_snapshot), {"file_system_snapshot_id"}, NULL},
	{"ListFileSystemSnapshots", "GET", "/v1/fileSystemSnapshots", "", PB(list_file_system_snapshots_request),
	 PB(list_file_system_snapshots_response), {NULL}, NULL},
	{"DeleteFileSystemSnapshot", "DELETE", "/v1/fileSystemSnapshots/{file_system_snapshot_id}", "",
	 PB(delete_file_system_snapshot_request), PB(file_system_snapshot), {"file_system_snapshot_id"}, NULL},
};
const size_t wire_n_routes = sizeof wire_routes / sizeof wire_routes[0];

/* Does path match template t? Literal bytes must be equal; "{name}"
 * takes one or more bytes up to the next '/' or ':' (or the end). */
static int match(const char *t, const char *p, const char *end, wire_var *vars, size_t *nv)
{
	*nv = 0;
	while (*t) {
		if (*t == '{') {
			const char *close = strchr(t, '}');
			if (!close || *nv == WIRE_MAX_VARS)
				return 0;
			const char *s = p;
			while (p < end && *p != '/' && *p != ':')
				p++;
			if (p == s)
				return 0;
			vars[*nv].val = s;
			vars[*nv].len = (size_t)(p - s);
			(*nv)++;
			t = close + 1;
			continue;
		}
		if (p == end || *p != *t)
			return 0;
		p++;
		t++;
	}
	return p == end;
}

const wire_route *wire_route_match(const char *method, const char *path, size_t plen,
                                   wire_var vars[WIRE_MAX_VARS], size_t *nvars)
{
	return wire_route_match_in(wire_routes, wire_n_routes, method, path, plen, vars, nvars);
}

const wire_route *wire_route_match_in(const wire_route *table, size_t n, const char *method, const char *path,
                                      size_t plen, wire_var vars[WIRE_MAX_VARS], size_t *nvars)
{
	*nvars = 0;
	for (size_t i = 0; i < n; i++) {
		const wire_route *r = &table[i];
		size_t nv;
		if (strcmp(r->method, method) != 0 || !match(r->path, path, path + plen, vars, &nv))
			continue;
		for (size_t k = 0; k < nv; k++)
			vars[k].field = r->vars[k];
		*nvars = nv;
		return r;
	}
	return NULL;
}

const wire_route *wire_route_find(const char *rpc)
{
	for (size_t i = 0; i < wire_n_routes; i++)
		if (strcmp(wire_routes[i].rpc, rpc) == 0)
			return &wire_routes[i];
	return NULL;
}

const wire_route *wire_ext_route_find(const char *rpc)
{
	for (size_t i = 0; i < wire_n_ext_routes; i++)
		if (strcmp(wire_ext_routes[i].rpc, rpc) == 0)
			return &wire_ext_routes[i];
	return NULL;
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

int wire_route_path(const wire_route *r, const char *const *vals, size_t n, char *buf, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0, used = 0;
	for (const char *t = r->path; *t;) {
		if (*t == '{') {
			if (used >= n || used >= WIRE_MAX_VARS || !r->vars[used] || !vals[used] || !vals[used][0])
				return -EINVAL;
			for (const unsigned char *v = (const unsigned char *)vals[used]; *v; v++) {
				if (k + (unreserved(*v) ? 1 : 3) + 1 > cap)
					return -E2BIG;
				if (unreserved(*v)) {
					buf[k++] = (char)*v;
				} else {
					buf[k++] = '%';
					buf[k++] = hex[*v >> 4];
					buf[k++] = hex[*v & 15];
				}
			}
			used++;
			t = strchr(t, '}') + 1;
			continue;
		}
		if (k + 2 > cap)
			return -E2BIG;
		buf[k++] = *t++;
	}
	if (used != n)
		return -EINVAL;
	buf[k] = '\0';
	return (int)k;
}

int wire_route_query(const wire_route *r, const ProtobufCMessage *req, char *buf, size_t cap)
{
	if (!cap)
		return -E2BIG;
	buf[0] = '\0';
	if (strcmp(r->body, "*") == 0)
		return 0;
	const char *skip[WIRE_MAX_VARS + 1];
	size_t n = 0;
	for (size_t i = 0; i < WIRE_MAX_VARS && r->vars[i]; i++)
		skip[n++] = r->vars[i];
	if (r->body[0])
		skip[n++] = r->body;
	return wire_query_encode(req, skip, n, buf, cap);
}

ProtobufCMessage *wire_route_new_request(const wire_route *r)
{
	ProtobufCMessage *m = malloc(r->req->sizeof_message);
	if (m)
		r->req->message_init(m);
	return m;
}

int wire_route_body(const wire_route *r, ProtobufCMessage *req, const char *body, size_t len,
                    const wire_caps *caps, wire_err *err)
{
	err->msg[0] = err->field[0] = '\0';
	if (!r->body[0]) {
		for (size_t i = 0; i < len; i++) {
			if (body[i] != ' ' && body[i] != '\t' && body[i] != '\n' && body[i] != '\r') {
				snprintf(err->msg, sizeof err->msg, "%s takes no body", r->rpc);
				return -EINVAL;
			}
		}
		return 0;
	}
	if (strcmp(r->body, "*") == 0)
		return wire_json_merge(req, body, len, caps, err);
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(req->descriptor, r->body);
	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED) {
		snprintf(err->msg, sizeof err->msg, "%s: body field %s is not a message", r->rpc, r->body);
		return -EINVAL;
	}
	ProtobufCMessage **slot = (ProtobufCMessage **)((char *)req + f->offset);
	ProtobufCMessage *m = NULL;
	int rc = wire_json_decode(f->descriptor, body, len, caps, &m, err);
	if (rc)
		return rc;
	wire_message_free(*slot);
	*slot = m;
	return 0;
}

int wire_route_bind(const wire_route *r, ProtobufCMessage *req, const wire_var *vars, size_t n, wire_err *err)
{
	(void)r;
	for (size_t i = 0; i < n; i++) {
		/* a set field is replaced: the path wins over a body's value */
		int rc = wire_field_set_text(req, vars[i].field, vars[i].val, vars[i].len, err);
		if (rc)
			return rc;
	}
	return 0;
}
