/*
 * Unit tests of the file calls (server/files.c) against a temp directory
 * standing in for a sandbox's root: reads, ranged reads, writes (truncate,
 * append, offset, mode), listing, stat, mkdir, remove, and, above all,
 * that no path, "..", absolute or relative symlink leads out of the root;
 * and where a link leads inside it (srv_file_resolve_link).
 */
#include "../unit.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"

static char base[64], rootdir[96], outside[96];
static int root = -1;

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(base, sizeof base, "/tmp/srvfiles.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(rootdir, sizeof rootdir, "%s/root", base);
	snprintf(outside, sizeof outside, "%s/secret", base);
	ck_assert_int_eq(mkdir(rootdir, 0755), 0);
	put(outside, "host secret\n");
	char p[256];
	snprintf(p, sizeof p, "%s/hello", rootdir);
	put(p, "hello world\n");
	snprintf(p, sizeof p, "%s/secret", rootdir);
	put(p, "sandbox file\n");
	snprintf(p, sizeof p, "%s/abs", rootdir);
	ck_assert_int_eq(symlink("/", p), 0);
	snprintf(p, sizeof p, "%s/up", rootdir);
	ck_assert_int_eq(symlink("../..", p), 0);
	snprintf(p, sizeof p, "%s/dir", rootdir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	root = open(rootdir, O_PATH | O_DIRECTORY);
	ck_assert_int_ge(root, 0);
}

static void teardown(void)
{
	close(root);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	ck_assert_int_eq(system(cmd), 0);
}

static char *read_str(const char *path, int64_t off, size_t len, int *rc)
{
	unsigned char *buf = NULL;
	size_t n = 0;
	int64_t size = 0;
	int eof = 0;
	*rc = srv_file_read(root, path, off, len, &buf, &n, &size, &eof);
	if (*rc)
		return NULL;
	char *s = malloc(n + 1);
	memcpy(s, buf, n);
	s[n] = '\0';
	free(buf);
	return s;
}

START_TEST(t_fifo_and_pseudo_fs)
{
	/* A FIFO nobody writes: refused at once, never a hang. */
	char p[256];
	snprintf(p, sizeof p, "%s/fifo", rootdir);
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	unsigned char *buf = NULL;
	size_t n;
	int64_t size;
	int eof;
	ck_assert_int_eq(srv_file_read(root, "/fifo", 0, 16, &buf, &n, &size, &eof), -SRV_ENOTREG);
	ck_assert_ptr_null(buf);
	ck_assert_int_eq(srv_file_write(root, "/fifo", (const unsigned char *)"x", 1, -1, 0, 1, -1), -SRV_ENOTREG);
	/* A symlink to it changes nothing. */
	snprintf(p, sizeof p, "%s/motd", rootdir);
	ck_assert_int_eq(symlink("/fifo", p), 0);
	ck_assert_int_eq(srv_file_read(root, "/motd", 0, 16, &buf, &n, &size, &eof), -SRV_ENOTREG);
	/* A device. */
	int hostroot = open("/", O_PATH | O_DIRECTORY);
	ck_assert_int_ge(hostroot, 0);
	ck_assert_int_eq(srv_file_read(hostroot, "/dev/null", 0, 16, &buf, &n, &size, &eof), -SRV_ENOTREG);
	/* procfs and sysfs, for every kind of call. */
	ck_assert_int_eq(srv_file_read(hostroot, "/proc/self/environ", 0, 16, &buf, &n, &size, &eof),
			 -SRV_EPSEUDO);
	ck_assert_int_eq(srv_file_read(hostroot, "/proc/1/status", 0, 16, &buf, &n, &size, &eof), -SRV_EPSEUDO);
	Sbxd__Ext__V1__ListDirResponse ld = SBXD__EXT__V1__LIST_DIR_RESPONSE__INIT;
	Sbxd__Ext__V1__FileEntry *j = NULL;
	ck_assert_int_eq(srv_file_list(hostroot, "/proc/1", 10, &ld), -SRV_EPSEUDO);
	ck_assert_int_eq(srv_file_list(hostroot, "/sys", 10, &ld), -SRV_EPSEUDO);
	ck_assert_uint_eq(ld.n_entries, 0);
	ck_assert_int_eq(srv_file_stat(hostroot, "/proc/1/environ", &j), -SRV_EPSEUDO);
	ck_assert_int_eq(srv_file_mkdir(hostroot, "/sys/kernel/x", 0755), -SRV_EPSEUDO);
	ck_assert_int_eq(srv_file_remove(hostroot, "/proc/1/x", 0), -SRV_EPSEUDO);
	ck_assert_int_eq(srv_file_write(hostroot, "/proc/sys/kernel/hostname", (const unsigned char *)"x", 1, -1, 0,
					1, -1),
			 -SRV_EPSEUDO);
	ck_assert_ptr_null(j);
	/* /proc itself is a name in /: stat describes it. */
	ck_assert_int_eq(srv_file_stat(hostroot, "/proc", &j), 0);
	srv_entry_free(j);
	close(hostroot);
}
END_TEST

START_TEST(t_confined)
{
	/* every way out lands inside the root: they all read the sandbox's
	 * "secret", never the host's one next to the root */
	static const char *const paths[] = {
		"/secret", "/../secret", "/../../../secret", "/abs/secret", "/up/secret",
		"/up/up/secret", "/dir/../../secret", "/abs/../secret",
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		int rc;
		char *s = read_str(paths[i], 0, 100, &rc);
		ck_assert_msg(rc == 0, "%s: %d", paths[i], rc);
		ck_assert_msg(strcmp(s, "sandbox file\n") == 0, "%s read %s", paths[i], s);
		free(s);
	}
	/* writes through symlinks stay inside too */
	ck_assert_int_eq(srv_file_write(root, "/abs/new", (const unsigned char *)"x", 1, -1, 0, 1, -1), 0);
	ck_assert_int_eq(srv_file_write(root, "/up/../new2", (const unsigned char *)"x", 1, -1, 0, 1, -1), 0);
	char p[256];
	snprintf(p, sizeof p, "%s/new", rootdir);
	ck_assert_int_eq(access(p, F_OK), 0);
	snprintf(p, sizeof p, "%s/new2", rootdir);
	ck_assert_int_eq(access(p, F_OK), 0);
	snprintf(p, sizeof p, "%s/new", base);
	ck_assert_int_ne(access(p, F_OK), 0);
	/* mkdir and remove act inside as well */
	ck_assert_int_eq(srv_file_mkdir(root, "/up/made", 0755), 0);
	snprintf(p, sizeof p, "%s/made", rootdir);
	ck_assert_int_eq(access(p, F_OK), 0);
	ck_assert_int_eq(srv_file_remove(root, "/abs/../secret", 0), 0);
	ck_assert_int_eq(access(outside, F_OK), 0);
	/* /proc-style magic links are refused */
	int rc;
	char *s = read_str("/proc/self/root/etc/hostname", 0, 10, &rc);
	free(s);
	ck_assert_int_ne(rc, 0);
}
END_TEST

START_TEST(t_read_write)
{
	int rc;
	char *s = read_str("/hello", 6, 5, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(s, "world");
	free(s);
	s = read_str("/hello", 100, 5, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(s, "");
	free(s);
	s = read_str("/missing", 0, 5, &rc);
	ck_assert_int_eq(rc, -ENOENT);
	s = read_str("/dir", 0, 5, &rc);
	ck_assert_int_eq(rc, -EISDIR);
	ck_assert_int_eq(srv_file_write(root, "/hello", (const unsigned char *)"HE", 2, 0, 0, 0, -1), 0);
	ck_assert_int_eq(srv_file_write(root, "/hello", (const unsigned char *)"!\n", 2, -1, 1, 0, -1), 0);
	s = read_str("/hello", 0, 100, &rc);
	ck_assert_str_eq(s, "HEllo world\n!\n");
	free(s);
	ck_assert_int_eq(srv_file_write(root, "/hello", (const unsigned char *)"new", 3, -1, 0, 1, 0600), 0);
	s = read_str("/hello", 0, 100, &rc);
	ck_assert_str_eq(s, "new");
	free(s);
	struct stat st;
	char p[256];
	snprintf(p, sizeof p, "%s/hello", rootdir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(srv_file_write(root, "/nodir/x", (const unsigned char *)"", 0, -1, 0, 1, -1), -ENOENT);
}
END_TEST

START_TEST(t_list_stat_rm)
{
	Sbxd__Ext__V1__ListDirResponse *l = malloc(sizeof *l);
	sbxd__ext__v1__list_dir_response__init(l);
	Sbxd__Ext__V1__FileEntry *e = NULL;
	ck_assert_int_eq(srv_file_list(root, "/", 1000, l), 0);
	ck_assert_uint_eq(l->n_entries, 5);
	int saw_link = 0;
	for (size_t i = 0; i < l->n_entries; i++) {
		if (strcmp(l->entries[i]->name, "abs") == 0) {
			ck_assert_int_eq(l->entries[i]->type, SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_SYMLINK);
			saw_link = 1;
		}
	}
	ck_assert(saw_link);
	protobuf_c_message_free_unpacked(&l->base, NULL);
	l = malloc(sizeof *l);
	sbxd__ext__v1__list_dir_response__init(l);
	ck_assert_int_eq(srv_file_list(root, "/", 2, l), 0);
	ck_assert_uint_eq(l->n_entries, 2);
	protobuf_c_message_free_unpacked(&l->base, NULL);
	l = malloc(sizeof *l);
	sbxd__ext__v1__list_dir_response__init(l);
	ck_assert_int_eq(srv_file_list(root, "/hello", 10, l), -ENOTDIR);
	protobuf_c_message_free_unpacked(&l->base, NULL);
	ck_assert_int_eq(srv_file_stat(root, "/abs", &e), 0);
	ck_assert_int_eq(e->type, SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_SYMLINK);
	ck_assert_str_eq(e->name, "abs");
	srv_entry_free(e);
	ck_assert_int_eq(srv_file_stat(root, "/", &e), 0);
	ck_assert_int_eq(e->type, SBXD__EXT__V1__FILE_TYPE__FILE_TYPE_DIRECTORY);
	srv_entry_free(e);
	ck_assert_int_eq(srv_file_stat(root, "/hello/", &e), 0);
	ck_assert_int_eq(e->size, 12);
	srv_entry_free(e);
	ck_assert_int_eq(srv_file_stat(root, "/missing", &e), -ENOENT);
	ck_assert_int_eq(srv_file_mkdir(root, "/dir/a", 0755), 0);
	ck_assert_int_eq(srv_file_mkdir(root, "/dir/a", 0755), -EEXIST);
	ck_assert_int_eq(srv_file_write(root, "/dir/a/f", (const unsigned char *)"x", 1, -1, 0, 1, -1), 0);
	ck_assert_int_eq(srv_file_remove(root, "/dir", 0), -ENOTEMPTY);
	ck_assert_int_eq(srv_file_remove(root, "/dir", 1), 0);
	ck_assert_int_eq(srv_file_stat(root, "/dir", &e), -ENOENT);
	ck_assert_int_eq(srv_file_remove(root, "/", 1), -EINVAL);
	ck_assert_int_eq(srv_file_remove(root, "/..", 1), -EINVAL);
	ck_assert_int_eq(srv_file_remove(root, "/abs", 0), 0); /* the link, not / */
	ck_assert_int_eq(access("/etc", F_OK), 0);
}
END_TEST

/* Where a link leads, walked as the box's kernel would (symlinks followed
 * inside the root except the last component, ".." of "/" is "/", lexical
 * from the first component that is missing or not a directory). */
static const struct {
	const char *path, *target;
	int rc;
	const char *want;
} resolve_cases[] = {
	{"/leak", "s/s/s/s/../../../../secret", 0, "/secret"},
	{"/leak", "rt/rt/rt/../../../../../secret", 0, "/secret"},
	{"/w/a/b/l", "../../../../../../etc", 0, "/etc"},
	{"/w/l", "sl/../b", 0, "/w/b"},
	{"/w/l", "/abs/abs/../secret", 0, "/secret"},
	{"/l", "up/up/x", 0, "/x"},
	{"/l", "missing/../y", 0, "/y"},
	{"/l", "hello/../y", 0, "/y"},
	{"/l", "/w/sl", 0, "/w/sl"},
	{"/l", "/w/sl/", 0, "/w/sl"},
	{"/l", "/w/sl/x", 0, "/w/a/x"},
	{"/l", "/", 0, "/"},
	{"/l", "//", 0, "/"},
	{"/w/a/l", ".", 0, "/w/a"},
	{"/w/sl/l", "..", 0, "/w"},
	{"/w/a/l/", "..", 0, "/w"},
	{"l", "x", 0, "/x"},
	{"/w/sl/l", "../../../../..", 0, "/"},
	{"/l", "loop1/x", -ELOOP, NULL},
};

START_TEST(t_resolve_link)
{
	static const char *const links[][2] = {
		{"s", "."}, {"rt", "/"}, {"w/sl", "a"}, {"loop1", "loop2/x"}, {"loop2", "loop1/x"},
	};
	char p[256];
	snprintf(p, sizeof p, "%s/w", rootdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/w/a", rootdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/w/a/b", rootdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", rootdir, links[i][0]);
		ck_assert_int_eq(symlink(links[i][1], p), 0);
	}
	for (size_t i = 0; i < sizeof resolve_cases / sizeof resolve_cases[0]; i++) {
		char out[4096];
		int rc = srv_file_resolve_link(root, resolve_cases[i].path, resolve_cases[i].target, out);
		ck_assert_msg(rc == resolve_cases[i].rc, "%s -> %s: rc %d", resolve_cases[i].path,
			      resolve_cases[i].target, rc);
		if (resolve_cases[i].want)
			ck_assert_msg(strcmp(out, resolve_cases[i].want) == 0, "%s -> %s: got %s, want %s",
				      resolve_cases[i].path, resolve_cases[i].target, out, resolve_cases[i].want);
	}
	/* statFile adds linkResolved to climbing or absolute texts only */
	Sbxd__Ext__V1__FileEntry *e = NULL;
	snprintf(p, sizeof p, "%s/w/a/b/c", rootdir);
	ck_assert_int_eq(symlink("../../../s/s/../../../etc", p), 0);
	ck_assert_int_eq(srv_file_stat(root, "/w/a/b/c", &e), 0);
	ck_assert_str_eq(e->link_resolved, "/etc");
	srv_entry_free(e);
	ck_assert_int_eq(srv_file_stat(root, "/w/sl", &e), 0);
	ck_assert_str_eq(e->link_resolved, "");
	srv_entry_free(e);
	ck_assert_int_eq(srv_file_stat(root, "/abs", &e), 0);
	ck_assert_str_eq(e->link_resolved, "/");
	srv_entry_free(e);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("all");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_confined);
	tcase_add_test(tc, t_read_write);
	tcase_add_test(tc, t_list_stat_rm);
	tcase_add_test(tc, t_fifo_and_pseudo_fs);
	tcase_add_test(tc, t_resolve_link);
	return unit_run("files", tc);
}
