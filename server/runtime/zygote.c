/*
 * The zygote (see zygote.h). Like init it is a copy of a possibly threaded
 * sbxd, so it never allocates: requests are decoded into static buffers.
 * A request is one SEQPACKET message: a header, the init configuration as
 * NUL-terminated strings, and the fds ctl, evt and (optionally) the cgroup
 * directory as SCM_RIGHTS. The reply carries the pid or an errno.
 */
#include "zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"
#include "runtime.h"
#include "util.h"

#define Z_MAX_STRINGS (64 * 1024)
#define Z_MAX_HIDE 260 /* sbxd's own 16 + the host mask (hostmask.h) */
#define Z_TIMEOUT_MS 10000

struct srv_zygote {
	pid_t pid;
	int sock;
	char *buf;
};

typedef struct z_req {
	uint64_t ns_flags;
	uint32_t network, image, nhide, len, has_cgfd, userns, nlowers, has_live;
	int64_t tmpfs_bytes, fsize, out_quota, min_free, uid, gid;
	unsigned char secret[SRV_LIVE_SECRET]; /* with has_live */
} z_req;

typedef struct z_reply {
	int32_t pid;   /* > 0, or -errno */
	int32_t born_in_cg;
} z_reply;

/* ---- inside the zygote ---- */

static char zbuf[sizeof(z_req) + Z_MAX_STRINGS + 1];
static const char *zhide[Z_MAX_HIDE + 1];

static int z_decode(size_t n, z_req *h, srv_init_cfg *cfg)
{
	if (n < sizeof *h)
		return -1;
	memcpy(h, zbuf, sizeof *h);
	if (h->len != n - sizeof *h || h->nhide > Z_MAX_HIDE || h->userns > SRV_USERNS_SINGLE ||
	    h->nlowers > SRV_MAX_LOWERS)
		return -1;
	const char *s = zbuf + sizeof *h;
	size_t pos = 0;
	memset(cfg, 0, sizeof *cfg);
	if (srv_proto_take(s, h->len, &pos, &cfg->scratch) || srv_proto_take(s, h->len, &pos, &cfg->upper) ||
	    srv_proto_take(s, h->len, &pos, &cfg->work) || srv_proto_take(s, h->len, &pos, &cfg->root) ||
	    srv_proto_take(s, h->len, &pos, &cfg->overlay_opts) || srv_proto_take(s, h->len, &pos, &cfg->lowers) ||
	    srv_proto_take(s, h->len, &pos, &cfg->hostname))
		return -1;
	for (uint32_t i = 0; i < h->nhide; i++)
		if (srv_proto_take(s, h->len, &pos, &zhide[i]))
			return -1;
	zhide[h->nhide] = NULL;
	if (pos != h->len)
		return -1;
	cfg->network = (int)h->network;
	cfg->image = (int)h->image;
	cfg->tmpfs_bytes = h->tmpfs_bytes;
	cfg->fsize = h->fsize;
	cfg->out_quota = h->out_quota;
	cfg->min_free = h->min_free;
	cfg->uid = h->uid;
	cfg->gid = h->gid;
	cfg->userns = (int)h->userns;
	cfg->nlowers = (int)h->nlowers;
	cfg->hide = zhide;
	memcpy(cfg->secret, h->secret, sizeof cfg->secret);
	cfg->live_fd = -1;
	return 0;
}

