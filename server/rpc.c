/*
 * The one core of sbxd's front ends (rpc.h): the error table and the
 * google.rpc.Status every answer that fails is built from, and the
 * operations of the sandbox calls on the schema's generated messages.
 * Nothing here knows HTTP or JSON: the REST front end (api.c) and a gRPC
 * one decode requests into the same structs and encode the same answers.
 */
#include "rpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_details.pb-c.h"
#include "parse.h"

#define DOMAIN "cwsandbox.com"

/* ------------------------------------------------------------- errors */

/* The error table (STYLE E7): one row per kind, in srv_err's order. The
 * HTTP status is not here: it follows from the code (srv_http_status).
 * reason NULL: no ErrorInfo (the schema has no reason for it). retry_ms:
 * the RetryInfo a client should honour. */
static const struct err_row {
	srv_err kind;
	int code;
	const char *reason;
	int retry_ms;
} err_table[] = {
	{SRV_E_INVALID, 3, "CWSANDBOX_INVALID_REQUEST", 0},
	{SRV_E_PRECONDITION, 9, "CWSANDBOX_INVALID_REQUEST", 0},
	{SRV_E_NOT_RUNNING, 9, "CWSANDBOX_INVALID_REQUEST", 0},
	{SRV_E_UNSUPPORTED, 12, "CWSANDBOX_NOT_IMPLEMENTED", 0},
	{SRV_E_NOT_IMPLEMENTED, 12, "CWSANDBOX_NOT_IMPLEMENTED", 0},
	{SRV_E_NO_ROUTE, 5, NULL, 0},
	{SRV_E_SANDBOX_NOT_FOUND, 5, "CWSANDBOX_SANDBOX_NOT_FOUND", 0},
	{SRV_E_ALREADY_EXISTS, 6, "CWSANDBOX_INVALID_REQUEST", 0},
	{SRV_E_CAPACITY, 8, "CWSANDBOX_RUNNER_CAPACITY_EXHAUSTED", 5000},
	{SRV_E_TIMEOUT, 4, "CWSANDBOX_COMMAND_TIMEOUT", 0},
	{SRV_E_UNAVAILABLE, 14, "CWSANDBOX_BACKEND_UNAVAILABLE", 1000},
	{SRV_E_INTERNAL, 13, NULL, 0},
	{SRV_E_UNAUTHENTICATED, 16, NULL, 0},
	{SRV_E_FILE_NOT_FOUND, 5, "CWSANDBOX_FILE_NOT_FOUND", 0},
	{SRV_E_FILE_PERMISSION, 7, "CWSANDBOX_FILE_PERMISSION_DENIED", 0},
	{SRV_E_FILE_IS_DIRECTORY, 9, "CWSANDBOX_FILE_IS_DIRECTORY", 0},
	{SRV_E_FILE_TOO_LARGE, 3, "CWSANDBOX_FILE_TOO_LARGE", 0},
	{SRV_E_FILE_IO, 13, "CWSANDBOX_FILE_IO_FAILED", 0},
	{SRV_E_FILE_EXISTS, 6, "CWSANDBOX_FILE_IO_FAILED", 0},
	{SRV_E_NO_SPACE, 8, "CWSANDBOX_FILE_IO_FAILED", 0},
	{SRV_E_OUTPUT_LOST, 15, "CWSANDBOX_OUTPUT_LOST", 0},
	{SRV_E_PROCESS_NOT_FOUND, 5, "CWSANDBOX_PROCESS_NOT_FOUND", 0},
	{SRV_E_PROCESS_EXITED, 9, "CWSANDBOX_PROCESS_EXITED", 0},
	{SRV_E_STDIN_CLOSED, 9, "CWSANDBOX_STDIN_CLOSED", 0},
	{SRV_E_STDIN_FULL, 8, "CWSANDBOX_STDIN_FULL", 500},
	{SRV_E_DIRECTORY_NOT_EMPTY, 9, "CWSANDBOX_DIRECTORY_NOT_EMPTY", 0},
	{SRV_E_NAME_TOO_LONG, 3, "CWSANDBOX_NAME_TOO_LONG", 0},
};

static const struct err_row *err_row(srv_err kind)
{
	for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
		if (err_table[i].kind == kind)
			return &err_table[i];
	return NULL;
}

unsigned srv_http_status(int code)
{
	static const unsigned http[17] = {200, 499, 500, 400, 504, 404, 409, 403, 429,
					  400, 409, 400, 501, 500, 503, 500, 401};
	return code >= 0 && code <= 16 ? http[code] : 500;
}

