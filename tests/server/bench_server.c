/*
 * The benchmark behind scripts/bench-server: talks to a running sbxd over its
 * unix socket with one reused libcurl handle (keep-alive, as a real client
 * would) and prints medians of create-to-RUNNING, a unary :exec of `true`,
 * start+wait of a background `true`, and fork+exec of /bin/true measured in
 * the same run, plus the throughput of reading a large output by offset.
 * The bodies are the schema's (one container, image `default` unless the
 * OCI reference is measured); URLs take the ids sbxd answers.
 * With WARM_SOCKET (a second sbxd, started with --warm-pool), also create
 * to the first :exec's answer, alternating one cold create on SOCKET (whose
 * sbxd has no pool) and one on WARM_SOCKET, each followed by its delete and
 * a pause in which the pool refills.
 * Usage: bench_server SOCKET [ITERATIONS] [OUTPUT_MIB] [OCI_REF] [WARM_SOCKET]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct buf {
	char *p;
	size_t n, cap;
	int discard;
} buf;

static size_t on_data(char *ptr, size_t sz, size_t nm, void *ud)
{
	buf *b = ud;
	size_t n = sz * nm;
	if (b->discard) {
		b->n += n;
		return n;
	}
	if (b->n + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 65536;
		while (nc < b->n + n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np)
			return 0;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, ptr, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/* The start of a create body: the spec's one container; a caller closes
 * the containers array and adds the rest of the spec. */
#define SPEC0 "{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"default\"}"

