/*
 * The file calls' arguments from their decoded request messages
 * (fileargs.h): every check of a field's range and meaning happens here,
 * before any sandbox is looked at, so a bad request gets the same 400
 * whatever state the sandbox is in, and the fuzz target covers exactly
 * the code sbxd runs. The codec (wire/) has already refused unknown
 * fields and wrong JSON types; what is left is sbxd's own rules.
 */
#include "fileargs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <linux/falloc.h>

#include "json.h"

#define EXT(x) &sbxd__ext__v1__##x##__descriptor
#define PB(x) &coreweave__sandbox__v1__##x##__descriptor

/* Each file call's request type (the route rows say the same; this is
 * the parser library's own copy so it needs no router). */
static const struct {
	srv_route_kind kind;
	const ProtobufCMessageDescriptor *req;
	int get;
} calls[] = {
	{R_READ_FILE, PB(read_file_request), 1},
	{R_WRITE_FILE, PB(write_file_request), 0},
	{R_READ_FILE_RANGE, EXT(read_file_range_request), 1},
	{R_WRITE_FILE_AT, EXT(write_file_at_request), 0},
	{R_LIST_DIR, EXT(list_dir_request), 1},
	{R_STAT_FILE, EXT(stat_file_request), 1},
	{R_MAKE_DIR, EXT(make_dir_request), 0},
	{R_REMOVE_FILE, EXT(remove_file_request), 0},
	{R_CREATE_FILE, EXT(create_file_request), 0},
	{R_SET_FILE_ATTRS, EXT(set_file_attrs_request), 0},
	{R_RENAME_FILE, EXT(rename_file_request), 0},
	{R_CREATE_SYMLINK, EXT(create_symlink_request), 0},
	{R_LINK_FILE, EXT(link_file_request), 0},
	{R_MAKE_NODE, EXT(make_node_request), 0},
	{R_STAT_FILE_SYSTEM, EXT(stat_file_system_request), 1},
	{R_GET_XATTR, EXT(get_xattr_request), 1},
	{R_LIST_XATTRS, EXT(list_xattrs_request), 1},
	{R_SET_XATTR, EXT(set_xattr_request), 0},
	{R_REMOVE_XATTR, EXT(remove_xattr_request), 0},
	{R_ALLOCATE_FILE, EXT(allocate_file_request), 0},
	{R_LIST_DIRS, EXT(list_dirs_request), 0},
};

/* The route rows served by srv_rpc_file, by their file call kind. */
static const struct {
	const char *rpc;
	srv_route_kind kind;
} file_rpcs[] = {
	{"ReadFile", R_READ_FILE}, {"WriteFile", R_WRITE_FILE}, {"ReadFileRange", R_READ_FILE_RANGE},
	{"WriteFileAt", R_WRITE_FILE_AT}, {"ListDir", R_LIST_DIR}, {"StatFile", R_STAT_FILE},
	{"MakeDir", R_MAKE_DIR}, {"RemoveFile", R_REMOVE_FILE}, {"CreateFile", R_CREATE_FILE},
	{"SetFileAttrs", R_SET_FILE_ATTRS}, {"RenameFile", R_RENAME_FILE}, {"CreateSymlink", R_CREATE_SYMLINK},
	{"LinkFile", R_LINK_FILE}, {"MakeNode", R_MAKE_NODE}, {"StatFileSystem", R_STAT_FILE_SYSTEM},
	{"GetXattr", R_GET_XATTR}, {"ListXattrs", R_LIST_XATTRS}, {"SetXattr", R_SET_XATTR},
	{"RemoveXattr", R_REMOVE_XATTR}, {"AllocateFile", R_ALLOCATE_FILE},
	{"ListDirs", R_LIST_DIRS},
};

srv_route_kind srv_file_kind_of(const char *rpc)
{
	for (size_t i = 0; i < sizeof file_rpcs / sizeof file_rpcs[0]; i++)
		if (strcmp(file_rpcs[i].rpc, rpc) == 0)
			return file_rpcs[i].kind;
	return R_NONE;
}

const ProtobufCMessageDescriptor *srv_file_call_request(srv_route_kind kind)
{
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
		if (calls[i].kind == kind)
			return calls[i].req;
	return NULL;
}

int srv_file_call_is_get(srv_route_kind kind)
{
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
		if (calls[i].kind == kind)
			return calls[i].get;
	return 0;
}

/* The failure, naming the field by its JSON name (derived from the proto
 * name). Returns -1. */
static int blame(srv_perr *e, const char *proto_field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int blame(srv_perr *e, const char *proto_field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	wire_json_name(proto_field, e->field, sizeof e->field);
	return -1;
}

int srv_path_len_ok(const char *p)
{
	if (strlen(p) >= SRV_MAX_PATH)
		return -ENAMETOOLONG;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");
		if (n > 255)
			return -ENAMETOOLONG;
		c += n;
		c += strspn(c, "/");
	}
	return 0;
}

