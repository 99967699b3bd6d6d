/*
 * HTTP handlers of sbxd on libmicrohttpd (see api.h). Each request gets a
 * context that collects its body under the route's cap; the handler runs
 * once the body is complete, under srv_lock, and either answers or
 * registers a waiter and suspends the connection. A resumed connection runs
 * its handler again, which re-checks its condition (spurious wake-ups are
 * harmless), so long-polls hold no thread.
 */
#include "api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core.h"
#include "fileargs.h"
#include "files.h"
#include "parse.h"

#define SERVER_NAME "sbxd/" SBXD_VERSION

static struct MHD_Daemon *d_unix, *d_tcp;
static char *tcp_token;
static int inflight;  /* request contexts alive (atomic builtins) */

typedef struct req {
	srv_route route;
	int started;     /* on_request has seen it (the URI hook makes it) */
	int uri_bad;     /* the raw URL failed srv_uri_check: uri_err says why */
	srv_perr uri_err;
	int routed;      /* 1 matched, -1 no route */
	int tcp;
	uint32_t peer;   /* who asks: the unix peer's uid, 0 (root) on TCP */
	char *body;
	size_t len, cap, limit;
	int too_big;
	srv_waiter w;
	int64_t deadline;  /* long-poll end, monotonic; 0 = not yet set */
	int deadline_set;
	uint32_t exec_seq, exec_uid;  /* a running unary exec */
	int64_t exec_max;             /* its maxOutputBytes */
} req;

typedef enum { DONE, SUSPENDED } outcome;

void srv_http_resume(void *con)
{
	MHD_resume_connection((struct MHD_Connection *)con);
}

/* ------------------------------------------------------------ answering */

static enum MHD_Result queue(struct MHD_Connection *con, unsigned status, struct MHD_Response *r)
{
	if (!r)
		return MHD_NO;
	enum MHD_Result rc = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *con, unsigned status, cJSON *j)
{
	char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (!txt)
		return MHD_NO;
	/* Every answer is valid UTF-8 for strict clients, whatever a string
	 * came from (a file name or a process's line in a sandbox, a record
	 * of an older sbxd). cJSON escapes only ASCII controls, so a byte
	 * >= 0x80 is always inside a string and '?' in its place keeps the
	 * JSON well-formed. Input is refused before it gets here. */
	srv_utf8_fix(txt, strlen(txt));
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(txt);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	return queue(con, status, r);
}

/* google.rpc.Status with ErrorInfo, + RetryInfo when retry_ms > 0, +
 * BadRequest with one field violation when field is set. md_kv: ErrorInfo
 * metadata as key, value, ..., NULL (may be NULL). */
static enum MHD_Result send_status(struct MHD_Connection *con, unsigned http, int code, const char *reason,
				   int retry_ms, const char *const *md_kv, const char *field, const char *msg)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return MHD_NO;
	cJSON_AddNumberToObject(j, "code", code);
	cJSON_AddStringToObject(j, "message", msg);
	cJSON *det = cJSON_AddArrayToObject(j, "details");
	cJSON *info = cJSON_CreateObject();
	if (info) {
		cJSON_AddStringToObject(info, "@type", "type.googleapis.com/google.rpc.ErrorInfo");
		cJSON_AddStringToObject(info, "reason", reason);
		cJSON_AddStringToObject(info, "domain", "cwsandbox.coreweave.com");
		cJSON *md = cJSON_AddObjectToObject(info, "metadata");
		for (size_t i = 0; md && md_kv && md_kv[i] && md_kv[i + 1]; i += 2)
			cJSON_AddStringToObject(md, md_kv[i], md_kv[i + 1]);
		cJSON_AddItemToArray(det, info);
	}
	if (retry_ms > 0) {
		cJSON *ri = cJSON_CreateObject();
		if (ri) {
			char d[32];
			snprintf(d, sizeof d, "%d.%03ds", retry_ms / 1000, retry_ms % 1000);
			cJSON_AddStringToObject(ri, "@type", "type.googleapis.com/google.rpc.RetryInfo");
			cJSON_AddStringToObject(ri, "retryDelay", d);
			cJSON_AddItemToArray(det, ri);
		}
	}
	if (field) {
		cJSON *br = cJSON_CreateObject(), *fv = cJSON_CreateObject();
		cJSON *arr = br ? cJSON_AddArrayToObject(br, "fieldViolations") : NULL;
		if (arr && fv) {
			cJSON_AddStringToObject(br, "@type", "type.googleapis.com/google.rpc.BadRequest");
			cJSON_AddStringToObject(fv, "field", field);
			cJSON_AddStringToObject(fv, "description", msg);
			cJSON_AddItemToArray(arr, fv);
			fv = NULL;
			cJSON_AddItemToArray(det, br);
			br = NULL;
		}
		cJSON_Delete(fv);
		cJSON_Delete(br);
	}
	return send_json(con, http, j);
}

static enum MHD_Result send_error(struct MHD_Connection *con, unsigned http, int code, const char *reason,
				  int retry_ms, const char *mkey, const char *mval, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));
static enum MHD_Result send_error(struct MHD_Connection *con, unsigned http, int code, const char *reason,
				  int retry_ms, const char *mkey, const char *mval, const char *fmt, ...)
{
	char msg[SRV_MSGLEN + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *md[] = {mkey, mval, NULL};
	return send_status(con, http, code, reason, retry_ms, mkey && mval ? md : NULL, NULL, msg);
}

/* 400 INVALID_ARGUMENT for a parse failure, naming the field when the
 * parser knows which one. */
static enum MHD_Result bad_input(struct MHD_Connection *con, const srv_perr *e)
{
	return send_status(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", 0, NULL, e->field[0] ? e->field : NULL,
			   e->msg);
}

#define BAD(con, ...) send_error(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", 0, NULL, NULL, __VA_ARGS__)

static enum MHD_Result send_refusal(struct MHD_Connection *con, const srv_refusal *w)
{
	return send_error(con, (unsigned)w->http, w->code, w->reason, w->retry_ms, NULL, NULL, "%s", w->msg);
}

static enum MHD_Result no_sandbox(struct MHD_Connection *con, const char *id)
{
	return send_error(con, 404, 5, "CWSANDBOX_SANDBOX_NOT_FOUND", 0, "sandboxId", id, "sandbox %s not found",
			  id);
}

static enum MHD_Result no_process(struct MHD_Connection *con, srv_sbx *s, int64_t n)
{
	char num[24];
	snprintf(num, sizeof num, "%lld", (long long)n);
	return send_error(con, 404, 5, "CWSANDBOX_PROCESS_NOT_FOUND", 0, "processId", num,
			  "process %s not found in sandbox %s", num, s->id);
}

static const char *arg(struct MHD_Connection *con, const char *key)
{
	return MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, key);
}

