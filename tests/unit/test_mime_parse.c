/* Unit tests for the MIME structure (mime_parse), its ENVELOPE and
 * BODYSTRUCTURE, the partmap and the search fields, on small messages
 * written for the case at hand: odd input, every limit at and one past it,
 * adversarial sizes. The corpus comparison is in test_mime.c. */
#include <string.h>
#include <time.h>

#include "bodystructure.h"
#include "buf.h"
#include "envelope.h"
#include "mime_parse.h"
#include "mime_search.h"
#include "partmap.h"
#include "pool.h"
#include "unit.h"

static char *bodystructure(struct pool *pool, const char *msg, size_t len,
                           const struct mime_limits *limits)
{
	struct mime_message *m = mime_parse(pool, (const unsigned char *)msg, len, limits);
	char *s;
	size_t slen;

	CU_ASSERT_EQUAL(bodystructure_write(pool, m, true, &s, &slen), 0);
	return s;
}

#define TEXT_PLAIN(size, lines)                                                                    \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" " #size " " #lines        \
	" NIL NIL NIL NIL)"

static void test_odd_messages_get_a_structure(void)
{
	static const struct {
		const char *msg;
		size_t len; /* 0: strlen */
		const char *bs;
	} cases[] = {
	    {"", 0, TEXT_PLAIN(0, 0)},
	    {"\r\n", 0, TEXT_PLAIN(0, 0)},
	    {"\r\nbody only\r\n", 0, TEXT_PLAIN(11, 1)},
	    {"Subject: no blank line", 0, TEXT_PLAIN(0, 0)},
	    {"Subject: x\n\nbare LF\nlines\n", 0, TEXT_PLAIN(14, 2)},
	    {"Subject: a\0b\r\n\r\nnul\0body", 24, TEXT_PLAIN(8, 0)},
	    {"Content-Type: text/plain; charset=\xc3\xa9\r\n\r\nx", 0,
	     "(\"text\" \"plain\" (\"charset\" {2}\r\n\xc3\xa9) NIL NIL \"7bit\" 1 0 NIL NIL NIL "
	     "NIL)"},
	    /* RFC 2045 §5.2 default for an invalid Content-Type */
	    {"Content-Type: text; charset=iso-8859-1\r\n\r\nx", 0, TEXT_PLAIN(1, 0)},
	    /* no boundary, empty boundary: one made-up part */
	    {"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nbody\r\n", 0,
	     "(" TEXT_PLAIN(0, 0) " \"mixed\" NIL NIL NIL NIL)"},
	    {"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n", 0,
	     "(" TEXT_PLAIN(0, 0) " \"mixed\" (\"boundary\" \"\") NIL NIL NIL)"},
	    /* boundary never seen; close delimiter missing */
	    {"Content-Type: multipart/mixed; boundary=b\r\n\r\nno parts\r\n", 0,
	     "(" TEXT_PLAIN(0, 0) " \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"},
	    {"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nopen to the end", 0,
	     "(" TEXT_PLAIN(15, 0) " \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"},
	    /* delimiter glued to the part's header, no blank line anywhere */
	    {"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n"
	     "--b--\r\n",
	     0,
	     "((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
	     " \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"},
	    /* message/rfc822 that ends before its header does */
	    {"Content-Type: message/rfc822\r\n\r\nSubject: inner", 0,
	     "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 14 (NIL \"inner\" NIL NIL NIL NIL NIL "
	     "NIL NIL NIL) " TEXT_PLAIN(0, 0) " 0 NIL NIL NIL NIL)"},
	    /* message/rfc822 in quoted-printable is not looked into */
	    {"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	     "Subject: x=\r\ny\r\n\r\nbody",
	     0,
	     "(\"message\" \"rfc822\" NIL NIL NIL \"quoted-printable\" 22 (NIL NIL NIL NIL NIL NIL "
	     "NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
	     "NIL NIL NIL NIL) 3 NIL NIL NIL NIL)"},
	    /* extension data: md5, disposition, languages, location */
	    {"Content-MD5: Q2hlY2s=\r\nContent-Disposition: inline\r\nContent-Language: en, fr\r\n"
	     "Content-Location: http://x.example/a\r\n\r\nx",
	     0,
	     "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 \"Q2hlY2s=\" "
	     "(\"inline\" NIL) (\"en\" \"fr\") \"http://x.example/a\")"},
	    /* a parameter value holding quotes and a backslash */
	    {"Content-Type: application/x; name=\"a \\\"b\\\" \\\\c\"\r\n\r\n", 0,
	     "(\"application\" \"x\" (\"name\" \"a \\\"b\\\" \\\\c\") NIL NIL \"7bit\" 0 NIL NIL "
	     "NIL NIL)"},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].msg);
		char *bs = bodystructure(pool, cases[i].msg, len, NULL);

		if (strcmp(bs, cases[i].bs) != 0) {
			fprintf(stderr, "\ncase %zu:\n  want %s\n  got  %s\n", i, cases[i].bs, bs);
			CU_FAIL("bodystructure");
		}
	}
	pool_destroy(&pool);
}

