/*
 * Check units for wire/ (meson test wire-units): round trips over every
 * message type of the schema, the canonical output form field by field,
 * the strict input rules (the cases of tests/conformance/selftest.py and
 * more), caps, the well-known types, the route table and its helpers.
 * Tables drive the many small cases.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"
#include "fill.h"
#include "json.h"
#include "routes.h"
#include "sandbox.pb-c.h"
#include "status.pb-c.h"
#include "any.pb-c.h"
#include "error_details.pb-c.h"
#include "extension.pb-c.h"
#include "descriptor.pb-c.h"

#define SBX(x) &coreweave__sandbox__v1__##x##__descriptor
#define EXT(x) &sbxd__ext__v1__##x##__descriptor

static char *enc(const ProtobufCMessage *m)
{
	char *out = NULL;
	size_t len = 0;
	wire_err e;
	int rc = wire_json_encode(m, NULL, &out, &len, &e);
	ck_assert_msg(rc == 0, "encode %s: %d %s (%s)", m->descriptor->name, rc, e.msg, e.field);
	ck_assert_uint_eq(strlen(out), len);
	return out;
}

static ProtobufCMessage *dec(const ProtobufCMessageDescriptor *d, const char *json)
{
	ProtobufCMessage *m = NULL;
	wire_err e;
	int rc = wire_json_decode(d, json, strlen(json), NULL, &m, &e);
	ck_assert_msg(rc == 0, "decode %s %s: %d %s (field %s)", d->name, json, rc, e.msg, e.field);
	return m;
}

/* ---------------------------------------------------------- round trips */

/* Every type: populated message -> JSON -> message is the same message,
 * and that JSON decoded and encoded again gives the same bytes. Seeds pick
 * different oneof members and value edges. */
START_TEST(roundtrip_every_type)
{
	size_t n;
	const ProtobufCMessageDescriptor *const *t = wire_types(&n);
	ck_assert_uint_ge(n, 64 + 4);
	for (size_t i = 0; i < n; i++) {
		for (unsigned seed = 0; seed < 6; seed++) {
			ProtobufCMessage *a = fill_new(t[i], seed, 3);
			char *j1 = enc(a);
			ProtobufCMessage *b = dec(t[i], j1);
			ck_assert_msg(fill_same(a, b), "%s seed %u: decode(encode(m)) != m: %s", t[i]->name, seed, j1);
			char *j2 = enc(b);
			ck_assert_msg(strcmp(j1, j2) == 0, "%s: not stable:\n%s\n%s", t[i]->name, j1, j2);
			free(j1);
			free(j2);
			wire_message_free(a);
			wire_message_free(b);
		}
		/* the empty message is "{}" (zero values omitted) */
		ProtobufCMessage *z = malloc(t[i]->sizeof_message);
		t[i]->message_init(z);
		char *j = enc(z);
		if (strcmp(t[i]->name, "google.protobuf.Timestamp") == 0)
			ck_assert_str_eq(j, "\"1970-01-01T00:00:00Z\"");
		else if (strcmp(t[i]->name, "google.protobuf.Duration") == 0)
			ck_assert_str_eq(j, "\"0s\"");
		else
			ck_assert_msg(strcmp(j, "{}") == 0, "%s empty: %s", t[i]->name, j);
		free(j);
		wire_message_free(z);
	}
}
END_TEST

/* Every message of sandbox.proto is in the registry (64 of the reference,
 * and no stray type), and finding by name works. */
START_TEST(registry)
{
	size_t n, ours = 0;
	const ProtobufCMessageDescriptor *const *t = wire_types(&n);
	for (size_t i = 0; i < n; i++) {
		const char *nm = t[i]->name;
		if (strncmp(nm, "coreweave.sandbox.v1.", 21) == 0 && !strchr(nm + 21, '.'))
			ours++; /* top-level: the nested ones are map entries */
		ck_assert_ptr_eq(wire_type_find(nm), t[i]);
	}
	ck_assert_uint_eq(ours, 64);
	ck_assert_ptr_nonnull(wire_type_find("coreweave.sandbox.v1.LogEntry"));
	ck_assert_ptr_nonnull(wire_type_find("google.rpc.BadRequest.FieldViolation"));
	ck_assert_ptr_null(wire_type_find("coreweave.sandbox.v1.Nope"));
	ck_assert_ptr_eq(wire_any_type("type.googleapis.com/google.rpc.RetryInfo"), &google__rpc__retry_info__descriptor);
	ck_assert_ptr_null(wire_any_type("type.googleapis.com/coreweave.sandbox.v1.Sandbox"));
	ck_assert_ptr_null(wire_any_type("google.rpc.ErrorInfo"));
}
END_TEST

/* ----------------------------------------------- canonical in -> same out */

