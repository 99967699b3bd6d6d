/*
 * sbxd's gRPC front end (docs/internals/grpc.md): coreweave.sandbox.v1.
 * SandboxService over HTTP/2 with the gRPC C core (libgrpc), on TCP (h2c,
 * or TLS with ALPN h2 given a certificate and key; bearer token in the
 * metadata) and on a unix socket (the peer's uid by SO_PEERCRED, as the
 * REST socket). Method path + binary codec (protobuf-c) + rpc.h's
 * operations; the streaming calls on rpc_stream.h's.
 */
#ifndef SRV_GRPC_H
#define SRV_GRPC_H

typedef struct srv_grpc_config {
	const char *listen;          /* HOST:PORT or NULL */
	const char *cert, *key;      /* PEM files: TLS on listen; NULL: h2c */
	int unix_fd;                 /* a listening unix socket, or -1 (taken over) */
	const char *token;           /* TCP callers' bearer token (copied) */
} srv_grpc_config;

/* Starts serving; -1 with a message. The unix socket is ours then (also
 * on failure). */
int srv_grpc_start(const srv_grpc_config *cfg, char *err);
/* After srv_core_quiesce: cancels every call and stops. */
void srv_grpc_stop(void);

#endif
