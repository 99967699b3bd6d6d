/*
 * The proto3 JSON codec over protobuf-c descriptors (json.h says what it
 * promises). Decoding: the text is scanned once for what cJSON would let
 * through (raw NUL, \u0000 that would cut a C string, invalid UTF-8,
 * nesting past the cap), parsed by cJSON, then walked against the
 * descriptor with the JSON path kept for errors. Encoding writes text
 * straight into a capped buffer. The generated structs are reached only by
 * the descriptors' offsets, with the element types protobuf-c documents per
 * field type; decoded parts are malloc'd, as protobuf-c's own unpacker does,
 * so protobuf_c_message_free_unpacked frees them.
 */
#include "json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const wire_caps wire_caps_default = {
	.max_bytes = 32u << 20,
	.max_depth = 32,
	.max_items = 4096,
	.max_string = 24u << 20,
};

/* Timestamp and Duration limits of the well-known types' definitions:
 * 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, and +-10000 years. */
#define TS_MIN_SEC (-62135596800LL)
#define TS_MAX_SEC 253402300799LL
#define DUR_MAX_SEC 315576000000LL
#define NAME_MAX_LEN 128

static const char *wkt_name(const ProtobufCMessageDescriptor *d)
{
	return d->name;
}

static int is_wkt(const ProtobufCMessageDescriptor *d, const char *name)
{
	return strcmp(wkt_name(d), name) == 0;
}

/* ------------------------------------------------------------ helpers */

void wire_json_name(const char *proto_name, char *out, size_t cap)
{
	size_t k = 0;
	int up = 0;
	if (!cap)
		return;
	for (const char *p = proto_name; *p && k + 1 < cap; p++) {
		if (*p == '_') {
			up = 1;
			continue;
		}
		out[k++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		up = 0;
	}
	out[k] = '\0';
}

void wire_message_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

static ProtobufCMessage *msg_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);
	if (m)
		d->message_init(m);
	return m;
}

static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

int wire_utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq((const unsigned char *)s + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

/* Outside text quoted in an error message: at most cap - 4 bytes, never
 * half a UTF-8 sequence, bytes that are not UTF-8 as '?', "..." when cut,
 * so that the message itself is always valid in a JSON error body. */
static const char *clip_to(char *buf, size_t cap, const char *s)
{
	size_t k = 0, n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t q = utf8_seq((const unsigned char *)s + i, n - i);
		if (k + (q ? q : 1) > cap - 4) {
			memcpy(buf + k, "...", 3);
			k += 3;
			break;
		}
		if (!q) {
			buf[k++] = '?';
			i++;
			continue;
		}
		memcpy(buf + k, s + i, q);
		k += q;
		i += q;
	}
	buf[k] = '\0';
	return buf;
}

/* A message cut by vsnprintf may end inside a UTF-8 sequence: drop it. */
static void utf8_trim(char *s)
{
	size_t n = strlen(s), i = n;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && n - i < 3)
		i--;
	if (i > 0 && (unsigned char)s[i - 1] >= 0x80) {
		i--;
		if (utf8_seq((unsigned char *)s + i, n - i) != n - i)
			s[i] = '\0';
	}
}

/* Map entries are the repeated nested FooEntry messages protoc makes for
 * `map<K, V> foo`: that name, nested in the parent, fields key=1 value=2. */
static int is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return 0;
	const ProtobufCMessageDescriptor *e = f->descriptor;
	char want[NAME_MAX_LEN + 8];
	wire_json_name(f->name, want, sizeof want - 8);
	if (want[0] >= 'a' && want[0] <= 'z')
		want[0] = (char)(want[0] - 'a' + 'A');
	size_t wl = strlen(want);
	memcpy(want + wl, "Entry", 6);
	size_t pl = strlen(parent->name);
	return e->n_fields == 2 && e->fields[0].id == 1 && e->fields[1].id == 2 &&
	       strcmp(e->fields[0].name, "key") == 0 && strcmp(e->fields[1].name, "value") == 0 &&
	       strcmp(e->short_name, want) == 0 && strncmp(e->name, parent->name, pl) == 0 &&
	       e->name[pl] == '.' && strcmp(e->name + pl + 1, want) == 0;
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

#define MEMBER(m, off) ((void *)((char *)(m) + (off)))
#define CMEMBER(m, off) ((const void *)((const char *)(m) + (off)))

/* ------------------------------------------------------------ base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(unsigned char c)
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

/* Standard or URL-safe, padded or not (as protobuf's parsers accept). */
static int b64_decode(const char *s, size_t n, uint8_t **out, size_t *olen)
{
	size_t pad = 0;
	while (n && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n % 4 == 1 || (pad && (n + pad) % 4 != 0))
		return -1;
	uint8_t *b = malloc(n / 4 * 3 + 3);
	if (!b)
		return -ENOMEM;
	size_t k = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0) {
			free(b);
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b[k++] = (uint8_t)(acc >> bits);
		}
	}
	*out = b;
	*olen = k;
	return 0;
}

/* ------------------------------------------------------------ output */

struct wbuf {
	char *p;
	size_t len, cap, max;
	int rc;         /* first failure: -E2BIG, -ENOMEM, -EINVAL */
	wire_err *err;
	char path[WIRE_FIELDLEN];
};

