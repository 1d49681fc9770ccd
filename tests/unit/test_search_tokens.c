/* Unit tests for the worker's tokens of the SEARCH index
 * (server/search_tokens.h). */
#include <stdbool.h>
#include <string.h>

#include "search_tokens.h"
#include "unit.h"

static const char *list(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

static void test_table(void)
{
	static const struct {
		const char *prefix, *text;
		const char *ascii, *other;
		bool exact;
	} cases[] = {
	    /* ASCII: split at every ASCII byte that is not [0-9A-Za-z],
	     * lowered, each token once. */
	    {"", "Hello, World! hello_WORLD 42x", "hello world 42x", "", true},
	    {"", "  --a.b@c-d  ", "a b c d", "", true},
	    {"", "", "", "", true},
	    {"", "!?.,;: \t\r\n", "", "", true},
	    {"", "MiXeD mixed MIXED", "mixed", "", true},
	    /* Multibyte UTF-8 stays inside tokens, unchanged (PostgreSQL
	     * lowers it), with the ASCII letters next to it, lowered. */
	    {"", "Grüße aus ZÜRICH", "aus", "grüße zÜrich", true},
	    {"", "ÉCOLE école ÉCOLE", "", "École école", true},
	    {"", "日本語の会議 emoji\xf0\x9f\x98\x80here", "",
	     "日本語の会議 emoji\xf0\x9f\x98\x80here", true},
	    /* NBSP (C2 A0) and em dash (E2 80 94) are not ASCII: no split
	     * (PostgreSQL splits there; coarser is still exact). */
	    {"",
	     "foo\xc2\xa0"
	     "bar baz\xe2\x80\x94qux",
	     "",
	     "foo\xc2\xa0"
	     "bar baz\xe2\x80\x94qux",
	     true},
	    /* Turkish dotted capital I: not ASCII, left to lower(). */
	    {"", "\xc4\xb0STANBUL Istanbul", "istanbul", "\xc4\xb0stanbul", true},
	    /* The prefix for headers, on both lists. */
	    {"h:", "Subject: CAFÉ Menu", "h:subject h:menu", "h:cafÉ", true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct search_tokens t;

		search_tokens_init(&t);
		search_tokens_add(&t, cases[i].prefix, cases[i].text, strlen(cases[i].text));
		if (strcmp(list(&t.ascii), cases[i].ascii) != 0 ||
		    strcmp(list(&t.other), cases[i].other) != 0 || t.exact != cases[i].exact)
			fprintf(stderr, "case %zu: [%s] [%s] %d\n", i, list(&t.ascii),
			        list(&t.other), t.exact);
		CU_ASSERT_STRING_EQUAL(list(&t.ascii), cases[i].ascii);
		CU_ASSERT_STRING_EQUAL(list(&t.other), cases[i].other);
		CU_ASSERT_EQUAL(t.exact, cases[i].exact);
		search_tokens_free(&t);
	}
}

/* Body and header tokens of one message share the lists; prefixed tokens
 * are distinct from unprefixed ones. */
static void test_body_and_headers_in_one_list(void)
{
	struct search_tokens t;

	search_tokens_init(&t);
	search_tokens_add(&t, "", "Note note Über", strlen("Note note Über"));
	search_tokens_add(&t, "h:", "Note: Über", strlen("Note: Über"));
	CU_ASSERT_STRING_EQUAL(list(&t.ascii), "note h:note");
	CU_ASSERT_STRING_EQUAL(list(&t.other), "Über h:Über");
	CU_ASSERT_TRUE(t.exact);
	/* Reset empties both lists and the sets. */
	search_tokens_reset(&t);
	search_tokens_add(&t, "", "note", 4);
	CU_ASSERT_STRING_EQUAL(list(&t.ascii), "note");
	CU_ASSERT_STRING_EQUAL(list(&t.other), "");
	search_tokens_free(&t);
}

/* The 200-byte limit, with the prefix, at the limit and one past it;
 * tokens with non-ASCII bytes up to 4 times the limit (PostgreSQL checks
 * them after lower()). */
static void test_token_limit(void)
{
	char text[2000];
	struct search_tokens t;

	memset(text, 'A', sizeof(text));
	search_tokens_init(&t);
	search_tokens_add(&t, "", text, SEARCH_TOKENS_MAX);
	CU_ASSERT_EQUAL(t.ascii.len, SEARCH_TOKENS_MAX);
	CU_ASSERT_EQUAL(t.ascii.data[0], 'a');
	CU_ASSERT_TRUE(t.exact);

	search_tokens_reset(&t);
	search_tokens_add(&t, "", text, SEARCH_TOKENS_MAX + 1);
	CU_ASSERT_EQUAL(t.ascii.len, 0);
	CU_ASSERT_FALSE(t.exact);

	/* With "h:", 198 bytes of token fit and 199 do not. */
	search_tokens_reset(&t);
	search_tokens_add(&t, "h:", text, SEARCH_TOKENS_MAX - 2);
	CU_ASSERT_EQUAL(t.ascii.len, SEARCH_TOKENS_MAX);
	CU_ASSERT_TRUE(t.exact);
	search_tokens_reset(&t);
	search_tokens_add(&t, "h:", text, SEARCH_TOKENS_MAX - 1);
	CU_ASSERT_EQUAL(t.ascii.len, 0);
	CU_ASSERT_FALSE(t.exact);

	/* A long token leaves out only itself. */
	search_tokens_reset(&t);
	text[SEARCH_TOKENS_MAX + 1] = ' ';
	memcpy(text + SEARCH_TOKENS_MAX + 2, "Tail", 4);
	search_tokens_add(&t, "", text, SEARCH_TOKENS_MAX + 6);
	CU_ASSERT_STRING_EQUAL(list(&t.ascii), "tail");
	CU_ASSERT_FALSE(t.exact);

	/* Non-ASCII: "é" is 2 bytes; 400 of them (800 bytes) are passed on,
	 * one more byte is not. */
	search_tokens_reset(&t);
	for (int i = 0; i < 400; i++)
		memcpy(text + 2 * i, "\xc3\xa9", 2);
	search_tokens_add(&t, "", text, 4 * SEARCH_TOKENS_MAX);
	CU_ASSERT_EQUAL(t.other.len, 4 * SEARCH_TOKENS_MAX);
	CU_ASSERT_TRUE(t.exact);
	search_tokens_reset(&t);
	text[4 * SEARCH_TOKENS_MAX] = 'x';
	search_tokens_add(&t, "", text, 4 * SEARCH_TOKENS_MAX + 1);
	CU_ASSERT_EQUAL(t.other.len, 0);
	CU_ASSERT_FALSE(t.exact);
	search_tokens_free(&t);
}

/* Many distinct tokens: the set grows and still finds every duplicate. */
static void test_many_tokens(void)
{
	struct search_tokens t;
	char w[32];

	search_tokens_init(&t);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 5000; i++) {
			int n = snprintf(w, sizeof(w), "W%d ", i);
			search_tokens_add(&t, "", w, (size_t)n);
		}
	/* "w0 w1 ... w4999": 5000 tokens, 4999 spaces. */
	{
		size_t spaces = 0;
		for (size_t i = 0; i < t.ascii.len; i++)
			spaces += t.ascii.data[i] == ' ';
		CU_ASSERT_EQUAL(spaces, 4999);
	}
	CU_ASSERT_EQUAL(strncmp(t.ascii.data, "w0 w1 w2 ", 9), 0);
	search_tokens_free(&t);
}

static const struct unit_test tokens_tests[] = {
    {"split at ASCII separators, ASCII lowered, UTF-8 kept whole", test_table},
    {"body and header tokens in one list, reset", test_body_and_headers_in_one_list},
    {"200-byte limit with prefix; non-ASCII up to 4 times", test_token_limit},
    {"thousands of tokens, each once", test_many_tokens},
    {NULL, NULL},
};
static const struct unit_suite suites[] = {
    {"search_tokens", tokens_tests},
    {NULL, NULL},
};
UNIT_MAIN(suites)
