/*
 * The local OCI image store (see oci.h). Everything that comes from an
 * image is outside input: an archive or a layer tar may name paths with
 * "..", absolute paths, links that lead out, device nodes, or simply be
 * huge. So archives are read by libarchive (kept, fuzzed by others), and
 * every file this module creates is created relative to a directory fd
 * that was opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): no
 * path from an archive is ever resolved through a symlink, so nothing can
 * be written outside the layer being unpacked. Device nodes are skipped;
 * xattrs are not applied (a layer's own trusted.overlay.* would steer
 * overlayfs). Every count and size has a cap (the OCI_MAX_* below).
 */
#include "oci.h"
#include "beneath.h"

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define OCI_MAX_JSON (4u << 20)              /* index, manifest, config */
#define OCI_MAX_BLOB ((int64_t)64 << 30)     /* one blob as stored */
#define OCI_MAX_LAYER_BYTES ((int64_t)64 << 30) /* one layer unpacked */
#define OCI_MAX_ENTRIES 2000000              /* entries of one tar */
#define OCI_MAX_LINKS 4096                   /* symlinks of an outer archive */
#define OCI_MAX_MANIFESTS 64
#define OCI_MAX_REFS 4096
#define OCI_MAX_DEPTH 512                    /* directory nesting removed */

struct srv_oci {
	char root[PATH_MAX];   /* STATE_DIR/oci */
	int rootfd;
	int lockfd;
};

static int errf(char *err, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, int e, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(err, SRV_OCI_ERRLEN, fmt, ap);
		va_end(ap);
		if (e && n >= 0 && n < SRV_OCI_ERRLEN)
			snprintf(err + n, SRV_OCI_ERRLEN - (size_t)n, ": %s", strerror(e));
	}
	errno = e ? e : EINVAL;
	return -1;
}

/* ---- references ---- */

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_hex64(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

static int digest_ok(const char *d)
{
	return strncmp(d, "sha256:", 7) == 0 && is_hex64(d + 7);
}

/* One path component of a repository: [a-z0-9]+ joined by '.', '_', "__"
 * or runs of '-'. */
static int component_ok(const char *s, size_t n)
{
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (is_lower_alnum(c) || c == '-')
			continue;
		if ((c == '.' || c == '_') && is_lower_alnum(s[i + 1]))
			continue;
		if (c == '_' && s[i + 1] == '_' && i + 2 < n && is_lower_alnum(s[i + 2])) {
			i++;
			continue;
		}
		return 0;
	}
	return 1;
}

static int domain_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '-' || c == ':'))
			return 0;
	}
	return 1;
}

int srv_oci_ref_parse(const char *in, srv_oci_ref *out, char *err)
{
	memset(out, 0, sizeof *out);
	size_t n = in ? strlen(in) : 0;
	if (n == 0 || n > 255)
		return errf(err, 0, "bad image reference (1-255 bytes)");
	if (digest_ok(in)) {
		memcpy(out->digest, in, n + 1);
		return 0;
	}
	char buf[256];
	memcpy(buf, in, n + 1);
	char *at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		if (!digest_ok(at + 1))
			return errf(err, 0, "bad image reference \"%.255s\": the digest must be sha256:<64 hex>", in);
		memcpy(out->digest, at + 1, strlen(at + 1) + 1);
	}
	char *slash = strrchr(buf, '/');
	char *colon = strrchr(slash ? slash : buf, ':');
	if (colon) {
		*colon = '\0';
		const char *t = colon + 1;
		size_t tl = strlen(t);
		if (tl == 0 || tl > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
			return errf(err, 0, "bad image reference \"%.255s\": bad tag", in);
		for (size_t i = 0; i < tl; i++)
			if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
				return errf(err, 0, "bad image reference \"%.255s\": bad tag", in);
		memcpy(out->tag, t, tl + 1);
	}
	/* The first component is a domain when it looks like one. */
	const char *path = buf;
	char domain[254] = "docker.io";
	char *first = strchr(buf, '/');
	if (first) {
		size_t dl = (size_t)(first - buf);
		const char *upper = strpbrk(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
		if (memchr(buf, '.', dl) || memchr(buf, ':', dl) || (dl == 9 && strncmp(buf, "localhost", 9) == 0) ||
		    (upper && upper < first)) {
			if (!domain_ok(buf, dl))
				return errf(err, 0, "bad image reference \"%.255s\": bad domain", in);
			memcpy(domain, buf, dl);
			domain[dl] = '\0';
			path = first + 1;
		}
	}
	if (strcmp(domain, "index.docker.io") == 0)
		snprintf(domain, sizeof domain, "docker.io");
	for (const char *p = path;;) {
		const char *e = strchr(p, '/');
		size_t cl = e ? (size_t)(e - p) : strlen(p);
		if (!component_ok(p, cl))
			return errf(err, 0,
			            "bad image reference \"%.255s\": names are lower-case [a-z0-9] parts joined by "
			            "'.', '_', '-' and '/'",
			            in);
		if (!e)
			break;
		p = e + 1;
	}
	int lib = strcmp(domain, "docker.io") == 0 && !strchr(path, '/');
	if ((size_t)snprintf(out->name, sizeof out->name, "%s/%s%s", domain, lib ? "library/" : "", path) >=
	    sizeof out->name)
		return errf(err, 0, "bad image reference \"%.255s\": too long", in);
	if (!out->tag[0] && !out->digest[0])
		snprintf(out->tag, sizeof out->tag, "latest");
	return 0;
}

void srv_oci_ref_string(const srv_oci_ref *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", r->name, r->tag[0] ? ":" : "", r->tag, r->digest[0] && r->name[0] ? "@" : "",
	         r->digest);
}

/* ---- small file helpers ---- */

