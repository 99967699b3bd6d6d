/*
 * Filesystem snapshot calls of libsbx (sbx.h "snapshots"): the schema's
 * four RPCs and DeleteSandbox's snapshotVolumes, each a route of wire/'s
 * table sent with sbx_pb_call; answers become sbx_snapshot with the
 * canonical JSON kept for sbxfs's snapshots/ files.
 */
#include <stdlib.h>
#include <string.h>

#include "pb.h"
#include "sandbox.pb-c.h"
#include "util.h"

#define SBX_SNAP_MAX_PAGES 10000

const char *sbx_snap_state_word(sbx_snap_state s)
{
	static const char *const w[] = {"unspecified", "creating", "ready", "failed", "deleting"};
	return s >= SBX_SNAP_UNSPECIFIED && s <= SBX_SNAP_DELETING ? w[s] : "unspecified";
}

void sbx_snapshot_free(sbx_snapshot *s)
{
	if (!s)
		return;
	free(s->id);
	free(s->reason);
	free(s->sandbox_id);
	free(s->volume);
	free(s->json);
	free(s);
}

void sbx_snapshot_list_free(sbx_snapshot **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sbx_snapshot_free(v[i]);
	free(v);
}

static char *dup0(const char *s)
{
	return strdup(s ? s : "");
}

