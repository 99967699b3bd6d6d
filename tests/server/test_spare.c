/*
 * Units for server/spare.c, the pool of ready-made files and directories:
 * what it hands out is what openat/mkdirat would have made (mode, empty,
 * existing names kept), it really comes from the pool, it refills, it falls
 * back when the pool cannot serve (empty, other file system), a start
 * empties an earlier run's leftovers, and a take is followed by a quiet
 * time without refills unless less than half of a kind is left.
 */
#include "spare.h"
#include "parse.h"

#include "../unit.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char state[PATH_MAX];
static int dirfd_;

static void setup(void)
{
	snprintf(state, sizeof state, "/tmp/sbx-spare.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(state));
	char p[PATH_MAX + 8];
	snprintf(p, sizeof p, "%s/out", state);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	dirfd_ = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dirfd_, 0);
}

static void teardown(void)
{
	srv_spare_stop();
	close(dirfd_);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf %s", state);
	ck_assert_int_eq(system(cmd), 0);
}

/* Inode numbers of the entries of STATE/spare (not "new"). */
static size_t pool_inodes(ino_t *out, size_t cap)
{
	char p[PATH_MAX + 8];
	snprintf(p, sizeof p, "%s/spare", state);
	DIR *d = opendir(p);
	ck_assert_ptr_nonnull(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strcmp(e->d_name, "new") != 0 && n < cap)
			out[n++] = e->d_ino;
	closedir(d);
	return n;
}

/* Waits (up to 5 s) until the pool holds at least want entries. */
static size_t wait_pool(size_t want)
{
	ino_t ino[64];
	size_t n = 0;
	for (int i = 0; i < 500 && (n = pool_inodes(ino, 64)) < want; i++)
		usleep(10000);
	return n;
}

