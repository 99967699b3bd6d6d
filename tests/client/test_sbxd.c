/*
 * libsbx against a real sbxd: every call of sbx.h, blocking and async,
 * including 1,000 concurrent long-polls on one loop thread. The socket
 * comes from SBX_TEST_SOCK (sbxd.sh starts sbxd with tests/lib.sh).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "sbx/sbx.h"

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static sbx_client *client_as(int ext_json)
{
	const char *s = getenv("SBX_TEST_SOCK");
	ck_assert_ptr_nonnull(s);
	char url[4200];
	snprintf(url, sizeof url, "unix:%s", s);
	sbx_config *cfg = sbx_config_new();
	ck_assert_int_eq(sbx_config_set_url(cfg, url, NULL), SBX_OK);
	sbx_config_set_ext_json(cfg, ext_json);
	sbx_client *c = NULL;
	ck_assert_int_eq(sbx_client_new(cfg, &c, NULL), SBX_OK);
	sbx_config_free(cfg);
	return c;
}

/* sbxd's extension in binary (its default against sbxd), or in JSON. */
static sbx_client *client(void)
{
	return client_as(0);
}

/* An idle sandbox, running. */
static sbx_sandbox *idle(sbx_client *c, const char *name)
{
	sbx_spec *sp = sbx_spec_new();
	if (name)
		ck_assert_int_eq(sbx_spec_set_name(sp, name, NULL), SBX_OK);
	sbx_sandbox *s = NULL;
	sbx_error e;
	sbx_result r = sbx_sandbox_create(c, sp, &s, &e);
	ck_assert_msg(r == SBX_OK, "create: %s", e.message);
	sbx_spec_free(sp);
	for (int i = 0; i < 100 && s->state != SBX_STATE_RUNNING; i++) {
		char *id = strdup(s->id);
		sbx_sandbox_free(s);
		usleep(20000);
		ck_assert_int_eq(sbx_sandbox_get(c, id, 0, &s, NULL), SBX_OK);
		free(id);
	}
	ck_assert_int_eq(s->state, SBX_STATE_RUNNING);
	return s;
}

static sbx_process *run(sbx_client *c, const char *sb, const char *line, int with_stdin)
{
	sbx_exec_req *r = NULL;
	ck_assert_int_eq(sbx_exec_req_parse(line, strlen(line), &r, NULL), SBX_OK);
	sbx_exec_req_set_stdin(r, with_stdin);
	sbx_process *p = NULL;
	sbx_error e;
	sbx_result res = sbx_process_start(c, sb, r, &p, &e);
	ck_assert_msg(res == SBX_OK, "start: %s", e.message);
	sbx_exec_req_free(r);
	return p;
}

/* Reads a whole stream with long-polls. */
static size_t read_all(sbx_client *c, const char *sb, int64_t pid, sbx_stream st, char *buf, size_t cap)
{
	size_t have = 0;
	for (int i = 0; i < 100; i++) {
		sbx_chunk ch;
		sbx_error e;
		sbx_result r = sbx_output_read(c, sb, pid, st, (int64_t)have, buf + have, cap - have, 5, &ch, &e);
		ck_assert_msg(r == SBX_OK, "read: %s", e.message);
		ck_assert_int_eq(ch.offset, (int64_t)have);
		have += ch.len;
		if (ch.eof)
			break;
	}
	buf[have] = '\0';
	return have;
}

START_TEST(features_all)
{
	sbx_client *c = client();
	unsigned f = 0;
	ck_assert_int_eq(sbx_client_features(c, &f, NULL), SBX_OK);
	ck_assert_uint_eq(f, SBX_FEAT_PROCESSES | SBX_FEAT_OUTPUT | SBX_FEAT_FILES | SBX_FEAT_POSIX | SBX_FEAT_IMAGES |
	                         SBX_FEAT_WAIT | SBX_FEAT_FORGET | SBX_FEAT_WAIT_MANY | SBX_FEAT_OUTPUT_FD |
	                         SBX_FEAT_FILE_FD | SBX_FEAT_PROTOBUF);
	sbx_client_free(c);
}
END_TEST

