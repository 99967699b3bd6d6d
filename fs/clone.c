/*
 * Splits the bytes written to a clone file into requests (clone.h). The
 * scan reads only the bytes added since its last call (its state lives in
 * fs_clone), so `dd bs=1` of a large request costs linear time.
 */
#include "clone.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The length of the complete request in c->pend, 0 while there is none. */
static size_t scan(fs_clone *c)
{
	const char *t = c->pend;
	size_t n = c->len, i = c->scan.off;
	c->scan.off = n;
	if (c->scan.mode == FS_CLONE_UNDECIDED) {
		while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r'))
			i++;
		if (i == n)
			return 0;
		if (t[i] == '\n')
			return i + 1;
		c->scan.mode = t[i] == '{' ? FS_CLONE_JSON : FS_CLONE_TEXT;
	}
	if (c->scan.mode == FS_CLONE_TEXT)
		return 0;
	for (; i < n; i++) {
		char ch = t[i];
		if (c->scan.esc) {
			c->scan.esc = 0;
		} else if (c->scan.in_str) {
			if (ch == '\\')
				c->scan.esc = 1;
			else if (ch == '"')
				c->scan.in_str = 0;
		} else if (ch == '"') {
			c->scan.in_str = 1;
		} else if (ch == '{' || ch == '[') {
			c->scan.depth++;
		} else if ((ch == '}' || ch == ']') && --c->scan.depth == 0) {
			return i + 1;
		}
	}
	return 0;
}

ssize_t fs_clone_add(fs_clone *c, const char *buf, size_t size, size_t cap, int *done)
{
	size_t k = 0;
	*done = 0;
	if (c->after_obj) {
		while (k < size && blank(buf[k]))
			k++;
		if (k == size)
			return (ssize_t)size;
		c->after_obj = 0;
	}
	size_t add = size - k;
	if (c->len + add > cap)
		return -E2BIG;
	char *p = realloc(c->pend, c->len + add + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + c->len, buf + k, add);
	c->pend = p;
	size_t before = c->len;
	c->len += add;
	p[c->len] = '\0';
	size_t end = scan(c);
	if (!end)
		return (ssize_t)size;
	/* The request ends inside this write: the rest is the next one's. */
	c->len = end;
	p[end] = '\0';
	*done = 1;
	return (ssize_t)(k + (end - before));
}

void fs_clone_next(fs_clone *c)
{
	free(c->pend);
	c->pend = NULL;
	c->len = 0;
	memset(&c->scan, 0, sizeof c->scan);
	c->after_obj = 1;
}

void fs_clone_clear(fs_clone *c)
{
	fs_clone_next(c);
	c->after_obj = 0;
}
