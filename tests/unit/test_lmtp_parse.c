/* Unit tests for the LMTP command-line parser (server/lmtp/lmtp_parse.c).
 *
 * Table-driven: each case is a command line (without CRLF) and either the
 * rendering of what the parser returned ("MAIL path=a@b.c size=10") or the
 * exact reply it chose for a syntax error. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "lmtp/lmtp_parse.h"
#include "pool.h"
#include "unit.h"

static void render(struct buf *b, const struct lmtp_command *c)
{
	(void)buf_append_str(b, lmtp_verb_name(c->verb));
	if (c->arg != NULL)
		(void)buf_printf(b, " arg=%s", c->arg);
	if (c->path != NULL)
		(void)buf_printf(b, " path=%s", c->path);
	if (c->has_size)
		(void)buf_printf(b, " size=%llu", (unsigned long long)c->size);
	if (c->body != LMTP_BODY_NONE)
		(void)buf_printf(b, " body=%s", c->body == LMTP_BODY_7BIT ? "7BIT" : "8BITMIME");
	if (c->verb == LMTP_CMD_BDAT)
		(void)buf_printf(b, " chunk=%llu%s", (unsigned long long)c->chunk_size,
				 c->last ? " LAST" : "");
}

struct parse_case {
	const char *line;
	size_t len; /* 0: strlen(line) */
	const char *expect; /* the rendering, or the error reply */
};

static void run_cases(const struct parse_case *cases, size_t n)
{
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < n; i++) {
		struct lmtp_command c;
		const char *reply = NULL;
		struct buf out;
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].line);

		buf_init(&out, 0);
		if (lmtp_parse_command(cases[i].line, len, pool, &c, &reply) == 0)
			render(&out, &c);
		else
			(void)buf_append_str(&out, reply);
		if (strcmp(out.data, cases[i].expect) != 0)
			printf("\n  line %zu \"%s\": got \"%s\", want \"%s\"", i, cases[i].line, out.data,
			       cases[i].expect);
		CU_ASSERT_STRING_EQUAL(out.data, cases[i].expect);
		buf_free(&out);
		pool_clear(pool);
	}
	pool_destroy(&pool);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_verbs(void)
{
	static const struct parse_case cases[] = {
		{"LHLO mx.example.test", 0, "LHLO arg=mx.example.test"},
		{"lhlo [127.0.0.1]", 0, "LHLO arg=[127.0.0.1]"},
		{"LHLO", 0, "501 5.5.4 Syntax: LHLO <hostname>"},
		{"LHLO   ", 0, "501 5.5.4 Syntax: LHLO <hostname>"},
		{"HELO mx", 0, "500 5.5.1 This is LMTP: say LHLO"},
		{"ehlo mx", 0, "500 5.5.1 This is LMTP: say LHLO"},
		{"STARTTLS", 0, "500 5.5.1 Unknown command"},
		{"", 0, "500 5.5.1 Unknown command"},
		{"LHLOX a", 0, "500 5.5.1 Unknown command"},
		{"DATA", 0, "DATA"},
		{"data   ", 0, "DATA"},
		{"DATA x", 0, "501 5.5.4 No arguments allowed"},
		{"RSET", 0, "RSET"},
		{"RSET now", 0, "501 5.5.4 No arguments allowed"},
		{"QUIT", 0, "QUIT"},
		{"NOOP", 0, "NOOP"},
		{"NOOP keep me", 0, "NOOP arg=keep me"},
		{"VRFY", 0, "501 5.5.4 Syntax: VRFY <address>"},
		{"VRFY user@example.test", 0, "VRFY arg=user@example.test"},
		{"NOOP \x01", 0, "500 5.5.2 Control characters in command line"},
		{"NOOP a\tb", 0, "500 5.5.2 Control characters in command line"},
		{"NOOP a\x7f", 0, "500 5.5.2 Control characters in command line"},
		/* A NUL in the middle of the line is seen, not a terminator. */
		{"NOOP a\0b", 8, "500 5.5.2 Control characters in command line"},
	};
	run_cases(cases, N(cases));
	CU_ASSERT_STRING_EQUAL(lmtp_verb_name(LMTP_CMD_VRFY), "VRFY");
	CU_ASSERT_STRING_EQUAL(lmtp_verb_name((enum lmtp_verb)99), "?");
}

