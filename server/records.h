/*
 * The records of sandboxes and their processes as sbxd holds them in
 * memory, and the table of sandboxes (records.c). All calls with srv_lock
 * held. What the fields mean to the lifecycle is core.c's business; this
 * module only makes, finds and frees them.
 */
#ifndef SRV_RECORDS_H
#define SRV_RECORDS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"
#include "runtime/runtime.h"

/* Guards everything of the core (defined in records.c). */
extern pthread_mutex_t srv_lock;

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
	/* Someone waits for the pipe to take bytes (StreamExec's reader,
	 * which holds the client's messages meanwhile): called, srv_lock
	 * held, whenever the pipe took some or closed. NULL: nobody. */
	void (*stdin_room)(void *arg);
	void *stdin_room_arg;
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
	/* procs[0] = main (NULL if idle); procs[1..nprocs) the kept records
	 * of processes 1, 2, ... in id order, with gaps where old finished
	 * ones were forgotten (srv_forget_old_procs: at most srv_procs_keep()
	 * are kept, however many were ever started). */
	srv_proc **procs;
	size_t nprocs;
	int64_t next_id;             /* the id the next process gets */
	srv_proc **execs;            /* running unary execs */
	size_t nexecs;
	/* The running ones of procs (srv_proc_live_add at the start, _del at
	 * the end), so what looks for a running process costs the same with
	 * 10 or 4,096 in the history. */
	srv_proc **live;
	size_t nlive, caplive;
	/* Process ids (+1, 0 = empty) by their start's requestId: an open
	 * addressing table of rid_cap slots (a power of two, at most half
	 * full), so a start's retry check costs the same at any history. */
	int64_t *rid_tab;
	size_t rid_cap, rid_n;
	int dirfd;                   /* STATE_DIR/sandboxes/<id> */
	/* A finished sandbox's files, read-only until delete: an O_PATH fd
	 * of its root and an fd of its mount namespace, which keeps every
	 * mount of it (the overlay, its tmpfs, /tmp) alive with no process
	 * left (docs/internals/server.md, "Finished sandboxes"). -1: none. */
	int keep_root, keep_ns;
	int drop_files;              /* deleted: keep nothing once it ends */
	int exec_free[4], nexec_free; /* spent :exec spools, emptied for reuse */
	/* The process log (persist.c, procs.log): opened at the first append
	 * (log_open 0 with calloc: no fd), its size after the last whole line
	 * and its line count (compacted when far over nprocs). */
	int log_fd, log_open;
	int64_t log_size;
	size_t log_lines;
	/* Empty spool files of finished processes, kept as .spool-free-K in
	 * the sandbox's dir for the next process's spools (spool.c): bit K. */
	unsigned spool_free;
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

/* Ids of processes: 0 (the main command) .. SRV_PROC_ID_MAX. */
#define SRV_PROC_ID_MAX ((int64_t)1 << 53)
/* How many records of processes (main excluded) a sandbox keeps; set once
 * at start (sbxd --keep-processes, default 4096). */
void srv_procs_keep_set(size_t n);
size_t srv_procs_keep(void);

/* By id only (names are tags: sbxfs-name=NAME, found by listing): a hash
 * table of the ids in the table, so it costs the same with 10 or 10,000
 * sandboxes. */
srv_sbx *srv_find(const char *id);
/* srv_find as uid sees it: root (0) sees every sandbox, any other uid only
 * those it owns. */
srv_sbx *srv_find_for(const char *id, uint32_t uid);
srv_sbx *srv_find_seq(uint32_t seq);
/* Sandboxes in creation order: *n entries; the array is owned by records.c. */
srv_sbx **srv_all(size_t *n);
/* The sandboxes with that tag in creation order (*n of them, NULL and 0
 * when none): the tag index, kept by srv_sbx_add and srv_sbx_take (a
 * sandbox's tags never change). The array is owned by records.c and good
 * until the next add or take. */
srv_sbx **srv_tagged(const char *tag, size_t *n);
/* The first index of v[0..n) (in seq order) whose seq is above seq. */
size_t srv_seq_after(srv_sbx *const *v, size_t n, uint32_t seq);
/* A kept process record by id (a binary search), or NULL. */
srv_proc *srv_proc_get(srv_sbx *s, int64_t id);
/* p into s->procs: the main command (id 0) at procs[0], any other (its id
 * above every kept one) at the end; procs[0] made when missing; next_id
 * moved past p. -1 out of memory. */
int srv_proc_append(srv_sbx *s, srv_proc *p);
/* Any process record (execs included) by its uid, or NULL. */
srv_proc *srv_proc_by_uid(srv_sbx *s, uint32_t uid);

/* A record with no fds and a fresh uid (never 0, 24 bits), or NULL. */
srv_proc *srv_proc_new(void);
/* The uid the next srv_proc_new would start from (a spare name). */
uint32_t srv_proc_next_uid(void);
void srv_proc_free(srv_proc *p);
/* In and out of s->live (a process of procs that runs); add: -1 out of memory. */
int srv_proc_live_add(srv_sbx *s, srv_proc *p);
void srv_proc_live_del(srv_sbx *s, srv_proc *p);
/* Running processes of s, execs included. */
int srv_running_procs(const srv_sbx *s);
/* The running process of a runtime token, or NULL. */
srv_proc *srv_proc_by_token(srv_sbx *s, int64_t token);
/* The process an earlier start with requestId rid made, or NULL. */
srv_proc *srv_proc_by_request(srv_sbx *s, const char *rid);
/* p (in s->procs, with its request_id) findable by srv_proc_by_request;
 * -1 out of memory (then only a retry's dedup is lost). */
int srv_proc_rid_add(srv_sbx *s, const srv_proc *p);

/* Into the table in seq order; -1 out of memory. */
int srv_sbx_add(srv_sbx *s);
/* Out of the table (the idx-th of srv_all), not freed. */
void srv_sbx_take(size_t idx);
/* Frees a record not in the table, its processes and fds. */
void srv_sbx_free(srv_sbx *s);
/* Frees every record and empties the table (shutdown). */
void srv_sbx_free_all(void);
/* Closes the spent :exec spools kept for reuse. */
void srv_exec_free_close(srv_sbx *s);
/* A delete: the files of the sandbox go now (or when it ends). */
void srv_drop_files(srv_sbx *s);
/* Creation order: the seq a new sandbox takes; the one it would take;
 * a loaded record's seq (the next one is above it). */
uint32_t srv_seq_next(void);
uint32_t srv_seq_peek(void);
void srv_seq_seen(uint32_t seq);

/* A reason field (dst of cap bytes), cut to fit; r NULL: empty. */
void srv_set_reason(char *dst, size_t cap, const char *r);

#endif
