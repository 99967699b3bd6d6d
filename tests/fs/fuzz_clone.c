/*
 * Fuzz target for the clone files' write protocol (fs/clone.c): the bytes
 * written to `new` and `exec/new` are cut into requests. The promise
 * checked is the one docs/filesystem.md makes: what a request is depends
 * only on the bytes, never on how they were cut into writes. The input is
 * fed once whole and once in pieces whose sizes the first byte seeds; both
 * must give the same requests and the same pending rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP (1u << 20)

/* Feeds t in pieces; returns the requests joined with a 0xff byte after
 * each one, then 0xfe and what is still pending. */
static char *feed(const char *t, size_t n, unsigned seed, size_t *outlen)
{
	fs_clone c;
	memset(&c, 0, sizeof c);
	size_t cap = 2 * n + 16, len = 0;
	char *out = malloc(cap);
	if (!out)
		abort();
	size_t at = 0;
	while (at < n) {
		size_t piece = seed ? 1 + (seed * (at + 7) % 13) : n - at;
		if (piece > n - at)
			piece = n - at;
		const char *b = t + at;
		size_t left = piece;
		while (left > 0) {
			int done;
			ssize_t k = fs_clone_add(&c, b, left, CAP, &done);
			if (k <= 0 || (size_t)k > left)
				abort();
			if (done) {
				if (c.len == 0 || c.len + 1 > cap - len)
					abort();
				memcpy(out + len, c.pend, c.len);
				len += c.len;
				out[len++] = (char)0xff;
				fs_clone_next(&c);
			}
			b += k;
			left -= (size_t)k;
		}
		at += piece;
	}
	out[len++] = (char)0xfe;
	if (c.len) {
		memcpy(out + len, c.pend, c.len);
		len += c.len;
	}
	fs_clone_clear(&c);
	*outlen = len;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	unsigned seed = 1 + data[0];
	const char *t = (const char *)data + 1;
	size_t n = size - 1;
	size_t la, lb, lc;
	char *a = feed(t, n, 0, &la);
	char *b = feed(t, n, seed, &lb);
	char *c = feed(t, n, 1, &lc); /* byte by byte, as dd bs=1 writes */
	if (la != lb || memcmp(a, b, la) != 0 || la != lc || memcmp(a, c, la) != 0)
		abort();
	free(a);
	free(b);
	free(c);
	return 0;
}
