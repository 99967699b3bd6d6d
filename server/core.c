/*
 * Sandbox and process records, lifecycle, spools, persistence and the
 * event-loop thread of sbxd (see core.h). The loop is the only place that
 * reads runtime exit events, inotify and timers; HTTP threads change state
 * directly under srv_lock and poke the loop through an eventfd when they
 * add something it must time.
 */
#include "core.h"
#include "json.h"
#include "rpc.h"
#include "spec.h"
#include "egress.h"
#include "files.h"
#include "oci.h"
#include "runtime/proto.h" /* the spawn message caps */
#include "runtime/util.h"  /* srv_rm_rf */
#include "spare.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <linux/securebits.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define K_WAKE 1ULL
#define K_INOTIFY 2ULL
#define K_BOX 3ULL
#define K_STDIN 4ULL
#define EV(kind, seq, uid) (((kind) << 56) | ((uint64_t)(seq) << 24) | (uint64_t)(uid))
#define MAX_EXECS 1024
#define MAX_PENDING (4u << 20)
#define LIFETIME_GRACE_S 2

pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;
/* Serializes srv_box_create (the runtime shares its zygote between
 * creates) while srv_lock is released around it. */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
/* Broadcast whenever a box's unlocked runtime call ends (srv_rt_end). */
static pthread_cond_t rt_cond = PTHREAD_COND_INITIALIZER;

static srv_config cfg;
static int64_t min_free_bytes; /* cfg.min_free, or its percentage in bytes */
static srv_rt *rt;
static srv_oci *store;   /* STATE_DIR/oci: the OCI images */
static srv_sbx **boxes;
static size_t nboxes, capboxes;
static uint32_t next_seq = 1;
static uint32_t next_uid = 1;
static srv_waiter waiters = {.next = &waiters, .prev = &waiters};
static int ep = -1, wakefd = -1, infd = -1, sbxdirfd = -1;
static int stopping;
static srv_box **graves;  /* boxes for the reaper thread to destroy */
static size_t ngraves;
static pthread_cond_t graves_cond = PTHREAD_COND_INITIALIZER;
static pthread_t reaper_thread;
static int reaper_started, reaper_quit;
static pthread_t loop_thread;
static int loop_started;

static const char *const state_names[] = {
	"STATE_UNSPECIFIED", "STATE_PENDING", "STATE_CREATING", "STATE_RUNNING", "STATE_PAUSED",
	"STATE_TERMINATING", "STATE_COMPLETED", "STATE_FAILED", "STATE_TERMINATED",
};
static const char *const pstate_names[] = {
	"PROCESS_STATE_UNSPECIFIED", "PROCESS_STATE_RUNNING", "PROCESS_STATE_EXITED",
	"PROCESS_STATE_KILLED", "PROCESS_STATE_FAILED",
};

const char *srv_state_name(int st)
{
	return st >= 0 && st <= ST_TERMINATED ? state_names[st] : state_names[0];
}

int srv_state_from_name(const char *s)
{
	int64_t n;
	for (int i = 0; i <= ST_TERMINATED; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	if (srv_parse_int(s, 0, ST_TERMINATED, &n) == 0)
		return (int)n;
	return -1;
}

const char *srv_pstate_name(int st)
{
	return st >= 0 && st <= PS_FAILED ? pstate_names[st] : pstate_names[0];
}

static int pstate_from_name(const char *s)
{
	for (int i = 0; i <= PS_FAILED; i++)
		if (strcmp(s, pstate_names[i]) == 0)
			return i;
	return PS_UNSPECIFIED;
}

int srv_state_terminal(int st)
{
	return st == ST_COMPLETED || st == ST_FAILED || st == ST_TERMINATED;
}

int64_t srv_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t srv_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void poke_loop(void)
{
	uint64_t one = 1;
	if (wakefd >= 0 && write(wakefd, &one, sizeof one) < 0) {
		/* The counter is already non-zero: the loop will wake anyway. */
	}
}

/* ------------------------------------------------------------ JSON forms */

static void add_time(cJSON *o, const char *key, int64_t ns)
{
	char buf[48];
	srv_format_time(ns, buf, sizeof buf);
	cJSON_AddStringToObject(o, key, buf);
}

static void add_i64(cJSON *o, const char *key, int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	cJSON_AddStringToObject(o, key, buf);
}

static cJSON *env_json(const srv_strv *env)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; o && i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		if (!eq)
			continue;
		char key[256];
		size_t kl = (size_t)(eq - env->v[i]);
		if (kl >= sizeof key)
			continue;
		memcpy(key, env->v[i], kl);
		key[kl] = '\0';
		cJSON_AddStringToObject(o, key, eq + 1);
	}
	return o;
}

/* srv_state <-> the schema's State (numbers differ: STATE_RUNNING is 2). */
static const int state_pb[] = {
	[ST_UNSPECIFIED] = COREWEAVE__SANDBOX__V1__STATE__STATE_UNSPECIFIED,
	[ST_PENDING] = COREWEAVE__SANDBOX__V1__STATE__STATE_PENDING,
	[ST_CREATING] = COREWEAVE__SANDBOX__V1__STATE__STATE_CREATING,
	[ST_RUNNING] = COREWEAVE__SANDBOX__V1__STATE__STATE_RUNNING,
	[ST_PAUSED] = COREWEAVE__SANDBOX__V1__STATE__STATE_PAUSED,
	[ST_TERMINATING] = COREWEAVE__SANDBOX__V1__STATE__STATE_TERMINATING,
	[ST_COMPLETED] = COREWEAVE__SANDBOX__V1__STATE__STATE_COMPLETED,
	[ST_FAILED] = COREWEAVE__SANDBOX__V1__STATE__STATE_FAILED,
	[ST_TERMINATED] = COREWEAVE__SANDBOX__V1__STATE__STATE_TERMINATED,
};

int srv_state_to_pb(int st)
{
	return st >= 0 && st <= ST_TERMINATED ? state_pb[st] : 0;
}

int srv_state_from_pb(int v)
{
	for (int i = 0; i <= ST_TERMINATED; i++)
		if (state_pb[i] == v)
			return i;
	return -1;
}

static Google__Protobuf__Timestamp *pb_time(int64_t ns)
{
	if (ns <= 0)
		return NULL;
	Google__Protobuf__Timestamp *t = malloc(sizeof *t);
	if (!t)
		return NULL;
	google__protobuf__timestamp__init(t);
	t->seconds = ns / 1000000000;
	t->nanos = (int32_t)(ns % 1000000000);
	return t;
}

static int64_t pb_ns(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * 1000000000 + t->nanos : 0;
}

/* status.effectiveEgress: what the sandbox may reach (its rules, or
 * sbxd's default), normalised (protocols named, CIDRs canonical). */
static int effective_egress(const srv_sbx *s, Coreweave__Sandbox__V1__SandboxStatus *st)
{
	size_t n;
	const srv_egress_rule *r = srv_egress_effective(&s->spec.net, cfg.default_egress, &n);
	if (!n)
		return 0;
	if (!(st->effective_egress = calloc(n, sizeof *st->effective_egress)))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!(st->effective_egress[st->n_effective_egress++] = srv_egress_rule_to_pb(&r[i]))) {
			st->n_effective_egress--;
			return -1;
		}
	return 0;
}

