/* Unit tests for modified UTF-7 (RFC 3501 §5.1.3). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mutf7.h"
#include "pool.h"
#include "unit.h"

/* Canonical pairs: each converts to the other, both ways. */
static const struct {
	const char *mutf7;
	const char *utf8;
} pairs[] = {
	{"", ""},
	{"INBOX", "INBOX"},
	{"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
					    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
	{"&-", "&"},
	{"A&-B", "A&B"},
	{"&-&-", "&&"},
	{"&AOQ-", "\xc3\xa4"},
	{"&AOQA5A-", "\xc3\xa4\xc3\xa4"},
	{"a&AOQ-b", "a\xc3\xa4" "b"},
	{"&AOQ-&-", "\xc3\xa4&"},
	{"&-&AOQ-", "&\xc3\xa4"},
	{"&AOQ--", "\xc3\xa4-"},
	{"-", "-"},
	{"&AAE-", "\x01"},
	{"&AAk-", "\t"},
	{"&AH8-", "\x7f"},
	{"&AIA-", "\xc2\x80"},
	{"&,,8-", "\xef\xbf\xbf"},
	{"&2D3eAA-", "\xf0\x9f\x98\x80"},
	{"a&2D3eAA-b&2ADcANv,3,8-", "a\xf0\x9f\x98\x80" "b\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"},
	{"Sent Items", "Sent Items"},
	{"[Gmail]/All Mail", "[Gmail]/All Mail"},
};

static void test_pairs_decode(void)
{
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *out = NULL;

		CU_ASSERT_EQUAL(mutf7_to_utf8(pool, pairs[i].mutf7, strlen(pairs[i].mutf7), &out), 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_STRING_EQUAL(out, pairs[i].utf8);
	}
	pool_destroy(&pool);
}

static void test_pairs_encode(void)
{
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *out = NULL;

		CU_ASSERT_EQUAL(mutf7_from_utf8(pool, pairs[i].utf8, strlen(pairs[i].utf8), &out),
				0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_STRING_EQUAL(out, pairs[i].mutf7);
	}
	pool_destroy(&pool);
}

/* A long shifted sequence decodes to more bytes than it has: 40 x U+65E5
 * is 109 bytes of modified UTF-7 and 120 of UTF-8. */
static void test_long_shifted_sequence(void)
{
	struct pool *pool = pool_create(0);
	char utf8[200] = "", mutf7[200] = "&", *out;

	for (int i = 0; i < 40; i++)
		strcat(utf8, "\xe6\x97\xa5");
	for (int i = 0; i < 13; i++)
		strcat(mutf7, "ZeVl5WXl");
	strcat(mutf7, "ZeU-");
	CU_ASSERT_EQUAL(strlen(mutf7), 109);
	CU_ASSERT_EQUAL(mutf7_to_utf8(pool, mutf7, strlen(mutf7), &out), 0);
	CU_ASSERT_STRING_EQUAL(out, utf8);
	CU_ASSERT_EQUAL(mutf7_from_utf8(pool, utf8, strlen(utf8), &out), 0);
	CU_ASSERT_STRING_EQUAL(out, mutf7);
	pool_destroy(&pool);
}

static void test_invalid_mutf7(void)
{
	static const char *const bad[] = {
		"&",           /* unterminated */
		"a&",          /* unterminated */
		"&AOQ",        /* unterminated */
		"&AGE-",       /* 'a' must represent itself */
		"&ACY-",       /* '&' must be "&-" */
		"&ACA-",       /* space */
		"&AH4-",       /* '~' */
		"&AOQ-&AOQ-",  /* two sequences that should be one */
		"&AOQ-&AAE-",  /* same */
		"&AOQ*-",      /* not BASE64 */
		"&AO/-",       /* '/' is ',' in modified BASE64 */
		"&AOQ=-",      /* no padding */
		"&AOR-",       /* leftover bits not zero */
		"&AOQA-",      /* a whole unused character */
		"&AA-",        /* not even one character */
		"&A-",         /* same */
		"&AAA-",       /* U+0000 */
		"&2D0-",       /* lone high surrogate */
		"&3gA-",       /* lone low surrogate */
		"&2D0A5A-",    /* high surrogate, then U+00E4 */
		"&3gDYPQ-",    /* low, then high */
		"\xc3\xa4",    /* raw 8-bit */
		"a\x01z",      /* raw control */
		"a\x7f",       /* raw DEL */
		"a\tb",        /* raw TAB */
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = (char *)"untouched";

		if (mutf7_to_utf8(pool, bad[i], strlen(bad[i]), &out) != -1)
			fprintf(stderr, "\naccepted: %s -> %s\n", bad[i], out);
		CU_ASSERT_STRING_EQUAL(out, "untouched");
	}
	/* NUL inside the given length. */
	{
		char *out = NULL;

		CU_ASSERT_EQUAL(mutf7_to_utf8(pool, "a\0b", 3, &out), -1);
		CU_ASSERT_PTR_NULL(out);
	}
	pool_destroy(&pool);
}

static void test_invalid_utf8(void)
{
	static const struct {
		const char *s;
		size_t len;
	} bad[] = {
		{"\xc3", 1},                 /* truncated */
		{"a\xe6\x97", 3},            /* truncated */
		{"\xc3\x28", 2},             /* bad continuation */
		{"\x80", 1},                 /* lone continuation */
		{"\xc0\xaf", 2},             /* overlong '/' */
		{"\xc1\xbf", 2},             /* overlong */
		{"\xe0\x80\xaf", 3},         /* overlong */
		{"\xf0\x80\x80\xaf", 4},     /* overlong */
		{"\xed\xa0\x80", 3},         /* surrogate U+D800 */
		{"\xed\xbf\xbf", 3},         /* surrogate U+DFFF */
		{"\xf4\x90\x80\x80", 4},     /* beyond U+10FFFF */
		{"\xf8\x88\x80\x80\x80", 5}, /* 5-byte form */
		{"\xff", 1},
		{"\xfe", 1},
		{"a\0b", 3}, /* NUL */
		{"\0", 1},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = NULL;

		CU_ASSERT_EQUAL(mutf7_from_utf8(pool, bad[i].s, bad[i].len, &out), -1);
		CU_ASSERT_PTR_NULL(out);
	}
	pool_destroy(&pool);
}

/* Writes code point cp as UTF-8 into s; returns the length. */
static size_t put_utf8(char *s, uint32_t cp)
{
	if (cp < 0x80) {
		s[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		s[0] = (char)(0xc0 | (cp >> 6));
		s[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		s[0] = (char)(0xe0 | (cp >> 12));
		s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		s[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	s[0] = (char)(0xf0 | (cp >> 18));
	s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	s[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Every code point, alone and between others, survives UTF-8 -> mUTF-7 ->
 * UTF-8, and printable ASCII is never shifted. */
static void test_round_trip_every_code_point(void)
{
	struct pool *pool = pool_create(0);
	unsigned failures = 0;

	for (uint32_t cp = 1; cp <= 0x10ffff && failures < 10; cp++) {
		char in[16];
		char *m, *back;
		size_t len;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		if (cp > 0x2000 && cp < 0xfff0 && cp % 7 != 0)
			continue; /* sample the middle of the BMP */
		if (cp > 0x10000 && cp < 0x10fff0 && cp % 101 != 0)
			continue; /* and the planes beyond */
		len = put_utf8(in, cp);
		len += put_utf8(in + len, 0xe4);
		len += put_utf8(in + len, cp);
		in[len] = '\0';
		if (mutf7_from_utf8(pool, in, len, &m) < 0 ||
		    mutf7_to_utf8(pool, m, strlen(m), &back) < 0 || strcmp(back, in) != 0) {
			failures++;
			CU_FAIL("round trip failed");
			fprintf(stderr, "\nround trip of U+%04X failed\n", cp);
		}
		pool_clear(pool);
	}
	pool_destroy(&pool);
}

/* Canonical means one spelling per name: whatever modified UTF-7 decodes,
 * encoding the result gives back exactly the same bytes. Checked over all
 * short strings of an alphabet that reaches every rule. */
static void test_only_canonical_forms_decode(void)
{
	static const char alphabet[] = "&-AOQ5agDe,+2";
	const size_t n = sizeof(alphabet) - 1;
	struct pool *pool = pool_create(0);
	unsigned accepted = 0, failures = 0;

	for (size_t len = 1; len <= 6; len++) {
		size_t total = 1;
		for (size_t i = 0; i < len; i++)
			total *= n;
		for (size_t k = 0; k < total && failures < 10; k++) {
			char s[8], *utf8, *again;
			size_t v = k;

			for (size_t i = 0; i < len; i++) {
				s[i] = alphabet[v % n];
				v /= n;
			}
			s[len] = '\0';
			if (mutf7_to_utf8(pool, s, len, &utf8) == 0) {
				accepted++;
				if (mutf7_from_utf8(pool, utf8, strlen(utf8), &again) < 0 ||
				    strcmp(again, s) != 0) {
					failures++;
					CU_FAIL("a non-canonical form was accepted");
					fprintf(stderr, "\naccepted non-canonical %s\n", s);
				}
			}
			pool_clear(pool);
		}
	}
	CU_ASSERT(accepted > 1000);
	pool_destroy(&pool);
}

static const struct unit_test mutf7_tests[] = {
	{"decodes the canonical pairs", test_pairs_decode},
	{"encodes the canonical pairs", test_pairs_encode},
	{"long shifted sequence grows when decoded", test_long_shifted_sequence},
	{"rejects invalid modified UTF-7", test_invalid_mutf7},
	{"rejects invalid UTF-8", test_invalid_utf8},
	{"round trip of every code point", test_round_trip_every_code_point},
	{"only canonical forms decode", test_only_canonical_forms_decode},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"mutf7", mutf7_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
