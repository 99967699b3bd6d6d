/*
 * libsbx: the one client of a sandbox service for every sbxfs program. It
 * speaks the public CoreWeave Sandboxes HTTP/JSON API (docs/api.md) and
 * sbxd's extension calls when the service offers them, falling back to the
 * public unary calls when it does not. No curl, cJSON or OpenSSL type shows
 * through this header: handles are opaque and results are plain structs.
 *
 * Ownership: every object a function hands back through an `out` pointer
 * belongs to the caller and is released with the matching _free(), which
 * accepts NULL. Strings passed in are copied when the call needs them later.
 *
 * Threads: an sbx_client is safe to use from many threads at once (it keeps a
 * pool of connections). An sbx_async runs its own event-loop thread; submit
 * and cancel from any thread, callbacks run on the loop thread.
 *
 * Errors: every call returns an sbx_result; when it is not SBX_OK and `err`
 * is not NULL, *err is filled (HTTP status, gRPC code, ErrorInfo reason, the
 * service's message, retry delay). Tokens never appear in any message.
 */
#ifndef SBX_SBX_H
#define SBX_SBX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum sbx_result {
	SBX_OK = 0,
	SBX_E_INVALID,          /* bad argument or request (INVALID_ARGUMENT, OUT_OF_RANGE) */
	SBX_E_NOT_FOUND,        /* unknown sandbox, process or file */
	SBX_E_EXISTS,           /* name already used (ALREADY_EXISTS) */
	SBX_E_PERMISSION,       /* PERMISSION_DENIED */
	SBX_E_UNAUTHENTICATED,  /* missing or wrong token */
	SBX_E_EXHAUSTED,        /* RESOURCE_EXHAUSTED: a cap or a quota */
	SBX_E_PRECONDITION,     /* FAILED_PRECONDITION: not running, exited, stdin closed */
	SBX_E_UNSUPPORTED,      /* the service lacks the call (UNIMPLEMENTED) */
	SBX_E_UNAVAILABLE,      /* UNAVAILABLE, 502/503 */
	SBX_E_TIMEOUT,          /* our deadline passed, or DEADLINE_EXCEEDED */
	SBX_E_CONNREFUSED,      /* nothing listens at the address */
	SBX_E_RESOLVE,          /* DNS failure */
	SBX_E_TLS,              /* TLS handshake or verification failure */
	SBX_E_NETWORK,          /* connection reset, or other transport failure */
	SBX_E_PROTOCOL,         /* malformed or truncated answer */
	SBX_E_TOO_LARGE,        /* answer over the response cap */
	SBX_E_CANCELLED,        /* cancelled by the caller (async) */
	SBX_E_NOMEM,
	SBX_E_INTERNAL,         /* INTERNAL, UNKNOWN, other 5xx */
	SBX_E_NOFILE,           /* this process is out of file descriptors (EMFILE/ENFILE) */
} sbx_result;

typedef struct sbx_error {
	sbx_result code;
	long http_status;       /* 0 when no answer came */
	int grpc_code;          /* google.rpc.Code, 0 when unknown */
	char reason[64];        /* ErrorInfo.reason, e.g. CWSANDBOX_SANDBOX_NOT_FOUND */
	char domain[64];        /* ErrorInfo.domain */
	char message[512];      /* human-readable, never holds a token */
	long retry_delay_ms;    /* RetryInfo.retryDelay, -1 when absent */
	int sys_errno;          /* the errno a file call met in the sandbox
	                         * (ErrorInfo metadata "errno" of sbxd's file
	                         * calls, e.g. EXDEV), or EMFILE/ENFILE of
	                         * SBX_E_NOFILE; 0 when absent */
	int64_t next_process_id; /* sbxd's PROCESS_NOT_FOUND: the id its next
	                          * process gets (ErrorInfo metadata
	                          * "nextProcessId"), so one past the newest
	                          * ever started; 0 when absent */
} sbx_error;

/* Static English name of a result, e.g. "not found". */
const char *sbx_result_str(sbx_result r);

/* The one mapping from a libsbx error to errno (DESIGN section 2): ENOENT,
 * EINVAL, EEXIST, EACCES, EPERM, EAGAIN, ESRCH (signal to an exited process),
 * EPIPE (stdin closed), ENOTSUP, EHOSTDOWN, ECONNREFUSED, ETIMEDOUT, EIO, ...
 * Uses err->reason to tell ESRCH and EPIPE from other preconditions. */
int sbx_error_errno(const sbx_error *err);

/* ---------------------------------------------------------------- config */

typedef struct sbx_config sbx_config;

/* A configuration from the environment: CWSANDBOX_BASE_URL (else the local
 * sbxd socket: $XDG_RUNTIME_DIR/sbxd/sbxd.sock, else /run/sbxd/sbxd.sock),
 * CWSANDBOX_API_KEY (Bearer) or WANDB_API_KEY (+ WANDB_ENTITY_NAME),
 * SBX_TOKEN_FILE, SBX_CA_FILE. Explicit setters below override it. */
