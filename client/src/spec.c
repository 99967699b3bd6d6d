/*
 * Sandbox specs and process requests (see spec.h): builders, the parsers of
 * user text written to clone files (a line runs under /bin/sh -c, a JSON
 * object is the structured form), their wire JSON, and shell quoting for
 * cmd files. Every parser caps sizes and names the problem in its message.
 */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "pb.h"
#include "util.h"

static void kv_free(sbx_kv *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

static int env_key_ok(const char *k)
{
	if (!k || !*k || strchr(k, '='))
		return 0;
	return 1;
}

static sbx_result kv_add(sbx_kv **v, size_t *n, const char *key, const char *value, sbx_error *err)
{
	if (!env_key_ok(key) || !value)
		return sbx_fail(err, SBX_E_INVALID, "bad environment variable name");
	if (*n >= SBX_MAX_ENV)
		return sbx_fail(err, SBX_E_INVALID, "too many environment variables (max %d)", SBX_MAX_ENV);
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*v)[i].key, key) == 0) {
			char *nv = strdup(value);
			if (!nv)
				return sbx_fail(err, SBX_E_NOMEM, "out of memory");
			free((*v)[i].value);
			(*v)[i].value = nv;
			return SBX_OK;
		}
	}
	sbx_kv *p = realloc(*v, (*n + 1) * sizeof *p);
	if (!p)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	*v = p;
	p[*n].key = strdup(key);
	p[*n].value = strdup(value);
	if (!p[*n].key || !p[*n].value) {
		free(p[*n].key);
		free(p[*n].value);
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	(*n)++;
	return SBX_OK;
}