/* Integer query argument in [min, max]; absent = def. -1: bad. */
static int int_arg(struct MHD_Connection *con, const char *key, int64_t min, int64_t max, int64_t def,
		   int64_t *out)
{
	const char *v = arg(con, key);
	*out = def;
	if (!v || !*v)
		return 0;
	return srv_parse_int(v, min, max, out);
}

static int bool_arg(struct MHD_Connection *con, const char *key)
{
	const char *v = arg(con, key);
	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Registers the request as a waiter on sandbox s and suspends it. */
static outcome suspend(struct MHD_Connection *con, req *r, srv_sbx *s)
{
	r->w.con = con;
	r->w.seq = s->seq;
	r->w.deadline = r->deadline;
	srv_waiter_add(&r->w);
	MHD_suspend_connection(con);
	return SUSPENDED;
}

/* Sets the long-poll deadline once, from waitSeconds (clamped to 60). */
static int wait_setup(struct MHD_Connection *con, req *r)
{
	if (r->deadline_set)
		return 0;
	int64_t ws;
	const char *v = arg(con, "waitSeconds");
	if (v && *v && srv_parse_int(v, 0, INT32_MAX, &ws) != 0)
		return -1;
	if (!v || !*v)
		ws = 0;
	if (ws > SRV_MAX_WAIT)
		ws = SRV_MAX_WAIT;
	r->deadline = ws ? srv_mono_ns() + ws * 1000000000 : 0;
	r->deadline_set = 1;
	return 0;
}

static int waiting(const req *r)
{
	return r->deadline && srv_mono_ns() < r->deadline && !srv_core_stopping();
}

/* ------------------------------------------------------------ handlers */

static enum MHD_Result h_extensions(struct MHD_Connection *con)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return MHD_NO;
	cJSON_AddStringToObject(j, "server", SERVER_NAME);
	cJSON *e = cJSON_AddArrayToObject(j, "extensions");
	cJSON_AddItemToArray(e, cJSON_CreateString("processes"));
	cJSON_AddItemToArray(e, cJSON_CreateString("output"));
	cJSON_AddItemToArray(e, cJSON_CreateString("files"));
	cJSON_AddItemToArray(e, cJSON_CreateString("posix"));
	cJSON_AddItemToArray(e, cJSON_CreateString("images"));
	return send_json(con, 200, j);
}

/* GET /v1/images: the OCI store's images (docs/api.md, "images"). */
static enum MHD_Result h_images(struct MHD_Connection *con)
{
	char err[SRV_MSGLEN] = "";
	char *text = srv_core_images_json(err);
	if (!text)
		return send_error(con, 500, 13, "CWSANDBOX_INTERNAL", 0, NULL, NULL, "%s", err);
	cJSON *j = cJSON_Parse(text);
	free(text);
	if (!j)
		return send_error(con, 500, 13, "CWSANDBOX_INTERNAL", 0, NULL, NULL, "out of memory");
	return send_json(con, 200, j);
}

static int has_tag(const srv_sbx *s, const char *tag, size_t len)
{
	for (size_t i = 0; i < s->spec.tags.n; i++)
		if (strlen(s->spec.tags.v[i]) == len && memcmp(s->spec.tags.v[i], tag, len) == 0)
			return 1;
	return 0;
}

static enum MHD_Result h_list(struct MHD_Connection *con, uint32_t peer)
{
	int64_t size, after = 0;
	if (int_arg(con, "pageSize", 0, INT32_MAX, 100, &size) != 0)
		return BAD(con, "pageSize must be an integer 1..1000");
	if (size == 0)
		size = 100;
	if (size > 1000)
		size = 1000;
	if (int_arg(con, "pageToken", 0, UINT32_MAX, 0, &after) != 0)
		return BAD(con, "bad pageToken");
	const char *tags = arg(con, "tags"), *state = arg(con, "state");
	int want_state = -1;
	if (state && *state && (want_state = srv_state_from_name(state)) < 0)
		return BAD(con, "unknown state \"%.40s\"", state);
	int show_term = bool_arg(con, "showTerminated");
	cJSON *j = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(j, "sandboxes");
	size_t n;
	srv_sbx **all = srv_all(&n);
	int64_t count = 0;
	uint32_t last = 0;
	int more = 0;
	for (size_t i = 0; i < n; i++) {
		srv_sbx *s = all[i];
		if (s->seq <= after || (peer && s->owner != peer))
			continue;
		if (want_state >= 0 ? s->state != want_state : (!show_term && srv_state_terminal(s->state)))
			continue;
		int ok = 1;
		for (const char *t = tags; ok && t && *t;) {
			size_t tl = strcspn(t, ",");
			if (tl && !has_tag(s, t, tl))
				ok = 0;
			t += tl;
			if (*t == ',')
				t++;
		}
		if (!ok)
			continue;
		if (count == size) {
			more = 1;
			break;
		}
		cJSON_AddItemToArray(arr, srv_sbx_json(s));
		last = s->seq;
		count++;
	}
	char tok[16] = "";
	if (more)
		snprintf(tok, sizeof tok, "%u", last);
	cJSON_AddStringToObject(j, "nextPageToken", tok);
	return send_json(con, 200, j);
}

static enum MHD_Result h_create(struct MHD_Connection *con, req *r)
{
	srv_spec spec;
	srv_perr err;
	srv_refusal why;
	int prc = srv_parse_create(r->body, r->len, &spec, &err);
	if (prc == SRV_PARSE_UNSUPPORTED)
		return send_status(con, 501, 12, "CWSANDBOX_UNIMPLEMENTED", 0, NULL, err.field[0] ? err.field : NULL,
				   err.msg);
	if (prc != 0)
		return bad_input(con, &err);
	srv_sbx *s = srv_create(&spec, r->peer, &why);
	srv_spec_free(&spec);
	if (!s)
		return send_refusal(con, &why);
	return send_json(con, 200, srv_sbx_json(s));
}

