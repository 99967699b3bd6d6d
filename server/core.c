/*
 * The lifecycle of sandboxes and their processes: create (the runtime
 * outside srv_lock, under create_lock), start of processes and :exec,
 * what an exit means (box_events, proc_finish), stop, the end of a
 * sandbox (sbx_end: its box to the reaper) and purge, the unlocked
 * runtime calls (srv_rt_begin/end), the timer pass the loop runs, the
 * root fd file calls use, and the start and stop of the whole core. The
 * modules below it (records, spools, stdin, persistence, waiters, the
 * loop, the reaper; docs/internals/server.md, "The core's modules") keep
 * the state; this one decides what happens to it. The loop and the HTTP
 * threads call in under srv_lock and poke the loop when they add
 * something it must time.
 */
#include "core.h"
#include "adopt.h"
#include "evloop.h"
#include "persist.h"
#include "reaper.h"
#include "records.h"
#include "stdin.h"
#include "spool.h"
#include "json.h"
#include "rpc.h"
#include "spec.h"
#include "egress.h"
#include "files.h"
#include "oci.h"
#include "snapshot.h"
#include "runtime/proto.h" /* the spawn message caps */
#include "spare.h"
#include "pool.h"
#include "volume.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <linux/securebits.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXECS 1024
#define LIFETIME_GRACE_S 2

/* Serializes srv_box_create (the runtime shares its zygote between
 * creates) while srv_lock is released around it. */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
/* Broadcast whenever a box's unlocked runtime call ends (srv_rt_end). */
static pthread_cond_t rt_cond = PTHREAD_COND_INITIALIZER;

static srv_config cfg;
static int64_t min_free_bytes; /* cfg.min_free, or its percentage in bytes */
static srv_rt *rt;
static srv_oci *store;   /* STATE_DIR/oci: the OCI images */
static int sbxdirfd = -1;
static int stopping;
static int full_stop;    /* srv_core_full_stop: end every sandbox at the stop */

/* Once a box runs: hold its root and its mount namespace, so
 * its files stay readable until delete. The namespace fd is what keeps
 * the mounts: without it the last process's exit unmounts them all, and
 * a root fd alone would see the overlay without /tmp. No process, frozen
 * or not, is kept; the memory held is what the sandbox's tmpfs holds
 * (bounded by its size). init is our unreaped child, so its pid cannot
 * have been reused; when it is already gone nothing is kept. */
static void keep_files(srv_sbx *s)
{
	if (s->drop_files || s->keep_root >= 0 || !s->box)
		return;
	/* From the runtime (init hands them over): a rootless sbxd may not
	 * open /proc/INIT/root of its non-dumpable init. */
	int ns = srv_box_open_mntns(s->box);
	int root = ns >= 0 ? srv_box_open_root(s->box) : -1;
	if (root < 0) {
		if (ns >= 0)
			close(ns);
		return;
	}
	s->keep_root = root;
	s->keep_ns = ns;
}

/* ---------------------------------------------------------------- waiters */

int srv_waiter_watch(srv_waiter *w, srv_sbx *s, int64_t id, int stream)
{
	char path[4300], name[40];
	srv_spool_name(name, sizeof name, id, stream);
	snprintf(path, sizeof path, "%s/sandboxes/%s/%s", cfg.state_dir, s->id, name);
	return srv_waiter_watch_path(w, s->seq, path);
}

/* ------------------------------------------------------------ lifecycle */

/* The runtime's init reports a command it could not execute as exit
 * 127/126 with one line "sbx: WHAT: REASON" as the whole stderr. Seeing
 * exactly that, the process never started: PROCESS_STATE_FAILED. */
static int start_failure(srv_sbx *s, srv_proc *p, int code, char *why, size_t cap)
{
	char buf[512];
	int fd = p->out_fd[2];
	int own = 0;
	if (code != 126 && code != 127)
		return 0;
	if (fd < 0 && p->id >= 0) {
		char name[40];
		snprintf(name, sizeof name, "%lld.stderr", (long long)p->id);
		fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
		own = 1;
	}
	if (fd < 0)
		return 0;
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (own)
		close(fd);
	if (n < 7 || n >= (ssize_t)sizeof buf - 1)
		return 0;
	buf[n] = '\0';
	if (strncmp(buf, "sbx: ", 5) != 0 || buf[n - 1] != '\n' || memchr(buf, '\n', (size_t)n - 1))
		return 0;
	size_t len = (size_t)n - 6; /* without "sbx: " and the newline */
	if (len >= cap)
		len = cap - 1;
	memcpy(why, buf + 5, len);
	why[len] = '\0';
	return 1;
}

/* Output init could not store (the quota, a full disk): the streams read
 * as truncated, the process's stateReason says why (after what it already
 * says), and so does the sandbox's while it runs, where `info` in the
 * mount and GET show it. */
static void lost_reason(unsigned lost, char *why, size_t cap)
{
	const char *what = lost & SRV_EXIT_LOST_STDOUT ? (lost & SRV_EXIT_LOST_STDERR ? "stdout and stderr" : "stdout")
						       : "stderr";
	if (lost & SRV_EXIT_LOST_QUOTA)
		snprintf(why, cap, "%s truncated: the sandbox's output quota (%lld bytes, sbxd --output-quota) "
			 "is used up", what, (long long)cfg.output_quota);
	else if (lost & SRV_EXIT_LOST_FLOOR)
		snprintf(why, cap, "%s lost: the state directory's file system has less than %lld bytes "
			 "free (sbxd --min-free)", what, (long long)min_free_bytes);
	else if (lost & SRV_EXIT_LOST_NOSPC)
		snprintf(why, cap, "%s lost: no space left in the state directory (ENOSPC)", what);
	else
		snprintf(why, cap, "%s lost: write error in the state directory", what);
}

static void note_lost(srv_sbx *s, srv_proc *p)
{
	char why[200];
	lost_reason(p->lost, why, sizeof why);
	if (p->lost & SRV_EXIT_LOST_STDOUT)
		p->capped |= 1 << 1;
	if (p->lost & SRV_EXIT_LOST_STDERR)
		p->capped |= 1 << 2;
	size_t n = strlen(p->reason);
	snprintf(p->reason + n, sizeof p->reason - n, "%s%s", n ? "; " : "", why);
	if (s->state == ST_RUNNING && strcmp(s->reason, why) != 0) {
		srv_set_reason(s->reason, sizeof s->reason, why);
		srv_save_sbx(s);
	}
}

/* A process is over: record how. wstatus < 0: killed by box teardown. */
static void proc_finish(srv_sbx *s, srv_proc *p, int wstatus, const char *why)
{
	if (p->state != PS_RUNNING)
		return;
	if (wstatus < 0) {
		p->state = PS_KILLED;
		p->sig = SIGKILL;
		p->exit_code = 128 + SIGKILL;
		srv_set_reason(p->reason, sizeof p->reason, why);
	} else if (WIFSIGNALED(wstatus)) {
		p->state = PS_KILLED;
		p->sig = WTERMSIG(wstatus);
		p->exit_code = 128 + p->sig;
		/* A SIGKILL right after the cgroup's OOM counter moved is the
		 * memory limit at work: say so instead of a bare 137. */
		int64_t ooms = s->box && p->sig == SIGKILL ? srv_box_oom_kills(s->box) : 0;
		if (ooms > s->oom_seen) {
			s->oom_seen = ooms;
			srv_set_reason(p->reason, sizeof p->reason, "out of memory (memory limit reached)");
		}
		/* RLIMIT_FSIZE is the output cap (and bounds files too). */
		if (p->sig == SIGXFSZ && cfg.max_output > 0)
			snprintf(p->reason, sizeof p->reason,
				 "file size limit reached (output or file over %lld bytes, sbxd --max-output)",
				 (long long)cfg.max_output);
	} else {
		p->state = PS_EXITED;
		p->exit_code = WEXITSTATUS(wstatus);
		if (start_failure(s, p, p->exit_code, p->reason, sizeof p->reason))
			p->state = PS_FAILED;
	}
	if (p->timed_out) {
		p->state = PS_KILLED;
		srv_set_reason(p->reason, sizeof p->reason, "timeout");
	}
	/* A command can exit before init, copying its last bytes, reaches
	 * --max-output: it keeps its status, but the cut must show. */
	for (int i = 1; i <= 2 && wstatus >= 0 && cfg.max_output > 0; i++)
		if (srv_spool_size(s, p, i) >= cfg.max_output)
			p->capped |= 1 << i;
	if (p->capped && p->state == PS_EXITED)
		snprintf(p->reason, sizeof p->reason,
			 "output reached --max-output (%lld bytes); what came after was dropped",
			 (long long)cfg.max_output);
	if (p->lost)
		note_lost(s, p);
	p->end_ns = srv_now_ns();
	p->token = 0;
	p->deadline_mono = 0;
	if (p->id >= 0)
		srv_proc_live_del(s, p);
	srv_stdin_drop(p);
	p->stdin_closed = p->want_stdin ? 1 : p->stdin_closed;
	srv_save_proc(s, p);
}

