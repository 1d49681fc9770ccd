/* Unit tests for LIST/LSUB pattern matching. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list_match.h"
#include "mailbox_name.h"
#include "pool.h"
#include "unit.h"

static bool match(const char *pattern, const char *name)
{
	struct pool *pool = pool_create(0);
	bool r = list_match_name(list_match_compile(pool, pattern), name, NULL);

	pool_destroy(&pool);
	return r;
}

struct mcase {
	const char *pattern, *name;
	bool expected;
};

static void check_table(const struct mcase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool got = match(cases[i].pattern, cases[i].name);
		if (got != cases[i].expected) {
			fprintf(stderr, "\npattern \"%s\" name \"%s\": got %d\n", cases[i].pattern,
				cases[i].name, got);
			CU_FAIL("wrong match");
		}
	}
}

#define CHECK_TABLE(t) check_table((t), sizeof(t) / sizeof((t)[0]))

static void test_literal(void)
{
	static const struct mcase cases[] = {
		{"foo", "foo", true},
		{"foo", "Foo", false},
		{"foo", "foob", false},
		{"foo", "fo", false},
		{"foo/bar", "foo/bar", true},
		{"foo/bar", "foo/baz", false},
		{"", "foo", false},
		{"a b", "a b", true},
		{"a\"b", "a\"b", true},
	};
	CHECK_TABLE(cases);
}

static void test_percent(void)
{
	static const struct mcase cases[] = {
		{"%", "foo", true},
		{"%", "foo/bar", false},
		{"%", "INBOX", true},
		{"%/%", "foo/bar", true},
		{"%/%", "foo/bar/baz", false},
		{"%/%", "foo", false},
		{"foo/%", "foo/bar", true},
		{"foo/%", "foo/", true}, /* not a valid stored name, still matches */
		{"foo/%", "foo", false},
		{"foo/%", "foo/bar/baz", false},
		{"f%o", "foo", true},
		{"f%o", "fo", true},
		{"f%o", "f/o", false},
		{"%bar", "foobar", true},
		{"%bar", "foo/bar", false},
		{"%%", "foo", true},
		{"%%%", "foo/bar", false},
		{"%a%b%", "xaybz", true},
		{"%a%b%", "xa/ybz", false},
		{"%/%/%", "a/b/c", true},
	};
	CHECK_TABLE(cases);
}

static void test_star(void)
{
	static const struct mcase cases[] = {
		{"*", "foo", true},
		{"*", "foo/bar/baz", true},
		{"*", "INBOX", true},
		{"foo*", "foo", true},
		{"foo*", "foo/bar", true},
		{"foo*", "fo", false},
		{"foo/*", "foo/bar/baz", true},
		{"foo/*", "foo", false},
		{"*bar", "foo/bar", true},
		{"*bar", "foo/bar/baz", false},
		{"*/baz", "foo/bar/baz", true},
		{"*a*b*c*", "xaxbxcx", true},
		{"*a*b*c*", "xaxcxbx", false},
		{"**", "a/b", true},
		{"../*", "../x", true},
		{"../*", "x", false},
	};
	CHECK_TABLE(cases);
}

static void test_combinations(void)
{
	static const struct mcase cases[] = {
		{"%*", "a/b", true}, /* a run holding '*' is '*' */
		{"*%", "a/b", true},
		{"%*%", "a/b/c", true},
		{"%/*", "a", false},
		{"%/*", "a/b/c", true},
		{"*/%", "a/b/c", true},
		{"*/%", "a", false},
		{"a%/*b", "ax/y/zb", true},
		{"a%/*b", "a/x/y/zb", true},
		{"a%/*b", "ax/yz", false},
		{"%.%", "a.b", true},
		{"%.%", "a/.b", false},
		{"a*%b", "a/x/b", true},
	};
	CHECK_TABLE(cases);
}

