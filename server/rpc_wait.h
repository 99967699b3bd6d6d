/*
 * The extension's "waitProcesses" and "outputFd" operations (rpc_wait.c;
 * rpc.h's conventions, srv_lock held).
 */
#ifndef SRV_RPC_WAIT_H
#define SRV_RPC_WAIT_H

#include "rpc_exec.h"

/* Entries of one waitProcesses call: a mount batches its waiters in
 * calls of at most this many (parsed once per turn, looked up per wake). */
#define SRV_WAIT_PROCESSES_MAX 4096

/* Answers with the ended and the unknown ones as soon as there is one of
 * either; SRV_RPC_WAIT (woken by every sandbox's events) until then or
 * until waitSeconds. */
int srv_rpc_wait_processes(srv_call *c, const Sbxd__Ext__V1__WaitProcessesRequest *req,
                           Sbxd__Ext__V1__WaitProcessesResponse **resp, srv_status *st);

/* A fresh read-only descriptor of an ended stream's spool (out->fd, the
 * caller's), its size (out->size) and whether it was cut (truncated).
 * FAILED_PRECONDITION for a stream still live or without a spool. */
int srv_rpc_open_output(srv_call *c, const Sbxd__Ext__V1__OpenOutputRequest *req, srv_output *out,
                        srv_status *st);

#endif