static int abs_path(const char *p, const char *field, srv_perr *e)
{
	if (!p || p[0] != '/') {
		char jn[64];
		wire_json_name(field, jn, sizeof jn);
		return blame(e, field, "%s must be an absolute path under %d bytes", jn, SRV_MAX_PATH);
	}
	return 0;
}

/* A mode: 0..07777 (the message type allows any uint32). */
static int mode_ok(uint32_t m, srv_perr *e)
{
	return m > 07777 ? blame(e, "mode", "mode must be an integer 0..4095") : 0;
}

/* One time of :setFileAttrs: "" leaves it (UTIME_OMIT), "now" is
 * UTIME_NOW, else an RFC 3339 time after 1970. */
static int time_arg(const char *t, const char *field, unsigned bit, srv_attrs *a, int64_t *ns, int *now,
		    srv_perr *e)
{
	if (!*t)
		return 0;
	if (strcmp(t, "now") == 0)
		*now = 1;
	else if (srv_parse_time(t, ns) != 0 || *ns < 0)
		return blame(e, field, "accessTime and modifyTime must be RFC 3339 times after 1970 or \"now\"");
	a->set |= bit;
	return 0;
}

static int attrs_arg(const Sbxd__Ext__V1__SetFileAttrsRequest *m, srv_attrs *a, srv_perr *e)
{
	memset(a, 0, sizeof *a);
	if (m->_mode_case == SBXD__EXT__V1__SET_FILE_ATTRS_REQUEST___MODE_MODE) {
		if (mode_ok(m->mode, e) != 0)
			return -1;
		a->set |= SRV_ATTR_MODE;
		a->mode = m->mode;
	}
	/* (uid_t)-1 means "leave it" to chown: never a real owner. */
	if (m->_uid_case == SBXD__EXT__V1__SET_FILE_ATTRS_REQUEST___UID_UID) {
		if (m->uid == UINT32_MAX)
			return blame(e, "uid", "uid must be 0..%u", UINT32_MAX - 1);
		a->set |= SRV_ATTR_UID;
		a->uid = m->uid;
	}
	if (m->_gid_case == SBXD__EXT__V1__SET_FILE_ATTRS_REQUEST___GID_GID) {
		if (m->gid == UINT32_MAX)
			return blame(e, "gid", "gid must be 0..%u", UINT32_MAX - 1);
		a->set |= SRV_ATTR_GID;
		a->gid = m->gid;
	}
	if (m->_size_case == SBXD__EXT__V1__SET_FILE_ATTRS_REQUEST___SIZE_SIZE) {
		if (m->size < 0 || m->size > INT64_MAX / 2)
			return blame(e, "size", "size must be 0..%lld", (long long)(INT64_MAX / 2));
		a->set |= SRV_ATTR_SIZE;
		a->size = m->size;
	}
	if (time_arg(m->access_time, "access_time", SRV_ATTR_ATIME, a, &a->atime_ns, &a->atime_now, e) != 0 ||
	    time_arg(m->modify_time, "modify_time", SRV_ATTR_MTIME, a, &a->mtime_ns, &a->mtime_now, e) != 0)
		return -1;
	return 0;
}

static int write_at_args(const Sbxd__Ext__V1__WriteFileAtRequest *m, srv_file_args *a, srv_perr *e)
{
	a->data = m->content.data;
	a->len = m->content.len;
	if (m->_offset_case == SBXD__EXT__V1__WRITE_FILE_AT_REQUEST___OFFSET_OFFSET) {
		if (m->offset < 0 || m->offset > INT64_MAX / 2)
			return blame(e, "offset", "offset must be a non-negative integer");
		a->offset = m->offset;
	}
	if (m->_mode_case == SBXD__EXT__V1__WRITE_FILE_AT_REQUEST___MODE_MODE) {
		if (mode_ok(m->mode, e) != 0)
			return -1;
		a->mode = (int)m->mode;
	}
	a->append = m->append;
	/* Without an offset a write replaces the file unless told not to. */
	a->truncate = m->_truncate_case == SBXD__EXT__V1__WRITE_FILE_AT_REQUEST___TRUNCATE_TRUNCATE ? m->truncate
												 : a->offset < 0;
	return 0;
}

