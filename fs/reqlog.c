/*
 * The failed-operation log (see reqlog.h): a wrapped operation table that
 * notes the current operation per thread, and the wrapped fuse_reply_err
 * that turns a failure into one log line such as
 *   sbxfs: notice: write /box/ctl by sh[4242]: Invalid argument (EINVAL)
 * Paths are worked out only for a failure, from the inode numbers (node.c,
 * the state cache's directory names, the files/ path table).
 */
#define FUSE_USE_VERSION 312

#include "reqlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "log.h"
#include "node.h"
#include "state.h"

#define DESC_MAX 1024

struct reqctx {
	const char *op;         /* static name, NULL outside an operation */
	fuse_ino_t ino;
	const char *name;       /* a name in directory ino, or NULL */
	int64_t t0;             /* when it began (realtime ns) */
};

static __thread struct reqctx cur;
static struct fuse_lowlevel_ops real, wrapped;

int fs_reqlog_expected(const char *op, int err)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ENODATA)
		return 1;
	/* A namespace the mount does not carry: ls -l probes one per device. */
	if (err == EOPNOTSUPP && op && strcmp(op, "getxattr") == 0)
		return 1;
	return err == ENOENT && op && strcmp(op, "lookup") == 0;
}

static int is_service_errno(int err)
{
	switch (err) {
	case ETIMEDOUT:
	case ECONNREFUSED:
	case ECONNRESET:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EIO:
	case EPROTO:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		return 1;
	default:
		return 0;
	}
}

/* Appends s to buf (of cap bytes, used so far *n), cutting it short. */
static void put(char *buf, size_t cap, size_t *n, const char *s)
{
	size_t l = strlen(s);
	if (*n + l >= cap)
		l = cap - 1 - *n;
	memcpy(buf + *n, s, l);
	*n += l;
	buf[*n] = '\0';
}

/* "/NAME/exec/3/stdout" for a node of the fixed tree. */
static void describe_node(fuse_ino_t ino, char *buf, size_t cap, size_t *n)
{
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	if (fs_ino_split(ino, &slot, &pid, &k) != 0) {
		char t[40];
		snprintf(t, sizeof t, "inode %#" PRIx64, (uint64_t)ino);
		put(buf, cap, n, t);
		return;
	}
	/* Walk up to the root, then print from the top. */
	const char *parts[8];
	char pidname[24];
	char *dir = NULL;
	int np = 0;
	for (fs_kind at = k; at != FS_K_ROOT && at != FS_K_NONE && np < 8; at = fs_kind_parent(at)) {
		if (at == FS_K_SB_DIR) {
			dir = fs_state_dirname(slot);
			parts[np++] = dir ? dir : "?";
		} else if (at == FS_K_P_DIR) {
			snprintf(pidname, sizeof pidname, "%" PRId64, pid);
			parts[np++] = pidname;
		} else {
			parts[np++] = fs_kind_name(at);
		}
	}
	if (np == 0)
		put(buf, cap, n, "/");
	while (np > 0) {
		put(buf, cap, n, "/");
		put(buf, cap, n, parts[--np]);
	}
	free(dir);
}

static void describe(fuse_ino_t ino, const char *name, char *buf, size_t cap)
{
	size_t n = 0;
	uint32_t slot;
	char *path = NULL;
	buf[0] = '\0';
	if (fs_files_resolve(ino, &slot, &path) == 0) {
		char *dir = fs_state_dirname(slot);
		put(buf, cap, &n, "/");
		put(buf, cap, &n, dir ? dir : "?");
		put(buf, cap, &n, "/files");
		if (strcmp(path, "/") != 0)
			put(buf, cap, &n, path);
		free(dir);
		free(path);
	} else {
		describe_node(ino, buf, cap, &n);
	}
	if (name) {
		if (n == 0 || buf[n - 1] != '/')
			put(buf, cap, &n, "/");
		put(buf, cap, &n, name);
	}
}

/* The why of an ENOTSUP: the `error` message of the node's sandbox (or
 * of the root) when it was set during this operation (since t0), so the
 * log line says what is missing, not only that something is. A reply from
 * another thread (a waiting read: no node known) takes the newest message
 * of the last 2 s. "" when there is none. */
