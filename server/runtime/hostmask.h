/*
 * What a sandbox on the host's own root ("host" image) must not see: the
 * host's secrets and every sbxd's state. The host image is an opt-in
 * (sbxd --allow-host-image); even then init covers each path found here
 * with an empty read-only tmpfs (a directory) or /dev/null (a file). The
 * list is made fresh for each such sandbox, in sbxd (it allocates and
 * reads /proc), and handed to init ready-made.
 */
#ifndef SRV_HOSTMASK_H
#define SRV_HOSTMASK_H

#include <stddef.h>

#define SRV_HOSTMASK_MAX 240

typedef struct srv_hostmask {
	char *path[SRV_HOSTMASK_MAX + 1]; /* NULL-ended, absolute, owned */
	int n;
} srv_hostmask;

/* Fills m: the fixed secrets (/root, /home, /etc/ssh, /run, /var/lib/sbxd,
 * ...), every /etc entry named shadow*, gshadow* or sudoers*, and the state
 * dir of every live sbxd (found by the flock each holds on
 * STATE_DIR/sbxd.lock: /proc/locks names the holder and the inode, the
 * holder's /proc/PID/fd the path), and every unix socket bound to a path
 * (/proc/net/unix) outside those. Missing paths are left out. 0, or -1
 * with a message when the list would not fit (never a partial list). */
int srv_hostmask_collect(srv_hostmask *m, char *err);

/* Frees what collect allocated; accepts a zeroed struct. */
void srv_hostmask_clear(srv_hostmask *m);

/* Exposed for tests: the state dirs of live sbxd instances, as
 * collect finds them, appended to m. Returns how many were added or -1. */
int srv_hostmask_state_dirs(srv_hostmask *m, char *err);

#endif