int srv_fail(srv_status *st, srv_err kind, const char *field, const char *fmt, ...)
{
	const struct err_row *row = err_row(kind);
	memset(st, 0, sizeof *st);
	st->code = row ? row->code : 13;
	st->reason = row ? row->reason : NULL;
	st->retry_ms = row ? row->retry_ms : 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof st->msg, fmt, ap);
	va_end(ap);
	/* A message goes into a strict client's JSON: valid UTF-8 always. */
	srv_utf8_fix(st->msg, strlen(st->msg));
	if (field && *field) {
		snprintf(st->field, sizeof st->field, "%s", field);
		srv_utf8_fix(st->field, strlen(st->field));
	}
	return SRV_RPC_FAIL;
}

void srv_status_md(srv_status *st, const char *key, const char *val)
{
	if (!st->reason || !key || !val)
		return;
	for (size_t i = 0; i < SRV_STATUS_MD; i++) {
		if (st->md_key[i])
			continue;
		st->md_key[i] = key;
		snprintf(st->md_val[i], sizeof st->md_val[i], "%s", val);
		srv_utf8_fix(st->md_val[i], strlen(st->md_val[i]));
		return;
	}
}

int srv_fail_perr(srv_status *st, const srv_perr *e)
{
	return srv_fail(st, SRV_E_INVALID, e->field, "%s", e->msg);
}

int srv_fail_wire(srv_status *st, const wire_err *e)
{
	return srv_fail(st, SRV_E_INVALID, e->field, "%s", e->msg[0] ? e->msg : "bad request");
}

/* m packed into a new Any of type url; NULL when out of memory. */
static Google__Protobuf__Any *pack_any(const ProtobufCMessage *m, const char *url)
{
	Google__Protobuf__Any *a = malloc(sizeof *a);
	if (!a)
		return NULL;
	google__protobuf__any__init(a);
	size_t n = protobuf_c_message_get_packed_size(m);
	a->type_url = strdup(url);
	a->value.data = malloc(n ? n : 1);
	if (!a->type_url || !a->value.data) {
		wire_message_free(&a->base);
		return NULL;
	}
	a->value.len = protobuf_c_message_pack(m, a->value.data);
	return a;
}

Google__Rpc__Status *srv_status_to_pb(const srv_status *st)
{
	Google__Rpc__Status *s = malloc(sizeof *s);
	if (!s)
		return NULL;
	google__rpc__status__init(s);
	s->code = st->code;
	s->message = strdup(st->msg);
	s->details = calloc(3, sizeof *s->details);
	if (!s->message || !s->details)
		goto fail;
	if (st->reason) {
		Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
		Google__Rpc__ErrorInfo__MetadataEntry md[SRV_STATUS_MD], *mdp[SRV_STATUS_MD];
		info.reason = (char *)st->reason;
		info.domain = (char *)DOMAIN;
		for (size_t i = 0; i < SRV_STATUS_MD && st->md_key[i]; i++) {
			google__rpc__error_info__metadata_entry__init(&md[i]);
			md[i].key = (char *)st->md_key[i];
			md[i].value = (char *)st->md_val[i];
			mdp[info.n_metadata++] = &md[i];
		}
		info.metadata = info.n_metadata ? mdp : NULL;
		if (!(s->details[s->n_details++] = pack_any(&info.base, "type.googleapis.com/google.rpc.ErrorInfo")))
			goto fail;
	}
	if (st->retry_ms > 0) {
		Google__Rpc__RetryInfo ri = GOOGLE__RPC__RETRY_INFO__INIT;
		Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
		d.seconds = st->retry_ms / 1000;
		d.nanos = (st->retry_ms % 1000) * 1000000;
		ri.retry_delay = &d;
		if (!(s->details[s->n_details++] = pack_any(&ri.base, "type.googleapis.com/google.rpc.RetryInfo")))
			goto fail;
	}
	if (st->field[0]) {
		Google__Rpc__BadRequest br = GOOGLE__RPC__BAD_REQUEST__INIT;
		Google__Rpc__BadRequest__FieldViolation fv = GOOGLE__RPC__BAD_REQUEST__FIELD_VIOLATION__INIT, *fvp = &fv;
		fv.field = (char *)st->field;
		fv.description = (char *)st->msg;
		br.field_violations = &fvp;
		br.n_field_violations = 1;
		if (!(s->details[s->n_details++] = pack_any(&br.base, "type.googleapis.com/google.rpc.BadRequest")))
			goto fail;
	}
	if (!s->n_details) {
		free(s->details);
		s->details = NULL;
	}
	return s;
fail:
	if (s->n_details && !s->details[s->n_details - 1])
		s->n_details--;
	wire_message_free(&s->base);
	return NULL;
}

int srv_rpc_unimplemented(const char *rpc, srv_status *st)
{
	return srv_fail(st, SRV_E_NOT_IMPLEMENTED, NULL, "%s is not implemented by sbxd", rpc);
}

void srv_call_init(srv_call *c, uint32_t peer, srv_waiter *w)
{
	memset(c, 0, sizeof *c);
	c->peer = peer;
	c->w = w;
}
