/*
 * Parsers for outside input of sbxd (see parse.h). Everything here checks
 * ranges and caps before it allocates, so a hostile body costs at most its
 * own size; cJSON does the JSON, this file only walks the tree it builds.
 */
#include "parse.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* A valid field that sbxd cannot honour: 501, never silently dropped. */
static int unsupported(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int unsupported(char *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, SRV_MSGLEN, fmt, ap);
		va_end(ap);
	}
	return SRV_PARSE_UNSUPPORTED;
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

void srv_format_time(int64_t ns, char *buf, size_t len)
{
	if (ns <= 0) {
		if (len)
			buf[0] = '\0';
		return;
	}
	time_t sec = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char base[40];
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac == 0)
		snprintf(buf, len, "%sZ", base);
	else if (frac % 1000000 == 0)
		snprintf(buf, len, "%s.%03ldZ", base, frac / 1000000);
	else if (frac % 1000 == 0)
		snprintf(buf, len, "%s.%06ldZ", base, frac / 1000);
	else
		snprintf(buf, len, "%s.%09ldZ", base, frac);
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

int srv_parse_time(const char *s, int64_t *ns)
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
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	/* timegm normalizes Feb 31 into March; reject such dates. */
	struct tm back;
	gmtime_r(&t, &back);
	if (back.tm_mday != D && sec != 60)
		return -1;
	*ns = ((int64_t)t - off) * 1000000000 + frac;
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

cJSON *srv_json_parse(const char *body, size_t len, srv_perr *e)
{
	char *err = e->msg;
	e->field[0] = '\0';
	if (srv_json_check(body, len, e) != 0)
		return NULL;
	if (len == 0) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			fail(err, "out of memory");
		return o;
	}
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!root) {
		fail(err, "bad JSON near byte %zu", end && end >= body ? (size_t)(end - body) : (size_t)0);
		return NULL;
	}
	/* Only whitespace may follow the value. */
	for (const char *p = end; p && p < body + len; p++) {
		if (!isspace((unsigned char)*p) && *p != '\0') {
			cJSON_Delete(root);
			fail(err, "trailing bytes after the JSON value");
			return NULL;
		}
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		fail(err, "the body must be a JSON object");
		return NULL;
	}
	return root;
}

/* ------------------------------------------------------ NetworkOptions */

/* The schema's field names, per message: anything else is a typo or a
 * field of a newer schema, and a policy must never be half-read. */
static int only_fields(const cJSON *obj, const char *const *names, const char *where, char *err)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		size_t i = 0;
		while (names[i] && strcmp(names[i], it->string) != 0)
			i++;
		if (!names[i])
			return fail(err, "%s: unknown field \"%.40s\"", where, it->string);
	}
	return 0;
}

static int present(const cJSON *it)
{
	return it && !cJSON_IsNull(it);
}

/* "a.b.c/n" or "x:y::/n" with no host bits set, into its canonical text. */
static int parse_cidr(const char *s, int *family, unsigned char addr[16], int *plen, char *canon, size_t clen)
{
	char host[64];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof host || !slash[1])
		return -1;
	memcpy(host, s, (size_t)(slash - s));
	host[slash - s] = '\0';
	int64_t n;
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, host, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		*family = AF_INET6;
	else
		return -1;
	int bits = *family == AF_INET ? 32 : 128;
	for (const char *p = slash + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	if (srv_parse_int(slash + 1, 0, bits, &n) != 0)
		return -1;
	*plen = (int)n;
	for (int b = *plen; b < bits; b++)
		if (addr[b / 8] & (0x80 >> (b % 8)))
			return -2; /* host bits set */
	char txt[INET6_ADDRSTRLEN];
	if (!inet_ntop(*family, addr, txt, sizeof txt))
		return -1;
	snprintf(canon, clen, "%s/%d", txt, *plen);
	return 0;
}

