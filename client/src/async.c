/*
 * The asynchronous interface of libsbx (see sbx.h): one loop thread per
 * sbx_async drives curl's multi API, so thousands of long-polls wait at
 * once on one thread, each with its own keep-alive connection from the
 * multi's cache. Submissions and cancels come from any thread through a
 * queue guarded by a mutex, and curl_multi_wakeup interrupts the poll.
 * Waits on fallback processes (a service without the process extension)
 * are "local" ops that the loop completes when the client's fallback table
 * changes or their wait runs out.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "extension.pb-c.h"
#include "json.h"
#include "pb.h"
#include "sandbox.pb-c.h"
#include "proc.h"
#include "util.h"

#define POOL_MAX 64

typedef enum { OP_OUTPUT, OP_PROCESS, OP_SANDBOX, OP_MANY } op_kind;

struct sbx_op {
	sbx_http_req req;          /* first: curl's PRIVATE points here */
	sbx_http_resp resp;
	sbx_op *next, *prev;       /* loop-thread list of ops in flight */
	sbx_op *qnext;             /* submit queue */
	op_kind kind;
	char *sandbox;
	int64_t pid;
	sbx_stream stream;
	int64_t offset;
	size_t maxlen;
	int wait;
	union {
		sbx_output_cb output;
		sbx_process_cb process;
		sbx_sandbox_cb sandbox;
		sbx_exits_cb many;
	} cb;
	char *body;                /* OP_MANY: the POST body */
	void *ud;
	int cancel;                /* under a->mu */
	int started;               /* callback started; under a->mu */
	int local;                 /* answered from the fallback table */
	int64_t deadline_ms;       /* local ops: when the wait ends */
	int64_t start_ms;          /* submission, for the retry budget */
	int attempt;               /* HTTP attempts made */
	int delayed;               /* waiting to be retried at retry_at */
	int64_t retry_at;
	int64_t gone_ms;           /* long-polls: when the service first went away */
	CURL *easy;
	char *url, *path;
};

struct sbx_async_link {
	sbx_async_link *next;
	sbx_async *a;
};

struct sbx_async {
	sbx_client *c;
	CURLM *multi;
	pthread_t th;
	int th_started;
	pthread_mutex_t mu;
	sbx_op *qhead, *qtail;     /* under mu */
	int ncancel;               /* under mu */
	int stop;                  /* under mu */
	int fb_changed;            /* atomic: the fallback table changed */
	sbx_op *active;            /* loop thread only */
	size_t nlocal;             /* loop thread only */
	size_t ndelayed;           /* loop thread only */
	CURL *pool[POOL_MAX];      /* loop thread only */
	size_t npool;
	sbx_async_link link;
};

void sbx_async_notify(sbx_client *c)
{
	pthread_mutex_lock(&c->fb_mu);
	for (sbx_async_link *l = c->asyncs; l; l = l->next) {
		__atomic_store_n(&l->a->fb_changed, 1, __ATOMIC_RELEASE);
		curl_multi_wakeup(l->a->multi);
	}
	pthread_mutex_unlock(&c->fb_mu);
}

static void op_free(sbx_op *op)
{
	if (!op)
		return;
	sbx_http_resp_free(&op->resp);
	free(op->sandbox);
	free(op->url);
	free(op->path);
	free(op->body);
	free(op);
}

static void list_add(sbx_async *a, sbx_op *op)
{
	op->prev = NULL;
	op->next = a->active;
	if (a->active)
		a->active->prev = op;
	a->active = op;
}

static void list_del(sbx_async *a, sbx_op *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else if (a->active == op)
		a->active = op->next;
	if (op->next)
		op->next->prev = op->prev;
	op->next = op->prev = NULL;
}

