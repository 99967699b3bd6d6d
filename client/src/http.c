/*
 * The HTTP core of libsbx (see http.h). A blocking call takes an easy handle
 * from the client's pool, so a handle and the keep-alive connection it
 * holds stay warm between calls; deadlines are set on every call, and safe
 * calls are retried with exponential backoff and jitter when the service
 * says UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "json.h"
#include "grpc.h"
#include "proc.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void sbx_http_resp_init(sbx_http_resp *resp, size_t max)
{
	memset(resp, 0, sizeof *resp);
	sbx_buf_init(&resp->body, max);
}

void sbx_http_resp_free(sbx_http_resp *resp)
{
	if (resp)
		sbx_buf_free(&resp->body);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
	sbx_client *c = ud;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	sbx_client *c = ud;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_mu[data]);
}

#define ACCEPT_JSON "Accept: application/json"
#define ACCEPT_PB "Accept: " SBX_PB_MEDIA ", application/json;q=0.5"

static struct curl_slist *headers(const sbx_config *cfg, const char *accept, const char *ctype)
{
	struct curl_slist *l = NULL, *t;
	/* No 100-continue round trip: our bodies are small and the server
	 * answers either way. */
	if (!(t = curl_slist_append(l, "Expect:")))
		goto fail;
	l = t;
	if (!(t = curl_slist_append(l, accept)))
		goto fail;
	l = t;
	if (ctype) {
		if (!(t = curl_slist_append(l, ctype)))
			goto fail;
		l = t;
	}
	if (cfg->auth_header) {
		if (!(t = curl_slist_append(l, cfg->auth_header)))
			goto fail;
		l = t;
	}
	if (cfg->entity_header) {
		if (!(t = curl_slist_append(l, cfg->entity_header)))
			goto fail;
		l = t;
	}
	return l;
fail:
	curl_slist_free_all(l);
	return NULL;
}

sbx_result sbx_client_new(const sbx_config *cfg, sbx_client **out, sbx_error *err)
{
	sbx_result r = SBX_E_NOMEM;
	sbx_client *c = NULL;
	sbx_config *own = NULL;
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return sbx_fail(err, SBX_E_INTERNAL, "curl_global_init failed");
	if (!cfg) {
		own = sbx_config_new();
		if (!own)
			return sbx_fail(err, SBX_E_NOMEM, "out of memory");
		cfg = own;
	}
	if (cfg->url_error) {
		r = sbx_fail(err, SBX_E_INVALID, "CWSANDBOX_BASE_URL: %s", cfg->url_error);
		goto out;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		goto nomem;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_mu[i], NULL);
	pthread_mutex_init(&c->pool_mu, NULL);
	pthread_mutex_init(&c->feat_mu, NULL);
	pthread_mutex_init(&c->fb_mu, NULL);
	pthread_mutex_init(&c->grpc_mu, NULL);
	pthread_condattr_t ca; /* fallback waits must not move with the wall clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->fb_cond, &ca);
	pthread_condattr_destroy(&ca);
	c->cfg = sbx_config_dup(cfg);
	if (!c->cfg)
		goto nomem;
	c->hdr_none = headers(c->cfg, ACCEPT_JSON, NULL);
	c->hdr_json = headers(c->cfg, ACCEPT_JSON, "Content-Type: application/json");
	c->hdr_octet = headers(c->cfg, ACCEPT_JSON, "Content-Type: application/octet-stream");
	/* An extension call in the binary encoding; its errors stay JSON. */
	c->hdr_pb = headers(c->cfg, ACCEPT_PB, NULL);
	c->hdr_pb_post = headers(c->cfg, ACCEPT_PB, "Content-Type: " SBX_PB_MEDIA);
	if (!c->hdr_none || !c->hdr_json || !c->hdr_octet || !c->hdr_pb || !c->hdr_pb_post)
		goto nomem;
	c->share = curl_share_init();
	if (!c->share)
		goto nomem;
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	/* DNS and TLS sessions only. Not the connection cache
	 * (CURL_LOCK_DATA_CONNECT): libcurl does not support sharing it
	 * between concurrent threads (its KNOWN_BUGS, "A shared connection
	 * cache is not thread-safe"), and with sbxfs's FUSE workers calling at
	 * once it corrupted the heap (tests/client/test_race.c). Each pooled
	 * handle keeps its own connection instead (curl_easy_reset keeps it). */
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*out = c;
	c = NULL;
	r = SBX_OK;
	goto out;
nomem:
	r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
out:
	sbx_client_free(c);
	sbx_config_free(own);
	return r;
}

