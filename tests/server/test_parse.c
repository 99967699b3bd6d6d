/*
 * Unit tests of sbxd's parsers (server/parse.c), table-driven: quantities,
 * RFC 3339 times, JSON depth, names, base64, request bodies with their caps,
 * and the route table.
 */
#include "../unit.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <errno.h>

#include "fileargs.h"
#include "jsonw.h"
#include "json.h"
#include "procargs.h"
#include "parse.h"
#include "json.h"
#include "spec.h"

#include <cjson/cJSON.h>

/* What sbxd runs for a command's request: the codec (JSON text -> the
 * request message), then the converter (procargs.c). */
static int proc_req(const char *body, size_t len, int exec, srv_proc_req *r, srv_perr *e)
{
	const ProtobufCMessageDescriptor *d = exec ? &coreweave__sandbox__v1__exec_request__descriptor
						   : &sbxd__ext__v1__start_process_request__descriptor;
	ProtobufCMessage *m = NULL;
	wire_err we;
	memset(r, 0, sizeof *r);
	if (wire_json_decode(d, body, len, NULL, &m, &we) != 0) {
		snprintf(e->msg, sizeof e->msg, "%s", we.msg);
		snprintf(e->field, sizeof e->field, "%.127s", we.field);
		return -1;
	}
	int rc = exec ? srv_proc_req_from_exec((const void *)m, r, e) : srv_proc_req_from_start((const void *)m, r, e);
	wire_message_free(m);
	return rc;
}

/* The same for a file call: *m is the decoded request (the arguments
 * borrow from it: free it after), NULL when the codec refused the text. */
static int file_args(srv_route_kind kind, const char *body, srv_file_args *a, ProtobufCMessage **m, srv_perr *e)
{
	wire_err we;
	*m = NULL;
	memset(a, 0, sizeof *a);
	if (wire_json_decode(srv_file_call_request(kind), body, strlen(body), NULL, m, &we) != 0) {
		snprintf(e->msg, sizeof e->msg, "%s", we.msg);
		snprintf(e->field, sizeof e->field, "%.127s", we.field);
		return -1;
	}
	return srv_file_args_from_pb(kind, *m, a, e);
}

