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
#include "extension.pb-c.h"
#include "http.h"
#include "json.h"
#include "pb.h"
#include "sandbox.pb-c.h"
#include "spec.h"
#include "util.h"

#include "proc.h"
#define SBX_MAX_PAGES 10000

const char *sbx_version(void)
{
	return "0.1.0";
}

/* The discovery names libsbx uses, each gating its calls. */
static const struct {
	const char *name;
	unsigned bit;
} feature_names[] = {
	{"processes", SBX_FEAT_PROCESSES}, {"output", SBX_FEAT_OUTPUT}, {"files", SBX_FEAT_FILES},
	{"posix", SBX_FEAT_POSIX},         {"images", SBX_FEAT_IMAGES}, {"wait", SBX_FEAT_WAIT},
	{"forget", SBX_FEAT_FORGET},       {"waitProcesses", SBX_FEAT_WAIT_MANY},
	{"outputFd", SBX_FEAT_OUTPUT_FD},  {"fileFd", SBX_FEAT_FILE_FD}, {"protobuf", SBX_FEAT_PROTOBUF},
};

unsigned sbx_features_from_names(const char *const *names, size_t n)
{
	unsigned f = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; names[i] && k < sizeof feature_names / sizeof feature_names[0]; k++)
			if (strcmp(names[i], feature_names[k].name) == 0)
				f |= feature_names[k].bit;
	return f;
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
	const wire_route *r = wire_ext_route_find("GetExtensions");
	if (!r)
		return sbx_fail(err, SBX_E_INTERNAL, "the extension's route table has no GetExtensions");
	ProtobufCMessage *m = NULL;
	sbx_error e;
	/* A one-off call: its connection would otherwise sit idle in the pool
	 * and hold one of the server's connection slots. */
	sbx_http_req base = {.safe = 1, .no_reuse = 1};
	Sbxd__Ext__V1__GetExtensionsRequest req = SBXD__EXT__V1__GET_EXTENSIONS_REQUEST__INIT;
	sbx_result res = sbx_pb_call(c, r, &req.base, NULL, &base, &m, &e);
	f = 0;
	if (res == SBX_OK) {
		const Sbxd__Ext__V1__GetExtensionsResponse *x = (const Sbxd__Ext__V1__GetExtensionsResponse *)m;
		f = sbx_features_from_names((const char *const *)x->extensions, x->n_extensions);
	} else if (res == SBX_E_NOT_FOUND || res == SBX_E_UNSUPPORTED || (res == SBX_E_INVALID && e.http_status == 405)) {
		/* No such route (404, 501): a service without the extension. */
		res = SBX_OK;
	}
	wire_message_free(m);
	if (res != SBX_OK) {
		if (err)
			*err = e;
		return res;
	}
	pthread_mutex_lock(&c->feat_mu);
	c->features = f;
	c->feat_known = 1;
	pthread_mutex_unlock(&c->feat_mu);
	*features = f;
	return SBX_OK;
}

#define SBX_IMAGES_TEXT_MAX (1u << 20)

/* One line of the listing ("REF DIGEST LAYERS BYTES\n") onto buf. 1 when
 * the cap stops the listing (a listing, not a dump: cut at 1 MiB), -1
 * out of memory, else 0. */
static int images_line(char **buf, size_t *used, size_t *cap, const char *ref, const Sbxd__Ext__V1__Image *im)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "%s %s %d %lld\n", ref, im->digest ? im->digest : "", (int)im->layers,
	                 (long long)im->size_bytes);
	if (n < 0 || (size_t)n >= sizeof line)
		return 0;
	if (*used + (size_t)n + 1 > SBX_IMAGES_TEXT_MAX)
		return 1;
	if (*used + (size_t)n + 1 > *cap) {
		size_t nc = *cap * 2 > *used + (size_t)n + 1 ? *cap * 2 : *used + (size_t)n + 1;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *used, line, (size_t)n + 1);
	*used += (size_t)n;
	return 0;
}

