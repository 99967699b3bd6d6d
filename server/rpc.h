/*
 * The one core of sbxd's front ends (docs/internals/server.md, "rpc"):
 * an operation per RPC of SandboxService and of sbxd's extension, taking
 * the generated request message (protoc-c's structs, however the front
 * end decoded them: REST's JSON codec or gRPC's binary one) and the
 * caller, and giving back either a response message or a srv_status. The
 * REST front end (api.c) is route match + JSON codec + these; a gRPC front
 * end is method path + binary codec + these. No front end holds logic the
 * other would need.
 *
 * Errors are srv_status values built from ONE table (rpc.c, STYLE E7):
 * an error kind gives the google.rpc.Code and the ErrorInfo reason
 * (domain cwsandbox.com); the HTTP status follows from the code by the
 * standard mapping (srv_http_status). srv_status_to_pb turns one into the
 * google.rpc.Status both front ends send (REST as JSON with the HTTP
 * status, gRPC packed into grpc-status-details-bin).
 *
 * Waiting calls (the extension's :wait, GetProcess and output reads; Exec) are re-entrant:
 * when the answer is "not yet", the operation registers the call's
 * srv_waiter on the sandbox and returns SRV_RPC_WAIT; the front end then
 * parks the call (api.c suspends the MHD connection) and, once woken
 * (core.h's srv_wake -> w->resume or srv_http_resume), calls the same
 * operation again with the same srv_call and request. The srv_call keeps
 * what must survive between the calls (the deadline); spurious wake-ups
 * are harmless. All operations: call with srv_lock held (some drop it for
 * a while, as the runtime calls need).
 */
#ifndef SRV_RPC_H
#define SRV_RPC_H

#include <stdint.h>

#include "core.h"
#include "json.h"
#include "extension.pb-c.h"
#include "sandbox.pb-c.h"
#include "status.pb-c.h"

/* The error kinds (srv_err) are in core.h, with srv_refusal, so that core.c
 * names them too; each is one row of rpc.c's table. */

#define SRV_STATUS_MD 4      /* ErrorInfo metadata entries */
#define SRV_STATUS_MDLEN 192 /* bytes of one metadata value */

/* An error as both front ends send it. code 0 = OK (nothing to send). */
typedef struct srv_status {
	int code;                    /* google.rpc.Code */
	const char *reason;          /* ErrorInfo reason; NULL: no ErrorInfo */
	char msg[SRV_MSGLEN + 64];   /* google.rpc.Status.message */
	char field[SRV_FIELDLEN];    /* BadRequest field path; "" = no BadRequest
	                                (the description is msg) */
	const char *md_key[SRV_STATUS_MD];        /* ErrorInfo metadata; NULL ends */
	char md_val[SRV_STATUS_MD][SRV_STATUS_MDLEN];
	int retry_ms;                /* RetryInfo.retryDelay; 0 = none */
} srv_status;

/* Fills st from the table row of kind: field (NULL or "" = none) names the
 * field to blame; the message from fmt. Returns -1 (so an operation can
 * `return srv_fail(...)`). */
