/*
 * Units for server/oci.c's reference grammar: Docker's normalisation
 * (docker.io and library/ added, index.docker.io folded, latest when no
 * tag or digest), domains with ports and localhost, name@digest, a bare
 * digest, and the refusals (upper case in a path, bad tags, other digest
 * algorithms, empty parts, too long).
 */
#include "oci.h"

#include "../unit.h"

#include <check.h>
#include <string.h>

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct {
	const char *in, *want; /* want NULL: refused */
} cases[] = {
	{"python", "docker.io/library/python:latest"},
	{"python:3.11", "docker.io/library/python:3.11"},
	{"library/python:3.11", "docker.io/library/python:3.11"},
	{"docker.io/python:3.11", "docker.io/library/python:3.11"},
	{"index.docker.io/library/python", "docker.io/library/python:latest"},
	{"org/tool", "docker.io/org/tool:latest"},
	{"ghcr.io/org/tool:1.2.3", "ghcr.io/org/tool:1.2.3"},
	{"ghcr.io/org/sub/tool", "ghcr.io/org/sub/tool:latest"},
	{"localhost/x", "localhost/x:latest"},
	{"localhost:5000/x:v1", "localhost:5000/x:v1"},
	{"Registry.Example/a", "Registry.Example/a:latest"},
	{"a.b-c__d:T_1.x-y", "docker.io/library/a.b-c__d:T_1.x-y"},
	{"ghcr.io/org/tool@" D, "ghcr.io/org/tool@" D},
	{"tool:1@" D, "docker.io/library/tool:1@" D},
	{D, D},
	{"Python", NULL},
	{"org/Tool", NULL},
	{"python:", NULL},
	{":tag", NULL},
	{"python:-x", NULL},
	{"a//b", NULL},
	{"a/", NULL},
	{"-a", NULL},
	{"a..b", NULL},
	{"a___b", NULL},
	{"tool@sha512:00", NULL},
	{"tool@sha256:0123", NULL},
	{"tool@", NULL},
	{"sha256:XYZ", "docker.io/library/sha256:XYZ"}, /* a name and a tag */
	{"sha256:0123", "docker.io/library/sha256:0123"},
	{"", NULL},
	{"x y", NULL},
};

START_TEST(test_refs)
{
	srv_oci_ref r;
	char err[SRV_OCI_ERRLEN], buf[600];
	int rc = srv_oci_ref_parse(cases[_i].in, &r, err);
	if (!cases[_i].want) {
		ck_assert_msg(rc != 0, "%s was taken", cases[_i].in);
		ck_assert_msg(err[0], "%s: no message", cases[_i].in);
		return;
	}
	ck_assert_msg(rc == 0, "%s: %s", cases[_i].in, err);
	srv_oci_ref_string(&r, buf, sizeof buf);
	ck_assert_str_eq(buf, cases[_i].want);
}
END_TEST

START_TEST(test_long)
{
	char in[300], err[SRV_OCI_ERRLEN];
	srv_oci_ref r;
	memset(in, 'a', sizeof in - 1);
	in[sizeof in - 1] = '\0';
	ck_assert_int_ne(srv_oci_ref_parse(in, &r, err), 0);
	/* The whole normalised name counts: docker.io/library/ + 255 is over. */
	in[255] = '\0';
	ck_assert_int_ne(srv_oci_ref_parse(in, &r, err), 0);
	in[200] = '\0';
	ck_assert_int_eq(srv_oci_ref_parse(in, &r, err), 0);
	ck_assert_int_ne(srv_oci_ref_parse(NULL, &r, err), 0);
}
END_TEST

int main(void)
{
	TCase *tc = tcase_create("refs");
	tcase_add_loop_test(tc, test_refs, 0, N(cases));
	tcase_add_test(tc, test_long);
	return unit_run("oci", tc);
}
