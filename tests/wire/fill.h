/*
 * Test helper: builds a message of any schema type with every field set
 * (one member per oneof, chosen by the seed; two elements per repeated
 * field and map; nested messages to a depth; values at the edges of each
 * type: int64 past 2^53, uint64 max, strings with escapes and astral
 * characters, bytes of every padding length, Timestamps with 0/3/6/9
 * fraction digits, negative Durations, an Any holding an ErrorInfo), only
 * through the descriptors, so a message added to the schema is covered
 * without a test edit. Shared by the unit suite and the cross-check tool.
 */
#ifndef WIRE_TEST_FILL_H
#define WIRE_TEST_FILL_H

#include <protobuf-c/protobuf-c.h>

/* A new message of type d (wire_message_free), NULL on out of memory. */
ProtobufCMessage *fill_new(const ProtobufCMessageDescriptor *d, unsigned seed, int depth);

/* Binary equality of two messages of one type (pack and compare). */
int fill_same(const ProtobufCMessage *a, const ProtobufCMessage *b);

#endif
