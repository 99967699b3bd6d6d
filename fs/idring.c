/*
 * The ring of freed indices of fs/idring.h: grows by doubling (from 256),
 * never shrinks until cleared; the caller's lock guards it.
 */
#include "idring.h"

#include <stdlib.h>

int fs_idring_push(fs_idring *r, uint32_t i)
{
	if (r->len == r->cap) {
		if (r->cap > UINT32_MAX / 2)
			return 0;
		uint32_t nc = r->cap ? r->cap * 2 : 256;
		uint32_t *nq = malloc((size_t)nc * sizeof *nq);
		if (!nq)
			return 0;
		for (uint32_t k = 0; k < r->len; k++)
			nq[k] = r->q[(r->head + k) % r->cap];
		free(r->q);
		r->q = nq;
		r->cap = nc;
		r->head = 0;
	}
	r->q[(r->head + r->len) % r->cap] = i;
	r->len++;
	return 1;
}

uint32_t fs_idring_pop(fs_idring *r)
{
	uint32_t i = r->q[r->head];
	r->head = (r->head + 1) % r->cap;
	r->len--;
	return i;
}

void fs_idring_clear(fs_idring *r)
{
	free(r->q);
	*r = (fs_idring){0};
}
