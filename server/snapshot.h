/*
 * sbxd's filesystem snapshots (STATE_DIR/snapshots, docs/internals/server.md
 * "The snapshot store"): a snapshot of a scratch volume's host directory is
 * one pax tar, zstd-compressed, written by libarchive (regular files, dirs,
 * symlinks, hard links stored once, modes, owners, mtimes in ns, user.*
 * xattrs; devices, fifos and sockets are left out and counted), its sha256
 * kept in the record and checked before every restore. Records (the
 * schema's FileSystemSnapshot fields plus the owner's uid and the digest)
 * are JSON files next to the archives, so snapshots survive a restart; a
 * record still CREATING at load is turned FAILED. Creating is asynchronous:
 * srv_snap_create queues a job and answers CREATING, one worker thread
 * walks the directory (never through a symlink: openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV) and flips the record to READY or
 * FAILED with a reason. Restore unpacks into an empty directory with the
 * same confinement and refuses devices. The module knows nothing of
 * sandboxes: callers give paths, ids and uids. One store per process; its
 * own mutex (never srv_lock), so every call may be made with srv_lock held.
 * Functions return 0 or a negative errno, with a message in err
 * (SRV_SNAP_ERRLEN) where they take one.
 */
#ifndef SRV_SNAPSHOT_H
#define SRV_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#define SRV_SNAP_ERRLEN 256
#define SRV_SNAP_IDLEN 24        /* "fss-" + 16 hex + NUL, with room */
#define SRV_SNAP_MAX 4096        /* records in one store */
#define SRV_SNAP_MAX_ENTRIES 1000000 /* entries of one archive (both ways) */
#define SRV_SNAP_MAX_DATA (64LL << 30) /* file bytes of one snapshot: the largest volume */

/* States and triggers: the schema's numbers (SnapshotState, SnapshotTrigger). */
enum { SRV_SNAP_CREATING = 1, SRV_SNAP_READY = 2, SRV_SNAP_FAILED = 3, SRV_SNAP_DELETING = 4 };
enum { SRV_SNAP_MANUAL = 1, SRV_SNAP_ON_DELETE = 2 };

/* A copy of one record (the caller's own; no pointers). */
typedef struct srv_snap_info {
	char id[SRV_SNAP_IDLEN];
	int state;
	char reason[SRV_SNAP_ERRLEN];
	int64_t size_bytes;          /* the archive's bytes on disk (READY) */
	int64_t data_bytes;          /* file bytes it holds (the volume's data) */
	char sandbox_id[136];
	char volume[64];
	int trigger;
	int64_t create_ns, complete_ns, updated_ns; /* CLOCK_REALTIME; 0: none */
	char request_id[129];
	uint32_t owner;              /* uid of the creator */
	char digest[72];             /* "sha256:HEX" of the archive (READY) */
	uint64_t seq;                /* creation order, for listing pages */
} srv_snap_info;

/* Opens STATE_DIR/snapshots (made when missing), loads its records (a
 * CREATING one becomes FAILED "sbxd restarted while the snapshot was
 * being taken"), empties tmp/ and starts the worker. */
int srv_snap_open(const char *state_dir, char *err);
/* The state dir's free-space floor in bytes (sbxd --min-free; 0: none): an
 * archive being written stops and its snapshot FAILS once less is free. */
void srv_snap_set_min_free(int64_t bytes);
/* Stops the worker: a job running is abandoned and saved FAILED "sbxd
 * stopped". Safe when never opened. */
void srv_snap_close(void);

/* Queues a snapshot of the directory src (an absolute host path; opened
 * here, so a bad one fails at once with -errno). *out: the new record,
 * CREATING. request_id may be NULL. gate, when not NULL, is asked by the
 * worker (with no lock of this module held) before it reads src, every
 * 20 ms until it answers non-zero or SRV_SNAP_GATE_MS pass: an ON_DELETE
 * snapshot waits so for its sandbox to have stopped writing. */
#define SRV_SNAP_GATE_MS 330000
int srv_snap_create(const char *src, const char *sandbox_id, const char *volume, int trigger,
                    const char *request_id, uint32_t owner, int (*gate)(const char *sandbox_id),
                    srv_snap_info *out, char *err);

/* The record of id as peer may see it (peer 0: root or TCP sees all;
 * another uid's record is as absent as a missing one): 0 or -ENOENT. */
int srv_snap_get(const char *id, uint32_t peer, srv_snap_info *out);

/* Up to max records peer may see, in creation order, with seq > after and
 * (when sandbox_id is not NULL or "") from that sandbox. *more: 1 when
 * more follow. Returns the number written to out. */
size_t srv_snap_list(uint32_t peer, const char *sandbox_id, uint64_t after, srv_snap_info *out, size_t max,
                     int *more);

/* Removes id (archive and record) as peer: 0 with *out the record as it
 * was, state DELETING; -ENOENT. A snapshot still being taken is
 * abandoned by the worker, which then removes it. */
int srv_snap_delete(const char *id, uint32_t peer, srv_snap_info *out);

/* Unpacks READY snapshot id (as peer may see it) into the directory dst
 * (an absolute host path, expected empty): -ENOENT unknown, -EAGAIN not
 * READY (CREATING/FAILED/DELETING), -EBADMSG digest mismatch or an entry
 * refused (a device, a path or link that leaves the tree, a name twice),
 * -ENOSPC, other -errno. Nothing is ever written outside dst. */
int srv_snap_restore(const char *id, uint32_t peer, const char *dst, char *err);

/* Lower level, for tests and the fuzzer: writes the tree of srcfd as an
 * archive to outfd (digest "sha256:HEX" into digest[72], file bytes into
 * *data_bytes, entries left out into *skipped), and unpacks the archive
 * in fd into the directory dstfd. cancel, when not NULL, is looked at
 * between entries and blocks (non-zero: -ECANCELED). The files' bytes may
 * not exceed the size of srcfd's file system (a volume's size=; sparse
 * files count whole) nor SRV_SNAP_MAX_DATA: past it, -EBADMSG. */
int srv_snap_write_tree(int srcfd, int outfd, const volatile int *cancel, char *digest, int64_t *data_bytes,
                        int64_t *skipped, char *err);
int srv_snap_unpack_fd(int fd, int dstfd, char *err);

/* A volume's directory is about to go: when a queued or running job reads
 * below dir, returns 1 and calls remove(dir) (without any lock) once the
 * last such job ended, so the snapshot is complete; else 0 (the caller
 * removes it now). Never blocks. */
int srv_snap_defer_removal(const char *dir, int (*remove)(const char *dir));

/* Waits (at most ms) until no job is queued or running: 0, or -ETIMEDOUT. */
int srv_snap_wait_idle(int ms);

#endif
