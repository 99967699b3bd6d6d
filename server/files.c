/*
 * File calls confined to a sandbox's root (see files.h). Every path goes
 * through openat2() with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS relative to
 * an O_PATH fd of the root, so no component, symlink or ".." can lead out.
 * Calls that act on a name (stat without following, mkdir, unlink, rename)
 * open the parent that way and then use the *at() call on the last
 * component; calls that change an object (setattr) open the object itself
 * with O_PATH | O_NOFOLLOW and act only on that fd.
 *
 * Two more rules, because sbxd acts with its own (host root) privileges:
 * nothing is opened that could block (O_NONBLOCK, and only regular files
 * are read or written: a FIFO or device planted by the sandbox would
 * otherwise hang an HTTP thread), and nothing on a kernel pseudo file
 * system (procfs, sysfs, cgroupfs...) is touched: /proc/1/environ of the
 * box would be sbxd's own, /proc/sys writes would change the host.
 */
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"
#include "timestamp.pb-c.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

/* -SRV_EPSEUDO when fd lives on a kernel pseudo file system (or FUSE,
 * whose server inside the sandbox could stall any call forever). */

/* The box's ids as the calling thread's file call sees them: under a
 * uid range (runtime.h), host id base+n is n inside; outside the range
 * the kernel's overflow id (65534). No range: base 0, everything. */
static __thread struct {
	uint32_t uid, gid, count;
} idmap = {0, 0, UINT32_MAX};

void srv_file_idmap(uint32_t uid_base, uint32_t gid_base, uint32_t count)
{
	idmap.uid = uid_base;
	idmap.gid = gid_base;
	idmap.count = count ? count : UINT32_MAX;
}

static uint32_t map_in(uint32_t id, uint32_t base)
{
	if (idmap.count == UINT32_MAX && base == 0)
		return id;
	return id >= base && id - base < idmap.count ? id - base : 65534;
}

static int fs_allowed(int fd)
{
	static const unsigned long bad[] = {
		PROC_SUPER_MAGIC, SYSFS_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, DEBUGFS_MAGIC,
		SECURITYFS_MAGIC, TRACEFS_MAGIC, BPF_FS_MAGIC, PSTOREFS_MAGIC, EFIVARFS_MAGIC, SELINUX_MAGIC,
		SMACK_MAGIC, BINFMTFS_MAGIC, FUSE_SUPER_MAGIC, 0x62656570 /* configfs */, 0x65735543 /* fusectl */,
	};
	struct statfs sf;
	if (fstatfs(fd, &sf) != 0)
		return -errno;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if ((unsigned long)sf.f_type == bad[i])
			return -SRV_EPSEUDO;
	return 0;
}

#define OPEN_TRIES 64

static int open_in(int root, const char *path, int flags, int mode)
{
	/* Never block in open (a FIFO without a writer, a leased file). */
	if (!(flags & O_PATH))
		flags |= O_NONBLOCK | O_NOCTTY;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? (uint64_t)mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	/* RESOLVE_IN_ROOT fails EAGAIN when any rename or mount on the host
	 * (the box's own included) ran while the walk went through a `..`
	 * (of the path or of a link's text): the kernel asks to try again.
	 * That EAGAIN was told as "not a regular file" for 1 in 16 opens of a
	 * plain file while the box renamed another (tests/server/redteam2.sh).
	 * A box renaming without a pause can still win every try: then a
	 * clear EAGAIN, never a wrong answer. */
	long fd = -1;
	for (int tries = 0; tries < OPEN_TRIES; tries++) {
		fd = syscall(SYS_openat2, root, path, &how, sizeof how);
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0)
		return errno == ENXIO ? -SRV_ENOTREG : -errno;
	int rc = fs_allowed((int)fd);
	if (rc) {
		close((int)fd);
		return rc;
	}
	return (int)fd;
}

/* Checks an opened file is a regular one and makes its I/O blocking
 * again (regular files never wait on another process). */
static int regular_only(int fd, struct stat *st)
{
	if (fstat(fd, st) != 0)
		return -errno;
	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	if (!S_ISREG(st->st_mode))
		return -SRV_ENOTREG;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
		return -errno;
	return 0;
}

/* Opens the parent directory of path and copies the last component. */
static int open_parent(int root, const char *path, char *base, size_t cap)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 0 || path[0] != '/' || len >= SRV_MAX_PATH)
		return -EINVAL;
	size_t slash = len;
	while (slash > 0 && path[slash - 1] != '/')
		slash--;
	size_t blen = len - slash;
	if (blen == 0 || blen >= cap)
		return -EINVAL; /* "/" itself has no parent */
	memcpy(base, path + slash, blen);
	base[blen] = '\0';
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return -EINVAL;
	char parent[SRV_MAX_PATH];
	memcpy(parent, path, slash);
	parent[slash] = '\0';
	return open_in(root, parent, O_PATH | O_DIRECTORY, 0);
}

