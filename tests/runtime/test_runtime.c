/*
 * Check tests of the sandbox runtime, driven through runtime.h as sbxd
 * drives it: create a box, spawn commands with spool files in a private
 * temp dir, collect exits. They cover spawn and exit codes, every
 * namespace, the overlay root, attacks from inside (mount, /proc/sys, /sys,
 * mknod, setuid, user namespaces, init's memory, hidden host paths), limits
 * (fork bomb, memory hog), signals, and clean-up that leaves no process,
 * cgroup, mount or scratch dir behind. Needs root; exits 77 otherwise.
 * Usage: test_runtime [TCASE]  (one tcase, so meson can run them in parallel)
 */
#include "runtime.h"
#include "proto.h"
#include "util.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[128];
static char state[256];
static srv_rt *rt;
static char err[SRV_ERRLEN];
static int boxno;

static void setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/sbx-rt-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(state, sizeof state, "%s/state", tmpdir);
	rt = srv_rt_new(state, err);
	ck_assert_msg(rt != NULL, "srv_rt_new: %s", err);
}

static void teardown(void)
{
	srv_rt_free(rt);
	rt = NULL;
	srv_rm_rf(tmpdir);
}

/* A template for mkstemp/mkdtemp in a host dir that a host-image sandbox
 * sees as the host's: not /tmp or /var/tmp (both private in every box):
 * the build dir when meson runs the test, unless it lies under one of
 * them (a CI clone under /tmp); else /var/cache (tests/lib.sh host_dir). */
static char *host_template(char *buf, size_t cap, const char *name)
{
	const char *dir = getenv("BUILD_DIR");
	if (!dir || !*dir || strncmp(dir, "/tmp/", 5) == 0 || strncmp(dir, "/var/tmp/", 9) == 0)
		dir = "/var/cache";
	snprintf(buf, cap, "%s/sbx-rt-%s.XXXXXX", dir, name);
	return buf;
}

static srv_box *mkbox_spec(srv_box_spec *spec)
{
	char id[32];
	srv_box *box = NULL;
	/* These tests try the kernel boundary with the host's tools, so they
	 * name the host image (its masks are sbxd's tests' business). */
	if (!spec->image)
		spec->image = "host";
	if (!spec->id) {
		snprintf(id, sizeof id, "box%d", ++boxno);
		spec->id = id;
	}
	int rc = srv_box_create(rt, spec, &box, err);
	ck_assert_msg(rc == 0, "srv_box_create: %s", err);
	spec->id = NULL;
	return box;
}

static srv_box *mkbox(void)
{
	srv_box_spec spec = {.image = "host"}; /* the kernel boundary, with host tools */
	return mkbox_spec(&spec);
}

/* Waits for the exit event of tok; returns its wait status (and the
 * event's flags in *flags unless NULL). */
static int wait_exit_flags(srv_box *box, int64_t tok, int timeout_ms, unsigned *flags)
{
	for (int waited = 0; waited <= timeout_ms;) {
		int64_t t;
		int st;
		int r = srv_box_next_exit(box, &t, &st, flags);
		ck_assert_int_ge(r, 0);
		if (r == 1 && t == tok)
			return st;
		if (r == 1)
			continue;
		struct pollfd p = {srv_box_event_fd(box), POLLIN, 0};
		poll(&p, 1, 50);
		waited += 50;
	}
	ck_abort_msg("no exit event for token %" PRId64 " within %d ms", tok, timeout_ms);
	return -1;
}

static int wait_exit(srv_box *box, int64_t tok, int timeout_ms)
{
	return wait_exit_flags(box, tok, timeout_ms, NULL);
}

static void slurp(const char *path, char *buf, size_t cap)
{
	if (srv_read_file(path, buf, cap) < 0)
		buf[0] = '\0';
}

