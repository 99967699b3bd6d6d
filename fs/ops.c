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
#include <linux/fuse.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "ctl.h"
#include "files.h"
#include "handle.h"
#include "node.h"
#include "state.h"
#include "tags.h"
#include "wait.h"

/* How long a read waits for someone else's fetch of its bytes before it
 * asks the service itself (a fetch has the client's deadline). */
#define CLAIM_WAIT_MS 15000
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


/* Entries the kernel should drop so that it forgets nodes of sandboxes
 * that are gone (state.c reclaims a slot only after its last FORGET): the
 * root entries of sandboxes that went away without this mount deleting
 * them (another client, the service's retention), and those left under a
 * deleted sandbox by files that were open at its delete (drop_gone_entries).
 * The kernel keeps such dentries until memory runs short. Dropped in order
 * from a thread of their own: the kernel takes the directory's lock for a
 * drop, which the operation that noticed (a listing inside a lookup, a
 * release) or the request another thread serves may hold. */
#define INVAL_PENDING_MAX 4096

typedef struct inval_name {
	struct inval_name *next;
	uint64_t parent;
	size_t len;
	char name[];
} inval_name;

static pthread_mutex_t inval_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inval_cond = PTHREAD_COND_INITIALIZER;
static inval_name *inval_head, **inval_tail = &inval_head;
static size_t inval_pending;
static int inval_started, inval_busy, inval_stop;

static void *inval_main(void *ud)
{
	(void)ud;
	pthread_mutex_lock(&inval_lock);
	for (;;) {
		while (!inval_head && !inval_stop)
			pthread_cond_wait(&inval_cond, &inval_lock);
		if (inval_stop)
			break;
		inval_name *n = inval_head;
		inval_head = n->next;
		if (!inval_head)
			inval_tail = &inval_head;
		inval_pending--;
		struct fuse_session *se = session;
		inval_busy = 1;
		pthread_mutex_unlock(&inval_lock);
		if (se)
			fuse_lowlevel_notify_inval_entry(se, n->parent, n->name, n->len);
		free(n);
		pthread_mutex_lock(&inval_lock);
		inval_busy = 0;
		pthread_cond_broadcast(&inval_cond);
	}
	pthread_mutex_unlock(&inval_lock);
	return NULL;
}

/* Queues the drop of parent's entry name (at most a few thousand pending:
 * past that the kernel's own memory pressure is left to free them). */
static void inval_later(uint64_t parent, const char *name)
{
	size_t len = strlen(name);
	inval_name *n = malloc(sizeof *n + len + 1);
	if (!n)
		return;
	n->next = NULL;
	n->parent = parent;
	n->len = len;
	memcpy(n->name, name, len + 1);
	pthread_mutex_lock(&inval_lock);
	if (inval_stop || !session || inval_pending >= INVAL_PENDING_MAX) {
		pthread_mutex_unlock(&inval_lock);
		free(n);
		return;
	}
	if (!inval_started) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&a, 64 << 10);
		inval_started = pthread_create(&t, &a, inval_main, NULL) == 0;
		pthread_attr_destroy(&a);
		if (!inval_started) {
			pthread_mutex_unlock(&inval_lock);
			free(n);
			return;
		}
	}
	*inval_tail = n;
	inval_tail = &n->next;
	inval_pending++;
	pthread_cond_signal(&inval_cond);
	pthread_mutex_unlock(&inval_lock);
}

/* state.c's hook, under its lock: queue only. */
static void sandbox_unlisted(uint32_t slot, const char *dirname)
{
	(void)slot;
	inval_later(FUSE_ROOT_ID, dirname);
}

void fs_ops_set_session(struct fuse_session *se)
{
	pthread_mutex_lock(&inval_lock);
	if (!se) {
		/* Before the session goes: the thread must not be in a
		 * notify then (bounded: a kernel that holds it longer has
		 * lost the connection anyway). */
		inval_stop = 1;
		pthread_cond_broadcast(&inval_cond);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 2;
		while (inval_busy && pthread_cond_timedwait(&inval_cond, &inval_lock, &until) == 0)
			;
		while (inval_head) {
			inval_name *n = inval_head;
			inval_head = n->next;
			free(n);
		}
		inval_tail = &inval_head;
		inval_pending = 0;
	}
	session = se;
	pthread_mutex_unlock(&inval_lock);
	fs_files_set_session(se);
}

/* The kernel must not keep a stale view of an `error` file (attributes or
 * pages): dropped on every update. Harmless when nothing is cached. */
static void error_changed(uint32_t slot)
{
	if (session)
		fuse_lowlevel_notify_inval_inode(session, slot ? fs_ino_make(slot, 0, FS_K_SB_ERROR)
							  : fs_ino_make(0, 0, FS_K_ROOT_ERROR), 0, 0);
}

/* A slot number reclaimed or handed out again (state.c, under its lock):
 * its files/ nodes and cached output go. */
static void slot_reclaimed(uint32_t slot)
{
	fs_files_drop_slot(slot);
	fs_chunk_drop_slot(slot);
}

void fs_ops_setup(sbx_client *c, const fs_settings *s)
{
	client = c;
	settings = *s;
	fs_state_on_error(error_changed);
	fs_state_on_reclaim(slot_reclaimed);
	fs_state_on_unlisted(sandbox_unlisted);
	my_uid = getuid();
	my_gid = getgid();
}

static fs_handle *fh(struct fuse_file_info *fi)
{
	return (fs_handle *)(uintptr_t)fi->fh;
}

/* For loop.c: whether a raw request is a write to a files/ handle that
 * only its own descriptor serves (fs_files_local_write: one pwrite into
 * the sandbox's layer), which the reading thread may answer itself.
 * Reads stay on the pool: a splice from a layer on disk may wait for the
 * disk, and reads out were as fast either way. The kernel's header and
 * the fh that WRITE starts with are read in place (linux/fuse.h, the ABI
 * libfuse parses the same bytes by); the handle lives until RELEASE,
 * which the kernel sends only after the file's last write. */
int fs_ops_request_local(const char *buf, size_t len)
{
	struct fuse_in_header in;
	uint64_t fhv;
	if (len < sizeof in + sizeof fhv)
		return 0;
	memcpy(&in, buf, sizeof in);
	if (in.opcode != FUSE_WRITE)
		return 0;
	memcpy(&fhv, buf + sizeof in, sizeof fhv);
	const fs_handle *h = (const fs_handle *)(uintptr_t)fhv;
	return h && h->path && fs_files_local_write(h, in.uid);
}

