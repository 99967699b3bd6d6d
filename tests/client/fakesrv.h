/*
 * A tiny raw-socket HTTP/1.1 server for libsbx's tests: one thread per
 * connection, keep-alive, and a handler that writes whatever bytes it likes
 * (good answers, slow answers, truncated bodies, resets, silence), so the
 * client's error paths can be driven exactly. Listens on a unix socket or on
 * 127.0.0.1 with an ephemeral port.
 */
#ifndef FAKESRV_H
#define FAKESRV_H

#include <stddef.h>

typedef struct fake_req {
	char method[16];
	char path[2048];
	char auth[512];            /* the Authorization header, if any */
	char *body;
	size_t body_len;
} fake_req;

/* Writes the answer to fd. Return 0 to keep the connection, -1 to close it. */
typedef int (*fake_handler)(void *ud, int fd, const fake_req *req);

typedef struct fake_srv fake_srv;

/* unix_path NULL: TCP on 127.0.0.1, see fake_port. */
fake_srv *fake_start(const char *unix_path, fake_handler h, void *ud);
int fake_port(const fake_srv *s);
void fake_stop(fake_srv *s);
/* Requests seen so far. */
int fake_count(fake_srv *s);
/* Connections accepted so far (each takes one of 4096 places). */
int fake_conns(fake_srv *s);

int fake_reply(int fd, int status, const char *body);
int fake_reply_raw(int fd, int status, const char *headers, const void *body, size_t len);
/* A google.rpc.Status error answer. retry NULL = no RetryInfo. */
int fake_reply_status(int fd, int http, int code, const char *reason, const char *msg, const char *retry);
/* Waits up to ms for the peer to close (or the server to stop). */
void fake_hold(int fd, int ms);
/* Closes with a TCP/unix reset where possible. */
void fake_reset(int fd);

#endif
