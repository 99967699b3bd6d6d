/*
 * Timing helper for scripts/bench-fs: one exec round trip, measured three
 * ways in one run so the figures compare on the same machine and load.
 *   bench_fs mount DIR N       write "true" to DIR/exec/new, read the id back
 *                              from the same fd, read DIR/exec/ID/returncode
 *   bench_fs lib URL BOX N     the same through libsbx: start, then get with wait
 *   bench_fs fork N            fork + exec of /bin/true + waitpid
 * Prints "p50_ms p90_ms per_second" on one line (per_second: N over the
 * wall time of all N, back to back: serial throughput).
 *   bench_fs outread URL BOX PID N   reads the process's whole stdout with
 *                              sbx_output_read in 4 MiB pieces, N times;
 *                              prints MB/s of the best run (what sbxfs can
 *                              get from the service at most)
 *   bench_fs history URL BOX N  starts and waits N `true` processes
 *   bench_fs last DIR N        N times: 1.1 s pause (past the entry and
 *                              list timeouts), then readlink DIR/exec/last
 *   bench_fs miss DIR N        N times: 150 ms pause, then stat of a name
 *                              nobody made (the failed lookup every mkdir
 *                              does first)
 *   bench_fs lookups SB ROOT N N times, in turn, each after the same 1.1 s
 *                              pause: a plain LOOKUP answered from sbxfs's
 *                              cache (stat SB/exec/1), readlink SB/exec/last,
 *                              and a stat of a name nobody made in ROOT;
 *                              prints the three medians "plain last miss"
 *                              (in turn, so a change in the load hits all
 *                              three alike: the ratios are what to read)
 *   bench_fs names ROOT SB N   N times, in turn, each after the same 1.1 s
 *                              pause: a stat of a name nobody made in ROOT
 *                              (a mkdir's failed name lookup), a stat of
 *                              the sandbox dir ROOT/SB, a stat of
 *                              ROOT/SB/info (a lookup inside it) and a
 *                              listing of ROOT (opendir, readdir to the
 *                              end); prints the four medians "miss stat
 *                              inside ls" and the entries the last listing
 *                              held
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sbx/sbx.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* CPU ms of this process and its waited children (fork mode: the whole
 * fork+exec+exit of /bin/true on both sides) since the start. */
static double cpu_ms(void)
{
	struct rusage s, c;
	getrusage(RUSAGE_SELF, &s);
	getrusage(RUSAGE_CHILDREN, &c);
	return (double)(s.ru_utime.tv_sec + s.ru_stime.tv_sec + c.ru_utime.tv_sec + c.ru_stime.tv_sec) * 1e3 +
	       (double)(s.ru_utime.tv_usec + s.ru_stime.tv_usec + c.ru_utime.tv_usec + c.ru_stime.tv_usec) / 1e3;
}

/* p50 p90 rate cpu: cpu is this process's (and its children's) CPU ms
 * per round trip, warm-ups included in the count. */
static void report(double *v, int n, double total_ms, double cpu)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	printf("%.3f %.3f %.0f %.3f\n", v[n / 2], v[(n * 9) / 10], total_ms > 0 ? n * 1e3 / total_ms : 0.0,
	       cpu / (n + 3));
}

static int one_mount(const char *dir)
{
	char path[4096], id[64], rc[64];
	snprintf(path, sizeof path, "%s/exec/new", dir);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return -1;
	if (write(fd, "true\n", 5) != 5) {
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, id, sizeof id - 1);
	close(fd);
	if (n <= 1)
		return -1;
	id[n - 1] = '\0';
	snprintf(path, sizeof path, "%s/exec/%s/returncode", dir, id);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, rc, sizeof rc);
	close(fd);
	return n == 2 && rc[0] == '0' ? 0 : -1;
}

static int one_lib(sbx_client *c, const char *box, sbx_exec_req *r)
{
	sbx_process *p = NULL, *q = NULL;
	sbx_error err;
	int rc = -1;
	if (sbx_process_start(c, box, r, &p, &err) != SBX_OK)
		goto out;
	if (sbx_process_get(c, box, p->id, 30, &q, &err) != SBX_OK)
		goto out;
	rc = q->state == SBX_PROC_EXITED && q->exit_code == 0 ? 0 : -1;
out:
	sbx_process_free(p);
	sbx_process_free(q);
	return rc;
}