static int range_args(const Sbxd__Ext__V1__ReadFileRangeRequest *m, srv_file_args *a, srv_perr *e)
{
	if (m->offset < 0 || m->offset > INT64_MAX / 2)
		return blame(e, "offset", "offset must be a non-negative integer");
	if (m->length < 0)
		return blame(e, "length", "length must be a non-negative integer");
	a->offset = m->offset;
	/* 0 or over the cap: the cap (a short read is not an error). */
	a->length = m->length == 0 || m->length > SRV_MAX_READ_RANGE ? SRV_MAX_READ_RANGE : m->length;
	a->raw = m->raw;
	return 0;
}

/* A second path of a call (newPath): absolute and within the kernel's
 * limits. */
static int second_path(const char *p, const char **out, srv_perr *e)
{
	*out = p;
	if (abs_path(p, "new_path", e) != 0)
		return -1;
	if (srv_path_len_ok(p) != 0) {
		wire_json_name("new_path", e->field, sizeof e->field);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* An xattr name: a non-empty string (its length is the kernel's to
 * judge: ERANGE past XATTR_NAME_MAX, as inside the sandbox). */
static int xattr_name(const char *name, const char **out, srv_perr *e)
{
	*out = name;
	return *name ? 0 : blame(e, "name", "name must be an attribute name");
}

static int node_args(const Sbxd__Ext__V1__MakeNodeRequest *m, srv_file_args *a, srv_perr *e)
{
	static const struct {
		const char *word;
		char node;
	} kinds[] = {{"fifo", 'f'}, {"socket", 's'}, {"char", 'd'}, {"block", 'd'}};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(m->special, kinds[i].word) == 0)
			a->node = kinds[i].node;
	if (!a->node)
		return blame(e, "special", "special must be \"fifo\", \"socket\", \"char\" or \"block\"");
	a->mode = 0644;
	if (m->_mode_case == SBXD__EXT__V1__MAKE_NODE_REQUEST___MODE_MODE) {
		if (mode_ok(m->mode, e) != 0)
			return -1;
		a->mode = (int)m->mode;
	}
	return 0;
}

/* fallocate(2)'s own range rules (offset >= 0, length > 0, the end
 * within a file size) are checked here, so a bad range is the same 400
 * in every state; the flags go to the kernel as given. */
static int alloc_args(const Sbxd__Ext__V1__AllocateFileRequest *m, srv_file_args *a, srv_perr *e)
{
	if (m->offset < 0)
		return blame(e, "offset", "offset must be a non-negative integer");
	if (m->length <= 0)
		return blame(e, "length", "length must be a positive integer");
	if (m->offset > INT64_MAX - m->length)
		return blame(e, "length", "offset + length is past the largest file size");
	a->offset = m->offset;
	a->length = m->length;
	a->falloc_flags = (m->keep_size ? FALLOC_FL_KEEP_SIZE : 0) | (m->punch_hole ? FALLOC_FL_PUNCH_HOLE : 0) |
			  (m->zero_range ? FALLOC_FL_ZERO_RANGE : 0) |
			  (m->collapse_range ? FALLOC_FL_COLLAPSE_RANGE : 0) |
			  (m->insert_range ? FALLOC_FL_INSERT_RANGE : 0) | (m->unshare_range ? FALLOC_FL_UNSHARE_RANGE : 0);
	return 0;
}

/* The path field of any file call's request: every one has a string
 * field "path" (extension.proto and the schema's ReadFile/WriteFile). */
static const char *path_of(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "path");
	if (!f || f->type != PROTOBUF_C_TYPE_STRING)
		return NULL;
	return *(char *const *)((const char *)m + f->offset);
}

