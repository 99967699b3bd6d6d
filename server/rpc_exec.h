/*
 * The operations that run commands (rpc.h's conventions: srv_lock held,
 * SRV_RPC_OK / _FAIL / _WAIT, a response message or a srv_status): the
 * real Exec and the extension's "processes" and "output" calls, on their
 * generated messages, for the REST front end (api.c) and a gRPC one
 * (StreamExec is built from start with stdin, write stdin, close, signal,
 * read output from an offset and wait for the end).
 */
#ifndef SRV_RPC_EXEC_H
#define SRV_RPC_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "rpc.h"

/* Exec: runs the command and waits for its end (SRV_RPC_WAIT until then;
 * call again with the same c and req when woken). The answer holds at
 * most maxOutputBytes of each stream and the byte counts produced. */
int srv_rpc_exec(srv_call *c, const Coreweave__Sandbox__V1__ExecRequest *req,
                 Coreweave__Sandbox__V1__ExecResponse **resp, srv_status *st);
/* The caller of a waiting Exec went away: the command's record is freed
 * once it ends (it is not killed). Harmless when c holds no exec. */
void srv_rpc_exec_abandon(srv_call *c);

/* "processes" */
int srv_rpc_start_process(srv_call *c, const Sbxd__Ext__V1__StartProcessRequest *req, Sbxd__Ext__V1__Process **resp,
                          srv_status *st);
int srv_rpc_list_processes(srv_call *c, const Sbxd__Ext__V1__ListProcessesRequest *req,
                           Sbxd__Ext__V1__ListProcessesResponse **resp, srv_status *st);
/* Waits up to waitSeconds (capped at SRV_MAX_WAIT) while it runs. */
int srv_rpc_get_process(srv_call *c, const Sbxd__Ext__V1__GetProcessRequest *req, Sbxd__Ext__V1__Process **resp,
                        srv_status *st);
/* data: the bytes to write (all or nothing: a full pipe answers
 * CWSANDBOX_STDIN_FULL with RetryInfo and writes none). */
int srv_rpc_write_stdin(srv_call *c, const Sbxd__Ext__V1__WriteStdinRequest *req, const unsigned char *data,
                        size_t len, Sbxd__Ext__V1__WriteStdinResponse **resp, srv_status *st);
int srv_rpc_close_stdin(srv_call *c, const Sbxd__Ext__V1__CloseStdinRequest *req,
                        Sbxd__Ext__V1__CloseStdinResponse **resp, srv_status *st);
/* Drops srv_lock while the sandbox's init delivers the signal. */
int srv_rpc_signal_process(srv_call *c, const Sbxd__Ext__V1__SignalProcessRequest *req,
                           Sbxd__Ext__V1__SignalProcessResponse **resp, srv_status *st);

/* "output": a stream's bytes from an offset, raw. On SRV_RPC_OK, fd is
 * an open spool (or -1 when n == 0) that the caller reads n bytes of at
 * offset and closes; size the bytes produced so far, eof 1 when the
 * stream ended and offset + n reaches its end, truncated 1 when it ended
 * short of what the process wrote. Waits (SRV_RPC_WAIT) up to
 * waitSeconds at the end of a live stream. stream: 1 stdout, 2 stderr. */
typedef struct srv_output {
	int fd;
	int64_t offset, n, size;
	int eof, truncated;
} srv_output;
int srv_rpc_read_output(srv_call *c, const Sbxd__Ext__V1__ReadOutputRequest *req, int stream, srv_output *out,
                        srv_status *st);

/* A process record as the extension's Process (srv_lock held); NULL: no
 * memory. s may be NULL (no byte counts). */
Sbxd__Ext__V1__Process *srv_proc_to_pb(srv_sbx *s, const srv_proc *p);

/* The sandbox of a call's request for the caller (srv_lock held): NULL
 * with st set (SANDBOX_NOT_FOUND, metadata sandboxId) when it is not
 * there or another user's. */
srv_sbx *srv_rpc_sandbox(const srv_call *c, const char *id, srv_status *st);

/* The container of a real request: "" or the primary container's name,
 * else 400 naming field (its JSON path). 0 or SRV_RPC_FAIL. */
int srv_rpc_container(const srv_sbx *s, const char *container, const char *field, srv_status *st);

#endif
