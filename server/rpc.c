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
#include "oci.h"
#include "parse.h"
#include "routes.h"
#include "spec.h"

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
	{SRV_E_OUTPUT_LOST, 15, NULL, 0},  /* Exec is a real call: no reason of ours */
	{SRV_E_SNAPSHOT_NOT_FOUND, 5, "CWSANDBOX_FSS_NOT_FOUND", 0},
	{SRV_E_SNAPSHOT_NOT_READY, 9, "CWSANDBOX_FSS_NOT_READY", 0},
	{SRV_E_VOLUME_NOT_SNAPSHOTTABLE, 3, "CWSANDBOX_VOLUME_NOT_SNAPSHOTTABLE", 0},
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

int srv_fail_refusal(srv_status *st, const srv_refusal *w)
{
	srv_fail(st, w->kind, w->field, "%s", w->msg);
	if (w->retry_ms > 0)
		st->retry_ms = w->retry_ms;
	srv_status_md(st, "state", w->state);
	return SRV_RPC_FAIL;
}

static int no_sandbox(srv_status *st, const char *id)
{
	srv_fail(st, SRV_E_SANDBOX_NOT_FOUND, NULL, "sandbox %s not found", id);
	srv_status_md(st, "sandboxId", id);
	return SRV_RPC_FAIL;
}

/* The sandbox of an id as the caller may see it (another user's is as
 * absent as one that never was). */
static srv_sbx *find(const srv_call *c, const char *id)
{
	return id && *id ? srv_find_for(id, c->peer) : NULL;
}

#define NEW(T, init) ({ T *n_ = malloc(sizeof *n_); if (n_) init(n_); n_; })

/* ----------------------------------------------------- the real calls */

int srv_rpc_create(srv_call *c, const Coreweave__Sandbox__V1__CreateSandboxRequest *req,
                   Coreweave__Sandbox__V1__Sandbox **resp, srv_status *st)
{
	srv_spec spec;
	srv_perr pe;
	srv_refusal why;
	if (!req->sandbox)
		return srv_fail(st, SRV_E_INVALID, "spec", "the body must be a Sandbox with a spec");
	int rc = srv_spec_from_pb(req->sandbox, &spec, &pe);
	if (rc == SRV_PARSE_UNSUPPORTED)
		return srv_fail(st, SRV_E_UNSUPPORTED, pe.field, "%s", pe.msg);
	if (rc)
		return srv_fail_perr(st, &pe);
	if (req->request_id && *req->request_id) {
		if (strlen(req->request_id) > 128 || !srv_utf8_valid(req->request_id, strlen(req->request_id))) {
			srv_spec_free(&spec);
			return srv_fail(st, SRV_E_INVALID, "requestId", "requestId: at most 128 bytes");
		}
		if (!(spec.request_id = strdup(req->request_id))) {
			srv_spec_free(&spec);
			return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
		}
	}
	if (srv_rpc_check_restores(c, &spec, st)) {
		srv_spec_free(&spec);
		return SRV_RPC_FAIL;
	}
	srv_sbx *s = srv_create(&spec, c->peer, &why);
	srv_spec_free(&spec);
	if (!s)
		return srv_fail_refusal(st, &why);
	if (!(*resp = srv_sbx_to_pb(s)))
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	return SRV_RPC_OK;
}

int srv_rpc_get(srv_call *c, const Coreweave__Sandbox__V1__GetSandboxRequest *req,
                Coreweave__Sandbox__V1__Sandbox **resp, srv_status *st)
{
	srv_sbx *s = find(c, req->sandbox_id);
	if (!s)
		return no_sandbox(st, req->sandbox_id);
	if (!(*resp = srv_sbx_to_pb(s)))
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	return SRV_RPC_OK;
}

static int has_tag(const srv_sbx *s, const char *tag)
{
	for (size_t i = 0; i < s->spec.tags.n; i++)
		if (strcmp(s->spec.tags.v[i], tag) == 0)
			return 1;
	return 0;
}

static int has_tags(const srv_sbx *s, char *const *tags, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!has_tag(s, tags[i]))
			return 0;
	return 1;
}

/* What a filter by these tags can match, in seq order: the sandboxes with
 * the first tag (the tag index), or all of them when no tag is given. */
static srv_sbx **candidates(char *const *tags, size_t ntags, size_t *n)
{
	return ntags ? srv_tagged(tags[0], n) : srv_all(n);
}