/* Runs argv in box with spooled output; returns the wait status. */
static int runv(srv_box *box, const char *const *argv, const char *const *env, const char *cwd, char *out,
                char *errout, size_t cap)
{
	char po[PATH_MAX], pe[PATH_MAX];
	static int n;
	snprintf(po, sizeof po, "%s/out.%d", tmpdir, ++n);
	snprintf(pe, sizeof pe, "%s/err.%d", tmpdir, n);
	int fo = open(po, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int fe = open(pe, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert(fo >= 0 && fe >= 0);
	srv_spawn sp = {.argv = argv, .env = env, .cwd = cwd, .stdout_fd = fo, .stderr_fd = fe};
	int64_t tok;
	int rc = srv_box_spawn(box, &sp, &tok, NULL, err);
	ck_assert_msg(rc == 0, "spawn: %s", err);
	close(fo);
	close(fe);
	int st = wait_exit(box, tok, 30000);
	slurp(po, out, cap);
	slurp(pe, errout, cap);
	unlink(po);
	unlink(pe);
	return st;
}

static int sh(srv_box *box, const char *script, char *out, size_t cap)
{
	char e[4096];
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	int st = runv(box, argv, NULL, NULL, out, e, cap);
	if (st != 0)
		fprintf(stderr, "# sh %s -> status %d, stderr: %s\n", script, st, e);
	return st;
}

static int code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The instance's cgroup parent name, as runtime.c derives it. */
static void prefix_of(const char *state_dir, char *out, size_t len)
{
	char real[PATH_MAX];
	ck_assert_ptr_nonnull(realpath(state_dir, real));
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = real; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	snprintf(out, len, "sbxd-%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

static const char *const cg_roots[] = {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu",
                                       "/sys/fs/cgroup/unified"};

/* How many of the hierarchies hold a cgroup for box id of this instance. */
static int count_cgroup_dirs(const char *id)
{
	char prefix[64], p[PATH_MAX];
	prefix_of(state, prefix, sizeof prefix);
	int n = 0;
	for (size_t i = 0; i < sizeof cg_roots / sizeof cg_roots[0]; i++) {
		snprintf(p, sizeof p, "%s/%s/%s", cg_roots[i], prefix, id);
		n += access(p, F_OK) == 0;
	}
	return n;
}

static int64_t cg_value(const char *root, const char *id, const char *file, const char *key)
{
	char prefix[64], p[PATH_MAX], buf[4096];
	int64_t v = -1;
	prefix_of(state, prefix, sizeof prefix);
	snprintf(p, sizeof p, "%s/%s/%s/%s", root, prefix, id, file);
	if (srv_read_file(p, buf, sizeof buf) < 0)
		return -1;
	if (!key)
		return strtoll(buf, NULL, 10);
	return srv_find_counter(buf, key, &v) == 0 ? v : -1;
}

/* ---- spawn and exit codes (table-driven) ---- */

static const struct {
	const char *argv[4];
	const char *cwd;
	int code;
	const char *out, *err;
} exec_cases[] = {
	{{"true"}, NULL, 0, "", ""},
	{{"false"}, NULL, 1, "", ""},
	{{"sh", "-c", "echo hi; echo oops >&2; exit 3"}, NULL, 3, "hi\n", "oops\n"},
	{{"sh", "-c", "kill -TERM $$"}, NULL, 128 + SIGTERM, "", ""},
	{{"no-such-command-x"}, NULL, 127, "", "sbx: no-such-command-x: No such file or directory\n"},
	{{"/no/such/path"}, NULL, 127, "", "sbx: /no/such/path: No such file or directory\n"},
	{{"/etc/passwd"}, NULL, 126, "", "sbx: /etc/passwd: Permission denied\n"},
	{{""}, NULL, 127, "", "sbx: : No such file or directory\n"},
	{{"pwd"}, "/etc", 0, "/etc\n", ""},
	{{"pwd"}, "", 0, "/\n", ""},
	{{"true"}, "/no/such/dir", 127, "", "sbx: /no/such/dir: No such file or directory\n"},
	/* Commands, not init, are the OOM killer's first choice. */
	{{"sh", "-c", "cat /proc/self/oom_score_adj /proc/1/oom_score_adj"}, NULL, 0, "1000\n0\n", ""},
};

START_TEST(test_exec_codes)
{
	srv_box *box = mkbox();
	char out[4096], e[4096];
	int st = runv(box, exec_cases[_i].argv, NULL, exec_cases[_i].cwd, out, e, sizeof out);
	ck_assert_int_eq(code(st), exec_cases[_i].code);
	ck_assert_str_eq(out, exec_cases[_i].out);
	ck_assert_str_eq(e, exec_cases[_i].err);
	srv_box_destroy(box);
}
END_TEST

START_TEST(test_env_and_stdin)
{
	srv_box *box = mkbox();
	char out[4096], e[4096];
	const char *env[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
	const char *argv[] = {"sh", "-c", "echo \"$FOO|$PATH|$HOME\"", NULL};
	ck_assert_int_eq(runv(box, argv, env, NULL, out, e, sizeof out), 0);
	ck_assert_str_eq(out, "bar baz|/usr/bin:/bin|\n");
	/* The default environment has a PATH and HOME. */
	ck_assert_int_eq(runv(box, argv, NULL, NULL, out, e, sizeof out), 0);
	ck_assert_ptr_nonnull(strstr(out, "|/usr/local/sbin:"));
	ck_assert_ptr_nonnull(strstr(out, "|/root\n"));
	/* stdin: a pipe the caller writes and closes. */
	char po[PATH_MAX];
	snprintf(po, sizeof po, "%s/cat.out", tmpdir);
	int fo = open(po, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	const char *cat[] = {"cat", NULL};
	srv_spawn sp = {.argv = cat, .stdout_fd = fo, .stderr_fd = -1, .want_stdin = 1};
	int64_t tok;
	int in = -1;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, &in, err), 0);
	close(fo);
	ck_assert_int_ge(in, 0);
	ck_assert_int_eq(write(in, "through the pipe\n", 17), 17);
	close(in);
	ck_assert_int_eq(wait_exit(box, tok, 10000), 0);
	slurp(po, out, sizeof out);
	ck_assert_str_eq(out, "through the pipe\n");
	/* Without stdin, a reader sees EOF at once. */
	const char *wc[] = {"wc", "-c", NULL};
	ck_assert_int_eq(runv(box, wc, NULL, NULL, out, e, sizeof out), 0);
	ck_assert_str_eq(out, "0\n");
	srv_box_destroy(box);
}
END_TEST

/* A command's stdout/stderr are pipes that init copies into the spool, so
 * a root process inside cannot chmod (e.g. 06777), chown or truncate the
 * host's spool file through /proc/self/fd/1. Output stays byte-exact and
 * in order (stdout and stderr into one file share one pipe), is complete
 * when the exit event comes, keeps flowing from background children, and
 * the spool still raises inotify events (sbxd watches it for growth). */
START_TEST(test_spool_relay)
{
	srv_box *box = mkbox();
	char po[PATH_MAX], buf[4096];
	snprintf(po, sizeof po, "%s/relay.out", tmpdir);
	int fo = open(po, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int fo2 = open(po, O_WRONLY | O_APPEND | O_CLOEXEC); /* same file, other fd */
	ck_assert(fo >= 0 && fo2 >= 0);
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(inotify_add_watch(in, po, IN_MODIFY), 0);
	const char *attack[] = {"/bin/sh", "-c",
	                        "echo before; chmod 6777 /proc/self/fd/1 /proc/self/fd/2; "
	                        "chown 123:123 /proc/self/fd/1; truncate -s 0 /proc/self/fd/1 2>/dev/null; "
	                        "for i in 1 2 3; do echo o$i; echo e$i >&2; done; "
	                        "(sleep 0.3; echo late) & echo after", NULL};
	srv_spawn sp = {.argv = attack, .stdout_fd = fo, .stderr_fd = fo2};
	int64_t tok;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
	ck_assert_int_eq(wait_exit(box, tok, 10000), 0);
	slurp(po, buf, sizeof buf);
	ck_assert_str_eq(buf, "before\no1\ne1\no2\ne2\no3\ne3\nafter\n");
	struct stat sb;
	ck_assert_int_eq(stat(po, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(sb.st_uid, getuid());
	char ev[4096];
	ck_assert_int_gt(read(in, ev, sizeof ev), 0);
	for (int i = 0; i < 100 && strcmp(buf, "before\no1\ne1\no2\ne2\no3\ne3\nafter\nlate\n") != 0; i++) {
		usleep(20 * 1000);
		slurp(po, buf, sizeof buf);
	}
	ck_assert_str_eq(buf, "before\no1\ne1\no2\ne2\no3\ne3\nafter\nlate\n");
	/* What a command sees on fd 1 is a pipe, not the host file. */
	const char *kind[] = {"stat", "-L", "-c", "%F", "/proc/self/fd/1", NULL};
	char out[256], e[256];
	ck_assert_int_eq(runv(box, kind, NULL, NULL, out, e, sizeof out), 0);
	ck_assert_str_eq(out, "fifo\n");
	close(in);
	close(fo);
	close(fo2);
	srv_box_destroy(box);
}
END_TEST

START_TEST(test_request_caps)
{
	srv_box *box = mkbox();
	size_t big = SRV_PROTO_MAX_STRINGS + 10;
	char *arg = malloc(big);
	ck_assert_ptr_nonnull(arg);
	memset(arg, 'x', big - 1);
	arg[big - 1] = '\0';
	const char *argv[] = {"echo", arg, NULL};
	const char *none[] = {NULL};
	srv_spawn sp = {.argv = argv, .stdout_fd = -1, .stderr_fd = -1};
	int64_t tok;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), -1);
	ck_assert_int_eq(errno, E2BIG);
	sp.argv = none;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), -1);
	free(arg);
	/* The box still works after refused requests. */
	char out[256];
	ck_assert_int_eq(sh(box, "echo alive", out, sizeof out), 0);
	ck_assert_str_eq(out, "alive\n");
	srv_box_destroy(box);
}
END_TEST

/* ---- namespaces and filesystem ---- */

START_TEST(test_pid_ns_and_hostname)
{
	srv_box_spec spec = {.image = "host", .hostname = "sbx-host-x1"};
	srv_box *box = mkbox_spec(&spec);
	char out[4096];
	/* Only init, the shell and ls exist inside. */
	ck_assert_int_eq(sh(box, "ls /proc | grep -c '^[0-9][0-9]*$'", out, sizeof out), 0);
	ck_assert_int_le(atoi(out), 4); /* init, sh, ls, grep */
	ck_assert_int_eq(sh(box, "cat /proc/1/comm", out, sizeof out), 0);
	ck_assert_str_eq(out, "sbx-init\n");
	ck_assert_int_eq(sh(box, "echo $$", out, sizeof out), 0);
	ck_assert_int_lt(atoi(out), 10); /* pids count from 1 inside */
	char script[128];
	snprintf(script, sizeof script, "test -e /proc/%d", (int)getpid());
	if (getpid() > 10)
		ck_assert_int_ne(sh(box, script, out, sizeof out), 0);
	ck_assert_int_eq(sh(box, "hostname", out, sizeof out), 0);
	ck_assert_str_eq(out, "sbx-host-x1\n");
	srv_box_destroy(box);
	/* A hostname over the kernel's 64 bytes is cut, not refused. */
	srv_box_spec s3 = {.hostname = "h123456789012345678901234567890123456789012345678901234567890123456789"};
	box = mkbox_spec(&s3);
	ck_assert_int_eq(sh(box, "hostname", out, sizeof out), 0);
	ck_assert_str_eq(out, "h123456789012345678901234567890123456789012345678901234567890123\n");
	srv_box_destroy(box);
	/* Without a hostname, the id names the host. */
	srv_box_spec s2 = {.id = "named-by-id"};
	box = mkbox_spec(&s2);
	ck_assert_int_eq(sh(box, "hostname", out, sizeof out), 0);
	ck_assert_str_eq(out, "named-by-id\n");
	srv_box_destroy(box);
}
END_TEST

START_TEST(test_network)
{
	char out[8192];
	srv_box *box = mkbox();
	/* Only loopback, and it is up. */
	ck_assert_int_eq(sh(box, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", out, sizeof out), 0);
	ck_assert_str_eq(out, "lo\n");
	ck_assert_int_eq(sh(box, "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags", out, sizeof out), 0);
	ck_assert_ptr_nonnull(strstr(out, "0x9")); /* IFF_UP|IFF_LOOPBACK */
	srv_box_destroy(box);
	/* With egress the box still has its own namespace: loopback and the
	 * user-mode stack's interface, never the host's interfaces. */
	static const srv_net_rule any = {NULL, 0, NULL, NULL, 0};
	static const srv_egress eg = {&any, 1};
	srv_box_spec spec = {.egress = &eg};
	/* A shared mount with a submount, as systemd (or `ip netns add`)
	 * leaves them: the stack's own sandbox must not unmount it here. */
	char shared[] = "/tmp/sbx-rt-shared.XXXXXX", sub[64];
	ck_assert_ptr_nonnull(mkdtemp(shared));
	snprintf(sub, sizeof sub, "%s/sub", shared);
	ck_assert_int_eq(mount("tmpfs", shared, "tmpfs", 0, "size=64k"), 0);
	ck_assert_int_eq(mount(NULL, shared, NULL, MS_SHARED, NULL), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(mount("tmpfs", sub, "tmpfs", 0, "size=64k"), 0);
	struct stat st_top, st_sub;
	box = mkbox_spec(&spec);
	int still = stat(shared, &st_top) == 0 && stat(sub, &st_sub) == 0 && st_top.st_dev != st_sub.st_dev;
	umount2(sub, MNT_DETACH);
	umount2(shared, MNT_DETACH);
	rmdir(shared);
	ck_assert_msg(still, "creating an egress box unmounted a shared mount of the host");
	ck_assert_int_eq(sh(box, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort", out, sizeof out), 0);
	ck_assert_str_eq(out, "eth0\nlo\n");
	ck_assert_int_eq(sh(box, "cat /etc/resolv.conf", out, sizeof out), 0);
	ck_assert_ptr_nonnull(strstr(out, "nameserver " SRV_NET_DNS "\n"));
	srv_box_destroy(box);
}
END_TEST

START_TEST(test_overlay_root)
{
	char hostfile[256];
	host_template(hostfile, sizeof hostfile, "host");
	int fd = mkstemp(hostfile);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "original\n", 9), 9);
	close(fd);
	srv_box *box = mkbox();
	char out[4096], script[1024];
	snprintf(script, sizeof script,
	         "echo changed > %s && cat %s && echo new > /etc/sbx-rt-new && cat /etc/sbx-rt-new && "
	         "rm /bin/true.x 2>/dev/null; cp /bin/true /usr/bin/sbx-rt-bin && rm -f /etc/hostname",
	         hostfile, hostfile);
	ck_assert_int_eq(sh(box, script, out, sizeof out), 0);
	ck_assert_str_eq(out, "changed\nnew\n");
	/* Writes land in the sandbox's private layer, not on the host. */
	slurp(hostfile, out, sizeof out);
	ck_assert_str_eq(out, "original\n");
	ck_assert_int_ne(access("/etc/sbx-rt-new", F_OK), 0);
	ck_assert_int_ne(access("/usr/bin/sbx-rt-bin", F_OK), 0);
	/* sbxd reaches the sandbox's files through /proc/INIT/root, even
	 * though init is not dumpable. */
	char via[PATH_MAX];
	snprintf(via, sizeof via, "/proc/%d/root/etc/sbx-rt-new", (int)srv_box_init_pid(box));
	slurp(via, out, sizeof out);
	ck_assert_str_eq(out, "new\n");
	/* A second box does not see the first one's writes. */
	srv_box *b2 = mkbox();
	ck_assert_int_ne(sh(b2, "test -e /etc/sbx-rt-new", out, sizeof out), 0);
	srv_box_destroy(b2);
	srv_box_destroy(box);
	unlink(hostfile);
	if (access("/etc/hostname", F_OK) != 0)
		ck_abort_msg("the sandbox removed the host's /etc/hostname");
}
END_TEST

START_TEST(test_hidden_paths)
{
	srv_box *box = mkbox();
	char out[4096], script[PATH_MAX + 64];
	/* The state dir (scratch, upper layers) and the caller's temp dir are
	 * not reachable, nor the host's cgroups. */
	snprintf(script, sizeof script, "ls -A %s", state);
	sh(box, script, out, sizeof out);
	ck_assert_str_eq(out, "");
	snprintf(script, sizeof script, "test -e %s/run", state);
	ck_assert_int_ne(sh(box, script, out, sizeof out), 0);
	snprintf(script, sizeof script, "ls -A /tmp /dev/shm");
	ck_assert_int_eq(sh(box, script, out, sizeof out), 0);
	ck_assert_str_eq(out, "/dev/shm:\n\n/tmp:\n");
	ck_assert_int_eq(sh(box, "ls -A /sys/fs/cgroup | wc -l", out, sizeof out), 0);
	ck_assert_str_eq(out, "0\n");
	ck_assert_int_eq(sh(box, "ls /dev | tr '\\n' ' '", out, sizeof out), 0);
	ck_assert_str_eq(out, "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ");
	srv_box_destroy(box);
	/* srv_rt_hide_path covers a host dir of the caller's choice. */
	char extra[256];
	host_template(extra, sizeof extra, "hide");
	ck_assert_ptr_nonnull(mkdtemp(extra));
	char f[300];
	snprintf(f, sizeof f, "%s/secret", extra);
	int fd = open(f, O_WRONLY | O_CREAT, 0600);
	close(fd);
	ck_assert_int_eq(srv_rt_hide_path(rt, extra, err), 0);
	ck_assert_int_eq(srv_rt_hide_path(rt, "/", err), -1);
	ck_assert_int_eq(srv_rt_hide_path(rt, "/no/such/dir", err), -1);
	box = mkbox();
	snprintf(script, sizeof script, "test -e %s && ! test -e %s", extra, f);
	ck_assert_int_eq(sh(box, script, out, sizeof out), 0);
	srv_box_destroy(box);
	unlink(f);
	rmdir(extra);
}
END_TEST

START_TEST(test_host_unix_socket)
{
	/* A host daemon's unix socket on the root filesystem shows through the
	 * overlay, but connecting through the overlay's inode is refused. */
	if (access("/usr/bin/python3", X_OK) != 0)
		return;
	char path[256];
	host_template(path, sizeof path, "sock");
	ck_assert_ptr_nonnull(mkdtemp(path));
	char sock[300];
	snprintf(sock, sizeof sock, "%s/s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	ck_assert_uint_lt(strlen(sock), sizeof sa.sun_path);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	srv_box *box = mkbox();
	char out[256], script[2 * PATH_MAX + 256];
	snprintf(script, sizeof script,
	         "test -S %s && /usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"%s\")'",
	         sock, sock);
	ck_assert_int_ne(sh(box, script, out, sizeof out), 0);
	srv_box_destroy(box);
	close(fd);
	unlink(sock);
	rmdir(path);
}
END_TEST

/* ---- attacks from inside: each must fail (table-driven) ---- */

static const struct {
	const char *what, *script;
} attacks[] = {
	{"mount a tmpfs", "mount -t tmpfs none /mnt"},
	{"remount / rw", "mount -o remount,rw /"},
	{"unmount /proc", "umount -l /proc"},
	{"mount via a user namespace", "unshare -Urm sh -c 'mount -t tmpfs none /mnt'"},
	{"new network namespace", "unshare -n true"},
	{"write /proc/sys", "echo 3 > /proc/sys/vm/drop_caches"},
	{"write kernel.hostname via /proc/sys", "echo evil > /proc/sys/kernel/hostname"},
	{"write /proc/sysrq-trigger", "test -e /proc/sysrq-trigger || exit 1; echo h > /proc/sysrq-trigger"},
	{"write /sys", "echo x > /sys/kernel/uevent_helper"},
	{"read init's environ (a copy of sbxd)", "cat /proc/1/environ | head -c 1 | grep -q ."},
	{"read init's memory", "dd if=/proc/1/mem bs=1 count=1 skip=4096 2>/dev/null | grep -q ."},
	{"mknod a disk", "mknod /tmp/sda b 8 0"},
	{"mknod a null device", "mknod /tmp/nul c 1 3"},
	{"reach a host disk", "ls /dev/vda /dev/sda /dev/nvme0n1 /dev/mem /dev/kmsg 2>/dev/null | grep -q ."},
	/* init_module(NULL, 0, "") is refused with EPERM (seccomp, no
	 * CAP_SYS_MODULE) before the kernel would look at the pointer. */
	{"load a module", "test \"$(uname -m)\" = x86_64 && test -x /usr/bin/python3 || exit 1; /usr/bin/python3 -c "
	                  "'import ctypes; l = ctypes.CDLL(None, use_errno=True); l.syscall(175, 0, 0, b\"\"); "
	                  "exit(0 if ctypes.get_errno() != 1 else 1)'"},
	{"set the time", "date -s '2001-01-01'"},
	{"set up an io_uring", "test \"$(uname -m)\" = x86_64 && test -x /usr/bin/python3 || exit 1; /usr/bin/python3 -c "
	                       "'import ctypes; l = ctypes.CDLL(None, use_errno=True); p = ctypes.create_string_buffer(120); "
	                       "exit(0 if l.syscall(425, 4, p) >= 0 or ctypes.get_errno() != 1 else 1)'"},
	{"kill init, then init is gone", "kill -9 1; sleep 0.2; test ! -e /proc/1"},
	{"join a host cgroup", "echo $$ > /sys/fs/cgroup/cgroup.procs"},
	{"chroot out via ..", "cd /; cd ../../..; test -e /work/.mirror-sentinel-none && exit 0; ls /proc/1/root/.. >/dev/null 2>&1; test -d /tmp/sbx-rt-test-host-marker"},
	{"raise an rlimit", "ulimit -n 1048576"},
	{"open a raw socket (CAP_NET_RAW)", "test -x /usr/bin/python3 || exit 1; /usr/bin/python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'"},
	{"have CAP_SYS_ADMIN in the bounding set",
	 "v=$(grep CapBnd /proc/self/status | cut -f2); test $(( 0x$v & (1 << 21) )) -ne 0"},
	{"setuid escalation (no_new_privs, nosuid)",
	 "cp /usr/bin/id /usr/local/bin/sbxid && chmod 4755 /usr/local/bin/sbxid && "
	 "test \"$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/local/bin/sbxid -u)\" = 0"},
	{"su to root from nobody", "setpriv --reuid=65534 --regid=65534 --clear-groups su -c true root </dev/null"},
	/* sbxd's argv (--token-file PATH, the state dir) through init's cmdline */
	{"read sbxd's argv in /proc/1/cmdline", "test \"$(tr '\\0' ' ' < /proc/1/cmdline)\" != 'sbx-init '"},
	{"see host cgroup paths", "grep -v ':/$' /proc/self/cgroup | grep -q ."},
	{"read /proc/kpageflags", "head -c 64 /proc/kpageflags | wc -c | grep -qx 64"},
	{"read /proc/kpagecount", "head -c 64 /proc/kpagecount | wc -c | grep -qx 64"},
	{"read /proc/slabinfo", "grep -q . /proc/slabinfo"},
	{"read /proc/vmallocinfo", "grep -q . /proc/vmallocinfo"},
	{"read /proc/timer_list or sched_debug", "cat /proc/timer_list /proc/sched_debug | grep -q ."},
	{"set a PSI trigger", "ls /proc/pressure | grep -q . || exit 1; "
	                      "exec 3> /proc/pressure/memory && echo 'some 150000 1000000' >&3"},
	{"read /sys/firmware", "ls -A /sys/firmware | grep -q ."},
	/* init holds the spool fds of the relays */
	{"reach a spool through init's fds",
	 "ls /proc/1/fd | grep -q . || exit 1; for f in /proc/1/fd/*; do readlink $f && exit 0; "
	 ": >> $f && exit 0; chmod 6777 $f && exit 0; done; exit 1"},
};

START_TEST(test_attacks)
{
	srv_box *box = mkbox();
	char out[4096];
	int st = sh(box, attacks[_i].script, out, sizeof out);
	ck_assert_msg(st != 0, "attack succeeded: %s (%s)", attacks[_i].what, attacks[_i].script);
	/* init survives every attempt and still serves requests */
	ck_assert_int_eq(sh(box, "echo ok", out, sizeof out), 0);
	ck_assert_str_eq(out, "ok\n");
	srv_box_destroy(box);
}
END_TEST

/* ---- limits ---- */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* fork+exec+wait of /bin/true on the host, in ms: the host stays usable. */
static double host_true_ms(void)
{
	double t0 = now_ms();
	pid_t p = fork();
	if (p == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(p, &st, 0);
	return now_ms() - t0;
}

START_TEST(test_fork_bomb)
{
	srv_box_spec spec = {.max_pids = 64};
	srv_box *box = mkbox_spec(&spec);
	char po[PATH_MAX];
	snprintf(po, sizeof po, "%s/bomb.err", tmpdir);
	int fe = open(po, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	const char *argv[] = {"sh", "-c", "b() { b | b & }; b; sleep 3", NULL};
	srv_spawn sp = {.argv = argv, .stdout_fd = -1, .stderr_fd = fe};
	int64_t tok;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
	close(fe);
	usleep(1500 * 1000);
	/* The host still forks quickly while the bomb runs against pids.max. */
	double worst = 0;
	for (int i = 0; i < 5; i++) {
		double t = host_true_ms();
		worst = t > worst ? t : worst;
	}
	ck_assert_msg(worst < 1000, "host fork+exec took %.1f ms during the bomb", worst);
	/* The limit holds (v1 pids or v2 pids.max), and was hit. */
	char id[32];
	snprintf(id, sizeof id, "box%d", boxno);
	int64_t cur = cg_value("/sys/fs/cgroup/pids", id, "pids.current", NULL);
	int64_t hits = cg_value("/sys/fs/cgroup/pids", id, "pids.events", "max");
	if (cur < 0) {
		cur = cg_value("/sys/fs/cgroup", id, "pids.current", NULL);
		hits = cg_value("/sys/fs/cgroup", id, "pids.events", "max");
	}
	ck_assert_msg(cur > 0 && cur <= 64, "pids.current %" PRId64, cur);
	ck_assert_msg(hits > 0, "pids.events max %" PRId64, hits);
	/* New processes are refused while the box is full, but the box is
	 * still manageable: signal everything and destroy leaves nothing. */
	ck_assert_int_eq(srv_box_signal(box, 0, SIGKILL), 0);
	srv_box_destroy(box);
}
END_TEST

START_TEST(test_memory_hog)
{
	srv_box_spec spec = {.memory_bytes = 64 << 20};
	srv_box *box = mkbox_spec(&spec);
	char out[4096];
	ck_assert_int_eq(srv_box_oom_kills(box), 0);
	int st = sh(box, "head -c 400000000 /dev/zero | tail -c 300000000 | wc -c", out, sizeof out);
	(void)st;
	ck_assert_msg(srv_box_oom_kills(box) > 0, "no OOM kill recorded");
	ck_assert_msg(host_true_ms() < 1000, "the host is slow after the OOM kill");
	ck_assert_int_ge(srv_box_memory_bytes(box), 0);
	/* The box survives its OOM kill and still runs commands. */
	ck_assert_int_eq(sh(box, "echo after", out, sizeof out), 0);
	ck_assert_str_eq(out, "after\n");
	srv_box_destroy(box);
}
END_TEST

START_TEST(test_oom_spares_init)
{
	/* Init is a copy of its creator, so its RSS counts the creator's pages:
	 * give the creator 48 MiB of touched memory against a 32 MiB limit.
	 * The OOM killer must still take the hog (commands score +1000), not
	 * init, whose death would end the whole sandbox. This holds while
	 * sbxd's RSS stays below the limit plus the hog's RSS. */
	size_t big = 128u << 20;
	char *ballast = malloc(big);
	ck_assert_ptr_nonnull(ballast);
	for (size_t i = 0; i < big; i += 4096)
		((volatile char *)ballast)[i] = 1; /* touched for real: no dead store */
	srv_box_spec spec = {.memory_bytes = 32 << 20};
	srv_box *box = mkbox_spec(&spec);
	char out[256];
	sh(box, "head -c 200000000 /dev/zero | tail -c 150000000 | wc -c", out, sizeof out);
	ck_assert_int_gt(srv_box_oom_kills(box), 0);
	ck_assert_int_eq(sh(box, "echo init-alive", out, sizeof out), 0);
	ck_assert_str_eq(out, "init-alive\n");
	srv_box_destroy(box);
	free(ballast);
}
END_TEST

/* Every tmpfs of a box is bounded: one tmpfs of disk_bytes (else the
 * memory limit, else 1 GiB) holds the writable layer, /tmp and /dev/shm
 * together, instead of three tmpfs of half the host's RAM each. */
START_TEST(test_tmpfs_sizes)
{
	char out[256];
	srv_box *box = mkbox();
	ck_assert_int_eq(sh(box, "df -k --output=size /tmp /dev/shm | tail -n +2 | tr -d ' '", out, sizeof out), 0);
	ck_assert_str_eq(out, "1048576\n1048576\n");
	srv_box_destroy(box);
	srv_box_spec mem = {.memory_bytes = 64 << 20};
	box = mkbox_spec(&mem);
	ck_assert_int_eq(sh(box, "df -k --output=size /tmp /dev/shm | tail -n +2 | tr -d ' '", out, sizeof out), 0);
	ck_assert_str_eq(out, "65536\n65536\n");
	srv_box_destroy(box);
	srv_box_spec disk = {.disk_bytes = 8 << 20};
	box = mkbox_spec(&disk);
	/* 6 MiB fit; the next 6 MiB do not, wherever they go. */
	ck_assert_int_eq(sh(box, "head -c 6M /dev/zero > /tmp/a && ! head -c 6M /dev/zero > /dev/shm/b 2>/dev/null"
	                         " && ! head -c 6M /dev/zero > /root/c 2>/dev/null && echo full", out, sizeof out), 0);
	ck_assert_str_eq(out, "full\n");
	/* setuid files in /tmp stay inert (nosuid), as with a tmpfs mount */
	ck_assert_int_eq(sh(box, "grep -E ' /(tmp|dev/shm) ' /proc/mounts | grep -c nosuid,nodev", out, sizeof out), 0);
	ck_assert_str_eq(out, "2\n");
	srv_box_destroy(box);
}
END_TEST

/* max_file_bytes is every process's RLIMIT_FSIZE: a command cannot grow
 * its spool file (or any file) past it, nor raise the limit. */
START_TEST(test_max_file_bytes)
{
	srv_box_spec spec = {.max_file_bytes = 1 << 20};
	srv_box *box = mkbox_spec(&spec);
	char po[PATH_MAX], out[256];
	snprintf(po, sizeof po, "%s/big.out", tmpdir);
	int fo = open(po, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert_int_ge(fo, 0);
	const char *argv[] = {"head", "-c", "3M", "/dev/zero", NULL};
	srv_spawn sp = {.argv = argv, .stdout_fd = fo, .stderr_fd = -1};
	int64_t tok;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
	close(fo);
	int st = wait_exit(box, tok, 10000);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ, "status %d", st);
	struct stat sb;
	ck_assert_int_eq(stat(po, &sb), 0);
	ck_assert_int_eq(sb.st_size, 1 << 20);
	ck_assert_int_ne(sh(box, "ulimit -f unlimited", out, sizeof out), 0);
	ck_assert_int_eq(sh(box, "ulimit -f; ulimit -H -f", out, sizeof out), 0);
	ck_assert_str_eq(out, "2048\n2048\n");
	srv_box_destroy(box);
}
END_TEST

/* keep_bytes: each stream stores that many bytes and counts the rest as a
 * hole, in a disk file and in a memfd alike; the count is still held to
 * RLIMIT_FSIZE, and stops exactly at it, as a write does. And the host's run/ stays empty: each
 * box's writable layer is a tmpfs in its own mount namespace. */
START_TEST(test_keep_bytes)
{
	srv_box_spec spec = {.max_file_bytes = 1 << 20};
	srv_box *box = mkbox_spec(&spec);
	char po[PATH_MAX], buf[2048];
	snprintf(po, sizeof po, "%s/run", state);
	DIR *d = opendir(po);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		ck_assert_msg(de->d_name[0] == '.', "host run/ holds %s", de->d_name);
	closedir(d);
	snprintf(po, sizeof po, "%s/keep.out", tmpdir);
	int fds[2] = {open(po, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600),
	              memfd_create("keep", MFD_CLOEXEC)};
	ck_assert(fds[0] >= 0 && fds[1] >= 0);
	fcntl(fds[1], F_SETFL, O_APPEND);
	const char *argv[] = {"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; echo err >&2", NULL};
	for (int i = 0; i < 2; i++) {
		srv_spawn sp = {.argv = argv, .stdout_fd = fds[i], .stderr_fd = fds[i], .keep_bytes = 1000};
		int64_t tok;
		ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
		ck_assert_int_eq(wait_exit(box, tok, 10000), 0);
		struct stat sb;
		ck_assert_int_eq(fstat(fds[i], &sb), 0);
		ck_assert_int_eq(sb.st_size, 300004);
		ck_assert_int_le((int64_t)sb.st_blocks * 512, 64 << 10);
		ck_assert_int_eq(pread(fds[i], buf, sizeof buf, 0), sizeof buf);
		for (int k = 0; k < 1000; k++)
			ck_assert_int_eq(buf[k], 'a');
		for (int k = 1000; k < (int)sizeof buf; k++)
			ck_assert_int_eq(buf[k], 0);
	}
	/* Counting past RLIMIT_FSIZE is writing past it: SIGXFSZ. */
	const char *big[] = {"head", "-c", "3M", "/dev/zero", NULL};
	ck_assert_int_eq(ftruncate(fds[1], 0), 0);
	srv_spawn sp = {.argv = big, .stdout_fd = fds[1], .stderr_fd = -1, .keep_bytes = 1000};
	int64_t tok;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
	int st = wait_exit(box, tok, 10000);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ, "status %d", st);
	struct stat sb;
	ck_assert_int_eq(fstat(fds[1], &sb), 0);
	ck_assert_int_eq(sb.st_size, 1 << 20);
	close(fds[0]);
	close(fds[1]);
	srv_box_destroy(box);
}
END_TEST

/* SRV_EXIT_OUTPUT_DONE says init holds none of the command's output files
 * any more: set when the command and its pipes are gone, clear while a
 * background child still holds its stdout (sbxd reuses spools by it). */
START_TEST(test_exit_output_done)
{
	srv_box *box = mkbox();
	int fo = memfd_create("done", MFD_CLOEXEC);
	ck_assert_int_ge(fo, 0);
	const char *quick[] = {"sh", "-c", "echo hi", NULL};
	const char *lingering[] = {"sh", "-c", "echo hi; sleep 2 &", NULL};
	/* (the pause lets the child redirect before the exit is seen) */
	const char *quiet_child[] = {"sh", "-c", "echo hi; sleep 3 >/dev/null 2>&1 & sleep 1", NULL};
	const char *const *cmds[] = {quick, lingering, quiet_child};
	const unsigned want[] = {SRV_EXIT_OUTPUT_DONE, 0, SRV_EXIT_OUTPUT_DONE};
	for (int i = 0; i < 3; i++) {
		srv_spawn sp = {.argv = cmds[i], .stdout_fd = fo, .stderr_fd = fo};
		int64_t tok;
		unsigned flags = 99;
		ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
		ck_assert_int_eq(wait_exit_flags(box, tok, 10000, &flags), 0);
		ck_assert_msg(flags == want[i], "command %d: flags %u, want %u", i, flags, want[i]);
	}
	close(fo);
	srv_box_destroy(box);
}
END_TEST

START_TEST(test_cpu_limit)
{
	srv_box_spec spec = {.cpu_millis = 200};
	srv_box *box = mkbox_spec(&spec);
	char out[256];
	/* A busy loop for 1 s of wall time gets about 0.2 s of CPU (1 s unlimited). */
	ck_assert_int_eq(sh(box, "timeout 1 sh -c 'while :; do :; done'; times", out, sizeof out), 0);
	int um, sm;
	double us, ss;
	char *second = strchr(out, '\n');
	ck_assert_ptr_nonnull(second);
	ck_assert_int_eq(sscanf(second + 1, "%dm%lfs %dm%lfs", &um, &us, &sm, &ss), 4);
	double cpu = um * 60 + us + sm * 60 + ss;
	printf("cpu limit 200 millis: %.3f s of CPU in 1 s\n", cpu);
	/* The upper bound is the point; the lower one only shows the loop ran
	 * (a busy CI box may starve it). */
	ck_assert_msg(cpu > 0.01 && cpu < 0.5, "busy loop got %.3f s of CPU under a 0.2 CPU limit", cpu);
	srv_box_destroy(box);
}
END_TEST

/* ---- signals, init death, clean-up ---- */

static int mounts_mentioning(const char *s)
{
	static char buf[1 << 20];
	slurp("/proc/self/mountinfo", buf, sizeof buf);
	int n = 0;
	for (char *p = buf; (p = strstr(p, s)) != NULL; p++)
		n++;
	return n;
}

START_TEST(test_signal_and_destroy)
{
	srv_box_spec spec = {.id = "sig-box"};
	srv_box *box = mkbox_spec(&spec);
	const char *slp[] = {"sleep", "1000", NULL};
	const char *orphan[] = {"sh", "-c", "sleep 1000 & sleep 1000 & exit 0", NULL};
	srv_spawn sp = {.argv = slp, .stdout_fd = -1, .stderr_fd = -1};
	int64_t a, b, c;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &a, NULL, err), 0);
	ck_assert_int_eq(srv_box_spawn(box, &sp, &b, NULL, err), 0);
	sp.argv = orphan;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &c, NULL, err), 0);
	ck_assert(a != b && b != c && a > 0);
	ck_assert_int_eq(wait_exit(box, c, 5000), 0);
	ck_assert_int_eq(srv_box_signal(box, a, SIGTERM), 0);
	int st = wait_exit(box, a, 5000);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	/* An exited process: ESRCH. */
	ck_assert_int_eq(srv_box_signal(box, a, SIGTERM), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_int_eq(srv_box_signal(box, 12345, SIGTERM), -1);
	ck_assert_int_eq(errno, ESRCH);
	/* Token 0 reaches everything, orphans included. */
	ck_assert_int_eq(srv_box_signal(box, 0, SIGKILL), 0);
	st = wait_exit(box, b, 5000);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	char out[256];
	/* The orphaned sleeps are gone too, once the kernel has delivered the
	 * kills and init has reaped them (grep -c exits 1 on a zero count). */
	for (int i = 0; i < 100; i++) {
		sh(box, "cat /proc/[0-9]*/comm 2>/dev/null | grep -c sleep", out, sizeof out);
		if (strcmp(out, "0\n") == 0)
			break;
		usleep(20 * 1000);
	}
	ck_assert_str_eq(out, "0\n");
	/* Leave a few processes running and destroy: nothing stays behind. */
	sp.argv = orphan;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &c, NULL, err), 0);
	pid_t init = srv_box_init_pid(box);
	ck_assert_int_gt(init, 0);
	ck_assert_int_eq(count_cgroup_dirs("sig-box"), 4);
	srv_box_destroy(box);
	ck_assert_int_eq(kill(init, 0), -1);
	ck_assert_int_eq(count_cgroup_dirs("sig-box"), 0);
	ck_assert_int_eq(mounts_mentioning(state), 0);
	char scratch[PATH_MAX];
	snprintf(scratch, sizeof scratch, "%s/run/sig-box", state);
	ck_assert_int_ne(access(scratch, F_OK), 0);
	srv_box_destroy(NULL);
}
END_TEST

/* A process inside stops every new pid (SIGSTOP to ns_last_pid and the
 * next ones) while sbxd spawns in the same box and in another one. Init
 * used to start commands with CLONE_VFORK and so blocked until a stopped
 * child exec'd: each spawn then took the full reply deadline, and sbxd's
 * shared thread stalled every box. Now every spawn answers at once. */
START_TEST(test_stop_stall)
{
	srv_box *box = mkbox(), *other = mkbox();
	const char *stopper[] = {"/bin/sh", "-c",
	                         "while :; do read n < /proc/sys/kernel/ns_last_pid; "
	                         "[ $n = $$ ] || kill -STOP $n $((n+1)) $((n+2)) 2>/dev/null; done", NULL};
	const char *tru[] = {"/bin/true", NULL};
	srv_spawn sp = {.argv = stopper, .stdout_fd = -1, .stderr_fd = -1};
	int64_t tok;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
	usleep(100 * 1000);
	sp.argv = tru;
	double worst = 0;
	for (int i = 0; i < 30; i++) {
		srv_box *b = i % 3 == 2 ? other : box;
		double t0 = now_ms();
		ck_assert_msg(srv_box_spawn(b, &sp, &tok, NULL, err) == 0, "spawn %d: %s", i, err);
		double dt = now_ms() - t0;
		if (dt > worst)
			worst = dt;
		if (b == other)
			ck_assert_int_eq(wait_exit(other, tok, 5000), 0);
	}
	fprintf(stderr, "# slowest spawn under a SIGSTOP storm: %.3f ms\n", worst);
	ck_assert_msg(worst < 1000, "a spawn took %.0f ms: init blocked on a stopped child", worst);
	srv_box_destroy(box);
	srv_box_destroy(other);
}
END_TEST

START_TEST(test_freeze)
{
	srv_box *box = mkbox();
	char po[PATH_MAX];
	snprintf(po, sizeof po, "%s/ticks", tmpdir);
	int fo = open(po, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	const char *argv[] = {"sh", "-c", "while :; do echo tick; sleep 0.01; done", NULL};
	srv_spawn sp = {.argv = argv, .stdout_fd = fo, .stderr_fd = -1};
	int64_t tok;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
	close(fo);
	usleep(100 * 1000);
	if (srv_box_freeze(box, 1, err) != 0) {
		ck_assert_int_eq(errno, ENOTSUP);
		srv_box_destroy(box);
		return;
	}
	usleep(100 * 1000); /* freezing completes asynchronously */
	struct stat a, b;
	ck_assert_int_eq(stat(po, &a), 0);
	usleep(300 * 1000);
	ck_assert_int_eq(stat(po, &b), 0);
	ck_assert_int_eq(a.st_size, b.st_size);
	ck_assert_int_gt(a.st_size, 0);
	/* Requests fail fast instead of waiting on a frozen init. */
	ck_assert_int_eq(srv_box_signal(box, tok, SIGTERM), -1);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), -1);
	ck_assert_int_eq(srv_box_freeze(box, 0, err), 0);
	usleep(300 * 1000);
	ck_assert_int_eq(stat(po, &b), 0);
	ck_assert_int_gt(b.st_size, a.st_size);
	/* Destroying a frozen box works too. */
	ck_assert_int_eq(srv_box_freeze(box, 1, err), 0);
	pid_t init = srv_box_init_pid(box);
	srv_box_destroy(box);
	ck_assert_int_eq(kill(init, 0), -1);
}
END_TEST

START_TEST(test_init_death)
{
	srv_box *box = mkbox();
	const char *slp[] = {"sleep", "1000", NULL};
	srv_spawn sp = {.argv = slp, .stdout_fd = -1, .stderr_fd = -1};
	int64_t a;
	ck_assert_int_eq(srv_box_spawn(box, &sp, &a, NULL, err), 0);
	kill(srv_box_init_pid(box), SIGKILL);
	struct pollfd p = {srv_box_event_fd(box), POLLIN, 0};
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert(p.revents & (POLLIN | POLLHUP));
	int64_t t;
	int st;
	ck_assert_int_eq(srv_box_next_exit(box, &t, &st, NULL), -1);
	ck_assert_int_eq(srv_box_spawn(box, &sp, &a, NULL, err), -1);
	ck_assert_int_eq(srv_box_signal(box, 0, SIGTERM), -1);
	ck_assert_int_eq(errno, ESRCH);
	srv_box_destroy(box);
}
END_TEST

START_TEST(test_restart_cleanup)
{
	/* A "crashed" sbxd: a child creates a box and dies without clean-up. */
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t child = fork();
	if (child == 0) {
		char e[SRV_ERRLEN];
		srv_rt *r2 = srv_rt_new(state, e);
		srv_box *b = NULL;
		srv_box_spec spec = {.id = "left-over", .image = "host"};
		if (!r2 || srv_box_create(r2, &spec, &b, e) != 0)
			_exit(1);
		const char *argv[] = {"sh", "-c", "trap '' TERM HUP; sleep 1000", NULL};
		srv_spawn sp = {.argv = argv, .stdout_fd = -1, .stderr_fd = -1};
		int64_t tok;
		if (srv_box_spawn(b, &sp, &tok, NULL, e) != 0)
			_exit(1);
		(void)!write(pfd[1], "x", 1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	char c;
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	ck_assert_int_eq(count_cgroup_dirs("left-over"), 4);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* Another instance on another state dir leaves it alone... */
	char other[PATH_MAX];
	snprintf(other, sizeof other, "%s/other-state", tmpdir);
	srv_rt *r3 = srv_rt_new(other, err);
	ck_assert_ptr_nonnull(r3);
	ck_assert_int_eq(count_cgroup_dirs("left-over"), 4);
	srv_rt_free(r3);
	/* ...and a new one on the same state dir removes everything. */
	srv_rt_free(rt);
	rt = srv_rt_new(state, err);
	ck_assert_msg(rt != NULL, "%s", err);
	ck_assert_int_eq(count_cgroup_dirs("left-over"), 0);
	char scratch[PATH_MAX];
	snprintf(scratch, sizeof scratch, "%s/run/left-over", state);
	ck_assert_int_ne(access(scratch, F_OK), 0);
}
END_TEST

/* The runtime's zygote: our child that is not a sandbox init. */
static pid_t find_zygote(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = -1;
	while (d && (e = readdir(d)) != NULL) {
		char p[300], buf[512];
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof p, "/proc/%s/stat", e->d_name);
		if (srv_read_file(p, buf, sizeof buf) <= 0)
			continue;
		char *rp = strrchr(buf, ')');
		int ppid;
		if (!rp || sscanf(rp + 2, "%*c %d", &ppid) != 1 || ppid != getpid())
			continue;
		if (strstr(buf, "(sbx-init)"))
			continue;
		found = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

START_TEST(test_zygote)
{
	/* Inits come from the zygote, yet are our children (CLONE_PARENT). */
	pid_t z = find_zygote();
	ck_assert_int_gt(z, 0);
	srv_box *box = mkbox();
	char p[64], buf[512];
	snprintf(p, sizeof p, "/proc/%d/stat", (int)srv_box_init_pid(box));
	ck_assert_int_gt(srv_read_file(p, buf, sizeof buf), 0);
	char *rp = strrchr(buf, ')');
	int ppid = 0;
	ck_assert_int_eq(sscanf(rp + 2, "%*c %d", &ppid), 1);
	ck_assert_int_eq(ppid, getpid());
	/* Neither shows our argv or environment (sbxd's may hold secrets). */
	pid_t pids[2] = {z, srv_box_init_pid(box)};
	for (int i = 0; i < 2; i++) {
		char b[4096];
		snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pids[i]);
		long n = srv_read_file(p, b, sizeof b);
		ck_assert_msg(n == 9 && memcmp(b, "sbx-init", 9) == 0, "%s: %ld bytes '%s'", p, n, b);
		snprintf(p, sizeof p, "/proc/%d/environ", (int)pids[i]);
		n = srv_read_file(p, b, sizeof b);
		ck_assert_int_ge(n, 0);
		for (long k = 0; k < n; k++)
			ck_assert_msg(b[k] == 0, "%s shows environment bytes", p);
	}
	srv_box_destroy(box);
	/* Without the zygote, sandboxes still come up (cloned from here). */
	kill(z, SIGKILL);
	waitpid(z, NULL, 0);
	box = mkbox();
	char out[64];
	ck_assert_int_eq(sh(box, "echo fallback", out, sizeof out), 0);
	ck_assert_str_eq(out, "fallback\n");
	ck_assert_int_eq(sh(box, "tr '\\0' ' ' < /proc/1/cmdline", out, sizeof out), 0);
	ck_assert_str_eq(out, "sbx-init ");
	srv_box_destroy(box);
	box = mkbox();
	srv_box_destroy(box);
}
END_TEST

/* The pure-cgroup2 code path, on a machine that has the hybrid layout: in
 * a private mount namespace, the cgroup2 tree is mounted on /sys/fs/cgroup
 * itself. Its controllers are bound to v1 here, so limits are refused with
 * a message, but creation, CLONE_INTO_CGROUP, kill, freeze and clean-up run
 * through the v2 branch. Runs in a child so the test's namespace stays. */
START_TEST(test_pure_cgroup2)
{
	if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) != 0)
		return; /* not the hybrid layout: the v2 path runs everywhere else */
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		char e[SRV_ERRLEN], st2[300], out[64];
		if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) != 0)
			_exit(10);
		snprintf(st2, sizeof st2, "%s/v2state", tmpdir);
		srv_rt *r2 = srv_rt_new(st2, e);
		if (!r2)
			_exit(11);
		if (strncmp(srv_rt_cgroup_layout(r2), "v2", 2) != 0)
			_exit(12);
		srv_box *b = NULL;
		srv_box_spec lim = {.id = "v2-limited", .image = "host", .memory_bytes = 64 << 20};
		if (srv_box_create(r2, &lim, &b, e) == 0 || !strstr(e, "no memory cgroup controller"))
			_exit(13);
		srv_box_spec spec = {.id = "v2-box", .image = "host"};
		if (srv_box_create(r2, &spec, &b, e) != 0)
			_exit(14);
		const char *argv[] = {"grep", "^0::", "/proc/self/cgroup", NULL};
		char po[400];
		snprintf(po, sizeof po, "%s/v2.out", tmpdir);
		int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		srv_spawn sp = {.argv = argv, .stdout_fd = fo, .stderr_fd = -1};
		int64_t tok, t;
		int stt;
		if (srv_box_spawn(b, &sp, &tok, NULL, e) != 0)
			_exit(15);
		close(fo);
		struct pollfd pf = {srv_box_event_fd(b), POLLIN, 0};
		if (poll(&pf, 1, 10000) != 1 || srv_box_next_exit(b, &t, &stt, NULL) != 1 || t != tok)
			_exit(16);
		/* Inside, its own cgroup namespace shows "/"; seen from here it
		 * is the box's cgroup. */
		char hp[64], hc[512];
		snprintf(hp, sizeof hp, "/proc/%d/cgroup", (int)srv_box_init_pid(b));
		if (srv_read_file(po, out, sizeof out) < 0 || strcmp(out, "0::/\n") != 0 ||
		    srv_read_file(hp, hc, sizeof hc) < 0 || !strstr(hc, "/v2-box"))
			_exit(17);
		if (srv_box_freeze(b, 1, e) != 0 || srv_box_freeze(b, 0, e) != 0)
			_exit(18);
		srv_box_destroy(b);
		srv_rt_free(r2);
		char prefix[64], pth[400];
		prefix_of(st2, prefix, sizeof prefix);
		snprintf(pth, sizeof pth, "/sys/fs/cgroup/%s", prefix);
		_exit(access(pth, F_OK) == 0 ? 19 : 0);
	}
	int st;
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pure cgroup2 path failed at step %d",
	              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}
