/*
 * Table-driven Check units for libsbx's pure parts: error mapping (every
 * gRPC code, HTTP status, curl code, reason and errno), the proto3 JSON
 * mapping of Sandbox and Process both ways, the clone-file parsers, URL
 * building and escaping, base64, times, shell quoting and configuration
 * precedence. They reach internal modules through client/src.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "http.h"
#include "answer.h"
#include "json.h"
#include "extension.pb-c.h"
#include "grpc.h"
#include "pb.h"
#include "sbx/sbx.h"
#include "spec.h"
#include "util.h"

/* ------------------------------------------------------------ errors */

static const struct {
	int grpc;
	sbx_result r;
} grpc_table[] = {
	{0, SBX_OK}, {1, SBX_E_CANCELLED}, {2, SBX_E_INTERNAL}, {3, SBX_E_INVALID}, {4, SBX_E_TIMEOUT},
	{5, SBX_E_NOT_FOUND}, {6, SBX_E_EXISTS}, {7, SBX_E_PERMISSION}, {8, SBX_E_EXHAUSTED},
	{9, SBX_E_PRECONDITION}, {10, SBX_E_PRECONDITION}, {11, SBX_E_INVALID}, {12, SBX_E_UNSUPPORTED},
	{13, SBX_E_INTERNAL}, {14, SBX_E_UNAVAILABLE}, {15, SBX_E_INTERNAL}, {16, SBX_E_UNAUTHENTICATED},
	{99, SBX_E_INTERNAL},
};

START_TEST(grpc_codes)
{
	ck_assert_int_eq(sbx_error_from_grpc(grpc_table[_i].grpc), grpc_table[_i].r);
}
END_TEST

static const struct {
	long http;
	sbx_result r;
} http_table[] = {
	{200, SBX_OK}, {204, SBX_OK}, {400, SBX_E_INVALID}, {401, SBX_E_UNAUTHENTICATED}, {403, SBX_E_PERMISSION},
	{404, SBX_E_NOT_FOUND}, {405, SBX_E_UNSUPPORTED}, {408, SBX_E_TIMEOUT}, {409, SBX_E_EXISTS},
	{412, SBX_E_PRECONDITION}, {413, SBX_E_EXHAUSTED}, {418, SBX_E_INVALID}, {429, SBX_E_EXHAUSTED},
	{500, SBX_E_INTERNAL}, {501, SBX_E_UNSUPPORTED}, {502, SBX_E_UNAVAILABLE}, {503, SBX_E_UNAVAILABLE},
	{504, SBX_E_TIMEOUT}, {599, SBX_E_INTERNAL}, {302, SBX_E_PROTOCOL},
};

START_TEST(http_statuses)
{
	ck_assert_int_eq(sbx_error_from_http(http_table[_i].http), http_table[_i].r);
	/* without a Status body the HTTP status decides */
	if (http_table[_i].http >= 300) {
		sbx_error e;
		sbx_result r = sbx_error_from_response(http_table[_i].http, "<html>oops</html>", 17, &e);
		ck_assert_int_eq(r, http_table[_i].r);
		ck_assert_int_eq(e.code, r);
		ck_assert_int_eq(e.grpc_code, 0);
		ck_assert_int_eq(e.retry_delay_ms, -1);
		ck_assert_int_eq(e.http_status, http_table[_i].http);
		ck_assert(e.message[0]);
	}
}
END_TEST

static const struct {
	int curl;
	sbx_result r;
} curl_table[] = {
	{CURLE_OK, SBX_OK},
	{CURLE_COULDNT_CONNECT, SBX_E_CONNREFUSED},
	{CURLE_COULDNT_RESOLVE_HOST, SBX_E_RESOLVE},
	{CURLE_COULDNT_RESOLVE_PROXY, SBX_E_RESOLVE},
	{CURLE_OPERATION_TIMEDOUT, SBX_E_TIMEOUT},
	{CURLE_SSL_CONNECT_ERROR, SBX_E_TLS},
	{CURLE_PEER_FAILED_VERIFICATION, SBX_E_TLS},
	{CURLE_SSL_CACERT_BADFILE, SBX_E_TLS},
	{CURLE_SSL_CERTPROBLEM, SBX_E_TLS},
	{CURLE_RECV_ERROR, SBX_E_NETWORK},
	{CURLE_SEND_ERROR, SBX_E_NETWORK},
	{CURLE_GOT_NOTHING, SBX_E_PROTOCOL},
	{CURLE_PARTIAL_FILE, SBX_E_PROTOCOL},
	{CURLE_WEIRD_SERVER_REPLY, SBX_E_PROTOCOL},
	{CURLE_OUT_OF_MEMORY, SBX_E_NOMEM},
	{CURLE_ABORTED_BY_CALLBACK, SBX_E_CANCELLED},
	{CURLE_URL_MALFORMAT, SBX_E_INVALID},
	{CURLE_FAILED_INIT, SBX_E_NETWORK},
};

START_TEST(curl_codes)
{
	ck_assert_int_eq(sbx_error_from_curl(curl_table[_i].curl), curl_table[_i].r);
}
END_TEST

/* Status bodies as sbxd and the managed service send them (wire.md
 * section 6): the code decides, the reason refines, and only a reason of
 * the domain cwsandbox.com is trusted. */
static const struct {
	long http;
	int code;
	const char *reason;
	sbx_result r;
	int err;
} status_table[] = {
	{400, 3, "CWSANDBOX_INVALID_REQUEST", SBX_E_INVALID, EINVAL},
	{400, 3, "CWSANDBOX_FILE_TOO_LARGE", SBX_E_INVALID, EFBIG},
	{400, 9, "CWSANDBOX_FILE_IS_DIRECTORY", SBX_E_PRECONDITION, EISDIR},
	{504, 4, "CWSANDBOX_COMMAND_TIMEOUT", SBX_E_TIMEOUT, ETIMEDOUT},
	{404, 5, "CWSANDBOX_SANDBOX_NOT_FOUND", SBX_E_NOT_FOUND, ENOENT},
	{404, 5, "CWSANDBOX_PROCESS_NOT_FOUND", SBX_E_NOT_FOUND, ENOENT},
	{404, 5, "CWSANDBOX_FILE_NOT_FOUND", SBX_E_NOT_FOUND, ENOENT},
	{409, 6, "CWSANDBOX_INVALID_REQUEST", SBX_E_EXISTS, EEXIST},
	{403, 7, "CWSANDBOX_FILE_PERMISSION_DENIED", SBX_E_PERMISSION, EACCES},
	{429, 8, "CWSANDBOX_RUNNER_CAPACITY_EXHAUSTED", SBX_E_EXHAUSTED, EAGAIN},
	{400, 9, "CWSANDBOX_INVALID_REQUEST", SBX_E_PRECONDITION, EINVAL},
	{400, 9, "CWSANDBOX_PROCESS_EXITED", SBX_E_PRECONDITION, ESRCH},
	{400, 9, "CWSANDBOX_STDIN_CLOSED", SBX_E_PRECONDITION, EPIPE},
	{400, 9, "CWSANDBOX_DIRECTORY_NOT_EMPTY", SBX_E_PRECONDITION, ENOTEMPTY},
	{400, 11, "CWSANDBOX_INVALID_REQUEST", SBX_E_INVALID, EINVAL},
	{501, 12, "CWSANDBOX_NOT_IMPLEMENTED", SBX_E_UNSUPPORTED, ENOTSUP},
	/* the code wins over the HTTP status */
	{404, 12, "CWSANDBOX_NOT_IMPLEMENTED", SBX_E_UNSUPPORTED, ENOTSUP},
	{500, 13, "CWSANDBOX_FILE_IO_FAILED", SBX_E_INTERNAL, EIO},
	{503, 14, "CWSANDBOX_BACKEND_UNAVAILABLE", SBX_E_UNAVAILABLE, EHOSTDOWN},
	{401, 16, "CWSANDBOX_UNAUTHENTICATED", SBX_E_UNAUTHENTICATED, EACCES},
};

START_TEST(status_bodies)
{
	char body[1024];
	snprintf(body, sizeof body,
	         "{\"code\": %d, \"message\": \"m%d\", \"details\": [{\"@type\": "
	         "\"type.googleapis.com/google.rpc.ErrorInfo\", \"reason\": \"%s\", \"domain\": \"cwsandbox.com\", "
	         "\"metadata\": {\"k\": \"v\"}}, {\"@type\": \"type.googleapis.com/google.rpc.RetryInfo\", "
	         "\"retryDelay\": \"1.5s\"}, {\"@type\": \"type.googleapis.com/some.New\", \"x\": 1}], "
	         "\"unknown\": [1,2]}",
	         status_table[_i].code, _i, status_table[_i].reason);
	sbx_error e;
	sbx_result r = sbx_error_from_response(status_table[_i].http, body, strlen(body), &e);
	ck_assert_int_eq(r, status_table[_i].r);
	ck_assert_int_eq(e.code, r);
	ck_assert_int_eq(e.grpc_code, status_table[_i].code);
	ck_assert_int_eq(e.http_status, status_table[_i].http);
	ck_assert_str_eq(e.reason, status_table[_i].reason);
	ck_assert_str_eq(e.domain, "cwsandbox.com");
	char m[16];
	snprintf(m, sizeof m, "m%d", _i);
	ck_assert_str_eq(e.message, m);
	ck_assert_int_eq(e.retry_delay_ms, 1500);
	ck_assert_int_eq(sbx_error_errno(&e), status_table[_i].err);
	/* the same reason from another domain is not trusted: the code's
	 * class alone decides */
	snprintf(body, sizeof body,
	         "{\"code\": %d, \"message\": \"m\", \"details\": [{\"@type\": "
	         "\"type.googleapis.com/google.rpc.ErrorInfo\", \"reason\": \"%s\", \"domain\": "
	         "\"cwsandbox.coreweave.com\", \"metadata\": {\"errno\": \"EXDEV\"}}]}",
	         status_table[_i].code, status_table[_i].reason);
	ck_assert_int_eq(sbx_error_from_response(status_table[_i].http, body, strlen(body), &e), status_table[_i].r);
	ck_assert_str_eq(e.reason, "");
	ck_assert_str_eq(e.domain, "cwsandbox.coreweave.com");
	ck_assert_int_eq(e.sys_errno, 0);
	sbx_error c;
	sbx_error_clear(&c);
	c.code = status_table[_i].r;
	ck_assert_int_eq(sbx_error_errno(&e), sbx_error_errno(&c));
}
END_TEST