START_TEST(t_cpu)
{
	static const struct {
		const char *in;
		int ok;
		int64_t want;
	} cases[] = {
		{"500m", 1, 500}, {"2", 1, 2000}, {"0.5", 1, 500}, {"1.25", 1, 1250}, {"100m", 1, 100},
		{"", 0, 0}, {"m", 0, 0}, {"-1", 0, 0}, {"2x", 0, 0}, {"1e3", 0, 0}, {"99999999", 0, 0},
		{"9999999999999999999999", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t v = -1;
		char err[SRV_MSGLEN];
		int rc = srv_parse_cpu(cases[i].in, &v, err);
		ck_assert_msg((rc == 0) == cases[i].ok, "cpu %s", cases[i].in);
		if (cases[i].ok)
			ck_assert_int_eq(v, cases[i].want);
	}
}
END_TEST

START_TEST(t_memory)
{
	static const struct {
		const char *in;
		int ok;
		int64_t want;
	} cases[] = {
		{"256Mi", 1, 256LL << 20}, {"1Gi", 1, 1LL << 30}, {"1G", 1, 1000000000}, {"1048576", 1, 1048576},
		{"1.5Gi", 1, 3LL << 29}, {"64k", 1, 64000}, {"64Ki", 1, 65536}, {"2Ti", 1, 2LL << 40},
		{"", 0, 0}, {"Mi", 0, 0}, {"12Q", 0, 0}, {"1 Mi", 0, 0}, {"-5Mi", 0, 0}, {"99999999Ti", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t v = -1;
		char err[SRV_MSGLEN];
		int rc = srv_parse_memory(cases[i].in, &v, err);
		ck_assert_msg((rc == 0) == cases[i].ok, "memory %s", cases[i].in);
		if (cases[i].ok)
			ck_assert_int_eq(v, cases[i].want);
	}
}
END_TEST

START_TEST(t_int)
{
	static const struct {
		const char *in;
		int64_t min, max;
		int ok;
		int64_t want;
	} cases[] = {
		{"0", 0, 10, 1, 0}, {"10", 0, 10, 1, 10}, {"11", 0, 10, 0, 0}, {"-1", 0, 10, 0, 0},
		{"", 0, 10, 0, 0}, {" 1", 0, 10, 0, 0}, {"1 ", 0, 10, 0, 0}, {"0x10", 0, 100, 0, 0},
		{"99999999999999999999", 0, INT64_MAX, 0, 0}, {"-5", -10, 10, 1, -5},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t v = -1;
		int rc = srv_parse_int(cases[i].in, cases[i].min, cases[i].max, &v);
		ck_assert_msg((rc == 0) == cases[i].ok, "int %s", cases[i].in);
		if (cases[i].ok)
			ck_assert_int_eq(v, cases[i].want);
	}
}
END_TEST

START_TEST(t_time)
{
	static const struct {
		const char *in;
		int ok;
		int64_t want;
		const char *back;
	} cases[] = {
		{"1970-01-01T00:00:01Z", 1, 1000000000, "1970-01-01T00:00:01Z"},
		{"2026-11-26T05:39:50.123Z", 1, 1795671590123000000LL, "2026-11-26T05:39:50.123Z"},
		{"2026-11-26T05:39:50.123456Z", 1, 1795671590123456000LL, "2026-11-26T05:39:50.123456Z"},
		{"2026-11-26T05:39:50.123456789Z", 1, 1795671590123456789LL, "2026-11-26T05:39:50.123456789Z"},
		{"2026-11-26T07:39:50+02:00", 1, 1795671590000000000LL, "2026-11-26T05:39:50Z"},
		{"2026-11-26T05:39:50", 0, 0, NULL}, {"2026-13-01T00:00:00Z", 0, 0, NULL},
		{"2026-02-31T00:00:00Z", 0, 0, NULL}, {"2026-11-26T05:39:50.Z", 0, 0, NULL},
		{"garbage", 0, 0, NULL}, {"", 0, 0, NULL}, {"2026-11-26T05:39:50Zjunk", 0, 0, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t v = 0;
		int rc = srv_parse_time(cases[i].in, &v);
		ck_assert_msg((rc == 0) == cases[i].ok, "time %s", cases[i].in);
		if (!cases[i].ok)
			continue;
		ck_assert_int_eq(v, cases[i].want);
		char buf[48];
		srv_format_time(v, buf, sizeof buf);
		ck_assert_str_eq(buf, cases[i].back);
	}
	/* Past int64 nanoseconds (an OCI config's Go zero time): only as
	 * seconds and nanoseconds. */
	static const struct {
		const char *in;
		int ns_ok;
		int64_t secs;
		int32_t nanos;
	} far[] = {
		{"0001-01-01T00:00:00Z", 0, -62135596800LL, 0},
		{"9999-12-31T23:59:59.5Z", 0, 253402300799LL, 500000000},
		{"1678-01-01T00:00:00Z", 1, -9214560000LL, 0},
		{"1969-12-31T23:59:59.25Z", 1, -1, 250000000},
	};
	for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
		int64_t secs = 0, v = 0;
		int32_t nanos = -1;
		ck_assert_int_eq(srv_parse_timestamp(far[i].in, &secs, &nanos), 0);
		ck_assert_int_eq(secs, far[i].secs);
		ck_assert_int_eq(nanos, far[i].nanos);
		ck_assert_msg((srv_parse_time(far[i].in, &v) == 0) == far[i].ns_ok, "ns of %s", far[i].in);
		if (far[i].ns_ok)
			ck_assert_int_eq(v, far[i].secs * 1000000000 + far[i].nanos);
	}
}
END_TEST

/* srv_format_time by hand against what gmtime_r + strftime print, over
 * the whole int64 range of nanoseconds (leap days, century years, the
 * ends) and every fraction form. */
START_TEST(t_format_time_gmtime)
{
	uint64_t x = 88172645463325252ULL; /* xorshift64 */
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int64_t ns = (int64_t)(x >> 1);
		if (i % 4 == 1)
			ns -= ns % 1000000000;
		else if (i % 4 == 2)
			ns -= ns % 1000000;
		else if (i % 4 == 3)
			ns -= ns % 1000;
		if (i < 6) {
			static const int64_t edge[] = {1, 951782400000000000LL, 4107542400000000000LL,
			                               INT64_MAX, 1000000000, 946684799999999999LL};
			ns = edge[i];
		}
		if (ns <= 0)
			continue;
		time_t sec = (time_t)(ns / 1000000000);
		long frac = (long)(ns % 1000000000);
		struct tm tm;
		char base[40], want[64], got[48];
		gmtime_r(&sec, &tm);
		strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
		if (frac == 0)
			snprintf(want, sizeof want, "%sZ", base);
		else if (frac % 1000000 == 0)
			snprintf(want, sizeof want, "%s.%03ldZ", base, frac / 1000000);
		else if (frac % 1000 == 0)
			snprintf(want, sizeof want, "%s.%06ldZ", base, frac / 1000);
		else
			snprintf(want, sizeof want, "%s.%09ldZ", base, frac);
		srv_format_time(ns, got, sizeof got);
		ck_assert_str_eq(got, want);
	}
	char small[8];
	srv_format_time(1, small, sizeof small); /* cut, as snprintf cuts */
	ck_assert_str_eq(small, "1970-01");
	srv_format_time(0, small, sizeof small);
	ck_assert_str_eq(small, "");
}
END_TEST

/* srv_jw prints what cJSON_PrintUnformatted prints for the same tree:
 * strings of every byte (controls, quotes, backslashes, UTF-8 and
 * invalid bytes), integers about cJSON's 1e15 switch to exponents and at
 * the int64 ends, bools, nested and empty containers. */
START_TEST(t_jsonw_as_cjson)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int round = 0; round < 2000; round++) {
		cJSON *o = cJSON_CreateObject();
		srv_jw w = {0};
		srv_jw_open(&w, '{');
		int members = (int)(round % 7);
		for (int m = 0; m < members; m++) {
			char key[16], str[64];
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			snprintf(key, sizeof key, "k%d\"%c", m, (char)(1 + x % 127));
			size_t n = (size_t)(x >> 8) % (sizeof str - 1);
			for (size_t k = 0; k < n; k++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				str[k] = (char)(1 + x % 255); /* any byte but NUL */
			}
			str[n] = '\0';
			static const int64_t ints[] = {0, 1, -1, 137, 999999999999999LL, -999999999999999LL,
			                               1000000000000000LL, -1000000000000000LL, 123456789012345678LL,
			                               INT64_MAX, INT64_MIN, 9007199254740993LL};
			int64_t iv = ints[(x >> 20) % (sizeof ints / sizeof ints[0])];
			srv_jw_key(&w, key);
			switch ((x >> 40) % 5) {
			case 0:
				cJSON_AddStringToObject(o, key, str);
				srv_jw_str(&w, str);
				break;
			case 1:
				cJSON_AddNumberToObject(o, key, (double)iv);
				srv_jw_int(&w, iv);
				break;
			case 2:
				cJSON_AddBoolToObject(o, key, (int)(x & 1));
				srv_jw_bool(&w, (int)(x & 1));
				break;
			case 3: {
				cJSON *a = cJSON_AddArrayToObject(o, key);
				srv_jw_open(&w, '[');
				for (int k = 0; k < (int)(x % 3); k++) {
					cJSON_AddItemToArray(a, cJSON_CreateString(str + k));
					srv_jw_str(&w, str + k);
				}
				srv_jw_close(&w, ']');
				break;
			}
			default: {
				cJSON *e = cJSON_AddObjectToObject(o, key);
				srv_jw_open(&w, '{');
				if (x & 2) {
					cJSON_AddStringToObject(e, "a=b", str);
					srv_jw_keyn(&w, "a=b", 3);
					srv_jw_str(&w, str);
					cJSON_AddNumberToObject(e, "a", (double)iv);
					srv_jw_keyn(&w, "a=b", 1);
					srv_jw_int(&w, iv);
				}
				srv_jw_close(&w, '}');
			}
			}
		}
		srv_jw_close(&w, '}');
		char *want = cJSON_PrintUnformatted(o);
		size_t len;
		char *got = srv_jw_take(&w, &len);
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, want);
		ck_assert_uint_eq(len, strlen(want));
		free(got);
		free(want);
		cJSON_Delete(o);
	}
}
END_TEST

/* Past SRV_JSONW_MAX the text fails whole: no record is cut short. */
START_TEST(t_jsonw_cap)
{
	size_t n = 1u << 20;
	char *big = malloc(n + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, '\n', n); /* 2 bytes each escaped */
	big[n] = '\0';
	srv_jw w = {0};
	srv_jw_open(&w, '[');
	for (int i = 0; i < 9; i++)
		srv_jw_str(&w, big);
	srv_jw_close(&w, ']');
	size_t len = 1;
	ck_assert_ptr_null(srv_jw_take(&w, &len));
	ck_assert_uint_eq(len, 0);
	free(big);
}
END_TEST

