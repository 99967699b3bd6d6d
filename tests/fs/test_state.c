/*
 * Unit tests of fs/state.c without a service: directory names (name, else
 * id; a live sandbox wins a shared name; names that would clash with the
 * root's own files fall back to the id), visibility (hidden after a local
 * delete, not resurrected when deleted before this mount saw it), process
 * records and stream sizes, the error file text, and the reclaiming of
 * slots (only once the kernel forgot every node and the service stopped
 * listing the sandbox; numbers reused only after a quarantine).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "../unit.h"

static sbx_sandbox mk(const char *id, const char *name, sbx_state st, const char *reason)
{
	sbx_sandbox s;
	memset(&s, 0, sizeof s);
	s.id = (char *)id;
	s.name = (char *)name;
	s.state = st;
	s.state_reason = (char *)reason;
	return s;
}

static char *dir_of(const char *id)
{
	for (uint32_t i = 1; i < 100; i++) {
		fs_sb_view v;
		if (fs_state_sandbox(i, &v) == 0 && strcmp(v.id, id) == 0)
			return fs_state_dirname(i);
	}
	return NULL;
}

static void setup(void)
{
	fs_state_init(NULL);
}

static void teardown(void)
{
	fs_state_fini();
}

static const struct {
	const char *id, *name;
	sbx_state st;
	const char *want_dir;
} name_cases[] = {
	{"sbx-1", "box", SBX_STATE_RUNNING, "box"},
	{"sbx-2", NULL, SBX_STATE_RUNNING, "sbx-2"},
	{"sbx-3", "new", SBX_STATE_RUNNING, "sbx-3"},        /* the root's clone file */
	{"sbx-4", "error", SBX_STATE_RUNNING, "sbx-4"},
	{"sbx-5", ".x", SBX_STATE_RUNNING, "sbx-5"},
	{"sbx-6", "a/b", SBX_STATE_RUNNING, "sbx-6"},
	{"sbx-7", "", SBX_STATE_RUNNING, "sbx-7"},
	{"sbx-8", "done", SBX_STATE_COMPLETED, "done"},
};

START_TEST(test_dirnames)
{
	sbx_sandbox s = mk(name_cases[_i].id, name_cases[_i].name, name_cases[_i].st, "");
	uint32_t slot = fs_state_put_sandbox(&s);
	ck_assert_uint_gt(slot, 0);
	char *d = fs_state_dirname(slot);
	ck_assert_str_eq(d, name_cases[_i].want_dir);
	uint32_t found = 0;
	ck_assert_int_eq(fs_state_lookup(d, &found), 0);
	ck_assert_uint_eq(found, slot);
	free(d);
}
END_TEST

START_TEST(test_shared_name)
{
	sbx_sandbox old = mk("sbx-old", "box", SBX_STATE_COMPLETED, "");
	sbx_sandbox live = mk("sbx-live", "box", SBX_STATE_RUNNING, "");
	fs_state_put_sandbox(&old);
	uint32_t ls = fs_state_put_sandbox(&live);
	char *a = dir_of("sbx-old"), *b = dir_of("sbx-live");
	ck_assert_str_eq(a, "sbx-old");
	ck_assert_str_eq(b, "box");
	free(a);
	free(b);
	/* rmdir box: the live one is hidden, the ended one gets the name back */
	fs_state_hide(ls);
	uint32_t s;
	ck_assert_int_eq(fs_state_lookup("sbx-live", &s), -ENOENT);
	a = dir_of("sbx-old");
	ck_assert_str_eq(a, "box");
	free(a);
	/* two ended ones: the newer keeps the name */
	sbx_sandbox newer = mk("sbx-newer", "box", SBX_STATE_COMPLETED, "");
	fs_state_put_sandbox(&newer);
	a = dir_of("sbx-newer");
	ck_assert_str_eq(a, "box");
	free(a);
}
END_TEST