static int cidr_inside(int fa, const unsigned char *a, int alen, int fb, const unsigned char *b, int blen)
{
	if (fa != fb || blen < alen)
		return 0;
	for (int i = 0; i < alen; i++)
		if ((a[i / 8] ^ b[i / 8]) & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

static int parse_cidr_field(const cJSON *it, const char *where, int *fam, unsigned char addr[16], int *plen,
                            char *canon, size_t clen, char *err)
{
	if (!cJSON_IsString(it))
		return fail(err, "%s must be a CIDR string like \"10.0.0.0/8\"", where);
	int rc = parse_cidr(it->valuestring, fam, addr, plen, canon, clen);
	if (rc == -2)
		return fail(err, "%s \"%.64s\" has bits set past the prefix length", where, it->valuestring);
	if (rc != 0)
		return fail(err, "%s \"%.64s\" is not a CIDR like \"10.0.0.0/8\" or \"2001:db8::/32\"", where,
		            it->valuestring);
	return 0;
}

/* A DNS name as RFC 1123 has it: labels of letters, digits and '-'. */
static int valid_dns_name(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-') || (label == 0 && c == '-') || ++label > 63)
			return 0;
	}
	return label == 0 || s[n - 1] != '-';
}

static int parse_ports(const cJSON *arr, const char *where, srv_egress_rule *r, char *err)
{
	static const char *const fields[] = {"protocol", "port", "endPort", NULL};
	char w[96];
	if (!present(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return fail(err, "%s.ports must be an array of PortRange", where);
	int n = cJSON_GetArraySize(arr);
	if (n > SRV_MAX_PORTS)
		return fail(err, "%s.ports has more than %d entries", where, SRV_MAX_PORTS);
	if (n == 0)
		return 0;
	r->ports = calloc((size_t)n, sizeof *r->ports);
	if (!r->ports)
		return fail(err, "out of memory");
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		srv_port_range *p = &r->ports[r->nports];
		snprintf(w, sizeof w, "%s.ports[%zu]", where, r->nports);
		if (!cJSON_IsObject(it))
			return fail(err, "%s must be an object", w);
		if (only_fields(it, fields, w, err))
			return -1;
		const cJSON *proto = cJSON_GetObjectItemCaseSensitive(it, "protocol");
		/* As Kubernetes' NetworkPolicyPort: no protocol means TCP. */
		p->proto = SRV_PORT_TCP;
		if (present(proto)) {
			if (!cJSON_IsString(proto))
				return fail(err, "%s.protocol must be a string", w);
			if (strcasecmp(proto->valuestring, "UDP") == 0)
				p->proto = SRV_PORT_UDP;
			else if (strcasecmp(proto->valuestring, "SCTP") == 0)
				return unsupported(err, "%s.protocol SCTP is not supported by sbxd (TCP, UDP)", w);
			else if (*proto->valuestring && strcasecmp(proto->valuestring, "TCP") != 0)
				return fail(err, "%s.protocol \"%.16s\" is not TCP or UDP", w, proto->valuestring);
		}
		int64_t v;
		const cJSON *port = cJSON_GetObjectItemCaseSensitive(it, "port");
		if (!present(port) || srv_json_int(port, 1, 65535, &v) != 0)
			return fail(err, "%s.port is required, an integer 1..65535", w);
		p->port = p->end_port = (int32_t)v;
		const cJSON *end = cJSON_GetObjectItemCaseSensitive(it, "endPort");
		if (present(end)) {
			if (srv_json_int(end, 0, 65535, &v) != 0 || (v != 0 && v < p->port))
				return fail(err, "%s.endPort must be an integer port..65535", w);
			if (v)
				p->end_port = (int32_t)v;
		}
		r->nports++;
	}
	return 0;
}

static int parse_rule(const cJSON *it, const char *where, srv_egress_rule *r, char *err)
{
	static const char *const fields[] = {"cidr", "dnsName", "tenant", "any", "selector", "ports", NULL};
	static const char *const cidr_fields[] = {"cidr", "except", NULL};
	char w[96];
	if (!cJSON_IsObject(it))
		return fail(err, "%s must be an EgressRule object", where);
	if (only_fields(it, fields, where, err))
		return -1;
	const cJSON *cidr = cJSON_GetObjectItemCaseSensitive(it, "cidr");
	const cJSON *dns = cJSON_GetObjectItemCaseSensitive(it, "dnsName");
	const cJSON *any = cJSON_GetObjectItemCaseSensitive(it, "any");
	const cJSON *tenant = cJSON_GetObjectItemCaseSensitive(it, "tenant");
	const cJSON *sel = cJSON_GetObjectItemCaseSensitive(it, "selector");
	int given = present(cidr) + present(dns) + present(any) + present(tenant) + present(sel);
	if (given > 1)
		return fail(err, "%s: cidr, dnsName, tenant, any and selector are one choice (a oneof): give one", where);
	if (present(tenant))
		return unsupported(err, "%s.tenant is not supported by sbxd (use cidr, dnsName or any)", where);
	if (present(sel))
		return unsupported(err, "%s.selector is not supported by sbxd (use cidr, dnsName or any)", where);
	if (present(any)) {
		if (!cJSON_IsBool(any))
			return fail(err, "%s.any must be true or false", where);
		if (!cJSON_IsTrue(any))
			return fail(err, "%s.any is false: give \"any\": true, a cidr or a dnsName", where);
		r->kind = SRV_EGRESS_ANY;
	} else if (present(dns)) {
		if (!cJSON_IsString(dns))
			return fail(err, "%s.dnsName must be a string", where);
		if (strchr(dns->valuestring, '*'))
			return unsupported(err, "%s.dnsName \"%.64s\": wildcards are not supported by sbxd (it resolves "
			                     "the name when the sandbox is created)", where, dns->valuestring);
		if (!valid_dns_name(dns->valuestring))
			return fail(err, "%s.dnsName \"%.64s\" is not a DNS name", where, dns->valuestring);
		r->kind = SRV_EGRESS_DNS;
		if (!(r->dest = strdup(dns->valuestring)))
			return fail(err, "out of memory");
	} else if (present(cidr)) {
		snprintf(w, sizeof w, "%s.cidr", where);
		if (!cJSON_IsObject(cidr))
			return fail(err, "%s must be a CidrBlock object {\"cidr\": \"10.0.0.0/8\"}", w);
		if (only_fields(cidr, cidr_fields, w, err))
			return -1;
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(cidr, "cidr");
		char ww[112], canon[INET6_ADDRSTRLEN + 8];
		unsigned char a[16], b[16];
		int fa, la, fb, lb;
		snprintf(ww, sizeof ww, "%s.cidr", w);
		if (!present(c))
			return fail(err, "%s is required", ww);
		if (parse_cidr_field(c, ww, &fa, a, &la, canon, sizeof canon, err))
			return -1;
		r->kind = SRV_EGRESS_CIDR;
		if (!(r->dest = strdup(canon)))
			return fail(err, "out of memory");
		const cJSON *ex = cJSON_GetObjectItemCaseSensitive(cidr, "except");
		if (present(ex)) {
			if (!cJSON_IsArray(ex))
				return fail(err, "%s.except must be an array of CIDR strings", w);
			if (cJSON_GetArraySize(ex) > SRV_MAX_EXCEPT)
				return fail(err, "%s.except has more than %d entries", w, SRV_MAX_EXCEPT);
			const cJSON *e;
			size_t i = 0;
			cJSON_ArrayForEach(e, ex) {
				snprintf(ww, sizeof ww, "%s.except[%zu]", w, i++);
				if (parse_cidr_field(e, ww, &fb, b, &lb, canon, sizeof canon, err))
					return -1;
				if (!cidr_inside(fa, a, la, fb, b, lb))
					return fail(err, "%s \"%.64s\" is not inside %s", ww, e->valuestring, r->dest);
				if (srv_strv_push(&r->except, canon) != 0)
					return fail(err, "out of memory");
			}
		}
	} else {
		return fail(err, "%s needs a destination: cidr, dnsName or \"any\": true", where);
	}
	return parse_ports(cJSON_GetObjectItemCaseSensitive(it, "ports"), where, r, err);
}

static int get_opt_bool(const cJSON *obj, const char *key, const char *prefix, int *val, int *set, char *err)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	*val = *set = 0;
	if (!present(it))
		return 0;
	if (!cJSON_IsBool(it))
		return fail(err, "%s.%s must be true or false", prefix, key);
	*val = cJSON_IsTrue(it);
	*set = 1;
	return 0;
}

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

int srv_parse_netopts(const cJSON *net, const char *prefix, srv_netopts *out, char *err)
{
	static const char *const fields[] = {"ingress", "egress", "denyEgress", "denyIngress", NULL};
	char w[64];
	int rc = -1;
	memset(out, 0, sizeof *out);
	if (!present(net))
		return 0;
	if (!cJSON_IsObject(net))
		return fail(err, "%s must be a NetworkOptions object", prefix);
	out->given = 1;
	if (only_fields(net, fields, prefix, err))
		goto out;
	const cJSON *in = cJSON_GetObjectItemCaseSensitive(net, "ingress");
	if (present(in) && !cJSON_IsArray(in)) {
		fail(err, "%s.ingress must be an array of IngressRule", prefix);
		goto out;
	}
	if (present(in) && cJSON_GetArraySize(in) > 0) {
		/* Nothing outside can open a connection into a sandbox here. */
		rc = unsupported(err, "%s.ingress is not supported by sbxd (sandboxes accept no inbound connections)",
		                 prefix);
		goto out;
	}
	if (get_opt_bool(net, "denyEgress", prefix, &out->deny_egress, &out->deny_egress_set, err) ||
	    get_opt_bool(net, "denyIngress", prefix, &out->deny_ingress, &out->deny_ingress_set, err))
		goto out;
	const cJSON *eg = cJSON_GetObjectItemCaseSensitive(net, "egress");
	if (present(eg)) {
		if (!cJSON_IsArray(eg)) {
			fail(err, "%s.egress must be an array of EgressRule (e.g. [{\"any\": true}])", prefix);
			goto out;
		}
		int n = cJSON_GetArraySize(eg);
		if (n > SRV_MAX_EGRESS) {
			fail(err, "%s.egress has more than %d rules", prefix, SRV_MAX_EGRESS);
			goto out;
		}
		if (n > 0 && !(out->egress = calloc((size_t)n, sizeof *out->egress))) {
			fail(err, "out of memory");
			goto out;
		}
		const cJSON *it;
		cJSON_ArrayForEach(it, eg) {
			snprintf(w, sizeof w, "%s.egress[%zu]", prefix, out->negress);
			int r = parse_rule(it, w, &out->egress[out->negress], err);
			out->negress++; /* counted even half-made, so free sees it */
			if (r != 0) {
				rc = r;
				goto out;
			}
		}
	}
	if (out->deny_egress && out->negress) {
		fail(err, "%s.denyEgress is true but %s.egress has rules: give one or the other", prefix, prefix);
		goto out;
	}
	rc = 0;
out:
	if (rc)
		srv_netopts_free(out);
	return rc;
}

static int b64_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int srv_b64_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen)
{
	while (slen && s[slen - 1] == '=')
		slen--;
	if (slen % 4 == 1)
		return -1;
	unsigned char *buf = malloc(slen / 4 * 3 + 3);
	if (!buf)
		return -1;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < slen; i++) {
		int v = b64_val((unsigned char)s[i]);
		if (v < 0) {
			free(buf);
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char)(acc >> bits);
		}
	}
	*out = buf;
	*outlen = n;
	return 0;
}

