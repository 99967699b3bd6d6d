/*
 * Output chunk cache (see chunk.h): a handful of reference-counted entries
 * under one lock, evicted least recently used first, and the table of
 * fetches in flight under the same lock (so "not cached" and "nobody is
 * fetching it" are one decision).
 */
#include "chunk.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct fs_chunk {
	uint32_t slot;
	int64_t pid;
	int stream;
	int64_t offset;
	void *data;
	size_t len;
	int pooled;
	int refs;
	int dead;               /* evicted while pinned: free on release */
	uint64_t tick;
	int64_t used_ns;
};

/* Chunks unused this long are dropped at the next put/get, so an idle
 * daemon does not sit on output it served once. */
#define IDLE_NS (3LL * 1000000000)

#define POOL_MAX 4

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static fs_chunk *entries[FS_CHUNK_CAP_ENTRIES];
static void *pool[POOL_MAX];
static int npool;
static int64_t pool_used_ns;
static size_t total;
static uint64_t ticks;

/* Under lock. */
static void buf_release_locked(void *buf, int pooled)
{
	if (pooled && buf && npool < POOL_MAX) {
		pool[npool++] = buf;
		return;
	}
	free(buf);
}

static void drop(int i)
{
	fs_chunk *c = entries[i];
	entries[i] = NULL;
	total -= c->len;
	if (c->refs > 0) {
		c->dead = 1;
		return;
	}
	buf_release_locked(c->data, c->pooled);
	free(c);
}

void *fs_chunk_buf(void)
{
	void *b = NULL;
	pthread_mutex_lock(&lock);
	if (npool > 0)
		b = pool[--npool];
	pool_used_ns = mono_ns();
	pthread_mutex_unlock(&lock);
	return b ? b : malloc(FS_CHUNK_READ);
}

void fs_chunk_buf_free(void *buf)
{
	pthread_mutex_lock(&lock);
	buf_release_locked(buf, 1);
	pthread_mutex_unlock(&lock);
}

int64_t fs_chunk_end(const fs_chunk *c)
{
	return c->offset + (int64_t)c->len;
}

static void drop_idle(int64_t now)
{
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++)
		if (entries[i] && now - entries[i]->used_ns > IDLE_NS)
			drop(i);
	if (now - pool_used_ns > IDLE_NS)
		while (npool > 0)
			free(pool[--npool]);
}

/* Evicts until len more bytes and one more entry fit. */
static void make_room(size_t len)
{
	for (;;) {
		int free_i = -1, lru = -1;
		for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++) {
			if (!entries[i]) {
				free_i = i;
				continue;
			}
			if (lru < 0 || entries[i]->tick < entries[lru]->tick)
				lru = i;
		}
		if (free_i >= 0 && total + len <= FS_CHUNK_CAP_BYTES)
			return;
		if (lru < 0)
			return;
		drop(lru);
	}
}

void fs_chunk_put(uint32_t slot, int64_t pid, int stream, int64_t offset, void *data, size_t len, int pooled)
{
	fs_chunk *c = len == 0 || len > FS_CHUNK_CAP_BYTES ? NULL : calloc(1, sizeof *c);
	if (!c) {
		if (pooled)
			fs_chunk_buf_free(data);
		else
			free(data);
		return;
	}
	*c = (fs_chunk){slot, pid, stream, offset, data, len, pooled, 0, 0, 0, 0};
	pthread_mutex_lock(&lock);
	/* A chunk that starts where one already cached starts replaces it only
	 * when longer (live streams are re-read as they grow). */
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++) {
		fs_chunk *o = entries[i];
		if (o && o->slot == slot && o->pid == pid && o->stream == stream && o->offset == offset) {
			if (o->len >= len) {
				buf_release_locked(data, pooled);
				pthread_mutex_unlock(&lock);
				free(c);
				return;
			}
			drop(i);
		}
	}
	int64_t now = mono_ns();
	drop_idle(now);
	make_room(len);
	c->tick = ++ticks;
	c->used_ns = now;
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++) {
		if (!entries[i]) {
			entries[i] = c;
			total += len;
			c = NULL;
			break;
		}
	}
	if (c)
		buf_release_locked(c->data, c->pooled);
	pthread_mutex_unlock(&lock);
	free(c);
}