sbx_config *sbx_config_new(void);
void sbx_config_free(sbx_config *cfg);

/* url: "http://host:port", "https://host", or "unix:/path/to.sock". */
sbx_result sbx_config_set_url(sbx_config *cfg, const char *url, sbx_error *err);
/* Where StreamExec is served, used for processes only when the service
 * lacks sbxd's "processes" extension: "http://host:port" (h2c),
 * "https://host[:port]" (TLS), "unix:/path", or "none" (off: the unary
 * Exec fallback). Unset (also env SBX_GRPC_URL): a unix: URL's socket path
 * + ".grpc" (sbxd's default gRPC socket), else the service URL itself. */
sbx_result sbx_config_set_grpc_url(sbx_config *cfg, const char *url, sbx_error *err);
/* The token itself, or a file whose first line is the token. Either
 * replaces whatever the environment gave. */
sbx_result sbx_config_set_token(sbx_config *cfg, const char *token, sbx_error *err);
sbx_result sbx_config_set_token_file(sbx_config *cfg, const char *path, sbx_error *err);
sbx_result sbx_config_set_ca_file(sbx_config *cfg, const char *path, sbx_error *err);
/* Deadlines in milliseconds: connect (default 2000) and a whole call
 * excluding any long-poll wait the caller asked for (default 10000). */
void sbx_config_set_timeouts(sbx_config *cfg, long connect_ms, long total_ms);
/* How often an HTTP/2 ping goes to the gRPC service while a stream is
 * open (StreamExec, StreamLogs; only where the extension is absent), in
 * milliseconds, 0: never (default 330000, just above the 5 minutes that
 * gRPC servers allow by default: more often, and a server left at its
 * defaults ends the connection, GOAWAY too_many_pings). A ping not
 * answered within the total deadline ends the connection and its
 * streams with UNAVAILABLE: what tells a hung service from a quiet
 * command on a stream that waits. sbxd allows one a second. Values
 * below 1000 are raised to it. */
void sbx_config_set_grpc_keepalive(sbx_config *cfg, long ms);
/* Retries of safe calls on UNAVAILABLE, DEADLINE_EXCEEDED and
 * RESOURCE_EXHAUSTED: max attempts (default 3, 1 = none). */
void sbx_config_set_retries(sbx_config *cfg, int max_attempts);
/* sbxd's extension calls go in the binary protobuf encoding of their
 * messages wherever the service announces "protobuf" (docs/api.md,
 * "Encodings"); on (1): in proto3 JSON all the same, for debugging (the
 * real API's calls are JSON either way). Default 0. */
void sbx_config_set_ext_json(sbx_config *cfg, int on);
/* The URL in effect, for messages (never a token). */
const char *sbx_config_url(const sbx_config *cfg);

/* ---------------------------------------------------------------- client */

typedef struct sbx_client sbx_client;

/* Copies cfg. Makes no connection yet. */
sbx_result sbx_client_new(const sbx_config *cfg, sbx_client **out, sbx_error *err);
void sbx_client_free(sbx_client *c);
/* Closes pooled connections left idle for a second by a burst of calls on
 * many threads, all but two (each holds descriptors). Calls do it too;
 * this is for a caller that may go quiet after a burst (sbxfs). */
void sbx_client_trim(sbx_client *c);

enum {
	SBX_FEAT_PROCESSES = 1 << 0,   /* background processes, stdin, signals */
	SBX_FEAT_OUTPUT = 1 << 1,      /* output by offset with long-poll */
	SBX_FEAT_FILES = 1 << 2,       /* listDir, statFile, ranged read/write */
	SBX_FEAT_POSIX = 1 << 3,       /* createFile, setFileAttrs, renameFile, full stat */
	SBX_FEAT_IMAGES = 1 << 4,      /* GET /v1/images: sbxd's OCI image store */
	SBX_FEAT_WAIT = 1 << 5,        /* :wait (a long-poll for a terminal sandbox) */
	SBX_FEAT_FORGET = 1 << 6,      /* :forget (delete, then drop the record) */
	SBX_FEAT_WAIT_MANY = 1 << 7,   /* :waitProcesses (one long-poll for many processes) */
	SBX_FEAT_OUTPUT_FD = 1 << 8,   /* :openOutput (an ended stream's spool fd, unix socket) */
	SBX_FEAT_FILE_FD = 1 << 9,     /* :openFile (a sandbox's regular file as an fd, unix socket) */
	SBX_FEAT_PROTOBUF = 1 << 10,   /* extension calls also in application/x-protobuf */
};
/* Which extensions the service offers (asks once, then caches; a failed
 * probe is not cached). */
sbx_result sbx_client_features(sbx_client *c, unsigned *features, sbx_error *err);

/* The service's images (the "images" extension), as text: one line per
 * reference, "REFERENCE DIGEST LAYERS SIZE_BYTES\n"; "" when it has none.
 * *text is malloc'ed, the caller frees it. SBX_E_UNSUPPORTED without the
 * extension (the managed service pulls from registries and lists none). */
