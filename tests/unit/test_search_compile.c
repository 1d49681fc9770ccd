/* Unit tests for SEARCH compilation.
 *
 * Inputs go through the real wire parser ("t SEARCH <input>\r\n"), so the
 * cases read like what a client sends. A result is rendered as
 *   "OK <where> | param | param"      ("OK[m]" when messages m is joined)
 *   "BAD <reason>", "BADCHARSET <reason>", "LIMIT <reason>".
 * The SQL text is compared exactly: every fragment is a constant of
 * search_compile.c, and the integration tests run them all against
 * PostgreSQL. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_parser.h"
#include "pool.h"
#include "search_compile.h"
#include "unit.h"

static const struct imap_limits limits = {
	.max_tag = 16,
	.max_line = 4 << 20,
	.max_literal = 1 << 20,
	.max_nonsync_literal = 1 << 20,
	.max_literal_total = 0,
	.max_args = 20000,
	.max_depth = 16,
	.max_bad = 1000,
};

/* A fake view: sequence number n is uids[n - 1]. */
struct fake_view {
	const uint32_t *uids;
	uint32_t count;
	uint32_t recent_from; /* uids >= this are \Recent */
	bool recent_odd;      /* instead: odd uids are \Recent */
};

static uint32_t fake_uid_at(const void *view, uint32_t seq)
{
	const struct fake_view *v = view;

	CU_ASSERT_FATAL(seq >= 1 && seq <= v->count);
	return v->uids[seq - 1];
}

static bool fake_is_recent(const void *view, uint32_t uid)
{
	const struct fake_view *v = view;

	return v->recent_odd ? (uid & 1) != 0 : uid >= v->recent_from;
}

static const uint32_t view_uids[] = {1, 2, 5, 6, 7, 10, 11, 20};
static const struct fake_view default_view = {view_uids, 8, 10, false};

static void env_of(struct search_env *env, const struct fake_view *v)
{
	env->count = v->count;
	env->max_uid = v->count ? v->uids[v->count - 1] : 0;
	env->uid_at = fake_uid_at;
	env->is_recent = fake_is_recent;
	env->view = v;
}

/* Compiles "t SEARCH <input>" (input len bytes) and renders the outcome
 * into out. */
static void compile_render(const struct fake_view *v, const char *input, size_t len,
			   struct buf *out)
{
	static const char *const status_names[] = {"OK", "BAD", "BADCHARSET", "LIMIT"};
	struct pool *pool = pool_create(0);
	struct imap_parser *p = imap_parser_create(pool, &limits);
	struct buf line;
	size_t used;
	enum imap_parse_result r;
	const struct imap_command *cmd;
	struct search_env env;
	struct search_query q;
	const char *err = NULL;
	enum search_status st;

	buf_init(&line, 0);
	(void)buf_append_str(&line, "t SEARCH ");
	(void)buf_append(&line, input, len);
	(void)buf_append_str(&line, "\r\n");
	/* A synchronizing literal stops the parser (CONTINUE): feed on. */
	for (size_t off = 0;; off += used) {
		r = imap_parser_feed(p, (const unsigned char *)line.data + off, line.len - off,
				     &used);
		if (r != IMAP_PARSE_CONTINUE) {
			CU_ASSERT_EQUAL(off + used, line.len);
			break;
		}
	}
	CU_ASSERT_EQUAL_FATAL(r, IMAP_PARSE_DONE);
	cmd = imap_parser_command(p);
	env_of(&env, v);
	memset(&q, 0x5a, sizeof(q));
	st = search_compile(pool, cmd->args, cmd->argc, &env, &q, &err);
	buf_reset(out);
	(void)buf_append_str(out, status_names[st]);
	if (st == SEARCH_OK) {
		(void)buf_printf(out, "%s %s", q.join_message ? "[m]" : "", q.where);
		for (unsigned i = 0; i < q.nparams; i++)
			(void)buf_printf(out, " | %s", q.params[i]);
	} else {
		CU_ASSERT_PTR_NOT_NULL(err);
		(void)buf_printf(out, " %s", err != NULL ? err : "(null)");
	}
	buf_free(&line);
	imap_parser_destroy(&p);
	pool_destroy(&pool);
}

struct compile_case {
	const char *input;
	const char *expected;
};

static void check_cases(const struct fake_view *v, const struct compile_case *cases, size_t n)
{
	struct buf out;

	buf_init(&out, 0);
	for (size_t i = 0; i < n; i++) {
		compile_render(v, cases[i].input, strlen(cases[i].input), &out);
		if (strcmp(out.data, cases[i].expected) != 0)
			printf("\n  input:    %s\n  expected: %s\n  got:      %s\n", cases[i].input,
			       cases[i].expected, out.data);
		CU_ASSERT_STRING_EQUAL(out.data, cases[i].expected);
	}
	buf_free(&out);
}

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

