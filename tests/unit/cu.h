/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cu.h - the shared main() of the CUnit test programs.
 *
 * A test file defines its tests and a table:
 *   static const struct cu_test tests[] = { { "name", fn }, ... , { NULL, NULL } };
 *   CU_MAIN("suite name", tests)
 * The program exits non-zero when any assertion failed.
 */
#ifndef PCM_CU_H
#define PCM_CU_H

#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

struct cu_test {
	const char	*name;
	void		(*fn)(void);
};

static inline int
cu_run(const char *suite, const struct cu_test *tests, int (*init)(void), int (*clean)(void))
{
	CU_pSuite s;
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite(suite, init, clean);
	for (const struct cu_test *t = tests; t->name != NULL; t++)
		CU_add_test(s, t->name, t->fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	unsigned ran = CU_get_number_of_tests_run();
	unsigned tfailed = CU_get_number_of_tests_failed();
	printf("\n%s: %u passed, %u failed\n", suite, ran - tfailed, tfailed);
	CU_cleanup_registry();
	return failed ? 1 : 0;
}

#define CU_MAIN(suite, tests) \
	int main(void) { return cu_run(suite, tests, NULL, NULL); }
#define CU_MAIN_FIXTURE(suite, tests, init, clean) \
	int main(void) { return cu_run(suite, tests, init, clean); }

#endif
