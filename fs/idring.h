/*
 * A ring of freed table indices, oldest first: how sbxfs's three tables of
 * things the kernel names by number (sandbox slots in state.c, by-tag/
 * indices in tags.c, files/ nodes in files.c) reuse a number only long
 * after it was freed. The kernel may still hold a stale dentry or answer
 * with a number it was given long ago; handing that number to something
 * new at once would make it name the wrong thing, so each table keeps a
 * quarantine (its own count) before it pops. Not locked: each table calls
 * it under its own lock.
 */
#ifndef FS_IDRING_H
#define FS_IDRING_H

#include <stdint.h>

typedef struct fs_idring {
	uint32_t *q;
	uint32_t cap, head, len;
} fs_idring;

/* Appends i; 0 when the ring cannot grow (the caller keeps the entry: a
 * number that stays is never handed out twice), else 1. */
int fs_idring_push(fs_idring *r, uint32_t i);
/* The oldest index; only when len > 0. */
uint32_t fs_idring_pop(fs_idring *r);
/* Frees the ring and empties it. */
void fs_idring_clear(fs_idring *r);

#endif
