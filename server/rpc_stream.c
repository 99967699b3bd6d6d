/*
 * StreamExec and StreamLogs as operations (rpc_stream.h): built from the
 * process calls of rpc_exec.c (start with stdin, signal, read output by
 * offset) and core.h's stdin queue, so the gRPC front end holds no
 * sandbox logic. Output is never copied into memory beyond the one chunk
 * the caller asked for: the spools are the buffer.
 */
#include "rpc_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc_exec.h"
#include "stdin.h"

/* What a park falls back to when a spool cannot be watched (no spool
 * yet, inotify out of watches): a look every 100 ms. */
#define POLL_NS 100000000
/* The most of a StreamExec's stdin sbxd queues for a pipe that does not
 * take it (beyond the message in hand): small, so a process that does
 * not read holds its client back through HTTP/2 flow control instead of
 * filling sbxd's memory; big enough that a reading process is fed
 * between two wake-ups. (The extension's WriteStdin queues up to 4 MiB
 * and answers 429 above: its client resends.) */
#define STREAM_STDIN_HELD ((size_t)128 << 10)

static srv_sbx *sandbox_of(srv_call *c, const srv_stream *x, srv_status *st)
{
	return srv_rpc_sandbox(c, x->sandbox_id, st);
}

int srv_rpc_stream_exec_start(srv_call *c, const Coreweave__Sandbox__V1__ExecStreamInit *init, srv_stream *x,
                              srv_status *st)
{
	memset(x, 0, sizeof *x);
	if (!init->sandbox_id || !*init->sandbox_id)
		return srv_fail(st, SRV_E_INVALID, "init.sandboxId", "init.sandboxId is required");
	if (strlen(init->sandbox_id) >= sizeof x->sandbox_id) {
		srv_fail(st, SRV_E_SANDBOX_NOT_FOUND, NULL, "sandbox %.128s not found", init->sandbox_id);
		return SRV_RPC_FAIL;
	}
	if (init->tty)
		return srv_fail(st, SRV_E_UNSUPPORTED, "init.tty",
				"init.tty: sbxd runs commands without a terminal (pipes only)");
	srv_sbx *s = srv_rpc_sandbox(c, init->sandbox_id, st);
	if (!s || srv_rpc_container(s, init->container, "init.container", st) != 0)
		return SRV_RPC_FAIL;
	/* The same start as the "processes" extension's, with a stdin pipe:
	 * its argument checks, refusals and record. */
	Sbxd__Ext__V1__StartProcessRequest req;
	sbxd__ext__v1__start_process_request__init(&req);
	req.sandbox_id = init->sandbox_id;
	req.command = init->command;
	req.n_command = init->n_command;
	req.stdin = 1;
	Sbxd__Ext__V1__StartProcessRequest__EnvEntry *ents = NULL, **envp = NULL;
	if (init->n_env) {
		ents = calloc(init->n_env, sizeof *ents);
		envp = calloc(init->n_env, sizeof *envp);
		if (!ents || !envp) {
			free(ents);
			free(envp);
			return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
		}
		for (size_t i = 0; i < init->n_env; i++) {
			sbxd__ext__v1__start_process_request__env_entry__init(&ents[i]);
			ents[i].key = init->env[i]->key;
			ents[i].value = init->env[i]->value;
			envp[i] = &ents[i];
		}
	}
	req.env = envp;
	req.n_env = init->n_env;
	Sbxd__Ext__V1__Process *p = NULL;
	int rc = srv_rpc_start_process(c, &req, &p, st);
	free(ents);
	free(envp);
	if (rc != SRV_RPC_OK) {
		/* Its field paths are the extension's: name the init's. */
		if (strcmp(st->field, "command") == 0 || strcmp(st->field, "env") == 0) {
			char f[SRV_FIELDLEN + 8];
			snprintf(f, sizeof f, "init.%s", st->field);
			snprintf(st->field, sizeof st->field, "%.*s", (int)sizeof st->field - 1, f);
		}
		return SRV_RPC_FAIL;
	}
	snprintf(x->sandbox_id, sizeof x->sandbox_id, "%s", init->sandbox_id);
	x->proc = p->process_id;
	x->exec = 1;
	x->follow = 1;
	x->turn = 1;
	wire_message_free(&p->base);
	return SRV_RPC_OK;
}

