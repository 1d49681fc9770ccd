/* Unit tests for the password module.
 *
 * The known vectors were made by tools independent of our code paths:
 *   Argon2id: the argon2 CLI (Debian package argon2), e.g.
 *     echo -n 'correct horse' | argon2 mailsteadsalt16b -id -k 1024 -t 2 -p 1 -e
 *     and libargon2's own test vector (password/somesalt, m=65536, t=2, p=1);
 *   SHA512-CRYPT: `openssl passwd -6 -salt ...` and the two examples of
 *     Drepper's "Unix crypt using SHA-256 and SHA-512" specification;
 *   BLF-CRYPT: `htpasswd -nbB -C 5` (APR's bcrypt), python3-bcrypt's hashpw
 *     (OpenBSD's code) and Openwall's crypt_blowfish "U*U" vector. */
#include <stdlib.h>
#include <string.h>

#include "password.h"
#include "unit.h"

/* "pässwörd" in UTF-8 */
#define UMLAUTS "p\xc3\xa4" "ssw\xc3\xb6" "rd"

struct vector {
	const char *plain;
	const char *stored;
};

static const struct vector vectors[] = {
	/* Argon2id */
	{"correct horse", "{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$bWFpbHN0ZWFkc2FsdDE2Yg$"
			  "/QaBh8f+JhYuZhMqdF6XjAjhDi4HckgtrHokKzFzGv4"},
	{"password", "{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
		     "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	{"Tr0ub4dor&3", "{ARGON2ID}$argon2id$v=19$m=2048,t=1,p=2$c2FsdHNhbHQ$"
			"4jeWUNIEso7514+7TPEj89ar4rMNsw24"}, /* p=2, 24-byte hash */
	{UMLAUTS, "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$TWFpbHN0ZWFkLVNhbHQhIQ$"
		  "SxmTR+QEkF0dsozBQh+OI/Fq1QHgvL4VZ5d6A87SaGk"}, /* the default cost */
	{"correct horse", "{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$"
			  "mLxOsOkPdtUQMaZWIBm+hdtM1tlaJB6yfsv/SkJTH5kIV/6XC78DidASegqokx0kRbGCxweRe8"
			  "zyRsnxZXGHKQ"}, /* 64-byte hash: the maximum */
	/* SHA512-CRYPT */
	{"correct horse", "{SHA512-CRYPT}$6$mailsteadSalt01$gCEOnb6gQFJGyUN0gjsXdrThdDXkNSF74I6txCt1i"
			  "86x0KDpHz0ge4VEMaQQv4ALMJzg.re9KadrUM0HIRjRO."},
	{"Hello world!", "{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIF"
			 "NjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"Hello world!", "{SHA512-CRYPT}$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3O"
			 "eqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{UMLAUTS, "{SHA512-CRYPT}$6$Zx9./AbCdEfGhIj$e5m4iisSa5UNOOY716A9eZrI/YIRJGs"
				   "vfoxSL3N5hUQRmWgszRWLxwYJnIlOWRFMuugBB6LSGzjJnyha5U485/"},
	/* BLF-CRYPT */
	{"correct horse", "{BLF-CRYPT}$2y$05$A2AFBRZAmPohcmXkdJM6XOI3/ElLpJqKqivjh4vmbUusOt0qpCXl."},
	{"correct horse", "{BLF-CRYPT}$2b$04$MailsteadSaltValue12.usxuMaj6aD5wujcb1pnO4S7k8Z8ck8Ce"},
	{"U*U", "{BLF-CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
	{UMLAUTS, "{BLF-CRYPT}$2b$06$abcdefghijklmnopqrstuuZRpgtdvy8sTei59Ltc5pdsksVO.fDZe"},
};

/* Valid hashes reused below. */
#define A_SALT "bWFpbHN0ZWFkc2FsdDE2Yg"
#define A_HASH "/QaBh8f+JhYuZhMqdF6XjAjhDi4HckgtrHokKzFzGv4"
#define A_BODY "$argon2id$v=19$m=1024,t=2,p=1$" A_SALT "$" A_HASH
#define S_HASH "gCEOnb6gQFJGyUN0gjsXdrThdDXkNSF74I6txCt1i86x0KDpHz0ge4VEMaQQv4ALMJzg.re9KadrUM0HIRjRO."
#define S_BODY "$6$mailsteadSalt01$" S_HASH
#define B_REST "A2AFBRZAmPohcmXkdJM6XOI3/ElLpJqKqivjh4vmbUusOt0qpCXl."
#define B_BODY "$2y$05$" B_REST

/* Stored strings that are not valid hashes: verify and check_stored must
 * both fail with -1, never return a mismatch. */
static const char *const malformed[] = {
	/* the {SCHEME} prefix */
	"",
	"correct horse",
	A_BODY,
	"{ARGON2ID" A_BODY,
	"{}" A_BODY,
	"{ARGON2}" A_BODY,
	"{ARGON2IDX}" A_BODY,
	" {ARGON2ID}" A_BODY,
	"{ARGON2ID }" A_BODY,
	"{MD5}$1$saltsalt$abcdefghijklmnopqrstuv",
	"{SHA256-CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF0EKWmf3",
	"{PLAIN}correct horse", /* refused unless allowed */
	"{\x01}x",
	"{ARGON2ID}",
	"{SHA512-CRYPT}",
	"{BLF-CRYPT}",
	/* Argon2id */
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$" A_SALT "$/QaBh8f+JhYuZhMqdF6XjAjhDi4HckgtrHokKzFzGv",
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$" A_SALT,
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$" A_SALT "$",
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$bWFp$" A_HASH, /* 3-byte salt */
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$$" A_HASH,
	"{ARGON2ID}$argon2i$v=19$m=1024,t=2,p=1$" A_SALT "$0V8bw+ggq+edq3ANSq2fgprEIH5WP9o5WCFlqMoO+II",
	"{ARGON2ID}$argon2d$v=19$m=1024,t=2,p=1$" A_SALT "$V7QXtnZgPx+Vy5zXAuKQknc14sSstEGXvhRELl91Slk",
	"{ARGON2ID}$argon2id$v=16$m=1024,t=2,p=1$" A_SALT "$nfmkZwsCMi3TPSYTuKUHdJ72EWTgN8dsr+1ymcOVrfo",
	"{ARGON2ID}$argon2id$m=1024,t=2,p=1$" A_SALT "$" A_HASH,
	"{ARGON2ID}$ARGON2ID$v=19$m=1024,t=2,p=1$" A_SALT "$" A_HASH,
	"{ARGON2ID}$argon2id$v=19$m=0,t=2,p=1$" A_SALT "$" A_HASH,
	"{ARGON2ID}$argon2id$v=19$m=01024,t=2,p=1$" A_SALT "$" A_HASH,
	"{ARGON2ID}$argon2id$v=19$m=-1024,t=2,p=1$" A_SALT "$" A_HASH,
	"{ARGON2ID}$argon2id$v=19$m=1024,t=0,p=1$" A_SALT "$" A_HASH,
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=0$" A_SALT "$" A_HASH,
	"{ARGON2ID}$argon2id$v=19$m=1048577,t=2,p=1$" A_SALT "$" A_HASH, /* over 1 GiB */
	"{ARGON2ID}$argon2id$v=19$m=4294967296,t=2,p=1$" A_SALT "$" A_HASH, /* over 32 bits */
	"{ARGON2ID}$argon2id$v=19$m=1024,t=65,p=1$" A_SALT "$" A_HASH,
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=17$" A_SALT "$" A_HASH,
	"{ARGON2ID}$argon2id$v=19$m=8,t=1,p=2$" A_SALT "$" A_HASH, /* m < 8p */
	"{ARGON2ID}$argon2id$v=19$m=1024,p=1,t=2$" A_SALT "$" A_HASH,
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1,k=1$" A_SALT "$" A_HASH,
	"{ARGON2ID}" A_BODY "=",
	"{ARGON2ID}" A_BODY "$",
	"{ARGON2ID}" A_BODY "$extra",
	"{ARGON2ID}" A_BODY "\n",
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$" A_SALT "$/QaBh8f*JhYuZhMqdF6XjAjhDi4HckgtrHokKzFzGv4",
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$" A_SALT "$/QaBh8f+JhYuZhMqdF6XjAjhDi4HckgtrHokKzFzGv5",
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$" A_SALT "$e+lhMKCc9VTjjmaZ", /* 12-byte hash */
	"{ARGON2ID}$argon2id$v=19$m=1024,t=2,p=1$" A_SALT /* 65-byte hash */
	"$Ek3GSc8Kb1BmRwB9IS7q5LXBJtXDrIHaUO60vP2WxJz2DZewe8k8DsfZLiG8tqzzSEcfAjPBaI9iJP8wWRCNqE8",
	/* SHA512-CRYPT */
	"{SHA512-CRYPT}$6$",
	"{SHA512-CRYPT}$6$mailsteadSalt01",
	"{SHA512-CRYPT}$6$mailsteadSalt01$",
	"{SHA512-CRYPT}$6$mailsteadSalt01$gCEOnb6gQFJGyUN0gjsXdrThdDXkNSF74I6txCt1i86x0KDpHz0ge4VEMa"
	"QQv4ALMJzg.re9KadrUM0HIRjRO",
	"{SHA512-CRYPT}" S_BODY ".",
	"{SHA512-CRYPT}$6$mailsteadSalt01$gCEOnb6gQFJGyUN0gjsXdrThdDXkNSF74I6txCt1i86x0KDpHz0ge4VEMa"
	"QQv4ALMJzg+re9KadrUM0HIRjRO.",
	"{SHA512-CRYPT}$6$mailsteadSalt01$gCEOnb6gQFJGyUN0gjsXdrThdDXkNSF74I6txCt1i86x0KDpHz0ge4VEMa"
	"QQv4ALMJzg.re9KadrUM0HIRjROz", /* last character carries 2 bits */
	"{SHA512-CRYPT}$6$abcdefghijklmnopq$" S_HASH, /* 17-character salt */
	"{SHA512-CRYPT}$6$$" S_HASH,
	"{SHA512-CRYPT}$6$salt:x$" S_HASH,
	"{SHA512-CRYPT}$6$rounds=999$mailsteadSalt01$" S_HASH,
	"{SHA512-CRYPT}$6$rounds=1000001$mailsteadSalt01$" S_HASH,
	"{SHA512-CRYPT}$6$rounds=010000$mailsteadSalt01$" S_HASH,
	"{SHA512-CRYPT}$6$rounds=$mailsteadSalt01$" S_HASH,
	"{SHA512-CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF0EKWmf3",
	"{SHA512-CRYPT}" A_BODY,
	"{SHA512-CRYPT}" B_BODY,
	/* BLF-CRYPT */
	"{BLF-CRYPT}$2x$05$" B_REST,
	"{BLF-CRYPT}$2$05$" B_REST,
	"{BLF-CRYPT}$2y$03$" B_REST,
	"{BLF-CRYPT}$2y$17$" B_REST,
	"{BLF-CRYPT}$2y$5$" B_REST,
	"{BLF-CRYPT}$2y$a5$" B_REST,
	"{BLF-CRYPT}$2y$05$",
	"{BLF-CRYPT}$2y$05$A2AFBRZAmPohcmXkdJM6XOI3/ElLpJqKqivjh4vmbUusOt0qpCXl",
	"{BLF-CRYPT}" B_BODY ".",
	"{BLF-CRYPT}$2y$05$A2AFBRZAmPohcmXkdJM6XPI3/ElLpJqKqivjh4vmbUusOt0qpCXl.", /* salt bits */
	"{BLF-CRYPT}$2y$05$A2AFBRZAmPohcmXkdJM6XOI3/ElLpJqKqivjh4vmbUusOt0qpCXl/", /* hash bits */
	"{BLF-CRYPT}$2y$05$A2AFBRZAmPohcmXkdJM6XOI3+ElLpJqKqivjh4vmbUusOt0qpCXl.",
	"{BLF-CRYPT}" S_BODY,
	"{BLF-CRYPT}" A_BODY,
	"{ARGON2ID}" S_BODY,
	"{ARGON2ID}" B_BODY,
};

static void expect_verify(const char *plain, const char *stored, int want)
{
	const char *error = NULL;
	int got = password_verify(plain, stored, &error);

	if (got != want)
		fprintf(stderr, "\nverify(\"%.40s\", \"%s\") = %d (%s), want %d\n", plain, stored, got,
			got < 0 ? error : "-", want);
	CU_ASSERT_EQUAL(got, want);
	if (got < 0)
		CU_ASSERT_PTR_NOT_NULL(error);
}

static void expect_check(const char *stored, int want)
{
	const char *error = NULL;
	int got = password_check_stored(stored, &error);

	if (got != want)
		fprintf(stderr, "\ncheck_stored(\"%s\") = %d (%s), want %d\n", stored, got,
			got < 0 ? error : "-", want);
	CU_ASSERT_EQUAL(got, want);
	if (got < 0)
		CU_ASSERT_PTR_NOT_NULL(error);
}

static void test_known_vectors_match(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		expect_check(vectors[i].stored, 0);
		expect_verify(vectors[i].plain, vectors[i].stored, 1);
	}
}

