/*
 * The arguments of a command to run (the real Exec and the extension's
 * process start), from their decoded request messages (the codec did the
 * JSON or binary part) into srv_proc_req, with every cap and range check
 * of docs/api.md, before any sandbox is looked at. Pure code with no
 * state, in the parser library, so the fuzz target runs what sbxd runs.
 * Failures return -1 with a message and the field's JSON path in err.
 */
#ifndef SRV_PROCARGS_H
#define SRV_PROCARGS_H

#include "extension.pb-c.h"
#include "parse.h"
#include "sandbox.pb-c.h"

/* The default and the cap of ExecRequest.maxOutputBytes (per stream). */
#define SRV_EXEC_DEFAULT_OUTPUT (1 << 20)
#define SRV_EXEC_MAX_OUTPUT (64 << 20)

/* ExecRequest: command (argv, non-empty), env, maxOutputBytes (0 = the
 * default, else 1..SRV_EXEC_MAX_OUTPUT). The real call has no cwd,
 * timeout or stdin: those stay unset. container is checked by the caller
 * (it needs the sandbox). */
int srv_proc_req_from_exec(const Coreweave__Sandbox__V1__ExecRequest *m, srv_proc_req *out, srv_perr *err);

/* StartProcessRequest (extension "processes"). */
int srv_proc_req_from_start(const Sbxd__Ext__V1__StartProcessRequest *m, srv_proc_req *out, srv_perr *err);

#endif
