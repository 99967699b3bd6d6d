/*
 * The FUSE low-level operations of sbxfs (see ops.h). Each operation finds
 * out which node an inode number names (node.c), asks the state cache
 * (state.c) what is known, makes at most a few short non-waiting calls to
 * the service through libsbx, and hands reads that must wait to wait.c.
 * Failures answer the errno of sbx_error_errno and leave the message in the
 * nearest `error` file (the sandbox's, else the root's).
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "ctl.h"
#include "files.h"
#include "handle.h"
#include "node.h"
#include "state.h"
#include "wait.h"

#define ENTRY_TIMEOUT 1.0
#define STATIC_ATTR_TIMEOUT 1.0
#define FINAL_ATTR_TIMEOUT 3600.0
/* How stale a cached record may be for stat/getattr of live files. */
#define STAT_MAX_AGE_MS 200
/* How stale the sandbox list may be for a listing of the root. */
#define LIST_MAX_AGE_MS 1000
/* A name not found in the cache: re-list at most this often. */
#define MISS_MAX_AGE_MS 100
/* Largest text one write() to a clone or stdin file may carry. */
#define WRITE_MAX (1u << 20)
/* Text pending on a clone file until its command is complete: libsbx's
 * cap on a command text (sbx_spec_parse / sbx_exec_req_parse). */
#define PEND_MAX (128u << 10)

static sbx_client *client;
static fs_settings settings;
static struct fuse_session *session;
static uid_t my_uid;
static gid_t my_gid;


void fs_ops_set_session(struct fuse_session *se)
{
	session = se;
}

/* The kernel must not keep a stale view of an `error` file (attributes or
 * pages): dropped on every update. Harmless when nothing is cached. */
static void error_changed(uint32_t slot)
{
	if (session)
		fuse_lowlevel_notify_inval_inode(session, slot ? fs_ino_make(slot, 0, FS_K_SB_ERROR)
							  : fs_ino_make(0, 0, FS_K_ROOT_ERROR), 0, 0);
}

void fs_ops_setup(sbx_client *c, const fs_settings *s)
{
	client = c;
	settings = *s;
	fs_state_on_error(error_changed);
	my_uid = getuid();
	my_gid = getgid();
}

static fs_handle *fh(struct fuse_file_info *fi)
{
	return (fs_handle *)(uintptr_t)fi->fh;
}

static void handle_free(fs_handle *h)
{
	if (!h)
		return;
	free(h->pend);
	free(h->gone_name);
	free(h->text);
	for (size_t i = 0; i < h->nents; i++)
		free(h->ents[i].name);
	free(h->ents);
	free(h->path);
	free(h);
}

static sbx_stream stream_of(fs_kind k)
{
	return k == FS_K_SB_STDERR || k == FS_K_P_STDERR ? SBX_STDERR : SBX_STDOUT;
}

static int sb_final(const fs_sb_view *v)
{
	return v->have_record && sbx_state_is_terminal(v->state);
}

static void set_time(struct timespec *t, int64_t ns)
{
	t->tv_sec = (time_t)(ns / 1000000000);
	t->tv_nsec = (long)(ns % 1000000000);
}

/* Attributes of a node of the fixed tree. *timeout: how long the kernel
 * may keep them. Never waits on a process. */
static int node_attr(uint64_t ino, struct stat *st, double *timeout)
{
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	if (fs_ino_split(ino, &slot, &pid, &k) != 0)
		return ENOENT;
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_mode = fs_kind_mode(k);
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_uid = my_uid;
	st->st_gid = my_gid;
	st->st_blksize = 1 << 20;
	*timeout = fs_kind_is_dynamic(k) ? 0.0 : STATIC_ATTR_TIMEOUT;
	int64_t t = fs_realtime_ns();
	if (slot == 0) {
		if (k == FS_K_ROOT_ERROR) {
			char *e = fs_state_error(0);
			st->st_size = e ? (off_t)strlen(e) : 0;
			free(e);
			if (fs_state_error_ns(0))
				t = fs_state_error_ns(0);
		}
		set_time(&st->st_mtim, t);
		st->st_atim = st->st_ctim = st->st_mtim;
		return 0;
	}
	fs_sb_view v;
	if (fs_state_sandbox(slot, &v) != 0)
		return ENOENT;
	int64_t mt = v.create_ns ? v.create_ns : t;
	if (pid == 0) {
		switch (k) {
		case FS_K_SB_STATUS:
			st->st_size = (off_t)strlen(sbx_state_word(v.state)) + 1;
			break;
		case FS_K_SB_RC:
			if (sb_final(&v)) {
				char b[32];
				st->st_size = (off_t)fs_rc_slice(v.exit_code, 0, sizeof b, b, sizeof b);
			}
			break;
		case FS_K_SB_STDOUT:
		case FS_K_SB_STDERR: {
			sbx_stream s = stream_of(k);
			fs_state_fetch_main_size(slot, s, STAT_MAX_AGE_MS);
			fs_state_sandbox(slot, &v);
			st->st_size = v.main_bytes[s];
			if (v.main_mtime_ns[s])
				mt = v.main_mtime_ns[s];
			if (v.main_eof[s] && settings.kernel_cache)
				*timeout = FINAL_ATTR_TIMEOUT;
			break;
		}
		case FS_K_SB_ERROR: {
			char *e = fs_state_error(slot);
			st->st_size = e ? (off_t)strlen(e) : 0;
			free(e);
			if (fs_state_error_ns(slot))
				mt = fs_state_error_ns(slot);
			break;
		}
		case FS_K_EXEC_LAST: {
			char b[32];
			st->st_size = v.last_pid > 0 ? snprintf(b, sizeof b, "%lld", (long long)v.last_pid) : 0;
			break;
		}
		default:
			break;
		}
		set_time(&st->st_mtim, mt);
		st->st_atim = st->st_ctim = st->st_mtim;
		return 0;
	}

	fs_proc_view p;
	if (fs_state_proc(slot, pid, &p) != 0) {
		int rc = fs_state_fetch_proc(slot, pid, 0);
		if (rc != 0)
			return -rc;
		if (fs_state_proc(slot, pid, &p) != 0)
			return ENOENT;
	}
	mt = p.start_ns ? p.start_ns : mt;
	switch (k) {
	case FS_K_P_STDOUT:
	case FS_K_P_STDERR: {
		sbx_stream s = stream_of(k);
		if (!fs_proc_final(&p)) {
			fs_state_fetch_proc(slot, pid, STAT_MAX_AGE_MS);
			fs_state_proc(slot, pid, &p);
		}
		st->st_size = p.bytes[s];
		if (p.mtime_ns[s])
			mt = p.mtime_ns[s];
		if (fs_proc_final(&p) && settings.kernel_cache)
			*timeout = FINAL_ATTR_TIMEOUT;
		break;
	}
	case FS_K_P_STATUS:
		st->st_size = (off_t)strlen(sbx_proc_state_word(p.state)) + 1;
		break;
	case FS_K_P_RC:
		if (fs_proc_final(&p)) {
			char b[32];
			st->st_size = (off_t)fs_rc_slice(p.exit_code, 0, sizeof b, b, sizeof b);
			mt = p.end_ns ? p.end_ns : mt;
		}
		break;
	default:
		break;
	}
	set_time(&st->st_mtim, mt);
	st->st_atim = st->st_ctim = st->st_mtim;
	return 0;
}

