/* Unit tests for the IMAP command parser.
 *
 * Table-driven: each case is an input and the log of what the parser
 * reported for it ("CONT 4; DONE a LOGIN {4}fred pwd"). Every input is fed
 * whole, byte by byte and split in two at every offset; all three must give
 * the expected log and the same stopping offsets. */
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_parser.h"
#include "pool.h"
#include "unit.h"

/* Small limits so that each can be reached by a short input. */
static const struct imap_limits test_limits = {
	.max_tag = 16,
	.max_line = 200,
	.max_literal = 100,
	.max_nonsync_literal = 50,
	.max_literal_total = 150,
	.max_args = 20,
	.max_depth = 3,
	.max_bad = 1000,
};

/* Rendering what the parser returned. */

static void render_bytes(struct buf *b, const char *s, size_t len, bool quoted)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			(void)buf_printf(b, "\\x%02x", c);
		else if (quoted && (c == '"' || c == '\\'))
			(void)buf_printf(b, "\\%c", c);
		else
			(void)buf_append(b, &c, 1);
	}
}

static void render_arg(struct buf *b, const struct imap_arg *a)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
		/* Backquotes show that an atom with spaces is one argument. */
		if (memchr(a->str, ' ', a->len) != NULL)
			(void)buf_append_str(b, "`");
		render_bytes(b, a->str, a->len, false);
		if (memchr(a->str, ' ', a->len) != NULL)
			(void)buf_append_str(b, "`");
		break;
	case IMAP_ARG_QUOTED:
		(void)buf_append_str(b, "\"");
		render_bytes(b, a->str, a->len, true);
		(void)buf_append_str(b, "\"");
		break;
	case IMAP_ARG_LITERAL:
		(void)buf_printf(b, "%s{%zu%s}", a->literal8 ? "~" : "", a->len,
				 a->nonsync ? "+" : "");
		render_bytes(b, a->str, a->len, false);
		break;
	case IMAP_ARG_NIL:
		(void)buf_append_str(b, "NIL");
		break;
	case IMAP_ARG_LIST:
		(void)buf_append_str(b, "(");
		for (unsigned i = 0; i < a->list_count; i++) {
			if (i > 0)
				(void)buf_append_str(b, " ");
			render_arg(b, &a->list[i]);
		}
		(void)buf_append_str(b, ")");
		break;
	}
}

static void render_event(struct buf *b, struct imap_parser *p, enum imap_parse_result r)
{
	const struct imap_command *cmd;
	const char *tag;

	if (b->len > 0)
		(void)buf_append_str(b, "; ");
	switch (r) {
	case IMAP_PARSE_MORE:
		(void)buf_append_str(b, "MORE");
		break;
	case IMAP_PARSE_CONTINUE:
		(void)buf_printf(b, "CONT %zu", imap_parser_literal_size(p));
		break;
	case IMAP_PARSE_DONE:
		cmd = imap_parser_command(p);
		CU_ASSERT_PTR_NOT_NULL_FATAL(cmd);
		CU_ASSERT_PTR_NULL(imap_parser_error(p));
		(void)buf_printf(b, "DONE %s %s", cmd->tag, cmd->name);
		for (unsigned i = 0; i < cmd->argc; i++) {
			(void)buf_append_str(b, " ");
			render_arg(b, &cmd->args[i]);
		}
		break;
	case IMAP_PARSE_BAD:
	case IMAP_PARSE_FATAL:
		CU_ASSERT_PTR_NULL(imap_parser_command(p));
		CU_ASSERT_PTR_NOT_NULL_FATAL(imap_parser_error(p));
		tag = imap_parser_tag(p);
		(void)buf_printf(b, "%s %s: %s", r == IMAP_PARSE_BAD ? "BAD" : "FATAL",
				 tag != NULL ? tag : "*", imap_parser_error(p));
		break;
	}
}

/* Feeding. */

enum split_mode { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_AT };

/* Feeds in[0..len) as one chunk, byte by byte, or as two chunks cut at
 * `at`. Fills log with the events, and where with the events and the input
 * offsets at which they were reported. */
static void run_parser(const struct imap_limits *lim, const unsigned char *in, size_t len,
		       enum split_mode mode, size_t at, struct buf *log, struct buf *where)
{
	struct pool *pool = pool_create(0);
	struct imap_parser *p = imap_parser_create(pool, lim);
	enum imap_parse_result r = IMAP_PARSE_MORE;
	size_t start = 0;

	buf_reset(log);
	buf_reset(where);
	while (start < len) {
		size_t end = mode == SPLIT_WHOLE ? len : mode == SPLIT_BYTES ? start + 1
					: start < at ? at : len;
		size_t pos = start;

		while (pos < end) {
			size_t consumed = (size_t)-1;

			r = imap_parser_feed(p, in + pos, end - pos, &consumed);
			CU_ASSERT_FATAL(consumed <= end - pos);
			pos += consumed;
			if (r == IMAP_PARSE_MORE) {
				CU_ASSERT(pos == end);
				break;
			}
			render_event(log, p, r);
			render_event(where, p, r);
			(void)buf_printf(where, " @%zu", pos);
			if (r == IMAP_PARSE_FATAL)
				goto out;
			if (r == IMAP_PARSE_DONE || r == IMAP_PARSE_CONTINUE)
				CU_ASSERT(in[pos - 1] == '\n');
		}
		start = end;
	}
	if (r == IMAP_PARSE_MORE && len > 0)
		render_event(log, p, r);
out:
	imap_parser_destroy(&p);
	CU_ASSERT_PTR_NULL(p);
	pool_destroy(&pool);
}

/* Checks one input in every split against the expected log. */
static void check_input(const char *name, const struct imap_limits *lim, const void *data,
			size_t len, const char *expect)
{
	const unsigned char *in = data;
	struct buf log, where, log2, where2;

	buf_init(&log, 0);
	buf_init(&where, 0);
	buf_init(&log2, 0);
	buf_init(&where2, 0);
	run_parser(lim, in, len, SPLIT_WHOLE, 0, &log, &where);
	if (strcmp(log.data != NULL ? log.data : "", expect) != 0) {
		fprintf(stderr, "\n%s:\n  expected: %s\n  got:      %s\n", name, expect,
			log.data != NULL ? log.data : "");
		CU_FAIL("parser log differs from the expected one");
	}
	for (size_t at = 0; at <= len; at++) {
		run_parser(lim, in, len, at == len ? SPLIT_BYTES : SPLIT_AT, at, &log2,
			   &where2);
		if (strcmp(log2.data != NULL ? log2.data : "",
			   log.data != NULL ? log.data : "") != 0 ||
		    strcmp(where2.data != NULL ? where2.data : "",
			   where.data != NULL ? where.data : "") != 0) {
			fprintf(stderr, "\n%s (%s %zu):\n  whole: %s\n  split: %s\n", name,
				at == len ? "bytes" : "split at", at, where.data, where2.data);
			CU_FAIL("split input gives another result");
			break;
		}
	}
	buf_free(&log);
	buf_free(&where);
	buf_free(&log2);
	buf_free(&where2);
}