static void put(struct wbuf *w, const char *s, size_t n)
{
	if (w->rc)
		return;
	if (n > w->max - w->len || w->len + n + 1 > w->max) {
		w->rc = -E2BIG;
		snprintf(w->err->msg, sizeof w->err->msg, "the JSON text would pass %zu bytes", w->max);
		return;
	}
	if (w->len + n + 1 > w->cap) {
		size_t nc = w->cap ? w->cap : 256;
		while (nc < w->len + n + 1)
			nc *= 2;
		if (nc > w->max)
			nc = w->max;
		char *np = realloc(w->p, nc);
		if (!np) {
			w->rc = -ENOMEM;
			snprintf(w->err->msg, sizeof w->err->msg, "out of memory");
			return;
		}
		w->p = np;
		w->cap = nc;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void puts_(struct wbuf *w, const char *s)
{
	put(w, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void wfail(struct wbuf *w, const char *fmt, ...)
{
	if (w->rc)
		return;
	w->rc = -EINVAL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->err->msg, sizeof w->err->msg, fmt, ap);
	va_end(ap);
	utf8_trim(w->err->msg);
	snprintf(w->err->field, sizeof w->err->field, "%s", w->path);
}

/* A JSON string; the bytes must be UTF-8 (a string field's contract). */
static void put_str(struct wbuf *w, const char *s, size_t n)
{
	if (!wire_utf8_valid(s, n)) {
		wfail(w, "%s is not valid UTF-8", w->path[0] ? w->path : "a string");
		return;
	}
	put(w, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[8];
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c == '\b')
			esc = "\\b";
		else if (c == '\f')
			esc = "\\f";
		else if (c < 0x20) {
			snprintf(u, sizeof u, "\\u%04x", c);
			esc = u;
		}
		if (!esc)
			continue;
		put(w, s + run, i - run);
		puts_(w, esc);
		run = i + 1;
	}
	put(w, s + run, n - run);
	put(w, "\"", 1);
}

static void put_b64(struct wbuf *w, const uint8_t *d, size_t n)
{
	char q[4];
	put(w, "\"", 1);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		q[0] = b64[v >> 18 & 63];
		q[1] = b64[v >> 12 & 63];
		q[2] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		put(w, q, 4);
	}
	put(w, "\"", 1);
}

/* The shortest text that reads back as the same value (proto3 JSON's
 * rule); NaN and the infinities are strings. */
static void put_double(struct wbuf *w, double d, int is_float)
{
	char t[40];
	if (isnan(d)) {
		puts_(w, "\"NaN\"");
		return;
	}
	if (isinf(d)) {
		puts_(w, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
		snprintf(t, sizeof t, "%.*g", prec, d);
		double back = strtod(t, NULL);
		if (is_float ? (float)back == (float)d : back == d)
			break;
	}
	puts_(w, t);
}

/* Decimal digits of v at t (at least 21 bytes), their count: the encoder
 * writes a number per field and the decoder a path per array element,
 * 10^5 of each for a large listing, where vsnprintf was a tenth of
 * sbxd's time. */
static size_t u64_text(char *t, uint64_t v)
{
	char r[20];
	size_t k = 0;
	do {
		r[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < k; i++)
		t[i] = r[k - 1 - i];
	t[k] = '\0';
	return k;
}

static size_t i64_text(char *t, int64_t v)
{
	if (v >= 0)
		return u64_text(t, (uint64_t)v);
	t[0] = '-';
	return 1 + u64_text(t + 1, (uint64_t)0 - (uint64_t)v);
}

/* "[i]", an array element's part of a field path; t: at least 24 bytes. */
static size_t index_text(char *t, size_t i)
{
	t[0] = '[';
	size_t k = 1 + u64_text(t + 1, (uint64_t)i);
	t[k++] = ']';
	t[k] = '\0';
	return k;
}

/* v as JSON: bare, or quoted (int64 and uint64, as proto3 JSON writes them). */
static void put_int(struct wbuf *w, int64_t v, int quoted)
{
	char t[24];
	size_t k = 0;
	if (quoted)
		t[k++] = '"';
	k += i64_text(t + k, v);
	if (quoted)
		t[k++] = '"';
	put(w, t, k);
}

static void put_uint(struct wbuf *w, uint64_t v, int quoted)
{
	char t[24];
	size_t k = 0;
	if (quoted)
		t[k++] = '"';
	k += u64_text(t + k, v);
	if (quoted)
		t[k++] = '"';
	put(w, t, k);
}

static void put_num(struct wbuf *w, const char *fmt_q, ...)
	__attribute__((format(printf, 2, 3)));
static void put_num(struct wbuf *w, const char *fmt, ...)
{
	char t[48];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t, sizeof t, fmt, ap);
	va_end(ap);
	puts_(w, t);
}

/* Civil date from days since 1970-01-01 (H. Hinnant's algorithm): exact
 * for every year 1..9999, unlike gmtime on 32-bit time_t. */
static void civil(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* v in exactly n digits, zero-padded (v < 10^n, n <= 9), at t. */
static size_t digits_text(char *t, unsigned v, size_t n)
{
	for (size_t i = n; i > 0; i--) {
		t[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	return n;
}

/* 0, 3, 6 or 9 fraction digits, as protobuf writes them (nanos in
 * 0..999999999; cap at least 11). */
static void frac_text(char *t, size_t cap, int32_t nanos)
{
	size_t k = 0;
	if (cap < 11 || nanos <= 0 || nanos > 999999999) {
		t[0] = '\0';
		return;
	}
	t[k++] = '.';
	if (nanos % 1000000 == 0)
		k += digits_text(t + k, (unsigned)(nanos / 1000000), 3);
	else if (nanos % 1000 == 0)
		k += digits_text(t + k, (unsigned)(nanos / 1000), 6);
	else
		k += digits_text(t + k, (unsigned)nanos, 9);
	t[k] = '\0';
}

static void enc_message(struct wbuf *w, const ProtobufCMessage *m);

/* Field values: one element of a repeated field or a singular value. */
static void enc_value(struct wbuf *w, const ProtobufCFieldDescriptor *f, const void *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		put_int(w, *(const int32_t *)v, 0);
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		put_uint(w, *(const uint32_t *)v, 0);
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		put_int(w, *(const int64_t *)v, 1);
		break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		put_uint(w, *(const uint64_t *)v, 1);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		put_double(w, *(const float *)v, 1);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double(w, *(const double *)v, 0);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		puts_(w, *(const protobuf_c_boolean *)v ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t n = *(const int32_t *)v;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, n);
		if (!ev)
			wfail(w, "%s: %" PRId32 " is not a value of %s", w->path, n,
			      ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
		else
			put_str(w, ev->name, strlen(ev->name));
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		if (!s)
			s = "";
		put_str(w, s, strlen(s));
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = v;
		put_b64(w, b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sm = *(ProtobufCMessage *const *)v;
		if (!sm) {
			/* a set oneof member or a repeated element with no message:
			 * the empty message it stands for */
			ProtobufCMessage *e = msg_new(f->descriptor);
			if (!e) {
				w->rc = w->rc ? w->rc : -ENOMEM;
				return;
			}
			enc_message(w, e);
			wire_message_free(e);
		} else {
			enc_message(w, sm);
		}
		break;
	}
	}
}

/* Is a singular field present (proto3: set oneof member, has_ flag of
 * proto2, non-NULL message, non-zero scalar)? */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *v = CMEMBER(m, f->offset);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)CMEMBER(m, f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return 1;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		return *(const protobuf_c_boolean *)CMEMBER(m, f->quantifier_offset) != 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		return f->label == PROTOBUF_C_LABEL_OPTIONAL ? s != NULL && s != f->default_value
		                                              : s != NULL && s[0] != '\0';
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)v)->len != 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)v != NULL;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)v != 0 || signbit(*(const float *)v);
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)v != 0 || signbit(*(const double *)v);
	default: {
		size_t n = elem_size(f->type);
		static const uint8_t zero[8];
		return memcmp(v, zero, n) != 0;
	}
	}
}

static size_t path_push(char *path, const char *name, size_t nlen, int index_form)
{
	size_t have = strlen(path);
	size_t need = nlen + (have && !index_form ? 1 : 0);
	if (have + need + 1 > WIRE_FIELDLEN) {
		/* keep what fits and say it is cut; never half a UTF-8 sequence */
		if (have + 4 <= WIRE_FIELDLEN && !strstr(path, "..."))
			memcpy(path + have, "...", 4);
		return have;
	}
	if (have && !index_form)
		path[have++] = '.';
	memcpy(path + have, name, nlen);
	path[have + nlen] = '\0';
	return have - (have && !index_form ? 1 : 0);
}

