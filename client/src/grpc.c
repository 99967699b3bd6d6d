/*
 * StreamExec over gRPC for libsbx (see grpc.h), on the gRPC C core
 * (libgrpc 1.51, the library sbxd serves with, docs/internals/grpc.md):
 * HTTP/2, h2c, TLS, framing, flow control and trailers are its code, the
 * messages are protobuf-c's from wire/'s generated descriptors. Used by
 * proc.c only for processes on a service without sbxd's extension.
 *
 * Each stream has its own pluck completion queue. At most two threads use
 * it at once (below GRPC_MAX_COMPLETION_QUEUE_PLUCKERS): the reader, which
 * keeps one RECV_MESSAGE in flight, and one writer under send_mu, which
 * keeps at most one SEND_MESSAGE in flight: a send completes only once the
 * peer's window took it, so stdin is bounded by one message (1 MiB).
 */
#include "grpc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "config.h"
#include "error.h"
#include "pb.h"
#include "sandbox.pb-c.h"
#include "spec.h"
#include "util.h"

#define GRPC_MAX_STDIN ((size_t)1 << 20)
#define GRPC_MAX_MSG (64 << 20)
#define GRPC_CA_MAX ((size_t)1 << 20)
#define GRPC_METHOD "/coreweave.sandbox.v1.SandboxService/StreamExec"
#define GRPC_LOGS "/coreweave.sandbox.v1.SandboxService/StreamLogs"

struct sbx_gstream {
	grpc_call *call;
	grpc_completion_queue *cq;
	pthread_mutex_t send_mu;
	int send_pending;            /* a SEND_MESSAGE not yet plucked */
	grpc_byte_buffer *send_bb;   /* its buffer, freed once plucked */
	int recv_status_done;
	int ended;                   /* the status was read */
	grpc_metadata_array init_md, trail_md;
	grpc_status_code status;
	grpc_slice details;
	char md_key[64], *md_val;
	grpc_metadata md[1];
	size_t nmd;
	/* tags: addresses of these */
	char tag_init, tag_status, tag_recv, tag_send;
	/* TLS channel: a failed handshake is told as such (the client's
	 * config outlives its streams) */
	int tls;
	const char *ca_file, *url;
};

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;

static void grpc_boot(void)
{
	/* Never shut down: libgrpc's own threads may serve several clients
	 * over the process's life. */
	grpc_init();
}

const char *sbx_grpc_target(const sbx_config *cfg, char *buf, size_t cap)
{
	const char *u = cfg->grpc_url;
	if (u && strcmp(u, "none") == 0)
		return NULL;
	if (!u) {
		/* sbxd's default gRPC socket is the REST socket + ".grpc"
		 * (sbxd.8); the managed service serves both on one endpoint. */
		if (cfg->unix_path) {
			int n = snprintf(buf, cap, "unix:%s.grpc", cfg->unix_path);
			return n > 0 && (size_t)n < cap ? buf : NULL;
		}
		u = cfg->url;
	}
	if (!u)
		return NULL;
	if (strncmp(u, "unix:", 5) == 0) {
		const char *p = u + 5;
		if (strncmp(p, "//", 2) == 0)
			p += 2;
		int n = snprintf(buf, cap, "unix:%s", p);
		return n > 0 && (size_t)n < cap ? buf : NULL;
	}
	const char *h = strstr(u, "://");
	if (!h)
		return NULL;
	h += 3;
	size_t n = strcspn(h, "/");
	if (n == 0 || n >= cap)
		return NULL;
	memcpy(buf, h, n);
	buf[n] = '\0';
	/* gRPC needs a port: the scheme's own when none is given. */
	if (!strchr(buf, ':')) {
		const char *port = strncmp(u, "https", 5) == 0 ? ":443" : ":80";
		size_t pl = strlen(port) + 1;
		if (n + pl > cap)
			return NULL;
		memcpy(buf + n, port, pl);
	}
	return buf;
}

static int is_tls(const sbx_config *cfg)
{
	const char *u = cfg->grpc_url ? cfg->grpc_url : (cfg->unix_path ? NULL : cfg->url);
	return u && strncmp(u, "https://", 8) == 0;
}

