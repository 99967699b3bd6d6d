/*
 * The mapping tables of libsbx's errors (see error.h and sbx.h): gRPC codes,
 * HTTP statuses and curl codes to sbx_result, the google.rpc.Status parser,
 * and the one function that turns an sbx_error into errno.
 */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "error_details.pb-c.h"
#include "pb.h"
#include "status.pb-c.h"
#include "util.h"

/* The biggest error body libsbx reads: a Status is a few hundred bytes;
 * a bigger one is not worth decoding. */
#define SBX_STATUS_MAX ((size_t)1 << 20)

const char *sbx_result_str(sbx_result r)
{
	switch (r) {
	case SBX_OK: return "ok";
	case SBX_E_INVALID: return "invalid argument";
	case SBX_E_NOT_FOUND: return "not found";
	case SBX_E_EXISTS: return "already exists";
	case SBX_E_PERMISSION: return "permission denied";
	case SBX_E_UNAUTHENTICATED: return "unauthenticated";
	case SBX_E_EXHAUSTED: return "resource exhausted";
	case SBX_E_PRECONDITION: return "failed precondition";
	case SBX_E_UNSUPPORTED: return "not supported by the service";
	case SBX_E_UNAVAILABLE: return "service unavailable";
	case SBX_E_TIMEOUT: return "deadline exceeded";
	case SBX_E_CONNREFUSED: return "connection refused";
	case SBX_E_RESOLVE: return "could not resolve host";
	case SBX_E_TLS: return "TLS failure";
	case SBX_E_NETWORK: return "network error";
	case SBX_E_PROTOCOL: return "malformed answer";
	case SBX_E_TOO_LARGE: return "answer too large";
	case SBX_E_CANCELLED: return "cancelled";
	case SBX_E_NOMEM: return "out of memory";
	case SBX_E_INTERNAL: return "internal error";
	case SBX_E_NOFILE: return "too many open files";
	}
	return "unknown error";
}

/* A "nextProcessId" value: 1 .. 2^53 in decimal, else 0 (absent). */
static int64_t next_id(const char *v)
{
	int64_t n = 0;
	if (!*v || strlen(v) > 16)
		return 0;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return 0;
		n = n * 10 + (*v - '0');
	}
	return n >= 1 && n <= ((int64_t)1 << 53) ? n : 0;
}

/* An errno by its name ("EXDEV"), as sbxd's file calls send it; 0 when
 * the name is unknown here. */
static int errno_by_name(const char *name)
{
	for (int e = 1; e < 200 && name && *name; e++) {
		const char *n = strerrorname_np(e);
		if (n && strcmp(n, name) == 0)
			return e;
	}
	return 0;
}

int sbx_error_errno(const sbx_error *err)
{
	if (!err)
		return EIO;
	/* What the sandbox's kernel said wins over the status's rough class. */
	if (err->code != SBX_OK && err->sys_errno > 0)
		return err->sys_errno;
	switch (err->code) {
	case SBX_OK: return 0;
	case SBX_E_INVALID:
		/* reason is set only from the service's own domain */
		if (strcmp(err->reason, "CWSANDBOX_NAME_TOO_LONG") == 0)
			return ENAMETOOLONG;
		if (strcmp(err->reason, "CWSANDBOX_FILE_TOO_LARGE") == 0)
			return EFBIG;
		if (strcmp(err->reason, "CWSANDBOX_FILE_IS_DIRECTORY") == 0)
			return EISDIR;
		return EINVAL;
	case SBX_E_NOT_FOUND: return ENOENT;
	case SBX_E_EXISTS: return EEXIST;
	case SBX_E_PERMISSION: return EACCES;
	case SBX_E_UNAUTHENTICATED: return EACCES;   /* wire.md section 6 */
	case SBX_E_EXHAUSTED: return EAGAIN;
	case SBX_E_PRECONDITION:
		if (strcmp(err->reason, "CWSANDBOX_PROCESS_EXITED") == 0)
			return ESRCH;
		if (strcmp(err->reason, "CWSANDBOX_DIRECTORY_NOT_EMPTY") == 0)
			return ENOTEMPTY;
		if (strcmp(err->reason, "CWSANDBOX_STDIN_CLOSED") == 0)
			return EPIPE;
		if (strcmp(err->reason, "CWSANDBOX_FILE_IS_DIRECTORY") == 0)
			return EISDIR;
		if (strcmp(err->reason, "CWSANDBOX_FILE_TOO_LARGE") == 0)
			return EFBIG;
		/* Sandbox not running, stdin not enabled, ...: the request does
		 * not fit the object's state. */
		return EINVAL;
	case SBX_E_UNSUPPORTED: return ENOTSUP;
	case SBX_E_UNAVAILABLE: return EHOSTDOWN;
	case SBX_E_TIMEOUT: return ETIMEDOUT;
	case SBX_E_CONNREFUSED: return ECONNREFUSED;
	case SBX_E_RESOLVE: return EHOSTDOWN;
	case SBX_E_TLS: return EIO;
	case SBX_E_NETWORK: return EIO;
	case SBX_E_PROTOCOL: return EIO;
	case SBX_E_TOO_LARGE: return EFBIG;
	case SBX_E_CANCELLED: return EINTR;
	case SBX_E_NOMEM: return ENOMEM;
	case SBX_E_INTERNAL: return EIO;
	case SBX_E_NOFILE: return EMFILE;   /* sys_errno says ENFILE when it is the system's table */
	}
	return EIO;
}

