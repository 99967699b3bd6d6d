/*
 * The snapshot store (snapshot.h): scratch volumes' directories written as
 * zstd-compressed pax tars by libarchive into STATE_DIR/snapshots, one
 * JSON record beside each, a worker thread that takes the snapshots, and
 * the confined unpacking of restores. The directory being archived belongs
 * to a sandbox, so it is hostile: every open goes through openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV from the volume's
 * own fd, files are opened O_NOFOLLOW | O_NONBLOCK and checked with fstat
 * (a fifo planted there must not hang the worker), and only what the fd
 * says is written. An archive is input too (a store on disk can be
 * tampered with): its digest is checked first, then each entry is unpacked
 * below the target's fd with the same confinement, devices refused.
 */
#include "snapshot.h"

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "beneath.h"
#include "parse.h"

#define SNAP_MAX_DEPTH 256
#define SNAP_XATTR_MAX 65536          /* bytes of one xattr value kept */
#define SNAP_XATTR_LIST 65536         /* bytes of one file's xattr names */
#define SNAP_XATTR_TOTAL (1 << 20)    /* bytes of one file's xattrs, names and values */
#define SNAP_RECORD_MAX 16384         /* bytes of one record file */
#define SNAP_BUF (1 << 17)
#define SNAP_FREE_EVERY (1 << 20)     /* archive bytes between looks at free space */
/* A user other than root (the operator) holds at most this part of the
 * store: its records and the state dir's disk. The store and the disk
 * are every user's, and without a share one user's snapshots filled
 * both for all (4096 records; the disk down to --min-free). */
#define SNAP_USER_PART 4
#define SNAP_USER_MAX (SRV_SNAP_MAX / SNAP_USER_PART)

/* The state dir's free-space floor (srv_snap_set_min_free): bytes. */
static volatile int64_t snap_min_free;

void srv_snap_set_min_free(int64_t bytes)
{
	snap_min_free = bytes > 0 ? bytes : 0;
}

static int errf(char *err, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, int e, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(err, SRV_SNAP_ERRLEN, fmt, ap);
		va_end(ap);
		if (e > 0 && n >= 0 && n < SRV_SNAP_ERRLEN)
			snprintf(err + n, (size_t)(SRV_SNAP_ERRLEN - n), ": %s", strerror(e));
		srv_utf8_fix(err, strlen(err));
	}
	return e > 0 ? -e : -EBADMSG;
}

/* ------------------------------------------------------------ writing */

typedef struct hlink {
	dev_t dev;
	ino_t ino;
	char *path;
} hlink;

typedef struct walker {
	struct archive *a;
	struct archive_entry *e;
	const volatile int *cancel;
	int64_t data, skipped, entries;
	hlink *hl;
	size_t nhl, caphl;
	char *buf;
	char *err;
	/* the archive's bytes as they go out: counted, hashed, written */
	int outfd;
	EVP_MD_CTX *md;
	int64_t out_bytes;
	int64_t next_look;  /* out_bytes at which free space is looked at again */
	int64_t data_cap;   /* file bytes the source volume can hold */
	int64_t out_cap;    /* archive bytes the owner's share has left; -1: no share */
	int werr;
	int low_disk;       /* werr is the free-space floor, not the disk's */
	int over_share;     /* werr is the owner's share of the disk */
} walker;

static la_ssize_t out_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
	(void)a;
	walker *w = ctx;
	const char *p = buf;
	size_t left = n;
	if (w->out_cap >= 0 && w->out_bytes + (int64_t)n > w->out_cap) {
		w->werr = ENOSPC;
		w->over_share = 1;
		return -1;
	}
	/* The archive goes to the state dir's disk, as the spools do: below
	 * the same floor it stops, so snapshots cannot fill the host's disk
	 * for every sandbox's output and records. */
	if (w->out_bytes >= w->next_look) {
		struct statvfs vfs;
		int64_t floor = snap_min_free;
		w->next_look = w->out_bytes + SNAP_FREE_EVERY;
		if (floor > 0 && fstatvfs(w->outfd, &vfs) == 0 &&
		    (uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)floor + n) {
			w->werr = ENOSPC;
			w->low_disk = 1;
			return -1;
		}
	}
	while (left) {
		ssize_t k = write(w->outfd, p, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			w->werr = errno;
			return -1;
		}
		p += k;
		left -= (size_t)k;
	}
	EVP_DigestUpdate(w->md, buf, n);
	w->out_bytes += (int64_t)n;
	return (la_ssize_t)n;
}

/* Files with more than one link, by (dev, ino): an open-addressing table
 * (caphl a power of two, at most half full), so a volume of 500,000 linked
 * pairs costs a lookup each, not a scan of all before it (the list this
 * was took 3 s for 40,000 pairs, 25 times as long for five times more). */
static size_t hl_slot(const hlink *t, size_t cap, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)dev * 0xc2b2ae3d27d4eb4fULL);
	size_t k = (size_t)(h ^ (h >> 29)) & (cap - 1);
	while (t[k].path && !(t[k].ino == ino && t[k].dev == dev))
		k = (k + 1) & (cap - 1);
	return k;
}

static const char *hl_find(walker *w, const struct stat *sb)
{
	return w->caphl ? w->hl[hl_slot(w->hl, w->caphl, sb->st_dev, sb->st_ino)].path : NULL;
}

static void hl_add(walker *w, const struct stat *sb, const char *path)
{
	if (2 * (w->nhl + 1) > w->caphl) {
		size_t nc = w->caphl ? w->caphl * 2 : 64;
		hlink *n = nc <= 4 * (size_t)SRV_SNAP_MAX_ENTRIES ? calloc(nc, sizeof *n) : NULL;
		if (!n)
			return; /* stored as separate files then: still correct bytes */
		for (size_t i = 0; i < w->caphl; i++)
			if (w->hl[i].path)
				n[hl_slot(n, nc, w->hl[i].dev, w->hl[i].ino)] = w->hl[i];
		free(w->hl);
		w->hl = n;
		w->caphl = nc;
	}
	char *p = strdup(path);
	if (!p)
		return;
	w->hl[hl_slot(w->hl, w->caphl, sb->st_dev, sb->st_ino)] = (hlink){sb->st_dev, sb->st_ino, p};
	w->nhl++;
}