Coreweave__Sandbox__V1__Sandbox *srv_sbx_to_pb(const srv_sbx *s)
{
	Coreweave__Sandbox__V1__Sandbox *o = malloc(sizeof *o);
	if (!o)
		return NULL;
	coreweave__sandbox__v1__sandbox__init(o);
	Coreweave__Sandbox__V1__SandboxStatus *st = malloc(sizeof *st);
	if (st)
		coreweave__sandbox__v1__sandbox_status__init(st);
	o->status = st;
	o->sandbox_id = strdup(s->id);
	/* The spec echoed as it was asked. */
	o->spec = srv_spec_to_pb(&s->spec);
	if (!st || !o->sandbox_id || (s->spec.pb && !o->spec))
		goto fail;
	st->state = srv_state_to_pb(s->state);
	if (s->reason[0] && !(st->state_reason = strdup(s->reason)))
		goto fail;
	if ((s->create_ns > 0 && !(st->create_time = pb_time(s->create_ns))) ||
	    (s->start_ns > 0 && !(st->start_time = pb_time(s->start_ns))) ||
	    (s->end_ns > 0 && !(st->end_time = pb_time(s->end_ns))))
		goto fail;
	if (s->exit_known) {
		st->_exit_code_case = COREWEAVE__SANDBOX__V1__SANDBOX_STATUS___EXIT_CODE_EXIT_CODE;
		st->exit_code = s->exit_code;
	}
	if (s->spec.lifetime_s > 0 && s->spec.lifetime_s <= INT32_MAX)
		st->effective_max_lifetime_seconds = (int32_t)s->spec.lifetime_s;
	if (effective_egress(s, st) != 0)
		goto fail;
	return o;
fail:
	wire_message_free(&o->base);
	return NULL;
}

static void spool_name(char *buf, size_t len, int64_t id, int stream)
{
	snprintf(buf, len, "%lld.%s", (long long)id, stream == 1 ? "stdout" : "stderr");
}

/* Bytes in a process's spool (1 stdout, 2 stderr): an exec's own fd, a
 * process's named file. */
static int64_t spool_size(const srv_sbx *s, const srv_proc *p, int stream)
{
	struct stat st;
	char name[40];
	if (p->id < 0)
		return p->out_fd[stream] >= 0 && fstat(p->out_fd[stream], &st) == 0 ? (int64_t)st.st_size : 0;
	spool_name(name, sizeof name, p->id, stream);
	return s->dirfd >= 0 && fstatat(s->dirfd, name, &st, 0) == 0 ? (int64_t)st.st_size : 0;
}

cJSON *srv_proc_json(const srv_sbx *s, const srv_proc *p)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	add_i64(o, "processId", p->id);
	cJSON *cmd = cJSON_AddArrayToObject(o, "command");
	for (size_t i = 0; cmd && i < p->argv.n; i++)
		cJSON_AddItemToArray(cmd, cJSON_CreateString(p->argv.v[i]));
	cJSON_AddStringToObject(o, "workingDir", p->cwd ? p->cwd : "");
	cJSON_AddItemToObject(o, "env", env_json(&p->env));
	cJSON_AddBoolToObject(o, "stdin", p->want_stdin);
	cJSON_AddBoolToObject(o, "stdinClosed", p->stdin_closed);
	cJSON_AddNumberToObject(o, "timeoutSeconds", (double)p->timeout_s);
	cJSON_AddStringToObject(o, "state", srv_pstate_name(p->state));
	cJSON_AddNumberToObject(o, "exitCode", p->exit_code);
	cJSON_AddNumberToObject(o, "signal", p->sig);
	cJSON_AddStringToObject(o, "stateReason", p->reason);
	add_time(o, "startTime", p->start_ns);
	add_time(o, "endTime", p->end_ns);
	for (int i = 1; s && p->id >= 0 && i <= 2; i++)
		add_i64(o, i == 1 ? "stdoutBytes" : "stderrBytes", spool_size(s, p, i));
	return o;
}

/* ---------------------------------------------------------- persistence */

static void write_json_at(int dirfd, const char *name, cJSON *j)
{
	char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
	char tmp[96];
	if (!txt)
		goto out;
	snprintf(tmp, sizeof tmp, ".%s.tmp", name);
	int fd = srv_spare_open(dirfd, tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "sbxd: warning: cannot save %s: %s\n", name, strerror(errno));
		goto out;
	}
	size_t len = strlen(txt), off = 0;
	while (off < len) {
		ssize_t w = write(fd, txt + off, len - off);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	close(fd);
	/* Swapped, not renamed over: the old version stays as the next
	 * save's tmp file, so a record saved again costs no inode (see
	 * spare.c) and frees none. The first save (nothing to swap with),
	 * or a file system without RENAME_EXCHANGE, renames. */
	if (off != len || (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) != 0 &&
			   renameat(dirfd, tmp, dirfd, name) != 0)) {
		fprintf(stderr, "sbxd: warning: cannot save %s: %s\n", name, strerror(errno));
		unlinkat(dirfd, tmp, 0);
	}
out:
	free(txt);
}

static void save_sbx(srv_sbx *s)
{
	if (s->dirfd < 0)
		return;
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return;
	/* The Sandbox as the API shows it (the spec as asked), then
	 * sbxd's own bookkeeping beside it. */
	Coreweave__Sandbox__V1__Sandbox *pb = srv_sbx_to_pb(s);
	char *txt = NULL;
	size_t tlen;
	wire_err we;
	if (!pb || wire_json_encode(&pb->base, NULL, &txt, &tlen, &we) != 0) {
		wire_message_free(pb ? &pb->base : NULL);
		cJSON_Delete(root);
		fprintf(stderr, "sbxd: warning: cannot save sandbox %s\n", s->id);
		return;
	}
	wire_message_free(&pb->base);
	cJSON_AddItemToObject(root, "sandbox", cJSON_ParseWithLength(txt, tlen));
	free(txt);
	cJSON_AddNumberToObject(root, "seq", s->seq);
	cJSON_AddNumberToObject(root, "owner", s->owner);
	cJSON_AddStringToObject(root, "requestId", s->spec.request_id ? s->spec.request_id : "");
	if (s->purge)
		cJSON_AddBoolToObject(root, "purge", 1);
	write_json_at(s->dirfd, "sandbox.json", root);
	cJSON_Delete(root);
}

static void save_proc(srv_sbx *s, srv_proc *p)
{
	if (p->id < 0 || s->dirfd < 0)
		return;
	char name[48];
	snprintf(name, sizeof name, "proc-%lld.json", (long long)p->id);
	cJSON *j = srv_proc_json(NULL, p);
	write_json_at(s->dirfd, name, j);
	cJSON_Delete(j);
}

/* ------------------------------------------------------------- records */