static sbx_result argv_set(char ***dst, const char *const *argv, sbx_error *err)
{
	size_t n = 0, total = 0;
	while (argv && argv[n]) {
		total += strlen(argv[n]) + 1;
		n++;
	}
	if (n > SBX_MAX_ARGV || total > SBX_MAX_TEXT)
		return sbx_fail(err, SBX_E_INVALID, "command too long (max %d arguments, %d bytes)", SBX_MAX_ARGV,
		                SBX_MAX_TEXT);
	char **v = NULL;
	if (n > 0) {
		v = sbx_strv_dup(argv, NULL);
		if (!v)
			return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	sbx_strv_free(*dst);
	*dst = v;
	return SBX_OK;
}

static sbx_result str_set(char **dst, const char *s, sbx_error *err)
{
	char *v = NULL;
	if (s) {
		if (strlen(s) > 4096)
			return sbx_fail(err, SBX_E_INVALID, "value too long");
		v = strdup(s);
		if (!v)
			return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	free(*dst);
	*dst = v;
	return SBX_OK;
}

/* ------------------------------------------------------------ spec */

sbx_spec *sbx_spec_new(void)
{
	return calloc(1, sizeof(sbx_spec));
}

void sbx_spec_free(sbx_spec *sp)
{
	if (!sp)
		return;
	free(sp->name);
	free(sp->image);
	free(sp->cwd);
	sbx_strv_free(sp->argv);
	kv_free(sp->env, sp->nenv);
	for (size_t i = 0; i < sp->ntags; i++)
		free(sp->tags[i]);
	free(sp->tags);
	wire_message_free(sp->network);
	for (size_t i = 0; i < sp->nvolumes; i++)
		wire_message_free(sp->volumes[i]);
	for (size_t i = 0; i < sp->nvmounts; i++)
		wire_message_free(sp->vmounts[i]);
	for (size_t i = 0; i < sp->nfiles; i++)
		wire_message_free(sp->files[i]);
	free(sp->volumes);
	free(sp->vmounts);
	free(sp->files);
	free(sp);
}

/* A JSON array of the schema's messages d (spec.volumes' SandboxVolume,
 * volumeMounts' VolumeMount, files' FileMount), each checked by the codec
 * as the service would (a typo is named now, not at create). */
static sbx_result json_messages(const cJSON *arr, const char *what, const ProtobufCMessageDescriptor *d, size_t max,
                                ProtobufCMessage ***out, size_t *n, sbx_error *err)
{
	if (!cJSON_IsArray(arr))
		return sbx_fail(err, SBX_E_INVALID, "\"%s\" must be an array of objects", what);
	size_t cnt = (size_t)cJSON_GetArraySize(arr);
	if (cnt > max)
		return sbx_fail(err, SBX_E_INVALID, "\"%s\" has more than %zu entries", what, max);
	if (*n)
		return sbx_fail(err, SBX_E_INVALID, "\"%s\" given twice", what);
	if (cnt && !(*out = calloc(cnt, sizeof **out)))
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		char *txt = cJSON_IsObject(e) ? cJSON_PrintUnformatted(e) : NULL;
		if (!txt)
			return sbx_fail(err, cJSON_IsObject(e) ? SBX_E_NOMEM : SBX_E_INVALID,
			                cJSON_IsObject(e) ? "out of memory" : "\"%s\" must be an array of objects", what);
		ProtobufCMessage *m = NULL;
		wire_err we;
		int rc = wire_json_decode(d, txt, strlen(txt), NULL, &m, &we);
		free(txt);
		if (rc)
			return sbx_fail(err, rc == -ENOMEM ? SBX_E_NOMEM : SBX_E_INVALID, "\"%s[%zu]\": %s", what, *n,
			                we.msg);
		(*out)[(*n)++] = m;
	}
	return SBX_OK;
}

static int name_ok(const char *n)
{
	size_t l = strlen(n);
	if (l < 1 || l > 63 || n[0] == '.')
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			return 0;
	return 1;
}

sbx_result sbx_spec_set_name(sbx_spec *sp, const char *name, sbx_error *err)
{
	if (name && !name_ok(name))
		return sbx_fail(err, SBX_E_INVALID,
		                "bad sandbox name \"%.64s\": use 1-63 of [A-Za-z0-9._-], not starting with a dot", name);
	return str_set(&sp->name, name, err);
}

sbx_result sbx_spec_set_image(sbx_spec *sp, const char *image, sbx_error *err)
{
	return str_set(&sp->image, image, err);
}

sbx_result sbx_spec_set_command(sbx_spec *sp, const char *const *argv, sbx_error *err)
{
	if (argv && argv[0] && !argv[0][0])
		return sbx_fail(err, SBX_E_INVALID, "the command starts with an empty string");
	sp->args_only = 0;
	return argv_set(&sp->argv, argv, err);
}

sbx_result sbx_spec_set_shell_command(sbx_spec *sp, const char *line, sbx_error *err)
{
	if (!line || !*line)
		return argv_set(&sp->argv, NULL, err);
	const char *argv[] = {"/bin/sh", "-c", line, NULL};
	return argv_set(&sp->argv, argv, err);
}

sbx_result sbx_spec_add_env(sbx_spec *sp, const char *key, const char *value, sbx_error *err)
{
	return kv_add(&sp->env, &sp->nenv, key, value, err);
}

sbx_result sbx_spec_add_tag(sbx_spec *sp, const char *tag, sbx_error *err)
{
	if (!tag || !*tag || strlen(tag) > 256)
		return sbx_fail(err, SBX_E_INVALID, "bad tag (1-256 bytes)");
	if (sp->ntags >= 64)
		return sbx_fail(err, SBX_E_INVALID, "too many tags (max 64)");
	for (size_t i = 0; i < sp->ntags; i++)
		if (strcmp(sp->tags[i], tag) == 0)
			return SBX_OK;
	char **p = realloc(sp->tags, (sp->ntags + 1) * sizeof *p);
	if (!p)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	sp->tags = p;
	p[sp->ntags] = strdup(tag);
	if (!p[sp->ntags])
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	sp->ntags++;
	return SBX_OK;
}

void sbx_spec_set_resources(sbx_spec *sp, int64_t cpu_millis, int64_t memory_bytes, int64_t pids)
{
	sp->cpu_millis = cpu_millis > 0 ? cpu_millis : 0;
	sp->memory_bytes = memory_bytes > 0 ? memory_bytes : 0;
	sp->pids = pids > 0 ? pids : 0;
}

void sbx_spec_set_lifetime(sbx_spec *sp, int64_t max_lifetime_seconds)
{
	sp->lifetime = max_lifetime_seconds > 0 ? max_lifetime_seconds : 0;
}

/* The schema's NetworkOptions for a word: egress anywhere (one EgressRule
 * with any), or none at all (denyEgress); malloc'd parts throughout, so
 * wire_message_free frees it. */
static ProtobufCMessage *network_new(int egress)
{
	Coreweave__Sandbox__V1__NetworkOptions *n = malloc(sizeof *n);
	if (!n)
		return NULL;
	coreweave__sandbox__v1__network_options__init(n);
	if (!egress) {
		n->_deny_egress_case = COREWEAVE__SANDBOX__V1__NETWORK_OPTIONS___DENY_EGRESS_DENY_EGRESS;
		n->deny_egress = 1;
		return &n->base;
	}
	Coreweave__Sandbox__V1__EgressRule *r = malloc(sizeof *r);
	n->egress = malloc(sizeof *n->egress);
	if (!r || !n->egress) {
		free(r);
		free(n->egress);
		free(n);
		return NULL;
	}
	coreweave__sandbox__v1__egress_rule__init(r);
	r->destination_case = COREWEAVE__SANDBOX__V1__EGRESS_RULE__DESTINATION_ANY;
	r->any = 1;
	n->egress[0] = r;
	n->n_egress = 1;
	return &n->base;
}

void sbx_spec_set_network(sbx_spec *sp, int egress)
{
	ProtobufCMessage *n = network_new(egress);
	if (n) {
		wire_message_free(sp->network);
		sp->network = n;
	}
}

/* Kubernetes quantities: "2", "0.5", "500m" cores; bytes with k/M/G/T or
 * Ki/Mi/Gi/Ti. */
static int parse_cpu(const cJSON *it, int64_t *out)
{
	if (cJSON_IsNumber(it)) {
		double d = it->valuedouble;
		if (!isfinite(d) || d < 0 || d > 1e6)
			return -1;
		*out = (int64_t)llround(d * 1000);
		return 0;
	}
	if (!cJSON_IsString(it))
		return -1;
	const char *s = it->valuestring;
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (errno || end == s || !isfinite(d) || d < 0)
		return -1;
	if (strcmp(end, "m") == 0) {
		if (d > 1e9 || d != floor(d))
			return -1;
		*out = (int64_t)d;
	} else if (*end == '\0') {
		if (d > 1e6)
			return -1;
		*out = (int64_t)llround(d * 1000);
	} else {
		return -1;
	}
	return 0;
}

static int parse_bytes(const cJSON *it, int64_t *out)
{
	if (cJSON_IsNumber(it))
		return sbx_json_item_i64(it, out) == 0 && *out >= 0 ? 0 : -1;
	if (!cJSON_IsString(it))
		return -1;
	const char *s = it->valuestring;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	static const struct { const char *suf; int64_t mul; } sufs[] = {
		{"", 1}, {"k", 1000LL}, {"K", 1000LL}, {"M", 1000000LL}, {"G", 1000000000LL}, {"T", 1000000000000LL},
		{"Ki", 1LL << 10}, {"Mi", 1LL << 20}, {"Gi", 1LL << 30}, {"Ti", 1LL << 40},
	};
	for (size_t i = 0; i < sizeof sufs / sizeof *sufs; i++) {
		if (strcmp(end, sufs[i].suf) == 0) {
			if (v > INT64_MAX / sufs[i].mul)
				return -1;
			*out = v * sufs[i].mul;
			return 0;
		}
	}
	return -1;
}

/* ------------------------------------------------------------ options */

/* The network words of an option: the one place where "none" / "egress"
 * become the spec's network (sbx_spec_set_network), so a change of the
 * spec's network shape changes only this table. */
static const struct {
	const char *word;
	int egress;
} network_words[] = {
	{"none", 0},
	{"egress", 1},
};

sbx_result sbx_spec_set_option(sbx_spec *sp, const char *key, const char *value, sbx_error *err)
{
	if (!key || !value)
		return sbx_fail(err, SBX_E_INVALID, "no option");
	if (strcmp(key, "image") == 0)
		return *value ? sbx_spec_set_image(sp, value, err) : sbx_fail(err, SBX_E_INVALID, "image: empty");
	if (strcmp(key, "network") == 0) {
		for (size_t i = 0; i < sizeof network_words / sizeof *network_words; i++)
			if (strcmp(value, network_words[i].word) == 0) {
				sbx_spec_set_network(sp, network_words[i].egress);
				return SBX_OK;
			}
		return sbx_fail(err, SBX_E_INVALID, "network: \"%.32s\" is not none or egress", value);
	}
	cJSON *v = cJSON_CreateString(value);
	if (!v)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	int64_t n = 0;
	sbx_result r = SBX_OK;
	if (strcmp(key, "cpu") == 0) {
		if (parse_cpu(v, &n) != 0 || n < 1)
			r = sbx_fail(err, SBX_E_INVALID, "cpu: \"%.32s\" is not a quantity like 2, 0.5 or 500m", value);
		else
			sp->cpu_millis = n;
	} else if (strcmp(key, "memory") == 0) {
		if (parse_bytes(v, &n) != 0 || n < 1)
			r = sbx_fail(err, SBX_E_INVALID, "memory: \"%.32s\" is not a size like 512Mi or 2G", value);
		else
			sp->memory_bytes = n;
	} else if (strcmp(key, "lifetime") == 0) {
		char *end;
		errno = 0;
		long long s = strtoll(value, &end, 10);
		if (errno || end == value || *end || s < 1 || s > SBX_MAX_LIFETIME)
			r = sbx_fail(err, SBX_E_INVALID, "lifetime: \"%.32s\" is not 1..%d seconds", value,
				     SBX_MAX_LIFETIME);
		else
			sp->lifetime = s;
	} else {
		r = sbx_fail(err, SBX_E_INVALID, "unknown option \"%.32s\" (image, network, lifetime, cpu, memory)", key);
	}
	cJSON_Delete(v);
	return r;
}

static sbx_result json_argv(const cJSON *arr, const char *what, char ***dst, sbx_error *err)
{
	int n = cJSON_GetArraySize(arr);
	if (n > SBX_MAX_ARGV)
		return sbx_fail(err, SBX_E_INVALID, "\"%s\" has too many entries (max %d)", what, SBX_MAX_ARGV);
	const char **v = calloc((size_t)n + 1, sizeof *v);
	if (!v)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	int k = 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, arr) {
		if (!cJSON_IsString(a)) {
			free(v);
			return sbx_fail(err, SBX_E_INVALID, "\"%s\" must be an array of strings", what);
		}
		v[k++] = a->valuestring;
	}
	sbx_result r = argv_set(dst, v, err);
	free(v);
	return r;
}