static void enc_key(struct wbuf *w, int *first, const char *key)
{
	if (!*first)
		put(w, ",", 1);
	*first = 0;
	put_str(w, key, strlen(key));
	put(w, ":", 1);
}

static void enc_fields(struct wbuf *w, const ProtobufCMessage *m, int *first)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields && !w->rc; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char jn[NAME_MAX_LEN];
		wire_json_name(f->name, jn, sizeof jn);
		size_t back = path_push(w->path, jn, strlen(jn), 0);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)CMEMBER(m, f->quantifier_offset);
			const char *arr = *(char *const *)CMEMBER(m, f->offset);
			if (n == 0 || !arr) {
				w->path[back] = '\0';
				continue;
			}
			enc_key(w, first, jn);
			if (is_map(d, f)) {
				const ProtobufCMessageDescriptor *ed = f->descriptor;
				const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
				put(w, "{", 1);
				for (size_t k = 0; k < n && !w->rc; k++) {
					const ProtobufCMessage *e = ((ProtobufCMessage *const *)arr)[k];
					if (!e) {
						wfail(w, "%s: a NULL map entry", w->path);
						break;
					}
					if (k)
						put(w, ",", 1);
					/* every key type is written as a JSON string */
					if (kf->type == PROTOBUF_C_TYPE_STRING) {
						enc_value(w, kf, CMEMBER(e, kf->offset));
					} else if (kf->type == PROTOBUF_C_TYPE_BOOL) {
						puts_(w, *(const protobuf_c_boolean *)CMEMBER(e, kf->offset) ? "\"true\"" : "\"false\"");
					} else {
						struct wbuf kb = {.max = 64, .err = w->err};
						enc_value(&kb, kf, CMEMBER(e, kf->offset));
						if (kb.rc || !kb.p) {
							w->rc = kb.rc ? kb.rc : -ENOMEM;
							free(kb.p);
							break;
						}
						if (kb.p[0] == '"')
							puts_(w, kb.p);
						else
							put_num(w, "\"%s\"", kb.p);
						free(kb.p);
					}
					put(w, ":", 1);
					enc_value(w, vf, CMEMBER(e, vf->offset));
				}
				put(w, "}", 1);
			} else {
				size_t es = elem_size(f->type);
				put(w, "[", 1);
				for (size_t k = 0; k < n && !w->rc; k++) {
					char ix[32];
					int l = snprintf(ix, sizeof ix, "[%zu]", k);
					size_t b2 = path_push(w->path, ix, (size_t)l, 1);
					if (k)
						put(w, ",", 1);
					if (f->type == PROTOBUF_C_TYPE_MESSAGE && !((ProtobufCMessage *const *)arr)[k])
						wfail(w, "%s: a NULL element", w->path);
					else
						enc_value(w, f, arr + k * es);
					if (!w->rc)
						w->path[b2] = '\0';
				}
				put(w, "]", 1);
			}
		} else if (present(m, f)) {
			enc_key(w, first, jn);
			enc_value(w, f, CMEMBER(m, f->offset));
		}
		if (!w->rc)
			w->path[back] = '\0';
	}
}

int wire_timestamp_ok(int64_t sec, int32_t nanos)
{
	return sec >= TS_MIN_SEC && sec <= TS_MAX_SEC && nanos >= 0 && nanos <= 999999999;
}

int wire_duration_ok(int64_t sec, int32_t nanos)
{
	return sec >= -DUR_MAX_SEC && sec <= DUR_MAX_SEC && nanos >= -999999999 && nanos <= 999999999 &&
	       !(sec > 0 && nanos < 0) && !(sec < 0 && nanos > 0);
}

static void enc_timestamp(struct wbuf *w, int64_t sec, int32_t nanos)
{
	if (!wire_timestamp_ok(sec, nanos)) {
		wfail(w, "%s: the Timestamp %" PRId64 "s %" PRId32 "ns is out of range",
		      w->path[0] ? w->path : "the value", sec, nanos);
		return;
	}
	int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
	int64_t rem = sec - days * 86400;
	int y;
	unsigned mo, d;
	civil(days, &y, &mo, &d);
	char fr[16];
	frac_text(fr, sizeof fr, nanos);
	/* "YYYY-MM-DDThh:mm:ss[.fff]Z" by hand (every entry of a listing
	 * has three) */
	char t[48];
	size_t k = 0;
	t[k++] = '"';
	k += digits_text(t + k, (unsigned)y, 4);
	t[k++] = '-';
	k += digits_text(t + k, mo, 2);
	t[k++] = '-';
	k += digits_text(t + k, d, 2);
	t[k++] = 'T';
	k += digits_text(t + k, (unsigned)(rem / 3600), 2);
	t[k++] = ':';
	k += digits_text(t + k, (unsigned)(rem / 60 % 60), 2);
	t[k++] = ':';
	k += digits_text(t + k, (unsigned)(rem % 60), 2);
	size_t fl = strlen(fr);
	memcpy(t + k, fr, fl);
	k += fl;
	t[k++] = 'Z';
	t[k++] = '"';
	put(w, t, k);
}

static void enc_duration(struct wbuf *w, int64_t sec, int32_t nanos)
{
	if (!wire_duration_ok(sec, nanos)) {
		wfail(w, "%s: the Duration %" PRId64 "s %" PRId32 "ns is out of range",
		      w->path[0] ? w->path : "the value", sec, nanos);
		return;
	}
	char fr[16];
	frac_text(fr, sizeof fr, nanos < 0 ? -nanos : nanos);
	const char *sign = sec < 0 || nanos < 0 ? "-" : "";
	put_num(w, "\"%s%" PRIu64 "%ss\"", sign, sec < 0 ? (uint64_t)-sec : (uint64_t)sec, fr);
}

static void enc_any(struct wbuf *w, const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *tf = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "type_url");
	const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "value");
	const char *url = *(char *const *)CMEMBER(m, tf->offset);
	const ProtobufCBinaryData *val = CMEMBER(m, vf->offset);
	if (!url || !url[0]) {
		if (val->len)
			wfail(w, "%s: an Any with a value and no type", w->path);
		else
			puts_(w, "{}");
		return;
	}
	const ProtobufCMessageDescriptor *d = wire_any_type(url);
	if (!d) {
		char cb[72];
		wfail(w, "%s: an Any of type \"%s\", which this codec does not know", w->path,
		      clip_to(cb, sizeof cb, url));
		return;
	}
	ProtobufCMessage *in = protobuf_c_message_unpack(d, NULL, val->len, val->data);
	if (!in) {
		wfail(w, "%s: the value of an Any of type %s does not unpack", w->path, d->name);
		return;
	}
	put(w, "{", 1);
	int first = 1;
	enc_key(w, &first, "@type");
	put_str(w, url, strlen(url));
	if (is_wkt(d, "google.protobuf.Timestamp") || is_wkt(d, "google.protobuf.Duration") ||
	    is_wkt(d, "google.protobuf.Any")) {
		enc_key(w, &first, "value");
		enc_message(w, in);
	} else {
		enc_fields(w, in, &first);
	}
	put(w, "}", 1);
	wire_message_free(in);
}

