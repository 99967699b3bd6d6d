/*
 * Unit tests of fs/chunk.c: hits inside a chunk, misses around it, keys
 * kept apart, longer chunks replacing shorter ones, and the memory caps
 * with pinned chunks surviving eviction until released; and the fetches
 * in flight: a second reader of bytes being fetched waits for that fetch
 * and finds the chunk, instead of fetching again.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "chunk.h"
#include "../unit.h"

static void *filled(size_t n, char c)
{
	char *p = malloc(n);
	memset(p, c, n);
	return p;
}

static const struct {
	int64_t off;
	size_t max;
	int hit;
	size_t n;
} get_cases[] = {
	{99, 10, 0, 0}, {100, 10, 1, 10}, {100, 1000, 1, 50}, {149, 10, 1, 1}, {150, 10, 0, 0}, {120, 100, 1, 30},
};

START_TEST(test_get_table)
{
	fs_chunk_clear();
	fs_chunk_put(1, 2, 1, 100, filled(50, 'a'), 50, 0);
	const void *p = NULL;
	size_t n = 0;
	fs_chunk *c = fs_chunk_get(1, 2, 1, get_cases[_i].off, get_cases[_i].max, &p, &n);
	ck_assert_int_eq(c != NULL, get_cases[_i].hit);
	if (c) {
		ck_assert_uint_eq(n, get_cases[_i].n);
		ck_assert_int_eq(((const char *)p)[0], 'a');
		fs_chunk_release(c);
	}
	fs_chunk_clear();
}
END_TEST

START_TEST(test_keys_apart)
{
	fs_chunk_clear();
	fs_chunk_put(1, 2, 1, 0, filled(10, 'o'), 10, 0);
	fs_chunk_put(1, 2, 2, 0, filled(10, 'e'), 10, 0);
	fs_chunk_put(1, 3, 1, 0, filled(10, 'x'), 10, 0);
	fs_chunk_put(2, 2, 1, 0, filled(10, 'y'), 10, 0);
	const void *p;
	size_t n;
	const struct {
		uint32_t s;
		int64_t pid;
		int st;
		char c;
	} want[] = {{1, 2, 1, 'o'}, {1, 2, 2, 'e'}, {1, 3, 1, 'x'}, {2, 2, 1, 'y'}};
	for (size_t i = 0; i < 4; i++) {
		fs_chunk *c = fs_chunk_get(want[i].s, want[i].pid, want[i].st, 5, 100, &p, &n);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(((const char *)p)[0], want[i].c);
		ck_assert_uint_eq(n, 5);
		fs_chunk_release(c);
	}
	ck_assert_ptr_null(fs_chunk_get(3, 2, 1, 0, 1, &p, &n));
	fs_chunk_clear();
}
END_TEST

START_TEST(test_longer_replaces)
{
	fs_chunk_clear();
	fs_chunk_put(1, 1, 1, 0, filled(10, 's'), 10, 0);
	fs_chunk_put(1, 1, 1, 0, filled(20, 'l'), 20, 0);
	fs_chunk_put(1, 1, 1, 0, filled(5, 'z'), 5, 0);    /* shorter: dropped */
	const void *p;
	size_t n;
	fs_chunk *c = fs_chunk_get(1, 1, 1, 15, 100, &p, &n);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(((const char *)p)[0], 'l');
	fs_chunk_release(c);
	c = fs_chunk_get(1, 1, 1, 0, 100, &p, &n);
	ck_assert_int_eq(((const char *)p)[0], 'l');
	fs_chunk_release(c);
	fs_chunk_clear();
}
END_TEST

START_TEST(test_caps_and_pins)
{
	fs_chunk_clear();
	size_t big = FS_CHUNK_READ;
	fs_chunk_put(9, 1, 1, 0, filled(big, 'p'), big, 0);
	const void *p;
	size_t n;
	const void *pp;
	fs_chunk *pinned = fs_chunk_get(9, 1, 1, 0, 1, &pp, &n);
	ck_assert_ptr_nonnull(pinned);
	/* Far more than the caps allow, in bytes and in entries. */
	for (int i = 0; i < 3 * FS_CHUNK_CAP_ENTRIES; i++)
		fs_chunk_put(9, 2, 1, (int64_t)i * (int64_t)big, filled(big, 'q'), big, 0);
	int kept = 0;
	for (int i = 0; i < 3 * FS_CHUNK_CAP_ENTRIES; i++) {
		fs_chunk *c = fs_chunk_get(9, 2, 1, (int64_t)i * (int64_t)big, 1, &p, &n);
		if (c) {
			kept++;
			fs_chunk_release(c);
		}
	}
	ck_assert_int_le(kept * (int)(big >> 20), FS_CHUNK_CAP_BYTES >> 20);
	ck_assert_int_ge(kept, 1);
	/* The newest survives; the evicted pinned chunk is still readable. */
	fs_chunk *c = fs_chunk_get(9, 2, 1, (int64_t)(3 * FS_CHUNK_CAP_ENTRIES - 1) * (int64_t)big, 1, &p, &n);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(((const char *)p)[0], 'q');
	fs_chunk_release(c);
	ck_assert_int_eq(((const char *)pp)[0], 'p');
	fs_chunk_release(pinned);
	fs_chunk_clear();
}
END_TEST

