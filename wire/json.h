/*
 * The proto3 JSON mapping of the schema (proto/), for sbxd and libsbx
 * alike: JSON text <-> protobuf-c message structs, driven only by the
 * descriptors protoc-c generates, so no JSON key is written by hand
 * anywhere. Output is canonical proto3 JSON (fields in number order, zero
 * values and unset messages omitted, int64 as strings, enums by name,
 * bytes as padded standard base64, Timestamp/Duration/Any in their JSON
 * forms). Input is strict: an unknown field, a wrong JSON type, an
 * out-of-range number, a duplicate key, invalid base64 or UTF-8 fail with
 * the field's JSON path ("spec.containers[0].bogus") for a
 * google.rpc.BadRequest field violation. Nothing here keeps state between
 * calls; every function is thread-safe. The caller never sees cJSON.
 *
 * Errors are negative errno values: -EINVAL (the input is wrong: err says
 * where and why), -E2BIG (a cap of wire_caps was passed: err names the
 * field), -ENOMEM.
 */
#ifndef WIRE_JSON_H
#define WIRE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#define WIRE_MSGLEN 256
#define WIRE_FIELDLEN 256

/* Why a call failed: a one-line message safe to send to a client, and the
 * JSON path of the field to blame ("" when no one field is). */
typedef struct wire_err {
	char msg[WIRE_MSGLEN];
	char field[WIRE_FIELDLEN];
} wire_err;

/* Caps on what a decode accepts (and on what an encode writes: max_bytes).
 * NULL anywhere a caps pointer is taken means wire_caps_default. */
typedef struct wire_caps {
	size_t max_bytes;    /* the JSON text */
	unsigned max_depth;  /* nesting of objects and arrays */
	size_t max_items;    /* elements of one repeated field or map */
	size_t max_string;   /* bytes of one decoded string or bytes value */
	/* A client reading answers: skip fields and enum names the schema
	 * lacks (what a proto3 parser does with ignore_unknown_fields), so a
	 * newer service may add fields; a known field of the wrong type still
	 * fails. 0 (servers, wire_caps_default): strict. */
	int ignore_unknown;
} wire_caps;

/* 32 MiB of text (a 16 MiB writeFile in base64 fits), depth 32 (DESIGN.md
 * section 5), 4096 items (sbxd's argv cap), 24 MiB per value. */
extern const wire_caps wire_caps_default;

/* JSON text (len bytes, NUL not needed) -> a new message of type d, owned
 * by the caller (wire_message_free). On failure *out is NULL. */
int wire_json_decode(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                     const wire_caps *caps, ProtobufCMessage **out, wire_err *err);

/* The same into an existing message (fields it already has stay unless the
 * text sets them; repeated fields are appended to), as a proto3 parser
 * merges. m must own its parts as wire_json_decode's do (malloc'd, or the
 * INIT defaults): a replaced value is freed. On failure m is valid but
 * partly filled. */
int wire_json_merge(ProtobufCMessage *m, const char *text, size_t len, const wire_caps *caps,
                    wire_err *err);

/* Message -> canonical proto3 JSON text, NUL-terminated, malloc'd for the
 * caller (*len without the NUL). Fails (-EINVAL) on what has no JSON form:
 * a string that is not UTF-8, a Timestamp or Duration out of range, an Any
 * of a type the registry lacks, an enum number the schema lacks. */
int wire_json_encode(const ProtobufCMessage *m, const wire_caps *caps, char **out, size_t *len,
                     wire_err *err);

/* One field of m, named by its JSON or proto name, set from text as a URL
 * query parameter or path variable gives it (value: vlen bytes, already
 * percent-decoded): scalars and enums only (enums by name, bool as
 * true/false); a repeated field gains one element per call, a singular one
 * is replaced (m owns its parts, as for wire_json_merge). The name is the
 * field's path in err. */
int wire_field_set_text(ProtobufCMessage *m, const char *name, const char *value, size_t vlen,
                        wire_err *err);

