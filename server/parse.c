/*
 * Parsers for outside input of sbxd (see parse.h). Everything here checks
 * ranges and caps before it allocates, so a hostile body costs at most its
 * own size. JSON itself is the codec's (wire/): here only the checks on
 * its text before any parse, and numbers of sbxd's own records.
 */
#include "parse.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, SRV_MSGLEN, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int srv_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	char *end = NULL;
	long long v = strtoll(s, &end, 10);
	if (errno || !end || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Splits "123.45suffix" into a value scaled by `scale` (fractional digits
 * beyond what scale keeps are dropped) and the suffix. */
static int parse_decimal(const char *s, int64_t scale, int64_t *val, const char **suffix)
{
	const char *p = s;
	int64_t whole = 0, frac = 0, fscale = 1;
	int digits = 0;
	if (!isdigit((unsigned char)*p) && *p != '.')
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (whole > (INT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (*p - '0');
		p++;
		digits++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (fscale < 1000000000) {
				frac = frac * 10 + (*p - '0');
				fscale *= 10;
			}
			p++;
			digits++;
		}
	}
	if (!digits)
		return -1;
	if (whole > INT64_MAX / scale)
		return -1;
	*val = whole * scale + (int64_t)((__int128)frac * scale / fscale);
	*suffix = p;
	return 0;
}

int srv_parse_cpu(const char *s, int64_t *millis, char *err)
{
	const char *suf;
	int64_t v;
	if (!s || parse_decimal(s, 1000, &v, &suf) != 0)
		return fail(err, "bad cpu quantity \"%.40s\"", s ? s : "");
	if (strcmp(suf, "m") == 0) {
		v /= 1000;
	} else if (*suf) {
		return fail(err, "bad cpu quantity \"%.40s\" (use cores or millicores like 500m)", s);
	}
	if (v > 1024 * 1000)
		return fail(err, "cpu quantity \"%.40s\" out of range", s);
	*millis = v;
	return 0;
}

int srv_parse_memory(const char *s, int64_t *bytes, char *err)
{
	static const struct {
		const char *suf;
		int64_t mult;
	} units[] = {
		{"", 1}, {"k", 1000}, {"K", 1000}, {"M", 1000000}, {"G", 1000000000LL},
		{"T", 1000000000000LL}, {"Ki", 1LL << 10}, {"Mi", 1LL << 20},
		{"Gi", 1LL << 30}, {"Ti", 1LL << 40},
	};
	const char *suf;
	int64_t milli;
	/* Parse with 3 fraction digits kept, then apply the unit. */
	if (!s || parse_decimal(s, 1000, &milli, &suf) != 0)
		return fail(err, "bad memory quantity \"%.40s\"", s ? s : "");
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(suf, units[i].suf) != 0)
			continue;
		__int128 b = (__int128)milli * units[i].mult / 1000;
		if (b > ((__int128)1 << 50))
			return fail(err, "memory quantity \"%.40s\" out of range", s);
		*bytes = (int64_t)b;
		return 0;
	}
	return fail(err, "bad memory quantity \"%.40s\" (use bytes or Ki Mi Gi, k M G)", s);
}

/* n decimal digits of v, zero-padded, at o. */
static char *put_digits(char *o, long v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		o[i] = (char)('0' + v % 10);
	return o + n;
}

/* By hand rather than gmtime_r + strftime + snprintf (the same text):
 * every process record carries two of these (persist.c). ns > 0 is 1970
 * to 2262, four-digit years. Civil date from days: Howard Hinnant's
 * algorithm, as libsbx's days_from_civil reverses it. */
void srv_format_time(int64_t ns, char *buf, size_t len)
{
	if (ns <= 0) {
		if (len)
			buf[0] = '\0';
		return;
	}
	int64_t sec = ns / 1000000000;
	long frac = (long)(ns % 1000000000);
	long days = (long)(sec / 86400), tod = (long)(sec % 86400);
	long z = days + 719468, era = z / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	long y = yoe + era * 400 + (m <= 2);
	char t[40], *o = t;
	o = put_digits(o, y, 4);
	*o++ = '-';
	o = put_digits(o, m, 2);
	*o++ = '-';
	o = put_digits(o, d, 2);
	*o++ = 'T';
	o = put_digits(o, tod / 3600, 2);
	*o++ = ':';
	o = put_digits(o, tod / 60 % 60, 2);
	*o++ = ':';
	o = put_digits(o, tod % 60, 2);
	if (frac != 0) {
		*o++ = '.';
		if (frac % 1000000 == 0)
			o = put_digits(o, frac / 1000000, 3);
		else if (frac % 1000 == 0)
			o = put_digits(o, frac / 1000, 6);
		else
			o = put_digits(o, frac, 9);
	}
	*o++ = 'Z';
	size_t n = (size_t)(o - t);
	if (!len)
		return;
	if (n >= len) /* cut as snprintf cuts */
		n = len - 1;
	memcpy(buf, t, n);
	buf[n] = '\0';
}

