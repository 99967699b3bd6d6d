/*
 * Unit tests of fs/tags.c: which tags can be directory names, that a tag
 * keeps its index while the kernel holds a node carrying it (by-tag/ inode
 * numbers), and that tags nothing names are swept, their indices reused
 * only after a quarantine.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idring.h"
#include "tags.h"

static const struct {
	const char *tag;
	int ok;
} name_cases[] = {
	{"team-a", 1}, {"sbxfs-name=box", 1}, {"a b", 1}, {"", 0}, {".", 0}, {"..", 0}, {"...", 1},
	{"a/b", 0}, {"/", 0},
};

/* The ring every table reuses numbers through: oldest first across
 * growth and wrap-around, empty after clear. */
START_TEST(test_idring)
{
	fs_idring r = {0};
	uint32_t next = 0, want = 0;
	for (int round = 0; round < 5; round++) {
		for (int k = 0; k < 300; k++)
			ck_assert_int_eq(fs_idring_push(&r, next++), 1);
		for (int k = 0; k < 170; k++)
			ck_assert_uint_eq(fs_idring_pop(&r), want++);
	}
	ck_assert_uint_eq(r.len, next - want);
	while (r.len)
		ck_assert_uint_eq(fs_idring_pop(&r), want++);
	ck_assert_uint_eq(want, next);
	fs_idring_clear(&r);
	ck_assert_ptr_null(r.q);
	ck_assert_uint_eq(r.cap, 0);
}
END_TEST

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

START_TEST(test_sweep)
{
	/* one tag the kernel holds (a by-tag/TAG lookup) */
	uint32_t held = fs_tag_intern("held", 4);
	ck_assert_int_eq(fs_tag_ref(held), 0);
	char t[32];
	uint32_t first = fs_tag_intern("gone-0", 6), maxidx = 0;
	/* thousands of tags of sandboxes come and gone (sbxfs-name=...),
	 * interned by listings, never looked up */
	for (int i = 1; i < 20000; i++) {
		int n = snprintf(t, sizeof t, "gone-%d", i);
		uint32_t x = fs_tag_intern(t, (size_t)n);
		ck_assert_uint_ne(x, 0);
		ck_assert_uint_ne(x, held);
		if (x > maxidx)
			maxidx = x;
	}
	ck_assert_uint_lt(fs_tags_used(), 4000);
	ck_assert_uint_lt(maxidx, 6000);
	/* the held one kept its name and index */
	char *n = fs_tag_name(held);
	ck_assert_str_eq(n, "held");
	free(n);
	ck_assert_uint_eq(fs_tag_intern("held", 4), held);
	/* the first was freed: its index names nothing or a later tag, and a
	 * reply about it is refused */
	n = fs_tag_name(first);
	ck_assert(n == NULL || strcmp(n, "gone-0") != 0);
	free(n);
	fs_tag_forget(held, 1);
	fs_tags_fini();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fs-tags");
	TCase *tc = tcase_create("tags");
	tcase_add_loop_test(tc, test_name_ok, 0, sizeof name_cases / sizeof name_cases[0]);
	tcase_add_test(tc, test_intern);
	tcase_add_test(tc, test_idring);
	tcase_add_test(tc, test_sweep);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
