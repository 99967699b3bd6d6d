/*
 * Fuzz target: libsbx's decoders of list, exec and file answers
 * (client/src/answer.c). The first byte picks one: a page of sandboxes, the
 * processes list, an :exec result, a :listDir, a :statFile (symlink
 * entries with linkTarget and linkResolved included), a :readFile; the
 * rest is the answer's body. Beyond "no crash, no leak" it checks what a
 * success promises: every field the callers use is set and in range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "json.h"
#include "extension.pb-c.h"
#include "pb.h"
#include "sandbox.pb-c.h"
#include "sbx/sbx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_dirent(const sbx_dirent *d)
{
	if (!d->name || !d->name[0])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned which = data[0] % 6;
	sbx_error e;
	memset(&e, 0, sizeof e);
	sbx_result r = SBX_OK;
	/* the real messages: decoded by the codec, then mapped */
	static const ProtobufCMessageDescriptor *const types[6] = {
		&coreweave__sandbox__v1__list_sandboxes_response__descriptor,
		&sbxd__ext__v1__list_processes_response__descriptor,
		&coreweave__sandbox__v1__exec_response__descriptor,
		&sbxd__ext__v1__list_dir_response__descriptor,
		&sbxd__ext__v1__file_entry__descriptor,
		&coreweave__sandbox__v1__read_file_response__descriptor,
	};
	ProtobufCMessage *m = NULL;
	if (sbx_pb_answer(types[which], (const char *)data + 1, size - 1, &m, &e) != SBX_OK) {
		if (m || !e.message[0])
			abort();
		return 0;
	}
	switch (which) {
	case 0: {
		sbx_sandbox **v = NULL;
		size_t nv = 0, cap = 0;
		const char *next;
		r = sbx_sandbox_page_from_pb(m, &v, &nv, &cap, &next, &e);
		for (size_t i = 0; r == SBX_OK && i < nv; i++)
			if (!v[i] || !v[i]->id)
				abort();
		sbx_sandbox_list_free(v, nv);
		break;
	}
	case 1: {
		sbx_process **v;
		size_t n;
		r = sbx_processes_from_pb(m, &v, &n, &e);
		if (r == SBX_OK) {
			for (size_t i = 0; i < n; i++)
				if (!v[i])
					abort();
			sbx_process_list_free(v, n);
		} else if (v || n) {
			abort();
		}
		break;
	}
	case 2: {
		sbx_exec_result *x;
		r = sbx_exec_result_from_pb(m, &x, &e);
		if (r == SBX_OK) {
			if (x->out_total < (int64_t)x->out_len || x->err_total < (int64_t)x->err_len ||
			    (x->out_len && !x->out) || (x->err_len && !x->errout))
				abort();
			sbx_exec_result_free(x);
		} else if (x) {
			abort();
		}
		break;
	}
	case 3: {
		sbx_dirent *v;
		size_t n;
		r = sbx_dirents_from_pb(m, &v, &n, &e);
		if (r == SBX_OK) {
			for (size_t i = 0; i < n; i++)
				check_dirent(&v[i]);
			sbx_dirent_list_free(v, n);
		} else if (v || n) {
			abort();
		}
		break;
	}
	case 4: {
		sbx_dirent d;
		r = sbx_stat_from_pb(m, &d, &e);
		if (r == SBX_OK) {
			check_dirent(&d);
			free(d.name);
			free(d.link_target);
			free(d.link_resolved);
		}
		break;
	}
	default: {
		void *d;
		size_t n;
		r = sbx_read_from_pb(m, &d, &n, &e);
		if (r == SBX_OK) {
			if (!d || ((char *)d)[n] != '\0')
				abort();
			free(d);
		} else if (d || n) {
			abort();
		}
		break;
	}
	}
	if (r != SBX_OK && !e.message[0])
		abort(); /* a failure names its problem */
	wire_message_free(m);
	return 0;
}