int srv_rpc_stream_logs_start(srv_call *c, const Coreweave__Sandbox__V1__StreamLogsRequest *req, srv_stream *x,
                              srv_status *st)
{
	memset(x, 0, sizeof *x);
	if (!req->sandbox_id || !*req->sandbox_id)
		return srv_fail(st, SRV_E_INVALID, "sandboxId", "sandboxId is required");
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	if (!s || srv_rpc_container(s, req->container, "container", st) != 0)
		return SRV_RPC_FAIL;
	if (strlen(req->sandbox_id) >= sizeof x->sandbox_id)
		return srv_fail(st, SRV_E_INVALID, "sandboxId", "sandboxId too long");
	/* What sbxd's spools cannot tell: they hold bytes, not lines with
	 * times, and a log session is the stream itself. */
	if (req->tail_lines)
		return srv_fail(st, SRV_E_UNSUPPORTED, "tailLines", "tailLines: sbxd streams the whole log");
	if (req->since_time)
		return srv_fail(st, SRV_E_UNSUPPORTED, "sinceTime", "sinceTime: sbxd keeps no times per line");
	if (req->timestamps)
		return srv_fail(st, SRV_E_UNSUPPORTED, "timestamps", "timestamps: sbxd keeps no times per line");
	if ((req->resume_log_session_id && *req->resume_log_session_id) || req->resume_log_offset)
		return srv_fail(st, SRV_E_UNSUPPORTED, "resumeLogSessionId", "resuming a log session is not supported");
	snprintf(x->sandbox_id, sizeof x->sandbox_id, "%s", req->sandbox_id);
	x->proc = 0;
	x->follow = req->follow;
	x->turn = 1;
	return SRV_RPC_OK;
}

void srv_rpc_stream_unpark(srv_call *c, srv_stream *x)
{
	srv_waiter_remove(c->w);
	srv_waiter_remove(&x->w2);
}

/* One stream's bytes from x->off: >0 read, 0 nothing (x->eof updated),
 * -1 failed (st set). */
static int read_one(srv_call *c, srv_stream *x, int stream, unsigned char *buf, size_t cap, srv_status *st)
{
	Sbxd__Ext__V1__ReadOutputRequest req;
	sbxd__ext__v1__read_output_request__init(&req);
	req.sandbox_id = x->sandbox_id;
	req.process_id = x->proc;
	req.offset = x->off[stream];
	req.length = (int64_t)cap;
	srv_output out;
	c->deadline_set = 1; /* never park inside: this stream parks itself */
	c->deadline = 0;
	if (srv_rpc_read_output(c, &req, stream, &out, st) != SRV_RPC_OK)
		return -1;
	ssize_t got = 0;
	if (out.n > 0) {
		got = pread(out.fd, buf, (size_t)out.n, out.offset);
		if (got < 0)
			got = 0;
		x->off[stream] += got;
	}
	if (out.fd >= 0)
		close(out.fd);
	if (got == 0 && out.eof)
		x->eof[stream] = 1;
	return (int)got;
}

/* Bytes still unread in a spool (a look after the watches are set). */
static int has_more(srv_sbx *s, const srv_stream *x, int stream)
{
	int fd = srv_spool_open(s, x->proc, stream);
	struct stat sb;
	int more = fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > x->off[stream];
	if (fd >= 0)
		close(fd);
	return more;
}