static void enc_message(struct wbuf *w, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (is_wkt(d, "google.protobuf.Timestamp") || is_wkt(d, "google.protobuf.Duration")) {
		const ProtobufCFieldDescriptor *sf = protobuf_c_message_descriptor_get_field_by_name(d, "seconds");
		const ProtobufCFieldDescriptor *nf = protobuf_c_message_descriptor_get_field_by_name(d, "nanos");
		int64_t s = *(const int64_t *)CMEMBER(m, sf->offset);
		int32_t n = *(const int32_t *)CMEMBER(m, nf->offset);
		if (is_wkt(d, "google.protobuf.Timestamp"))
			enc_timestamp(w, s, n);
		else
			enc_duration(w, s, n);
		return;
	}
	if (is_wkt(d, "google.protobuf.Any")) {
		enc_any(w, m);
		return;
	}
	put(w, "{", 1);
	int first = 1;
	enc_fields(w, m, &first);
	put(w, "}", 1);
}

int wire_json_encode(const ProtobufCMessage *m, const wire_caps *caps, char **out, size_t *len,
                     wire_err *err)
{
	wire_err dummy;
	if (!err)
		err = &dummy;
	err->msg[0] = err->field[0] = '\0';
	*out = NULL;
	if (len)
		*len = 0;
	if (!caps)
		caps = &wire_caps_default;
	struct wbuf w = {.max = caps->max_bytes, .err = err};
	enc_message(&w, m);
	if (w.rc) {
		free(w.p);
		return w.rc;
	}
	*out = w.p;
	if (len)
		*len = w.len;
	return 0;
}

/* ------------------------------------------------------------ input */

struct dec {
	const wire_caps *caps;
	wire_err *err;
	char path[WIRE_FIELDLEN];
	char clip[72];  /* one quoted outside value per message (CLIP) */
};
#define CLIP(s) clip_to(D->clip, sizeof D->clip, (s))

__attribute__((format(printf, 3, 4)))
static int dfail(struct dec *D, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(D->err->msg, sizeof D->err->msg, fmt, ap);
	va_end(ap);
	utf8_trim(D->err->msg);
	snprintf(D->err->field, sizeof D->err->field, "%s", D->path);
	return rc;
}

static const char *here(const struct dec *D)
{
	return D->path[0] ? D->path : "the body";
}

static const char *jtype(const cJSON *it)
{
	if (cJSON_IsObject(it))
		return "an object";
	if (cJSON_IsArray(it))
		return "an array";
	if (cJSON_IsString(it))
		return "a string";
	if (cJSON_IsNumber(it))
		return "a number";
	if (cJSON_IsBool(it))
		return "a boolean";
	if (cJSON_IsNull(it))
		return "null";
	return "something else";
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The end of the RFC 8259 number at s[i], or 0 when it is not one: cJSON
 * hands anything strtod takes ("01", "1.", "-.5") to strtod, which proto3
 * parsers refuse as invalid JSON. */
static size_t number_end(const char *s, size_t i, size_t n)
{
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && is_digit(s[i])) {
		while (i < n && is_digit(s[i]))
			i++;
	} else {
		return 0;
	}
	if (i < n && s[i] == '.') {
		if (++i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	/* a digit run that goes straight on ("01") is caught by cJSON: the
	 * next byte must end the value */
	if (i < n && (is_digit(s[i]) || s[i] == '.' || s[i] == '-' || s[i] == '+'))
		return 0;
	return i;
}

/* What cJSON would let through, checked on the raw text: a raw NUL or a
 * \u0000 (both would cut a C string), bytes that are not UTF-8 (cJSON
 * copies string bytes as they come), numbers outside the JSON grammar,
 * nesting deeper than the cap. The same string refusals as sbxd's
 * srv_json_check (server/parse.c). */
static int text_check(struct dec *D, const char *s, size_t n)
{
	unsigned depth = 0;
	int in_str = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0)
			return dfail(D, -EINVAL, "the JSON text contains NUL (byte %zu)", i);
		if (c >= 0x80) {
			size_t k = utf8_seq((const unsigned char *)s + i, n - i);
			if (!k)
				return dfail(D, -EINVAL, "the JSON text is not valid UTF-8 (byte %zu)", i);
			i += k - 1;
			continue;
		}
		if (in_str) {
			if (c == '"') {
				in_str = 0;
			} else if (c == '\\' && i + 1 < n) {
				if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0)
					return dfail(D, -EINVAL, "a string contains NUL (\\u0000, byte %zu)", i);
				i++;
			}
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t j = number_end(s, i, n);
			if (!j)
				return dfail(D, -EINVAL, "not valid JSON (a malformed number at byte %zu)", i);
			i = j - 1;
		} else if (c == '{' || c == '[') {
			if (++depth > D->caps->max_depth)
				return dfail(D, -E2BIG, "JSON nested deeper than %u", D->caps->max_depth);
		} else if (c == '}' || c == ']') {
			if (depth)
				depth--;
		}
	}
	return 0;
}

/* Integers: a JSON number that is integral and exact (a double holds every
 * integer below 2^53, and 2^53 + 1 reads as 2^53, so from 2^53 on an
 * int64 must come as a string, which
 * canonical JSON does anyway), or a string of decimal digits. */
static int dec_int(struct dec *D, const cJSON *it, int64_t min, uint64_t umax, int is_unsigned,
                   int64_t *sv, uint64_t *uv)
{
	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;
		if (!isfinite(d) || d != floor(d))
			return dfail(D, -EINVAL, "%s: %g is not an integer", here(D), d);
		if (fabs(d) >= 9007199254740992.0)
			return dfail(D, -EINVAL, "%s: %g is past 2^53, not exact as a JSON number: send it as a string",
			             here(D), d);
		if (is_unsigned) {
			if (d < 0 || d > (double)umax)
				return dfail(D, -EINVAL, "%s: %.0f is out of range", here(D), d);
			*uv = (uint64_t)d;
		} else {
			if (d < (double)min || d > (double)(int64_t)umax)
				return dfail(D, -EINVAL, "%s: %.0f is out of range", here(D), d);
			*sv = (int64_t)d;
		}
		return 0;
	}
	if (!cJSON_IsString(it))
		return dfail(D, -EINVAL, "%s: want an integer, got %s", here(D), jtype(it));
	const char *s = it->valuestring;
	int neg = 0;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (!*s)
		return dfail(D, -EINVAL, "%s: \"%s\" is not an integer", here(D), CLIP(it->valuestring));
	uint64_t acc = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return dfail(D, -EINVAL, "%s: \"%s\" is not an integer", here(D), CLIP(it->valuestring));
		unsigned dg = (unsigned)(*s - '0');
		if (acc > (UINT64_MAX - dg) / 10)
			return dfail(D, -EINVAL, "%s: \"%s\" is out of range", here(D), CLIP(it->valuestring));
		acc = acc * 10 + dg;
	}
	if (is_unsigned) {
		if ((neg && acc) || acc > umax)
			return dfail(D, -EINVAL, "%s: \"%s\" is out of range", here(D), CLIP(it->valuestring));
		*uv = acc;
	} else {
		uint64_t lim = neg ? (uint64_t)(-(min + 1)) + 1 : umax;
		if (acc > lim)
			return dfail(D, -EINVAL, "%s: \"%s\" is out of range", here(D), CLIP(it->valuestring));
		*sv = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
	}
	return 0;
}