/* depth nested multiparts, the innermost holding one text part. */
static char *nested_multiparts(struct pool *pool, unsigned int depth)
{
	char *msg = "";

	for (unsigned int i = 0; i < depth; i++)
		msg = pool_printf(pool,
		                  "%sContent-Type: multipart/mixed; boundary=b%u\r\n\r\n--b%u\r\n",
		                  msg, i, i);
	return pool_printf(pool, "%s\r\ntext\r\n", msg);
}

static void test_depth_limit(void)
{
	struct pool *pool = pool_create(0);
	struct mime_limits lim = {3, 100};
	struct mime_message *m;
	const struct mime_part *p;
	unsigned int depth;
	char *msg;

	/* 3 multiparts: the text part is at depth 3, the limit */
	msg = nested_multiparts(pool, 3);
	m = mime_parse(pool, (const unsigned char *)msg, strlen(msg), &lim);
	for (p = m->root, depth = 0; p->children != NULL; p = p->children)
		depth++;
	CU_ASSERT_EQUAL(depth, 3);
	CU_ASSERT_EQUAL(p->kind, MIME_PART_LEAF);
	CU_ASSERT(mime_part_is(p, "text", "plain"));
	/* one past: the multipart at depth 3 stays an opaque leaf */
	msg = nested_multiparts(pool, 4);
	m = mime_parse(pool, (const unsigned char *)msg, strlen(msg), &lim);
	for (p = m->root, depth = 0; p->children != NULL; p = p->children)
		depth++;
	CU_ASSERT_EQUAL(depth, 3);
	CU_ASSERT(mime_part_is(p, "multipart", "mixed"));
	CU_ASSERT_EQUAL(p->kind, MIME_PART_LEAF);
	CU_ASSERT(p->flags & MIME_PART_FLAG_OPAQUE);
	CU_ASSERT_EQUAL(m->part_count, 4);

	/* message/rfc822 at the limit: placeholders, as the grammar needs */
	msg = "Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n"
	      "Subject: deep\r\n\r\nx";
	lim.max_depth = 1;
	CU_ASSERT_STRING_EQUAL(
	    bodystructure(pool, msg, strlen(msg), &lim),
	    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 50 (NIL NIL NIL NIL NIL NIL NIL NIL "
	    "NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 18 (NIL NIL NIL NIL NIL NIL "
	    "NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
	    "NIL NIL NIL NIL) 2 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)");
	pool_destroy(&pool);
}

static char *many_parts(struct pool *pool, unsigned int n)
{
	char *msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n";

	for (unsigned int i = 0; i < n; i++)
		msg = pool_printf(pool, "%s--b\r\n\r\npart %u\r\n", msg, i);
	return pool_printf(pool, "%s--b--\r\n", msg);
}

static void test_part_limit(void)
{
	struct pool *pool = pool_create(0);
	struct mime_limits lim = {50, 4};
	struct mime_message *m;
	char *msg;

	/* the root and 3 parts: at the limit */
	msg = many_parts(pool, 3);
	m = mime_parse(pool, (const unsigned char *)msg, strlen(msg), &lim);
	CU_ASSERT_EQUAL(m->part_count, 4);
	CU_ASSERT_EQUAL(m->root->child_count, 3);
	/* one past: the 4th delimiter is content of the 3rd part */
	msg = many_parts(pool, 4);
	m = mime_parse(pool, (const unsigned char *)msg, strlen(msg), &lim);
	CU_ASSERT_EQUAL(m->part_count, 4);
	CU_ASSERT_EQUAL(m->root->child_count, 3);
	CU_ASSERT_EQUAL(m->root->children->next->next->body_len,
	                strlen("part 2\r\n--b\r\n\r\npart 3"));
	pool_destroy(&pool);
}

/* CPU time of parsing msg, the best of three runs. */
static double parse_seconds(const char *msg, size_t len)
{
	double best = 1e9;

	for (int r = 0; r < 3; r++) {
		struct pool *pool = pool_create(0);
		struct timespec a, b;
		double t;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
		(void)mime_parse(pool, (const unsigned char *)msg, len, NULL);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
		t = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		best = t < best ? t : best;
		pool_destroy(&pool);
	}
	return best;
}

/* 40 open multiparts whose boundaries share a prefix, then lines that
 * start like a delimiter but are none: every line is compared with every
 * open boundary. Four times the lines must cost about four times the time,
 * not sixteen. */
static void test_delimiter_scan_is_linear(void)
{
	struct buf small, large;
	double t1, t4;

	for (int pass = 0; pass < 2; pass++) {
		struct buf *b = pass == 0 ? &small : &large;
		unsigned int lines = pass == 0 ? 40000 : 160000;

		buf_init(b, 0);
		for (int i = 0; i < 40; i++)
			(void)buf_printf(
			    b,
			    "Content-Type: multipart/mixed; boundary=\"bbbbbbbb%02d\"\r\n"
			    "\r\n--bbbbbbbb%02d\r\n",
			    i, i);
		(void)buf_append_str(b, "\r\n");
		for (unsigned int i = 0; i < lines; i++)
			(void)buf_append_str(b, "--bbbbbbbbzz\r\n");
	}
	t1 = parse_seconds(small.data, small.len);
	t4 = parse_seconds(large.data, large.len);
	if (t4 > 10 * t1 + 0.01)
		fprintf(stderr, "\nparse: %.4fs for N lines, %.4fs for 4N\n", t1, t4);
	CU_ASSERT(t4 <= 10 * t1 + 0.01);
	buf_free(&small);
	buf_free(&large);
}

static char *envelope(struct pool *pool, const char *msg)
{
	struct mime_message *m = mime_parse(pool, (const unsigned char *)msg, strlen(msg), NULL);
	char *s;
	size_t len;

	CU_ASSERT_EQUAL(envelope_write(pool, m, m->root, &s, &len), 0);
	return s;
}

static void test_envelope_fields(void)
{
	static const struct {
		const char *msg, *env;
	} cases[] = {
	    {"", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
	    /* present but empty: "" (RFC 3501 §7.4.2); sender/reply-to = from */
	    {"Date:\r\nSubject:\r\nFrom: a@b\r\nSender:\r\nReply-To: (nobody)\r\n"
	     "In-Reply-To:\r\nMessage-ID:\r\n\r\n",
	     "(\"\" \"\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) "
	     "NIL NIL NIL \"\" \"\")"},
	    /* white space for people, NUL dropped, 8-bit as a literal */
	    {"Subject:  two\t spaces \r\n\r\n",
	     "(NIL {10}\r\ntwo spaces NIL NIL NIL NIL NIL NIL NIL NIL)"},
	    {"Subject: caf\xc3\xa9\r\n\r\n",
	     "(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)"},
	    {"Message-ID: <\"q\\\"\"@x>\r\n\r\n",
	     "(NIL NIL NIL NIL NIL NIL NIL NIL NIL \"<\\\"q\\\\\\\"\\\"@x>\")"},
	    /* repeated address fields add up; the last Subject counts */
	    {"To: a@b\r\nSubject: 1\r\nTo: c@d\r\nSubject: 2\r\n\r\n",
	     "(NIL \"2\" NIL NIL NIL ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) NIL NIL NIL "
	     "NIL)"},
	    {"From: A <a@b>, B <c@d>\r\nSender: S <s@t>\r\n\r\n",
	     "(NIL NIL ((\"A\" NIL \"a\" \"b\")(\"B\" NIL \"c\" \"d\")) ((\"S\" NIL \"s\" \"t\")) "
	     "((\"A\" NIL \"a\" \"b\")(\"B\" NIL \"c\" \"d\")) NIL NIL NIL NIL NIL)"},
	};
	static const char nul[] = "Subject: a\0b\r\n\r\n";
	struct pool *pool = pool_create(0);
	struct mime_message *m;
	char *env;
	size_t len;

	static const char nul_name[] = "From: \"a\0b\" <x@z>\r\n\r\n";
	struct mime_search_fields sf;

	/* NUL cannot be sent in an IMAP string: dropped, and so a literal */
	m = mime_parse(pool, (const unsigned char *)nul, sizeof(nul) - 1, NULL);
	CU_ASSERT_EQUAL(envelope_write(pool, m, m->root, &env, &len), 0);
	CU_ASSERT_STRING_EQUAL(env, "(NIL {2}\r\nab NIL NIL NIL NIL NIL NIL NIL NIL)");
	m = mime_parse(pool, (const unsigned char *)nul_name, sizeof(nul_name) - 1, NULL);
	CU_ASSERT_EQUAL(envelope_write(pool, m, m->root, &env, &len), 0);
	CU_ASSERT_STRING_EQUAL(env, "(NIL NIL (({2}\r\nab NIL \"x\" \"z\")) (({2}\r\nab NIL \"x\" "
	                            "\"z\")) (({2}\r\nab NIL \"x\" \"z\")) NIL NIL NIL NIL NIL)");
	mime_search_fields(pool, m, 0, &sf);
	CU_ASSERT_STRING_EQUAL(sf.from, "ab <x@z>");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		env = envelope(pool, cases[i].msg);

		if (strcmp(env, cases[i].env) != 0) {
			fprintf(stderr, "\ncase %zu:\n  want %s\n  got  %s\n", i, cases[i].env,
			        env);
			CU_FAIL("envelope");
		}
	}
	pool_destroy(&pool);
}

static void test_envelope_address_budget(void)
{
	struct pool *pool = pool_create(0);
	struct buf b;
	char *env;
	size_t n = 0;

	buf_init(&b, 0);
	(void)buf_append_str(&b, "To: ");
	for (int i = 0; i < ENVELOPE_MAX_ADDRESSES + 10; i++)
		(void)buf_append_str(&b, "a@b,");
	(void)buf_append_str(&b, "\r\n\r\n");
	env = envelope(pool, b.data);
	for (const char *p = env; (p = strstr(p, "(NIL NIL \"a\" \"b\")")) != NULL; p++)
		n++;
	CU_ASSERT_EQUAL(n, ENVELOPE_MAX_ADDRESSES);
	buf_free(&b);
	pool_destroy(&pool);
}

static const char sections_msg[] = "Subject: sections\r\n"
                                   "Content-Type: multipart/mixed; boundary=o\r\n"
                                   "\r\n"
                                   "--o\r\n"
                                   "\r\n"
                                   "one\r\n"
                                   "--o\r\n"
                                   "Content-Type: message/rfc822\r\n"
                                   "\r\n"
                                   "Subject: inner\r\n"
                                   "Content-Type: multipart/alternative; boundary=i\r\n"
                                   "\r\n"
                                   "--i\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Content-Transfer-Encoding: base64\r\n"
                                   "\r\n"
                                   "aGVsbG8=\r\n"
                                   "--i\r\n"
                                   "Content-Transfer-Encoding: x-unknown\r\n"
                                   "\r\n"
                                   "?\r\n"
                                   "--i--\r\n"
                                   "--o\r\n"
                                   "Content-Type: message/rfc822\r\n"
                                   "\r\n"
                                   "Subject: simple\r\n"
                                   "\r\n"
                                   "just text\r\n"
                                   "--o--\r\n";

static void test_partmap_sections(void)
{
	static const struct {
		const char *section;
		int ret;
		const char *content; /* when found */
	} cases[] = {
	    {"HEADER", 1, "Subject: sections\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n"},
	    {"header.fields", 1,
	     "Subject: sections\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n"},
	    {"1", 1, "one"},
	    {"1.MIME", 1, "\r\n"},
	    {"2.MIME", 1, "Content-Type: message/rfc822\r\n\r\n"},
	    {"2.HEADER", 1,
	     "Subject: inner\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"},
	    {"2.1", 1, "aGVsbG8="},
	    {"2.1.MIME", 1,
	     "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"},
	    {"2.2", 1, "?"},
	    {"3.TEXT", 1, "just text"},
	    {"3.1", 1, "just text"},
	    {"3.HEADER.FIELDS.NOT", 1, "Subject: simple\r\n\r\n"},
	    /* not there */
	    {"4", 0, NULL},
	    {"1.1", 0, NULL},
	    {"2.3", 0, NULL},
	    {"3.2", 0, NULL},
	    {"1.HEADER", 0, NULL}, /* HEADER needs a message/rfc822 part */
	    {"2.1.TEXT", 0, NULL},
	    {"4294967296", 0, NULL},
	    /* not syntax */
	    {"MIME", -1, NULL},
	    {"0", -1, NULL},
	    {"01", -1, NULL},
	    {"1.", -1, NULL},
	    {"1..1", -1, NULL},
	    {"1.FOO", -1, NULL},
	    {"HEADER.FIELDS.NOTX", -1, NULL},
	    {"1.MIME.1", -1, NULL},
	    {"TEXT.1", -1, NULL},
	    {" 1", -1, NULL},
	};
	struct pool *pool = pool_create(0);
	struct mime_message *m =
	    mime_parse(pool, (const unsigned char *)sections_msg, strlen(sections_msg), NULL);
	struct partmap *map;
	struct partmap_section sec;
	unsigned char *enc;
	size_t enc_len;
	const char *error;

	partmap_encode(pool, m, &enc, &enc_len);
	CU_ASSERT_EQUAL_FATAL(partmap_decode(pool, enc, enc_len, &map, &error), 0);
	CU_ASSERT_EQUAL(partmap_part_count(map), m->part_count);
	CU_ASSERT(enc_len < 6 * m->part_count + 8); /* compact */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = partmap_find(map, cases[i].section, &sec);

		if (ret != cases[i].ret) {
			fprintf(stderr, "\n%s: %d\n", cases[i].section, ret);
			CU_FAIL("partmap_find");
			continue;
		}
		if (ret == 1) {
			CU_ASSERT_EQUAL(sec.len, strlen(cases[i].content));
			CU_ASSERT(memcmp(sections_msg + sec.off, cases[i].content, sec.len) == 0);
		}
	}
	/* whole message; filters */
	CU_ASSERT_EQUAL(partmap_find(map, "", &sec), 1);
	CU_ASSERT(sec.off == 0 && sec.len == strlen(sections_msg) && sec.is_part);
	CU_ASSERT_EQUAL(partmap_find(map, "3.HEADER.FIELDS.NOT", &sec), 1);
	CU_ASSERT_EQUAL(sec.filter, PARTMAP_FILTER_FIELDS_NOT);
	CU_ASSERT_EQUAL(partmap_find(map, "HEADER.FIELDS", &sec), 1);
	CU_ASSERT_EQUAL(sec.filter, PARTMAP_FILTER_FIELDS);
	/* BINARY.SIZE data */
	CU_ASSERT_EQUAL(partmap_find(map, "2.1", &sec), 1);
	CU_ASSERT(sec.is_part && sec.cte == MIME_CTE_BASE64);
	CU_ASSERT_EQUAL(sec.binary_status, MIME_BINARY_OK);
	CU_ASSERT_EQUAL(sec.binary_size, 5);
	CU_ASSERT_EQUAL(partmap_find(map, "2.2", &sec), 1);
	CU_ASSERT_EQUAL(sec.binary_status, MIME_BINARY_UNKNOWN_CTE);
	CU_ASSERT_EQUAL(partmap_find(map, "2", &sec), 1);
	CU_ASSERT(sec.cte == MIME_CTE_7BIT && sec.binary_size == sec.len);
	CU_ASSERT_EQUAL(partmap_find(map, "1.MIME", &sec), 1);
	CU_ASSERT(!sec.is_part);
	pool_destroy(&pool);
}

