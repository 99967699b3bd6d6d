/*
 * Process calls, output reads and unary exec of libsbx (see proc.h). When
 * the service lacks sbxd's process extension, sbx_process_start runs the
 * command as a unary :exec on a thread; get/list/output then answer from
 * the client's table (RUNNING until the exec returns, then EXITED with the
 * whole output) and stdin/signal answer SBX_E_UNSUPPORTED.
 *
 * Where the service's gRPC endpoint answers (grpc.c), a fallback process
 * is a StreamExec instead: its output is spooled as it arrives into two
 * unlinked files (stdout, stderr), read by offset from there, stdin and
 * close go on the stream, SIGKILL is the stream's cancel. The spool holds
 * at most FB_SPOOL_MAX bytes of a process; when full, the stream is not
 * read any more (the service's window closes, the command blocks on its
 * pipe), so a client never holds more than that per process.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "grpc.h"
#include "json.h"
#include "pb.h"
#include "extension.pb-c.h"
#include "sandbox.pb-c.h"
#include "spec.h"
#include "util.h"

#define FB_MAX_OUTPUT ((int64_t)16 << 20)
/* The most of a streamed process's output (both streams) a client keeps. */
#define FB_SPOOL_MAX ((int64_t)1 << 30)
/* How long a process start skips gRPC after it was unreachable. */
#define FB_GRPC_RETRY_MS 10000