static void proc_free(srv_proc *p)
{
	if (!p)
		return;
	srv_strv_free(&p->argv);
	srv_strv_free(&p->env);
	free(p->cwd);
	free(p->request_id);
	free(p->pending);
	if (p->stdin_fd >= 0)
		close(p->stdin_fd);
	for (int i = 1; i <= 2; i++)
		if (p->out_fd[i] >= 0)
			close(p->out_fd[i]);
	free(p);
}

static srv_proc *proc_new(void)
{
	srv_proc *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->stdin_fd = -1;
	p->out_fd[0] = p->out_fd[1] = p->out_fd[2] = -1;
	p->uid = next_uid++ & 0xffffff;
	if (!p->uid)
		p->uid = next_uid++ & 0xffffff;
	return p;
}

static void exec_free_close(srv_sbx *s)
{
	while (s->nexec_free > 0)
		close(s->exec_free[--s->nexec_free]);
}

static void sbx_free(srv_sbx *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nprocs; i++)
		proc_free(s->procs[i]);
	free(s->procs);
	for (size_t i = 0; i < s->nexecs; i++)
		proc_free(s->execs[i]);
	free(s->execs);
	srv_spec_free(&s->spec);
	srv_strv_free(&s->img_env);
	free(s->img_cwd);
	exec_free_close(s);
	if (s->dirfd >= 0)
		close(s->dirfd);
	srv_drop_files(s);
	free(s);
}

void srv_drop_files(srv_sbx *s)
{
	s->drop_files = 1;
	if (s->keep_root >= 0)
		close(s->keep_root);
	if (s->keep_ns >= 0)
		close(s->keep_ns);
	s->keep_root = s->keep_ns = -1;
}

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

static int add_box(srv_sbx *s)
{
	if (nboxes == capboxes) {
		size_t nc = capboxes ? capboxes * 2 : 64;
		srv_sbx **nb = realloc(boxes, nc * sizeof *nb);
		if (!nb)
			return -1;
		boxes = nb;
		capboxes = nc;
	}
	/* Keep creation order (seq) even when loading in directory order. */
	size_t i = nboxes;
	while (i > 0 && boxes[i - 1]->seq > s->seq) {
		boxes[i] = boxes[i - 1];
		i--;
	}
	boxes[i] = s;
	nboxes++;
	return 0;
}

srv_sbx **srv_all(size_t *n)
{
	*n = nboxes;
	return boxes;
}

srv_sbx *srv_find_seq(uint32_t seq)
{
	size_t lo = 0, hi = nboxes;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (boxes[mid]->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nboxes && boxes[lo]->seq == seq ? boxes[lo] : NULL;
}

srv_sbx *srv_find(const char *id)
{
	for (size_t i = 0; i < nboxes; i++)
		if (strcmp(boxes[i]->id, id) == 0)
			return boxes[i];
	return NULL;
}

srv_sbx *srv_find_for(const char *id, uint32_t uid)
{
	srv_sbx *s = srv_find(id);
	return s && (uid == 0 || s->owner == uid) ? s : NULL;
}

srv_proc *srv_proc_get(srv_sbx *s, int64_t id)
{
	if (id < 0 || (uint64_t)id >= s->nprocs)
		return NULL;
	return s->procs[id];
}

static int running_procs(const srv_sbx *s)
{
	int n = 0;
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i] && s->procs[i]->state == PS_RUNNING)
			n++;
	for (size_t i = 0; i < s->nexecs; i++)
		if (s->execs[i]->state == PS_RUNNING)
			n++;
	return n;
}

/* ---------------------------------------------------------------- waiters */

void srv_waiter_add(srv_waiter *w)
{
	w->suspended = 1;
	w->next = &waiters;
	w->prev = waiters.prev;
	waiters.prev->next = w;
	waiters.prev = w;
	if (w->deadline)
		poke_loop();
}

/* Spool files some parked reader waits on, with reference counts: only
 * those are watched (a watch on every spool, or on the sandbox's
 * directory, cost a loop wake-up per write of every process). */
struct spool_watch {
	int wd;
	uint32_t seq;
	int refs;
};
static struct spool_watch *watches;
static size_t nwatches, capwatches;

static void unwatch(int wd)
{
	for (size_t i = 0; i < nwatches; i++) {
		if (watches[i].wd != wd)
			continue;
		if (--watches[i].refs == 0) {
			inotify_rm_watch(infd, wd);
			watches[i] = watches[--nwatches];
		}
		return;
	}
}

int srv_waiter_watch(srv_waiter *w, srv_sbx *s, int64_t id, int stream)
{
	char path[4300], name[40];
	if (w->watch) {
		unwatch(w->watch - 1);
		w->watch = 0;
	}
	spool_name(name, sizeof name, id, stream);
	snprintf(path, sizeof path, "%s/sandboxes/%s/%s", cfg.state_dir, s->id, name);
	int wd = inotify_add_watch(infd, path, IN_MODIFY);
	if (wd < 0)
		return -1;
	size_t i;
	for (i = 0; i < nwatches && watches[i].wd != wd; i++)
		;
	if (i == nwatches) {
		if (nwatches == capwatches) {
			size_t nc = capwatches ? capwatches * 2 : 64;
			struct spool_watch *nw = realloc(watches, nc * sizeof *nw);
			if (!nw) {
				inotify_rm_watch(infd, wd);
				return -1;
			}
			watches = nw;
			capwatches = nc;
		}
		watches[nwatches++] = (struct spool_watch){wd, s->seq, 0};
	}
	watches[i].refs++;
	w->watch = wd + 1;
	return 0;
}

void srv_waiter_remove(srv_waiter *w)
{
	if (w->watch) {
		unwatch(w->watch - 1);
		w->watch = 0;
	}
	if (!w->suspended)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->suspended = 0;
}

void srv_wake(uint32_t seq)
{
	srv_waiter *w = waiters.next;
	while (w != &waiters) {
		srv_waiter *next = w->next;
		if (!seq || w->seq == seq) {
			srv_waiter_remove(w);
			w->resume ? w->resume(w->con) : srv_http_resume(w->con);
		}
		w = next;
	}
}

/* ---------------------------------------------------------------- stdin */

static void stdin_unreg(srv_proc *p)
{
	if (p->stdin_reg && p->stdin_fd >= 0)
		epoll_ctl(ep, EPOLL_CTL_DEL, p->stdin_fd, NULL);
	p->stdin_reg = 0;
}

static void stdin_drop(srv_proc *p)
{
	stdin_unreg(p);
	if (p->stdin_fd >= 0)
		close(p->stdin_fd);
	p->stdin_fd = -1;
	free(p->pending);
	p->pending = NULL;
	p->pending_len = p->pending_off = 0;
}

/* Writes what the pipe takes now; waits for EPOLLOUT for the rest. */
static void stdin_feed(srv_sbx *s, srv_proc *p)
{
	while (p->stdin_fd >= 0 && p->pending_off < p->pending_len) {
		ssize_t w = write(p->stdin_fd, p->pending + p->pending_off, p->pending_len - p->pending_off);
		if (w > 0) {
			p->pending_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT,
						 .data.u64 = EV(K_STDIN, s->seq, p->uid)};
			if (epoll_ctl(ep, p->stdin_reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, p->stdin_fd, &ev) == 0)
				p->stdin_reg = 1;
			return;
		}
		/* EPIPE: the reader is gone; nothing more can be delivered. */
		stdin_drop(p);
		return;
	}
	if (p->pending_off >= p->pending_len) {
		free(p->pending);
		p->pending = NULL;
		p->pending_len = p->pending_off = 0;
		if (p->close_after)
			stdin_drop(p);
	}
}

