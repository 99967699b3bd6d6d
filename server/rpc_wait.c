/*
 * Two extension calls for a local sbxfs (rpc.h's conventions: srv_lock
 * held, SRV_RPC_OK / _FAIL / _WAIT): "waitProcesses", one long-poll for
 * many processes of any sandboxes (a mount with 10,000 readers of
 * returncode waits on a few connections, not 10,000), and "outputFd",
 * which picks the spool of an ended stream for api.c to hand over as a
 * read-only descriptor (SCM_RIGHTS), so the mount reads it by splice
 * instead of through HTTP. Both only look at records and spools through
 * records.h and spool.h; neither changes them.
 */
#include "rpc_wait.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse.h"
#include "rpc_exec.h"

/* ------------------------------------------------------ waitProcesses */

#define WAIT_LOOK_NS 1000000000LL

/* The deadline of the long-poll, once per call (as rpc_exec.c's). */
static int wait_deadline(srv_call *c, int32_t wait_s, srv_status *st)
{
	if (c->deadline_set)
		return 0;
	if (wait_s < 0)
		return srv_fail(st, SRV_E_INVALID, "waitSeconds", "waitSeconds must be 0..%d", SRV_MAX_WAIT);
	if (wait_s > SRV_MAX_WAIT)
		wait_s = SRV_MAX_WAIT;
	c->deadline = wait_s ? srv_mono_ns() + (int64_t)wait_s * 1000000000 : 0;
	c->deadline_set = 1;
	return 0;
}

static Sbxd__Ext__V1__ProcessRef *ref_new(const char *sid, int64_t pid)
{
	Sbxd__Ext__V1__ProcessRef *r = malloc(sizeof *r);
	if (!r)
		return NULL;
	sbxd__ext__v1__process_ref__init(r);
	r->process_id = pid;
	if (!(r->sandbox_id = strdup(sid))) {
		free(r);
		return NULL;
	}
	return r;
}

static Sbxd__Ext__V1__ProcessExit *exit_new(srv_sbx *s, const srv_proc *p)
{
	Sbxd__Ext__V1__ProcessExit *e = malloc(sizeof *e);
	if (!e)
		return NULL;
	sbxd__ext__v1__process_exit__init(e);
	e->sandbox_id = strdup(s->id);
	e->process = srv_proc_to_pb(s, p);
	if (!e->sandbox_id || !e->process) {
		wire_message_free(&e->base);
		return NULL;
	}
	return e;
}

