/*
 * Small helpers shared by libsbx's modules: a growable byte buffer with a
 * cap, percent-escaping for URL paths and queries, random request ids from
 * OpenSSL, RFC 3339 time parsing, and checked number parsing. Nothing here
 * knows about HTTP or the service.
 */
#ifndef SBX_UTIL_H
#define SBX_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "sbx/sbx.h"

typedef struct sbx_buf {
	char *data;     /* always NUL-terminated when non-NULL */
	size_t len, cap;
	size_t max;     /* cap on len; 0 = none */
	int overflow;   /* an append would have passed max */
} sbx_buf;

void sbx_buf_init(sbx_buf *b, size_t max);
void sbx_buf_free(sbx_buf *b);
/* 0 on success, -1 on ENOMEM or when max would be passed (sets overflow). */
int sbx_buf_append(sbx_buf *b, const void *data, size_t len);
int sbx_buf_appendf(sbx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s percent-escaped: everything but A-Z a-z 0-9 - . _ ~ */
int sbx_buf_append_escaped(sbx_buf *b, const char *s);

/* 32 lowercase hex chars of OpenSSL randomness + NUL into out[33]. */
int sbx_random_hex(char out[33]);
/* A uniform double in [0,1) for retry jitter. */
double sbx_random_unit(void);

/* RFC 3339 -> ns since epoch; 0 for "" or garbage. */
int64_t sbx_parse_time(const char *s);
/* Whole decimal int64 with range check; -1 on error. */
int sbx_parse_i64(const char *s, int64_t *out);

int64_t sbx_now_ms(void);
void sbx_sleep_ms(long ms);

char *sbx_strndup(const char *s, size_t n);

/* A sandbox id libsbx will put in a path: 1-SBX_MAX_ID bytes. */
#define SBX_MAX_ID 128
int sbx_id_ok(const char *id);
/* sbx_id_ok, or SBX_E_INVALID "bad sandbox id" in err. */
sbx_result sbx_check_sandbox_id(const char *id, sbx_error *err);
void sbx_strv_free(char **v);
char **sbx_strv_dup(const char *const *v, size_t *n);

/* Fills err (when non-NULL) with a code and a formatted message. Returns code. */
sbx_result sbx_fail(sbx_error *err, sbx_result code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sbx_error_clear(sbx_error *err);

#endif