#define DAY_START(n) "($" #n "::date::timestamp AT TIME ZONE 'UTC')"
#define DAY_END(n) "(($" #n "::date + 1)::timestamp AT TIME ZONE 'UTC')"
#define KW(n) "EXISTS (SELECT 1 FROM unnest(mm.keywords) AS k(kw) WHERE lower(k.kw) = lower($" #n "::text))"
#define HAS(f) "(m.headers_text ILIKE '%" f ":%' AND mail_search_header(m.headers_text, '" f "', ''))"

static void test_flag_keys(void)
{
	static const struct compile_case cases[] = {
		{"ALL", "OK TRUE"},
		{"ANSWERED", "OK (mm.flags & 2) <> 0"},
		{"DELETED", "OK (mm.flags & 8) <> 0"},
		{"DRAFT", "OK (mm.flags & 16) <> 0"},
		{"FLAGGED", "OK (mm.flags & 4) <> 0"},
		{"SEEN", "OK (mm.flags & 1) <> 0"},
		{"UNANSWERED", "OK (mm.flags & 2) = 0"},
		{"UNDELETED", "OK (mm.flags & 8) = 0"},
		{"UNDRAFT", "OK (mm.flags & 16) = 0"},
		{"UNFLAGGED", "OK (mm.flags & 4) = 0"},
		{"UNSEEN", "OK (mm.flags & 1) = 0"},
		/* Keys are case-insensitive. */
		{"seen", "OK (mm.flags & 1) <> 0"},
		{"UnSeen", "OK (mm.flags & 1) = 0"},
		{"all", "OK TRUE"},
		{"KEYWORD $Label1", "OK " KW(4) " | $Label1"},
		{"keyword \"Junk\"", "OK " KW(4) " | Junk"},
		{"UNKEYWORD foo", "OK NOT (" KW(4) ") | foo"},
	};

	check_cases(&default_view, cases, NCASES(cases));
}

/* BODY/TEXT with pattern parameter p and needle parameter n: the word
 * index where it answers, the scan elsewhere (schema/0013). */
#define SCAN_SQL(cond)                                                                             \
	"coalesce((SELECT " cond " FROM messages m2 WHERE m2.account_id = $1"                      \
	" AND m2.message_id = mm.message_id), false)"
#define INDEXED_SQL(n, headers, cond)                                                              \
	"(CASE WHEN mail_search_indexable(" n "::text) THEN"                                       \
	" (mm.message_id IN (SELECT s.message_id FROM message_search s"                            \
	" WHERE s.words @> ARRAY['a:' || $1::text] AND s.words && (SELECT mail_search_terms($1, " n \
	"::text, " headers ")))" \
	" OR ((mm.uid > (SELECT coalesce(max(st.indexed_uid), 0) FROM mailbox_search_state st"     \
	" WHERE st.account_id = $1 AND st.mailbox_id = $2)"                                        \
	" OR mm.message_id IN (SELECT s.message_id FROM message_search s"                          \
	" WHERE s.account_id = $1 AND NOT s.exact))"                                               \
	" AND " SCAN_SQL(cond) "))"                                                               \
	" ELSE " SCAN_SQL(cond) " END)"
#define BODY_SQL(p, n) INDEXED_SQL(n, "false", "m2.body_text ILIKE " p)
#define TEXT_SQL(p, n)                                                                             \
	INDEXED_SQL(n, "true", "(m2.headers_text ILIKE " p " OR m2.body_text ILIKE " p ")")

