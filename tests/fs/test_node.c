/*
 * Unit tests of fs/node.c: inode numbers round-trip and reject what no node
 * can be; the fixed names of the tree; process directory names.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node.h"
#include "../unit.h"

static const struct {
	uint32_t slot;
	int64_t pid;
	fs_kind kind;
} ino_cases[] = {
	{0, 0, FS_K_ROOT}, {0, 0, FS_K_ROOT_NEW}, {0, 0, FS_K_ROOT_ERROR}, {1, 0, FS_K_SB_DIR},
	{1, 0, FS_K_SB_STDOUT}, {7, 0, FS_K_EXEC_LAST}, {1, 1, FS_K_P_DIR}, {1, 1, FS_K_P_RC},
	{FS_SLOT_MAX, FS_PID_MAX, FS_K_P_CTL}, {12345, 4096, FS_K_P_STDERR}, {0, 65536, FS_K_SNAP_FILE},
};

START_TEST(test_ino_roundtrip)
{
	uint64_t ino = fs_ino_make(ino_cases[_i].slot, ino_cases[_i].pid, ino_cases[_i].kind);
	uint32_t s;
	int64_t p;
	fs_kind k;
	ck_assert(!fs_ino_is_files(ino));
	ck_assert_int_eq(fs_ino_split(ino, &s, &p, &k), 0);
	ck_assert_uint_eq(s, ino_cases[_i].slot);
	ck_assert(p == ino_cases[_i].pid);
	ck_assert_int_eq(k, ino_cases[_i].kind);
}
END_TEST

START_TEST(test_ino_root_and_bad)
{
	uint32_t s;
	int64_t p;
	fs_kind k;
	ck_assert_uint_eq(fs_ino_make(0, 0, FS_K_ROOT), 1);
	ck_assert_int_eq(fs_ino_split(0, &s, &p, &k), -1);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 0, FS_K_COUNT), &s, &p, &k), -1);
	/* a sandbox file in slot 0, a root file in a sandbox slot */
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 0, FS_K_SB_STATUS), &s, &p, &k), -1);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(3, 0, FS_K_ROOT_NEW), &s, &p, &k), -1);
	/* a process file without a pid, a sandbox file with one */
	ck_assert_int_eq(fs_ino_split(fs_ino_make(3, 0, FS_K_P_STDOUT), &s, &p, &k), -1);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(3, 2, FS_K_SB_STDOUT), &s, &p, &k), -1);
	ck_assert_int_eq(fs_ino_split(FS_INO_FILES_BIT | 5, &s, &p, &k), -1);
	ck_assert(fs_ino_is_files(FS_INO_FILES_BIT | 5));
}
END_TEST

static const struct {
	fs_kind dir;
	const char *name;
	fs_kind want;
} child_cases[] = {
	{FS_K_ROOT, "new", FS_K_ROOT_NEW}, {FS_K_ROOT, "error", FS_K_ROOT_ERROR}, {FS_K_ROOT, "box", FS_K_NONE},
	{FS_K_SB_DIR, "status", FS_K_SB_STATUS}, {FS_K_SB_DIR, "returncode", FS_K_SB_RC},
	{FS_K_SB_DIR, "stdout", FS_K_SB_STDOUT}, {FS_K_SB_DIR, "stderr", FS_K_SB_STDERR},
	{FS_K_SB_DIR, "info", FS_K_SB_INFO}, {FS_K_SB_DIR, "ctl", FS_K_SB_CTL},
	{FS_K_SB_DIR, "error", FS_K_SB_ERROR}, {FS_K_SB_DIR, "exec", FS_K_SB_EXEC},
	{FS_K_SB_DIR, "files", FS_K_SB_FILES}, {FS_K_SB_DIR, "cmd", FS_K_NONE},
	{FS_K_SB_EXEC, "new", FS_K_EXEC_NEW}, {FS_K_SB_EXEC, "last", FS_K_EXEC_LAST},
	{FS_K_SB_EXEC, "1", FS_K_NONE}, {FS_K_P_DIR, "cmd", FS_K_P_CMD}, {FS_K_P_DIR, "stdin", FS_K_P_STDIN},
	{FS_K_P_DIR, "status", FS_K_P_STATUS}, {FS_K_P_DIR, "ctl", FS_K_P_CTL}, {FS_K_P_DIR, "info", FS_K_NONE},
	{FS_K_P_DIR, "", FS_K_NONE}, {FS_K_SB_STATUS, "x", FS_K_NONE},
};

START_TEST(test_child_table)
{
	ck_assert_int_eq(fs_kind_child(child_cases[_i].dir, child_cases[_i].name), child_cases[_i].want);
	if (child_cases[_i].want != FS_K_NONE) {
		ck_assert_str_eq(fs_kind_name(child_cases[_i].want), child_cases[_i].name);
		ck_assert_int_eq(fs_kind_parent(child_cases[_i].want), child_cases[_i].dir);
	}
}
END_TEST