static sbx_result json_env(const cJSON *obj, sbx_kv **v, size_t *n, sbx_error *err)
{
	if (!cJSON_IsObject(obj))
		return sbx_fail(err, SBX_E_INVALID, "\"env\" must be an object of strings");
	const cJSON *e;
	cJSON_ArrayForEach(e, obj) {
		if (!cJSON_IsString(e))
			return sbx_fail(err, SBX_E_INVALID, "\"env\" value of %.64s must be a string", e->string);
		if (!env_key_ok(e->string))
			return sbx_fail(err, SBX_E_INVALID, "bad environment variable name \"%.64s\"", e->string);
		sbx_result r = kv_add(v, n, e->string, e->valuestring, err);
		if (r != SBX_OK)
			return r;
	}
	return SBX_OK;
}

static int64_t int_or(const cJSON *it, int64_t lo, int64_t hi, int *bad)
{
	int64_t v;
	if (sbx_json_item_i64(it, &v) != 0 || v < lo || v > hi) {
		*bad = 1;
		return 0;
	}
	return v;
}

static sbx_result text_checks(const char *text, size_t len, sbx_error *err)
{
	if (!text && len)
		return sbx_fail(err, SBX_E_INVALID, "no text");
	if (len > SBX_MAX_TEXT)
		return sbx_fail(err, SBX_E_INVALID, "text too long (max %d bytes)", SBX_MAX_TEXT);
	if (len && memchr(text, '\0', len))
		return sbx_fail(err, SBX_E_INVALID, "text holds a NUL byte");
	return SBX_OK;
}

/* Whether a JSON string in text holds an escaped NUL (\u0000): cJSON ends
 * its C strings there, so "a\u0000b" would silently become "a". Tracks
 * strings and escapes so "\\u0000" (a backslash, then text) is not one. */
static int has_escaped_nul(const char *text, size_t len)
{
	int in_str = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (!in_str) {
			if (c == '"')
				in_str = 1;
			continue;
		}
		if (c == '"') {
			in_str = 0;
		} else if (c == '\\' && i + 1 < len) {
			if (text[i + 1] == 'u' && i + 5 < len && text[i + 2] == '0' && text[i + 3] == '0' &&
			    text[i + 4] == '0' && text[i + 5] == '0')
				return 1;
			i++;    /* the escaped character */
		}
	}
	return 0;
}