static void close_all(CURL **e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		curl_easy_cleanup(e[i]);
}

void sbx_client_free(sbx_client *c)
{
	if (!c)
		return;
	sbx_fb_shutdown(c);
	sbx_grpc_client_free(c);
	pthread_mutex_destroy(&c->grpc_mu);
	close_all(c->pool, c->npool);
	free(c->pool);
	free(c->pool_ms);
	if (c->share)
		curl_share_cleanup(c->share);
	curl_slist_free_all(c->hdr_none);
	curl_slist_free_all(c->hdr_json);
	curl_slist_free_all(c->hdr_octet);
	curl_slist_free_all(c->hdr_pb);
	curl_slist_free_all(c->hdr_pb_post);
	sbx_config_free(c->cfg);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_mu[i]);
	pthread_mutex_destroy(&c->pool_mu);
	pthread_mutex_destroy(&c->feat_mu);
	pthread_mutex_destroy(&c->fb_mu);
	pthread_cond_destroy(&c->fb_cond);
	free(c);
}

static CURL *pool_get(sbx_client *c)
{
	CURL *e = NULL;
	pthread_mutex_lock(&c->pool_mu);
	if (c->npool > 0)
		e = c->pool[--c->npool];
	pthread_mutex_unlock(&c->pool_mu);
	if (!e)
		e = curl_easy_init();
	return e;
}

/* Idle handles. Each costs three descriptors: its keep-alive connection
 * and the wake-up socketpair of the multi handle that curl_easy_perform
 * makes inside it and keeps (curl 7.88). A burst of calls on many threads
 * (sbxfs's FUSE threads under 10,000 readers' lookups, test_race's 24)
 * puts back up to POOL_BURST_MAX, and they are taken again while it lasts,
 * so keep-alive holds; once idle for POOL_BURST_MS, all but POOL_IDLE_MAX
 * are closed, at the next call or sbx_client_trim (sbxfs's refresh thread
 * calls it every 0.4 s): a process that waits on many things must not keep
 * three descriptors per thread that ever made a call (issue 14: <= 16 for
 * a mount's waits). */
#define POOL_IDLE_MAX 2
#define POOL_BURST_MAX 32
#define POOL_BURST_MS 1000

/* With pool_mu: moves the handles past their time into out (up to
 * POOL_BURST_MAX), oldest first; returns how many. */
static size_t pool_expire(sbx_client *c, CURL **out)
{
	int64_t now = sbx_now_ms();
	size_t n = 0;
	while (c->npool - n > POOL_IDLE_MAX && now - c->pool_ms[n] >= POOL_BURST_MS)
		n++;
	if (n) {
		memcpy(out, c->pool, n * sizeof *out);
		memmove(c->pool, c->pool + n, (c->npool - n) * sizeof *c->pool);
		memmove(c->pool_ms, c->pool_ms + n, (c->npool - n) * sizeof *c->pool_ms);
		c->npool -= n;
	}
	return n;
}

void sbx_client_trim(sbx_client *c)
{
	CURL *old[POOL_BURST_MAX];
	if (!c)
		return;
	pthread_mutex_lock(&c->pool_mu);
	size_t n = pool_expire(c, old);
	pthread_mutex_unlock(&c->pool_mu);
	close_all(old, n);
}

