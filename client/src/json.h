/*
 * proto3 JSON helpers over cJSON for libsbx: parsing with a depth cap,
 * readers that accept int64 as string or number and treat absent fields as
 * zero values, and the mapping of the Sandbox and Process resources to the
 * public structs of sbx.h.
 */
#ifndef SBX_JSON_H
#define SBX_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>

#include "sbx/sbx.h"

#define SBX_JSON_MAX_DEPTH 32

/* NULL when malformed, deeper than SBX_JSON_MAX_DEPTH, or not all consumed. */
cJSON *sbx_json_parse(const char *text, size_t len);
/* 1 when text nests deeper than max (outside strings). */
int sbx_json_too_deep(const char *text, size_t len, int max);

/* Absent -> *out = 0 and 0 returned; wrong type or out of range -> -1. */
int sbx_json_get_i64(const cJSON *obj, const char *key, int64_t *out);
int sbx_json_item_i64(const cJSON *item, int64_t *out);


/* The tag that carries sbxfs's name of a sandbox (WIRE-CONTRACT point 1). */
#define SBX_NAME_TAG "sbxfs-name="
#define SBX_NAME_TAG_LEN 11

/* The schema's State enum (numbers as sandbox.proto) <-> sbx_state. */
sbx_state sbx_state_from_pb(int v);
int sbx_state_to_pb(sbx_state s);

/* A decoded coreweave.sandbox.v1.Sandbox (ProtobufCMessage, so this header
 * needs no generated one) -> sbx_sandbox; json is its canonical form,
 * pretty. SBX_E_PROTOCOL without a valid sandboxId. */
sbx_result sbx_sandbox_from_pb(const ProtobufCMessage *m, sbx_sandbox **out, sbx_error *err);
/* The same from an answer's text (lenient decode, pb.h). */
sbx_result sbx_sandbox_from_text(const char *text, size_t len, sbx_sandbox **out, sbx_error *err);

/* The extension's Process (sbxd.ext.v1) -> struct; SBX_E_PROTOCOL
 * without a valid processId or with a field out of range. */
sbx_result sbx_process_from_pb(const ProtobufCMessage *m, sbx_process **out, sbx_error *err);
sbx_result sbx_process_from_text(const char *text, size_t len, sbx_process **out, sbx_error *err);
/* The extension's FileEntry -> struct (name must be one component). */
sbx_result sbx_dirent_from_pb(const ProtobufCMessage *m, sbx_dirent *out);

/* Pretty JSON (two-space indent) with a final newline; caller frees. */
char *sbx_json_pretty(const cJSON *root);

#endif
