/*
 * Fuzz target for sbxd's request parsers: the first byte picks the parser
 * (create spec, process start, unary exec, the raw-URL check), the
 * rest is the input.
 * Anything may come in; nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "parse.h"
#include "procargs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1 << 20))
		return 0;
	int which = data[0] % 5;
	size_t n = size - 1;
	char *buf = malloc(n + 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, n);
	buf[n] = '\0';
	char err[SRV_MSGLEN];
	srv_perr perr;
	switch (which) {
	case 0: {
		srv_spec sp;
		if (srv_parse_create(buf, n, &sp, &perr) == 0)
			srv_spec_free(&sp);
		break;
	}
	case 1:
	case 2: {
		/* The codec, then the converter, as sbxd runs them. */
		const ProtobufCMessageDescriptor *d = which == 2 ? &coreweave__sandbox__v1__exec_request__descriptor
								 : &sbxd__ext__v1__start_process_request__descriptor;
		ProtobufCMessage *m = NULL;
		wire_err we;
		srv_proc_req r;
		if (wire_json_decode(d, buf, n, NULL, &m, &we) == 0) {
			int rc = which == 2 ? srv_proc_req_from_exec((const void *)m, &r, &perr)
					    : srv_proc_req_from_start((const void *)m, &r, &perr);
			if (rc == 0)
				srv_proc_req_free(&r);
			wire_message_free(m);
		}
		break;
	}
	case 3:
		srv_uri_check(buf, &perr);
		break;
	default: {
		int64_t v;
		srv_parse_cpu(buf, &v, err);
		srv_parse_memory(buf, &v, err);
		srv_parse_time(buf, &v);
		int32_t ns;
		srv_parse_timestamp(buf, &v, &ns);
		break;
	}
	}
	free(buf);
	return 0;
}
