/*
 * Sandbox calls of libsbx: create (with a fresh requestId so retries are
 * safe), get and wait, list over every page, delete; plus the extension
 * probe that tells which sbxd extras a service offers, base64 on OpenSSL
 * EVP, and the version string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "answer.h"
#include "http.h"
#include "json.h"
#include "spec.h"
#include "util.h"

#include "proc.h"
#define SBX_MAX_PAGES 10000

const char *sbx_version(void)
{
	return "0.1.0";
}

sbx_result sbx_client_features(sbx_client *c, unsigned *features, sbx_error *err)
{
	pthread_mutex_lock(&c->feat_mu);
	int known = c->feat_known;
	unsigned f = c->features;
	pthread_mutex_unlock(&c->feat_mu);
	if (known) {
		*features = f;
		return SBX_OK;
	}
	cJSON *root = NULL;
	sbx_error e;
	/* A one-off call: its connection would otherwise sit idle in the pool
	 * and hold one of the server's connection slots. */
	sbx_http_req req = {.method = "GET", .path = "/v1/extensions", .safe = 1, .no_reuse = 1};
	sbx_result r = sbx_http_json(c, &req, &root, &e);
	f = 0;
	if (r == SBX_OK) {
		const cJSON *ext = cJSON_GetObjectItemCaseSensitive(root, "extensions");
		const cJSON *x;
		cJSON_ArrayForEach(x, ext) {
			if (!cJSON_IsString(x))
				continue;
			if (strcmp(x->valuestring, "processes") == 0)
				f |= SBX_FEAT_PROCESSES;
			else if (strcmp(x->valuestring, "output") == 0)
				f |= SBX_FEAT_OUTPUT;
			else if (strcmp(x->valuestring, "files") == 0)
				f |= SBX_FEAT_FILES;
			else if (strcmp(x->valuestring, "posix") == 0)
				f |= SBX_FEAT_POSIX;
			else if (strcmp(x->valuestring, "images") == 0)
				f |= SBX_FEAT_IMAGES;
		}
	} else if (r == SBX_E_NOT_FOUND || r == SBX_E_UNSUPPORTED || (r == SBX_E_INVALID && e.http_status == 405)) {
		/* No such route: a service without the extension. */
		r = SBX_OK;
	}
	cJSON_Delete(root);
	if (r != SBX_OK) {
		if (err)
			*err = e;
		return r;
	}
	pthread_mutex_lock(&c->feat_mu);
	c->features = f;
	c->feat_known = 1;
	pthread_mutex_unlock(&c->feat_mu);
	*features = f;
	return SBX_OK;
}

#define SBX_IMAGES_TEXT_MAX (1u << 20)

sbx_result sbx_images_list(sbx_client *c, char **text, sbx_error *err)
{
	unsigned f = 0;
	*text = NULL;
	sbx_result r = sbx_client_features(c, &f, err);
	if (r != SBX_OK)
		return r;
	if (!(f & SBX_FEAT_IMAGES))
		return sbx_fail(err, SBX_E_UNSUPPORTED, "the service has no image list (sbxd's \"images\" extension)");
	cJSON *root = NULL;
	sbx_http_req req = {.method = "GET", .path = "/v1/images", .safe = 1};
	r = sbx_http_json(c, &req, &root, err);
	if (r != SBX_OK)
		return r;
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	const cJSON *img, *ref;
	if (!buf) {
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	buf[0] = '\0';
	cJSON_ArrayForEach(img, cJSON_GetObjectItemCaseSensitive(root, "images")) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(img, "digest");
		const cJSON *nl = cJSON_GetObjectItemCaseSensitive(img, "layers");
		const cJSON *sz = cJSON_GetObjectItemCaseSensitive(img, "sizeBytes");
		cJSON_ArrayForEach(ref, cJSON_GetObjectItemCaseSensitive(img, "references")) {
			if (!cJSON_IsString(ref) || !cJSON_IsString(d))
				continue;
			char line[1024];
			int n = snprintf(line, sizeof line, "%s %s %d %s\n", ref->valuestring, d->valuestring,
			                 cJSON_IsNumber(nl) ? nl->valueint : 0, cJSON_IsString(sz) ? sz->valuestring : "0");
			if (n < 0 || (size_t)n >= sizeof line)
				continue;
			if (used + (size_t)n + 1 > SBX_IMAGES_TEXT_MAX)
				break; /* a listing, not a dump: cut at 1 MiB */
			if (used + (size_t)n + 1 > cap) {
				size_t nc = cap * 2 > used + (size_t)n + 1 ? cap * 2 : used + (size_t)n + 1;
				char *nb = realloc(buf, nc);
				if (!nb) {
					r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
					goto out;
				}
				buf = nb;
				cap = nc;
			}
			memcpy(buf + used, line, (size_t)n + 1);
			used += (size_t)n;
		}
	}
	*text = buf;
	buf = NULL;
out:
	free(buf);
	cJSON_Delete(root);
	return r;
}

