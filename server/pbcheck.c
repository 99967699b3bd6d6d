/*
 * The UTF-8 rule of proto3 strings on a decoded message (pbcheck.h): the
 * walk is the codec's (wire/binary.c, wire_pb_utf8_valid), shared with
 * the binary encoding of the extension's calls.
 */
#include "pbcheck.h"

#include "json.h"

#define DEPTH_MAX 32

int srv_pb_utf8_valid(const ProtobufCMessage *m)
{
	return wire_pb_utf8_valid(m, DEPTH_MAX);
}
