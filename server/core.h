/*
 * The heart of sbxd: sandbox and process records, their states and
 * lifecycle, spool files, persistence under STATE_DIR/sandboxes/<id>/, and
 * the event-loop thread that reacts to process exits (runtime event fds),
 * output growth (inotify), stdin pipes becoming writable and timers
 * (lifetimes, grace periods, process timeouts, long-poll deadlines,
 * retention purge). One mutex (srv_lock) guards everything here; the HTTP
 * layer takes it for each request and reads the structs directly.
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
#include "runtime/runtime.h"

enum srv_state {
	ST_UNSPECIFIED = 0, ST_PENDING, ST_CREATING, ST_RUNNING, ST_PAUSED,
	ST_TERMINATING, ST_COMPLETED, ST_FAILED, ST_TERMINATED,
};
enum srv_pstate { PS_UNSPECIFIED = 0, PS_RUNNING, PS_EXITED, PS_KILLED, PS_FAILED };

const char *srv_state_name(int st);
int srv_state_from_name(const char *s);
const char *srv_pstate_name(int st);
int srv_state_terminal(int st);

typedef struct srv_proc {
	int64_t id;                  /* 0 = main command, 1.. = processes, -1 = unary exec */
	uint32_t uid;                /* unique within sbxd, for event routing */
	srv_strv argv, env;
	char *cwd;
	int want_stdin;
	int64_t timeout_s;
	int state;
	int exit_code, sig;
	char reason[128];
	int64_t start_ns, end_ns;    /* wall clock */
	int64_t deadline_mono;       /* timeout, 0 = none */
	int timed_out;
	int64_t token;               /* runtime token, 0 when not running */
	int out_fd[3];               /* exec only: unnamed spools (1, 2) */
	int out_done;                /* exec: init closed its copies of them */
	int capped;                  /* bit 1 stdout, 2 stderr: hit --max-output
	                                or lost output (see lost) */
	unsigned lost;               /* SRV_EXIT_LOST_* from init: output it
	                                could not store (quota, disk full) */
	/* stdin: the pipe's write end and bytes not yet written to it */
	int stdin_fd;
	int stdin_reg;               /* stdin_fd is in the loop's epoll set */
	int stdin_closed;            /* closed by the client (or never had one) */
	int close_after;             /* close the pipe once pending is written */
	unsigned char *pending;
	size_t pending_len, pending_off;
	int owner_gone;              /* exec: its request went away */
	int64_t max_output;          /* exec: maxOutputBytes (spool kept to it) */
	int kill_pending;            /* SIGKILL to send once the box is free */
	char *request_id;            /* the start's requestId, NULL when none */
} srv_proc;

typedef struct srv_sbx {
	char id[136];
	uint32_t seq;                /* creation order, also the page token */
	srv_spec spec;
	int state;
	char reason[256];
	int exit_code;
	int exit_known;              /* exit_code observed (status.exitCode set) */
	int64_t create_ns, start_ns, end_ns;
	int64_t lifetime_deadline;   /* monotonic ns, 0 = none */
	int64_t grace_deadline;      /* monotonic ns while TERMINATING */
	char end_reason[64];         /* stateReason to set once TERMINATED */
	srv_box *box;
	int64_t oom_seen;            /* OOM kills already blamed on a process */
	srv_proc **procs;            /* procs[0] = main (NULL if idle), [n] = process n */
	size_t nprocs;               /* = next process id */
	srv_proc **execs;            /* running unary execs */
	size_t nexecs;
	int dirfd;                   /* STATE_DIR/sandboxes/<id> */
	/* A finished sandbox's files, read-only until delete: an O_PATH fd
	 * of its root and an fd of its mount namespace, which keeps every
	 * mount of it (the overlay, its tmpfs, /tmp) alive with no process
	 * left (docs/internals/server.md, "Finished sandboxes"). -1: none. */
	int keep_root, keep_ns;
	int drop_files;              /* deleted: keep nothing once it ends */
	int exec_free[4], nexec_free; /* spent :exec spools, emptied for reuse */
	int creating;                /* srv_create runs the runtime without the lock */
	int purge;                   /* DELETE ?purge=true: remove once terminal */
	int term_sent;               /* stop sent SIGTERM (exit code 143 vs 137) */
	/* A spawn or signal runs on the box without srv_lock (srv_rt_begin):
	 * meanwhile no other runtime call is made on the box, its exit
	 * events wait (evt_off: taken out of the loop's epoll), signals are
	 * queued (term_pending, srv_proc.kill_pending), a box the sandbox
	 * lost is buried by srv_rt_end, and the record is never purged
	 * (rt_waiters counts requests queued behind the call). */
	int rt_busy, rt_waiters, evt_off, term_pending;
	/* From an OCI image's config (oci.h): its Env (under the spec's)
	 * and WorkingDir (when the spec and process give none). */
	srv_strv img_env;
	char *img_cwd;
	/* The uid of the unix-socket peer that created it (SO_PEERCRED; 0
	 * for root and for TCP clients): only that uid, and root, may see
	 * or act on it (api.c). Kept in the record, never in API answers. */
	uint32_t owner;
} srv_sbx;