START_TEST(t_depth_names)
{
	/* Nesting: 32 levels pass, 33 do not; brackets in strings (escaped
	 * quotes included) do not count. */
	char deep[80];
	srv_perr pe;
	for (int d = 32; d <= 33; d++) {
		memset(deep, '[', (size_t)d);
		memset(deep + d, ']', (size_t)d);
		ck_assert_int_eq(srv_json_check(deep, (size_t)(2 * d), &pe), d <= SRV_MAX_DEPTH ? 0 : -1);
	}
	ck_assert_ptr_nonnull(strstr(pe.msg, "deeper"));
	char str[120] = "{\"a\":\"\\\"";
	memset(str + strlen(str), '[', 40);
	memcpy(str + 48, "\"}", 3);
	ck_assert_int_eq(srv_json_check(str, strlen(str), &pe), 0);
	static const struct {
		const char *s;
		int name, id;
	} names[] = {
		{"box", 1, 1}, {"a.b_c-d", 1, 1}, {".hidden", 0, 1}, {"", 0, 0}, {"a/b", 0, 0}, {"a b", 0, 0},
		{"sbx-0123456789abcdef", 1, 1},
		{"0123456789012345678901234567890123456789012345678901234567890123", 0, 1},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		ck_assert_int_eq(srv_valid_name(names[i].s), names[i].name);
		ck_assert_int_eq(srv_valid_id(names[i].s), names[i].id);
	}
}
END_TEST

START_TEST(t_nul_and_numbers)
{
	static const struct {
		const char *json;
		size_t len;   /* 0: strlen */
		int nul;
	} nuls[] = {
		{"{\"a\":\"x\"}", 0, 0},
		{"{\"a\":\"x\\u0000y\"}", 0, 1},
		{"{\"a\\u0000\":1}", 0, 1},
		{"{\"a\":\"\\\\u0000\"}", 0, 0},  /* an escaped backslash, then text */
		{"{\"a\":\"\\u00001\"}", 0, 1},
		{"{\"a\":\"\\u0001\"}", 0, 0},
		{"{\"a\":\"x\0y\"}", 10, 1},              /* raw NUL inside a string */
		{"{\"a\":\"\\u000", 0, 0},                  /* cut short: no NUL */
	};
	for (size_t i = 0; i < sizeof nuls / sizeof nuls[0]; i++)
	{
		srv_perr e;
		ck_assert_msg((srv_json_check(nuls[i].json, nuls[i].len ? nuls[i].len : strlen(nuls[i].json), &e) != 0) ==
				      nuls[i].nul,
			      "case %zu", i);
	}
	static const struct {
		double d;
		int64_t min, max;
		int ok;
		int64_t want;
	} nums[] = {
		{0, 0, 10, 1, 0},
		{10, 0, 10, 1, 10},
		{11, 0, 10, 0, 0},
		{-1, 0, 10, 0, 0},
		{1.5, 0, 10, 0, 0},
		{1e300, 0, 07777, 0, 0},
		{-1e300, INT64_MIN, INT64_MAX, 0, 0},
		{9223372036854775808.0, INT64_MIN, INT64_MAX, 0, 0},
		{9007199254740992.0, 0, INT64_MAX, 1, 9007199254740992LL},
		{-4096, -5000, 0, 1, -4096},
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		int64_t v = 0;
		int rc = srv_double_to_int(nums[i].d, nums[i].min, nums[i].max, &v);
		ck_assert_msg((rc == 0) == nums[i].ok, "number case %zu", i);
		if (nums[i].ok)
			ck_assert_int_eq(v, nums[i].want);
	}
	double nan = 0.0 / 0.0;
	int64_t v;
	ck_assert_int_ne(srv_double_to_int(nan, INT64_MIN, INT64_MAX, &v), 0);
	/* Bodies: NUL and huge numbers are refused by the request parsers. */
	srv_spec sp;
	srv_proc_req pr;
	srv_perr err;
	const char *b = "{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"a\\u0000b\"}]}}";
	ck_assert_int_ne(srv_parse_create(b, strlen(b), &sp, &err), 0);
	b = "{\"command\":[\"true\"],\"timeoutSeconds\":1e300}";
	ck_assert_int_ne(proc_req(b, strlen(b), 0, &pr, &err), 0);
	b = "{\"command\":[\"echo\",\"a\\u0000\"]}";
	ck_assert_int_ne(proc_req(b, strlen(b), 1, &pr, &err), 0);
}
END_TEST

/* Create bodies: the schema's Sandbox through the codec and spec.c. rc 0
 * ok, -1 bad request, -2 (SRV_PARSE_UNSUPPORTED) valid but not for sbxd;
 * field: the JSON path the error names. */