START_TEST(test_deleted_visibility)
{
	uint32_t s;
	/* stopped before this mount looked: shown (rmdir and ctl delete purge,
	 * so what the service still lists was stopped, not deleted) */
	sbx_sandbox gone = mk("sbx-gone", "gone", SBX_STATE_TERMINATED, "deleted");
	fs_state_put_sandbox(&gone);
	ck_assert_int_eq(fs_state_lookup("gone", &s), 0);
	/* deleted through this mount: hidden at once */
	fs_state_hide(s);
	ck_assert_int_eq(fs_state_lookup("gone", &s), -ENOENT);
	/* seen alive, then stopped: still shown with its output */
	sbx_sandbox w = mk("sbx-w", "watched", SBX_STATE_RUNNING, "");
	fs_state_put_sandbox(&w);
	w.state = SBX_STATE_TERMINATED;
	w.state_reason = "deleted";
	fs_state_put_sandbox(&w);
	ck_assert_int_eq(fs_state_lookup("watched", &s), 0);
	/* ended by its lifetime: shown */
	sbx_sandbox l = mk("sbx-l", "life", SBX_STATE_TERMINATED, "lifetime of 600 s reached");
	fs_state_put_sandbox(&l);
	ck_assert_int_eq(fs_state_lookup("life", &s), 0);
}
END_TEST

START_TEST(test_processes)
{
	sbx_sandbox b = mk("sbx-p", "p", SBX_STATE_RUNNING, "");
	uint32_t slot = fs_state_put_sandbox(&b);
	char *argv[] = {"/bin/sh", "-c", "echo hi", NULL};
	sbx_process p;
	memset(&p, 0, sizeof p);
	p.id = 3;
	p.argv = argv;
	p.state = SBX_PROC_RUNNING;
	p.stdout_bytes = 10;
	fs_state_put_proc(slot, &p);
	fs_proc_view v;
	ck_assert_int_eq(fs_state_proc(slot, 3, &v), 0);
	ck_assert(v.bytes[SBX_STDOUT] == 10);
	ck_assert_int_eq(fs_state_proc(slot, 2, &v), -ENOENT);
	ck_assert_int_eq(fs_state_proc(slot, 0, &v), -ENOENT);
	fs_sb_view sv;
	fs_state_sandbox(slot, &sv);
	ck_assert(sv.last_pid == 3);
	char *cmd = fs_state_proc_cmd(slot, 3);
	ck_assert_ptr_nonnull(cmd);
	ck_assert_ptr_nonnull(strstr(cmd, "echo hi"));
	free(cmd);
	/* a read saw more; sizes never go back */
	fs_state_stream_seen(slot, 3, SBX_STDOUT, 25, 0);
	fs_state_stream_seen(slot, 3, SBX_STDOUT, 20, 0);
	fs_state_proc(slot, 3, &v);
	ck_assert(v.bytes[SBX_STDOUT] == 25);
	ck_assert(v.mtime_ns[SBX_STDOUT] > 0);
	/* the main command's stream */
	fs_state_stream_seen(slot, SBX_MAIN, SBX_STDERR, 7, 1);
	fs_state_sandbox(slot, &sv);
	ck_assert(sv.main_bytes[SBX_STDERR] == 7 && sv.main_eof[SBX_STDERR]);
	/* the final record */
	p.state = SBX_PROC_KILLED;
	p.exit_code = 137;
	p.stdout_bytes = 30;
	fs_state_put_proc(slot, &p);
	fs_state_proc(slot, 3, &v);
	ck_assert_int_eq(v.state, SBX_PROC_KILLED);
	ck_assert_int_eq(v.exit_code, 137);
	ck_assert(v.bytes[SBX_STDOUT] == 30);
	/* a final record is never fetched again (no client here to ask) */
	ck_assert_int_eq(fs_state_fetch_proc(slot, 3, 0), 0);
}
END_TEST

START_TEST(test_errors)
{
	sbx_sandbox b = mk("sbx-e", "e", SBX_STATE_RUNNING, "");
	uint32_t slot = fs_state_put_sandbox(&b);
	char *m = fs_state_error(slot);
	ck_assert_str_eq(m, "");
	free(m);
	sbx_error err;
	memset(&err, 0, sizeof err);
	err.code = SBX_E_INVALID;
	snprintf(err.message, sizeof err.message, "bad JSON at 3");
	int rc = fs_state_fail(slot, "exec/new", &err);
	ck_assert_int_eq(rc, -EINVAL);
	m = fs_state_error(slot);
	ck_assert_ptr_nonnull(strstr(m, "exec/new: bad JSON at 3"));
	ck_assert(m[strlen(m) - 1] == '\n');
	free(m);
	/* the root's own error file is slot 0 */
	fs_state_set_error(0, "%s", "root trouble");
	m = fs_state_error(0);
	/* stamped with its UTC time: "2026-12-03T08:40:01Z root trouble\n" */
	ck_assert_uint_eq(strlen(m), 21 + 13);
	ck_assert_str_eq(m + 21, "root trouble\n");
	ck_assert(m[4] == '-' && m[10] == 'T' && m[19] == 'Z' && m[20] == ' ');
	free(m);
	/* very long messages are cut, still one line */
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	fs_state_set_error(slot, "%s", big);
	m = fs_state_error(slot);
	ck_assert_uint_lt(strlen(m), FS_ERROR_MAX);
	ck_assert(m[strlen(m) - 1] == '\n');
	free(m);
	/* the sandbox's own errno wins, except ENOSYS, which the kernel's
	 * FUSE client takes for "never send this operation again" */
	memset(&err, 0, sizeof err);
	err.code = SBX_E_PRECONDITION;
	err.sys_errno = EXDEV;
	ck_assert_int_eq(fs_state_fail(slot, "files", &err), -EXDEV);
	err.sys_errno = ENOSYS;
	ck_assert_int_eq(fs_state_fail(slot, "files", &err), -ENOTSUP);
}
END_TEST

