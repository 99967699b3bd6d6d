/*
 * The sbxd side of the sandbox runtime (runtime.h): it prepares each
 * sandbox's cgroups, clone()s the sandbox's init into fresh
 * PID, mount, UTS, IPC and network namespaces (egress, when the spec has
 * it, goes through a user-mode stack: net.c), and then talks to that init over two SEQPACKET socketpairs
 * (proto.h): requests and replies on one, exit events on the other. Init
 * does the in-sandbox work (init.c); cgroups live in cgroup.c.
 */
#include "runtime.h"
#include "cgroup.h"
#include "hostmask.h"
#include "init.h"
#include "proto.h"
#include "util.h"
#include "zygote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <pwd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_HIDE 16
#define SRV_USERNS_SCRATCH "/tmp"
#define MAX_IMAGE_DIRS 8
#define MAX_ID 64
/* Init sets a sandbox up in a few ms; allow for a loaded machine. */
#define READY_TIMEOUT_MS 10000
/* Init answers spawn and signal requests without waiting for anything (it
 * forks without CLONE_VFORK), so a late answer means a sick box: fail fast,
 * since sbxd calls us from threads shared by every box. Throttling by the
 * box's own CPU quota delays init by at most a period (100 ms). */
#define REPLY_TIMEOUT_MS 2000

struct srv_rt {
	char state_dir[PATH_MAX];
	char run_dir[PATH_MAX];
	char images_dir[MAX_IMAGE_DIRS][PATH_MAX]; /* searched in order; [0] is
	                                              STATE_DIR/images */
	int nimage_dirs;
	char prefix[32];
	srv_cg *cg;
	srv_zygote *zygote;       /* NULL: clone init from sbxd itself */
	char *hide[MAX_HIDE + 1];
	int nhide;
	int userns;               /* SRV_USERNS_SINGLE rootless, else NONE: the
	                             mode of root's own boxes (box_mode) */
	int range_root;           /* --userns: root's own boxes get root's range too */
	int rootless;             /* sbxd is not root: single-uid boxes */
	char cg_missing[SRV_ERRLEN]; /* rootless without cgroups: why ("" = have them) */
	char subuid[PATH_MAX], subgid[PATH_MAX]; /* SRV_USERNS_RANGE's files */
	int live;                 /* SRV_RT_LIVE: boxes outlive sbxd */
	int live_dir;             /* O_PATH fd of STATE_DIR/live, or -1 */
	char **adopted;           /* ids srv_box_adopt took back, until srv_rt_sweep */
	size_t nadopted;
};

/* A box's range, found before its init is cloned. */
typedef struct {
	uint32_t us, uc, gs, gc;
} srv_range;

struct srv_box {
	srv_rt *rt;
	char id[MAX_ID + 1];
	srv_cg_box *cg;
	pid_t init_pid;
	int ctl, evt;
	int dead;
	int frozen;               /* init is frozen too: requests would hang */
	srv_net *net;             /* the egress stack, NULL without egress */
	int root_fd, mnt_fd;      /* the box's "/" (O_PATH) and mount ns, from init */
	int userns;               /* SRV_USERNS_*: how this box's ids map */
	int userns_fd, netns_fd;  /* rootless: the box's user and net ns, for egress */
	int64_t uid_base, gid_base; /* host ids of root inside (sbxd's own without a user namespace) */
	uint32_t id_count;        /* ids mapped from there on (0: no map) */
	int64_t next_token;
	int live;                 /* has STATE_DIR/live/<id>.sock and .key */
	int adopted;              /* from srv_box_adopt: init is not our child */
	int pidfd;                /* adopted: init's pidfd, -1 otherwise */
	uint32_t seq;             /* of the last request sent on ctl */
	char *reqbuf;
	struct {                  /* notes set aside by srv_box_next_exit */
		int64_t token;
		unsigned flags;
	} notes[SRV_BOX_NOTES];
	int nnotes;
	/* The box as made, for srv_box_respec (a warm pool's box taken for
	 * a spec known only later): what the spec fixed at create. */
	struct {
		char lower[PATH_MAX];     /* the image's dir; "" an OCI image */
		dev_t dev;
		ino_t ino;                /* of lower: a rebuilt image is another */
		char hostname[65];
		int64_t tmpfs_bytes, fsize, out_quota, min_free;
		int64_t cpu_millis, memory_bytes, max_pids;
		int64_t uid, gid;         /* as init's cfg has them */
		uint32_t owner;
		int egress, nhide;
	} made;
};

/* Sandbox ids and image names become path components and cgroup names. */
static int valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* Overlay mount options are comma- and colon-separated without escaping. */
static int overlay_safe(const char *s)
{
	return strpbrk(s, ",:\\") == NULL;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) != 0 && errno != EEXIST ? -1 : 0;
}

int srv_rt_hide_path(srv_rt *rt, const char *path, char *err)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		srv_errf(err, errno, "hide %s", path);
		return -1;
	}
	if (strcmp(real, "/") == 0) {
		srv_errf(err, 0, "cannot hide / (it would hide everything)");
		return -1;
	}
	for (int i = 0; i < rt->nhide; i++)
		if (strcmp(rt->hide[i], real) == 0)
			return 0;
	if (rt->nhide >= MAX_HIDE) {
		srv_errf(err, 0, "too many hidden paths");
		return -1;
	}
	char *dup = strdup(real);
	if (!dup) {
		srv_errf(err, ENOMEM, "hide");
		return -1;
	}
	rt->hide[rt->nhide++] = dup;
	rt->hide[rt->nhide] = NULL;
	return 0;
}

/* Removes the per-box scratch dirs that sbxd versions before the shared
 * run/ mount point made (and a crash could leave behind). */
static void clean_scratch(srv_rt *rt)
{
	DIR *d = opendir(rt->run_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char p[PATH_MAX];
		if (e->d_name[0] == '.' || !valid_name(e->d_name, MAX_ID))
			continue;
		if (srv_path_join(p, sizeof p, rt->run_dir, e->d_name) != 0)
			continue;
		srv_rm_rf(p);
	}
	closedir(d);
}

srv_rt *srv_rt_new(const char *state_dir, char *err)
{
	return srv_rt_open(state_dir, 0, err);
}

/* Key file of a live box: what srv_box_adopt needs besides the socket. */
typedef struct {
	char magic[8];            /* "sbxlive" */
	uint32_t version;         /* SRV_LIVE_VERSION */
	uint32_t egress;          /* 1: its stack ended with the sbxd that made it */
	unsigned char secret[SRV_LIVE_SECRET];
} live_key;

static int live_name(char *out, size_t len, const char *id, const char *ext)
{
	int n = snprintf(out, len, "%s.%s", id, ext);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A path to STATE_DIR/live/NAME that fits sun_path however long the state
 * dir is: through the dir's fd. */
static int live_addr(const srv_rt *rt, const char *id, struct sockaddr_un *a)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	int n = snprintf(a->sun_path, sizeof a->sun_path, "/proc/self/fd/%d/%s.sock", rt->live_dir, id);
	return n < 0 || (size_t)n >= sizeof a->sun_path ? -1 : 0;
}

static void live_unlink(const srv_rt *rt, const char *id)
{
	char n[MAX_ID + 8];
	if (rt->live_dir < 0)
		return;
	if (live_name(n, sizeof n, id, "sock") == 0)
		unlinkat(rt->live_dir, n, 0);
	if (live_name(n, sizeof n, id, "key") == 0)
		unlinkat(rt->live_dir, n, 0);
}

/* Everything in STATE_DIR/live: a sweep leaves only what keep names. */
static void live_clean(srv_rt *rt, int (*keep)(const char *id, void *ctx), void *ctx)
{
	int fd = openat(rt->live_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char id[MAX_ID + 1];
		const char *dot = strrchr(e->d_name, '.');
		if (e->d_name[0] == '.' || !dot || (size_t)(dot - e->d_name) > MAX_ID)
			continue;
		memcpy(id, e->d_name, (size_t)(dot - e->d_name));
		id[dot - e->d_name] = '\0';
		if (!keep || !keep(id, ctx))
			unlinkat(rt->live_dir, e->d_name, 0);
	}
	closedir(d);
}

