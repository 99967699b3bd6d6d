/*
 * sbxfs's log sinks (see log.h): stderr, an appended file, or syslog. The
 * syslog client is written here instead of using syslog(3) because glibc's
 * always talks to /dev/log: -o syslog_socket= lets a system with its log
 * socket elsewhere (a container, journald's /run/systemd/journal/dev-log)
 * and the tests point it at another socket. Lines are the RFC 3164 form
 * syslog(3) sends ("<PRI>Mmm dd hh:mm:ss sbxfs[PID]: text"), one datagram
 * each; a log daemon that restarted is reconnected to on the next line.
 * Logging never fails the caller: a line that cannot be written is dropped.
 */
#define FUSE_USE_VERSION 312

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fuse_log.h>

#define LOG_LINE_MAX 2048       /* longer messages are cut */
#define LOG_DEFAULT_SOCKET "/dev/log"

enum sink { SINK_STDERR, SINK_FILE, SINK_SYSLOG };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static enum sink sink = SINK_STDERR;
static int attached = 1;
static int file_fd = -1;
static int sock_fd = -1;
static struct sockaddr_un sock_addr;

static const char *level_word(int prio)
{
	switch (prio) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT: return "fatal";
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static int sock_connect_locked(void)
{
	if (sock_fd >= 0)
		return 0;
	/* Datagrams as syslogd and journald take them; SOCK_STREAM log
	 * sockets are rare enough to go unsupported. */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sock_addr, sizeof sock_addr) != 0) {
		close(fd);
		return -1;
	}
	sock_fd = fd;
	return 0;
}

static void syslog_send_locked(int prio, const char *text)
{
	char line[LOG_LINE_MAX + 128], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
	int n = snprintf(line, sizeof line, "<%d>%s sbxfs[%d]: %s", LOG_DAEMON | (prio & LOG_PRIMASK), stamp,
			 (int)getpid(), text);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (sock_connect_locked() != 0)
			return;
		if (send(sock_fd, line, len, MSG_NOSIGNAL) >= 0)
			return;
		/* The daemon went away or restarted: a fresh socket once. */
		close(sock_fd);
		sock_fd = -1;
	}
}

static void file_write_locked(const char *text)
{
	char line[LOG_LINE_MAX + 128], stamp[40];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(line, sizeof line, "%s.%03ldZ sbxfs[%d]: %s\n", stamp, ts.tv_nsec / 1000000, (int)getpid(),
			 text);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
	if (line[len - 1] != '\n')
		line[len - 1] = '\n';
	/* One write per line: O_APPEND keeps lines whole across threads
	 * and other writers of the same file. */
	write_all(file_fd, line, len);
}

/* text: one line without its newline. raw: as libfuse gave it (for
 * stderr, where it has always been printed verbatim). */
static void emit(int prio, const char *text, const char *raw)
{
	pthread_mutex_lock(&mu);
	int to_stderr = sink == SINK_STDERR || attached;
	if (to_stderr) {
		if (raw) {
			write_all(STDERR_FILENO, raw, strlen(raw));
		} else {
			char line[LOG_LINE_MAX + 32];
			int n = snprintf(line, sizeof line, "sbxfs: %s\n", text);
			if (n > 0)
				write_all(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		}
	}
	if (sink == SINK_FILE)
		file_write_locked(text);
	else if (sink == SINK_SYSLOG)
		syslog_send_locked(prio, text);
	pthread_mutex_unlock(&mu);
}

void fs_vlog(int prio, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], text[LOG_LINE_MAX + 16];
	vsnprintf(msg, sizeof msg, fmt, ap);
	snprintf(text, sizeof text, "%s: %s", level_word(prio), msg);
	emit(prio, text, NULL);
}

void fs_log(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fs_vlog(prio, fmt, ap);
	va_end(ap);
}

/* libfuse's levels are syslog's numbers. (Its format comes from libfuse, as
 * printf's: the attribute tells clang so.) */
__attribute__((format(printf, 2, 0))) static void fuse_log_cb(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char raw[LOG_LINE_MAX], text[LOG_LINE_MAX];
	vsnprintf(raw, sizeof raw, fmt, ap);
	size_t n = strlen(raw);
	memcpy(text, raw, n + 1);
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	if (n == 0)
		return;
	emit((int)level, text, raw);
}

int fs_log_open(const char *log_file, const char *syslog_socket, int foreground)
{
	const char *path = syslog_socket ? syslog_socket : LOG_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof sock_addr.sun_path)
		return -ENAMETOOLONG;
	if (log_file) {
		int fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
		if (fd < 0)
			return -errno;
		pthread_mutex_lock(&mu);
		file_fd = fd;
		sink = SINK_FILE;
		pthread_mutex_unlock(&mu);
	} else if (!foreground) {
		pthread_mutex_lock(&mu);
		sock_addr.sun_family = AF_UNIX;
		memcpy(sock_addr.sun_path, path, strlen(path) + 1);
		sink = SINK_SYSLOG;
		/* Connect now, before the daemon changes to "/": a missing log
		 * socket is tried again at every line. */
		sock_connect_locked();
		pthread_mutex_unlock(&mu);
	}
	fuse_set_log_func(fuse_log_cb);
	return 0;
}

void fs_log_detach(void)
{
	pthread_mutex_lock(&mu);
	attached = 0;
	pthread_mutex_unlock(&mu);
}

void fs_log_close(void)
{
	pthread_mutex_lock(&mu);
	if (file_fd >= 0)
		close(file_fd);
	if (sock_fd >= 0)
		close(sock_fd);
	file_fd = sock_fd = -1;
	sink = SINK_STDERR;
	attached = 1;
	pthread_mutex_unlock(&mu);
}