static void test_string_keys(void)
{
	static const struct compile_case cases[] = {
		{"SUBJECT hello", "OK[m] m.hdr_subject ILIKE $4 | %hello%"},
		{"FROM x", "OK[m] m.hdr_from ILIKE $4 | %x%"},
		{"TO x", "OK[m] m.hdr_to ILIKE $4 | %x%"},
		{"CC x", "OK[m] m.hdr_cc ILIKE $4 | %x%"},
		{"BCC x", "OK[m] m.hdr_bcc ILIKE $4 | %x%"},
		{"BODY x", "OK " BODY_SQL("$4", "$5") " | %x% | x"},
		{"TEXT x", "OK " TEXT_SQL("$4", "$5") " | %x% | x"},
		{"TEXT \"rchipel\" BODY {6}\r\nGr\xc3\xbc\xc3\x9f", "OK (" TEXT_SQL("$4", "$5") " AND "
		 BODY_SQL("$6", "$7") ") | %rchipel% | rchipel | %Gr\xc3\xbc\xc3\x9f% | Gr\xc3\xbc\xc3\x9f"},
		/* ASCII punctuation or space: never indexable, the plain scan. */
		{"NOT BODY \"a b\"", "OK[m] NOT (m.body_text ILIKE $4) | %a b%"},
		{"TEXT e-mail", "OK[m] (m.headers_text ILIKE $4 OR m.body_text ILIKE $4) | %e-mail%"},
		{"BODY \"50%\"", "OK[m] m.body_text ILIKE $4 | %50\\%%"},
		{"BODY Abc09", "OK " BODY_SQL("$4", "$5") " | %Abc09% | Abc09"},
		{"SUBJECT x TEXT y", "OK[m] (m.hdr_subject ILIKE $4 AND " TEXT_SQL("$5", "$6")
		 ") | %x% | %y% | y"},
		/* LIKE's wildcards and escape are escaped. */
		{"SUBJECT \"50% off_now \\\\o/\"", "OK[m] m.hdr_subject ILIKE $4 | %50\\% off\\_now \\\\o/%"},
		/* astring forms: quoted, literal, NIL as a word. */
		{"SUBJECT \"two words\"", "OK[m] m.hdr_subject ILIKE $4 | %two words%"},
		{"SUBJECT {3}\r\nabc", "OK[m] m.hdr_subject ILIKE $4 | %abc%"},
		{"SUBJECT {3+}\r\nabc", "OK[m] m.hdr_subject ILIKE $4 | %abc%"},
		{"SUBJECT NIL", "OK[m] m.hdr_subject ILIKE $4 | %NIL%"},
		/* Values are parameters, however SQL-like. */
		{"SUBJECT \"x') OR TRUE --\"", "OK[m] m.hdr_subject ILIKE $4 | %x') OR TRUE --%"},
		/* "" matches every message that has the field. */
		{"SUBJECT \"\"", "OK[m] " HAS("subject")},
		{"FROM \"\"", "OK[m] " HAS("from")},
		{"TO \"\"", "OK[m] " HAS("to")},
		{"CC \"\"", "OK[m] " HAS("cc")},
		{"BCC \"\"", "OK[m] " HAS("bcc")},
		{"BODY \"\"", "OK TRUE"},
		{"TEXT \"\"", "OK TRUE"},
		{"HEADER Message-ID \"<a@b>\"",
		 "OK[m] (m.headers_text ILIKE $4 AND mail_search_header(m.headers_text, $5, $6))"
		 " | %<a@b>% | Message-ID | <a@b>"},
		{"HEADER X-Spam \"\"",
		 "OK[m] (m.headers_text ILIKE $4 AND mail_search_header(m.headers_text, $5, $6))"
		 " | %X-Spam:% | X-Spam | "},
		{"HEADER X_A%B x",
		 "OK[m] (m.headers_text ILIKE $4 AND mail_search_header(m.headers_text, $5, $6))"
		 " | %x% | X_A%B | x"},
		{"HEADER X_A%B \"\"",
		 "OK[m] (m.headers_text ILIKE $4 AND mail_search_header(m.headers_text, $5, $6))"
		 " | %X\\_A\\%B:% | X_A%B | "},
		/* Fields with their own column use it. */
		{"HEADER subject foo", "OK[m] m.hdr_subject ILIKE $4 | %foo%"},
		{"HEADER FROM foo", "OK[m] m.hdr_from ILIKE $4 | %foo%"},
		{"HEADER Subject \"\"",
		 "OK[m] (m.headers_text ILIKE $4 AND mail_search_header(m.headers_text, $5, $6))"
		 " | %Subject:% | Subject | "},
		/* UTF-8, with or without CHARSET. */
		{"CHARSET UTF-8 SUBJECT {4+}\r\nZo\xc3\xab", "OK[m] m.hdr_subject ILIKE $4 | %Zo\xc3\xab%"},
		{"SUBJECT {4}\r\nZo\xc3\xab", "OK[m] m.hdr_subject ILIKE $4 | %Zo\xc3\xab%"},
		{"CHARSET utf-8 TEXT {4}\r\n\xf0\x9f\x98\x80",
		 "OK " TEXT_SQL("$4", "$5") " | %\xf0\x9f\x98\x80% | \xf0\x9f\x98\x80"},
	};

	check_cases(&default_view, cases, NCASES(cases));
}

