/*
 * sbxd's entry point: command line, listening sockets (a unix socket, by
 * default only its owner's, else with --socket-mode/--socket-group for the
 * local users api.c tells apart by SO_PEERCRED, or the one systemd hands
 * over by socket activation; optionally TCP with a bearer token), daemonizing,
 * and the orderly shutdown on SIGTERM/SIGINT (stop taking requests, wake
 * waiters, stop HTTP, then tear every sandbox down and save its record).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "core.h"
#include "grpc.h"
#include "oci.h"
#include "parse.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sbxd [options]\n"
		"  --socket PATH           unix socket (default $XDG_RUNTIME_DIR/sbxd/sbxd.sock,\n"
		"                          else /run/sbxd/sbxd.sock); mode 0600\n"
		"  --socket-mode MODE      octal mode of the socket (default 0600); other users\n"
		"                          who can connect see and act on their own sandboxes only\n"
		"  --socket-group GROUP    group (name or gid) the socket belongs to\n"
		"  --state-dir DIR         records, output spools, images (default /var/lib/sbxd)\n"
		"  --image-dir DIR         more images: DIR/NAME/rootfs, searched after\n"
		"                          STATE_DIR/images (may repeat, up to 7)\n"
		"  --default-image NAME    image of a spec that names none, a directory image or an\n"
		"                          OCI reference (default \"default\",\n"
		"                          built by scripts/default-image)\n"
		"  --image-alias REF=LOCAL a spec naming image REF runs on image LOCAL (the\n"
		"                          sandbox still reports REF; may repeat, up to 7;\n"
		"                          REF= refuses REF). Without one, python:3.11 (the\n"
		"                          SDK's default) runs on the default image when\n"
		"                          that holds Python 3.11 and no image is named so\n"
		"  --allow-host-image      allow image \"host\": the host's own / read-only,\n"
		"                          its secrets and every sbxd state dir hidden\n"
		"  --no-extension          serve the real CoreWeave surface alone: sbxd's\n"
		"                          extension calls and GET /v1/extensions are 404\n"
		"  -f, --foreground        do not daemonize\n"
		"  --listen HOST:PORT      also serve TCP (needs --token-file)\n"
		"  --token-file FILE       bearer token for TCP clients (REST and gRPC)\n"
		"  --grpc-listen HOST:PORT also serve gRPC (SandboxService) on TCP: h2c, or TLS\n"
		"                          with --grpc-cert/--grpc-key (needs --token-file)\n"
		"  --grpc-cert FILE        PEM certificate chain for --grpc-listen (TLS, ALPN h2)\n"
		"  --grpc-key FILE         PEM private key for --grpc-listen\n"
		"  --grpc-socket PATH      gRPC's unix socket (default: the socket's path + \".grpc\";\n"
		"                          same mode and group); \"none\": no gRPC unix socket\n"
		"  --default-lifetime S    maxLifetimeSeconds when a spec gives 0 (default 600)\n"
		"  --retention S           keep ended sandboxes this long (default 3600)\n"
		"  --keep-processes N      records of ended processes kept per sandbox, the oldest\n"
		"                          forgotten past N (default 4096; no cap on starts)\n"
		"  --exit-linger-us N      a process start waits up to N microseconds for the\n"
		"                          process to end, and answers it ended (default 2000;\n"
		"                          0 = never waits)\n"
		"  --max-sandboxes N       live sandboxes at once (default 256)\n"
		"  --default-memory Q      memory limit of a sandbox whose spec has none\n"
		"                          (default 2Gi; 0 = unlimited)\n"
		"  --max-output Q          cap of each output stream of a process (default 8Gi;\n"
		"                          0 = unlimited); a process writing more gets SIGXFSZ\n"
		"  --output-quota Q        bytes of output all spools of one sandbox may hold\n"
		"                          (default 4Gi; 0 = unlimited); past it output is dropped\n"
		"  --min-free Q|N%%         store no output while the state dir's file system has\n"
		"                          less free (default 2%%; 0 = no floor)\n"
		"  --max-disk Q            size of a sandbox's writable layer (default: runtime's)\n"
		"  --idle-timeout S        close idle TCP connections after S s (default 60)\n"
		"  --default-egress deny|any  egress of a sandbox whose spec.network has no\n"
		"                          egress rules and no denyEgress (default deny)\n"
		"  --userns                (root) root's own sandboxes too in a user namespace of root's\n"
		"                          range (other users' always run in their owner's range:\n"
		"                          root inside is its first id, from /etc/subuid, /etc/subgid)\n"
		"  --subuid FILE, --subgid FILE  those ranges from FILE instead\n"
		"  --no-limits             (rootless, no writable cgroup) start anyway: limits are\n"
		"                          not enforced and specs asking for one are refused\n"
		"  --warm-pool N           keep N sandboxes of the default image made ahead, idle,\n"
		"                          for creates that need nothing else (default 2; 0-64;\n"
		"                          0 for a rootless sbxd); each serves one create only\n"
		"  --no-live-restore       sandboxes end with sbxd (by default running ones outlive\n"
		"                          it and the next sbxd on the state dir takes them back;\n"
		"                          SIGUSR1 stops sbxd and every sandbox, SIGTERM only sbxd)\n"
		"  Started by a user who is not root, sbxd is rootless: state in\n"
		"  $XDG_DATA_HOME/sbxd (else ~/.local/share/sbxd), socket in $XDG_RUNTIME_DIR/sbxd\n"
		"  -h, --help              this text\n"
		"  -V, --version           print the version\n"
		"       sbxd image import [--state-dir DIR] PATH [REF]   OCI layout dir, oci-archive\n"
		"                          or docker-archive (docker save) into the store\n"
		"       sbxd image ls [--state-dir DIR]\n"
		"       sbxd image rm [--state-dir DIR] REF\n"
		"       sbxd stop-sandboxes [--state-dir DIR]   end every sandbox an sbxd left\n"
		"                          running there (none may serve DIR now)\n");
}

static int mkdirs(const char *path, mode_t mode);

/* sbxd stop-sandboxes: the full stop for a state dir no sbxd serves (one
 * killed with -9 left its sandboxes running): a runtime opened without
 * live restore ends every box of the dir (runtime.h). The records say
 * FAILED "sbxd restarted" at the next start, as after any lost box. */
