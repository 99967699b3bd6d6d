/*
 * sbxfs's own multi-threaded FUSE loop (loop.c): one thread reads
 * /dev/fuse at a time and answers a request it can answer without waiting
 * on anything (a files/ write through the file's descriptor) itself, so a
 * stream of tar's 10 KiB writes is served by one thread
 * that the kernel wakes once a request; any other request is handed to
 * the pool first (the most recently idle thread becomes the reader), so
 * a slow call never holds the mount up.
 */
#ifndef FS_LOOP_H
#define FS_LOOP_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif
#include <fuse_lowlevel.h>

#include <stddef.h>

/* Whether the raw request buf (len bytes, as read from /dev/fuse) is one
 * the reading thread may answer itself: it waits on no call and no lock
 * another request can hold for long (ops.c fs_ops_request_local). */
typedef int (*fs_loop_local_fn)(const char *buf, size_t len);

/* Serves se until it exits (unmount, or a signal through libfuse's
 * handlers, which land in the calling thread: the workers block them)
 * with at most max_threads workers; 0, or -1 when no worker could start. */
int fs_loop_run(struct fuse_session *se, unsigned max_threads, fs_loop_local_fn local);

#endif
