/*
 * libsbx against a fault-injecting server (fakesrv.c): slow answers, 5xx
 * then success, 429 with RetryInfo, truncated bodies, resets, malformed
 * JSON, oversized bodies, silence, refused connections, TLS to a plain
 * server, the unary-exec fallback of a service without sbxd's extension,
 * sync and async, and the requests and answers of the "posix" file calls. Every case asserts the result and, where
 * deadlines matter, the elapsed time.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fakesrv.h"
#include "pubsrv.h"
#include "sbx/sbx.h"

static char dir[64], sock[128];
static fake_srv *srv;

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *SANDBOX =
	"{\"sandboxId\":\"sb1\",\"spec\":{\"command\":\"/bin/sh\"},\"status\":{\"state\":\"STATE_RUNNING\"}}";

static sbx_client *client_for(const char *url, long connect_ms, long total_ms, int attempts)
{
	sbx_config *cfg = sbx_config_new();
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(sbx_config_set_url(cfg, url, NULL), SBX_OK);
	sbx_config_set_timeouts(cfg, connect_ms, total_ms);
	sbx_config_set_retries(cfg, attempts);
	sbx_client *c = NULL;
	ck_assert_int_eq(sbx_client_new(cfg, &c, NULL), SBX_OK);
	sbx_config_free(cfg);
	return c;
}

static sbx_client *start(fake_handler h, void *ud, long total_ms, int attempts)
{
	snprintf(dir, sizeof dir, "/tmp/sbxct.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/s.sock", dir);
	srv = fake_start(sock, h, ud);
	ck_assert_ptr_nonnull(srv);
	char url[160];
	snprintf(url, sizeof url, "unix:%s", sock);
	return client_for(url, 1000, total_ms, attempts);
}

static void stop(sbx_client *c)
{
	sbx_client_free(c);
	fake_stop(srv);
	srv = NULL;
	unlink(sock);
	rmdir(dir);
}

/* ------------------------------------------------------------ handlers */

static int h_slow(void *ud, int fd, const fake_req *r)
{
	fake_hold(fd, *(int *)ud);
	return fake_reply(fd, 200, SANDBOX);
}

static int h_silent(void *ud, int fd, const fake_req *r)
{
	fake_hold(fd, 20000);
	return -1;
}

typedef struct flaky {
	int fails;          /* answer this many errors first */
	int http, code;
	const char *retry;
	int seen;
	char rid[3][80];    /* the requestId of the first process starts */
	pthread_mutex_t mu;
} flaky;

static int h_flaky(void *ud, int fd, const fake_req *r)
{
	flaky *f = ud;
	pthread_mutex_lock(&f->mu);
	int n = f->seen++;
	const char *q = r->body ? strstr(r->body, "\"requestId\":\"") : NULL;
	if (q && n < 3)
		snprintf(f->rid[n], sizeof f->rid[n], "%.40s", q + 13);
	pthread_mutex_unlock(&f->mu);
	if (n < f->fails)
		return fake_reply_status(fd, f->http, f->code, "CWSANDBOX_UNAVAILABLE", "try later", f->retry);
	if (strcmp(r->method, "POST") == 0 && strstr(r->path, "/processes"))
		return fake_reply(fd, 200, "{\"processId\":\"1\",\"command\":[\"x\"]}");
	if (strcmp(r->path, "/v1/extensions") == 0)
		return fake_reply(fd, 200, "{\"extensions\":[\"processes\",\"output\",\"files\"]}");
	return fake_reply(fd, 200, SANDBOX);
}

static int h_truncated(void *ud, int fd, const fake_req *r)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"sandboxId\":";
	if (write(fd, head, strlen(head)) < 0)
		return -1;
	return -1;
}

static int h_reset(void *ud, int fd, const fake_req *r)
{
	fake_reset(fd);
	return -1;
}

static int h_malformed(void *ud, int fd, const fake_req *r)
{
	return fake_reply(fd, 200, "{\"sandboxId\": \"sb1\", ");
}

static int h_deep(void *ud, int fd, const fake_req *r)
{
	char body[256];
	memset(body, '[', 100);
	memset(body + 100, ']', 100);
	body[200] = '\0';
	return fake_reply(fd, 200, body);
}

static int h_huge(void *ud, int fd, const fake_req *r)
{
	/* 65 MiB of JSON string: over the 64 MiB cap. */
	size_t n = (size_t)65 << 20;
	char *b = malloc(n);
	if (!b)
		return -1;
	memset(b, 'a', n);
	b[0] = '"';
	b[n - 1] = '"';
	int rc = fake_reply_raw(fd, 200, NULL, b, n);
	free(b);
	return rc;
}

static int h_huge_chunked(void *ud, int fd, const fake_req *r)
{
	const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
	if (write(fd, head, strlen(head)) < 0)
		return -1;
	static char chunk[1 << 20];
	memset(chunk, 'a', sizeof chunk);
	char hdr[32];
	for (int i = 0; i < 70; i++) {
		int k = snprintf(hdr, sizeof hdr, "%x\r\n", (unsigned)sizeof chunk);
		if (write(fd, hdr, (size_t)k) < 0 || write(fd, chunk, sizeof chunk) < 0 || write(fd, "\r\n", 2) < 0)
			return -1;
	}
	return -1;
}

static int h_notfound(void *ud, int fd, const fake_req *r)
{
	return fake_reply_status(fd, 404, 5, "CWSANDBOX_SANDBOX_NOT_FOUND", "sandbox sb1 not found", NULL);
}

static int h_auth(void *ud, int fd, const fake_req *r)
{
	char *seen = ud;
	snprintf(seen, 512, "%s", r->auth);
	return fake_reply_status(fd, 401, 16, "CWSANDBOX_UNAUTHENTICATED", "bad token", NULL);
}

/* ------------------------------------------------------------ tests */

START_TEST(slow_answer_within_deadline)
{
	int ms = 300;
	sbx_client *c = start(h_slow, &ms, 2000, 1);
	sbx_sandbox *s = NULL;
	long t0 = now_ms();
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, NULL), SBX_OK);
	ck_assert_int_ge(now_ms() - t0, 290);
	ck_assert_str_eq(s->id, "sb1");
	ck_assert_int_eq(s->state, SBX_STATE_RUNNING);
	sbx_sandbox_free(s);
	stop(c);
}
END_TEST

START_TEST(slow_answer_past_deadline)
{
	int ms = 5000;
	sbx_client *c = start(h_slow, &ms, 400, 3);
	sbx_sandbox *s = NULL;
	sbx_error e;
	long t0 = now_ms();
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, &e), SBX_E_TIMEOUT);
	long dt = now_ms() - t0;
	ck_assert_int_ge(dt, 380);
	ck_assert_int_lt(dt, 1500);   /* our own deadline is not retried */
	ck_assert_int_eq(sbx_error_errno(&e), ETIMEDOUT);
	ck_assert_ptr_null(s);
	stop(c);
}
END_TEST

START_TEST(silent_server_times_out)
{
	sbx_client *c = start(h_silent, NULL, 500, 3);
	sbx_error e;
	long t0 = now_ms();
	ck_assert_int_eq(sbx_sandbox_delete(c, "sb1", 0, 0, &e), SBX_E_TIMEOUT);
	long dt = now_ms() - t0;
	ck_assert_int_ge(dt, 480);
	ck_assert_int_lt(dt, 1500);
	stop(c);
}
END_TEST

START_TEST(unavailable_then_success)
{
	flaky f = {.fails = 2, .http = 503, .code = 14};
	pthread_mutex_init(&f.mu, NULL);
	sbx_client *c = start(h_flaky, &f, 5000, 3);
	sbx_sandbox *s = NULL;
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, NULL), SBX_OK);
	ck_assert_int_eq(f.seen, 3);
	sbx_sandbox_free(s);
	stop(c);
}
END_TEST

START_TEST(unavailable_gives_up)
{
	flaky f = {.fails = 100, .http = 503, .code = 14};
	pthread_mutex_init(&f.mu, NULL);
	sbx_client *c = start(h_flaky, &f, 5000, 3);
	sbx_sandbox *s = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, &e), SBX_E_UNAVAILABLE);
	ck_assert_int_eq(f.seen, 3);
	ck_assert_int_eq(e.http_status, 503);
	ck_assert_int_eq(e.grpc_code, 14);
	ck_assert_str_eq(e.message, "try later");
	ck_assert_int_eq(sbx_error_errno(&e), EHOSTDOWN);
	stop(c);
}
END_TEST

