/* Unit tests for the search indexer's pacing rule (server/search_indexer.h). */
#include <stdbool.h>
#include <stdint.h>

#include "search_indexer.h"
#include "unit.h"

static void test_delay_table(void)
{
	static const struct {
		int indexed;
		bool more, busy, delivering;
		long elapsed;
		unsigned pause;
		long expected;
	} cases[] = {
		/* A failed step retries after SEARCH_INDEXER_RETRY_SECONDS. */
		{-1, false, false, false, 10, 50, SEARCH_INDEXER_RETRY_SECONDS * 1000L},
		{-1, true, true, false, 10, 50, SEARCH_INDEXER_RETRY_SECONDS * 1000L},
		/* Nothing left: sleep until woken. */
		{0, false, false, false, 10, 50, -1},
		{200, false, true, false, 900, 50, -1},
		/* Work left, pool idle: the configured pause, however long the
		 * step took. */
		{200, true, false, false, 300, 50, 50},
		{200, true, false, false, 300, 0, 0},
		{200, true, false, false, 10, 5000, 5000},
		/* Work left, sessions waiting: 3 times as long as the step. */
		{200, true, true, false, 300, 50, 900},
		{200, true, true, false, 10, 50, 50},
		{200, true, true, false, 30, 50, 90},
		{200, true, true, false, 300, 5000, 5000},
		/* Work left, delivery busy: 19 times as long as the step,
		 * whether sessions wait or not, never less than the pause. */
		{200, true, false, true, 300, 50, 5700},
		{200, true, true, true, 300, 50, 5700},
		{200, true, false, true, 2, 50, 50},
		{200, true, false, true, 300, 10000, 10000},
		/* ... but nothing left, a failure, or locked mailboxes are not
		 * paced by delivery. */
		{200, false, false, true, 300, 50, -1},
		{-1, true, false, true, 300, 50, SEARCH_INDEXER_RETRY_SECONDS * 1000L},
		{0, true, false, true, 300, 50, 1000},
		/* Only locked mailboxes: back off to a second. */
		{0, true, false, false, 2, 50, 1000},
		{0, true, true, false, 2, 0, 1000},
		{0, true, false, false, 2, 3000, 3000},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long d = search_indexer_delay_ms(cases[i].indexed, cases[i].more,
						 cases[i].elapsed, cases[i].busy,
						 cases[i].delivering, cases[i].pause);
		if (d != cases[i].expected)
			fprintf(stderr, "case %zu: got %ld, expected %ld\n", i, d,
				cases[i].expected);
		CU_ASSERT_EQUAL(d, cases[i].expected);
	}
}

static void test_burst_table(void)
{
	static const struct {
		long window;
		uint64_t busy;
		unsigned changes;
		bool expected;
	} cases[] = {
		/* No time has passed: no burst. */
		{0, 0, 500, false},
		{-5, 10, 500, false},
		/* A batch in flight half of the time or more. */
		{1000, 500, 0, true},
		{1000, 1000, 0, true},
		{1000, 499, 0, false},
		{1, 1, 0, true},
		/* Or at least SEARCH_INDEXER_BURST_CHANGES changes a second,
		 * whichever worker made them. */
		{1000, 0, SEARCH_INDEXER_BURST_CHANGES, true},
		{1000, 0, SEARCH_INDEXER_BURST_CHANGES - 1, false},
		{2000, 0, 2 * SEARCH_INDEXER_BURST_CHANGES, true},
		{2000, 0, 2 * SEARCH_INDEXER_BURST_CHANGES - 1, false},
		{100, 0, SEARCH_INDEXER_BURST_CHANGES / 10, true},
		/* Quiet. */
		{60000, 10, 3, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool b = search_indexer_burst(cases[i].window, cases[i].busy, cases[i].changes);
		if (b != cases[i].expected)
			fprintf(stderr, "burst case %zu: got %d\n", i, b);
		CU_ASSERT_EQUAL(b, cases[i].expected);
	}
}

static const struct unit_test indexer_tests[] = {
	{"pacing: retry, sleep, pause, share with sessions and delivery, locked", test_delay_table},
	{"a delivery burst: batches in flight, or the instance's change rate", test_burst_table},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"search_indexer", indexer_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
