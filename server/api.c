/*
 * HTTP handlers of sbxd on libmicrohttpd (see api.h). Each request gets a
 * context that collects its body under the route's cap; the handler runs
 * once the body is complete, under srv_lock, and either answers or
 * registers a waiter and suspends the connection. A resumed connection runs
 * its handler again, which re-checks its condition (spurious wake-ups are
 * harmless), so long-polls hold no thread.
 */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core.h"
#include "fileargs.h"
#include "files.h"
#include "parse.h"
#include "reqbody.h"
#include "routes.h"
#include "rpc.h"
#include "rpc_files.h"
#include "rpc_wait.h"

/* Bytes of one JSON answer: a 32 MiB file as base64, and room. */
#define SRV_MAX_ANSWER ((size_t)48 << 20)

#define SERVER_NAME "sbxd/" SBXD_VERSION

static struct MHD_Daemon *d_unix, *d_tcp;
static char *tcp_token;
static int extension_on = 1; /* sbxd --no-extension: 0 */

void srv_http_set_extension(int on)
{
	extension_on = on;
}
static int inflight;  /* request contexts alive (atomic builtins) */
/* Bytes of request bodies held at once, over every connection (atomic
 * builtins): each body is capped (16 MiB for file writes), but a body is
 * kept until it is whole, so 30 connections of one user without any
 * sandbox, each 1 byte short of a 16 MiB write, held 510 MB of sbxd, and
 * the 8192 connections allowed would hold the host's RAM. Past the budget
 * a request is answered 503 (retry) and its bytes are dropped. */
#define BODY_BUDGET ((int64_t)256 << 20)
static int64_t body_bytes;