static const struct canon {
	const ProtobufCMessageDescriptor *d;
	const char *json;
} canon[] = {
	{SBX(sandbox), "{\"sandboxId\":\"sbx-1\",\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"python:3.11\","
	               "\"command\":\"/bin/sh\",\"args\":[\"-c\",\"echo hi\"]}],\"primaryContainer\":\"main\","
	               "\"tags\":[\"team-a\"]},\"status\":{\"state\":\"STATE_RUNNING\","
	               "\"createTime\":\"2026-05-01T12:00:00.123Z\",\"startTime\":\"2026-05-01T12:00:00.123Z\"}}"},
	{SBX(sandbox), "{\"status\":{\"state\":\"STATE_COMPLETED\",\"endTime\":\"2026-05-01T12:00:01Z\",\"exitCode\":0}}"},
	{SBX(sandbox), "{\"spec\":{\"maxLifetimeSeconds\":600,\"network\":{\"egress\":[{\"dnsName\":\"pypi.org\","
	               "\"ports\":[{\"protocol\":\"TCP\",\"port\":443}]}],\"denyIngress\":false},"
	               "\"annotations\":{\"sbxd.pids\":\"64\",\"z\":\"\"}},\"sourceTemplateRevision\":\"9007199254740993\"}"},
	{SBX(exec_response), "{\"stdout\":\"aGkK\",\"exitCode\":2,\"stdoutBytesProduced\":\"3\"}"},
	{SBX(list_sandboxes_response), "{\"sandboxes\":[{},{\"sandboxId\":\"b\"}],\"nextPageToken\":\"x\"}"},
	{SBX(gpu), "{\"count\":\"-9223372036854775808\",\"memoryGb\":\"0\"}"},
	{SBX(security_context), "{\"runAsUser\":4294967295,\"privileged\":false,\"capabilitiesAdd\":[\"NET_RAW\"]}"},
	{SBX(stream_logs_request), "{\"sinceTime\":\"0001-01-01T00:00:00.000000001Z\",\"resumeLogOffset\":\"18446744073709551615\"}"},
	{SBX(log_entry), "{\"data\":\"AP8=\",\"timestamp\":\"9999-12-31T23:59:59.999999Z\"}"},
	{&google__rpc__status__descriptor,
	 "{\"code\":5,\"message\":\"sandbox sbx-9 not found\",\"details\":[{\"@type\":"
	 "\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"CWSANDBOX_SANDBOX_NOT_FOUND\","
	 "\"domain\":\"cwsandbox.com\",\"metadata\":{\"sandboxId\":\"sbx-9\"}},{\"@type\":"
	 "\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"1.500s\"},{\"@type\":"
	 "\"type.googleapis.com/google.rpc.BadRequest\",\"fieldViolations\":[{\"field\":\"spec.x\","
	 "\"description\":\"unknown\"}]}]}"},
	{&google__rpc__retry_info__descriptor, "{\"retryDelay\":\"-0.000000001s\"}"},
	{SBX(exec_stream_request), "{\"close\":{}}"},
	{SBX(write_file_request), "{\"sandboxId\":\"s\",\"path\":\"/a \\\"b\\\"\\n\\u0001\",\"content\":\"/+8=\"}"},
};

START_TEST(canonical_stable)
{
	const struct canon *c = &canon[_i];
	ProtobufCMessage *m = dec(c->d, c->json);
	char *out = enc(m);
	ck_assert_str_eq(out, c->json);
	free(out);
	wire_message_free(m);
}
END_TEST

/* ---------------------------------------------- accepted, then canonical */

static const struct lenient {
	const ProtobufCMessageDescriptor *d;
	const char *in, *out;
} lenient[] = {
	/* an int64 sent as a number is read; it is written as a string */
	{SBX(exec_response), "{\"stdoutBytesProduced\": 3}", "{\"stdoutBytesProduced\":\"3\"}"},
	/* int32 as a string, an integral float */
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":\"600\"}", "{\"maxLifetimeSeconds\":600}"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":6e2}", "{\"maxLifetimeSeconds\":600}"},
	/* proto names as well as JSON names */
	{SBX(sandbox_spec), "{\"max_lifetime_seconds\":1,\"primary_container\":\"m\"}",
	 "{\"primaryContainer\":\"m\",\"maxLifetimeSeconds\":1}"},
	/* enums by number */
	{SBX(sandbox_status), "{\"state\":2}", "{\"state\":\"STATE_RUNNING\"}"},
	/* zero values given are not written back; null is unset */
	{SBX(sandbox_status), "{\"stateReason\":\"\",\"state\":\"STATE_UNSPECIFIED\",\"endTime\":null,\"services\":[]}", "{}"},
	/* the order of keys is the field numbers' */
	{SBX(container), "{\"workingDir\":\"/w\",\"name\":\"n\"}", "{\"name\":\"n\",\"workingDir\":\"/w\"}"},
	/* URL-safe and unpadded base64 */
	{SBX(read_file_response), "{\"content\":\"_-8\"}", "{\"content\":\"/+8=\"}"},
	/* a time with an offset is read in UTC; fractions written 0/3/6/9 */
	{SBX(sandbox_status), "{\"createTime\":\"2026-05-01T14:00:00.5+02:00\"}",
	 "{\"createTime\":\"2026-05-01T12:00:00.500Z\"}"},
	{SBX(sandbox_status), "{\"createTime\":\"2024-02-29T23:59:59.1234Z\"}",
	 "{\"createTime\":\"2024-02-29T23:59:59.123400Z\"}"},
	{&google__rpc__retry_info__descriptor, "{\"retryDelay\":\"2.0s\"}", "{\"retryDelay\":\"2s\"}"},
	/* UTF-8 passes through; escapes decode */
	{SBX(container), "{\"name\":\"\\u00e9\\ud834\\udd1e\"}", "{\"name\":\"\xc3\xa9\xf0\x9d\x84\x9e\"}"},
	/* whitespace around the value */
	{SBX(container), " \n{ \"name\" : \"n\" }\r\n\t", "{\"name\":\"n\"}"},
};

START_TEST(lenient_input)
{
	const struct lenient *c = &lenient[_i];
	ProtobufCMessage *m = dec(c->d, c->in);
	char *out = enc(m);
	ck_assert_str_eq(out, c->out);
	free(out);
	wire_message_free(m);
}
END_TEST

/* ------------------------------------------------------- strict refusals */

