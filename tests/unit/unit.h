/* Shared scaffolding for the CUnit suites: each tests/unit/test_<module>.c
 * defines its suites with UNIT_SUITE()/UNIT_TEST() tables and ends with
 * UNIT_MAIN(). The binary exits non-zero when any assertion failed, so
 * tests/run_all.sh can count failures per suite. */
#ifndef MAILSTEAD_UNIT_H
#define MAILSTEAD_UNIT_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

struct unit_suite {
	const char *name;
	const struct unit_test *tests;
};

static inline int unit_run(const struct unit_suite *suites)
{
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (const struct unit_suite *s = suites; s->name != NULL; s++) {
		CU_pSuite suite = CU_add_suite(s->name, NULL, NULL);
		if (suite == NULL)
			return 2;
		for (const struct unit_test *t = s->tests; t->name != NULL; t++)
			if (CU_add_test(suite, t->name, t->fn) == NULL)
				return 2;
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		return 2;
	failed = CU_get_number_of_tests_failed() + CU_get_number_of_failure_records();
	/* Machine-readable line for tests/run_all.sh. */
	printf("\nUNIT-RESULT %u %u\n", CU_get_number_of_tests_run() - CU_get_number_of_tests_failed(),
	       CU_get_number_of_tests_failed());
	CU_cleanup_registry();
	return failed ? 1 : 0;
}

#define UNIT_MAIN(suites)                                                                          \
	int main(void)                                                                             \
	{                                                                                          \
		return unit_run(suites);                                                           \
	}

#endif