struct sbx_fb_proc {
	sbx_fb_proc *next;
	sbx_client *c;
	char *sandbox;
	int64_t id;
	sbx_exec_req *req;
	int done;
	sbx_proc_state state;
	int exit_code, signo;
	char *reason;
	char *out, *err;
	size_t out_len, err_len;
	int64_t start_ns, end_ns;
	pthread_t th;
	sbx_gstream *gs;     /* NULL: a unary exec */
	int spool[2];        /* gs: stdout's and stderr's spool files */
	int stdin_closed;
	int killed;          /* gs: cancelled for SIGKILL */
	int logs;            /* the main command's StreamLogs (id SBX_MAIN) */
	sbx_result log_res;  /* logs: how the stream ended */
	sbx_result broke;    /* gs: the stream's failure when it ended without an exit */
	int thread_over;     /* atomic: the reader returned (join is quick) */
	int64_t retry_at;    /* logs: a failed stream may be opened again then */
	int have_thread;     /* th is a thread to join */
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

sbx_result sbx_use_fallback(sbx_client *c, int *fb, sbx_error *err)
{
	unsigned f = 0;
	sbx_result r = sbx_client_features(c, &f, err);
	*fb = r == SBX_OK && !(f & SBX_FEAT_PROCESSES);
	return r;
}

/* ------------------------------------------------------------ fallback */

static void fb_free(sbx_fb_proc *p)
{
	if (!p)
		return;
	sbx_grpc_exec_free(p->gs);
	for (int i = 0; i < 2; i++)
		if (p->spool[i] > 0)
			close(p->spool[i]);
	free(p->sandbox);
	sbx_exec_req_free(p->req);
	free(p->reason);
	free(p->out);
	free(p->err);
	free(p);
}

sbx_fb_proc *sbx_fb_find(sbx_client *c, const char *sandbox_id, int64_t pid)
{
	for (sbx_fb_proc *p = c->fb_list; p; p = p->next)
		if (p->id == pid && strcmp(p->sandbox, sandbox_id) == 0)
			return p;
	return NULL;
}

int sbx_fb_done(const sbx_fb_proc *p)
{
	return p->done;
}

static int64_t fb_len(const sbx_fb_proc *p, sbx_stream s)
{
	return (int64_t)(s == SBX_STDERR ? p->err_len : p->out_len);
}

int sbx_fb_ready(const sbx_fb_proc *p, int stream, int64_t offset)
{
	return p->done || (p->gs && stream >= 0 && fb_len(p, (sbx_stream)stream) > offset);
}

sbx_result sbx_fb_snapshot(const sbx_fb_proc *p, sbx_process **out, sbx_error *err)
{
	sbx_process *q = calloc(1, sizeof *q);
	if (!q)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	q->id = p->id;
	q->argv = sbx_strv_dup((const char *const *)p->req->argv, NULL);
	q->cwd = strdup(p->req->cwd ? p->req->cwd : "");
	q->state_reason = strdup(p->reason ? p->reason : "");
	if (!q->argv || !q->cwd || !q->state_reason) {
		sbx_process_free(q);
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	q->state = p->done ? p->state : SBX_PROC_RUNNING;
	q->exit_code = p->done ? p->exit_code : 0;
	q->signal = p->done ? p->signo : 0;
	q->has_stdin = p->gs && p->req->stdin_on;
	q->stdin_closed = !q->has_stdin || p->stdin_closed || p->done;
	q->start_time_ns = p->start_ns;
	q->end_time_ns = p->done ? p->end_ns : 0;
	q->stdout_bytes = p->done || p->gs ? (int64_t)p->out_len : 0;
	q->stderr_bytes = p->done || p->gs ? (int64_t)p->err_len : 0;
	*out = q;
	return SBX_OK;
}

sbx_result sbx_fb_stream_error(const sbx_fb_proc *p, sbx_stream s, int64_t offset, sbx_error *err)
{
	size_t total = s == SBX_STDERR ? p->err_len : p->out_len;
	if (!p->done || p->broke == SBX_OK || offset < 0 || (uint64_t)offset < total)
		return SBX_OK;
	return sbx_fail(err, p->broke, "process %lld: its StreamExec broke before the exit, so the output ends "
	                "unfinished: %s", (long long)p->id, p->reason ? p->reason : "no reason given");
}

sbx_result sbx_fb_exit_error(const sbx_fb_proc *p, sbx_error *err)
{
	if (!p->done || p->broke == SBX_OK)
		return SBX_OK;
	return sbx_fail(err, p->broke, "process %lld: its StreamExec broke before the exit, so the exit is not known: %s",
	                (long long)p->id, p->reason ? p->reason : "no reason given");
}

void sbx_fb_read(const sbx_fb_proc *p, sbx_stream s, int64_t offset, void *buf, size_t maxlen, sbx_chunk *chunk)
{
	const char *data = s == SBX_STDERR ? p->err : p->out;
	size_t total = p->done || p->gs ? (s == SBX_STDERR ? p->err_len : p->out_len) : 0;
	size_t n = 0;
	if (offset < 0)
		offset = 0;
	if ((uint64_t)offset < total) {
		n = total - (size_t)offset;
		if (n > maxlen)
			n = maxlen;
		if (p->gs) {
			/* the spool below total is written and never changes */
			ssize_t k = pread(p->spool[s == SBX_STDERR], buf, n, offset);
			n = k > 0 ? (size_t)k : 0;
		} else {
			memcpy(buf, data + offset, n);
		}
	}
	chunk->data = buf;
	chunk->len = n;
	chunk->offset = offset;
	chunk->size = (int64_t)total;
	chunk->eof = p->done && (uint64_t)offset + n >= total;
}

static void *fb_thread(void *arg)
{
	sbx_fb_proc *p = arg;
	sbx_client *c = p->c;
	sbx_exec_result *res = NULL;
	sbx_error e;
	sbx_result r = sbx_exec_abortable(c, p->sandbox, p->req, FB_MAX_OUTPUT, &res, &e, &c->closing);
	pthread_mutex_lock(&c->fb_mu);
	p->end_ns = now_ns();
	if (r == SBX_OK) {
		p->state = SBX_PROC_EXITED;
		p->exit_code = res->exit_code;
		p->out = res->out;
		p->out_len = res->out_len;
		p->err = res->errout;
		p->err_len = res->err_len;
		res->out = res->errout = NULL;
	} else if (r == SBX_E_TIMEOUT && strcmp(e.reason, "CWSANDBOX_COMMAND_TIMEOUT") == 0) {
		p->state = SBX_PROC_KILLED;
		p->signo = 9;
		p->exit_code = 128 + 9;
		p->reason = strdup("timeout");
	} else {
		/* The exec itself failed: the process is FAILED and its stderr
		 * says why, as sbxd does for a command that cannot start. */
		p->state = SBX_PROC_FAILED;
		p->exit_code = 127;
		p->reason = strdup(e.message);
		size_t n = strlen(e.message);
		p->err = malloc(n + 2);
		if (p->err) {
			memcpy(p->err, e.message, n);
			p->err[n] = '\n';
			p->err[n + 1] = '\0';
			p->err_len = n + 1;
		}
	}
	p->done = 1;
	pthread_cond_broadcast(&c->fb_cond);
	pthread_mutex_unlock(&c->fb_mu);
	sbx_exec_result_free(res);
	sbx_async_notify(c);
	return NULL;
}

/* Writes len bytes of data at off of a spool file; the count written
 * (short only on an error, errno set). */
static size_t spool_put(int fd, const char *data, size_t len, int64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t k = pwrite(fd, data + done, len - done, off + (int64_t)done);
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	return done;
}

/* The reader of a StreamExec: output into the spools, the exit into the
 * record. Runs until the stream ends. */
static void *gs_thread(void *arg)
{
	sbx_fb_proc *p = arg;
	sbx_client *c = p->c;
	sbx_error e;
	sbx_error_clear(&e);
	int64_t len[2] = {0, 0};
	int have_exit = 0, code = 0;
	sbx_result r;
	for (;;) {
		sbx_gmsg m;
		if ((r = sbx_grpc_exec_next(p->gs, -1, &m, &e)) != SBX_OK || m.kind == SBX_GMSG_END)
			break;
		if (m.kind == SBX_GMSG_EXIT) {
			have_exit = 1;
			code = m.exit_code;
			continue;
		}
		if (m.kind != SBX_GMSG_OUTPUT || m.len == 0) {
			free(m.data);
			continue;
		}
		int i = m.stream == SBX_STDERR;
		/* Backpressure: a full spool is not read further until the
		 * client goes (nothing below the cap is ever dropped). */
		pthread_mutex_lock(&c->fb_mu);
		while (len[0] + len[1] + (int64_t)m.len > FB_SPOOL_MAX && !c->closing) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&c->fb_cond, &c->fb_mu, &ts);
		}
		int closing = c->closing;
		pthread_mutex_unlock(&c->fb_mu);
		size_t off = closing ? 0 : spool_put(p->spool[i], m.data, m.len, len[i]);
		free(m.data);
		if (closing)
			break;
		if (off < m.len) {
			r = sbx_fail(&e, SBX_E_INTERNAL, "cannot spool the output: %s", strerror(errno));
			sbx_grpc_exec_cancel(p->gs);
			break;
		}
		len[i] += (int64_t)off;
		pthread_mutex_lock(&c->fb_mu);
		p->out_len = (size_t)len[0];
		p->err_len = (size_t)len[1];
		pthread_cond_broadcast(&c->fb_cond);
		pthread_mutex_unlock(&c->fb_mu);
		sbx_async_notify(c);
	}
	pthread_mutex_lock(&c->fb_mu);
	p->end_ns = now_ns();
	if (p->killed) {
		p->state = SBX_PROC_KILLED;
		p->signo = 9;
		p->exit_code = 128 + 9;
	} else if (have_exit) {
		/* the service reports a signal's end as 128 + N */
		p->state = SBX_PROC_EXITED;
		p->exit_code = code;
	} else {
		p->state = SBX_PROC_FAILED;
		p->exit_code = 127;
		p->reason = strdup(r != SBX_OK ? e.message : "the stream ended without an exit");
		/* a reader at the end gets this, not a clean EOF: the output
		 * is cut, as a read from a vanished service fails with the
		 * extension */
		p->broke = r != SBX_OK ? r : SBX_E_PROTOCOL;
	}
	p->done = 1;
	pthread_cond_broadcast(&c->fb_cond);
	pthread_mutex_unlock(&c->fb_mu);
	sbx_async_notify(c);
	return NULL;
}

