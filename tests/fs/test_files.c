/*
 * Unit tests of the path logic of fs/files.c: joining a directory and a
 * name into a sandbox path, refusing what is not one name, resolving the
 * files/ directory of a sandbox to "/", the symlink rule (which texts may
 * be shown to the kernel and what is shown instead), and the inode table
 * following renames (plain, over a name, exchange, per sandbox).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "node.h"
#include "state.h"
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

/* The rule: which texts the kernel may walk from a directory depth levels
 * below files/ without leaving it. */
static const struct {
	int depth;
	const char *text;
	int safe;
} safe_cases[] = {
	{0, "x", 1},
	{0, "x/y/z", 1},
	{0, "", 1},
	{0, ".", 1},
	{0, "...", 1},
	{0, "x/...", 1},
	{0, "..", 0},
	{1, "..", 1},
	{1, "..//", 1},
	{1, "../..", 0},
	{2, "./.././../x", 1},
	{3, "../../x/./y", 1},
	{5, "a/..", 0},
	{5, "a/b/../c", 0},
	{9, "s/s/../..", 0},                      /* s -> . : no depth gained */
	{9, "rt/rt/../..", 0},                    /* rt -> / */
	{2, "../lib/x", 1},
	{0, "/x", 0},
	{4, "/", 0},
	{1, "../../../../../../tmp/x/secret", 0},
};

START_TEST(test_link_safe)
{
	ck_assert_msg(fs_files_link_safe(safe_cases[_i].depth, safe_cases[_i].text) == safe_cases[_i].safe,
		      "depth %d '%s'", safe_cases[_i].depth, safe_cases[_i].text);
}
END_TEST

/* What readlink shows for a link at path with target (and the service's
 * linkResolved, NULL for none): every result must itself pass the rule
 * at the link's depth, whatever the sandbox or the service said. */
static const struct {
	const char *path, *target, *resolved, *want;
} link_cases[] = {
	/* ordinary links keep their own text */
	{"/bin", "usr/bin", NULL, "usr/bin"},
	{"/tmp/a/r", "rel.txt", NULL, "rel.txt"},
	{"/tmp/a/r", "../b", NULL, "../b"},
	{"/tmp/a/r", "../../etc", NULL, "../../etc"},
	{"/a/b/c", "./../x", NULL, "./../x"},
	{"/w2/bin/y", "../lib/x", NULL, "../lib/x"},
	{"/l", "", NULL, ""},
	/* absolute: relative to the link's directory, climbing to the
	 * common ancestor only */
	{"/bin", "/usr/bin", NULL, "usr/bin"},
	{"/a/b/c", "/x/y", NULL, "../../x/y"},
	{"/a/b/c", "/a/x", NULL, "../x"},
	{"/a/b/c", "/a/b", NULL, "."},
	{"/a/b/c", "/a/b/c", NULL, "c"},
	{"/a/b/c", "/a/b/d/e", "/a/b/d/e", "d/e"},
	{"/tmp/abs", "/etc", NULL, "../etc"},
	{"/tmp/a/root", "/", NULL, "../.."},
	{"/root-link", "/", NULL, "."},
	{"/a/b", "//x//y/", NULL, "../x/y"},
	{"/ab/l", "/abc/x", NULL, "../abc/x"},
	/* climbing past "/": ".." of "/" is "/" */
	{"/tmp/esc", "../../../../etc", NULL, "../etc"},
	{"/x", "..", NULL, "."},
	{"/x", "../..", NULL, "."},
	{"/a/b/c", "../../../../../y/../z", NULL, "../../z"},
	{"/a/b/c/d/l", "../../../../../..", NULL, "../../../.."},
	/* the attacker's chains: s -> . and rt -> / add no depth */
	{"/leak", "s/s/s/s/s/s/../../../../../../tmp/x/secret", NULL, "tmp/x/secret"},
	{"/leak", "s/s/s/s/s/s/../../../../../../tmp/x/secret", "/tmp/x/secret", "tmp/x/secret"},
	{"/w/leak", "../s/s/s/../../../../tmp/x", "/tmp/x", "../tmp/x"},
	{"/rtchain", "rt/rt/rt/../../../tmp/x", "/tmp/x", "tmp/x"},
	{"/w/a/b/thru", "../../a/b/../../../../tmp/x", NULL, "../../../tmp/x"},
	/* ".." after a name: the service's resolution wins over the text */
	{"/w2/bin/fid", "sl/../lib/x", "/w2/lib/x", "../lib/x"},
	{"/w2/bin/fid", "sl/../lib/x", NULL, "lib/x"},
	/* what the service says is normalised again, never trusted */
	{"/a/l", "/x", "/../../../etc/shadow", "../etc/shadow"},
	{"/a/l", "/x", "/a/./../a/y", "y"},
	{"/a/l", "/x", "etc", "../x"},
};

