/*
 * The heart of sbxd: the lifecycle of sandboxes and processes (create,
 * start, stop, purge, the unlocked runtime calls), the root fd of file
 * calls, and the start and stop of the core with its event-loop thread
 * (process exits, spool growth, stdin pipes, timers: lifetimes, grace
 * periods, process timeouts, long-poll deadlines, retention purge). One
 * mutex (srv_lock, records.h) guards everything; the HTTP layer takes it
 * for each request and reads the structs directly. The headers included
 * below are the modules core.c stands on (docs/internals/server.md, "The
 * core's modules"); including core.h gives all of them.
 *
 * Waiting: a long-poll request registers a srv_waiter for a sandbox and is
 * suspended; whenever anything happens to that sandbox (or the waiter's
 * deadline passes) the loop resumes it and the request re-checks its own
 * condition. Spurious wake-ups are fine by design.
 */
#ifndef SRV_CORE_H
#define SRV_CORE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "parse.h"
#include "persist.h"
#include "records.h"
#include "runtime/runtime.h"
#include "spool.h"
#include "state.h"
#include "stdin.h"
#include "waiters.h"

typedef struct srv_config {
	const char *state_dir;
	int64_t default_lifetime;
	int64_t retention;
	int64_t keep_procs;          /* records of processes kept per sandbox (0: 4096) */
	int64_t exit_linger_us;      /* a start waits this long for its process's
	                                exit (answered as ended); 0 = not at all */
	int max_sandboxes;
	const char *hide_paths[4];   /* host paths sandboxes must not see (the
	                                socket, the token file), NULL-ended */
	int64_t default_memory;      /* bytes, when a spec has none; 0 = none */
	int64_t max_output;          /* bytes per output stream; 0 = none */
	int64_t disk_bytes;          /* writable layer size; 0 = runtime default */
	const char *image_dirs[8];   /* searched after STATE_DIR/images, NULL-ended */
	const char *default_image;   /* a spec without an image gets this one */
	const char *image_alias[8];  /* "REF=LOCAL": a spec naming REF runs on
	                                LOCAL (the record keeps REF); NULL-ended */
	int allow_host_image;        /* 1: image "host" (the host's /, masked) */
	int64_t output_quota;        /* bytes of all spools of one sandbox; 0 = none */
	int64_t min_free;            /* bytes to keep free in the state dir's file
	                                system (spools stop), or: */
	int min_free_pct;            /* percent of its size, when min_free is 0 */
	int default_egress;          /* 1: a spec with no egress rules and no
	                                denyEgress may reach anything (as
	                                {"any": true}); 0 (default): nothing */
	const char *subuid, *subgid; /* root sbxd: the files of users' ranges
	                                (runtime.h); NULL: /etc/subuid, subgid */
	int userns_root;             /* --userns: root's own boxes get root's range */
	int subids_given;            /* --subuid/--subgid named: must be readable */
	int no_live_restore;         /* 1: sandboxes end with sbxd (init exits
	                                with it; leftovers are ended at start) */
	int no_limits;               /* 1: a rootless sbxd without cgroups may
	                                start (limits are refused per create) */
	int warm_pool;               /* boxes of the default image kept made
	                                ahead for creates (pool.h); 0: none */
} srv_config;

/* srv_lock, the one mutex: records.h. */

/* The OCI store's images (oci.h srv_oci_list; free with
 * srv_oci_listing_free): 0, or -1 with a message. No lock needed. */
struct srv_oci_listing;
int srv_core_images(struct srv_oci_listing *out, char *err);

/* Starts: the runtime, loads records (running ones are taken back by live
 * restore, else become FAILED "sbxd restarted"), the loop thread. -1 with
 * a message on failure. */
int srv_core_start(const srv_config *cfg, char *err);
/* First step of shutdown: refuse new work, wake every waiter. */
void srv_core_quiesce(void);
/* Stops: stops the loop; running sandboxes are left running for the next
 * sbxd (live restore), unless srv_core_full_stop or --no-live-restore:
 * then every box is destroyed and live sandboxes marked FAILED "sbxd
 * stopped". Call after the HTTP side stopped. */
