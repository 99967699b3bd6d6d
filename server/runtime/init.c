/*
 * PID 1 of each sandbox (see init.h). Everything here runs in a copy of
 * sbxd made by a raw clone(), so other threads' locks may be frozen in the
 * copy: no malloc, no stdio, only system calls and fixed static buffers.
 * After setup init has unmapped every library but libc (trim_libraries):
 * a call into any other library, or one that makes libc resolve a lazily
 * bound slot (malloc, dl*), crashes init.
 * Commands are started with a plain fork (a raw clone without CLONE_VFORK):
 * init never waits for a child, so a process inside that stops new pids
 * before they exec cannot block init (and with it sbxd's spawn calls).
 * Init is a copy of the small zygote, so the page-table copy is cheap.
 */
#include "init.h"
#include "net.h" /* SRV_NET_DNS */
#include "proto.h"
#include "runtime.h" /* SRV_EXIT_OUTPUT_DONE */
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <link.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 4096
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const default_env[] = {"PATH=" DEFAULT_PATH, "HOME=/root", NULL};

/* Capabilities a sandbox keeps: Docker's default set minus CAP_MKNOD and
 * CAP_NET_RAW (raw sockets could forge traffic past the stack's view of
 * connections). No CAP_NET_ADMIN: the egress rules, addresses and routes
 * of the box's namespace are sbxd's. */
static const int keep_caps[] = {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID,
	CAP_SETUID, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
	CAP_AUDIT_WRITE, CAP_SETFCAP,
};

static struct {
	pid_t pid;
	int64_t token;
	uint32_t lost;     /* SRV_EXIT_LOST_* of its relays so far */
} procs[MAX_PROCS];
static int nprocs;
static srv_exit_event queue[MAX_PROCS];
static int qhead, qlen;
/* Live restore: the exits sent last, replayed to a new sbxd (the old one
 * may have died with some unread in its socket), and what it must know. */
static srv_exit_event hist[MAX_PROCS];
static int hhead, hlen, replay_left;
static int64_t max_token;
static int live_fd = -1;
static unsigned char live_secret[SRV_LIVE_SECRET];
static char msgbuf[sizeof(srv_msg_hdr) + SRV_PROTO_MAX_STRINGS + 1];
static const char *argv_store[SRV_PROTO_MAX_ARGS + 1];
static const char *env_store[SRV_PROTO_MAX_ENV + 1];
static int devnull = -1;
/* The idmapped lower layers sbxd made for this box (SRV_MSG_MAPPED). */
static int lower_fds[SRV_MAX_LOWERS];
static int nlower_fds;

/* Output relays: a command's stdout/stderr is the write end of a pipe, and
 * init copies the read end into the caller's spool file. The command then
 * holds no fd of the host's spool inode, so it cannot fchmod, fchown or
 * ftruncate it through /proc/self/fd (it runs as root with CAP_FOWNER).
 * Init holds the spool fds; nothing inside can reach them (init is not
 * dumpable and no process has CAP_SYS_PTRACE). splice() cannot write to
 * an O_APPEND file, hence read+write through one static buffer. */
#define MAX_RELAYS 4096
#define RELAY_BUDGET (256 * 1024) /* bytes per stream per loop turn: a write
                                     can sleep in dirty-page throttling, and
                                     requests wait meanwhile */
static struct relay {
	int in, out;       /* pipe read end (non-blocking), spool fd */
	pid_t pid;         /* the command it was made for */
	int discard;       /* the spool hit RLIMIT_FSIZE, the quota, the floor
	                      or a write error: drop what comes */
	uint32_t keep;     /* bytes to store, 0 = all; the rest grows a hole */
	uint32_t streams;  /* SRV_EXIT_LOST_STDOUT and/or _STDERR */
	uint64_t stored;
} relays[MAX_RELAYS];
static int nrelays;
static char relay_buf[64 * 1024];
static struct rlimit nofile_orig;
static off_t fsize_cap = -1; /* RLIMIT_FSIZE when set, for relay_put */
/* The sandbox's output budget: every relay's stored bytes together against
 * out_quota; the free space of the spools' file system against min_free,
 * looked up (one fstatfs) when out_stored passes next_statfs or a second
 * went by since the last look (a coarse clock read, no syscall), so at
 * most once a MiB of output or a second, never on every small write. */
#define STATFS_EVERY (1u << 20)
static uint64_t out_quota, min_free, out_stored, next_statfs;
/* The image's User: commands drop to it right before exec. */
static int64_t run_uid = -1, run_gid = -1;
static time_t next_statfs_s;

struct child_args {
	const srv_spawn_req *req;
	int in, out, err;
};

static const char *errstr(int e)
{
	const char *s = strerrordesc_np(e);
	return s ? s : "unknown error";
}

static int failmsg(char *msg, size_t len, int e, const char *what, const char *path)
{
	snprintf(msg, len, "%s%s%s: %s", what, path ? " " : "", path ? path : "", errstr(e));
	return e ? e : EIO;
}

static int join(char *out, const char *root, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", root, rel);
	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

static int mount_in(const char *root, const char *rel, const char *src, const char *type,
                    unsigned long flags, const char *data, mode_t dirmode, char *msg, size_t len)
{
	char p[PATH_MAX];
	if (join(p, root, rel) != 0)
		return failmsg(msg, len, ENAMETOOLONG, "mount", rel);
	if (dirmode && mkdir(p, dirmode) != 0 && errno != EEXIST)
		return failmsg(msg, len, errno, "mkdir", rel);
	if (mount(src, p, type, flags, data) != 0)
		return failmsg(msg, len, errno, "mount", rel);
	return 0;
}

/* Bind-mounts src (NULL: the path itself, with its submounts) read-only
 * over an existing root/rel; a missing rel is left alone. */
static int bind_ro(const char *root, const char *rel, const char *src, const char *what, char *msg, size_t len)
{
	char p[PATH_MAX];
	if (join(p, root, rel) != 0 || access(p, F_OK) != 0)
		return 0;
	if (mount(src ? src : p, p, NULL, src ? MS_BIND : MS_BIND | MS_REC, NULL) != 0 ||
	    mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		return failmsg(msg, len, errno, what, rel);
	return 0;
}


static int hide_path(const char *root, const char *host_path, char *msg, size_t len)
{
	char p[PATH_MAX];
	struct stat st;
	if (join(p, root, host_path) != 0 || lstat(p, &st) != 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=755") != 0)
			return failmsg(msg, len, errno, "hide", host_path);
		return 0;
	}
	if (S_ISLNK(st.st_mode))
		return 0;
	/* A file: /dev/null over it, read-only, and without nodev so reads
	 * see an empty file rather than EACCES (it is the only device here). */
	if (mount("/dev/null", p, NULL, MS_BIND, NULL) != 0 ||
	    mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) != 0)
		return failmsg(msg, len, errno, "mask", host_path);
	return 0;
}

/* 1: PATH lies under a directory the box gets a private one of
 * (bind_scratch below covers it whole), so a mask there would hide
 * nothing and only name the path in the box's mountinfo: the state dirs
 * and sockets of sbxds under /tmp (every test's). */
static int under_private(const char *root, const char *path, int image)
{
	const char *dir = strncmp(path, "/tmp/", 5) == 0 ? "/tmp" :
	                  !image && strncmp(path, "/var/tmp/", 9) == 0 ? "/var/tmp" : NULL;
	char p[PATH_MAX];
	struct stat st;
	/* Only a real directory there is what the bind covers whole (a link
	 * would send the bind elsewhere). */
	return dir && !strstr(path, "/..") && join(p, root, dir) == 0 && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Binds scratch/NAME (a 1777 dir in the box's one size-capped tmpfs) on
 * root/REL: /tmp and /dev/shm share the writable layer's budget instead of
 * being tmpfs mounts of half the host's RAM each. */
static int bind_scratch(const char *scratch, const char *name, const char *root, const char *rel, char *msg,
                        size_t len)
{
	char src[PATH_MAX], dst[PATH_MAX];
	if (join(src, scratch, name) != 0 || join(dst, root, rel) != 0)
		return failmsg(msg, len, ENAMETOOLONG, "bind", rel);
	if ((mkdir(src, 01777) != 0 && errno != EEXIST) || chmod(src, 01777) != 0)
		return failmsg(msg, len, errno, "mkdir", src);
	if (mkdir(dst, 01777) != 0 && errno != EEXIST)
		return failmsg(msg, len, errno, "mkdir", rel);
	if (mount(src, dst, NULL, MS_BIND, NULL) != 0 ||
	    mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL) != 0)
		return failmsg(msg, len, errno, "bind", rel);
	return 0;
}

static int setup_dev(const char *root, const char *scratch, char *msg, size_t len)
{
	static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
	static const char *const links[][2] = {
		{"/proc/self/fd", "dev/fd"}, {"/proc/self/fd/0", "dev/stdin"},
		{"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"},
		{"pts/ptmx", "dev/ptmx"},
	};
	char p[PATH_MAX], host[64];
	int rc = mount_in(root, "dev", "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1024k", 0755, msg, len);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		snprintf(host, sizeof host, "/dev/%s", nodes[i]);
		if (access(host, F_OK) != 0)
			continue;
		snprintf(p, sizeof p, "%s/dev/%s", root, nodes[i]);
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd < 0)
			return failmsg(msg, len, errno, "create", p);
		close(fd);
		if (mount(host, p, NULL, MS_BIND, NULL) != 0)
			return failmsg(msg, len, errno, "bind", host);
	}
	rc = mount_in(root, "dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
	              "newinstance,ptmxmode=0666,mode=0620", 0755, msg, len);
	if (rc)
		return rc;
	if ((rc = bind_scratch(scratch, "shm", root, "dev/shm", msg, len)))
		return rc;
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		if (join(p, root, links[i][1]) != 0 || symlink(links[i][0], p) != 0)
			return failmsg(msg, len, errno, "symlink", links[i][1]);
	}
	return 0;
}

