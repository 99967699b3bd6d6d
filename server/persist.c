/*
 * The records in the forms others read them: the Sandbox as the API
 * shows it (srv_sbx_to_pb) and the extension's Process (srv_proc_json),
 * and on disk under STATE_DIR/sandboxes/<id>/ (sandbox.json, proc-N.json):
 * saving one whole by swapping a temporary file in, removing a sandbox's
 * directory, and loading every record at start (running ones are taken
 * back through the adopt hook, else become FAILED "sbxd restarted";
 * docs/internals/server.md, "Records on disk").
 * Above records.c and spool.c, below core.c's lifecycle. Under srv_lock.
 */
#include "persist.h"
#include "egress.h"
#include "json.h"
#include "jsonw.h"
#include "records.h"
#include "spare.h"
#include "spec.h"
#include "spool.h"
#include "state.h"
#include "runtime/util.h" /* srv_rm_rf */

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *state_dir;
static int sbxdirfd = -1;      /* STATE_DIR/sandboxes, core.c's */
static int default_egress;     /* srv_config.default_egress */

void srv_persist_init(const char *dir, int sandboxes_fd, int egress_default)
{
	state_dir = dir;
	sbxdirfd = sandboxes_fd;
	default_egress = egress_default;
}

/* ------------------------------------------------------------ JSON forms */

static void add_time(cJSON *o, const char *key, int64_t ns)
{
	char buf[48];
	srv_format_time(ns, buf, sizeof buf);
	cJSON_AddStringToObject(o, key, buf);
}

static void add_i64(cJSON *o, const char *key, int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	cJSON_AddStringToObject(o, key, buf);
}

/* Env keys this long or longer are left out of the JSON forms. */
#define ENV_KEY_MAX 256

static cJSON *env_json(const srv_strv *env)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; o && i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');
		if (!eq)
			continue;
		char key[ENV_KEY_MAX];
		size_t kl = (size_t)(eq - env->v[i]);
		if (kl >= sizeof key)
			continue;
		memcpy(key, env->v[i], kl);
		key[kl] = '\0';
		cJSON_AddStringToObject(o, key, eq + 1);
	}
	return o;
}

static Google__Protobuf__Timestamp *pb_time(int64_t ns)
{
	if (ns <= 0)
		return NULL;
	Google__Protobuf__Timestamp *t = malloc(sizeof *t);
	if (!t)
		return NULL;
	google__protobuf__timestamp__init(t);
	t->seconds = ns / 1000000000;
	t->nanos = (int32_t)(ns % 1000000000);
	return t;
}

static int64_t pb_ns(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * 1000000000 + t->nanos : 0;
}

/* status.effectiveEgress: what the sandbox may reach (its rules, or
 * sbxd's default), normalised (protocols named, CIDRs canonical). */
static int effective_egress(const srv_sbx *s, Coreweave__Sandbox__V1__SandboxStatus *st)
{
	size_t n;
	const srv_egress_rule *r = srv_egress_effective(&s->spec.net, default_egress, &n);
	if (!n)
		return 0;
	if (!(st->effective_egress = calloc(n, sizeof *st->effective_egress)))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!(st->effective_egress[st->n_effective_egress++] = srv_egress_rule_to_pb(&r[i]))) {
			st->n_effective_egress--;
			return -1;
		}
	return 0;
}

Coreweave__Sandbox__V1__Sandbox *srv_sbx_to_pb(const srv_sbx *s)
{
	Coreweave__Sandbox__V1__Sandbox *o = malloc(sizeof *o);
	if (!o)
		return NULL;
	coreweave__sandbox__v1__sandbox__init(o);
	Coreweave__Sandbox__V1__SandboxStatus *st = malloc(sizeof *st);
	if (st)
		coreweave__sandbox__v1__sandbox_status__init(st);
	o->status = st;
	o->sandbox_id = strdup(s->id);
	/* The spec echoed as it was asked. */
	o->spec = srv_spec_to_pb(&s->spec);
	if (!st || !o->sandbox_id || (s->spec.pb && !o->spec))
		goto fail;
	st->state = srv_state_to_pb(s->state);
	if (s->reason[0] && !(st->state_reason = strdup(s->reason)))
		goto fail;
	if ((s->create_ns > 0 && !(st->create_time = pb_time(s->create_ns))) ||
	    (s->start_ns > 0 && !(st->start_time = pb_time(s->start_ns))) ||
	    (s->end_ns > 0 && !(st->end_time = pb_time(s->end_ns))))
		goto fail;
	if (s->exit_known) {
		st->_exit_code_case = COREWEAVE__SANDBOX__V1__SANDBOX_STATUS___EXIT_CODE_EXIT_CODE;
		st->exit_code = s->exit_code;
	}
	if (s->spec.lifetime_s > 0 && s->spec.lifetime_s <= INT32_MAX)
		st->effective_max_lifetime_seconds = (int32_t)s->spec.lifetime_s;
	if (effective_egress(s, st) != 0)
		goto fail;
	return o;
fail:
	wire_message_free(&o->base);
	return NULL;
}