/* user.* xattrs of fd into the entry (others are the kernel's or need
 * privileges a restore should not grant). */
static int add_xattrs(walker *w, int fd, const char *path)
{
	char names[SNAP_XATTR_LIST];
	ssize_t n = flistxattr(fd, names, sizeof names);
	if (n <= 0)
		return 0;
	size_t total = 0;
	for (ssize_t off = 0; off < n;) {
		const char *nm = names + off;
		size_t nl = strnlen(nm, (size_t)(n - off));
		off += (ssize_t)nl + 1;
		if (strncmp(nm, "user.", 5) != 0)
			continue;
		ssize_t vl = fgetxattr(fd, nm, w->buf, SNAP_XATTR_MAX);
		if (vl < 0)
			continue;
		/* libarchive keeps every value and builds the pax header in
		 * memory: 4,900 values of 64 KiB on one file (313 MB, the
		 * box's kernel memory) took sbxd to 1.4 GB. */
		total += nl + (size_t)vl;
		if (total > SNAP_XATTR_TOTAL)
			return errf(w->err, 0, "%.200s: its user.* xattrs are over %d bytes", path, SNAP_XATTR_TOTAL);
		archive_entry_xattr_add_entry(w->e, nm, w->buf, (size_t)vl);
	}
	return 0;
}

static void entry_from_stat(struct archive_entry *e, const char *path, const struct stat *sb)
{
	archive_entry_clear(e);
	archive_entry_set_pathname(e, path);
	archive_entry_set_mode(e, sb->st_mode);
	archive_entry_set_uid(e, sb->st_uid);
	archive_entry_set_gid(e, sb->st_gid);
	archive_entry_set_mtime(e, sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec);
	archive_entry_set_size(e, 0);
}

/* Why the archive could not be written: the disk, the floor, libarchive. */
static int write_err(walker *w, const char *path)
{
	if (w->low_disk)
		return errf(w->err, 0, "the state directory has less than %lld bytes free (sbxd --min-free)",
		            (long long)snap_min_free);
	if (w->over_share)
		return errf(w->err, 0, "your snapshots would hold more than a user's share of the store "
		            "(1/%d of the state directory's disk): delete some", SNAP_USER_PART);
	if (w->werr)
		return errf(w->err, w->werr, "writing the archive");
	return errf(w->err, EIO, "%.200s: %s", path ? path : "archive", archive_error_string(w->a));
}

static int put_header(walker *w, const char *path)
{
	if (archive_write_header(w->a, w->e) != ARCHIVE_OK)
		return write_err(w, path);
	return 0;
}

