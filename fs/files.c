/*
 * The files/ subtree (see files.h): a sandbox's filesystem through libsbx's
 * file calls. Nodes are interned (slot, path) pairs in a hash table whose
 * index is the inode number; an entry stays while the kernel holds it (its
 * lookups are counted, per node and with its slot's in state.c: freed at
 * its last FORGET) and at most as long as its sandbox's slot (dropped when
 * state.c reclaims it, fs_files_drop_slot), which keeps inode numbers
 * stable while the kernel may use them. Contents are never cached here:
 * the sandbox may change its files at any time, so every open uses
 * direct_io; names and attributes live FS_FILES_ATTR_TIMEOUT in the
 * kernel (listings hand them over for every entry, READDIRPLUS), and
 * what the mount itself changes is answered with the new attributes or
 * invalidated (the other names of a hard-linked file). Node numbers are per path,
 * never per st_ino, which is also what makes a node's depth the kernel's:
 * symlink texts are shown only in a form the kernel cannot walk out of
 * files/ with (fs_files_link_text, docs/security.md).
 */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "idring.h"
#include "node.h"
#include "state.h"

#define FILES_MAX (1u << 20)     /* interned paths per mount */
#define PATH_MAX_LEN 4096
#define NBUCKETS 4096
#define IO_MAX (4u << 20)        /* bytes per read call to the service */
/* A dropped node's index is reused once this many others were dropped
 * after it (the kernel held none of them; this only keeps numbers apart in
 * time, as state.c does for slots). */
#define FILES_QUARANTINE 1024

typedef struct fnode {
	uint32_t slot;
	int dead;               /* replaced by a rename: no path leads here */
	char *path;
	uint64_t sino;          /* st_ino and st_nlink as last shown to the */
	uint32_t nlink;         /* kernel (0: not yet), to find hard links */
	uint64_t nlookup;       /* the kernel's lookups of this node: freed at 0 */
	uint32_t nopen;         /* open files of this node (handles) */
	int hidden;             /* unlinked while open: path is the hidden name
				 * it was renamed to, removed at the last close */
	/* What the kernel was last shown (remember) and, for the page
	 * cache, the file as it was when the cache was filled (an open with
	 * a descriptor: fd_cache_check); see "Descriptors". */
	int shown, cst_valid;
	uint32_t shown_uid, shown_gid;
	int64_t shown_size, shown_mtime, shown_ctime;
	int64_t cst_size, cst_mtime, cst_ctime;
	uint64_t cst_ino;
	/* Directories: when the listing last handed to the kernel was
	 * fetched (monotonic ms, 0: never) and lc_gen then (see
	 * fs_files_dir_cached). */
	int64_t ls_ms;
	uint64_t ls_gen;
	/* Directories: their attributes as their parent's listing (fetched
	 * at dattr_ms, lc_gen dattr_gen) gave them, to answer the GETATTR
	 * the kernel sends when find or ls stats a directory whose listing
	 * it read (it marks the atime stale) within the same timeout as
	 * the kernel's own attribute cache; NULL when none. */
	struct stat *dattr;
	int64_t dattr_ms;
	uint64_t dattr_gen;
} fnode;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sbx_client *client;
static struct fuse_session *session;
static fnode **byindex;
static uint32_t nnodes, capnodes;
static uint32_t buckets[NBUCKETS];      /* index + 1 of the first node, chained by hnext */
static uint32_t *hnext;
static fs_idring freeq;                 /* dropped indices (0-based), oldest first */

/* Under lock: the node of a files/ inode number, NULL when none. */
static fnode *node_of_locked(uint64_t ino)
{
	uint64_t i = ino & ~FS_INO_FILES_BIT;
	return fs_ino_is_files(ino) && i >= 1 && i <= nnodes ? byindex[i - 1] : NULL;
}

/* sbxfs's own ids, asked once: two system calls an entry were 4-6% of
 * sbxfs's CPU in a cold walk of 10,000 entries. */
static uid_t own_uid;
static gid_t own_gid;

void fs_files_setup(sbx_client *c)
{
	client = c;
	own_uid = getuid();
	own_gid = getgid();
}

/* Descriptors (see "Descriptors" below): asked for unless -o no_splice;
 * fds_refused (atomic) once the service or a proxy in between cannot
 * pass one, so no later open asks again. */
static int use_fds = 1;
static int fds_refused;

void fs_files_use_fds(int on)
{
	use_fds = on;
}

void fs_files_set_session(struct fuse_session *se)
{
	session = se;
}

static void lc_fini(void);

void fs_files_fini(void)
{
	lc_fini();
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < nnodes; i++) {
		if (byindex[i]) {
			free(byindex[i]->path);
			free(byindex[i]->dattr);
		}
		free(byindex[i]);
	}
	free(byindex);
	free(hnext);
	fs_idring_clear(&freeq);
	byindex = NULL;
	hnext = NULL;
	nnodes = capnodes = 0;
	memset(buckets, 0, sizeof buckets);
	pthread_mutex_unlock(&lock);
}

static uint32_t hash(uint32_t slot, const char *p)
{
	uint32_t h = 2166136261u ^ slot;
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % NBUCKETS;
}

/* Under lock: the node of (slot, path), made if new; 0 when the table is
 * full or memory ran out. */
static uint64_t intern_locked(uint32_t slot, const char *path)
{
	uint64_t ino = 0;
	uint32_t b = hash(slot, path);
	for (uint32_t i = buckets[b]; i; i = hnext[i - 1]) {
		fnode *n = byindex[i - 1];
		if (!n->dead && n->slot == slot && strcmp(n->path, path) == 0)
			return FS_INO_FILES_BIT | i;
	}
	int reuse = freeq.len > FILES_QUARANTINE || (nnodes >= FILES_MAX && freeq.len > 0);
	if (!reuse && nnodes >= FILES_MAX)
		goto out;
	if (!reuse && nnodes == capnodes) {
		uint32_t nc = capnodes ? capnodes * 2 : 256;
		fnode **nb = realloc(byindex, nc * sizeof *nb);
		if (!nb)
			goto out;
		byindex = nb;
		uint32_t *nh = realloc(hnext, nc * sizeof *nh);
		if (!nh)
			goto out;
		hnext = nh;
		capnodes = nc;
	}
	fnode *n = calloc(1, sizeof *n);
	if (!n || !(n->path = strdup(path))) {
		free(n);
		goto out;
	}
	n->slot = slot;
	uint32_t at = nnodes;
	if (reuse) {
		at = fs_idring_pop(&freeq);
	} else {
		nnodes++;
	}
	byindex[at] = n;
	hnext[at] = buckets[b];
	buckets[b] = at + 1;
	ino = FS_INO_FILES_BIT | (at + 1);
out:
	return ino;
}

uint64_t fs_files_intern(uint32_t slot, const char *path)
{
	pthread_mutex_lock(&lock);
	uint64_t ino = intern_locked(slot, path);
	pthread_mutex_unlock(&lock);
	return ino;
}

static void unchain(uint32_t i);

/* Under lock: node i leaves the table; its index is reused later. 0 when
 * the ring of free indices cannot grow (the node then stays: a node that
 * stays is never wrong). */
static int node_free_locked(uint32_t i)
{
	if (!fs_idring_push(&freeq, i))
		return 0;
	unchain(i);     /* a dead node was unchained by its rename */
	free(byindex[i]->path);
	free(byindex[i]->dattr);
	free(byindex[i]);
	byindex[i] = NULL;
	return 1;
}

uint64_t fs_files_intern_ref(uint32_t slot, const char *path)
{
	pthread_mutex_lock(&lock);
	uint64_t ino = intern_locked(slot, path);
	if (ino)
		byindex[(ino & ~FS_INO_FILES_BIT) - 1]->nlookup++;
	pthread_mutex_unlock(&lock);
	if (ino && fs_state_ref(slot) != 0) {
		fs_files_forget_node(ino, 1);
		return 0;
	}
	return ino;
}

int fs_files_resolve(uint64_t ino, uint32_t *slot, char **path)
{
	if (!fs_ino_is_files(ino)) {
		int64_t pid;
		fs_kind k;
		if (fs_ino_split(ino, slot, &pid, &k) != 0 || k != FS_K_SB_FILES)
			return -ENOENT;
		*path = strdup("/");
		return *path ? 0 : -ENOMEM;
	}
	uint64_t i = ino & ~FS_INO_FILES_BIT;
	int rc = -ENOENT;
	pthread_mutex_lock(&lock);
	if (i >= 1 && i <= nnodes && byindex[i - 1] && !byindex[i - 1]->dead) {
		*slot = byindex[i - 1]->slot;
		*path = strdup(byindex[i - 1]->path);
		rc = *path ? 0 : -ENOMEM;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

/* Takes node i (0-based) out of its hash chain; under lock. */
static void unchain(uint32_t i)
{
	uint32_t b = hash(byindex[i]->slot, byindex[i]->path);
	uint32_t *link = &buckets[b];
	while (*link && *link != i + 1)
		link = &hnext[*link - 1];
	if (*link)
		*link = hnext[i];
}

static void chain(uint32_t i)
{
	uint32_t b = hash(byindex[i]->slot, byindex[i]->path);
	hnext[i] = buckets[b];
	buckets[b] = i + 1;
}

/* Whether path is p or lies below it; *rest is what follows p. */
static int under(const char *path, const char *p, const char **rest)
{
	size_t n = strlen(p);
	if (strncmp(path, p, n) != 0 || (path[n] && path[n] != '/'))
		return 0;
	*rest = path + n;
	return 1;
}

/* One pass over the table (the price of path-keyed inodes). */
void fs_files_moved(uint32_t slot, const char *from, const char *to, int exchange)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < nnodes; i++) {
		fnode *n = byindex[i];
		const char *rest;
		const char *dst = NULL;
		if (!n || n->dead || n->slot != slot)
			continue;
		if (under(n->path, from, &rest))
			dst = to;
		else if (under(n->path, to, &rest))
			dst = exchange ? from : NULL;
		else
			continue;
		unchain(i);
		if (!dst) {
			n->dead = 1;
			continue;
		}
		size_t dl = strlen(dst), rl = strlen(rest);
		char *np = dl + rl < PATH_MAX_LEN ? malloc(dl + rl + 1) : NULL;
		if (!np) {
			n->dead = 1;    /* cannot follow it: better gone than wrong */
			continue;
		}
		memcpy(np, dst, dl);
		memcpy(np + dl, rest, rl + 1);
		free(n->path);
		n->path = np;
		chain(i);
	}
	pthread_mutex_unlock(&lock);
}

void fs_files_drop_slot(uint32_t slot)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < nnodes; i++)
		if (byindex[i] && byindex[i]->slot == slot && !node_free_locked(i))
			break;
	pthread_mutex_unlock(&lock);
}

uint32_t fs_files_nodes_used(void)
{
	pthread_mutex_lock(&lock);
	uint32_t n = nnodes - freeq.len;
	pthread_mutex_unlock(&lock);
	return n;
}