typedef struct srv_waiter {
	struct srv_waiter *next, *prev;
	void *con;                   /* the front end's handle of the call */
	void (*resume)(void *con);   /* wakes it; NULL: srv_http_resume */
	uint32_t seq;                /* sandbox it waits on, 0 = none */
	int64_t deadline;            /* monotonic ns, 0 = none */
	int suspended;
	int watch;                   /* inotify wd + 1 of the spool it waits on */
} srv_waiter;

typedef struct srv_config {
	const char *state_dir;
	int64_t default_lifetime;
	int64_t retention;
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
	const char *subuid, *subgid; /* both set: every box a user namespace of
	                                its owner's range (runtime.h) */
	int no_limits;               /* 1: a rootless sbxd without cgroups may
	                                start (limits are refused per create) */
} srv_config;

/* Global state. */
extern pthread_mutex_t srv_lock;

/* The OCI store's images (oci.h srv_oci_list; free with
 * srv_oci_listing_free): 0, or -1 with a message. No lock needed. */
struct srv_oci_listing;
int srv_core_images(struct srv_oci_listing *out, char *err);

int64_t srv_now_ns(void);   /* CLOCK_REALTIME */
int64_t srv_mono_ns(void);  /* CLOCK_MONOTONIC */

/* Starts: loads records (running ones become FAILED "sbxd restarted"),
 * the runtime, the loop thread. -1 with a message on failure. */
int srv_core_start(const srv_config *cfg, char *err);
/* First step of shutdown: refuse new work, wake every waiter. */
void srv_core_quiesce(void);
/* Stops: destroys every box, marks live sandboxes FAILED "sbxd stopped",
 * stops the loop. Call after the HTTP side stopped. */
void srv_core_stop(void);
int srv_core_stopping(void);

/* Everything below: call with srv_lock held. */
/* By id only (names are tags: sbxfs-name=NAME, found by listing). */
srv_sbx *srv_find(const char *id);
/* srv_find as uid sees it: root (0) sees every sandbox, any other uid only
 * those it owns. */
srv_sbx *srv_find_for(const char *id, uint32_t uid);
srv_sbx *srv_find_seq(uint32_t seq);
/* Sandboxes in creation order: *n entries; the array is owned by core. */
srv_sbx **srv_all(size_t *n);
srv_proc *srv_proc_get(srv_sbx *s, int64_t id);
/* Any process record (execs included) by its uid, or NULL. */
srv_proc *srv_proc_by_uid(srv_sbx *s, uint32_t uid);

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
	SRV_E_OUTPUT_LOST,         /* 500/15 CWSANDBOX_OUTPUT_LOST (sbxd's; exec) */
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
/* Queues stdin bytes; -1 when over the pending cap. */
int srv_stdin_write(srv_sbx *s, srv_proc *p, const unsigned char *buf, size_t len);
void srv_stdin_close(srv_sbx *s, srv_proc *p);
/* Frees a finished exec record, or marks it so the loop frees it later. */
void srv_exec_release(srv_sbx *s, srv_proc *p);
/* Opens a spool file of process id (0 = main) for reading: -1 if none. */
int srv_spool_open(srv_sbx *s, int64_t id, int stream);
/* True when the stream of process id can grow no more. */
int srv_stream_ended(srv_sbx *s, int64_t id);
/* O_PATH fd of the sandbox's root, or -1 (errno ENOTSUP when the runtime
 * has no way to reach it, ESRCH when the sandbox is neither running nor
 * finished with its files kept). *read_only: 1 for a finished one (file
 * calls that change anything answer EROFS). */
int srv_root_fd(srv_sbx *s, int *read_only);
/* After the file call on srv_root_fd's fd: the thread's fs ids back to
 * sbxd's own (srv_root_fd may have set a box's, see core.c). */
void srv_root_fd_done(void);
/* A delete: the files of the sandbox go now (or when it ends). */
void srv_drop_files(srv_sbx *s);

/* srv_state <-> the schema's State enum value (-1: none). */
int srv_state_to_pb(int st);
int srv_state_from_pb(int v);
/* The extension's process form (also what is persisted). Caller frees.
 * (The Sandbox's form is rpc.h's srv_sbx_to_pb.) */
struct cJSON;
struct cJSON *srv_proc_json(const srv_sbx *s, const srv_proc *p);  /* s: adds byte counts */

/* Waiters (srv_lock held). */
void srv_waiter_add(srv_waiter *w);
void srv_waiter_remove(srv_waiter *w);
/* Watches the spool of process id (stream 1/2) for growth while w is
 * parked (dropped by srv_waiter_remove, so also by a wake-up). -1 when
 * the watch cannot be set (the caller then must not rely on it). */
int srv_waiter_watch(srv_waiter *w, srv_sbx *s, int64_t id, int stream);
/* Resumes every waiter on the sandbox (seq 0: all of them). */
void srv_wake(uint32_t seq);

/* Hooks the HTTP layer provides: resume a suspended connection. */
void srv_http_resume(void *con);

#endif
