/*
 * What sbxfs knows about the service's sandboxes and processes: a table of
 * sandbox slots (a slot is the stable inode-number part of a sandbox while
 * the kernel holds any of its nodes; reclaimed after that once the sandbox
 * is gone), each with its last known record, its processes' last
 * known records, the sizes seen on each output stream and the text of its
 * `error` file. Everything here is a cache of the service, refreshed by
 * short non-waiting calls (list, get with wait 0), so listing and stat never
 * wait on a process. Thread-safe: one internal lock, never held across a
 * call to the service.
 *
 * Slot 0 is the mount root: it only carries the root `error` file.
 * Functions returning int give 0 or a negative errno; when they fail on a
 * call to the service they also write the message to the slot's error file.
 */
#ifndef FS_STATE_H
#define FS_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <sbx/sbx.h>

#define FS_ID_MAX 160           /* sandbox ids are at most 128 bytes */
#define FS_ERROR_MAX 1024       /* one error message */

typedef struct fs_proc_view {
	int known;
	sbx_proc_state state;
	int exit_code;
	int64_t bytes[3];       /* by sbx_stream; index 0 unused */
	int64_t mtime_ns[3];    /* when that stream last grew */
	int64_t start_ns, end_ns;
	int signal;             /* the signal that ended it, 0 = none */
	int has_stdin;          /* started with a stdin */
	char reason[128];       /* stateReason, "" when none */
} fs_proc_view;

typedef struct fs_sb_view {
	char id[FS_ID_MAX];
	sbx_state state;
	int exit_code;
	int have_record;
	int64_t create_ns;
	int64_t main_bytes[3];
	int main_eof[3];
	int64_t main_mtime_ns[3];
	int64_t last_pid;
	size_t info_len;        /* bytes of the last record's JSON */
	char reason[512];       /* stateReason, "" when none */
} fs_sb_view;

/* Takes the client (owned by the caller, must outlive the state). */
void fs_state_init(sbx_client *c);
void fs_state_fini(void);

int64_t fs_now_ms(void);        /* monotonic */
int64_t fs_realtime_ns(void);

/* Re-lists the sandboxes when the last list is older than max_age_ms. */
int fs_state_refresh(int max_age_ms);
/* The visible sandbox whose directory is called name; 0 and *slot, or
 * -ENOENT. */
int fs_state_lookup(const char *name, uint32_t *slot);
/* Calls fn for each visible sandbox directory (under the lock: fn must not
 * call back into this module). */
void fs_state_foreach(void (*fn)(void *ud, uint32_t slot, const char *dirname), void *ud);
/* A new or updated record; returns the slot (0 on allocation failure). */
uint32_t fs_state_put_sandbox(const sbx_sandbox *s);
/* The record of the sandbox in slot, only if slot still holds it (a late
 * long-poll's answer must not bring back a sandbox that is gone). */
void fs_state_update_sandbox(uint32_t slot, const sbx_sandbox *s);
/* Merges a listing of every sandbox taken at start_ms (fs_state_refresh's
 * second half): what it lacks is no longer listed. */
void fs_state_merge_list(sbx_sandbox *const *v, size_t n, int64_t start_ms);

/* Slots are reclaimed (memory freed, the number reused much later) once the
 * kernel holds none of their nodes and the service no longer lists the
 * sandbox. fs_state_ref counts one more lookup of a node of slot (every
 * entry reply, before it is sent: -ENOENT when the slot is gone), and
 * fs_state_forget takes FORGET's count off. Slot 0 is never reclaimed. */
int fs_state_ref(uint32_t slot);
void fs_state_forget(uint32_t slot, uint64_t n);
/* Called under the state's lock when a slot number is reclaimed and when it
 * is handed out again: whatever else is kept by slot number (files/ nodes,
 * cached chunks) must go. It must not call back into this module. */
void fs_state_on_reclaim(void (*fn)(uint32_t slot));
/* Whether the sandbox of slot is gone: deleted through this mount, or no
 * longer listed by the service. */
