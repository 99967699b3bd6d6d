/*
 * Fuzz target: sbx_spec_parse, the parser of what users write to the root
 * clone file, and the Sandbox a parsed spec turns into on the wire (strict
 * proto3 JSON, canonical).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/sbx.h"
#include "pb.h"
#include "sandbox.pb-c.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sbx_spec *sp = NULL;
	sbx_error e;
	if (sbx_spec_parse((const char *)data, size, &sp, &e) != SBX_OK) {
		if (sp || !e.message[0])
			abort();   /* a failure must name its problem and give nothing */
		return 0;
	}
	/* What CreateSandbox would send: a Sandbox a strict proto3 parser
	 * (sbxd's) accepts, canonical (decoded and encoded again it is the
	 * same text). */
	sbx_spec_pb p;
	if (sbx_spec_to_pb(sp, &p, &e) != SBX_OK) {
		if (!e.message[0])
			abort();
		sbx_spec_free(sp);
		return 0;
	}
	char *t = NULL, *t2 = NULL;
	size_t n = 0, n2 = 0;
	wire_err we;
	ProtobufCMessage *m = NULL;
	if (wire_json_encode(&p.sandbox.base, NULL, &t, &n, &we) == 0) {
		if (wire_json_decode(&coreweave__sandbox__v1__sandbox__descriptor, t, n, NULL, &m, &we) != 0)
			abort();
		if (wire_json_encode(m, NULL, &t2, &n2, &we) != 0 || n != n2 || memcmp(t, t2, n) != 0)
			abort();
	}
	wire_message_free(m);
	free(t);
	free(t2);
	sbx_spec_pb_free(&p);
	sbx_spec_free(sp);
	return 0;
}
