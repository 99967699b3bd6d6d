/*
 * Where sbxfs's messages go. While the mount command is still attached
 * (before daemonizing, or always with -f) they go to standard error, as
 * before; a daemonized sbxfs, which has no terminal, logs to syslog (the
 * socket /dev/log unless -o syslog_socket= names another), or to the file
 * of -o log_file= when one is given. libfuse's own messages are routed
 * through here too, so none is lost once stderr is /dev/null.
 */
#ifndef FS_LOG_H
#define FS_LOG_H

#include <stdarg.h>
#include <syslog.h>

/* Opens the sink: log_file (appended to, created 0640) when not NULL,
 * else syslog on syslog_socket (NULL = /dev/log) when !foreground, else
 * stderr. Returns 0 or a negative errno (the file could not be opened).
 * Until fs_log_detach(), every message is also written to stderr. */
int fs_log_open(const char *log_file, const char *syslog_socket, int foreground);
/* The mount command is about to be left (fuse_daemonize): stderr stops
 * getting copies. */
void fs_log_detach(void);
void fs_log_close(void);

/* One line at a syslog priority (LOG_ERR, LOG_WARNING, LOG_NOTICE,
 * LOG_INFO, LOG_DEBUG); shown as "sbxfs: <level>: <text>". */
void fs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fs_vlog(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
