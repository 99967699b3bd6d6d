/*
 * Stdin pipes of processes (stdin.c). srv_lock held.
 */
#ifndef SRV_STDIN_H
#define SRV_STDIN_H

#include <stddef.h>

#include "records.h"

/* Queues stdin bytes; -1 when over the pending cap. */
int srv_stdin_write(srv_sbx *s, srv_proc *p, const unsigned char *buf, size_t len);
void srv_stdin_close(srv_sbx *s, srv_proc *p);
/* Bytes queued for the pipe, not yet taken by it. */
size_t srv_stdin_pending(const srv_proc *p);
/* Writes what the pipe takes now (the loop: it takes bytes again). */
void srv_stdin_feed(srv_sbx *s, srv_proc *p);
/* The pipe closed and pending bytes dropped (the process ended). */
void srv_stdin_drop(srv_proc *p);

#endif
