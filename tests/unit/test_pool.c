/* Unit tests for the pool (arena) and buf modules. */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "pool.h"
#include "unit.h"

static void test_pool_alloc_is_zeroed_and_aligned(void)
{
	struct pool *p = pool_create(64);

	for (size_t sz = 1; sz < 200; sz += 7) {
		unsigned char *m = pool_alloc(p, sz);
		CU_ASSERT(((uintptr_t)m & 15) == 0);
		for (size_t i = 0; i < sz; i++)
			CU_ASSERT_EQUAL(m[i], 0);
		memset(m, 0xAA, sz);
	}
	pool_destroy(&p);
	CU_ASSERT_PTR_NULL(p);
}

static void test_pool_clear_keeps_first_block(void)
{
	struct pool *p = pool_create(128);
	size_t base = pool_size(p);

	(void)pool_alloc(p, 10000); /* big one-off block */
	for (int i = 0; i < 50; i++)
		(void)pool_alloc(p, 100);
	CU_ASSERT(pool_size(p) > base);
	pool_clear(p);
	CU_ASSERT_EQUAL(pool_size(p), base);
	CU_ASSERT_PTR_NOT_NULL(pool_alloc(p, 16));
	pool_destroy(&p);
}

static void test_pool_strings(void)
{
	struct pool *p = pool_create(0);

	CU_ASSERT_STRING_EQUAL(pool_strdup(p, "abc"), "abc");
	CU_ASSERT_STRING_EQUAL(pool_strndup(p, "abcdef", 3), "abc");
	CU_ASSERT_STRING_EQUAL(pool_strndup(p, "ab", 5), "ab");
	CU_ASSERT_STRING_EQUAL(pool_printf(p, "%d-%s", 42, "x"), "42-x");
	pool_destroy(&p);
}

static void test_buf_limit(void)
{
	struct buf b;

	buf_init(&b, 10);
	CU_ASSERT_EQUAL(buf_append_str(&b, "0123456789"), 0); /* at the limit */
	CU_ASSERT_EQUAL(buf_append_str(&b, "x"), -1);         /* one past it */
	CU_ASSERT_EQUAL(b.len, 10);
	CU_ASSERT_STRING_EQUAL(b.data, "0123456789");
	buf_reset(&b);
	CU_ASSERT_EQUAL(buf_printf(&b, "%05d", 7), 0);
	CU_ASSERT_STRING_EQUAL(b.data, "00007");
	CU_ASSERT_EQUAL(buf_printf(&b, "%s", "toolong"), -1);
	buf_free(&b);
}

static const struct unit_test pool_tests[] = {
	{"alloc is zeroed and aligned", test_pool_alloc_is_zeroed_and_aligned},
	{"clear keeps the first block", test_pool_clear_keeps_first_block},
	{"string helpers", test_pool_strings},
	{NULL, NULL},
};
static const struct unit_test buf_tests[] = {
	{"limit is enforced at and past it", test_buf_limit},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"pool", pool_tests},
	{"buf", buf_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
