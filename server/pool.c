/*
 * The warm pool: up to N boxes of the default image made ahead of need by
 * one thread of its own, so that a create whose spec a template box can
 * serve takes one (namespaces, cgroups, overlay root, init: all there)
 * instead of paying the runtime's 2-3 ms. A member is never used twice:
 * the create that takes it owns it from then on, and it ends as any
 * sandbox's box does, so nothing of one tenant can reach the next (each
 * claim is a box no command ever ran in). Members have no record: no
 * List or Get sees them, no restart restores them; srv_pool_stop destroys
 * them and a crashed sbxd's are ended at the next start with every box no
 * record took back (srv_rt_sweep). The thread yields to requests: it
 * makes nothing while a foreground create runs or for QUIET_MS after one,
 * and one member at a time. Lock order: srv_lock, then this file's mu.
 */
#include "pool.h"
#include "reaper.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_MEMBERS 64
/* A foreground create's quiet time: the refill starts only once creates
 * paused this long, so a burst of creates never waits behind a member
 * (they share the runtime's zygote) and a fresh sandbox's first commands
 * do not share the CPUs with the refill. */
#define QUIET_MS 20
/* After a failed make (no image, full disk), or no room. */
#define BACKOFF_S 5

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond; /* CLOCK_MONOTONIC, made by srv_pool_start */
static pthread_t thread;
static int started, quit, want;
static int making, drop_making, busy;
static int64_t quiet_until; /* monotonic ns */
typedef struct member {
	srv_box *box;
	int spools[SRV_POOL_SPOOLS];
} member;
static member ready[MAX_MEMBERS];
static int nready;

static void close_spools(int *sp)
{
	for (int k = 0; k < SRV_POOL_SPOOLS; k++)
		if (sp[k] >= 0)
			close(sp[k]);
}
static uint64_t n_made, n_claimed, n_empty;
static srv_pool_hooks hooks;

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits on cond until the monotonic time at (ns), mu held. */
static void wait_until(int64_t at)
{
	struct timespec ts = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
	pthread_cond_timedwait(&cond, &mu, &ts);
}

static void *refill_main(void *arg)
{
	(void)arg;
	int told = 0; /* a make failure is logged once until one succeeds */
	pthread_mutex_lock(&mu);
	while (!quit) {
		if (nready + making >= want || busy > 0) {
			pthread_cond_wait(&cond, &mu);
			continue;
		}
		int64_t now = mono_ns();
		if (now < quiet_until) {
			wait_until(quiet_until);
			continue;
		}
		pthread_mutex_unlock(&mu);
		int room = hooks.reserve(); /* srv_lock, then mu: counts making */
		pthread_mutex_lock(&mu);
		if (!room) {
			/* --max-sandboxes is full: look again later (sandboxes
			 * end without telling the pool). A stop's signal may
			 * have come while mu was free: look at quit first. */
			if (!quit)
				wait_until(mono_ns() + 1000000000LL);
			continue;
		}
		/* A create may have begun and ended while mu was free (the
		 * reserve waits for srv_lock, which a create holds): its quiet
		 * time counts too, not only a create still running. */
		if (quit || busy > 0 || mono_ns() < quiet_until) {
			making--;
			continue;
		}
		pthread_mutex_unlock(&mu);
		member m = {NULL, {-1, -1}};
		char err[SRV_ERRLEN] = "";
		int rc = hooks.make(&m.box, m.spools, err);
		pthread_mutex_lock(&mu);
		making--;
		if (rc != 0) {
			if (!told)
				fprintf(stderr, "sbxd: info: warm pool: cannot make a sandbox ahead: %s (trying again every "
				        "%d s)\n", err, BACKOFF_S);
			told = 1;
			if (!quit)
				wait_until(mono_ns() + BACKOFF_S * 1000000000LL);
			continue;
		}
		told = 0;
		if (quit || drop_making > 0 || nready >= MAX_MEMBERS) {
			if (drop_making > 0)
				drop_making--;
			pthread_mutex_unlock(&mu);
			srv_box_destroy(m.box);
			close_spools(m.spools);
			pthread_mutex_lock(&mu);
			continue;
		}
		ready[nready++] = m;
		n_made++;
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

int srv_pool_start(int n, const srv_pool_hooks *h)
{
	if (n < 1 || n > MAX_MEMBERS || !h || !h->make || !h->reserve)
		return -1;
	hooks = *h;
	want = n;
	quit = making = drop_making = busy = nready = 0;
	quiet_until = 0;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&thread, NULL, refill_main, NULL) != 0) {
		pthread_cond_destroy(&cond);
		return -1;
	}
	started = 1;
	return 0;
}

