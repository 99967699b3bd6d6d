/*
 * The gRPC messages libsbx receives, decoded (see grpcmsg.h): protobuf-c
 * unpacks them by wire/'s generated descriptors, and a details Status goes
 * through the same decoder as REST's error bodies (error.c), by its
 * canonical JSON, so both transports give one sbx_error for one Status.
 */
#include "grpcmsg.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sandbox.pb-c.h"
#include "status.pb-c.h"
#include "routes.h"   /* wire/: its json.h, the codec */
#include "util.h"

/* data into m as an OUTPUT (a copy: the message is freed next). */
static sbx_result output(sbx_gmsg *m, sbx_stream s, const ProtobufCBinaryData *d, sbx_error *err)
{
	m->kind = SBX_GMSG_OUTPUT;
	m->stream = s;
	m->len = d->len;
	m->data = malloc(d->len ? d->len : 1);
	if (!m->data) {
		m->len = 0;
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	if (d->len)
		memcpy(m->data, d->data, d->len);
	return SBX_OK;
}

sbx_result sbx_gmsg_exec(const void *bytes, size_t len, sbx_gmsg *m, int *skip, sbx_error *err)
{
	memset(m, 0, sizeof *m);
	*skip = 0;
	Coreweave__Sandbox__V1__ExecStreamResponse *rs =
		coreweave__sandbox__v1__exec_stream_response__unpack(NULL, len, bytes);
	if (!rs)
		return sbx_fail(err, SBX_E_PROTOCOL, "StreamExec answer does not unpack");
	sbx_result res = SBX_OK;
	switch (rs->message_case) {
	case COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__MESSAGE_READY:
		m->kind = SBX_GMSG_READY;
		break;
	case COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__MESSAGE_OUTPUT:
		res = output(m,
		             rs->output->stream == COREWEAVE__SANDBOX__V1__EXEC_STREAM_OUTPUT__STREAM__STREAM_STDERR
		                     ? SBX_STDERR
		                     : SBX_STDOUT,
		             &rs->output->data, err);
		break;
	case COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__MESSAGE_EXIT:
		m->kind = SBX_GMSG_EXIT;
		m->exit_code = rs->exit->exit_code;
		break;
	case COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__MESSAGE_ERROR:
		res = sbx_fail(err, SBX_E_INTERNAL, "StreamExec: %s%s%s",
		               rs->error->code && *rs->error->code ? rs->error->code : "",
		               rs->error->code && *rs->error->code ? ": " : "",
		               rs->error->message ? rs->error->message : "error");
		break;
	default:
		*skip = 1; /* a newer kind of answer */
		break;
	}
	coreweave__sandbox__v1__exec_stream_response__free_unpacked(rs, NULL);
	return res;
}

sbx_result sbx_gmsg_logs(const void *bytes, size_t len, sbx_gmsg *m, sbx_error *err)
{
	memset(m, 0, sizeof *m);
	Coreweave__Sandbox__V1__LogEntry *e = coreweave__sandbox__v1__log_entry__unpack(NULL, len, bytes);
	if (!e)
		return sbx_fail(err, SBX_E_PROTOCOL, "StreamLogs answer does not unpack");
	sbx_result r;
	if (e->error)
		r = sbx_fail(err, SBX_E_INTERNAL, "StreamLogs: %s", e->error->message ? e->error->message : "error");
	else
		r = output(m, SBX_STDOUT, &e->data, err);
	coreweave__sandbox__v1__log_entry__free_unpacked(e, NULL);
	return r;
}

sbx_result sbx_gmsg_status(int code, const char *text, size_t text_len, const void *details, size_t details_len,
                           sbx_error *err)
{
	if (code == 0)
		return SBX_OK;
	sbx_error tmp;
	if (!err)
		err = &tmp;
	if (details) {
		ProtobufCMessage *st = protobuf_c_message_unpack(&google__rpc__status__descriptor, NULL, details_len,
		                                                 details);
		char *js = NULL;
		size_t jl = 0;
		wire_err we;
		/* the one decoder of Status libsbx has: REST's, on the same
		 * message as canonical JSON */
		if (st && wire_json_encode(st, NULL, &js, &jl, &we) == 0) {
			sbx_result r = sbx_error_from_response(500, js, jl, err);
			free(js);
			protobuf_c_message_free_unpacked(st, NULL);
			if (err->grpc_code == code)
				return r;
		} else if (st) {
			protobuf_c_message_free_unpacked(st, NULL);
		}
	}
	sbx_error_clear(err);
	sbx_result r = sbx_error_from_grpc(code);
	if (text_len > sizeof err->message)
		text_len = sizeof err->message;
	sbx_fail(err, r, "gRPC status %d: %.*s", code, text ? (int)text_len : 0, text ? text : "");
	err->grpc_code = code;
	return r;
}
