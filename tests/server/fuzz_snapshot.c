/*
 * Fuzz target for the snapshot store's unpacker (snapshot.c
 * srv_snap_unpack_fd): the input is an archive as it could lie in a
 * tampered store, unpacked into a fresh temp dir that is removed after.
 * Nothing may crash, leak, read out of bounds, or create anything outside
 * the temp dir: the dir's parent must hold only it afterwards.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Opens the tree's directories up (a restored 0500 dir would stop the
 * removal). Only real directories: chmod of a path follows a symlink, and
 * a restored link may name anything, /tmp itself (it once made the host's
 * /tmp 0700 for every test of the run). */
static int open_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(p, 0700);
	return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (4 << 20))
		return 0;
	char err[SRV_SNAP_ERRLEN];
	char parent[] = "/tmp/sbx-fuzz-snap.XXXXXX", tree[64];
	if (!mkdtemp(parent))
		abort();
	snprintf(tree, sizeof tree, "%s/vol", parent);
	if (mkdir(tree, 0700) != 0)
		abort();
	int root = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = memfd_create("snap", MFD_CLOEXEC);
	if (root < 0 || fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	srv_snap_unpack_fd(fd, root, err);
	close(fd);
	close(root);
	DIR *d = opendir(parent);
	struct dirent *e;
	int others = 0;
	while (d && (e = readdir(d)) != NULL)
		others += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "vol");
	if (d)
		closedir(d);
	nftw(parent, open_one, 16, FTW_PHYS);
	nftw(parent, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(parent);
	if (others)
		abort(); /* something landed beside the volume */
	return 0;
}
