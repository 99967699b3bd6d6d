/*
 * sbxfs: mounts the sandboxes of a sandbox service as a directory tree
 * (DESIGN section 2). This file is the command line in the style of sshfs
 * (`sbxfs [SOURCE] MOUNTPOINT [-o url=...,token_file=...,timeout=...]`),
 * the libsbx client and event loop, and the libfuse low-level session run
 * by a bounded pool of threads (loop.c). Before it mounts it asks the service once
 * (a list call), so a mistyped url= fails the mount command with a message
 * instead of every later call (-o lazy skips that); the mount shows the
 * service URL as its source (fsname) and type fuse.sbxfs, and unmounts
 * itself when sbxfs dies (auto_unmount, through fusermount3).
 */
/* 3.12's loop configuration: an explicit thread cap, and no bogus
 * "invalid max threads" warning from the 3.2 compatibility path. */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "chunk.h"
#include "files.h"
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "reqlog.h"
#include "state.h"
#include "wait.h"

#ifndef SBXFS_VERSION
#define SBXFS_VERSION "0.0.0"
#endif

struct opts {
	char *url;
	char *token_file;
	char *ca_file;
	char *grpc;             /* StreamExec's address where the extension is absent */
	unsigned timeout;
	unsigned connect_timeout;
	unsigned keepalive;     /* gRPC pings, seconds; 0: none */
	unsigned grace;
	int kernel_cache;
	int no_splice;          /* finished output by offset, never by descriptor */
	int write_loop;         /* loop.c instead of libfuse's multi-threaded loop */
	int ext_json;           /* sbxd's extension calls in JSON, never binary */
	char *mk[FS_MKDIR_OPTS];        /* mkdir defaults, as mk_keys */
	int exec_stdin;
	int show_help;
	int show_version;
	int lazy;               /* no probe of the service at mount */
	char *log_file;
	char *syslog_socket;
	int has_fsname, has_subtype, no_auto_unmount;
};

enum { KEY_HELP, KEY_VERSION, KEY_FSNAME, KEY_SUBTYPE, KEY_NO_AUTO_UNMOUNT };

/* The names of struct opts' mk[] for sbx_spec_set_option. */
static const char *const mk_keys[FS_MKDIR_OPTS] = {"image", "network", "lifetime", "cpu", "memory"};

#define OPT(t, p) {t, offsetof(struct opts, p), 1}
static const struct fuse_opt opt_spec[] = {
	OPT("url=%s", url),
	OPT("token_file=%s", token_file),
	OPT("ca_file=%s", ca_file),
	OPT("grpc=%s", grpc),
	OPT("timeout=%u", timeout),
	OPT("connect_timeout=%u", connect_timeout),
	OPT("keepalive=%u", keepalive),
	OPT("grace=%u", grace),
	OPT("kernel_cache", kernel_cache),
	OPT("no_splice", no_splice),
	OPT("write_loop", write_loop),
	OPT("ext_json", ext_json),
	OPT("image=%s", mk[0]),
	OPT("network=%s", mk[1]),
	OPT("lifetime=%s", mk[2]),
	OPT("cpu=%s", mk[3]),
	OPT("memory=%s", mk[4]),
	OPT("stdin", exec_stdin),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	/* mounting and logging */
	OPT("lazy", lazy),
	OPT("log_file=%s", log_file),
	OPT("syslog_socket=%s", syslog_socket),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	FUSE_OPT_KEY("noauto_unmount", KEY_NO_AUTO_UNMOUNT),
	FUSE_OPT_END,
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opts *o = data;
	switch (key) {
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_FSNAME:        /* the user's own: kept, and ours not added */
		o->has_fsname = 1;
		return 1;
	case KEY_SUBTYPE:
		o->has_subtype = 1;
		return 1;
	case KEY_NO_AUTO_UNMOUNT:
		o->no_auto_unmount = 1;
		return 0;
	default:
		return 1;
	}
}

