/* Unit tests for address.c: domain, local part and address validation,
 * normalisation and sub-address splitting. */
#include <string.h>

#include "address.h"
#include "unit.h"

struct norm_case {
	const char *in;
	const char *out; /* NULL = must be refused */
};

static const char label63[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static void check_domain(const char *in, const char *expect)
{
	char out[ADDRESS_DOMAIN_MAX + 1];
	const char *why = NULL;
	int ret = address_domain_normalize(in, strlen(in), out, &why);

	if (expect != NULL) {
		CU_ASSERT_EQUAL_FATAL(ret, 0);
		CU_ASSERT_STRING_EQUAL(out, expect);
	} else {
		CU_ASSERT_EQUAL(ret, -1);
		CU_ASSERT_PTR_NOT_NULL(why);
	}
}

static void test_domain_table(void)
{
	static const struct norm_case cases[] = {
	    {"example.test", "example.test"},
	    {"Example.TEST", "example.test"},
	    {"a.b", "a.b"},
	    {"1and1.com", "1and1.com"}, /* RFC 1123: leading digit */
	    {"mail-1.example.org", "mail-1.example.org"},
	    {"xn--bcher-kva.example", "xn--bcher-kva.example"}, /* A-label */
	    {"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
	    {"a--b.example", "a--b.example"}, /* "--" not at 3-4 */
	    {"", NULL},
	    {"localhost", NULL},     /* one label */
	    {"example.test.", NULL}, /* trailing dot */
	    {".example.test", NULL}, /* empty label */
	    {"example..test", NULL},
	    {"-ex.test", NULL},
	    {"ex-.test", NULL},
	    {"ab--c.test", NULL}, /* reserved R-LDH label */
	    {"xn--.test", NULL},  /* empty A-label */
	    {"ex_ample.test", NULL},
	    {"ex ample.test", NULL},
	    {"exa\xc3\xa9mple.test", NULL}, /* U-label: must be xn-- */
	    {"1.2.3.4", NULL},              /* all-numeric TLD */
	    {"[1.2.3.4]", NULL},
	    {"example.test/x", NULL},
	    {"exa@mple.test", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_domain(cases[i].in, cases[i].out);
}

static void test_domain_embedded_nul_refused(void)
{
	char out[ADDRESS_DOMAIN_MAX + 1];
	const char *why;

	CU_ASSERT_EQUAL(address_domain_normalize("ex\0ample.test", 13, out, &why), -1);
}

static void test_domain_label_limit(void)
{
	char name[300];

	/* 63 bytes: at the limit. */
	snprintf(name, sizeof(name), "%s.test", label63);
	check_domain(name, name);
	/* 64 bytes: one past. */
	snprintf(name, sizeof(name), "a%s.test", label63);
	check_domain(name, NULL);
}

static void test_domain_total_limit(void)
{
	char name[300];

	/* 4 labels of 63 + 3 dots = 252, plus ".a" would be 254; build 253
	 * exactly: 63*3 + 3 dots = 192, then a 61-byte label = 253. */
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", label63, label63, label63, label63);
	CU_ASSERT_EQUAL(strlen(name), 253);
	check_domain(name, name);
	snprintf(name, sizeof(name), "%s.%s.%s.%.62s", label63, label63, label63, label63);
	CU_ASSERT_EQUAL(strlen(name), 254);
	check_domain(name, NULL);
}

static void check_local(const char *in, const char *expect)
{
	char out[ADDRESS_LOCAL_MAX + 1];
	const char *why = NULL;
	int ret = address_localpart_normalize(in, strlen(in), out, &why);

	if (expect != NULL) {
		CU_ASSERT_EQUAL_FATAL(ret, 0);
		CU_ASSERT_STRING_EQUAL(out, expect);
	} else {
		CU_ASSERT_EQUAL(ret, -1);
		CU_ASSERT_PTR_NOT_NULL(why);
	}
}

static void test_localpart_table(void)
{
	static const struct norm_case cases[] = {
	    {"john", "john"},
	    {"John.Doe", "john.doe"},
	    {"a+b", "a+b"},
	    {"!#$%&'*+-/=?^_`{|}~", "!#$%&'*+-/=?^_`{|}~"}, /* every atext special */
	    {"x", "x"},
	    {"", NULL},
	    {".john", NULL},
	    {"john.", NULL},
	    {"jo..hn", NULL},
	    {"\"john\"", NULL}, /* quoted strings refused */
	    {"jo hn", NULL},
	    {"jo@hn", NULL},
	    {"jo(hn)", NULL},
	    {"jo,hn", NULL},
	    {"j\xc3\xb6rg", NULL}, /* no SMTPUTF8 */
	    {"jo\\hn", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_local(cases[i].in, cases[i].out);
}

static void test_localpart_limit(void)
{
	char lp[70];

	memset(lp, 'a', 64);
	lp[64] = '\0';
	check_local(lp, lp); /* 64: at the limit */
	memset(lp, 'a', 65);
	lp[65] = '\0';
	check_local(lp, NULL); /* 65: one past */
}

static void test_address_table(void)
{
	static const struct norm_case cases[] = {
	    {"Bob@Example.Test", "bob@example.test"},
	    {"a.b+c@x.y", "a.b+c@x.y"},
	    {"bob", NULL},
	    {"@example.test", NULL},
	    {"bob@", NULL},
	    {"bob@localhost", NULL},
	    {"bob@@example.test", NULL}, /* local part "bob@" */
	    {"a@b@example.test", NULL},
	    {"bob@example.test ", NULL},
	    {" bob@example.test", NULL},
	};
	char out[ADDRESS_MAX + 1];
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = address_normalize(cases[i].in, out, &why);
		if (cases[i].out != NULL) {
			CU_ASSERT_EQUAL(ret, 0);
			if (ret == 0)
				CU_ASSERT_STRING_EQUAL(out, cases[i].out);
		} else {
			CU_ASSERT_EQUAL(ret, -1);
		}
	}
}

static void test_address_longest(void)
{
	char in[400], out[ADDRESS_MAX + 1];
	const char *why;

	/* 64-byte local part and 253-byte domain: ADDRESS_MAX exactly. */
	snprintf(in, sizeof(in), "%s@%s.%s.%s.%.61s",
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", label63,
	         label63, label63, label63);
	CU_ASSERT_EQUAL(strlen(in), ADDRESS_MAX);
	CU_ASSERT_EQUAL(address_normalize(in, out, &why), 0);
	CU_ASSERT_STRING_EQUAL(out, in);
}

struct split_case {
	const char *in;
	const char *local, *detail, *domain;
	bool has_detail;
};

static void test_parse_detail(void)
{
	static const struct split_case cases[] = {
	    {"User+Tag@Example.test", "user", "tag", "example.test", true},
	    {"user@example.test", "user", "", "example.test", false},
	    {"user+@example.test", "user", "", "example.test", true},
	    {"user+a+b@example.test", "user", "a+b", "example.test", true},
	    {"+tag@example.test", "+tag", "", "example.test", false},
	    {"user.+tag@example.test", "user.+tag", "", "example.test", false},
	    {"first.last+x.y@example.test", "first.last", "x.y", "example.test", true},
	};
	struct address_parts parts;
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(address_parse(cases[i].in, '+', &parts, &why), 0);
		CU_ASSERT_STRING_EQUAL(parts.local, cases[i].local);
		CU_ASSERT_STRING_EQUAL(parts.detail, cases[i].detail);
		CU_ASSERT_STRING_EQUAL(parts.domain, cases[i].domain);
		CU_ASSERT_EQUAL(parts.has_detail, cases[i].has_detail);
	}
	/* Without a delimiter nothing is split. */
	CU_ASSERT_EQUAL(address_parse("user+tag@example.test", '\0', &parts, &why), 0);
	CU_ASSERT_STRING_EQUAL(parts.local, "user+tag");
	CU_ASSERT_FALSE(parts.has_detail);
	/* Invalid addresses are refused whatever the delimiter. */
	CU_ASSERT_EQUAL(address_parse("us..er+tag@example.test", '+', &parts, &why), -1);
	CU_ASSERT_EQUAL(address_parse("user+tag@example", '+', &parts, &why), -1);
}

static const struct unit_test domain_tests[] = {
    {"domain names accepted, lowercased or refused", test_domain_table},
    {"embedded NUL refused", test_domain_embedded_nul_refused},
    {"label of 63 bytes accepted, 64 refused", test_domain_label_limit},
    {"domain of 253 bytes accepted, 254 refused", test_domain_total_limit},
    {NULL, NULL},
};
static const struct unit_test local_tests[] = {
    {"local parts accepted, lowercased or refused", test_localpart_table},
    {"local part of 64 bytes accepted, 65 refused", test_localpart_limit},
    {NULL, NULL},
};
static const struct unit_test address_tests[] = {
    {"addresses normalised or refused", test_address_table},
    {"longest address accepted", test_address_longest},
    {"sub-address detail split", test_parse_detail},
    {NULL, NULL},
};
static const struct unit_suite suites[] = {
    {"address domain", domain_tests},
    {"address local part", local_tests},
    {"address", address_tests},
    {NULL, NULL},
};
UNIT_MAIN(suites)