static int dec_double(struct dec *D, const cJSON *it, int is_float, double *out)
{
	double d = 0;
	if (cJSON_IsNumber(it)) {
		d = it->valuedouble;
		if (!isfinite(d))
			return dfail(D, -EINVAL, "%s: the number is out of range", here(D));
	} else if (cJSON_IsString(it)) {
		const char *s = it->valuestring;
		if (strcmp(s, "NaN") == 0) {
			d = NAN;
		} else if (strcmp(s, "Infinity") == 0) {
			d = INFINITY;
		} else if (strcmp(s, "-Infinity") == 0) {
			d = -INFINITY;
		} else {
			/* the JSON number grammar, then strtod: no hex, no "inf" */
			size_t sl = strlen(s);
			errno = 0;
			if (number_end(s, 0, sl) != sl || ((d = strtod(s, NULL)), errno) || !isfinite(d))
				return dfail(D, -EINVAL, "%s: \"%s\" is not a number", here(D), CLIP(s));
		}
	} else {
		return dfail(D, -EINVAL, "%s: want a number, got %s", here(D), jtype(it));
	}
	if (is_float && isfinite(d) && fabs(d) > FLT_MAX)
		return dfail(D, -EINVAL, "%s: out of range for a float", here(D));
	*out = d;
	return 0;
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static int dec_message(struct dec *D, ProtobufCMessage *m, const cJSON *it);

/* Frees what a singular slot holds before it is overwritten. */
static void slot_clear(const ProtobufCFieldDescriptor *f, void *slot)
{
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		char *s = *(char **)slot;
		if (s && s != f->default_value && s != (const char *)protobuf_c_empty_string)
			free(s);
		*(char **)slot = NULL;
	} else if (f->type == PROTOBUF_C_TYPE_BYTES) {
		ProtobufCBinaryData *b = slot;
		const ProtobufCBinaryData *def = f->default_value;
		if (b->data && (!def || def->data != b->data))
			free(b->data);
		b->data = NULL;
		b->len = 0;
	} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		wire_message_free(*(ProtobufCMessage **)slot);
		*(ProtobufCMessage **)slot = NULL;
	}
}

/* One value into slot (an element of f's type); the slot is empty. */
static int dec_value(struct dec *D, const ProtobufCFieldDescriptor *f, const cJSON *it, void *slot)
{
	int rc;
	int64_t sv = 0;
	uint64_t uv = 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		if ((rc = dec_int(D, it, INT32_MIN, INT32_MAX, 0, &sv, &uv)))
			return rc;
		*(int32_t *)slot = (int32_t)sv;
		return 0;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		if ((rc = dec_int(D, it, 0, UINT32_MAX, 1, &sv, &uv)))
			return rc;
		*(uint32_t *)slot = (uint32_t)uv;
		return 0;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		if ((rc = dec_int(D, it, INT64_MIN, INT64_MAX, 0, &sv, &uv)))
			return rc;
		*(int64_t *)slot = sv;
		return 0;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		if ((rc = dec_int(D, it, 0, UINT64_MAX, 1, &sv, &uv)))
			return rc;
		*(uint64_t *)slot = uv;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE: {
		double d = 0;
		if ((rc = dec_double(D, it, f->type == PROTOBUF_C_TYPE_FLOAT, &d)))
			return rc;
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)slot = (float)d;
		else
			*(double *)slot = d;
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (!cJSON_IsBool(it))
			return dfail(D, -EINVAL, "%s: want true or false, got %s", here(D), jtype(it));
		*(protobuf_c_boolean *)slot = cJSON_IsTrue(it);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		const ProtobufCEnumValue *ev;
		if (cJSON_IsString(it)) {
			ev = protobuf_c_enum_descriptor_get_value_by_name(ed, it->valuestring);
			if (!ev && D->caps->ignore_unknown) {
				/* a newer service's value: unspecified here */
				*(int32_t *)slot = 0;
				return 0;
			}
			if (!ev)
				return dfail(D, -EINVAL, "%s: \"%s\" is not a value of %s", here(D), CLIP(it->valuestring),
				             ed->name);
		} else if (cJSON_IsNumber(it)) {
			if ((rc = dec_int(D, it, INT32_MIN, INT32_MAX, 0, &sv, &uv)))
				return rc;
			ev = protobuf_c_enum_descriptor_get_value(ed, (int)sv);
			if (!ev && D->caps->ignore_unknown) {
				*(int32_t *)slot = 0;
				return 0;
			}
			if (!ev)
				return dfail(D, -EINVAL, "%s: %" PRId64 " is not a value of %s", here(D), sv, ed->name);
		} else {
			return dfail(D, -EINVAL, "%s: want a %s name, got %s", here(D), ed->name, jtype(it));
		}
		*(int32_t *)slot = ev->value;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		if (!cJSON_IsString(it))
			return dfail(D, -EINVAL, "%s: want a string, got %s", here(D), jtype(it));
		size_t n = strlen(it->valuestring);
		if (n > D->caps->max_string)
			return dfail(D, -E2BIG, "%s: longer than %zu bytes", here(D), D->caps->max_string);
		char *s = dup_n(it->valuestring, n);
		if (!s)
			return dfail(D, -ENOMEM, "out of memory");
		*(char **)slot = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		if (!cJSON_IsString(it))
			return dfail(D, -EINVAL, "%s: want base64 in a string, got %s", here(D), jtype(it));
		size_t n = strlen(it->valuestring);
		if (n / 4 * 3 > D->caps->max_string)
			return dfail(D, -E2BIG, "%s: more than %zu bytes", here(D), D->caps->max_string);
		ProtobufCBinaryData *b = slot;
		rc = b64_decode(it->valuestring, n, &b->data, &b->len);
		if (rc == -ENOMEM)
			return dfail(D, rc, "out of memory");
		if (rc)
			return dfail(D, -EINVAL, "%s: not valid base64", here(D));
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *sm = msg_new(f->descriptor);
		if (!sm)
			return dfail(D, -ENOMEM, "out of memory");
		*(ProtobufCMessage **)slot = sm;
		return dec_message(D, sm, it);
	}
	}
	return dfail(D, -EINVAL, "%s: a field type this codec does not know", here(D));
}

/* Appends one empty element to repeated field f of m; its address. */
/* A new zeroed element at the end of f. grow: the elements the array is
 * made room for (at least this one); 0 when an earlier call made room
 * for this one already (a JSON array is counted first, so its elements
 * cost one realloc, not one each). */