END_TEST

START_TEST(test_two_instances)
{
	char other[PATH_MAX];
	snprintf(other, sizeof other, "%s/state2", tmpdir);
	srv_rt *r2 = srv_rt_new(other, err);
	ck_assert_ptr_nonnull(r2);
	srv_box_spec spec = {.id = "same-id", .image = "host"};
	srv_box *b1 = mkbox_spec(&spec), *b2 = NULL;
	spec.id = "same-id";
	ck_assert_int_eq(srv_box_create(r2, &spec, &b2, err), 0);
	srv_box_destroy(b1);
	char out[64];
	ck_assert_int_eq(sh(b2, "echo still", out, sizeof out), 0);
	ck_assert_str_eq(out, "still\n");
	srv_box_destroy(b2);
	srv_rt_free(r2);
}
END_TEST

/* sbxd is threaded: other threads allocate while the runtime clones init.
 * Init must never touch malloc (its locks may be frozen in the copy), or
 * this test hangs and times out. */
static volatile int churn_stop;

static void *churn(void *arg)
{
	(void)arg;
	while (!churn_stop) {
		void *p[64];
		for (int i = 0; i < 64; i++)
			p[i] = malloc((size_t)(16 + i * 97));
		for (int i = 0; i < 64; i++)
			free(p[i]);
	}
	return NULL;
}

