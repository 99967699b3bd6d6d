/*
 * Fuzz target for sbxd's handling of one HTTP request, as api.c runs it
 * before any sandbox is touched: the raw target's check (srv_uri_check),
 * the route of METHOD + path in the real table and then the extension's
 * (wire/), the request message from the body (the codec), the path
 * variables and the query parameters, and the argument converter the
 * route's call uses (create spec, Exec, process start, every file call
 * including the posix extension's, :signal). Input: "METHOD TARGET" on the
 * first line (" pb" after it: the body in the binary encoding, as sbxd
 * reads an extension call sent as application/x-protobuf, reqbody.h),
 * the body after it. Beyond "no crash, no leak" it checks the
 * converters' promises: what they accept is in range.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileargs.h"
#include "json.h"
#include "parse.h"
#include "procargs.h"
#include "reqbody.h"
#include "routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_file_args(const srv_file_args *a, srv_route_kind kind)
{
	if (!a->path || a->path[0] != '/' || strlen(a->path) >= SRV_MAX_PATH)
		abort();
	if ((kind == R_RENAME_FILE || kind == R_LINK_FILE) &&
	    (!a->new_path || a->new_path[0] != '/' || strlen(a->new_path) >= SRV_MAX_PATH))
		abort();
	if ((kind == R_CREATE_SYMLINK && (!a->target || strlen(a->target) >= SRV_MAX_PATH)) ||
	    ((kind == R_GET_XATTR || kind == R_SET_XATTR || kind == R_REMOVE_XATTR) && (!a->name || !*a->name)) ||
	    (kind == R_MAKE_NODE && a->node != 'f' && a->node != 's' && a->node != 'd'))
		abort();
	if (a->mode < -1 || a->mode > 07777 || a->offset < -1 || (a->len && !a->data))
		abort();
	if (kind == R_READ_FILE_RANGE && (a->length < 1 || a->length > SRV_MAX_READ_RANGE || a->offset < 0))
		abort();
	if (kind == R_WRITE_FILE && (!a->truncate || a->offset != -1))
		abort();
	if (kind == R_LIST_DIRS && a->n_more_paths > SRV_MAX_LIST_DIRS)
		abort();
	for (size_t i = 0; kind == R_LIST_DIRS && i < a->n_more_paths; i++)
		if (!a->more_paths[i] || a->more_paths[i][0] != '/' || strlen(a->more_paths[i]) >= SRV_MAX_PATH)
			abort();
	if (kind == R_ALLOCATE_FILE && (a->offset < 0 || a->length < 1 || a->offset > INT64_MAX - a->length))
		abort();
	if ((a->attrs.set & SRV_ATTR_MODE) && a->attrs.mode > 07777)
		abort();
	if (((a->attrs.set & SRV_ATTR_ATIME) && !a->attrs.atime_now && a->attrs.atime_ns < 0) ||
	    ((a->attrs.set & SRV_ATTR_MTIME) && !a->attrs.mtime_now && a->attrs.mtime_ns < 0))
		abort();
}

/* Each query parameter into m as api.c's query_field sets it (without
 * libmicrohttpd's percent-decoding): 0, or the first failure. */
static int query_fields(ProtobufCMessage *m, char *q, wire_err *we)
{
	for (char *kv = strtok(q, "&"); kv; kv = strtok(NULL, "&")) {
		char *v = strchr(kv, '=');
		if (v)
			*v++ = '\0';
		int rc = wire_field_set_text(m, kv, v ? v : "", v ? strlen(v) : 0, we);
		if (rc)
			return rc;
	}
	return 0;
}

static void check_proc_req(const srv_proc_req *pr, int exec)
{
	if (pr->argv.n < 1 || pr->argv.n > SRV_MAX_ARGV || pr->env.n > SRV_MAX_ENV || !pr->cwd)
		abort();
	if (exec && (pr->max_output < 1 || pr->max_output > SRV_EXEC_MAX_OUTPUT || pr->want_stdin || pr->timeout_s))
		abort();
	if (pr->timeout_s < 0 || pr->timeout_s > SRV_MAX_LIFETIME)
		abort();
}

/* The message of a matched row, as api.c's rpc_request makes it, then
 * the converter of its call. */