cJSON *srv_proc_json(const srv_sbx *s, const srv_proc *p)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	add_i64(o, "processId", p->id);
	cJSON *cmd = cJSON_AddArrayToObject(o, "command");
	for (size_t i = 0; cmd && i < p->argv.n; i++)
		cJSON_AddItemToArray(cmd, cJSON_CreateString(p->argv.v[i]));
	cJSON_AddStringToObject(o, "workingDir", p->cwd ? p->cwd : "");
	cJSON_AddItemToObject(o, "env", env_json(&p->env));
	cJSON_AddBoolToObject(o, "stdin", p->want_stdin);
	cJSON_AddBoolToObject(o, "stdinClosed", p->stdin_closed);
	cJSON_AddNumberToObject(o, "timeoutSeconds", (double)p->timeout_s);
	cJSON_AddStringToObject(o, "state", srv_pstate_name(p->state));
	cJSON_AddNumberToObject(o, "exitCode", p->exit_code);
	cJSON_AddNumberToObject(o, "signal", p->sig);
	cJSON_AddStringToObject(o, "stateReason", p->reason);
	add_time(o, "startTime", p->start_ns);
	add_time(o, "endTime", p->end_ns);
	for (int i = 1; s && p->id >= 0 && i <= 2; i++)
		add_i64(o, i == 1 ? "stdoutBytes" : "stderrBytes", srv_spool_size(s, p, i));
	return o;
}

/* ---------------------------------------------------------- persistence */

static void write_json_at(int dirfd, const char *name, cJSON *j)
{
	char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
	char tmp[96];
	if (!txt)
		goto out;
	snprintf(tmp, sizeof tmp, ".%s.tmp", name);
	int fd = srv_spare_open(dirfd, tmp, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "sbxd: warning: cannot save %s: %s\n", name, strerror(errno));
		goto out;
	}
	size_t len = strlen(txt), off = 0;
	while (off < len) {
		ssize_t w = write(fd, txt + off, len - off);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	close(fd);
	/* Swapped, not renamed over: the old version stays as the next
	 * save's tmp file, so a record saved again costs no inode (see
	 * spare.c) and frees none. The first save (nothing to swap with),
	 * or a file system without RENAME_EXCHANGE, renames. */
	if (off != len || (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) != 0 &&
			   renameat(dirfd, tmp, dirfd, name) != 0)) {
		fprintf(stderr, "sbxd: warning: cannot save %s: %s\n", name, strerror(errno));
		unlinkat(dirfd, tmp, 0);
	}
out:
	free(txt);
}

void srv_save_sbx(srv_sbx *s)
{
	if (s->dirfd < 0)
		return;
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return;
	/* The Sandbox as the API shows it (the spec as asked), then
	 * sbxd's own bookkeeping beside it. */
	Coreweave__Sandbox__V1__Sandbox *pb = srv_sbx_to_pb(s);
	char *txt = NULL;
	size_t tlen;
	wire_err we;
	if (!pb || wire_json_encode(&pb->base, NULL, &txt, &tlen, &we) != 0) {
		wire_message_free(pb ? &pb->base : NULL);
		cJSON_Delete(root);
		fprintf(stderr, "sbxd: warning: cannot save sandbox %s\n", s->id);
		return;
	}
	wire_message_free(&pb->base);
	cJSON_AddItemToObject(root, "sandbox", cJSON_ParseWithLength(txt, tlen));
	free(txt);
	cJSON_AddNumberToObject(root, "seq", s->seq);
	cJSON_AddNumberToObject(root, "owner", s->owner);
	cJSON_AddStringToObject(root, "requestId", s->spec.request_id ? s->spec.request_id : "");
	if (s->purge)
		cJSON_AddBoolToObject(root, "purge", 1);
	write_json_at(s->dirfd, "sandbox.json", root);
	cJSON_Delete(root);
}