/* A whole small file (a JSON document) under dirfd, NUL-terminated. */
static char *read_small(int dirfd, const char *path, size_t max, size_t *len, char *err)
{
	int fd = srv_open_beneath(dirfd, path, O_RDONLY, 0);
	if (fd < 0) {
		errf(err, errno, "%.200s", path);
		return NULL;
	}
	struct stat st;
	char *buf = NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > max) {
		errf(err, 0, "%.200s: not a regular file of at most %zu bytes", path, max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		errf(err, ENOMEM, "%.200s", path);
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			errf(err, r < 0 ? errno : EIO, "read %.200s", path);
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (len)
		*len = got;
out:
	close(fd);
	return buf;
}

static cJSON *read_json(int dirfd, const char *path, char *err)
{
	size_t len = 0;
	char *s = read_small(dirfd, path, OCI_MAX_JSON, &len, err);
	if (!s)
		return NULL;
	cJSON *j = cJSON_ParseWithLength(s, len);
	free(s);
	if (!j)
		errf(err, 0, "%.200s: not JSON", path);
	return j;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes data to ROOT/path by a temp file and a rename. */
static int put_file(srv_oci *st, const char *path, const void *data, size_t n, char *err)
{
	char tmp[64];
	snprintf(tmp, sizeof tmp, "tmp/f.%d.%ld", (int)getpid(), (long)random());
	int fd = openat(st->rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errf(err, errno, "create %s/%s", st->root, tmp);
	if (write_all(fd, data, n) != 0 || fdatasync(fd) != 0) {
		int e = errno;
		close(fd);
		unlinkat(st->rootfd, tmp, 0);
		return errf(err, e, "write %s/%s", st->root, tmp);
	}
	close(fd);
	if (renameat(st->rootfd, tmp, st->rootfd, path) != 0) {
		int e = errno;
		unlinkat(st->rootfd, tmp, 0);
		return errf(err, e, "rename into %s/%.200s", st->root, path);
	}
	return 0;
}

static int put_json(srv_oci *st, const char *path, const cJSON *j, char *err)
{
	char *s = cJSON_PrintUnformatted(j);
	if (!s)
		return errf(err, ENOMEM, "JSON");
	int rc = put_file(st, path, s, strlen(s), err);
	free(s);
	return rc;
}

static void hexify(const unsigned char *md, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[64] = '\0';
}

static void sha256_mem(const void *p, size_t n, char *digest)
{
	unsigned char md[32];
	unsigned int ml = 0;
	EVP_Digest(p, n, md, &ml, EVP_sha256(), NULL);
	memcpy(digest, "sha256:", 7);
	hexify(md, digest + 7);
}

/* Removes dirfd/name whatever it is, never following a symlink. */
static int remove_any(int pfd, const char *name, int depth)
{
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(pfd, name, 0);
	if (depth > OCI_MAX_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	int fd = srv_open_beneath(pfd, name, O_RDONLY | O_DIRECTORY, 1);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (remove_any(dirfd(d), e->d_name, depth + 1) != 0)
			rc = -1;
	}
	closedir(d);
	if (rc == 0)
		rc = unlinkat(pfd, name, AT_REMOVEDIR);
	return rc;
}

/* ---- the store ---- */

srv_oci *srv_oci_open(const char *state_dir, char *err)
{
	srv_oci *st = calloc(1, sizeof *st);
	if (!st) {
		errf(err, ENOMEM, "image store");
		return NULL;
	}
	st->rootfd = st->lockfd = -1;
	/* Layer paths go into overlayfs's options: absolute ones. */
	char real[PATH_MAX];
	if (!realpath(state_dir, real)) {
		errf(err, errno, "state dir %.200s", state_dir);
		goto fail;
	}
	if ((size_t)snprintf(st->root, sizeof st->root, "%s/oci", real) >= sizeof st->root - 128) {
		errf(err, ENAMETOOLONG, "image store");
		goto fail;
	}
	if (mkdir(st->root, 0700) != 0 && errno != EEXIST) {
		errf(err, errno, "mkdir %s", st->root);
		goto fail;
	}
	st->rootfd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->rootfd < 0) {
		errf(err, errno, "open %s", st->root);
		goto fail;
	}
	static const char *const dirs[] = {"blobs", "blobs/sha256", "l", "layers", "images", "tmp"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (mkdirat(st->rootfd, dirs[i], 0700) != 0 && errno != EEXIST) {
			errf(err, errno, "mkdir %s/%s", st->root, dirs[i]);
			goto fail;
		}
	/* Layers are read by every sandbox's processes (any uid): the dirs
	 * that lead to them must be searchable, their trees keep the image's
	 * own modes. */
	fchmod(st->rootfd, 0711);
	fchmodat(st->rootfd, "l", 0711, 0);
	st->lockfd = openat(st->rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lockfd < 0) {
		errf(err, errno, "open %s/lock", st->root);
		goto fail;
	}
	return st;
fail:
	srv_oci_close(st);
	return NULL;
}

void srv_oci_close(srv_oci *st)
{
	if (!st)
		return;
	if (st->rootfd >= 0)
		close(st->rootfd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	free(st);
}

static void store_lock(srv_oci *st, int how)
{
	while (flock(st->lockfd, how) != 0 && errno == EINTR)
		;
}

/* refs.json: {"refs": {"NAME:TAG": "sha256:..."}}; a missing file is empty. */
static cJSON *load_refs(srv_oci *st, char *err)
{
	int fd = openat(st->rootfd, "refs.json", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		cJSON *j = cJSON_CreateObject();
		if (!j || !cJSON_AddObjectToObject(j, "refs")) {
			cJSON_Delete(j);
			errf(err, ENOMEM, "refs");
			return NULL;
		}
		return j;
	}
	if (fd >= 0)
		close(fd);
	cJSON *j = read_json(st->rootfd, "refs.json", err);
	if (j && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "refs"))) {
		cJSON_Delete(j);
		errf(err, 0, "%s/refs.json: no refs object", st->root);
		return NULL;
	}
	return j;
}

static cJSON *refs_of(cJSON *j)
{
	return cJSON_GetObjectItemCaseSensitive(j, "refs");
}

/* ---- blobs ---- */

/* Copies srcfd into blobs/sha256/HEX, hashing what it writes; the blob
 * lands only when its digest (and size, when known) is the expected one.
 * expect NULL: the digest is computed and returned in got. */
static int blob_put_fd(srv_oci *st, int srcfd, const char *expect, int64_t size, char *got, char *err)
{
	char tmp[64], path[128], digest[72];
	if (expect && !digest_ok(expect))
		return errf(err, 0, "unsupported digest \"%.80s\" (sha256 only)", expect);
	if (expect) {
		snprintf(path, sizeof path, "blobs/sha256/%s", expect + 7);
		struct stat bst;
		if (fstatat(st->rootfd, path, &bst, 0) == 0 && S_ISREG(bst.st_mode)) {
			if (got)
				memcpy(got, expect, 72);
			return 0; /* verified when it came in */
		}
	}
	snprintf(tmp, sizeof tmp, "tmp/b.%d.%ld", (int)getpid(), (long)random());
	int fd = openat(st->rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errf(err, errno, "create %s/%s", st->root, tmp);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;
	int64_t total = 0;
	char *buf = malloc(1 << 20);
	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		errf(err, ENOMEM, "hash");
		goto out;
	}
	for (;;) {
		ssize_t r = read(srcfd, buf, 1 << 20);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			errf(err, errno, "read blob");
			goto out;
		}
		if (r == 0)
			break;
		total += r;
		if (total > OCI_MAX_BLOB) {
			errf(err, 0, "blob over %lld bytes", (long long)OCI_MAX_BLOB);
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		if (write_all(fd, buf, (size_t)r) != 0) {
			errf(err, errno, "write %s/%s", st->root, tmp);
			goto out;
		}
	}
	unsigned char md[32];
	unsigned int ml = 0;
	EVP_DigestFinal_ex(ctx, md, &ml);
	memcpy(digest, "sha256:", 7);
	hexify(md, digest + 7);
	if (expect && strcmp(digest, expect) != 0) {
		errf(err, 0, "digest mismatch: the blob named %.71s has digest %s", expect, digest);
		goto out;
	}
	if (size >= 0 && total != size) {
		errf(err, 0, "size mismatch: blob %s has %lld bytes, its descriptor says %lld", digest,
		     (long long)total, (long long)size);
		goto out;
	}
	snprintf(path, sizeof path, "blobs/sha256/%s", digest + 7);
	if (fdatasync(fd) != 0 || renameat(st->rootfd, tmp, st->rootfd, path) != 0) {
		errf(err, errno, "store blob %s", digest);
		goto out;
	}
	if (got)
		memcpy(got, digest, 72);
	rc = 0;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	close(fd);
	if (rc != 0)
		unlinkat(st->rootfd, tmp, 0);
	return rc;
}

static int blob_put_path(srv_oci *st, int dirfd, const char *path, const char *expect, int64_t size, char *got,
                         char *err)
{
	int fd = srv_open_beneath(dirfd, path, O_RDONLY, 0);
	if (fd < 0)
		return errf(err, errno, "%.200s", path);
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return errf(err, 0, "%.200s: not a regular file", path);
	}
	int rc = blob_put_fd(st, fd, expect, size, got, err);
	close(fd);
	if (rc != 0 && err) {
		char m[SRV_OCI_ERRLEN];
		snprintf(m, sizeof m, "%.200s: %s", path, err);
		memcpy(err, m, sizeof m);
	}
	return rc;
}

static int blob_put_mem(srv_oci *st, const char *data, size_t n, char *got, char *err)
{
	char digest[72], path[128];
	sha256_mem(data, n, digest);
	snprintf(path, sizeof path, "blobs/sha256/%s", digest + 7);
	if (put_file(st, path, data, n, err) != 0)
		return -1;
	memcpy(got, digest, 72);
	return 0;
}

static cJSON *blob_json(srv_oci *st, const char *digest, char *err)
{
	char path[128];
	if (!digest_ok(digest)) {
		errf(err, 0, "bad digest");
		return NULL;
	}
	snprintf(path, sizeof path, "blobs/sha256/%s", digest + 7);
	return read_json(st->rootfd, path, err);
}

/* ---- unpacking a tar ---- */

typedef struct unpacker {
	int root;              /* the tree being filled */
	int layer;             /* 1: an image layer (whiteouts, owners, modes);
	                          0: an outer archive (files and dirs only) */
	srv_dirwalk dw;        /* the parent dir last opened */
	int64_t bytes, entries, skipped;
	char *links[OCI_MAX_LINKS][2]; /* outer archive symlinks: path, target */
	int nlinks;
	char *err;
} unpacker;

static int copy_data(unpacker *u, struct archive *a, int fd, const char *path)
{
	const void *buf;
	size_t n;
	la_int64_t off;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &n, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return errf(u->err, 0, "%.200s: %s", path, archive_error_string(a));
		u->bytes += (int64_t)n;
		if (u->bytes > OCI_MAX_LAYER_BYTES)
			return errf(u->err, 0, "over %lld bytes unpacked", (long long)OCI_MAX_LAYER_BYTES);
		const char *c = buf;
		while (n) {
			ssize_t w = pwrite(fd, c, n, off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return errf(u->err, errno, "write %.200s", path);
			c += w;
			n -= (size_t)w;
			off += w;
		}
	}
}

static void set_owner_mode(unpacker *u, int pfd, const char *name, struct archive_entry *e, int is_link)
{
	if (!u->layer)
		return;
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	if (uid >= 0 && uid < 0xfffffffe && gid >= 0 && gid < 0xfffffffe)
		(void)!fchownat(pfd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW);
	if (!is_link)
		(void)!fchmodat(pfd, name, archive_entry_perm(e) & 07777, 0);
	struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
	                         {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
	if (archive_entry_filetype(e) != AE_IFDIR)
		utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int unpack_entry(unpacker *u, struct archive *a, struct archive_entry *e)
{
	char rel[PATH_MAX];
	const char *raw = archive_entry_pathname(e);
	if (srv_clean_relpath(raw, rel, sizeof rel) != 0)
		return errf(u->err, 0, "refused: the entry \"%.200s\" leaves the tree (absolute or ..)",
		            raw ? raw : "(none)");
	if (!rel[0])
		return 0; /* the root itself */
	char *slash = strrchr(rel, '/');
	const char *base = slash ? slash + 1 : rel;
	size_t pl = slash ? (size_t)(slash - rel) : 0;
	int pfd = srv_dirwalk_parent(&u->dw, rel, pl);
	if (pfd < 0)
		return errf(u->err, errno, "refused: the parent of \"%.200s\" is not a directory of this tree "
		                           "(a symlink or a file)", rel);
	if (u->layer && strncmp(base, ".wh.", 4) == 0) {
		if (strcmp(base, ".wh..wh..opq") == 0) {
			if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) != 0)
				return errf(u->err, errno, "opaque dir %.200s", rel);
			return 0;
		}
		if (strncmp(base, ".wh..wh.", 8) == 0)
			return 0; /* aufs' own bookkeeping */
		const char *name = base + 4;
		if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			return errf(u->err, 0, "refused: bad whiteout \"%.200s\"", rel);
		srv_dirwalk_forget(&u->dw);
		pfd = srv_dirwalk_parent(&u->dw, rel, pl);
		if (pfd < 0 || remove_any(pfd, name, 0) != 0 || mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) != 0)
			return errf(u->err, errno, "whiteout %.200s", rel);
		return 0;
	}
	const char *hard = archive_entry_hardlink(e);
	unsigned type = archive_entry_filetype(e);
	struct stat old;
	int exists = fstatat(pfd, base, &old, AT_SYMLINK_NOFOLLOW) == 0;
	if (hard) {
		char trel[PATH_MAX];
		if (srv_clean_relpath(hard, trel, sizeof trel) != 0 || !trel[0])
			return errf(u->err, 0, "refused: the hard link \"%.200s\" leads out of the tree", rel);
		if (!u->layer)
			return 0;
		char *ts = strrchr(trel, '/');
		const char *tbase = ts ? ts + 1 : trel;
		size_t tl = ts ? (size_t)(ts - trel) : 0;
		/* The target's dir gets its own fd: the cached one is ours. */
		char tdir[PATH_MAX];
		memcpy(tdir, trel, tl);
		tdir[tl] = '\0';
		int tfd = tl ? srv_open_beneath(u->root, tdir, O_RDONLY | O_DIRECTORY, 1)
		             : fcntl(u->root, F_DUPFD_CLOEXEC, 0);
		struct stat ts_;
		if (tfd < 0 || fstatat(tfd, tbase, &ts_, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !(S_ISREG(ts_.st_mode) || S_ISLNK(ts_.st_mode))) {
			if (tfd >= 0)
				close(tfd);
			return errf(u->err, 0, "refused: the hard link \"%.200s\" names no file of this layer", rel);
		}
		if (exists && (old.st_ino != ts_.st_ino || old.st_dev != ts_.st_dev))
			remove_any(pfd, base, 0);
		int rc = (exists && old.st_ino == ts_.st_ino) ? 0 : linkat(tfd, tbase, pfd, base, 0);
		int le = errno;
		close(tfd);
		return rc ? errf(u->err, le, "link %.200s", rel) : 0;
	}
	switch (type) {
	case AE_IFDIR:
		if (exists && !S_ISDIR(old.st_mode)) {
			if (remove_any(pfd, base, 0) != 0)
				return errf(u->err, errno, "replace %.200s", rel);
			exists = 0;
		}
		if (!exists && mkdirat(pfd, base, 0700) != 0)
			return errf(u->err, errno, "mkdir %.200s", rel);
		if (!u->layer)
			(void)!fchmodat(pfd, base, 0700, 0);
		set_owner_mode(u, pfd, base, e, 0);
		return 0;
	case AE_IFREG: {
		if (exists) {
			if (S_ISDIR(old.st_mode))
				srv_dirwalk_forget(&u->dw);
			if (remove_any(pfd, base, 0) != 0)
				return errf(u->err, errno, "replace %.200s", rel);
			if (S_ISDIR(old.st_mode) && (pfd = srv_dirwalk_parent(&u->dw, rel, pl)) < 0)
				return errf(u->err, errno, "%.200s", rel);
		}
		int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return errf(u->err, errno, "create %.200s", rel);
		int rc = copy_data(u, a, fd, rel);
		la_int64_t size = archive_entry_size(e);
		if (rc == 0 && size >= 0 && ftruncate(fd, size) != 0)
			rc = errf(u->err, errno, "truncate %.200s", rel);
		close(fd);
		if (rc == 0)
			set_owner_mode(u, pfd, base, e, 0);
		return rc;
	}
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!target || !*target || strlen(target) >= PATH_MAX)
			return errf(u->err, 0, "refused: symlink \"%.200s\" without a target", rel);
		if (!u->layer) {
			if (u->nlinks >= OCI_MAX_LINKS)
				return errf(u->err, 0, "over %d symlinks in the archive", OCI_MAX_LINKS);
			u->links[u->nlinks][0] = strdup(rel);
			u->links[u->nlinks][1] = strdup(target);
			if (!u->links[u->nlinks][0] || !u->links[u->nlinks][1])
				return errf(u->err, ENOMEM, "symlink");
			u->nlinks++;
			return 0;
		}
		if (exists) {
			if (S_ISDIR(old.st_mode))
				srv_dirwalk_forget(&u->dw);
			if (remove_any(pfd, base, 0) != 0)
				return errf(u->err, errno, "replace %.200s", rel);
			if (S_ISDIR(old.st_mode) && (pfd = srv_dirwalk_parent(&u->dw, rel, pl)) < 0)
				return errf(u->err, errno, "%.200s", rel);
		}
		/* Stored as it is: nothing here ever resolves it (the sandbox
		 * resolves it inside its own root). */
		if (symlinkat(target, pfd, base) != 0)
			return errf(u->err, errno, "symlink %.200s", rel);
		set_owner_mode(u, pfd, base, e, 1);
		return 0;
	}
	default:
		/* Device nodes, fifos, sockets: an image has no business
		 * shipping them (sandboxes get their own /dev). */
		u->skipped++;
		return 0;
	}
}