int srv_rpc_wait_processes(srv_call *c, const Sbxd__Ext__V1__WaitProcessesRequest *req,
                           Sbxd__Ext__V1__WaitProcessesResponse **resp, srv_status *st)
{
	size_t n = req->n_processes;
	if (n == 0 || n > SRV_WAIT_PROCESSES_MAX)
		return srv_fail(st, SRV_E_INVALID, "processes", "processes must hold 1..%d entries",
		                SRV_WAIT_PROCESSES_MAX);
	for (size_t i = 0; i < n; i++) {
		const Sbxd__Ext__V1__ProcessRef *r = req->processes[i];
		if (!r->sandbox_id || !*r->sandbox_id || r->process_id < 1) {
			char field[48];
			snprintf(field, sizeof field, "processes[%zu]", i);
			return srv_fail(st, SRV_E_INVALID, field, "each entry needs a sandboxId and a processId >= 1");
		}
	}
	if (wait_deadline(c, req->wait_seconds, st) != 0)
		return SRV_RPC_FAIL;
	/* One pass: how many ended or are unknown. Runs of one sandbox (a
	 * client lists its entries sorted) cost one sandbox lookup. */
	size_t nend = 0, nmiss = 0;
	srv_sbx *s = NULL;
	const char *sid = NULL;
	for (size_t i = 0; i < n; i++) {
		const Sbxd__Ext__V1__ProcessRef *r = req->processes[i];
		if (!sid || strcmp(sid, r->sandbox_id) != 0) {
			sid = r->sandbox_id;
			s = srv_find_for(sid, c->peer);
		}
		const srv_proc *p = s ? srv_proc_get(s, r->process_id) : NULL;
		if (!p)
			nmiss++;
		else if (p->state != PS_RUNNING)
			nend++;
	}
	if (nend == 0 && nmiss == 0 && c->deadline && srv_mono_ns() < c->deadline && !srv_core_stopping()) {
		/* Woken by any sandbox's event (srv_wake), the deadline, or
		 * once a second: a client that gave up on the call (a mount
		 * re-sending it with more entries) is noticed on that turn
		 * (api.c), as a parked connection is not watched. */
		int64_t soon = srv_mono_ns() + WAIT_LOOK_NS;
		c->w->seq = SRV_SEQ_ANY;
		c->w->deadline = c->deadline < soon ? c->deadline : soon;
		srv_waiter_add(c->w);
		return SRV_RPC_WAIT;
	}
	Sbxd__Ext__V1__WaitProcessesResponse *o = malloc(sizeof *o);
	if (!o)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	sbxd__ext__v1__wait_processes_response__init(o);
	o->ended = nend ? calloc(nend, sizeof *o->ended) : NULL;
	o->not_found = nmiss ? calloc(nmiss, sizeof *o->not_found) : NULL;
	if ((nend && !o->ended) || (nmiss && !o->not_found))
		goto oom;
	sid = NULL;
	for (size_t i = 0; i < n; i++) {
		const Sbxd__Ext__V1__ProcessRef *r = req->processes[i];
		if (!sid || strcmp(sid, r->sandbox_id) != 0) {
			sid = r->sandbox_id;
			s = srv_find_for(sid, c->peer);
		}
		const srv_proc *p = s ? srv_proc_get(s, r->process_id) : NULL;
		if (!p && o->n_not_found < nmiss) {
			if (!(o->not_found[o->n_not_found] = ref_new(r->sandbox_id, r->process_id)))
				goto oom;
			o->n_not_found++;
		} else if (p && p->state != PS_RUNNING && o->n_ended < nend) {
			if (!(o->ended[o->n_ended] = exit_new(s, p)))
				goto oom;
			o->n_ended++;
		}
	}
	*resp = o;
	return SRV_RPC_OK;
oom:
	wire_message_free(&o->base);
	return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
}

/* ----------------------------------------------------------- outputFd */

int srv_rpc_open_output(srv_call *c, const Sbxd__Ext__V1__OpenOutputRequest *req, srv_output *out,
                        srv_status *st)
{
	memset(out, 0, sizeof *out);
	out->fd = -1;
	int stream = req->stream && strcmp(req->stream, "stdout") == 0   ? 1
	             : req->stream && strcmp(req->stream, "stderr") == 0 ? 2
	                                                                 : 0;
	if (!stream)
		return srv_fail(st, SRV_E_INVALID, "stream", "stream must be \"stdout\" or \"stderr\"");
	if (req->process_id < 0)
		return srv_fail(st, SRV_E_INVALID, "processId", "processId must be >= 0 (0: the main command)");
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	if (!s)
		return SRV_RPC_FAIL;
	if (req->process_id > 0 && !srv_proc_get(s, req->process_id)) {
		char num[24];
		snprintf(num, sizeof num, "%lld", (long long)req->process_id);
		srv_fail(st, SRV_E_PROCESS_NOT_FOUND, NULL, "process %s not found in sandbox %s", num, s->id);
		srv_status_md(st, "processId", num);
		return SRV_RPC_FAIL;
	}
	/* Only a stream that can no longer grow: its bytes up to the size
	 * below are final, so the reader needs no word from us again. */
	if (!srv_stream_ended(s, req->process_id))
		return srv_fail(st, SRV_E_PRECONDITION, NULL, "the stream has not ended: read it by offset");
	int fd = srv_spool_open(s, req->process_id, stream);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			close(fd);
		return srv_fail(st, SRV_E_PRECONDITION, NULL, "the stream has no spool file: read it by offset");
	}
	out->fd = fd;
	out->size = (int64_t)sb.st_size;
	out->n = out->size;
	out->eof = 1;
	srv_proc *p = srv_proc_get(s, req->process_id);
	out->truncated = p && (p->capped & (1 << stream));
	return SRV_RPC_OK;
}