static outcome h_get(struct MHD_Connection *con, req *r, srv_sbx *s, enum MHD_Result *res)
{
	if (wait_setup(con, r) != 0) {
		*res = BAD(con, "waitSeconds must be an integer 0..60");
		return DONE;
	}
	if (!srv_state_terminal(s->state) && waiting(r))
		return suspend(con, r, s);
	*res = send_json(con, 200, srv_sbx_json(s));
	return DONE;
}

static enum MHD_Result h_delete(struct MHD_Connection *con, req *r)
{
	int64_t grace;
	if (int_arg(con, "gracePeriodSeconds", 0, 300, 10, &grace) != 0)
		return BAD(con, "gracePeriodSeconds must be an integer 0..300");
	srv_sbx *s = srv_find_for(r->route.id, r->peer);
	if (!s) {
		if (bool_arg(con, "allowMissing")) {
			cJSON *j = cJSON_CreateObject();
			cJSON_AddArrayToObject(j, "fileSystemSnapshotIds");
			return send_json(con, 200, j);
		}
		return no_sandbox(con, r->route.id);
	}
	cJSON *j = cJSON_CreateObject();
	if (bool_arg(con, "purge")) {
		/* Deleted for good: its files too (closed before the stop, so
		 * nothing is kept even when the stop waits for a grace). */
		/* The answer shows the sandbox as the stop left it; with
		 * grace 0 (or already terminal) it is gone once we return. */
		srv_drop_files(s);
		srv_stop(s, (int)grace, "deleted");
		cJSON_AddItemToObject(j, "sandbox", srv_sbx_json(s));
		srv_stop_purge(s, (int)grace, "deleted");
	} else {
		/* The public API's stop: the record and its files stay (read
		 * only) until a purge or the retention removes them. */
		srv_stop(s, (int)grace, "deleted");
		cJSON_AddItemToObject(j, "sandbox", srv_sbx_json(s));
	}
	cJSON_AddArrayToObject(j, "fileSystemSnapshotIds");
	return send_json(con, 200, j);
}

static enum MHD_Result exec_answer(struct MHD_Connection *con, srv_sbx *s, srv_proc *p, int64_t max)
{
	if (p->timed_out) {
		return send_error(con, 504, 4, "CWSANDBOX_COMMAND_TIMEOUT", 0, NULL, NULL,
				  "command timed out after %lld s", (long long)p->timeout_s);
	}
	if (p->lost & (SRV_EXIT_LOST_NOSPC | SRV_EXIT_LOST_FLOOR | SRV_EXIT_LOST_IO)) {
		/* The disk, not a limit the caller could know, took output the
		 * answer should hold: an answer with what is left would look
		 * like the whole truth. The command did run (never retry it
		 * blindly): its exit code rides along. */
		char code[16];
		snprintf(code, sizeof code, "%d", p->exit_code);
		return send_error(con, 500, 15, "CWSANDBOX_OUTPUT_LOST", 0, "exitCode", code,
				  "the command ran (exit code %d) but its output was not stored: %s", p->exit_code,
				  p->reason);
	}
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return MHD_NO;
	cJSON_AddNumberToObject(j, "exitCode", p->exit_code);
	static const char *const names[3][3] = {
		{NULL, NULL, NULL},
		{"stdout", "stdoutTruncated", "stdoutBytes"},
		{"stderr", "stderrTruncated", "stderrBytes"},
	};
	for (int i = 1; i <= 2; i++) {
		struct stat st;
		int64_t size = fstat(p->out_fd[i], &st) == 0 ? st.st_size : 0;
		size_t n = (size_t)(size < max ? size : max);
		unsigned char *buf = malloc(n ? n : 1);
		ssize_t got = buf ? pread(p->out_fd[i], buf, n, 0) : -1;
		char *b64 = srv_b64_encode(buf, got > 0 ? (size_t)got : 0);
		free(buf);
		if (!b64) {
			cJSON_Delete(j);
			return MHD_NO;
		}
		cJSON_AddStringToObject(j, names[i][0], b64);
		free(b64);
		cJSON_AddBoolToObject(j, names[i][1], size > max || (p->capped & (1 << i)));
		char num[24];
		snprintf(num, sizeof num, "%lld", (long long)size);
		cJSON_AddStringToObject(j, names[i][2], num);
	}
	(void)s;
	return send_json(con, 200, j);
}

static outcome h_exec(struct MHD_Connection *con, req *r, srv_sbx *s, enum MHD_Result *res)
{
	srv_proc *p;
	int64_t max = 1 << 20;
	if (!r->exec_uid) {
		srv_proc_req pr;
		srv_perr err;
		srv_refusal why;
		if (srv_parse_proc_req(r->body, r->len, 1, &pr, &err) != 0) {
			*res = bad_input(con, &err);
			return DONE;
		}
		max = pr.max_output;
		p = srv_proc_start(s, &pr, 1, &why);
		srv_proc_req_free(&pr);
		if (!p) {
			*res = send_refusal(con, &why);
			return DONE;
		}
		r->exec_seq = s->seq;
		r->exec_uid = p->uid;
		r->exec_max = max;
	} else {
		p = srv_proc_by_uid(s, r->exec_uid);
		if (!p) {
			*res = send_error(con, 500, 13, "CWSANDBOX_INTERNAL", 0, NULL, NULL, "exec record lost");
			r->exec_uid = 0;
			return DONE;
		}
		max = r->exec_max;
	}
	if (p->state == PS_RUNNING) {
		if (srv_core_stopping()) {
			*res = send_error(con, 503, 14, "CWSANDBOX_UNAVAILABLE", 1000, NULL, NULL,
					  "sbxd is shutting down");
			srv_exec_release(s, p);
			r->exec_uid = 0;
			return DONE;
		}
		return suspend(con, r, s);
	}
	*res = exec_answer(con, s, p, max);
	srv_exec_release(s, p);
	r->exec_uid = 0;
	return DONE;
}