/* The query string of m for a client's request: every set scalar,
 * enum or string field (repeated ones once per element, in field order),
 * as JSON name "=" value, percent-escaped (all but RFC 3986 unreserved
 * bytes), joined by '&'; fields named in skip[0..nskip) (proto names:
 * the path's variables and the body's field) are left out, as are unset
 * and zero values. Into buf (cap bytes, NUL-terminated, "" when none):
 * the length, or -E2BIG (does not fit), -EINVAL (a set message or bytes
 * field not skipped: it has no query form). */
int wire_query_encode(const ProtobufCMessage *m, const char *const *skip, size_t nskip, char *buf, size_t cap);
/* Is field f of m set, by the presence rule of the encoder (a repeated
 * field or map: non-empty; a oneof member: chosen; a message: non-NULL;
 * a scalar: non-zero)? What servers check "cannot honour" tables with. */
int wire_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/* Frees a message from wire_json_decode (or built with malloc'd parts the
 * way protobuf-c's unpacker builds them); NULL is fine. */
void wire_message_free(ProtobufCMessage *m);

/* The proto3 JSON name of a proto field name ("max_lifetime_seconds" ->
 * "maxLifetimeSeconds"), cut to cap bytes with the NUL. */
void wire_json_name(const char *proto_name, char *out, size_t cap);

/* A Timestamp (years 1..9999, nanos 0..999999999) or Duration (+-10,000
 * years, nanos of the seconds' sign) that has a JSON form. */
int wire_timestamp_ok(int64_t sec, int32_t nanos);
int wire_duration_ok(int64_t sec, int32_t nanos);

/* s[0..n) is well-formed UTF-8 (NUL is a valid byte here). */
int wire_utf8_valid(const char *s, size_t n);

/* The binary protobuf encoding of the same messages (binary.c), for
 * sbxd's extension calls when both ends agree on it (docs/api.md,
 * "Encodings"). wire_pb_decode checks the bytes before protobuf-c's
 * unpacker sees them, with the rules the JSON decoder applies: every
 * string UTF-8 without NUL (a C string would be cut at it), nesting at
 * most caps->max_depth messages, at most caps->max_items elements in one
 * repeated field or map and caps->max_string bytes in one string or bytes
 * value, an enum number the schema has, no field number the type lacks
 * (unless caps->ignore_unknown: then an unknown field is skipped and an
 * unknown enum number kept, proto3's open enums), a Timestamp or
 * Duration in the range of its JSON form, no google.protobuf.Any (none of
 * the extension's messages has one; unless caps->ignore_unknown), no
 * groups, no field
 * number 0, no wire type that is not the field's. err->field is the JSON
 * path of the field to blame ("entries[2].name"). Same errors as
 * wire_json_decode. An empty buffer is the empty message. */
int wire_pb_decode(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len, const wire_caps *caps,
                   ProtobufCMessage **out, wire_err *err);

/* Message -> its binary encoding, malloc'd for the caller (at least one
 * byte allocated even for the empty message); -E2BIG over
 * caps->max_bytes, -ENOMEM. */
int wire_pb_encode(const ProtobufCMessage *m, const wire_caps *caps, uint8_t **out, size_t *len, wire_err *err);

/* 1 when every set string field of m and of its messages (repeated and
 * map entries included, oneof members only when set; nesting at most
 * max_depth) is UTF-8, else 0: what a decoded or built message needs to
 * have a JSON form (and sbxd's gRPC front end asks of every request). */
int wire_pb_utf8_valid(const ProtobufCMessage *m, unsigned max_depth);

/* The registry of types (types.c): every message type reachable from
 * SandboxService and the google.rpc error details, by full name
 * ("coreweave.sandbox.v1.Sandbox"); NULL when unknown. */
const ProtobufCMessageDescriptor *wire_type_find(const char *full_name);
/* All of them, in a stable order; *n gets the count. */
const ProtobufCMessageDescriptor *const *wire_types(size_t *n);
/* The types an Any may hold (google.rpc.ErrorInfo, RetryInfo, BadRequest),
 * by type URL ("type.googleapis.com/google.rpc.ErrorInfo"); NULL else. */
const ProtobufCMessageDescriptor *wire_any_type(const char *type_url);

#endif
