/* Unit tests for mime_decode: transfer encodings (strict for BINARY,
 * lenient for SEARCH), charset conversion and the UTF-8 sanitiser. */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "mime_decode.h"
#include "pool.h"
#include "unit.h"

struct decode_case {
	const char *in;
	bool strict_ok;
	const char *strict_out; /* when strict_ok */
	const char *lenient_out;
};

static void run_cases(enum mime_cte cte, const struct decode_case *cases, size_t n)
{
	struct pool *pool = pool_create(0);

	for (size_t i = 0; i < n; i++) {
		const struct decode_case *c = &cases[i];
		size_t len = strlen(c->in), outlen, size;
		unsigned char *out, lenient[256];
		const char *error = NULL;
		int ret = mime_decode_part(pool, cte, (const unsigned char *)c->in, len, &out,
		                           &outlen, &error);

		CU_ASSERT_EQUAL(ret, c->strict_ok ? 0 : -1);
		CU_ASSERT_EQUAL(mime_decode_size(cte, (const unsigned char *)c->in, len, &size),
		                ret);
		if (ret == 0) {
			CU_ASSERT_EQUAL(outlen, strlen(c->strict_out));
			CU_ASSERT(memcmp(out, c->strict_out, outlen) == 0);
			CU_ASSERT_EQUAL(size, outlen);
		} else {
			CU_ASSERT_PTR_NOT_NULL(error);
		}
		outlen =
		    cte == MIME_CTE_BASE64
		        ? mime_decode_base64_lenient((const unsigned char *)c->in, len, lenient)
		        : mime_decode_qp_lenient((const unsigned char *)c->in, len, lenient);
		CU_ASSERT(outlen <= len);
		if (outlen != strlen(c->lenient_out) ||
		    memcmp(lenient, c->lenient_out, outlen) != 0) {
			fprintf(stderr, "\ncase %zu [%s]: lenient [%.*s]\n", i, c->in, (int)outlen,
			        lenient);
			CU_FAIL("lenient decoding");
		}
	}
	pool_destroy(&pool);
}

static void test_quoted_printable(void)
{
	static const struct decode_case cases[] = {
	    {"a=3Db", true, "a=b", "a=b"},
	    {"kanga=\r\nroo.", true, "kangaroo.", "kangaroo."}, /* soft line break */
	    {"soft= \t\r\nbreak", true, "softbreak", "softbreak"},
	    {"trail  \t\r\nx", true, "trail\r\nx", "trail\r\nx"}, /* rule 3 */
	    {"caf=c3=a9", true, "caf\xc3\xa9", "caf\xc3\xa9"},    /* lower-case hex */
	    {"a=0D=0Ab", true, "a\r\nb", "a\r\nb"},
	    {"ends with a soft break=", true, "ends with a soft break", "ends with a soft break"},
	    {"=\r\n", true, "", ""},
	    {"", true, "", ""},
	    {"lf\nonly=\nx", true, "lf\nonlyx", "lf\nonlyx"},
	    {"encoded=20\r\n", true, "encoded \r\n", "encoded \r\n"},
	    {"bare = sign", false, NULL, "bare = sign"},
	    {"=ZZ invalid", false, NULL, "=ZZ invalid"},
	    {"half=4", false, NULL, "half=4"},
	    {"=\tx", false, NULL, "=\tx"},
	    {"8bit \xe9 kept", true, "8bit \xe9 kept", "8bit \xe9 kept"},
	};

	run_cases(MIME_CTE_QP, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_base64(void)
{
	static const struct decode_case cases[] = {
	    {"aGVsbG8=", true, "hello", "hello"},
	    {"aGVs\r\nbG8=\r\n", true, "hello", "hello"},
	    {"aGVsbA==", true, "hell", "hell"},
	    {"aGVsbG8h", true, "hello!", "hello!"},
	    {"aGVs*bG8=", true, "hello", "hello"}, /* RFC 2045 §6.8: skipped */
	    {"", true, "", ""},
	    {"\r\n", true, "", ""},
	    {"aGVsbG8", false, NULL, "hello"}, /* no padding */
	    {"aGVsbA=", false, NULL, "hell"},  /* half the padding */
	    {"WWW", false, NULL, "Ye"},        /* three characters, no padding */
	    {"X", false, NULL, ""},
	    {"aGk=aGk=", false, NULL, "hihi"}, /* data after padding */
	    {"=", false, NULL, ""},
	    {"aGk===", false, NULL, "hi"},
	};

	run_cases(MIME_CTE_BASE64, cases, sizeof(cases) / sizeof(cases[0]));
}

/* Random bytes encoded in lines of 76 (CRLF) and decoded back, strict
 * and lenient, with BINARY.SIZE's count: the whole-quantum fast path and
 * the character-by-character path around line ends and padding. */
static void test_base64_round_trip(void)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct pool *pool = pool_create(0);
	unsigned char raw[600], enc[1024], lenient[1024], *out;
	uint32_t seed = 12345;
	size_t outlen, size;
	const char *error;

	for (size_t len = 0; len < sizeof(raw); len += 1 + len / 8) {
		size_t e = 0, col = 0;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			raw[i] = (unsigned char)(seed >> 16);
		}
		for (size_t i = 0; i < len; i += 3) {
			uint32_t v = (uint32_t)raw[i] << 16;
			size_t left = len - i;

			if (left > 1)
				v |= (uint32_t)raw[i + 1] << 8;
			if (left > 2)
				v |= raw[i + 2];
			enc[e++] = (unsigned char)alphabet[v >> 18];
			enc[e++] = (unsigned char)alphabet[(v >> 12) & 63];
			enc[e++] = left > 1 ? (unsigned char)alphabet[(v >> 6) & 63] : '=';
			enc[e++] = left > 2 ? (unsigned char)alphabet[v & 63] : '=';
			if ((col += 4) == 76 || i + 3 >= len) {
				enc[e++] = '\r';
				enc[e++] = '\n';
				col = 0;
			}
		}
		CU_ASSERT_EQUAL_FATAL(mime_decode_part(pool, MIME_CTE_BASE64, enc, e, &out, &outlen,
		                                       &error),
		                      0);
		CU_ASSERT_EQUAL(outlen, len);
		CU_ASSERT(len == 0 || memcmp(out, raw, len) == 0);
		CU_ASSERT_EQUAL(mime_decode_size(MIME_CTE_BASE64, enc, e, &size), 0);
		CU_ASSERT_EQUAL(size, len);
		CU_ASSERT_EQUAL(mime_decode_base64_lenient(enc, e, lenient), len);
		CU_ASSERT(len == 0 || memcmp(lenient, raw, len) == 0);
		if (len % 3 != 0) {
			/* Without its padding: strict refuses, lenient decodes. */
			size_t cut = e - 2 - (len % 3 == 1 ? 2 : 1);

			CU_ASSERT_EQUAL(mime_decode_size(MIME_CTE_BASE64, enc, cut, &size), -1);
			CU_ASSERT_EQUAL(mime_decode_base64_lenient(enc, cut, lenient), len);
			CU_ASSERT(memcmp(lenient, raw, len) == 0);
		}
	}
	pool_destroy(&pool);
}

