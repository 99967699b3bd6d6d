/*
 * Fuzz target for the names and paths sbxfs takes from outside: the
 * files/ path join (names the kernel hands over), the readlink text of a
 * sandbox's symlink (its text and the service's linkResolved come from the
 * sandbox), and the by-tag names (tags come from the service). Input: up to
 * three NUL-separated strings, path, target and resolved. It checks the
 * promises, not only "no crash": a joined path is dir/name and capped; a
 * link text sbxfs shows is one the kernel can only walk inside files/
 * (fs_files_link_safe at the link's depth) and fits readlink; a tag that
 * is accepted reads back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "tags.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The depth of a link at path below files/: its directory's components.
 * Counted here independently of files.c. */
static int depth_of(const char *path)
{
	int n = 0;
	for (const char *p = path; *p;) {
		p += strspn(p, "/");
		if (!*p)
			break;
		n++;
		p += strcspn(p, "/");
	}
	return n > 0 ? n - 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 3 * 8192)
		return 0;
	char *buf = malloc(size + 3);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = buf[size + 2] = '\0';
	const char *path = buf;
	const char *target = path + strlen(path) + 1;
	const char *resolved = target <= buf + size ? target + strlen(target) + 1 : NULL;
	if (resolved && resolved > buf + size)
		resolved = NULL;

	char *j = fs_files_join(path, target);
	if (j) {
		size_t pl = strlen(path), tl = strlen(target), jl = strlen(j);
		if (jl >= 4096 || memcmp(j, path, pl) != 0 || strcmp(j + jl - tl, target) != 0 ||
		    j[jl - tl - 1] != '/' || strchr(target, '/'))
			abort();
		free(j);
	}
	(void)fs_files_name_ok(target);

	if (path[0] == '/' && target[0]) {
		char *out = NULL;
		int rc = fs_files_link_text(path, target, resolved, &out);
		if (rc == 0) {
			if (!out || strlen(out) > FS_LINK_TEXT_MAX || !fs_files_link_safe(depth_of(path), out))
				abort();
		} else if (out || (rc != -12 && rc != -36)) {
			abort(); /* -ENOMEM or -ENAMETOOLONG, nothing else */
		}
		free(out);
	}

	size_t tl = strlen(target);
	if (fs_tag_name_ok(target, tl)) {
		uint32_t idx = fs_tag_intern(target, tl);
		char *back = idx ? fs_tag_name(idx) : NULL;
		if (idx && (!back || strcmp(back, target) != 0))
			abort();
		free(back);
	} else if (fs_tag_intern(target, tl) != 0) {
		abort();
	}
	fs_tags_fini(); /* the table is the daemon's lifetime; here one input's */
	free(buf);
	return 0;
}