#define C0 "{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"default\""
START_TEST(t_create)
{
	static const struct {
		const char *body;
		int rc;
		const char *field;
	} cases[] = {
		{C0 "}]}}", 0, ""},
		{C0 ",\"command\":\"/bin/sh\",\"args\":[\"-c\",\"echo\"],\"environmentVariables\":{\"K\":\"V\"},"
		    "\"workingDir\":\"/tmp\",\"resources\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"}}],"
		    "\"primaryContainer\":\"main\",\"maxLifetimeSeconds\":30,\"tags\":[\"a,b\",\"sbxfs-name=box\"],"
		    "\"network\":{\"egress\":[{\"any\":true}]},\"annotations\":{\"sbxd.pids\":\"64\",\"x\":\"y\"},"
		    "\"mode\":\"SANDBOX_MODE_SERVERLESS\"}}", 0, ""},
		{"", -1, ""},
		{"{}", -1, "spec"},
		{"{\"spec\":{}}", -1, "spec.containers"},
		{"{", -1, ""},
		{"[]", -1, ""},
		{"{\"spec\":{\"image\":\"default\"}}", -1, "spec.image"},
		{C0 ",\"bogus\":1}]}}", -1, "spec.containers[0].bogus"},
		{C0 "}],\"tags\":[\"sbxfs-name=a/b\"]}}", -1, "spec.tags[0]"},
		{C0 "}],\"tags\":[\"sbxfs-name=sbx-1234\"]}}", -1, "spec.tags[0]"},
		{C0 "}],\"tags\":[\"x\",\"sbxfs-name=a\",\"sbxfs-name=b\"]}}", -1, "spec.tags[2]"},
		{C0 "}],\"tags\":[\"\"]}}", -1, "spec.tags[0]"},
		{C0 ",\"files\":[{\"path\":\"a\"}]}]}}", -1, "spec.containers[0].files[0].path"},
		{C0 ",\"files\":[{\"path\":\"/a/../b\"}]}]}}", -1, "spec.containers[0].files[0].path"},
		{C0 ",\"files\":[{\"path\":\"/proc/1/x\"}]}]}}", -1, "spec.containers[0].files[0].path"},
		{C0 ",\"files\":[{\"path\":\"/a\"},{\"path\":\"//a/\"}]}]}}", -1, "spec.containers[0].files[1].path"},
		{C0 ",\"volumeMounts\":[{\"volume\":\"v\",\"mountPath\":\"/m\"}]}]}}", -1,
		 "spec.containers[0].volumeMounts[0].volume"},
		{C0 ",\"volumeMounts\":[{\"volume\":\"v\",\"mountPath\":\"/\"}]}],\"volumes\":[{\"name\":\"v\",\"scratch\":{}}]}}",
		 -1, "spec.containers[0].volumeMounts[0].mountPath"},
		{C0 ",\"volumeMounts\":[{\"volume\":\"v\",\"mountPath\":\"/m\",\"subPath\":\"/abs\"}]}],"
		    "\"volumes\":[{\"name\":\"v\",\"scratch\":{}}]}}",
		 -1, "spec.containers[0].volumeMounts[0].subPath"},
		{C0 "}],\"volumes\":[{\"name\":\"v\",\"scratch\":{\"size\":\"512Ki\"}}]}}", -1, "spec.volumes[0].scratch.size"},
		{C0 "}],\"volumes\":[{\"name\":\".v\",\"scratch\":{}}]}}", -1, "spec.volumes[0].name"},
		{C0 ",\"resources\":{\"cpu\":\"lots\"}}]}}", -1, "spec.containers[0].resources.cpu"},
		{C0 ",\"resources\":{\"memory\":\"1k\"}}]}}", -1, "spec.containers[0].resources.memory"},
		{C0 ",\"environmentVariables\":{\"A=B\":\"x\"}}]}}", -1, "spec.containers[0].environmentVariables"},
		{C0 ",\"workingDir\":\"rel\"}]}}", -1, "spec.containers[0].workingDir"},
		{C0 "}],\"maxLifetimeSeconds\":99999999}}", -1, "spec.maxLifetimeSeconds"},
		{C0 "}],\"maxLifetimeSeconds\":1.5}}", -1, "spec.maxLifetimeSeconds"},
		{C0 "}],\"annotations\":{\"sbxd.pids\":\"many\"}}}", -1, "spec.annotations.sbxd.pids"},
		{C0 "}],\"primaryContainer\":\"other\"}}", -1, "spec.primaryContainer"},
		{"{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"\"}]}}", -1, "spec.containers[0].image"},
		{"{\"spec\":{\"containers\":[{\"image\":\"default\"}]}}", -1, "spec.containers[0].name"},
		{"{\"sandboxId\":\"x\",\"spec\":{}}", -1, "sandboxId"},
		{C0 "},{\"name\":\"b\",\"image\":\"default\"}]}}", -2, "spec.containers"},
		{C0 ",\"resources\":{\"gpu\":{\"count\":\"1\"}}}]}}", -2, "spec.containers[0].resources.gpu"},
		{C0 "}],\"volumes\":[{\"name\":\"v\"}]}}", -1, "spec.volumes[0].scratch"},
		{C0 "}],\"volumes\":[{\"name\":\"v\",\"volumeId\":\"p\"}]}}", -2, "spec.volumes[0].volumeId"},
		{C0 "}],\"runnerIds\":[\"r\"]}}", -2, "spec.runnerIds"},
		{C0 "}],\"initContainers\":[{\"name\":\"i\"}]}}", -2, "spec.initContainers"},
		{C0 "}],\"mode\":\"SANDBOX_MODE_CKS\"}}", -2, "spec.mode"},
		{C0 ",\"securityContext\":{}}]}}", -2, "spec.containers[0].securityContext"},
		{"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", -1, ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		srv_spec sp;
		srv_perr err = {"", ""};
		int rc = srv_parse_create(cases[i].body, strlen(cases[i].body), &sp, &err);
		ck_assert_msg(rc == cases[i].rc, "create %s: rc %d: %s", cases[i].body, rc, err.msg);
		if (rc)
			ck_assert_msg(strcmp(err.field, cases[i].field) == 0, "create %s: field [%s] (%s)", cases[i].body,
				      err.field, err.msg);
		srv_spec_free(&sp);
	}
	srv_spec sp;
	srv_perr err;
	const char *b = cases[1].body;
	ck_assert_int_eq(srv_parse_create(b, strlen(b), &sp, &err), 0);
	ck_assert_str_eq(sp.name, "box");
	ck_assert_str_eq(sp.image, "default");
	ck_assert_uint_eq(sp.argv.n, 3);
	ck_assert_str_eq(sp.argv.v[2], "echo");
	ck_assert_ptr_null(sp.argv.v[3]);
	ck_assert_str_eq(sp.working_dir, "/tmp");
	ck_assert_int_eq(sp.cpu_millis, 500);
	ck_assert_int_eq(sp.memory_bytes, 256 << 20);
	ck_assert_int_eq(sp.max_pids, 64);
	ck_assert_int_eq(sp.lifetime_s, 30);
	ck_assert_uint_eq(sp.tags.n, 2);
	ck_assert_str_eq(sp.tags.v[0], "a,b");
	ck_assert_uint_eq(sp.net.negress, 1);
	ck_assert_int_eq(sp.net.egress[0].kind, SRV_EGRESS_ANY);
	ck_assert_str_eq(sp.env.v[0], "K=V");
	ck_assert_ptr_nonnull(sp.pb);
	srv_spec_free(&sp);
	/* Volumes, mounts and files as checked and normalised; args
	 * without a command are the entrypoint's (args_only). */
	b = C0 ",\"args\":[\"x\"],\"volumeMounts\":[{\"volume\":\"v\",\"mountPath\":\"//m/./n/\",\"readOnly\":true,"
	    "\"subPath\":\"a//b/\"}],\"files\":[{\"path\":\"/m/n/f\",\"content\":\"aGk=\"}]}],"
	    "\"volumes\":[{\"name\":\"v\",\"scratch\":{\"size\":\"2Mi\",\"medium\":\"STORAGE_MEDIUM_MEMORY\"}},"
	    "{\"name\":\"w\",\"scratch\":{}}]}}";
	ck_assert_int_eq(srv_parse_create(b, strlen(b), &sp, &err), 0);
	ck_assert_int_eq(sp.args_only, 1);
	ck_assert_uint_eq(sp.argv.n, 1);
	ck_assert_str_eq(sp.argv.v[0], "x");
	ck_assert_uint_eq(sp.nvols, 2);
	ck_assert_int_eq(sp.vols[0].size_bytes, 2 << 20);
	ck_assert_int_eq(sp.vols[0].medium, SRV_MEDIUM_MEMORY);
	ck_assert_int_eq(sp.vols[1].size_bytes, SRV_VOLUME_DEFAULT_BYTES);
	ck_assert_int_eq(sp.vols[1].medium, SRV_MEDIUM_DISK);
	ck_assert_uint_eq(sp.nvmounts, 1);
	ck_assert_str_eq(sp.vmounts[0].mount_path, "/m/n");
	ck_assert_str_eq(sp.vmounts[0].sub_path, "a/b");
	ck_assert_int_eq(sp.vmounts[0].read_only, 1);
	ck_assert_uint_eq(sp.nfiles, 1);
	ck_assert_uint_eq(sp.files[0].len, 2);
	ck_assert_int_eq(memcmp(sp.files[0].data, "hi", 2), 0);
	srv_spec_free(&sp);
}
END_TEST

/* The options as sbxd normalised them (spec.c's srv_netopts_to_pb), as
 * canonical JSON text (malloc'd). */
