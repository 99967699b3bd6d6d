/*
 * The file calls of the API (:readFile, :writeFile, :listDir, :statFile,
 * :makeDir, :removeFile, and the "posix" extension's :createFile,
 * :setFileAttrs, :renameFile) acting on a sandbox's own root filesystem. sbxd
 * reaches that root as /proc/<pid>/root of a process inside the box and
 * resolves every path with openat2(RESOLVE_IN_ROOT), so ".." and symlinks
 * (absolute ones included) stay inside the sandbox. Functions return 0 or a
 * negative errno; the caller maps errno to API errors.
 */
#ifndef SRV_FILES_H
#define SRV_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "extension.pb-c.h"

/* Errors of our own (returned negated like errnos): the path is on a
 * kernel pseudo file system (procfs, sysfs, cgroupfs, FUSE...), or it is
 * not a regular file (FIFO, device, socket) where one is read/written. */
#define SRV_EPSEUDO 100001
#define SRV_ENOTREG 100002

/* Reads up to len bytes at off (len capped by the caller). */
int srv_file_read(int root, const char *path, int64_t off, size_t len, unsigned char **buf, size_t *n,
		  int64_t *size, int *eof);
/* The whole regular file at path, at most max bytes (-EFBIG when larger,
 * before anything is read when its size says so). *buf NULL when empty. */
int srv_file_read_all(int root, const char *path, size_t max, unsigned char **buf, size_t *n);
/* off < 0: no offset (truncate unless append); mode < 0: 0644 for new. */
int srv_file_write(int root, const char *path, const unsigned char *data, size_t n, int64_t off, int append,
		   int truncate, int mode);
/* The entries of a directory appended to out->entries (at most max;
 * out owns what it holds even on failure: free it with out). */
int srv_file_list(int root, const char *path, size_t max, Sbxd__Ext__V1__ListDirResponse *out);
/* *entry: a new FileEntry (srv_entry_free), lstat(2) of path. */
int srv_file_stat(int root, const char *path, Sbxd__Ext__V1__FileEntry **entry);
void srv_entry_free(Sbxd__Ext__V1__FileEntry *e);
/* Under a uid range, the box's ids for this thread's next file calls:
 * entries show uid/gid minus the base, set-attributes adds it (ids past
 * count are EINVAL). (0, 0, 0) is the identity, sbxd's default. */
void srv_file_idmap(uint32_t uid_base, uint32_t gid_base, uint32_t count);
/* Where a symlink at path with text target leads inside the box's root
 * (the walk of its kernel, symlinks followed except the last component):
 * an absolute path without "." or ".." into out, SRV_MAX_PATH bytes.
 * 0, -ELOOP, -ENAMETOOLONG or -ENOMEM. statFile adds it to an entry as
 * "linkResolved" for texts that are absolute or hold a "..". */
int srv_file_resolve_link(int root, const char *path, const char *target, char *out);
/* mode < 0: 0755. The directory gets exactly mode & 01777 (sbxd's own
 * umask does not apply), plus the setgid bit a setgid parent passes on. */
int srv_file_mkdir(int root, const char *path, int mode);

/* The "fileFd" extension: the regular file at path (its last component
 * never followed: a link is ELOOP, a directory EISDIR, anything else not
 * a regular file -SRV_ENOTREG, and none of them is ever opened for I/O)
 * opened O_RDONLY, or O_RDWR when write, close-on-exec, into *fd; *size
 * its size at open. */
int srv_file_open(int root, const char *path, int write, int *fd, int64_t *size);

/* The "posix" extension (docs/api.md): calls that give a file system its
 * POSIX face. Each answers what the sandbox's kernel answers. */

/* Creates a regular file with exactly mode & 07777 (the caller applied
 * its umask). An existing file: EEXIST when excl, else opened (following
 * a link inside the root, as open(2) does) and emptied when trunc.
 * *entry: the file as statFile shows it. */
int srv_file_create(int root, const char *path, int mode, int excl, int trunc, Sbxd__Ext__V1__FileEntry **entry);

enum {
	SRV_ATTR_MODE = 1 << 0,
	SRV_ATTR_UID = 1 << 1,
	SRV_ATTR_GID = 1 << 2,
	SRV_ATTR_SIZE = 1 << 3,
	SRV_ATTR_ATIME = 1 << 4,
	SRV_ATTR_MTIME = 1 << 5,
};
typedef struct srv_attrs {
	unsigned set;           /* SRV_ATTR_ bits: which fields apply */
	unsigned mode;
	int64_t uid, gid, size;
	int64_t atime_ns, mtime_ns;
	int atime_now, mtime_now;       /* UTIME_NOW instead of the value */
} srv_attrs;
/* chown, chmod, truncate and utimensat of path itself (a last component
 * that is a link is never followed: its owner and times change, a mode
 * is EOPNOTSUPP). *entry: the entry afterwards. */
int srv_file_setattr(int root, const char *path, const srv_attrs *a, Sbxd__Ext__V1__FileEntry **entry);
/* renameat2(from, to, flags) with flags 0, RENAME_NOREPLACE or
 * RENAME_EXCHANGE. */
int srv_file_rename(int root, const char *from, const char *to, unsigned flags);
int srv_file_remove(int root, const char *path, int recursive);
/* symlink(2): a link at path whose text is target, stored as given
 * (never resolved here). */
int srv_file_symlink(int root, const char *path, const char *target);
/* link(2): a second name to for the file at from (a link at from is
 * linked itself, not followed). */
int srv_file_link(int root, const char *from, const char *to);
/* mknod(2) of a FIFO (fifo) or a unix socket node with exactly
 * mode & 07777; devices are never made (the caller refuses them). */
int srv_file_mknod(int root, const char *path, int fifo, int mode);
/* user.* extended attributes of path itself (a link is not followed).
 * Values at most SRV_XATTR_MAX bytes (the kernel's XATTR_SIZE_MAX); other
 * namespaces: get and remove ENODATA, set EOPNOTSUPP, list leaves them
 * out. flags: XATTR_CREATE / XATTR_REPLACE. */
#define SRV_XATTR_MAX 65536
int srv_file_xattr_get(int root, const char *path, const char *name, unsigned char **val, size_t *n);
/* The user.* names into out->names (out owns them, even on failure). */
int srv_file_xattr_list(int root, const char *path, Sbxd__Ext__V1__ListXattrsResponse *out);
int srv_file_xattr_set(int root, const char *path, const char *name, const unsigned char *val, size_t n,
		       int flags);
int srv_file_xattr_remove(int root, const char *path, const char *name);
/* statvfs(2) of the file system holding path into out. */
/* fallocate(2) of [off, off + len) of the regular file at path with the
 * FALLOC_FL_* flags; *entry: the file afterwards. The kernel's errno
 * (EOPNOTSUPP for a mode the file system lacks, EINVAL, ENOSPC...). */
int srv_file_allocate(int root, const char *path, int flags, int64_t off, int64_t len,
		      Sbxd__Ext__V1__FileEntry **entry);
int srv_file_statfs(int root, const char *path, Sbxd__Ext__V1__StatFileSystemResponse *out);

#endif
