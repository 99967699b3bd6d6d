/*
 * Fuzz target for the spawn-request decoder that runs inside every
 * sandbox's init (server/runtime/proto.c). Any input must be rejected or
 * decoded into strings that lie inside the message; a decoded request must
 * re-encode to the same bytes (modulo the flags the encoder derives).
 */
#include "proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char buf[sizeof(srv_msg_hdr) + SRV_PROTO_MAX_STRINGS + 64];
static char again[sizeof(srv_msg_hdr) + SRV_PROTO_MAX_STRINGS + 64];
static const char *argv_store[SRV_PROTO_MAX_ARGS + 1];
static const char *env_store[SRV_PROTO_MAX_ENV + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > sizeof buf)
		return 0;
	memcpy(buf, data, size);
	srv_spawn_req req;
	if (srv_proto_decode_spawn(buf, size, &req, argv_store, env_store) != 0)
		return 0;
	const char *end = buf + size;
	if (req.cwd < buf || req.cwd >= end || req.argc < 1 || req.argv[req.argc] != NULL)
		abort();
	for (uint32_t i = 0; i < req.argc; i++)
		if (req.argv[i] < buf || req.argv[i] + strlen(req.argv[i]) >= end)
			abort();
	size_t n = srv_proto_encode_spawn(again, sizeof again, req.token, req.flags, req.keep, req.cwd, req.argv, req.env);
	if (n != size || memcmp(again + sizeof(srv_msg_hdr), buf + sizeof(srv_msg_hdr), size - sizeof(srv_msg_hdr)) != 0)
		abort();
	return 0;
}