sbx_result sbx_images_list(sbx_client *c, char **text, sbx_error *err);

/* ---------------------------------------------------------------- sandboxes */

typedef enum sbx_state {
	SBX_STATE_UNSPECIFIED = 0,
	SBX_STATE_PENDING,
	SBX_STATE_CREATING,
	SBX_STATE_RUNNING,
	SBX_STATE_PAUSED,
	SBX_STATE_TERMINATING,
	SBX_STATE_COMPLETED,
	SBX_STATE_FAILED,
	SBX_STATE_TERMINATED,
} sbx_state;

/* "running", "completed", ... (the word of a status file). */
const char *sbx_state_word(sbx_state s);
int sbx_state_is_terminal(sbx_state s);

typedef struct sbx_sandbox {
	char *id;
	char *name;             /* spec.name, else tag sbxfs-name=..., else NULL */
	sbx_state state;
	char *state_reason;     /* "" when none */
	int exit_code;          /* meaningful when COMPLETED, or TERMINATED (128+N
	                         * for the signal N that ended the main command);
	                         * a FAILED sandbox has none */
	char *image;
	char **tags;            /* ntags strings */
	size_t ntags;
	int64_t create_time_ns, start_time_ns, end_time_ns;  /* 0 = unset */
	char *json;             /* the whole resource, pretty JSON with a final newline */
} sbx_sandbox;
void sbx_sandbox_free(sbx_sandbox *s);
void sbx_sandbox_list_free(sbx_sandbox **v, size_t n);

/* A sandbox spec built by the caller or parsed from user text. */
typedef struct sbx_spec sbx_spec;
sbx_spec *sbx_spec_new(void);
void sbx_spec_free(sbx_spec *sp);
/* Parses what a user writes to a clone file: an empty line or "{}" is an
 * idle sandbox; a line of text is the main command, run under /bin/sh -c; a
 * JSON object is the spec (the fields of docs/api.md `spec`, either bare or
 * as {"spec": {...}}). Caps: 128 KiB text, JSON depth 32. On bad input
 * returns SBX_E_INVALID with a message naming the problem. */
sbx_result sbx_spec_parse(const char *text, size_t len, sbx_spec **out, sbx_error *err);
sbx_result sbx_spec_set_name(sbx_spec *sp, const char *name, sbx_error *err);
sbx_result sbx_spec_set_image(sbx_spec *sp, const char *image, sbx_error *err);
/* argv NULL-terminated; NULL or empty = idle. */
sbx_result sbx_spec_set_command(sbx_spec *sp, const char *const *argv, sbx_error *err);
sbx_result sbx_spec_set_shell_command(sbx_spec *sp, const char *line, sbx_error *err);
sbx_result sbx_spec_add_env(sbx_spec *sp, const char *key, const char *value, sbx_error *err);
sbx_result sbx_spec_add_tag(sbx_spec *sp, const char *tag, sbx_error *err);
/* cpu in millicores, memory and pids limits; 0 = service default. */
void sbx_spec_set_resources(sbx_spec *sp, int64_t cpu_millis, int64_t memory_bytes, int64_t pids);
void sbx_spec_set_lifetime(sbx_spec *sp, int64_t max_lifetime_seconds);
/* spec.network: egress != 0 = {"egress": [{"any": true}]} (anywhere the
 * service allows), 0 = {"denyEgress": true}. Finer rules: write
 * NetworkOptions JSON in the text given to sbx_spec_parse. */
void sbx_spec_set_network(sbx_spec *sp, int egress);
/* One default given as text (sbxfs's mount options for mkdir): "image",
 * "network" (none | egress), "lifetime" (seconds, 1..SBX_MAX_LIFETIME),
 * "cpu" (2, 0.5, 500m), "memory" (512Mi, 2G). SBX_E_INVALID naming the
 * option when the value is not one of those. */
#define SBX_MAX_LIFETIME 2592000 /* 30 days, as sbxd */
sbx_result sbx_spec_set_option(sbx_spec *sp, const char *key, const char *value, sbx_error *err);

/* Creates a sandbox (with a fresh requestId, so retries are safe). */
sbx_result sbx_sandbox_create(sbx_client *c, const sbx_spec *sp, sbx_sandbox **out, sbx_error *err);
/* Gets one by id (or by name, against sbxd). wait_seconds > 0 waits until it
 * is terminal or the time passes (extension; without it, returns at once). */
sbx_result sbx_sandbox_get(sbx_client *c, const char *id, int wait_seconds, sbx_sandbox **out, sbx_error *err);

typedef struct sbx_list_filter {
	const char *const *tags;   /* NULL-terminated, all must match; NULL = any */
	sbx_state state;           /* UNSPECIFIED = any */
	int show_terminated;
} sbx_list_filter;
/* Lists every page. *out is an array of *n sandboxes (free with
 * sbx_sandbox_list_free). filter may be NULL. */
