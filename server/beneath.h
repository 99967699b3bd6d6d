/* Paths below a directory fd that never leave it: the one place the
 * archive unpackers (oci.c's image layers, snapshot.c's restores) resolve
 * names. Every open goes through openat2 with RESOLVE_BENEATH, so "..",
 * absolute symlinks, magic links and other mounts stop it; an archive's
 * entry names are cleaned before any of that. */
#ifndef SRV_BENEATH_H
#define SRV_BENEATH_H

#include <limits.h>
#include <stddef.h>

/* openat2(dirfd, path) confined below dirfd (O_CLOEXEC added); with
 * nosymlinks no symlink is followed at all. fd or -1 (errno). */
int srv_open_beneath(int dirfd, const char *path, int flags, int nosymlinks);

/* An archive's entry name made relative and clean: "./a//b/" -> "a/b",
 * "" is the root itself. An absolute name, ".." anywhere, a component over
 * NAME_MAX or a result over len - 1 bytes is refused (-1). */
int srv_clean_relpath(const char *in, char *out, size_t len);

/* The directory an unpacker last wrote into, kept open for the next entry
 * (archives list a directory's entries together). */
typedef struct srv_dirwalk {
	int root;               /* the tree being filled (not owned) */
	int curfd;              /* -1: none kept */
	char cur[PATH_MAX];
} srv_dirwalk;

void srv_dirwalk_init(srv_dirwalk *w, int root);
/* The fd of directory rel (its first rl bytes, a cleaned path) below the
 * root, missing parts made 0755, never through a symlink; owned by w.
 * -1 (errno) when a part is not a directory of the tree. */
int srv_dirwalk_parent(srv_dirwalk *w, const char *rel, size_t rl);
/* Drops the kept fd: after the tree changed under it (a whiteout, a
 * replaced directory) and at the end. */
void srv_dirwalk_forget(srv_dirwalk *w);

#endif
