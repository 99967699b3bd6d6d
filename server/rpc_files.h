/*
 * The file operations (rpc.h's conventions: srv_lock held, dropped while
 * the I/O runs; SRV_RPC_OK or SRV_RPC_FAIL): the real ReadFile and
 * WriteFile, and every call of the extension's "files" and "posix"
 * names, on their generated messages. Errors per docs/internals/wire.md
 * section 6: the kernel's errno travels in ErrorInfo metadata "errno".
 */
#ifndef SRV_RPC_FILES_H
#define SRV_RPC_FILES_H

#include "parse.h"
#include "rpc.h"

/* The whole file, at most SRV_MAX_READ_FILE bytes (more:
 * CWSANDBOX_FILE_TOO_LARGE). container: "" or the primary's name. */
int srv_rpc_read_file(srv_call *c, const Coreweave__Sandbox__V1__ReadFileRequest *req,
                      Coreweave__Sandbox__V1__ReadFileResponse **resp, srv_status *st);
/* The whole file: created (0644) or truncated, then written. */
int srv_rpc_write_file(srv_call *c, const Coreweave__Sandbox__V1__WriteFileRequest *req,
                       Coreweave__Sandbox__V1__WriteFileResponse **resp, srv_status *st);

/* Any file call by its route kind (R_READ_FILE ... R_REMOVE_XATTR,
 * R_READ_FILE_RANGE, R_WRITE_FILE_AT): req of srv_file_call_request(kind),
 * *resp of the route's response type. */
int srv_rpc_file(srv_call *c, srv_route_kind kind, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 srv_status *st);

/* "fileFd" (docs/api.md): the regular file at req->path opened for the
 * caller's descriptor, *fd (-1 on failure; the caller sends and closes
 * it), *size its size, *read_only 1 when the sandbox has ended (then the
 * fd is O_RDONLY whatever req->write asked). */
int srv_rpc_open_file(srv_call *c, const Sbxd__Ext__V1__OpenFileRequest *req, int *fd, int64_t *size,
                      int *read_only, srv_status *st);

#endif