static cJSON *parse_user_json(const char *text, size_t len, sbx_error *err)
{
	if (has_escaped_nul(text, len)) {
		sbx_fail(err, SBX_E_INVALID, "a JSON string holds \\u0000 (NUL is not allowed in commands, names or values)");
		return NULL;
	}
	if (sbx_json_too_deep(text, len, SBX_JSON_MAX_DEPTH)) {
		sbx_fail(err, SBX_E_INVALID, "JSON nests deeper than %d", SBX_JSON_MAX_DEPTH);
		return NULL;
	}
	cJSON *root = sbx_json_parse(text, len);
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		sbx_fail(err, SBX_E_INVALID, "malformed JSON: expected one object");
		return NULL;
	}
	return root;
}

/* A line of text: trailing newlines and blanks go (what echo adds). */
static size_t trim_len(const char *text, size_t len)
{
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
	                   text[len - 1] == '\t'))
		len--;
	return len;
}

static size_t skip_lead(const char *text, size_t len)
{
	size_t i = 0;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	return i;
}

/* Skips blanks; returns whether the text is a JSON object. */
static int looks_json(const char *text, size_t len)
{
	size_t i = skip_lead(text, len);
	return i < len && text[i] == '{';
}

/* The text form of a spec or exec request: one line without the blanks
 * around it, or *line NULL when only blanks are there. */
static sbx_result text_line(const char *text, size_t len, char **line, sbx_error *err)
{
	size_t lead = skip_lead(text, len);
	size_t n = trim_len(text, len);
	*line = NULL;
	if (n <= lead)
		return SBX_OK;
	if (!(*line = sbx_strndup(text + lead, n - lead)))
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	return SBX_OK;
}