int srv_rpc_list(srv_call *c, const Coreweave__Sandbox__V1__ListSandboxesRequest *req,
                 Coreweave__Sandbox__V1__ListSandboxesResponse **resp, srv_status *st)
{
	int64_t size = req->page_size, after = 0;
	if (size < 0)
		return srv_fail(st, SRV_E_INVALID, "pageSize", "pageSize must be 0..1000 (0: 100)");
	if (size == 0)
		size = 100;
	if (size > 1000)
		size = 1000;
	if (req->page_token && *req->page_token && srv_parse_int(req->page_token, 0, UINT32_MAX, &after) != 0)
		return srv_fail(st, SRV_E_INVALID, "pageToken", "pageToken: not one of sbxd's page tokens");
	if (req->n_runner_ids)
		return srv_fail(st, SRV_E_UNSUPPORTED, "runnerIds", "runnerIds: sbxd has no runners to filter by");
	if (req->n_volume_ids)
		return srv_fail(st, SRV_E_UNSUPPORTED, "volumeIds", "volumeIds: sbxd has no volumes to filter by");
	int want_state = -1;
	if (req->state != COREWEAVE__SANDBOX__V1__STATE__STATE_UNSPECIFIED &&
	    (want_state = srv_state_from_pb(req->state)) < 0)
		return srv_fail(st, SRV_E_INVALID, "state", "unknown state");
	Coreweave__Sandbox__V1__ListSandboxesResponse *o =
		NEW(Coreweave__Sandbox__V1__ListSandboxesResponse, coreweave__sandbox__v1__list_sandboxes_response__init);
	size_t n;
	srv_sbx **all = candidates(req->tags, req->n_tags, &n);
	if (!o || !(o->sandboxes = calloc((size_t)size + 1, sizeof *o->sandboxes)))
		goto oom;
	uint32_t last = 0;
	int more = 0;
	for (size_t i = srv_seq_after(all, n, (uint32_t)after); i < n; i++) {
		srv_sbx *s = all[i];
		if (c->peer && s->owner != c->peer)
			continue;
		if (want_state >= 0 ? s->state != want_state : (!req->show_terminated && srv_state_terminal(s->state)))
			continue;
		if (!has_tags(s, req->tags, req->n_tags))
			continue;
		if (o->n_sandboxes == (size_t)size) {
			more = 1;
			break;
		}
		if (!(o->sandboxes[o->n_sandboxes] = srv_sbx_to_pb(s)))
			goto oom;
		o->n_sandboxes++;
		last = s->seq;
	}
	if (!o->n_sandboxes) {
		free(o->sandboxes);
		o->sandboxes = NULL;
	}
	if (more) {
		char tok[16];
		snprintf(tok, sizeof tok, "%u", last);
		if (!(o->next_page_token = strdup(tok)))
			goto oom;
	}
	*resp = o;
	return SRV_RPC_OK;
oom:
	wire_message_free(o ? &o->base : NULL);
	return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
}

/* A grace period in seconds, 0..300. */
static int grace_ok(int32_t g, srv_status *st)
{
	if (g < 0 || g > 300)
		return srv_fail(st, SRV_E_INVALID, "gracePeriodSeconds", "gracePeriodSeconds must be 0..300");
	return 0;
}

static Coreweave__Sandbox__V1__DeleteSandboxResponse *delete_answer(const srv_sbx *s)
{
	Coreweave__Sandbox__V1__DeleteSandboxResponse *o = NEW(Coreweave__Sandbox__V1__DeleteSandboxResponse,
							       coreweave__sandbox__v1__delete_sandbox_response__init);
	if (o && s && !(o->sandbox = srv_sbx_to_pb(s))) {
		wire_message_free(&o->base);
		return NULL;
	}
	return o;
}

int srv_rpc_delete(srv_call *c, const Coreweave__Sandbox__V1__DeleteSandboxRequest *req,
                   Coreweave__Sandbox__V1__DeleteSandboxResponse **resp, srv_status *st)
{
	if (grace_ok(req->grace_period_seconds, st))
		return SRV_RPC_FAIL;
	if (req->n_snapshot_volumes && req->allow_missing)
		return srv_fail(st, SRV_E_INVALID, "allowMissing", "allowMissing cannot be used with snapshotVolumes");
	srv_sbx *s = find(c, req->sandbox_id);
	if (!s && !req->allow_missing)
		return no_sandbox(st, req->sandbox_id);
	/* snapshotVolumes: queued before the stop (all names checked first),
	 * each taken once the sandbox has stopped (rpc_snap.c). */
	Coreweave__Sandbox__V1__DeleteSandboxResponse *o = NULL;
	if (s && req->n_snapshot_volumes) {
		o = delete_answer(NULL);
		if (!o)
			return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
		if (srv_rpc_snapshot_volumes(c, s, req->snapshot_volumes, req->n_snapshot_volumes, req->request_id, o,
		                             st)) {
			/* those already queued stay: their ids were made */
			wire_message_free(&o->base);
			return SRV_RPC_FAIL;
		}
	}
	/* The public API's stop: the record and its files stay (read only)
	 * until :forget or the retention removes them. */
	if (s)
		srv_stop(s, req->grace_period_seconds, "deleted");
	if (o) {
		if (!(o->sandbox = srv_sbx_to_pb(s))) {
			wire_message_free(&o->base);
			return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
		}
		*resp = o;
		return SRV_RPC_OK;
	}
	if (!(*resp = delete_answer(s)))
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	return SRV_RPC_OK;
}