/* The process log: STATE_DIR/sandboxes/<id>/procs.log, one line per save
 * of a process record (its JSON form, which never holds a raw newline),
 * appended with one write(). A process's newest whole line is its record.
 * Appending costs no inode, no rename and no rewrite of a whole record per
 * process (a proc-N.json per process cost one inode each on ext4, the
 * slow part of a start: docs/performance.md). A power cut can tear only
 * the last line, which the load cuts off (the line before it for that
 * process stands); the log is rewritten whole (compact) only when it holds
 * far more lines than processes. */
#define PROC_LOG "procs.log"
#define PROC_LOG_TMP ".procs.log.tmp"
#define PROC_LINE_MAX (1 << 20)      /* one record, as proc-N.json was */

static int log_open_fd(srv_sbx *s)
{
	if (s->log_open)
		return s->log_fd;
	int fd = srv_spare_open(s->dirfd, PROC_LOG, O_WRONLY | O_APPEND | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	s->log_fd = fd;
	s->log_open = 1;
	s->log_size = st.st_size;
	return fd;
}

static void log_close(srv_sbx *s)
{
	if (s->log_open)
		close(s->log_fd);
	s->log_open = 0;
	s->log_fd = -1;
}

/* txt + '\n' as one write at the end; a short write is cut back off, so
 * the next line never glues onto a torn one. 0 or -errno. */
static int log_append(srv_sbx *s, const char *txt, size_t len)
{
	int fd = log_open_fd(s);
	if (fd < 0)
		return -errno;
	char *line = malloc(len + 1);
	if (!line)
		return -ENOMEM;
	memcpy(line, txt, len);
	line[len] = '\n';
	ssize_t w;
	do
		w = write(fd, line, len + 1);
	while (w < 0 && errno == EINTR);
	int e = w < 0 ? errno : ENOSPC; /* a short write to a file: out of space */
	free(line);
	if (w == (ssize_t)(len + 1)) {
		s->log_size += w;
		s->log_lines++;
		return 0;
	}
	if (w > 0 && ftruncate(fd, s->log_size) != 0)
		log_close(s); /* reopened (and its size read) at the next save */
	return -e;
}

/* A process's line in procs.log: srv_proc_json's members in its order
 * (without the spool sizes, which belong to answers), plus, for live
 * restore, a running process's runtime token (sbxd's own field in its own
 * file, never in an API answer) -- written straight into the text, the
 * very bytes cJSON_PrintUnformatted prints for that tree (jsonw.h): two
 * lines a process, and the tree cost about a third of sbxd's CPU of a
 * start and wait of `true` (docs/performance.md, branch roundtrip). */
static char *proc_line(const srv_proc *p, size_t *len)
{
	srv_jw w = {0};
	char num[24], when[48];
	srv_jw_open(&w, '{');
	snprintf(num, sizeof num, "%lld", (long long)p->id);
	srv_jw_kstr(&w, "processId", num);
	srv_jw_key(&w, "command");
	srv_jw_open(&w, '[');
	for (size_t i = 0; i < p->argv.n; i++)
		srv_jw_str(&w, p->argv.v[i]);
	srv_jw_close(&w, ']');
	srv_jw_kstr(&w, "workingDir", p->cwd ? p->cwd : "");
	srv_jw_key(&w, "env");
	srv_jw_open(&w, '{');
	for (size_t i = 0; i < p->env.n; i++) {
		const char *eq = strchr(p->env.v[i], '=');
		if (!eq || (size_t)(eq - p->env.v[i]) >= ENV_KEY_MAX) /* as env_json */
			continue;
		srv_jw_keyn(&w, p->env.v[i], (size_t)(eq - p->env.v[i]));
		srv_jw_str(&w, eq + 1);
	}
	srv_jw_close(&w, '}');
	srv_jw_kbool(&w, "stdin", p->want_stdin);
	srv_jw_kbool(&w, "stdinClosed", p->stdin_closed);
	srv_jw_kint(&w, "timeoutSeconds", p->timeout_s);
	srv_jw_kstr(&w, "state", srv_pstate_name(p->state));
	srv_jw_kint(&w, "exitCode", p->exit_code);
	srv_jw_kint(&w, "signal", p->sig);
	srv_jw_kstr(&w, "stateReason", p->reason);
	srv_format_time(p->start_ns, when, sizeof when);
	srv_jw_kstr(&w, "startTime", when);
	srv_format_time(p->end_ns, when, sizeof when);
	srv_jw_kstr(&w, "endTime", when);
	if (p->state == PS_RUNNING && p->token > 0) {
		snprintf(num, sizeof num, "%lld", (long long)p->token);
		srv_jw_kstr(&w, "runtimeToken", num);
	}
	srv_jw_close(&w, '}');
	return srv_jw_take(&w, len);
}

/* Rewrites the log as one line per process: a temporary file swapped in
 * (the previous log stays as the next compaction's temporary file). */
static int log_compact(srv_sbx *s)
{
	int fd = srv_spare_open(s->dirfd, PROC_LOG_TMP, O_WRONLY | O_TRUNC | O_CLOEXEC);
	int64_t size = 0;
	size_t lines = 0;
	int rc = -1;
	if (fd < 0)
		return -1;
	for (size_t i = 0; i < s->nprocs; i++) {
		if (!s->procs[i])
			continue;
		size_t len;
		char *txt = proc_line(s->procs[i], &len);
		if (!txt)
			goto out;
		txt[len] = '\n'; /* over the NUL: written by length */
		ssize_t w = write(fd, txt, len + 1);
		free(txt);
		if (w != (ssize_t)(len + 1))
			goto out;
		size += w;
		lines++;
	}
	if (renameat2(s->dirfd, PROC_LOG_TMP, s->dirfd, PROC_LOG, RENAME_EXCHANGE) != 0 &&
	    renameat(s->dirfd, PROC_LOG_TMP, s->dirfd, PROC_LOG) != 0)
		goto out;
	log_close(s);
	s->log_fd = fd;
	s->log_open = 1;
	s->log_size = size;
	s->log_lines = lines;
	fd = -1;
	if (fcntl(s->log_fd, F_SETFL, O_APPEND) != 0)
		log_close(s);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

void srv_save_proc(srv_sbx *s, srv_proc *p)
{
	if (p->id < 0 || s->dirfd < 0)
		return;
	size_t len;
	char *txt = proc_line(p, &len);
	int rc = txt ? log_append(s, txt, len) : -ENOMEM;
	free(txt);
	if (rc != 0) {
		fprintf(stderr, "sbxd: warning: cannot save process %lld of sandbox %s: %s\n", (long long)p->id,
			s->id, strerror(-rc));
		return;
	}
	/* Two or three lines a process (start, end, stdin closed): compact
	 * well past that, so the rewrite's cost is spread over as many saves. */
	if (s->log_lines > 4 * s->nprocs + 256 && log_compact(s) != 0)
		fprintf(stderr, "sbxd: warning: cannot compact %s of sandbox %s: %s\n", PROC_LOG, s->id,
			strerror(errno));
}

/* Removes STATE_DIR/sandboxes/<id> and all in it. */
void srv_rm_sandbox_dir(const char *id)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/sandboxes/%s", state_dir, id);
	srv_rm_rf(path);
}

/* ---------------------------------------------------------------- loading */

static char *read_all_at(int dirfd, const char *name, size_t cap)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	struct stat st;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || st.st_size < 0 || (size_t)st.st_size > cap)
		goto out;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto out;
	ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
