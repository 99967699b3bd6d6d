/*
 * The arguments of the file calls (the real ReadFile and WriteFile, and
 * the extension's :readFileRange ... :removeXattr, docs/api.md) and of
 * :signal, from their decoded request messages (the codec did the JSON or
 * binary part: unknown fields, types) into one struct, with sbxd's own
 * checks (absolute paths within the kernel's limits, modes, exclusive
 * flags, times), before sbxd touches a sandbox. Pure code with no state,
 * in the parser library, so the fuzz target runs exactly what sbxd runs.
 * Failures return -1 with a message and the field's JSON path in err
 * (safe to send back), or -ENAMETOOLONG when a path is over the kernel's
 * limits (the caller answers CWSANDBOX_NAME_TOO_LONG for it).
 */
#ifndef SRV_FILEARGS_H
#define SRV_FILEARGS_H

#include <stddef.h>
#include <stdint.h>

#include "extension.pb-c.h"
#include "files.h"
#include "parse.h"
#include "sandbox.pb-c.h"

/* The caps of the file data calls: the real ReadFile answers whole files
 * up to SRV_MAX_READ_FILE (the SDK's 32 MiB cap of unary file I/O; more:
 * CWSANDBOX_FILE_TOO_LARGE); :readFileRange reads at most
 * SRV_MAX_READ_RANGE a call. */
#define SRV_MAX_READ_FILE (32 << 20)
#define SRV_MAX_READ_RANGE (16 << 20)
/* :listDirs: paths a call (besides its path), entries an answer. */
#define SRV_MAX_LIST_DIRS 1024
#define SRV_MAX_LIST_DIRS_ENTRIES 8192

/* Everything borrows from the request message: keep it alive as long. */
typedef struct srv_file_args {
	const char *path;
	const char *container;   /* ReadFile, WriteFile: "" or the primary's */
	const char *new_path;    /* :renameFile, :linkFile */
	const char *target;      /* :createSymlink, the link's text */
	const char *name;        /* the xattr calls' name */
	int64_t offset;          /* :writeFileAt: -1 none; :readFileRange: from */
	int64_t length;          /* :readFileRange: 1..SRV_MAX_READ_RANGE */
	int raw;                 /* :readFileRange: bytes as the HTTP body */
	int mode;                /* :writeFileAt, :makeDir: -1 default;
	                            :createFile, :makeNode 0644 */
	const unsigned char *data; /* WriteFile, :writeFileAt content,
	                            :setXattr value (NULL when empty) */
	size_t len;
	int append, truncate, exclusive, recursive;
	unsigned rename_flags;   /* RENAME_NOREPLACE or RENAME_EXCHANGE */
	int xattr_flags;         /* :setXattr: XATTR_CREATE or XATTR_REPLACE */
	char node;               /* :makeNode: 'f' fifo, 's' socket, 'd' a
	                            device (refused by the caller: EPERM) */
	srv_attrs attrs;         /* :setFileAttrs */
	const char *const *more_paths; /* :listDirs: the other directories */
	size_t n_more_paths;     /* at most SRV_MAX_LIST_DIRS */
	int falloc_flags;        /* :allocateFile: FALLOC_FL_* (offset and
	                            length its range, length > 0) */
} srv_file_args;

/* The file call kind of a route row's rpc name ("ReadFile" ...
 * "AllocateFile"), R_NONE for the other calls: one table for both front
 * ends and the fuzzer. */
srv_route_kind srv_file_kind_of(const char *rpc);
/* The request type of a file call's route kind (R_READ_FILE ...
 * R_ALLOCATE_FILE), NULL when kind is none; 1 for the calls that are GETs
 * (their arguments in the query). */
const ProtobufCMessageDescriptor *srv_file_call_request(srv_route_kind kind);
int srv_file_call_is_get(srv_route_kind kind);

/* m: the decoded request of kind (its type must be
 * srv_file_call_request(kind)). */
int srv_file_args_from_pb(srv_route_kind kind, const ProtobufCMessage *m, srv_file_args *out, srv_perr *err);

/* -ENAMETOOLONG when the whole path or one component is over the kernel's
 * limits (PATH_MAX 4096 with its NUL, NAME_MAX 255), else 0. */
int srv_path_len_ok(const char *p);

/* :signal's signal, 1..64; -1 with err naming the field otherwise. */
int srv_signal_from_pb(const Sbxd__Ext__V1__SignalProcessRequest *m, int *sig, srv_perr *err);

#endif