static char *read_ca(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *b = malloc(GRPC_CA_MAX + 1);
	size_t n = 0;
	ssize_t k;
	while (b && n < GRPC_CA_MAX && (k = read(fd, b + n, GRPC_CA_MAX - n)) > 0)
		n += (size_t)k;
	close(fd);
	if (b)
		b[n] = '\0';
	return b;
}

static gpr_timespec deadline(long wait_ms)
{
	if (wait_ms < 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(wait_ms, GPR_TIMESPAN));
}

static sbx_result channel(sbx_client *c, grpc_channel **out, sbx_error *err)
{
	pthread_once(&grpc_once, grpc_boot);
	pthread_mutex_lock(&c->grpc_mu);
	if (!c->grpc_ch) {
		char tbuf[4200];
		const char *t = sbx_grpc_target(c->cfg, tbuf, sizeof tbuf);
		if (!t) {
			pthread_mutex_unlock(&c->grpc_mu);
			return sbx_fail(err, SBX_E_UNSUPPORTED, "no gRPC address (grpc=none)");
		}
		grpc_channel_credentials *cr;
		if (is_tls(c->cfg)) {
			char *ca = c->cfg->ca_file ? read_ca(c->cfg->ca_file) : NULL;
			cr = grpc_ssl_credentials_create(ca, NULL, NULL, NULL);
			free(ca);
		} else {
			cr = grpc_insecure_credentials_create();
		}
		/* Keepalive: a stream waiting for a quiet command gets
		 * nothing from a hung service either; a ping unanswered
		 * within the total deadline ends the connection, so its
		 * streams fail (UNAVAILABLE) instead of waiting for ever.
		 * Pings go while calls are open, also when no data moves
		 * (the default stops after 2 such pings). */
		long ka = c->cfg->grpc_keepalive_ms;
		long kt = c->cfg->total_ms;
		const struct { const char *key; long value; } ia[] = {
			{GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, GRPC_MAX_MSG},
			{GRPC_ARG_KEEPALIVE_TIME_MS, ka > 0 && ka <= INT_MAX ? ka : INT_MAX},
			{GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kt > 0 && kt <= INT_MAX ? kt : 20000},
			{GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0},
			{GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS, ka > 0 && ka <= INT_MAX ? ka : INT_MAX},
		};
		grpc_arg a[sizeof ia / sizeof ia[0]];
		memset(a, 0, sizeof a);
		size_t na = ka > 0 ? sizeof ia / sizeof ia[0] : 1;
		for (size_t i = 0; i < na; i++) {
			a[i].type = GRPC_ARG_INTEGER;
			a[i].key = (char *)ia[i].key;
			a[i].value.integer = (int)ia[i].value;
		}
		grpc_channel_args args = {.num_args = na, .args = a};
		c->grpc_ch = grpc_channel_create(t, cr, &args);
		grpc_channel_credentials_release(cr);
	}
	*out = c->grpc_ch;
	pthread_mutex_unlock(&c->grpc_mu);
	return *out ? SBX_OK : sbx_fail(err, SBX_E_INTERNAL, "cannot make a gRPC channel");
}

sbx_result sbx_grpc_reachable(sbx_client *c, long wait_ms, sbx_error *err)
{
	grpc_channel *ch;
	sbx_result res;
	if ((res = channel(c, &ch, err)) != SBX_OK)
		return res;
	gpr_timespec end = deadline(wait_ms);
	grpc_completion_queue *cq = NULL;
	grpc_connectivity_state s = grpc_channel_check_connectivity_state(ch, 1);
	while (s != GRPC_CHANNEL_READY && s != GRPC_CHANNEL_TRANSIENT_FAILURE && s != GRPC_CHANNEL_SHUTDOWN) {
		if (!cq)
			cq = grpc_completion_queue_create_for_pluck(NULL);
		char tag;
		grpc_channel_watch_connectivity_state(ch, s, end, cq, &tag);
		grpc_event ev = grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		grpc_connectivity_state n = grpc_channel_check_connectivity_state(ch, 0);
		if (!ev.success && n == s)
			break; /* the deadline passed */
		s = n;
	}
	if (cq) {
		grpc_completion_queue_shutdown(cq);
		grpc_completion_queue_destroy(cq);
	}
	if (s == GRPC_CHANNEL_READY)
		return SBX_OK;
	return sbx_fail(err, SBX_E_UNAVAILABLE, "no gRPC service answers at %s",
	                c->cfg->grpc_url ? c->cfg->grpc_url : "the default address");
}

