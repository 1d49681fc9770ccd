/* Unit tests for the FETCH item parser.
 *
 * Table-driven: each case is the text after "a FETCH 1 " as a client sends
 * it, run through the real wire parser (which makes BODY[...] one atom)
 * and then fetch_parse; the result is rendered as one line:
 * the items (a section item as name=section, "+peek" when it does not set
 * \Seen, "<origin.count>" when partial) and, after '|', what the request
 * needs. "BAD" means fetch_parse refused it, "WIRE" that the wire parser
 * already did. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fetch_parse.h"
#include "imap_parser.h"
#include "pool.h"
#include "unit.h"

static const struct imap_limits limits = {
    .max_tag = 16,
    .max_line = 1024 * 1024,
    .max_literal = 1024,
    .max_nonsync_literal = 1024,
    .max_literal_total = 0,
    .max_args = 100000,
    .max_depth = 8,
    .max_bad = 1000,
};

/* Parses "a FETCH 1 <items>" (or UID FETCH) and renders the outcome
 * (malloc'd). With req_r, the request is returned too, allocated from the
 * caller's pool. */
static char *run_in(struct pool *keep, const char *items, bool uid, struct fetch_request *req_r)
{
	struct pool *pool = keep != NULL ? keep : pool_create(0);
	struct imap_parser *p = imap_parser_create(pool, &limits);
	struct fetch_request req;
	const struct imap_command *c;
	const char *err;
	struct buf line, out;
	size_t used = 0;
	char *ret;

	buf_init(&line, 0);
	buf_init(&out, 0);
	(void)buf_printf(&line, "a %sFETCH 1 %s\r\n", uid ? "UID " : "", items);
	if (imap_parser_feed(p, (const unsigned char *)line.data, line.len, &used) !=
	    IMAP_PARSE_DONE) {
		(void)buf_append_str(&out, "WIRE");
		goto done;
	}
	c = imap_parser_command(p);
	if (c->argc != (uid ? 3u : 2u)) {
		(void)buf_append_str(&out, "ARGC");
		goto done;
	}
	if (fetch_parse(pool, &c->args[uid ? 2 : 1], uid, &req, &err) < 0) {
		CU_ASSERT_PTR_NOT_NULL(err);
		(void)buf_append_str(&out, "BAD");
		goto done;
	}
	for (unsigned i = 0; i < req.nitems; i++) {
		const struct fetch_item *it = &req.items[i];
		if (i > 0)
			(void)buf_append_str(&out, " ");
		(void)buf_append_str(&out, it->name);
		if (it->att == FETCH_ATT_SECTION) {
			(void)buf_printf(&out, "=%s", it->section);
			if (it->peek)
				(void)buf_append_str(&out, "+peek");
			if (it->partial)
				(void)buf_printf(&out, "<%u.%u>", it->origin, it->count);
		}
	}
	(void)buf_append_str(&out, " |");
	if (req.set_seen)
		(void)buf_append_str(&out, " seen");
	if (req.need_envelope)
		(void)buf_append_str(&out, " env");
	if (req.need_body)
		(void)buf_append_str(&out, " body");
	if (req.need_bodystructure)
		(void)buf_append_str(&out, " bs");
	if (req.need_partmap)
		(void)buf_append_str(&out, " pm");
	if (req_r != NULL)
		*req_r = req;
done:
	ret = strdup(out.data);
	buf_free(&line);
	buf_free(&out);
	/* The parser's command pool is its own: items point into the pool
	 * given to fetch_parse, which survives. */
	imap_parser_destroy(&p);
	if (keep == NULL)
		pool_destroy(&pool);
	return ret;
}

static char *run(const char *items, bool uid)
{
	return run_in(NULL, items, uid, NULL);
}

struct fcase {
	const char *in;
	bool uid;
	const char *out;
};

static void check_cases(const struct fcase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *got = run(cases[i].in, cases[i].uid);
		if (strcmp(got, cases[i].out) != 0)
			fprintf(stderr, "\n  case %s: got [%s] want [%s]\n", cases[i].in, got,
			        cases[i].out);
		CU_ASSERT_STRING_EQUAL(got, cases[i].out);
		free(got);
	}
}

