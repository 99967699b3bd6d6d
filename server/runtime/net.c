/*
 * A sandbox's egress (see net.h): slirp4netns started on the sandbox's
 * network namespace, and an nft script loaded inside that namespace by a
 * child that setns()es there. Both helpers are started with a vfork-like
 * clone (the caller may be a thread of a large sbxd: no page tables are
 * copied) and their stderr goes to a memfd, so a failure is reported with
 * the tool's own words.
 */
#include "net.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* slirp4netns brings its interface up in about 4 ms; allow for load. */
#define READY_TIMEOUT_MS 10000
#define MAX_SCRIPT (1u << 20)
#define CHILD_STACK (64 * 1024)
#define TOOL_MSG 160

struct srv_net {
	pid_t pid;       /* slirp4netns, our child */
	int exit_fd;     /* write end of its --exit-fd pipe: it quits on EOF */
};

/* ---------------------------------------------------------- the script */

typedef struct sbuf {
	char *p;
	size_t len, cap;
	int bad;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...)
{
	if (b->bad)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->bad = 1;
			return;
		}
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t want = b->cap ? b->cap * 2 : 4096;
		while (want < b->len + (size_t)n + 1)
			want *= 2;
		char *np = want <= MAX_SCRIPT ? realloc(b->p, want) : NULL;
		if (!np) {
			b->bad = 1;
			return;
		}
		b->p = np;
		b->cap = want;
	}
}

/* Parses "addr/len" (or a bare address: /32, /128) into nft's text. */
static int cidr_text(const char *s, int *family, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, a) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, host, a) == 1)
		*family = AF_INET6;
	else
		return -1;
	int max = *family == AF_INET ? 32 : 128, plen = max;
	if (slash) {
		char *end;
		errno = 0;
		long v = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || v < 0 || v > max)
			return -1;
		plen = (int)v;
	}
	/* nft refuses host bits past the prefix: clear them. */
	for (int b = plen; b < max; b++)
		a[b / 8] &= (unsigned char)~(0x80 >> (b % 8));
	char txt[INET6_ADDRSTRLEN];
	if (!inet_ntop(*family, a, txt, sizeof txt))
		return -1;
	int n = snprintf(out, len, "%s/%d", txt, plen);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* "ip daddr { a, b } " for the entries of one family; 0 when there are none. */
static int put_set(sbuf *b, const char *const *v, int family, char *err)
{
	int n = 0;
	for (size_t i = 0; v && v[i]; i++) {
		char t[INET6_ADDRSTRLEN + 8];
		int f;
		if (cidr_text(v[i], &f, t, sizeof t) != 0) {
			srv_errf(err, 0, "bad address \"%.64s\" in an egress rule", v[i]);
			return -1;
		}
		if (f != family)
			continue;
		put(b, "%s%s", n++ ? ", " : (family == AF_INET ? "ip daddr { " : "ip6 daddr { "), t);
	}
	if (n)
		put(b, " } ");
	return n;
}

/* Chain pN: what the rule allows once the destination matched. */
static void put_ports_chain(sbuf *b, size_t i, const srv_net_rule *r)
{
	put(b, " chain p%zu {\n", i);
	if (r->nports == 0)
		put(b, "  accept\n");
	for (int proto = SRV_NET_TCP; proto <= SRV_NET_UDP; proto++) {
		int n = 0;
		for (size_t k = 0; k < r->nports; k++) {
			if (r->ports[k].proto != proto)
				continue;
			put(b, "%s", n++ ? ", " : proto == SRV_NET_TCP ? "  tcp dport { " : "  udp dport { ");
			if (r->ports[k].lo == r->ports[k].hi)
				put(b, "%u", r->ports[k].lo);
			else
				put(b, "%u-%u", r->ports[k].lo, r->ports[k].hi);
		}
		if (n)
			put(b, " } accept\n");
	}
	put(b, " }\n");
}

