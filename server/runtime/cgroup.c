/*
 * Per-sandbox cgroups (see cgroup.h). Each sandbox gets one directory per
 * hierarchy in use: on the hybrid layout memory/, pids/ and cpu/ (v1) plus
 * unified/ (cgroup2, for cgroup.kill and cgroup.freeze); on a pure cgroup2
 * machine a single directory holds everything. The directories are named
 * <hierarchy>/<prefix>/<sandbox id>.
 */
#include "cgroup.h"
#include "runtime.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CG_ROOT "/sys/fs/cgroup"
#define DEFAULT_PIDS 1024

enum { R_MEM, R_PIDS, R_CPU, R_UNI, R_N };

struct srv_cg {
	int v2;                   /* pure cgroup2 with controllers */
	char parent[R_N][PATH_MAX]; /* "" when the role is unavailable */
	int has_kill, has_freeze;
	char layout[64];
};

struct srv_cg_box {
	const srv_cg *cg;
	char dir[R_N][PATH_MAX];  /* "" when unavailable */
	int owner[R_N];           /* 1 when this role created/removes the dir */
	int v2fd;                 /* O_DIRECTORY fd of dir[R_UNI], or -1 */
};

static int exists(const char *dir, const char *file)
{
	char p[PATH_MAX];
	if (srv_path_join(p, sizeof p, dir, file) != 0)
		return 0;
	return access(p, F_OK) == 0;
}

static int write_in(const char *dir, const char *file, const char *val)
{
	char p[PATH_MAX];
	if (srv_path_join(p, sizeof p, dir, file) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return srv_write_file(p, val);
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

/* Number of pids listed in dir/cgroup.procs; SIGKILLs each when kill_them. */
static int procs_in(const char *dir, int kill_them)
{
	char p[PATH_MAX];
	char buf[32 * 1024];
	if (srv_path_join(p, sizeof p, dir, "cgroup.procs") != 0)
		return -1;
	if (srv_read_file(p, buf, sizeof buf) < 0)
		return -1;
	int n = 0;
	char *s = buf;
	while (*s) {
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (end == s)
			break;
		if (errno == 0 && v > 0 && v <= INT32_MAX) {
			n++;
			if (kill_them)
				kill((pid_t)v, SIGKILL);
		}
		s = end;
		while (*s == '\n')
			s++;
	}
	return n;
}

/* Kills everything in one sandbox's dirs and removes them (best effort,
 * retrying while the kernel finishes releasing exited tasks). */
static void kill_and_rmdir(char dirs[R_N][PATH_MAX], const int *owner, int has_kill, int uni)
{
	if (has_kill && dirs[uni][0])
		write_in(dirs[uni], "cgroup.kill", "1");
	for (int r = 0; r < R_N; r++) {
		if (!dirs[r][0] || !owner[r])
			continue;
		for (int i = 0; i < 2000; i++) {
			if (rmdir(dirs[r]) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY)
				break;
			procs_in(dirs[r], 1);
			sleep_us(i < 100 ? 200 : 2000);
		}
	}
}

static void clean_parent(srv_cg *cg, int role, int (*keep)(const char *id, void *ctx), void *ctx)
{
	DIR *d = opendir(cg->parent[role]);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.' || (keep && keep(e->d_name, ctx)))
			continue;
		char dirs[R_N][PATH_MAX];
		int owner[R_N] = {0};
		memset(dirs, 0, sizeof dirs);
		if (srv_path_join(dirs[role], PATH_MAX, cg->parent[role], e->d_name) != 0)
			continue;
		owner[role] = 1;
		kill_and_rmdir(dirs, owner, cg->has_kill && role == R_UNI, R_UNI);
	}
	closedir(d);
}

void srv_cg_sweep(srv_cg *cg, int (*keep)(const char *id, void *ctx), void *ctx)
{
	/* The unified hierarchy first, since cgroup.kill takes everything at once. */
	for (int r = R_N - 1; r >= 0; r--) {
		int dup = 0;
		for (int q = R_N - 1; q > r; q--)
			if (cg->parent[q][0] && strcmp(cg->parent[q], cg->parent[r]) == 0)
				dup = 1;
		if (cg->parent[r][0] && !dup)
			clean_parent(cg, r, keep, ctx);
	}
}

/* Whether a space-separated list (cgroup.controllers style) has word. */
static int has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; (p = strstr(p, word)) != NULL; p += wl) {
		int start = p == list || p[-1] == ' ';
		int end = p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\n';
		if (start && end)
			return 1;
	}
	return 0;
}

