/*
 * The program behind scripts/bench-client: times GET of one sandbox through
 * libsbx on a warm keep-alive connection over sbxd's unix socket, and the
 * same through the async loop (one op in flight at a time). Prints p50,
 * p90 and p99 in microseconds.
 * Usage: bench_client SOCKET SANDBOX_ID [ITERATIONS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sbx/sbx.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	printf("%-44s p50 %7.1f us   p90 %7.1f us   p99 %7.1f us   (n=%d)\n", what, v[n / 2], v[n * 9 / 10],
	       v[n * 99 / 100], n);
}

typedef struct one {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	sbx_result r;
} one;

static void on_sb(void *ud, sbx_result r, const sbx_error *err, const sbx_sandbox *s)
{
	one *o = ud;
	pthread_mutex_lock(&o->mu);
	o->done = 1;
	o->r = r;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s SOCKET SANDBOX_ID [ITERATIONS]\n", argv[0]);
		return 2;
	}
	int n = 2000;
	if (argc > 3) {
		char *end;
		long v = strtol(argv[3], &end, 10);
		if (*end || v < 10 || v > 1000000) {
			fprintf(stderr, "bench_client: ITERATIONS must be 10..1000000\n");
			return 2;
		}
		n = (int)v;
	}
	char url[4200];
	snprintf(url, sizeof url, "unix:%s", argv[1]);
	sbx_config *cfg = sbx_config_new();
	sbx_error e;
	sbx_client *c = NULL;
	if (sbx_config_set_url(cfg, url, &e) != SBX_OK || sbx_client_new(cfg, &c, &e) != SBX_OK) {
		fprintf(stderr, "bench_client: %s\n", e.message);
		return 1;
	}
	sbx_config_free(cfg);
	double *v = calloc((size_t)n, sizeof *v);
	for (int i = 0; i < 200; i++) {   /* warm-up: connection, caches */
		sbx_sandbox *s = NULL;
		if (sbx_sandbox_get(c, argv[2], 0, &s, &e) != SBX_OK) {
			fprintf(stderr, "bench_client: get: %s\n", e.message);
			return 1;
		}
		sbx_sandbox_free(s);
	}
	for (int i = 0; i < n; i++) {
		sbx_sandbox *s = NULL;
		double t0 = now_us();
		sbx_result r = sbx_sandbox_get(c, argv[2], 0, &s, &e);
		v[i] = now_us() - t0;
		sbx_sandbox_free(s);
		if (r != SBX_OK) {
			fprintf(stderr, "bench_client: get: %s\n", e.message);
			return 1;
		}
	}
	report("libsbx sbx_sandbox_get (warm, unix socket)", v, n);

	sbx_async *a = NULL;
	if (sbx_async_new(c, &a, &e) != SBX_OK) {
		fprintf(stderr, "bench_client: %s\n", e.message);
		return 1;
	}
	one o = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	for (int i = -200; i < n; i++) {
		double t0 = now_us();
		o.done = 0;
		sbx_async_sandbox_wait(a, argv[2], 0, on_sb, &o);
		pthread_mutex_lock(&o.mu);
		while (!o.done)
			pthread_cond_wait(&o.cv, &o.mu);
		pthread_mutex_unlock(&o.mu);
		if (o.r != SBX_OK) {
			fprintf(stderr, "bench_client: async get failed: %s\n", sbx_result_str(o.r));
			return 1;
		}
		if (i >= 0)
			v[i] = now_us() - t0;
	}
	report("libsbx async sandbox get (submit->callback)", v, n);
	sbx_async_free(a);
	sbx_client_free(c);
	free(v);
	return 0;
}
