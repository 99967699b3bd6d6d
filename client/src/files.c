/*
 * File calls of libsbx: the public readFile/writeFile, and sbxd's
 * extension (ranged I/O, listDir, statFile, makeDir, removeFile; with
 * "posix" also createFile, setFileAttrs, renameFile). Against a service
 * without the extension a ranged read is served from a whole-file read;
 * the other extension calls answer SBX_E_UNSUPPORTED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/falloc.h>
#include <time.h>

#include "answer.h"
#include "http.h"
#include "json.h"
#include "pb.h"
#include "extension.pb-c.h"
#include "sandbox.pb-c.h"
#include "util.h"

/* The biggest file the read-modify-write fallback handles (write_rmw). */
#define SBX_RMW_MAX ((size_t)8 << 20)

#define SBX_MAX_PATH 4096

static sbx_result check_args(const char *sandbox_id, const char *path, sbx_error *err)
{
	sbx_result r = sbx_check_sandbox_id(sandbox_id, err);
	if (r != SBX_OK)
		return r;
	if (!path || path[0] != '/' || strlen(path) > SBX_MAX_PATH)
		return sbx_fail(err, SBX_E_INVALID, "bad file path (must be absolute, at most %d bytes)", SBX_MAX_PATH);
	return SBX_OK;
}

static unsigned features(sbx_client *c)
{
	unsigned f = 0;
	if (sbx_client_features(c, &f, NULL) != SBX_OK)
		return 0;
	return f;
}

/* Each extension call only when the service announces it: elsewhere its
 * path is unmatched (404) and would read as "no such file". */
static sbx_result need_files(sbx_client *c, const char *what, sbx_error *err)
{
	if (features(c) & SBX_FEAT_FILES)
		return SBX_OK;
	return sbx_fail(err, SBX_E_UNSUPPORTED,
	                "%s needs the service's \"files\" extension (sbxd); the real API has only whole-file "
	                "readFile/writeFile", what);
}

/* One extension call of route rpc with request q; the answer decoded as
 * the row's response (into *out when out is not NULL). */
static sbx_result ext_call(sbx_client *c, const char *rpc, const ProtobufCMessage *q, int safe, ProtobufCMessage **out,
                           sbx_error *err)
{
	const wire_route *rt;
	sbx_result r = sbx_pb_ext_route(rpc, &rt, err);
	if (r != SBX_OK)
		return r;
	sbx_http_req base = {.safe = safe};
	return sbx_pb_call(c, rt, q, NULL, &base, out, err);
}

/* An extension call answering a FileEntry, mapped into out (when not
 * NULL) as an entry named after path's last component. */
static sbx_result entry_call(sbx_client *c, const char *rpc, const ProtobufCMessage *q, int safe, sbx_dirent *out,
                             sbx_error *err)
{
	ProtobufCMessage *m = NULL;
	if (out)
		memset(out, 0, sizeof *out);
	sbx_result r = ext_call(c, rpc, q, safe, out ? &m : NULL, err);
	if (r == SBX_OK && out)
		r = sbx_stat_from_pb(m, out, err);
	wire_message_free(m);
	return r;
}

/* sbxd's ranged read (the "files" extension): with "posix" its raw form,
 * the bytes as the body (no base64, no JSON), the whole size in
 * X-Sbx-Size. */