fs_chunk *fs_chunk_get(uint32_t slot, int64_t pid, int stream, int64_t off, size_t max, const void **p, size_t *n)
{
	fs_chunk *hit = NULL;
	int64_t now = mono_ns();
	pthread_mutex_lock(&lock);
	drop_idle(now);
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++) {
		fs_chunk *c = entries[i];
		if (c && c->slot == slot && c->pid == pid && c->stream == stream && off >= c->offset &&
		    off < c->offset + (int64_t)c->len) {
			size_t skip = (size_t)(off - c->offset);
			size_t avail = c->len - skip;
			*p = (const char *)c->data + skip;
			*n = avail < max ? avail : max;
			c->refs++;
			c->tick = ++ticks;
			c->used_ns = now;
			hit = c;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

void fs_chunk_release(fs_chunk *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&lock);
	int gone = --c->refs == 0 && c->dead;
	if (gone)
		buf_release_locked(c->data, c->pooled);
	pthread_mutex_unlock(&lock);
	if (gone)
		free(c);
}

/* ------------------------------------------------------------ in flight */

#define INFLIGHT_MAX 16

typedef struct inflight {
	int used;
	uint32_t slot;
	int64_t pid;
	int stream;
	int64_t off;
} inflight;

static inflight flights[INFLIGHT_MAX];
static pthread_cond_t flight_done = PTHREAD_COND_INITIALIZER;

/* Under lock: the fetch in flight whose chunk holds off, or -1. */
static int flight_covering(uint32_t slot, int64_t pid, int stream, int64_t off)
{
	for (int i = 0; i < INFLIGHT_MAX; i++) {
		const inflight *f = &flights[i];
		if (f->used && f->slot == slot && f->pid == pid && f->stream == stream && off >= f->off &&
		    off - f->off < (int64_t)FS_CHUNK_READ)
			return i;
	}
	return -1;
}

/* Under lock: whether a cached chunk holds off. */
static int cached(uint32_t slot, int64_t pid, int stream, int64_t off)
{
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++) {
		const fs_chunk *c = entries[i];
		if (c && c->slot == slot && c->pid == pid && c->stream == stream && off >= c->offset &&
		    off < c->offset + (int64_t)c->len)
			return 1;
	}
	return 0;
}

int fs_chunk_claim(uint32_t slot, int64_t pid, int stream, int64_t off, int wait_ms)
{
	int rc = -1;
	pthread_mutex_lock(&lock);
	/* Under the one lock of the cache: a fetch that ends between the
	 * caller's miss and this claim has put its chunk already. */
	if (cached(slot, pid, stream, off)) {
		rc = 0;
		goto out;
	}
	int f = flight_covering(slot, pid, stream, off);
	if (f >= 0) {
		rc = 0;
		if (wait_ms <= 0)
			goto out;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		/* The same key may be claimed again meanwhile (a fresh fetch
		 * after this one): waiting for that one too is right. */
		while (flight_covering(slot, pid, stream, off) >= 0)
			if (pthread_cond_timedwait(&flight_done, &lock, &until) != 0)
				break;
		goto out;
	}
	for (int i = 0; i < INFLIGHT_MAX; i++) {
		if (!flights[i].used) {
			flights[i] = (inflight){1, slot, pid, stream, off};
			rc = 1;
			break;
		}
	}
out:
	pthread_mutex_unlock(&lock);
	return rc;
}

void fs_chunk_unclaim(uint32_t slot, int64_t pid, int stream, int64_t off)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < INFLIGHT_MAX; i++) {
		inflight *f = &flights[i];
		if (f->used && f->slot == slot && f->pid == pid && f->stream == stream && f->off == off) {
			f->used = 0;
			break;
		}
	}
	pthread_cond_broadcast(&flight_done);
	pthread_mutex_unlock(&lock);
}

int fs_chunk_inflight(void)
{
	int n = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < INFLIGHT_MAX; i++)
		n += flights[i].used;
	pthread_mutex_unlock(&lock);
	return n;
}

void fs_chunk_clear(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++)
		if (entries[i])
			drop(i);
	while (npool > 0)
		free(pool[--npool]);
	pthread_mutex_unlock(&lock);
}

void fs_chunk_drop_slot(uint32_t slot)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++)
		if (entries[i] && entries[i]->slot == slot)
			drop(i);
	pthread_mutex_unlock(&lock);
}