static int put_file(walker *w, int fd, const char *path, const struct stat *sb)
{
	const char *first = sb->st_nlink > 1 ? hl_find(w, sb) : NULL;
	entry_from_stat(w->e, path, sb);
	if (first) {
		archive_entry_set_hardlink(w->e, first);
		return put_header(w, path);
	}
	/* A sparse file is read and stored whole (its holes as zeros), and a
	 * tmpfs lets a file's size run far past the volume's: a 64 MiB volume
	 * held 64 GiB of holes, 12 s of the one worker and 2 MB of archive,
	 * without bound in files. No snapshot holds more file bytes than the
	 * volume could (nor could such a one be restored into it). */
	if (sb->st_size > w->data_cap - w->data)
		return errf(w->err, 0, "%.200s: the files add up to more than the volume's %lld bytes "
		            "(sparse files count their full size)", path, (long long)w->data_cap);
	if (sb->st_nlink > 1)
		hl_add(w, sb, path);
	archive_entry_set_size(w->e, sb->st_size);
	int rc = add_xattrs(w, fd, path);
	if (rc == 0)
		rc = put_header(w, path);
	if (rc)
		return rc;
	/* The header has the size: a file that grows meanwhile is cut there,
	 * one that shrinks is padded with zeros (a sandbox may still write). */
	int64_t left = sb->st_size;
	while (left > 0) {
		if (w->cancel && *w->cancel)
			return -ECANCELED;
		size_t want = left < SNAP_BUF ? (size_t)left : SNAP_BUF;
		ssize_t k = read(fd, w->buf, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errf(w->err, errno, "read %.200s", path);
		if (k == 0) {
			memset(w->buf, 0, want);
			k = (ssize_t)want;
		}
		if (archive_write_data(w->a, w->buf, (size_t)k) != k)
			return write_err(w, path);
		left -= k;
	}
	w->data += sb->st_size;
	return 0;
}

static int walk(walker *w, int dfd, char *path, size_t plen, int depth)
{
	if (depth > SNAP_MAX_DEPTH)
		return errf(w->err, ELOOP, "over %d directory levels", SNAP_MAX_DEPTH);
	int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	if (!d) {
		if (dup >= 0)
			close(dup);
		return errf(w->err, errno, "open dir %.200s", plen ? path : ".");
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		const char *nm = de->d_name;
		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
			continue;
		if (w->cancel && *w->cancel) {
			rc = -ECANCELED;
			break;
		}
		if (++w->entries > SRV_SNAP_MAX_ENTRIES) {
			rc = errf(w->err, 0, "over %d entries", SRV_SNAP_MAX_ENTRIES);
			break;
		}
		size_t nl = strlen(nm);
		if (plen + nl + 2 > PATH_MAX) {
			rc = errf(w->err, ENAMETOOLONG, "%.200s/%.50s", path, nm);
			break;
		}
		size_t np = plen;
		if (np)
			path[np++] = '/';
		memcpy(path + np, nm, nl + 1);
		np += nl;
		struct stat sb;
		if (fstatat(dfd, nm, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT) /* gone meanwhile: not in the snapshot */
				rc = errf(w->err, errno, "stat %.200s", path);
		} else if (S_ISDIR(sb.st_mode)) {
			int fd = srv_open_beneath(dfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 1);
			if (fd < 0) {
				if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
					rc = errf(w->err, errno, "open %.200s", path);
			} else {
				if (fstat(fd, &sb) == 0) {
					entry_from_stat(w->e, path, &sb);
					rc = add_xattrs(w, fd, path);
					if (rc == 0)
						rc = put_header(w, path);
					if (rc == 0)
						rc = walk(w, fd, path, np, depth + 1);
				}
				close(fd);
			}
		} else if (S_ISREG(sb.st_mode)) {
			int fd = srv_open_beneath(dfd, nm, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 1);
			if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
				rc = put_file(w, fd, path, &sb);
			else if (fd < 0 && errno != ENOENT && errno != ELOOP)
				rc = errf(w->err, errno, "open %.200s", path);
			else
				w->skipped++; /* swapped for something else meanwhile */
			if (fd >= 0)
				close(fd);
		} else if (S_ISLNK(sb.st_mode)) {
			char target[PATH_MAX];
			ssize_t tl = readlinkat(dfd, nm, target, sizeof target - 1);
			if (tl > 0) {
				target[tl] = '\0';
				entry_from_stat(w->e, path, &sb);
				archive_entry_set_symlink(w->e, target);
				rc = put_header(w, path);
			} else {
				w->skipped++;
			}
		} else {
			w->skipped++; /* devices, fifos, sockets: not in a snapshot */
		}
		path[plen] = '\0';
	}
	if (rc == 0 && errno)
		rc = errf(w->err, errno, "read dir %.200s", plen ? path : ".");
	closedir(d);
	return rc;
}

static void hex(const unsigned char *md, unsigned n, char *out)
{
	static const char x[] = "0123456789abcdef";
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = x[md[i] >> 4];
		out[2 * i + 1] = x[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* srv_snap_write_tree with at most out_cap archive bytes (-1: no cap). */
static int write_tree(int srcfd, int outfd, const volatile int *cancel, char *digest, int64_t *data_bytes,
                      int64_t *skipped, int64_t out_cap, char *err)
{
	walker w;
	memset(&w, 0, sizeof w);
	w.out_cap = out_cap;
	w.cancel = cancel;
	w.err = err;
	w.outfd = outfd;
	/* The source's own size bounds its data (a volume is a tmpfs of
	 * size=); a tree that says nothing is bounded by the store's cap. */
	struct statvfs svfs;
	w.data_cap = SRV_SNAP_MAX_DATA;
	if (fstatvfs(srcfd, &svfs) == 0 && svfs.f_blocks > 0 &&
	    (uint64_t)svfs.f_blocks * svfs.f_frsize < (uint64_t)SRV_SNAP_MAX_DATA)
		w.data_cap = (int64_t)((uint64_t)svfs.f_blocks * svfs.f_frsize);
	int rc = -ENOMEM;
	w.buf = malloc(SNAP_BUF > SNAP_XATTR_MAX ? SNAP_BUF : SNAP_XATTR_MAX);
	w.md = EVP_MD_CTX_new();
	w.a = archive_write_new();
	w.e = archive_entry_new();
	if (!w.buf || !w.md || !w.a || !w.e || EVP_DigestInit_ex(w.md, EVP_sha256(), NULL) != 1) {
		errf(err, ENOMEM, "snapshot");
		goto out;
	}
	archive_write_set_format_pax(w.a); /* full pax: ns mtimes, xattrs */
	/* zstd when libarchive was built with it (Debian's is), else plain. */
	if (archive_write_add_filter_zstd(w.a) != ARCHIVE_OK)
		archive_write_add_filter_none(w.a);
	archive_write_set_bytes_in_last_block(w.a, 1);
	if (archive_write_open(w.a, &w, NULL, out_write, NULL) != ARCHIVE_OK) {
		rc = errf(err, EIO, "archive: %s", archive_error_string(w.a));
		goto out;
	}
	char path[PATH_MAX] = "";
	rc = walk(&w, srcfd, path, 0, 0);
	if (archive_write_close(w.a) != ARCHIVE_OK && rc == 0)
		rc = write_err(&w, NULL);
	if (rc == 0) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned ml = 0;
		EVP_DigestFinal_ex(w.md, md, &ml);
		memcpy(digest, "sha256:", 7);
		hex(md, ml, digest + 7);
		if (data_bytes)
			*data_bytes = w.data;
		if (skipped)
			*skipped = w.skipped;
	}
out:
	if (w.a)
		archive_write_free(w.a);
	if (w.e)
		archive_entry_free(w.e);
	EVP_MD_CTX_free(w.md);
	for (size_t i = 0; i < w.caphl; i++)
		free(w.hl[i].path);
	free(w.hl);
	free(w.buf);
	return rc;
}

int srv_snap_write_tree(int srcfd, int outfd, const volatile int *cancel, char *digest, int64_t *data_bytes,
                        int64_t *skipped, char *err)
{
	return write_tree(srcfd, outfd, cancel, digest, data_bytes, skipped, -1, err);
}

/* ----------------------------------------------------------- unpacking */

typedef struct dirfix {
	char *path;
	mode_t mode;
	struct timespec mtime;
} dirfix;

typedef struct unpacker {
	int root;
	srv_dirwalk dw;         /* the parent dir last opened */
	dirfix *dirs;
	size_t nd, capd;
	int64_t entries;
	char *err;
} unpacker;

static void set_xattrs(struct archive_entry *e, int fd)
{
	const char *nm;
	const void *val;
	size_t vl;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &nm, &val, &vl) == ARCHIVE_OK)
		if (nm && strncmp(nm, "user.", 5) == 0 && vl <= SNAP_XATTR_MAX)
			(void)!fsetxattr(fd, nm, val, vl, 0);
}

static void set_owner(int fd, struct archive_entry *e)
{
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	/* A rootless sbxd cannot chown: the files are then its own. */
	if (uid >= 0 && uid < 0xfffffffeLL && gid >= 0 && gid < 0xfffffffeLL)
		(void)!fchown(fd, (uid_t)uid, (gid_t)gid);
}

static int copy_data(unpacker *u, struct archive *a, int fd, const char *rel)
{
	const void *buf;
	size_t n;
	la_int64_t off;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &n, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return errf(u->err, 0, "%.200s: %s", rel, archive_error_string(a));
		for (const char *c = buf; n;) {
			ssize_t k = pwrite(fd, c, n, off);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return errf(u->err, errno, "write %.200s", rel);
			c += k;
			n -= (size_t)k;
			off += k;
		}
	}
}

