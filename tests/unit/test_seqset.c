/* Unit tests for sequence sets. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pool.h"
#include "seqset.h"
#include "unit.h"

/* Returns the set's string form (static buffer). */
static const char *set_str(const struct seqset *set)
{
	static char out[256];
	struct buf b;

	buf_init(&b, 0);
	CU_ASSERT_EQUAL(seqset_to_string(&b, set), 0);
	snprintf(out, sizeof(out), "%s", b.data != NULL ? b.data : "");
	buf_free(&b);
	return out;
}

static void test_parse_valid(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"1", "1"},
		{"1:5", "1:5"},
		{"5:1", "1:5"},
		{"1,2,3", "1:3"},
		{"3,1,2", "1:3"},
		{"1:5,3:7", "1:7"},
		{"1:5,6:7", "1:7"},
		{"1:5,7", "1:5,7"},
		{"7,1:5", "1:5,7"},
		{"2:4,1:10", "1:10"},
		{"1,1,1", "1"},
		{"*", "*"},
		{"1:*", "1:*"},
		{"*:1", "1:*"},
		{"*:*", "*"},
		{"*,*", "*"},
		{"5:*,1:3", "1:3,5:*"},
		/* '*' is not merged before it is known. */
		{"5:*,200:300", "5:*,200:300"},
		{"4294967295", "4294967295"},
		{"4294967294:4294967295", "4294967294:4294967295"},
		{"4294967295,*", "4294967295,*"},
		{"1:4294967295", "1:4294967295"},
		{"10,9,8,7,6,5,4,3,2,1", "1:10"},
		{"1,3,5", "1,3,5"},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seqset *set = NULL;
		const char *error = NULL;

		if (seqset_parse(pool, cases[i].in, &set, &error) < 0) {
			fprintf(stderr, "\n%s: %s\n", cases[i].in, error);
			CU_FAIL("valid set refused");
			continue;
		}
		CU_ASSERT_STRING_EQUAL(set_str(set), cases[i].out);
	}
	pool_destroy(&pool);
}

static void test_parse_invalid(void)
{
	static const char *const bad[] = {
		"", ",", "1,", ",1", "1,,2", "0", "0:5", "1:0", "01", "1:05", "4294967296",
		"99999999999999999999", "1:", ":1", "1:2:3", "a", "1 ", " 1", "1-3", "$",
		"1:*:", "-1", "+1", "1.5", "*1", "1*", "**", "1:**", "1,2,",
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seqset *set = NULL;
		const char *error = NULL;

		if (seqset_parse(pool, bad[i], &set, &error) != -1)
			fprintf(stderr, "\naccepted: \"%s\"\n", bad[i]);
		CU_ASSERT_PTR_NULL(set);
		CU_ASSERT_PTR_NOT_NULL(error);
	}
	pool_destroy(&pool);
}

static char *many_elements(unsigned n)
{
	char *s = malloc((size_t)n * 12 + 1), *p = s;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (unsigned i = 0; i < n; i++)
		p += sprintf(p, "%s%u", i > 0 ? "," : "", 2 * i + 1);
	return s;
}

static void test_parse_range_limit(void)
{
	struct pool *pool = pool_create(0);
	struct seqset *set = NULL;
	const char *error = NULL;
	char *s = many_elements(SEQSET_MAX_RANGES);

	CU_ASSERT_EQUAL(seqset_parse(pool, s, &set, &error), 0);
	CU_ASSERT_EQUAL(seqset_range_count(set), SEQSET_MAX_RANGES);
	CU_ASSERT_EQUAL(seqset_count(set), SEQSET_MAX_RANGES);
	free(s);
	s = many_elements(SEQSET_MAX_RANGES + 1);
	set = NULL;
	CU_ASSERT_EQUAL(seqset_parse(pool, s, &set, &error), -1);
	CU_ASSERT_PTR_NULL(set);
	CU_ASSERT_STRING_EQUAL(error, "Too many ranges in sequence set");
	free(s);
	pool_destroy(&pool);
}

static void test_resolve_star(void)
{
	static const struct {
		const char *in;
		uint32_t max;
		const char *out;
	} cases[] = {
		{"1:*", 10, "1:10"},
		{"*", 10, "10"},
		{"5:*", 3, "3:5"}, /* RFC 3501 §9: includes the last one */
		{"*:5", 3, "3:5"},
		{"5:*,200:300", 100, "5:100,200:300"},
		{"*,1:9", 10, "1:10"},
		{"*,1:8", 10, "1:8,10"},
		{"*", 0, ""},
		{"5:*", 0, "1:5"},
		{"4294967295,*", 10, "10,4294967295"},
		{"1:*", UINT32_MAX, "1:4294967295"},
		{"1:5", 3, "1:5"}, /* no '*': unchanged */
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seqset *set;
		const char *error;

		CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, cases[i].in, &set, &error), 0);
		seqset_resolve_star(set, cases[i].max);
		CU_ASSERT_FALSE(seqset_has_star(set));
		CU_ASSERT_STRING_EQUAL(set_str(set), cases[i].out);
	}
	pool_destroy(&pool);
}