sbx_result sbx_sandbox_list(sbx_client *c, const sbx_list_filter *filter, sbx_sandbox ***out, size_t *n, sbx_error *err);
/* DELETE with gracePeriodSeconds: SIGTERM, SIGKILL after the grace; the
 * record stays (TERMINATED). allow_missing: an unknown id is success. */
sbx_result sbx_sandbox_delete(sbx_client *c, const char *id, int grace_seconds, int allow_missing, sbx_error *err);
/* Like sbx_sandbox_delete, then the service forgets the sandbox once it is
 * terminal (extension `purge=true`): it leaves every list, even with
 * show_terminated, and get answers NOT_FOUND. A service without the
 * extension ignores the flag (a plain stop). */
sbx_result sbx_sandbox_purge(sbx_client *c, const char *id, int grace_seconds, int allow_missing, sbx_error *err);

/* ---------------------------------------------------------------- snapshots */

/* Filesystem snapshots of a sandbox's scratch volume (the schema's
 * FileSystemSnapshot and its four calls). */
typedef enum sbx_snap_state {
	SBX_SNAP_UNSPECIFIED = 0, SBX_SNAP_CREATING, SBX_SNAP_READY, SBX_SNAP_FAILED, SBX_SNAP_DELETING
} sbx_snap_state;
/* "creating", "ready", "failed", "deleting" ("unspecified"). */
const char *sbx_snap_state_word(sbx_snap_state s);

typedef struct sbx_snapshot {
	char *id;
	sbx_snap_state state;
	char *reason;            /* stateReason, "" when none */
	int64_t size_bytes;
	char *sandbox_id, *volume; /* where it was taken */
	int on_delete;           /* trigger ON_DELETE (else MANUAL) */
	char *json;              /* the snapshot as the service answered:
	                            canonical JSON, pretty, final newline */
} sbx_snapshot;
void sbx_snapshot_free(sbx_snapshot *s);
void sbx_snapshot_list_free(sbx_snapshot **v, size_t n);

/* CreateFileSystemSnapshot of volume (NULL or "": the sandbox's only
 * scratch volume); *out is CREATING, READY once Get says so. */
sbx_result sbx_snapshot_create(sbx_client *c, const char *sandbox_id, const char *volume, sbx_snapshot **out,
                               sbx_error *err);
sbx_result sbx_snapshot_get(sbx_client *c, const char *id, sbx_snapshot **out, sbx_error *err);
/* Every page; sandbox_id NULL or "": all the caller's snapshots. */
sbx_result sbx_snapshot_list(sbx_client *c, const char *sandbox_id, sbx_snapshot ***out, size_t *n,
                             sbx_error *err);
sbx_result sbx_snapshot_delete(sbx_client *c, const char *id, int allow_missing, sbx_error *err);
/* DeleteSandbox with snapshotVolumes (volumes NULL-terminated): the
 * snapshot ids into *ids (*n of them; free each and the array). */
sbx_result sbx_sandbox_delete_snapshot(sbx_client *c, const char *id, int grace_seconds,
                                       const char *const *volumes, char ***ids, size_t *n, sbx_error *err);

/* ---------------------------------------------------------------- processes */

typedef enum sbx_proc_state {
	SBX_PROC_UNSPECIFIED = 0,
	SBX_PROC_RUNNING,
	SBX_PROC_EXITED,
	SBX_PROC_KILLED,
	SBX_PROC_FAILED,
} sbx_proc_state;
const char *sbx_proc_state_word(sbx_proc_state s);   /* running exited killed failed */

typedef struct sbx_process {
	int64_t id;
	char **argv;            /* NULL-terminated */
	char *cwd;
	sbx_proc_state state;
	int exit_code;          /* 128+N when killed by N */
	int signal;
	char *state_reason;
	int has_stdin, stdin_closed;
	int64_t start_time_ns, end_time_ns;
	int64_t stdout_bytes, stderr_bytes;
} sbx_process;
void sbx_process_free(sbx_process *p);
void sbx_process_list_free(sbx_process **v, size_t n);

/* What to run. */
typedef struct sbx_exec_req sbx_exec_req;
sbx_exec_req *sbx_exec_req_new(void);
void sbx_exec_req_free(sbx_exec_req *r);
/* Parses what a user writes to exec/new: a line of text (trailing newline
 * dropped) runs under /bin/sh -c; a JSON object gives {"command": [argv],
 * "cwd" (or "workingDir"), "env": {}, "stdin": bool, "timeoutSeconds": n}.
 * Empty text, an empty argv, unknown types or values out of range:
 * SBX_E_INVALID with a message. Caps as for sbx_spec_parse. */
sbx_result sbx_exec_req_parse(const char *text, size_t len, sbx_exec_req **out, sbx_error *err);
sbx_result sbx_exec_req_set_argv(sbx_exec_req *r, const char *const *argv, sbx_error *err);
sbx_result sbx_exec_req_add_env(sbx_exec_req *r, const char *key, const char *value, sbx_error *err);
sbx_result sbx_exec_req_set_cwd(sbx_exec_req *r, const char *cwd, sbx_error *err);
void sbx_exec_req_set_stdin(sbx_exec_req *r, int on);
void sbx_exec_req_set_timeout(sbx_exec_req *r, int seconds);
/* The request id a start sends (sbxd's extension: a repeated start with
 * the same id returns the process the first one made instead of running
 * the command again). sbx_process_start makes a fresh one when none is
 * set; _request_id gives it (making it first), NULL only when no
 * randomness was available. To retry a start that failed (a deadline
 * missed), set the same id on the new request. */
