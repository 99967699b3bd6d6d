/*
 * wire/strtab.c against a plain array: random puts and deletes of keys
 * from a small pool (so runs collide, wrap around the end and are closed
 * by deletes), every key looked up after each step; a taken key refused;
 * growth keeping every entry; clear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strtab.h"
#include "../unit.h"

typedef struct rec {
	char key[16];
	int in;
} rec;

static const char *key_of(const void *e)
{
	return ((const rec *)e)->key;
}

#define POOL 300

static void check_all(const wire_strtab *t, rec *r, size_t n)
{
	size_t in = 0;
	for (size_t i = 0; i < n; i++) {
		void *got = wire_strtab_get(t, r[i].key);
		ck_assert_ptr_eq(got, r[i].in ? &r[i] : NULL);
		in += r[i].in;
	}
	ck_assert_uint_eq(t->n, in);
	ck_assert_ptr_null(wire_strtab_get(t, "nobody"));
}

START_TEST(against_an_array)
{
	static rec r[POOL];
	wire_strtab t = {.key = key_of};
	for (size_t i = 0; i < POOL; i++) {
		snprintf(r[i].key, sizeof r[i].key, "k%zu", i);
		r[i].in = 0;
	}
	srand(14);
	for (int step = 0; step < 20000; step++) {
		rec *e = &r[(size_t)rand() % POOL];
		if (e->in) {
			wire_strtab_del(&t, e);
			e->in = 0;
		} else {
			ck_assert_int_eq(wire_strtab_put(&t, e), 0);
			e->in = 1;
		}
		if (step % 97 == 0)
			check_all(&t, r, POOL);
		ck_assert_uint_le(2 * t.n, t.cap);
	}
	check_all(&t, r, POOL);
	/* a key taken by another record is refused; the same record is in */
	rec twin;
	memcpy(twin.key, r[0].key, sizeof twin.key);
	if (!r[0].in) {
		ck_assert_int_eq(wire_strtab_put(&t, &r[0]), 0);
		r[0].in = 1;
	}
	ck_assert_int_eq(wire_strtab_put(&t, &twin), -1);
	ck_assert_int_eq(wire_strtab_put(&t, &r[0]), 0);
	ck_assert_ptr_eq(wire_strtab_get(&t, twin.key), &r[0]);
	wire_strtab_del(&t, &twin); /* not in: nothing happens */
	ck_assert_ptr_eq(wire_strtab_get(&t, twin.key), &r[0]);
	check_all(&t, r, POOL);
	wire_strtab_clear(&t);
	for (size_t i = 0; i < POOL; i++)
		r[i].in = 0;
	check_all(&t, r, POOL);
	wire_strtab_free(&t);
	ck_assert_ptr_null(wire_strtab_get(&t, "k1"));
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("strtab");
	tcase_add_test(tc, against_an_array);
	return unit_run("wire_strtab", tc);
}
