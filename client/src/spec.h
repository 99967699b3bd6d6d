/*
 * What to create and what to run: sbx_spec (a sandbox spec) and
 * sbx_exec_req (a process), their setters, the parsers of the text users
 * write to clone files, and their JSON forms on the wire.
 */
#ifndef SBX_SPEC_H
#define SBX_SPEC_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "sbx/sbx.h"

#define SBX_MAX_TEXT (128 * 1024)
#define SBX_MAX_ARGV 4096
#define SBX_MAX_ENV 1024

typedef struct sbx_kv {
	char *key, *value;
} sbx_kv;

struct sbx_spec {
	char *name, *image, *cwd;
	char **argv;            /* NULL-terminated, NULL = idle */
	sbx_kv *env;
	size_t nenv;
	char **tags;
	size_t ntags;
	int64_t cpu_millis, memory_bytes, pids, lifetime;
	char *network;          /* spec.network as JSON text (NetworkOptions), or NULL */
};

struct sbx_exec_req {
	char **argv;            /* NULL-terminated */
	char *cwd;
	sbx_kv *env;
	size_t nenv;
	int stdin_on;
	int timeout;
	char request_id[SBX_REQUEST_ID_MAX + 1];       /* "" until set or first asked for */
};

/* The spec as the JSON of docs/api.md `spec` (caller deletes). */
cJSON *sbx_spec_to_json(const sbx_spec *sp);
/* The exec body: command, workingDir, env, timeoutSeconds (+ stdin flag
 * when with_stdin_flag). */
cJSON *sbx_exec_req_to_json(const sbx_exec_req *r, int with_stdin_flag);
sbx_exec_req *sbx_exec_req_dup(const sbx_exec_req *r);

#endif
