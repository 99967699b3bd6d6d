/*
 * Units for server/snapshot.c: a tree of files of several sizes, a sparse
 * one, an empty one, a symlink (absolute, never resolved), hard links,
 * modes (setgid dir, 0555 dir, 0751 file), ns mtimes and a user.* xattr
 * goes through srv_snap_write_tree and srv_snap_unpack_fd and comes back
 * with the same manifest (type, mode, owner, size, mtime, sha256 of the
 * bytes or link text, hard-link groups); a fifo is left out and counted.
 * Hostile archives (made here with libarchive: a symlink then a file
 * through it, "..", an absolute path, a hard link out, a device, a name
 * twice) are refused and nothing lands outside the target (checked in the
 * directory next to it). The store: create -> READY, restore, a tampered
 * archive refused by its digest, another uid sees nothing, records across
 * a close and reopen, a CREATING record at open turned FAILED, delete
 * removes the archive's bytes.
 */
#include "snapshot.h"

#include "../unit.h"

#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static char top[64];

static void mk_top(void)
{
	snprintf(top, sizeof top, "%s", "/tmp/snapunit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
}

static void rm_top(void)
{
	char cmd[2 * PATH_MAX];
	snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s'; rm -rf '%s'", top, top);
	ck_assert_int_eq(system(cmd), 0);
}

static void path_of(char *buf, const char *rel)
{
	snprintf(buf, PATH_MAX, "%s/%s", top, rel);
}

static void put(const char *rel, const void *data, size_t n, mode_t mode)
{
	char p[PATH_MAX];
	path_of(p, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void sha(const void *p, size_t n, char *out)
{
	unsigned char md[32];
	unsigned ml = 0;
	EVP_Digest(p, n, md, &ml, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A line per entry below dir, sorted by name, recursively. */
typedef struct man {
	char *txt;
	size_t len, cap;
	ino_t inos[64];
	int ninos;
} man;

static void add(man *m, const char *s)
{
	size_t n = strlen(s);
	if (m->len + n + 1 > m->cap) {
		m->cap = (m->len + n + 1) * 2;
		m->txt = realloc(m->txt, m->cap);
		ck_assert_ptr_nonnull(m->txt);
	}
	memcpy(m->txt + m->len, s, n + 1);
	m->len += n;
}

static int ino_group(man *m, ino_t ino)
{
	for (int i = 0; i < m->ninos; i++)
		if (m->inos[i] == ino)
			return i;
	m->inos[m->ninos] = ino;
	return m->ninos++;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void manifest(man *m, const char *dir, const char *rel)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, by_name);
	ck_assert_int_ge(n, 0);
	for (int i = 0; i < n; i++) {
		const char *nm = ents[i]->d_name;
		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0) {
			free(ents[i]);
			continue;
		}
		char p[PATH_MAX], r[PATH_MAX], line[PATH_MAX + 256], h[17] = "-";
		snprintf(p, sizeof p, "%s/%s", dir, nm);
		snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", nm);
		struct stat sb;
		ck_assert_int_eq(lstat(p, &sb), 0);
		int grp = -1;
		if (S_ISREG(sb.st_mode)) {
			char *buf = malloc((size_t)sb.st_size + 1);
			int fd = open(p, O_RDONLY);
			ck_assert_int_ge(fd, 0);
			ck_assert_int_eq(read(fd, buf, (size_t)sb.st_size + 1), sb.st_size);
			close(fd);
			sha(buf, (size_t)sb.st_size, h);
			free(buf);
			if (sb.st_nlink > 1)
				grp = ino_group(m, sb.st_ino);
		} else if (S_ISLNK(sb.st_mode)) {
			char t[PATH_MAX];
			ssize_t tl = readlink(p, t, sizeof t);
			ck_assert_int_gt(tl, 0);
			sha(t, (size_t)tl, h);
		}
		char xv[64] = "";
		if (!S_ISLNK(sb.st_mode)) {
			ssize_t xl = lgetxattr(p, "user.snapunit", xv, sizeof xv - 1);
			xv[xl > 0 ? xl : 0] = '\0';
		}
		/* A dir's mtime is compared too: restore sets it last. */
		snprintf(line, sizeof line, "%s %o %u:%u %lld %lld.%09ld %s hl%d x=%s\n", r, sb.st_mode, sb.st_uid,
		         sb.st_gid, S_ISDIR(sb.st_mode) ? 0LL : (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
		         sb.st_mtim.tv_nsec, h, grp, xv);
		add(m, line);
		if (S_ISDIR(sb.st_mode))
			manifest(m, p, r);
		free(ents[i]);
	}
	free(ents);
}

static int xattrs_work;

/* The tree the round trip carries; a fifo that must be left out. */
static void make_tree(void)
{
	char p[PATH_MAX];
	path_of(p, "src");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	put("src/small", "hello\n", 6, 0644);
	put("src/empty", "", 0, 0600);
	size_t big = 3 * 1024 * 1024 + 17;
	unsigned char *b = malloc(big);
	for (size_t i = 0; i < big; i++)
		b[i] = (unsigned char)(i * 2654435761u >> 13);
	put("src/big.bin", b, big, 0751);
	free(b);
	/* sparse: 1 MiB hole then 5 bytes */
	path_of(p, "src/sparse");
	int fd = open(p, O_WRONLY | O_CREAT, 0640);
	ck_assert_int_eq(pwrite(fd, "tail!", 5, 1 << 20), 5);
	close(fd);
	path_of(p, "src/sub");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	path_of(p, "src/sub/deeper");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	put("src/sub/deeper/f", "deep", 4, 0400);
	path_of(p, "src/sub/deeper");
	ck_assert_int_eq(chmod(p, 0555), 0);
	path_of(p, "src/sub");
	ck_assert_int_eq(chmod(p, 02775), 0);
	char q[PATH_MAX];
	path_of(p, "src/small");
	path_of(q, "src/sub/hard");
	ck_assert_int_eq(link(p, q), 0);
	path_of(q, "src/hard2");
	ck_assert_int_eq(link(p, q), 0);
	path_of(p, "src/abs-link");
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	path_of(p, "src/sub/rel-link");
	ck_assert_int_eq(symlink("../big.bin", p), 0);
	path_of(p, "src/fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	path_of(p, "src/big.bin");
	xattrs_work = setxattr(p, "user.snapunit", "v1", 2, 0) == 0;
	struct timespec ts[2] = {{1234567890, 123456789}, {1234567890, 123456789}};
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	path_of(p, "src/abs-link");
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
	path_of(p, "src/sub");
	ck_assert_int_eq(chown(p, 1234, 2345), 0);
	path_of(p, "src/sub");
	ck_assert_int_eq(chmod(p, 02775), 0);
	path_of(p, "src/sub/deeper/f");
	ck_assert_int_eq(chown(p, 4321, 5432), 0);
	path_of(p, "src/sub");
	ts[0].tv_sec = ts[1].tv_sec = 1000000000;
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static int open_dir(const char *rel)
{
	char p[PATH_MAX];
	path_of(p, rel);
	int fd = open(p, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(round_trip)
{
	mk_top();
	make_tree();
	int src = open_dir("src");
	char p[PATH_MAX], digest[72], err[SRV_SNAP_ERRLEN] = "";
	path_of(p, "snap.tar.zst");
	int out = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int64_t data = -1, skipped = -1;
	ck_assert_int_eq(srv_snap_write_tree(src, out, NULL, digest, &data, &skipped, err), 0);
	ck_assert_int_eq(skipped, 1); /* the fifo */
	ck_assert_int_eq(data, 6 + 0 + (3 * 1024 * 1024 + 17) + (1 << 20) + 5 + 4);
	ck_assert_int_eq(strncmp(digest, "sha256:", 7), 0);
	ck_assert_int_eq(strlen(digest), 71);
	struct stat sb;
	ck_assert_int_eq(fstat(out, &sb), 0);
	/* compact: the hard links once, the hole and zeros compressed; the
	 * 3 MiB of patterned bytes are the bulk */
	ck_assert_int_lt(sb.st_size, data);
	path_of(p, "dst");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	int dst = open_dir("dst");
	ck_assert_int_eq(lseek(out, 0, SEEK_SET), 0);
	ck_assert_msg(srv_snap_unpack_fd(out, dst, err) == 0, "%s", err);
	path_of(p, "src/fifo");
	unlink(p);
	man a = {0}, b = {0};
	path_of(p, "src");
	manifest(&a, p, "");
	path_of(p, "dst");
	manifest(&b, p, "");
	ck_assert_str_eq(a.txt, b.txt);
	ck_assert_ptr_nonnull(strstr(b.txt, "sub 42775 1234:2345"));
	ck_assert_ptr_nonnull(strstr(b.txt, "sub/deeper/f 100400 4321:5432"));
	ck_assert_ptr_nonnull(strstr(b.txt, "abs-link 120777"));
	ck_assert_ptr_nonnull(strstr(b.txt, "1234567890.123456789"));
	if (xattrs_work)
		ck_assert_ptr_nonnull(strstr(b.txt, "x=v1"));
	free(a.txt);
	free(b.txt);
	close(src);
	close(dst);
	close(out);
	rm_top();
}
END_TEST

/* Writes a tar with the entries given; type 'f' file, 'l' symlink, 'h'
 * hard link, 'd' dir, 'c' char device. */
static void evil(const char *rel, const char *const *spec)
{
	char p[PATH_MAX];
	path_of(p, rel);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	ck_assert_int_eq(archive_write_open_filename(a, p), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	for (size_t i = 0; spec[i]; i += 3) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, spec[i + 1]);
		char t = spec[i][0];
		archive_entry_set_mode(e, t == 'd' ? AE_IFDIR | 0755 : t == 'l' ? AE_IFLNK | 0777
		                                       : t == 'c' ? AE_IFCHR | 0666 : AE_IFREG | 0644);
		if (t == 'l')
			archive_entry_set_symlink(e, spec[i + 2]);
		if (t == 'h')
			archive_entry_set_hardlink(e, spec[i + 2]);
		if (t == 'c')
			archive_entry_set_rdev(e, makedev(1, 3));
		size_t n = t == 'f' ? strlen(spec[i + 2]) : 0;
		archive_entry_set_size(e, (la_int64_t)n);
		ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
		if (n)
			ck_assert_int_eq(archive_write_data(a, spec[i + 2], n), (la_ssize_t)n);
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
}

static int restore_evil(const char *const *spec, char *err)
{
	char p[PATH_MAX];
	evil("evil.tar", spec);
	path_of(p, "vol");
	char cmd[2 * PATH_MAX];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	int dst = open_dir("vol");
	path_of(p, "evil.tar");
	int fd = open(p, O_RDONLY);
	int rc = srv_snap_unpack_fd(fd, dst, err);
	close(fd);
	close(dst);
	return rc;
}

START_TEST(hostile)
{
	mk_top();
	char p[PATH_MAX], out[PATH_MAX], err[SRV_SNAP_ERRLEN];
	path_of(out, "outside");
	ck_assert_int_eq(mkdir(out, 0700), 0);
	static const char *const through_link[] = {"l", "esc", "", "f", "esc/marker", "pwned", NULL};
	static const char *const dotdot[] = {"f", "../outside/marker", "pwned", NULL};
	static const char *const dotdot2[] = {"d", "a", "", "f", "a/../../outside/marker", "pwned", NULL};
	static const char *const absolute[] = {"f", "/tmp/snapunit-abs-marker", "pwned", NULL};
	static const char *const hard_out[] = {"h", "h", "../outside/victim", NULL};
	static const char *const hard_abs[] = {"h", "h", "/etc/passwd", NULL};
	static const char *const device[] = {"c", "null", "", NULL};
	static const char *const twice[] = {"l", "x", "", "f", "x", "pwned", NULL};
	static const char *const hard_through[] = {"l", "esc", "", "h", "h", "esc/victim", NULL};
	const char *const *cases[] = {through_link, dotdot, dotdot2, absolute, hard_out, hard_abs, device, twice,
	                              hard_through};
	put("outside/victim", "secret", 6, 0600);
	for (int i = 0; i < N(cases); i++) {
		/* the symlinks point at the outside dir */
		const char **c = (const char **)cases[i];
		const char *copy[16];
		int k = 0;
		for (; c[k]; k++)
			copy[k] = c[k];
		copy[k] = NULL;
		for (int j = 0; copy[j]; j += 3)
			if (copy[j][0] == 'l')
				copy[j + 2] = out;
		err[0] = '\0';
		int rc = restore_evil(copy, err);
		ck_assert_msg(rc != 0, "case %d was unpacked", i);
		ck_assert_msg(strstr(err, "refused") != NULL, "case %d: %s", i, err);
		path_of(p, "outside/marker");
		ck_assert_int_ne(access(p, F_OK), 0);
		ck_assert_int_ne(access("/tmp/snapunit-abs-marker", F_OK), 0);
		path_of(p, "vol/h");
		struct stat sb;
		ck_assert_msg(lstat(p, &sb) != 0, "case %d linked a file from outside", i);
		path_of(p, "vol/null");
		ck_assert_int_ne(lstat(p, &sb), 0);
	}
	/* the victim outside is untouched */
	path_of(p, "outside/victim");
	struct stat sb;
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(sb.st_nlink, 1);
	ck_assert_int_eq(sb.st_size, 6);
	rm_top();
}
END_TEST

static void wait_ready(const char *id, srv_snap_info *i)
{
	ck_assert_int_eq(srv_snap_wait_idle(30000), 0);
	ck_assert_int_eq(srv_snap_get(id, 0, i), 0);
}

START_TEST(store)
{
	mk_top();
	make_tree();
	char p[PATH_MAX], state[128], err[SRV_SNAP_ERRLEN] = "";
	path_of(p, "src/fifo");
	unlink(p);
	snprintf(state, sizeof state, "%s/state", top);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	ck_assert_msg(srv_snap_open(state, err) == 0, "%s", err);
	srv_snap_info i, g;
	path_of(p, "src");
	ck_assert_int_eq(srv_snap_create(p, "sbx-1", "data", SRV_SNAP_MANUAL, "req-1", 1000, NULL, &i, err), 0);
	ck_assert_int_eq(i.state, SRV_SNAP_CREATING);
	ck_assert_int_eq(strncmp(i.id, "fss-", 4), 0);
	wait_ready(i.id, &g);
	ck_assert_msg(g.state == SRV_SNAP_READY, "%d %s", g.state, g.reason);
	ck_assert_int_gt(g.size_bytes, 0);
	ck_assert_int_gt(g.complete_ns, 0);
	ck_assert_str_eq(g.sandbox_id, "sbx-1");
	ck_assert_str_eq(g.volume, "data");
	ck_assert_str_eq(g.request_id, "req-1");
	/* other users see nothing; the owner and root do */
	ck_assert_int_eq(srv_snap_get(i.id, 1001, &g), -ENOENT);
	ck_assert_int_eq(srv_snap_get(i.id, 1000, &g), 0);
	ck_assert_int_eq(srv_snap_get("fss-0000000000000000", 0, &g), -ENOENT);
	ck_assert_int_eq(srv_snap_get("../x", 0, &g), -ENOENT);
	int more;
	srv_snap_info l[4];
	ck_assert_int_eq(srv_snap_list(1001, NULL, 0, l, 4, &more), 0);
	ck_assert_int_eq(srv_snap_list(1000, "sbx-1", 0, l, 4, &more), 1);
	ck_assert_int_eq(srv_snap_list(1000, "sbx-2", 0, l, 4, &more), 0);
	ck_assert_int_eq(srv_snap_restore(i.id, 1001, "/nonexistent", err), -ENOENT);
	path_of(p, "dst");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_msg(srv_snap_restore(i.id, 1000, p, err) == 0, "%s", err);
	man a = {0}, b = {0};
	path_of(p, "src");
	manifest(&a, p, "");
	path_of(p, "dst");
	manifest(&b, p, "");
	ck_assert_str_eq(a.txt, b.txt);
	free(a.txt);
	free(b.txt);

	/* across a reopen: the record and its archive */
	srv_snap_close();
	ck_assert_int_eq(srv_snap_open(state, err), 0);
	ck_assert_int_eq(srv_snap_get(i.id, 1000, &g), 0);
	ck_assert_int_eq(g.state, SRV_SNAP_READY);
	ck_assert_int_eq(g.owner, 1000);
	path_of(p, "dst2");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_msg(srv_snap_restore(i.id, 0, p, err) == 0, "%s", err);

	/* a tampered archive: refused by its digest, nothing unpacked */
	char arch[PATH_MAX];
	snprintf(arch, sizeof arch, "%s/snapshots/%s.tar.zst", state, i.id);
	int fd = open(arch, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	path_of(p, "dst3");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(srv_snap_restore(i.id, 0, p, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "digest"));
	path_of(p, "dst3/small");
	ck_assert_int_ne(access(p, F_OK), 0);

	/* a record left CREATING by a crash: FAILED at the next open */
	srv_snap_close();
	char rec[PATH_MAX];
	snprintf(rec, sizeof rec, "%s/snapshots/fss-00000000000000aa.json", state);
	fd = open(rec, O_WRONLY | O_CREAT, 0600);
	const char *txt = "{\"id\":\"fss-00000000000000aa\",\"state\":\"CREATING\",\"owner\":1000,\"seq\":\"7\"}";
	ck_assert_int_eq(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
	close(fd);
	ck_assert_int_eq(srv_snap_open(state, err), 0);
	ck_assert_int_eq(srv_snap_get("fss-00000000000000aa", 1000, &g), 0);
	ck_assert_int_eq(g.state, SRV_SNAP_FAILED);
	ck_assert_ptr_nonnull(strstr(g.reason, "restarted"));
	path_of(p, "dst4");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(srv_snap_restore("fss-00000000000000aa", 1000, p, err), -EAGAIN);

	/* delete: the archive's bytes leave the disk, the id is unknown */
	ck_assert_int_eq(srv_snap_delete(i.id, 1001, &g), -ENOENT);
	ck_assert_int_eq(access(arch, F_OK), 0);
	ck_assert_int_eq(srv_snap_delete(i.id, 1000, &g), 0);
	ck_assert_int_eq(g.state, SRV_SNAP_DELETING);
	ck_assert_int_ne(access(arch, F_OK), 0);
	ck_assert_int_eq(srv_snap_get(i.id, 0, &g), -ENOENT);
	srv_snap_close();
	ck_assert_int_eq(srv_snap_open(state, err), 0);
	ck_assert_int_eq(srv_snap_get(i.id, 0, &g), -ENOENT);
	srv_snap_close();
	rm_top();
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("snapshot");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, hostile);
	tcase_add_test(tc, store);
	return unit_run("snapshot", tc);
}