static void pool_put(sbx_client *c, CURL *e)
{
	CURL *old[POOL_BURST_MAX];
	pthread_mutex_lock(&c->pool_mu);
	if (c->npool == c->pool_cap && c->pool_cap < POOL_BURST_MAX) {
		size_t cap = POOL_BURST_MAX;
		CURL **p = realloc(c->pool, cap * sizeof *p);
		if (p)
			c->pool = p;
		int64_t *t = p ? realloc(c->pool_ms, cap * sizeof *t) : NULL;
		if (t) {
			c->pool_ms = t;
			c->pool_cap = cap;
		}
	}
	if (c->npool < c->pool_cap) {
		c->pool_ms[c->npool] = sbx_now_ms();
		c->pool[c->npool++] = e;
		e = NULL;
	}
	size_t n = pool_expire(c, old);
	pthread_mutex_unlock(&c->pool_mu);
	close_all(old, n);
	if (e)
		curl_easy_cleanup(e);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	sbx_http_resp *resp = ud;
	size_t n = size * nmemb;
	const sbx_http_req *req = NULL;
	long status = 0;
	curl_easy_getinfo(resp->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(resp->easy, CURLINFO_PRIVATE, (char **)&req);
	if (req && req->out_buf && status >= 200 && status < 300) {
		if (n > req->out_cap - resp->out_len) {
			resp->out_overflow = 1;
			return 0;
		}
		memcpy((char *)req->out_buf + resp->out_len, ptr, n);
		resp->out_len += n;
		return n;
	}
	if (sbx_buf_append(&resp->body, ptr, n) != 0)
		return 0;
	return n;
}

static int header_i64(const char *v, size_t len, int64_t *out)
{
	char tmp[32];
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	while (len > 0 && *v == ' ') {
		v++;
		len--;
	}
	if (len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	return sbx_parse_i64(tmp, out);
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	sbx_http_resp *resp = ud;
	size_t n = size * nitems;
	/* A new status line (after a 1xx) starts a fresh header set. */
	if (n > 5 && strncmp(buf, "HTTP/", 5) == 0) {
		resp->have_offset = resp->have_size = resp->have_eof = resp->pb = 0;
		return n;
	}
	const char *colon = memchr(buf, ':', n);
	if (!colon)
		return n;
	size_t nl = (size_t)(colon - buf);
	const char *v = colon + 1;
	size_t vl = n - nl - 1;
	int64_t x;
	if (nl == 12 && strncasecmp(buf, "X-Sbx-Offset", 12) == 0) {
		if (header_i64(v, vl, &x) == 0 && x >= 0) {
			resp->x_offset = x;
			resp->have_offset = 1;
		}
	} else if (nl == 10 && strncasecmp(buf, "X-Sbx-Size", 10) == 0) {
		if (header_i64(v, vl, &x) == 0 && x >= 0) {
			resp->x_size = x;
			resp->have_size = 1;
		}
	} else if (nl == 12 && strncasecmp(buf, "Content-Type", 12) == 0) {
		/* Which encoding the answer is in (an extension call that asked
		 * for the binary one may still get a JSON error). */
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		size_t ml = strlen(SBX_PB_MEDIA);
		resp->pb = vl >= ml && strncasecmp(v, SBX_PB_MEDIA, ml) == 0 &&
		           (vl == ml || v[ml] == ';' || v[ml] == ' ' || v[ml] == '\r' || v[ml] == '\n');
	} else if (nl == 9 && strncasecmp(buf, "X-Sbx-Eof", 9) == 0) {
		if (header_i64(v, vl, &x) == 0) {
			resp->x_eof = x != 0;
			resp->have_eof = 1;
		}
	}
	return n;
}

static int xferinfo_cb(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const int *flag = ud;
	return __atomic_load_n(flag, __ATOMIC_RELAXED) ? 1 : 0;
}

/* curl reports a socket() that failed for want of descriptors as
 * CURLE_COULDNT_CONNECT, the code of "nothing listens": this keeps the
 * errno so the two are told apart (and marks the socket close-on-exec). */
static curl_socket_t opensocket_cb(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	sbx_http_resp *resp = ud;
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0) {
		resp->sock_errno = errno;
		return CURL_SOCKET_BAD;
	}
	return fd;
}

/* 1 when this process (EMFILE) or the system (ENFILE) cannot open one more
 * descriptor now; *e says which. Asked only after a failure whose curl
 * code could also mean that (connect, out of memory, init). */
static int out_of_fds(int *e)
{
	int fd = open("/", O_PATH | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	*e = errno;
	return errno == EMFILE || errno == ENFILE;
}

long sbx_recv_buffer_for(size_t maxlen)
{
	return maxlen >= (size_t)SBX_RECV_BUFFER ? SBX_RECV_BUFFER : 0;
}

char *sbx_path_sandbox(const char *id, const char *suffix)
{
	sbx_buf b;
	sbx_buf_init(&b, 0);
	if (sbx_buf_append(&b, "/v1/sandboxes/", 14) || sbx_buf_append_escaped(&b, id) ||
	    (suffix && sbx_buf_append(&b, suffix, strlen(suffix)))) {
		sbx_buf_free(&b);
		return NULL;
	}
	return b.data;
}

/* How long one try of req may take: the deadline, plus the wait a
 * long-poll asks the service for. */
static long try_ms(const sbx_client *c, const sbx_http_req *req)
{
	return c->cfg->total_ms + (req->wait_ms > 0 ? req->wait_ms : 0);
}

sbx_result sbx_http_setup(sbx_client *c, CURL *e, const sbx_http_req *req, sbx_http_resp *resp, char **url,
                          int64_t start_ms, sbx_error *err)
{
	const sbx_config *cfg = c->cfg;
	size_t n = strlen(cfg->base) + strlen(req->path) + 1;
	*url = malloc(n);
	if (!*url)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	snprintf(*url, n, "%s%s", cfg->base, req->path);
	resp->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, *url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	if (cfg->unix_path)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, cfg->unix_path);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_ms);
	long left = try_ms(c, req) - (long)(sbx_now_ms() - start_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left > 0 ? left : 1L);
	/* TLS: verification stays on; a CA file only changes what is trusted. */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
	if (req->recv_buffer > 0)
		curl_easy_setopt(e, CURLOPT_BUFFERSIZE, req->recv_buffer);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, resp);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cfg->max_response);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, req->no_reuse ? 1L : 0L);
	if (req->abort_flag) {
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)req->abort_flag);
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	}
	struct curl_slist *h = req->pb ? c->hdr_pb : c->hdr_none;
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "POST") == 0) {
		h = req->pb ? c->hdr_pb_post : req->octet ? c->hdr_octet : c->hdr_json;
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	return SBX_OK;
}

