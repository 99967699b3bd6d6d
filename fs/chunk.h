/*
 * A small cache of output chunks read from the service, so that a reader
 * asking for 128 KiB or 1 MiB at a time is served from one 4 MiB read of
 * the service instead of one HTTP call per read(). Output bytes never change
 * once produced (streams are append-only), so a cached chunk is always
 * right and needs no invalidation; the cache only bounds memory.
 */
#ifndef FS_CHUNK_H
#define FS_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define FS_CHUNK_READ (4u << 20)        /* bytes asked of the service at once */
#define FS_CHUNK_CAP_BYTES (16u << 20)  /* all chunks together */
#define FS_CHUNK_CAP_ENTRIES 16

typedef struct fs_chunk fs_chunk;

/* Takes ownership of data in every case: malloc'd, or from fs_chunk_buf
 * when pooled is set. */
void fs_chunk_put(uint32_t slot, int64_t pid, int stream, int64_t offset, void *data, size_t len, int pooled);
/* A buffer of FS_CHUNK_READ bytes, reused from a pool of a few when one is
 * free (big buffers are mmap'd by malloc, and fresh pages cost a fault
 * each); give it back with fs_chunk_buf_free or fs_chunk_put(..., 1). */
void *fs_chunk_buf(void);
void fs_chunk_buf_free(void *buf);
/* Offset just past the chunk's last byte. */
int64_t fs_chunk_end(const fs_chunk *c);
/* A chunk holding byte off of the stream, or NULL. On a hit, *p and *n are the
 * bytes from off to the chunk's end (at most max) and the chunk stays
 * pinned until fs_chunk_release. */
fs_chunk *fs_chunk_get(uint32_t slot, int64_t pid, int stream, int64_t off, size_t max, const void **p, size_t *n);
void fs_chunk_release(fs_chunk *c);
/* Drops every chunk of slot (a reclaimed or reused slot number). */
void fs_chunk_drop_slot(uint32_t slot);
/* Frees every unpinned chunk. */
void fs_chunk_clear(void);

/* Fetches in flight. A reader that misses the cache must not ask the
 * service again for bytes a fetch (the prefetch, or another reader) is
 * already bringing: it claims the chunk at off first.
 *   1: the caller owns the fetch of [off, off + FS_CHUNK_READ) and calls
 *      fs_chunk_unclaim with the same key once it has put the chunk (or
 *      failed);
 *   0: the bytes at off are cached now, or a fetch covering off was in
 *      flight and has ended (or wait_ms passed): look in the cache again.
 *      With wait_ms 0 (the event loop, which must not block) 0 also means
 *      "in flight", at once;
 *  -1: the table of fetches is full: fetch without a claim. */
int fs_chunk_claim(uint32_t slot, int64_t pid, int stream, int64_t off, int wait_ms);
void fs_chunk_unclaim(uint32_t slot, int64_t pid, int stream, int64_t off);
/* Fetches in flight now (for tests). */
int fs_chunk_inflight(void);

#endif