static sbx_result read_range(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, int64_t length,
                             void **data, size_t *len, int64_t *size, sbx_error *err)
{
	const wire_route *rt;
	sbx_result r = sbx_pb_ext_route("ReadFileRange", &rt, err);
	if (r != SBX_OK)
		return r;
	Sbxd__Ext__V1__ReadFileRangeRequest q = SBXD__EXT__V1__READ_FILE_RANGE_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.offset = offset;
	q.length = length;
	if (!(length > 0 && length <= ((int64_t)16 << 20) && (features(c) & SBX_FEAT_POSIX))) {
		ProtobufCMessage *m = NULL;
		sbx_http_req base = {.safe = 1};
		if ((r = sbx_pb_call(c, rt, &q.base, NULL, &base, &m, err)) == SBX_OK)
			r = sbx_read_range_from_pb(m, data, len, size, err);
		wire_message_free(m);
		return r;
	}
	q.raw = 1;
	char *url = NULL;
	if ((r = sbx_pb_raw_path(rt, &q.base, NULL, &url, err)) != SBX_OK)
		return r;
	char *buf = malloc((size_t)length + 1);
	if (!buf) {
		free(url);
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	sbx_http_resp resp;
	sbx_http_resp_init(&resp, (size_t)1 << 20);
	sbx_http_req req = {.method = rt->method, .path = url, .safe = 1, .out_buf = buf, .out_cap = (size_t)length};
	r = sbx_http_call(c, &req, &resp, err);
	if (r == SBX_OK && resp.out_overflow)
		r = sbx_fail(err, SBX_E_PROTOCOL, "raw readFileRange answer longer than asked");
	if (r == SBX_OK) {
		buf[resp.out_len] = '\0';
		*data = buf;
		*len = resp.out_len;
		/* A proxy may drop the X-Sbx-* headers: the size is then unknown. */
		if (size)
			*size = resp.have_size && resp.x_size >= 0 ? resp.x_size : -1;
		buf = NULL;
	}
	sbx_http_resp_free(&resp);
	free(buf);
	free(url);
	return r;
}

/* sbxd's write at an offset or at the end (the "files" extension); with
 * "posix" its raw form: the bytes as an application/octet-stream body,
 * the request's other fields in the query. Never truncates. */
static sbx_result write_at(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, int append,
                           const void *data, size_t len, int safe, sbx_error *err)
{
	const wire_route *rt;
	sbx_result r = sbx_pb_ext_route("WriteFileAt", &rt, err);
	if (r != SBX_OK)
		return r;
	Sbxd__Ext__V1__WriteFileAtRequest q = SBXD__EXT__V1__WRITE_FILE_AT_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	if (append) {
		q.append = 1;
	} else {
		q._offset_case = SBXD__EXT__V1__WRITE_FILE_AT_REQUEST___OFFSET_OFFSET;
		q.offset = offset;
	}
	q._truncate_case = SBXD__EXT__V1__WRITE_FILE_AT_REQUEST___TRUNCATE_TRUNCATE;
	q.truncate = 0;
	if (!(features(c) & SBX_FEAT_POSIX)) {
		q.content.data = (uint8_t *)data;
		q.content.len = data ? len : 0;
		sbx_http_req base = {.safe = safe};
		return sbx_pb_call(c, rt, &q.base, NULL, &base, NULL, err);
	}
	char *url = NULL;
	if ((r = sbx_pb_raw_path(rt, &q.base, "content", &url, err)) != SBX_OK)
		return r;
	sbx_http_req req = {.method = rt->method, .path = url, .body = len ? data : "", .body_len = len, .octet = 1,
	                    .safe = safe};
	sbx_http_resp resp;
	sbx_http_resp_init(&resp, (size_t)1 << 20);
	r = sbx_http_call(c, &req, &resp, err);
	if (r == SBX_OK) {
		ProtobufCMessage *m = NULL;
		r = sbx_pb_answer(rt->resp, resp.body.data, resp.body.len, &m, err);
		wire_message_free(m);
	}
	sbx_http_resp_free(&resp);
	free(url);
	return r;
}

/* The real ReadFile: the whole file. */
static sbx_result read_whole(sbx_client *c, const char *sandbox_id, const char *path, void **data, size_t *len,
                             sbx_error *err)
{
	const wire_route *r;
	sbx_result res = sbx_pb_route("ReadFile", &r, err);
	if (res != SBX_OK)
		return res;
	Coreweave__Sandbox__V1__ReadFileRequest req = COREWEAVE__SANDBOX__V1__READ_FILE_REQUEST__INIT;
	req.sandbox_id = (char *)sandbox_id;
	req.path = (char *)path;
	ProtobufCMessage *m = NULL;
	sbx_http_req base = {.safe = 1};
	if ((res = sbx_pb_call(c, r, &req.base, NULL, &base, &m, err)) == SBX_OK)
		res = sbx_read_from_pb(m, data, len, err);
	wire_message_free(m);
	return res;
}

/* The real WriteFile: the whole file (created or truncated). */
static sbx_result write_whole(sbx_client *c, const char *sandbox_id, const char *path, const void *data, size_t len,
                              sbx_error *err)
{
	const wire_route *r;
	sbx_result res = sbx_pb_route("WriteFile", &r, err);
	if (res != SBX_OK)
		return res;
	Coreweave__Sandbox__V1__WriteFileRequest req = COREWEAVE__SANDBOX__V1__WRITE_FILE_REQUEST__INIT;
	req.sandbox_id = (char *)sandbox_id;
	req.path = (char *)path;
	req.content.data = (uint8_t *)data;
	req.content.len = data ? len : 0;
	/* Writing the same whole file twice is harmless. */
	sbx_http_req base = {.safe = 1};
	return sbx_pb_call(c, r, &req.base, NULL, &base, NULL, err);
}

sbx_result sbx_file_read(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, int64_t length,
                         void **data, size_t *len, int64_t *size, sbx_error *err)
{
	sbx_result r;
	void *d = NULL;
	size_t n = 0;
	*data = NULL;
	*len = 0;
	if (size)
		*size = -1;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK)
		return r;
	if (offset < 0 || length < 0)
		return sbx_fail(err, SBX_E_INVALID, "bad offset or length");
	if ((offset > 0 || length > 0) && (features(c) & SBX_FEAT_FILES))
		return read_range(c, sandbox_id, path, offset, length, data, len, size, err);
	if ((r = read_whole(c, sandbox_id, path, &d, &n, err)) != SBX_OK)
		return r;
	/* A whole file came: its size is what came; slice locally. */
	size_t off = (uint64_t)offset < n ? (size_t)offset : n;
	size_t want = n - off;
	if (length > 0 && (uint64_t)length < want)
		want = (size_t)length;
	if (off)
		memmove(d, (char *)d + off, want);
	((char *)d)[want] = '\0';
	if (size)
		*size = (int64_t)n;
	*data = d;
	*len = want;
	return SBX_OK;
}