static void reply_entry(fuse_req_t req, uint64_t ino)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof e);
	double to;
	int rc = node_attr(ino, &e.attr, &to);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	e.ino = ino;
	e.generation = 1;
	e.attr_timeout = to;
	e.entry_timeout = ENTRY_TIMEOUT;
	fuse_reply_entry(req, &e);
}

/* ------------------------------------------------------------ lookup */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Output files change only by growing and are page-cached only once
	 * final, so the kernel need not re-check attributes on every read. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_READDIRPLUS;
}

/* Whether ino is a sandbox's files/ directory or lies below it: then 1
 * with *slot and *path (the caller frees) saying where, or -1 when that
 * cannot be resolved and ENOENT has been answered; 0 for any other node. */
static int files_node(fuse_req_t req, fuse_ino_t ino, uint32_t *slot, char **path)
{
	int64_t pid;
	fs_kind k;
	*path = NULL;
	if (!fs_ino_is_files(ino) && (fs_ino_split(ino, slot, &pid, &k) != 0 || k != FS_K_SB_FILES))
		return 0;
	if (fs_files_resolve(ino, slot, path) != 0) {
		fuse_reply_err(req, ENOENT);
		return -1;
	}
	return 1;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (fs_ino_is_files(parent)) {
		uint32_t s;
		char *path;
		if (fs_files_resolve(parent, &s, &path) != 0) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		fs_files_lookup(req, s, path, name);
		free(path);
		return;
	}
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	if (fs_ino_split(parent, &slot, &pid, &k) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (k == FS_K_SB_FILES) {
		fs_files_lookup(req, slot, "/", name);
		return;
	}
	fs_kind c = fs_kind_child(k, name);
	if (c == FS_K_EXEC_LAST) {
		/* exec/last exists once there is a process to point at */
		fs_sb_view v;
		int rc = fs_state_fetch_procs(slot, LIST_MAX_AGE_MS);
		if (fs_state_sandbox(slot, &v) != 0 || v.last_pid < 1) {
			fuse_reply_err(req, rc ? -rc : ENOENT);
			return;
		}
	}
	if (c != FS_K_NONE) {
		reply_entry(req, fs_ino_make(slot, pid, c));
		return;
	}
	if (k == FS_K_ROOT) {
		uint32_t s;
		if (fs_state_lookup(name, &s) != 0) {
			int rc = fs_state_refresh(MISS_MAX_AGE_MS);
			if (rc != 0) {
				fuse_reply_err(req, -rc);
				return;
			}
			if (fs_state_lookup(name, &s) != 0) {
				fuse_reply_err(req, ENOENT);
				return;
			}
		}
		reply_entry(req, fs_ino_make(s, 0, FS_K_SB_DIR));
		return;
	}
	if (k == FS_K_SB_EXEC) {
		int64_t n = fs_parse_pid_name(name);
		fs_proc_view p;
		if (n < 1) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		if (fs_state_proc(slot, n, &p) != 0) {
			int rc = fs_state_fetch_proc(slot, n, 0);
			if (rc != 0) {
				fuse_reply_err(req, -rc);
				return;
			}
		}
		reply_entry(req, fs_ino_make(slot, n, FS_K_P_DIR));
		return;
	}
	fuse_reply_err(req, ENOENT);
}

/* Answers a getattr (or a setattr, which changes nothing) of a node. */
static void reply_attr(fuse_req_t req, fuse_ino_t ino)
{
	struct stat st;
	double to;
	int rc = node_attr(ino, &st, &to);
	if (rc)
		fuse_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, to);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	uint32_t slot;
	char *path;
	int files = files_node(req, ino, &slot, &path);
	if (files) {
		if (files > 0)
			fs_files_getattr(req, ino, slot, path);
		free(path);
		return;
	}
	reply_attr(req, ino);
}