START_TEST(test_pool)
{
	fs_chunk_clear();
	/* pooled buffers come back for reuse, through put and eviction */
	void *a = fs_chunk_buf();
	ck_assert_ptr_nonnull(a);
	memset(a, 'x', FS_CHUNK_READ);
	fs_chunk_put(4, 1, 1, 0, a, FS_CHUNK_READ, 1);
	const void *p;
	size_t n;
	fs_chunk *c = fs_chunk_get(4, 1, 1, FS_CHUNK_READ - 1, 10, &p, &n);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(n, 1);
	ck_assert(fs_chunk_end(c) == FS_CHUNK_READ);
	fs_chunk_release(c);
	fs_chunk_clear();
	void *b = fs_chunk_buf();
	ck_assert_ptr_nonnull(b);
	fs_chunk_buf_free(b);
	/* a rejected put still gives the buffer back */
	fs_chunk_put(4, 1, 1, 0, fs_chunk_buf(), 0, 1);
	fs_chunk_clear();
}
END_TEST

START_TEST(test_claim_table)
{
	fs_chunk_clear();
	/* A first claim owns the fetch; a claim inside its range, without
	 * waiting, says "in flight"; another key or a range past it is free. */
	ck_assert_int_eq(fs_chunk_claim(1, 2, 1, 0, 0), 1);
	ck_assert_int_eq(fs_chunk_inflight(), 1);
	ck_assert_int_eq(fs_chunk_claim(1, 2, 1, 0, 0), 0);
	ck_assert_int_eq(fs_chunk_claim(1, 2, 1, FS_CHUNK_READ - 1, 0), 0);
	ck_assert_int_eq(fs_chunk_claim(1, 2, 2, 0, 0), 1);
	ck_assert_int_eq(fs_chunk_claim(1, 2, 1, FS_CHUNK_READ, 0), 1);
	fs_chunk_unclaim(1, 2, 2, 0);
	fs_chunk_unclaim(1, 2, 1, FS_CHUNK_READ);
	/* a waiting claim whose fetch never ends gives up after its wait */
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(fs_chunk_claim(1, 2, 1, 100, 200), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ck_assert_int_ge(ms, 150);
	fs_chunk_unclaim(1, 2, 1, 0);
	ck_assert_int_eq(fs_chunk_inflight(), 0);
	/* cached bytes are never claimed: look in the cache */
	fs_chunk_put(1, 2, 1, 0, filled(100, 'c'), 100, 0);
	ck_assert_int_eq(fs_chunk_claim(1, 2, 1, 50, 0), 0);
	ck_assert_int_eq(fs_chunk_claim(1, 2, 1, 100, 0), 1);
	fs_chunk_unclaim(1, 2, 1, 100);
	fs_chunk_clear();
}
END_TEST

static void *fetcher(void *arg)
{
	/* the prefetch: owns the chunk at 0, brings it 100 ms later */
	(void)arg;
	struct timespec d = {0, 100000000};
	nanosleep(&d, NULL);
	fs_chunk_put(7, 1, 1, 0, filled(4096, 'f'), 4096, 0);
	fs_chunk_unclaim(7, 1, 1, 0);
	return NULL;
}

START_TEST(test_claim_waits_for_fetch)
{
	fs_chunk_clear();
	ck_assert_int_eq(fs_chunk_claim(7, 1, 1, 0, 0), 1);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, fetcher, NULL), 0);
	/* a reader at 1000 misses, claims with a wait: it gets 0 once the
	 * fetch is done, and the chunk is then in the cache */
	const void *p;
	size_t n;
	ck_assert_ptr_null(fs_chunk_get(7, 1, 1, 1000, 10, &p, &n));
	ck_assert_int_eq(fs_chunk_claim(7, 1, 1, 1000, 5000), 0);
	fs_chunk *c = fs_chunk_get(7, 1, 1, 1000, 10, &p, &n);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(((const char *)p)[0], 'f');
	fs_chunk_release(c);
	pthread_join(t, NULL);
	ck_assert_int_eq(fs_chunk_inflight(), 0);
	fs_chunk_clear();
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("chunk");
	tcase_add_loop_test(tc, test_get_table, 0, N(get_cases));
	tcase_add_test(tc, test_keys_apart);
	tcase_add_test(tc, test_longer_replaces);
	tcase_add_test(tc, test_caps_and_pins);
	tcase_add_test(tc, test_pool);
	tcase_add_test(tc, test_claim_table);
	tcase_add_test(tc, test_claim_waits_for_fetch);
	return unit_run("fs_chunk", tc);
}