static void *rep_append_room(struct dec *D, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t grow)
{
	size_t *n = MEMBER(m, f->quantifier_offset);
	char **arr = MEMBER(m, f->offset);
	size_t es = elem_size(f->type);
	if (*n >= D->caps->max_items) {
		dfail(D, -E2BIG, "%s: more than %zu items", here(D), D->caps->max_items);
		return NULL;
	}
	if (grow) {
		/* never room past the cap: the element after it fails above */
		if (grow > D->caps->max_items - *n)
			grow = D->caps->max_items - *n;
		char *na = realloc(*arr, (*n + grow) * es);
		if (!na) {
			dfail(D, -ENOMEM, "out of memory");
			return NULL;
		}
		*arr = na;
	}
	memset(*arr + *n * es, 0, es);
	return *arr + (*n)++ * es;
}

static void *rep_append(struct dec *D, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return rep_append_room(D, m, f, 1);
}

/* Undoes the last append when its value failed to decode, so that
 * free_unpacked never sees a half-made element. */
static void rep_drop_last(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	size_t *n = MEMBER(m, f->quantifier_offset);
	char **arr = MEMBER(m, f->offset);
	size_t es = elem_size(f->type);
	void *slot = *arr + (*n - 1) * es;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES ||
	    f->type == PROTOBUF_C_TYPE_MESSAGE) {
		ProtobufCFieldDescriptor g = *f;
		g.default_value = NULL;
		slot_clear(&g, slot);
	}
	(*n)--;
}

/* A map key from its JSON string, by the key field's type. */
static int dec_map_key(struct dec *D, const ProtobufCFieldDescriptor *kf, const char *key, void *slot)
{
	if (kf->type == PROTOBUF_C_TYPE_BOOL) {
		if (strcmp(key, "true") && strcmp(key, "false"))
			return dfail(D, -EINVAL, "%s: map key \"%s\" is not true or false", here(D), CLIP(key));
		*(protobuf_c_boolean *)slot = key[0] == 't';
		return 0;
	}
	cJSON tmp;
	memset(&tmp, 0, sizeof tmp);
	tmp.type = cJSON_String;
	tmp.valuestring = (char *)key;
	return dec_value(D, kf, &tmp, slot);
}

static int dec_map(struct dec *D, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const cJSON *obj)
{
	if (!cJSON_IsObject(obj))
		return dfail(D, -EINVAL, "%s: want an object (a map), got %s", here(D), jtype(obj));
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	for (const cJSON *c = obj->child; c; c = c->next) {
		for (const cJSON *p = obj->child; p != c; p = p->next)
			if (strcmp(p->string, c->string) == 0)
				return dfail(D, -EINVAL, "%s: map key \"%s\" given twice", here(D), CLIP(c->string));
		size_t back = path_push(D->path, c->string, strlen(c->string), 0);
		ProtobufCMessage **slot = rep_append(D, m, f);
		if (!slot)
			return strstr(D->err->msg, "memory") ? -ENOMEM : -E2BIG;
		ProtobufCMessage *e = msg_new(ed);
		if (!e) {
			rep_drop_last(m, f);
			return dfail(D, -ENOMEM, "out of memory");
		}
		*slot = e;
		int rc = dec_map_key(D, kf, c->string, MEMBER(e, kf->offset));
		if (!rc && cJSON_IsNull(c))
			rc = dfail(D, -EINVAL, "%s: a map value may not be null", here(D));
		if (!rc)
			rc = dec_value(D, vf, c, MEMBER(e, vf->offset));
		if (rc)
			return rc;
		D->path[back] = '\0';
	}
	return 0;
}

static int dec_field(struct dec *D, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const cJSON *it)
{
	int rc;
	if (cJSON_IsNull(it))
		return 0; /* proto3 JSON: null is the default, i.e. not set */
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (is_map(m->descriptor, f))
			return dec_map(D, m, f, it);
		if (!cJSON_IsArray(it))
			return dfail(D, -EINVAL, "%s: want an array, got %s", here(D), jtype(it));
		size_t i = 0, count = 0;
		for (const cJSON *c = it->child; c; c = c->next)
			count++;
		for (const cJSON *c = it->child; c; c = c->next, i++) {
			char ix[32];
			size_t l = index_text(ix, i);
			size_t back = path_push(D->path, ix, l, 1);
			if (cJSON_IsNull(c))
				return dfail(D, -EINVAL, "%s: an array element may not be null", here(D));
			void *slot = rep_append_room(D, m, f, i == 0 ? count : 0);
			if (!slot)
				return strstr(D->err->msg, "memory") ? -ENOMEM : -E2BIG;
			if ((rc = dec_value(D, f, c, slot))) {
				rep_drop_last(m, f);
				return rc;
			}
			D->path[back] = '\0';
		}
		return 0;
	}
	void *slot = MEMBER(m, f->offset);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *cs = MEMBER(m, f->quantifier_offset);
		if (*cs && *cs != f->id) {
			const ProtobufCFieldDescriptor *o = protobuf_c_message_descriptor_get_field(m->descriptor, *cs);
			char jn[NAME_MAX_LEN];
			wire_json_name(o ? o->name : "?", jn, sizeof jn);
			return dfail(D, -EINVAL, "%s: a oneof already set by %s", here(D), jn);
		}
		if (*cs == f->id)
			slot_clear(f, slot);
		/* the union holds nothing of another member now: start clean */
		memset(slot, 0, elem_size(f->type));
		rc = dec_value(D, f, it, slot);
		*cs = f->id;
		return rc;
	}
	slot_clear(f, slot);
	rc = dec_value(D, f, it, slot);
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *)MEMBER(m, f->quantifier_offset) = 1;
	if (rc && f->type == PROTOBUF_C_TYPE_STRING && !*(char **)slot)
		*(char **)slot = (char *)f->default_value;
	return rc;
}

/* Whether key is proto_name's JSON name (what wire_json_name makes of
 * it), compared as it is made: a decode looks up every member of every
 * object (a listing of 8,192 entries is 100,000 members), so no name is
 * built or copied per field. */
static int json_name_is(const char *proto_name, const char *key)
{
	int up = 0;
	size_t k = 0;
	for (const char *p = proto_name; *p && k + 1 < NAME_MAX_LEN; p++) {
		if (*p == '_') {
			up = 1;
			continue;
		}
		char c = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		if (key[k++] != c)
			return 0;
		up = 0;
	}
	return key[k] == '\0';
}

static const ProtobufCFieldDescriptor *field_by_key(const ProtobufCMessageDescriptor *d, const char *key)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (json_name_is(d->fields[i].name, key) || strcmp(key, d->fields[i].name) == 0)
			return &d->fields[i];
	return NULL;
}