static void test_wrong_passwords_mismatch(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const char *plain = vectors[i].plain;
		char buf[64];
		size_t len = strlen(plain);

		expect_verify("", vectors[i].stored, 0);
		snprintf(buf, sizeof(buf), "%sx", plain); /* one byte longer */
		expect_verify(buf, vectors[i].stored, 0);
		snprintf(buf, sizeof(buf), "%.*s", (int)(len - 1), plain); /* one shorter */
		expect_verify(buf, vectors[i].stored, 0);
		snprintf(buf, sizeof(buf), "%s", plain);
		buf[0] ^= 0x20; /* case of the first letter */
		expect_verify(buf, vectors[i].stored, 0);
	}
}

static void test_malformed_hashes_are_errors(void)
{
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		expect_check(malformed[i], -1);
		expect_verify("correct horse", malformed[i], -1);
		CU_ASSERT(password_needs_rehash(malformed[i], NULL));
	}
}

static void test_scheme_name_is_case_insensitive(void)
{
	expect_verify("correct horse", "{argon2id}" A_BODY, 1);
	expect_verify("correct horse", "{Argon2Id}" A_BODY, 1);
	expect_verify("correct horse", "{sha512-crypt}" S_BODY, 1);
	expect_verify("correct horse", "{Sha512-Crypt}" S_BODY, 1);
	expect_verify("correct horse", "{blf-crypt}" B_BODY, 1);
	expect_verify("wrong horse", "{blf-Crypt}" B_BODY, 0);
	expect_check("{aRGON2iD}" A_BODY, 0);
}

