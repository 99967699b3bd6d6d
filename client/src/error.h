/*
 * Error mapping for libsbx: google.rpc.Status bodies, HTTP statuses and
 * curl codes become one sbx_result plus an sbx_error; sbx_error_errno (in
 * sbx.h) turns that into errno for the filesystem.
 */
#ifndef SBX_ERROR_H
#define SBX_ERROR_H

#include <stddef.h>

#include "sbx/sbx.h"

/* google.rpc.Code -> result (0 -> SBX_OK). */
sbx_result sbx_error_from_grpc(int code);
/* HTTP status of an answer without a usable Status body -> result. */
sbx_result sbx_error_from_http(long status);
/* curl's CURLcode (as int, so callers need not include curl) -> result. */
sbx_result sbx_error_from_curl(int curlcode);
/* "1.5s", "2s", "0.250s" -> ms; -1 when malformed. */
long sbx_parse_duration_ms(const char *s);
/* Fills err from an HTTP error answer: status, and the Status body when it
 * parses. Returns the result. Never copies anything but the service's
 * message, reason and domain. */
sbx_result sbx_error_from_response(long http_status, const char *body, size_t len, sbx_error *err);

#endif