static sbx_result sandbox_answer(cJSON *root, const char *field, sbx_sandbox **out, sbx_error *err)
{
	const cJSON *obj = field ? cJSON_GetObjectItemCaseSensitive(root, field) : root;
	if (!obj)
		return sbx_fail(err, SBX_E_PROTOCOL, "answer lacks \"%s\"", field ? field : "");
	return sbx_sandbox_from_json(obj, out, err);
}

sbx_result sbx_sandbox_create(sbx_client *c, const sbx_spec *sp, sbx_sandbox **out, sbx_error *err)
{
	sbx_result r;
	cJSON *body = NULL, *root = NULL;
	char *text = NULL;
	char rid[33];
	*out = NULL;
	if (!sp)
		return sbx_fail(err, SBX_E_INVALID, "no spec");
	body = cJSON_CreateObject();
	cJSON *spec = sbx_spec_to_json(sp);
	if (!body || !spec || !cJSON_AddItemToObject(body, "spec", spec)) {
		cJSON_Delete(spec);
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	if (sbx_random_hex(rid) != 0) {
		r = sbx_fail(err, SBX_E_INTERNAL, "no randomness for a request id");
		goto out;
	}
	if (!cJSON_AddStringToObject(body, "requestId", rid) || !(text = cJSON_PrintUnformatted(body))) {
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	/* The requestId makes a repeated create return the first sandbox. */
	sbx_http_req req = {.method = "POST", .path = "/v1/sandboxes", .body = text, .body_len = strlen(text), .safe = 1};
	r = sbx_http_json(c, &req, &root, err);
	if (r == SBX_OK)
		r = sandbox_answer(root, NULL, out, err);
out:
	free(text);
	cJSON_Delete(body);
	cJSON_Delete(root);
	return r;
}

sbx_result sbx_sandbox_get(sbx_client *c, const char *id, int wait_seconds, sbx_sandbox **out, sbx_error *err)
{
	sbx_result r;
	cJSON *root = NULL;
	char *path = NULL;
	*out = NULL;
	if ((r = sbx_check_sandbox_id(id, err)) != SBX_OK)
		return r;
	if (wait_seconds > SBX_MAX_WAIT)
		wait_seconds = SBX_MAX_WAIT;
	if (wait_seconds > 0) {
		unsigned f = 0;
		/* Only sbxd knows waitSeconds; elsewhere answer at once. */
		if (sbx_client_features(c, &f, NULL) != SBX_OK || !(f & SBX_FEAT_PROCESSES))
			wait_seconds = 0;
	}
	char q[32] = "";
	if (wait_seconds > 0)
		snprintf(q, sizeof q, "?waitSeconds=%d", wait_seconds);
	path = sbx_path_sandbox(id, q);
	if (!path)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	sbx_http_req req = {.method = "GET", .path = path, .safe = 1, .wait_ms = wait_seconds * 1000L};
	r = sbx_http_json(c, &req, &root, err);
	if (r == SBX_OK)
		r = sandbox_answer(root, NULL, out, err);
	free(path);
	cJSON_Delete(root);
	return r;
}

sbx_result sbx_sandbox_list(sbx_client *c, const sbx_list_filter *filter, sbx_sandbox ***out, size_t *n,
                            sbx_error *err)
{
	sbx_result r = SBX_OK;
	sbx_sandbox **v = NULL;
	size_t nv = 0, cap = 0;
	char *token = NULL;
	cJSON *root = NULL;
	sbx_buf path;
	sbx_buf_init(&path, 0);
	*out = NULL;
	*n = 0;
	for (int page = 0;; page++) {
		if (page >= SBX_MAX_PAGES) {
			r = sbx_fail(err, SBX_E_PROTOCOL, "list did not end after %d pages", SBX_MAX_PAGES);
			goto out;
		}
		sbx_buf_free(&path);
		sbx_buf_init(&path, 0);
		int bad = sbx_buf_appendf(&path, "/v1/sandboxes?pageSize=1000");
		if (filter && filter->tags && filter->tags[0]) {
			bad |= sbx_buf_appendf(&path, "&tags=");
			for (size_t i = 0; filter->tags[i]; i++) {
				if (i)
					bad |= sbx_buf_append(&path, "%2C", 3);
				bad |= sbx_buf_append_escaped(&path, filter->tags[i]);
			}
		}
		if (filter && filter->state > SBX_STATE_UNSPECIFIED && filter->state <= SBX_STATE_TERMINATED)
			bad |= sbx_buf_appendf(&path, "&state=%s", sbx_state_wire(filter->state));
		if (filter && filter->show_terminated)
			bad |= sbx_buf_appendf(&path, "&showTerminated=true");
		if (token) {
			bad |= sbx_buf_appendf(&path, "&pageToken=");
			bad |= sbx_buf_append_escaped(&path, token);
		}
		if (bad) {
			r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
			goto out;
		}
		sbx_http_req req = {.method = "GET", .path = path.data, .safe = 1};
		cJSON_Delete(root);
		root = NULL;
		if ((r = sbx_http_json(c, &req, &root, err)) != SBX_OK)
			goto out;
		const char *next;
		if ((r = sbx_sandbox_page_from_json(root, &v, &nv, &cap, &next, err)) != SBX_OK)
			goto out;
		if (!next || !*next)
			break;
		if (token && strcmp(token, next) == 0) {
			r = sbx_fail(err, SBX_E_PROTOCOL, "list repeats its page token");
			goto out;
		}
		free(token);
		token = strdup(next);
		if (!token) {
			r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*out = v;
	*n = nv;
	v = NULL;
	nv = 0;
out:
	sbx_sandbox_list_free(v, nv);
	free(token);
	cJSON_Delete(root);
	sbx_buf_free(&path);
	return r;
}

static sbx_result delete_call(sbx_client *c, const char *id, int grace_seconds, int allow_missing, int purge,
                              sbx_error *err)
{
	sbx_result r;
	if ((r = sbx_check_sandbox_id(id, err)) != SBX_OK)
		return r;
	if (grace_seconds < 0)
		grace_seconds = 0;
	if (grace_seconds > 300)
		grace_seconds = 300;
	char q[80];
	snprintf(q, sizeof q, "?gracePeriodSeconds=%d%s%s", grace_seconds, allow_missing ? "&allowMissing=true" : "",
	         purge ? "&purge=true" : "");
	char *path = sbx_path_sandbox(id, q);
	if (!path)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	/* The answer comes after the grace period: give it that much time. */
	sbx_http_req req = {.method = "DELETE", .path = path, .safe = 1, .wait_ms = grace_seconds * 1000L};
	r = sbx_http_json(c, &req, NULL, err);
	if (r == SBX_E_NOT_FOUND && allow_missing)
		r = SBX_OK;
	free(path);
	return r;
}

sbx_result sbx_sandbox_delete(sbx_client *c, const char *id, int grace_seconds, int allow_missing, sbx_error *err)
{
	return delete_call(c, id, grace_seconds, allow_missing, 0, err);
}

sbx_result sbx_sandbox_purge(sbx_client *c, const char *id, int grace_seconds, int allow_missing, sbx_error *err)
{
	return delete_call(c, id, grace_seconds, allow_missing, 1, err);
}

/* ------------------------------------------------------------ base64 */

char *sbx_base64_encode(const void *data, size_t len, size_t *out_len)
{
	if (len > (size_t)1 << 30)
		return NULL;
	size_t n = 4 * ((len + 2) / 3);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	int k = len ? EVP_EncodeBlock((unsigned char *)out, data, (int)len) : 0;
	if (k < 0) {
		free(out);
		return NULL;
	}
	out[k] = '\0';
	if (out_len)
		*out_len = (size_t)k;
	return out;
}

sbx_result sbx_base64_decode(const char *text, size_t len, void **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (len > (size_t)1 << 30)
		return SBX_E_TOO_LARGE;
	/* Normalise: URL-safe alphabet to standard, drop whitespace, strip
	 * padding, then pad to a multiple of four for EVP_DecodeBlock. */
	char *norm = malloc(len + 4);
	if (!norm)
		return SBX_E_NOMEM;
	size_t n = 0;
	size_t pad = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		if (pad) {
			free(norm);
			return SBX_E_PROTOCOL;   /* data after padding */
		}
		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
		      ch == '/')) {
			free(norm);
			return SBX_E_PROTOCOL;
		}
		norm[n++] = ch;
	}
	if (pad > 2 || n % 4 == 1) {
		free(norm);
		return SBX_E_PROTOCOL;
	}
	size_t rem = n % 4;
	size_t strip = rem ? 4 - rem : 0;
	for (size_t i = 0; i < strip; i++)
		norm[n++] = '=';
	unsigned char *dst = malloc(n / 4 * 3 + 1);
	if (!dst) {
		free(norm);
		return SBX_E_NOMEM;
	}
	int k = n ? EVP_DecodeBlock(dst, (unsigned char *)norm, (int)n) : 0;
	free(norm);
	if (k < 0 || (size_t)k < strip) {
		free(dst);
		return SBX_E_PROTOCOL;
	}
	/* EVP_DecodeBlock counts padding bytes as output zeros. */
	k -= (int)strip;
	dst[k] = '\0';
	*out = dst;
	*out_len = (size_t)k;
	return SBX_OK;
}