static void test_stored_length_limit(void)
{
	char stored[PASSWORD_STORED_MAX_LEN + 2];

	/* {PLAIN} lets any length be well-formed, so it probes the limit. */
	password_set_plain_allowed(true);
	memset(stored, 'a', sizeof(stored));
	memcpy(stored, "{PLAIN}", 7);
	stored[PASSWORD_STORED_MAX_LEN] = '\0'; /* at the limit */
	expect_check(stored, 0);
	expect_verify(stored + 7, stored, 1);
	stored[PASSWORD_STORED_MAX_LEN] = 'a'; /* one past it */
	stored[PASSWORD_STORED_MAX_LEN + 1] = '\0';
	expect_check(stored, -1);
	expect_verify(stored + 7, stored, -1);
	password_set_plain_allowed(false);
}

static const struct password_cost cheap = {.memory_kib = 1024, .time_cost = 1, .parallelism = 1};

static void test_argon2id_round_trip(void)
{
	char *h1 = NULL, *h2 = NULL;
	const char *error = NULL;

	CU_ASSERT_EQUAL_FATAL(password_hash("correct horse", &cheap, &h1, &error), 0);
	CU_ASSERT_EQUAL_FATAL(password_hash("correct horse", &cheap, &h2, &error), 0);
	CU_ASSERT(strncmp(h1, "{ARGON2ID}$argon2id$v=19$m=1024,t=1,p=1$", 40) == 0);
	CU_ASSERT_STRING_NOT_EQUAL(h1, h2); /* fresh salts */
	expect_check(h1, 0);
	expect_verify("correct horse", h1, 1);
	expect_verify("correct horse", h2, 1);
	expect_verify("correct horsE", h1, 0);
	CU_ASSERT_FALSE(password_needs_rehash(h1, &cheap));
	CU_ASSERT_TRUE(password_needs_rehash(h1, NULL));
	free(h1);
	free(h2);
}

