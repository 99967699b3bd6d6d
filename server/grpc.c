/*
 * The gRPC front end (grpc.h; design in docs/internals/grpc.md). libgrpc
 * (the C core) owns HTTP/2, h2c and TLS, HPACK, framing, trailers and
 * flow control; this file maps a method path to an operation of rpc.h /
 * rpc_exec.h / rpc_files.h / rpc_stream.h, decodes and encodes the
 * binary messages with protobuf-c, and turns a srv_status into the
 * grpc-status / grpc-message / grpc-status-details-bin trailers (the
 * google.rpc.Status of rpc.c's srv_status_to_pb).
 *
 * Threads: one dispatcher thread waits on the server's completion queue
 * for new calls and gives each its own thread (a capped number) and its
 * own pluck queue, so a call is written as straight-line code: start a
 * batch, pluck its tag. A waiting operation parks the call's srv_waiter;
 * its resume hook signals a condition variable the call's thread waits
 * on with srv_lock (srv_wake runs under srv_lock). StreamExec adds a
 * reader thread (stdin, close, resize from the client) beside the call's
 * thread, which writes output. Only one message is ever in flight per
 * call, and the C core completes a send only once all but its write
 * buffer (64 KiB) went out within the peer's window: a slow reader holds
 * sbxd to one chunk per stream, the rest stays in the spool files.
 *
 * The unix socket is accepted here (SO_PEERCRED per connection) and each
 * connection handed to the core with grpc_server_add_channel_from_fd; its
 * calls report the peer "fd:N", which maps back to the uid noted at
 * accept (the fd stays open while any call of the connection lives).
 */
#include "grpc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "core.h"
#include "pbcheck.h"
#include "rpc.h"
#include "rpc_exec.h"
#include "rpc_files.h"
#include "rpc_stream.h"
#include "timestamp.pb-c.h"

#define SERVICE "/coreweave.sandbox.v1.SandboxService/"
#define MAX_CALLS 1024          /* calls served at once; more: RESOURCE_EXHAUSTED */
#define PENDING 16              /* calls requested from the core ahead */
#define CHUNK (128 << 10)       /* output bytes per message */
#define MAX_MSG (48 << 20)      /* a request: WriteFile's 32 MiB + room */
#define MAX_FDS 65536           /* unix peers by fd number */
#define GRPC_MEMORY_QUOTA ((size_t)256 << 20) /* the transport's buffers, all calls */
#define TICK_MS 200             /* a parked call looks for cancellation */
#define LOOKAHEAD (1 << 20)     /* a stream's receive window (see srv_grpc_start) */
#define KEEPALIVE_MIN_MS 1000   /* the shortest ping interval allowed a client */

enum { TAG_RECV = 1, TAG_SEND, TAG_CLOSE, TAG_STATUS };

static grpc_server *server;
static grpc_completion_queue *server_cq;
static pthread_t dispatcher, acceptor;
static int have_dispatcher, have_acceptor;
static int unix_listen = -1;
static char *tcp_token;
static int live_calls;                 /* under calls_lock */
static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t calls_cond = PTHREAD_COND_INITIALIZER;
/* Read by the dispatcher, the acceptor and every call's thread while
 * srv_grpc_stop sets it: an atomic flag (a volatile int is a data race). */
static int stopping_flag;

static int stopping(void)
{
	return __atomic_load_n(&stopping_flag, __ATOMIC_ACQUIRE);
}
/* uid + 1 of the unix peer on fd N; 0: not a unix connection of ours. */
static uint32_t *peer_uid;
static pthread_mutex_t peer_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct gcall {
	grpc_call *call;
	grpc_completion_queue *cq;
	grpc_call_details det;
	grpc_metadata_array md;
	int requested;                 /* a request_call slot, not yet a call */
	int cancelled, closed;         /* RECV_CLOSE_ON_SERVER: result, done */
	int sent_md;                   /* initial metadata went out */
	int status_sent;               /* the call's status went out */
	uint32_t peer;
	srv_waiter w;
	srv_call c;
	pthread_cond_t cond;           /* with srv_lock */
	int woken;
	pthread_cond_t rcond;          /* StreamExec's reader: room in the pipe */
	int room;
	int gone;                      /* reader saw the call break */
	int writer_done;               /* StreamExec: the writer owns TAG_CLOSE now */
	srv_stream x;
	int init_twice;
} gcall;

/* --------------------------------------------------------- batch helpers */

