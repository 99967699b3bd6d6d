/*
 * Scratch volumes of sandboxes (volume.c): spec.volumes[].scratch made on
 * the host, containers[].volumeMounts[] mounted into the box's mount
 * namespace before its command starts, containers[].files[] written then
 * too, and the volume removed with the sandbox's record.
 *
 * Layout (the contract other modules, filesystem snapshots among them,
 * rely on):
 *
 *     STATE_DIR/volumes/                 0700, sbxd's
 *     STATE_DIR/volumes/<sandboxId>/     0700, sbxd's
 *     STATE_DIR/volumes/<sandboxId>/<name>/
 *
 * <name>/ is a tmpfs of the volume's size (`size=`, so a write past it is
 * ENOSPC inside), mounted by sbxd in its own mount namespace (the host's),
 * root dir mode 0777 as a Kubernetes emptyDir. Its contents are exactly
 * the volume's files as the sandbox sees them, with the uids and gids the
 * sandbox sees: a box in a user namespace (a user's subuid range, or
 * --userns) gets the volume through an idmapped mount, so a file root
 * makes inside is stored as uid 0 here, never as the range's host uid.
 * Medium DISK and MEMORY are both tmpfs (docs/internals/server.md,
 * "Scratch volumes", says why).
 *
 * Lifetime: the directory exists from the create (before the box starts)
 * while the sandbox's record exists, also after the sandbox ended, until
 * the record is purged (the retention after its end, the extension's :forget; a
 * failed create's record as any other). sbxd leaves the mounts in place
 * when it stops, so a record that survives a restart keeps its volumes;
 * at start it removes those of sandboxes it has no record of.
 */
#ifndef SRV_VOLUME_H
#define SRV_VOLUME_H

#include <stddef.h>

#include "records.h"

/* The caps (SRV_MAX_VOLUMES ..., SRV_VOLUME_*_BYTES) are parse.h's. */

/* The host path of volume `name` of sandbox s into out (cap bytes): 0
 * while the record exists (running or ended, until purged); -ENOENT when
 * the spec has no volume of that name (or its directory is gone),
 * -ENAMETOOLONG when out is too small. srv_lock held (s is a record). */
int srv_volume_dir(const srv_sbx *s, const char *name, char *out, size_t cap);

/* Hooks for the filesystem snapshots (snap), set once at start before any
 * create (srv_volume_set_hooks; NULL members: not used). */
typedef struct srv_volume_hooks {
	/* Fills the new, empty, mounted volume dir `dir` (volume `name` of
	 * sandbox sandbox_id) from snapshot snapshot_id: called during the
	 * create, WITHOUT srv_lock, before the box exists and before any
	 * file of containers[].files[] is written; only for a volume whose
	 * scratch.restoreFromSnapshotId is set (spec.c refuses that field
	 * with 501 until snap's branch turns it on in honour[]). 0, or -1
	 * with a message in err (SRV_MSGLEN): the create fails, FAILED with
	 * that message. */
	int (*restore)(const char *sandbox_id, const char *name, const char *snapshot_id, const char *dir,
	               char *err);
	/* Called WITH srv_lock held, just before volume `name` of s is
	 * unmounted and removed (the record is being purged; its box is
	 * gone). Return 0: sbxd removes it now. Return 1: the hook took it
	 * over and calls srv_volume_remove_dir(dir) itself later (when its
	 * slow work, done without srv_lock, is over). Must not block. */
	int (*before_remove)(srv_sbx *s, const char *name, const char *dir);
} srv_volume_hooks;
void srv_volume_set_hooks(const srv_volume_hooks *h);

/* Unmounts and removes one volume dir (a path srv_volume_dir gave). No
 * lock needed. 0 or -errno. */
int srv_volume_remove_dir(const char *dir);

/* --- used by core.c --- */

/* At start: the state dir; removes STATE_DIR/volumes/<id>/ of every id
 * for which has_record(id) is 0 (call after the records are loaded). */
int srv_volumes_init(const char *state_dir, int (*has_record)(const char *id), char *err);
/* Before the box is made (srv_lock not held, s->creating set): makes
 * and mounts every volume of s->spec and restores those that ask. A
 * volume holds at most mem_bytes (the box's memory limit; 0: none): what
 * sbxd writes there (file calls, restores) is charged to sbxd, not to the
 * box, so only the tmpfs's size bounds it, and the box itself cannot hold
 * more in it than its limit anyway. 0, or -1 with a message (SRV_MSGLEN)
 * naming the volume. */
int srv_volumes_make(srv_sbx *s, int64_t mem_bytes, char *err);
/* After the box is made, before its command starts (srv_lock not held):
 * mounts the volumes at their mountPaths inside box (the boundary rules
 * of volume.c) and writes containers[].files[]. 0; -1 with a message
 * (sbxd's trouble: the sandbox FAILS); -2 the spec's fault (a mountPath
 * or file path that resolves to no directory, a file where a directory
 * is ...: a 400), field (SRV_FIELDLEN) naming it. */
int srv_volumes_attach(srv_sbx *s, srv_box *box, char *field, char *err);
/* The record is purged (srv_lock held): before_remove, then unmount
 * and remove STATE_DIR/volumes/<id>/. */
void srv_volumes_remove(srv_sbx *s);

#endif
