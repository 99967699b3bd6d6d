/*
 * libsbx's gRPC transport (grpc.c): one job, StreamExec on the service's
 * gRPC endpoint, used only where sbxd's "processes" extension is absent
 * (the managed service, sbxd --no-extension). A channel per client, made
 * on first use from the config's gRPC address; a stream is one call with a
 * pluck completion queue of its own: one reader thread takes the answers
 * (sbx_grpc_exec_next), writers send stdin one message at a time.
 */
#ifndef SBX_GRPC_H
#define SBX_GRPC_H

#include <stddef.h>

#include "http.h"

typedef struct sbx_gstream sbx_gstream;

#include "grpcmsg.h"   /* sbx_gmsg: what a stream's answers become */

/* The gRPC target of the client's config into buf: NULL when none (the
 * address is "none" or cannot be derived). */
const char *sbx_grpc_target(const sbx_config *cfg, char *buf, size_t cap);

/* Opens a StreamExec call and sends init (argv, env; a cwd goes through
 * the same sh wrapper as Exec). No answer is awaited here. */
sbx_result sbx_grpc_exec_open(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, sbx_gstream **out,
                              sbx_error *err);
/* The next answer, waiting at most wait_ms (-1: no limit). A failure
 * status of the call is its sbx_result with err filled (the google.rpc.
 * Status of grpc-status-details-bin); SBX_E_TIMEOUT when the wait ended.
 * One thread at a time. */
sbx_result sbx_grpc_exec_next(sbx_gstream *g, long wait_ms, sbx_gmsg *m, sbx_error *err);
/* Sends one stdin message (len <= 1 MiB; a piece waits for the previous
 * to leave, at most wait_ms). SBX_E_EXHAUSTED: the previous piece is still
 * in flight after wait_ms, nothing of this one was taken. */
sbx_result sbx_grpc_exec_stdin(sbx_gstream *g, const void *data, size_t len, long wait_ms, sbx_error *err);
/* Sends `close` (EOF on the process's stdin). */
sbx_result sbx_grpc_exec_close(sbx_gstream *g, long wait_ms, sbx_error *err);
/* Opens StreamLogs with follow for the sandbox's main command; its
 * LogEntry data (stdout and stderr as the service interleaves them) come
 * as OUTPUT messages of SBX_STDOUT from sbx_grpc_logs_next (no limit on
 * the wait: the reader thread's). */
sbx_result sbx_grpc_logs_open(sbx_client *c, const char *sandbox_id, sbx_gstream **out, sbx_error *err);
sbx_result sbx_grpc_logs_next(sbx_gstream *g, sbx_gmsg *m, sbx_error *err);
/* Cancels the call: the service kills the command with its stream. */
void sbx_grpc_exec_cancel(sbx_gstream *g);
/* Cancels if needed and frees; no other thread may use g any more. */
void sbx_grpc_exec_free(sbx_gstream *g);

/* SBX_OK when the channel is (or within wait_ms becomes) connected;
 * SBX_E_UNAVAILABLE when it cannot connect, SBX_E_UNSUPPORTED with no
 * address. Cheap once connected. */
sbx_result sbx_grpc_reachable(sbx_client *c, long wait_ms, sbx_error *err);
/* Frees the client's channel (client_free). */
void sbx_grpc_client_free(sbx_client *c);

#endif
