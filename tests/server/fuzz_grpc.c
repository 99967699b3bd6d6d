/*
 * Fuzz target for sbxd's gRPC front end (server/grpc.c) up to the point
 * where a sandbox is touched: the binary request message of every method
 * it serves, unpacked by protobuf-c as recv_msg does, then the converter
 * the method's operation runs first (rpc.h): CreateSandbox's spec
 * (srv_spec_from_pb), Exec's and StreamExec init's process request
 * (srv_proc_req_from_exec / _from_start, with the init mapped onto a
 * StartProcessRequest as rpc_stream.c does), WriteFile's and ReadFile's
 * file arguments (srv_file_args_from_pb). Input: the first byte picks the
 * method (modulo the table), the rest is the message's bytes. Beyond "no
 * crash, no leak" it checks that a message that unpacks packs again to
 * as many bytes as protobuf-c says (what send_msg relies on for answers
 * built from requests), that a message whose strings are not UTF-8 is
 * refused as recv_msg refuses it (pbcheck.h), and that what a converter
 * accepts is in range and UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileargs.h"
#include "parse.h"
#include "pbcheck.h"
#include "procargs.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PB(x) coreweave__sandbox__v1__##x##__descriptor

enum { M_CREATE, M_GET, M_LIST, M_DELETE, M_PURGE, M_EXEC, M_STREAM_EXEC, M_STREAM_LOGS, M_WRITE, M_READ, M_N };

/* grpc.c's method table, in its order (the unimplemented ones take no
 * message). */
static const ProtobufCMessageDescriptor *const descs[M_N] = {
	[M_CREATE] = &PB(create_sandbox_request),   [M_GET] = &PB(get_sandbox_request),
	[M_LIST] = &PB(list_sandboxes_request),     [M_DELETE] = &PB(delete_sandbox_request),
	[M_PURGE] = &PB(purge_sandboxes_request),   [M_EXEC] = &PB(exec_request),
	[M_STREAM_EXEC] = &PB(exec_stream_request), [M_STREAM_LOGS] = &PB(stream_logs_request),
	[M_WRITE] = &PB(write_file_request),        [M_READ] = &PB(read_file_request),
};

static void check_proc_req(const srv_proc_req *pr, int exec)
{
	for (size_t i = 0; i < pr->argv.n; i++)
		if (!srv_utf8_valid(pr->argv.v[i], strlen(pr->argv.v[i])))
			abort();
	if (pr->argv.n < 1 || pr->argv.n > SRV_MAX_ARGV || pr->env.n > SRV_MAX_ENV || !pr->cwd)
		abort();
	if (exec && (pr->max_output < 1 || pr->max_output > SRV_EXEC_MAX_OUTPUT || pr->want_stdin || pr->timeout_s))
		abort();
	if (pr->timeout_s < 0 || pr->timeout_s > SRV_MAX_LIFETIME)
		abort();
}

static void check_file_args(const srv_file_args *a, srv_route_kind kind)
{
	if (!a->path || a->path[0] != '/' || strlen(a->path) >= SRV_MAX_PATH)
		abort();
	if (kind == R_WRITE_FILE && (!a->truncate || a->offset != -1 || (a->len && !a->data)))
		abort();
}

/* StreamExec's init as rpc_stream.c hands it on: a StartProcessRequest
 * with a stdin pipe (tty is refused before this). */
static void stream_init(const Coreweave__Sandbox__V1__ExecStreamInit *init)
{
	if (!init->sandbox_id || !*init->sandbox_id || init->tty)
		return;
	Sbxd__Ext__V1__StartProcessRequest req;
	sbxd__ext__v1__start_process_request__init(&req);
	req.sandbox_id = init->sandbox_id;
	req.command = init->command;
	req.n_command = init->n_command;
	req.stdin = 1;
	Sbxd__Ext__V1__StartProcessRequest__EnvEntry *ents = NULL, **envp = NULL;
	if (init->n_env) {
		ents = calloc(init->n_env, sizeof *ents);
		envp = calloc(init->n_env, sizeof *envp);
		if (!ents || !envp)
			goto out;
		for (size_t i = 0; i < init->n_env; i++) {
			sbxd__ext__v1__start_process_request__env_entry__init(&ents[i]);
			ents[i].key = init->env[i]->key;
			ents[i].value = init->env[i]->value;
			envp[i] = &ents[i];
		}
	}
	req.env = envp;
	req.n_env = init->n_env;
	srv_proc_req pr;
	srv_perr perr;
	if (srv_proc_req_from_start(&req, &pr, &perr) == 0) {
		if (!pr.want_stdin)
			abort();
		check_proc_req(&pr, 0);
		srv_proc_req_free(&pr);
	} else if (!memchr(perr.msg, '\0', sizeof perr.msg)) {
		abort();
	}
out:
	free(ents);
	free(envp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* grpc.c's MAX_MSG is 48 MiB; fuzz inputs stay far below. */
	if (size < 1 || size > (1 << 20))
		return 0;
	int method = data[0] % M_N;
	ProtobufCMessage *m = protobuf_c_message_unpack(descs[method], NULL, size - 1, data + 1);
	if (!m)
		return 0;
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *again = malloc(n ? n : 1);
	if (!again || protobuf_c_message_pack(m, again) != n)
		abort();
	free(again);
	/* recv_msg refuses what is not proto3 (strings not UTF-8) */
	if (!srv_pb_utf8_valid(m)) {
		protobuf_c_message_free_unpacked(m, NULL);
		return 0;
	}
	srv_perr perr;
	switch (method) {
	case M_CREATE: {
		const Coreweave__Sandbox__V1__CreateSandboxRequest *q = (const void *)m;
		srv_spec s;
		if (q->sandbox && srv_spec_from_pb(q->sandbox, &s, &perr) == 0) {
			if (s.lifetime_s < 0 || s.lifetime_s > SRV_MAX_LIFETIME || s.tags.n > SRV_MAX_TAGS)
				abort();
			for (size_t i = 0; i < s.tags.n; i++)
				if (!srv_utf8_valid(s.tags.v[i], strlen(s.tags.v[i])))
					abort();
			srv_spec_free(&s);
		}
		break;
	}
	case M_EXEC: {
		srv_proc_req pr;
		if (srv_proc_req_from_exec((const void *)m, &pr, &perr) == 0) {
			check_proc_req(&pr, 1);
			srv_proc_req_free(&pr);
		}
		break;
	}
	case M_STREAM_EXEC: {
		const Coreweave__Sandbox__V1__ExecStreamRequest *q = (const void *)m;
		if (q->message_case == COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__MESSAGE_INIT && q->init)
			stream_init(q->init);
		break;
	}
	case M_WRITE:
	case M_READ: {
		srv_route_kind k = srv_file_kind_of(method == M_WRITE ? "WriteFile" : "ReadFile");
		srv_file_args fa;
		memset(perr.msg, 'x', sizeof perr.msg);
		int rc = srv_file_args_from_pb(k, m, &fa, &perr);
		if (rc == 0)
			check_file_args(&fa, k);
		else if (rc == -1 && !memchr(perr.msg, '\0', sizeof perr.msg))
			abort();
		break;
	}
	default:
		break; /* their fields are checked against the registry (rpc.c) */
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