static enum MHD_Result h_start(struct MHD_Connection *con, req *r, srv_sbx *s)
{
	srv_proc_req pr;
	srv_perr err;
	srv_refusal why;
	if (srv_parse_proc_req(r->body, r->len, 0, &pr, &err) != 0)
		return bad_input(con, &err);
	srv_proc *p = srv_proc_start(s, &pr, 0, &why);
	srv_proc_req_free(&pr);
	if (!p)
		return send_refusal(con, &why);
	return send_json(con, 200, srv_proc_json(s, p));
}

static enum MHD_Result h_procs(struct MHD_Connection *con, srv_sbx *s)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(j, "processes");
	for (size_t i = 1; i < s->nprocs; i++)
		if (s->procs[i])
			cJSON_AddItemToArray(arr, srv_proc_json(s, s->procs[i]));
	return send_json(con, 200, j);
}

static outcome h_proc(struct MHD_Connection *con, req *r, srv_sbx *s, enum MHD_Result *res)
{
	srv_proc *p = srv_proc_get(s, r->route.proc);
	if (!p) {
		*res = no_process(con, s, r->route.proc);
		return DONE;
	}
	if (wait_setup(con, r) != 0) {
		*res = BAD(con, "waitSeconds must be an integer 0..60");
		return DONE;
	}
	if (p->state == PS_RUNNING && waiting(r))
		return suspend(con, r, s);
	*res = send_json(con, 200, srv_proc_json(s, p));
	return DONE;
}

static outcome h_output(struct MHD_Connection *con, req *r, srv_sbx *s, int64_t id, enum MHD_Result *res)
{
	int64_t off, len;
	if (id > 0 && !srv_proc_get(s, id)) {
		*res = no_process(con, s, id);
		return DONE;
	}
	if (int_arg(con, "offset", 0, INT64_MAX / 2, 0, &off) != 0 ||
	    int_arg(con, "length", 0, INT64_MAX / 2, SRV_MAX_READ, &len) != 0 || wait_setup(con, r) != 0) {
		*res = BAD(con, "offset, length and waitSeconds must be non-negative integers");
		return DONE;
	}
	if (len > SRV_MAX_READ || len == 0)
		len = SRV_MAX_READ;
	/* Ended first, size second: a size read after the end is final. */
	int ended = srv_stream_ended(s, id);
	int fd = srv_spool_open(s, id, r->route.stream);
	struct stat st;
	int64_t size = fd >= 0 && fstat(fd, &st) == 0 ? st.st_size : 0;
	if (off >= size && !ended && waiting(r)) {
		/* Watch the spool only now that someone waits on it, then look
		 * at its size once more: a write that landed before the watch
		 * existed would otherwise never wake us. */
		int watched = srv_waiter_watch(&r->w, s, id, r->route.stream) == 0;
		if (fd >= 0 && fstat(fd, &st) == 0)
			size = st.st_size;
		if (off >= size) {
			if (fd >= 0)
				close(fd);
			outcome o = suspend(con, r, s);
			/* No watch (no spool yet?): poll every 100 ms instead. */
			int64_t soon = srv_mono_ns() + 100000000;
			if (!watched && (!r->w.deadline || r->w.deadline > soon))
				r->w.deadline = soon;
			return o;
		}
		srv_waiter_remove(&r->w);
	}
	int64_t n = off < size ? size - off : 0;
	if (n > len)
		n = len;
	struct MHD_Response *resp;
	if (n > 0) {
		resp = MHD_create_response_from_fd_at_offset64((uint64_t)n, fd, (uint64_t)off);
		if (!resp)
			close(fd);
	} else {
		if (fd >= 0)
			close(fd);
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		*res = MHD_NO;
		return DONE;
	}
	char num[24];
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	snprintf(num, sizeof num, "%lld", (long long)off);
	MHD_add_response_header(resp, "X-Sbx-Offset", num);
	snprintf(num, sizeof num, "%lld", (long long)size);
	MHD_add_response_header(resp, "X-Sbx-Size", num);
	MHD_add_response_header(resp, "X-Sbx-Eof", ended && off + n >= size ? "1" : "0");
	/* The stream ended short of what the process wrote (--max-output,
	 * the quota, the disk): stateReason says why. */
	srv_proc *pp = srv_proc_get(s, id);
	if (ended && pp && (pp->capped & (1 << r->route.stream)))
		MHD_add_response_header(resp, "X-Sbx-Truncated", "1");
	*res = queue(con, 200, resp);
	return DONE;
}

static enum MHD_Result exited(struct MHD_Connection *con, srv_sbx *s, srv_proc *p)
{
	char num[24];
	snprintf(num, sizeof num, "%lld", (long long)p->id);
	return send_error(con, 400, 9, "CWSANDBOX_PROCESS_EXITED", 0, "processId", num,
			  "process %s in sandbox %s has exited", num, s->id);
}

static enum MHD_Result h_stdin(struct MHD_Connection *con, req *r, srv_sbx *s)
{
	srv_proc *p = srv_proc_get(s, r->route.proc);
	if (!p)
		return no_process(con, s, r->route.proc);
	if (!p->want_stdin)
		return send_error(con, 400, 9, "CWSANDBOX_STDIN_CLOSED", 0, NULL, NULL,
				  "process %lld was started without stdin", (long long)p->id);
	if (p->state != PS_RUNNING)
		return exited(con, s, p);
	if (p->stdin_closed)
		return send_error(con, 400, 9, "CWSANDBOX_STDIN_CLOSED", 0, NULL, NULL,
				  "stdin of process %lld is closed", (long long)p->id);
	if (srv_stdin_write(s, p, (const unsigned char *)r->body, r->len) != 0)
		return send_error(con, 429, 8, "CWSANDBOX_LIMIT_EXCEEDED", 500, NULL, NULL,
				  "process %lld is not reading its stdin fast enough", (long long)p->id);
	cJSON *j = cJSON_CreateObject();
	char num[24];
	snprintf(num, sizeof num, "%zu", r->len);
	cJSON_AddStringToObject(j, "written", num);
	return send_json(con, 200, j);
}

static enum MHD_Result h_stdin_close(struct MHD_Connection *con, req *r, srv_sbx *s)
{
	srv_proc *p = srv_proc_get(s, r->route.proc);
	if (!p)
		return no_process(con, s, r->route.proc);
	if (p->state == PS_RUNNING && !p->stdin_closed)
		srv_stdin_close(s, p);
	return send_json(con, 200, cJSON_CreateObject());
}