static char *echo(const srv_netopts *n)
{
	Coreweave__Sandbox__V1__NetworkOptions *pb = srv_netopts_to_pb(n);
	char *txt = NULL;
	size_t len;
	wire_err we;
	ck_assert_ptr_nonnull(pb);
	ck_assert_int_eq(wire_json_encode(&pb->base, NULL, &txt, &len, &we), 0);
	wire_message_free(&pb->base);
	return txt;
}

/* spec.network: the schema's NetworkOptions, strict. rc 0 ok, -1 bad
 * request, -2 (SRV_PARSE_UNSUPPORTED) valid but not for sbxd; the
 * message names the field; echo is what GET shows back. */
START_TEST(t_netopts)
{
	static const struct {
		const char *net;
		int rc;
		const char *part; /* in the message, or in the echo when rc == 0 */
		const char *field; /* when given: exactly the field blamed */
	} cases[] = {
		{"{}", 0, "{}", NULL},
		{"{\"egress\":[]}", 0, "{}", NULL},
		{"{\"egress\":[{\"any\":true}]}", 0, "{\"egress\":[{\"any\":true}]}", NULL},
		{"{\"denyEgress\":true}", 0, "{\"denyEgress\":true}", NULL},
		{"{\"denyIngress\":true,\"ingress\":[]}", 0, "{\"denyIngress\":true}", NULL},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.231.0.0/24\",\"except\":[\"10.231.0.9/32\"]},"
		 "\"ports\":[{\"port\":8000},{\"protocol\":\"udp\",\"port\":53,\"endPort\":54}]}]}",
		 0, "{\"egress\":[{\"cidr\":{\"cidr\":\"10.231.0.0/24\",\"except\":[\"10.231.0.9/32\"]},\"ports\":["
		    "{\"protocol\":\"TCP\",\"port\":8000},{\"protocol\":\"UDP\",\"port\":53,\"endPort\":54}]}]}", NULL},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"2001:DB8::/32\"}}]}", 0, "\"2001:db8::/32\"", NULL},
		{"{\"egress\":[{\"dnsName\":\"pypi.org\"}]}", 0, "{\"egress\":[{\"dnsName\":\"pypi.org\"}]}", NULL},
		{"{\"egress\":[{\"any\":true,\"ports\":[{\"port\":\"443\"}]}]}", 0, "\"port\":443", NULL},
		{"[]", -1, "spec.network", NULL},
		{"{\"egres\":[]}", -1, "spec.network.egres", NULL},
		{"{\"egress\":true}", -1, "spec.network.egress", NULL},
		{"{\"egress\":[{}]}", -1, "network.egress[0] needs a destination", "spec.network.egress[0]"},
		{"{\"egress\":[{\"any\":false}]}", -1, "network.egress[0].any is false", "spec.network.egress[0].any"},
		{"{\"egress\":[{\"any\":true,\"cidr\":{\"cidr\":\"10.0.0.0/8\"}}]}", -1, "spec.network.egress[0].cidr", NULL},
		{"{\"egress\":[{\"any\":true},{\"any\":true,\"port\":1}]}", -1, "spec.network.egress[1].port", NULL},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.1/8\"}}]}", -1, "network.egress[0].cidr.cidr \"10.0.0.1/8\" has bits", NULL},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.0\"}}]}", -1, "network.egress[0].cidr.cidr \"10.0.0.0\" is not a CIDR", NULL},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.0/33\"}}]}", -1, "is not a CIDR", NULL},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.0/+8\"}}]}", -1, "is not a CIDR", NULL},
		{"{\"egress\":[{\"cidr\":{}}]}", -1, "network.egress[0].cidr.cidr is required", "spec.network.egress[0].cidr.cidr"},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.0/8\",\"exept\":[]}}]}", -1, "spec.network.egress[0].cidr.exept", NULL},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"11.0.0.0/16\"]}}]}", -1,
		 "network.egress[0].cidr.except[0] \"11.0.0.0/16\" is not inside 10.0.0.0/8", "spec.network.egress[0].cidr.except[0]"},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"::/0\"]}}]}", -1, "is not inside", NULL},
		{"{\"egress\":[{\"dnsName\":\"bad_name\"}]}", -1, "network.egress[0].dnsName \"bad_name\" is not a DNS name", NULL},
		{"{\"egress\":[{\"dnsName\":\"a..b\"}]}", -1, "is not a DNS name", NULL},
		{"{\"egress\":[{\"any\":true,\"ports\":[{}]}]}", -1, "network.egress[0].ports[0].port is required",
		 "spec.network.egress[0].ports[0].port"},
		{"{\"egress\":[{\"any\":true,\"ports\":[{\"port\":70000}]}]}", -1, "port is required, an integer 1..65535", NULL},
		{"{\"egress\":[{\"any\":true,\"ports\":[{\"port\":80,\"endPort\":79}]}]}", -1, "endPort must be", NULL},
		{"{\"egress\":[{\"any\":true,\"ports\":[{\"port\":80,\"protocol\":\"icmp\"}]}]}", -1, "is not TCP or UDP", NULL},
		{"{\"egress\":[{\"any\":true}],\"denyEgress\":true}", -1, "network.denyEgress is true but", "spec.network.denyEgress"},
		{"{\"denyEgress\":\"yes\"}", -1, "spec.network.denyEgress", NULL},
		{"{\"ingress\":[{\"any\":true}]}", -2, "network.ingress is not supported by sbxd", "spec.network.ingress"},
		{"{\"egress\":[{\"tenant\":\"TENANT_SCOPE_SAME_ORG\"}]}", -2, "network.egress[0].tenant is not supported",
		 "spec.network.egress[0].tenant"},
		{"{\"egress\":[{\"selector\":{\"podLabels\":{\"a\":\"b\"}}}]}", -2, "network.egress[0].selector is not supported", NULL},
		{"{\"egress\":[{\"dnsName\":\"*.example.com\"}]}", -2, "wildcards are not supported", NULL},
		{"{\"egress\":[{\"any\":true,\"ports\":[{\"port\":80,\"protocol\":\"SCTP\"}]}]}", -2, "SCTP is not supported",
		 "spec.network.egress[0].ports[0].protocol"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char body[1024];
		snprintf(body, sizeof body, C0 "}],\"network\":%s}}", cases[i].net);
		srv_spec sp;
		srv_perr pe = {0};
		int rc = srv_parse_create(body, strlen(body), &sp, &pe);
		ck_assert_msg(rc == cases[i].rc, "%s: rc %d, %s", cases[i].net, rc, pe.msg);
		if (rc == 0) {
			char *txt = echo(&sp.net);
			ck_assert_msg(strstr(txt, cases[i].part), "%s: echo %s", cases[i].net, txt);
			/* The normalised form converts back to the same options. */
			srv_netopts again;
			ProtobufCMessage *m = NULL;
			wire_err we;
			ck_assert_int_eq(wire_json_decode(&coreweave__sandbox__v1__network_options__descriptor, txt,
							  strlen(txt), NULL, &m, &we), 0);
			ck_assert_int_eq(srv_netopts_from_pb((const void *)m, "network", &again, &pe), 0);
			char *txt2 = echo(&again);
			ck_assert_str_eq(txt, txt2);
			free(txt);
			free(txt2);
			wire_message_free(m);
			srv_netopts_free(&again);
		} else {
			/* the codec refuses some first: then its path names it */
			ck_assert_msg(strstr(pe.msg, cases[i].part) || strstr(pe.field, cases[i].part), "%s: %s [%s]",
				      cases[i].net, pe.msg, pe.field);
			/* Either way the BadRequest field is the path of the part
			 * to blame, inside spec.network. */
			ck_assert_msg(strncmp(pe.field, "spec.network", 12) == 0, "%s: field [%s]", cases[i].net, pe.field);
			if (cases[i].field)
				ck_assert_str_eq(pe.field, cases[i].field);
		}
		srv_spec_free(&sp);
	}
	/* The caps: rules, port ranges, except entries, each at its limit
	 * and one past it, the field named. */
	static const struct {
		const char *pre, *item, *post;
		int n, rc;
		const char *field;
	} caps[] = {
		{"{\"egress\":[", "{\"any\":true}", "]}", SRV_MAX_EGRESS, 0, ""},
		{"{\"egress\":[", "{\"any\":true}", "]}", SRV_MAX_EGRESS + 1, -1, "spec.network.egress"},
		{"{\"egress\":[{\"any\":true,\"ports\":[", "{\"port\":1}", "]}]}", SRV_MAX_PORTS, 0, ""},
		{"{\"egress\":[{\"any\":true,\"ports\":[", "{\"port\":1}", "]}]}", SRV_MAX_PORTS + 1, -1,
		 "spec.network.egress[0].ports"},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.0/8\",\"except\":[", "\"10.1.0.0/16\"", "]}}]}",
		 SRV_MAX_EXCEPT, 0, ""},
		{"{\"egress\":[{\"cidr\":{\"cidr\":\"10.0.0.0/8\",\"except\":[", "\"10.1.0.0/16\"", "]}}]}",
		 SRV_MAX_EXCEPT + 1, -1, "spec.network.egress[0].cidr.except"},
	};
	for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
		static char body[8192];
		size_t o = (size_t)snprintf(body, sizeof body, C0 "}],\"network\":%s", caps[i].pre);
		for (int k = 0; k < caps[i].n; k++)
			o += (size_t)snprintf(body + o, sizeof body - o, "%s%s", k ? "," : "", caps[i].item);
		o += (size_t)snprintf(body + o, sizeof body - o, "%s}}", caps[i].post);
		ck_assert_uint_lt(o, sizeof body);
		srv_spec sp;
		srv_perr pe = {0};
		int rc = srv_parse_create(body, o, &sp, &pe);
		ck_assert_msg(rc == caps[i].rc, "cap %zu: rc %d %s", i, rc, pe.msg);
		if (rc == 0)
			srv_spec_free(&sp);
		else
			ck_assert_str_eq(pe.field, caps[i].field);
	}
}
END_TEST