void sbx_grpc_client_free(sbx_client *c)
{
	if (c->grpc_ch)
		grpc_channel_destroy(c->grpc_ch);
	c->grpc_ch = NULL;
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

/* 1: completed (ok says whether it succeeded), 0: the wait ended. */
static int pluck(sbx_gstream *g, void *tag, long wait_ms, int *ok)
{
	grpc_event ev = grpc_completion_queue_pluck(g->cq, tag, deadline(wait_ms), NULL);
	if (ev.type != GRPC_OP_COMPLETE)
		return 0;
	*ok = ev.success;
	return 1;
}

/* The auth header line "Name: value" as gRPC metadata (lowercase key). */
static void set_auth(sbx_gstream *g, const sbx_config *cfg)
{
	const char *h = cfg->auth_header;
	const char *colon = h ? strchr(h, ':') : NULL;
	if (!colon || (size_t)(colon - h) >= sizeof g->md_key)
		return;
	size_t k = (size_t)(colon - h);
	for (size_t i = 0; i < k; i++)
		g->md_key[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] + 32 : h[i]);
	g->md_key[k] = '\0';
	const char *v = colon + 1;
	while (*v == ' ')
		v++;
	if (!(g->md_val = strdup(v)))
		return;
	g->md[0].key = grpc_slice_from_static_string(g->md_key);
	g->md[0].value = grpc_slice_from_static_string(g->md_val);
	g->nmd = 1;
}

static void gs_free(sbx_gstream *g)
{
	if (!g)
		return;
	if (g->call) {
		if (!g->ended)
			grpc_call_cancel(g->call, NULL);
		/* Every batch must complete before the queue goes. */
		int ok;
		if (g->send_pending)
			pluck(g, &g->tag_send, -1, &ok);
		if (!g->recv_status_done)
			pluck(g, &g->tag_status, -1, &ok);
		grpc_call_unref(g->call);
	}
	if (g->send_bb)
		grpc_byte_buffer_destroy(g->send_bb);
	if (g->cq) {
		grpc_completion_queue_shutdown(g->cq);
		grpc_completion_queue_destroy(g->cq);
	}
	grpc_metadata_array_destroy(&g->init_md);
	grpc_metadata_array_destroy(&g->trail_md);
	grpc_slice_unref(g->details);
	if (g->md_val) {
		memset(g->md_val, 0, strlen(g->md_val));
		free(g->md_val);
	}
	pthread_mutex_destroy(&g->send_mu);
	free(g);
}

/* Starts the call of g (calloc'd) with its first message bb (taken),
 * and with half_close the client's end of sending too. g is freed on
 * failure. */
static sbx_result call_open(sbx_client *c, grpc_channel *ch, const char *method, sbx_gstream *g,
                            grpc_byte_buffer *bb, int half_close, sbx_error *err)
{
	pthread_mutex_init(&g->send_mu, NULL);
	grpc_metadata_array_init(&g->init_md);
	grpc_metadata_array_init(&g->trail_md);
	g->details = grpc_empty_slice();
	g->recv_status_done = 1;
	set_auth(g, c->cfg);
	g->tls = is_tls(c->cfg);
	g->ca_file = c->cfg->ca_file;
	g->url = c->cfg->grpc_url ? c->cfg->grpc_url : c->cfg->url;
	g->cq = grpc_completion_queue_create_for_pluck(NULL);
	/* The stream lasts as long as its command: no deadline on the call,
	 * each step below waits for its own. */
	g->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq,
	                                   grpc_slice_from_static_string(method), NULL,
	                                   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (!g->call) {
		grpc_byte_buffer_destroy(bb);
		gs_free(g);
		return sbx_fail(err, SBX_E_INTERNAL, "cannot make a gRPC call");
	}
	grpc_op ops[4];
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = g->nmd;
	ops[0].data.send_initial_metadata.metadata = g->md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[2].data.recv_initial_metadata.recv_initial_metadata = &g->init_md;
	ops[3].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	grpc_op st;
	memset(&st, 0, sizeof st);
	st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	st.data.recv_status_on_client.trailing_metadata = &g->trail_md;
	st.data.recv_status_on_client.status = &g->status;
	st.data.recv_status_on_client.status_details = &g->details;
	int ok = 0;
	if (grpc_call_start_batch(g->call, &st, 1, &g->tag_status, NULL) == GRPC_CALL_OK)
		g->recv_status_done = 0;
	/* The init batch is the first send: it is the pending one, plucked
	 * by the first reader or writer. */
	g->send_bb = bb;
	if (g->recv_status_done || grpc_call_start_batch(g->call, ops, half_close ? 4 : 3, &g->tag_send, NULL) != GRPC_CALL_OK) {
		gs_free(g);
		return sbx_fail(err, SBX_E_INTERNAL, "cannot start a gRPC call");
	}
	g->send_pending = 1;
	(void)ok;
	return SBX_OK;
}


