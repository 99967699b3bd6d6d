/*
 * Scratch volumes (volume.h): spec.volumes[].scratch as tmpfs mounts under
 * STATE_DIR/volumes/<sandboxId>/<name>, attached at their mountPaths in
 * the box's mount namespace before its command starts, files[] written
 * then, and everything removed with the record. The layout and its
 * lifetime are volume.h's contract with the filesystem snapshots.
 */
#include "volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "files.h"
#include "runtime/util.h"

static char vol_root[4096]; /* STATE_DIR/volumes */
static srv_volume_hooks hooks;

void srv_volume_set_hooks(const srv_volume_hooks *h)
{
	memset(&hooks, 0, sizeof hooks);
	if (h)
		hooks = *h;
}

static const srv_volume_spec *vol_of(const srv_spec *sp, const char *name)
{
	for (size_t i = 0; name && i < sp->nvols; i++)
		if (strcmp(sp->vols[i].name, name) == 0)
			return &sp->vols[i];
	return NULL;
}

static int vol_path(char *out, size_t cap, const char *id, const char *name)
{
	int n = name ? snprintf(out, cap, "%s/%s/%s", vol_root, id, name) : snprintf(out, cap, "%s/%s", vol_root, id);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int srv_volume_dir(const srv_sbx *s, const char *name, char *out, size_t cap)
{
	if (!vol_of(&s->spec, name) || !vol_root[0])
		return -ENOENT;
	int rc = vol_path(out, cap, s->id, name);
	if (rc)
		return rc;
	struct stat st;
	if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode))
		return -ENOENT;
	return 0;
}