/* Without the "files" extension a write at an offset or an append is a
 * read of the whole file, the change made here and a write of the whole
 * file, for files up to SBX_RMW_MAX (docs/filesystem.md): not atomic
 * against other writers of the same file, which the real API cannot be. */
static sbx_result write_rmw(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, int append,
                            const void *data, size_t len, sbx_error *err)
{
	void *old = NULL;
	size_t n = 0;
	sbx_error e;
	sbx_result r = read_whole(c, sandbox_id, path, &old, &n, &e);
	if (r == SBX_E_NOT_FOUND) {
		/* a new file: what is written is all of it */
		old = NULL;
		n = 0;
	} else if (r != SBX_OK) {
		if (err)
			*err = e;
		return r;
	}
	size_t at = append ? n : (size_t)offset;
	if (n > SBX_RMW_MAX || (uint64_t)offset > SBX_RMW_MAX || at + len > SBX_RMW_MAX) {
		free(old);
		return sbx_fail(err, SBX_E_UNSUPPORTED,
		                "writing inside a file over %d MiB needs the service's \"files\" extension",
		                (int)(SBX_RMW_MAX >> 20));
	}
	size_t total = at + len > n ? at + len : n;
	char *buf = malloc(total ? total : 1);
	if (!buf) {
		free(old);
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	memset(buf, 0, total);
	if (n)
		memcpy(buf, old, n);
	if (len)
		memcpy(buf + at, data, len);
	free(old);
	r = write_whole(c, sandbox_id, path, buf, total, err);
	free(buf);
	return r;
}

sbx_result sbx_file_write(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, const void *data,
                          size_t len, sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK)
		return r;
	if (len > ((size_t)12 << 20))
		return sbx_fail(err, SBX_E_TOO_LARGE, "write of %zu bytes is over the 12 MiB a request", len);
	if (offset < 0)
		return write_whole(c, sandbox_id, path, data, len, err);
	if (!(features(c) & SBX_FEAT_FILES))
		return write_rmw(c, sandbox_id, path, offset, 0, data, len, err);
	/* Writing the same bytes at the same place twice is harmless. */
	return write_at(c, sandbox_id, path, offset, 0, data, len, 1, err);
}

