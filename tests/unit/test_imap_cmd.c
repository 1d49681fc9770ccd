/* The IMAP command table: sorted (imap_cmd_find searches it), every entry
 * found by its own name, unknown names not found. */
#include <string.h>

#include "imap_cmd.h"
#include "unit.h"

static void test_table_is_sorted_and_searchable(void)
{
	unsigned n;
	const struct imap_cmd_def *t = imap_cmd_table(&n);

	CU_ASSERT(n > 0);
	for (unsigned i = 1; i < n; i++)
		CU_ASSERT(strcmp(t[i - 1].name, t[i].name) < 0);
	for (unsigned i = 0; i < n; i++) {
		CU_ASSERT_PTR_EQUAL(imap_cmd_find(t[i].name), &t[i]);
		CU_ASSERT(t[i].states != 0);
		CU_ASSERT_PTR_NOT_NULL(t[i].fn);
	}
}

static void test_unknown_names(void)
{
	static const char *const names[] = {"", "A", "ZZZZ", "login", "UID", "FETCHX", "NOO"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CU_ASSERT_PTR_NULL(imap_cmd_find(names[i]));
}

static const struct unit_test tests[] = {
	{"table is sorted and searchable", test_table_is_sorted_and_searchable},
	{"unknown names", test_unknown_names},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"imap_cmd", tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
