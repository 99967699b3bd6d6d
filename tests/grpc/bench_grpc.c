/*
 * The exec round trip of `true` three ways in one run (scripts/bench-server):
 * gRPC StreamExec (init, ready, exit, status) on sbxd's gRPC unix socket
 * with one channel kept open (as an SDK keeps its channel); the
 * extension's start process + wait (POST .../processes, GET
 * .../processes/N?waitSeconds=10) on the REST socket with one kept-alive
 * libcurl handle; fork+exec of /bin/true. Prints medians and p90 in ms.
 * Usage: bench_grpc REST_SOCKET GRPC_SOCKET SANDBOX_ID [ITERATIONS]
 */
#include <curl/curl.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.pb-c.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, long n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	printf("%-34s median %7.3f ms  p90 %7.3f ms  (n=%ld)\n", what, v[n / 2], v[n * 9 / 10], n);
}

static int step(grpc_call *call, grpc_completion_queue *cq, grpc_op *ops, size_t n)
{
	static intptr_t tag = 1;
	void *t = (void *)tag++;
	if (grpc_call_start_batch(call, ops, n, t, NULL) != GRPC_CALL_OK)
		return -1;
	grpc_event ev = grpc_completion_queue_pluck(cq, t, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	return ev.type == GRPC_OP_COMPLETE && ev.success ? 0 : -1;
}

/* One StreamExec of argv; the exit code, or -1. */
static int stream_exec(grpc_channel *ch, grpc_completion_queue *cq, const char *sid, char **argv, size_t argc)
{
	grpc_slice method = grpc_slice_from_static_string("/coreweave.sandbox.v1.SandboxService/StreamExec");
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
						   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	Coreweave__Sandbox__V1__ExecStreamInit init = COREWEAVE__SANDBOX__V1__EXEC_STREAM_INIT__INIT;
	init.sandbox_id = (char *)sid;
	init.command = argv;
	init.n_command = argc;
	Coreweave__Sandbox__V1__ExecStreamRequest req = COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__INIT;
	req.message_case = COREWEAVE__SANDBOX__V1__EXEC_STREAM_REQUEST__MESSAGE_INIT;
	req.init = &init;
	size_t len = protobuf_c_message_get_packed_size(&req.base);
	grpc_slice sl = grpc_slice_malloc(len);
	protobuf_c_message_pack(&req.base, GRPC_SLICE_START_PTR(sl));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	grpc_metadata_array init_md, trail_md;
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	grpc_op ops[4];
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
	int code = -1;
	if (step(call, cq, ops, 4) == 0) {
		for (;;) {
			grpc_byte_buffer *in = NULL;
			grpc_op r = {.op = GRPC_OP_RECV_MESSAGE};
			r.data.recv_message.recv_message = &in;
			if (step(call, cq, &r, 1) != 0 || !in)
				break;
			grpc_byte_buffer_reader rd;
			grpc_byte_buffer_reader_init(&rd, in);
			grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			grpc_byte_buffer_destroy(in);
			Coreweave__Sandbox__V1__ExecStreamResponse *m = coreweave__sandbox__v1__exec_stream_response__unpack(
				NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
			grpc_slice_unref(all);
			if (m && m->message_case == COREWEAVE__SANDBOX__V1__EXEC_STREAM_RESPONSE__MESSAGE_EXIT)
				code = m->exit->exit_code;
			if (m)
				coreweave__sandbox__v1__exec_stream_response__free_unpacked(m, NULL);
		}
	}
	grpc_status_code st = GRPC_STATUS_UNKNOWN;
	grpc_slice details;
	grpc_op s = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
	s.data.recv_status_on_client.trailing_metadata = &trail_md;
	s.data.recv_status_on_client.status = &st;
	s.data.recv_status_on_client.status_details = &details;
	if (step(call, cq, &s, 1) == 0)
		grpc_slice_unref(details);
	grpc_byte_buffer_destroy(bb);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trail_md);
	grpc_call_unref(call);
	return st == GRPC_STATUS_OK ? code : -1;
}

static char reply[8192];
static size_t reply_n;

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
	(void)ud;
	size_t n = sz * nm, room = sizeof reply - 1 - reply_n;
	memcpy(reply + reply_n, p, n < room ? n : room);
	reply_n += n < room ? n : room;
	reply[reply_n] = '\0';
	return n;
}

static long rest(CURL *h, const char *method, const char *url, const char *data)
{
	reply_n = 0;
	reply[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (data) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (curl_easy_perform(h) != CURLE_OK)
		return -1;
	long st = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
	return st;
}

/* The extension: start `true` as a process, wait for its end. */
static int ext_exec(CURL *h, const char *sid)
{
	char url[512];
	snprintf(url, sizeof url, "http://sbxd/v1/sandboxes/%s/processes", sid);
	if (rest(h, "POST", url, "{\"command\":[\"true\"]}") != 200)
		return -1;
	const char *k = strstr(reply, "\"processId\":\"");
	if (!k)
		return -1;
	long id = strtol(k + 13, NULL, 10);
	snprintf(url, sizeof url, "http://sbxd/v1/sandboxes/%s/processes/%ld?waitSeconds=10", sid, id);
	if (rest(h, "GET", url, NULL) != 200 || !strstr(reply, "EXITED"))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench_grpc REST_SOCKET GRPC_SOCKET SANDBOX_ID [ITERATIONS]\n");
		return 2;
	}
	const char *rest_sock = argv[1];
	argv++;
	argc--;
	long n = argc > 3 ? strtol(argv[3], NULL, 10) : 200;
	if (n < 1 || n > 100000)
		n = 200;
	double *t = calloc((size_t)n, sizeof *t);
	if (!t)
		return 1;
	grpc_init();
	char target[4200];
	snprintf(target, sizeof target, "unix:%s", argv[1]);
	grpc_channel_credentials *cr = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(target, cr, NULL);
	grpc_channel_credentials_release(cr);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	char *tr[] = {"true"};
	if (stream_exec(ch, cq, argv[2], tr, 1) != 0) {
		fprintf(stderr, "bench_grpc: StreamExec of true failed\n");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		double a = now_ms();
		if (stream_exec(ch, cq, argv[2], tr, 1) != 0) {
			fprintf(stderr, "bench_grpc: StreamExec %ld failed\n", i);
			return 1;
		}
		t[i] = now_ms() - a;
	}
	report("gRPC StreamExec of true", t, n);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, rest_sock);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	if (!h || ext_exec(h, argv[2]) != 0) {
		fprintf(stderr, "bench_grpc: the extension's process start/wait failed: %s\n", reply);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		double a = now_ms();
		if (ext_exec(h, argv[2]) != 0) {
			fprintf(stderr, "bench_grpc: extension exec %ld failed: %s\n", i, reply);
			return 1;
		}
		t[i] = now_ms() - a;
	}
	report("extension start+wait of true", t, n);
	curl_easy_cleanup(h);
	for (long i = 0; i < n; i++) {
		double a = now_ms();
		pid_t p = fork();
		if (p == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		int ws;
		waitpid(p, &ws, 0);
		t[i] = now_ms() - a;
	}
	report("fork+exec of /bin/true (same run)", t, n);
	grpc_channel_destroy(ch);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	free(t);
	return 0;
}
