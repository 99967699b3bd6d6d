/*
 * The decoding half of libsbx's gRPC transport (grpcmsg.c): what the
 * service's bytes become, with no call, channel or completion queue, so
 * grpc.c uses it on a live stream and fuzz_sbx_grpc feeds it any bytes.
 * The answers of StreamExec (ExecStreamResponse) and StreamLogs
 * (LogEntry), and a failed call's status with its grpc-status-details-bin
 * (a packed google.rpc.Status).
 */
#ifndef SBX_GRPCMSG_H
#define SBX_GRPCMSG_H

#include <stddef.h>

#include "sbx/sbx.h"

typedef enum {
	SBX_GMSG_READY = 1,
	SBX_GMSG_OUTPUT,
	SBX_GMSG_EXIT,
	SBX_GMSG_END, /* status OK with no exit message (should not happen) */
} sbx_gmsg_kind;

typedef struct sbx_gmsg {
	sbx_gmsg_kind kind;
	sbx_stream stream;   /* OUTPUT */
	char *data;          /* OUTPUT, malloc'd, caller frees */
	size_t len;
	int exit_code;       /* EXIT */
} sbx_gmsg;

/* One ExecStreamResponse of len bytes into m (zeroed first). SBX_OK with
 * *skip = 1: a kind of answer this libsbx does not know (a newer
 * service's), nothing in m; SBX_E_PROTOCOL when the bytes are not the
 * message; the answer's own error (its code and message) as SBX_E_INTERNAL. */
sbx_result sbx_gmsg_exec(const void *bytes, size_t len, sbx_gmsg *m, int *skip, sbx_error *err);
/* One LogEntry into m (an OUTPUT of SBX_STDOUT), or its error. */
sbx_result sbx_gmsg_logs(const void *bytes, size_t len, sbx_gmsg *m, sbx_error *err);
/* A call's final status: grpc code (0 = OK, which is SBX_OK), the
 * grpc-message text (NULL or len bytes, no NUL needed) and the
 * grpc-status-details-bin bytes (NULL: none). A details Status whose code
 * matches is decoded as REST's error bodies are (ErrorInfo, RetryInfo,
 * BadRequest); else the code and text alone. */
sbx_result sbx_gmsg_status(int code, const char *text, size_t text_len, const void *details, size_t details_len,
                           sbx_error *err);

#endif