sbx_result sbx_spec_parse(const char *text, size_t len, sbx_spec **out, sbx_error *err)
{
	sbx_result r;
	cJSON *root = NULL;
	sbx_spec *sp = NULL;
	*out = NULL;
	if ((r = text_checks(text, len, err)) != SBX_OK)
		goto out;
	sp = sbx_spec_new();
	if (!sp) {
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	if (!looks_json(text, len)) {
		char *line;
		if ((r = text_line(text, len, &line, err)) != SBX_OK)
			goto out;
		if (line) {
			r = sbx_spec_set_shell_command(sp, line, err);
			free(line);
			if (r != SBX_OK)
				goto out;
		}
		goto done;
	}
	root = parse_user_json(text, len, err);
	if (!root) {
		r = SBX_E_INVALID;
		goto out;
	}
	const cJSON *spec = root;
	const cJSON *inner = cJSON_GetObjectItemCaseSensitive(root, "spec");
	if (inner) {
		if (!cJSON_IsObject(inner)) {
			r = sbx_fail(err, SBX_E_INVALID, "\"spec\" must be an object");
			goto out;
		}
		spec = inner;
	}
	const cJSON *it;
	const cJSON *args = NULL;
	int bad = 0;
	cJSON_ArrayForEach(it, spec) {
		const char *k = it->string;
		if (spec == root && strcmp(k, "requestId") == 0)
			continue;
		if (strcmp(k, "name") == 0) {
			if (!cJSON_IsString(it)) {
				r = sbx_fail(err, SBX_E_INVALID, "\"name\" must be a string");
				goto out;
			}
			if ((r = sbx_spec_set_name(sp, it->valuestring, err)) != SBX_OK)
				goto out;
		} else if (strcmp(k, "image") == 0) {
			if (!cJSON_IsString(it)) {
				r = sbx_fail(err, SBX_E_INVALID, "\"image\" must be a string");
				goto out;
			}
			if ((r = sbx_spec_set_image(sp, it->valuestring, err)) != SBX_OK)
				goto out;
		} else if (strcmp(k, "command") == 0) {
			/* The wire form is a string plus "args"; users also write
			 * an argv array, and a lone string then runs as it is. */
			if (cJSON_IsArray(it)) {
				if ((r = json_argv(it, "command", &sp->argv, err)) != SBX_OK)
					goto out;
				if (sp->argv && !sp->argv[0][0]) {
					r = sbx_fail(err, SBX_E_INVALID, "\"command\" starts with an empty string");
					goto out;
				}
			} else if (cJSON_IsString(it)) {
				const char *one[] = {it->valuestring, NULL};
				if ((r = argv_set(&sp->argv, it->valuestring[0] ? one : NULL, err)) != SBX_OK)
					goto out;
			} else {
				r = sbx_fail(err, SBX_E_INVALID, "\"command\" must be a string or an array of strings");
				goto out;
			}
		} else if (strcmp(k, "args") == 0) {
			if (!cJSON_IsArray(it)) {
				r = sbx_fail(err, SBX_E_INVALID, "\"args\" must be an array of strings");
				goto out;
			}
			args = it;
		} else if (strcmp(k, "env") == 0) {
			if ((r = json_env(it, &sp->env, &sp->nenv, err)) != SBX_OK)
				goto out;
		} else if (strcmp(k, "workingDir") == 0 || strcmp(k, "cwd") == 0) {
			if (!cJSON_IsString(it)) {
				r = sbx_fail(err, SBX_E_INVALID, "\"%s\" must be a string", k);
				goto out;
			}
			if ((r = str_set(&sp->cwd, it->valuestring, err)) != SBX_OK)
				goto out;
		} else if (strcmp(k, "resources") == 0) {
			if (!cJSON_IsObject(it)) {
				r = sbx_fail(err, SBX_E_INVALID, "\"resources\" must be an object");
				goto out;
			}
			const cJSON *q;
			cJSON_ArrayForEach(q, it) {
				int ok;
				if (strcmp(q->string, "cpu") == 0)
					ok = parse_cpu(q, &sp->cpu_millis) == 0;
				else if (strcmp(q->string, "memory") == 0)
					ok = parse_bytes(q, &sp->memory_bytes) == 0;
				else if (strcmp(q->string, "pids") == 0)
					ok = parse_bytes(q, &sp->pids) == 0 && sp->pids <= 4194304;
				else {
					r = sbx_fail(err, SBX_E_INVALID, "unknown resource \"%.64s\" (cpu, memory, pids)",
					             q->string);
					goto out;
				}
				if (!ok) {
					r = sbx_fail(err, SBX_E_INVALID, "bad quantity for resource \"%s\"", q->string);
					goto out;
				}
			}
		} else if (strcmp(k, "maxLifetimeSeconds") == 0) {
			sp->lifetime = int_or(it, 0, 2592000, &bad);
			if (bad) {
				r = sbx_fail(err, SBX_E_INVALID, "\"maxLifetimeSeconds\" must be 0..2592000");
				goto out;
			}
		} else if (strcmp(k, "tags") == 0) {
			if (!cJSON_IsArray(it)) {
				r = sbx_fail(err, SBX_E_INVALID, "\"tags\" must be an array of strings");
				goto out;
			}
			const cJSON *t;
			cJSON_ArrayForEach(t, it) {
				if (!cJSON_IsString(t)) {
					r = sbx_fail(err, SBX_E_INVALID, "\"tags\" must be an array of strings");
					goto out;
				}
				if ((r = sbx_spec_add_tag(sp, t->valuestring, err)) != SBX_OK)
					goto out;
			}
		} else if (strcmp(k, "network") == 0) {
			/* The schema's NetworkOptions, checked here by the codec (a
			 * typo is named now, not by the service at create); sbxd
			 * refuses what it cannot honour. */
			char *txt = cJSON_IsObject(it) ? cJSON_PrintUnformatted(it) : NULL;
			if (!txt) {
				r = sbx_fail(err, cJSON_IsObject(it) ? SBX_E_NOMEM : SBX_E_INVALID,
				             cJSON_IsObject(it) ? "out of memory"
				                                : "\"network\" must be a NetworkOptions object like "
				                                  "{\"egress\": [{\"any\": true}]}");
				goto out;
			}
			ProtobufCMessage *nm = NULL;
			wire_err we;
			int rc = wire_json_decode(&coreweave__sandbox__v1__network_options__descriptor, txt, strlen(txt), NULL,
			                          &nm, &we);
			free(txt);
			if (rc) {
				r = sbx_fail(err, rc == -ENOMEM ? SBX_E_NOMEM : SBX_E_INVALID, "\"network\": %s", we.msg);
				goto out;
			}
			wire_message_free(sp->network);
			sp->network = nm;
		} else if (strcmp(k, "volumes") == 0) {
			if ((r = json_messages(it, "volumes", &coreweave__sandbox__v1__sandbox_volume__descriptor, 16,
			                       &sp->volumes, &sp->nvolumes, err)) != SBX_OK)
				goto out;
		} else if (strcmp(k, "volumeMounts") == 0) {
			if ((r = json_messages(it, "volumeMounts", &coreweave__sandbox__v1__volume_mount__descriptor, 32,
			                       &sp->vmounts, &sp->nvmounts, err)) != SBX_OK)
				goto out;
		} else if (strcmp(k, "files") == 0) {
			if ((r = json_messages(it, "files", &coreweave__sandbox__v1__file_mount__descriptor, 64,
			                       &sp->files, &sp->nfiles, err)) != SBX_OK)
				goto out;
		} else {
			/* A typo in a hand-written spec should not pass silently. */
			r = sbx_fail(err, SBX_E_INVALID, "unknown field \"%.64s\" in the sandbox spec", k);
			goto out;
		}
	}
	if (args && !sp->argv) {
		/* The real API's rule: no command runs the image's entrypoint,
		 * with these args (sbxd refuses an image that has none). */
		if ((r = json_argv(args, "args", &sp->argv, err)) != SBX_OK)
			goto out;
		sp->args_only = sp->argv != NULL;
	} else if (args) {
		char **rest = NULL;
		if ((r = json_argv(args, "args", &rest, err)) != SBX_OK)
			goto out;
		size_t n1 = 0, n2 = 0;
		while (sp->argv[n1])
			n1++;
		while (rest && rest[n2])
			n2++;
		const char **all = calloc(n1 + n2 + 1, sizeof *all);
		if (!all) {
			sbx_strv_free(rest);
			r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n1; i++)
			all[i] = sp->argv[i];
		for (size_t i = 0; i < n2; i++)
			all[n1 + i] = rest[i];
		char **old = sp->argv;
		sp->argv = NULL;
		r = argv_set(&sp->argv, all, err);
		free(all);
		sbx_strv_free(rest);
		sbx_strv_free(old);
		if (r != SBX_OK)
			goto out;
	}
done:
	*out = sp;
	sp = NULL;
	r = SBX_OK;
out:
	cJSON_Delete(root);
	sbx_spec_free(sp);
	return r;
}

static void fmt_quantity_bytes(char *buf, size_t n, int64_t v)
{
	if (v > 0 && v % (1LL << 30) == 0)
		snprintf(buf, n, "%lldGi", (long long)(v >> 30));
	else if (v > 0 && v % (1LL << 20) == 0)
		snprintf(buf, n, "%lldMi", (long long)(v >> 20));
	else
		snprintf(buf, n, "%lld", (long long)v);
}

/* The image sbxd (and libsbx) name when none is configured (WIRE-CONTRACT
 * point 4: an image is required on the wire). */
#define SBX_DEFAULT_IMAGE "default"
/* The annotation that carries the pids limit, which the schema's
 * Resources lack (WIRE-CONTRACT point 4). */
#define SBX_PIDS_ANNOTATION "sbxd.pids"

void sbx_spec_pb_free(sbx_spec_pb *p)
{
	if (!p)
		return;
	free(p->env);
	free(p->envp);
	free(p->tags);
	memset(p, 0, sizeof *p);
}

sbx_result sbx_spec_to_pb(const sbx_spec *sp, sbx_spec_pb *p, sbx_error *err)
{
	memset(p, 0, sizeof *p);
	coreweave__sandbox__v1__sandbox__init(&p->sandbox);
	coreweave__sandbox__v1__sandbox_spec__init(&p->spec);
	coreweave__sandbox__v1__container__init(&p->main);
	coreweave__sandbox__v1__resources__init(&p->res);
	coreweave__sandbox__v1__sandbox_spec__annotations_entry__init(&p->pids);
	p->sandbox.spec = &p->spec;
	p->mainp = &p->main;
	p->spec.containers = &p->mainp;
	p->spec.n_containers = 1;
	/* One container, "main": what the SDK sends, and the one sbxd runs. */
	p->main.name = (char *)"main";
	p->main.image = (char *)(sp->image && sp->image[0] ? sp->image : SBX_DEFAULT_IMAGE);
	if (sp->argv && sp->argv[0] && sp->args_only) {
		size_t n = 0;
		while (sp->argv[n])
			n++;
		p->noargs[0] = '\0';
		p->main.command = p->noargs;
		p->main.args = sp->argv;
		p->main.n_args = n;
	} else if (sp->argv && sp->argv[0]) {
		p->main.command = sp->argv[0];
		size_t n = 0;
		while (sp->argv[n + 1])
			n++;
		p->main.args = sp->argv + 1;
		p->main.n_args = n;
	}
	if (sp->nenv) {
		p->env = calloc(sp->nenv, sizeof *p->env);
		p->envp = calloc(sp->nenv, sizeof *p->envp);
		if (!p->env || !p->envp)
			goto nomem;
		for (size_t i = 0; i < sp->nenv; i++) {
			coreweave__sandbox__v1__container__environment_variables_entry__init(&p->env[i]);
			p->env[i].key = sp->env[i].key;
			p->env[i].value = sp->env[i].value;
			p->envp[i] = &p->env[i];
		}
		p->main.environment_variables = p->envp;
		p->main.n_environment_variables = sp->nenv;
	}
	if (sp->cwd)
		p->main.working_dir = sp->cwd;
	if (sp->cpu_millis || sp->memory_bytes) {
		if (sp->cpu_millis % 1000 == 0)
			snprintf(p->cpu, sizeof p->cpu, "%lld", (long long)(sp->cpu_millis / 1000));
		else
			snprintf(p->cpu, sizeof p->cpu, "%lldm", (long long)sp->cpu_millis);
		fmt_quantity_bytes(p->mem, sizeof p->mem, sp->memory_bytes);
		if (sp->cpu_millis)
			p->res.cpu = p->cpu;
		if (sp->memory_bytes)
			p->res.memory = p->mem;
		p->main.resources = &p->res;
	}
	if (sp->lifetime < 0 || sp->lifetime > SBX_MAX_LIFETIME)
		return sbx_fail(err, SBX_E_INVALID, "maxLifetimeSeconds must be 0..%d", SBX_MAX_LIFETIME);
	p->spec.max_lifetime_seconds = (int32_t)sp->lifetime;
	/* The sbxfs name travels as a tag: the schema has no name. */
	int name_tagged = 0;
	if (sp->name) {
		int n = snprintf(p->nametag, sizeof p->nametag, "%s%s", SBX_NAME_TAG, sp->name);
		if (n < 0 || (size_t)n >= sizeof p->nametag)
			return sbx_fail(err, SBX_E_INVALID, "name too long");
		for (size_t i = 0; i < sp->ntags; i++)
			name_tagged |= strcmp(sp->tags[i], p->nametag) == 0;
	}
	size_t nt = sp->ntags + (sp->name && !name_tagged);
	if (nt) {
		p->tags = calloc(nt, sizeof *p->tags);
		if (!p->tags)
			goto nomem;
		for (size_t i = 0; i < sp->ntags; i++)
			p->tags[i] = sp->tags[i];
		if (sp->name && !name_tagged)
			p->tags[sp->ntags] = p->nametag;
		p->spec.tags = p->tags;
		p->spec.n_tags = nt;
	}
	if (sp->network)
		p->spec.network = (Coreweave__Sandbox__V1__NetworkOptions *)sp->network;
	p->spec.volumes = (Coreweave__Sandbox__V1__SandboxVolume **)sp->volumes;
	p->spec.n_volumes = sp->nvolumes;
	p->main.volume_mounts = (Coreweave__Sandbox__V1__VolumeMount **)sp->vmounts;
	p->main.n_volume_mounts = sp->nvmounts;
	p->main.files = (Coreweave__Sandbox__V1__FileMount **)sp->files;
	p->main.n_files = sp->nfiles;
	if (sp->pids) {
		snprintf(p->pidtext, sizeof p->pidtext, "%lld", (long long)sp->pids);
		p->pids.key = (char *)SBX_PIDS_ANNOTATION;
		p->pids.value = p->pidtext;
		p->pidsp = &p->pids;
		p->spec.annotations = &p->pidsp;
		p->spec.n_annotations = 1;
	}
	return SBX_OK;
nomem:
	sbx_spec_pb_free(p);
	return sbx_fail(err, SBX_E_NOMEM, "out of memory");
}

/* ------------------------------------------------------------ exec req */

sbx_exec_req *sbx_exec_req_new(void)
{
	return calloc(1, sizeof(sbx_exec_req));
}

void sbx_exec_req_free(sbx_exec_req *r)
{
	if (!r)
		return;
	sbx_strv_free(r->argv);
	free(r->cwd);
	kv_free(r->env, r->nenv);
	free(r);
}

sbx_result sbx_exec_req_set_argv(sbx_exec_req *r, const char *const *argv, sbx_error *err)
{
	if (!argv || !argv[0])
		return sbx_fail(err, SBX_E_INVALID, "empty command");
	return argv_set(&r->argv, argv, err);
}

sbx_result sbx_exec_req_add_env(sbx_exec_req *r, const char *key, const char *value, sbx_error *err)
{
	return kv_add(&r->env, &r->nenv, key, value, err);
}

sbx_result sbx_exec_req_set_cwd(sbx_exec_req *r, const char *cwd, sbx_error *err)
{
	return str_set(&r->cwd, cwd && *cwd ? cwd : NULL, err);
}

void sbx_exec_req_set_stdin(sbx_exec_req *r, int on)
{
	r->stdin_on = on != 0;
}

void sbx_exec_req_set_timeout(sbx_exec_req *r, int seconds)
{
	r->timeout = seconds > 0 ? seconds : 0;
}

sbx_result sbx_exec_req_set_request_id(sbx_exec_req *r, const char *rid, sbx_error *err)
{
	size_t n = rid ? strlen(rid) : 0;
	if (n == 0 || n > SBX_REQUEST_ID_MAX)
		return sbx_fail(err, SBX_E_INVALID, "a request id has 1..%d characters", SBX_REQUEST_ID_MAX);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)rid[i]) && rid[i] != '-' && rid[i] != '_')
			return sbx_fail(err, SBX_E_INVALID, "a request id is letters, digits, - and _");
	memcpy(r->request_id, rid, n + 1);
	return SBX_OK;
}