static void test_date_and_size_keys(void)
{
	static const struct compile_case cases[] = {
		{"BEFORE 1-Jan-2025", "OK mm.internaldate < " DAY_START(4) " | 2025-01-01"},
		{"SINCE 31-Dec-1999", "OK mm.internaldate >= " DAY_START(4) " | 1999-12-31"},
		{"ON \"29-Feb-2024\"",
		 "OK (mm.internaldate >= " DAY_START(4) " AND mm.internaldate < " DAY_END(4) ") | 2024-02-29"},
		{"SENTBEFORE 01-jan-2025",
		 "OK[m] coalesce(m.sent_date < " DAY_START(4) ", FALSE) | 2025-01-01"},
		{"SENTON 9-SEP-0001",
		 "OK[m] coalesce(m.sent_date >= " DAY_START(4) " AND m.sent_date < " DAY_END(4)
		 ", FALSE) | 0001-09-09"},
		{"SENTSINCE 28-Feb-2100", "OK[m] coalesce(m.sent_date >= " DAY_START(4) ", FALSE) | 2100-02-28"},
		{"ON 29-Feb-2000", "OK (mm.internaldate >= " DAY_START(4) " AND mm.internaldate < " DAY_END(4)
				   ") | 2000-02-29"},
		{"LARGER 100", "OK[m] m.size > $4::bigint | 100"},
		{"SMALLER 0200", "OK[m] m.size < $4::bigint | 200"},
		{"SMALLER 0", "OK[m] m.size < $4::bigint | 0"},
		{"LARGER 9223372036854775807", "OK[m] m.size > $4::bigint | 9223372036854775807"},
	};

	check_cases(&default_view, cases, NCASES(cases));
}

/* The view holds UIDs 1 2 5 6 7 10 11 20 (sequence numbers 1..8); 10, 11
 * and 20 are \Recent. */
static void test_set_keys(void)
{
	static const struct compile_case cases[] = {
		{"1:3", "OK mm.uid BETWEEN $4 AND $5 | 1 | 5"},
		{"3:1", "OK mm.uid BETWEEN $4 AND $5 | 1 | 5"},
		{"*", "OK mm.uid BETWEEN $4 AND $5 | 20 | 20"},
		{"8", "OK mm.uid BETWEEN $4 AND $5 | 20 | 20"},
		{"2,4:*",
		 "OK (mm.uid BETWEEN $4 AND $5 AND mm.uid <@ $6::int8multirange) | 2 | 20 | {[2,2],[6,20]}"},
		{"1,3,5,7",
		 "OK (mm.uid BETWEEN $4 AND $5 AND mm.uid <@ $6::int8multirange) | 1 | 11"
		 " | {[1,1],[5,5],[7,7],[11,11]}"},
		/* Past the last message: matches nothing, no error. */
		{"9", "OK FALSE"},
		{"7:100", "OK mm.uid BETWEEN $4 AND $5 | 11 | 20"},
		{"UID 1:*", "OK mm.uid BETWEEN $4 AND $5 | 1 | 20"},
		{"UID 3,6:10",
		 "OK (mm.uid BETWEEN $4 AND $5 AND mm.uid <@ $6::int8multirange) | 3 | 10 | {[3,3],[6,10]}"},
		/* RFC 3501 §6.4.8: n:* holds the highest UID even when n is
		 * larger. */
		{"UID 21:*", "OK mm.uid BETWEEN $4 AND $5 | 20 | 20"},
		{"UID 100", "OK FALSE"},
		{"UID 4294967295", "OK FALSE"},
		{"uid *", "OK mm.uid BETWEEN $4 AND $5 | 20 | 20"},
		{"RECENT", "OK mm.uid BETWEEN $4 AND $5 | 10 | 20"},
		{"NEW", "OK (mm.uid BETWEEN $4 AND $5 AND (mm.flags & 1) = 0) | 10 | 20"},
		{"OLD", "OK NOT (mm.uid BETWEEN $4 AND $5) | 10 | 20"},
		{"RECENT OLD",
		 "OK (mm.uid BETWEEN $4 AND $5 AND NOT (mm.uid BETWEEN $6 AND $7)) | 10 | 20 | 10 | 20"},
	};
	static const uint32_t none[] = {0};
	static const struct fake_view empty = {none, 0, 1, false};
	static const struct compile_case empty_cases[] = {
		{"*", "OK FALSE"},
		{"1:*", "OK FALSE"},
		{"1", "OK FALSE"},
		{"UID *", "OK FALSE"},
		{"UID 1:*", "OK FALSE"},
		{"RECENT", "OK FALSE"},
		{"NEW", "OK FALSE"},
		{"OLD", "OK TRUE"},
		{"ALL", "OK TRUE"},
	};
	static const struct fake_view odd = {view_uids, 8, 0, true};
	static const struct compile_case odd_cases[] = {
		/* Recent UIDs 1, 5, 7, 11: runs of consecutive sequence numbers
		 * (6 lies between 5 and 7). */
		{"RECENT", "OK (mm.uid BETWEEN $4 AND $5 AND mm.uid <@ $6::int8multirange) | 1 | 11"
			   " | {[1,1],[5,5],[7,7],[11,11]}"},
	};

	check_cases(&default_view, cases, NCASES(cases));
	check_cases(&empty, empty_cases, NCASES(empty_cases));
	check_cases(&odd, odd_cases, NCASES(odd_cases));
}