static void usage(const char *prog)
{
	printf("usage: %s [SOURCE] MOUNTPOINT [options]\n"
	       "\n"
	       "Mounts the sandboxes of a sandbox service (sbxd or a service speaking the\n"
	       "CoreWeave Sandboxes API) as directories. SOURCE (as given by mount(8)) may be a\n"
	       "service URL, or anything else, which is ignored.\n"
	       "\n"
	       "sbxfs options:\n"
	       "    -o url=URL             service: unix:/path.sock, http://host:port, https://host\n"
	       "    -o grpc=URL            StreamExec's endpoint where the service lacks sbxd's\n"
	       "                           extension (default: the socket + .grpc, or url; none: off)\n"
	       "                           (default: $CWSANDBOX_BASE_URL, else your own rootless\n"
	       "                           sbxd's $XDG_RUNTIME_DIR/sbxd/sbxd.sock when it answers,\n"
	       "                           else the system sbxd's /run/sbxd/sbxd.sock)\n"
	       "    -o token_file=FILE     file whose first line is the API token\n"
	       "    -o ca_file=FILE        CA bundle for https\n"
	       "    -o timeout=SECONDS     deadline of each call to the service (default 10)\n"
	       "    -o connect_timeout=S   connect deadline (default 2)\n"
	       "    -o keepalive=SECONDS   ping the gRPC service this often while a stream waits, so\n"
	       "                           a hung service fails it (a ping unanswered for timeout);\n"
	       "                           default 330 (gRPC servers allow one per 300 s), 0: off\n"
	       "    -o grace=SECONDS       grace period of rmdir and `ctl delete` (default 10)\n"
	       "    -o kernel_cache        let the kernel page-cache finished output\n"
	       "    -o no_splice           no descriptors from sbxd: finished output and files/ over HTTP\n"
	       "    -o write_loop          sbxfs's own request loop: files/ writes through a descriptor\n"
	       "                           answered on the reading thread (streams of small writes)\n"
	       "    -o ext_json            sbxd's extension calls in JSON, not in binary protobuf\n"
	       "                           (for reading them in a trace; the answers are the same)\n"
	       "    -o image=IMAGE         mkdir's sandboxes: image (default: the service's)\n"
	       "    -o network=none|egress mkdir's sandboxes: network\n"
	       "    -o lifetime=SECONDS    mkdir's sandboxes: maxLifetimeSeconds\n"
	       "    -o cpu=Q,memory=Q      mkdir's sandboxes: resources (2, 500m; 512Mi, 2G)\n"
	       "    -o stdin               text commands written to exec/new get a stdin\n"
	       "    -f                     stay in the foreground\n"
	       "    -d                     debug output (implies -f)\n"
	       "    -h, --help             this help\n"
	       "    -V, --version          version\n"
	       "\n"
	       "mounting and logging:\n"
	       "    -o lazy                mount without first checking that the service answers\n"
	       "    -o log_file=FILE       log to FILE (default: syslog once daemonized, else stderr)\n"
	       "    -o syslog_socket=PATH  syslog's socket (default /dev/log)\n"
	       "    -o noauto_unmount      leave the mount (ENOTCONN) when sbxfs dies\n"
	       "    -o fsname=,subtype=    source and type in /proc/mounts (default: the url, sbxfs)\n"
	       "\n",
	       prog);
}

