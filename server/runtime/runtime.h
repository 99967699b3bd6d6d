/*
 * The sandbox runtime of sbxd: real isolation written against the kernel
 * (namespaces, overlay root, pivot_root, cgroups, capabilities) and a small
 * init that runs as PID 1 in each sandbox and forks commands on request.
 * The HTTP layer (api.c and friends) owns records, spool files, states and
 * waiting; this module owns only kernel objects and processes. It never
 * prints: every failure comes back as -1 with a message in `err`.
 *
 * Threads: calls on one srv_box must be serialized by the caller (sbxd calls
 * them from its single event-loop thread). Different boxes are independent.
 */
#ifndef SRV_RUNTIME_H
#define SRV_RUNTIME_H

#include <stdint.h>
#include <sys/types.h>

#include "net.h"

#define SRV_ERRLEN 256

typedef struct srv_rt srv_rt;
typedef struct srv_box srv_box;

/* Global runtime state: the state dir (made 0700; images/ under it, overlay scratch
 * under run/), cgroup roots (v1 memory/pids/cpu controllers and the cgroup2
 * tree at /sys/fs/cgroup/unified, or a pure cgroup2 /sys/fs/cgroup with
 * controllers). Cleans every leftover of an earlier sbxd on this state dir
 * (mounts, cgroups, processes): sbxd reports sandboxes it could not keep as
 * FAILED, so nothing is silently lost and nothing lingers. */
srv_rt *srv_rt_new(const char *state_dir, char *err);
void srv_rt_free(srv_rt *rt);

/* Live restore (docs/internals/runtime.md, "Live restore"). With
 * SRV_RT_LIVE every box is made restorable: its init outlives sbxd (it
 * keeps relaying output into the spools, reaping and queueing exits) and
 * listens on STATE_DIR/live/<id>.sock (0700 dir) for a new sbxd that
 * proves it holds the box's secret (STATE_DIR/live/<id>.key). Opening
 * such a runtime leaves an earlier sbxd's boxes alone: take back what the
 * records name with srv_box_adopt, then srv_rt_sweep ends every box no one
 * took back. Without cgroups (a rootless sbxd without any) the runtime is
 * not live: nothing could find a box no one took back. srv_rt_new is
 * srv_rt_open(dir, 0): boxes end with sbxd, leftovers are ended at once. */
#define SRV_RT_LIVE 0x1u
srv_rt *srv_rt_open(const char *state_dir, unsigned flags, char *err);
int srv_rt_live(const srv_rt *rt);
/* Connects to box id's init and takes it over: a box as srv_box_create
 * makes one, its processes' tokens as they were (the next token is above
 * every one init was given). Init then replays its last exit events, also
 * ones the old sbxd may have read already: an exit of a token no longer
 * running is to be ignored. -1 with the reason (no live key, another
 * version, egress, init gone or refusing). */
int srv_box_adopt(srv_rt *rt, const char *id, srv_box **out, char *err);
/* Ends every box of an earlier sbxd that srv_box_adopt did not take
 * (their cgroups killed and removed, their live files too). */
void srv_rt_sweep(srv_rt *rt);
/* 1 when the box can outlive sbxd and be adopted (live, no egress). */
int srv_box_live(const srv_box *box);
/* Lets the box go without ending it: fds closed, memory freed, init and
 * its processes keep running for a later srv_box_adopt. Accepts NULL. */
void srv_box_release(srv_box *box);