static int stop_sandboxes_main(int argc, char **argv)
{
	const char *state = "/var/lib/sbxd";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc) {
			state = argv[++i];
		} else if (strncmp(argv[i], "--state-dir=", 12) == 0) {
			state = argv[i] + 12;
		} else {
			fprintf(stderr, "usage: sbxd stop-sandboxes [--state-dir DIR]\n");
			return 2;
		}
	}
	char lockpath[PATH_MAX];
	struct stat st;
	if (stat(state, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    snprintf(lockpath, sizeof lockpath, "%s/sbxd.lock", state) >= (int)sizeof lockpath) {
		fprintf(stderr, "sbxd stop-sandboxes: no state dir %s\n", state);
		return 1;
	}
	int lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "sbxd stop-sandboxes: an sbxd serves %s: send it SIGUSR1 for a full stop\n", state);
		if (lfd >= 0)
			close(lfd);
		return 1;
	}
	char err[SRV_ERRLEN] = "";
	srv_rt *rt = srv_rt_new(state, err);
	if (!rt) {
		fprintf(stderr, "sbxd stop-sandboxes: %s\n", err);
		close(lfd);
		return 1;
	}
	srv_rt_free(rt);
	close(lfd);
	return 0;
}

/* sbxd image ...: the OCI store (oci.h) without a running sbxd; a running
 * one sees imports at its next create. */
static int image_main(int argc, char **argv)
{
	const char *state = "/var/lib/sbxd";
	const char *verb = argc > 1 ? argv[1] : "";
	const char *pos[3] = {NULL};
	int npos = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc) {
			state = argv[++i];
		} else if (strncmp(argv[i], "--state-dir=", 12) == 0) {
			state = argv[i] + 12;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "sbxd image: unknown option %s\n", argv[i]);
			return 2;
		} else if (npos < 3) {
			pos[npos++] = argv[i];
		} else {
			fprintf(stderr, "sbxd image: too many arguments\n");
			return 2;
		}
	}
	int want_min = strcmp(verb, "ls") == 0 ? 0 : 1, want_max = strcmp(verb, "import") == 0 ? 2 : want_min;
	if ((strcmp(verb, "import") && strcmp(verb, "ls") && strcmp(verb, "rm")) || npos < want_min || npos > want_max) {
		fprintf(stderr, "usage: sbxd image import [--state-dir DIR] PATH [REF]\n"
		                "       sbxd image ls [--state-dir DIR]\n"
		                "       sbxd image rm [--state-dir DIR] REF\n");
		return 2;
	}
	if (mkdirs(state, 0700) != 0) {
		fprintf(stderr, "sbxd image: state dir %s: %s\n", state, strerror(errno));
		return 1;
	}
	char err[SRV_OCI_ERRLEN] = "";
	srv_oci *st = srv_oci_open(state, err);
	if (!st) {
		fprintf(stderr, "sbxd image: %s\n", err);
		return 1;
	}
	int rc = 1;
	if (strcmp(verb, "import") == 0) {
		char out[4096];
		if (srv_oci_import(st, pos[0], pos[1], out, sizeof out, err) == 0) {
			fputs(out, stdout);
			rc = 0;
		}
	} else if (strcmp(verb, "rm") == 0) {
		if (srv_oci_remove(st, pos[0], err) == 0) {
			rc = 0;
			/* Layers are freed now unless an sbxd may run sandboxes on
			 * them (it holds sbxd.lock); it frees them at its start. */
			char lp[4200];
			snprintf(lp, sizeof lp, "%s/sbxd.lock", state);
			int lfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) == 0) {
				int n = srv_oci_gc(st, NULL);
				printf("removed %s (%d layer%s freed)\n", pos[0], n > 0 ? n : 0, n == 1 ? "" : "s");
			} else {
				printf("removed %s (its layers are freed at sbxd's next start)\n", pos[0]);
			}
			if (lfd >= 0)
				close(lfd);
		}
	} else {
		srv_oci_listing l;
		if (srv_oci_list(st, &l, err) == 0) {
			/* The human form; GET /v1/images has the JSON. */
			srv_oci_list_print(&l, stdout);
			srv_oci_listing_free(&l);
			rc = 0;
		}
	}
	if (rc != 0 && err[0])
		fprintf(stderr, "sbxd image %s: %s\n", verb, err);
	srv_oci_close(st);
	return rc;
}

