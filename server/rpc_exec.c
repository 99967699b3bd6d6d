/*
 * The command operations of rpc_exec.h: the real Exec (a unary exec
 * record that lives until its answer is taken) and the extension's
 * processes and output. Decisions that both front ends share live here:
 * which container a real call may name, the output caps, what a waiting
 * call keeps between its turns (srv_call), and every error's kind.
 */
#include "rpc_exec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileargs.h"
#include "procargs.h"
#include "spec.h"
#include "timestamp.pb-c.h"

srv_sbx *srv_rpc_sandbox(const srv_call *c, const char *id, srv_status *st)
{
	/* Another user's sandbox is as absent as one that never was. */
	srv_sbx *s = id && *id ? srv_find_for(id, c->peer) : NULL;
	if (!s) {
		srv_fail(st, SRV_E_SANDBOX_NOT_FOUND, NULL, "sandbox %.128s not found", id ? id : "");
		srv_status_md(st, "sandboxId", id ? id : "");
	}
	return s;
}

/* sbxd runs one container per sandbox: containers[0] of the create
 * request, kept with the spec as it was asked (spec.c). Its name into
 * buf; "" when the record has none (a sandbox of an older sbxd). */
static const char *primary_name(const srv_sbx *s, char *buf, size_t cap)
{
	Coreweave__Sandbox__V1__SandboxSpec *sp = srv_spec_to_pb(&s->spec);
	buf[0] = '\0';
	if (sp && sp->n_containers && sp->containers[0]->name)
		snprintf(buf, cap, "%s", sp->containers[0]->name);
	wire_message_free(sp ? &sp->base : NULL);
	return buf;
}

int srv_rpc_container(const srv_sbx *s, const char *container, const char *field, srv_status *st)
{
	char name[64];
	if (!container || !*container || strcmp(container, primary_name(s, name, sizeof name)) == 0)
		return 0;
	return srv_fail(st, SRV_E_INVALID, field, "container %.64s: sandbox %s has one container, \"%s\"", container,
			s->id, name);
}

static void refused(srv_status *st, const srv_refusal *w)
{
	srv_fail(st, w->kind, w->field, "%s", w->msg);
	if (w->retry_ms > 0)
		st->retry_ms = w->retry_ms;
	srv_status_md(st, "state", w->state);
}

/* Registers c's waiter on s (until deadline, 0 = until woken). */
static int park(srv_call *c, srv_sbx *s, int64_t deadline)
{
	c->w->seq = s->seq;
	c->w->deadline = deadline;
	srv_waiter_add(c->w);
	return SRV_RPC_WAIT;
}

/* The deadline of a long-poll, set once per call from waitSeconds. */
static int deadline_of(srv_call *c, int32_t wait_s, srv_status *st)
{
	if (c->deadline_set)
		return 0;
	if (wait_s < 0)
		return srv_fail(st, SRV_E_INVALID, "waitSeconds", "waitSeconds must be 0..%d", SRV_MAX_WAIT);
	if (wait_s > SRV_MAX_WAIT)
		wait_s = SRV_MAX_WAIT;
	c->deadline = wait_s ? srv_mono_ns() + (int64_t)wait_s * 1000000000 : 0;
	c->deadline_set = 1;
	return 0;
}

static int still_waiting(const srv_call *c)
{
	return c->deadline && srv_mono_ns() < c->deadline && !srv_core_stopping();
}

/* ------------------------------------------------------------- Exec */

/* The first maxOutputBytes of an exec's spool, as a bytes field. */
static int stream_bytes(int fd, int64_t size, int64_t max, ProtobufCBinaryData *out)
{
	size_t n = (size_t)(size < max ? size : max);
	out->len = 0;
	out->data = NULL;
	if (n == 0)
		return 0;
	if (!(out->data = malloc(n)))
		return -ENOMEM;
	ssize_t got = pread(fd, out->data, n, 0);
	out->len = got > 0 ? (size_t)got : 0;
	return 0;
}

