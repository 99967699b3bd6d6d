/*
 * Fuzz target for the OCI store's parsers of outside input: the first byte
 * picks the reference grammar (an API image field) or the tar unpacker (a
 * layer or an outer archive, unpacked into a fresh temp dir that is removed
 * after). Nothing may crash, leak, read out of bounds, or create anything
 * outside the temp dir: the dir's parent must hold only it afterwards.
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

#include "oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (4 << 20))
		return 0;
	char err[SRV_OCI_ERRLEN];
	if (data[0] % 2 == 0) {
		char buf[600];
		size_t n = size - 1 < sizeof buf - 1 ? size - 1 : sizeof buf - 1;
		memcpy(buf, data + 1, n);
		buf[n] = '\0';
		srv_oci_ref r;
		if (srv_oci_ref_parse(buf, &r, err) == 0)
			srv_oci_ref_string(&r, buf, sizeof buf);
		return 0;
	}
	/* parent/ holds only tree/, before and after. */
	char parent[] = "/tmp/sbx-fuzz-oci.XXXXXX", tree[64];
	if (!mkdtemp(parent))
		abort();
	snprintf(tree, sizeof tree, "%s/tree", parent);
	if (mkdir(tree, 0700) != 0)
		abort();
	int root = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = memfd_create("layer", MFD_CLOEXEC);
	if (root < 0 || fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1) || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	int64_t bytes = 0;
	srv_oci_unpack_fd(fd, root, (data[0] >> 1) & 1, &bytes, err);
	close(fd);
	close(root);
	DIR *d = opendir(parent);
	struct dirent *e;
	int others = 0;
	while (d && (e = readdir(d)) != NULL)
		others += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "tree");
	if (d)
		closedir(d);
	nftw(parent, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (others)
		abort(); /* something landed beside the tree */
	return 0;
}
