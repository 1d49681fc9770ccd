/* Unit tests for the DATA/BDAT content decoder (server/lmtp/lmtp_data.c).
 *
 * Table-driven: each case is an input, a mode, a limit and the expected
 * message, status and (for DATA) how many input octets belong to it. Every
 * input is fed whole, byte by byte, and split in two at every offset; all
 * must give the same result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmtp/lmtp_data.h"
#include "unit.h"

struct data_case {
	const char *in;
	size_t in_len; /* 0: strlen(in) */
	enum lmtp_data_mode mode;
	enum lmtp_nul_policy nul;
	size_t max;	   /* 0: 1000 */
	const char *out;   /* expected message (status OK) */
	size_t out_len;	   /* 0: strlen(out) */
	enum lmtp_data_status status;
	size_t used;	   /* DATA: octets taken (0: all); BDAT: ignored */
	size_t bare_lf;	   /* expected stats */
};

/* Feeds in[0..len) in the pieces given by cuts (ascending offsets, ending
 * with len) and finishes. Returns the decoder; *used_r is the total taken,
 * *done_r whether DATA ended. */
static struct lmtp_data *feed(const struct data_case *c, const size_t *cuts, size_t ncuts,
			      size_t *used_r, int *done_r)
{
	size_t len = c->in_len ? c->in_len : strlen(c->in);
	struct lmtp_data *d = lmtp_data_create(c->mode, c->max ? c->max : 1000, c->nul);
	size_t pos = 0;

	*done_r = 0;
	for (size_t k = 0; k < ncuts && !*done_r; k++) {
		size_t end = cuts[k] < len ? cuts[k] : len, used = 0;

		if (end < pos)
			continue;
		if (lmtp_data_feed(d, c->in + pos, end - pos, &used) == LMTP_DATA_DONE)
			*done_r = 1;
		CU_ASSERT(used <= end - pos);
		if (!*done_r)
			CU_ASSERT_EQUAL(used, end - pos);
		pos += used;
	}
	if (c->mode == LMTP_DATA_CHUNK)
		lmtp_data_finish(d);
	*used_r = pos;
	return d;
}

static void check(const struct data_case *c, size_t i, const char *how, const size_t *cuts,
		  size_t ncuts)
{
	size_t len = c->in_len ? c->in_len : strlen(c->in), used, mlen;
	int done;
	struct lmtp_data *d = feed(c, cuts, ncuts, &used, &done);
	unsigned char *m;
	bool ok = true;

	if (c->mode == LMTP_DATA_DOT) {
		ok &= done == 1;
		ok &= used == (c->used ? c->used : len);
	}
	ok &= lmtp_data_status(d) == c->status;
	if (c->status == LMTP_DATA_OK) {
		size_t want = c->out_len ? c->out_len : strlen(c->out);

		m = lmtp_data_take(d, &mlen);
		ok &= mlen == want && (want == 0 || memcmp(m, c->out, want) == 0);
		ok &= lmtp_data_stats(d)->size == want;
		free(m);
	}
	ok &= lmtp_data_stats(d)->bare_lf == c->bare_lf;
	if (!ok)
		printf("\n  case %zu (%s): wrong result", i, how);
	CU_ASSERT(ok);
	lmtp_data_destroy(&d);
	CU_ASSERT_PTR_NULL(d);
}

