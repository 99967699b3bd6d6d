/*
 * Processes, output and unary exec of libsbx, with the fallback for
 * services that lack sbxd's process extension: a background process then
 * runs as a unary :exec on a thread of its own, kept in a per-client table.
 * The async loop (async.c) reads that table through the calls below.
 */
#ifndef SBX_PROC_H
#define SBX_PROC_H

#include <stdint.h>

#include "http.h"

#define SBX_MAX_WAIT 60
#define SBX_MAX_READ ((size_t)4 << 20)

/* What a caller (sbxfs's `error` file) shows when the service lacks the
 * processes extension and a request needs it. */
#define SBX_MSG_NO_TIMEOUT "timeoutSeconds needs the service's \"processes\" extension (the real Exec has no timeout)"
#define SBX_MSG_NO_MAIN_STDERR                                                                                   \
	"the main command's stderr needs the service's \"output\" extension (StreamLogs does not separate it: it is " \
	"in stdout)"
#define SBX_MSG_NO_STDIN "stdin needs the service's \"processes\" extension (the real Exec takes no input)"

/* Stops and joins every fallback thread (client_free). */
void sbx_fb_shutdown(sbx_client *c);

/* Lookups in the fallback table, under c->fb_mu held by the caller.
 * NULL when the table has no such process. */
sbx_fb_proc *sbx_fb_find(sbx_client *c, const char *sandbox_id, int64_t pid);
int sbx_fb_done(const sbx_fb_proc *p);
/* Done, or (a streamed process, stream >= 0) output past offset is in. */
int sbx_fb_ready(const sbx_fb_proc *p, int stream, int64_t offset);
/* The main command's StreamLogs entry of the table (id SBX_MAIN), opened
 * on first use and again once a failed one's retry time passed; fb_mu
 * held. sbx_fb_logs_error: the error to answer instead of a read (the
 * stream failed with nothing in it; ENOTSUP when gRPC is unreachable). */
sbx_result sbx_fb_logs(sbx_client *c, const char *sandbox_id, sbx_fb_proc **out, sbx_error *err);
sbx_result sbx_fb_logs_error(const sbx_fb_proc *p, sbx_error *err);
/* A snapshot as an sbx_process (caller frees); fb_mu held. */
sbx_result sbx_fb_snapshot(const sbx_fb_proc *p, sbx_process **out, sbx_error *err);
/* The error a read at offset answers instead of EOF: the process's
 * StreamExec broke (the service went) before its exit, and offset is at
 * the end of what came; SBX_OK otherwise. fb_mu held. */
sbx_result sbx_fb_stream_error(const sbx_fb_proc *p, sbx_stream s, int64_t offset, sbx_error *err);
/* The error a wait for the exit answers instead of the record: the
 * StreamExec broke before an exit came, so the exit is not known (the
 * record says FAILED, 127, for listings); SBX_OK otherwise. fb_mu held. */
sbx_result sbx_fb_exit_error(const sbx_fb_proc *p, sbx_error *err);
/* Copies up to maxlen bytes at offset into buf and fills chunk; fb_mu held. */
void sbx_fb_read(const sbx_fb_proc *p, sbx_stream s, int64_t offset, void *buf, size_t maxlen, sbx_chunk *chunk);

/* *fb = 1 when process calls must use the fallback table, 0 when the
 * service has the extension; the probe's result (err filled on failure). */
sbx_result sbx_use_fallback(sbx_client *c, int *fb, sbx_error *err);

/* Wakes every async loop of the client: a fallback process ended. */
void sbx_async_notify(sbx_client *c);

/* sbx_exec that stops early when *abort_flag becomes non-zero. */
sbx_result sbx_exec_abortable(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, int64_t max_output_bytes,
                              sbx_exec_result **out, sbx_error *err, const int *abort_flag);

/* URL path of an output stream read. */
char *sbx_output_path(const char *sandbox_id, int64_t pid, sbx_stream s, int64_t offset, size_t maxlen,
                      int wait_seconds);
/* Fills chunk from a finished read answer (headers of resp). */
void sbx_output_chunk(const sbx_http_resp *resp, int64_t offset, const void *data, size_t len, sbx_chunk *chunk);

#endif
