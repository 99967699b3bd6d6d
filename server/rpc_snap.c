/*
 * The filesystem snapshot calls (rpc_snap.h) on the schema's messages:
 * the store (snapshot.c) holds the records and does the slow work on its
 * own thread, so every call here answers at once; this file adds what the
 * API needs around it: the sandbox and volume a snapshot is taken of
 * (volume.h's host dir), the caller's uid, the error kinds of rpc.c's one
 * table, and the FileSystemSnapshot message.
 */
#include "rpc_snap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "snapshot.h"
#include "volume.h"

#define NEW(T, init) ({ T *n_ = malloc(sizeof *n_); if (n_) init(n_); n_; })
#define PB(x) Coreweave__Sandbox__V1__##x

static Google__Protobuf__Timestamp *ts_of(int64_t ns, int *oom)
{
	if (ns <= 0)
		return NULL;
	Google__Protobuf__Timestamp *t = NEW(Google__Protobuf__Timestamp, google__protobuf__timestamp__init);
	if (!t) {
		*oom = 1;
		return NULL;
	}
	t->seconds = ns / 1000000000;
	t->nanos = (int32_t)(ns % 1000000000);
	return t;
}

static PB(FileSystemSnapshot) *snap_to_pb(const srv_snap_info *i)
{
	PB(FileSystemSnapshot) *o = NEW(PB(FileSystemSnapshot), coreweave__sandbox__v1__file_system_snapshot__init);
	int oom = 0;
	if (!o || !(o->file_system_snapshot_id = strdup(i->id)) || !(o->state_reason = strdup(i->reason)) ||
	    !(o->source_sandbox_id = strdup(i->sandbox_id)) || !(o->source_volume_name = strdup(i->volume)) ||
	    !(o->request_id = strdup(i->request_id)))
		goto fail;
	o->state = (Coreweave__Sandbox__V1__SnapshotState)i->state;
	o->trigger = (Coreweave__Sandbox__V1__SnapshotTrigger)i->trigger;
	o->size_bytes = i->size_bytes;
	o->create_time = ts_of(i->create_ns, &oom);
	o->complete_time = ts_of(i->complete_ns, &oom);
	o->updated_at = ts_of(i->updated_ns, &oom);
	if (oom)
		goto fail;
	return o;
fail:
	wire_message_free(o ? &o->base : NULL);
	return NULL;
}

static int oom(srv_status *st)
{
	return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
}

static int no_snapshot(srv_status *st, const char *field, const char *id)
{
	srv_fail(st, SRV_E_SNAPSHOT_NOT_FOUND, field, "filesystem snapshot %.40s not found", id ? id : "");
	srv_status_md(st, "fileSystemSnapshotId", id);
	return SRV_RPC_FAIL;
}

static int request_id_ok(const char *rid, srv_status *st)
{
	if (rid && (strlen(rid) > 128 || !srv_utf8_valid(rid, strlen(rid))))
		return srv_fail(st, SRV_E_INVALID, "requestId", "requestId: at most 128 bytes");
	return 0;
}

/* The host dir of volume *name of s; an empty name picks the only one. */
static int volume_of(const srv_sbx *s, const char **name, const char *field, char *dir, size_t cap,
                     srv_status *st)
{
	if (!*name || !**name) {
		if (s->spec.nvols != 1)
			return srv_fail(st, SRV_E_INVALID, field,
			                "%s: name the scratch volume (sandbox %s has %zu volumes)", field, s->id,
			                s->spec.nvols);
		*name = s->spec.vols[0].name;
	}
	if (srv_volume_dir(s, *name, dir, cap) != 0) {
		char names[160] = "";
		size_t o = 0;
		for (size_t i = 0; i < s->spec.nvols && o < sizeof names - 1; i++) {
			int k = snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", s->spec.vols[i].name);
			o = k < 0 ? o : o + (size_t)k > sizeof names - 1 ? sizeof names - 1 : o + (size_t)k;
		}
		return srv_fail(st, SRV_E_VOLUME_NOT_SNAPSHOTTABLE, field,
		                "sandbox %s has no scratch volume \"%.63s\" (its volumes: %s)", s->id, *name,
		                o ? names : "none");
	}
	return 0;
}

