/*
 * Helpers shared by libsbx's modules (see util.h): capped buffers, URL
 * escaping, OpenSSL randomness, time and number parsing, error filling.
 */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <sys/random.h>

void sbx_buf_init(sbx_buf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

void sbx_buf_free(sbx_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int buf_reserve(sbx_buf *b, size_t extra)
{
	if (b->max && (extra > b->max || b->len > b->max - extra)) {
		b->overflow = 1;
		return -1;
	}
	if (extra >= SIZE_MAX / 2 - b->len)
		return -1;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int sbx_buf_append(sbx_buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) != 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int sbx_buf_appendf(sbx_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof small)
		return sbx_buf_append(b, small, (size_t)n);
	if (buf_reserve(b, (size_t)n) != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int sbx_buf_append_escaped(sbx_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			if (sbx_buf_append(b, s, 1) != 0)
				return -1;
		} else {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			if (sbx_buf_append(b, e, 3) != 0)
				return -1;
		}
	}
	return 0;
}

/* The kernel's CSPRNG (getrandom, no fd, no blocking once it is seeded)
 * first: OpenSSL's RAND_bytes costs about 6 us a call in its provider
 * and DRBG locking, 9% of sbxfs's user CPU of a mount exec round trip
 * (one request id per start); RAND_bytes where getrandom is missing. */
static int random_bytes(unsigned char *r, size_t n)
{
	ssize_t got;
	do
		got = getrandom(r, n, 0);
	while (got < 0 && errno == EINTR);
	if (got == (ssize_t)n)
		return 0;
	return RAND_bytes(r, (int)n) == 1 ? 0 : -1;
}

int sbx_random_hex(char out[33])
{
	unsigned char r[16];
	static const char hex[] = "0123456789abcdef";
	if (random_bytes(r, sizeof r) != 0)
		return -1;
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[32] = '\0';
	return 0;
}

double sbx_random_unit(void)
{
	uint32_t v = 0;
	if (random_bytes((unsigned char *)&v, sizeof v) != 0)
		return 0.5;
	return (double)v / 4294967296.0;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm), so
 * no timegm/TZ state is touched from library code. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int64_t sbx_parse_time(const char *s)
{
	int y, mo, d, h, mi, se;
	if (!s || !*s)
		return 0;
	const char *p = s;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
		return 0;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return 0;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &se))
		return 0;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return 0;
	int64_t ns = 0;
	if (*p == '.') {
		p++;
		int n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n < 9) {
				ns = ns * 10 + (*p - '0');
				n++;
			}
			p++;
		}
		if (n == 0)
			return 0;
		for (; n < 9; n++)
			ns *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return 0;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return 0;
	}
	if (*p)
		return 0;
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - off;
	if (secs < 0 || secs > INT64_MAX / 1000000000 - 1)
		return 0;
	return secs * 1000000000 + ns;
}

int sbx_parse_i64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s)
		return -1;
	*out = v;
	return 0;
}

int64_t sbx_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sbx_sleep_ms(long ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int sbx_id_ok(const char *id)
{
	return id && *id && strlen(id) <= SBX_MAX_ID;
}

sbx_result sbx_check_sandbox_id(const char *id, sbx_error *err)
{
	return sbx_id_ok(id) ? SBX_OK : sbx_fail(err, SBX_E_INVALID, "bad sandbox id");
}

char *sbx_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void sbx_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

char **sbx_strv_dup(const char *const *v, size_t *n)
{
	size_t k = 0;
	while (v && v[k])
		k++;
	char **r = calloc(k + 1, sizeof *r);
	if (!r)
		return NULL;
	for (size_t i = 0; i < k; i++) {
		r[i] = strdup(v[i]);
		if (!r[i]) {
			sbx_strv_free(r);
			return NULL;
		}
	}
	if (n)
		*n = k;
	return r;
}

sbx_result sbx_fail(sbx_error *err, sbx_result code, const char *fmt, ...)
{
	if (!err)
		return code;
	sbx_error_clear(err);
	err->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return code;
}

void sbx_error_clear(sbx_error *err)
{
	if (!err)
		return;
	memset(err, 0, sizeof *err);
	err->retry_delay_ms = -1;
}