static void test_operators(void)
{
	static const struct compile_case cases[] = {
		{"SEEN FLAGGED", "OK ((mm.flags & 1) <> 0 AND (mm.flags & 4) <> 0)"},
		{"NOT SEEN", "OK NOT ((mm.flags & 1) <> 0)"},
		{"NOT NOT SEEN", "OK (mm.flags & 1) <> 0"},
		{"NOT ALL", "OK FALSE"},
		{"OR SEEN FLAGGED", "OK ((mm.flags & 1) <> 0 OR (mm.flags & 4) <> 0)"},
		{"or seen flagged", "OK ((mm.flags & 1) <> 0 OR (mm.flags & 4) <> 0)"},
		/* Chains are flattened, both ways round. */
		{"OR OR SEEN FLAGGED DELETED",
		 "OK ((mm.flags & 1) <> 0 OR (mm.flags & 4) <> 0 OR (mm.flags & 8) <> 0)"},
		{"OR SEEN OR FLAGGED DELETED",
		 "OK ((mm.flags & 1) <> 0 OR (mm.flags & 4) <> 0 OR (mm.flags & 8) <> 0)"},
		{"(SEEN (FLAGGED DELETED))",
		 "OK ((mm.flags & 1) <> 0 AND (mm.flags & 4) <> 0 AND (mm.flags & 8) <> 0)"},
		{"(SEEN)", "OK (mm.flags & 1) <> 0"},
		{"((((SEEN))))", "OK (mm.flags & 1) <> 0"},
		/* Constants fold. */
		{"OR ALL SEEN", "OK TRUE"},
		{"OR NOT ALL SEEN", "OK (mm.flags & 1) <> 0"},
		{"SEEN ALL", "OK (mm.flags & 1) <> 0"},
		{"SEEN NOT ALL", "OK FALSE"},
		{"9 SEEN", "OK FALSE"},
		{"OR 9 UID 100", "OK FALSE"},
		/* Mixed: parameters are numbered in order. */
		{"OR (SUBJECT a FROM b) NOT (TO c) UNSEEN",
		 "OK[m] (((m.hdr_subject ILIKE $4 AND m.hdr_from ILIKE $5) OR NOT (m.hdr_to ILIKE $6))"
		 " AND (mm.flags & 1) = 0) | %a% | %b% | %c%"},
		{"NOT OR SEEN FLAGGED", "OK NOT (((mm.flags & 1) <> 0 OR (mm.flags & 4) <> 0))"},
		{"OR SEEN (FLAGGED NOT DRAFT)",
		 "OK ((mm.flags & 1) <> 0 OR ((mm.flags & 4) <> 0 AND NOT ((mm.flags & 16) <> 0)))"},
		{"CHARSET US-ASCII ALL", "OK TRUE"},
		{"CHARSET \"utf-8\" SEEN", "OK (mm.flags & 1) <> 0"},
		{"1:2 UID 2:5 UNSEEN",
		 "OK (mm.uid BETWEEN $4 AND $5 AND mm.uid BETWEEN $6 AND $7 AND (mm.flags & 1) = 0)"
		 " | 1 | 2 | 2 | 5"},
	};

	check_cases(&default_view, cases, NCASES(cases));
}

