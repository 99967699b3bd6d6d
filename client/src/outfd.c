/*
 * The calls of a local sbxd that answer with a file descriptor (sbx.h):
 * sbx_output_fd, an ended stream's spool ("outputFd"), and sbx_file_fd, a
 * regular file of a sandbox's files ("fileFd"). The descriptor travels as
 * SCM_RIGHTS ancillary data, which libcurl cannot receive, so these calls
 * speak their few lines of HTTP/1.1 themselves (fd_call, the one receive
 * both use) on a connection of their own: GET ... with Upgrade: sbxd-fd,
 * a 101 with the X-Sbx-* headers, then one byte carrying the fd, then the
 * end. Anything else (an error answer, no fd) is a failure the caller
 * answers by the HTTP calls. Each descriptor is checked before it is
 * handed on: a regular file, open with exactly the access asked for (a
 * spool read-only, nothing that could write; never O_PATH).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "extension.pb-c.h"
#include "http.h"
#include "pb.h"
#include "util.h"

/* Bytes of the 101's header block we accept; sbxd sends a few hundred. */
#define HEAD_MAX 8192
/* Per recv and send, at most: sbxd answers at once (the spool is opened
 * under its lock, no waiting); the client's own deadline when shorter, so
 * a hung service costs a read no more than any other call. */
#define IO_TIMEOUT_MS 10000L

/* Takes the fd of an SCM_RIGHTS message into *fd (the first one; any
 * other is closed). */
static void take_fds(struct msghdr *mh, int *fd)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int got;
			memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof got);
			if (*fd < 0)
				*fd = got;
			else
				close(got);
		}
	}
}

/* The value of header name in the block head (NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name, char *val, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		const char *h = l + 2;
		if (strncasecmp(h, name, nl) != 0 || h[nl] != ':')
			continue;
		h += nl + 1;
		while (*h == ' ')
			h++;
		size_t n = strcspn(h, "\r\n");
		if (n >= cap)
			return NULL;
		memcpy(val, h, n);
		val[n] = '\0';
		return val;
	}
	return NULL;
}

/* The upgrade call of route r with request q on a connection of its own:
 * *fd the descriptor that came after a 101 (-1: none), head the 101's
 * header block (NUL-terminated, HEAD_MAX + 1 bytes). what names the call
 * in messages. An answer other than 101 is an error from its status. */
static sbx_result fd_call(sbx_client *c, const char *what, const char *rpc, const ProtobufCMessage *q,
                          char *head, int *fd, sbx_error *err)
{
	*fd = -1;
	head[0] = '\0';
	const char *up = c->cfg->unix_path;
	if (!up || strlen(up) >= sizeof ((struct sockaddr_un *)0)->sun_path)
		return sbx_fail(err, SBX_E_UNSUPPORTED, "descriptors pass only over a unix socket");
	const wire_route *r;
	sbx_result res = sbx_pb_ext_route(rpc, &r, err);
	if (res != SBX_OK)
		return res;
	char *path = NULL;
	if ((res = sbx_pb_raw_path(r, q, NULL, &path, err)) != SBX_OK)
		return res;
	int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sk < 0) {
		free(path);
		return sbx_fail(err, errno == EMFILE || errno == ENFILE ? SBX_E_NOFILE : SBX_E_NETWORK,
		                "socket: %s", strerror(errno));
	}
	long ms = c->cfg->total_ms > 0 && c->cfg->total_ms < IO_TIMEOUT_MS ? c->cfg->total_ms : IO_TIMEOUT_MS;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(sk, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, up, strlen(up) + 1);
	size_t hl = 0;
	int got_fd = -1;
	char *end = NULL;
	if (connect(sk, (struct sockaddr *)&sa, sizeof sa) != 0) {
		res = sbx_fail(err, errno == ECONNREFUSED || errno == ENOENT ? SBX_E_CONNREFUSED : SBX_E_NETWORK,
		               "connect %s: %s", up, strerror(errno));
		goto out;
	}
	char reqtxt[8192];
	int rl = snprintf(reqtxt, sizeof reqtxt,
	                  "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: sbxd-fd\r\n\r\n", path);
	ssize_t sent = rl < 0 || (size_t)rl >= sizeof reqtxt ? -1 : send(sk, reqtxt, (size_t)rl, MSG_NOSIGNAL);
	if (sent != rl) {
		res = sbx_fail(err, sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? SBX_E_TIMEOUT : SBX_E_NETWORK,
		               "%s: cannot send the request", what);
		goto out;
	}
	/* The header block, then (after a 101) the byte with the fd; the
	 * kernel never merges a message with descriptors into earlier data. */
	for (;;) {
		if (hl >= HEAD_MAX) {
			res = sbx_fail(err, SBX_E_PROTOCOL, "%s: answer headers over %d bytes", what, HEAD_MAX);
			goto out;
		}
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} ctl;
		struct iovec iov = {head + hl, HEAD_MAX - hl};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
		                    .msg_controllen = sizeof ctl.buf};
		ssize_t n = recvmsg(sk, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			res = sbx_fail(err, SBX_E_TIMEOUT, "%s: no answer within %ld ms", what, ms);
			goto out;
		}
		if (n > 0 || mh.msg_controllen > 0)
			take_fds(&mh, &got_fd);
		if (n <= 0)
			break;
		hl += (size_t)n;
		head[hl] = '\0';
		if (!end && (end = strstr(head, "\r\n\r\n")) && strncmp(head, "HTTP/1.1 101 ", 13) != 0)
			break;
		/* sbxd sends the fd with the first byte after the headers: a
		 * byte without one (a proxy that passed the 101 on) means none
		 * is coming. */
		if (end && (got_fd >= 0 || hl > (size_t)(end - head) + 4))
			break;
	}
	if (!end || strncmp(head, "HTTP/1.1 101 ", 13) != 0) {
		int status = 0;
		if (hl > 12)
			sscanf(head + 9, "%3d", &status);
		/* The errors by their status: a missing file is 404, a
		 * directory, a special file or a live stream 400, a refusal of
		 * the file (EROFS, EACCES) 403, a failed open 500 (a link at the
		 * name: ELOOP); only a service without the call says 501. */
		res = sbx_fail(err, status == 404 ? SBX_E_NOT_FOUND : status == 400 ? SBX_E_PRECONDITION
		                    : status == 403 ? SBX_E_PERMISSION : status == 501 ? SBX_E_UNSUPPORTED
		                    : status >= 500 ? SBX_E_INTERNAL : SBX_E_UNSUPPORTED,
		               "%s: HTTP %d", what, status);
		goto out;
	}
	*end = '\0';
	if (got_fd < 0) {
		res = sbx_fail(err, SBX_E_PROTOCOL, "%s: no descriptor in the answer", what);
		goto out;
	}
	*fd = got_fd;
	got_fd = -1;
	res = SBX_OK;
