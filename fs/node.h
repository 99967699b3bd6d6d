/*
 * The shape of the sbxfs tree: which kinds of node exist, what each is
 * called, what it holds and how it maps to an inode number. Inode numbers
 * are computed, not allocated: a sandbox gets a slot (stable while the
 * kernel holds any of its nodes: state.c counts lookups per slot and
 * reclaims it after the last FORGET once the sandbox is gone), a process
 * is its id, and the kind says which file, so a thousand processes cost no
 * per-file memory. Nodes below files/ are the exception: they live in a
 * path table (files.c) and carry the top bit.
 *
 *   ino = slot << 40 | pid << 8 | kind        (bit 63 clear)
 *   ino = 1 << 63 | files-table index          (files/ subtree)
 *
 * The root is slot 0, pid 0, kind FS_K_ROOT = 1, i.e. FUSE_ROOT_ID.
 */
#ifndef FS_NODE_H
#define FS_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum fs_kind {
	FS_K_NONE = 0,
	FS_K_ROOT = 1,
	FS_K_ROOT_NEW,
	FS_K_ROOT_ERROR,
	FS_K_SB_DIR,
	FS_K_SB_STATUS,
	FS_K_SB_RC,
	FS_K_SB_STDOUT,
	FS_K_SB_STDERR,
	FS_K_SB_INFO,
	FS_K_SB_CTL,
	FS_K_SB_ERROR,
	FS_K_SB_EXEC,
	FS_K_SB_FILES,
	FS_K_EXEC_NEW,
	FS_K_EXEC_LAST,
	FS_K_P_DIR,
	FS_K_P_CMD,
	FS_K_P_STDOUT,
	FS_K_P_STDERR,
	FS_K_P_STDIN,
	FS_K_P_RC,
	FS_K_P_STATUS,
	FS_K_P_CTL,
	FS_K_P_REASON,
	FS_K_SB_TAGS,
	FS_K_ROOT_BYTAG,        /* by-tag/ */
	FS_K_TAG_DIR,           /* by-tag/TAG/: slot 0, pid = the tag's index (tags.h) */
	FS_K_TAG_LINK,          /* by-tag/TAG/NAME -> ../../NAME: slot, pid = tag index */
	FS_K_ROOT_IMAGES,       /* images: the service's image references */
	FS_K_ROOT_SNAPSHOTS,    /* snapshots/: an entry per filesystem snapshot */
	FS_K_SB_SNAPSHOTS,      /* NAME/snapshots: this sandbox's, newest last */
	FS_K_SNAP_ALL,          /* snapshots/.all: every snapshot, a line each */
	FS_K_SNAP_FILE,         /* snapshots/ID: slot 0, pid = the id's index (tags.h) */
	FS_K_COUNT
} fs_kind;

#define FS_SLOT_MAX ((UINT64_C(1) << 23) - 1)
#define FS_PID_MAX ((INT64_C(1) << 32) - 1)
#define FS_INO_FILES_BIT (UINT64_C(1) << 63)

uint64_t fs_ino_make(uint32_t slot, int64_t pid, fs_kind kind);
/* Splits an inode number; returns 0, or -1 for a files/ node or a number
 * that no node could have. */
int fs_ino_split(uint64_t ino, uint32_t *slot, int64_t *pid, fs_kind *kind);
int fs_ino_is_files(uint64_t ino);

/* The fixed child called name of a directory kind (not sandboxes or
 * processes, which are dynamic), or FS_K_NONE. */
fs_kind fs_kind_child(fs_kind dir, const char *name);
/* The fixed children of a directory kind, in listing order: fills up to max
 * kinds and returns how many exist. */
size_t fs_kind_children(fs_kind dir, fs_kind *out, size_t max);
/* The name of a fixed node ("stdout"); "" for dynamic ones. */
const char *fs_kind_name(fs_kind k);
/* S_IFDIR/S_IFREG/S_IFLNK with permission bits. */
mode_t fs_kind_mode(fs_kind k);
/* The directory kind that contains k (FS_K_ROOT for the root itself). */
fs_kind fs_kind_parent(fs_kind k);
/* Output streams and returncodes may wait in read(). */
int fs_kind_is_output(fs_kind k);
/* Files whose content changes while the sandbox lives (no attribute cache). */
int fs_kind_is_dynamic(fs_kind k);

/* A process directory name: "1".."4294967295", no leading zeros. Returns
 * the id or -1. */
int64_t fs_parse_pid_name(const char *name);

#endif
