/*
 * The event-loop thread (evloop.c) and how others put fds in its set.
 */
#ifndef SRV_EVLOOP_H
#define SRV_EVLOOP_H

#include <stdint.h>
#include <sys/epoll.h>

/* epoll data of an event: kind, sandbox seq, process uid (24 bits). */
#define SRV_EV_BOX 3ULL    /* a box's runtime event fd is readable */
#define SRV_EV_STDIN 4ULL  /* a stdin pipe takes bytes again */
#define SRV_EV(kind, seq, uid) (((kind) << 56) | ((uint64_t)(seq) << 24) | (uint64_t)(uid))

/* What the loop calls, with srv_lock held. */
typedef struct srv_loop_hooks {
	void (*box)(uint32_t seq);                      /* SRV_EV_BOX */
	void (*stdin_ready)(uint32_t seq, uint32_t uid); /* SRV_EV_STDIN */
	int64_t (*timers)(void);   /* the timer pass: the next deadline (mono ns) */
	int (*stopping)(void);     /* true: the thread ends */
} srv_loop_hooks;

/* The epoll set, the poke eventfd, the waiters' inotify fd: -1 with errno. */
int srv_loop_open(void);
void srv_loop_close(void);
/* epoll_ctl on the loop's set (data from SRV_EV). */
int srv_loop_ctl(int op, int fd, struct epoll_event *ev);
/* Wakes the loop (something new to time, or stopping). Any thread. */
void srv_loop_poke(void);
/* Pokes the loop only when `when` (monotonic ns) comes before the time it
 * sleeps until: a long-poll's deadline is almost always later, and its
 * poke cost a thread wake-up and a timer scan on each wait. Under
 * srv_lock. */
void srv_loop_poke_before(int64_t when);
int srv_loop_start(const srv_loop_hooks *h);
void srv_loop_join(void);

#endif
