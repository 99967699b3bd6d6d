/*
 * The file operations of rpc_files.h. One path for every call: the
 * arguments are judged (fileargs.c) before the sandbox is looked at, the
 * sandbox's root fd is taken under srv_lock, the I/O runs without it (the
 * fd keeps working, and fails cleanly if the sandbox goes), and the
 * answer is the call's response message. One errno -> error table.
 */
#include "rpc_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileargs.h"
#include "files.h"
#include "rpc_exec.h"

/* The one errno -> error map of the file calls. Every errno the
 * sandbox's kernel gives also travels by name in ErrorInfo metadata
 * "errno" (docs/api.md, "posix" extension), so a client can hand its
 * caller the very errno (EXDEV, ENOTDIR, EBUSY...) that a process inside
 * would have seen; the code and reason keep the public meaning. The
 * extension's own reasons (real = 0 only) are never sent on a real call. */
static const struct file_err {
	int e;
	srv_err kind, real;
} file_errs[] = {
	{ENOENT, SRV_E_FILE_NOT_FOUND, SRV_E_FILE_NOT_FOUND},
	{EACCES, SRV_E_FILE_PERMISSION, SRV_E_FILE_PERMISSION},
	{EPERM, SRV_E_FILE_PERMISSION, SRV_E_FILE_PERMISSION},
	{EROFS, SRV_E_FILE_PERMISSION, SRV_E_FILE_PERMISSION},
	{EEXIST, SRV_E_FILE_EXISTS, SRV_E_FILE_EXISTS},
	{EISDIR, SRV_E_FILE_IS_DIRECTORY, SRV_E_FILE_IS_DIRECTORY},
	{ENOTEMPTY, SRV_E_DIRECTORY_NOT_EMPTY, SRV_E_FILE_IO},
	{ENAMETOOLONG, SRV_E_NAME_TOO_LONG, SRV_E_INVALID},
	{ENOSPC, SRV_E_NO_SPACE, SRV_E_NO_SPACE},
	{EDQUOT, SRV_E_NO_SPACE, SRV_E_NO_SPACE},
	{EFBIG, SRV_E_FILE_TOO_LARGE, SRV_E_FILE_TOO_LARGE},
	{ESRCH, SRV_E_NOT_RUNNING, SRV_E_NOT_RUNNING},
	{EINVAL, SRV_E_INVALID, SRV_E_INVALID},
};

static int is_real(srv_route_kind kind)
{
	return kind == R_READ_FILE || kind == R_WRITE_FILE;
}

/* e: a negative errno (or -SRV_EPSEUDO, -SRV_ENOTREG); path: the call's.
 * Returns SRV_RPC_FAIL. */
static int file_fail(srv_status *st, int e, const char *path, int real)
{
	switch (-e) {
	case SRV_EPSEUDO:
		srv_fail(st, SRV_E_INVALID, "path",
			 "%.200s: on a kernel pseudo file system (procfs, sysfs, cgroupfs, FUSE...); "
			 "file calls refuse those, run a command in the sandbox instead", path);
		srv_status_md(st, "path", path);
		return SRV_RPC_FAIL;
	case SRV_ENOTREG:
		srv_fail(st, SRV_E_INVALID, "path",
			 "%.200s: not a regular file (a FIFO, socket or device); file calls read and "
			 "write regular files only", path);
		srv_status_md(st, "path", path);
		return SRV_RPC_FAIL;
	}
	/* Anything else is what the kernel said: CWSANDBOX_FILE_IO_FAILED
	 * unless the table knows better (wire.md section 6). */
	srv_err kind = SRV_E_FILE_IO;
	for (size_t i = 0; i < sizeof file_errs / sizeof file_errs[0]; i++)
		if (file_errs[i].e == -e)
			kind = real ? file_errs[i].real : file_errs[i].kind;
	const char *name = strerrorname_np(-e);
	if (-e == ENAMETOOLONG)
		srv_fail(st, kind, "path", "path or one of its components too long (at most %d bytes, %d a component)",
			 SRV_MAX_PATH - 1, 255);
	else if (-e == ESRCH)
		srv_fail(st, kind, NULL, "the sandbox is not running");
	else if (-e == ENOENT)
		srv_fail(st, kind, NULL, "%.200s: no such file", path);
	else if (-e == EFBIG)
		srv_fail(st, kind, NULL, "%.200s: larger than %d bytes, the cap of a whole-file read", path,
			 SRV_MAX_READ_FILE);
	else
		srv_fail(st, kind, NULL, "%.200s: %s", path, strerror(-e));
	/* ESRCH is ours (no box to reach), not an errno of the sandbox; a
	 * too long path is not worth echoing. */
	if (-e != ENAMETOOLONG && -e != ESRCH) {
		srv_status_md(st, "path", path);
		srv_status_md(st, "errno", name);
	}
	return SRV_RPC_FAIL;
}