out:
	close(fd);
	return buf;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(it) ? it->valuestring : "";
}

static int64_t jint(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	int64_t v = 0;
	return srv_json_int(it, INT64_MIN, INT64_MAX, &v) == 0 ? v : 0;
}

static int64_t jtime(const cJSON *o, const char *k)
{
	int64_t ns = 0;
	const char *s = jstr(o, k);
	if (*s && srv_parse_time(s, &ns) != 0)
		ns = 0;
	return ns;
}

static void load_token(const cJSON *j, srv_proc *p)
{
	int64_t t = p->state == PS_RUNNING ? jint(j, "runtimeToken") : 0;
	p->token = t > 0 ? t : 0;
}

static srv_proc *load_proc(const cJSON *j)
{
	srv_proc *p = srv_proc_new();
	if (!p)
		return NULL;
	p->id = jint(j, "processId");
	size_t used = 0;
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(j, "command"), *it;
	cJSON_ArrayForEach(it, cmd) {
		if (cJSON_IsString(it) && used < SRV_MAX_ARGV_BYTES) {
			used += strlen(it->valuestring);
			srv_strv_push(&p->argv, it->valuestring);
		}
	}
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(j, "env");
	cJSON_ArrayForEach(it, env) {
		if (cJSON_IsString(it) && it->string) {
			char kv[8192];
			snprintf(kv, sizeof kv, "%s=%s", it->string, it->valuestring);
			srv_strv_push(&p->env, kv);
		}
	}
	p->cwd = strdup(jstr(j, "workingDir"));
	p->want_stdin = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stdin"));
	p->stdin_closed = 1;
	p->timeout_s = jint(j, "timeoutSeconds");
	p->state = srv_pstate_from_name(jstr(j, "state"));
	p->exit_code = (int)jint(j, "exitCode");
	p->sig = (int)jint(j, "signal");
	srv_set_reason(p->reason, sizeof p->reason, jstr(j, "stateReason"));
	p->start_ns = jtime(j, "startTime");
	p->end_ns = jtime(j, "endTime");
	load_token(j, p);
	return p;
}

