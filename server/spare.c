/*
 * A pool of empty files and directories under STATE_DIR/spare, kept full by
 * a thread of its own, from which sbxd's records, spools and sandbox
 * directories are made by a rename instead of a create. Allocating an inode
 * is the one slow step of making a file: on ext4 it scans the inode bitmap,
 * and without a journal (as on this project's VMs) it also skips every inode
 * deleted in the last few minutes, reading each one's inode table block:
 * 0.2-1 ms per file once a few thousand files have come and gone, so a
 * create (a directory and a record) spent half its time there. A rename
 * within one file system allocates nothing. Pool entries are always empty
 * (a taken one is renamed away before anything is written into it), and
 * the pool dir is emptied at start, so a crash leaves nothing to recover.
 */
#include "spare.h"
#include "parse.h"        /* SRV_MSGLEN */
#include "runtime/util.h" /* srv_rm_rf */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Enough for a burst: a create takes a directory and a file, a process
 * start three files, and the thread refills one in 0.02-1 ms. */
#define WANT_FILES 16
#define WANT_DIRS 8
/* A take's quiet time: while at least half of a kind is left, its refill
 * waits this long after the last take of any kind. A create takes a
 * directory and a file and its sandbox's first commands follow at once:
 * two inode allocations (0.2-1 ms of CPU each on a churned ext4) beside
 * them were part of why a new sandbox's first :exec cost more than its
 * second. A burst still finds half the pool, and the refill never waits
 * below half. */
#define QUIET_MS 20

enum { FILES, DIRS };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond; /* CLOCK_MONOTONIC, made by srv_spare_start */
static pthread_t thread;
static int started, quit, backoff;
static int off; /* renames from the pool cannot work (EXDEV): plain creates */
static int poolfd = -1, newfd = -1; /* spare/, spare/new/ */
static uint32_t stack[2][WANT_FILES], nstack[2], next_name = 1;
static struct timespec quiet_until; /* CLOCK_MONOTONIC: see QUIET_MS */
static const int want[2] = {WANT_FILES, WANT_DIRS};

static void spare_name(char *buf, size_t len, int kind, uint32_t n)
{
	snprintf(buf, len, "%c%u", kind == DIRS ? 'd' : 'f', n);
}

/* Called with mu held; drops it while the file system works. A spare is
 * made in spare/new and then renamed into spare/: the create holds its
 * parent directory's lock for as long as the allocation takes, and a
 * request's rename out of spare/ would wait that long behind it. */