static CURL *h;
static buf body;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One request; the answer lands in `body`. Returns the HTTP status. */
static long call(const char *method, const char *path, const char *data)
{
	char url[512];
	snprintf(url, sizeof url, "http://sbxd%s", path);
	body.n = 0;
	if (body.p)
		body.p[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (data) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
	} else {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (curl_easy_perform(h) != CURLE_OK)
		return -1;
	long st = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
	return st;
}

/* Copies the string value of "key" from the last body. */
static int field(const char *key, char *out, size_t len)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	const char *p = body.p ? strstr(body.p, pat) : NULL;
	if (!p)
		return -1;
	p += strlen(pat);
	size_t n = strcspn(p, "\"");
	if (n >= len)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, long n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double p90(double *v, long n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return v[(n * 9) / 10];
}

/* Create to the first :exec's answer (`true`), each i: one on the cold
 * handle, then one on the warm one, into tc[i] and tw[i]. */
#define WARM_PAUSE_US 60000 /* the pool waits 20 ms of quiet, then makes one in ~3 ms */
static double fork_exec_ms(void)
{
	double t0 = now_ms();
	pid_t p = fork();
	if (p == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	waitpid(p, NULL, 0);
	return now_ms() - t0;
}

/* fp[i], fb[i]: fork+exec of /bin/true after the same pause as a create
 * here (idle CPUs, cold caches: what a create after a pause pays too),
 * then one right after it, in the same minutes as the creates (the
 * load of a shared machine drifts between the sections of this run). */
static int bench_first_exec(CURL *cold, CURL *warm, double *tc, double *tw, double *cc, double *cw, double *fp,
                            double *fb, long n)
{
	char id[160], path[512];
	for (long i = 0; i < 2 * n; i++) {
		if (i % 2 == 0 && i > 0) {
			fp[i / 2 - 1] = fork_exec_ms();
			fb[i / 2 - 1] = fork_exec_ms();
			usleep(WARM_PAUSE_US);
		}
		h = i % 2 ? warm : cold;
		double t0 = now_ms();
		long st = call("POST", "/v1/sandboxes", SPEC0 "]}}");
		(i % 2 ? cw : cc)[i / 2] = now_ms() - t0;
		if (st != 200 || !strstr(body.p, "STATE_RUNNING") || field("sandboxId", id, sizeof id)) {
			fprintf(stderr, "create failed (%ld): %s\n", st, body.p ? body.p : "");
			return -1;
		}
		snprintf(path, sizeof path, "/v1/sandboxes/%s:exec", id);
		st = call("POST", path, "{\"command\":[\"true\"]}");
		(i % 2 ? tw : tc)[i / 2] = now_ms() - t0;
		if (st != 200 || strstr(body.p, "\"exitCode\"")) {
			fprintf(stderr, "exec failed (%ld): %s\n", st, body.p ? body.p : "");
			return -1;
		}
		snprintf(path, sizeof path, "/v1/sandboxes/%s?gracePeriodSeconds=0", id);
		call("DELETE", path, NULL);
		usleep(WARM_PAUSE_US);
	}
	fp[n - 1] = fork_exec_ms();
	fb[n - 1] = fork_exec_ms();
	h = cold;
	return 0;
}

/* n creates of body, each to RUNNING, timed into t; deleted after. */
static int bench_create(const char *spec, double *t, long n, char **ids)
{
	char id[160], path[512];
	for (long i = 0; i < n; i++) {
		double t0 = now_ms();
		long st = call("POST", "/v1/sandboxes", spec);
		t[i] = now_ms() - t0;
		if (st != 200 || !strstr(body.p, "STATE_RUNNING") || field("sandboxId", id, sizeof id)) {
			fprintf(stderr, "create failed (%ld): %s\n", st, body.p ? body.p : "");
			return -1;
		}
		/* Deleted after the loop: a teardown running beside the next
		 * create would measure the teardown, not the create. */
		ids[i] = strdup(id);
	}
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/v1/sandboxes/%s?gracePeriodSeconds=0", ids[i]);
		call("DELETE", path, NULL);
		free(ids[i]);
	}
	sleep(2); /* sbxd tears the boxes down in the background */
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_server SOCKET [ITERATIONS] [OUTPUT_MIB] [OCI_REF]\n");
		return 2;
	}
	long n = 200, mib = 1024;
	char *end;
	if (argc > 2) {
		n = strtol(argv[2], &end, 10);
		if (*end || n < 5 || n > 100000) {
			fprintf(stderr, "ITERATIONS must be 5..100000\n");
			return 2;
		}
	}
	if (argc > 3) {
		mib = strtol(argv[3], &end, 10);
		if (*end || mib < 0 || mib > 65536) {
			fprintf(stderr, "OUTPUT_MIB must be 0..65536\n");
			return 2;
		}
	}
	/* OCI_REF: creates from that OCI image too, next to the directory one. */
	const char *oci = argc > 4 && argv[4][0] ? argv[4] : NULL;
	char oci_body[400];
	if (oci && (strlen(oci) > 255 || strpbrk(oci, "\"\\"))) {
		fprintf(stderr, "OCI_REF: a reference of at most 255 bytes\n");
		return 2;
	}
	snprintf(oci_body, sizeof oci_body, "{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"%s\"}]}}",
		 oci ? oci : "");
	double *t_oci = calloc((size_t)n, sizeof(double));
	double *t_fork = calloc((size_t)n, sizeof(double)), *t_create = calloc((size_t)n, sizeof(double));
	double *t_exec = calloc((size_t)n, sizeof(double)), *t_bg = calloc((size_t)n, sizeof(double));
	double *t_egress = calloc((size_t)n, sizeof(double));
	double *t_fp = calloc((size_t)n, sizeof(double)), *t_fb = calloc((size_t)n, sizeof(double));
	char path[512], pid[32], sid[160];
	char **ids = calloc((size_t)n, sizeof *ids);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const char *warm_sock = argc > 5 && argv[5][0] ? argv[5] : NULL;
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
	hd = curl_slist_append(hd, "Expect:");
	CURL *hw = NULL;
	for (int k = 0; k < 2; k++) {
		if (k == 1 && !warm_sock)
			break;
		CURL *c = curl_easy_init();
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, k ? warm_sock : argv[1]);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
		if (k)
			hw = c;
		else
			h = c;
	}
	double *t_fc = calloc((size_t)n, sizeof(double)), *t_fw = calloc((size_t)n, sizeof(double));
	double *t_cc = calloc((size_t)n, sizeof(double)), *t_cw = calloc((size_t)n, sizeof(double));

	for (long i = 0; i < n; i++) {
		double t0 = now_ms();
		pid_t p = fork();
		if (p == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		waitpid(p, NULL, 0);
		t_fork[i] = now_ms() - t0;
	}
	if (bench_create(SPEC0 "]}}", t_create, n, ids) != 0)
		return 1;
	if (hw && bench_first_exec(h, hw, t_fc, t_fw, t_cc, t_cw, t_fp, t_fb, n) != 0)
		return 1;
	if (oci && bench_create(oci_body, t_oci, n, ids) != 0)
		return 1;
	/* With egress: a slirp4netns and an nft load per box (no traffic). */
	long ne = n < 100 ? n : 100;
	if (bench_create(SPEC0 "],\"network\":{\"egress\":[{\"any\":true}]}}}", t_egress, ne, ids) != 0)
		return 1;
	free(ids);
	long cst = call("POST", "/v1/sandboxes", SPEC0 "],\"maxLifetimeSeconds\":3600,\"tags\":[\"sbxfs-name=bench\"]}}");
	if (cst != 200 || field("sandboxId", sid, sizeof sid)) {
		fprintf(stderr, "create failed (%ld): %s\n", cst, body.p ? body.p : "");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/v1/sandboxes/%s:exec", sid);
		double t0 = now_ms();
		long st = call("POST", path, "{\"command\":[\"true\"]}");
		t_exec[i] = now_ms() - t0;
		/* canonical JSON: an exit code of 0 is omitted */
		if (st != 200 || strstr(body.p, "\"exitCode\"")) {
			fprintf(stderr, "exec failed (%ld): %s\n", st, body.p ? body.p : "");
			return 1;
		}
	}
	for (long i = 0; i < n && i < 4000; i++) {
		snprintf(path, sizeof path, "/v1/sandboxes/%s/processes", sid);
		double t0 = now_ms();
		long st = call("POST", path, "{\"command\":[\"true\"]}");
		if (st != 200 || field("processId", pid, sizeof pid)) {
			fprintf(stderr, "start failed (%ld): %s\n", st, body.p ? body.p : "");
			return 1;
		}
		snprintf(path, sizeof path, "/v1/sandboxes/%s/processes/%s?waitSeconds=10", sid, pid);
		st = call("GET", path, NULL);
		t_bg[i] = now_ms() - t0;
		if (st != 200 || !strstr(body.p, "PROCESS_STATE_EXITED")) {
			fprintf(stderr, "wait failed (%ld): %s\n", st, body.p ? body.p : "");
			return 1;
		}
	}
	/* Output throughput: a process writes MIB MiB, then we read it all. */
	double gbps = 0;
	if (mib > 0) {
		char cmd[256];
		snprintf(cmd, sizeof cmd,
			 "{\"command\":[\"sh\",\"-c\",\"head -c %lld /dev/zero\"]}", (long long)mib << 20);
		snprintf(path, sizeof path, "/v1/sandboxes/%s/processes", sid);
		call("POST", path, cmd);
		field("processId", pid, sizeof pid);
		snprintf(path, sizeof path, "/v1/sandboxes/%s/processes/%s?waitSeconds=60", sid, pid);
		call("GET", path, NULL);
		body.discard = 1;
		long long off = 0, total = (long long)mib << 20;
		double t0 = now_ms();
		while (off < total) {
			size_t before = body.n = 0;
			snprintf(path, sizeof path, "/v1/sandboxes/%s/processes/%s/stdout?offset=%lld&length=4194304",
				 sid, pid, off);
			if (call("GET", path, NULL) != 200 || body.n == before)
				break;
			off += (long long)body.n;
		}
		double ms = now_ms() - t0;
		body.discard = 0;
		gbps = ms > 0 ? off / (ms / 1e3) / 1e9 : 0;
		if (off != total)
			fprintf(stderr, "read %lld of %lld bytes\n", off, total);
	}
	snprintf(path, sizeof path, "/v1/sandboxes/%s?gracePeriodSeconds=0", sid);
	call("DELETE", path, NULL);

	char title[64];
	snprintf(title, sizeof title, "sbxd over the unix socket (n=%ld)", n);
	printf("%-40s %10s %10s\n", title, "p50 ms", "p90 ms");
	printf("%-40s %10.3f %10.3f\n", "fork+exec /bin/true (baseline)", median(t_fork, n), p90(t_fork, n));
	printf("%-40s %10.3f %10.3f\n", "create sandbox to RUNNING", median(t_create, n), p90(t_create, n));
	printf("%-40s %10.3f %10.3f\n", "create with egress (any) to RUNNING", median(t_egress, ne), p90(t_egress, ne));
	if (oci)
		printf("%-40s %10.3f %10.3f\n", "  same, from the OCI image", median(t_oci, n), p90(t_oci, n));
	if (hw) {
		/* Against fork+exec in the same minutes (back to back, as the
		 * baseline row), and after the same pause as each create. */
		double fe = median(t_fb, n), fpm = median(t_fp, n), c = median(t_fc, n), w = median(t_fw, n);
		printf("%-40s %10.3f %10.3f\n", "fork+exec, same minutes as the creates", fe, p90(t_fb, n));
		printf("%-40s %10.3f %10.3f\n", "fork+exec, after the creates' pause", fpm, p90(t_fp, n));
		printf("%-40s %10.3f %10.3f  (%.2fx fork+exec; %.2fx after the pause)\n",
		       "create to first :exec true, cold", c, p90(t_fc, n), c / fe, c / fpm);
		printf("%-40s %10.3f %10.3f  (%.2fx fork+exec; %.2fx after the pause)\n",
		       "create to first :exec true, warm pool", w, p90(t_fw, n), w / fe, w / fpm);
		printf("%-40s %10.3f %10.3f\n", "  of which the create, cold", median(t_cc, n), p90(t_cc, n));
		printf("%-40s %10.3f %10.3f\n", "  of which the create, warm pool", median(t_cw, n), p90(t_cw, n));
	}
	printf("%-40s %10.3f %10.3f\n", ":exec true (round trip)", median(t_exec, n), p90(t_exec, n));
	long nb = n < 4000 ? n : 4000;
	printf("%-40s %10.3f %10.3f\n", "start + wait background true", median(t_bg, nb), p90(t_bg, nb));
	if (mib > 0)
		printf("%-40s %10.2f GB/s (%ld MiB, 4 MiB reads)\n", "read output by offset", gbps, mib);
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	if (hw)
		curl_easy_cleanup(hw);
	curl_global_cleanup();
	free(t_fc);
	free(t_fw);
	free(t_cc);
	free(t_cw);
	free(body.p);
	free(t_fork);
	free(t_fp);
	free(t_fb);
	free(t_create);
	free(t_egress);
	free(t_oci);
	free(t_exec);
	free(t_bg);
	return 0;
}
