/*
 * Decoders of the service's answers that carry lists or results: a page of
 * sandboxes, the processes of a sandbox, an :exec result, a :listDir, a
 * :statFile and a :readFile answer. Pure functions of a parsed JSON body
 * (no HTTP), so the calls in sandbox.c, proc.c and files.c and the fuzz
 * target run the same code. Every failure is SBX_E_PROTOCOL (or
 * SBX_E_NOMEM) with a message, and leaves nothing to free.
 */
#ifndef SBX_ANSWER_H
#define SBX_ANSWER_H

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "sbx/sbx.h"

/* Appends a ListSandboxesResponse's sandboxes to *v (nv used, cap
 * allocated); *next: its nextPageToken, borrowed from m, "" at the end. */
sbx_result sbx_sandbox_page_from_pb(const ProtobufCMessage *m, sbx_sandbox ***v, size_t *nv, size_t *cap,
                                    const char **next, sbx_error *err);
/* {"processes": [...]} -> a vector for sbx_process_list_free. */
sbx_result sbx_processes_from_json(const cJSON *root, sbx_process ***out, size_t *n, sbx_error *err);
/* An ExecResponse: exitCode, stdout/stderr, truncation and the
 * *BytesProduced counts. */
sbx_result sbx_exec_result_from_pb(const ProtobufCMessage *m, sbx_exec_result **out, sbx_error *err);
/* {"entries": [...]} -> a vector for sbx_dirent_list_free. */
sbx_result sbx_dirents_from_json(const cJSON *root, sbx_dirent **out, size_t *n, sbx_error *err);
/* A :statFile entry; the root "/" (named "/" or "") becomes ".". Changes
 * root's "name". */
sbx_result sbx_stat_from_json(cJSON *root, sbx_dirent *out, sbx_error *err);
/* A ReadFileResponse: its content (NUL-terminated, malloc'ed). */
sbx_result sbx_read_from_pb(const ProtobufCMessage *m, void **data, size_t *len, sbx_error *err);

#endif
