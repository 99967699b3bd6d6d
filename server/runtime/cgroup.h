/*
 * Per-sandbox cgroups for sbxd's runtime. It measures at start which layout
 * the machine has: a pure cgroup2 tree with controllers at /sys/fs/cgroup, or
 * the hybrid layout (v1 memory/pids/cpu hierarchies plus a controller-less
 * cgroup2 tree at /sys/fs/cgroup/unified used for grouping, cgroup.kill and
 * cgroup.freeze). Every cgroup lives under a parent named after the sbxd
 * instance (sbxd-<hash of the state dir>), so concurrent sbxd instances never
 * touch each other's sandboxes.
 */
#ifndef SRV_CGROUP_H
#define SRV_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

typedef struct srv_cg srv_cg;
typedef struct srv_cg_box srv_cg_box;

/* Detects the layout, creates the instance's parent cgroups and removes
 * leftovers of an earlier instance with the same prefix (killing what still
 * runs in them). NULL with a message in err (SRV_ERRLEN) on failure. */
srv_cg *srv_cg_open(const char *prefix, char *err);
void srv_cg_free(srv_cg *cg);
/* srv_cg_open without touching leftovers (live restore: they may be
 * boxes to adopt); srv_cg_sweep later kills and removes every box cgroup
 * under the prefix for which keep (NULL: none) does not say 1. */
srv_cg *srv_cg_open_kept(const char *prefix, char *err);
void srv_cg_sweep(srv_cg *cg, int (*keep)(const char *id, void *ctx), void *ctx);
/* The existing cgroups of box id (an adopted box), removed by
 * srv_cg_box_remove like a new one's. -1 when it has none. */
int srv_cg_box_open(srv_cg *cg, const char *id, srv_cg_box **out, char *err);
/* Forgets the handle, leaving the cgroups and their processes (a live box
 * sbxd leaves running). Accepts NULL. */
void srv_cg_box_release(srv_cg_box *b);

/* Short description of the layout, for docs and tests ("v1+unified"...). */
const char *srv_cg_layout(const srv_cg *cg);

/* Creates the sandbox's cgroups with its limits (0 = none). A limit whose
 * controller is missing is an error; the default pids limit is best effort. */
int srv_cg_box_create(srv_cg *cg, const char *id, int64_t cpu_millis, int64_t memory_bytes,
                      int64_t max_pids, int pids_required, srv_cg_box **out, char *err);

/* Writes the limits again (a box made before its spec was known: the
 * warm pool's): the same rules as at create. */
int srv_cg_box_set_limits(srv_cg_box *b, int64_t cpu_millis, int64_t memory_bytes, int64_t max_pids,
                          int pids_required, char *err);

/* A directory fd of the box's cgroup2 cgroup for clone3(CLONE_INTO_CGROUP),
 * or -1 when there is none. Owned by b. */
int srv_cg_box_clone_fd(srv_cg_box *b);

/* Moves pid into every cgroup of the box (but the cgroup2 one when
 * skip_v2: the child was born there through CLONE_INTO_CGROUP). */
int srv_cg_box_attach(srv_cg_box *b, pid_t pid, int skip_v2, char *err);

/* SIGKILLs every process in the box's cgroups (cgroup.kill when present). */
void srv_cg_box_kill(srv_cg_box *b);

/* oom_kill count of the memory cgroup, 0 when unknown. */
int64_t srv_cg_box_oom_kills(const srv_cg_box *b);

/* Memory in use by the box in bytes, -1 when unknown. */
int64_t srv_cg_box_memory_current(const srv_cg_box *b);

/* Freezes (1) or thaws (0) every process of the box. */
int srv_cg_box_freeze(srv_cg_box *b, int frozen, char *err);

/* Number of processes in the box's cgroup, -1 when unknown. */
int srv_cg_box_nprocs(const srv_cg_box *b);

/* Kills what is left, removes the cgroups and frees b. Accepts NULL. */
void srv_cg_box_remove(srv_cg_box *b);

#endif
