/*
 * What the Check unit tests share: the size of a case table, and the main
 * that runs one test case as a suite and turns its failures into the exit
 * status meson reads.
 */
#ifndef SBX_TESTS_UNIT_H
#define SBX_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static inline int unit_run(const char *suite_name, TCase *tc)
{
	Suite *s = suite_create(suite_name);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