/* mkdir -p with mode for missing components. */
static int mkdirs(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* --socket-mode: 1 to 4 octal digits, at most 0777. */
static int parse_mode_opt(const char *v, mode_t *out)
{
	size_t n = strlen(v);
	unsigned m = 0;
	if (n < 1 || n > 4)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '7')
			goto bad;
		m = m * 8 + (unsigned)(v[i] - '0');
	}
	if (m > 0777)
		goto bad;
	*out = (mode_t)m;
	return 0;
bad:
	fprintf(stderr, "sbxd: error: --socket-mode wants an octal mode 0000..0777, got \"%s\"\n", v);
	return -1;
}

/* --socket-group: a group name, else a numeric gid. */
static int parse_group_opt(const char *v, gid_t *out)
{
	struct group gr, *res = NULL;
	char buf[16384];
	if (getgrnam_r(v, &gr, buf, sizeof buf, &res) == 0 && res) {
		*out = res->gr_gid;
		return 0;
	}
	int64_t g;
	if (srv_parse_int(v, 0, (int64_t)UINT32_MAX - 1, &g) == 0) {
		*out = (gid_t)g;
		return 0;
	}
	fprintf(stderr, "sbxd: error: --socket-group: no group \"%s\"\n", v);
	return -1;
}

/* Gives the socket file its group, then its mode (in this order: it never
 * is open to a group it was not meant for). A socket others may open in
 * a folder they cannot pass is worth a warning, not a refusal. */
static int socket_perms(const char *path, mode_t mode, gid_t gid)
{
	if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0) || chmod(path, mode) != 0) {
		fprintf(stderr, "sbxd: error: socket %s: %s\n", path, strerror(errno));
		return -1;
	}
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	struct stat st;
	if ((mode & 0077) && slash && slash != dir) {
		*slash = '\0';
		if (stat(dir, &st) == 0 && !(st.st_mode & (mode & 0070 ? 0011 : 0001)))
			fprintf(stderr, "sbxd: warning: socket mode %04o, but its folder %s (%04o) lets no other "
			        "user reach it\n", (unsigned)mode, dir, (unsigned)(st.st_mode & 07777));
	}
	return 0;
}

