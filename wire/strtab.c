/* The string-keyed set of wire/strtab.h. */
#include "strtab.h"

#include <stdlib.h>
#include <string.h>

size_t wire_str_hash(const char *s)
{
	size_t h = 1469598103934665603u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* The place of key's entry, or the empty one where it would go. */
static size_t place(const wire_strtab *t, const char *key)
{
	size_t i = wire_str_hash(key) & (t->cap - 1);
	while (t->v[i] && strcmp(t->key(t->v[i]), key) != 0)
		i = (i + 1) & (t->cap - 1);
	return i;
}

void *wire_strtab_get(const wire_strtab *t, const char *key)
{
	return t->cap ? t->v[place(t, key)] : NULL;
}

int wire_strtab_reserve(wire_strtab *t, size_t n)
{
	if (2 * n <= t->cap)
		return 0;
	size_t nc = t->cap ? t->cap : 64;
	while (2 * n > nc)
		nc *= 2;
	void **nv = calloc(nc, sizeof *nv), **ov = t->v;
	if (!nv)
		return -1;
	size_t oc = t->cap;
	t->v = nv;
	t->cap = nc;
	for (size_t i = 0; i < oc; i++)
		if (ov[i])
			t->v[place(t, t->key(ov[i]))] = ov[i];
	free(ov);
	return 0;
}

int wire_strtab_put(wire_strtab *t, void *e)
{
	if (wire_strtab_reserve(t, t->n + 1) != 0)
		return -1;
	size_t i = place(t, t->key(e));
	if (t->v[i])
		return t->v[i] == e ? 0 : -1;
	t->v[i] = e;
	t->n++;
	return 0;
}

void wire_strtab_del(wire_strtab *t, const void *e)
{
	if (!t->cap)
		return;
	size_t i = place(t, t->key(e)), m = t->cap - 1;
	if (t->v[i] != e)
		return;
	for (size_t j = i;;) {
		j = (j + 1) & m;
		if (!t->v[j])
			break;
		size_t k = wire_str_hash(t->key(t->v[j])) & m;
		/* v[j] stays when its home k lies cyclically in (i, j] */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->v[i] = t->v[j];
		i = j;
	}
	t->v[i] = NULL;
	t->n--;
}

void wire_strtab_clear(wire_strtab *t)
{
	if (t->cap)
		memset(t->v, 0, t->cap * sizeof *t->v);
	t->n = 0;
}

void wire_strtab_free(wire_strtab *t)
{
	free(t->v);
	t->v = NULL;
	t->cap = t->n = 0;
}
