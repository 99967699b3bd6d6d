/*
 * Spool files of process output (spool.c). srv_lock held.
 */
#ifndef SRV_SPOOL_H
#define SRV_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "records.h"

/* "<id>.stdout" (stream 1) or "<id>.stderr" (2). */
void srv_spool_name(char *buf, size_t len, int64_t id, int stream);
/* Bytes in a process's spool (1 stdout, 2 stderr), 0 when none. */
int64_t srv_spool_size(const srv_sbx *s, const srv_proc *p, int stream);
/* create 1: a new spool to append to (a spare renamed in); 0: read. */
int srv_open_spool(srv_sbx *s, int64_t id, int stream, int create);
/* Opens a spool file of process id (0 = main) for reading: -1 if none. */
int srv_spool_open(srv_sbx *s, int64_t id, int stream);
/* True when the stream of process id can grow no more. */
int srv_stream_ended(srv_sbx *s, int64_t id);
/* Empty spools kept per sandbox for reuse (.spool-free-K, K below this). */
#define SRV_SPOOL_FREE_MAX 8
/* A finished process whose output init no longer holds (out_done) and
 * whose spools stayed empty gives them back for the next process's spools
 * (no inode made or freed); its streams then read as empty, as a missing
 * spool does. */
void srv_spool_recycle(srv_sbx *s, srv_proc *p);
/* An empty unnamed file for an :exec's output (a reused one if kept). */
int srv_exec_spool(srv_sbx *s);

#endif
