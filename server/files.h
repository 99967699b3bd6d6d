/*
 * The file calls of the API (:readFile, :writeFile, :listDir, :statFile,
 * :makeDir, :removeFile) acting on a sandbox's own root filesystem. sbxd
 * reaches that root as /proc/<pid>/root of a process inside the box and
 * resolves every path with openat2(RESOLVE_IN_ROOT), so ".." and symlinks
 * (absolute ones included) stay inside the sandbox. Functions return 0 or a
 * negative errno; the caller maps errno to API errors.
 */
#ifndef SRV_FILES_H
#define SRV_FILES_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* Errors of our own (returned negated like errnos): the path is on a
 * kernel pseudo file system (procfs, sysfs, cgroupfs, FUSE...), or it is
 * not a regular file (FIFO, device, socket) where one is read/written. */
#define SRV_EPSEUDO 100001
#define SRV_ENOTREG 100002

/* Reads up to len bytes at off (len capped by the caller). */
int srv_file_read(int root, const char *path, int64_t off, size_t len, unsigned char **buf, size_t *n,
		  int64_t *size, int *eof);
/* off < 0: no offset (truncate unless append); mode < 0: 0644 for new. */
int srv_file_write(int root, const char *path, const unsigned char *data, size_t n, int64_t off, int append,
		   int truncate, int mode);
/* {"entries": [...]} items; at most max entries. */
int srv_file_list(int root, const char *path, size_t max, struct cJSON **entries);
int srv_file_stat(int root, const char *path, struct cJSON **entry);
/* Where a symlink at path with text target leads inside the box's root
 * (the walk of its kernel, symlinks followed except the last component):
 * an absolute path without "." or ".." into out, SRV_MAX_PATH bytes.
 * 0, -ELOOP, -ENAMETOOLONG or -ENOMEM. statFile adds it to an entry as
 * "linkResolved" for texts that are absolute or hold a "..". */
int srv_file_resolve_link(int root, const char *path, const char *target, char *out);
int srv_file_mkdir(int root, const char *path, int mode);
int srv_file_remove(int root, const char *path, int recursive);

#endif
