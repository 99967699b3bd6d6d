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

#include "error_details.pb-c.h"
#include "json.h"
#include "routes.h"
#include "sandbox.pb-c.h"
#include "status.pb-c.h"

#define MAX_BODY (1 << 20)
#define MAX_BOXES 64
#define MAX_FILES 16

typedef struct pub_file {
	char path[256];
	uint8_t *data;
	size_t len;
} pub_file;

typedef struct pub_box {
	Coreweave__Sandbox__V1__CreateSandboxRequest *req;  /* as asked, kept */
	int state;                                          /* the schema's State */
	pub_file files[MAX_FILES];
	int nfiles;
} pub_box;

struct pub_srv {
	struct MHD_Daemon *d;
	int lfd;
	pthread_mutex_t mu;
	int nbox;
	pub_box box[MAX_BOXES];
	int execs;
};

/* Query parameters into a request message, the first failure kept. */
typedef struct query {
	ProtobufCMessage *m;
	int rc;
	wire_err err;
} query;

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

/* A google.rpc.Status as the managed service sends it, by the codec. */
static enum MHD_Result status(struct MHD_Connection *con, unsigned http, int code, const char *reason, const char *msg,
                              const char *field)
{
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	Google__Rpc__ErrorInfo ei = GOOGLE__RPC__ERROR_INFO__INIT;
	Google__Rpc__BadRequest br = GOOGLE__RPC__BAD_REQUEST__INIT;
	Google__Rpc__BadRequest__FieldViolation fv = GOOGLE__RPC__BAD_REQUEST__FIELD_VIOLATION__INIT;
	Google__Rpc__BadRequest__FieldViolation *fvp = &fv;
	Google__Protobuf__Any any[2] = {GOOGLE__PROTOBUF__ANY__INIT, GOOGLE__PROTOBUF__ANY__INIT};
	Google__Protobuf__Any *anys[2] = {&any[0], &any[1]};
	uint8_t b1[1024], b2[1024];
	st.code = code;
	st.message = (char *)msg;
	st.details = anys;
	if (reason) {
		ei.reason = (char *)reason;
		ei.domain = (char *)"cwsandbox.com";
		any[st.n_details].type_url = (char *)"type.googleapis.com/google.rpc.ErrorInfo";
		any[st.n_details].value.data = b1;
		any[st.n_details].value.len = protobuf_c_message_pack(&ei.base, b1);
		st.n_details++;
	}
	if (field) {
		fv.field = (char *)field;
		fv.description = (char *)msg;
		br.field_violations = &fvp;
		br.n_field_violations = 1;
		any[st.n_details].type_url = (char *)"type.googleapis.com/google.rpc.BadRequest";
		any[st.n_details].value.data = b2;
		any[st.n_details].value.len = protobuf_c_message_pack(&br.base, b2);
		st.n_details++;
	}
	char *t = NULL;
	size_t n;
	wire_err we;
	if (wire_json_encode(&st.base, NULL, &t, &n, &we) != 0)
		return MHD_NO;
	enum MHD_Result r = reply(con, http, t);
	free(t);
	return r;
}

static enum MHD_Result answer(struct MHD_Connection *con, const ProtobufCMessage *m)
{
	char *t = NULL;
	size_t n;
	wire_err we;
	if (wire_json_encode(m, NULL, &t, &n, &we) != 0)
		return status(con, 500, 13, NULL, "cannot encode the answer", NULL);
	enum MHD_Result r = reply(con, 200, t);
	free(t);
	return r;
}