/* An outer archive's symlinks (docker save links repeated layers): each
 * one that stays inside and names a file becomes a hard link to it. */
static void resolve_links(unpacker *u)
{
	for (int i = 0; i < u->nlinks; i++) {
		const char *rel = u->links[i][0], *t = u->links[i][1];
		char joined[2 * PATH_MAX + 2], clean[PATH_MAX];
		const char *slash = strrchr(rel, '/');
		int dl = slash ? (int)(slash - rel) : 0;
		if (t[0] == '/')
			continue;
		snprintf(joined, sizeof joined, "%.*s%s%s", dl, rel, dl ? "/" : "", t);
		/* Lexically: "a/../b" -> "b"; leaving the top refuses. */
		char stack[PATH_MAX] = "";
		size_t sl = 0;
		int bad = 0;
		for (char *save = NULL, *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
			if (strcmp(c, ".") == 0)
				continue;
			if (strcmp(c, "..") == 0) {
				char *ls = strrchr(stack, '/');
				if (!sl) {
					bad = 1;
					break;
				}
				sl = ls ? (size_t)(ls - stack) : 0;
				stack[sl] = '\0';
				continue;
			}
			size_t cl = strlen(c);
			if (sl + cl + 2 > sizeof stack) {
				bad = 1;
				break;
			}
			if (sl)
				stack[sl++] = '/';
			memcpy(stack + sl, c, cl + 1);
			sl += cl;
		}
		if (bad || !sl || srv_clean_relpath(stack, clean, sizeof clean) != 0)
			continue;
		const char *cs = strrchr(clean, '/');
		const char *rs = strrchr(rel, '/');
		char cd[PATH_MAX], rd[PATH_MAX];
		snprintf(cd, sizeof cd, "%.*s", cs ? (int)(cs - clean) : 0, clean);
		snprintf(rd, sizeof rd, "%.*s", rs ? (int)(rs - rel) : 0, rel);
		int cfd = cd[0] ? srv_open_beneath(u->root, cd, O_RDONLY | O_DIRECTORY, 1) : fcntl(u->root, F_DUPFD_CLOEXEC, 0);
		int rfd = rd[0] ? srv_open_beneath(u->root, rd, O_RDONLY | O_DIRECTORY, 1) : fcntl(u->root, F_DUPFD_CLOEXEC, 0);
		struct stat sb;
		if (cfd >= 0 && rfd >= 0 && fstatat(cfd, cs ? cs + 1 : clean, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode))
			(void)!linkat(cfd, cs ? cs + 1 : clean, rfd, rs ? rs + 1 : rel, 0);
		if (cfd >= 0)
			close(cfd);
		if (rfd >= 0)
			close(rfd);
	}
}