static void test_partmap_rejects_corrupt_maps(void)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n"
	    "--b\r\n\r\ny\r\n--b--\r\n";
	struct pool *pool = pool_create(0);
	struct mime_message *m = mime_parse(pool, (const unsigned char *)msg, strlen(msg), NULL);
	unsigned char *enc, *bad;
	size_t len;
	struct partmap *map;
	const char *error;

	partmap_encode(pool, m, &enc, &len);
	CU_ASSERT_EQUAL(partmap_decode(pool, enc, len, &map, &error), 0);
	/* every truncation */
	for (size_t n = 0; n < len; n++)
		CU_ASSERT_EQUAL(partmap_decode(pool, enc, n, &map, &error), -1);
	bad = pool_alloc(pool, len + 1);
	/* trailing garbage */
	memcpy(bad, enc, len);
	bad[len] = 0;
	CU_ASSERT_EQUAL(partmap_decode(pool, bad, len + 1, &map, &error), -1);
	/* wrong version */
	bad[0] = 2;
	CU_ASSERT_EQUAL(partmap_decode(pool, bad, len, &map, &error), -1);
	CU_ASSERT_STRING_EQUAL(error, "Unknown partmap version");
	/* a message size smaller than the parts */
	memcpy(bad, enc, len);
	bad[1] = 10;
	CU_ASSERT_EQUAL(partmap_decode(pool, bad, len, &map, &error), -1);
	/* every single-byte change is refused or yields a map that is
	 * still consistent (lookups stay inside the message) */
	for (size_t i = 0; i < len; i++) {
		for (unsigned int v = 0; v < 256; v += 7) {
			struct partmap_section sec;

			memcpy(bad, enc, len);
			bad[i] = (unsigned char)v;
			if (partmap_decode(pool, bad, len, &map, &error) < 0)
				continue;
			if (partmap_find(map, "2", &sec) == 1)
				CU_ASSERT(sec.off + sec.len <= partmap_message_size(map));
		}
	}
	pool_destroy(&pool);
}