START_TEST(test_threads_allocating)
{
	pthread_t th[2];
	churn_stop = 0;
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, churn, NULL), 0);
	for (int i = 0; i < 40; i++) {
		srv_box *box = mkbox();
		char out[64];
		ck_assert_int_eq(sh(box, "echo $((20+22))", out, sizeof out), 0);
		ck_assert_str_eq(out, "42\n");
		srv_box_destroy(box);
	}
	churn_stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
}
END_TEST

START_TEST(test_images)
{
	char names[256];
	srv_rt_image_names(rt, names, sizeof names);
	ck_assert_str_eq(names, "");
	char p[PATH_MAX];
	const char *imgs[] = {"zeta", "alpha"};
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof p, "%s/images/%s/rootfs", state, imgs[i]);
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof cmd, "mkdir -p %s", p);
		ck_assert_int_eq(system(cmd), 0);
	}
	srv_rt_image_names(rt, names, sizeof names);
	ck_assert_str_eq(names, "alpha, zeta");
	srv_box *box = NULL;
	srv_box_spec spec = {.id = "img", .image = "nope"};
	ck_assert_int_eq(srv_box_create(rt, &spec, &box, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "alpha, zeta"));
	ck_assert_ptr_nonnull(strstr(err, "nope"));
	spec.image = "../../etc";
	ck_assert_int_eq(srv_box_create(rt, &spec, &box, err), -1);
	/* An image root: a busybox-free tree made of the host's sh and libs. */
	snprintf(p, sizeof p, "%s/images/alpha/rootfs", state);
	char cmd[2 * PATH_MAX];
	snprintf(cmd, sizeof cmd,
	         "set -e; r=%s; mkdir -p $r/bin $r/etc; cp /bin/sh $r/bin/sh; "
	         "for l in $(ldd /bin/sh | grep -o '/[^ ]*'); do mkdir -p $r$(dirname $l); cp $l $r$l; done; "
	         "echo image-alpha > $r/etc/marker",
	         p);
	ck_assert_int_eq(system(cmd), 0);
	spec.image = "alpha";
	ck_assert_msg(srv_box_create(rt, &spec, &box, err) == 0, "%s", err);
	char out[256], e[256];
	const char *argv[] = {"/bin/sh", "-c", "read m < /etc/marker; echo $m; test -e /usr/bin/id || echo no-host", NULL};
	ck_assert_int_eq(runv(box, argv, NULL, NULL, out, e, sizeof out), 0);
	ck_assert_str_eq(out, "image-alpha\nno-host\n");
	srv_box_destroy(box);
	/* A set-up failure inside init (here: /proc is a file in the image)
	 * comes back as a message and leaves nothing behind. */
	snprintf(p, sizeof p, "%s/images/zeta/rootfs/proc", state);
	int pf = open(p, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(pf, 0);
	close(pf);
	srv_box_spec bad_img = {.id = "bad-img", .image = "zeta"};
	box = NULL;
	ck_assert_int_eq(srv_box_create(rt, &bad_img, &box, err), -1);
	ck_assert_ptr_null(box);
	ck_assert_msg(strstr(err, "sandbox setup failed: mount proc") != NULL, "%s", err);
	ck_assert_int_eq(count_cgroup_dirs("bad-img"), 0);
	snprintf(p, sizeof p, "%s/run/bad-img", state);
	ck_assert_int_ne(access(p, F_OK), 0);
	ck_assert_int_le(waitpid(-1, NULL, WNOHANG), 0); /* init was reaped: no zombie child */
	/* Bad ids never reach the filesystem. */
	static const char *const bad[] = {"", ".", "..", "a/b", "-x", "a b", "x\n",
	                                  "0123456789012345678901234567890123456789012345678901234567890123456789"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		srv_box_spec s = {.id = bad[i]};
		ck_assert_int_eq(srv_box_create(rt, &s, &box, err), -1);
	}
	srv_box_spec neg = {.id = "neg", .memory_bytes = -1};
	ck_assert_int_eq(srv_box_create(rt, &neg, &box, err), -1);
	ck_assert_int_eq(count_cgroup_dirs("neg"), 0);
}
END_TEST

