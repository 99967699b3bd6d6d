/*
 * Waiters: reads and polls answered from libsbx's event-loop thread (see
 * wait.h). All waiter fields are guarded by one lock that the completion
 * callbacks and the interrupt handler share, which is what makes
 * sbx_async_cancel safe to call (the op is known not to have completed).
 *
 * Waiters are never returned to malloc while the daemon runs: a FUSE
 * interrupt handler may still be called with a waiter pointer just after
 * its request was answered, so a waiter is recycled through a free list and
 * the handler checks that the waiter still belongs to its request.
 */
#include "wait.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "state.h"

typedef enum wkind { W_OUTPUT, W_RC, W_POLL_OUTPUT, W_POLL_RC } wkind;

typedef struct fs_waiter {
	int active;
	wkind kind;
	fuse_req_t req;
	struct fuse_pollhandle *ph;
	fs_handle *h;           /* reads: alive until answered; polls: NULL once released */
	sbx_op *op;
	int interrupted;
	int retries;            /* transient failures re-armed since the last answer */
	int starved;            /* batched: deadlines missed while the service answered others */
	int64_t armed_ms;       /* when the current long-poll was armed */
	uint32_t slot;
	int64_t pid;
	sbx_stream st;
	int64_t off;
	size_t size;
	char id[FS_ID_MAX];
	struct fs_waiter *next;         /* free list / all list */
	struct fs_waiter *all_next;
	/* Shared waits of returncode: one long-poll (a "carrier", no request
	 * of its own) per process, however many readers wait on it. */
	int is_carrier;
	struct fs_waiter *followers;    /* carrier: its readers */
	struct fs_waiter *cnext;        /* carrier: the carriers list */
	struct fs_waiter *carrier;      /* reader: its carrier, NULL once answered */
	struct fs_waiter *fnext;        /* reader: next of the same carrier */
	/* A carrier of a process's returncode against a service with
	 * waitProcesses: it waits in one of a few batched calls instead of a
	 * long-poll of its own (see "Batched waits" below). */
	int batched;
	int how;                        /* batch_cb: 1 ended (at index `off`), 2 unknown,
	                                   3 failed, 4 cancelled */
	struct fs_waiter *bnext;        /* pending list / its batch's members */
} fs_waiter;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sbx_async *async;
static fs_waiter *free_list, *all_list;
static fs_waiter *carriers;
static int stopping;
/* When the service last answered one of these long-polls (fs_now_ms):
 * a batched call that misses its deadline while others are answered met
 * a busy service, not a hung one (batch_cb). */
static int64_t heard_ms;

static int carrier_arm_locked(fs_waiter *c, fs_waiter **failed);
static void carriers_fail(fs_waiter *list);
static fs_waiter *batch_stop_locked(void);

static fs_waiter *w_alloc(void)
{
	fs_waiter *w;
	pthread_mutex_lock(&lock);
	w = free_list;
	if (w) {
		free_list = w->next;
		/* Cleared under the lock: a late interrupt handler or
		 * fs_wait_forget_handle may be reading this recycled waiter
		 * (they look at `active` first, under the same lock). */
		fs_waiter *keep = w->all_next;
		memset(w, 0, sizeof *w);
		w->all_next = keep;
	}
	pthread_mutex_unlock(&lock);
	if (!w) {
		w = calloc(1, sizeof *w);
		if (!w)
			return NULL;
		pthread_mutex_lock(&lock);
		w->all_next = all_list;
		all_list = w;
		pthread_mutex_unlock(&lock);
	}
	return w;
}

/* Under lock. */
static void w_release_locked(fs_waiter *w)
{
	w->active = 0;
	w->req = NULL;
	w->h = NULL;
	w->op = NULL;
	w->next = free_list;
	free_list = w;
}

void fs_wait_init(sbx_async *a)
{
	async = a;
	stopping = 0;
}

void fs_wait_fini(void)
{
	pthread_mutex_lock(&lock);
	stopping = 1;
	fs_waiter *idle = batch_stop_locked();
	pthread_mutex_unlock(&lock);
	/* Carriers queued for a batch that never went: their readers end
	 * with EINTR as those of cancelled long-polls do. */
	carriers_fail(idle);
	/* sbx_async_free (by the caller, next) runs every pending callback with
	 * SBX_E_CANCELLED; nothing re-arms once stopping is set. */
}