static int unpack_entry(unpacker *u, struct archive *a, struct archive_entry *e)
{
	char rel[PATH_MAX];
	const char *raw = archive_entry_pathname(e);
	if (srv_clean_relpath(raw, rel, sizeof rel) != 0)
		return errf(u->err, 0, "refused: the entry \"%.200s\" leaves the volume (absolute or ..)",
		            raw ? raw : "(none)");
	if (!rel[0])
		return 0;
	char *slash = strrchr(rel, '/');
	const char *base = slash ? slash + 1 : rel;
	size_t pl = slash ? (size_t)(slash - rel) : 0;
	int pfd = srv_dirwalk_parent(&u->dw, rel, pl);
	if (pfd < 0)
		return errf(u->err, 0, "refused: the parent of \"%.200s\" is not a directory of the volume "
		                       "(a symlink or a file)", rel);
	const char *hard = archive_entry_hardlink(e);
	unsigned type = archive_entry_filetype(e);
	struct stat old;
	int exists = fstatat(pfd, base, &old, AT_SYMLINK_NOFOLLOW) == 0;
	if (exists && !(type == AE_IFDIR && !hard && S_ISDIR(old.st_mode)))
		return errf(u->err, 0, "refused: \"%.200s\" twice in the archive", rel);
	struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
	                         {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
	if (hard) {
		char trel[PATH_MAX];
		if (srv_clean_relpath(hard, trel, sizeof trel) != 0 || !trel[0])
			return errf(u->err, 0, "refused: the hard link \"%.200s\" leads out of the volume", rel);
		char *tsl = strrchr(trel, '/');
		const char *tbase = tsl ? tsl + 1 : trel;
		if (tsl)
			*tsl = '\0';
		int tfd = tsl ? srv_open_beneath(u->root, trel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 1)
		              : fcntl(u->root, F_DUPFD_CLOEXEC, 0);
		struct stat tsb;
		if (tfd < 0 || fstatat(tfd, tbase, &tsb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !(S_ISREG(tsb.st_mode) || S_ISLNK(tsb.st_mode))) {
			if (tfd >= 0)
				close(tfd);
			return errf(u->err, 0, "refused: the hard link \"%.200s\" names no file of the volume", rel);
		}
		int rc = linkat(tfd, tbase, pfd, base, 0);
		int le = errno;
		close(tfd);
		return rc ? errf(u->err, le, "link %.200s", rel) : 0;
	}
	switch (type) {
	case AE_IFDIR: {
		if (!exists && mkdirat(pfd, base, 0700) != 0)
			return errf(u->err, errno, "mkdir %.200s", rel);
		int fd = srv_open_beneath(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 1);
		if (fd < 0)
			return errf(u->err, errno, "open %.200s", rel);
		set_owner(fd, e);
		set_xattrs(e, fd);
		close(fd);
		/* Modes and mtimes of dirs last: a 0555 dir still takes its
		 * entries, and their creation does not touch its mtime after. */
		if (u->nd == u->capd) {
			size_t nc = u->capd ? u->capd * 2 : 64;
			dirfix *n = realloc(u->dirs, nc * sizeof *n);
			if (!n)
				return errf(u->err, ENOMEM, "unpack");
			u->dirs = n;
			u->capd = nc;
		}
		if (!(u->dirs[u->nd].path = strdup(rel)))
			return errf(u->err, ENOMEM, "unpack");
		u->dirs[u->nd].mode = archive_entry_perm(e) & 07777;
		u->dirs[u->nd].mtime = ts[0];
		u->nd++;
		return 0;
	}
	case AE_IFREG: {
		int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return errf(u->err, errno, "create %.200s", rel);
		int rc = copy_data(u, a, fd, rel);
		la_int64_t size = archive_entry_size(e);
		if (rc == 0 && size >= 0 && ftruncate(fd, size) != 0)
			rc = errf(u->err, errno, "write %.200s", rel);
		if (rc == 0) {
			set_xattrs(e, fd);
			set_owner(fd, e); /* before the mode: chown drops set-id bits */
			(void)!fchmod(fd, archive_entry_perm(e) & 07777);
			(void)!futimens(fd, ts);
		}
		close(fd);
		return rc;
	}
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target || !*target || strlen(target) >= PATH_MAX)
			return errf(u->err, 0, "refused: the symlink \"%.200s\" has no target", rel);
		/* Stored as text: nothing here resolves it, the sandbox does in
		 * its own root. */
		if (symlinkat(target, pfd, base) != 0)
			return errf(u->err, errno, "symlink %.200s", rel);
		la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
		if (uid >= 0 && uid < 0xfffffffeLL && gid >= 0 && gid < 0xfffffffeLL)
			(void)!fchownat(pfd, base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW);
		(void)!utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	default:
		return errf(u->err, 0, "refused: \"%.200s\" is a device, fifo or socket", rel);
	}
}

static void fix_dirs(unpacker *u)
{
	for (size_t i = u->nd; i-- > 0;) {
		int fd = srv_open_beneath(u->root, u->dirs[i].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 1);
		if (fd < 0)
			continue;
		(void)!fchmod(fd, u->dirs[i].mode);
		struct timespec ts[2] = {u->dirs[i].mtime, u->dirs[i].mtime};
		(void)!futimens(fd, ts);
		close(fd);
	}
}

int srv_snap_unpack_fd(int fd, int dstfd, char *err)
{
	unpacker u;
	memset(&u, 0, sizeof u);
	u.root = dstfd;
	srv_dirwalk_init(&u.dw, dstfd);
	u.err = err;
	int rc = -ENOMEM;
	struct archive *a = archive_read_new();
	if (!a) {
		errf(err, ENOMEM, "libarchive");
		goto out;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		rc = errf(err, 0, "not a snapshot archive: %s", archive_error_string(a));
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = errf(err, 0, "bad archive: %s", archive_error_string(a));
			goto out;
		}
		if (++u.entries > SRV_SNAP_MAX_ENTRIES) {
			rc = errf(err, 0, "over %d entries", SRV_SNAP_MAX_ENTRIES);
			goto out;
		}
		if ((rc = unpack_entry(&u, a, e)) != 0)
			goto out;
	}
	fix_dirs(&u);
	rc = 0;
out:
	if (a)
		archive_read_free(a);
	srv_dirwalk_forget(&u.dw);
	for (size_t i = 0; i < u.nd; i++)
		free(u.dirs[i].path);
	free(u.dirs);
	return rc;
}