static int spool_open(void);

/* The reader of a main command's StreamLogs: its bytes into spool[0]. */
static void *logs_thread(void *arg)
{
	sbx_fb_proc *p = arg;
	sbx_client *c = p->c;
	sbx_error e;
	sbx_error_clear(&e);
	int64_t len = 0;
	sbx_result r;
	for (;;) {
		sbx_gmsg m;
		if ((r = sbx_grpc_logs_next(p->gs, &m, &e)) != SBX_OK || m.kind == SBX_GMSG_END)
			break;
		pthread_mutex_lock(&c->fb_mu);
		while (len + (int64_t)m.len > FB_SPOOL_MAX && !c->closing) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&c->fb_cond, &c->fb_mu, &ts);
		}
		int closing = c->closing;
		pthread_mutex_unlock(&c->fb_mu);
		size_t off = closing ? 0 : spool_put(p->spool[0], m.data, m.len, len);
		free(m.data);
		if (closing)
			break;
		if (off < m.len) {
			r = sbx_fail(&e, SBX_E_INTERNAL, "cannot spool the log: %s", strerror(errno));
			sbx_grpc_exec_cancel(p->gs);
			break;
		}
		len += (int64_t)off;
		pthread_mutex_lock(&c->fb_mu);
		p->out_len = (size_t)len;
		pthread_cond_broadcast(&c->fb_cond);
		pthread_mutex_unlock(&c->fb_mu);
		sbx_async_notify(c);
	}
	pthread_mutex_lock(&c->fb_mu);
	p->log_res = r;
	if (r != SBX_OK) {
		free(p->reason);
		char msg[sizeof e.message + 96];
		if (r == SBX_E_UNAVAILABLE || r == SBX_E_CONNREFUSED || r == SBX_E_UNSUPPORTED)
			snprintf(msg, sizeof msg,
			         "the service cannot stream the main command's output (no StreamLogs reachable: %s)",
			         e.message);
		else
			snprintf(msg, sizeof msg, "%s", e.message);
		p->reason = strdup(msg);
		p->retry_at = sbx_now_ms() + FB_GRPC_RETRY_MS;
	}
	p->done = 1;
	pthread_cond_broadcast(&c->fb_cond);
	pthread_mutex_unlock(&c->fb_mu);
	sbx_async_notify(c);
	__atomic_store_n(&p->thread_over, 1, __ATOMIC_RELEASE);
	return NULL;
}

sbx_result sbx_fb_logs(sbx_client *c, const char *sandbox_id, sbx_fb_proc **out, sbx_error *err)
{
	sbx_result res;
	*out = NULL;
	sbx_fb_proc *p = sbx_fb_find(c, sandbox_id, SBX_MAIN);
	if (p && !(p->done && p->log_res != SBX_OK && p->out_len == 0 && sbx_now_ms() >= p->retry_at &&
	           __atomic_load_n(&p->thread_over, __ATOMIC_ACQUIRE))) {
		*out = p;
		return SBX_OK;
	}
	/* Whether StreamLogs can be had at all, before a stream is made:
	 * without gRPC the read answers ENOTSUP now, not an empty log. */
	if ((res = sbx_grpc_reachable(c, c->cfg->connect_ms, err)) != SBX_OK)
		return res == SBX_E_UNAVAILABLE ? sbx_fail(err, SBX_E_UNSUPPORTED,
		                                           "the service cannot stream the main command's output "
		                                           "(no extension, and no StreamLogs reachable)")
		                                : res;
	if (p) {
		/* a failed stream with nothing in it: opened again (its
		 * reader has returned, so the join does not wait) */
		if (p->have_thread)
			pthread_join(p->th, NULL);
		p->have_thread = 0;
		sbx_grpc_exec_free(p->gs);
		p->gs = NULL;
		p->done = 0;
		p->thread_over = 0;
		p->log_res = SBX_OK;
	} else {
		p = calloc(1, sizeof *p);
		if (!p || !(p->sandbox = strdup(sandbox_id)) || !(p->req = calloc(1, sizeof *p->req)) ||
		    !(p->req->argv = calloc(1, sizeof(char *)))) {
			fb_free(p);
			return sbx_fail(err, SBX_E_NOMEM, "out of memory");
		}
		p->c = c;
		p->id = SBX_MAIN;
		p->logs = 1;
		p->spool[1] = -1;
		if ((p->spool[0] = spool_open()) < 0) {
			fb_free(p);
			return sbx_fail(err, SBX_E_INTERNAL, "no spool file for the log: %s", strerror(errno));
		}
		p->next = c->fb_list;
		c->fb_list = p;
	}
	p->start_ns = now_ns();
	if ((res = sbx_grpc_logs_open(c, sandbox_id, &p->gs, err)) != SBX_OK ||
	    pthread_create(&p->th, NULL, logs_thread, p) != 0) {
		if (res == SBX_OK)
			res = sbx_fail(err, SBX_E_NOMEM, "cannot start a thread");
		sbx_grpc_exec_free(p->gs);
		p->gs = NULL;
		p->done = 1;
		p->log_res = res;
		p->thread_over = 1;
		p->retry_at = sbx_now_ms() + FB_GRPC_RETRY_MS;
		return res;
	}
	p->have_thread = 1;
	*out = p;
	return SBX_OK;
}