int fs_state_gone(uint32_t slot);
/* Called under the state's lock when a listing no longer has a sandbox
 * that this mount did not delete and the kernel still holds nodes of, with
 * its directory name: the kernel should drop that entry. Must not call
 * back into this module (nor wait on the kernel). */
void fs_state_on_unlisted(void (*fn)(uint32_t slot, const char *dirname));
/* Slots in use, the root's included, and the most a mount holds. */
#define FS_STATE_SLOTS_MAX 65536
uint32_t fs_state_slots_used(void);
/* Hides a sandbox deleted through this mount. */
void fs_state_hide(uint32_t slot);
/* Copies what a slot knows; -ENOENT for an unknown slot. */
int fs_state_sandbox(uint32_t slot, fs_sb_view *out);
/* The directory name (malloc'd) or NULL. */
char *fs_state_dirname(uint32_t slot);
/* The sandbox id of slot into id (no view copied); -ENOENT if none. */
int fs_state_sandbox_id(uint32_t slot, char id[FS_ID_MAX]);
/* The sandbox as JSON (malloc'd, fetched now). */
int fs_state_info(uint32_t slot, char **json);
/* Gets the sandbox record when the one known is older than max_age_ms. */
int fs_state_fetch_sandbox(uint32_t slot, int max_age_ms);

/* Tags. The tags of a sandbox's last record, one a line (malloc'd; "" for
 * none; NULL for an unknown slot). */
char *fs_state_tags(uint32_t slot);
/* Whether a visible sandbox has the tag, as last seen. */
int fs_state_has_tag(uint32_t slot, const char *tag);
/* Calls fn for each tag of each visible sandbox (repeats included; under
 * the lock). */
void fs_state_foreach_tag(void (*fn)(void *ud, const char *tag, size_t len), void *ud);
/* Asks the service for the sandboxes with the tag (its list filter), merges
 * them and calls fn for each visible one (under the lock). */
int fs_state_list_tag(const char *tag, void (*fn)(void *ud, uint32_t slot, const char *dirname), void *ud);

/* Processes. */
void fs_state_put_proc(uint32_t slot, const sbx_process *p);
int fs_state_proc(uint32_t slot, int64_t pid, fs_proc_view *out);
/* Whether a process is known to have ended: its record then never changes. */
int fs_proc_final(const fs_proc_view *p);
/* The cmd line (malloc'd) or NULL when unknown. */
char *fs_state_proc_cmd(uint32_t slot, int64_t pid);
/* Refreshes one process record (wait 0) unless it is final or younger than
 * max_age_ms. -ENOENT when the service has no such process. */
int fs_state_fetch_proc(uint32_t slot, int64_t pid, int max_age_ms);
/* Lists the processes when the last list is older than max_age_ms. */
int fs_state_fetch_procs(uint32_t slot, int max_age_ms);
/* Finds the newest process (its id in last_pid) unless that was done (or
 * the processes listed) within max_age_ms, without listing the history:
 * ids are 1, 2, 3 ... in start order, so a gallop from the newest known
 * id (ask last+1, last+2, last+4 ... until one is missing) and a bisection
 * find it in O(log new) gets, each the size of one process. Falls back to
 * the list when a get fails otherwise than NOT_FOUND. */
int fs_state_fetch_newest(uint32_t slot, int max_age_ms);
/* A thread that keeps fs_state_fetch_newest's answer fresh (re-checked
 * every 0.4 s) for sandboxes whose exec/last was asked for in the last
 * 10 s, so those lookups need no round trip. Start after fs_state_init,
 * stop before the client goes. */
void fs_state_start_refresh(void);
void fs_state_stop_refresh(void);
/* A name no cached sandbox holds (mkdir's first lookup, a lookup from
 * another mount): asks for that one sandbox, by id or name (sbxd resolves
 * a name in the URL), then by the tag sbxfs-name=NAME (services that keep
 * only tags), instead of listing every sandbox. 0 when one was found and
 * cached (look it up again), -ENOENT when not, else -errno. */
