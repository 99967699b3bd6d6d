/*
 * The arguments of the file calls (:readFile ... :renameFile, docs/api.md)
 * and of :signal, decoded from their JSON bodies (and, for the GET calls,
 * the path from the query) before sbxd touches a sandbox. Pure code with no
 * state, in the parser library, so the fuzz target runs exactly what sbxd
 * runs. Failures return -1 with a message in err (SRV_MSGLEN bytes) that is
 * safe to send back, or -ENAMETOOLONG when a path is over the kernel's
 * limits (the caller answers CWSANDBOX_NAME_TOO_LONG for it).
 */
#ifndef SRV_FILEARGS_H
#define SRV_FILEARGS_H

#include <stddef.h>
#include <stdint.h>

#include "files.h"
#include "parse.h"

typedef struct srv_file_args {
	const char *path;        /* borrowed: from body (POST) or the query (GET) */
	const char *new_path;    /* :renameFile, borrowed from body */
	int64_t offset;          /* :writeFile: -1 none */
	int mode;                /* :writeFile, :makeDir: -1 default; :createFile 0644 */
	unsigned char *data;     /* :writeFile content, owned (NULL when none) */
	size_t len;
	int append, truncate, exclusive, recursive;
	unsigned rename_flags;   /* RENAME_NOREPLACE or RENAME_EXCHANGE */
	srv_attrs attrs;         /* :setFileAttrs */
} srv_file_args;

/* kind: the route (R_READ_FILE ... R_RENAME_FILE); body: the parsed body
 * of a POST call (NULL for GET); qpath: the GET calls' path argument. On
 * failure nothing is left to free. */
struct cJSON;
int srv_file_args_parse(srv_route_kind kind, const struct cJSON *body, const char *qpath, srv_file_args *out,
			char *err);
void srv_file_args_free(srv_file_args *a);

/* -ENAMETOOLONG when the whole path or one component is over the kernel's
 * limits (PATH_MAX 4096 with its NUL, NAME_MAX 255), else 0. */
int srv_path_len_ok(const char *p);

/* The :signal body ({"signal": N}, N 1..64; an empty body is none): the
 * signal, or -1 when missing or out of range (err says which). */
int srv_parse_signal(const char *body, size_t len, int *sig, srv_perr *err);

#endif