struct parse_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *expect;
};

#define BIN(s) s, sizeof(s) - 1 /* an input holding NUL */

static void check_cases(const struct parse_case *cases, size_t n, const struct imap_limits *lim)
{
	for (size_t i = 0; i < n; i++)
		check_input(cases[i].in, lim, cases[i].in,
			    cases[i].len != 0 ? cases[i].len : strlen(cases[i].in), cases[i].expect);
}

#define CHECK_CASES(cases, lim) check_cases(cases, sizeof(cases) / sizeof(cases[0]), lim)

/* The tables. */

static void test_simple_commands(void)
{
	static const struct parse_case cases[] = {
		{"a1 NOOP\r\n", 0, "DONE a1 NOOP"},
		{"a1 noop\n", 0, "DONE a1 NOOP"},
		{"A001 LOGIN fred secret\r\n", 0, "DONE A001 LOGIN fred secret"},
		{"a SELECT INBOX\r\n", 0, "DONE a SELECT INBOX"},
		{"a select ~peter/mail/&U,BTFw-\r\n", 0, "DONE a SELECT ~peter/mail/&U,BTFw-"},
		{"a LIST \"\" *\r\n", 0, "DONE a LIST \"\" *"},
		{"a LIST \"\" %/x*\r\n", 0, "DONE a LIST \"\" %/x*"},
		{"a UID STORE 1:5,7 +FLAGS.SILENT (\\Seen \\Deleted)\r\n", 0,
		 "DONE a UID STORE 1:5,7 +FLAGS.SILENT (\\Seen \\Deleted)"},
		{"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n", 0,
		 "DONE a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)"},
		{"t]1 NOOP\r\n", 0, "DONE t]1 NOOP"},
		{"t[1 NOOP\r\n", 0, "DONE t[1 NOOP"},
		{"a1 NOOP\r\na2 CAPABILITY\r\n", 0, "DONE a1 NOOP; DONE a2 CAPABILITY"},
		{"a1 NOOP\r\na2 CAPA", 0, "DONE a1 NOOP; MORE"},
		{"a X ] a]b\r\n", 0, "DONE a X ] a]b"},
		{"a ID (\"name\" \"x\" \"version\" NIL)\r\n", 0,
		 "DONE a ID (\"name\" \"x\" \"version\" NIL)"},
		{"a X ~\r\n", 0, "DONE a X ~"},
		{"a X ~ ~a\r\n", 0, "DONE a X ~ ~a"},
	};
	CHECK_CASES(cases, &test_limits);
}

static void test_quoted_strings(void)
{
	static const struct parse_case cases[] = {
		{"a LOGIN \"fred\" \"p\\\"w\\\\d\"\r\n", 0,
		 "DONE a LOGIN \"fred\" \"p\\\"w\\\\d\""},
		{"a X \"\"\r\n", 0, "DONE a X \"\""},
		{"a X \"a b (c) {3} \\\\\"\r\n", 0, "DONE a X \"a b (c) {3} \\\\\""},
		{"a X \"tab\there\"\r\n", 0, "DONE a X \"tab\\x09here\""},
		{"a SEARCH CHARSET UTF-8 SUBJECT \"\xc3\xa4\xe2\x82\xac\"\r\n", 0,
		 "DONE a SEARCH CHARSET UTF-8 SUBJECT \"\xc3\xa4\xe2\x82\xac\""},
		{"a X \"x\"\n", 0, "DONE a X \"x\""},
	};
	CHECK_CASES(cases, &test_limits);
}

static void test_literals(void)
{
	static const struct parse_case cases[] = {
		{"a LOGIN {4}\r\nfred {3}\r\npwd\r\n", 0, "CONT 4; CONT 3; DONE a LOGIN {4}fred {3}pwd"},
		{"a LOGIN {4+}\r\nfred pwd\r\n", 0, "DONE a LOGIN {4+}fred pwd"},
		{"a LOGIN {4}\nfred pwd\n", 0, "CONT 4; DONE a LOGIN {4}fred pwd"},
		{BIN("a APPEND INBOX ~{3}\r\na\0b\r\n"), "CONT 3; DONE a APPEND INBOX ~{3}a\\x00b"},
		{BIN("a APPEND INBOX ~{3+}\r\n\0\0\0\r\n"), "DONE a APPEND INBOX ~{3+}\\x00\\x00\\x00"},
		{"a X {0}\r\n {0+}\r\n ~{0}\r\n\r\n", 0, "CONT 0; CONT 0; DONE a X {0} {0+} ~{0}"},
		{"a X ({3+}\r\nabc b)\r\n", 0, "DONE a X ({3+}abc b)"},
		{"a X ({3}\r\nabc)\r\n", 0, "CONT 3; DONE a X ({3}abc)"},
		{"a X {6}\r\n(\r\n)\"\\\r\n", 0, "CONT 6; DONE a X {6}(\\x0d\\x0a)\"\\"},
		{"a X {3}\r\n{5}\r\n", 0, "CONT 3; DONE a X {3}{5}"},
		{"a X {02}\r\nab\r\n", 0, "CONT 2; DONE a X {2}ab"},
		{"a APPEND Drafts (\\Seen \\Draft) \"17-Jul-1996 02:44:25 -0700\" {5}\r\nhello\r\n",
		 0,
		 "CONT 5; DONE a APPEND Drafts (\\Seen \\Draft) \"17-Jul-1996 02:44:25 -0700\" "
		 "{5}hello"},
		{"a SEARCH CHARSET UTF-8 SUBJECT {4}\r\n\xd0\xa2\xd0\xb5\r\n", 0,
		 "CONT 4; DONE a SEARCH CHARSET UTF-8 SUBJECT {4}\xd0\xa2\xd0\xb5"},
		{"a X {3}\r\nab", 0, "CONT 3; MORE"},
		{"a X {3}\r\n", 0, "CONT 3"},
	};
	CHECK_CASES(cases, &test_limits);
}