static int path_is_root(const char *path)
{
	return *path && strspn(path, "/") == strlen(path);
}

static Sbxd__Ext__V1__FileType type_of(mode_t m)
{
	if (S_ISREG(m))
		return SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_FILE;
	if (S_ISDIR(m))
		return SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_DIRECTORY;
	if (S_ISLNK(m))
		return SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_SYMLINK;
	return SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_OTHER;
}

/* A Timestamp message of a struct stat time; NULL when out of memory
 * (the field is then left out, as for a time never set). */
static Google__Protobuf__Timestamp *ts_of(const struct timespec *t)
{
	Google__Protobuf__Timestamp *ts = malloc(sizeof *ts);
	if (!ts)
		return NULL;
	google__protobuf__timestamp__init(ts);
	ts->seconds = (int64_t)t->tv_sec;
	ts->nanos = (int32_t)t->tv_nsec;
	return ts;
}

void srv_entry_free(Sbxd__Ext__V1__FileEntry *e)
{
	if (e)
		protobuf_c_message_free_unpacked(&e->base, NULL);
}

/* A string field's value: malloc'd, as protobuf-c's free expects, and
 * valid UTF-8 (a name or link text from the sandbox may be any bytes:
 * '?' stands for each byte that starts no UTF-8 sequence, docs/api.md
 * "Errors"; the codec refuses anything else). */
static int set_str(char **slot, const char *v)
{
	char *c = strdup(v);
	if (!c)
		return -1;
	srv_utf8_fix(c, strlen(c));
	*slot = c;
	return 0;
}

/* dfd/lname: where the entry lives, to read a symlink's text (never
 * resolved; the sandbox can change it at any time, so a failed or racing
 * readlink just leaves the field out). */
static Sbxd__Ext__V1__FileEntry *entry_pb(const char *name, const struct stat *st, int dfd, const char *lname)
{
	Sbxd__Ext__V1__FileEntry *e = malloc(sizeof *e);
	if (!e)
		return NULL;
	sbxd__ext__v1__file_entry__init(e);
	int bad = 0;
	if (S_ISLNK(st->st_mode) && dfd >= 0) {
		char *target = malloc(SRV_MAX_PATH + 1);
		ssize_t n = target ? readlinkat(dfd, lname, target, SRV_MAX_PATH + 1) : -1;
		/* Over 4096 bytes cannot come from symlink(2); cap it anyway. */
		if (n >= 0) {
			target[n > SRV_MAX_PATH ? SRV_MAX_PATH : n] = '\0';
			srv_utf8_fix(target, strlen(target));
			e->link_target = target;
			target = NULL;
		}
		free(target);
	}
	bad |= set_str(&e->name, name);
	e->type = type_of(st->st_mode);
	e->size = (int64_t)st->st_size;
	e->mode = (uint32_t)(st->st_mode & 07777);
	e->modify_time = ts_of(&st->st_mtim);
	/* The "posix" extension: what stat(2) inside the sandbox shows (ids
	 * as the box sees them: under a uid range, srv_file_idmap's). */
	e->access_time = ts_of(&st->st_atim);
	e->change_time = ts_of(&st->st_ctim);
	e->uid = map_in((uint32_t)st->st_uid, idmap.uid);
	e->gid = map_in((uint32_t)st->st_gid, idmap.gid);
	e->nlink = (uint64_t)st->st_nlink;
	e->blocks = (int64_t)st->st_blocks;
	/* The inode number, so hard links made inside or through the mount
	 * show as one file (tar and cp -a pair them by it). */
	e->ino = (uint64_t)st->st_ino;
	/* FILE_TYPE_OTHER says no more; which special file it is. */
	const char *special = S_ISFIFO(st->st_mode) ? "fifo" : S_ISSOCK(st->st_mode) ? "socket"
			    : S_ISCHR(st->st_mode) ? "char" : S_ISBLK(st->st_mode) ? "block" : NULL;
	if (special)
		bad |= set_str(&e->special, special);
	if (bad || !e->modify_time || !e->access_time || !e->change_time) {
		srv_entry_free(e);
		return NULL;
	}
	return e;
}