/* The clone files: a write is a request, the read its answer. */
static int clone_kind(fs_kind k)
{
	return k == FS_K_ROOT_NEW || k == FS_K_EXEC_NEW;
}

static void handle_free(fs_handle *h)
{
	if (!h)
		return;
	if (!h->path && clone_kind(h->kind))
		pthread_mutex_destroy(&h->clone_lock);
	free(h->clone.pend);
	free(h->ra);
	free(h->gone_name);
	free(h->text);
	for (size_t i = 0; i < h->nents; i++) {
		free(h->ents[i].name);
		free(h->ents[i].attr);
	}
	free(h->ents);
	free(h->path);
	if (__atomic_load_n(&h->sfd_state, __ATOMIC_ACQUIRE) == 2)
		close(h->sfd);
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

/* Why a process ended, as the `reason` file says it: one word the SDK's
 * errors tell apart (timeout, oom, killed, exited, failed, running), then
 * what qualifies it (the signal, the exit code, the service's reason). */
static int reason_line(const fs_proc_view *p, char *buf, size_t n)
{
	const char *r = p->reason;
	switch (p->state) {
	case SBX_PROC_RUNNING:
	case SBX_PROC_UNSPECIFIED:
		return snprintf(buf, n, "running\n");
	case SBX_PROC_EXITED:
		return *r ? snprintf(buf, n, "exited %d (%s)\n", p->exit_code, r)
			  : snprintf(buf, n, "exited %d\n", p->exit_code);
	case SBX_PROC_FAILED:
		return snprintf(buf, n, "failed (%s)\n", *r ? r : "could not start");
	case SBX_PROC_KILLED:
	default:
		break;
	}
	/* sbxd's stateReason for its own kills: "timeout", "out of memory ..." */
	if (strcmp(r, "timeout") == 0)
		return snprintf(buf, n, "timeout\n");
	if (strncmp(r, "out of memory", 13) == 0)
		return snprintf(buf, n, "oom\n");
	const char *sig = fs_signal_name(p->signal);
	char sb[16];
	if (!sig) {
		snprintf(sb, sizeof sb, "%d", p->signal);
		sig = sb;
	}
	return *r ? snprintf(buf, n, "killed SIG%s (%s)\n", sig, r) : snprintf(buf, n, "killed SIG%s\n", sig);
}

/* by-tag/TAG/NAME's target: the sandbox's directory, two levels up. */
static char *tag_link_text(uint32_t slot)
{
	char *d = fs_state_dirname(slot);
	if (!d)
		return NULL;
	size_t n = strlen(d) + 7;
	char *t = malloc(n);
	if (t)
		snprintf(t, n, "../../%s", d);
	free(d);
	return t;
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
	if (k == FS_K_TAG_LINK) {
		char *l = tag_link_text(slot);
		st->st_size = l ? (off_t)strlen(l) : 0;
		free(l);
		set_time(&st->st_mtim, mt);
		st->st_atim = st->st_ctim = st->st_mtim;
		return 0;
	}
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
		case FS_K_SB_INFO:
			/* the last record's JSON; an open fetches it anew, and
			 * direct_io reads what it got whatever the size said */
			st->st_size = (off_t)v.info_len;
			break;
		case FS_K_SB_TAGS: {
			char *tg = fs_state_tags(slot);
			st->st_size = tg ? (off_t)strlen(tg) : 0;
			free(tg);
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
		if (fs_proc_final(&p))
			*timeout = FINAL_ATTR_TIMEOUT;
		break;
	case FS_K_P_REASON: {
		char b[256];
		int n = reason_line(&p, b, sizeof b);
		st->st_size = n < 0 ? 0 : n >= (int)sizeof b ? (off_t)sizeof b - 1 : n;
		if (fs_proc_final(&p))
			*timeout = FINAL_ATTR_TIMEOUT;
		break;
	}
	case FS_K_P_CMD: {
		char *c = fs_state_proc_cmd(slot, pid);
		st->st_size = c ? (off_t)strlen(c) : 0;
		free(c);
		break;
	}
	case FS_K_P_RC:
		/* An ended process's code, state word and reason never change
		 * again (its record is final, never fetched anew): the kernel
		 * keeps their attributes, so the open that follows a lookup
		 * (default_permissions checks them) needs no GETATTR. The
		 * mount's exec round trip (the write's answer already says
		 * ended, sbxd's linger) is one FUSE request shorter. Output
		 * sizes are not final with the process: a background child
		 * may still write. */
		if (fs_proc_final(&p)) {
			char b[32];
			st->st_size = (off_t)fs_rc_slice(p.exit_code, 0, sizeof b, b, sizeof b);
			mt = p.end_ns ? p.end_ns : mt;
			*timeout = FINAL_ATTR_TIMEOUT;
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
	/* Counted before it is sent (a FORGET may follow the reply at
	 * once); a reply the kernel never took (its request was aborted) is
	 * taken back, as libfuse's high-level layer does. */
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	if (fs_ino_split(ino, &slot, &pid, &k) != 0 || fs_state_ref(slot) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* pid is a tag's or a snapshot id's index in the name table */
	int tag = k == FS_K_TAG_DIR || k == FS_K_TAG_LINK || k == FS_K_SNAP_FILE;
	if (tag && fs_tag_ref((uint32_t)pid) != 0) {
		fs_state_forget(slot, 1);
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (fuse_reply_entry(req, &e) == -ENOENT) {
		fs_state_forget(slot, 1);
		if (tag)
			fs_tag_forget((uint32_t)pid, 1);
	}
}

/* FORGET: the kernel dropped n lookups of ino. A slot whose nodes the
 * kernel no longer holds may be reclaimed (state.c). */
static void forget_one(fuse_ino_t ino, uint64_t n)
{
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	if (fs_ino_is_files(ino)) {
		fs_files_forget(ino, n);
	} else if (fs_ino_split(ino, &slot, &pid, &k) == 0) {
		fs_state_forget(slot, n);
		if (k == FS_K_TAG_DIR || k == FS_K_TAG_LINK || k == FS_K_SNAP_FILE)
			fs_tag_forget((uint32_t)pid, n);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget_one(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* ------------------------------------------------------------ lookup */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* A read of a page-cached file re-checks its attributes once they
	 * expired and drops the pages when the mtime moved: files/ files
	 * read through their descriptor (files.c "Descriptors") see a change
	 * made inside within the attribute timeout, as NFS does. Finished
	 * output, the only other page-cached file, has its attributes for an
	 * hour and never changes. */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	/* files/ listings carry every entry's attributes (one listDir call),
	 * so ls -l and find need no lookup or getattr per entry. Always, not
	 * READDIRPLUS_AUTO: with it the kernel lists a directory it has
	 * dentries of by plain READDIR, and a second ls -lR within a second
	 * or two then revalidated every expired entry by its own GETATTR
	 * (10,201 entries: 1,023 ms warm against 764 ms cold; 557-698 ms
	 * always-plus). The listing call is the same either way. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* Reads of an ended stream's spool fd go by splice (read_spliced);
	 * only replies made of an fd buffer use it. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
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

static void count_one(void *ud, uint32_t slot, const char *dirname)
{
	(void)slot;
	(void)dirname;
	(*(int *)ud)++;
}

typedef struct tag_find {
	const char *tag;
	int found;
} tag_find;

static void tag_match(void *ud, const char *tag, size_t len)
{
	tag_find *f = ud;
	if (strlen(f->tag) == len && memcmp(f->tag, tag, len) == 0)
		f->found = 1;
}

/* Whether a visible sandbox has the tag, as last listed. */
static int tag_seen(const char *tag)
{
	tag_find f = {tag, 0};
	fs_state_foreach_tag(tag_match, &f);
	return f.found;
}

/* Without sbxd's "processes" extension a process is a StreamExec, known
 * only to the libsbx client that started it (the real surface has no
 * process id, list or lookup). Where this mount started none, processes
 * of another or an earlier mount may still exist: exec/last cannot say,
 * so it answers ENOTSUP with the why in `error`, not a missing name.
 * 1 when that is so (error set), else 0. */
static int no_process_list(uint32_t slot)
{
	unsigned f = 0;
	if (sbx_client_features(client, &f, NULL) != SBX_OK || (f & SBX_FEAT_PROCESSES))
		return 0;
	fs_state_set_error(slot, "exec/last: this mount started no process here, and those of other mounts "
			   "are not known: the real API has no process list (sbxd's \"processes\" extension)");
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
	if (c == FS_K_P_STDIN) {
		/* only a process started with a stdin has the file */
		fs_proc_view p;
		if (fs_state_proc(slot, pid, &p) != 0 || !p.has_stdin) {
			fuse_reply_err(req, ENOENT);
			return;
		}
	}
	if (k == FS_K_ROOT_BYTAG) {
		uint32_t idx = fs_tag_intern(name, strlen(name));
		int rc = idx ? fs_state_list_tag(name, count_one, &(int){0}) : -ENOENT;
		if (rc || !tag_seen(name)) {
			fuse_reply_err(req, rc ? -rc : ENOENT);
			return;
		}
		reply_entry(req, fs_ino_make(0, idx, FS_K_TAG_DIR));
		return;
	}
	if (k == FS_K_ROOT_SNAPSHOTS && c == FS_K_NONE) {
		/* snapshots/ID: asked of the service by id, one Get */
		uint32_t idx = fs_tag_intern(name, strlen(name));
		int rc = idx ? fs_state_snapshot_get(name, NULL) : -ENOENT;
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
		reply_entry(req, fs_ino_make(0, idx, FS_K_SNAP_FILE));
		return;
	}
	if (k == FS_K_TAG_DIR) {
		uint32_t s;
		char *tag = fs_tag_name((uint32_t)pid);
		int ok = tag && fs_state_lookup(name, &s) == 0 && fs_state_has_tag(s, tag);
		if (tag && !ok && fs_state_list_tag(tag, count_one, &(int){0}) == 0)
			ok = fs_state_lookup(name, &s) == 0 && fs_state_has_tag(s, tag);
		free(tag);
		if (!ok) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		reply_entry(req, fs_ino_make(s, pid, FS_K_TAG_LINK));
		return;
	}
	if (c == FS_K_EXEC_LAST) {
		/* exec/last exists once there is a process to point at */
		fs_sb_view v;
		int rc = fs_state_fetch_newest(slot, LIST_MAX_AGE_MS);
		if (fs_state_sandbox(slot, &v) != 0 || v.last_pid < 1) {
			if (!rc && v.last_pid < 1 && no_process_list(slot))
				rc = -ENOTSUP;
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
			/* One sandbox asked for by name, not the whole list: a
			 * mkdir looks its name up first, and that must not cost
			 * more with a thousand sandboxes (readdir lists them). */
			int rc = fs_state_find_name(name);
			if (rc != 0 && rc != -ENOENT) {
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
	/* fstat(2) of (or a read's check of) an open files/ file with its
	 * own descriptor: from that descriptor, no round trip. */
	if (fi && fh(fi)->path && fs_files_fgetattr(req, fh(fi), ino))
		return;
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
	/* ftruncate(2) of a files/ handle with its own descriptor: on that
	 * descriptor, wherever its path leads now. */
	if (fi && fh(fi)->path && fs_files_ftruncate(req, fh(fi), ino, attr->st_size, to_set))
		return;
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
	if (fs_ino_split(ino, &slot, &pid, &k) == 0 && k == FS_K_TAG_LINK) {
		char *l = tag_link_text(slot);
		if (l)
			fuse_reply_readlink(req, l);
		else
			fuse_reply_err(req, ENOENT);
		free(l);
		return;
	}
	if (fs_ino_split(ino, &slot, &pid, &k) != 0 || k != FS_K_EXEC_LAST || fs_state_sandbox(slot, &v) != 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int rc = fs_state_fetch_newest(slot, LIST_MAX_AGE_MS);
	fs_state_sandbox(slot, &v);
	if (v.last_pid < 1) {
		if (!rc && no_process_list(slot))
			rc = -ENOTSUP;
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
	int64_t tag;            /* by-tag/TAG: the tag's index */
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
	h->ents[h->nents++] = (fs_dirent){n, ino, mode, NULL};
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

static void add_tag_link(void *ud, uint32_t slot, const char *dirname)
{
	list_ctx *c = ud;
	add_ent(c, dirname, fs_ino_make(slot, c->tag, FS_K_TAG_LINK), S_IFLNK);
}

/* snapshots/: an entry per id, with the id's index as its inode's. */
static void add_snapshot(void *ud, const char *id)
{
	size_t len = strlen(id);
	uint32_t idx = fs_tag_intern(id, len);
	if (idx)
		add_ent(ud, id, fs_ino_make(0, idx, FS_K_SNAP_FILE), S_IFREG);
}

/* by-tag/: each tag once (the table's index tells repeats apart). */
static void add_tag_dir(void *ud, const char *tag, size_t len)
{
	list_ctx *c = ud;
	uint32_t idx = fs_tag_intern(tag, len);
	if (!idx)
		return;
	uint64_t ino = fs_ino_make(0, idx, FS_K_TAG_DIR);
	for (size_t i = 0; i < c->h->nents; i++)
		if (c->h->ents[i].ino == ino)
			return;
	char n[FS_TAG_LEN_MAX + 1]; /* interned, so len fits */
	memcpy(n, tag, len);
	n[len] = '\0';
	add_ent(c, n, ino, S_IFDIR);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_handle *h = calloc(1, sizeof *h);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	list_ctx c = {h, 0, 0, 0, 0};
	add_ent(&c, ".", ino, S_IFDIR);
	add_ent(&c, "..", FUSE_ROOT_ID, S_IFDIR);
	uint32_t slot = 0;
	int64_t pid = 0;
	fs_kind k = FS_K_NONE;
	int rc = 0;
	int files_dir = 0, kept = 0;
	if (fs_ino_is_files(ino) || (fs_ino_split(ino, &slot, &pid, &k) == 0 && k == FS_K_SB_FILES)) {
		char *path;
		files_dir = fs_ino_is_files(ino);
		rc = fs_files_resolve(ino, &slot, &path);
		if (rc == 0 && files_dir && fs_files_dir_cached(ino)) {
			/* The kernel's cache serves it (fs_files_dir_cached):
			 * no listing call, no READDIRPLUS. */
			kept = 1;
			h->ents_later = 1;
			h->slot = slot;
			h->path = path;
			path = NULL;
		} else if (rc == 0) {
			rc = fs_files_opendir(slot, path, ino, h);
		}
		free(path);
	} else if (fs_ino_split(ino, &slot, &pid, &k) != 0 || !S_ISDIR(fs_kind_mode(k))) {
		rc = -ENOTDIR;
	} else {
		c.slot = slot;
		h->kind = k;
		fs_kind kids[16];
		size_t n = fs_kind_children(k, kids, 16);
		/* exec/: one process list serves `last` and the entries */
		int fetched = k == FS_K_SB_EXEC ? fs_state_fetch_procs(slot, LIST_MAX_AGE_MS) : 0;
		fs_proc_view pv;
		int no_stdin = k == FS_K_P_DIR && (fs_state_proc(slot, pid, &pv) != 0 || !pv.has_stdin);
		for (size_t i = 0; i < n && i < 16; i++) {
			if (kids[i] == FS_K_P_STDIN && no_stdin)
				continue;
			if (kids[i] == FS_K_EXEC_LAST) {
				fs_sb_view v;
				if (fs_state_sandbox(slot, &v) != 0 || v.last_pid < 1)
					continue;
			}
			/* files/ is listed with the type of a link (DT_LNK),
			 * though lookup and stat show the directory it is:
			 * rm -r (fts with FTS_NOSTAT|FTS_PHYSICAL trusts d_type)
			 * then never descends into it, so `rm -rf box` cannot
			 * delete the sandbox's own root filesystem file by file;
			 * cd, ls, cp and tar into box/files work as before. The
			 * root's snapshots/ likewise: `rm -rf` of every root entry must not
			 * delete every snapshot (an rm of snapshots/ID does). */
			unsigned type = kids[i] == FS_K_SB_FILES || kids[i] == FS_K_ROOT_SNAPSHOTS
			                        ? S_IFLNK
			                        : fs_kind_mode(kids[i]) & S_IFMT;
			add_ent(&c, fs_kind_name(kids[i]), fs_ino_make(slot, pid, kids[i]), type);
		}
		if (k == FS_K_ROOT) {
			rc = fs_state_refresh(LIST_MAX_AGE_MS);
			fs_state_foreach(add_sandbox, &c);
		} else if (k == FS_K_ROOT_BYTAG) {
			rc = fs_state_refresh(LIST_MAX_AGE_MS);
			fs_state_foreach_tag(add_tag_dir, &c);
		} else if (k == FS_K_ROOT_SNAPSHOTS) {
			rc = fs_state_foreach_snapshot(add_snapshot, &c);
		} else if (k == FS_K_TAG_DIR) {
			char *tag = fs_tag_name((uint32_t)pid);
			c.tag = pid;
			rc = tag ? fs_state_list_tag(tag, add_tag_link, &c) : -ENOENT;
			free(tag);
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
	/* files/ directory nodes: the kernel keeps what READDIRPLUS gave
	 * (names and types; the attributes went to their inodes with the
	 * same timeout) and serves it to the next opens that keep it, so a
	 * second walk within the attribute timeout costs an OPENDIR per
	 * directory and no listing call. Any other open drops it. The
	 * synthetic tree and files/ itself are listed anew every time. */
	fi->cache_readdir = files_dir;
	fi->keep_cache = kept;
	if (fuse_reply_open(req, fi) == -ENOENT)
		handle_free(h);
}

/* One entry of a listing at buf (plain or READDIRPLUS): the bytes it
 * needs, more than room when it does not fit (then nothing is counted). */
static size_t add_dirent(fuse_req_t req, char *buf, size_t room, const fs_dirent *d, off_t next, int plus,
			 int64_t age_ms)
{
	if (!plus) {
		struct stat st;
		memset(&st, 0, sizeof st);
		/* d_ino as stat's st_ino (the sandbox's) where it is known */
		st.st_ino = d->attr ? d->attr->st_ino : d->ino;
		st.st_mode = d->mode;
		return fuse_add_direntry(req, buf, room, d->name, &st, next);
	}
	struct fuse_entry_param e;
	if (d->attr) {
		fs_files_entry_param(d->ino, d->attr, &e);
		/* A listing fetched ahead for a walk: cached only for what is
		 * left of its time, so nothing shown is older than that. */
		double left = FS_FILES_ATTR_TIMEOUT - (double)age_ms / 1000.0;
		e.entry_timeout = e.attr_timeout = left > 0 ? left : 0;
	} else {
		memset(&e, 0, sizeof e);
		e.attr.st_ino = d->ino;
		e.attr.st_mode = d->mode;
	}
	size_t need = fuse_add_direntry_plus(req, buf, room, d->name, &e, next);
	/* The kernel counts a lookup of every entry with a node (one that
	 * fails to link it it forgets itself). A node gone meanwhile goes
	 * as a plain entry, in the same bytes. */
	if (need <= room && e.ino && fs_files_ref(e.ino) != 0) {
		memset(&e, 0, sizeof e);
		e.attr.st_ino = d->ino;
		e.attr.st_mode = d->mode;
		fuse_add_direntry_plus(req, buf, room, d->name, &e, next);
	}
	return need;
}

/* READDIR and READDIRPLUS: the handle's listing from off, as much as fits. */
static void reply_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi, int plus)
{
	fs_handle *h = fh(fi);
	if (h->ents_later) {
		/* opened on the kernel's cache, which is gone (memory, or a
		 * reader that never read it whole): the listing now */
		int rc = fs_files_opendir(h->slot, h->path, ino, h);
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
		h->ents_later = 0;
	}
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (size_t i = (size_t)off; off >= 0 && i < h->nents; i++) {
		size_t need = add_dirent(req, buf + used, size - used, &h->ents[i], (off_t)i + 1, plus, h->ents_age_ms);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	reply_dir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	reply_dir(req, ino, size, off, fi, 1);
}

/* After the close of a file (or directory) of a sandbox that is gone
 * (deleted through this mount, or no longer listed): the kernel keeps the
 * dentries of what was open at the delete, hashed under the deleted
 * directory, and with them their inodes, whose FORGET alone frees the
 * sandbox's slot (state.c), until memory runs short. So the entry of the
 * file and of each directory up to the sandbox's are dropped (queued, in
 * order, for inval_main), the file's first: each dies with its last use. */
static void drop_gone_entries(fuse_ino_t ino)
{
	uint32_t slot;
	int64_t pid;
	fs_kind k;
	char *path = NULL;
	if (!session)
		return;
	if (fs_ino_is_files(ino)) {
		if (fs_files_resolve(ino, &slot, &path) != 0)
			return;
		k = FS_K_NONE;
		pid = 0;
	} else if (fs_ino_split(ino, &slot, &pid, &k) != 0) {
		return;
	}
	if (!slot || !fs_state_gone(slot)) {
		free(path);
		return;
	}
	if (path) {
		/* files/ nodes: /a/b/c is c in /a/b, b in /a, a in files/ */
		char *slash;
		while (path[0] && strcmp(path, "/") != 0 && (slash = strrchr(path, '/')) != NULL) {
			const char *name = slash + 1;
			uint64_t parent;
			if (slash == path) {
				parent = fs_ino_make(slot, 0, FS_K_SB_FILES);
			} else {
				*slash = '\0';
				parent = fs_files_intern(slot, path);
				*slash = '/';
			}
			if (*name && parent)
				inval_later(parent, name);
			*slash = '\0';
		}
		free(path);
		k = FS_K_SB_FILES;
		pid = 0;
	}
	while (k != FS_K_NONE && k != FS_K_SB_DIR) {
		fs_kind pk = fs_kind_parent(k);
		char num[32];
		const char *name = fs_kind_name(k);
		if (k == FS_K_P_DIR) {
			snprintf(num, sizeof num, "%lld", (long long)pid);
			name = num;
		}
		if (pk == FS_K_NONE || pk == FS_K_ROOT || !*name)
			return;
		int64_t ppid = pk >= FS_K_P_DIR && pk <= FS_K_P_REASON ? pid : 0;
		inval_later(fs_ino_make(slot, ppid, pk), name);
		k = pk;
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	handle_free(fh(fi));
	fuse_reply_err(req, 0);
	drop_gone_entries(ino);
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
	case FS_K_ROOT_IMAGES: {
		char *t = NULL;
		rc = fs_state_images(&t);
		return rc ? rc : set_text(h, t);
	}
	case FS_K_SNAP_ALL:
	case FS_K_SB_SNAPSHOTS: {
		char *t = NULL;
		rc = fs_state_snapshots(h->kind == FS_K_SNAP_ALL ? 0 : h->slot, &t);
		return rc ? rc : set_text(h, t);
	}
	case FS_K_SNAP_FILE: {
		/* the snapshot as the service has it now (its state moves
		 * from creating to ready), asked anew at each open */
		char *id = fs_tag_name((uint32_t)h->pid);
		char *j = NULL;
		rc = id ? fs_state_snapshot_get(id, &j) : -ENOENT;
		free(id);
		return rc ? rc : set_text(h, j);
	}
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
	case FS_K_SB_TAGS:
		rc = fs_state_fetch_sandbox(h->slot, 0);
		return rc ? rc : set_text(h, fs_state_tags(h->slot));
	case FS_K_P_REASON: {
		fs_proc_view p;
		char b[256];
		rc = fs_state_fetch_proc(h->slot, h->pid, 0);
		if (rc)
			return rc;
		if (fs_state_proc(h->slot, h->pid, &p) != 0)
			return -ENOENT;
		reason_line(&p, b, sizeof b);
		return set_text(h, strdup(b));
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
	if (clone_kind(k))
		pthread_mutex_init(&h->clone_lock, NULL);
	int rc = open_text(h);
	if (rc) {
		handle_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->direct_io = 1;
	fi->noflush = !clone_kind(k);
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
			h->cached = 1;
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

/* Without sbxd's processes extension this mount's processes are libsbx's
 * own StreamExec spools, read locally: the end of one whose stream broke
 * before the exit is that error, not an EOF, and only libsbx knows it, so
 * a read at the end asks it (no round trip) rather than the state cache. */
static int streams_in_client(void)
{
	unsigned f = 0;
	return sbx_client_features(client, &f, NULL) == SBX_OK && !(f & SBX_FEAT_PROCESSES);
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
	h->prefetch_end = end;
	/* (A chunk already cached or in flight is not fetched again: the
	 * prefetch claims it first.) */
	fs_wait_prefetch(h->slot, v.id, h->pid, st, end);
	/* Finished bytes two chunks on as well: the service read of one
	 * overlaps with the wait for the other (the claims keep each
	 * fetched once). */
	if (known >= end + 2 * (int64_t)FS_CHUNK_READ)
		fs_wait_prefetch(h->slot, v.id, h->pid, st, end + (int64_t)FS_CHUNK_READ);
}


/* An ended stream of a local sbxd: the spool's own fd answers the read by
 * splice (no HTTP, no copy in sbxfs). Returns 1 when req was answered, 0
 * when the read goes the usual way (a live stream, a remote service, a
 * refusal). The fd is asked for once per open file, at its first read
 * after the stream ended. */
static int read_spliced(fuse_req_t req, fs_handle *h, sbx_stream st, size_t size, int64_t off)
{
	int state = settings.no_splice ? 3 : __atomic_load_n(&h->sfd_state, __ATOMIC_ACQUIRE);
	if (state == 0) {
		fs_sb_view v;
		int64_t known;
		int ended, expect = 0;
		if (stream_known(h, st, &v, &known, &ended) != 0 || !ended)
			return 0;
		if (!__atomic_compare_exchange_n(&h->sfd_state, &expect, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 0;
		int fd;
		int64_t sz;
		sbx_error err;
		sbx_result r = sbx_output_fd(client, v.id, h->pid, st, &fd, &sz, &err);
		if (r == SBX_E_TIMEOUT) {
			/* A hung service: the usual path would spend the deadline
			 * once more. The error now; the next read asks again. */
			__atomic_store_n(&h->sfd_state, 0, __ATOMIC_RELEASE);
			fuse_reply_err(req, -fs_state_fail(h->slot, st == SBX_STDOUT ? "read stdout" : "read stderr", &err));
			return 1;
		}
		if (r != SBX_OK) {
			__atomic_store_n(&h->sfd_state, 3, __ATOMIC_RELEASE);
			return 0;
		}
		h->sfd = fd;
		h->sfd_size = sz;
		__atomic_store_n(&h->sfd_state, 2, __ATOMIC_RELEASE);
		state = 2;
	}
	if (state != 2)
		return 0;
	int64_t left = h->sfd_size - off;
	if (off < 0 || left <= 0) {
		h->pos = off;
		fuse_reply_buf(req, NULL, 0);
		return 1;
	}
	size_t n = (uint64_t)left < size ? (size_t)left : size;
	/* direct_io takes a short read as a short read; a page-cached file
	 * would take it for its end, so it gets its whole size (copied by
	 * libfuse when over the pipe). */
	n = fs_splice_len(n, h->cached);
	h->pos = off + (int64_t)n;
	fs_reply_spliced(req, h->sfd, off, n);
	return 1;
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
	if (read_spliced(req, h, st, size, off))
		return;
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
	int waits = 0;
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
		int ask_client = !rc && ended && at >= known && got == 0 && h->pid && streams_in_client();
		if (rc || (ended && at >= known && !ask_client))
			break;
		if (got > 0 && at >= known)
			break;      /* live stream: what we have now is the answer */
		if (at >= known && !nonblock && !ask_client)
			break;      /* nothing there yet: a waiter below */
		/* The prefetch or another reader (the kernel sends a file's
		 * readahead as several reads at once) may be bringing these
		 * bytes now: wait for that instead of asking twice. A few waits
		 * at most, so a fetch that keeps failing elsewhere does not
		 * hold this read. */
		int claim = waits < 4 ? fs_chunk_claim(h->slot, h->pid, st, at, CLAIM_WAIT_MS) : -1;
		if (claim == 0) {
			waits++;
			continue;
		}
		sbx_chunk ch;
		void *keep;
		int pooled;
		rc = fetch_chunk(h, v.id, st, at, &ch, &keep, &pooled);
		if (rc || ch.len == 0) {
			if (claim == 1)
				fs_chunk_unclaim(h->slot, h->pid, st, at);
		}
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
		if (claim == 1)
			fs_chunk_unclaim(h->slot, h->pid, st, at);
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

static int clone_finish(fs_handle *h);

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
		/* The clone file: a read ends the request written so far (as a
		 * close would); whatever position the writes left, the first
		 * read starts at the id's first byte. */
		/* The answer is copied under the lock and sent after it: once
		 * answered, the file may be closed and the handle freed. */
		pthread_mutex_lock(&h->clone_lock);
		int rc = h->clone.pend || h->clone.scan.mode ? clone_finish(h) : 0;
		char *ans = NULL;
		size_t alen = 0;
		if (!rc && h->text) {
			if (h->rd_base < 0)
				h->rd_base = off;
			int64_t at = off - h->rd_base;
			if (at >= 0 && (uint64_t)at < h->text_len) {
				alen = h->text_len - (size_t)at;
				if (alen > size)
					alen = size;
				ans = malloc(alen);
				if (ans)
					memcpy(ans, h->text + at, alen);
				else
					rc = -ENOMEM;
			}
		}
		pthread_mutex_unlock(&h->clone_lock);
		if (rc)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_buf(req, ans, alen);
		free(ans);
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
	/* -o stdin: a text command gets a stdin too (a JSON one says so). */
	if (settings.exec_stdin && h->clone.scan.mode == FS_CLONE_TEXT)
		sbx_exec_req_set_stdin(r, 1);
	/* A retry of a start that got no answer sends the same request id,
	 * so the service runs the command once however often it is retried. */
	char rid[SBX_REQUEST_ID_MAX + 1];
	if (fs_state_start_retry_id(h->slot, buf, size, rid))
		sbx_exec_req_set_request_id(r, rid, NULL);
	const char *sent = sbx_exec_req_request_id(r);
	sbx_result res = sbx_process_start(client, v.id, r, &p, &err);
	if (res == SBX_E_TIMEOUT || res == SBX_E_NETWORK || res == SBX_E_UNAVAILABLE || res == SBX_E_PROTOCOL)
		fs_state_start_unsure(h->slot, buf, size, sent);
	else
		fs_state_start_sure(h->slot);
	if (res != SBX_OK) {
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
		fs_state_set_error(h->slot, "ctl: %s (use \"stop [GRACE_SECONDS]\", \"delete\" or "
		                   "\"snapshot [VOLUME]\")", c.why);
		return -EINVAL;
	}
	if (c.verb == FS_VERB_SNAPSHOT)
		return fs_state_snapshot(h->slot, c.name);
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
		fs_state_set_error(h->slot, "exec/%lld/ctl: %s (use \"kill [SIGNAL]\" or \"eof\")",
				   (long long)h->pid, c.why);
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

/* Drops what is pending on a clone file, with its scan state. */
static void pend_clear(fs_handle *h)
{
	fs_clone_clear(&h->clone);
	h->checked = 0;
	h->nwriters = 0;
}

/* Remembers who wrote to the pending request: only their close ends it
 * (a `sleep` inside `{ printf ...; sleep 1; printf ...; } >exec/new`
 * inherits the descriptor and closes it at exit without having written). */
static void note_writer(fs_handle *h, uint64_t owner)
{
	if (h->nwriters < 0)
		return;
	for (int i = 0; i < h->nwriters; i++)
		if (h->writers[i] == owner)
			return;
	if (owner == 0 || h->nwriters == (int)(sizeof h->writers / sizeof h->writers[0]))
		h->nwriters = -1; /* unknown or too many writers: any close ends it */
	else
		h->writers[h->nwriters++] = owner;
}

static int wrote(const fs_handle *h, uint64_t owner)
{
	if (h->nwriters < 0)
		return 1;
	for (int i = 0; i < h->nwriters; i++)
		if (h->writers[i] == owner)
			return 1;
	return 0;
}

static const char *clone_what(const fs_handle *h)
{
	return h->kind == FS_K_ROOT_NEW ? "new" : "exec/new";
}

/* Starts what is pending on a clone file and empties it. */
static int clone_start(fs_handle *h)
{
	int rc = h->kind == FS_K_ROOT_NEW ? write_root_new(h, h->clone.pend, h->clone.len)
					  : write_exec_new(h, h->clone.pend, h->clone.len);
	/* What follows a request that started belongs to the next one; the
	 * writers and the check stay with the open file's writes. */
	fs_clone_next(&h->clone);
	h->checked = 0;
	h->nwriters = 0;
	return rc;
}

/* Text for exec/new, at its first complete line: refuses in the write
 * what the start at close would refuse (no such sandbox, not running, the
 * service unreachable), for writers that never look at close's result. */
static int clone_check_text(fs_handle *h)
{
	fs_sb_view v;
	int rc = fs_state_fetch_sandbox(h->slot, STAT_MAX_AGE_MS);
	if (rc)
		return rc;
	if (fs_state_sandbox(h->slot, &v) != 0)
		return -ENOENT;
	if (v.state == SBX_STATE_COMPLETED || v.state == SBX_STATE_FAILED || v.state == SBX_STATE_TERMINATED ||
	    v.state == SBX_STATE_TERMINATING) {
		char *d = fs_state_dirname(h->slot);
		fs_state_set_error(h->slot, "exec/new: sandbox %s is %s, not running", d ? d : v.id,
				   sbx_state_word(v.state));
		free(d);
		return -EINVAL;
	}
	return 0;
}

/* A refusal in a write: the rest of that request is refused too, until
 * the close, so its tail never starts as a request of its own. */
static int clone_refuse(fs_handle *h, int rc)
{
	pend_clear(h);
	h->refused = rc;
	return rc;
}

/* A write to a clone file: fs/clone.h says which bytes make a request.
 * One write may complete a request and begin the next. */
static int write_clone(fs_handle *h, const char *buf, size_t size, uint64_t owner)
{
	note_writer(h, owner);
	if (h->refused)
		return h->refused;
	int ends_line = size > 0 && buf[size - 1] == '\n';
	while (size > 0) {
		int done;
		ssize_t k = fs_clone_add(&h->clone, buf, size, PEND_MAX, &done);
		if (k == -E2BIG) {
			fs_state_set_error(h->kind == FS_K_ROOT_NEW ? 0 : h->slot,
					   "%s: request over %u bytes (dropped; its further writes fail too until close)",
					   clone_what(h), PEND_MAX);
			return clone_refuse(h, -E2BIG);
		}
		if (k < 0)
			return (int)k;
		buf += k;
		size -= (size_t)k;
		if (done) {
			int rc = clone_start(h);
			if (rc)
				return clone_refuse(h, rc);
			if (size > 0)
				note_writer(h, owner); /* its close ends what follows */
		}
	}
	if (h->clone.scan.mode == FS_CLONE_TEXT && h->kind == FS_K_EXEC_NEW && !h->checked && ends_line) {
		h->checked = 1;
		int rc = clone_check_text(h);
		if (rc)
			return clone_refuse(h, rc);
	}
	return 0;
}

/* The end of a request on a clone file (a close, or a read of the
 * answer): pending text starts; an unfinished JSON object is refused.
 * Returns what close(2) or the read reports. */
static int clone_finish(fs_handle *h)
{
	int rc = 0;
	if (h->refused) {
		rc = 0; /* already reported, to the write */
	} else if (h->clone.scan.mode == FS_CLONE_TEXT) {
		rc = clone_start(h);
	} else if (h->clone.scan.mode == FS_CLONE_JSON) {
		fs_state_set_error(h->kind == FS_K_ROOT_NEW ? 0 : h->slot,
				   "%s: JSON object not complete at close (%d unclosed brace%s or bracket%s%s)",
				   clone_what(h), h->clone.scan.depth,
				   h->clone.scan.depth == 1 ? "" : "s", h->clone.scan.depth == 1 ? "" : "s",
				   h->clone.scan.in_str ? ", inside a string" : "");
		rc = -EINVAL;
	}
	pend_clear(h);
	h->refused = 0;
	return rc;
}

/* close(2) of a descriptor by a process that wrote: the end of a request
 * on a clone file; in files/, the bytes a writable open still holds
 * (write-behind, files.c) are sent and their error is close's. Other
 * files open with noflush, so the kernel sends no FLUSH for them. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fs_handle *h = fh(fi);
	int rc = 0;
	if (h->path) {
		rc = fs_files_flush_handle(h);
	} else if (clone_kind(h->kind)) {
		pthread_mutex_lock(&h->clone_lock);
		if (h->refused || wrote(h, fi->lock_owner))
			rc = clone_finish(h);
		pthread_mutex_unlock(&h->clone_lock);
	}
	fuse_reply_err(req, -rc);
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
		pthread_mutex_lock(&h->clone_lock);
		rc = write_clone(h, buf, size, fi->lock_owner);
		pthread_mutex_unlock(&h->clone_lock);
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

/* Whether a read or poll of h can wait (and so have a waiter): output
 * files and returncodes, not text, ctl or files/ handles. */
static int can_wait(const fs_handle *h)
{
	return !h->path && (fs_kind_is_output(h->kind) || h->kind == FS_K_SB_RC || h->kind == FS_K_P_RC);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_handle *h = fh(fi);
	/* Every close sent FLUSH first (clone_finish); what is still pending
	 * here came through a path without one (a descriptor passed on and
	 * never closed by its holder before exit is still closed, so this is
	 * belt and braces): best effort, its error only in `error`. */
	if (!h->path && clone_kind(h->kind) && (h->clone.pend || h->clone.scan.mode))
		clone_finish(h);
	if (can_wait(h)) /* the others never had a waiter to forget */
		fs_wait_forget_handle(h);
	if (h->path)
		fs_files_release_handle(h);
	handle_free(h);
	fuse_reply_err(req, 0);
	drop_gone_entries(ino);
}

/* fallocate(2): files/ only (fs_files_fallocate); nothing else in the
 * tree holds bytes to allocate. */
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	(void)fi;
	uint32_t slot;
	char *path;
	int files = files_node(req, ino, &slot, &path);
	if (files > 0)
		fs_files_fallocate(req, ino, slot, path, mode, off, len);
	else if (!files)
		fuse_reply_err(req, EOPNOTSUPP);
	free(path);
}

/* fsync(2), fdatasync(2): a files/ handle's own descriptor is synced;
 * else the bytes write-behind holds are sent (the sandbox's own page
 * cache is then its kernel's business, as for any write that returned);
 * nothing else is ever held. */
static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	fs_handle *h = fh(fi);
	fuse_reply_err(req, h->path ? -fs_files_fsync(h, datasync) : 0);
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
	for (int i = 0; i < FS_MKDIR_OPTS; i++)
		if (settings.mkdir_opts[i][1] &&
		    sbx_spec_set_option(sp, settings.mkdir_opts[i][0], settings.mkdir_opts[i][1], &err) != SBX_OK) {
			rc = fs_state_fail(0, "mkdir", &err);
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
	if (files > 0) {
		fs_files_remove(req, slot, path, name, 0);
	} else if (!files) {
		int64_t pid;
		fs_kind k;
		/* rm snapshots/ID deletes the snapshot (.all is no snapshot) */
		if (fs_ino_split(parent, &slot, &pid, &k) == 0 && k == FS_K_ROOT_SNAPSHOTS &&
		    fs_kind_child(k, name) == FS_K_NONE)
			fuse_reply_err(req, -fs_state_snapshot_delete(name));
		else
			fuse_reply_err(req, EPERM);
	}
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
 * Nothing else renames: ENOTSUP, "not supported", rather than ENOSYS,
 * which tools read as a broken filesystem. */
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

/* Hard links within one sandbox's files/ (EXDEV between two, as
 * link(2) across file systems); the rest of the tree has none. */
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	uint32_t slot, nslot;
	char *path, *npath;
	int files = files_node(req, ino, &slot, &path);
	if (files < 0)
		return;
	int nfiles = files_node(req, newparent, &nslot, &npath);
	if (nfiles < 0) {
		free(path);
		return;
	}
	if (files && nfiles && slot == nslot)
		fs_files_link(req, slot, path, npath, newname);
	else
		fuse_reply_err(req, files || nfiles ? EXDEV : ENOTSUP);
	free(path);
	free(npath);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	uint32_t slot;
	char *path;
	int files = files_node(req, parent, &slot, &path);
	if (files > 0)
		fs_files_symlink(req, slot, path, name, link);
	else if (!files)
		fuse_reply_err(req, ENOTSUP);
	free(path);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	uint32_t slot;
	char *path;
	(void)rdev;     /* devices are refused, so no device number is used */
	int files = files_node(req, parent, &slot, &path);
	if (files > 0)
		fs_files_mknod(req, slot, path, name, mode);
	else if (!files)
		fuse_reply_err(req, EPERM);
	free(path);
}

/* files/ reports the sandbox's own file system; the rest of the tree is
 * synthetic and reports an empty one, but for its inodes: f_files is how
 * many sandbox slots a mount can hold, f_ffree how many are free (so
 * `df -i` shows what the mount keeps; tests check that it stays flat). */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	uint32_t slot;
	char *path;
	int files = files_node(req, ino, &slot, &path);
	if (files > 0) {
		fs_files_statfs(req, slot, path);
	} else if (!files) {
		struct statvfs sv;
		memset(&sv, 0, sizeof sv);
		sv.f_bsize = sv.f_frsize = 4096;
		sv.f_namemax = 255;
		uint32_t used = fs_state_slots_used();
		sv.f_files = FS_STATE_SLOTS_MAX;
		sv.f_ffree = sv.f_favail = used < FS_STATE_SLOTS_MAX ? FS_STATE_SLOTS_MAX - used : 0;
		fuse_reply_statfs(req, &sv);
	}
	free(path);
}

/* xattrs exist in files/ only; the rest of the tree has none: an empty
 * list, EOPNOTSUPP to everything else (GNU ls then stops asking this
 * device for ACLs and labels). */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	uint32_t slot;
	char *path;
	int files = files_node(req, ino, &slot, &path);
	if (files > 0)
		fs_files_getxattr(req, slot, path, name, size);
	else if (!files)
		fuse_reply_err(req, EOPNOTSUPP);
	free(path);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	uint32_t slot;
	char *path;
	int files = files_node(req, ino, &slot, &path);
	if (files > 0)
		fs_files_listxattr(req, slot, path, size);
	else if (!files && size == 0)
		fuse_reply_xattr(req, 0);
	else if (!files)
		fuse_reply_buf(req, NULL, 0);
	free(path);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
			int flags)
{
	uint32_t slot;
	char *path;
	int files = files_node(req, ino, &slot, &path);
	if (files > 0)
		fs_files_setxattr(req, slot, path, name, value, size, flags);
	else if (!files)
		fuse_reply_err(req, EOPNOTSUPP);
	free(path);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	uint32_t slot;
	char *path;
	int files = files_node(req, ino, &slot, &path);
	if (files > 0)
		fs_files_removexattr(req, slot, path, name);
	else if (!files)
		fuse_reply_err(req, EOPNOTSUPP);
	free(path);
}

/* Flush only for clone files (the end of a request) and writable files/
 * opens (write-behind): every other open sets noflush, so their closes
 * cost no round trip. */
const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.rename = op_rename,
	.link = op_link,
	.symlink = op_symlink,
	.mknod = op_mknod,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.unlink = op_unlink,
	.create = op_create,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.poll = op_poll,
};
