/* Unit tests for mime_header and mime_address: field iteration, RFC 2047
 * encoded-words, Content-Type parameters with RFC 2231, dates, addresses
 * and the HEADER.FIELDS filter. */
#include <string.h>

#include "buf.h"
#include "mime_address.h"
#include "mime_header.h"
#include "pool.h"
#include "unit.h"

static void test_field_iteration(void)
{
	static const char hdr[] = "From: a\r\n"
	                          "Subject:\r\n folded\r\n\tagain\r\n"
	                          "garbage line without colon\r\n"
	                          "X-Sp aced: no\r\n"
	                          "Obs : old\r\n"
	                          "\r\n"
	                          "Body: not a field\r\n";
	static const struct {
		const char *name, *value;
	} want[] = {
	    {"From", "a"},
	    {"Subject", "\r\n folded\r\n\tagain"},
	    {NULL, "garbage line without colon"},
	    {NULL, "X-Sp aced: no"},
	    {"Obs", "old"},
	};
	struct mime_header_iter iter;
	struct mime_header_field f;
	size_t n = 0;

	mime_header_iter_init(&iter, (const unsigned char *)hdr, strlen(hdr));
	while (mime_header_iter_next(&iter, &f) > 0) {
		CU_ASSERT_FATAL(n < sizeof(want) / sizeof(want[0]));
		if (want[n].name == NULL) {
			CU_ASSERT_EQUAL(f.name_len, 0);
		} else {
			CU_ASSERT(mime_header_field_is(&f, want[n].name));
		}
		CU_ASSERT_EQUAL(f.value_len, strlen(want[n].value));
		CU_ASSERT(memcmp(f.value, want[n].value, f.value_len) == 0);
		n++;
	}
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(
	    mime_header_find((const unsigned char *)hdr, strlen(hdr), "subject", true, &f), 1);
	CU_ASSERT_EQUAL(
	    mime_header_find((const unsigned char *)hdr, strlen(hdr), "Body", false, &f), 0);
}

static void test_encoded_words(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"=?ISO-8859-1?Q?Caf=E9?=", "Caf\xc3\xa9"},
	    {"=?utf-8?b?w6k=?=", "\xc3\xa9"},
	    {"=?utf-8?q?a_b?= c", "a b c"},
	    /* adjacent words: the white space between them goes (§6.2) */
	    {"x =?utf-8?q?b?= =?utf-8?q?c?= d", "x bc d"},
	    {"=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"},
	    {"=?iso-8859-1?q?a?= =?utf-8?q?b?=", "ab"},
	    /* a character split over two words is put back together */
	    {"=?UTF-8?Q?100_=E2=82?= =?UTF-8?Q?=AC?=", "100 \xe2\x82\xac"},
	    {"=?ISO-8859-1*fr?Q?Ma=EFt=E9?=", "Ma\xc3\xaft\xc3\xa9"}, /* RFC 2231 language */
	    {"=?x-unknown?Q?Mystery?=", "Mystery"},
	    {"=?UTF-8?B?YmFkIGJhc2U2NA?=", "bad base64"}, /* unpadded */
	    {"(=?utf-8?q?c?=)", "(c)"},
	    {"\"=?UTF-8?Q?in_quotes?=\"", "\"in quotes\""},
	    {"=?utf-8?q?=00x?=", "x"}, /* NUL dropped */
	    /* invalid words stay as they are */
	    {"notword=?UTF-8?Q?glued?=here", "notword=?UTF-8?Q?glued?=here"},
	    {"=?utf-8?q?unterminated", "=?utf-8?q?unterminated"},
	    {"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
	    {"=??q?abc?=", "=??q?abc?="},
	    {"=?utf-8?q?with space?=", "=?utf-8?q?with space?="},
	    {"a=?utf-8?q?b?=", "a=?utf-8?q?b?="},
	    /* plain text: unfolded, raw non-UTF-8 replaced */
	    {"a\r\n b", "a b"},
	    {"Caf\xe9", "Caf\xef\xbf\xbd"},
	    {"Gr\xc3\xbc\xc3\x9f", "Gr\xc3\xbc\xc3\x9f"},
	    {"", ""},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *s = mime_header_decode_words(pool, (const unsigned char *)cases[i].in,
		                                   strlen(cases[i].in), &len);

		if (len != strlen(cases[i].out) || memcmp(s, cases[i].out, len) != 0) {
			fprintf(stderr, "\n[%s] -> [%s]\n", cases[i].in, s);
			CU_FAIL("encoded words");
		}
	}
	pool_destroy(&pool);
}