out:
	if (got_fd >= 0)
		close(got_fd);
	close(sk);
	free(path);
	return res;
}

/* Whether fd is a regular file open with access mode acc (O_RDONLY or
 * O_RDWR), and not an O_PATH descriptor, which can do no I/O. */
static int fd_is(int fd, int acc)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && !(fl & O_PATH) && (fl & O_ACCMODE) == acc && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

sbx_result sbx_output_fd(sbx_client *c, const char *sandbox_id, int64_t pid, sbx_stream s, int *fd,
                         int64_t *size, sbx_error *err)
{
	*fd = -1;
	*size = 0;
	unsigned f = 0;
	if (!c || !sbx_id_ok(sandbox_id) || pid < 0 || (s != SBX_STDOUT && s != SBX_STDERR))
		return sbx_fail(err, SBX_E_INVALID, "bad arguments");
	if (!c->cfg->unix_path)
		return sbx_fail(err, SBX_E_UNSUPPORTED, "descriptors pass only over a unix socket");
	if (sbx_client_features(c, &f, NULL) != SBX_OK || !(f & SBX_FEAT_OUTPUT_FD))
		return sbx_fail(err, SBX_E_UNSUPPORTED, "the service lacks the outputFd extension");
	Sbxd__Ext__V1__OpenOutputRequest q = SBXD__EXT__V1__OPEN_OUTPUT_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.process_id = pid;
	q.stream = s == SBX_STDOUT ? "stdout" : "stderr";
	char *head = malloc(HEAD_MAX + 1);
	if (!head)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	int got = -1;
	sbx_result res = fd_call(c, "openOutput", "OpenOutput", &q.base, head, &got, err);
	char val[32];
	int64_t sz;
	if (res == SBX_OK && (!header(head, "X-Sbx-Size", val, sizeof val) || sbx_parse_i64(val, &sz) != 0 || sz < 0))
		res = sbx_fail(err, SBX_E_PROTOCOL, "openOutput: no size in the answer");
	else if (res == SBX_OK && !fd_is(got, O_RDONLY))
		res = sbx_fail(err, SBX_E_PROTOCOL, "openOutput: the descriptor is not a read-only regular file");
	if (res == SBX_OK) {
		*fd = got;
		*size = sz;
	} else if (got >= 0) {
		close(got);
	}
	free(head);
	return res;
}

sbx_result sbx_file_fd(sbx_client *c, const char *sandbox_id, const char *path, int write, int *fd,
                       int *read_only, sbx_error *err)
{
	*fd = -1;
	*read_only = 0;
	unsigned f = 0;
	if (!c || !sbx_id_ok(sandbox_id) || !path || path[0] != '/')
		return sbx_fail(err, SBX_E_INVALID, "bad arguments");
	if (!c->cfg->unix_path)
		return sbx_fail(err, SBX_E_UNSUPPORTED, "descriptors pass only over a unix socket");
	if (sbx_client_features(c, &f, NULL) != SBX_OK || !(f & SBX_FEAT_FILE_FD))
		return sbx_fail(err, SBX_E_UNSUPPORTED, "the service lacks the fileFd extension");
	Sbxd__Ext__V1__OpenFileRequest q = SBXD__EXT__V1__OPEN_FILE_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.write = write != 0;
	char *head = malloc(HEAD_MAX + 1);
	if (!head)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	int got = -1;
	sbx_result res = fd_call(c, "openFile", "OpenFile", &q.base, head, &got, err);
	char val[8];
	int ro = res == SBX_OK && header(head, "X-Sbx-Read-Only", val, sizeof val) && strcmp(val, "1") == 0;
	/* Read-only is the service's word for an ended sandbox; anything
	 * else must be exactly what was asked. */
	if (res == SBX_OK && !fd_is(got, write && !ro ? O_RDWR : O_RDONLY))
		res = sbx_fail(err, SBX_E_PROTOCOL, "openFile: the descriptor is not a regular file open as asked");
	if (res == SBX_OK) {
		*fd = got;
		*read_only = ro;
	} else if (got >= 0) {
		close(got);
	}
	free(head);
	return res;
}