static int queue(srv_call *c, const srv_sbx *s, const char *name, const char *dir, int trigger, const char *rid,
                 int (*gate)(const char *), srv_snap_info *out, srv_status *st)
{
	char err[SRV_SNAP_ERRLEN] = "";
	int rc = srv_snap_create(dir, s->id, name, trigger, rid, c->peer ? c->peer : s->owner, gate, out, err);
	if (rc == -ENOSPC)
		return srv_fail(st, SRV_E_CAPACITY, NULL, "%s", err);
	if (rc)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "snapshot of volume %.63s: %s", name, err);
	return 0;
}

int srv_rpc_create_snapshot(srv_call *c, const PB(CreateFileSystemSnapshotRequest) *req,
                            PB(FileSystemSnapshot) **resp, srv_status *st)
{
	if (request_id_ok(req->request_id, st))
		return SRV_RPC_FAIL;
	srv_sbx *s = req->sandbox_id && *req->sandbox_id ? srv_find_for(req->sandbox_id, c->peer) : NULL;
	if (!s) {
		srv_fail(st, SRV_E_SANDBOX_NOT_FOUND, NULL, "sandbox %s not found", req->sandbox_id);
		srv_status_md(st, "sandboxId", req->sandbox_id);
		return SRV_RPC_FAIL;
	}
	if (s->creating || s->state == ST_PENDING || s->state == ST_CREATING)
		return srv_fail(st, SRV_E_PRECONDITION, NULL, "sandbox %s is still being created", s->id);
	const char *name = req->scratch_volume_name;
	char dir[4200];
	if (volume_of(s, &name, "scratchVolumeName", dir, sizeof dir, st))
		return SRV_RPC_FAIL;
	srv_snap_info i;
	if (queue(c, s, name, dir, SRV_SNAP_MANUAL, req->request_id, NULL, &i, st))
		return SRV_RPC_FAIL;
	if (!(*resp = snap_to_pb(&i)))
		return oom(st);
	return SRV_RPC_OK;
}

int srv_rpc_get_snapshot(srv_call *c, const PB(GetFileSystemSnapshotRequest) *req, PB(FileSystemSnapshot) **resp,
                         srv_status *st)
{
	srv_snap_info i;
	if (srv_snap_get(req->file_system_snapshot_id, c->peer, &i) != 0)
		return no_snapshot(st, NULL, req->file_system_snapshot_id);
	if (!(*resp = snap_to_pb(&i)))
		return oom(st);
	return SRV_RPC_OK;
}

int srv_rpc_list_snapshots(srv_call *c, const PB(ListFileSystemSnapshotsRequest) *req,
                           PB(ListFileSystemSnapshotsResponse) **resp, srv_status *st)
{
	int64_t size = req->page_size, after = 0;
	if (size < 0)
		return srv_fail(st, SRV_E_INVALID, "pageSize", "pageSize must be 0..1000 (0: 100)");
	if (size == 0)
		size = 100;
	if (size > 1000)
		size = 1000;
	if (req->page_token && *req->page_token && srv_parse_int(req->page_token, 0, INT64_MAX, &after) != 0)
		return srv_fail(st, SRV_E_INVALID, "pageToken", "pageToken: not one of sbxd's page tokens");
	srv_snap_info *v = calloc((size_t)size, sizeof *v);
	PB(ListFileSystemSnapshotsResponse) *o = NEW(PB(ListFileSystemSnapshotsResponse),
	                                             coreweave__sandbox__v1__list_file_system_snapshots_response__init);
	if (!v || !o)
		goto fail;
	int more = 0;
	size_t n = srv_snap_list(c->peer, req->source_sandbox_id, (uint64_t)after, v, (size_t)size, &more);
	if (n && !(o->file_system_snapshots = calloc(n, sizeof *o->file_system_snapshots)))
		goto fail;
	for (; o->n_file_system_snapshots < n; o->n_file_system_snapshots++)
		if (!(o->file_system_snapshots[o->n_file_system_snapshots] = snap_to_pb(&v[o->n_file_system_snapshots])))
			goto fail;
	if (more) {
		char tok[24];
		snprintf(tok, sizeof tok, "%llu", (unsigned long long)v[n - 1].seq);
		if (!(o->next_page_token = strdup(tok)))
			goto fail;
	}
	free(v);
	*resp = o;
	return SRV_RPC_OK;
fail:
	free(v);
	wire_message_free(o ? &o->base : NULL);
	return oom(st);
}