/* ---- the egress nft script (table-driven) ---- */

START_TEST(test_net_ruleset)
{
	static const char *const host[] = {"192.0.2.2/32", "fd00::2/128", NULL};
	static const char *const dst[] = {"10.231.0.5/24", "2001:db8::/32", NULL}; /* host bits: cleared */
	static const char *const ex[] = {"10.231.0.9", NULL};
	static const srv_net_ports ports[] = {{SRV_NET_TCP, 80, 90}, {SRV_NET_UDP, 53, 53}, {SRV_NET_TCP, 443, 443}};
	static const char *const dns[] = {"10.231.0.2/32", "169.254.169.254/32", NULL};
	const srv_net_rule rules[] = {
		{NULL, 0, NULL, NULL, 0},           /* any */
		{dst, 0, ex, ports, 3},             /* cidr with except and ports */
		{dns, 1, NULL, NULL, 0},            /* a dnsName's answers */
	};
	const srv_egress eg = {rules, 3};
	char *t = srv_net_ruleset(&eg, host, err);
	ck_assert_msg(t != NULL, "%s", err);
	static const char *const want[] = {
		"type filter hook output priority 0; policy drop;",
		"oif \"lo\" accept",
		"ip daddr 10.0.2.3 udp dport 53 accept",
		"ip daddr { 127.0.0.0/8, 10.0.2.0/24 } goto deny",
		"ip6 daddr { ::1/128, ::ffff:127.0.0.0/104 } goto deny",
		"ip daddr { 192.0.2.2/32 } goto deny",
		"ip6 daddr { fd00::2/128 } goto deny",
		"jump r0\n  jump r1\n  jump r2\n  goto deny\n",
		/* any: never link-local, multicast, reserved; then everything */
		" chain r0 {\n  ip daddr { 0.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, 240.0.0.0/4 } return\n",
		"  ip6 daddr { ::/128, fe80::/10, ff00::/8 } return\n  jump p0\n }\n chain p0 {\n  accept\n }",
		" chain r1 {\n  ip daddr { 10.231.0.9/32 } return\n  ip daddr { 10.231.0.0/24 } jump p1\n"
		"  ip6 daddr { 2001:db8::/32 } jump p1\n }",
		" chain p1 {\n  tcp dport { 80-90, 443 } accept\n  udp dport { 53 } accept\n }",
		/* a dnsName answer of 169.254.169.254 stays closed */
		" chain r2 {\n  ip daddr { 0.0.0.0/8, 169.254.0.0/16,",
		"  ip daddr { 10.231.0.2/32, 169.254.169.254/32 } jump p2\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_msg(strstr(t, want[i]), "missing [%s] in:\n%s", want[i], t);
	free(t);
	/* No rules: loopback and DNS only, the rest refused. */
	const srv_egress none = {NULL, 0};
	t = srv_net_ruleset(&none, host, err);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_null(strstr(t, "jump"));
	free(t);
	/* Text that is not an address never reaches nft. */
	static const char *const bad[][2] = {{"10.0.0.0/8; flush ruleset", NULL}, {"10.0.0.0/33", NULL},
	                                     {"example.com", NULL}, {"", NULL}, {"::1/129", NULL}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const srv_net_rule r = {bad[i], 0, NULL, NULL, 0};
		const srv_egress e = {&r, 1};
		ck_assert_msg(srv_net_ruleset(&e, host, err) == NULL, "accepted %s", bad[i][0]);
		ck_assert_ptr_nonnull(strstr(err, "bad address"));
	}
	/* The host's addresses as this namespace has them: loopback at least. */
	char **mine = srv_net_host_addrs(err);
	ck_assert_ptr_nonnull(mine);
	int lo = 0;
	for (size_t i = 0; mine[i]; i++)
		lo |= strcmp(mine[i], "127.0.0.1/32") == 0;
	ck_assert(lo);
	srv_net_strv_free(mine);
}
END_TEST

/* ---- protocol decoder (table-driven) ---- */

START_TEST(test_proto)
{
	static char buf[sizeof(srv_msg_hdr) + SRV_PROTO_MAX_STRINGS];
	static const char *av[SRV_PROTO_MAX_ARGS + 1], *ev[SRV_PROTO_MAX_ENV + 1];
	const char *argv[] = {"ls", "-l", "", NULL};
	const char *env[] = {"A=1", NULL};
	srv_spawn_req req;
	size_t n = srv_proto_encode_spawn(buf, sizeof buf, 7, SRV_SPAWN_STDOUT, 4096, "/w", argv, env);
	ck_assert_uint_gt(n, sizeof(srv_msg_hdr));
	ck_assert_int_eq(srv_proto_decode_spawn(buf, n, &req, av, ev), 0);
	ck_assert_int_eq(req.token, 7);
	ck_assert_uint_eq(req.keep, 4096);
	ck_assert_str_eq(req.cwd, "/w");
	ck_assert_int_eq(req.argc, 3);
	ck_assert_str_eq(req.argv[1], "-l");
	ck_assert_str_eq(req.argv[2], "");
	ck_assert_ptr_null(req.argv[3]);
	ck_assert_str_eq(req.env[0], "A=1");
	n = srv_proto_encode_spawn(buf, sizeof buf, 8, 0, 0, NULL, argv, NULL);
	ck_assert_int_eq(srv_proto_decode_spawn(buf, n, &req, av, ev), 0);
	ck_assert_ptr_null(req.env);
	ck_assert_str_eq(req.cwd, "");
	/* Malformed: every truncation, a missing NUL, extra bytes, bad counts. */
	for (size_t cut = 0; cut < n; cut++)
		ck_assert_int_eq(srv_proto_decode_spawn(buf, cut, &req, av, ev), -1);
	buf[n - 1] = 'x';
	ck_assert_int_eq(srv_proto_decode_spawn(buf, n, &req, av, ev), -1);
	n = srv_proto_encode_spawn(buf, sizeof buf, 8, 0, 0, "/", argv, env);
	srv_msg_hdr h;
	memcpy(&h, buf, sizeof h);
	const struct {
		uint32_t argc, envc, flags, type;
	} bad[] = {
		{0, 1, 0, SRV_MSG_SPAWN}, {4, 1, 0, SRV_MSG_SPAWN}, {3, 2, 0, SRV_MSG_SPAWN},
		{3, 0, 0, SRV_MSG_SPAWN}, {3, 1, 0x100, SRV_MSG_SPAWN}, {3, 1, SRV_SPAWN_DEFENV, SRV_MSG_SPAWN},
		{3, 1, 0, SRV_MSG_SIGNAL}, {UINT32_MAX, 1, 0, SRV_MSG_SPAWN}, {3, UINT32_MAX, 0, SRV_MSG_SPAWN},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		srv_msg_hdr b = h;
		b.argc = bad[i].argc;
		b.envc = bad[i].envc;
		b.flags = bad[i].flags;
		b.type = bad[i].type;
		memcpy(buf, &b, sizeof b);
		ck_assert_msg(srv_proto_decode_spawn(buf, n, &req, av, ev) == -1, "bad case %zu decoded", i);
	}
	/* Caps: too many arguments cannot be encoded. */
	static const char *many[SRV_PROTO_MAX_ARGS + 2];
	for (int i = 0; i <= SRV_PROTO_MAX_ARGS; i++)
		many[i] = "a";
	many[SRV_PROTO_MAX_ARGS + 1] = NULL;
	ck_assert_uint_eq(srv_proto_spawn_size(NULL, many, NULL), 0);
	many[SRV_PROTO_MAX_ARGS] = NULL;
	ck_assert_uint_gt(srv_proto_spawn_size(NULL, many, NULL), 0);
	int64_t v;
	ck_assert_int_eq(srv_find_counter("oom 1\noom_kill 5\n", "oom_kill", &v), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(srv_find_counter("oom_kill_disable 0\nunder_oom 0\n", "oom_kill", &v), -1);
	ck_assert_int_eq(srv_find_counter("oom_kill x\n", "oom_kill", &v), -1);
	ck_assert_int_eq(srv_find_counter("oom_kill 99999999999999999999\n", "oom_kill", &v), -1);
}
END_TEST

/* ---- timing ---- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return v[n / 2];
}

START_TEST(test_bench)
{
	enum { N = 200 };
	static double create[N], spawn[N], destroy[N], host[N];
	const char *argv[] = {"/bin/true", NULL};
	for (int i = 0; i < N; i++) {
		srv_box_spec spec = {.id = "bench", .image = "host"};
		srv_box *box = NULL;
		double t0 = now_ms();
		ck_assert_msg(srv_box_create(rt, &spec, &box, err) == 0, "%s", err);
		create[i] = now_ms() - t0;
		t0 = now_ms();
		srv_box_destroy(box);
		destroy[i] = now_ms() - t0;
	}
	srv_box_spec spec = {.id = "bench", .image = "host"};
	srv_box *box = mkbox_spec(&spec);
	for (int i = 0; i < N; i++) {
		srv_spawn sp = {.argv = argv, .stdout_fd = -1, .stderr_fd = -1};
		int64_t tok;
		double t0 = now_ms();
		ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
		ck_assert_int_eq(wait_exit(box, tok, 5000), 0);
		spawn[i] = now_ms() - t0;
		host[i] = host_true_ms();
	}
	/* With stdout and stderr into a spool file (relayed through init). */
	static double spooled[N];
	char po[PATH_MAX];
	snprintf(po, sizeof po, "%s/tput.out", tmpdir);
	int fo = open(po, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ck_assert_int_ge(fo, 0);
	for (int i = 0; i < N; i++) {
		srv_spawn sp = {.argv = argv, .stdout_fd = fo, .stderr_fd = fo};
		int64_t tok;
		double t0 = now_ms();
		ck_assert_int_eq(srv_box_spawn(box, &sp, &tok, NULL, err), 0);
		ck_assert_int_eq(wait_exit(box, tok, 5000), 0);
		spooled[i] = now_ms() - t0;
	}
	double msp = median(spooled, N);
	printf("runtime bench: spawn+exit of /bin/true with a spool file: %.3f ms\n", msp);
	fprintf(stderr, "runtime bench: spawn+exit of /bin/true with a spool file: %.3f ms\n", msp);
	/* Output throughput into a spool file (the host page cache). */
	const char *head[] = {"head", "-c", "1G", "/dev/zero", NULL};
	srv_spawn hs = {.argv = head, .stdout_fd = fo, .stderr_fd = -1};
	int64_t htok;
	double t0 = now_ms();
	ck_assert_int_eq(srv_box_spawn(box, &hs, &htok, NULL, err), 0);
	ck_assert_int_eq(wait_exit(box, htok, 60000), 0);
	double gbs = (1 << 30) / ((now_ms() - t0) * 1e6);
	struct stat sb;
	ck_assert_int_eq(fstat(fo, &sb), 0);
	ck_assert_int_eq(sb.st_size, 1 << 30); /* every byte is there at the exit event */
	close(fo);
	unlink(po);
	printf("runtime bench: head -c 1G into a spool file: %.2f GB/s\n", gbs);
	fprintf(stderr, "runtime bench: head -c 1G into a spool file: %.2f GB/s\n", gbs);
	srv_box_destroy(box);
	double mc = median(create, N), md = median(destroy, N), ms = median(spawn, N), mh = median(host, N);
	printf("runtime bench (median of %d): create %.3f ms, destroy %.3f ms, spawn+exit of /bin/true %.3f ms, "
	       "host fork+exec+wait of /bin/true %.3f ms\n",
	       N, mc, md, ms, mh);
	fprintf(stderr, "runtime bench (median of %d): create %.3f ms, destroy %.3f ms, spawn+exit /bin/true %.3f ms, "
	        "host fork+exec /bin/true %.3f ms\n", N, mc, md, ms, mh);
	/* Generous bounds (ASan, a busy CI box): catch only gross regressions. */
	ck_assert_msg(mc < 100, "median create %.3f ms", mc);
	ck_assert_msg(ms < 50, "median spawn %.3f ms", ms);
}
END_TEST

static Suite *runtime_suite(void)
{
	Suite *s = suite_create("runtime");
	struct {
		const char *name;
		const TTest *test;
		int from, to, timeout;
	} cases[] = {
		{"exec", test_exec_codes, 0, sizeof exec_cases / sizeof exec_cases[0], 60},
		{"exec", test_env_and_stdin, 0, 1, 60},
		{"exec", test_request_caps, 0, 1, 60},
		{"exec", test_spool_relay, 0, 1, 60},
		{"exec", test_exit_output_done, 0, 1, 60},
		{"isolation", test_pid_ns_and_hostname, 0, 1, 60},
		{"isolation", test_network, 0, 1, 60},
		{"isolation", test_overlay_root, 0, 1, 60},
		{"isolation", test_hidden_paths, 0, 1, 60},
		{"isolation", test_host_unix_socket, 0, 1, 60},
		{"attacks", test_attacks, 0, sizeof attacks / sizeof attacks[0], 120},
		{"limits", test_fork_bomb, 0, 1, 60},
		{"limits", test_memory_hog, 0, 1, 60},
		{"limits", test_cpu_limit, 0, 1, 60},
		{"limits", test_tmpfs_sizes, 0, 1, 60},
		{"limits", test_max_file_bytes, 0, 1, 60},
		{"limits", test_keep_bytes, 0, 1, 60},
		{"limits", test_oom_spares_init, 0, 1, 60},
		{"lifecycle", test_signal_and_destroy, 0, 1, 60},
		{"lifecycle", test_init_death, 0, 1, 60},
		{"lifecycle", test_freeze, 0, 1, 60},
		{"lifecycle", test_stop_stall, 0, 1, 60},
		{"lifecycle", test_restart_cleanup, 0, 1, 60},
		{"lifecycle", test_two_instances, 0, 1, 60},
		{"lifecycle", test_zygote, 0, 1, 60},
		{"lifecycle", test_pure_cgroup2, 0, 1, 60},
		{"lifecycle", test_images, 0, 1, 60},
		{"lifecycle", test_threads_allocating, 0, 1, 60},
		{"unit", test_proto, 0, 1, 30},
		{"unit", test_net_ruleset, 0, 1, 30},
		{"bench", test_bench, 0, 1, 120},
	};
	TCase *tc = NULL;
	const char *cur = "";
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (strcmp(cur, cases[i].name) != 0) {
			cur = cases[i].name;
			tc = tcase_create(cur);
			tcase_add_checked_fixture(tc, setup, teardown);
			tcase_set_timeout(tc, 300);
			suite_add_tcase(s, tc);
		}
		tcase_add_loop_test(tc, cases[i].test, cases[i].from, cases[i].to);
	}
	return s;
}

int main(int argc, char **argv)
{
	if (geteuid() != 0) {
		printf("SKIP: needs root for namespaces and cgroups\n");
		return 77;
	}
	SRunner *sr = srunner_create(runtime_suite());
	srunner_run(sr, NULL, argc > 1 ? argv[1] : NULL, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
