/*
 * File helpers for the runtime (see util.h). They are used by sbxd's own
 * thread only, never inside a sandbox's init, so they may allocate; the
 * exceptions, srv_clone and srv_child_reset, allocate nothing.
 */
#include "util.h"
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int srv_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = strlen(s);
	ssize_t n = write(fd, s, len);
	int saved = errno;
	close(fd);
	if (n < 0 || (size_t)n != len) {
		errno = n < 0 ? saved : EIO;
		return -1;
	}
	return 0;
}

long srv_read_file(const char *path, char *buf, size_t cap)
{
	if (cap == 0) {
		errno = EINVAL;
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	while (got + 1 < cap) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (long)got;
}

int srv_find_counter(const char *text, const char *key, int64_t *out)
{
	size_t klen = strlen(key);
	const char *p = text;
	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			char *end;
			errno = 0;
			long long v = strtoll(p + klen + 1, &end, 10);
			if (errno != 0 || end == p + klen + 1 || v < 0 || (*end != '\n' && *end != '\0'))
				return -1;
			*out = v;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		return rmdir(path) != 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) != 0 && errno != ENOENT ? -1 : 0;
}

int srv_rm_rf(const char *path)
{
	if (access(path, F_OK) != 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

void srv_errf(char *err, int errnum, const char *fmt, ...)
{
	if (!err)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err, SRV_ERRLEN, fmt, ap);
	va_end(ap);
	if (errnum && n >= 0 && n < SRV_ERRLEN)
		snprintf(err + n, (size_t)(SRV_ERRLEN - n), ": %s", strerror(errnum));
}

int srv_path_join(char *out, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	int n = snprintf(out, cap, "%.*s/%s", (int)la, a, b);
	if (la == 1 && a[0] == '/')
		n = snprintf(out, cap, "/%s", b);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* struct clone_args up to its cgroup field (CLONE_ARGS_SIZE_VER2). */
struct srv_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
		cgroup;
};

pid_t srv_clone(uint64_t ns_flags, int exit_signal, int cgfd, int *into)
{
	*into = 0;
#ifdef SYS_clone3
	if (cgfd >= 0) {
		struct srv_clone_args a;
		memset(&a, 0, sizeof a);
		a.flags = ns_flags | CLONE_INTO_CGROUP;
		a.exit_signal = (uint64_t)exit_signal;
		a.cgroup = (uint64_t)cgfd;
		long pid = syscall(SYS_clone3, &a, sizeof a);
		if (pid >= 0) {
			*into = 1;
			return (pid_t)pid;
		}
		if (errno != ENOSYS && errno != E2BIG && errno != EINVAL && errno != EOPNOTSUPP)
			return -1;
	}
#endif
	return (pid_t)syscall(SYS_clone, (unsigned long)ns_flags | (unsigned long)exit_signal, NULL, NULL, NULL, NULL);
}

void srv_signals_reset(void)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < _NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void srv_child_reset(int keep_a, int keep_b)
{
	srv_child_reset3(keep_a, keep_b, -1);
}

void srv_child_reset3(int keep_a, int keep_b, int keep_c)
{
	srv_signals_reset();
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		for (int fd = 0; fd < 3; fd++)
			if (fd != nul && fd != keep_a && fd != keep_b && fd != keep_c)
				dup3(nul, fd, 0);
	}
	/* Sorted, the kept fds split [3, ~0] into ranges closed one by one. */
	int k[3] = {keep_a, keep_b, keep_c};
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (k[j] < k[i]) {
				int t = k[i];
				k[i] = k[j];
				k[j] = t;
			}
	unsigned from = 3;
	for (int i = 0; i < 3; i++) {
		if (k[i] < (int)from)
			continue;
		if ((unsigned)k[i] > from)
			close_range(from, (unsigned)k[i] - 1, 0);
		from = (unsigned)k[i] + 1;
	}
	close_range(from, ~0U, 0);
}