char *srv_net_ruleset(const srv_egress *eg, const char *const *host, char *err)
{
	/* Not public destinations: `any` and dnsName answers never reach them;
	 * a cidr rule may name them explicitly. */
	static const char *const special[] = {"0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
	                                      "::/128", "fe80::/10", "ff00::/8", NULL};
	/* Always refused: loopback, the stack's own network (its gateway is
	 * the host), v4-mapped loopback. */
	static const char *const always[] = {"127.0.0.0/8", SRV_NET_CIDR, "::1/128", "::ffff:127.0.0.0/104", NULL};
	sbuf b = {0};
	/* Refusals answer at once (a reset, or an ICMP error for UDP) rather
	 * than leaving a connect to time out. */
	put(&b, "table inet sbx {\n chain deny {\n  meta l4proto tcp reject with tcp reset\n"
	        "  reject with icmpx type admin-prohibited\n }\n");
	put(&b, " chain output {\n  type filter hook output priority 0; policy drop;\n");
	put(&b, "  oif \"lo\" accept\n");
	/* Names resolve through the stack's forwarder to the host's resolver. */
	put(&b, "  ip daddr %s udp dport 53 accept\n  ip daddr %s tcp dport 53 accept\n", SRV_NET_DNS, SRV_NET_DNS);
	for (int fam = AF_INET; fam <= AF_INET6; fam += AF_INET6 - AF_INET) {
		put(&b, "  ");
		if (put_set(&b, always, fam, err) < 0)
			goto fail;
		put(&b, "goto deny\n");
		size_t mark = b.len;
		put(&b, "  ");
		int n = put_set(&b, host, fam, err);
		if (n < 0)
			goto fail;
		if (n)
			put(&b, "goto deny\n");
		else
			b.len = mark;
	}
	for (size_t i = 0; eg && i < eg->nrules; i++)
		put(&b, "  jump r%zu\n", i);
	put(&b, "  goto deny\n }\n");
	for (size_t i = 0; eg && i < eg->nrules; i++) {
		const srv_net_rule *r = &eg->rules[i];
		put(&b, " chain r%zu {\n", i);
		const char *const *ex[2] = {r->except, r->dst && !r->public_only ? NULL : special};
		for (int k = 0; k < 2; k++)
			for (int fam = AF_INET; fam <= AF_INET6; fam += AF_INET6 - AF_INET) {
				size_t mark = b.len;
				put(&b, "  ");
				int n = put_set(&b, ex[k], fam, err);
				if (n < 0)
					goto fail;
				if (n)
					put(&b, "return\n");
				else
					b.len = mark;
			}
		if (!r->dst) {
			put(&b, "  jump p%zu\n", i);
		} else {
			for (int fam = AF_INET; fam <= AF_INET6; fam += AF_INET6 - AF_INET) {
				size_t mark = b.len;
				put(&b, "  ");
				int n = put_set(&b, r->dst, fam, err);
				if (n < 0)
					goto fail;
				if (n)
					put(&b, "jump p%zu\n", i);
				else
					b.len = mark;
			}
		}
		put(&b, " }\n");
		put_ports_chain(&b, i, r);
	}
	put(&b, "}\n");
	if (b.bad) {
		srv_errf(err, 0, "the egress rules make an nft script over %u bytes", MAX_SCRIPT);
		free(b.p);
		return NULL;
	}
	return b.p;
fail:
	free(b.p);
	return NULL;
}

void srv_net_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

char **srv_net_host_addrs(char *err)
{
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) != 0) {
		srv_errf(err, errno, "getifaddrs");
		return NULL;
	}
	size_t n = 0, cap = 8;
	char **v = calloc(cap + 1, sizeof *v);
	for (struct ifaddrs *p = ifa; v && p; p = p->ifa_next) {
		char txt[INET6_ADDRSTRLEN], one[INET6_ADDRSTRLEN + 8];
		if (!p->ifa_addr)
			continue;
		int fam = p->ifa_addr->sa_family;
		const void *a = fam == AF_INET    ? (const void *)&((struct sockaddr_in *)p->ifa_addr)->sin_addr
		                : fam == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr
		                                  : NULL;
		if (!a || !inet_ntop(fam, a, txt, sizeof txt))
			continue;
		snprintf(one, sizeof one, "%s/%d", txt, fam == AF_INET ? 32 : 128);
		if (n == cap) {
			char **nv = realloc(v, (cap * 2 + 1) * sizeof *v);
			if (!nv)
				break;
			v = nv;
			cap *= 2;
		}
		if (!(v[n] = strdup(one)))
			break;
		v[++n] = NULL;
	}
	freeifaddrs(ifa);
	if (!v)
		srv_errf(err, ENOMEM, "host addresses");
	return v;
}

/* -------------------------------------------------------------- helpers */

struct child {
	const char *path;
	char *const *argv;
	int netns;        /* >= 0: setns there first */
	int userns;       /* >= 0: setns there before netns (the child is then
	                     a fork, not vfork-like: a process that shares its
	                     memory may not enter a user namespace) */
	int own_mounts;   /* 1: a mount namespace of its own, every mount a
	                     slave: nothing it unmounts reaches the host */
	int fd[7];        /* become fds 0..6 (-1: /dev/null for 0-2, closed above) */
};