static void test_invalid(void)
{
	static const struct compile_case cases[] = {
		{"FOO", "BAD Unknown search key"},
		{"RETURN (ALL) ALL", "BAD Unknown search key"},
		{"$", "BAD Unknown search key"},
		{"\"SEEN\"", "BAD Search key expected"},
		{"{4}\r\nSEEN", "BAD Search key expected"},
		{"NIL", "BAD Search key expected"},
		{"()", "BAD Missing search key"},
		{"SEEN ()", "BAD Missing search key"},
		{"NOT", "BAD Missing search key"},
		{"OR SEEN", "BAD Missing search key"},
		{"OR", "BAD Missing search key"},
		{"SUBJECT", "BAD Missing search string"},
		{"SUBJECT (a)", "BAD Search string expected"},
		{"HEADER X-A", "BAD Missing search string"},
		{"HEADER \"\" x", "BAD Invalid header field name"},
		{"HEADER \"a:b\" x", "BAD Invalid header field name"},
		{"HEADER \"a b\" x", "BAD Invalid header field name"},
		{"HEADER {3}\r\n\xc3\xa4x x", "BAD Invalid header field name"},
		{"SUBJECT {2}\r\n\xc3\x28", "BAD Search string is not valid UTF-8"},
		{"SUBJECT {1}\r\n\xe9", "BAD Search string is not valid UTF-8"},
		{"SUBJECT {2}\r\n\xc0\xaf", "BAD Search string is not valid UTF-8"},           /* overlong */
		{"SUBJECT {3}\r\n\xed\xa0\x80", "BAD Search string is not valid UTF-8"},       /* surrogate */
		{"SUBJECT {4}\r\n\xf4\x90\x80\x80", "BAD Search string is not valid UTF-8"},   /* > U+10FFFF */
		{"SUBJECT {3}\r\n\xe2\x82", "BAD Search string is not valid UTF-8"},           /* truncated */
		{"KEYWORD", "BAD Missing search string"},
		{"KEYWORD \\Seen", "BAD Invalid keyword"},
		{"KEYWORD \"a b\"", "BAD Invalid keyword"},
		{"KEYWORD \"\"", "BAD Invalid keyword"},
		{"UNKEYWORD \"a]\"", "BAD Invalid keyword"},
		{"BEFORE", "BAD Invalid date"},
		{"BEFORE 1-Jan-25", "BAD Invalid date"},
		{"BEFORE 30-Feb-2024", "BAD Invalid date"},
		{"BEFORE 29-Feb-2023", "BAD Invalid date"},
		{"BEFORE 29-Feb-1900", "BAD Invalid date"},
		{"BEFORE 0-Jan-2024", "BAD Invalid date"},
		{"BEFORE 123-Jan-2024", "BAD Invalid date"},
		{"BEFORE 1-Jan-0000", "BAD Invalid date"},
		{"BEFORE 1-Foo-2024", "BAD Invalid date"},
		{"BEFORE 1-Jan-2024x", "BAD Invalid date"},
		{"BEFORE 1-Jan-20245", "BAD Invalid date"},
		{"BEFORE 2024-01-01", "BAD Invalid date"},
		{"BEFORE {10}\r\n1-Jan-2024", "BAD Invalid date"},
		{"SINCE (1-Jan-2024)", "BAD Invalid date"},
		{"LARGER", "BAD Invalid size"},
		{"LARGER -1", "BAD Invalid size"},
		{"LARGER 1k", "BAD Invalid size"},
		{"LARGER \"10\"", "BAD Invalid size"},
		{"SMALLER 9223372036854775808", "BAD Invalid size"},
		{"SMALLER 99999999999999999999999", "BAD Invalid size"},
		{"0", "BAD Invalid number in sequence set (0 or leading zero)"},
		{"1:x", "BAD Invalid sequence set"},
		{"1,", "BAD Empty element in sequence set"},
		{"UID", "BAD Missing UID set"},
		{"UID \"1\"", "BAD Invalid sequence set"},
		{"UID SEEN", "BAD Invalid sequence set"},
		{"CHARSET", "BAD CHARSET needs a charset name"},
		{"CHARSET (UTF-8) ALL", "BAD CHARSET needs a charset name"},
		{"CHARSET UTF-8", "BAD Missing search key"},
		{"CHARSET KOI8-R ALL", "BADCHARSET Unsupported charset"},
		{"CHARSET ISO-8859-1 SUBJECT x", "BADCHARSET Unsupported charset"},
		{"CHARSET UTF-8 CHARSET UTF-8 ALL", "BAD Unknown search key"},
		{"SEEN CHARSET UTF-8", "BAD Unknown search key"},
	};

	check_cases(&default_view, cases, NCASES(cases));
}

static void check_one(const char *input, size_t len, const char *expected_prefix);

static void test_nul_in_string(void)
{
	static const char in[] = "SUBJECT {3}\r\na\0b";
	static const char in2[] = "HEADER {3}\r\na\0b x";

	check_one(in, sizeof(in) - 1, "BAD NUL in search string");
	check_one(in2, sizeof(in2) - 1, "BAD NUL in search string");
}

static void test_no_arguments(void)
{
	struct pool *pool = pool_create(0);
	struct search_env env;
	struct search_query q;
	const char *err = NULL;

	env_of(&env, &default_view);
	CU_ASSERT_EQUAL(search_compile(pool, NULL, 0, &env, &q, &err), SEARCH_BAD);
	CU_ASSERT_STRING_EQUAL(err, "Missing search key");
	pool_destroy(&pool);
}