sbx_result sbx_grpc_exec_open(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, sbx_gstream **out,
                              sbx_error *err)
{
	grpc_channel *ch;
	sbx_result res;
	*out = NULL;
	if ((res = channel(c, &ch, err)) != SBX_OK)
		return res;
	/* The ExecRequest's argv (with the cwd wrapper) and env, moved
	 * into an init message: the same conversion as unary Exec. */
	sbx_exec_pb p;
	if ((res = sbx_exec_req_to_pb(r, sandbox_id, 0, &p, err)) != SBX_OK)
		return res;
	Coreweave__Sandbox__V1__ExecStreamInit in = COREWEAVE__SANDBOX__V1__EXEC_STREAM_INIT__INIT;
	in.sandbox_id = (char *)sandbox_id;
	in.n_command = p.req.n_command;
	in.command = p.req.command;
	/* ExecRequest.EnvEntry and ExecStreamInit.EnvEntry are the same
	 * shape (key 1, value 2): the init gets entries of its own type. */
	Coreweave__Sandbox__V1__ExecStreamInit__EnvEntry *ev = calloc(p.req.n_env ? p.req.n_env : 1, sizeof *ev);
	Coreweave__Sandbox__V1__ExecStreamInit__EnvEntry **evp = calloc(p.req.n_env ? p.req.n_env : 1, sizeof *evp);
	sbx_gstream *g = calloc(1, sizeof *g);
	if (!ev || !evp || !g) {
		free(ev);
		free(evp);
		free(g);
		sbx_exec_pb_free(&p);
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < p.req.n_env; i++) {
		coreweave__sandbox__v1__exec_stream_init__env_entry__init(&ev[i]);
		ev[i].key = p.req.env[i]->key;
		ev[i].value = p.req.env[i]->value;
		evp[i] = &ev[i];
	}
	in.n_env = p.req.n_env;
	in.env = evp;
	Coreweave__Sandbox__V1__ExecStreamRequest rq = COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__INIT;
	rq.message_case = COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__MESSAGE_INIT;
	rq.init = &in;
	grpc_byte_buffer *bb = pack(&rq.base);
	free(ev);
	free(evp);
	sbx_exec_pb_free(&p);

	sbx_result rc = call_open(c, ch, GRPC_METHOD, g, bb, 0, err);
	if (rc == SBX_OK)
		*out = g;
	return rc;
}

/* The call's final status as a result; err gets the Status details
 * (grpcmsg.c decodes them). */
static sbx_result status_result(sbx_gstream *g, sbx_error *err)
{
	if (g->status == GRPC_STATUS_OK)
		return SBX_OK;
	const void *bin = NULL;
	size_t blen = 0;
	for (size_t i = 0; i < g->trail_md.count && !bin; i++) {
		grpc_metadata *m = &g->trail_md.metadata[i];
		if (!grpc_slice_str_cmp(m->key, "grpc-status-details-bin")) {
			bin = GRPC_SLICE_START_PTR(m->value);
			blen = GRPC_SLICE_LENGTH(m->value);
		}
	}
	/* No connection because the TLS handshake failed (gRPC's details
	 * carry the SSL error): a TLS failure, not an absent service, so
	 * the caller does not fall back to another path as if no gRPC
	 * were there, and the message says where the trust comes from. */
	if (g->tls && g->status == GRPC_STATUS_UNAVAILABLE) {
		char *d = grpc_slice_to_c_string(g->details);
		int tls = d && (strstr(d, "andshake") || strstr(d, "SSL") || strstr(d, "ssl") || strstr(d, "ertificate"));
		if (tls && err) {
			sbx_error_clear(err);
			sbx_fail(err, SBX_E_TLS,
			         "TLS to the gRPC service %s failed: %s (the service's certificate must be signed by a CA of %s%s)",
			         g->url ? g->url : "", d, g->ca_file ? "the CA file " : "the system's trust store",
			         g->ca_file ? g->ca_file : " (ca_file= or SBX_CA_FILE names another)");
			err->grpc_code = (int)g->status;
		}
		gpr_free(d);
		if (tls)
			return SBX_E_TLS;
	}
	return sbx_gmsg_status((int)g->status, (const char *)GRPC_SLICE_START_PTR(g->details),
	                       GRPC_SLICE_LENGTH(g->details), bin, blen, err);
}