static void easy_release(sbx_async *a, sbx_op *op)
{
	if (!op->easy)
		return;
	curl_multi_remove_handle(a->multi, op->easy);
	if (a->npool < POOL_MAX) {
		curl_easy_reset(op->easy);
		a->pool[a->npool++] = op->easy;
	} else {
		curl_easy_cleanup(op->easy);
	}
	op->easy = NULL;
}

/* Runs the callback once and frees the op. The payload pointers are valid
 * only during the call. */
static void complete(sbx_async *a, sbx_op *op, sbx_result r, const sbx_error *err, const void *payload)
{
	pthread_mutex_lock(&a->mu);
	op->started = 1;
	pthread_mutex_unlock(&a->mu);
	if (r == SBX_OK)
		err = NULL;
	switch (op->kind) {
	case OP_OUTPUT:
		op->cb.output(op->ud, r, err, payload);
		break;
	case OP_PROCESS:
		op->cb.process(op->ud, r, err, payload);
		break;
	case OP_SANDBOX:
		op->cb.sandbox(op->ud, r, err, payload);
		break;
	case OP_MANY:
		op->cb.many(op->ud, r, err, payload);
		break;
	}
	op_free(op);
}

static void complete_error(sbx_async *a, sbx_op *op, sbx_result r, const sbx_error *err)
{
	complete(a, op, r, err, NULL);
}

static void complete_cancelled(sbx_async *a, sbx_op *op)
{
	sbx_error e;
	sbx_fail(&e, SBX_E_CANCELLED, "cancelled");
	complete_error(a, op, SBX_E_CANCELLED, &e);
}

/* A local op: answers from the fallback table when the process is done or
 * the wait is over. Returns 1 when it completed. */
static int local_try(sbx_async *a, sbx_op *op, int64_t now)
{
	sbx_client *c = a->c;
	sbx_error e;
	sbx_error_clear(&e);
	if (op->pid == SBX_MAIN && op->stream == SBX_STDERR) {
		sbx_fail(&e, SBX_E_UNSUPPORTED, SBX_MSG_NO_MAIN_STDERR);
		complete_error(a, op, SBX_E_UNSUPPORTED, &e);
		return 1;
	}
	pthread_mutex_lock(&c->fb_mu);
	sbx_fb_proc *p = NULL;
	if (op->pid == SBX_MAIN) {
		/* The main command's output without the "output" extension:
		 * StreamLogs (docs/filesystem.md). */
		sbx_result r = sbx_fb_logs(c, op->sandbox, &p, &e);
		if (r == SBX_OK)
			r = sbx_fb_logs_error(p, &e);
		if (r != SBX_OK) {
			pthread_mutex_unlock(&c->fb_mu);
			complete_error(a, op, r == SBX_E_UNAVAILABLE ? SBX_E_UNSUPPORTED : r, &e);
			return 1;
		}
	} else {
		p = sbx_fb_find(c, op->sandbox, op->pid);
	}
	if (!p) {
		pthread_mutex_unlock(&c->fb_mu);
		sbx_fail(&e, SBX_E_NOT_FOUND, "process %lld of sandbox %s not found", (long long)op->pid, op->sandbox);
		snprintf(e.reason, sizeof e.reason, "CWSANDBOX_PROCESS_NOT_FOUND");
		complete_error(a, op, SBX_E_NOT_FOUND, &e);
		return 1;
	}
	if (!sbx_fb_ready(p, op->kind == OP_PROCESS ? -1 : (int)op->stream, op->offset) && now < op->deadline_ms) {
		pthread_mutex_unlock(&c->fb_mu);
		return 0;
	}
	if (op->kind == OP_PROCESS) {
		sbx_process *snap = NULL;
		/* a broken stream: the exit is unknown, the wait fails (as
		 * the extension's long-poll fails when the service does) */
		sbx_result r = sbx_fb_exit_error(p, &e);
		if (r == SBX_OK)
			r = sbx_fb_snapshot(p, &snap, &e);
		pthread_mutex_unlock(&c->fb_mu);
		complete(a, op, r, &e, snap);
		sbx_process_free(snap);
		return 1;
	}
	sbx_chunk ch;
	void *buf = malloc(op->maxlen ? op->maxlen : 1);
	if (!buf) {
		pthread_mutex_unlock(&c->fb_mu);
		sbx_fail(&e, SBX_E_NOMEM, "out of memory");
		complete_error(a, op, SBX_E_NOMEM, &e);
		return 1;
	}
	sbx_result br = sbx_fb_stream_error(p, op->stream, op->offset, &e);
	if (br != SBX_OK) {
		pthread_mutex_unlock(&c->fb_mu);
		free(buf);
		complete_error(a, op, br, &e);
		return 1;
	}
	sbx_fb_read(p, op->stream, op->offset, buf, op->maxlen, &ch);
	pthread_mutex_unlock(&c->fb_mu);
	complete(a, op, SBX_OK, NULL, &ch);
	free(buf);
	return 1;
}