/* Unpacks the tar (any compression libarchive knows: none, gzip, zstd,
 * ...) in fd into the dir rootfd. */
static int unpack_fd(int fd, int rootfd, int layer, int64_t *bytes, char *err)
{
	unpacker *u = calloc(1, sizeof *u);
	if (!u)
		return errf(err, ENOMEM, "unpack");
	u->root = rootfd;
	u->layer = layer;
	srv_dirwalk_init(&u->dw, rootfd);
	u->err = err;
	struct archive *a = archive_read_new();
	int rc = -1;
	if (!a) {
		errf(err, ENOMEM, "libarchive");
		goto out;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		errf(err, 0, "not a tar archive: %s", archive_error_string(a));
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			errf(err, 0, "bad tar: %s", archive_error_string(a));
			goto out;
		}
		if (++u->entries > OCI_MAX_ENTRIES) {
			errf(err, 0, "over %d entries", OCI_MAX_ENTRIES);
			goto out;
		}
		if (unpack_entry(u, a, e) != 0)
			goto out;
	}
	if (!layer)
		resolve_links(u);
	if (bytes)
		*bytes = u->bytes;
	rc = 0;
out:
	if (a)
		archive_read_free(a);
	srv_dirwalk_forget(&u->dw);
	for (int i = 0; i < u->nlinks; i++) {
		free(u->links[i][0]);
		free(u->links[i][1]);
	}
	free(u);
	return rc;
}

int srv_oci_unpack_fd(int fd, int rootfd, int layer, int64_t *bytes, char *err)
{
	return unpack_fd(fd, rootfd, layer, bytes, err);
}

/* ---- layers ---- */

