/*
 * The public-only test service (see pubsrv.h): libmicrohttpd with a thread
 * per connection, so a slow :exec does not hold up other requests.
 */
#include "pubsrv.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#define MAX_BODY (1 << 20)
#define MAX_BOXES 64

struct pub_srv {
	struct MHD_Daemon *d;
	int lfd;
	pthread_mutex_t mu;
	int nbox;
	char state[MAX_BOXES][32];
	int execs;
};

typedef struct body {
	char *data;
	size_t len;
} body;

static enum MHD_Result reply(struct MHD_Connection *con, unsigned status, const char *json)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result status(struct MHD_Connection *con, unsigned http, int code, const char *reason, const char *msg)
{
	char b[512];
	snprintf(b, sizeof b,
	         "{\"code\":%d,\"message\":\"%s\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
	         "\"reason\":\"%s\",\"domain\":\"cwsandbox.coreweave.com\"}]}",
	         code, msg, reason);
	return reply(con, http, b);
}

static void sandbox_json(pub_srv *s, int i, char *out, size_t n)
{
	snprintf(out, n, "{\"sandboxId\":\"pub-%d\",\"spec\":{},\"status\":{\"state\":\"%s\"},\"unknownField\":[1]}", i,
	         s->state[i]);
}

/* Runs argv, capturing stdout and stderr (each up to 64 KiB). */
static int run(char **argv, char *out, size_t *olen, char *err, size_t *elen)
{
	int po[2], pe[2];
	if (pipe(po) || pipe(pe))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	size_t o = 0, e = 0;
	ssize_t k;
	while ((k = read(po[0], out + o, 65536 - o)) > 0)
		o += (size_t)k;
	while ((k = read(pe[0], err + e, 65536 - e)) > 0)
		e += (size_t)k;
	close(po[0]);
	close(pe[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	*olen = o;
	*elen = e;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static enum MHD_Result do_exec(pub_srv *s, struct MHD_Connection *con, const body *b)
{
	cJSON *root = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(root, "command");
	int n = cJSON_GetArraySize(cmd);
	if (!root || n < 1 || n > 64) {
		cJSON_Delete(root);
		return status(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", "bad command");
	}
	char *argv[65] = {0};
	int k = 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, cmd) argv[k++] = cJSON_IsString(a) ? a->valuestring : (char *)"";
	pthread_mutex_lock(&s->mu);
	s->execs++;
	pthread_mutex_unlock(&s->mu);
	static __thread char out[65536], err[65536];
	size_t ol = 0, el = 0;
	int code = run(argv, out, &ol, err, &el);
	cJSON_Delete(root);
	char *ob = malloc(4 * (ol / 3 + 1) + 1), *eb = malloc(4 * (el / 3 + 1) + 1);
	EVP_EncodeBlock((unsigned char *)ob, (unsigned char *)out, (int)ol);
	EVP_EncodeBlock((unsigned char *)eb, (unsigned char *)err, (int)el);
	size_t n2 = strlen(ob) + strlen(eb) + 200;
	char *resp = malloc(n2);
	/* proto3: exitCode 0 is left out, byte counts are strings */
	if (code)
		snprintf(resp, n2, "{\"exitCode\":%d,\"stdout\":\"%s\",\"stderr\":\"%s\",\"stdoutBytes\":\"%zu\"}", code, ob, eb,
		         ol);
	else
		snprintf(resp, n2, "{\"stdout\":\"%s\",\"stderr\":\"%s\",\"stdoutBytes\":\"%zu\"}", ob, eb, ol);
	enum MHD_Result r = reply(con, 200, resp);
	free(ob);
	free(eb);
	free(resp);
	return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	pub_srv *s = cls;
	body *b = *ctx;
	if (!b) {
		b = calloc(1, sizeof *b);
		*ctx = b;
		return MHD_YES;
	}
	if (*upload_size) {
		if (b->len + *upload_size > MAX_BODY)
			return MHD_NO;
		char *p = realloc(b->data, b->len + *upload_size + 1);
		if (!p)
			return MHD_NO;
		memcpy(p + b->len, upload, *upload_size);
		b->data = p;
		b->len += *upload_size;
		p[b->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	char js[512];
	int id = -1;
	char rest[64] = "";
	if (strcmp(url, "/v1/sandboxes") == 0 && strcmp(method, "POST") == 0) {
		pthread_mutex_lock(&s->mu);
		if (s->nbox >= MAX_BOXES) {
			pthread_mutex_unlock(&s->mu);
			return status(con, 429, 8, "CWSANDBOX_LIMIT_EXCEEDED", "too many");
		}
		int i = s->nbox++;
		snprintf(s->state[i], sizeof s->state[i], "STATE_RUNNING");
		sandbox_json(s, i, js, sizeof js);
		pthread_mutex_unlock(&s->mu);
		return reply(con, 200, js);
	}
	if (sscanf(url, "/v1/sandboxes/pub-%d%63s", &id, rest) >= 1 && id >= 0) {
		pthread_mutex_lock(&s->mu);
		int known = id < s->nbox;
		int running = known && strcmp(s->state[id], "STATE_RUNNING") == 0;
		if (known && !rest[0] && strcmp(method, "DELETE") == 0) {
			snprintf(s->state[id], sizeof s->state[id], "STATE_TERMINATED");
			pthread_mutex_unlock(&s->mu);
			return reply(con, 200, "{\"sandbox\":{}}");
		}
		if (known && !rest[0] && strcmp(method, "GET") == 0) {
			sandbox_json(s, id, js, sizeof js);
			pthread_mutex_unlock(&s->mu);
			return reply(con, 200, js);
		}
		pthread_mutex_unlock(&s->mu);
		if (strcmp(rest, ":exec") == 0 && strcmp(method, "POST") == 0) {
			if (!known)
				return status(con, 404, 5, "CWSANDBOX_SANDBOX_NOT_FOUND", "no such sandbox");
			if (!running)
				return status(con, 400, 9, "CWSANDBOX_SANDBOX_NOT_RUNNING", "sandbox is not running");
			return do_exec(s, con, b);
		}
		if (!known && !rest[0])
			return status(con, 404, 5, "CWSANDBOX_SANDBOX_NOT_FOUND", "no such sandbox");
	}
	return status(con, 404, 12, "CWSANDBOX_UNIMPLEMENTED", "no such call");
}

static void completed(void *cls, struct MHD_Connection *con, void **ctx, enum MHD_RequestTerminationCode toe)
{
	body *b = *ctx;
	if (b) {
		free(b->data);
		free(b);
		*ctx = NULL;
	}
}

pub_srv *pub_start(const char *unix_path)
{
	pub_srv *s = calloc(1, sizeof *s);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (!s || strlen(unix_path) >= sizeof a.sun_path)
		goto fail;
	memcpy(a.sun_path, unix_path, strlen(unix_path) + 1);
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 128) != 0)
		goto fail;
	s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL,
	                        NULL, handler, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->lfd,
	                        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (!s->d)
		goto fail;
	return s;
fail:
	if (s && s->lfd > 0)
		close(s->lfd);
	free(s);
	return NULL;
}

pub_srv *pub_start_tls(const char *key_pem, const char *cert_pem, int *port)
{
	pub_srv *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 128) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
		goto fail;
	*port = ntohs(a.sin_port);
	s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
	                                MHD_USE_TLS,
	                        0, NULL, NULL, handler, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->lfd,
	                        MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
	                        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (!s->d)
		goto fail;
	return s;
fail:
	if (s->lfd > 0)
		close(s->lfd);
	free(s);
	return NULL;
}

void pub_stop(pub_srv *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	close(s->lfd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int pub_execs(pub_srv *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->execs;
	pthread_mutex_unlock(&s->mu);
	return n;
}
