/*
 * The HTTP routes of sbxd's extension (routes.h: wire_ext_routes), the
 * second table next to routes.c's real one: same row type, plus the
 * discovery name that announces each row (GET /v1/extensions lists the
 * names of the rows sbxd serves). Request and response types are those of
 * proto/sbxd/ext/v1/extension.proto or, where the extension answers with
 * a real message (the Sandbox, DeleteSandboxResponse), the schema's. A
 * row here is matched only after the real table found none, so a real
 * path can never be shadowed. New calls: one row each, its messages in
 * extension.proto.
 */
#include "routes.h"

#include "extension.pb-c.h"
#include "sandbox.pb-c.h"

#define PB(x) &coreweave__sandbox__v1__##x##__descriptor
#define EXT(x) &sbxd__ext__v1__##x##__descriptor

const wire_route wire_ext_routes[] = {
	{"GetExtensions", "GET", "/v1/extensions", "", EXT(get_extensions_request), EXT(get_extensions_response),
	 {NULL}, "discovery"},
	{"Wait", "GET", "/v1/sandboxes/{sandbox_id}:wait", "", EXT(wait_request), PB(sandbox), {"sandbox_id"},
	 "wait"},
	{"Forget", "POST", "/v1/sandboxes/{sandbox_id}:forget", "", EXT(forget_request),
	 PB(delete_sandbox_response), {"sandbox_id"}, "forget"},
};
const size_t wire_n_ext_routes = sizeof wire_ext_routes / sizeof wire_ext_routes[0];