/* "name=value|..." of a parsed field. */
static char *params_string(struct pool *pool, const struct mime_content *ct)
{
	char *s = "";

	for (unsigned int i = 0; i < ct->param_count; i++)
		s = pool_printf(pool, "%s%s%s=%s", s, i > 0 ? "|" : "", ct->params[i].name,
		                ct->params[i].value);
	return s;
}

static void test_content_type(void)
{
	static const struct {
		const char *in;
		int ret;
		const char *type, *subtype, *params;
	} cases[] = {
	    {"text/plain; charset=us-ascii", 0, "text", "plain", "charset=us-ascii"},
	    {"Text/PLAIN (plain text) ; CharSet = \"ISO-8859-1\" ;\r\n\tFormat=Fixed ; "
	     "X-Empty=\"\" ;",
	     0, "Text", "PLAIN", "CharSet=ISO-8859-1|Format=Fixed|X-Empty="},
	    {"multipart/mixed; boundary=----=_Part_1", 0, "multipart", "mixed",
	     "boundary=----=_Part_1"},
	    {"multipart/related; type=multipart/alternative", 0, "multipart", "related",
	     "type=multipart/alternative"},
	    {"image/png; name=unquoted name.png", 0, "image", "png", "name=unquoted"},
	    {"text/plain; charset", 0, "text", "plain", ""},
	    {"text/plain;;; ;a=b", 0, "text", "plain", "a=b"},
	    {"text/plain; a=\"semi;colon \\\"q\\\"\"", 0, "text", "plain", "a=semi;colon \"q\""},
	    {"text/plain; a=\"folded\r\n value\"", 0, "text", "plain", "a=folded value"},
	    {"text/plain; a=\"unterminated", 0, "text", "plain", "a=unterminated"},
	    /* RFC 2231 continuations, joined in numeric order */
	    {"text/plain; name*0=\"a \"; name*1=\"b\"", 0, "text", "plain", "name=a b"},
	    {"text/plain; name*1=\"b\"; name*0=\"a \"", 0, "text", "plain", "name=a b"},
	    {"text/plain; charset=us-ascii; title*0*=us-ascii'en'a%20; title*1*=b; "
	     "title*2=\"c d\"",
	     0, "text", "plain", "charset=us-ascii|title*=us-ascii'en'a%20bc d"},
	    {"multipart/signed; micalg*=x; protocol*=y; boundary*=z", 0, "multipart", "signed",
	     "boundary*=z|micalg*=x|protocol*=y"},
	    {"text/plain; n*0=a; n*0=b; n*1=c", 0, "text", "plain", "n=ac"},
	    /* RFC 2045 §5.2: not type/subtype */
	    {"text; charset=us-ascii", -1, "text", NULL, "charset=us-ascii"},
	    {"/plain", -1, NULL, "plain", ""},
	    {"text/", -1, "text", NULL, ""},
	    {"", -1, NULL, NULL, ""},
	    {"t\xe9xt/plain", -1, "t", NULL, ""},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mime_content ct;
		int ret = mime_header_parse_content_type(pool, (const unsigned char *)cases[i].in,
		                                         strlen(cases[i].in), NULL, &ct);
		char *params = params_string(pool, &ct);

		CU_ASSERT_EQUAL(ret, cases[i].ret);
		CU_ASSERT((ct.type == NULL && cases[i].type == NULL) ||
		          (ct.type != NULL && cases[i].type != NULL &&
		           strcmp(ct.type, cases[i].type) == 0));
		CU_ASSERT((ct.subtype == NULL && cases[i].subtype == NULL) ||
		          (ct.subtype != NULL && cases[i].subtype != NULL &&
		           strcmp(ct.subtype, cases[i].subtype) == 0));
		if (strcmp(params, cases[i].params) != 0) {
			fprintf(stderr, "\n[%s] params [%s]\n", cases[i].in, params);
			CU_FAIL("parameters");
		}
	}
	pool_destroy(&pool);
}

static void test_parameter_limits(void)
{
	struct pool *pool = pool_create(0);
	struct buf b;
	struct mime_content ct;
	unsigned int budget = 3;

	buf_init(&b, 0);
	(void)buf_append_str(&b, "text/plain");
	for (int i = 0; i <= MIME_HEADER_MAX_PARAMS; i++)
		(void)buf_printf(&b, "; p%d=v", i);
	/* one past the per-field limit: the last is dropped */
	(void)mime_header_parse_content_type(pool, (unsigned char *)b.data, b.len, NULL, &ct);
	CU_ASSERT_EQUAL(ct.param_count, MIME_HEADER_MAX_PARAMS);
	/* a budget for the whole message */
	(void)mime_header_parse_content_type(pool, (unsigned char *)b.data, b.len, &budget, &ct);
	CU_ASSERT_EQUAL(ct.param_count, 3);
	CU_ASSERT_EQUAL(budget, 0);
	(void)mime_header_parse_content_type(pool, (unsigned char *)b.data, b.len, &budget, &ct);
	CU_ASSERT_EQUAL(ct.param_count, 0);
	buf_free(&b);
	pool_destroy(&pool);
}

