/*
 * Small file helpers shared by the runtime's modules: whole-file writes and
 * reads for cgroup and proc files, recursive removal of scratch dirs, and
 * the err-buffer formatter every runtime function reports failures with.
 */
#ifndef SRV_UTIL_H
#define SRV_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes s to an existing file (O_WRONLY, no create). 0 or -1 with errno. */
int srv_write_file(const char *path, const char *s);

/* Reads up to cap-1 bytes of a file into buf, NUL-terminated. Returns the
 * length or -1 with errno. */
long srv_read_file(const char *path, char *buf, size_t cap);

/* Finds "key N" on a line of text (as in memory.events) and parses N with
 * a range check. Returns 0 and sets *out, or -1. */
int srv_find_counter(const char *text, const char *key, int64_t *out);

/* Removes a tree without crossing mount points. 0 or -1 with errno. */
int srv_rm_rf(const char *path);

/* snprintf into err (SRV_ERRLEN); appends ": strerror(errnum)" if errnum. */
void srv_errf(char *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Joins a and b with one '/'; -1 if it does not fit in cap. */
int srv_path_join(char *out, size_t cap, const char *a, const char *b);

/* fork()-like clone with ns_flags (namespaces, CLONE_PARENT) and
 * exit_signal, born straight into the cgroup2 cgroup cgfd when cgfd >= 0
 * and the kernel can (*into = 1: one cgroup.procs write, and its grace
 * period, fewer); else a plain clone. Returns 0 in the child, -1 + errno. */
pid_t srv_clone(uint64_t ns_flags, int exit_signal, int cgfd, int *into);

/* Every signal back to its default and none blocked, so sbxd's handlers,
 * ignores and sigwait mask do not leak into a child (system calls only:
 * safe in a vfork-like child). */
void srv_signals_reset(void);

/* For a child of sbxd starting afresh (the zygote, an init):
 * srv_signals_reset, fds 0-2 on /dev/null, every other fd but keep_a and
 * keep_b (may be equal) closed. Allocates nothing. */
void srv_child_reset(int keep_a, int keep_b);
/* The same keeping three fds (-1: none). */
void srv_child_reset3(int keep_a, int keep_b, int keep_c);

#endif