void fs_wait_free_all(void)
{
	pthread_mutex_lock(&lock);
	fs_waiter *w = all_list;
	all_list = free_list = NULL;
	pthread_mutex_unlock(&lock);
	while (w) {
		fs_waiter *n = w->all_next;
		free(w);
		w = n;
	}
}

size_t fs_rc_slice(int code, int64_t off, size_t size, char *buf, size_t buflen)
{
	char text[32];
	int n = snprintf(text, sizeof text, "%d\n", code);
	if (n < 0 || off < 0 || off >= n)
		return 0;
	size_t avail = (size_t)n - (size_t)off;
	if (avail > size)
		avail = size;
	if (avail > buflen)
		avail = buflen;
	memcpy(buf, text + off, avail);
	return avail;
}

static void out_cb(void *ud, sbx_result r, const sbx_error *err, const sbx_chunk *ch);
static void proc_cb(void *ud, sbx_result r, const sbx_error *err, const sbx_process *p);
static void sb_cb(void *ud, sbx_result r, const sbx_error *err, const sbx_sandbox *s);

/* Starts (or restarts) w's long-poll. Under lock. Returns 0 or -1. */
static int arm_locked(fs_waiter *w)
{
	if (stopping || !async)
		return -1;
	w->armed_ms = fs_now_ms();
	switch (w->kind) {
	case W_OUTPUT:
	case W_POLL_OUTPUT:
		w->op = sbx_async_output_read(async, w->id, w->pid, w->st, w->off, FS_CHUNK_READ,
					      FS_LONGPOLL_SECONDS, out_cb, w);
		break;
	case W_RC:
	case W_POLL_RC:
		if (w->pid != SBX_MAIN)
			w->op = sbx_async_process_wait(async, w->id, w->pid, FS_LONGPOLL_SECONDS, proc_cb, w);
		else
			w->op = sbx_async_sandbox_wait(async, w->id, FS_LONGPOLL_SECONDS, sb_cb, w);
		break;
	}
	return w->op ? 0 : -1;
}

static void on_interrupt(fuse_req_t req, void *data)
{
	fs_waiter *w = data;
	pthread_mutex_lock(&lock);
	if (w->active && w->req == req) {
		w->interrupted = 1;
		if (w->op)
			sbx_async_cancel(async, w->op);
	}
	pthread_mutex_unlock(&lock);
}

/* Registers req's interrupt handler, then arms. Answers req itself when
 * that fails. */
static void start(fs_waiter *w)
{
	pthread_mutex_lock(&lock);
	w->active = 1;
	pthread_mutex_unlock(&lock);
	if (w->req)
		fuse_req_interrupt_func(w->req, on_interrupt, w);
	pthread_mutex_lock(&lock);
	int err = 0;
	if (w->interrupted)
		err = EINTR;
	else if (arm_locked(w) != 0)
		err = stopping ? EINTR : EIO;
	if (!err) {
		pthread_mutex_unlock(&lock);
		return;
	}
	fuse_req_t req = w->req;
	struct fuse_pollhandle *ph = w->ph;
	if (w->h && w->h->poll_w == w)
		w->h->poll_w = NULL;
	w_release_locked(w);
	pthread_mutex_unlock(&lock);
	if (req)
		fuse_reply_err(req, err);
	if (ph) {
		fuse_lowlevel_notify_poll(ph);
		fuse_pollhandle_destroy(ph);
	}
}

/* Failures worth one more try of a long-poll: a busy service may miss
 * one deadline under a burst of waiters. A dead one refuses connections
 * instead, which is not retried, so errors still come within the deadline. */
#define TRANSIENT_RETRIES 1
static int transient(sbx_result r)
{
	return r == SBX_E_TIMEOUT || r == SBX_E_UNAVAILABLE || r == SBX_E_EXHAUSTED;
}

/* Whether a long-poll sent at sent_ms that failed with r is tried once
 * more. A deadline missed after the whole long-poll is a hung service,
 * not a burst: no retry, so the reader gets its error within one wait
 * plus the deadline (fs_service_hung). */
static int worth_retry(sbx_result r, int64_t sent_ms, int retries)
{
	int quick = fs_now_ms() - sent_ms < FS_LONGPOLL_SECONDS * 1000;
	return transient(r) && (r != SBX_E_TIMEOUT || quick) && retries < TRANSIENT_RETRIES;
}