/* BadRequest's field reaches the message users see; the errno metadata
 * of sbxd's file calls counts only from cwsandbox.com. */
START_TEST(status_bad_request)
{
	const char *b = "{\"code\": 3, \"message\": \"unknown field\", \"details\": [{\"@type\": "
	                "\"type.googleapis.com/google.rpc.BadRequest\", \"fieldViolations\": [{\"field\": "
	                "\"spec.containers[0].bogus\", \"description\": \"no such field\"}]}]}";
	sbx_error e;
	ck_assert_int_eq(sbx_error_from_response(400, b, strlen(b), &e), SBX_E_INVALID);
	ck_assert_str_eq(e.message, "unknown field (field spec.containers[0].bogus: no such field)");
	/* a message that names the field already is kept as it is */
	b = "{\"code\": 3, \"message\": \"spec.tags: taken\", \"details\": [{\"@type\": "
	    "\"type.googleapis.com/google.rpc.BadRequest\", \"fieldViolations\": [{\"field\": \"spec.tags\"}]}]}";
	ck_assert_int_eq(sbx_error_from_response(409, b, strlen(b), &e), SBX_E_INVALID);
	ck_assert_str_eq(e.message, "spec.tags: taken");
	b = "{\"code\": 9, \"message\": \"x\", \"details\": [{\"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\", "
	    "\"reason\": \"CWSANDBOX_FILE_IO_FAILED\", \"domain\": \"cwsandbox.com\", \"metadata\": {\"errno\": \"EXDEV\"}}]}";
	ck_assert_int_eq(sbx_error_from_response(400, b, strlen(b), &e), SBX_E_PRECONDITION);
	ck_assert_int_eq(e.sys_errno, EXDEV);
	ck_assert_int_eq(sbx_error_errno(&e), EXDEV);
	/* a known field of the wrong type: not a Status, the HTTP status decides */
	b = "{\"code\": 5, \"message\": 7}";
	ck_assert_int_eq(sbx_error_from_response(503, b, strlen(b), &e), SBX_E_UNAVAILABLE);
	ck_assert_int_eq(e.grpc_code, 0);
}
END_TEST

static const struct {
	sbx_result r;
	int err;
} errno_table[] = {
	{SBX_OK, 0}, {SBX_E_INVALID, EINVAL}, {SBX_E_NOT_FOUND, ENOENT}, {SBX_E_EXISTS, EEXIST},
	{SBX_E_PERMISSION, EACCES}, {SBX_E_UNAUTHENTICATED, EACCES}, {SBX_E_EXHAUSTED, EAGAIN},
	{SBX_E_PRECONDITION, EINVAL}, {SBX_E_UNSUPPORTED, ENOTSUP}, {SBX_E_UNAVAILABLE, EHOSTDOWN},
	{SBX_E_TIMEOUT, ETIMEDOUT}, {SBX_E_CONNREFUSED, ECONNREFUSED}, {SBX_E_RESOLVE, EHOSTDOWN},
	{SBX_E_TLS, EIO}, {SBX_E_NETWORK, EIO}, {SBX_E_PROTOCOL, EIO}, {SBX_E_TOO_LARGE, EFBIG},
	{SBX_E_CANCELLED, EINTR}, {SBX_E_NOMEM, ENOMEM}, {SBX_E_INTERNAL, EIO},
};

START_TEST(errno_mapping)
{
	sbx_error e;
	sbx_error_clear(&e);
	e.code = errno_table[_i].r;
	ck_assert_int_eq(sbx_error_errno(&e), errno_table[_i].err);
	ck_assert_ptr_nonnull(sbx_result_str(errno_table[_i].r));
	ck_assert_str_ne(sbx_result_str(errno_table[_i].r), "unknown error");
}
END_TEST

/* Reasons that pick a finer errno (docs/api.md, second round). */
static const struct {
	sbx_result r;
	const char *reason;
	int err;
} reason_table[] = {
	{SBX_E_PRECONDITION, "CWSANDBOX_DIRECTORY_NOT_EMPTY", ENOTEMPTY},
	{SBX_E_INVALID, "CWSANDBOX_NAME_TOO_LONG", ENAMETOOLONG},
	{SBX_E_PRECONDITION, "CWSANDBOX_PROCESS_EXITED", ESRCH},
	{SBX_E_PRECONDITION, "CWSANDBOX_STDIN_CLOSED", EPIPE},
	{SBX_E_INVALID, "CWSANDBOX_DIRECTORY_NOT_EMPTY", EINVAL},
	{SBX_E_INVALID, "CWSANDBOX_FILE_TOO_LARGE", EFBIG},
	{SBX_E_INVALID, "CWSANDBOX_FILE_IS_DIRECTORY", EISDIR},
	{SBX_E_PRECONDITION, "CWSANDBOX_FILE_IS_DIRECTORY", EISDIR},
	{SBX_E_PRECONDITION, "CWSANDBOX_NAME_TOO_LONG", EINVAL},
};

START_TEST(errno_reasons)
{
	sbx_error e;
	sbx_error_clear(&e);
	e.code = reason_table[_i].r;
	snprintf(e.reason, sizeof e.reason, "%s", reason_table[_i].reason);
	ck_assert_int_eq(sbx_error_errno(&e), reason_table[_i].err);
}
END_TEST

/* linkTarget of a symlink entry is kept; of other types ignored. So is
 * linkResolved, only when absolute and next to a linkTarget. */
static const struct {
	const char *json;
	sbx_result r;
	const char *target;   /* NULL: none */
	const char *resolved; /* NULL: none */
} link_table[] = {
	{"{\"name\":\"l\",\"type\":\"FILE_TYPE_SYMLINK\",\"size\":4,\"mode\":511,\"linkTarget\":\"s/../x\","
	 "\"linkResolved\":\"/a/x\"}", SBX_OK, "s/../x", "/a/x"},
	{"{\"name\":\"l\",\"type\":\"FILE_TYPE_SYMLINK\",\"size\":4,\"mode\":511,\"linkTarget\":\"../x\","
	 "\"linkResolved\":\"x\"}", SBX_OK, "../x", NULL},
	{"{\"name\":\"l\",\"type\":\"FILE_TYPE_SYMLINK\",\"size\":4,\"mode\":511,\"linkResolved\":\"/x\"}",
	 SBX_OK, NULL, NULL},
	{"{\"name\":\"f\",\"type\":\"FILE_TYPE_FILE\",\"size\":4,\"mode\":420,\"linkTarget\":\"/z\","
	 "\"linkResolved\":\"/z\"}", SBX_OK, NULL, NULL},
	{"{\"name\":\"bin\",\"type\":\"FILE_TYPE_SYMLINK\",\"size\":7,\"mode\":511,\"linkTarget\":\"usr/bin\"}",
	 SBX_OK, "usr/bin", NULL},
	{"{\"name\":\"l\",\"type\":\"FILE_TYPE_SYMLINK\",\"size\":4,\"mode\":511,\"linkTarget\":\"/x/y\"}",
	 SBX_OK, "/x/y", NULL},
	{"{\"name\":\"l\",\"type\":\"FILE_TYPE_SYMLINK\",\"size\":4,\"mode\":511}", SBX_OK, NULL, NULL},
	{"{\"name\":\"f\",\"type\":\"FILE_TYPE_FILE\",\"size\":4,\"mode\":420,\"linkTarget\":\"z\"}", SBX_OK, NULL, NULL},
};

START_TEST(dirent_link_target)
{
	ProtobufCMessage *root = NULL;
	ck_assert_int_eq(sbx_pb_answer(&sbxd__ext__v1__file_entry__descriptor, link_table[_i].json,
	                               strlen(link_table[_i].json), &root, NULL), SBX_OK);
	sbx_dirent d;
	ck_assert_int_eq(sbx_dirent_from_pb(root, &d), link_table[_i].r);
	if (link_table[_i].target)
		ck_assert_str_eq(d.link_target, link_table[_i].target);
	else
		ck_assert_ptr_null(d.link_target);
	if (link_table[_i].resolved)
		ck_assert_str_eq(d.link_resolved, link_table[_i].resolved);
	else
		ck_assert_ptr_null(d.link_resolved);
	sbx_dirent *v = malloc(sizeof *v);
	*v = d;
	sbx_dirent_list_free(v, 1);
	wire_message_free(root);
}
END_TEST

START_TEST(status_edge_cases)
{
	sbx_error e;
	/* malformed JSON, a code out of range, a details list of junk */
	ck_assert_int_eq(sbx_error_from_response(503, "{\"code\": ", 9, &e), SBX_E_UNAVAILABLE);
	ck_assert_int_eq(e.grpc_code, 0);
	ck_assert_int_eq(sbx_error_from_response(404, "{\"code\": 77}", 12, &e), SBX_E_NOT_FOUND);
	/* details that are not Any objects: not a Status */
	ck_assert_int_eq(sbx_error_from_response(503, "{\"code\": \"5\", \"details\": [1, \"x\", {}]}", 38, &e),
	                 SBX_E_UNAVAILABLE);
	ck_assert_int_eq(e.grpc_code, 0);
	/* int32 as a string is proto3 JSON too */
	ck_assert_int_eq(sbx_error_from_response(503, "{\"code\": \"5\", \"details\": [{}]}", 30, &e),
	                 SBX_E_NOT_FOUND);
	ck_assert_int_eq(e.grpc_code, 5);
	/* a long message is cut, not overflowed */
	char big[2000] = "{\"code\": 3, \"message\": \"";
	size_t n = strlen(big);
	memset(big + n, 'x', 1500);
	memcpy(big + n + 1500, "\"}", 3);
	ck_assert_int_eq(sbx_error_from_response(400, big, strlen(big), &e), SBX_E_INVALID);
	ck_assert_int_eq(strlen(e.message), sizeof e.message - 1);
	/* a Duration in its JSON form only */
	const char *obj = "{\"code\": 8, \"details\": [{\"@type\": \"type.googleapis.com/google.rpc.RetryInfo\", "
	                  "\"retryDelay\": \"2.500s\"}]}";
	sbx_error_from_response(429, obj, strlen(obj), &e);
	ck_assert_int_eq(e.retry_delay_ms, 2500);
	ck_assert_int_eq(sbx_error_errno(NULL), EIO);
}
END_TEST

