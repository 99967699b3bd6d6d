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
#include <time.h>

#include "answer.h"
#include "http.h"
#include "json.h"
#include "pb.h"
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

/* "/v1/sandboxes/ID:call?path=ESC" plus an optional tail. */
static char *file_path(const char *sandbox_id, const char *call, const char *path, const char *tail)
{
	sbx_buf b;
	sbx_buf_init(&b, 0);
	char *base = sbx_path_sandbox(sandbox_id, call);
	if (!base || sbx_buf_append(&b, base, strlen(base)) || (path && (sbx_buf_append(&b, "?path=", 6) ||
	                                                              sbx_buf_append_escaped(&b, path))) ||
	    (tail && sbx_buf_append(&b, tail, strlen(tail)))) {
		free(base);
		sbx_buf_free(&b);
		return NULL;
	}
	free(base);
	return b.data;
}

/* POSTs body to the sandbox's call and drops the answer. Takes body; when
 * building it failed (!built or no body) that is out of memory. */
static sbx_result post_body(sbx_client *c, const char *sandbox_id, const char *call, cJSON *body, int built, int safe,
                            sbx_error *err)
{
	sbx_result r;
	char *text = NULL, *url = NULL;
	if (!body || !built || !(text = cJSON_PrintUnformatted(body)) || !(url = sbx_path_sandbox(sandbox_id, call))) {
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	sbx_http_req req = {.method = "POST", .path = url, .body = text, .body_len = strlen(text), .safe = safe};
	r = sbx_http_json(c, &req, NULL, err);
out:
	cJSON_Delete(body);
	free(text);
	free(url);
	return r;
}

/* sbxd's ranged read (the "files" extension). */
static sbx_result read_range(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, int64_t length,
                             void **data, size_t *len, int64_t *size, sbx_error *err)
{
	(void)c; (void)sandbox_id; (void)path; (void)offset; (void)length; (void)data; (void)len; (void)size;
	return sbx_fail(err, SBX_E_UNSUPPORTED, "TODO readFileRange");
}

/* sbxd's write at an offset or at the end (the "files" extension). */
static sbx_result write_at(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, int append,
                           const void *data, size_t len, int safe, sbx_error *err)
{
	(void)c; (void)sandbox_id; (void)path; (void)offset; (void)append; (void)data; (void)len; (void)safe;
	return sbx_fail(err, SBX_E_UNSUPPORTED, "TODO writeFileAt");
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
	cJSON *root = NULL;
	sbx_dirent *v = NULL;
	size_t nv = 0;
	*out = NULL;
	*n = 0;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_files(c, "listing a directory", err)) != SBX_OK)
		return r;
	char *url = file_path(sandbox_id, ":listDir", path, NULL);
	if (!url)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	sbx_http_req req = {.method = "GET", .path = url, .safe = 1};
	if ((r = sbx_http_json(c, &req, &root, err)) != SBX_OK)
		goto out;
	if ((r = sbx_dirents_from_json(root, &v, &nv, err)) != SBX_OK)
		goto out;
	*out = v;
	*n = nv;
	v = NULL;
	nv = 0;
out:
	sbx_dirent_list_free(v, nv);
	cJSON_Delete(root);
	free(url);
	return r;
}

sbx_result sbx_file_stat(sbx_client *c, const char *sandbox_id, const char *path, sbx_dirent *out, sbx_error *err)
{
	sbx_result r;
	cJSON *root = NULL;
	memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_files(c, "stat", err)) != SBX_OK)
		return r;
	char *url = file_path(sandbox_id, ":statFile", path, NULL);
	if (!url)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	sbx_http_req req = {.method = "GET", .path = url, .safe = 1};
	if ((r = sbx_http_json(c, &req, &root, err)) != SBX_OK)
		goto out;
	r = sbx_stat_from_json(root, out, err);
out:
	cJSON_Delete(root);
	free(url);
	return r;
}

