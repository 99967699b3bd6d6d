/*
 * A JSON text appended piece by piece into one capped buffer, printing
 * exactly what cJSON_PrintUnformatted prints for the same members in the
 * same order (strings escaped as cJSON escapes them, integers as its
 * "%1.15g" then "%1.17g" print them), without building a cJSON tree first: sbxd's
 * process records (persist.c) are two such lines per process, on the
 * start's and the exit's way. Pure; unit-tested against cJSON itself
 * (tests/server/test_parse.c).
 */
#ifndef SRV_JSONW_H
#define SRV_JSONW_H

#include <stddef.h>
#include <stdint.h>

/* Over it a text fails as out of memory would (no record is cut short):
 * sbxd's inputs are capped far below (parse.h: 128 KiB of argv and of
 * env, each byte at most 6 escaped). */
#define SRV_JSONW_MAX (16u << 20)

typedef struct srv_jw {
	char *buf; /* NUL-terminated while !failed; the caller frees it */
	size_t len, cap;
	int failed; /* out of memory or past SRV_JSONW_MAX: buf is NULL */
} srv_jw;

/* Containers; a comma goes in before any value but the first of one. */
void srv_jw_open(srv_jw *w, char brace); /* '{' or '[' */
void srv_jw_close(srv_jw *w, char brace); /* '}' or ']' */
/* An object's key (then one value). */
void srv_jw_key(srv_jw *w, const char *key);
/* The same of at most n bytes of key (stops at a NUL before). */
void srv_jw_keyn(srv_jw *w, const char *key, size_t n);
void srv_jw_str(srv_jw *w, const char *s);
/* An integer as cJSON prints the double (double)v. */
void srv_jw_int(srv_jw *w, int64_t v);
void srv_jw_bool(srv_jw *w, int b);
/* An object's member: its key, then the value. */
void srv_jw_kstr(srv_jw *w, const char *key, const char *s);
void srv_jw_kint(srv_jw *w, const char *key, int64_t v);
void srv_jw_kbool(srv_jw *w, const char *key, int b);
/* The text, owned by the caller, and its length; NULL if it failed. */
char *srv_jw_take(srv_jw *w, size_t *len);

#endif
