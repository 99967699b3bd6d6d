/*
 * The warm pool (sbxd --warm-pool N): sandboxes' boxes made ahead of any
 * request, from a template spec, kept idle until a create can take one
 * (see pool.c). Knows boxes, not sandboxes: core.c decides which spec a
 * member may serve, makes members through a hook and counts them against
 * --max-sandboxes.
 */
#ifndef SRV_POOL_H
#define SRV_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

/* Each member comes with this many unnamed, empty spool files (fds; -1
 * when one could not be made) for its sandbox's first :execs: allocating
 * an inode on the state dir's disk is the slow part of a first exec. */
#define SRV_POOL_SPOOLS 2

typedef struct srv_pool_hooks {
	/* Makes one member box under a fresh id (one no record or box
	 * has; the hook serializes with foreground creates itself). 0, or
	 * -1 with a message in err (SRV_ERRLEN). Called on the pool's
	 * thread, no lock held. */
	int (*make)(srv_box **out, int spools[SRV_POOL_SPOOLS], char *err);
	/* 1 when one more box may be made now (--max-sandboxes: the live
	 * sandboxes and the pool's members, srv_pool_size, stay within it);
	 * the hook then has called srv_pool_reserve under its lock, so the
	 * count and the reservation are one step. Called with no pool lock
	 * held. */
	int (*reserve)(void);
} srv_pool_hooks;

/* Starts the refill thread keeping want (1-64) members. 0, or -1. */
int srv_pool_start(int want, const srv_pool_hooks *h);
/* Stops the thread and destroys every member (killed, cgroups removed):
 * none outlives sbxd, whatever live restore keeps. 1 when the pool ran. */
int srv_pool_stop(void);

/* Members ready or being made (what a create counts beside the live
 * sandboxes). */
size_t srv_pool_size(void);
/* The reserve hook's step: one member being made counts from now on. */
void srv_pool_reserve(void);

/* Takes a ready member: its box (the caller owns it now: it is never a
 * member again; srv_box_id names it) and its spools (the caller closes
 * them), or NULL when none is ready. */
srv_box *srv_pool_take(int spools[SRV_POOL_SPOOLS]);
/* Room for a cold create: one ready member is destroyed (by the reaper),
 * or, with none ready, the one being made is dropped when done. */
void srv_pool_shrink(void);
/* A foreground create begins (1) or ends (-1): the refill waits while
 * any runs and for a short quiet time after, so members are made in the
 * gaps between requests and never delay one. */
void srv_pool_busy(int delta);
/* Counters since start: members made, creates served by a member, creates
 * that could have been (their spec fits) but found none ready. */
void srv_pool_counts(uint64_t *made, uint64_t *claimed, uint64_t *empty);
/* One of those: a create whose spec fits but found no member. */
void srv_pool_count_empty(void);

#endif