START_TEST(sandbox_lifecycle)
{
	sbx_client *c = client();
	sbx_spec *sp = NULL;
	const char *text = "{\"name\": \"life1\", \"env\": {\"K\": \"V\"}, \"tags\": [\"team-x\"], \"maxLifetimeSeconds\": 120, "
	                   "\"resources\": {\"memory\": \"256Mi\", \"pids\": 64}}";
	ck_assert_int_eq(sbx_spec_parse(text, strlen(text), &sp, NULL), SBX_OK);
	sbx_sandbox *s = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_sandbox_create(c, sp, &s, &e), SBX_OK);
	sbx_spec_free(sp);
	ck_assert_str_eq(s->name, "life1");
	ck_assert_ptr_nonnull(strstr(s->json, "\"team-x\""));
	ck_assert_int_gt(s->create_time_ns, 0);
	char *id = strdup(s->id);
	sbx_sandbox_free(s);

	/* by id; a name is no id (ids only in URLs): it is found by its tag */
	ck_assert_int_eq(sbx_sandbox_get(c, id, 0, &s, NULL), SBX_OK);
	ck_assert_str_eq(s->id, id);
	ck_assert_ptr_nonnull(strstr(s->json, "\"sbxd.pids\": \"64\""));
	ck_assert_ptr_nonnull(strstr(s->json, "\"name\": \"main\""));
	sbx_sandbox_free(s);
	ck_assert_int_eq(sbx_sandbox_get(c, "life1", 0, &s, &e), SBX_E_NOT_FOUND);
	const char *nt[] = {"sbxfs-name=life1", NULL};
	sbx_list_filter nf = {.tags = nt};
	sbx_sandbox **nv = NULL;
	size_t nn = 0;
	ck_assert_int_eq(sbx_sandbox_list(c, &nf, &nv, &nn, NULL), SBX_OK);
	ck_assert_int_eq(nn, 1);
	ck_assert_str_eq(nv[0]->id, id);
	sbx_sandbox_list_free(nv, nn);

	/* the name is taken */
	sp = sbx_spec_new();
	sbx_spec_set_name(sp, "life1", NULL);
	ck_assert_int_eq(sbx_sandbox_create(c, sp, &s, &e), SBX_E_EXISTS);
	ck_assert_int_eq(sbx_error_errno(&e), EEXIST);
	sbx_spec_free(sp);

	/* list with a tag filter */
	const char *tags[] = {"team-x", NULL};
	sbx_list_filter f = {.tags = tags};
	sbx_sandbox **v = NULL;
	size_t n = 0;
	ck_assert_int_eq(sbx_sandbox_list(c, &f, &v, &n, NULL), SBX_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(v[0]->id, id);
	sbx_sandbox_list_free(v, n);

	ck_assert_int_eq(sbx_sandbox_delete(c, id, 1, 0, NULL), SBX_OK);
	ck_assert_int_eq(sbx_sandbox_get(c, id, 10, &s, NULL), SBX_OK);
	ck_assert_int_eq(s->state, SBX_STATE_TERMINATED);
	ck_assert(sbx_state_is_terminal(s->state));
	sbx_sandbox_free(s);
	/* gone from the default list, present with showTerminated */
	ck_assert_int_eq(sbx_sandbox_list(c, &f, &v, &n, NULL), SBX_OK);
	ck_assert_int_eq(n, 0);
	sbx_sandbox_list_free(v, n);
	f.show_terminated = 1;
	ck_assert_int_eq(sbx_sandbox_list(c, &f, &v, &n, NULL), SBX_OK);
	ck_assert_int_eq(n, 1);
	sbx_sandbox_list_free(v, n);

	ck_assert_int_eq(sbx_sandbox_delete(c, "sbx-none", 0, 1, NULL), SBX_OK);
	ck_assert_int_eq(sbx_sandbox_delete(c, "sbx-none", 0, 0, &e), SBX_E_NOT_FOUND);
	ck_assert_int_eq(sbx_sandbox_get(c, "sbx-none", 0, &s, &e), SBX_E_NOT_FOUND);
	ck_assert_str_eq(e.reason, "CWSANDBOX_SANDBOX_NOT_FOUND");
	free(id);
	sbx_client_free(c);
}
END_TEST

