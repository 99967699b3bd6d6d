/*
 * A log line for every failed FUSE operation (issue 12): which operation,
 * on which path, for which process, and the errno it answered. Two pieces
 * make it work without touching the operations themselves: fs_reqlog_ops()
 * wraps the operation table so each call records what it is working on in
 * a thread-local, and the link step (fs/meson.build: -Wl,--wrap) sends every
 * fuse_reply_err of sbxfs's own code through __wrap_fuse_reply_err, which
 * logs before replying. A reply made later from another thread (a read that
 * waited) has no such record and is logged as a waiting read.
 *
 * Not logged, as a normal part of using the tree: EAGAIN (O_NONBLOCK with
 * nothing yet), EINTR (Ctrl-C of a waiting read), ENODATA (no such xattr)
 * and ENOENT from lookup (shells, ls and editors look up missing names all
 * the time). Failures of the service or its transport (ETIMEDOUT,
 * ECONNREFUSED, EHOSTDOWN, EIO, ENOMEM, EMFILE, ...) are warnings; the rest, a
 * caller's mistake more than the daemon's, are notices. An ENOTSUP line
 * ends with "; why: " and the `error` message set by that operation (what
 * the service lacks), so the log alone tells why a row cannot work there.
 */
#ifndef FS_REQLOG_H
#define FS_REQLOG_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif
#include <fuse_lowlevel.h>

/* A table that calls ops (which must outlive it) with the bookkeeping
 * above; an operation it does not know is passed through unwrapped. */
const struct fuse_lowlevel_ops *fs_reqlog_ops(const struct fuse_lowlevel_ops *ops);

/* Whether an errno from op is a normal answer, not logged. */
int fs_reqlog_expected(const char *op, int err);

/* The link-time wrap of fuse_reply_err (see above). */
int __wrap_fuse_reply_err(fuse_req_t req, int err);
int __real_fuse_reply_err(fuse_req_t req, int err);

#endif
