/*
 * Fuzz target: the parsers of service answers. The first byte picks one:
 * a Sandbox, a Process, a google.rpc.Status error, a directory entry,
 * base64, an RFC 3339 time or a duration; the rest is the answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "extension.pb-c.h"
#include "json.h"
#include "pb.h"
#include "sbx/sbx.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned which = data[0] % 7;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	char *z = malloc(len + 1);
	if (!z)
		return 0;
	memcpy(z, text, len);
	z[len] = '\0';
	cJSON *root = NULL;
	sbx_error e;
	switch (which) {
	case 0: {
		sbx_sandbox *s = NULL;
		if (sbx_sandbox_from_text(text, len, &s, &e) == SBX_OK) {
			if (!s->id || !s->json || !s->image || !s->state_reason)
				abort();
			sbx_state_word(s->state);
		}
		sbx_sandbox_free(s);
		break;
	}
	case 1: {
		sbx_process *p = NULL;
		if (sbx_process_from_text(text, len, &p, &e) == SBX_OK) {
			char *l = sbx_argv_to_line(p->argv);
			free(l);
			sbx_proc_state_word(p->state);
		}
		sbx_process_free(p);
		break;
	}
	case 2: {
		long st = 400 + (len ? (unsigned char)text[0] % 200 : 0);
		sbx_result r = sbx_error_from_response(st, text, len, &e);
		if (r == SBX_OK || memchr(e.message, '\0', sizeof e.message) == NULL ||
		    memchr(e.reason, '\0', sizeof e.reason) == NULL)
			abort();
		sbx_error_errno(&e);
		break;
	}
	case 3: {
		ProtobufCMessage *m = NULL;
		sbx_dirent d;
		if (sbx_pb_answer(&sbxd__ext__v1__file_entry__descriptor, text, len, &m, &e) == SBX_OK &&
		    sbx_dirent_from_pb(m, &d) == SBX_OK) {
			free(d.name);
			free(d.link_target);
			free(d.link_resolved);
		}
		wire_message_free(m);
		break;
	}
	case 4: {
		void *out = NULL;
		size_t n = 0;
		if (sbx_base64_decode(text, len, &out, &n) == SBX_OK) {
			if (n > len)
				abort();
			char *enc = sbx_base64_encode(out, n, NULL);
			void *again = NULL;
			size_t n2 = 0;
			if (!enc || sbx_base64_decode(enc, strlen(enc), &again, &n2) != SBX_OK || n2 != n ||
			    memcmp(again, out, n) != 0)
				abort();
			free(again);
			free(enc);
		}
		free(out);
		break;
	}
	case 5:
		if (sbx_parse_time(z) < 0)
			abort();
		break;
	case 6:
		sbx_parse_duration_ms(z);
		break;
	}
	cJSON_Delete(root);
	free(z);
	return 0;
}