static int run(gcall *g, const grpc_op *ops, size_t n, intptr_t tag)
{
	if (grpc_call_start_batch(g->call, ops, n, (void *)tag, NULL) != GRPC_CALL_OK)
		return -1;
	grpc_event ev = grpc_completion_queue_pluck(g->cq, (void *)tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	return ev.type == GRPC_OP_COMPLETE && ev.success ? 0 : -1;
}

/* The client went away (cancel, reset, deadline)? A look without waiting. */
static int call_gone(gcall *g)
{
	if (!g->closed) {
		grpc_event ev = grpc_completion_queue_pluck(g->cq, (void *)(intptr_t)TAG_CLOSE,
							    gpr_time_0(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			g->closed = 1;
	}
	return g->gone || (g->closed && g->cancelled) || stopping();
}

/* One message from the client: 0 with *m (NULL: the client half-closed),
 * -1 the call broke, -2 not a message of type d. */
static int recv_msg(gcall *g, const ProtobufCMessageDescriptor *d, ProtobufCMessage **m)
{
	grpc_byte_buffer *bb = NULL;
	grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
	op.data.recv_message.recv_message = &bb;
	*m = NULL;
	if (run(g, &op, 1, TAG_RECV) != 0)
		return -1;
	if (!bb)
		return 0;
	grpc_byte_buffer_reader rd;
	if (!grpc_byte_buffer_reader_init(&rd, bb)) {
		grpc_byte_buffer_destroy(bb);
		return -2;
	}
	grpc_slice sl = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	grpc_byte_buffer_destroy(bb);
	*m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
	grpc_slice_unref(sl);
	/* proto3 strings are UTF-8; protobuf-c does not check (pbcheck.h) */
	if (*m && !srv_pb_utf8_valid(*m)) {
		protobuf_c_message_free_unpacked(*m, NULL);
		*m = NULL;
	}
	return *m ? 0 : -2;
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice sl = grpc_slice_malloc(n);
	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(sl));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	return bb;
}

/* A message to the client (with the initial metadata the first time);
 * with_status: the OK status too, in the same batch. */
static int send_msg(gcall *g, const ProtobufCMessage *m, int with_status)
{
	grpc_op ops[3];
	size_t n = 0;
	memset(ops, 0, sizeof ops);
	if (!g->sent_md) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		g->sent_md = 1;
	}
	grpc_byte_buffer *bb = pack(m);
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = bb;
	if (with_status) {
		ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[n++].data.send_status_from_server.status = GRPC_STATUS_OK;
	}
	int rc = run(g, ops, n, TAG_SEND);
	grpc_byte_buffer_destroy(bb);
	if (with_status)
		g->status_sent = 1;
	return rc;
}

/* The end of the call: OK (st NULL) or the error with its trailers. */
static void send_status(gcall *g, const srv_status *st)
{
	grpc_op ops[2];
	size_t n = 0;
	memset(ops, 0, sizeof ops);
	if (!g->sent_md) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		g->sent_md = 1;
	}
	grpc_metadata md;
	grpc_slice msg = grpc_empty_slice();
	int have_md = 0;
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
	if (st && st->code) {
		ops[n].data.send_status_from_server.status = (grpc_status_code)st->code;
		msg = grpc_slice_from_copied_string(st->msg);
		ops[n].data.send_status_from_server.status_details = &msg;
		Google__Rpc__Status *pb = srv_status_to_pb(st);
		if (pb) {
			size_t len = protobuf_c_message_get_packed_size(&pb->base);
			grpc_slice v = grpc_slice_malloc(len);
			protobuf_c_message_pack(&pb->base, GRPC_SLICE_START_PTR(v));
			wire_message_free(&pb->base);
			memset(&md, 0, sizeof md);
			md.key = grpc_slice_from_static_string("grpc-status-details-bin");
			md.value = v;
			have_md = 1;
			ops[n].data.send_status_from_server.trailing_metadata_count = 1;
			ops[n].data.send_status_from_server.trailing_metadata = &md;
		}
	}
	n++;
	run(g, ops, n, TAG_STATUS);
	g->status_sent = 1;
	grpc_slice_unref(msg);
	if (have_md)
		grpc_slice_unref(md.value);
}

static void fail_status(gcall *g, srv_err kind, const char *msg)
{
	srv_status st;
	srv_fail(&st, kind, NULL, "%s", msg);
	send_status(g, &st);
}

/* ------------------------------------------------------------ waiting */

static void on_resume(void *con)
{
	gcall *g = con;
	g->woken = 1;
	pthread_cond_signal(&g->cond);
}

/* StreamExec's reader, held by a full pipe: the pipe took bytes (or
 * closed). srv_lock held. */
static void on_room(void *con)
{
	gcall *g = con;
	g->room = 1;
	pthread_cond_signal(&g->rcond);
}

/* The wall-clock time MS (< 1000) from now, for pthread_cond_timedwait
 * on this file's default-clock conditions. */