srv_rt *srv_rt_open(const char *state_dir, unsigned flags, char *err)
{
	srv_rt *rt = calloc(1, sizeof *rt);
	if (!rt) {
		srv_errf(err, ENOMEM, "runtime");
		return NULL;
	}
	rt->live_dir = -1;
	/* Not root: every box gets a user namespace where sbxd's own uid is
	 * root (the kernel lets any user map itself), and the rest of the
	 * runtime works unchanged inside it. */
	if (geteuid() != 0) {
		rt->rootless = 1;
		rt->userns = SRV_USERNS_SINGLE;
	} else {
		/* Root: a box whose owner is not root always gets that owner's
		 * range, from these files unless srv_rt_set_subids says others. */
		memcpy(rt->subuid, "/etc/subuid", sizeof "/etc/subuid");
		memcpy(rt->subgid, "/etc/subgid", sizeof "/etc/subgid");
	}
	if (mkdir_p(state_dir, 0700) != 0 || !realpath(state_dir, rt->state_dir)) {
		srv_errf(err, errno, "state dir %s", state_dir);
		goto fail;
	}
	if (!overlay_safe(rt->state_dir)) {
		srv_errf(err, 0, "state dir %s: ',', ':' and '\\' cannot appear in overlay paths", rt->state_dir);
		goto fail;
	}
	if (srv_path_join(rt->run_dir, sizeof rt->run_dir, rt->state_dir, "run") != 0 ||
	    srv_path_join(rt->images_dir[0], sizeof rt->images_dir[0], rt->state_dir, "images") != 0 ||
	    strlen(rt->run_dir) > PATH_MAX - 2 * MAX_ID - 16) {
		srv_errf(err, ENAMETOOLONG, "state dir");
		goto fail;
	}
	rt->nimage_dirs = 1;
	/* sbxd's records and spools are nobody else's business, whatever mode
	 * an earlier run or a `mkdir -p` left on the dir. */
	if (chmod(rt->state_dir, 0700) != 0) {
		srv_errf(err, errno, "chmod 0700 %s", rt->state_dir);
		goto fail;
	}
	if (mkdir(rt->run_dir, 0700) != 0 && errno != EEXIST) {
		srv_errf(err, errno, "mkdir %s", rt->run_dir);
		goto fail;
	}
	snprintf(rt->prefix, sizeof rt->prefix, "sbxd-%012llx",
	         (unsigned long long)(fnv1a(rt->state_dir) & 0xffffffffffffULL));
	/* Live restore needs cgroups: they are how a box no sbxd took back
	 * is found and ended (srv_rt_sweep). */
	rt->live = (flags & SRV_RT_LIVE) != 0;
	rt->cg = rt->live ? srv_cg_open_kept(rt->prefix, err) : srv_cg_open(rt->prefix, err);
	if (!rt->cg && !rt->rootless)
		goto fail;
	if (!rt->cg)
		rt->live = 0;
	char live[PATH_MAX];
	if (srv_path_join(live, sizeof live, rt->state_dir, "live") != 0 ||
	    (mkdir(live, 0700) != 0 && errno != EEXIST) || chmod(live, 0700) != 0 ||
	    (rt->live_dir = open(live, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		srv_errf(err, errno, "live dir %s", live);
		goto fail;
	}
	if (!rt->live)
		live_clean(rt, NULL, NULL); /* what an earlier live sbxd left: its boxes are gone */
	if (!rt->cg) {
		/* No cgroup we may write: boxes run, but nothing can enforce a
		 * limit. Every create that asks for one is refused (see
		 * srv_rt_limits_missing); sbxd refuses to start unless told. */
		snprintf(rt->cg_missing, sizeof rt->cg_missing, "%s", err);
		err[0] = '\0';
	}
	clean_scratch(rt);
	if (srv_rt_hide_path(rt, rt->state_dir, err) != 0)
		goto fail;
	/* Best effort: without a zygote, init is cloned from sbxd itself. */
	rt->zygote = srv_zygote_start(NULL);
	return rt;
fail:
	srv_rt_free(rt);
	return NULL;
}

void srv_rt_free(srv_rt *rt)
{
	if (!rt)
		return;
	srv_zygote_stop(rt->zygote);
	srv_cg_free(rt->cg);
	if (rt->live_dir >= 0)
		close(rt->live_dir);
	for (size_t i = 0; i < rt->nadopted; i++)
		free(rt->adopted[i]);
	free(rt->adopted);
	for (int i = 0; i < rt->nhide; i++)
		free(rt->hide[i]);
	free(rt);
}

const char *srv_rt_cgroup_layout(const srv_rt *rt)
{
	return rt->cg ? srv_cg_layout(rt->cg) : "none";
}

int srv_rt_rootless(const srv_rt *rt)
{
	return rt->rootless;
}

const char *srv_rt_limits_missing(const srv_rt *rt)
{
	return rt->cg ? NULL : rt->cg_missing;
}

int srv_rt_set_subids(srv_rt *rt, const char *subuid, const char *subgid, int root_too, int must_exist,
                      char *err)
{
	if (rt->rootless) {
		srv_errf(err, 0, "subuid ranges need a root sbxd (a rootless one maps its own uid)");
		return -1;
	}
	if (!subuid || !subgid || strlen(subuid) >= PATH_MAX || strlen(subgid) >= PATH_MAX) {
		srv_errf(err, ENAMETOOLONG, "subuid file");
		return -1;
	}
	/* The default files may be missing (a machine where no one has a
	 * range): then root's boxes still run and each user's create is
	 * refused naming the file; files the operator named must be there. */
	if (must_exist && (access(subuid, R_OK) != 0 || access(subgid, R_OK) != 0)) {
		srv_errf(err, errno, "read %s and %s", subuid, subgid);
		return -1;
	}
	memcpy(rt->subuid, subuid, strlen(subuid) + 1);
	memcpy(rt->subgid, subgid, strlen(subgid) + 1);
	rt->range_root = root_too != 0;
	return 0;
}

int srv_rt_userns(const srv_rt *rt)
{
	return rt->range_root ? SRV_USERNS_RANGE : rt->userns;
}

/* Per box, by its owner: rootless, every box maps sbxd's own uid; on a
 * root sbxd a user's box always runs under that user's range (never as
 * host root, never as the user's own host uid), root's own only with
 * --userns. */
static int box_mode(const srv_rt *rt, uint32_t owner)
{
	if (rt->rootless)
		return SRV_USERNS_SINGLE;
	return owner != 0 || rt->range_root ? SRV_USERNS_RANGE : SRV_USERNS_NONE;
}

/* The owner's range in an /etc/subuid-style file: lines NAME:START:COUNT
 * or UID:START:COUNT, the first that names the owner. A range must not
 * hold uid 0 and at most 65536 ids of it are used (one map line). */
static int find_range(const char *file, uint32_t owner, const char *name, uint32_t *start, uint32_t *count,
                      char *err)
{
	char line[512], uidtxt[16];
	snprintf(uidtxt, sizeof uidtxt, "%u", owner);
	FILE *f = fopen(file, "re");
	if (!f) {
		int e = errno;
		srv_errf(err, e, "no range for user %s (uid %u): cannot read %s; add one there (e.g. usermod "
		         "--add-subuids), sandboxes never run as host root here", name ? name : uidtxt, owner, file);
		return -1;
	}
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = '\0';
		if (strcmp(line, uidtxt) != 0 && (!name || strcmp(line, name) != 0))
			continue;
		char *end;
		errno = 0;
		unsigned long long st = strtoull(c1 + 1, &end, 10);
		if (errno || end != c2 || c1[1] < '0' || c1[1] > '9')
			continue;
		unsigned long long ct = strtoull(c2 + 1, &end, 10);
		if (errno || end == c2 + 1 || (*end && *end != '\n') || ct == 0)
			continue;
		if (ct > 65536)
			ct = 65536;
		if (st == 0 || st + ct > UINT32_MAX)
			continue;
		*start = (uint32_t)st;
		*count = (uint32_t)ct;
		found = 1;
	}
	fclose(f);
	if (!found)
		srv_errf(err, 0, "no range for user %s (uid %u) in %s: add one (e.g. usermod --add-subuids), "
		         "sandboxes never run as host root here", name ? name : uidtxt, owner, file);
	return found ? 0 : -1;
}

/* The owner's uid and gid ranges, by name (getpwuid_r) or by uid. */
static int owner_range(const srv_rt *rt, uint32_t owner, srv_range *rg, char *err)
{
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];
	getpwuid_r((uid_t)owner, &pw, pwbuf, sizeof pwbuf, &pwp);
	const char *name = pwp ? pwp->pw_name : NULL;
	if (find_range(rt->subuid, owner, name, &rg->us, &rg->uc, err) != 0 ||
	    find_range(rt->subgid, owner, name, &rg->gs, &rg->gc, err) != 0)
		return -1;
	return 0;
}