int srv_rpc_delete_snapshot(srv_call *c, const PB(DeleteFileSystemSnapshotRequest) *req,
                            PB(FileSystemSnapshot) **resp, srv_status *st)
{
	srv_snap_info i;
	if (srv_snap_delete(req->file_system_snapshot_id, c->peer, &i) != 0) {
		if (!req->allow_missing)
			return no_snapshot(st, NULL, req->file_system_snapshot_id);
		*resp = NEW(PB(FileSystemSnapshot), coreweave__sandbox__v1__file_system_snapshot__init);
	} else {
		*resp = snap_to_pb(&i);
	}
	return *resp ? SRV_RPC_OK : oom(st);
}

/* An ON_DELETE snapshot starts once its sandbox is terminal (or gone):
 * what the processes wrote in their grace is in it. Called by the
 * store's worker, which holds no lock. */
static int sandbox_stopped(const char *id)
{
	pthread_mutex_lock(&srv_lock);
	srv_sbx *s = srv_find(id);
	int done = !s || srv_state_terminal(s->state);
	pthread_mutex_unlock(&srv_lock);
	return done;
}

int srv_rpc_snapshot_volumes(srv_call *c, const srv_sbx *s, char *const *names, size_t n, const char *request_id,
                             PB(DeleteSandboxResponse) *resp, srv_status *st)
{
	char dir[4200], field[48];
	if (request_id_ok(request_id, st))
		return SRV_RPC_FAIL;
	if (n > SRV_MAX_VOLUMES)
		return srv_fail(st, SRV_E_INVALID, "snapshotVolumes", "at most %d snapshotVolumes", SRV_MAX_VOLUMES);
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i];
		snprintf(field, sizeof field, "snapshotVolumes[%zu]", i);
		if (!name || !*name)
			return srv_fail(st, SRV_E_INVALID, field, "%s: a volume name", field);
		if (volume_of(s, &name, field, dir, sizeof dir, st))
			return SRV_RPC_FAIL;
		for (size_t k = 0; k < i; k++)
			if (strcmp(names[k], name) == 0)
				return srv_fail(st, SRV_E_INVALID, field, "%s: volume %.63s named twice", field, name);
	}
	if (!(resp->file_system_snapshot_ids = calloc(n, sizeof(char *))))
		return oom(st);
	for (size_t i = 0; i < n; i++) {
		srv_snap_info info;
		const char *name = names[i];
		if (srv_volume_dir(s, name, dir, sizeof dir) != 0 ||
		    queue(c, s, name, dir, SRV_SNAP_ON_DELETE, request_id, sandbox_stopped, &info, st))
			return SRV_RPC_FAIL;
		if (!(resp->file_system_snapshot_ids[resp->n_file_system_snapshot_ids] = strdup(info.id)))
			return oom(st);
		resp->n_file_system_snapshot_ids++;
	}
	return 0;
}

int srv_rpc_check_restores(srv_call *c, const srv_spec *spec, srv_status *st)
{
	char field[80];
	for (size_t i = 0; i < spec->nvols; i++) {
		const char *id = spec->vols[i].restore_from;
		if (!id || !*id)
			continue;
		snprintf(field, sizeof field, "spec.volumes[%zu].scratch.restoreFromSnapshotId", i);
		srv_snap_info info;
		if (srv_snap_get(id, c->peer, &info) != 0)
			return no_snapshot(st, field, id);
		if (info.state != SRV_SNAP_READY) {
			static const char *const names[] = {"UNSPECIFIED", "CREATING", "READY", "FAILED", "DELETING"};
			const char *sn = info.state >= 0 && info.state <= 4 ? names[info.state] : "UNSPECIFIED";
			srv_fail(st, SRV_E_SNAPSHOT_NOT_READY, field, "filesystem snapshot %s is %s, not READY%s%s",
			         id, sn, info.reason[0] ? ": " : "", info.reason);
			srv_status_md(st, "fileSystemSnapshotId", id);
			srv_status_md(st, "state", sn);
			return SRV_RPC_FAIL;
		}
	}
	return 0;
}