static const struct {
	const char *in;
	long ms;
} dur_table[] = {
	{"1.5s", 1500}, {"2s", 2000}, {"0.250s", 250}, {"1.000000001s", 1000}, {"0s", 0}, {".5s", 500},
	{"abc", -1}, {"1", -1}, {"", -1}, {"s", -1}, {"1.5ms", -1}, {"-1s", -1},
};

START_TEST(durations)
{
	ck_assert_int_eq(sbx_parse_duration_ms(dur_table[_i].in), dur_table[_i].ms);
}
END_TEST

/* ------------------------------------------------------------ JSON */

static sbx_sandbox *sandbox_of(const char *text, sbx_result want)
{
	sbx_sandbox *s = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_sandbox_from_text(text, strlen(text), &s, &e), want);
	return s;
}

START_TEST(sandbox_full)
{
	/* a newer service's fields (somethingNew, future, a new enum name)
	 * are ignored, as a proto3 client ignores unknown fields */
	const char *t =
		"{\"sandboxId\": \"sbx-1\", \"spec\": {\"containers\": [{\"name\": \"side\", \"image\": \"busybox\"}, "
		"{\"name\": \"main\", \"image\": \"deb\", \"command\": \"/bin/sh\", \"args\": [\"-c\", \"x\"], "
		"\"future\": {\"x\": 1}}], \"primaryContainer\": \"main\", \"tags\": [\"a\", \"sbxfs-name=other\"], "
		"\"maxLifetimeSeconds\": 600}, "
		"\"status\": {\"state\": \"STATE_COMPLETED\", \"stateReason\": \"done\", \"exitCode\": 5, "
		"\"createTime\": \"2026-11-26T05:39:50.123Z\", \"startTime\": \"2026-11-26T05:39:50.125456789Z\"}, "
		"\"somethingNew\": true}";
	sbx_sandbox *s = sandbox_of(t, SBX_OK);
	ck_assert_str_eq(s->id, "sbx-1");
	ck_assert_str_eq(s->name, "other");  /* the name is the tag */
	ck_assert_str_eq(s->image, "deb");   /* of the primary container */
	ck_assert_int_eq(s->state, SBX_STATE_COMPLETED);
	ck_assert_str_eq(s->state_reason, "done");
	ck_assert_int_eq(s->exit_code, 5);
	ck_assert_int_eq(s->ntags, 2);
	ck_assert_str_eq(s->tags[1], "sbxfs-name=other");
	ck_assert(s->create_time_ns == 1795671590123000000LL);
	ck_assert(s->start_time_ns == 1795671590125456789LL);
	ck_assert(s->end_time_ns == 0);
	/* json: the canonical form, pretty */
	ck_assert_ptr_null(strstr(s->json, "somethingNew"));
	ck_assert_ptr_nonnull(strstr(s->json, "{\n  \"sandboxId\": \"sbx-1\",\n  \"spec\": {\n    \"containers\": ["));
	ck_assert_ptr_nonnull(strstr(s->json, "\"maxLifetimeSeconds\": 600"));
	ck_assert_ptr_null(strchr(s->json, '\t'));
	ck_assert_int_eq(s->json[strlen(s->json) - 1], '\n');
	sbx_sandbox_free(s);
}
END_TEST

START_TEST(sandbox_minimal)
{
	/* proto3: absent zero values; state as a number (the schema's: 2 is
	 * RUNNING); exitCode as a string; absent exitCode is 0 */
	sbx_sandbox *s = sandbox_of("{\"sandboxId\": \"x\"}", SBX_OK);
	ck_assert_int_eq(s->state, SBX_STATE_UNSPECIFIED);
	ck_assert_int_eq(s->exit_code, 0);
	ck_assert_ptr_null(s->name);
	ck_assert_str_eq(s->image, "");
	ck_assert_str_eq(s->state_reason, "");
	ck_assert_int_eq(s->ntags, 0);
	sbx_sandbox_free(s);
	s = sandbox_of("{\"sandboxId\": \"x\", \"status\": {\"state\": 2, \"exitCode\": \"7\"}, "
	               "\"spec\": {\"tags\": [\"sbxfs-name=nm\"]}}",
	               SBX_OK);
	ck_assert_int_eq(s->state, SBX_STATE_RUNNING);
	ck_assert_int_eq(s->exit_code, 7);
	ck_assert_str_eq(s->name, "nm");
	ck_assert_int_eq(s->ntags, 1);
	sbx_sandbox_free(s);
	s = sandbox_of("", SBX_E_PROTOCOL);
	ck_assert_ptr_null(s);
	/* a wrong type of a known field is caught */
	ck_assert_ptr_null(sandbox_of("{\"spec\": {}}", SBX_E_PROTOCOL));
	ck_assert_ptr_null(sandbox_of("{\"sandboxId\": 5}", SBX_E_PROTOCOL));
	ck_assert_ptr_null(sandbox_of("{\"sandboxId\": \"x\", \"status\": {\"exitCode\": \"x\"}}", SBX_E_PROTOCOL));
	ck_assert_ptr_null(sandbox_of("{\"sandboxId\": \"x\", \"spec\": {\"tags\": [\"a\", 5]}}", SBX_E_PROTOCOL));
	ck_assert_ptr_null(sandbox_of("{\"sandboxId\": \"x\", \"spec\": {\"maxLifetimeSeconds\": \"1.5\"}}",
	                              SBX_E_PROTOCOL));
	ck_assert_ptr_null(sandbox_of("{\"sandboxId\": \"x\", \"status\": {\"createTime\": \"yesterday\"}}",
	                              SBX_E_PROTOCOL));
	ck_assert_ptr_null(sandbox_of("[1]", SBX_E_PROTOCOL));
	ck_assert_ptr_null(sandbox_of("{\"sandboxId\": \"x\"} x", SBX_E_PROTOCOL));
	s = sandbox_of("{\"sandboxId\": \"x\", \"status\": {\"state\": \"STATE_FROM_THE_FUTURE\"}}", SBX_OK);
	ck_assert_int_eq(s->state, SBX_STATE_UNSPECIFIED);
	sbx_sandbox_free(s);
}
END_TEST

static const struct {
	sbx_state s;
	const char *word;
	int terminal;
	int pb;   /* the schema's number */
} state_table[] = {
	{SBX_STATE_PENDING, "pending", 0, 7}, {SBX_STATE_CREATING, "creating", 0, 1},
	{SBX_STATE_RUNNING, "running", 0, 2}, {SBX_STATE_PAUSED, "paused", 0, 8},
	{SBX_STATE_TERMINATING, "terminating", 0, 5}, {SBX_STATE_COMPLETED, "completed", 1, 3},
	{SBX_STATE_FAILED, "failed", 1, 4}, {SBX_STATE_TERMINATED, "terminated", 1, 6},
};

START_TEST(state_words)
{
	ck_assert_str_eq(sbx_state_word(state_table[_i].s), state_table[_i].word);
	ck_assert_int_eq(sbx_state_is_terminal(state_table[_i].s), state_table[_i].terminal);
	ck_assert_int_eq(sbx_state_to_pb(state_table[_i].s), state_table[_i].pb);
	ck_assert_int_eq(sbx_state_from_pb(state_table[_i].pb), state_table[_i].s);
	char t[128];
	static const char *names[] = {"", "PENDING", "CREATING", "RUNNING", "PAUSED", "TERMINATING", "COMPLETED",
	                              "FAILED", "TERMINATED"};
	snprintf(t, sizeof t, "{\"sandboxId\": \"x\", \"status\": {\"state\": \"STATE_%s\"}}", names[state_table[_i].s]);
	sbx_sandbox *s = sandbox_of(t, SBX_OK);
	ck_assert_int_eq(s->state, state_table[_i].s);
	sbx_sandbox_free(s);
	snprintf(t, sizeof t, "{\"sandboxId\": \"x\", \"status\": {\"state\": %d}}", state_table[_i].pb);
	s = sandbox_of(t, SBX_OK);
	ck_assert_int_eq(s->state, state_table[_i].s);
	sbx_sandbox_free(s);
}
END_TEST

static sbx_process *process_of(const char *text, sbx_result want)
{
	sbx_process *p = NULL;
	sbx_error e;
	ck_assert_msg(sbx_process_from_text(text, strlen(text), &p, &e) == want, "%s: %s", text, e.message);
	return p;
}

START_TEST(process_mapping)
{
	sbx_process *p = process_of(
		"{\"processId\": \"3\", \"command\": [\"/bin/sh\", \"-c\", \"echo hi\"], \"workingDir\": \"/w\", "
		"\"env\": {\"K\": \"V\"}, \"stdin\": true, \"stdinClosed\": false, \"timeoutSeconds\": 30, "
		"\"state\": \"PROCESS_STATE_KILLED\", \"exitCode\": 143, \"signal\": 15, \"stateReason\": \"timeout\", "
		"\"startTime\": \"1970-01-01T00:00:01Z\", \"endTime\": \"1970-01-01T00:00:02.5+00:00\", "
		"\"stdoutBytes\": \"12345678901\", \"stderrBytes\": 7, \"newField\": null}",
		SBX_OK);
	ck_assert_int_eq(p->id, 3);
	ck_assert_str_eq(p->argv[2], "echo hi");
	ck_assert_ptr_null(p->argv[3]);
	ck_assert_str_eq(p->cwd, "/w");
	ck_assert_int_eq(p->state, SBX_PROC_KILLED);
	ck_assert_int_eq(p->exit_code, 143);
	ck_assert_int_eq(p->signal, 15);
	ck_assert_str_eq(p->state_reason, "timeout");
	ck_assert_int_eq(p->has_stdin, 1);
	ck_assert_int_eq(p->stdin_closed, 0);
	ck_assert(p->start_time_ns == 1000000000LL);
	ck_assert(p->end_time_ns == 2500000000LL);
	ck_assert(p->stdout_bytes == 12345678901LL);
	ck_assert_int_eq(p->stderr_bytes, 7);
	sbx_process_free(p);
	p = process_of("{\"processId\": 1, \"state\": 2}", SBX_OK);
	ck_assert_int_eq(p->state, SBX_PROC_EXITED);
	ck_assert_int_eq(p->exit_code, 0);
	ck_assert_ptr_null(p->argv[0]);
	ck_assert_str_eq(sbx_proc_state_word(p->state), "exited");
	sbx_process_free(p);
	ck_assert_ptr_null(process_of("{\"processId\": \"0\"}", SBX_E_PROTOCOL));
	ck_assert_ptr_null(process_of("{}", SBX_E_PROTOCOL));
	ck_assert_ptr_null(process_of("{\"processId\": \"1\", \"stdoutBytes\": \"-4\"}", SBX_E_PROTOCOL));
	ck_assert_ptr_null(process_of("{\"processId\": \"1\", \"exitCode\": 1.5}", SBX_E_PROTOCOL));
	ck_assert_ptr_null(process_of("{\"processId\": \"1\", \"signal\": [1]}", SBX_E_PROTOCOL));
	ck_assert_ptr_null(process_of("{\"processId\": \"1\", \"stdin\": \"yes\"}", SBX_E_PROTOCOL));
	ck_assert_str_eq(sbx_proc_state_word(SBX_PROC_RUNNING), "running");
	ck_assert_str_eq(sbx_proc_state_word(SBX_PROC_FAILED), "failed");
}
END_TEST