sbx_result sbx_file_mkdir(sbx_client *c, const char *sandbox_id, const char *path, unsigned mode, sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_files(c, "mkdir", err)) != SBX_OK)
		return r;
	cJSON *body = cJSON_CreateObject();
	int built = body && cJSON_AddStringToObject(body, "path", path) &&
	            cJSON_AddNumberToObject(body, "mode", mode & 07777);
	/* Not retried: a second try would answer ALREADY_EXISTS. */
	return post_body(c, sandbox_id, ":makeDir", body, built, 0, err);
}

sbx_result sbx_file_remove(sbx_client *c, const char *sandbox_id, const char *path, int recursive, sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_files(c, "remove", err)) != SBX_OK)
		return r;
	cJSON *body = cJSON_CreateObject();
	int built = body && cJSON_AddStringToObject(body, "path", path) &&
	            cJSON_AddBoolToObject(body, "recursive", recursive != 0);
	return post_body(c, sandbox_id, ":removeFile", body, built, 0, err);
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

/* POSTs body and, when out is not NULL, parses the answer as an entry
 * named after path's last component. Takes body. */
static sbx_result post_entry(sbx_client *c, const char *sandbox_id, const char *call, cJSON *body, int built,
                             int safe, sbx_dirent *out, sbx_error *err)
{
	sbx_result r;
	char *text = NULL, *url = NULL;
	cJSON *root = NULL;
	if (out)
		memset(out, 0, sizeof *out);
	if (!body || !built || !(text = cJSON_PrintUnformatted(body)) || !(url = sbx_path_sandbox(sandbox_id, call))) {
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	sbx_http_req req = {.method = "POST", .path = url, .body = text, .body_len = strlen(text), .safe = safe};
	if ((r = sbx_http_json(c, &req, out ? &root : NULL, err)) != SBX_OK || !out)
		goto out;
	cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
	if (!cJSON_IsString(name) || !name->valuestring[0] || strchr(name->valuestring, '/')) {
		cJSON_DeleteItemFromObjectCaseSensitive(root, "name");
		cJSON_AddStringToObject(root, "name", ".");
	}
	r = sbx_dirent_from_json(root, out);
	if (r != SBX_OK)
		r = sbx_fail(err, r, "bad file entry in the answer");
out:
	cJSON_Delete(root);
	cJSON_Delete(body);
	free(text);
	free(url);
	return r;
}

sbx_result sbx_file_create(sbx_client *c, const char *sandbox_id, const char *path, unsigned mode, unsigned flags,
                           sbx_dirent *out, sbx_error *err)
{
	sbx_result r;
	if (out)
		memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "create with a mode", err)) != SBX_OK)
		return r;
	cJSON *body = cJSON_CreateObject();
	int built = body && cJSON_AddStringToObject(body, "path", path) &&
	            cJSON_AddNumberToObject(body, "mode", mode & 07777) &&
	            cJSON_AddBoolToObject(body, "exclusive", (flags & SBX_CREATE_EXCL) != 0) &&
	            cJSON_AddBoolToObject(body, "truncate", (flags & SBX_CREATE_TRUNC) != 0);
	return post_entry(c, sandbox_id, ":createFile", body, built, 0, out, err);
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
	cJSON *body = cJSON_CreateObject();
	int built = body && cJSON_AddStringToObject(body, "path", path) &&
	            (!(a->set & SBX_ATTR_MODE) || cJSON_AddNumberToObject(body, "mode", a->mode & 07777)) &&
	            (!(a->set & SBX_ATTR_UID) || cJSON_AddNumberToObject(body, "uid", a->uid)) &&
	            (!(a->set & SBX_ATTR_GID) || cJSON_AddNumberToObject(body, "gid", a->gid)) &&
	            (!(a->set & SBX_ATTR_SIZE) || sbx_json_add_i64(body, "size", a->size)) &&
	            (!(a->set & SBX_ATTR_ATIME) || cJSON_AddStringToObject(body, "accessTime", at)) &&
	            (!(a->set & SBX_ATTR_MTIME) || cJSON_AddStringToObject(body, "modifyTime", mt));
	return post_entry(c, sandbox_id, ":setFileAttrs", body, built, 1, out, err);
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
	cJSON *body = cJSON_CreateObject();
	int built = body && cJSON_AddStringToObject(body, "path", from) && cJSON_AddStringToObject(body, "newPath", to) &&
	            (!(flags & SBX_RENAME_NOREPLACE) || cJSON_AddBoolToObject(body, "noReplace", 1)) &&
	            (!(flags & SBX_RENAME_EXCHANGE) || cJSON_AddBoolToObject(body, "exchange", 1));
	/* Not retried: a second try of a rename that happened fails ENOENT. */
	return post_entry(c, sandbox_id, ":renameFile", body, built, 0, NULL, err);
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
	cJSON *body = cJSON_CreateObject();
	int built = body && cJSON_AddStringToObject(body, "path", path) && cJSON_AddStringToObject(body, "target", target);
	return post_entry(c, sandbox_id, ":createSymlink", body, built, 0, out, err);
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
	cJSON *body = cJSON_CreateObject();
	int built = body && cJSON_AddStringToObject(body, "path", from) && cJSON_AddStringToObject(body, "newPath", to);
	return post_entry(c, sandbox_id, ":linkFile", body, built, 0, out, err);
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
	cJSON *body = cJSON_CreateObject();
	int built = body && cJSON_AddStringToObject(body, "path", path) && cJSON_AddStringToObject(body, "special", sp) &&
	            cJSON_AddNumberToObject(body, "mode", mode & 07777);
	return post_entry(c, sandbox_id, ":makeNode", body, built, 0, out, err);
}

