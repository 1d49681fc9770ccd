/* The verified-credentials cache: hits only for the same user, password
 * and stored hash within the TTL; a new hash (password changed) misses. */
#include "auth_cache.h"
#include "unit.h"

static void test_hit_and_misses(void)
{
	const char *err;
	struct auth_cache *c = auth_cache_create(1024, 60, &err);
	const time_t t = 1000000;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_FALSE(auth_cache_check(c, "a@x.test", "pw", "{H}1", t));
	auth_cache_add(c, "a@x.test", "pw", "{H}1", t);
	CU_ASSERT_TRUE(auth_cache_check(c, "a@x.test", "pw", "{H}1", t + 59));
	CU_ASSERT_FALSE(auth_cache_check(c, "a@x.test", "pw", "{H}1", t + 60)); /* TTL */
	CU_ASSERT_FALSE(auth_cache_check(c, "a@x.test", "pw2", "{H}1", t));
	CU_ASSERT_FALSE(auth_cache_check(c, "b@x.test", "pw", "{H}1", t));
	CU_ASSERT_FALSE(auth_cache_check(c, "a@x.test", "pw", "{H}2", t)); /* new hash */
	/* Field boundaries are kept: "a" + "bc" is not "ab" + "c". */
	auth_cache_add(c, "a", "bc", "h", t);
	CU_ASSERT_FALSE(auth_cache_check(c, "ab", "c", "h", t));
	CU_ASSERT_TRUE(auth_cache_check(c, "a", "bc", "h", t));
	auth_cache_destroy(&c);
	CU_ASSERT_PTR_NULL(c);
}

static void test_disabled_and_bounded(void)
{
	const char *err;
	struct auth_cache *off = auth_cache_create(0, 60, &err);
	struct auth_cache *one = auth_cache_create(1, 60, &err);

	CU_ASSERT_PTR_NOT_NULL_FATAL(off);
	CU_ASSERT_PTR_NOT_NULL_FATAL(one);
	auth_cache_add(off, "a", "b", "c", 5);
	CU_ASSERT_FALSE(auth_cache_check(off, "a", "b", "c", 5));
	/* One slot: the newer entry replaces the older. */
	auth_cache_add(one, "a", "b", "c", 5);
	auth_cache_add(one, "d", "e", "f", 5);
	CU_ASSERT_FALSE(auth_cache_check(one, "a", "b", "c", 5));
	CU_ASSERT_TRUE(auth_cache_check(one, "d", "e", "f", 5));
	auth_cache_destroy(&off);
	auth_cache_destroy(&one);
}

static void test_two_caches_have_different_secrets(void)
{
	const char *err;
	struct auth_cache *a = auth_cache_create(1, 60, &err);
	struct auth_cache *b = auth_cache_create(1, 60, &err);

	/* Same input, one slot each: a hit in a says nothing about b. */
	auth_cache_add(a, "u", "p", "h", 7);
	CU_ASSERT_TRUE(auth_cache_check(a, "u", "p", "h", 7));
	CU_ASSERT_FALSE(auth_cache_check(b, "u", "p", "h", 7));
	auth_cache_destroy(&a);
	auth_cache_destroy(&b);
}

static const struct unit_test tests[] = {
	{"hit and misses", test_hit_and_misses},
	{"disabled and bounded", test_disabled_and_bounded},
	{"two caches have different secrets", test_two_caches_have_different_secrets},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"auth_cache", tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