static void test_lists_and_nil(void)
{
	static const struct parse_case cases[] = {
		{"a X (a (b (c)) ())\r\n", 0, "DONE a X (a (b (c)) ())"},
		{"a X () ()\r\n", 0, "DONE a X () ()"},
		{"a X ((()))\r\n", 0, "DONE a X ((()))"},
		{"a X NIL nil Nil NILS \"NIL\" {3+}\r\nNIL\r\n", 0,
		 "DONE a X NIL NIL NIL NILS \"NIL\" {3+}NIL"},
		{"a X (NIL \"a\")\r\n", 0, "DONE a X (NIL \"a\")"},
	};
	CHECK_CASES(cases, &test_limits);
}

static void test_fetch_brackets(void)
{
	static const struct parse_case cases[] = {
		{"a FETCH 1:*,5 (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.2048> BINARY[1.2] "
		 "BODY[])\r\n",
		 0,
		 "DONE a FETCH 1:*,5 (FLAGS `BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.2048>` "
		 "BINARY[1.2] BODY[])"},
		{"a FETCH 1 BODY[HEADER.FIELDS.NOT (X-A \"X-B\" \"q\\\"\")]\r\n", 0,
		 "DONE a FETCH 1 `BODY[HEADER.FIELDS.NOT (X-A \"X-B\" \"q\\\"\")]`"},
		{"a FETCH 1 (BODY[1.2.MIME] BINARY.SIZE[3] BODY[TEXT]<10.20>)\r\n", 0,
		 "DONE a FETCH 1 (BODY[1.2.MIME] BINARY.SIZE[3] BODY[TEXT]<10.20>)"},
		{"a FETCH 1 BODY[]\r\n", 0, "DONE a FETCH 1 BODY[]"},
		{"a FETCH 1 BODY[(a (b))]\r\n", 0, "DONE a FETCH 1 `BODY[(a (b))]`"},
		{"a FETCH 1 BODY[)]\r\n", 0, "BAD a: Unbalanced parentheses"},
		{"a FETCH 1 BODY[ )]\r\n", 0, "BAD a: Unbalanced parentheses in section"},
		{"a FETCH 1 BODY[(]\r\n", 0, "BAD a: Missing ]"},
		{"a FETCH 1 (BODY[HEADER.FIELDS (A)]\r\n", 0, "BAD a: Unbalanced parentheses"},
		{"a FETCH 1 BODY[HEADER.FIELDS (A)\r\n", 0, "BAD a: Missing ]"},
		{"a FETCH 1 BODY[HEADER.FIELDS {3}\r\n", 0, "BAD a: Invalid character in section"},
		{"a FETCH 1 BODY[\"\xc3\xa4\"]\r\n", 0, "BAD a: Invalid character in section"},
		{"a FETCH 1 BODY[\"a\\b\"]\r\n", 0, "BAD a: Invalid escape in quoted string"},
		{"a FETCH 1 BODY[\"a]\r\n", 0, "BAD a: Invalid character in section"},
		/* '[' in an ordinary atom: Gmail's folder names. */
		{"a SELECT [Gmail]/Sent\r\n", 0, "DONE a SELECT [Gmail]/Sent"},
		{"a SELECT [Gmail\r\n", 0, "DONE a SELECT [Gmail"},
		{"a X ([Gmail) b\r\n", 0, "DONE a X ([Gmail) b"},
		{"a X [a]]b[c]\r\n", 0, "DONE a X [a]]b[c]"},
		{"a SELECT [Gmail Sent\r\n", 0, "BAD a: Missing ]"},
	};
	CHECK_CASES(cases, &test_limits);
}

