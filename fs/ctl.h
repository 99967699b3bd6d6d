/*
 * Parsing of what users write to sbxfs's control files: the `ctl` verbs of a
 * sandbox (stop [GRACE], delete, snapshot [VOLUME]) and of a process (kill [SIGNAL], eof),
 * signal names and numbers, and small decimal numbers such as a process
 * directory name. Pure functions without I/O so they can be unit-tested and
 * fuzzed; everything here treats its input as untrusted bytes.
 */
#ifndef FS_CTL_H
#define FS_CTL_H

#include <stddef.h>
#include <stdint.h>

typedef enum fs_verb {
	FS_VERB_NONE = 0,
	FS_VERB_STOP,           /* sandbox: stop [GRACE_SECONDS] */
	FS_VERB_DELETE,         /* sandbox: delete */
	FS_VERB_KILL,           /* process: kill [SIGNAL] */
	FS_VERB_EOF,            /* process: eof (close stdin) */
	FS_VERB_SNAPSHOT,       /* sandbox: snapshot [VOLUME] */
} fs_verb;

typedef struct fs_ctl {
	fs_verb verb;
	int arg;                /* grace seconds (-1 = default) or signal number */
	const char *why;        /* on failure: what was wrong, for the error file */
	char name[64];          /* snapshot: the volume ("" none: the only one) */
} fs_ctl;

/* Which set of verbs a ctl file accepts. */
typedef enum fs_ctl_target { FS_CTL_SANDBOX, FS_CTL_PROCESS } fs_ctl_target;

/* Longest ctl text accepted; longer writes are EINVAL. */
#define FS_CTL_MAX 256
/* Largest grace period a user may ask for (the API's cap). */
#define FS_GRACE_MAX 300

/* Parses one command written to a ctl file: a verb, an optional argument,
 * surrounding blanks and one trailing newline allowed. Returns 0 and fills
 * *out, or -EINVAL (unknown verb, verb of the other target, bad argument,
 * extra words, NUL bytes, over FS_CTL_MAX) with out->why saying which. */
int fs_ctl_parse(fs_ctl_target target, const char *text, size_t len, fs_ctl *out);

/* The name of a signal without "SIG" ("KILL"), NULL for one without. */
const char *fs_signal_name(int signo);

/* A signal by number ("9") or name ("KILL", "SIGKILL", "sigterm"); returns
 * the number (1..64) or -EINVAL. */
int fs_signal_parse(const char *text, size_t len);

/* Strict decimal: digits only, no sign or blanks, value in [min, max].
 * Returns 0 and sets *out, or -EINVAL. */
int fs_parse_int64(const char *text, size_t len, int64_t min, int64_t max, int64_t *out);

#endif
