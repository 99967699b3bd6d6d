/*
 * The HTTP face of sbxd: libmicrohttpd daemons on the unix socket (and
 * optionally TCP with a bearer token), routing, request bodies with caps,
 * the handlers of every call in docs/api.md, JSON and google.rpc.Status
 * answers, and long-polls through MHD suspend/resume (core.h's waiters).
 */
#ifndef SRV_API_H
#define SRV_API_H

/* listen fds are bound and listening already; tcp_fd -1 = no TCP. The
 * token (NUL-terminated) is required on TCP and copied. tcp_idle_s: idle
 * connections on TCP are closed after that many seconds. */
int srv_http_start(int unix_fd, int tcp_fd, const char *token, unsigned tcp_idle_s, char *err);
void srv_http_stop(void);
/* 0: serve the real surface alone (sbxd --no-extension): the extension's
 * paths are unmatched (404) and GET /v1/extensions with them. Before
 * srv_http_start. */
void srv_http_set_extension(int on);

#endif
