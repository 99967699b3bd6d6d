/*
 * Tag names as numbers, for the by-tag/ tree: a by-tag/TAG directory's
 * inode number carries its tag's index (node.h's pid field), so the tag
 * must map to a small number and back for as long as the kernel holds a
 * node carrying it. The kernel's lookups of those nodes (by-tag/TAG and
 * by-tag/TAG/NAME) are counted per index; an index with none is freed by
 * a sweep when the table grows and reused only much later, like sandbox
 * slots. Thread-safe.
 */
#ifndef FS_TAGS_H
#define FS_TAGS_H

#include <stddef.h>
#include <stdint.h>

#define FS_TAGS_MAX 65536       /* distinct tags one mount names at once */
#define FS_TAG_LEN_MAX 255      /* a tag is one file name */

/* Whether tag (len bytes) can be a directory name: 1..255 bytes, no '/' or
 * NUL, not "." or "..". */
int fs_tag_name_ok(const char *tag, size_t len);
/* The index of tag (1..FS_TAGS_MAX), made on first use; 0 when the name is
 * not ok, the table is full or memory ran out. */
uint32_t fs_tag_intern(const char *tag, size_t len);
/* One more lookup of a node carrying idx, counted before the entry reply
 * is sent: 0, or -1 when the index was freed (answer ENOENT). */
int fs_tag_ref(uint32_t idx);
/* FORGET of n lookups of such a node. */
void fs_tag_forget(uint32_t idx, uint64_t n);
/* Tags in the table now. */
uint32_t fs_tags_used(void);
/* The tag of an index (malloc'd), NULL when unknown. */
char *fs_tag_name(uint32_t idx);
void fs_tags_fini(void);

#endif