typedef struct srv_box_spec {
	const char *id;              /* sandbox id, names its cgroups */
	const char *hostname;        /* UTS name inside (the sandbox name or id) */
	const char *image;           /* "host": the host's / under a writable
	                                overlay, its secrets and every sbxd state
	                                dir covered (hostmask.h); else the first
	                                IMAGE_DIR/NAME/rootfs. NULL or "" is an
	                                error: the caller picks the default. */
	const srv_egress *egress;    /* NULL: no way out, the box's own network
	                                namespace has only loopback; else also a
	                                user-mode stack (net.h) and these rules.
	                                A box never shares the host's namespace */
	const char *const *lowers;   /* when not NULL: the root is these dirs
	                                (absolute, topmost first, NULL-ended;
	                                an OCI image's layers) and image is only
	                                its name; at most SRV_MAX_LOWERS */
	int64_t uid, gid;            /* run every command as uid:gid; set uid
	                                to -1 (or leave both 0) for root */
	int64_t cpu_millis;          /* 0 = no limit */
	int64_t memory_bytes;        /* 0 = no limit */
	int64_t max_pids;            /* 0 = server default (e.g. 1024) */
	/* Additions (zero = the defaults described): */
	int64_t disk_bytes;          /* size of the one tmpfs that holds the
	                                writable layer, /tmp and /dev/shm
	                                together; 0 = memory_bytes when set,
	                                else 1 GiB (SRV_DEFAULT_DISK_BYTES) */
	int64_t max_file_bytes;      /* RLIMIT_FSIZE of every process in the box
	                                (0 = no cap): it bounds the spool files
	                                too; past it, SIGXFSZ/EFBIG */
	int64_t output_quota;        /* bytes init may store in all the box's
	                                output files together (0 = no cap);
	                                past it output is dropped and the
	                                exit event says so (SRV_EXIT_LOST_*) */
	int64_t min_free_bytes;      /* init stores no more output while the
	                                output files' file system has less
	                                free (checked every MiB, 0 = no floor) */
	uint32_t owner;              /* host uid of the user the box is for: with
	                                srv_rt_set_subids, its range is that
	                                user's (by name or uid) */
} srv_box_spec;

#define SRV_DEFAULT_DISK_BYTES ((int64_t)1 << 30)
/* overlayfs's own limit on lower layers is 500; the options string
 * (one page) usually ends it sooner. */
#define SRV_MAX_LOWERS 128

/* Creates the sandbox and starts its init; returns when init is ready to
 * spawn. Unknown image: -1 with a message naming the images that exist. */
int srv_box_create(srv_rt *rt, const srv_box_spec *spec, srv_box **out, char *err);

typedef struct srv_spawn {
	const char *const *argv;     /* NULL-terminated, argv[0] resolved on PATH inside */
	const char *const *env;      /* NULL-terminated "K=V"; NULL = a default env */
	const char *cwd;             /* NULL or "" = "/" */
	int stdout_fd, stderr_fd;    /* opened by the caller (spool files, O_APPEND);
	                                the runtime dups them, the caller keeps its own.
	                                A regular file is never handed to the command:
	                                it writes into a pipe that the box's init copies
	                                into the file (so it cannot chmod/truncate it);
	                                all it wrote is in the file by its exit event.
	                                One file for both (same fd or inode) keeps the
	                                order of stdout and stderr writes. */
	int want_stdin;              /* 1: *stdin_fd gets the write end of a pipe;
	                                0: stdin is /dev/null */
	uint32_t keep_bytes;         /* 0: every byte goes into the files; else at
	                                most this many of each relayed stream are
	                                stored and the rest only counted: the file
	                                still grows by them, as a hole, so its size
	                                is every byte written (an exec's answer holds
	                                maxOutputBytes, the rest need not use memory).
	                                Such files are taken as transient: what they
	                                stored leaves the box's output_quota when init
	                                closes them (the caller truncates or drops them) */
} srv_spawn;

/* Makes a ready box that no command ran in yet (a warm pool's, made with
 * a template spec) the box spec would have made, where that can be done
 * after the fact: limits (written to its cgroups), the size of its
 * scratch tmpfs and its hostname. spec->id must be the box's own. -1
 * with the reason, changing nothing that isolates, when the spec needs
 * what only a create gives: another image (or that image rebuilt since),
 * egress, another owner or id map, another user inside, other output
 * caps or hidden paths, a limit lifted; the caller then destroys the box
 * (a failed respec may have applied part) and makes one. */