static void test_contains(void)
{
	struct pool *pool = pool_create(0);
	struct seqset *set;
	const char *error;

	CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, "2:4,7,10:20,4294967295", &set, &error), 0);
	CU_ASSERT_FALSE(seqset_contains(set, 0));
	CU_ASSERT_FALSE(seqset_contains(set, 1));
	CU_ASSERT_TRUE(seqset_contains(set, 2));
	CU_ASSERT_TRUE(seqset_contains(set, 4));
	CU_ASSERT_FALSE(seqset_contains(set, 5));
	CU_ASSERT_TRUE(seqset_contains(set, 7));
	CU_ASSERT_FALSE(seqset_contains(set, 8));
	CU_ASSERT_TRUE(seqset_contains(set, 15));
	CU_ASSERT_TRUE(seqset_contains(set, 20));
	CU_ASSERT_FALSE(seqset_contains(set, 21));
	CU_ASSERT_FALSE(seqset_contains(set, 4294967294u));
	CU_ASSERT_TRUE(seqset_contains(set, 4294967295u));
	/* Unresolved '*' has no upper bound; 4294967295 is a number, not '*'. */
	CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, "3,10:*", &set, &error), 0);
	CU_ASSERT_TRUE(seqset_has_star(set));
	CU_ASSERT_TRUE(seqset_contains(set, 3));
	CU_ASSERT_FALSE(seqset_contains(set, 4));
	CU_ASSERT_TRUE(seqset_contains(set, 1000000));
	CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, "4294967295", &set, &error), 0);
	CU_ASSERT_FALSE(seqset_has_star(set));
	seqset_resolve_star(set, 10);
	CU_ASSERT_FALSE(seqset_contains(set, 10));
	pool_destroy(&pool);
}

static void test_count(void)
{
	static const struct {
		const char *in;
		uint32_t count;
	} cases[] = {
		{"1", 1},
		{"1:5,7", 6},
		{"1:4294967295", UINT32_MAX},
		{"1:2147483648,2147483650:4294967295", 4294967294u},
		{"1:*", UINT32_MAX}, /* unresolved: saturates */
		{"*", 1},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seqset *set;
		const char *error;

		CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, cases[i].in, &set, &error), 0);
		CU_ASSERT_EQUAL(seqset_count(set), cases[i].count);
	}
	CU_ASSERT_EQUAL(seqset_count(seqset_create(pool)), 0);
	pool_destroy(&pool);
}

static void test_iterate(void)
{
	struct pool *pool = pool_create(0);
	struct seqset_iter it;
	struct seqset *set;
	const char *error;
	uint32_t n, got[16];
	unsigned k = 0;

	CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, "7,1:3,4294967294:*", &set, &error), 0);
	seqset_resolve_star(set, UINT32_MAX);
	for (seqset_iter_init(&it, set); seqset_iter_next(&it, &n) && k < 16;)
		got[k++] = n;
	CU_ASSERT_EQUAL_FATAL(k, 6);
	CU_ASSERT_EQUAL(got[0], 1);
	CU_ASSERT_EQUAL(got[1], 2);
	CU_ASSERT_EQUAL(got[2], 3);
	CU_ASSERT_EQUAL(got[3], 7);
	CU_ASSERT_EQUAL(got[4], 4294967294u);
	CU_ASSERT_EQUAL(got[5], 4294967295u); /* and no wrap to 0 after it */
	CU_ASSERT_FALSE(seqset_iter_next(&it, &n));
	/* Empty set. */
	seqset_iter_init(&it, seqset_create(pool));
	CU_ASSERT_FALSE(seqset_iter_next(&it, &n));
	pool_destroy(&pool);
}

static void test_ranges(void)
{
	struct pool *pool = pool_create(0);
	struct seqset *set;
	const char *error;
	uint32_t lo, hi;

	CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, "9:7,1,3:*", &set, &error), 0);
	CU_ASSERT_EQUAL_FATAL(seqset_range_count(set), 3);
	seqset_range_get(set, 0, &lo, &hi);
	CU_ASSERT(lo == 1 && hi == 1);
	seqset_range_get(set, 1, &lo, &hi);
	CU_ASSERT(lo == 3 && hi == UINT32_MAX); /* '*' reads as UINT32_MAX */
	seqset_range_get(set, 2, &lo, &hi);
	CU_ASSERT(lo == 7 && hi == 9);
	seqset_resolve_star(set, 5);
	CU_ASSERT_STRING_EQUAL(set_str(set), "1,3:5,7:9");
	pool_destroy(&pool);
}