sbx_result sbx_images_list(sbx_client *c, char **text, sbx_error *err)
{
	unsigned f = 0;
	*text = NULL;
	sbx_result r = sbx_client_features(c, &f, err);
	if (r != SBX_OK)
		return r;
	if (!(f & SBX_FEAT_IMAGES))
		return sbx_fail(err, SBX_E_UNSUPPORTED, "the service has no image list (sbxd's \"images\" extension)");
	const wire_route *rt;
	if ((r = sbx_pb_ext_route("ListImages", &rt, err)) != SBX_OK)
		return r;
	ProtobufCMessage *m = NULL;
	sbx_http_req base = {.safe = 1};
	Sbxd__Ext__V1__ListImagesRequest req = SBXD__EXT__V1__LIST_IMAGES_REQUEST__INIT;
	if ((r = sbx_pb_call(c, rt, &req.base, NULL, &base, &m, err)) != SBX_OK)
		return r;
	const Sbxd__Ext__V1__ListImagesResponse *x = (const Sbxd__Ext__V1__ListImagesResponse *)m;
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	if (!buf) {
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	buf[0] = '\0';
	int stop = 0;
	for (size_t i = 0; i < x->n_images && !stop; i++) {
		const Sbxd__Ext__V1__Image *im = x->images[i];
		if (!im->digest || !*im->digest)
			continue;
		for (size_t k = 0; k < im->n_references && !stop; k++) {
			stop = images_line(&buf, &used, &cap, im->references[k], im);
			if (stop < 0) {
				r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
				goto out;
			}
		}
	}
	*text = buf;
	buf = NULL;
out:
	free(buf);
	wire_message_free(m);
	return r;
}

/* One call whose answer is a Sandbox (create, get, wait). */
static sbx_result sandbox_call(sbx_client *c, const wire_route *r, const ProtobufCMessage *req, const char *extra,
                               const sbx_http_req *base, sbx_sandbox **out, sbx_error *err)
{
	ProtobufCMessage *m = NULL;
	sbx_result res = sbx_pb_call(c, r, req, extra, base, &m, err);
	if (res == SBX_OK)
		res = sbx_sandbox_from_pb(m, out, err);
	wire_message_free(m);
	return res;
}

sbx_result sbx_sandbox_create(sbx_client *c, const sbx_spec *sp, sbx_sandbox **out, sbx_error *err)
{
	const wire_route *r;
	sbx_result res;
	char rid[33];
	*out = NULL;
	if (!sp)
		return sbx_fail(err, SBX_E_INVALID, "no spec");
	if ((res = sbx_pb_route("CreateSandbox", &r, err)) != SBX_OK)
		return res;
	if (sbx_random_hex(rid) != 0)
		return sbx_fail(err, SBX_E_INTERNAL, "no randomness for a request id");
	sbx_spec_pb p;
	if ((res = sbx_spec_to_pb(sp, &p, err)) != SBX_OK)
		return res;
	Coreweave__Sandbox__V1__CreateSandboxRequest req = COREWEAVE__SANDBOX__V1__CREATE_SANDBOX_REQUEST__INIT;
	req.sandbox = &p.sandbox;
	req.request_id = rid;
	/* The requestId (a query parameter) makes a repeated create return
	 * the first sandbox, so the call may be retried. */
	sbx_http_req base = {.safe = 1};
	res = sandbox_call(c, r, &req.base, NULL, &base, out, err);
	sbx_spec_pb_free(&p);
	return res;
}

sbx_result sbx_sandbox_get(sbx_client *c, const char *id, int wait_seconds, sbx_sandbox **out, sbx_error *err)
{
	sbx_result res;
	const wire_route *r;
	*out = NULL;
	if ((res = sbx_check_sandbox_id(id, err)) != SBX_OK)
		return res;
	if (wait_seconds > SBX_MAX_WAIT)
		wait_seconds = SBX_MAX_WAIT;
	unsigned f = 0;
	if (wait_seconds > 0 && sbx_client_features(c, &f, NULL) == SBX_OK && (f & SBX_FEAT_WAIT) &&
	    (r = wire_ext_route_find("Wait"))) {
		/* sbxd's :wait answers once the sandbox is terminal or at the
		 * deadline. */
		Sbxd__Ext__V1__WaitRequest req = SBXD__EXT__V1__WAIT_REQUEST__INIT;
		req.sandbox_id = (char *)id;
		req.wait_seconds = wait_seconds;
		sbx_http_req base = {.safe = 1, .wait_ms = wait_seconds * 1000L};
		return sandbox_call(c, r, &req.base, NULL, &base, out, err);
	}
	if ((res = sbx_pb_route("GetSandbox", &r, err)) != SBX_OK)
		return res;
	Coreweave__Sandbox__V1__GetSandboxRequest req = COREWEAVE__SANDBOX__V1__GET_SANDBOX_REQUEST__INIT;
	req.sandbox_id = (char *)id;
	sbx_http_req base = {.safe = 1};
	if (wait_seconds <= 0)
		return sandbox_call(c, r, &req.base, NULL, &base, out, err);
	/* No :wait: poll GetSandbox until terminal or the wait is over. */
	int64_t end = sbx_now_ms() + wait_seconds * 1000L;
	long step = 100;
	for (;;) {
		res = sandbox_call(c, r, &req.base, NULL, &base, out, err);
		if (res != SBX_OK || sbx_state_is_terminal((*out)->state) || sbx_now_ms() + step > end)
			return res;
		sbx_sandbox_free(*out);
		*out = NULL;
		sbx_sleep_ms(step);
		if (step < 1000)
			step *= 2;
	}
}

sbx_result sbx_sandbox_list(sbx_client *c, const sbx_list_filter *filter, sbx_sandbox ***out, size_t *n,
                            sbx_error *err)
{
	sbx_result res;
	const wire_route *r;
	sbx_sandbox **v = NULL;
	size_t nv = 0, cap = 0;
	char *token = NULL;
	char **tags = NULL;
	ProtobufCMessage *m = NULL;
	*out = NULL;
	*n = 0;
	if ((res = sbx_pb_route("ListSandboxes", &r, err)) != SBX_OK)
		return res;
	Coreweave__Sandbox__V1__ListSandboxesRequest req = COREWEAVE__SANDBOX__V1__LIST_SANDBOXES_REQUEST__INIT;
	req.page_size = 1000;
	if (filter && filter->tags) {
		size_t nt = 0;
		while (filter->tags[nt])
			nt++;
		/* every tag must match: one ?tags= each (repeated field) */
		req.tags = (char **)filter->tags;
		req.n_tags = nt;
	}
	if (filter && filter->state > SBX_STATE_UNSPECIFIED && filter->state <= SBX_STATE_TERMINATED)
		req.state = sbx_state_to_pb(filter->state);
	req.show_terminated = filter && filter->show_terminated;
	for (int page = 0;; page++) {
		if (page >= SBX_MAX_PAGES) {
			res = sbx_fail(err, SBX_E_PROTOCOL, "list did not end after %d pages", SBX_MAX_PAGES);
			goto out;
		}
		req.page_token = token ? token : (char *)"";
		sbx_http_req base = {.safe = 1};
		wire_message_free(m);
		m = NULL;
		if ((res = sbx_pb_call(c, r, &req.base, NULL, &base, &m, err)) != SBX_OK)
			goto out;
		const char *next;
		if ((res = sbx_sandbox_page_from_pb(m, &v, &nv, &cap, &next, err)) != SBX_OK)
			goto out;
		if (!next || !*next)
			break;
		if (token && strcmp(token, next) == 0) {
			res = sbx_fail(err, SBX_E_PROTOCOL, "list repeats its page token");
			goto out;
		}
		free(token);
		token = strdup(next);
		if (!token) {
			res = sbx_fail(err, SBX_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*out = v;
	*n = nv;
	v = NULL;
	nv = 0;
out:
	wire_message_free(m);
	sbx_sandbox_list_free(v, nv);
	free(token);
	free(tags);
	return res;
}

static sbx_result delete_call(sbx_client *c, const char *id, int grace_seconds, int allow_missing, int forget,
                              sbx_error *err)
{
	sbx_result res;
	const wire_route *r = NULL;
	if ((res = sbx_check_sandbox_id(id, err)) != SBX_OK)
		return res;
	if (grace_seconds < 0)
		grace_seconds = 0;
	if (grace_seconds > 300)
		grace_seconds = 300;
	/* The answer comes after the grace period: give it that much time. */
	sbx_http_req base = {.safe = 1, .wait_ms = grace_seconds * 1000L};
	unsigned f = 0;
	if (forget && sbx_client_features(c, &f, NULL) == SBX_OK && (f & SBX_FEAT_FORGET) &&
	    (r = wire_ext_route_find("Forget"))) {
		/* sbxd's :forget: stop as DeleteSandbox does, then drop the
		 * record and its output. */
		Sbxd__Ext__V1__ForgetRequest req = SBXD__EXT__V1__FORGET_REQUEST__INIT;
		req.sandbox_id = (char *)id;
		req.grace_period_seconds = grace_seconds;
		res = sbx_pb_call(c, r, &req.base, NULL, &base, NULL, err);
	} else {
		/* Without "forget" the service forgets on its own retention. */
		if ((res = sbx_pb_route("DeleteSandbox", &r, err)) != SBX_OK)
			return res;
		Coreweave__Sandbox__V1__DeleteSandboxRequest req = COREWEAVE__SANDBOX__V1__DELETE_SANDBOX_REQUEST__INIT;
		req.sandbox_id = (char *)id;
		/* absent means immediate: the grace is always explicit */
		req.grace_period_seconds = grace_seconds;
		req.allow_missing = allow_missing != 0;
		res = sbx_pb_call(c, r, &req.base, NULL, &base, NULL, err);
	}
	if (res == SBX_E_NOT_FOUND && allow_missing)
		res = SBX_OK;
	return res;
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