int srv_rpc_purge(srv_call *c, const Coreweave__Sandbox__V1__PurgeSandboxesRequest *req,
                  Coreweave__Sandbox__V1__PurgeSandboxesResponse **resp, srv_status *st)
{
	if (req->request_id && *req->request_id)
		return srv_fail(st, SRV_E_UNSUPPORTED, "requestId", "requestId is not supported on PurgeSandboxes");
	if (!req->n_tags && !req->purge_all)
		return srv_fail(st, SRV_E_INVALID, "tags", "give tags to match, or purgeAll");
	Coreweave__Sandbox__V1__PurgeSandboxesResponse *o = NEW(Coreweave__Sandbox__V1__PurgeSandboxesResponse,
							       coreweave__sandbox__v1__purge_sandboxes_response__init);
	if (!o)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	size_t n;
	srv_sbx **all = candidates(req->purge_all ? NULL : req->tags, req->purge_all ? 0 : req->n_tags, &n);
	for (size_t i = 0; i < n; i++) {
		srv_sbx *s = all[i];
		if ((c->peer && s->owner != c->peer) || srv_state_terminal(s->state) || s->state == ST_TERMINATING)
			continue;
		if (!req->purge_all && !has_tags(s, req->tags, req->n_tags))
			continue;
		o->purge_count++;
		if (!req->dry_run)
			srv_stop(s, 0, "purged");
	}
	*resp = o;
	return SRV_RPC_OK;
}

/* ----------------------------------------------------- the extension */

/* Registers c's waiter on s until c's deadline. */
static int park(srv_call *c, const srv_sbx *s)
{
	c->w->seq = s->seq;
	c->w->deadline = c->deadline;
	srv_waiter_add(c->w);
	return SRV_RPC_WAIT;
}

int srv_rpc_wait(srv_call *c, const Sbxd__Ext__V1__WaitRequest *req, Coreweave__Sandbox__V1__Sandbox **resp,
                 srv_status *st)
{
	if (!c->deadline_set) {
		if (req->wait_seconds < 0)
			return srv_fail(st, SRV_E_INVALID, "waitSeconds", "waitSeconds must be 0..%d", SRV_MAX_WAIT);
		int64_t ws = req->wait_seconds > SRV_MAX_WAIT ? SRV_MAX_WAIT : req->wait_seconds;
		c->deadline = ws ? srv_mono_ns() + ws * 1000000000 : 0;
		c->deadline_set = 1;
	}
	srv_sbx *s = find(c, req->sandbox_id);
	if (!s)
		return no_sandbox(st, req->sandbox_id);
	if (!srv_state_terminal(s->state) && c->deadline && srv_mono_ns() < c->deadline && !srv_core_stopping() &&
	    c->w)
		return park(c, s);
	if (!(*resp = srv_sbx_to_pb(s)))
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	return SRV_RPC_OK;
}

int srv_rpc_forget(srv_call *c, const Sbxd__Ext__V1__ForgetRequest *req,
                   Coreweave__Sandbox__V1__DeleteSandboxResponse **resp, srv_status *st)
{
	if (grace_ok(req->grace_period_seconds, st))
		return SRV_RPC_FAIL;
	srv_sbx *s = find(c, req->sandbox_id);
	if (!s)
		return no_sandbox(st, req->sandbox_id);
	/* For good: its files too (dropped before the stop, so nothing is
	 * kept even while the stop waits for a grace). The answer shows the
	 * sandbox as the stop left it; then the record goes (at once when
	 * terminal already). */
	srv_drop_files(s);
	srv_stop(s, req->grace_period_seconds, "deleted");
	*resp = delete_answer(s);
	srv_stop_purge(s, req->grace_period_seconds, "deleted");
	if (!*resp)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
	return SRV_RPC_OK;
}