sbx_result sbx_file_append(sbx_client *c, const char *sandbox_id, const char *path, const void *data, size_t len,
                           sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK)
		return r;
	if (len > ((size_t)12 << 20))
		return sbx_fail(err, SBX_E_TOO_LARGE, "write of %zu bytes is over the 12 MiB a request", len);
	if (!(features(c) & SBX_FEAT_FILES))
		return write_rmw(c, sandbox_id, path, 0, 1, data, len, err);
	/* Not safe to send twice: the bytes would land twice. */
	return write_at(c, sandbox_id, path, 0, 1, data, len, 0, err);
}

sbx_result sbx_file_list(sbx_client *c, const char *sandbox_id, const char *path, sbx_dirent **out, size_t *n,
                         sbx_error *err)
{
	sbx_result r;
	*out = NULL;
	*n = 0;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_files(c, "listing a directory", err)) != SBX_OK)
		return r;
	Sbxd__Ext__V1__ListDirRequest q = SBXD__EXT__V1__LIST_DIR_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	ProtobufCMessage *m = NULL;
	if ((r = ext_call(c, "ListDir", &q.base, 1, &m, err)) == SBX_OK)
		r = sbx_dirents_from_pb(m, out, n, err);
	wire_message_free(m);
	return r;
}

static sbx_result need_posix(sbx_client *c, const char *what, sbx_error *err);

void sbx_dirlist_free(sbx_dirlist *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].path);
		sbx_dirent_list_free(v[i].ents, v[i].n);
	}
	free(v);
}

sbx_result sbx_file_list_many(sbx_client *c, const char *sandbox_id, const char *path, const char *const *more,
                              size_t nmore, sbx_dirlist **lists, size_t *n, sbx_error *err)
{
	sbx_result r;
	*lists = NULL;
	*n = 0;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "listing directories", err)) != SBX_OK)
		return r;
	if (nmore > 1024)
		return sbx_fail(err, SBX_E_INVALID, "at most 1,024 more directories");
	for (size_t i = 0; i < nmore; i++)
		if ((r = check_args(sandbox_id, more[i], err)) != SBX_OK)
			return r;
	Sbxd__Ext__V1__ListDirsRequest q = SBXD__EXT__V1__LIST_DIRS_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.more_paths = (char **)more;
	q.n_more_paths = nmore;
	ProtobufCMessage *m = NULL;
	if ((r = ext_call(c, "ListDirs", &q.base, 1, &m, err)) != SBX_OK)
		return r;
	const Sbxd__Ext__V1__ListDirsResponse *x = (const Sbxd__Ext__V1__ListDirsResponse *)m;
	sbx_dirlist *v = NULL;
	if (x->n_listings < 1 || x->n_listings > nmore + 1) {
		r = sbx_fail(err, SBX_E_PROTOCOL, "listDirs answered %zu listings for %zu directories", x->n_listings,
			     nmore + 1);
		goto out;
	}
	if (!(v = calloc(x->n_listings, sizeof *v))) {
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < x->n_listings; i++) {
		/* A listing of a directory not asked for is not taken. */
		const char *p = x->listings[i]->path;
		int asked = i == 0 ? strcmp(p, path) == 0 : 0;
		for (size_t k = 0; !asked && i && k < nmore; k++)
			asked = strcmp(p, more[k]) == 0;
		Sbxd__Ext__V1__ListDirResponse one = SBXD__EXT__V1__LIST_DIR_RESPONSE__INIT;
		one.entries = x->listings[i]->entries;
		one.n_entries = x->listings[i]->n_entries;
		if (!asked) {
			r = sbx_fail(err, SBX_E_PROTOCOL, "listDirs answered a directory not asked for");
			goto out;
		}
		if (!(v[i].path = strdup(p))) {
			r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
			goto out;
		}
		if ((r = sbx_dirents_from_pb(&one.base, &v[i].ents, &v[i].n, err)) != SBX_OK)
			goto out;
		*n = i + 1;
	}
	*lists = v;
	v = NULL;