/* Plucks a pending send (init or stdin). 0: done or none; -1: still out. */
static int settle_send(sbx_gstream *g, long wait_ms)
{
	int ok;
	if (!g->send_pending)
		return 0;
	if (!pluck(g, &g->tag_send, wait_ms, &ok))
		return -1;
	g->send_pending = 0;
	grpc_byte_buffer_destroy(g->send_bb);
	g->send_bb = NULL;
	return 0;
}

/* The next message's bytes into *sl (caller unrefs), or *end = 1 when the
 * call ended well; a failed call is its result. */
static sbx_result next_raw(sbx_gstream *g, long wait_ms, grpc_slice *sl, int *end, sbx_error *err)
{
	*end = 0;
	for (;;) {
		if (g->ended) {
			sbx_error tmp;
			if (!err)
				err = &tmp;
			sbx_result r = status_result(g, err);
			*end = r == SBX_OK;
			return r;
		}
		grpc_byte_buffer *bb = NULL;
		grpc_op op;
		memset(&op, 0, sizeof op);
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &bb;
		if (grpc_call_start_batch(g->call, &op, 1, &g->tag_recv, NULL) != GRPC_CALL_OK)
			return sbx_fail(err, SBX_E_INTERNAL, "gRPC receive refused");
		int ok = 0;
		if (!pluck(g, &g->tag_recv, wait_ms, &ok)) {
			/* The receive stays posted: cancel to get it back, so
			 * the caller sees the wait end and the stream gone. */
			grpc_call_cancel(g->call, NULL);
			pluck(g, &g->tag_recv, -1, &ok);
			if (bb)
				grpc_byte_buffer_destroy(bb);
			return sbx_fail(err, SBX_E_TIMEOUT, "no answer from StreamExec within %ld ms", wait_ms);
		}
		if (!bb) {
			/* the end of the answers: the status follows */
			pthread_mutex_lock(&g->send_mu);
			settle_send(g, -1);
			pthread_mutex_unlock(&g->send_mu);
			if (!g->recv_status_done) {
				pluck(g, &g->tag_status, -1, &ok);
				g->recv_status_done = 1;
			}
			g->ended = 1;
			continue;
		}
		grpc_byte_buffer_reader rd;
		if (!grpc_byte_buffer_reader_init(&rd, bb)) {
			grpc_byte_buffer_destroy(bb);
			return sbx_fail(err, SBX_E_PROTOCOL, "bad gRPC message");
		}
		*sl = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		grpc_byte_buffer_destroy(bb);
		return SBX_OK;
	}
}

sbx_result sbx_grpc_exec_next(sbx_gstream *g, long wait_ms, sbx_gmsg *m, sbx_error *err)
{
	memset(m, 0, sizeof *m);
	for (;;) {
		grpc_slice sl;
		int end;
		sbx_result r0 = next_raw(g, wait_ms, &sl, &end, err);
		if (r0 != SBX_OK)
			return r0;
		if (end) {
			m->kind = SBX_GMSG_END;
			return SBX_OK;
		}
		int skip = 0;
		sbx_result res = sbx_gmsg_exec(GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl), m, &skip, err);
		grpc_slice_unref(sl);
		if (res == SBX_OK && skip)
			continue; /* a newer kind of answer: skipped */
		return res;
	}
}