int srv_rt_owner_check(const srv_rt *rt, uint32_t owner, char *err)
{
	srv_range rg;
	if (box_mode(rt, owner) != SRV_USERNS_RANGE)
		return 0;
	return owner_range(rt, owner, &rg, err);
}

static int write_map(pid_t pid, const char *what, const char *text, char *err)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/%s", (int)pid, what);
	if (srv_write_file(p, text) != 0) {
		srv_errf(err, errno, "write %s of the sandbox's user namespace", what);
		return -1;
	}
	return 0;
}

/* Writes the box's uid and gid maps (init waits for them) and, for a
 * range, makes every lower layer an idmapped detached mount (host uid N
 * shows as START+N), so the image's root-owned files are root's inside
 * although no host uid 0 is mapped. */
static int map_box(srv_box *box, const srv_box_spec *spec, const srv_range *rg, const char *const *lowers,
                   int nl, int *lfds, char *err)
{
	char map[96];
	pid_t pid = box->init_pid;
	if (box->userns == SRV_USERNS_SINGLE) {
		if (write_map(pid, "setgroups", "deny", err) != 0)
			return -1;
		snprintf(map, sizeof map, "0 %u 1\n", (unsigned)geteuid());
		if (write_map(pid, "uid_map", map, err) != 0)
			return -1;
		snprintf(map, sizeof map, "0 %u 1\n", (unsigned)getegid());
		if (write_map(pid, "gid_map", map, err) != 0)
			return -1;
		box->uid_base = geteuid();
		box->gid_base = getegid();
		box->id_count = 1;
		if (spec->egress) {
			/* Now, while init may still be looked at (it turns
			 * non-dumpable later): egress needs both. */
			char p[64];
			snprintf(p, sizeof p, "/proc/%d/ns/user", (int)pid);
			box->userns_fd = open(p, O_RDONLY | O_CLOEXEC);
			snprintf(p, sizeof p, "/proc/%d/ns/net", (int)pid);
			box->netns_fd = open(p, O_RDONLY | O_CLOEXEC);
			if (box->userns_fd < 0 || box->netns_fd < 0) {
				srv_errf(err, errno, "open the namespaces of the sandbox's init");
				return -1;
			}
		}
		return 0;
	}
	uint32_t us = rg->us, uc = rg->uc, gs = rg->gs, gc = rg->gc;
	snprintf(map, sizeof map, "0 %u %u\n", us, uc);
	if (write_map(pid, "uid_map", map, err) != 0)
		return -1;
	snprintf(map, sizeof map, "0 %u %u\n", gs, gc);
	if (write_map(pid, "gid_map", map, err) != 0)
		return -1;
	box->uid_base = us;
	box->gid_base = gs;
	box->id_count = uc < gc ? uc : gc;
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/ns/user", (int)pid);
	int ufd = open(p, O_RDONLY | O_CLOEXEC);
	if (ufd < 0) {
		srv_errf(err, errno, "open %s", p);
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < nl && rc == 0; i++) {
		lfds[i] = (int)syscall(SYS_open_tree, AT_FDCWD, lowers[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)ufd};
		if (lfds[i] < 0 || syscall(SYS_mount_setattr, lfds[i], "", AT_EMPTY_PATH, &a, sizeof a) != 0) {
			srv_errf(err, errno, "idmapped mount of %s", lowers[i]);
			rc = -1;
		}
	}
	close(ufd);
	return rc;
}

/* Tells init its maps are written, with the idmapped layers. */
static int send_mapped(srv_box *box, const int *lfds, int nl, char *err)
{
	srv_msg_hdr h;
	memset(&h, 0, sizeof h);
	h.type = SRV_MSG_MAPPED;
	h.argc = (uint32_t)nl;
	union {
		char buf[CMSG_SPACE(sizeof(int) * SRV_MAX_LOWERS)];
		struct cmsghdr align;
	} cm;
	memset(&cm, 0, sizeof cm);
	struct iovec iov = {&h, sizeof h};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nl > 0) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nl);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nl);
		memcpy(CMSG_DATA(c), lfds, sizeof(int) * (size_t)nl);
	}
	if (sendmsg(box->ctl, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		srv_errf(err, errno, "send the uid map word to init");
		return -1;
	}
	return 0;
}

int srv_rt_add_image_dir(srv_rt *rt, const char *dir, char *err)
{
	char real[PATH_MAX];
	if (!realpath(dir, real)) {
		srv_errf(err, errno, "image dir %s", dir);
		return -1;
	}
	if (!overlay_safe(real) || strlen(real) > PATH_MAX - MAX_ID - 16) {
		srv_errf(err, 0, "image dir %s cannot be used by overlayfs (',', ':', '\\' or too long)", real);
		return -1;
	}
	for (int i = 0; i < rt->nimage_dirs; i++)
		if (strcmp(rt->images_dir[i], real) == 0)
			return 0;
	if (rt->nimage_dirs >= MAX_IMAGE_DIRS) {
		srv_errf(err, 0, "more than %d image dirs", MAX_IMAGE_DIRS);
		return -1;
	}
	memcpy(rt->images_dir[rt->nimage_dirs++], real, strlen(real) + 1);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void srv_rt_image_names(const srv_rt *rt, char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	char *names[256];
	size_t n = 0;
	for (int k = 0; k < rt->nimage_dirs; k++) {
		DIR *d = opendir(rt->images_dir[k]);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d)) != NULL && n < sizeof names / sizeof names[0]) {
			char p[PATH_MAX];
			struct stat st;
			if (!valid_name(e->d_name, MAX_ID) ||
			    snprintf(p, sizeof p, "%s/%s/rootfs", rt->images_dir[k], e->d_name) >= (int)sizeof p ||
			    stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
				continue;
			names[n] = strdup(e->d_name);
			if (names[n])
				n++;
		}
		closedir(d);
	}
	qsort(names, n, sizeof names[0], cmp_str);
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(names[i], names[i - 1]) == 0)
			continue; /* the same name in two dirs: the first one wins */
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i]);
		if (w < 0 || (size_t)w >= len - used)
			used = len - 1;
		else
			used += (size_t)w;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
}

/* Waits for init's reply to request seq on ctl, dropping late replies to
 * requests that timed out; -1 (with a message) when init is gone. */
static int read_reply(srv_box *box, uint32_t seq, srv_msg_reply *r, char *err)
{
	int timeout = seq == 0 ? READY_TIMEOUT_MS : REPLY_TIMEOUT_MS;
	for (;;) {
		struct pollfd p = {box->ctl, POLLIN, 0};
		int rc = poll(&p, 1, timeout);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			srv_errf(err, ETIMEDOUT, "sandbox init did not answer");
			errno = ETIMEDOUT;
			return -1;
		}
		int fds[4], nfds = 0, bad = 0;
		ssize_t n = srv_proto_recv_fds(box->ctl, r, sizeof *r, fds, 4, &nfds, &bad);
		if (n < 0 && errno == EINTR)
			continue;
		/* Only the ready message carries fds: the box's root and mount
		 * namespace. Anything else riding along is dropped. */
		if (seq == 0 && nfds == 2 && !bad && box->root_fd < 0) {
			box->root_fd = fds[0];
			box->mnt_fd = fds[1];
			nfds = 0;
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (n == (ssize_t)sizeof *r && r->type == SRV_MSG_REPLY) {
			if (r->seq != seq)
				continue;
			r->msg[sizeof r->msg - 1] = '\0';
			return 0;
		}
		box->dead = 1;
		srv_errf(err, 0, "sandbox init is gone");
		errno = ESRCH;
		return -1;
	}
}

