/*
 * Parked long-polls and their wake-ups (waiters.c). All calls with
 * srv_lock held, except open and close (start and stop of the core).
 */
#ifndef SRV_WAITERS_H
#define SRV_WAITERS_H

#include <stdint.h>

/* The seq of a waiter on many sandboxes at once (waitProcesses): every
 * srv_wake wakes it, and it looks again at what it waits for. */
#define SRV_SEQ_ANY UINT32_MAX

typedef struct srv_waiter {
	struct srv_waiter *next, *prev;
	void *con;                   /* the front end's handle of the call */
	void (*resume)(void *con);   /* wakes it; NULL: srv_http_resume */
	uint32_t seq;                /* sandbox it waits on, 0 = none,
	                                SRV_SEQ_ANY = woken by every sandbox's events */
	int64_t deadline;            /* monotonic ns, 0 = none */
	int suspended;
	int watch;                   /* inotify wd + 1 of the spool it waits on */
} srv_waiter;

/* The inotify fd (non-blocking) for the event loop to poll, or -1 with
 * errno; poke_loop is called when a waiter with a deadline is added (the
 * loop wakes only if that deadline is nearer than its own). */
int srv_waiters_open(void (*poke_loop)(int64_t deadline));
void srv_waiters_close(void);

void srv_waiter_add(srv_waiter *w);
void srv_waiter_remove(srv_waiter *w);
/* Watches the file at path (a spool of sandbox seq) for growth while w is
 * parked (core.h's srv_waiter_watch names the spool); -1 when it cannot. */
int srv_waiter_watch_path(srv_waiter *w, uint32_t seq, const char *path);
/* Resumes every waiter on the sandbox and every SRV_SEQ_ANY one (seq 0:
 * all of them). */
void srv_wake(uint32_t seq);
/* The inotify fd is readable: wakes the sandboxes whose spools grew. */
void srv_waiters_on_inotify(void);
/* Resumes the waiters whose deadline is past now; the nearest deadline
 * left, or next when that is nearer. */
int64_t srv_waiters_expire(int64_t now, int64_t next);

/* Hook the HTTP layer provides: resume a suspended connection. */
void srv_http_resume(void *con);

#endif