int fs_files_node_slot(uint64_t ino, uint32_t *slot)
{
	uint64_t i = ino & ~FS_INO_FILES_BIT;
	int rc = -ENOENT;
	pthread_mutex_lock(&lock);
	if (fs_ino_is_files(ino) && i >= 1 && i <= nnodes && byindex[i - 1]) {
		*slot = byindex[i - 1]->slot;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

char *fs_files_join(const char *dir, const char *name)
{
	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return NULL;
	size_t dl = strlen(dir), nl = strlen(name);
	int slash = dl > 0 && dir[dl - 1] == '/';
	if (dl + nl + 2 > PATH_MAX_LEN)
		return NULL;
	char *p = malloc(dl + nl + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	size_t o = dl;
	if (!slash)
		p[o++] = '/';
	memcpy(p + o, name, nl + 1);
	return p;
}

/* A name component over NAME_MAX: ENAMETOOLONG here, before any call to
 * the service (the kernel lets FUSE names up to 1024 bytes through). */
int fs_files_name_ok(const char *name)
{
	return strlen(name) <= 255;
}

/* Frees what libsbx allocated in one entry (name and link text). */
static void de_clear(sbx_dirent *d)
{
	free(d->name);
	free(d->link_target);
	free(d->link_resolved);
	d->name = NULL;
	d->link_target = NULL;
	d->link_resolved = NULL;
}

/* One component of *s (slashes skipped): sets *c, advances *s past it and
 * returns its length, 0 at the end. */
static size_t link_comp(const char **s, const char **c)
{
	const char *p = *s;
	while (*p == '/')
		p++;
	const char *e = p;
	while (*e && *e != '/')
		e++;
	*c = p;
	*s = e;
	return (size_t)(e - p);
}

static int is_dot(const char *c, size_t n)
{
	return n == 1 && c[0] == '.';
}

static int is_dotdot(const char *c, size_t n)
{
	return n == 2 && c[0] == '.' && c[1] == '.';
}

/* How deep the directory of the node at path lies below files/: its
 * components less one ("/a/b/l" -> 2). Node numbers are per path (never
 * per st_ino, and nodes are never renamed), so this is also the depth of
 * the link's dentry parent in the kernel, whatever the sandbox does. */
static int link_depth(const char *path)
{
	int n = 0;
	const char *c;
	while (link_comp(&path, &c))
		n++;
	return n > 0 ? n - 1 : 0;
}

/* The kernel walks a symlink's text itself: a ".." through its own dentry
 * parents (never asking sbxfs), every other component by a lookup in
 * files/. So a text leads only to nodes under files/ when it is relative,
 * its leading ".." (dots aside) number at most depth, and no ".." follows
 * a name: a name may be (or be swapped for) a symlink, whose own text is
 * then walked, and is safe by the same rule; a ".." after it would climb
 * from wherever that link led. */
int fs_files_link_safe(int depth, const char *text)
{
	if (text[0] == '/')
		return 0;
	int up = 0, named = 0;
	const char *c;
	size_t n;
	while ((n = link_comp(&text, &c)) != 0) {
		if (is_dot(c, n))
			continue;
		if (is_dotdot(c, n)) {
			if (named || ++up > depth)
				return 0;
		} else {
			named = 1;
		}
	}
	return 1;
}

/* Applies the first len bytes of text to abs (an absolute path without
 * "." or "..", "" for "/", *al bytes of cap) lexically: ".." of "/" is
 * "/", no component is taken for a link. */
static void lex_apply(char *abs, size_t *al, size_t cap, const char *text, size_t len)
{
	const char *c, *end = text + len;
	size_t n;
	if (len && text[0] == '/')
		*al = 0;
	while (text < end && (n = link_comp(&text, &c)) != 0) {
		if (c >= end)
			break;
		if (c + n > end)
			n = (size_t)(end - c);
		if (is_dot(c, n))
			continue;
		if (is_dotdot(c, n)) {
			while (*al > 0 && abs[*al - 1] != '/')
				(*al)--;
			if (*al > 0)
				(*al)--;
		} else if (*al + 1 + n < cap) {
			abs[(*al)++] = '/';
			memcpy(abs + *al, c, n);
			*al += n;
		}
	}
	abs[*al] = '\0';
}

/* How a symlink's text is shown at path (the link's own path in the
 * sandbox, which is also where the kernel sees it): the sandbox's own text
 * when fs_files_link_safe allows it (ordinary relative links stay as they
 * are for tar, rsync, cp -a), else the place it leads in the sandbox as a
 * relative path from the link's directory that climbs no further than the
 * common ancestor: "../" x (depth - common) + the rest. The place is
 * resolved, the sandbox's way, as sbxd's statFile tells (the extension's
 * linkResolved); without it, lexically from the link's path with ".." of
 * "/" = "/" and no component taken for a link. Either is normalised here
 * again, so the shown text is safe whatever the service says. 0 with *out
 * malloc'd, -ENOMEM, or -ENAMETOOLONG when the text would not fit in the
 * 4095 bytes the kernel reads. */
int fs_files_link_text(const char *path, const char *target, const char *resolved, char **out)
{
	*out = NULL;
	int depth = link_depth(path);
	if (fs_files_link_safe(depth, target)) {
		if (strlen(target) > FS_LINK_TEXT_MAX)
			return -ENAMETOOLONG;
		*out = strdup(target);
		return *out ? 0 : -ENOMEM;
	}
	size_t cap = strlen(path) + strlen(target) + (resolved ? strlen(resolved) : 0) + 2;
	char *abs = malloc(cap);
	if (!abs)
		return -ENOMEM;
	size_t al = 0;
	abs[0] = '\0';
	if (resolved && resolved[0] == '/') {
		lex_apply(abs, &al, cap, resolved, strlen(resolved));
	} else {
		const char *slash = strrchr(path, '/');
		lex_apply(abs, &al, cap, path, slash ? (size_t)(slash - path) : 0);
		lex_apply(abs, &al, cap, target, strlen(target));
	}
	/* The components the link's directory and the place share. */
	const char *ds = path, *as = abs, *dc, *ac;
	int common = 0;
	while (common < depth) {
		const char *keep = as;
		size_t dn = link_comp(&ds, &dc), an = link_comp(&as, &ac);
		if (!an || dn != an || memcmp(dc, ac, dn) != 0) {
			as = keep;
			break;
		}
		common++;
	}
	while (*as == '/')
		as++;
	size_t ups = (size_t)(depth - common), rl = strlen(as);
	size_t len = ups * 3 + rl;
	if (rl == 0 && ups > 0)
		len--;          /* "../.." rather than "../../" */
	int rc = 0;
	if (len > FS_LINK_TEXT_MAX) {
		rc = -ENAMETOOLONG;
	} else if (!(*out = malloc(len ? len + 1 : 2))) {
		rc = -ENOMEM;
	} else if (len == 0) {
		memcpy(*out, ".", 2);       /* the link's own directory */
	} else {
		size_t o = 0;
		for (size_t i = 0; i < ups; i++) {
			memcpy(*out + o, "../", 3);
			o += 3;
		}
		if (rl)
			memcpy(*out + o, as, rl);
		(*out)[len] = '\0';
	}
	free(abs);
	return rc;
}

static void wb_flush(uint32_t slot, uint64_t ino, const struct fs_handle *skip);

/* Owners as the sandbox sees them. sbxd acts as the sandbox's root, so
 * for a mount made by another user the sandbox's root shows as that user
 * (as sshfs's idmap=user shows the remote user as you): the kernel's
 * default_permissions then lets the owner of the mount work in files/. */
static uint32_t show_id(uint32_t id, uint32_t me)
{
	return me != 0 && id == 0 ? me : id;
}

static uint32_t sandbox_id_of(uint32_t id, uint32_t me)
{
	return me != 0 && id == me ? 0 : id;
}

static mode_t dirent_type(const sbx_dirent *d)
{
	if (d->type == SBX_FT_OTHER && d->special)
		return (mode_t)d->special;      /* a FIFO, socket or device */
	return d->type == SBX_FT_DIR ? S_IFDIR : d->type == SBX_FT_SYMLINK ? S_IFLNK : S_IFREG;
}

static void dirent_attr(const sbx_dirent *d, uint64_t ino, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	mode_t type = dirent_type(d);
	st->st_mode = type | (d->mode & 07777);
	st->st_nlink = type == S_IFDIR ? 2 : 1;
	st->st_size = d->size;
	if (type == S_IFLNK) {
		/* What readlink gives (the shown text, see fs_files_link_text). */
		st->st_mode = S_IFLNK | 0777;
		st->st_size = d->link_target ? (off_t)strlen(d->link_target) : 0;
	}
	st->st_uid = own_uid;
	st->st_gid = own_gid;
	st->st_blksize = 1 << 20;
	st->st_mtim.tv_sec = (time_t)(d->mtime_ns / 1000000000);
	st->st_mtim.tv_nsec = (long)(d->mtime_ns % 1000000000);
	st->st_atim = st->st_ctim = st->st_mtim;
	if (d->has_posix) {
		st->st_uid = show_id(d->uid, own_uid);
		st->st_gid = show_id(d->gid, own_gid);
		st->st_nlink = d->nlink ? d->nlink : 1;
		st->st_blocks = (blkcnt_t)d->blocks;
		st->st_atim.tv_sec = (time_t)(d->atime_ns / 1000000000);
		st->st_atim.tv_nsec = (long)(d->atime_ns % 1000000000);
		st->st_ctim.tv_sec = (time_t)(d->ctime_ns / 1000000000);
		st->st_ctim.tv_nsec = (long)(d->ctime_ns % 1000000000);
		/* st_ino as inside, so hard links pair up by st_dev + st_ino
		 * (tar, cp -a, find -samefile, du). The kernel's node id stays
		 * per path (see the top of this file); only stat shows this. */
		if (d->ino)
			st->st_ino = (ino_t)d->ino;
	}
	/* st_rdev stays 0: a device node shown here never opens one of the
	 * host's devices (a FIFO opened here is the host kernel's own pipe,
	 * a socket node connects to nothing). */
}

/* A service without statFile (the public API has only readFile and
 * writeFile): a path that reads is a file of that size, one that exists
 * but does not read ("Is a directory") is taken for a directory, so paths
 * can be walked; listing a directory stays ENOTSUP. */
static int stat_by_read(uint32_t slot, const char *id, const char *path, sbx_dirent *de)
{
	void *data = NULL;
	size_t len = 0;
	int64_t size = -1;
	sbx_error err;
	sbx_result r = sbx_file_read(client, id, path, 0, 0, &data, &len, &size, &err);
	free(data);
	if (r == SBX_OK) {
		de->type = SBX_FT_FILE;
		de->mode = 0644;
		de->size = size >= 0 ? size : (int64_t)len;
		return 0;
	}
	if (r == SBX_E_NOT_FOUND)
		return -ENOENT;
	if (r == SBX_E_INVALID || r == SBX_E_PRECONDITION) {
		de->type = SBX_FT_DIR;
		de->mode = 0755;
		return 0;
	}
	return fs_state_fail(slot, "files", &err);
}

/* Stats path in the sandbox; 0 or -errno. A missing file is not an error
 * worth an `error` message (shells probe names all the time). */
static int do_stat(uint32_t slot, const char *path, sbx_dirent *de)
{
	char id[FS_ID_MAX];
	sbx_error err;
	memset(de, 0, sizeof *de);
	if (fs_state_sandbox_id(slot, id) != 0)
		return -ENOENT;
	sbx_result r = sbx_file_stat(client, id, path, de, &err);
	if (r == SBX_E_UNSUPPORTED)
		return stat_by_read(slot, id, path, de);
	if (r == SBX_E_NOT_FOUND)
		return -ENOENT;
	if (r != SBX_OK)
		return fs_state_fail(slot, "files", &err);
	if (de->type == SBX_FT_SYMLINK && de->link_target) {
		/* From here on link_target is what readlink shows (never the
		 * sandbox's text when that could lead the kernel out). A text
		 * too long to show leaves none: readlink then fails. */
		char *t;
		int rc = fs_files_link_text(path, de->link_target, de->link_resolved, &t);
		if (rc == -ENOMEM) {
			de_clear(de);
			return rc;
		}
		free(de->link_target);
		de->link_target = t;
	}
	return 0;
}

/* Notes the st_ino and link count the kernel was shown for node ino. */
static void remember(uint64_t ino, const struct stat *st)
{
	if (!fs_ino_is_files(ino))
		return;
	uint32_t i = (uint32_t)(ino & 0xffffffffu);
	pthread_mutex_lock(&lock);
	if (i >= 1 && i <= nnodes && byindex[i - 1]) {
		fnode *n = byindex[i - 1];
		n->sino = (uint64_t)st->st_ino;
		n->nlink = (uint32_t)st->st_nlink;
		n->shown = 1;
		n->shown_uid = (uint32_t)st->st_uid;
		n->shown_gid = (uint32_t)st->st_gid;
		n->shown_size = (int64_t)st->st_size;
		n->shown_mtime = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
		n->shown_ctime = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	}
	pthread_mutex_unlock(&lock);
}

/* After a link or unlink through the mount, the other names of that file
 * (nodes of their own) show a stale link count to the kernel until their
 * attributes expire: drop those. Called after the reply (the kernel may
 * hold locks of the request meanwhile). Only for files with more than one
 * name, so an rm -rf of many plain files costs no scan. */
static void invalidate_links(uint32_t slot, uint64_t sino)
{
	if (!session || !sino)
		return;
	uint64_t found[64];
	size_t nf = 0;
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < nnodes && nf < 64; i++)
		if (byindex[i] && byindex[i]->slot == slot && byindex[i]->sino == sino && !byindex[i]->dead)
			found[nf++] = FS_INO_FILES_BIT | (i + 1);
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < nf; i++)
		fuse_lowlevel_notify_inval_inode(session, found[i], -1, 0);
}

/* The shown st_ino and link count of the node at (slot, path), if any. */
static uint64_t known_links(uint32_t slot, const char *path, uint32_t *nlink)
{
	uint64_t sino = 0;
	*nlink = 0;
	uint32_t b = hash(slot, path);
	pthread_mutex_lock(&lock);
	for (uint32_t i = buckets[b]; i; i = hnext[i - 1]) {
		fnode *n = byindex[i - 1];
		if (!n->dead && n->slot == slot && strcmp(n->path, path) == 0) {
			sino = n->sino;
			*nlink = n->nlink;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return sino;
}

/* Open files of a node: +1 at open, -1 at release. At the last release
 * of a node unlinked while open, *gone gets its hidden path (the caller
 * removes it and frees it) and the node is dead. */
static void node_opened(uint64_t ino, int delta, char **gone)
{
	if (gone)
		*gone = NULL;
	if (!fs_ino_is_files(ino))
		return;
	uint64_t i = ino & ~FS_INO_FILES_BIT;
	pthread_mutex_lock(&lock);
	if (i >= 1 && i <= nnodes) {
		fnode *n = byindex[i - 1];
		if (delta > 0)
			n->nopen++;
		else if (n->nopen > 0)
			n->nopen--;
		if (!n->nopen && n->hidden && !n->dead && gone) {
			*gone = strdup(n->path);
			unchain((uint32_t)(i - 1));
			n->dead = 1;
		}
	}
	pthread_mutex_unlock(&lock);
}

/* The node at (slot, path) if it has open files (then its ino), else 0. */
static uint64_t open_node(uint32_t slot, const char *path)
{
	uint64_t ino = 0;
	uint32_t b = hash(slot, path);
	pthread_mutex_lock(&lock);
	for (uint32_t i = buckets[b]; i; i = hnext[i - 1]) {
		fnode *n = byindex[i - 1];
		if (!n->dead && n->slot == slot && strcmp(n->path, path) == 0) {
			if (n->nopen)
				ino = FS_INO_FILES_BIT | i;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return ino;
}

static int node_hidden(uint64_t ino)
{
	int h = 0;
	uint64_t i = ino & ~FS_INO_FILES_BIT;
	pthread_mutex_lock(&lock);
	if (fs_ino_is_files(ino) && i >= 1 && i <= nnodes)
		h = byindex[i - 1]->hidden;
	pthread_mutex_unlock(&lock);
	return h;
}

static void node_set_hidden(uint64_t ino)
{
	uint64_t i = ino & ~FS_INO_FILES_BIT;
	pthread_mutex_lock(&lock);
	if (i >= 1 && i <= nnodes)
		byindex[i - 1]->hidden = 1;
	pthread_mutex_unlock(&lock);
}

void fs_files_entry_param(uint64_t ino, const struct stat *st, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = ino;
	e->generation = 1;
	e->attr = *st;
	e->entry_timeout = FS_FILES_ATTR_TIMEOUT;
	e->attr_timeout = FS_FILES_ATTR_TIMEOUT;
	remember(ino, st);
}

/* The entry of a file node: name and attributes are kept by the kernel
 * for FS_FILES_ATTR_TIMEOUT (a change inside shows after at most that). */
static void entry_de(uint64_t ino, const sbx_dirent *de, struct fuse_entry_param *e)
{
	struct stat st;
	dirent_attr(de, ino, &st);
	fs_files_entry_param(ino, &st, e);
}

int fs_files_ref(uint64_t ino)
{
	uint64_t i = ino & ~FS_INO_FILES_BIT;
	uint32_t slot = 0;
	int rc = -ENOENT;
	pthread_mutex_lock(&lock);
	if (fs_ino_is_files(ino) && i >= 1 && i <= nnodes && byindex[i - 1]) {
		byindex[i - 1]->nlookup++;
		slot = byindex[i - 1]->slot;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	if (rc == 0 && fs_state_ref(slot) != 0) {
		fs_files_forget_node(ino, 1);
		rc = -ENOENT;
	}
	return rc;
}

/* The node's own count only (its slot's is the caller's). */
void fs_files_forget_node(uint64_t ino, uint64_t n)
{
	uint64_t i = ino & ~FS_INO_FILES_BIT;
	pthread_mutex_lock(&lock);
	if (fs_ino_is_files(ino) && i >= 1 && i <= nnodes && byindex[i - 1]) {
		fnode *f = byindex[i - 1];
		f->nlookup = n > f->nlookup ? 0 : f->nlookup - n;
		if (f->nlookup == 0)
			node_free_locked((uint32_t)(i - 1));
	}
	pthread_mutex_unlock(&lock);
}

void fs_files_forget(uint64_t ino, uint64_t n)
{
	uint32_t slot;
	int known = fs_files_node_slot(ino, &slot) == 0;
	fs_files_forget_node(ino, n);
	if (known)
		fs_state_forget(slot, n);
}

void fs_files_unref(uint64_t ino)
{
	fs_files_forget(ino, 1);
}

/* ino was counted (fs_files_intern_ref); a reply the kernel did not take
 * is taken back. */
static void reply_entry_de(fuse_req_t req, uint64_t ino, const sbx_dirent *de)
{
	struct fuse_entry_param e;
	entry_de(ino, de, &e);
	if (fuse_reply_entry(req, &e) == -ENOENT)
		fs_files_unref(ino);
}

/* Answers a getattr or setattr; frees de's name. */
static void reply_attr_de(fuse_req_t req, uint64_t ino, sbx_dirent *de)
{
	struct stat st;
	dirent_attr(de, ino, &st);
	de_clear(de);
	remember(ino, &st);
	fuse_reply_attr(req, &st, FS_FILES_ATTR_TIMEOUT);
}

/* -ENAMETOOLONG when dir/name does not fit in a path the sandbox can
 * resolve from its / (sbxd resolves whole paths: PATH_MAX), else -EINVAL
 * (a name that is no name). For when fs_files_join gave NULL. */
static int join_err(const char *dir, const char *name)
{
	return name && strlen(dir) + strlen(name) + 2 > PATH_MAX_LEN ? -ENAMETOOLONG : -EINVAL;
}

/* sbxd makes every node as the sandbox's root; a node made by another
 * caller (a mount with allow_other, or sudo -u) is then given to that
 * caller as the kernel would: its uid, and its gid unless the directory is
 * setgid (then the directory's group, which sbxd's create already gave).
 * The chown clears set-id bits, so the mode is sent again with it (sbxd
 * applies chown first, then the mode). Costs nothing for root's own
 * nodes; de is replaced by the entry as it is after. */
static int give_to_caller(fuse_req_t req, uint32_t slot, const char *dir, const char *path, sbx_dirent *de)
{
	char id[FS_ID_MAX];
	sbx_error err;
	if (!de->has_posix)
		return 0;
	const struct fuse_ctx *c = fuse_req_ctx(req);
	uint32_t uid = sandbox_id_of((uint32_t)c->uid, getuid()), gid = sandbox_id_of((uint32_t)c->gid, getgid());
	sbx_file_attrs a;
	memset(&a, 0, sizeof a);
	if (uid != de->uid) {
		a.set |= SBX_ATTR_UID;
		a.uid = uid;
	}
	if (gid != de->gid) {
		sbx_dirent pd;
		int rc = do_stat(slot, dir, &pd);
		if (rc)
			return rc;
		if (!(pd.mode & S_ISGID)) {
			a.set |= SBX_ATTR_GID;
			a.gid = gid;
		}
		de_clear(&pd);
	}
	if (!a.set)
		return 0;
	if (de->type != SBX_FT_SYMLINK && (de->mode & (S_ISUID | S_ISGID))) {
		a.set |= SBX_ATTR_MODE;
		a.mode = de->mode & 07777;
	}
	if (fs_state_sandbox_id(slot, id) != 0)
		return -ENOENT;
	sbx_dirent nd;
	memset(&nd, 0, sizeof nd);
	if (sbx_file_set_attrs(client, id, path, &a, &nd, &err) != SBX_OK)
		return fs_state_fail(slot, "files chown (new node to its maker)", &err);
	de_clear(de);
	*de = nd;
	return 0;
}

void fs_files_readlink(fuse_req_t req, uint32_t slot, const char *path)
{
	sbx_dirent de;
	int rc = do_stat(slot, path, &de);
	if (rc)
		fuse_reply_err(req, -rc);
	else if (de.type != SBX_FT_SYMLINK)
		fuse_reply_err(req, EINVAL);
	else if (!de.link_target)
		fuse_reply_err(req, ENAMETOOLONG);  /* see do_stat */
	else
		fuse_reply_readlink(req, de.link_target);
	de_clear(&de);
}

void fs_files_lookup(fuse_req_t req, uint32_t slot, const char *dir, const char *name)
{
	wb_flush(slot, 0, NULL);
	if (!fs_files_name_ok(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	char *path = fs_files_join(dir, name);
	if (!path) {
		int rc = join_err(dir, name);
		fuse_reply_err(req, rc == -ENAMETOOLONG ? ENAMETOOLONG : ENOENT);
		return;
	}
	sbx_dirent de;
	int rc = do_stat(slot, path, &de);
	uint64_t ino = rc == 0 ? fs_files_intern_ref(slot, path) : 0;
	if (rc == 0 && !ino)
		rc = -ENOMEM;
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_entry_de(req, ino, &de);
	de_clear(&de);
	free(path);
}

int fs_files_fgetattr(fuse_req_t req, fs_handle *h, uint64_t ino)
{
	struct stat st;
	if (!h->has_ffd || fstat(h->ffd, &st) != 0 || (unsigned)st.st_uid != h->ffd_uid ||
	    (unsigned)st.st_gid != h->ffd_gid)
		return 0;
	wb_flush(h->slot, ino, NULL);
	int hidden = 0, shown = 0;
	pthread_mutex_lock(&lock);
	fnode *n = node_of_locked(ino);
	if (n && n->shown) {
		shown = 1;
		hidden = n->hidden;
		/* The owner as the kernel was shown it (the sandbox's ids,
		 * mapped as show_id does), unchanged since the open. */
		st.st_uid = n->shown_uid;
		st.st_gid = n->shown_gid;
	}
	pthread_mutex_unlock(&lock);
	if (!shown)
		return 0;
	st.st_dev = 0;
	st.st_rdev = 0;
	st.st_blksize = 1 << 20;
	if (hidden && st.st_nlink > 0)
		st.st_nlink--;
	else
		remember(ino, &st);
	fuse_reply_attr(req, &st, FS_FILES_ATTR_TIMEOUT);
	return 1;
}

static int dir_attr_fresh(uint64_t ino, struct stat *st, double *left);

void fs_files_getattr(fuse_req_t req, uint64_t ino, uint32_t slot, const char *path)
{
	wb_flush(slot, ino, NULL);
	struct stat kst;
	double left;
	if (dir_attr_fresh(ino, &kst, &left)) {
		fuse_reply_attr(req, &kst, left);
		return;
	}
	sbx_dirent de;
	int rc = do_stat(slot, path, &de);
	if (rc && strcmp(path, "/") == 0) {
		/* The files/ directory itself stays a directory even when the
		 * service cannot stat "/" (e.g. lacks the extension). */
		memset(&de, 0, sizeof de);
		de.type = SBX_FT_DIR;
		de.mode = 0755;
		rc = 0;
	}
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!node_hidden(ino)) {
		reply_attr_de(req, ino, &de);
		return;
	}
	/* Unlinked while open: its hidden name is no name of the caller's. */
	struct stat st;
	dirent_attr(&de, ino, &st);
	st.st_nlink = de.nlink > 0 ? de.nlink - 1 : 0;
	de_clear(&de);
	fuse_reply_attr(req, &st, FS_FILES_ATTR_TIMEOUT);
}

/* Listings fetched ahead for a walk (find, ls -R, du, cp -r, tar):
 * opening a directory whose parent was listed in the last
 * FS_FILES_ATTR_TIMEOUT asks for it and for its parent's other
 * subdirectories in one :listDirs, so a tree costs a call per 8,192
 * entries, not one per directory. A listing fetched ahead is taken by one
 * opendir at most, only within that timeout (its attributes then go to
 * the kernel for what is left of it, so nothing shown is older than an
 * attribute the kernel caches), and not after any change made through
 * the mount since it was fetched (lc_gen). */
#define LC_MAX 1024             /* listings fetched ahead, kept at once */
#define LC_PARENTS 32           /* recent listings with subdirectories,
				 * remembered as parents (a leaf directory
				 * is none: it would push the walk's own
				 * parent out after a few opendirs) */
#define LC_ASK 1024             /* siblings asked for in one call */
typedef struct lc_ent {
	uint32_t slot;
	char *path;
	sbx_dirent *ents;
	size_t n;
	int64_t ms;
	uint64_t gen;
} lc_ent;
typedef struct lc_parent {
	uint32_t slot;
	char *path;
	char **subdirs;         /* its subdirectories' paths, listing order */
	unsigned char *asked;   /* per subdirectory: fetched already in this
				 * walk (kept or taken), so not asked again */
	size_t nsub;
	int64_t ms;
} lc_parent;
static pthread_mutex_t lc_lock = PTHREAD_MUTEX_INITIALIZER;
static lc_ent lc[LC_MAX];
static size_t lc_next;
static lc_parent lc_par[LC_PARENTS];
static size_t lc_par_next;
static uint64_t lc_gen;        /* atomic: bumped by every change made here */

static int64_t mono_ms(void);

/* Every change made through the mount: what was fetched ahead is old. */
static void lc_changed(void)
{
	__atomic_add_fetch(&lc_gen, 1, __ATOMIC_RELAXED);
}

static void lc_ent_clear(lc_ent *e)
{
	free(e->path);
	sbx_dirent_list_free(e->ents, e->n);
	memset(e, 0, sizeof *e);
}

static int lc_fresh(int64_t ms, int64_t now)
{
	return now - ms < (int64_t)(FS_FILES_ATTR_TIMEOUT * 1000);
}

/* Takes the listing of (slot, path) fetched ahead, if a fresh one is
 * kept: 1 and *v, *n, *ms set (the caller's to free). */
static int lc_take(uint32_t slot, const char *path, sbx_dirent **v, size_t *n, int64_t *ms)
{
	int64_t now = mono_ms();
	uint64_t gen = __atomic_load_n(&lc_gen, __ATOMIC_RELAXED);
	int found = 0;
	pthread_mutex_lock(&lc_lock);
	for (size_t i = 0; i < LC_MAX && !found; i++) {
		lc_ent *e = &lc[i];
		if (!e->path || e->slot != slot || strcmp(e->path, path) != 0)
			continue;
		if (e->gen == gen && lc_fresh(e->ms, now)) {
			*v = e->ents;
			*n = e->n;
			*ms = e->ms;
			e->ents = NULL;
			e->n = 0;
			found = 1;
		}
		lc_ent_clear(e);
	}
	pthread_mutex_unlock(&lc_lock);
	return found;
}

static int lc_kept_locked(uint32_t slot, const char *path)
{
	for (size_t i = 0; i < LC_MAX; i++)
		if (lc[i].path && lc[i].slot == slot && strcmp(lc[i].path, path) == 0)
			return 1;
	return 0;
}

/* Keeps a listing fetched ahead (takes v and path). */
static void lc_keep(uint32_t slot, char *path, sbx_dirent *v, size_t n, int64_t ms, uint64_t gen)
{
	pthread_mutex_lock(&lc_lock);
	lc_ent *e = &lc[lc_next];
	lc_next = (lc_next + 1) % LC_MAX;
	lc_ent_clear(e);
	*e = (lc_ent){slot, path, v, n, ms, gen};
	pthread_mutex_unlock(&lc_lock);
}

/* Remembers path's subdirectories as the siblings of a walk's next
 * opendir below it. */
static void lc_parent_clear(lc_parent *q)
{
	for (size_t k = 0; k < q->nsub; k++)
		free(q->subdirs[k]);
	free(q->subdirs);
	free(q->asked);
	free(q->path);
	memset(q, 0, sizeof *q);
}

static void lc_note_parent(uint32_t slot, const char *path, const sbx_dirent *v, size_t n)
{
	size_t nd = 0;
	for (size_t i = 0; i < n; i++)
		nd += v[i].type == SBX_FT_DIR;
	if (!nd)
		return;
	char **sub = calloc(nd, sizeof *sub);
	unsigned char *asked = calloc(nd, 1);
	char *p = strdup(path);
	if (!sub || !asked || !p) {
		free(sub);
		free(asked);
		free(p);
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].type == SBX_FT_DIR && (sub[k] = fs_files_join(path, v[i].name)))
			k++;
	pthread_mutex_lock(&lc_lock);
	/* A listing of the same directory again (a second walk) replaces
	 * its record, so its subdirectories are asked for anew. */
	lc_parent *q = NULL;
	for (size_t i = 0; i < LC_PARENTS && !q; i++)
		if (lc_par[i].path && lc_par[i].slot == slot && strcmp(lc_par[i].path, p) == 0)
			q = &lc_par[i];
	if (!q) {
		q = &lc_par[lc_par_next];
		lc_par_next = (lc_par_next + 1) % LC_PARENTS;
	}
	lc_parent_clear(q);
	*q = (lc_parent){slot, p, sub, asked, k, mono_ms()};
	pthread_mutex_unlock(&lc_lock);
}

static void lc_fini(void)
{
	pthread_mutex_lock(&lc_lock);
	for (size_t i = 0; i < LC_MAX; i++)
		lc_ent_clear(&lc[i]);
	for (size_t i = 0; i < LC_PARENTS; i++)
		lc_parent_clear(&lc_par[i]);
	pthread_mutex_unlock(&lc_lock);
}

/* Under lc_lock: the fresh record of path's parent, NULL when none. */
static lc_parent *lc_parent_of_locked(uint32_t slot, const char *path, int64_t now)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return NULL;
	size_t plen = (size_t)(slash - path);
	for (size_t i = 0; i < LC_PARENTS; i++) {
		lc_parent *q = &lc_par[i];
		if (q->path && q->slot == slot && strlen(q->path) == plen && strncmp(q->path, path, plen) == 0 &&
		    lc_fresh(q->ms, now) && q->nsub)
			return q;
	}
	return NULL;
}

/* The listings of paths came (path's siblings, and path): none of them
 * is asked for again in this walk, even once taken. Those the answer
 * left out (its cap) stay to be asked with the next one. */
static void lc_mark_asked(uint32_t slot, const char *path, const sbx_dirlist *ls, size_t nl)
{
	pthread_mutex_lock(&lc_lock);
	lc_parent *q = lc_parent_of_locked(slot, path, mono_ms());
	for (size_t k = 0; q && k < q->nsub; k++) {
		if (strcmp(q->subdirs[k], path) == 0) {
			q->asked[k] = 1;
			continue;
		}
		for (size_t i = 0; i < nl; i++)
			if (ls[i].path && strcmp(ls[i].path, q->subdirs[k]) == 0) {
				q->asked[k] = 1;
				break;
			}
	}
	pthread_mutex_unlock(&lc_lock);
}

/* The siblings of path worth asking for with it: its parent was listed
 * in the walk's time and they are not kept already. NULL when none. */
static char **lc_siblings(uint32_t slot, const char *path, size_t *n)
{
	*n = 0;
	char **out = NULL;
	pthread_mutex_lock(&lc_lock);
	lc_parent *q = lc_parent_of_locked(slot, path, mono_ms());
	if (q && (out = calloc(q->nsub < LC_ASK ? q->nsub : LC_ASK, sizeof *out)))
		for (size_t k = 0; k < q->nsub && *n < LC_ASK; k++)
			if (!q->asked[k] && strcmp(q->subdirs[k], path) != 0 && !lc_kept_locked(slot, q->subdirs[k]) &&
			    (out[*n] = strdup(q->subdirs[k])))
				(*n)++;
	pthread_mutex_unlock(&lc_lock);
	if (out && !*n) {
		free(out);
		out = NULL;
	}
	return out;
}

/* path's listing: fetched ahead, or with its siblings when a walk is on,
 * else alone. *ms: when it was fetched. */
static int list_dir(uint32_t slot, const char *id, const char *path, sbx_dirent **v, size_t *n, int64_t *ms)
{
	sbx_error err;
	if (lc_take(slot, path, v, n, ms))
		return 0;
	*ms = mono_ms();
	size_t nsib = 0;
	char **sib = lc_siblings(slot, path, &nsib);
	sbx_result r = SBX_E_UNSUPPORTED;
	if (sib) {
		uint64_t gen = __atomic_load_n(&lc_gen, __ATOMIC_RELAXED);
		sbx_dirlist *ls = NULL;
		size_t nl = 0;
		r = sbx_file_list_many(client, id, path, (const char *const *)sib, nsib, &ls, &nl, &err);
		if (r == SBX_OK) {
			lc_mark_asked(slot, path, ls, nl);
			*v = ls[0].ents;
			*n = ls[0].n;
			ls[0].ents = NULL;
			ls[0].n = 0;
			for (size_t i = 1; i < nl; i++) {
				lc_keep(slot, ls[i].path, ls[i].ents, ls[i].n, *ms, gen);
				ls[i].path = NULL;
				ls[i].ents = NULL;
				ls[i].n = 0;
			}
			sbx_dirlist_free(ls, nl);
		}
		for (size_t i = 0; i < nsib; i++)
			free(sib[i]);
		free(sib);
	}
	if (r == SBX_E_UNSUPPORTED)
		r = sbx_file_list(client, id, path, v, n, &err);
	if (r != SBX_OK)
		return fs_state_fail(slot, "files", &err);
	return 0;
}

/* The kernel caches a files/ directory's listing (FOPEN_CACHE_DIR, see
 * op_opendir) and serves it again only when an open says keep_cache:
 * only while the listing is no older than the attributes it came with
 * (so a change made inside shows to the first listing after
 * FS_FILES_ATTR_TIMEOUT, as a stat does) and nothing was changed through
 * the mount since (lc_gen; the kernel also drops its cache itself when
 * the directory's mtime or its own change count moved). */
int fs_files_dir_cached(uint64_t ino)
{
	int64_t now = mono_ms();
	uint64_t gen = __atomic_load_n(&lc_gen, __ATOMIC_RELAXED);
	int ok = 0;
	pthread_mutex_lock(&lock);
	fnode *nd = node_of_locked(ino);
	if (nd && nd->ls_ms > 0 && nd->ls_gen == gen && lc_fresh(nd->ls_ms, now))
		ok = 1;
	pthread_mutex_unlock(&lock);
	return ok;
}

/* Keeps a subdirectory's attributes from a listing (see fnode.dattr). */
static void dir_attr_keep(uint64_t ino, const struct stat *st, int64_t ms, uint64_t gen)
{
	pthread_mutex_lock(&lock);
	fnode *nd = node_of_locked(ino);
	if (nd && (nd->dattr || (nd->dattr = malloc(sizeof *nd->dattr)))) {
		*nd->dattr = *st;
		nd->dattr_ms = ms;
		nd->dattr_gen = gen;
	}
	pthread_mutex_unlock(&lock);
}

/* A directory's kept attributes while they are as fresh as the kernel's
 * cache of them would be: 1 with *st and *left (seconds of it left). */
static int dir_attr_fresh(uint64_t ino, struct stat *st, double *left)
{
	int64_t now = mono_ms();
	uint64_t gen = __atomic_load_n(&lc_gen, __ATOMIC_RELAXED);
	int ok = 0;
	pthread_mutex_lock(&lock);
	fnode *nd = node_of_locked(ino);
	if (nd && nd->dattr && nd->dattr_gen == gen && lc_fresh(nd->dattr_ms, now)) {
		*st = *nd->dattr;
		*left = FS_FILES_ATTR_TIMEOUT - (double)(now - nd->dattr_ms) / 1000.0;
		ok = 1;
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

static void dir_listed(uint64_t ino, int64_t ms, uint64_t gen)
{
	pthread_mutex_lock(&lock);
	fnode *nd = node_of_locked(ino);
	if (nd) {
		nd->ls_ms = ms;
		nd->ls_gen = gen;
	}
	pthread_mutex_unlock(&lock);
}

int fs_files_opendir(uint32_t slot, const char *path, uint64_t self_ino, fs_handle *h)
{
	wb_flush(slot, 0, NULL);
	char id[FS_ID_MAX];
	sbx_dirent *v = NULL;
	size_t n = 0;
	int64_t ms = 0;
	if (fs_state_sandbox_id(slot, id) != 0)
		return -ENOENT;
	/* read before the fetch: a change meanwhile makes the stamp old */
	uint64_t gen = __atomic_load_n(&lc_gen, __ATOMIC_RELAXED);
	int rc = list_dir(slot, id, path, &v, &n, &ms);
	if (rc)
		return rc;
	dir_listed(self_ino, ms, gen);
	lc_note_parent(slot, path, v, n);
	h->ents_age_ms = mono_ms() - ms;
	fs_dirent *ne = realloc(h->ents, (h->nents + n) * sizeof *ne);
	if (!ne && n) {
		sbx_dirent_list_free(v, n);
		return -ENOMEM;
	}
	h->ents = ne;
	for (size_t i = 0; i < n; i++) {
		char *p = fs_files_join(path, v[i].name);
		uint64_t ino = p ? fs_files_intern(slot, p) : 0;
		free(p);
		if (!ino)
			continue;
		/* Full attributes (the posix extension) go to READDIRPLUS; a
		 * link's size is its shown text's, which takes a statFile. */
		struct stat *st = NULL;
		if (v[i].has_posix && v[i].type != SBX_FT_SYMLINK && (st = malloc(sizeof *st))) {
			dirent_attr(&v[i], ino, st);
			if (S_ISDIR(st->st_mode))
				dir_attr_keep(ino, st, ms, gen);
		}
		h->ents[h->nents++] = (fs_dirent){v[i].name, ino, dirent_type(&v[i]), st};
		v[i].name = NULL;
	}
	sbx_dirent_list_free(v, n);
	return 0;
}

static int truncate_file(uint32_t slot, const char *path)
{
	lc_changed();
	char id[FS_ID_MAX];
	sbx_error err;
	if (fs_state_sandbox_id(slot, id) != 0)
		return -ENOENT;
	if (sbx_file_write(client, id, path, -1, "", 0, &err) != SBX_OK)
		return fs_state_fail(slot, "files", &err);
	return 0;
}

/* Write-behind. tar writes 10 KiB records, and each write sent on its own
 * costs a round trip to sbxd (~8 of 10 ms of tar's time a MiB). So a
 * write through a writable files/ handle that continues the bytes held
 * (or starts them) is kept on the handle, up to WB_MAX, and answered at
 * once; the bytes go to the service in one raw writeFile when the next
 * write does not continue them or would overflow the buffer, at FLUSH
 * (every close(2)), fsync, release, a read through any handle, and before
 * any call of the mount that could show them (lookup, getattr, setattr,
 * listing, rename, link, unlink, statfs, xattrs, of that sandbox), so
 * through the mount nothing ever sees them missing. A send's error that
 * no write could be answered with goes to the next write, FLUSH or fsync
 * (close(2) returns it, as on NFS). Processes inside the sandbox see the
 * bytes at the latest at the writer's close. O_APPEND handles and writes
 * of WB_MAX or more go straight through. At most WB_BUDGET bytes are held
 * in the whole mount; past it writes go straight through too. */
#define WB_MAX (4u << 20)
static char *handle_path(const fs_handle *h);
#define WB_BUDGET ((size_t)64 << 20)
static pthread_mutex_t wb_list_lock = PTHREAD_MUTEX_INITIALIZER;  /* before any wb_lock */
static fs_handle *wb_head;
static size_t wb_total;         /* bytes held over all handles, atomically */

static void wb_register(fs_handle *h)
{
	pthread_mutex_init(&h->wb_lock, NULL);
	pthread_mutex_lock(&wb_list_lock);
	h->wb_prev = NULL;
	h->wb_next = wb_head;
	if (wb_head)
		wb_head->wb_prev = h;
	wb_head = h;
	h->wb_listed = 1;
	pthread_mutex_unlock(&wb_list_lock);
}

/* Sends what h holds; 0 or -errno. Under h->wb_lock. */
static int wb_send(fs_handle *h)
{
	lc_changed();
	char id[FS_ID_MAX];
	sbx_error err;
	if (!h->wb_len)
		return 0;
	int rc = 0;
	char *path = handle_path(h);
	if (!path)
		rc = -ESTALE;
	else if (fs_state_sandbox_id(h->slot, id) != 0)
		rc = -ENOENT;
	else if (sbx_file_write(client, id, path, h->wb_off, h->wb, h->wb_len, &err) != SBX_OK)
		rc = fs_state_fail(h->slot, "files write", &err);
	free(path);
	__atomic_sub_fetch(&wb_total, h->wb_len, __ATOMIC_RELAXED);
	h->wb_len = 0;
	/* The buffer goes with its bytes: only handles holding bytes hold
	 * memory, so WB_BUDGET bounds it (a thousand files written once and
	 * kept open would otherwise keep 4 MiB each). */
	free(h->wb);
	h->wb = NULL;
	return rc;
}

/* Sends what the handles of slot hold (of node ino only, unless 0), but
 * not skip's: before a call that could show the file. A failure is kept
 * for that handle's next write or close. */
static void wb_flush(uint32_t slot, uint64_t ino, const fs_handle *skip)
{
	if (!__atomic_load_n(&wb_total, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&wb_list_lock);
	for (fs_handle *h = wb_head; h; h = h->wb_next) {
		if (h == skip || h->slot != slot || (ino && h->ino != ino))
			continue;
		pthread_mutex_lock(&h->wb_lock);
		int rc = wb_send(h);
		if (rc && !h->wb_err)
			h->wb_err = rc;
		pthread_mutex_unlock(&h->wb_lock);
	}
	pthread_mutex_unlock(&wb_list_lock);
}

int fs_files_flush_handle(fs_handle *h)
{
	if (!h->wb_listed)
		return 0;
	pthread_mutex_lock(&h->wb_lock);
	int rc = wb_send(h);
	if (!rc)
		rc = h->wb_err;
	h->wb_err = 0;
	pthread_mutex_unlock(&h->wb_lock);
	return rc;
}

int fs_files_fsync(fs_handle *h, int datasync)
{
	if (h->has_ffd)
		return (datasync ? fdatasync(h->ffd) : fsync(h->ffd)) != 0 ? -errno : 0;
	return fs_files_flush_handle(h);
}

/* The last close of a file unlinked while open: its hidden name goes. */
static void release_node(fs_handle *h)
{
	char id[FS_ID_MAX];
	sbx_error err;
	char *gone;
	node_opened(h->ino, -1, &gone);
	if (gone && fs_state_sandbox_id(h->slot, id) == 0 &&
	    sbx_file_remove(client, id, gone, 0, &err) != SBX_OK)
		(void)fs_state_fail(h->slot, "files rm (a file unlinked while open, at its last close)", &err);
	free(gone);
}

static void ra_drop(fs_handle *h);
static void fd_cache_off(uint64_t ino);

void fs_files_release_handle(fs_handle *h)
{
	if (h->has_ffd) {
		if (h->ffd_wrote)
			fd_cache_off(h->ino);
		close(h->ffd);
		h->has_ffd = 0;
	}
	/* Under ra_lock: waits for a reply still being sent from h->ra. */
	ra_drop(h);
	if (!h->wb_listed) {
		release_node(h);
		return;
	}
	pthread_mutex_lock(&wb_list_lock);
	if (h->wb_prev)
		h->wb_prev->wb_next = h->wb_next;
	else
		wb_head = h->wb_next;
	if (h->wb_next)
		h->wb_next->wb_prev = h->wb_prev;
	pthread_mutex_unlock(&wb_list_lock);
	(void)fs_files_flush_handle(h);    /* FLUSH reported it; else only `error` */
	h->wb_listed = 0;
	pthread_mutex_destroy(&h->wb_lock);
	free(h->wb);
	h->wb = NULL;
	release_node(h);
}

/* Descriptors. Against a local sbxd ("fileFd"), every files/ open asks
 * for the file's own descriptor (sbx_file_fd: resolved inside the
 * sandbox's root by sbxd, a regular file only, O_RDONLY for a read-only
 * open or an ended sandbox, else O_RDWR), and the handle's reads, writes,
 * fsync and ftruncate act on it: a read is a splice from the sandbox's
 * page cache to the reader (fuse_reply_data of an fd buffer), a write one
 * pwrite, with no HTTP and no copy in sbxd. The descriptor is the file
 * itself: a rename or a link swapped in at its path inside later does not
 * move it, and nothing here ever opens a path of the sandbox itself (no
 * re-resolution outside sbxd). Read-only opens are page-cached by the
 * kernel (mmap works, a second cat reads no byte again), and the cache is
 * kept across opens (keep_cache) only while the file is exactly as it was
 * when the cache was filled: same inode, size, mtime and ctime in the
 * descriptor's fstat at this open as at the earlier one (a change made
 * inside moves ctime at least; the kernel's multigrain timestamps make
 * two changes in one tick differ). When the file differs from what the
 * kernel was last shown, its attributes are dropped too, so a read past
 * an old size asks for the new one. Writable opens stay direct_io (one
 * copy less than a write through the page cache), and their first write
 * takes the node's cache stamp away. Without a descriptor (a remote service, a proxy, a
 * refusal, -o no_splice) the ranged file calls below serve the handle. */
static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* At a read-only open with a descriptor whose fstat is st: *keep whether
 * the kernel's cached pages of ino are still the file's, *inval whether
 * its cached attributes are not; the stamp is st from now on. */
static void fd_cache_check(uint64_t ino, const struct stat *st, int *keep, int *inval)
{
	int64_t m = ts_ns(&st->st_mtim), c = ts_ns(&st->st_ctim);
	*keep = 0;
	*inval = 1;
	pthread_mutex_lock(&lock);
	fnode *n = node_of_locked(ino);
	if (n) {
		*inval = !n->shown || n->shown_size != (int64_t)st->st_size || n->shown_mtime != m || n->shown_ctime != c;
		*keep = n->cst_valid && n->cst_ino == (uint64_t)st->st_ino && n->cst_size == (int64_t)st->st_size &&
			n->cst_mtime == m && n->cst_ctime == c;
		n->cst_valid = 1;
		n->cst_ino = (uint64_t)st->st_ino;
		n->cst_size = (int64_t)st->st_size;
		n->cst_mtime = m;
		n->cst_ctime = c;
	}
	pthread_mutex_unlock(&lock);
}

/* The mount writes to ino: no later open keeps its cached pages. */
static void fd_cache_off(uint64_t ino)
{
	pthread_mutex_lock(&lock);
	fnode *n = node_of_locked(ino);
	if (n)
		n->cst_valid = 0;
	pthread_mutex_unlock(&lock);
}

/* The descriptor of path for an open (*fd -1: none, use the file calls);
 * 0, -ENOENT (the file is gone) or the error of a missed deadline. */
static int open_fd(uint32_t slot, const char *path, int writable, int *fd, int *ro)
{
	char id[FS_ID_MAX];
	sbx_error err;
	*fd = -1;
	*ro = 0;
	if (!use_fds || __atomic_load_n(&fds_refused, __ATOMIC_RELAXED))
		return 0;
	if (fs_state_sandbox_id(slot, id) != 0)
		return -ENOENT;
	sbx_result r = sbx_file_fd(client, id, path, writable, fd, ro, &err);
	if (r == SBX_OK)
		return 0;
	if (r == SBX_E_NOT_FOUND)
		return -ENOENT;
	/* A hung service: the file calls would spend the deadline again. */
	if (r == SBX_E_TIMEOUT)
		return fs_state_fail(slot, "files open", &err);
	/* No such call, or a proxy that passes no descriptor: never again.
	 * Any other refusal (a sandbox not running yet, a special file) is
	 * this open's: the file calls answer it as before. */
	if (r == SBX_E_UNSUPPORTED || r == SBX_E_PROTOCOL)
		__atomic_store_n(&fds_refused, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Whether the sandbox of slot has ended as far as the mount knows (its
 * files are read-only then: a descriptor taken while it ran writes no
 * more once the state cache has seen the end). */
static int sandbox_ended(uint32_t slot)
{
	fs_sb_view v;
	return fs_state_sandbox(slot, &v) == 0 && v.have_record && sbx_state_is_terminal(v.state);
}

/* fd (-1: none) goes to the new handle, which closes it at release (on
 * failure it is closed here). */
static int new_handle(uint64_t ino, uint32_t slot, const char *path, struct fuse_file_info *fi, int fd, int ro)
{
	fs_handle *h = calloc(1, sizeof *h);
	if (!h || !(h->path = strdup(path))) {
		free(h);
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	h->ino = ino;
	h->slot = slot;
	h->rd_base = -1;
	h->append = (fi->flags & O_APPEND) != 0;
	node_opened(ino, +1, NULL);
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fd >= 0) {
		int writable = (fi->flags & O_ACCMODE) != O_RDONLY;
		struct stat st;
		h->has_ffd = 1;
		h->ffd = fd;
		h->ffd_ro = ro;
		/* pwrite on an O_APPEND descriptor appends at the sandbox's end
		 * of the file, whatever the kernel's offset says. */
		if (h->append && !ro)
			(void)fcntl(fd, F_SETFL, O_APPEND);
		/* Nothing is ever held: close(2) needs no FLUSH. */
		fi->noflush = 1;
		int have_st = fstat(fd, &st) == 0;
		h->ffd_uid = have_st ? (unsigned)st.st_uid : UINT32_MAX;
		h->ffd_gid = have_st ? (unsigned)st.st_gid : UINT32_MAX;
		if (!writable && have_st) {
			int keep, inval;
			fd_cache_check(ino, &st, &keep, &inval);
			fi->direct_io = 0;
			fi->keep_cache = keep;
			h->cached = 1;
			/* (No page is invalidated: a notify with offset -1 takes
			 * no lock the open holds.) */
			if (inval && session)
				fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
		} else {
			fi->direct_io = 1;
		}
		return 0;
	}
	fi->direct_io = 1;
	/* A read-only open has nothing to send at close, so its close costs
	 * no round trip; a writable one may hold written bytes (write-behind)
	 * that its close(2) must send and report. */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
	if (!fi->noflush)
		wb_register(h);
	return 0;
}

/* The handle of an open the kernel gave up on (interrupted) goes. */
static void drop_handle(struct fuse_file_info *fi)
{
	fs_handle *h = (fs_handle *)(uintptr_t)fi->fh;
	fs_files_release_handle(h);
	free(h->path);
	free(h);
}

void fs_files_open(fuse_req_t req, uint64_t ino, uint32_t slot, const char *path, struct fuse_file_info *fi)
{
	int writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	int fd, ro;
	int rc = open_fd(slot, path, writable, &fd, &ro);
	if (!rc && (fi->flags & O_TRUNC) && writable) {
		if (fd >= 0 && !ro) {
			lc_changed();
			wb_flush(slot, ino, NULL);
			fd_cache_off(ino);
			rc = ftruncate(fd, 0) != 0 ? -errno : 0;
		} else {
			rc = truncate_file(slot, path);
		}
	}
	if (rc && fd >= 0)
		close(fd);
	if (!rc)
		rc = new_handle(ino, slot, path, fi, fd, ro);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_open(req, fi) == -ENOENT)
		drop_handle(fi);
}

/* Creates path with mode (the kernel applied the writer's umask) and
 * fills de. Without the "posix" extension the public writeFile makes the
 * file with the service's default mode (documented in filesystem.md). */
static int create_file(uint32_t slot, const char *path, mode_t mode, int flags, sbx_dirent *de)
{
	char id[FS_ID_MAX];
	sbx_error err;
	if (fs_state_sandbox_id(slot, id) != 0)
		return -ENOENT;
	unsigned cf = ((flags & O_EXCL) ? SBX_CREATE_EXCL : 0) | ((flags & O_TRUNC) ? SBX_CREATE_TRUNC : 0);
	sbx_result r = sbx_file_create(client, id, path, mode & 07777, cf, de, &err);
	if (r == SBX_OK)
		return 0;
	if (r != SBX_E_UNSUPPORTED)
		return fs_state_fail(slot, "files create", &err);
	int rc = truncate_file(slot, path);
	return rc ? rc : do_stat(slot, path, de);
}

/* The common end of every call that makes a node (create, mkdir,
 * symlink, link, mknod): rc is the call's result so far and de the new
 * entry at path. The node goes to its maker (give; not for link, whose
 * inode keeps its owner), a symlink is re-read so its size is the shown
 * text's, the node is counted before the entry is sent (with an open
 * handle when fi is given: create) and a reply the kernel did not take
 * is taken back. Frees de's strings and path. */
static void finish_new(fuse_req_t req, uint32_t slot, const char *dir, char *path, sbx_dirent *de, int rc, int give,
		       struct fuse_file_info *fi)
{
	lc_changed();
	if (!rc && give)
		rc = give_to_caller(req, slot, dir, path, de);
	if (!rc && de->type == SBX_FT_SYMLINK) {
		de_clear(de);
		rc = do_stat(slot, path, de);
	}
	uint64_t ino = rc ? 0 : fs_files_intern_ref(slot, path);
	if (!rc && !ino)
		rc = -ENOMEM;
	if (!rc && fi) {
		/* The new file's own descriptor, as an open's (a failure
		 * leaves the file calls to serve it). */
		int fd = -1, ro = 0;
		if (open_fd(slot, path, (fi->flags & O_ACCMODE) != O_RDONLY, &fd, &ro) != 0)
			fd = -1;
		if ((rc = new_handle(ino, slot, path, fi, fd, ro)) != 0)
			fs_files_unref(ino);
	}
	if (rc) {
		fuse_reply_err(req, -rc);
	} else {
		struct fuse_entry_param e;
		entry_de(ino, de, &e);
		if ((fi ? fuse_reply_create(req, &e, fi) : fuse_reply_entry(req, &e)) == -ENOENT) {
			if (fi)
				drop_handle(fi);
			fs_files_unref(ino);
		}
	}
	de_clear(de);
	free(path);
}

void fs_files_create(fuse_req_t req, uint32_t slot, const char *dir, const char *name, mode_t mode,
		     struct fuse_file_info *fi)
{
	char *path = fs_files_join(dir, name);
	sbx_dirent de;
	memset(&de, 0, sizeof de);
	int rc = !fs_files_name_ok(name) ? -ENAMETOOLONG : path ? create_file(slot, path, mode, fi->flags, &de)
							      : join_err(dir, name);
	finish_new(req, slot, dir, path, &de, rc, 1, fi);
}

/* Where an open file lives now: a rename since the open moved it (see
 * fs_files_moved). NULL when a rename replaced it (then ESTALE: its bytes
 * are out of reach, and its old name is another file now). */
static char *handle_path(const fs_handle *h)
{
	uint32_t slot;
	char *p;
	if (!h->ino)
		return strdup(h->path);
	return fs_files_resolve(h->ino, &slot, &p) == 0 ? p : NULL;
}

/* Read-ahead for small reads: a reader asking for less than RA_SIZE (tar
 * reads 10 KiB records) gets RA_SIZE fetched in one call and the rest from
 * the handle, for at most FS_FILES_ATTR_TIMEOUT (what the attribute cache
 * allows a change inside to take anyway). A write through the handle drops
 * it; so does a short answer (the end of the file is always asked again,
 * so a growing file shows its new bytes). */
#define RA_SIZE (1u << 20)
static pthread_mutex_t ra_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Answers from the read-ahead when it holds [off, off + size); 1 if so. */
static int ra_answer(fuse_req_t req, fs_handle *h, size_t size, off_t off)
{
	int done = 0;
	pthread_mutex_lock(&ra_lock);
	if (h->ra && off >= h->ra_off && (int64_t)off + (int64_t)size <= h->ra_off + (int64_t)h->ra_len &&
	    mono_ms() - h->ra_ms < (int64_t)(FS_FILES_ATTR_TIMEOUT * 1000)) {
		fuse_reply_buf(req, h->ra + (off - h->ra_off), size);
		done = 1;
	}
	pthread_mutex_unlock(&ra_lock);
	return done;
}

static void ra_drop(fs_handle *h)
{
	pthread_mutex_lock(&ra_lock);
	free(h->ra);
	h->ra = NULL;
	h->ra_len = 0;
	pthread_mutex_unlock(&ra_lock);
}

/* A read of a handle with a descriptor: a splice of the file's bytes
 * (libfuse answers an error of reading the fd itself). The size is the
 * file's now, so a page-cached read is whole up to its end (a short one
 * would be taken for the end), and a direct_io one at most FS_SPLICE_MAX
 * (short reads are reads there). */
static void fd_read(fuse_req_t req, fs_handle *h, size_t size, off_t off)
{
	struct stat st;
	if (fstat(h->ffd, &st) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (off < 0 || off >= st.st_size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = (uint64_t)(st.st_size - off) < size ? (size_t)(st.st_size - off) : size;
	fs_reply_spliced(req, h->ffd, off, fs_splice_len(n, h->cached));
}

void fs_reply_spliced(fuse_req_t req, int fd, off_t off, size_t n)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(n);
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, 0);
}

void fs_files_read(fuse_req_t req, fs_handle *h, size_t size, off_t off)
{
	char id[FS_ID_MAX];
	void *data = NULL;
	size_t len = 0;
	int64_t total = -1;
	sbx_error err;
	if (h->has_ffd) {
		/* Bytes another (descriptor-less) handle of the node holds. */
		wb_flush(h->slot, h->ino, NULL);
		fd_read(req, h, size, off);
		return;
	}
	if (fs_state_sandbox_id(h->slot, id) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	char *path = handle_path(h);
	if (!path) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	wb_flush(h->slot, h->ino, NULL);
	if (size > IO_MAX)
		size = IO_MAX;
	if (size < RA_SIZE && ra_answer(req, h, size, off)) {
		free(path);
		return;
	}
	size_t ask = size < RA_SIZE ? RA_SIZE : size;
	if (sbx_file_read(client, id, path, off, (int64_t)ask, &data, &len, &total, &err) != SBX_OK) {
		fuse_reply_err(req, -fs_state_fail(h->slot, "files read", &err));
	} else if (len > size) {
		/* Kept when more came than asked (a read past what came, the
		 * end as the sandbox had it, asks the service again), and
		 * answered under ra_lock as ra_answer does: once the reply is
		 * in, the reader may close and the release free h, which
		 * waits for ra_lock (fs_files_release_handle), so nothing of
		 * h or its buffer is touched after. */
		pthread_mutex_lock(&ra_lock);
		free(h->ra);
		h->ra = data;
		h->ra_len = len;
		h->ra_off = off;
		h->ra_ms = mono_ms();
		fuse_reply_buf(req, data, size);
		pthread_mutex_unlock(&ra_lock);
		data = NULL;
	} else {
		fuse_reply_buf(req, data, len);
	}
	free(data);
	free(path);
}

/* A write by a caller other than the sandbox's root clears the file's
 * setuid bit, and its setgid bit when group-executable (as write(2) does,
 * should_remove_suid). The kernel leaves that to the file system
 * (FUSE_CAP_HANDLE_KILLPRIV, and direct_io writes never do it in the
 * kernel), and sbxd writes as root, which keeps them: so once per open
 * file, at its first write by such a caller, the mode is looked at. */
static int kill_privs(fuse_req_t req, fs_handle *h, const char *id, const char *path)
{
	int done = 0;
	if (__atomic_load_n(&h->privs_checked, __ATOMIC_RELAXED))
		return 0;
	const struct fuse_ctx *c = fuse_req_ctx(req);
	if (sandbox_id_of((uint32_t)c->uid, getuid()) == 0)
		return 0;
	__atomic_store_n(&h->privs_checked, 1, __ATOMIC_RELAXED);
	sbx_dirent de;
	sbx_error err;
	if (do_stat(h->slot, path, &de) != 0)
		return 0;   /* the write itself will say what is wrong */
	unsigned kill = (de.mode & S_ISUID) | ((de.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) ? S_ISGID : 0);
	if (kill && de.type == SBX_FT_FILE) {
		sbx_file_attrs a = {.set = SBX_ATTR_MODE, .mode = de.mode & 07777 & ~kill};
		sbx_dirent nd;
		memset(&nd, 0, sizeof nd);
		if (sbx_file_set_attrs(client, id, path, &a, &nd, &err) == SBX_OK) {
			de_clear(&nd);
			done = 1;
		}
	}
	de_clear(&de);
	return done;
}

/* A write of a handle with a writable descriptor: pwrite, all of it
 * (a short count only when the file system stops, ENOSPC after some). */
static void fd_write(fuse_req_t req, fs_handle *h, const char *id, const char *buf, size_t size, off_t off)
{
	uint64_t ino = h->ino;  /* after a reply h may be released */
	if (h->ffd_ro || sandbox_ended(h->slot)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	int killed = 0;
	/* (The path is resolved only while the check is still to come.) */
	if (id && !__atomic_load_n(&h->privs_checked, __ATOMIC_RELAXED) &&
	    sandbox_id_of((uint32_t)fuse_req_ctx(req)->uid, getuid()) != 0) {
		char *path = handle_path(h);
		killed = path ? kill_privs(req, h, id, path) : 0;
		free(path);
	}
	if (__atomic_load_n(&wb_total, __ATOMIC_RELAXED))
		wb_flush(h->slot, h->ino, h);
	size_t done = 0;
	int rc = 0;
	while (done < size) {
		ssize_t w = pwrite(h->ffd, buf + done, size - done, off + (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? errno : EIO;
			break;
		}
		done += (size_t)w;
	}
	h->ffd_wrote = 1;
	fd_cache_off(ino);
	/* The kernel still has the old mode. Dropped before the answer (a
	 * notify with offset -1 takes no lock the write holds), so the
	 * writer's next stat cannot see it. */
	if (killed && session)
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
	if (done)
		fuse_reply_write(req, done);
	else
		fuse_reply_err(req, rc);
}

int fs_files_local_write(const fs_handle *h, uint32_t uid)
{
	if (!h->has_ffd || __atomic_load_n(&wb_total, __ATOMIC_RELAXED))
		return 0;
	/* The first write by a caller other than the sandbox's root stats
	 * the file (kill_privs), a call to the service. */
	return h->ffd_ro || __atomic_load_n(&h->privs_checked, __ATOMIC_RELAXED) || sandbox_id_of(uid, getuid()) == 0;
}

void fs_files_write(fuse_req_t req, fs_handle *h, const char *buf, size_t size, off_t off)
{
	lc_changed();
	char id[FS_ID_MAX];
	sbx_error err;
	uint64_t ino = h->ino;  /* after a reply h may be released */
	if (fs_state_sandbox_id(h->slot, id) != 0) {
		if (h->has_ffd)
			fd_write(req, h, NULL, buf, size, off);
		else
			fuse_reply_err(req, ENOENT);
		return;
	}
	if (h->has_ffd) {
		fd_write(req, h, id, buf, size, off);
		return;
	}
	char *path = handle_path(h);
	if (!path) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ra_drop(h);
	int killed = kill_privs(req, h, id, path);
	/* Another open file of this node may hold bytes that would land
	 * after these otherwise. */
	if (__atomic_load_n(&wb_total, __ATOMIC_RELAXED) > h->wb_len)
		wb_flush(h->slot, h->ino, h);
	if (h->wb_listed && !h->append && size < WB_MAX) {
		int rc = 0, held = 0;
		pthread_mutex_lock(&h->wb_lock);
		if (h->wb_err) {
			rc = h->wb_err;
			h->wb_err = 0;
		}
		if (!rc && h->wb_len && (off != h->wb_off + (int64_t)h->wb_len || h->wb_len + size > WB_MAX))
			rc = wb_send(h);
		if (!rc && __atomic_load_n(&wb_total, __ATOMIC_RELAXED) + size <= WB_BUDGET &&
		    (h->wb || (h->wb = malloc(WB_MAX)))) {
			if (!h->wb_len)
				h->wb_off = off;
			memcpy(h->wb + h->wb_len, buf, size);
			h->wb_len += size;
			__atomic_add_fetch(&wb_total, size, __ATOMIC_RELAXED);
			held = 1;
		}
		pthread_mutex_unlock(&h->wb_lock);
		if (rc || held) {
			free(path);
			if (rc)
				fuse_reply_err(req, -rc);
			else
				fuse_reply_write(req, size);
			if (killed && session)
				fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
			return;
		}
	} else if (h->wb_listed) {
		int rc = fs_files_flush_handle(h);
		if (rc) {
			free(path);
			fuse_reply_err(req, -rc);
			return;
		}
	}
	/* O_APPEND: the end is where the sandbox's file ends now, not where
	 * the kernel last saw it (a process inside may append too). */
	sbx_result r = h->append ? sbx_file_append(client, id, path, buf, size, &err)
				 : sbx_file_write(client, id, path, off, buf, size, &err);
	free(path);
	if (r != SBX_OK) {
		fuse_reply_err(req, -fs_state_fail(h->slot, "files write", &err));
		return;
	}
	fuse_reply_write(req, size);
	if (killed && session)  /* the kernel still has the old mode */
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
}

/* setattr against a service without the "posix" extension: only what
 * the public whole-file calls can do (truncation to empty; times set to
 * now, which the write that made the file did anyway). */
static int setattr_public(uint32_t slot, const char *path, const struct stat *attr, int to_set, sbx_dirent *de)
{
	int rc = do_stat(slot, path, de);
	if (!rc && ((to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) ||
		    ((to_set & FUSE_SET_ATTR_ATIME) && !(to_set & FUSE_SET_ATTR_ATIME_NOW)) ||
		    ((to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW)) ||
		    ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0 && attr->st_size != de->size))) {
		const char *what = (to_set & FUSE_SET_ATTR_MODE) ? "chmod"
				   : (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) ? "chown"
				   : (to_set & FUSE_SET_ATTR_SIZE) ? "truncate" : "set times";
		fs_state_set_error(slot,
				   "files %s %s: not supported: the service has only the public whole-file calls "
				   "(sbxd's \"posix\" file extension is missing)", what, path);
		rc = -ENOTSUP;
	}
	if (!rc && (to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != de->size) {
		rc = truncate_file(slot, path);
		if (!rc) {
			de_clear(de);
			rc = do_stat(slot, path, de);
		}
	}
	return rc;
}

int fs_files_ftruncate(fuse_req_t req, fs_handle *h, uint64_t ino, off_t size, int to_set)
{
	/* Only a plain size change (the kernel may add the times it sets
	 * anyway); anything else is the path's setattr. */
	if (!h->has_ffd || !(to_set & FUSE_SET_ATTR_SIZE) ||
	    (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_ATIME |
		       FUSE_SET_ATTR_MTIME)))
		return 0;
	if (h->ffd_ro || sandbox_ended(h->slot)) {
		fuse_reply_err(req, EROFS);
		return 1;
	}
	lc_changed();
	wb_flush(h->slot, ino, NULL);
	struct stat st;
	if (size < 0 || ftruncate(h->ffd, size) != 0 || fstat(h->ffd, &st) != 0) {
		fuse_reply_err(req, size < 0 ? EINVAL : errno);
		return 1;
	}
	h->ffd_wrote = 1;
	fd_cache_off(ino);
	/* The rest of the attributes as the sandbox shows them (owner ids
	 * are its own), when the path still names this file; the size and
	 * times are the descriptor's either way. */
	sbx_dirent de;
	char *path = handle_path(h);
	if (!path || do_stat(h->slot, path, &de) != 0 || !de.has_posix || de.ino != (uint64_t)st.st_ino) {
		if (path)
			de_clear(&de);
		memset(&de, 0, sizeof de);
		de.type = SBX_FT_FILE;
		de.mode = st.st_mode & 07777;
	}
	free(path);
	de.size = (int64_t)st.st_size;
	de.blocks = (int64_t)st.st_blocks;
	de.mtime_ns = ts_ns(&st.st_mtim);
	de.ctime_ns = ts_ns(&st.st_ctim);
	reply_attr_de(req, ino, &de);
	return 1;
}

void fs_files_setattr(fuse_req_t req, uint64_t ino, uint32_t slot, const char *path, struct stat *attr,
		      int to_set)
{
	lc_changed();
	wb_flush(slot, ino, NULL);
	char id[FS_ID_MAX];
	sbx_error err;
	sbx_dirent de;
	memset(&de, 0, sizeof de);
	sbx_file_attrs a;
	memset(&a, 0, sizeof a);
	if (to_set & FUSE_SET_ATTR_MODE) {
		a.set |= SBX_ATTR_MODE;
		a.mode = attr->st_mode & 07777;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		a.set |= SBX_ATTR_UID;
		a.uid = sandbox_id_of(attr->st_uid, getuid());
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		a.set |= SBX_ATTR_GID;
		a.gid = sandbox_id_of(attr->st_gid, getgid());
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		a.set |= SBX_ATTR_SIZE;
		a.size = attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME) {
		a.set |= SBX_ATTR_ATIME | ((to_set & FUSE_SET_ATTR_ATIME_NOW) ? SBX_ATTR_ATIME_NOW : 0);
		a.atime_ns = (int64_t)attr->st_atim.tv_sec * 1000000000 + attr->st_atim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_MTIME) {
		a.set |= SBX_ATTR_MTIME | ((to_set & FUSE_SET_ATTR_MTIME_NOW) ? SBX_ATTR_MTIME_NOW : 0);
		a.mtime_ns = (int64_t)attr->st_mtim.tv_sec * 1000000000 + attr->st_mtim.tv_nsec;
	}
	int rc;
	if (!a.set) {
		rc = do_stat(slot, path, &de);      /* ctime alone: nothing to send */
	} else if (fs_state_sandbox_id(slot, id) != 0) {
		rc = -ENOENT;
	} else {
		sbx_result r = sbx_file_set_attrs(client, id, path, &a, &de, &err);
		if (r == SBX_E_UNSUPPORTED)
			rc = setattr_public(slot, path, attr, to_set, &de);
		else
			rc = r == SBX_OK ? 0 : fs_state_fail(slot, "files setattr", &err);
	}
	if (!rc && de.type == SBX_FT_SYMLINK) {
		/* A link's attributes are what do_stat shows (its size is the
		 * shown text's); lchown and lutimes are rare enough to ask. */
		de_clear(&de);
		rc = do_stat(slot, path, &de);
	}
	if (rc) {
		de_clear(&de);
		fuse_reply_err(req, -rc);
		return;
	}
	/* The other names of a hard-linked file have their own nodes, whose
	 * cached mode, owner and times the kernel cannot know changed. */
	uint64_t sino = de.has_posix && de.nlink > 1 ? de.ino : 0;
	reply_attr_de(req, ino, &de);
	if (sino)
		invalidate_links(slot, sino);
}

/* fallocate(2) through the mount. sbxd's file calls have no fallocate of
 * their own, so what the existing ones can do exactly is done: mode 0
 * makes the file at least off + len long (setFileAttrs' size, so the new
 * range reads as zeros, as after fallocate), KEEP_SIZE changes nothing a
 * reader can see. Neither reserves blocks in the sandbox's layer ahead of
 * time (a later write may still meet ENOSPC; docs/filesystem.md).
 * PUNCH_HOLE, ZERO_RANGE, COLLAPSE_RANGE and INSERT_RANGE change bytes
 * and need the call: EOPNOTSUPP, what a file system without them says
 * (glibc's posix_fallocate then writes the zeros itself). */
void fs_files_fallocate(fuse_req_t req, uint64_t ino, uint32_t slot, const char *path, int mode, off_t off,
			off_t len)
{
	lc_changed();
	char id[FS_ID_MAX];
	sbx_error err;
	sbx_dirent de;
	memset(&de, 0, sizeof de);
	wb_flush(slot, ino, NULL);
	int rc = 0;
	if (off < 0 || len <= 0)
		rc = -EINVAL;
	else if (off > INT64_MAX - len)
		rc = -EFBIG;
	else if (fs_state_sandbox_id(slot, id) != 0)
		rc = -ENOENT;
	/* The sandbox's own fallocate(2) (:allocateFile): every mode its
	 * file system has, with the errno its kernel gives. Without the
	 * extension there is no call that could reserve or punch. */
	else if (sbx_file_allocate(client, id, path, mode, off, len, &de, &err) != SBX_OK)
		rc = err.code == SBX_E_UNSUPPORTED ? -EOPNOTSUPP : fs_state_fail(slot, "files fallocate", &err);
	de_clear(&de);
	fuse_reply_err(req, -rc);
	if (!rc && session)     /* size and st_blocks moved */
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
}

/* The path of a name in dir for a call that makes or removes it, and the
 * sandbox's id: 0, -ENAMETOOLONG (the name is not one that fits), -EINVAL
 * (no path could be made) or -ENOENT (no such sandbox). *path is malloc'd
 * or NULL, the caller's to free either way. */
static int entry_path(uint32_t slot, const char *dir, const char *name, char id[FS_ID_MAX], char **path)
{
	*path = fs_files_join(dir, name);
	if (!fs_files_name_ok(name))
		return -ENAMETOOLONG;
	if (!*path)
		return join_err(dir, name);
	return fs_state_sandbox_id(slot, id) ? -ENOENT : 0;
}

void fs_files_mkdir(fuse_req_t req, uint32_t slot, const char *dir, const char *name, mode_t mode)
{
	char id[FS_ID_MAX];
	sbx_error err;
	sbx_dirent de;
	memset(&de, 0, sizeof de);
	char *path = NULL;
	int rc = entry_path(slot, dir, name, id, &path);
	if (!rc && sbx_file_mkdir(client, id, path, mode & 07777, &err) != SBX_OK)
		rc = fs_state_fail(slot, "files mkdir", &err);
	if (!rc)
		rc = do_stat(slot, path, &de);
	finish_new(req, slot, dir, path, &de, rc, 1, NULL);
}

void fs_files_remove(fuse_req_t req, uint32_t slot, const char *dir, const char *name, int is_dir)
{
	lc_changed();
	wb_flush(slot, 0, NULL);
	char id[FS_ID_MAX];
	sbx_error err;
	char *path = NULL;
	int rc = entry_path(slot, dir, name, id, &path);
	uint32_t nlink = 0;
	uint64_t sino = rc || is_dir ? 0 : known_links(slot, path, &nlink);
	/* A file still open somewhere on the host keeps its bytes, as an
	 * unlinked inode would: it is renamed to a hidden name in the same
	 * directory (NFS's "silly rename"), its open files follow it, and the
	 * last close removes it. */
	uint64_t busy = rc || is_dir ? 0 : open_node(slot, path);
	if (busy) {
		char hname[64];
		static unsigned seq;
		snprintf(hname, sizeof hname, ".sbxfs-hidden-%llx-%x", (unsigned long long)(busy & 0xffffffffu),
			 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
		char *hpath = fs_files_join(dir, hname);
		if (hpath && sbx_file_rename(client, id, path, hpath, SBX_RENAME_NOREPLACE, &err) == SBX_OK) {
			fs_files_moved(slot, path, hpath, 0);
			node_set_hidden(busy);
			fuse_reply_err(req, 0);
			free(hpath);
			free(path);
			return;
		}
		free(hpath);    /* no room for the name: remove it after all */
	}
	if (!rc && sbx_file_remove(client, id, path, 0, &err) != SBX_OK)
		rc = fs_state_fail(slot, is_dir ? "files rmdir" : "files rm", &err);
	fuse_reply_err(req, -rc);
	if (!rc && nlink > 1)
		invalidate_links(slot, sino);
	free(path);
}

void fs_files_rename(fuse_req_t req, uint32_t slot, const char *dir, const char *name, const char *newdir,
		     const char *newname, unsigned int flags)
{
	lc_changed();
	wb_flush(slot, 0, NULL);
	char id[FS_ID_MAX];
	sbx_error err;
	char *from = fs_files_join(dir, name), *to = fs_files_join(newdir, newname);
	int rc = 0;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		rc = -EINVAL;   /* RENAME_WHITEOUT: overlayfs's own, not for callers */
	else if (!fs_files_name_ok(name) || !fs_files_name_ok(newname))
		rc = -ENAMETOOLONG;
	else if (!from || !to)
		rc = !from ? join_err(dir, name) : join_err(newdir, newname);
	else if (fs_state_sandbox_id(slot, id) != 0)
		rc = -ENOENT;
	if (!rc) {
		unsigned rf = ((flags & RENAME_NOREPLACE) ? SBX_RENAME_NOREPLACE : 0) |
			      ((flags & RENAME_EXCHANGE) ? SBX_RENAME_EXCHANGE : 0);
		if (sbx_file_rename(client, id, from, to, rf, &err) != SBX_OK)
			rc = fs_state_fail(slot, "files rename", &err);
		else
			fs_files_moved(slot, from, to, (flags & RENAME_EXCHANGE) != 0);
	}
	fuse_reply_err(req, -rc);
	free(from);
	free(to);
}

void fs_files_symlink(fuse_req_t req, uint32_t slot, const char *dir, const char *name, const char *text)
{
	char id[FS_ID_MAX];
	sbx_error err;
	sbx_dirent de;
	memset(&de, 0, sizeof de);
	char *path = NULL;
	int rc = entry_path(slot, dir, name, id, &path);
	if (!rc && strlen(text) > FS_LINK_TEXT_MAX)
		rc = -ENAMETOOLONG;
	/* The text goes in as the writer gave it: it is the sandbox's to
	 * walk. What readlink shows back passes fs_files_link_safe. */
	if (!rc && sbx_file_symlink(client, id, path, text, &de, &err) != SBX_OK)
		rc = fs_state_fail(slot, "files symlink", &err);
	finish_new(req, slot, dir, path, &de, rc, 1, NULL);
}

void fs_files_link(fuse_req_t req, uint32_t slot, const char *from, const char *dir, const char *name)
{
	wb_flush(slot, 0, NULL);
	char id[FS_ID_MAX];
	sbx_error err;
	sbx_dirent de;
	memset(&de, 0, sizeof de);
	char *path = NULL;
	int rc = entry_path(slot, dir, name, id, &path);
	if (!rc && strcmp(from, "/") == 0)
		rc = -EPERM;    /* link(2) of a directory */
	if (!rc && sbx_file_link(client, id, from, path, &de, &err) != SBX_OK)
		rc = fs_state_fail(slot, "files link", &err);
	uint64_t sino = rc ? 0 : de.ino;
	finish_new(req, slot, dir, path, &de, rc, 0, NULL);
	if (sino)
		invalidate_links(slot, sino);
}

void fs_files_mknod(fuse_req_t req, uint32_t slot, const char *dir, const char *name, mode_t mode)
{
	char id[FS_ID_MAX];
	sbx_error err;
	sbx_dirent de;
	memset(&de, 0, sizeof de);
	char *path = NULL;
	int rc = entry_path(slot, dir, name, id, &path);
	/* Devices never: the sandbox's /dev binds the host's. A regular
	 * file by mknod is create without an open. */
	if (!rc && (S_ISCHR(mode) || S_ISBLK(mode)))
		rc = -EPERM;
	if (!rc && S_ISREG(mode)) {
		rc = create_file(slot, path, mode, O_EXCL, &de);
	} else if (!rc && !S_ISFIFO(mode) && !S_ISSOCK(mode)) {
		rc = -EINVAL;
	} else if (!rc && sbx_file_mknod(client, id, path, mode & S_IFMT, mode & 07777, &de, &err) != SBX_OK) {
		rc = fs_state_fail(slot, "files mknod", &err);
	}
	finish_new(req, slot, dir, path, &de, rc, 1, NULL);
}

void fs_files_statfs(fuse_req_t req, uint32_t slot, const char *path)
{
	wb_flush(slot, 0, NULL);
	char id[FS_ID_MAX];
	sbx_error err;
	sbx_statfs sf;
	struct statvfs sv;
	if (fs_state_sandbox_id(slot, id) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	sbx_result r = sbx_file_statfs(client, id, path, &sf, &err);
	if (r == SBX_E_UNSUPPORTED) {
		/* The public API tells nothing: the figures of an empty fs. */
		memset(&sv, 0, sizeof sv);
		sv.f_bsize = sv.f_frsize = 4096;
		sv.f_namemax = 255;
		fuse_reply_statfs(req, &sv);
		return;
	}
	if (r != SBX_OK) {
		fuse_reply_err(req, -fs_state_fail(slot, "files statfs", &err));
		return;
	}
	memset(&sv, 0, sizeof sv);
	sv.f_bsize = (unsigned long)sf.bsize;
	sv.f_frsize = (unsigned long)sf.frsize;
	sv.f_blocks = (fsblkcnt_t)sf.blocks;
	sv.f_bfree = (fsblkcnt_t)sf.bfree;
	sv.f_bavail = (fsblkcnt_t)sf.bavail;
	sv.f_files = (fsfilcnt_t)sf.files;
	sv.f_ffree = (fsfilcnt_t)sf.ffree;
	sv.f_favail = (fsfilcnt_t)sf.ffree;
	sv.f_namemax = (unsigned long)sf.namemax;
	fuse_reply_statfs(req, &sv);
}

/* user.* attributes go to the sandbox; every other name is answered here
 * without a round trip: EOPNOTSUPP to a get, a set and a remove, as the
 * kernel answers for a namespace a file system has no handler for. Not
 * ENODATA: that would say "supported, none here" of an ACL or a label the
 * file may have inside, and the kernel caches no xattr answer, so GNU ls
 * -l would ask it of every entry (two FUSE requests each); ls remembers
 * an EOPNOTSUPP per device and stops asking. */
static int user_xattr(const char *name)
{
	return strncmp(name, "user.", 5) == 0 && name[5];
}

void fs_files_getxattr(fuse_req_t req, uint32_t slot, const char *path, const char *name, size_t size)
{
	wb_flush(slot, 0, NULL);
	char id[FS_ID_MAX];
	sbx_error err;
	void *val = NULL;
	size_t n = 0;
	if (!user_xattr(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (fs_state_sandbox_id(slot, id) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	sbx_result r = sbx_file_getxattr(client, id, path, name, &val, &n, &err);
	/* ENODATA is a plain answer (tools probe names), not an error
	 * worth the error file. */
	int rc = r == SBX_OK ? 0 : r == SBX_E_UNSUPPORTED || sbx_error_errno(&err) == ENODATA ? -ENODATA
			: fs_state_fail(slot, "files getxattr", &err);
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, n);
	else if (n > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, n);
	free(val);
}

void fs_files_listxattr(fuse_req_t req, uint32_t slot, const char *path, size_t size)
{
	wb_flush(slot, 0, NULL);
	char id[FS_ID_MAX];
	sbx_error err;
	char *list = NULL;
	size_t n = 0;
	if (fs_state_sandbox_id(slot, id) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	sbx_result r = sbx_file_listxattr(client, id, path, &list, &n, &err);
	int rc = r == SBX_OK || r == SBX_E_UNSUPPORTED ? 0 : fs_state_fail(slot, "files listxattr", &err);
	if (rc)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, n);
	else if (n > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, n);
	free(list);
}

void fs_files_setxattr(fuse_req_t req, uint32_t slot, const char *path, const char *name, const char *value,
		       size_t size, int flags)
{
	wb_flush(slot, 0, NULL);
	lc_changed();   /* the ctime moves: no kept directory attributes */
	char id[FS_ID_MAX];
	sbx_error err;
	int rc = 0;
	if (!user_xattr(name))
		rc = -EOPNOTSUPP;
	else if (fs_state_sandbox_id(slot, id) != 0)
		rc = -ENOENT;
	else if (sbx_file_setxattr(client, id, path, name, value, size, flags & 3, &err) != SBX_OK)
		rc = fs_state_fail(slot, "files setxattr", &err);
	fuse_reply_err(req, -rc);
}

void fs_files_removexattr(fuse_req_t req, uint32_t slot, const char *path, const char *name)
{
	wb_flush(slot, 0, NULL);
	lc_changed();   /* the ctime moves: no kept directory attributes */
	char id[FS_ID_MAX];
	sbx_error err;
	int rc = 0;
	if (!user_xattr(name))
		rc = -EOPNOTSUPP;
	else if (fs_state_sandbox_id(slot, id) != 0)
		rc = -ENOENT;
	else if (sbx_file_removexattr(client, id, path, name, &err) != SBX_OK)
		rc = sbx_error_errno(&err) == ENODATA ? -ENODATA : fs_state_fail(slot, "files removexattr", &err);
	fuse_reply_err(req, -rc);
}