START_TEST(exhausted_honours_retry_info)
{
	flaky f = {.fails = 1, .http = 429, .code = 8, .retry = "0.300s"};
	pthread_mutex_init(&f.mu, NULL);
	sbx_client *c = start(h_flaky, &f, 5000, 3);
	sbx_sandbox *s = NULL;
	long t0 = now_ms();
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, NULL), SBX_OK);
	ck_assert_int_ge(now_ms() - t0, 295);
	ck_assert_int_eq(f.seen, 2);
	sbx_sandbox_free(s);
	stop(c);
}
END_TEST

START_TEST(exhausted_without_retry_info_is_final)
{
	flaky f = {.fails = 5, .http = 429, .code = 8};
	pthread_mutex_init(&f.mu, NULL);
	sbx_client *c = start(h_flaky, &f, 5000, 3);
	sbx_sandbox *s = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, &e), SBX_E_EXHAUSTED);
	ck_assert_int_eq(f.seen, 1);
	ck_assert_int_eq(e.retry_delay_ms, -1);
	ck_assert_int_eq(sbx_error_errno(&e), EAGAIN);
	stop(c);
}
END_TEST

START_TEST(retry_delay_past_deadline_gives_up)
{
	flaky f = {.fails = 1, .http = 429, .code = 8, .retry = "30s"};
	pthread_mutex_init(&f.mu, NULL);
	sbx_client *c = start(h_flaky, &f, 1000, 3);
	sbx_sandbox *s = NULL;
	sbx_error e;
	long t0 = now_ms();
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, &e), SBX_E_EXHAUSTED);
	ck_assert_int_lt(now_ms() - t0, 500);
	ck_assert_int_eq(e.retry_delay_ms, 30000);
	stop(c);
}
END_TEST

START_TEST(unsafe_call_not_retried)
{
	/* The first call is the extension probe (it succeeds); a signal
	 * then meets a 503 and must not be repeated, while a start (safe
	 * with its requestId) is. */
	flaky f = {.fails = 0, .http = 503, .code = 14};
	pthread_mutex_init(&f.mu, NULL);
	sbx_client *c = start(h_flaky, &f, 5000, 3);
	unsigned feats = 0;
	ck_assert_int_eq(sbx_client_features(c, &feats, NULL), SBX_OK);
	ck_assert_uint_eq(feats, SBX_FEAT_PROCESSES | SBX_FEAT_OUTPUT | SBX_FEAT_FILES);
	pthread_mutex_lock(&f.mu);
	f.fails = 100;
	f.seen = 0;
	pthread_mutex_unlock(&f.mu);
	sbx_exec_req *r = NULL;
	ck_assert_int_eq(sbx_exec_req_parse("true", 4, &r, NULL), SBX_OK);
	sbx_process *p = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_process_signal(c, "sb1", 1, 15, &e), SBX_E_UNAVAILABLE);
	ck_assert_int_eq(f.seen, 1);
	pthread_mutex_lock(&f.mu);
	f.seen = 0;
	pthread_mutex_unlock(&f.mu);
	ck_assert_int_eq(sbx_process_start(c, "sb1", r, &p, &e), SBX_E_UNAVAILABLE);
	ck_assert_int_eq(f.seen, 3);
	/* every try carried the same request id */
	ck_assert(f.rid[0][0] != '\0');
	ck_assert_str_eq(f.rid[0], f.rid[1]);
	ck_assert_str_eq(f.rid[0], f.rid[2]);
	sbx_exec_req_free(r);
	stop(c);
}
END_TEST

START_TEST(truncated_body)
{
	sbx_client *c = start(h_truncated, NULL, 2000, 3);
	sbx_sandbox *s = NULL;
	sbx_error e;
	sbx_result r = sbx_sandbox_get(c, "sb1", 0, &s, &e);
	ck_assert_int_eq(r, SBX_E_PROTOCOL);
	ck_assert_int_eq(sbx_error_errno(&e), EIO);
	stop(c);
}
END_TEST

START_TEST(connection_reset)
{
	sbx_client *c = start(h_reset, NULL, 2000, 3);
	sbx_sandbox *s = NULL;
	sbx_error e;
	sbx_result r = sbx_sandbox_get(c, "sb1", 0, &s, &e);
	ck_assert_msg(r == SBX_E_NETWORK || r == SBX_E_PROTOCOL, "got %s", sbx_result_str(r));
	ck_assert_int_eq(sbx_error_errno(&e), EIO);
	stop(c);
}
END_TEST

/* Answers that are not a usable record: each call fails with `want`; where
 * a case names them, the error's errno and HTTP status are checked too. */
static const struct {
	fake_handler h;
	long total_ms;
	sbx_result want;
	int want_errno;
	int want_status;
} bad_answers[] = {
	{h_malformed, 2000, SBX_E_PROTOCOL, 0, 200},     /* malformed JSON */
	{h_deep, 2000, SBX_E_PROTOCOL, 0, 0},            /* JSON nested too deep */
	{h_huge, 20000, SBX_E_TOO_LARGE, EFBIG, 0},       /* oversized body */
	{h_huge_chunked, 20000, SBX_E_TOO_LARGE, 0, 0},   /* oversized chunked body */
};

START_TEST(bad_answer_table)
{
	sbx_client *c = start(bad_answers[_i].h, NULL, bad_answers[_i].total_ms, 3);
	sbx_sandbox *s = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, &e), bad_answers[_i].want);
	if (bad_answers[_i].want_errno)
		ck_assert_int_eq(sbx_error_errno(&e), bad_answers[_i].want_errno);
	if (bad_answers[_i].want_status)
		ck_assert_int_eq(e.http_status, bad_answers[_i].want_status);
	stop(c);
}
END_TEST

START_TEST(not_found_status)
{
	sbx_client *c = start(h_notfound, NULL, 2000, 3);
	sbx_sandbox *s = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, &e), SBX_E_NOT_FOUND);
	ck_assert_str_eq(e.reason, "CWSANDBOX_SANDBOX_NOT_FOUND");
	ck_assert_str_eq(e.domain, "cwsandbox.com");
	ck_assert_str_eq(e.message, "sandbox sb1 not found");
	ck_assert_int_eq(e.grpc_code, 5);
	ck_assert_int_eq(sbx_error_errno(&e), ENOENT);
	/* allow_missing turns a missing sandbox into success */
	ck_assert_int_eq(sbx_sandbox_delete(c, "sb1", 1, 1, NULL), SBX_OK);
	ck_assert_int_eq(sbx_sandbox_delete(c, "sb1", 1, 0, NULL), SBX_E_NOT_FOUND);
	stop(c);
}
END_TEST

START_TEST(token_sent_never_shown)
{
	char seen[512] = "";
	snprintf(dir, sizeof dir, "/tmp/sbxct.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/s.sock", dir);
	srv = fake_start(sock, h_auth, seen);
	char url[160];
	snprintf(url, sizeof url, "unix:%s", sock);
	sbx_config *cfg = sbx_config_new();
	ck_assert_int_eq(sbx_config_set_url(cfg, url, NULL), SBX_OK);
	ck_assert_int_eq(sbx_config_set_token(cfg, "s3cr3t-tok", NULL), SBX_OK);
	sbx_client *c = NULL;
	ck_assert_int_eq(sbx_client_new(cfg, &c, NULL), SBX_OK);
	sbx_config_free(cfg);
	sbx_sandbox *s = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, &e), SBX_E_UNAUTHENTICATED);
	ck_assert_str_eq(seen, "Authorization: Bearer s3cr3t-tok");
	ck_assert_ptr_null(strstr(e.message, "s3cr3t"));
	/* UNAUTHENTICATED is EACCES (wire.md section 6) */
	ck_assert_int_eq(sbx_error_errno(&e), EACCES);
	stop(c);
}
END_TEST

START_TEST(connection_refused)
{
	sbx_client *c = client_for("unix:/nonexistent/sbxd.sock", 500, 1000, 3);
	sbx_sandbox *s = NULL;
	sbx_error e;
	long t0 = now_ms();
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &s, &e), SBX_E_CONNREFUSED);
	ck_assert_int_lt(now_ms() - t0, 500);
	ck_assert_int_eq(sbx_error_errno(&e), ECONNREFUSED);
	ck_assert_int_eq(e.http_status, 0);
	sbx_client_free(c);
}
END_TEST