START_TEST(json_caps)
{
	char deep[200];
	memset(deep, '[', 40);
	memset(deep + 40, ']', 40);
	deep[80] = '\0';
	ck_assert_ptr_null(sbx_json_parse(deep, 80));
	memset(deep, '[', 32);
	memset(deep + 32, ']', 32);
	cJSON *ok = sbx_json_parse(deep, 64);
	ck_assert_ptr_nonnull(ok);
	cJSON_Delete(ok);
	/* brackets inside strings do not count */
	const char *s = "{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"}";
	ok = sbx_json_parse(s, strlen(s));
	ck_assert_ptr_nonnull(ok);
	cJSON_Delete(ok);
	ck_assert_ptr_null(sbx_json_parse("{} x", 4));
	ok = sbx_json_parse("{} \n", 4);
	ck_assert_ptr_nonnull(ok);
	cJSON_Delete(ok);
	int64_t v;
	const char *ints = "{\"a\": \"9223372036854775807\", \"b\": \"9223372036854775808\", \"c\": 1e300, "
	                   "\"d\": \"\", \"e\": true}";
	cJSON *r = sbx_json_parse(ints, strlen(ints));
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(sbx_json_get_i64(r, "a", &v), 0);
	ck_assert(v == INT64_MAX);
	ck_assert_int_eq(sbx_json_get_i64(r, "b", &v), -1);
	ck_assert_int_eq(sbx_json_get_i64(r, "c", &v), -1);
	ck_assert_int_eq(sbx_json_get_i64(r, "d", &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(sbx_json_get_i64(r, "e", &v), -1);
	ck_assert_int_eq(sbx_json_get_i64(r, "absent", &v), 0);
	cJSON_Delete(r);
}
END_TEST

/* ------------------------------------------------------------ specs */

/* The body CreateSandbox sends for sp: the Sandbox, canonical. */
static char *spec_json(const sbx_spec *sp)
{
	sbx_spec_pb p;
	sbx_error e;
	ck_assert_msg(sbx_spec_to_pb(sp, &p, &e) == SBX_OK, "%s", e.message);
	char *t = NULL;
	size_t n;
	wire_err we;
	ck_assert_int_eq(wire_json_encode(&p.sandbox.base, NULL, &t, &n, &we), 0);
	sbx_spec_pb_free(&p);
	return t;
}

/* The Sandbox of a spec with nothing but the main container's start and
 * end: C0 "}]}}" is the empty spec. */
#define C0 "{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"default\""
#define CI(img) "{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"" img "\""
#define C_END "}]}}"

/* Mount-option defaults as text (sbxfs's mkdir options). */
static const struct {
	const char *key, *value;
	sbx_result want;
	const char *json;       /* the spec's JSON when accepted */
} option_table[] = {
	{"image", "mini", SBX_OK, CI("mini") C_END},
	{"network", "none", SBX_OK, C0 "}],\"network\":{\"denyEgress\":true}}}"},
	{"network", "egress", SBX_OK, C0 "}],\"network\":{\"egress\":[{\"any\":true}]}}}"},
	{"network", "maybe", SBX_E_INVALID, NULL},
	{"lifetime", "3600", SBX_OK, C0 "}],\"maxLifetimeSeconds\":3600}}"},
	{"lifetime", "0", SBX_E_INVALID, NULL},
	{"lifetime", "2592001", SBX_E_INVALID, NULL},
	{"lifetime", "10s", SBX_E_INVALID, NULL},
	{"cpu", "500m", SBX_OK, C0 ",\"resources\":{\"cpu\":\"500m\"}" C_END},
	{"cpu", "2", SBX_OK, C0 ",\"resources\":{\"cpu\":\"2\"}" C_END},
	{"cpu", "lots", SBX_E_INVALID, NULL},
	{"memory", "512Mi", SBX_OK, C0 ",\"resources\":{\"memory\":\"512Mi\"}" C_END},
	{"memory", "-1", SBX_E_INVALID, NULL},
	{"image", "", SBX_E_INVALID, NULL},
	{"colour", "red", SBX_E_INVALID, NULL},
};

START_TEST(spec_option_table)
{
	sbx_spec *sp = sbx_spec_new();
	sbx_error err;
	sbx_result r = sbx_spec_set_option(sp, option_table[_i].key, option_table[_i].value, &err);
	ck_assert_msg(r == option_table[_i].want, "%s=%s: %d", option_table[_i].key, option_table[_i].value, r);
	if (r == SBX_OK) {
		char *t = spec_json(sp);
		ck_assert_str_eq(t, option_table[_i].json);
		free(t);
	} else {
		ck_assert_ptr_nonnull(strstr(err.message, option_table[_i].key));
	}
	sbx_spec_free(sp);
}
END_TEST

/* A start's request id: made once, kept, settable for a retry. */
START_TEST(exec_request_id)
{
	sbx_exec_req *r = NULL;
	ck_assert_int_eq(sbx_exec_req_parse("echo hi\n", 8, &r, NULL), SBX_OK);
	const char *a = sbx_exec_req_request_id(r);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(strlen(a), 32);
	char first[SBX_REQUEST_ID_MAX + 1];
	snprintf(first, sizeof first, "%s", a);
	ck_assert_str_eq(sbx_exec_req_request_id(r), first);
	ck_assert_int_eq(sbx_exec_req_set_request_id(r, "retry-1_A", NULL), SBX_OK);
	ck_assert_str_eq(sbx_exec_req_request_id(r), "retry-1_A");
	ck_assert_int_eq(sbx_exec_req_set_request_id(r, "", NULL), SBX_E_INVALID);
	ck_assert_int_eq(sbx_exec_req_set_request_id(r, "a b", NULL), SBX_E_INVALID);
	char big[SBX_REQUEST_ID_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ck_assert_int_eq(sbx_exec_req_set_request_id(r, big, NULL), SBX_E_INVALID);
	sbx_exec_req_free(r);
}
END_TEST

START_TEST(spec_builders_to_json)
{
	sbx_spec *sp = sbx_spec_new();
	ck_assert_int_eq(sbx_spec_set_name(sp, "box-1", NULL), SBX_OK);
	ck_assert_int_eq(sbx_spec_set_image(sp, "deb", NULL), SBX_OK);
	const char *argv[] = {"python3", "-c", "print(1)", NULL};
	ck_assert_int_eq(sbx_spec_set_command(sp, argv, NULL), SBX_OK);
	ck_assert_int_eq(sbx_spec_add_env(sp, "A", "1", NULL), SBX_OK);
	ck_assert_int_eq(sbx_spec_add_env(sp, "A", "2", NULL), SBX_OK);   /* replaces */
	ck_assert_int_eq(sbx_spec_add_tag(sp, "t1", NULL), SBX_OK);
	ck_assert_int_eq(sbx_spec_add_tag(sp, "t1", NULL), SBX_OK);       /* once */
	sbx_spec_set_resources(sp, 500, 256LL << 20, 64);
	sbx_spec_set_lifetime(sp, 120);
	sbx_spec_set_network(sp, 1);
	char *t = spec_json(sp);
	ck_assert_str_eq(t, CI("deb") ",\"command\":\"python3\",\"args\":[\"-c\",\"print(1)\"],"
	                    "\"environmentVariables\":{\"A\":\"2\"},\"resources\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"}}],"
	                    "\"maxLifetimeSeconds\":120,\"tags\":[\"t1\",\"sbxfs-name=box-1\"],"
	                    "\"network\":{\"egress\":[{\"any\":true}]},\"annotations\":{\"sbxd.pids\":\"64\"}}}");
	free(t);
	/* the name is tagged once, not twice */
	ck_assert_int_eq(sbx_spec_add_tag(sp, "sbxfs-name=box-1", NULL), SBX_OK);
	t = spec_json(sp);
	ck_assert_ptr_nonnull(strstr(t, "\"tags\":[\"t1\",\"sbxfs-name=box-1\"],"));
	free(t);
	sbx_spec_free(sp);
	/* an empty spec is the one container with the default image */
	sp = sbx_spec_new();
	t = spec_json(sp);
	ck_assert_str_eq(t, C0 C_END);
	free(t);
	sbx_error e;
	ck_assert_int_eq(sbx_spec_set_name(sp, ".hidden", &e), SBX_E_INVALID);
	ck_assert_int_eq(sbx_spec_set_name(sp, "a/b", &e), SBX_E_INVALID);
	ck_assert_int_eq(sbx_spec_add_env(sp, "A=B", "x", &e), SBX_E_INVALID);
	ck_assert_int_eq(sbx_spec_add_tag(sp, "", &e), SBX_E_INVALID);
	sbx_spec_free(sp);
	sbx_spec_free(NULL);
}
END_TEST