/* Makes the next srv_core_stop end every sandbox (a full stop) instead of
 * leaving running ones for the next sbxd (live restore). */
void srv_core_full_stop(void);
void srv_core_stop(void);
int srv_core_stopping(void);

/* Everything below: call with srv_lock held. */
/* The lookups (srv_find ...) are records.h's. */

/* The error kinds of sbxd, each one row of rpc.c's table (code, reason;
 * docs/internals/wire.md section 6, docs/api.md "Errors"). The first
 * group is what real calls answer (the schema's reasons); the second is
 * the extension's own reasons (never on a real call). */
typedef enum srv_err {
	SRV_E_INVALID = 1,         /* 400/3  CWSANDBOX_INVALID_REQUEST (+ BadRequest) */
	SRV_E_PRECONDITION,        /* 400/9  CWSANDBOX_INVALID_REQUEST (a state forbids it) */
	SRV_E_NOT_RUNNING,         /* 400/9  CWSANDBOX_INVALID_REQUEST, metadata.state */
	SRV_E_UNSUPPORTED,         /* 501/12 CWSANDBOX_NOT_IMPLEMENTED, naming the field */
	SRV_E_NOT_IMPLEMENTED,     /* 501/12 CWSANDBOX_NOT_IMPLEMENTED (an RPC sbxd lacks) */
	SRV_E_NO_ROUTE,            /* 404/5  no ErrorInfo: an unmatched path */
	SRV_E_SANDBOX_NOT_FOUND,   /* 404/5  CWSANDBOX_SANDBOX_NOT_FOUND, metadata.sandboxId */
	SRV_E_ALREADY_EXISTS,      /* 409/6  CWSANDBOX_INVALID_REQUEST naming spec.tags */
	SRV_E_CAPACITY,            /* 429/8  CWSANDBOX_RUNNER_CAPACITY_EXHAUSTED, RetryInfo */
	SRV_E_TIMEOUT,             /* 504/4  CWSANDBOX_COMMAND_TIMEOUT */
	SRV_E_UNAVAILABLE,         /* 503/14 CWSANDBOX_BACKEND_UNAVAILABLE, RetryInfo */
	SRV_E_INTERNAL,            /* 500/13 no ErrorInfo */
	SRV_E_UNAUTHENTICATED,     /* 401/16 no ErrorInfo */
	SRV_E_FILE_NOT_FOUND,      /* 404/5  CWSANDBOX_FILE_NOT_FOUND */
	SRV_E_FILE_PERMISSION,     /* 403/7  CWSANDBOX_FILE_PERMISSION_DENIED */
	SRV_E_FILE_IS_DIRECTORY,   /* 400/9  CWSANDBOX_FILE_IS_DIRECTORY */
	SRV_E_FILE_TOO_LARGE,      /* 400/3  CWSANDBOX_FILE_TOO_LARGE */
	SRV_E_FILE_IO,             /* 500/13 CWSANDBOX_FILE_IO_FAILED */
	SRV_E_FILE_EXISTS,         /* 409/6  CWSANDBOX_FILE_IO_FAILED (extension file calls) */
	SRV_E_NO_SPACE,            /* 429/8  CWSANDBOX_FILE_IO_FAILED: disk or quota full */
	SRV_E_OUTPUT_LOST,         /* 500/15 DATA_LOSS, no ErrorInfo (exec, a real call) */
	/* snapshots: the schema's CWSANDBOX_FSS_* family and volume reason */
	SRV_E_SNAPSHOT_NOT_FOUND,  /* 404/5  CWSANDBOX_FSS_NOT_FOUND, metadata.fileSystemSnapshotId */
	SRV_E_SNAPSHOT_NOT_READY,  /* 400/9  CWSANDBOX_FSS_NOT_READY, metadata.state */
	SRV_E_VOLUME_NOT_SNAPSHOTTABLE, /* 400/3 CWSANDBOX_VOLUME_NOT_SNAPSHOTTABLE */
	/* the extension's own */
	SRV_E_PROCESS_NOT_FOUND,   /* 404/5  CWSANDBOX_PROCESS_NOT_FOUND, metadata.processId */
	SRV_E_PROCESS_EXITED,      /* 400/9  CWSANDBOX_PROCESS_EXITED */
	SRV_E_STDIN_CLOSED,        /* 400/9  CWSANDBOX_STDIN_CLOSED */
	SRV_E_STDIN_FULL,          /* 429/8  CWSANDBOX_STDIN_FULL, RetryInfo */
	SRV_E_DIRECTORY_NOT_EMPTY, /* 400/9  CWSANDBOX_DIRECTORY_NOT_EMPTY */
	SRV_E_NAME_TOO_LONG,       /* 400/3  CWSANDBOX_NAME_TOO_LONG */
} srv_err;

