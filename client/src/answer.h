/*
 * Decoders of the service's answers that carry lists or results: a page of
 * sandboxes, the processes of a sandbox, an :exec result, a :listDir, a
 * :statFile, a :readFile and a :readFileRange answer. Pure functions of a
 * decoded message (no HTTP), so the calls in sandbox.c, proc.c and files.c and the fuzz
 * target run the same code. Every failure is SBX_E_PROTOCOL (or
 * SBX_E_NOMEM) with a message, and leaves nothing to free.
 */
#ifndef SBX_ANSWER_H
#define SBX_ANSWER_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "sbx/sbx.h"

/* Appends a ListSandboxesResponse's sandboxes to *v (nv used, cap
 * allocated); *next: its nextPageToken, borrowed from m, "" at the end. */
sbx_result sbx_sandbox_page_from_pb(const ProtobufCMessage *m, sbx_sandbox ***v, size_t *nv, size_t *cap,
                                    const char **next, sbx_error *err);
/* A ListProcessesResponse -> a vector for sbx_process_list_free. */
sbx_result sbx_processes_from_pb(const ProtobufCMessage *m, sbx_process ***out, size_t *n, sbx_error *err);
/* An ExecResponse: exitCode, stdout/stderr, truncation and the
 * *BytesProduced counts. */
sbx_result sbx_exec_result_from_pb(const ProtobufCMessage *m, sbx_exec_result **out, sbx_error *err);
/* A ListDirResponse -> a vector for sbx_dirent_list_free. */
sbx_result sbx_dirents_from_pb(const ProtobufCMessage *m, sbx_dirent **out, size_t *n, sbx_error *err);
/* A :statFile FileEntry; the root "/" (named "/" or "") becomes ".". */
sbx_result sbx_stat_from_pb(const ProtobufCMessage *m, sbx_dirent *out, sbx_error *err);
/* A ReadFileRangeResponse: content (NUL-terminated copy) and the whole
 * file's size. */
sbx_result sbx_read_range_from_pb(const ProtobufCMessage *m, void **data, size_t *len, int64_t *size, sbx_error *err);
/* A ReadFileResponse: its content (NUL-terminated, malloc'ed). */
sbx_result sbx_read_from_pb(const ProtobufCMessage *m, void **data, size_t *len, sbx_error *err);

#endif
