/*
 * The FUSE low-level operations of sbxfs: the tree of DESIGN section 2 on
 * top of the state cache (state.c), the waiters (wait.c) and libsbx.
 */
#ifndef FS_OPS_H
#define FS_OPS_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif
#include <fuse_lowlevel.h>

#include <sbx/sbx.h>

#define FS_MKDIR_OPTS 5

typedef struct fs_settings {
	int grace_seconds;      /* rmdir and `ctl delete` */
	int kernel_cache;       /* page-cache finished output (default: direct_io) */
	int single_thread;      /* -s: no notification may wait on the loop */
	/* Defaults of mkdir (-o image=,network=,lifetime=,cpu=,memory=):
	 * pairs for sbx_spec_set_option, NULL values unset; checked at mount. */
	const char *mkdir_opts[FS_MKDIR_OPTS][2];
	int exec_stdin;         /* -o stdin: text commands start with stdin open */
	int no_splice;          /* -o no_splice: no spool descriptors (read_spliced) */
} fs_settings;

/* The client must outlive the session. */
void fs_ops_setup(sbx_client *c, const fs_settings *s);
/* The session, for notifications (inval of `error` files and deleted
 * names). NULL until set. */
void fs_ops_set_session(struct fuse_session *se);
/* Whether the raw request buf (len bytes from /dev/fuse) is a write that
 * only a files/ descriptor serves (fs_files_local_write):
 * fs_loop_local_fn for loop.c. */
int fs_ops_request_local(const char *buf, size_t len);
extern const struct fuse_lowlevel_ops fs_ops;

#endif