int srv_box_respec(srv_box *box, const srv_box_spec *spec, char *err);
/* The id the box was made with (its cgroups' name). */
const char *srv_box_id(const srv_box *box);

/* Forks+execs a command inside the box (through its init: one fork+exec).
 * *token identifies the process to srv_box_signal and in exit events.
 * An exec failure (no such file, not executable) is NOT an error here: the
 * process exits 127/126 with a message on its stderr, as a shell would. */
int srv_box_spawn(srv_box *box, const srv_spawn *sp, int64_t *token, int *stdin_fd, char *err);

/* Readable when exit events are pending (or init itself died). */
int srv_box_event_fd(const srv_box *box);

/* Drains one event without blocking. Returns 1 and fills *token and
 * *wstatus (as waitpid) for an exited process, and *flags (may be NULL);
 * 0 when none is pending; -1 when init is gone (the box is dead: every
 * process it had is gone). */
#define SRV_EXIT_OUTPUT_DONE 0x1u /* init holds none of the process's
                                     output files any more (no child of
                                     it keeps a relayed pipe open): the
                                     caller may reuse them */
/* Output that init could not store (dropped, not in the file; the command
 * was not told): why, and which stream. */
#define SRV_EXIT_LOST_QUOTA  0x02u  /* output_quota reached */
#define SRV_EXIT_LOST_NOSPC  0x04u  /* the disk is full (ENOSPC, EDQUOT) */
#define SRV_EXIT_LOST_FLOOR  0x08u  /* free space under min_free_bytes */
#define SRV_EXIT_LOST_IO     0x10u  /* another write error (EIO...) */
#define SRV_EXIT_LOST_STDOUT 0x100u
#define SRV_EXIT_LOST_STDERR 0x200u
int srv_box_next_exit(srv_box *box, int64_t *token, int *wstatus, unsigned *flags);

/* News of a process still running: the first time init drops output of
 * a process it says so at once (SRV_EXIT_LOST_* in *flags), so the caller
 * can show it before the exit, whose flags repeat it. srv_box_next_exit
 * sets these aside (at most SRV_BOX_NOTES; more are dropped, the exit
 * still tells); this takes one: 1, or 0 when none is pending. */
#define SRV_BOX_NOTES 64
int srv_box_next_note(srv_box *box, int64_t *token, unsigned *flags);

/* Signals one process (token) or, with token 0, every process in the box
 * (the main command included). ESRCH-like: returns -1 with errno ESRCH. */
int srv_box_signal(srv_box *box, int64_t token, int sig);

/* Out-of-memory kills seen in the box's cgroup so far (for reporting). */
int64_t srv_box_oom_kills(const srv_box *box);

/* Kills everything left (cgroup.kill or SIGKILL to every pid in the
 * cgroup), reaps init (its mounts go with its mount namespace), removes the cgroups.
 * Leaves nothing behind. Accepts NULL. */
void srv_box_destroy(srv_box *box);

/* Images that exist in the image dirs, for messages: "a, b" or "". */
void srv_rt_image_names(const srv_rt *rt, char *buf, size_t len);

/* Additions beyond the first contract (all optional for callers): */

/* Covers a host path (e.g. the directory of sbxd's socket) inside every
 * sandbox created afterwards with an empty read-only tmpfs (a file: with
 * /dev/null). The state dir is always hidden. -1 with a message in err. */
int srv_rt_hide_path(srv_rt *rt, const char *path, char *err);

/* Adds an image dir searched after STATE_DIR/images (and earlier added
 * ones): IMAGE_DIR/NAME/rootfs is image NAME. At most 8. -1 with a message
 * (missing dir, a path overlayfs cannot take). */
int srv_rt_add_image_dir(srv_rt *rt, const char *dir, char *err);