int fs_state_find_name(const char *name);
/* Calls fn for each known process id (under the lock). */
void fs_state_foreach_proc(uint32_t slot, void (*fn)(void *ud, int64_t pid), void *ud);

/* Records what a read learned about an output stream (pid SBX_MAIN for the
 * main command): bytes produced so far and whether the stream has ended. */
void fs_state_stream_seen(uint32_t slot, int64_t pid, sbx_stream s, int64_t size, int eof);
/* Size of the main command's stream, refreshed by a one-byte read when
 * older than max_age_ms and not ended. */
int fs_state_fetch_main_size(uint32_t slot, sbx_stream s, int max_age_ms);

/* Process starts that failed without an answer (a missed deadline, a
 * lost connection) may have run on the service. The next start of the
 * same request bytes on that sandbox reuses their request id, so the
 * service runs the command at most once; any answer forgets it. */
void fs_state_start_unsure(uint32_t slot, const char *req, size_t len, const char *rid);
/* 1 and the id when req is the last unsure start's bytes, else 0. */
int fs_state_start_retry_id(uint32_t slot, const char *req, size_t len, char rid[SBX_REQUEST_ID_MAX + 1]);
void fs_state_start_sure(uint32_t slot);

/* The root's images file: the service's references, one a line (libsbx's
 * sbx_images_list). 0 and *text malloc'ed, or -errno (ENOTSUP without
 * the service's "images" extension; the root's error file says why). */
int fs_state_images(char **text);

/* The filesystem snapshots (libsbx's sbx_snapshot_list): of every sandbox
 * of the caller's (slot 0, the root's snapshots file) or of the sandbox
 * of slot; one line each, oldest first: "ID STATE SIZE_BYTES SANDBOX
 * VOLUME TRIGGER" (STATE one word: creating ready failed deleting;
 * TRIGGER manual or on-delete). 0 and *text malloc'ed, or -errno. */
int fs_state_snapshots(uint32_t slot, char **text);
/* The root's snapshots/ directory: calls fn with the id of every
 * snapshot of the caller's (one ListFileSystemSnapshots); 0 or -errno
 * with the root's error file set. */
int fs_state_foreach_snapshot(void (*fn)(void *ud, const char *id), void *ud);
/* snapshots/ID: GetFileSystemSnapshot. 0 with *json (malloc'ed, NULL
 * allowed) the service's FileSystemSnapshot, or -ENOENT
 * for an id the service does not know (no error file: a stat of a name
 * that is not there is no failure), or -errno with the error file set. */
int fs_state_snapshot_get(const char *id, char **json);
/* rm snapshots/ID: DeleteFileSystemSnapshot; 0 or -errno (error file set). */
int fs_state_snapshot_delete(const char *id);
/* `snapshot [VOLUME]` on a sandbox's ctl: CreateFileSystemSnapshot of
 * volume ("" the only one); 0, or -errno with the error file set. */
int fs_state_snapshot(uint32_t slot, const char *volume);

/* The error file. fs_state_fail records "what: message" for slot and
 * returns -errno for err. */
int fs_state_fail(uint32_t slot, const char *what, const sbx_error *err);
void fs_state_set_error(uint32_t slot, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A FAILED sandbox's returncode has no exit code: its reason (NULL or ""
 * reads "no reason given") goes to the error file instead. */
void fs_state_note_failed(uint32_t slot, const char *reason);
char *fs_state_error(uint32_t slot);
/* The newest `error` message of any slot when it was set at since_ns or
 * later, else NULL (caller frees). */
char *fs_state_last_error(int64_t since_ns);
/* When the error text was last set (realtime ns, 0 = never). */
int64_t fs_state_error_ns(uint32_t slot);
/* Called (unlocked) after every error update, e.g. to invalidate the
 * kernel's view of the `error` file. */
void fs_state_on_error(void (*fn)(uint32_t slot));

#endif