int srv_volume_remove_dir(const char *dir)
{
	/* MNT_DETACH: a finished sandbox's kept mount namespace may still
	 * hold a bind of it; the tmpfs goes with the last one. */
	if (umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
		return -errno;
	if (rmdir(dir) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Every volume dir under STATE_DIR/volumes/<id>, then the dir itself. */
static void remove_all(const char *id)
{
	char p[4200], q[4500];
	if (vol_path(p, sizeof p, id, NULL) != 0)
		return;
	DIR *d = opendir(p);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (srv_path_join(q, sizeof q, p, e->d_name) == 0 && srv_volume_remove_dir(q) != 0)
			fprintf(stderr, "sbxd: warning: cannot remove volume %s: %s\n", q, strerror(errno));
	}
	closedir(d);
	if (rmdir(p) != 0 && errno != ENOENT)
		fprintf(stderr, "sbxd: warning: cannot remove %s: %s\n", p, strerror(errno));
}

int srv_volumes_init(const char *state_dir, int (*has_record)(const char *id), char *err)
{
	int n = snprintf(vol_root, sizeof vol_root, "%s/volumes", state_dir);
	if (n < 0 || (size_t)n >= sizeof vol_root - 200) {
		vol_root[0] = '\0';
		snprintf(err, SRV_MSGLEN, "state dir path too long for volumes");
		return -1;
	}
	if (mkdir(vol_root, 0700) != 0 && errno != EEXIST) {
		snprintf(err, SRV_MSGLEN, "mkdir %.200s: %s", vol_root, strerror(errno));
		vol_root[0] = '\0';
		return -1;
	}
	/* Volumes of records that are gone (purged while sbxd was down, a
	 * crash between the record's removal and the volumes'). */
	DIR *d = opendir(vol_root);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && srv_valid_id(e->d_name) && !has_record(e->d_name))
			remove_all(e->d_name);
	closedir(d);
	return 0;
}

int srv_volumes_make(srv_sbx *s, int64_t mem_bytes, char *err)
{
	char p[4200];
	if (!s->spec.nvols)
		return 0;
	if (!vol_root[0] || vol_path(p, sizeof p, s->id, NULL) != 0) {
		snprintf(err, SRV_MSGLEN, "volumes: no volume dir");
		return -1;
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST) {
		snprintf(err, SRV_MSGLEN, "volumes: mkdir %.200s: %s", p, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < s->spec.nvols; i++) {
		const srv_volume_spec *v = &s->spec.vols[i];
		char opts[96];
		if (vol_path(p, sizeof p, s->id, v->name) != 0) {
			snprintf(err, SRV_MSGLEN, "volume %.63s: path too long", v->name);
			return -1;
		}
		/* tmpfs size= makes a write past it ENOSPC inside; mode 0777 as
		 * an emptyDir, so any uid of the image may write. Pages the box
		 * writes are charged to its memory cgroup, those of sbxd's file
		 * calls and restores to sbxd's: without the cap, one
		 * :allocateFile held 200 MiB of host memory in a 256Mi volume of
		 * a box limited to 32Mi (64Gi volumes: the host's RAM). */
		int64_t size = mem_bytes > 0 && mem_bytes < v->size_bytes ? mem_bytes : v->size_bytes;
		snprintf(opts, sizeof opts, "size=%lld,mode=0777", (long long)size);
		if ((mkdir(p, 0700) != 0 && errno != EEXIST) ||
		    mount("sbxd-volume", p, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
			snprintf(err, SRV_MSGLEN, "volume %.63s: %s (scratch volumes need sbxd to run as root)",
			         v->name, strerror(errno));
			return -1;
		}
		if (v->restore_from && *v->restore_from) {
			char herr[SRV_MSGLEN] = "";
			if (!hooks.restore) {
				snprintf(err, SRV_MSGLEN, "volume %.63s: restoreFromSnapshotId: no snapshots here",
				         v->name);
				return -1;
			}
			if (hooks.restore(s->id, v->name, v->restore_from, p, herr) != 0) {
				snprintf(err, SRV_MSGLEN, "volume %.63s: restore from %.40s: %.100s", v->name,
				         v->restore_from, herr);
				return -1;
			}
		}
	}
	return 0;
}

void srv_volumes_remove(srv_sbx *s)
{
	char p[4200];
	if (!s->spec.nvols || !vol_root[0])
		return;
	for (size_t i = 0; i < s->spec.nvols; i++) {
		if (vol_path(p, sizeof p, s->id, s->spec.vols[i].name) != 0)
			continue;
		if (hooks.before_remove && hooks.before_remove(s, s->spec.vols[i].name, p) == 1)
			continue;
		if (srv_volume_remove_dir(p) != 0)
			fprintf(stderr, "sbxd: warning: cannot remove volume %s: %s\n", p, strerror(errno));
	}
	if (vol_path(p, sizeof p, s->id, NULL) == 0 && rmdir(p) != 0 && errno != ENOENT && errno != ENOTEMPTY)
		fprintf(stderr, "sbxd: warning: cannot remove %s: %s\n", p, strerror(errno));
}

/* ------------------------------------------------------------ attaching */

/* The work of srv_volumes_attach, done on a thread of its own: it leaves
 * sbxd's file system context (unshare CLONE_FS) to join the box's mount
 * namespace, which a thread sharing sbxd's could not, and ends there. */
typedef struct attach_job {
	const srv_spec *sp;
	const char *id;
	int mntns, root, userns;     /* fds; userns -1: no idmap */
	uid_t uid;                   /* the box's root on the host */
	gid_t gid;
	int ranged;                  /* the box has a uid range: fs ids switch */
	int rc;                      /* 0, -1 sbxd's trouble, -2 the spec's */
	char field[SRV_FIELDLEN];
	char err[SRV_MSGLEN];
} attach_job;

static int job_fail(attach_job *j, int rc, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int job_fail(attach_job *j, int rc, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->err, sizeof j->err, fmt, ap);
	va_end(ap);
	snprintf(j->field, sizeof j->field, "%s", field ? field : "");
	j->rc = rc;
	return rc;
}

static int open_in_root(int root, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, root, path, &how, sizeof how);
	return fd < 0 ? -errno : (int)fd;
}

/* mkdir -p of path (absolute, normalised) inside root, each component
 * resolved inside the root (a symlink anywhere leads inside, never out);
 * new dirs are 0755 and belong to the thread's fs ids (the box's root).
 * The last dir as an O_PATH fd, or -errno. */
static int mkdirs_in(int root, const char *path)
{
	char pre[SRV_MAX_PATH];
	size_t n = strlen(path);
	if (n >= sizeof pre)
		return -ENAMETOOLONG;
	for (size_t i = 1; i <= n; i++) {
		if (i < n && path[i] != '/')
			continue;
		memcpy(pre, path, i);
		pre[i] = '\0';
		int fd = open_in_root(root, pre, O_PATH | O_DIRECTORY);
		if (fd == -ENOENT) {
			int rc = srv_file_mkdir(root, pre, 0755);
			if (rc != 0 && rc != -EEXIST)
				return rc;
			fd = open_in_root(root, pre, O_PATH | O_DIRECTORY);
		}
		if (fd < 0)
			return fd;
		if (i == n)
			return fd;
		close(fd);
	}
	return open_in_root(root, "/", O_PATH | O_DIRECTORY);
}

static int pseudo_fs(int fd)
{
	struct statfs sf;
	if (fstatfs(fd, &sf) != 0)
		return 1;
	static const unsigned long bad[] = {0x9fa0 /* proc */, 0x62656572 /* sysfs */, 0x27e0eb /* cgroup */,
		0x63677270 /* cgroup2 */, 0x64626720 /* debugfs */, 0x73636673 /* securityfs */,
		0x74726163 /* tracefs */, 0xcafe4a11 /* bpf */, 0x1cd1 /* devpts */, 0x65735546 /* fuse */};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if ((unsigned long)sf.f_type == bad[i])
			return 1;
	return 0;
}

/* The source of one mount: the volume dir, or subPath in it (made when
 * missing, no symlink followed and no mount crossed on the way), as a
 * detached clone with nosuid, nodev, read-only and the box's idmap. */
static int mount_source(attach_job *j, const srv_vmount *m, const char *field)
{
	char p[4200];
	if (vol_path(p, sizeof p, j->id, m->volume) != 0)
		return job_fail(j, -1, NULL, "volume %.63s: path too long", m->volume);
	int dfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return job_fail(j, -1, NULL, "volume %.63s: %s", m->volume, strerror(errno));
	for (const char *c = m->sub_path; *c;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		char comp[256];
		memcpy(comp, c, n);
		comp[n] = '\0';
		/* On disk the uid is the sandbox's own (the mount is idmapped):
		 * made by sbxd as 0, root's inside. */
		if (mkdirat(dfd, comp, 0777) == 0)
			(void)fchmodat(dfd, comp, 0777, 0);
		struct open_how how = {
			.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
		};
		int nfd = (int)syscall(SYS_openat2, dfd, comp, &how, sizeof how);
		int er = errno;
		close(dfd);
		if (nfd < 0)
			return job_fail(j, -2, field, "%s %.200s: %s inside volume %.63s", field, m->sub_path,
			                strerror(er), m->volume);
		dfd = nfd;
		c = e ? e + 1 : c + n;
	}
	int t = (int)syscall(SYS_open_tree, dfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	int er = errno;
	close(dfd);
	if (t < 0)
		return job_fail(j, -1, NULL, "volume %.63s: open_tree: %s", m->volume, strerror(er));
	struct mount_attr a = {
		.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (m->read_only ? MOUNT_ATTR_RDONLY : 0),
	};
	if (j->userns >= 0) {
		a.attr_set |= MOUNT_ATTR_IDMAP;
		a.userns_fd = (uint64_t)j->userns;
	}
	if (syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH, &a, sizeof a) != 0) {
		er = errno;
		close(t);
		return job_fail(j, -1, NULL, "volume %.63s: mount_setattr: %s", m->volume, strerror(er));
	}
	return t;
}

static void *attach_main(void *arg)
{
	attach_job *j = arg;
	const srv_spec *sp = j->sp;
	char field[SRV_FIELDLEN];
	int srcs[SRV_MAX_VMOUNTS];
	size_t nsrc = 0;
	struct stat rst;
	/* The sources first, in sbxd's own mount namespace (the state dir is
	 * covered in the box's) and as sbxd itself: a subPath made here is
	 * uid 0 on disk, which the idmapped mount shows as root inside. */
	for (; nsrc < sp->nvmounts && nsrc < SRV_MAX_VMOUNTS; nsrc++) {
		snprintf(field, sizeof field, "spec.containers[0].volumeMounts[%zu].subPath", nsrc);
		if ((srcs[nsrc] = mount_source(j, &sp->vmounts[nsrc], field)) < 0)
			goto out;
	}
	if (j->ranged) {
		/* New files and dirs must be the box root's (host root is no
		 * one inside); the bit keeps this thread's capabilities. */
		int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
		if (bits < 0 || prctl(PR_SET_SECUREBITS, (unsigned long)bits | SECBIT_NO_SETUID_FIXUP, 0, 0, 0) != 0) {
			job_fail(j, -1, NULL, "volumes: securebits: %s", strerror(errno));
			goto out;
		}
		setfsgid(j->gid);
		setfsuid(j->uid);
	}
	if (fstat(j->root, &rst) != 0) {
		job_fail(j, -1, NULL, "volumes: the sandbox's root: %s", strerror(errno));
		goto out;
	}
	if (nsrc && (unshare(CLONE_FS) != 0 || setns(j->mntns, CLONE_NEWNS) != 0)) {
		job_fail(j, -1, NULL, "volumes: join the sandbox's mount namespace: %s", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < nsrc; i++) {
		const srv_vmount *m = &sp->vmounts[i];
		snprintf(field, sizeof field, "spec.containers[0].volumeMounts[%zu].mountPath", i);
		int dst = mkdirs_in(j->root, m->mount_path);
		struct stat dstst;
		if (dst < 0) {
			job_fail(j, -2, field, "%s %.200s: %s inside the sandbox", field, m->mount_path, strerror(-dst));
			goto out;
		}
		/* Through a symlink it may lead anywhere inside, but never onto
		 * the root itself or a kernel file system. */
		if (pseudo_fs(dst) || fstat(dst, &dstst) != 0 ||
		    (dstst.st_dev == rst.st_dev && dstst.st_ino == rst.st_ino)) {
			close(dst);
			job_fail(j, -2, field, "%s %.200s leads to the sandbox's root or a kernel file system", field,
			         m->mount_path);
			goto out;
		}
		int rc = (int)syscall(SYS_move_mount, srcs[i], "", dst, "",
		                      MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
		int er = errno;
		close(dst);
		if (rc != 0) {
			job_fail(j, -1, field, "%s %.200s: move_mount: %s", field, m->mount_path, strerror(er));
			goto out;
		}
	}
	/* Files after the volumes: one under a mountPath lands in it. */
	for (size_t i = 0; i < sp->nfiles; i++) {
		const srv_filemount *f = &sp->files[i];
		snprintf(field, sizeof field, "spec.containers[0].files[%zu].path", i);
		char parent[SRV_MAX_PATH];
		snprintf(parent, sizeof parent, "%s", f->path);
		char *slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			int d = mkdirs_in(j->root, parent);
			if (d < 0) {
				job_fail(j, -2, field, "%s %.200s: its directory: %s", field, f->path, strerror(-d));
				goto out;
			}
			close(d);
		}
		int rc = srv_file_write(j->root, f->path, f->data, f->len, -1, 0, 1, 0644);
		if (rc != 0) {
			const char *why = rc == -SRV_EPSEUDO   ? "on a kernel file system"
			                  : rc == -SRV_ENOTREG ? "not a regular file"
			                                       : strerror(-rc);
			job_fail(j, -2, field, "%s %.200s: %s", field, f->path, why);
			goto out;
		}
	}
	j->rc = 0;
out:
	for (size_t i = 0; i < nsrc; i++)
		close(srcs[i]);
	return NULL;
}

int srv_volumes_attach(srv_sbx *s, srv_box *box, char *field, char *err)
{
	const srv_spec *sp = &s->spec;
	field[0] = '\0';
	if (!sp->nvmounts && !sp->nfiles)
		return 0;
	attach_job j = {.sp = sp, .id = s->id, .mntns = -1, .root = -1, .userns = -1, .rc = -1};
	int mode = srv_box_userns(box);
	j.root = srv_box_open_root(box);
	if (sp->nvmounts)
		j.mntns = srv_box_open_mntns(box);
	if (j.root < 0 || (sp->nvmounts && j.mntns < 0)) {
		snprintf(err, SRV_MSGLEN, "volumes: the sandbox's root or mount namespace is not known");
		goto out;
	}
	if (mode == SRV_USERNS_RANGE) {
		j.ranged = 1;
		j.uid = (uid_t)srv_box_uid_base(box);
		j.gid = (gid_t)srv_box_gid_base(box);
		if (sp->nvmounts) {
			char p[64];
			snprintf(p, sizeof p, "/proc/%d/ns/user", (int)srv_box_init_pid(box));
			if ((j.userns = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
				snprintf(err, SRV_MSGLEN, "volumes: open %s: %s", p, strerror(errno));
				goto out;
			}
		}
	} else if (mode == SRV_USERNS_SINGLE && sp->nvmounts) {
		snprintf(err, SRV_MSGLEN, "scratch volumes need sbxd to run as root");
		goto out;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, attach_main, &j) != 0) {
		snprintf(err, SRV_MSGLEN, "volumes: cannot start a thread");
		goto out;
	}
	pthread_join(t, NULL);
	snprintf(err, SRV_MSGLEN, "%s", j.err);
	snprintf(field, SRV_FIELDLEN, "%s", j.field);
out:
	if (j.root >= 0)
		close(j.root);
	if (j.mntns >= 0)
		close(j.mntns);
	if (j.userns >= 0)
		close(j.userns);
	return j.rc;
}