const char *sbx_exec_req_request_id(sbx_exec_req *r)
{
	if (!r->request_id[0] && sbx_random_hex(r->request_id) != 0)
		r->request_id[0] = '\0';
	return r->request_id[0] ? r->request_id : NULL;
}

sbx_exec_req *sbx_exec_req_dup(const sbx_exec_req *r)
{
	sbx_exec_req *d = sbx_exec_req_new();
	if (!d)
		return NULL;
	d->stdin_on = r->stdin_on;
	d->timeout = r->timeout;
	memcpy(d->request_id, r->request_id, sizeof d->request_id);
	if ((r->argv && argv_set(&d->argv, (const char *const *)r->argv, NULL) != SBX_OK) ||
	    (r->cwd && !(d->cwd = strdup(r->cwd)))) {
		sbx_exec_req_free(d);
		return NULL;
	}
	for (size_t i = 0; i < r->nenv; i++)
		if (kv_add(&d->env, &d->nenv, r->env[i].key, r->env[i].value, NULL) != SBX_OK) {
			sbx_exec_req_free(d);
			return NULL;
		}
	return d;
}

sbx_result sbx_exec_req_parse(const char *text, size_t len, sbx_exec_req **out, sbx_error *err)
{
	sbx_result r;
	cJSON *root = NULL;
	sbx_exec_req *req = NULL;
	*out = NULL;
	if ((r = text_checks(text, len, err)) != SBX_OK)
		goto out;
	req = sbx_exec_req_new();
	if (!req) {
		r = sbx_fail(err, SBX_E_NOMEM, "out of memory");
		goto out;
	}
	if (!looks_json(text, len)) {
		char *line;
		if ((r = text_line(text, len, &line, err)) != SBX_OK)
			goto out;
		if (!line) {
			r = sbx_fail(err, SBX_E_INVALID, "empty command");
			goto out;
		}
		const char *argv[] = {"/bin/sh", "-c", line, NULL};
		r = argv_set(&req->argv, argv, err);
		free(line);
		if (r != SBX_OK)
			goto out;
		goto done;
	}
	root = parse_user_json(text, len, err);
	if (!root) {
		r = SBX_E_INVALID;
		goto out;
	}
	const cJSON *it;
	int bad = 0;
	cJSON_ArrayForEach(it, root) {
		const char *k = it->string;
		if (strcmp(k, "command") == 0) {
			if (cJSON_IsString(it)) {
				/* A string command is a shell line, as in the text form. */
				if (!it->valuestring[0]) {
					r = sbx_fail(err, SBX_E_INVALID, "empty command");
					goto out;
				}
				const char *argv[] = {"/bin/sh", "-c", it->valuestring, NULL};
				if ((r = argv_set(&req->argv, argv, err)) != SBX_OK)
					goto out;
			} else if (cJSON_IsArray(it)) {
				if ((r = json_argv(it, "command", &req->argv, err)) != SBX_OK)
					goto out;
			} else {
				r = sbx_fail(err, SBX_E_INVALID, "\"command\" must be an array of strings");
				goto out;
			}
		} else if (strcmp(k, "cwd") == 0 || strcmp(k, "workingDir") == 0) {
			if (!cJSON_IsString(it)) {
				r = sbx_fail(err, SBX_E_INVALID, "\"%s\" must be a string", k);
				goto out;
			}
			if ((r = sbx_exec_req_set_cwd(req, it->valuestring, err)) != SBX_OK)
				goto out;
		} else if (strcmp(k, "env") == 0) {
			if ((r = json_env(it, &req->env, &req->nenv, err)) != SBX_OK)
				goto out;
		} else if (strcmp(k, "stdin") == 0) {
			if (!cJSON_IsBool(it)) {
				r = sbx_fail(err, SBX_E_INVALID, "\"stdin\" must be true or false");
				goto out;
			}
			req->stdin_on = cJSON_IsTrue(it);
		} else if (strcmp(k, "timeoutSeconds") == 0) {
			req->timeout = (int)int_or(it, 0, 86400, &bad);
			if (bad) {
				r = sbx_fail(err, SBX_E_INVALID, "\"timeoutSeconds\" must be an integer 0..86400");
				goto out;
			}
		} else {
			r = sbx_fail(err, SBX_E_INVALID,
			             "unknown field \"%.64s\" (command, cwd, env, stdin, timeoutSeconds)", k);
			goto out;
		}
	}
	if (!req->argv || !req->argv[0]) {
		r = sbx_fail(err, SBX_E_INVALID, "\"command\" is missing or empty");
		goto out;
	}
	if (!req->argv[0][0]) {
		r = sbx_fail(err, SBX_E_INVALID, "\"command\" starts with an empty string");
		goto out;
	}
done:
	*out = req;
	req = NULL;
	r = SBX_OK;
out:
	cJSON_Delete(root);
	sbx_exec_req_free(req);
	return r;
}