static int nomem(srv_status *st)
{
	return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
}

/* A new, empty message of type d (the INIT defaults). */
static ProtobufCMessage *msg_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);
	if (m)
		d->message_init(m);
	return m;
}

/* The sandbox_id field every file request has. */
static const char *sandbox_of(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "sandbox_id");
	return f && f->type == PROTOBUF_C_TYPE_STRING ? *(char *const *)((const char *)m + f->offset) : "";
}

/* Calls that change the sandbox's files (refused read-only). */
static int changes(srv_route_kind kind)
{
	switch (kind) {
	case R_READ_FILE:
	case R_READ_FILE_RANGE:
	case R_LIST_DIR:
	case R_LIST_DIRS:
	case R_STAT_FILE:
	case R_STAT_FILE_SYSTEM:
	case R_GET_XATTR:
	case R_LIST_XATTRS:
		return 0;
	default:
		return 1;
	}
}

/* One listing of :listDirs into r (its array grown by one); -errno. */
static int list_one(int root, const char *path, size_t max, Sbxd__Ext__V1__ListDirsResponse *r)
{
	Sbxd__Ext__V1__DirListing **nl = realloc(r->listings, (r->n_listings + 1) * sizeof *nl);
	if (!nl)
		return -ENOMEM;
	r->listings = nl;
	Sbxd__Ext__V1__DirListing *l = (void *)msg_new(&sbxd__ext__v1__dir_listing__descriptor);
	Sbxd__Ext__V1__ListDirResponse one = SBXD__EXT__V1__LIST_DIR_RESPONSE__INIT;
	if (!l || !(l->path = strdup(path))) {
		free(l);
		return -ENOMEM;
	}
	int rc = srv_file_list(root, path, max, &one);
	l->entries = one.entries;
	l->n_entries = one.n_entries;
	r->listings[r->n_listings++] = l;       /* freed with r either way */
	return rc;
}

/* :listDirs: path's listing, then each of the others that lists and
 * fits whole in what is left of SRV_MAX_LIST_DIRS_ENTRIES. */
static int list_dirs(int root, const srv_file_args *fa, Sbxd__Ext__V1__ListDirsResponse *r)
{
	int rc = list_one(root, fa->path, 100000, r);
	if (rc)
		return rc;
	size_t used = r->listings[0]->n_entries;
	for (size_t i = 0; i < fa->n_more_paths && used < SRV_MAX_LIST_DIRS_ENTRIES; i++) {
		size_t left = SRV_MAX_LIST_DIRS_ENTRIES - used;
		/* One more than fits tells a listing that does not fit. */
		rc = list_one(root, fa->more_paths[i], left + 1, r);
		Sbxd__Ext__V1__DirListing *l = r->listings[r->n_listings - 1];
		if (rc == -ENOMEM)
			return rc;
		if (rc || l->n_entries > left) {
			r->n_listings--;
			wire_message_free(&l->base);
			continue;
		}
		used += l->n_entries;
	}
	return 0;
}

