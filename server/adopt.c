/*
 * Live restore: the loader's adopt hook and the release at a stop that
 * keeps sandboxes (adopt.h). The runtime (srv_box_adopt) reconnects to a
 * box's init through its live socket; this module puts the box back where
 * core.c keeps it: the record's box, its event fd in the loop, the fds that
 * keep its files, the lifetime and process timeouts re-based on the
 * monotonic clock from the records' wall times (a deadline that passed
 * while sbxd was down fires at the loop's first pass). What cannot come
 * back is said, never left half-alive: a sandbox that is not RUNNING (a
 * create or a stop cut short, PAUSED) fails; a process whose record has no
 * runtime token (saved by an sbxd before live restore) is KILLED; a stdin
 * pipe is closed (sbxd held its write end, the process read EOF).
 */
#include "adopt.h"
#include "evloop.h"
#include "persist.h"
#include "records.h"
#include "state.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static srv_rt *rt;
static int n_adopted, n_failed;

void srv_adopt_init(srv_rt *r)
{
	rt = r;
	n_adopted = n_failed = 0;
}

void srv_adopt_counts(int *adopted, int *failed)
{
	*adopted = n_adopted;
	*failed = n_failed;
}

/* A monotonic deadline from a wall-clock start and a length in seconds. */
static int64_t rebase(int64_t start_ns, int64_t seconds, int64_t wall, int64_t mono)
{
	int64_t left = start_ns + seconds * 1000000000 - wall;
	return mono + (left > 0 ? left : 0);
}

static int refuse(srv_sbx *s, char *why, size_t cap, const char *msg)
{
	snprintf(why, cap, "sbxd restarted: %s", msg);
	fprintf(stderr, "sbxd: info: sandbox %s not taken back: %s\n", s->id, msg);
	n_failed++;
	return -1;
}

int srv_adopt_sbx(srv_sbx *s, char *why, size_t cap)
{
	char err[SRV_ERRLEN] = "";
	if (!rt || !srv_rt_live(rt)) {
		snprintf(why, cap, "sbxd restarted");
		return -1; /* --no-live-restore: today's answer, word for word */
	}
	if (s->state != ST_RUNNING) {
		snprintf(err, sizeof err, "it was %s, not running", srv_state_name(s->state));
		return refuse(s, why, cap, err);
	}
	srv_box *box = NULL;
	if (srv_box_adopt(rt, s->id, &box, err) != 0)
		return refuse(s, why, cap, err);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = SRV_EV(SRV_EV_BOX, s->seq, 0)};
	if (srv_loop_ctl(EPOLL_CTL_ADD, srv_box_event_fd(box), &ev) != 0) {
		srv_box_destroy(box);
		return refuse(s, why, cap, "cannot watch its init");
	}
	s->box = box;
	/* As keep_files does at create: the files stay readable until delete. */
	int ns = srv_box_open_mntns(box);
	int root = ns >= 0 ? srv_box_open_root(box) : -1;
	if (root >= 0) {
		s->keep_root = root;
		s->keep_ns = ns;
	} else if (ns >= 0) {
		close(ns);
	}
	int64_t wall = srv_now_ns(), mono = srv_mono_ns();
	if (s->spec.lifetime_s > 0)
		s->lifetime_deadline = rebase(s->start_ns ? s->start_ns : s->create_ns, s->spec.lifetime_s, wall, mono);
	int running = 0;
	for (size_t i = 0; i < s->nprocs; i++) {
		srv_proc *p = s->procs[i];
		if (!p || p->state != PS_RUNNING)
			continue;
		if (p->token <= 0) {
			/* No way to tell its exit from another's: end it. */
			p->state = PS_KILLED;
			p->sig = SIGKILL;
			p->exit_code = 128 + SIGKILL;
			p->end_ns = wall;
			srv_set_reason(p->reason, sizeof p->reason, "sbxd restarted: no runtime token in its record");
			srv_save_proc(s, p);
			continue;
		}
		if (p->timeout_s > 0)
			p->deadline_mono = rebase(p->start_ns, p->timeout_s, wall, mono);
		if (p->want_stdin) {
			srv_set_reason(p->reason, sizeof p->reason, "stdin closed: sbxd restarted");
			srv_save_proc(s, p);
		}
		/* Exits come back by token through the live list (records.h). */
		if (srv_proc_live_add(s, p) != 0) {
			srv_set_reason(why, cap, "sbxd restarted: out of memory taking its processes back");
			return -1;
		}
		running++;
	}
	n_adopted++;
	fprintf(stderr, "sbxd: info: sandbox %s taken back, %d process%s running\n", s->id, running,
		running == 1 ? "" : "es");
	return 0;
}

int srv_adopt_release(srv_sbx *s)
{
	if (!s->box || !srv_box_live(s->box) || s->state != ST_RUNNING || s->rt_busy)
		return -1;
	srv_loop_ctl(EPOLL_CTL_DEL, srv_box_event_fd(s->box), NULL);
	srv_box_release(s->box);
	s->box = NULL;
	/* The record stays RUNNING on disk with its processes and their
	 * tokens; saved once more so the last word is there. */
	srv_save_sbx(s);
	return 0;
}