static int make_parent(srv_cg *cg, int role, const char *root, const char *prefix, char *err)
{
	if (srv_path_join(cg->parent[role], PATH_MAX, root, prefix) != 0) {
		srv_errf(err, ENAMETOOLONG, "cgroup path");
		return -1;
	}
	if (mkdir(cg->parent[role], 0755) != 0 && errno != EEXIST) {
		srv_errf(err, errno, "mkdir %s", cg->parent[role]);
		return -1;
	}
	return 0;
}

static srv_cg *cg_open(const char *prefix, int clean, char *err);

srv_cg *srv_cg_open(const char *prefix, char *err)
{
	return cg_open(prefix, 1, err);
}

srv_cg *srv_cg_open_kept(const char *prefix, char *err)
{
	return cg_open(prefix, 0, err);
}

static srv_cg *cg_open(const char *prefix, int clean, char *err)
{
	srv_cg *cg = calloc(1, sizeof *cg);
	if (!cg) {
		srv_errf(err, ENOMEM, "cgroups");
		return NULL;
	}
	if (exists(CG_ROOT, "cgroup.controllers")) {
		cg->v2 = 1;
		char p[PATH_MAX];
		if (make_parent(cg, R_UNI, CG_ROOT, prefix, err) != 0)
			goto fail;
		static const char *const names[] = {"memory", "pids", "cpu"};
		for (int i = 0; i < 3; i++) {
			char word[16];
			snprintf(word, sizeof word, "+%s", names[i]);
			write_in(CG_ROOT, "cgroup.subtree_control", word);
			write_in(cg->parent[R_UNI], "cgroup.subtree_control", word);
		}
		/* A child of our parent gets a controller's files only when the
		 * parent delegates it: trust cgroup.subtree_control, not hopes. */
		char sub[512];
		srv_path_join(p, sizeof p, cg->parent[R_UNI], "cgroup.subtree_control");
		if (srv_read_file(p, sub, sizeof sub) < 0)
			sub[0] = '\0';
		if (has_word(sub, "memory"))
			memcpy(cg->parent[R_MEM], cg->parent[R_UNI], PATH_MAX);
		if (has_word(sub, "pids"))
			memcpy(cg->parent[R_PIDS], cg->parent[R_UNI], PATH_MAX);
		if (has_word(sub, "cpu"))
			memcpy(cg->parent[R_CPU], cg->parent[R_UNI], PATH_MAX);
	} else {
		if (exists(CG_ROOT "/memory", "memory.limit_in_bytes") &&
		    make_parent(cg, R_MEM, CG_ROOT "/memory", prefix, err) != 0)
			goto fail;
		if (exists(CG_ROOT "/pids", "cgroup.procs") &&
		    make_parent(cg, R_PIDS, CG_ROOT "/pids", prefix, err) != 0)
			goto fail;
		if (exists(CG_ROOT "/cpu", "cpu.cfs_period_us") &&
		    make_parent(cg, R_CPU, CG_ROOT "/cpu", prefix, err) != 0)
			goto fail;
		if (exists(CG_ROOT "/unified", "cgroup.procs") &&
		    make_parent(cg, R_UNI, CG_ROOT "/unified", prefix, err) != 0)
			goto fail;
	}
	if (cg->parent[R_UNI][0]) {
		cg->has_kill = exists(cg->parent[R_UNI], "cgroup.kill");
		cg->has_freeze = exists(cg->parent[R_UNI], "cgroup.freeze");
	}
	snprintf(cg->layout, sizeof cg->layout, "%s%s%s%s%s%s", cg->v2 ? "v2" : "v1",
	         cg->parent[R_MEM][0] ? " memory" : "", cg->parent[R_PIDS][0] ? " pids" : "",
	         cg->parent[R_CPU][0] ? " cpu" : "", !cg->v2 && cg->parent[R_UNI][0] ? " +unified" : "",
	         cg->has_kill ? " kill" : "");
	/* Leftovers of an earlier sbxd on the same state dir: the unified
	 * hierarchy first, since cgroup.kill takes everything at once. */
	if (clean)
		srv_cg_sweep(cg, NULL, NULL);
	return cg;
fail:
	free(cg);
	return NULL;
}

void srv_cg_free(srv_cg *cg)
{
	if (!cg)
		return;
	for (int r = 0; r < R_N; r++) {
		int dup = 0;
		for (int q = 0; q < r; q++)
			if (cg->parent[q][0] && strcmp(cg->parent[q], cg->parent[r]) == 0)
				dup = 1;
		if (cg->parent[r][0] && !dup)
			rmdir(cg->parent[r]); /* fails harmlessly while boxes remain */
	}
	free(cg);
}

const char *srv_cg_layout(const srv_cg *cg)
{
	return cg->layout;
}

