/*
 * Live restore in sbxd (adopt.c): a sandbox that was running when the last
 * sbxd went away (kill -9, SIGTERM, an upgrade) is taken back with its box,
 * its processes, their exits and their spools, instead of being failed.
 * docs/internals/server.md, "Live restore". All calls at start or stop,
 * with srv_lock held or before any thread runs.
 */
#ifndef SRV_ADOPT_H
#define SRV_ADOPT_H

#include <stddef.h>

#include "records.h"

/* The runtime boxes are adopted from (srv_rt_open with SRV_RT_LIVE, else
 * every adoption says why not). */
void srv_adopt_init(srv_rt *rt);
/* persist.h's adopt hook: 0 when s runs again (its box back in the loop,
 * lifetime and process timeouts counted from the records' times); else
 * -1 and why says what could not come back. */
int srv_adopt_sbx(srv_sbx *s, char *why, size_t cap);
/* After the load: how many were adopted (and failed), for the log. */
void srv_adopt_counts(int *adopted, int *failed);
/* At a stop that keeps sandboxes: lets s's box go without ending it, so
 * a new sbxd can adopt it. 0 done; -1 when it cannot be adopted later
 * (not live: egress, --no-live-restore), so the caller ends it. */
int srv_adopt_release(srv_sbx *s);

#endif