#define SBX_REQUEST_ID_MAX 64
sbx_result sbx_exec_req_set_request_id(sbx_exec_req *r, const char *rid, sbx_error *err);
const char *sbx_exec_req_request_id(sbx_exec_req *r);
/* The command as one line, shell-quoted where needed, with a final newline
 * (what a cmd file shows). Caller frees. */
char *sbx_argv_to_line(char *const *argv);

/* Starts a background process. Without the extension, libsbx runs it as a
 * unary :exec on its own thread; get/list then show it RUNNING until that
 * returns, and stdin/signal answer SBX_E_UNSUPPORTED. */
sbx_result sbx_process_start(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, sbx_process **out, sbx_error *err);
/* wait_seconds > 0: returns once the process is not RUNNING, or after that
 * time with its current state. */
sbx_result sbx_process_get(sbx_client *c, const char *sandbox_id, int64_t pid, int wait_seconds, sbx_process **out, sbx_error *err);
sbx_result sbx_process_list(sbx_client *c, const char *sandbox_id, sbx_process ***out, size_t *n, sbx_error *err);
/* A refusal for back-pressure (429 RESOURCE_EXHAUSTED: nothing was written)
 * is sent again, after its RetryInfo delay, until the client's total
 * deadline; then SBX_E_EXHAUSTED. */
sbx_result sbx_process_write_stdin(sbx_client *c, const char *sandbox_id, int64_t pid, const void *data, size_t len, sbx_error *err);
/* The same with no retry of a back-pressure refusal: SBX_E_EXHAUSTED at
 * once (for non-blocking writers). Bytes of earlier 1 MiB pieces of one
 * call may have been written. */
sbx_result sbx_process_try_write_stdin(sbx_client *c, const char *sandbox_id, int64_t pid, const void *data, size_t len, sbx_error *err);
sbx_result sbx_process_close_stdin(sbx_client *c, const char *sandbox_id, int64_t pid, sbx_error *err);
sbx_result sbx_process_signal(sbx_client *c, const char *sandbox_id, int64_t pid, int signo, sbx_error *err);

/* Which process's output: pid >= 1 a process, SBX_MAIN (0) the sandbox's
 * main command. */
#define SBX_MAIN 0
typedef enum sbx_stream { SBX_STDOUT = 1, SBX_STDERR = 2 } sbx_stream;

typedef struct sbx_chunk {
	const void *data;       /* valid until the callback returns / chunk freed */
	size_t len;
	int64_t offset;         /* of data[0] */
	int64_t size;           /* bytes produced so far on the stream */
	int eof;                /* stream ended and offset+len is its final size */
} sbx_chunk;

/* Reads up to maxlen bytes at offset into buf. wait_seconds > 0: when offset
 * is at the end of a live stream, waits that long for more. *chunk describes
 * what was read (chunk->data == buf). */
sbx_result sbx_output_read(sbx_client *c, const char *sandbox_id, int64_t pid, sbx_stream s,
                           int64_t offset, void *buf, size_t maxlen, int wait_seconds,
                           sbx_chunk *chunk, sbx_error *err);

/* An ended stream's spool as a read-only file descriptor (sbxd's
 * "outputFd" extension, only over a unix: URL, only for the sandbox's
 * owner): bytes [0, *size) of *fd (close-on-exec, the caller's to close)
 * are the whole stream, final. SBX_E_UNSUPPORTED when the service or the
 * URL cannot do it, SBX_E_PRECONDITION-like errors (a live stream) as the
 * service says: the caller reads by offset instead. */
sbx_result sbx_output_fd(sbx_client *c, const char *sandbox_id, int64_t pid, sbx_stream s, int *fd,
                         int64_t *size, sbx_error *err);

/* A regular file of a sandbox's files as a file descriptor (sbxd's
 * "fileFd" extension, only over a unix: URL, only for the sandbox's
 * owner): path resolved inside the sandbox's root as every file call, its
 * last component never followed; *fd (close-on-exec, the caller's to
 * close) is open O_RDWR when write, else O_RDONLY, and always O_RDONLY
 * with *read_only 1 when the sandbox has ended (its files are read-only).
 * The descriptor is that file, whatever is renamed or swapped at its path
 * later. SBX_E_UNSUPPORTED when the service or the URL cannot do it,
 * SBX_E_NOT_FOUND for a missing file, other refusals as the service
 * says: the caller uses the ranged file calls instead. */
sbx_result sbx_file_fd(sbx_client *c, const char *sandbox_id, const char *path, int write, int *fd,
                       int *read_only, sbx_error *err);