/* After a failed connect to a unix socket: 1 when a listener is there
 * (our own non-blocking connect gets EAGAIN for a full queue, or gets in),
 * 0 when nothing listens (ECONNREFUSED, ENOENT). curl does not keep the
 * errno of that case, so this probe tells them apart. */
static int unix_listening(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof a.sun_path)
		return 0;
	memcpy(a.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
	int listening = rc == 0 || errno == EAGAIN;
	close(fd);
	return listening;
}

sbx_result sbx_http_finish(sbx_client *c, CURL *e, int curlcode, const sbx_http_req *req, sbx_http_resp *resp,
                           sbx_error *err)
{
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	resp->status = status;
	if (curlcode != CURLE_OK) {
		if (resp->body.overflow || resp->out_overflow || curlcode == CURLE_FILESIZE_EXCEEDED) {
			sbx_result r = sbx_fail(err, SBX_E_TOO_LARGE, "answer larger than %s",
			                        resp->out_overflow ? "the buffer" : "the response cap");
			if (err)
				err->http_status = status;
			return r;
		}
		sbx_result r = sbx_error_from_curl(curlcode);
		int fe = resp->sock_errno;
		if ((fe == EMFILE || fe == ENFILE) ||
		    ((curlcode == CURLE_COULDNT_CONNECT || curlcode == CURLE_OUT_OF_MEMORY ||
		      curlcode == CURLE_FAILED_INIT) && out_of_fds(&fe))) {
			sbx_fail(err, SBX_E_NOFILE, "%s: cannot open a connection: %s (raise RLIMIT_NOFILE)", c->cfg->url,
			         strerror(fe));
			if (err)
				err->sys_errno = fe;
			return SBX_E_NOFILE;
		}
		if (curlcode == CURLE_COULDNT_CONNECT && c->cfg->unix_path && unix_listening(c->cfg->unix_path)) {
			/* Something listens but would not take us: its accept
			 * queue is full. Overloaded, not absent: worth a retry. */
			sbx_fail(err, SBX_E_UNAVAILABLE, "%s: the service's connection queue is full", c->cfg->url);
			return SBX_E_UNAVAILABLE;
		}
		if (r == SBX_E_TIMEOUT)
			sbx_fail(err, r, "%s %s: no answer within the deadline (%ld ms)", req->method, c->cfg->url,
			         try_ms(c, req));
		else
			sbx_fail(err, r, "%s: %s", c->cfg->url, curl_easy_strerror((CURLcode)curlcode));
		if (err)
			err->http_status = status;
		return r;
	}
	if (status >= 200 && status < 300)
		return SBX_OK;
	return sbx_error_from_response(status, resp->body.data, resp->body.len, err);
}