/* The reclaim hook's calls, in order. */
static uint32_t hooked[8];
static int nhooked;

static void on_reclaim(uint32_t slot)
{
	if (nhooked < 8)
		hooked[nhooked] = slot;
	nhooked++;
}

/* A listing taken now that holds only v (n of them). */
static void listed_only(sbx_sandbox **v, size_t n)
{
	fs_state_merge_list(v, n, fs_now_ms() + 1);
}

START_TEST(test_reclaim_forget)
{
	fs_state_on_reclaim(on_reclaim);
	nhooked = 0;
	ck_assert_uint_eq(fs_state_slots_used(), 1);        /* the root */
	sbx_sandbox a = mk("sbx-ra", "ra", SBX_STATE_RUNNING, "");
	uint32_t sa = fs_state_put_sandbox(&a);
	ck_assert_uint_gt(sa, 0);
	ck_assert_uint_eq(fs_state_slots_used(), 2);
	/* two lookups held by the kernel (the dir, its stdout) */
	ck_assert_int_eq(fs_state_ref(sa), 0);
	ck_assert_int_eq(fs_state_ref(sa), 0);
	/* the service forgets it (purged elsewhere): invisible, kept */
	listed_only(NULL, 0);
	uint32_t s;
	ck_assert_int_eq(fs_state_lookup("ra", &s), -ENOENT);
	fs_sb_view v;
	ck_assert_int_eq(fs_state_sandbox(sa, &v), 0);
	ck_assert_str_eq(v.id, "sbx-ra");
	fs_state_forget(sa, 1);
	ck_assert_int_eq(fs_state_sandbox(sa, &v), 0);
	ck_assert_int_eq(nhooked, 0);
	/* the last FORGET frees it */
	fs_state_forget(sa, 1);
	ck_assert_int_eq(fs_state_sandbox(sa, &v), -ENOENT);
	ck_assert_int_eq(fs_state_ref(sa), -ENOENT);
	ck_assert_uint_eq(fs_state_slots_used(), 1);
	ck_assert_int_eq(nhooked, 1);
	ck_assert_uint_eq(hooked[0], sa);
	/* a late long-poll's answer does not bring it back */
	fs_state_update_sandbox(sa, &a);
	ck_assert_int_eq(fs_state_sandbox(sa, &v), -ENOENT);
	ck_assert_int_eq(fs_state_lookup("ra", &s), -ENOENT);
	/* nor do late process or stream updates crash or create anything */
	sbx_process p;
	memset(&p, 0, sizeof p);
	p.id = 1;
	p.state = SBX_PROC_RUNNING;
	fs_state_put_proc(sa, &p);
	fs_state_stream_seen(sa, 1, SBX_STDOUT, 10, 1);
	ck_assert_uint_eq(fs_state_slots_used(), 1);
	/* a FORGET past the count (never the case) cannot underflow */
	sbx_sandbox b = mk("sbx-rb", "rb", SBX_STATE_RUNNING, "");
	uint32_t sb2 = fs_state_put_sandbox(&b);
	fs_state_forget(sb2, 5);
	ck_assert_int_eq(fs_state_sandbox(sb2, &v), 0);     /* still listed */
	ck_assert_int_eq(fs_state_ref(sb2), 0);
	listed_only(NULL, 0);
	ck_assert_int_eq(fs_state_sandbox(sb2, &v), 0);     /* held */
	fs_state_forget(sb2, 1);
	ck_assert_int_eq(fs_state_sandbox(sb2, &v), -ENOENT);
}
END_TEST