int srv_cg_box_set_limits(srv_cg_box *b, int64_t cpu_millis, int64_t memory_bytes, int64_t max_pids,
                      int pids_required, char *err)
{
	const srv_cg *cg = b->cg;
	char v[64];
	if (memory_bytes < 0 || cpu_millis < 0 || max_pids < 0) {
		srv_errf(err, 0, "negative resource limit");
		return -1;
	}
	if (memory_bytes > 0) {
		if (!b->dir[R_MEM][0]) {
			srv_errf(err, 0, "memory limit requested but no memory cgroup controller");
			return -1;
		}
		snprintf(v, sizeof v, "%" PRId64, memory_bytes);
		if (write_in(b->dir[R_MEM], cg->v2 ? "memory.max" : "memory.limit_in_bytes", v) != 0) {
			srv_errf(err, errno, "memory limit %s", v);
			return -1;
		}
		if (cg->v2)
			write_in(b->dir[R_MEM], "memory.swap.max", "0");
	}
	if (b->dir[R_PIDS][0]) {
		snprintf(v, sizeof v, "%" PRId64, max_pids > 0 ? max_pids : DEFAULT_PIDS);
		if (write_in(b->dir[R_PIDS], "pids.max", v) != 0) {
			srv_errf(err, errno, "pids limit %s", v);
			return -1;
		}
	} else if (pids_required) {
		srv_errf(err, 0, "pids limit requested but no pids cgroup controller");
		return -1;
	}
	if (cpu_millis > 0) {
		if (!b->dir[R_CPU][0]) {
			srv_errf(err, 0, "cpu limit requested but no cpu cgroup controller");
			return -1;
		}
		/* Quota per 100 ms period: millis/1000 CPUs; the kernel's floor is 1 ms. */
		int64_t quota = cpu_millis > INT64_MAX / 100 ? INT64_MAX / 100 : cpu_millis * 100;
		if (quota < 1000)
			quota = 1000;
		int rc;
		if (cg->v2) {
			snprintf(v, sizeof v, "%" PRId64 " 100000", quota);
			rc = write_in(b->dir[R_CPU], "cpu.max", v);
		} else {
			rc = write_in(b->dir[R_CPU], "cpu.cfs_period_us", "100000");
			snprintf(v, sizeof v, "%" PRId64, quota);
			if (rc == 0)
				rc = write_in(b->dir[R_CPU], "cpu.cfs_quota_us", v);
		}
		if (rc != 0) {
			srv_errf(err, errno, "cpu limit %s", v);
			return -1;
		}
	}
	return 0;
}

int srv_cg_box_create(srv_cg *cg, const char *id, int64_t cpu_millis, int64_t memory_bytes,
                      int64_t max_pids, int pids_required, srv_cg_box **out, char *err)
{
	srv_cg_box *b = calloc(1, sizeof *b);
	if (!b) {
		srv_errf(err, ENOMEM, "cgroup");
		return -1;
	}
	b->cg = cg;
	b->v2fd = -1;
	for (int r = 0; r < R_N; r++) {
		if (!cg->parent[r][0])
			continue;
		if (srv_path_join(b->dir[r], PATH_MAX, cg->parent[r], id) != 0) {
			srv_errf(err, ENAMETOOLONG, "cgroup path");
			goto fail;
		}
		int dup = 0;
		for (int q = 0; q < r; q++)
			if (b->dir[q][0] && strcmp(b->dir[q], b->dir[r]) == 0)
				dup = 1;
		if (dup)
			continue;
		if (mkdir(b->dir[r], 0755) != 0) {
			if (errno != EEXIST) {
				srv_errf(err, errno, "mkdir %s", b->dir[r]);
				goto fail;
			}
			/* A leftover of the same id: empty it and start afresh. */
			char one[R_N][PATH_MAX];
			int own[R_N] = {0};
			memset(one, 0, sizeof one);
			memcpy(one[r], b->dir[r], PATH_MAX);
			own[r] = 1;
			kill_and_rmdir(one, own, cg->has_kill && r == R_UNI, R_UNI);
			if (mkdir(b->dir[r], 0755) != 0) {
				srv_errf(err, errno, "mkdir %s", b->dir[r]);
				goto fail;
			}
		}
		b->owner[r] = 1;
	}
	if (srv_cg_box_set_limits(b, cpu_millis, memory_bytes, max_pids, pids_required, err) != 0)
		goto fail;
	*out = b;
	return 0;
fail:
	srv_cg_box_remove(b);
	return -1;
}