/* Runs in the vfork-like child: system calls only, then exec. */
static int child_main(void *p)
{
	const struct child *c = p;
	srv_signals_reset();
	if (c->userns >= 0 && setns(c->userns, CLONE_NEWUSER) != 0)
		_exit(126);
	if (c->netns >= 0 && setns(c->netns, CLONE_NEWNET) != 0)
		_exit(126);
	/* slirp4netns's sandbox makes only "/" private, not its submounts,
	 * then lazily unmounts the old root: from the host's mount namespace
	 * that unmount propagates to every shared mount of the host (seen:
	 * /run/netns/NAME gone; on a systemd host, all of them). */
	if (c->own_mounts && (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0))
		_exit(126);
	/* Move the wanted fds out of the way first, so dup2 to 0..4 cannot
	 * clobber one that is still to come. */
	int tmp[7];
	for (int i = 0; i < 7; i++) {
		tmp[i] = -1;
		int src = c->fd[i];
		if (src < 0 && i < 3)
			src = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (src >= 0 && (tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, 16)) < 0)
			_exit(126);
	}
	for (int i = 0; i < 7; i++)
		if (tmp[i] >= 0 && dup2(tmp[i], i) < 0)
			_exit(126);
	static char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	execve(c->path, c->argv, env);
	_exit(127);
}