int srv_stdin_write(srv_sbx *s, srv_proc *p, const unsigned char *buf, size_t len)
{
	size_t left = p->pending_len - p->pending_off;
	if (left + len > MAX_PENDING)
		return -1;
	if (len == 0)
		return 0;
	unsigned char *nb = malloc(left + len);
	if (!nb)
		return -1;
	if (left)
		memcpy(nb, p->pending + p->pending_off, left);
	memcpy(nb + left, buf, len);
	free(p->pending);
	p->pending = nb;
	p->pending_len = left + len;
	p->pending_off = 0;
	stdin_feed(s, p);
	return 0;
}

void srv_stdin_close(srv_sbx *s, srv_proc *p)
{
	p->stdin_closed = 1;
	p->close_after = 1;
	stdin_feed(s, p);
	if (p->id >= 0)
		save_proc(s, p);
}

/* ------------------------------------------------------------ lifecycle */

static void set_reason(char *dst, size_t cap, const char *r)
{
	snprintf(dst, cap, "%s", r ? r : "");
}

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
		set_reason(s->reason, sizeof s->reason, why);
		save_sbx(s);
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
		set_reason(p->reason, sizeof p->reason, why);
	} else if (WIFSIGNALED(wstatus)) {
		p->state = PS_KILLED;
		p->sig = WTERMSIG(wstatus);
		p->exit_code = 128 + p->sig;
		/* A SIGKILL right after the cgroup's OOM counter moved is the
		 * memory limit at work: say so instead of a bare 137. */
		int64_t ooms = s->box && p->sig == SIGKILL ? srv_box_oom_kills(s->box) : 0;
		if (ooms > s->oom_seen) {
			s->oom_seen = ooms;
			set_reason(p->reason, sizeof p->reason, "out of memory (memory limit reached)");
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
		set_reason(p->reason, sizeof p->reason, "timeout");
	}
	/* A command can exit before init, copying its last bytes, reaches
	 * --max-output: it keeps its status, but the cut must show. */
	for (int i = 1; i <= 2 && wstatus >= 0 && cfg.max_output > 0; i++)
		if (spool_size(s, p, i) >= cfg.max_output)
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
	stdin_drop(p);
	p->stdin_closed = p->want_stdin ? 1 : p->stdin_closed;
	save_proc(s, p);
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
			proc_free(p);
			return;
		}
	}
}

/* srv_box_destroy kills, reaps and unmounts: milliseconds. A reaper
 * thread does it without srv_lock, so neither requests nor the event loop
 * (process exits) wait behind a teardown. Called with srv_lock held. */
static void bury(srv_box *b)
{
	srv_box **ng = realloc(graves, (ngraves + 1) * sizeof *ng);
	if (!ng) {
		srv_box_destroy(b);
		return;
	}
	graves = ng;
	graves[ngraves++] = b;
	pthread_cond_signal(&graves_cond);
}

/* Destroys every buried box; called without srv_lock. */
static void destroy_graves(void)
{
	pthread_mutex_lock(&srv_lock);
	srv_box **g = graves;
	size_t n = ngraves;
	graves = NULL;
	ngraves = 0;
	pthread_mutex_unlock(&srv_lock);
	for (size_t i = 0; i < n; i++)
		srv_box_destroy(g[i]);
	free(g);
}

static void *reaper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&srv_lock);
	for (;;) {
		while (!ngraves && !reaper_quit)
			pthread_cond_wait(&graves_cond, &srv_lock);
		if (!ngraves && reaper_quit)
			break;
		pthread_mutex_unlock(&srv_lock);
		destroy_graves();
		pthread_mutex_lock(&srv_lock);
	}
	pthread_mutex_unlock(&srv_lock);
	return NULL;
}

/* Tears the box down and settles the sandbox in a terminal state. */
static void sbx_end(srv_sbx *s, int state, const char *reason)
{
	keep_files(s);
	if (s->box) {
		epoll_ctl(ep, EPOLL_CTL_DEL, srv_box_event_fd(s->box), NULL);
		/* Stop everything now; the slow teardown comes later. A box
		 * with a call running unlocked is srv_rt_end's to bury. */
		if (!s->rt_busy) {
			srv_box_signal(s->box, 0, SIGKILL);
			bury(s->box);
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
		set_reason(s->reason, sizeof s->reason, reason);
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
	exec_free_close(s);
	save_sbx(s);
	srv_wake(s->seq);
	if (s->purge)
		poke_loop(); /* the timer scan removes it */
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
		poke_loop();
		return;
	}
	s->state = ST_TERMINATING;
	set_reason(s->end_reason, sizeof s->end_reason, reason);
	if (grace_s > 0) {
		s->term_sent = 1;
		s->grace_deadline = srv_mono_ns() + (int64_t)grace_s * 1000000000;
	}
	if (!s->box || running_procs(s) == 0 || grace_s == 0) {
		sbx_end(s, ST_TERMINATED, reason);
		return;
	}
	if (s->rt_busy)
		s->term_pending = 1; /* srv_rt_end sends it */
	else
		srv_box_signal(s->box, 0, SIGTERM);
	s->lifetime_deadline = 0;
	save_sbx(s);
	srv_wake(s->seq);
	poke_loop();
}

static void purge(size_t idx);

void srv_stop_purge(srv_sbx *s, int grace_s, const char *reason)
{
	srv_stop(s, grace_s, reason);
	if (!s->purge) {
		s->purge = 1;
		save_sbx(s); /* a restart before the end still purges it */
	}
	if (!srv_state_terminal(s->state) || s->creating || s->rt_busy || s->rt_waiters)
		return; /* the timer scan purges it once terminal and free */
	for (size_t i = 0; i < nboxes; i++) {
		if (boxes[i] == s) {
			purge(i);
			return;
		}
	}
}

static srv_proc *proc_by_token(srv_sbx *s, int64_t token)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i] && s->procs[i]->state == PS_RUNNING && s->procs[i]->token == token)
			return s->procs[i];
	for (size_t i = 0; i < s->nexecs; i++)
		if (s->execs[i]->state == PS_RUNNING && s->execs[i]->token == token)
			return s->execs[i];
	return NULL;
}

srv_proc *srv_proc_by_uid(srv_sbx *s, uint32_t uid)
{
	for (size_t i = 0; i < s->nexecs; i++)
		if (s->execs[i]->uid == uid)
			return s->execs[i];
	for (size_t i = s->nprocs; i > 0; i--)
		if (s->procs[i - 1] && s->procs[i - 1]->uid == uid)
			return s->procs[i - 1];
	return NULL;
}