static const struct bad {
	const ProtobufCMessageDescriptor *d;
	const char *json;
	int rc;
	const char *field;  /* the JSON path err names */
	const char *msg;    /* part of the message */
} bad[] = {
	{SBX(sandbox), "{\"spec\":{\"containers\":[{\"name\":\"main\",\"bogus\":1}]}}", -EINVAL,
	 "spec.containers[0].bogus", "no field named \"bogus\""},
	{SBX(sandbox), "{\"spec\":{\"name\":\"box\"}}", -EINVAL, "spec.name", "SandboxSpec"},
	{SBX(sandbox), "{\"bogusField\":true}", -EINVAL, "bogusField", "no field"},
	{SBX(sandbox_status), "{\"endTime\":\"\"}", -EINVAL, "endTime", "RFC 3339"},
	{SBX(sandbox_status), "{\"state\":\"STATE_RUNNNING\"}", -EINVAL, "state", "not a value of"},
	{SBX(sandbox_status), "{\"state\":99}", -EINVAL, "state", "not a value of"},
	{SBX(sandbox_status), "{\"state\":true}", -EINVAL, "state", "got a boolean"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":2147483648}", -EINVAL, "maxLifetimeSeconds", "out of range"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":1.5}", -EINVAL, "maxLifetimeSeconds", "not an integer"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":\"1.0\"}", -EINVAL, "maxLifetimeSeconds", "not an integer"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":\" 1\"}", -EINVAL, "maxLifetimeSeconds", "not an integer"},
	{SBX(sandbox_spec), "{\"tags\":\"a,b\"}", -EINVAL, "tags", "want an array"},
	{SBX(sandbox_spec), "{\"tags\":[\"a\",null]}", -EINVAL, "tags[1]", "null"},
	{SBX(sandbox_spec), "{\"tags\":[\"a\",3]}", -EINVAL, "tags[1]", "want a string"},
	{SBX(sandbox_spec), "{\"annotations\":[\"a\"]}", -EINVAL, "annotations", "want an object"},
	{SBX(sandbox_spec), "{\"annotations\":{\"a\":1}}", -EINVAL, "annotations.a", "want a string"},
	{SBX(sandbox_spec), "{\"annotations\":{\"a\":\"1\",\"a\":\"2\"}}", -EINVAL, "annotations", "twice"},
	{SBX(sandbox_spec), "{\"tags\":[],\"tags\":[]}", -EINVAL, "tags", "twice"},
	{SBX(sandbox_spec), "{\"primaryContainer\":\"a\",\"primary_container\":\"b\"}", -EINVAL, "primary_container", "twice"},
	{SBX(sandbox_spec), "{\"network\":[]}", -EINVAL, "network", "want an object"},
	{SBX(exec_response), "{\"stdoutBytesProduced\":9007199254740993}", -EINVAL, "stdoutBytesProduced", "string"},
	{SBX(exec_response), "{\"stdoutBytesProduced\":\"9223372036854775808\"}", -EINVAL, "stdoutBytesProduced", "out of range"},
	{SBX(stream_logs_request), "{\"resumeLogOffset\":\"-1\"}", -EINVAL, "resumeLogOffset", "out of range"},
	{SBX(stream_logs_request), "{\"resumeLogOffset\":\"18446744073709551616\"}", -EINVAL, "resumeLogOffset", "out of range"},
	{SBX(security_context), "{\"runAsUser\":-1}", -EINVAL, "runAsUser", "out of range"},
	{SBX(exec_response), "{\"stdout\":\"a\"}", -EINVAL, "stdout", "base64"},
	{SBX(exec_response), "{\"stdout\":\"a===\"}", -EINVAL, "stdout", "base64"},
	{SBX(exec_response), "{\"stdout\":\"a b=\"}", -EINVAL, "stdout", "base64"},
	{SBX(exec_response), "{\"stdoutTruncated\":\"true\"}", -EINVAL, "stdoutTruncated", "true or false"},
	{SBX(egress_rule), "{\"dnsName\":\"a\",\"any\":true}", -EINVAL, "any", "oneof already set by dnsName"},
	{SBX(sandbox_status), "{\"createTime\":\"2026-02-30T00:00:00Z\"}", -EINVAL, "createTime", "RFC 3339"},
	{SBX(sandbox_status), "{\"createTime\":\"2026-05-01T12:00:00\"}", -EINVAL, "createTime", "RFC 3339"},
	{SBX(sandbox_status), "{\"createTime\":\"2026-05-01T12:00:00.1234567891Z\"}", -EINVAL, "createTime", "RFC 3339"},
	{SBX(sandbox_status), "{\"createTime\":\"0000-12-31T23:59:59Z\"}", -EINVAL, "createTime", "RFC 3339"},
	{SBX(sandbox_status), "{\"createTime\":1}", -EINVAL, "createTime", "got a number"},
	{&google__rpc__retry_info__descriptor, "{\"retryDelay\":\"1.5\"}", -EINVAL, "retryDelay", "duration"},
	{&google__rpc__retry_info__descriptor, "{\"retryDelay\":\"315576000001s\"}", -EINVAL, "retryDelay", "duration"},
	{&google__rpc__status__descriptor, "{\"details\":[{\"reason\":\"x\"}]}", -EINVAL, "details[0]", "@type"},
	{&google__rpc__status__descriptor, "{\"details\":[{\"@type\":\"type.googleapis.com/x.Y\"}]}", -EINVAL,
	 "details[0]", "does not know"},
	{&google__rpc__status__descriptor,
	 "{\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"bogus\":1}]}", -EINVAL,
	 "details[0].bogus", "no field"},
	{SBX(container), "[]", -EINVAL, "", "want an object"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":01}", -EINVAL, "", "malformed number"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":1.}", -EINVAL, "", "malformed number"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":-.5}", -EINVAL, "", "malformed number"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":1e}", -EINVAL, "", "malformed number"},
	{SBX(sandbox_spec), "{\"maxLifetimeSeconds\":+1}", -EINVAL, "", "not valid JSON"},
	{SBX(sandbox_spec), "{\"tags\":[\"0\", -0]}", -EINVAL, "tags[1]", "want a string"},
	/* quoted outside text is clipped on a UTF-8 boundary */
	{SBX(container), "{\"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
	 "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
	 "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\":1}", -EINVAL,
	 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "...\" in"},
	{SBX(container), "{\"name\":\"a\"} x", -EINVAL, "", "not valid JSON"},
	{SBX(container), "{\"name\":\"a\",}", -EINVAL, "", "not valid JSON"},
	{SBX(container), "", -EINVAL, "", "not valid JSON"},
	{SBX(container), "{\"name\":\"a\xff\"}", -EINVAL, "", "UTF-8"},
	{SBX(container), "{\"name\":\"\xed\xa0\x80\"}", -EINVAL, "", "UTF-8"},
	{SBX(container), "{\"name\":\"a\\u0000b\"}", -EINVAL, "", "NUL"},
	{SBX(container), "{\"name\":\"\\ud800\"}", -EINVAL, "", "not valid JSON"},
	{SBX(sandbox), "{\"spec\":{\"network\":{\"egress\":[{\"cidr\":{\"except\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}]}}}",
	 -E2BIG, "", "nested deeper than 32"},
};

