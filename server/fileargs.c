/*
 * Decodes the file calls' and :signal's arguments (fileargs.h): every
 * check of a field's type and range happens here, before any sandbox is
 * looked at, so a bad body gets the same 400 whatever state the sandbox is
 * in, and the fuzz target covers exactly the code sbxd runs.
 */
#include "fileargs.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

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

static int abs_path(const char *p, const char *what, char *err)
{
	if (!p || p[0] != '/') {
		snprintf(err, SRV_MSGLEN, "%s must be an absolute path under %d bytes", what, SRV_MAX_PATH);
		return -1;
	}
	return 0;
}

/* A mode field: absent or null keeps def; else a JSON number 0..07777. */
static int mode_arg(const cJSON *body, int def, int *mode, char *err)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "mode");
	int64_t v;
	*mode = def;
	if (!m || cJSON_IsNull(m))
		return 0;
	if (!cJSON_IsNumber(m) || srv_json_int(m, 0, 07777, &v) != 0) {
		snprintf(err, SRV_MSGLEN, "mode must be an integer 0..4095");
		return -1;
	}
	*mode = (int)v;
	return 0;
}

static int flag(const cJSON *body, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, key));
}

/* One time of :setFileAttrs: absent or null leaves it (UTIME_OMIT),
 * "now" is UTIME_NOW, else an RFC 3339 time after 1970. */
static int time_arg(const cJSON *body, const char *key, unsigned bit, srv_attrs *a, int64_t *ns, int *now)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, key);
	if (!t || cJSON_IsNull(t))
		return 0;
	if (!cJSON_IsString(t))
		return -1;
	if (strcmp(t->valuestring, "now") == 0)
		*now = 1;
	else if (srv_parse_time(t->valuestring, ns) != 0 || *ns < 0)
		return -1;
	a->set |= bit;
	return 0;
}

/* The body of :setFileAttrs: each field present is one change. */
static int attrs_arg(const cJSON *body, srv_attrs *a, char *err)
{
	static const struct {
		const char *key;
		unsigned bit;
		int64_t max;
	} nums[] = {
		{"mode", SRV_ATTR_MODE, 07777},
		{"uid", SRV_ATTR_UID, (int64_t)UINT32_MAX - 1},
		{"gid", SRV_ATTR_GID, (int64_t)UINT32_MAX - 1},
		{"size", SRV_ATTR_SIZE, INT64_MAX / 2},
	};
	memset(a, 0, sizeof *a);
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, nums[i].key);
		int64_t x;
		if (!v || cJSON_IsNull(v))
			continue;
		if (srv_json_int(v, 0, nums[i].max, &x) != 0) {
			snprintf(err, SRV_MSGLEN, "%s must be an integer 0..%lld", nums[i].key, (long long)nums[i].max);
			return -1;
		}
		a->set |= nums[i].bit;
		if (nums[i].bit == SRV_ATTR_MODE)
			a->mode = (unsigned)x;
		else if (nums[i].bit == SRV_ATTR_UID)
			a->uid = x;
		else if (nums[i].bit == SRV_ATTR_GID)
			a->gid = x;
		else
			a->size = x;
	}
	if (time_arg(body, "accessTime", SRV_ATTR_ATIME, a, &a->atime_ns, &a->atime_now) != 0 ||
	    time_arg(body, "modifyTime", SRV_ATTR_MTIME, a, &a->mtime_ns, &a->mtime_now) != 0) {
		snprintf(err, SRV_MSGLEN, "accessTime and modifyTime must be RFC 3339 times or \"now\"");
		return -1;
	}
	return 0;
}

static int write_args(const cJSON *body, srv_file_args *a, char *err)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "content");
	if (c && !cJSON_IsNull(c) &&
	    (!cJSON_IsString(c) || srv_b64_decode(c->valuestring, strlen(c->valuestring), &a->data, &a->len) != 0)) {
		snprintf(err, SRV_MSGLEN, "content must be base64 bytes");
		return -1;
	}
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(body, "offset");
	if (o && !cJSON_IsNull(o) && srv_json_int(o, 0, INT64_MAX / 2, &a->offset) != 0) {
		snprintf(err, SRV_MSGLEN, "offset must be a non-negative integer");
		return -1;
	}
	if (mode_arg(body, -1, &a->mode, err) != 0)
		return -1;
	a->append = flag(body, "append");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "truncate");
	a->truncate = t && cJSON_IsBool(t) ? cJSON_IsTrue(t) : a->offset < 0;
	return 0;
}

int srv_file_call_is_get(srv_route_kind kind)
{
	return kind == R_READ_FILE || kind == R_LIST_DIR || kind == R_STAT_FILE || kind == R_STAT_FILE_SYSTEM ||
	       kind == R_GET_XATTR || kind == R_LIST_XATTRS;
}

/* A second path of a call (newPath): absolute and within the kernel's
 * limits. */
static int second_path(const cJSON *body, const char **out, char *err)
{
	const cJSON *np = cJSON_GetObjectItemCaseSensitive(body, "newPath");
	*out = cJSON_IsString(np) ? np->valuestring : NULL;
	if (abs_path(*out, "newPath", err) != 0)
		return -1;
	return srv_path_len_ok(*out);
}

/* An xattr name: a non-empty string (its length is the kernel's to
 * judge: ERANGE past XATTR_NAME_MAX, as inside the sandbox). */
static int xattr_name(const char *name, const char **out, char *err)
{
	*out = name;
	if (!name || !*name) {
		snprintf(err, SRV_MSGLEN, "name must be an attribute name");
		return -1;
	}
	return 0;
}

