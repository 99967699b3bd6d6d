/*
 * Unit tests of fs/clone.c, the clone files' write protocol: each case is
 * a list of writes and the requests they must make, and every case is run
 * again with the same bytes in one write and byte by byte, which must give
 * the same requests (what a request is never depends on the cut).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clone.h"

#define MAXW 4

static const struct {
	const char *writes[MAXW];   /* NULL-terminated */
	const char *requests;       /* each request followed by '|' */
	const char *pending;        /* what a close would start (text) or refuse */
} cases[] = {
	{{"{\"command\":[\"true\"]}", NULL}, "{\"command\":[\"true\"]}|", ""},
	{{"{\"a\":1}", "\n", NULL}, "{\"a\":1}|", ""},
	/* one write with an object and more: the rest is a request of its own,
	 * as when it comes in a later write */
	{{"{\"a\":1}}", NULL}, "{\"a\":1}|", "}"},
	{{"{\"a\":1}", "}", NULL}, "{\"a\":1}|", "}"},
	{{"{\"a\":1}{\"b\":2}", NULL}, "{\"a\":1}|{\"b\":2}|", ""},
	{{"{\"a\":1}\n  echo hi\n", NULL}, "{\"a\":1}|", "echo hi\n"},
	/* an empty line is an idle sandbox; text after it its own request */
	{{"\n", NULL}, "\n|", ""},
	{{"\nfoo", NULL}, "\n|", "foo"},
	{{"  \n", "\n", NULL}, "  \n|", ""},
	/* braces inside strings and escapes do not count */
	{{"{\"x\":\"}\\\"}\"", "}", NULL}, "{\"x\":\"}\\\"}\"}|", ""},
	{{"{\"x\":[1,{\"y\":2}]", NULL}, "", "{\"x\":[1,{\"y\":2}]"},
	/* text is text until close, braces and all */
	{{"echo {\n", "}\n", NULL}, "", "echo {\n}\n"},
	{{"printf a\n", "printf b\n", NULL}, "", "printf a\nprintf b\n"},
};

static void run(const char *const *writes, size_t nw, char *got, size_t cap, char *pend)
{
	fs_clone c;
	memset(&c, 0, sizeof c);
	size_t len = 0;
	got[0] = '\0';
	for (size_t i = 0; i < nw; i++) {
		const char *b = writes[i];
		size_t left = strlen(b);
		while (left > 0) {
			int done;
			ssize_t k = fs_clone_add(&c, b, left, 1 << 20, &done);
			ck_assert_int_gt(k, 0);
			if (done) {
				ck_assert_uint_lt(len + c.len + 2, cap);
				memcpy(got + len, c.pend, c.len);
				len += c.len;
				got[len++] = '|';
				got[len] = '\0';
				fs_clone_next(&c);
			}
			b += k;
			left -= (size_t)k;
		}
	}
	snprintf(pend, 256, "%s", c.pend ? c.pend : "");
	fs_clone_clear(&c);
}

START_TEST(test_cases)
{
	char all[256] = "", got[256], pend[256];
	size_t nw = 0;
	while (nw < MAXW && cases[_i].writes[nw])
		nw++;
	run(cases[_i].writes, nw, got, sizeof got, pend);
	ck_assert_str_eq(got, cases[_i].requests);
	ck_assert_str_eq(pend, cases[_i].pending);
	size_t al = 0;
	for (size_t i = 0; i < nw; i++) {
		size_t wl = strlen(cases[_i].writes[i]);
		ck_assert_uint_lt(al + wl, sizeof all);
		memcpy(all + al, cases[_i].writes[i], wl + 1);
		al += wl;
	}
	const char *one[] = {all};
	run(one, 1, got, sizeof got, pend);
	ck_assert_str_eq(got, cases[_i].requests);
	ck_assert_str_eq(pend, cases[_i].pending);
	char bytes[256][2];
	const char *each[256];
	size_t n = strlen(all);
	for (size_t i = 0; i < n; i++) {
		bytes[i][0] = all[i];
		bytes[i][1] = '\0';
		each[i] = bytes[i];
	}
	run(each, n, got, sizeof got, pend);
	ck_assert_str_eq(got, cases[_i].requests);
	ck_assert_str_eq(pend, cases[_i].pending);
}
END_TEST

START_TEST(test_cap)
{
	fs_clone c;
	memset(&c, 0, sizeof c);
	int done;
	ck_assert_int_eq(fs_clone_add(&c, "echo 123456789", 14, 10, &done), -E2BIG);
	ck_assert_int_eq(fs_clone_add(&c, "echo 1", 6, 10, &done), 6);
	ck_assert_int_eq(done, 0);
	ck_assert_int_eq(fs_clone_add(&c, "2345", 5, 10, &done), -E2BIG);
	ck_assert_str_eq(c.pend, "echo 1");
	fs_clone_clear(&c);
	ck_assert_ptr_null(c.pend);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fs-clone");
	TCase *tc = tcase_create("clone");
	tcase_add_loop_test(tc, test_cases, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_cap);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