static sbx_result from_pb(const Coreweave__Sandbox__V1__FileSystemSnapshot *m, sbx_snapshot **out, sbx_error *err)
{
	sbx_snapshot *s = calloc(1, sizeof *s);
	if (!s || !(s->id = dup0(m->file_system_snapshot_id)) || !(s->reason = dup0(m->state_reason)) ||
	    !(s->sandbox_id = dup0(m->source_sandbox_id)) || !(s->volume = dup0(m->source_volume_name)) ||
	    !(s->json = sbx_pb_pretty(&m->base))) {
		sbx_snapshot_free(s);
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	int st = (int)m->state;
	s->state = st >= 0 && st <= (int)SBX_SNAP_DELETING ? (sbx_snap_state)st : SBX_SNAP_UNSPECIFIED;
	s->size_bytes = m->size_bytes;
	s->on_delete = m->trigger == COREWEAVE__SANDBOX__V1__SNAPSHOT_TRIGGER__SNAPSHOT_TRIGGER_ON_DELETE;
	*out = s;
	return SBX_OK;
}

/* A snapshot id goes into a path: the same rules as a sandbox id. */
static sbx_result check_id(const char *id, sbx_error *err)
{
	return sbx_check_sandbox_id(id, err);
}

static sbx_result one(sbx_client *c, const char *rpc, const ProtobufCMessage *req, int safe, sbx_snapshot **out,
                      sbx_error *err)
{
	const wire_route *r;
	ProtobufCMessage *m = NULL;
	sbx_result res = sbx_pb_route(rpc, &r, err);
	if (res != SBX_OK)
		return res;
	sbx_http_req base = {.safe = safe};
	res = sbx_pb_call(c, r, req, NULL, &base, out ? &m : NULL, err);
	if (res == SBX_OK && out)
		res = from_pb((const Coreweave__Sandbox__V1__FileSystemSnapshot *)m, out, err);
	wire_message_free(m);
	return res;
}

sbx_result sbx_snapshot_create(sbx_client *c, const char *sandbox_id, const char *volume, sbx_snapshot **out,
                               sbx_error *err)
{
	sbx_result res;
	char rid[33];
	*out = NULL;
	if ((res = sbx_check_sandbox_id(sandbox_id, err)) != SBX_OK)
		return res;
	if (sbx_random_hex(rid) != 0)
		return sbx_fail(err, SBX_E_INTERNAL, "no randomness for a request id");
	Coreweave__Sandbox__V1__CreateFileSystemSnapshotRequest req =
		COREWEAVE__SANDBOX__V1__CREATE_FILE_SYSTEM_SNAPSHOT_REQUEST__INIT;
	req.sandbox_id = (char *)sandbox_id;
	req.scratch_volume_name = (char *)(volume ? volume : "");
	req.request_id = rid;
	/* not retried: a second snapshot would be taken (sbxd keeps the
	 * requestId on the record but does not deduplicate by it) */
	return one(c, "CreateFileSystemSnapshot", &req.base, 0, out, err);
}

sbx_result sbx_snapshot_get(sbx_client *c, const char *id, sbx_snapshot **out, sbx_error *err)
{
	sbx_result res;
	*out = NULL;
	if ((res = check_id(id, err)) != SBX_OK)
		return res;
	Coreweave__Sandbox__V1__GetFileSystemSnapshotRequest req =
		COREWEAVE__SANDBOX__V1__GET_FILE_SYSTEM_SNAPSHOT_REQUEST__INIT;
	req.file_system_snapshot_id = (char *)id;
	return one(c, "GetFileSystemSnapshot", &req.base, 1, out, err);
}

sbx_result sbx_snapshot_delete(sbx_client *c, const char *id, int allow_missing, sbx_error *err)
{
	sbx_result res;
	if ((res = check_id(id, err)) != SBX_OK)
		return res;
	Coreweave__Sandbox__V1__DeleteFileSystemSnapshotRequest req =
		COREWEAVE__SANDBOX__V1__DELETE_FILE_SYSTEM_SNAPSHOT_REQUEST__INIT;
	req.file_system_snapshot_id = (char *)id;
	req.allow_missing = allow_missing != 0;
	res = one(c, "DeleteFileSystemSnapshot", &req.base, 1, NULL, err);
	if (res == SBX_E_NOT_FOUND && allow_missing)
		res = SBX_OK;
	return res;
}

sbx_result sbx_snapshot_list(sbx_client *c, const char *sandbox_id, sbx_snapshot ***out, size_t *n,
                             sbx_error *err)
{
	const wire_route *r;
	sbx_snapshot **v = NULL;
	size_t nv = 0;
	char *token = NULL;
	ProtobufCMessage *m = NULL;
	*out = NULL;
	*n = 0;
	sbx_result res = sbx_pb_route("ListFileSystemSnapshots", &r, err);
	if (res != SBX_OK)
		return res;
	Coreweave__Sandbox__V1__ListFileSystemSnapshotsRequest req =
		COREWEAVE__SANDBOX__V1__LIST_FILE_SYSTEM_SNAPSHOTS_REQUEST__INIT;
	req.page_size = 1000;
	req.source_sandbox_id = (char *)(sandbox_id ? sandbox_id : "");
	for (int page = 0;; page++) {
		if (page >= SBX_SNAP_MAX_PAGES) {
			res = sbx_fail(err, SBX_E_PROTOCOL, "list did not end after %d pages", SBX_SNAP_MAX_PAGES);
			goto out;
		}
		req.page_token = token ? token : (char *)"";
		sbx_http_req base = {.safe = 1};
		wire_message_free(m);
		m = NULL;
		if ((res = sbx_pb_call(c, r, &req.base, NULL, &base, &m, err)) != SBX_OK)
			goto out;
		const Coreweave__Sandbox__V1__ListFileSystemSnapshotsResponse *l = (const void *)m;
		if (l->n_file_system_snapshots) {
			sbx_snapshot **nvv = realloc(v, (nv + l->n_file_system_snapshots) * sizeof *nvv);
			if (!nvv) {
				res = sbx_fail(err, SBX_E_NOMEM, "out of memory");
				goto out;
			}
			v = nvv;
		}
		for (size_t i = 0; i < l->n_file_system_snapshots; i++) {
			if ((res = from_pb(l->file_system_snapshots[i], &v[nv], err)) != SBX_OK)
				goto out;
			nv++;
		}
		const char *next = l->next_page_token;
		if (!next || !*next)
			break;
		if (token && strcmp(token, next) == 0) {
			res = sbx_fail(err, SBX_E_PROTOCOL, "list repeats its page token");
			goto out;
		}
		free(token);
		if (!(token = strdup(next))) {
			res = sbx_fail(err, SBX_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*out = v;
	*n = nv;
	v = NULL;
	nv = 0;
out:
	wire_message_free(m);
	sbx_snapshot_list_free(v, nv);
	free(token);
	return res;
}

sbx_result sbx_sandbox_delete_snapshot(sbx_client *c, const char *id, int grace_seconds,
                                       const char *const *volumes, char ***ids, size_t *n, sbx_error *err)
{
	const wire_route *r;
	ProtobufCMessage *m = NULL;
	*ids = NULL;
	*n = 0;
	sbx_result res = sbx_check_sandbox_id(id, err);
	if (res != SBX_OK || (res = sbx_pb_route("DeleteSandbox", &r, err)) != SBX_OK)
		return res;
	size_t nvol = 0;
	while (volumes && volumes[nvol])
		nvol++;
	if (grace_seconds < 0)
		grace_seconds = 0;
	if (grace_seconds > 300)
		grace_seconds = 300;
	Coreweave__Sandbox__V1__DeleteSandboxRequest req = COREWEAVE__SANDBOX__V1__DELETE_SANDBOX_REQUEST__INIT;
	req.sandbox_id = (char *)id;
	req.grace_period_seconds = grace_seconds;
	req.snapshot_volumes = (char **)volumes;
	req.n_snapshot_volumes = nvol;
	/* not safe to repeat: each try would queue snapshots */
	sbx_http_req base = {.wait_ms = grace_seconds * 1000L};
	if ((res = sbx_pb_call(c, r, &req.base, NULL, &base, &m, err)) != SBX_OK)
		return res;
	const Coreweave__Sandbox__V1__DeleteSandboxResponse *d = (const void *)m;
	char **v = d->n_file_system_snapshot_ids ? calloc(d->n_file_system_snapshot_ids, sizeof *v) : NULL;
	if (d->n_file_system_snapshot_ids && !v)
		res = sbx_fail(err, SBX_E_NOMEM, "out of memory");
	for (size_t i = 0; res == SBX_OK && i < d->n_file_system_snapshot_ids; i++)
		if (!(v[i] = strdup(d->file_system_snapshot_ids[i])))
			res = sbx_fail(err, SBX_E_NOMEM, "out of memory");
	if (res == SBX_OK) {
		*ids = v;
		*n = d->n_file_system_snapshot_ids;
	} else if (v) {
		for (size_t i = 0; i < d->n_file_system_snapshot_ids; i++)
			free(v[i]);
		free(v);
	}
	wire_message_free(m);
	return res;
}