static void refill_one(int kind)
{
	uint32_t n = next_name++;
	char name[16];
	spare_name(name, sizeof name, kind, n);
	pthread_mutex_unlock(&mu);
	int ok;
	if (kind == DIRS) {
		ok = mkdirat(newfd, name, 0700) == 0;
	} else {
		int fd = openat(newfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ok = fd >= 0;
		if (ok)
			close(fd);
	}
	if (ok && renameat(newfd, name, poolfd, name) != 0) {
		unlinkat(newfd, name, kind == DIRS ? AT_REMOVEDIR : 0);
		ok = 0;
	}
	pthread_mutex_lock(&mu);
	if (ok && nstack[kind] < (uint32_t)want[kind])
		stack[kind][nstack[kind]++] = n;
	else if (ok) /* not reached: only this thread adds to the pool */
		unlinkat(poolfd, name, kind == DIRS ? AT_REMOVEDIR : 0);
	else /* full disk or the like: requests create their own; retry later */
		backoff = 1;
}

static void *refill_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!quit) {
		if (backoff) {
			/* A create failed: try again in a few seconds, not in
			 * a loop of failing creates. */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 5;
			while (!quit && pthread_cond_timedwait(&cond, &mu, &ts) == 0)
				;
			backoff = 0;
			continue;
		}
		int low = nstack[FILES] < (uint32_t)want[FILES] / 2 || nstack[DIRS] < (uint32_t)want[DIRS] / 2;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int quiet = now.tv_sec > quiet_until.tv_sec ||
		            (now.tv_sec == quiet_until.tv_sec && now.tv_nsec >= quiet_until.tv_nsec);
		if (off)
			pthread_cond_wait(&cond, &mu);
		else if (!low && !quiet && (nstack[FILES] < (uint32_t)want[FILES] || nstack[DIRS] < (uint32_t)want[DIRS]))
			pthread_cond_timedwait(&cond, &mu, &quiet_until); /* then look again */
		else if (nstack[FILES] < (uint32_t)want[FILES])
			refill_one(FILES);
		else if (nstack[DIRS] < (uint32_t)want[DIRS])
			refill_one(DIRS);
		else
			pthread_cond_wait(&cond, &mu);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Pops a spare of the kind into name; 0 when the pool has none. */
static int take(int kind, char *name, size_t len)
{
	int got = 0;
	pthread_mutex_lock(&mu);
	if (started && !off && nstack[kind] > 0) {
		spare_name(name, len, kind, stack[kind][--nstack[kind]]);
		got = 1;
		clock_gettime(CLOCK_MONOTONIC, &quiet_until);
		quiet_until.tv_nsec += QUIET_MS * 1000000L;
		if (quiet_until.tv_nsec >= 1000000000L) {
			quiet_until.tv_sec++;
			quiet_until.tv_nsec -= 1000000000L;
		}
		pthread_cond_signal(&cond);
	}
	pthread_mutex_unlock(&mu);
	return got;
}

/* Moves a spare to dirfd/name unless name exists. Returns 0 when it did,
 * else -1 with errno EEXIST, or why the pool could not serve. A spare
 * that was taken but not placed is removed: it never goes back, so only
 * the refill thread ever adds to the pool. */
static int place(int kind, int dirfd, const char *name)
{
	char sp[16];
	if (!take(kind, sp, sizeof sp)) {
		errno = ENOENT;
		return -1;
	}
	if (renameat2(poolfd, sp, dirfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	int e = errno;
	unlinkat(poolfd, sp, kind == DIRS ? AT_REMOVEDIR : 0);
	if (e == EXDEV || e == EINVAL) {
		/* dirfd on another file system (or one without rename
		 * flags): the pool would only cost a create and a remove
		 * per call from now on. */
		pthread_mutex_lock(&mu);
		off = 1;
		pthread_mutex_unlock(&mu);
	}
	errno = e;
	return -1;
}

int srv_spare_open(int dirfd, const char *name, int flags)
{
	/* Most opens of an existing name (a record's tmp file from its
	 * previous save) need no spare: look first. */
	int fd = openat(dirfd, name, flags);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	(void)place(FILES, dirfd, name); /* else openat creates (or finds) it */
	return openat(dirfd, name, flags | O_CREAT, 0600);
}

int srv_spare_mkdir(int dirfd, const char *name)
{
	if (faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (place(DIRS, dirfd, name) == 0)
		return 0;
	if (errno == EEXIST)
		return -1;
	return mkdirat(dirfd, name, 0700);
}

int srv_spare_start(const char *state_dir, char *err)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/spare", state_dir);
	/* An earlier run's spares (all empty) go; the pool starts afresh. */
	if (srv_rm_rf(path) != 0 || mkdir(path, 0700) != 0 ||
	    (poolfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || mkdirat(poolfd, "new", 0700) != 0 ||
	    (newfd = openat(poolfd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, SRV_MSGLEN, "cannot set up %.200s: %s", path, strerror(errno));
		return -1;
	}
	pthread_condattr_t ca; /* the backoff must not move with the wall clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &ca);
	pthread_condattr_destroy(&ca);
	quit = backoff = off = 0;
	nstack[FILES] = nstack[DIRS] = 0;
	if (pthread_create(&thread, NULL, refill_main, NULL) != 0) {
		snprintf(err, SRV_MSGLEN, "cannot start the spare-file thread");
		return -1;
	}
	started = 1;
	return 0;
}

void srv_spare_stop(void)
{
	pthread_mutex_lock(&mu);
	int was = started;
	started = 0;
	quit = 1;
	if (was)
		pthread_cond_signal(&cond);
	pthread_mutex_unlock(&mu);
	if (was) {
		pthread_join(thread, NULL);
		pthread_cond_destroy(&cond);
	}
	if (poolfd >= 0)
		close(poolfd);
	if (newfd >= 0)
		close(newfd);
	poolfd = newfd = -1;
}