START_TEST(main_command)
{
	sbx_client *c = client();
	sbx_spec *sp = NULL;
	const char *line = "echo main; echo oops >&2; exit 5\n";
	ck_assert_int_eq(sbx_spec_parse(line, strlen(line), &sp, NULL), SBX_OK);
	sbx_sandbox *s = NULL;
	ck_assert_int_eq(sbx_sandbox_create(c, sp, &s, NULL), SBX_OK);
	sbx_spec_free(sp);
	char *id = strdup(s->id);
	sbx_sandbox_free(s);
	ck_assert_int_eq(sbx_sandbox_get(c, id, 20, &s, NULL), SBX_OK);
	ck_assert_int_eq(s->state, SBX_STATE_COMPLETED);
	ck_assert_int_eq(s->exit_code, 5);
	sbx_sandbox_free(s);
	char buf[256];
	ck_assert_int_eq(read_all(c, id, SBX_MAIN, SBX_STDOUT, buf, sizeof buf - 1), 5);
	ck_assert_str_eq(buf, "main\n");
	ck_assert_int_eq(read_all(c, id, SBX_MAIN, SBX_STDERR, buf, sizeof buf - 1), 5);
	ck_assert_str_eq(buf, "oops\n");
	/* a process cannot start in a completed sandbox */
	sbx_exec_req *r = NULL;
	sbx_exec_req_parse("true", 4, &r, NULL);
	sbx_process *p = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_process_start(c, id, r, &p, &e), SBX_E_PRECONDITION);
	ck_assert_str_eq(e.domain, "cwsandbox.com");
	sbx_exec_req_free(r);
	sbx_sandbox_delete(c, id, 0, 1, NULL);
	free(id);
	sbx_client_free(c);
}
END_TEST