START_TEST(t_proc_req)
{
	static const struct {
		const char *body;
		int exec, ok;
		const char *field;  /* the field a refusal names */
	} cases[] = {
		{"{\"command\":[\"true\"]}", 0, 1, ""},
		{"{\"command\":[\"cat\"],\"stdin\":true,\"timeoutSeconds\":5,\"workingDir\":\"/tmp\"}", 0, 1, ""},
		{"{\"sandboxId\":\"x\",\"command\":[\"cat\"],\"env\":{\"K\":\"V\"},\"maxOutputBytes\":10}", 1, 1, ""},
		{"{\"command\":[]}", 0, 0, "command"},
		{"{\"command\":[\"\"]}", 0, 0, "command"},
		{"{}", 0, 0, "command"},
		{"{}", 1, 0, "command"},
		{"{\"command\":\"true\"}", 0, 0, "command"},
		{"{\"command\":[1]}", 0, 0, "command[0]"},
		/* the real ExecRequest has no stdin, cwd or timeout */
		{"{\"command\":[\"cat\"],\"stdin\":\"aGk=\"}", 1, 0, "stdin"},
		{"{\"command\":[\"cat\"],\"workingDir\":\"/\"}", 1, 0, "workingDir"},
		{"{\"command\":[\"cat\"],\"timeoutSeconds\":1}", 1, 0, "timeoutSeconds"},
		{"{\"command\":[\"cat\"],\"maxOutputBytes\":-1}", 1, 0, "maxOutputBytes"},
		{"{\"command\":[\"cat\"],\"maxOutputBytes\":67108865}", 1, 0, "maxOutputBytes"},
		{"{\"command\":[\"cat\"],\"env\":{\"A=B\":\"x\"}}", 1, 0, "env"},
		{"{\"command\":[\"cat\"],\"stdin\":\"aGk=\"}", 0, 0, "stdin"},
		{"{\"command\":[\"x\"],\"timeoutSeconds\":-1}", 0, 0, "timeoutSeconds"},
		{"{\"command\":[\"x\"],\"workingDir\":\"tmp\"}", 0, 0, "workingDir"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		srv_proc_req r;
		srv_perr err = {"", ""};
		int rc = proc_req(cases[i].body, strlen(cases[i].body), cases[i].exec, &r, &err);
		ck_assert_msg((rc == 0) == cases[i].ok, "proc %s: %s", cases[i].body, err.msg);
		if (!cases[i].ok)
			ck_assert_msg(strcmp(err.field, cases[i].field) == 0, "proc %s: field %s, want %s", cases[i].body,
				      err.field, cases[i].field);
		srv_proc_req_free(&r);
	}
	srv_proc_req r;
	srv_perr err;
	const char *b = cases[2].body;
	ck_assert_int_eq(proc_req(b, strlen(b), 1, &r, &err), 0);
	ck_assert_int_eq(r.max_output, 10);
	ck_assert_uint_eq(r.env.n, 1);
	ck_assert_str_eq(r.env.v[0], "K=V");
	ck_assert_int_eq(r.want_stdin, 0);
	srv_proc_req_free(&r);
	/* maxOutputBytes 0 or absent: the default */
	b = "{\"command\":[\"x\"]}";
	ck_assert_int_eq(proc_req(b, strlen(b), 1, &r, &err), 0);
	ck_assert_int_eq(r.max_output, SRV_EXEC_DEFAULT_OUTPUT);
	srv_proc_req_free(&r);
}
END_TEST

START_TEST(t_caps)
{
	/* argv: 4097 entries is one too many */
	size_t n = 4097, len = 0;
	char *b = malloc(n * 4 + 64);
	len += (size_t)snprintf(b, 64, "{\"command\":[");
	for (size_t i = 0; i < n; i++) {
		memcpy(b + len, i ? ",\"x\"" : "\"x\"", i ? 4 : 3);
		len += i ? 4 : 3;
	}
	memcpy(b + len, "]}", 3);
	len += 2;
	srv_proc_req r;
	srv_perr err;
	ck_assert_int_ne(proc_req(b, len, 0, &r, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "4096"));
	free(b);
	/* one argument over 128 KiB */
	size_t big = 130 << 10;
	b = malloc(big + 64);
	len = (size_t)snprintf(b, 64, "{\"command\":[\"");
	memset(b + len, 'a', big);
	len += big;
	memcpy(b + len, "\"]}", 4);
	len += 3;
	ck_assert_int_ne(proc_req(b, len, 0, &r, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "larger"));
	free(b);
}
END_TEST

START_TEST(t_utf8)
{
	static const struct {
		const char *s;
		int ok;
	} strs[] = {
		{"plain", 1}, {"caf\xc3\xa9", 1}, {"\xe2\x82\xac", 1}, {"\xf0\x9f\x98\x80", 1},
		{"\xf4\x8f\xbf\xbf", 1},
		{"\xff", 0}, {"\x80", 0}, {"\xc3", 0}, {"\xc0\xaf", 0}, {"\xe0\x80\xaf", 0},
		{"\xed\xa0\x80", 0}, {"\xf4\x90\x80\x80", 0}, {"\xf8\x88\x80\x80\x80", 0}, {"a\xe2\x82", 0},
	};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
		ck_assert_msg(srv_utf8_valid(strs[i].s, strlen(strs[i].s)) == strs[i].ok, "utf8 case %zu", i);
	char fix[] = "a\xff" "b\xc3\xa9" "c\xe2\x82";
	ck_assert_uint_eq(srv_utf8_fix(fix, strlen(fix)), 3);
	ck_assert_str_eq(fix, "a?b\xc3\xa9" "c??");

	/* JSON strings: the first bad one is named by its path. */
	static const struct {
		const char *json, *field; /* field NULL: accepted */
	} js[] = {
		{"{\"spec\":{\"tags\":[\"a\",\"b\xff\"]}}", "spec.tags[1]"},
		{"{\"spec\":{\"env\":{\"K\":\"\xc3\"}}}", "spec.env.K"},
		{"{\"spec\":{\"env\":{\"K\xff\":\"v\"}}}", "spec.env"},
		{"{\"command\":[\"echo\",\"\xed\xa0\x80\"]}", "command[1]"},
		{"{\"spec\":{\"name\":\"a\\u0000b\"}}", "spec.name"},
		{"{\"a\":[1,{\"b\":[\"x\",\"\x80\"]}]}", "a[1].b[1]"},
		{"{\"path\":\"/x\\\"\xff\"}", "path"},
		{"{\"spec\":{\"tags\":[\"caf\xc3\xa9\"]},\"x\":\"\\u00e9\\ud83d\\ude00\"}", NULL},
	};
	for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
		srv_perr e;
		int rc = srv_json_check(js[i].json, strlen(js[i].json), &e);
		ck_assert_msg((rc == 0) == !js[i].field, "json case %zu: %s", i, e.msg);
		if (js[i].field)
			ck_assert_msg(strcmp(e.field, js[i].field) == 0, "json case %zu: field %s", i, e.field);
	}

	/* Raw URLs: %00 and bad bytes anywhere, path segment or query. */
	static const struct {
		const char *uri, *field;
	} us[] = {
		{"/v1/sandboxes/box%00x", "sandboxId"},
		{"/v1/sandboxes/box%00x:exec", "sandboxId"},
		{"/v1/sandboxes/box/processes/1%00/stdout", "processId"},
		{"/v1/sandboxes/box/processes/1/std%ffout", "url"},
		{"/v1/sandboxes/b\xffox", "sandboxId"},
		{"/v1/sandboxes/box:readFile?path=/a%00b", "path"},
		{"/v1/sandboxes?tags=a%C3", "tags"},
		{"/v1/sandboxes?tags=%C3%A9&x", NULL},
		{"/v1/sandboxes?ta%00gs=a", "query"},
		{"/v1/sandboxes/box:readFile?path=/caf%C3%A9&offset=1", NULL},
		{"/v1/sandboxes/box%", NULL},
		{"/v1/sandboxes/box%0", NULL},
		{"/v1/sandboxes/box%e2%82", "sandboxId"},
	};
	for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
		srv_perr e;
		int rc = srv_uri_check(us[i].uri, &e);
		ck_assert_msg((rc == 0) == !us[i].field, "uri %s: %s", us[i].uri, e.msg);
		if (us[i].field)
			ck_assert_msg(strcmp(e.field, us[i].field) == 0, "uri %s: field %s", us[i].uri, e.field);
	}
}
END_TEST