static void box_events(srv_sbx *s)
{
	int64_t token;
	int wstatus, rc;
	unsigned flags;
	int changed = 0;
	if (s->box && s->rt_busy) {
		/* A spawn runs unlocked: its exit may already be queued and
		 * must not be read before its token is registered (nor may
		 * the runtime be called meanwhile). Park the event fd (level
		 * triggered: it would spin) until srv_rt_end. */
		struct epoll_event ev = {.events = 0, .data.u64 = EV(K_BOX, s->seq, 0)};
		epoll_ctl(ep, EPOLL_CTL_MOD, srv_box_event_fd(s->box), &ev);
		s->evt_off = 1;
		return;
	}
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
		srv_proc *p = proc_by_token(s, token);
		if (!p)
			continue;
		p->out_done = (flags & SRV_EXIT_OUTPUT_DONE) != 0;
		p->lost = flags & (SRV_EXIT_LOST_QUOTA | SRV_EXIT_LOST_NOSPC | SRV_EXIT_LOST_FLOOR |
				   SRV_EXIT_LOST_IO | SRV_EXIT_LOST_STDOUT | SRV_EXIT_LOST_STDERR);
		proc_finish(s, p, wstatus, NULL);
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
		srv_proc *p = proc_by_token(s, token);
		if (p && p->state == PS_RUNNING && s->state == ST_RUNNING) {
			char why[200];
			lost_reason(nflags, why, sizeof why);
			set_reason(s->reason, sizeof s->reason, why);
			save_sbx(s);
			changed = 1;
		}
	}
	if (s->state == ST_TERMINATING && running_procs(s) == 0) {
		sbx_end(s, ST_TERMINATED, s->end_reason);
		return;
	}
	if (changed)
		srv_wake(s->seq);
}