sbx_result sbx_fb_logs_error(const sbx_fb_proc *p, sbx_error *err)
{
	if (p->done && p->log_res != SBX_OK && p->out_len == 0) {
		sbx_result r = p->log_res == SBX_E_UNAVAILABLE || p->log_res == SBX_E_CONNREFUSED ? SBX_E_UNSUPPORTED
		                                                                                  : p->log_res;
		return sbx_fail(err, r, "%s", p->reason ? p->reason : "StreamLogs failed");
	}
	return SBX_OK;
}

static int spool_open(void)
{
	const char *d = getenv("TMPDIR");
	int fd = open(d && *d == '/' ? d : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && d)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	return fd;
}

/* Opens the StreamExec of p and waits for its `ready` (the start's
 * deadline: the client's total). Not reachable: SBX_E_UNAVAILABLE or
 * SBX_E_UNSUPPORTED (no address), and the caller takes the unary path. */
static sbx_result gs_open(sbx_client *c, sbx_fb_proc *p, sbx_error *err)
{
	sbx_result res;
	if ((p->spool[0] = spool_open()) < 0 || (p->spool[1] = spool_open()) < 0)
		return sbx_fail(err, SBX_E_INTERNAL, "no spool file for the output: %s", strerror(errno));
	if ((res = sbx_grpc_exec_open(c, p->sandbox, p->req, &p->gs, err)) != SBX_OK)
		return res;
	sbx_gmsg m;
	res = sbx_grpc_exec_next(p->gs, c->cfg->connect_ms + c->cfg->total_ms, &m, err);
	if (res == SBX_OK && m.kind != SBX_GMSG_READY) {
		free(m.data);
		res = sbx_fail(err, SBX_E_PROTOCOL, "StreamExec answered before ready");
	}
	if (res == SBX_OK && !p->req->stdin_on) {
		/* no stdin asked for: EOF at once, as sbxd's processes have.
		 * A command that ended already (a missing binary, `true`)
		 * may have closed the stream before this close went out:
		 * its exit is on the stream, the start stands (it failed
		 * the write with EPIPE under load). */
		sbx_error ce;
		sbx_error_clear(&ce);
		sbx_result cr = sbx_grpc_exec_close(p->gs, c->cfg->total_ms, &ce);
		if (cr != SBX_OK && !(cr == SBX_E_PRECONDITION && strcmp(ce.reason, "CWSANDBOX_STDIN_CLOSED") == 0)) {
			res = cr;
			if (err)
				*err = ce;
		}
	}
	if (res != SBX_OK) {
		sbx_grpc_exec_free(p->gs);
		p->gs = NULL;
	}
	return res;
}

void sbx_fb_shutdown(sbx_client *c)
{
	pthread_mutex_lock(&c->fb_mu);
	__atomic_store_n(&c->closing, 1, __ATOMIC_RELAXED);
	sbx_fb_proc *list = c->fb_list;
	c->fb_list = NULL;
	pthread_mutex_unlock(&c->fb_mu);
	for (sbx_fb_proc *p = list; p; p = p->next)
		if (p->gs)
			sbx_grpc_exec_cancel(p->gs); /* the reader returns */
	while (list) {
		sbx_fb_proc *next = list->next;
		if (list->have_thread)
			pthread_join(list->th, NULL);
		fb_free(list);
		list = next;
	}
}