static int digits_n(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int srv_parse_timestamp(const char *s, int64_t *secs, int32_t *nanos)
{
	const char *p = s;
	int Y, M, D, h, m, sec;
	if (!s)
		return -1;
	if (digits_n(&p, 4, &Y) || *p++ != '-' || digits_n(&p, 2, &M) || *p++ != '-' ||
	    digits_n(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits_n(&p, 2, &h) || *p++ != ':' || digits_n(&p, 2, &m) || *p++ != ':' ||
	    digits_n(&p, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	int64_t frac = 0;
	if (*p == '.') {
		p++;
		int n = 0;
		int64_t scale = 100000000;
		while (isdigit((unsigned char)*p)) {
			if (n < 9) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
			n++;
			p++;
		}
		if (!n)
			return -1;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (digits_n(&p, 2, &oh) || *p++ != ':' || digits_n(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p)
		return -1;
	struct tm tm = {0};
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	errno = 0;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 && errno) /* -1 is also 1969-12-31T23:59:59 */
		return -1;
	/* timegm normalizes Feb 31 into March; reject such dates. */
	struct tm back;
	gmtime_r(&t, &back);
	if (back.tm_mday != D && sec != 60)
		return -1;
	*secs = (int64_t)t - off;
	*nanos = (int32_t)frac;
	return 0;
}

int srv_parse_time(const char *s, int64_t *ns)
{
	int64_t secs;
	int32_t nanos;
	/* int64 nanoseconds reach 1677-09-21 .. 2262-04-11. */
	if (srv_parse_timestamp(s, &secs, &nanos) != 0 || secs < INT64_MIN / 1000000000 + 1 ||
	    secs > INT64_MAX / 1000000000 - 1)
		return -1;
	*ns = secs * 1000000000 + nanos;
	return 0;
}

size_t srv_utf8_seq(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;      /* overlong */
		else if (c == 0xed)
			hi = 0x9f;      /* U+D800..U+DFFF, surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;      /* overlong */
		else if (c == 0xf4)
			hi = 0x8f;      /* past U+10FFFF */
	} else {
		return 0;               /* continuation byte, C0/C1, F5..FF */
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

int srv_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = srv_utf8_seq(u + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

size_t srv_utf8_fix(char *s, size_t n)
{
	unsigned char *u = (unsigned char *)s;
	size_t fixed = 0;
	for (size_t i = 0; i < n;) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = srv_utf8_seq(u + i, n - i);
		if (!k) {
			u[i++] = '?';
			fixed++;
			continue;
		}
		i += k;
	}
	return fixed;
}

/* One level of the scanner's stack: an object (its current member name,
 * as raw text) or an array (its current index). */
struct jlevel {
	char kind;        /* '{' or '[' */
	char want_key;    /* object: the next string is a member name */
	size_t idx;
	const char *key;
	size_t klen;
};

/* Appends to b (cap bytes, NUL kept) without cutting a UTF-8 sequence;
 * a path that does not fit ends in "...". */
static void path_add(char *b, size_t cap, const char *s, size_t n)
{
	size_t have = strlen(b);
	if (have + n + 1 > cap) {
		if (have + 4 > cap)
			return;
		size_t room = cap - have - 4, k = 0;
		while (k < n) {
			size_t q = srv_utf8_seq((const unsigned char *)s + k, n - k);
			if (!q || k + q > room)
				break;
			k += q;
		}
		memcpy(b + have, s, k);
		memcpy(b + have + k, "...", 4);
		return;
	}
	memcpy(b + have, s, n);
	b[have + n] = '\0';
}

/* The path of the string being scanned: member names joined with '.',
 * array indexes as [i]; a bad member name names its object. */
static void json_path(const struct jlevel *st, int depth, int in_key, char *out, size_t cap)
{
	out[0] = '\0';
	for (int i = 0; i < depth; i++) {
		const struct jlevel *l = &st[i];
		if (l->kind == '[') {
			char ix[24];
			int k = snprintf(ix, sizeof ix, "[%zu]", l->idx);
			path_add(out, cap, ix, (size_t)k);
		} else if (l->key && !(in_key && i == depth - 1)) {
			if (out[0])
				path_add(out, cap, ".", 1);
			path_add(out, cap, l->key, l->klen);
		}
	}
}

int srv_json_check(const char *s, size_t len, srv_perr *e)
{
	struct jlevel st[SRV_MAX_DEPTH];
	int depth = 0;
	const unsigned char *u = (const unsigned char *)s;
	e->msg[0] = e->field[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = u[i];
		if (c == '{' || c == '[') {
			if (depth >= SRV_MAX_DEPTH) {
				fail(e->msg, "JSON nested deeper than %d", SRV_MAX_DEPTH);
				return -1;
			}
			st[depth++] = (struct jlevel){(char)c, c == '{', 0, NULL, 0};
			continue;
		}
		if (c == '}' || c == ']') {
			if (depth > 0)
				depth--;
			continue;
		}
		if (c == ',' && depth > 0) {
			st[depth - 1].idx++;
			st[depth - 1].want_key = st[depth - 1].kind == '{';
			continue;
		}
		if (c == ':' && depth > 0) {
			st[depth - 1].want_key = 0;
			continue;
		}
		if (c != '"')
			continue;
		int in_key = depth > 0 && st[depth - 1].kind == '{' && st[depth - 1].want_key;
		size_t start = ++i;
		const char *why = NULL;
		for (; i < len && u[i] != '"'; i++) {
			if (u[i] == '\0') {
				why = "contains NUL";
			} else if (u[i] == '\\' && i + 1 < len) {
				/* \u0000 decodes to a NUL that would cut the C string;
				 * cJSON itself refuses unpaired surrogates in escapes. */
				if (u[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
					why = "contains NUL (\\u0000)";
				i++;
			} else if (u[i] >= 0x80) {
				size_t k = srv_utf8_seq(u + i, len - i);
				if (!k)
					why = "is not valid UTF-8";
				else
					i += k - 1;
			}
			if (why) {
				json_path(st, depth, in_key, e->field, sizeof e->field);
				if (in_key)
					fail(e->msg, "a member name in %s %s", e->field[0] ? e->field : "the body", why);
				else
					fail(e->msg, "%s %s", e->field[0] ? e->field : "a string", why);
				return -1;
			}
		}
		if (in_key) {
			st[depth - 1].key = s + start;
			st[depth - 1].klen = i - start;
		}
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One URL component (n raw bytes): %XX decoded (anything else stays as it
 * is, as libmicrohttpd does), then no NUL and UTF-8, checked one decoded
 * sequence at a time. NULL when fine, else what is wrong. */
static const char *uri_part_bad(const char *s, size_t n)
{
	unsigned char seq[4];
	size_t have = 0, want = 0;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		unsigned char c = (unsigned char)s[i];
		if (c == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (l = hexval((unsigned char)s[i + 2])) >= 0) {
			c = (unsigned char)(h << 4 | l);
			i += 2;
		}
		if (c == '\0')
			return "contains NUL (%00)";
		if (have == 0) {
			if (c < 0x80)
				continue;
			want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		}
		seq[have++] = c;
		if (have < want && (c & 0xc0) == (have == 1 ? (c & 0xc0) : 0x80))
			continue;
		if (srv_utf8_seq(seq, have) != have || have != want)
			return "is not valid UTF-8";
		have = 0;
	}
	return have ? "is not valid UTF-8" : NULL;
}

int srv_uri_check(const char *uri, srv_perr *e)
{
	e->msg[0] = e->field[0] = '\0';
	size_t plen = strcspn(uri, "?#");
	const char *why = NULL;
	/* Path segments: /v1/sandboxes/{id}[:verb]/processes/{n}/... */
	int seg = 0;
	for (size_t i = 0; i <= plen && !why;) {
		size_t n = strcspn(uri + i, "/?#");
		if (i + n > plen)
			n = plen - i;
		if ((why = uri_part_bad(uri + i, n)) != NULL) {
			const char *f = seg == 3 ? "sandboxId" : seg == 5 ? "processId" : "url";
			snprintf(e->field, sizeof e->field, "%s", f);
			fail(e->msg, "%s in the URL %s", f, why);
			return -1;
		}
		seg++;
		i += n + 1;
	}
	if (uri[plen] != '?')
		return 0;
	/* Query: k=v pairs split by '&'; the key names the field. */
	for (const char *q = uri + plen + 1; *q && *q != '#';) {
		size_t n = strcspn(q, "&#");
		size_t kl = strcspn(q, "=&#");
		if (kl > n)
			kl = n;
		if ((why = uri_part_bad(q, kl)) != NULL) {
			snprintf(e->field, sizeof e->field, "query");
			fail(e->msg, "a query parameter name %s", why);
			return -1;
		}
		if (kl < n && (why = uri_part_bad(q + kl + 1, n - kl - 1)) != NULL) {
			size_t shown = kl < sizeof e->field - 1 ? kl : sizeof e->field - 1;
			/* The key was checked: valid UTF-8, but it may still hold
			 * escapes; the raw text is what the client sent. */
			while (shown > 0 && shown < kl && ((unsigned char)q[shown] & 0xc0) == 0x80)
				shown--;
			memcpy(e->field, q, shown);
			e->field[shown] = '\0';
			if (!srv_utf8_valid(e->field, shown))
				snprintf(e->field, sizeof e->field, "query");
			fail(e->msg, "query parameter %s %s", e->field, why);
			return -1;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return 0;
}

int srv_double_to_int(double d, int64_t min, int64_t max, int64_t *out)
{
	/* Range first (in doubles, with bounds that are exact), then
	 * integrality: converting an out-of-range double is undefined. */
	if (d != d || d < -9007199254740992.0 || d > 9007199254740992.0)
		return -1;
	if (d != (double)(int64_t)d || (int64_t)d < min || (int64_t)d > max)
		return -1;
	*out = (int64_t)d;
	return 0;
}

int srv_json_int(const struct cJSON *it, int64_t min, int64_t max, int64_t *out)
{
	if (cJSON_IsNumber(it))
		return srv_double_to_int(it->valuedouble, min, max, out);
	if (cJSON_IsString(it))
		return srv_parse_int(it->valuestring, min, max, out);
	return -1;
}

static int valid_chars(const char *s, size_t maxlen)
{
	size_t n = 0;
	if (!s || !*s)
		return 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= maxlen || !(isalnum(c) || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int srv_valid_name(const char *s)
{
	return valid_chars(s, 63) && s[0] != '.';
}

int srv_valid_id(const char *s)
{
	return valid_chars(s, 128);
}

void srv_strv_free(srv_strv *sv)
{
	if (!sv)
		return;
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int srv_strv_push(srv_strv *sv, const char *s)
{
	char **nv = realloc(sv->v, (sv->n + 2) * sizeof *nv);
	if (!nv)
		return -1;
	sv->v = nv;
	nv[sv->n] = strdup(s);
	if (!nv[sv->n])
		return -1;
	sv->n++;
	nv[sv->n] = NULL;
	return 0;
}

void srv_spec_free(srv_spec *sp)
{
	if (!sp)
		return;
	free(sp->name);
	free(sp->image);
	srv_strv_free(&sp->argv);
	srv_strv_free(&sp->env);
	free(sp->working_dir);
	free(sp->cpu);
	free(sp->memory);
	free(sp->pids);
	srv_strv_free(&sp->tags);
	srv_netopts_free(&sp->net);
	for (size_t i = 0; i < sp->nvols; i++) {
		free(sp->vols[i].name);
		free(sp->vols[i].restore_from);
	}
	free(sp->vols);
	for (size_t i = 0; i < sp->nvmounts; i++) {
		free(sp->vmounts[i].volume);
		free(sp->vmounts[i].mount_path);
		free(sp->vmounts[i].sub_path);
	}
	free(sp->vmounts);
	for (size_t i = 0; i < sp->nfiles; i++) {
		free(sp->files[i].path);
		free(sp->files[i].data);
	}
	free(sp->files);
	free(sp->request_id);
	free(sp->pb);
	memset(sp, 0, sizeof *sp);
}

void srv_proc_req_free(srv_proc_req *r)
{
	if (!r)
		return;
	srv_strv_free(&r->argv);
	srv_strv_free(&r->env);
	free(r->cwd);
	free(r->stdin_data);
	free(r->request_id);
	memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------ NetworkOptions */

void srv_netopts_free(srv_netopts *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->negress; i++) {
		free(n->egress[i].dest);
		srv_strv_free(&n->egress[i].except);
		free(n->egress[i].ports);
	}
	free(n->egress);
	memset(n, 0, sizeof *n);
}
