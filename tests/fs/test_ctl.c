/*
 * Unit tests of fs/ctl.c: ctl verbs for sandboxes and processes, signal
 * names and numbers, strict decimal parsing. Table-driven: each row is what
 * a user might write and what sbxfs must make of it.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "../unit.h"

static const struct {
	fs_ctl_target target;
	const char *text;
	int rc;
	fs_verb verb;
	int arg;
} ctl_cases[] = {
	{FS_CTL_SANDBOX, "stop", 0, FS_VERB_STOP, -1},
	{FS_CTL_SANDBOX, "stop\n", 0, FS_VERB_STOP, -1},
	{FS_CTL_SANDBOX, "  stop 5 \n", 0, FS_VERB_STOP, 5},
	{FS_CTL_SANDBOX, "stop 0", 0, FS_VERB_STOP, 0},
	{FS_CTL_SANDBOX, "stop 300", 0, FS_VERB_STOP, 300},
	{FS_CTL_SANDBOX, "stop 301", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "stop -1", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "stop 5 6", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "stop x", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "delete", 0, FS_VERB_DELETE, -1},
	{FS_CTL_SANDBOX, "delete now", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "snapshot", 0, FS_VERB_SNAPSHOT, -1},
	{FS_CTL_SANDBOX, "snapshot data\n", 0, FS_VERB_SNAPSHOT, -1},
	{FS_CTL_SANDBOX, "snapshot a b", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "snapshot ../x", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "snapshot 0123456789012345678901234567890123456789012345678901234567890123", -EINVAL, 0, 0},
	{FS_CTL_PROCESS, "snapshot data", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "kill", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "eof", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "\n", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "STOP", -EINVAL, 0, 0},
	{FS_CTL_SANDBOX, "frobnicate", -EINVAL, 0, 0},
	{FS_CTL_PROCESS, "kill", 0, FS_VERB_KILL, SIGTERM},
	{FS_CTL_PROCESS, "kill 9", 0, FS_VERB_KILL, 9},
	{FS_CTL_PROCESS, "kill KILL\n", 0, FS_VERB_KILL, SIGKILL},
	{FS_CTL_PROCESS, "kill SIGINT", 0, FS_VERB_KILL, SIGINT},
	{FS_CTL_PROCESS, "kill sigusr1", 0, FS_VERB_KILL, SIGUSR1},
	{FS_CTL_PROCESS, "kill\tHUP", 0, FS_VERB_KILL, SIGHUP},
	{FS_CTL_PROCESS, "kill 0", -EINVAL, 0, 0},
	{FS_CTL_PROCESS, "kill 65", -EINVAL, 0, 0},
	{FS_CTL_PROCESS, "kill BOGUS", -EINVAL, 0, 0},
	{FS_CTL_PROCESS, "kill SIG", -EINVAL, 0, 0},
	{FS_CTL_PROCESS, "kill 9 9", -EINVAL, 0, 0},
	{FS_CTL_PROCESS, "eof", 0, FS_VERB_EOF, -1},
	{FS_CTL_PROCESS, "eof\n", 0, FS_VERB_EOF, -1},
	{FS_CTL_PROCESS, "eof 1", -EINVAL, 0, 0},
	{FS_CTL_PROCESS, "stop", -EINVAL, 0, 0},
	{FS_CTL_PROCESS, "delete", -EINVAL, 0, 0},
};

START_TEST(test_ctl_table)
{
	fs_ctl c = {FS_VERB_NONE, 12345, NULL, ""};
	int rc = fs_ctl_parse(ctl_cases[_i].target, ctl_cases[_i].text, strlen(ctl_cases[_i].text), &c);
	ck_assert_msg(rc == ctl_cases[_i].rc, "\"%s\": rc %d, want %d", ctl_cases[_i].text, rc, ctl_cases[_i].rc);
	if (rc == 0) {
		ck_assert_int_eq(c.verb, ctl_cases[_i].verb);
		ck_assert_int_eq(c.arg, ctl_cases[_i].arg);
	}
}
END_TEST

/* The message says what was wrong, not just "unknown command". */
START_TEST(test_ctl_why)
{
	fs_ctl c;
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_SANDBOX, "snapshot data\n", 14, &c), 0);
	ck_assert_str_eq(c.name, "data");
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_SANDBOX, "snapshot", 8, &c), 0);
	ck_assert_str_eq(c.name, "");
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_PROCESS, "kill 99", 7, &c), -EINVAL);
	ck_assert_str_eq(c.why, "signal out of range (1..64)");
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_PROCESS, "kill FOO", 8, &c), -EINVAL);
	ck_assert_str_eq(c.why, "unknown signal name");
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_SANDBOX, "stop 999", 8, &c), -EINVAL);
	ck_assert_str_eq(c.why, "grace period out of range (0..300 seconds)");
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_SANDBOX, "halt", 4, &c), -EINVAL);
	ck_assert_str_eq(c.why, "unknown command");
	ck_assert_str_eq(fs_signal_name(9), "KILL");
	ck_assert_str_eq(fs_signal_name(6), "ABRT");
	ck_assert_ptr_null(fs_signal_name(40));
}
END_TEST

