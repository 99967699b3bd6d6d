/*
 * The binary protobuf encoding of the schema's and the extension's
 * messages (json.h: wire_pb_decode, wire_pb_encode, wire_pb_utf8_valid).
 * protobuf-c's unpacker takes what the encoding allows: a string with a
 * NUL (which every C string after it cuts short), one that is not UTF-8,
 * an enum number the schema lacks, any nesting, unknown fields kept. So
 * the bytes are walked first, by the descriptors, with the rules the JSON
 * decoder applies to the same message; only then unpacked. The walk reads
 * every tag, length and varint once and never allocates but one counter
 * array per message it enters.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "any.pb-c.h"
#include "duration.pb-c.h"
#include "json.h"
#include "timestamp.pb-c.h"

/* The largest field number of the encoding (2^29 - 1). */
#define FIELD_MAX 536870911u

/* Frames of the field path kept for an error message (deeper ones are
 * left out of it). */
#define PATH_FRAMES 64

typedef struct walk {
	const wire_caps *caps;
	wire_err *err;
	/* The fields being walked, outermost first, each with its element
	 * index (repeated): the path is written only when something fails. */
	const ProtobufCFieldDescriptor *fld[PATH_FRAMES];
	size_t idx[PATH_FRAMES];
	unsigned nfld;
} walk;

/* The JSON path of the walk's fields ("listings[1].entries[7].name"). */
static void path_of(const walk *W, char *out, size_t cap)
{
	size_t k = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < W->nfld && i < PATH_FRAMES && k + 1 < cap; i++) {
		char jn[WIRE_FIELDLEN];
		wire_json_name(W->fld[i]->name, jn, sizeof jn);
		int n = W->fld[i]->label == PROTOBUF_C_LABEL_REPEATED
		                ? snprintf(out + k, cap - k, "%s%s[%zu]", i ? "." : "", jn, W->idx[i])
		                : snprintf(out + k, cap - k, "%s%s", i ? "." : "", jn);
		if (n < 0 || (size_t)n >= cap - k)
			break;
		k += (size_t)n;
	}
}