int srv_fail(srv_status *st, srv_err kind, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Adds one ErrorInfo metadata entry (key must be a literal or outlive st;
 * dropped when st is full or has no ErrorInfo). */
void srv_status_md(srv_status *st, const char *key, const char *val);
/* A parse failure of parse.c (srv_perr) or of the codec (wire_err:
 * message + JSON path) as 400/3 INVALID_ARGUMENT naming its field. */
int srv_fail_perr(srv_status *st, const srv_perr *e);
int srv_fail_wire(srv_status *st, const wire_err *e);
/* A refusal of core.c (srv_create, srv_proc_start) as a status. */
int srv_fail_refusal(srv_status *st, const srv_refusal *w);

/* The standard google.rpc.Code -> HTTP status mapping (wire.md 6). */
unsigned srv_http_status(int code);

/* st as a google.rpc.Status message (ErrorInfo, RetryInfo, BadRequest
 * packed as Any in that order; no empty metadata, no empty details).
 * Malloc'd; free with wire_message_free. NULL: out of memory. */
Google__Rpc__Status *srv_status_to_pb(const srv_status *st);

/* ------------------------------------------------------------ the calls */

/* Who calls, and what a waiting call keeps between its turns. Zero it
 * (srv_call_init) once per call, before the first turn. */
typedef struct srv_call {
	uint32_t peer;               /* the caller's uid (SO_PEERCRED); 0: root or TCP */
	srv_waiter *w;               /* the front end's waiter for this call
	                                (w->con, w->resume set by the front end) */
	int64_t deadline;            /* waiting calls: monotonic ns, 0 none */
	int deadline_set;
	uint32_t seq, uid;           /* Exec: the running exec         */
	int64_t max;                 /* its maxOutputBytes */
} srv_call;

void srv_call_init(srv_call *c, uint32_t peer, srv_waiter *w);

/* A call that ends while parked (the client went away) must leave the
 * list: srv_waiter_remove(c->w) under srv_lock (api.c's on_completed). A
 * NULL c->w never parks: waiting calls then answer at once. */

/* What an operation returns. */
#define SRV_RPC_OK 0     /* *resp set (caller frees with wire_message_free) */
#define SRV_RPC_FAIL (-1) /* st set */
#define SRV_RPC_WAIT 1   /* registered c->w; park and call again when woken */

int srv_rpc_create(srv_call *c, const Coreweave__Sandbox__V1__CreateSandboxRequest *req,
                   Coreweave__Sandbox__V1__Sandbox **resp, srv_status *st);
int srv_rpc_get(srv_call *c, const Coreweave__Sandbox__V1__GetSandboxRequest *req,
                Coreweave__Sandbox__V1__Sandbox **resp, srv_status *st);
int srv_rpc_list(srv_call *c, const Coreweave__Sandbox__V1__ListSandboxesRequest *req,
                 Coreweave__Sandbox__V1__ListSandboxesResponse **resp, srv_status *st);
int srv_rpc_delete(srv_call *c, const Coreweave__Sandbox__V1__DeleteSandboxRequest *req,
                   Coreweave__Sandbox__V1__DeleteSandboxResponse **resp, srv_status *st);
int srv_rpc_purge(srv_call *c, const Coreweave__Sandbox__V1__PurgeSandboxesRequest *req,
                  Coreweave__Sandbox__V1__PurgeSandboxesResponse **resp, srv_status *st);
/* Any RPC of the schema sbxd does not serve: 501/12 CWSANDBOX_NOT_IMPLEMENTED. */
int srv_rpc_unimplemented(const char *rpc, srv_status *st);

/* The extension (proto/sbxd/ext/v1/extension.proto). */
/* :wait: the Sandbox once terminal or at waitSeconds (capped at
 * SRV_MAX_WAIT); SRV_RPC_WAIT meanwhile. */
int srv_rpc_wait(srv_call *c, const Sbxd__Ext__V1__WaitRequest *req, Coreweave__Sandbox__V1__Sandbox **resp,
                 srv_status *st);
/* :forget: stops like DeleteSandbox, then drops the record and output. */
int srv_rpc_forget(srv_call *c, const Sbxd__Ext__V1__ForgetRequest *req,
                   Coreweave__Sandbox__V1__DeleteSandboxResponse **resp, srv_status *st);
/* GET /v1/extensions: the server and the extension names sbxd serves. */
int srv_rpc_extensions(Sbxd__Ext__V1__GetExtensionsResponse **resp, srv_status *st);
/* GET /v1/images ("images"): the OCI store's images; 500 when the store
 * cannot be read. */
int srv_rpc_list_images(Sbxd__Ext__V1__ListImagesResponse **resp, srv_status *st);

/* The sandbox's schema form, srv_sbx_to_pb, is persist.h's. */

/* The command and file operations (Exec, ReadFile, WriteFile, and the extension's
 * processes, output, files and posix calls): rpc_exec.h, rpc_files.h. */
#include "rpc_exec.h"
#include "rpc_files.h"
#include "rpc_snap.h"

#endif
