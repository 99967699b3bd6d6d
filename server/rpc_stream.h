/*
 * The streaming operations of SandboxService (StreamExec, StreamLogs) in
 * rpc.h's style: srv_lock held, SRV_RPC_OK / _FAIL / _WAIT, a srv_status
 * on failure, no transport inside. A front end (grpc.c) drives them: it
 * starts a stream, then asks for the next chunk of output whenever the
 * peer can take one (so sbxd never reads a spool faster than the peer's
 * flow-control window drains it: the spools on disk hold what a fast
 * producer writes meanwhile), and hands stdin chunks, close and signals
 * on as the client sends them.
 *
 * A stream reads both spools (stdout, stderr) of one process from
 * offsets it keeps itself, taking turns so neither starves the other.
 * When nothing is left to read and the process still runs, the next-chunk
 * call parks the call's waiter(s) on the spools (inotify) and the
 * sandbox (exits), exactly like the REST output long-poll.
 */
#ifndef SRV_RPC_STREAM_H
#define SRV_RPC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "rpc.h"

/* srv_rpc_stream_stdin: the pipe is full; try again shortly (nothing was
 * written, no waiter registered). */
#define SRV_RPC_FULL 2

typedef struct srv_stream {
	char sandbox_id[136];
	int64_t proc;                /* process id; 0 = the main command (logs) */
	int64_t off[3];              /* next offset in stdout (1) and stderr (2) */
	int eof[3];
	int turn;                    /* stream read first next time */
	int follow;                  /* logs: wait for more while it runs */
	int exec;                    /* StreamExec: ends with the exit code */
	srv_waiter w2;               /* stderr's spool watch (c->w has stdout's) */
} srv_stream;

/* StreamExec's init: starts the command as a process of the sandbox
 * with a stdin pipe (one of its listed processes, output spooled). tty
 * is refused (sbxd's runtime has no terminals). */
int srv_rpc_stream_exec_start(srv_call *c, const Coreweave__Sandbox__V1__ExecStreamInit *init, srv_stream *x,
                              srv_status *st);
/* StreamLogs: the main command's output (both streams, interleaved as
 * read). follow: until the sandbox's main command ends. */
int srv_rpc_stream_logs_start(srv_call *c, const Coreweave__Sandbox__V1__StreamLogsRequest *req, srv_stream *x,
                              srv_status *st);

/* The next chunk, at most cap bytes into buf: SRV_RPC_OK with *stream
 * (1 stdout, 2 stderr) and *n > 0; SRV_RPC_OK with *n = 0 and *done = 1:
 * the end (StreamExec: *exit_code is the process's, 128 + N when signal
 * N ended it); SRV_RPC_WAIT: parked, call again when woken. Before
 * calling again after a wake-up nothing needs undoing: the call removes
 * its own waiters first. */
int srv_rpc_stream_next(srv_call *c, srv_stream *x, unsigned char *buf, size_t cap, int *stream, size_t *n,
                        int *done, int *exit_code, srv_status *st);
/* stdin bytes for the process: OK with *taken bytes of data queued (at
 * most a small piece: call again for the rest; all of it when the process
 * is gone or its stdin closed: the bytes are dropped, its exit is on its
 * way), or SRV_RPC_FULL with none taken: the pipe holds all sbxd queues
 * for it, and room(arg) is called (srv_lock held) once it takes bytes or
 * closes. The caller then waits, reading no more of the client's
 * messages, so HTTP/2 flow control holds the client back; it calls
 * srv_rpc_stream_stdin_unwait before arg goes away. */
int srv_rpc_stream_stdin(srv_call *c, srv_stream *x, const unsigned char *data, size_t len, size_t *taken,
                         void (*room)(void *), void *arg, srv_status *st);
/* Takes back the room(arg) hook srv_rpc_stream_stdin left (harmless when none). */
void srv_rpc_stream_stdin_unwait(srv_call *c, srv_stream *x, void *arg);
/* Close (or the client's half-close): EOF on the process's stdin. */
int srv_rpc_stream_close(srv_call *c, srv_stream *x, srv_status *st);
/* The caller went away: its waiters go and a still running process is
 * killed (SIGKILL; drops srv_lock while init delivers it). */
void srv_rpc_stream_abandon(srv_call *c, srv_stream *x);
/* Takes the stream's waiters off their lists (harmless when parked on none). */
void srv_rpc_stream_unpark(srv_call *c, srv_stream *x);

#endif
