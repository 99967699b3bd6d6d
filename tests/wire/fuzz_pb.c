/*
 * libFuzzer target for the binary decoder (wire/binary.c): arbitrary
 * bytes decoded as a message of the extension's rows or the schema (the
 * first byte picks one; its top bit: a client's tolerant caps, tight ones
 * otherwise, so the limits are reached too). Whatever decodes must have a
 * JSON form (every string UTF-8, every enum known unless tolerant: what
 * the walk promises), encode in binary again and decode to the same
 * message; what fails must say why in strings that end. Replayed over
 * corpus/wire_pb by the normal test run (fuzz_wire_pb_corpus).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fill.h"
#include "json.h"
#include "routes.h"
#include "sandbox.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The n-th message type: the extension rows' requests and answers, then
 * a few of the schema's. */
static const ProtobufCMessageDescriptor *type_at(unsigned n)
{
	static const ProtobufCMessageDescriptor *const real[] = {
		&coreweave__sandbox__v1__sandbox__descriptor,
		&coreweave__sandbox__v1__create_sandbox_request__descriptor,
		&coreweave__sandbox__v1__exec_response__descriptor,
	};
	size_t k = n % (2 * wire_n_ext_routes + sizeof real / sizeof real[0]);
	if (k < 2 * wire_n_ext_routes) {
		const wire_route *r = &wire_ext_routes[k / 2];
		return k % 2 && r->resp ? r->resp : r->req;
	}
	return real[k - 2 * wire_n_ext_routes];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const ProtobufCMessageDescriptor *d = type_at(data[0] & 0x7f);
	wire_caps caps = wire_caps_default;
	if (data[0] & 0x80) {
		caps.ignore_unknown = 1;
	} else {
		caps.max_items = 3;
		caps.max_string = 16;
		caps.max_depth = 3;
	}
	ProtobufCMessage *m = NULL;
	wire_err e;
	if (wire_pb_decode(d, data + 1, size - 1, &caps, &m, &e) != 0) {
		if (m || !memchr(e.msg, '\0', sizeof e.msg) || !memchr(e.field, '\0', sizeof e.field) || !e.msg[0])
			abort();
		return 0;
	}
	char *json = NULL;
	size_t jlen;
	/* a tolerant decode keeps an unknown enum number, which has no JSON
	 * name: only the strict one promises a JSON form */
	if (!caps.ignore_unknown && wire_json_encode(m, NULL, &json, &jlen, &e) != 0)
		abort();
	free(json);
	if (!wire_pb_utf8_valid(m, 64))
		abort();
	uint8_t *bin = NULL;
	size_t blen;
	ProtobufCMessage *again = NULL;
	if (wire_pb_encode(m, NULL, &bin, &blen, &e) != 0)
		abort();
	wire_caps loose = wire_caps_default;
	loose.ignore_unknown = 1;
	if (wire_pb_decode(d, bin, blen, &loose, &again, &e) != 0 || !fill_same(m, again))
		abort();
	free(bin);
	wire_message_free(m);
	wire_message_free(again);
	return 0;
}