static enum MHD_Result h_signal(struct MHD_Connection *con, req *r, srv_sbx *s)
{
	srv_proc *p = srv_proc_get(s, r->route.proc);
	if (!p)
		return no_process(con, s, r->route.proc);
	srv_perr err;
	int sig;
	if (srv_parse_signal(r->body, r->len, &sig, &err) != 0)
		return bad_input(con, &err);
	if (p->state != PS_RUNNING || !s->box)
		return exited(con, s, p);
	/* Signal without srv_lock: a sick init may take seconds to answer
	 * and must not stall the rest of sbxd. s and p stay valid (a busy
	 * sandbox is never purged; process records live as long as it). */
	srv_box *b = srv_rt_begin(s);
	if (!b || p->state != PS_RUNNING) {
		if (b)
			srv_rt_end(s, b);
		return exited(con, s, p);
	}
	int64_t tok = p->token;
	pthread_mutex_unlock(&srv_lock);
	int rc = srv_box_signal(b, tok, (int)sig);
	pthread_mutex_lock(&srv_lock);
	srv_rt_end(s, b);
	if (rc != 0)
		return exited(con, s, p);
	return send_json(con, 200, cJSON_CreateObject());
}

/* ---------------------------------------------------------------- files */

/* The one errno -> API error map of the file calls. Every errno the
 * sandbox's kernel gives also travels by name in ErrorInfo metadata
 * "errno" (docs/api.md, "posix" extension), so a client can hand its
 * caller the very errno (EXDEV, ENOTDIR, EBUSY...) that a process inside
 * would have seen; the status and reason keep the public meaning. */
static const struct file_err {
	int e;
	unsigned http;
	int code;
	const char *reason;
} file_errs[] = {
	{ENOENT, 404, 5, "CWSANDBOX_FILE_NOT_FOUND"},
	{EACCES, 403, 7, "CWSANDBOX_PERMISSION_DENIED"},
	{EPERM, 403, 7, "CWSANDBOX_PERMISSION_DENIED"},
	{EROFS, 403, 7, "CWSANDBOX_PERMISSION_DENIED"},
	{EEXIST, 409, 6, "CWSANDBOX_ALREADY_EXISTS"},
	{ENOTEMPTY, 400, 9, "CWSANDBOX_DIRECTORY_NOT_EMPTY"},
	{ENAMETOOLONG, 400, 3, "CWSANDBOX_NAME_TOO_LONG"},
	{ENOSPC, 429, 8, "CWSANDBOX_LIMIT_EXCEEDED"},
	{EDQUOT, 429, 8, "CWSANDBOX_LIMIT_EXCEEDED"},
	{EFBIG, 429, 8, "CWSANDBOX_LIMIT_EXCEEDED"},
	{ESRCH, 400, 9, "CWSANDBOX_SANDBOX_NOT_RUNNING"},
	{EINVAL, 400, 3, "CWSANDBOX_INVALID_REQUEST"},
};

static enum MHD_Result file_error(struct MHD_Connection *con, int e, const char *path)
{
	char msg[SRV_MSGLEN + 64];
	switch (-e) {
	case SRV_EPSEUDO:
		return send_error(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", 0, "path", path,
				  "%s: on a kernel pseudo file system (procfs, sysfs, cgroupfs, FUSE...); "
				  "file calls refuse those, run a command in the sandbox instead", path);
	case SRV_ENOTREG:
		return send_error(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", 0, "path", path,
				  "%s: not a regular file (a FIFO, socket or device); file calls read and "
				  "write regular files only", path);
	}
	/* Anything else is what the kernel said: FAILED_PRECONDITION unless
	 * the table knows better. */
	const struct file_err *fe = NULL;
	for (size_t i = 0; i < sizeof file_errs / sizeof file_errs[0]; i++)
		if (file_errs[i].e == -e)
			fe = &file_errs[i];
	unsigned http = fe ? fe->http : 400;
	int code = fe ? fe->code : 9;
	const char *reason = fe ? fe->reason : "CWSANDBOX_INVALID_REQUEST";
	const char *name = strerrorname_np(-e);
	if (-e == ENAMETOOLONG)
		snprintf(msg, sizeof msg, "path or one of its components too long (at most %d bytes, %d a component)",
			 SRV_MAX_PATH - 1, 255);
	else if (-e == ESRCH)
		snprintf(msg, sizeof msg, "the sandbox is not running");
	else if (-e == ENOENT)
		snprintf(msg, sizeof msg, "%s: no such file", path);
	else
		snprintf(msg, sizeof msg, "%s: %s", path, strerror(-e));
	/* ESRCH is ours (no box to reach), not an errno of the sandbox. */
	if (-e == ESRCH)
		name = NULL;
	const char *md[] = {"path", path, name ? "errno" : NULL, name, NULL};
	return send_status(con, http, code, reason, 0, -e == ENAMETOOLONG ? NULL : md, NULL, msg);
}

/* A query argument with MHD's decoding, refused (-1) when a %00 inside
 * would silently cut it; *v is NULL when absent. */
static int query_arg(struct MHD_Connection *con, const char *key, const char **v)
{
	size_t vlen = 0;
	*v = NULL;
	if (MHD_lookup_connection_value_n(con, MHD_GET_ARGUMENT_KIND, key, strlen(key), v, &vlen) == MHD_YES && *v &&
	    strlen(*v) != vlen)
		return -1;
	return 0;
}