static int listen_unix(const char *path, mode_t mode, gid_t gid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "sbxd: error: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		/* A socket for other users needs a folder they can pass. */
		if (mkdirs(dir, mode & 0077 ? 0755 : 0700) != 0) {
			fprintf(stderr, "sbxd: error: cannot create %s: %s\n", dir, strerror(errno));
			return -1;
		}
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A stale socket from a dead sbxd is replaced; a live one is not. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(probe);
			close(fd);
			fprintf(stderr, "sbxd: error: another sbxd listens on %s\n", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc != 0 || listen(fd, 128) != 0) {
		fprintf(stderr, "sbxd: error: cannot listen on %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (socket_perms(path, mode, gid) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* systemd's socket activation (sd_listen_fds(3), done by hand to need no
 * libsystemd): when LISTEN_PID is this process and LISTEN_FDS is 1, fd 3
 * is a listening unix stream socket made by a .socket unit. Returns it and
 * its path in path, -1 when nothing was passed, -2 on a bad hand-over
 * (told). The variables are cleared so no child sees them. */
#define SD_LISTEN_FDS_START 3
static int socket_from_systemd(char *path, size_t cap)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	int64_t pid, nfds;
	if (!pid_s || !fds_s)
		return -1;
	int mine = srv_parse_int(pid_s, 1, INT_MAX, &pid) == 0 && pid == (int64_t)getpid();
	int parsed = srv_parse_int(fds_s, 0, 1024, &nfds) == 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (!mine)
		return -1;      /* meant for a parent that exec'd us: not ours */
	if (!parsed || nfds != 1) {
		fprintf(stderr, "sbxd: error: socket activation passed %s sockets; sbxd takes exactly one (a unix "
			"ListenStream=)\n", fds_s);
		return -2;
	}
	int fd = SD_LISTEN_FDS_START, type = 0, acc = 0;
	socklen_t tl = sizeof type, al = sizeof acc;
	struct sockaddr_un sa;
	socklen_t sl = sizeof sa;
	memset(&sa, 0, sizeof sa);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 || !acc ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0 || sa.sun_family != AF_UNIX || sa.sun_path[0] != '/') {
		fprintf(stderr, "sbxd: error: socket activation: fd 3 is not a listening unix stream socket with a "
			"path\n");
		return -2;
	}
	size_t n = strnlen(sa.sun_path, sizeof sa.sun_path);
	if (n >= cap || n >= sizeof sa.sun_path) {
		fprintf(stderr, "sbxd: error: socket activation: socket path too long\n");
		return -2;
	}
	memcpy(path, sa.sun_path, n);
	path[n] = '\0';
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

static int listen_tcp(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	int64_t port;
	if (!colon || (size_t)(colon - hostport) >= sizeof host || srv_parse_int(colon + 1, 1, 65535, &port) != 0) {
		fprintf(stderr, "sbxd: error: --listen wants HOST:PORT, got %s\n", hostport);
		return -1;
	}
	size_t hl = (size_t)(colon - hostport);
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
	int rc = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "sbxd: error: --listen %s: %s\n", hostport, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		fprintf(stderr, "sbxd: error: cannot listen on %s: %s\n", hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static char *read_token(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "sbxd: error: cannot read token file %s: %s\n", path, strerror(errno));
		return NULL;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!*buf) {
		fprintf(stderr, "sbxd: error: token file %s is empty\n", path);
		return NULL;
	}
	char *t = strdup(buf);
	explicit_bzero(buf, sizeof buf);
	return t;
}

static int parse_num_opt(const char *name, const char *v, int64_t min, int64_t max, int64_t *out)
{
	if (srv_parse_int(v, min, max, out) != 0) {
		fprintf(stderr, "sbxd: error: %s wants an integer %lld..%lld, got \"%s\"\n", name, (long long)min,
			(long long)max, v);
		return -1;
	}
	return 0;
}

/* A byte quantity as in specs ("512Mi", "2Gi", "1000000"); "0" = none. */
static int parse_size_opt(const char *name, const char *v, int64_t *out)
{
	char err[SRV_MSGLEN];
	if (strcmp(v, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (srv_parse_memory(v, out, err) != 0) {
		fprintf(stderr, "sbxd: error: %s wants a size like 512Mi or 2Gi, got \"%s\": %s\n", name, v, err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_SOCKET = 256, O_STATE, O_LISTEN, O_TOKEN, O_LIFETIME, O_RETENTION, O_KEEPPROCS, O_MAXSBX, O_DEFMEM, O_MAXOUT,
	       O_MAXDISK, O_IDLE, O_IMGDIR, O_DEFIMG, O_HOSTIMG, O_QUOTA, O_MINFREE, O_EGRESS, O_SOCKMODE, O_SOCKGROUP, O_NOEXT,
	       O_GRPC_LISTEN, O_GRPC_CERT, O_GRPC_KEY, O_GRPC_SOCKET, O_IMGALIAS, O_USERNS, O_SUBUID, O_SUBGID,
	       O_NOLIMITS, O_NOLIVE, O_LINGER, O_WARMPOOL };
	static const struct option opts[] = {
		{"socket", required_argument, NULL, O_SOCKET},
		{"socket-mode", required_argument, NULL, O_SOCKMODE},
		{"socket-group", required_argument, NULL, O_SOCKGROUP},
		{"state-dir", required_argument, NULL, O_STATE},
		{"listen", required_argument, NULL, O_LISTEN},
		{"token-file", required_argument, NULL, O_TOKEN},
		{"default-lifetime", required_argument, NULL, O_LIFETIME},
		{"retention", required_argument, NULL, O_RETENTION},
		{"keep-processes", required_argument, NULL, O_KEEPPROCS},
		{"exit-linger-us", required_argument, NULL, O_LINGER},
		{"max-sandboxes", required_argument, NULL, O_MAXSBX},
		{"default-memory", required_argument, NULL, O_DEFMEM},
		{"max-output", required_argument, NULL, O_MAXOUT},
		{"max-disk", required_argument, NULL, O_MAXDISK},
		{"output-quota", required_argument, NULL, O_QUOTA},
		{"min-free", required_argument, NULL, O_MINFREE},
		{"idle-timeout", required_argument, NULL, O_IDLE},
		{"image-dir", required_argument, NULL, O_IMGDIR},
		{"default-image", required_argument, NULL, O_DEFIMG},
		{"allow-host-image", no_argument, NULL, O_HOSTIMG},
		{"no-extension", no_argument, NULL, O_NOEXT},
		{"grpc-listen", required_argument, NULL, O_GRPC_LISTEN},
		{"grpc-cert", required_argument, NULL, O_GRPC_CERT},
		{"grpc-key", required_argument, NULL, O_GRPC_KEY},
		{"grpc-socket", required_argument, NULL, O_GRPC_SOCKET},
		{"image-alias", required_argument, NULL, O_IMGALIAS},
		{"default-egress", required_argument, NULL, O_EGRESS},
		{"userns", no_argument, NULL, O_USERNS},
		{"subuid", required_argument, NULL, O_SUBUID},
		{"subgid", required_argument, NULL, O_SUBGID},
		{"no-limits", no_argument, NULL, O_NOLIMITS},
		{"no-live-restore", no_argument, NULL, O_NOLIVE},
		{"warm-pool", required_argument, NULL, O_WARMPOOL},
		{"foreground", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *sock = NULL, *state = "/var/lib/sbxd", *listen_at = NULL, *token_file = NULL;
	int64_t lifetime = 600, retention = 3600, maxsbx = 256, idle = 60, keep_procs = 4096, linger_us = 2000;
	int64_t defmem = 2LL << 30, maxout = 8LL << 30, maxdisk = 0, quota = 4LL << 30;
	int64_t minfree = 0, minfree_pct = 2;
	/* Two boxes made ahead: a burst of two creates (mkdir a b) is
	 * served at once while the pool refills in the gaps, for two idle
	 * inits (well under 1 MiB each) and two cgroups. */
	int64_t warm_pool = 2;
	int warm_given = 0;
	char tokenreal[PATH_MAX], sockreal[PATH_MAX];
	const char *image_dirs[8] = {NULL}, *default_image = "default";
	int nimage_dirs = 0, allow_host = 0, userns = 0, subids_given = 0, no_limits = 0, state_given = 0;
	int no_live = 0;
	const char *subuid = "/etc/subuid", *subgid = "/etc/subgid";
	char statebuf[4096];
	char imgreal[7][PATH_MAX];
	int fg = 0, c, rc = 1, egress_any = 0, activated = 0, perms_given = 0;
	mode_t sock_mode = 0600;
	gid_t sock_gid = (gid_t)-1;
	char sockbuf[4096], actbuf[sizeof ((struct sockaddr_un *)0)->sun_path + 1], err[SRV_MSGLEN] = "";
	char *token = NULL;
	int ufd = -1, tfd = -1, lockfd = -1, ready[2] = {-1, -1};
	const char *grpc_listen = NULL, *grpc_cert = NULL, *grpc_key = NULL, *grpc_sock = NULL;
	char grpc_sockbuf[4200], grpc_sockreal[PATH_MAX], keyreal[PATH_MAX], certreal[PATH_MAX];
	int gfd = -1, grpc_started = 0, nimage_alias = 0;
	const char *image_alias[8] = {NULL};
	if (argc >= 2 && strcmp(argv[1], "image") == 0)
		return image_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "stop-sandboxes") == 0)
		return stop_sandboxes_main(argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "fhV", opts, NULL)) != -1) {
		switch (c) {
		case O_SOCKET: sock = optarg; break;
		case O_SOCKMODE:
			if (parse_mode_opt(optarg, &sock_mode))
				return 2;
			perms_given = 1;
			break;
		case O_SOCKGROUP:
			if (parse_group_opt(optarg, &sock_gid))
				return 2;
			perms_given = 1;
			break;
		case O_STATE: state = optarg; state_given = 1; break;
		case O_USERNS: userns = 1; break;
		case O_SUBUID: subuid = optarg; subids_given = 1; break;
		case O_SUBGID: subgid = optarg; subids_given = 1; break;
		case O_NOLIMITS: no_limits = 1; break;
		case O_NOLIVE: no_live = 1; break;
		case O_WARMPOOL:
			if (parse_num_opt("--warm-pool", optarg, 0, 64, &warm_pool))
				return 2;
			warm_given = 1;
			break;
		case O_LISTEN: listen_at = optarg; break;
		case O_TOKEN: token_file = optarg; break;
		case O_GRPC_LISTEN: grpc_listen = optarg; break;
		case O_GRPC_CERT: grpc_cert = optarg; break;
		case O_GRPC_KEY: grpc_key = optarg; break;
		case O_GRPC_SOCKET: grpc_sock = optarg; break;
		case O_IMGALIAS: {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || nimage_alias >= 7) {
				fprintf(stderr, "sbxd: error: --image-alias wants REF=LOCAL (at most 7), got \"%s\"\n",
					optarg);
				return 2;
			}
			image_alias[nimage_alias++] = optarg;
			break;
		}
		case O_LIFETIME:
			if (parse_num_opt("--default-lifetime", optarg, 1, SRV_MAX_LIFETIME, &lifetime))
				return 2;
			break;
		case O_RETENTION:
			if (parse_num_opt("--retention", optarg, 0, 365LL * 86400, &retention))
				return 2;
			break;
		case O_LINGER:
			if (parse_num_opt("--exit-linger-us", optarg, 0, 1000000, &linger_us))
				return 2;
			break;
		case O_KEEPPROCS:
			if (parse_num_opt("--keep-processes", optarg, 1, 1000000, &keep_procs))
				return 2;
			break;
		case O_MAXSBX:
			if (parse_num_opt("--max-sandboxes", optarg, 1, 100000, &maxsbx))
				return 2;
			break;
		case O_DEFMEM:
			if (parse_size_opt("--default-memory", optarg, &defmem))
				return 2;
			break;
		case O_MAXOUT:
			if (parse_size_opt("--max-output", optarg, &maxout))
				return 2;
			break;
		case O_MAXDISK:
			if (parse_size_opt("--max-disk", optarg, &maxdisk))
				return 2;
			break;
		case O_QUOTA:
			if (parse_size_opt("--output-quota", optarg, &quota))
				return 2;
			break;
		case O_MINFREE: {
			size_t n = strlen(optarg);
			minfree = minfree_pct = 0;
			if (n > 1 && optarg[n - 1] == '%') {
				char pct[8];
				if (n - 1 >= sizeof pct) {
					fprintf(stderr, "sbxd: error: --min-free wants 0..99%% or a size\n");
					return 2;
				}
				memcpy(pct, optarg, n - 1);
				pct[n - 1] = '\0';
				if (parse_num_opt("--min-free", pct, 0, 99, &minfree_pct))
					return 2;
			} else if (parse_size_opt("--min-free", optarg, &minfree)) {
				return 2;
			}
			break;
		}
		case O_IDLE:
			if (parse_num_opt("--idle-timeout", optarg, 1, 86400, &idle))
				return 2;
			break;
		case O_IMGDIR:
			if (nimage_dirs >= 7) {
				fprintf(stderr, "sbxd: error: at most 7 --image-dir\n");
				return 2;
			}
			/* Absolute now: the daemon changes to / before it starts. */
			if (!realpath(optarg, imgreal[nimage_dirs])) {
				fprintf(stderr, "sbxd: error: --image-dir %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			image_dirs[nimage_dirs] = imgreal[nimage_dirs];
			nimage_dirs++;
			break;
		case O_DEFIMG:
			/* A directory image's name or an OCI reference. */
			if (strcmp(optarg, "host") != 0 && !srv_valid_name(optarg)) {
				srv_oci_ref ref;
				char rerr[SRV_OCI_ERRLEN];
				if (srv_oci_ref_parse(optarg, &ref, rerr) != 0) {
					fprintf(stderr, "sbxd: error: --default-image: %s\n", rerr);
					return 2;
				}
			}
			default_image = optarg;
			break;
		case O_HOSTIMG: allow_host = 1; break;
		case O_NOEXT: srv_http_set_extension(0); break;
		case O_EGRESS:
			if (strcmp(optarg, "any") != 0 && strcmp(optarg, "deny") != 0) {
				fprintf(stderr, "sbxd: --default-egress must be deny or any\n");
				return 2;
			}
			egress_any = strcmp(optarg, "any") == 0;
			break;
		case 'f': fg = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("sbxd %s\n", SBXD_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(default_image, "host") == 0 && !allow_host) {
		fprintf(stderr, "sbxd: error: --default-image host needs --allow-host-image\n");
		return 2;
	}
	if (listen_at && !token_file) {
		fprintf(stderr, "sbxd: error: --listen needs --token-file\n");
		return 2;
	}
	if (grpc_listen && !token_file) {
		fprintf(stderr, "sbxd: error: --grpc-listen needs --token-file\n");
		return 2;
	}
	if (!grpc_cert != !grpc_key || (grpc_cert && !grpc_listen)) {
		fprintf(stderr, "sbxd: error: --grpc-cert and --grpc-key go together, with --grpc-listen\n");
		return 2;
	}
	/* Rootless (started by a user who is not root): what it cannot do is
	 * refused here, by name, never run weaker without a word. */
	int rootless = geteuid() != 0;
	if (rootless && (userns || subids_given)) {
		fprintf(stderr, "sbxd: error: --userns/--subuid/--subgid need a root sbxd; a rootless sbxd's "
		        "sandboxes always run in a user namespace where your own uid is root\n");
		return 2;
	}
	if (rootless && listen_at) {
		fprintf(stderr, "sbxd: error: --listen: a rootless sbxd serves its owner's unix socket only\n");
		return 2;
	}
	if (rootless && grpc_listen) {
		fprintf(stderr, "sbxd: error: --grpc-listen: a rootless sbxd serves its owner's unix sockets only\n");
		return 2;
	}
	if (rootless && warm_given && warm_pool > 0) {
		fprintf(stderr, "sbxd: error: --warm-pool: a rootless sbxd makes no sandboxes ahead (it may not open "
		        "a sandbox's UTS namespace to name it later: its init is not dumpable); give --warm-pool 0\n");
		return 2;
	}
	if (rootless)
		warm_pool = 0;
	if (!rootless && no_limits) {
		fprintf(stderr, "sbxd: error: --no-limits is for a rootless sbxd without a cgroup; a root sbxd "
		        "always enforces limits\n");
		return 2;
	}
	if (rootless && !state_given) {
		/* A user's records and images live in their own data dir. */
		const char *data = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
		int w = data && data[0] == '/' ? snprintf(statebuf, sizeof statebuf, "%s/sbxd", data)
		        : home && home[0] == '/' ? snprintf(statebuf, sizeof statebuf, "%s/.local/share/sbxd", home)
		                              : -1;
		if (w < 0 || (size_t)w >= sizeof statebuf) {
			fprintf(stderr, "sbxd: error: no state dir: set XDG_DATA_HOME or HOME, or give --state-dir\n");
			return 2;
		}
		state = statebuf;
	}
	if (!sock) {
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		if (xdg && *xdg)
			snprintf(sockbuf, sizeof sockbuf, "%s/sbxd/sbxd.sock", xdg);
		else
			snprintf(sockbuf, sizeof sockbuf, "/run/sbxd/sbxd.sock");
		sock = sockbuf;
	}
	if (mkdirs(state, 0700) != 0) {
		fprintf(stderr, "sbxd: error: cannot create state dir %s: %s\n", state, strerror(errno));
		return 1;
	}
	/* One sbxd per state dir: a second one would fight over records. */
	char lockpath[4200];
	snprintf(lockpath, sizeof lockpath, "%s/sbxd.lock", state);
	lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "sbxd: error: state dir %s is in use by another sbxd\n", state);
		return 1;
	}
	/* Only checked here: the token is kept in memory only once the
	 * runtime's zygote (whose copies are every sandbox's init) exists. */
	if (token_file && !(token = read_token(token_file)))
		return 1;
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
		token = NULL;
	}
	/* Absolute now: the daemon changes to / before the runtime hides it. */
	if (token_file && !realpath(token_file, tokenreal)) {
		fprintf(stderr, "sbxd: error: token file %s: %s\n", token_file, strerror(errno));
		return 1;
	}
	ufd = socket_from_systemd(actbuf, sizeof actbuf);
	if (ufd == -2)
		goto out;
	if (ufd >= 0) {
		/* The unit's ListenStream= is the socket; --socket may only
		 * name the same one. */
		if (sock != sockbuf && strcmp(sock, actbuf) != 0) {
			fprintf(stderr, "sbxd: error: --socket %s, but systemd passed %s\n", sock, actbuf);
			goto out;
		}
		sock = actbuf;
		activated = 1;
		/* The unit's SocketMode= rules unless the options say more. */
		if (perms_given && socket_perms(sock, sock_mode, sock_gid) != 0)
			goto out;
	} else if ((ufd = listen_unix(sock, sock_mode, sock_gid)) < 0) {
		goto out;
	}
	if (listen_at && (tfd = listen_tcp(listen_at)) < 0)
		goto out;
	/* gRPC's unix socket: next to the REST one, same mode and group
	 * (docs/sbxd.8). */
	if (!grpc_sock) {
		snprintf(grpc_sockbuf, sizeof grpc_sockbuf, "%s.grpc", sock);
		grpc_sock = grpc_sockbuf;
	}
	if (strcmp(grpc_sock, "none") == 0)
		grpc_sock = NULL;
	if (grpc_sock && (gfd = listen_unix(grpc_sock, sock_mode, sock_gid)) < 0)
		goto out;
	if (grpc_sock && !realpath(grpc_sock, grpc_sockreal)) {
		fprintf(stderr, "sbxd: error: socket %s: %s\n", grpc_sock, strerror(errno));
		goto out;
	}
	if (grpc_key && (!realpath(grpc_key, keyreal) || !realpath(grpc_cert, certreal))) {
		fprintf(stderr, "sbxd: error: --grpc-key/--grpc-cert: %s\n", strerror(errno));
		goto out;
	}
	if (!realpath(sock, sockreal)) {
		fprintf(stderr, "sbxd: error: socket %s: %s\n", sock, strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Every parked long-poll is a socket: use the whole hard fd limit
	 * (raising the soft limit up to it needs no privilege). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!fg) {
		/* The parent returns only once the child serves (or failed). */
		if (pipe2(ready, O_CLOEXEC) != 0)
			goto out;
		pid_t pid = fork();
		if (pid < 0)
			goto out;
		if (pid > 0) {
			char b = 0;
			close(ready[1]);
			ssize_t n = read(ready[0], &b, 1);
			_exit(n == 1 && b == 'R' ? 0 : 1);
		}
		close(ready[0]);
		setsid();
		if (chdir("/") != 0) {
			/* ignore: paths are absolute or already resolved */
		}
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			close(devnull);
		}
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	srv_config cfg = {
		.state_dir = state,
		.default_lifetime = lifetime,
		.retention = retention,
		.keep_procs = keep_procs,
		.exit_linger_us = linger_us,
		.max_sandboxes = (int)maxsbx,
		/* The socket file itself (not its directory) and the token:
		 * with it a sandbox could drive the TCP API for any sandbox. */
		.hide_paths = {sockreal, token_file ? tokenreal : NULL, grpc_sock ? grpc_sockreal : NULL,
			       grpc_key ? keyreal : NULL},
		.default_memory = defmem,
		.max_output = maxout,
		.disk_bytes = maxdisk,
		.default_image = default_image,
		.allow_host_image = allow_host,
		.output_quota = quota,
		.min_free = minfree,
		.min_free_pct = (int)minfree_pct,
		.default_egress = egress_any,
		.subuid = rootless ? NULL : subuid,
		.subgid = rootless ? NULL : subgid,
		.userns_root = userns,
		.subids_given = subids_given,
		.no_limits = no_limits,
		.no_live_restore = no_live,
		.warm_pool = (int)warm_pool,
	};
	/* Nothing can enforce a limit: a spec's own ones are refused at
	 * create, and there is no default to fall back on. */
	if (rootless && no_limits)
		cfg.default_memory = 0;
	memcpy(cfg.image_dirs, image_dirs, sizeof image_dirs);
	memcpy(cfg.image_alias, image_alias, sizeof image_alias);
	if (srv_core_start(&cfg, err) != 0) {
		fprintf(stderr, "sbxd: error: %s\n", err);
		srv_core_stop();
		goto out;
	}
	if (token_file && !(token = read_token(tokenreal))) {
		srv_core_stop();
		goto out;
	}
	/* gRPC first: once REST answers (what scripts wait for), both serve. */
	if (grpc_sock || grpc_listen) {
		srv_grpc_config gc = {
			.listen = grpc_listen,
			.cert = grpc_cert ? certreal : NULL,
			.key = grpc_key ? keyreal : NULL,
			.unix_fd = gfd,
			.token = token,
		};
		gfd = -1; /* srv_grpc_start owns it now */
		grpc_started = 1;
		if (srv_grpc_start(&gc, err) != 0) {
			fprintf(stderr, "sbxd: error: %s\n", err);
			srv_core_quiesce();
			srv_grpc_stop();
			srv_core_stop();
			goto out;
		}
	}
	int hrc = srv_http_start(ufd, tfd, token, (unsigned)idle, err);
	ufd = tfd = -1; /* MHD owns (and closes) the listening sockets now */
	if (hrc != 0) {
		fprintf(stderr, "sbxd: error: %s\n", err);
		srv_http_stop();
		srv_core_stop();
		goto out;
	}
	fprintf(stderr, "sbxd: info: serving on %s%s%s%s (state %s)\n", sock, activated ? " (from systemd)" : "",
		listen_at ? " and " : "", listen_at ? listen_at : "", state);
	if (grpc_started)
		fprintf(stderr, "sbxd: info: gRPC on %s%s%s%s\n", grpc_sock ? grpc_sock : "",
			grpc_sock && grpc_listen ? " and " : "", grpc_listen ? grpc_listen : "",
			grpc_cert ? " (TLS)" : "");
	if (rootless)
		fprintf(stderr, "sbxd: info: rootless: every sandbox is a user namespace where uid %u is root\n",
		        (unsigned)geteuid());
	else {
		fprintf(stderr, "sbxd: info: %s run in user namespaces of their owner's range (%s, %s)\n",
		        userns ? "all sandboxes, root's too," : "sandboxes of users other than root", subuid, subgid);
		if (access(subuid, R_OK) != 0 || access(subgid, R_OK) != 0)
			fprintf(stderr, "sbxd: warning: cannot read %s or %s: every create by a user other than "
			        "root%s is refused until it has a range there\n", subuid, subgid,
			        userns ? " (and by root, under --userns)" : "");
	}
	if (rootless && no_limits)
		fprintf(stderr, "sbxd: warning: --no-limits: no cgroup, memory, CPU and pids limits are not "
		        "enforced; a spec asking for one is refused\n");
	if (ready[1] >= 0) {
		if (write(ready[1], "R", 1) != 1) {
			/* the parent went away; keep serving */
		}
		close(ready[1]);
		ready[1] = -1;
	}
	for (;;) {
		int sig = 0;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP)
			continue;
		/* SIGUSR1: a full stop, every sandbox ends with sbxd. SIGTERM,
		 * SIGINT: running sandboxes stay for the next sbxd (live
		 * restore), unless --no-live-restore. */
		if (sig == SIGUSR1)
			srv_core_full_stop();
		fprintf(stderr, "sbxd: info: %s, shutting down%s\n", strsignal(sig),
			sig == SIGUSR1 || no_live ? " and stopping every sandbox" : "");
		break;
	}
	srv_core_quiesce();
	srv_grpc_stop();
	srv_http_stop();
	srv_core_stop();
	if (grpc_sock)
		unlink(grpc_sock);
	if (!activated)         /* systemd's socket stays for the next start */
		unlink(sock);
	fprintf(stderr, "sbxd: info: stopped\n");
	rc = 0;
out:
	if (ufd >= 0)
		close(ufd);
	if (tfd >= 0)
		close(tfd);
	if (gfd >= 0)
		close(gfd);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (lockfd >= 0)
		close(lockfd);
	if (ready[1] >= 0)
		close(ready[1]);
	return rc;
}