/* A loaded record as process pid of s, in id order (replacing one loaded
 * before: a newer line of the log). Lines come in id order but for the
 * saves of ends and restarts, so the search is from the end. */
static void place_proc(srv_sbx *s, srv_proc *p, int64_t pid)
{
	if (!p)
		return;
	p->id = pid;
	srv_proc *old = srv_proc_get(s, pid);
	if (old) {
		size_t i = 0;
		while (s->procs[i] != old)
			i++;
		s->procs[i] = p;
		srv_proc_free(old);
		return;
	}
	if (pid == 0 || s->nprocs <= 1 || s->procs[s->nprocs - 1]->id < pid) {
		if (srv_proc_append(s, p) != 0)
			srv_proc_free(p);
		return;
	}
	srv_proc **np = realloc(s->procs, (s->nprocs + 1) * sizeof *np);
	if (!np) {
		srv_proc_free(p);
		return;
	}
	s->procs = np;
	size_t i = s->nprocs;
	while (i > 1 && s->procs[i - 1]->id > pid) {
		s->procs[i] = s->procs[i - 1];
		i--;
	}
	s->procs[i] = p;
	s->nprocs++;
}

void srv_forget_old_procs(srv_sbx *s)
{
	size_t keep = srv_procs_keep(), i = 1;
	while (s->nprocs > 1 && s->nprocs - 1 > keep) {
		/* The oldest that ended (a running one stays, however old). */
		while (i < s->nprocs && s->procs[i]->state == PS_RUNNING)
			i++;
		if (i >= s->nprocs)
			return;
		srv_proc *p = s->procs[i];
		for (int k = 1; k <= 2 && s->dirfd >= 0; k++) {
			char name[40];
			srv_spool_name(name, sizeof name, p->id, k);
			unlinkat(s->dirfd, name, 0);
		}
		memmove(&s->procs[i], &s->procs[i + 1], (s->nprocs - i - 1) * sizeof *s->procs);
		s->nprocs--;
		srv_proc_free(p);
	}
}

static void load_line(srv_sbx *s, const char *line)
{
	int64_t pid;
	cJSON *j = cJSON_Parse(line);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "processId");
	if (j && cJSON_IsString(id) && srv_parse_int(id->valuestring, 0, SRV_PROC_ID_MAX, &pid) == 0)
		place_proc(s, load_proc(j), pid);
	else
		fprintf(stderr, "sbxd: warning: sandbox %s: skipping an unreadable line of %s\n", s->id, PROC_LOG);
	cJSON_Delete(j);
}

/* Reads procs.log line by line (each at most PROC_LINE_MAX; a longer one
 * is skipped whole). What follows the last newline is a save torn by a
 * crash or power cut: cut off, so the next append starts a line. */