START_TEST(strict_input)
{
	const struct bad *c = &bad[_i];
	ProtobufCMessage *m = (ProtobufCMessage *)1;
	wire_err e;
	int rc = wire_json_decode(c->d, c->json, strlen(c->json), NULL, &m, &e);
	ck_assert_msg(rc == c->rc, "%s: rc %d, want %d (%s)", c->json, rc, c->rc, e.msg);
	ck_assert_ptr_null(m);
	ck_assert_msg(strcmp(e.field, c->field) == 0, "%s: field \"%s\", want \"%s\" (%s)", c->json, e.field,
	              c->field, e.msg);
	ck_assert_msg(strstr(e.msg, c->msg), "%s: message \"%s\" lacks \"%s\"", c->json, e.msg, c->msg);
	/* what goes back to a client is valid UTF-8 */
	char *j = NULL;
	size_t jl;
	Coreweave__Sandbox__V1__Container box = COREWEAVE__SANDBOX__V1__CONTAINER__INIT;
	box.name = e.msg;
	box.image = e.field;
	ck_assert_int_eq(wire_json_encode(&box.base, NULL, &j, &jl, &e), 0);
	free(j);
}
END_TEST

/* A raw NUL inside the text (strlen would stop at it). */
START_TEST(raw_nul)
{
	static const char t[] = "{\"name\":\"a\0b\"}";
	ProtobufCMessage *m;
	wire_err e;
	ck_assert_int_eq(wire_json_decode(SBX(container), t, sizeof t - 1, NULL, &m, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.msg, "NUL"));
}
END_TEST

/* ------------------------------------------------------------------ caps */

START_TEST(caps)
{
	wire_caps c = wire_caps_default;
	wire_err e;
	ProtobufCMessage *m;
	c.max_items = 2;
	const char *three = "{\"tags\":[\"a\",\"b\",\"c\"]}";
	ck_assert_int_eq(wire_json_decode(SBX(sandbox_spec), three, strlen(three), &c, &m, &e), -E2BIG);
	ck_assert_str_eq(e.field, "tags[2]");
	const char *env3 = "{\"environmentVariables\":{\"A\":\"1\",\"B\":\"2\",\"C\":\"3\"}}";
	ck_assert_int_eq(wire_json_decode(SBX(container), env3, strlen(env3), &c, &m, &e), -E2BIG);
	ck_assert_str_eq(e.field, "environmentVariables.C");
	c = wire_caps_default;
	c.max_string = 3;
	const char *s4 = "{\"name\":\"abcd\"}";
	ck_assert_int_eq(wire_json_decode(SBX(container), s4, strlen(s4), &c, &m, &e), -E2BIG);
	ck_assert_str_eq(e.field, "name");
	c = wire_caps_default;
	c.max_bytes = 10;
	ck_assert_int_eq(wire_json_decode(SBX(container), s4, strlen(s4), &c, &m, &e), -E2BIG);
	c = wire_caps_default;
	c.max_depth = 2;
	const char *d3 = "{\"spec\":{\"network\":{}}}";
	ck_assert_int_eq(wire_json_decode(SBX(sandbox), d3, strlen(d3), &c, &m, &e), -E2BIG);
	/* the output cap */
	ProtobufCMessage *big = dec(SBX(container), "{\"name\":\"0123456789\"}");
	char *out = NULL;
	size_t len;
	c = wire_caps_default;
	c.max_bytes = 12;
	ck_assert_int_eq(wire_json_encode(big, &c, &out, &len, &e), -E2BIG);
	ck_assert_ptr_null(out);
	wire_message_free(big);
}
END_TEST

/* ------------------------------------------------------ output specifics */

START_TEST(presence)
{
	Coreweave__Sandbox__V1__SandboxStatus st = COREWEAVE__SANDBOX__V1__SANDBOX_STATUS__INIT;
	char *j = enc(&st.base);
	ck_assert_str_eq(j, "{}"); /* exitCode absent until observed */
	free(j);
	st._exit_code_case = COREWEAVE__SANDBOX__V1__SANDBOX_STATUS___EXIT_CODE_EXIT_CODE;
	st.exit_code = 0;
	st.state = COREWEAVE__SANDBOX__V1__STATE__STATE_COMPLETED;
	j = enc(&st.base);
	ck_assert_str_eq(j, "{\"state\":\"STATE_COMPLETED\",\"exitCode\":0}");
	free(j);
	/* ExecResponse.exit_code has no presence: 0 is not written */
	Coreweave__Sandbox__V1__ExecResponse er = COREWEAVE__SANDBOX__V1__EXEC_RESPONSE__INIT;
	j = enc(&er.base);
	ck_assert_str_eq(j, "{}");
	free(j);
	/* a set Timestamp at the epoch is written: a message is present when set */
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	st.end_time = &ts;
	st._exit_code_case = 0;
	st.state = 0;
	j = enc(&st.base);
	ck_assert_str_eq(j, "{\"endTime\":\"1970-01-01T00:00:00Z\"}");
	free(j);
}
END_TEST

START_TEST(encode_refuses)
{
	wire_err e;
	char *out;
	size_t len;
	Coreweave__Sandbox__V1__Container c = COREWEAVE__SANDBOX__V1__CONTAINER__INIT;
	char not_utf8[] = "a\xff";
	c.name = not_utf8;
	ck_assert_int_eq(wire_json_encode(&c.base, NULL, &out, &len, &e), -EINVAL);
	ck_assert_str_eq(e.field, "name");
	Coreweave__Sandbox__V1__SandboxStatus st = COREWEAVE__SANDBOX__V1__SANDBOX_STATUS__INIT;
	st.state = 42;
	ck_assert_int_eq(wire_json_encode(&st.base, NULL, &out, &len, &e), -EINVAL);
	ck_assert_str_eq(e.field, "state");
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = 253402300800LL;
	st.state = 0;
	st.create_time = &ts;
	ck_assert_int_eq(wire_json_encode(&st.base, NULL, &out, &len, &e), -EINVAL);
	ck_assert_str_eq(e.field, "createTime");
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Google__Protobuf__Any *anys[] = {&any};
	Google__Rpc__Status s = GOOGLE__RPC__STATUS__INIT;
	s.n_details = 1;
	s.details = anys;
	any.type_url = (char *)"type.googleapis.com/coreweave.sandbox.v1.Sandbox";
	ck_assert_int_eq(wire_json_encode(&s.base, NULL, &out, &len, &e), -EINVAL);
	ck_assert_str_eq(e.field, "details[0]");
}
END_TEST

/* --------------------------------------------------- routes and requests */

