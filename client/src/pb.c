/*
 * The codec glue of libsbx (pb.h): requests from messages and route rows,
 * answers into messages, one blocking call that does both.
 */
#include "pb.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

const wire_caps sbx_pb_answer_caps = {
	.max_bytes = (size_t)64 << 20,
	.max_depth = SBX_JSON_MAX_DEPTH,
	.max_items = 100000,
	.max_string = (size_t)48 << 20,
	.ignore_unknown = 1,
};

/* The caps of what libsbx sends: a 16 MiB write in base64 and argv/env
 * lists as big as sbx_spec allows. */
static const wire_caps request_caps = {
	.max_bytes = (size_t)64 << 20,
	.max_depth = SBX_JSON_MAX_DEPTH,
	.max_items = 100000,
	.max_string = (size_t)48 << 20,
};

sbx_result sbx_pb_route(const char *rpc, const wire_route **out, sbx_error *err)
{
	*out = wire_route_find(rpc);
	if (!*out)
		return sbx_fail(err, SBX_E_INTERNAL, "the route table has no %s", rpc);
	return SBX_OK;
}

#define PATH_MAX_LEN 16384

/* r's template with req's path variables (strings, or int64 process ids
 * in decimal) into a new buffer of PATH_MAX_LEN; *len its length. */
static sbx_result path_of(const wire_route *r, const ProtobufCMessage *req, char **out, size_t *len, sbx_error *err)
{
	const char *vals[WIRE_MAX_VARS] = {NULL};
	char num[WIRE_MAX_VARS][24];
	size_t nv = 0;
	*out = NULL;
	for (; nv < WIRE_MAX_VARS && r->vars[nv]; nv++) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(req->descriptor,
		                                                                                    r->vars[nv]);
		const void *slot = f ? (const char *)req + f->offset : NULL;
		if (f && f->label != PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_STRING) {
			vals[nv] = *(char *const *)slot;
		} else if (f && f->label != PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_INT64) {
			snprintf(num[nv], sizeof num[nv], "%lld", (long long)*(const int64_t *)slot);
			vals[nv] = num[nv];
		} else {
			return sbx_fail(err, SBX_E_INTERNAL, "%s: path variable %s has no text form", r->rpc, r->vars[nv]);
		}
		if (!vals[nv] || !vals[nv][0])
			return sbx_fail(err, SBX_E_INVALID, "%s: %s is empty", r->rpc, r->vars[nv]);
	}
	char *p = malloc(PATH_MAX_LEN);
	if (!p)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	int n = wire_route_path(r, vals, nv, p, PATH_MAX_LEN);
	if (n < 0) {
		free(p);
		return sbx_fail(err, n == -E2BIG ? SBX_E_INVALID : SBX_E_INTERNAL, "%s: no path for these values", r->rpc);
	}
	*out = p;
	*len = (size_t)n;
	return SBX_OK;
}

sbx_result sbx_pb_raw_path(const wire_route *r, const ProtobufCMessage *req, const char *skip_field, char **path,
                           sbx_error *err)
{
	char *p = NULL;
	size_t k = 0;
	*path = NULL;
	sbx_result res = path_of(r, req, &p, &k, err);
	if (res != SBX_OK)
		return res;
	const char *skip[WIRE_MAX_VARS + 1];
	size_t ns = 0;
	for (size_t i = 0; i < WIRE_MAX_VARS && r->vars[i]; i++)
		skip[ns++] = r->vars[i];
	if (skip_field)
		skip[ns++] = skip_field;
	p[k++] = '?';
	int q = wire_query_encode(req, skip, ns, p + k, PATH_MAX_LEN - k);
	if (q < 0) {
		free(p);
		return sbx_fail(err, q == -E2BIG ? SBX_E_INVALID : SBX_E_INTERNAL, "%s: query string %s", r->rpc,
		                q == -E2BIG ? "too long" : "has no text form");
	}
	k += (size_t)q;
	if (q == 0)
		k--;
	p[k] = '\0';
	*path = p;
	return SBX_OK;
}

sbx_result sbx_pb_ext_route(const char *rpc, const wire_route **out, sbx_error *err)
{
	*out = wire_ext_route_find(rpc);
	if (!*out)
		return sbx_fail(err, SBX_E_INTERNAL, "the extension's route table has no %s", rpc);
	return SBX_OK;
}

/* sbx_pb_request's work; pb: the body in the binary encoding. */
static sbx_result request_as(const wire_route *r, const ProtobufCMessage *req, const char *extra_query, int pb,
                             char **path, char **body, size_t *body_len, sbx_error *err)
{
	*path = NULL;
	*body = NULL;
	*body_len = 0;
	char *p = NULL;
	size_t k = 0;
	sbx_result res = path_of(r, req, &p, &k, err);
	if (res != SBX_OK)
		return res;
	p[k++] = '?';
	int q = wire_route_query(r, req, p + k, PATH_MAX_LEN - k);
	if (q < 0) {
		free(p);
		return sbx_fail(err, q == -E2BIG ? SBX_E_INVALID : SBX_E_INTERNAL, "%s: query string %s", r->rpc,
		                q == -E2BIG ? "too long" : "has no text form");
	}
	k += (size_t)q;
	if (extra_query && *extra_query) {
		size_t el = strlen(extra_query);
		if (k + el + 2 > PATH_MAX_LEN) {
			free(p);
			return sbx_fail(err, SBX_E_INVALID, "%s: query string too long", r->rpc);
		}
		if (q > 0)
			p[k++] = '&';
		memcpy(p + k, extra_query, el);
		k += el;
	}
	if (p[k - 1] == '?')
		k--;
	p[k] = '\0';
	if (r->body[0]) {
		const ProtobufCMessage *bm = req;
		if (strcmp(r->body, "*") != 0) {
			const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(req->descriptor,
			                                                                                    r->body);
			if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE) {
				free(p);
				return sbx_fail(err, SBX_E_INTERNAL, "%s: body field %s is not a message", r->rpc, r->body);
			}
			bm = *(ProtobufCMessage *const *)((const char *)req + f->offset);
		}
		wire_err we;
		char *text = NULL;
		size_t tl = 0;
		int rc = -EINVAL;
		if (bm && pb)
			rc = wire_pb_encode(bm, &request_caps, (uint8_t **)&text, &tl, &we);
		else if (bm)
			rc = wire_json_encode(bm, &request_caps, &text, &tl, &we);
		else
			snprintf(we.msg, sizeof we.msg, "no %s", r->body);
		if (rc) {
			free(p);
			return sbx_fail(err, rc == -ENOMEM ? SBX_E_NOMEM : SBX_E_INVALID, "%s: %s", r->rpc, we.msg);
		}
		*body = text;
		*body_len = tl;
	}
	*path = p;
	return SBX_OK;
}

