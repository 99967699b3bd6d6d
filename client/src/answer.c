/*
 * The answers of list, exec and file calls decoded into libsbx's types
 * (answer.h). Taken out of the calls themselves so that what the service
 * sends is parsed by code the fuzz target reaches without a network.
 */
#include "answer.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

sbx_result sbx_sandbox_page_from_json(const cJSON *root, sbx_sandbox ***v, size_t *nv, size_t *cap,
				      const char **next, sbx_error *err)
{
	sbx_result r;
	*next = NULL;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "sandboxes");
	if (arr && !cJSON_IsArray(arr))
		return sbx_fail(err, SBX_E_PROTOCOL, "\"sandboxes\" is not an array");
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		if (*nv == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			sbx_sandbox **p = realloc(*v, nc * sizeof *p);
			if (!p)
				return sbx_fail(err, SBX_E_NOMEM, "out of memory");
			*v = p;
			*cap = nc;
		}
		if ((r = sbx_sandbox_from_json(it, &(*v)[*nv], err)) != SBX_OK)
			return r;
		(*nv)++;
	}
	*next = sbx_json_get_str(root, "nextPageToken");
	return SBX_OK;
}

sbx_result sbx_processes_from_json(const cJSON *root, sbx_process ***out, size_t *n, sbx_error *err)
{
	sbx_result res = SBX_OK;
	sbx_process **v = NULL;
	size_t nv = 0;
	*out = NULL;
	*n = 0;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "processes");
	if (arr && !cJSON_IsArray(arr))
		return sbx_fail(err, SBX_E_PROTOCOL, "\"processes\" is not an array");
	int k = cJSON_GetArraySize(arr);
	v = calloc(k > 0 ? (size_t)k : 1, sizeof *v);
	if (!v)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		if ((res = sbx_process_from_json(it, &v[nv], err)) != SBX_OK)
			goto out;
		nv++;
	}
	*out = v;
	*n = nv;
	v = NULL;
	nv = 0;
out:
	sbx_process_list_free(v, nv);
	return res;
}

static sbx_result b64_field(const cJSON *root, const char *key, char **out, size_t *len, sbx_error *err)
{
	const char *s = sbx_json_get_str(root, key);
	void *d = NULL;
	size_t n = 0;
	sbx_result r = sbx_base64_decode(s ? s : "", s ? strlen(s) : 0, &d, &n);
	if (r != SBX_OK)
		return sbx_fail(err, r == SBX_E_NOMEM ? r : SBX_E_PROTOCOL, "bad base64 in \"%s\"", key);
	*out = d;
	*len = n;
	return SBX_OK;
}

sbx_result sbx_exec_result_from_json(const cJSON *root, sbx_exec_result **out, sbx_error *err)
{
	sbx_result res = SBX_OK;
	int64_t v;
	*out = NULL;
	sbx_exec_result *x = calloc(1, sizeof *x);
	if (!x)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	if (sbx_json_get_i64(root, "exitCode", &v) != 0 || v < -1000000 || v > 1000000) {
		res = sbx_fail(err, SBX_E_PROTOCOL, "exec answer has a bad exitCode");
		goto out;
	}
	x->exit_code = (int)v;
	if ((res = b64_field(root, "stdout", &x->out, &x->out_len, err)) != SBX_OK ||
	    (res = b64_field(root, "stderr", &x->errout, &x->err_len, err)) != SBX_OK)
		goto out;
	x->out_truncated = sbx_json_get_bool(root, "stdoutTruncated");
	x->err_truncated = sbx_json_get_bool(root, "stderrTruncated");
	if (sbx_json_get_i64(root, "stdoutBytes", &x->out_total) != 0 || x->out_total < 0 ||
	    sbx_json_get_i64(root, "stderrBytes", &x->err_total) != 0 || x->err_total < 0) {
		res = sbx_fail(err, SBX_E_PROTOCOL, "exec answer has bad byte counts");
		goto out;
	}
	/* A service that omits the counts: what came is all there was. */
	if (x->out_total < (int64_t)x->out_len)
		x->out_total = (int64_t)x->out_len;
	if (x->err_total < (int64_t)x->err_len)
		x->err_total = (int64_t)x->err_len;
	*out = x;
	x = NULL;
out:
	sbx_exec_result_free(x);
	return res;
}

sbx_result sbx_dirents_from_json(const cJSON *root, sbx_dirent **out, size_t *n, sbx_error *err)
{
	sbx_result r = SBX_OK;
	sbx_dirent *v = NULL;
	size_t nv = 0;
	*out = NULL;
	*n = 0;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "entries");
	if (arr && !cJSON_IsArray(arr))
		return sbx_fail(err, SBX_E_PROTOCOL, "\"entries\" is not an array");
	int k = cJSON_GetArraySize(arr);
	v = calloc(k > 0 ? (size_t)k : 1, sizeof *v);
	if (!v)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		r = sbx_dirent_from_json(it, &v[nv]);
		if (r != SBX_OK) {
			r = sbx_fail(err, r, "bad directory entry in the answer");
			goto out;
		}
		nv++;
	}
	*out = v;
	*n = nv;
	v = NULL;
	nv = 0;
out:
	sbx_dirent_list_free(v, nv);
	return r;
}

sbx_result sbx_stat_from_json(cJSON *root, sbx_dirent *out, sbx_error *err)
{
	memset(out, 0, sizeof *out);
	if (!cJSON_IsObject(root))
		return sbx_fail(err, SBX_E_PROTOCOL, "bad file entry in the answer");
	/* The root "/" has no last component; sbxd may name it "/" or "". */
	cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
	if (!cJSON_IsString(name) || !name->valuestring[0] || strcmp(name->valuestring, "/") == 0) {
		cJSON_DeleteItemFromObjectCaseSensitive(root, "name");
		if (!cJSON_AddStringToObject(root, "name", "."))
			return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	sbx_result r = sbx_dirent_from_json(root, out);
	if (r != SBX_OK)
		return sbx_fail(err, r, "bad file entry in the answer");
	return SBX_OK;
}

sbx_result sbx_read_from_json(const cJSON *root, void **data, size_t *len, int64_t *size, sbx_error *err)
{
	void *d = NULL;
	size_t n = 0;
	*data = NULL;
	*len = 0;
	const char *b64 = sbx_json_get_str(root, "content");
	sbx_result r = sbx_base64_decode(b64 ? b64 : "", b64 ? strlen(b64) : 0, &d, &n);
	if (r != SBX_OK)
		return sbx_fail(err, r == SBX_E_NOMEM ? r : SBX_E_PROTOCOL, "bad base64 in \"content\"");
	int64_t whole = -1;
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(root, "size");
	if (sz && (sbx_json_item_i64(sz, &whole) != 0 || whole < 0))
		whole = -1;
	*size = whole;
	*data = d;
	*len = n;
	return SBX_OK;
}