START_TEST(sdk_create_body)
{
	static const char body[] = "{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"python:3.11\","
	                           "\"command\":\"/bin/sh\",\"args\":[\"-c\",\"echo hi\"]}],"
	                           "\"primaryContainer\":\"main\",\"tags\":[\"team-a\"]}}";
	wire_var v[WIRE_MAX_VARS];
	size_t nv;
	const wire_route *r = wire_route_match("POST", "/v1/sandboxes", 13, v, &nv);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->rpc, "CreateSandbox");
	ck_assert_uint_eq(nv, 0);
	ProtobufCMessage *req = wire_route_new_request(r);
	wire_err e;
	ck_assert_int_eq(wire_route_body(r, req, body, sizeof body - 1, NULL, &e), 0);
	ck_assert_int_eq(wire_field_set_text(req, "requestId", "r1", 2, &e), 0);
	Coreweave__Sandbox__V1__CreateSandboxRequest *c = (void *)req;
	ck_assert_str_eq(c->request_id, "r1");
	ck_assert_ptr_nonnull(c->sandbox);
	ck_assert_ptr_nonnull(c->sandbox->spec);
	Coreweave__Sandbox__V1__SandboxSpec *sp = c->sandbox->spec;
	ck_assert_uint_eq(sp->n_containers, 1);
	ck_assert_str_eq(sp->containers[0]->name, "main");
	ck_assert_str_eq(sp->containers[0]->image, "python:3.11");
	ck_assert_str_eq(sp->containers[0]->command, "/bin/sh");
	ck_assert_uint_eq(sp->containers[0]->n_args, 2);
	ck_assert_str_eq(sp->containers[0]->args[1], "echo hi");
	ck_assert_str_eq(sp->primary_container, "main");
	ck_assert_uint_eq(sp->n_tags, 1);
	ck_assert_str_eq(sp->tags[0], "team-a");
	/* the body is the Sandbox: encoding it gives the body back */
	char *out = enc(&c->sandbox->base);
	ck_assert_str_eq(out, body);
	free(out);
	wire_message_free(req);
	/* one unknown field: refused, named relative to the body */
	static const char bad_body[] = "{\"spec\":{\"containers\":[{\"name\":\"main\",\"gpus\":1}]}}";
	req = wire_route_new_request(r);
	ck_assert_int_eq(wire_route_body(r, req, bad_body, sizeof bad_body - 1, NULL, &e), -EINVAL);
	ck_assert_str_eq(e.field, "spec.containers[0].gpus");
	wire_message_free(req);
}
END_TEST

static const struct rcase {
	const char *method, *path, *rpc, *var;
} rcases[] = {
	{"POST", "/v1/sandboxes/sbx-1:exec", "Exec", "sbx-1"},
	{"GET", "/v1/sandboxes/sbx-1", "GetSandbox", "sbx-1"},
	{"DELETE", "/v1/sandboxes/sbx-1", "DeleteSandbox", "sbx-1"},
	{"GET", "/v1/sandboxes", "ListSandboxes", NULL},
	{"POST", "/v1/sandboxes:purge", "PurgeSandboxes", NULL},
	{"GET", "/v1/sandboxes/a:readFile", "ReadFile", "a"},
	{"POST", "/v1/sandboxes/a:writeFile", "WriteFile", "a"},
	{"GET", "/v1/fileSystemSnapshots/fs-1", "GetFileSystemSnapshot", "fs-1"},
	{"GET", "/v1/sandboxes/sbx-1/processes", NULL, NULL},
	{"GET", "/v1/sandboxes/", NULL, NULL},
	{"PUT", "/v1/sandboxes", NULL, NULL},
	{"GET", "/v1/sandboxes/a:exec", NULL, NULL},
	{"POST", "/v1/sandboxes/a:bogus", NULL, NULL},
};

START_TEST(route_match)
{
	const struct rcase *c = &rcases[_i];
	wire_var v[WIRE_MAX_VARS];
	size_t nv = 9;
	const wire_route *r = wire_route_match(c->method, c->path, strlen(c->path), v, &nv);
	if (!c->rpc) {
		ck_assert_msg(r == NULL, "%s %s matched %s", c->method, c->path, r ? r->rpc : "");
		ck_assert_uint_eq(nv, 0);
		return;
	}
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->rpc, c->rpc);
	ck_assert_uint_eq(nv, c->var ? 1 : 0);
	if (c->var) {
		ck_assert_uint_eq(v[0].len, strlen(c->var));
		ck_assert_int_eq(memcmp(v[0].val, c->var, v[0].len), 0);
		ProtobufCMessage *req = wire_route_new_request(r);
		wire_err e;
		ck_assert_int_eq(wire_route_bind(r, req, v, nv, &e), 0);
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(req->descriptor, v[0].field);
		ck_assert_str_eq(*(char **)((char *)req + f->offset), c->var);
		wire_message_free(req);
	}
}
END_TEST

/* Each row's vars are its template's {variables}, in order, and each is
 * a string field of the request. */
START_TEST(route_vars)
{
	for (size_t i = 0; i < wire_n_routes; i++) {
		const wire_route *r = &wire_routes[i];
		size_t k = 0;
		for (const char *t = strchr(r->path, '{'); t; t = strchr(t + 1, '{'), k++) {
			ck_assert_uint_lt(k, WIRE_MAX_VARS);
			ck_assert_ptr_nonnull(r->vars[k]);
			size_t n = strlen(r->vars[k]);
			ck_assert_msg(strncmp(t + 1, r->vars[k], n) == 0 && t[1 + n] == '}', "%s: var %zu", r->rpc, k);
			const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(r->req, r->vars[k]);
			ck_assert_ptr_nonnull(f);
			ck_assert_int_eq(f->type, PROTOBUF_C_TYPE_STRING);
		}
		if (k < WIRE_MAX_VARS)
			ck_assert_ptr_null(r->vars[k]);
		/* the body field, when one is named, is a message of the request */
		if (r->body[0] && strcmp(r->body, "*") != 0) {
			const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(r->req, r->body);
			ck_assert_ptr_nonnull(f);
			ck_assert_int_eq(f->type, PROTOBUF_C_TYPE_MESSAGE);
		}
	}
}
END_TEST