static int wfail(walk *W, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int wfail(walk *W, int rc, const char *fmt, ...)
{
	char why[WIRE_MSGLEN], path[WIRE_FIELDLEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	path_of(W, path, sizeof path);
	snprintf(W->err->field, sizeof W->err->field, "%s", path);
	snprintf(W->err->msg, sizeof W->err->msg, "%.120s%s%.128s", path, path[0] ? ": " : "", why);
	return rc;
}

/* A varint at p (n bytes left): its length, 0 when cut short or longer
 * than 10 bytes. */
static size_t varint(const uint8_t *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	for (size_t i = 0; i < n && i < 10; i++) {
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

/* The wire type a field of type t has when not packed. */
static unsigned wire_type_of(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES: case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

static int enum_ok(walk *W, const ProtobufCFieldDescriptor *f, uint64_t v)
{
	if (W->caps->ignore_unknown || protobuf_c_enum_descriptor_get_value(f->descriptor, (int)(int32_t)v))
		return 0;
	return wfail(W, -EINVAL, "%lld is not a value of %s", (long long)(int32_t)v,
	             ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
}

/* The elements of a packed repeated scalar field (p, n bytes): how many,
 * or -1 when the payload is not whole elements (enums checked here). */
static int packed(walk *W, const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t n, size_t *count)
{
	unsigned wt = wire_type_of(f->type);
	if (wt == 1 || wt == 5) {
		size_t w = wt == 1 ? 8 : 4;
		if (n % w)
			return wfail(W, -EINVAL, "a packed field of %zu bytes is not whole values", n);
		*count = n / w;
		return 0;
	}
	*count = 0;
	for (size_t i = 0; i < n;) {
		uint64_t v;
		size_t k = varint(p + i, n - i, &v);
		if (!k)
			return wfail(W, -EINVAL, "a packed field ends inside a value");
		if (f->type == PROTOBUF_C_TYPE_ENUM && enum_ok(W, f, v))
			return -EINVAL;
		i += k;
		(*count)++;
	}
	return 0;
}

static int walk_msg(walk *W, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, unsigned depth);

/* One length-delimited value of field f (p, n bytes). */
static int walk_len(walk *W, const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t n, unsigned depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (n > W->caps->max_string)
			return wfail(W, -E2BIG, "longer than %zu bytes", W->caps->max_string);
		if (memchr(p, 0, n))
			return wfail(W, -EINVAL, "holds a NUL byte");
		if (!wire_utf8_valid((const char *)p, n))
			return wfail(W, -EINVAL, "is not UTF-8");
		return 0;
	case PROTOBUF_C_TYPE_BYTES:
		if (n > W->caps->max_string)
			return wfail(W, -E2BIG, "more than %zu bytes", W->caps->max_string);
		return 0;
	default:
		if (!W->caps->ignore_unknown && f->descriptor == &google__protobuf__any__descriptor)
			return wfail(W, -EINVAL, "a google.protobuf.Any is not taken in the binary encoding");
		return walk_msg(W, f->descriptor, p, n, depth + 1);
	}
}

/* A Timestamp's or Duration's seconds and nanos (fields 1 and 2) as the
 * JSON form needs them (json.c's range): 0, else the failure. */
static int wkt_ok(walk *W, const ProtobufCMessageDescriptor *d, int64_t sec, int32_t nanos)
{
	if (d == &google__protobuf__timestamp__descriptor && !wire_timestamp_ok(sec, nanos))
		return wfail(W, -EINVAL, "the Timestamp %llds %dns is out of range", (long long)sec, (int)nanos);
	if (d == &google__protobuf__duration__descriptor && !wire_duration_ok(sec, nanos))
		return wfail(W, -EINVAL, "the Duration %llds %dns is out of range", (long long)sec, (int)nanos);
	return 0;
}

static int walk_msg(walk *W, const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, unsigned depth)
{
	if (depth > W->caps->max_depth)
		return wfail(W, -E2BIG, "nested more than %u deep", W->caps->max_depth);
	size_t *counts = calloc(d->n_fields + 1, sizeof *counts);
	if (!counts)
		return -ENOMEM;
	unsigned frame = W->nfld;
	int rc = 0;
	int wkt = d == &google__protobuf__timestamp__descriptor || d == &google__protobuf__duration__descriptor;
	int64_t wsec = 0;
	int32_t wnanos = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		W->nfld = frame;
		uint64_t tag, v = 0;
		size_t k = varint(p + i, n - i, &tag);
		if (!k) {
			rc = wfail(W, -EINVAL, "a tag is cut short at byte %zu", i);
			break;
		}
		i += k;
		unsigned wt = (unsigned)(tag & 7);
		uint64_t num = tag >> 3;
		const uint8_t *val = p + i;
		size_t vlen = 0;
		if (num == 0 || num > FIELD_MAX) {
			rc = wfail(W, -EINVAL, "field number %llu is not one", (unsigned long long)num);
			break;
		}
		if (wt == 0) {
			vlen = varint(val, n - i, &v);
			if (!vlen)
				rc = wfail(W, -EINVAL, "field %llu: a varint is cut short", (unsigned long long)num);
		} else if (wt == 1 || wt == 5) {
			vlen = wt == 1 ? 8 : 4;
			if (n - i < vlen)
				rc = wfail(W, -EINVAL, "field %llu: a fixed value is cut short", (unsigned long long)num);
		} else if (wt == 2) {
			uint64_t len;
			size_t lk = varint(val, n - i, &len);
			if (!lk || len > n - i - lk) {
				rc = wfail(W, -EINVAL, "field %llu: a length runs past the end", (unsigned long long)num);
			} else {
				val += lk;
				i += lk;
				vlen = (size_t)len;
			}
		} else {
			rc = wfail(W, -EINVAL, "field %llu: wire type %u (groups or none) is not taken",
			           (unsigned long long)num, wt);
		}
		if (rc)
			break;
		i += vlen;
		if (wkt && wt == 0 && num == 1)
			wsec = (int64_t)v;
		else if (wkt && wt == 0 && num == 2)
			wnanos = (int32_t)v;
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, (unsigned)num);
		if (!f) {
			if (!W->caps->ignore_unknown)
				rc = wfail(W, -EINVAL, "field number %llu is not a field of %s", (unsigned long long)num,
				           d->name);
			continue;
		}
		size_t *cnt = &counts[f - d->fields];
		int rep = f->label == PROTOBUF_C_LABEL_REPEATED;
		if (frame < PATH_FRAMES) {
			W->fld[frame] = f;
			W->idx[frame] = *cnt;
		}
		W->nfld = frame + 1;
		unsigned want = wire_type_of(f->type);
		size_t items = 1;
		if (wt == 2 && want != 2 && rep) {
			rc = packed(W, f, val, vlen, &items);
		} else if (wt != want) {
			rc = wfail(W, -EINVAL, "wire type %u is not that of this field (%u)", wt, want);
		} else if (wt == 2) {
			rc = walk_len(W, f, val, vlen, depth);
		} else if (f->type == PROTOBUF_C_TYPE_ENUM) {
			rc = enum_ok(W, f, v);
		}
		if (rc == 0 && rep && (*cnt += items) > W->caps->max_items)
			rc = wfail(W, -E2BIG, "more than %zu items", W->caps->max_items);
	}
	if (rc == 0) {
		W->nfld = frame;
		if (wkt)
			rc = wkt_ok(W, d, wsec, wnanos);
	}
	free(counts);
	return rc;
}

int wire_pb_decode(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len, const wire_caps *caps,
                   ProtobufCMessage **out, wire_err *err)
{
	wire_err scratch;
	walk W = {.caps = caps ? caps : &wire_caps_default, .err = err ? err : &scratch};
	W.err->msg[0] = W.err->field[0] = '\0';
	*out = NULL;
	if (len > W.caps->max_bytes)
		return wfail(&W, -E2BIG, "the message is over %zu bytes", W.caps->max_bytes);
	int rc = walk_msg(&W, d, buf, len, 0);
	if (rc)
		return rc;
	*out = protobuf_c_message_unpack(d, NULL, len, len ? buf : (const uint8_t *)"");
	if (!*out)
		return wfail(&W, -EINVAL, "not a %s in the binary encoding", d->short_name);
	return 0;
}

int wire_pb_encode(const ProtobufCMessage *m, const wire_caps *caps, uint8_t **out, size_t *len, wire_err *err)
{
	wire_err scratch;
	walk W = {.caps = caps ? caps : &wire_caps_default, .err = err ? err : &scratch};
	W.err->msg[0] = W.err->field[0] = '\0';
	*out = NULL;
	*len = 0;
	/* What has no JSON form has no binary one either: both encodings
	 * of an answer succeed or fail together. */
	if (!wire_pb_utf8_valid(m, W.caps->max_depth))
		return wfail(&W, -EINVAL, "a string of the %s is not UTF-8", m->descriptor->short_name);
	size_t n = protobuf_c_message_get_packed_size(m);
	if (n > W.caps->max_bytes)
		return wfail(&W, -E2BIG, "the %s is over %zu bytes", m->descriptor->short_name, W.caps->max_bytes);
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		return -ENOMEM;
	*len = protobuf_c_message_pack(m, b);
	*out = b;
	return 0;
}

/* ------------------------------------ the strings of a decoded message */

static int valid_at(const ProtobufCMessage *m, unsigned depth, unsigned max_depth);

/* Whether the value of f in m is there at all (a oneof member not chosen
 * shares its memory with the one that is). */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return 1;
	return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
}

static int value_ok(const ProtobufCFieldDescriptor *f, const void *slot, unsigned depth, unsigned max_depth)
{
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		const char *s = *(char *const *)slot;
		return !s || wire_utf8_valid(s, strlen(s));
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
		return !sub || valid_at(sub, depth + 1, max_depth);
	}
	return 1;
}

static int valid_at(const ProtobufCMessage *m, unsigned depth, unsigned max_depth)
{
	if (depth > max_depth)
		return 0;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *base = (const char *)m + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			const char *arr = *(char *const *)base;
			for (size_t k = 0; k < n; k++)
				if (!value_ok(f, arr + k * sizeof(void *), depth, max_depth))
					return 0;
		} else if (present(m, f) && !value_ok(f, base, depth, max_depth)) {
			return 0;
		}
	}
	return 1;
}

int wire_pb_utf8_valid(const ProtobufCMessage *m, unsigned max_depth)
{
	return m && valid_at(m, 0, max_depth);
}
