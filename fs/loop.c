/*
 * sbxfs's multi-threaded FUSE loop, in place of libfuse's
 * fuse_session_loop_mt (used only with -o clone_fd). libfuse parks every
 * idle worker in read(2) of /dev/fuse, and the kernel wakes them in turn
 * (the one that slept longest first); each request also takes the
 * loop's counter lock twice and, when the count of idle workers touches
 * zero, starts a thread that an idle surplus later ends. For one
 * writer's stream of small writes (tar xf: 10 KiB each, one request
 * each through a descriptor-backed files/ handle) that meant a different,
 * cold thread for every request, a thread started and ended every few
 * hundred, and 1.5 context switches a request: the same 256 MiB of dd
 * bs=10k cost sbxfs 210-630 ms of CPU against 160-200 ms with one
 * thread (docs/performance.md, "tar in").
 *
 * Here one worker at a time is the reader. A request it may answer
 * without waiting (fs_loop_local_fn: a write through a file's own
 * descriptor) it answers itself and reads again: one thread, woken
 * once a request. Any other request first makes another worker the
 * reader (the most recently idle, or a new one while fewer than
 * max_threads run) and is then answered, so a slow call to the service
 * holds up nothing but itself; the worker then reads again if no one
 * does, else waits on its own condition variable on the idle stack.
 * Workers block signals (libfuse's handlers run in the thread that
 * called fs_loop_run) and allow cancellation only inside the read, as
 * libfuse's loop does, so the exit cancels the reader and lets the others
 * finish their request.
 */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* The most threads the pool may have (main.c passes max_threads). */
#define LOOP_MAX_THREADS 1024

typedef struct loop_worker {
	pthread_t tid;
	int started;
	int woken;                      /* popped off the idle stack: read next */
	pthread_cond_t wake;
	struct fuse_buf buf;            /* this worker's request (libfuse allocates it) */
	struct loop_worker *next_idle;
} loop_worker;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fuse_session *session;
static fs_loop_local_fn is_local;
static loop_worker *workers;
static unsigned nmax, nstarted;
static loop_worker *idle;               /* LIFO: the most recently idle first */
static loop_worker *reader;             /* reads /dev/fuse now, or is about to */
static int exiting;
static int failed;                      /* -errno of a read that ended the loop */
static sem_t finish;

static void *work(void *arg);

/* Under lock: a new worker, or NULL when the pool is full or no thread
 * starts. Its thread blocks every signal. */
static loop_worker *start_locked(void)
{
	if (nstarted >= nmax)
		return NULL;
	loop_worker *w = &workers[nstarted];
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&w->tid, NULL, work, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		fs_log(LOG_ERR, "loop: a worker thread: %s", strerror(rc));
		return NULL;
	}
	w->started = 1;
	nstarted++;
	return w;
}

/* Under lock: the reader is leaving to answer a request; the most
 * recently idle worker (or a new one) reads next. With none, whoever
 * finishes a request first reads. */
static void pass_reader_locked(void)
{
	loop_worker *w = idle;
	if (w) {
		idle = w->next_idle;
		w->woken = 1;
		pthread_cond_signal(&w->wake);
	} else {
		w = start_locked();
	}
	reader = w;
}

/* Under lock: the loop is over; every waiting worker goes. */
static void end_locked(void)
{
	exiting = 1;
	reader = NULL;
	for (unsigned i = 0; i < nstarted; i++)
		pthread_cond_signal(&workers[i].wake);
}

/* As the reader: reads and answers local requests until one needs the
 * pool (answered after handing the reading on: 0) or the session ends
 * (1). */
static int serve(loop_worker *me)
{
	for (;;) {
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		int r = fuse_session_receive_buf(session, &me->buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if ((r == -EINTR || r == -EAGAIN) && !fuse_session_exited(session))
			continue;
		if (r <= 0 || fuse_session_exited(session)) {
			pthread_mutex_lock(&lock);
			if (r < 0 && r != -EINTR && r != -EAGAIN)
				failed = r;
			end_locked();
			pthread_mutex_unlock(&lock);
			fuse_session_exit(session);
			sem_post(&finish);
			return 1;
		}
		if (is_local && !(me->buf.flags & FUSE_BUF_IS_FD) && is_local(me->buf.mem, (size_t)r)) {
			fuse_session_process_buf(session, &me->buf);
			continue;
		}
		pthread_mutex_lock(&lock);
		if (reader == me)
			pass_reader_locked();
		pthread_mutex_unlock(&lock);
		fuse_session_process_buf(session, &me->buf);
		return 0;
	}
}

static void *work(void *arg)
{
	loop_worker *me = arg;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&lock);
	for (;;) {
		while (!exiting && reader && reader != me) {
			me->woken = 0;
			me->next_idle = idle;
			idle = me;
			while (!me->woken && !exiting)
				pthread_cond_wait(&me->wake, &lock);
		}
		if (exiting)
			break;
		reader = me;
		pthread_mutex_unlock(&lock);
		int done = serve(me);
		pthread_mutex_lock(&lock);
		if (done)
			break;
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int fs_loop_run(struct fuse_session *se, unsigned max_threads, fs_loop_local_fn local)
{
	if (max_threads < 1)
		max_threads = 1;
	if (max_threads > LOOP_MAX_THREADS)
		max_threads = LOOP_MAX_THREADS;
	workers = calloc(max_threads, sizeof *workers);
	if (!workers || sem_init(&finish, 0, 0) != 0) {
		free(workers);
		workers = NULL;
		return -1;
	}
	for (unsigned i = 0; i < max_threads; i++)
		pthread_cond_init(&workers[i].wake, NULL);
	session = se;
	is_local = local;
	nmax = max_threads;
	nstarted = 0;
	idle = reader = NULL;
	exiting = failed = 0;

	pthread_mutex_lock(&lock);
	reader = start_locked();
	int ok = reader != NULL;
	pthread_mutex_unlock(&lock);
	/* sem_wait ends early on a signal: libfuse's handler has then
	 * marked the session exited. A signal between the check and the
	 * wait is seen within a second. */
	while (ok && !fuse_session_exited(se)) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 1;
		(void)sem_timedwait(&finish, &t);
	}

	pthread_mutex_lock(&lock);
	/* Only the reader can be inside the read (the one cancellation
	 * point that is enabled); the rest finish their request and go. */
	if (reader && !exiting)
		pthread_cancel(reader->tid);
	end_locked();
	unsigned n = nstarted;
	pthread_mutex_unlock(&lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(workers[i].tid, NULL);
	for (unsigned i = 0; i < max_threads; i++) {
		free(workers[i].buf.mem);
		pthread_cond_destroy(&workers[i].wake);
	}
	free(workers);
	workers = NULL;
	sem_destroy(&finish);
	fuse_session_reset(se);
	return ok ? (failed ? -1 : 0) : -1;
}