int srv_pool_stop(void)
{
	pthread_mutex_lock(&mu);
	int was = started;
	started = 0;
	quit = 1;
	if (was)
		pthread_cond_signal(&cond);
	pthread_mutex_unlock(&mu);
	if (!was)
		return 0;
	pthread_join(thread, NULL);
	pthread_cond_destroy(&cond);
	/* The thread is gone: no lock needed for what it left. */
	for (int i = 0; i < nready; i++) {
		srv_box_destroy(ready[i].box);
		close_spools(ready[i].spools);
	}
	nready = 0;
	return 1;
}

size_t srv_pool_size(void)
{
	pthread_mutex_lock(&mu);
	size_t n = (size_t)(nready + making - drop_making);
	pthread_mutex_unlock(&mu);
	return n;
}

void srv_pool_reserve(void)
{
	pthread_mutex_lock(&mu);
	making++;
	pthread_mutex_unlock(&mu);
}

srv_box *srv_pool_take(int spools[SRV_POOL_SPOOLS])
{
	srv_box *box = NULL;
	pthread_mutex_lock(&mu);
	while (started && nready > 0) {
		/* The oldest first: each waited longest. */
		member m = ready[0];
		memmove(ready, ready + 1, (size_t)(nready - 1) * sizeof *ready);
		nready--;
		int64_t tok;
		int ws;
		/* No command ever ran in it: any event means its init died
		 * (-1) or something is wrong; it goes, the next may serve. */
		if (srv_box_next_exit(m.box, &tok, &ws, NULL) != 0) {
			srv_bury(m.box);
			close_spools(m.spools);
			continue;
		}
		box = m.box;
		memcpy(spools, m.spools, sizeof m.spools);
		n_claimed++;
		break;
	}
	/* The create that takes a member has begun, though it counts as
	 * busy only from srv_pool_busy(1) on: the refill, woken by the
	 * signal below and long past the last create's quiet time, went on
	 * to make a member (2-3 ms of clone and mounts on one of the two
	 * CPUs) beside this create's claim and its sandbox's first :exec. */
	quiet_until = mono_ns() + QUIET_MS * 1000000LL;
	if (started)
		pthread_cond_signal(&cond);
	pthread_mutex_unlock(&mu);
	return box;
}

void srv_pool_shrink(void)
{
	pthread_mutex_lock(&mu);
	if (nready > 0) {
		nready--;
		srv_bury(ready[nready].box);
		close_spools(ready[nready].spools);
	}
	else if (making > drop_making)
		drop_making++;
	pthread_mutex_unlock(&mu);
}

void srv_pool_busy(int delta)
{
	pthread_mutex_lock(&mu);
	busy += delta;
	if (busy < 0)
		busy = 0;
	quiet_until = mono_ns() + QUIET_MS * 1000000LL;
	if (busy == 0 && started)
		pthread_cond_signal(&cond);
	pthread_mutex_unlock(&mu);
}

void srv_pool_counts(uint64_t *made, uint64_t *claimed, uint64_t *empty)
{
	pthread_mutex_lock(&mu);
	*made = n_made;
	*claimed = n_claimed;
	*empty = n_empty;
	pthread_mutex_unlock(&mu);
}

void srv_pool_count_empty(void)
{
	pthread_mutex_lock(&mu);
	n_empty++;
	pthread_mutex_unlock(&mu);
}