static sbx_result fb_start(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, sbx_process **out,
                           sbx_error *err)
{
	sbx_result res;
	sbx_sandbox *sb = NULL;
	sbx_fb_proc *p = NULL;
	/* Fail in the caller's write() when the exec cannot run, as sbxd's
	 * start call would. */
	if ((res = sbx_sandbox_get(c, sandbox_id, 0, &sb, err)) != SBX_OK)
		goto out;
	if (sb->state != SBX_STATE_RUNNING) {
		res = sbx_fail(err, SBX_E_PRECONDITION, "sandbox %s is %s, not running", sandbox_id,
		               sbx_state_word(sb->state));
		if (err)
			/* what the service answers a call on a sandbox that is not
			 * running (400/9, wire.md section 6) */
			snprintf(err->reason, sizeof err->reason, "CWSANDBOX_INVALID_REQUEST");
		goto out;
	}
	if (r->timeout > 0) {
		res = sbx_fail(err, SBX_E_UNSUPPORTED, SBX_MSG_NO_TIMEOUT);
		goto out;
	}
	p = calloc(1, sizeof *p);
	if (!p || !(p->sandbox = strdup(sandbox_id)) || !(p->req = sbx_exec_req_dup(r))) {
		res = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	p->c = c;
	p->spool[0] = p->spool[1] = -1;
	if (sbx_now_ms() >= __atomic_load_n(&c->grpc_down_until, __ATOMIC_RELAXED)) {
		sbx_error ge;
		sbx_error_clear(&ge);
		res = gs_open(c, p, &ge);
		if (res == SBX_E_UNAVAILABLE || res == SBX_E_UNSUPPORTED || res == SBX_E_TIMEOUT ||
		    res == SBX_E_CONNREFUSED) {
			/* no StreamExec there: the unary path, and a while
			 * before trying again */
			__atomic_store_n(&c->grpc_down_until, sbx_now_ms() + FB_GRPC_RETRY_MS, __ATOMIC_RELAXED);
		} else if (res != SBX_OK) {
			if (err)
				*err = ge;
			goto out;
		}
	}
	if (!p->gs && r->stdin_on) {
		res = sbx_fail(err, SBX_E_UNSUPPORTED, SBX_MSG_NO_STDIN);
		goto out;
	}
	p->start_ns = now_ns();
	pthread_mutex_lock(&c->fb_mu);
	int64_t max = 0;
	size_t count = 0;
	for (sbx_fb_proc *q = c->fb_list; q; q = q->next) {
		if (strcmp(q->sandbox, sandbox_id) == 0 && q->id > max)
			max = q->id;
		count += !q->done && !q->logs;
	}
	if (count >= 256) {
		pthread_mutex_unlock(&c->fb_mu);
		res = sbx_fail(err, SBX_E_EXHAUSTED, "too many running fallback processes (256)");
		goto out;
	}
	p->id = max + 1;
	res = sbx_fb_snapshot(p, out, err);
	if (res == SBX_OK && pthread_create(&p->th, NULL, p->gs ? gs_thread : fb_thread, p) != 0) {
		sbx_process_free(*out);
		*out = NULL;
		res = sbx_fail(err, SBX_E_NOMEM, "cannot start a thread");
	}
	if (res == SBX_OK) {
		p->have_thread = 1;
		p->next = c->fb_list;
		c->fb_list = p;
		p = NULL;
	}
	pthread_mutex_unlock(&c->fb_mu);
out:
	fb_free(p);
	sbx_sandbox_free(sb);
	return res;
}

static void deadline_in(struct timespec *ts, int seconds)
{
	clock_gettime(CLOCK_MONOTONIC, ts); /* fb_cond's clock (http.c) */
	ts->tv_sec += seconds;
}

/* Waits on fb_cond (fb_mu held) until p is done, or for an output read
 * (stream >= 0) until output past offset arrived, or the time passes. */
static void fb_wait(sbx_client *c, sbx_fb_proc *p, int stream, int64_t offset, int wait_seconds)
{
	if (wait_seconds <= 0)
		return;
	struct timespec ts;
	deadline_in(&ts, wait_seconds);
	while (!sbx_fb_ready(p, stream, offset) && !c->closing)
		if (pthread_cond_timedwait(&c->fb_cond, &c->fb_mu, &ts) == ETIMEDOUT)
			break;
}

static sbx_result fb_missing(const char *sandbox_id, int64_t pid, sbx_error *err)
{
	sbx_result r = sbx_fail(err, SBX_E_NOT_FOUND, "process %lld of sandbox %s not found", (long long)pid,
	                        sandbox_id);
	if (err)
		snprintf(err->reason, sizeof err->reason, "CWSANDBOX_PROCESS_NOT_FOUND");
	return r;
}

/* ------------------------------------------------------------ processes */

sbx_result sbx_process_start(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, sbx_process **out,
                             sbx_error *err)
{
	sbx_result res;
	*out = NULL;
	if ((res = sbx_check_sandbox_id(sandbox_id, err)) != SBX_OK)
		return res;
	if (!r || !r->argv || !r->argv[0])
		return sbx_fail(err, SBX_E_INVALID, "empty command");
	int fb = 0;
	if ((res = sbx_use_fallback(c, &fb, err)) != SBX_OK)
		return res;
	if (fb)
		return fb_start(c, sandbox_id, r, out, err);
	char rid[SBX_REQUEST_ID_MAX + 1];
	if (r->request_id[0])
		memcpy(rid, r->request_id, sizeof rid);
	else if (sbx_random_hex(rid) != 0)
		return sbx_fail(err, SBX_E_INTERNAL, "no randomness for a request id");
	const wire_route *rt;
	if ((res = sbx_pb_ext_route("StartProcess", &rt, err)) != SBX_OK)
		return res;
	sbx_start_pb q;
	if ((res = sbx_exec_req_to_start_pb(r, sandbox_id, rid, &q, err)) != SBX_OK)
		return res;
	/* Safe to repeat: a start with the same requestId returns the first
	 * one's process (sbxd's extension), so a retry never runs it twice. */
	sbx_http_req base = {.safe = 1};
	ProtobufCMessage *m = NULL;
	res = sbx_pb_call(c, rt, &q.req.base, NULL, &base, &m, err);
	if (res == SBX_OK)
		res = sbx_process_from_pb(m, out, err);
	wire_message_free(m);
	sbx_start_pb_free(&q);
	return res;
}

/* The checks every call on one process starts with. */
static sbx_result check_proc(const char *sandbox_id, int64_t pid, sbx_error *err)
{
	sbx_result res = sbx_check_sandbox_id(sandbox_id, err);
	if (res == SBX_OK && pid < 1)
		res = sbx_fail(err, SBX_E_INVALID, "bad process id");
	return res;
}

sbx_result sbx_process_get(sbx_client *c, const char *sandbox_id, int64_t pid, int wait_seconds, sbx_process **out,
                           sbx_error *err)
{
	sbx_result res;
	*out = NULL;
	if ((res = check_proc(sandbox_id, pid, err)) != SBX_OK)
		return res;
	if (wait_seconds > SBX_MAX_WAIT)
		wait_seconds = SBX_MAX_WAIT;
	int fb = 0;
	if ((res = sbx_use_fallback(c, &fb, err)) != SBX_OK)
		return res;
	if (fb) {
		pthread_mutex_lock(&c->fb_mu);
		sbx_fb_proc *p = sbx_fb_find(c, sandbox_id, pid);
		if (p) {
			fb_wait(c, p, -1, 0, wait_seconds);
			res = sbx_fb_snapshot(p, out, err);
		} else {
			res = fb_missing(sandbox_id, pid, err);
		}
		pthread_mutex_unlock(&c->fb_mu);
		return res;
	}
	const wire_route *rt;
	if ((res = sbx_pb_ext_route("GetProcess", &rt, err)) != SBX_OK)
		return res;
	Sbxd__Ext__V1__GetProcessRequest q = SBXD__EXT__V1__GET_PROCESS_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.process_id = pid;
	q.wait_seconds = wait_seconds > 0 ? wait_seconds : 0;
	sbx_http_req base = {.safe = 1, .wait_ms = wait_seconds * 1000L};
	ProtobufCMessage *m = NULL;
	res = sbx_pb_call(c, rt, &q.base, NULL, &base, &m, err);
	if (res == SBX_OK)
		res = sbx_process_from_pb(m, out, err);
	wire_message_free(m);
	return res;
}

sbx_result sbx_process_list(sbx_client *c, const char *sandbox_id, sbx_process ***out, size_t *n, sbx_error *err)
{
	sbx_result res;
	sbx_process **v = NULL;
	size_t nv = 0;
	*out = NULL;
	*n = 0;
	if ((res = sbx_check_sandbox_id(sandbox_id, err)) != SBX_OK)
		return res;
	int fb = 0;
	if ((res = sbx_use_fallback(c, &fb, err)) != SBX_OK)
		return res;
	if (fb) {
		pthread_mutex_lock(&c->fb_mu);
		size_t k = 0;
		for (sbx_fb_proc *p = c->fb_list; p; p = p->next)
			k += !p->logs && strcmp(p->sandbox, sandbox_id) == 0;
		v = calloc(k ? k : 1, sizeof *v);
		res = v ? SBX_OK : sbx_fail(err, SBX_E_NOMEM, "out of memory");
		/* The table is newest first; answer in id order like sbxd. */
		for (sbx_fb_proc *p = c->fb_list; res == SBX_OK && p; p = p->next) {
			if (p->logs || strcmp(p->sandbox, sandbox_id) != 0)
				continue;
			res = sbx_fb_snapshot(p, &v[k - 1 - nv], err);
			if (res == SBX_OK)
				nv++;
		}
		pthread_mutex_unlock(&c->fb_mu);
		if (res != SBX_OK) {
			for (size_t i = 0; i < nv; i++)
				sbx_process_free(v[k - 1 - i]);
			free(v);
			return res;
		}
		*out = v;
		*n = nv;
		return SBX_OK;
	}
	const wire_route *rt;
	if ((res = sbx_pb_ext_route("ListProcesses", &rt, err)) != SBX_OK)
		return res;
	Sbxd__Ext__V1__ListProcessesRequest q = SBXD__EXT__V1__LIST_PROCESSES_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	sbx_http_req base = {.safe = 1};
	ProtobufCMessage *m = NULL;
	res = sbx_pb_call(c, rt, &q.base, NULL, &base, &m, err);
	if (res == SBX_OK)
		res = sbx_processes_from_pb(m, out, n, err);
	wire_message_free(m);
	return res;
}

#define NO_STDIN "the service has no stdin for processes (no extension, and no StreamExec reachable)"

/* On a service without the extension: the streamed process pid, or an
 * answer (*res) why there is none. The table's entries live until
 * client_free, so p stays valid without fb_mu. */
static sbx_fb_proc *gs_find(sbx_client *c, const char *sandbox_id, int64_t pid, const char *what, sbx_result *res,
                            sbx_error *err)
{
	pthread_mutex_lock(&c->fb_mu);
	sbx_fb_proc *p = sbx_fb_find(c, sandbox_id, pid);
	if (!p)
		*res = fb_missing(sandbox_id, pid, err);
	else if (!p->gs)
		*res = sbx_fail(err, SBX_E_UNSUPPORTED, "%s", what);
	else if (p->done) {
		*res = sbx_fail(err, SBX_E_PRECONDITION, "process %lld has exited", (long long)pid);
		if (err)
			snprintf(err->reason, sizeof err->reason, "CWSANDBOX_PROCESS_EXITED");
	} else
		*res = SBX_OK;
	pthread_mutex_unlock(&c->fb_mu);
	return *res == SBX_OK ? p : NULL;
}

static sbx_result stdin_closed_err(sbx_error *err)
{
	sbx_result r = sbx_fail(err, SBX_E_PRECONDITION, "stdin is closed");
	if (err)
		snprintf(err->reason, sizeof err->reason, "CWSANDBOX_STDIN_CLOSED");
	return r;
}

/* stdin over StreamExec: 1 MiB messages, each waiting for the previous to
 * leave (the stream's window is the backpressure). */
static sbx_result gs_write_stdin(sbx_client *c, sbx_fb_proc *p, const void *data, size_t len, int retry,
                                 sbx_error *err)
{
	if (!p->req->stdin_on || __atomic_load_n(&p->stdin_closed, __ATOMIC_RELAXED))
		return stdin_closed_err(err);
	size_t done = 0;
	sbx_result res = SBX_OK;
	while (res == SBX_OK && done < len) {
		size_t n = len - done;
		if (n > ((size_t)1 << 20))
			n = (size_t)1 << 20;
		res = sbx_grpc_exec_stdin(p->gs, (const char *)data + done, n, retry ? c->cfg->total_ms : 0, err);
		if (res == SBX_OK)
			done += n;
	}
	/* a part went: the writer sees a short write, not a failure */
	return done > 0 && res == SBX_E_EXHAUSTED && !retry ? SBX_OK : res;
}

/* A stdin write refused for back-pressure: 429 RESOURCE_EXHAUSTED, which
 * sbxd answers before taking any byte of the request (docs/api.md). */
static int stdin_full(sbx_result r, const sbx_error *e)
{
	return r == SBX_E_EXHAUSTED && e->http_status == 429;
}

static sbx_result write_stdin(sbx_client *c, const char *sandbox_id, int64_t pid, const void *data, size_t len,
                              int retry, sbx_error *err)
{
	sbx_result res;
	char *path = NULL;
	const wire_route *rt;
	int fb = 0;
	if ((res = check_proc(sandbox_id, pid, err)) != SBX_OK || (res = sbx_use_fallback(c, &fb, err)) != SBX_OK)
		return res;
	if (fb) {
		sbx_fb_proc *p = gs_find(c, sandbox_id, pid, NO_STDIN, &res, err);
		return p ? gs_write_stdin(c, p, data, len, retry, err) : res;
	}
	if ((res = sbx_pb_ext_route("WriteStdin", &rt, err)) != SBX_OK)
		return res;
	/* The body is the raw bytes: the request message gives the path. */
	Sbxd__Ext__V1__WriteStdinRequest q = SBXD__EXT__V1__WRITE_STDIN_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.process_id = pid;
	if ((res = sbx_pb_raw_path(rt, &q.base, NULL, &path, err)) != SBX_OK)
		return res;
	size_t done = 0;
	sbx_error tmp;
	if (!err)
		err = &tmp;
	int64_t deadline = sbx_now_ms() + c->cfg->total_ms;
	long delay = 20;
	/* sbxd takes at most 1 MiB a request. */
	for (;;) {
		size_t n = len - done;
		if (n > ((size_t)1 << 20))
			n = (size_t)1 << 20;
		sbx_http_req req = {.method = "POST", .path = path, .body = (const char *)data + done, .body_len = n, .octet = 1};
		res = sbx_http_json(c, &req, NULL, err);
		if (retry && stdin_full(res, err)) {
			/* Nothing of this piece was written: send it again once the
			 * process has read some, within the call's deadline. */
			long d = err->retry_delay_ms >= 0 ? err->retry_delay_ms : delay;
			if (d < 1)
				d = 1;
			if (d > 1000)
				d = 1000;
			if (sbx_now_ms() + d < deadline) {
				sbx_sleep_ms(d);
				if (delay < 500)
					delay *= 2;
				continue;
			}
		}
		if (res != SBX_OK)
			break;
		done += n;
		if (done >= len)
			break;
		delay = 20;
		deadline = sbx_now_ms() + c->cfg->total_ms;
	}
	free(path);
	return res;
}

sbx_result sbx_process_write_stdin(sbx_client *c, const char *sandbox_id, int64_t pid, const void *data, size_t len,
                                   sbx_error *err)
{
	return write_stdin(c, sandbox_id, pid, data, len, 1, err);
}

sbx_result sbx_process_try_write_stdin(sbx_client *c, const char *sandbox_id, int64_t pid, const void *data,
                                       size_t len, sbx_error *err)
{
	return write_stdin(c, sandbox_id, pid, data, len, 0, err);
}

sbx_result sbx_process_close_stdin(sbx_client *c, const char *sandbox_id, int64_t pid, sbx_error *err)
{
	sbx_result res;
	const wire_route *rt;
	int fb = 0;
	if ((res = check_proc(sandbox_id, pid, err)) != SBX_OK || (res = sbx_use_fallback(c, &fb, err)) != SBX_OK)
		return res;
	if (fb) {
		sbx_fb_proc *p = gs_find(c, sandbox_id, pid, NO_STDIN, &res, err);
		if (!p)
			return res;
		if (!p->req->stdin_on || __atomic_exchange_n(&p->stdin_closed, 1, __ATOMIC_RELAXED))
			return SBX_OK; /* closing twice is fine, as with sbxd */
		return sbx_grpc_exec_close(p->gs, c->cfg->total_ms, err);
	}
	if ((res = sbx_pb_ext_route("CloseStdin", &rt, err)) != SBX_OK)
		return res;
	Sbxd__Ext__V1__CloseStdinRequest q = SBXD__EXT__V1__CLOSE_STDIN_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.process_id = pid;
	sbx_http_req base = {.safe = 1};
	return sbx_pb_call(c, rt, &q.base, NULL, &base, NULL, err);
}

sbx_result sbx_process_signal(sbx_client *c, const char *sandbox_id, int64_t pid, int signo, sbx_error *err)
{
	sbx_result res;
	const wire_route *rt;
	if ((res = check_proc(sandbox_id, pid, err)) != SBX_OK)
		return res;
	if (signo < 1 || signo > 64)
		return sbx_fail(err, SBX_E_INVALID, "bad signal number %d", signo);
	int fb = 0;
	if ((res = sbx_use_fallback(c, &fb, err)) != SBX_OK)
		return res;
	if (fb) {
		sbx_fb_proc *p = gs_find(c, sandbox_id, pid, "the service cannot signal processes", &res, err);
		if (!p)
			return res;
		/* StreamExec has no signal; its cancel ends the command with
		 * SIGKILL (the managed service's rule, sbxd's too). */
		if (signo != 9)
			return sbx_fail(err, SBX_E_UNSUPPORTED,
			                "StreamExec cannot send signal %d; only kill 9 (the stream's end)", signo);
		pthread_mutex_lock(&c->fb_mu);
		p->killed = 1;
		pthread_mutex_unlock(&c->fb_mu);
		sbx_grpc_exec_cancel(p->gs);
		return SBX_OK;
	}
	if ((res = sbx_pb_ext_route("SignalProcess", &rt, err)) != SBX_OK)
		return res;
	Sbxd__Ext__V1__SignalProcessRequest q = SBXD__EXT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.process_id = pid;
	q.signal = signo;
	/* not retried: a second signal is a second signal */
	return sbx_pb_call(c, rt, &q.base, NULL, NULL, NULL, err);
}

/* ------------------------------------------------------------ output */

char *sbx_output_path(const char *sandbox_id, int64_t pid, sbx_stream s, int64_t offset, size_t maxlen,
                      int wait_seconds)
{
	const char *rpc = pid == SBX_MAIN ? (s == SBX_STDERR ? "ReadStderr" : "ReadStdout")
	                                  : (s == SBX_STDERR ? "ReadProcessStderr" : "ReadProcessStdout");
	const wire_route *rt = wire_ext_route_find(rpc);
	if (!rt || !sandbox_id)
		return NULL;
	if (maxlen > SBX_MAX_READ)
		maxlen = SBX_MAX_READ;
	Sbxd__Ext__V1__ReadOutputRequest q = SBXD__EXT__V1__READ_OUTPUT_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.process_id = pid;
	q.offset = offset;
	q.length = (int64_t)maxlen;
	q.wait_seconds = wait_seconds > 0 ? wait_seconds : 0;
	char *path = NULL;
	if (sbx_pb_raw_path(rt, &q.base, NULL, &path, NULL) != SBX_OK)
		return NULL;
	return path;
}

void sbx_output_chunk(const sbx_http_resp *resp, int64_t offset, const void *data, size_t len, sbx_chunk *chunk)
{
	chunk->data = data;
	chunk->len = len;
	chunk->offset = resp->have_offset ? resp->x_offset : offset;
	chunk->size = resp->have_size ? resp->x_size : chunk->offset + (int64_t)len;
	chunk->eof = resp->have_eof ? resp->x_eof : 0;
}

sbx_result sbx_output_read(sbx_client *c, const char *sandbox_id, int64_t pid, sbx_stream s, int64_t offset, void *buf,
                           size_t maxlen, int wait_seconds, sbx_chunk *chunk, sbx_error *err)
{
	sbx_result res;
	memset(chunk, 0, sizeof *chunk);
	chunk->data = buf;
	if ((res = sbx_check_sandbox_id(sandbox_id, err)) != SBX_OK)
		return res;
	if (pid < 0 || offset < 0 || !buf || maxlen == 0 || (s != SBX_STDOUT && s != SBX_STDERR))
		return sbx_fail(err, SBX_E_INVALID, "bad output read arguments");
	if (maxlen > SBX_MAX_READ)
		maxlen = SBX_MAX_READ;
	if (wait_seconds > SBX_MAX_WAIT)
		wait_seconds = SBX_MAX_WAIT;
	if (wait_seconds < 0)
		wait_seconds = 0;
	unsigned f = 0;
	if ((res = sbx_client_features(c, &f, err)) != SBX_OK)
		return res;
	if (pid != SBX_MAIN && !(f & SBX_FEAT_PROCESSES)) {
		pthread_mutex_lock(&c->fb_mu);
		sbx_fb_proc *p = sbx_fb_find(c, sandbox_id, pid);
		if (p) {
			fb_wait(c, p, (int)s, offset, wait_seconds);
			if ((res = sbx_fb_stream_error(p, s, offset, err)) == SBX_OK)
				sbx_fb_read(p, s, offset, buf, maxlen, chunk);
		} else {
			res = fb_missing(sandbox_id, pid, err);
		}
		pthread_mutex_unlock(&c->fb_mu);
		return res;
	}
	if (!(f & SBX_FEAT_OUTPUT)) {
		if (s == SBX_STDERR)
			return sbx_fail(err, SBX_E_UNSUPPORTED, SBX_MSG_NO_MAIN_STDERR);
		pthread_mutex_lock(&c->fb_mu);
		sbx_fb_proc *p = NULL;
		res = sbx_fb_logs(c, sandbox_id, &p, err);
		if (res == SBX_OK) {
			fb_wait(c, p, (int)s, offset, wait_seconds);
			if ((res = sbx_fb_logs_error(p, err)) == SBX_OK)
				sbx_fb_read(p, s, offset, buf, maxlen, chunk);
		} else if (res == SBX_E_UNAVAILABLE) {
			res = sbx_fail(err, SBX_E_UNSUPPORTED, "the service cannot stream the main command's output");
		}
		pthread_mutex_unlock(&c->fb_mu);
		return res;
	}
	char *path = sbx_output_path(sandbox_id, pid, s, offset, maxlen, wait_seconds);
	if (!path)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	sbx_http_resp resp;
	sbx_http_resp_init(&resp, (size_t)1 << 20);
	sbx_http_req req = {.method = "GET", .path = path, .safe = 1, .wait_ms = wait_seconds * 1000L,
	                    .out_buf = buf, .out_cap = maxlen, .recv_buffer = sbx_recv_buffer_for(maxlen)};
	res = sbx_http_call(c, &req, &resp, err);
	if (res == SBX_OK)
		sbx_output_chunk(&resp, offset, buf, resp.out_len, chunk);
	sbx_http_resp_free(&resp);
	free(path);
	return res;
}

/* ------------------------------------------------------------ exec */

void sbx_exec_result_free(sbx_exec_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->errout);
	free(r);
}