/* Unary exec to completion (the public call). */
typedef struct sbx_exec_result {
	int exit_code;
	char *out, *errout;     /* NUL-terminated too; may hold NULs before len */
	size_t out_len, err_len;
	int out_truncated, err_truncated;
	int64_t out_total, err_total;
} sbx_exec_result;
void sbx_exec_result_free(sbx_exec_result *r);
sbx_result sbx_exec(sbx_client *c, const char *sandbox_id, const sbx_exec_req *r, int64_t max_output_bytes,
                    sbx_exec_result **out, sbx_error *err);

/* ---------------------------------------------------------------- files */

typedef enum sbx_file_type { SBX_FT_OTHER = 0, SBX_FT_FILE, SBX_FT_DIR, SBX_FT_SYMLINK } sbx_file_type;
typedef struct sbx_dirent {
	char *name;
	sbx_file_type type;
	int64_t size;
	unsigned mode;          /* permission bits */
	int64_t mtime_ns;
	/* From a service with the "posix" extension (has_posix set); else 0. */
	int has_posix;
	uint32_t uid, gid;      /* as the sandbox sees them */
	uint32_t nlink;
	int64_t blocks;         /* st_blocks: 512-byte units */
	int64_t atime_ns, ctime_ns;
	uint64_t ino;           /* st_ino inside the sandbox (posix), else 0 */
	unsigned special;       /* SBX_FT_OTHER from posix: S_IFIFO, S_IFSOCK,
	                         * S_IFCHR or S_IFBLK; else 0 */
	char *link_target;      /* SBX_FT_SYMLINK: the link's text as readlink(2)
	                         * gives it (never resolved), else NULL; freed by
	                         * sbx_dirent_list_free (a single entry from
	                         * sbx_file_stat: free name and link_target) */
	char *link_resolved;    /* SBX_FT_SYMLINK from sbxd's statFile, when the
	                         * text is absolute or climbs: where it leads in
	                         * the sandbox (an absolute path), else NULL;
	                         * freed with link_target */
} sbx_dirent;
void sbx_dirent_list_free(sbx_dirent *v, size_t n);

/* offset/length: the extension's ranged read; length 0 = to the end. *data
 * malloc'd (caller frees), *len its size, *size the whole file's size when
 * known (-1 otherwise). */
sbx_result sbx_file_read(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset, int64_t length,
                         void **data, size_t *len, int64_t *size, sbx_error *err);
/* offset < 0: replace the whole file; else write at offset (extension). */
sbx_result sbx_file_write(sbx_client *c, const char *sandbox_id, const char *path, int64_t offset,
                          const void *data, size_t len, sbx_error *err);
/* Appends at the file's end as the service sees it (extension
 * `"append": true`; O_APPEND semantics, so concurrent appenders inside the
 * sandbox are not overwritten). Not retried (a retry could append twice). */
sbx_result sbx_file_append(sbx_client *c, const char *sandbox_id, const char *path, const void *data, size_t len,
                           sbx_error *err);
sbx_result sbx_file_list(sbx_client *c, const char *sandbox_id, const char *path, sbx_dirent **out, size_t *n, sbx_error *err);
/* Several directories' listings in one call (sbxd's :listDirs, "posix";
 * else SBX_E_UNSUPPORTED, nothing sent): (*lists)[0] is path's, or the
 * call fails as sbx_file_list would; then those of more[0..nmore) that
 * the service fitted (whole listings, up to 8,192 entries in all), each
 * with its path as asked. nmore at most 1,024. Free with
 * sbx_dirlist_free. */
typedef struct sbx_dirlist {
	char *path;
	sbx_dirent *ents;
	size_t n;
} sbx_dirlist;
void sbx_dirlist_free(sbx_dirlist *v, size_t n);
sbx_result sbx_file_list_many(sbx_client *c, const char *sandbox_id, const char *path, const char *const *more,
                              size_t nmore, sbx_dirlist **lists, size_t *n, sbx_error *err);
sbx_result sbx_file_stat(sbx_client *c, const char *sandbox_id, const char *path, sbx_dirent *out, sbx_error *err);
sbx_result sbx_file_mkdir(sbx_client *c, const char *sandbox_id, const char *path, unsigned mode, sbx_error *err);
sbx_result sbx_file_remove(sbx_client *c, const char *sandbox_id, const char *path, int recursive, sbx_error *err);

/* The "posix" extension (SBX_FEAT_POSIX). Against a service without it
 * each answers SBX_E_UNSUPPORTED with a message saying so, sending
 * nothing. A failure the sandbox's kernel gave carries its errno in
 * err->sys_errno. *out (when not NULL) is the entry afterwards: free its
 * name and link_target. */

enum {
	SBX_CREATE_EXCL = 1 << 0,      /* EEXIST when the file exists */
	SBX_CREATE_TRUNC = 1 << 1,     /* empty an existing file */
};
/* Creates a regular file with exactly mode & 07777 (the caller's umask
 * already applied); an existing one is opened as open(2) would. Not
 * retried (a retry would find the file made the first time). */