START_TEST(test_link_text)
{
	char *got = NULL;
	int rc = fs_files_link_text(link_cases[_i].path, link_cases[_i].target, link_cases[_i].resolved, &got);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(strcmp(got, link_cases[_i].want) == 0, "%s -> %s: got '%s', want '%s'", link_cases[_i].path,
		      link_cases[_i].target, got, link_cases[_i].want);
	int depth = -1;
	for (const char *p = link_cases[_i].path; *p; p++)
		depth += *p == '/';
	ck_assert_msg(fs_files_link_safe(depth, got), "%s: '%s' fails the rule", link_cases[_i].path, got);
	free(got);
}
END_TEST

/* Texts made of the pieces an attacker uses, at random depths, with and
 * without a (random) linkResolved: whatever comes in, what is shown passes
 * the rule at the link's depth. Seeded, so a failure repeats. */
START_TEST(test_link_text_random)
{
	static const char *const piece[] = {"s", "..", ".", "", "a", "b", "...", "/"};
	unsigned seed = 12345;
	for (int iter = 0; iter < 20000; iter++) {
		char path[128] = "", target[256] = "", res[256] = "";
		size_t pl = 0, tl = 0, rl = 0;
		int depth = (int)(rand_r(&seed) % 5);
		for (int i = 0; i <= depth; i++)
			pl += (size_t)snprintf(path + pl, sizeof path - pl, "/%c", 'a' + (int)(rand_r(&seed) % 3));
		int nt = 1 + (int)(rand_r(&seed) % 12);
		for (int i = 0; i < nt; i++)
			tl += (size_t)snprintf(target + tl, sizeof target - tl, "%s%s", i ? "/" : "",
					       piece[rand_r(&seed) % 8]);
		int with_res = rand_r(&seed) % 2;
		for (int i = 0; with_res && i < 6; i++)
			rl += (size_t)snprintf(res + rl, sizeof res - rl, "/%s", piece[rand_r(&seed) % 8]);
		char *got = NULL;
		int rc = fs_files_link_text(path, target, with_res ? res : NULL, &got);
		ck_assert_int_eq(rc, 0);
		ck_assert_msg(fs_files_link_safe(depth, got), "%s -> %s (%s): '%s' fails the rule", path, target,
			      with_res ? res : "-", got);
		free(got);
	}
}
END_TEST

/* A shown text the kernel could not read whole is refused, never cut
 * (a cut "..." would be a ".."). */