static enum MHD_Result h_files(struct MHD_Connection *con, req *r, srv_sbx *s)
{
	char err[SRV_MSGLEN];
	srv_perr perr;
	srv_file_args fa;
	srv_file_query q = {NULL, NULL};
	cJSON *body = NULL, *out = NULL;
	enum MHD_Result res;
	srv_route_kind kind = r->route.kind;
	int post = !srv_file_call_is_get(kind);
	/* The extension's raw writeFile: the bytes are the body
	 * (application/octet-stream), the rest in the query. No base64 and
	 * no JSON on the data path. */
	const char *ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
	int raw_write = kind == R_WRITE_FILE && ct && strncmp(ct, "application/octet-stream", 24) == 0;
	if (post && !raw_write) {
		if (!(body = srv_json_parse(r->body ? r->body : "", r->len, &perr)))
			return bad_input(con, &perr);
	} else if (query_arg(con, "path", &q.path) != 0 || query_arg(con, "name", &q.name) != 0) {
		return BAD(con, "path and name must not contain NUL");
	}
	int64_t off = 0, len = 0, wmode = -1;
	if (kind == R_READ_FILE &&
	    (int_arg(con, "offset", 0, INT64_MAX / 2, 0, &off) != 0 ||
	     int_arg(con, "length", 0, INT64_MAX / 2, 16 << 20, &len) != 0))
		return BAD(con, "offset and length must be non-negative integers");
	if (raw_write && (int_arg(con, "offset", -1, INT64_MAX / 2, -1, &off) != 0 ||
			  int_arg(con, "mode", -1, 07777, -1, &wmode) != 0))
		return BAD(con, "offset and mode must be integers (mode 0..4095)");
	/* Every argument is checked before the sandbox is looked at. */
	int rc = srv_file_args_parse(kind, body, &q, &fa, err);
	if (rc == -ENAMETOOLONG) {
		res = file_error(con, rc, fa.path);
		cJSON_Delete(body);
		return res;
	}
	if (rc != 0) {
		cJSON_Delete(body);
		return BAD(con, "%s", err);
	}
	if (raw_write) {
		const char *t = arg(con, "truncate");
		fa.offset = off;
		fa.mode = (int)wmode;
		fa.append = bool_arg(con, "append");
		fa.truncate = t && *t ? bool_arg(con, "truncate") : off < 0;
	}
	const char *path = fa.path;
	int read_only;
	int root = srv_root_fd(s, &read_only);
	if (root < 0) {
		/* path may live in body: answer before freeing it. */
		if (errno == ENOTSUP)
			res = send_error(con, 501, 12, "CWSANDBOX_UNIMPLEMENTED", 0, NULL, NULL,
					 "file calls are not available with this runtime");
		else
			res = file_error(con, -ESRCH, path);
		srv_file_args_free(&fa);
		cJSON_Delete(body);
		return res;
	}
	/* A finished sandbox's files are kept for reading only (nothing in
	 * it runs to see a change, and its memory is no longer governed). */
	if (read_only && post) {
		res = file_error(con, -EROFS, path);
		srv_file_args_free(&fa);
		cJSON_Delete(body);
		close(root);
		srv_root_fd_done();
		return res;
	}
	/* The root fd keeps working without the lock (and fails cleanly if
	 * the sandbox goes away), so large file I/O does not stall others. */
	pthread_mutex_unlock(&srv_lock);
	switch (kind) {
	case R_READ_FILE: {
		int64_t size = 0;
		if (len == 0 || len > (16 << 20))
			len = 16 << 20;
		unsigned char *buf;
		size_t n;
		int eof;
		rc = srv_file_read(root, path, off, (size_t)len, &buf, &n, &size, &eof);
		if (rc)
			break;
		if (bool_arg(con, "raw")) {
			/* The extension's raw answer: the bytes as the body,
			 * size and end in headers (as output reads give). */
			struct MHD_Response *resp = MHD_create_response_from_buffer(n, n ? buf : (void *)"",
										    n ? MHD_RESPMEM_MUST_FREE
										      : MHD_RESPMEM_PERSISTENT);
			if (!resp) {
				free(buf);
				rc = -ENOMEM;
				break;
			}
			if (!n)
				free(buf);
			char num[24];
			MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
			snprintf(num, sizeof num, "%lld", (long long)off);
			MHD_add_response_header(resp, "X-Sbx-Offset", num);
			snprintf(num, sizeof num, "%lld", (long long)size);
			MHD_add_response_header(resp, "X-Sbx-Size", num);
			MHD_add_response_header(resp, "X-Sbx-Eof", eof ? "1" : "0");
			res = queue(con, 200, resp);
			goto out;
		}
		char *b64 = srv_b64_encode(buf, n);
		free(buf);
		out = cJSON_CreateObject();
		if (!b64 || !out) {
			free(b64);
			rc = -ENOMEM;
			break;
		}
		cJSON_AddStringToObject(out, "content", b64);
		free(b64);
		char num[24];
		snprintf(num, sizeof num, "%lld", (long long)size);
		cJSON_AddStringToObject(out, "size", num);
		cJSON_AddBoolToObject(out, "eof", eof);
		break;
	}
	case R_WRITE_FILE:
		if (raw_write)
			rc = srv_file_write(root, path, (const unsigned char *)(r->body ? r->body : ""), r->len, fa.offset,
					    fa.append, fa.truncate, fa.mode);
		else
			rc = srv_file_write(root, path, fa.data, fa.len, fa.offset, fa.append, fa.truncate, fa.mode);
		out = rc ? NULL : cJSON_CreateObject();
		break;
	case R_LIST_DIR: {
		cJSON *entries;
		rc = srv_file_list(root, path, 100000, &entries);
		if (rc)
			break;
		out = cJSON_CreateObject();
		cJSON_AddItemToObject(out, "entries", entries);
		break;
	}
	case R_STAT_FILE:
		rc = srv_file_stat(root, path, &out);
		break;
	case R_MAKE_DIR:
		rc = srv_file_mkdir(root, path, fa.mode);
		out = rc ? NULL : cJSON_CreateObject();
		break;
	case R_REMOVE_FILE:
		rc = srv_file_remove(root, path, fa.recursive);
		out = rc ? NULL : cJSON_CreateObject();
		break;
	case R_CREATE_FILE:
		rc = srv_file_create(root, path, fa.mode, fa.exclusive, fa.truncate, &out);
		break;
	case R_SET_FILE_ATTRS:
		rc = srv_file_setattr(root, path, &fa.attrs, &out);
		break;
	case R_RENAME_FILE:
		rc = srv_file_rename(root, path, fa.new_path, fa.rename_flags);
		out = rc ? NULL : cJSON_CreateObject();
		break;
	case R_CREATE_SYMLINK:
		rc = srv_file_symlink(root, path, fa.target);
		if (!rc)
			rc = srv_file_stat(root, path, &out);
		break;
	case R_LINK_FILE:
		rc = srv_file_link(root, path, fa.new_path);
		if (!rc)
			rc = srv_file_stat(root, fa.new_path, &out);
		break;
	case R_MAKE_NODE:
		/* The sandbox's /dev binds the host's devices; a device node
		 * made here would be one more door to them. */
		rc = fa.node == 'd' ? -EPERM : srv_file_mknod(root, path, fa.node == 'f', fa.mode);
		if (!rc)
			rc = srv_file_stat(root, path, &out);
		break;
	case R_STAT_FILE_SYSTEM:
		rc = srv_file_statfs(root, path, &out);
		if (!rc && read_only)
			cJSON_ReplaceItemInObjectCaseSensitive(out, "readOnly", cJSON_CreateBool(1));
		break;
	case R_GET_XATTR: {
		unsigned char *val;
		size_t n;
		rc = srv_file_xattr_get(root, path, fa.name, &val, &n);
		if (rc)
			break;
		char *b64 = srv_b64_encode(val, n);
		free(val);
		out = cJSON_CreateObject();
		if (!b64 || !out || !cJSON_AddStringToObject(out, "value", b64))
			rc = -ENOMEM;
		free(b64);
		break;
	}
	case R_LIST_XATTRS: {
		cJSON *names;
		rc = srv_file_xattr_list(root, path, &names);
		if (rc)
			break;
		out = cJSON_CreateObject();
		if (!out) {
			cJSON_Delete(names);
			rc = -ENOMEM;
			break;
		}
		cJSON_AddItemToObject(out, "names", names);
		break;
	}
	case R_SET_XATTR:
		rc = srv_file_xattr_set(root, path, fa.name, fa.data, fa.len, fa.xattr_flags);
		out = rc ? NULL : cJSON_CreateObject();
		break;
	case R_REMOVE_XATTR:
		rc = srv_file_xattr_remove(root, path, fa.name);
		out = rc ? NULL : cJSON_CreateObject();
		break;
	default:
		rc = -EINVAL;
	}
	if (rc)
		res = file_error(con, rc, path);
	else
		res = send_json(con, 200, out);
	out = NULL;
out:
	cJSON_Delete(out);
	srv_file_args_free(&fa);
	cJSON_Delete(body);
	close(root);
	srv_root_fd_done();
	pthread_mutex_lock(&srv_lock);
	return res;
}