sbx_result sbx_error_from_grpc(int code)
{
	switch (code) {
	case 0: return SBX_OK;
	case 1: return SBX_E_CANCELLED;
	case 2: return SBX_E_INTERNAL;          /* UNKNOWN */
	case 3: return SBX_E_INVALID;
	case 4: return SBX_E_TIMEOUT;
	case 5: return SBX_E_NOT_FOUND;
	case 6: return SBX_E_EXISTS;
	case 7: return SBX_E_PERMISSION;
	case 8: return SBX_E_EXHAUSTED;
	case 9: return SBX_E_PRECONDITION;
	case 10: return SBX_E_PRECONDITION;     /* ABORTED */
	case 11: return SBX_E_INVALID;          /* OUT_OF_RANGE */
	case 12: return SBX_E_UNSUPPORTED;
	case 13: return SBX_E_INTERNAL;
	case 14: return SBX_E_UNAVAILABLE;
	case 15: return SBX_E_INTERNAL;         /* DATA_LOSS */
	case 16: return SBX_E_UNAUTHENTICATED;
	}
	return SBX_E_INTERNAL;
}

sbx_result sbx_error_from_http(long status)
{
	if (status >= 200 && status < 300)
		return SBX_OK;
	switch (status) {
	case 400: return SBX_E_INVALID;
	case 401: return SBX_E_UNAUTHENTICATED;
	case 403: return SBX_E_PERMISSION;
	case 404: return SBX_E_NOT_FOUND;
	case 405: return SBX_E_UNSUPPORTED;
	case 408: return SBX_E_TIMEOUT;
	case 409: return SBX_E_EXISTS;
	case 412: return SBX_E_PRECONDITION;
	case 413: return SBX_E_EXHAUSTED;
	case 429: return SBX_E_EXHAUSTED;
	case 499: return SBX_E_CANCELLED;
	case 501: return SBX_E_UNSUPPORTED;
	case 502: return SBX_E_UNAVAILABLE;
	case 503: return SBX_E_UNAVAILABLE;
	case 504: return SBX_E_TIMEOUT;
	}
	if (status >= 500)
		return SBX_E_INTERNAL;
	if (status >= 400)
		return SBX_E_INVALID;
	return SBX_E_PROTOCOL;   /* 1xx/3xx: nothing we asked for */
}

sbx_result sbx_error_from_curl(int curlcode)
{
	switch ((CURLcode)curlcode) {
	case CURLE_OK: return SBX_OK;
	case CURLE_COULDNT_CONNECT: return SBX_E_CONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return SBX_E_RESOLVE;
	case CURLE_OPERATION_TIMEDOUT: return SBX_E_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED: return SBX_E_TLS;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR: return SBX_E_NETWORK;
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_BAD_CONTENT_ENCODING: return SBX_E_PROTOCOL;
	case CURLE_OUT_OF_MEMORY: return SBX_E_NOMEM;
	case CURLE_ABORTED_BY_CALLBACK: return SBX_E_CANCELLED;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL: return SBX_E_INVALID;
	default: return SBX_E_NETWORK;
	}
}

long sbx_parse_duration_ms(const char *s)
{
	if (!s || !*s)
		return -1;
	long secs = 0, frac = 0, scale = 1000;
	const char *p = s;
	int nd = 0;
	while (*p >= '0' && *p <= '9') {
		if (secs > 100000000L)
			return -1;
		secs = secs * 10 + (*p++ - '0');
		nd++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
			p++;
			nd++;
		}
	}
	if (nd == 0 || strcmp(p, "s") != 0)
		return -1;
	return secs * 1000 + frac;
}