/* --------------------------------------------------------------- store */

typedef struct rec {
	srv_snap_info i;
	char *src;          /* queued or running: the directory, its fd */
	int srcfd;
	int queued, running;
	volatile int cancel;
	int deleted;        /* removed while running: the worker frees it */
	int (*gate)(const char *sandbox_id);
} rec;

/* A directory whose removal waits for the jobs that read it. */
typedef struct deferred {
	char *dir;
	int (*remove)(const char *dir);
} deferred;

static struct snaps {
	int open;
	int dirfd;                  /* STATE_DIR/snapshots */
	pthread_mutex_t mu;
	pthread_cond_t cond;        /* a job queued, ended, or stop */
	rec **v;
	size_t n;
	uint64_t next_seq;
	pthread_t worker;
	int stopping;
	deferred *def;
	size_t ndef;
} S = {.dirfd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static const char *state_name(int s)
{
	switch (s) {
	case SRV_SNAP_CREATING: return "CREATING";
	case SRV_SNAP_READY: return "READY";
	case SRV_SNAP_FAILED: return "FAILED";
	case SRV_SNAP_DELETING: return "DELETING";
	}
	return "UNSPECIFIED";
}

static int state_of(const char *s)
{
	for (int i = SRV_SNAP_CREATING; i <= SRV_SNAP_DELETING; i++)
		if (s && strcmp(s, state_name(i)) == 0)
			return i;
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void add_i64(cJSON *o, const char *k, int64_t v)
{
	char b[24];
	snprintf(b, sizeof b, "%lld", (long long)v);
	cJSON_AddStringToObject(o, k, b);
}

/* The record file, written whole and renamed over (mu held). */
static void save(const rec *r)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return;
	const srv_snap_info *i = &r->i;
	cJSON_AddStringToObject(o, "id", i->id);
	cJSON_AddStringToObject(o, "state", state_name(i->state));
	cJSON_AddStringToObject(o, "stateReason", i->reason);
	add_i64(o, "sizeBytes", i->size_bytes);
	add_i64(o, "dataBytes", i->data_bytes);
	cJSON_AddStringToObject(o, "sourceSandboxId", i->sandbox_id);
	cJSON_AddStringToObject(o, "sourceVolumeName", i->volume);
	cJSON_AddStringToObject(o, "trigger", i->trigger == SRV_SNAP_ON_DELETE ? "ON_DELETE" : "MANUAL");
	add_i64(o, "createNs", i->create_ns);
	add_i64(o, "completeNs", i->complete_ns);
	add_i64(o, "updatedNs", i->updated_ns);
	cJSON_AddStringToObject(o, "requestId", i->request_id);
	cJSON_AddNumberToObject(o, "owner", i->owner);
	cJSON_AddStringToObject(o, "digest", i->digest);
	add_i64(o, "seq", (int64_t)i->seq);
	char *txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!txt)
		return;
	char tmp[64], name[64];
	snprintf(tmp, sizeof tmp, "tmp/%s.json", i->id);
	snprintf(name, sizeof name, "%s.json", i->id);
	int fd = openat(S.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t len = strlen(txt);
	if (fd >= 0) {
		int ok = write(fd, txt, len) == (ssize_t)len;
		close(fd);
		if (!ok || renameat(S.dirfd, tmp, S.dirfd, name) != 0)
			unlinkat(S.dirfd, tmp, 0);
	}
	free(txt);
}

static int valid_id(const char *s)
{
	if (!s || strncmp(s, "fss-", 4) != 0 || strlen(s) != 20)
		return 0;
	for (const char *p = s + 4; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(it) ? it->valuestring : "";
}

static int64_t jint(const cJSON *o, const char *k, int64_t max)
{
	int64_t v = 0;
	if (srv_parse_int(jstr(o, k), 0, max, &v) != 0)
		return 0;
	return v;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
	srv_utf8_fix(dst, strlen(dst));
}

/* One record file (name "<id>.json") into the table; a CREATING one
 * turned FAILED. A file that does not parse is left alone. */
static void load_one(const char *name)
{
	char id[SRV_SNAP_IDLEN];
	size_t nl = strlen(name);
	if (nl < 6 || nl - 5 >= sizeof id || strcmp(name + nl - 5, ".json") != 0)
		return;
	memcpy(id, name, nl - 5);
	id[nl - 5] = '\0';
	if (!valid_id(id) || S.n >= SRV_SNAP_MAX)
		return;
	int fd = srv_open_beneath(S.dirfd, name, O_RDONLY, 1);
	if (fd < 0)
		return;
	char *buf = malloc(SNAP_RECORD_MAX + 1);
	ssize_t len = buf ? read(fd, buf, SNAP_RECORD_MAX) : -1;
	close(fd);
	if (len <= 0) {
		free(buf);
		return;
	}
	buf[len] = '\0';
	cJSON *o = cJSON_ParseWithLength(buf, (size_t)len);
	free(buf);
	rec *r = o ? calloc(1, sizeof *r) : NULL;
	rec **nv = r ? realloc(S.v, (S.n + 1) * sizeof *nv) : NULL;
	if (!nv || strcmp(jstr(o, "id"), id) != 0 || !state_of(jstr(o, "state"))) {
		free(r);
		cJSON_Delete(o);
		return;
	}
	S.v = nv;
	r->srcfd = -1;
	srv_snap_info *i = &r->i;
	copy_str(i->id, sizeof i->id, id);
	i->state = state_of(jstr(o, "state"));
	copy_str(i->reason, sizeof i->reason, jstr(o, "stateReason"));
	i->size_bytes = jint(o, "sizeBytes", INT64_MAX);
	i->data_bytes = jint(o, "dataBytes", INT64_MAX);
	copy_str(i->sandbox_id, sizeof i->sandbox_id, jstr(o, "sourceSandboxId"));
	copy_str(i->volume, sizeof i->volume, jstr(o, "sourceVolumeName"));
	i->trigger = strcmp(jstr(o, "trigger"), "ON_DELETE") == 0 ? SRV_SNAP_ON_DELETE : SRV_SNAP_MANUAL;
	i->create_ns = jint(o, "createNs", INT64_MAX);
	i->complete_ns = jint(o, "completeNs", INT64_MAX);
	i->updated_ns = jint(o, "updatedNs", INT64_MAX);
	copy_str(i->request_id, sizeof i->request_id, jstr(o, "requestId"));
	int64_t owner = 0;
	const cJSON *ow = cJSON_GetObjectItemCaseSensitive(o, "owner");
	if (srv_json_int(ow, 0, UINT32_MAX, &owner) == 0)
		i->owner = (uint32_t)owner;
	else
		i->owner = 0;
	copy_str(i->digest, sizeof i->digest, jstr(o, "digest"));
	i->seq = (uint64_t)jint(o, "seq", INT64_MAX);
	cJSON_Delete(o);
	if (i->state == SRV_SNAP_CREATING || i->state == SRV_SNAP_DELETING) {
		int was_del = i->state == SRV_SNAP_DELETING;
		i->state = SRV_SNAP_FAILED;
		copy_str(i->reason, sizeof i->reason,
		         was_del ? "sbxd restarted while the snapshot was being deleted"
		                 : "sbxd restarted while the snapshot was being taken");
		i->updated_ns = i->complete_ns = now_ns();
		save(r);
	}
	if (i->seq >= S.next_seq)
		S.next_seq = i->seq + 1;
	S.v[S.n++] = r;
}

static int seq_cmp(const void *a, const void *b)
{
	const rec *x = *(rec *const *)a, *y = *(rec *const *)b;
	return x->i.seq < y->i.seq ? -1 : x->i.seq > y->i.seq;
}

static void archive_name(const char *id, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s.tar.zst", id);
}

/* Takes r out of the table (mu held) and frees it. */
static void drop(rec *r)
{
	for (size_t k = 0; k < S.n; k++)
		if (S.v[k] == r) {
			memmove(S.v + k, S.v + k + 1, (S.n - k - 1) * sizeof *S.v);
			S.n--;
			break;
		}
	if (r->srcfd >= 0)
		close(r->srcfd);
	free(r->src);
	free(r);
}

static void remove_files(const char *id)
{
	char name[64];
	archive_name(id, name, sizeof name);
	unlinkat(S.dirfd, name, 0);
	snprintf(name, sizeof name, "%s.json", id);
	unlinkat(S.dirfd, name, 0);
}

/* Does a job (queued or running) read below dir? mu held. */
static int reads_below(const char *dir)
{
	size_t dl = strlen(dir);
	for (size_t k = 0; k < S.n; k++) {
		const rec *r = S.v[k];
		if ((r->queued || r->running) && r->src && strncmp(r->src, dir, dl) == 0 &&
		    (r->src[dl] == '\0' || r->src[dl] == '/'))
			return 1;
	}
	return 0;
}

/* The deferred removals no job holds any more, done without mu (a
 * removal unmounts and unlinks a whole tree). mu held at entry and exit. */
static void run_deferred(void)
{
	for (size_t k = 0; k < S.ndef;) {
		if (reads_below(S.def[k].dir)) {
			k++;
			continue;
		}
		deferred d = S.def[k];
		S.def[k] = S.def[--S.ndef];
		pthread_mutex_unlock(&S.mu);
		if (d.remove(d.dir) != 0)
			fprintf(stderr, "sbxd: warning: cannot remove %s after its snapshot: %s\n", d.dir,
			        strerror(errno));
		/* its sandbox's dir, when it was the last volume */
		char *slash = strrchr(d.dir, '/');
		if (slash && slash != d.dir) {
			*slash = '\0';
			rmdir(d.dir);
		}
		free(d.dir);
		pthread_mutex_lock(&S.mu);
		k = 0;
	}
}

/* Archive bytes owner's records hold (S.mu held). */
static int64_t user_bytes(uint32_t owner)
{
	int64_t n = 0;
	for (size_t k = 0; k < S.n; k++)
		if (!S.v[k]->deleted && S.v[k]->i.owner == owner && S.v[k]->i.state == SRV_SNAP_READY)
			n += S.v[k]->i.size_bytes;
	return n;
}

/* A user's share of the state dir's disk in bytes (S.mu held). */
static int64_t user_share(void)
{
	struct statvfs vfs;
	if (fstatvfs(S.dirfd, &vfs) != 0 || vfs.f_blocks == 0)
		return SRV_SNAP_MAX_DATA;
	return (int64_t)((uint64_t)vfs.f_blocks * vfs.f_frsize / SNAP_USER_PART);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&S.mu);
	while (!S.stopping) {
		rec *r = NULL;
		for (size_t k = 0; k < S.n && !r; k++)
			if (S.v[k]->queued)
				r = S.v[k];
		if (!r) {
			run_deferred(); /* a queued job deleted lets its volume go */
			if (!S.stopping)
				pthread_cond_wait(&S.cond, &S.mu);
			continue;
		}
		r->queued = 0;
		r->running = 1;
		char tmp[64], final[64], err[SRV_SNAP_ERRLEN] = "", digest[72] = "";
		snprintf(tmp, sizeof tmp, "tmp/%s.tar.zst", r->i.id);
		archive_name(r->i.id, final, sizeof final);
		int srcfd = r->srcfd;
		int (*gate)(const char *) = r->gate;
		char sbx[sizeof r->i.sandbox_id];
		memcpy(sbx, r->i.sandbox_id, sizeof sbx);
		/* One job at a time: what the owner's other archives hold now
		 * stays so while this one is written. */
		int64_t cap = -1;
		if (r->i.owner != 0) {
			cap = user_share() - user_bytes(r->i.owner);
			if (cap < 0)
				cap = 0;
		}
		pthread_mutex_unlock(&S.mu);

		for (int waited = 0; gate && !gate(sbx) && waited < SRV_SNAP_GATE_MS && !r->cancel; waited += 20) {
			struct timespec tick = {0, 20000000};
			nanosleep(&tick, NULL);
		}
		int64_t data = 0, skipped = 0;
		int rc;
		int out = openat(S.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (out < 0)
			rc = errf(err, errno, "cannot create the archive");
		else
			rc = write_tree(srcfd, out, &r->cancel, digest, &data, &skipped, cap, err);
		struct stat sb;
		int64_t size = out >= 0 && fstat(out, &sb) == 0 ? (int64_t)sb.st_size : 0;
		if (out >= 0)
			close(out);
		if (rc == 0 && renameat(S.dirfd, tmp, S.dirfd, final) != 0)
			rc = errf(err, errno, "cannot store the archive");
		if (rc != 0)
			unlinkat(S.dirfd, tmp, 0);

		pthread_mutex_lock(&S.mu);
		r->running = 0;
		close(r->srcfd);
		r->srcfd = -1;
		free(r->src);
		r->src = NULL;
		if (r->deleted) {
			remove_files(r->i.id);
			drop(r);
		} else {
			srv_snap_info *i = &r->i;
			i->updated_ns = i->complete_ns = now_ns();
			if (rc == 0) {
				i->state = SRV_SNAP_READY;
				i->size_bytes = size;
				i->data_bytes = data;
				copy_str(i->digest, sizeof i->digest, digest);
				if (skipped)
					snprintf(i->reason, sizeof i->reason,
					         "%lld entries left out (devices, fifos, sockets, or changed while read)",
					         (long long)skipped);
			} else {
				i->state = SRV_SNAP_FAILED;
				copy_str(i->reason, sizeof i->reason,
				         rc == -ECANCELED ? "sbxd stopped while the snapshot was being taken" : err);
			}
			save(r);
		}
		run_deferred();
		pthread_cond_broadcast(&S.cond);
	}
	pthread_mutex_unlock(&S.mu);
	return NULL;
}

/* Removes every file in tmp/ (what a stopped sbxd left). */
static void clear_tmp(void)
{
	int fd = srv_open_beneath(S.dirfd, "tmp", O_RDONLY | O_DIRECTORY, 1);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

int srv_snap_open(const char *state_dir, char *err)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/snapshots", state_dir) >= (int)sizeof path)
		return errf(err, ENAMETOOLONG, "%.200s", state_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return errf(err, errno, "mkdir %.200s", path);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errf(err, errno, "open %.200s", path);
	if (mkdirat(dfd, "tmp", 0700) != 0 && errno != EEXIST) {
		int e = errno;
		close(dfd);
		return errf(err, e, "mkdir %.200s/tmp", path);
	}
	pthread_mutex_lock(&S.mu);
	S.dirfd = dfd;
	S.stopping = 0;
	clear_tmp();
	int lfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			load_one(de->d_name);
		closedir(d);
	} else if (lfd >= 0) {
		close(lfd);
	}
	if (S.n > 1)
		qsort(S.v, S.n, sizeof *S.v, seq_cmp);
	if (!S.next_seq)
		S.next_seq = 1;
	int rc = pthread_create(&S.worker, NULL, worker, NULL);
	if (rc == 0)
		S.open = 1;
	pthread_mutex_unlock(&S.mu);
	return rc ? errf(err, rc, "snapshot worker") : 0;
}

void srv_snap_close(void)
{
	pthread_mutex_lock(&S.mu);
	if (!S.open) {
		pthread_mutex_unlock(&S.mu);
		return;
	}
	S.stopping = 1;
	for (size_t k = 0; k < S.n; k++)
		if (S.v[k]->running)
			S.v[k]->cancel = 1;
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.mu);
	pthread_join(S.worker, NULL);
	pthread_mutex_lock(&S.mu);
	for (size_t k = S.n; k-- > 0;) {
		rec *r = S.v[k];
		if (r->queued || r->i.state == SRV_SNAP_CREATING) {
			r->queued = 0;
			r->i.state = SRV_SNAP_FAILED;
			copy_str(r->i.reason, sizeof r->i.reason, "sbxd stopped while the snapshot was being taken");
			r->i.updated_ns = r->i.complete_ns = now_ns();
			save(r);
		}
	}
	while (S.n)
		drop(S.v[S.n - 1]);
	/* Removals still waiting: the next start removes the volumes of
	 * sandboxes without a record (volume.h). */
	for (size_t k = 0; k < S.ndef; k++)
		free(S.def[k].dir);
	free(S.def);
	S.def = NULL;
	S.ndef = 0;
	free(S.v);
	S.v = NULL;
	S.next_seq = 0;
	close(S.dirfd);
	S.dirfd = -1;
	S.open = 0;
	pthread_mutex_unlock(&S.mu);
}

static rec *find(const char *id, uint32_t peer)
{
	if (!valid_id(id))
		return NULL;
	for (size_t k = 0; k < S.n; k++)
		if (strcmp(S.v[k]->i.id, id) == 0 && !S.v[k]->deleted)
			return peer == 0 || S.v[k]->i.owner == peer ? S.v[k] : NULL;
	return NULL;
}

int srv_snap_create(const char *src, const char *sandbox_id, const char *volume, int trigger,
                    const char *request_id, uint32_t owner, int (*gate)(const char *sandbox_id),
                    srv_snap_info *out, char *err)
{
	int fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errf(err, errno, "the volume's directory");
	rec *r = calloc(1, sizeof *r);
	char *s = strdup(src);
	unsigned char rnd[8];
	if (!r || !s || getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		free(r);
		free(s);
		close(fd);
		return errf(err, ENOMEM, "snapshot");
	}
	memcpy(r->i.id, "fss-", 4);
	hex(rnd, sizeof rnd, r->i.id + 4);
	r->src = s;
	r->srcfd = fd;
	r->queued = 1;
	r->gate = gate;
	r->i.state = SRV_SNAP_CREATING;
	r->i.trigger = trigger == SRV_SNAP_ON_DELETE ? SRV_SNAP_ON_DELETE : SRV_SNAP_MANUAL;
	copy_str(r->i.sandbox_id, sizeof r->i.sandbox_id, sandbox_id);
	copy_str(r->i.volume, sizeof r->i.volume, volume);
	copy_str(r->i.request_id, sizeof r->i.request_id, request_id);
	r->i.owner = owner;
	r->i.create_ns = r->i.updated_ns = now_ns();
	pthread_mutex_lock(&S.mu);
	if (owner != 0) {
		size_t mine = 0;
		for (size_t k = 0; k < S.n; k++)
			mine += !S.v[k]->deleted && S.v[k]->i.owner == owner;
		int64_t held = user_bytes(owner), share = user_share();
		if (mine >= SNAP_USER_MAX || held >= share) {
			pthread_mutex_unlock(&S.mu);
			drop(r);
			if (mine >= SNAP_USER_MAX)
				return errf(err, ENOSPC, "a user holds at most %d snapshots (1/%d of the store)",
				            SNAP_USER_MAX, SNAP_USER_PART);
			return errf(err, ENOSPC, "your snapshots hold %lld bytes, a user's share of the store "
			            "(1/%d of the state directory's disk): delete some", (long long)held, SNAP_USER_PART);
		}
	}
	rec **nv = S.open && S.n < SRV_SNAP_MAX ? realloc(S.v, (S.n + 1) * sizeof *nv) : NULL;
	if (!nv) {
		int full = S.open && S.n >= SRV_SNAP_MAX;
		pthread_mutex_unlock(&S.mu);
		drop(r);
		return full ? errf(err, ENOSPC, "at most %d snapshots", SRV_SNAP_MAX)
		            : errf(err, ENOMEM, "snapshot store");
	}
	S.v = nv;
	r->i.seq = S.next_seq++;
	S.v[S.n++] = r;
	save(r);
	*out = r->i;
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.mu);
	return 0;
}