/* The I/O of one call on root, without srv_lock; *resp built here. */
static int run(srv_route_kind kind, int root, int read_only, const srv_file_args *fa, ProtobufCMessage **resp)
{
	const char *path = fa->path;
	Sbxd__Ext__V1__FileEntry *entry = NULL;
	int rc;
	switch (kind) {
	case R_READ_FILE: {
		Coreweave__Sandbox__V1__ReadFileResponse *r = (void *)msg_new(&coreweave__sandbox__v1__read_file_response__descriptor);
		if (!r)
			return -ENOMEM;
		*resp = &r->base;
		return srv_file_read_all(root, path, SRV_MAX_READ_FILE, &r->content.data, &r->content.len);
	}
	case R_READ_FILE_RANGE: {
		Sbxd__Ext__V1__ReadFileRangeResponse *r = (void *)msg_new(&sbxd__ext__v1__read_file_range_response__descriptor);
		if (!r)
			return -ENOMEM;
		*resp = &r->base;
		int eof = 0;
		rc = srv_file_read(root, path, fa->offset, (size_t)fa->length, &r->content.data, &r->content.len, &r->size,
				   &eof);
		r->eof = eof;
		if (!rc && !r->content.len) {
			free(r->content.data);
			r->content.data = NULL;
		}
		return rc;
	}
	case R_WRITE_FILE:
		if (!(*resp = msg_new(&coreweave__sandbox__v1__write_file_response__descriptor)))
			return -ENOMEM;
		return srv_file_write(root, path, fa->data ? fa->data : (const unsigned char *)"", fa->len, -1, 0, 1, -1);
	case R_WRITE_FILE_AT:
		if (!(*resp = msg_new(&sbxd__ext__v1__write_file_at_response__descriptor)))
			return -ENOMEM;
		return srv_file_write(root, path, fa->data ? fa->data : (const unsigned char *)"", fa->len, fa->offset,
				      fa->append, fa->truncate, fa->mode);
	case R_LIST_DIR: {
		Sbxd__Ext__V1__ListDirResponse *r = (void *)msg_new(&sbxd__ext__v1__list_dir_response__descriptor);
		if (!r)
			return -ENOMEM;
		*resp = &r->base;
		return srv_file_list(root, path, 100000, r);
	}
	case R_STAT_FILE:
		rc = srv_file_stat(root, path, &entry);
		break;
	case R_MAKE_DIR:
		if (!(*resp = msg_new(&sbxd__ext__v1__make_dir_response__descriptor)))
			return -ENOMEM;
		return srv_file_mkdir(root, path, fa->mode);
	case R_REMOVE_FILE:
		if (!(*resp = msg_new(&sbxd__ext__v1__remove_file_response__descriptor)))
			return -ENOMEM;
		return srv_file_remove(root, path, fa->recursive);
	case R_CREATE_FILE:
		rc = srv_file_create(root, path, fa->mode, fa->exclusive, fa->truncate, &entry);
		break;
	case R_SET_FILE_ATTRS:
		rc = srv_file_setattr(root, path, &fa->attrs, &entry);
		break;
	case R_RENAME_FILE:
		if (!(*resp = msg_new(&sbxd__ext__v1__rename_file_response__descriptor)))
			return -ENOMEM;
		return srv_file_rename(root, path, fa->new_path, fa->rename_flags);
	case R_CREATE_SYMLINK:
		rc = srv_file_symlink(root, path, fa->target);
		if (!rc)
			rc = srv_file_stat(root, path, &entry);
		break;
	case R_LINK_FILE:
		rc = srv_file_link(root, path, fa->new_path);
		if (!rc)
			rc = srv_file_stat(root, fa->new_path, &entry);
		break;
	case R_MAKE_NODE:
		/* The sandbox's /dev binds the host's devices; a device node
		 * made here would be one more door to them. */
		rc = fa->node == 'd' ? -EPERM : srv_file_mknod(root, path, fa->node == 'f', fa->mode);
		if (!rc)
			rc = srv_file_stat(root, path, &entry);
		break;
	case R_STAT_FILE_SYSTEM: {
		Sbxd__Ext__V1__StatFileSystemResponse *r = (void *)msg_new(&sbxd__ext__v1__stat_file_system_response__descriptor);
		if (!r)
			return -ENOMEM;
		*resp = &r->base;
		rc = srv_file_statfs(root, path, r);
		if (read_only)
			r->read_only = 1;
		return rc;
	}
	case R_GET_XATTR: {
		Sbxd__Ext__V1__GetXattrResponse *r = (void *)msg_new(&sbxd__ext__v1__get_xattr_response__descriptor);
		if (!r)
			return -ENOMEM;
		*resp = &r->base;
		rc = srv_file_xattr_get(root, path, fa->name, &r->value.data, &r->value.len);
		if (!rc && !r->value.len) {
			free(r->value.data);
			r->value.data = NULL;
		}
		return rc;
	}
	case R_LIST_XATTRS: {
		Sbxd__Ext__V1__ListXattrsResponse *r = (void *)msg_new(&sbxd__ext__v1__list_xattrs_response__descriptor);
		if (!r)
			return -ENOMEM;
		*resp = &r->base;
		return srv_file_xattr_list(root, path, r);
	}
	case R_SET_XATTR:
		if (!(*resp = msg_new(&sbxd__ext__v1__set_xattr_response__descriptor)))
			return -ENOMEM;
		return srv_file_xattr_set(root, path, fa->name, fa->data, fa->len, fa->xattr_flags);
	case R_REMOVE_XATTR:
		if (!(*resp = msg_new(&sbxd__ext__v1__remove_xattr_response__descriptor)))
			return -ENOMEM;
		return srv_file_xattr_remove(root, path, fa->name);
	case R_LIST_DIRS: {
		Sbxd__Ext__V1__ListDirsResponse *r = (void *)msg_new(&sbxd__ext__v1__list_dirs_response__descriptor);
		if (!r)
			return -ENOMEM;
		*resp = &r->base;
		return list_dirs(root, fa, r);
	}
	case R_ALLOCATE_FILE:
		rc = srv_file_allocate(root, path, fa->falloc_flags, fa->offset, fa->length, &entry);
		break;
	default:
		return -EINVAL;
	}
	/* The calls that answer an entry. */
	if (entry)
		*resp = &entry->base;
	return rc;
}

