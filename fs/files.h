/*
 * The files/ subtree of a sandbox: its own filesystem through libsbx's file
 * calls (list, stat, ranged read and write, mkdir, remove; with sbxd's
 * "posix" extension create with a mode, chmod/chown/utimens/truncate and
 * rename). Nodes below
 * files/ get inode numbers from a path table (bit 63 set, see node.h); the
 * files/ directory itself is the sandbox's "/". Every function answers the
 * FUSE request itself.
 */
#ifndef FS_FILES_H
#define FS_FILES_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif
#include <fuse_lowlevel.h>

#include <sbx/sbx.h>

#include "handle.h"

void fs_files_setup(sbx_client *c);
/* Whether files/ opens ask a local sbxd for the file's descriptor (the
 * default; -o no_splice turns it off with the output's). */
void fs_files_use_fds(int on);
/* A spliced reply's cap: libfuse 3.14 splices through a pipe that must
 * hold the reply plus 3 pages, and a pipe holds at most 1 MiB (the
 * machine's pipe-max-size), so a 1 MiB reply silently falls back to a
 * copy. 992 KiB goes by splice. */
#define FS_SPLICE_MAX ((size_t)992 << 10)
/* How much of N bytes one spliced reply may carry: a direct_io handle
 * takes a short read as a short read, so it gets at most FS_SPLICE_MAX; a
 * page-cached one (cached) would take it for the end, so it gets N. */
static inline size_t fs_splice_len(size_t n, int cached)
{
	return !cached && n > FS_SPLICE_MAX ? FS_SPLICE_MAX : n;
}
/* Answers a read with N bytes of FD at OFF by splice (fuse_reply_data;
 * libfuse answers an error of reading the fd itself). */
void fs_reply_spliced(fuse_req_t req, int fd, off_t off, size_t n);
/* fsync(2) of a files/ handle: its descriptor's, or what write-behind
 * holds sent (fs_files_flush_handle). */
int fs_files_fsync(fs_handle *h, int datasync);
/* ftruncate(2) through an open files/ handle with a writable descriptor:
 * 1 when answered here (attributes or the error), 0 when the path's
 * setattr must do it. */
/* fstat(2) of an open files/ handle with a descriptor (the kernel's
 * GETATTR with a file handle: a read's attribute check): 1 when answered
 * from the descriptor, 0 when the path's getattr must answer (no
 * descriptor, or its owner changed since the open). */
int fs_files_fgetattr(fuse_req_t req, fs_handle *h, uint64_t ino);
int fs_files_ftruncate(fuse_req_t req, fs_handle *h, uint64_t ino, off_t size, int to_set);
/* The session, for invalidations the kernel cannot know of (NULL: none). */
void fs_files_set_session(struct fuse_session *se);
/* How long the kernel may keep a files/ node's name and attributes: a
 * change made inside the sandbox shows within this long; one made
 * through the mount at once (docs/filesystem.md). */
#define FS_FILES_ATTR_TIMEOUT 1.0
/* The entry of a READDIRPLUS item: node ino, attributes st (copied). */
void fs_files_entry_param(uint64_t ino, const struct stat *st, struct fuse_entry_param *e);
void fs_files_fini(void);

/* Resolves ino (a files/ node, or the files/ directory of a sandbox) to its
 * slot and path ("/..." malloc'd). Returns 0 or -ENOENT. */
int fs_files_resolve(uint64_t ino, uint32_t *slot, char **path);

void fs_files_lookup(fuse_req_t req, uint32_t slot, const char *dir, const char *name);
void fs_files_getattr(fuse_req_t req, uint64_t ino, uint32_t slot, const char *path);
/* Fills h->ents (names, inos, modes) from the sandbox's directory, and
 * notes for self_ino (a files/ node) when that listing was fetched. */
int fs_files_opendir(uint32_t slot, const char *path, uint64_t self_ino, fs_handle *h);
/* Whether the kernel's cached listing of directory node ino (the last
 * one this mount handed it, kept by FOPEN_CACHE_DIR) may be served
 * again: fetched within FS_FILES_ATTR_TIMEOUT and no change made through
 * the mount since. 1 or 0. */
int fs_files_dir_cached(uint64_t ino);
void fs_files_open(fuse_req_t req, uint64_t ino, uint32_t slot, const char *path, struct fuse_file_info *fi);
void fs_files_create(fuse_req_t req, uint32_t slot, const char *dir, const char *name, mode_t mode,
		     struct fuse_file_info *fi);
void fs_files_read(fuse_req_t req, fs_handle *h, size_t size, off_t off);
void fs_files_write(fuse_req_t req, fs_handle *h, const char *buf, size_t size, off_t off);
/* Whether a write to h by host uid is served by its descriptor alone,
 * with no call to the service and no lock held long (loop.c lets the
 * thread that read such a request answer it itself): a descriptor, no
 * write-behind bytes held anywhere in the mount, and no set-id check
 * still to come (kill_privs). */
int fs_files_local_write(const fs_handle *h, uint32_t uid);
/* Write-behind (see files.c): sends what h holds; 0 or the -errno of
 * this send or of an earlier one not yet reported (FLUSH, fsync). */