int srv_rpc_stream_next(srv_call *c, srv_stream *x, unsigned char *buf, size_t cap, int *stream, size_t *n,
                        int *done, int *exit_code, srv_status *st)
{
	*n = 0;
	*done = 0;
	*stream = 0;
	int looks = 0;
again:
	srv_rpc_stream_unpark(c, x);
	for (int k = 0; k < 2; k++) {
		int sn = k == 0 ? x->turn : 3 - x->turn;
		if (x->eof[sn])
			continue;
		int got = read_one(c, x, sn, buf, cap, st);
		if (got < 0)
			return SRV_RPC_FAIL;
		if (got > 0) {
			*stream = sn;
			*n = (size_t)got;
			x->turn = 3 - sn;
			return SRV_RPC_OK;
		}
	}
	srv_sbx *s = sandbox_of(c, x, st);
	if (!s)
		return SRV_RPC_FAIL;
	srv_proc *p = x->proc ? srv_proc_get(s, x->proc) : NULL;
	if (x->eof[1] && x->eof[2]) {
		/* Both streams ended; a process that closed them may still run:
		 * its exit wakes the sandbox's waiters. */
		if (!x->exec) {
			*done = 1;
			return SRV_RPC_OK;
		}
		if (p && p->state == PS_RUNNING && !srv_core_stopping()) {
			c->w->seq = s->seq;
			c->w->deadline = 0;
			srv_waiter_add(c->w);
			return SRV_RPC_WAIT;
		}
		*done = 1;
		*exit_code = !p ? 0 : p->sig ? 128 + p->sig : p->exit_code;
		return SRV_RPC_OK;
	}
	if (!x->follow) {
		*done = 1;
		return SRV_RPC_OK;
	}
	if (srv_core_stopping())
		return srv_fail(st, SRV_E_UNAVAILABLE, NULL, "sbxd is stopping");
	/* Park: watch the spools still open, then look once more, so a
	 * write between the read above and the watch is not missed. */
	int unwatched = 0;
	srv_waiter *ws[3] = {NULL, c->w, &x->w2};
	for (int sn = 1; sn <= 2; sn++) {
		ws[sn]->seq = s->seq;
		ws[sn]->deadline = 0;
		ws[sn]->con = c->w->con;
		ws[sn]->resume = c->w->resume;
		if (!x->eof[sn] && srv_waiter_watch(ws[sn], s, x->proc, sn) != 0)
			unwatched = 1;
	}
	if ((!x->eof[1] && has_more(s, x, 1)) || (!x->eof[2] && has_more(s, x, 2)) ||
	    srv_stream_ended(s, x->proc)) {
		/* It grew (or ended) meanwhile: read again (the watches go).
		 * A spool that keeps changing is read, so this ends. */
		if (++looks < 8)
			goto again;
		unwatched = 1;
	}
	if (unwatched)
		c->w->deadline = srv_mono_ns() + POLL_NS;
	srv_waiter_add(c->w);
	srv_waiter_add(&x->w2);
	return SRV_RPC_WAIT;
}

int srv_rpc_stream_stdin(srv_call *c, srv_stream *x, const unsigned char *data, size_t len, size_t *taken,
                         void (*room)(void *), void *arg, srv_status *st)
{
	*taken = 0;
	srv_sbx *s = sandbox_of(c, x, st);
	if (!s)
		return SRV_RPC_FAIL;
	srv_proc *p = srv_proc_get(s, x->proc);
	if (!p || p->state != PS_RUNNING || p->stdin_closed || p->stdin_fd < 0 || len == 0) {
		*taken = len;
		return SRV_RPC_OK;
	}
	size_t n = len < STREAM_STDIN_HELD ? len : STREAM_STDIN_HELD;
	if (srv_stdin_pending(p) >= STREAM_STDIN_HELD || srv_stdin_write(s, p, data, n) != 0) {
		/* Told when the pipe takes bytes: the caller waits for that,
		 * reading no more of the client's messages meanwhile. */
		p->stdin_room = room;
		p->stdin_room_arg = arg;
		return SRV_RPC_FULL;
	}
	*taken = n;
	return SRV_RPC_OK;
}

void srv_rpc_stream_stdin_unwait(srv_call *c, srv_stream *x, void *arg)
{
	srv_status st;
	srv_sbx *s = x->proc ? srv_rpc_sandbox(c, x->sandbox_id, &st) : NULL;
	srv_proc *p = s ? srv_proc_get(s, x->proc) : NULL;
	if (p && p->stdin_room_arg == arg) {
		p->stdin_room = NULL;
		p->stdin_room_arg = NULL;
	}
}

int srv_rpc_stream_close(srv_call *c, srv_stream *x, srv_status *st)
{
	srv_sbx *s = sandbox_of(c, x, st);
	if (!s)
		return SRV_RPC_FAIL;
	srv_proc *p = srv_proc_get(s, x->proc);
	if (p && p->state == PS_RUNNING && !p->stdin_closed)
		srv_stdin_close(s, p);
	return SRV_RPC_OK;
}

void srv_rpc_stream_abandon(srv_call *c, srv_stream *x)
{
	srv_rpc_stream_unpark(c, x);
	if (!x->exec || !x->proc)
		return;
	srv_status st;
	srv_sbx *s = sandbox_of(c, x, &st);
	srv_proc *p = s ? srv_proc_get(s, x->proc) : NULL;
	if (!p || p->state != PS_RUNNING)
		return;
	Sbxd__Ext__V1__SignalProcessRequest req;
	sbxd__ext__v1__signal_process_request__init(&req);
	req.sandbox_id = x->sandbox_id;
	req.process_id = x->proc;
	req.signal = 9;
	Sbxd__Ext__V1__SignalProcessResponse *resp = NULL;
	if (srv_rpc_signal_process(c, &req, &resp, &st) == SRV_RPC_OK)
		wire_message_free(&resp->base);
}
