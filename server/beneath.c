/* Confined paths below a directory fd (beneath.h): openat2 with
 * RESOLVE_BENEATH, archive entry names cleaned, and the kept parent
 * directory of an unpacker. Shared by the OCI layer unpacker (oci.c) and
 * the snapshot restore (snapshot.c), so both refuse the same names the
 * same way. */
#include "beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int srv_open_beneath(int dirfd, const char *path, int flags, int nosymlinks)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV |
		           (nosymlinks ? RESOLVE_NO_SYMLINKS : 0),
	};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int srv_clean_relpath(const char *in, char *out, size_t len)
{
	size_t o = 0;
	if (!in || in[0] == '/' || len == 0)
		return -1;
	for (const char *p = in; *p;) {
		const char *e = strchr(p, '/');
		size_t cl = e ? (size_t)(e - p) : strlen(p);
		if (cl == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (cl > NAME_MAX)
			return -1;
		if (cl && !(cl == 1 && p[0] == '.')) {
			if (o + cl + 2 > len)
				return -1;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, cl);
			o += cl;
		}
		if (!e)
			break;
		p = e + 1;
	}
	out[o] = '\0';
	return 0;
}

void srv_dirwalk_init(srv_dirwalk *w, int root)
{
	w->root = root;
	w->curfd = -1;
	w->cur[0] = '\0';
}

void srv_dirwalk_forget(srv_dirwalk *w)
{
	if (w->curfd >= 0)
		close(w->curfd);
	w->curfd = -1;
	w->cur[0] = '\0';
}

int srv_dirwalk_parent(srv_dirwalk *w, const char *rel, size_t rl)
{
	if (w->curfd >= 0 && strlen(w->cur) == rl && strncmp(w->cur, rel, rl) == 0)
		return w->curfd;
	srv_dirwalk_forget(w);
	if (rl >= sizeof w->cur) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = fcntl(w->root, F_DUPFD_CLOEXEC, 0);
	for (size_t pos = 0; fd >= 0 && pos < rl;) {
		const char *p = rel + pos;
		const char *e = memchr(p, '/', rl - pos);
		size_t cl = e ? (size_t)(e - p) : rl - pos;
		char comp[NAME_MAX + 1];
		if (cl > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, p, cl);
		comp[cl] = '\0';
		if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		int nfd = srv_open_beneath(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 1);
		close(fd);
		fd = nfd;
		pos += cl + 1;
	}
	if (fd < 0)
		return -1;
	memcpy(w->cur, rel, rl);
	w->cur[rl] = '\0';
	w->curfd = fd;
	return fd;
}