static const struct {
	const char *in;
	sbx_result r;
	const char *json;        /* sbx_spec_to_json of the result, or a message part */
} spec_table[] = {
	{"", SBX_OK, C0 C_END},
	{"\n", SBX_OK, C0 C_END},
	{"{}", SBX_OK, C0 C_END},
	{"  {}\n", SBX_OK, C0 C_END},
	{"python train.py\n", SBX_OK, C0 ",\"command\":\"/bin/sh\",\"args\":[\"-c\",\"python train.py\"]" C_END},
	{"{\"spec\": {\"image\": \"x\"}}", SBX_OK, CI("x") C_END},
	{"{\"command\": [\"a\", \"b\"]}", SBX_OK, C0 ",\"command\":\"a\",\"args\":[\"b\"]" C_END},
	{"{\"command\": \"a\", \"args\": [\"b\", \"c\"]}", SBX_OK, C0 ",\"command\":\"a\",\"args\":[\"b\",\"c\"]" C_END},
	{"{\"resources\": {\"cpu\": \"2\", \"memory\": \"1Gi\"}}", SBX_OK,
	 C0 ",\"resources\":{\"cpu\":\"2\",\"memory\":\"1Gi\"}" C_END},
	{"{\"resources\": {\"cpu\": 0.25, \"memory\": 1000}}", SBX_OK,
	 C0 ",\"resources\":{\"cpu\":\"250m\",\"memory\":\"1000\"}" C_END},
	{"{\"resources\": {\"memory\": \"2M\"}}", SBX_OK, C0 ",\"resources\":{\"memory\":\"2000000\"}" C_END},
	{"{\"resources\": {\"pids\": 32}}", SBX_OK, C0 "}],\"annotations\":{\"sbxd.pids\":\"32\"}}}"},
	{"{\"network\": {\"denyEgress\": true}}", SBX_OK, C0 "}],\"network\":{\"denyEgress\":true}}}"},
	/* NetworkOptions goes through as written: the service checks it. */
	{"{\"network\": {\"egress\": [{\"cidr\": {\"cidr\": \"10.0.0.0/8\"}, \"ports\": [{\"port\": 443}]}]}}",
	 SBX_OK, C0 "}],\"network\":{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.0/8\"},\"ports\":[{\"port\":443}]}]}}}"},
	{"{\"maxLifetimeSeconds\": \"60\"}", SBX_OK, C0 "}],\"maxLifetimeSeconds\":60}}"},
	{"{\"workingDir\": \"/w\", \"env\": {\"K\": \"V\"}}", SBX_OK,
	 C0 ",\"environmentVariables\":{\"K\":\"V\"},\"workingDir\":\"/w\"" C_END},
	{"{\"name\": \"n1\", \"tags\": [\"sbxfs-name=n1\"]}", SBX_OK, C0 "}],\"tags\":[\"sbxfs-name=n1\"]}}"},
	{"{\"name\": \"n1\"}", SBX_OK, C0 "}],\"tags\":[\"sbxfs-name=n1\"]}}"},
	{"{\"spec\": {}, \"requestId\": \"r\"}", SBX_OK, C0 C_END},
	/* a NetworkOptions the schema lacks fields of is refused here, not
	 * sent to be refused */
	{"{\"network\": {\"egress\": true}}", SBX_E_INVALID, "network"},
	{"{\"imgae\": \"x\"}", SBX_E_INVALID, "unknown field \"imgae\""},
	{"{\"image\": 5}", SBX_E_INVALID, "\"image\" must be a string"},
	{"{\"name\": \"bad name\"}", SBX_E_INVALID, "bad sandbox name"},
	{"{\"resources\": {\"cpu\": \"lots\"}}", SBX_E_INVALID, "bad quantity"},
	{"{\"resources\": {\"gpu\": 1}}", SBX_E_INVALID, "unknown resource"},
	{"{\"maxLifetimeSeconds\": 99999999}", SBX_E_INVALID, "maxLifetimeSeconds"},
	/* args alone: the image's entrypoint runs them (an empty command) */
	{"{\"args\": [\"x\"]}", SBX_OK, C0 ",\"args\":[\"x\"]" C_END},
	{"{\"volumes\": [{\"name\": \"v\", \"scratch\": {\"size\": \"1Gi\"}}], \"volumeMounts\": [{\"volume\": \"v\", "
	 "\"mountPath\": \"/d\", \"readOnly\": true}], \"files\": [{\"path\": \"/f\", \"content\": \"aGk=\"}]}",
	 SBX_OK,
	 C0 ",\"files\":[{\"path\":\"/f\",\"content\":\"aGk=\"}],\"volumeMounts\":[{\"volume\":\"v\",\"mountPath\":\"/d\","
	    "\"readOnly\":true}]}],\"volumes\":[{\"name\":\"v\",\"scratch\":{\"size\":\"1Gi\"}}]}}"},
	{"{\"volumes\": [{\"name\": \"v\", \"scratch\": {\"sise\": \"1Gi\"}}]}", SBX_E_INVALID, "\"volumes[0]\""},
	{"{\"files\": {\"path\": \"/f\"}}", SBX_E_INVALID, "\"files\" must be an array"},
	{"{\"command\": [1]}", SBX_E_INVALID, "array of strings"},
	{"{\"command\": [\"\", \"x\"]}", SBX_E_INVALID, "empty string"},
	{"{\"command\": []}", SBX_OK, C0 C_END},
	{"{\"env\": {\"K\": 1}}", SBX_E_INVALID, "must be a string"},
	{"{\"env\": []}", SBX_E_INVALID, "\"env\" must be an object"},
	{"{\"network\": \"yes\"}", SBX_E_INVALID, "\"network\""},
	{"{\"spec\": 3}", SBX_E_INVALID, "\"spec\" must be an object"},
	{"{\"image\": ", SBX_E_INVALID, "malformed JSON"},
	{"{\"name\": \"a\\u0000b\"}", SBX_E_INVALID, "\\u0000"},
	{"{\"command\": [\"sh\", \"-c\", \"x\\u0000\"]}", SBX_E_INVALID, "\\u0000"},
	{"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", SBX_E_INVALID, "deeper"},
};

START_TEST(spec_parse_table)
{
	sbx_spec *sp = NULL;
	sbx_error e;
	const char *in = spec_table[_i].in;
	sbx_result r = sbx_spec_parse(in, strlen(in), &sp, &e);
	ck_assert_msg(r == spec_table[_i].r, "%s: got %s (%s)", in, sbx_result_str(r), r ? e.message : "");
	if (r == SBX_OK) {
		char *t = spec_json(sp);
		ck_assert_str_eq(t, spec_table[_i].json);
		free(t);
		sbx_spec_free(sp);
	} else {
		ck_assert_ptr_null(sp);
		ck_assert_msg(strstr(e.message, spec_table[_i].json), "%s: message %s", in, e.message);
	}
}
END_TEST

START_TEST(text_caps)
{
	size_t n = 128 * 1024 + 1;
	char *big = malloc(n);
	memset(big, 'a', n);
	sbx_spec *sp = NULL;
	sbx_exec_req *r = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_spec_parse(big, n, &sp, &e), SBX_E_INVALID);
	ck_assert_ptr_nonnull(strstr(e.message, "too long"));
	ck_assert_int_eq(sbx_exec_req_parse(big, n, &r, &e), SBX_E_INVALID);
	ck_assert_int_eq(sbx_exec_req_parse("a\0b", 3, &r, &e), SBX_E_INVALID);
	ck_assert_ptr_nonnull(strstr(e.message, "NUL"));
	free(big);
}
END_TEST

static const struct {
	const char *in;
	sbx_result r;
	const char *json;     /* sbx_exec_req_to_json, or a message part */
} exec_table[] = {
	{"echo hi\n", SBX_OK, "{\"command\":[\"/bin/sh\",\"-c\",\"echo hi\"]}"},
	{"  echo hi  \r\n\n", SBX_OK, "{\"command\":[\"/bin/sh\",\"-c\",\"echo hi\"]}"},
	{"a\nb\n", SBX_OK, "{\"command\":[\"/bin/sh\",\"-c\",\"a\\nb\"]}"},
	{"{\"command\": [\"ls\", \"-l\"]}", SBX_OK, "{\"command\":[\"ls\",\"-l\"]}"},
	{"{\"command\": \"ls | wc\"}", SBX_OK, "{\"command\":[\"/bin/sh\",\"-c\",\"ls | wc\"]}"},
	{"{\"command\": [\"x\"], \"cwd\": \"/w\", \"env\": {\"K\": \"V\"}, \"stdin\": true, \"timeoutSeconds\": 30}",
	 SBX_OK, "{\"command\":[\"x\"],\"workingDir\":\"/w\",\"env\":{\"K\":\"V\"},\"stdin\":true,\"timeoutSeconds\":30}"},
	{"{\"command\": [\"x\"], \"workingDir\": \"/v\", \"timeoutSeconds\": \"5\"}", SBX_OK,
	 "{\"command\":[\"x\"],\"workingDir\":\"/v\",\"timeoutSeconds\":5}"},
	{"", SBX_E_INVALID, "empty command"},
	{" \n", SBX_E_INVALID, "empty command"},
	{"{}", SBX_E_INVALID, "\"command\" is missing"},
	{"{\"command\": []}", SBX_E_INVALID, "\"command\" is missing"},
	{"{\"command\": [\"\"]}", SBX_E_INVALID, "empty string"},
	{"{\"command\": \"\"}", SBX_E_INVALID, "empty command"},
	{"{\"command\": 5}", SBX_E_INVALID, "array of strings"},
	{"{\"command\": [\"x\"], \"stdin\": 1}", SBX_E_INVALID, "\"stdin\" must be"},
	{"{\"command\": [\"x\"], \"timeoutSeconds\": -1}", SBX_E_INVALID, "timeoutSeconds"},
	{"{\"command\": [\"x\"], \"timeoutSeconds\": 1.5}", SBX_E_INVALID, "timeoutSeconds"},
	{"{\"command\": [\"x\"], \"cmd\": 1}", SBX_E_INVALID, "unknown field \"cmd\""},
	{"{\"command\": [\"x\"], \"env\": {\"\": \"v\"}}", SBX_E_INVALID, "bad environment variable"},
	{"{\"command\": [\"x\"]", SBX_E_INVALID, "malformed JSON"},
	{"{\"command\": [\"x\"]} {}", SBX_E_INVALID, "malformed JSON"},
	/* cJSON would cut the string at the NUL: refused, not truncated */
	{"{\"command\": [\"echo\", \"a\\u0000b\"]}", SBX_E_INVALID, "\\u0000"},
	{"{\"command\": [\"x\"], \"env\": {\"K\": \"\\u0000\"}}", SBX_E_INVALID, "\\u0000"},
	{"{\"command\": [\"x\"], \"cwd\": \"/a\\u0000\"}", SBX_E_INVALID, "\\u0000"},
	/* an escaped backslash followed by text is not a NUL */
	{"{\"command\": [\"echo\", \"a\\\\u0000b\"]}", SBX_OK,
	 "{\"command\":[\"echo\",\"a\\\\u0000b\"]}"},
	{"{\"command\": [\"echo\", \"a\\u0001b\"]}", SBX_OK, "{\"command\":[\"echo\",\"a\\u0001b\"]}"},
};