/* The file calls' and :signal's arguments (fileargs.c): each call's
 * fields after the codec, and what each bad form gets. */
START_TEST(t_file_args)
{
	static const struct {
		srv_route_kind kind;
		const char *body;   /* the request as JSON (a GET's query fields alike) */
		int rc;             /* 0, -1 (400), -ENAMETOOLONG */
		int mode;
		const char *field;  /* the field a refusal names */
	} cases[] = {
		{R_STAT_FILE, "{\"path\":\"/etc\"}", 0, -1, ""},
		{R_STAT_FILE, "{\"path\":\"etc\"}", -1, -1, "path"},
		{R_READ_FILE, "{}", -1, -1, "path"},
		{R_READ_FILE, "{\"path\":\"/x\",\"offset\":\"1\"}", -1, -1, "offset"},
		{R_WRITE_FILE, "{\"path\":\"/x\",\"content\":\"aGk=\"}", 0, -1, ""},
		{R_WRITE_FILE, "{\"path\":\"/x\",\"content\":\"aGk=\",\"mode\":384}", -1, -1, "mode"},
		{R_WRITE_FILE, "{\"path\":\"/x\",\"content\":\"!!\"}", -1, -1, "content"},
		{R_WRITE_FILE_AT, "{\"path\":\"/x\",\"content\":\"aGk=\",\"mode\":384}", 0, 0600, ""},
		{R_WRITE_FILE_AT, "{\"path\":\"/x\",\"mode\":\"420\"}", 0, 0644, ""}, /* proto3 JSON: a number may be a string */
		{R_WRITE_FILE_AT, "{\"path\":\"/x\",\"mode\":4096}", -1, -1, "mode"},
		{R_WRITE_FILE_AT, "{\"path\":\"/x\",\"offset\":-1}", -1, -1, "offset"},
		{R_READ_FILE_RANGE, "{\"path\":\"/x\",\"offset\":\"-1\"}", -1, -1, "offset"},
		{R_READ_FILE_RANGE, "{\"path\":\"/x\",\"length\":\"-1\"}", -1, -1, "length"},
		{R_MAKE_DIR, "{\"path\":\"/d\"}", 0, -1, ""},
		{R_MAKE_DIR, "{\"path\":\"/d\",\"mode\":0}", 0, 0, ""},
		{R_MAKE_DIR, "{\"path\":\"/d\",\"mode\":1e300}", -1, -1, "mode"},
		{R_CREATE_FILE, "{\"path\":\"/f\"}", 0, 0644, ""},
		{R_CREATE_FILE, "{\"path\":\"/f\",\"mode\":4096}", -1, -1, "mode"},
		{R_SET_FILE_ATTRS, "{\"path\":\"/f\",\"uid\":1000,\"modifyTime\":\"now\"}", 0, -1, ""},
		{R_SET_FILE_ATTRS, "{\"path\":\"/f\",\"uid\":-1}", -1, -1, "uid"},
		{R_SET_FILE_ATTRS, "{\"path\":\"/f\",\"uid\":4294967295}", -1, -1, "uid"},
		{R_SET_FILE_ATTRS, "{\"path\":\"/f\",\"accessTime\":\"1969-12-31T23:59:59Z\"}", -1, -1, "accessTime"},
		{R_RENAME_FILE, "{\"path\":\"/a\",\"newPath\":\"/b\",\"noReplace\":true}", 0, -1, ""},
		{R_RENAME_FILE, "{\"path\":\"/a\",\"newPath\":\"b\"}", -1, -1, "newPath"},
		{R_RENAME_FILE, "{\"path\":\"/a\",\"newPath\":\"/b\",\"noReplace\":true,\"exchange\":true}", -1, -1,
		 "exchange"},
		{R_REMOVE_FILE, "{\"path\":7}", -1, -1, "path"},
		{R_REMOVE_FILE, "{\"path\":\"/x\",\"bogus\":true}", -1, -1, "bogus"},
		{R_MAKE_NODE, "{\"path\":\"/p\",\"special\":\"tty\"}", -1, -1, "special"},
		{R_SET_XATTR, "{\"path\":\"/p\",\"name\":\"user.a\",\"create\":true,\"replace\":true}", -1, -1, "replace"},
		{R_GET_XATTR, "{\"path\":\"/p\"}", -1, -1, "name"},
	};
	for (int i = 0; i < N(cases); i++) {
		srv_file_args a;
		srv_perr err = {"", ""};
		ProtobufCMessage *m;
		int rc = file_args(cases[i].kind, cases[i].body, &a, &m, &err);
		ck_assert_msg(rc == cases[i].rc, "case %d: rc %d, want %d (%s)", i, rc, cases[i].rc, err.msg);
		if (rc == 0) {
			ck_assert_int_eq(a.mode, cases[i].mode);
		} else {
			ck_assert(err.msg[0]);
			ck_assert_msg(strcmp(err.field, cases[i].field) == 0, "case %d: field %s, want %s", i, err.field,
				      cases[i].field);
		}
		wire_message_free(m);
	}
	/* a rename's flags; a ranged write's content and offset */
	srv_file_args a;
	srv_perr err;
	ProtobufCMessage *m;
	ck_assert_int_eq(file_args(R_RENAME_FILE, "{\"path\":\"/a\",\"newPath\":\"/b\",\"exchange\":true}", &a, &m, &err), 0);
	ck_assert_uint_eq(a.rename_flags, RENAME_EXCHANGE);
	ck_assert_str_eq(a.new_path, "/b");
	wire_message_free(m);
	ck_assert_int_eq(file_args(R_WRITE_FILE_AT, "{\"path\":\"/a\",\"content\":\"aGk=\",\"offset\":\"3\"}", &a, &m, &err), 0);
	ck_assert_uint_eq(a.len, 2);
	ck_assert(memcmp(a.data, "hi", 2) == 0);
	ck_assert_int_eq(a.offset, 3);
	ck_assert_int_eq(a.truncate, 0); /* at an offset: no truncation unless asked */
	wire_message_free(m);
	ck_assert_int_eq(file_args(R_WRITE_FILE_AT, "{\"path\":\"/a\"}", &a, &m, &err), 0);
	ck_assert_int_eq(a.offset, -1);
	ck_assert_int_eq(a.truncate, 1); /* no offset: the file is replaced */
	wire_message_free(m);
	/* the real WriteFile always replaces the whole file */
	ck_assert_int_eq(file_args(R_WRITE_FILE, "{\"path\":\"/a\",\"sandboxId\":\"s\"}", &a, &m, &err), 0);
	ck_assert_int_eq(a.truncate, 1);
	ck_assert_int_eq(a.offset, -1);
	wire_message_free(m);
	/* ranged reads: 0 or over the cap read the cap */
	ck_assert_int_eq(file_args(R_READ_FILE_RANGE, "{\"path\":\"/a\",\"offset\":\"5\"}", &a, &m, &err), 0);
	ck_assert_int_eq(a.length, SRV_MAX_READ_RANGE);
	ck_assert_int_eq(a.offset, 5);
	wire_message_free(m);
	/* over the kernel's limits: ENAMETOOLONG, the path still set */
	char longp[400] = "{\"path\":\"/";
	size_t k = strlen(longp);
	memset(longp + k, 'a', 256);
	memcpy(longp + k + 256, "\"}", 3);
	ck_assert_int_eq(file_args(R_STAT_FILE, longp, &a, &m, &err), -ENAMETOOLONG);
	ck_assert_int_eq((int)strlen(a.path), 257);
	wire_message_free(m);
	/* :signal */
	Sbxd__Ext__V1__SignalProcessRequest sr = SBXD__EXT__V1__SIGNAL_PROCESS_REQUEST__INIT;
	int sig;
	sr.signal = 9;
	ck_assert_int_eq(srv_signal_from_pb(&sr, &sig, &err), 0);
	ck_assert_int_eq(sig, 9);
	sr.signal = 65;
	ck_assert_int_eq(srv_signal_from_pb(&sr, &sig, &err), -1);
	ck_assert_str_eq(err.field, "signal");
	sr.signal = 0;
	ck_assert_int_eq(srv_signal_from_pb(&sr, &sig, &err), -1);
	ck_assert(err.msg[0]);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("all");
	tcase_add_test(tc, t_cpu);
	tcase_add_test(tc, t_memory);
	tcase_add_test(tc, t_int);
	tcase_add_test(tc, t_time);
	tcase_add_test(tc, t_format_time_gmtime);
	tcase_add_test(tc, t_jsonw_as_cjson);
	tcase_add_test(tc, t_jsonw_cap);
	tcase_add_test(tc, t_depth_names);
	tcase_add_test(tc, t_create);
	tcase_add_test(tc, t_netopts);
	tcase_add_test(tc, t_nul_and_numbers);
	tcase_add_test(tc, t_proc_req);
	tcase_add_test(tc, t_caps);
	tcase_add_test(tc, t_utf8);
	tcase_add_test(tc, t_file_args);
	return unit_run("parse", tc);
}