static int layer_media_ok(const char *mt)
{
	static const char *const ok[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.diff.tar",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strcmp(mt, ok[i]) == 0)
			return 1;
	return 0;
}

/* layers/HEX is a symlink whose text is "N:BYTES": l/N holds the tree. */
static int layer_lookup(srv_oci *st, const char *digest, long *n, int64_t *bytes)
{
	char path[128], txt[64];
	snprintf(path, sizeof path, "layers/%s", digest + 7);
	ssize_t r = readlinkat(st->rootfd, path, txt, sizeof txt - 1);
	if (r <= 0)
		return -1;
	txt[r] = '\0';
	long long a, b;
	if (sscanf(txt, "%lld:%lld", &a, &b) != 2 || a <= 0 || a > 100000000 || b < 0)
		return -1;
	*n = (long)a;
	*bytes = b;
	return 0;
}

static long next_layer_number(srv_oci *st)
{
	long max = 0;
	int fd = openat(st->rootfd, "l", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (*end == '\0' && v > max)
			max = v;
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	return max + 1;
}

/* Unpacks the (stored, verified) layer blob once; later calls find it. */
static int layer_unpack(srv_oci *st, const char *digest, long *n, int64_t *bytes, char *err)
{
	if (layer_lookup(st, digest, n, bytes) == 0)
		return 0;
	char blob[128], tmp[64], final[64], link[64], lname[128];
	snprintf(blob, sizeof blob, "blobs/sha256/%s", digest + 7);
	long num = next_layer_number(st);
	snprintf(tmp, sizeof tmp, "tmp/u.%ld", num);
	snprintf(final, sizeof final, "l/%ld", num);
	remove_any(st->rootfd, tmp, 0);
	if (mkdirat(st->rootfd, tmp, 0755) != 0)
		return errf(err, errno, "mkdir %s/%s", st->root, tmp);
	int bfd = openat(st->rootfd, blob, O_RDONLY | O_CLOEXEC);
	int tfd = srv_open_beneath(st->rootfd, tmp, O_RDONLY | O_DIRECTORY, 1);
	int rc = -1;
	int64_t got = 0;
	if (bfd < 0 || tfd < 0) {
		errf(err, errno, "layer %s", digest);
		goto out;
	}
	char uerr[SRV_OCI_ERRLEN];
	if (unpack_fd(bfd, tfd, 1, &got, uerr) != 0) {
		errf(err, 0, "layer %.19s: %s", digest, uerr);
		goto out;
	}
	if (renameat(st->rootfd, tmp, st->rootfd, final) != 0) {
		errf(err, errno, "rename to %s/%s", st->root, final);
		goto out;
	}
	snprintf(link, sizeof link, "%ld:%lld", num, (long long)got);
	snprintf(lname, sizeof lname, "layers/%s", digest + 7);
	if (symlinkat(link, st->rootfd, lname) != 0) {
		errf(err, errno, "record layer %s", digest);
		goto out;
	}
	*n = num;
	*bytes = got;
	rc = 0;
out:
	if (bfd >= 0)
		close(bfd);
	if (tfd >= 0)
		close(tfd);
	if (rc != 0)
		remove_any(st->rootfd, tmp, 0);
	return rc;
}

/* ---- image records ---- */

static cJSON *strv_json(const cJSON *arr)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *x;
	cJSON_ArrayForEach(x, arr)
		if (cJSON_IsString(x))
			cJSON_AddItemToArray(out, cJSON_CreateString(x->valuestring));
	return out;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Stores config + layers of a manifest (descriptors already parsed) and
 * writes images/HEX.json. blobdir/blobpath: where the source blobs are
 * (dirfd and a path per digest, via get_path). */
typedef int (*blob_source)(void *ctx, srv_oci *st, const cJSON *desc, int idx, char *err);

static int store_image(srv_oci *st, const char *mdigest, const cJSON *manifest, blob_source put, void *ctx,
                       char *err)
{
	const cJSON *config = cJSON_GetObjectItemCaseSensitive(manifest, "config");
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(manifest, "layers");
	const char *cdigest = jstr(config, "digest");
	if (!cdigest || !cJSON_IsArray(layers))
		return errf(err, 0, "manifest %.19s has no config or layers", mdigest);
	int nl = cJSON_GetArraySize(layers);
	if (nl > SRV_OCI_MAX_LAYERS)
		return errf(err, 0, "manifest %.19s has %d layers, over %d", mdigest, nl, SRV_OCI_MAX_LAYERS);
	if (put(ctx, st, config, -1, err) != 0)
		return -1;
	cJSON *cfg = blob_json(st, cdigest, err);
	if (!cfg)
		return -1;
	cJSON *rec = cJSON_CreateObject();
	cJSON *jl = cJSON_AddArrayToObject(rec, "layers");
	int64_t total = 0;
	int rc = -1;
	for (int i = 0; i < nl; i++) {
		const cJSON *d = cJSON_GetArrayItem(layers, i);
		const char *mt = jstr(d, "mediaType"), *ld = jstr(d, "digest");
		if (!ld || !digest_ok(ld)) {
			errf(err, 0, "layer %d: no sha256 digest", i);
			goto out;
		}
		if (mt && !layer_media_ok(mt)) {
			errf(err, 0, "layer %d: media type %.100s is not supported (tar, tar+gzip, tar+zstd)", i, mt);
			goto out;
		}
		if (put(ctx, st, d, i, err) != 0)
			goto out;
		long n;
		int64_t bytes;
		if (layer_unpack(st, ld, &n, &bytes, err) != 0)
			goto out;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "digest", ld);
		cJSON_AddNumberToObject(o, "dir", (double)n);
		cJSON_AddNumberToObject(o, "bytes", (double)bytes);
		cJSON_AddItemToArray(jl, o);
		total += bytes;
	}
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(cfg, "config");
	cJSON_AddStringToObject(rec, "digest", mdigest);
	cJSON_AddStringToObject(rec, "configDigest", cdigest);
	cJSON_AddStringToObject(rec, "created", jstr(cfg, "created") ? jstr(cfg, "created") : "");
	cJSON_AddNumberToObject(rec, "sizeBytes", (double)total);
	cJSON_AddItemToObject(rec, "env", strv_json(cJSON_GetObjectItemCaseSensitive(c, "Env")));
	cJSON_AddStringToObject(rec, "workingDir", jstr(c, "WorkingDir") ? jstr(c, "WorkingDir") : "");
	cJSON_AddStringToObject(rec, "user", jstr(c, "User") ? jstr(c, "User") : "");
	cJSON_AddItemToObject(rec, "entrypoint", strv_json(cJSON_GetObjectItemCaseSensitive(c, "Entrypoint")));
	cJSON_AddItemToObject(rec, "cmd", strv_json(cJSON_GetObjectItemCaseSensitive(c, "Cmd")));
	char path[128];
	snprintf(path, sizeof path, "images/%s.json", mdigest + 7);
	rc = put_json(st, path, rec, err);
out:
	cJSON_Delete(rec);
	cJSON_Delete(cfg);
	return rc;
}

static int add_ref(cJSON *refs, const char *ref, const char *digest)
{
	cJSON_DeleteItemFromObjectCaseSensitive(refs_of(refs), ref);
	if (cJSON_GetArraySize(refs_of(refs)) >= OCI_MAX_REFS)
		return -1;
	return cJSON_AddStringToObject(refs_of(refs), ref, digest) ? 0 : -1;
}

static void out_line(char *out, size_t outlen, const char *ref, const char *digest)
{
	if (!out || !outlen)
		return;
	size_t l = strlen(out);
	if (l < outlen)
		snprintf(out + l, outlen - l, "%s %s\n", ref, digest);
}

/* A name the user gave or the source holds, normalised, with a tag. */
static int name_ref(const char *in, char *canon, size_t len, char *err)
{
	srv_oci_ref r;
	if (srv_oci_ref_parse(in, &r, err) != 0)
		return -1;
	if (!r.name[0] || r.digest[0])
		return errf(err, 0, "\"%.255s\": a name takes a tag, not a digest", in);
	srv_oci_ref_string(&r, canon, len);
	return 0;
}

/* ---- OCI layouts ---- */

typedef struct layout_ctx {
	int dirfd;
} layout_ctx;

static int layout_put(void *ctx, srv_oci *st, const cJSON *desc, int idx, char *err)
{
	(void)idx;
	layout_ctx *lc = ctx;
	const char *d = jstr(desc, "digest");
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(desc, "size");
	if (!d || !digest_ok(d))
		return errf(err, 0, "a descriptor without a sha256 digest");
	char path[128];
	snprintf(path, sizeof path, "blobs/sha256/%s", d + 7);
	return blob_put_path(st, lc->dirfd, path, d,
	                     cJSON_IsNumber(sz) && sz->valuedouble >= 0 ? (int64_t)sz->valuedouble : -1, NULL, err);
}

static int import_layout(srv_oci *st, int dirfd, const char *ref, cJSON *refs, char *out, size_t outlen,
                         char *err)
{
	cJSON *index = read_json(dirfd, "index.json", err);
	if (!index)
		return -1;
	layout_ctx lc = {dirfd};
	int rc = -1;
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(index, "manifests");
	int nm = cJSON_GetArraySize(ms);
	if (!cJSON_IsArray(ms) || nm == 0 || nm > OCI_MAX_MANIFESTS) {
		errf(err, 0, "index.json: 1-%d manifests expected", OCI_MAX_MANIFESTS);
		goto out;
	}
	char given[512] = "", want_tag[129] = "";
	if (ref && *ref) {
		srv_oci_ref r;
		if (name_ref(ref, given, sizeof given, err) != 0 || srv_oci_ref_parse(ref, &r, err) != 0)
			goto out;
		snprintf(want_tag, sizeof want_tag, "%s", r.tag);
	}
	int done = 0;
	for (int i = 0; i < nm; i++) {
		const cJSON *m = cJSON_GetArrayItem(ms, i);
		const cJSON *ann = cJSON_GetObjectItemCaseSensitive(m, "annotations");
		const char *rn = jstr(ann, "org.opencontainers.image.ref.name");
		const char *full = jstr(ann, "io.containerd.image.name");
		char name[512] = "";
		if (given[0]) {
			if (nm > 1 && !(rn && (strcmp(rn, want_tag) == 0 || strcmp(rn, ref) == 0)))
				continue;
			memcpy(name, given, sizeof name);
		} else if (full || (rn && strpbrk(rn, "/:"))) {
			if (name_ref(full ? full : rn, name, sizeof name, err) != 0)
				goto out;
		} else {
			errf(err, 0, "the layout does not name its image%s%s: give a REF (sbxd image import PATH REF)",
			     rn ? " (only a tag: " : "", rn ? rn : "");
			if (rn)
				strncat(err, ")", SRV_OCI_ERRLEN - strlen(err) - 1);
			goto out;
		}
		const char *d = jstr(m, "digest"), *mt = jstr(m, "mediaType");
		if (layout_put(&lc, st, m, -1, err) != 0)
			goto out;
		cJSON *man = blob_json(st, d, err);
		if (!man)
			goto out;
		char mdigest[72];
		memcpy(mdigest, d, 72);
		if ((mt && strstr(mt, "index")) || cJSON_GetObjectItemCaseSensitive(man, "manifests")) {
			/* An index (several platforms): this machine's, else the first. */
			const cJSON *sub = cJSON_GetObjectItemCaseSensitive(man, "manifests"), *pick = NULL, *x;
			cJSON_ArrayForEach(x, sub) {
				const cJSON *pl = cJSON_GetObjectItemCaseSensitive(x, "platform");
				const char *arch = jstr(pl, "architecture"), *os = jstr(pl, "os");
				if (!pick || (arch && os && strcmp(arch, "amd64") == 0 && strcmp(os, "linux") == 0))
					pick = x;
			}
			const char *sd = pick ? jstr(pick, "digest") : NULL;
			if (!sd || layout_put(&lc, st, pick, -1, err) != 0) {
				if (!sd)
					errf(err, 0, "image index %.19s lists no manifest", d);
				cJSON_Delete(man);
				goto out;
			}
			cJSON_Delete(man);
			man = blob_json(st, sd, err);
			if (!man)
				goto out;
			memcpy(mdigest, sd, 72);
		}
		int src = store_image(st, mdigest, man, layout_put, &lc, err);
		cJSON_Delete(man);
		if (src != 0)
			goto out;
		if (add_ref(refs, name, mdigest) != 0) {
			errf(err, 0, "over %d references", OCI_MAX_REFS);
			goto out;
		}
		out_line(out, outlen, name, mdigest);
		done++;
	}
	if (!done) {
		errf(err, 0, "the layout holds %d images and none is tagged %.128s", nm, want_tag);
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(index);
	return rc;
}

/* ---- docker-archive (docker save's manifest.json) ---- */

typedef struct docker_ctx {
	int dirfd;
	const cJSON *entry;            /* the manifest.json entry */
	char digests[SRV_OCI_MAX_LAYERS + 1][72]; /* [0] config, [1+i] layers */
} docker_ctx;

static int docker_put(void *ctx, srv_oci *st, const cJSON *desc, int idx, char *err)
{
	docker_ctx *dc = ctx;
	(void)desc;
	const char *path = jstr(dc->entry, "Config");
	if (idx >= 0) {
		const cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(dc->entry, "Layers"), idx);
		path = cJSON_IsString(l) ? l->valuestring : NULL;
	}
	if (!path)
		return errf(err, 0, "manifest.json: a config or layer without a path");
	return blob_put_path(st, dc->dirfd, path, dc->digests[idx + 1], -1, NULL, err);
}

static int import_docker(srv_oci *st, int dirfd, const char *ref, cJSON *refs, char *out, size_t outlen,
                         char *err)
{
	cJSON *mj = read_json(dirfd, "manifest.json", err);
	if (!mj)
		return -1;
	int rc = -1, n = cJSON_GetArraySize(mj), done = 0;
	docker_ctx *dc = calloc(1, sizeof *dc);
	char given[512] = "";
	if (!dc) {
		errf(err, ENOMEM, "import");
		goto out;
	}
	if (!cJSON_IsArray(mj) || n == 0 || n > OCI_MAX_MANIFESTS) {
		errf(err, 0, "manifest.json: 1-%d images expected", OCI_MAX_MANIFESTS);
		goto out;
	}
	if (ref && *ref && name_ref(ref, given, sizeof given, err) != 0)
		goto out;
	dc->dirfd = dirfd;
	for (int i = 0; i < n; i++) {
		const cJSON *e = cJSON_GetArrayItem(mj, i), *tags = cJSON_GetObjectItemCaseSensitive(e, "RepoTags");
		const cJSON *layers = cJSON_GetObjectItemCaseSensitive(e, "Layers"), *t;
		char names[8][512];
		int nn = 0;
		cJSON_ArrayForEach(t, tags) {
			if (nn < 8 && cJSON_IsString(t) && name_ref(t->valuestring, names[nn], sizeof names[0], err) == 0)
				nn++;
		}
		if (given[0]) {
			int hit = n == 1;
			for (int k = 0; k < nn; k++)
				hit |= strcmp(names[k], given) == 0;
			if (!hit)
				continue;
			memcpy(names[0], given, sizeof names[0]);
			nn = 1;
		} else if (!nn) {
			errf(err, 0, "image %d of manifest.json has no RepoTags: give a REF (sbxd image import PATH REF)", i);
			goto out;
		}
		int nl = cJSON_GetArraySize(layers);
		const char *cpath = jstr(e, "Config");
		if (!cpath || !cJSON_IsArray(layers) || nl > SRV_OCI_MAX_LAYERS) {
			errf(err, 0, "manifest.json: image %d needs Config and at most %d Layers", i, SRV_OCI_MAX_LAYERS);
			goto out;
		}
		/* docker save gives paths, not digests: hash them as they are
		 * stored, then write the OCI manifest they make. */
		dc->entry = e;
		if (blob_put_path(st, dirfd, cpath, NULL, -1, dc->digests[0], err) != 0)
			goto out;
		cJSON *man = cJSON_CreateObject();
		cJSON_AddNumberToObject(man, "schemaVersion", 2);
		cJSON_AddStringToObject(man, "mediaType", "application/vnd.oci.image.manifest.v1+json");
		cJSON *c = cJSON_AddObjectToObject(man, "config");
		cJSON_AddStringToObject(c, "mediaType", "application/vnd.oci.image.config.v1+json");
		cJSON_AddStringToObject(c, "digest", dc->digests[0]);
		cJSON *ml = cJSON_AddArrayToObject(man, "layers");
		for (int k = 0; k < nl; k++) {
			const cJSON *l = cJSON_GetArrayItem(layers, k);
			if (!cJSON_IsString(l) ||
			    blob_put_path(st, dirfd, l->valuestring, NULL, -1, dc->digests[k + 1], err) != 0) {
				cJSON_Delete(man);
				goto out;
			}
			cJSON *d = cJSON_CreateObject();
			/* The tar may be compressed: libarchive finds out. */
			cJSON_AddStringToObject(d, "mediaType", "application/vnd.oci.image.layer.v1.tar");
			cJSON_AddStringToObject(d, "digest", dc->digests[k + 1]);
			cJSON_AddItemToArray(ml, d);
		}
		char *text = cJSON_PrintUnformatted(man);
		char mdigest[72];
		int prc = text ? blob_put_mem(st, text, strlen(text), mdigest, err) : errf(err, ENOMEM, "manifest");
		free(text);
		if (prc != 0) {
			cJSON_Delete(man);
			goto out;
		}
		/* Everything is in the store now: the put hook only finds it. */
		prc = store_image(st, mdigest, man, docker_put, dc, err);
		cJSON_Delete(man);
		if (prc != 0)
			goto out;
		for (int k = 0; k < nn; k++) {
			if (add_ref(refs, names[k], mdigest) != 0) {
				errf(err, 0, "over %d references", OCI_MAX_REFS);
				goto out;
			}
			out_line(out, outlen, names[k], mdigest);
		}
		done++;
	}
	if (!done) {
		errf(err, 0, "manifest.json holds %d images and none is %.255s", n, given);
		goto out;
	}
	rc = 0;
out:
	free(dc);
	cJSON_Delete(mj);
	return rc;
}

/* ---- import, remove, gc ---- */

int srv_oci_import(srv_oci *st, const char *path, const char *ref, char *out, size_t outlen, char *err)
{
	int rc = -1, dirfd = -1, srcfd = -1;
	char tmp[64] = "";
	cJSON *refs = NULL;
	if (out && outlen)
		out[0] = '\0';
	store_lock(st, LOCK_EX);
	srcfd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (srcfd < 0 || fstat(srcfd, &sb) != 0) {
		errf(err, errno, "%.200s", path);
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		dirfd = srcfd;
		srcfd = -1;
	} else if (S_ISREG(sb.st_mode)) {
		/* An archive: its files (never its links or devices) into a
		 * private temp dir first, read from there like a layout. */
		snprintf(tmp, sizeof tmp, "tmp/a.%d.%ld", (int)getpid(), (long)random());
		if (mkdirat(st->rootfd, tmp, 0700) != 0 ||
		    (dirfd = srv_open_beneath(st->rootfd, tmp, O_RDONLY | O_DIRECTORY, 1)) < 0) {
			errf(err, errno, "mkdir %s/%s", st->root, tmp);
			goto out;
		}
		char uerr[SRV_OCI_ERRLEN];
		if (unpack_fd(srcfd, dirfd, 0, NULL, uerr) != 0) {
			errf(err, 0, "%.200s: %s", path, uerr);
			goto out;
		}
	} else {
		errf(err, 0, "%.200s: neither a directory (an OCI layout) nor an archive", path);
		goto out;
	}
	refs = load_refs(st, err);
	if (!refs)
		goto out;
	struct stat x;
	if (fstatat(dirfd, "index.json", &x, 0) == 0)
		rc = import_layout(st, dirfd, ref, refs, out, outlen, err);
	else if (fstatat(dirfd, "manifest.json", &x, 0) == 0)
		rc = import_docker(st, dirfd, ref, refs, out, outlen, err);
	else
		errf(err, 0, "%.200s: no index.json (OCI layout) or manifest.json (docker save)", path);
	if (rc == 0)
		rc = put_json(st, "refs.json", refs, err);
out:
	cJSON_Delete(refs);
	if (dirfd >= 0)
		close(dirfd);
	if (srcfd >= 0)
		close(srcfd);
	if (tmp[0])
		remove_any(st->rootfd, tmp, 0);
	store_lock(st, LOCK_UN);
	return rc;
}

/* The key of refs for a parsed reference; NULL for a bare digest. */
static const char *find_ref(cJSON *refs, const srv_oci_ref *r, char *key, size_t len, const char **digest)
{
	*digest = NULL;
	if (!r->name[0])
		return NULL;
	if (r->tag[0]) {
		snprintf(key, len, "%s:%s", r->name, r->tag);
		const char *d = jstr(refs_of(refs), key);
		if (d && (!r->digest[0] || strcmp(d, r->digest) == 0)) {
			*digest = d;
			return key;
		}
		return NULL;
	}
	/* name@digest: some tag of that name has it. */
	const cJSON *x;
	size_t nl = strlen(r->name);
	cJSON_ArrayForEach(x, refs_of(refs)) {
		if (cJSON_IsString(x) && strncmp(x->string, r->name, nl) == 0 && x->string[nl] == ':' &&
		    strcmp(x->valuestring, r->digest) == 0) {
			snprintf(key, len, "%s", x->string);
			*digest = x->valuestring;
			return key;
		}
	}
	return NULL;
}

/* A bare digest: a manifest's, else a config's (docker's image id). */
static int digest_image(srv_oci *st, cJSON *refs, const char *digest, char *mdigest)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, refs_of(refs)) {
		if (!cJSON_IsString(x))
			continue;
		if (strcmp(x->valuestring, digest) == 0) {
			memcpy(mdigest, digest, 72);
			return 0;
		}
	}
	cJSON_ArrayForEach(x, refs_of(refs)) {
		if (!cJSON_IsString(x) || !digest_ok(x->valuestring))
			continue;
		char path[128];
		snprintf(path, sizeof path, "images/%s.json", x->valuestring + 7);
		cJSON *rec = read_json(st->rootfd, path, NULL);
		int hit = rec && jstr(rec, "configDigest") && strcmp(jstr(rec, "configDigest"), digest) == 0;
		cJSON_Delete(rec);
		if (hit) {
			memcpy(mdigest, x->valuestring, 72);
			return 0;
		}
	}
	return -1;
}