static void start(sbx_async *a, sbx_op *op)
{
	sbx_error e;
	if (op->local) {
		list_add(a, op);
		a->nlocal++;
		/* Look at once: what it waits for may have happened before
		 * it came (a process that ended, output already in), and no
		 * later wake-up would come for it. */
		__atomic_store_n(&a->fb_changed, 1, __ATOMIC_RELEASE);
		return;
	}
	CURL *easy = a->npool ? a->pool[--a->npool] : curl_easy_init();
	if (!easy) {
		sbx_fail(&e, SBX_E_NOMEM, "out of memory");
		complete_error(a, op, SBX_E_NOMEM, &e);
		return;
	}
	op->easy = easy;
	op->attempt++;
	free(op->url);
	op->url = NULL;
	size_t max = op->resp.body.max;
	sbx_http_resp_free(&op->resp);
	sbx_http_resp_init(&op->resp, max);
	sbx_result r = sbx_http_setup(a->c, easy, &op->req, &op->resp, &op->url, op->start_ms, &e);
	if (r == SBX_OK && curl_multi_add_handle(a->multi, easy) != CURLM_OK)
		r = sbx_fail(&e, SBX_E_INTERNAL, "cannot add a transfer to the loop");
	if (r != SBX_OK) {
		curl_easy_cleanup(easy);
		op->easy = NULL;
		complete_error(a, op, r, &e);
		return;
	}
	list_add(a, op);
}

/* A long-poll whose service went away (nothing listens, or the
 * connection was cut without an answer) is asked again every
 * GONE_RETRY_MS while the client's deadline (total_ms) has not passed
 * since the first such failure: a restart of the service, which sbxd's
 * sandboxes outlive (live restore), is waited through, and a service that
 * stays away still gets its error within the deadline. -1: not that case,
 * or past the deadline. */
#define GONE_RETRY_MS 200
static long gone_delay(sbx_async *a, sbx_op *op, sbx_result r)
{
	if (op->wait <= 0 || (r != SBX_E_CONNREFUSED && r != SBX_E_PROTOCOL && r != SBX_E_NETWORK)) {
		op->gone_ms = 0;
		return -1;
	}
	int64_t now = sbx_now_ms();
	if (!op->gone_ms)
		op->gone_ms = now;
	return now - op->gone_ms + GONE_RETRY_MS < a->c->cfg->total_ms ? GONE_RETRY_MS : -1;
}