static void test_parameter_decoding(void)
{
	static const struct {
		const char *field, *name, *out;
	} cases[] = {
	    {"text/plain; title*0*=\"us-ascii'en'This%20is%20even%20more%20\"; "
	     "title*1*=\"%2A%2A%2Afun%2A%2A%2A%20\"; title*2=\"isn't it!\"",
	     "title", "This is even more ***fun*** isn't it!"},
	    {"application/x; filename*=iso-8859-1''caf%E9.txt", "filename", "caf\xc3\xa9.txt"},
	    {"application/pdf; name=\"=?UTF-8?B?w5xiZXJzaWNodCBNw6Ryei5wZGY=?=\"", "name",
	     "\xc3\x9c"
	     "bersicht M\xc3\xa4rz.pdf"},
	    {"text/plain; charset*=ansi-x3.4-1968''us-ascii", "charset", "us-ascii"},
	    {"text/plain; x*=no-quotes%41", "x", "no-quotesA"},
	    {"text/plain; x*=utf-8''%zz%4", "x", "%zz%4"},
	    {"text/plain", "x", NULL},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mime_content ct;
		size_t len;
		char *v;

		(void)mime_header_parse_content_type(pool, (const unsigned char *)cases[i].field,
		                                     strlen(cases[i].field), NULL, &ct);
		v = mime_header_param_decode(pool, &ct, cases[i].name, &len);
		if (cases[i].out == NULL) {
			CU_ASSERT_PTR_NULL(v);
		} else {
			CU_ASSERT_PTR_NOT_NULL_FATAL(v);
			CU_ASSERT_STRING_EQUAL(v, cases[i].out);
		}
	}
	pool_destroy(&pool);
}

static void test_disposition_and_language(void)
{
	struct pool *pool = pool_create(0);
	struct mime_content ct;
	char *langs[4];
	static const char lang[] = " en-GB (comment), fr ,,de";
	size_t n;
	const unsigned char *tok;

	mime_header_parse_disposition(pool, (const unsigned char *)"attachment; filename=\"a b\"",
	                              27, NULL, &ct);
	CU_ASSERT_STRING_EQUAL(ct.type, "attachment");
	CU_ASSERT_PTR_NULL(ct.subtype);
	CU_ASSERT_EQUAL(ct.param_count, 1);
	CU_ASSERT_STRING_EQUAL(ct.params[0].value, "a b");
	mime_header_parse_disposition(pool, (const unsigned char *)"", 0, NULL, &ct);
	CU_ASSERT_PTR_NULL(ct.type);
	CU_ASSERT_EQUAL(
	    mime_header_parse_language(pool, (const unsigned char *)lang, strlen(lang), langs, 4),
	    3);
	CU_ASSERT_STRING_EQUAL(langs[0], "en-GB");
	CU_ASSERT_STRING_EQUAL(langs[2], "de");
	CU_ASSERT_EQUAL(
	    mime_header_parse_language(pool, (const unsigned char *)lang, strlen(lang), langs, 2),
	    2);
	tok = mime_header_first_token((const unsigned char *)" (x) base64 (y)", 15, &n);
	CU_ASSERT_EQUAL(n, 6);
	CU_ASSERT(tok != NULL && memcmp(tok, "base64", 6) == 0);
	CU_ASSERT_PTR_NULL(mime_header_first_token((const unsigned char *)" ", 1, &n));
	pool_destroy(&pool);
}

