/*
 * A stand-in for a service that offers only the public unary calls (no
 * sbxd extension), built on libmicrohttpd: sandboxes live in memory, :exec
 * really runs the command on the host with /bin/sh semantics, and every
 * other route answers 404 UNIMPLEMENTED. libsbx's fallback is tested
 * against it.
 */
#ifndef PUBSRV_H
#define PUBSRV_H

typedef struct pub_srv pub_srv;

pub_srv *pub_start(const char *unix_path);
/* The same service over HTTPS on 127.0.0.1 (PEM key and certificate in
 * memory); *port receives the port. */
pub_srv *pub_start_tls(const char *key_pem, const char *cert_pem, int *port);
void pub_stop(pub_srv *s);
/* :exec calls served so far. */
int pub_execs(pub_srv *s);

#endif
