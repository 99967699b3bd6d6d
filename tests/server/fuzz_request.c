/*
 * Fuzz target for sbxd's handling of one HTTP request, as api.c runs it
 * before any sandbox is touched: the raw target's check (srv_uri_check),
 * the route of METHOD + path, the integer query arguments, and the body
 * parser the route picks (create spec, process start, exec, every file
 * call including the posix extension's, :signal). Input: "METHOD TARGET"
 * on the first line, the body after it. Beyond "no crash, no leak" it
 * checks the parsers' promises: what they accept is in range.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileargs.h"
#include "parse.h"

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
	if ((a->attrs.set & SRV_ATTR_MODE) && a->attrs.mode > 07777)
		abort();
	if (((a->attrs.set & SRV_ATTR_ATIME) && !a->attrs.atime_now && a->attrs.atime_ns < 0) ||
	    ((a->attrs.set & SRV_ATTR_MTIME) && !a->attrs.mtime_now && a->attrs.mtime_ns < 0))
		abort();
}

/* What api.c's int_arg sees, without libmicrohttpd's percent-decoding. */
static void query_ints(char *q)
{
	for (char *kv = strtok(q, "&"); kv; kv = strtok(NULL, "&")) {
		char *v = strchr(kv, '=');
		int64_t n;
		if (!v)
			continue;
		*v++ = '\0';
		if (srv_parse_int(v, 0, INT64_MAX / 2, &n) == 0 && (n < 0 || n > INT64_MAX / 2))
			abort();
		if (srv_parse_int(v, 0, 60, &n) == 0 && (n < 0 || n > 60))
			abort();
	}
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
	char *qpath = NULL;
	if (q) {
		*q++ = '\0';
		char *p = strstr(q, "path=");
		if (p && (p == q || p[-1] == '&')) {
			qpath = strdup(p + 5);
			if (qpath)
				qpath[strcspn(qpath, "&")] = '\0';
		}
		query_ints(q);
	}
	srv_route r;
	if (srv_parse_route(method, target, &r) != 0)
		goto out;
	if (memchr(r.id, '\0', sizeof r.id) == NULL)
		abort();
	switch (r.kind) {
	case R_SANDBOXES:
		if (strcmp(method, "POST") == 0) {
			srv_spec s;
			if (srv_parse_create(b, blen, &s, &perr) == 0) {
				if (s.lifetime_s < 0 || s.lifetime_s > SRV_MAX_LIFETIME || s.tags.n > SRV_MAX_TAGS)
					abort();
				srv_spec_free(&s);
			}
		}
		break;
	case R_PROCESSES:
	case R_EXEC:
		if (strcmp(method, "POST") == 0) {
			srv_proc_req pr;
			if (srv_parse_proc_req(b, blen, r.kind == R_EXEC, &pr, &perr) == 0) {
				if (pr.argv.n < 1 || pr.argv.n > SRV_MAX_ARGV || pr.env.n > SRV_MAX_ENV)
					abort();
				srv_proc_req_free(&pr);
			}
		}
		break;
	case R_PROC_SIGNAL: {
		int sig;
		if (srv_parse_signal(b, blen, &sig, &perr) == 0 && (sig < 1 || sig > 64))
			abort();
		break;
	}
	case R_READ_FILE:
	case R_WRITE_FILE:
	case R_LIST_DIR:
	case R_STAT_FILE:
	case R_MAKE_DIR:
	case R_REMOVE_FILE:
	case R_CREATE_FILE:
	case R_SET_FILE_ATTRS:
	case R_RENAME_FILE:
	case R_CREATE_SYMLINK:
	case R_LINK_FILE:
	case R_MAKE_NODE:
	case R_STAT_FILE_SYSTEM:
	case R_GET_XATTR:
	case R_LIST_XATTRS:
	case R_SET_XATTR:
	case R_REMOVE_XATTR: {
		int get = srv_file_call_is_get(r.kind);
		cJSON *j = NULL;
		if (!get && !(j = srv_json_parse(b, blen, &perr)))
			break;
		srv_file_args fa;
		char err[SRV_MSGLEN];
		memset(err, 'x', sizeof err);
		/* The same text stands in for both query arguments. */
		srv_file_query fq = {qpath, qpath};
		int rc = srv_file_args_parse(r.kind, j, &fq, &fa, err);
		if (rc == 0) {
			check_file_args(&fa, r.kind);
			srv_file_args_free(&fa);
		} else if ((rc == -1 && !memchr(err, '\0', sizeof err)) || (rc == -ENAMETOOLONG && !fa.path)) {
			abort();
		}
		cJSON_Delete(j);
		break;
	}
	default:
		break;
	}
out:
	free(qpath);
	free(b);
	return 0;
}
