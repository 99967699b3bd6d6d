/*
 * The records' API forms and their files on disk (persist.c). srv_lock
 * held, except srv_persist_init (start, before any thread).
 */
#ifndef SRV_PERSIST_H
#define SRV_PERSIST_H

#include "records.h"
#include "sandbox.pb-c.h"

/* STATE_DIR, the open STATE_DIR/sandboxes (kept by the caller) and
 * srv_config.default_egress (status.effectiveEgress of the API form). */
void srv_persist_init(const char *state_dir, int sandboxes_fd, int default_egress);

/* The sandbox as the schema's Sandbox; NULL: no memory. */
Coreweave__Sandbox__V1__Sandbox *srv_sbx_to_pb(const srv_sbx *s);
/* The extension's process form (also what is persisted). Caller frees.
 * s: adds byte counts. */
struct cJSON;
struct cJSON *srv_proc_json(const srv_sbx *s, const srv_proc *p);

/* Save the record whole (sandbox.json, proc-N.json); a warning when it
 * cannot (nothing saved for a sandbox without a dir or an :exec). */
void srv_save_sbx(srv_sbx *s);
void srv_save_proc(srv_sbx *s, srv_proc *p);
/* Forgets the oldest ended processes (record and spools) past
 * srv_procs_keep(); their lines leave procs.log at its next compaction. */
void srv_forget_old_procs(srv_sbx *s);
/* Removes STATE_DIR/sandboxes/<id> and all in it. */
void srv_rm_sandbox_dir(const char *id);
/* Loads every record under STATE_DIR/sandboxes into the table. */
void srv_load_all(void);
/* Set before srv_load_all: called for each loaded sandbox that was not
 * terminal (live restore, adopt.c), after it is in the table. 0: it runs
 * again, the hook set it up; else the hook wrote why into why (cap bytes,
 * preset to "sbxd restarted") and the sandbox and its running processes
 * become FAILED / KILLED with that reason. */
void srv_persist_adopt_hook(int (*adopt)(srv_sbx *s, char *why, size_t cap));

#endif
