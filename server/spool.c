/*
 * The spool files of processes: their names in the sandbox's directory
 * (<id>.stdout, <id>.stderr), opening them for the runtime to append to
 * (from the spare pool) and for readers, their sizes, whether a stream
 * can still grow, and the unnamed files of unary :exec output with the
 * emptied ones kept for reuse, and the empty spools of finished processes
 * kept (renamed .spool-free-K) for the next process. Above records.c, below core.c's lifecycle
 * (docs/internals/server.md, "The core's modules"). Under srv_lock.
 */
#include "spool.h"
#include "spare.h"
#include "state.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

void srv_spool_name(char *buf, size_t len, int64_t id, int stream)
{
	snprintf(buf, len, "%lld.%s", (long long)id, stream == 1 ? "stdout" : "stderr");
}

/* Bytes in a process's spool (1 stdout, 2 stderr): an exec's own fd, a
 * process's named file. */
int64_t srv_spool_size(const srv_sbx *s, const srv_proc *p, int stream)
{
	struct stat st;
	char name[40];
	if (p->id < 0)
		return p->out_fd[stream] >= 0 && fstat(p->out_fd[stream], &st) == 0 ? (int64_t)st.st_size : 0;
	srv_spool_name(name, sizeof name, p->id, stream);
	return s->dirfd >= 0 && fstatat(s->dirfd, name, &st, 0) == 0 ? (int64_t)st.st_size : 0;
}

static void free_name(char *buf, size_t len, int k)
{
	snprintf(buf, len, ".spool-free-%d", k);
}

/* A kept empty spool renamed to name and opened to append, or -1. */
static int reuse_spool(srv_sbx *s, const char *name)
{
	while (s->spool_free) {
		int k = __builtin_ctz(s->spool_free);
		char fname[32];
		s->spool_free &= ~(1u << k);
		free_name(fname, sizeof fname, k);
		if (renameat(s->dirfd, fname, s->dirfd, name) != 0)
			continue; /* gone (a hand in the state dir): try the next */
		int fd = openat(s->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		/* Not an empty file after all: never hand it to a process. */
		unlinkat(s->dirfd, name, 0);
	}
	return -1;
}

int srv_open_spool(srv_sbx *s, int64_t id, int stream, int create)
{
	char name[40];
	srv_spool_name(name, sizeof name, id, stream);
	if (!create)
		return openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	int fd = reuse_spool(s, name);
	return fd >= 0 ? fd : srv_spare_open(s->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
}

/* Renaming an empty spool out of the way and back in costs two directory
 * entries; making and dropping it cost an inode each, which on ext4
 * without a journal skips every recently deleted one (0.2-1 ms a file
 * after a few thousand came and went) and was half of sbxd's CPU per
 * started process. A reader that opened the spool before the rename sees
 * it empty (sizes are read under srv_lock and bound what is sent), and
 * nothing writes to it again until the next process gets it. */
void srv_spool_recycle(srv_sbx *s, srv_proc *p)
{
	if (p->id <= 0 || !p->out_done || s->dirfd < 0 || p->state == PS_RUNNING)
		return;
	for (int stream = 1; stream <= 2; stream++) {
		unsigned avail = ~s->spool_free & ((1u << SRV_SPOOL_FREE_MAX) - 1);
		char name[40], fname[32];
		struct stat st;
		if (!avail)
			return;
		srv_spool_name(name, sizeof name, p->id, stream);
		if (fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size != 0)
			continue;
		int k = __builtin_ctz(avail);
		free_name(fname, sizeof fname, k);
		if (renameat(s->dirfd, name, s->dirfd, fname) == 0)
			s->spool_free |= 1u << k;
	}
}

int srv_spool_open(srv_sbx *s, int64_t id, int stream)
{
	return srv_open_spool(s, id, stream, 0);
}

int srv_stream_ended(srv_sbx *s, int64_t id)
{
	srv_proc *p = srv_proc_get(s, id);
	/* An idle sandbox (no main command) has empty main streams that
	 * never grow: ended from the start, so a reader never waits. */
	if (!p)
		return id == 0 && s->spec.argv.n > 0 ? srv_state_terminal(s->state) : 1;
	return p->state != PS_RUNNING;
}

/* An exec's output goes to unnamed files on the state dir's disk (page
 * cache that can be written back, not memory the sandbox is charged for
 * and cannot reclaim, as a memfd would be), holding at most maxOutputBytes
 * of each stream: init stores that much and counts the rest as a hole
 * (srv_spawn.keep_bytes). Spent ones are emptied and reused once init has
 * closed its copies (exec_forget), because making and dropping an inode
 * per exec cost 1-2 ms on ext4 without a journal once a few thousand files
 * had come and gone (its allocator skips each recently deleted inode). */
int srv_exec_spool(srv_sbx *s)
{
	if (s->nexec_free > 0)
		return s->exec_free[--s->nexec_free];
	int fd = openat(s->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char name[48];
		snprintf(name, sizeof name, ".exec-%u.tmp", srv_proc_next_uid());
		fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			unlinkat(s->dirfd, name, 0);
	}
	if (fd >= 0)
		fcntl(fd, F_SETFL, O_APPEND);
	return fd;
}