static void why_of(const struct reqctx *r, char *buf, size_t cap)
{
	uint32_t slot = 0;
	int64_t pid;
	fs_kind k;
	char *path = NULL;
	char *m = NULL;
	buf[0] = '\0';
	if (!r->op) {
		m = fs_state_last_error(fs_realtime_ns() - 2000000000LL);
	} else {
		if (fs_files_resolve(r->ino, &slot, &path) == 0)
			free(path);
		else if (fs_ino_split(r->ino, &slot, &pid, &k) != 0)
			slot = 0;
		if (fs_state_error_ns(slot) >= r->t0)
			m = fs_state_error(slot);
	}
	if (!m)
		return;
	/* the message without its time stamp and newline */
	const char *p = m;
	const char *z = strchr(m, 'Z');
	if (z && z - m == 19 && z[1] == ' ')
		p = z + 2;
	snprintf(buf, cap, "; why: %.*s", (int)strcspn(p, "\n"), p);
	free(m);
}

/* "cat[1234]": who asked, from /proc (the name may be gone already). */
static void who(fuse_req_t req, char *buf, size_t cap)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	pid_t pid = c ? c->pid : 0;
	char path[40], comm[32] = "";
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	int fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		ssize_t r = read(fd, comm, sizeof comm - 1);
		close(fd);
		comm[r > 0 ? r : 0] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
	}
	snprintf(buf, cap, "%s[%d]", *comm ? comm : "pid", (int)pid);
}

int __wrap_fuse_reply_err(fuse_req_t req, int err)
{
	if (err > 0 && !fs_reqlog_expected(cur.op, err)) {
		char what[DESC_MAX], by[64], why[DESC_MAX];
		const char *name = strerrorname_np(err);
		who(req, by, sizeof by);
		why[0] = '\0';
		if (err == EOPNOTSUPP)
			why_of(&cur, why, sizeof why);
		if (cur.op) {
			describe(cur.ino, cur.name, what, sizeof what);
			fs_log(is_service_errno(err) ? LOG_WARNING : LOG_NOTICE, "%s %s by %s: %s (%s)%s", cur.op, what, by,
			       strerror(err), name ? name : "?", why);
		} else {
			fs_log(is_service_errno(err) ? LOG_WARNING : LOG_NOTICE, "a waiting read by %s: %s (%s)%s", by,
			       strerror(err), name ? name : "?", why);
		}
	}
	return __real_fuse_reply_err(req, err);
}

/* ------------------------------------------------------------ the table */

#define ENTER(o, i, nm) struct reqctx saved = cur; cur = (struct reqctx){o, i, nm, fs_realtime_ns()}
#define LEAVE() cur = saved

#define WRAP(op, i, nm, params, args)                                                                             \
	static void w_##op params                                                                                  \
	{                                                                                                          \
		ENTER(#op, i, nm);                                                                                 \
		real.op args;                                                                                      \
		LEAVE();                                                                                           \
	}

typedef struct fuse_file_info ffi;
WRAP(lookup, p, nm, (fuse_req_t r, fuse_ino_t p, const char *nm), (r, p, nm))
WRAP(getattr, i, NULL, (fuse_req_t r, fuse_ino_t i, ffi *fi), (r, i, fi))
WRAP(setattr, i, NULL, (fuse_req_t r, fuse_ino_t i, struct stat *a, int s, ffi *fi), (r, i, a, s, fi))
WRAP(readlink, i, NULL, (fuse_req_t r, fuse_ino_t i), (r, i))
WRAP(mknod, p, nm, (fuse_req_t r, fuse_ino_t p, const char *nm, mode_t m, dev_t d), (r, p, nm, m, d))
WRAP(mkdir, p, nm, (fuse_req_t r, fuse_ino_t p, const char *nm, mode_t m), (r, p, nm, m))
WRAP(unlink, p, nm, (fuse_req_t r, fuse_ino_t p, const char *nm), (r, p, nm))
WRAP(rmdir, p, nm, (fuse_req_t r, fuse_ino_t p, const char *nm), (r, p, nm))
WRAP(symlink, p, nm, (fuse_req_t r, const char *l, fuse_ino_t p, const char *nm), (r, l, p, nm))
WRAP(rename, p, nm, (fuse_req_t r, fuse_ino_t p, const char *nm, fuse_ino_t np, const char *nn, unsigned f),
     (r, p, nm, np, nn, f))
WRAP(link, np, nn, (fuse_req_t r, fuse_ino_t i, fuse_ino_t np, const char *nn), (r, i, np, nn))
WRAP(open, i, NULL, (fuse_req_t r, fuse_ino_t i, ffi *fi), (r, i, fi))
WRAP(read, i, NULL, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, ffi *fi), (r, i, s, o, fi))
WRAP(write, i, NULL, (fuse_req_t r, fuse_ino_t i, const char *b, size_t s, off_t o, ffi *fi), (r, i, b, s, o, fi))
WRAP(flush, i, NULL, (fuse_req_t r, fuse_ino_t i, ffi *fi), (r, i, fi))
WRAP(release, i, NULL, (fuse_req_t r, fuse_ino_t i, ffi *fi), (r, i, fi))
WRAP(fsync, i, NULL, (fuse_req_t r, fuse_ino_t i, int d, ffi *fi), (r, i, d, fi))
WRAP(opendir, i, NULL, (fuse_req_t r, fuse_ino_t i, ffi *fi), (r, i, fi))
WRAP(readdir, i, NULL, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, ffi *fi), (r, i, s, o, fi))
WRAP(readdirplus, i, NULL, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, ffi *fi), (r, i, s, o, fi))
WRAP(releasedir, i, NULL, (fuse_req_t r, fuse_ino_t i, ffi *fi), (r, i, fi))
WRAP(fsyncdir, i, NULL, (fuse_req_t r, fuse_ino_t i, int d, ffi *fi), (r, i, d, fi))
WRAP(statfs, i, NULL, (fuse_req_t r, fuse_ino_t i), (r, i))
WRAP(setxattr, i, NULL, (fuse_req_t r, fuse_ino_t i, const char *nm, const char *v, size_t s, int f),
     (r, i, nm, v, s, f))