static void test_argon2id_default_cost(void)
{
	char *h = NULL;
	const char *error = NULL;

	CU_ASSERT_EQUAL_FATAL(password_hash(UMLAUTS, NULL, &h, &error), 0);
	CU_ASSERT(strncmp(h, "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$", 41) == 0);
	CU_ASSERT_EQUAL(strlen(h), strlen("{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$") + 22 + 1 + 43);
	expect_verify(UMLAUTS, h, 1);
	CU_ASSERT_FALSE(password_needs_rehash(h, NULL));
	CU_ASSERT_FALSE(password_needs_rehash(h, &password_cost_default));
	free(h);
}

static void test_legacy_round_trips(void)
{
	char *h = NULL;
	const char *error = NULL;

	CU_ASSERT_EQUAL_FATAL(
		password_hash_scheme("hunter2", PASSWORD_SCHEME_SHA512_CRYPT, NULL, &h, &error), 0);
	CU_ASSERT(strncmp(h, "{SHA512-CRYPT}$6$", 17) == 0);
	expect_check(h, 0);
	expect_verify("hunter2", h, 1);
	expect_verify("hunter3", h, 0);
	CU_ASSERT_TRUE(password_needs_rehash(h, NULL));
	free(h);

	CU_ASSERT_EQUAL_FATAL(
		password_hash_scheme("hunter2", PASSWORD_SCHEME_BLF_CRYPT, NULL, &h, &error), 0);
	CU_ASSERT(strncmp(h, "{BLF-CRYPT}$2y$05$", 18) == 0);
	expect_check(h, 0);
	expect_verify("hunter2", h, 1);
	expect_verify("hunter3", h, 0);
	CU_ASSERT_TRUE(password_needs_rehash(h, NULL));
	free(h);
}