static void z_reply_send(int sock, int32_t pid, int born)
{
	z_reply r = {pid, born};
	while (send(sock, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

__attribute__((noreturn)) static void zygote_main(int sock)
{
	/* Hold nothing of sbxd's: not its listening socket, not its files,
	 * not its signal handlers or mask. */
	srv_child_reset(sock, sock);
	/* Our copy of sbxd's argv and environment (e.g. --token-file PATH, the
	 * state dir) would show in every init's /proc/1/cmdline: wipe it. */
	srv_init_retitle();
	prctl(PR_SET_NAME, "sbx-zygote", 0, 0, 0);
	for (;;) {
		int fds[4], nfds, bad;
		ssize_t n = srv_proto_recv_fds(sock, zbuf, sizeof zbuf, fds, 4, &nfds, &bad);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0); /* sbxd is gone or done with us */
		z_req h;
		srv_init_cfg cfg;
		if (bad || z_decode((size_t)n, &h, &cfg) != 0 ||
		    nfds != 2 + !!h.has_cgfd + !!h.has_live) {
			z_reply_send(sock, -EINVAL, 0);
		} else {
			int born;
			/* fds: ctl, evt, then the cgroup dir and the live socket
			 * when the request has them. */
			cfg.live_fd = h.has_live ? fds[nfds - 1] : -1;
			/* CLONE_PARENT: the new init is sbxd's child, not ours; the
			 * kernel then wants exit_signal 0 and uses our own (SIGCHLD). */
			pid_t pid = srv_clone(h.ns_flags | CLONE_PARENT, 0, h.has_cgfd ? fds[2] : -1, &born);
			if (pid == 0)
				srv_init_main(&cfg, fds[0], fds[1]);
			z_reply_send(sock, pid > 0 ? pid : -errno, born);
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	}
}

/* ---- in sbxd ---- */

srv_zygote *srv_zygote_start(char *err)
{
	int sv[2];
	srv_zygote *z = calloc(1, sizeof *z);
	if (!z) {
		srv_errf(err, ENOMEM, "zygote");
		return NULL;
	}
	z->buf = malloc(sizeof(z_req) + Z_MAX_STRINGS);
	if (!z->buf || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		srv_errf(err, errno, "zygote");
		goto fail;
	}
	/* Raw clone: fork() without atfork handlers (sbxd may be threaded). */
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		srv_errf(err, errno, "fork zygote");
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	if (pid == 0) {
		close(sv[0]);
		zygote_main(sv[1]);
	}
	close(sv[1]);
	z->pid = pid;
	z->sock = sv[0];
	return z;
fail:
	free(z->buf);
	free(z);
	return NULL;
}

void srv_zygote_stop(srv_zygote *z)
{
	if (!z)
		return;
	close(z->sock);
	while (waitpid(z->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(z->buf);
	free(z);
}

static int put(char *buf, size_t *used, const char *s)
{
	size_t l = strlen(s) + 1;
	if (l > Z_MAX_STRINGS - *used)
		return -1;
	memcpy(buf + sizeof(z_req) + *used, s, l);
	*used += l;
	return 0;
}

pid_t srv_zygote_clone(srv_zygote *z, uint64_t ns_flags, int cgfd, const srv_init_cfg *cfg, int ctl, int evt,
                       int *born_in_cg)
{
	z_req h;
	size_t used = 0;
	memset(&h, 0, sizeof h);
	h.ns_flags = ns_flags;
	h.network = (uint32_t)!!cfg->network;
	h.image = (uint32_t)!!cfg->image;
	h.has_cgfd = cgfd >= 0;
	h.has_live = cfg->live_fd >= 0;
	memcpy(h.secret, cfg->secret, sizeof h.secret);
	h.tmpfs_bytes = cfg->tmpfs_bytes;
	h.fsize = cfg->fsize;
	h.out_quota = cfg->out_quota;
	h.min_free = cfg->min_free;
	h.uid = cfg->uid;
	h.gid = cfg->gid;
	h.userns = (uint32_t)cfg->userns;
	h.nlowers = (uint32_t)cfg->nlowers;
	if (put(z->buf, &used, cfg->scratch) || put(z->buf, &used, cfg->upper) || put(z->buf, &used, cfg->work) ||
	    put(z->buf, &used, cfg->root) || put(z->buf, &used, cfg->overlay_opts) ||
	    put(z->buf, &used, cfg->lowers ? cfg->lowers : "") || put(z->buf, &used, cfg->hostname)) {
		errno = E2BIG;
		return -1;
	}
	for (const char *const *p = cfg->hide; p && *p; p++, h.nhide++)
		if (h.nhide >= Z_MAX_HIDE || put(z->buf, &used, *p)) {
			errno = E2BIG;
			return -1;
		}
	h.len = (uint32_t)used;
	memcpy(z->buf, &h, sizeof h);
	int fds[4] = {ctl, evt, -1, -1};
	int nfds = 2;
	if (cgfd >= 0)
		fds[nfds++] = cgfd;
	if (cfg->live_fd >= 0)
		fds[nfds++] = cfg->live_fd;
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cm;
	memset(&cm, 0, sizeof cm);
	struct iovec iov = {z->buf, sizeof h + used};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	ssize_t n;
	while ((n = sendmsg(z->sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n < 0) {
		errno = EPIPE;
		return -1;
	}
	z_reply r;
	for (;;) {
		struct pollfd p = {z->sock, POLLIN, 0};
		int rc = poll(&p, 1, Z_TIMEOUT_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			errno = EPIPE; /* a stuck zygote is as good as gone */
			return -1;
		}
		n = recv(z->sock, &r, sizeof r, 0);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n != (ssize_t)sizeof r) {
		errno = EPIPE;
		return -1;
	}
	if (r.pid <= 0) {
		errno = -r.pid;
		return -1;
	}
	*born_in_cg = r.born_in_cg;
	return r.pid;
}