static int exec_answer(srv_proc *p, int64_t max, Coreweave__Sandbox__V1__ExecResponse **resp, srv_status *st)
{
	if (p->timed_out)
		return srv_fail(st, SRV_E_TIMEOUT, NULL, "command timed out after %lld s", (long long)p->timeout_s);
	if (p->lost & (SRV_EXIT_LOST_NOSPC | SRV_EXIT_LOST_FLOOR | SRV_EXIT_LOST_IO)) {
		/* The disk, not a limit the caller could know, took output the
		 * answer should hold: an answer with what is left would look
		 * like the whole truth. The command did run (never retry it
		 * blindly): its exit code rides along in the message (Exec is
		 * a real call: the schema has no reason for this, so no
		 * ErrorInfo and no metadata of ours). */
		return srv_fail(st, SRV_E_OUTPUT_LOST, NULL,
				"the command ran (exit code %d) but its output was not stored: %s", p->exit_code,
				p->reason);
	}
	Coreweave__Sandbox__V1__ExecResponse *r = malloc(sizeof *r);
	if (!r)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	coreweave__sandbox__v1__exec_response__init(r);
	r->exit_code = p->exit_code;
	for (int i = 1; i <= 2; i++) {
		struct stat sb;
		int64_t size = fstat(p->out_fd[i], &sb) == 0 ? (int64_t)sb.st_size : 0;
		int trunc = size > max || (p->capped & (1 << i));
		if (stream_bytes(p->out_fd[i], size, max, i == 1 ? &r->stdout : &r->stderr) != 0) {
			wire_message_free(&r->base);
			return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
		}
		if (i == 1) {
			r->stdout_truncated = trunc;
			r->stdout_bytes_produced = size;
		} else {
			r->stderr_truncated = trunc;
			r->stderr_bytes_produced = size;
		}
	}
	*resp = r;
	return SRV_RPC_OK;
}

int srv_rpc_exec(srv_call *c, const Coreweave__Sandbox__V1__ExecRequest *req,
                 Coreweave__Sandbox__V1__ExecResponse **resp, srv_status *st)
{
	srv_sbx *s;
	srv_proc *p;
	if (!c->uid) {
		srv_proc_req pr;
		srv_perr perr;
		srv_refusal why;
		/* The request is judged before the sandbox is looked at. */
		if (srv_proc_req_from_exec(req, &pr, &perr) != 0)
			return srv_fail_perr(st, &perr);
		if (!(s = srv_rpc_sandbox(c, req->sandbox_id, st)) ||
		    srv_rpc_container(s, req->container, "container", st) != 0) {
			srv_proc_req_free(&pr);
			return SRV_RPC_FAIL;
		}
		p = srv_proc_start(s, &pr, 1, &why);
		c->max = pr.max_output;
		srv_proc_req_free(&pr);
		if (!p) {
			refused(st, &why);
			return SRV_RPC_FAIL;
		}
		c->seq = s->seq;
		c->uid = p->uid;
	} else {
		s = srv_find_seq(c->seq);
		p = s ? srv_proc_by_uid(s, c->uid) : NULL;
		if (!p) {
			c->uid = 0;
			/* Forgotten (purged) meanwhile: gone with its records. */
			if (s)
				return srv_fail(st, SRV_E_INTERNAL, NULL, "exec record lost");
			srv_fail(st, SRV_E_SANDBOX_NOT_FOUND, NULL, "sandbox %.128s not found", req->sandbox_id);
			srv_status_md(st, "sandboxId", req->sandbox_id);
			return SRV_RPC_FAIL;
		}
	}
	if (p->state == PS_RUNNING) {
		if (!srv_core_stopping())
			return park(c, s, 0);
		srv_exec_release(s, p);
		c->uid = 0;
		return srv_fail(st, SRV_E_UNAVAILABLE, NULL, "sbxd is shutting down");
	}
	int rc = exec_answer(p, c->max, resp, st);
	srv_exec_release(s, p);
	c->uid = 0;
	return rc;
}

void srv_rpc_exec_abandon(srv_call *c)
{
	if (!c->uid)
		return;
	srv_sbx *s = srv_find_seq(c->seq);
	srv_proc *p = s ? srv_proc_by_uid(s, c->uid) : NULL;
	if (p)
		srv_exec_release(s, p);
	c->uid = 0;
}

/* -------------------------------------------------------- processes */

static Google__Protobuf__Timestamp *ts_of(int64_t ns)
{
	if (!ns)
		return NULL;
	Google__Protobuf__Timestamp *t = malloc(sizeof *t);
	if (t) {
		google__protobuf__timestamp__init(t);
		t->seconds = ns / 1000000000;
		t->nanos = (int32_t)(ns % 1000000000);
	}
	return t;
}

/* One fstatat (srv_spool_size), not an open, fstat and close: every
 * answer about a process asks for both sizes. */
static int64_t stream_size(srv_sbx *s, const srv_proc *p, int stream)
{
	return srv_spool_size(s, p, stream);
}