static int writable(fs_kind k)
{
	return k == FS_K_ROOT_NEW || k == FS_K_EXEC_NEW || k == FS_K_SB_CTL || k == FS_K_P_CTL || k == FS_K_P_STDIN;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	char *path;
	int files = files_node(req, ino, &slot, &path);
	if (files) {
		if (files > 0)
			fs_files_setattr(req, ino, slot, path, attr, to_set);
		free(path);
		return;
	}
	if (fs_ino_split(ino, &slot, &pid, &k) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* `echo x > ctl` truncates first: the control files accept and
	 * ignore a truncation, and nothing else changes. */
	if (!writable(k) && (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		fuse_reply_err(req, EACCES);
		return;
	}
	reply_attr(req, ino);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	fs_sb_view v;
	char *path;
	int files = files_node(req, ino, &slot, &path);
	if (files) {
		if (files > 0)
			fs_files_readlink(req, slot, path);
		free(path);
		return;
	}
	if (fs_ino_split(ino, &slot, &pid, &k) != 0 || k != FS_K_EXEC_LAST || fs_state_sandbox(slot, &v) != 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int rc = fs_state_fetch_procs(slot, LIST_MAX_AGE_MS);
	fs_state_sandbox(slot, &v);
	if (v.last_pid < 1) {
		fuse_reply_err(req, rc ? -rc : ENOENT);
		return;
	}
	char b[32];
	snprintf(b, sizeof b, "%lld", (long long)v.last_pid);
	fuse_reply_readlink(req, b);
}

/* ------------------------------------------------------------ directories */

typedef struct list_ctx {
	fs_handle *h;
	size_t cap;
	int failed;
	uint32_t slot;
} list_ctx;

static void add_ent(list_ctx *c, const char *name, uint64_t ino, unsigned mode)
{
	fs_handle *h = c->h;
	if (c->failed)
		return;
	if (h->nents == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		fs_dirent *ne = realloc(h->ents, nc * sizeof *ne);
		if (!ne) {
			c->failed = 1;
			return;
		}
		h->ents = ne;
		c->cap = nc;
	}
	char *n = strdup(name);
	if (!n) {
		c->failed = 1;
		return;
	}
	h->ents[h->nents++] = (fs_dirent){n, ino, mode};
}

static void add_sandbox(void *ud, uint32_t slot, const char *dirname)
{
	add_ent(ud, dirname, fs_ino_make(slot, 0, FS_K_SB_DIR), S_IFDIR);
}

static void add_proc(void *ud, int64_t pid)
{
	list_ctx *c = ud;
	char b[32];
	snprintf(b, sizeof b, "%lld", (long long)pid);
	add_ent(c, b, fs_ino_make(c->slot, pid, FS_K_P_DIR), S_IFDIR);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_handle *h = calloc(1, sizeof *h);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	list_ctx c = {h, 0, 0, 0};
	add_ent(&c, ".", ino, S_IFDIR);
	add_ent(&c, "..", FUSE_ROOT_ID, S_IFDIR);
	uint32_t slot = 0;
	int64_t pid = 0;
	fs_kind k = FS_K_NONE;
	int rc = 0;
	if (fs_ino_is_files(ino) || (fs_ino_split(ino, &slot, &pid, &k) == 0 && k == FS_K_SB_FILES)) {
		char *path;
		rc = fs_files_resolve(ino, &slot, &path);
		if (rc == 0) {
			rc = fs_files_opendir(slot, path, ino, h);
			free(path);
		}
	} else if (fs_ino_split(ino, &slot, &pid, &k) != 0 || !S_ISDIR(fs_kind_mode(k))) {
		rc = -ENOTDIR;
	} else {
		c.slot = slot;
		h->kind = k;
		fs_kind kids[16];
		size_t n = fs_kind_children(k, kids, 16);
		/* exec/: one process list serves `last` and the entries */
		int fetched = k == FS_K_SB_EXEC ? fs_state_fetch_procs(slot, LIST_MAX_AGE_MS) : 0;
		for (size_t i = 0; i < n && i < 16; i++) {
			if (kids[i] == FS_K_EXEC_LAST) {
				fs_sb_view v;
				if (fs_state_sandbox(slot, &v) != 0 || v.last_pid < 1)
					continue;
			}
			add_ent(&c, fs_kind_name(kids[i]), fs_ino_make(slot, pid, kids[i]),
				fs_kind_mode(kids[i]) & S_IFMT);
		}
		if (k == FS_K_ROOT) {
			rc = fs_state_refresh(LIST_MAX_AGE_MS);
			fs_state_foreach(add_sandbox, &c);
		} else if (k == FS_K_SB_EXEC) {
			rc = fetched;
			fs_state_foreach_proc(slot, add_proc, &c);
		}
	}
	if (rc == 0 && c.failed)
		rc = -ENOMEM;
	if (rc != 0) {
		handle_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		handle_free(h);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	fs_handle *h = fh(fi);
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (size_t i = (size_t)off; off >= 0 && i < h->nents; i++) {
		struct stat st;
		memset(&st, 0, sizeof st);
		st.st_ino = h->ents[i].ino;
		st.st_mode = h->ents[i].mode;
		size_t need = fuse_add_direntry(req, buf + used, size - used, h->ents[i].name, &st, (off_t)i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	handle_free(fh(fi));
	fuse_reply_err(req, 0);
}

/* ------------------------------------------------------------ open/read */

static int set_text(fs_handle *h, char *text)
{
	if (!text)
		return -ENOMEM;
	h->text = text;
	h->text_len = strlen(text);
	return 0;
}

static char *word_line(const char *w)
{
	size_t n = strlen(w);
	char *s = malloc(n + 2);
	if (s) {
		memcpy(s, w, n);
		s[n] = '\n';
		s[n + 1] = '\0';
	}
	return s;
}

/* Fixes the content of the small text files at open, so every read of
 * one open file sees the same bytes. */
static int open_text(fs_handle *h)
{
	int rc;
	switch (h->kind) {
	case FS_K_ROOT_ERROR:
	case FS_K_SB_ERROR:
		return set_text(h, fs_state_error(h->slot));
	case FS_K_SB_STATUS: {
		fs_sb_view v;
		rc = fs_state_fetch_sandbox(h->slot, 0);
		if (rc)
			return rc;
		if (fs_state_sandbox(h->slot, &v) != 0)
			return -ENOENT;
		return set_text(h, word_line(sbx_state_word(v.state)));
	}
	case FS_K_SB_INFO: {
		char *j = NULL;
		rc = fs_state_info(h->slot, &j);
		return rc ? rc : set_text(h, j);
	}
	case FS_K_P_STATUS: {
		fs_proc_view p;
		rc = fs_state_fetch_proc(h->slot, h->pid, 0);
		if (rc)
			return rc;
		if (fs_state_proc(h->slot, h->pid, &p) != 0)
			return -ENOENT;
		return set_text(h, word_line(sbx_proc_state_word(p.state)));
	}
	case FS_K_P_CMD: {
		char *c = fs_state_proc_cmd(h->slot, h->pid);
		if (!c) {
			rc = fs_state_fetch_proc(h->slot, h->pid, 0);
			if (rc)
				return rc;
			c = fs_state_proc_cmd(h->slot, h->pid);
		}
		return set_text(h, c ? c : strdup("\n"));
	}
	default:
		return 0;
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	if (fs_ino_is_files(ino)) {
		char *path;
		if (fs_files_resolve(ino, &slot, &path) != 0) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		fs_files_open(req, ino, slot, path, fi);
		free(path);
		return;
	}
	if (fs_ino_split(ino, &slot, &pid, &k) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (S_ISDIR(fs_kind_mode(k))) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	int acc = fi->flags & O_ACCMODE;
	if (acc != O_RDONLY && !writable(k)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fs_handle *h = calloc(1, sizeof *h);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->kind = k;
	h->slot = slot;
	h->pid = pid;
	h->ino = ino;
	h->rd_base = -1;
	int rc = open_text(h);
	if (rc) {
		handle_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->direct_io = 1;
	if (fs_kind_is_output(k) && settings.kernel_cache) {
		/* A finished stream never changes again, so the kernel may cache
		 * it (-o kernel_cache). Not the default: the page-cache path
		 * reads ahead in at most 1 MiB steps and measured ~1 GB/s on a
		 * first cat, direct_io with 1 MiB reads ~6 GB/s (and about the
		 * same on a repeated cat); see docs/performance.md. A live
		 * stream always comes from here. */
		int final = 0;
		if (pid) {
			fs_proc_view p;
			final = fs_state_proc(slot, pid, &p) == 0 && fs_proc_final(&p);
		} else {
			fs_sb_view v;
			final = fs_state_sandbox(slot, &v) == 0 && v.main_eof[stream_of(k)];
		}
		if (final) {
			fi->direct_io = 0;
			fi->keep_cache = 1;
		}
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT)
		handle_free(h);
}

/* Answers with a copy: the kernel may let the reader go on (and close the
 * file, freeing the handle and its text) before fuse_reply_buf returns. */
static void reply_slice(fuse_req_t req, const char *text, size_t len, int64_t off, size_t size)
{
	if (!text || off < 0 || (uint64_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = len - (size_t)off;
	if (n > size)
		n = size;
	char small[256];
	char *copy = n <= sizeof small ? small : malloc(n);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(copy, text + off, n);
	fuse_reply_buf(req, copy, n);
	if (copy != small)
		free(copy);
}

/* Where a stream stands: bytes known so far and whether it has ended. */
static int stream_known(fs_handle *h, sbx_stream st, fs_sb_view *v, int64_t *known, int *ended)
{
	if (fs_state_sandbox(h->slot, v) != 0)
		return -ENOENT;
	*known = 0;
	*ended = 0;
	if (h->pid) {
		fs_proc_view pv;
		if (fs_state_proc(h->slot, h->pid, &pv) == 0) {
			*known = pv.bytes[st];
			*ended = fs_proc_final(&pv);
		}
	} else {
		*known = v->main_bytes[st];
		*ended = v->main_eof[st];
	}
	return 0;
}

/* One synchronous read of up to FS_CHUNK_READ bytes at off (no waiting)
 * into a pooled buffer. Returns 0 with *ch filled and *keep the buffer
 * (*pooled says whether it is still a pool buffer: small answers are
 * copied out so the pool buffer goes back at once), or -errno. */
static int fetch_chunk(fs_handle *h, const char *id, sbx_stream st, int64_t off, sbx_chunk *ch, void **keep,
		       int *pooled)
{
	sbx_error err;
	void *buf = fs_chunk_buf();
	*keep = NULL;
	*pooled = 1;
	if (!buf)
		return -ENOMEM;
	sbx_result r = sbx_output_read(client, id, h->pid, st, off, buf, FS_CHUNK_READ, 0, ch, &err);
	if (r != SBX_OK) {
		fs_chunk_buf_free(buf);
		return fs_state_fail(h->slot, st == SBX_STDOUT ? "read stdout" : "read stderr", &err);
	}
	fs_state_stream_seen(h->slot, h->pid, st, ch->size, ch->eof);
	if (ch->len == 0 || ch->offset != off) {
		fs_chunk_buf_free(buf);
		ch->len = 0;
		return 0;
	}
	*keep = buf;
	if (ch->len < FS_CHUNK_READ / 4) {
		void *small = malloc(ch->len);
		if (small) {
			memcpy(small, buf, ch->len);
			fs_chunk_buf_free(buf);
			*keep = small;
			*pooled = 0;
		}
	}
	ch->data = *keep;
	return 0;
}

/* A reader moving through a chunk: fetch the next one in the background
 * so the service read overlaps with the kernel copying this one. */
static void maybe_prefetch(fs_handle *h, sbx_stream st, const fs_chunk *c)
{
	int64_t end = fs_chunk_end(c);
	/* Once per chunk (every read of a cached chunk came here and redid
	 * the state and cache lookups): from its first read on, the service
	 * read of the next one overlaps with the kernel copying this one. */
	if (h->prefetch_end == end)
		return;
	fs_sb_view v;
	int64_t known;
	int ended;
	if (stream_known(h, st, &v, &known, &ended) != 0 || known <= end)
		return;
	const void *p;
	size_t n;
	fs_chunk *next = fs_chunk_get(h->slot, h->pid, st, end, 1, &p, &n);
	h->prefetch_end = end;
	if (next) {
		fs_chunk_release(next);
		return;
	}
	fs_wait_prefetch(h->slot, v.id, h->pid, st, end);
}

/* stdout/stderr. A read is filled as far as the bytes so far allow, from
 * the chunk cache and synchronous 4 MiB reads of the service: a short
 * answer would make the kernel take it for the end of a page-cached
 * (finished) file. Only a read at the end of a live stream waits, and
 * that is handed to a waiter. */
static void read_output(fuse_req_t req, fs_handle *h, size_t size, int64_t off, int nonblock)
{
	sbx_stream st = stream_of(h->kind);
	const void *p;
	size_t n;
	fs_chunk *c = fs_chunk_get(h->slot, h->pid, st, off, size, &p, &n);
	if (c && n == size) {
		h->pos = off + (int64_t)n;
		maybe_prefetch(h, st, c);
		fuse_reply_buf(req, p, n);
		fs_chunk_release(c);
		return;
	}
	char *out = malloc(size ? size : 1);
	size_t got = 0;
	int rc = 0;
	if (!out) {
		fs_chunk_release(c);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (c) {
		memcpy(out, p, n);
		got = n;
		fs_chunk_release(c);
	}
	fs_sb_view v;
	while (got < size) {
		int64_t at = off + (int64_t)got;
		c = fs_chunk_get(h->slot, h->pid, st, at, size - got, &p, &n);
		if (c) {
			memcpy(out + got, p, n);
			got += n;
			fs_chunk_release(c);
			continue;
		}
		int64_t known;
		int ended;
		rc = stream_known(h, st, &v, &known, &ended);
		if (rc || (ended && at >= known))
			break;
		if (got > 0 && at >= known)
			break;      /* live stream: what we have now is the answer */
		if (at >= known && !nonblock)
			break;      /* nothing there yet: a waiter below */
		sbx_chunk ch;
		void *keep;
		int pooled;
		rc = fetch_chunk(h, v.id, st, at, &ch, &keep, &pooled);
		if (rc)
			break;
		if (ch.len == 0) {
			if (!ch.eof && got == 0 && nonblock)
				rc = -EAGAIN;
			if (!ch.eof && got == 0 && !nonblock)
				goto wait;
			break;
		}
		n = ch.len < size - got ? ch.len : size - got;
		memcpy(out + got, keep, n);
		got += n;
		fs_chunk_put(h->slot, h->pid, st, at, keep, ch.len, pooled);
	}
	if (rc && got == 0) {
		free(out);
		fuse_reply_err(req, -rc);
		return;
	}
	if (got > 0 || rc == 0) {
		int64_t known;
		int ended;
		if (got == 0 && stream_known(h, st, &v, &known, &ended) == 0 && !(ended && off >= known))
			goto wait;
		h->pos = off + (int64_t)got;
		fuse_reply_buf(req, out, got);
		free(out);
		return;
	}
wait:
	free(out);
	if (fs_state_sandbox(h->slot, &v) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fs_wait_output(req, h, v.id, st, off, size);
}

static void read_returncode(fuse_req_t req, fs_handle *h, size_t size, int64_t off, int nonblock)
{
	fs_sb_view v;
	char b[32];
	if (fs_state_sandbox(h->slot, &v) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	for (int pass = 0; pass < 2; pass++) {
		if (h->pid) {
			fs_proc_view p;
			if (fs_state_proc(h->slot, h->pid, &p) == 0 && fs_proc_final(&p)) {
				fuse_reply_buf(req, b, fs_rc_slice(p.exit_code, off, size, b, sizeof b));
				return;
			}
		} else {
			fs_state_sandbox(h->slot, &v);
			if (v.state == SBX_STATE_FAILED) {
				/* No exit code exists: the reason is the answer. */
				fs_state_note_failed(h->slot, v.reason);
				fuse_reply_err(req, EIO);
				return;
			}
			if (sb_final(&v)) {
				fuse_reply_buf(req, b, fs_rc_slice(v.exit_code, off, size, b, sizeof b));
				return;
			}
		}
		if (!nonblock || pass)
			break;
		int rc = h->pid ? fs_state_fetch_proc(h->slot, h->pid, 0) : fs_state_fetch_sandbox(h->slot, 0);
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
	}
	if (nonblock) {
		fuse_reply_err(req, EAGAIN);
		return;
	}
	fs_wait_returncode(req, h, v.id, off, size);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	fs_handle *h = fh(fi);
	int nonblock = (fi->flags & O_NONBLOCK) != 0;
	if (h->path) {
		fs_files_read(req, h, size, off);
		return;
	}
	switch (h->kind) {
	case FS_K_SB_STDOUT:
	case FS_K_SB_STDERR:
	case FS_K_P_STDOUT:
	case FS_K_P_STDERR:
		read_output(req, h, size, off, nonblock);
		return;
	case FS_K_SB_RC:
	case FS_K_P_RC:
		read_returncode(req, h, size, off, nonblock);
		return;
	case FS_K_ROOT_NEW:
	case FS_K_EXEC_NEW:
		/* The clone file: whatever position the writes left, the first
		 * read starts at the id's first byte. */
		if (!h->text) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		if (h->rd_base < 0)
			h->rd_base = off;
		reply_slice(req, h->text, h->text_len, off - h->rd_base, size);
		return;
	default:
		reply_slice(req, h->text, h->text_len, off, size);
		return;
	}
}

/* ------------------------------------------------------------ write */

static int write_root_new(fs_handle *h, const char *buf, size_t size)
{
	sbx_spec *sp = NULL;
	sbx_sandbox *s = NULL;
	sbx_error err;
	int rc = 0;
	if (sbx_spec_parse(buf, size, &sp, &err) != SBX_OK) {
		rc = fs_state_fail(0, "new", &err);
		goto out;
	}
	if (sbx_sandbox_create(client, sp, &s, &err) != SBX_OK) {
		rc = fs_state_fail(0, "new", &err);
		goto out;
	}
	uint32_t slot = fs_state_put_sandbox(s);
	char *d = slot ? fs_state_dirname(slot) : NULL;
	char *line = word_line(d ? d : s->id);
	free(d);
	if (!line) {
		rc = -ENOMEM;
		goto out;
	}
	free(h->text);
	h->text = line;
	h->text_len = strlen(line);
	h->rd_base = -1;
out:
	sbx_sandbox_free(s);
	sbx_spec_free(sp);
	return rc;
}

static int write_exec_new(fs_handle *h, const char *buf, size_t size)
{
	sbx_exec_req *r = NULL;
	sbx_process *p = NULL;
	sbx_error err;
	fs_sb_view v;
	int rc = 0;
	if (fs_state_sandbox(h->slot, &v) != 0)
		return -ENOENT;
	if (sbx_exec_req_parse(buf, size, &r, &err) != SBX_OK) {
		rc = fs_state_fail(h->slot, "exec/new", &err);
		goto out;
	}
	if (sbx_process_start(client, v.id, r, &p, &err) != SBX_OK) {
		rc = fs_state_fail(h->slot, "exec/new", &err);
		goto out;
	}
	fs_state_put_proc(h->slot, p);
	char line[32];
	snprintf(line, sizeof line, "%lld\n", (long long)p->id);
	free(h->text);
	h->text = strdup(line);
	h->text_len = h->text ? strlen(line) : 0;
	h->rd_base = -1;
	if (!h->text)
		rc = -ENOMEM;
out:
	sbx_process_free(p);
	sbx_exec_req_free(r);
	return rc;
}

/* stop: DELETE (the record and output stay); delete (hide): DELETE with
 * purge, so the sandbox vanishes from every mount. */
static int delete_sandbox(uint32_t slot, const char *id, int grace, int hide, const char *what)
{
	sbx_error err;
	sbx_result r = hide ? sbx_sandbox_purge(client, id, grace, 1, &err)
			    : sbx_sandbox_delete(client, id, grace, 1, &err);
	if (r != SBX_OK)
		return fs_state_fail(slot, what, &err);
	if (hide)
		fs_state_hide(slot);
	else
		fs_state_fetch_sandbox(slot, 0);
	return 0;
}

/* After `ctl delete`: the kernel forgets the directory's name at once, so
 * stat fails now, not after the entry timeout. Sent before the write is
 * answered, so the shell's next command cannot see the old entry (the
 * kernel takes the root's lock for it, which a write to ctl does not
 * hold; another op holding it is answered by another worker). With one
 * thread (-s) that other op could never be answered: then after. */
static void forget_name(const char *name)
{
	if (session && name)
		fuse_lowlevel_notify_inval_entry(session, FUSE_ROOT_ID, name, strlen(name));
}

static int write_sb_ctl(fs_handle *h, const char *buf, size_t size)
{
	fs_ctl c;
	fs_sb_view v;
	if (fs_state_sandbox(h->slot, &v) != 0)
		return -ENOENT;
	if (fs_ctl_parse(FS_CTL_SANDBOX, buf, size, &c) != 0) {
		fs_state_set_error(h->slot, "ctl: unknown command (use \"stop [GRACE_SECONDS]\" or \"delete\")");
		return -EINVAL;
	}
	if (c.verb == FS_VERB_STOP)
		return delete_sandbox(h->slot, v.id, c.arg >= 0 ? c.arg : settings.grace_seconds, 0, "ctl stop");
	char *d = fs_state_dirname(h->slot);
	int rc = delete_sandbox(h->slot, v.id, settings.grace_seconds, 1, "ctl delete");
	if (!rc) {
		free(h->gone_name);
		h->gone_name = d;
		d = NULL;
	}
	free(d);
	return rc;
}

static int write_p_ctl(fs_handle *h, const char *buf, size_t size)
{
	fs_ctl c;
	fs_sb_view v;
	sbx_error err;
	if (fs_state_sandbox(h->slot, &v) != 0)
		return -ENOENT;
	if (fs_ctl_parse(FS_CTL_PROCESS, buf, size, &c) != 0) {
		fs_state_set_error(h->slot, "exec/%lld/ctl: unknown command (use \"kill [SIGNAL]\" or \"eof\")",
				   (long long)h->pid);
		return -EINVAL;
	}
	if (c.verb == FS_VERB_KILL) {
		if (sbx_process_signal(client, v.id, h->pid, c.arg, &err) != SBX_OK)
			return fs_state_fail(h->slot, "kill", &err);
	} else {
		if (sbx_process_close_stdin(client, v.id, h->pid, &err) != SBX_OK)
			return fs_state_fail(h->slot, "eof", &err);
	}
	return 0;
}

static int write_stdin(fs_handle *h, const char *buf, size_t size)
{
	char id[FS_ID_MAX];
	sbx_error err;
	if (fs_state_sandbox_id(h->slot, id) != 0)
		return -ENOENT;
	sbx_result r = h->nonblock ? sbx_process_try_write_stdin(client, id, h->pid, buf, size, &err)
				   : sbx_process_write_stdin(client, id, h->pid, buf, size, &err);
	if (r == SBX_E_EXHAUSTED && err.http_status == 429) {
		/* Back-pressure: libsbx retried until its deadline (a blocking
		 * writer), or not at all (O_NONBLOCK). */
		fs_state_set_error(h->slot, "stdin: the process is not reading (%s)",
				   h->nonblock ? "try again" : "timed out");
		return h->nonblock ? -EAGAIN : -ETIMEDOUT;
	}
	if (r != SBX_OK)
		return fs_state_fail(h->slot, "stdin", &err);
	return 0;
}

/* Whether the text pending on a clone file is a complete request: a JSON
 * object once its braces balance (outside strings), a text command or an
 * empty line once a newline came. Reads only the bytes added since the
 * last call (the scan state lives on the handle), so `dd bs=1` of a large
 * request costs linear time, not quadratic. */
static int clone_complete(fs_handle *h)
{
	const char *t = h->pend;
	size_t n = h->pend_len, i = h->scan.off;
	h->scan.off = n;
	if (h->scan.mode == 0) {
		while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r'))
			i++;
		if (i == n)
			return 0;
		h->scan.mode = t[i] == '{' ? 1 : 2;
	}
	if (h->scan.mode == 2)
		return memchr(t + i, '\n', n - i) != NULL;
	for (; i < n; i++) {
		char c = t[i];
		if (h->scan.esc) {
			h->scan.esc = 0;
		} else if (h->scan.in_str) {
			if (c == '\\')
				h->scan.esc = 1;
			else if (c == '"')
				h->scan.in_str = 0;
		} else if (c == '"') {
			h->scan.in_str = 1;
		} else if (c == '{' || c == '[') {
			h->scan.depth++;
		} else if ((c == '}' || c == ']') && --h->scan.depth == 0) {
			return 1;
		}
	}
	return 0;
}

/* Drops what is pending on a clone file, with its scan state. */
static void pend_clear(fs_handle *h)
{
	free(h->pend);
	h->pend = NULL;
	h->pend_len = 0;
	memset(&h->scan, 0, sizeof h->scan);
}

/* Starts what is pending on a clone file and empties it. */
static int clone_start(fs_handle *h)
{
	int rc = h->kind == FS_K_ROOT_NEW ? write_root_new(h, h->pend, h->pend_len)
					  : write_exec_new(h, h->pend, h->pend_len);
	pend_clear(h);
	return rc;
}

/* A write to a clone file: buffered until the request is complete (so
 * `dd bs=1` or a shell writing a line in two pieces starts one thing),
 * started in the write that completes it, whose caller gets the error. */
static int write_clone(fs_handle *h, const char *buf, size_t size)
{
	if (h->pend_len + size > PEND_MAX) {
		fs_state_set_error(h->kind == FS_K_ROOT_NEW ? 0 : h->slot,
				   "%s: request over %u bytes without being complete (dropped)",
				   h->kind == FS_K_ROOT_NEW ? "new" : "exec/new", PEND_MAX);
		pend_clear(h);
		return -E2BIG;
	}
	char *p = realloc(h->pend, h->pend_len + size + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + h->pend_len, buf, size);
	h->pend = p;
	h->pend_len += size;
	p[h->pend_len] = '\0';
	if (!clone_complete(h))
		return 0;
	return clone_start(h);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	fs_handle *h = fh(fi);
	int rc;
	if (h->path) {
		fs_files_write(req, h, buf, size, off);
		return;
	}
	if (size > WRITE_MAX) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	switch (h->kind) {
	case FS_K_ROOT_NEW:
	case FS_K_EXEC_NEW:
		rc = write_clone(h, buf, size);
		break;
	case FS_K_SB_CTL:
		rc = write_sb_ctl(h, buf, size);
		break;
	case FS_K_P_CTL:
		rc = write_p_ctl(h, buf, size);
		break;
	case FS_K_P_STDIN:
		h->nonblock = (fi->flags & O_NONBLOCK) != 0;
		rc = write_stdin(h, buf, size);
		break;
	default:
		rc = -EBADF;
		break;
	}
	/* Taken before the answer: once answered, the file may be closed and
	 * the handle freed. */
	char *gone = h->gone_name;
	h->gone_name = NULL;
	if (gone && !settings.single_thread) {
		forget_name(gone);
		free(gone);
		gone = NULL;
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
	if (gone) {
		forget_name(gone);
		free(gone);
	}
}

/* Whether text holds anything but blanks. */
static int has_text(const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] != ' ' && t[i] != '\t' && t[i] != '\r' && t[i] != '\n')
			return 1;
	return 0;
}

/* Whether a read or poll of h can wait (and so have a waiter): output
 * files and returncodes, not text, ctl or files/ handles. */
static int can_wait(const fs_handle *h)
{
	return !h->path && (fs_kind_is_output(h->kind) || h->kind == FS_K_SB_RC || h->kind == FS_K_P_RC);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_handle *h = fh(fi);
	/* A command without its final newline (`printf cmd > exec/new`) starts
	 * at close, best effort: close cannot fail usefully, so a failure
	 * only goes to the `error` file. */
	if (h->pend && has_text(h->pend, h->pend_len))
		clone_start(h);
	if (can_wait(h)) /* the others never had a waiter to forget */
		fs_wait_forget_handle(h);
	handle_free(h);
	fuse_reply_err(req, 0);
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	fs_handle *h = fh(fi);
	unsigned ready = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
	if (can_wait(h)) {
		fs_sb_view v;
		int64_t known;
		int ended;
		ready = 0;
		if (fs_kind_is_output(h->kind)) {
			if (stream_known(h, stream_of(h->kind), &v, &known, &ended) != 0)
				ready = POLLERR;
			else if (known > h->pos || ended)
				ready = POLLIN | POLLRDNORM;
		} else if (fs_state_sandbox(h->slot, &v) != 0) {
			ready = POLLERR;
		} else if (h->pid) {
			fs_proc_view p;
			if (fs_state_proc(h->slot, h->pid, &p) == 0 && fs_proc_final(&p))
				ready = POLLIN | POLLRDNORM;
		} else if (sb_final(&v)) {
			ready = POLLIN | POLLRDNORM;
		}
		if (!ready && ph) {
			fs_wait_poll(h, v.id, ph);
			ph = NULL;
		}
	}
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, ready);
}

/* ------------------------------------------------------------ mkdir etc. */

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	char *path;
	int files = files_node(req, parent, &slot, &path);
	if (files) {
		if (files > 0)
			fs_files_mkdir(req, slot, path, name, mode);
		free(path);
		return;
	}
	if (fs_ino_split(parent, &slot, &pid, &k) != 0 || k != FS_K_ROOT) {
		fuse_reply_err(req, EPERM);
		return;
	}
	sbx_spec *sp = sbx_spec_new();
	sbx_sandbox *s = NULL;
	sbx_error err;
	int rc = 0;
	if (!sp) {
		rc = -ENOMEM;
		goto out;
	}
	if (sbx_spec_set_name(sp, name, &err) != SBX_OK || sbx_sandbox_create(client, sp, &s, &err) != SBX_OK) {
		char what[300];
		snprintf(what, sizeof what, "mkdir %s", name);
		rc = fs_state_fail(0, what, &err);
		goto out;
	}
	uint32_t ns = fs_state_put_sandbox(s);
	if (!ns) {
		rc = -ENOMEM;
		goto out;
	}
	reply_entry(req, fs_ino_make(ns, 0, FS_K_SB_DIR));
out:
	if (rc)
		fuse_reply_err(req, -rc);
	sbx_sandbox_free(s);
	sbx_spec_free(sp);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	char *path;
	int files = files_node(req, parent, &slot, &path);
	if (files) {
		if (files > 0)
			fs_files_remove(req, slot, path, name, 1);
		free(path);
		return;
	}
	if (fs_ino_split(parent, &slot, &pid, &k) != 0 || k != FS_K_ROOT) {
		fuse_reply_err(req, EPERM);
		return;
	}
	uint32_t s;
	fs_sb_view v;
	if (fs_state_lookup(name, &s) != 0) {
		int rc = fs_state_refresh(MISS_MAX_AGE_MS);
		if (rc || fs_state_lookup(name, &s) != 0) {
			fuse_reply_err(req, rc ? -rc : ENOENT);
			return;
		}
	}
	if (fs_state_sandbox(s, &v) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	int rc = delete_sandbox(s, v.id, settings.grace_seconds, 1, "rmdir");
	fuse_reply_err(req, -rc);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	uint32_t slot;
	char *path;
	int files = files_node(req, parent, &slot, &path);
	if (files > 0)
		fs_files_remove(req, slot, path, name, 0);
	else if (!files)
		fuse_reply_err(req, EPERM);
	free(path);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	uint32_t slot;
	char *path;
	int files = files_node(req, parent, &slot, &path);
	if (files > 0)
		fs_files_create(req, slot, path, name, mode, fi);
	else if (!files)
		fuse_reply_err(req, EACCES);
	free(path);
}

/* rename works inside one sandbox's files/; between two sandboxes, or
 * between files/ and the rest of the tree, it is EXDEV (mv then copies).
 * Hard links and symlink creation exist nowhere in the tree, and nothing
 * else renames: ENOTSUP, "not supported", rather than ENOSYS, which tools
 * read as a broken filesystem. */
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	uint32_t slot, nslot;
	char *path, *npath;
	int files = files_node(req, parent, &slot, &path);
	if (files < 0)
		return;
	int nfiles = files_node(req, newparent, &nslot, &npath);
	if (nfiles < 0) {
		free(path);
		return;
	}
	if (files && nfiles && slot == nslot)
		fs_files_rename(req, slot, path, name, npath, newname, flags);
	else
		fuse_reply_err(req, files || nfiles ? EXDEV : ENOTSUP);
	free(path);
	free(npath);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, ENOTSUP);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, ENOTSUP);
}

/* No flush: every write is done when write() returns, and without the op
 * the kernel stops sending FLUSH on each close (one round trip less). */
const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.rename = op_rename,
	.link = op_link,
	.symlink = op_symlink,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.unlink = op_unlink,
	.create = op_create,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.poll = op_poll,
};
