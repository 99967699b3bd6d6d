/*
 * The zygote: a small child that sbxd forks once, when the runtime starts,
 * and that clone()s every sandbox's init on request. Init used to be a copy
 * of sbxd as it is at create time; its RSS then counted all of sbxd's pages,
 * so a memory-limited sandbox could lose init (and everything with it) to
 * the OOM killer, and each clone copied sbxd's page tables. A copy of the
 * zygote is as small as sbxd was at start. CLONE_PARENT makes each init a
 * child of sbxd all the same, so sbxd waits for it as before.
 */
#ifndef SRV_ZYGOTE_H
#define SRV_ZYGOTE_H

#include <stdint.h>
#include <sys/types.h>

#include "init.h"

typedef struct srv_zygote srv_zygote;

/* Forks the zygote. NULL (with a message in err) when it cannot start;
 * the runtime then clones init itself. */
srv_zygote *srv_zygote_start(char *err);

/* Closes the zygote's socket (it exits on EOF) and reaps it. Accepts NULL. */
void srv_zygote_stop(srv_zygote *z);

/* Has the zygote clone an init into ns_flags' namespaces (and into the
 * cgroup2 directory cgfd when >= 0, setting *born_in_cg) running
 * srv_init_main(cfg, ctl, evt). Returns its pid, a child of the caller, or
 * -1 with errno (EPIPE: the zygote is gone, fall back to cloning here). */
pid_t srv_zygote_clone(srv_zygote *z, uint64_t ns_flags, int cgfd, const srv_init_cfg *cfg, int ctl, int evt,
                       int *born_in_cg);

#endif
