/*
 * libFuzzer target for the codec: arbitrary bytes decoded as several
 * message types (the first byte picks one), with tight caps so that the
 * limits are reached too; whatever decodes must encode, decode again and
 * give the same message (a bug there aborts). Replayed over corpus/wire_json
 * by the normal test run (fuzz_wire_json_corpus).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fill.h"
#include "json.h"
#include "routes.h"
#include "sandbox.pb-c.h"
#include "status.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ProtobufCMessageDescriptor *const types[] = {
		&coreweave__sandbox__v1__sandbox__descriptor,
		&coreweave__sandbox__v1__create_sandbox_request__descriptor,
		&coreweave__sandbox__v1__exec_request__descriptor,
		&coreweave__sandbox__v1__exec_response__descriptor,
		&coreweave__sandbox__v1__list_sandboxes_response__descriptor,
		&coreweave__sandbox__v1__write_file_request__descriptor,
		&coreweave__sandbox__v1__purge_sandboxes_request__descriptor,
		&google__rpc__status__descriptor,
	};
	if (size < 1)
		return 0;
	const ProtobufCMessageDescriptor *d = types[data[0] % (sizeof types / sizeof types[0])];
	wire_caps caps = wire_caps_default;
	if (data[0] & 0x80) {
		caps.max_items = 3;
		caps.max_string = 16;
		caps.max_depth = 6;
	}
	ProtobufCMessage *m = NULL;
	wire_err e;
	if (wire_json_decode(d, (const char *)data + 1, size - 1, &caps, &m, &e) != 0) {
		if (m || memchr(e.msg, '\0', sizeof e.msg) == NULL || memchr(e.field, '\0', sizeof e.field) == NULL)
			abort();
		return 0;
	}
	char *out = NULL;
	size_t len;
	if (wire_json_encode(m, NULL, &out, &len, &e) != 0)
		abort(); /* what decodes must encode */
	ProtobufCMessage *again = NULL;
	if (wire_json_decode(d, out, len, NULL, &again, &e) != 0 || !fill_same(m, again))
		abort();
	char *out2 = NULL;
	size_t len2;
	if (wire_json_encode(again, NULL, &out2, &len2, &e) != 0 || len2 != len || memcmp(out, out2, len) != 0)
		abort();
	free(out);
	free(out2);
	wire_message_free(m);
	wire_message_free(again);
	/* the same bytes as a request body, by route */
	const wire_route *r = &wire_routes[data[0] % wire_n_routes];
	ProtobufCMessage *req = wire_route_new_request(r);
	if (req) {
		wire_route_body(r, req, (const char *)data + 1, size - 1, &caps, &e);
		wire_message_free(req);
	}
	return 0;
}