static void run_row(const wire_route *w, wire_var *vars, size_t nv, char *query, const char *b, size_t blen, int pb)
{
	wire_err we;
	srv_perr perr;
	ProtobufCMessage *m = NULL;
	int raw = strcmp(w->rpc, "WriteStdin") == 0;
	int rc;
	wire_caps caps = wire_caps_default;
	caps.max_depth = SRV_MAX_DEPTH;
	if (raw) {
		rc = (m = wire_route_new_request(w)) ? 0 : -ENOMEM;
	} else {
		/* the body in the encoding api.c reads it in: binary only on an
		 * extension row that takes the whole request */
		rc = srv_request_body(w, b, blen, pb && w->ext && strcmp(w->body, "*") == 0, &caps, &m, &perr);
		if (rc && (!memchr(perr.msg, '\0', sizeof perr.msg) || !memchr(perr.field, '\0', sizeof perr.field) ||
		           (rc != -ENOMEM && !perr.msg[0])))
			abort();
		if (rc || !m) {
			if (!rc)
				abort();
			return;
		}
	}
	if (rc == 0)
		rc = wire_route_bind(w, m, vars, nv, &we);
	if (rc == 0 && query)
		rc = query_fields(m, query, &we);
	if (rc) {
		/* A refusal names its field in a string that ends. */
		if (!memchr(we.msg, '\0', sizeof we.msg) || !memchr(we.field, '\0', sizeof we.field))
			abort();
		wire_message_free(m);
		return;
	}
	srv_route_kind fk = srv_file_kind_of(w->rpc);
	if (strcmp(w->rpc, "CreateSandbox") == 0) {
		srv_spec s;
		if (srv_parse_create(b, blen, &s, &perr) == 0) {
			if (s.lifetime_s < 0 || s.lifetime_s > SRV_MAX_LIFETIME || s.tags.n > SRV_MAX_TAGS)
				abort();
			srv_spec_free(&s);
		}
	} else if (strcmp(w->rpc, "Exec") == 0 || strcmp(w->rpc, "StartProcess") == 0) {
		int exec = w->rpc[0] == 'E';
		srv_proc_req pr;
		rc = exec ? srv_proc_req_from_exec((const void *)m, &pr, &perr)
			  : srv_proc_req_from_start((const void *)m, &pr, &perr);
		if (rc == 0) {
			check_proc_req(&pr, exec);
			srv_proc_req_free(&pr);
		}
	} else if (strcmp(w->rpc, "SignalProcess") == 0) {
		int sig;
		if (srv_signal_from_pb((const void *)m, &sig, &perr) == 0 && (sig < 1 || sig > 64))
			abort();
	} else if (fk != R_NONE) {
		srv_file_args fa;
		memset(perr.msg, 'x', sizeof perr.msg);
		rc = srv_file_args_from_pb(fk, m, &fa, &perr);
		if (rc == 0)
			check_file_args(&fa, fk);
		else if ((rc == -1 && !memchr(perr.msg, '\0', sizeof perr.msg)) || (rc == -ENAMETOOLONG && !fa.path))
			abort();
	}
	wire_message_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > SRV_MAX_WRITE_BODY)
		return 0;
	const char *nl = memchr(data, '\n', size);
	size_t head = nl ? (size_t)(nl - (const char *)data) : size;
	if (head > 8192)
		return 0;
	char line[8193];
	memcpy(line, data, head);
	line[head] = '\0';
	const char *body = nl ? nl + 1 : "";
	size_t blen = nl ? size - head - 1 : 0;
	/* The body as libmicrohttpd hands it over: bytes with a NUL after. */
	char *b = malloc(blen + 1);
	if (!b)
		return 0;
	memcpy(b, body, blen);
	b[blen] = '\0';

	/* "METHOD TARGET pb": the body is the binary encoding (Content-Type
	 * application/x-protobuf) */
	int pb = 0;
	if (head >= 3 && strcmp(line + head - 3, " pb") == 0) {
		line[head - 3] = '\0';
		pb = 1;
	}
	char *sp = strchr(line, ' ');
	const char *method = "GET";
	char *target = line;
	if (sp) {
		*sp = '\0';
		method = line;
		target = sp + 1;
	}
	srv_perr perr;
	int uri_ok = srv_uri_check(target, &perr) == 0;
	if (!uri_ok && !perr.msg[0])
		abort();
	char *q = strchr(target, '?');
	if (q)
		*q++ = '\0';
	wire_var vars[WIRE_MAX_VARS];
	size_t nv;
	size_t tlen = strlen(target);
	const wire_route *w = wire_route_match(method, target, tlen, vars, &nv);
	if (!w)
		w = wire_route_match_in(wire_ext_routes, wire_n_ext_routes, method, target, tlen, vars, &nv);
	if (w)
		run_row(w, vars, nv, q, b, blen, pb);
	free(b);
	return 0;
}