static const char search_msg[] = "Subject: =?ISO-8859-1?Q?Caf=E9?= au lait\r\n"
                                 "From: =?utf-8?q?J=C3=B6rg?= <joerg@example.de>\r\n"
                                 "To: Team: a@b.example, \"Bob\" <bob@x.example>;\r\n"
                                 "Cc: nodomain\r\n"
                                 "Date: Fri, 4 May 2001 14:05:44 -0400\r\n"
                                 "Message-ID:\r\n <id@example>  \r\n"
                                 "X-Raw: caf\xe9\r\n"
                                 "Content-Type: multipart/mixed; boundary=b\r\n"
                                 "\r\n"
                                 "preamble-word\r\n"
                                 "--b\r\n"
                                 "Content-Type: text/plain; charset=iso-8859-1\r\n"
                                 "Content-Transfer-Encoding: quoted-printable\r\n"
                                 "\r\n"
                                 "cr=E8me br=FBl=\r\n"
                                 "=E9e\r\n"
                                 "--b\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Transfer-Encoding: base64\r\n"
                                 "\r\n"
                                 "w6l0w6kgAGhpZGRlbg==\r\n"
                                 "--b\r\n"
                                 "Content-Type: image/png; name=pic.png\r\n"
                                 "\r\n"
                                 "binary-word\r\n"
                                 "--b\r\n"
                                 "Content-Type: message/rfc822\r\n"
                                 "\r\n"
                                 "Subject: inner-subject\r\n"
                                 "\r\n"
                                 "inner-body\r\n"
                                 "--b--\r\n"
                                 "epilogue-word\r\n";