static struct timespec ms_from_now(long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += ms * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* With srv_lock: until the pipe took bytes or a tick passed (1: the
 * caller tries again, a spurious turn is harmless) or the stream is
 * over (0). The tick also covers a queue that could not grow (no
 * memory), which no pipe event would end. */
static int room_wait(gcall *g)
{
	if (!g->room && !g->writer_done && !call_gone(g)) {
		struct timespec ts = ms_from_now(TICK_MS);
		pthread_cond_timedwait(&g->rcond, &srv_lock, &ts);
	}
	g->room = 0;
	return !g->writer_done && !call_gone(g);
}

/* With srv_lock: until the parked waiter is woken (1) or the call is
 * gone (0; the waiters are then still parked: the caller unparks). */
static int park_wait(gcall *g)
{
	/* Gone is looked at on every turn: wake-ups of a busy sandbox (its
	 * other calls) may come faster than the tick. */
	while (!call_gone(g) || g->woken) {
		if (g->woken) {
			g->woken = 0;
			return 1;
		}
		struct timespec ts = ms_from_now(TICK_MS);
		pthread_cond_timedwait(&g->cond, &srv_lock, &ts);
	}
	return 0;
}

/* -------------------------------------------------------------- unary */

typedef int (*unary_fn)(srv_call *c, const ProtobufCMessage *req, ProtobufCMessage **resp, srv_status *st);

#define ADAPT(name, fn, Req, Resp)                                                                     \
	static int name(srv_call *c, const ProtobufCMessage *q, ProtobufCMessage **r, srv_status *st)  \
	{                                                                                               \
		Resp *out = NULL;                                                                       \
		int rc = fn(c, (const Req *)q, &out, st);                                               \
		*r = out ? &out->base : NULL;                                                           \
		return rc;                                                                              \
	}

#define PB(x) Coreweave__Sandbox__V1__##x
ADAPT(u_create, srv_rpc_create, PB(CreateSandboxRequest), PB(Sandbox))
ADAPT(u_get, srv_rpc_get, PB(GetSandboxRequest), PB(Sandbox))
ADAPT(u_list, srv_rpc_list, PB(ListSandboxesRequest), PB(ListSandboxesResponse))
ADAPT(u_delete, srv_rpc_delete, PB(DeleteSandboxRequest), PB(DeleteSandboxResponse))
ADAPT(u_purge, srv_rpc_purge, PB(PurgeSandboxesRequest), PB(PurgeSandboxesResponse))
ADAPT(u_exec, srv_rpc_exec, PB(ExecRequest), PB(ExecResponse))
ADAPT(u_read_file, srv_rpc_read_file, PB(ReadFileRequest), PB(ReadFileResponse))
ADAPT(u_write_file, srv_rpc_write_file, PB(WriteFileRequest), PB(WriteFileResponse))
ADAPT(u_create_snap, srv_rpc_create_snapshot, PB(CreateFileSystemSnapshotRequest), PB(FileSystemSnapshot))
ADAPT(u_get_snap, srv_rpc_get_snapshot, PB(GetFileSystemSnapshotRequest), PB(FileSystemSnapshot))
ADAPT(u_list_snaps, srv_rpc_list_snapshots, PB(ListFileSystemSnapshotsRequest), PB(ListFileSystemSnapshotsResponse))
ADAPT(u_delete_snap, srv_rpc_delete_snapshot, PB(DeleteFileSystemSnapshotRequest), PB(FileSystemSnapshot))

enum { K_UNARY, K_STREAM_EXEC, K_STREAM_LOGS, K_UNIMPLEMENTED };

static const struct method {
	const char *name;
	int kind;
	const ProtobufCMessageDescriptor *req;
	unary_fn fn;
} methods[] = {
	{"CreateSandbox", K_UNARY, &coreweave__sandbox__v1__create_sandbox_request__descriptor, u_create},
	{"CreateSandboxFromTemplate", K_UNIMPLEMENTED, NULL, NULL},
	{"GetSandbox", K_UNARY, &coreweave__sandbox__v1__get_sandbox_request__descriptor, u_get},
	{"ListSandboxes", K_UNARY, &coreweave__sandbox__v1__list_sandboxes_request__descriptor, u_list},
	{"DeleteSandbox", K_UNARY, &coreweave__sandbox__v1__delete_sandbox_request__descriptor, u_delete},
	{"PurgeSandboxes", K_UNARY, &coreweave__sandbox__v1__purge_sandboxes_request__descriptor, u_purge},
	{"Exec", K_UNARY, &coreweave__sandbox__v1__exec_request__descriptor, u_exec},
	{"StreamExec", K_STREAM_EXEC, &coreweave__sandbox__v1__exec_stream_request__descriptor, NULL},
	{"StreamLogs", K_STREAM_LOGS, &coreweave__sandbox__v1__stream_logs_request__descriptor, NULL},
	{"WriteFile", K_UNARY, &coreweave__sandbox__v1__write_file_request__descriptor, u_write_file},
	{"ReadFile", K_UNARY, &coreweave__sandbox__v1__read_file_request__descriptor, u_read_file},
	{"CreateFileSystemSnapshot", K_UNARY, &coreweave__sandbox__v1__create_file_system_snapshot_request__descriptor,
	 u_create_snap},
	{"GetFileSystemSnapshot", K_UNARY, &coreweave__sandbox__v1__get_file_system_snapshot_request__descriptor,
	 u_get_snap},
	{"ListFileSystemSnapshots", K_UNARY, &coreweave__sandbox__v1__list_file_system_snapshots_request__descriptor,
	 u_list_snaps},
	{"DeleteFileSystemSnapshot", K_UNARY, &coreweave__sandbox__v1__delete_file_system_snapshot_request__descriptor,
	 u_delete_snap},
};

static void bad_message(gcall *g, const char *what)
{
	srv_status st;
	srv_fail(&st, SRV_E_INVALID, NULL, "the request is not a valid %s message", what);
	send_status(g, &st);
}

static void serve_unary(gcall *g, const struct method *m)
{
	ProtobufCMessage *req = NULL, *resp = NULL;
	int rc = recv_msg(g, m->req, &req);
	if (rc == -1)
		return;
	if (rc == -2 || !req) {
		bad_message(g, m->req->name);
		return;
	}
	srv_status st;
	memset(&st, 0, sizeof st);
	pthread_mutex_lock(&srv_lock);
	rc = m->fn(&g->c, req, &resp, &st);
	while (rc == SRV_RPC_WAIT) {
		if (!park_wait(g)) {
			srv_waiter_remove(&g->w);
			if (m->fn == u_exec)
				srv_rpc_exec_abandon(&g->c);
			break;
		}
		rc = m->fn(&g->c, req, &resp, &st);
	}
	pthread_mutex_unlock(&srv_lock);
	wire_message_free(req);
	if (rc == SRV_RPC_WAIT)
		return; /* the caller is gone */
	if (rc == SRV_RPC_OK && resp)
		send_msg(g, resp, 1);
	else
		send_status(g, &st);
	wire_message_free(resp);
}

/* ---------------------------------------------------------- streaming */

static int64_t now_ns(void)
{
	return srv_now_ns();
}

static void set_time(Google__Protobuf__Timestamp *t, int64_t ns)
{
	google__protobuf__timestamp__init(t);
	t->seconds = ns / 1000000000;
	t->nanos = (int32_t)(ns % 1000000000);
}

/* Sends chunks as the peer takes them, until the end; 0 done, -1 the call
 * went away or failed (status sent when it could). */
static int pump(gcall *g, int logs)
{
	unsigned char *buf = malloc(CHUNK);
	if (!buf) {
		fail_status(g, SRV_E_INTERNAL, "out of memory");
		return -1;
	}
	for (;;) {
		srv_status st;
		int stream = 0, done = 0, code = 0;
		size_t n = 0;
		pthread_mutex_lock(&srv_lock);
		int rc;
		for (;;) {
			rc = srv_rpc_stream_next(&g->c, &g->x, buf, CHUNK, &stream, &n, &done, &code, &st);
			if (rc != SRV_RPC_WAIT)
				break;
			if (!park_wait(g)) {
				srv_rpc_stream_abandon(&g->c, &g->x);
				pthread_mutex_unlock(&srv_lock);
				free(buf);
				return -1;
			}
		}
		if (rc == SRV_RPC_OK && !done && g->init_twice)
			rc = srv_fail(&st, SRV_E_INVALID, "init", "init may come only once, first");
		if (rc != SRV_RPC_OK)
			srv_rpc_stream_abandon(&g->c, &g->x);
		pthread_mutex_unlock(&srv_lock);
		if (rc != SRV_RPC_OK) {
			free(buf);
			send_status(g, &st);
			return -1;
		}
		if (done) {
			free(buf);
			if (logs) {
				send_status(g, NULL);
				return 0;
			}
			PB(ExecStreamResponse) r = COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__INIT;
			PB(ExecStreamExit) ex = COREWEAVE__SANDBOX__V1__EXEC_STREAM_EXIT__INIT;
			Google__Protobuf__Timestamp t;
			set_time(&t, now_ns());
			ex.exit_code = code;
			ex.completed_time = &t;
			r.message_case = COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__MESSAGE_EXIT;
			r.exit = &ex;
			return send_msg(g, &r.base, 1);
		}
		int sent;
		if (logs) {
			PB(LogEntry) e = COREWEAVE__SANDBOX__V1__LOG_ENTRY__INIT;
			e.data.data = buf;
			e.data.len = n;
			e.next_log_offset = (uint64_t)(g->x.off[1] + g->x.off[2]);
			sent = send_msg(g, &e.base, 0);
		} else {
			PB(ExecStreamResponse) r = COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__INIT;
			PB(ExecStreamOutput) o = COREWEAVE__SANDBOX__V1__EXEC_STREAM_OUTPUT__INIT;
			o.stream = stream == 2 ? COREWEAVE__SANDBOX__V1__EXEC_STREAM_OUTPUT__STREAM__STREAM_STDERR
					       : COREWEAVE__SANDBOX__V1__EXEC_STREAM_OUTPUT__STREAM__STREAM_STDOUT;
			o.data.data = buf;
			o.data.len = n;
			r.message_case = COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__MESSAGE_OUTPUT;
			r.output = &o;
			sent = send_msg(g, &r.base, 0);
		}
		if (sent != 0) {
			pthread_mutex_lock(&srv_lock);
			srv_rpc_stream_abandon(&g->c, &g->x);
			pthread_mutex_unlock(&srv_lock);
			free(buf);
			return -1;
		}
	}
}

/* StreamExec's reader: stdin, close and resize from the client. The
 * process's exit ends the call from the writer's side. */
static void *reader_main(void *arg)
{
	gcall *g = arg;
	for (;;) {
		ProtobufCMessage *m = NULL;
		int rc = recv_msg(g, &coreweave__sandbox__v1__exec_stream_request__descriptor, &m);
		srv_status st;
		pthread_mutex_lock(&srv_lock);
		if (rc != 0) {
			/* The call broke (or sent junk): the writer ends it. */
			if (rc == -2)
				g->init_twice = 1;
			else
				g->gone = 1;
			pthread_cond_signal(&g->cond);
			pthread_mutex_unlock(&srv_lock);
			break;
		}
		PB(ExecStreamRequest) *r = (PB(ExecStreamRequest) *)m;
		if (!r || r->message_case == COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__MESSAGE_CLOSE) {
			/* Close, or the half-close: EOF on stdin. */
			srv_rpc_stream_close(&g->c, &g->x, &st);
			pthread_mutex_unlock(&srv_lock);
			wire_message_free(m);
			if (!r)
				break;
			continue;
		}
		if (r->message_case == COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__MESSAGE_STDIN) {
			/* A full pipe holds the reader (so the client's window
			 * closes) until the process drains it: sbxd holds this
			 * message and a small queue, never more. */
			size_t off = 0, took;
			while (off < r->stdin.len) {
				int sr = srv_rpc_stream_stdin(&g->c, &g->x, r->stdin.data + off, r->stdin.len - off,
							      &took, on_room, g, &st);
				off += took;
				if (sr == SRV_RPC_FAIL || (sr == SRV_RPC_FULL && !room_wait(g)))
					break;
			}
			srv_rpc_stream_stdin_unwait(&g->c, &g->x, g);
		} else if (r->message_case == COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__MESSAGE_INIT) {
			g->init_twice = 1;
			pthread_cond_signal(&g->cond);
		}
		/* resize: no terminal (tty is refused at init), nothing to size. */
		pthread_mutex_unlock(&srv_lock);
		wire_message_free(m);
		if (g->init_twice)
			break;
	}
	return NULL;
}

static void serve_stream_exec(gcall *g)
{
	ProtobufCMessage *m = NULL;
	int rc = recv_msg(g, &coreweave__sandbox__v1__exec_stream_request__descriptor, &m);
	if (rc == -1)
		return;
	PB(ExecStreamRequest) *r = (PB(ExecStreamRequest) *)m;
	if (rc == -2 || !r || r->message_case != COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__MESSAGE_INIT) {
		wire_message_free(m);
		srv_status st;
		srv_fail(&st, SRV_E_INVALID, "init", "the first message of StreamExec must be init");
		send_status(g, &st);
		return;
	}
	srv_status st;
	pthread_mutex_lock(&srv_lock);
	rc = srv_rpc_stream_exec_start(&g->c, r->init, &g->x, &st);
	pthread_mutex_unlock(&srv_lock);
	wire_message_free(m);
	if (rc != SRV_RPC_OK) {
		send_status(g, &st);
		return;
	}
	PB(ExecStreamResponse) ready = COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__INIT;
	PB(ExecStreamReady) rd = COREWEAVE__SANDBOX__V1__EXEC_STREAM_READY__INIT;
	Google__Protobuf__Timestamp t;
	set_time(&t, now_ns());
	rd.ready_time = &t;
	ready.message_case = COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__MESSAGE_READY;
	ready.ready = &rd;
	pthread_t rt;
	int have_reader = 0;
	if (send_msg(g, &ready.base, 0) == 0) {
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 << 10);
		have_reader = pthread_create(&rt, &a, reader_main, g) == 0;
		pthread_attr_destroy(&a);
		if (have_reader)
			pump(g, 0);
	}
	if (!have_reader) {
		pthread_mutex_lock(&srv_lock);
		srv_rpc_stream_abandon(&g->c, &g->x);
		pthread_mutex_unlock(&srv_lock);
		return;
	}
	/* The status went out (or the call broke): the reader's pending
	 * receive ends when the call closes; cancel it if the client keeps
	 * its half open. From here only this thread plucks TAG_CLOSE. */
	pthread_mutex_lock(&srv_lock);
	g->writer_done = 1;
	pthread_cond_signal(&g->rcond); /* a reader held by a full pipe */
	pthread_mutex_unlock(&srv_lock);
	if (!g->closed) {
		grpc_event ev = grpc_completion_queue_pluck(
			g->cq, (void *)(intptr_t)TAG_CLOSE,
			gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(2000, GPR_TIMESPAN)), NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			g->closed = 1;
		else
			grpc_call_cancel(g->call, NULL);
	}
	pthread_join(rt, NULL);
}