sbx_result sbx_file_statfs(sbx_client *c, const char *sandbox_id, const char *path, sbx_statfs *out,
                           sbx_error *err)
{
	sbx_result r;
	cJSON *root = NULL;
	memset(out, 0, sizeof *out);
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "statfs", err)) != SBX_OK)
		return r;
	char *url = file_path(sandbox_id, ":statFileSystem", path, NULL);
	if (!url)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	sbx_http_req req = {.method = "GET", .path = url, .safe = 1};
	if ((r = sbx_http_json(c, &req, &root, err)) != SBX_OK)
		goto out;
	const struct {
		const char *key;
		uint64_t *v;
	} f[] = {
		{"blockSize", &out->bsize}, {"fragmentSize", &out->frsize}, {"blocks", &out->blocks},
		{"blocksFree", &out->bfree}, {"blocksAvailable", &out->bavail}, {"files", &out->files},
		{"filesFree", &out->ffree}, {"nameMax", &out->namemax},
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		int64_t v;
		if (sbx_json_get_i64(root, f[i].key, &v) != 0 || v < 0) {
			r = sbx_fail(err, SBX_E_PROTOCOL, "bad %s in the statFileSystem answer", f[i].key);
			goto out;
		}
		*f[i].v = (uint64_t)v;
	}
	out->read_only = sbx_json_get_bool(root, "readOnly");
out:
	cJSON_Delete(root);
	free(url);
	return r;
}

#define XATTR_MAX 65536         /* the kernel's XATTR_SIZE_MAX and XATTR_LIST_MAX */