static int open_spool(srv_sbx *s, int64_t id, int stream, int create)
{
	char name[40];
	spool_name(name, sizeof name, id, stream);
	if (create)
		return srv_spare_open(s->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
	return openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
}

int srv_spool_open(srv_sbx *s, int64_t id, int stream)
{
	return open_spool(s, id, stream, 0);
}

int srv_stream_ended(srv_sbx *s, int64_t id)
{
	srv_proc *p = srv_proc_get(s, id);
	/* An idle sandbox (no main command) has empty main streams that
	 * never grow: ended from the start, so a reader never waits. */
	if (!p)
		return id == 0 && s->spec.argv.n > 0 ? srv_state_terminal(s->state) : 1;
	return p->state != PS_RUNNING;
}

/* An exec's output goes to unnamed files on the state dir's disk (page
 * cache that can be written back, not memory the sandbox is charged for
 * and cannot reclaim, as a memfd would be), holding at most maxOutputBytes
 * of each stream: init stores that much and counts the rest as a hole
 * (srv_spawn.keep_bytes). Spent ones are emptied and reused once init has
 * closed its copies (exec_forget), because making and dropping an inode
 * per exec cost 1-2 ms on ext4 without a journal once a few thousand files
 * had come and gone (its allocator skips each recently deleted inode). */
static int exec_spool(srv_sbx *s)
{
	if (s->nexec_free > 0)
		return s->exec_free[--s->nexec_free];
	int fd = openat(s->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char name[48];
		snprintf(name, sizeof name, ".exec-%u.tmp", next_uid);
		fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			unlinkat(s->dirfd, name, 0);
	}
	if (fd >= 0)
		fcntl(fd, F_SETFL, O_APPEND);
	return fd;
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
		bury(b);
	} else {
		/* What others queued while the call ran (rare; these are
		 * locked calls, like all of them before). */
		if (s->term_pending)
			srv_box_signal(b, 0, SIGTERM);
		for (int pass = 0; pass < 2; pass++) {
			size_t n = pass ? s->nexecs : s->nprocs;
			for (size_t j = 0; j < n; j++) {
				srv_proc *p = pass ? s->execs[j] : s->procs[j];
				if (p && p->kill_pending && p->state == PS_RUNNING && p->token)
					srv_box_signal(b, p->token, SIGKILL);
				if (p)
					p->kill_pending = 0;
			}
		}
		if (s->evt_off) {
			struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(K_BOX, s->seq, 0)};
			epoll_ctl(ep, EPOLL_CTL_MOD, srv_box_event_fd(b), &ev);
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
		poke_loop();
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

/* The process an earlier start with this requestId made, if any: a client
 * that timed out may send the same start again and must not run the
 * command twice (the extension's answer to create's requestId). */
static srv_proc *proc_by_request(srv_sbx *s, const char *rid)
{
	if (!rid || !*rid)
		return NULL;
	for (size_t i = 1; i < s->nprocs; i++)
		if (s->procs[i] && s->procs[i]->request_id && strcmp(s->procs[i]->request_id, rid) == 0)
			return s->procs[i];
	return NULL;
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
	if (!exec && (p = proc_by_request(s, req->request_id)) != NULL) {
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
	if (!exec && s->nprocs > 4096) {
		refuse(why, SRV_E_CAPACITY, NULL,
		       "sandbox %s started its 4096 processes already", s->id);
		goto fail;
	}
	if (exec && s->nexecs >= MAX_EXECS) {
		refuse(why, SRV_E_CAPACITY, NULL, "too many execs running in sandbox %s", s->id);
		why->retry_ms = 1000;
		goto fail;
	}
	p = proc_new();
	if (!p)
		goto nomem;
	p->id = exec ? -1 : (int64_t)s->nprocs;
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
		fds[i] = exec ? exec_spool(s) : open_spool(s, p->id, i, 1);
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
		srv_proc **np = realloc(s->procs, ((size_t)p->id + 1) * sizeof *np);
		if (!np) {
			srv_box_signal(box, p->token, SIGKILL);
			goto nomem;
		}
		s->procs = np;
		for (size_t i = s->nprocs; i < (size_t)p->id; i++)
			s->procs[i] = NULL;
		s->procs[p->id] = p;
		s->nprocs = (size_t)p->id + 1;
		save_proc(s, p);
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
		stdin_feed(s, p);
	}
	if (p->deadline_mono)
		poke_loop();
	for (int i = 1; i <= 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	srv_strv_free(&env);
	srv_rt_end(s, box);
	return p;
nomem:
	refuse(why, SRV_E_INTERNAL, NULL, "out of memory");
fail:
	for (int i = 1; i <= 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	srv_strv_free(&env);
	proc_free(p);
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
		uint64_t t = (uint64_t)srv_now_ns() ^ ((uint64_t)getpid() << 32) ^ next_seq;
		memcpy(r, &t, sizeof r);
	}
	snprintf(buf, len, "sbx-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6],
		 r[7]);
}

/* The image a spec names: "default" is sbxd's default image (the one
 * --default-image names, itself "default" unless told otherwise). */
static const char *image_of(const srv_spec *spec)
{
	/* sbxd --image-alias REF=LOCAL (e.g. the SDK's default python:3.11
	 * onto a local image): said by the operator, never guessed. */
	size_t il = strlen(spec->image);
	for (int i = 0; il && i < 8 && cfg.image_alias[i]; i++)
		if (strncmp(cfg.image_alias[i], spec->image, il) == 0 && cfg.image_alias[i][il] == '=')
			return cfg.image_alias[i] + il + 1;
	return !*spec->image || strcmp(spec->image, "default") == 0 ? cfg.default_image : spec->image;
}

srv_sbx *srv_create(srv_spec *spec, uint32_t owner, srv_refusal *why)
{
	char err[SRV_ERRLEN] = "";
	size_t live = 0;
	if (stopping) {
		refuse(why, SRV_E_UNAVAILABLE, NULL, "sbxd is shutting down");
		return NULL;
	}
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
	srv_sbx *s = calloc(1, sizeof *s);
	if (!s) {
		refuse(why, SRV_E_INTERNAL, NULL, "out of memory");
		srv_oci_image_free(&oimg);
		return NULL;
	}
	s->dirfd = -1;
	s->keep_root = s->keep_ns = -1;
	s->seq = next_seq++;
	s->owner = owner;
	/* The config's Env and WorkingDir stay with the sandbox, for every
	 * process it starts; the rest of oimg is used up by the start. */
	s->img_env = oimg.env;
	memset(&oimg.env, 0, sizeof oimg.env);
	s->img_cwd = oimg.working_dir;
	oimg.working_dir = NULL;
	for (int tries = 0; tries < 5; tries++) {
		random_id(s->id, sizeof s->id);
		if (srv_spare_mkdir(sbxdirfd, s->id) == 0)
			break;
		s->id[0] = '\0';
	}
	if (!s->id[0] || (s->dirfd = openat(sbxdirfd, s->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		refuse(why, SRV_E_INTERNAL, NULL, "cannot create the sandbox's state dir: %s",
		       strerror(errno));
		sbx_free(s);
		srv_oci_image_free(&oimg);
		return NULL;
	}
	s->spec = *spec;
	memset(spec, 0, sizeof *spec);
	if (s->spec.lifetime_s == 0)
		s->spec.lifetime_s = cfg.default_lifetime;
	s->state = ST_CREATING;
	s->create_ns = srv_now_ns();
	if (add_box(s) != 0) {
		refuse(why, SRV_E_INTERNAL, NULL, "out of memory");
		*spec = s->spec;
		memset(&s->spec, 0, sizeof s->spec);
		sbx_free(s);
		srv_oci_image_free(&oimg);
		return NULL;
	}
	/* An empty command runs the image's Entrypoint + Cmd (none: idle). */
	srv_strv main_argv = {0};
	int argv_rc = 0;
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
	pthread_mutex_unlock(&srv_lock);
	/* dnsName rules resolve here, unlocked: DNS may take seconds. */
	int brc = -1;
	if (argv_rc != 0)
		snprintf(err, SRV_ERRLEN, "out of memory");
	else if ((brc = srv_egress_plan_make(&s->spec.net, cfg.default_egress, &plan, err)) == 0) {
		bs.egress = srv_egress_plan_rules(plan);
		pthread_mutex_lock(&create_lock);
		brc = srv_box_create(rt, &bs, &box, err);
		pthread_mutex_unlock(&create_lock);
	}
	srv_egress_plan_free(plan);
	pthread_mutex_lock(&srv_lock);
	srv_oci_image_free(&oimg);
	s->creating = 0;
	if (brc != 0) {
		fprintf(stderr, "sbxd: warning: sandbox %s failed to start: %s\n", s->id, err);
		sbx_end(s, ST_FAILED, err);
		srv_strv_free(&main_argv);
		return s;
	}
	if (s->state != ST_CREATING) {
		/* Deleted while it was being made. */
		srv_box_signal(box, 0, SIGKILL);
		bury(box);
		srv_strv_free(&main_argv);
		return s;
	}
	s->box = box;
	/* Now, while its init surely lives: a stop may end init before
	 * sbx_end runs. */
	keep_files(s);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(K_BOX, s->seq, 0)};
	epoll_ctl(ep, EPOLL_CTL_ADD, srv_box_event_fd(s->box), &ev);
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
		srv_proc *p = srv_proc_start(s, &req, 0, &w2); /* nprocs == 0: becomes process 0 */
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
	save_sbx(s);
	poke_loop();
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
	else if (srv_rt_userns(rt) == SRV_USERNS_RANGE)
		file_creds((uid_t)srv_box_uid_base(s->box), (gid_t)srv_box_gid_base(s->box), srv_box_id_count(s->box));
	return fd;
}

/* ---------------------------------------------------------------- purge */

/* Removes STATE_DIR/sandboxes/<id> and all in it. */
static void rm_sandbox_dir(const char *id)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/sandboxes/%s", cfg.state_dir, id);
	srv_rm_rf(path);
}

static void purge(size_t idx)
{
	srv_sbx *s = boxes[idx];
	srv_wake(s->seq);
	memmove(&boxes[idx], &boxes[idx + 1], (nboxes - idx - 1) * sizeof *boxes);
	nboxes--;
	rm_sandbox_dir(s->id);
	sbx_free(s);
}

/* ---------------------------------------------------------------- loading */

static char *read_all_at(int dirfd, const char *name, size_t cap)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	struct stat st;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || st.st_size < 0 || (size_t)st.st_size > cap)
		goto out;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto out;
	ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
out:
	close(fd);
	return buf;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(it) ? it->valuestring : "";
}

static int64_t jint(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	int64_t v = 0;
	return srv_json_int(it, INT64_MIN, INT64_MAX, &v) == 0 ? v : 0;
}

static int64_t jtime(const cJSON *o, const char *k)
{
	int64_t ns = 0;
	const char *s = jstr(o, k);
	if (*s && srv_parse_time(s, &ns) != 0)
		ns = 0;
	return ns;
}

static srv_proc *load_proc(const cJSON *j)
{
	srv_proc *p = proc_new();
	if (!p)
		return NULL;
	p->id = jint(j, "processId");
	size_t used = 0;
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(j, "command"), *it;
	cJSON_ArrayForEach(it, cmd) {
		if (cJSON_IsString(it) && used < SRV_MAX_ARGV_BYTES) {
			used += strlen(it->valuestring);
			srv_strv_push(&p->argv, it->valuestring);
		}
	}
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(j, "env");
	cJSON_ArrayForEach(it, env) {
		if (cJSON_IsString(it) && it->string) {
			char kv[8192];
			snprintf(kv, sizeof kv, "%s=%s", it->string, it->valuestring);
			srv_strv_push(&p->env, kv);
		}
	}
	p->cwd = strdup(jstr(j, "workingDir"));
	p->want_stdin = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stdin"));
	p->stdin_closed = 1;
	p->timeout_s = jint(j, "timeoutSeconds");
	p->state = pstate_from_name(jstr(j, "state"));
	p->exit_code = (int)jint(j, "exitCode");
	p->sig = (int)jint(j, "signal");
	set_reason(p->reason, sizeof p->reason, jstr(j, "stateReason"));
	p->start_ns = jtime(j, "startTime");
	p->end_ns = jtime(j, "endTime");
	return p;
}

static void load_one(const char *name)
{
	srv_sbx *s = NULL;
	cJSON *root = NULL;
	int dfd = openat(sbxdirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	if (faccessat(dfd, "sandbox.json", F_OK, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT &&
	    srv_valid_id(name)) {
		/* A create that sbxd did not live to finish: the dir is made
		 * first, the record saved before the create is answered, so no
		 * client ever saw this sandbox. Finish the job as a purge does. */
		fprintf(stderr, "sbxd: info: removing sandboxes/%s, a create cut short\n", name);
		close(dfd);
		rm_sandbox_dir(name);
		return;
	}
	char *txt = read_all_at(dfd, "sandbox.json", 4 << 20);
	root = txt ? cJSON_Parse(txt) : NULL;
	free(txt);
	const cJSON *sj = cJSON_GetObjectItemCaseSensitive(root, "sandbox");
	if (!sj || !srv_valid_id(name)) {
		fprintf(stderr, "sbxd: warning: ignoring unreadable record sandboxes/%s\n", name);
		close(dfd);
		goto out;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "purge"))) {
		/* Deleted with purge before sbxd went away: finish the job. */
		close(dfd);
		rm_sandbox_dir(name);
		goto out;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		close(dfd);
		goto out;
	}
	s->dirfd = dfd;
	s->keep_root = s->keep_ns = -1;
	memcpy(s->id, name, strlen(name) + 1); /* valid ids are <= 128 bytes */
	/* The Sandbox as saved: the spec as asked goes through the create
	 * checks again (a record is input too). */
	char *stxt = cJSON_PrintUnformatted(sj);
	ProtobufCMessage *m = NULL;
	wire_err we;
	srv_perr pe;
	int drc = stxt ? wire_json_decode(&coreweave__sandbox__v1__sandbox__descriptor, stxt, strlen(stxt), NULL, &m,
					  &we)
		       : -ENOMEM;
	free(stxt);
	Coreweave__Sandbox__V1__Sandbox *sb = (Coreweave__Sandbox__V1__Sandbox *)m;
	if (drc == 0 && strcmp(sb->sandbox_id, name) != 0) {
		drc = -EINVAL;
		snprintf(we.msg, sizeof we.msg, "its id is not its directory's name");
	}
	if (drc == 0) {
		/* The spec alone: the status is the service's own output. */
		Coreweave__Sandbox__V1__Sandbox only = COREWEAVE__SANDBOX__V1__SANDBOX__INIT;
		only.spec = sb->spec;
		drc = srv_spec_from_pb(&only, &s->spec, &pe);
		if (drc)
			snprintf(we.msg, sizeof we.msg, "%s", pe.msg);
	}
	if (drc) {
		fprintf(stderr, "sbxd: warning: ignoring unreadable record sandboxes/%s: %s\n", name,
			drc == -ENOMEM ? "out of memory" : we.msg);
		wire_message_free(m);
		free(s);
		s = NULL;
		close(dfd);
		goto out;
	}
	free(s->spec.request_id);
	s->spec.request_id = strdup(jstr(root, "requestId"));
	s->seq = (uint32_t)jint(root, "seq");
	/* Records from before owners were kept (no "owner") are root's. */
	int64_t own = jint(root, "owner");
	s->owner = own > 0 && own <= UINT32_MAX ? (uint32_t)own : 0;
	const Coreweave__Sandbox__V1__SandboxStatus *st = sb->status;
	s->state = st ? srv_state_from_pb(st->state) : -1;
	if (s->state < 0)
		s->state = ST_FAILED;
	set_reason(s->reason, sizeof s->reason, st && st->state_reason ? st->state_reason : "");
	if (st && st->_exit_code_case == COREWEAVE__SANDBOX__V1__SANDBOX_STATUS___EXIT_CODE_EXIT_CODE) {
		s->exit_code = st->exit_code;
		s->exit_known = 1;
	}
	s->create_ns = st ? pb_ns(st->create_time) : 0;
	s->start_ns = st ? pb_ns(st->start_time) : 0;
	s->end_ns = st ? pb_ns(st->end_time) : 0;
	wire_message_free(m);
	/* Processes. */
	DIR *d = fdopendir(dup(dfd));
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int64_t pid;
		char num[32];
		size_t nl = strlen(e->d_name);
		if (strncmp(e->d_name, "proc-", 5) != 0 || nl < 11 || strcmp(e->d_name + nl - 5, ".json") != 0 ||
		    nl - 10 >= sizeof num)
			continue;
		memcpy(num, e->d_name + 5, nl - 10);
		num[nl - 10] = '\0';
		if (srv_parse_int(num, 0, 4097, &pid) != 0)
			continue;
		char *pt = read_all_at(dfd, e->d_name, 1 << 20);
		cJSON *pj = pt ? cJSON_Parse(pt) : NULL;
		free(pt);
		srv_proc *p = pj ? load_proc(pj) : NULL;
		cJSON_Delete(pj);
		if (!p)
			continue;
		p->id = pid;
		if ((size_t)pid >= s->nprocs) {
			srv_proc **np = realloc(s->procs, ((size_t)pid + 1) * sizeof *np);
			if (!np) {
				proc_free(p);
				continue;
			}
			for (size_t i = s->nprocs; i <= (size_t)pid; i++)
				np[i] = NULL;
			s->procs = np;
			s->nprocs = (size_t)pid + 1;
		}
		proc_free(s->procs[pid]);
		s->procs[pid] = p;
	}
	if (d)
		closedir(d);
	if (s->nprocs == 0) {
		s->procs = calloc(1, sizeof *s->procs);
		s->nprocs = s->procs ? 1 : 0;
	}
	/* Whatever ran when sbxd went away is gone now (the runtime cleaned
	 * up its leftovers): say so instead of pretending. */
	int dirty = 0;
	for (size_t i = 0; i < s->nprocs; i++) {
		srv_proc *p = s->procs[i];
		if (p && p->state == PS_RUNNING) {
			p->state = PS_KILLED;
			p->sig = SIGKILL;
			p->exit_code = 128 + SIGKILL;
			set_reason(p->reason, sizeof p->reason, "sbxd restarted");
			p->end_ns = srv_now_ns();
			save_proc(s, p);
		}
	}
	if (!srv_state_terminal(s->state)) {
		s->state = ST_FAILED;
		set_reason(s->reason, sizeof s->reason, "sbxd restarted");
		s->end_ns = srv_now_ns();
		dirty = 1;
	}
	if (s->seq == 0 || srv_find_seq(s->seq)) {
		s->seq = next_seq; /* damaged record: give it a fresh place */
		dirty = 1;
	}
	if (s->seq >= next_seq)
		next_seq = s->seq + 1;
	if (add_box(s) != 0) {
		sbx_free(s);
		goto out;
	}
	if (dirty)
		save_sbx(s);
out:
	cJSON_Delete(root);
}