static void exec_forget(srv_sbx *s, srv_proc *p)
{
	for (size_t i = 0; i < s->nexecs; i++) {
		if (s->execs[i] == p) {
			s->execs[i] = s->execs[--s->nexecs];
			/* Nothing can write to them any more: emptied, they
			 * serve the next exec (see exec_spool). */
			for (int k = 1; k <= 2 && p->out_done && s->box; k++) {
				if (p->out_fd[k] >= 0 && s->nexec_free < 4 && ftruncate(p->out_fd[k], 0) == 0) {
					s->exec_free[s->nexec_free++] = p->out_fd[k];
					p->out_fd[k] = -1;
				}
			}
			srv_proc_free(p);
			return;
		}
	}
}

/* Tears the box down and settles the sandbox in a terminal state. */
static void sbx_end(srv_sbx *s, int state, const char *reason)
{
	keep_files(s);
	if (s->box) {
		srv_loop_ctl(EPOLL_CTL_DEL, srv_box_event_fd(s->box), NULL);
		/* Stop everything now; the slow teardown comes later. A box
		 * with a call running unlocked is srv_rt_end's to bury. */
		if (!s->rt_busy) {
			srv_box_signal(s->box, 0, SIGKILL);
			srv_bury(s->box);
		}
		s->box = NULL;
	}
	const char *why = state == ST_COMPLETED ? "sandbox completed" : reason;
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i])
			proc_finish(s, s->procs[i], -1, why);
	for (size_t i = 0; i < s->nexecs;) {
		srv_proc *p = s->execs[i];
		proc_finish(s, p, -1, why);
		if (p->owner_gone) {
			exec_forget(s, p);
			continue;
		}
		i++;
	}
	if (!srv_state_terminal(s->state)) {
		s->state = state;
		srv_set_reason(s->reason, sizeof s->reason, reason);
		s->end_ns = srv_now_ns();
		/* A stopped sandbox must not read as success: its exit code
		 * is the main command's wait status (128+N after a signal).
		 * An idle one has no main of ours; its idle main is what the
		 * stop killed: 143 when the TERM ended it within the grace,
		 * 137 when the grace ran out (or was 0). */
		if (state == ST_TERMINATED) {
			srv_proc *m = s->nprocs ? s->procs[0] : NULL;
			if (m)
				s->exit_code = m->exit_code;
			else
				s->exit_code = 128 + (s->term_sent && s->grace_deadline > srv_mono_ns() ? SIGTERM
												   : SIGKILL);
			s->exit_known = 1;
		}
	}
	s->lifetime_deadline = s->grace_deadline = 0;
	srv_exec_free_close(s);
	srv_save_sbx(s);
	srv_wake(s->seq);
	if (s->purge)
		srv_loop_poke(); /* the timer scan removes it */
}

void srv_stop(srv_sbx *s, int grace_s, const char *reason)
{
	if (srv_state_terminal(s->state))
		return;
	if (s->state == ST_TERMINATING) {
		/* A second, shorter stop may cut the grace short. */
		int64_t d = srv_mono_ns() + (int64_t)grace_s * 1000000000;
		if (d < s->grace_deadline)
			s->grace_deadline = d;
		srv_loop_poke();
		return;
	}
	s->state = ST_TERMINATING;
	srv_set_reason(s->end_reason, sizeof s->end_reason, reason);
	if (grace_s > 0) {
		s->term_sent = 1;
		s->grace_deadline = srv_mono_ns() + (int64_t)grace_s * 1000000000;
	}
	if (!s->box || srv_running_procs(s) == 0 || grace_s == 0) {
		sbx_end(s, ST_TERMINATED, reason);
		return;
	}
	if (s->rt_busy)
		s->term_pending = 1; /* srv_rt_end sends it */
	else
		srv_box_signal(s->box, 0, SIGTERM);
	s->lifetime_deadline = 0;
	srv_save_sbx(s);
	srv_wake(s->seq);
	srv_loop_poke();
}

static void purge(size_t idx);

void srv_stop_purge(srv_sbx *s, int grace_s, const char *reason)
{
	srv_stop(s, grace_s, reason);
	if (!s->purge) {
		s->purge = 1;
		srv_save_sbx(s); /* a restart before the end still purges it */
	}
	if (!srv_state_terminal(s->state) || s->creating || s->rt_busy || s->rt_waiters)
		return; /* the timer scan purges it once terminal and free */
	size_t nboxes;
	srv_sbx **boxes = srv_all(&nboxes);
	for (size_t i = 0; i < nboxes; i++) {
		if (boxes[i] == s) {
			purge(i);
			return;
		}
	}
}

/* The box's event fd out of the loop's epoll set until srv_rt_end. */
static void park_events(srv_sbx *s)
{
	if (s->evt_off)
		return;
	struct epoll_event ev = {.events = 0, .data.u64 = SRV_EV(SRV_EV_BOX, s->seq, 0)};
	srv_loop_ctl(EPOLL_CTL_MOD, srv_box_event_fd(s->box), &ev);
	s->evt_off = 1;
}

static void box_drain(srv_sbx *s);

static void box_events(srv_sbx *s)
{
	if (s->box && s->rt_busy) {
		/* A spawn runs unlocked: its exit may already be queued and
		 * must not be read before its token is registered (nor may
		 * the runtime be called meanwhile). Park the event fd (level
		 * triggered: it would spin) until srv_rt_end. */
		park_events(s);
		return;
	}
	box_drain(s);
}

/* Reads and applies what init sent: exits, then notes. The caller holds
 * the box (the loop, or a start that waited for its exit). */
static void box_drain(srv_sbx *s)
{
	int64_t token;
	int wstatus, rc;
	unsigned flags;
	int changed = 0;
	while (s->box && (rc = srv_box_next_exit(s->box, &token, &wstatus, &flags)) != 0) {
		if (rc < 0) {
			if (s->state == ST_TERMINATING) {
				sbx_end(s, ST_TERMINATED, s->end_reason);
			} else {
				fprintf(stderr, "sbxd: warning: sandbox %s: its init died\n", s->id);
				sbx_end(s, ST_FAILED, "sandbox init died");
			}
			return;
		}
		srv_proc *p = srv_proc_by_token(s, token);
		if (!p)
			continue;
		p->out_done = (flags & SRV_EXIT_OUTPUT_DONE) != 0;
		p->lost = flags & (SRV_EXIT_LOST_QUOTA | SRV_EXIT_LOST_NOSPC | SRV_EXIT_LOST_FLOOR |
				   SRV_EXIT_LOST_IO | SRV_EXIT_LOST_STDOUT | SRV_EXIT_LOST_STDERR);
		proc_finish(s, p, wstatus, NULL);
		srv_spool_recycle(s, p); /* after the save: the record says ended */
		changed = 1;
		if (p->id < 0 && p->owner_gone) {
			exec_forget(s, p);
		} else if (p->id == 0 && s->state == ST_RUNNING) {
			/* A main command that could not even start fails the
			 * sandbox; one that ran completes it, whatever its code. */
			s->exit_code = p->exit_code;
			s->exit_known = 1;
			sbx_end(s, p->state == PS_FAILED ? ST_FAILED : ST_COMPLETED, p->reason);
			return;
		}
	}
	/* Output a running process lost: the sandbox says so now (its own
	 * stateReason waits for the exit, whose flags repeat the news). */
	unsigned nflags;
	while (s->box && srv_box_next_note(s->box, &token, &nflags) == 1) {
		srv_proc *p = srv_proc_by_token(s, token);
		if (p && p->state == PS_RUNNING && s->state == ST_RUNNING) {
			char why[200];
			lost_reason(nflags, why, sizeof why);
			srv_set_reason(s->reason, sizeof s->reason, why);
			srv_save_sbx(s);
			changed = 1;
		}
	}
	if (s->state == ST_TERMINATING && srv_running_procs(s) == 0) {
		sbx_end(s, ST_TERMINATED, s->end_reason);
		return;
	}
	if (changed)
		srv_wake(s->seq);
}