static void test_identity_and_unknown(void)
{
	struct pool *pool = pool_create(0);
	unsigned char *out;
	size_t outlen, size;
	const char *error;

	CU_ASSERT_EQUAL(mime_decode_part(pool, MIME_CTE_8BIT, (const unsigned char *)"a\0b", 3,
	                                 &out, &outlen, &error),
	                0);
	CU_ASSERT_EQUAL(outlen, 3);
	CU_ASSERT(memcmp(out, "a\0b", 3) == 0);
	CU_ASSERT_EQUAL(mime_decode_size(MIME_CTE_BINARY, (const unsigned char *)"xyz", 3, &size),
	                0);
	CU_ASSERT_EQUAL(size, 3);
	CU_ASSERT_EQUAL(mime_decode_part(pool, MIME_CTE_UNKNOWN, (const unsigned char *)"x", 1,
	                                 &out, &outlen, &error),
	                -1);
	CU_ASSERT_STRING_EQUAL(error, "Unknown Content-Transfer-Encoding");
	CU_ASSERT_EQUAL(mime_decode_size(MIME_CTE_UNKNOWN, (const unsigned char *)"x", 1, &size),
	                -1);
	pool_destroy(&pool);
}

static void test_cte_names(void)
{
	static const struct {
		const char *name;
		enum mime_cte cte;
	} cases[] = {
	    {"7bit", MIME_CTE_7BIT},           {" 8BIT ", MIME_CTE_8BIT},
	    {"Binary", MIME_CTE_BINARY},       {"BASE64", MIME_CTE_BASE64},
	    {"Quoted-Printable", MIME_CTE_QP}, {"", MIME_CTE_7BIT},
	    {"x-uuencode", MIME_CTE_UNKNOWN},  {"7-bit", MIME_CTE_UNKNOWN},
	    {"base64x", MIME_CTE_UNKNOWN},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(mime_decode_cte_parse(cases[i].name, strlen(cases[i].name)),
		                cases[i].cte);
	CU_ASSERT(mime_decode_cte_is_identity(MIME_CTE_BINARY));
	CU_ASSERT(!mime_decode_cte_is_identity(MIME_CTE_QP));
}

static void test_charset_to_utf8(void)
{
	static const struct {
		const char *charset, *in, *out;
	} cases[] = {
	    {"iso-8859-1", "caf\xe9", "caf\xc3\xa9"},
	    {"ISO-8859-15", "\xa4", "\xe2\x82\xac"},
	    {"windows-1252", "\x80 \x93q\x94", "\xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d"},
	    {"windows-1251", "\xcf\xf0\xe8", "\xd0\x9f\xd1\x80\xd0\xb8"},
	    {"koi8-r", "\xc1", "\xd0\xb0"},
	    {"utf-8", "ok \xc3\xa9", "ok \xc3\xa9"},
	    {"UTF-8", "bad \xff", "bad \xef\xbf\xbd"},
	    {"us-ascii", "mislabelled \xc3\xa9", "mislabelled \xc3\xa9"},
	    {"x-unknown-charset", "kept \xc3\xa9", "kept \xc3\xa9"},
	    {"x-unknown-charset", "latin \xe9", "latin \xef\xbf\xbd"},
	    {"utf-8//IGNORE", "\xe9", "\xef\xbf\xbd"}, /* no iconv options */
	    {NULL, "no charset \xc3\xa9", "no charset \xc3\xa9"},
	    {"iso-8859-1", "nul\0dropped", "nul"}, /* strlen stops at NUL anyway */
	    {"shift_jis", "\x82\xa0", "\xe3\x81\x82"},
	    {"shift_jis", "cut\x82", "cut\xef\xbf\xbd"}, /* incomplete at the end */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b, 1000);
		CU_ASSERT_EQUAL(
		    mime_decode_to_utf8(&b, cases[i].charset,
		                        cases[i].charset != NULL ? strlen(cases[i].charset) : 0,
		                        (const unsigned char *)cases[i].in, strlen(cases[i].in)),
		    0);
		if (b.len != strlen(cases[i].out) || memcmp(b.data, cases[i].out, b.len) != 0) {
			fprintf(stderr, "\ncharset case %zu: got [%s]\n", i, b.data);
			CU_FAIL("charset conversion");
		}
		buf_free(&b);
	}
}