static void test_mail(void)
{
	static const struct parse_case cases[] = {
		{"MAIL FROM:<a@b.example>", 0, "MAIL path=a@b.example"},
		{"mail from:<a@b.example>", 0, "MAIL path=a@b.example"},
		{"MAIL FROM:<>", 0, "MAIL path="},
		{"MAIL FROM: <a@b.example>", 0, "MAIL path=a@b.example"},
		{"MAIL FROM:<@r1.example,@r2.example:a@b.example>", 0, "MAIL path=a@b.example"},
		{"MAIL FROM:<\"a b\"@c.example>", 0, "MAIL path=\"a b\"@c.example"},
		{"MAIL FROM:<\"a>b\"@c.example>", 0, "MAIL path=\"a>b\"@c.example"},
		{"MAIL FROM:<\"a\\\"b\"@c.example>", 0, "MAIL path=\"a\\\"b\"@c.example"},
		{"MAIL FROM:<a@b.example> SIZE=1000", 0, "MAIL path=a@b.example size=1000"},
		{"MAIL FROM:<a@b.example> size=0 body=7bit", 0, "MAIL path=a@b.example size=0 body=7BIT"},
		{"MAIL FROM:<a@b.example>  BODY=8BITMIME   SIZE=12", 0,
		 "MAIL path=a@b.example size=12 body=8BITMIME"},
		/* 20 digits past UINT64_MAX saturate; 21 digits are refused. */
		{"MAIL FROM:<a@b.example> SIZE=99999999999999999999", 0,
		 "MAIL path=a@b.example size=18446744073709551615"},
		{"MAIL FROM:<a@b.example> SIZE=123456789012345678901", 0,
		 "501 5.5.4 Bad SIZE parameter"},
		{"MAIL FROM:<a@b.example> SIZE=12x", 0, "501 5.5.4 Bad SIZE parameter"},
		{"MAIL FROM:<a@b.example> SIZE", 0, "501 5.5.4 Bad SIZE parameter"},
		{"MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 0, "501 5.5.4 Bad SIZE parameter"},
		{"MAIL FROM:<a@b.example> BODY=BINARYMIME", 0, "555 5.5.4 Unsupported BODY type"},
		{"MAIL FROM:<a@b.example> BODY=7BIT BODY=7BIT", 0, "501 5.5.4 Bad BODY parameter"},
		{"MAIL FROM:<a@b.example> AUTH=<>", 0, "555 5.5.4 Unsupported MAIL parameter"},
		{"MAIL FROM:<a@b.example> SMTPUTF8", 0, "555 5.5.4 Unsupported MAIL parameter"},
		{"MAIL FROM:<a@b.example> =x", 0, "501 5.5.4 Bad MAIL parameter syntax"},
		{"MAIL FROM:<a@b.example> A=b=c", 0, "501 5.5.4 Bad MAIL parameter syntax"},
		{"MAIL FROM:<a@b.example> A=", 0, "501 5.5.4 Bad MAIL parameter syntax"},
		{"MAIL FROM:<a@b.example>X", 0, "501 5.5.4 Bad MAIL parameter syntax"},
		{"MAIL FROM:a@b.example", 0, "501 5.1.7 Bad sender address syntax"},
		{"MAIL FROM:<a@b.example", 0, "501 5.1.7 Bad sender address syntax"},
		{"MAIL FROM:<a b@c.example>", 0, "501 5.1.7 Bad sender address syntax"},
		{"MAIL FROM:<<a@b.example>>", 0, "501 5.1.7 Bad sender address syntax"},
		{"MAIL FROM:<@r1.example a@b.example>", 0, "501 5.1.7 Bad sender address syntax"},
		{"MAIL FROM:<\xc3\xa9@b.example>", 0, "501 5.1.7 Bad sender address syntax"},
		{"MAIL TO:<a@b.example>", 0, "501 5.5.4 Syntax: MAIL FROM:<address>"},
		{"MAIL", 0, "501 5.5.4 Syntax: MAIL FROM:<address>"},
		{"MAIL FROM:<a@b.example> A=1 B=2 C=3 D=4 E=5 F=6 G=7 H=8 I=9 J=10 K=11 L=12 M=13 "
		 "N=14 O=15 P=16 Q=17",
		 0, "555 5.5.4 Unsupported MAIL parameter"},
	};
	run_cases(cases, N(cases));
}

static void test_rcpt(void)
{
	static const struct parse_case cases[] = {
		{"RCPT TO:<user@example.test>", 0, "RCPT path=user@example.test"},
		{"rcpt to:<User+Tag@Example.TEST>", 0, "RCPT path=User+Tag@Example.TEST"},
		{"RCPT TO: <user@example.test>", 0, "RCPT path=user@example.test"},
		{"RCPT TO:<Postmaster>", 0, "RCPT path=Postmaster"},
		{"RCPT TO:<@relay.example:user@example.test>", 0, "RCPT path=user@example.test"},
		{"RCPT TO:<>", 0, "501 5.1.3 Bad recipient address syntax"},
		{"RCPT TO:user@example.test", 0, "501 5.1.3 Bad recipient address syntax"},
		{"RCPT TO:<user@example.test> NOTIFY=NEVER", 0, "555 5.5.4 Unsupported RCPT parameter"},
		{"RCPT TO:<user@example.test> =", 0, "501 5.5.4 Bad RCPT parameter syntax"},
		{"RCPT TO:<user@example.test>X", 0, "501 5.5.4 Bad RCPT parameter syntax"},
		{"RCPT FROM:<user@example.test>", 0, "501 5.5.4 Syntax: RCPT TO:<address>"},
		{"RCPT", 0, "501 5.5.4 Syntax: RCPT TO:<address>"},
	};
	run_cases(cases, N(cases));
}

/* RFC 5321 §4.5.3.1.3: a path of 256 octets is accepted, 257 are not. */
static void test_path_limit(void)
{
	char line[400], want[400];
	struct pool *pool = pool_create(0);
	struct lmtp_command c;
	const char *reply;
	char local[64 + 1], domain[LMTP_MAX_PATH];
	size_t dlen;

	memset(local, 'l', 64);
	local[64] = '\0';
	/* 64 + 1 + dlen == 256 */
	dlen = LMTP_MAX_PATH - 65;
	memset(domain, 'd', dlen);
	domain[dlen] = '\0';
	snprintf(line, sizeof(line), "RCPT TO:<%s@%s>", local, domain);
	CU_ASSERT_EQUAL(lmtp_parse_command(line, strlen(line), pool, &c, &reply), 0);
	snprintf(want, sizeof(want), "%s@%s", local, domain);
	CU_ASSERT_EQUAL(strlen(c.path), LMTP_MAX_PATH);
	CU_ASSERT_STRING_EQUAL(c.path, want);
	snprintf(line, sizeof(line), "RCPT TO:<%s@%sd>", local, domain);
	CU_ASSERT_EQUAL(lmtp_parse_command(line, strlen(line), pool, &c, &reply), -1);
	CU_ASSERT_STRING_EQUAL(reply, "501 5.1.3 Bad recipient address syntax");
	pool_destroy(&pool);
}

static void test_bdat(void)
{
	static const struct parse_case cases[] = {
		{"BDAT 100", 0, "BDAT chunk=100"},
		{"BDAT 0 LAST", 0, "BDAT chunk=0 LAST"},
		{"bdat 7 last", 0, "BDAT chunk=7 LAST"},
		{"BDAT 18446744073709551615", 0, "BDAT chunk=18446744073709551615"},
		{"BDAT", 0, "501 5.5.4 Syntax: BDAT <size> [LAST]"},
		{"BDAT x", 0, "501 5.5.4 Syntax: BDAT <size> [LAST]"},
		{"BDAT -1", 0, "501 5.5.4 Syntax: BDAT <size> [LAST]"},
		{"BDAT 10 FIRST", 0, "501 5.5.4 Syntax: BDAT <size> [LAST]"},
		{"BDAT 10 LAST x", 0, "501 5.5.4 Syntax: BDAT <size> [LAST]"},
		{"BDAT 123456789012345678901", 0, "501 5.5.4 Syntax: BDAT <size> [LAST]"},
	};
	run_cases(cases, N(cases));
}

static const struct unit_test parse_tests[] = {
	{"verbs, arguments and control characters", test_verbs},
	{"MAIL FROM paths and parameters", test_mail},
	{"RCPT TO paths and parameters", test_rcpt},
	{"path of 256 octets accepted, 257 refused", test_path_limit},
	{"BDAT size and LAST", test_bdat},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"lmtp_parse", parse_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
