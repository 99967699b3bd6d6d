/*
 * A set of records by a string key of theirs (an id, a tag, a name): open
 * addressing with linear probing, at most half full, no tombstones (a
 * delete moves the rest of its run back), so a find costs the same with 10
 * or 100,000 entries. The table holds pointers only; the records and
 * their keys are the caller's, and a record's key must not change while
 * it is in. No locking: the caller's lock guards it. sbxd's sandbox
 * indexes and sbxfs's slot tables use it.
 */
#ifndef WIRE_STRTAB_H
#define WIRE_STRTAB_H

#include <stddef.h>

typedef struct wire_strtab {
	void **v;
	size_t cap, n;
	const char *(*key)(const void *e); /* set before first use */
} wire_strtab;

/* FNV-1a of a string. */
size_t wire_str_hash(const char *s);
/* The entry of that key, or NULL. */
void *wire_strtab_get(const wire_strtab *t, const char *key);
/* Room for n entries in all; -1 out of memory (the table as it was). */
int wire_strtab_reserve(wire_strtab *t, size_t n);
/* e in (not NULL); -1 out of memory or its key taken (by another entry). */
int wire_strtab_put(wire_strtab *t, void *e);
/* e out, if it is in under its key. */
void wire_strtab_del(wire_strtab *t, const void *e);
/* Every entry out, the room kept. */
void wire_strtab_clear(wire_strtab *t);
void wire_strtab_free(wire_strtab *t);

#endif