/* The StartProcessRequest (sbxd's extension) of r, canonical. */
static char *start_json(const sbx_exec_req *r)
{
	sbx_start_pb p;
	ck_assert_int_eq(sbx_exec_req_to_start_pb(r, NULL, NULL, &p, NULL), SBX_OK);
	char *t = NULL;
	size_t n;
	wire_err we;
	ck_assert_int_eq(wire_json_encode(&p.req.base, NULL, &t, &n, &we), 0);
	sbx_start_pb_free(&p);
	return t;
}

START_TEST(exec_parse_table)
{
	sbx_exec_req *r = NULL;
	sbx_error e;
	const char *in = exec_table[_i].in;
	sbx_result res = sbx_exec_req_parse(in, strlen(in), &r, &e);
	ck_assert_msg(res == exec_table[_i].r, "%s: got %s (%s)", in, sbx_result_str(res), res ? e.message : "");
	if (res == SBX_OK) {
		char *t = start_json(r);
		ck_assert_str_eq(t, exec_table[_i].json);
		free(t);
		sbx_exec_req *d = sbx_exec_req_dup(r);
		t = start_json(d);
		ck_assert_str_eq(t, exec_table[_i].json);
		free(t);
		sbx_exec_req_free(d);
		sbx_exec_req_free(r);
	} else {
		ck_assert_ptr_null(r);
		ck_assert_msg(strstr(e.message, exec_table[_i].json), "%s: message %s", in, e.message);
	}
}
END_TEST

START_TEST(exec_builders)
{
	sbx_exec_req *r = sbx_exec_req_new();
	sbx_error e;
	const char *none[] = {NULL};
	ck_assert_int_eq(sbx_exec_req_set_argv(r, none, &e), SBX_E_INVALID);
	const char *argv[] = {"ls", "-a", NULL};
	ck_assert_int_eq(sbx_exec_req_set_argv(r, argv, NULL), SBX_OK);
	ck_assert_int_eq(sbx_exec_req_add_env(r, "X", "1", NULL), SBX_OK);
	ck_assert_int_eq(sbx_exec_req_set_cwd(r, "/tmp", NULL), SBX_OK);
	sbx_exec_req_set_stdin(r, 1);
	sbx_exec_req_set_timeout(r, 9);
	char *t = start_json(r);
	ck_assert_str_eq(t, "{\"command\":[\"ls\",\"-a\"],\"workingDir\":\"/tmp\",\"env\":{\"X\":\"1\"},\"stdin\":true,"
	                    "\"timeoutSeconds\":9}");
	free(t);
	/* the real Exec: no cwd, timeout or stdin in it; a cwd is the shell
	 * wrapper, argv untouched */
	sbx_exec_pb p;
	ck_assert_int_eq(sbx_exec_req_to_pb(r, "sb1", 1024, &p, NULL), SBX_OK);
	size_t n;
	wire_err we;
	ck_assert_int_eq(wire_json_encode(&p.req.base, NULL, &t, &n, &we), 0);
	ck_assert_str_eq(t, "{\"sandboxId\":\"sb1\",\"command\":[\"/bin/sh\",\"-c\",\"cd -- \\\"$1\\\" && shift && exec "
	                    "\\\"$@\\\"\",\"sh\",\"/tmp\",\"ls\",\"-a\"],\"env\":{\"X\":\"1\"},\"maxOutputBytes\":1024}");
	free(t);
	sbx_exec_pb_free(&p);
	sbx_exec_req_free(r);
	sbx_exec_req_free(NULL);
}
END_TEST

/* ------------------------------------------------------------ misc */

static const struct {
	const char *argv[5];
	const char *line;
} quote_table[] = {
	{{"ls", "-l", NULL}, "ls -l\n"},
	{{"/bin/sh", "-c", "echo hi; exit 3", NULL}, "/bin/sh -c 'echo hi; exit 3'\n"},
	{{"echo", "it's", NULL}, "echo 'it'\\''s'\n"},
	{{"echo", "", NULL}, "echo ''\n"},
	{{"a=b", "x,y:z@w+%", NULL}, "a=b x,y:z@w+%\n"},
	{{"$HOME", "*", "a\nb", NULL}, "'$HOME' '*' 'a\nb'\n"},
	{{NULL}, "\n"},
};

START_TEST(argv_quoting)
{
	char *l = sbx_argv_to_line((char *const *)quote_table[_i].argv);
	ck_assert_str_eq(l, quote_table[_i].line);
	free(l);
}
END_TEST

static const struct {
	const char *id, *suffix, *path;
} url_table[] = {
	{"sbx-1", NULL, "/v1/sandboxes/sbx-1"},
	{"sbx-1", ":exec", "/v1/sandboxes/sbx-1:exec"},
	{"a b/c", "/processes", "/v1/sandboxes/a%20b%2Fc/processes"},
	{"x?y#z&%", NULL, "/v1/sandboxes/x%3Fy%23z%26%25"},
	{"..", NULL, "/v1/sandboxes/.."},
	{"é", NULL, "/v1/sandboxes/%C3%A9"},
};

/* Requests from messages by the route table: path variables escaped,
 * the query from the fields neither path nor body carries (repeated ones
 * once per element, zero values left out), the body by the row's rule. */
START_TEST(pb_requests)
{
	const wire_route *r;
	char *path = NULL, *body = NULL;
	size_t bl = 0;
	ck_assert_int_eq(sbx_pb_route("ListSandboxes", &r, NULL), SBX_OK);
	Coreweave__Sandbox__V1__ListSandboxesRequest lq = COREWEAVE__SANDBOX__V1__LIST_SANDBOXES_REQUEST__INIT;
	char *tags[] = {(char *)"a b", (char *)"sbxfs-name=x"};
	lq.page_size = 1000;
	lq.tags = tags;
	lq.n_tags = 2;
	lq.state = COREWEAVE__SANDBOX__V1__STATE__STATE_RUNNING;
	lq.show_terminated = 1;
	ck_assert_int_eq(sbx_pb_request(r, &lq.base, NULL, &path, &body, &bl, NULL), SBX_OK);
	ck_assert_str_eq(path, "/v1/sandboxes?pageSize=1000&tags=a%20b&tags=sbxfs-name%3Dx&state=STATE_RUNNING"
	                       "&showTerminated=true");
	ck_assert_ptr_null(body);
	free(path);
	ck_assert_int_eq(sbx_pb_route("DeleteSandbox", &r, NULL), SBX_OK);
	Coreweave__Sandbox__V1__DeleteSandboxRequest dq = COREWEAVE__SANDBOX__V1__DELETE_SANDBOX_REQUEST__INIT;
	dq.sandbox_id = (char *)"sb/1";
	ck_assert_int_eq(sbx_pb_request(r, &dq.base, NULL, &path, &body, &bl, NULL), SBX_OK);
	ck_assert_str_eq(path, "/v1/sandboxes/sb%2F1");
	free(path);
	dq.grace_period_seconds = 10;
	dq.allow_missing = 1;
	ck_assert_int_eq(sbx_pb_request(r, &dq.base, NULL, &path, &body, &bl, NULL), SBX_OK);
	ck_assert_str_eq(path, "/v1/sandboxes/sb%2F1?gracePeriodSeconds=10&allowMissing=true");
	free(path);
	dq.sandbox_id = (char *)"";
	ck_assert_int_eq(sbx_pb_request(r, &dq.base, NULL, &path, &body, &bl, NULL), SBX_E_INVALID);
	/* create: the Sandbox is the body, requestId the query */
	sbx_spec *sp = sbx_spec_new();
	sbx_spec_pb p;
	ck_assert_int_eq(sbx_spec_to_pb(sp, &p, NULL), SBX_OK);
	ck_assert_int_eq(sbx_pb_route("CreateSandbox", &r, NULL), SBX_OK);
	Coreweave__Sandbox__V1__CreateSandboxRequest cq = COREWEAVE__SANDBOX__V1__CREATE_SANDBOX_REQUEST__INIT;
	cq.sandbox = &p.sandbox;
	cq.request_id = (char *)"r1";
	ck_assert_int_eq(sbx_pb_request(r, &cq.base, NULL, &path, &body, &bl, NULL), SBX_OK);
	ck_assert_str_eq(path, "/v1/sandboxes?requestId=r1");
	ck_assert_str_eq(body, C0 C_END);
	ck_assert_uint_eq(bl, strlen(C0 C_END));
	free(path);
	free(body);
	sbx_spec_pb_free(&p);
	sbx_spec_free(sp);
	/* exec: the whole request is the body, sandboxId too */
	ck_assert_int_eq(sbx_pb_route("Exec", &r, NULL), SBX_OK);
	Coreweave__Sandbox__V1__ExecRequest eq = COREWEAVE__SANDBOX__V1__EXEC_REQUEST__INIT;
	char *argv[] = {(char *)"true"};
	eq.sandbox_id = (char *)"sb1";
	eq.command = argv;
	eq.n_command = 1;
	ck_assert_int_eq(sbx_pb_request(r, &eq.base, NULL, &path, &body, &bl, NULL), SBX_OK);
	ck_assert_str_eq(path, "/v1/sandboxes/sb1:exec");
	ck_assert_str_eq(body, "{\"sandboxId\":\"sb1\",\"command\":[\"true\"]}");
	free(path);
	free(body);
	/* an extension row with an int64 path variable, and a raw path */
	ck_assert_int_eq(sbx_pb_ext_route("GetProcess", &r, NULL), SBX_OK);
	Sbxd__Ext__V1__GetProcessRequest gq = SBXD__EXT__V1__GET_PROCESS_REQUEST__INIT;
	gq.sandbox_id = (char *)"sb1";
	gq.process_id = 42;
	gq.wait_seconds = 25;
	ck_assert_int_eq(sbx_pb_request(r, &gq.base, NULL, &path, &body, &bl, NULL), SBX_OK);
	ck_assert_str_eq(path, "/v1/sandboxes/sb1/processes/42?waitSeconds=25");
	free(path);
	ck_assert_int_eq(sbx_pb_ext_route("WriteFileAt", &r, NULL), SBX_OK);
	Sbxd__Ext__V1__WriteFileAtRequest wq = SBXD__EXT__V1__WRITE_FILE_AT_REQUEST__INIT;
	wq.sandbox_id = (char *)"sb1";
	wq.path = (char *)"/t/a b";
	wq._offset_case = SBXD__EXT__V1__WRITE_FILE_AT_REQUEST___OFFSET_OFFSET;
	wq.offset = 0;
	wq.content.data = (uint8_t *)"x";
	wq.content.len = 1;
	ck_assert_int_eq(sbx_pb_raw_path(r, &wq.base, "content", &path, NULL), SBX_OK);
	ck_assert_str_eq(path, "/v1/sandboxes/sb1:writeFileAt?path=%2Ft%2Fa%20b&offset=0");
	free(path);
	/* bytes have no query form */
	ck_assert_int_eq(sbx_pb_raw_path(r, &wq.base, NULL, &path, NULL), SBX_E_INTERNAL);
}
END_TEST