/* Create: returns the new sandbox or NULL with the error kind (rpc.c's
 * table gives code and reason), the field to blame and a message. Takes
 * ownership of *spec on success. */
typedef struct srv_refusal {
	srv_err kind;
	const char *field;           /* BadRequest field, NULL none */
	const char *state;           /* SRV_E_NOT_RUNNING: metadata.state */
	char msg[SRV_MSGLEN];
	int retry_ms;                /* overrides the row's RetryInfo when > 0 */
} srv_refusal;
/* owner: the creating uid (srv_sbx.owner); a requestId or a name only
 * meets the owner's own sandboxes. */
srv_sbx *srv_create(srv_spec *spec, uint32_t owner, srv_refusal *why);
/* Begins stopping (DELETE): TERM now, KILL after grace seconds. */
void srv_stop(srv_sbx *s, int grace_s, const char *reason);
/* DELETE ?purge=true: stops like srv_stop, then removes the record, its
 * output and state dir as soon as the sandbox is terminal (at once when it
 * already is). s must not be used after this call. */
void srv_stop_purge(srv_sbx *s, int grace_s, const char *reason);
/* Starts a process (exec = 1: a hidden unary exec). */
srv_proc *srv_proc_start(srv_sbx *s, srv_proc_req *req, int exec, srv_refusal *why);
/* Runtime calls outside srv_lock (one per box at a time). srv_rt_begin
 * waits (lock released meanwhile) until no other call runs on s's box,
 * marks it busy and returns the box (NULL when the sandbox has none: then
 * do not call srv_rt_end). The caller then unlocks, calls the runtime,
 * relocks and calls srv_rt_end with the same box. s stays valid in
 * between; anything else about it may have changed. */
srv_box *srv_rt_begin(srv_sbx *s);
void srv_rt_end(srv_sbx *s, srv_box *b);
/* Frees a finished exec record, or marks it so the loop frees it later. */
void srv_exec_release(srv_sbx *s, srv_proc *p);
/* O_PATH fd of the sandbox's root, or -1 (errno ENOTSUP when the runtime
 * has no way to reach it, ESRCH when the sandbox is neither running nor
 * finished with its files kept). *read_only: 1 for a finished one (file
 * calls that change anything answer EROFS). */
int srv_root_fd(srv_sbx *s, int *read_only);
/* After the file call on srv_root_fd's fd: the thread's fs ids back to
 * sbxd's own (srv_root_fd may have set a box's, see core.c). */
void srv_root_fd_done(void);

/* The records' API forms (srv_proc_json, srv_sbx_to_pb) are persist.h's. */

/* Waiters (srv_lock held; the rest is waiters.h). */
/* Watches the spool of process id (stream 1/2) for growth while w is
 * parked (dropped by srv_waiter_remove, so also by a wake-up). -1 when
 * the watch cannot be set (the caller then must not rely on it). */
int srv_waiter_watch(srv_waiter *w, srv_sbx *s, int64_t id, int stream);

#endif