sbx_result sbx_file_create(sbx_client *c, const char *sandbox_id, const char *path, unsigned mode, unsigned flags,
                           sbx_dirent *out, sbx_error *err);

enum {
	SBX_ATTR_MODE = 1 << 0,
	SBX_ATTR_UID = 1 << 1,
	SBX_ATTR_GID = 1 << 2,
	SBX_ATTR_SIZE = 1 << 3,
	SBX_ATTR_ATIME = 1 << 4,
	SBX_ATTR_MTIME = 1 << 5,
	SBX_ATTR_ATIME_NOW = 1 << 6,   /* with _ATIME: the service's now */
	SBX_ATTR_MTIME_NOW = 1 << 7,
};
typedef struct sbx_file_attrs {
	unsigned set;           /* SBX_ATTR_ bits: the fields that apply */
	unsigned mode;          /* permission bits */
	uint32_t uid, gid;
	int64_t size;
	int64_t atime_ns, mtime_ns;     /* ns since 1970, >= 0 */
} sbx_file_attrs;
/* chown, chmod, truncate, utimensat of path itself (a link there is not
 * followed; its mode cannot change: EOPNOTSUPP). Retried when safe: the
 * same attributes twice are harmless. */
sbx_result sbx_file_set_attrs(sbx_client *c, const char *sandbox_id, const char *path, const sbx_file_attrs *a,
                              sbx_dirent *out, sbx_error *err);

/* fallocate(2) of [off, off + len) of the regular file at path, inside
 * the sandbox ("posix" extension, :allocateFile). mode: the FALLOC_FL_*
 * bits of <linux/falloc.h> (KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE,
 * COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE); which ones work is the
 * sandbox's file system's to say (its errno, e.g. EOPNOTSUPP, in
 * err->sys_errno). Another bit: SBX_E_UNSUPPORTED, nothing sent. out:
 * the file afterwards. Not retried: a collapse or insert done twice is
 * not the same. */
sbx_result sbx_file_allocate(sbx_client *c, const char *sandbox_id, const char *path, int mode, int64_t off,
                             int64_t len, sbx_dirent *out, sbx_error *err);

enum {
	SBX_RENAME_NOREPLACE = 1 << 0, /* EEXIST when to exists */
	SBX_RENAME_EXCHANGE = 1 << 1,  /* swap from and to, both must exist */
};
/* renameat2(from, to) inside the sandbox. Not retried. */
sbx_result sbx_file_rename(sbx_client *c, const char *sandbox_id, const char *from, const char *to, unsigned flags,
                           sbx_error *err);

/* symlink(2) at path with text target, stored as given (the sandbox
 * resolves it; never followed by the service). *out: the link. Not
 * retried (a retry would find the link: EEXIST). */
sbx_result sbx_file_symlink(sbx_client *c, const char *sandbox_id, const char *path, const char *target,
                            sbx_dirent *out, sbx_error *err);
/* link(2): to becomes a second name of from (a link at from is linked
 * itself). *out: the entry at to. Not retried. */
sbx_result sbx_file_link(sbx_client *c, const char *sandbox_id, const char *from, const char *to, sbx_dirent *out,
                         sbx_error *err);
/* mknod(2) of a FIFO (S_IFIFO) or unix socket node (S_IFSOCK) with exactly
 * mode & 07777; S_IFCHR/S_IFBLK are refused by sbxd (EPERM). Not retried. */
sbx_result sbx_file_mknod(sbx_client *c, const char *sandbox_id, const char *path, unsigned type, unsigned mode,
                          sbx_dirent *out, sbx_error *err);
/* Extended attributes of path itself (user.* only; sbxd answers ENODATA
 * or EOPNOTSUPP for other namespaces). getxattr: *val malloc'd, *n
 * bytes. listxattr: *list malloc'd, the names each
 * NUL-terminated one after another as listxattr(2) gives them, *len
 * bytes. setxattr flags: XATTR_CREATE / XATTR_REPLACE values (1, 2). */
sbx_result sbx_file_getxattr(sbx_client *c, const char *sandbox_id, const char *path, const char *name, void **val,
                             size_t *n, sbx_error *err);
sbx_result sbx_file_listxattr(sbx_client *c, const char *sandbox_id, const char *path, char **list, size_t *len,
                              sbx_error *err);
sbx_result sbx_file_setxattr(sbx_client *c, const char *sandbox_id, const char *path, const char *name,
                             const void *val, size_t n, int flags, sbx_error *err);
sbx_result sbx_file_removexattr(sbx_client *c, const char *sandbox_id, const char *path, const char *name,
                                sbx_error *err);
/* statvfs(2) of the file system holding path inside the sandbox. */
typedef struct sbx_statfs {
	uint64_t bsize, frsize, blocks, bfree, bavail, files, ffree, namemax;
	int read_only;
} sbx_statfs;
sbx_result sbx_file_statfs(sbx_client *c, const char *sandbox_id, const char *path, sbx_statfs *out,
                           sbx_error *err);

/* ---------------------------------------------------------------- async */