char *srv_b64_encode(const unsigned char *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((n + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

/* Copies one path segment [start, end) into dst if it is a valid id. */
static int take_id(const char *start, size_t len, char *dst, size_t cap)
{
	if (len == 0 || len >= cap)
		return -1;
	memcpy(dst, start, len);
	dst[len] = '\0';
	return srv_valid_id(dst) ? 0 : -1;
}

int srv_parse_route(const char *method, const char *path, srv_route *out)
{
	memset(out, 0, sizeof *out);
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;
	int del = strcmp(method, "DELETE") == 0;
	if (strcmp(path, "/v1/extensions") == 0) {
		out->kind = get ? R_EXTENSIONS : R_NONE;
		return get ? 0 : -1;
	}
	if (strcmp(path, "/v1/images") == 0) {
		out->kind = get ? R_IMAGES : R_NONE;
		return get ? 0 : -1;
	}
	static const char pre[] = "/v1/sandboxes";
	if (strncmp(path, pre, sizeof pre - 1) != 0)
		return -1;
	const char *p = path + sizeof pre - 1;
	if (*p == '\0' || (p[0] == '/' && p[1] == '\0')) {
		if (!get && !post)
			return -1;
		out->kind = R_SANDBOXES;
		return 0;
	}
	if (*p != '/')
		return -1;
	p++;
	size_t idlen = strcspn(p, ":/");
	if (take_id(p, idlen, out->id, sizeof out->id) != 0)
		return -1;
	p += idlen;
	if (*p == '\0') {
		if (!get && !del)
			return -1;
		out->kind = R_SANDBOX;
		return 0;
	}
	if (*p == ':') {
		static const struct {
			const char *verb;
			srv_route_kind kind;
			int post;
		} verbs[] = {
			{"exec", R_EXEC, 1}, {"readFile", R_READ_FILE, 0}, {"writeFile", R_WRITE_FILE, 1},
			{"listDir", R_LIST_DIR, 0}, {"statFile", R_STAT_FILE, 0}, {"makeDir", R_MAKE_DIR, 1},
			{"removeFile", R_REMOVE_FILE, 1}, {"createFile", R_CREATE_FILE, 1},
			{"setFileAttrs", R_SET_FILE_ATTRS, 1}, {"renameFile", R_RENAME_FILE, 1},
			{"createSymlink", R_CREATE_SYMLINK, 1}, {"linkFile", R_LINK_FILE, 1},
			{"makeNode", R_MAKE_NODE, 1}, {"statFileSystem", R_STAT_FILE_SYSTEM, 0},
			{"getXattr", R_GET_XATTR, 0}, {"listXattrs", R_LIST_XATTRS, 0},
			{"setXattr", R_SET_XATTR, 1}, {"removeXattr", R_REMOVE_XATTR, 1},
			{"readFileRange", R_READ_FILE_RANGE, 0}, {"writeFileAt", R_WRITE_FILE_AT, 1},
		};
		for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
			if (strcmp(p + 1, verbs[i].verb) == 0) {
				if (verbs[i].post ? !post : !get)
					return -1;
				out->kind = verbs[i].kind;
				return 0;
			}
		}
		return -1;
	}
	p++; /* '/' */
	if (strcmp(p, "stdout") == 0 || strcmp(p, "stderr") == 0) {
		if (!get)
			return -1;
		out->kind = R_MAIN_OUTPUT;
		out->stream = p[3] == 'o' ? 1 : 2;
		return 0;
	}
	static const char procs[] = "processes";
	if (strncmp(p, procs, sizeof procs - 1) != 0)
		return -1;
	p += sizeof procs - 1;
	if (*p == '\0' || (p[0] == '/' && p[1] == '\0')) {
		if (!get && !post)
			return -1;
		out->kind = R_PROCESSES;
		return 0;
	}
	if (*p != '/')
		return -1;
	p++;
	size_t nlen = strcspn(p, ":/");
	char num[24];
	if (nlen == 0 || nlen >= sizeof num)
		return -1;
	memcpy(num, p, nlen);
	num[nlen] = '\0';
	if (srv_parse_int(num, 1, INT32_MAX, &out->proc) != 0)
		return -1;
	p += nlen;
	if (*p == '\0') {
		if (!get)
			return -1;
		out->kind = R_PROCESS;
		return 0;
	}
	if (strcmp(p, ":signal") == 0 && post) {
		out->kind = R_PROC_SIGNAL;
		return 0;
	}
	if ((strcmp(p, "/stdout") == 0 || strcmp(p, "/stderr") == 0) && get) {
		out->kind = R_PROC_OUTPUT;
		out->stream = p[4] == 'o' ? 1 : 2;
		return 0;
	}
	if (strcmp(p, "/stdin") == 0 && post) {
		out->kind = R_PROC_STDIN;
		return 0;
	}
	if (strcmp(p, "/stdin:close") == 0 && post) {
		out->kind = R_PROC_STDIN_CLOSE;
		return 0;
	}
	out->kind = R_NONE;
	return -1;
}