WRAP(getxattr, i, NULL, (fuse_req_t r, fuse_ino_t i, const char *nm, size_t s), (r, i, nm, s))
WRAP(listxattr, i, NULL, (fuse_req_t r, fuse_ino_t i, size_t s), (r, i, s))
WRAP(removexattr, i, NULL, (fuse_req_t r, fuse_ino_t i, const char *nm), (r, i, nm))
WRAP(access, i, NULL, (fuse_req_t r, fuse_ino_t i, int m), (r, i, m))
WRAP(create, p, nm, (fuse_req_t r, fuse_ino_t p, const char *nm, mode_t m, ffi *fi), (r, p, nm, m, fi))
WRAP(poll, i, NULL, (fuse_req_t r, fuse_ino_t i, ffi *fi, struct fuse_pollhandle *ph), (r, i, fi, ph))
WRAP(write_buf, i, NULL, (fuse_req_t r, fuse_ino_t i, struct fuse_bufvec *b, off_t o, ffi *fi), (r, i, b, o, fi))
WRAP(flock, i, NULL, (fuse_req_t r, fuse_ino_t i, ffi *fi, int op), (r, i, fi, op))
WRAP(fallocate, i, NULL, (fuse_req_t r, fuse_ino_t i, int m, off_t o, off_t l, ffi *fi), (r, i, m, o, l, fi))
WRAP(copy_file_range, io, NULL,
     (fuse_req_t r, fuse_ino_t io, off_t oi, ffi *fi, fuse_ino_t oo, off_t ooff, ffi *fo, size_t l, int f),
     (r, io, oi, fi, oo, ooff, fo, l, f))
WRAP(lseek, i, NULL, (fuse_req_t r, fuse_ino_t i, off_t o, int w, ffi *fi), (r, i, o, w, fi))

const struct fuse_lowlevel_ops *fs_reqlog_ops(const struct fuse_lowlevel_ops *ops)
{
	real = *ops;
	wrapped = *ops;
#define USE(op)                                                                                                    \
	if (real.op)                                                                                               \
		wrapped.op = w_##op;
	USE(lookup) USE(getattr) USE(setattr) USE(readlink) USE(mknod) USE(mkdir) USE(unlink) USE(rmdir)
	USE(symlink) USE(rename) USE(link) USE(open) USE(read) USE(write) USE(flush) USE(release) USE(fsync)
	USE(opendir) USE(readdir) USE(readdirplus) USE(releasedir) USE(fsyncdir) USE(statfs) USE(setxattr)
	USE(getxattr) USE(listxattr) USE(removexattr) USE(access) USE(create) USE(poll) USE(write_buf) USE(flock)
	USE(fallocate) USE(copy_file_range) USE(lseek)
#undef USE
	return &wrapped;
}