static void serve_stream_logs(gcall *g)
{
	ProtobufCMessage *m = NULL;
	int rc = recv_msg(g, &coreweave__sandbox__v1__stream_logs_request__descriptor, &m);
	if (rc == -1)
		return;
	if (rc == -2 || !m) {
		bad_message(g, "coreweave.sandbox.v1.StreamLogsRequest");
		return;
	}
	srv_status st;
	pthread_mutex_lock(&srv_lock);
	rc = srv_rpc_stream_logs_start(&g->c, (const PB(StreamLogsRequest) *)m, &g->x, &st);
	pthread_mutex_unlock(&srv_lock);
	wire_message_free(m);
	if (rc != SRV_RPC_OK) {
		send_status(g, &st);
		return;
	}
	pump(g, 1);
}

/* -------------------------------------------------------------- calls */

static int slice_is(grpc_slice s, const char *lit)
{
	return grpc_slice_str_cmp(s, lit) == 0;
}

/* Constant time in the token's length, as REST's check. */
static int token_ok(grpc_slice v, size_t skip)
{
	if (!tcp_token)
		return 0;
	size_t a = GRPC_SLICE_LENGTH(v), b = strlen(tcp_token);
	if (a < skip)
		return 0;
	const unsigned char *p = GRPC_SLICE_START_PTR(v) + skip;
	a -= skip;
	unsigned diff = a != b;
	for (size_t i = 0; i < b; i++)
		diff |= (unsigned char)(tcp_token[i] ^ (i < a ? p[i] : 0));
	return diff == 0 && b > 0;
}