START_TEST(resolve_failure)
{
	sbx_client *c = client_for("http://no-such-host.invalid:8080", 1000, 3000, 1);
	sbx_sandbox *s = NULL;
	sbx_error e;
	sbx_result r = sbx_sandbox_get(c, "sb1", 0, &s, &e);
	ck_assert_msg(r == SBX_E_RESOLVE || r == SBX_E_TIMEOUT, "got %s", sbx_result_str(r));
	sbx_client_free(c);
}
END_TEST

START_TEST(accept_queue_full)
{
	/* A listener that never accepts, its queue filled by raw connects:
	 * the service is there but overloaded, which is UNAVAILABLE (and
	 * retried), not "connection refused". */
	snprintf(dir, sizeof dir, "/tmp/sbxct.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/s.sock", dir);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	ck_assert_int_lt(strlen(sock), sizeof a.sun_path);
	memcpy(a.sun_path, sock, strlen(sock) + 1);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(l, 0), 0);
	int fill[8], nfill = 0;
	for (int i = 0; i < 8; i++) {
		int f = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(f, (struct sockaddr *)&a, sizeof a) != 0) {
			close(f);
			break;
		}
		fill[nfill++] = f;
	}
	char url[160];
	snprintf(url, sizeof url, "unix:%s", sock);
	sbx_client *c = client_for(url, 500, 1000, 2);
	sbx_sandbox *s = NULL;
	sbx_error e;
	long t0 = now_ms();
	sbx_result r = sbx_sandbox_get(c, "sb1", 0, &s, &e);
	ck_assert_msg(r == SBX_E_UNAVAILABLE, "got %s: %s", sbx_result_str(r), e.message);
	ck_assert_int_eq(sbx_error_errno(&e), EHOSTDOWN);
	ck_assert_int_lt(now_ms() - t0, 1000);
	sbx_client_free(c);
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(l);
	unlink(sock);
	rmdir(dir);
}
END_TEST

START_TEST(out_of_fds_is_not_refused)
{
	/* A service that listens, and a client with no descriptor left to
	 * reach it: EMFILE with its own result and errno, never "connection
	 * refused" (which would send a user looking for a dead service). */
	snprintf(dir, sizeof dir, "/tmp/sbxct.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/s.sock", dir);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	ck_assert_int_lt(strlen(sock), sizeof a.sun_path);
	memcpy(a.sun_path, sock, strlen(sock) + 1);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(l, 16), 0);
	char url[160];
	snprintf(url, sizeof url, "unix:%s", sock);
	sbx_client *c = client_for(url, 500, 1000, 2);
	struct rlimit old, low;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 128;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	int fill[128], nfill = 0;
	while (nfill < 128) {
		int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (f < 0) {
			ck_assert_int_eq(errno, EMFILE);
			break;
		}
		fill[nfill++] = f;
	}
	ck_assert_int_lt(nfill, 128);
	sbx_sandbox *s = NULL;
	sbx_error e;
	sbx_result r = sbx_sandbox_get(c, "sb1", 0, &s, &e);
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	setrlimit(RLIMIT_NOFILE, &old);
	ck_assert_msg(r == SBX_E_NOFILE, "got %s: %s", sbx_result_str(r), e.message);
	ck_assert_int_eq(sbx_error_errno(&e), EMFILE);
	ck_assert_ptr_nonnull(strstr(e.message, "Too many open files"));
	ck_assert_ptr_null(strstr(e.message, "refused"));
	ck_assert_str_eq(sbx_result_str(r), "too many open files");
	sbx_client_free(c);
	close(l);
	unlink(sock);
	rmdir(dir);
}
END_TEST

typedef struct pages {
	char first_query[512];
	int loop;   /* answer the same token forever */
} pages;

static int h_pages(void *ud, int fd, const fake_req *r)
{
	pages *pg = ud;
	const char *q = strchr(r->path, '?');
	if (!strstr(r->path, "pageToken="))
		snprintf(pg->first_query, sizeof pg->first_query, "%s", q ? q : "");
	if (pg->loop)
		return fake_reply(fd, 200, "{\"sandboxes\": [{\"sandboxId\": \"x\"}], \"nextPageToken\": \"same\"}");
	if (strstr(r->path, "pageToken=p%2F3"))
		return fake_reply(fd, 200, "{\"sandboxes\": [{\"sandboxId\": \"s5\"}]}");
	if (strstr(r->path, "pageToken=p2"))
		return fake_reply(fd, 200,
		                  "{\"sandboxes\": [{\"sandboxId\": \"s3\"}, {\"sandboxId\": \"s4\"}], \"nextPageToken\": \"p/3\"}");
	return fake_reply(fd, 200,
	                  "{\"sandboxes\": [{\"sandboxId\": \"s1\"}, {\"sandboxId\": \"s2\"}], \"nextPageToken\": \"p2\"}");
}

START_TEST(list_all_pages)
{
	pages pg = {0};
	sbx_client *c = start(h_pages, &pg, 2000, 1);
	const char *tags[] = {"a b", "c,d", NULL};
	sbx_list_filter f = {.tags = tags, .state = SBX_STATE_RUNNING, .show_terminated = 1};
	sbx_sandbox **v = NULL;
	size_t n = 0;
	ck_assert_int_eq(sbx_sandbox_list(c, &f, &v, &n, NULL), SBX_OK);
	ck_assert_int_eq(n, 5);
	for (size_t i = 0; i < n; i++) {
		char want[32];
		snprintf(want, sizeof want, "s%zu", i + 1);
		ck_assert_str_eq(v[i]->id, want);
	}
	sbx_sandbox_list_free(v, n);
	ck_assert_str_eq(pg.first_query, "?pageSize=1000&tags=a%20b&tags=c%2Cd&state=STATE_RUNNING&showTerminated=true");
	/* a service that repeats its page token does not loop forever */
	pg.loop = 1;
	sbx_error e;
	ck_assert_int_eq(sbx_sandbox_list(c, NULL, &v, &n, &e), SBX_E_PROTOCOL);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(n, 0);
	stop(c);
}
END_TEST

static int h_output(void *ud, int fd, const fake_req *r)
{
	if (strcmp(r->path, "/v1/extensions") == 0)
		return fake_reply(fd, 200, "{\"extensions\":[\"processes\",\"output\",\"files\"]}");
	if (strstr(r->path, "/processes/2/stdout"))   /* more than asked for */
		return fake_reply_raw(fd, 200, "Content-Type: application/octet-stream\r\n", "0123456789abcdef", 16);
	if (strstr(r->path, "/processes/3/stdout"))   /* no X-Sbx headers at all */
		return fake_reply_raw(fd, 200, "Content-Type: application/octet-stream\r\n", "xy", 2);
	if (strstr(r->path, "/processes/1/stderr?offset=5&length=10&waitSeconds=2") ||
	    strstr(r->path, "/v1/sandboxes/sb1/stdout?offset=5&length=10&waitSeconds=2"))
		return fake_reply_raw(fd, 200,
		                      "Content-Type: application/octet-stream\r\nX-Sbx-Offset:  5\r\nx-sbx-size: 8\r\n"
		                      "X-SBX-EOF: 1\r\n",
		                      "a\0c", 3);
	return fake_reply_status(fd, 404, 5, "CWSANDBOX_PROCESS_NOT_FOUND", "no such process", NULL);
}