static int looks_like_url(const char *s)
{
	return strncmp(s, "unix:", 5) == 0 || strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* mount.fuse3 runs `sbxfs SOURCE MOUNTPOINT -o ...`; fuse_parse_cmdline
 * takes a single non-option argument, so take the first of two out. */
static void take_source(struct fuse_args *args, char **source)
{
	int idx[3], n = 0;
	for (int i = 1; i < args->argc && n < 3; i++) {
		const char *a = args->argv[i];
		if (strcmp(a, "-o") == 0) {
			i++;
			continue;
		}
		if (a[0] == '-')
			continue;
		idx[n++] = i;
	}
	if (n != 2)
		return;
	*source = args->argv[idx[0]];
	for (int i = idx[0]; i < args->argc - 1; i++)
		args->argv[i] = args->argv[i + 1];
	args->argc--;
	args->argv[args->argc] = NULL;
}

/* Whether a unix socket at path accepts a connection now: a rootless
 * sbxd that died leaves its socket file behind, and a mount must then
 * fall back to the system sbxd rather than fail on a dead file. */
static int socket_answers(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		return 0;
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* The service when nothing names one: the user's own rootless sbxd
 * ($XDG_RUNTIME_DIR/sbxd/sbxd.sock, where sbxd puts it) when it answers,
 * else the system one. Written into buf as a URL. */
static const char *default_url(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char p[PATH_MAX];
	if (xdg && xdg[0] == '/' && (size_t)snprintf(p, sizeof p, "%s/sbxd/sbxd.sock", xdg) < sizeof p &&
	    socket_answers(p) && (size_t)snprintf(buf, len, "unix:%s", p) < len)
		return buf;
	snprintf(buf, len, "unix:/run/sbxd/sbxd.sock");
	return buf;
}

/* The probe: one list call (filtered on a tag no sandbox carries, so a
 * busy account answers with an empty page). It tells a wrong address, a
 * refused token and a server that is not a sandbox service apart, before
 * anything is mounted. Its client is gone before fuse_daemonize forks. */
static int probe(const sbx_config *cfg)
{
	static const char *const tags[] = {"sbxfs-mount-probe", NULL};
	sbx_list_filter f = {.tags = tags};
	sbx_client *c = NULL;
	sbx_sandbox **v = NULL;
	size_t n = 0;
	sbx_error err;
	sbx_result r = sbx_client_new(cfg, &c, &err);
	if (r == SBX_OK)
		r = sbx_sandbox_list(c, &f, &v, &n, &err);
	sbx_sandbox_list_free(v, n);
	sbx_client_free(c);
	if (r == SBX_OK)
		return 0;
	const char *url = sbx_config_url(cfg), *why;
	switch (r) {
	case SBX_E_UNAUTHENTICATED:
	case SBX_E_PERMISSION:
		why = "the service refused the credentials (check token_file= or $CWSANDBOX_API_KEY)";
		break;
	case SBX_E_NOT_FOUND:
	case SBX_E_PROTOCOL:
	case SBX_E_UNSUPPORTED:
	case SBX_E_INVALID:
	case SBX_E_TOO_LARGE:
		why = "no sandbox service answers there (check url=)";
		break;
	default:
		why = "cannot reach the service (check url=, and that the service runs)";
		break;
	}
	/* libsbx's transport messages start with the URL already. */
	int has_url = strncmp(err.message, url, strlen(url)) == 0;
	fs_log(LOG_ERR, "%s: %s%s%s (%s); -o lazy mounts without this check", why, has_url ? "" : url,
	       has_url ? "" : ": ", err.message, strerror(sbx_error_errno(&err)));
	return -1;
}

/* Adds "-o fsname=URL,subtype=sbxfs[,auto_unmount]": /proc/mounts and df
 * then show the service (as sshfs shows user@host:path), with commas and
 * backslashes in the URL escaped for libfuse's option parser. */
static int add_mount_opts(struct fuse_args *args, const struct opts *o, const char *url)
{
	char *opts = NULL, *fsname = NULL;
	int rc = -1;
	size_t n = strlen(url) + sizeof "fsname=";
	if (!(fsname = malloc(n)))
		goto out;
	snprintf(fsname, n, "fsname=%s", url);
	if (!o->has_fsname && *url && fuse_opt_add_opt_escaped(&opts, fsname) != 0)
		goto out;
	if (!o->has_subtype && fuse_opt_add_opt(&opts, "subtype=sbxfs") != 0)
		goto out;
	/* libfuse 3.14 mounts through fusermount3 when auto_unmount is on,
	 * for root too: fusermount3 stays as a watcher and unmounts (lazily)
	 * once sbxfs's end of its socket closes, however sbxfs ended. */
	if (!o->no_auto_unmount && fuse_opt_add_opt(&opts, "auto_unmount") != 0)
		goto out;
	if (opts && (fuse_opt_add_arg(args, "-o") != 0 || fuse_opt_add_arg(args, opts) != 0))
		goto out;
	rc = 0;
out:
	free(opts);
	free(fsname);
	return rc;
}

/* auto_unmount's watcher (fusermount3) unmounts when sbxfs's end of its
 * socket closes, but only if opening the mount point then fails with
 * ENOTCONN. When sbxfs dies, the kernel may release that socket before the
 * /dev/fuse file, and the watcher's open then waits on the dying
 * connection, gets ECONNABORTED and leaves the mount behind (seen under
 * load). So a small child keeps a copy of the socket (and of nothing else:
 * it closes every close-on-exec fd, /dev/fuse among them) until the kernel
 * kills it as sbxfs's parent-death signal, which comes after sbxfs's files
 * are released: the watcher then always sees ENOTCONN. */
static void keep_unmount_socket(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return;         /* the parent, or fork failed: no keeper, as before */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(0);
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		int self = dirfd(d);
		struct dirent *e;
		while ((e = readdir(d))) {
			char *end;
			long fd = strtol(e->d_name, &end, 10);
			if (*end || end == e->d_name || fd < 3 || fd > INT_MAX || fd == self)
				continue;
			int fl = fcntl((int)fd, F_GETFD);
			if (fl >= 0 && (fl & FD_CLOEXEC))
				close((int)fd);
		}
		closedir(d);
	}
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	for (;;)
		pause();
}

/* Every waiting reader and every transfer holds a descriptor, and the
 * stock soft limit (1,024) is far below what a busy mount needs while the
 * hard limit is usually much higher: take all of it. Failing that, the
 * limit stays and EMFILE is reported as such (never as "connection
 * refused"). */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = {rl.rlim_max, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
		else
			fs_log(LOG_WARNING, "cannot raise the open-file limit to %llu: %s",
			       (unsigned long long)rl.rlim_max, strerror(errno));
	}
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct opts o = {0};
	struct fuse_cmdline_opts copts = {0};
	struct fuse_session *se = NULL;
	sbx_config *cfg = NULL;
	sbx_client *client = NULL;
	sbx_async *async = NULL;
	sbx_error err;
	char *source = NULL;
	int rc = 1, mounted = 0, handlers = 0;

	/* Output buffers of up to 4 MiB come and go: keep them out of the
	 * arenas (a fixed mmap threshold returns them to the kernel at once)
	 * and keep the arenas few, so RSS stays small after a burst. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 2);
	raise_nofile();
	o.grace = 10;
	o.timeout = 10;
	o.connect_timeout = 2;
	o.keepalive = UINT_MAX; /* unset: libsbx's default */
	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) != 0)
		goto out;
	if (o.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		rc = 0;
		goto out;
	}
	if (o.show_version) {
		printf("sbxfs %s (libsbx %s, libfuse %s)\n", SBXFS_VERSION, sbx_version(), fuse_pkgversion());
		rc = 0;
		goto out;
	}
	take_source(&args, &source);
	if (fuse_parse_cmdline(&args, &copts) != 0)
		goto out;
	if (!copts.mountpoint) {
		fs_log(LOG_ERR, "no mount point given (see --help)");
		goto out;
	}
	if (o.timeout < 1 || o.timeout > 3600 || o.connect_timeout < 1 || o.connect_timeout > 600 ||
	    o.grace > 300 || (o.keepalive != UINT_MAX && o.keepalive > 86400)) {
		fs_log(LOG_ERR, "timeout must be 1..3600, connect_timeout 1..600, grace 0..300, keepalive 0..86400");
		goto out;
	}
	/* Opened here, relative to the caller's directory: the daemon
	 * changes to / when it detaches. */
	int lerr = fs_log_open(o.log_file, o.syslog_socket, copts.foreground);
	if (lerr != 0) {
		fs_log(LOG_ERR, "%s %s: %s", o.log_file ? "log_file" : "syslog_socket",
		       o.log_file ? o.log_file : o.syslog_socket, strerror(-lerr));
		goto out;
	}

	cfg = sbx_config_new();
	if (!cfg) {
		fs_log(LOG_ERR, "out of memory");
		goto out;
	}
	const char *url = o.url ? o.url : (source && looks_like_url(source) ? source : NULL);
	char defbuf[PATH_MAX + 8];
	if (!url && !getenv("CWSANDBOX_BASE_URL"))
		url = default_url(defbuf, sizeof defbuf);
	if (url && sbx_config_set_url(cfg, url, &err) != SBX_OK) {
		fs_log(LOG_ERR, "url: %s", err.message);
		goto out;
	}
	if (o.token_file && sbx_config_set_token_file(cfg, o.token_file, &err) != SBX_OK) {
		fs_log(LOG_ERR, "token_file: %s", err.message);
		goto out;
	}
	if (o.ca_file && sbx_config_set_ca_file(cfg, o.ca_file, &err) != SBX_OK) {
		fs_log(LOG_ERR, "ca_file: %s", err.message);
		goto out;
	}
	if (o.grpc && sbx_config_set_grpc_url(cfg, o.grpc, &err) != SBX_OK) {
		fs_log(LOG_ERR, "grpc: %s", err.message);
		goto out;
	}
	sbx_config_set_timeouts(cfg, (long)o.connect_timeout * 1000, (long)o.timeout * 1000);
	sbx_config_set_ext_json(cfg, o.ext_json);
	if (o.keepalive != UINT_MAX)
		sbx_config_set_grpc_keepalive(cfg, (long)o.keepalive * 1000);
	fs_settings s = {(int)o.grace, o.kernel_cache, copts.singlethread, {{0}}, o.exec_stdin, o.no_splice};
	/* mkdir's defaults: refused now, not at the first mkdir. */
	sbx_spec *check = sbx_spec_new();
	for (int i = 0; i < FS_MKDIR_OPTS; i++) {
		s.mkdir_opts[i][0] = mk_keys[i];
		s.mkdir_opts[i][1] = o.mk[i];
		if (o.mk[i] && check && sbx_spec_set_option(check, mk_keys[i], o.mk[i], &err) != SBX_OK) {
			fs_log(LOG_ERR, "%s", err.message);
			sbx_spec_free(check);
			goto out;
		}
	}
	sbx_spec_free(check);
	if (!o.lazy && probe(cfg) != 0)
		goto out;

	/* The kernel checks the mode bits (everything belongs to the user
	 * who mounted): with allow_other, others may read but not start,
	 * signal or delete. */
	if (fuse_opt_add_arg(&args, "-odefault_permissions") != 0 ||
	    add_mount_opts(&args, &o, sbx_config_url(cfg)) != 0)
		goto out;
	se = fuse_session_new(&args, fs_reqlog_ops(&fs_ops), sizeof fs_ops, NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	handlers = 1;
	if (fuse_session_mount(se, copts.mountpoint) != 0)
		goto out;
	mounted = 1;
	if (!copts.foreground)
		fs_log_detach();
	fuse_daemonize(copts.foreground);
	if (!o.no_auto_unmount)
		keep_unmount_socket();

	/* Threads only after daemonizing (fork keeps just the caller). */
	if (sbx_client_new(cfg, &client, &err) != SBX_OK) {
		fs_log(LOG_ERR, "client: %s", err.message);
		goto out;
	}
	if (sbx_async_new(client, &async, &err) != SBX_OK) {
		fs_log(LOG_ERR, "event loop: %s", err.message);
		goto out;
	}
	fs_state_init(client);
	fs_state_start_refresh();
	fs_files_setup(client);
	fs_files_use_fds(!o.no_splice);
	fs_wait_init(async);
	fs_ops_setup(client, &s);
	fs_ops_set_session(se);
	fs_log(LOG_INFO, "serving %s on %s", sbx_config_url(cfg), copts.mountpoint);

	int lrc;
	if (copts.singlethread) {
		lrc = fuse_session_loop(se);
	} else if (o.write_loop && !copts.clone_fd) {
		/* loop.c: the reading thread answers descriptor writes
		 * itself (a stream of writes on one thread), anything else
		 * on the pool after a hand-off; max_idle_threads does not
		 * apply. Not the default: on a quiet machine the hand-off
		 * before every other request cost the exec round trip 0.1 ms
		 * and did not speed tar in (docs/performance.md). */
		lrc = fs_loop_run(se, copts.max_threads ? copts.max_threads : 16, fs_ops_request_local);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		if (!lc)
			goto out;
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)copts.clone_fd);
		fuse_loop_cfg_set_idle_threads(lc, copts.max_idle_threads != UINT_MAX ? copts.max_idle_threads : 4);
		fuse_loop_cfg_set_max_threads(lc, copts.max_threads ? copts.max_threads : 16);
		lrc = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	rc = lrc < 0 ? 1 : 0;
	/* No notifications from late callbacks once the loop is over. */
	fs_ops_set_session(NULL);
	fs_log(LOG_INFO, "unmounting %s", copts.mountpoint);

out:
	if (async) {
		fs_wait_fini();
		sbx_async_free(async);
		fs_wait_free_all();
	}
	if (mounted)
		fuse_session_unmount(se);
	if (handlers)
		fuse_remove_signal_handlers(se);
	if (se)
		fuse_session_destroy(se);
	fs_state_stop_refresh();
	fs_chunk_clear();
	fs_files_fini();
	fs_state_fini();
	sbx_client_free(client);
	sbx_config_free(cfg);
	free(copts.mountpoint);
	free(o.url);
	free(o.grpc);
	free(o.token_file);
	free(o.ca_file);
	for (int i = 0; i < FS_MKDIR_OPTS; i++)
		free(o.mk[i]);
	free(o.log_file);
	free(o.syslog_socket);
	fuse_opt_free_args(&args);
	fs_log_close();
	return rc;
}