int srv_oci_remove(srv_oci *st, const char *ref, char *err)
{
	srv_oci_ref r;
	if (srv_oci_ref_parse(ref, &r, err) != 0)
		return -1;
	store_lock(st, LOCK_EX);
	int rc = -1;
	cJSON *refs = load_refs(st, err);
	if (!refs)
		goto out;
	char key[600], mdigest[72] = "";
	const char *d = NULL;
	if (r.name[0] && find_ref(refs, &r, key, sizeof key, &d)) {
		memcpy(mdigest, d, strlen(d) + 1);
		if (r.tag[0]) {
			cJSON_DeleteItemFromObjectCaseSensitive(refs_of(refs), key);
		} else {
			d = NULL;
		}
	} else if (!r.name[0] && digest_image(st, refs, r.digest, mdigest) == 0) {
		d = NULL;
	} else {
		errf(err, ENOENT, "image %.255s not found", ref);
		goto out;
	}
	if (!d) {
		/* A digest: every reference to that image. */
		cJSON *x = refs_of(refs)->child;
		while (x) {
			cJSON *next = x->next;
			if (cJSON_IsString(x) && strcmp(x->valuestring, mdigest) == 0)
				cJSON_Delete(cJSON_DetachItemViaPointer(refs_of(refs), x));
			x = next;
		}
	}
	rc = put_json(st, "refs.json", refs, err);
	/* The record goes with its last reference (a bare digest no
	 * longer finds it); its layers wait for srv_oci_gc. */
	int still = 0;
	const cJSON *y;
	cJSON_ArrayForEach(y, refs_of(refs))
		still |= cJSON_IsString(y) && strcmp(y->valuestring, mdigest) == 0;
	if (rc == 0 && !still) {
		char path[128];
		snprintf(path, sizeof path, "images/%s.json", mdigest + 7);
		unlinkat(st->rootfd, path, 0);
	}
out:
	cJSON_Delete(refs);
	store_lock(st, LOCK_UN);
	return rc;
}