static int authorized(const gcall *g)
{
	for (size_t i = 0; i < g->md.count; i++) {
		const grpc_metadata *e = &g->md.metadata[i];
		if (slice_is(e->key, "authorization")) {
			const char *v = (const char *)GRPC_SLICE_START_PTR(e->value);
			if (GRPC_SLICE_LENGTH(e->value) > 7 && strncasecmp(v, "Bearer ", 7) == 0 && token_ok(e->value, 7))
				return 1;
		} else if (slice_is(e->key, "x-wandb-api-key") && token_ok(e->value, 0)) {
			return 1;
		}
	}
	return 0;
}

/* The unix peer's uid from "fd:N" (1: found), else a TCP caller. */
static int unix_peer(gcall *g, uint32_t *uid)
{
	char *peer = grpc_call_get_peer(g->call);
	int found = 0;
	if (peer && strncmp(peer, "fd:", 3) == 0) {
		char *end = NULL;
		long fd = strtol(peer + 3, &end, 10);
		if (end && *end == '\0' && fd >= 0 && fd < MAX_FDS) {
			pthread_mutex_lock(&peer_lock);
			uint32_t v = peer_uid ? peer_uid[fd] : 0;
			pthread_mutex_unlock(&peer_lock);
			if (v) {
				*uid = v - 1;
				found = 1;
			}
		}
	}
	gpr_free(peer);
	return found;
}