START_TEST(test_ctl_binary_and_long)
{
	fs_ctl c;
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_PROCESS, "eof\0", 4, &c), -EINVAL);
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_PROCESS, "kill", 3, &c), -EINVAL);  /* "kil" */
	char big[FS_CTL_MAX + 2];
	memset(big, ' ', sizeof big);
	memcpy(big, "eof", 3);
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_PROCESS, big, sizeof big, &c), -EINVAL);
	ck_assert_int_eq(fs_ctl_parse(FS_CTL_PROCESS, big, FS_CTL_MAX, &c), 0);
	ck_assert_int_eq(c.verb, FS_VERB_EOF);
}
END_TEST

static const struct {
	const char *text;
	int signo;
} sig_cases[] = {
	{"TERM", SIGTERM}, {"SIGTERM", SIGTERM}, {"term", SIGTERM}, {"KILL", SIGKILL},
	{"9", 9}, {"15", 15}, {"64", 64}, {"1", 1}, {"INT", SIGINT}, {"SIGSTOP", SIGSTOP},
	{"CONT", SIGCONT}, {"USR2", SIGUSR2}, {"0", -EINVAL}, {"65", -EINVAL}, {"", -EINVAL},
	{"SIG", -EINVAL}, {"SIGSIGTERM", -EINVAL}, {"-9", -EINVAL}, {"9x", -EINVAL},
	{"TERMINATE", -EINVAL}, {"99999999999999999999", -EINVAL},
};

START_TEST(test_signal_table)
{
	int s = fs_signal_parse(sig_cases[_i].text, strlen(sig_cases[_i].text));
	ck_assert_msg(s == sig_cases[_i].signo, "\"%s\": %d, want %d", sig_cases[_i].text, s, sig_cases[_i].signo);
}
END_TEST

static const struct {
	const char *text;
	int64_t min, max;
	int rc;
	int64_t v;
} int_cases[] = {
	{"0", 0, 10, 0, 0}, {"10", 0, 10, 0, 10}, {"11", 0, 10, -EINVAL, 0}, {"", 0, 10, -EINVAL, 0},
	{"+1", 0, 10, -EINVAL, 0}, {" 1", 0, 10, -EINVAL, 0}, {"1 ", 0, 10, -EINVAL, 0},
	{"9223372036854775807", 0, INT64_MAX, 0, INT64_MAX},
	{"9223372036854775808", 0, INT64_MAX, -EINVAL, 0},
	{"00000000000000000001", 0, 10, -EINVAL, 0},
	{"5", 6, 10, -EINVAL, 0},
};

START_TEST(test_int_table)
{
	int64_t v = -42;
	int rc = fs_parse_int64(int_cases[_i].text, strlen(int_cases[_i].text), int_cases[_i].min,
				int_cases[_i].max, &v);
	ck_assert_msg(rc == int_cases[_i].rc, "\"%s\": rc %d", int_cases[_i].text, rc);
	if (rc == 0)
		ck_assert(v == int_cases[_i].v);
	else
		ck_assert(v == -42);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("ctl");
	tcase_add_loop_test(tc, test_ctl_table, 0, N(ctl_cases));
	tcase_add_test(tc, test_ctl_binary_and_long);
	tcase_add_test(tc, test_ctl_why);
	tcase_add_loop_test(tc, test_signal_table, 0, N(sig_cases));
	tcase_add_loop_test(tc, test_int_table, 0, N(int_cases));
	return unit_run("fs_ctl", tc);
}
