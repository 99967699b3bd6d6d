/*
 * Unit tests of the path logic of fs/files.c: joining a directory and a
 * name into a sandbox path, refusing what is not one name, and resolving
 * the files/ directory of a sandbox to "/".
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "node.h"
#include "../unit.h"

static const struct {
	const char *dir, *name, *want;  /* want NULL: refused */
} join_cases[] = {
	{"/", "etc", "/etc"},
	{"/etc", "passwd", "/etc/passwd"},
	{"/etc/", "passwd", "/etc/passwd"},
	{"/a b", "c d", "/a b/c d"},
	{"/", ".", NULL},
	{"/", "..", NULL},
	{"/", "", NULL},
	{"/", "a/b", NULL},
	{"/", "...", "/..."},
	{"/", ".hidden", "/.hidden"},
};

START_TEST(test_join)
{
	char *p = fs_files_join(join_cases[_i].dir, join_cases[_i].name);
	if (!join_cases[_i].want) {
		ck_assert_ptr_null(p);
	} else {
		ck_assert_ptr_nonnull(p);
		ck_assert_str_eq(p, join_cases[_i].want);
	}
	free(p);
}
END_TEST

/* What readlink shows for a link at path with target: every result must
 * resolve inside files/ when followed from the link's directory. */
static const struct {
	const char *path, *target, *want;
} link_cases[] = {
	{"/bin", "/usr/bin", "usr/bin"},
	{"/bin", "usr/bin", "usr/bin"},
	{"/a/b/c", "/x/y", "../../x/y"},
	{"/tmp/abs", "/etc", "../etc"},
	{"/tmp/a/root", "/", "../.."},
	{"/root-link", "/", "."},
	{"/a/b", "//x//y/", "../x//y/"},
	{"/tmp/a/r", "rel.txt", "rel.txt"},
	{"/tmp/a/r", "../b", "../b"},
	{"/tmp/a/r", "../../etc", "../../etc"},
	{"/tmp/esc", "../../../../etc", "../etc"},
	{"/x", "..", "."},
	{"/x", "../..", "."},
	{"/a/b/c", "../../../../../y/../z", "../../z"},
	{"/a/b/c", "./../x", "./../x"},
	{"/l", "", ""},
};

START_TEST(test_link_text)
{
	char *got = fs_files_link_text(link_cases[_i].path, link_cases[_i].target);
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(strcmp(got, link_cases[_i].want) == 0, "%s -> %s: got '%s', want '%s'", link_cases[_i].path,
		      link_cases[_i].target, got, link_cases[_i].want);
	free(got);
}
END_TEST

START_TEST(test_name_len)
{
	char n[300];
	memset(n, 'a', sizeof n);
	n[255] = '\0';
	ck_assert(fs_files_name_ok(n));
	n[255] = 'a';
	n[256] = '\0';
	ck_assert(!fs_files_name_ok(n));
}
END_TEST

START_TEST(test_join_cap)
{
	char *dir = malloc(5000);
	memset(dir, 'd', 4999);
	dir[0] = '/';
	dir[4999] = '\0';
	ck_assert_ptr_null(fs_files_join(dir, "x"));
	dir[4000] = '\0';
	char *p = fs_files_join(dir, "x");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(strlen(p), 4002);
	free(p);
	free(dir);
}
END_TEST

START_TEST(test_resolve_root)
{
	uint32_t slot = 0;
	char *path = NULL;
	ck_assert_int_eq(fs_files_resolve(fs_ino_make(7, 0, FS_K_SB_FILES), &slot, &path), 0);
	ck_assert_uint_eq(slot, 7);
	ck_assert_str_eq(path, "/");
	free(path);
	ck_assert_int_eq(fs_files_resolve(fs_ino_make(7, 0, FS_K_SB_EXEC), &slot, &path), -ENOENT);
	ck_assert_int_eq(fs_files_resolve(FS_INO_FILES_BIT | 12345, &slot, &path), -ENOENT);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("files");
	tcase_add_loop_test(tc, test_join, 0, N(join_cases));
	tcase_add_test(tc, test_join_cap);
	tcase_add_loop_test(tc, test_link_text, 0, N(link_cases));
	tcase_add_test(tc, test_name_len);
	tcase_add_test(tc, test_resolve_root);
	return unit_run("fs_files", tc);
}