/* An event loop on curl's multi API in a thread of its own: thousands of
 * long-polls in flight on one thread, a callback per completion. */
typedef struct sbx_async sbx_async;
typedef struct sbx_op sbx_op;

/* Starts the loop thread. The client must outlive the loop. */
sbx_result sbx_async_new(sbx_client *c, sbx_async **out, sbx_error *err);
/* Stops the loop: every pending op gets its callback with SBX_E_CANCELLED
 * (on the calling thread), then the thread is joined. */
void sbx_async_free(sbx_async *a);

/* Each callback runs exactly once, on the loop thread, unless noted; err is
 * NULL on success; pointers passed to it are valid only during the call.
 * A callback may submit and cancel ops (no libsbx lock is held while it
 * runs) but must not call sbx_async_free, and should not block: every other
 * op of the loop waits while it runs. Ops are retried like the blocking
 * calls (safe calls only, on UNAVAILABLE, the service's DEADLINE_EXCEEDED
 * and RESOURCE_EXHAUSTED with RetryInfo) within the same deadline: the
 * client's total deadline plus the op's wait. Against a service without the
 * process extension, process waits and output reads of fallback processes
 * are answered by the loop from the client's table. Programs should ignore
 * SIGPIPE (libcurl runs with NOSIGNAL, as threads need). */
typedef void (*sbx_output_cb)(void *ud, sbx_result r, const sbx_error *err, const sbx_chunk *chunk);
typedef void (*sbx_process_cb)(void *ud, sbx_result r, const sbx_error *err, const sbx_process *p);
typedef void (*sbx_sandbox_cb)(void *ud, sbx_result r, const sbx_error *err, const sbx_sandbox *s);

/* Submit (any thread). The returned op is valid until its callback has
 * returned; pass it to sbx_async_cancel before then, or ignore it. NULL is
 * returned only when the op could not be queued (then no callback runs). */
sbx_op *sbx_async_output_read(sbx_async *a, const char *sandbox_id, int64_t pid, sbx_stream s, int64_t offset,
                              size_t maxlen, int wait_seconds, sbx_output_cb cb, void *ud);
/* The same, the bytes received straight into buf (maxlen bytes, owned by
 * the caller and untouched by anyone else until the callback has run; the
 * chunk's data then points into it). Saves a copy and a growing buffer per
 * read of big output. */
sbx_op *sbx_async_output_read_into(sbx_async *a, const char *sandbox_id, int64_t pid, sbx_stream s,
                                   int64_t offset, void *buf, size_t maxlen, int wait_seconds, sbx_output_cb cb,
                                   void *ud);
sbx_op *sbx_async_process_wait(sbx_async *a, const char *sandbox_id, int64_t pid, int wait_seconds,
                               sbx_process_cb cb, void *ud);
sbx_op *sbx_async_sandbox_wait(sbx_async *a, const char *sandbox_id, int wait_seconds, sbx_sandbox_cb cb, void *ud);
/* Cancels an op not yet completed: its callback then runs (on the loop
 * thread) with SBX_E_CANCELLED, promptly. Cancelling an op whose callback
 * has already started is a harmless no-op only while the op is valid: call
 * it from a place that knows the callback has not returned yet (e.g. under
 * the caller's own lock shared with the callback). */
void sbx_async_cancel(sbx_async *a, sbx_op *op);

/* A batched wait (sbxd's "waitProcesses"; SBX_FEAT_WAIT_MANY): one
 * long-poll for up to SBX_WAIT_MANY_MAX processes of any sandboxes,
 * answered once one of them has ended or is unknown (with every one that
 * has, then), or at wait_seconds with none. Entries sorted by sandbox
 * cost the service one lookup per sandbox. NULL without the extension
 * (wait per process instead) or on bad arguments. The sbx_exits and all
 * it points to are valid during the callback only; NULL on errors. */
#define SBX_WAIT_MANY_MAX 4096
typedef struct sbx_proc_ref {
	const char *sandbox_id;
	int64_t pid;
} sbx_proc_ref;
typedef struct sbx_exits {
	size_t n_ended;
	const char *const *ended_sandbox;   /* [n_ended] */
	const sbx_process *const *ended;    /* [n_ended] */
	size_t n_missing;
	const sbx_proc_ref *missing;        /* [n_missing] */
} sbx_exits;
typedef void (*sbx_exits_cb)(void *ud, sbx_result r, const sbx_error *err, const sbx_exits *x);
sbx_op *sbx_async_processes_wait(sbx_async *a, const sbx_proc_ref *refs, size_t n, int wait_seconds,
                                 sbx_exits_cb cb, void *ud);

/* ---------------------------------------------------------------- misc */

/* Base64 (standard alphabet with padding on encode; decode accepts missing
 * padding and the URL-safe alphabet). Caller frees. */
char *sbx_base64_encode(const void *data, size_t len, size_t *out_len);
sbx_result sbx_base64_decode(const char *text, size_t len, void **out, size_t *out_len);

const char *sbx_version(void);

#ifdef __cplusplus
}
#endif
#endif