/* A documented weakness of the legacy scheme, pinned so that nobody relies
 * on bcrypt for long passphrases: only the first 72 bytes count. */
static void test_bcrypt_reads_72_bytes(void)
{
	char plain[80];
	char *h = NULL;
	const char *error = NULL;

	memset(plain, 'b', 72);
	plain[72] = '\0';
	CU_ASSERT_EQUAL_FATAL(
		password_hash_scheme(plain, PASSWORD_SCHEME_BLF_CRYPT, NULL, &h, &error), 0);
	memcpy(plain + 72, "tail", 5);
	expect_verify(plain, h, 1);
	plain[71] = 'c';
	expect_verify(plain, h, 0);
	free(h);
}

static void test_plain_refused_unless_allowed(void)
{
	char *h = NULL;
	const char *error = NULL;

	CU_ASSERT_EQUAL(password_hash_scheme("bench", PASSWORD_SCHEME_PLAIN, NULL, &h, &error), -1);
	CU_ASSERT_PTR_NULL(h);
	expect_check("{PLAIN}bench", -1);
	expect_verify("bench", "{PLAIN}bench", -1);

	password_set_plain_allowed(true);
	CU_ASSERT_EQUAL_FATAL(password_hash_scheme("bench", PASSWORD_SCHEME_PLAIN, NULL, &h, &error),
			      0);
	CU_ASSERT_STRING_EQUAL(h, "{PLAIN}bench");
	expect_check(h, 0);
	expect_verify("bench", h, 1);
	expect_verify("bench", "{plain}bench", 1);
	expect_verify("benc", h, 0);
	expect_verify("benchh", h, 0);
	expect_verify("Bench", h, 0);
	expect_verify("", "{PLAIN}", 1);
	CU_ASSERT_TRUE(password_needs_rehash(h, NULL));
	free(h);
	password_set_plain_allowed(false);
	expect_verify("bench", "{PLAIN}bench", -1);
}

static void test_password_length_limit(void)
{
	char plain[PASSWORD_MAX_LEN + 2];
	char *h = NULL;
	const char *error = NULL;

	memset(plain, 'p', sizeof(plain));
	plain[PASSWORD_MAX_LEN] = '\0'; /* at the limit */
	CU_ASSERT_EQUAL_FATAL(password_hash(plain, &cheap, &h, &error), 0);
	expect_verify(plain, h, 1);
	plain[PASSWORD_MAX_LEN] = 'p'; /* one past it */
	plain[PASSWORD_MAX_LEN + 1] = '\0';
	expect_verify(plain, h, -1);
	free(h);
	h = NULL;
	CU_ASSERT_EQUAL(password_hash(plain, &cheap, &h, &error), -1);
	CU_ASSERT_PTR_NULL(h);
	CU_ASSERT_EQUAL(password_hash_scheme(plain, PASSWORD_SCHEME_SHA512_CRYPT, NULL, &h, &error),
			-1);
	CU_ASSERT_EQUAL(password_hash("", &cheap, &h, &error), -1); /* empty */
	CU_ASSERT_PTR_NULL(h);
}