static void test_syntax_errors(void)
{
	static const struct parse_case cases[] = {
		{"\r\n", 0, "BAD *: Empty command line"},
		{"\n", 0, "BAD *: Empty command line"},
		{"a\r\n", 0, "BAD a: Missing command name"},
		{"a \r\n", 0, "BAD a: Missing command name"},
		{"a  NOOP\r\n", 0, "BAD a: Missing command name"},
		{" NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"* NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"+ NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"a+1 NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"a%1 NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"a\"1 NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"a(1 NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"a{1 NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"a\\1 NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"a\x01 NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"\xc3\xa4 NOOP\r\n", 0, "BAD *: Invalid tag"},
		{"a NO\xc3\xa4OP\r\n", 0, "BAD a: Invalid command name"},
		{"a NO*OP\r\n", 0, "BAD a: Invalid command name"},
		{"a \"NOOP\"\r\n", 0, "BAD a: Missing command name"},
		{"a NOOP \r\n", 0, "BAD a: Missing argument"},
		{"a X a  b\r\n", 0, "BAD a: Missing argument"},
		{"a X ( a)\r\n", 0, "BAD a: Missing argument"},
		{"a X (a )\r\n", 0, "BAD a: Missing argument"},
		{"a X \"a\"b\r\n", 0, "BAD a: Missing space between arguments"},
		{"a X (a)(b)\r\n", 0, "BAD a: Missing space between arguments"},
		{"a X a(b)\r\n", 0, "BAD a: Invalid character in atom"},
		{"a X a\\b\r\n", 0, "BAD a: Invalid character in atom"},
		{"a X \\\r\n", 0, "BAD a: Invalid flag"},
		{"a X a{3}\r\n", 0, "BAD a: Invalid character in atom"},
		{"a X a\"b\"\r\n", 0, "BAD a: Invalid character in atom"},
		{"a SELECT INB\xc3\xa4X\r\n", 0, "BAD a: Invalid character in atom"},
		{"a SELECT \xc3\xa4\r\n", 0, "BAD a: Invalid character in argument"},
		{"a SELECT IN\x01" "BOX\r\n", 0, "BAD a: Invalid character in atom"},
		{"a SELECT IN\x7f" "BOX\r\n", 0, "BAD a: Invalid character in atom"},
		{"a LOGIN \"fred\r\n", 0, "BAD a: Unterminated quoted string"},
		{"a LOGIN \"fred\n", 0, "BAD a: Unterminated quoted string"},
		{"a LOGIN \"f\\red\"\r\n", 0, "BAD a: Invalid escape in quoted string"},
		{BIN("a LOGIN \"f\0\" x\r\n"), "BAD a: NUL in quoted string"},
		{"a X (a b\r\n", 0, "BAD a: Unbalanced parentheses"},
		{"a X ((a)\r\n", 0, "BAD a: Unbalanced parentheses"},
		{"a X a)\r\n", 0, "BAD a: Unbalanced parentheses"},
		{"a X )\r\n", 0, "BAD a: Missing argument"},
		{"a X {3}x\r\n", 0, "BAD a: Missing CRLF after literal size"},
		{"a X {3} \r\n", 0, "BAD a: Missing CRLF after literal size"},
		{"a X {3}\rx\r\n", 0, "BAD a: Missing CRLF after literal size"},
		{"a X {}\r\n", 0, "BAD a: Invalid literal size"},
		{"a X {x}\r\n", 0, "BAD a: Invalid literal size"},
		{"a X {+3}\r\n", 0, "BAD a: Invalid literal size"},
		{"a X {3++}\r\n", 0, "BAD a: Invalid literal size"},
		{"a X {3 }\r\n", 0, "BAD a: Invalid literal size"},
		{"a X {-1}\r\n", 0, "BAD a: Invalid literal size"},
		{"a X ~{x}\r\n", 0, "BAD a: Invalid literal size"},
		{"a X ~~{1}\r\n", 0, "BAD a: Invalid character in atom"},
		{"a NOOP\rb NOOP\r\n", 0, "BAD a: CR not followed by LF"},
		{"a NOOP\r\r\n", 0, "BAD a: CR not followed by LF"},
		{"a X {3}\r\nabc)\r\n", 0, "CONT 3; BAD a: Unbalanced parentheses"},
		{"a X {3}\r\nabcd\r\n", 0, "CONT 3; BAD a: Missing space between arguments"},
	};
	CHECK_CASES(cases, &test_limits);
}

static void test_recovery_after_bad(void)
{
	static const struct parse_case cases[] = {
		{"a X (\r\nb NOOP\r\n", 0, "BAD a: Unbalanced parentheses; DONE b NOOP"},
		{"a X {3}x\r\nb NOOP\r\n", 0, "BAD a: Missing CRLF after literal size; DONE b NOOP"},
		{"\r\nb NOOP\r\n", 0, "BAD *: Empty command line; DONE b NOOP"},
		{"a\"x NOOP\r\nb NOOP\r\n", 0, "BAD *: Invalid tag; DONE b NOOP"},
		/* A {n+} literal of a bad command is skipped as data, so that its
		 * bytes cannot pass for a command. */
		{"a X a) {5+}\r\nb BYE\r\nc NOOP\r\n", 0, "BAD a: Unbalanced parentheses; DONE c NOOP"},
		{"a X ) {5+}\r\nb BYE {2+}\n\r\n\r\nc NOOP\r\n", 0,
		 "BAD a: Missing argument; DONE c NOOP"},
		{"a X ) ~{0+}\r\n\r\nc NOOP\r\n", 0, "BAD a: Missing argument; DONE c NOOP"},
		{"a X \"unterminated {5+}\r\nb BYE\r\nc NOOP\r\n", 0,
		 "BAD a: Unterminated quoted string; DONE c NOOP"},
		{"a X x{5+}\r\nb BYE\r\nc NOOP\r\n", 0, "BAD a: Invalid character in atom; DONE c NOOP"},
		/* A {n} one is not: the client waits for a "+". */
		{"a X ) {5}\r\nb NOOP\r\n", 0, "BAD a: Missing argument; DONE b NOOP"},
		/* A {n+} over the limit in a bad command cannot be skipped. */
		{"a X ) {51+}\r\nb NOOP\r\n", 0, "FATAL a: [TOOBIG] Literal too large"},
		{"a X ) {99999999999999999999999999+}\r\nb NOOP\r\n", 0,
		 "FATAL a: [TOOBIG] Literal too large"},
		/* Not a literal header at the end of the line. */
		{"a X ) {5+} \r\nb NOOP\r\n", 0, "BAD a: Missing argument; DONE b NOOP"},
		{"a X ) {5+}x\r\nb NOOP\r\n", 0, "BAD a: Missing argument; DONE b NOOP"},
		{"a X ) {+}\r\nb NOOP\r\n", 0, "BAD a: Missing argument; DONE b NOOP"},
		{"a X {3}\r\nabc)\r\nb NOOP\r\n", 0, "CONT 3; BAD a: Unbalanced parentheses; DONE b NOOP"},
	};
	CHECK_CASES(cases, &test_limits);
}

/* Limits, each at the limit and one past it. */

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Checks printf-built input against printf-built expectation. */
static void check_built(const struct imap_limits *lim, const char *in, const char *expect)
{
	check_input(in, lim, in, strlen(in), expect);
}

static void test_limit_tag(void)
{
	char *tag = repeat('t', test_limits.max_tag);
	char in[128], expect[128];

	snprintf(in, sizeof(in), "%s NOOP\r\n", tag);
	snprintf(expect, sizeof(expect), "DONE %s NOOP", tag);
	check_built(&test_limits, in, expect);
	snprintf(in, sizeof(in), "%sx NOOP\r\nb NOOP\r\n", tag);
	check_built(&test_limits, in, "BAD *: Tag too long; DONE b NOOP");
	free(tag);
}

static void test_limit_line(void)
{
	size_t max = test_limits.max_line;
	/* "a X " + atom + "\r\n" is exactly max_line bytes. */
	char *atom = repeat('x', max - 6);
	char in[512], expect[512];

	snprintf(in, sizeof(in), "a X %s\r\n", atom);
	CU_ASSERT_EQUAL(strlen(in), max);
	snprintf(expect, sizeof(expect), "DONE a X %s", atom);
	check_built(&test_limits, in, expect);
	/* One byte more; bare LF also counts. */
	snprintf(in, sizeof(in), "a X %sy\r\nb NOOP\r\n", atom);
	check_built(&test_limits, in, "BAD a: Command line too long; DONE b NOOP");
	snprintf(in, sizeof(in), "a X %sy\n", atom);
	snprintf(expect, sizeof(expect), "DONE a X %sy", atom);
	check_built(&test_limits, in, expect);
	snprintf(in, sizeof(in), "a X %syy\n", atom);
	check_built(&test_limits, in, "BAD a: Command line too long");
	/* The line may end with a {n+} header that is over the limit: its
	 * data must still be skipped. */
	free(atom);
	atom = repeat('x', max - 12);
	snprintf(in, sizeof(in), "a X %s {3+}\r\nb X\r\nc NOOP\r\n", atom);
	check_built(&test_limits, in, "BAD a: Command line too long; DONE c NOOP");
	free(atom);
}

static void test_limit_line_excludes_literal_data(void)
{
	struct imap_limits lim = test_limits;
	char *data = repeat('d', 90);
	char in[512], expect[512];

	lim.max_line = 16;
	/* "a X {90}\r\n" (10) + "\r\n" (2) = 12 counted bytes. */
	snprintf(in, sizeof(in), "a X {90}\r\n%s\r\n", data);
	snprintf(expect, sizeof(expect), "CONT 90; DONE a X {90}%s", data);
	check_built(&lim, in, expect);
	snprintf(in, sizeof(in), "a X {90}\r\n%s abcde\r\n", data);
	snprintf(expect, sizeof(expect), "CONT 90; BAD a: Command line too long");
	check_built(&lim, in, expect);
	free(data);
}

static void test_limit_literal(void)
{
	char *data = repeat('d', test_limits.max_literal);
	char in[512], expect[512];

	snprintf(in, sizeof(in), "a X {%zu}\r\n%s\r\n", test_limits.max_literal, data);
	snprintf(expect, sizeof(expect), "CONT %zu; DONE a X {%zu}%s", test_limits.max_literal,
		 test_limits.max_literal, data);
	check_built(&test_limits, in, expect);
	/* One past: BAD without a "+"; the client does not send the data. */
	snprintf(in, sizeof(in), "a X {%zu}\r\nb NOOP\r\n", test_limits.max_literal + 1);
	check_built(&test_limits, in, "BAD a: [TOOBIG] Literal too large; DONE b NOOP");
	snprintf(in, sizeof(in), "a X ~{%zu}\r\nb NOOP\r\n", test_limits.max_literal + 1);
	check_built(&test_limits, in, "BAD a: [TOOBIG] Literal too large; DONE b NOOP");
	/* A size that would overflow size_t. */
	check_built(&test_limits, "a X {184467440737095516160}\r\nb NOOP\r\n",
		    "BAD a: [TOOBIG] Literal too large; DONE b NOOP");
	free(data);
}

static void test_limit_nonsync_literal(void)
{
	size_t max = test_limits.max_nonsync_literal;
	char *data = repeat('d', max);
	char in[512], expect[512];

	snprintf(in, sizeof(in), "a X {%zu+}\r\n%s\r\n", max, data);
	snprintf(expect, sizeof(expect), "DONE a X {%zu+}%s", max, data);
	check_built(&test_limits, in, expect);
	/* One past: the bytes are on their way, the stream is lost. */
	snprintf(in, sizeof(in), "a X {%zu+}\r\n%sd\r\n", max + 1, data);
	check_built(&test_limits, in, "FATAL a: [TOOBIG] Literal too large");
	snprintf(in, sizeof(in), "a X ~{%zu+}\r\n%sd\r\n", max + 1, data);
	check_built(&test_limits, in, "FATAL a: [TOOBIG] Literal too large");
	check_built(&test_limits, "a X {184467440737095516160+}\r\n",
		    "FATAL a: [TOOBIG] Literal too large");
	/* A {n} of the same size is fine: its own limit is larger. */
	snprintf(in, sizeof(in), "a X {%zu}\r\n%sd\r\n", max + 1, data);
	snprintf(expect, sizeof(expect), "CONT %zu; DONE a X {%zu}%sd", max + 1, max + 1, data);
	check_built(&test_limits, in, expect);
	free(data);
}

static void test_limit_literal_total(void)
{
	/* 100 + 50 = max_literal_total (150). */
	char *d100 = repeat('a', 100), *d50 = repeat('b', 50);
	struct imap_limits lim = test_limits;
	char in[512], expect[512];

	snprintf(in, sizeof(in), "a X {100}\r\n%s {50+}\r\n%s\r\n", d100, d50);
	snprintf(expect, sizeof(expect), "CONT 100; DONE a X {100}%s {50+}%s", d100, d50);
	check_built(&test_limits, in, expect);
	snprintf(in, sizeof(in), "a X {100}\r\n%s {51}\r\nb NOOP\r\n", d100);
	check_built(&test_limits, in,
		    "CONT 100; BAD a: [TOOBIG] Literal too large; DONE b NOOP");
	snprintf(in, sizeof(in), "a X {100}\r\n%s {1}\r\nx {50+}\r\n", d100);
	check_built(&test_limits, in,
		    "CONT 100; CONT 1; FATAL a: [TOOBIG] Literal too large");
	/* 0: only the per-literal limits apply. */
	lim.max_literal_total = 0;
	snprintf(in, sizeof(in), "a X {100}\r\n%s {100}\r\n%s {50+}\r\n%s\r\n", d100, d100, d50);
	snprintf(expect, sizeof(expect), "CONT 100; CONT 100; DONE a X {100}%s {100}%s {50+}%s",
		 d100, d100, d50);
	check_built(&lim, in, expect);
	free(d100);
	free(d50);
}

static void test_limit_args(void)
{
	struct imap_limits lim = test_limits;
	char in[256];

	lim.max_args = 4;
	check_built(&lim, "a X 1 2 3 4\r\n", "DONE a X 1 2 3 4");
	check_built(&lim, "a X 1 2 3 4 5\r\nb NOOP\r\n", "BAD a: Too many arguments; DONE b NOOP");
	/* Lists count, and so do their elements. */
	check_built(&lim, "a X (1 (2))\r\n", "DONE a X (1 (2))");
	check_built(&lim, "a X (1 (2)) ()\r\n", "BAD a: Too many arguments");
	check_built(&lim, "a X (1 (2 3))\r\n", "BAD a: Too many arguments");
	check_built(&lim, "a X 1 2 3 4 \"5\"\r\n", "BAD a: Too many arguments");
	check_built(&lim, "a X 1 2 3 4 {1+}\r\n5\r\nb NOOP\r\n",
		    "BAD a: Too many arguments; DONE b NOOP");
	lim.max_args = 0;
	check_built(&lim, "a NOOP\r\n", "DONE a NOOP");
	snprintf(in, sizeof(in), "a X 1\r\n");
	check_built(&lim, in, "BAD a: Too many arguments");
}

static void test_limit_depth(void)
{
	struct imap_limits lim = test_limits;

	lim.max_depth = 2;
	check_built(&lim, "a X ((a) b) (c)\r\n", "DONE a X ((a) b) (c)");
	check_built(&lim, "a X (((a)))\r\nb NOOP\r\n", "BAD a: Too deeply nested; DONE b NOOP");
	check_built(&lim, "a X BODY[((a))]\r\n", "DONE a X BODY[((a))]");
	check_built(&lim, "a X BODY[(((a)))]\r\n", "BAD a: Too deeply nested");
	lim.max_depth = 0;
	check_built(&lim, "a X a\r\n", "DONE a X a");
	check_built(&lim, "a X ()\r\n", "BAD a: Too deeply nested");
}

static void test_limit_max_bad(void)
{
	struct imap_limits lim = test_limits;

	lim.max_bad = 2;
	/* Two in a row are tolerated, a good command resets the count. */
	check_built(&lim, "\r\n\r\na NOOP\r\n\r\n\r\nb NOOP\r\n",
		    "BAD *: Empty command line; BAD *: Empty command line; DONE a NOOP; "
		    "BAD *: Empty command line; BAD *: Empty command line; DONE b NOOP");
	check_built(&lim, "a X (\r\nb X (\r\nc X (\r\nd NOOP\r\n",
		    "BAD a: Unbalanced parentheses; BAD b: Unbalanced parentheses; "
		    "FATAL c: Too many invalid commands");
	lim.max_bad = 0;
	check_built(&lim, "a NOOP\r\n(\r\n", "DONE a NOOP; FATAL *: Too many invalid commands");
}

/* API behaviour. */

static struct imap_parser *new_parser(struct pool **pool_r, const struct imap_limits *lim)
{
	*pool_r = pool_create(0);
	return imap_parser_create(*pool_r, lim);
}

static enum imap_parse_result feed_str(struct imap_parser *p, const char *s, size_t *consumed_r)
{
	return imap_parser_feed(p, (const unsigned char *)s, strlen(s), consumed_r);
}

static void test_stops_after_each_command(void)
{
	struct pool *pool;
	struct imap_parser *p = new_parser(&pool, &test_limits);
	const char *in = "a STARTTLS\r\n\x16\x03\x01garbage";
	size_t consumed;

	CU_ASSERT_EQUAL(feed_str(p, in, &consumed), IMAP_PARSE_DONE);
	CU_ASSERT_EQUAL(consumed, 12);
	CU_ASSERT_STRING_EQUAL(imap_parser_command(p)->name, "STARTTLS");
	CU_ASSERT_EQUAL(imap_parser_command(p)->argc, 0);
	CU_ASSERT_PTR_NULL(imap_parser_command(p)->args);
	/* A fresh command after reset; partial input is MORE. */
	imap_parser_reset(p);
	CU_ASSERT_PTR_NULL(imap_parser_command(p));
	CU_ASSERT_PTR_NULL(imap_parser_tag(p));
	CU_ASSERT_EQUAL(feed_str(p, "b NO", &consumed), IMAP_PARSE_MORE);
	CU_ASSERT_EQUAL(consumed, 4);
	CU_ASSERT_STRING_EQUAL(imap_parser_tag(p), "b");
	CU_ASSERT_PTR_NULL(imap_parser_command(p));
	CU_ASSERT_PTR_NULL(imap_parser_error(p));
	CU_ASSERT_EQUAL(feed_str(p, "OP\r\nc", &consumed), IMAP_PARSE_DONE);
	CU_ASSERT_EQUAL(consumed, 4);
	CU_ASSERT_EQUAL(imap_parser_feed(p, NULL, 0, &consumed), IMAP_PARSE_MORE);
	CU_ASSERT_EQUAL(consumed, 0);
	imap_parser_destroy(&p);
	pool_destroy(&pool);
}

static void test_continue_stops_after_header(void)
{
	struct pool *pool;
	struct imap_parser *p = new_parser(&pool, &test_limits);
	const struct imap_command *cmd;
	size_t consumed;

	CU_ASSERT_EQUAL(feed_str(p, "t1 APPEND INBOX {5}\r\nhello\r\n", &consumed),
			IMAP_PARSE_CONTINUE);
	CU_ASSERT_EQUAL(consumed, 21);
	CU_ASSERT_EQUAL(imap_parser_literal_size(p), 5);
	CU_ASSERT_STRING_EQUAL(imap_parser_tag(p), "t1");
	CU_ASSERT_PTR_NULL(imap_parser_command(p));
	CU_ASSERT_EQUAL(feed_str(p, "hello\r\n", &consumed), IMAP_PARSE_DONE);
	CU_ASSERT_EQUAL(consumed, 7);
	cmd = imap_parser_command(p);
	CU_ASSERT_STRING_EQUAL(cmd->tag, "t1");
	CU_ASSERT_STRING_EQUAL(cmd->name, "APPEND");
	CU_ASSERT_EQUAL(cmd->argc, 2);
	CU_ASSERT_EQUAL(cmd->args[1].type, IMAP_ARG_LITERAL);
	CU_ASSERT_EQUAL(cmd->args[1].nonsync, 0);
	CU_ASSERT_EQUAL(cmd->args[1].literal8, 0);
	CU_ASSERT_STRING_EQUAL(cmd->args[1].str, "hello");
	imap_parser_destroy(&p);
	pool_destroy(&pool);
}

static void test_argument_values(void)
{
	static const unsigned char in[] =
		"a X \"p\\\"w\\\\d\" nil ~{3+}\r\na\0b {0}\r\n ({2+}\r\nxy ()) \\Seen\r\n";
	struct pool *pool;
	struct imap_parser *p = new_parser(&pool, &test_limits);
	const struct imap_command *cmd;
	const struct imap_arg *a;
	size_t consumed, off = 0;
	enum imap_parse_result r;

	while ((r = imap_parser_feed(p, in + off, sizeof(in) - 1 - off, &consumed)) ==
	       IMAP_PARSE_CONTINUE)
		off += consumed;
	CU_ASSERT_EQUAL_FATAL(r, IMAP_PARSE_DONE);
	cmd = imap_parser_command(p);
	CU_ASSERT_EQUAL_FATAL(cmd->argc, 6);
	a = cmd->args;
	CU_ASSERT_EQUAL(a[0].type, IMAP_ARG_QUOTED);
	CU_ASSERT_STRING_EQUAL(a[0].str, "p\"w\\d");
	CU_ASSERT_EQUAL(a[0].len, 5);
	CU_ASSERT_TRUE(imap_arg_is_string(&a[0]));
	CU_ASSERT_EQUAL(a[1].type, IMAP_ARG_NIL);
	CU_ASSERT_STRING_EQUAL(a[1].str, "nil");
	CU_ASSERT_TRUE(imap_arg_is_nil(&a[1]));
	CU_ASSERT_TRUE(imap_arg_is_string(&a[1])); /* astring "nil" */
	CU_ASSERT_EQUAL(a[2].type, IMAP_ARG_LITERAL);
	CU_ASSERT_EQUAL(a[2].len, 3);
	CU_ASSERT(memcmp(a[2].str, "a\0b", 4) == 0); /* NUL-terminated too */
	CU_ASSERT_EQUAL(a[2].literal8, 1);
	CU_ASSERT_EQUAL(a[2].nonsync, 1);
	CU_ASSERT_EQUAL(a[3].type, IMAP_ARG_LITERAL);
	CU_ASSERT_EQUAL(a[3].len, 0);
	CU_ASSERT_STRING_EQUAL(a[3].str, "");
	CU_ASSERT_EQUAL(a[4].type, IMAP_ARG_LIST);
	CU_ASSERT_PTR_NULL(a[4].str);
	CU_ASSERT_PTR_NULL(imap_arg_str(&a[4]));
	CU_ASSERT_FALSE(imap_arg_is_string(&a[4]));
	CU_ASSERT_FALSE(imap_arg_is_nil(&a[4]));
	CU_ASSERT_EQUAL_FATAL(a[4].list_count, 2);
	CU_ASSERT_STRING_EQUAL(imap_arg_str(&a[4].list[0]), "xy");
	CU_ASSERT_EQUAL(a[4].list[1].type, IMAP_ARG_LIST);
	CU_ASSERT_EQUAL(a[4].list[1].list_count, 0);
	CU_ASSERT_PTR_NULL(a[4].list[1].list);
	CU_ASSERT_EQUAL(a[5].type, IMAP_ARG_ATOM);
	CU_ASSERT_STRING_EQUAL(a[5].str, "\\Seen");
	CU_ASSERT_EQUAL(off + consumed, sizeof(in) - 1);
	imap_parser_destroy(&p);
	pool_destroy(&pool);
}

static void test_fatal_is_sticky(void)
{
	struct imap_limits lim = test_limits;
	struct pool *pool;
	struct imap_parser *p;
	size_t consumed;

	lim.max_bad = 0;
	p = new_parser(&pool, &lim);
	CU_ASSERT_EQUAL(feed_str(p, "x (\r\na NOOP\r\n", &consumed), IMAP_PARSE_FATAL);
	CU_ASSERT_EQUAL(consumed, 5);
	CU_ASSERT_STRING_EQUAL(imap_parser_error(p), "Too many invalid commands");
	imap_parser_reset(p);
	CU_ASSERT_EQUAL(feed_str(p, "a NOOP\r\n", &consumed), IMAP_PARSE_FATAL);
	CU_ASSERT_EQUAL(consumed, 0);
	imap_parser_destroy(&p);
	pool_destroy(&pool);
}

static void test_bad_reported_after_line_end(void)
{
	struct pool *pool;
	struct imap_parser *p = new_parser(&pool, &test_limits);
	size_t consumed;

	/* The error is found at ')', but BAD waits for the end of the line. */
	CU_ASSERT_EQUAL(feed_str(p, "a1 X a) more", &consumed), IMAP_PARSE_MORE);
	CU_ASSERT_EQUAL(feed_str(p, " and more\r", &consumed), IMAP_PARSE_MORE);
	CU_ASSERT_EQUAL(feed_str(p, "\nb NOOP\r\n", &consumed), IMAP_PARSE_BAD);
	CU_ASSERT_EQUAL(consumed, 1);
	CU_ASSERT_STRING_EQUAL(imap_parser_tag(p), "a1");
	CU_ASSERT_STRING_EQUAL(imap_parser_error(p), "Unbalanced parentheses");
	CU_ASSERT_PTR_NULL(imap_parser_command(p));
	/* Feeding again starts the next command. */
	CU_ASSERT_EQUAL(feed_str(p, "b NOOP\r\n", &consumed), IMAP_PARSE_DONE);
	CU_ASSERT_STRING_EQUAL(imap_parser_tag(p), "b");
	imap_parser_destroy(&p);
	pool_destroy(&pool);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void test_skipping_stores_nothing(void)
{
	struct pool *pool;
	struct imap_parser *p = new_parser(&pool, &test_limits);
	char *junk = repeat('j', 1 << 20);
	size_t consumed, before;

	/* A huge line: over max_line, then skipped without being kept. */
	CU_ASSERT_EQUAL(feed_str(p, "a X ", &consumed), IMAP_PARSE_MORE);
	before = heap_in_use();
	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(feed_str(p, junk, &consumed), IMAP_PARSE_MORE);
	CU_ASSERT(heap_in_use() <= before + 64 * 1024);
	CU_ASSERT_EQUAL(feed_str(p, "\r\n", &consumed), IMAP_PARSE_BAD);
	CU_ASSERT_STRING_EQUAL(imap_parser_error(p), "Command line too long");
	free(junk);
	imap_parser_destroy(&p);
	pool_destroy(&pool);
}

static void test_set_limits(void)
{
	struct imap_limits small = test_limits, big = test_limits;
	struct pool *pool;
	struct imap_parser *p;
	size_t consumed;

	small.max_literal = 3;
	big.max_literal = 4;
	p = new_parser(&pool, &small);
	CU_ASSERT_EQUAL(feed_str(p, "a X {4}\r\n", &consumed), IMAP_PARSE_BAD);
	imap_parser_set_limits(p, &big);
	CU_ASSERT_EQUAL(feed_str(p, "a X {4}\r\n", &consumed), IMAP_PARSE_CONTINUE);
	/* Lowering the total in mid-command cannot underflow the check. */
	big.max_literal_total = 2;
	imap_parser_set_limits(p, &big);
	CU_ASSERT_EQUAL(feed_str(p, "abcd {1}\r\n", &consumed), IMAP_PARSE_BAD);
	CU_ASSERT_STRING_EQUAL(imap_parser_error(p), "[TOOBIG] Literal too large");
	imap_parser_destroy(&p);
	pool_destroy(&pool);
}

/* imap_quote */

static void test_quote(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
		size_t out_len;
	} cases[] = {
		{"INBOX", 5, "\"INBOX\"", 7},
		{"", 0, "\"\"", 2},
		{"a\"b\\c", 5, "\"a\\\"b\\\\c\"", 9},
		{"\"", 1, "\"\\\"\"", 4},
		{"a\r\nb", 4, "{4}\r\na\r\nb", 9},
		{"a\nb", 3, "{3}\r\na\nb", 8},
		{"a\0b", 3, "{3}\r\na\0b", 8},
		{"\xc3\xa4", 2, "{2}\r\n\xc3\xa4", 7},
		{"tab\tok", 6, "\"tab\tok\"", 8},
	};
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		CU_ASSERT_EQUAL(imap_quote(&b, cases[i].in, cases[i].len), 0);
		CU_ASSERT_EQUAL_FATAL(b.len, cases[i].out_len);
		CU_ASSERT(memcmp(b.data, cases[i].out, b.len) == 0);
	}
	buf_reset(&b);
	CU_ASSERT_EQUAL(imap_quote_nil(&b, NULL, 0), 0);
	CU_ASSERT_STRING_EQUAL(b.data, "NIL");
	buf_reset(&b);
	CU_ASSERT_EQUAL(imap_quote_nil(&b, "NIL", 3), 0);
	CU_ASSERT_STRING_EQUAL(b.data, "\"NIL\"");
	buf_free(&b);
}

static void test_quote_length_boundary(void)
{
	char *s = repeat('q', 1024);
	struct buf b;

	buf_init(&b, 0);
	CU_ASSERT_EQUAL(imap_quote(&b, s, 1023), 0);
	CU_ASSERT_EQUAL(b.len, 1025);
	CU_ASSERT_EQUAL(b.data[0], '"');
	buf_reset(&b);
	CU_ASSERT_EQUAL(imap_quote(&b, s, 1024), 0);
	CU_ASSERT(strncmp(b.data, "{1024}\r\n", 8) == 0);
	CU_ASSERT_EQUAL(b.len, 1032);
	buf_free(&b);
	free(s);
}

static void test_quote_limit_leaves_buffer(void)
{
	struct buf b;

	buf_init(&b, 10);
	CU_ASSERT_EQUAL(buf_append_str(&b, "* "), 0);
	CU_ASSERT_EQUAL(imap_quote(&b, "abcdefgh", 8), -1); /* needs 10 */
	CU_ASSERT_STRING_EQUAL(b.data, "* ");
	CU_ASSERT_EQUAL(imap_quote(&b, "a\r\nbcd", 6), -1); /* "{6}\r\n" fits, data not */
	CU_ASSERT_STRING_EQUAL(b.data, "* ");
	CU_ASSERT_EQUAL(b.len, 2);
	CU_ASSERT_EQUAL(imap_quote(&b, "abcdef", 6), 0);
	CU_ASSERT_STRING_EQUAL(b.data, "* \"abcdef\"");
	buf_free(&b);
}

/* What imap_quote writes, the parser reads back as the same string. */
static void test_quote_round_trip(void)
{
	static const char *const strs[] = {"x", "", "a\"b\\", "a\r\nb", "\xe2\x82\xac", "(x) {3}"};
	struct imap_limits lim = test_limits;

	lim.max_line = 4096;
	lim.max_literal = 2048;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		struct pool *pool;
		struct imap_parser *p = new_parser(&pool, &lim);
		const struct imap_command *cmd;
		enum imap_parse_result r;
		size_t consumed, off = 0;
		struct buf b;

		buf_init(&b, 0);
		(void)buf_append_str(&b, "a X ");
		CU_ASSERT_EQUAL(imap_quote(&b, strs[i], strlen(strs[i])), 0);
		(void)buf_append_str(&b, "\r\n");
		while ((r = imap_parser_feed(p, (unsigned char *)b.data + off, b.len - off,
					     &consumed)) == IMAP_PARSE_CONTINUE)
			off += consumed;
		CU_ASSERT_EQUAL_FATAL(r, IMAP_PARSE_DONE);
		cmd = imap_parser_command(p);
		CU_ASSERT_EQUAL_FATAL(cmd->argc, 1);
		CU_ASSERT_EQUAL(cmd->args[0].len, strlen(strs[i]));
		CU_ASSERT_STRING_EQUAL(imap_arg_str(&cmd->args[0]), strs[i]);
		buf_free(&b);
		imap_parser_destroy(&p);
		pool_destroy(&pool);
	}
}