/* The members of obj into m; skip names one member ("@type" in an Any). */
static int dec_members(struct dec *D, ProtobufCMessage *m, const cJSON *obj, const char *skip)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned char seen_small[64] = {0};
	unsigned char *seen = d->n_fields <= sizeof seen_small ? seen_small : calloc(d->n_fields, 1);
	int rc = 0;
	if (!seen)
		return dfail(D, -ENOMEM, "out of memory");
	for (const cJSON *c = obj->child; c && !rc; c = c->next) {
		if (skip && strcmp(c->string, skip) == 0)
			continue;
		const ProtobufCFieldDescriptor *f = field_by_key(d, c->string);
		size_t back = path_push(D->path, c->string, strlen(c->string), 0);
		if (!f && D->caps->ignore_unknown) {
			D->path[back] = '\0';
			continue;
		}
		if (!f) {
			rc = dfail(D, -EINVAL, "%s: no field named \"%s\" in %s", here(D), CLIP(c->string), d->name);
			break;
		}
		unsigned idx = (unsigned)(f - d->fields);
		if (seen[idx]) {
			rc = dfail(D, -EINVAL, "%s: given twice", here(D));
			break;
		}
		seen[idx] = 1;
		rc = dec_field(D, m, f, c);
		if (!rc)
			D->path[back] = '\0';
	}
	if (seen != seen_small)
		free(seen);
	return rc;
}

static int parse_digits(const char **p, int n, int *out)
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

/* Up to 9 fraction digits after a '.', as nanoseconds. */
static int parse_frac(const char **p, int32_t *nanos)
{
	int32_t v = 0, scale = 100000000;
	int n = 0;
	if (**p != '.')
		return 0;
	(*p)++;
	while (**p >= '0' && **p <= '9') {
		if (++n > 9)
			return -1;
		v += (int32_t)(**p - '0') * scale;
		scale /= 10;
		(*p)++;
	}
	*nanos = v;
	return n ? 0 : -1;
}

/* RFC 3339: "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)". */
static int parse_timestamp(const char *s, int64_t *sec, int32_t *nanos)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int Y, M, Dd, h, mi, se;
	const char *p = s;
	*nanos = 0;
	if (parse_digits(&p, 4, &Y) || *p++ != '-' || parse_digits(&p, 2, &M) || *p++ != '-' ||
	    parse_digits(&p, 2, &Dd) || *p++ != 'T' || parse_digits(&p, 2, &h) || *p++ != ':' ||
	    parse_digits(&p, 2, &mi) || *p++ != ':' || parse_digits(&p, 2, &se) || parse_frac(&p, nanos))
		return -1;
	int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (Y < 1 || M < 1 || M > 12 || Dd < 1 || Dd > mdays[M - 1] || (M == 2 && Dd == 29 && !leap) ||
	    h > 23 || mi > 59 || se > 59)
		return -1;
	int64_t off = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p)
		return -1;
	int64_t t = days_from_civil(Y, (unsigned)M, (unsigned)Dd) * 86400 + h * 3600 + mi * 60 + se - off;
	if (t < TS_MIN_SEC || t > TS_MAX_SEC)
		return -1;
	*sec = t;
	return 0;
}

/* "[-]S[.f{1,9}]s" within +-10000 years. */
static int parse_duration(const char *s, int64_t *sec, int32_t *nanos)
{
	const char *p = s;
	int neg = 0;
	int64_t v = 0;
	*nanos = 0;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		if (v > DUR_MAX_SEC)
			return -1;
	}
	if (parse_frac(&p, nanos) || *p++ != 's' || *p)
		return -1;
	*sec = neg ? -v : v;
	if (neg)
		*nanos = -*nanos;
	return 0;
}

static int dec_any(struct dec *D, ProtobufCMessage *m, const cJSON *it)
{
	const cJSON *t = NULL;
	for (const cJSON *c = it->child; c; c = c->next) {
		if (strcmp(c->string, "@type") != 0)
			continue;
		if (t)
			return dfail(D, -EINVAL, "%s: \"@type\" given twice", here(D));
		t = c;
	}
	if (!t) {
		if (!it->child)
			return 0;
		return dfail(D, -EINVAL, "%s: an Any without \"@type\"", here(D));
	}
	if (!cJSON_IsString(t))
		return dfail(D, -EINVAL, "%s.@type: want a string, got %s", here(D), jtype(t));
	const ProtobufCMessageDescriptor *d = wire_any_type(t->valuestring);
	if (!d && D->caps->ignore_unknown)
		return 0; /* a detail this side does not know: left out */
	if (!d)
		return dfail(D, -EINVAL, "%s: an Any of type \"%s\", which this service does not know", here(D),
		             CLIP(t->valuestring));
	ProtobufCMessage *in = msg_new(d);
	if (!in)
		return dfail(D, -ENOMEM, "out of memory");
	int rc = dec_members(D, in, it, "@type");
	uint8_t *buf = NULL;
	size_t n = 0;
	if (!rc) {
		n = protobuf_c_message_get_packed_size(in);
		buf = malloc(n ? n : 1);
		if (!buf)
			rc = dfail(D, -ENOMEM, "out of memory");
		else
			protobuf_c_message_pack(in, buf);
	}
	wire_message_free(in);
	if (rc)
		return rc;
	const ProtobufCFieldDescriptor *tf = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "type_url");
	const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "value");
	slot_clear(tf, MEMBER(m, tf->offset));
	slot_clear(vf, MEMBER(m, vf->offset));
	char *url = dup_n(t->valuestring, strlen(t->valuestring));
	if (!url) {
		free(buf);
		*(char **)MEMBER(m, tf->offset) = (char *)tf->default_value;
		return dfail(D, -ENOMEM, "out of memory");
	}
	*(char **)MEMBER(m, tf->offset) = url;
	ProtobufCBinaryData *v = MEMBER(m, vf->offset);
	v->data = buf;
	v->len = n;
	return 0;
}

static int dec_message(struct dec *D, ProtobufCMessage *m, const cJSON *it)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int ts = is_wkt(d, "google.protobuf.Timestamp"), du = is_wkt(d, "google.protobuf.Duration");
	if (ts || du) {
		if (!cJSON_IsString(it))
			return dfail(D, -EINVAL, "%s: want a %s string, got %s", here(D), ts ? "RFC 3339 time" : "duration",
			             jtype(it));
		int64_t s;
		int32_t n;
		if ((ts ? parse_timestamp : parse_duration)(it->valuestring, &s, &n))
			return dfail(D, -EINVAL, "%s: \"%s\" is not %s", here(D), CLIP(it->valuestring),
			             ts ? "an RFC 3339 time (2026-05-01T12:00:00Z)" : "a duration (\"1.5s\")");
		*(int64_t *)MEMBER(m, protobuf_c_message_descriptor_get_field_by_name(d, "seconds")->offset) = s;
		*(int32_t *)MEMBER(m, protobuf_c_message_descriptor_get_field_by_name(d, "nanos")->offset) = n;
		return 0;
	}
	if (!cJSON_IsObject(it))
		return dfail(D, -EINVAL, "%s: want an object (%s), got %s", here(D), d->short_name, jtype(it));
	if (is_wkt(d, "google.protobuf.Any"))
		return dec_any(D, m, it);
	return dec_members(D, m, it, NULL);
}