/* Names in a dir, for gc. */
typedef struct namelist {
	char **v;
	size_t n, cap;
} namelist;

static void list_dir(int rootfd, const char *dir, namelist *nl)
{
	int fd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (nl->n == nl->cap) {
			size_t nc = nl->cap ? nl->cap * 2 : 64;
			char **nv = realloc(nl->v, nc * sizeof *nv);
			if (!nv)
				break;
			nl->v = nv;
			nl->cap = nc;
		}
		if ((nl->v[nl->n] = strdup(e->d_name)) != NULL)
			nl->n++;
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
}

static void namelist_free(namelist *nl)
{
	for (size_t i = 0; i < nl->n; i++)
		free(nl->v[i]);
	free(nl->v);
}

int srv_oci_gc(srv_oci *st, char *err)
{
	store_lock(st, LOCK_EX);
	int removed = 0;
	cJSON *refs = load_refs(st, err), *keep = cJSON_CreateObject(); /* hex -> 1 (blobs), "l/N" */
	namelist recs = {0}, blobs = {0}, layers = {0}, dirs = {0}, tmps = {0};
	if (!refs || !keep) {
		removed = -1;
		goto out;
	}
	list_dir(st->rootfd, "images", &recs);
	for (size_t i = 0; i < recs.n; i++) {
		char hex[65] = "", d[72], path[128];
		snprintf(hex, sizeof hex, "%.64s", recs.v[i]);
		snprintf(d, sizeof d, "sha256:%s", hex);
		int used = 0;
		const cJSON *y;
		cJSON_ArrayForEach(y, refs_of(refs))
			used |= cJSON_IsString(y) && strcmp(y->valuestring, d) == 0;
		snprintf(path, sizeof path, "images/%s", recs.v[i]);
		cJSON *rec = used ? read_json(st->rootfd, path, NULL) : NULL;
		if (!rec) {
			unlinkat(st->rootfd, path, 0);
			continue;
		}
		cJSON_AddTrueToObject(keep, hex);
		if (jstr(rec, "configDigest") && digest_ok(jstr(rec, "configDigest")))
			cJSON_AddTrueToObject(keep, jstr(rec, "configDigest") + 7);
		const cJSON *l;
		cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(rec, "layers")) {
			const char *ld = jstr(l, "digest");
			if (ld && digest_ok(ld))
				cJSON_AddTrueToObject(keep, ld + 7);
		}
		cJSON_Delete(rec);
	}
	list_dir(st->rootfd, "layers", &layers);
	cJSON *keepdirs = cJSON_CreateObject();
	for (size_t i = 0; i < layers.n; i++) {
		char d[72];
		long n;
		int64_t b;
		snprintf(d, sizeof d, "sha256:%.64s", layers.v[i]);
		int ok = layer_lookup(st, d, &n, &b) == 0;
		if (ok && cJSON_GetObjectItemCaseSensitive(keep, layers.v[i])) {
			char k[32];
			snprintf(k, sizeof k, "%ld", n);
			cJSON_AddTrueToObject(keepdirs, k);
			continue;
		}
		char path[128];
		snprintf(path, sizeof path, "layers/%s", layers.v[i]);
		unlinkat(st->rootfd, path, 0);
	}
	list_dir(st->rootfd, "l", &dirs);
	for (size_t i = 0; i < dirs.n; i++) {
		if (keepdirs && cJSON_GetObjectItemCaseSensitive(keepdirs, dirs.v[i]))
			continue;
		char path[128];
		snprintf(path, sizeof path, "l/%.64s", dirs.v[i]);
		if (remove_any(st->rootfd, path, 0) == 0)
			removed++;
	}
	cJSON_Delete(keepdirs);
	list_dir(st->rootfd, "blobs/sha256", &blobs);
	for (size_t i = 0; i < blobs.n; i++) {
		if (cJSON_GetObjectItemCaseSensitive(keep, blobs.v[i]))
			continue;
		char path[128];
		snprintf(path, sizeof path, "blobs/sha256/%.64s", blobs.v[i]);
		unlinkat(st->rootfd, path, 0);
	}
	list_dir(st->rootfd, "tmp", &tmps);
	for (size_t i = 0; i < tmps.n; i++) {
		char path[128];
		snprintf(path, sizeof path, "tmp/%.64s", tmps.v[i]);
		remove_any(st->rootfd, path, 0);
	}
out:
	namelist_free(&recs);
	namelist_free(&blobs);
	namelist_free(&layers);
	namelist_free(&dirs);
	namelist_free(&tmps);
	cJSON_Delete(refs);
	cJSON_Delete(keep);
	store_lock(st, LOCK_UN);
	return removed;
}

/* ---- resolving and listing ---- */

void srv_oci_names(srv_oci *st, char *buf, size_t len)
{
	if (!len)
		return;
	buf[0] = '\0';
	cJSON *refs = load_refs(st, NULL);
	const cJSON *x;
	size_t used = 0;
	cJSON *all = refs ? refs_of(refs) : NULL;
	cJSON_ArrayForEach(x, all) {
		size_t l = strlen(x->string);
		if (used + l + 8 >= len) {
			if (used + 4 < len)
				snprintf(buf + used, len - used, "%s...", used ? ", " : "");
			break;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", x->string);
	}
	cJSON_Delete(refs);
}

static int strv_from(const cJSON *arr, srv_strv *out)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, arr)
		if (cJSON_IsString(x) && srv_strv_push(out, x->valuestring) != 0)
			return -1;
	return 0;
}

int srv_oci_resolve(srv_oci *st, const char *ref, srv_oci_image *out, char *err)
{
	memset(out, 0, sizeof *out);
	srv_oci_ref r;
	if (srv_oci_ref_parse(ref, &r, err) != 0) {
		errno = ENOENT;
		return -1;
	}
	cJSON *refs = load_refs(st, err), *rec = NULL;
	int rc = -1;
	if (!refs)
		return -1;
	char key[400], mdigest[72] = "";
	const char *d = NULL;
	if (r.name[0] ? find_ref(refs, &r, key, sizeof key, &d) != NULL : digest_image(st, refs, r.digest, mdigest) == 0) {
		if (d)
			memcpy(mdigest, d, strlen(d) + 1);
	} else {
		char names[400];
		srv_oci_names(st, names, sizeof names);
		char canon[512];
		srv_oci_ref_string(&r, canon, sizeof canon);
		errf(err, 0, "image %.255s not found (references: %s)", canon, names[0] ? names : "none");
		errno = ENOENT;
		goto out;
	}
	char path[128];
	snprintf(path, sizeof path, "images/%s.json", mdigest + 7);
	rec = read_json(st->rootfd, path, err);
	if (!rec)
		goto out;
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(rec, "layers");
	int nl = cJSON_GetArraySize(layers);
	if (nl < 0 || nl > SRV_OCI_MAX_LAYERS) {
		errf(err, 0, "image record %s: bad layers", mdigest);
		goto out;
	}
	out->lowers = calloc((size_t)nl + 2, sizeof *out->lowers);
	if (!out->lowers)
		goto nomem;
	/* overlayfs wants the topmost lower first; a manifest lists the
	 * base first. An image of no layers is an empty dir. */
	for (int i = 0; i < nl; i++) {
		const cJSON *dir = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(layers, i), "dir");
		if (!cJSON_IsNumber(dir) || dir->valuedouble < 1 || dir->valuedouble > 1e8) {
			errf(err, 0, "image record %s: bad layer dir", mdigest);
			goto out;
		}
		char p[PATH_MAX + 32];
		snprintf(p, sizeof p, "%s/l/%ld", st->root, (long)dir->valuedouble);
		struct stat sb;
		if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
			errf(err, errno, "image %s: layer %s", mdigest, p);
			goto out;
		}
		if (!(out->lowers[nl - 1 - i] = strdup(p)))
			goto nomem;
	}
	if (nl == 0) {
		char p[PATH_MAX + 8];
		snprintf(p, sizeof p, "%s/l", st->root);
		if (!(out->lowers[0] = strdup(p)))
			goto nomem;
	}
	srv_oci_ref_string(&r, out->ref, sizeof out->ref);
	if (r.name[0] && !r.tag[0])
		snprintf(out->ref, sizeof out->ref, "%s@%s", key, r.digest);
	memcpy(out->digest, mdigest, sizeof out->digest);
	const char *wd = jstr(rec, "workingDir"), *user = jstr(rec, "user");
	out->working_dir = strdup(wd ? wd : "");
	out->user = strdup(user ? user : "");
	if (!out->working_dir || !out->user || strv_from(cJSON_GetObjectItemCaseSensitive(rec, "env"), &out->env) ||
	    strv_from(cJSON_GetObjectItemCaseSensitive(rec, "entrypoint"), &out->entrypoint) ||
	    strv_from(cJSON_GetObjectItemCaseSensitive(rec, "cmd"), &out->cmd))
		goto nomem;
	rc = 0;
	goto out;