static const struct unit_test grammar_tests[] = {
	{"simple commands", test_simple_commands},
	{"quoted strings and escapes", test_quoted_strings},
	{"literals: sync, non-sync, literal8, empty", test_literals},
	{"nested lists and NIL", test_lists_and_nil},
	{"FETCH bracket atoms", test_fetch_brackets},
	{"syntax errors are BAD", test_syntax_errors},
	{"a valid command parses after a BAD one", test_recovery_after_bad},
	{NULL, NULL},
};
static const struct unit_test limit_tests[] = {
	{"tag at and past max_tag", test_limit_tag},
	{"line at and past max_line", test_limit_line},
	{"literal data does not count as line", test_limit_line_excludes_literal_data},
	{"sync literal at and past max_literal", test_limit_literal},
	{"non-sync literal at and past its limit", test_limit_nonsync_literal},
	{"literals at and past max_literal_total", test_limit_literal_total},
	{"arguments at and past max_args", test_limit_args},
	{"nesting at and past max_depth", test_limit_depth},
	{"max_bad consecutive BADs, then FATAL", test_limit_max_bad},
	{"skipping a long line stores nothing", test_skipping_stores_nothing},
	{"limits can be changed", test_set_limits},
	{NULL, NULL},
};
static const struct unit_test api_tests[] = {
	{"feed stops after each command", test_stops_after_each_command},
	{"CONTINUE stops after the literal header", test_continue_stops_after_header},
	{"argument values, types and flags", test_argument_values},
	{"FATAL is sticky", test_fatal_is_sticky},
	{"BAD is reported once the line has ended", test_bad_reported_after_line_end},
	{NULL, NULL},
};
static const struct unit_test quote_tests[] = {
	{"quoted or literal", test_quote},
	{"1023 bytes quoted, 1024 literal", test_quote_length_boundary},
	{"buffer limit leaves the buffer unchanged", test_quote_limit_leaves_buffer},
	{"quoted output parses back", test_quote_round_trip},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"imap_parser grammar", grammar_tests},
	{"imap_parser limits", limit_tests},
	{"imap_parser api", api_tests},
	{"imap_quote", quote_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