/* The callback's first step: the op is done; decide whether to re-arm.
 * Returns 1 when re-armed (the callback is finished). */
static int done_or_rearm(fs_waiter *w, int again, sbx_result r)
{
	pthread_mutex_lock(&lock);
	w->op = NULL;
	if (r == SBX_OK) {
		/* An answer: the next failure is a fresh one, worth its retry
		 * (a waiter re-armed for hours must not fail on its second
		 * hiccup ever). */
		w->retries = 0;
		heard_ms = fs_now_ms();
	}
	if (worth_retry(r, w->armed_ms, w->retries)) {
		w->retries++;
		again = 1;
	}
	if (again && !w->interrupted && !stopping && (w->kind == W_OUTPUT || w->kind == W_RC || w->h)) {
		if (arm_locked(w) == 0) {
			pthread_mutex_unlock(&lock);
			return 1;
		}
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

/* Ends a poll waiter: wake the kernel so it polls (and reads) again. */
static void finish_poll(fs_waiter *w)
{
	pthread_mutex_lock(&lock);
	struct fuse_pollhandle *ph = w->ph;
	w->ph = NULL;
	if (w->h && w->h->poll_w == w)
		w->h->poll_w = NULL;
	w_release_locked(w);
	pthread_mutex_unlock(&lock);
	if (ph) {
		fuse_lowlevel_notify_poll(ph);
		fuse_pollhandle_destroy(ph);
	}
}

static void finish_req(fs_waiter *w)
{
	pthread_mutex_lock(&lock);
	w_release_locked(w);
	pthread_mutex_unlock(&lock);
}

static int cb_errno(fs_waiter *w, sbx_result r, const sbx_error *err, const char *what)
{
	if (r == SBX_E_CANCELLED || w->interrupted)
		return EINTR;
	if (err)
		return -fs_state_fail(w->slot, what, err);
	return EIO;
}

static void out_cb(void *ud, sbx_result r, const sbx_error *err, const sbx_chunk *ch)
{
	fs_waiter *w = ud;
	int empty = r == SBX_OK && ch->len == 0 && !ch->eof;
	if (r == SBX_OK)
		fs_state_stream_seen(w->slot, w->pid, w->st, ch->size, ch->eof);
	if (done_or_rearm(w, empty, r))
		return;

	if (r == SBX_OK && ch->len > 0) {
		void *copy = malloc(ch->len);
		if (copy) {
			memcpy(copy, ch->data, ch->len);
			fs_chunk_put(w->slot, w->pid, w->st, ch->offset, copy, ch->len, 0);
		}
	}
	if (w->kind == W_POLL_OUTPUT) {
		finish_poll(w);
		return;
	}
	if (r == SBX_OK && !w->interrupted) {
		size_t n = ch->len < w->size ? ch->len : w->size;
		if (ch->offset != w->off)
			n = 0;      /* never hand out bytes from elsewhere */
		pthread_mutex_lock(&lock);
		if (w->h && n)
			w->h->pos = w->off + (int64_t)n;
		pthread_mutex_unlock(&lock);
		fuse_reply_buf(w->req, ch->data, n);
	} else {
		fuse_reply_err(w->req, cb_errno(w, r, err, w->st == SBX_STDOUT ? "read stdout" : "read stderr"));
	}
	finish_req(w);
}

/* The exit code of a sandbox that FAILED: none exists. */
#define RC_FAILED INT_MIN

static void answer_rc(fs_waiter *w, int code)
{
	char buf[32];
	size_t n = fs_rc_slice(code, w->off, w->size, buf, sizeof buf);
	fuse_reply_buf(w->req, buf, n);
}

/* The rest of proc_cb and sb_cb, once the record is in the cache: wait on
 * while `pending`, else answer the poll or the read of returncode. */
static void carrier_done(fs_waiter *c, int pending, sbx_result r, const sbx_error *err, int exit_code);

static void rc_cb(fs_waiter *w, int pending, sbx_result r, const sbx_error *err, int exit_code)
{
	if (done_or_rearm(w, pending, r))
		return;
	if (w->is_carrier) {
		carrier_done(w, pending, r, err, exit_code);
		return;
	}
	if (w->kind == W_POLL_RC) {
		finish_poll(w);
		return;
	}
	if (r == SBX_OK && !w->interrupted && exit_code == RC_FAILED)
		fuse_reply_err(w->req, EIO);   /* a FAILED sandbox: no code, reason in error */
	else if (r == SBX_OK && !w->interrupted)
		answer_rc(w, exit_code);
	else
		fuse_reply_err(w->req, cb_errno(w, r, err, "returncode"));
	finish_req(w);
}

static void proc_cb(void *ud, sbx_result r, const sbx_error *err, const sbx_process *p)
{
	int ok = r == SBX_OK;
	if (ok)
		fs_state_put_proc(((fs_waiter *)ud)->slot, p);
	rc_cb(ud, ok && p->state == SBX_PROC_RUNNING, r, err, ok ? p->exit_code : 0);
}

static void sb_cb(void *ud, sbx_result r, const sbx_error *err, const sbx_sandbox *s)
{
	int ok = r == SBX_OK;
	if (ok)
		fs_state_update_sandbox(((fs_waiter *)ud)->slot, s);
	int code = ok ? s->exit_code : 0;
	if (ok && s->state == SBX_STATE_FAILED) {
		code = RC_FAILED;
		if (((fs_waiter *)ud)->kind != W_POLL_RC)
			fs_state_note_failed(((fs_waiter *)ud)->slot, s->state_reason);
	}
	rc_cb(ud, ok && !sbx_state_is_terminal(s->state), r, err, code);
}

/* Under lock: the carrier of (slot, pid) that still takes readers. */
static fs_waiter *carrier_find_locked(uint32_t slot, int64_t pid)
{
	for (fs_waiter *c = carriers; c; c = c->cnext)
		if (c->slot == slot && c->pid == pid && !c->interrupted)
			return c;
	return NULL;
}

static void carrier_unlink_locked(fs_waiter *c)
{
	for (fs_waiter **p = &carriers; *p; p = &(*p)->cnext)
		if (*p == c) {
			*p = c->cnext;
			break;
		}
	c->cnext = NULL;
}

/* The carrier's long-poll ended for good: every reader gets the same
 * answer, each sliced at its own offset. */
static void carrier_done(fs_waiter *c, int pending, sbx_result r, const sbx_error *err, int exit_code)
{
	pthread_mutex_lock(&lock);
	carrier_unlink_locked(c);
	fs_waiter *list = c->followers;
	c->followers = NULL;
	/* Detached under the lock: an interrupt from now on only marks the
	 * reader, and the answer below is its reply. */
	for (fs_waiter *f = list; f; f = f->fnext)
		f->carrier = NULL;
	pthread_mutex_unlock(&lock);
	int e = 0;
	if (r == SBX_OK && pending)
		e = EINTR;  /* still running, and no long-poll could be armed (stopping) */
	else if (r == SBX_OK && exit_code == RC_FAILED)
		e = EIO;   /* a FAILED sandbox: no code, reason in error */
	else if (r != SBX_OK)
		e = list ? cb_errno(c, r, err, "returncode") : EINTR;
	while (list) {
		fs_waiter *f = list;
		list = f->fnext;
		if (e)
			fuse_reply_err(f->req, e);
		else
			answer_rc(f, exit_code);
		finish_req(f);
	}
	finish_req(c);
}

/* A reader of a shared wait interrupted (Ctrl-C): it leaves at once, with
 * EINTR; the last one to leave cancels the carrier's long-poll. (libfuse
 * runs this with the request pinned, so replying here is safe.) */
static void on_interrupt_follower(fuse_req_t req, void *data)
{
	fs_waiter *f = data;
	pthread_mutex_lock(&lock);
	if (!f->active || f->req != req) {
		pthread_mutex_unlock(&lock);
		return;
	}
	fs_waiter *c = f->carrier;
	if (!c) {
		/* not linked yet, or being answered: that path replies */
		f->interrupted = 1;
		pthread_mutex_unlock(&lock);
		return;
	}
	for (fs_waiter **p = &c->followers; *p; p = &(*p)->fnext)
		if (*p == f) {
			*p = f->fnext;
			break;
		}
	f->carrier = NULL;
	if (!c->followers) {
		/* no new reader may join a carrier that is going */
		c->interrupted = 1;
		if (c->op)
			sbx_async_cancel(async, c->op);
	}
	w_release_locked(f);
	pthread_mutex_unlock(&lock);
	fuse_reply_err(req, EINTR);
}

static void fill(fs_waiter *w, fs_handle *h, const char *id)
{
	w->h = h;
	w->slot = h->slot;
	w->pid = h->pid;
	snprintf(w->id, sizeof w->id, "%s", id);
}

/* Starts a waiter that answers a read of size bytes at off. */
static void wait_read(fuse_req_t req, fs_handle *h, const char *id, wkind kind, sbx_stream st, int64_t off,
                      size_t size)
{
	fs_waiter *w = w_alloc();
	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fill(w, h, id);
	w->kind = kind;
	w->req = req;
	w->st = st;
	w->off = off;
	w->size = size;
	start(w);
}

void fs_wait_output(fuse_req_t req, fs_handle *h, const char *id, sbx_stream st, int64_t off, size_t size)
{
	wait_read(req, h, id, W_OUTPUT, st, off, size);
}

void fs_wait_returncode(fuse_req_t req, fs_handle *h, const char *id, int64_t off, size_t size)
{
	fs_waiter *f = w_alloc(), *spare = w_alloc();
	if (!f || !spare) {
		pthread_mutex_lock(&lock);
		if (f)
			w_release_locked(f);
		if (spare)
			w_release_locked(spare);
		pthread_mutex_unlock(&lock);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fill(f, h, id);
	f->kind = W_RC;
	f->req = req;
	f->off = off;
	f->size = size;
	pthread_mutex_lock(&lock);
	f->active = 1;
	pthread_mutex_unlock(&lock);
	/* Before the reader can be answered (by a carrier's callback) */
	fuse_req_interrupt_func(req, on_interrupt_follower, f);
	pthread_mutex_lock(&lock);
	if (f->interrupted || stopping || !async) {
		int e = f->interrupted || stopping ? EINTR : EIO;
		w_release_locked(f);
		w_release_locked(spare);
		pthread_mutex_unlock(&lock);
		fuse_reply_err(req, e);
		return;
	}
	fs_waiter *c = carrier_find_locked(f->slot, f->pid);
	int fresh = !c;
	if (fresh) {
		c = spare;
		spare = NULL;
		c->is_carrier = 1;
		c->kind = W_RC;
		c->slot = f->slot;
		c->pid = f->pid;
		memcpy(c->id, f->id, sizeof c->id);
		c->active = 1;
		c->cnext = carriers;
		carriers = c;
	}
	f->carrier = c;
	f->fnext = c->followers;
	c->followers = f;
	if (spare)
		w_release_locked(spare);
	fs_waiter *failed = NULL;
	if (fresh && carrier_arm_locked(c, &failed) != 0) {
		/* nobody else joined: the lock was held since */
		carrier_unlink_locked(c);
		c->followers = NULL;
		f->carrier = NULL;
		w_release_locked(f);
		w_release_locked(c);
		pthread_mutex_unlock(&lock);
		fuse_reply_err(req, EIO);
		return;
	}
	pthread_mutex_unlock(&lock);
	carriers_fail(failed);
}

void fs_wait_poll(fs_handle *h, const char *id, struct fuse_pollhandle *ph)
{
	pthread_mutex_lock(&lock);
	if (h->poll_w) {
		/* Already armed: the kernel polls again with a fresh handle. */
		struct fuse_pollhandle *old = h->poll_w->ph;
		h->poll_w->ph = ph;
		pthread_mutex_unlock(&lock);
		if (old)
			fuse_pollhandle_destroy(old);
		return;
	}
	pthread_mutex_unlock(&lock);
	fs_waiter *w = w_alloc();
	if (!w) {
		fuse_lowlevel_notify_poll(ph);
		fuse_pollhandle_destroy(ph);
		return;
	}
	fill(w, h, id);
	w->ph = ph;
	if (fs_kind_is_output(h->kind)) {
		w->kind = W_POLL_OUTPUT;
		w->st = h->kind == FS_K_P_STDERR || h->kind == FS_K_SB_STDERR ? SBX_STDERR : SBX_STDOUT;
		w->off = h->pos;
	} else {
		w->kind = W_POLL_RC;
	}
	pthread_mutex_lock(&lock);
	h->poll_w = w;
	pthread_mutex_unlock(&lock);
	start(w);
}

void fs_wait_forget_handle(fs_handle *h)
{
	pthread_mutex_lock(&lock);
	/* A read the kernel gave up on (its reader was killed) may still be
	 * waiting: it must not touch the handle once it is freed. */
	for (fs_waiter *r = all_list; r; r = r->all_next)
		if (r->active && r->h == h && r != h->poll_w)
			r->h = NULL;
	fs_waiter *w = h->poll_w;
	h->poll_w = NULL;
	if (w && w->active && w->h == h) {
		w->h = NULL;
		if (w->op)
			sbx_async_cancel(async, w->op);
	}
	pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------- batched waits */

/* Against a service with waitProcesses (sbxd), every carrier of a
 * process's returncode waits in one of at most BATCH_CALLS calls of up to
 * BATCH_MAX entries each, so 10,000 readers of different processes hold
 * a handful of connections instead of 10,000. A call answers as soon as
 * one of its processes ends; the rest wait on in the next call. A carrier
 * that comes while every call is in flight waits in `pending`, and the
 * smallest call that has room is cancelled and sent again with it (one
 * restart at a time), so a newcomer is never left out for a whole
 * long-poll. Without the extension (sbx_async_processes_wait says NULL)
 * every carrier goes back to its own long-poll, for good. */
/* 8 x 2,048: room for 16,384 processes on 8 connections, which leaves
 * the synchronous client's few pooled ones inside the mount's bound of
 * 16 descriptors for waits; and a restart re-sends at most 2,048 entries
 * (about 140 KB), not 4,096. */
#define BATCH_MAX 2048
#define BATCH_CALLS 8
_Static_assert(BATCH_MAX <= SBX_WAIT_MANY_MAX, "a batched call holds at most SBX_WAIT_MANY_MAX entries");

typedef struct batch {
	sbx_op *op;             /* NULL: free */
	fs_waiter *members;
	size_t n;
	int restart;            /* cancelled to be sent again with pending */
	int64_t sent_ms;        /* when op was sent (worth_retry) */
} batch;

#define BATCH_STARVED_MAX 8

static batch batches[BATCH_CALLS];
static fs_waiter *pending;
static size_t npending;
static int batch_off;   /* the service lacks waitProcesses */

static void batch_cb(void *ud, sbx_result r, const sbx_error *err, const sbx_exits *x);

static int ref_cmp(const void *a, const void *b)
{
	const sbx_proc_ref *x = a, *y = b;
	int c = strcmp(x->sandbox_id, y->sandbox_id);
	return c ? c : (x->pid > y->pid) - (x->pid < y->pid);
}

/* Under lock: takes up to BATCH_MAX - b->n pending carriers into b and
 * sends b. Interrupted carriers (their readers left) are dropped here.
 * Returns -1 when the service lacks the call (or no memory): the caller
 * sends the members one by one. */
static int batch_send_locked(batch *b)
{
	while (pending && b->n < BATCH_MAX) {
		fs_waiter *c = pending;
		pending = c->bnext;
		npending--;
		if (c->interrupted && !c->followers) {
			carrier_unlink_locked(c);
			w_release_locked(c);
			continue;
		}
		c->bnext = b->members;
		b->members = c;
		b->n++;
	}
	if (!b->n)
		return 0;
	sbx_proc_ref *refs = malloc(b->n * sizeof *refs);
	size_t i = 0;
	for (fs_waiter *c = b->members; refs && c; c = c->bnext)
		refs[i++] = (sbx_proc_ref){c->id, c->pid};
	if (refs)
		qsort(refs, b->n, sizeof *refs, ref_cmp);
	b->sent_ms = fs_now_ms();
	b->op = refs ? sbx_async_processes_wait(async, refs, b->n, FS_LONGPOLL_SECONDS, batch_cb, b) : NULL;
	free(refs);
	return b->op ? 0 : -1;
}

/* Under lock: sends what is pending, in a free call or by restarting the
 * smallest one with room. Carriers that could not be sent at all go to
 * *failed (the caller ends them outside the lock). */
static void batch_kick_locked(fs_waiter **failed)
{
	if (!pending || stopping || batch_off)
		goto fallback;
	batch *room = NULL;
	for (int i = 0; i < BATCH_CALLS; i++) {
		if (batches[i].restart)
			return;         /* its callback sends pending with it */
		if (!batches[i].op && !room)
			room = &batches[i];
	}
	while (room && pending) {
		room->members = NULL;
		room->n = 0;
		if (batch_send_locked(room) != 0) {
			batch_off = 1;
			fs_waiter *m = room->members;
			room->members = NULL;
			room->n = 0;
			while (m) {
				fs_waiter *c = m;
				m = c->bnext;
				c->bnext = pending;
				pending = c;
				npending++;
			}
			goto fallback;
		}
		room = NULL;
		for (int i = 0; i < BATCH_CALLS && !room; i++)
			if (!batches[i].op)
				room = &batches[i];
	}
	if (!pending)
		return;
	batch *small = NULL;
	for (int i = 0; i < BATCH_CALLS; i++)
		if (batches[i].n + npending <= BATCH_MAX && (!small || batches[i].n < small->n))
			small = &batches[i];
	if (small) {
		small->restart = 1;
		sbx_async_cancel(async, small->op);
	}
	/* No room anywhere: pending goes with the next call that answers. */
	return;
fallback:
	while (pending && (stopping || batch_off)) {
		fs_waiter *c = pending;
		pending = c->bnext;
		npending--;
		c->batched = 0;
		c->bnext = NULL;
		if (stopping || arm_locked(c) != 0) {
			c->bnext = *failed;
			*failed = c;
		}
	}
}

/* Under lock: a fresh carrier starts waiting, batched when it can be. */
static int carrier_arm_locked(fs_waiter *c, fs_waiter **failed)
{
	if (c->pid == SBX_MAIN || batch_off)
		return arm_locked(c);
	if (stopping || !async)
		return -1;
	c->batched = 1;
	c->armed_ms = fs_now_ms();
	c->bnext = pending;
	pending = c;
	npending++;
	batch_kick_locked(failed);
	return 0;
}

/* Ends carriers that cannot wait (stopping, or no long-poll could be
 * armed): their readers get EINTR or EIO. Outside the lock. */
static void carriers_fail(fs_waiter *list)
{
	pthread_mutex_lock(&lock);
	int stop = stopping;
	pthread_mutex_unlock(&lock);
	while (list) {
		fs_waiter *c = list;
		list = c->bnext;
		c->bnext = NULL;
		if (stop)
			carrier_done(c, 1, SBX_OK, NULL, 0);
		else
			carrier_done(c, 0, SBX_E_INTERNAL, NULL, 0);
	}
}

static fs_waiter *batch_stop_locked(void)
{
	fs_waiter *idle = pending;
	pending = NULL;
	npending = 0;
	return idle;
}

/* A batched call's answer (loop thread): the ended carriers answer their
 * readers, the unknown ones fail with ENOENT, the others wait on. */
static void batch_cb(void *ud, sbx_result r, const sbx_error *err, const sbx_exits *x)
{
	batch *b = ud;
	fs_waiter *done = NULL, *failed = NULL;
	pthread_mutex_lock(&lock);
	fs_waiter *m = b->members;
	int restart = b->restart;
	int64_t sent_ms = b->sent_ms;
	if (r == SBX_OK)
		heard_ms = fs_now_ms();
	/* Missed its deadline, but the service answered other long-polls
	 * since this one went: a starved call (a big body behind a burst of
	 * work), not a hung service. Its carriers wait on in the next call,
	 * their retry kept for a real failure, up to BATCH_STARVED_MAX such
	 * rounds in a row (a service that answers everything but this call
	 * still ends its readers, within minutes). */
	int busy = r == SBX_E_TIMEOUT && heard_ms > sent_ms;
	b->members = NULL;
	b->n = 0;
	b->op = NULL;
	b->restart = 0;
	while (m) {
		fs_waiter *c = m;
		m = c->bnext;
		c->bnext = NULL;
		int end = 0;
		if (r == SBX_OK) {
			for (size_t i = 0; i < x->n_ended && !end; i++)
				if (x->ended[i]->id == c->pid && strcmp(x->ended_sandbox[i], c->id) == 0) {
					c->off = (int64_t)i;
					end = 1;
				}
			for (size_t i = 0; i < x->n_missing && !end; i++)
				if (x->missing[i].pid == c->pid && strcmp(x->missing[i].sandbox_id, c->id) == 0)
					end = 2;
		} else if (busy && c->starved < BATCH_STARVED_MAX) {
			c->starved++;
		} else if (r != SBX_E_CANCELLED && !worth_retry(r, sent_ms, c->retries)) {
			end = 3;
		} else if (r != SBX_E_CANCELLED) {
			c->retries++;
		}
		if (r == SBX_OK)
			c->retries = c->starved = 0;
		if (r == SBX_E_CANCELLED && !restart)
			end = 4;        /* stopping: sbx_async_free cancels every op */
		if (!end && c->interrupted && !c->followers) {
			carrier_unlink_locked(c);
			w_release_locked(c);
			continue;
		}
		if (end) {
			c->how = end;
			c->bnext = done;
			done = c;
			continue;
		}
		c->bnext = pending;
		pending = c;
		npending++;
	}
	batch_kick_locked(&failed);
	pthread_mutex_unlock(&lock);
	while (done) {
		fs_waiter *c = done;
		done = c->bnext;
		c->bnext = NULL;
		int how = c->how;
		if (how == 1) {
			/* Into the cache first: later reads answer from it. */
			const sbx_process *p = x->ended[c->off];
			fs_state_put_proc(c->slot, p);
			carrier_done(c, p->state == SBX_PROC_RUNNING, SBX_OK, NULL, p->exit_code);
		} else if (how == 2) {
			sbx_error e = {.code = SBX_E_NOT_FOUND, .retry_delay_ms = -1};
			snprintf(e.message, sizeof e.message, "process %lld of sandbox %s not found", (long long)c->pid,
			         c->id);
			carrier_done(c, 0, SBX_E_NOT_FOUND, &e, 0);
		} else if (how == 3) {
			carrier_done(c, 0, r, err, 0);
		} else {
			carrier_done(c, 0, SBX_E_CANCELLED, NULL, 0);
		}
	}
	carriers_fail(failed);
}

/* ------------------------------------------------------------ prefetch */

#define PREFETCH_MAX 4

typedef struct prefetch {
	uint32_t slot;
	int64_t pid;
	sbx_stream st;
	int64_t off;
	int busy;
	void *buf;              /* a pool buffer the service's bytes land in */
} prefetch;

static prefetch prefetches[PREFETCH_MAX];

static void prefetch_cb(void *ud, sbx_result r, const sbx_error *err, const sbx_chunk *ch)
{
	prefetch *pf = ud;
	void *buf = pf->buf;
	pf->buf = NULL;
	if (r == SBX_OK) {
		fs_state_stream_seen(pf->slot, pf->pid, pf->st, ch->size, ch->eof);
		if (ch->len > 0 && ch->offset == pf->off && ch->len <= FS_CHUNK_READ && buf) {
			/* Received in place, except from the fallback table. */
			if (ch->data != buf)
				memcpy(buf, ch->data, ch->len);
			fs_chunk_put(pf->slot, pf->pid, pf->st, pf->off, buf, ch->len, 1);
			buf = NULL;
		}
	}
	if (buf)
		fs_chunk_buf_free(buf);
	/* After the put: a reader woken here finds the chunk. */
	fs_chunk_unclaim(pf->slot, pf->pid, pf->st, pf->off);
	pthread_mutex_lock(&lock);
	pf->busy = 0;
	pthread_mutex_unlock(&lock);
}

void fs_wait_prefetch(uint32_t slot, const char *id, int64_t pid, sbx_stream st, int64_t off)
{
	prefetch *pf = NULL;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < PREFETCH_MAX && !stopping && async; i++) {
		prefetch *q = &prefetches[i];
		if (q->busy && q->slot == slot && q->pid == pid && q->st == st && q->off == off) {
			pf = NULL;
			break;
		}
		if (!q->busy && !pf)
			pf = q;
	}
	/* Claimed without waiting: a reader (or another prefetch) already
	 * fetching these bytes makes this one pointless. */
	if (pf && fs_chunk_claim(slot, pid, st, off, 0) == 1) {
		*pf = (prefetch){slot, pid, st, off, 1, fs_chunk_buf()};
		if (!pf->buf || !sbx_async_output_read_into(async, id, pid, st, off, pf->buf, FS_CHUNK_READ, 0,
		                                            prefetch_cb, pf)) {
			if (pf->buf)
				fs_chunk_buf_free(pf->buf);
			pf->buf = NULL;
			pf->busy = 0;
			fs_chunk_unclaim(slot, pid, st, off);
		}
	}
	pthread_mutex_unlock(&lock);
}