/* Client paths from the rows: variables escaped, counts checked, caps. */
START_TEST(route_paths)
{
	char b[64];
	const wire_route *r = wire_route_find("Exec");
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(wire_route_find("StreamExec"));
	const char *id[] = {"sbx-1"};
	ck_assert_int_eq(wire_route_path(r, id, 1, b, sizeof b), 24);
	ck_assert_str_eq(b, "/v1/sandboxes/sbx-1:exec");
	const char *odd[] = {"a/b:c d%\xc3\xa9"};
	ck_assert_int_gt(wire_route_path(wire_route_find("GetSandbox"), odd, 1, b, sizeof b), 0);
	ck_assert_str_eq(b, "/v1/sandboxes/a%2Fb%3Ac%20d%25%C3%A9");
	/* and what it builds, the matcher takes back to the same value */
	wire_var v[WIRE_MAX_VARS];
	size_t nv;
	ck_assert_int_eq(wire_route_path(r, id, 1, b, sizeof b), 24);
	ck_assert_ptr_eq(wire_route_match("POST", b, strlen(b), v, &nv), r);
	ck_assert_int_eq(wire_route_path(r, id, 0, b, sizeof b), -EINVAL);
	const char *empty[] = {""};
	ck_assert_int_eq(wire_route_path(r, empty, 1, b, sizeof b), -EINVAL);
	ck_assert_int_eq(wire_route_path(r, id, 1, b, 24), -E2BIG);
	ck_assert_int_eq(wire_route_path(r, id, 1, b, 25), 24);
	ck_assert_int_eq(wire_route_path(wire_route_find("GetSandbox"), id, 1, b, 20), 19); /* exact fit */
	ck_assert_int_eq(wire_route_path(wire_route_find("GetSandbox"), id, 1, b, 19), -E2BIG);
	ck_assert_int_eq(wire_route_path(wire_route_find("ListSandboxes"), NULL, 0, b, sizeof b), 13);
	ck_assert_int_eq(wire_route_path(wire_route_find("ListSandboxes"), id, 1, b, sizeof b), -EINVAL);
}
END_TEST

/* Exec: body "*" then the path, which wins over the body's sandboxId. */
START_TEST(exec_body_and_path)
{
	static const char body[] = "{\"sandboxId\":\"other\",\"command\":[\"echo\",\"hi\"],\"maxOutputBytes\":10,"
	                           "\"env\":{\"K\":\"V\"}}";
	wire_var v[WIRE_MAX_VARS];
	size_t nv;
	const char *p = "/v1/sandboxes/sbx-1:exec";
	const wire_route *r = wire_route_match("POST", p, strlen(p), v, &nv);
	ProtobufCMessage *req = wire_route_new_request(r);
	wire_err e;
	ck_assert_int_eq(wire_route_body(r, req, body, sizeof body - 1, NULL, &e), 0);
	ck_assert_int_eq(wire_route_bind(r, req, v, nv, &e), 0);
	Coreweave__Sandbox__V1__ExecRequest *x = (void *)req;
	ck_assert_str_eq(x->sandbox_id, "sbx-1");
	ck_assert_uint_eq(x->n_command, 2);
	ck_assert_int_eq(x->max_output_bytes, 10);
	ck_assert_uint_eq(x->n_env, 1);
	ck_assert_str_eq(x->env[0]->key, "K");
	ck_assert_str_eq(x->env[0]->value, "V");
	wire_message_free(req);
	/* a GET takes no body */
	p = "/v1/sandboxes/sbx-1";
	r = wire_route_match("GET", p, strlen(p), v, &nv);
	req = wire_route_new_request(r);
	ck_assert_int_eq(wire_route_body(r, req, " \n", 2, NULL, &e), 0);
	ck_assert_int_eq(wire_route_body(r, req, "{}", 2, NULL, &e), -EINVAL);
	wire_message_free(req);
}
END_TEST

/* Query parameters: repeated keys append, enums by name, ints range-checked. */
START_TEST(query_params)
{
	Coreweave__Sandbox__V1__ListSandboxesRequest *q = (void *)wire_route_new_request(&wire_routes[3]);
	ck_assert_str_eq(wire_routes[3].rpc, "ListSandboxes");
	wire_err e;
	ck_assert_int_eq(wire_field_set_text(&q->base, "tags", "a", 1, &e), 0);
	ck_assert_int_eq(wire_field_set_text(&q->base, "tags", "b,c", 3, &e), 0);
	ck_assert_int_eq(wire_field_set_text(&q->base, "state", "STATE_RUNNING", 13, &e), 0);
	ck_assert_int_eq(wire_field_set_text(&q->base, "showTerminated", "true", 4, &e), 0);
	ck_assert_int_eq(wire_field_set_text(&q->base, "pageSize", "5", 1, &e), 0);
	ck_assert_uint_eq(q->n_tags, 2);
	ck_assert_str_eq(q->tags[1], "b,c");
	ck_assert_int_eq(q->state, 2);
	ck_assert_int_eq(q->show_terminated, 1);
	ck_assert_int_eq(q->page_size, 5);
	ck_assert_int_eq(wire_field_set_text(&q->base, "pageSize", "99999999999", 11, &e), -EINVAL);
	ck_assert_str_eq(e.field, "pageSize");
	ck_assert_int_eq(wire_field_set_text(&q->base, "showTerminated", "1", 1, &e), -EINVAL);
	ck_assert_int_eq(wire_field_set_text(&q->base, "waitSeconds", "3", 1, &e), -EINVAL);
	ck_assert_str_eq(e.field, "waitSeconds");
	ck_assert_int_eq(wire_field_set_text(&q->base, "tags", "a\0b", 3, &e), -EINVAL);
	ck_assert_int_eq(wire_field_set_text(&q->base, "tags", "\xff", 1, &e), -EINVAL);
	ck_assert_uint_eq(q->n_tags, 2);
	ck_assert_int_eq(wire_field_set_text(&q->base, "pageToken", "t1", 2, &e), 0);
	ck_assert_int_eq(wire_field_set_text(&q->base, "pageToken", "t2", 2, &e), 0);
	ck_assert_str_eq(q->page_token, "t2");
	char *out = enc(&q->base);
	ck_assert_str_eq(out, "{\"pageSize\":5,\"pageToken\":\"t2\",\"tags\":[\"a\",\"b,c\"],\"state\":\"STATE_RUNNING\","
	                      "\"showTerminated\":true}");
	free(out);
	wire_message_free(&q->base);
}
END_TEST