typedef struct req {
	int started;     /* on_request has seen it (the URI hook makes it) */
	int uri_bad;     /* the raw URL failed srv_uri_check: uri_err says why */
	srv_perr uri_err;
	int routed;      /* 1 matched, -1 no route */
	int tcp;
	uint32_t peer;   /* who asks: the unix peer's uid, 0 (root) on TCP */
	char *body;
	size_t len, cap, limit;
	int too_big;
	int over_budget; /* BODY_BUDGET was used up while this body came */
	size_t want;     /* Content-Length when given and under the cap, else 0 */
	srv_waiter w;
	/* A call of rpc.h (wr != NULL): its row, path variables (into
	 * path), the decoded request and the call's state across wake-ups. */
	const wire_route *wr;
	char *path;
	wire_var vars[WIRE_MAX_VARS];
	size_t nvars;
	ProtobufCMessage *rpcreq;
	int borrowed;    /* rpcreq's WriteFileAt content is body: unset it first */
	srv_call call;
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

/* A message of the schema (or the extension) as canonical proto3 JSON,
 * or (bin: an extension call whose client asked for it) in the binary
 * encoding; frees m. */
static enum MHD_Result send_pb(struct MHD_Connection *con, unsigned http, ProtobufCMessage *m, int bin)
{
	char *txt = NULL;
	size_t len = 0;
	wire_err we;
	/* The largest answer is a whole-file ReadFile: 32 MiB in base64. */
	wire_caps caps = wire_caps_default;
	caps.max_bytes = SRV_MAX_ANSWER;
	int rc = !m ? -ENOMEM
		 : bin ? wire_pb_encode(m, &caps, (uint8_t **)&txt, &len, &we)
		       : wire_json_encode(m, &caps, &txt, &len, &we);
	wire_message_free(m);
	if (rc != 0) {
		fprintf(stderr, "sbxd: warning: cannot encode an answer: %s\n", rc == -ENOMEM ? "out of memory" : we.msg);
		return MHD_NO;
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(len, txt, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(txt);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", bin ? SRV_PB_MEDIA : "application/json");
	return queue(con, http, r);
}

/* A failure as google.rpc.Status with the HTTP status of the standard
 * mapping (rpc.h). */
static enum MHD_Result send_st(struct MHD_Connection *con, const srv_status *st)
{
	Google__Rpc__Status *pb = srv_status_to_pb(st);
	return send_pb(con, srv_http_status(st->code), pb ? &pb->base : NULL, 0);
}

/* An error of kind (rpc.c's table) with one ErrorInfo metadata entry
 * (mkey, mval; NULL for none). */
static enum MHD_Result send_error(struct MHD_Connection *con, srv_err kind, const char *mkey, const char *mval,
				  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_error(struct MHD_Connection *con, srv_err kind, const char *mkey, const char *mval,
				  const char *fmt, ...)
{
	char msg[SRV_MSGLEN + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	srv_status st;
	srv_fail(&st, kind, NULL, "%s", msg);
	srv_status_md(&st, mkey, mval);
	return send_st(con, &st);
}

/* 400 INVALID_ARGUMENT for a parse failure, naming the field when the
 * parser knows which one. */
static enum MHD_Result bad_input(struct MHD_Connection *con, const srv_perr *e)
{
	srv_status st;
	srv_fail_perr(&st, e);
	return send_st(con, &st);
}

/* ----------------------------------------------------- the rpc.h calls */

/* The request message of a row of wire_routes / wire_ext_routes, made once
 * per request (a resumed long-poll reuses it): body by the row's rule,
 * path variables, then every query parameter as a field (a repeated key
 * appends: ?tags=a&tags=b; an unknown one is a 400 naming it). */
typedef struct qctx {
	ProtobufCMessage *m;
	wire_err *err;
	int rc;
} qctx;

static enum MHD_Result query_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *val)
{
	(void)kind;
	qctx *q = cls;
	if (q->rc)
		return MHD_NO;
	q->rc = wire_field_set_text(q->m, key, val ? val : "", val ? strlen(val) : 0, q->err);
	return q->rc ? MHD_NO : MHD_YES;
}

/* Calls whose HTTP body is raw bytes rather than their JSON request:
 * WriteStdin always, WriteFileAt when sent as application/octet-stream
 * (its other fields then come from the query). */
static int raw_body(struct MHD_Connection *con, const req *r)
{
	if (strcmp(r->wr->rpc, "WriteStdin") == 0)
		return 1;
	if (strcmp(r->wr->rpc, "WriteFileAt") != 0)
		return 0;
	const char *ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
	return ct && strncmp(ct, "application/octet-stream", 24) == 0;
}

/* The body cap of a call: file writes take up to SRV_MAX_WRITE_BODY. */
static size_t body_cap(const req *r)
{
	if (r->wr && (strcmp(r->wr->rpc, "WriteFile") == 0 || strcmp(r->wr->rpc, "WriteFileAt") == 0))
		return SRV_MAX_WRITE_BODY;
	return SRV_MAX_BODY;
}

/* Over the cap: on a file write the file is what is too large. */
static srv_err big_body_kind(const req *r)
{
	return body_cap(r) == SRV_MAX_WRITE_BODY ? SRV_E_FILE_TOO_LARGE : SRV_E_INVALID;
}

/* A path variable's field may also come in a body "*" (the schema's
 * ExecRequest.sandboxId, WriteFileRequest.sandboxId): then it must be
 * the path's value or empty, never another sandbox's (400 naming it). */
static int body_matches_path(const req *r, wire_err *we)
{
	for (size_t i = 0; i < r->nvars; i++) {
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(r->rpcreq->descriptor, r->vars[i].field);
		if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		const char *v = *(char *const *)((const char *)r->rpcreq + f->offset);
		if (v && *v && (strlen(v) != r->vars[i].len || memcmp(v, r->vars[i].val, r->vars[i].len) != 0)) {
			wire_json_name(f->name, we->field, sizeof we->field);
			snprintf(we->msg, sizeof we->msg, "%.180s in the body differs from the path's", we->field);
			return -EINVAL;
		}
	}
	return 0;
}

/* The binary encoding (docs/api.md, "Encodings"): on the extension's
 * rows only, never on the real API's, whose answers stay those of the
 * managed service. A body in it: a body "*" row sent with Content-Type
 * SRV_PB_MEDIA; an answer in it: a client whose Accept names it. */
static int pb_body(struct MHD_Connection *con, const req *r)
{
	return r->wr->ext && strcmp(r->wr->body, "*") == 0 &&
	       srv_media_is(MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type"), SRV_PB_MEDIA);
}

static int pb_answer(struct MHD_Connection *con, const req *r)
{
	return r->wr->ext &&
	       srv_media_accepted(MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Accept"), SRV_PB_MEDIA);
}

static int rpc_request(struct MHD_Connection *con, req *r, srv_status *st)
{
	wire_err we;
	wire_caps caps = wire_caps_default;
	caps.max_bytes = r->limit;
	caps.max_depth = SRV_MAX_DEPTH;
	/* Strings that are not UTF-8, NULs, nesting: refused with the path
	 * of the field, in either encoding (reqbody.h). A raw body is bytes,
	 * not a message. */
	srv_perr pe;
	int raw = raw_body(con, r);
	int rc = 0;
	if (raw)
		rc = (r->rpcreq = wire_route_new_request(r->wr)) ? 0 : -ENOMEM;
	else
		rc = srv_request_body(r->wr, r->body ? r->body : "", r->len, pb_body(con, r), &caps, &r->rpcreq, &pe);
	if (rc == -ENOMEM)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	if (rc == -E2BIG && body_cap(r) == SRV_MAX_WRITE_BODY)
		return srv_fail(st, SRV_E_FILE_TOO_LARGE, pe.field, "%s", pe.msg);
	if (rc)
		return srv_fail_perr(st, &pe);
	rc = body_matches_path(r, &we);
	if (rc == 0)
		rc = wire_route_bind(r->wr, r->rpcreq, r->vars, r->nvars, &we);
	if (rc == 0) {
		qctx q = {r->rpcreq, &we, 0};
		MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, query_field, &q);
		rc = q.rc;
	}
	if (rc == 0 && raw && strcmp(r->wr->rpc, "WriteFileAt") == 0) {
		/* The bytes stay the body's (borrowed; unset before the free). */
		Sbxd__Ext__V1__WriteFileAtRequest *w = (void *)r->rpcreq;
		free(w->content.data);
		w->content.data = r->len ? (uint8_t *)r->body : NULL;
		w->content.len = r->len;
		r->borrowed = 1;
	}
	if (rc == -ENOMEM)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	if (rc)
		return srv_fail_wire(st, &we);
	return 0;
}

/* Raw bytes with the X-Sbx-* headers of docs/api.md ("Reading output by
 * offset"). fd: read n bytes at off from it (taken over), or -1. */
static enum MHD_Result send_raw(struct MHD_Connection *con, int fd, const unsigned char *buf, int64_t off,
				int64_t n, int64_t size, int eof, int truncated)
{
	struct MHD_Response *resp;
	if (fd >= 0 && n > 0)
		resp = MHD_create_response_from_fd_at_offset64((uint64_t)n, fd, (uint64_t)off);
	else if (buf && n > 0)
		resp = MHD_create_response_from_buffer((size_t)n, (void *)buf, MHD_RESPMEM_MUST_COPY);
	else
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (fd >= 0)
			close(fd);
		return MHD_NO;
	}
	if (fd >= 0 && n <= 0)
		close(fd);
	char num[24];
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	snprintf(num, sizeof num, "%lld", (long long)off);
	MHD_add_response_header(resp, "X-Sbx-Offset", num);
	snprintf(num, sizeof num, "%lld", (long long)size);
	MHD_add_response_header(resp, "X-Sbx-Size", num);
	MHD_add_response_header(resp, "X-Sbx-Eof", eof ? "1" : "0");
	/* The stream ended short of what the process wrote (--max-output,
	 * the quota, the disk): stateReason says why. */
	if (truncated)
		MHD_add_response_header(resp, "X-Sbx-Truncated", "1");
	return queue(con, 200, resp);
}

/* "outputFd": the protocol name of the upgrade that carries a spool's
 * descriptor (docs/api.md). */
#define FD_UPGRADE "sbxd-fd"

/* Both headers of an upgrade (RFC 9110 7.8): a proxy that passes the
 * hop-by-hop Upgrade on without its Connection would otherwise get a 101
 * it cannot relay, and hang its client until a deadline. */
static int upgrade_asked(struct MHD_Connection *con)
{
	const char *u = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Upgrade");
	const char *c = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Connection");
	return u && strcasecmp(u, FD_UPGRADE) == 0 && c && strcasestr(c, "upgrade");
}

/* After the 101: one byte that carries the descriptor, then the end of
 * the connection (it served this one call). */
static void fd_upgraded(void *cls, struct MHD_Connection *con, void *req_cls, const char *extra_in,
			size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	(void)con;
	(void)req_cls;
	(void)extra_in;
	(void)extra_in_size;
	int fd = (int)(intptr_t)cls - 1;
	char byte = 'F';
	struct iovec iov = {&byte, 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	/* The socket may be non-blocking: one byte fits unless the peer
	 * stopped reading, so wait a little, never forever. */
	for (int tries = 0; tries < 10; tries++) {
		if (sendmsg(sock, &mh, MSG_NOSIGNAL) == 1)
			break;
		if (errno != EAGAIN && errno != EINTR)
			break;
		struct pollfd pfd = {sock, POLLOUT, 0};
		poll(&pfd, 1, 100);
	}
	close(fd);
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* The 101 of openOutput (an ended stream: X-Sbx-Eof, X-Sbx-Truncated)
 * and openFile (X-Sbx-Read-Only) with their headers; fd goes in the byte
 * after it (fd_upgraded), and is closed here once sent. */
static enum MHD_Result send_fd(struct MHD_Connection *con, int fd, int64_t size, int output, int truncated,
			       int read_only)
{
	struct MHD_Response *resp = MHD_create_response_for_upgrade(fd_upgraded, (void *)(intptr_t)(fd + 1));
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	char num[24];
	MHD_add_response_header(resp, "Upgrade", FD_UPGRADE);
	snprintf(num, sizeof num, "%lld", (long long)size);
	MHD_add_response_header(resp, "X-Sbx-Size", num);
	if (output)
		MHD_add_response_header(resp, "X-Sbx-Eof", "1");
	if (truncated)
		MHD_add_response_header(resp, "X-Sbx-Truncated", "1");
	if (read_only)
		MHD_add_response_header(resp, "X-Sbx-Read-Only", "1");
	enum MHD_Result rc = MHD_queue_response(con, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	if (rc != MHD_YES)
		close(fd);
	return rc;
}

/* ReadStdout ... ReadProcessStderr: the stream is the row's. */
static int output_stream(const char *rpc)
{
	return strstr(rpc, "Stdout") ? 1 : 2;
}

/* The client closed its end (or the socket failed). */
static int peer_gone(struct MHD_Connection *con)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return 0;
	struct pollfd pfd = {ci->connect_fd, POLLRDHUP, 0};
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* One call of rpc.h: decode, run (again, after a wake-up), answer. */
static enum MHD_Result h_rpc(struct MHD_Connection *con, req *r)
{
	srv_status st;
	ProtobufCMessage *resp = NULL;
	const char *rpc = r->wr->rpc;
	srv_route_kind fk = srv_file_kind_of(rpc);
	int rc;
	if (!r->rpcreq) {
		srv_call_init(&r->call, r->peer, &r->w);
		if (rpc_request(con, r, &st) != 0)
			return send_st(con, &st);
	} else if (strcmp(rpc, "WaitProcesses") == 0 && peer_gone(con)) {
		/* A parked connection is not watched: a client that closed it
		 * (a mount sending the wait again with more entries) is seen
		 * on the next turn, at most a second later, and let go. */
		return MHD_NO;
	}
	r->w.con = con;
	const void *q = r->rpcreq;
#define CALL(fn, T) fn(&r->call, q, (T **)&resp, &st)
	if (strcmp(rpc, "CreateSandbox") == 0)
		rc = CALL(srv_rpc_create, Coreweave__Sandbox__V1__Sandbox);
	else if (strcmp(rpc, "GetSandbox") == 0)
		rc = CALL(srv_rpc_get, Coreweave__Sandbox__V1__Sandbox);
	else if (strcmp(rpc, "ListSandboxes") == 0)
		rc = CALL(srv_rpc_list, Coreweave__Sandbox__V1__ListSandboxesResponse);
	else if (strcmp(rpc, "DeleteSandbox") == 0)
		rc = CALL(srv_rpc_delete, Coreweave__Sandbox__V1__DeleteSandboxResponse);
	else if (strcmp(rpc, "PurgeSandboxes") == 0)
		rc = CALL(srv_rpc_purge, Coreweave__Sandbox__V1__PurgeSandboxesResponse);
	else if (strcmp(rpc, "CreateFileSystemSnapshot") == 0)
		rc = CALL(srv_rpc_create_snapshot, Coreweave__Sandbox__V1__FileSystemSnapshot);
	else if (strcmp(rpc, "GetFileSystemSnapshot") == 0)
		rc = CALL(srv_rpc_get_snapshot, Coreweave__Sandbox__V1__FileSystemSnapshot);
	else if (strcmp(rpc, "ListFileSystemSnapshots") == 0)
		rc = CALL(srv_rpc_list_snapshots, Coreweave__Sandbox__V1__ListFileSystemSnapshotsResponse);
	else if (strcmp(rpc, "DeleteFileSystemSnapshot") == 0)
		rc = CALL(srv_rpc_delete_snapshot, Coreweave__Sandbox__V1__FileSystemSnapshot);
	else if (strcmp(rpc, "Wait") == 0)
		rc = CALL(srv_rpc_wait, Coreweave__Sandbox__V1__Sandbox);
	else if (strcmp(rpc, "Forget") == 0)
		rc = CALL(srv_rpc_forget, Coreweave__Sandbox__V1__DeleteSandboxResponse);
	else if (strcmp(rpc, "GetExtensions") == 0)
		rc = srv_rpc_extensions((Sbxd__Ext__V1__GetExtensionsResponse **)&resp, &st);
	else if (strcmp(rpc, "ListImages") == 0)
		rc = srv_rpc_list_images((Sbxd__Ext__V1__ListImagesResponse **)&resp, &st);
	else if (strcmp(rpc, "Exec") == 0)
		rc = CALL(srv_rpc_exec, Coreweave__Sandbox__V1__ExecResponse);
	else if (fk != R_NONE)
		rc = srv_rpc_file(&r->call, fk, r->rpcreq, &resp, &st);
	else if (strcmp(rpc, "StartProcess") == 0)
		rc = CALL(srv_rpc_start_process, Sbxd__Ext__V1__Process);
	else if (strcmp(rpc, "ListProcesses") == 0)
		rc = CALL(srv_rpc_list_processes, Sbxd__Ext__V1__ListProcessesResponse);
	else if (strcmp(rpc, "GetProcess") == 0)
		rc = CALL(srv_rpc_get_process, Sbxd__Ext__V1__Process);
	else if (strcmp(rpc, "WriteStdin") == 0)
		rc = srv_rpc_write_stdin(&r->call, q, (const unsigned char *)(r->body ? r->body : ""), r->len,
					 (Sbxd__Ext__V1__WriteStdinResponse **)&resp, &st);
	else if (strcmp(rpc, "CloseStdin") == 0)
		rc = CALL(srv_rpc_close_stdin, Sbxd__Ext__V1__CloseStdinResponse);
	else if (strcmp(rpc, "SignalProcess") == 0)
		rc = CALL(srv_rpc_signal_process, Sbxd__Ext__V1__SignalProcessResponse);
	else if (strcmp(rpc, "WaitProcesses") == 0)
		rc = CALL(srv_rpc_wait_processes, Sbxd__Ext__V1__WaitProcessesResponse);
	else if (strcmp(rpc, "OpenOutput") == 0) {
		srv_output o;
		if (r->tcp)
			rc = srv_fail(&st, SRV_E_PRECONDITION, NULL, "openOutput is served on sbxd's unix socket only");
		else if (!upgrade_asked(con))
			rc = srv_fail(&st, SRV_E_INVALID, NULL, "openOutput needs Connection: Upgrade, Upgrade: " FD_UPGRADE);
		else if ((rc = srv_rpc_open_output(&r->call, q, &o, &st)) == SRV_RPC_OK)
			return send_fd(con, o.fd, o.size, 1, o.truncated, 0);
	} else if (strcmp(rpc, "OpenFile") == 0) {
		int fd, ro;
		int64_t size;
		if (r->tcp)
			rc = srv_fail(&st, SRV_E_PRECONDITION, NULL, "openFile is served on sbxd's unix socket only");
		else if (!upgrade_asked(con))
			rc = srv_fail(&st, SRV_E_INVALID, NULL, "openFile needs Connection: Upgrade, Upgrade: " FD_UPGRADE);
		else if ((rc = srv_rpc_open_file(&r->call, q, &fd, &size, &ro, &st)) == SRV_RPC_OK)
			return send_fd(con, fd, size, 0, 0, ro);
	} else if (!r->wr->resp) {
		/* "output": raw bytes by offset. */
		srv_output o;
		rc = srv_rpc_read_output(&r->call, q, output_stream(rpc), &o, &st);
		if (rc == SRV_RPC_OK)
			return send_raw(con, o.fd, NULL, o.offset, o.n, o.size, o.eof, o.truncated);
	} else
		rc = srv_rpc_unimplemented(rpc, &st);
#undef CALL
	if (rc == SRV_RPC_WAIT) {
		MHD_suspend_connection(con);
		return MHD_YES;
	}
	if (rc != SRV_RPC_OK)
		return send_st(con, &st);
	if (fk == R_READ_FILE_RANGE && ((const Sbxd__Ext__V1__ReadFileRangeRequest *)q)->raw) {
		/* The raw form: the bytes as the body, size and end in headers
		 * (as output reads give), no base64 on the data path. */
		const Sbxd__Ext__V1__ReadFileRangeResponse *rr = (const void *)resp;
		const Sbxd__Ext__V1__ReadFileRangeRequest *rq = q;
		enum MHD_Result res = send_raw(con, -1, rr->content.data, rq->offset, (int64_t)rr->content.len, rr->size,
					       rr->eof, 0);
		wire_message_free(resp);
		return res;
	}
	return send_pb(con, 200, resp, pb_answer(con, r));
}

/* ------------------------------------------------------------- dispatch */

static enum MHD_Result dispatch(struct MHD_Connection *con, req *r, const char *method)
{
	enum MHD_Result res = MHD_YES;
	if (r->routed < 0)
		return send_error(con, SRV_E_NO_ROUTE, NULL, NULL, "no such call: %s", method);
	if (r->too_big)
		return send_error(con, big_body_kind(r), NULL, NULL, "request body over the %zu byte cap", r->limit);
	if (r->over_budget)
		return send_error(con, SRV_E_UNAVAILABLE, NULL, NULL,
				  "sbxd holds %lld MiB of request bodies at once already: try again",
				  (long long)(BODY_BUDGET >> 20));
	pthread_mutex_lock(&srv_lock);
	/* Everything gets 503 while sbxd stops, parked long-polls too, but a
	 * running Exec: srv_rpc_exec answers it (and frees its record). */
	if (srv_core_stopping() && !r->call.uid) {
		res = send_error(con, SRV_E_UNAVAILABLE, NULL, NULL, "sbxd is shutting down");
		goto out;
	}
	res = r->wr ? h_rpc(con, r) : send_error(con, SRV_E_NO_ROUTE, NULL, NULL, "no such call");
out:
	pthread_mutex_unlock(&srv_lock);
	return res;
}

/* The real surface first (wire_routes), then the extension's table.
 * Without the extension (sbxd --no-extension) its paths are unmatched
 * paths. */
static void route(req *r, const char *method, const char *url)
{
	size_t plen = strlen(url);
	r->routed = 1;
	if (!(r->path = strdup(url))) {
		r->routed = -1;
		return;
	}
	r->wr = wire_route_match(method, r->path, plen, r->vars, &r->nvars);
	if (!r->wr && extension_on)
		r->wr = wire_route_match_in(wire_ext_routes, wire_n_ext_routes, method, r->path, plen, r->vars,
					    &r->nvars);
	if (!r->wr)
		r->routed = -1;
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
			return send_error(con, SRV_E_UNAUTHENTICATED, NULL, NULL,
					  "missing or wrong bearer token");
		/* Unix: the peer's uid (on_connection). TCP keeps 0, root:
		 * the token holder is the operator. */
		if (!r->tcp) {
			const union MHD_ConnectionInfo *ci =
				MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
			uintptr_t v = ci ? (uintptr_t)ci->socket_context : 0;
			if (!v)
				return send_error(con, SRV_E_INTERNAL, NULL, NULL,
						  "cannot tell which user is connected (SO_PEERCRED failed)");
			r->peer = (uint32_t)(v - 1);
		}
		if (r->uri_bad)
			return bad_input(con, &r->uri_err);
		route(r, method, url);
		r->limit = body_cap(r);
		const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
		int64_t n;
		if (cl && srv_parse_int(cl, 0, INT64_MAX, &n) == 0 && (uint64_t)n > r->limit) {
			r->too_big = 1;
			return dispatch(con, r, method);
		}
		if (cl && srv_parse_int(cl, 0, INT64_MAX, &n) == 0)
			r->want = (size_t)n;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (r->too_big || r->over_budget || r->len + n > r->limit) {
			if (!r->over_budget)
				r->too_big = 1;
			return MHD_YES;
		}
		if (r->len + n + 1 > r->cap) {
			/* The announced length at once: no chain of copies (and
			 * no freed buffers on the way) for a large write. */
			size_t nc = r->cap ? r->cap : r->want >= r->len + n ? r->want + 1 : 4096;
			while (nc < r->len + n + 1)
				nc *= 2;
			if (nc > r->limit + 1)
				nc = r->limit + 1; /* len + n <= limit: it fits */
			int64_t grow = (int64_t)(nc - r->cap);
			if (__atomic_add_fetch(&body_bytes, grow, __ATOMIC_SEQ_CST) > BODY_BUDGET) {
				__atomic_sub_fetch(&body_bytes, grow, __ATOMIC_SEQ_CST);
				r->over_budget = 1;
				free(r->body);
				__atomic_sub_fetch(&body_bytes, (int64_t)r->cap, __ATOMIC_SEQ_CST);
				r->body = NULL;
				r->len = r->cap = 0;
				return MHD_YES;
			}
			char *nb = realloc(r->body, nc);
			if (!nb) {
				__atomic_sub_fetch(&body_bytes, grow, __ATOMIC_SEQ_CST);
				return MHD_NO;
			}
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
	srv_rpc_exec_abandon(&r->call);
	pthread_mutex_unlock(&srv_lock);
	if (r->borrowed) {
		Sbxd__Ext__V1__WriteFileAtRequest *w = (void *)r->rpcreq;
		w->content.data = NULL;
		w->content.len = 0;
	}
	wire_message_free(r->rpcreq);
	free(r->path);
	free(r->body);
	__atomic_sub_fetch(&body_bytes, (int64_t)r->cap, __ATOMIC_SEQ_CST);
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
	int tcp = cls != NULL;
	/* Upgrade (openOutput's descriptor) only where SCM_RIGHTS can go. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_TURBO | (tcp ? 0 : MHD_ALLOW_UPGRADE);
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
