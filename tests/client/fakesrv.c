/*
 * The fault-injecting test server of tests/client (see fakesrv.h). It parses
 * just enough HTTP/1.1 for libsbx's requests: a request line, headers,
 * Content-Length bodies.
 */
#include "fakesrv.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNS 4096

struct fake_srv {
	int lfd, port;
	fake_handler h;
	void *ud;
	pthread_t th;
	pthread_mutex_t mu;
	int stop;
	int count;
	int fds[MAX_CONNS];
	pthread_t ths[MAX_CONNS];
	int nconn;
};

typedef struct conn {
	fake_srv *s;
	int fd;
} conn;

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fake_reply_raw(int fd, int status, const char *headers, const void *body, size_t len)
{
	char head[1024];
	int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, len,
	                 headers ? headers : "Content-Type: application/json\r\n");
	if (write_all(fd, head, (size_t)n) != 0)
		return -1;
	return len ? write_all(fd, body, len) : 0;
}

int fake_reply(int fd, int status, const char *body)
{
	return fake_reply_raw(fd, status, NULL, body, strlen(body));
}

int fake_reply_status(int fd, int http, int code, const char *reason, const char *msg, const char *retry)
{
	char body[1024];
	char rbuf[128] = "";
	if (retry)
		snprintf(rbuf, sizeof rbuf, ",{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"%s\"}",
		         retry);
	snprintf(body, sizeof body,
	         "{\"code\":%d,\"message\":\"%s\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
	         "\"reason\":\"%s\",\"domain\":\"cwsandbox.com\"}%s]}",
	         code, msg, reason, rbuf);
	return fake_reply(fd, http, body);
}

void fake_reset(int fd)
{
	struct linger l = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	shutdown(fd, SHUT_RDWR);
}

void fake_hold(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	poll(&p, 1, ms);
}

/* Reads one request; 0 ok, -1 on close or garbage. */
static int read_req(int fd, char *buf, size_t cap, size_t *have, fake_req *req)
{
	char *end;
	for (;;) {
		buf[*have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		if (*have >= cap - 1)
			return -1;
		ssize_t n = recv(fd, buf + *have, cap - 1 - *have, 0);
		if (n <= 0)
			return -1;
		*have += (size_t)n;
	}
	size_t hlen = (size_t)(end - buf) + 4;
	memset(req, 0, sizeof *req);
	if (sscanf(buf, "%15s %2047s", req->method, req->path) != 2)
		return -1;
	size_t clen = 0;
	for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtoul(line + 15, NULL, 10);
		else if (strncasecmp(line, "Authorization:", 14) == 0 || strncasecmp(line, "x-wandb-api-key:", 16) == 0) {
			char *eol = strstr(line, "\r\n");
			size_t l = (size_t)(eol - line);
			if (l >= sizeof req->auth)
				l = sizeof req->auth - 1;
			memcpy(req->auth, line, l);
			req->auth[l] = '\0';
		}
	}
	if (clen > 64 << 20)
		return -1;
	req->body = malloc(clen + 1);
	if (!req->body)
		return -1;
	size_t got = *have - hlen < clen ? *have - hlen : clen;
	memcpy(req->body, buf + hlen, got);
	while (got < clen) {
		ssize_t n = recv(fd, req->body + got, clen - got, 0);
		if (n <= 0) {
			free(req->body);
			return -1;
		}
		got += (size_t)n;
	}
	req->body[clen] = '\0';
	req->body_len = clen;
	/* Keep what followed this request for the next one. */
	size_t used = hlen + (clen < *have - hlen ? clen : *have - hlen);
	memmove(buf, buf + used, *have - used);
	*have -= used;
	return 0;
}

static void *conn_main(void *arg)
{
	conn *cn = arg;
	fake_srv *s = cn->s;
	int fd = cn->fd;
	free(cn);
	static __thread char buf[65536];
	size_t have = 0;
	for (;;) {
		fake_req req;
		if (read_req(fd, buf, sizeof buf, &have, &req) != 0)
			break;
		pthread_mutex_lock(&s->mu);
		s->count++;
		pthread_mutex_unlock(&s->mu);
		int rc = s->h(s->ud, fd, &req);
		free(req.body);
		if (rc != 0)
			break;
	}
	shutdown(fd, SHUT_RDWR);
	return NULL;
}

static void *accept_main(void *arg)
{
	fake_srv *s = arg;
	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		pthread_mutex_lock(&s->mu);
		if (s->stop || s->nconn >= MAX_CONNS) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			if (s->stop)
				break;
			continue;
		}
		conn *cn = malloc(sizeof *cn);
		cn->s = s;
		cn->fd = fd;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 256 * 1024);
		s->fds[s->nconn] = fd;
		if (pthread_create(&s->ths[s->nconn], &at, conn_main, cn) != 0) {
			close(fd);
			free(cn);
		} else {
			s->nconn++;
		}
		pthread_attr_destroy(&at);
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

fake_srv *fake_start(const char *unix_path, fake_handler h, void *ud)
{
	fake_srv *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->h = h;
	s->ud = ud;
	pthread_mutex_init(&s->mu, NULL);
	if (unix_path) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof a.sun_path, "%s", unix_path);
		unlink(unix_path);
		s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0)
			goto fail;
	} else {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		socklen_t al = sizeof a;
		if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
		    getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
			goto fail;
		s->port = ntohs(a.sin_port);
	}
	if (listen(s->lfd, 4096) != 0 || pthread_create(&s->th, NULL, accept_main, s) != 0)
		goto fail;
	return s;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	free(s);
	return NULL;
}

int fake_port(const fake_srv *s)
{
	return s->port;
}

int fake_count(fake_srv *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->count;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int fake_conns(fake_srv *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->nconn;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void fake_stop(fake_srv *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	for (int i = 0; i < s->nconn; i++)
		shutdown(s->fds[i], SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	for (int i = 0; i < s->nconn; i++) {
		pthread_join(s->ths[i], NULL);
		close(s->fds[i]);
	}
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
