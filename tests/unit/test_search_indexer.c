/* Unit tests for the search indexer's pacing rule (server/search_indexer.h). */
#include <stdbool.h>

#include "search_indexer.h"
#include "unit.h"

static void test_delay_table(void)
{
	static const struct {
		int indexed;
		bool more, busy;
		long elapsed;
		unsigned pause;
		long expected;
	} cases[] = {
		/* A failed step retries after SEARCH_INDEXER_RETRY_SECONDS. */
		{-1, false, false, 10, 50, SEARCH_INDEXER_RETRY_SECONDS * 1000L},
		{-1, true, true, 10, 50, SEARCH_INDEXER_RETRY_SECONDS * 1000L},
		/* Nothing left: sleep until woken. */
		{0, false, false, 10, 50, -1},
		{200, false, true, 900, 50, -1},
		/* Work left, pool idle: the configured pause, however long the
		 * step took. */
		{200, true, false, 300, 50, 50},
		{200, true, false, 300, 0, 0},
		{200, true, false, 10, 5000, 5000},
		/* Work left, sessions waiting: 3 times as long as the step. */
		{200, true, true, 300, 50, 900},
		{200, true, true, 10, 50, 50},
		{200, true, true, 30, 50, 90},
		{200, true, true, 300, 5000, 5000},
		/* Only locked mailboxes: back off to a second. */
		{0, true, false, 2, 50, 1000},
		{0, true, true, 2, 0, 1000},
		{0, true, false, 2, 3000, 3000},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long d = search_indexer_delay_ms(cases[i].indexed, cases[i].more,
						 cases[i].elapsed, cases[i].busy, cases[i].pause);
		if (d != cases[i].expected)
			fprintf(stderr, "case %zu: got %ld, expected %ld\n", i, d,
				cases[i].expected);
		CU_ASSERT_EQUAL(d, cases[i].expected);
	}
}

static const struct unit_test indexer_tests[] = {
	{"pacing: retry, sleep, pause, share with sessions, locked", test_delay_table},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"search_indexer", indexer_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
