/*
 * The filesystem snapshot operations (rpc.h's conventions: srv_lock held;
 * SRV_RPC_OK or SRV_RPC_FAIL): CreateFileSystemSnapshot,
 * GetFileSystemSnapshot, ListFileSystemSnapshots and
 * DeleteFileSystemSnapshot on the schema's messages, over the snapshot
 * store (snapshot.h) and the volumes' host dirs (volume.h); and the two
 * parts other calls need: DeleteSandbox's snapshotVolumes and
 * CreateSandbox's restoreFromSnapshotId check. A caller sees only the
 * snapshots of its own uid (root and TCP: all), as with sandboxes.
 */
#ifndef SRV_RPC_SNAP_H
#define SRV_RPC_SNAP_H

#include "rpc.h"

int srv_rpc_create_snapshot(srv_call *c, const Coreweave__Sandbox__V1__CreateFileSystemSnapshotRequest *req,
                            Coreweave__Sandbox__V1__FileSystemSnapshot **resp, srv_status *st);
int srv_rpc_get_snapshot(srv_call *c, const Coreweave__Sandbox__V1__GetFileSystemSnapshotRequest *req,
                         Coreweave__Sandbox__V1__FileSystemSnapshot **resp, srv_status *st);
int srv_rpc_list_snapshots(srv_call *c, const Coreweave__Sandbox__V1__ListFileSystemSnapshotsRequest *req,
                           Coreweave__Sandbox__V1__ListFileSystemSnapshotsResponse **resp, srv_status *st);
/* The answer is the snapshot as it was, state DELETING; allowMissing and
 * no such snapshot: an empty FileSystemSnapshot. */
int srv_rpc_delete_snapshot(srv_call *c, const Coreweave__Sandbox__V1__DeleteFileSystemSnapshotRequest *req,
                            Coreweave__Sandbox__V1__FileSystemSnapshot **resp, srv_status *st);

/* DeleteSandbox's snapshotVolumes: every name checked first (none is
 * taken when one is bad), then one ON_DELETE snapshot per name queued,
 * each taken once the sandbox has stopped; their ids into resp
 * (file_system_snapshot_ids). Before the stop. */
int srv_rpc_snapshot_volumes(srv_call *c, const srv_sbx *s, char *const *names, size_t n, const char *request_id,
                             Coreweave__Sandbox__V1__DeleteSandboxResponse *resp, srv_status *st);

/* CreateSandbox: every restoreFromSnapshotId of spec names a snapshot the
 * caller may see (else NOT_FOUND CWSANDBOX_FSS_NOT_FOUND) that is READY
 * (else FAILED_PRECONDITION CWSANDBOX_FSS_NOT_READY). */
int srv_rpc_check_restores(srv_call *c, const srv_spec *spec, srv_status *st);

#endif