void sbx_exec_pb_free(sbx_exec_pb *p)
{
	if (!p)
		return;
	free(p->argv);
	free(p->env);
	free(p->envp);
	memset(p, 0, sizeof *p);
}

/* The real Exec has no working directory: a shell changes into it and
 * execs the command, argv untouched ("$@"), documented in
 * docs/filesystem.md; an image without /bin/sh answers the shell's 127. */
static const char *const cwd_wrapper[] = {"/bin/sh", "-c", "cd -- \"$1\" && shift && exec \"$@\"", "sh"};
#define CWD_WRAPPER_N (sizeof cwd_wrapper / sizeof cwd_wrapper[0])

sbx_result sbx_exec_req_to_pb(const sbx_exec_req *r, const char *sandbox_id, int32_t max_output_bytes, sbx_exec_pb *p,
                              sbx_error *err)
{
	memset(p, 0, sizeof *p);
	coreweave__sandbox__v1__exec_request__init(&p->req);
	p->req.sandbox_id = (char *)sandbox_id;
	p->req.max_output_bytes = max_output_bytes;
	size_t na = 0;
	while (r->argv && r->argv[na])
		na++;
	if (!na)
		return sbx_fail(err, SBX_E_INVALID, "no command");
	size_t extra = r->cwd ? CWD_WRAPPER_N + 1 : 0;
	p->argv = calloc(na + extra + 1, sizeof *p->argv);
	if (!p->argv)
		goto nomem;
	size_t k = 0;
	if (r->cwd) {
		for (size_t i = 0; i < CWD_WRAPPER_N; i++)
			p->argv[k++] = (char *)cwd_wrapper[i];
		p->argv[k++] = r->cwd;
	}
	for (size_t i = 0; i < na; i++)
		p->argv[k++] = r->argv[i];
	p->req.command = p->argv;
	p->req.n_command = k;
	if (r->nenv) {
		p->env = calloc(r->nenv, sizeof *p->env);
		p->envp = calloc(r->nenv, sizeof *p->envp);
		if (!p->env || !p->envp)
			goto nomem;
		for (size_t i = 0; i < r->nenv; i++) {
			coreweave__sandbox__v1__exec_request__env_entry__init(&p->env[i]);
			p->env[i].key = r->env[i].key;
			p->env[i].value = r->env[i].value;
			p->envp[i] = &p->env[i];
		}
		p->req.env = p->envp;
		p->req.n_env = r->nenv;
	}
	return SBX_OK;
nomem:
	sbx_exec_pb_free(p);
	return sbx_fail(err, SBX_E_NOMEM, "out of memory");
}

