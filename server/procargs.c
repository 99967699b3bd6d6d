/*
 * A command's arguments from its request message (procargs.h). The caps
 * are those the JSON parser had (argv entries and bytes, env entries and
 * bytes, cwd length): a request over one is 400 naming the field, never a
 * 5xx and never a silent cut.
 */
#include "procargs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* The failure, naming the field by its JSON name (derived from the proto
 * name, so no JSON key is written here). Returns -1. */
static int blame(srv_perr *e, const char *proto_field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int blame(srv_perr *e, const char *proto_field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	wire_json_name(proto_field, e->field, sizeof e->field);
	return -1;
}

static int argv_of(char **v, size_t n, srv_strv *out, srv_perr *e)
{
	size_t used = 0;
	if (n == 0 || !v[0][0])
		return blame(e, "command", "command must be a non-empty array of strings (argv)");
	if (n > SRV_MAX_ARGV)
		return blame(e, "command", "command has more than %d entries", SRV_MAX_ARGV);
	for (size_t i = 0; i < n; i++) {
		used += strlen(v[i]) + 1;
		if (used > SRV_MAX_ARGV_BYTES)
			return blame(e, "command", "command is larger than %u bytes", SRV_MAX_ARGV_BYTES);
		if (srv_strv_push(out, v[i]) != 0)
			return blame(e, "command", "out of memory");
	}
	return 0;
}

/* map<string, string> entries -> "K=V", capped; a name must be non-empty
 * and hold no '='. The same for both messages (their entry types differ
 * only by name), so it takes the keys and values. */
static int env_add(const char *k, const char *v, size_t *used, srv_strv *out, srv_perr *e)
{
	if (!*k || strchr(k, '='))
		return blame(e, "env", "bad env name \"%.40s\"", k);
	if (out->n >= SRV_MAX_ENV)
		return blame(e, "env", "env has more than %d entries", SRV_MAX_ENV);
	size_t kl = strlen(k), vl = strlen(v);
	*used += kl + vl + 2;
	if (*used > SRV_MAX_ENV_BYTES)
		return blame(e, "env", "env is larger than %u bytes", SRV_MAX_ENV_BYTES);
	char *kv = malloc(kl + vl + 2);
	if (!kv)
		return blame(e, "env", "out of memory");
	memcpy(kv, k, kl);
	kv[kl] = '=';
	memcpy(kv + kl + 1, v, vl + 1);
	int rc = srv_strv_push(out, kv);
	free(kv);
	return rc ? blame(e, "env", "out of memory") : 0;
}

int srv_proc_req_from_exec(const Coreweave__Sandbox__V1__ExecRequest *m, srv_proc_req *out, srv_perr *e)
{
	size_t used = 0;
	memset(out, 0, sizeof *out);
	e->msg[0] = e->field[0] = '\0';
	if (argv_of(m->command, m->n_command, &out->argv, e) != 0)
		goto fail;
	for (size_t i = 0; i < m->n_env; i++)
		if (env_add(m->env[i]->key, m->env[i]->value, &used, &out->env, e) != 0)
			goto fail;
	if (m->max_output_bytes < 0 || m->max_output_bytes > SRV_EXEC_MAX_OUTPUT) {
		blame(e, "max_output_bytes", "maxOutputBytes must be 0 (the default, %d) to %d", SRV_EXEC_DEFAULT_OUTPUT,
		      SRV_EXEC_MAX_OUTPUT);
		goto fail;
	}
	out->max_output = m->max_output_bytes ? m->max_output_bytes : SRV_EXEC_DEFAULT_OUTPUT;
	if (!(out->cwd = strdup(""))) {
		blame(e, "", "out of memory");
		goto fail;
	}
	return 0;
fail:
	srv_proc_req_free(out);
	return -1;
}

int srv_proc_req_from_start(const Sbxd__Ext__V1__StartProcessRequest *m, srv_proc_req *out, srv_perr *e)
{
	size_t used = 0;
	memset(out, 0, sizeof *out);
	e->msg[0] = e->field[0] = '\0';
	if (argv_of(m->command, m->n_command, &out->argv, e) != 0)
		goto fail;
	for (size_t i = 0; i < m->n_env; i++)
		if (env_add(m->env[i]->key, m->env[i]->value, &used, &out->env, e) != 0)
			goto fail;
	if (strlen(m->working_dir) >= SRV_MAX_PATH || (m->working_dir[0] && m->working_dir[0] != '/')) {
		blame(e, "working_dir", "workingDir must be an absolute path under %d bytes", SRV_MAX_PATH);
		goto fail;
	}
	if (m->timeout_seconds < 0 || m->timeout_seconds > SRV_MAX_LIFETIME) {
		blame(e, "timeout_seconds", "timeoutSeconds must be 0..%d", SRV_MAX_LIFETIME);
		goto fail;
	}
	if (strlen(m->request_id) > 128) {
		blame(e, "request_id", "requestId is longer than 128 bytes");
		goto fail;
	}
	out->timeout_s = m->timeout_seconds;
	out->want_stdin = m->stdin;
	if (!(out->cwd = strdup(m->working_dir)) || !(out->request_id = strdup(m->request_id))) {
		blame(e, "", "out of memory");
		goto fail;
	}
	return 0;
fail:
	srv_proc_req_free(out);
	return -1;
}