static sbx_result send_req(sbx_gstream *g, const Coreweave__Sandbox__V1__ExecStreamRequest *rq, long wait_ms,
                           sbx_error *err)
{
	sbx_result res = SBX_OK;
	pthread_mutex_lock(&g->send_mu);
	if (settle_send(g, wait_ms) < 0) {
		res = sbx_fail(err, SBX_E_EXHAUSTED, "the process is not reading its stdin");
		if (err)
			err->http_status = 429;
	} else {
		grpc_byte_buffer *bb = pack(&rq->base);
		grpc_op op;
		memset(&op, 0, sizeof op);
		op.op = GRPC_OP_SEND_MESSAGE;
		op.data.send_message.send_message = bb;
		if (grpc_call_start_batch(g->call, &op, 1, &g->tag_send, NULL) != GRPC_CALL_OK) {
			grpc_byte_buffer_destroy(bb);
			res = sbx_fail(err, SBX_E_PRECONDITION, "the stream is closed");
			if (err)
				snprintf(err->reason, sizeof err->reason, "CWSANDBOX_STDIN_CLOSED");
		} else {
			/* In libgrpc's hands now; it leaves when the peer's
			 * window takes it. The next send waits for that. */
			g->send_bb = bb;
			g->send_pending = 1;
			int ok;
			if (pluck(g, &g->tag_send, wait_ms, &ok)) {
				g->send_pending = 0;
				grpc_byte_buffer_destroy(g->send_bb);
				g->send_bb = NULL;
				if (!ok) {
					res = sbx_fail(err, SBX_E_PRECONDITION, "the stream has ended");
					if (err)
						snprintf(err->reason, sizeof err->reason, "CWSANDBOX_STDIN_CLOSED");
				}
			}
		}
	}
	pthread_mutex_unlock(&g->send_mu);
	return res;
}

sbx_result sbx_grpc_exec_stdin(sbx_gstream *g, const void *data, size_t len, long wait_ms, sbx_error *err)
{
	if (len > GRPC_MAX_STDIN)
		return sbx_fail(err, SBX_E_INVALID, "stdin piece over 1 MiB");
	Coreweave__Sandbox__V1__ExecStreamRequest rq = COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__INIT;
	rq.message_case = COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__MESSAGE_STDIN;
	rq.stdin.data = (uint8_t *)data;
	rq.stdin.len = len;
	return send_req(g, &rq, wait_ms, err);
}

sbx_result sbx_grpc_exec_close(sbx_gstream *g, long wait_ms, sbx_error *err)
{
	Coreweave__Sandbox__V1__ExecStreamClose cl = COREWEAVE__SANDBOX__V1__EXEC_STREAM_CLOSE__INIT;
	Coreweave__Sandbox__V1__ExecStreamRequest rq = COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__INIT;
	rq.message_case = COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__MESSAGE_CLOSE;
	rq.close = &cl;
	return send_req(g, &rq, wait_ms, err);
}

sbx_result sbx_grpc_logs_open(sbx_client *c, const char *sandbox_id, sbx_gstream **out, sbx_error *err)
{
	grpc_channel *ch;
	sbx_result res;
	*out = NULL;
	if ((res = channel(c, &ch, err)) != SBX_OK)
		return res;
	sbx_gstream *g = calloc(1, sizeof *g);
	if (!g)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	Coreweave__Sandbox__V1__StreamLogsRequest rq = COREWEAVE__SANDBOX__V1__STREAM_LOGS_REQUEST__INIT;
	rq.sandbox_id = (char *)sandbox_id;
	rq.follow = 1;
	res = call_open(c, ch, GRPC_LOGS, g, pack(&rq.base), 1, err);
	if (res == SBX_OK)
		*out = g;
	return res;
}

sbx_result sbx_grpc_logs_next(sbx_gstream *g, sbx_gmsg *m, sbx_error *err)
{
	memset(m, 0, sizeof *m);
	grpc_slice sl;
	int end;
	sbx_result r = next_raw(g, -1, &sl, &end, err);
	if (r != SBX_OK)
		return r;
	if (end) {
		m->kind = SBX_GMSG_END;
		return SBX_OK;
	}
	r = sbx_gmsg_logs(GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl), m, err);
	grpc_slice_unref(sl);
	return r;
}

void sbx_grpc_exec_cancel(sbx_gstream *g)
{
	grpc_call_cancel(g->call, NULL);
}

void sbx_grpc_exec_free(sbx_gstream *g)
{
	gs_free(g);
}
