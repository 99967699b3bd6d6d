/*
 * Encoding and decoding of the sbxd <-> init spawn request (see proto.h).
 * The decoder runs inside each sandbox's init and must not allocate; it
 * checks every count and length against the message before trusting it.
 */
#include "proto.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t strings_len(const char *const *v, uint32_t *count, uint32_t cap)
{
	size_t total = 0;
	uint32_t n = 0;
	for (; v && v[n]; n++) {
		if (n >= cap)
			return (size_t)-1;
		size_t l = strlen(v[n]) + 1;
		if (l > SRV_PROTO_MAX_STRINGS || total + l > SRV_PROTO_MAX_STRINGS)
			return (size_t)-1;
		total += l;
	}
	*count = n;
	return total;
}

size_t srv_proto_spawn_size(const char *cwd, const char *const *argv, const char *const *env)
{
	uint32_t argc = 0, envc = 0;
	if (!argv || !argv[0])
		return 0;
	size_t c = strlen(cwd ? cwd : "") + 1;
	size_t a = strings_len(argv, &argc, SRV_PROTO_MAX_ARGS);
	size_t e = strings_len(env, &envc, SRV_PROTO_MAX_ENV);
	if (a == (size_t)-1 || e == (size_t)-1 || c > SRV_PROTO_MAX_STRINGS)
		return 0;
	if (c + a + e > SRV_PROTO_MAX_STRINGS)
		return 0;
	return sizeof(srv_msg_hdr) + c + a + e;
}

size_t srv_proto_encode_spawn(void *buf, size_t cap, int64_t token, uint32_t flags, uint32_t keep,
                              const char *cwd, const char *const *argv, const char *const *env)
{
	size_t need = srv_proto_spawn_size(cwd, argv, env);
	if (need == 0 || need > cap)
		return 0;
	srv_msg_hdr h;
	memset(&h, 0, sizeof h);
	h.type = SRV_MSG_SPAWN;
	h.flags = flags & ~SRV_SPAWN_DEFENV;
	if (!env)
		h.flags |= SRV_SPAWN_DEFENV;
	h.token = token;
	h.keep = keep;
	h.len = (uint32_t)(need - sizeof h);
	char *p = (char *)buf + sizeof h;
	size_t l = strlen(cwd ? cwd : "") + 1;
	memcpy(p, cwd ? cwd : "", l);
	p += l;
	for (; argv[h.argc]; h.argc++) {
		l = strlen(argv[h.argc]) + 1;
		memcpy(p, argv[h.argc], l);
		p += l;
	}
	for (; env && env[h.envc]; h.envc++) {
		l = strlen(env[h.envc]) + 1;
		memcpy(p, env[h.envc], l);
		p += l;
	}
	memcpy(buf, &h, sizeof h);
	return need;
}

void srv_proto_set_seq(void *buf, uint32_t seq)
{
	srv_msg_hdr h;
	memcpy(&h, buf, sizeof h);
	h.seq = seq;
	memcpy(buf, &h, sizeof h);
}

int srv_proto_take(const char *s, size_t len, size_t *pos, const char **out)
{
	if (*pos >= len)
		return -1;
	const char *nul = memchr(s + *pos, '\0', len - *pos);
	if (!nul)
		return -1;
	*out = s + *pos;
	*pos = (size_t)(nul - s) + 1;
	return 0;
}

int srv_proto_decode_spawn(const void *buf, size_t n, srv_spawn_req *req,
                           const char **argv_store, const char **env_store)
{
	srv_msg_hdr h;
	if (n < sizeof h)
		return -1;
	memcpy(&h, buf, sizeof h);
	if (h.type != SRV_MSG_SPAWN || (h.flags & ~SRV_SPAWN_ALLFLAGS) != 0)
		return -1;
	if (h.argc < 1 || h.argc > SRV_PROTO_MAX_ARGS || h.envc > SRV_PROTO_MAX_ENV)
		return -1;
	if (h.len > SRV_PROTO_MAX_STRINGS || h.len != n - sizeof h)
		return -1;
	if ((h.flags & SRV_SPAWN_DEFENV) && h.envc != 0)
		return -1;
	const char *s = (const char *)buf + sizeof h;
	size_t pos = 0;
	memset(req, 0, sizeof *req);
	if (srv_proto_take(s, h.len, &pos, &req->cwd) != 0)
		return -1;
	for (uint32_t i = 0; i < h.argc; i++)
		if (srv_proto_take(s, h.len, &pos, &argv_store[i]) != 0)
			return -1;
	argv_store[h.argc] = NULL;
	for (uint32_t i = 0; i < h.envc; i++)
		if (srv_proto_take(s, h.len, &pos, &env_store[i]) != 0)
			return -1;
	env_store[h.envc] = NULL;
	if (pos != h.len)
		return -1;
	req->token = h.token;
	req->flags = h.flags;
	req->argv = argv_store;
	req->env = (h.flags & SRV_SPAWN_DEFENV) ? NULL : env_store;
	req->argc = h.argc;
	req->envc = h.envc;
	req->keep = h.keep;
	return 0;
}

ssize_t srv_proto_recv_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds, int *bad)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {buf, len};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof cm.buf;
	*nfds = 0;
	*bad = 0;
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return n;
	*bad = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
			if (*nfds < maxfds) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				*bad = 1;
			}
		}
	}
	return n;
}