static int retryable(sbx_result r, const sbx_error *e)
{
	if (r == SBX_E_UNAVAILABLE)
		return 1;
	if (r == SBX_E_TIMEOUT)
		return e->http_status != 0;   /* the service's DEADLINE_EXCEEDED, not our own deadline */
	if (r == SBX_E_EXHAUSTED)
		/* A cap without RetryInfo will not go away; a bare 429 from a
		 * proxy may. */
		return e->http_status != 413 && (e->retry_delay_ms >= 0 || e->grpc_code == 0);
	return 0;
}

static long backoff_ms(int attempt, const sbx_error *e)
{
	if (e->retry_delay_ms >= 0)
		return e->retry_delay_ms + (long)(50 * sbx_random_unit());
	long delay = 100L << (attempt > 8 ? 8 : attempt - 1);
	return (long)(delay * (0.5 + sbx_random_unit()));
}

long sbx_http_retry_delay(const sbx_client *c, const sbx_http_req *req, int attempt, int64_t start_ms,
                          sbx_result r, const sbx_error *e)
{
	if (!req->safe || attempt >= c->cfg->max_attempts || !retryable(r, e))
		return -1;
	long delay = backoff_ms(attempt, e);
	if (delay > 30000 || sbx_now_ms() - start_ms + delay >= try_ms(c, req))
		return -1; /* the caller's deadline matters more than one more try */
	return delay;
}

sbx_result sbx_http_call(sbx_client *c, const sbx_http_req *req, sbx_http_resp *resp, sbx_error *err)
{
	sbx_result r = SBX_E_INTERNAL;
	sbx_error tmp;
	if (!err)
		err = &tmp;
	int64_t start = sbx_now_ms();
	for (int attempt = 1;; attempt++) {
		CURL *e = pool_get(c);
		if (!e)
			return sbx_fail(err, SBX_E_NOMEM, "out of memory");
		char *url = NULL;
		sbx_buf_free(&resp->body);
		size_t max = resp->body.max;
		sbx_http_resp_init(resp, max);
		curl_easy_reset(e);
		curl_easy_setopt(e, CURLOPT_SHARE, c->share);
		r = sbx_http_setup(c, e, req, resp, &url, start, err);
		if (r == SBX_OK) {
			CURLcode cc = curl_easy_perform(e);
			r = sbx_http_finish(c, e, (int)cc, req, resp, err);
		}
		free(url);
		pool_put(c, e);
		long delay = r == SBX_OK ? -1 : sbx_http_retry_delay(c, req, attempt, start, r, err);
		if (delay < 0)
			break;
		sbx_sleep_ms(delay);
	}
	if (r == SBX_OK)
		sbx_error_clear(err == &tmp ? NULL : err);
	return r;
}

sbx_result sbx_http_json(sbx_client *c, const sbx_http_req *req, cJSON **root, sbx_error *err)
{
	sbx_http_resp resp;
	sbx_http_resp_init(&resp, c->cfg->max_response);
	if (root)
		*root = NULL;
	sbx_result r = sbx_http_call(c, req, &resp, err);
	if (r != SBX_OK)
		goto out;
	if (!root)
		goto out;
	if (resp.body.len == 0) {
		/* proto3: an empty message may come as an empty body. */
		*root = cJSON_CreateObject();
		if (!*root)
			r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	*root = sbx_json_parse(resp.body.data, resp.body.len);
	if (!*root || !cJSON_IsObject(*root)) {
		cJSON_Delete(*root);
		*root = NULL;
		r = sbx_fail(err, SBX_E_PROTOCOL, "%s %s: answer is not a JSON object (or nests too deep)", req->method,
		             c->cfg->url);
		if (err)
			err->http_status = resp.status;
	}
out:
	sbx_http_resp_free(&resp);
	return r;
}