static pid_t spawn(const struct child *c, char *err)
{
	char *stack = malloc(CHILD_STACK);
	if (!stack) {
		srv_errf(err, ENOMEM, "spawn %s", c->path);
		return -1;
	}
	/* No signal handler of sbxd may run in the child before it resets
	 * them; the parent waits (CLONE_VFORK) until the child execs. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = clone(child_main, stack + CHILD_STACK, c->userns >= 0 ? SIGCHLD : CLONE_VM | CLONE_VFORK | SIGCHLD,
	                  (void *)c);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(stack);
	if (pid < 0)
		srv_errf(err, e, "spawn %s", c->path);
	return pid;
}

/* The first line of what a tool wrote to its memfd, for a message. */
static void tool_msg(int memfd, char *out, size_t len)
{
	out[0] = '\0';
	ssize_t n = pread(memfd, out, len - 1, 0);
	if (n <= 0)
		return;
	out[n] = '\0';
	/* slirp4netns prints progress lines first; keep the last non-empty one. */
	char *last = out, *p;
	for (p = out; *p; p++)
		if (*p == '\n' && p[1])
			last = p + 1;
	memmove(out, last, strlen(last) + 1);
	out[strcspn(out, "\n")] = '\0';
}

/* An executable from the usual system directories (sbxd's own PATH may
 * be anything). */
static int find_tool(const char *name, char *out, size_t len)
{
	static const char *const dirs[] = {"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/sbin"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (srv_path_join(out, len, dirs[i], name) == 0 && access(out, X_OK) == 0)
			return 0;
	return -1;
}

static int wait_exit(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/* Loads the script into the namespace of netns with `nft -f`. With a
 * userns (rootless), the child enters the box's user namespace first:
 * only there may it change the box's netns. A child that cannot enter
 * both exits before nft runs, so the rules never land elsewhere. */
static int load_rules(int userns, int netns, const char *script, char *err)
{
	char nft[PATH_MAX], msg[TOOL_MSG];
	int rc = -1, in = -1, errfd = -1;
	if (find_tool("nft", nft, sizeof nft) != 0) {
		srv_errf(err, 0, "egress needs nft (the nftables package) to enforce the sandbox's rules");
		return -1;
	}
	in = memfd_create("sbx-nft-rules", MFD_CLOEXEC);
	errfd = memfd_create("sbx-nft-err", MFD_CLOEXEC);
	size_t len = strlen(script);
	if (in < 0 || errfd < 0 || write(in, script, len) != (ssize_t)len || lseek(in, 0, SEEK_SET) != 0) {
		srv_errf(err, errno, "egress rules");
		goto out;
	}
	char *argv[] = {"nft", "-f", "/dev/stdin", NULL};
	struct child c = {nft, argv, netns, userns, 0, {in, -1, errfd, -1, -1, -1, -1}};
	pid_t pid = spawn(&c, err);
	if (pid < 0)
		goto out;
	int st = wait_exit(pid);
	if (st != 0) {
		tool_msg(errfd, msg, sizeof msg);
		srv_errf(err, 0, "nft refused the egress rules (status %d): %s", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		         msg[0] ? msg : "no message");
		goto out;
	}
	rc = 0;
out:
	if (in >= 0)
		close(in);
	if (errfd >= 0)
		close(errfd);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int srv_net_start(pid_t init_pid, const srv_egress *eg, srv_net **out, char *err)
{
	return srv_net_start_ns(init_pid, -1, -1, eg, out, err);
}

int srv_net_start_ns(pid_t init_pid, int userns, int netns_in, const srv_egress *eg, srv_net **out, char *err)
{
	char slirp[PATH_MAX], nspath[64], pidtxt[16], msg[TOOL_MSG];
	int exitp[2] = {-1, -1}, readyp[2] = {-1, -1}, errfd = -1, netns = -1;
	char **host = NULL, *script = NULL;
	srv_net *n = calloc(1, sizeof *n);
	*out = NULL;
	if (!n) {
		srv_errf(err, ENOMEM, "egress");
		return -1;
	}
	n->pid = -1;
	n->exit_fd = -1;
	if (find_tool("slirp4netns", slirp, sizeof slirp) != 0) {
		srv_errf(err, 0, "egress needs slirp4netns (the slirp4netns package)");
		goto fail;
	}
	/* The host's addresses as they are now: an address added later is not
	 * refused (docs/security.md). */
	if (!(host = srv_net_host_addrs(err)) || !(script = srv_net_ruleset(eg, (const char *const *)host, err)))
		goto fail;
	snprintf(nspath, sizeof nspath, "/proc/%d/ns/net", (int)init_pid);
	snprintf(pidtxt, sizeof pidtxt, "%d", (int)init_pid);
	if (netns_in >= 0)
		netns = fcntl(netns_in, F_DUPFD_CLOEXEC, 0);
	else
		netns = open(nspath, O_RDONLY | O_CLOEXEC);
	if (netns < 0) {
		srv_errf(err, errno, "open %s", nspath);
		goto fail;
	}
	if (pipe2(exitp, O_CLOEXEC) != 0 || pipe2(readyp, O_CLOEXEC) != 0 ||
	    (errfd = memfd_create("sbx-slirp-err", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0) {
		srv_errf(err, errno, "egress pipes");
		goto fail;
	}
	/* No host loopback (its alias 10.0.2.2 is refused), no API socket
	 * (so no port forwarding in), its own read-only mount namespace
	 * without capabilities, and a seccomp filter. */
	char *argv[] = {"slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
	                "--enable-seccomp", "--exit-fd=3", "--ready-fd=4", pidtxt, "eth0", NULL};
	struct child c = {slirp, argv, -1, -1, 1, {-1, -1, errfd, exitp[0], readyp[1], -1, -1}};
	/* Rootless: slirp4netns joins the box's user namespace (fd 5) to
	 * reach its netns (fd 6; /proc/INIT is closed to us by then). It runs
	 * as the unprivileged user, so a libslirp bug is worth that user's
	 * rights only; but without --enable-sandbox, whose parent fails its
	 * setegid(0) after joining a user namespace (slirp4netns 1.2 here),
	 * and without a mount namespace of its own (a user may not make one
	 * in ours). Its seccomp filter stays. */
	char *rargv[] = {"slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
	                 "--enable-seccomp", "--exit-fd=3", "--ready-fd=4", "--userns-path=/proc/self/fd/5",
	                 "--netns-type=path", "/proc/self/fd/6", "eth0", NULL};
	if (userns >= 0)
		c = (struct child){slirp, rargv, -1, -1, 0, {-1, -1, errfd, exitp[0], readyp[1], userns, netns}};
	if ((n->pid = spawn(&c, err)) < 0)
		goto fail;
	close(exitp[0]);
	close(readyp[1]);
	exitp[0] = readyp[1] = -1;
	n->exit_fd = exitp[1];
	exitp[1] = -1;
	/* The policy goes in while the stack comes up: nothing in the sandbox
	 * runs before srv_box_create returns. */
	if (load_rules(userns, netns, script, err) != 0)
		goto fail;
	int64_t end = now_ms() + READY_TIMEOUT_MS;
	for (;;) {
		struct pollfd p = {readyp[0], POLLIN, 0};
		int64_t left = end - now_ms();
		int rc = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			srv_errf(err, 0, "slirp4netns did not bring the sandbox's network up in %d s", READY_TIMEOUT_MS / 1000);
			goto fail;
		}
		char one;
		ssize_t r = read(readyp[0], &one, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 1)
			break;
		tool_msg(errfd, msg, sizeof msg);
		srv_errf(err, 0, "slirp4netns failed: %s", msg[0] ? msg : "it exited");
		goto fail;
	}
	/* What it may still print must not grow without bound. */
	fcntl(errfd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK);
	close(readyp[0]);
	close(errfd);
	close(netns);
	srv_net_strv_free(host);
	free(script);
	*out = n;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (exitp[i] >= 0)
			close(exitp[i]);
		if (readyp[i] >= 0)
			close(readyp[i]);
	}
	if (errfd >= 0)
		close(errfd);
	if (netns >= 0)
		close(netns);
	srv_net_strv_free(host);
	free(script);
	srv_net_stop(n);
	return -1;
}

void srv_net_stop(srv_net *n)
{
	if (!n)
		return;
	if (n->pid > 0) {
		kill(n->pid, SIGKILL);
		wait_exit(n->pid);
	}
	if (n->exit_fd >= 0)
		close(n->exit_fd);
	free(n);
}