static void test_dates(void)
{
	static const struct {
		const char *in;
		long long t;
		int tz;
	} cases[] = {
	    {"Fri, 4 May 2001 14:05:44 -0400", 988999544, -240},
	    {"Fri, 4 May 2001 14:05:44 -0400 (EDT)", 988999544, -240},
	    {"21 Nov 97 09:55:06 GMT", 880106106, 0}, /* no day name, 2-digit year */
	    {"Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n"
	     "               -0330 (Newfoundland Time)",
	     -27723480, -210},
	    {"01 Jan 2001 00:01+0000", 978307260, 0}, /* no seconds, zone glued on */
	    {"Mon, 17 Mar 2025 10:00:00 EST", 1742223600, -300},
	    {"Tue, 18 Mar 2025 09:00:00 MST", 1742313600, -420},
	    {"17 Mar 49 10:00 +0000", 2499588000, 0},   /* 2049 */
	    {"17 Mar 50 10:00 +0000", -624636000, 0},   /* 1950 */
	    {"17 Mar 125 10:00 +0000", 1742205600, 0},  /* 3 digits: 1900 + */
	    {"Thu Feb 13 23:32:00 1969", -27736080, 0}, /* asctime */
	    {"29 Feb 2000 00:00:00 +0000", 951782400, 0},
	    {"1-Jan-2001 00:00:00 +0100", 978303600, 60},
	    {"Fri, 4 May 2001 14:05:44 z", 988985144, 0}, /* military: -0000 */
	    {"Fri, 4 May 2001 14:05:44", 988985144, 0},   /* no zone */
	    {"Thursday, 01 January 1970 00:00:00 +0000", 0, 0},
	    {"next Thursday around noon", -1, 0},
	    {"31 Feb 2001 00:00 +0000", -1, 0},
	    {"29 Feb 1900 00:00:00 +0000", -1, 0},
	    {"1 Jan 2001 24:00 +0000", -1, 0},
	    {"1 Jan 2001 10:00 +0099", -1, 0},
	    {"1 Jan 2001 10:0 +0000", -1, 0},
	    {"1 Foo 2001 10:00 +0000", -1, 0},
	    {"123 Jan 2001 10:00 +0000", -1, 0},
	    {"1 Jan 1 10:00 +0000", -1, 0},
	    {"", -1, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int tz = 12345;
		time_t t = mime_header_parse_date((const unsigned char *)cases[i].in,
		                                  strlen(cases[i].in), &tz);

		if ((long long)t != cases[i].t || (t != -1 && tz != cases[i].tz)) {
			fprintf(stderr, "\n[%s] -> %lld tz %d\n", cases[i].in, (long long)t, tz);
			CU_FAIL("date");
		}
	}
}

/* "name|route|mailbox|domain;" per entry, "-" for NULL. */
static char *addresses_string(struct pool *pool, const char *in, unsigned int budget)
{
	struct mime_address *a =
	    mime_address_parse(pool, (const unsigned char *)in, strlen(in), &budget);
	char *s = "";

	for (; a != NULL; a = a->next)
		s = pool_printf(pool, "%s%s|%s|%s|%s;", s, a->name != NULL ? a->name : "-",
		                a->route != NULL ? a->route : "-",
		                a->mailbox != NULL ? a->mailbox : "-",
		                a->domain != NULL ? a->domain : "-");
	return s;
}

static void test_addresses(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"\"Joe Q. Public\" <john.q.public@example.com> (the one and only)",
	     "Joe Q. Public|-|john.q.public|example.com;"},
	    {"jdoe@example.org (John Doe)", "John Doe|-|jdoe|example.org;"},
	    {"Who? <one@y.example>", "Who?|-|one|y.example;"},
	    {"Dr. Sender <s@x>", "Dr. Sender|-|s|x;"},
	    {"<boss@nil.example>", "-|-|boss|nil.example;"},
	    {"\"strange local part\"@example.com", "-|-|strange local part|example.com;"},
	    {"\"john..doe\"@example.com", "-|-|john..doe|example.com;"},
	    {"john . doe @ example . com", "-|-|john.doe|example.com;"},
	    {"\"Giant; \\\"Big\\\" Box\" <s@example.net>", "Giant; \"Big\" Box|-|s|example.net;"},
	    {"Routed <@relay1.example,@relay2.example:user@host.example>",
	     "Routed|@relay1.example,@relay2.example|user|host.example;"},
	    {"postmaster", "-|-|postmaster|MISSING_DOMAIN;"},
	    {"MAILER DAEMON <>", "MAILER DAEMON|-|MISSING_MAILBOX|MISSING_DOMAIN;"},
	    {"\"\" <e@x>", "-|-|e|x;"},
	    {"a@[10.0.0.1]", "-|-|a|[10.0.0.1];"},
	    {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
	     "Pete|-|pete|silly.test;"},
	    {"=?utf-8?q?J=C3=B6rg?= <j@x>", "=?utf-8?q?J=C3=B6rg?=|-|j|x;"},
	    /* groups: (NIL NIL name NIL) ... (NIL NIL NIL NIL) */
	    {"undisclosed-recipients:;", "-|-|undisclosed-recipients|-;-|-|-|-;"},
	    {"Team: a@b, \"B\" <c@d>;, e@f", "-|-|Team|-;-|-|a|b;B|-|c|d;-|-|-|-;-|-|e|f;"},
	    {"Unclosed: a@b", "-|-|Unclosed|-;-|-|a|b;-|-|-|-;"},
	    /* list separators and junk */
	    {"a@b, , ,c@d", "-|-|a|b;-|-|c|d;"},
	    {"a@b\r\n\t, c@d", "-|-|a|b;-|-|c|d;"},
	    {"(just a comment)", ""},
	    {" > ; ,", ""},
	    {"", ""},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = addresses_string(pool, cases[i].in, 100);

		if (strcmp(s, cases[i].out) != 0) {
			fprintf(stderr, "\n[%s] -> [%s]\n", cases[i].in, s);
			CU_FAIL("address");
		}
	}
	/* the budget: at it and one past it */
	CU_ASSERT_STRING_EQUAL(addresses_string(pool, "a@b, c@d", 2), "-|-|a|b;-|-|c|d;");
	CU_ASSERT_STRING_EQUAL(addresses_string(pool, "a@b, c@d, e@f", 2), "-|-|a|b;-|-|c|d;");
	CU_ASSERT_STRING_EQUAL(addresses_string(pool, "G: a@b;", 2), "-|-|G|-;-|-|a|b;-|-|-|-;");
	pool_destroy(&pool);
}