/* An answer is read as a proto3 client reads it: unknown fields and enum
 * names of a newer service skipped, a wrong type caught. */
START_TEST(pb_answers)
{
	ProtobufCMessage *m = NULL;
	sbx_error e;
	const char *t = "{\"stdout\":\"aGk=\",\"exitCode\":2,\"future\":{\"a\":[1,{\"b\":null}]},"
	                "\"stdoutBytesProduced\":\"2\"}";
	ck_assert_int_eq(sbx_pb_answer(&coreweave__sandbox__v1__exec_response__descriptor, t, strlen(t), &m, &e), SBX_OK);
	sbx_exec_result *x = NULL;
	ck_assert_int_eq(sbx_exec_result_from_pb(m, &x, &e), SBX_OK);
	ck_assert_str_eq(x->out, "hi");
	ck_assert_int_eq(x->exit_code, 2);
	ck_assert_int_eq(x->out_total, 2);
	sbx_exec_result_free(x);
	wire_message_free(m);
	t = "{\"exitCode\":\"two\"}";
	ck_assert_int_eq(sbx_pb_answer(&coreweave__sandbox__v1__exec_response__descriptor, t, strlen(t), &m, &e),
	                 SBX_E_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.message, "exitCode"));
	t = "{\"stdout\":\"not base64!\"}";
	ck_assert_int_eq(sbx_pb_answer(&coreweave__sandbox__v1__exec_response__descriptor, t, strlen(t), &m, &e),
	                 SBX_E_PROTOCOL);
	/* an empty body is the empty message */
	ck_assert_int_eq(sbx_pb_answer(&coreweave__sandbox__v1__write_file_response__descriptor, "", 0, &m, &e), SBX_OK);
	wire_message_free(m);
	/* discovery names: unknown ones ignored */
	const char *names[] = {"processes", "wait", "forget", "teleport", "files"};
	ck_assert_uint_eq(sbx_features_from_names(names, 5),
	                  SBX_FEAT_PROCESSES | SBX_FEAT_WAIT | SBX_FEAT_FORGET | SBX_FEAT_FILES);
}
END_TEST

START_TEST(url_building)
{
	char *p = sbx_path_sandbox(url_table[_i].id, url_table[_i].suffix);
	ck_assert_str_eq(p, url_table[_i].path);
	free(p);
}
END_TEST

START_TEST(query_escaping)
{
	sbx_buf b;
	sbx_buf_init(&b, 0);
	ck_assert_int_eq(sbx_buf_append_escaped(&b, "/tmp/a b&c=d+e%f~g_h.i-j"), 0);
	ck_assert_str_eq(b.data, "%2Ftmp%2Fa%20b%26c%3Dd%2Be%25f~g_h.i-j");
	sbx_buf_free(&b);
	sbx_buf_init(&b, 4);
	ck_assert_int_eq(sbx_buf_append(&b, "abcd", 4), 0);
	ck_assert_int_eq(sbx_buf_append(&b, "e", 1), -1);
	ck_assert_int_eq(b.overflow, 1);
	ck_assert_str_eq(b.data, "abcd");
	sbx_buf_free(&b);
}
END_TEST

static const struct {
	const char *text;
	const char *plain;
	size_t len;
	sbx_result r;
} b64_table[] = {
	{"", "", 0, SBX_OK},
	{"aGk=", "hi", 2, SBX_OK},
	{"aGk", "hi", 2, SBX_OK},
	{"aGVsbG8K", "hello\n", 6, SBX_OK},
	{"YQ==", "a", 1, SBX_OK},
	{"YQ", "a", 1, SBX_OK},
	{"YWI=", "ab", 2, SBX_OK},
	{"-_8=", "\xfb\xff", 2, SBX_OK},
	{"+/8=", "\xfb\xff", 2, SBX_OK},
	{"aGVs\nbG8K", "hello\n", 6, SBX_OK},
	{"AA==", "\0", 1, SBX_OK},
	{"a", NULL, 0, SBX_E_PROTOCOL},
	{"aGk=x", NULL, 0, SBX_E_PROTOCOL},
	{"a*b=", NULL, 0, SBX_E_PROTOCOL},
	{"Y===", NULL, 0, SBX_E_PROTOCOL},
};

START_TEST(base64_decode)
{
	void *d = NULL;
	size_t n = 99;
	const char *t = b64_table[_i].text;
	ck_assert_int_eq(sbx_base64_decode(t, strlen(t), &d, &n), b64_table[_i].r);
	if (b64_table[_i].r == SBX_OK) {
		ck_assert_uint_eq(n, b64_table[_i].len);
		ck_assert_int_eq(memcmp(d, b64_table[_i].plain, n), 0);
		/* and back, with padding */
		char *e = sbx_base64_encode(d, n, NULL);
		void *d2 = NULL;
		size_t n2 = 0;
		ck_assert_int_eq(sbx_base64_decode(e, strlen(e), &d2, &n2), SBX_OK);
		ck_assert_uint_eq(n2, n);
		ck_assert_int_eq(strlen(e) % 4, 0);
		free(e);
		free(d2);
		free(d);
	} else {
		ck_assert_ptr_null(d);
	}
}
END_TEST

START_TEST(base64_encode)
{
	size_t n;
	char *e = sbx_base64_encode("hi", 2, &n);
	ck_assert_str_eq(e, "aGk=");
	ck_assert_uint_eq(n, 4);
	free(e);
	e = sbx_base64_encode("", 0, &n);
	ck_assert_str_eq(e, "");
	free(e);
	e = sbx_base64_encode("\xfb\xff", 2, NULL);
	ck_assert_str_eq(e, "+/8=");
	free(e);
}
END_TEST

static const struct {
	const char *in;
	long long ns;
} time_table[] = {
	{"1970-01-01T00:00:00Z", 0},
	{"1970-01-01T00:00:01.5Z", 1500000000LL},
	{"2026-11-26T05:39:50.123Z", 1795671590123000000LL},
	{"2026-11-26T06:39:50.123+01:00", 1795671590123000000LL},
	{"2026-11-26T05:39:50.1234567891Z", 1795671590123456789LL},
	{"2000-02-29T00:00:00Z", 951782400000000000LL},
	{"", 0},
	{"yesterday", 0},
	{"2026-13-01T00:00:00Z", 0},
	{"2026-11-26T05:39:50", 0},
	{"2026-11-26T05:39:50.Z", 0},
};

START_TEST(times)
{
	ck_assert(sbx_parse_time(time_table[_i].in) == time_table[_i].ns);
}
END_TEST

/* ------------------------------------------------------------ config */

static void clear_env(void)
{
	unsetenv("CWSANDBOX_BASE_URL");
	unsetenv("CWSANDBOX_API_KEY");
	unsetenv("WANDB_API_KEY");
	unsetenv("WANDB_ENTITY_NAME");
	unsetenv("SBX_TOKEN_FILE");
	unsetenv("SBX_CA_FILE");
	unsetenv("XDG_RUNTIME_DIR");
}

START_TEST(config_defaults)
{
	clear_env();
	sbx_config *c = sbx_config_new();
	ck_assert_str_eq(sbx_config_url(c), "unix:/run/sbxd/sbxd.sock");
	ck_assert_str_eq(c->unix_path, "/run/sbxd/sbxd.sock");
	ck_assert_str_eq(c->base, "http://localhost");
	ck_assert_ptr_null(c->auth_header);
	ck_assert_int_eq(c->connect_ms, 2000);
	ck_assert_int_eq(c->total_ms, 10000);
	ck_assert_int_eq(c->max_attempts, 3);
	sbx_config_free(c);
	setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
	c = sbx_config_new();
	ck_assert_str_eq(sbx_config_url(c), "unix:/run/user/7/sbxd/sbxd.sock");
	sbx_config_free(c);
	setenv("CWSANDBOX_BASE_URL", "https://api.example.com/", 1);
	c = sbx_config_new();
	ck_assert_str_eq(c->base, "https://api.example.com");
	ck_assert_ptr_null(c->unix_path);
	/* a setter beats the environment */
	ck_assert_int_eq(sbx_config_set_url(c, "unix:///tmp/x.sock", NULL), SBX_OK);
	ck_assert_str_eq(c->unix_path, "/tmp/x.sock");
	sbx_config_set_timeouts(c, 5, 0);
	ck_assert_int_eq(c->connect_ms, 5);
	ck_assert_int_eq(c->total_ms, 10000);
	sbx_config_set_retries(c, 0);
	ck_assert_int_eq(c->max_attempts, 3);
	sbx_config_set_retries(c, 1);
	ck_assert_int_eq(c->max_attempts, 1);
	sbx_config_free(c);
	sbx_config_free(NULL);
	clear_env();
}
END_TEST

