/*
 * Who waits for what: the list of parked long-polls (srv_waiter), the
 * inotify watches on the spools some of them read (one watch per file
 * with a reference count, dropped with its last waiter), and the
 * wake-ups: srv_wake when something happens to a sandbox, the inotify
 * events of a grown spool, a deadline passing. It knows sandboxes only by
 * their seq and spools only by their path, so it sits below the records
 * (docs/internals/server.md, "The core's modules"). Everything here runs
 * under srv_lock, taken by the caller.
 */
#include "waiters.h"

#include <stddef.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

static srv_waiter waiters = {.next = &waiters, .prev = &waiters};
static int infd = -1;
static void (*poke)(int64_t deadline); /* the event loop's: a deadline may be nearer */

int srv_waiters_open(void (*poke_loop)(int64_t deadline))
{
	poke = poke_loop;
	infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return infd;
}

void srv_waiters_close(void)
{
	if (infd >= 0)
		close(infd);
	infd = -1;
}

void srv_waiter_add(srv_waiter *w)
{
	w->suspended = 1;
	w->next = &waiters;
	w->prev = waiters.prev;
	waiters.prev->next = w;
	waiters.prev = w;
	if (w->deadline)
		poke(w->deadline);
}

/* Spool files some parked reader waits on, with reference counts: only
 * those are watched (a watch on every spool, or on the sandbox's
 * directory, cost a loop wake-up per write of every process). */
struct spool_watch {
	int wd;
	uint32_t seq;
	int refs;
};
static struct spool_watch *watches;
static size_t nwatches, capwatches;

static void unwatch(int wd)
{
	for (size_t i = 0; i < nwatches; i++) {
		if (watches[i].wd != wd)
			continue;
		if (--watches[i].refs == 0) {
			inotify_rm_watch(infd, wd);
			watches[i] = watches[--nwatches];
		}
		return;
	}
}

int srv_waiter_watch_path(srv_waiter *w, uint32_t seq, const char *path)
{
	if (w->watch) {
		unwatch(w->watch - 1);
		w->watch = 0;
	}
	int wd = inotify_add_watch(infd, path, IN_MODIFY);
	if (wd < 0)
		return -1;
	size_t i;
	for (i = 0; i < nwatches && watches[i].wd != wd; i++)
		;
	if (i == nwatches) {
		if (nwatches == capwatches) {
			size_t nc = capwatches ? capwatches * 2 : 64;
			struct spool_watch *nw = realloc(watches, nc * sizeof *nw);
			if (!nw) {
				inotify_rm_watch(infd, wd);
				return -1;
			}
			watches = nw;
			capwatches = nc;
		}
		watches[nwatches++] = (struct spool_watch){wd, seq, 0};
	}
	watches[i].refs++;
	w->watch = wd + 1;
	return 0;
}

void srv_waiter_remove(srv_waiter *w)
{
	if (w->watch) {
		unwatch(w->watch - 1);
		w->watch = 0;
	}
	if (!w->suspended)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->suspended = 0;
}

void srv_wake(uint32_t seq)
{
	srv_waiter *w = waiters.next;
	while (w != &waiters) {
		srv_waiter *next = w->next;
		if (!seq || w->seq == seq || w->seq == SRV_SEQ_ANY) {
			srv_waiter_remove(w);
			w->resume ? w->resume(w->con) : srv_http_resume(w->con);
		}
		w = next;
	}
}

/* Spool growth: wakes the sandboxes whose watched spools grew, each once
 * per batch of events however many writes it holds. */
void srv_waiters_on_inotify(void)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint32_t seqs[64];
	for (;;) {
		ssize_t n = read(infd, buf, sizeof buf);
		if (n <= 0)
			return;
		size_t nseq = 0;
		for (char *ptr = buf; ptr < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)ptr;
			ptr += sizeof *ev + ev->len;
			if (!(ev->mask & IN_MODIFY))
				continue;
			for (size_t i = 0; i < nwatches; i++) {
				if (watches[i].wd != ev->wd)
					continue;
				size_t k;
				for (k = 0; k < nseq && seqs[k] != watches[i].seq; k++)
					;
				if (k == nseq && nseq < sizeof seqs / sizeof seqs[0])
					seqs[nseq++] = watches[i].seq;
				else if (k == nseq)
					srv_wake(watches[i].seq);
				break;
			}
		}
		/* srv_wake drops the woken waiters' watches, so look the
		 * sandboxes up first and wake after the scan. */
		for (size_t k = 0; k < nseq; k++)
			srv_wake(seqs[k]);
	}
}

int64_t srv_waiters_expire(int64_t now, int64_t next)
{
	srv_waiter *w = waiters.next;
	while (w != &waiters) {
		srv_waiter *nw = w->next;
		if (w->deadline && w->deadline <= now) {
			srv_waiter_remove(w);
			w->resume ? w->resume(w->con) : srv_http_resume(w->con);
		} else if (w->deadline && w->deadline < next) {
			next = w->deadline;
		}
		w = nw;
	}
	return next;
}