START_TEST(test_children_and_modes)
{
	fs_kind v[32];
	ck_assert_uint_eq(fs_kind_children(FS_K_ROOT, v, 32), 5);       /* new error by-tag images snapshots */
	ck_assert_int_eq(fs_kind_child(FS_K_ROOT, "snapshots"), FS_K_ROOT_SNAPSHOTS);
	ck_assert_int_eq(fs_kind_child(FS_K_SB_DIR, "snapshots"), FS_K_SB_SNAPSHOTS);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 0, FS_K_ROOT_SNAPSHOTS), &(uint32_t){0}, &(int64_t){0}, &(fs_kind){0}), 0);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 0, FS_K_SB_SNAPSHOTS), &(uint32_t){0}, &(int64_t){0}, &(fs_kind){0}), -1);
	/* snapshots/ is a directory: .all its one fixed file, an entry per id
	 * (slot 0, the id's index in the pid field, never without one) */
	ck_assert(S_ISDIR(fs_kind_mode(FS_K_ROOT_SNAPSHOTS)));
	ck_assert(S_ISREG(fs_kind_mode(FS_K_SNAP_FILE)) && (fs_kind_mode(FS_K_SNAP_FILE) & 0222) == 0);
	ck_assert_uint_eq(fs_kind_children(FS_K_ROOT_SNAPSHOTS, v, 32), 1);
	ck_assert_int_eq(v[0], FS_K_SNAP_ALL);
	ck_assert_int_eq(fs_kind_child(FS_K_ROOT_SNAPSHOTS, ".all"), FS_K_SNAP_ALL);
	ck_assert_int_eq(fs_kind_child(FS_K_ROOT_SNAPSHOTS, "fss-0123"), FS_K_NONE);
	ck_assert_int_eq(fs_kind_parent(FS_K_SNAP_FILE), FS_K_ROOT_SNAPSHOTS);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 0, FS_K_SNAP_ALL), &(uint32_t){0}, &(int64_t){0}, &(fs_kind){0}), 0);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 9, FS_K_SNAP_FILE), &(uint32_t){0}, &(int64_t){0}, &(fs_kind){0}), 0);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 0, FS_K_SNAP_FILE), &(uint32_t){0}, &(int64_t){0}, &(fs_kind){0}), -1);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(4, 9, FS_K_SNAP_FILE), &(uint32_t){0}, &(int64_t){0}, &(fs_kind){0}), -1);
	ck_assert(fs_kind_is_dynamic(FS_K_SNAP_FILE) && fs_kind_is_dynamic(FS_K_SNAP_ALL));
	ck_assert_int_eq(fs_kind_child(FS_K_ROOT, "images"), FS_K_ROOT_IMAGES);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 0, FS_K_ROOT_IMAGES), &(uint32_t){0}, &(int64_t){0}, &(fs_kind){0}), 0);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(2, 0, FS_K_ROOT_IMAGES), &(uint32_t){0}, &(int64_t){0}, &(fs_kind){0}), -1);
	ck_assert_uint_eq(fs_kind_children(FS_K_SB_DIR, v, 32), 11);
	ck_assert_uint_eq(fs_kind_children(FS_K_SB_EXEC, v, 32), 2);
	ck_assert_uint_eq(fs_kind_children(FS_K_P_DIR, v, 32), 8);
	ck_assert_uint_eq(fs_kind_children(FS_K_P_DIR, v, 3), 8);       /* count even when short */
	ck_assert_uint_eq(fs_kind_children(FS_K_TAG_DIR, v, 32), 0);    /* only dynamic links */
	/* by-tag nodes: a tag directory has slot 0 and a tag index, a link both */
	uint32_t s;
	int64_t p;
	fs_kind k;
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 7, FS_K_TAG_DIR), &s, &p, &k), 0);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(3, 7, FS_K_TAG_DIR), &s, &p, &k), -1);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(3, 7, FS_K_TAG_LINK), &s, &p, &k), 0);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(3, 0, FS_K_TAG_LINK), &s, &p, &k), -1);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(3, 2, FS_K_P_REASON), &s, &p, &k), 0);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(3, 0, FS_K_SB_TAGS), &s, &p, &k), 0);
	ck_assert_int_eq(fs_ino_split(fs_ino_make(0, 0, FS_K_ROOT_BYTAG), &s, &p, &k), 0);
	ck_assert(S_ISDIR(fs_kind_mode(FS_K_ROOT)));
	ck_assert(S_ISDIR(fs_kind_mode(FS_K_P_DIR)));
	ck_assert(S_ISLNK(fs_kind_mode(FS_K_EXEC_LAST)));
	ck_assert(S_ISREG(fs_kind_mode(FS_K_P_STDOUT)));
	ck_assert((fs_kind_mode(FS_K_P_STDOUT) & 0222) == 0);
	ck_assert((fs_kind_mode(FS_K_P_CTL) & 0444) == 0);
	ck_assert(fs_kind_is_output(FS_K_SB_STDERR) && !fs_kind_is_output(FS_K_P_RC));
	ck_assert(fs_kind_is_dynamic(FS_K_P_RC) && !fs_kind_is_dynamic(FS_K_P_CMD));
}
END_TEST

static const struct {
	const char *name;
	int64_t want;
} pid_cases[] = {
	{"1", 1}, {"42", 42}, {"4294967295", 4294967295LL}, {"4294967296", -1}, {"0", -1},
	{"01", -1}, {"", -1}, {"-1", -1}, {"1a", -1}, {"last", -1}, {"new", -1},
};

START_TEST(test_pid_names)
{
	ck_assert(fs_parse_pid_name(pid_cases[_i].name) == pid_cases[_i].want);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("node");
	tcase_add_loop_test(tc, test_ino_roundtrip, 0, N(ino_cases));
	tcase_add_test(tc, test_ino_root_and_bad);
	tcase_add_loop_test(tc, test_child_table, 0, N(child_cases));
	tcase_add_test(tc, test_children_and_modes);
	tcase_add_loop_test(tc, test_pid_names, 0, N(pid_cases));
	return unit_run("fs_node", tc);
}
