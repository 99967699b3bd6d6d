/*
 * Parsing of ctl verbs, signal names and strict decimal numbers written by
 * users into sbxfs files (see ctl.h). Input is bytes from a write() call:
 * not NUL-terminated, possibly binary, so every function takes a length and
 * never reads past it.
 */
#include "ctl.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int fs_parse_int64(const char *text, size_t len, int64_t min, int64_t max, int64_t *out)
{
	if (len == 0 || len > 19)
		return -EINVAL;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		int d = text[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static const struct {
	const char *name;
	int signo;
} signals[] = {
	{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL},
	{"TRAP", SIGTRAP}, {"ABRT", SIGABRT}, {"IOT", SIGIOT}, {"BUS", SIGBUS},
	{"FPE", SIGFPE}, {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
	{"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
	{"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
	{"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},
	{"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
	{"WINCH", SIGWINCH}, {"IO", SIGIO}, {"POLL", SIGPOLL}, {"PWR", SIGPWR},
	{"SYS", SIGSYS},
};

int fs_signal_parse(const char *text, size_t len)
{
	if (len == 0 || len > 16)
		return -EINVAL;
	if (text[0] >= '0' && text[0] <= '9') {
		int64_t v;
		if (fs_parse_int64(text, len, 1, 64, &v) != 0)
			return -EINVAL;
		return (int)v;
	}
	if (len > 3 && strncasecmp(text, "SIG", 3) == 0) {
		text += 3;
		len -= 3;
	}
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		if (strlen(signals[i].name) == len && strncasecmp(signals[i].name, text, len) == 0)
			return signals[i].signo;
	}
	return -EINVAL;
}

/* Splits text into at most three blank-separated words (a third means
 * "too many"). Returns the number found. */
static int split_words(const char *text, size_t len, const char *w[3], size_t wl[3])
{
	int n = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && is_blank(text[i]))
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && !is_blank(text[i]))
			i++;
		if (n == 3)
			return 4;
		w[n] = text + start;
		wl[n] = i - start;
		n++;
	}
	return n;
}

static int word_is(const char *w, size_t wl, const char *lit)
{
	return strlen(lit) == wl && memcmp(w, lit, wl) == 0;
}

/* Fails with why as the message for the user. */
static int refuse(fs_ctl *out, const char *why)
{
	out->why = why;
	return -EINVAL;
}

int fs_ctl_parse(fs_ctl_target target, const char *text, size_t len, fs_ctl *out)
{
	out->verb = FS_VERB_NONE;
	out->arg = -1;
	out->why = NULL;
	if (len > FS_CTL_MAX)
		return refuse(out, "command too long");
	if (memchr(text, '\0', len))
		return refuse(out, "NUL byte in the command");
	const char *w[3];
	size_t wl[3];
	int n = split_words(text, len, w, wl);
	if (n < 1)
		return refuse(out, "empty command");
	fs_ctl c = {FS_VERB_NONE, -1, NULL, ""};
	if (target == FS_CTL_SANDBOX && word_is(w[0], wl[0], "stop")) {
		c.verb = FS_VERB_STOP;
		if (n > 2)
			return refuse(out, "stop takes one argument, the grace period in seconds");
		if (n == 2) {
			int64_t g;
			if (fs_parse_int64(w[1], wl[1], 0, FS_GRACE_MAX, &g) != 0)
				return refuse(out, "grace period out of range (0..300 seconds)");
			c.arg = (int)g;
		}
	} else if (target == FS_CTL_SANDBOX && word_is(w[0], wl[0], "snapshot")) {
		c.verb = FS_VERB_SNAPSHOT;
		if (n > 2)
			return refuse(out, "snapshot takes one argument, the scratch volume's name");
		if (n == 2) {
			/* the schema's volume names: [A-Za-z0-9._-]{1,63} */
			if (wl[1] >= sizeof c.name)
				return refuse(out, "volume name too long (at most 63 bytes)");
			for (size_t i = 0; i < wl[1]; i++) {
				char ch = w[1][i];
				if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
				      ch == '.' || ch == '_' || ch == '-'))
					return refuse(out, "bad volume name (letters, digits, '.', '_', '-')");
			}
			memcpy(c.name, w[1], wl[1]);
			c.name[wl[1]] = '\0';
		}
	} else if (target == FS_CTL_SANDBOX && word_is(w[0], wl[0], "delete")) {
		if (n != 1)
			return refuse(out, "delete takes no argument");
		c.verb = FS_VERB_DELETE;
	} else if (target == FS_CTL_PROCESS && word_is(w[0], wl[0], "kill")) {
		c.verb = FS_VERB_KILL;
		c.arg = SIGTERM;
		if (n > 2)
			return refuse(out, "kill takes one argument, a signal");
		if (n == 2) {
			int sig = fs_signal_parse(w[1], wl[1]);
			if (sig < 0)
				return refuse(out, w[1][0] >= '0' && w[1][0] <= '9' ? "signal out of range (1..64)"
										      : "unknown signal name");
			c.arg = sig;
		}
	} else if (target == FS_CTL_PROCESS && word_is(w[0], wl[0], "eof")) {
		if (n != 1)
			return refuse(out, "eof takes no argument");
		c.verb = FS_VERB_EOF;
	} else {
		return refuse(out, "unknown command");
	}
	*out = c;
	return 0;
}

const char *fs_signal_name(int signo)
{
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
		if (signals[i].signo == signo && strcmp(signals[i].name, "IOT") != 0 &&
		    strcmp(signals[i].name, "POLL") != 0)
			return signals[i].name;
	return NULL;
}
