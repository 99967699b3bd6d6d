/*
 * The UTF-8 walk of a decoded protobuf-c message (pbcheck.h), by its
 * descriptor: the field table says where each string or message lives and
 * how many a repeated field holds; a oneof's memory is a member's only
 * while its case says so.
 */
#include "pbcheck.h"

#include <stdint.h>
#include <string.h>

#include "parse.h"

#define DEPTH_MAX 32

static int valid_at(const ProtobufCMessage *m, int depth);

/* Whether the value of f in m is there at all (a oneof member not chosen
 * shares its memory with the one that is). */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return 1;
	return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
}

static int value_ok(const ProtobufCFieldDescriptor *f, const void *slot, int depth)
{
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		const char *s = *(char *const *)slot;
		return !s || srv_utf8_valid(s, strlen(s));
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
		return !sub || valid_at(sub, depth + 1);
	}
	return 1;
}

static int valid_at(const ProtobufCMessage *m, int depth)
{
	if (depth > DEPTH_MAX)
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
				if (!value_ok(f, arr + k * sizeof(void *), depth))
					return 0;
		} else if (present(m, f) && !value_ok(f, base, depth)) {
			return 0;
		}
	}
	return 1;
}

int srv_pb_utf8_valid(const ProtobufCMessage *m)
{
	return m && valid_at(m, 0);
}
