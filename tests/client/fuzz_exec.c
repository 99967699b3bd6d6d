/*
 * Fuzz target: sbx_exec_req_parse, the parser of what users write to
 * exec/new, plus the wire JSON and the shell-quoted cmd line of the result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/sbx.h"
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
	cJSON *o = sbx_exec_req_to_json(r, 1);
	char *t = o ? cJSON_PrintUnformatted(o) : NULL;
	free(t);
	cJSON_Delete(o);
	char *line = sbx_argv_to_line(r->argv);
	if (line && line[strlen(line) - 1] != '\n')
		abort();
	free(line);
	sbx_exec_req *d = sbx_exec_req_dup(r);
	sbx_exec_req_free(d);
	sbx_exec_req_free(r);
	return 0;
}