static void load_all(void)
{
	DIR *d = fdopendir(dup(sbxdirfd));
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		load_one(e->d_name);
	}
	if (d)
		closedir(d);
}

/* ---------------------------------------------------------------- loop */

/* Spool growth: wakes the sandboxes whose watched spools grew, each once
 * per batch of events however many writes it holds. */
static void on_inotify(void)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint32_t seqs[64];
	for (;;) {
		ssize_t n = read(infd, buf, sizeof buf);
		if (n <= 0)
			return;
		size_t nseq = 0;
		for (char *ptr = buf; ptr < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)ptr;
			ptr += sizeof *ev + ev->len;
			if (!(ev->mask & IN_MODIFY))
				continue;
			for (size_t i = 0; i < nwatches; i++) {
				if (watches[i].wd != ev->wd)
					continue;
				size_t k;
				for (k = 0; k < nseq && seqs[k] != watches[i].seq; k++)
					;
				if (k == nseq && nseq < sizeof seqs / sizeof seqs[0])
					seqs[nseq++] = watches[i].seq;
				else if (k == nseq)
					srv_wake(watches[i].seq);
				break;
			}
		}
		/* srv_wake drops the woken waiters' watches, so look the
		 * sandboxes up first and wake after the scan. */
		for (size_t k = 0; k < nseq; k++)
			srv_wake(seqs[k]);
	}
}