nomem:
	errf(err, ENOMEM, "image");
out:
	if (rc != 0 && errno != ENOENT) {
		int e = errno;
		srv_oci_image_free(out);
		errno = e;
	} else if (rc != 0) {
		srv_oci_image_free(out);
		errno = ENOENT;
	}
	cJSON_Delete(rec);
	cJSON_Delete(refs);
	return rc;
}

void srv_oci_image_free(srv_oci_image *im)
{
	if (!im)
		return;
	for (char **p = im->lowers; p && *p; p++)
		free(*p);
	free(im->lowers);
	srv_strv_free(&im->env);
	srv_strv_free(&im->entrypoint);
	srv_strv_free(&im->cmd);
	free(im->working_dir);
	free(im->user);
	memset(im, 0, sizeof *im);
}

void srv_oci_listing_free(srv_oci_listing *l)
{
	for (size_t i = 0; l && i < l->n; i++) {
		srv_strv_free(&l->v[i].refs);
		free(l->v[i].config_digest);
		free(l->v[i].created);
	}
	if (l) {
		free(l->v);
		memset(l, 0, sizeof *l);
	}
}

int srv_oci_list(srv_oci *st, srv_oci_listing *out, char *err)
{
	memset(out, 0, sizeof *out);
	cJSON *refs = load_refs(st, err);
	if (!refs)
		return -1;
	int rc = -1;
	size_t cap = 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, refs_of(refs)) {
		if (!cJSON_IsString(x) || !digest_ok(x->valuestring))
			continue;
		/* One entry per image, its references together. */
		srv_oci_entry *img = NULL;
		for (size_t i = 0; i < out->n && !img; i++)
			if (strcmp(out->v[i].digest, x->valuestring) == 0)
				img = &out->v[i];
		if (!img) {
			char path[128];
			snprintf(path, sizeof path, "images/%s.json", x->valuestring + 7);
			cJSON *rec = read_json(st->rootfd, path, NULL);
			if (!rec)
				continue;
			if (out->n == cap) {
				size_t nc = cap ? cap * 2 : 8;
				srv_oci_entry *nv = realloc(out->v, nc * sizeof *nv);
				if (!nv) {
					cJSON_Delete(rec);
					errf(err, ENOMEM, "list");
					goto out;
				}
				out->v = nv;
				cap = nc;
			}
			img = &out->v[out->n++];
			memset(img, 0, sizeof *img);
			snprintf(img->digest, sizeof img->digest, "%s", x->valuestring);
			const char *cd = jstr(rec, "configDigest"), *cr = jstr(rec, "created");
			img->config_digest = strdup(cd ? cd : "");
			img->created = strdup(cr ? cr : "");
			img->layers = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rec, "layers"));
			if (srv_json_int(cJSON_GetObjectItemCaseSensitive(rec, "sizeBytes"), 0, INT64_MAX,
					 &img->size_bytes) != 0)
				img->size_bytes = 0;
			cJSON_Delete(rec);
			if (!img->config_digest || !img->created) {
				errf(err, ENOMEM, "list");
				goto out;
			}
		}
		if (srv_strv_push(&img->refs, x->string) != 0) {
			errf(err, ENOMEM, "list");
			goto out;
		}
	}
	rc = 0;
out:
	cJSON_Delete(refs);
	if (rc)
		srv_oci_listing_free(out);
	return rc;
}

/* ---- what a sandbox takes from the config ---- */

/* NAME's numeric id from FILE (etc/passwd or etc/group) of the topmost
 * layer that has one; -1 when none says. */
static int64_t id_lookup(const srv_oci_image *im, const char *file, const char *name, int64_t *gid)
{
	for (char **l = im->lowers; l && *l; l++) {
		int dfd = open(*l, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		struct stat sb;
		int fd = srv_open_beneath(dfd, file, O_RDONLY, 1);
		close(dfd);
		if (fd < 0)
			continue;
		char *buf = NULL;
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size < (1 << 20))
			buf = calloc(1, (size_t)sb.st_size + 1);
		ssize_t n = buf ? read(fd, buf, (size_t)sb.st_size) : -1;
		close(fd);
		int64_t found = -1;
		for (char *save = NULL, *line = n > 0 ? strtok_r(buf, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *f[4] = {0};
			int k = 0;
			for (char *s2 = NULL, *c = strtok_r(line, ":", &s2); c && k < 4; c = strtok_r(NULL, ":", &s2))
				f[k++] = c;
			if (k >= 3 && strcmp(f[0], name) == 0) {
				int64_t v;
				if (srv_parse_int(f[2], 0, 0xfffffffeLL, &v) == 0) {
					found = v;
					if (gid && k >= 4 && srv_parse_int(f[3], 0, 0xfffffffeLL, &v) == 0)
						*gid = v;
				}
				break;
			}
		}
		free(buf);
		return found; /* the topmost file is the one the sandbox sees */
	}
	return -1;
}

int srv_oci_user(const srv_oci_image *im, int64_t *uid, int64_t *gid, char *err)
{
	*uid = 0;
	*gid = 0;
	if (!im->user || !*im->user)
		return 0;
	char u[256], *g;
	snprintf(u, sizeof u, "%s", im->user);
	if ((g = strchr(u, ':')) != NULL)
		*g++ = '\0';
	int64_t v, pg = -1;
	if (srv_parse_int(u, 0, 0xfffffffeLL, &v) == 0) {
		*uid = v;
		*gid = v;
	} else if ((v = id_lookup(im, "etc/passwd", u, &pg)) >= 0) {
		*uid = v;
		*gid = pg >= 0 ? pg : v;
	} else {
		return errf(err, 0, "the image's user \"%.100s\" is not in its /etc/passwd", u);
	}
	if (g && *g) {
		if (srv_parse_int(g, 0, 0xfffffffeLL, &v) == 0)
			*gid = v;
		else if ((v = id_lookup(im, "etc/group", g, NULL)) >= 0)
			*gid = v;
		else
			return errf(err, 0, "the image's group \"%.100s\" is not in its /etc/group", g);
	}
	return 0;
}

int srv_oci_main_argv(const srv_oci_image *im, srv_strv *out)
{
	for (size_t i = 0; i < im->entrypoint.n; i++)
		if (srv_strv_push(out, im->entrypoint.v[i]) != 0)
			return -1;
	for (size_t i = 0; i < im->cmd.n; i++)
		if (srv_strv_push(out, im->cmd.v[i]) != 0)
			return -1;
	return 0;
}

void srv_oci_list_print(const srv_oci_listing *l, FILE *f)
{
	fprintf(f, "%-50s %-19s %6s %10s\n", "REFERENCE", "DIGEST", "LAYERS", "SIZE");
	for (size_t i = 0; i < l->n; i++)
		for (size_t k = 0; k < l->v[i].refs.n; k++)
			fprintf(f, "%-50s %-19.19s %6d %8.1fMi\n", l->v[i].refs.v[k], l->v[i].digest, l->v[i].layers,
			        (double)l->v[i].size_bytes / 1048576.0);
}