START_TEST(output_reads)
{
	sbx_client *c = start(h_output, NULL, 2000, 1);
	char buf[10];
	sbx_chunk ch;
	sbx_error e;
	/* headers in any case and spacing; bytes with a NUL go through */
	ck_assert_int_eq(sbx_output_read(c, "sb1", 1, SBX_STDERR, 5, buf, sizeof buf, 2, &ch, &e), SBX_OK);
	ck_assert_int_eq(ch.len, 3);
	ck_assert_ptr_eq(ch.data, buf);
	ck_assert_int_eq(memcmp(buf, "a\0c", 3), 0);
	ck_assert_int_eq(ch.offset, 5);
	ck_assert_int_eq(ch.size, 8);
	ck_assert_int_eq(ch.eof, 1);
	/* the main command's output has its own path */
	ck_assert_int_eq(sbx_output_read(c, "sb1", SBX_MAIN, SBX_STDOUT, 5, buf, sizeof buf, 2, &ch, &e), SBX_OK);
	ck_assert_int_eq(ch.eof, 1);
	/* a service sending more than asked for: an error, not an overflow */
	ck_assert_int_eq(sbx_output_read(c, "sb1", 2, SBX_STDOUT, 0, buf, sizeof buf, 0, &ch, &e), SBX_E_TOO_LARGE);
	/* no headers: offset as asked, size what came, not at the end */
	ck_assert_int_eq(sbx_output_read(c, "sb1", 3, SBX_STDOUT, 4, buf, sizeof buf, 0, &ch, &e), SBX_OK);
	ck_assert_int_eq(ch.offset, 4);
	ck_assert_int_eq(ch.size, 6);
	ck_assert_int_eq(ch.eof, 0);
	ck_assert_int_eq(sbx_output_read(c, "sb1", 9, SBX_STDOUT, 0, buf, sizeof buf, 0, &ch, &e), SBX_E_NOT_FOUND);
	ck_assert_str_eq(e.reason, "CWSANDBOX_PROCESS_NOT_FOUND");
	ck_assert_int_eq(sbx_output_read(c, "sb1", 1, SBX_STDOUT, -1, buf, sizeof buf, 0, &ch, &e), SBX_E_INVALID);
	ck_assert_int_eq(sbx_output_read(c, "sb1", 1, SBX_STDOUT, 0, buf, 0, 0, &ch, &e), SBX_E_INVALID);
	stop(c);
}
END_TEST

static int h_plain(void *ud, int fd, const fake_req *r)
{
	return fake_reply(fd, 200, SANDBOX);
}

static int h_garbage(void *ud, int fd, const fake_req *r)
{
	return 0;
}

START_TEST(tls_to_plain_server)
{
	/* A server that answers a ClientHello with plain HTTP: a TLS failure,
	 * never a silent fallback to cleartext. */
	fake_srv *s = fake_start(NULL, h_garbage, NULL);
	ck_assert_ptr_nonnull(s);
	char url[64];
	snprintf(url, sizeof url, "https://127.0.0.1:%d", fake_port(s));
	sbx_client *c = client_for(url, 1000, 2000, 1);
	sbx_sandbox *sb = NULL;
	sbx_error e;
	sbx_result r = sbx_sandbox_get(c, "sb1", 0, &sb, &e);
	ck_assert_msg(r == SBX_E_TLS || r == SBX_E_TIMEOUT, "got %s: %s", sbx_result_str(r), e.message);
	sbx_client_free(c);
	fake_stop(s);
}
END_TEST

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *b = calloc(1, 65536);
	size_t n = fread(b, 1, 65535, f);
	fclose(f);
	b[n] = '\0';
	return b;
}

START_TEST(tls_verification)
{
	/* A self-signed certificate for "localhost" only: untrusted without
	 * the CA file, trusted with it, and still refused for another name. */
	snprintf(dir, sizeof dir, "/tmp/sbxct.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost "
	         "-addext subjectAltName=DNS:localhost -keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
	         dir, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "tls_verification: no openssl tool, not run\n");
		return;
	}
	char kp[128], cp[128];
	snprintf(kp, sizeof kp, "%s/key.pem", dir);
	snprintf(cp, sizeof cp, "%s/cert.pem", dir);
	char *key = slurp(kp), *cert = slurp(cp);
	int port = 0;
	pub_srv *ps = pub_start_tls(key, cert, &port);
	ck_assert_ptr_nonnull(ps);
	char url[128];
	sbx_spec *sp = sbx_spec_new();
	sbx_sandbox *sb = NULL;
	sbx_error e;

	snprintf(url, sizeof url, "https://localhost:%d", port);
	sbx_client *c = client_for(url, 1000, 3000, 1);
	sbx_result r = sbx_sandbox_create(c, sp, &sb, &e);
	ck_assert_msg(r == SBX_E_TLS, "untrusted: %s", sbx_result_str(r));
	ck_assert_int_eq(sbx_error_errno(&e), EIO);
	sbx_client_free(c);

	sbx_config *cfg = sbx_config_new();
	ck_assert_int_eq(sbx_config_set_url(cfg, url, NULL), SBX_OK);
	ck_assert_int_eq(sbx_config_set_ca_file(cfg, cp, NULL), SBX_OK);
	ck_assert_int_eq(sbx_config_set_token(cfg, "tok", NULL), SBX_OK);
	ck_assert_int_eq(sbx_client_new(cfg, &c, NULL), SBX_OK);
	r = sbx_sandbox_create(c, sp, &sb, &e);
	ck_assert_msg(r == SBX_OK, "trusted: %s: %s", sbx_result_str(r), e.message);
	ck_assert_int_eq(sb->state, SBX_STATE_RUNNING);
	sbx_sandbox_free(sb);
	sbx_client_free(c);

	/* the right CA but the wrong name */
	snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
	ck_assert_int_eq(sbx_config_set_url(cfg, url, NULL), SBX_OK);
	ck_assert_int_eq(sbx_client_new(cfg, &c, NULL), SBX_OK);
	r = sbx_sandbox_create(c, sp, &sb, &e);
	ck_assert_msg(r == SBX_E_TLS, "wrong name: %s", sbx_result_str(r));
	sbx_client_free(c);
	sbx_config_free(cfg);

	sbx_spec_free(sp);
	pub_stop(ps);
	free(key);
	free(cert);
	unlink(kp);
	unlink(cp);
	rmdir(dir);
}
END_TEST

START_TEST(tcp_plain_ok)
{
	fake_srv *s = fake_start(NULL, h_plain, NULL);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", fake_port(s));
	sbx_client *c = client_for(url, 1000, 2000, 1);
	sbx_sandbox *sb = NULL;
	ck_assert_int_eq(sbx_sandbox_get(c, "sb1", 0, &sb, NULL), SBX_OK);
	ck_assert_str_eq(sb->id, "sb1");
	sbx_sandbox_free(sb);
	sbx_client_free(c);
	fake_stop(s);
}
END_TEST

/* ------------------------------------------------------------ fallback */

/* A service with only the public unary calls: no /v1/extensions, no
 * processes. Its :exec takes 300 ms and prints "hello". */
typedef struct pubsrv {
	int execs;
	pthread_mutex_t mu;
} pubsrv;

static int h_public(void *ud, int fd, const fake_req *r)
{
	pubsrv *p = ud;
	if (strncmp(r->path, "/v1/sandboxes/sb1:exec", 22) == 0 && strcmp(r->method, "POST") == 0) {
		pthread_mutex_lock(&p->mu);
		p->execs++;
		pthread_mutex_unlock(&p->mu);
		fake_hold(fd, 300);
		if (strstr(r->body, "fail"))
			return fake_reply_status(fd, 400, 9, "CWSANDBOX_SANDBOX_NOT_RUNNING", "sandbox sb1 is not running",
			                         NULL);
		return fake_reply(fd, 200, "{\"exitCode\":3,\"stdout\":\"aGVsbG8K\",\"stderr\":\"ZXJy\",\"stdoutBytes\":\"6\"}");
	}
	if (strcmp(r->path, "/v1/sandboxes/sb1") == 0)
		return fake_reply(fd, 200, SANDBOX);
	if (strcmp(r->path, "/v1/sandboxes/sb2") == 0)
		return fake_reply(fd, 200, "{\"sandboxId\":\"sb2\",\"status\":{\"state\":\"STATE_COMPLETED\"}}");
	return fake_reply_status(fd, 404, 12, "CWSANDBOX_UNIMPLEMENTED", "no such call", NULL);
}