static void test_simple_items(void)
{
	static const struct fcase cases[] = {
	    {"UID", false, "UID |"},
	    {"uid", false, "UID |"},
	    {"FLAGS", false, "FLAGS |"},
	    {"INTERNALDATE", false, "INTERNALDATE |"},
	    {"RFC822.SIZE", false, "RFC822.SIZE |"},
	    {"ENVELOPE", false, "ENVELOPE | env"},
	    {"BODY", false, "BODY | body"},
	    {"BodyStructure", false, "BODYSTRUCTURE | bs"},
	    {"RFC822", false, "RFC822= | seen"},
	    {"RFC822.HEADER", false, "RFC822.HEADER=HEADER+peek | pm"},
	    {"rfc822.text", false, "RFC822.TEXT=TEXT | seen pm"},
	    {"(FLAGS UID)", false, "FLAGS UID |"},
	    {"(FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODY BODYSTRUCTURE)", false,
	     "FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODY BODYSTRUCTURE | env body bs"},
	    /* UID FETCH: UID first unless asked for. */
	    {"FLAGS", true, "UID FLAGS |"},
	    {"(FLAGS UID)", true, "FLAGS UID |"},
	    {"(UID)", true, "UID |"},
	    /* The same answer asked twice is sent once. */
	    {"(FLAGS FLAGS flags)", false, "FLAGS |"},
	    {"(BODY.PEEK[] BODY[])", false, "BODY[]= | seen"},
	    {"(BODY.PEEK[1] BODY.PEEK[1])", false, "BODY[1]=1+peek | pm"},
	    {"(RFC822 BODY[])", false, "RFC822= BODY[]= | seen"},
	    /* Unknown or malformed items. */
	    {"FOO", false, "BAD"},
	    {"BINARY[1]", false, "BAD"},
	    {"RFC822.PEEK", false, "BAD"},
	    {"BODY.PEEK", false, "BAD"},
	    {"BODY<0.10>", false, "BAD"},
	    {"UIDX", false, "BAD"},
	    {"FLAGS.SILENT", false, "BAD"},
	    {"()", false, "BAD"},
	    {"(FLAGS (UID))", false, "BAD"},
	    {"(FLAGS \"UID\")", false, "BAD"},
	    {"\"FLAGS\"", false, "BAD"},
	    {"NIL", false, "BAD"},
	};
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_macros(void)
{
	static const struct fcase cases[] = {
	    {"ALL", false, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE | env"},
	    {"fast", false, "FLAGS INTERNALDATE RFC822.SIZE |"},
	    {"FULL", false, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY | env body"},
	    {"ALL", true, "UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE | env"},
	    /* §6.4.5: macros are not to be combined with other items. */
	    {"(ALL)", false, "BAD"},
	    {"(FLAGS FAST)", false, "BAD"},
	    {"ALL FLAGS", false, "ARGC"},
	};
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_sections(void)
{
	static const struct fcase cases[] = {
	    {"BODY[]", false, "BODY[]= | seen"},
	    {"BODY.PEEK[]", false, "BODY[]=+peek |"},
	    {"body.peek[header]", false, "BODY[HEADER]=HEADER+peek | pm"},
	    {"BODY[TEXT]", false, "BODY[TEXT]=TEXT | seen pm"},
	    {"BODY[1]", false, "BODY[1]=1 | seen pm"},
	    {"BODY[1.2.3]", false, "BODY[1.2.3]=1.2.3 | seen pm"},
	    {"BODY[1.MIME]", false, "BODY[1.MIME]=1.MIME | seen pm"},
	    {"BODY[1.mime]", false, "BODY[1.MIME]=1.MIME | seen pm"},
	    {"BODY[3.HEADER]", false, "BODY[3.HEADER]=3.HEADER | seen pm"},
	    {"BODY[3.TEXT]", false, "BODY[3.TEXT]=3.TEXT | seen pm"},
	    {"BODY[2.1.HEADER.FIELDS (X)]", false,
	     "BODY[2.1.HEADER.FIELDS (X)]=2.1.HEADER.FIELDS | seen pm"},
	    {"BODY[4294967295]", false, "BODY[4294967295]=4294967295 | seen pm"},
	    {"BODY.PEEK[HEADER.FIELDS (From Subject date)]", false,
	     "BODY[HEADER.FIELDS (FROM SUBJECT DATE)]=HEADER.FIELDS+peek | pm"},
	    {"BODY[header.fields.not (Received)]", false,
	     "BODY[HEADER.FIELDS.NOT (RECEIVED)]=HEADER.FIELDS.NOT | seen pm"},
	    {"BODY[HEADER.FIELDS (\"From\" \"X Y\" \"a\\\"b\")]", false,
	     "BODY[HEADER.FIELDS (FROM \"X Y\" \"A\\\"B\")]=HEADER.FIELDS | seen pm"},
	    {"BODY[HEADER.FIELDS (X-a.b_c:d)]", false,
	     "BODY[HEADER.FIELDS (X-A.B_C:D)]=HEADER.FIELDS | seen pm"},
	    /* Distinct names: both answered. */
	    {"(BODY[HEADER.FIELDS (A)] BODY[HEADER.FIELDS (B)])", false,
	     "BODY[HEADER.FIELDS (A)]=HEADER.FIELDS BODY[HEADER.FIELDS (B)]=HEADER.FIELDS | seen "
	     "pm"},
	    /* Invalid sections. */
	    {"BODY[0]", false, "BAD"},
	    {"BODY[01]", false, "BAD"},
	    {"BODY[1.0]", false, "BAD"},
	    {"BODY[4294967296]", false, "BAD"},
	    {"BODY[1.]", false, "BAD"},
	    {"BODY[.1]", false, "BAD"},
	    {"BODY[1..2]", false, "BAD"},
	    {"BODY[MIME]", false, "BAD"},
	    {"BODY[HEADERS]", false, "BAD"},
	    {"BODY[HEADER.FIELDS]", false, "BAD"},
	    {"BODY[HEADER.FIELDS ()]", false, "BAD"},
	    {"BODY[HEADER.FIELDS (A )]", false, "BAD"},
	    {"BODY[HEADER.FIELDS ( A)]", false, "BAD"},
	    {"BODY[HEADER.FIELDS  (A)]", false, "BAD"},
	    {"BODY[HEADER.FIELDS(A)]", false, "BAD"},
	    {"BODY[HEADER.FIELDS (\"\")]", false, "BAD"},
	    {"BODY[HEADER.FIELDS (A(B)]", false, "WIRE"},
	    {"BODY[HEADER.FIELDS.NOT]", false, "BAD"},
	    {"BODY[HEADER.FIELDS.NOTE (A)]", false, "BAD"},
	    {"BODY[TEXT.MIME]", false, "BAD"},
	    {"BODY[1TEXT]", false, "BAD"},
	    {"BODY[1.2.FOO]", false, "BAD"},
	    {"BODY[HEADER]x", false, "BAD"},
	    {"BODY[ ]", false, "BAD"},
	    {"BODY[", false, "BAD"},
	};
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_partial(void)
{
	static const struct fcase cases[] = {
	    {"BODY[]<0.10>", false, "BODY[]<0>=<0.10> | seen"},
	    {"BODY.PEEK[TEXT]<262100.200>", false, "BODY[TEXT]<262100>=TEXT+peek<262100.200> | pm"},
	    {"BODY[1]<4294967295.4294967295>", false,
	     "BODY[1]<4294967295>=1<4294967295.4294967295> | seen pm"},
	    {"BODY[]<007.1>", false, "BODY[]<7>=<7.1> | seen"},
	    /* A different origin is a different answer. */
	    {"(BODY[]<0.10> BODY[]<10.10> BODY[])", false,
	     "BODY[]<0>=<0.10> BODY[]<10>=<10.10> BODY[]= | seen"},
	    {"BODY[]<0.0>", false, "BAD"},
	    {"BODY[]<0.01>", false, "BAD"},
	    {"BODY[]<0>", false, "BAD"},
	    {"BODY[]<.5>", false, "BAD"},
	    {"BODY[]<5.>", false, "BAD"},
	    {"BODY[]<0.5", false, "BAD"},
	    {"BODY[]<0.5>x", false, "BAD"},
	    {"BODY[]<4294967296.1>", false, "BAD"},
	    {"BODY[]<0.4294967296>", false, "BAD"},
	    {"BODY[]<-1.5>", false, "BAD"},
	    {"RFC822<0.5>", false, "BAD"},
	};
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_fields_are_kept(void)
{
	struct pool *pool = pool_create(0);
	struct fetch_request req;
	char *got = run_in(pool, "BODY.PEEK[1.HEADER.FIELDS.NOT (received \"X-Spam Score\")]<5.9>",
	                   false, &req);

	CU_ASSERT_STRING_EQUAL(got, "BODY[1.HEADER.FIELDS.NOT (RECEIVED \"X-SPAM SCORE\")]<5>="
	                            "1.HEADER.FIELDS.NOT+peek<5.9> | pm");
	CU_ASSERT_EQUAL(req.nitems, 1);
	CU_ASSERT_EQUAL(req.items[0].nfields, 2);
	CU_ASSERT_STRING_EQUAL(req.items[0].fields[0], "RECEIVED");
	CU_ASSERT_STRING_EQUAL(req.items[0].fields[1], "X-SPAM SCORE");
	CU_ASSERT_TRUE(req.items[0].fields_not);
	CU_ASSERT_TRUE(req.has_sections);
	free(got);
	pool_destroy(&pool);
}

/* Builds "(BODY[1] BODY[2] ...)": n distinct items. */
static char *list_of(unsigned n)
{
	struct buf b;
	char *ret;

	buf_init(&b, 0);
	(void)buf_append_str(&b, "(");
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			(void)buf_append_str(&b, " ");
		(void)buf_printf(&b, "BODY[%u]", i + 1);
	}
	(void)buf_append_str(&b, ")");
	ret = strdup(b.data);
	buf_free(&b);
	return ret;
}

static bool accepted(const char *items, bool uid)
{
	char *got = run(items, uid);
	bool ok = strcmp(got, "BAD") != 0 && strcmp(got, "WIRE") != 0 && strcmp(got, "ARGC") != 0;

	free(got);
	return ok;
}

static void test_limit_items(void)
{
	char *at = list_of(FETCH_MAX_ITEMS);
	char *past = list_of(FETCH_MAX_ITEMS + 1);
	struct buf dup;

	CU_ASSERT_TRUE(accepted(at, false));
	CU_ASSERT_TRUE(accepted(at, true)); /* UID comes on top */
	CU_ASSERT_FALSE(accepted(past, false));
	/* Duplicates do not count. */
	buf_init(&dup, 0);
	(void)buf_append_str(&dup, "(");
	for (unsigned i = 0; i < 3 * FETCH_MAX_ITEMS; i++)
		(void)buf_append_str(&dup, i ? " FLAGS" : "FLAGS");
	(void)buf_append_str(&dup, ")");
	CU_ASSERT_TRUE(accepted(dup.data, false));
	buf_free(&dup);
	free(at);
	free(past);
}

static char *fields_item(unsigned n, size_t namelen, bool quoted)
{
	struct buf b;
	char *ret;

	buf_init(&b, 0);
	(void)buf_append_str(&b, "BODY[HEADER.FIELDS (");
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			(void)buf_append_str(&b, " ");
		if (quoted)
			(void)buf_append_str(&b, "\"");
		for (size_t k = 0; k < namelen; k++)
			(void)buf_append(&b, k == 0 ? "X" : "a", 1);
		if (quoted)
			(void)buf_append_str(&b, "\"");
	}
	(void)buf_append_str(&b, ")]");
	ret = strdup(b.data);
	buf_free(&b);
	return ret;
}

static void test_limit_fields(void)
{
	struct {
		unsigned n;
		size_t len;
		bool quoted, ok;
	} cases[] = {
	    {FETCH_MAX_FIELDS, 10, false, true},   {FETCH_MAX_FIELDS + 1, 10, false, false},
	    {FETCH_MAX_FIELDS, 10, true, true},    {FETCH_MAX_FIELDS + 1, 10, true, false},
	    {1, FETCH_MAX_FIELD_LEN, false, true}, {1, FETCH_MAX_FIELD_LEN + 1, false, false},
	    {1, FETCH_MAX_FIELD_LEN, true, true},  {1, FETCH_MAX_FIELD_LEN + 1, true, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *item = fields_item(cases[i].n, cases[i].len, cases[i].quoted);
		CU_ASSERT_EQUAL(accepted(item, false), cases[i].ok);
		free(item);
	}
}

static void test_limit_depth(void)
{
	struct buf at, past;

	buf_init(&at, 0);
	buf_init(&past, 0);
	(void)buf_append_str(&at, "BODY[1");
	for (unsigned i = 1; i < FETCH_MAX_PART_DEPTH; i++)
		(void)buf_append_str(&at, ".1");
	(void)buf_printf(&past, "%s.1.MIME]", at.data);
	(void)buf_append_str(&at, ".MIME]");
	CU_ASSERT_TRUE(accepted(at.data, false));
	CU_ASSERT_FALSE(accepted(past.data, false));
	buf_free(&at);
	buf_free(&past);
}

/* Arguments the wire parser cannot produce from text: still refused. */
static void test_odd_arguments(void)
{
	struct pool *pool = pool_create(0);
	struct fetch_request req;
	struct imap_arg lit = {.type = IMAP_ARG_LITERAL, .str = "FLAGS", .len = 5};
	struct imap_arg list = {.type = IMAP_ARG_LIST, .list = &lit, .list_count = 1};
	const char *err = NULL;

	CU_ASSERT_EQUAL(fetch_parse(pool, &lit, false, &req, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
	CU_ASSERT_EQUAL(fetch_parse(pool, &list, false, &req, &err), -1);
	pool_destroy(&pool);
}

static const struct unit_test parse_tests[] = {
    {"simple items", test_simple_items},
    {"macros", test_macros},
    {"sections", test_sections},
    {"partial", test_partial},
    {"fields are kept", test_fields_are_kept},
    {"odd arguments", test_odd_arguments},
    {NULL, NULL},
};

static const struct unit_test limit_tests[] = {
    {"items", test_limit_items},
    {"fields", test_limit_fields},
    {"part depth", test_limit_depth},
    {NULL, NULL},
};

static const struct unit_suite suites[] = {
    {"fetch_parse", parse_tests},
    {"fetch_parse limits", limit_tests},
    {NULL, NULL},
};

UNIT_MAIN(suites)
