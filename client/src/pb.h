/*
 * libsbx's one door to the wire codec (wire/): a request is a protobuf-c
 * message of the schema (or of sbxd's extension) and a route row; its
 * path, query and body come from the codec (wire_route_path,
 * wire_route_query, wire_json_encode), so no JSON key is written by hand
 * in client/. Answers are decoded by the codec too, tolerant of fields
 * and enum names a newer service may add (proto3 clients ignore unknown
 * fields in responses) but strict on the type of every known field.
 */
#ifndef SBX_PB_H
#define SBX_PB_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "http.h"
#include "routes.h"
#include "sbx/sbx.h"

/* The caps on an answer libsbx decodes: the response cap of http.c, a
 * 32 MiB file in base64 (the real ReadFile's cap) and big list pages. */
extern const wire_caps sbx_pb_answer_caps;

/* The route of an RPC of the schema by name ("Exec"); SBX_E_INTERNAL
 * when the table lacks it (a build mismatch, not the caller's fault). */
sbx_result sbx_pb_route(const char *rpc, const wire_route **out, sbx_error *err);

/* The row of an extension call by its rpc name ("StartProcess"). */
sbx_result sbx_pb_ext_route(const char *rpc, const wire_route **out, sbx_error *err);

/* The path of a raw-byte call (the body is bytes, not JSON): r's template
 * with req's path variables, then every other set field of req but
 * skip_field (the bytes) as the query. */
sbx_result sbx_pb_raw_path(const wire_route *r, const ProtobufCMessage *req, const char *skip_field, char **path,
                           sbx_error *err);

/* req as a request of r: *path (malloc'd: the template with req's path
 * variables (strings, or int64 ids in decimal), then "?" and the query the codec writes, then extra_query
 * (already escaped, "k=v" pairs joined with '&', or NULL), and *body
 * (malloc'd JSON text by r's body rule, NULL when r takes none). */
sbx_result sbx_pb_request(const wire_route *r, const ProtobufCMessage *req, const char *extra_query, char **path,
                          char **body, size_t *body_len, sbx_error *err);

/* An answer's text as a message of type d (wire_message_free); an empty
 * body is the empty message. SBX_E_PROTOCOL names the field the codec
 * blamed. */
sbx_result sbx_pb_answer(const ProtobufCMessageDescriptor *d, const char *text, size_t len, ProtobufCMessage **out,
                         sbx_error *err);

/* The whole blocking call: build (sbx_pb_request), send with the options
 * of base (method and path are the route's; base's safe, wait_ms,
 * abort_flag, no_reuse kept), decode the 2xx answer as r's response type
 * into *out (NULL when out is NULL: the answer is only checked to be
 * JSON of that type). */
sbx_result sbx_pb_call(sbx_client *c, const wire_route *r, const ProtobufCMessage *req, const char *extra_query,
                       const sbx_http_req *base, ProtobufCMessage **out, sbx_error *err);

/* The same for a response type other than the row's (extension rows
 * share the row type). */
sbx_result sbx_pb_call_as(sbx_client *c, const wire_route *r, const ProtobufCMessage *req, const char *extra_query,
                          const sbx_http_req *base, const ProtobufCMessageDescriptor *resp, ProtobufCMessage **out,
                          sbx_error *err);

/* A message as canonical JSON, pretty (two-space indent, final newline),
 * for sbx_sandbox.json; NULL on failure. */
char *sbx_pb_pretty(const ProtobufCMessage *m);

#endif