int srv_rpc_extensions(Sbxd__Ext__V1__GetExtensionsResponse **resp, srv_status *st)
{
	/* The names of the extension's rows, once each, in table order, then
	 * "protobuf": its calls also speak the binary encoding (docs/api.md,
	 * "Encodings"), a property of the rows rather than a row. */
	Sbxd__Ext__V1__GetExtensionsResponse *o =
		NEW(Sbxd__Ext__V1__GetExtensionsResponse, sbxd__ext__v1__get_extensions_response__init);
	if (!o || !(o->server = strdup("sbxd/" SBXD_VERSION)) ||
	    !(o->extensions = calloc(wire_n_ext_routes + 1, sizeof(char *))))
		goto oom;
	for (size_t i = 0; i < wire_n_ext_routes; i++) {
		const char *name = wire_ext_routes[i].ext;
		int dup = !name || strcmp(name, "discovery") == 0;
		for (size_t k = 0; !dup && k < o->n_extensions; k++)
			dup = strcmp(o->extensions[k], name) == 0;
		if (dup)
			continue;
		if (!(o->extensions[o->n_extensions] = strdup(name)))
			goto oom;
		o->n_extensions++;
	}
	if (!(o->extensions[o->n_extensions] = strdup("protobuf")))
		goto oom;
	o->n_extensions++;
	*resp = o;
	return SRV_RPC_OK;
oom:
	wire_message_free(o ? &o->base : NULL);
	return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
}

/* An OCI config's "created" as a Timestamp; NULL when it has none or
 * one outside what a Timestamp holds (years 1..9999). */
static Google__Protobuf__Timestamp *image_time(const char *created, int *oom)
{
	int64_t secs;
	int32_t nanos;
	if (!created || !*created || srv_parse_timestamp(created, &secs, &nanos) != 0 || secs < -62135596800LL ||
	    secs > 253402300799LL)
		return NULL;
	Google__Protobuf__Timestamp *t = NEW(Google__Protobuf__Timestamp, google__protobuf__timestamp__init);
	if (!t) {
		*oom = 1;
		return NULL;
	}
	t->seconds = secs;
	t->nanos = nanos;
	return t;
}

/* A string of the store's files for an answer: the codec refuses to
 * encode one that is not UTF-8, which would fail the whole listing. */
static const char *utf8_or_empty(const char *v)
{
	return v && srv_utf8_valid(v, strlen(v)) ? v : "";
}

/* One image of the store as the extension's Image. */
static Sbxd__Ext__V1__Image *image_to_pb(const srv_oci_entry *e)
{
	Sbxd__Ext__V1__Image *o = NEW(Sbxd__Ext__V1__Image, sbxd__ext__v1__image__init);
	int oom = 0;
	if (!o || !(o->digest = strdup(utf8_or_empty(e->digest))) ||
	    !(o->config_digest = strdup(utf8_or_empty(e->config_digest))) ||
	    (e->refs.n && !(o->references = calloc(e->refs.n, sizeof(char *)))))
		goto fail;
	for (size_t i = 0; i < e->refs.n; i++) {
		if (!*utf8_or_empty(e->refs.v[i]))
			continue;
		if (!(o->references[o->n_references] = strdup(e->refs.v[i])))
			goto fail;
		o->n_references++;
	}
	o->layers = e->layers;
	o->size_bytes = e->size_bytes;
	o->created = image_time(e->created, &oom);
	if (oom)
		goto fail;
	return o;
fail:
	wire_message_free(o ? &o->base : NULL);
	return NULL;
}

int srv_rpc_list_images(Sbxd__Ext__V1__ListImagesResponse **resp, srv_status *st)
{
	char err[SRV_MSGLEN] = "";
	srv_oci_listing l;
	if (srv_core_images(&l, err) != 0)
		return srv_fail(st, SRV_E_INTERNAL, NULL, "%s", err);
	Sbxd__Ext__V1__ListImagesResponse *o =
		NEW(Sbxd__Ext__V1__ListImagesResponse, sbxd__ext__v1__list_images_response__init);
	if (!o || (l.n && !(o->images = calloc(l.n, sizeof *o->images))))
		goto oom;
	for (; o->n_images < l.n; o->n_images++)
		if (!(o->images[o->n_images] = image_to_pb(&l.v[o->n_images])))
			goto oom;
	srv_oci_listing_free(&l);
	*resp = o;
	return SRV_RPC_OK;
oom:
	srv_oci_listing_free(&l);
	wire_message_free(o ? &o->base : NULL);
	return srv_fail(st, SRV_E_INTERNAL, NULL, "out of memory");
}