int wire_json_merge(ProtobufCMessage *m, const char *text, size_t len, const wire_caps *caps, wire_err *err)
{
	wire_err dummy;
	struct dec D = {.caps = caps ? caps : &wire_caps_default, .err = err ? err : &dummy};
	D.err->msg[0] = D.err->field[0] = '\0';
	if (len > D.caps->max_bytes)
		return dfail(&D, -E2BIG, "the JSON text is over %zu bytes", D.caps->max_bytes);
	int rc = text_check(&D, text, len);
	if (rc)
		return rc;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root) {
		size_t at = end && end >= text ? (size_t)(end - text) : 0;
		return dfail(&D, -EINVAL, "not valid JSON (near byte %zu)", at);
	}
	for (const char *p = end; p && p < text + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			cJSON_Delete(root);
			return dfail(&D, -EINVAL, "not valid JSON (text after the value at byte %zu)", (size_t)(p - text));
		}
	}
	rc = dec_message(&D, m, root);
	cJSON_Delete(root);
	return rc;
}

int wire_json_decode(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                     const wire_caps *caps, ProtobufCMessage **out, wire_err *err)
{
	*out = NULL;
	ProtobufCMessage *m = msg_new(d);
	if (!m) {
		if (err) {
			snprintf(err->msg, sizeof err->msg, "out of memory");
			err->field[0] = '\0';
		}
		return -ENOMEM;
	}
	int rc = wire_json_merge(m, text, len, caps, err);
	if (rc) {
		wire_message_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int wire_field_set_text(ProtobufCMessage *m, const char *name, const char *value, size_t vlen, wire_err *err)
{
	wire_err dummy;
	struct dec D = {.caps = &wire_caps_default, .err = err ? err : &dummy};
	D.err->msg[0] = D.err->field[0] = '\0';
	path_push(D.path, name, strlen(name), 0);
	const ProtobufCFieldDescriptor *f = field_by_key(m->descriptor, name);
	if (!f)
		return dfail(&D, -EINVAL, "no field named \"%s\" in %s", clip_to(D.clip, sizeof D.clip, name),
		             m->descriptor->name);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return dfail(&D, -EINVAL, "%s: a message, not settable from text", here(&D));
	if (vlen > D.caps->max_string)
		return dfail(&D, -E2BIG, "%s: longer than %zu bytes", here(&D), D.caps->max_string);
	if (memchr(value, '\0', vlen))
		return dfail(&D, -EINVAL, "%s contains NUL", here(&D));
	if (!wire_utf8_valid(value, vlen))
		return dfail(&D, -EINVAL, "%s is not valid UTF-8", here(&D));
	char *copy = dup_n(value, vlen);
	if (!copy)
		return dfail(&D, -ENOMEM, "out of memory");
	/* the text as the JSON value a parser would see for this type */
	cJSON tmp;
	memset(&tmp, 0, sizeof tmp);
	tmp.type = cJSON_String;
	tmp.valuestring = copy;
	int rc;
	if (f->type == PROTOBUF_C_TYPE_BOOL) {
		if (strcmp(copy, "true") && strcmp(copy, "false")) {
			free(copy);
			return dfail(&D, -EINVAL, "%s: want true or false", here(&D));
		}
		tmp.type = copy[0] == 't' ? cJSON_True : cJSON_False;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		void *slot = rep_append(&D, m, f);
		if (!slot) {
			free(copy);
			return strstr(D.err->msg, "memory") ? -ENOMEM : -E2BIG;
		}
		rc = dec_value(&D, f, &tmp, slot);
		if (rc)
			rep_drop_last(m, f);
	} else {
		rc = dec_field(&D, m, f, &tmp);
	}
	free(copy);
	return rc;
}

/* ------------------------------------------------------------ query */

static int q_put(char *buf, size_t cap, size_t *k, const char *s, size_t n, int escape)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int keep = !escape || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		           c == '-' || c == '.' || c == '_' || c == '~';
		if (*k + (keep ? 1 : 3) + 1 > cap)
			return -E2BIG;
		if (keep) {
			buf[(*k)++] = (char)c;
		} else {
			buf[(*k)++] = '%';
			buf[(*k)++] = hex[c >> 4];
			buf[(*k)++] = hex[c & 15];
		}
	}
	return 0;
}

/* One value of field f at v as query text into t (cap tcap); for a
 * string *s points at it instead. 0, or -EINVAL (no text form). */
static int q_text(const ProtobufCFieldDescriptor *f, const void *v, char *t, size_t tcap, const char **s)
{
	*s = t;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(t, tcap, "%" PRId32, *(const int32_t *)v);
		return 0;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		snprintf(t, tcap, "%" PRIu32, *(const uint32_t *)v);
		return 0;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(t, tcap, "%" PRId64, *(const int64_t *)v);
		return 0;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		snprintf(t, tcap, "%" PRIu64, *(const uint64_t *)v);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		*s = *(const protobuf_c_boolean *)v ? "true" : "false";
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)v);
		if (!ev)
			return -EINVAL;
		*s = ev->name;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING:
		*s = *(char *const *)v ? *(char *const *)v : "";
		return 0;
	default:
		return -EINVAL;
	}
}

int wire_query_encode(const ProtobufCMessage *m, const char *const *skip, size_t nskip, char *buf, size_t cap)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	size_t k = 0;
	if (!cap)
		return -E2BIG;
	buf[0] = '\0';
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		int skipped = 0;
		for (size_t j = 0; j < nskip && !skipped; j++)
			skipped = skip[j] && strcmp(skip[j], f->name) == 0;
		if (skipped)
			continue;
		size_t n = 1;
		const char *base = CMEMBER(m, f->offset);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)CMEMBER(m, f->quantifier_offset);
			base = *(char *const *)base;
		} else if (!present(m, f)) {
			continue;
		}
		if (n && (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_BYTES))
			return -EINVAL;
		char jn[NAME_MAX_LEN];
		wire_json_name(f->name, jn, sizeof jn);
		for (size_t e = 0; e < n; e++) {
			const void *v = f->label == PROTOBUF_C_LABEL_REPEATED ? base + e * elem_size(f->type) : base;
			char t[32];
			const char *s;
			int rc = q_text(f, v, t, sizeof t, &s);
			if (rc)
				return rc;
			if ((k && (rc = q_put(buf, cap, &k, "&", 1, 0))) || (rc = q_put(buf, cap, &k, jn, strlen(jn), 1)) ||
			    (rc = q_put(buf, cap, &k, "=", 1, 0)) || (rc = q_put(buf, cap, &k, s, strlen(s), 1))) {
				buf[0] = '\0';
				return rc;
			}
		}
	}
	buf[k] = '\0';
	return (int)k;
}

int wire_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)CMEMBER(m, f->quantifier_offset) != 0;
	return present(m, f);
}