START_TEST(processes)
{
	sbx_client *c = client();
	sbx_sandbox *s = idle(c, NULL);
	sbx_process *p = run(c, s->id, "echo hi; echo err >&2; exit 3", 0);
	ck_assert_int_eq(p->id, 1);
	sbx_process_free(p);
	ck_assert_int_eq(sbx_process_get(c, s->id, 1, 10, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->state, SBX_PROC_EXITED);
	ck_assert_int_eq(p->exit_code, 3);
	ck_assert_int_eq(p->stdout_bytes, 3);
	ck_assert_int_eq(p->stderr_bytes, 4);
	ck_assert_str_eq(p->argv[0], "/bin/sh");
	char *line = sbx_argv_to_line(p->argv);
	ck_assert_str_eq(line, "/bin/sh -c 'echo hi; echo err >&2; exit 3'\n");
	free(line);
	sbx_process_free(p);
	char buf[256];
	read_all(c, s->id, 1, SBX_STDOUT, buf, sizeof buf - 1);
	ck_assert_str_eq(buf, "hi\n");
	read_all(c, s->id, 1, SBX_STDERR, buf, sizeof buf - 1);
	ck_assert_str_eq(buf, "err\n");

	/* a long-poll read returns when the bytes come */
	p = run(c, s->id, "sleep 0.4; echo late", 0);
	long t0 = now_ms();
	sbx_chunk ch;
	ck_assert_int_eq(sbx_output_read(c, s->id, p->id, SBX_STDOUT, 0, buf, sizeof buf, 10, &ch, NULL), SBX_OK);
	long dt = now_ms() - t0;
	ck_assert_int_ge(dt, 300);
	ck_assert_int_lt(dt, 5000);
	ck_assert_int_eq(ch.len, 5);
	ck_assert_int_eq(memcmp(buf, "late\n", 5), 0);
	sbx_process_free(p);

	sbx_process **v = NULL;
	size_t n = 0;
	ck_assert_int_eq(sbx_process_list(c, s->id, &v, &n, NULL), SBX_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(v[0]->id, 1);
	ck_assert_int_eq(v[1]->id, 2);
	sbx_process_list_free(v, n);

	sbx_error e;
	ck_assert_int_eq(sbx_process_get(c, s->id, 99, 0, &p, &e), SBX_E_NOT_FOUND);
	ck_assert_int_eq(sbx_error_errno(&e), ENOENT);

	/* structured form with cwd, env and a timeout kill */
	const char *js = "{\"command\": [\"/bin/sh\", \"-c\", \"echo $K; pwd; sleep 30\"], \"cwd\": \"/tmp\", "
	                 "\"env\": {\"K\": \"V1\"}, \"timeoutSeconds\": 1}";
	p = run(c, s->id, js, 0);
	int64_t pid = p->id;
	sbx_process_free(p);
	ck_assert_int_eq(sbx_process_get(c, s->id, pid, 10, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->state, SBX_PROC_KILLED);
	ck_assert_int_eq(p->exit_code, 137);
	sbx_process_free(p);
	read_all(c, s->id, pid, SBX_STDOUT, buf, sizeof buf - 1);
	ck_assert_str_eq(buf, "V1\n/tmp\n");
	sbx_sandbox_delete(c, s->id, 0, 1, NULL);
	sbx_sandbox_free(s);
	sbx_client_free(c);
}
END_TEST

START_TEST(stdin_and_signals)
{
	sbx_client *c = client();
	sbx_sandbox *s = idle(c, NULL);
	sbx_process *p = run(c, s->id, "cat", 1);
	int64_t pid = p->id;
	ck_assert_int_eq(p->has_stdin, 1);
	sbx_process_free(p);
	ck_assert_int_eq(sbx_process_write_stdin(c, s->id, pid, "abc\n", 4, NULL), SBX_OK);
	ck_assert_int_eq(sbx_process_close_stdin(c, s->id, pid, NULL), SBX_OK);
	ck_assert_int_eq(sbx_process_close_stdin(c, s->id, pid, NULL), SBX_OK);
	ck_assert_int_eq(sbx_process_get(c, s->id, pid, 10, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->state, SBX_PROC_EXITED);
	ck_assert_int_eq(p->exit_code, 0);
	sbx_process_free(p);
	char buf[64];
	read_all(c, s->id, pid, SBX_STDOUT, buf, sizeof buf - 1);
	ck_assert_str_eq(buf, "abc\n");
	sbx_error e;
	sbx_result r = sbx_process_write_stdin(c, s->id, pid, "x", 1, &e);
	ck_assert_int_eq(r, SBX_E_PRECONDITION);
	int en = sbx_error_errno(&e);
	ck_assert_msg(en == EPIPE || en == ESRCH, "errno %d reason %s", en, e.reason);

	p = run(c, s->id, "cat", 1);
	pid = p->id;
	sbx_process_free(p);
	ck_assert_int_eq(sbx_process_close_stdin(c, s->id, pid, NULL), SBX_OK);
	/* a closed stdin of a live process: EPIPE, unless it already ended */
	r = sbx_process_write_stdin(c, s->id, pid, "x", 1, &e);
	ck_assert_int_eq(r, SBX_E_PRECONDITION);

	p = run(c, s->id, "sleep 30", 0);
	pid = p->id;
	sbx_process_free(p);
	ck_assert_int_eq(sbx_process_signal(c, s->id, pid, SIGTERM, NULL), SBX_OK);
	ck_assert_int_eq(sbx_process_get(c, s->id, pid, 10, &p, NULL), SBX_OK);
	ck_assert_int_eq(p->state, SBX_PROC_KILLED);
	ck_assert_int_eq(p->signal, SIGTERM);
	ck_assert_int_eq(p->exit_code, 128 + SIGTERM);
	ck_assert_str_eq(sbx_proc_state_word(p->state), "killed");
	sbx_process_free(p);
	ck_assert_int_eq(sbx_process_signal(c, s->id, pid, SIGTERM, &e), SBX_E_PRECONDITION);
	ck_assert_str_eq(e.reason, "CWSANDBOX_PROCESS_EXITED");
	ck_assert_int_eq(sbx_error_errno(&e), ESRCH);
	sbx_sandbox_delete(c, s->id, 0, 1, NULL);
	sbx_sandbox_free(s);
	sbx_client_free(c);
}
END_TEST

START_TEST(unary_exec)
{
	sbx_client *c = client();
	sbx_sandbox *s = idle(c, NULL);
	sbx_exec_req *r = NULL;
	const char *line = "printf 'x\\000y'; echo e >&2; exit 2";
	ck_assert_int_eq(sbx_exec_req_parse(line, strlen(line), &r, NULL), SBX_OK);
	sbx_exec_result *x = NULL;
	sbx_error e;
	ck_assert_int_eq(sbx_exec(c, s->id, r, 0, &x, &e), SBX_OK);
	ck_assert_int_eq(x->exit_code, 2);
	ck_assert_int_eq(x->out_len, 3);
	ck_assert_int_eq(memcmp(x->out, "x\0y", 3), 0);
	ck_assert_str_eq(x->errout, "e\n");
	ck_assert_int_eq(x->out_total, 3);
	sbx_exec_result_free(x);
	sbx_exec_req_free(r);
	/* output over maxOutputBytes is truncated, and says so */
	line = "head -c 1000 /dev/zero";
	sbx_exec_req_parse(line, strlen(line), &r, NULL);
	ck_assert_int_eq(sbx_exec(c, s->id, r, 100, &x, NULL), SBX_OK);
	ck_assert_int_eq(x->out_len, 100);
	ck_assert_int_eq(x->out_truncated, 1);
	ck_assert_int_eq(x->out_total, 1000);
	sbx_exec_result_free(x);
	sbx_exec_req_free(r);
	/* the real Exec has no timeout: ENOTSUP, never a command without its
	 * limit (a process start carries one: sbxd's extension) */
	sbx_exec_req_parse("sleep 10", 8, &r, NULL);
	sbx_exec_req_set_timeout(r, 1);
	ck_assert_int_eq(sbx_exec(c, s->id, r, 0, &x, &e), SBX_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(e.message, "timeoutSeconds"));
	sbx_process *tp = NULL;
	ck_assert_int_eq(sbx_process_start(c, s->id, r, &tp, &e), SBX_OK);
	int64_t tpid = tp->id;
	sbx_process_free(tp);
	long t0 = now_ms();
	ck_assert_int_eq(sbx_process_get(c, s->id, tpid, 10, &tp, &e), SBX_OK);
	ck_assert_int_lt(now_ms() - t0, 5000);
	ck_assert_int_eq(tp->state, SBX_PROC_KILLED);
	ck_assert_str_eq(tp->state_reason, "timeout");
	sbx_process_free(tp);
	sbx_exec_req_free(r);
	sbx_sandbox_delete(c, s->id, 0, 1, NULL);
	sbx_sandbox_free(s);
	sbx_client_free(c);
}
END_TEST

START_TEST(files)
{
	sbx_client *c = client();
	sbx_sandbox *s = idle(c, NULL);
	const char *id = s->id;
	sbx_error e;
	ck_assert_int_eq(sbx_file_mkdir(c, id, "/tmp/d1", 0755, &e), SBX_OK);
	ck_assert_int_eq(sbx_file_write(c, id, "/tmp/d1/f", -1, "hello world", 11, &e), SBX_OK);
	void *d = NULL;
	size_t n = 0;
	int64_t size = 0;
	ck_assert_int_eq(sbx_file_read(c, id, "/tmp/d1/f", 0, 0, &d, &n, &size, NULL), SBX_OK);
	ck_assert_int_eq(n, 11);
	ck_assert_int_eq(memcmp(d, "hello world", 11), 0);
	free(d);
	ck_assert_int_eq(sbx_file_read(c, id, "/tmp/d1/f", 6, 3, &d, &n, &size, NULL), SBX_OK);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(memcmp(d, "wor", 3), 0);
	ck_assert_int_eq(size, 11);
	free(d);
	ck_assert_int_eq(sbx_file_write(c, id, "/tmp/d1/f", 0, "J", 1, NULL), SBX_OK);
	ck_assert_int_eq(sbx_file_read(c, id, "/tmp/d1/f", 0, 0, &d, &n, NULL, NULL), SBX_OK);
	ck_assert_int_eq(memcmp(d, "Jello world", 11), 0);
	free(d);
	sbx_dirent st;
	ck_assert_int_eq(sbx_file_stat(c, id, "/tmp/d1/f", &st, NULL), SBX_OK);
	ck_assert_str_eq(st.name, "f");
	ck_assert_int_eq(st.type, SBX_FT_FILE);
	ck_assert_int_eq(st.size, 11);
	free(st.name);
	sbx_dirent *v = NULL;
	ck_assert_int_eq(sbx_file_list(c, id, "/tmp/d1", &v, &n, NULL), SBX_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(v[0].name, "f");
	sbx_dirent_list_free(v, n);
	ck_assert_int_eq(sbx_file_remove(c, id, "/tmp/d1", 0, &e), sbx_file_remove(c, id, "/tmp/d1", 0, NULL));
	ck_assert_int_eq(sbx_file_remove(c, id, "/tmp/d1", 1, NULL), SBX_OK);
	ck_assert_int_eq(sbx_file_read(c, id, "/tmp/d1/f", 0, 0, &d, &n, NULL, &e), SBX_E_NOT_FOUND);
	ck_assert_int_eq(sbx_error_errno(&e), ENOENT);
	/* a path that needs escaping */
	const char *odd = "/tmp/a b&c?d=e%f#g";
	ck_assert_int_eq(sbx_file_write(c, id, odd, -1, "z", 1, &e), SBX_OK);
	ck_assert_int_eq(sbx_file_read(c, id, odd, 0, 0, &d, &n, NULL, NULL), SBX_OK);
	ck_assert_int_eq(n, 1);
	free(d);
	ck_assert_int_eq(sbx_file_stat(c, id, odd, &st, NULL), SBX_OK);
	ck_assert_str_eq(st.name, "a b&c?d=e%f#g");
	free(st.name);
	/* fileFd: the file itself, read-only or read-write as asked; never a
	 * directory, a link or a missing file. */
	int fd = -1, ro = 1;
	char buf[8];
	ck_assert_int_eq(sbx_file_fd(c, id, odd, 0, &fd, &ro, &e), SBX_OK);
	ck_assert_int_eq(ro, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(pread(fd, buf, sizeof buf, 0), 1);
	ck_assert_int_eq(buf[0], 'z');
	ck_assert_int_lt(write(fd, "x", 1), 0);
	close(fd);
	ck_assert_int_eq(sbx_file_fd(c, id, odd, 1, &fd, &ro, &e), SBX_OK);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "yz", 2, 0), 2);
	close(fd);
	ck_assert_int_eq(sbx_file_read(c, id, odd, 0, 0, &d, &n, NULL, NULL), SBX_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(memcmp(d, "yz", 2), 0);
	free(d);
	ck_assert_int_eq(sbx_file_fd(c, id, "/tmp/nothing-here", 0, &fd, &ro, &e), SBX_E_NOT_FOUND);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_ne(sbx_file_fd(c, id, "/tmp", 0, &fd, &ro, &e), SBX_OK);
	ck_assert_int_eq(fd, -1);
	sbx_dirent le;
	ck_assert_int_eq(sbx_file_symlink(c, id, "/tmp/ln", "/etc/hostname", &le, &e), SBX_OK);
	free(le.name);
	free(le.link_target);
	free(le.link_resolved);
	ck_assert_int_ne(sbx_file_fd(c, id, "/tmp/ln", 0, &fd, &ro, &e), SBX_OK);
	ck_assert_int_eq(fd, -1);
	sbx_sandbox_delete(c, id, 0, 1, NULL);
	sbx_sandbox_free(s);
	sbx_client_free(c);
}
END_TEST


/* The same calls through a client that speaks the extension in binary
 * (the default where sbxd announces "protobuf"; tests/conformance proves
 * the exchanges are binary) and one told to keep to JSON: the same
 * answers, field by field, and the same errors. */
static void same_dirent(const sbx_dirent *a, const sbx_dirent *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_int_eq(a->type, b->type);
	ck_assert_int_eq(a->size, b->size);
	ck_assert_uint_eq(a->mode, b->mode);
	ck_assert_int_eq(a->mtime_ns, b->mtime_ns);
	ck_assert_int_eq(a->ctime_ns, b->ctime_ns);
	ck_assert_int_eq(a->has_posix, b->has_posix);
	ck_assert_uint_eq(a->uid, b->uid);
	ck_assert_uint_eq(a->nlink, b->nlink);
	ck_assert_uint_eq(a->ino, b->ino);
	ck_assert_int_eq(!a->link_target, !b->link_target);
	if (a->link_target)
		ck_assert_str_eq(a->link_target, b->link_target);
}

START_TEST(ext_encodings)
{
	sbx_client *cb = client(), *cj = client_as(1);
	sbx_sandbox *s = idle(cb, NULL);
	const char *id = s->id;
	unsigned f = 0;
	ck_assert_int_eq(sbx_client_features(cb, &f, NULL), SBX_OK);
	ck_assert(f & SBX_FEAT_PROTOBUF);
	ck_assert_int_eq(sbx_file_mkdir(cb, id, "/tmp/e", 0750, NULL), SBX_OK);
	ck_assert_int_eq(sbx_file_mkdir(cj, id, "/tmp/e/sub", 0700, NULL), SBX_OK);
	ck_assert_int_eq(sbx_file_write(cb, id, "/tmp/e/f", -1, "12345", 5, NULL), SBX_OK);
	ck_assert_int_eq(sbx_file_write(cj, id, "/tmp/e/sub/g", -1, "x", 1, NULL), SBX_OK);
	sbx_dirent le;
	ck_assert_int_eq(sbx_file_symlink(cb, id, "/tmp/e/l", "f", &le, NULL), SBX_OK);
	free(le.name);
	free(le.link_target);
	free(le.link_resolved);
	const char *more[] = {"/tmp/e/sub"};
	sbx_dirlist *lb = NULL, *lj = NULL;
	size_t nb = 0, nj = 0;
	/* twice each: the first listing of a directory moves its atime */
	for (int round = 0; round < 2; round++) {
		sbx_dirlist_free(lb, nb);
		sbx_dirlist_free(lj, nj);
		ck_assert_int_eq(sbx_file_list_many(cb, id, "/tmp/e", more, 1, &lb, &nb, NULL), SBX_OK);
		ck_assert_int_eq(sbx_file_list_many(cj, id, "/tmp/e", more, 1, &lj, &nj, NULL), SBX_OK);
	}
	ck_assert_uint_eq(nb, 2);
	ck_assert_uint_eq(nj, nb);
	for (size_t i = 0; i < nb; i++) {
		ck_assert_str_eq(lb[i].path, lj[i].path);
		ck_assert_uint_eq(lb[i].n, lj[i].n);
		for (size_t k = 0; k < lb[i].n; k++)
			same_dirent(&lb[i].ents[k], &lj[i].ents[k]);
	}
	ck_assert_uint_eq(lb[0].n, 3);
	sbx_dirlist_free(lb, nb);
	sbx_dirlist_free(lj, nj);
	sbx_dirent sb, sj;
	ck_assert_int_eq(sbx_file_stat(cb, id, "/tmp/e/f", &sb, NULL), SBX_OK);
	ck_assert_int_eq(sbx_file_stat(cj, id, "/tmp/e/f", &sj, NULL), SBX_OK);
	same_dirent(&sb, &sj);
	ck_assert_int_eq(sb.size, 5);
	free(sb.name);
	free(sj.name);
	/* errors come back JSON in both: the same code and errno */
	sbx_error eb, ej;
	ck_assert_int_eq(sbx_file_stat(cb, id, "/tmp/e/none", &sb, &eb), SBX_E_NOT_FOUND);
	ck_assert_int_eq(sbx_file_stat(cj, id, "/tmp/e/none", &sj, &ej), SBX_E_NOT_FOUND);
	ck_assert_int_eq(sbx_error_errno(&eb), ENOENT);
	ck_assert_int_eq(sbx_error_errno(&ej), ENOENT);
	ck_assert_int_eq(eb.http_status, ej.http_status);
	sbx_sandbox_delete(cb, id, 0, 1, NULL);
	sbx_sandbox_free(s);
	sbx_client_free(cb);
	sbx_client_free(cj);
}
END_TEST

/* ------------------------------------------------------------ async */

typedef struct tally {
	pthread_mutex_t mu;
	int ok, bad, done;
	char data[64];
	size_t len;
	int state;
	sbx_result last;
	int verbose;    /* print the first error */
} tally;

static void on_proc(void *ud, sbx_result r, const sbx_error *err, const sbx_process *p)
{
	tally *t = ud;
	pthread_mutex_lock(&t->mu);
	if (err && !t->bad && t->verbose)
		fprintf(stderr, "first error: %s (%s)\n", sbx_result_str(r), err->message);
	t->last = r;
	if (r == SBX_OK && p->state == SBX_PROC_EXITED && p->exit_code == 7)
		t->ok++;
	else
		t->bad++;
	t->done++;
	pthread_mutex_unlock(&t->mu);
}

static void on_out(void *ud, sbx_result r, const sbx_error *err, const sbx_chunk *ch)
{
	tally *t = ud;
	pthread_mutex_lock(&t->mu);
	if (err && !t->bad && t->verbose)
		fprintf(stderr, "first error: %s (%s)\n", sbx_result_str(r), err->message);
	t->last = r;
	if (r == SBX_OK && ch->len == 5 && memcmp(ch->data, "done\n", 5) == 0) {
		t->ok++;
		memcpy(t->data, ch->data, ch->len);
		t->len = ch->len;
	} else {
		t->bad++;
	}
	t->done++;
	pthread_mutex_unlock(&t->mu);
}

static void on_sb(void *ud, sbx_result r, const sbx_error *err, const sbx_sandbox *s)
{
	tally *t = ud;
	pthread_mutex_lock(&t->mu);
	t->last = r;
	if (r == SBX_OK)
		t->state = s->state;
	t->ok += r == SBX_OK;
	t->done++;
	pthread_mutex_unlock(&t->mu);
}

static int tally_wait(tally *t, int n, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		pthread_mutex_lock(&t->mu);
		int d = t->done;
		pthread_mutex_unlock(&t->mu);
		if (d >= n)
			return 1;
		usleep(10000);
	}
	return 0;
}

START_TEST(async_calls)
{
	sbx_client *c = client();
	sbx_sandbox *s = idle(c, NULL);
	sbx_async *a = NULL;
	ck_assert_int_eq(sbx_async_new(c, &a, NULL), SBX_OK);
	sbx_process *p = run(c, s->id, "sleep 0.3; echo done; exit 7", 0);
	tally t = {.mu = PTHREAD_MUTEX_INITIALIZER};
	ck_assert_ptr_nonnull(sbx_async_process_wait(a, s->id, p->id, 10, on_proc, &t));
	ck_assert_ptr_nonnull(sbx_async_output_read(a, s->id, p->id, SBX_STDOUT, 0, 64, 10, on_out, &t));
	ck_assert(tally_wait(&t, 2, 8000));
	ck_assert_int_eq(t.ok, 2);
	sbx_process_free(p);
	/* a sandbox wait that ends with the sandbox */
	tally ts = {.mu = PTHREAD_MUTEX_INITIALIZER};
	ck_assert_ptr_nonnull(sbx_async_sandbox_wait(a, s->id, 20, on_sb, &ts));
	usleep(100000);
	ck_assert_int_eq(ts.done, 0);
	ck_assert_int_eq(sbx_sandbox_delete(c, s->id, 0, 0, NULL), SBX_OK);
	ck_assert(tally_wait(&ts, 1, 8000));
	ck_assert_int_eq(ts.state, SBX_STATE_TERMINATED);
	/* errors reach the callback */
	tally te = {.mu = PTHREAD_MUTEX_INITIALIZER};
	ck_assert_ptr_nonnull(sbx_async_process_wait(a, "sbx-none", 1, 1, on_proc, &te));
	ck_assert(tally_wait(&te, 1, 5000));
	ck_assert_int_eq(te.last, SBX_E_NOT_FOUND);
	sbx_async_free(a);
	sbx_sandbox_free(s);
	sbx_client_free(c);
}
END_TEST

START_TEST(async_thousand_waits)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	ck_assert_msg(rl.rlim_cur >= 1200, "needs 1200 descriptors, have %ld", (long)rl.rlim_cur);
	/* Set-up on a client of its own, freed before the waits, so that the
	 * waits alone hold connections to sbxd. */
	sbx_client *setup = client();
	sbx_sandbox *s = idle(setup, NULL);
	/* The process outlives the submission of every wait, so all 1,000
	 * are in flight at once and end together. */
	sbx_process *p = run(setup, s->id, "sleep 3; echo done; exit 7", 0);
	sbx_client_free(setup);
	sbx_client *c = client();
	sbx_async *a = NULL;
	ck_assert_int_eq(sbx_async_new(c, &a, NULL), SBX_OK);
	tally t = {.mu = PTHREAD_MUTEX_INITIALIZER, .verbose = 1};
	long t0 = now_ms();
	for (int i = 0; i < 1000; i++) {
		sbx_op *op = i % 2 ? sbx_async_process_wait(a, s->id, p->id, 30, on_proc, &t)
		                   : sbx_async_output_read(a, s->id, p->id, SBX_STDOUT, 0, 64, 30, on_out, &t);
		ck_assert_ptr_nonnull(op);
	}
	usleep(1000 * 1000);
	pthread_mutex_lock(&t.mu);
	int early = t.done;
	pthread_mutex_unlock(&t.mu);
	ck_assert_int_eq(early, 0);
	int all = tally_wait(&t, 1000, 30000);
	long dt = now_ms() - t0;
	ck_assert_msg(all, "only %d of 1000 waits completed (%d ok)", t.done, t.ok);
	ck_assert_int_eq(t.ok, 1000);
	ck_assert_int_eq(t.bad, 0);
	ck_assert_int_lt(dt, 15000);
	printf("1000 concurrent waits completed in %ld ms (process ran 3 s)\n", dt);
	/* The loop keeps few idle connections afterwards, so the service's
	 * connection slots are free again for a new client. */
	usleep(200 * 1000);
	sbx_client *fresh = client();
	sbx_sandbox *again = NULL;
	sbx_error e;
	sbx_result r = sbx_sandbox_get(fresh, s->id, 0, &again, &e);
	ck_assert_msg(r == SBX_OK, "a new client after the waits: %s", e.message);
	sbx_sandbox_free(again);
	sbx_client_free(fresh);
	sbx_process_free(p);
	sbx_async_free(a);
	sbx_sandbox_delete(c, s->id, 0, 1, NULL);
	sbx_sandbox_free(s);
	sbx_client_free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("client-sbxd");
	TCase *t = tcase_create("sync");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, features_all);
	tcase_add_test(t, sandbox_lifecycle);
	tcase_add_test(t, main_command);
	tcase_add_test(t, processes);
	tcase_add_test(t, stdin_and_signals);
	tcase_add_test(t, unary_exec);
	tcase_add_test(t, files);
	tcase_add_test(t, ext_encodings);
	suite_add_tcase(s, t);
	TCase *a = tcase_create("async");
	tcase_set_timeout(a, 90);
	tcase_add_test(a, async_calls);
	tcase_add_test(a, async_thousand_waits);
	suite_add_tcase(s, a);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