int srv_cg_box_open(srv_cg *cg, const char *id, srv_cg_box **out, char *err)
{
	srv_cg_box *b = calloc(1, sizeof *b);
	if (!b) {
		srv_errf(err, ENOMEM, "cgroup");
		return -1;
	}
	b->cg = cg;
	b->v2fd = -1;
	int found = 0;
	for (int r = 0; r < R_N; r++) {
		struct stat st;
		if (!cg->parent[r][0])
			continue;
		if (srv_path_join(b->dir[r], PATH_MAX, cg->parent[r], id) != 0) {
			srv_errf(err, ENAMETOOLONG, "cgroup path");
			srv_cg_box_remove(b);
			return -1;
		}
		int dup = 0;
		for (int q = 0; q < r; q++)
			if (b->dir[q][0] && strcmp(b->dir[q], b->dir[r]) == 0)
				dup = 1;
		if (stat(b->dir[r], &st) == 0 && S_ISDIR(st.st_mode)) {
			b->owner[r] = !dup;
			found = 1;
		} else {
			b->dir[r][0] = '\0';
		}
	}
	if (!found) {
		srv_errf(err, ENOENT, "no cgroup of sandbox %s", id);
		srv_cg_box_remove(b);
		return -1;
	}
	*out = b;
	return 0;
}

int srv_cg_box_clone_fd(srv_cg_box *b)
{
	if (b->v2fd < 0 && b->dir[R_UNI][0])
		b->v2fd = open(b->dir[R_UNI], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return b->v2fd;
}

int srv_cg_box_attach(srv_cg_box *b, pid_t pid, int skip_v2, char *err)
{
	char v[32];
	snprintf(v, sizeof v, "%d", (int)pid);
	/* Each write to a v1 cgroup.procs waits for an RCU grace period on
	 * most kernels: the caller overlaps them with init's set-up. */
	for (int r = 0; r < R_N; r++) {
		if (!b->owner[r] || (skip_v2 && b->dir[R_UNI][0] && strcmp(b->dir[r], b->dir[R_UNI]) == 0))
			continue;
		if (write_in(b->dir[r], "cgroup.procs", v) != 0) {
			srv_errf(err, errno, "attach to %s", b->dir[r]);
			return -1;
		}
	}
	return 0;
}

void srv_cg_box_kill(srv_cg_box *b)
{
	if (!b)
		return;
	if (b->cg->has_kill && b->dir[R_UNI][0])
		write_in(b->dir[R_UNI], "cgroup.kill", "1");
	else
		for (int r = 0; r < R_N; r++)
			if (b->owner[r])
				procs_in(b->dir[r], 1);
}

int64_t srv_cg_box_oom_kills(const srv_cg_box *b)
{
	char p[PATH_MAX], buf[4096];
	int64_t v = 0;
	if (!b || !b->dir[R_MEM][0])
		return 0;
	if (srv_path_join(p, sizeof p, b->dir[R_MEM], b->cg->v2 ? "memory.events" : "memory.oom_control") != 0)
		return 0;
	if (srv_read_file(p, buf, sizeof buf) < 0 || srv_find_counter(buf, "oom_kill", &v) != 0)
		return 0;
	return v;
}

int64_t srv_cg_box_memory_current(const srv_cg_box *b)
{
	char p[PATH_MAX], buf[64];
	if (!b || !b->dir[R_MEM][0])
		return -1;
	if (srv_path_join(p, sizeof p, b->dir[R_MEM], b->cg->v2 ? "memory.current" : "memory.usage_in_bytes") != 0)
		return -1;
	if (srv_read_file(p, buf, sizeof buf) < 0)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno != 0 || end == buf || v < 0)
		return -1;
	return v;
}

int srv_cg_box_freeze(srv_cg_box *b, int frozen, char *err)
{
	if (!b->cg->has_freeze || !b->dir[R_UNI][0]) {
		srv_errf(err, ENOTSUP, "freeze");
		errno = ENOTSUP;
		return -1;
	}
	if (write_in(b->dir[R_UNI], "cgroup.freeze", frozen ? "1" : "0") != 0) {
		srv_errf(err, errno, "freeze");
		return -1;
	}
	return 0;
}

int srv_cg_box_nprocs(const srv_cg_box *b)
{
	for (int r = R_N - 1; r >= 0; r--)
		if (b->owner[r])
			return procs_in(b->dir[r], 0);
	return -1;
}

void srv_cg_box_remove(srv_cg_box *b)
{
	if (!b)
		return;
	if (b->v2fd >= 0)
		close(b->v2fd);
	kill_and_rmdir(b->dir, b->owner, b->cg->has_kill, R_UNI);
	free(b);
}

void srv_cg_box_release(srv_cg_box *b)
{
	if (!b)
		return;
	if (b->v2fd >= 0)
		close(b->v2fd);
	free(b);
}
