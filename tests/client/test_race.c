/*
 * A thread stress of one sbx_client (issue 15, reliability): many threads
 * make blocking calls at once while the server closes every few
 * connections, and an async loop's long-polls come and go beside them, as
 * sbxfs's FUSE workers and its wait thread do during 100 concurrent
 * `exec/new` starts. Before the fix the blocking calls shared one libcurl
 * connection cache (CURL_LOCK_DATA_CONNECT), which libcurl documents as not
 * safe between concurrent threads (KNOWN_BUGS "A shared connection cache is
 * not thread-safe"): this program crashed sbxfs's way ("corrupted size vs.
 * prev_size", a segfault in the connection code) within a few runs. Built
 * in every build; under ThreadSanitizer (scripts/build --tsan) it also
 * checks libsbx's own locking. Exit 0 when every call got its answer.
 * Usage: test_client_race [THREADS CALLS]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakesrv.h"
#include "sbx/sbx.h"

#define FAIL(...)                                                                                                  \
	do {                                                                                                       \
		fprintf(stderr, "test_client_race: " __VA_ARGS__);                                                 \
		fputc('\n', stderr);                                                                               \
		exit(1);                                                                                           \
	} while (0)

static const char SANDBOX[] =
	"{\"sandboxId\":\"sb1\",\"spec\":{\"command\":\"/bin/sh\"},\"status\":{\"state\":\"STATE_RUNNING\"}}";
static const char PROCESS[] = "{\"processId\":\"7\",\"sandboxId\":\"sb1\",\"state\":\"PROCESS_STATE_RUNNING\"}";

static atomic_int served;

/* Every 7th answer closes its connection: libcurl then has connections
 * to drop from the cache while other threads pick theirs from it, the
 * churn under which a shared cache broke. Long-polls answer after a short
 * hold so the loop has several in flight. */
static int handler(void *ud, int fd, const fake_req *r)
{
	(void)ud;
	int n = atomic_fetch_add(&served, 1);
	if (strstr(r->path, "/v1/extensions"))
		return fake_reply(fd, 200, "{\"extensions\":[{\"name\":\"processes\"},{\"name\":\"output\"}]}");
	if (strstr(r->path, "/processes/")) {
		usleep(2000);
		if (n % 7)
			return fake_reply(fd, 200, PROCESS);
		fake_reply_raw(fd, 200, "Content-Type: application/json\r\nConnection: close\r\n", PROCESS,
		               sizeof PROCESS - 1);
		return -1;
	}
	if (n % 7 == 0) {
		fake_reply_raw(fd, 200, "Content-Type: application/json\r\nConnection: close\r\n", SANDBOX,
		               sizeof SANDBOX - 1);
		return -1;
	}
	return fake_reply(fd, 200, SANDBOX);
}

static sbx_client *client;
static int calls = 200;
static atomic_int bad;

static void *worker(void *ud)
{
	(void)ud;
	for (int i = 0; i < calls; i++) {
		sbx_sandbox *s = NULL;
		sbx_error err;
		sbx_result r = sbx_sandbox_get(client, "sb1", 0, &s, &err);
		if (r != SBX_OK || !s || strcmp(s->id, "sb1") != 0) {
			if (atomic_fetch_add(&bad, 1) < 5)
				fprintf(stderr, "get: %s: %s\n", sbx_result_str(r), err.message);
		}
		sbx_sandbox_free(s);
	}
	return NULL;
}

typedef struct waits {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int left, ok;
} waits;

static void on_proc(void *ud, sbx_result r, const sbx_error *err, const sbx_process *p)
{
	(void)err;
	waits *w = ud;
	pthread_mutex_lock(&w->mu);
	if (r == SBX_OK && p && p->id == 7)
		w->ok++;
	w->left--;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Long-polls submitted from this thread, completed on the loop's. */
static void *poller(void *ud)
{
	sbx_async *a = ud;
	waits w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	int want = calls / 2;
	for (int i = 0; i < want; i++) {
		pthread_mutex_lock(&w.mu);
		w.left++;
		pthread_mutex_unlock(&w.mu);
		if (!sbx_async_process_wait(a, "sb1", 7, 1, on_proc, &w)) {
			pthread_mutex_lock(&w.mu);
			w.left--;
			pthread_mutex_unlock(&w.mu);
			atomic_fetch_add(&bad, 1);
		}
	}
	pthread_mutex_lock(&w.mu);
	while (w.left > 0)
		pthread_cond_wait(&w.cv, &w.mu);
	int ok = w.ok;
	pthread_mutex_unlock(&w.mu);
	if (ok != want) {
		fprintf(stderr, "async: %d of %d waits answered\n", ok, want);
		atomic_fetch_add(&bad, 1);
	}
	return NULL;
}

static int num_arg(const char *s, int lo, int hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		FAIL("bad number %s (%d..%d)", s, lo, hi);
	return (int)v;
}

int main(int argc, char **argv)
{
	int threads = 24;
	if (argc == 3) {
		threads = num_arg(argv[1], 1, 512);
		calls = num_arg(argv[2], 1, 100000);
	} else if (argc != 1) {
		FAIL("usage: test_client_race [THREADS CALLS]");
	}
	char dir[64] = "/tmp/sbxrace.XXXXXX", sock[128];
	if (!mkdtemp(dir))
		FAIL("mkdtemp: %s", strerror(errno));
	snprintf(sock, sizeof sock, "%s/s.sock", dir);
	fake_srv *srv = fake_start(sock, handler, NULL);
	if (!srv)
		FAIL("no fake server");
	char url[160];
	snprintf(url, sizeof url, "unix:%s", sock);
	sbx_config *cfg = sbx_config_new();
	if (!cfg || sbx_config_set_url(cfg, url, NULL) != SBX_OK)
		FAIL("config");
	sbx_config_set_timeouts(cfg, 5000, 20000);
	sbx_config_set_retries(cfg, 1);
	if (sbx_client_new(cfg, &client, NULL) != SBX_OK)
		FAIL("client");
	sbx_config_free(cfg);
	sbx_async *a = NULL;
	if (sbx_async_new(client, &a, NULL) != SBX_OK)
		FAIL("async");

	pthread_t *th = calloc((size_t)threads + 1, sizeof *th);
	if (!th)
		FAIL("out of memory");
	for (int i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			FAIL("pthread_create");
	if (pthread_create(&th[threads], NULL, poller, a) != 0)
		FAIL("pthread_create");
	for (int i = 0; i <= threads; i++)
		pthread_join(th[i], NULL);
	free(th);
	sbx_async_free(a);
	sbx_client_free(client);
	/* Keep-alive still holds: about one connection per answer that
	 * closes its own (1 in 7) and per thread, not one per call. */
	int conns = fake_conns(srv), nserved = atomic_load(&served);
	if (conns > nserved / 4)
		FAIL("%d connections for %d requests: keep-alive lost", conns, nserved);
	fake_stop(srv);
	unlink(sock);
	rmdir(dir);
	if (atomic_load(&bad))
		FAIL("%d calls failed of %d x %d", atomic_load(&bad), threads, calls);
	printf("%d threads x %d calls and %d long-polls: every answer right (%d served on %d connections)\n",
	       threads, calls, calls / 2, nserved, conns);
	return 0;
}
