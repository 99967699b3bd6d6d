/*
 * Inode numbering and the fixed names of the sbxfs tree (see node.h). The
 * tables here are the single description of which file lives where; ops.c
 * asks them instead of spelling names out.
 */
#include "node.h"

#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

uint64_t fs_ino_make(uint32_t slot, int64_t pid, fs_kind kind)
{
	return ((uint64_t)slot << 40) | ((uint64_t)pid << 8) | (uint64_t)kind;
}

int fs_ino_is_files(uint64_t ino)
{
	return (ino & FS_INO_FILES_BIT) != 0;
}

int fs_ino_split(uint64_t ino, uint32_t *slot, int64_t *pid, fs_kind *kind)
{
	if (ino & FS_INO_FILES_BIT)
		return -1;
	fs_kind k = (fs_kind)(ino & 0xff);
	uint32_t s = (uint32_t)(ino >> 40);
	int64_t p = (int64_t)((ino >> 8) & 0xffffffffu);
	if (k <= FS_K_NONE || k >= FS_K_COUNT)
		return -1;
	int root_level = k == FS_K_ROOT || k == FS_K_ROOT_NEW || k == FS_K_ROOT_ERROR || k == FS_K_ROOT_BYTAG ||
			 k == FS_K_TAG_DIR || k == FS_K_ROOT_IMAGES || k == FS_K_ROOT_SNAPSHOTS ||
			 k == FS_K_SNAP_ALL || k == FS_K_SNAP_FILE;
	if (root_level != (s == 0))
		return -1;
	/* The pid field: a process id, or for by-tag/ nodes a tag index, or
	 * for snapshots/ID the id's index in the same name table. */
	int has_pid = (k >= FS_K_P_DIR && k <= FS_K_P_REASON) || k == FS_K_TAG_DIR || k == FS_K_TAG_LINK ||
		      k == FS_K_SNAP_FILE;
	if (has_pid != (p != 0))
		return -1;
	*slot = s;
	*pid = p;
	*kind = k;
	return 0;
}

static const struct {
	fs_kind kind;
	const char *name;
	fs_kind parent;
	mode_t mode;
} nodes[] = {
	{FS_K_ROOT, "", FS_K_ROOT, S_IFDIR | 0755},
	{FS_K_ROOT_NEW, "new", FS_K_ROOT, S_IFREG | 0644},
	{FS_K_ROOT_ERROR, "error", FS_K_ROOT, S_IFREG | 0444},
	{FS_K_ROOT_BYTAG, "by-tag", FS_K_ROOT, S_IFDIR | 0755},
	{FS_K_ROOT_IMAGES, "images", FS_K_ROOT, S_IFREG | 0444},
	{FS_K_ROOT_SNAPSHOTS, "snapshots", FS_K_ROOT, S_IFDIR | 0755},
	{FS_K_SNAP_ALL, ".all", FS_K_ROOT_SNAPSHOTS, S_IFREG | 0444},
	{FS_K_SNAP_FILE, "", FS_K_ROOT_SNAPSHOTS, S_IFREG | 0444},
	{FS_K_TAG_DIR, "", FS_K_ROOT_BYTAG, S_IFDIR | 0755},
	{FS_K_TAG_LINK, "", FS_K_TAG_DIR, S_IFLNK | 0777},
	{FS_K_SB_DIR, "", FS_K_ROOT, S_IFDIR | 0755},
	{FS_K_SB_STATUS, "status", FS_K_SB_DIR, S_IFREG | 0444},
	{FS_K_SB_RC, "returncode", FS_K_SB_DIR, S_IFREG | 0444},
	{FS_K_SB_STDOUT, "stdout", FS_K_SB_DIR, S_IFREG | 0444},
	{FS_K_SB_STDERR, "stderr", FS_K_SB_DIR, S_IFREG | 0444},
	{FS_K_SB_INFO, "info", FS_K_SB_DIR, S_IFREG | 0444},
	{FS_K_SB_CTL, "ctl", FS_K_SB_DIR, S_IFREG | 0200},
	{FS_K_SB_ERROR, "error", FS_K_SB_DIR, S_IFREG | 0444},
	{FS_K_SB_TAGS, "tags", FS_K_SB_DIR, S_IFREG | 0444},
	{FS_K_SB_SNAPSHOTS, "snapshots", FS_K_SB_DIR, S_IFREG | 0444},
	{FS_K_SB_EXEC, "exec", FS_K_SB_DIR, S_IFDIR | 0755},
	{FS_K_SB_FILES, "files", FS_K_SB_DIR, S_IFDIR | 0755},
	{FS_K_EXEC_NEW, "new", FS_K_SB_EXEC, S_IFREG | 0644},
	{FS_K_EXEC_LAST, "last", FS_K_SB_EXEC, S_IFLNK | 0777},
	{FS_K_P_DIR, "", FS_K_SB_EXEC, S_IFDIR | 0755},
	{FS_K_P_CMD, "cmd", FS_K_P_DIR, S_IFREG | 0444},
	{FS_K_P_STDOUT, "stdout", FS_K_P_DIR, S_IFREG | 0444},
	{FS_K_P_STDERR, "stderr", FS_K_P_DIR, S_IFREG | 0444},
	{FS_K_P_STDIN, "stdin", FS_K_P_DIR, S_IFREG | 0200},
	{FS_K_P_RC, "returncode", FS_K_P_DIR, S_IFREG | 0444},
	{FS_K_P_STATUS, "status", FS_K_P_DIR, S_IFREG | 0444},
	{FS_K_P_REASON, "reason", FS_K_P_DIR, S_IFREG | 0444},
	{FS_K_P_CTL, "ctl", FS_K_P_DIR, S_IFREG | 0200},
};
#define NNODES (sizeof nodes / sizeof nodes[0])

