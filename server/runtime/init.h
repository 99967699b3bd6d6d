/*
 * The init of a sandbox: the code that runs in the child of clone() as PID 1
 * of the sandbox's namespaces. It builds the sandbox's filesystem (overlay
 * root, /proc, /dev, /tmp, pivot_root), drops privileges, then loops: it
 * reaps every process that dies in the sandbox, forks+execs commands that
 * sbxd asks for over the ctl socket, and reports their exits on the evt
 * socket (formats in proto.h). When sbxd goes away (EOF on ctl) init exits,
 * and the kernel kills everything left in the PID namespace; unless the box
 * is live (cfg->live_fd): then it keeps relaying output, reaping and
 * queueing exits, and waits on its live socket for a new sbxd.
 */
#ifndef SRV_INIT_H
#define SRV_INIT_H

#include <stdint.h>

typedef struct srv_init_cfg {
	const char *scratch;       /* STATE_DIR/run, shared by every box: init
	                              mounts its own tmpfs on it (in its own mount
	                              namespace) for the upper, work and root dirs */
	const char *upper, *work;  /* inside scratch */
	const char *root;          /* overlay mount point, inside scratch */
	const char *overlay_opts;  /* "lowerdir=l0:l1...,upperdir=upper,workdir=work":
	                              names relative to scratch, init mounts
	                              from there (the box reads these options
	                              in its mountinfo) */
	const char *lowers;        /* nlowers == 0: the layers' host paths,
	                              ':'-joined, that init bind-mounts on
	                              scratch/l0, l1 ... */
	const char *hostname;
	int network;               /* 1: egress through the stack (net.h): init
	                              writes /etc/resolv.conf for its DNS; the
	                              box always has its own netns, lo up */
	int image;                 /* 1: the root is an image, not the host's / */
	const char *const *hide;   /* host paths covered inside by an empty,
	                              read-only tmpfs (state dir, sockets) */
	int64_t tmpfs_bytes;       /* size of the scratch tmpfs (writable layer,
	                              /tmp and /dev/shm share it) */
	int64_t fsize;             /* RLIMIT_FSIZE for everything, 0 = none */
	int64_t out_quota;         /* bytes all relays together may store, 0 = no cap */
	int64_t min_free;          /* relays stop storing when the spools' file
	                              system has less free space, 0 = no floor */
	int64_t uid, gid;          /* every command runs as uid:gid (no
	                              supplementary groups); -1 = as root */
	int userns;                /* SRV_USERNS_*: init is in a user namespace
	                              of its own and waits for SRV_MSG_MAPPED */
	int nlowers;               /* > 0: that many idmapped lower layers come
	                              with SRV_MSG_MAPPED; init mounts them on
	                              scratch/l0, l1 ... (overlay_opts names them) */
	int live_fd;               /* >= 0: the box's listening live socket
	                              (proto.h, SRV_MSG_ADOPT): init outlives
	                              sbxd and waits there for a new one;
	                              -1: init exits when sbxd goes */
	unsigned char secret[32];  /* SRV_LIVE_SECRET: the only key accepted there */
} srv_init_cfg;

/* Overwrites this process's argv and environment strings in place, so
 * /proc/PID/cmdline reads "sbx-init" and /proc/PID/environ nothing of
 * sbxd's (its argv may carry --token-file PATH and the state dir). Called
 * by the zygote right after it forks and by init; once per process copy.
 * PR_SET_MM would be cleaner but needs CAP_SYS_RESOURCE. */
void srv_init_retitle(void);

/* Never returns. Everything cfg points to must be set up before clone():
 * init does not allocate (it is a copy of a threaded process). */
__attribute__((noreturn)) void srv_init_main(const srv_init_cfg *cfg, int ctl, int evt);

#endif
