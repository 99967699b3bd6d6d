/* srv_jw: see jsonw.h. */
#include "jsonw.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(srv_jw *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
	w->failed = 1;
}

/* Room for n more bytes and the NUL. */
static int room(srv_jw *w, size_t n)
{
	if (w->failed)
		return -1;
	if (n > SRV_JSONW_MAX - w->len) {
		fail(w);
		return -1;
	}
	if (w->len + n + 1 <= w->cap)
		return 0;
	size_t cap = w->cap ? w->cap : 512;
	while (cap < w->len + n + 1)
		cap *= 2;
	char *b = realloc(w->buf, cap);
	if (!b) {
		fail(w);
		return -1;
	}
	w->buf = b;
	w->cap = cap;
	return 0;
}

static void put(srv_jw *w, const char *s, size_t n)
{
	if (room(w, n) != 0)
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

/* A value or key follows something that is not an opening or a key. */
static void comma(srv_jw *w)
{
	if (w->failed || w->len == 0)
		return;
	char c = w->buf[w->len - 1];
	if (c != '{' && c != '[' && c != ':')
		put(w, ",", 1);
}

void srv_jw_open(srv_jw *w, char brace)
{
	comma(w);
	put(w, &brace, 1);
}

void srv_jw_close(srv_jw *w, char brace)
{
	put(w, &brace, 1);
}

/* cJSON's print_string_ptr: '"', '\\' and the bytes below 32 escaped
 * (the five with a short form by it, the rest as \u00xx), all else raw. */
static void quoted(srv_jw *w, const char *s, size_t n)
{
	size_t extra = 2;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
			extra += 1;
		else if (c < 32)
			extra += 5;
	}
	if (room(w, n + extra) != 0)
		return;
	char *o = w->buf + w->len;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > 31 && c != '"' && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '\\': *o++ = '\\'; break;
		case '"': *o++ = '"'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			snprintf(o, 6, "u%04x", c);
			o += 5;
		}
	}
	*o++ = '"';
	*o = '\0';
	w->len = (size_t)(o - w->buf);
}

void srv_jw_key(srv_jw *w, const char *key)
{
	comma(w);
	quoted(w, key, strlen(key));
	put(w, ":", 1);
}

void srv_jw_keyn(srv_jw *w, const char *key, size_t n)
{
	comma(w);
	quoted(w, key, strnlen(key, n));
	put(w, ":", 1);
}

void srv_jw_str(srv_jw *w, const char *s)
{
	comma(w);
	quoted(w, s, strlen(s));
}

/* cJSON's print_number of (double)v: an integer below 1e15 prints its
 * digits under "%1.15g" as under "%lld", which needs no float formatting
 * and no sscanf round trip; a bigger one takes cJSON's own way
 * ("%1.15g", kept if it reads back within DBL_EPSILON, else "%1.17g"). */
void srv_jw_int(srv_jw *w, int64_t v)
{
	char b[32];
	int n;
	comma(w);
	if (v > -1000000000000000LL && v < 1000000000000000LL) {
		n = snprintf(b, sizeof b, "%lld", (long long)v);
	} else {
		double d = (double)v, t = 0;
		n = snprintf(b, sizeof b, "%1.15g", d);
		if (sscanf(b, "%lg", &t) != 1 || !(fabs(t - d) <= fmax(fabs(t), fabs(d)) * DBL_EPSILON))
			n = snprintf(b, sizeof b, "%1.17g", d);
	}
	put(w, b, (size_t)n);
}

void srv_jw_bool(srv_jw *w, int v)
{
	comma(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void srv_jw_kstr(srv_jw *w, const char *key, const char *s)
{
	srv_jw_key(w, key);
	srv_jw_str(w, s);
}

void srv_jw_kint(srv_jw *w, const char *key, int64_t v)
{
	srv_jw_key(w, key);
	srv_jw_int(w, v);
}

void srv_jw_kbool(srv_jw *w, const char *key, int b)
{
	srv_jw_key(w, key);
	srv_jw_bool(w, b);
}

char *srv_jw_take(srv_jw *w, size_t *len)
{
	char *b = w->failed ? NULL : w->buf;
	*len = b ? w->len : 0;
	w->buf = NULL;
	w->len = w->cap = 0;
	return b;
}
