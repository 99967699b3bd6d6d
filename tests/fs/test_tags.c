/*
 * Unit tests of fs/tags.c: which tags can be directory names, and that a
 * tag keeps its index for the life of the table (by-tag/ inode numbers).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tags.h"

static const struct {
	const char *tag;
	int ok;
} name_cases[] = {
	{"team-a", 1}, {"sbxfs-name=box", 1}, {"a b", 1}, {"", 0}, {".", 0}, {"..", 0}, {"...", 1},
	{"a/b", 0}, {"/", 0},
};

START_TEST(test_name_ok)
{
	const char *t = name_cases[_i].tag;
	ck_assert_int_eq(fs_tag_name_ok(t, strlen(t)), name_cases[_i].ok);
}
END_TEST

START_TEST(test_intern)
{
	uint32_t a = fs_tag_intern("team-a", 6);
	uint32_t b = fs_tag_intern("gpu", 3);
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_ne(b, 0);
	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(fs_tag_intern("team-a-and-more", 6), a); /* by length, not NUL */
	char *n = fs_tag_name(b);
	ck_assert_str_eq(n, "gpu");
	free(n);
	ck_assert_ptr_null(fs_tag_name(0));
	ck_assert_ptr_null(fs_tag_name(9999));
	ck_assert_uint_eq(fs_tag_intern("a/b", 3), 0);
	char big[FS_TAG_LEN_MAX + 1];
	memset(big, 'x', sizeof big);
	ck_assert_uint_eq(fs_tag_intern(big, sizeof big), 0);
	ck_assert_uint_ne(fs_tag_intern(big, FS_TAG_LEN_MAX), 0);
	fs_tags_fini();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fs-tags");
	TCase *tc = tcase_create("tags");
	tcase_add_loop_test(tc, test_name_ok, 0, sizeof name_cases / sizeof name_cases[0]);
	tcase_add_test(tc, test_intern);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
