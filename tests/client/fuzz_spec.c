/*
 * Fuzz target: sbx_spec_parse, the parser of what users write to the root
 * clone file, and the JSON that a parsed spec turns into (which must parse
 * back to the same spec).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/sbx.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sbx_spec *sp = NULL, *back = NULL;
	sbx_error e;
	if (sbx_spec_parse((const char *)data, size, &sp, &e) != SBX_OK) {
		if (sp || !e.message[0])
			abort();   /* a failure must name its problem and give nothing */
		return 0;
	}
	cJSON *o = sbx_spec_to_json(sp);
	char *t = o ? cJSON_PrintUnformatted(o) : NULL;
	if (t && sbx_spec_parse(t, strlen(t), &back, &e) == SBX_OK) {
		cJSON *o2 = sbx_spec_to_json(back);
		char *t2 = o2 ? cJSON_PrintUnformatted(o2) : NULL;
		if (t2 && strcmp(t, t2) != 0)
			abort();
		free(t2);
		cJSON_Delete(o2);
	}
	free(t);
	cJSON_Delete(o);
	sbx_spec_free(back);
	sbx_spec_free(sp);
	return 0;
}