/* 1 when NAME/rootfs is a directory in one of the image dirs ("host" is
 * not an image dir's: 0). */
int srv_rt_has_image(const srv_rt *rt, const char *name);
/* 1 when directory image name holds a regular file at rel (relative to
 * its root, not followed if a link: the image's links mean nothing on
 * the host). */
int srv_rt_image_has_file(const srv_rt *rt, const char *name, const char *rel);

/* The cgroup layout found at start, e.g. "v1 memory pids cpu +unified kill". */
const char *srv_rt_cgroup_layout(const srv_rt *rt);

/* Memory in use by the box's cgroup in bytes, -1 when unknown. */
int64_t srv_box_memory_bytes(const srv_box *box);

/* Freezes (1) or thaws (0) every process of the box (cgroup.freeze), for a
 * PAUSED state. -1 with errno ENOTSUP when the kernel lacks it. Init is
 * frozen too, so while frozen srv_box_spawn and srv_box_signal fail at once
 * with EBUSY; srv_box_destroy thaws by itself. */
int srv_box_freeze(srv_box *box, int frozen, char *err);

/* User namespaces (docs/security.md, "Users"), chosen per box by its
 * owner. A runtime made by a user who is not root is rootless: every box
 * is a user namespace where that user's uid and gid are root (one id
 * mapped), no cgroups unless it may write them. On a root runtime a box
 * whose owner is not root always is a user namespace where root is the
 * first uid/gid of its owner's range in /etc/subuid and /etc/subgid (or
 * the files srv_rt_set_subids names; at most 65536 ids), its image layers
 * idmapped so that their root-owned files are root's inside; a create
 * whose owner has no range (or no such file) fails, naming the file.
 * Root's own boxes map nothing unless root_too (--userns): then root's
 * range too. must_exist: fail now when the files cannot be read. */
#define SRV_USERNS_NONE 0
#define SRV_USERNS_RANGE 1  /* a subuid range, mapped by a root sbxd */
#define SRV_USERNS_SINGLE 2 /* rootless: sbxd's own uid is root inside;
                               setgroups is denied */
int srv_rt_set_subids(srv_rt *rt, const char *subuid, const char *subgid, int root_too, int must_exist,
                      char *err);
int srv_rt_rootless(const srv_rt *rt);
/* 0 when a box of owner may be made here; else -1 and err says why (a
 * box of that owner needs a range and it has none, naming the file). */
int srv_rt_owner_check(const srv_rt *rt, uint32_t owner, char *err);
/* SRV_USERNS_* of root's own boxes: 0 none, 1 subuid ranges (--userns),
 * 2 rootless single id. A box's own: srv_box_userns. */
int srv_rt_userns(const srv_rt *rt);
/* NULL when cgroups work; else why not (rootless): a create asking for a
 * memory, CPU or pids limit is then refused, never run unlimited. */
const char *srv_rt_limits_missing(const srv_rt *rt);

/* New fds (close-on-exec, the caller closes them) of the box's root
 * directory (O_PATH, as its init sees "/") and of its mount namespace,
 * handed over by init when it was ready: they reach the box's files
 * without /proc/INIT/root, which a rootless sbxd may not open. -1 when
 * unknown. */
int srv_box_open_root(const srv_box *box);
int srv_box_open_mntns(const srv_box *box);
/* The host uid root inside the box is (sbxd's own without a user namespace). */
int64_t srv_box_uid_base(const srv_box *box);
int64_t srv_box_gid_base(const srv_box *box);
/* How many ids from those bases are mapped (0: no user namespace). */
uint32_t srv_box_id_count(const srv_box *box);
/* SRV_USERNS_* of this box (by its owner, see srv_rt_set_subids). */
int srv_box_userns(const srv_box *box);

/* Host pid of the box's init (its /proc/PID/root is the sandbox's root, so
 * sbxd can reach the sandbox's files without spawning anything). */
pid_t srv_box_init_pid(const srv_box *box);

#endif