static void load_log(srv_sbx *s)
{
	int fd = openat(s->dirfd, PROC_LOG, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	char *line = malloc(PROC_LINE_MAX + 1), blk[65536];
	size_t ll = 0, lines = 0;
	int skip = 0;
	int64_t off = 0, whole = 0; /* bytes read; bytes up to the last newline */
	ssize_t n;
	while (line && (n = read(fd, blk, sizeof blk)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (blk[i] != '\n') {
				if (ll < PROC_LINE_MAX)
					line[ll++] = blk[i];
				else
					skip = 1;
				continue;
			}
			whole = off + i + 1;
			line[ll] = '\0';
			if (!skip && ll > 0)
				load_line(s, line);
			lines++;
			ll = 0;
			skip = 0;
		}
		off += n;
	}
	if (line && off > whole) {
		fprintf(stderr, "sbxd: info: sandbox %s: cutting a torn last line (%lld bytes) off %s\n", s->id,
			(long long)(off - whole), PROC_LOG);
		if (ftruncate(fd, whole) != 0)
			fprintf(stderr, "sbxd: warning: sandbox %s: cannot cut %s: %s\n", s->id, PROC_LOG,
				strerror(errno));
	}
	s->log_lines = lines;
	free(line);
	close(fd);
}

static int (*adopt_hook)(srv_sbx *s, char *why, size_t cap);

void srv_persist_adopt_hook(int (*adopt)(srv_sbx *s, char *why, size_t cap))
{
	adopt_hook = adopt;
}

/* Whatever ran when sbxd went away and was not taken back is gone now:
 * say so instead of pretending. 1 when the sandbox itself changed. */
static int fail_running(srv_sbx *s, const char *why)
{
	for (size_t i = 0; i < s->nprocs; i++) {
		srv_proc *p = s->procs[i];
		if (p && p->state == PS_RUNNING) {
			p->state = PS_KILLED;
			p->sig = SIGKILL;
			p->exit_code = 128 + SIGKILL;
			p->token = 0;
			srv_set_reason(p->reason, sizeof p->reason, why);
			p->end_ns = srv_now_ns();
			srv_save_proc(s, p);
		}
	}
	if (srv_state_terminal(s->state))
		return 0;
	s->state = ST_FAILED;
	srv_set_reason(s->reason, sizeof s->reason, why);
	s->end_ns = srv_now_ns();
	return 1;
}

static void load_one(const char *name)
{
	srv_sbx *s = NULL;
	cJSON *root = NULL;
	int dfd = openat(sbxdirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	if (faccessat(dfd, "sandbox.json", F_OK, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT &&
	    srv_valid_id(name)) {
		/* A create that sbxd did not live to finish: the dir is made
		 * first, the record saved before the create is answered, so no
		 * client ever saw this sandbox. Finish the job as a purge does. */
		fprintf(stderr, "sbxd: info: removing sandboxes/%s, a create cut short\n", name);
		close(dfd);
		srv_rm_sandbox_dir(name);
		return;
	}
	char *txt = read_all_at(dfd, "sandbox.json", 4 << 20);
	root = txt ? cJSON_Parse(txt) : NULL;
	free(txt);
	const cJSON *sj = cJSON_GetObjectItemCaseSensitive(root, "sandbox");
	if (!sj || !srv_valid_id(name)) {
		fprintf(stderr, "sbxd: warning: ignoring unreadable record sandboxes/%s\n", name);
		close(dfd);
		goto out;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "purge"))) {
		/* Deleted with purge before sbxd went away: finish the job. */
		close(dfd);
		srv_rm_sandbox_dir(name);
		goto out;
	}
	s = calloc(1, sizeof *s);
	if (!s) {
		close(dfd);
		goto out;
	}
	s->dirfd = dfd;
	s->keep_root = s->keep_ns = -1;
	memcpy(s->id, name, strlen(name) + 1); /* valid ids are <= 128 bytes */
	/* The Sandbox as saved: the spec as asked goes through the create
	 * checks again (a record is input too). */
	char *stxt = cJSON_PrintUnformatted(sj);
	ProtobufCMessage *m = NULL;
	wire_err we;
	srv_perr pe;
	int drc = stxt ? wire_json_decode(&coreweave__sandbox__v1__sandbox__descriptor, stxt, strlen(stxt), NULL, &m,
					  &we)
		       : -ENOMEM;
	free(stxt);
	Coreweave__Sandbox__V1__Sandbox *sb = (Coreweave__Sandbox__V1__Sandbox *)m;
	if (drc == 0 && strcmp(sb->sandbox_id, name) != 0) {
		drc = -EINVAL;
		snprintf(we.msg, sizeof we.msg, "its id is not its directory's name");
	}
	if (drc == 0) {
		/* The spec alone: the status is the service's own output. */
		Coreweave__Sandbox__V1__Sandbox only = COREWEAVE__SANDBOX__V1__SANDBOX__INIT;
		only.spec = sb->spec;
		drc = srv_spec_from_pb(&only, &s->spec, &pe);
		if (drc)
			snprintf(we.msg, sizeof we.msg, "%s", pe.msg);
	}
	if (drc) {
		fprintf(stderr, "sbxd: warning: ignoring unreadable record sandboxes/%s: %s\n", name,
			drc == -ENOMEM ? "out of memory" : we.msg);
		wire_message_free(m);
		free(s);
		s = NULL;
		close(dfd);
		goto out;
	}
	free(s->spec.request_id);
	s->spec.request_id = strdup(jstr(root, "requestId"));
	s->seq = (uint32_t)jint(root, "seq");
	/* Records from before owners were kept (no "owner") are root's. */
	int64_t own = jint(root, "owner");
	s->owner = own > 0 && own <= UINT32_MAX ? (uint32_t)own : 0;
	const Coreweave__Sandbox__V1__SandboxStatus *st = sb->status;
	s->state = st ? srv_state_from_pb(st->state) : -1;
	if (s->state < 0)
		s->state = ST_FAILED;
	srv_set_reason(s->reason, sizeof s->reason, st && st->state_reason ? st->state_reason : "");
	if (st && st->_exit_code_case == COREWEAVE__SANDBOX__V1__SANDBOX_STATUS___EXIT_CODE_EXIT_CODE) {
		s->exit_code = st->exit_code;
		s->exit_known = 1;
	}
	s->create_ns = st ? pb_ns(st->create_time) : 0;
	s->start_ns = st ? pb_ns(st->start_time) : 0;
	s->end_ns = st ? pb_ns(st->end_time) : 0;
	wire_message_free(m);
	/* Processes. */
	DIR *d = fdopendir(dup(dfd));
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int64_t pid;
		char num[32];
		size_t nl = strlen(e->d_name);
		int k;
		if (sscanf(e->d_name, ".spool-free-%d", &k) == 1 && k >= 0 && k < SRV_SPOOL_FREE_MAX) {
			s->spool_free |= 1u << k; /* an empty spool kept for reuse */
			continue;
		}
		if (strncmp(e->d_name, "proc-", 5) != 0 || nl < 11 || strcmp(e->d_name + nl - 5, ".json") != 0 ||
		    nl - 10 >= sizeof num)
			continue;
		memcpy(num, e->d_name + 5, nl - 10);
		num[nl - 10] = '\0';
		if (srv_parse_int(num, 0, SRV_PROC_ID_MAX, &pid) != 0)
			continue;
		char *pt = read_all_at(dfd, e->d_name, 1 << 20);
		cJSON *pj = pt ? cJSON_Parse(pt) : NULL;
		free(pt);
		srv_proc *p = pj ? load_proc(pj) : NULL;
		cJSON_Delete(pj);
		place_proc(s, p, pid);
	}
	if (d)
		closedir(d);
	/* Then the log, newer than any proc-N.json (an sbxd from before the
	 * log wrote those; this one appends only). */
	load_log(s);
	if (s->nprocs == 0) {
		s->procs = calloc(1, sizeof *s->procs);
		s->nprocs = s->procs ? 1 : 0;
	}
	if (s->next_id < 1)
		s->next_id = 1;
	/* A log holds the lines of processes forgotten since its last
	 * compaction: keep what a running sbxd would have kept. */
	srv_forget_old_procs(s);
	/* A retried start finds its process again after a restart too. */
	for (size_t i = 1; i < s->nprocs; i++)
		if (s->procs[i])
			srv_proc_rid_add(s, s->procs[i]);
	int dirty = 0;
	if (s->seq == 0 || srv_find_seq(s->seq)) {
		s->seq = srv_seq_peek(); /* damaged record: give it a fresh place */
		dirty = 1;
	}
	srv_seq_seen(s->seq);
	if (srv_sbx_add(s) != 0) {
		srv_sbx_free(s);
		goto out;
	}
	/* What ran when sbxd went away: taken back (live restore), or gone
	 * (the runtime cleans up what no one took back) and said so. */
	char why[200] = "sbxd restarted";
	if (srv_state_terminal(s->state) || !adopt_hook || adopt_hook(s, why, sizeof why) != 0)
		dirty |= fail_running(s, why);
	if (dirty)
		srv_save_sbx(s);
out:
	cJSON_Delete(root);
}

void srv_load_all(void)
{
	DIR *d = fdopendir(dup(sbxdirfd));
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		load_one(e->d_name);
	}
	if (d)
		closedir(d);
}
