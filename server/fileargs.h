/*
 * The arguments of the file calls (:readFile ... :removeXattr, docs/api.md)
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
	const char *path;        /* borrowed: from the body, or from the query
	                            when there is none (GET calls, raw writes) */
	const char *new_path;    /* :renameFile, :linkFile, borrowed from body */
	const char *target;      /* :createSymlink, the link's text, borrowed */
	const char *name;        /* the xattr calls' name, borrowed */
	int64_t offset;          /* :writeFile: -1 none */
	int mode;                /* :writeFile, :makeDir: -1 default;
	                            :createFile, :makeNode 0644 */
	unsigned char *data;     /* :writeFile content, :setXattr value,
	                            owned (NULL when none) */
	size_t len;
	int append, truncate, exclusive, recursive;
	unsigned rename_flags;   /* RENAME_NOREPLACE or RENAME_EXCHANGE */
	int xattr_flags;         /* :setXattr: XATTR_CREATE or XATTR_REPLACE */
	char node;               /* :makeNode: 'f' fifo, 's' socket, 'd' a
	                            device (refused by the caller: EPERM) */
	srv_attrs attrs;         /* :setFileAttrs */
} srv_file_args;

/* The query arguments a file call may take (MHD has decoded them; the
 * caller has refused any with a NUL inside). */
typedef struct srv_file_query {
	const char *path, *name;
} srv_file_query;

/* kind: the route (R_READ_FILE ... R_REMOVE_XATTR); body: the parsed body
 * of a POST call, NULL for a GET call or a raw write (their arguments are
 * in q, which may be NULL). On failure nothing is left to free. */
struct cJSON;
int srv_file_args_parse(srv_route_kind kind, const struct cJSON *body, const srv_file_query *q, srv_file_args *out,
			char *err);
void srv_file_args_free(srv_file_args *a);

/* 1 for the file calls that are GETs (their arguments in the query). */
int srv_file_call_is_get(srv_route_kind kind);

/* -ENAMETOOLONG when the whole path or one component is over the kernel's
 * limits (PATH_MAX 4096 with its NUL, NAME_MAX 255), else 0. */
int srv_path_len_ok(const char *p);

/* The :signal body ({"signal": N}, N 1..64; an empty body is none): the
 * signal, or -1 when missing or out of range (err says which). */
int srv_parse_signal(const char *body, size_t len, int *sig, srv_perr *err);

#endif