START_TEST(test_link_text_long)
{
	size_t depth = 1400;
	char *path = malloc(depth * 2 + 3);
	size_t o = 0;
	for (size_t i = 0; i < depth; i++) {
		path[o++] = '/';
		path[o++] = 'd';
	}
	memcpy(path + o, "/l", 3);
	char *got = NULL;
	ck_assert_int_eq(fs_files_link_text(path, "/", NULL, &got), -ENAMETOOLONG);
	ck_assert_ptr_null(got);
	/* 100 components in common: 1300 ".." and "x" fit */
	char t[204];
	memcpy(t, path, 200);
	memcpy(t + 200, "/x", 3);
	ck_assert_int_eq(fs_files_link_text(path, t, NULL, &got), 0);
	ck_assert_uint_eq(strlen(got), (depth - 100) * 3 + 1);
	ck_assert(fs_files_link_safe((int)depth, got));
	free(got);
	free(path);
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

/* A node lives while the kernel holds it: counted lookups, freed at the
 * last FORGET (its slot's count goes with it), its index reused only after
 * the quarantine; a node only listed (count 0) goes with its slot. */
START_TEST(test_node_forget)
{
	fs_state_init(NULL);
	fs_state_on_reclaim(fs_files_drop_slot);
	sbx_sandbox b;
	memset(&b, 0, sizeof b);
	b.id = (char *)"sbx-files";
	b.state = SBX_STATE_RUNNING;
	uint32_t slot = fs_state_put_sandbox(&b);
	ck_assert_uint_gt(slot, 0);
	uint32_t base = fs_files_nodes_used();
	uint64_t a = fs_files_intern_ref(slot, "/a");
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_eq(fs_files_intern_ref(slot, "/a"), a);   /* a second lookup */
	ck_assert_int_eq(fs_files_ref(a), 0);                    /* and a READDIRPLUS entry */
	uint64_t listed = fs_files_intern(slot, "/listed");      /* opendir's, never replied */
	fs_files_forget(a, 2);
	uint32_t s2;
	char *p;
	ck_assert_int_eq(fs_files_resolve(a, &s2, &p), 0);
	free(p);
	fs_files_forget(a, 1);
	ck_assert_int_eq(fs_files_resolve(a, &s2, &p), -ENOENT);
	ck_assert_int_eq(fs_files_ref(a), -ENOENT);              /* a late reply: refused */
	ck_assert_uint_eq(fs_files_nodes_used(), base + 1);      /* "/listed" */
	/* thousands of files looked up and forgotten: the table stays small */
	char path[32];
	uint64_t first = 0;
	for (int i = 0; i < 5000; i++) {
		snprintf(path, sizeof path, "/f%d", i);
		uint64_t x = fs_files_intern_ref(slot, path);
		ck_assert_uint_ne(x, 0);
		if (i < 1024)
			ck_assert_uint_ne(x, a);        /* quarantined */
		if (!first)
			first = x;
		else if (i <= 1024)
			ck_assert_uint_ne(x, first);
		fs_files_forget(x, 1);
	}
	ck_assert_uint_eq(fs_files_nodes_used(), base + 1);
	/* the sandbox goes: its listed-only node with it */
	uint64_t held = fs_files_intern_ref(slot, "/held");
	fs_state_hide(slot);
	fs_state_merge_list(NULL, 0, fs_now_ms() + 1);
	ck_assert_int_eq(fs_files_resolve(listed, &s2, &p), 0);  /* slot held by "/held" */
	free(p);
	fs_files_forget(held, 1);
	ck_assert_int_eq(fs_files_resolve(listed, &s2, &p), -ENOENT);
	ck_assert_uint_eq(fs_files_nodes_used(), base);
	fs_files_fini();
	fs_state_fini();
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("files");
	tcase_add_loop_test(tc, test_join, 0, N(join_cases));
	tcase_add_test(tc, test_join_cap);
	tcase_add_loop_test(tc, test_link_safe, 0, N(safe_cases));
	tcase_add_loop_test(tc, test_link_text, 0, N(link_cases));
	tcase_add_test(tc, test_link_text_long);
	tcase_add_test(tc, test_link_text_random);
	tcase_add_test(tc, test_name_len);
	tcase_add_test(tc, test_resolve_root);
	tcase_add_test(tc, test_moved);
	tcase_add_test(tc, test_node_forget);
	return unit_run("fs_files", tc);
}