static void test_check_plain(void)
{
	static const char big[PASSWORD_MAX_LEN + 1] = {0};
	char text[PASSWORD_MAX_LEN + 1];
	const char *error = NULL;

	memset(text, 'x', sizeof(text));
	CU_ASSERT_EQUAL(password_check_plain(text, PASSWORD_MAX_LEN, &error), 0);
	CU_ASSERT_EQUAL(password_check_plain(text, PASSWORD_MAX_LEN + 1, &error), -1);
	CU_ASSERT_EQUAL(password_check_plain("", 0, &error), 0);
	CU_ASSERT_EQUAL(password_check_plain("secret\0xyz", 10, &error), -1);
	CU_ASSERT_EQUAL(password_check_plain("\0", 1, &error), -1);
	CU_ASSERT_EQUAL(password_check_plain("secret", 6, &error), 0);
	CU_ASSERT_EQUAL(password_check_plain(big, 1, &error), -1);
}

static void test_cost_limits(void)
{
	static const struct {
		struct password_cost cost;
		int want;
	} cases[] = {
		{{19456, 2, 1}, 0},
		{{8, 1, 1}, 0},
		{{7, 1, 1}, -1},
		{{32, 1, 4}, 0}, /* m = 8p */
		{{31, 1, 4}, -1},
		{{1024, 0, 1}, -1},
		{{1024, 64, 1}, 0},
		{{1024, 65, 1}, -1},
		{{1024, 1, 0}, -1},
		{{1024, 1, 16}, 0},
		{{1024, 1, 17}, -1},
		{{1024 * 1024, 1, 1}, 0},
		{{1024 * 1024 + 1, 1, 1}, -1},
	};
	const char *error = NULL;
	char *h = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(password_cost_check(&cases[i].cost, &error), cases[i].want);
	CU_ASSERT_EQUAL(password_cost_check(&password_cost_default, &error), 0);
	CU_ASSERT_EQUAL(password_hash("x", &cases[2].cost, &h, &error), -1);
	CU_ASSERT_PTR_NULL(h);
}

static void test_needs_rehash(void)
{
	const struct password_cost a_cost = {1024, 2, 1};

	CU_ASSERT_FALSE(password_needs_rehash(vectors[3].stored, NULL)); /* default cost */
	CU_ASSERT_TRUE(password_needs_rehash(vectors[0].stored, NULL));
	CU_ASSERT_FALSE(password_needs_rehash(vectors[0].stored, &a_cost));
	CU_ASSERT_TRUE(password_needs_rehash(vectors[2].stored, NULL)); /* 8-byte salt */
	CU_ASSERT_TRUE(password_needs_rehash("{SHA512-CRYPT}" S_BODY, NULL));
	CU_ASSERT_TRUE(password_needs_rehash("{BLF-CRYPT}" B_BODY, NULL));
	CU_ASSERT_TRUE(password_needs_rehash("garbage", NULL));
}

static const struct unit_test verify_tests[] = {
	{"known vectors match", test_known_vectors_match},
	{"wrong passwords mismatch", test_wrong_passwords_mismatch},
	{"malformed hashes are errors", test_malformed_hashes_are_errors},
	{"scheme name is case-insensitive", test_scheme_name_is_case_insensitive},
	{"stored length at and past the limit", test_stored_length_limit},
	{NULL, NULL},
};
static const struct unit_test hash_tests[] = {
	{"argon2id round trip", test_argon2id_round_trip},
	{"argon2id default cost", test_argon2id_default_cost},
	{"legacy schemes round trip", test_legacy_round_trips},
	{"bcrypt reads only 72 bytes", test_bcrypt_reads_72_bytes},
	{"plain refused unless allowed", test_plain_refused_unless_allowed},
	{"password length at and past the limit", test_password_length_limit},
	{"client password check", test_check_plain},
	{"cost limits", test_cost_limits},
	{"needs rehash", test_needs_rehash},
	{NULL, NULL},
};
static const struct unit_suite suites[] = {
	{"password verify", verify_tests},
	{"password hash", hash_tests},
	{NULL, NULL},
};
UNIT_MAIN(suites)