/* Sends one request on ctl without ever blocking for long: if init stopped
 * reading, the socket buffer fills and a blocking send would hang the
 * caller (a thread sbxd shares between boxes). Returns bytes or -1. */
static ssize_t send_req(srv_box *box, struct msghdr *mh)
{
	for (;;) {
		ssize_t n = sendmsg(box->ctl, mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
			return n;
		if (errno == EINTR)
			continue;
		struct pollfd p = {box->ctl, POLLOUT, 0};
		int rc = poll(&p, 1, REPLY_TIMEOUT_MS);
		if (rc == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

static int find_image(const srv_rt *rt, const char *image, char *lower, size_t len)
{
	struct stat st;
	for (int k = 0; valid_name(image, MAX_ID) && k < rt->nimage_dirs; k++)
		if (snprintf(lower, len, "%s/%s/rootfs", rt->images_dir[k], image) < (int)len &&
		    stat(lower, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
	return -1;
}

int srv_rt_has_image(const srv_rt *rt, const char *name)
{
	char lower[PATH_MAX];
	return name && find_image(rt, name, lower, sizeof lower) == 0;
}

int srv_rt_image_has_file(const srv_rt *rt, const char *name, const char *rel)
{
	char lower[PATH_MAX], p[PATH_MAX];
	struct stat st;
	return name && rel && rel[0] != '/' && find_image(rt, name, lower, sizeof lower) == 0 &&
	       snprintf(p, sizeof p, "%s/%s", lower, rel) < (int)sizeof p && lstat(p, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

/* The lower layer of an image: "host" is the host's /, any other name the
 * first IMAGE_DIR/NAME/rootfs. No name is an error: the caller (sbxd)
 * picks the default, so the host's / is never used by accident. */
static int resolve_image(srv_rt *rt, const char *image, char *lower, size_t len, char *err)
{
	if (!image || !image[0]) {
		srv_errf(err, 0, "no image given (name one, or \"host\" for the host's /)");
		return -1;
	}
	if (strcmp(image, "host") == 0) {
		snprintf(lower, len, "/");
		return 0;
	}
	char names[512];
	if (find_image(rt, image, lower, len) == 0)
		return 0;
	srv_rt_image_names(rt, names, sizeof names);
	srv_errf(err, 0, "unknown image '%.64s' (images: %s)", image, names[0] ? names : "none");
	return -1;
}

/* A live box's socket (listening, for init to hold) and key file (0600 in
 * the 0700 live dir; the secret never leaves sbxd and the box's init). */
static int live_make(srv_rt *rt, srv_box *box, const srv_box_spec *spec, live_key *key, int *lfd, char *err)
{
	char name[MAX_ID + 8];
	struct sockaddr_un a;
	memcpy(key->magic, "sbxlive", 8);
	key->version = SRV_LIVE_VERSION;
	key->egress = spec->egress != NULL;
	if (getrandom(key->secret, sizeof key->secret, 0) != (ssize_t)sizeof key->secret) {
		srv_errf(err, errno, "random secret of the live socket");
		return -1;
	}
	if (live_name(name, sizeof name, box->id, "key") != 0 || live_addr(rt, box->id, &a) != 0) {
		srv_errf(err, ENAMETOOLONG, "live socket");
		return -1;
	}
	live_unlink(rt, box->id);
	box->live = 1; /* from here on destroy removes them */
	int fd = openat(rt->live_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int kf = fd >= 0 ? openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
	if (fd >= 0)
		close(fd);
	ssize_t w = kf >= 0 ? write(kf, key, sizeof *key) : -1;
	int e = errno;
	if (kf >= 0)
		close(kf);
	if (w != (ssize_t)sizeof *key) {
		srv_errf(err, w < 0 ? e : EIO, "write the live key");
		return -1;
	}
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4) != 0) {
		srv_errf(err, errno, "live socket");
		if (s >= 0)
			close(s);
		return -1;
	}
	*lfd = s;
	return 0;
}

int srv_box_create(srv_rt *rt, const srv_box_spec *spec, srv_box **out, char *err)
{
	srv_box *box = NULL;
	int ctl[2] = {-1, -1}, evt[2] = {-1, -1}, live_fd = -1;
	char lower[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], root[PATH_MAX];
	char opts[3 * PATH_MAX + 64], lowers[4096];
	const char *lower_list[SRV_MAX_LOWERS + 1];
	int lfds[SRV_MAX_LOWERS], nl = 0;
	for (int i = 0; i < SRV_MAX_LOWERS; i++)
		lfds[i] = -1;
	srv_hostmask mask = {0};
	const char *hide[MAX_HIDE + SRV_HOSTMASK_MAX + 1];
	*out = NULL;
	if (!spec || !spec->id || !valid_name(spec->id, MAX_ID)) {
		srv_errf(err, 0, "invalid sandbox id (1-%d of [A-Za-z0-9._-])", MAX_ID);
		return -1;
	}
	/* The owner's mode, and under a range the range itself, before
	 * anything is made: an owner without one is refused here, by name
	 * (sbxd asks srv_rt_owner_check at create already; the files may
	 * have changed since). */
	int mode = box_mode(rt, spec->owner);
	srv_range rg = {0};
	if (mode == SRV_USERNS_RANGE && owner_range(rt, spec->owner, &rg, err) != 0)
		return -1;
	/* Names may be longer than the kernel's 64-byte UTS name: cut them. */
	char hostname[65];
	snprintf(hostname, sizeof hostname, "%s", spec->hostname && spec->hostname[0] ? spec->hostname : spec->id);
	if (spec->lowers) {
		/* An OCI image: its layer dirs joined with ':'. The kernel
		 * takes at most a page of mount options. */
		size_t used = 0;
		int n = 0;
		for (const char *const *l = spec->lowers; *l; l++, n++) {
			size_t ll = strlen(*l);
			if (n >= SRV_MAX_LOWERS || (*l)[0] != '/' || !overlay_safe(*l) || used + ll + 2 > sizeof lowers) {
				srv_errf(err, 0, "image %.64s: its %s layers do not fit overlayfs's options "
				         "(at most %d layers, a page of paths without ',' ':' '\\')",
				         spec->image ? spec->image : "", n >= SRV_MAX_LOWERS ? "many" : "", SRV_MAX_LOWERS);
				return -1;
			}
			if (used)
				lowers[used++] = ':';
			memcpy(lowers + used, *l, ll + 1);
			used += ll;
			lower_list[n] = *l;
		}
		nl = n;
		if (n == 0) {
			srv_errf(err, 0, "image without layers");
			return -1;
		}
		snprintf(lower, sizeof lower, "%s", spec->lowers[0]);
	} else {
		if (resolve_image(rt, spec->image, lower, sizeof lower, err) != 0)
			return -1;
		if (!overlay_safe(lower)) {
			srv_errf(err, 0, "image path %s cannot be used by overlayfs", lower);
			return -1;
		}
		snprintf(lowers, sizeof lowers, "%s", lower);
		lower_list[0] = lower;
		nl = 1;
	}
	if (rt->rootless && spec->egress && access("/dev/net/tun", R_OK | W_OK) != 0) {
		srv_errf(err, errno, "egress from a rootless sbxd needs /dev/net/tun open to users (mode 0666, as "
		         "distributions ship it); here it is not");
		return -1;
	}
	if (!rt->cg && (spec->memory_bytes > 0 || spec->cpu_millis > 0 || spec->max_pids > 0)) {
		srv_errf(err, 0, "resource limits cannot be enforced by this rootless sbxd (no cgroup it may "
		         "write: %s); ask for none, or run the system sbxd", rt->cg_missing);
		return -1;
	}
	/* Under a uid range init is not host root: it may not walk into the
	 * state dir (0700, host root's), so its scratch tmpfs goes on /tmp (of
	 * its own mount namespace only; pivot_root leaves it behind; the
	 * lowers come as fds). Rootless, the state dir is init's own. */
	const char *scratch = mode == SRV_USERNS_RANGE ? SRV_USERNS_SCRATCH : rt->run_dir;
	/* The overlay names its layers relative to scratch, where init puts
	 * each one (an idmapped mount under a range, else a bind mount of the
	 * host path in `lowers`) and mounts from: its options are in the
	 * box's /proc/self/mountinfo, and absolute ones told the box the host
	 * paths of the image dir and the state dir. */
	char rel[SRV_MAX_LOWERS * 6 + 1];
	size_t rused = 0;
	for (int i = 0; i < nl; i++) {
		int w = snprintf(rel + rused, sizeof rel - rused, "%sl%d", i ? ":" : "", i);
		if (w < 0 || (size_t)w >= sizeof rel - rused) {
			srv_errf(err, 0, "overlay options over a page: fewer layers");
			return -1;
		}
		rused += (size_t)w;
	}
	box = calloc(1, sizeof *box);
	if (!box) {
		srv_errf(err, ENOMEM, "sandbox");
		return -1;
	}
	box->rt = rt;
	box->pidfd = -1;
	box->ctl = box->evt = -1;
	box->root_fd = box->mnt_fd = -1;
	box->userns_fd = box->netns_fd = -1;
	box->userns = mode;
	box->uid_base = geteuid();
	box->gid_base = getegid();
	box->init_pid = -1;
	box->next_token = 1;
	memcpy(box->id, spec->id, strlen(spec->id) + 1);
	/* Every box's init mounts its own tmpfs on run/ in its own mount
	 * namespace, so the host needs no directory per box: making and
	 * removing one on the state dir's disk cost up to a millisecond
	 * per create (ext4 inode allocation). */
	if (srv_path_join(upper, sizeof upper, scratch, "upper") != 0 ||
	    srv_path_join(work, sizeof work, scratch, "work") != 0 ||
	    srv_path_join(root, sizeof root, scratch, "root") != 0) {
		srv_errf(err, ENAMETOOLONG, "scratch dir");
		goto fail;
	}
	if ((size_t)snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=upper,workdir=work", rel) >= 4096) {
		srv_errf(err, 0, "overlay options over a page: fewer layers");
		goto fail;
	}
	/* On the host's own /, its secrets and every sbxd's state are covered
	 * too, found afresh now: another sbxd may have started since. */
	int nh = 0;
	for (int i = 0; i < rt->nhide; i++)
		hide[nh++] = rt->hide[i];
	if (strcmp(lower, "/") == 0) {
		if (srv_hostmask_collect(&mask, err) != 0)
			goto fail;
		for (int i = 0; i < mask.n; i++)
			hide[nh++] = mask.path[i];
	}
	hide[nh] = NULL;
	if (rt->cg && srv_cg_box_create(rt->cg, spec->id, spec->cpu_millis, spec->memory_bytes, spec->max_pids,
	                                spec->max_pids > 0, &box->cg, err) != 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, evt) != 0) {
		srv_errf(err, errno, "socketpair");
		goto fail;
	}
	live_key key;
	memset(&key, 0, sizeof key);
	if (rt->live && live_make(rt, box, spec, &key, &live_fd, err) != 0)
		goto fail;
	srv_init_cfg cfg = {
		.scratch = scratch,
		.upper = upper,
		.work = work,
		.root = root,
		.overlay_opts = opts,
		.lowers = mode == SRV_USERNS_RANGE ? "" : lowers,
		.hostname = hostname,
		.network = spec->egress != NULL,
		.image = strcmp(lower, "/") != 0,
		.hide = hide,
		/* Every byte written to the box's tmpfs is host memory: bound it
		 * (the tmpfs default is half of RAM, per mount). */
		.tmpfs_bytes = spec->disk_bytes > 0     ? spec->disk_bytes
		               : spec->memory_bytes > 0 ? spec->memory_bytes
		                                        : SRV_DEFAULT_DISK_BYTES,
		.fsize = spec->max_file_bytes > 0 ? spec->max_file_bytes : 0,
		.out_quota = spec->output_quota > 0 ? spec->output_quota : 0,
		.min_free = spec->min_free_bytes > 0 ? spec->min_free_bytes : 0,
		.uid = spec->uid > 0 || spec->gid > 0 ? spec->uid : -1,
		.gid = spec->uid > 0 || spec->gid > 0 ? spec->gid : -1,
		.userns = mode,
		.nlowers = mode == SRV_USERNS_RANGE ? nl : 0,
		.live_fd = live_fd,
	};
	memcpy(cfg.secret, key.secret, sizeof cfg.secret);
	explicit_bzero(&key, sizeof key);
	/* Always a network namespace of its own: the host's would give the
	 * sandbox its loopback services, abstract sockets and ports. */
	uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;
	/* A user namespace owns all the others: root inside is a uid of the
	 * box's range (or sbxd's own, rootless) outside, never host root. */
	if (mode != SRV_USERNS_NONE)
		flags |= CLONE_NEWUSER;
	int cgfd = box->cg ? srv_cg_box_clone_fd(box->cg) : -1;
	int born_in_cg = 0;
	pid_t pid = -1;
	if (rt->zygote) {
		pid = srv_zygote_clone(rt->zygote, flags, cgfd, &cfg, ctl[1], evt[1],
		                       &born_in_cg);
		if (pid < 0 && errno == EPIPE) {
			/* The zygote died (or hangs): carry on without it. */
			srv_zygote_stop(rt->zygote);
			rt->zygote = NULL;
		}
	}
	if (!rt->zygote) {
		/* A raw clone behaves like fork() without running atfork
		 * handlers; the child never returns from srv_init_main. */
		pid = srv_clone(flags, SIGCHLD, cgfd, &born_in_cg);
		if (pid == 0)
			srv_init_main(&cfg, ctl[1], evt[1]);
	}
	if (pid < 0) {
		srv_errf(err, errno, "clone");
		goto fail;
	}
	explicit_bzero(cfg.secret, sizeof cfg.secret);
	if (live_fd >= 0) {
		close(live_fd); /* init holds it now */
		live_fd = -1;
	}
	box->init_pid = pid;
	box->ctl = ctl[0];
	box->evt = evt[0];
	close(ctl[1]);
	close(evt[1]);
	ctl[0] = ctl[1] = evt[0] = evt[1] = -1;
	if (mode != SRV_USERNS_NONE) {
		if (map_box(box, spec, &rg, lower_list, mode == SRV_USERNS_RANGE ? nl : 0, lfds, err) != 0 ||
		    send_mapped(box, lfds, mode == SRV_USERNS_RANGE ? nl : 0, err) != 0)
			goto fail;
		for (int i = 0; i < nl; i++)
			if (lfds[i] >= 0) {
				close(lfds[i]);
				lfds[i] = -1;
			}
	}
	/* Init forks nothing before its first request, so joining the cgroups
	 * now (while it sets up) covers every process the sandbox will have. */
	if (box->cg && srv_cg_box_attach(box->cg, pid, born_in_cg, err) != 0)
		goto fail;
	/* Now init may enter its cgroup namespace. If it already failed, the
	 * send fails or is never read, and read_reply gets init's message. */
	srv_msg_hdr go;
	memset(&go, 0, sizeof go);
	go.type = SRV_MSG_ATTACHED;
	(void)!send(box->ctl, &go, sizeof go, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* The stack and the rules are in place before any command runs (init
	 * starts nothing before it has said ready and been asked); init
	 * finishes its set-up meanwhile. */
	if (spec->egress && srv_net_start_ns(pid, box->userns_fd, box->netns_fd, spec->egress, &box->net, err) != 0)
		goto fail;
	srv_msg_reply r;
	if (read_reply(box, 0, &r, err) != 0)
		goto fail;
	if (r.err != 0) {
		srv_errf(err, 0, "sandbox setup failed: %s", r.msg);
		goto fail;
	}
	if (box->root_fd < 0) {
		srv_errf(err, 0, "sandbox init did not hand over its root");
		goto fail;
	}
	srv_hostmask_clear(&mask);
	struct stat lst;
	if (!spec->lowers && stat(lower, &lst) == 0) {
		snprintf(box->made.lower, sizeof box->made.lower, "%s", lower);
		box->made.dev = lst.st_dev;
		box->made.ino = lst.st_ino;
	}
	memcpy(box->made.hostname, hostname, sizeof hostname);
	box->made.tmpfs_bytes = cfg.tmpfs_bytes;
	box->made.fsize = cfg.fsize;
	box->made.out_quota = cfg.out_quota;
	box->made.min_free = cfg.min_free;
	box->made.cpu_millis = spec->cpu_millis;
	box->made.memory_bytes = spec->memory_bytes;
	box->made.max_pids = spec->max_pids;
	box->made.uid = cfg.uid;
	box->made.gid = cfg.gid;
	box->made.owner = spec->owner;
	box->made.egress = spec->egress != NULL;
	box->made.nhide = rt->nhide;
	*out = box;
	return 0;
fail:
	if (live_fd >= 0)
		close(live_fd);
	for (int i = 0; i < SRV_MAX_LOWERS; i++)
		if (lfds[i] >= 0)
			close(lfds[i]);
	srv_hostmask_clear(&mask);
	for (int i = 0; i < 2; i++) {
		if (ctl[i] >= 0)
			close(ctl[i]);
		if (evt[i] >= 0)
			close(evt[i]);
	}
	srv_box_destroy(box);
	return -1;
}

int srv_box_spawn(srv_box *box, const srv_spawn *sp, int64_t *token, int *stdin_fd, char *err)
{
	int pipefd[2] = {-1, -1};
	int fds[3], nfds = 0;
	uint32_t flags = 0;
	int rc = -1;
	if (box->dead) {
		srv_errf(err, 0, "sandbox init is gone");
		errno = ESRCH;
		return -1;
	}
	if (box->frozen) {
		srv_errf(err, 0, "sandbox is frozen");
		errno = EBUSY;
		return -1;
	}
	size_t need = srv_proto_spawn_size(sp->cwd, sp->argv, sp->env);
	if (need == 0) {
		srv_errf(err, 0, "empty command, or command, env and cwd over %d bytes / %d entries",
		         SRV_PROTO_MAX_STRINGS, SRV_PROTO_MAX_ARGS);
		errno = E2BIG;
		return -1;
	}
	if (!box->reqbuf && !(box->reqbuf = malloc(sizeof(srv_msg_hdr) + SRV_PROTO_MAX_STRINGS))) {
		srv_errf(err, ENOMEM, "spawn");
		return -1;
	}
	if (sp->stdout_fd >= 0) {
		flags |= SRV_SPAWN_STDOUT;
		fds[nfds++] = sp->stdout_fd;
	}
	if (sp->stderr_fd >= 0) {
		flags |= SRV_SPAWN_STDERR;
		fds[nfds++] = sp->stderr_fd;
	}
	if (sp->want_stdin) {
		if (pipe2(pipefd, O_CLOEXEC) != 0) {
			srv_errf(err, errno, "pipe");
			return -1;
		}
		flags |= SRV_SPAWN_STDIN;
		fds[nfds++] = pipefd[0];
	}
	int64_t tok = box->next_token++;
	size_t len = srv_proto_encode_spawn(box->reqbuf, sizeof(srv_msg_hdr) + SRV_PROTO_MAX_STRINGS, tok, flags,
	                                    sp->keep_bytes, sp->cwd, sp->argv, sp->env);
	uint32_t seq = ++box->seq ? box->seq : ++box->seq; /* 0 is the ready message's */
	srv_proto_set_seq(box->reqbuf, seq);
	union {
		char buf[CMSG_SPACE(sizeof(int) * 3)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {box->reqbuf, len};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof cm);
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	ssize_t n = send_req(box, &mh);
	if (n < 0) {
		int e = errno;
		if (e == EPIPE || e == ECONNRESET)
			box->dead = 1;
		srv_errf(err, e, e == ETIMEDOUT ? "sandbox init is not reading" : "send to sandbox init");
		errno = box->dead ? ESRCH : e;
		goto out;
	}
	srv_msg_reply r;
	if (read_reply(box, seq, &r, err) != 0)
		goto out;
	if (r.err != 0) {
		srv_errf(err, r.err, "%s", r.msg);
		errno = r.err;
		goto out;
	}
	*token = tok;
	if (sp->want_stdin && stdin_fd) {
		*stdin_fd = pipefd[1];
		pipefd[1] = -1;
	}
	rc = 0;
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return rc;
}

int srv_box_event_fd(const srv_box *box)
{
	return box->evt;
}

int srv_box_next_exit(srv_box *box, int64_t *token, int *wstatus, unsigned *flags)
{
	srv_exit_event ev;
	for (;;) {
		ssize_t n = recv(box->evt, &ev, sizeof ev, MSG_DONTWAIT);
		if (n == (ssize_t)sizeof ev && (ev.flags & SRV_EVT_NOTE)) {
			if (box->nnotes < SRV_BOX_NOTES) {
				box->notes[box->nnotes].token = ev.token;
				box->notes[box->nnotes].flags = ev.flags & ~SRV_EVT_NOTE;
				box->nnotes++;
			}
			continue;
		}
		if (n == (ssize_t)sizeof ev) {
			*token = ev.token;
			*wstatus = ev.wstatus;
			if (flags)
				*flags = ev.flags;
			return 1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		box->dead = 1;
		return -1;
	}
}

int srv_box_next_note(srv_box *box, int64_t *token, unsigned *flags)
{
	if (box->nnotes == 0)
		return 0;
	*token = box->notes[0].token;
	*flags = box->notes[0].flags;
	box->nnotes--;
	memmove(box->notes, box->notes + 1, (size_t)box->nnotes * sizeof box->notes[0]);
	return 1;
}

int srv_box_signal(srv_box *box, int64_t token, int sig)
{
	char err[SRV_ERRLEN];
	if (box->dead) {
		errno = ESRCH;
		return -1;
	}
	if (box->frozen) {
		errno = EBUSY;
		return -1;
	}
	srv_msg_hdr h;
	memset(&h, 0, sizeof h);
	h.type = SRV_MSG_SIGNAL;
	h.token = token;
	h.sig = sig;
	h.seq = ++box->seq ? box->seq : ++box->seq;
	struct iovec iov = {&h, sizeof h};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (send_req(box, &mh) < 0) {
		if (errno == ETIMEDOUT)
			return -1;
		box->dead = 1;
		errno = ESRCH;
		return -1;
	}
	srv_msg_reply r;
	if (read_reply(box, h.seq, &r, err) != 0)
		return -1;
	if (r.err != 0) {
		errno = r.err;
		return -1;
	}
	return 0;
}

int64_t srv_box_oom_kills(const srv_box *box)
{
	return box->cg ? srv_cg_box_oom_kills(box->cg) : 0;
}

int64_t srv_box_memory_bytes(const srv_box *box)
{
	return box->cg ? srv_cg_box_memory_current(box->cg) : -1;
}

int srv_box_open_root(const srv_box *box)
{
	return box->root_fd >= 0 ? fcntl(box->root_fd, F_DUPFD_CLOEXEC, 0) : -1;
}

int srv_box_open_mntns(const srv_box *box)
{
	return box->mnt_fd >= 0 ? fcntl(box->mnt_fd, F_DUPFD_CLOEXEC, 0) : -1;
}

int64_t srv_box_uid_base(const srv_box *box)
{
	return box->uid_base;
}

int64_t srv_box_gid_base(const srv_box *box)
{
	return box->gid_base;
}

uint32_t srv_box_id_count(const srv_box *box)
{
	return box->id_count;
}

int srv_box_userns(const srv_box *box)
{
	return box->userns;
}

int srv_box_freeze(srv_box *box, int frozen, char *err)
{
	if (!box->cg) {
		srv_errf(err, ENOTSUP, "no cgroup to freeze (rootless sbxd without one)");
		errno = ENOTSUP;
		return -1;
	}
	if (srv_cg_box_freeze(box->cg, frozen, err) != 0)
		return -1;
	box->frozen = !!frozen;
	return 0;
}

pid_t srv_box_init_pid(const srv_box *box)
{
	return box->init_pid;
}

void srv_box_destroy(srv_box *box)
{
	if (!box)
		return;
	if (box->cg) {
		srv_cg_box_freeze(box->cg, 0, NULL); /* frozen tasks die only once thawed */
		srv_cg_box_kill(box->cg);
	}
	if (box->adopted && box->pidfd >= 0) {
		/* Not our child (its sbxd died): kill through the pidfd, which
		 * cannot hit a reused pid, and wait for the namespace to go. */
		syscall(SYS_pidfd_send_signal, box->pidfd, SIGKILL, NULL, 0);
		struct pollfd p = {box->pidfd, POLLIN, 0};
		while (poll(&p, 1, 5000) < 0 && errno == EINTR)
			;
		close(box->pidfd);
		box->pidfd = -1;
	} else if (box->init_pid > 0 && !box->adopted) {
		/* SIGKILL to a PID namespace's init kills the whole namespace, and
		 * its exit completes only after every member is gone. */
		kill(box->init_pid, SIGKILL);
		while (waitpid(box->init_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	srv_net_stop(box->net);
	if (box->ctl >= 0)
		close(box->ctl);
	if (box->evt >= 0)
		close(box->evt);
	if (box->root_fd >= 0)
		close(box->root_fd);
	if (box->userns_fd >= 0)
		close(box->userns_fd);
	if (box->netns_fd >= 0)
		close(box->netns_fd);
	if (box->mnt_fd >= 0)
		close(box->mnt_fd);
	srv_cg_box_remove(box->cg);
	if (box->live)
		live_unlink(box->rt, box->id);
	free(box->reqbuf);
	free(box);
}

/* ------------------------------------------------------------ respec */

/* sethostname in the box's UTS namespace, on a thread of its own: a
 * UTS namespace is per thread, so the caller's (and sbxd's other
 * threads') stay the host's, and the thread ends with it. */
typedef struct {
	int fd;
	const char *name;
	int rc, err;
} uts_job;

static void *uts_main(void *arg)
{
	uts_job *j = arg;
	j->rc = setns(j->fd, CLONE_NEWUTS) == 0 && sethostname(j->name, strlen(j->name)) == 0 ? 0 : -1;
	j->err = errno;
	return NULL;
}

static int set_hostname(srv_box *box, const char *name, char *err)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/ns/uts", (int)box->init_pid);
	uts_job j = {.fd = open(p, O_RDONLY | O_CLOEXEC), .name = name, .rc = -1};
	if (j.fd < 0) {
		srv_errf(err, errno, "open %s", p);
		return -1;
	}
	pthread_t t;
	int prc = pthread_create(&t, NULL, uts_main, &j);
	if (prc == 0)
		pthread_join(t, NULL);
	close(j.fd);
	if (prc != 0 || j.rc != 0) {
		srv_errf(err, prc ? prc : j.err, "hostname");
		return -1;
	}
	return 0;
}

/* The scratch tmpfs (writable layer, /tmp, /dev/shm: one superblock)
 * resized through its /tmp mount, found from the box's root fd: fspick
 * and a reconfigure change the superblock's size only, never the
 * mounts' flags (nosuid, nodev stay). */
static int set_tmpfs_size(srv_box *box, int64_t bytes, char *err)
{
	int fd = (int)syscall(SYS_fspick, box->root_fd, "tmp",
	                      FSPICK_CLOEXEC | FSPICK_NO_AUTOMOUNT | FSPICK_SYMLINK_NOFOLLOW);
	if (fd < 0) {
		srv_errf(err, errno, "fspick /tmp");
		return -1;
	}
	char v[32];
	snprintf(v, sizeof v, "%lld", (long long)bytes);
	int rc = syscall(SYS_fsconfig, fd, FSCONFIG_SET_STRING, "size", v, 0) == 0 &&
	                 syscall(SYS_fsconfig, fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) == 0
	         ? 0
	         : -1;
	if (rc != 0)
		srv_errf(err, errno, "tmpfs size %s", v);
	close(fd);
	return rc;
}

int srv_box_respec(srv_box *box, const srv_box_spec *spec, char *err)
{
	srv_rt *rt = box->rt;
	const char *why = NULL;
	char lower[PATH_MAX];
	struct stat st;
	int64_t uid = spec->uid > 0 || spec->gid > 0 ? spec->uid : -1;
	int64_t gid = spec->uid > 0 || spec->gid > 0 ? spec->gid : -1;
	int64_t tmpfs = spec->disk_bytes > 0     ? spec->disk_bytes
	                : spec->memory_bytes > 0 ? spec->memory_bytes
	                                         : SRV_DEFAULT_DISK_BYTES;
	/* What init or the clone fixed: only the same value will do. */
	if (box->dead || box->adopted || box->net || box->made.egress || spec->egress)
		why = "egress or a used box";
	else if (spec->lowers || !box->made.lower[0] || !spec->image || strcmp(spec->image, "host") == 0)
		why = "not the same directory image";
	else if (box_mode(rt, spec->owner) != box->userns || spec->owner != box->made.owner)
		why = "another owner";
	else if (uid != box->made.uid || gid != box->made.gid)
		why = "another user inside";
	else if ((spec->max_file_bytes > 0 ? spec->max_file_bytes : 0) != box->made.fsize ||
	         (spec->output_quota > 0 ? spec->output_quota : 0) != box->made.out_quota ||
	         (spec->min_free_bytes > 0 ? spec->min_free_bytes : 0) != box->made.min_free)
		why = "other output caps";
	else if (rt->nhide != box->made.nhide)
		why = "other hidden paths";
	else if (find_image(rt, spec->image, lower, sizeof lower) != 0 || strcmp(lower, box->made.lower) != 0 ||
	         stat(lower, &st) != 0 || st.st_dev != box->made.dev || st.st_ino != box->made.ino)
		why = "the image changed";
	/* Limits a cgroup can take now; lifting one the box has is not
	 * offered (a box is made with the server's defaults only). */
	else if ((box->made.cpu_millis > 0 && spec->cpu_millis == 0) ||
	         (box->made.memory_bytes > 0 && spec->memory_bytes == 0))
		why = "fewer limits";
	else if (!box->cg && (spec->memory_bytes > 0 || spec->cpu_millis > 0 || spec->max_pids > 0))
		why = "limits without cgroups";
	if (why) {
		srv_errf(err, 0, "box %s cannot serve this spec: %s", box->id, why);
		return -1;
	}
	if ((spec->cpu_millis != box->made.cpu_millis || spec->memory_bytes != box->made.memory_bytes ||
	     spec->max_pids != box->made.max_pids) &&
	    srv_cg_box_set_limits(box->cg, spec->cpu_millis, spec->memory_bytes, spec->max_pids, spec->max_pids > 0,
	                          err) != 0)
		return -1;
	box->made.cpu_millis = spec->cpu_millis;
	box->made.memory_bytes = spec->memory_bytes;
	box->made.max_pids = spec->max_pids;
	if (tmpfs != box->made.tmpfs_bytes) {
		if (set_tmpfs_size(box, tmpfs, err) != 0)
			return -1;
		box->made.tmpfs_bytes = tmpfs;
	}
	char hostname[65];
	snprintf(hostname, sizeof hostname, "%s", spec->hostname && spec->hostname[0] ? spec->hostname : spec->id);
	if (strcmp(hostname, box->made.hostname) != 0) {
		if (set_hostname(box, hostname, err) != 0)
			return -1;
		memcpy(box->made.hostname, hostname, sizeof hostname);
	}
	return 0;
}

const char *srv_box_id(const srv_box *box)
{
	return box->id;
}

/* ------------------------------------------------------------ live restore */

int srv_rt_live(const srv_rt *rt)
{
	return rt->live;
}

int srv_box_live(const srv_box *box)
{
	return box->live && !box->net;
}

/* The box's id map as its init's /proc says: no user namespace is the
 * whole range mapped onto itself. */
static void adopt_ids(srv_box *box)
{
	char p[64], buf[256];
	unsigned long long in, out[2] = {0, 0}, cnt[2] = {0, 0};
	for (int k = 0; k < 2; k++) {
		snprintf(p, sizeof p, "/proc/%d/%s", (int)box->init_pid, k ? "gid_map" : "uid_map");
		if (srv_read_file(p, buf, sizeof buf) < 0 || sscanf(buf, "%llu %llu %llu", &in, &out[k], &cnt[k]) != 3)
			cnt[k] = 0;
	}
	if (cnt[0] == 0 || cnt[0] == 4294967295ULL) {
		box->userns = SRV_USERNS_NONE;
		return; /* uid_base/gid_base stay sbxd's own */
	}
	box->userns = cnt[0] == 1 && box->rt->rootless ? SRV_USERNS_SINGLE : SRV_USERNS_RANGE;
	box->uid_base = (int64_t)out[0];
	box->gid_base = (int64_t)out[1];
	box->id_count = (uint32_t)(cnt[0] < cnt[1] ? cnt[0] : cnt[1]);
}

static int adopted_has(const char *id, void *ctx)
{
	const srv_rt *rt = ctx;
	for (size_t i = 0; i < rt->nadopted; i++)
		if (strcmp(rt->adopted[i], id) == 0)
			return 1;
	return 0;
}

int srv_box_adopt(srv_rt *rt, const char *id, srv_box **out, char *err)
{
	int c = -1, ctl[2] = {-1, -1}, evt[2] = {-1, -1}, fds[2] = {-1, -1}, nfds = 0, bad = 0;
	srv_box *box = NULL;
	live_key key;
	char name[MAX_ID + 8];
	struct sockaddr_un a;
	*out = NULL;
	memset(&key, 0, sizeof key);
	if (!rt->live) {
		srv_errf(err, 0, "live restore is off");
		return -1;
	}
	if (!id || !valid_name(id, MAX_ID) || live_name(name, sizeof name, id, "key") != 0 ||
	    live_addr(rt, id, &a) != 0) {
		srv_errf(err, 0, "invalid sandbox id");
		return -1;
	}
	int kf = openat(rt->live_dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = kf >= 0 ? read(kf, &key, sizeof key) : -1;
	if (kf >= 0)
		close(kf);
	if (n != (ssize_t)sizeof key || memcmp(key.magic, "sbxlive", 8) != 0) {
		srv_errf(err, 0, "it was not made restorable (no live key: an sbxd with --no-live-restore, or its "
		         "init is gone)");
		goto fail;
	}
	if (key.version != SRV_LIVE_VERSION) {
		srv_errf(err, 0, "its init speaks live-restore version %u, this sbxd %u", key.version,
		         SRV_LIVE_VERSION);
		goto fail;
	}
	if (key.egress) {
		srv_errf(err, 0, "its egress network stack (slirp4netns) ended with the sbxd that made it");
		goto fail;
	}
	c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0) {
		srv_errf(err, errno, "its init is gone");
		goto fail;
	}
	struct ucred cred;
	socklen_t cl = sizeof cred;
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cred.pid <= 0) {
		srv_errf(err, errno, "the pid of its init");
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, evt) != 0) {
		srv_errf(err, errno, "socketpair");
		goto fail;
	}
	srv_msg_adopt m;
	memset(&m, 0, sizeof m);
	m.type = SRV_MSG_ADOPT;
	m.version = SRV_LIVE_VERSION;
	memcpy(m.secret, key.secret, sizeof m.secret);
	int give[2] = {ctl[1], evt[1]};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} cm;
	memset(&cm, 0, sizeof cm);
	struct iovec iov = {&m, sizeof m};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof cm.buf;
	struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
	ch->cmsg_level = SOL_SOCKET;
	ch->cmsg_type = SCM_RIGHTS;
	ch->cmsg_len = CMSG_LEN(sizeof give);
	memcpy(CMSG_DATA(ch), give, sizeof give);
	n = sendmsg(c, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	explicit_bzero(&m, sizeof m);
	if (n != (ssize_t)sizeof m) {
		srv_errf(err, errno, "send to its init");
		goto fail;
	}
	close(ctl[1]);
	close(evt[1]);
	ctl[1] = evt[1] = -1;
	srv_msg_adopted r;
	for (;;) {
		struct pollfd p = {ctl[0], POLLIN, 0};
		int prc = poll(&p, 1, REPLY_TIMEOUT_MS);
		if (prc < 0 && errno == EINTR)
			continue;
		if (prc == 0) {
			srv_errf(err, ETIMEDOUT, "its init did not answer (frozen, or refused the key)");
			goto fail;
		}
		n = srv_proto_recv_fds(ctl[0], &r, sizeof r, fds, 2, &nfds, &bad);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n != (ssize_t)sizeof r || r.type != SRV_MSG_ADOPTED || nfds != 2 || bad || r.next_token < 1) {
		srv_errf(err, 0, "its init refused this sbxd");
		goto fail;
	}
	box = calloc(1, sizeof *box);
	if (!box) {
		srv_errf(err, ENOMEM, "sandbox");
		goto fail;
	}
	box->rt = rt;
	memcpy(box->id, id, strlen(id) + 1);
	box->init_pid = cred.pid;
	box->ctl = ctl[0];
	box->evt = evt[0];
	ctl[0] = evt[0] = -1;
	box->root_fd = fds[0];
	box->mnt_fd = fds[1];
	nfds = 0;
	box->userns_fd = box->netns_fd = -1;
	box->uid_base = geteuid();
	box->gid_base = getegid();
	box->next_token = r.next_token;
	box->live = 1;
	box->adopted = 1;
	box->pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0);
	adopt_ids(box);
	if (srv_cg_box_open(rt->cg, id, &box->cg, err) != 0)
		goto fail;
	char **na = realloc(rt->adopted, (rt->nadopted + 1) * sizeof *na);
	char *dup = strdup(id);
	if (!na || !dup) {
		if (na)
			rt->adopted = na;
		free(dup);
		srv_errf(err, ENOMEM, "adopt");
		goto fail;
	}
	rt->adopted = na;
	rt->adopted[rt->nadopted++] = dup;
	explicit_bzero(&key, sizeof key);
	close(c);
	*out = box;
	return 0;
fail:
	explicit_bzero(&key, sizeof key);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	for (int i = 0; i < 2; i++) {
		if (ctl[i] >= 0)
			close(ctl[i]);
		if (evt[i] >= 0)
			close(evt[i]);
	}
	if (c >= 0)
		close(c);
	if (box) {
		/* Not ours after all: the sweep ends it with the rest. */
		srv_box_release(box);
	}
	return -1;
}

void srv_rt_sweep(srv_rt *rt)
{
	if (!rt->live)
		return;
	if (rt->cg)
		srv_cg_sweep(rt->cg, adopted_has, rt);
	live_clean(rt, adopted_has, rt);
	for (size_t i = 0; i < rt->nadopted; i++)
		free(rt->adopted[i]);
	free(rt->adopted);
	rt->adopted = NULL;
	rt->nadopted = 0;
}

void srv_box_release(srv_box *box)
{
	if (!box)
		return;
	srv_net_stop(box->net);
	int fds[] = {box->ctl, box->evt, box->root_fd, box->userns_fd, box->netns_fd, box->mnt_fd, box->pidfd};
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	srv_cg_box_release(box->cg);
	free(box->reqbuf);
	free(box);
}