/* The Sandbox of box i (borrowing its stored spec). */
static void sandbox_of(pub_srv *s, int i, Coreweave__Sandbox__V1__Sandbox *sb, Coreweave__Sandbox__V1__SandboxStatus *st,
                       char *id, size_t n)
{
	coreweave__sandbox__v1__sandbox__init(sb);
	coreweave__sandbox__v1__sandbox_status__init(st);
	snprintf(id, n, "pub-%d", i);
	sb->sandbox_id = id;
	sb->spec = s->box[i].req->sandbox->spec;
	sb->status = st;
	st->state = s->box[i].state;
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

static enum MHD_Result do_exec(pub_srv *s, struct MHD_Connection *con, const Coreweave__Sandbox__V1__ExecRequest *q)
{
	if (q->n_command < 1 || q->n_command > 64)
		return status(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", "bad command", "command");
	char *argv[65] = {0};
	for (size_t k = 0; k < q->n_command; k++)
		argv[k] = q->command[k];
	pthread_mutex_lock(&s->mu);
	s->execs++;
	pthread_mutex_unlock(&s->mu);
	static __thread char out[65536], err[65536];
	size_t ol = 0, el = 0;
	int code = run(argv, out, &ol, err, &el);
	Coreweave__Sandbox__V1__ExecResponse x = COREWEAVE__SANDBOX__V1__EXEC_RESPONSE__INIT;
	x.exit_code = code;
	x.stdout.data = (uint8_t *)out;
	x.stdout.len = ol;
	x.stderr.data = (uint8_t *)err;
	x.stderr.len = el;
	x.stdout_bytes_produced = (int64_t)ol;
	x.stderr_bytes_produced = (int64_t)el;
	return answer(con, &x.base);
}

/* The file of box i at path, NULL when none (mu held). */
static pub_file *file_of(pub_srv *s, int i, const char *path)
{
	for (int k = 0; k < s->box[i].nfiles; k++)
		if (strcmp(s->box[i].files[k].path, path) == 0)
			return &s->box[i].files[k];
	return NULL;
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	query *q = cls;
	if (!value)
		value = "";
	if (q->rc == 0)
		q->rc = wire_field_set_text(q->m, key, value, strlen(value), &q->err);
	return MHD_YES;
}

/* Is box i's spec what libsbx must send: one container "main" with an
 * image? */
static const char *spec_problem(const Coreweave__Sandbox__V1__CreateSandboxRequest *q)
{
	if (!q->sandbox || !q->sandbox->spec || q->sandbox->spec->n_containers != 1)
		return "spec.containers";
	const Coreweave__Sandbox__V1__Container *c = q->sandbox->spec->containers[0];
	if (strcmp(c->name, "main") != 0)
		return "spec.containers[0].name";
	if (!c->image[0])
		return "spec.containers[0].image";
	if (!q->request_id[0])
		return "requestId";
	return NULL;
}

static int box_of(pub_srv *s, const char *id)
{
	int i = -1;
	char extra;
	if (!id || sscanf(id, "pub-%d%c", &i, &extra) != 1 || i < 0 || i >= s->nbox)
		return -1;
	return i;
}

static enum MHD_Result route_call(pub_srv *s, struct MHD_Connection *con, const wire_route *r, ProtobufCMessage *m,
                                  int *keep)
{
	Coreweave__Sandbox__V1__Sandbox sb;
	Coreweave__Sandbox__V1__SandboxStatus st;
	char id[32];
	enum MHD_Result res;
	if (strcmp(r->rpc, "CreateSandbox") == 0) {
		Coreweave__Sandbox__V1__CreateSandboxRequest *q = (Coreweave__Sandbox__V1__CreateSandboxRequest *)m;
		const char *bad = spec_problem(q);
		if (bad)
			return status(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", "not what libsbx must send", bad);
		pthread_mutex_lock(&s->mu);
		if (s->nbox >= MAX_BOXES) {
			pthread_mutex_unlock(&s->mu);
			return status(con, 429, 8, "CWSANDBOX_RUNNER_CAPACITY_EXHAUSTED", "too many", NULL);
		}
		int i = s->nbox++;
		s->box[i].req = q;
		s->box[i].state = COREWEAVE__SANDBOX__V1__STATE__STATE_RUNNING;
		*keep = 1;
		sandbox_of(s, i, &sb, &st, id, sizeof id);
		res = answer(con, &sb.base);
		pthread_mutex_unlock(&s->mu);
		return res;
	}
	if (strcmp(r->rpc, "ListSandboxes") == 0) {
		const Coreweave__Sandbox__V1__ListSandboxesRequest *q = (const Coreweave__Sandbox__V1__ListSandboxesRequest *)m;
		Coreweave__Sandbox__V1__Sandbox *v = calloc(MAX_BOXES, sizeof *v);
		Coreweave__Sandbox__V1__SandboxStatus *vs = calloc(MAX_BOXES, sizeof *vs);
		char (*ids)[32] = calloc(MAX_BOXES, sizeof *ids);
		Coreweave__Sandbox__V1__Sandbox *vp[MAX_BOXES];
		Coreweave__Sandbox__V1__ListSandboxesResponse lr = COREWEAVE__SANDBOX__V1__LIST_SANDBOXES_RESPONSE__INIT;
		if (!v || !vs || !ids) {
			free(v);
			free(vs);
			free(ids);
			return MHD_NO;
		}
		pthread_mutex_lock(&s->mu);
		for (int i = 0; i < s->nbox; i++) {
			const Coreweave__Sandbox__V1__SandboxSpec *sp = s->box[i].req->sandbox->spec;
			int all = 1;
			/* every tag asked for (AND), as the service filters */
			for (size_t t = 0; t < q->n_tags && all; t++) {
				int has = 0;
				for (size_t k = 0; k < sp->n_tags; k++)
					has |= strcmp(sp->tags[k], q->tags[t]) == 0;
				all = has;
			}
			if (!all)
				continue;
			sandbox_of(s, i, &v[lr.n_sandboxes], &vs[lr.n_sandboxes], ids[lr.n_sandboxes], sizeof ids[0]);
			vp[lr.n_sandboxes] = &v[lr.n_sandboxes];
			lr.n_sandboxes++;
		}
		lr.sandboxes = vp;
		res = answer(con, &lr.base);
		pthread_mutex_unlock(&s->mu);
		free(v);
		free(vs);
		free(ids);
		return res;
	}
	/* the calls on one sandbox: its id is the path's variable */
	const ProtobufCFieldDescriptor *f =
		r->vars[0] ? protobuf_c_message_descriptor_get_field_by_name(m->descriptor, r->vars[0]) : NULL;
	if (!f || strcmp(r->vars[0], "sandbox_id") != 0)
		return status(con, 501, 12, "CWSANDBOX_NOT_IMPLEMENTED", "not in this fake", NULL);
	pthread_mutex_lock(&s->mu);
	int i = box_of(s, *(char **)((char *)m + f->offset));
	if (i < 0) {
		pthread_mutex_unlock(&s->mu);
		return status(con, 404, 5, "CWSANDBOX_SANDBOX_NOT_FOUND", "no such sandbox", NULL);
	}
	int running = s->box[i].state == COREWEAVE__SANDBOX__V1__STATE__STATE_RUNNING;
	if (strcmp(r->rpc, "GetSandbox") == 0) {
		sandbox_of(s, i, &sb, &st, id, sizeof id);
		res = answer(con, &sb.base);
	} else if (strcmp(r->rpc, "DeleteSandbox") == 0) {
		s->box[i].state = COREWEAVE__SANDBOX__V1__STATE__STATE_TERMINATED;
		sandbox_of(s, i, &sb, &st, id, sizeof id);
		Coreweave__Sandbox__V1__DeleteSandboxResponse dr = COREWEAVE__SANDBOX__V1__DELETE_SANDBOX_RESPONSE__INIT;
		dr.sandbox = &sb;
		res = answer(con, &dr.base);
	} else if (!running) {
		res = status(con, 400, 9, "CWSANDBOX_INVALID_REQUEST", "sandbox is not running", NULL);
	} else if (strcmp(r->rpc, "Exec") == 0) {
		pthread_mutex_unlock(&s->mu);
		/* a slow command must not hold the others up */
		return do_exec(s, con, (const Coreweave__Sandbox__V1__ExecRequest *)m);
	} else if (strcmp(r->rpc, "ReadFile") == 0) {
		const Coreweave__Sandbox__V1__ReadFileRequest *q = (const Coreweave__Sandbox__V1__ReadFileRequest *)m;
		pub_file *pf = file_of(s, i, q->path);
		if (!pf) {
			res = status(con, 404, 5, "CWSANDBOX_FILE_NOT_FOUND", "no such file", NULL);
		} else {
			Coreweave__Sandbox__V1__ReadFileResponse rr = COREWEAVE__SANDBOX__V1__READ_FILE_RESPONSE__INIT;
			rr.content.data = pf->data;
			rr.content.len = pf->len;
			res = answer(con, &rr.base);
		}
	} else if (strcmp(r->rpc, "WriteFile") == 0) {
		const Coreweave__Sandbox__V1__WriteFileRequest *q = (const Coreweave__Sandbox__V1__WriteFileRequest *)m;
		pub_file *pf = file_of(s, i, q->path);
		if (!pf && s->box[i].nfiles < MAX_FILES && strlen(q->path) < sizeof pf->path) {
			pf = &s->box[i].files[s->box[i].nfiles++];
			snprintf(pf->path, sizeof pf->path, "%s", q->path);
		}
		uint8_t *d = pf ? malloc(q->content.len + 1) : NULL;
		if (!d) {
			res = status(con, 500, 13, NULL, "no room", NULL);
		} else {
			/* the whole file, created or truncated */
			if (q->content.len)
				memcpy(d, q->content.data, q->content.len);
			free(pf->data);
			pf->data = d;
			pf->len = q->content.len;
			Coreweave__Sandbox__V1__WriteFileResponse wr = COREWEAVE__SANDBOX__V1__WRITE_FILE_RESPONSE__INIT;
			res = answer(con, &wr.base);
		}
	} else {
		res = status(con, 501, 12, "CWSANDBOX_NOT_IMPLEMENTED", "not in this fake", NULL);
	}
	pthread_mutex_unlock(&s->mu);
	return res;
}

static enum MHD_Result route(pub_srv *s, struct MHD_Connection *con, const char *url, const char *method,
                             const body *b)
{
	wire_var vars[WIRE_MAX_VARS];
	size_t nv = 0;
	const wire_route *r = wire_route_match(method, url, strlen(url), vars, &nv);
	if (!r)
		/* an unmatched path, as a transcoder answers it: sbxd's
		 * extension is not here */
		return status(con, 404, 5, NULL, "no such path", NULL);
	ProtobufCMessage *m = wire_route_new_request(r);
	wire_err we;
	query q = {.m = m};
	if (!m)
		return MHD_NO;
	/* strict, as a proto3 JSON server: unknown fields are refused */
	if (wire_route_body(r, m, b->data ? b->data : "", b->len, NULL, &we) != 0) {
		wire_message_free(m);
		return status(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", we.msg, we.field[0] ? we.field : NULL);
	}
	/* a body of the whole request carries the sandbox id too */
	if (strcmp(r->body, "*") == 0 && nv) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
		                                                                                    r->vars[0]);
		const char *v = f ? *(char **)((char *)m + f->offset) : NULL;
		if (!v || !v[0] || strlen(v) != vars[0].len || memcmp(v, vars[0].val, vars[0].len) != 0) {
			wire_message_free(m);
			return status(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", "the body's sandboxId is not the path's",
			              "sandboxId");
		}
	}
	MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, collect, &q);
	if (q.rc == 0 && wire_route_bind(r, m, vars, nv, &q.err) != 0)
		q.rc = -1;
	if (q.rc != 0) {
		wire_message_free(m);
		return status(con, 400, 3, "CWSANDBOX_INVALID_REQUEST", q.err.msg, q.err.field);
	}
	int keep = 0;
	enum MHD_Result res = route_call(s, con, r, m, &keep);
	if (!keep)
		wire_message_free(m);
	return res;
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
	return route(s, con, url, method, b);
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
	for (int i = 0; i < s->nbox; i++) {
		wire_message_free(&s->box[i].req->base);
		for (int k = 0; k < s->box[i].nfiles; k++)
			free(s->box[i].files[k].data);
	}
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
