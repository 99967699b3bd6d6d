/*
 * Parsers for what sbxd reads from outside that the codec (wire/) does
 * not type: Kubernetes quantities, RFC 3339 times, integers, UTF-8 and
 * the JSON text checks done before any parse, the raw request target,
 * names and ids; and sbxd's own structs that the converters (spec.h,
 * procargs.h, fileargs.h) fill from the schema's messages. Pure
 * functions with no global state, so they are unit-tested table-driven
 * and fuzzed. Every failure returns -1 with a one-line message in `err`
 * (SRV_MSGLEN bytes) that is safe to send back to the client.
 */
#ifndef SRV_PARSE_H
#define SRV_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define SRV_MSGLEN 256
#define SRV_FIELDLEN 128

/* A request body's or URL's parse failure: the message and, when one field
 * is to blame, its path ("spec.tags[1]", "env.K", "sandboxId", "path") for
 * a google.rpc.BadRequest field violation; field "" when none. */
typedef struct srv_perr {
	char msg[SRV_MSGLEN];
	char field[SRV_FIELDLEN];
} srv_perr;

/* Caps of docs/api.md. */
#define SRV_MAX_BODY        (1u << 20)
#define SRV_MAX_WRITE_BODY  (16u << 20)
#define SRV_MAX_DEPTH       32
#define SRV_MAX_ARGV        4096
#define SRV_MAX_ARGV_BYTES  (128u << 10)
#define SRV_MAX_ENV         1024
#define SRV_MAX_ENV_BYTES   (128u << 10)
#define SRV_MAX_TAGS        64
#define SRV_MAX_TAG_LEN     256
#define SRV_MAX_LIFETIME    2592000
#define SRV_MAX_WAIT        60
#define SRV_MAX_READ        (4 << 20)
#define SRV_MAX_STDIN       (1u << 20)
#define SRV_MAX_PATH        4096
#define SRV_MAX_EGRESS      64   /* rules in spec.network.egress */
#define SRV_MAX_EXCEPT      64   /* except entries of one cidr */
#define SRV_MAX_PORTS       64   /* port ranges of one rule */
#define SRV_MAX_VOLUMES     16   /* spec.volumes */
#define SRV_MAX_VMOUNTS     32   /* containers[0].volumeMounts */
#define SRV_MAX_FILEMOUNTS  64   /* containers[0].files (all bounded by the body) */
/* One scratch volume's size: the default (no scratch.size) and bounds. */
#define SRV_VOLUME_DEFAULT_BYTES ((int64_t)1 << 30)
#define SRV_VOLUME_MIN_BYTES     ((int64_t)1 << 20)
#define SRV_VOLUME_MAX_BYTES     ((int64_t)64 << 30)

/* srv_parse_create / srv_spec_from_pb: -1 is a bad request (400),
 * SRV_PARSE_UNSUPPORTED a valid field sbxd cannot honour (501); either way
 * err names the field. */
#define SRV_PARSE_UNSUPPORTED (-2)

/* "500m", "2", "0.5" -> millicores. */
int srv_parse_cpu(const char *s, int64_t *millis, char *err);
/* "256Mi", "1G", "1048576", "1.5Gi" -> bytes. */
int srv_parse_memory(const char *s, int64_t *bytes, char *err);
/* Decimal integer in [min, max], whole string, no sign games. */
int srv_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Nanoseconds since the epoch <-> RFC 3339 UTC ("...Z", 0/3/6/9 fraction
 * digits as proto3 writes them). Parsing accepts any offset ("+02:00"). */
void srv_format_time(int64_t ns, char *buf, size_t len);
int srv_parse_time(const char *s, int64_t *ns);
/* The same as seconds and nanoseconds (0..999999999) since the epoch,
 * for times outside int64 nanoseconds (years 0000..9999). */
int srv_parse_timestamp(const char *s, int64_t *secs, int32_t *nanos);

/* UTF-8: the length of the well-formed sequence at s (n bytes left), 0 when
 * there is none (stray continuation, overlong form, surrogate, past
 * U+10FFFF, cut short). srv_utf8_valid: the whole of s[0..n) is UTF-8.
 * srv_utf8_fix: replaces, in place, every byte that starts no valid
 * sequence by '?'; returns how many it replaced. */
size_t srv_utf8_seq(const unsigned char *s, size_t n);
int srv_utf8_valid(const char *s, size_t n);
size_t srv_utf8_fix(char *s, size_t n);

/* Every string of a JSON text (member names too) is valid UTF-8 without
 * NUL (raw or \u0000) and nesting is at most SRV_MAX_DEPTH: 0, else -1
 * with the first offending field's path in e->field. cJSON copies bytes of
 * strings as they come, and cuts C strings at a NUL, so this is checked on
 * the text before cJSON sees it. */
int srv_json_check(const char *s, size_t len, srv_perr *e);

/* The raw request target ("/v1/sandboxes/ID:exec?path=%2Fx") before any
 * decoding: every path segment and query key and value, once
 * percent-decoded, is valid UTF-8 without NUL. 0, else -1 with the field
 * ("sandboxId", "processId", "url" for other segments, the query key). */
int srv_uri_check(const char *uri, srv_perr *e);

/* A JSON number (or decimal string) as an integer in [min, max]; -1 for
 * NaN, fractions, out of range: never an undefined double conversion
 * (sbxd's own records, core.c). */
struct cJSON;
int srv_json_int(const struct cJSON *it, int64_t min, int64_t max, int64_t *out);
int srv_double_to_int(double d, int64_t min, int64_t max, int64_t *out);

/* [A-Za-z0-9._-]{1,63}, not starting with '.'. */
int srv_valid_name(const char *s);
/* [A-Za-z0-9._-]{1,128}. */
int srv_valid_id(const char *s);