Sbxd__Ext__V1__Process *srv_proc_to_pb(srv_sbx *s, const srv_proc *p)
{
	Sbxd__Ext__V1__Process *o = malloc(sizeof *o);
	if (!o)
		return NULL;
	sbxd__ext__v1__process__init(o);
	int bad = 0;
	o->process_id = p->id;
	if (p->argv.n && !(o->command = calloc(p->argv.n, sizeof *o->command)))
		bad = 1;
	for (size_t i = 0; !bad && i < p->argv.n; i++, o->n_command++)
		if (!(o->command[i] = strdup(p->argv.v[i])))
			bad = 1;
	if (!bad && p->cwd && *p->cwd && !(o->working_dir = strdup(p->cwd)))
		bad = 1;
	if (!bad && p->env.n && !(o->env = calloc(p->env.n, sizeof *o->env)))
		bad = 1;
	for (size_t i = 0; !bad && i < p->env.n; i++) {
		const char *kv = p->env.v[i], *eq = strchr(kv, '=');
		Sbxd__Ext__V1__Process__EnvEntry *e = malloc(sizeof *e);
		if (!e) {
			bad = 1;
			break;
		}
		sbxd__ext__v1__process__env_entry__init(e);
		o->env[o->n_env++] = e;
		size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
		if (!(e->key = strndup(kv, kl)) || !(e->value = strdup(eq ? eq + 1 : "")))
			bad = 1;
	}
	o->stdin = p->want_stdin;
	o->stdin_closed = p->stdin_closed;
	o->timeout_seconds = (int32_t)p->timeout_s;
	o->state = (Sbxd__Ext__V1__ProcessState)p->state;
	if (p->state != PS_RUNNING && p->state != PS_UNSPECIFIED) {
		o->_exit_code_case = SBXD__EXT__V1__PROCESS___EXIT_CODE_EXIT_CODE;
		o->exit_code = p->exit_code;
	}
	o->signal = p->sig;
	if (!bad && p->reason[0] && !(o->state_reason = strdup(p->reason)))
		bad = 1;
	/* The reason may quote the sandbox ("sbx: ..." lines of any bytes);
	 * argv, env and cwd were UTF-8 when they came in, but a record of an
	 * older sbxd may not be: every string is sent as valid UTF-8. */
	for (size_t i = 0; !bad && i < o->n_command; i++)
		srv_utf8_fix(o->command[i], strlen(o->command[i]));
	for (size_t i = 0; !bad && i < o->n_env; i++) {
		srv_utf8_fix(o->env[i]->key, strlen(o->env[i]->key));
		srv_utf8_fix(o->env[i]->value, strlen(o->env[i]->value));
	}
	if (!bad && o->working_dir != protobuf_c_empty_string)
		srv_utf8_fix(o->working_dir, strlen(o->working_dir));
	if (!bad && o->state_reason != protobuf_c_empty_string)
		srv_utf8_fix(o->state_reason, strlen(o->state_reason));
	o->start_time = ts_of(p->start_ns);
	o->end_time = ts_of(p->end_ns);
	if (s && p->id >= 0) {
		o->stdout_bytes = stream_size(s, p, 1);
		o->stderr_bytes = stream_size(s, p, 2);
	}
	if (bad || (p->start_ns && !o->start_time) || (p->end_ns && !o->end_time)) {
		wire_message_free(&o->base);
		return NULL;
	}
	return o;
}

static int proc_answer(srv_sbx *s, const srv_proc *p, Sbxd__Ext__V1__Process **resp, srv_status *st)
{
	if (!(*resp = srv_proc_to_pb(s, p)))
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	return SRV_RPC_OK;
}

static srv_proc *find_proc(srv_sbx *s, int64_t id, srv_status *st)
{
	srv_proc *p = id > 0 ? srv_proc_get(s, id) : NULL;
	if (!p) {
		char num[24];
		snprintf(num, sizeof num, "%lld", (long long)id);
		srv_fail(st, SRV_E_PROCESS_NOT_FOUND, NULL, "process %s not found in sandbox %s", num, s->id);
		srv_status_md(st, "processId", num);
		/* A client finding the newest (sbxfs's exec/last) cannot tell
		 * a forgotten id (--keep-processes) from one not started yet:
		 * the id the next start gets tells it. */
		snprintf(num, sizeof num, "%lld", (long long)s->next_id);
		srv_status_md(st, "nextProcessId", num);
	}
	return p;
}