int srv_snap_get(const char *id, uint32_t peer, srv_snap_info *out)
{
	pthread_mutex_lock(&S.mu);
	rec *r = find(id, peer);
	if (r)
		*out = r->i;
	pthread_mutex_unlock(&S.mu);
	return r ? 0 : -ENOENT;
}

size_t srv_snap_list(uint32_t peer, const char *sandbox_id, uint64_t after, srv_snap_info *out, size_t max,
                     int *more)
{
	size_t n = 0;
	*more = 0;
	pthread_mutex_lock(&S.mu);
	for (size_t k = 0; k < S.n; k++) {
		const rec *r = S.v[k];
		if (r->deleted || r->i.seq <= after || (peer && r->i.owner != peer) ||
		    (sandbox_id && *sandbox_id && strcmp(r->i.sandbox_id, sandbox_id) != 0))
			continue;
		if (n == max) {
			*more = 1;
			break;
		}
		out[n++] = r->i;
	}
	pthread_mutex_unlock(&S.mu);
	return n;
}

int srv_snap_delete(const char *id, uint32_t peer, srv_snap_info *out)
{
	pthread_mutex_lock(&S.mu);
	rec *r = find(id, peer);
	if (!r) {
		pthread_mutex_unlock(&S.mu);
		return -ENOENT;
	}
	r->i.state = SRV_SNAP_DELETING;
	r->i.updated_ns = now_ns();
	*out = r->i;
	if (r->running) {
		/* The worker sees it between entries and removes it. */
		r->cancel = 1;
		r->deleted = 1;
		save(r);
	} else {
		remove_files(r->i.id);
		drop(r);
	}
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.mu);
	return 0;
}