static void serve(gcall *g)
{
	grpc_op close_op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
	close_op.data.recv_close_on_server.cancelled = &g->cancelled;
	if (grpc_call_start_batch(g->call, &close_op, 1, (void *)(intptr_t)TAG_CLOSE, NULL) != GRPC_CALL_OK)
		g->closed = 1;
	uint32_t uid = 0;
	if (!unix_peer(g, &uid) && !authorized(g)) {
		fail_status(g, SRV_E_UNAUTHENTICATED, "missing or wrong bearer token");
		return;
	}
	g->peer = uid;
	g->w.con = g;
	g->w.resume = on_resume;
	srv_call_init(&g->c, g->peer, &g->w);
	const struct method *m = NULL;
	size_t plen = strlen(SERVICE), mlen = GRPC_SLICE_LENGTH(g->det.method);
	const char *path = (const char *)GRPC_SLICE_START_PTR(g->det.method);
	if (mlen > plen && memcmp(path, SERVICE, plen) == 0)
		for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
			if (strlen(methods[i].name) == mlen - plen && memcmp(methods[i].name, path + plen, mlen - plen) == 0)
				m = &methods[i];
	if (!m) {
		/* Not of SandboxService: gRPC's own answer, no details. */
		srv_status st;
		memset(&st, 0, sizeof st);
		st.code = GRPC_STATUS_UNIMPLEMENTED;
		snprintf(st.msg, sizeof st.msg, "unknown method %.*s", (int)(mlen > 200 ? 200 : mlen), path);
		send_status(g, &st);
		return;
	}
	if (srv_core_stopping()) {
		fail_status(g, SRV_E_UNAVAILABLE, "sbxd is stopping");
		return;
	}
	switch (m->kind) {
	case K_UNARY: serve_unary(g, m); break;
	case K_STREAM_EXEC: serve_stream_exec(g); break;
	case K_STREAM_LOGS: serve_stream_logs(g); break;
	default: {
		srv_status st;
		srv_rpc_unimplemented(m->name, &st);
		send_status(g, &st);
	}
	}
}