static void test_utf8_sanitiser(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
	    {"plain", 5, "plain"},
	    {"a\0b", 3, "ab"},
	    {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong */
	    {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
	    {"\xf4\x90\x80\x80", 4,
	     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* past U+10FFFF */
	    {"\xf0\x9f\x93\x85", 4, "\xf0\x9f\x93\x85"},          /* emoji */
	    {"\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd"},          /* truncated */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b, 0);
		CU_ASSERT_EQUAL(
		    mime_decode_utf8_append(&b, (const unsigned char *)cases[i].in, cases[i].len),
		    0);
		CU_ASSERT_EQUAL(b.len, strlen(cases[i].out));
		CU_ASSERT(b.len == 0 || memcmp(b.data, cases[i].out, b.len) == 0);
		buf_free(&b);
	}
}

static void test_limit_cuts_at_character_boundary(void)
{
	static const char text[] = "a\xc3\xa9\xe2\x82\xac"; /* a, e-acute, euro: 1+2+3 */
	struct buf b;

	/* at the limit: everything fits */
	buf_init(&b, 6);
	CU_ASSERT_EQUAL(mime_decode_utf8_append(&b, (const unsigned char *)text, 6), 0);
	CU_ASSERT_EQUAL(b.len, 6);
	buf_free(&b);
	/* one short: the euro sign goes whole */
	buf_init(&b, 5);
	CU_ASSERT_EQUAL(mime_decode_utf8_append(&b, (const unsigned char *)text, 6), -1);
	CU_ASSERT_EQUAL(b.len, 3);
	buf_free(&b);
	buf_init(&b, 2);
	CU_ASSERT_EQUAL(
	    mime_decode_to_utf8(&b, "iso-8859-1", 10, (const unsigned char *)"\xe9\xe9", 2), -1);
	CU_ASSERT_EQUAL(b.len, 2);
	CU_ASSERT(memcmp(b.data, "\xc3\xa9", 2) == 0);
	buf_free(&b);
	CU_ASSERT_EQUAL(mime_decode_utf8_cut((const unsigned char *)text, 6, 4), 3);
	CU_ASSERT_EQUAL(mime_decode_utf8_cut((const unsigned char *)text, 6, 100), 6);
}

static const struct unit_test decode_tests[] = {
    {"quoted-printable strict and lenient", test_quoted_printable},
    {"base64 strict and lenient", test_base64},
    {"base64 round trip over lines", test_base64_round_trip},
    {"identity and unknown encodings", test_identity_and_unknown},
    {"transfer encoding names", test_cte_names},
    {"charsets convert to UTF-8", test_charset_to_utf8},
    {"invalid UTF-8 and NUL never come out", test_utf8_sanitiser},
    {"limits cut at a character boundary", test_limit_cuts_at_character_boundary},
    {NULL, NULL},
};
static const struct unit_suite suites[] = {
    {"mime_decode", decode_tests},
    {NULL, NULL},
};
UNIT_MAIN(suites)