static int exited(srv_status *st, srv_sbx *s, const srv_proc *p)
{
	char num[24];
	snprintf(num, sizeof num, "%lld", (long long)p->id);
	srv_fail(st, SRV_E_PROCESS_EXITED, NULL, "process %s in sandbox %s has exited", num, s->id);
	srv_status_md(st, "processId", num);
	return SRV_RPC_FAIL;
}

int srv_rpc_start_process(srv_call *c, const Sbxd__Ext__V1__StartProcessRequest *req, Sbxd__Ext__V1__Process **resp,
                          srv_status *st)
{
	srv_proc_req pr;
	srv_perr perr;
	srv_refusal why;
	if (srv_proc_req_from_start(req, &pr, &perr) != 0)
		return srv_fail_perr(st, &perr);
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	srv_proc *p = s ? srv_proc_start(s, &pr, 0, &why) : NULL;
	srv_proc_req_free(&pr);
	if (!s)
		return SRV_RPC_FAIL;
	if (!p) {
		refused(st, &why);
		return SRV_RPC_FAIL;
	}
	return proc_answer(s, p, resp, st);
}

int srv_rpc_list_processes(srv_call *c, const Sbxd__Ext__V1__ListProcessesRequest *req,
                           Sbxd__Ext__V1__ListProcessesResponse **resp, srv_status *st)
{
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	if (!s)
		return SRV_RPC_FAIL;
	Sbxd__Ext__V1__ListProcessesResponse *r = malloc(sizeof *r);
	if (!r)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	sbxd__ext__v1__list_processes_response__init(r);
	if (s->nprocs > 1 && !(r->processes = calloc(s->nprocs, sizeof *r->processes))) {
		wire_message_free(&r->base);
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	}
	for (size_t i = 1; i < s->nprocs; i++) {
		if (!s->procs[i])
			continue;
		if (!(r->processes[r->n_processes] = srv_proc_to_pb(s, s->procs[i]))) {
			wire_message_free(&r->base);
			return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
		}
		r->n_processes++;
	}
	*resp = r;
	return SRV_RPC_OK;
}

int srv_rpc_get_process(srv_call *c, const Sbxd__Ext__V1__GetProcessRequest *req, Sbxd__Ext__V1__Process **resp,
                        srv_status *st)
{
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	srv_proc *p = s ? find_proc(s, req->process_id, st) : NULL;
	if (!p || deadline_of(c, req->wait_seconds, st) != 0)
		return SRV_RPC_FAIL;
	if (p->state == PS_RUNNING && still_waiting(c))
		return park(c, s, c->deadline);
	return proc_answer(s, p, resp, st);
}

int srv_rpc_write_stdin(srv_call *c, const Sbxd__Ext__V1__WriteStdinRequest *req, const unsigned char *data,
                        size_t len, Sbxd__Ext__V1__WriteStdinResponse **resp, srv_status *st)
{
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	srv_proc *p = s ? find_proc(s, req->process_id, st) : NULL;
	if (!p)
		return SRV_RPC_FAIL;
	if (!p->want_stdin)
		return srv_fail(st, SRV_E_STDIN_CLOSED, NULL, "process %lld was started without stdin", (long long)p->id);
	if (p->state != PS_RUNNING)
		return exited(st, s, p);
	if (p->stdin_closed)
		return srv_fail(st, SRV_E_STDIN_CLOSED, NULL, "stdin of process %lld is closed", (long long)p->id);
	if (srv_stdin_write(s, p, data, len) != 0)
		return srv_fail(st, SRV_E_STDIN_FULL, NULL, "process %lld is not reading its stdin fast enough",
				(long long)p->id);
	Sbxd__Ext__V1__WriteStdinResponse *r = malloc(sizeof *r);
	if (!r)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	sbxd__ext__v1__write_stdin_response__init(r);
	r->written = (int64_t)len;
	*resp = r;
	return SRV_RPC_OK;
}

int srv_rpc_close_stdin(srv_call *c, const Sbxd__Ext__V1__CloseStdinRequest *req,
                        Sbxd__Ext__V1__CloseStdinResponse **resp, srv_status *st)
{
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	srv_proc *p = s ? find_proc(s, req->process_id, st) : NULL;
	if (!p)
		return SRV_RPC_FAIL;
	/* Idempotent: closing a closed stdin, or an ended process's, is done. */
	if (p->state == PS_RUNNING && !p->stdin_closed)
		srv_stdin_close(s, p);
	if (!(*resp = malloc(sizeof **resp)))
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	sbxd__ext__v1__close_stdin_response__init(*resp);
	return SRV_RPC_OK;
}

