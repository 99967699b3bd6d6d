/*
 * Unit tests of the path logic of fs/files.c: joining a directory and a
 * name into a sandbox path, refusing what is not one name, resolving the
 * files/ directory of a sandbox to "/", and the inode table following
 * renames (plain, over a name, exchange, per sandbox).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
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

/* The path an inode resolves to now ("" when it resolves no more). */
static const char *path_of(uint64_t ino, char *buf, size_t cap)
{
	uint32_t slot;
	char *p = NULL;
	buf[0] = '\0';
	if (fs_files_resolve(ino, &slot, &p) == 0)
		snprintf(buf, cap, "%u:%s", slot, p);
	free(p);
	return buf;
}

START_TEST(test_moved)
{
	static const char *const paths[] = {"/a", "/a/b", "/a/b/c", "/ab", "/x", "/y", "/p", "/p/1", "/q"};
	uint64_t ino[N(paths)];
	char b[128];
	for (size_t i = 0; i < N(paths); i++) {
		ino[i] = fs_files_intern(1, paths[i]);
		ck_assert_uint_ne(ino[i], 0);
	}
	uint64_t other = fs_files_intern(2, "/a");
	ck_assert_uint_eq(fs_files_intern(1, "/a/b"), ino[1]);
	/* a tree moves; a name sharing a prefix and another sandbox do not */
	fs_files_moved(1, "/a", "/z", 0);
	ck_assert_str_eq(path_of(ino[0], b, sizeof b), "1:/z");
	ck_assert_str_eq(path_of(ino[1], b, sizeof b), "1:/z/b");
	ck_assert_str_eq(path_of(ino[2], b, sizeof b), "1:/z/b/c");
	ck_assert_str_eq(path_of(ino[3], b, sizeof b), "1:/ab");
	ck_assert_str_eq(path_of(other, b, sizeof b), "2:/a");
	ck_assert_uint_eq(fs_files_intern(1, "/z/b"), ino[1]);
	uint64_t fresh = fs_files_intern(1, "/a");
	ck_assert_uint_ne(fresh, ino[0]);
	/* over an existing name: the old one resolves no more */
	fs_files_moved(1, "/x", "/y", 0);
	ck_assert_str_eq(path_of(ino[4], b, sizeof b), "1:/y");
	ck_assert_str_eq(path_of(ino[5], b, sizeof b), "");
	ck_assert_uint_eq(fs_files_intern(1, "/y"), ino[4]);
	/* exchange swaps the two trees */
	fs_files_moved(1, "/p", "/q", 1);
	ck_assert_str_eq(path_of(ino[6], b, sizeof b), "1:/q");
	ck_assert_str_eq(path_of(ino[7], b, sizeof b), "1:/q/1");
	ck_assert_str_eq(path_of(ino[8], b, sizeof b), "1:/p");
	ck_assert_uint_eq(fs_files_intern(1, "/p"), ino[8]);
	ck_assert_uint_eq(fs_files_intern(1, "/q/1"), ino[7]);
	fs_files_fini();
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
	tcase_add_test(tc, test_moved);
	return unit_run("fs_files", tc);
}