static int loopback_up(char *msg, size_t len)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return failmsg(msg, len, errno, "socket", NULL);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	int rc = 0;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		rc = failmsg(msg, len, errno, "get flags of", "lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (rc == 0 && ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
		rc = failmsg(msg, len, errno, "bring up", "lo");
	close(s);
	return rc;
}

/* With egress, names resolve through the stack's forwarder (the host's
 * resolver, reached on port 53 only): the host's own resolv.conf may
 * point at its loopback, which the sandbox cannot reach. Written after
 * pivot_root, so a symlink in the image resolves inside the sandbox, and
 * into its own writable layer (the image is untouched). No /etc: nothing
 * to write. */
static int write_resolv_conf(char *msg, size_t len)
{
	static const char text[] = "# written by sbxd: the sandbox's user-mode network stack forwards DNS\n"
	                           "nameserver " SRV_NET_DNS "\n";
	struct stat st;
	if (stat("/etc", &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (unlink("/etc/resolv.conf") != 0 && errno != ENOENT)
		return failmsg(msg, len, errno, "unlink", "/etc/resolv.conf");
	int fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return failmsg(msg, len, errno, "create", "/etc/resolv.conf");
	ssize_t n = write(fd, text, sizeof text - 1);
	int e = errno;
	close(fd);
	if (n != (ssize_t)(sizeof text - 1))
		return failmsg(msg, len, n < 0 ? e : EIO, "write", "/etc/resolv.conf");
	return 0;
}

static int drop_caps(char *msg, size_t len)
{
	uint64_t keep = 0;
	for (size_t i = 0; i < sizeof keep_caps / sizeof keep_caps[0]; i++)
		keep |= UINT64_C(1) << keep_caps[i];
	for (int cap = 0; cap < 64; cap++) {
		if (keep & (UINT64_C(1) << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			return failmsg(msg, len, errno, "drop capability from the bounding set", NULL);
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	if (syscall(SYS_capget, &h, d) != 0)
		return failmsg(msg, len, errno, "capget", NULL);
	for (int i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));
		d[i].effective &= k;
		d[i].permitted &= k;
		d[i].inheritable &= k;
	}
	if (syscall(SYS_capset, &h, d) != 0)
		return failmsg(msg, len, errno, "capset", NULL);
	return 0;
}

#if defined(__x86_64__)
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef SECCOMP_ARCH
/* System calls no sandbox needs and an attacker would reach for: new
 * namespaces (a user namespace gives back every capability inside it),
 * mounts, keyrings, BPF, perf, modules, kexec, swap, reboot, io_uring.
 * Most already fail for lack of a capability; the filter shrinks the
 * kernel surface. */
static const int denied_calls[] = {
	SYS_mount, SYS_umount2, SYS_pivot_root, SYS_unshare, SYS_setns, SYS_keyctl, SYS_add_key,
	SYS_request_key, SYS_bpf, SYS_perf_event_open, SYS_kexec_load, SYS_init_module, SYS_finit_module,
	SYS_delete_module, SYS_open_by_handle_at, SYS_userfaultfd, SYS_swapon, SYS_swapoff, SYS_reboot,
	SYS_acct, SYS_syslog, SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick, SYS_move_mount,
	SYS_open_tree,
#ifdef SYS_kexec_file_load
	SYS_kexec_file_load,
#endif
#ifdef SYS_mount_setattr
	SYS_mount_setattr,
#endif
#ifdef SYS_iopl
	SYS_iopl, SYS_ioperm,
#endif
#ifdef SYS_io_uring_setup
	/* io_uring: a large kernel surface that seccomp cannot see into. */
	SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
#endif
};

#define NS_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | \
		  CLONE_NEWCGROUP | 0x00000080 /* CLONE_NEWTIME */)

static int install_seccomp(char *msg, size_t len)
{
	enum { NDENIED = sizeof denied_calls / sizeof denied_calls[0] };
	struct sock_filter f[2 * NDENIED + 16];
	size_t n = 0;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
	/* The x32 ABI numbers the same calls differently: refuse all of it. */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
#endif
	for (size_t i = 0; i < NDENIED; i++) {
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)denied_calls[i], 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	}
	/* clone3 passes its flags in memory a filter cannot read: make libc
	 * fall back to clone, whose flags the filter can check. */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {(unsigned short)n, f};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
		return failmsg(msg, len, errno, "seccomp", NULL);
	return 0;
}
#else
static int install_seccomp(char *msg, size_t len)
{
	(void)msg;
	(void)len;
	return 0;
}
#endif

void srv_init_retitle(void)
{
	static int done; /* inherited by init when the zygote did it */
	static const char title[] = "sbx-init";
	char buf[2048];
	if (done)
		return;
	done = 1;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* Fields 48-51: arg_start arg_end env_start env_end. The comm (field
	 * 2) may hold spaces: count from the last ')', field 3 comes next. */
	char *p = strrchr(buf, ')');
	unsigned long v[4];
	int field = 2, got = 0;
	while (p && *p && got < 4) {
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		field++;
		if (field >= 48) {
			char *end;
			errno = 0;
			v[got] = strtoul(p, &end, 10);
			if (errno || end == p)
				return;
			got++;
		}
	}
	if (got != 4 || v[0] == 0 || v[1] <= v[0] || v[3] < v[2])
		return;
	char *as = (char *)v[0], *ae = (char *)v[1], *es = (char *)v[2], *ee = (char *)v[3];
	/* env right after argv (the usual layout): the title may run into it. */
	size_t room = (size_t)((es == ae ? ee : ae) - as);
	memset(es, 0, (size_t)(ee - es));
	memset(as, 0, (size_t)(ae - as));
	size_t t = sizeof title <= room ? sizeof title : room;
	memcpy(as, title, t);
	/* A non-NUL last argv byte tells the kernel the title was rewritten
	 * (setproctitle style): cmdline then ends at the first NUL instead of
	 * showing the whole zeroed area. */
	if ((size_t)(ae - as) > sizeof title)
		ae[-1] = ' ';
}

/* Waits for sbxd's word that init is in every cgroup of the box, then
 * enters a new cgroup namespace rooted there: /proc/self/cgroup and
 * cgroup paths inside then show "/", not the host's hierarchy. It must
 * come after the v1 attach (done by sbxd while init mounts) and before
 * the capability drop (unshare needs CAP_SYS_ADMIN). */
static int enter_cgroup_ns(int ctl, char *msg, size_t len)
{
	srv_msg_hdr h;
	ssize_t n;
	while ((n = recv(ctl, &h, sizeof h, 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof h || h.type != SRV_MSG_ATTACHED)
		return failmsg(msg, len, n < 0 ? errno : EPROTO, "wait for the cgroup attach", NULL);
	if (unshare(CLONE_NEWCGROUP) != 0)
		return failmsg(msg, len, errno, "unshare", "cgroup namespace");
	return 0;
}

/* In a user namespace of its own, init is nobody until sbxd has written
 * its uid and gid maps: it waits for that word (with the idmapped lower
 * layers, when sbxd made them), then becomes root of the namespace, which
 * outside is the first uid of the box's range (or sbxd's own uid). */
static int wait_mapped(const srv_init_cfg *cfg, int ctl, char *msg, size_t len)
{
	srv_msg_hdr h;
	union {
		char buf[CMSG_SPACE(sizeof(int) * SRV_MAX_LOWERS)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {&h, sizeof h};
	struct msghdr mh;
	ssize_t n;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof cm.buf;
	while ((n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof h || h.type != SRV_MSG_MAPPED || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return failmsg(msg, len, n < 0 ? errno : EPROTO, "wait for the uid map", NULL);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt && nlower_fds < SRV_MAX_LOWERS; i++)
			memcpy(&lower_fds[nlower_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (nlower_fds != cfg->nlowers || h.argc != (uint32_t)cfg->nlowers)
		return failmsg(msg, len, EPROTO, "idmapped layers: wrong count", NULL);
	/* setgroups is denied in a rootless box's namespace (single-uid map):
	 * the groups init came with are unmapped there and grant nothing. */
	if (cfg->userns == SRV_USERNS_RANGE && setgroups(0, NULL) != 0)
		return failmsg(msg, len, errno, "setgroups", NULL);
	if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
		return failmsg(msg, len, errno, "become root of the user namespace", NULL);
	return 0;
}

/* Puts each lower layer on scratch/lN, where the overlay options name
 * it: the idmapped mounts sbxd made (under a range), else a bind mount of
 * each host path in cfg->lowers. Overlayfs shows its options to the box
 * (mountinfo), so they name only these, never a host path. A bind of a
 * tree with mounts of an outer user namespace under it (the host's / from
 * a rootless sbxd) must be recursive; the overlay uses its top mount
 * either way. */
static int mount_lowers(const srv_init_cfg *cfg, char *msg, size_t len)
{
	const char *scratch = cfg->scratch;
	int k = 0;
	for (const char *l = cfg->lowers; nlower_fds == 0 && l && *l; k++) {
		const char *colon = strchr(l, ':');
		size_t ll = colon ? (size_t)(colon - l) : strlen(l);
		char src[PATH_MAX], p[PATH_MAX];
		int n = snprintf(p, sizeof p, "%s/l%d", scratch, k);
		if (ll >= sizeof src || k >= SRV_MAX_LOWERS || n < 0 || n >= (int)sizeof p)
			return failmsg(msg, len, ENAMETOOLONG, "lower layer", NULL);
		memcpy(src, l, ll);
		src[ll] = '\0';
		if (mkdir(p, 0755) != 0)
			return failmsg(msg, len, errno, "mkdir", p);
		if (mount(src, p, NULL, MS_BIND, NULL) != 0 &&
		    (errno != EINVAL || mount(src, p, NULL, MS_BIND | MS_REC, NULL) != 0))
			return failmsg(msg, len, errno, "bind the lower layer on", p);
		l = colon ? colon + 1 : l + ll;
	}
	for (int i = 0; i < nlower_fds; i++) {
		char p[PATH_MAX];
		int n = snprintf(p, sizeof p, "%s/l%d", scratch, i);
		if (n < 0 || n >= (int)sizeof p)
			return failmsg(msg, len, ENAMETOOLONG, "lower layer", NULL);
		if (mkdir(p, 0755) != 0)
			return failmsg(msg, len, errno, "mkdir", p);
		if (syscall(SYS_move_mount, lower_fds[i], "", AT_FDCWD, p, 0x00000004 /* MOVE_MOUNT_F_EMPTY_PATH */) != 0)
			return failmsg(msg, len, errno, "attach the idmapped layer on", p);
		close(lower_fds[i]);
		lower_fds[i] = -1;
	}
	nlower_fds = 0;
	return 0;
}

/* Fork cost. Init is a copy of sbxd: about 400 mappings (every library
 * of libcurl, libgrpc, ICU ...), and a plain fork copies each of them and
 * the page tables of their written pages, only for execve to throw the
 * copy away again; per command that was about as much CPU as fork+exec of
 * /bin/true itself. Init (and a command's child up to its execve) runs
 * only this binary's code and libc (init.c, proto.c, util.c import nothing
 * else: `nm -u`), through the dynamic loader, on the stack, static buffers
 * and the thread's TLS (anonymous memory). So once here every other file
 * mapping is unmapped: init then holds about 40 mappings, and no copy of
 * the other libraries' data (OpenSSL's, libcurl's state written by sbxd)
 * either. (MADV_DONTFORK instead keeps them in init and out of the forks,
 * but the kernel then erases each from every child's maple tree: half the
 * gain.) This makes the file header's rule load-bearing: after setup,
 * nothing in init may call into another library, nor make libc call its
 * lazily bound malloc or dl* slots (no malloc, no stdio). Safe only when
 * this binary was bound at load (-z now, server/runtime/meson.build): a
 * lazy PLT slot resolved later would walk the unmapped libraries' symbol
 * tables. Sanitizer builds keep everything (their runtimes intercept
 * init's calls). Best effort: on any doubt nothing is unmapped. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#endif
#ifndef SANITIZED
#define MAPS_LINE 4096
static char maps_buf[16 * 1024];

static int bound_now(void)
{
	for (const ElfW(Dyn) *d = _DYNAMIC; d->d_tag != DT_NULL; d++)
		if ((d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_BIND_NOW)) ||
		    (d->d_tag == DT_FLAGS_1 && (d->d_un.d_val & DF_1_NOW)))
			return 1;
	return 0;
}

/* Hex digits at *p up to a non-digit; 0 when there were none or too many. */
static int hex_field(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;
	for (;; (*p)++, n++) {
		char c = **p;
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			break;
		if (n >= 16)
			return 0;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return n > 0;
}

struct map_line {
	uint64_t start, end, dev_major, dev_minor, ino;
	const char *path; /* "" for none; valid during the callback */
};

/* "start-end perms offset major:minor inode [path]" -> 1, else 0. */
static int map_parse(const char *s, struct map_line *m)
{
	uint64_t off;
	if (!hex_field(&s, &m->start) || *s++ != '-' || !hex_field(&s, &m->end) || *s++ != ' ')
		return 0;
	while (*s && *s != ' ')
		s++; /* perms */
	if (*s++ != ' ' || !hex_field(&s, &off) || *s++ != ' ' || !hex_field(&s, &m->dev_major) || *s++ != ':' ||
	    !hex_field(&s, &m->dev_minor) || *s++ != ' ')
		return 0;
	uint64_t ino = 0;
	int n = 0;
	for (; *s >= '0' && *s <= '9' && n < 20; s++, n++)
		ino = ino * 10 + (uint64_t)(*s - '0');
	m->ino = ino;
	while (*s == ' ')
		s++;
	m->path = s;
	return n > 0;
}

/* Calls fn on each mapping of /proc/self/maps; -1 when it cannot be read. */
static int maps_walk(void (*fn)(const struct map_line *, void *), void *ctx)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t have = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, maps_buf + have, sizeof maps_buf - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -1;
			break;
		}
		have += (size_t)n;
		maps_buf[have] = '\0';
		char *line = maps_buf, *nl;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			struct map_line m;
			if (map_parse(line, &m))
				fn(&m, ctx);
			line = nl + 1;
		}
		size_t rest = have - (size_t)(line - maps_buf);
		if (n == 0 || rest >= MAPS_LINE) { /* the end, or a line too long */
			rc = n == 0 && rest == 0 ? 0 : -1;
			break;
		}
		memmove(maps_buf, line, rest);
		have = rest;
	}
	close(fd);
	return rc;
}

#define KEEP_FILES 3
#define MAX_DROP 1024
#define NCALLS 12
struct trim_ctx {
	uint64_t anchor[KEEP_FILES];               /* addresses in the files kept */
	struct map_line keep[KEEP_FILES];          /* their dev and inode, once found */
	int found[KEEP_FILES];
	int failed, foreign, run;
	uint64_t calls[NCALLS];                    /* what some of init's calls resolved to */
	uint64_t call_ino[NCALLS], call_dev[NCALLS];
	uint64_t drop[MAX_DROP][2];                /* start, end of the mappings to drop */
	int ndrop;
};

static void trim_find(const struct map_line *m, void *ctx)
{
	struct trim_ctx *t = ctx;
	/* Valgrind runs init's calls of strlen, memcpy ... in its preloaded
	 * library (a redirect the addresses below do not show). */
	if (strstr(m->path, "/vgpreload_"))
		t->foreign = 1;
	for (int i = 0; i < NCALLS; i++)
		if (t->calls[i] >= m->start && t->calls[i] < m->end) {
			t->call_ino[i] = m->ino;
			t->call_dev[i] = m->dev_major << 32 | m->dev_minor;
		}
	for (int i = 0; i < KEEP_FILES; i++)
		if (t->anchor[i] >= m->start && t->anchor[i] < m->end && m->ino != 0) {
			t->keep[i] = *m;
			t->found[i] = 1;
		}
}

/* Runs of neighbours to drop (nothing kept between them, holes at most)
 * become one range: one munmap for a whole stretch of libraries costs
 * far less than one per mapping (a lock, a TLB flush, a syscall each). */
static void trim_collect(const struct map_line *m, void *ctx)
{
	struct trim_ctx *t = ctx;
	int keep = m->ino == 0; /* anonymous: stack, TLS, heap, the vdso */
	for (int i = 0; !keep && i < KEEP_FILES; i++)
		keep = m->dev_major == t->keep[i].dev_major && m->dev_minor == t->keep[i].dev_minor &&
		       m->ino == t->keep[i].ino;
	if (keep) {
		t->run = 0;
		return;
	}
	if (t->run && t->ndrop > 0 && m->start >= t->drop[t->ndrop - 1][1]) {
		t->drop[t->ndrop - 1][1] = m->end;
	} else if (t->ndrop < MAX_DROP) {
		t->drop[t->ndrop][0] = m->start;
		t->drop[t->ndrop][1] = m->end;
		t->ndrop++;
	} else {
		t->failed++;
	}
	t->run = 1;
}

static void trim_libraries(void)
{
	if (!bound_now())
		return;
	static struct trim_ctx t; /* 16 KiB: not on init's stack */
	memset(&t, 0, sizeof t);
	t.anchor[0] = (uint64_t)(uintptr_t)&srv_init_main; /* this binary */
	t.anchor[1] = (uint64_t)(uintptr_t)&execve;        /* libc */
	t.anchor[2] = (uint64_t)getauxval(AT_BASE);        /* the dynamic loader */
	/* A sample of the calls init makes after setup, as bound at load: each
	 * must land in libc or this binary, not in an LD_PRELOAD interposer
	 * (or any other library) that the trim would unmap. */
	const void *calls[NCALLS] = {(const void *)&poll,    (const void *)&recvmsg, (const void *)&sendmsg,
	                             (const void *)&waitpid, (const void *)&read,    (const void *)&write,
	                             (const void *)&close,   (const void *)&dup2,    (const void *)&strlen,
	                             (const void *)&memcpy,  (const void *)&snprintf, (const void *)&pipe2};
	for (int i = 0; i < NCALLS; i++)
		t.calls[i] = (uint64_t)(uintptr_t)calls[i];
	if (maps_walk(trim_find, &t) != 0 || t.foreign)
		return;
	for (int i = 0; i < KEEP_FILES; i++)
		if (!t.found[i])
			return;
	for (int i = 0; i < NCALLS; i++) {
		int ok = 0;
		for (int k = 0; k < 2; k++) /* libc (1) or this binary (0) */
			ok |= t.call_ino[i] == t.keep[k].ino && t.call_dev[i] == (t.keep[k].dev_major << 32 | t.keep[k].dev_minor);
		if (!ok)
			return;
	}
	/* Collected first: the maps are not changed while being read. */
	if (maps_walk(trim_collect, &t) != 0 || t.failed)
		return;
	for (int i = 0; i < t.ndrop; i++)
		munmap((void *)(uintptr_t)t.drop[i][0], (size_t)(t.drop[i][1] - t.drop[i][0]));
}
#else
static void trim_libraries(void)
{
}
#endif

static int setup(const srv_init_cfg *cfg, int ctl, char *msg, size_t len)
{
	const char *root = cfg->root;
	int rc;
	if (cfg->userns && (rc = wait_mapped(cfg, ctl, msg, len)))
		return rc;
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return failmsg(msg, len, errno, "make / private", NULL);
	/* The writable layer lives in a tmpfs of this mount namespace: it is
	 * charged to the sandbox's memory cgroup, never touches the host's
	 * disk, and vanishes with the sandbox's last process. */
	char opts[64];
	snprintf(opts, sizeof opts, "mode=700,size=%lld", (long long)cfg->tmpfs_bytes);
	if (mount("tmpfs", cfg->scratch, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
		return failmsg(msg, len, errno, "mount scratch tmpfs on", cfg->scratch);
	if (mkdir(cfg->upper, 0755) != 0 || mkdir(cfg->work, 0700) != 0 || mkdir(root, 0755) != 0)
		return failmsg(msg, len, errno, "mkdir in", cfg->scratch);
	if ((rc = mount_lowers(cfg, msg, len)))
		return rc;
	/* The options' names resolve from here (pivot_root below chdirs). */
	if (chdir(cfg->scratch) != 0)
		return failmsg(msg, len, errno, "chdir", cfg->scratch);
	if (mount("overlay", root, "overlay", MS_NOSUID | MS_NODEV, cfg->overlay_opts) != 0)
		return failmsg(msg, len, errno, "mount overlay on", root);
	for (const char *const *h = cfg->hide; h && *h; h++)
		if (!under_private(root, *h, cfg->image) && (rc = hide_path(root, *h, msg, len)) != 0)
			return rc;
	if ((rc = mount_in(root, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555, msg, len)))
		return rc;
	static const char *const ro[] = {"proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus", "proc/fs",
	                                 "proc/acpi", "proc/scsi"};
	for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++)
		if ((rc = bind_ro(root, ro[i], NULL, "read-only bind", msg, len)))
			return rc;
	/* Host-wide kernel state (Docker's masked paths): files get /dev/null,
	 * directories an empty read-only tmpfs. /proc/pressure's PSI trigger
	 * files are writable and cost the host kernel work per trigger. */
	static const char *const masked[] = {"proc/kcore", "proc/keys", "proc/timer_list", "proc/sched_debug",
	                                     "proc/kallsyms", "proc/kmsg", "proc/kpageflags", "proc/kpagecount",
	                                     "proc/kpagecgroup", "proc/slabinfo", "proc/vmallocinfo",
	                                     "proc/pressure"};
	for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++)
		if ((rc = hide_path(root, masked[i], msg, len)))
			return rc;
	if (mount_in(root, "sys", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555, msg,
	             len) != 0) {
		if ((rc = mount_in(root, "sys", "tmpfs", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		                   "size=4k", 0555, msg, len)))
			return rc;
	} else if ((rc = hide_path(root, "sys/firmware", msg, len))) {
		return rc;
	}
	if ((rc = setup_dev(root, cfg->scratch, msg, len)))
		return rc;
	if ((rc = bind_scratch(cfg->scratch, "tmp", root, "tmp", msg, len)))
		return rc;
	/* The host's /var/tmp holds other programs' files: on the host's
	 * own root, a private one (an image has its own). */
	if (!cfg->image && (rc = bind_scratch(cfg->scratch, "vartmp", root, "var/tmp", msg, len)))
		return rc;
	/* pivot_root(".", ".") stacks the old root under the new one; detaching
	 * it leaves no path back to the host's tree. */
	if (chdir(root) != 0 || syscall(SYS_pivot_root, ".", ".") != 0)
		return failmsg(msg, len, errno, "pivot_root to", root);
	if (umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
		return failmsg(msg, len, errno, "detach old root", NULL);
	if (sethostname(cfg->hostname, strlen(cfg->hostname)) != 0)
		return failmsg(msg, len, errno, "sethostname", cfg->hostname);
	/* The new UTS namespace is a copy of sbxd's: without this the box
	 * read the host's NIS domain name (/proc/sys/kernel/domainname,
	 * uname's). "(none)" is what a kernel starts with. */
	if (setdomainname("(none)", 6) != 0)
		return failmsg(msg, len, errno, "setdomainname", NULL);
	if ((rc = loopback_up(msg, len)))
		return rc;
	if (cfg->network && (rc = write_resolv_conf(msg, len)))
		return rc;
	devnull = open("/dev/null", O_RDWR);
	if (devnull < 0)
		return failmsg(msg, len, errno, "open", "/dev/null");
	for (int fd = 0; fd < 3; fd++)
		if (devnull != fd && dup2(devnull, fd) < 0)
			return failmsg(msg, len, errno, "dup2", NULL);
	if ((rc = enter_cgroup_ns(ctl, msg, len)))
		return rc;
	/* Non-dumpable: /proc/1/mem and ptrace of init (a copy of sbxd's memory)
	 * need CAP_SYS_PTRACE, which no process in the sandbox has. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return failmsg(msg, len, errno, "prctl", NULL);
	prctl(PR_SET_NAME, "sbx-init", 0, 0, 0);
	/* No core files: they would fill the private layer (lowering is allowed). */
	struct rlimit core = {0, 0};
	setrlimit(RLIMIT_CORE, &core);
	/* Init writes the spools (relays): past RLIMIT_FSIZE it must get EFBIG,
	 * not die; and it holds two fds per output stream. */
	signal(SIGXFSZ, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &nofile_orig) == 0 && nofile_orig.rlim_cur < nofile_orig.rlim_max) {
		struct rlimit more = nofile_orig;
		more.rlim_cur = more.rlim_max;
		setrlimit(RLIMIT_NOFILE, &more);
	}
	/* The file size cap bounds the spool files sbxd hands out (and every
	 * other file): inherited by every process, hard limit too, so nothing
	 * inside can raise it again. */
	if (cfg->fsize > 0) {
		struct rlimit fs;
		if (getrlimit(RLIMIT_FSIZE, &fs) != 0)
			return failmsg(msg, len, errno, "getrlimit", NULL);
		rlim_t want = (rlim_t)cfg->fsize;
		if (fs.rlim_max == RLIM_INFINITY || want < fs.rlim_max)
			fs.rlim_max = want;
		fs.rlim_cur = fs.rlim_max;
		if (setrlimit(RLIMIT_FSIZE, &fs) != 0)
			return failmsg(msg, len, errno, "setrlimit", "RLIMIT_FSIZE");
		fsize_cap = (off_t)fs.rlim_cur;
	}
	out_quota = cfg->out_quota > 0 ? (uint64_t)cfg->out_quota : 0;
	min_free = cfg->min_free > 0 ? (uint64_t)cfg->min_free : 0;
	run_uid = cfg->uid;
	run_gid = cfg->gid;
	trim_libraries();
	if ((rc = drop_caps(msg, len)))
		return rc;
	return install_seccomp(msg, len);
}

static const char *env_get(const char *const *env, const char *key)
{
	size_t kl = strlen(key);
	for (; env && *env; env++)
		if (strncmp(*env, key, kl) == 0 && (*env)[kl] == '=')
			return *env + kl + 1;
	return NULL;
}

/* execvpe() with the PATH of the command's own environment (glibc's looks
 * at the caller's environ). Returns only on failure, with errno set. */
static void exec_search(const char *file, char *const argv[], char *const envp[])
{
	if (file[0] == '\0') {
		errno = ENOENT;
		return;
	}
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		return;
	}
	const char *path = env_get((const char *const *)envp, "PATH");
	if (!path)
		path = DEFAULT_PATH;
	char buf[PATH_MAX];
	size_t fl = strlen(file);
	int seen_eacces = 0;
	for (const char *p = path;;) {
		const char *colon = strchr(p, ':');
		size_t dl = colon ? (size_t)(colon - p) : strlen(p);
		if (dl + 1 + fl + 1 <= sizeof buf) {
			if (dl == 0) {
				memcpy(buf, file, fl + 1);
			} else {
				memcpy(buf, p, dl);
				buf[dl] = '/';
				memcpy(buf + dl + 1, file, fl + 1);
			}
			execve(buf, argv, envp);
			switch (errno) {
			case EACCES:
				seen_eacces = 1;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
				break;
			default:
				return;
			}
		}
		if (!colon)
			break;
		p = colon + 1;
	}
	errno = seen_eacces ? EACCES : ENOENT;
}

__attribute__((noreturn)) static void child_fail(const char *what, int e)
{
	char m[512];
	int n = snprintf(m, sizeof m, "sbx: %s: %s\n", what, errstr(e));
	if (n > 0)
		(void)!write(2, m, (size_t)n < sizeof m ? (size_t)n : sizeof m - 1);
	_exit(e == ENOENT ? 127 : 126);
}

/* Runs in the forked child, up to exec. */
__attribute__((noreturn)) static void child_main(const struct child_args *a)
{
	sigset_t none;
	sigemptyset(&none);
	setsid();
	if (dup2(a->in, 0) < 0 || dup2(a->out, 1) < 0 || dup2(a->err, 2) < 0)
		_exit(126);
	close_range(3, ~0U, 0);
	/* Init ignores SIGXFSZ and raised its fd limit for the relays: a
	 * command starts with neither. */
	signal(SIGXFSZ, SIG_DFL);
	if (nofile_orig.rlim_max)
		setrlimit(RLIMIT_NOFILE, &nofile_orig);
	/* Init is a copy of sbxd, so its RSS counts sbxd's pages and the OOM
	 * killer could pick it over the real hog. Commands get the highest
	 * score instead (init cannot lower its own without CAP_SYS_RESOURCE);
	 * in a host-wide OOM, sandboxes go before host daemons too. */
	int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (adj >= 0) {
		(void)!write(adj, "1000", 4);
		close(adj);
	}
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A non-root uid loses every capability with the setuid (no
	 * SECBIT_KEEP_CAPS), as a container's USER does. */
	if (run_uid >= 0 && (setgroups(0, NULL) != 0 || setresgid((gid_t)(run_gid >= 0 ? run_gid : run_uid),
	                                                          (gid_t)(run_gid >= 0 ? run_gid : run_uid),
	                                                          (gid_t)(run_gid >= 0 ? run_gid : run_uid)) != 0 ||
	                     setresuid((uid_t)run_uid, (uid_t)run_uid, (uid_t)run_uid) != 0))
		child_fail("setuid to the image's user", errno);
	const char *cwd = a->req->cwd[0] ? a->req->cwd : "/";
	if (chdir(cwd) != 0)
		child_fail(cwd, errno);
	const char *const *env = a->req->env ? a->req->env : default_env;
	exec_search(a->req->argv[0], (char *const *)a->req->argv, (char *const *)env);
	child_fail(a->req->argv[0], errno);
}

static uint32_t cur_seq; /* seq of the request being answered */

static void reply(int ctl, int err, int pid, const char *msg)
{
	srv_msg_reply r;
	memset(&r, 0, sizeof r);
	r.type = SRV_MSG_REPLY;
	r.seq = cur_seq;
	r.err = err;
	r.pid = pid;
	if (msg)
		snprintf(r.msg, sizeof r.msg, "%s", msg);
	while (send(ctl, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* The ready reply carries the box's root and mount namespace (O_PATH
 * "/" after pivot_root, /proc/self/ns/mnt): sbxd reaches the box's files
 * through them, also where it may not open /proc/INIT/root (a rootless
 * sbxd lacks CAP_SYS_PTRACE over a non-dumpable init). */
static void ready_reply(int ctl)
{
	srv_msg_reply r;
	memset(&r, 0, sizeof r);
	r.type = SRV_MSG_REPLY;
	r.pid = 1;
	int fds[2] = {open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} cm;
	memset(&cm, 0, sizeof cm);
	struct iovec iov = {&r, sizeof r};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fds[0] >= 0 && fds[1] >= 0) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof cm.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof fds);
		memcpy(CMSG_DATA(c), fds, sizeof fds);
	}
	while (sendmsg(ctl, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void relay_close(int i)
{
	/* A relay with keep (an :exec's) fills files sbxd truncates or drops
	 * once it answered: what it stored stops counting against the quota
	 * with it, so a sandbox's quota is what its spools hold, not what it
	 * ever printed. */
	if (relays[i].keep)
		out_stored -= relays[i].stored < out_stored ? relays[i].stored : out_stored;
	close(relays[i].in);
	close(relays[i].out);
	relays[i] = relays[--nrelays];
}

static int is_ours(pid_t pid)
{
	for (int i = 0; i < nprocs; i++)
		if (procs[i].pid == pid)
			return 1;
	return 0;
}

/* Stores up to len bytes, or past the relay's keep only counts them: the
 * file grows by a hole of that size (ftruncate is held to RLIMIT_FSIZE
 * like a write, and like a write it counts up to the cap exactly before
 * failing). Returns the bytes taken, or -1 with errno as write. */
/* 0 when len more bytes may be stored, else -1 with errno EDQUOT (the
 * quota) or ENOSPC and *floor set (under the free-space floor). */
static int budget_ok(int fd, size_t *len, int *floor)
{
	*floor = 0;
	if (out_quota && out_stored + *len > out_quota) {
		*len = (size_t)(out_quota - (out_stored < out_quota ? out_stored : out_quota));
		if (*len == 0) {
			errno = EDQUOT;
			return -1;
		}
	}
	struct timespec now = {0, 0};
	if (min_free && out_stored < next_statfs)
		clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (min_free && (out_stored >= next_statfs || now.tv_sec >= next_statfs_s)) {
		struct statfs st;
		if (!now.tv_sec)
			clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
		next_statfs_s = now.tv_sec + 1;
		if (fstatfs(fd, &st) == 0 && (uint64_t)st.f_bavail * (uint64_t)st.f_bsize < min_free) {
			/* Look again at the next write: space may come back. */
			next_statfs = out_stored;
			*floor = 1;
			errno = ENOSPC;
			return -1;
		}
		next_statfs = out_stored + STATFS_EVERY;
	}
	return 0;
}

static ssize_t relay_put(struct relay *r, const char *buf, size_t len, int *floor)
{
	*floor = 0;
	if (r->keep && r->stored >= r->keep) {
		off_t end = lseek(r->out, 0, SEEK_END);
		if (end < 0)
			return -1;
		if (ftruncate(r->out, end + (off_t)len) != 0) {
			int e = errno;
			if (e == EFBIG && fsize_cap > end)
				(void)!ftruncate(r->out, fsize_cap);
			errno = e;
			return -1;
		}
		return (ssize_t)len;
	}
	if (r->keep && len > r->keep - r->stored)
		len = (size_t)(r->keep - r->stored);
	if (budget_ok(r->out, &len, floor) != 0)
		return -1;
	ssize_t w = write(r->out, buf, len);
	if (w > 0) {
		r->stored += (uint64_t)w;
		out_stored += (uint64_t)w;
	}
	return w;
}

/* A relay that can store no more: it drops what comes (the command goes on
 * writing into the pipe, unaware) and its command's exit event says why. */
static void relay_lose(struct relay *r, uint32_t why)
{
	r->discard = 1;
	for (int i = 0; i < nprocs; i++) {
		if (procs[i].pid != r->pid)
			continue;
		/* The first loss is news at once (sbxd shows it while the
		 * command runs), when the queue has room beyond the slot every
		 * live process keeps for its exit. */
		if (!procs[i].lost && nprocs + qlen < MAX_PROCS) {
			srv_exit_event *e = &queue[(qhead + qlen) % MAX_PROCS];
			memset(e, 0, sizeof *e);
			e->token = procs[i].token;
			e->flags = SRV_EVT_NOTE | why | r->streams;
			qlen++;
		}
		procs[i].lost |= why | r->streams;
	}
}

/* Copies what the pipe holds (up to budget bytes) into the spool. Past
 * RLIMIT_FSIZE (EFBIG) the command gets SIGXFSZ, as if it had written the
 * file itself, and the rest is dropped; past the sandbox's quota, under
 * the free-space floor or on a write error (ENOSPC...) the rest is dropped
 * and the loss reported with the exit (relay_lose). Returns 1 when the
 * relay is finished (EOF: every writer is gone) and was closed, else 0. */
static int relay_pump(int i, size_t budget)
{
	size_t moved = 0;
	while (moved < budget) {
		ssize_t n = read(relays[i].in, relay_buf, sizeof relay_buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			break;
		for (ssize_t off = 0; off < n && !relays[i].discard;) {
			int floor;
			ssize_t w = relay_put(&relays[i], relay_buf + off, (size_t)(n - off), &floor);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno == EFBIG) {
				relays[i].discard = 1;
				if (is_ours(relays[i].pid))
					kill(relays[i].pid, SIGXFSZ);
				break;
			}
			if (w <= 0) {
				int e = w < 0 ? errno : EIO;
				relay_lose(&relays[i], floor ? SRV_EXIT_LOST_FLOOR
				                       : e == EDQUOT && out_quota && out_stored >= out_quota
				                               ? SRV_EXIT_LOST_QUOTA
				                       : e == ENOSPC || e == EDQUOT ? SRV_EXIT_LOST_NOSPC
				                                                    : SRV_EXIT_LOST_IO);
				break;
			}
			off += w;
		}
		moved += (size_t)n;
	}
	if (moved >= budget)
		return 0;
	relay_close(i);
	return 1;
}

/* Before a command's exit is reported, everything it wrote is in its
 * spool: the pipe holds at most its capacity, so one bounded drain gets
 * it all even if a background child keeps writing. */
static void relay_drain(pid_t pid)
{
	for (int i = 0; i < nrelays;) {
		if (relays[i].pid == pid && relay_pump(i, 4 * sizeof relay_buf + (1 << 20)))
			continue;
		i++;
	}
}

/* The kind of each descriptor a spawn was handed, one fstat each: asked
 * twice per stream (regular? the same file as stdout?), it cost four
 * fstat calls per command instead of two. */
struct fd_kind {
	int ok;
	struct stat st;
};

static void fd_kind_of(int fd, struct fd_kind *k)
{
	k->ok = fstat(fd, &k->st) == 0;
}

static int is_regular(const struct fd_kind *k)
{
	return k->ok && S_ISREG(k->st.st_mode);
}

static int same_file(const struct fd_kind *x, const struct fd_kind *y)
{
	return x->ok && y->ok && x->st.st_dev == y->st.st_dev && x->st.st_ino == y->st.st_ino;
}

/* A pipe for a spool fd; the relay takes ownership of spool. Returns the
 * write end for the command, or -1. */
static int relay_open(int spool, uint32_t keep, uint32_t streams)
{
	int p[2];
	if (nrelays >= MAX_RELAYS) {
		errno = EAGAIN;
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	relays[nrelays].in = p[0];
	relays[nrelays].out = spool;
	relays[nrelays].pid = 0;
	relays[nrelays].discard = 0;
	relays[nrelays].keep = keep;
	relays[nrelays].stored = 0;
	relays[nrelays].streams = streams;
	nrelays++;
	return p[1];
}

static void do_spawn(int ctl, size_t n, int *fds, int nfds)
{
	srv_spawn_req req;
	if (srv_proto_decode_spawn(msgbuf, n, &req, argv_store, env_store) != 0) {
		reply(ctl, EINVAL, 0, "malformed spawn request");
		return;
	}
	int want = !!(req.flags & SRV_SPAWN_STDOUT) + !!(req.flags & SRV_SPAWN_STDERR) + !!(req.flags & SRV_SPAWN_STDIN);
	if (want != nfds) {
		reply(ctl, EINVAL, 0, "descriptor count does not match the request");
		return;
	}
	if (nprocs + qlen >= MAX_PROCS) {
		reply(ctl, EAGAIN, 0, "too many processes in the sandbox");
		return;
	}
	struct child_args a = {&req, devnull, devnull, devnull};
	int k = 0, ko = -1, ke = -1, wout = -1, werr = -1, first = nrelays;
	if (req.flags & SRV_SPAWN_STDOUT)
		ko = k++;
	if (req.flags & SRV_SPAWN_STDERR)
		ke = k++;
	if (req.flags & SRV_SPAWN_STDIN)
		a.in = fds[k++];
	/* stdout and stderr into one file share one pipe, so their order in
	 * the file stays the order of the writes. */
	/* Only regular files (spools) are relayed: init must never block on
	 * a write, and a pipe or terminal handed in is the caller's business. */
	struct fd_kind kout = {0}, kerr = {0};
	if (ko >= 0)
		fd_kind_of(fds[ko], &kout);
	if (ke >= 0)
		fd_kind_of(fds[ke], &kerr);
	if (ko >= 0 && !is_regular(&kout)) {
		a.out = fds[ko];
	} else if (ko >= 0) {
		if ((wout = relay_open(fds[ko], req.keep, SRV_EXIT_LOST_STDOUT)) < 0)
			goto fail;
		fds[ko] = -1;
		a.out = wout;
	}
	/* relays[first].out is the stdout spool just relayed, kout its kind */
	if (ke >= 0 && wout >= 0 && same_file(&kout, &kerr)) {
		a.err = wout;
		relays[first].streams |= SRV_EXIT_LOST_STDERR;
	} else if (ke >= 0 && !is_regular(&kerr)) {
		a.err = fds[ke];
	} else if (ke >= 0) {
		if ((werr = relay_open(fds[ke], req.keep, SRV_EXIT_LOST_STDERR)) < 0)
			goto fail;
		fds[ke] = -1;
		a.err = werr;
	}
	/* No CLONE_VFORK: a vfork parent waits until the child execs, and any
	 * process inside can SIGSTOP a new pid before that (it is the next pid
	 * after ns_last_pid), which would hang init and every spawn after it.
	 * Exec failures are reported by the child itself (stderr, 127/126). */
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0)
		child_main(&a);
	if (pid < 0)
		goto fail;
	if (wout >= 0)
		close(wout);
	if (werr >= 0)
		close(werr);
	for (int i = first; i < nrelays; i++)
		relays[i].pid = pid;
	procs[nprocs].pid = pid;
	procs[nprocs].token = req.token;
	if (req.token > max_token)
		max_token = req.token;
	procs[nprocs].lost = 0;
	nprocs++;
	reply(ctl, 0, pid, NULL);
	return;
fail:;
	int e = errno;
	if (wout >= 0)
		close(wout);
	if (werr >= 0)
		close(werr);
	while (nrelays > first)
		relay_close(nrelays - 1);
	reply(ctl, e, 0, e == EMFILE || e == ENFILE || e == EAGAIN ? "too many output streams" : "fork");
}

static void do_signal(int ctl, const srv_msg_hdr *h)
{
	if (h->sig < 0 || h->sig >= _NSIG) {
		reply(ctl, EINVAL, 0, "bad signal");
		return;
	}
	if (h->token == 0) {
		/* From PID 1, kill(-1) reaches every process of the namespace but init. */
		if (kill(-1, h->sig) != 0 && errno != ESRCH) {
			reply(ctl, errno, 0, "kill");
			return;
		}
		reply(ctl, 0, 0, NULL);
		return;
	}
	for (int i = 0; i < nprocs; i++) {
		if (procs[i].token != h->token)
			continue;
		/* The command leads its own process group (setsid): signal the
		 * whole job, as a terminal would, then the leader if it left it. */
		if (kill(-procs[i].pid, h->sig) != 0 && kill(procs[i].pid, h->sig) != 0) {
			reply(ctl, errno, 0, "kill");
			return;
		}
		reply(ctl, 0, procs[i].pid, NULL);
		return;
	}
	reply(ctl, ESRCH, 0, "no such process");
}

/* Returns -1 when sbxd is gone. */
static int handle_ctl(int ctl)
{
	int fds[3], nfds, bad;
	ssize_t n = srv_proto_recv_fds(ctl, msgbuf, sizeof msgbuf, fds, 3, &nfds, &bad);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (n == 0)
		return -1;
	srv_msg_hdr h;
	cur_seq = 0;
	if ((size_t)n >= sizeof h) {
		memcpy(&h, msgbuf, sizeof h);
		cur_seq = h.seq;
	}
	if (bad || (size_t)n < sizeof h) {
		reply(ctl, bad ? E2BIG : EINVAL, 0, "malformed request");
	} else {
		memcpy(&h, msgbuf, sizeof h);
		cur_seq = h.seq;
		if (h.type == SRV_MSG_SPAWN)
			do_spawn(ctl, (size_t)n, fds, nfds);
		else if (h.type == SRV_MSG_SIGNAL)
			do_signal(ctl, &h);
		else
			reply(ctl, EINVAL, 0, "unknown request");
	}
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

static void reap(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < nprocs; i++) {
			if (procs[i].pid != pid)
				continue;
			relay_drain(pid);
			srv_exit_event *e = &queue[(qhead + qlen) % MAX_PROCS];
			memset(e, 0, sizeof *e);
			e->token = procs[i].token;
			e->wstatus = st;
			e->flags = SRV_EXIT_OUTPUT_DONE | procs[i].lost;
			for (int k = 0; k < nrelays; k++)
				if (relays[k].pid == pid)
					e->flags &= ~SRV_EXIT_OUTPUT_DONE; /* a background child still writes */
			qlen++;
			procs[i] = procs[--nprocs];
			break;
		}
	}
}

/* One event without blocking: 1 sent, 0 the socket is full, -1 sbxd is gone. */
static int send_event(int evt, const srv_exit_event *e)
{
	for (;;) {
		if (send(evt, e, sizeof *e, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof *e)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? 0 : -1;
	}
}

/* Returns -1 when sbxd is gone. A live box first replays its history to a
 * newly attached sbxd, then sends the queue, keeping the last MAX_PROCS
 * exits sent (notes are news, not history). */
static int flush_events(int evt)
{
	while (replay_left > 0) {
		int rc = send_event(evt, &hist[(hhead + hlen - replay_left) % MAX_PROCS]);
		if (rc <= 0)
			return rc;
		replay_left--;
	}
	while (qlen > 0) {
		int rc = send_event(evt, &queue[qhead]);
		if (rc <= 0)
			return rc;
		if (live_fd >= 0 && !(queue[qhead].flags & SRV_EVT_NOTE)) {
			if (hlen == MAX_PROCS) {
				hhead = (hhead + 1) % MAX_PROCS;
				hlen--;
			}
			hist[(hhead + hlen) % MAX_PROCS] = queue[qhead];
			hlen++;
		}
		qhead = (qhead + 1) % MAX_PROCS;
		qlen--;
	}
	return 0;
}

/* A connection to the live socket: only a root process can reach its 0700
 * dir, and only the sbxd holding this box's secret gets in. Waits at most
 * a second for the request (sbxd sends it right after connecting); a
 * wrong or slow one is just closed. Returns 1 when *ctl and *evt were
 * replaced by the new sbxd's. */
static int live_accept(int *ctl, int *evt)
{
	int c = accept4(live_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return 0;
	srv_msg_adopt m;
	int fds[2], nfds = 0, bad = 0, ok = 0;
	struct pollfd p = {c, POLLIN, 0};
	if (poll(&p, 1, 1000) == 1) {
		ssize_t n = srv_proto_recv_fds(c, &m, sizeof m, fds, 2, &nfds, &bad);
		unsigned char diff = 0;
		if (n == (ssize_t)sizeof m)
			for (size_t i = 0; i < sizeof live_secret; i++)
				diff |= (unsigned char)(m.secret[i] ^ live_secret[i]);
		ok = n == (ssize_t)sizeof m && !bad && nfds == 2 && m.type == SRV_MSG_ADOPT &&
		     m.version == SRV_LIVE_VERSION && diff == 0;
	}
	close(c);
	if (!ok) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return 0;
	}
	/* The lock on the state dir makes this sbxd the only one: an old
	 * connection still open is a dying sbxd's. */
	if (*ctl >= 0)
		close(*ctl);
	if (*evt >= 0)
		close(*evt);
	*ctl = fds[0];
	*evt = fds[1];
	replay_left = hlen;
	srv_msg_adopted a;
	memset(&a, 0, sizeof a);
	a.type = SRV_MSG_ADOPTED;
	a.nprocs = (uint32_t)nprocs;
	a.next_token = max_token + 1;
	a.replay = (uint32_t)hlen;
	a.queued = (uint32_t)qlen;
	int rfds[2] = {open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} cm;
	memset(&cm, 0, sizeof cm);
	struct iovec iov = {&a, sizeof a};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (rfds[0] >= 0 && rfds[1] >= 0) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof cm.buf;
		struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof rfds);
		memcpy(CMSG_DATA(ch), rfds, sizeof rfds);
	}
	while (sendmsg(*ctl, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EINTR)
		;
	for (int i = 0; i < 2; i++)
		if (rfds[i] >= 0)
			close(rfds[i]);
	return 1;
}

/* sbxd is gone: a box that is not live ends (the kernel kills the
 * namespace with its init); a live one keeps going without it. */
static void sbxd_gone(int *ctl, int *evt)
{
	if (live_fd < 0)
		_exit(0);
	if (*ctl >= 0)
		close(*ctl);
	if (*evt >= 0)
		close(*evt);
	*ctl = *evt = -1;
	replay_left = 0;
}

void srv_init_main(const srv_init_cfg *cfg, int ctl, int evt)
{
	char msg[sizeof(((srv_msg_reply *)0)->msg)];
	/* Nothing of sbxd's (signal handlers, fds) may leak into the sandbox. */
	srv_child_reset3(ctl, evt, cfg->live_fd);
	live_fd = cfg->live_fd;
	memcpy(live_secret, cfg->secret, sizeof live_secret);
	srv_init_retitle(); /* done already when the zygote cloned us */
	int rc = setup(cfg, ctl, msg, sizeof msg);
	if (rc != 0) {
		reply(ctl, rc, 0, msg);
		_exit(1);
	}
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL); /* exactly SIGCHLD, whatever sbxd blocked */
	int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		failmsg(msg, sizeof msg, errno, "signalfd", NULL);
		reply(ctl, EIO, 0, msg);
		_exit(1);
	}
	ready_reply(ctl);
	static struct pollfd p[4 + MAX_RELAYS];
	for (;;) {
		p[0] = (struct pollfd){ctl, POLLIN, 0};
		p[1] = (struct pollfd){sfd, POLLIN, 0};
		p[2] = (struct pollfd){evt >= 0 && (qlen > 0 || replay_left > 0) ? evt : -1, POLLOUT, 0};
		p[3] = (struct pollfd){live_fd, POLLIN, 0};
		int np = nrelays;
		for (int i = 0; i < np; i++)
			p[4 + i] = (struct pollfd){relays[i].in, POLLIN, 0};
		if (poll(p, (nfds_t)(4 + np), -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		/* Backwards: a finished relay is replaced by the last one. */
		for (int i = np - 1; i >= 0; i--)
			if (p[4 + i].revents)
				relay_pump(i, RELAY_BUDGET);
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si[16];
			while (read(sfd, si, sizeof si) > 0)
				;
			reap();
		}
		if (ctl >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			if (handle_ctl(ctl) != 0)
				sbxd_gone(&ctl, &evt);
		if (p[3].revents & POLLIN)
			live_accept(&ctl, &evt);
		reap();
		if (evt >= 0 && flush_events(evt) != 0)
			sbxd_gone(&ctl, &evt);
	}
}
