/*
 * Empty files and directories made ahead of need, so that no request waits
 * for the state dir's file system to allocate an inode (see spare.c).
 */
#ifndef SRV_SPARE_H
#define SRV_SPARE_H

/* Makes (or empties) STATE_DIR/spare and starts the thread that keeps the
 * pool full. Returns 0, or -1 with a message in err (SRV_MSGLEN bytes). */
int srv_spare_start(const char *state_dir, char *err);
/* Stops the thread; the pool's leftovers are emptied by the next start. */
void srv_spare_stop(void);

/* openat(dirfd, name, flags | O_CREAT, 0600), the file taken from the pool
 * when name does not exist yet. Same result and errno as openat. */
int srv_spare_open(int dirfd, const char *name, int flags);

/* mkdirat(dirfd, name, 0700), the directory taken from the pool. Same
 * result and errno as mkdirat (EEXIST when name exists). */
int srv_spare_mkdir(int dirfd, const char *name);

#endif