void sbx_start_pb_free(sbx_start_pb *p)
{
	if (!p)
		return;
	free(p->env);
	free(p->envp);
	memset(p, 0, sizeof *p);
}

sbx_result sbx_exec_req_to_start_pb(const sbx_exec_req *r, const char *sandbox_id, const char *request_id,
                                    sbx_start_pb *p, sbx_error *err)
{
	memset(p, 0, sizeof *p);
	sbxd__ext__v1__start_process_request__init(&p->req);
	p->req.sandbox_id = (char *)sandbox_id;
	size_t na = 0;
	while (r->argv && r->argv[na])
		na++;
	if (!na)
		return sbx_fail(err, SBX_E_INVALID, "no command");
	p->req.command = r->argv;
	p->req.n_command = na;
	if (r->cwd)
		p->req.working_dir = r->cwd;
	p->req.stdin = r->stdin_on != 0;
	p->req.timeout_seconds = r->timeout > 0 ? r->timeout : 0;
	if (request_id)
		p->req.request_id = (char *)request_id;
	if (r->nenv) {
		p->env = calloc(r->nenv, sizeof *p->env);
		p->envp = calloc(r->nenv, sizeof *p->envp);
		if (!p->env || !p->envp) {
			sbx_start_pb_free(p);
			return sbx_fail(err, SBX_E_NOMEM, "out of memory");
		}
		for (size_t i = 0; i < r->nenv; i++) {
			sbxd__ext__v1__start_process_request__env_entry__init(&p->env[i]);
			p->env[i].key = r->env[i].key;
			p->env[i].value = r->env[i].value;
			p->envp[i] = &p->env[i];
		}
		p->req.env = p->envp;
		p->req.n_env = r->nenv;
	}
	return SBX_OK;
}

/* ------------------------------------------------------------ quoting */

static int needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_./=:,+@%", c)))
			return 1;
	}
	return 0;
}

char *sbx_argv_to_line(char *const *argv)
{
	sbx_buf b;
	sbx_buf_init(&b, 0);
	for (size_t i = 0; argv && argv[i]; i++) {
		if (i && sbx_buf_append(&b, " ", 1))
			goto fail;
		const char *s = argv[i];
		if (!needs_quotes(s)) {
			if (sbx_buf_append(&b, s, strlen(s)))
				goto fail;
			continue;
		}
		/* Single quotes keep everything literal; a quote inside becomes '\'' */
		if (sbx_buf_append(&b, "'", 1))
			goto fail;
		for (const char *p = s; *p; p++) {
			if (*p == '\'') {
				if (sbx_buf_append(&b, "'\\''", 4))
					goto fail;
			} else if (sbx_buf_append(&b, p, 1)) {
				goto fail;
			}
		}
		if (sbx_buf_append(&b, "'", 1))
			goto fail;
	}
	if (sbx_buf_append(&b, "\n", 1))
		goto fail;
	return b.data;
fail:
	sbx_buf_free(&b);
	return NULL;
}