/* A waitProcesses answer, decoded and handed over as an sbx_exits. */
static void finish_many(sbx_async *a, sbx_op *op)
{
	sbx_error e;
	sbx_error_clear(&e);
	ProtobufCMessage *m = NULL;
	sbx_result r = sbx_pb_answer(&sbxd__ext__v1__wait_processes_response__descriptor, op->resp.body.data,
	                             op->resp.body.len, &m, &e);
	const Sbxd__Ext__V1__WaitProcessesResponse *w = (const void *)m;
	size_t ne = r == SBX_OK ? w->n_ended : 0, nm = r == SBX_OK ? w->n_not_found : 0;
	sbx_process **procs = calloc(ne ? ne : 1, sizeof *procs);
	const char **sids = calloc(ne ? ne : 1, sizeof *sids);
	sbx_proc_ref *miss = calloc(nm ? nm : 1, sizeof *miss);
	if (r == SBX_OK && (!procs || !sids || !miss))
		r = sbx_fail(&e, SBX_E_NOMEM, "out of memory");
	for (size_t i = 0; r == SBX_OK && i < ne; i++) {
		const Sbxd__Ext__V1__ProcessExit *x = w->ended[i];
		if (!x->sandbox_id || !x->process) {
			r = sbx_fail(&e, SBX_E_PROTOCOL, "waitProcesses: an ended entry without its sandbox or process");
			break;
		}
		sids[i] = x->sandbox_id;
		r = sbx_process_from_pb(&x->process->base, &procs[i], &e);
	}
	for (size_t i = 0; r == SBX_OK && i < nm; i++) {
		miss[i].sandbox_id = w->not_found[i]->sandbox_id ? w->not_found[i]->sandbox_id : "";
		miss[i].pid = w->not_found[i]->process_id;
	}
	if (r == SBX_OK) {
		sbx_exits x = {ne, sids, (const sbx_process *const *)procs, nm, miss};
		complete(a, op, SBX_OK, NULL, &x);
	} else {
		e.http_status = op->resp.status;
		complete_error(a, op, r, &e);
	}
	for (size_t i = 0; procs && i < ne; i++)
		sbx_process_free(procs[i]);
	free(procs);
	free(sids);
	free(miss);
	wire_message_free(m);
}

static void finish_http(sbx_async *a, sbx_op *op, CURLcode cc)
{
	sbx_error e;
	sbx_error_clear(&e);
	sbx_result r = sbx_http_finish(a->c, op->easy, (int)cc, &op->req, &op->resp, &e);
	easy_release(a, op);
	list_del(a, op);
	long delay = r == SBX_OK ? -1 : gone_delay(a, op, r);
	if (delay >= 0)
		op->start_ms = sbx_now_ms() + delay; /* the next long-poll has its whole budget */
	else if (r != SBX_OK)
		delay = sbx_http_retry_delay(a->c, &op->req, op->attempt, op->start_ms, r, &e);
	if (delay >= 0) {
		op->delayed = 1;
		op->retry_at = sbx_now_ms() + delay;
		a->ndelayed++;
		list_add(a, op);
		return;
	}
	if (r != SBX_OK) {
		complete_error(a, op, r, &e);
		return;
	}
	if (op->kind == OP_OUTPUT) {
		if (op->resp.body.len > op->maxlen) {
			sbx_fail(&e, SBX_E_PROTOCOL, "the service sent more output than asked for");
			complete_error(a, op, SBX_E_PROTOCOL, &e);
			return;
		}
		sbx_chunk ch;
		if (op->req.out_buf)
			sbx_output_chunk(&op->resp, op->offset, op->req.out_buf, op->resp.out_len, &ch);
		else
			sbx_output_chunk(&op->resp, op->offset, op->resp.body.data ? op->resp.body.data : "",
			                 op->resp.body.len, &ch);
		complete(a, op, SBX_OK, NULL, &ch);
		return;
	}
	if (op->kind == OP_MANY) {
		finish_many(a, op);
		return;
	}
	if (op->kind == OP_SANDBOX) {
		sbx_sandbox *sb = NULL;
		r = sbx_sandbox_from_text(op->resp.body.data, op->resp.body.len, &sb, &e);
		if (r != SBX_OK)
			e.http_status = op->resp.status;
		complete(a, op, r, &e, sb);
		sbx_sandbox_free(sb);
		return;
	}
	sbx_process *p = NULL;
	r = sbx_process_from_text(op->resp.body.data, op->resp.body.len, &p, &e);
	if (r != SBX_OK)
		e.http_status = op->resp.status;
	complete(a, op, r, &e, p);
	sbx_process_free(p);
}

