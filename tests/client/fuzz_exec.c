/*
 * Fuzz target: sbx_exec_req_parse, the parser of what users write to
 * exec/new, plus the wire JSON and the shell-quoted cmd line of the result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/sbx.h"
#include "pb.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sbx_exec_req *r = NULL;
	sbx_error e;
	if (sbx_exec_req_parse((const char *)data, size, &r, &e) != SBX_OK) {
		if (r || !e.message[0])
			abort();
		return 0;
	}
	if (!r->argv || !r->argv[0] || !r->argv[0][0])
		abort();   /* success means something to run */
	/* both wire forms encode: the real Exec and sbxd's process start */
	sbx_exec_pb x;
	sbx_start_pb st;
	char *t = NULL;
	size_t n;
	wire_err we;
	if (sbx_exec_req_to_pb(r, "sb1", 0, &x, &e) == SBX_OK) {
		if (wire_json_encode(&x.req.base, NULL, &t, &n, &we) == 0 && x.req.n_command < 1)
			abort();
		free(t);
		t = NULL;
		sbx_exec_pb_free(&x);
	}
	if (sbx_exec_req_to_start_pb(r, "sb1", "rid", &st, &e) == SBX_OK) {
		wire_json_encode(&st.req.base, NULL, &t, &n, &we);
		free(t);
		sbx_start_pb_free(&st);
	}
	char *line = sbx_argv_to_line(r->argv);
	if (line && line[strlen(line) - 1] != '\n')
		abort();
	free(line);
	sbx_exec_req *d = sbx_exec_req_dup(r);
	sbx_exec_req_free(d);
	sbx_exec_req_free(r);
	return 0;
}