static void test_inbox_case(void)
{
	static const struct mcase cases[] = {
		{"inbox", "INBOX", true},
		{"InBoX", "INBOX", true},
		{"INBOX", "INBOX", true},
		{"inbox/%", "INBOX/foo", true},
		{"inbox/Foo", "INBOX/foo", false}, /* only the INBOX level */
		{"i*", "INBOX", true},
		{"*x", "INBOX", true},
		{"inb%", "INBOX/sub", false},
		{"inb*", "INBOX/sub", true},
		/* Other names are case-sensitive, also when they start with inbox. */
		{"inboxes", "INBOXES", false},
		{"INBOXES", "inboxes", false},
		{"inbox*", "INBOXES", false},
		{"inbox", "Inbox", false},
	};
	CHECK_TABLE(cases);
}

static void test_utf8(void)
{
	static const struct mcase cases[] = {
		{"Entw\xc3\xbcrfe", "Entw\xc3\xbcrfe", true},
		{"Entw%rfe", "Entw\xc3\xbcrfe", true},
		{"Entw\xc3\xbc*", "Entw\xc3\xbcrfe", true},
		{"Entwu*", "Entw\xc3\xbcrfe", false},
		{"\xe5\x8f\xb0%", "\xe5\x8f\xb0\xe5\x8c\x97", true},
		{"%\xe5\x8c\x97", "\xe5\x8f\xb0\xe5\x8c\x97", true},
		{"%/\xe5\x8c\x97", "\xe5\x8f\xb0/\xe5\x8c\x97", true},
		{"\xe5\x8f\xb0", "\xe5\x8f\xb0\xe5\x8c\x97", false},
		/* 4-byte characters (U+1F4E7) */
		{"%\xf0\x9f\x93\xa7", "mail\xf0\x9f\x93\xa7", true},
		{"*\xf0\x9f\x93\xa7/%", "a/\xf0\x9f\x93\xa7/b", true},
	};
	CHECK_TABLE(cases);
}

static void test_join(void)
{
	static const struct {
		const char *ref, *pattern, *out;
	} cases[] = {
		{"", "%", "%"},
		{"foo/", "%", "foo/%"},
		{"foo/", "/bar", "foo/bar"},
		{"foo", "/bar", "foo/bar"},
		{"foo", "bar", "foobar"},
		{"foo", "*", "foo*"},
		{"/", "/", "/"},
		{"a/b/", "c/%", "a/b/c/%"},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_STRING_EQUAL(list_match_join(pool, cases[i].ref, cases[i].pattern),
				       cases[i].out);
	pool_destroy(&pool);
}

static void test_levels(void)
{
	static const struct {
		const char *pattern, *name;
		bool full;
		uint64_t levels;
	} cases[] = {
		{"%", "foo/bar", false, 1},
		{"%", "foo/bar/baz", false, 1},
		{"%/%", "foo/bar/baz", false, 2},
		{"foo/%", "foo/bar/baz", false, 2},
		{"*", "a/b/c", true, 3},
		{"a*", "a/b/c", true, 3},
		{"b*", "a/b/c", false, 0},
		{"%/b", "a/b/c", false, 2},
		{"%", "foo", true, 0},
		{"inbox", "INBOX/x", false, 1},
		{"x", "a/b", false, 0},
		/* Levels and wildcards past the first 64-bit word of states. */
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/%",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/b/c", false,
		 2},
		{"%bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb*z",
		 "xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/q/z",
		 true, 0},
		{"%bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb%",
		 "xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbyy/q",
		 false, 1},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct list_match *m = list_match_compile(pool, cases[i].pattern);
		uint64_t levels = 99;
		bool full = list_match_name(m, cases[i].name, &levels);
		if (full != cases[i].full || levels != cases[i].levels) {
			fprintf(stderr, "\n%s vs %s: full %d levels %llu\n", cases[i].pattern,
				cases[i].name, full, (unsigned long long)levels);
			CU_FAIL("wrong levels");
		}
	}
	pool_destroy(&pool);
}