sbx_result sbx_file_getxattr(sbx_client *c, const char *sandbox_id, const char *path, const char *name, void **val,
                             size_t *n, sbx_error *err)
{
	sbx_result r;
	cJSON *root = NULL;
	char *url = NULL;
	*val = NULL;
	*n = 0;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "xattrs", err)) != SBX_OK)
		return r;
	if (!name || !*name || strlen(name) > 255)
		return sbx_fail(err, SBX_E_INVALID, "bad attribute name");
	sbx_buf tail;
	sbx_buf_init(&tail, 0);
	if (sbx_buf_append(&tail, "&name=", 6) || sbx_buf_append_escaped(&tail, name) ||
	    !(url = file_path(sandbox_id, ":getXattr", path, tail.data))) {
		sbx_buf_free(&tail);
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	sbx_buf_free(&tail);
	sbx_http_req req = {.method = "GET", .path = url, .safe = 1};
	if ((r = sbx_http_json(c, &req, &root, err)) != SBX_OK)
		goto out;
	const char *b64 = sbx_json_get_str(root, "value");
	size_t len = 0;
	if (!b64 || sbx_base64_decode(b64, strlen(b64), val, &len) != SBX_OK || len > XATTR_MAX) {
		free(*val);
		*val = NULL;
		r = sbx_fail(err, SBX_E_PROTOCOL, "bad value in the getXattr answer");
		goto out;
	}
	*n = len;
out:
	cJSON_Delete(root);
	free(url);
	return r;
}

sbx_result sbx_file_listxattr(sbx_client *c, const char *sandbox_id, const char *path, char **list, size_t *len,
                              sbx_error *err)
{
	sbx_result r;
	cJSON *root = NULL;
	*list = NULL;
	*len = 0;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "xattrs", err)) != SBX_OK)
		return r;
	char *url = file_path(sandbox_id, ":listXattrs", path, NULL);
	if (!url)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	sbx_http_req req = {.method = "GET", .path = url, .safe = 1};
	if ((r = sbx_http_json(c, &req, &root, err)) != SBX_OK)
		goto out;
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(root, "names"), *it;
	sbx_buf b;
	sbx_buf_init(&b, XATTR_MAX);
	if (!cJSON_IsArray(names)) {
		r = sbx_fail(err, SBX_E_PROTOCOL, "no names in the listXattrs answer");
		goto out;
	}
	cJSON_ArrayForEach(it, names) {
		if (!cJSON_IsString(it) || !it->valuestring[0] ||
		    sbx_buf_append(&b, it->valuestring, strlen(it->valuestring) + 1)) {
			sbx_buf_free(&b);
			r = sbx_fail(err, SBX_E_PROTOCOL, "bad or too many names in the listXattrs answer");
			goto out;
		}
	}
	*list = b.data;
	*len = b.len;
	if (!*list && !(*list = calloc(1, 1)))
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
out:
	cJSON_Delete(root);
	free(url);
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
	char *b64 = sbx_base64_encode(n ? val : "", n, NULL);
	cJSON *body = b64 ? cJSON_CreateObject() : NULL;
	int built = body && cJSON_AddStringToObject(body, "path", path) && cJSON_AddStringToObject(body, "name", name) &&
	            cJSON_AddStringToObject(body, "value", b64) &&
	            (!(flags & 1) || cJSON_AddBoolToObject(body, "create", 1)) &&
	            (!(flags & 2) || cJSON_AddBoolToObject(body, "replace", 1));
	free(b64);
	/* Retried only when plain: the same value twice is harmless. */
	return post_body(c, sandbox_id, ":setXattr", body, built, flags == 0, err);
}

sbx_result sbx_file_removexattr(sbx_client *c, const char *sandbox_id, const char *path, const char *name,
                                sbx_error *err)
{
	sbx_result r;
	if ((r = check_args(sandbox_id, path, err)) != SBX_OK || (r = need_posix(c, "xattrs", err)) != SBX_OK)
		return r;
	if (!name || !*name || strlen(name) > 255)
		return sbx_fail(err, SBX_E_INVALID, "bad attribute name");
	cJSON *body = cJSON_CreateObject();
	int built = body && cJSON_AddStringToObject(body, "path", path) && cJSON_AddStringToObject(body, "name", name);
	return post_body(c, sandbox_id, ":removeXattr", body, built, 0, err);
}