static int xattr_set_args(const cJSON *body, srv_file_args *a, char *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "value");
	if (!cJSON_IsString(v) || srv_b64_decode(v->valuestring, strlen(v->valuestring), &a->data, &a->len) != 0) {
		snprintf(err, SRV_MSGLEN, "value must be base64 bytes");
		return -1;
	}
	int create = flag(body, "create"), replace = flag(body, "replace");
	if (create && replace) {
		snprintf(err, SRV_MSGLEN, "create and replace exclude each other");
		return -1;
	}
	a->xattr_flags = create ? XATTR_CREATE : replace ? XATTR_REPLACE : 0;
	return 0;
}

static int node_args(const cJSON *body, srv_file_args *a, char *err)
{
	static const struct {
		const char *word;
		char node;
	} kinds[] = {{"fifo", 'f'}, {"socket", 's'}, {"char", 'd'}, {"block", 'd'}};
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "special"));
	for (size_t i = 0; type && i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(type, kinds[i].word) == 0)
			a->node = kinds[i].node;
	if (!a->node) {
		snprintf(err, SRV_MSGLEN, "special must be \"fifo\", \"socket\", \"char\" or \"block\"");
		return -1;
	}
	return mode_arg(body, 0644, &a->mode, err);
}

int srv_file_args_parse(srv_route_kind kind, const cJSON *body, const srv_file_query *q, srv_file_args *a, char *err)
{
	int rc = 0;
	memset(a, 0, sizeof *a);
	a->offset = -1;
	a->mode = -1;
	if (!body) {
		a->path = q ? q->path : NULL;
	} else {
		const cJSON *pj = cJSON_GetObjectItemCaseSensitive(body, "path");
		a->path = cJSON_IsString(pj) ? pj->valuestring : NULL;
	}
	if (abs_path(a->path, "path", err) != 0)
		return -1;
	if (srv_path_len_ok(a->path) != 0)
		return -ENAMETOOLONG;
	switch (kind) {
	case R_READ_FILE:
	case R_LIST_DIR:
	case R_STAT_FILE:
	case R_STAT_FILE_SYSTEM:
	case R_LIST_XATTRS:
		break;
	case R_GET_XATTR:
		rc = xattr_name(q ? q->name : NULL, &a->name, err);
		break;
	case R_WRITE_FILE:
		/* A raw write (no body) takes its other arguments from the
		 * query, which the caller reads; these are the defaults. */
		if (body)
			rc = write_args(body, a, err);
		else
			a->truncate = 1;
		break;
	case R_MAKE_DIR:
		rc = mode_arg(body, -1, &a->mode, err);
		break;
	case R_REMOVE_FILE:
		a->recursive = flag(body, "recursive");
		break;
	case R_CREATE_FILE:
		rc = mode_arg(body, 0644, &a->mode, err);
		a->exclusive = flag(body, "exclusive");
		a->truncate = flag(body, "truncate");
		break;
	case R_SET_FILE_ATTRS:
		rc = attrs_arg(body, &a->attrs, err);
		break;
	case R_RENAME_FILE: {
		int noreplace = flag(body, "noReplace"), exchange = flag(body, "exchange");
		rc = second_path(body, &a->new_path, err);
		if (rc == 0 && noreplace && exchange) {
			snprintf(err, SRV_MSGLEN, "noReplace and exchange exclude each other");
			rc = -1;
		}
		a->rename_flags = (noreplace ? RENAME_NOREPLACE : 0) | (exchange ? RENAME_EXCHANGE : 0);
		break;
	}
	case R_LINK_FILE:
		rc = second_path(body, &a->new_path, err);
		break;
	case R_CREATE_SYMLINK: {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "target");
		a->target = cJSON_IsString(t) ? t->valuestring : NULL;
		if (!a->target) {
			snprintf(err, SRV_MSGLEN, "target must be a string (the link's text)");
			rc = -1;
		} else if (strlen(a->target) >= SRV_MAX_PATH) {
			rc = -ENAMETOOLONG;   /* symlink(2)'s answer */
		}
		break;
	}
	case R_MAKE_NODE:
		rc = node_args(body, a, err);
		break;
	case R_SET_XATTR:
		rc = xattr_name(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "name")), &a->name, err);
		if (rc == 0)
			rc = xattr_set_args(body, a, err);
		break;
	case R_REMOVE_XATTR:
		rc = xattr_name(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "name")), &a->name, err);
		break;
	default:
		snprintf(err, SRV_MSGLEN, "not a file call");
		rc = -1;
	}
	if (rc)
		srv_file_args_free(a);
	return rc;
}

void srv_file_args_free(srv_file_args *a)
{
	if (!a)
		return;
	free(a->data);
	a->data = NULL;
	a->len = 0;
}

int srv_parse_signal(const char *body, size_t len, int *sig, srv_perr *err)
{
	cJSON *root = NULL;
	int64_t v = -1;
	*sig = -1;
	if (len && !(root = srv_json_parse(body, len, err)))
		return -1;
	int rc = srv_json_int(cJSON_GetObjectItemCaseSensitive(root, "signal"), 1, 64, &v);
	cJSON_Delete(root);
	if (rc != 0 || v < 1 || v > 64) {
		snprintf(err->msg, sizeof err->msg, "signal must be a number 1..64, e.g. {\"signal\": 15}");
		err->field[0] = '\0';
		return -1;
	}
	*sig = (int)v;
	return 0;
}