static void test_trailing_percent(void)
{
	struct pool *pool = pool_create(0);

	CU_ASSERT_TRUE(list_match_trailing_percent(list_match_compile(pool, "%")));
	CU_ASSERT_TRUE(list_match_trailing_percent(list_match_compile(pool, "foo/%")));
	CU_ASSERT_FALSE(list_match_trailing_percent(list_match_compile(pool, "*")));
	CU_ASSERT_FALSE(list_match_trailing_percent(list_match_compile(pool, "%/foo")));
	CU_ASSERT_FALSE(list_match_trailing_percent(list_match_compile(pool, "")));
	pool_destroy(&pool);
}

/* Patterns past the word boundaries of the bit sets, long names, and
 * hostile patterns that would take exponential time with backtracking. */
static void test_long_patterns(void)
{
	struct pool *pool = pool_create(0);
	char name[MAILBOX_NAME_MAX + 1], pat[4 * MAILBOX_NAME_MAX];
	size_t n;

	memset(name, 'a', MAILBOX_NAME_MAX);
	name[MAILBOX_NAME_MAX] = '\0';
	/* %a%a%a...%a%b: 2049 tokens, no match, must end quickly. */
	n = 0;
	for (int i = 0; i < MAILBOX_NAME_MAX - 1; i++) {
		pat[n++] = '%';
		pat[n++] = 'a';
	}
	pat[n++] = '%';
	pat[n++] = 'b';
	pat[n] = '\0';
	CU_ASSERT_FALSE(list_match_name(list_match_compile(pool, pat), name, NULL));
	pat[n - 1] = 'a';
	CU_ASSERT_TRUE(list_match_name(list_match_compile(pool, pat), name, NULL));
	/* Exactly the name as literal: 1024 literals. */
	CU_ASSERT_TRUE(list_match_name(list_match_compile(pool, name), name, NULL));
	/* 1025 literals can match nothing stored. */
	memset(pat, 'a', MAILBOX_NAME_MAX + 1);
	pat[MAILBOX_NAME_MAX + 1] = '\0';
	CU_ASSERT_FALSE(list_match_name(list_match_compile(pool, pat), name, NULL));
	CU_ASSERT_FALSE(list_match_name(list_match_compile(pool, pat), pat, NULL));
	/* Many wildcards collapse into one. */
	memset(pat, '*', sizeof(pat) - 1);
	pat[sizeof(pat) - 1] = '\0';
	CU_ASSERT_TRUE(list_match_name(list_match_compile(pool, pat), name, NULL));
	/* Literal positions around 64-bit word boundaries. */
	for (size_t len = 60; len < 140; len++) {
		char nm[200], p[200];
		memset(nm, 'x', len);
		nm[len] = '\0';
		memcpy(p, nm, len);
		p[len] = '\0';
		p[len / 2] = '%';
		CU_ASSERT_TRUE(list_match_name(list_match_compile(pool, p), nm, NULL));
		p[len - 1] = 'y';
		CU_ASSERT_FALSE(list_match_name(list_match_compile(pool, p), nm, NULL));
	}
	pool_destroy(&pool);
}