int fs_files_flush_handle(fs_handle *h);
/* At release: sends what h holds (errors only to `error`), forgets h. */
void fs_files_release_handle(fs_handle *h);
void fs_files_setattr(fuse_req_t req, uint64_t ino, uint32_t slot, const char *path, struct stat *attr,
		      int to_set);
void fs_files_mkdir(fuse_req_t req, uint32_t slot, const char *dir, const char *name, mode_t mode);
void fs_files_remove(fuse_req_t req, uint32_t slot, const char *dir, const char *name, int is_dir);
/* rename(2)/renameat2 within one sandbox's files/ (flags: RENAME_NOREPLACE,
 * RENAME_EXCHANGE); inodes the kernel holds follow the move. */
void fs_files_rename(fuse_req_t req, uint32_t slot, const char *dir, const char *name, const char *newdir,
		     const char *newname, unsigned int flags);

void fs_files_readlink(fuse_req_t req, uint32_t slot, const char *path);
/* symlink(2) with the writer's text, stored as given in the sandbox. */
void fs_files_symlink(fuse_req_t req, uint32_t slot, const char *dir, const char *name, const char *text);
/* link(2): dir/name becomes a second name of from (same sandbox). */
void fs_files_link(fuse_req_t req, uint32_t slot, const char *from, const char *dir, const char *name);
/* mknod(2) of a FIFO, a socket node or a regular file; devices: EPERM. */
void fs_files_mknod(fuse_req_t req, uint32_t slot, const char *dir, const char *name, mode_t mode);
/* Extended attributes: user.* through the service, others answered
 * locally (get/remove ENODATA, set EOPNOTSUPP). size as FUSE gives it
 * (0: the length is asked for). */
void fs_files_getxattr(fuse_req_t req, uint32_t slot, const char *path, const char *name, size_t size);
void fs_files_listxattr(fuse_req_t req, uint32_t slot, const char *path, size_t size);
void fs_files_setxattr(fuse_req_t req, uint32_t slot, const char *path, const char *name, const char *value,
		       size_t size, int flags);
void fs_files_removexattr(fuse_req_t req, uint32_t slot, const char *path, const char *name);
/* statfs(2) of the sandbox's file system holding path. */
void fs_files_statfs(fuse_req_t req, uint32_t slot, const char *path);
/* fallocate(2) of a files/ node: mode 0 and KEEP_SIZE (see files.c). */
void fs_files_fallocate(fuse_req_t req, uint64_t ino, uint32_t slot, const char *path, int mode, off_t off,
			off_t len);
/* Whether a name component fits NAME_MAX (255 bytes). */
int fs_files_name_ok(const char *name);
/* The longest text readlink gives the kernel (a page less its NUL). */
#define FS_LINK_TEXT_MAX 4095
/* Whether the kernel, walking text from a directory depth levels below
 * files/, can only reach nodes under files/: relative, at most depth
 * leading "..", no ".." after a name ("." anywhere). */
int fs_files_link_safe(int depth, const char *text);
/* The text readlink shows for a link at path whose text is target:
 * target itself when fs_files_link_safe, else where it leads in the
 * sandbox (resolved: the service's linkResolved, or NULL to resolve
 * lexically) as a path relative to the link's directory that stays under
 * files/. 0 and *out malloc'd, -ENOMEM or -ENAMETOOLONG. */
int fs_files_link_text(const char *path, const char *target, const char *resolved, char **out);

/* The inode number of (slot, path), interned on first use; 0 when the
 * table is full. */
uint64_t fs_files_intern(uint32_t slot, const char *path);
/* Drops every node of slot (state.c's reclaim hook: the kernel holds none
 * of them). Their indices are reused later. */
void fs_files_drop_slot(uint32_t slot);
/* The slot a files/ node belongs to: 0, or -ENOENT for no such node. */
int fs_files_node_slot(uint64_t ino, uint32_t *slot);
/* Nodes in the table now. */
uint32_t fs_files_nodes_used(void);
/* The kernel's lookup count of files/ nodes is kept per node and with
 * their slot's (state.c): an entry reply counts one before it is sent (0,
 * or -ENOENT when the node or its slot is gone), one the kernel never got
 * (-ENOENT from the reply) is taken back, FORGET takes off its count; a
 * node whose count falls to 0 is freed (its index reused much later). */
int fs_files_ref(uint64_t ino);
void fs_files_unref(uint64_t ino);
void fs_files_forget(uint64_t ino, uint64_t n);
/* The node's own count only. */
void fs_files_forget_node(uint64_t ino, uint64_t n);
/* fs_files_intern with one lookup counted (node and slot) in the same
 * step, for an entry reply: 0 when full or the slot is gone. */
uint64_t fs_files_intern_ref(uint32_t slot, const char *path);
/* After a rename in the sandbox the kernel keeps the inodes it knows and
 * moves their names: from and everything under it now live at to (for an
 * exchange, to's tree at from), so open files, cwds and cached dentries
 * keep working; what was at to before a plain rename resolves no more. */
void fs_files_moved(uint32_t slot, const char *from, const char *to, int exchange);

/* dir + "/" + name, checked; NULL when too long or name is bad. */
char *fs_files_join(const char *dir, const char *name);

#endif