static void run_cases(const struct data_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = cases[i].in_len ? cases[i].in_len : strlen(cases[i].in);
		size_t whole[1] = {len};
		size_t *bytes = malloc((len + 1) * sizeof(size_t));

		check(&cases[i], i, "whole", whole, 1);
		for (size_t k = 0; k <= len; k++)
			bytes[k] = k + 1;
		check(&cases[i], i, "byte by byte", bytes, len + 1);
		for (size_t cut = 0; cut <= len; cut++) {
			size_t two[2] = {cut, len};
			check(&cases[i], i, "split", two, 2);
		}
		free(bytes);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define DOT LMTP_DATA_DOT
#define CHUNK LMTP_DATA_CHUNK
#define REPL LMTP_NUL_REPLACE
#define OK LMTP_DATA_OK

static void test_dot(void)
{
	static const struct data_case cases[] = {
		{"hello\r\n.\r\n", 0, DOT, REPL, 0, "hello\r\n", 0, OK, 0, 0},
		{".\r\n", 0, DOT, REPL, 0, "", 0, OK, 0, 0},
		/* What follows the end belongs to the next command. */
		{"a\r\n.\r\nQUIT\r\n", 0, DOT, REPL, 0, "a\r\n", 0, OK, 6, 0},
		{"a\r\n.\r\n.\r\n", 0, DOT, REPL, 0, "a\r\n", 0, OK, 6, 0},
		/* Dot-unstuffing (RFC 5321 §4.5.2). */
		{"..x\r\n.\r\n", 0, DOT, REPL, 0, ".x\r\n", 0, OK, 0, 0},
		{"..\r\n.\r\n", 0, DOT, REPL, 0, ".\r\n", 0, OK, 0, 0},
		{".x\r\n.\r\n", 0, DOT, REPL, 0, "x\r\n", 0, OK, 0, 0},
		{"a\r\n...\r\n.\r\n", 0, DOT, REPL, 0, "a\r\n..\r\n", 0, OK, 0, 0},
		{"a\r\n. \r\n.\r\n", 0, DOT, REPL, 0, "a\r\n \r\n", 0, OK, 0, 0},
		{"x.\r\n.\r\n", 0, DOT, REPL, 0, "x.\r\n", 0, OK, 0, 0},
		{"a\r\n.x.\r\n.\r\n", 0, DOT, REPL, 0, "a\r\nx.\r\n", 0, OK, 0, 0},
		/* Bare LF: a line end, made CRLF; ".\n" ends the data. */
		{"a\nb\n.\n", 0, DOT, REPL, 0, "a\r\nb\r\n", 0, OK, 0, 2},
		{"a\n.\r\n", 0, DOT, REPL, 0, "a\r\n", 0, OK, 0, 1},
		{"a\r\n.\n", 0, DOT, REPL, 0, "a\r\n", 0, OK, 0, 0},
		{"\n\n.\r\n", 0, DOT, REPL, 0, "\r\n\r\n", 0, OK, 0, 2},
		{"..\n.\n", 0, DOT, REPL, 0, ".\r\n", 0, OK, 0, 1},
		/* Bare CR is content. */
		{"a\rb\r\n.\r\n", 0, DOT, REPL, 0, "a\rb\r\n", 0, OK, 0, 0},
		{"a\r\r\n.\r\n", 0, DOT, REPL, 0, "a\r\r\n", 0, OK, 0, 0},
		{"\r\r\r\n.\r\n", 0, DOT, REPL, 0, "\r\r\r\n", 0, OK, 0, 0},
		{".\rx\r\n.\r\n", 0, DOT, REPL, 0, "\rx\r\n", 0, OK, 0, 0},
		{".\r.\r\n.\r\n", 0, DOT, REPL, 0, "\r.\r\n", 0, OK, 0, 0},
		{"a\r\n.\r.\r\n.\r\n", 0, DOT, REPL, 0, "a\r\n\r.\r\n", 0, OK, 0, 0},
		/* NUL octets: by policy. */
		{"a\0b\r\n.\r\n", 8, DOT, LMTP_NUL_REPLACE, 0, "a\x80" "b\r\n", 0, OK, 0, 0},
		{"a\0b\r\n.\r\n", 8, DOT, LMTP_NUL_KEEP, 0, "a\0b\r\n", 5, OK, 0, 0},
		{"a\0b\r\n.\r\n", 8, DOT, LMTP_NUL_REJECT, 0, NULL, 0, LMTP_DATA_HAS_NUL, 0, 0},
		{".\0\r\n.\r\n", 7, DOT, LMTP_NUL_REPLACE, 0, "\x80\r\n", 0, OK, 0, 0},
		/* The limit: 10 octets kept, 11 refused (the rest still read). */
		{"01234567\r\n.\r\n", 0, DOT, REPL, 10, "01234567\r\n", 0, OK, 0, 0},
		{"012345678\r\n.\r\nNOOP", 0, DOT, REPL, 10, NULL, 0, LMTP_DATA_TOO_BIG, 14, 0},
		{"012345678\n.\n", 0, DOT, REPL, 10, "012345678\r\n", 0, LMTP_DATA_TOO_BIG, 0, 1},
		{"0123456789\r\n", 0, CHUNK, REPL, 10, NULL, 0, LMTP_DATA_TOO_BIG, 0, 0},
		{"01234567\r\n", 0, CHUNK, REPL, 10, "01234567\r\n", 0, OK, 0, 0},
		{"01234567\n", 0, CHUNK, REPL, 10, "01234567\r\n", 0, OK, 0, 1},
		{"012345678\n", 0, CHUNK, REPL, 10, NULL, 0, LMTP_DATA_TOO_BIG, 0, 1},
	};
	run_cases(cases, N(cases));
}

static void test_chunk(void)
{
	static const struct data_case cases[] = {
		{"", 0, CHUNK, REPL, 0, "", 0, OK, 0, 0},
		{"a\r\nb\r\n", 0, CHUNK, REPL, 0, "a\r\nb\r\n", 0, OK, 0, 0},
		/* No dot handling in BDAT. */
		{".x\r\n.\r\n", 0, CHUNK, REPL, 0, ".x\r\n.\r\n", 0, OK, 0, 0},
		{"a\nb", 0, CHUNK, REPL, 0, "a\r\nb", 0, OK, 0, 1},
		/* A CR at the very end stays a CR. */
		{"a\r", 0, CHUNK, REPL, 0, "a\r", 0, OK, 0, 0},
		{"a\r\r", 0, CHUNK, REPL, 0, "a\r\r", 0, OK, 0, 0},
		{"a\0", 2, CHUNK, REPL, 0, "a\x80", 0, OK, 0, 0},
	};
	run_cases(cases, N(cases));
}

/* RFC 5321 §4.5.3.1.6's 1000-octet lines are a limit for senders: longer
 * ones are kept whole and counted. */
static void test_long_lines(void)
{
	size_t n = 5000, used = 0;
	char *in = malloc(n + 10);
	struct lmtp_data *d = lmtp_data_create(LMTP_DATA_DOT, 100000, LMTP_NUL_REPLACE);
	unsigned char *m;
	size_t mlen;

	memset(in, 'x', n);
	memcpy(in + n, "\r\n999\r\n.\r\n", 10);
	memcpy(in + 998, "\r\n", 2); /* a line of 998: not long */
	CU_ASSERT_EQUAL(lmtp_data_feed(d, in, n + 10, &used), LMTP_DATA_DONE);
	CU_ASSERT_EQUAL(used, n + 10);
	CU_ASSERT_EQUAL(lmtp_data_stats(d)->long_lines, 1);
	CU_ASSERT_EQUAL(lmtp_data_stats(d)->longest, n - 1000);
	m = lmtp_data_take(d, &mlen);
	CU_ASSERT_EQUAL(mlen, n + 7);
	CU_ASSERT(m != NULL && memcmp(m, in, n + 7) == 0);
	free(m);
	lmtp_data_destroy(&d);
	free(in);
}

/* A large message in big pieces: the fast path copies runs of octets. */
static void test_large(void)
{
	size_t n = 80 * 40000, used; /* whole lines of 80 */
	char *in = malloc(n + 3);
	struct lmtp_data *d = lmtp_data_create(LMTP_DATA_DOT, 4 * 1024 * 1024, LMTP_NUL_REPLACE);
	unsigned char *m;
	size_t mlen, pos = 0;

	for (size_t i = 0; i < n; i++)
		in[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
	memcpy(in + n, ".\r\n", 3);
	while (pos < n + 3) {
		size_t piece = n + 3 - pos < 65536 ? n + 3 - pos : 65536;
		enum lmtp_data_result r = lmtp_data_feed(d, in + pos, piece, &used);
		pos += used;
		if (r == LMTP_DATA_DONE)
			break;
	}
	CU_ASSERT_EQUAL(pos, n + 3);
	CU_ASSERT_EQUAL(lmtp_data_status(d), LMTP_DATA_OK);
	m = lmtp_data_take(d, &mlen);
	CU_ASSERT_EQUAL(mlen, n);
	CU_ASSERT(m != NULL && memcmp(m, in, n) == 0);
	free(m);
	lmtp_data_destroy(&d);
	free(in);
}

static const struct unit_test data_tests[] = {
	{"DATA: end, unstuffing, line ends, NUL, limit", test_dot},
	{"BDAT: raw chunks, line ends, trailing CR", test_chunk},
	{"lines over 1000 octets kept and counted", test_long_lines},
	{"3.2 MB in 64 KiB pieces", test_large},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"lmtp_data", data_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
