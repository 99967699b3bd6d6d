/*
 * Reads that wait, without holding a thread: a read of stdout/stderr past
 * the bytes so far, or of a returncode before the exit, becomes a "waiter"
 * that owns the FUSE request and an asynchronous libsbx long-poll. The
 * poll's callback (on libsbx's loop thread) answers the request, or re-arms
 * the poll when it timed out with nothing new. FUSE INTERRUPT cancels the
 * poll and the request ends with EINTR. poll() on those files arms the same
 * kind of long-poll and notifies the kernel when it completes. Readers of
 * one returncode share one long-poll (a carrier waiter answers them all).
 */
#ifndef FS_WAIT_H
#define FS_WAIT_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif
#include <fuse_lowlevel.h>

#include <sbx/sbx.h>

#include "handle.h"

/* Seconds each long-poll asks the service to wait before it is re-armed. */
#define FS_LONGPOLL_SECONDS 25

void fs_wait_init(sbx_async *a);
/* Cancels every waiter (their requests end with EINTR). */
void fs_wait_fini(void);
/* Frees the recycled waiters; only after the async loop is gone. */
void fs_wait_free_all(void);

/* Answers req with bytes [off, off+size) of the stream once at least one
 * exists, or with end-of-file once the stream ended before off. */
void fs_wait_output(fuse_req_t req, fs_handle *h, const char *id, sbx_stream st, int64_t off, size_t size);
/* Answers req with the slice at off of "CODE\n" once the process (pid >= 1)
 * or the sandbox (pid 0) has ended. */
void fs_wait_returncode(fuse_req_t req, fs_handle *h, const char *id, int64_t off, size_t size);

/* poll(): arms a long-poll that calls fuse_lowlevel_notify_poll(ph) when
 * the file becomes readable. Takes ph. */
void fs_wait_poll(fs_handle *h, const char *id, struct fuse_pollhandle *ph);
/* The handle is being released: forget and cancel its poll. */
void fs_wait_forget_handle(fs_handle *h);

/* Reads FS_CHUNK_READ bytes at off into the chunk cache in the background
 * (at most a few at once; a duplicate of one in flight is ignored). */
void fs_wait_prefetch(uint32_t slot, const char *id, int64_t pid, sbx_stream st, int64_t off);

/* "CODE\n" sliced at off into buf; returns the byte count. */
size_t fs_rc_slice(int code, int64_t off, size_t size, char *buf, size_t buflen);

#endif