/* A NULL-terminated string vector, owned. */
typedef struct srv_strv {
	char **v;
	size_t n;
} srv_strv;
void srv_strv_free(srv_strv *sv);
int srv_strv_push(srv_strv *sv, const char *s);

/* spec.network: the schema's NetworkOptions, as much of it as sbxd can
 * honour (see docs/api.md). Ingress rules, tenant and selector
 * destinations and SCTP are refused at parse time, never dropped. */
enum { SRV_EGRESS_CIDR = 1, SRV_EGRESS_DNS, SRV_EGRESS_ANY };
enum { SRV_PORT_TCP = 1, SRV_PORT_UDP = 2 };
typedef struct srv_port_range {
	int proto;                   /* SRV_PORT_TCP or SRV_PORT_UDP */
	int32_t port, end_port;      /* end_port >= port (set to port when absent) */
} srv_port_range;
typedef struct srv_egress_rule {
	int kind;                    /* SRV_EGRESS_* */
	char *dest;                  /* the CIDR ("10.0.0.0/8", canonical) or
	                                the DNS name; NULL for any */
	srv_strv except;             /* CIDRs inside dest (cidr rules only) */
	srv_port_range *ports;       /* none: every port, TCP and UDP */
	size_t nports;
} srv_egress_rule;
typedef struct srv_netopts {
	int given;                   /* spec.network was an object */
	int deny_egress, deny_egress_set;
	int deny_ingress, deny_ingress_set;
	srv_egress_rule *egress;
	size_t negress;
} srv_netopts;
void srv_netopts_free(srv_netopts *n);
/* Made from the schema's NetworkOptions by spec.h's srv_netopts_from_pb,
 * and back by srv_netopts_to_pb. */

/* spec.volumes[] (scratch only), containers[0].volumeMounts[] and
 * containers[0].files[] as spec.c checked them (volume.h uses them). */
enum { SRV_MEDIUM_DISK = 1, SRV_MEDIUM_MEMORY = 2 };
typedef struct srv_volume_spec {
	char *name;                  /* [A-Za-z0-9._-]{1,63}, unique */
	int64_t size_bytes;          /* scratch.size (a quantity), or the default */
	int medium;                  /* SRV_MEDIUM_*: unspecified is DISK */
	char *restore_from;          /* scratch.restoreFromSnapshotId, "" none */
} srv_volume_spec;
typedef struct srv_vmount {
	char *volume;                /* a name of spec.volumes */
	char *mount_path;            /* absolute, normalised, not "/" */
	char *sub_path;              /* "" or relative, without ".." */
	int read_only;
} srv_vmount;
typedef struct srv_filemount {
	char *path;                  /* absolute, normalised */
	unsigned char *data;
	size_t len;
} srv_filemount;

/* The sandbox spec, as sbxd keeps it (spec.c makes it from the schema's
 * SandboxSpec). All strings owned. */
typedef struct srv_spec {
	char *name;                  /* "" when none: the tag sbxfs-name=NAME */
	char *image;
	srv_strv argv;               /* command + args; n == 0: idle */
	srv_strv env;                /* "K=V" */
	char *working_dir;
	char *cpu, *memory, *pids;   /* as given ("" if none); pids: the
	                                annotation sbxd.pids */
	int64_t cpu_millis, memory_bytes, max_pids;
	int64_t lifetime_s;          /* 0: server default */
	srv_strv tags;
	srv_netopts net;
	int args_only;               /* args given, command empty: argv is the
	                                args, run after the image's Entrypoint */
	srv_volume_spec *vols;
	size_t nvols;
	srv_vmount *vmounts;
	size_t nvmounts;
	srv_filemount *files;
	size_t nfiles;
	char *request_id;            /* CreateSandbox's ?requestId= */
	unsigned char *pb;           /* the SandboxSpec as asked, packed (echoed) */
	size_t pb_len;
} srv_spec;
void srv_spec_free(srv_spec *sp);
/* A create body (the schema's Sandbox as proto3 JSON, strict) -> *out
 * (spec.c: the codec, then srv_spec_from_pb): 0, -1 (400) or
 * SRV_PARSE_UNSUPPORTED (501), err naming the field. */
int srv_parse_create(const char *body, size_t len, srv_spec *out, srv_perr *err);

/* A process start or unary exec request. */
typedef struct srv_proc_req {
	srv_strv argv;
	srv_strv env;
	char *cwd;
	int want_stdin;
	int64_t timeout_s;
	int64_t max_output;          /* exec only */
	unsigned char *stdin_data;   /* exec only: decoded base64 */
	size_t stdin_len;
	char *request_id;            /* processes only: "" or the client's retry key */
} srv_proc_req;
void srv_proc_req_free(srv_proc_req *r);
/* Made from the request messages by procargs.h. */

/* The file calls (fileargs.h, rpc_files.h dispatch on these; the HTTP
 * routes themselves are wire/'s tables, matched by api.c). */
typedef enum srv_route_kind {
	R_NONE = 0,
	R_READ_FILE, R_WRITE_FILE, /* the real calls */
	R_LIST_DIR, R_STAT_FILE, R_MAKE_DIR, R_REMOVE_FILE, /* the "files" extension */
	R_CREATE_FILE, R_SET_FILE_ATTRS, R_RENAME_FILE, /* the "posix" extension */
	R_CREATE_SYMLINK, R_LINK_FILE, R_MAKE_NODE, R_STAT_FILE_SYSTEM,
	R_GET_XATTR, R_LIST_XATTRS, R_SET_XATTR, R_REMOVE_XATTR,
	R_READ_FILE_RANGE, R_WRITE_FILE_AT, /* the "files" extension's ranged I/O */
} srv_route_kind;

#endif