static void *loop(void *arg)
{
	sbx_async *a = arg;
	for (;;) {
		pthread_mutex_lock(&a->mu);
		sbx_op *q = a->qhead;
		a->qhead = a->qtail = NULL;
		int stop = a->stop;
		int ncancel = a->ncancel;
		a->ncancel = 0;
		pthread_mutex_unlock(&a->mu);
		if (stop) {
			/* Ops still queued go back for sbx_async_free to cancel. */
			pthread_mutex_lock(&a->mu);
			if (q) {
				sbx_op *t = q;
				while (t->qnext)
					t = t->qnext;
				t->qnext = a->qhead;
				a->qhead = q;
				if (!a->qtail)
					a->qtail = t;
			}
			pthread_mutex_unlock(&a->mu);
			break;
		}
		while (q) {
			sbx_op *next = q->qnext;
			q->qnext = NULL;
			pthread_mutex_lock(&a->mu);
			int cancelled = q->cancel;
			pthread_mutex_unlock(&a->mu);
			if (cancelled)
				complete_cancelled(a, q);
			else
				start(a, q);
			q = next;
		}
		if (ncancel) {
			for (sbx_op *op = a->active, *next; op; op = next) {
				next = op->next;
				pthread_mutex_lock(&a->mu);
				int cancelled = op->cancel;
				pthread_mutex_unlock(&a->mu);
				if (!cancelled)
					continue;
				easy_release(a, op);
				list_del(a, op);
				if (op->local)
					a->nlocal--;
				if (op->delayed)
					a->ndelayed--;
				complete_cancelled(a, op);
			}
		}
		int running = 0;
		curl_multi_perform(a->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(a->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			char *priv = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
			sbx_op *op = (sbx_op *)(void *)(priv - offsetof(sbx_op, req));
			finish_http(a, op, m->data.result);
		}
		long timeout = 1000;
		if (a->ndelayed) {
			int64_t now = sbx_now_ms();
			for (sbx_op *op = a->active, *next; op; op = next) {
				next = op->next;
				if (!op->delayed)
					continue;
				if (op->retry_at <= now) {
					op->delayed = 0;
					a->ndelayed--;
					list_del(a, op);
					start(a, op);
					timeout = 0;   /* let curl_multi_perform drive it now */
				} else if (op->retry_at - now < timeout) {
					timeout = (long)(op->retry_at - now);
				}
			}
		}
		if (a->nlocal) {
			int changed = __atomic_exchange_n(&a->fb_changed, 0, __ATOMIC_ACQ_REL);
			int64_t now = sbx_now_ms();
			for (sbx_op *op = a->active, *next; op; op = next) {
				next = op->next;
				if (!op->local)
					continue;
				if (changed || now >= op->deadline_ms) {
					list_del(a, op);
					if (local_try(a, op, now)) {
						a->nlocal--;
						continue;
					}
					list_add(a, op);
				}
				if (op->deadline_ms - now < timeout)
					timeout = (long)(op->deadline_ms - now);
			}
		}
		if (timeout < 0)
			timeout = 0;
		curl_multi_poll(a->multi, NULL, 0, (int)timeout, NULL);
	}
	return NULL;
}

sbx_result sbx_async_new(sbx_client *c, sbx_async **out, sbx_error *err)
{
	*out = NULL;
	if (!c)
		return sbx_fail(err, SBX_E_INVALID, "no client");
	sbx_async *a = calloc(1, sizeof *a);
	if (!a)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	a->c = c;
	pthread_mutex_init(&a->mu, NULL);
	a->multi = curl_multi_init();
	if (!a->multi) {
		free(a);
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	/* One connection per long-poll: no cap per host or in all (a unix
	 * socket has no port limit). The cache is 8 connections: once more
	 * are in use, each that ends is closed rather than kept idle, so a
	 * burst of waits (a mount's 8 batched calls and their restarts)
	 * leaves no descriptors behind (issue 14: <= 16 for 10,000 waits);
	 * this is not a cap on connections in use. */
	curl_multi_setopt(a->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	curl_multi_setopt(a->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
	curl_multi_setopt(a->multi, CURLMOPT_MAXCONNECTS, 8L);
	a->link.a = a;
	pthread_mutex_lock(&c->fb_mu);
	a->link.next = c->asyncs;
	c->asyncs = &a->link;
	pthread_mutex_unlock(&c->fb_mu);
	if (pthread_create(&a->th, NULL, loop, a) != 0) {
		sbx_async_free(a);
		return sbx_fail(err, SBX_E_NOMEM, "cannot start the loop thread");
	}
	a->th_started = 1;
	*out = a;
	return SBX_OK;
}

void sbx_async_free(sbx_async *a)
{
	if (!a)
		return;
	if (a->th_started) {
		pthread_mutex_lock(&a->mu);
		a->stop = 1;
		pthread_mutex_unlock(&a->mu);
		curl_multi_wakeup(a->multi);
		pthread_join(a->th, NULL);
	}
	sbx_client *c = a->c;
	pthread_mutex_lock(&c->fb_mu);
	for (sbx_async_link **l = &c->asyncs; *l; l = &(*l)->next) {
		if (*l == &a->link) {
			*l = a->link.next;
			break;
		}
	}
	pthread_mutex_unlock(&c->fb_mu);
	while (a->active) {
		sbx_op *op = a->active;
		easy_release(a, op);
		list_del(a, op);
		complete_cancelled(a, op);
	}
	while (a->qhead) {
		sbx_op *op = a->qhead;
		a->qhead = op->qnext;
		complete_cancelled(a, op);
	}
	for (size_t i = 0; i < a->npool; i++)
		curl_easy_cleanup(a->pool[i]);
	curl_multi_cleanup(a->multi);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

static sbx_op *op_new(sbx_async *a, op_kind kind, const char *sandbox_id, int wait)
{
	if (!a || !sbx_id_ok(sandbox_id))
		return NULL;
	sbx_op *op = calloc(1, sizeof *op);
	if (!op)
		return NULL;
	op->kind = kind;
	op->wait = wait < 0 ? 0 : wait > SBX_MAX_WAIT ? SBX_MAX_WAIT : wait;
	op->sandbox = strdup(sandbox_id);
	if (!op->sandbox) {
		free(op);
		return NULL;
	}
	sbx_http_resp_init(&op->resp, a->c->cfg->max_response);
	op->req.method = "GET";
	op->req.safe = 1;
	op->req.wait_ms = op->wait * 1000L;
	op->start_ms = sbx_now_ms();
	op->deadline_ms = op->start_ms + op->wait * 1000L;
	return op;
}

static sbx_op *submit(sbx_async *a, sbx_op *op)
{
	pthread_mutex_lock(&a->mu);
	if (a->stop) {
		pthread_mutex_unlock(&a->mu);
		op_free(op);
		return NULL;
	}
	if (a->qtail)
		a->qtail->qnext = op;
	else
		a->qhead = op;
	a->qtail = op;
	pthread_mutex_unlock(&a->mu);
	curl_multi_wakeup(a->multi);
	return op;
}

/* Which path an op takes; a failed probe means "ask the service", whose
 * answer (an error) then reaches the callback. */
static unsigned feats(sbx_async *a)
{
	unsigned f = SBX_FEAT_PROCESSES | SBX_FEAT_OUTPUT;
	if (sbx_client_features(a->c, &f, NULL) != SBX_OK)
		f = SBX_FEAT_PROCESSES | SBX_FEAT_OUTPUT;
	return f;
}

/* Submits an op that asks the service at path (taken); a NULL path is out
 * of memory: the op goes and the caller gets NULL. */
static sbx_op *submit_path(sbx_async *a, sbx_op *op, char *path)
{
	if (!path) {
		op_free(op);
		return NULL;
	}
	op->path = path;
	op->req.path = path;
	return submit(a, op);
}

sbx_op *sbx_async_output_read(sbx_async *a, const char *sandbox_id, int64_t pid, sbx_stream s, int64_t offset,
                              size_t maxlen, int wait_seconds, sbx_output_cb cb, void *ud)
{
	return sbx_async_output_read_into(a, sandbox_id, pid, s, offset, NULL, maxlen, wait_seconds, cb, ud);
}

sbx_op *sbx_async_output_read_into(sbx_async *a, const char *sandbox_id, int64_t pid, sbx_stream s,
                                   int64_t offset, void *buf, size_t maxlen, int wait_seconds, sbx_output_cb cb,
                                   void *ud)
{
	if (!cb || pid < 0 || offset < 0 || maxlen == 0 || (s != SBX_STDOUT && s != SBX_STDERR))
		return NULL;
	sbx_op *op = op_new(a, OP_OUTPUT, sandbox_id, wait_seconds);
	if (!op)
		return NULL;
	op->cb.output = cb;
	op->ud = ud;
	op->pid = pid;
	op->stream = s;
	op->offset = offset;
	op->maxlen = maxlen > SBX_MAX_READ ? SBX_MAX_READ : maxlen;
	unsigned f = feats(a);
	if ((pid != SBX_MAIN && !(f & SBX_FEAT_PROCESSES)) || (pid == SBX_MAIN && !(f & SBX_FEAT_OUTPUT))) {
		op->local = 1;
		return submit(a, op);
	}
	/* Error bodies must fit even for tiny reads. */
	op->resp.body.max = op->maxlen > 65536 ? op->maxlen : 65536;
	/* A 2xx body goes straight into the caller's buffer: no growing
	 * buffer of our own and no copy out of it. */
	op->req.out_buf = buf;
	op->req.out_cap = buf ? op->maxlen : 0;
	op->req.recv_buffer = sbx_recv_buffer_for(op->maxlen);
	return submit_path(a, op, sbx_output_path(sandbox_id, pid, s, offset, op->maxlen, op->wait));
}

sbx_op *sbx_async_process_wait(sbx_async *a, const char *sandbox_id, int64_t pid, int wait_seconds,
                               sbx_process_cb cb, void *ud)
{
	if (!cb || pid < 1)
		return NULL;
	sbx_op *op = op_new(a, OP_PROCESS, sandbox_id, wait_seconds);
	if (!op)
		return NULL;
	op->cb.process = cb;
	op->ud = ud;
	op->pid = pid;
	if (!(feats(a) & SBX_FEAT_PROCESSES)) {
		op->local = 1;
		return submit(a, op);
	}
	const wire_route *r = wire_ext_route_find("GetProcess");
	Sbxd__Ext__V1__GetProcessRequest q = SBXD__EXT__V1__GET_PROCESS_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.process_id = pid;
	q.wait_seconds = op->wait > 0 ? op->wait : 0;
	char *path = NULL, *body = NULL;
	size_t blen = 0;
	if (!r || !sandbox_id || sbx_pb_request(r, &q.base, NULL, &path, &body, &blen, NULL) != SBX_OK) {
		op_free(op);
		return NULL;
	}
	free(body);
	return submit_path(a, op, path);
}

sbx_op *sbx_async_sandbox_wait(sbx_async *a, const char *sandbox_id, int wait_seconds, sbx_sandbox_cb cb, void *ud)
{
	if (!cb)
		return NULL;
	sbx_op *op = op_new(a, OP_SANDBOX, sandbox_id, wait_seconds);
	if (!op)
		return NULL;
	op->cb.sandbox = cb;
	op->ud = ud;
	const wire_route *r = NULL;
	ProtobufCMessage *req;
	Sbxd__Ext__V1__WaitRequest wr = SBXD__EXT__V1__WAIT_REQUEST__INIT;
	Coreweave__Sandbox__V1__GetSandboxRequest gr = COREWEAVE__SANDBOX__V1__GET_SANDBOX_REQUEST__INIT;
	if (op->wait > 0 && (feats(a) & SBX_FEAT_WAIT) && (r = wire_ext_route_find("Wait"))) {
		wr.sandbox_id = (char *)sandbox_id;
		wr.wait_seconds = op->wait;
		req = &wr.base;
	} else {
		/* Without sbxd's :wait the answer is now (GetSandbox); the
		 * caller asks again. */
		op->wait = 0;
		op->req.wait_ms = 0;
		r = wire_route_find("GetSandbox");
		gr.sandbox_id = (char *)sandbox_id;
		req = &gr.base;
	}
	char *path = NULL, *body = NULL;
	size_t blen = 0;
	if (!r || !sandbox_id || sbx_pb_request(r, req, NULL, &path, &body, &blen, NULL) != SBX_OK) {
		op_free(op);
		return NULL;
	}
	free(body);
	return submit_path(a, op, path);
}

sbx_op *sbx_async_processes_wait(sbx_async *a, const sbx_proc_ref *refs, size_t n, int wait_seconds,
                                 sbx_exits_cb cb, void *ud)
{
	if (!cb || !refs || n == 0 || n > SBX_WAIT_MANY_MAX || !(feats(a) & SBX_FEAT_WAIT_MANY))
		return NULL;
	const wire_route *r = wire_ext_route_find("WaitProcesses");
	Sbxd__Ext__V1__ProcessRef *items = calloc(n, sizeof *items);
	Sbxd__Ext__V1__ProcessRef **ptrs = calloc(n, sizeof *ptrs);
	sbx_op *op = op_new(a, OP_MANY, refs[0].sandbox_id, wait_seconds);
	char *path = NULL, *body = NULL;
	size_t blen = 0;
	int ok = r && items && ptrs && op;
	for (size_t i = 0; ok && i < n; i++) {
		if (!sbx_id_ok(refs[i].sandbox_id) || refs[i].pid < 1) {
			ok = 0;
			break;
		}
		sbxd__ext__v1__process_ref__init(&items[i]);
		items[i].sandbox_id = (char *)refs[i].sandbox_id;
		items[i].process_id = refs[i].pid;
		ptrs[i] = &items[i];
	}
	if (ok) {
		Sbxd__Ext__V1__WaitProcessesRequest q = SBXD__EXT__V1__WAIT_PROCESSES_REQUEST__INIT;
		q.n_processes = n;
		q.processes = ptrs;
		q.wait_seconds = op->wait > 0 ? op->wait : 0;
		ok = sbx_pb_request(r, &q.base, NULL, &path, &body, &blen, NULL) == SBX_OK && body;
	}
	free(items);
	free(ptrs);
	if (!ok) {
		free(path);
		free(body);
		op_free(op);
		return NULL;
	}
	op->cb.many = cb;
	op->ud = ud;
	op->body = body;
	op->req.method = "POST";
	op->req.body = body;
	op->req.body_len = blen;
	/* Safe to send again: waiting changes nothing. */
	op->req.safe = 1;
	return submit_path(a, op, path);
}

void sbx_async_cancel(sbx_async *a, sbx_op *op)
{
	if (!a || !op)
		return;
	pthread_mutex_lock(&a->mu);
	int wake = 0;
	if (!op->started && !op->cancel) {
		op->cancel = 1;
		a->ncancel++;
		wake = 1;
	}
	pthread_mutex_unlock(&a->mu);
	if (wake)
		curl_multi_wakeup(a->multi);
}