START_TEST(config_bad_env_url)
{
	clear_env();
	setenv("CWSANDBOX_BASE_URL", "ftp://x", 1);
	sbx_config *c = sbx_config_new();
	ck_assert_ptr_nonnull(c);
	sbx_client *cl = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_client_new(c, &cl, &e), SBX_E_INVALID);
	ck_assert_ptr_nonnull(strstr(e.message, "CWSANDBOX_BASE_URL"));
	/* fixing it with the setter makes the config usable */
	ck_assert_int_eq(sbx_config_set_url(c, "http://127.0.0.1:1", NULL), SBX_OK);
	ck_assert_int_eq(sbx_client_new(c, &cl, &e), SBX_OK);
	sbx_client_free(cl);
	sbx_config_free(c);
	clear_env();
}
END_TEST

static const struct {
	const char *url;
	sbx_result r;
} url_cfg_table[] = {
	{"http://h", SBX_OK}, {"https://h:8443", SBX_OK}, {"unix:/a/b.sock", SBX_OK}, {"unix:///a", SBX_OK},
	{"", SBX_E_INVALID}, {"h:80", SBX_E_INVALID}, {"unix:rel.sock", SBX_E_INVALID}, {"http://", SBX_E_INVALID},
	{"http://u:p@h", SBX_E_INVALID}, {"http://h/x y", SBX_E_INVALID}, {"http://h?q", SBX_E_INVALID},
	{"ftp://h", SBX_E_INVALID},
};

START_TEST(config_urls)
{
	sbx_config *c = sbx_config_new();
	sbx_error e;
	ck_assert_int_eq(sbx_config_set_url(c, url_cfg_table[_i].url, &e), url_cfg_table[_i].r);
	sbx_config_free(c);
}
END_TEST

START_TEST(config_tokens)
{
	clear_env();
	setenv("WANDB_API_KEY", "wk", 1);
	setenv("WANDB_ENTITY_NAME", "ent", 1);
	sbx_config *c = sbx_config_new();
	ck_assert_str_eq(c->auth_header, "x-wandb-api-key: wk");
	ck_assert_str_eq(c->entity_header, "x-entity-id: ent");
	sbx_config_free(c);
	/* CWSANDBOX_API_KEY wins over the W&B key */
	setenv("CWSANDBOX_API_KEY", "ck", 1);
	c = sbx_config_new();
	ck_assert_str_eq(c->auth_header, "Authorization: Bearer ck");
	ck_assert_ptr_null(c->entity_header);
	/* an explicit token wins over both */
	ck_assert_int_eq(sbx_config_set_token(c, "mine", NULL), SBX_OK);
	ck_assert_str_eq(c->auth_header, "Authorization: Bearer mine");
	sbx_error e;
	ck_assert_int_eq(sbx_config_set_token(c, "bad\r\nX-Evil: 1", &e), SBX_E_INVALID);
	ck_assert_ptr_null(strstr(e.message, "Evil"));
	ck_assert_str_eq(c->auth_header, "Authorization: Bearer mine");
	/* a token file: first line, blanks trimmed */
	char path[] = "/tmp/sbxtok.XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "  filetok \nsecond\n", 18), 18);
	close(fd);
	ck_assert_int_eq(sbx_config_set_token_file(c, path, NULL), SBX_OK);
	ck_assert_str_eq(c->auth_header, "Authorization: Bearer filetok");
	sbx_config_free(c);
	/* SBX_TOKEN_FILE when no key is in the environment */
	clear_env();
	setenv("SBX_TOKEN_FILE", path, 1);
	c = sbx_config_new();
	ck_assert_str_eq(c->auth_header, "Authorization: Bearer filetok");
	ck_assert_int_eq(sbx_config_set_token_file(c, "/nonexistent/tok", &e), SBX_E_NOT_FOUND);
	ck_assert_int_eq(sbx_config_set_ca_file(c, "/etc/ssl/certs/ca-certificates.crt", NULL), SBX_OK);
	ck_assert_str_eq(c->ca_file, "/etc/ssl/certs/ca-certificates.crt");
	sbx_config_free(c);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, "\n", 1), 1);
	close(fd);
	c = sbx_config_new();
	ck_assert_int_eq(sbx_config_set_token_file(c, path, &e), SBX_E_INVALID);
	sbx_config_free(c);
	unlink(path);
	clear_env();
}
END_TEST

START_TEST(client_args)
{
	sbx_config *cfg = sbx_config_new();
	sbx_config_set_url(cfg, "unix:/nonexistent/s.sock", NULL);
	sbx_client *c = NULL;
	ck_assert_int_eq(sbx_client_new(cfg, &c, NULL), SBX_OK);
	sbx_config_free(cfg);   /* the client keeps its own copy */
	sbx_error e;
	sbx_sandbox *s = NULL;
	ck_assert_int_eq(sbx_sandbox_get(c, "", 0, &s, &e), SBX_E_INVALID);
	char longid[200];
	memset(longid, 'a', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	ck_assert_int_eq(sbx_sandbox_get(c, longid, 0, &s, &e), SBX_E_INVALID);
	void *d;
	size_t n;
	ck_assert_int_eq(sbx_file_read(c, "x", "relative", 0, 0, &d, &n, NULL, &e), SBX_E_INVALID);
	ck_assert_int_eq(sbx_sandbox_create(c, NULL, &s, &e), SBX_E_INVALID);
	ck_assert_str_eq(sbx_version(), "0.1.0");
	sbx_client_free(c);
	sbx_client_free(NULL);
	sbx_async_free(NULL);
}
END_TEST

#define TABLE(t) (int)(sizeof t / sizeof *t)

/* Where StreamExec is dialled: derived from the service URL unless set. */
START_TEST(grpc_targets)
{
	static const struct {
		const char *url, *grpc, *want;
	} t[] = {
		{"unix:/run/sbxd/sbxd.sock", NULL, "unix:/run/sbxd/sbxd.sock.grpc"},
		{"unix:///tmp/x.sock", NULL, "unix:/tmp/x.sock.grpc"},
		{"http://127.0.0.1:8080", NULL, "127.0.0.1:8080"},
		{"https://api.example.com/", NULL, "api.example.com:443"},
		{"http://h", NULL, "h:80"},
		{"unix:/a.sock", "http://127.0.0.1:9", "127.0.0.1:9"},
		{"unix:/a.sock", "unix:/b.sock", "unix:/b.sock"},
		{"unix:/a.sock", "none", NULL},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		sbx_config *cfg = sbx_config_new();
		ck_assert_int_eq(sbx_config_set_url(cfg, t[i].url, NULL), SBX_OK);
		if (t[i].grpc)
			ck_assert_int_eq(sbx_config_set_grpc_url(cfg, t[i].grpc, NULL), SBX_OK);
		char buf[256];
		const char *got = sbx_grpc_target(cfg, buf, sizeof buf);
		if (t[i].want)
			ck_assert_str_eq(got ? got : "(null)", t[i].want);
		else
			ck_assert_ptr_null(got);
		sbx_config_free(cfg);
	}
	sbx_config *cfg = sbx_config_new();
	ck_assert_int_eq(sbx_config_set_grpc_url(cfg, "ftp://x", NULL), SBX_E_INVALID);
	ck_assert_int_eq(sbx_config_set_grpc_url(cfg, "http://u@h", NULL), SBX_E_INVALID);
	sbx_config_free(cfg);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("client-units");
	TCase *t = tcase_create("errors");
	tcase_add_loop_test(t, grpc_codes, 0, TABLE(grpc_table));
	tcase_add_test(t, grpc_targets);
	tcase_add_loop_test(t, http_statuses, 0, TABLE(http_table));
	tcase_add_loop_test(t, curl_codes, 0, TABLE(curl_table));
	tcase_add_loop_test(t, status_bodies, 0, TABLE(status_table));
	tcase_add_test(t, status_bad_request);
	tcase_add_loop_test(t, errno_mapping, 0, TABLE(errno_table));
	tcase_add_loop_test(t, errno_reasons, 0, TABLE(reason_table));
	tcase_add_loop_test(t, dirent_link_target, 0, TABLE(link_table));
	tcase_add_test(t, status_edge_cases);
	tcase_add_loop_test(t, durations, 0, TABLE(dur_table));
	suite_add_tcase(s, t);
	t = tcase_create("json");
	tcase_add_test(t, sandbox_full);
	tcase_add_test(t, sandbox_minimal);
	tcase_add_loop_test(t, state_words, 0, TABLE(state_table));
	tcase_add_test(t, process_mapping);
	tcase_add_test(t, json_caps);
	suite_add_tcase(s, t);
	t = tcase_create("parsers");
	tcase_add_test(t, spec_builders_to_json);
	tcase_add_loop_test(t, spec_option_table, 0, TABLE(option_table));
	tcase_add_test(t, exec_request_id);
	tcase_add_loop_test(t, spec_parse_table, 0, TABLE(spec_table));
	tcase_add_test(t, text_caps);
	tcase_add_loop_test(t, exec_parse_table, 0, TABLE(exec_table));
	tcase_add_test(t, exec_builders);
	tcase_add_loop_test(t, argv_quoting, 0, TABLE(quote_table));
	suite_add_tcase(s, t);
	t = tcase_create("misc");
	tcase_add_test(t, pb_requests);
	tcase_add_test(t, pb_answers);
	tcase_add_loop_test(t, url_building, 0, TABLE(url_table));
	tcase_add_test(t, query_escaping);
	tcase_add_loop_test(t, base64_decode, 0, TABLE(b64_table));
	tcase_add_test(t, base64_encode);
	tcase_add_loop_test(t, times, 0, TABLE(time_table));
	suite_add_tcase(s, t);
	t = tcase_create("config");
	tcase_add_test(t, config_defaults);
	tcase_add_test(t, config_bad_env_url);
	tcase_add_loop_test(t, config_urls, 0, TABLE(url_cfg_table));
	tcase_add_test(t, config_tokens);
	tcase_add_test(t, client_args);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