START_TEST(fallback_processes)
{
	pubsrv ps = {0};
	pthread_mutex_init(&ps.mu, NULL);
	sbx_client *c = start(h_public, &ps, 3000, 1);
	unsigned feats = 99;
	ck_assert_int_eq(sbx_client_features(c, &feats, NULL), SBX_OK);
	ck_assert_uint_eq(feats, 0);

	sbx_exec_req *r = NULL;
	ck_assert_int_eq(sbx_exec_req_parse("echo hello\n", 11, &r, NULL), SBX_OK);
	sbx_process *p = NULL;
	ck_assert_int_eq(sbx_process_start(c, "sb1", r, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->id, 1);
	ck_assert_int_eq(p->state, SBX_PROC_RUNNING);
	ck_assert_str_eq(p->argv[2], "echo hello");
	sbx_process_free(p);

	ck_assert_int_eq(sbx_process_get(c, "sb1", 1, 0, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->state, SBX_PROC_RUNNING);
	sbx_process_free(p);

	/* a read waits for the exec to return, then gets everything */
	char buf[64];
	sbx_chunk ch;
	long t0 = now_ms();
	ck_assert_int_eq(sbx_output_read(c, "sb1", 1, SBX_STDOUT, 0, buf, sizeof buf, 5, &ch, NULL), SBX_OK);
	ck_assert_int_lt(now_ms() - t0, 2000);
	ck_assert_int_eq(ch.len, 6);
	ck_assert_int_eq(memcmp(buf, "hello\n", 6), 0);
	ck_assert_int_eq(ch.eof, 1);
	ck_assert_int_eq(ch.size, 6);
	ck_assert_int_eq(sbx_output_read(c, "sb1", 1, SBX_STDERR, 1, buf, sizeof buf, 0, &ch, NULL), SBX_OK);
	ck_assert_int_eq(ch.len, 2);
	ck_assert_int_eq(memcmp(buf, "rr", 2), 0);
	ck_assert_int_eq(ch.offset, 1);

	ck_assert_int_eq(sbx_process_get(c, "sb1", 1, 5, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->state, SBX_PROC_EXITED);
	ck_assert_int_eq(p->exit_code, 3);
	ck_assert_int_eq(p->stdout_bytes, 6);
	sbx_process_free(p);

	/* a second one gets id 2; list is in id order */
	ck_assert_int_eq(sbx_process_start(c, "sb1", r, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->id, 2);
	sbx_process_free(p);
	sbx_process **v = NULL;
	size_t n = 0;
	ck_assert_int_eq(sbx_process_list(c, "sb1", &v, &n, NULL), SBX_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(v[0]->id, 1);
	ck_assert_int_eq(v[1]->id, 2);
	sbx_process_list_free(v, n);

	sbx_error e;
	ck_assert_int_eq(sbx_process_signal(c, "sb1", 2, 15, &e), SBX_E_UNSUPPORTED);
	ck_assert_int_eq(sbx_error_errno(&e), ENOTSUP);
	ck_assert_int_eq(sbx_process_write_stdin(c, "sb1", 2, "x", 1, &e), SBX_E_UNSUPPORTED);
	ck_assert_int_eq(sbx_process_close_stdin(c, "sb1", 2, &e), SBX_E_UNSUPPORTED);
	ck_assert_int_eq(sbx_output_read(c, "sb1", SBX_MAIN, SBX_STDOUT, 0, buf, sizeof buf, 0, &ch, &e),
	                 SBX_E_UNSUPPORTED);
	ck_assert_int_eq(sbx_process_get(c, "sb1", 9, 0, &p, &e), SBX_E_NOT_FOUND);
	ck_assert_int_eq(sbx_error_errno(&e), ENOENT);
	/* a sandbox that is not running refuses at start */
	ck_assert_int_eq(sbx_process_start(c, "sb2", r, &p, &e), SBX_E_PRECONDITION);
	/* a stdin process cannot be faked */
	sbx_exec_req_set_stdin(r, 1);
	ck_assert_int_eq(sbx_process_start(c, "sb1", r, &p, &e), SBX_E_UNSUPPORTED);
	sbx_exec_req_free(r);

	/* the exec fails on the service: FAILED with its message on stderr */
	ck_assert_int_eq(sbx_exec_req_parse("fail", 4, &r, NULL), SBX_OK);
	ck_assert_int_eq(sbx_process_start(c, "sb1", r, &p, NULL), SBX_OK);
	int64_t id = p->id;
	sbx_process_free(p);
	ck_assert_int_eq(sbx_process_get(c, "sb1", id, 5, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->state, SBX_PROC_FAILED);
	sbx_process_free(p);
	ck_assert_int_eq(sbx_output_read(c, "sb1", id, SBX_STDERR, 0, buf, sizeof buf, 0, &ch, NULL), SBX_OK);
	ck_assert_int_gt(ch.len, 0);
	sbx_exec_req_free(r);
	stop(c);
}
END_TEST

typedef struct waitres {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	sbx_result r;
	int state, exit_code;
	char data[64];
	size_t len;
	int eof;
	long at;
} waitres;

static void on_proc(void *ud, sbx_result r, const sbx_error *err, const sbx_process *p)
{
	waitres *w = ud;
	pthread_mutex_lock(&w->mu);
	w->r = r;
	if (p) {
		w->state = p->state;
		w->exit_code = p->exit_code;
	}
	w->done = 1;
	w->at = now_ms();
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void on_output(void *ud, sbx_result r, const sbx_error *err, const sbx_chunk *ch)
{
	waitres *w = ud;
	pthread_mutex_lock(&w->mu);
	w->r = r;
	if (ch) {
		w->len = ch->len < sizeof w->data ? ch->len : sizeof w->data;
		memcpy(w->data, ch->data, w->len);
		w->eof = ch->eof;
	}
	w->done = 1;
	w->at = now_ms();
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void wait_done(waitres *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

static void waitres_init(waitres *w)
{
	memset(w, 0, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
}

START_TEST(fallback_async)
{
	pubsrv ps = {0};
	pthread_mutex_init(&ps.mu, NULL);
	sbx_client *c = start(h_public, &ps, 3000, 1);
	sbx_async *a = NULL;
	ck_assert_int_eq(sbx_async_new(c, &a, NULL), SBX_OK);
	sbx_exec_req *r = NULL;
	ck_assert_int_eq(sbx_exec_req_parse("echo hello", 10, &r, NULL), SBX_OK);
	sbx_process *p = NULL;
	ck_assert_int_eq(sbx_process_start(c, "sb1", r, &p, NULL), SBX_OK);
	sbx_process_free(p);
	waitres w1, w2, w3;
	waitres_init(&w1);
	waitres_init(&w2);
	waitres_init(&w3);
	ck_assert_ptr_nonnull(sbx_async_process_wait(a, "sb1", 1, 10, on_proc, &w1));
	ck_assert_ptr_nonnull(sbx_async_output_read(a, "sb1", 1, SBX_STDOUT, 0, 64, 10, on_output, &w2));
	/* an unknown process answers at once */
	ck_assert_ptr_nonnull(sbx_async_process_wait(a, "sb1", 7, 10, on_proc, &w3));
	long t0 = now_ms();
	wait_done(&w1);
	wait_done(&w2);
	wait_done(&w3);
	ck_assert_int_lt(now_ms() - t0, 3000);
	ck_assert_int_eq(w1.r, SBX_OK);
	ck_assert_int_eq(w1.state, SBX_PROC_EXITED);
	ck_assert_int_eq(w1.exit_code, 3);
	ck_assert_int_eq(w2.r, SBX_OK);
	ck_assert_int_eq(w2.len, 6);
	ck_assert_int_eq(w2.eof, 1);
	ck_assert_int_eq(w3.r, SBX_E_NOT_FOUND);
	sbx_async_free(a);
	sbx_exec_req_free(r);
	stop(c);
}
END_TEST

START_TEST(fallback_real_service)
{
	/* libmicrohttpd public-only service whose :exec really runs */
	snprintf(dir, sizeof dir, "/tmp/sbxct.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/p.sock", dir);
	pub_srv *ps = pub_start(sock);
	ck_assert_ptr_nonnull(ps);
	char url[160];
	snprintf(url, sizeof url, "unix:%s", sock);
	sbx_client *c = client_for(url, 1000, 3000, 3);
	sbx_spec *sp = sbx_spec_new();
	sbx_sandbox *sb = NULL;
	ck_assert_int_eq(sbx_sandbox_create(c, sp, &sb, NULL), SBX_OK);
	sbx_spec_free(sp);
	ck_assert_int_eq(sb->state, SBX_STATE_RUNNING);
	char id[64];
	snprintf(id, sizeof id, "%s", sb->id);
	sbx_sandbox_free(sb);

	sbx_async *a = NULL;
	ck_assert_int_eq(sbx_async_new(c, &a, NULL), SBX_OK);
	sbx_exec_req *r = NULL;
	const char *line = "sleep 0.3; echo out; echo err >&2; exit 4";
	ck_assert_int_eq(sbx_exec_req_parse(line, strlen(line), &r, NULL), SBX_OK);
	sbx_process *p = NULL;
	ck_assert_int_eq(sbx_process_start(c, id, r, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->id, 1);
	ck_assert_int_eq(p->state, SBX_PROC_RUNNING);
	sbx_process_free(p);
	waitres w;
	waitres_init(&w);
	long t0 = now_ms();
	ck_assert_ptr_nonnull(sbx_async_output_read(a, id, 1, SBX_STDOUT, 0, 64, 10, on_output, &w));
	wait_done(&w);
	ck_assert_int_ge(w.at - t0, 250);
	ck_assert_int_eq(w.r, SBX_OK);
	ck_assert_int_eq(w.len, 4);
	ck_assert_int_eq(memcmp(w.data, "out\n", 4), 0);
	ck_assert_int_eq(w.eof, 1);
	ck_assert_int_eq(sbx_process_get(c, id, 1, 10, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->state, SBX_PROC_EXITED);
	ck_assert_int_eq(p->exit_code, 4);
	ck_assert_int_eq(p->stderr_bytes, 4);
	sbx_process_free(p);
	sbx_exec_req_free(r);

	/* exit code 0 left out of the answer, as proto3 allows */
	ck_assert_int_eq(sbx_exec_req_parse("printf ok", 9, &r, NULL), SBX_OK);
	sbx_exec_result *x = NULL;
	ck_assert_int_eq(sbx_exec(c, id, r, 0, &x, NULL), SBX_OK);
	ck_assert_int_eq(x->exit_code, 0);
	ck_assert_str_eq(x->out, "ok");
	sbx_exec_result_free(x);
	ck_assert_int_eq(pub_execs(ps), 2);

	/* the features say so, and extension calls say unsupported */
	unsigned f = 9;
	ck_assert_int_eq(sbx_client_features(c, &f, NULL), SBX_OK);
	ck_assert_uint_eq(f, 0);
	sbx_dirent *v = NULL;
	size_t n = 0;
	sbx_error e;
	ck_assert_int_eq(sbx_file_list(c, id, "/", &v, &n, &e), SBX_E_UNSUPPORTED);
	ck_assert_int_eq(sbx_error_errno(&e), ENOTSUP);
	ck_assert_ptr_nonnull(strstr(e.message, "\"files\" extension"));

	/* a working directory runs as the documented shell wrapper; the real
	 * Exec has no timeout and no stdin: ENOTSUP with a message */
	sbx_exec_req *cr = sbx_exec_req_new();
	const char *pwd[] = {"pwd", NULL};
	ck_assert_int_eq(sbx_exec_req_set_argv(cr, pwd, NULL), SBX_OK);
	ck_assert_int_eq(sbx_exec_req_set_cwd(cr, "/tmp", NULL), SBX_OK);
	ck_assert_int_eq(sbx_exec(c, id, cr, 0, &x, &e), SBX_OK);
	ck_assert_str_eq(x->out, "/tmp\n");
	sbx_exec_result_free(x);
	ck_assert_int_eq(sbx_exec_req_set_cwd(cr, "/no/such/dir", NULL), SBX_OK);
	ck_assert_int_eq(sbx_exec(c, id, cr, 0, &x, &e), SBX_OK);
	ck_assert_int_ne(x->exit_code, 0);
	sbx_exec_result_free(x);
	sbx_exec_req_set_timeout(cr, 5);
	ck_assert_int_eq(sbx_exec(c, id, cr, 0, &x, &e), SBX_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(e.message, "timeoutSeconds"));
	ck_assert_int_eq(sbx_process_start(c, id, cr, &p, &e), SBX_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(e.message, "timeoutSeconds"));
	sbx_exec_req_set_timeout(cr, 0);
	sbx_exec_req_set_stdin(cr, 1);
	ck_assert_int_eq(sbx_process_start(c, id, cr, &p, &e), SBX_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(e.message, "stdin"));
	sbx_exec_req_free(cr);
	ck_assert_int_eq(pub_execs(ps), 4);

	/* files: whole-file calls; a write inside a file and an append are a
	 * read-modify-write; a ranged read is a slice of the whole */
	ck_assert_int_eq(sbx_file_write(c, id, "/f", -1, "hello world", 11, &e), SBX_OK);
	ck_assert_int_eq(sbx_file_write(c, id, "/f", 6, "WORLD!", 6, &e), SBX_OK);
	ck_assert_int_eq(sbx_file_append(c, id, "/f", "\n", 1, &e), SBX_OK);
	ck_assert_int_eq(sbx_file_write(c, id, "/g", 2, "x", 1, &e), SBX_OK);   /* new file, a hole first */
	void *d = NULL;
	size_t dl = 0;
	int64_t whole = 0;
	ck_assert_int_eq(sbx_file_read(c, id, "/f", 0, 0, &d, &dl, &whole, &e), SBX_OK);
	ck_assert_uint_eq(dl, 13);
	ck_assert_int_eq(memcmp(d, "hello WORLD!\n", 13), 0);
	ck_assert_int_eq(whole, 13);
	free(d);
	ck_assert_int_eq(sbx_file_read(c, id, "/f", 6, 5, &d, &dl, &whole, &e), SBX_OK);
	ck_assert_str_eq(d, "WORLD");
	ck_assert_int_eq(whole, 13);
	free(d);
	ck_assert_int_eq(sbx_file_read(c, id, "/g", 0, 0, &d, &dl, NULL, &e), SBX_OK);
	ck_assert_uint_eq(dl, 3);
	ck_assert_int_eq(memcmp(d, "\0\0x", 3), 0);
	free(d);
	ck_assert_int_eq(sbx_file_read(c, id, "/none", 0, 0, &d, &dl, NULL, &e), SBX_E_NOT_FOUND);
	ck_assert_str_eq(e.reason, "CWSANDBOX_FILE_NOT_FOUND");

	/* names: the tag written at create finds the sandbox in a list by tag;
	 * a wait polls GetSandbox (no :wait here) */
	sp = sbx_spec_new();
	ck_assert_int_eq(sbx_spec_set_name(sp, "named", NULL), SBX_OK);
	ck_assert_int_eq(sbx_sandbox_create(c, sp, &sb, NULL), SBX_OK);
	sbx_spec_free(sp);
	ck_assert_str_eq(sb->name, "named");
	sbx_sandbox_free(sb);
	const char *tags[] = {"sbxfs-name=named", NULL};
	sbx_list_filter lf = {.tags = tags, .show_terminated = 1};
	sbx_sandbox **lv = NULL;
	size_t ln = 0;
	ck_assert_int_eq(sbx_sandbox_list(c, &lf, &lv, &ln, &e), SBX_OK);
	ck_assert_uint_eq(ln, 1);
	ck_assert_str_eq(lv[0]->name, "named");
	sbx_sandbox_list_free(lv, ln);
	long w0 = now_ms();
	ck_assert_int_eq(sbx_sandbox_get(c, id, 1, &sb, &e), SBX_OK);
	ck_assert_int_ge(now_ms() - w0, 700);
	ck_assert_int_eq(sb->state, SBX_STATE_RUNNING);
	sbx_sandbox_free(sb);

	/* once the sandbox is gone, a start fails in the call itself; without
	 * "forget" a purge is a DeleteSandbox */
	ck_assert_int_eq(sbx_sandbox_purge(c, id, 0, 0, &e), SBX_OK);
	ck_assert_int_eq(sbx_process_start(c, id, r, &p, &e), SBX_E_PRECONDITION);
	ck_assert_str_eq(e.reason, "CWSANDBOX_INVALID_REQUEST");
	ck_assert_int_eq(sbx_process_start(c, "pub-77", r, &p, &e), SBX_E_NOT_FOUND);
	sbx_exec_req_free(r);
	sbx_async_free(a);
	sbx_client_free(c);
	pub_stop(ps);
	unlink(sock);
	rmdir(dir);
}
END_TEST

/* ------------------------------------------------------------ async */

static int h_ext_silent(void *ud, int fd, const fake_req *r)
{
	if (strcmp(r->path, "/v1/extensions") == 0)
		return fake_reply(fd, 200, "{\"extensions\":[\"processes\",\"output\",\"files\"]}");
	fake_hold(fd, 20000);
	return -1;
}

START_TEST(async_cancel_is_prompt)
{
	sbx_client *c = start(h_ext_silent, NULL, 3000, 1);
	sbx_async *a = NULL;
	ck_assert_int_eq(sbx_async_new(c, &a, NULL), SBX_OK);
	waitres w;
	waitres_init(&w);
	sbx_op *op = sbx_async_output_read(a, "sb1", 1, SBX_STDOUT, 0, 64, 30, on_output, &w);
	ck_assert_ptr_nonnull(op);
	usleep(100 * 1000);
	long t0 = now_ms();
	sbx_async_cancel(a, op);
	wait_done(&w);
	ck_assert_int_eq(w.r, SBX_E_CANCELLED);
	ck_assert_int_lt(w.at - t0, 200);
	/* freeing the loop cancels what is still pending */
	waitres w2;
	waitres_init(&w2);
	ck_assert_ptr_nonnull(sbx_async_process_wait(a, "sb1", 1, 30, on_proc, &w2));
	usleep(50 * 1000);
	sbx_async_free(a);
	ck_assert_int_eq(w2.done, 1);
	ck_assert_int_eq(w2.r, SBX_E_CANCELLED);
	stop(c);
}
END_TEST

START_TEST(async_deadline)
{
	sbx_client *c = start(h_ext_silent, NULL, 300, 1);
	sbx_async *a = NULL;
	ck_assert_int_eq(sbx_async_new(c, &a, NULL), SBX_OK);
	waitres w;
	waitres_init(&w);
	long t0 = now_ms();
	ck_assert_ptr_nonnull(sbx_async_process_wait(a, "sb1", 1, 1, on_proc, &w));
	wait_done(&w);
	ck_assert_int_eq(w.r, SBX_E_TIMEOUT);
	ck_assert_int_ge(w.at - t0, 1250);   /* wait 1 s + deadline 300 ms */
	ck_assert_int_lt(w.at - t0, 2500);
	sbx_async_free(a);
	stop(c);
}
END_TEST

static int h_slowproc(void *ud, int fd, const fake_req *r)
{
	if (strcmp(r->path, "/v1/extensions") == 0)
		return fake_reply(fd, 200, "{\"extensions\":[\"processes\",\"output\",\"files\"]}");
	fake_hold(fd, 500);
	return fake_reply(fd, 200, "{\"processId\":\"1\",\"state\":\"PROCESS_STATE_EXITED\",\"exitCode\":4}");
}

static int counted;
static pthread_mutex_t counted_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_count(void *ud, sbx_result r, const sbx_error *err, const sbx_process *p)
{
	if (r == SBX_OK && p && p->exit_code == 4) {
		pthread_mutex_lock(&counted_mu);
		counted++;
		pthread_mutex_unlock(&counted_mu);
	}
}

START_TEST(async_many_waits_one_thread)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 2600)
		return;   /* not enough descriptors for both ends here */
	sbx_client *c = start(h_slowproc, NULL, 10000, 1);
	sbx_async *a = NULL;
	ck_assert_int_eq(sbx_async_new(c, &a, NULL), SBX_OK);
	counted = 0;
	long t0 = now_ms();
	for (int i = 0; i < 1000; i++)
		ck_assert_ptr_nonnull(sbx_async_process_wait(a, "sb1", 1, 10, on_count, NULL));
	for (int i = 0; i < 400; i++) {
		pthread_mutex_lock(&counted_mu);
		int n = counted;
		pthread_mutex_unlock(&counted_mu);
		if (n == 1000)
			break;
		usleep(25 * 1000);
	}
	ck_assert_int_eq(counted, 1000);
	/* all waited in parallel: far less than 1000 x 500 ms */
	ck_assert_int_lt(now_ms() - t0, 8000);
	sbx_async_free(a);
	stop(c);
}
END_TEST

/* ------------------------------------------------------- posix file calls */

/* A service with (posix = 1) or without sbxd's "posix" file extension:
 * remembers each call's path and body, answers an entry, and fails on
 * demand with a status carrying an errno by name. */
typedef struct posix_srv {
	pthread_mutex_t mu;
	int posix;
	int calls;              /* requests other than the probe */
	char path[2100], body[1024];
	int fail_http, fail_code;
	const char *fail_errno; /* ErrorInfo metadata "errno", NULL = none */
} posix_srv;

static const char *ENTRY =
	"{\"name\":\"x\",\"type\":\"FILE_TYPE_FILE\",\"size\":\"7\",\"mode\":384,"
	"\"modifyTime\":\"2001-02-03T04:05:06.123456789Z\",\"accessTime\":\"2002-01-01T00:00:00.5Z\","
	"\"changeTime\":\"2003-01-01T00:00:01Z\",\"uid\":1234,\"gid\":\"4321\",\"nlink\":3,\"blocks\":\"16\"}";

static int h_posix(void *ud, int fd, const fake_req *r)
{
	posix_srv *ps = ud;
	if (strcmp(r->path, "/v1/extensions") == 0)
		return fake_reply(fd, 200, ps->posix ? "{\"extensions\":[\"processes\",\"output\",\"files\",\"posix\"]}"
		                                     : "{\"extensions\":[\"processes\",\"output\",\"files\"]}");
	pthread_mutex_lock(&ps->mu);
	ps->calls++;
	snprintf(ps->path, sizeof ps->path, "%s %s", r->method, r->path);
	snprintf(ps->body, sizeof ps->body, "%.*s", (int)r->body_len, r->body ? r->body : "");
	int http = ps->fail_http, code = ps->fail_code;
	const char *en = ps->fail_errno;
	pthread_mutex_unlock(&ps->mu);
	if (http) {
		char body[512];
		snprintf(body, sizeof body,
		         "{\"code\":%d,\"message\":\"/tmp/x: failed\",\"details\":[{\"@type\":"
		         "\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"CWSANDBOX_INVALID_REQUEST\","
		         "\"domain\":\"cwsandbox.com\",\"metadata\":{\"path\":\"/tmp/x\"%s%s%s}}]}",
		         code, en ? ",\"errno\":\"" : "", en ? en : "", en ? "\"" : "");
		return fake_reply(fd, http, body);
	}
	return fake_reply(fd, 200, strstr(r->path, ":renameFile") ? "{}" : ENTRY);
}

static void posix_fail(posix_srv *ps, int http, int code, const char *en)
{
	pthread_mutex_lock(&ps->mu);
	ps->fail_http = http;
	ps->fail_code = code;
	ps->fail_errno = en;
	ps->calls = 0;
	pthread_mutex_unlock(&ps->mu);
}

START_TEST(posix_requests)
{
	posix_srv ps = {.posix = 1};
	pthread_mutex_init(&ps.mu, NULL);
	sbx_client *c = start(h_posix, &ps, 3000, 3);
	sbx_dirent de;
	sbx_error e;
	/* create: the exact mode, the flags, and the entry it answers */
	ck_assert_int_eq(sbx_file_create(c, "sb1", "/tmp/x", 0100600, SBX_CREATE_EXCL, &de, &e), SBX_OK);
	ck_assert_str_eq(ps.path, "POST /v1/sandboxes/sb1:createFile");
	ck_assert_str_eq(ps.body, "{\"sandboxId\":\"sb1\",\"path\":\"/tmp/x\",\"mode\":384,\"exclusive\":true}");
	ck_assert_str_eq(de.name, "x");
	ck_assert_int_eq(de.has_posix, 1);
	ck_assert_uint_eq(de.mode, 0600);
	ck_assert_int_eq(de.size, 7);
	ck_assert_uint_eq(de.uid, 1234);
	ck_assert_uint_eq(de.gid, 4321);
	ck_assert_uint_eq(de.nlink, 3);
	ck_assert_int_eq(de.blocks, 16);
	ck_assert_int_eq(de.mtime_ns, 981173106123456789LL);
	ck_assert_int_eq(de.atime_ns, 1009843200500000000LL);
	ck_assert_int_eq(de.ctime_ns, 1041379201000000000LL);
	free(de.name);
	/* set attrs: only the fields asked for; ns times; "now" */
	sbx_file_attrs a = {.set = SBX_ATTR_MODE | SBX_ATTR_ATIME | SBX_ATTR_ATIME_NOW | SBX_ATTR_MTIME,
	                    .mode = 04755, .mtime_ns = 981173106123456789LL};
	ck_assert_int_eq(sbx_file_set_attrs(c, "sb1", "/tmp/x", &a, &de, &e), SBX_OK);
	ck_assert_str_eq(ps.path, "POST /v1/sandboxes/sb1:setFileAttrs");
	ck_assert_str_eq(ps.body, "{\"sandboxId\":\"sb1\",\"path\":\"/tmp/x\",\"mode\":2541,\"accessTime\":\"now\","
	                          "\"modifyTime\":\"2001-02-03T04:05:06.123456789Z\"}");
	ck_assert_uint_eq(de.mode, 0600);    /* what the service answered */
	free(de.name);
	a = (sbx_file_attrs){.set = SBX_ATTR_UID | SBX_ATTR_GID | SBX_ATTR_SIZE, .uid = 0, .gid = 4000000000u,
	                     .size = 5000000000LL};
	ck_assert_int_eq(sbx_file_set_attrs(c, "sb1", "/tmp/x", &a, NULL, &e), SBX_OK);
	ck_assert_str_eq(ps.body, "{\"sandboxId\":\"sb1\",\"path\":\"/tmp/x\",\"uid\":0,\"gid\":4000000000,\"size\":\"5000000000\"}");
	a = (sbx_file_attrs){.set = SBX_ATTR_MTIME, .mtime_ns = -1};
	ck_assert_int_eq(sbx_file_set_attrs(c, "sb1", "/tmp/x", &a, NULL, &e), SBX_E_INVALID);
	/* rename: flags by name, and the two exclude each other */
	ck_assert_int_eq(sbx_file_rename(c, "sb1", "/tmp/a b", "/tmp/c", SBX_RENAME_NOREPLACE, &e), SBX_OK);
	ck_assert_str_eq(ps.path, "POST /v1/sandboxes/sb1:renameFile");
	ck_assert_str_eq(ps.body, "{\"sandboxId\":\"sb1\",\"path\":\"/tmp/a b\",\"newPath\":\"/tmp/c\",\"noReplace\":true}");
	ck_assert_int_eq(sbx_file_rename(c, "sb1", "/a", "/b", SBX_RENAME_EXCHANGE, &e), SBX_OK);
	ck_assert_str_eq(ps.body, "{\"sandboxId\":\"sb1\",\"path\":\"/a\",\"newPath\":\"/b\",\"exchange\":true}");
	ck_assert_int_eq(sbx_file_rename(c, "sb1", "/a", "/b", SBX_RENAME_EXCHANGE | SBX_RENAME_NOREPLACE, &e),
	                 SBX_E_INVALID);
	ck_assert_int_eq(sbx_file_rename(c, "sb1", "/a", "b", 0, &e), SBX_E_INVALID);
	/* the sandbox's errno travels by name and wins over the status */
	static const struct {
		int http, code;
		const char *name;
		sbx_result r;
		int want;
	} errs[] = {
		{400, 9, "ENOTEMPTY", SBX_E_PRECONDITION, ENOTEMPTY},
		{400, 9, "EXDEV", SBX_E_PRECONDITION, EXDEV},
		{400, 9, "EISDIR", SBX_E_PRECONDITION, EISDIR},
		{404, 5, "ENOENT", SBX_E_NOT_FOUND, ENOENT},
		{403, 7, "EPERM", SBX_E_PERMISSION, EPERM},
		{400, 9, NULL, SBX_E_PRECONDITION, EINVAL},        /* no name: the status's class */
		{400, 9, "EBOGUS", SBX_E_PRECONDITION, EINVAL},    /* unknown name: likewise */
		{403, 7, NULL, SBX_E_PERMISSION, EACCES},
	};
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		posix_fail(&ps, errs[i].http, errs[i].code, errs[i].name);
		ck_assert_int_eq(sbx_file_rename(c, "sb1", "/a", "/b", 0, &e), errs[i].r);
		ck_assert_int_eq(sbx_error_errno(&e), errs[i].want);
		ck_assert_int_eq(ps.calls, 1);
	}
	/* rename is never repeated; set attrs is (the same change twice is harmless) */
	posix_fail(&ps, 503, 14, NULL);
	ck_assert_int_eq(sbx_file_rename(c, "sb1", "/a", "/b", 0, &e), SBX_E_UNAVAILABLE);
	ck_assert_int_eq(ps.calls, 1);
	posix_fail(&ps, 503, 14, NULL);
	ck_assert_int_eq(sbx_file_create(c, "sb1", "/a", 0644, 0, NULL, &e), SBX_E_UNAVAILABLE);
	ck_assert_int_eq(ps.calls, 1);
	posix_fail(&ps, 503, 14, NULL);
	a = (sbx_file_attrs){.set = SBX_ATTR_MODE, .mode = 0644};
	ck_assert_int_eq(sbx_file_set_attrs(c, "sb1", "/a", &a, NULL, &e), SBX_E_UNAVAILABLE);
	ck_assert_int_eq(ps.calls, 3);
	stop(c);
	pthread_mutex_destroy(&ps.mu);
}
END_TEST

START_TEST(posix_unsupported)
{
	posix_srv ps = {.posix = 0};
	pthread_mutex_init(&ps.mu, NULL);
	sbx_client *c = start(h_posix, &ps, 3000, 1);
	sbx_dirent de;
	sbx_error e;
	sbx_file_attrs a = {.set = SBX_ATTR_MODE, .mode = 0755};
	/* answered here, nothing sent, and the message says what is missing */
	ck_assert_int_eq(sbx_file_create(c, "sb1", "/tmp/x", 0600, 0, &de, &e), SBX_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(e.message, "posix"));
	ck_assert_int_eq(sbx_file_set_attrs(c, "sb1", "/tmp/x", &a, &de, &e), SBX_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(e.message, "chmod"));
	ck_assert_int_eq(sbx_error_errno(&e), ENOTSUP);
	ck_assert_int_eq(sbx_file_rename(c, "sb1", "/a", "/b", 0, &e), SBX_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(e.message, "rename"));
	ck_assert_int_eq(ps.calls, 0);
	stop(c);
	pthread_mutex_destroy(&ps.mu);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("client-faults");
	TCase *t = tcase_create("faults");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, slow_answer_within_deadline);
	tcase_add_test(t, slow_answer_past_deadline);
	tcase_add_test(t, silent_server_times_out);
	tcase_add_test(t, unavailable_then_success);
	tcase_add_test(t, unavailable_gives_up);
	tcase_add_test(t, exhausted_honours_retry_info);
	tcase_add_test(t, exhausted_without_retry_info_is_final);
	tcase_add_test(t, retry_delay_past_deadline_gives_up);
	tcase_add_test(t, unsafe_call_not_retried);
	tcase_add_test(t, truncated_body);
	tcase_add_test(t, connection_reset);
	tcase_add_loop_test(t, bad_answer_table, 0, (int)(sizeof bad_answers / sizeof bad_answers[0]));
	tcase_add_test(t, not_found_status);
	tcase_add_test(t, token_sent_never_shown);
	tcase_add_test(t, connection_refused);
	tcase_add_test(t, accept_queue_full);
	tcase_add_test(t, out_of_fds_is_not_refused);
	tcase_add_test(t, resolve_failure);
	tcase_add_test(t, tls_to_plain_server);
	tcase_add_test(t, tcp_plain_ok);
	tcase_add_test(t, list_all_pages);
	tcase_add_test(t, output_reads);
	tcase_add_test(t, tls_verification);
	suite_add_tcase(s, t);
	TCase *f = tcase_create("fallback");
	tcase_set_timeout(f, 60);
	tcase_add_test(f, fallback_processes);
	tcase_add_test(f, fallback_async);
	tcase_add_test(f, fallback_real_service);
	suite_add_tcase(s, f);
	TCase *as = tcase_create("async");
	tcase_set_timeout(as, 60);
	tcase_add_test(as, async_cancel_is_prompt);
	tcase_add_test(as, async_deadline);
	tcase_add_test(as, async_many_waits_one_thread);
	suite_add_tcase(s, as);
	TCase *px = tcase_create("posix");
	tcase_set_timeout(px, 30);
	tcase_add_test(px, posix_requests);
	tcase_add_test(px, posix_unsupported);
	suite_add_tcase(s, px);
	return s;
}

int main(void)
{
	/* The fake server writes to peers that may have hung up. */
	signal(SIGPIPE, SIG_IGN);
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