static void gcall_free(gcall *g)
{
	if (g->call) {
		/* Ended without a status (the client went away, or sbxd
		 * stops): cancel, so the close below completes. */
		if (!g->status_sent)
			grpc_call_cancel(g->call, NULL);
		if (!g->closed)
			grpc_completion_queue_pluck(g->cq, (void *)(intptr_t)TAG_CLOSE,
						    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		grpc_call_unref(g->call);
	}
	grpc_call_details_destroy(&g->det);
	grpc_metadata_array_destroy(&g->md);
	if (g->cq) {
		grpc_completion_queue_shutdown(g->cq);
		grpc_completion_queue_destroy(g->cq);
	}
	pthread_cond_destroy(&g->cond);
	pthread_cond_destroy(&g->rcond);
	free(g);
}

static void *call_main(void *arg)
{
	gcall *g = arg;
	serve(g);
	gcall_free(g);
	pthread_mutex_lock(&calls_lock);
	live_calls--;
	pthread_cond_broadcast(&calls_cond);
	pthread_mutex_unlock(&calls_lock);
	return NULL;
}

/* Asks the core for one more call (its slot comes back on server_cq). */
static int request_one(void)
{
	gcall *g = calloc(1, sizeof *g);
	if (!g)
		return -1;
	pthread_cond_init(&g->cond, NULL);
	pthread_cond_init(&g->rcond, NULL);
	grpc_call_details_init(&g->det);
	grpc_metadata_array_init(&g->md);
	g->cq = grpc_completion_queue_create_for_pluck(NULL);
	g->requested = 1;
	if (!g->cq || grpc_server_request_call(server, &g->call, &g->det, &g->md, g->cq, server_cq, g) != GRPC_CALL_OK) {
		g->call = NULL;
		gcall_free(g);
		return -1;
	}
	return 0;
}

static void *dispatch_main(void *arg)
{
	(void)arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(server_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE || !ev.tag || ev.tag == (void *)&server)
			continue;
		gcall *g = ev.tag;
		if (!ev.success || stopping()) {
			gcall_free(g);
			continue;
		}
		if (!stopping())
			request_one();
		pthread_mutex_lock(&calls_lock);
		int room = live_calls < MAX_CALLS;
		if (room)
			live_calls++;
		pthread_mutex_unlock(&calls_lock);
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 << 10);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (room && pthread_create(&t, &a, call_main, g) == 0) {
			pthread_attr_destroy(&a);
			continue;
		}
		pthread_attr_destroy(&a);
		if (room) {
			pthread_mutex_lock(&calls_lock);
			live_calls--;
			pthread_mutex_unlock(&calls_lock);
		}
		srv_status st;
		srv_fail(&st, SRV_E_CAPACITY, NULL, "%s", "sbxd serves too many gRPC calls at once");
		g->closed = 1; /* no close op was started */
		send_status(g, &st);
		gcall_free(g);
	}
	return NULL;
}

/* The unix socket: accept, note the peer's uid, hand over to the core. */
static void *accept_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept4(unix_listen, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (stopping())
				break;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				usleep(100000);
				continue;
			}
			break;
		}
		if (stopping()) {
			close(fd);
			break;
		}
		struct ucred cr;
		socklen_t len = sizeof cr;
		if (fd >= MAX_FDS || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof cr) {
			/* Who it is cannot be told: no service. */
			close(fd);
			continue;
		}
		pthread_mutex_lock(&peer_lock);
		peer_uid[fd] = (uint32_t)cr.uid + 1;
		pthread_mutex_unlock(&peer_lock);
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		grpc_server_credentials *ic = grpc_insecure_server_credentials_create();
		grpc_server_add_channel_from_fd(server, fd, ic);
		grpc_server_credentials_release(ic);
	}
	return NULL;
}

static char *slurp(const char *path, char *err, const char *what)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, SRV_MSGLEN, "cannot read the %s %.180s: %s", what, path, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 20, n = 0;
	char *b = malloc(cap + 1);
	if (b)
		n = fread(b, 1, cap, f);
	fclose(f);
	if (!b || n == 0 || n == cap) {
		free(b);
		snprintf(err, SRV_MSGLEN, "the %s %.180s is empty or over 1 MiB", what, path);
		return NULL;
	}
	b[n] = '\0';
	return b;
}