out:
	if (v)
		sbx_dirlist_free(v, x->n_listings);
	if (r != SBX_OK)
		*n = 0;
	wire_message_free(m);
	return r;
}

sbx_result sbx_file_stat(sbx_client *c, const char *sandbox_id, const char *path, sbx_dirent *out, sbx_error *err)
{
	sbx_result r;
	memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_files(c, "stat", err)) != SBX_OK)
		return r;
	Sbxd__Ext__V1__StatFileRequest q = SBXD__EXT__V1__STAT_FILE_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	return entry_call(c, "StatFile", &q.base, 1, out, err);
}

sbx_result sbx_file_mkdir(sbx_client *c, const char *sandbox_id, const char *path, unsigned mode, sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_files(c, "mkdir", err)) != SBX_OK)
		return r;
	Sbxd__Ext__V1__MakeDirRequest q = SBXD__EXT__V1__MAKE_DIR_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q._mode_case = SBXD__EXT__V1__MAKE_DIR_REQUEST___MODE_MODE;
	q.mode = mode & 07777;
	/* Not retried: a second try would answer ALREADY_EXISTS. */
	return ext_call(c, "MakeDir", &q.base, 0, NULL, err);
}

sbx_result sbx_file_remove(sbx_client *c, const char *sandbox_id, const char *path, int recursive, sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_files(c, "remove", err)) != SBX_OK)
		return r;
	Sbxd__Ext__V1__RemoveFileRequest q = SBXD__EXT__V1__REMOVE_FILE_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.recursive = recursive != 0;
	return ext_call(c, "RemoveFile", &q.base, 0, NULL, err);
}

/* ---------------------------------------------------------------- posix */

static sbx_result need_posix(sbx_client *c, const char *what, sbx_error *err)
{
	if (features(c) & SBX_FEAT_POSIX)
		return SBX_OK;
	return sbx_fail(err, SBX_E_UNSUPPORTED,
	                "%s needs the service's \"posix\" file extension (sbxd); the public API has only "
	                "whole-file readFile/writeFile", what);
}

sbx_result sbx_file_create(sbx_client *c, const char *sandbox_id, const char *path, unsigned mode, unsigned flags,
                           sbx_dirent *out, sbx_error *err)
{
	sbx_result r;
	if (out)
		memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "create with a mode", err)) != SBX_OK)
		return r;
	Sbxd__Ext__V1__CreateFileRequest q = SBXD__EXT__V1__CREATE_FILE_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q._mode_case = SBXD__EXT__V1__CREATE_FILE_REQUEST___MODE_MODE;
	q.mode = mode & 07777;
	q.exclusive = (flags & SBX_CREATE_EXCL) != 0;
	q.truncate = (flags & SBX_CREATE_TRUNC) != 0;
	return entry_call(c, "CreateFile", &q.base, 0, out, err);
}

