/*
 * The reaper: a thread that destroys the boxes of ended sandboxes
 * (srv_box_destroy kills, reaps, unmounts, removes cgroups: milliseconds)
 * without srv_lock, so neither requests nor the event loop wait behind a
 * teardown. The lifecycle hands a box over with srv_bury and forgets it.
 * Knows boxes only, not sandboxes (docs/internals/server.md, "The core's
 * modules").
 */
#include "reaper.h"
#include "records.h" /* srv_lock */

#include <stdlib.h>

static srv_box **graves;  /* boxes for the reaper thread to destroy */
static size_t ngraves;
static pthread_cond_t graves_cond = PTHREAD_COND_INITIALIZER;
static pthread_t reaper_thread;
static int reaper_started, reaper_quit;

/* srv_box_destroy kills, reaps and unmounts: milliseconds. A reaper
 * thread does it without srv_lock, so neither requests nor the event loop
 * (process exits) wait behind a teardown. Called with srv_lock held. */
void srv_bury(srv_box *b)
{
	srv_box **ng = realloc(graves, (ngraves + 1) * sizeof *ng);
	if (!ng) {
		srv_box_destroy(b);
		return;
	}
	graves = ng;
	graves[ngraves++] = b;
	pthread_cond_signal(&graves_cond);
}

/* Destroys every buried box; called without srv_lock. */
void srv_destroy_graves(void)
{
	pthread_mutex_lock(&srv_lock);
	srv_box **g = graves;
	size_t n = ngraves;
	graves = NULL;
	ngraves = 0;
	pthread_mutex_unlock(&srv_lock);
	for (size_t i = 0; i < n; i++)
		srv_box_destroy(g[i]);
	free(g);
}

static void *reaper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&srv_lock);
	for (;;) {
		while (!ngraves && !reaper_quit)
			pthread_cond_wait(&graves_cond, &srv_lock);
		if (!ngraves && reaper_quit)
			break;
		pthread_mutex_unlock(&srv_lock);
		srv_destroy_graves();
		pthread_mutex_lock(&srv_lock);
	}
	pthread_mutex_unlock(&srv_lock);
	return NULL;
}

int srv_reaper_start(void)
{
	if (pthread_create(&reaper_thread, NULL, reaper_main, NULL) != 0)
		return -1;
	reaper_started = 1;
	return 0;
}

void srv_reaper_quit(void)
{
	reaper_quit = 1;
	pthread_cond_signal(&graves_cond);
}

void srv_reaper_join(void)
{
	if (reaper_started)
		pthread_join(reaper_thread, NULL);
	reaper_started = 0;
}