static int64_t timers(void)
{
	int64_t now = srv_mono_ns(), next = now + 1000000000;
	int64_t wall = srv_now_ns();
	for (size_t i = 0; i < nboxes; i++) {
		srv_sbx *s = boxes[i];
		if (srv_state_terminal(s->state)) {
			if (!s->creating && !s->rt_busy && !s->rt_waiters &&
			    (s->purge || (cfg.retention >= 0 && s->end_ns &&
							   wall - s->end_ns > cfg.retention * 1000000000))) {
				purge(i);
				i--;
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
			size_t n = pass ? s->nexecs : s->nprocs;
			for (size_t j = 0; j < n; j++) {
				srv_proc *p = pass ? s->execs[j] : s->procs[j];
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
	srv_waiter *w = waiters.next;
	while (w != &waiters) {
		srv_waiter *nw = w->next;
		if (w->deadline && w->deadline <= now) {
			srv_waiter_remove(w);
			w->resume ? w->resume(w->con) : srv_http_resume(w->con);
		} else if (w->deadline && w->deadline < next) {
			next = w->deadline;
		}
		w = nw;
	}
	return next;
}

static void *loop_main(void *arg)
{
	(void)arg;
	struct epoll_event evs[64];
	pthread_mutex_lock(&srv_lock);
	int64_t next = timers();
	for (;;) {
		int64_t wait_ns = next - srv_mono_ns();
		int timeout = wait_ns <= 0 ? 0 : (int)((wait_ns + 999999) / 1000000);
		pthread_mutex_unlock(&srv_lock);
		int n = epoll_wait(ep, evs, 64, timeout);
		pthread_mutex_lock(&srv_lock);
		if (stopping)
			break;
		int poked = 0;
		for (int i = 0; i < n; i++) {
			uint64_t d = evs[i].data.u64, kind = d >> 56;
			uint32_t seq = (uint32_t)(d >> 24), uid = (uint32_t)(d & 0xffffff);
			if (kind == K_WAKE) {
				poked = 1;
				uint64_t v;
				if (read(wakefd, &v, sizeof v) < 0) {
					/* EAGAIN: drained by an earlier event */
				}
			} else if (kind == K_INOTIFY) {
				on_inotify();
			} else if (kind == K_BOX) {
				srv_sbx *s = srv_find_seq(seq);
				if (s)
					box_events(s);
			} else if (kind == K_STDIN) {
				srv_sbx *s = srv_find_seq(seq);
				srv_proc *p = s ? srv_proc_by_uid(s, uid) : NULL;
				if (p) {
					p->stdin_reg = 1; /* oneshot: still registered, disarmed */
					stdin_feed(s, p);
				}
			}
		}
		/* Only a poke can bring a deadline nearer; otherwise the timer
		 * scan waits for the deadline it computed (output-heavy
		 * processes wake this loop often). */
		if (poked || srv_mono_ns() >= next)
			next = timers();
	}
	pthread_mutex_unlock(&srv_lock);
	return NULL;
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
	ep = epoll_create1(EPOLL_CLOEXEC);
	wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (sbxdirfd < 0 || ep < 0 || wakefd < 0 || infd < 0) {
		snprintf(err, SRV_MSGLEN, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(K_WAKE, 0, 0)};
	epoll_ctl(ep, EPOLL_CTL_ADD, wakefd, &ev);
	ev.data.u64 = EV(K_INOTIFY, 0, 0);
	epoll_ctl(ep, EPOLL_CTL_ADD, infd, &ev);
	char rerr[SRV_ERRLEN] = "";
	rt = srv_rt_new(cfg.state_dir, rerr);
	if (!rt) {
		snprintf(err, SRV_MSGLEN, "runtime: %.200s", rerr);
		return -1;
	}
	if (cfg.subuid && cfg.subgid && srv_rt_set_subids(rt, cfg.subuid, cfg.subgid, rerr) != 0) {
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
	load_all();
	/* After srv_rt_new: the zygote is forked before any thread runs. */
	if (srv_spare_start(cfg.state_dir, err) != 0)
		return -1;
	if (pthread_create(&reaper_thread, NULL, reaper_main, NULL) != 0) {
		snprintf(err, SRV_MSGLEN, "cannot start the reaper thread");
		return -1;
	}
	reaper_started = 1;
	if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0) {
		snprintf(err, SRV_MSGLEN, "cannot start the event loop thread");
		return -1;
	}
	loop_started = 1;
	return 0;
}

void srv_core_quiesce(void)
{
	pthread_mutex_lock(&srv_lock);
	stopping = 1;
	srv_wake(0);
	pthread_mutex_unlock(&srv_lock);
	poke_loop();
}

int srv_core_stopping(void)
{
	return stopping;
}

void srv_core_stop(void)
{
	pthread_mutex_lock(&srv_lock);
	stopping = 1;
	pthread_mutex_unlock(&srv_lock);
	poke_loop();
	if (loop_started)
		pthread_join(loop_thread, NULL);
	loop_started = 0;
	pthread_mutex_lock(&srv_lock);
	for (size_t i = 0; i < nboxes; i++) {
		srv_sbx *s = boxes[i];
		if (!srv_state_terminal(s->state))
			sbx_end(s, s->state == ST_TERMINATING ? ST_TERMINATED : ST_FAILED,
				s->state == ST_TERMINATING ? s->end_reason : "sbxd stopped");
	}
	reaper_quit = 1;
	pthread_cond_signal(&graves_cond);
	pthread_mutex_unlock(&srv_lock);
	if (reaper_started)
		pthread_join(reaper_thread, NULL);
	reaper_started = 0;
	srv_spare_stop();
	destroy_graves(); /* without a reaper (start failed) */
	pthread_mutex_lock(&srv_lock);
	for (size_t i = 0; i < nboxes; i++)
		sbx_free(boxes[i]);
	free(boxes);
	boxes = NULL;
	nboxes = capboxes = 0;
	srv_rt_free(rt);
	srv_oci_close(store);
	store = NULL;
	rt = NULL;
	pthread_mutex_unlock(&srv_lock);
	if (ep >= 0)
		close(ep);
	if (wakefd >= 0)
		close(wakefd);
	if (infd >= 0)
		close(infd);
	if (sbxdirfd >= 0)
		close(sbxdirfd);
	ep = wakefd = infd = sbxdirfd = -1;
}