static int one_fork(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int outread(const char *url, const char *box, const char *pids, const char *ns)
{
	sbx_config *cfg = sbx_config_new();
	sbx_client *c = NULL;
	sbx_error err;
	char *end;
	int rc = 1;
	long pid = strtol(pids, &end, 10);
	long n = strtol(ns, &end, 10);
	size_t cap = 4u << 20;
	char *buf = malloc(cap);
	double best = 0;
	if (!cfg || !buf || pid < 1 || n < 1 || sbx_config_set_url(cfg, url, &err) != SBX_OK ||
	    sbx_client_new(cfg, &c, &err) != SBX_OK)
		goto out;
	for (long k = 0; k < n; k++) {
		int64_t off = 0;
		double t = now_ms();
		for (;;) {
			sbx_chunk ch;
			if (sbx_output_read(c, box, pid, SBX_STDOUT, off, buf, cap, 0, &ch, &err) != SBX_OK)
				goto out;
			off += (int64_t)ch.len;
			if (ch.eof || ch.len == 0)
				break;
		}
		double mbps = (double)off / ((now_ms() - t) * 1000.0);
		if (mbps > best)
			best = mbps;
	}
	printf("%.0f\n", best);
	rc = 0;
out:
	free(buf);
	sbx_client_free(c);
	sbx_config_free(cfg);
	return rc;
}

/* The pause is not timed: *t is reset after it. */
static int one_last(const char *dir, double *t)
{
	char path[4096], to[64];
	struct timespec pause = {1, 100000000};
	nanosleep(&pause, NULL);
	*t = now_ms();
	snprintf(path, sizeof path, "%s/exec/last", dir);
	return readlink(path, to, sizeof to) > 0 ? 0 : -1;
}

/* After an untimed 150 ms pause: sbxfs used to re-list every sandbox for
 * a miss at most every 100 ms, and mkdirs come one at a time. */
static int one_miss(const char *dir, int i, double *t)
{
	char path[4096];
	struct stat st;
	struct timespec pause = {0, 150000000};
	nanosleep(&pause, NULL);
	*t = now_ms();
	snprintf(path, sizeof path, "%s/nobody-%d-%d", dir, (int)getpid(), i);
	return stat(path, &st) != 0 && errno == ENOENT ? 0 : -1;
}

/* One LOOKUP chain after a 1.1 s pause, timed (see "lookups"). */
static int one_stat(const char *path, int want_ok, double *ms)
{
	struct stat st;
	struct timespec pause = {1, 100000000};
	nanosleep(&pause, NULL);
	double t = now_ms();
	int rc = stat(path, &st);
	*ms = now_ms() - t;
	return (rc == 0) == want_ok ? 0 : -1;
}

/* Prints the medians of k series of n (v[j * n .. j * n + n)), sorted in
 * place, on one line without its newline. */
static void medians(double *v, int n, int k)
{
	for (int j = 0; j < k; j++) {
		qsort(v + j * n, (size_t)n, sizeof *v, cmp);
		printf("%s%.3f", j ? " " : "", v[j * n + n / 2]);
	}
}

/* Frees the series; failed: says why (errno) for that mode. The exit
 * status. */
static int series_end(double *v, const char *mode, int failed)
{
	if (failed)
		fprintf(stderr, "bench_fs %s: %s\n", mode, strerror(errno));
	free(v);
	return failed;
}

static int lookups(const char *sb, const char *root, int n)
{
	double *v = calloc((size_t)n * 3, sizeof *v);
	char p1[4096], miss[4096];
	if (!v)
		return 1;
	snprintf(p1, sizeof p1, "%s/exec/1", sb);
	for (int i = -1; i < n; i++) {      /* one warm-up */
		double a, c;
		char to[64];
		struct timespec pause = {1, 100000000};
		snprintf(miss, sizeof miss, "%s/nobody-%d-%d", root, (int)getpid(), i + 1);
		if (one_stat(p1, 1, &a) != 0)
			goto fail;
		nanosleep(&pause, NULL);
		char last[4096];
		snprintf(last, sizeof last, "%s/exec/last", sb);
		double t = now_ms();
		if (readlink(last, to, sizeof to) <= 0)
			goto fail;
		double b = now_ms() - t;
		if (one_stat(miss, 0, &c) != 0 || errno != ENOENT)
			goto fail;
		if (i >= 0) {
			v[i] = a;
			v[n + i] = b;
			v[2 * n + i] = c;
		}
	}
	medians(v, n, 3);
	printf("\n");
	return series_end(v, "lookups", 0);
fail:
	return series_end(v, "lookups", 1);
}

/* After the same untimed 1.1 s pause (past the entry timeout): opendir
 * and readdir to the end, timed; *entries: what it listed. */
static int one_ls(const char *dir, double *ms, long *entries)
{
	struct timespec pause = {1, 100000000};
	nanosleep(&pause, NULL);
	double t = now_ms();
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	long k = 0;
	errno = 0;
	while (readdir(d))
		k++;
	int bad = errno != 0;
	closedir(d);
	*ms = now_ms() - t;
	*entries = k;
	return bad ? -1 : 0;
}

static int names(const char *root, const char *sb, int n)
{
	double *v = calloc((size_t)n * 4, sizeof *v);
	char miss[4096], dir[4096], inside[4096];
	long entries = 0;
	if (!v)
		return 1;
	snprintf(dir, sizeof dir, "%s/%s", root, sb);
	snprintf(inside, sizeof inside, "%s/%s/info", root, sb);
	for (int i = -1; i < n; i++) {      /* one warm-up */
		double a, b, c, d;
		snprintf(miss, sizeof miss, "%s/nobody-%d-%d", root, (int)getpid(), i + 1);
		if (one_stat(miss, 0, &a) != 0 || errno != ENOENT || one_stat(dir, 1, &b) != 0 ||
		    one_stat(inside, 1, &c) != 0 || one_ls(root, &d, &entries) != 0)
			goto fail;
		if (i >= 0) {
			v[i] = a;
			v[n + i] = b;
			v[2 * n + i] = c;
			v[3 * n + i] = d;
		}
	}
	medians(v, n, 4);
	printf(" %ld\n", entries);
	return series_end(v, "names", 0);
fail:
	return series_end(v, "names", 1);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_fs mount DIR N | lib URL BOX N | fork N\n");
		return 2;
	}
	const char *mode = argv[1];
	if (strcmp(mode, "outread") == 0 && argc == 6)
		return outread(argv[2], argv[3], argv[4], argv[5]);
	if (strcmp(mode, "lookups") == 0 && argc == 5) {
		long k = strtol(argv[4], NULL, 10);
		return k >= 1 && k <= 10000 ? lookups(argv[2], argv[3], (int)k) : 2;
	}
	if (strcmp(mode, "names") == 0 && argc == 5) {
		long k = strtol(argv[4], NULL, 10);
		return k >= 1 && k <= 10000 ? names(argv[2], argv[3], (int)k) : 2;
	}
	char *end;
	errno = 0;
	long ln = strtol(argv[argc - 1], &end, 10);
	if (errno || *end || ln < 1 || ln > 1000000)
		return 2;
	int n = (int)ln;
	double *v = calloc((size_t)n, sizeof *v);
	sbx_config *cfg = NULL;
	sbx_client *c = NULL;
	sbx_exec_req *r = NULL;
	sbx_error err;
	int rc = 1;
	if (!v)
		return 1;
	if (strcmp(mode, "lib") == 0 || strcmp(mode, "history") == 0) {
		const char *argvv[] = {"true", NULL};
		cfg = sbx_config_new();
		if (!cfg || sbx_config_set_url(cfg, argv[2], &err) != SBX_OK || sbx_client_new(cfg, &c, &err) != SBX_OK)
			goto out;
		r = sbx_exec_req_new();
		if (!r || sbx_exec_req_set_argv(r, argvv, &err) != SBX_OK)
			goto out;
	}
	double t0 = 0, c0 = cpu_ms();
	for (int i = -3; i < n; i++) {      /* three warm-ups */
		double t = now_ms();
		if (i == 0)
			t0 = t;
		int ok;
		if (strcmp(mode, "mount") == 0)
			ok = one_mount(argv[2]);
		else if (strcmp(mode, "history") == 0)
			ok = i < 0 ? 0 : one_lib(c, argv[3], r);
		else if (strcmp(mode, "last") == 0)
			ok = i < -1 ? 0 : one_last(argv[2], &t);
		else if (strcmp(mode, "miss") == 0)
			ok = one_miss(argv[2], i, &t);
		else if (strcmp(mode, "lib") == 0)
			ok = one_lib(c, argv[3], r);
		else
			ok = one_fork();
		if (ok != 0) {
			fprintf(stderr, "bench_fs %s: run %d failed (%s)\n", mode, i, strerror(errno));
			goto out;
		}
		if (i >= 0)
			v[i] = now_ms() - t;
	}
	/* Only the modes without untimed pauses have a meaningful rate. */
	report(v, n, strcmp(mode, "last") && strcmp(mode, "miss") ? now_ms() - t0 : 0, cpu_ms() - c0);
	rc = 0;
out:
	sbx_exec_req_free(r);
	sbx_client_free(c);
	sbx_config_free(cfg);
	free(v);
	return rc;
}
