/*
 * proto3's rule for string fields on binary input (pbcheck.c): every
 * string of a message is UTF-8. protobuf-c's unpack does not check it,
 * where protoc's parsers for proto3 refuse such a message; the JSON codec
 * (REST) refuses it too. sbxd's gRPC front end asks this of every request
 * before an operation sees it, so no tag, name, argv or path that REST
 * would refuse comes in over gRPC.
 */
#ifndef SRV_PBCHECK_H
#define SRV_PBCHECK_H

#include <protobuf-c/protobuf-c.h>

/* 1 when every set string field of m and of its messages (repeated and
 * map entries included, oneof members only when set; nesting at most 32
 * deep) is UTF-8, else 0. */
int srv_pb_utf8_valid(const ProtobufCMessage *m);

#endif
