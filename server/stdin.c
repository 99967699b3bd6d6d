/*
 * A process's stdin: the bytes a client sent that the pipe has not taken
 * yet (capped, MAX_PENDING), written as the pipe takes them, the rest
 * waiting for the event loop's EPOLLOUT; closing once all is written; a
 * reader gone (EPIPE) drops the rest; a writer held back by a full pipe
 * (StreamExec's reader) is told when it takes bytes again. Above the
 * loop, the records and persist.c (a close is saved), below core.c
 * (docs/internals/server.md, "The core's modules"). Under srv_lock.
 */
#include "stdin.h"
#include "evloop.h"
#include "persist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PENDING (4u << 20)

static void stdin_unreg(srv_proc *p)
{
	if (p->stdin_reg && p->stdin_fd >= 0)
		srv_loop_ctl(EPOLL_CTL_DEL, p->stdin_fd, NULL);
	p->stdin_reg = 0;
}

/* The pipe took bytes or closed: a writer held back by it may go on. */
static void room(srv_proc *p)
{
	if (p->stdin_room)
		p->stdin_room(p->stdin_room_arg);
}

void srv_stdin_drop(srv_proc *p)
{
	stdin_unreg(p);
	if (p->stdin_fd >= 0)
		close(p->stdin_fd);
	p->stdin_fd = -1;
	free(p->pending);
	p->pending = NULL;
	p->pending_len = p->pending_off = 0;
	room(p);
}

size_t srv_stdin_pending(const srv_proc *p)
{
	return p->pending_len - p->pending_off;
}

/* Writes what the pipe takes now; waits for EPOLLOUT for the rest. */
void srv_stdin_feed(srv_sbx *s, srv_proc *p)
{
	int took = 0;
	while (p->stdin_fd >= 0 && p->pending_off < p->pending_len) {
		ssize_t w = write(p->stdin_fd, p->pending + p->pending_off, p->pending_len - p->pending_off);
		if (w > 0) {
			p->pending_off += (size_t)w;
			took = 1;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT,
						 .data.u64 = SRV_EV(SRV_EV_STDIN, s->seq, p->uid)};
			if (srv_loop_ctl(p->stdin_reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, p->stdin_fd, &ev) == 0)
				p->stdin_reg = 1;
			if (took)
				room(p);
			return;
		}
		/* EPIPE: the reader is gone; nothing more can be delivered. */
		srv_stdin_drop(p);
		return;
	}
	if (took)
		room(p);
	if (p->pending_off >= p->pending_len) {
		free(p->pending);
		p->pending = NULL;
		p->pending_len = p->pending_off = 0;
		if (p->close_after)
			srv_stdin_drop(p);
	}
}

int srv_stdin_write(srv_sbx *s, srv_proc *p, const unsigned char *buf, size_t len)
{
	size_t left = p->pending_len - p->pending_off;
	if (left + len > MAX_PENDING)
		return -1;
	if (len == 0)
		return 0;
	unsigned char *nb = malloc(left + len);
	if (!nb)
		return -1;
	if (left)
		memcpy(nb, p->pending + p->pending_off, left);
	memcpy(nb + left, buf, len);
	free(p->pending);
	p->pending = nb;
	p->pending_len = left + len;
	p->pending_off = 0;
	srv_stdin_feed(s, p);
	return 0;
}

void srv_stdin_close(srv_sbx *s, srv_proc *p)
{
	p->stdin_closed = 1;
	p->close_after = 1;
	srv_stdin_feed(s, p);
	if (p->id >= 0)
		srv_save_proc(s, p);
}
