/*
 * Temporary definitions of calls not written yet, so that programs linking
 * libsbx build while the library grows. Each answers SBX_E_UNSUPPORTED.
 */
#include <stdlib.h>

#include "http.h"
#include "util.h"

void sbx_fb_shutdown(sbx_client *c);
void sbx_fb_shutdown(sbx_client *c)
{
}

#define NOPE return sbx_fail(err, SBX_E_UNSUPPORTED, "not implemented yet")

sbx_result sbx_process_start(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, sbx_process **out, sbx_error *err) { NOPE; }
sbx_result sbx_process_get(sbx_client *c, const char *sandbox_id, int64_t pid, int wait_seconds, sbx_process **out, sbx_error *err) { NOPE; }
sbx_result sbx_process_list(sbx_client *c, const char *sandbox_id, sbx_process ***out, size_t *n, sbx_error *err) { NOPE; }
sbx_result sbx_process_write_stdin(sbx_client *c, const char *sandbox_id, int64_t pid, const void *data, size_t len, sbx_error *err) { NOPE; }
sbx_result sbx_process_close_stdin(sbx_client *c, const char *sandbox_id, int64_t pid, sbx_error *err) { NOPE; }
sbx_result sbx_process_signal(sbx_client *c, const char *sandbox_id, int64_t pid, int signo, sbx_error *err) { NOPE; }
sbx_result sbx_output_read(sbx_client *c, const char *sandbox_id, int64_t pid, sbx_stream s, int64_t offset, void *buf, size_t maxlen, int wait_seconds, sbx_chunk *chunk, sbx_error *err) { NOPE; }
void sbx_exec_result_free(sbx_exec_result *r) { if (r) { free(r->out); free(r->errout); free(r); } }
sbx_result sbx_exec(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, int64_t max_output_bytes, sbx_exec_result **out, sbx_error *err) { NOPE; }
sbx_result sbx_file_read(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, int64_t length, void **data, size_t *len, int64_t *size, sbx_error *err) { NOPE; }
sbx_result sbx_file_write(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, const void *data, size_t len, sbx_error *err) { NOPE; }
sbx_result sbx_file_list(sbx_client *c, const char *sandbox_id, const char *path, sbx_dirent **out, size_t *n, sbx_error *err) { NOPE; }
sbx_result sbx_file_stat(sbx_client *c, const char *sandbox_id, const char *path, sbx_dirent *out, sbx_error *err) { NOPE; }
sbx_result sbx_file_mkdir(sbx_client *c, const char *sandbox_id, const char *path, unsigned mode, sbx_error *err) { NOPE; }
sbx_result sbx_file_remove(sbx_client *c, const char *sandbox_id, const char *path, int recursive, sbx_error *err) { NOPE; }
sbx_result sbx_async_new(sbx_client *c, sbx_async **out, sbx_error *err) { *out = NULL; NOPE; }
void sbx_async_free(sbx_async *a) { }
sbx_op *sbx_async_output_read(sbx_async *a, const char *sandbox_id, int64_t pid, sbx_stream s, int64_t offset, size_t maxlen, int wait_seconds, sbx_output_cb cb, void *ud) { return NULL; }
sbx_op *sbx_async_process_wait(sbx_async *a, const char *sandbox_id, int64_t pid, int wait_seconds, sbx_process_cb cb, void *ud) { return NULL; }
sbx_op *sbx_async_sandbox_wait(sbx_async *a, const char *sandbox_id, int wait_seconds, sbx_sandbox_cb cb, void *ud) { return NULL; }
void sbx_async_cancel(sbx_async *a, sbx_op *op) { }