static int in(ino_t x, const ino_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

START_TEST(test_from_pool)
{
	char err[SRV_MSGLEN];
	ck_assert_int_eq(srv_spare_start(state, err), 0);
	ck_assert_uint_ge(wait_pool(24), 24); /* 16 files + 8 directories */
	ino_t before[64];
	size_t n = pool_inodes(before, 64);

	ck_assert_int_eq(srv_spare_mkdir(dirfd_, "box"), 0);
	struct stat sb;
	ck_assert_int_eq(fstatat(dirfd_, "box", &sb, 0), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	ck_assert_msg(in(sb.st_ino, before, n), "the directory was not a spare");
	ck_assert_int_eq(srv_spare_mkdir(dirfd_, "box"), -1);
	ck_assert_int_eq(errno, EEXIST);

	int fd = srv_spare_open(dirfd_, "rec", O_WRONLY | O_APPEND | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(sb.st_size, 0);
	ck_assert_msg(in(sb.st_ino, before, n), "the file was not a spare");
	ck_assert_int_eq(write(fd, "kept", 4), 4);
	close(fd);
	/* An existing name is opened, never replaced by a spare. */
	fd = srv_spare_open(dirfd_, "rec", O_RDONLY | O_CLOEXEC);
	char buf[8] = "";
	ck_assert_int_eq(read(fd, buf, sizeof buf), 4);
	ck_assert_int_eq(memcmp(buf, "kept", 4), 0);
	close(fd);
	fd = srv_spare_open(dirfd_, "rec", O_WRONLY | O_TRUNC | O_CLOEXEC);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_int_eq(sb.st_size, 0);
	close(fd);

	/* The pool refills what was taken. */
	ck_assert_uint_ge(wait_pool(24), 24);
}
END_TEST

START_TEST(test_burst_and_fallback)
{
	char err[SRV_MSGLEN], name[32];
	ck_assert_int_eq(srv_spare_start(state, err), 0);
	/* Far more than the pool holds, as fast as possible: every call
	 * succeeds, from the pool or by creating. */
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof name, "f%d", i);
		int fd = srv_spare_open(dirfd_, name, O_WRONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		close(fd);
		snprintf(name, sizeof name, "d%d", i);
		ck_assert_int_eq(srv_spare_mkdir(dirfd_, name), 0);
	}
	ck_assert_uint_ge(wait_pool(24), 24);
	/* Opening existing names, as every record save after the second
	 * does, takes nothing from the pool and leaves nothing in it. */
	for (int i = 0; i < 500; i++) {
		int fd = srv_spare_open(dirfd_, "f1", O_WRONLY | O_TRUNC | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		close(fd);
		ck_assert_int_eq(srv_spare_mkdir(dirfd_, "d1"), -1);
	}
	ino_t ino[64];
	ck_assert_uint_eq(wait_pool(24), 24);
	/* Another file system: the rename cannot serve, openat does, and
	 * the pool turns itself off (a plain create from then on). */
	char shm[] = "/dev/shm/sbx-spare.XXXXXX";
	if (mkdtemp(shm)) {
		int other = open(shm, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ck_assert_int_ge(other, 0);
		int fd = srv_spare_open(other, "x", O_WRONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		close(fd);
		ck_assert_int_eq(srv_spare_mkdir(other, "y"), 0);
		ck_assert_int_eq(unlinkat(other, "x", 0), 0);
		ck_assert_int_eq(unlinkat(other, "y", AT_REMOVEDIR), 0);
		close(other);
		ck_assert_int_eq(rmdir(shm), 0);
		size_t n = pool_inodes(ino, 64);
		int fd2 = srv_spare_open(dirfd_, "after", O_WRONLY | O_CLOEXEC);
		struct stat sb;
		ck_assert_int_eq(fstat(fd2, &sb), 0);
		close(fd2);
		ck_assert_msg(!in(sb.st_ino, ino, n), "a spare served after the pool turned off");
	}
}
END_TEST

START_TEST(test_restart_empties)
{
	char err[SRV_MSGLEN], p[PATH_MAX + 32];
	ck_assert_int_eq(srv_spare_start(state, err), 0);
	ck_assert_uint_ge(wait_pool(24), 24);
	srv_spare_stop();
	/* Leftovers of a crash: a spare someone wrote into, a stray dir. */
	snprintf(p, sizeof p, "%s/spare/f999999", state);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs("junk", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/spare/new/d999999", state);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(srv_spare_start(state, err), 0);
	snprintf(p, sizeof p, "%s/spare/f999999", state);
	ck_assert_int_ne(access(p, F_OK), 0);
	snprintf(p, sizeof p, "%s/spare/new/d999999", state);
	ck_assert_int_ne(access(p, F_OK), 0);
	ck_assert_uint_ge(wait_pool(24), 24);
	/* Nothing taken from a stopped pool: plain creates. */
	srv_spare_stop();
	int fd = srv_spare_open(dirfd_, "late", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(srv_spare_mkdir(dirfd_, "lated"), 0);
}
END_TEST

/* Entries of STATE/spare named KIND... (f: files, d: directories). */
static size_t pool_count(char kind)
{
	char p[PATH_MAX + 8];
	snprintf(p, sizeof p, "%s/spare", state);
	DIR *d = opendir(p);
	ck_assert_ptr_nonnull(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] == kind && strcmp(e->d_name, "new") != 0)
			n++;
	closedir(d);
	return n;
}

START_TEST(test_quiet_after_take)
{
	char err[SRV_MSGLEN], name[32];
	ck_assert_int_eq(srv_spare_start(state, err), 0);
	ck_assert_uint_ge(wait_pool(24), 24);
	/* A create's takes (a directory, a file): no refill for 20 ms, so
	 * none 8 ms later (a loaded machine can only make it later). */
	ck_assert_int_eq(srv_spare_mkdir(dirfd_, "box"), 0);
	int fd = srv_spare_open(dirfd_, "rec", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	close(fd);
	usleep(8000);
	ck_assert_uint_eq(pool_count('f'), 15);
	ck_assert_uint_eq(pool_count('d'), 7);
	ck_assert_uint_ge(wait_pool(24), 24); /* and then it refills */
	/* Below half, the refill does not wait: takes every 5 ms (each
	 * starting a quiet time again) do not hold it off. */
	for (int i = 0; i < 9; i++) {
		snprintf(name, sizeof name, "f%d", i);
		fd = srv_spare_open(dirfd_, name, O_WRONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	int i = 0;
	for (; i < 600 && pool_count('f') < 8; i++) {
		snprintf(name, sizeof name, "d%d", i);
		ck_assert_int_eq(srv_spare_mkdir(dirfd_, name), 0);
		usleep(5000);
	}
	ck_assert_msg(pool_count('f') >= 8, "takes every 5 ms kept a pool below half from refilling");
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("pool");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_from_pool);
	tcase_add_test(tc, test_burst_and_fallback);
	tcase_add_test(tc, test_restart_empties);
	tcase_add_test(tc, test_quiet_after_take);
	return unit_run("spare", tc);
}
