/*
 * The write protocol of the clone files (new, exec/new; docs/filesystem.md
 * "Running processes"): which bytes written to them make one request. What
 * a request is depends only on the bytes, never on how they were cut into
 * writes:
 * - A JSON object (first non-blank byte `{`) is complete once its braces
 *   and brackets balance outside strings; blanks and newlines right after
 *   it belong to it (python's print() writes the object and its newline in
 *   two calls). Bytes after it start the next request, in the same write
 *   or a later one alike.
 * - An empty line alone is a request of its own (complete at its newline).
 * - Anything else is text: everything until the file is closed or read
 *   back (the caller ends it; see fs/ops.c).
 * Pure code with no locks (the caller holds the handle's), so it is
 * unit-tested and fuzzed for exactly that promise.
 */
#ifndef FS_CLONE_H
#define FS_CLONE_H

#include <stddef.h>
#include <sys/types.h>

enum { FS_CLONE_UNDECIDED = 0, FS_CLONE_JSON = 1, FS_CLONE_TEXT = 2 };

typedef struct fs_clone {
	char *pend;             /* the request so far, NUL-terminated, or NULL */
	size_t len;
	struct {                /* how far the scan has read pend */
		size_t off;
		int mode;       /* FS_CLONE_ */
		int depth, in_str, esc;
	} scan;
	int after_obj;          /* a request ended: blanks that follow belong to it */
} fs_clone;

/* Adds up to size bytes of buf to the pending request (at most cap bytes
 * a request). Returns how many bytes of buf it took: all of them, or, when
 * they complete a request (*done = 1), those up to its end; the caller
 * starts c->pend (c->len bytes), calls fs_clone_next, and adds the rest.
 * -E2BIG when the request would pass cap, -ENOMEM; nothing taken then. */
ssize_t fs_clone_add(fs_clone *c, const char *buf, size_t size, size_t cap, int *done);
/* After a complete request: drops it; blanks that follow still belong to
 * it. */
void fs_clone_next(fs_clone *c);
/* Drops everything pending (a close, a refusal). */
void fs_clone_clear(fs_clone *c);

#endif