/* ------------------------------------------------------------- dispatch */

static enum MHD_Result dispatch(struct MHD_Connection *con, req *r, const char *method)
{
	enum MHD_Result res = MHD_YES;
	if (r->routed < 0)
		return send_error(con, 404, 12, "CWSANDBOX_UNIMPLEMENTED", 0, NULL, NULL, "no such call: %s",
				  method);
	if (r->too_big)
		return send_error(con, 413, 8, "CWSANDBOX_LIMIT_EXCEEDED", 0, NULL, NULL,
				  "request body over the %zu byte cap", r->limit);
	if (r->route.kind == R_EXTENSIONS)
		return h_extensions(con);
	if (r->route.kind == R_IMAGES)
		return h_images(con);
	pthread_mutex_lock(&srv_lock);
	if (srv_core_stopping() && !r->exec_uid) {
		res = send_error(con, 503, 14, "CWSANDBOX_UNAVAILABLE", 1000, NULL, NULL, "sbxd is shutting down");
		goto out;
	}
	if (r->route.kind == R_SANDBOXES) {
		res = strcmp(method, "POST") == 0 ? h_create(con, r) : h_list(con, r->peer);
		goto out;
	}
	if (r->route.kind == R_SANDBOX && strcmp(method, "DELETE") == 0) {
		res = h_delete(con, r);
		goto out;
	}
	/* Another user's sandbox is as absent as one that never was. */
	srv_sbx *s = r->exec_uid ? srv_find_seq(r->exec_seq) : srv_find_for(r->route.id, r->peer);
	if (!s) {
		r->exec_uid = 0;
		res = no_sandbox(con, r->route.id);
		goto out;
	}
	switch (r->route.kind) {
	case R_SANDBOX:
		h_get(con, r, s, &res);
		break;
	case R_EXEC:
		h_exec(con, r, s, &res);
		break;
	case R_PROCESSES:
		res = strcmp(method, "POST") == 0 ? h_start(con, r, s) : h_procs(con, s);
		break;
	case R_PROCESS:
		h_proc(con, r, s, &res);
		break;
	case R_MAIN_OUTPUT:
		h_output(con, r, s, 0, &res);
		break;
	case R_PROC_OUTPUT:
		h_output(con, r, s, r->route.proc, &res);
		break;
	case R_PROC_STDIN:
		res = h_stdin(con, r, s);
		break;
	case R_PROC_STDIN_CLOSE:
		res = h_stdin_close(con, r, s);
		break;
	case R_PROC_SIGNAL:
		res = h_signal(con, r, s);
		break;
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
	case R_REMOVE_XATTR:
		res = h_files(con, r, s);
		break;
	default:
		res = send_error(con, 404, 12, "CWSANDBOX_UNIMPLEMENTED", 0, NULL, NULL, "no such call");
	}
out:
	pthread_mutex_unlock(&srv_lock);
	return res;
}

/* Constant-time: the time taken does not depend on where bytes differ. */
static int token_ok(const char *given)
{
	if (!given || !tcp_token)
		return 0;
	size_t a = strlen(given), b = strlen(tcp_token);
	unsigned char diff = (unsigned char)(a != b);
	for (size_t i = 0; i < b; i++)
		diff |= (unsigned char)(tcp_token[i] ^ (i < a ? given[i] : 0));
	return diff == 0;
}

