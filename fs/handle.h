/*
 * The per-open-file state of sbxfs (what fi->fh points to), shared by the
 * FUSE operations (ops.c) and the waiters that answer reads later
 * (wait.c). A handle belongs to its open file: created in open/opendir,
 * freed in release/releasedir, after every read on it has been answered.
 */
#ifndef FS_HANDLE_H
#define FS_HANDLE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "clone.h"
#include "node.h"

struct fs_waiter;

struct stat;
typedef struct fs_dirent {
	char *name;
	uint64_t ino;
	unsigned mode;
	struct stat *attr;      /* files/ entries from a full listing: their
				 * attributes, for READDIRPLUS; else NULL */
} fs_dirent;

typedef struct fs_handle {
	fs_kind kind;
	uint32_t slot;
	int64_t pid;
	uint64_t ino;
	char *text;             /* content fixed at open, or a clone file's id line */
	size_t text_len;
	int64_t rd_base;        /* clone files: offset of the first read, -1 before */
	int64_t pos;            /* output files: where the last read ended (poll) */
	struct fs_waiter *poll_w;       /* an armed poll, under wait.c's lock */
	fs_dirent *ents;        /* directories: the listing taken at opendir */
	size_t nents;
	int64_t ents_age_ms;    /* files/ dirs: how old the listing was at
				 * opendir (one fetched ahead for a walk) */
	int ents_later;         /* files/ dirs opened on the kernel's cached
				 * listing: nothing fetched at opendir; a
				 * READDIR (the kernel's cache gone after
				 * all) fetches at path then */
	char *path;             /* files/ nodes: the path inside the sandbox */
	int append;             /* files/ nodes: opened O_APPEND */
	int privs_checked;      /* files/ nodes: set-id bits were checked at the
				 * first write by a caller other than root */
	/* files/ nodes open for writing: the write-behind buffer (files.c),
	 * contiguous bytes [wb_off, wb_off + wb_len) not yet sent, and the
	 * error of a send that no write could be answered with (given to the
	 * next write, FLUSH or fsync). Under wb_lock; the handle is on
	 * files.c's list of writable handles while wb_listed. */
	char *wb;
	size_t wb_len;
	int64_t wb_off;
	int wb_err;
	int wb_listed;
	pthread_mutex_t wb_lock;
	struct fs_handle *wb_prev, *wb_next;
	char *ra;               /* files/ nodes: bytes read ahead for small */
	size_t ra_len;          /* sequential reads (tar's 10 KiB), from */
	int64_t ra_off, ra_ms;  /* ra_off, fetched at ra_ms (monotonic) */
	/* files/ nodes from a local sbxd: the file's own descriptor, passed
	 * by sbxd at open (sbx_file_fd), that read, write, fsync and
	 * ftruncate use directly (files.c "Descriptors"). ffd_ro: the
	 * sandbox had ended, the fd is read-only and writes are EROFS;
	 * ffd_wrote: bytes went through it (the page cache stamp is off). */
	int has_ffd;
	int ffd;
	int ffd_ro;
	int ffd_wrote;
	unsigned ffd_uid, ffd_gid;      /* its owner at open (host ids) */
	int nonblock;           /* opened O_NONBLOCK (stdin writes) */
	fs_clone clone;         /* clone files: the request written so far */
	int refused;            /* clone files: -errno of a request refused in a write,
				 * answered to its further writes until close */
	int checked;            /* clone files: the text's sandbox was checked once */
	uint64_t writers[8];    /* clone files: lock owners (the writing processes'
				 * file tables) that wrote to the pending request */
	int nwriters;           /* -1: more than fit, any close ends the request */
	pthread_mutex_t clone_lock;     /* clone files: writes, flushes and reads of
					 * one open file from several processes */
	int64_t prefetch_end;   /* output files: the chunk end last prefetched after */
	char *gone_name;        /* `ctl delete` done: the name to invalidate */
	/* Output files of an ended stream from a local sbxd: its spool's
	 * read-only fd (sbx_output_fd), read by splice. sfd_state (atomic):
	 * 0 not asked, 1 asking, 2 sfd held, 3 refused (read by offset). */
	int sfd_state;
	int sfd;
	int64_t sfd_size;       /* the stream's final size */
	int cached;             /* opened with keep_cache (a short read is EOF) */
} fs_handle;

#endif
