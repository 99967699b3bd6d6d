/*
 * Output chunk cache (see chunk.h): a handful of reference-counted entries
 * under one lock, evicted least recently used first.
 */
#include "chunk.h"

#include <pthread.h>
#include <stdlib.h>

struct fs_chunk {
	uint32_t slot;
	int64_t pid;
	int stream;
	int64_t offset;
	void *data;
	size_t len;
	int refs;
	int dead;               /* evicted while pinned: free on release */
	uint64_t tick;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static fs_chunk *entries[FS_CHUNK_CAP_ENTRIES];
static size_t total;
static uint64_t ticks;

static void drop(int i)
{
	fs_chunk *c = entries[i];
	entries[i] = NULL;
	total -= c->len;
	if (c->refs > 0) {
		c->dead = 1;
		return;
	}
	free(c->data);
	free(c);
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

void fs_chunk_put(uint32_t slot, int64_t pid, int stream, int64_t offset, void *data, size_t len)
{
	if (len == 0 || len > FS_CHUNK_CAP_BYTES) {
		free(data);
		return;
	}
	fs_chunk *c = calloc(1, sizeof *c);
	if (!c) {
		free(data);
		return;
	}
	*c = (fs_chunk){slot, pid, stream, offset, data, len, 0, 0, 0};
	pthread_mutex_lock(&lock);
	/* A chunk that starts where one already cached starts replaces it only
	 * when longer (live streams are re-read as they grow). */
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++) {
		fs_chunk *o = entries[i];
		if (o && o->slot == slot && o->pid == pid && o->stream == stream && o->offset == offset) {
			if (o->len >= len) {
				pthread_mutex_unlock(&lock);
				free(data);
				free(c);
				return;
			}
			drop(i);
		}
	}
	make_room(len);
	c->tick = ++ticks;
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++) {
		if (!entries[i]) {
			entries[i] = c;
			total += len;
			c = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	if (c) {
		free(c->data);
		free(c);
	}
}

fs_chunk *fs_chunk_get(uint32_t slot, int64_t pid, int stream, int64_t off, size_t max, const void **p, size_t *n)
{
	fs_chunk *hit = NULL;
	pthread_mutex_lock(&lock);
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
	pthread_mutex_unlock(&lock);
	if (gone) {
		free(c->data);
		free(c);
	}
}

void fs_chunk_clear(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < FS_CHUNK_CAP_ENTRIES; i++)
		if (entries[i])
			drop(i);
	pthread_mutex_unlock(&lock);
}
