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
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "log.h"

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

/* run fn(arg) with the log on stderr at the given verbosity, stderr into a
 * file; *rc = fn's result; returns what was logged (malloc'd, at most 64 KiB).
 */
static inline char *
cu_capture_log(int verbosity, int (*fn)(void *), void *arg, int *rc)
{
	char path[] = "/tmp/pcm-test-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char *buf = calloc(1, 65536);

	log_init("test", LOG_DEST_STDERR, verbosity);
	fflush(stderr);
	dup2(fd, 2);
	*rc = fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (pread(fd, buf, 65535, 0) < 0)
		buf[0] = '\0';
	close(fd);
	unlink(path);
	return buf;
}

#define CU_MAIN(suite, tests) \
	int main(void) { return cu_run(suite, tests, NULL, NULL); }
#define CU_MAIN_FIXTURE(suite, tests, init, clean) \
	int main(void) { return cu_run(suite, tests, init, clean); }

#endif
