/*
 * A call's request message from its HTTP body, in either encoding sbxd
 * reads (docs/api.md, "Encodings"): proto3 JSON, the default of every
 * route, or the binary protobuf encoding of the same message
 * (application/x-protobuf), which api.c takes on the extension's rows
 * only. One function for both, so that api.c and the fuzz target
 * (tests/server/fuzz_request.c) run the same checks.
 */
#ifndef SRV_REQBODY_H
#define SRV_REQBODY_H

#include <stddef.h>

#include "parse.h"
#include "routes.h"

/* The media type of the binary encoding (what Google's APIs answer
 * alt=proto with; application/octet-stream is raw bytes here). */
#define SRV_PB_MEDIA "application/x-protobuf"

/* A new request message of row w (wire_message_free) from body (len
 * bytes, NUL after them): binary 0: every string of the JSON text UTF-8
 * without NUL, nesting at most SRV_MAX_DEPTH (srv_json_check), then the
 * codec by w's body rule; binary 1 (w's body must be "*"): wire_pb_decode
 * with caps. 0, or -EINVAL / -E2BIG with e (the field to blame), -ENOMEM;
 * *out is NULL on failure. */
int srv_request_body(const wire_route *w, const char *body, size_t len, int binary, const wire_caps *caps,
		     ProtobufCMessage **out, srv_perr *e);

/* A Content-Type value names media type (its parameters aside; case
 * does not count). */
int srv_media_is(const char *value, const char *type);

/* An Accept value lists media type as one of its ranges, with a q other
 * than 0 (no wildcard counts: only a client that names the type gets
 * it). */
int srv_media_accepted(const char *value, const char *type);

#endif
