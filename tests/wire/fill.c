/*
 * fill.h: populated messages of every schema type, from the descriptors.
 */
#include "fill.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "any.pb-c.h"
#include "error_details.pb-c.h"

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

static int is(const ProtobufCMessageDescriptor *d, const char *name)
{
	return strcmp(d->name, name) == 0;
}

static void fill_msg(ProtobufCMessage *m, unsigned seed, int depth);

static ProtobufCMessage *sub_new(const ProtobufCMessageDescriptor *d, unsigned seed, int depth)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);
	if (!m)
		abort();
	d->message_init(m);
	if (depth > 0)
		fill_msg(m, seed, depth - 1);
	return m;
}

/* A value of f's type into slot (k: which element, for variety). */
static void value(const ProtobufCFieldDescriptor *f, void *slot, unsigned seed, unsigned k, int depth)
{
	static const char *const strs[] = {
		"main", "h\xc3\xa9llo \"q\" \\ \n\t\x01 \xe2\x98\x83 \xf0\x9d\x84\x9e", "team-a", "/bin/sh",
		"<&>\x7f", "a b=c",
	};
	unsigned v = seed * 7 + k;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *)slot = v % 3 == 0 ? INT32_MIN : v % 3 == 1 ? 600 : INT32_MAX;
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)slot = v % 2 ? UINT32_MAX : 80;
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)slot = v % 3 == 0 ? INT64_MIN : v % 3 == 1 ? 9007199254740993LL : 42;
		break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)slot = v % 2 ? UINT64_MAX : 7;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)slot = 1.5f;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)slot = 0.1;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)slot = 1;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		*(int32_t *)slot = ed->values[ed->n_values - 1 - v % (ed->n_values > 1 ? ed->n_values - 1 : 1)].value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING:
		*(char **)slot = xstrdup(strs[v % (sizeof strs / sizeof strs[0])]);
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = slot;
		b->len = 1 + v % 5;
		b->data = malloc(b->len);
		for (size_t i = 0; i < b->len; i++)
			b->data[i] = (uint8_t)(i * 97 + v * 31 + (i == 0 ? 0xff : 0));
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)slot = sub_new(f->descriptor, seed + k, depth);
		break;
	}
}

static size_t esize(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

static void fill_wkt(ProtobufCMessage *m, unsigned seed)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int64_t *sec = (int64_t *)((char *)m + protobuf_c_message_descriptor_get_field_by_name(d, "seconds")->offset);
	int32_t *ns = (int32_t *)((char *)m + protobuf_c_message_descriptor_get_field_by_name(d, "nanos")->offset);
	static const int32_t nanos[] = {0, 123000000, 123456000, 123456789};
	if (is(d, "google.protobuf.Timestamp")) {
		*sec = seed % 5 == 4 ? -62135596800LL : 1777636800LL + seed; /* 2026-05-01, or year 1 */
		*ns = nanos[seed % 4];
	} else {
		*sec = seed % 2 ? -1 : 3;
		*ns = seed % 2 ? -nanos[seed % 4] : nanos[seed % 4];
	}
}

static void fill_any(ProtobufCMessage *m, unsigned seed)
{
	Google__Protobuf__Any *a = (Google__Protobuf__Any *)m;
	ProtobufCMessage *in = sub_new(&google__rpc__error_info__descriptor, seed, 1);
	a->type_url = xstrdup("type.googleapis.com/google.rpc.ErrorInfo");
	a->value.len = protobuf_c_message_get_packed_size(in);
	a->value.data = malloc(a->value.len ? a->value.len : 1);
	protobuf_c_message_pack(in, a->value.data);
	wire_message_free(in);
}

static void fill_msg(ProtobufCMessage *m, unsigned seed, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (is(d, "google.protobuf.Timestamp") || is(d, "google.protobuf.Duration")) {
		fill_wkt(m, seed);
		return;
	}
	if (is(d, "google.protobuf.Any")) {
		fill_any(m, seed);
		return;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		void *slot = (char *)m + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = 2;
			size_t es = esize(f->type);
			char *arr = calloc(n, es);
			for (size_t k = 0; k < n; k++) {
				value(f, arr + k * es, seed, (unsigned)k, depth);
				/* map keys must differ: the second gets a suffix */
				if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
					ProtobufCMessage *e = ((ProtobufCMessage **)arr)[k];
					const ProtobufCMessageDescriptor *ed = e->descriptor;
					if (ed->n_fields == 2 && strcmp(ed->fields[0].name, "key") == 0 &&
					    ed->fields[0].type == PROTOBUF_C_TYPE_STRING) {
						char **key = (char **)((char *)e + ed->fields[0].offset);
						char buf[32];
						snprintf(buf, sizeof buf, "K%zu_%u", k, seed);
						if (*key && *key != (const char *)protobuf_c_empty_string)
							free(*key);
						*key = xstrdup(buf);
					}
				}
			}
			*(size_t *)((char *)m + f->quantifier_offset) = n;
			*(void **)slot = arr;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* one member per oneof: the (seed % size)th of its group */
			unsigned first = i, size = 0;
			while (first > 0 && (d->fields[first - 1].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			       d->fields[first - 1].quantifier_offset == f->quantifier_offset)
				first--;
			for (unsigned j = 0; j < d->n_fields; j++)
				if ((d->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
				    d->fields[j].quantifier_offset == f->quantifier_offset)
					size++;
			unsigned rank = 0;
			for (unsigned j = 0; j < i; j++)
				if ((d->fields[j].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
				    d->fields[j].quantifier_offset == f->quantifier_offset)
					rank++;
			(void)first;
			if (rank != seed % size)
				continue;
			*(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
			/* a set one-field oneof (proto3 optional) holding zero, on
			 * odd seeds: presence must keep it on the wire */
			if (size == 1 && seed % 2 && f->type != PROTOBUF_C_TYPE_MESSAGE &&
			    f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_BYTES) {
				memset(slot, 0, esize(f->type));
				continue;
			}
			value(f, slot, seed, 0, depth);
			continue;
		}
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			char **s = slot;
			if (*s && *s != (const char *)protobuf_c_empty_string && *s != f->default_value)
				free(*s);
		}
		value(f, slot, seed, 0, depth);
	}
}

ProtobufCMessage *fill_new(const ProtobufCMessageDescriptor *d, unsigned seed, int depth)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);
	if (!m)
		return NULL;
	d->message_init(m);
	fill_msg(m, seed, depth);
	return m;
}

int fill_same(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	if (a->descriptor != b->descriptor)
		return 0;
	size_t na = protobuf_c_message_get_packed_size(a), nb = protobuf_c_message_get_packed_size(b);
	if (na != nb)
		return 0;
	uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	int same = memcmp(pa, pb, na) == 0;
	free(pa);
	free(pb);
	return same;
}