int srv_grpc_start(const srv_grpc_config *cfg, char *err)
{
	unix_listen = cfg->unix_fd;
	grpc_init();
	/* What a client may have on its way to sbxd per stream, unread by
	 * sbxd: a fixed window (LOOKAHEAD), not the one BDP probing grows
	 * to the link's bandwidth-delay product (about 4 MiB a stream on
	 * loopback, more on fast links), so a StreamExec whose process does
	 * not read its stdin holds its client back after a bounded amount.
	 * A message being received still gets the window it needs, in
	 * more round trips (docs/internals/grpc.md). Keepalive: a client may
	 * ping a call that sends nothing (a quiet command's stream) every
	 * KEEPALIVE_MIN_MS, not only every 5 minutes (gRPC's default; more
	 * often costs a strike, two a GOAWAY): libsbx's keepalive= pings
	 * to tell a hung service from a quiet command. */
	static const struct { const char *key; int value; } ia[] = {
		{GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, MAX_MSG},
		{GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, MAX_MSG},
		{GRPC_ARG_HTTP2_BDP_PROBE, 0},
		{GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, LOOKAHEAD},
		{GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, KEEPALIVE_MIN_MS},
	};
	enum { NIA = sizeof ia / sizeof ia[0] };
	grpc_arg args[NIA + 1];
	memset(args, 0, sizeof args);
	for (size_t i = 0; i < NIA; i++) {
		args[i].type = GRPC_ARG_INTEGER;
		args[i].key = (char *)ia[i].key;
		args[i].value.integer = ia[i].value;
	}
	/* What the transport holds of messages still coming in, over every
	 * connection: without it, 8 calls each one byte short of a 40 MiB
	 * message held 347 MB of sbxd (1024 calls of 48 MiB: 48 GiB). Under
	 * the quota's pressure libgrpc announces smaller windows. */
	grpc_resource_quota *quota = grpc_resource_quota_create("sbxd");
	grpc_resource_quota_resize(quota, GRPC_MEMORY_QUOTA);
	args[NIA].type = GRPC_ARG_POINTER;
	args[NIA].key = (char *)GRPC_ARG_RESOURCE_QUOTA;
	args[NIA].value.pointer.p = quota;
	args[NIA].value.pointer.vtable = grpc_resource_quota_arg_vtable();
	grpc_channel_args ca = {NIA + 1, args};
	server = grpc_server_create(&ca, NULL);
	grpc_resource_quota_unref(quota); /* the server holds its own ref */
	server_cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(server, server_cq, NULL);
	if (cfg->listen) {
		grpc_server_credentials *sc;
		if (cfg->cert) {
			char *cert = slurp(cfg->cert, err, "certificate");
			char *key = cert ? slurp(cfg->key, err, "key") : NULL;
			if (!key) {
				free(cert);
				return -1;
			}
			grpc_ssl_pem_key_cert_pair kp = {key, cert};
			sc = grpc_ssl_server_credentials_create(NULL, &kp, 1, 0, NULL);
			explicit_bzero(key, strlen(key));
			free(key);
			free(cert);
		} else {
			sc = grpc_insecure_server_credentials_create();
		}
		int port = sc ? grpc_server_add_http2_port(server, cfg->listen, sc) : 0;
		if (sc)
			grpc_server_credentials_release(sc);
		if (port <= 0) {
			snprintf(err, SRV_MSGLEN, "cannot serve gRPC on %.180s%s", cfg->listen,
				 cfg->cert ? " (bad certificate or key?)" : "");
			return -1;
		}
		tcp_token = strdup(cfg->token ? cfg->token : "");
		if (!tcp_token) {
			snprintf(err, SRV_MSGLEN, "out of memory");
			return -1;
		}
	}
	/* Before any thread that serves calls starts (unix_peer reads it;
	 * TSan saw the dispatcher's call threads race this assignment). */
	if (unix_listen >= 0 && !(peer_uid = calloc(MAX_FDS, sizeof *peer_uid))) {
		snprintf(err, SRV_MSGLEN, "out of memory");
		return -1;
	}
	grpc_server_start(server);
	for (int i = 0; i < PENDING; i++)
		if (request_one() != 0) {
			snprintf(err, SRV_MSGLEN, "cannot start the gRPC server");
			return -1;
		}
	if (pthread_create(&dispatcher, NULL, dispatch_main, NULL) != 0) {
		snprintf(err, SRV_MSGLEN, "cannot start the gRPC dispatcher");
		return -1;
	}
	have_dispatcher = 1;
	if (unix_listen >= 0) {
		if (pthread_create(&acceptor, NULL, accept_main, NULL) != 0) {
			snprintf(err, SRV_MSGLEN, "cannot start the gRPC unix socket");
			return -1;
		}
		have_acceptor = 1;
	}
	return 0;
}

void srv_grpc_stop(void)
{
	if (!server)
		return;
	__atomic_store_n(&stopping_flag, 1, __ATOMIC_RELEASE);
	if (have_acceptor) {
		shutdown(unix_listen, SHUT_RDWR);
		pthread_join(acceptor, NULL);
		have_acceptor = 0;
	}
	if (unix_listen >= 0)
		close(unix_listen);
	unix_listen = -1;
	/* No new calls; the parked ones were woken by srv_core_quiesce and
	 * answer UNAVAILABLE with their details. Those still running after
	 * a second are cancelled; after 10 s sbxd stops without them. */
	grpc_server_shutdown_and_notify(server, server_cq, (void *)&server);
	pthread_mutex_lock(&calls_lock);
	int64_t t0 = srv_mono_ns();
	int cancelled = 0;
	while (live_calls > 0 && srv_mono_ns() - t0 < 10000000000LL) {
		if (!cancelled && srv_mono_ns() - t0 > 1000000000LL) {
			grpc_server_cancel_all_calls(server);
			cancelled = 1;
		}
		struct timespec ts = ms_from_now(100);
		pthread_cond_timedwait(&calls_cond, &calls_lock, &ts);
	}
	int left = live_calls;
	pthread_mutex_unlock(&calls_lock);
	grpc_completion_queue_shutdown(server_cq);
	if (have_dispatcher)
		pthread_join(dispatcher, NULL);
	have_dispatcher = 0;
	if (left) {
		/* A call thread still runs: leave the core's objects to exit. */
		fprintf(stderr, "sbxd: warning: %d gRPC calls did not end\n", left);
		return;
	}
	grpc_server_destroy(server);
	grpc_completion_queue_destroy(server_cq);
	server = NULL;
	grpc_shutdown();
	if (tcp_token) {
		explicit_bzero(tcp_token, strlen(tcp_token));
		free(tcp_token);
	}
	tcp_token = NULL;
	pthread_mutex_lock(&peer_lock);
	free(peer_uid);
	peer_uid = NULL;
	pthread_mutex_unlock(&peer_lock);
}
