/*
 * The thread that destroys torn-down boxes (reaper.c).
 */
#ifndef SRV_REAPER_H
#define SRV_REAPER_H

#include "runtime/runtime.h"

/* Hands b to the reaper (srv_lock held); b must not be used after. */
void srv_bury(srv_box *b);
/* Destroys every buried box now; called without srv_lock. */
void srv_destroy_graves(void);
/* The thread: start (-1 when it cannot), ask to quit once the graves are
 * empty (srv_lock held), wait for it (without srv_lock). */
int srv_reaper_start(void);
void srv_reaper_quit(void);
void srv_reaper_join(void);

#endif