static void test_header_fields_filter(void)
{
	static const char *const from_subject[] = {"subject", "FROM"};
	static const char *const received[] = {"Received"};
	static const char *const from[] = {"From"};
	static const struct {
		const char *hdr;
		const char *const *names;
		size_t count;
		bool exclude;
		const char *out;
	} cases[] = {
	    {"From: a\r\nTo: b\r\nSubject: c\r\n d\r\n\r\n", from_subject, 2, false,
	     "From: a\r\nSubject: c\r\n d\r\n\r\n"},
	    {"From: a\r\nTo: b\r\nSubject: c\r\n d\r\n\r\n", from_subject, 2, true,
	     "To: b\r\n\r\n"},
	    {"To: b\r\n\r\n", from_subject, 2, false, "\r\n"},
	    {"Subject: at the end", from_subject, 2, false, "Subject: at the end\r\n\r\n"},
	    {"From: a\nTo: b\n\n", from, 1, false, "From: a\n\n"},
	    {"Received: 1\r\nX: y\r\nReceived: 2\r\n\r\n", received, 1, false,
	     "Received: 1\r\nReceived: 2\r\n\r\n"},
	    {"From-X: y\r\nFrom: a\r\n\r\n", from, 1, false, "From: a\r\n\r\n"},
	    {"garbage line\r\nFrom: a\r\n\r\n", from, 1, false, "From: a\r\n\r\n"},
	    {"garbage line\r\nFrom: a\r\n\r\n", from, 1, true, "garbage line\r\n\r\n"},
	    {"From : spaced\r\n\r\nFrom: body\r\n", from, 1, false, "From : spaced\r\n\r\n"},
	    {"", from, 1, false, "\r\n"},
	    {"From: a\r\n\r\n", from, 0, true, "From: a\r\n\r\n"},
	};
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char *out;
		size_t len;

		mime_header_filter(pool, (const unsigned char *)cases[i].hdr, strlen(cases[i].hdr),
		                   cases[i].names, cases[i].count, cases[i].exclude, &out, &len);
		if (len != strlen(cases[i].out) || memcmp(out, cases[i].out, len) != 0) {
			fprintf(stderr, "\nfilter case %zu -> [%.*s]\n", i, (int)len, out);
			CU_FAIL("filter");
		}
	}
	pool_destroy(&pool);
}

static const struct unit_test header_tests[] = {
    {"fields, continuation lines and non-fields", test_field_iteration},
    {"RFC 2047 encoded-words", test_encoded_words},
    {"Content-Type and RFC 2231 continuations", test_content_type},
    {"parameter limits at and past them", test_parameter_limits},
    {"parameter values decoded (RFC 2231, RFC 2047)", test_parameter_decoding},
    {"Content-Disposition, Content-Language, tokens", test_disposition_and_language},
    {"RFC 5322 dates, obsolete forms and garbage", test_dates},
    {"addresses: comments, quotes, routes, groups", test_addresses},
    {"HEADER.FIELDS and HEADER.FIELDS.NOT", test_header_fields_filter},
    {NULL, NULL},
};
static const struct unit_suite suites[] = {
    {"mime_header", header_tests},
    {NULL, NULL},
};
UNIT_MAIN(suites)