int srv_rpc_file(srv_call *c, srv_route_kind kind, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 srv_status *st)
{
	srv_file_args fa;
	srv_perr perr;
	int real = is_real(kind);
	*resp = NULL;
	/* Every argument is checked before the sandbox is looked at. */
	int rc = srv_file_args_from_pb(kind, req, &fa, &perr);
	if (rc == -ENAMETOOLONG) {
		file_fail(st, rc, fa.path ? fa.path : "", real);
		if (perr.field[0])
			snprintf(st->field, sizeof st->field, "%s", perr.field);
		return SRV_RPC_FAIL;
	}
	if (rc != 0)
		return srv_fail_perr(st, &perr);
	srv_sbx *s = srv_rpc_sandbox(c, sandbox_of(req), st);
	if (!s || (real && srv_rpc_container(s, fa.container, "container", st) != 0))
		return SRV_RPC_FAIL;
	int read_only;
	int root = srv_root_fd(s, &read_only);
	if (root < 0) {
		if (errno == ENOTSUP)
			return srv_fail(st, SRV_E_NOT_IMPLEMENTED, NULL, "file calls are not available with this runtime");
		return file_fail(st, -ESRCH, fa.path, real);
	}
	/* A finished sandbox's files are kept for reading only (nothing in
	 * it runs to see a change, and its memory is no longer governed). */
	if (read_only && changes(kind)) {
		close(root);
		srv_root_fd_done();
		return file_fail(st, -EROFS, fa.path, real);
	}
	/* The root fd keeps working without the lock (and fails cleanly if
	 * the sandbox goes away), so large file I/O does not stall others. */
	pthread_mutex_unlock(&srv_lock);
	rc = run(kind, root, read_only, &fa, resp);
	close(root);
	srv_root_fd_done();
	pthread_mutex_lock(&srv_lock);
	if (rc) {
		wire_message_free(*resp);
		*resp = NULL;
		return rc == -ENOMEM ? nomem(st) : file_fail(st, rc, fa.path, real);
	}
	if (!*resp)
		return nomem(st);
	return SRV_RPC_OK;
}

int srv_rpc_open_file(srv_call *c, const Sbxd__Ext__V1__OpenFileRequest *req, int *fd, int64_t *size,
                      int *read_only, srv_status *st)
{
	*fd = -1;
	*size = 0;
	*read_only = 0;
	const char *path = req->path ? req->path : "";
	/* The checks every file call's path gets (fileargs.c). */
	if (path[0] != '/')
		return srv_fail(st, SRV_E_INVALID, "path", "path must be an absolute path under %d bytes", SRV_MAX_PATH);
	if (srv_path_len_ok(path) != 0)
		return file_fail(st, -ENAMETOOLONG, path, 0);
	srv_sbx *s = srv_rpc_sandbox(c, req->sandbox_id, st);
	if (!s)
		return SRV_RPC_FAIL;
	int ro;
	int root = srv_root_fd(s, &ro);
	if (root < 0) {
		if (errno == ENOTSUP)
			return srv_fail(st, SRV_E_NOT_IMPLEMENTED, NULL, "file calls are not available with this runtime");
		return file_fail(st, -ESRCH, path, 0);
	}
	/* A finished sandbox's files are read-only: its descriptor too, so
	 * nothing written through it can change them after the end. */
	pthread_mutex_unlock(&srv_lock);
	int rc = srv_file_open(root, path, req->write && !ro, fd, size);
	close(root);
	srv_root_fd_done();
	pthread_mutex_lock(&srv_lock);
	if (rc)
		return rc == -ENOMEM ? nomem(st) : file_fail(st, rc, path, 0);
	*read_only = ro;
	return SRV_RPC_OK;
}

int srv_rpc_read_file(srv_call *c, const Coreweave__Sandbox__V1__ReadFileRequest *req,
                      Coreweave__Sandbox__V1__ReadFileResponse **resp, srv_status *st)
{
	ProtobufCMessage *m = NULL;
	int rc = srv_rpc_file(c, R_READ_FILE, &req->base, &m, st);
	*resp = (Coreweave__Sandbox__V1__ReadFileResponse *)m;
	return rc;
}

int srv_rpc_write_file(srv_call *c, const Coreweave__Sandbox__V1__WriteFileRequest *req,
                       Coreweave__Sandbox__V1__WriteFileResponse **resp, srv_status *st)
{
	ProtobufCMessage *m = NULL;
	int rc = srv_rpc_file(c, R_WRITE_FILE, &req->base, &m, st);
	*resp = (Coreweave__Sandbox__V1__WriteFileResponse *)m;
	return rc;
}