sbx_result sbx_pb_request(const wire_route *r, const ProtobufCMessage *req, const char *extra_query, char **path,
                          char **body, size_t *body_len, sbx_error *err)
{
	return request_as(r, req, extra_query, 0, path, body, body_len, err);
}

/* An answer in either encoding (pb: binary). */
static sbx_result answer_as(const ProtobufCMessageDescriptor *d, const char *text, size_t len, int pb,
                            ProtobufCMessage **out, sbx_error *err)
{
	wire_err we;
	*out = NULL;
	int rc = pb ? wire_pb_decode(d, (const uint8_t *)text, len, &sbx_pb_answer_caps, out, &we)
	            : wire_json_decode(d, len ? text : "{}", len ? len : 2, &sbx_pb_answer_caps, out, &we);
	if (rc == -ENOMEM)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	/* Over the size cap is too large; nested too deep (also -E2BIG
	 * from the codec) is a malformed answer. */
	if (rc == -E2BIG && len > sbx_pb_answer_caps.max_bytes)
		return sbx_fail(err, SBX_E_TOO_LARGE, "answer (%s) over a cap: %s", d->short_name, we.msg);
	if (rc)
		return sbx_fail(err, SBX_E_PROTOCOL, "answer is not a %s: %s", d->short_name, we.msg);
	return SBX_OK;
}

sbx_result sbx_pb_answer(const ProtobufCMessageDescriptor *d, const char *text, size_t len, ProtobufCMessage **out,
                         sbx_error *err)
{
	return answer_as(d, text, len, 0, out, err);
}

/* An extension call goes in the binary encoding when the service has
 * announced "protobuf" (only a known answer counts: the discovery call
 * itself, made before, is JSON) and the config does not say JSON; only
 * rows whose body is none or the whole request. */
static int use_pb(sbx_client *c, const wire_route *r)
{
	if (!r->ext || c->cfg->ext_json || (r->body[0] && strcmp(r->body, "*") != 0))
		return 0;
	pthread_mutex_lock(&c->feat_mu);
	int on = c->feat_known && (c->features & SBX_FEAT_PROTOBUF);
	pthread_mutex_unlock(&c->feat_mu);
	return on;
}

sbx_result sbx_pb_call_as(sbx_client *c, const wire_route *r, const ProtobufCMessage *req, const char *extra_query,
                          const sbx_http_req *base, const ProtobufCMessageDescriptor *resp_d, ProtobufCMessage **out,
                          sbx_error *err)
{
	char *path = NULL, *body = NULL;
	size_t blen = 0;
	if (out)
		*out = NULL;
	int pb = use_pb(c, r);
	sbx_result res = request_as(r, req, extra_query, pb, &path, &body, &blen, err);
	if (res != SBX_OK)
		return res;
	sbx_http_req hr = base ? *base : (sbx_http_req){0};
	hr.pb = pb;
	hr.method = r->method;
	hr.path = path;
	hr.body = body;
	hr.body_len = blen;
	sbx_http_resp resp;
	sbx_http_resp_init(&resp, c->cfg->max_response);
	res = sbx_http_call(c, &hr, &resp, err);
	if (res == SBX_OK) {
		ProtobufCMessage *m = NULL;
		/* By the answer's Content-Type: a service may answer JSON all
		 * the same (a proxy, an older sbxd behind the same name). */
		res = answer_as(resp_d, resp.body.data, resp.body.len, resp.pb, &m, err);
		if (res != SBX_OK && err)
			err->http_status = resp.status;
		if (res == SBX_OK && out)
			*out = m;
		else
			wire_message_free(m);
	}
	sbx_http_resp_free(&resp);
	free(path);
	free(body);
	return res;
}

sbx_result sbx_pb_call(sbx_client *c, const wire_route *r, const ProtobufCMessage *req, const char *extra_query,
                       const sbx_http_req *base, ProtobufCMessage **out, sbx_error *err)
{
	return sbx_pb_call_as(c, r, req, extra_query, base, r->resp, out, err);
}

char *sbx_pb_pretty(const ProtobufCMessage *m)
{
	char *text = NULL;
	size_t len = 0;
	wire_err we;
	if (wire_json_encode(m, &request_caps, &text, &len, &we) != 0)
		return NULL;
	cJSON *root = sbx_json_parse(text, len);
	free(text);
	if (!root)
		return NULL;
	char *out = sbx_json_pretty(root);
	cJSON_Delete(root);
	return out;
}