START_TEST(test_reclaim_hidden)
{
	sbx_sandbox a = mk("sbx-h", "h", SBX_STATE_RUNNING, "");
	uint32_t sa = fs_state_put_sandbox(&a);
	fs_state_hide(sa);
	fs_sb_view v;
	/* deleted through the mount, no node held, but the service still
	 * lists it (its purge is under way): kept hidden, so a listing
	 * cannot resurrect it */
	ck_assert_int_eq(fs_state_sandbox(sa, &v), 0);
	sbx_sandbox *l[] = {&a};
	listed_only(l, 1);
	uint32_t s;
	ck_assert_int_eq(fs_state_lookup("h", &s), -ENOENT);
	ck_assert_int_eq(fs_state_sandbox(sa, &v), 0);
	/* once no listing has it, it goes */
	listed_only(NULL, 0);
	ck_assert_int_eq(fs_state_sandbox(sa, &v), -ENOENT);
	ck_assert_uint_eq(fs_state_slots_used(), 1);
	/* a sandbox never looked up by the kernel and still listed stays */
	sbx_sandbox c = mk("sbx-c", "c", SBX_STATE_COMPLETED, "");
	uint32_t sc = fs_state_put_sandbox(&c);
	sbx_sandbox *lc[] = {&c};
	listed_only(lc, 1);
	ck_assert_int_eq(fs_state_lookup("c", &s), 0);
	ck_assert_uint_eq(s, sc);
}
END_TEST

/* Slot numbers come back only after SLOT_QUARANTINE (4096) others were
 * reclaimed; memory stays flat however many sandboxes came and went. */
START_TEST(test_reclaim_reuse)
{
	fs_state_on_reclaim(on_reclaim);
	char id[32];
	uint32_t first = 0, maxslot = 0;
	for (int i = 0; i < 6000; i++) {
		snprintf(id, sizeof id, "sbx-q%d", i);
		sbx_sandbox q = mk(id, NULL, SBX_STATE_RUNNING, "");
		uint32_t sl = fs_state_put_sandbox(&q);
		ck_assert_uint_gt(sl, 0);
		if (!first)
			first = sl;
		else if (i <= 4096)
			ck_assert_uint_ne(sl, first);   /* quarantined */
		if (sl > maxslot)
			maxslot = sl;
		ck_assert_int_eq(fs_state_ref(sl), 0);
		fs_state_hide(sl);
		listed_only(NULL, 0);
		fs_state_forget(sl, 1);
		fs_sb_view v;
		ck_assert_int_eq(fs_state_sandbox(sl, &v), -ENOENT);
	}
	ck_assert_uint_eq(fs_state_slots_used(), 1);
	/* numbers in use stayed within live + quarantine */
	ck_assert_uint_le(maxslot, 4096 + 2);
	/* the newer of two sandboxes with one name keeps it by creation
	 * order, not by slot number: here the newer gets the lower one
	 * (reused numbers come out in the order they were freed) */
	sbx_sandbox o = mk("sbx-old", "same", SBX_STATE_COMPLETED, "");
	sbx_sandbox n = mk("sbx-new", "same", SBX_STATE_COMPLETED, "");
	uint32_t so = 0, sn = 0;
	for (int i = 0; i < 8200 && !sn; i++) {
		snprintf(id, sizeof id, "sbx-z%d", i);
		sbx_sandbox z = mk(id, NULL, SBX_STATE_RUNNING, "");
		uint32_t sz = fs_state_put_sandbox(&z);
		if (!so && sz > 100)
			so = fs_state_put_sandbox(&o);
		fs_state_hide(sz);
		sbx_sandbox *keep[] = {&o};
		listed_only(keep, so ? 1 : 0);
		if (so && sz < 50) {
			sn = fs_state_put_sandbox(&n);
			ck_assert_uint_lt(sn, so);
		}
	}
	ck_assert_uint_gt(sn, 0);
	char *dn = fs_state_dirname(sn), *dold = fs_state_dirname(so);
	ck_assert_str_eq(dn, "same");
	ck_assert_str_eq(dold, "sbx-old");
	free(dn);
	free(dold);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup, teardown);
	/* the reuse test walks the quarantine thousands of times: slow under
	 * ASan on a busy machine (Check's default is 4 s) */
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_dirnames, 0, N(name_cases));
	tcase_add_test(tc, test_shared_name);
	tcase_add_test(tc, test_deleted_visibility);
	tcase_add_test(tc, test_processes);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_reclaim_forget);
	tcase_add_test(tc, test_reclaim_hidden);
	tcase_add_test(tc, test_reclaim_reuse);
	return unit_run("fs_state", tc);
}