START_TEST(json_names)
{
	static const char *const c[][2] = {
		{"max_lifetime_seconds", "maxLifetimeSeconds"}, {"sandbox_id", "sandboxId"},
		{"file_system_snapshot_ids", "fileSystemSnapshotIds"}, {"memory_gb", "memoryGb"},
		{"name", "name"}, {"tty_width", "ttyWidth"},
	};
	char b[64];
	for (int i = 0; i < N(c); i++) {
		wire_json_name(c[i][0], b, sizeof b);
		ck_assert_str_eq(b, c[i][1]);
	}
	wire_json_name("max_lifetime_seconds", b, 4);
	ck_assert_str_eq(b, "max");
}
END_TEST

/* Merging into a message that has fields: kept unless the text sets them. */
START_TEST(merge)
{
	ProtobufCMessage *m = dec(SBX(container), "{\"name\":\"a\",\"args\":[\"1\"]}");
	wire_err e;
	const char *t = "{\"image\":\"i\",\"args\":[\"2\"],\"name\":\"b\"}";
	ck_assert_int_eq(wire_json_merge(m, t, strlen(t), NULL, &e), 0);
	char *out = enc(m);
	ck_assert_str_eq(out, "{\"name\":\"b\",\"image\":\"i\",\"args\":[\"1\",\"2\"]}");
	free(out);
	/* a failure half-way leaves a message that frees cleanly */
	t = "{\"args\":[\"3\", 4],\"image\":\"j\"}";
	ck_assert_int_eq(wire_json_merge(m, t, strlen(t), NULL, &e), -EINVAL);
	wire_message_free(m);
	wire_message_free(NULL);
}
END_TEST


/* The binary encoding (binary.c): every type of the schema and of the
 * extension's rows, filled, goes through wire_pb_encode and a strict
 * wire_pb_decode to the same message, whose JSON is that of the original:
 * one message, two encodings. */
static void pb_roundtrip(const ProtobufCMessageDescriptor *d)
{
	for (unsigned seed = 0; seed < 3; seed++) {
		ProtobufCMessage *m = fill_new(d, seed, 3);
		ck_assert_ptr_nonnull(m);
		uint8_t *bin = NULL;
		size_t len = 0;
		wire_err e;
		ck_assert_msg(wire_pb_encode(m, NULL, &bin, &len, &e) == 0, "%s: %s", d->name, e.msg);
		ProtobufCMessage *back = NULL;
		int rc = wire_pb_decode(d, bin, len, NULL, &back, &e);
		if (d == &google__rpc__status__descriptor) {
			/* its details are Anys: never taken strictly in binary
			 * (errors are JSON); a tolerant reader gets them whole */
			ck_assert_int_eq(rc, -EINVAL);
			wire_caps loose = wire_caps_default;
			loose.ignore_unknown = 1;
			rc = wire_pb_decode(d, bin, len, &loose, &back, &e);
		}
		ck_assert_msg(rc == 0, "%s seed %u: %d %s (%s)", d->name, seed, rc, e.msg, e.field);
		ck_assert_msg(fill_same(m, back), "%s: not the same message", d->name);
		char *a = enc(m), *b = enc(back);
		ck_assert_str_eq(a, b);
		free(a);
		free(b);
		free(bin);
		wire_message_free(back);
		wire_message_free(m);
	}
}

START_TEST(pb_roundtrip_every_type)
{
	size_t n = 0;
	const ProtobufCMessageDescriptor *const *all = wire_types(&n);
	for (size_t i = 0; i < n; i++)
		pb_roundtrip(all[i]);
	for (size_t i = 0; i < wire_n_ext_routes; i++) {
		pb_roundtrip(wire_ext_routes[i].req);
		if (wire_ext_routes[i].resp)
			pb_roundtrip(wire_ext_routes[i].resp);
	}
	/* the empty message is zero bytes, and zero bytes the empty message */
	ProtobufCMessage *m = NULL;
	wire_err e;
	ck_assert_int_eq(wire_pb_decode(EXT(list_dir_response), (const uint8_t *)"", 0, NULL, &m, &e), 0);
	ck_assert_uint_eq(((Sbxd__Ext__V1__ListDirResponse *)m)->n_entries, 0);
	wire_message_free(m);
}
END_TEST

/* What the JSON decoder refuses, the binary one refuses too, naming the
 * field; and what the encoding itself forbids. */
static const struct {
	const char *what;
	const ProtobufCMessageDescriptor *d;
	const char *bytes;
	size_t len;
	int rc;
	const char *field;
} pb_bad[] = {
	{"NUL in a string", EXT(list_dir_request), "\x12\x03/a\0", 5, -EINVAL, "path"},
	{"not UTF-8", EXT(list_dir_request), "\x12\x02/\xff", 4, -EINVAL, "path"},
	{"unknown field", EXT(list_dir_request), "\x98\x06\x01", 3, -EINVAL, ""},
	{"enum value the schema lacks", EXT(file_entry), "\x10\x09", 2, -EINVAL, "type"},
	{"wire type not the field's", EXT(file_entry), "\x0a\x01x\x18\x05\x0d\x00\x00\x00\x00", 10, -EINVAL,
	 "name"},
	{"group", EXT(file_entry), "\x0b\x0c", 2, -EINVAL, ""},
	{"field number 0", EXT(file_entry), "\x00\x01", 2, -EINVAL, ""},
	{"varint cut short", EXT(file_entry), "\x18\xff\xff", 3, -EINVAL, ""},
	{"varint over 10 bytes", EXT(file_entry), "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
	 -EINVAL, ""},
	{"length past the end", EXT(file_entry), "\x0a\x05" "ab", 4, -EINVAL, ""},
	{"fixed value cut short", EXT(file_entry), "\x19\x00\x00", 3, -EINVAL, ""},
	{"tag cut short", EXT(file_entry), "\x80", 1, -EINVAL, ""},
	{"bad inside a nested message", EXT(list_dirs_response),
	 "\x0a\x0a\x0a\x01/\x12\x05\x0a\x03" "a\0b", 12, -EINVAL, "listings[0].entries[0].name"},
	{"second element bad", EXT(list_dirs_request), "\x1a\x01" "a\x1a\x01\xc0", 6, -EINVAL, "morePaths[1]"},
	{"Timestamp past year 9999", EXT(file_entry), "\x2a\x07\x08\x80\xec\xc2\xff\xff\x0c", 9, -EINVAL, "modifyTime"},
	{"Timestamp nanos negative", EXT(file_entry), "\x2a\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 13,
	 -EINVAL, "modifyTime"},
	{"seconds of a Timestamp as a string", EXT(file_entry), "\x2a\x03\x0a\x01x", 5, -EINVAL,
	 "modifyTime.seconds"},
};