int srv_file_read(int root, const char *path, int64_t off, size_t len, unsigned char **buf, size_t *n,
		  int64_t *size, int *eof)
{
	int rc = 0;
	*buf = NULL;
	*n = 0;
	int fd = open_in(root, path, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	rc = regular_only(fd, &st);
	if (rc)
		goto out;
	/* No buffer larger than what is there: a client asking ahead (sbxfs
	 * asks for 1-4 MiB whatever the file) costs no big allocation for a
	 * small file. What grows after the fstat is read by the next call. */
	if (len > 0 && off >= 0 && (uint64_t)len > (uint64_t)(st.st_size > off ? st.st_size - off : 0))
		len = st.st_size > off ? (size_t)(st.st_size - off) : 0;
	*buf = malloc(len ? len : 1);
	if (!*buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (*n < len) {
		ssize_t r = pread(fd, *buf + *n, len - *n, off + (int64_t)*n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		*n += (size_t)r;
	}
	*size = st.st_size;
	*eof = *n < len || off + (int64_t)*n >= st.st_size;
out:
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	close(fd);
	return rc;
}

int srv_file_read_all(int root, const char *path, size_t max, unsigned char **buf, size_t *n)
{
	*buf = NULL;
	*n = 0;
	int fd = open_in(root, path, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	int rc = regular_only(fd, &st);
	if (!rc && (uint64_t)st.st_size > max)
		rc = -EFBIG;
	/* One byte more than the size: a file that grew meanwhile is seen
	 * (and refused past max) instead of cut. */
	size_t want = rc ? 0 : (size_t)st.st_size + 1;
	if (!rc && !(*buf = malloc(want)))
		rc = -ENOMEM;
	while (!rc) {
		if (*n == want) {
			if (want > max) {
				rc = -EFBIG;
				break;
			}
			size_t nw = want * 2 > max + 1 ? max + 1 : want * 2;
			unsigned char *nb = realloc(*buf, nw);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			*buf = nb;
			want = nw;
		}
		ssize_t r = read(fd, *buf + *n, want - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
		else if (r == 0)
			break;
		else
			*n += (size_t)r;
	}
	if (!rc && *n > max)
		rc = -EFBIG;
	if (rc || *n == 0) {
		free(*buf);
		*buf = NULL;
		*n = 0;
	}
	close(fd);
	return rc;
}

int srv_file_write(int root, const char *path, const unsigned char *data, size_t n, int64_t off, int append,
		   int truncate, int mode)
{
	/* No O_TRUNC at open: truncate only once we know it is a regular
	 * file on an ordinary file system. */
	int flags = O_WRONLY | O_CREAT;
	if (append)
		flags |= O_APPEND;
	int fd = open_in(root, path, flags, mode >= 0 ? mode & 07777 : 0644);
	if (fd < 0)
		return fd;
	struct stat st;
	int rc = regular_only(fd, &st);
	if (!rc && !append && truncate && ftruncate(fd, 0) != 0)
		rc = -errno;
	size_t done = 0;
	if (rc)
		n = 0;
	while (done < n) {
		ssize_t w = append || off < 0 ? write(fd, data + done, n - done)
					      : pwrite(fd, data + done, n - done, off + (int64_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)w;
	}
	if (!rc && mode >= 0 && fchmod(fd, (mode_t)mode & 07777) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int srv_file_list(int root, const char *path, size_t max, Sbxd__Ext__V1__ListDirResponse *out)
{
	int fd = open_in(root, path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct dirent *de;
	size_t cap = 0;
	int rc = 0;
	while (!rc && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (out->n_entries == max)
			break;
		if (out->n_entries == cap) {
			size_t nc = cap ? cap * 2 : 64;
			Sbxd__Ext__V1__FileEntry **ne = realloc(out->entries, nc * sizeof *ne);
			if (!ne) {
				rc = -ENOMEM;
				break;
			}
			out->entries = ne;
			cap = nc;
		}
		Sbxd__Ext__V1__FileEntry *e = entry_pb(de->d_name, &st, dirfd(d), de->d_name);
		if (!e)
			rc = -ENOMEM;
		else
			out->entries[out->n_entries++] = e;
	}
	closedir(d);
	return rc;
}

/* One component of *s (slashes skipped): sets *c, advances *s past it and
 * returns its length, 0 at the end. */
static size_t next_comp(const char **s, const char **c)
{
	const char *p = *s;
	while (*p == '/')
		p++;
	const char *e = p;
	while (*e && *e != '/')
		e++;
	*c = p;
	*s = e;
	return (size_t)(e - p);
}

/* canon is an absolute path without "." or ".." ("" = "/", length *cl). */
static int canon_push(char *canon, size_t *cl, const char *c, size_t n)
{
	if (*cl + 1 + n >= SRV_MAX_PATH)
		return -ENAMETOOLONG;
	canon[(*cl)++] = '/';
	memcpy(canon + *cl, c, n);
	*cl += n;
	canon[*cl] = '\0';
	return 0;
}

static void canon_pop(char *canon, size_t *cl)
{
	while (*cl > 0 && canon[*cl - 1] != '/')
		(*cl)--;
	if (*cl > 0)
		(*cl)--;
	canon[*cl] = '\0';
}

#define LINK_HOPS 40        /* the kernel's MAXSYMLINKS */
#define LINK_STEPS 8192     /* components looked at in one resolution */

/* Whether a link's text needs resolving for a client that shows links as
 * relative ones (absolute, or a ".." component anywhere). */
static int link_climbs(const char *t)
{
	if (t[0] == '/')
		return 1;
	const char *c;
	size_t n;
	while ((n = next_comp(&t, &c)) != 0)
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return 1;
	return 0;
}

/* Where the link at path (a path in the box) whose text is target leads,
 * walked the way the box's kernel walks it: from the link's directory (or
 * "/" for an absolute text), ".." of "/" is "/", every symlink on the way
 * followed inside the root (at most LINK_HOPS), except the last component,
 * which is kept as a name (a client follows it as a link of its own). From
 * the first component that does not exist, is not a directory or cannot be
 * looked at (a pseudo file system), the rest is applied lexically. Writes
 * an absolute path without "." or ".." into out (SRV_MAX_PATH bytes).
 * Returns 0, -ELOOP or -ENAMETOOLONG. The box may change its files while
 * this runs: the answer is then one of the box's own paths, never more. */
int srv_file_resolve_link(int root, const char *path, const char *target, char *out)
{
	size_t rcap = 2 * SRV_MAX_PATH + 2;
	char *rest = malloc(rcap), *tmp = malloc(rcap), *text = malloc(SRV_MAX_PATH + 1);
	int rc = 0, hops = 0, steps = 0, lexical = 0;
	size_t cl = 0;
	out[0] = '\0';
	if (!rest || !tmp || !text) {
		rc = -ENOMEM;
		goto out;
	}
	size_t dl = 0, tl = strlen(target);
	if (target[0] != '/') {
		/* The link's directory: path less its last component. */
		dl = strlen(path);
		while (dl > 0 && path[dl - 1] == '/')
			dl--;
		while (dl > 0 && path[dl - 1] != '/')
			dl--;
	}
	if (dl + 1 + tl >= rcap) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	memcpy(rest, path, dl);
	rest[dl] = '/';
	memcpy(rest + dl + 1, target, tl + 1);
	const char *s = rest, *c;
	size_t n;
	while ((n = next_comp(&s, &c)) != 0) {
		if (++steps > LINK_STEPS) {
			rc = -ELOOP;
			goto out;
		}
		if (n == 1 && c[0] == '.')
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			canon_pop(out, &cl);
			continue;
		}
		const char *peek = s, *c2;
		if (lexical || n > 255 || next_comp(&peek, &c2) == 0) {
			if ((rc = canon_push(out, &cl, c, n)) != 0)
				goto out;
			continue;
		}
		char name[256];
		memcpy(name, c, n);
		name[n] = '\0';
		struct stat st;
		int dfd = open_in(root, cl ? out : "/", O_PATH | O_DIRECTORY, 0);
		int seen = dfd >= 0 && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (!seen || !S_ISLNK(st.st_mode)) {
			/* A directory goes on the path; anything else ends the walk. */
			lexical = !seen || !S_ISDIR(st.st_mode);
			if (dfd >= 0)
				close(dfd);
			if ((rc = canon_push(out, &cl, c, n)) != 0)
				goto out;
			continue;
		}
		if (++hops > LINK_HOPS) {
			close(dfd);
			rc = -ELOOP;
			goto out;
		}
		ssize_t m = readlinkat(dfd, name, text, SRV_MAX_PATH + 1);
		close(dfd);
		if (m <= 0 || m > SRV_MAX_PATH) {
			/* Swapped away since the stat: take it for a missing one. */
			lexical = 1;
			if ((rc = canon_push(out, &cl, c, n)) != 0)
				goto out;
			continue;
		}
		/* rest becomes the link's text followed by what was left. */
		size_t sl = strlen(s);
		if ((size_t)m + 1 + sl >= rcap) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		memcpy(tmp, text, (size_t)m);
		tmp[m] = '/';
		memcpy(tmp + m + 1, s, sl + 1);
		char *sw = rest;
		rest = tmp;
		tmp = sw;
		s = rest;
		if (text[0] == '/') {
			cl = 0;
			out[0] = '\0';
		}
	}
	if (cl == 0) {
		out[0] = '/';
		out[1] = '\0';
	}
out:
	free(rest);
	free(tmp);
	free(text);
	return rc;
}

int srv_file_stat(int root, const char *path, Sbxd__Ext__V1__FileEntry **entry)
{
	char base[256];
	struct stat st;
	*entry = NULL;
	if (strspn(path, "/") == strlen(path) && *path) {
		int fd = open_in(root, "/", O_PATH, 0);
		if (fd < 0)
			return fd;
		int rc = fstat(fd, &st) == 0 ? 0 : -errno;
		close(fd);
		if (rc)
			return rc;
		*entry = entry_pb("/", &st, -1, NULL);
		return *entry ? 0 : -ENOMEM;
	}
	int dfd = open_parent(root, path, base, sizeof base);
	if (dfd < 0)
		return dfd;
	int rc = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
	if (!rc) {
		*entry = entry_pb(base, &st, dfd, base);
		rc = *entry ? 0 : -ENOMEM;
	}
	close(dfd);
	/* A text that is absolute or climbs: also where it leads inside the
	 * box (extension, docs/api.md), so a client can show it as a path
	 * that stays in the box. None when the walk loops or grows too long. */
	const char *t = rc ? NULL : (*entry)->link_target;
	if (t && *t && link_climbs(t)) {
		char *res = malloc(SRV_MAX_PATH);
		if (res && srv_file_resolve_link(root, path, t, res) == 0) {
			srv_utf8_fix(res, strlen(res));
			(*entry)->link_resolved = res;
			res = NULL;
		}
		free(res);
	}
	return rc;
}

/* "/proc/self/fd/N": the one way to chmod or truncate what an O_PATH fd
 * holds (fchmod and ftruncate refuse O_PATH fds), without a path lookup
 * that the sandbox could redirect. */
static void fd_path(int fd, char *buf, size_t cap)
{
	snprintf(buf, cap, "/proc/self/fd/%d", fd);
}

/* The last component of path ("/" for the root), for an entry's name. */
static void last_name(const char *path, char *base, size_t cap)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	size_t s = len;
	while (s > 0 && path[s - 1] != '/')
		s--;
	size_t n = len - s;
	if (n == 0 || n >= cap) {
		snprintf(base, cap, "/");
		return;
	}
	memcpy(base, path + s, n);
	base[n] = '\0';
}

int srv_file_mkdir(int root, const char *path, int mode)
{
	char base[256];
	int dfd = open_parent(root, path, base, sizeof base);
	if (dfd < 0)
		return dfd;
	mode_t want = (mode_t)(mode >= 0 ? mode & 01777 : 0755);
	int rc = mkdirat(dfd, base, want) == 0 ? 0 : -errno;
	if (rc)
		goto out;
	/* mkdirat applied sbxd's own umask; the mode asked for is already
	 * the caller's (the kernel masked it with the writer's umask), so
	 * set it exactly, keeping the setgid bit a setgid parent passes on.
	 * O_NOFOLLOW: the sandbox may have swapped the name for a link. */
	int fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
	} else if ((st.st_mode & 07777) != (want | (st.st_mode & S_ISGID))) {
		char p[32];
		fd_path(fd, p, sizeof p);
		if (chmod(p, want | (st.st_mode & S_ISGID)) != 0)
			rc = -errno;
	}
	if (fd >= 0)
		close(fd);
out:
	close(dfd);
	return rc;
}

/* The end of a call that changed the object open as fd (at path): its
 * entry as it is now, read from fd itself (a link's text through fd), and
 * fd closed. rc: the call's result so far; returned as the end's. */
static int entry_of_fd(int fd, const char *path, int rc, Sbxd__Ext__V1__FileEntry **entry)
{
	struct stat st;
	char base[256];
	if (!rc && fstat(fd, &st) != 0)
		rc = -errno;
	if (!rc) {
		last_name(path, base, sizeof base);
		*entry = entry_pb(base, &st, S_ISLNK(st.st_mode) ? fd : -1, "");
		rc = *entry ? 0 : -ENOMEM;
	}
	close(fd);
	return rc;
}

int srv_file_create(int root, const char *path, int mode, int excl, int trunc, Sbxd__Ext__V1__FileEntry **entry)
{
	struct stat st;
	int created = 1;
	*entry = NULL;
	if (path_is_root(path))
		return -EISDIR;
	/* O_EXCL never follows a link in the last component, so what is
	 * made is a new file at exactly that name. */
	int fd = open_in(root, path, O_WRONLY | O_CREAT | O_EXCL, mode & 07777);
	if (fd == -EEXIST && !excl) {
		created = 0;
		fd = open_in(root, path, O_WRONLY, 0);
	}
	if (fd < 0)
		return fd;
	int rc = regular_only(fd, &st);
	if (!rc && created && (st.st_mode & 07777) != ((mode_t)mode & 07777) && fchmod(fd, (mode_t)mode & 07777) != 0)
		rc = -errno;     /* sbxd's umask, as for mkdir */
	if (!rc && !created && trunc && st.st_size != 0 && ftruncate(fd, 0) != 0)
		rc = -errno;
	return entry_of_fd(fd, path, rc, entry);
}

int srv_file_open(int root, const char *path, int write, int *fd, int64_t *size)
{
	*fd = -1;
	*size = 0;
	if (path_is_root(path))
		return -EISDIR;
	/* First the object itself, without opening it: O_PATH opens no
	 * device, FIFO or socket (no driver's open runs, nothing blocks), and
	 * O_NOFOLLOW gives the link itself when the last component is one.
	 * Only a regular file goes on. */
	int pfd = open_in(root, path, O_PATH | O_NOFOLLOW, 0);
	if (pfd < 0)
		return pfd;
	struct stat st, st2;
	int rc = 0;
	if (fstat(pfd, &st) != 0)
		rc = -errno;
	else if (S_ISDIR(st.st_mode))
		rc = -EISDIR;
	else if (S_ISLNK(st.st_mode))
		rc = -ELOOP;     /* what open(O_NOFOLLOW) says */
	else if (!S_ISREG(st.st_mode))
		rc = -SRV_ENOTREG;
	if (rc) {
		close(pfd);
		return rc;
	}
	/* Then that very inode opened for I/O through its O_PATH fd's
	 * /proc/self/fd link, which names the open file, never a path that
	 * a process inside could swap meanwhile (the usual way to reopen an
	 * O_PATH fd; the permission check is the open's, under this call's
	 * file ids). */
	char self[40];
	snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
	/* O_NONBLOCK: a lease a process inside holds on the file fails the
	 * open at once instead of holding this thread for the lease-break
	 * time; then I/O blocking again, as for every regular file. */
	int ofd = open(self, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (ofd < 0)
		rc = errno == EWOULDBLOCK ? -EAGAIN : -errno;
	else if (fstat(ofd, &st2) != 0)
		rc = -errno;
	else if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino || !S_ISREG(st2.st_mode))
		rc = -SRV_ENOTREG;
	else if (fcntl(ofd, F_SETFL, fcntl(ofd, F_GETFL) & ~O_NONBLOCK) != 0)
		rc = -errno;
	else
		rc = fs_allowed(ofd);
	close(pfd);
	if (rc) {
		if (ofd >= 0)
			close(ofd);
		return rc;
	}
	*fd = ofd;
	*size = (int64_t)st2.st_size;
	return 0;
}

int srv_file_allocate(int root, const char *path, int flags, int64_t off, int64_t len,
		      Sbxd__Ext__V1__FileEntry **entry)
{
	struct stat st;
	*entry = NULL;
	int fd = open_in(root, path, O_WRONLY, 0);
	if (fd < 0)
		return fd;
	int rc = regular_only(fd, &st);
	while (!rc && fallocate(fd, flags, (off_t)off, (off_t)len) != 0) {
		if (errno != EINTR)
			rc = -errno;
	}
	return entry_of_fd(fd, path, rc, entry);
}

int srv_file_setattr(int root, const char *path, const srv_attrs *a, Sbxd__Ext__V1__FileEntry **entry)
{
	char p[32];
	struct stat st;
	*entry = NULL;
	/* The object itself (a link is changed, never followed), resolved
	 * inside the root like every path; fs_allowed has vetted its fs. */
	int fd = open_in(root, path, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd;
	fd_path(fd, p, sizeof p);
	int rc = fstat(fd, &st) == 0 ? 0 : -errno;
	/* Device nodes in a sandbox are the host's own (bind-mounted
	 * /dev/null, /dev/tty...): sbxd never changes those. */
	if (!rc && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
		rc = -EPERM;
	/* chown first (it clears set-id bits), then the mode, then the size,
	 * and the times last (a truncate sets mtime). */
	if (!rc && (a->set & (SRV_ATTR_UID | SRV_ATTR_GID)) &&
	    (((a->set & SRV_ATTR_UID) && (a->uid < 0 || a->uid >= (int64_t)idmap.count)) ||
	     ((a->set & SRV_ATTR_GID) && (a->gid < 0 || a->gid >= (int64_t)idmap.count))))
		rc = -EINVAL; /* an id the box's range does not hold (chown's own answer) */
	if (!rc && (a->set & (SRV_ATTR_UID | SRV_ATTR_GID)) &&
	    fchownat(fd, "", (a->set & SRV_ATTR_UID) ? (uid_t)(a->uid + idmap.uid) : (uid_t)-1,
		     (a->set & SRV_ATTR_GID) ? (gid_t)(a->gid + idmap.gid) : (gid_t)-1, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
		rc = -errno;
	if (!rc && (a->set & SRV_ATTR_MODE)) {
		if (S_ISLNK(st.st_mode))
			rc = -EOPNOTSUPP;   /* Linux has no link modes (fchmodat's answer) */
		else if (chmod(p, (mode_t)a->mode & 07777) != 0)
			rc = -errno;
	}
	if (!rc && (a->set & SRV_ATTR_SIZE)) {
		if (S_ISDIR(st.st_mode))
			rc = -EISDIR;
		else if (!S_ISREG(st.st_mode))
			rc = -EINVAL;       /* truncate(2) of a FIFO, socket or link */
		else if (truncate(p, (off_t)a->size) != 0)
			rc = -errno;
	}
	if (!rc && (a->set & (SRV_ATTR_ATIME | SRV_ATTR_MTIME))) {
		struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
		if (a->set & SRV_ATTR_ATIME)
			ts[0] = a->atime_now ? (struct timespec){0, UTIME_NOW}
					     : (struct timespec){(time_t)(a->atime_ns / 1000000000),
								 (long)(a->atime_ns % 1000000000)};
		if (a->set & SRV_ATTR_MTIME)
			ts[1] = a->mtime_now ? (struct timespec){0, UTIME_NOW}
					     : (struct timespec){(time_t)(a->mtime_ns / 1000000000),
								 (long)(a->mtime_ns % 1000000000)};
		if (utimensat(fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
			rc = -errno;
	}
	return entry_of_fd(fd, path, rc, entry);
}

int srv_file_rename(int root, const char *from, const char *to, unsigned flags)
{
	char obase[256], nbase[256];
	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	/* Both parents resolved inside the root; renameat2 never follows
	 * either last component, so neither name can lead out. */
	int odfd = open_parent(root, from, obase, sizeof obase);
	if (odfd < 0)
		return path_is_root(from) ? -EBUSY : odfd;
	int ndfd = open_parent(root, to, nbase, sizeof nbase);
	if (ndfd < 0) {
		close(odfd);
		return path_is_root(to) ? -EBUSY : ndfd;
	}
	int rc = renameat2(odfd, obase, ndfd, nbase, flags) == 0 ? 0 : -errno;
	close(ndfd);
	close(odfd);
	return rc;
}

static int rm_tree(int parent, const char *name, int depth)
{
	if (depth > 256)
		return -ELOOP;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A mount of cgroupfs/sysfs/... inside the tree: not ours to empty. */
	int bad = fs_allowed(fd);
	if (bad) {
		close(fd);
		return bad;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			continue;
		if (errno == EISDIR)
			rc = rm_tree(dirfd(d), de->d_name, depth + 1);
		else
			rc = -errno;
		if (rc)
			break;
	}
	closedir(d);
	if (!rc && unlinkat(parent, name, AT_REMOVEDIR) != 0)
		rc = -errno;
	return rc;
}

int srv_file_remove(int root, const char *path, int recursive)
{
	char base[256];
	int dfd = open_parent(root, path, base, sizeof base);
	if (dfd < 0)
		return dfd;
	int rc = 0;
	if (unlinkat(dfd, base, 0) != 0) {
		rc = -errno;
		if (rc == -EISDIR) {
			if (unlinkat(dfd, base, AT_REMOVEDIR) == 0)
				rc = 0;
			else if ((errno == ENOTEMPTY || errno == EEXIST) && recursive)
				rc = rm_tree(dfd, base, 0);
			else
				rc = errno == EEXIST ? -ENOTEMPTY : -errno; /* rmdir may say either */
		}
	}
	close(dfd);
	return rc;
}

int srv_file_symlink(int root, const char *path, const char *target)
{
	char base[256];
	size_t tl = strlen(target);
	if (tl == 0)
		return -ENOENT;         /* symlink(2)'s answer to an empty text */
	if (tl >= SRV_MAX_PATH)
		return -ENAMETOOLONG;
	/* The text is stored as given: it is the sandbox's to walk, with its
	 * own root; sbxd never follows it (nothing here resolves it), and
	 * sbxfs shows it to the host's kernel only in a form that stays in
	 * files/ (fs_files_link_text). */
	int dfd = open_parent(root, path, base, sizeof base);
	if (dfd < 0)
		return path_is_root(path) ? -EEXIST : dfd;
	int rc = symlinkat(target, dfd, base) == 0 ? 0 : -errno;
	close(dfd);
	return rc;
}

int srv_file_link(int root, const char *from, const char *to)
{
	char obase[256], nbase[256];
	/* Both parents resolved inside the root; linkat without
	 * AT_SYMLINK_FOLLOW links the name itself (a link stays a link), as
	 * link(2) does on Linux, so neither name can lead out. */
	int odfd = open_parent(root, from, obase, sizeof obase);
	if (odfd < 0)
		return path_is_root(from) ? -EPERM : odfd;
	int ndfd = open_parent(root, to, nbase, sizeof nbase);
	if (ndfd < 0) {
		close(odfd);
		return path_is_root(to) ? -EEXIST : ndfd;
	}
	int rc = linkat(odfd, obase, ndfd, nbase, 0) == 0 ? 0 : -errno;
	close(ndfd);
	close(odfd);
	return rc;
}

int srv_file_mknod(int root, const char *path, int fifo, int mode)
{
	char base[256];
	int dfd = open_parent(root, path, base, sizeof base);
	if (dfd < 0)
		return path_is_root(path) ? -EEXIST : dfd;
	mode_t want = (mode_t)mode & 07777;
	int rc = mknodat(dfd, base, (fifo ? S_IFIFO : S_IFSOCK) | want, 0) == 0 ? 0 : -errno;
	if (rc)
		goto out;
	/* Exactly the mode asked (sbxd's umask applied), as for mkdir; the
	 * node is neither opened nor followed. */
	int fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
	} else if ((st.st_mode & 07777) != want) {
		char p[32];
		fd_path(fd, p, sizeof p);
		if ((S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) && chmod(p, want) != 0)
			rc = -errno;
	}
	if (fd >= 0)
		close(fd);
out:
	close(dfd);
	return rc;
}

int srv_file_statfs(int root, const char *path, Sbxd__Ext__V1__StatFileSystemResponse *out)
{
	struct statvfs sv;
	/* The file system that holds path, as statfs(2) inside would say. */
	int fd = open_in(root, path, O_PATH, 0);
	if (fd < 0)
		return fd;
	int rc = fstatvfs(fd, &sv) == 0 ? 0 : -errno;
	close(fd);
	if (rc)
		return rc;
	out->block_size = sv.f_bsize;
	out->fragment_size = sv.f_frsize;
	out->blocks = sv.f_blocks;
	out->blocks_free = sv.f_bfree;
	out->blocks_available = sv.f_bavail;
	out->files = sv.f_files;
	out->files_free = sv.f_ffree;
	out->name_max = sv.f_namemax;
	out->read_only = (sv.f_flag & ST_RDONLY) != 0;
	return 0;
}

/* Extended attributes: the user.* namespace only. trusted.* and
 * security.* would be set with sbxd's host privileges (file capabilities,
 * LSM labels), system.* are ACLs that the sandbox's tools manage through
 * their own calls; those are EOPNOTSUPP here, as on a file system without
 * them. The object is opened O_PATH | O_NOFOLLOW inside the root and used
 * through its /proc/self/fd magic link, which names that very object. */
static int xattr_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n > 255)
		return -ERANGE;
	if (strncmp(name, "user.", 5) != 0 || n == 5)
		return -EOPNOTSUPP;
	return 0;
}

static int xattr_open(int root, const char *path, char *p, size_t cap)
{
	int fd = open_in(root, path, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) != 0 || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		int e = errno;
		close(fd);
		return S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? -EPERM : -e;
	}
	fd_path(fd, p, cap);
	return fd;
}

int srv_file_xattr_get(int root, const char *path, const char *name, unsigned char **val, size_t *n)
{
	char p[32];
	*val = NULL;
	*n = 0;
	int rc = xattr_name_ok(name);
	if (rc)
		return rc == -EOPNOTSUPP ? -ENODATA : rc;
	int fd = xattr_open(root, path, p, sizeof p);
	if (fd < 0)
		return fd;
	unsigned char *buf = malloc(SRV_XATTR_MAX);
	ssize_t got = buf ? getxattr(p, name, buf, SRV_XATTR_MAX) : -1;
	rc = got >= 0 ? 0 : buf ? -errno : -ENOMEM;
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*val = buf;
	*n = (size_t)got;
	return 0;
}

int srv_file_xattr_list(int root, const char *path, Sbxd__Ext__V1__ListXattrsResponse *out)
{
	char p[32];
	int fd = xattr_open(root, path, p, sizeof p);
	if (fd < 0)
		return fd;
	char *buf = malloc(SRV_XATTR_MAX);
	ssize_t got = buf ? listxattr(p, buf, SRV_XATTR_MAX) : -1;
	int rc = got >= 0 ? 0 : buf ? -errno : -ENOMEM;
	close(fd);
	/* At most one name per two bytes ("a\0"): room for all at once. */
	if (!rc && got > 0 && !(out->names = calloc((size_t)got / 2 + 1, sizeof *out->names)))
		rc = -ENOMEM;
	for (ssize_t i = 0; !rc && i < got;) {
		size_t l = strnlen(buf + i, (size_t)(got - i));
		if (l < (size_t)(got - i) && l > 0 && xattr_name_ok(buf + i) == 0) {
			if (!(out->names[out->n_names] = strdup(buf + i)))
				rc = -ENOMEM;
			else
				srv_utf8_fix(out->names[out->n_names++], l);
		}
		i += (ssize_t)l + 1;
	}
	free(buf);
	return rc;
}

int srv_file_xattr_set(int root, const char *path, const char *name, const unsigned char *val, size_t n,
		       int flags)
{
	char p[32];
	int rc = xattr_name_ok(name);
	if (rc)
		return rc;
	if (n > SRV_XATTR_MAX)
		return -E2BIG;
	int fd = xattr_open(root, path, p, sizeof p);
	if (fd < 0)
		return fd;
	rc = setxattr(p, name, val, n, flags) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

int srv_file_xattr_remove(int root, const char *path, const char *name)
{
	char p[32];
	int rc = xattr_name_ok(name);
	if (rc)
		return rc == -EOPNOTSUPP ? -ENODATA : rc;
	int fd = xattr_open(root, path, p, sizeof p);
	if (fd < 0)
		return fd;
	rc = removexattr(p, name) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}