int srv_rpc_signal_process(srv_call *c, const Sbxd__Ext__V1__SignalProcessRequest *req,
                           Sbxd__Ext__V1__SignalProcessResponse **resp, srv_status *st)
{
	srv_perr perr;
	int sig;
	if (srv_signal_from_pb(req, &sig, &perr) != 0)
		return srv_fail_perr(st, &perr);
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	srv_proc *p = s ? find_proc(s, req->process_id, st) : NULL;
	if (!p)
		return SRV_RPC_FAIL;
	if (p->state != PS_RUNNING || !s->box)
		return exited(st, s, p);
	/* Signal without srv_lock: a sick init may take seconds to answer
	 * and must not stall the rest of sbxd. s and p stay valid (a busy
	 * sandbox is never purged; process records live as long as it). */
	srv_box *b = srv_rt_begin(s);
	if (!b || p->state != PS_RUNNING) {
		if (b)
			srv_rt_end(s, b);
		return exited(st, s, p);
	}
	int64_t tok = p->token;
	pthread_mutex_unlock(&srv_lock);
	int rc = srv_box_signal(b, tok, sig);
	pthread_mutex_lock(&srv_lock);
	srv_rt_end(s, b);
	if (rc != 0)
		return exited(st, s, p);
	if (!(*resp = malloc(sizeof **resp)))
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	sbxd__ext__v1__signal_process_response__init(*resp);
	return SRV_RPC_OK;
}

/* ----------------------------------------------------------- output */

int srv_rpc_read_output(srv_call *c, const Sbxd__Ext__V1__ReadOutputRequest *req, int stream, srv_output *out,
                        srv_status *st)
{
	memset(out, 0, sizeof *out);
	out->fd = -1;
	if (req->offset < 0 || req->offset > INT64_MAX / 2)
		return srv_fail(st, SRV_E_INVALID, "offset", "offset must be a non-negative integer");
	if (req->length < 0)
		return srv_fail(st, SRV_E_INVALID, "length", "length must be a non-negative integer");
	if (deadline_of(c, req->wait_seconds, st) != 0)
		return SRV_RPC_FAIL;
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	if (!s || (req->process_id != 0 && !find_proc(s, req->process_id, st)))
		return SRV_RPC_FAIL;
	if (req->process_id < 0) {
		char num[24];
		snprintf(num, sizeof num, "%lld", (long long)req->process_id);
		srv_fail(st, SRV_E_PROCESS_NOT_FOUND, NULL, "process %s not found in sandbox %s", num, s->id);
		srv_status_md(st, "processId", num);
		return SRV_RPC_FAIL;
	}
	int64_t id = req->process_id, off = req->offset;
	int64_t len = req->length == 0 || req->length > SRV_MAX_READ ? SRV_MAX_READ : req->length;
	/* Ended first, size second: a size read after the end is final. */
	int ended = srv_stream_ended(s, id);
	int fd = srv_spool_open(s, id, stream);
	struct stat sb;
	int64_t size = fd >= 0 && fstat(fd, &sb) == 0 ? (int64_t)sb.st_size : 0;
	if (off >= size && !ended && still_waiting(c)) {
		/* Watch the spool only now that someone waits on it, then look
		 * at its size once more: a write that landed before the watch
		 * existed would otherwise never wake us. */
		int watched = srv_waiter_watch(c->w, s, id, stream) == 0;
		if (fd >= 0 && fstat(fd, &sb) == 0)
			size = sb.st_size;
		if (off >= size) {
			if (fd >= 0)
				close(fd);
			/* No watch (no spool yet?): poll every 100 ms instead. */
			int64_t soon = srv_mono_ns() + 100000000, dl = c->deadline;
			if (!watched && (!dl || dl > soon))
				dl = soon;
			return park(c, s, dl);
		}
		srv_waiter_remove(c->w);
	}
	int64_t n = off < size ? size - off : 0;
	if (n > len)
		n = len;
	if (n == 0 && fd >= 0) {
		close(fd);
		fd = -1;
	}
	out->fd = fd;
	out->offset = off;
	out->n = n;
	out->size = size;
	out->eof = ended && off + n >= size;
	/* The stream ended short of what the process wrote (--max-output,
	 * the quota, the disk): stateReason says why. */
	srv_proc *pp = srv_proc_get(s, id);
	out->truncated = ended && pp && (pp->capped & (1 << stream));
	return SRV_RPC_OK;
}