/* ns since 1970 as RFC 3339 with nanoseconds (what sbxd reads back). */
static int format_time(int64_t ns, char *buf, size_t cap)
{
	struct tm tm;
	time_t sec = (time_t)(ns / 1000000000);
	if (ns < 0 || !gmtime_r(&sec, &tm))
		return -1;
	char base[32];
	if (strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return -1;
	int n = snprintf(buf, cap, "%s.%09lldZ", base, (long long)(ns % 1000000000));
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

sbx_result sbx_file_set_attrs(sbx_client *c, const char *sandbox_id, const char *path, const sbx_file_attrs *a,
                              sbx_dirent *out, sbx_error *err)
{
	sbx_result r;
	if (out)
		memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK)
		return r;
	const char *what = (a->set & SBX_ATTR_MODE) ? "chmod" : (a->set & (SBX_ATTR_UID | SBX_ATTR_GID)) ? "chown"
	                 : (a->set & SBX_ATTR_SIZE) ? "truncate" : "setting times";
	if ((r = need_posix(c, what, err)) != SBX_OK)
		return r;
	if (((a->set & SBX_ATTR_ATIME) && !(a->set & SBX_ATTR_ATIME_NOW) && a->atime_ns < 0) ||
	    ((a->set & SBX_ATTR_MTIME) && !(a->set & SBX_ATTR_MTIME_NOW) && a->mtime_ns < 0) ||
	    ((a->set & SBX_ATTR_SIZE) && a->size < 0))
		return sbx_fail(err, SBX_E_INVALID, "times before 1970 and negative sizes cannot be set");
	char at[48] = "now", mt[48] = "now";
	if ((a->set & SBX_ATTR_ATIME) && !(a->set & SBX_ATTR_ATIME_NOW) && format_time(a->atime_ns, at, sizeof at))
		return sbx_fail(err, SBX_E_INVALID, "access time out of range");
	if ((a->set & SBX_ATTR_MTIME) && !(a->set & SBX_ATTR_MTIME_NOW) && format_time(a->mtime_ns, mt, sizeof mt))
		return sbx_fail(err, SBX_E_INVALID, "modification time out of range");
	Sbxd__Ext__V1__SetFileAttrsRequest q = SBXD__EXT__V1__SET_FILE_ATTRS_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	if (a->set & SBX_ATTR_MODE) {
		q._mode_case = SBXD__EXT__V1__SET_FILE_ATTRS_REQUEST___MODE_MODE;
		q.mode = a->mode & 07777;
	}
	if (a->set & SBX_ATTR_UID) {
		q._uid_case = SBXD__EXT__V1__SET_FILE_ATTRS_REQUEST___UID_UID;
		q.uid = a->uid;
	}
	if (a->set & SBX_ATTR_GID) {
		q._gid_case = SBXD__EXT__V1__SET_FILE_ATTRS_REQUEST___GID_GID;
		q.gid = a->gid;
	}
	if (a->set & SBX_ATTR_SIZE) {
		q._size_case = SBXD__EXT__V1__SET_FILE_ATTRS_REQUEST___SIZE_SIZE;
		q.size = a->size;
	}
	if (a->set & SBX_ATTR_ATIME)
		q.access_time = at;
	if (a->set & SBX_ATTR_MTIME)
		q.modify_time = mt;
	return entry_call(c, "SetFileAttrs", &q.base, 1, out, err);
}

sbx_result sbx_file_rename(sbx_client *c, const char *sandbox_id, const char *from, const char *to, unsigned flags,
                           sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, from, err)) != SBX_OK || (r = check_args(sandbox_id, to, err)) != SBX_OK ||
	    (r = need_posix(c, "rename", err)) != SBX_OK)
		return r;
	if ((flags & SBX_RENAME_NOREPLACE) && (flags & SBX_RENAME_EXCHANGE))
		return sbx_fail(err, SBX_E_INVALID, "noreplace and exchange exclude each other");
	Sbxd__Ext__V1__RenameFileRequest q = SBXD__EXT__V1__RENAME_FILE_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)from;
	q.new_path = (char *)to;
	q.no_replace = (flags & SBX_RENAME_NOREPLACE) != 0;
	q.exchange = (flags & SBX_RENAME_EXCHANGE) != 0;
	/* Not retried: a second try of a rename that happened fails ENOENT. */
	return ext_call(c, "RenameFile", &q.base, 0, NULL, err);
}

sbx_result sbx_file_symlink(sbx_client *c, const char *sandbox_id, const char *path, const char *target,
                            sbx_dirent *out, sbx_error *err)
{
	sbx_result r;
	if (out)
		memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "symlink", err)) != SBX_OK)
		return r;
	if (!target || strlen(target) > SBX_MAX_PATH)
		return sbx_fail(err, SBX_E_INVALID, "bad link text (at most %d bytes)", SBX_MAX_PATH);
	Sbxd__Ext__V1__CreateSymlinkRequest q = SBXD__EXT__V1__CREATE_SYMLINK_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.target = (char *)target;
	return entry_call(c, "CreateSymlink", &q.base, 0, out, err);
}