static void test_add_range(void)
{
	struct pool *pool = pool_create(0);
	struct seqset *set = seqset_create(pool);

	CU_ASSERT_STRING_EQUAL(set_str(set), "");
	/* Ascending, as a COPY hands out UIDs. */
	for (uint32_t uid = 1; uid <= 100; uid++)
		if (uid % 10 != 0)
			seqset_add_range(set, uid, uid);
	CU_ASSERT_STRING_EQUAL(set_str(set), "1:9,11:19,21:29,31:39,41:49,51:59,61:69,71:79,81:89,"
					     "91:99");
	seqset_add_range(set, 50, 50);
	seqset_add_range(set, 10, 10);
	seqset_add_range(set, 60, 20);
	CU_ASSERT_STRING_EQUAL(set_str(set), "1:69,71:79,81:89,91:99");
	seqset_add_range(set, 100, 70);
	CU_ASSERT_STRING_EQUAL(set_str(set), "1:100");
	seqset_add_range(set, UINT32_MAX, UINT32_MAX);
	seqset_add_range(set, 102, 102);
	CU_ASSERT_STRING_EQUAL(set_str(set), "1:100,102,4294967295");
	CU_ASSERT_EQUAL(seqset_count(set), 102);
	CU_ASSERT_FALSE(seqset_has_star(set));
	pool_destroy(&pool);
}

static void test_to_string_limit(void)
{
	struct pool *pool = pool_create(0);
	struct seqset *set;
	const char *error;
	struct buf b;

	CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, "1:5,7,9:*", &set, &error), 0);
	buf_init(&b, 10);
	CU_ASSERT_EQUAL(buf_append_str(&b, "[x "), 0);
	CU_ASSERT_EQUAL(seqset_to_string(&b, set), -1); /* "1:5,7,9:*" needs 9 */
	CU_ASSERT_STRING_EQUAL(b.data, "[x ");
	buf_reset(&b);
	CU_ASSERT_EQUAL(seqset_to_string(&b, set), 0);
	CU_ASSERT_STRING_EQUAL(b.data, "1:5,7,9:*");
	buf_free(&b);
	pool_destroy(&pool);
}

/* A parsed set and its string form describe the same numbers: parse, print,
 * parse again, for pseudo-random sets checked against a bitmap. */
static void test_random_sets_match_bitmap(void)
{
	struct pool *pool = pool_create(0);
	uint32_t seed = 12345;

	for (int round = 0; round < 500; round++) {
		unsigned char bits[201] = {0};
		char in[1024] = "";
		size_t len = 0;
		int elements = 1 + round % 20;
		struct seqset *set, *again;
		const char *error;
		char printed[1024];

		for (int e = 0; e < elements; e++) {
			uint32_t a, b;

			seed = seed * 1103515245 + 12345;
			a = 1 + (seed >> 8) % 200;
			seed = seed * 1103515245 + 12345;
			b = (seed >> 8) % 3 == 0 ? a : 1 + (seed >> 8) % 200;
			len += (size_t)snprintf(in + len, sizeof(in) - len, "%s%u:%u",
						e > 0 ? "," : "", a, b);
			for (uint32_t n = a < b ? a : b; n <= (a < b ? b : a); n++)
				bits[n] = 1;
		}
		CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, in, &set, &error), 0);
		snprintf(printed, sizeof(printed), "%s", set_str(set));
		CU_ASSERT_EQUAL_FATAL(seqset_parse(pool, printed, &again, &error), 0);
		CU_ASSERT_STRING_EQUAL(set_str(again), printed);
		for (uint32_t n = 0; n <= 201; n++) {
			CU_ASSERT_EQUAL(seqset_contains(set, n), n <= 200 && bits[n]);
			CU_ASSERT_EQUAL(seqset_contains(again, n), n <= 200 && bits[n]);
		}
		{
			uint32_t count = 0;
			for (uint32_t n = 1; n <= 200; n++)
				count += bits[n];
			CU_ASSERT_EQUAL(seqset_count(set), count);
		}
		pool_clear(pool);
	}
	pool_destroy(&pool);
}

static const struct unit_test seqset_tests[] = {
	{"parses valid sets into sorted merged ranges", test_parse_valid},
	{"rejects invalid sets", test_parse_invalid},
	{"range limit at and past SEQSET_MAX_RANGES", test_parse_range_limit},
	{"resolves * against the maximum", test_resolve_star},
	{"contains", test_contains},
	{"count, saturating", test_count},
	{"iterates without wrapping", test_iterate},
	{"range access", test_ranges},
	{"builds sets with add_range", test_add_range},
	{"to_string respects the buffer limit", test_to_string_limit},
	{"random sets match a bitmap", test_random_sets_match_bitmap},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"seqset", seqset_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
