/*
 * The HTTP core of libsbx: the client object (a pool of curl easy handles
 * sharing one connection cache, so calls reuse keep-alive connections), the
 * setup of one request on an easy handle (shared with the async loop), and
 * the blocking call with deadlines and retries.
 */
#ifndef SBX_HTTP_H
#define SBX_HTTP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "config.h"
#include "sbx/sbx.h"
#include "util.h"

/* The media type of the binary encoding of sbxd's extension calls
 * (docs/api.md, "Encodings"). */
#define SBX_PB_MEDIA "application/x-protobuf"

typedef struct sbx_fb_proc sbx_fb_proc;
typedef struct sbx_async_link sbx_async_link;

struct sbx_client {
	sbx_config *cfg;
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	struct curl_slist *hdr_none, *hdr_json, *hdr_octet, *hdr_pb, *hdr_pb_post;

	pthread_mutex_t pool_mu;
	CURL **pool;            /* idle handles, oldest first */
	int64_t *pool_ms;       /* when each was put back (sbx_now_ms) */
	size_t npool, pool_cap;

	pthread_mutex_t feat_mu;
	int feat_known;
	unsigned features;

	/* Fallback processes (proc.c), guarded by fb_mu; fb_cond is broadcast
	 * whenever one of them ends. */
	pthread_mutex_t fb_mu;
	pthread_cond_t fb_cond;
	sbx_fb_proc *fb_list;
	int closing;
	/* The gRPC channel for StreamExec (grpc.c), made on first use. */
	pthread_mutex_t grpc_mu;
	void *grpc_ch;
	/* Until then (sbx_now_ms) process starts skip gRPC: it was not
	 * reachable (proc.c). */
	int64_t grpc_down_until;
	/* Async loops to wake when a fallback process ends (async.c). */
	sbx_async_link *asyncs;
};

typedef struct sbx_http_req {
	const char *method;        /* GET POST DELETE */
	const char *path;          /* escaped, from "/v1..." with query */
	const void *body;
	size_t body_len;
	int octet;                 /* body is application/octet-stream */
	int pb;                    /* an extension call in the binary encoding: Accept
	                            * SBX_PB_MEDIA, a POST body in it (pb.c) */
	long wait_ms;              /* long-poll wait added to the total deadline */
	int safe;                  /* may be retried */
	void *out_buf;             /* raw 2xx body goes here (else into resp->body) */
	size_t out_cap;
	const int *abort_flag;     /* when it becomes non-zero, the transfer stops */
	int no_reuse;              /* close the connection afterwards (one-off calls) */
	long recv_buffer;          /* curl's receive buffer for big bodies, 0: curl's 16 KiB */
} sbx_http_req;

/* The receive buffer of a big output read: fewer, larger recv() calls (a
 * GiB in 16 KiB pieces is 65,000 of them plus their callbacks). Only reads
 * of at least this much get it, so the handles that park long-polls stay
 * small. */
#define SBX_RECV_BUFFER (512L * 1024)
long sbx_recv_buffer_for(size_t maxlen);

typedef struct sbx_http_resp {
	long status;
	sbx_buf body;
	size_t out_len;
	int out_overflow;
	int have_offset, have_size, have_eof;
	int64_t x_offset, x_size;
	int x_eof;
	int pb;                    /* Content-Type SBX_PB_MEDIA: the body is binary */
	CURL *easy;                /* for the write callback's status lookup */
	int sock_errno;            /* errno of a failed socket() (curl drops it) */
} sbx_http_resp;

void sbx_http_resp_init(sbx_http_resp *resp, size_t max);
void sbx_http_resp_free(sbx_http_resp *resp);

/* Sets every option of one request on e (fresh or reset). *url receives a
 * malloc'd URL that must outlive the transfer. start_ms is when the call
 * began: a retry gets only what is left of its deadline. */
sbx_result sbx_http_setup(sbx_client *c, CURL *e, const sbx_http_req *req, sbx_http_resp *resp, char **url,
                          int64_t start_ms, sbx_error *err);
/* After a transfer: curl code and status -> result; fills err. */
sbx_result sbx_http_finish(sbx_client *c, CURL *e, int curlcode, const sbx_http_req *req, sbx_http_resp *resp,
                           sbx_error *err);

/* A blocking call with retries. On SBX_OK, resp holds a 2xx answer. */
sbx_result sbx_http_call(sbx_client *c, const sbx_http_req *req, sbx_http_resp *resp, sbx_error *err);
/* A blocking call whose 2xx answer is JSON: *root receives it (caller
 * deletes). root may be NULL when the body does not matter. */
sbx_result sbx_http_json(sbx_client *c, const sbx_http_req *req, cJSON **root, sbx_error *err);

/* After try number attempt of a call begun at start_ms failed with r:
 * how long to wait before the next try, or -1 for no retry (not a safe
 * call, not a retryable failure, tries used up, or the wait would pass
 * the call's deadline). The blocking and the async calls share it. */
long sbx_http_retry_delay(const sbx_client *c, const sbx_http_req *req, int attempt, int64_t start_ms,
                          sbx_result r, const sbx_error *e);

/* The SBX_FEAT_ bits of the discovery names in names[0..n) (unknown
 * names are ignored: a newer sbxd may announce more). */
unsigned sbx_features_from_names(const char *const *names, size_t n);

/* Percent-escaped path building: "/v1/sandboxes/" + esc(id) + suffix. */
char *sbx_path_sandbox(const char *id, const char *suffix);

#endif