static int authorized(struct MHD_Connection *con)
{
	const char *h = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");
	if (h && strncasecmp(h, "Bearer ", 7) == 0 && token_ok(h + 7))
		return 1;
	h = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "x-wandb-api-key");
	return token_ok(h);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	(void)version;
	req *r = *ctx;
	if (!r || !r->started) {
		if (!r && !(r = calloc(1, sizeof *r)))
			return MHD_NO;
		*ctx = r;
		r->started = 1;
		__atomic_add_fetch(&inflight, 1, __ATOMIC_SEQ_CST);
		r->tcp = cls != NULL;
		if (r->tcp && !authorized(con))
			return send_error(con, 401, 16, "CWSANDBOX_UNAUTHENTICATED", 0, NULL, NULL,
					  "missing or wrong bearer token");
		/* Unix: the peer's uid (on_connection). TCP keeps 0, root:
		 * the token holder is the operator. */
		if (!r->tcp) {
			const union MHD_ConnectionInfo *ci =
				MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
			uintptr_t v = ci ? (uintptr_t)ci->socket_context : 0;
			if (!v)
				return send_error(con, 500, 13, "CWSANDBOX_INTERNAL", 0, NULL, NULL,
						  "cannot tell which user is connected (SO_PEERCRED failed)");
			r->peer = (uint32_t)(v - 1);
		}
		if (r->uri_bad)
			return bad_input(con, &r->uri_err);
		r->routed = srv_parse_route(method, url, &r->route) == 0 ? 1 : -1;
		r->limit = r->route.kind == R_WRITE_FILE ? SRV_MAX_WRITE_BODY : SRV_MAX_BODY;
		const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
		int64_t n;
		if (cl && srv_parse_int(cl, 0, INT64_MAX, &n) == 0 && (uint64_t)n > r->limit) {
			r->too_big = 1;
			return dispatch(con, r, method);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (r->too_big || r->len + n > r->limit) {
			r->too_big = 1;
			return MHD_YES;
		}
		if (r->len + n + 1 > r->cap) {
			size_t nc = r->cap ? r->cap : 4096;
			while (nc < r->len + n + 1)
				nc *= 2;
			char *nb = realloc(r->body, nc);
			if (!nb)
				return MHD_NO;
			r->body = nb;
			r->cap = nc;
		}
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		r->body[r->len] = '\0';
		return MHD_YES;
	}
	return dispatch(con, r, method);
}

/* libmicrohttpd hands this hook the request target as it came, before it
 * percent-decodes the path and the query arguments into C strings (where
 * a %00 would cut "ID%00x" to "ID", and bytes that are not UTF-8 would go
 * on into answers). Every URL input passes here once, so it is checked
 * here and nowhere else; the context made here is the request's own. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
	(void)cls;
	(void)con;
	req *r = calloc(1, sizeof *r);
	if (r && srv_uri_check(uri ? uri : "", &r->uri_err) != 0)
		r->uri_bad = 1;
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **ctx, enum MHD_RequestTerminationCode tc)
{
	(void)cls;
	(void)con;
	(void)tc;
	req *r = *ctx;
	if (!r)
		return;
	if (!r->started) {
		/* Made by on_uri for a request that never reached a handler. */
		free(r);
		*ctx = NULL;
		return;
	}
	pthread_mutex_lock(&srv_lock);
	srv_waiter_remove(&r->w);
	if (r->exec_uid) {
		srv_sbx *s = srv_find_seq(r->exec_seq);
		srv_proc *p = s ? srv_proc_by_uid(s, r->exec_uid) : NULL;
		if (p)
			srv_exec_release(s, p);
	}
	pthread_mutex_unlock(&srv_lock);
	free(r->body);
	free(r);
	*ctx = NULL;
	__atomic_sub_fetch(&inflight, 1, __ATOMIC_SEQ_CST);
}

/* A unix connection's peer, asked once when it is accepted (not per
 * request: keep-alive connections carry many) and kept as its socket
 * context: uid + 1, so NULL means the kernel would not say. The peer's
 * credentials are those it had at connect(), which is what counts: a
 * socket passed on to another process still acts for its opener. */
static void on_connection(void *cls, struct MHD_Connection *con, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	if (toe != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	*socket_context = NULL;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cr;
	socklen_t len = sizeof cr;
	if (ci && getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && len == sizeof cr)
		*socket_context = (void *)((uintptr_t)cr.uid + 1);
}

/* Connection caps. The unix socket serves its local users: room for
 * thousands of parked long-polls, idle keep-alives kept 10 minutes. TCP
 * is open to anyone who can connect, token or not: a tighter idle timeout
 * (a slow-loris connection sending partial headers is idle as soon as it
 * pauses), a per-address cap, and a total cap that leaves most of the fd
 * limit (65536) to the unix socket and spool files. libmicrohttpd takes a
 * suspended connection (a parked long-poll) off its timeout list until it
 * is resumed, so long-polls are never cut by the idle timeout. */
#define UNIX_CONN_LIMIT 8192
#define UNIX_IDLE_S 600
#define TCP_CONN_LIMIT 4096
#define TCP_PER_IP_LIMIT 256

static struct MHD_Daemon *start_one(int fd, void *cls, unsigned idle_s)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_TURBO;
	int tcp = cls != NULL;
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, cls,
				MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)(tcp ? TCP_CONN_LIMIT : UNIX_CONN_LIMIT),
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(tcp ? TCP_PER_IP_LIMIT : 0),
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 << 10),
				MHD_OPTION_CONNECTION_TIMEOUT, tcp ? idle_s : (unsigned)UNIX_IDLE_S,
				MHD_OPTION_NOTIFY_CONNECTION, tcp ? NULL : on_connection, NULL,
				MHD_OPTION_END);
}

int srv_http_start(int unix_fd, int tcp_fd, const char *token, unsigned tcp_idle_s, char *err)
{
	d_unix = start_one(unix_fd, NULL, 0);
	if (!d_unix) {
		snprintf(err, SRV_MSGLEN, "cannot start the HTTP server on the unix socket");
		return -1;
	}
	if (tcp_fd >= 0) {
		tcp_token = strdup(token ? token : "");
		d_tcp = tcp_token ? start_one(tcp_fd, (void *)1, tcp_idle_s) : NULL;
		if (!d_tcp) {
			snprintf(err, SRV_MSGLEN, "cannot start the HTTP server on TCP");
			return -1;
		}
	}
	return 0;
}

void srv_http_stop(void)
{
	/* Let resumed long-polls send their 503 before connections close
	 * (srv_core_quiesce woke them); new requests get 503 meanwhile. */
	for (int i = 0; i < 100 && __atomic_load_n(&inflight, __ATOMIC_SEQ_CST) > 0; i++)
		usleep(10000);
	if (d_tcp)
		MHD_stop_daemon(d_tcp);
	if (d_unix)
		MHD_stop_daemon(d_unix);
	d_tcp = d_unix = NULL;
	if (tcp_token) {
		explicit_bzero(tcp_token, strlen(tcp_token));
		free(tcp_token);
	}
	tcp_token = NULL;
}
