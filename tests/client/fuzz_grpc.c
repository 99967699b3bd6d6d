/*
 * Fuzz target for libsbx's decoding of gRPC answers (grpcmsg.c, what
 * grpc.c hands every StreamExec / StreamLogs message and a failed call's
 * trailers to): the first byte picks the decoder (modulo 3), the rest is
 * the service's bytes.
 *   0: one ExecStreamResponse;  1: one LogEntry;
 *   2: a status: byte 1 is the grpc code (modulo 17), byte 2 the length of
 *      the grpc-message text that follows, the rest the
 *      grpc-status-details-bin (a packed google.rpc.Status; none when the
 *      first byte's bit 7 is set).
 * Beyond "no crash, no leak" it checks the promises callers rely on: an
 * OUTPUT has its bytes, a known kind comes with SBX_OK, a failed status is
 * never SBX_OK and keeps its grpc code, every message is a C string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpcmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(sbx_result r, const sbx_error *e)
{
	if (r != SBX_OK && (e->code != r || !memchr(e->message, '\0', sizeof e->message)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 20))
		return 0;
	sbx_gmsg m;
	sbx_error e;
	memset(&e, 0, sizeof e);
	sbx_result r;
	switch (data[0] % 3) {
	case 0: {
		int skip = 0;
		r = sbx_gmsg_exec(data + 1, size - 1, &m, &skip, &e);
		check_err(r, &e);
		if (r == SBX_OK && !skip && m.kind != SBX_GMSG_READY && m.kind != SBX_GMSG_OUTPUT &&
		    m.kind != SBX_GMSG_EXIT)
			abort();
		if ((r != SBX_OK || skip) && (m.data || m.kind))
			abort();
		break;
	}
	case 1:
		r = sbx_gmsg_logs(data + 1, size - 1, &m, &e);
		check_err(r, &e);
		if (r == SBX_OK && (m.kind != SBX_GMSG_OUTPUT || m.stream != SBX_STDOUT))
			abort();
		break;
	default: {
		if (size < 3)
			return 0;
		int code = data[1] % 17;
		size_t tl = data[2];
		if (tl > size - 3)
			tl = size - 3;
		const uint8_t *bin = data[0] & 0x80 ? NULL : data + 3 + tl;
		r = sbx_gmsg_status(code, (const char *)data + 3, tl, bin, bin ? size - 3 - tl : 0, &e);
		if ((code == 0) != (r == SBX_OK))
			abort();
		check_err(r, &e);
		if (code && e.grpc_code != code)
			abort();
		return 0;
	}
	}
	if (r == SBX_OK && m.kind == SBX_GMSG_OUTPUT && !m.data)
		abort();
	free(m.data);
	return 0;
}