int srv_file_args_from_pb(srv_route_kind kind, const ProtobufCMessage *m, srv_file_args *a, srv_perr *e)
{
	int rc = 0;
	memset(a, 0, sizeof *a);
	e->msg[0] = e->field[0] = '\0';
	a->offset = -1;
	a->mode = -1;
	if (!m || m->descriptor != srv_file_call_request(kind))
		return blame(e, "", "not a file call");
	a->path = path_of(m);
	if (abs_path(a->path, "path", e) != 0)
		return -1;
	if (srv_path_len_ok(a->path) != 0) {
		wire_json_name("path", e->field, sizeof e->field);
		return -ENAMETOOLONG;
	}
	switch (kind) {
	case R_READ_FILE:
		a->container = ((const Coreweave__Sandbox__V1__ReadFileRequest *)m)->container;
		break;
	case R_WRITE_FILE: {
		const Coreweave__Sandbox__V1__WriteFileRequest *w = (const void *)m;
		/* The real call writes the whole file: create or truncate. */
		a->container = w->container;
		a->data = w->content.data;
		a->len = w->content.len;
		a->truncate = 1;
		break;
	}
	case R_READ_FILE_RANGE:
		rc = range_args((const void *)m, a, e);
		break;
	case R_WRITE_FILE_AT:
		rc = write_at_args((const void *)m, a, e);
		break;
	case R_LIST_DIR:
	case R_STAT_FILE:
	case R_STAT_FILE_SYSTEM:
	case R_LIST_XATTRS:
		break;
	case R_GET_XATTR:
		rc = xattr_name(((const Sbxd__Ext__V1__GetXattrRequest *)m)->name, &a->name, e);
		break;
	case R_MAKE_DIR: {
		const Sbxd__Ext__V1__MakeDirRequest *d = (const void *)m;
		if (d->_mode_case == SBXD__EXT__V1__MAKE_DIR_REQUEST___MODE_MODE) {
			rc = mode_ok(d->mode, e);
			a->mode = (int)d->mode;
		}
		break;
	}
	case R_REMOVE_FILE:
		a->recursive = ((const Sbxd__Ext__V1__RemoveFileRequest *)m)->recursive;
		break;
	case R_CREATE_FILE: {
		const Sbxd__Ext__V1__CreateFileRequest *c = (const void *)m;
		a->mode = 0644;
		if (c->_mode_case == SBXD__EXT__V1__CREATE_FILE_REQUEST___MODE_MODE) {
			rc = mode_ok(c->mode, e);
			a->mode = (int)c->mode;
		}
		a->exclusive = c->exclusive;
		a->truncate = c->truncate;
		break;
	}
	case R_SET_FILE_ATTRS:
		rc = attrs_arg((const void *)m, &a->attrs, e);
		break;
	case R_RENAME_FILE: {
		const Sbxd__Ext__V1__RenameFileRequest *r = (const void *)m;
		rc = second_path(r->new_path, &a->new_path, e);
		if (rc == 0 && r->no_replace && r->exchange)
			rc = blame(e, "exchange", "noReplace and exchange exclude each other");
		a->rename_flags = (r->no_replace ? RENAME_NOREPLACE : 0) | (r->exchange ? RENAME_EXCHANGE : 0);
		break;
	}
	case R_LINK_FILE:
		rc = second_path(((const Sbxd__Ext__V1__LinkFileRequest *)m)->new_path, &a->new_path, e);
		break;
	case R_CREATE_SYMLINK:
		a->target = ((const Sbxd__Ext__V1__CreateSymlinkRequest *)m)->target;
		/* Empty text: symlink(2)'s ENOENT, the kernel's answer. */
		if (strlen(a->target) >= SRV_MAX_PATH) {
			wire_json_name("target", e->field, sizeof e->field);
			rc = -ENAMETOOLONG;   /* symlink(2)'s answer */
		}
		break;
	case R_MAKE_NODE:
		rc = node_args((const void *)m, a, e);
		break;
	case R_SET_XATTR: {
		const Sbxd__Ext__V1__SetXattrRequest *x = (const void *)m;
		rc = xattr_name(x->name, &a->name, e);
		if (rc == 0 && x->create && x->replace)
			rc = blame(e, "replace", "create and replace exclude each other");
		a->data = x->value.data;
		a->len = x->value.len;
		a->xattr_flags = x->create ? XATTR_CREATE : x->replace ? XATTR_REPLACE : 0;
		break;
	}
	case R_REMOVE_XATTR:
		rc = xattr_name(((const Sbxd__Ext__V1__RemoveXattrRequest *)m)->name, &a->name, e);
		break;
	case R_ALLOCATE_FILE:
		rc = alloc_args((const void *)m, a, e);
		break;
	case R_LIST_DIRS: {
		const Sbxd__Ext__V1__ListDirsRequest *l = (const void *)m;
		if (l->n_more_paths > SRV_MAX_LIST_DIRS) {
			rc = blame(e, "more_paths", "at most %d more paths", SRV_MAX_LIST_DIRS);
			break;
		}
		for (size_t i = 0; !rc && i < l->n_more_paths; i++) {
			rc = abs_path(l->more_paths[i], "more_paths", e);
			if (!rc && srv_path_len_ok(l->more_paths[i]) != 0) {
				wire_json_name("more_paths", e->field, sizeof e->field);
				rc = -ENAMETOOLONG;
			}
		}
		a->more_paths = (const char *const *)l->more_paths;
		a->n_more_paths = l->n_more_paths;
		break;
	}
	default:
		rc = blame(e, "", "not a file call");
	}
	return rc;
}

int srv_signal_from_pb(const Sbxd__Ext__V1__SignalProcessRequest *m, int *sig, srv_perr *e)
{
	*sig = -1;
	e->msg[0] = e->field[0] = '\0';
	if (m->signal < 1 || m->signal > 64)
		return blame(e, "signal", "signal must be a number 1..64, e.g. {\"signal\": 15}");
	*sig = m->signal;
	return 0;
}