static void test_search_fields(void)
{
	struct pool *pool = pool_create(0);
	struct mime_message *m =
	    mime_parse(pool, (const unsigned char *)search_msg, strlen(search_msg), NULL);
	struct mime_search_fields f;

	mime_search_fields(pool, m, 0, &f);
	CU_ASSERT_STRING_EQUAL(f.subject, "Caf\xc3\xa9 au lait");
	CU_ASSERT_STRING_EQUAL(f.from, "J\xc3\xb6rg <joerg@example.de>");
	CU_ASSERT_STRING_EQUAL(f.to, "Team: a@b.example, Bob <bob@x.example>;");
	CU_ASSERT_STRING_EQUAL(f.cc, "nodomain");
	CU_ASSERT_PTR_NULL(f.bcc);
	CU_ASSERT_STRING_EQUAL(f.message_id, "<id@example>");
	CU_ASSERT_EQUAL(f.date, 988999544);
	CU_ASSERT_PTR_NOT_NULL(strstr(f.headers, "X-Raw: caf\xef\xbf\xbd\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(f.headers, "Subject: Caf\xc3\xa9 au lait\n"));
	CU_ASSERT_EQUAL(strlen(f.headers), f.headers_len);
	/* QP latin-1 and base64 UTF-8 decoded, NUL dropped */
	CU_ASSERT_PTR_NOT_NULL(strstr(f.body, "cr\xc3\xa8me br\xc3\xbbl\xc3\xa9"
	                                      "e\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(f.body, "\xc3\xa9t\xc3\xa9 hidden"));
	CU_ASSERT_EQUAL(strlen(f.body), f.body_len);
	/* part headers and the attached message are text of the body */
	CU_ASSERT_PTR_NOT_NULL(strstr(f.body, "name=pic.png"));
	CU_ASSERT_PTR_NOT_NULL(strstr(f.body, "Subject: inner-subject\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(f.body, "inner-body"));
	/* not: non-text content, preamble, epilogue */
	CU_ASSERT_PTR_NULL(strstr(f.body, "binary-word"));
	CU_ASSERT_PTR_NULL(strstr(f.body, "preamble-word"));
	CU_ASSERT_PTR_NULL(strstr(f.body, "epilogue-word"));
	CU_ASSERT(!f.truncated);

	/* absent and empty fields differ; unparsable date */
	m = mime_parse(pool, (const unsigned char *)"Subject:\r\nDate: soon\r\n\r\nx", 26, NULL);
	mime_search_fields(pool, m, 0, &f);
	CU_ASSERT_STRING_EQUAL(f.subject, "");
	CU_ASSERT_PTR_NULL(f.from);
	CU_ASSERT_PTR_NULL(f.message_id);
	CU_ASSERT_EQUAL(f.date, -1);
	CU_ASSERT_STRING_EQUAL(f.body, "x\n");
	pool_destroy(&pool);
}

static void test_search_text_limit(void)
{
	static const char msg[] = "Subject: \xc3\xa9\xc3\xa9\xc3\xa9\r\n"
	                          "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	                          "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac";
	struct pool *pool = pool_create(0);
	struct mime_message *m = mime_parse(pool, (const unsigned char *)msg, strlen(msg), NULL);
	struct mime_search_fields f;

	/* at the limit: 9 octets of euro signs and the newline fit in 10 */
	mime_search_fields(pool, m, 10, &f);
	CU_ASSERT_STRING_EQUAL(f.body, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\n");
	CU_ASSERT_STRING_EQUAL(f.subject, "\xc3\xa9\xc3\xa9\xc3\xa9");
	CU_ASSERT(f.truncated); /* the headers field did not fit */
	/* one short: cut before the newline; 5 octets: one whole euro sign */
	mime_search_fields(pool, m, 9, &f);
	CU_ASSERT_STRING_EQUAL(f.body, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
	mime_search_fields(pool, m, 5, &f);
	CU_ASSERT_STRING_EQUAL(f.body, "\xe2\x82\xac");
	CU_ASSERT_STRING_EQUAL(f.subject, "\xc3\xa9\xc3\xa9");
	CU_ASSERT(f.truncated);
	pool_destroy(&pool);
}

static const struct unit_test parse_tests[] = {
    {"odd messages still get a structure", test_odd_messages_get_a_structure},
    {"depth limit at and past it", test_depth_limit},
    {"part limit at and past it", test_part_limit},
    {"delimiter scanning is linear", test_delimiter_scan_is_linear},
    {"ENVELOPE fields", test_envelope_fields},
    {"ENVELOPE address budget", test_envelope_address_budget},
    {"partmap sections", test_partmap_sections},
    {"partmap refuses corrupt maps", test_partmap_rejects_corrupt_maps},
    {"search fields", test_search_fields},
    {"search text limit", test_search_text_limit},
    {NULL, NULL},
};
static const struct unit_suite suites[] = {
    {"mime_parse", parse_tests},
    {NULL, NULL},
};
UNIT_MAIN(suites)
