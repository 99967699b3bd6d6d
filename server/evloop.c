/*
 * The event-loop thread: one epoll set holding every box's runtime event
 * fd (process exits), the waiters' inotify fd (spool growth), the write
 * ends of stdin pipes with bytes pending (EPOLLOUT, one-shot) and an
 * eventfd others poke when they add something to time. It sleeps until
 * the nearest deadline the timer pass gives (at most 1 s) and hands each
 * event to the hooks core.c set (srv_loop_hooks), all under srv_lock: it
 * knows sandboxes only by seq and processes by uid, so it sits below the
 * lifecycle that reacts (docs/internals/server.md, "The core's modules").
 */
#include "evloop.h"
#include "records.h" /* srv_lock */
#include "state.h"
#include "waiters.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define K_WAKE 1ULL
#define K_INOTIFY 2ULL

static int ep = -1, wakefd = -1, infd = -1;
static pthread_t loop_thread;
static int loop_started;
static srv_loop_hooks hooks;
/* When the loop wakes by itself (the timer pass's nearest deadline), or
 * 0 while it runs a pass; under srv_lock. */
static int64_t sleeps_until;

void srv_loop_poke(void)
{
	uint64_t one = 1;
	if (wakefd >= 0 && write(wakefd, &one, sizeof one) < 0) {
		/* The counter is already non-zero: the loop will wake anyway. */
	}
}

void srv_loop_poke_before(int64_t when)
{
	if (sleeps_until == 0 || when < sleeps_until)
		srv_loop_poke();
}

int srv_loop_open(void)
{
	ep = epoll_create1(EPOLL_CLOEXEC);
	wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	infd = srv_waiters_open(srv_loop_poke_before);
	if (ep < 0 || wakefd < 0 || infd < 0)
		return -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = SRV_EV(K_WAKE, 0, 0)};
	epoll_ctl(ep, EPOLL_CTL_ADD, wakefd, &ev);
	ev.data.u64 = SRV_EV(K_INOTIFY, 0, 0);
	epoll_ctl(ep, EPOLL_CTL_ADD, infd, &ev);
	return 0;
}

int srv_loop_ctl(int op, int fd, struct epoll_event *ev)
{
	return epoll_ctl(ep, op, fd, ev);
}

static void *loop_main(void *arg)
{
	(void)arg;
	struct epoll_event evs[64];
	pthread_mutex_lock(&srv_lock);
	int64_t next = hooks.timers();
	for (;;) {
		int64_t wait_ns = next - srv_mono_ns();
		int timeout = wait_ns <= 0 ? 0 : (int)((wait_ns + 999999) / 1000000);
		sleeps_until = next;
		pthread_mutex_unlock(&srv_lock);
		int n = epoll_wait(ep, evs, 64, timeout);
		pthread_mutex_lock(&srv_lock);
		sleeps_until = 0;
		if (hooks.stopping())
			break;
		int poked = 0;
		for (int i = 0; i < n; i++) {
			uint64_t d = evs[i].data.u64, kind = d >> 56;
			uint32_t seq = (uint32_t)(d >> 24), uid = (uint32_t)(d & 0xffffff);
			if (kind == K_WAKE) {
				poked = 1;
				uint64_t v;
				if (read(wakefd, &v, sizeof v) < 0) {
					/* EAGAIN: drained by an earlier event */
				}
			} else if (kind == K_INOTIFY) {
				srv_waiters_on_inotify();
			} else if (kind == SRV_EV_BOX) {
				hooks.box(seq);
			} else if (kind == SRV_EV_STDIN) {
				hooks.stdin_ready(seq, uid);
			}
		}
		/* Only a poke can bring a deadline nearer; otherwise the timer
		 * scan waits for the deadline it computed (output-heavy
		 * processes wake this loop often). */
		if (poked || srv_mono_ns() >= next)
			next = hooks.timers();
	}
	pthread_mutex_unlock(&srv_lock);
	return NULL;
}

int srv_loop_start(const srv_loop_hooks *h)
{
	hooks = *h;
	if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0)
		return -1;
	loop_started = 1;
	return 0;
}

void srv_loop_join(void)
{
	if (loop_started)
		pthread_join(loop_thread, NULL);
	loop_started = 0;
}

void srv_loop_close(void)
{
	if (ep >= 0)
		close(ep);
	if (wakefd >= 0)
		close(wakefd);
	srv_waiters_close();
	ep = wakefd = infd = -1;
}