static const char *const base_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"LANG=C.UTF-8",
};

/* base env, then the image's, the sandbox's, the process's: later keys win. */
static int build_env(const srv_strv *img, const srv_strv *a, const srv_strv *b, srv_strv *out)
{
	const char *const *lists[4] = {base_env, (const char *const *)img->v, (const char *const *)a->v,
	                               (const char *const *)b->v};
	size_t counts[4] = {sizeof base_env / sizeof base_env[0], img->n, a->n, b->n};
	for (int l = 0; l < 4; l++) {
		for (size_t i = 0; i < counts[l]; i++) {
			const char *kv = lists[l][i];
			size_t kl = strcspn(kv, "=");
			size_t j;
			for (j = 0; j < out->n; j++)
				if (strncmp(out->v[j], kv, kl + 1) == 0)
					break;
			if (j < out->n) {
				char *d = strdup(kv);
				if (!d)
					return -1;
				free(out->v[j]);
				out->v[j] = d;
			} else if (srv_strv_push(out, kv) != 0) {
				return -1;
			}
		}
	}
	return 0;
}

static void refuse(srv_refusal *why, srv_err kind, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void refuse(srv_refusal *why, srv_err kind, const char *field, const char *fmt, ...)
{
	va_list ap;
	why->kind = kind;
	why->field = field;
	why->state = NULL;
	why->retry_ms = 0;
	va_start(ap, fmt);
	vsnprintf(why->msg, sizeof why->msg, fmt, ap);
	va_end(ap);
}

srv_box *srv_rt_begin(srv_sbx *s)
{
	while (s->rt_busy) {
		s->rt_waiters++;
		pthread_cond_wait(&rt_cond, &srv_lock);
		s->rt_waiters--;
	}
	if (s->box)
		s->rt_busy = 1;
	return s->box;
}

void srv_rt_end(srv_sbx *s, srv_box *b)
{
	s->rt_busy = 0;
	if (s->box != b) {
		/* The sandbox ended meanwhile (sbx_end left the box to us). */
		srv_box_signal(b, 0, SIGKILL);
		srv_bury(b);
	} else {
		/* What others queued while the call ran (rare; these are
		 * locked calls, like all of them before). */
		if (s->term_pending)
			srv_box_signal(b, 0, SIGTERM);
		for (int pass = 0; pass < 2; pass++) {
			size_t n = pass ? s->nexecs : s->nlive;
			for (size_t j = 0; j < n; j++) {
				srv_proc *p = pass ? s->execs[j] : s->live[j];
				if (p && p->kill_pending && p->state == PS_RUNNING && p->token)
					srv_box_signal(b, p->token, SIGKILL);
				if (p)
					p->kill_pending = 0;
			}
		}
		if (s->evt_off) {
			struct epoll_event ev = {.events = EPOLLIN, .data.u64 = SRV_EV(SRV_EV_BOX, s->seq, 0)};
			srv_loop_ctl(EPOLL_CTL_MOD, srv_box_event_fd(b), &ev);
		}
	}
	int ended = s->box != b || srv_state_terminal(s->state);
	s->term_pending = 0;
	s->evt_off = 0;
	pthread_cond_broadcast(&rt_cond);
	/* Only a purge waits for the call to end (timeouts and stops that
	 * came meanwhile were handled above, and the re-armed event fd wakes
	 * the loop itself): poking after every spawn would wake the loop,
	 * and scan all timers, on the path of each :exec. */
	if (ended)
		srv_loop_poke();
}

/* The request caps (parse.h) hold for argv and env each, but the runtime
 * carries cwd, argv and the merged env (base + spec + process) in one spawn
 * message (runtime/proto.h). Refusing here, counting its NULs and its
 * header too, keeps a big command a client error (400) instead of a spawn
 * failure (5xx). 1 = refused. */
static int cmd_too_big(const srv_strv *argv, const srv_strv *env, const char *cwd, srv_refusal *why)
{
	size_t total = sizeof(srv_msg_hdr) + strlen(cwd) + 1;
	for (size_t i = 0; i < argv->n; i++)
		total += strlen(argv->v[i]) + 1;
	for (size_t i = 0; i < env->n; i++)
		total += strlen(env->v[i]) + 1;
	if (argv->n <= SRV_PROTO_MAX_ARGS && env->n <= SRV_PROTO_MAX_ENV && total <= SRV_PROTO_MAX_STRINGS)
		return 0;
	refuse(why, SRV_E_INVALID, NULL,
	       "command too large: argv (%zu entries), env (%zu entries, the sandbox's included) and working "
	       "directory take %zu bytes with their NULs, over the %u byte cap (at most %d argv / %d env entries)",
	       argv->n, env->n, total, (unsigned)(SRV_PROTO_MAX_STRINGS - sizeof(srv_msg_hdr)), SRV_PROTO_MAX_ARGS,
	       SRV_PROTO_MAX_ENV);
	return 1;
}

/* A start waits a moment for its process's exit (--exit-linger-us) with
 * the box still its own: most commands started through the API are short,
 * and an exit read here is applied by this thread at once, so the
 * answer says "ended" and the wait that follows costs nothing; else the
 * exit event goes init -> the loop thread -> the waiter's HTTP thread, two
 * wake-ups more and a parked request. The loop keeps its hands off the
 * event fd meanwhile (parked, as for any unlocked runtime call). Never
 * while another request waits for this box: it would wait the linger out.
 * 1 when an event came. Unlocks srv_lock while it waits. */
static int linger(srv_sbx *s, srv_box *box)
{
	if (cfg.exit_linger_us <= 0 || s->box != box || s->state != ST_RUNNING || s->rt_waiters)
		return 0;
	park_events(s);
	struct pollfd pf = {srv_box_event_fd(box), POLLIN, 0};
	struct timespec ts = {(time_t)(cfg.exit_linger_us / 1000000), (long)(cfg.exit_linger_us % 1000000) * 1000};
	pthread_mutex_unlock(&srv_lock);
	int rc = ppoll(&pf, 1, &ts, NULL);
	pthread_mutex_lock(&srv_lock);
	return rc == 1 && s->box == box;
}

srv_proc *srv_proc_start(srv_sbx *s, srv_proc_req *req, int exec, srv_refusal *why)
{
	srv_proc *p = NULL;
	srv_strv env = {0};
	int fds[3] = {-1, -1, -1};
	char err[SRV_ERRLEN] = "";
	srv_box *box = srv_rt_begin(s);
	/* After srv_rt_begin: a start with the same id still spawning (its
	 * client gave up) finishes first, so its process is found here. */
	if (!exec && (p = srv_proc_by_request(s, req->request_id)) != NULL) {
		if (box)
			srv_rt_end(s, box);
		return p;
	}
	if (s->state != ST_RUNNING || !s->box) {
		refuse(why, SRV_E_NOT_RUNNING, NULL, "sandbox %s is %s, not running", s->id,
		       srv_state_name(s->state));
		why->state = srv_state_name(s->state);
		goto fail;
	}
	if (!exec && s->next_id >= SRV_PROC_ID_MAX) {
		refuse(why, SRV_E_CAPACITY, NULL, "sandbox %s ran out of process ids", s->id);
		goto fail;
	}
	if (exec && s->nexecs >= MAX_EXECS) {
		refuse(why, SRV_E_CAPACITY, NULL, "too many execs running in sandbox %s", s->id);
		why->retry_ms = 1000;
		goto fail;
	}
	p = srv_proc_new();
	if (!p)
		goto nomem;
	p->id = exec ? -1 : s->next_id;
	p->argv = req->argv;
	memset(&req->argv, 0, sizeof req->argv);
	p->env = req->env;
	memset(&req->env, 0, sizeof req->env);
	p->cwd = strdup(req->cwd && *req->cwd ? req->cwd
			: s->spec.working_dir && *s->spec.working_dir ? s->spec.working_dir
			: s->img_cwd && *s->img_cwd ? s->img_cwd : "/");
	p->want_stdin = req->want_stdin;
	p->stdin_closed = !req->want_stdin;
	p->max_output = exec ? req->max_output : 0;
	p->timeout_s = req->timeout_s;
	if (!exec && req->request_id && *req->request_id) {
		p->request_id = req->request_id;
		req->request_id = NULL;
	}
	if (!p->cwd || build_env(&s->img_env, &s->spec.env, &p->env, &env) != 0)
		goto nomem;
	if (cmd_too_big(&p->argv, &env, p->cwd, why))
		goto fail;
	for (int i = 1; i <= 2; i++) {
		fds[i] = exec ? srv_exec_spool(s) : srv_open_spool(s, p->id, i, 1);
		if (fds[i] < 0) {
			refuse(why, SRV_E_INTERNAL, NULL, "cannot create output spool: %s", strerror(errno));
			goto fail;
		}
	}
	srv_spawn sp = {
		.argv = (const char *const *)p->argv.v,
		.env = (const char *const *)env.v,
		.cwd = p->cwd,
		.stdout_fd = fds[1],
		.stderr_fd = fds[2],
		.want_stdin = p->want_stdin,
		.keep_bytes = exec ? (uint32_t)p->max_output : 0,
	};
	int in = -1;
	/* A sick init can take seconds to answer: spawn without srv_lock
	 * (srv_rt_begin keeps the box to us and its exit events queued). */
	pthread_mutex_unlock(&srv_lock);
	int src = srv_box_spawn(box, &sp, &p->token, &in, err);
	int serr = errno;
	pthread_mutex_lock(&srv_lock);
	if (s->box != box || s->state != ST_RUNNING) {
		/* Ended meanwhile (a TERMINATING one still takes it: the stop
		 * signals it once we are done, as if it came first). */
		if (s->box != box || s->state != ST_TERMINATING || src != 0) {
			if (in >= 0)
				close(in);
			refuse(why, SRV_E_NOT_RUNNING, NULL, "sandbox %s is %s, not running",
			       s->id, srv_state_name(s->state));
			why->state = srv_state_name(s->state);
			goto fail;
		}
	}
	errno = serr;
	if (src != 0) {
		/* Not the client's fault, but the sandbox may just be dying:
		 * a warning, not an error. */
		if (errno == E2BIG) {
			/* Over a runtime cap cmd_too_big did not know of. */
			refuse(why, SRV_E_INVALID, NULL, "command too large: %s", err);
			goto fail;
		}
		fprintf(stderr, "sbxd: warning: sandbox %s: spawn failed: %s\n", s->id, err);
		refuse(why, SRV_E_INTERNAL, NULL, "cannot start the process: %s", err);
		goto fail;
	}
	p->state = PS_RUNNING;
	p->start_ns = srv_now_ns();
	if (p->timeout_s > 0)
		p->deadline_mono = srv_mono_ns() + p->timeout_s * 1000000000;
	if (in >= 0) {
		fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
		fcntl(in, F_SETFD, FD_CLOEXEC);
		p->stdin_fd = in;
	}
	if (exec) {
		p->out_fd[1] = fds[1];
		p->out_fd[2] = fds[2];
		fds[1] = fds[2] = -1;
		srv_proc **ne = realloc(s->execs, (s->nexecs + 1) * sizeof *ne);
		if (!ne) {
			srv_box_signal(box, p->token, SIGKILL);
			goto nomem;
		}
		s->execs = ne;
		s->execs[s->nexecs++] = p;
	} else {
		if (srv_proc_live_add(s, p) != 0) {
			srv_box_signal(box, p->token, SIGKILL);
			goto nomem;
		}
		if (srv_proc_append(s, p) != 0) {
			srv_proc_live_del(s, p);
			srv_box_signal(box, p->token, SIGKILL);
			goto nomem;
		}
		srv_proc_rid_add(s, p);
		srv_save_proc(s, p);
		/* Bounded by what is kept, not by what was ever started. */
		srv_forget_old_procs(s);
	}
	if (exec && req->stdin_len) {
		p->pending = req->stdin_data;
		p->pending_len = req->stdin_len;
		req->stdin_data = NULL;
		req->stdin_len = 0;
	}
	if (exec && p->want_stdin) {
		p->close_after = 1;
		p->stdin_closed = 1;
		srv_stdin_feed(s, p);
	}
	if (p->deadline_mono)
		srv_loop_poke();
	for (int i = 1; i <= 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	srv_strv_free(&env);
	uint32_t uid = p->uid;
	if (p->id != 0 && linger(s, box))
		box_drain(s); /* before srv_rt_end re-arms the fd: the loop stays asleep */
	srv_rt_end(s, box);
	/* The drain frees only execs whose owner left (not this one, whose
	 * owner is the caller) and records stay until purge; looked up again
	 * all the same (the newest: found first). */
	if (!(p = srv_proc_by_uid(s, uid)))
		refuse(why, SRV_E_INTERNAL, NULL, "the process record was lost");
	return p;
nomem:
	refuse(why, SRV_E_INTERNAL, NULL, "out of memory");
fail:
	for (int i = 1; i <= 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	srv_strv_free(&env);
	srv_proc_free(p);
	if (box)
		srv_rt_end(s, box);
	return NULL;
}

void srv_exec_release(srv_sbx *s, srv_proc *p)
{
	if (p->state == PS_RUNNING) {
		p->owner_gone = 1;
		if (s->box && p->token && s->rt_busy)
			p->kill_pending = 1;
		else if (s->box && p->token)
			srv_box_signal(s->box, p->token, SIGKILL);
		return;
	}
	exec_forget(s, p);
}

static void random_id(char *buf, size_t len)
{
	unsigned char r[8];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
		uint64_t t = (uint64_t)srv_now_ns() ^ ((uint64_t)getpid() << 32) ^ srv_seq_peek();
		memcpy(r, &t, sizeof r);
	}
	snprintf(buf, len, "sbx-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6],
		 r[7]);
}

/* The official SDKs' default image, and what in sbxd's default image
 * makes it one: Debian 12's Python is 3.11 (scripts/default-image). */
#define SDK_IMAGE "python:3.11"
#define SDK_IMAGE_HAS "usr/bin/python3.11"

/* The image a spec names: "default" is sbxd's default image (the one
 * --default-image names, itself "default" unless told otherwise). */
static const char *image_of(const srv_spec *spec)
{
	/* sbxd --image-alias REF=LOCAL (e.g. the SDK's default python:3.11
	 * onto another local image; REF= refuses REF): said by the operator. */
	size_t il = strlen(spec->image);
	for (int i = 0; il && i < 8 && cfg.image_alias[i]; i++)
		if (strncmp(cfg.image_alias[i], spec->image, il) == 0 && cfg.image_alias[i][il] == '=')
			return cfg.image_alias[i] + il + 1;
	/* The SDK sends python:3.11 when its user names no image. With no
	 * image of that name here (directory or OCI reference), the default
	 * image serves it if it really is a Python 3.11 image (its
	 * interpreter is there), as docs/sbxd.8 says; else it is refused as
	 * any missing image is. Never another version, never a guess. */
	if (strcmp(spec->image, SDK_IMAGE) == 0 && !srv_rt_has_image(rt, SDK_IMAGE) &&
	    srv_rt_image_has_file(rt, cfg.default_image, SDK_IMAGE_HAS)) {
		srv_oci_image o;
		char oerr[SRV_OCI_ERRLEN];
		memset(&o, 0, sizeof o);
		if (srv_oci_resolve(store, SDK_IMAGE, &o, oerr) == 0)
			srv_oci_image_free(&o);
		else
			return cfg.default_image;
	}
	return !*spec->image || strcmp(spec->image, "default") == 0 ? cfg.default_image : spec->image;
}

/* 1 when a warm pool member (pool.h: a box of the default image made
 * with the server's defaults for root, no egress, no volumes) can be made
 * into the box this spec would get, without weakening anything: the
 * runtime's srv_box_respec checks the box's side again. What cannot be
 * applied to a running box takes the cold path: another image (an OCI
 * one: its layers and config are the image's), a user's sandbox (a uid
 * range of their own) or root's under --userns, egress (a stack and
 * rules made with the namespace), volumes, volume mounts and files[]
 * (written before anything runs). */
static int pool_fits(const srv_spec *spec, uint32_t owner, const char *img, int is_oci)
{
	size_t negress = 0;
	(void)srv_egress_effective(&spec->net, cfg.default_egress, &negress);
	return cfg.warm_pool > 0 && owner == 0 && srv_rt_userns(rt) == SRV_USERNS_NONE && !is_oci &&
	       strcmp(img, cfg.default_image) == 0 && strcmp(img, "host") != 0 && srv_rt_has_image(rt, img) &&
	       negress == 0 && spec->nvols == 0 && spec->nvmounts == 0 && spec->nfiles == 0;
}

/* Sandboxes that are not over, the ones being made included. */
static size_t live_count(void)
{
	size_t n, live = 0;
	srv_sbx **all = srv_all(&n);
	for (size_t i = 0; i < n; i++)
		if (!srv_state_terminal(all[i]->state))
			live++;
	return live;
}

/* The pool's hooks (pool.h). A member is the box a spec naming nothing
 * would get: the default image, the server's default limits, root's. */
static int pool_make(srv_box **out, int spools[SRV_POOL_SPOOLS], char *err)
{
	char id[sizeof ((srv_sbx *)0)->id] = "";
	pthread_mutex_lock(&srv_lock);
	for (int tries = 0; tries < 5 && !id[0]; tries++) {
		random_id(id, sizeof id);
		/* An id is a record's and its cgroups' name: never one in use. */
		if (srv_find(id) || faccessat(sbxdirfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			id[0] = '\0';
	}
	pthread_mutex_unlock(&srv_lock);
	if (!id[0]) {
		snprintf(err, SRV_ERRLEN, "no free sandbox id");
		return -1;
	}
	srv_box_spec bs = {
		.id = id,
		.hostname = id,
		.image = cfg.default_image,
		.memory_bytes = cfg.default_memory,
		.disk_bytes = cfg.disk_bytes,
		.max_file_bytes = cfg.max_output,
		.output_quota = cfg.output_quota,
		.min_free_bytes = min_free_bytes,
		.owner = 0,
	};
	pthread_mutex_lock(&create_lock);
	int rc = srv_box_create(rt, &bs, out, err);
	pthread_mutex_unlock(&create_lock);
	/* The first :execs' spools (srv_exec_spool's kind: unnamed files on
	 * the state dir's disk), allocated here rather than on a tenant's
	 * first exec; one that fails is made then, as without a pool. */
	for (int k = 0; k < SRV_POOL_SPOOLS; k++) {
		spools[k] = rc == 0 ? openat(sbxdirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
		if (spools[k] >= 0)
			fcntl(spools[k], F_SETFL, O_APPEND);
	}
	return rc;
}

static void spools_close(int *sp)
{
	for (int k = 0; k < SRV_POOL_SPOOLS; k++)
		if (sp[k] >= 0)
			close(sp[k]);
}

/* Members count with the live sandboxes against --max-sandboxes: the
 * host never holds more boxes than the operator allowed. */
static int pool_reserve(void)
{
	pthread_mutex_lock(&srv_lock);
	int ok = !stopping && live_count() + srv_pool_size() < (size_t)cfg.max_sandboxes;
	if (ok)
		srv_pool_reserve();
	pthread_mutex_unlock(&srv_lock);
	return ok;
}

srv_sbx *srv_create(srv_spec *spec, uint32_t owner, srv_refusal *why)
{
	char err[SRV_ERRLEN] = "";
	size_t live = 0;
	if (stopping) {
		refuse(why, SRV_E_UNAVAILABLE, NULL, "sbxd is shutting down");
		return NULL;
	}
	size_t nboxes;
	srv_sbx **boxes = srv_all(&nboxes);
	for (size_t i = 0; i < nboxes; i++) {
		srv_sbx *o = boxes[i];
		if (!srv_state_terminal(o->state))
			live++;
		/* Another user's sandboxes are none of this one's business:
		 * its names and requestIds are its own (an id of theirs in a
		 * 409 would leak it). */
		if (o->owner != owner)
			continue;
		if (spec->request_id && *spec->request_id && o->spec.request_id &&
		    strcmp(o->spec.request_id, spec->request_id) == 0)
			return o;
		if (*spec->name && o->spec.name && strcmp(o->spec.name, spec->name) == 0 &&
		    !srv_state_terminal(o->state) && o->state != ST_TERMINATING) {
			refuse(why, SRV_E_ALREADY_EXISTS, "spec.tags", "a sandbox named %s exists (%s)", spec->name,
			       o->id);
			return NULL;
		}
	}
	if (live >= (size_t)cfg.max_sandboxes) {
		refuse(why, SRV_E_CAPACITY, NULL, "%d sandboxes exist already (--max-sandboxes)",
		       cfg.max_sandboxes);
		why->retry_ms = 5000;
		return NULL;
	}
	/* A user's sandbox runs under a range of that user's, or not at all:
	 * a 400 naming the file and the fix now, not a FAILED sandbox. */
	if (srv_rt_owner_check(rt, owner, err) != 0) {
		refuse(why, SRV_E_PRECONDITION, NULL, "%s", err);
		return NULL;
	}
	if (spec->argv.n) {
		/* The main command over the spawn cap: a 400 now rather than
		 * a sandbox that FAILED to start it. */
		srv_strv env = {0}, none = {0};
		const char *cwd = spec->working_dir && *spec->working_dir ? spec->working_dir : "/";
		if (build_env(&none, &spec->env, &none, &env) != 0) {
			srv_strv_free(&env);
			refuse(why, SRV_E_INTERNAL, NULL, "out of memory");
			return NULL;
		}
		int big = cmd_too_big(&spec->argv, &env, cwd, why);
		srv_strv_free(&env);
		if (big)
			return NULL;
	}
	/* The image is checked now so a client gets a 404 with the way out,
	 * not a FAILED sandbox. "host" is the host's / and only on opt-in;
	 * a directory image wins over an OCI reference of the same name. */
	const char *img = image_of(spec);
	srv_oci_image oimg;
	memset(&oimg, 0, sizeof oimg);
	int is_oci = 0;
	int64_t img_uid = 0, img_gid = 0;
	if (strcmp(img, "host") == 0) {
		if (!cfg.allow_host_image) {
			refuse(why, SRV_E_INVALID, "spec.containers[0].image",
			       "image host (the host's own root) is not enabled: start sbxd with --allow-host-image");
			return NULL;
		}
	} else if (!srv_rt_has_image(rt, img)) {
		/* Not a directory image: a reference into the OCI store. */
		char oerr[SRV_OCI_ERRLEN] = "";
		if (srv_oci_resolve(store, img, &oimg, oerr) != 0) {
			if (errno != ENOENT) {
				refuse(why, SRV_E_INTERNAL, NULL, "image %.255s: %s", img, oerr);
				return NULL;
			}
			char names[512] = "";
			srv_rt_image_names(rt, names, sizeof names);
			if (img == cfg.default_image)
				refuse(why, SRV_E_INVALID, "spec.containers[0].image",
				       "the default image %s is not built: run scripts/default-image --image-dir DIR "
				       "(DIR: %s/images or an sbxd --image-dir; scripts/run does it) (images: %s; %s)",
				       img, cfg.state_dir, *names ? names : "none", oerr);
			else
				refuse(why, SRV_E_INVALID, "spec.containers[0].image",
				       "%s; directory images: %s; import one with sbxd image import PATH [REF] "
				       "(no registry is reachable from sbxd)",
				       oerr, *names ? names : "none");
			return NULL;
		}
		if (srv_oci_user(&oimg, &img_uid, &img_gid, oerr) != 0) {
			refuse(why, SRV_E_INVALID, "spec.containers[0].image", "image %.255s: %s", img, oerr);
			srv_oci_image_free(&oimg);
			return NULL;
		}
		is_oci = 1;
	}
	/* args without a command: the image's Entrypoint with these args
	 * (its Cmd replaced), as Kubernetes and OCI runtimes do. */
	if (spec->args_only && (!is_oci || oimg.entrypoint.n == 0)) {
		refuse(why, SRV_E_INVALID, "spec.containers[0].command",
		       "spec.containers[0].args without a command run the image's Entrypoint, and image %.200s has "
		       "none: give spec.containers[0].command",
		       img);
		srv_oci_image_free(&oimg);
		return NULL;
	}
	if (spec->nvols && srv_rt_rootless(rt)) {
		refuse(why, SRV_E_PRECONDITION, "spec.volumes",
		       "spec.volumes: scratch volumes are tmpfs mounts that only an sbxd running as root can make");
		srv_oci_image_free(&oimg);
		return NULL;
	}
	/* A warm pool member when the spec fits one; else, when the pool's
	 * members leave no room for a cold box under --max-sandboxes, one
	 * of them goes. */
	srv_box *member = NULL;
	int mspools[SRV_POOL_SPOOLS] = {-1, -1};
	if (pool_fits(spec, owner, img, is_oci) && !(member = srv_pool_take(mspools)))
		srv_pool_count_empty();
	if (!member && cfg.warm_pool > 0 && live + srv_pool_size() >= (size_t)cfg.max_sandboxes)
		srv_pool_shrink();
	srv_sbx *s = calloc(1, sizeof *s);
	if (!s) {
		refuse(why, SRV_E_INTERNAL, NULL, "out of memory");
		srv_oci_image_free(&oimg);
		if (member)
			srv_bury(member);
		spools_close(mspools);
		return NULL;
	}
	s->dirfd = -1;
	s->keep_root = s->keep_ns = -1;
	s->seq = srv_seq_next();
	s->owner = owner;
	/* The config's Env and WorkingDir stay with the sandbox, for every
	 * process it starts; the rest of oimg is used up by the start. */
	s->img_env = oimg.env;
	memset(&oimg.env, 0, sizeof oimg.env);
	s->img_cwd = oimg.working_dir;
	oimg.working_dir = NULL;
	if (member) {
		/* The member's id is the sandbox's: its cgroups bear it. */
		snprintf(s->id, sizeof s->id, "%s", srv_box_id(member));
		if (srv_spare_mkdir(sbxdirfd, s->id) != 0) {
			srv_bury(member);
			member = NULL;
			s->id[0] = '\0';
			spools_close(mspools);
			mspools[0] = mspools[1] = -1;
		}
	}
	for (int tries = 0; !member && tries < 5; tries++) {
		random_id(s->id, sizeof s->id);
		if (srv_spare_mkdir(sbxdirfd, s->id) == 0)
			break;
		s->id[0] = '\0';
	}
	if (!s->id[0] || (s->dirfd = openat(sbxdirfd, s->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		refuse(why, SRV_E_INTERNAL, NULL, "cannot create the sandbox's state dir: %s",
		       strerror(errno));
		srv_sbx_free(s);
		srv_oci_image_free(&oimg);
		if (member)
			srv_bury(member);
		spools_close(mspools);
		return NULL;
	}
	s->spec = *spec;
	memset(spec, 0, sizeof *spec);
	if (s->spec.lifetime_s == 0)
		s->spec.lifetime_s = cfg.default_lifetime;
	s->state = ST_CREATING;
	s->create_ns = srv_now_ns();
	if (srv_sbx_add(s) != 0) {
		refuse(why, SRV_E_INTERNAL, NULL, "out of memory");
		*spec = s->spec;
		memset(&s->spec, 0, sizeof s->spec);
		srv_sbx_free(s);
		srv_oci_image_free(&oimg);
		if (member)
			srv_bury(member);
		spools_close(mspools);
		return NULL;
	}
	/* An empty command runs the image's Entrypoint + Cmd (none: idle). */
	srv_strv main_argv = {0};
	int argv_rc = 0;
	for (size_t i = 0; s->spec.args_only && i < oimg.entrypoint.n && argv_rc == 0; i++)
		argv_rc = srv_strv_push(&main_argv, oimg.entrypoint.v[i]);
	for (size_t i = 0; i < s->spec.argv.n && argv_rc == 0; i++)
		argv_rc = srv_strv_push(&main_argv, s->spec.argv.v[i]);
	if (!s->spec.argv.n && is_oci && argv_rc == 0)
		argv_rc = srv_oci_main_argv(&oimg, &main_argv);
	srv_box_spec bs = {
		.lowers = is_oci ? (const char *const *)oimg.lowers : NULL,
		.uid = img_uid,
		.gid = img_gid,
		.id = s->id,
		.hostname = *s->spec.name ? s->spec.name : s->id,
		.image = image_of(&s->spec),
		.cpu_millis = s->spec.cpu_millis,
		/* Unbounded defaults would leave the host to the sandbox:
		 * --default-memory when the spec has no limit, the spool cap
		 * as every process's RLIMIT_FSIZE (spools are written by the
		 * process itself, so only the kernel can cap them). */
		.memory_bytes = s->spec.memory_bytes ? s->spec.memory_bytes : cfg.default_memory,
		.max_pids = s->spec.max_pids,
		.disk_bytes = cfg.disk_bytes,
		.max_file_bytes = cfg.max_output,
		/* The spools of one sandbox together, and the state dir's
		 * free space: init's relays count and stop storing. */
		.output_quota = cfg.output_quota,
		.min_free_bytes = min_free_bytes,
		.owner = s->owner,
	};
	/* Making the box takes milliseconds: let other requests run. The
	 * record is visible as CREATING meanwhile; a DELETE may end it, and
	 * purge leaves it alone while `creating` is set. */
	srv_box *box = NULL;
	srv_egress_plan *plan = NULL;
	s->creating = 1;
	srv_pool_busy(1);
	pthread_mutex_unlock(&srv_lock);
	/* dnsName rules resolve here, unlocked: DNS may take seconds. */
	int brc = -1, bad_spec = 0;
	static __thread char vfield[SRV_FIELDLEN];
	if (member && argv_rc == 0 && srv_box_respec(member, &bs, err) == 0) {
		/* Claimed: limits, tmpfs size and hostname are this spec's. */
		box = member;
		brc = 0;
	} else if (member) {
		/* Not servable after all (the image was rebuilt...): the member
		 * goes now, before a cold box reuses its id and cgroups. */
		srv_box_destroy(member);
		err[0] = '\0';
		spools_close(mspools);
		mspools[0] = mspools[1] = -1;
	}
	member = NULL;
	if (box)
		; /* from the pool */
	else if (argv_rc != 0)
		snprintf(err, SRV_ERRLEN, "out of memory");
	else if (srv_volumes_make(s, bs.memory_bytes, err) != 0)
		; /* FAILED with the reason: the volume or its restore */
	else if ((brc = srv_egress_plan_make(&s->spec.net, cfg.default_egress, &plan, err)) == 0) {
		bs.egress = srv_egress_plan_rules(plan);
		pthread_mutex_lock(&create_lock);
		brc = srv_box_create(rt, &bs, &box, err);
		pthread_mutex_unlock(&create_lock);
		/* Volumes at their mountPaths and files[] written before the
		 * main command can start (nothing runs in the box yet). */
		int arc = brc == 0 ? srv_volumes_attach(s, box, vfield, err) : 0;
		if (arc != 0) {
			brc = -1;
			bad_spec = arc == -2;
		}
	}
	srv_egress_plan_free(plan);
	pthread_mutex_lock(&srv_lock);
	srv_pool_busy(-1);
	srv_oci_image_free(&oimg);
	s->creating = 0;
	/* A claimed member's spools are the sandbox's first :execs' (they
	 * go with the record if the create fails from here on). */
	for (int k = 0; k < SRV_POOL_SPOOLS; k++) {
		if (mspools[k] >= 0 && s->nexec_free < 4)
			s->exec_free[s->nexec_free++] = mspools[k];
		else if (mspools[k] >= 0)
			close(mspools[k]);
	}
	if (brc != 0 && box) {
		srv_box_signal(box, 0, SIGKILL);
		srv_bury(box);
		box = NULL;
	}
	if (brc != 0 && bad_spec && s->state == ST_CREATING) {
		/* The spec's paths led nowhere usable inside: a 400 naming the
		 * field, and no record of a sandbox that never was. */
		refuse(why, SRV_E_INVALID, vfield[0] ? vfield : NULL, "%s", err);
		srv_strv_free(&main_argv);
		size_t n;
		srv_sbx **all = srv_all(&n);
		for (size_t i = 0; i < n; i++)
			if (all[i] == s) {
				purge(i);
				break;
			}
		return NULL;
	}
	if (brc != 0) {
		fprintf(stderr, "sbxd: warning: sandbox %s failed to start: %s\n", s->id, err);
		sbx_end(s, ST_FAILED, err);
		srv_strv_free(&main_argv);
		return s;
	}
	if (s->state != ST_CREATING) {
		/* Deleted while it was being made. */
		srv_box_signal(box, 0, SIGKILL);
		srv_bury(box);
		srv_strv_free(&main_argv);
		return s;
	}
	s->box = box;
	/* Now, while its init surely lives: a stop may end init before
	 * sbx_end runs. */
	keep_files(s);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = SRV_EV(SRV_EV_BOX, s->seq, 0)};
	srv_loop_ctl(EPOLL_CTL_ADD, srv_box_event_fd(s->box), &ev);
	s->state = ST_RUNNING;
	s->start_ns = srv_now_ns();
	s->lifetime_deadline = srv_mono_ns() + s->spec.lifetime_s * 1000000000;
	if (main_argv.n) {
		srv_proc_req req = {0};
		srv_refusal w2;
		/* A copy of the spec's argv (the spec keeps its own), or the
		 * image's entrypoint. */
		req.argv = main_argv;
		memset(&main_argv, 0, sizeof main_argv);
		srv_proc *p = srv_proc_start(s, &req, 0, &w2); /* next_id == 0: becomes process 0 */
		srv_proc_req_free(&req);
		if (!p) {
			sbx_end(s, ST_FAILED, w2.msg);
			return s;
		}
	}
	if (s->nprocs == 0) {
		/* Idle: process ids still start at 1. */
		srv_proc **np = calloc(1, sizeof *np);
		if (np) {
			s->procs = np;
			s->nprocs = 1;
		}
	}
	if (s->next_id < 1)
		s->next_id = 1;
	srv_save_sbx(s);
	srv_loop_poke();
	return s;
}

int srv_core_images(srv_oci_listing *out, char *err)
{
	char oerr[SRV_OCI_ERRLEN] = "";
	if (store && srv_oci_list(store, out, oerr) == 0)
		return 0;
	snprintf(err, SRV_MSGLEN, "image store: %.200s", store ? oerr : "not open");
	return -1;
}

/* Under a uid range, what a file call creates must belong to the box's
 * root (its range's first ids), not to host root, which is no one inside
 * (the box's tmpfs cannot even store an unmapped owner). The calling
 * thread's fs ids change until srv_root_fd_done; SECBIT_NO_SETUID_FIXUP
 * keeps its capabilities meanwhile, so access inside is root's as before. */
static void file_creds(uid_t u, gid_t g, uint32_t count)
{
	static __thread int fixup_off;
	if (!fixup_off) {
		int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
		if (bits >= 0 && prctl(PR_SET_SECUREBITS, (unsigned long)bits | SECBIT_NO_SETUID_FIXUP, 0, 0, 0) == 0)
			fixup_off = 1;
	}
	if (!fixup_off)
		return; /* without the bit the switch would drop every capability */
	setfsgid(g);
	setfsuid(u);
	srv_file_idmap(u, g, count);
}

void srv_root_fd_done(void)
{
	srv_file_idmap(0, 0, 0);
	if ((uid_t)setfsuid((uid_t)-1) != geteuid()) {
		setfsuid(geteuid());
		setfsgid(getegid());
	}
}

int srv_root_fd(srv_sbx *s, int *read_only)
{
	*read_only = 0;
	if (srv_state_terminal(s->state) && s->keep_root >= 0) {
		*read_only = 1;
		return fcntl(s->keep_root, F_DUPFD_CLOEXEC, 0);
	}
	if (!s->box || s->state != ST_RUNNING) {
		errno = ESRCH;
		return -1;
	}
	int fd = srv_box_open_root(s->box);
	if (fd < 0)
		errno = ESRCH;
	else if (srv_box_userns(s->box) == SRV_USERNS_RANGE)
		file_creds((uid_t)srv_box_uid_base(s->box), (gid_t)srv_box_gid_base(s->box), srv_box_id_count(s->box));
	else if (srv_box_userns(s->box) == SRV_USERNS_SINGLE)
		/* Rootless: sbxd's own ids already are root's inside, so only
		 * the ids entries show and set-attributes takes are the box's
		 * (else sbxfs, seeing sbxd's host uid on a file root made, would
		 * chown it to a host 0 and fail with EPERM). */
		srv_file_idmap((uint32_t)srv_box_uid_base(s->box), (uint32_t)srv_box_gid_base(s->box),
		               srv_box_id_count(s->box));
	return fd;
}

/* ---------------------------------------------------------------- purge */

static void purge(size_t idx)
{
	size_t nboxes;
	srv_sbx *s = srv_all(&nboxes)[idx];
	srv_wake(s->seq);
	srv_sbx_take(idx);
	srv_volumes_remove(s);
	srv_rm_sandbox_dir(s->id);
	srv_sbx_free(s);
}

/* ---------------------------------------------------------------- loop */

static int64_t timers(void)
{
	int64_t now = srv_mono_ns(), next = now + 1000000000;
	int64_t wall = srv_now_ns();
	size_t nboxes;
	srv_sbx **boxes = srv_all(&nboxes);
	for (size_t i = 0; i < nboxes; i++) {
		srv_sbx *s = boxes[i];
		if (srv_state_terminal(s->state)) {
			if (!s->creating && !s->rt_busy && !s->rt_waiters &&
			    (s->purge || (cfg.retention >= 0 && s->end_ns &&
							   wall - s->end_ns > cfg.retention * 1000000000))) {
				purge(i);
				i--;
				nboxes--;
			}
			continue;
		}
		if (s->state == ST_TERMINATING && s->grace_deadline) {
			if (s->grace_deadline <= now) {
				sbx_end(s, ST_TERMINATED, s->end_reason);
				continue;
			}
			if (s->grace_deadline < next)
				next = s->grace_deadline;
		}
		if (s->state == ST_RUNNING && s->lifetime_deadline) {
			if (s->lifetime_deadline <= now) {
				char why[64];
				snprintf(why, sizeof why, "maxLifetimeSeconds (%lld) reached",
					 (long long)s->spec.lifetime_s);
				srv_stop(s, LIFETIME_GRACE_S, why);
				if (srv_state_terminal(s->state))
					continue;
				if (s->grace_deadline && s->grace_deadline < next)
					next = s->grace_deadline;
			} else if (s->lifetime_deadline < next) {
				next = s->lifetime_deadline;
			}
		}
		for (int pass = 0; pass < 2; pass++) {
			size_t n = pass ? s->nexecs : s->nlive;
			for (size_t j = 0; j < n; j++) {
				srv_proc *p = pass ? s->execs[j] : s->live[j];
				if (!p || p->state != PS_RUNNING || !p->deadline_mono)
					continue;
				if (p->deadline_mono <= now) {
					p->timed_out = 1;
					p->deadline_mono = 0;
					if (s->box && s->rt_busy)
						p->kill_pending = 1;
					else if (s->box)
						srv_box_signal(s->box, p->token, SIGKILL);
				} else if (p->deadline_mono < next) {
					next = p->deadline_mono;
				}
			}
		}
	}
	return srv_waiters_expire(now, next);
}

/* The loop's events, on the sandbox they name (gone already: ignored). */
static void on_box(uint32_t seq)
{
	srv_sbx *s = srv_find_seq(seq);
	if (s)
		box_events(s);
}

static void on_stdin(uint32_t seq, uint32_t uid)
{
	srv_sbx *s = srv_find_seq(seq);
	srv_proc *p = s ? srv_proc_by_uid(s, uid) : NULL;
	if (p) {
		p->stdin_reg = 1; /* oneshot: still registered, disarmed */
		srv_stdin_feed(s, p);
	}
}

static int is_stopping(void)
{
	return stopping;
}

/* A record of that id was loaded (srv_volumes_init keeps its volumes). */
static int has_record(const char *id)
{
	return srv_find(id) != NULL;
}

static const srv_loop_hooks loop_hooks = {
	.box = on_box, .stdin_ready = on_stdin, .timers = timers, .stopping = is_stopping,
};

/* volume.h's hooks onto the snapshot store (snapshot.h). The owner of a
 * restore's snapshot was checked when the create was asked
 * (srv_rpc_check_restores), so the store is asked as root here. */
static int snap_restore(const char *sandbox_id, const char *name, const char *snapshot_id, const char *dir,
                        char *err)
{
	(void)sandbox_id;
	(void)name;
	char serr[SRV_SNAP_ERRLEN] = "";
	int rc = srv_snap_restore(snapshot_id, 0, dir, serr);
	if (rc)
		snprintf(err, SRV_MSGLEN, "%s", serr);
	return rc ? -1 : 0;
}

static int snap_before_remove(srv_sbx *s, const char *name, const char *dir)
{
	(void)s;
	(void)name;
	return srv_snap_defer_removal(dir, srv_volume_remove_dir);
}

int srv_core_start(const srv_config *c, char *err)
{
	cfg = *c;
	if (!cfg.default_image || !*cfg.default_image)
		cfg.default_image = "default";
	min_free_bytes = cfg.min_free;
	struct statvfs vfs;
	if (!min_free_bytes && cfg.min_free_pct > 0 && statvfs(cfg.state_dir, &vfs) == 0)
		min_free_bytes = (int64_t)((uint64_t)vfs.f_blocks * vfs.f_frsize / 100 * (uint64_t)cfg.min_free_pct);
	char path[4200];
	snprintf(path, sizeof path, "%s/sandboxes", cfg.state_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, SRV_MSGLEN, "cannot create %.200s: %s", path, strerror(errno));
		return -1;
	}
	sbxdirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sbxdirfd < 0 || srv_loop_open() != 0) {
		snprintf(err, SRV_MSGLEN, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	char rerr[SRV_ERRLEN] = "";
	rt = srv_rt_open(cfg.state_dir, cfg.no_live_restore ? 0 : SRV_RT_LIVE, rerr);
	if (!rt) {
		snprintf(err, SRV_MSGLEN, "runtime: %.200s", rerr);
		return -1;
	}
	if (cfg.subuid && cfg.subgid &&
	    srv_rt_set_subids(rt, cfg.subuid, cfg.subgid, cfg.userns_root, cfg.subids_given, rerr) != 0) {
		snprintf(err, SRV_MSGLEN, "--subuid: %.200s", rerr);
		return -1;
	}
	if (srv_rt_limits_missing(rt) && !cfg.no_limits) {
		snprintf(err, SRV_MSGLEN, "no cgroup this rootless sbxd may write (%.100s): memory, CPU, pids "
		         "limits unenforceable; start with --no-limits to run without", srv_rt_limits_missing(rt));
		return -1;
	}
	for (int i = 0; i < 8 && cfg.image_dirs[i]; i++) {
		if (srv_rt_add_image_dir(rt, cfg.image_dirs[i], rerr) != 0) {
			snprintf(err, SRV_MSGLEN, "--image-dir: %.200s", rerr);
			return -1;
		}
	}
	char oerr[SRV_OCI_ERRLEN] = "";
	store = srv_oci_open(cfg.state_dir, oerr);
	if (!store) {
		snprintf(err, SRV_MSGLEN, "image store: %.200s", oerr);
		return -1;
	}
	/* No sandbox runs yet: layers no reference leads to can go. */
	srv_oci_gc(store, NULL);
	srv_oci_image oi;
	int oci_default = srv_oci_resolve(store, cfg.default_image, &oi, oerr) == 0;
	srv_oci_image_free(&oi);
	if (strcmp(cfg.default_image, "host") != 0 && !srv_rt_has_image(rt, cfg.default_image) && !oci_default)
		fprintf(stderr,
			"sbxd: warning: the default image %s is not built (scripts/default-image --image-dir "
			"%s/images); sandboxes that name no image will be refused\n",
			cfg.default_image, cfg.state_dir);
	/* Sandboxes must not reach sbxd's own socket or token, not even on
	 * the host image: refuse to serve rather than leak the token. */
	for (int i = 0; i < 4 && cfg.hide_paths[i]; i++) {
		if (srv_rt_hide_path(rt, cfg.hide_paths[i], rerr) != 0) {
			snprintf(err, SRV_MSGLEN, "cannot hide %.120s from sandboxes: %.100s", cfg.hide_paths[i],
				 rerr);
			return -1;
		}
	}
	if (cfg.keep_procs > 0)
		srv_procs_keep_set((size_t)cfg.keep_procs);
	srv_persist_init(cfg.state_dir, sbxdirfd, cfg.default_egress);
	/* Live restore: running sandboxes of the last sbxd are taken back as
	 * they load; what no record took back is ended after. */
	srv_adopt_init(rt);
	srv_persist_adopt_hook(srv_adopt_sbx);
	srv_load_all();
	srv_rt_sweep(rt);
	int nad = 0, nfail = 0;
	srv_adopt_counts(&nad, &nfail);
	if (nad || nfail)
		fprintf(stderr, "sbxd: info: live restore: %d sandbox%s taken back, %d could not be\n", nad,
			nad == 1 ? "" : "es", nfail);
	if (!srv_rt_live(rt) && !cfg.no_live_restore)
		fprintf(stderr, "sbxd: warning: no cgroups: sandboxes end with this sbxd (no live restore)\n");
	if (srv_volumes_init(cfg.state_dir, has_record, err) != 0)
		return -1;
	/* The snapshot store's worker is a thread: after srv_rt_new too. */
	char serr[SRV_SNAP_ERRLEN] = "";
	srv_snap_set_min_free(min_free_bytes); /* archives stop at the spools' floor */
	if (srv_snap_open(cfg.state_dir, serr) != 0) {
		snprintf(err, SRV_MSGLEN, "snapshot store: %.200s", serr);
		return -1;
	}
	static const srv_volume_hooks vhooks = {snap_restore, snap_before_remove};
	srv_volume_set_hooks(&vhooks);
	/* After srv_rt_new: the zygote is forked before any thread runs. */
	if (srv_spare_start(cfg.state_dir, err) != 0)
		return -1;
	if (srv_reaper_start() != 0) {
		snprintf(err, SRV_MSGLEN, "cannot start the reaper thread");
		return -1;
	}
	if (srv_loop_start(&loop_hooks) != 0) {
		snprintf(err, SRV_MSGLEN, "cannot start the event loop thread");
		return -1;
	}
	/* Last: members are made only once everything they need runs, and
	 * after the sweep ended any box of a crashed sbxd (its members too). */
	if (cfg.warm_pool > 0) {
		const char *off = srv_rt_rootless(rt)                     ? "a rootless sbxd's sandboxes"
		                  : srv_rt_userns(rt) != SRV_USERNS_NONE  ? "--userns: root's sandboxes have a range"
		                  : strcmp(cfg.default_image, "host") == 0 ? "the default image is host"
		                  : oci_default && !srv_rt_has_image(rt, cfg.default_image)
		                          ? "the default image is an OCI image"
		                          : NULL;
		static const srv_pool_hooks ph = {.make = pool_make, .reserve = pool_reserve};
		if (off) {
			fprintf(stderr, "sbxd: info: --warm-pool %d: no pool (%s)\n", cfg.warm_pool, off);
			cfg.warm_pool = 0;
		} else if (srv_pool_start(cfg.warm_pool, &ph) != 0) {
			snprintf(err, SRV_MSGLEN, "cannot start the warm pool's thread");
			return -1;
		}
	}
	return 0;
}

void srv_core_quiesce(void)
{
	pthread_mutex_lock(&srv_lock);
	stopping = 1;
	srv_wake(0);
	pthread_mutex_unlock(&srv_lock);
	srv_loop_poke();
}

int srv_core_stopping(void)
{
	return stopping;
}

void srv_core_full_stop(void)
{
	pthread_mutex_lock(&srv_lock);
	full_stop = 1;
	pthread_mutex_unlock(&srv_lock);
}

void srv_core_stop(void)
{
	pthread_mutex_lock(&srv_lock);
	stopping = 1;
	pthread_mutex_unlock(&srv_lock);
	srv_loop_poke();
	srv_loop_join();
	/* No member outlives sbxd, live restore or not (nothing could claim
	 * it later: it has no record). */
	if (srv_pool_stop()) {
		uint64_t made, claimed, empty;
		srv_pool_counts(&made, &claimed, &empty);
		fprintf(stderr, "sbxd: info: warm pool: %llu made, %llu creates served from it, %llu found it empty\n",
		        (unsigned long long)made, (unsigned long long)claimed, (unsigned long long)empty);
	}
	pthread_mutex_lock(&srv_lock);
	size_t nboxes;
	srv_sbx **boxes = srv_all(&nboxes);
	int kept = 0;
	for (size_t i = 0; i < nboxes; i++) {
		srv_sbx *s = boxes[i];
		if (srv_state_terminal(s->state))
			continue;
		/* Live restore: a running sandbox outlives this sbxd, for the
		 * next one to take back; only a full stop ends it. */
		if (!full_stop && !cfg.no_live_restore && srv_adopt_release(s) == 0) {
			kept++;
			continue;
		}
		sbx_end(s, s->state == ST_TERMINATING ? ST_TERMINATED : ST_FAILED,
			s->state == ST_TERMINATING ? s->end_reason : "sbxd stopped");
	}
	if (kept)
		fprintf(stderr, "sbxd: info: %d sandbox%s left running for the next sbxd (live restore)\n", kept,
			kept == 1 ? "" : "es");
	srv_reaper_quit();
	pthread_mutex_unlock(&srv_lock);
	srv_reaper_join();
	srv_spare_stop();
	srv_snap_close(); /* without srv_lock: a job's gate takes it */
	srv_destroy_graves(); /* without a reaper (start failed) */
	pthread_mutex_lock(&srv_lock);
	srv_sbx_free_all();
	srv_rt_free(rt);
	srv_oci_close(store);
	store = NULL;
	rt = NULL;
	pthread_mutex_unlock(&srv_lock);
	srv_loop_close();
	if (sbxdirfd >= 0)
		close(sbxdirfd);
	sbxdirfd = -1;
}