static int find(fs_kind k)
{
	for (size_t i = 0; i < NNODES; i++)
		if (nodes[i].kind == k)
			return (int)i;
	return -1;
}

fs_kind fs_kind_child(fs_kind dir, const char *name)
{
	if (!name || !*name)
		return FS_K_NONE;
	for (size_t i = 0; i < NNODES; i++)
		if (nodes[i].kind != FS_K_ROOT && nodes[i].parent == dir && nodes[i].name[0] &&
		    strcmp(nodes[i].name, name) == 0)
			return nodes[i].kind;
	return FS_K_NONE;
}

size_t fs_kind_children(fs_kind dir, fs_kind *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < NNODES; i++) {
		if (nodes[i].kind == FS_K_ROOT || nodes[i].parent != dir || !nodes[i].name[0])
			continue;
		if (n < max)
			out[n] = nodes[i].kind;
		n++;
	}
	return n;
}

const char *fs_kind_name(fs_kind k)
{
	int i = find(k);
	return i < 0 ? "" : nodes[i].name;
}

mode_t fs_kind_mode(fs_kind k)
{
	int i = find(k);
	return i < 0 ? 0 : nodes[i].mode;
}

fs_kind fs_kind_parent(fs_kind k)
{
	int i = find(k);
	return i < 0 ? FS_K_NONE : nodes[i].parent;
}

int fs_kind_is_output(fs_kind k)
{
	return k == FS_K_SB_STDOUT || k == FS_K_SB_STDERR || k == FS_K_P_STDOUT || k == FS_K_P_STDERR;
}

int fs_kind_is_dynamic(fs_kind k)
{
	switch (k) {
	case FS_K_ROOT_ERROR:
	case FS_K_ROOT_IMAGES:
	case FS_K_ROOT_SNAPSHOTS:
	case FS_K_SB_SNAPSHOTS:
	case FS_K_SNAP_ALL:
	case FS_K_SNAP_FILE:
	case FS_K_SB_STATUS:
	case FS_K_SB_RC:
	case FS_K_SB_STDOUT:
	case FS_K_SB_STDERR:
	case FS_K_SB_INFO:
	case FS_K_SB_ERROR:
	case FS_K_EXEC_LAST:
	case FS_K_P_STDOUT:
	case FS_K_P_STDERR:
	case FS_K_P_RC:
	case FS_K_P_STATUS:
	case FS_K_P_REASON:
	case FS_K_SB_TAGS:
		return 1;
	default:
		return 0;
	}
}

int64_t fs_parse_pid_name(const char *name)
{
	size_t len = strlen(name);
	int64_t v;
	if (len == 0 || name[0] == '0')
		return -1;
	if (fs_parse_int64(name, len, 1, FS_PID_MAX, &v) != 0)
		return -1;
	return v;
}