static void test_order(void)
{
	static const char *const sorted[] = {
		"INBOX", "INBOX/a", "INBOX/a/b", "INBOX/b", "A", "B", "a", "a/b", "a/b/c",
		"a b", "a-b", "ab", "b", "\xc3\xa4",
	};
	size_t n = sizeof(sorted) / sizeof(sorted[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int c = list_match_cmp(sorted[i], sorted[j]);
			if ((i < j && c >= 0) || (i == j && c != 0) || (i > j && c <= 0)) {
				fprintf(stderr, "\n%s vs %s: %d\n", sorted[i], sorted[j], c);
				CU_FAIL("wrong order");
			}
		}
}

/* RFC 5258 §3: a list of patterns matches a name when one does; the
 * levels come from every pattern, the "%" levels only from those ending
 * with '%'. */
static void test_set(void)
{
	static const struct {
		const char *patterns[3];
		const char *name;
		bool expected;
		uint64_t levels, percent_levels;
	} cases[] = {
		{{"INBOX", "Sent*", NULL}, "Sent/2024", true, 0x1, 0},
		{{"inbox", "Sent*", NULL}, "INBOX", true, 0, 0},
		{{"INBOX", "Sent*", NULL}, "Drafts", false, 0, 0},
		{{"a/%", "%", NULL}, "a/b/c", false, 0x3, 0x3},
		{{"a/b", "%", NULL}, "a/b/c", false, 0x3, 0x1},
		{{"*x", "a", NULL}, "a/x", true, 0x1, 0},
		{{"a/*", "a/b/%", "zz"}, "a/b/c", true, 0x2, 0x0},
		{{"%/%", NULL, NULL}, "a/b/c", false, 0x2, 0x2},
		{{NULL, NULL, NULL}, "a", false, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pool *pool = pool_create(0);
		struct list_match_set set = {NULL, 0, 0};
		uint64_t levels = 99, pct = 99;
		bool got;

		for (size_t k = 0; k < 3 && cases[i].patterns[k] != NULL; k++)
			list_match_set_add(pool, &set, cases[i].patterns[k]);
		got = list_match_set_name(&set, cases[i].name, &levels, &pct);
		if (got != cases[i].expected || levels != cases[i].levels ||
		    pct != cases[i].percent_levels) {
			fprintf(stderr, "\ncase %zu: got %d levels %llx percent %llx\n", i, got,
				(unsigned long long)levels, (unsigned long long)pct);
			CU_FAIL("wrong set match");
		}
		/* Without the level outputs the answer is the same. */
		CU_ASSERT_EQUAL(list_match_set_name(&set, cases[i].name, NULL, NULL), got);
		pool_destroy(&pool);
	}
}

/* A level (a prefix of a longer name) sorts as the name it spells. */
static void test_order_len(void)
{
	static const struct {
		const char *a;
		size_t alen;
		const char *b;
		size_t blen;
		int expected;
	} cases[] = {
		{"a/b/c", 3, "a/b", 3, 0},
		{"a/b/c", 1, "a/b", 3, -1},
		{"a/bc", 4, "a/b/c", 3, 1},
		{"ab/x", 2, "a/b", 1, 1},
		{"INBOX/x", 5, "Archive", 7, -1},
		{"INBOXx", 5, "Archive", 7, -1},
		{"INBOXx", 6, "Archive", 7, 1},
		{"a!", 2, "a/z", 3, 1},
		{"", 0, "a", 1, -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int c = list_match_cmp_len(cases[i].a, cases[i].alen, cases[i].b, cases[i].blen);
		int r = list_match_cmp_len(cases[i].b, cases[i].blen, cases[i].a, cases[i].alen);
		if ((c > 0) - (c < 0) != cases[i].expected || (r > 0) - (r < 0) != -cases[i].expected) {
			fprintf(stderr, "\ncase %zu: %d / %d\n", i, c, r);
			CU_FAIL("wrong order of levels");
		}
	}
}

static const struct unit_test tests[] = {
	{"literal", test_literal},
	{"percent", test_percent},
	{"star", test_star},
	{"combinations", test_combinations},
	{"inbox_case", test_inbox_case},
	{"utf8", test_utf8},
	{"join", test_join},
	{"levels", test_levels},
	{"trailing_percent", test_trailing_percent},
	{"long_patterns", test_long_patterns},
	{"order", test_order},
	{"set", test_set},
	{"order_len", test_order_len},
	{NULL, NULL},
};

static const struct unit_suite suites[] = {
	{"list_match", tests},
	{NULL, NULL},
};

UNIT_MAIN(suites)