/* sha256 of what fd holds, from its start, as "sha256:HEX". */
static int digest_fd(int fd, char *out, char *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *buf = malloc(SNAP_BUF);
	int rc = 0;
	if (!md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rc = errf(err, ENOMEM, "digest");
		goto out;
	}
	for (off_t off = 0;;) {
		ssize_t k = pread(fd, buf, SNAP_BUF, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = errf(err, errno, "read the archive");
			goto out;
		}
		if (k == 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)k);
		off += k;
	}
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	EVP_DigestFinal_ex(md, d, &dl);
	memcpy(out, "sha256:", 7);
	hex(d, dl, out + 7);
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

int srv_snap_restore(const char *id, uint32_t peer, const char *dst, char *err)
{
	char name[64], want[72];
	pthread_mutex_lock(&S.mu);
	rec *r = find(id, peer);
	if (!r) {
		pthread_mutex_unlock(&S.mu);
		return errf(err, ENOENT, "snapshot %.40s", id ? id : "");
	}
	if (r->i.state != SRV_SNAP_READY) {
		int st = r->i.state;
		pthread_mutex_unlock(&S.mu);
		errf(err, 0, "snapshot %.40s is %s, not READY", id, state_name(st));
		return -EAGAIN;
	}
	copy_str(want, sizeof want, r->i.digest);
	archive_name(r->i.id, name, sizeof name);
	/* Opened under the lock: a delete after this leaves the open file. */
	int fd = srv_open_beneath(S.dirfd, name, O_RDONLY, 1);
	int oe = errno;
	pthread_mutex_unlock(&S.mu);
	if (fd < 0)
		return errf(err, oe, "snapshot %.40s: its archive", id);
	char got[72];
	int rc = digest_fd(fd, got, err);
	if (rc == 0 && strcmp(got, want) != 0)
		rc = errf(err, 0, "snapshot %.40s: the archive does not match its digest (%.71s)", id, want);
	int dfd = rc == 0 ? open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) : -1;
	if (rc == 0 && dfd < 0)
		rc = errf(err, errno, "the new volume's directory");
	if (rc == 0)
		rc = srv_snap_unpack_fd(fd, dfd, err);
	if (dfd >= 0)
		close(dfd);
	close(fd);
	return rc;
}

int srv_snap_defer_removal(const char *dir, int (*remove)(const char *dir))
{
	pthread_mutex_lock(&S.mu);
	int took = 0;
	if (S.open && reads_below(dir)) {
		deferred *n = realloc(S.def, (S.ndef + 1) * sizeof *n);
		char *d = strdup(dir);
		if (n && d) {
			S.def = n;
			S.def[S.ndef++] = (deferred){d, remove};
			took = 1;
		} else {
			if (n)
				S.def = n;
			free(d);
		}
	}
	pthread_mutex_unlock(&S.mu);
	return took;
}

int srv_snap_wait_idle(int ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&S.mu);
	int rc = 0;
	for (;;) {
		int busy = 0;
		for (size_t k = 0; k < S.n && !busy; k++)
			busy = S.v[k]->queued || S.v[k]->running;
		if (!busy)
			break;
		if (pthread_cond_timedwait(&S.cond, &S.mu, &dl) == ETIMEDOUT) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&S.mu);
	return rc;
}
