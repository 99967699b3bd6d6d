/*
 * The host paths a "host"-image sandbox must not see (hostmask.h). The
 * host's / is that sandbox's lower layer, so anything not covered here is
 * readable inside, and the sandbox is root with CAP_DAC_OVERRIDE: file
 * modes protect nothing. Hence a list that errs on the side of hiding:
 * login secrets, SSH keys, users' homes, /run (daemons' sockets and
 * runtime state), and every sbxd state dir, ours and other instances',
 * whose spools hold other sandboxes' output and whose records hold specs.
 */
#include "hostmask.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Fixed secrets. /tmp is not here: every sandbox gets its own (init binds
 * its scratch there), and init does the same for the host's /var/tmp. */
static const char *const fixed[] = {
	"/root", "/home", "/etc/ssh", "/run", "/var/run", "/var/lib/sbxd", "/var/lib/sudo",
	"/var/spool/cron", "/etc/ssl/private",
};

/* /etc entries whose name starts so: shadow, shadow-, gshadow, gshadow-,
 * sudoers, sudoers.d, sudoers.dist ... */
static const char *const etc_prefixes[] = {"shadow", "gshadow", "sudoers"};

#define LOCKS_MAX (1 << 20) /* /proc/locks read cap */

/* Adds the canonical form of path: init mounts on ROOT/path before
 * pivot_root, so a symlink in it (/var/run -> /run, an /etc/ssh that
 * points elsewhere) would be followed on the host's side, not masked. */
static int add(srv_hostmask *m, const char *path, char *err)
{
	char real[PATH_MAX];
	if (!realpath(path, real) || strcmp(real, "/") == 0)
		return 0; /* nothing to hide */
	path = real;
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->path[i], path) == 0)
			return 0;
	if (m->n >= SRV_HOSTMASK_MAX) {
		srv_errf(err, 0, "more than %d host paths to hide", SRV_HOSTMASK_MAX);
		return -1;
	}
	char *dup = strdup(path);
	if (!dup) {
		srv_errf(err, ENOMEM, "host mask");
		return -1;
	}
	m->path[m->n++] = dup;
	m->path[m->n] = NULL;
	return 1;
}

void srv_hostmask_clear(srv_hostmask *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n; i++)
		free(m->path[i]);
	memset(m, 0, sizeof *m);
}

/* The fd of process pid open on (maj:min, ino): its path, or -1. */
static int holder_path(long pid, unsigned maj, unsigned min, unsigned long long ino, char *out, size_t cap)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%ld/fd", pid);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int rc = -1;
	while ((e = readdir(d)) != NULL) {
		char p[96];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p || stat(p, &st) != 0)
			continue;
		if (major(st.st_dev) != maj || minor(st.st_dev) != min || (unsigned long long)st.st_ino != ino)
			continue;
		ssize_t n = readlink(p, out, cap - 1);
		if (n <= 0 || (size_t)n >= cap - 1)
			continue;
		out[n] = '\0';
		rc = 0;
		break;
	}
	closedir(d);
	return rc;
}

int srv_hostmask_state_dirs(srv_hostmask *m, char *err)
{
	static const char lockname[] = "/sbxd.lock";
	char *buf = malloc(LOCKS_MAX);
	if (!buf) {
		srv_errf(err, ENOMEM, "host mask");
		return -1;
	}
	long len = srv_read_file("/proc/locks", buf, LOCKS_MAX);
	if (len < 0) {
		free(buf);
		return 0; /* no /proc/locks: only the fixed list */
	}
	int added = 0;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* "12: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF";
		 * blocked waiters read "12: -> FLOCK ..." and are skipped. */
		char type[16], kind[16], rw[16];
		long pid;
		unsigned maj, min;
		unsigned long long ino;
		const char *p = strchr(line, ':');
		if (!p || sscanf(p + 1, " %15s %15s %15s %ld %x:%x:%llu", type, kind, rw, &pid, &maj, &min, &ino) != 7)
			continue;
		if (strcmp(type, "FLOCK") != 0 || strcmp(rw, "WRITE") != 0 || pid <= 0)
			continue;
		char path[PATH_MAX];
		if (holder_path(pid, maj, min, ino, path, sizeof path) != 0)
			continue;
		size_t n = strlen(path), ln = sizeof lockname - 1;
		if (n <= ln || strcmp(path + n - ln, lockname) != 0)
			continue; /* some other lock, or "... (deleted)" */
		path[n - ln] = '\0';
		int rc = add(m, path, err);
		if (rc < 0) {
			free(buf);
			return -1;
		}
		added += rc;
	}
	free(buf);
	return added;
}

/* Whether path is one of m's directories or below one. */
static int covered(const srv_hostmask *m, const char *path)
{
	for (int i = 0; i < m->n; i++) {
		size_t n = strlen(m->path[i]);
		if (strncmp(path, m->path[i], n) == 0 && (path[n] == '/' || path[n] == '\0'))
			return 1;
	}
	return 0;
}

/* Unix sockets bound to a path, as /proc/net/unix lists them ("Num RefCount
 * Protocol Flags Type St Inode Path"): through the overlay a connect is
 * refused anyway, but their names and their existence are not the
 * sandbox's to see. Those under a hidden directory (/run, a state dir)
 * and the private /tmp and /var/tmp need no entry of their own. */
static int add_sockets(srv_hostmask *m, char *err)
{
	char *buf = malloc(LOCKS_MAX);
	if (!buf) {
		srv_errf(err, ENOMEM, "host mask");
		return -1;
	}
	long len = srv_read_file("/proc/net/unix", buf, LOCKS_MAX);
	int rc = 0;
	for (char *line = len > 0 ? buf : NULL, *next; line && *line && rc >= 0; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *path = strstr(line, " /");
		if (!path)
			continue;
		path++;
		if (covered(m, path) || strncmp(path, "/tmp/", 5) == 0 || strncmp(path, "/var/tmp/", 9) == 0)
			continue;
		rc = add(m, path, err);
	}
	free(buf);
	return rc < 0 ? -1 : 0;
}

int srv_hostmask_collect(srv_hostmask *m, char *err)
{
	memset(m, 0, sizeof *m);
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (add(m, fixed[i], err) < 0)
			goto fail;
	DIR *d = opendir("/etc");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			for (size_t i = 0; i < sizeof etc_prefixes / sizeof etc_prefixes[0]; i++) {
				char p[PATH_MAX];
				if (strncmp(e->d_name, etc_prefixes[i], strlen(etc_prefixes[i])) != 0 ||
				    srv_path_join(p, sizeof p, "/etc", e->d_name) != 0)
					continue;
				if (add(m, p, err) < 0) {
					closedir(d);
					goto fail;
				}
			}
		}
		closedir(d);
	}
	if (srv_hostmask_state_dirs(m, err) < 0 || add_sockets(m, err) < 0)
		goto fail;
	return 0;
fail:
	srv_hostmask_clear(m);
	return -1;
}
