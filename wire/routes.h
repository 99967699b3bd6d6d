/*
 * The HTTP bindings of coreweave.sandbox.v1.SandboxService as one C table
 * (protoc-c drops method options, so the google.api.http options of
 * sandbox.proto cannot be read at run time): method, path template as the
 * .proto writes it, body rule and the request and response types. The
 * meson test wire_routes compares this table with the options in the
 * compiled descriptor, so the two cannot drift. sbxd's router matches a
 * request against it; libsbx builds its paths from the same rows.
 */
#ifndef WIRE_ROUTES_H
#define WIRE_ROUTES_H

#include <stddef.h>
#include "json.h"

#define WIRE_MAX_VARS 2

typedef struct wire_route {
	const char *rpc;      /* "CreateSandbox" */
	const char *method;   /* "GET", "POST", "DELETE" */
	const char *path;     /* "/v1/sandboxes/{sandbox_id}:exec" */
	const char *body;     /* "" none, "*" the request, else its field */
	const ProtobufCMessageDescriptor *req, *resp;
	const char *vars[2];  /* the path's {variables}, in order (WIRE_MAX_VARS) */
	const char *ext;      /* extension rows: the discovery name; NULL else */
} wire_route;

extern const wire_route wire_routes[];
extern const size_t wire_n_routes;

/* sbxd's extension (ext_routes.c, proto/sbxd/ext/v1/extension.proto):
 * the same row type; rpc is the extension call's name ("Wait"), and
 * ext the discovery name that announces it ("wait"). */
extern const wire_route wire_ext_routes[];
extern const size_t wire_n_ext_routes;

/* A path variable of a match: the request field it names (the row's
 * vars[i]) and its raw text in the path given to wire_route_match (not
 * NUL-terminated). */
typedef struct wire_var {
	const char *field;
	const char *val;
	size_t len;
} wire_var;

/* The route for method + path (plen bytes, no query string; a variable
 * matches one or more bytes other than '/' and ':'), NULL when none; its
 * variables in vars[0..*nvars). */
const wire_route *wire_route_match(const char *method, const char *path, size_t plen,
                                   wire_var vars[WIRE_MAX_VARS], size_t *nvars);

/* The same over any table (wire_ext_routes for the extension). */
const wire_route *wire_route_match_in(const wire_route *table, size_t n, const char *method, const char *path,
                                      size_t plen, wire_var vars[WIRE_MAX_VARS], size_t *nvars);

/* The row of an RPC by name ("Exec"), NULL when the schema binds none;
 * wire_ext_route_find: an extension call's row by its rpc ("Wait"). */
const wire_route *wire_route_find(const char *rpc);
const wire_route *wire_ext_route_find(const char *rpc);

/* A client's path: r's template with its variables replaced by vals[0..n)
 * (n must be the row's count), each percent-escaped (all but RFC 3986
 * unreserved bytes), into buf (cap bytes, NUL-terminated). The length, or
 * -EINVAL (wrong count, empty value), -E2BIG (does not fit). */
int wire_route_path(const wire_route *r, const char *const *vals, size_t n, char *buf, size_t cap);

/* A client's query string for req on route r: wire_query_encode of the
 * fields that neither the path nor the body carries (none when the body
 * is "*"). Into buf (cap bytes): the length ("" none), or its errors. */
int wire_route_query(const wire_route *r, const ProtobufCMessage *req, char *buf, size_t cap);

/* A new, empty request message of r's type (wire_message_free). */
ProtobufCMessage *wire_route_new_request(const wire_route *r);

/* The HTTP body into req by r's body rule: "*" merges into req, a field
 * name decodes into that (message) field, "" wants no body (empty, or
 * whitespace only). Paths in err are relative to the body, as a client
 * wrote it. */
int wire_route_body(const wire_route *r, ProtobufCMessage *req, const char *body, size_t len,
                    const wire_caps *caps, wire_err *err);

/* Path variables into req (after the body: the path wins). */
int wire_route_bind(const wire_route *r, ProtobufCMessage *req, const wire_var *vars, size_t n,
                    wire_err *err);

#endif