sbx_result sbx_file_link(sbx_client *c, const char *sandbox_id, const char *from, const char *to, sbx_dirent *out,
                         sbx_error *err)
{
	sbx_result r;
	if (out)
		memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, from, err)) != SBX_OK || (r = check_args(sandbox_id, to, err)) != SBX_OK ||
	    (r = need_posix(c, "hard link", err)) != SBX_OK)
		return r;
	Sbxd__Ext__V1__LinkFileRequest q = SBXD__EXT__V1__LINK_FILE_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)from;
	q.new_path = (char *)to;
	return entry_call(c, "LinkFile", &q.base, 0, out, err);
}

sbx_result sbx_file_mknod(sbx_client *c, const char *sandbox_id, const char *path, unsigned type, unsigned mode,
                          sbx_dirent *out, sbx_error *err)
{
	sbx_result r;
	if (out)
		memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "mknod", err)) != SBX_OK)
		return r;
	const char *sp = type == S_IFIFO ? "fifo" : type == S_IFSOCK ? "socket" : type == S_IFCHR ? "char"
	               : type == S_IFBLK ? "block" : NULL;
	if (!sp)
		return sbx_fail(err, SBX_E_INVALID, "mknod makes FIFOs, sockets and devices only");
	Sbxd__Ext__V1__MakeNodeRequest q = SBXD__EXT__V1__MAKE_NODE_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.special = (char *)sp;
	q._mode_case = SBXD__EXT__V1__MAKE_NODE_REQUEST___MODE_MODE;
	q.mode = mode & 07777;
	return entry_call(c, "MakeNode", &q.base, 0, out, err);
}

sbx_result sbx_file_allocate(sbx_client *c, const char *sandbox_id, const char *path, int mode, int64_t off,
                             int64_t len, sbx_dirent *out, sbx_error *err)
{
	sbx_result r;
	if (out)
		memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "fallocate", err)) != SBX_OK)
		return r;
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE |
			  FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE;
	if (mode & ~known)
		return sbx_fail(err, SBX_E_UNSUPPORTED, "fallocate mode 0x%x: no such call", (unsigned)mode);
	if (off < 0 || len <= 0 || off > INT64_MAX - len)
		return sbx_fail(err, SBX_E_INVALID, "fallocate range %lld+%lld", (long long)off, (long long)len);
	Sbxd__Ext__V1__AllocateFileRequest q = SBXD__EXT__V1__ALLOCATE_FILE_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.offset = off;
	q.length = len;
	q.keep_size = (mode & FALLOC_FL_KEEP_SIZE) != 0;
	q.punch_hole = (mode & FALLOC_FL_PUNCH_HOLE) != 0;
	q.zero_range = (mode & FALLOC_FL_ZERO_RANGE) != 0;
	q.collapse_range = (mode & FALLOC_FL_COLLAPSE_RANGE) != 0;
	q.insert_range = (mode & FALLOC_FL_INSERT_RANGE) != 0;
	q.unshare_range = (mode & FALLOC_FL_UNSHARE_RANGE) != 0;
	return entry_call(c, "AllocateFile", &q.base, 0, out, err);
}

sbx_result sbx_file_statfs(sbx_client *c, const char *sandbox_id, const char *path, sbx_statfs *out,
                           sbx_error *err)
{
	sbx_result r;
	memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "statfs", err)) != SBX_OK)
		return r;
	Sbxd__Ext__V1__StatFileSystemRequest q = SBXD__EXT__V1__STAT_FILE_SYSTEM_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	ProtobufCMessage *m = NULL;
	if ((r = ext_call(c, "StatFileSystem", &q.base, 1, &m, err)) == SBX_OK) {
		const Sbxd__Ext__V1__StatFileSystemResponse *x = (const Sbxd__Ext__V1__StatFileSystemResponse *)m;
		out->bsize = x->block_size;
		out->frsize = x->fragment_size;
		out->blocks = x->blocks;
		out->bfree = x->blocks_free;
		out->bavail = x->blocks_available;
		out->files = x->files;
		out->ffree = x->files_free;
		out->namemax = x->name_max;
		out->read_only = x->read_only;
	}
	wire_message_free(m);
	return r;
}

#define XATTR_MAX 65536         /* the kernel's XATTR_SIZE_MAX and XATTR_LIST_MAX */