/* Repeats unit (with a trailing space) n times, then appends tail. */
static char *repeat(const char *unit, unsigned n, const char *tail)
{
	size_t ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(ul * n + tl + 1), *p = s;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (unsigned i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

static void check_one(const char *input, size_t len, const char *expected_prefix)
{
	struct buf out;

	buf_init(&out, 0);
	compile_render(&default_view, input, len, &out);
	if (strncmp(out.data, expected_prefix, strlen(expected_prefix)) != 0)
		printf("\n  expected: %s...\n  got:      %.200s\n", expected_prefix, out.data);
	CU_ASSERT_NSTRING_EQUAL(out.data, expected_prefix, strlen(expected_prefix));
	buf_free(&out);
}

static void test_limit_keys(void)
{
	char *s;

	s = repeat("SEEN ", SEARCH_MAX_KEYS - 1, "SEEN");
	check_one(s, strlen(s), "OK ((mm.flags & 1) <> 0 AND ");
	free(s);
	s = repeat("SEEN ", SEARCH_MAX_KEYS, "SEEN");
	check_one(s, strlen(s), "LIMIT Too many search keys");
	free(s);
	/* Operators count: 500 NOT + 500 SEEN. */
	s = repeat("NOT SEEN ", SEARCH_MAX_KEYS / 2 - 1, "NOT SEEN");
	check_one(s, strlen(s), "OK (NOT (");
	free(s);
	s = repeat("NOT SEEN ", SEARCH_MAX_KEYS / 2, "SEEN");
	check_one(s, strlen(s), "LIMIT Too many search keys");
	free(s);
}

static void test_limit_depth(void)
{
	char *s;

	/* The innermost key is at depth SEARCH_MAX_DEPTH: allowed. */
	s = repeat("NOT ", SEARCH_MAX_DEPTH - 1, "SEEN");
	check_one(s, strlen(s), "OK NOT ((mm.flags & 1) <> 0)");
	free(s);
	s = repeat("NOT ", SEARCH_MAX_DEPTH, "SEEN");
	check_one(s, strlen(s), "LIMIT Search nested too deeply");
	free(s);
	/* OR chains nest too (and are flattened in the SQL). */
	s = repeat("OR SEEN ", SEARCH_MAX_DEPTH - 1, "SEEN");
	check_one(s, strlen(s), "OK ((mm.flags & 1) <> 0 OR (mm.flags & 1) <> 0 OR");
	free(s);
	s = repeat("OR SEEN ", SEARCH_MAX_DEPTH, "SEEN");
	check_one(s, strlen(s), "LIMIT Search nested too deeply");
	free(s);
	/* Lists count as a level (the parser bounds their own nesting). */
	s = repeat("NOT ", SEARCH_MAX_DEPTH - 2, "(SEEN)");
	check_one(s, strlen(s), "OK (mm.flags & 1) <> 0");
	free(s);
	s = repeat("NOT ", SEARCH_MAX_DEPTH - 1, "(SEEN)");
	check_one(s, strlen(s), "LIMIT Search nested too deeply");
	free(s);
}

static void test_limit_string(void)
{
	char *s = malloc(SEARCH_MAX_STRING + 64);
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	n = snprintf(s, 64, "SUBJECT {%d}\r\n", SEARCH_MAX_STRING);
	memset(s + n, 'a', SEARCH_MAX_STRING);
	check_one(s, (size_t)n + SEARCH_MAX_STRING, "OK[m] m.hdr_subject ILIKE $4 | %aaaa");
	n = snprintf(s, 64, "SUBJECT {%d}\r\n", SEARCH_MAX_STRING + 1);
	memset(s + n, 'a', SEARCH_MAX_STRING + 1);
	check_one(s, (size_t)n + SEARCH_MAX_STRING + 1, "LIMIT Search string too long");
	/* Header field names have the same limit. */
	n = snprintf(s, 64, "HEADER {%d}\r\n", SEARCH_MAX_STRING + 1);
	memset(s + n, 'a', SEARCH_MAX_STRING + 1);
	memcpy(s + n + SEARCH_MAX_STRING + 1, " x", 2);
	check_one(s, (size_t)n + SEARCH_MAX_STRING + 3, "LIMIT Search string too long");
	free(s);
}

/* "UID 1,3,5,...": n ranges in one set. */
static void append_set(struct buf *b, unsigned n)
{
	(void)buf_append_str(b, "UID ");
	for (unsigned i = 0; i < n; i++)
		(void)buf_printf(b, "%s%u", i ? "," : "", 2 * i + 1);
}

static void test_limit_ranges(void)
{
	unsigned per_set = 10000; /* SEQSET_MAX_RANGES */
	unsigned sets = SEARCH_MAX_RANGES / per_set;
	struct buf b;

	CU_ASSERT_EQUAL_FATAL(SEARCH_MAX_RANGES % per_set, 0);
	buf_init(&b, 0);
	for (unsigned k = 0; k < sets; k++) {
		if (k > 0)
			(void)buf_append_str(&b, " ");
		append_set(&b, per_set);
	}
	check_one(b.data, b.len, "OK (");
	(void)buf_append_str(&b, " UID 1");
	check_one(b.data, b.len, "LIMIT Too many ranges in the search");
	buf_free(&b);
}

/* Sequence sets become UID ranges that hold exactly the UIDs of the
 * view's messages in the set, on random views and random sets. */
static bool in_ranges(const char *rendered, uint32_t uid)
{
	const char *p = strstr(rendered, " | ");
	unsigned long lo, hi;

	if (strcmp(rendered, "OK FALSE") == 0)
		return false;
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	lo = strtoul(p + 3, (char **)&p, 10);
	CU_ASSERT_FATAL(strncmp(p, " | ", 3) == 0);
	hi = strtoul(p + 3, (char **)&p, 10);
	if (uid < lo || uid > hi)
		return false;
	if (strncmp(p, " | {", 4) != 0)
		return true;
	for (p += 4; *p == '[' || *p == ','; ) {
		if (*p == ',')
			p++;
		lo = strtoul(p + 1, (char **)&p, 10);
		hi = strtoul(p + 1, (char **)&p, 10);
		p++; /* ']' */
		if (uid >= lo && uid <= hi)
			return true;
	}
	return false;
}

static void test_random_sets(void)
{
	struct buf in, out;
	uint32_t uids[60];
	unsigned seed = 12345;

	buf_init(&in, 0);
	buf_init(&out, 0);
	for (unsigned round = 0; round < 300; round++) {
		struct fake_view v = {uids, 0, 0, false};
		uint32_t uid = 0;
		bool member[61] = {false};
		unsigned nelem;

		seed = seed * 1103515245 + 12345;
		v.count = 1 + (seed >> 16) % 60;
		for (uint32_t i = 0; i < v.count; i++) {
			seed = seed * 1103515245 + 12345;
			uid += 1 + (seed >> 16) % 4;
			uids[i] = uid;
		}
		buf_reset(&in);
		seed = seed * 1103515245 + 12345;
		nelem = 1 + (seed >> 16) % 6;
		for (unsigned e = 0; e < nelem; e++) {
			uint32_t a, b;
			seed = seed * 1103515245 + 12345;
			a = 1 + (seed >> 16) % (v.count + 3);
			seed = seed * 1103515245 + 12345;
			b = 1 + (seed >> 16) % (v.count + 3);
			if (e > 0)
				(void)buf_append_str(&in, ",");
			if ((seed >> 8) % 5 == 0) {
				(void)buf_printf(&in, "%u:*", a);
				b = v.count; /* a:* holds the last message even when a > count */
			} else if ((seed >> 8) % 5 == 1) {
				(void)buf_printf(&in, "%u", a);
				b = a;
			} else {
				(void)buf_printf(&in, "%u:%u", a, b);
			}
			for (uint32_t s = a < b ? a : b; s <= (a < b ? b : a); s++)
				if (s <= v.count)
					member[s] = true;
		}
		compile_render(&v, in.data, in.len, &out);
		for (uint32_t s = 1; s <= v.count; s++) {
			bool got = in_ranges(out.data, uids[s - 1]);
			if (got != member[s])
				printf("\n  set %s seq %u uid %u: got %d\n  %s\n", in.data, s, uids[s - 1],
				       got, out.data);
			CU_ASSERT_EQUAL(got, member[s]);
		}
	}
	buf_free(&in);
	buf_free(&out);
}

static const struct unit_test search_tests[] = {
	{"flag and keyword keys", test_flag_keys},
	{"string keys escape LIKE and test field presence", test_string_keys},
	{"date and size keys", test_date_and_size_keys},
	{"sequence sets, UID sets and \\Recent become UID ranges", test_set_keys},
	{"NOT, OR, groups and implicit AND; constants fold", test_operators},
	{"invalid criteria", test_invalid},
	{"NUL in a string", test_nul_in_string},
	{"no arguments", test_no_arguments},
	{"key count at and past the limit", test_limit_keys},
	{"nesting depth at and past the limit", test_limit_depth},
	{"string length at and past the limit", test_limit_string},
	{"total ranges at and past the limit", test_limit_ranges},
	{"random sequence sets map to exactly the view's UIDs", test_random_sets},
	{NULL, NULL},
};

static const struct unit_suite suites[] = {
	{"search_compile", search_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