static void copy_field(char *dst, size_t cap, const char *src)
{
	if (!src)
		return;
	size_t n = strlen(src);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The one domain whose reasons libsbx reads (wire.md section 6): a reason
 * from anyone else (a proxy, a gateway) may mean anything. */
#define SBX_DOMAIN "cwsandbox.com"

/* An Any of the Status's details, unpacked when it is of type d. */
static ProtobufCMessage *any_as(const Google__Protobuf__Any *a, const ProtobufCMessageDescriptor *d)
{
	if (!a || !a->type_url || wire_any_type(a->type_url) != d)
		return NULL;
	return protobuf_c_message_unpack(d, NULL, a->value.len, a->value.data);
}

/* msg, then " (FIELD: DESCRIPTION)" of a BadRequest's first violation,
 * so the user sees which field the service refused. */
static void message_with_field(sbx_error *err, const char *msg, const Google__Rpc__BadRequest *br)
{
	copy_field(err->message, sizeof err->message, msg);
	if (!br || !br->n_field_violations || !br->field_violations[0])
		return;
	const Google__Rpc__BadRequest__FieldViolation *v = br->field_violations[0];
	if (!v->field || !v->field[0])
		return;
	size_t n = strlen(err->message);
	/* The service's message often names the field already. */
	if (strstr(err->message, v->field))
		return;
	snprintf(err->message + n, sizeof err->message - n, "%s(field %s%s%s)", n ? " " : "", v->field,
	         v->description && v->description[0] ? ": " : "", v->description ? v->description : "");
}

sbx_result sbx_error_from_response(long http_status, const char *body, size_t len, sbx_error *err)
{
	sbx_error tmp;
	if (!err)
		err = &tmp;
	sbx_error_clear(err);
	err->http_status = http_status;
	sbx_result r = sbx_error_from_http(http_status);
	if (r == SBX_OK)
		r = SBX_E_PROTOCOL;
	ProtobufCMessage *m = NULL;
	wire_err we;
	/* A proxy's HTML page or a truncated body is simply not a Status:
	 * the HTTP status then tells what happened. */
	if (body && len && len <= SBX_STATUS_MAX &&
	    wire_json_decode(&google__rpc__status__descriptor, body, len, &sbx_pb_answer_caps, &m, &we) == 0) {
		const Google__Rpc__Status *st = (const Google__Rpc__Status *)m;
		if (st->code > 0 && st->code <= 16) {
			/* The code first (an UNIMPLEMENTED behind a 404 is a missing
			 * call, not a missing sandbox), the reason second. */
			err->grpc_code = st->code;
			r = sbx_error_from_grpc(st->code);
			const Google__Rpc__BadRequest *br = NULL;
			ProtobufCMessage *brm = NULL;
			for (size_t i = 0; i < st->n_details; i++) {
				const Google__Protobuf__Any *a = st->details[i];
				ProtobufCMessage *x;
				if ((x = any_as(a, &google__rpc__error_info__descriptor))) {
					const Google__Rpc__ErrorInfo *ei = (const Google__Rpc__ErrorInfo *)x;
					copy_field(err->domain, sizeof err->domain, ei->domain);
					if (ei->domain && strcmp(ei->domain, SBX_DOMAIN) == 0) {
						copy_field(err->reason, sizeof err->reason, ei->reason);
						for (size_t k = 0; k < ei->n_metadata; k++)
							if (ei->metadata[k]->key && strcmp(ei->metadata[k]->key, "errno") == 0)
								err->sys_errno = errno_by_name(ei->metadata[k]->value);
							else if (ei->metadata[k]->key && ei->metadata[k]->value &&
								 strcmp(ei->metadata[k]->key, "nextProcessId") == 0)
								err->next_process_id = next_id(ei->metadata[k]->value);
					}
					protobuf_c_message_free_unpacked(x, NULL);
				} else if ((x = any_as(a, &google__rpc__retry_info__descriptor))) {
					const Google__Rpc__RetryInfo *ri = (const Google__Rpc__RetryInfo *)x;
					const Google__Protobuf__Duration *d = ri->retry_delay;
					if (d && d->seconds >= 0 && d->seconds < 100000000 && d->nanos >= 0)
						err->retry_delay_ms = (long)(d->seconds * 1000 + d->nanos / 1000000);
					protobuf_c_message_free_unpacked(x, NULL);
				} else if (!brm && (x = any_as(a, &google__rpc__bad_request__descriptor))) {
					brm = x;
					br = (const Google__Rpc__BadRequest *)x;
				}
			}
			message_with_field(err, st->message, br);
			if (brm)
				protobuf_c_message_free_unpacked(brm, NULL);
		}
	}
	wire_message_free(m);
	if (r == SBX_OK)
		r = SBX_E_INTERNAL;
	err->code = r;
	if (!err->message[0])
		snprintf(err->message, sizeof err->message, "HTTP %ld: %s", http_status, sbx_result_str(r));
	return r;
}