START_TEST(pb_strict_input)
{
	ProtobufCMessage *m = (ProtobufCMessage *)1;
	wire_err e;
	int rc = wire_pb_decode(pb_bad[_i].d, (const uint8_t *)pb_bad[_i].bytes, pb_bad[_i].len, NULL, &m, &e);
	ck_assert_msg(rc == pb_bad[_i].rc, "%s: %d, want %d (%s)", pb_bad[_i].what, rc, pb_bad[_i].rc, e.msg);
	ck_assert_ptr_null(m);
	ck_assert_msg(strcmp(e.field, pb_bad[_i].field) == 0, "%s: field [%s], want [%s]", pb_bad[_i].what, e.field,
	              pb_bad[_i].field);
	ck_assert_msg(e.msg[0] != '\0', "%s: no message", pb_bad[_i].what);
}
END_TEST

START_TEST(pb_caps)
{
	ProtobufCMessage *m = NULL;
	wire_err e;
	wire_caps c = wire_caps_default;
	/* nesting: a FileEntry's Timestamp is one deep */
	const uint8_t ts[] = {0x2a, 0x02, 0x08, 0x01};
	c.max_depth = 0;
	ck_assert_int_eq(wire_pb_decode(EXT(file_entry), ts, sizeof ts, &c, &m, &e), -E2BIG);
	ck_assert_str_eq(e.field, "modifyTime");
	c.max_depth = 1;
	ck_assert_int_eq(wire_pb_decode(EXT(file_entry), ts, sizeof ts, &c, &m, &e), 0);
	wire_message_free(m);
	/* items of one repeated field */
	const uint8_t two[] = {0x1a, 0x01, 'a', 0x1a, 0x01, 'b'};
	c = wire_caps_default;
	c.max_items = 1;
	ck_assert_int_eq(wire_pb_decode(EXT(list_dirs_request), two, sizeof two, &c, &m, &e), -E2BIG);
	ck_assert_str_eq(e.field, "morePaths[1]");
	/* one string's bytes, and the whole message's */
	c = wire_caps_default;
	c.max_string = 1;
	const uint8_t s2[] = {0x12, 0x02, '/', 'a'};
	ck_assert_int_eq(wire_pb_decode(EXT(list_dir_request), s2, sizeof s2, &c, &m, &e), -E2BIG);
	ck_assert_str_eq(e.field, "path");
	c = wire_caps_default;
	c.max_bytes = 3;
	ck_assert_int_eq(wire_pb_decode(EXT(list_dir_request), s2, sizeof s2, &c, &m, &e), -E2BIG);
	ProtobufCMessage *big = dec(EXT(list_dir_request), "{\"path\":\"/abc\"}");
	uint8_t *packed = NULL;
	size_t plen = 0;
	ck_assert_int_eq(wire_pb_encode(big, &c, &packed, &plen, &e), -E2BIG);
	ck_assert_ptr_null(packed);
	wire_message_free(big);
	/* a client reading answers skips what a newer service adds */
	c = wire_caps_default;
	c.ignore_unknown = 1;
	const uint8_t newer[] = {0x98, 0x06, 0x01, 0x10, 0x09, 0x0a, 0x01, 'x'};
	ck_assert_int_eq(wire_pb_decode(EXT(file_entry), newer, sizeof newer, &c, &m, &e), 0);
	ck_assert_str_eq(((Sbxd__Ext__V1__FileEntry *)m)->name, "x");
	wire_message_free(m);
	/* packed repeated scalars (none in the schema yet: descriptor.proto's
	 * SourceCodeInfo.Location.path) count their elements; a cut one fails */
	const ProtobufCMessageDescriptor *loc = &google__protobuf__source_code_info__location__descriptor;
	const uint8_t packed3[] = {0x0a, 0x03, 0x01, 0x02, 0x03};
	const uint8_t packed_cut[] = {0x0a, 0x02, 0x01, 0x82};
	ck_assert_int_eq(wire_pb_decode(loc, packed3, sizeof packed3, NULL, &m, &e), 0);
	ck_assert_uint_eq(((Google__Protobuf__SourceCodeInfo__Location *)m)->n_path, 3);
	wire_message_free(m);
	c = wire_caps_default;
	c.max_items = 2;
	ck_assert_int_eq(wire_pb_decode(loc, packed3, sizeof packed3, &c, &m, &e), -E2BIG);
	ck_assert_int_eq(wire_pb_decode(loc, packed_cut, sizeof packed_cut, NULL, &m, &e), -EINVAL);
	ck_assert_str_eq(e.field, "path[0]");
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("wire");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, roundtrip_every_type);
	tcase_add_test(tc, registry);
	tcase_add_loop_test(tc, canonical_stable, 0, N(canon));
	tcase_add_loop_test(tc, lenient_input, 0, N(lenient));
	tcase_add_loop_test(tc, strict_input, 0, N(bad));
	tcase_add_test(tc, raw_nul);
	tcase_add_test(tc, caps);
	tcase_add_test(tc, presence);
	tcase_add_test(tc, encode_refuses);
	tcase_add_test(tc, sdk_create_body);
	tcase_add_loop_test(tc, route_match, 0, N(rcases));
	tcase_add_test(tc, route_vars);
	tcase_add_test(tc, route_paths);
	tcase_add_test(tc, exec_body_and_path);
	tcase_add_test(tc, query_params);
	tcase_add_test(tc, json_names);
	tcase_add_test(tc, merge);
	tcase_add_test(tc, pb_roundtrip_every_type);
	tcase_add_loop_test(tc, pb_strict_input, 0, N(pb_bad));
	tcase_add_test(tc, pb_caps);
	return unit_run("wire", tc);
}