sbx_result sbx_file_getxattr(sbx_client *c, const char *sandbox_id, const char *path, const char *name, void **val,
                             size_t *n, sbx_error *err)
{
	sbx_result r;
	*val = NULL;
	*n = 0;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "xattrs", err)) != SBX_OK)
		return r;
	if (!name || !*name || strlen(name) > 255)
		return sbx_fail(err, SBX_E_INVALID, "bad attribute name");
	Sbxd__Ext__V1__GetXattrRequest q = SBXD__EXT__V1__GET_XATTR_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.name = (char *)name;
	ProtobufCMessage *m = NULL;
	if ((r = ext_call(c, "GetXattr", &q.base, 1, &m, err)) == SBX_OK) {
		const Sbxd__Ext__V1__GetXattrResponse *x = (const Sbxd__Ext__V1__GetXattrResponse *)m;
		if (x->value.len > XATTR_MAX) {
			r = sbx_fail(err, SBX_E_PROTOCOL, "bad value in the getXattr answer");
		} else if (!(*val = malloc(x->value.len + 1))) {
			r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		} else {
			if (x->value.len)
				memcpy(*val, x->value.data, x->value.len);
			((char *)*val)[x->value.len] = '\0';
			*n = x->value.len;
		}
	}
	wire_message_free(m);
	return r;
}

sbx_result sbx_file_listxattr(sbx_client *c, const char *sandbox_id, const char *path, char **list, size_t *len,
                              sbx_error *err)
{
	sbx_result r;
	*list = NULL;
	*len = 0;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "xattrs", err)) != SBX_OK)
		return r;
	Sbxd__Ext__V1__ListXattrsRequest q = SBXD__EXT__V1__LIST_XATTRS_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	ProtobufCMessage *m = NULL;
	if ((r = ext_call(c, "ListXattrs", &q.base, 1, &m, err)) != SBX_OK)
		return r;
	const Sbxd__Ext__V1__ListXattrsResponse *x = (const Sbxd__Ext__V1__ListXattrsResponse *)m;
	sbx_buf b;
	sbx_buf_init(&b, XATTR_MAX);
	for (size_t i = 0; i < x->n_names; i++) {
		if (!x->names[i][0] || sbx_buf_append(&b, x->names[i], strlen(x->names[i]) + 1)) {
			sbx_buf_free(&b);
			wire_message_free(m);
			return sbx_fail(err, SBX_E_PROTOCOL, "bad or too many names in the listXattrs answer");
		}
	}
	wire_message_free(m);
	*list = b.data;
	*len = b.len;
	if (!*list && !(*list = calloc(1, 1)))
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
	return r;
}

sbx_result sbx_file_setxattr(sbx_client *c, const char *sandbox_id, const char *path, const char *name,
                             const void *val, size_t n, int flags, sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "xattrs", err)) != SBX_OK)
		return r;
	if (!name || !*name || strlen(name) > 255 || n > XATTR_MAX || (flags & ~3) || flags == 3)
		return sbx_fail(err, SBX_E_INVALID, "bad attribute name, value or flags");
	Sbxd__Ext__V1__SetXattrRequest q = SBXD__EXT__V1__SET_XATTR_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.name = (char *)name;
	q.value.data = (uint8_t *)val;
	q.value.len = val ? n : 0;
	q.create = (flags & 1) != 0;
	q.replace = (flags & 2) != 0;
	/* Retried only when plain: the same value twice is harmless. */
	return ext_call(c, "SetXattr", &q.base, flags == 0, NULL, err);
}

sbx_result sbx_file_removexattr(sbx_client *c, const char *sandbox_id, const char *path, const char *name,
                                sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "xattrs", err)) != SBX_OK)
		return r;
	if (!name || !*name || strlen(name) > 255)
		return sbx_fail(err, SBX_E_INVALID, "bad attribute name");
	Sbxd__Ext__V1__RemoveXattrRequest q = SBXD__EXT__V1__REMOVE_XATTR_REQUEST__INIT;
	q.sandbox_id = (char *)sandbox_id;
	q.path = (char *)path;
	q.name = (char *)name;
	return ext_call(c, "RemoveXattr", &q.base, 0, NULL, err);
}