sbx_result sbx_exec_abortable(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, int64_t max_output_bytes,
                              sbx_exec_result **out, sbx_error *err, const int *abort_flag)
{
	sbx_result res;
	const wire_route *rt;
	ProtobufCMessage *m = NULL;
	*out = NULL;
	if ((res = sbx_check_sandbox_id(sandbox_id, err)) != SBX_OK)
		return res;
	if (!r || !r->argv || !r->argv[0])
		return sbx_fail(err, SBX_E_INVALID, "empty command");
	/* The real Exec has neither (wire.md section 4): never a command
	 * that quietly runs without its limit or its input. */
	if (r->timeout > 0)
		return sbx_fail(err, SBX_E_UNSUPPORTED, SBX_MSG_NO_TIMEOUT);
	if (r->stdin_on)
		return sbx_fail(err, SBX_E_UNSUPPORTED, SBX_MSG_NO_STDIN);
	if ((res = sbx_pb_route("Exec", &rt, err)) != SBX_OK)
		return res;
	if (max_output_bytes > INT32_MAX)
		max_output_bytes = INT32_MAX;
	sbx_exec_pb p;
	if ((res = sbx_exec_req_to_pb(r, sandbox_id, (int32_t)(max_output_bytes > 0 ? max_output_bytes : 0), &p, err)) !=
	    SBX_OK)
		return res;
	/* The call lasts as long as the command: an hour at most. */
	sbx_http_req base = {.wait_ms = 3600L * 1000, .abort_flag = abort_flag};
	res = sbx_pb_call(c, rt, &p.req.base, NULL, &base, &m, err);
	if (res == SBX_OK)
		res = sbx_exec_result_from_pb(m, out, err);
	wire_message_free(m);
	sbx_exec_pb_free(&p);
	return res;
}

sbx_result sbx_exec(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, int64_t max_output_bytes,
                    sbx_exec_result **out, sbx_error *err)
{
	return sbx_exec_abortable(c, sandbox_id, r, max_output_bytes, out, err, NULL);
}
