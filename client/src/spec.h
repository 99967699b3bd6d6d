/*
 * What to create and what to run: sbx_spec (a sandbox spec) and
 * sbx_exec_req (a process), their setters, the parsers of the text users
 * write to clone files, and their JSON forms on the wire.
 */
#ifndef SBX_SPEC_H
#define SBX_SPEC_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "extension.pb-c.h"
#include "sandbox.pb-c.h"
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
	ProtobufCMessage *network; /* spec.network: a NetworkOptions (malloc'd parts), or NULL */
	int args_only;          /* "args" without "command": argv is the args,
	                           the image's entrypoint runs them */
	/* spec.volumes (SandboxVolume), the container's volumeMounts
	 * (VolumeMount) and files (FileMount), as the codec decoded them. */
	ProtobufCMessage **volumes, **vmounts, **files;
	size_t nvolumes, nvmounts, nfiles;
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

/* A spec as the schema's Sandbox (the body of CreateSandbox): one
 * container named "main" with the configured image ("default" when none),
 * command + args, environmentVariables, workingDir, resources;
 * maxLifetimeSeconds, tags (with sbxfs-name=NAME), network
 * (NetworkOptions), volumes, volumeMounts and files, the pids limit as annotation sbxd.pids. Strings are
 * borrowed from sp (which must outlive it); sbx_spec_pb_free frees what
 * it allocated. */
typedef struct sbx_spec_pb {
	Coreweave__Sandbox__V1__Sandbox sandbox;
	Coreweave__Sandbox__V1__SandboxSpec spec;
	Coreweave__Sandbox__V1__Container main, *mainp;
	Coreweave__Sandbox__V1__Resources res;
	Coreweave__Sandbox__V1__Container__EnvironmentVariablesEntry *env, **envp;
	Coreweave__Sandbox__V1__SandboxSpec__AnnotationsEntry pids, *pidsp;
	char **tags;
	char nametag[160], cpu[32], mem[32], pidtext[24];
	char noargs[1];         /* "" : the empty command of args_only */
} sbx_spec_pb;
sbx_result sbx_spec_to_pb(const sbx_spec *sp, sbx_spec_pb *p, sbx_error *err);
void sbx_spec_pb_free(sbx_spec_pb *p);

/* An exec request as the schema's ExecRequest {sandboxId, command, env,
 * maxOutputBytes}; a cwd becomes the shell wrapper
 * ["/bin/sh", "-c", "cd -- \"$1\" && shift && exec \"$@\"", "sh", CWD,
 * ARGV...]. timeout and stdin have no place in it (the caller decides).
 * Borrows r's strings. */
typedef struct sbx_exec_pb {
	Coreweave__Sandbox__V1__ExecRequest req;
	char **argv;
	Coreweave__Sandbox__V1__ExecRequest__EnvEntry *env, **envp;
} sbx_exec_pb;
sbx_result sbx_exec_req_to_pb(const sbx_exec_req *r, const char *sandbox_id, int32_t max_output_bytes, sbx_exec_pb *p,
                              sbx_error *err);
void sbx_exec_pb_free(sbx_exec_pb *p);
/* An exec request as sbxd's StartProcessRequest (the "processes"
 * extension): command, workingDir, env, stdin, timeoutSeconds, requestId.
 * Borrows r's strings. */
typedef struct sbx_start_pb {
	Sbxd__Ext__V1__StartProcessRequest req;
	Sbxd__Ext__V1__StartProcessRequest__EnvEntry *env, **envp;
} sbx_start_pb;
sbx_result sbx_exec_req_to_start_pb(const sbx_exec_req *r, const char *sandbox_id, const char *request_id,
                                    sbx_start_pb *p, sbx_error *err);
void sbx_start_pb_free(sbx_start_pb *p);
sbx_exec_req *sbx_exec_req_dup(const sbx_exec_req *r);

#endif
