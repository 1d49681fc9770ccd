/* Password schemes. See password.h for the stored forms and the contract.
 *
 * Each scheme has a strict parser that runs before any hashing, so that a
 * malformed or over-expensive stored value is an error (-1), never a slow
 * computation nor a silent mismatch. The final comparison of a verification
 * is always CRYPTO_memcmp over a length that does not depend on the
 * password. */
#include "password.h"

#include <argon2.h>
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* What password_hash produces; shorter stored salts and hashes are accepted
 * down to the minimums below but flagged by password_needs_rehash. */
#define ARGON2_SALT_LEN 16
#define ARGON2_HASH_LEN 32
/* RFC 9106 §3.1 allows 8-byte salts; shorter hashes than 16 bytes are too
 * weak to keep. The maximums bound the stack buffers. */
#define ARGON2_MIN_SALT 8
#define ARGON2_MAX_SALT 64
#define ARGON2_MIN_HASH 16
#define ARGON2_MAX_HASH 64

/* Costs of the legacy schemes when password_hash_scheme creates them (for
 * tests): libxcrypt's defaults. */
#define SHA512_GEN_ROUNDS 5000
#define BCRYPT_GEN_COST 5

#define SHA512_HASH_CHARS 86 /* 512 bits in crypt's base 64 */
#define BCRYPT_SALT_CHARS 22 /* 128 bits */
#define BCRYPT_HASH_CHARS 31 /* 184 bits: bcrypt drops the last byte */

/* Longest scheme name inside the braces ("SHA512-CRYPT"), with room. */
#define SCHEME_NAME_MAX 16

const struct password_cost password_cost_default = {
	.memory_kib = 19456,
	.time_cost = 2,
	.parallelism = 1,
};

static atomic_bool plain_allowed;

static const struct {
	const char *name;
	enum password_scheme scheme;
} schemes[] = {
	{"ARGON2ID", PASSWORD_SCHEME_ARGON2ID},
	{"SHA512-CRYPT", PASSWORD_SCHEME_SHA512_CRYPT},
	{"BLF-CRYPT", PASSWORD_SCHEME_BLF_CRYPT},
	{"PLAIN", PASSWORD_SCHEME_PLAIN},
};

/* The alphabet of crypt(3) hashes (SHA-crypt) and the differently ordered
 * one of bcrypt; both are "./0-9A-Za-z" as sets. */
static const char crypt64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static const char bcrypt64[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

struct argon2_stored {
	uint32_t m, t, p;
	uint8_t salt[ARGON2_MAX_SALT];
	size_t salt_len;
	uint8_t hash[ARGON2_MAX_HASH];
	size_t hash_len;
};

void password_set_plain_allowed(bool allowed)
{
	atomic_store(&plain_allowed, allowed);
}

static bool plain_is_allowed(void)
{
	return atomic_load(&plain_allowed);
}

/* Returns 0 when plain is a non-oversized C string, else -1. */
static int plain_check_len(const char *plain, size_t *len_r, const char **error_r)
{
	size_t len = strnlen(plain, PASSWORD_MAX_LEN + 1);

	if (len > PASSWORD_MAX_LEN) {
		*error_r = "Password too long";
		return -1;
	}
	*len_r = len;
	return 0;
}

int password_check_plain(const void *data, size_t len, const char **error_r)
{
	if (len > PASSWORD_MAX_LEN) {
		*error_r = "Password too long";
		return -1;
	}
	if (memchr(data, '\0', len) != NULL) {
		*error_r = "Password contains a NUL byte";
		return -1;
	}
	return 0;
}

int password_cost_check(const struct password_cost *cost, const char **error_r)
{
	if (cost->parallelism < 1 || cost->parallelism > PASSWORD_ARGON2_MAX_PARALLELISM) {
		*error_r = "Argon2 parallelism out of range";
		return -1;
	}
	if (cost->time_cost < 1 || cost->time_cost > PASSWORD_ARGON2_MAX_TIME) {
		*error_r = "Argon2 time cost out of range";
		return -1;
	}
	/* RFC 9106 §3.1: m >= 8 * p. */
	if (cost->memory_kib < PASSWORD_ARGON2_MIN_MEMORY_KIB * cost->parallelism ||
	    cost->memory_kib > PASSWORD_ARGON2_MAX_MEMORY_KIB) {
		*error_r = "Argon2 memory cost out of range";
		return -1;
	}
	return 0;
}

/* Splits "{SCHEME}data": sets *scheme_r and *data_r (pointing into stored).
 * Refuses an oversized string, a missing or unknown scheme, and {PLAIN}
 * unless allowed. */
static int stored_parse(const char *stored, enum password_scheme *scheme_r, const char **data_r,
			const char **error_r)
{
	const char *end;
	size_t name_len;

	if (strnlen(stored, PASSWORD_STORED_MAX_LEN + 1) > PASSWORD_STORED_MAX_LEN) {
		*error_r = "Stored password too long";
		return -1;
	}
	if (stored[0] != '{' ||
	    (end = memchr(stored, '}', strnlen(stored, SCHEME_NAME_MAX + 2))) == NULL) {
		*error_r = "Stored password has no {SCHEME} prefix";
		return -1;
	}
	name_len = (size_t)(end - stored - 1);
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strlen(schemes[i].name) == name_len &&
		    strncasecmp(stored + 1, schemes[i].name, name_len) == 0) {
			if (schemes[i].scheme == PASSWORD_SCHEME_PLAIN && !plain_is_allowed()) {
				*error_r = "{PLAIN} passwords are not allowed";
				return -1;
			}
			*scheme_r = schemes[i].scheme;
			*data_r = end + 1;
			return 0;
		}
	}
	*error_r = "Unknown password scheme";
	return -1;
}

/* Parses a positive decimal without sign or leading zero, up to UINT32_MAX;
 * returns a pointer past it or NULL. */
static const char *parse_u32(const char *s, uint32_t *value_r)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '1' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX) /* checked per digit: cannot overflow */
			return NULL;
	}
	*value_r = (uint32_t)v;
	return p;
}

/* Returns s past prefix, or NULL when s does not start with it. */
static const char *skip(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes unpadded standard base64 (the PHC string format) from s up to the
 * first '$' or NUL into out (at most max bytes). Refuses characters outside
 * the alphabet, an impossible length and non-zero unused bits, so that one
 * hash has exactly one spelling. Returns a pointer past the input or NULL. */
static const char *b64_decode(const char *s, uint8_t *out, size_t max, size_t *len_r)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;
	const char *p;

	for (p = s; *p != '\0' && *p != '$'; p++) {
		int v = b64_value(*p);

		if (v < 0)
			return NULL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return NULL;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (bits >= 6 || acc != 0) /* a lone sixth char, or stray low bits */
		return NULL;
	*len_r = n;
	return p;
}

/* Parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash" and checks every bound. */
static int argon2_parse(const char *s, struct argon2_stored *a, const char **error_r)
{
	const char *p = s;

	*error_r = "Malformed Argon2id hash";
	if ((p = skip(p, "$argon2id$v=19$m=")) == NULL || (p = parse_u32(p, &a->m)) == NULL ||
	    (p = skip(p, ",t=")) == NULL || (p = parse_u32(p, &a->t)) == NULL ||
	    (p = skip(p, ",p=")) == NULL || (p = parse_u32(p, &a->p)) == NULL ||
	    (p = skip(p, "$")) == NULL ||
	    (p = b64_decode(p, a->salt, sizeof(a->salt), &a->salt_len)) == NULL ||
	    (p = skip(p, "$")) == NULL ||
	    (p = b64_decode(p, a->hash, sizeof(a->hash), &a->hash_len)) == NULL || *p != '\0')
		return -1;
	if (a->salt_len < ARGON2_MIN_SALT || a->hash_len < ARGON2_MIN_HASH) {
		*error_r = "Argon2id salt or hash too short";
		return -1;
	}
	return password_cost_check(
		&(struct password_cost){.memory_kib = a->m, .time_cost = a->t, .parallelism = a->p},
		error_r);
}

/* True when s has exactly n characters of the alphabet, then stop. */
static bool all_in(const char *s, size_t n, const char *alphabet, char stop)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
			return false;
	return s[n] == stop;
}

/* The index of c in alphabet; c is known to be in it. */
static size_t index_in(const char *alphabet, char c)
{
	return (size_t)(strchr(alphabet, c) - alphabet);
}

/* "$6$[rounds=N$]salt$hash": salt of 1-16 characters, hash of 86. */
static int sha512_parse(const char *s, const char **error_r)
{
	const char *p, *r;
	uint32_t rounds;
	size_t salt_len;

	*error_r = "Malformed SHA512-CRYPT hash";
	if ((p = skip(s, "$6$")) == NULL)
		return -1;
	if ((r = skip(p, "rounds=")) != NULL) {
		if ((p = parse_u32(r, &rounds)) == NULL || (p = skip(p, "$")) == NULL)
			return -1;
		/* libxcrypt refuses below 1000 (the spec's minimum). */
		if (rounds < 1000 || rounds > PASSWORD_SHA512_MAX_ROUNDS) {
			*error_r = "SHA512-CRYPT rounds out of range";
			return -1;
		}
	}
	/* A salt above 16 characters is cut by crypt, so could never match. */
	salt_len = strcspn(p, "$");
	if (salt_len < 1 || salt_len > 16 || !all_in(p, salt_len, crypt64, '$'))
		return -1;
	p += salt_len + 1;
	/* The last character carries 2 bits: any other value could never match. */
	if (!all_in(p, SHA512_HASH_CHARS, crypt64, '\0') ||
	    index_in(crypt64, p[SHA512_HASH_CHARS - 1]) >= 4)
		return -1;
	return 0;
}

/* "$2[aby]$NN$" + 22 salt + 31 hash characters. $2x$ (the variant that
 * emulates an old sign-extension bug) is refused. */
static int bcrypt_parse(const char *s, const char **error_r)
{
	const char *p;
	unsigned cost;

	*error_r = "Malformed BLF-CRYPT hash";
	if ((p = skip(s, "$2a$")) == NULL && (p = skip(s, "$2b$")) == NULL &&
	    (p = skip(s, "$2y$")) == NULL)
		return -1;
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' || p[2] != '$')
		return -1;
	cost = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
	if (cost < 4 || cost > PASSWORD_BCRYPT_MAX_COST) {
		*error_r = "BLF-CRYPT cost out of range";
		return -1;
	}
	p += 3;
	if (!all_in(p, BCRYPT_SALT_CHARS + BCRYPT_HASH_CHARS, bcrypt64, '\0'))
		return -1;
	/* The last salt character carries 2 bits and the last hash character
	 * 4: crypt rewrites any other spelling, which then never matches. */
	if (index_in(bcrypt64, p[BCRYPT_SALT_CHARS - 1]) % 16 != 0 ||
	    index_in(bcrypt64, p[BCRYPT_SALT_CHARS + BCRYPT_HASH_CHARS - 1]) % 4 != 0)
		return -1;
	return 0;
}

/* Validates data for its scheme; for Argon2id fills *a (may be NULL). */
static int scheme_parse(enum password_scheme scheme, const char *data, struct argon2_stored *a,
			const char **error_r)
{
	struct argon2_stored tmp;
	int ret = 0;

	switch (scheme) {
	case PASSWORD_SCHEME_ARGON2ID:
		ret = argon2_parse(data, a != NULL ? a : &tmp, error_r);
		if (a == NULL)
			explicit_bzero(&tmp, sizeof(tmp));
		break;
	case PASSWORD_SCHEME_SHA512_CRYPT:
		ret = sha512_parse(data, error_r);
		break;
	case PASSWORD_SCHEME_BLF_CRYPT:
		ret = bcrypt_parse(data, error_r);
		break;
	case PASSWORD_SCHEME_PLAIN:
		if (strlen(data) > PASSWORD_MAX_LEN) {
			*error_r = "Stored {PLAIN} password too long";
			ret = -1;
		}
		break;
	}
	return ret;
}

static int argon2_verify_stored(const char *plain, size_t len, const struct argon2_stored *a,
				const char **error_r)
{
	uint8_t out[ARGON2_MAX_HASH];
	int ret;

	ret = argon2id_hash_raw(a->t, a->m, a->p, plain, len, a->salt, a->salt_len, out,
				a->hash_len);
	if (ret != ARGON2_OK) {
		explicit_bzero(out, sizeof(out));
		*error_r = ret == ARGON2_MEMORY_ALLOCATION_ERROR ? "Out of memory"
								 : "Argon2id hashing failed";
		return -1;
	}
	ret = CRYPTO_memcmp(out, a->hash, a->hash_len) == 0 ? 1 : 0;
	explicit_bzero(out, sizeof(out));
	return ret;
}

/* crypt(3) re-creates the whole stored string from its setting part; the
 * password matches when the result is the stored string. */
static int crypt_verify(const char *plain, const char *setting, const char **error_r)
{
	struct crypt_data *cd;
	const char *out;
	size_t len = strlen(setting);
	int ret;

	/* 32 KiB: on the heap, not on a worker thread's stack. Zeroed, as
	 * crypt_rn requires for its first use. */
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		*error_r = "Out of memory";
		return -1;
	}
	out = crypt_rn(plain, setting, cd, sizeof(*cd));
	if (out == NULL) {
		*error_r = "crypt failed";
		ret = -1;
	} else {
		/* Lengths are those of well-formed hashes, not secrets. */
		ret = strlen(out) == len && CRYPTO_memcmp(out, setting, len) == 0 ? 1 : 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

/* Compares SHA-256 digests so that neither the content nor the length of
 * the stored password leaks through timing. */
static int plain_verify(const char *plain, size_t len, const char *stored, const char **error_r)
{
	unsigned char d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
	unsigned int l1 = 0, l2 = 0;
	int ret;

	if (EVP_Digest(plain, len, d1, &l1, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(stored, strlen(stored), d2, &l2, EVP_sha256(), NULL) != 1 || l1 != l2) {
		*error_r = "SHA-256 failed";
		ret = -1;
	} else {
		ret = CRYPTO_memcmp(d1, d2, l1) == 0 ? 1 : 0;
	}
	explicit_bzero(d1, sizeof(d1));
	explicit_bzero(d2, sizeof(d2));
	return ret;
}

int password_verify(const char *plain, const char *stored, const char **error_r)
{
	enum password_scheme scheme;
	struct argon2_stored a;
	const char *data;
	size_t len;
	int ret;

	if (plain_check_len(plain, &len, error_r) < 0 ||
	    stored_parse(stored, &scheme, &data, error_r) < 0)
		return -1;
	if (scheme_parse(scheme, data, &a, error_r) < 0) {
		ret = -1;
	} else {
		switch (scheme) {
		case PASSWORD_SCHEME_ARGON2ID:
			ret = argon2_verify_stored(plain, len, &a, error_r);
			break;
		case PASSWORD_SCHEME_SHA512_CRYPT:
		case PASSWORD_SCHEME_BLF_CRYPT:
			ret = crypt_verify(plain, data, error_r);
			break;
		case PASSWORD_SCHEME_PLAIN:
			ret = plain_verify(plain, len, data, error_r);
			break;
		default:
			*error_r = "Unknown password scheme";
			ret = -1;
			break;
		}
	}
	explicit_bzero(&a, sizeof(a));
	return ret;
}

int password_check_stored(const char *stored, const char **error_r)
{
	enum password_scheme scheme;
	const char *data;

	if (stored_parse(stored, &scheme, &data, error_r) < 0)
		return -1;
	return scheme_parse(scheme, data, NULL, error_r);
}

bool password_needs_rehash(const char *stored, const struct password_cost *cost)
{
	enum password_scheme scheme;
	struct argon2_stored a;
	const char *data, *error;
	bool rehash;

	if (cost == NULL)
		cost = &password_cost_default;
	if (stored_parse(stored, &scheme, &data, &error) < 0 || scheme != PASSWORD_SCHEME_ARGON2ID)
		return true;
	rehash = argon2_parse(data, &a, &error) < 0 || a.m != cost->memory_kib ||
		 a.t != cost->time_cost || a.p != cost->parallelism ||
		 a.salt_len < ARGON2_SALT_LEN || a.hash_len < ARGON2_HASH_LEN;
	explicit_bzero(&a, sizeof(a));
	return rehash;
}

/* Fills buf with len random bytes from the kernel's CSPRNG. */
static int random_fill(uint8_t *buf, size_t len, const char **error_r)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			*error_r = "getrandom() failed";
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* Returns a malloc'd "{name}" followed by room for body_size bytes, with
 * *body_r pointing at that room; NULL when out of memory. */
static char *prefixed_alloc(const char *name, size_t body_size, char **body_r)
{
	size_t n = strlen(name);
	char *s = malloc(n + 2 + body_size);

	if (s == NULL)
		return NULL;
	s[0] = '{';
	memcpy(s + 1, name, n);
	s[n + 1] = '}';
	*body_r = s + n + 2;
	return s;
}

static int argon2_hash_new(const char *plain, size_t len, const struct password_cost *cost,
			   char **hash_r, const char **error_r)
{
	uint8_t salt[ARGON2_SALT_LEN];
	size_t enc_len;
	char *s, *body;
	int ret;

	if (password_cost_check(cost, error_r) < 0 || random_fill(salt, sizeof(salt), error_r) < 0)
		return -1;
	/* argon2_encodedlen counts the terminating NUL. */
	enc_len = argon2_encodedlen(cost->time_cost, cost->memory_kib, cost->parallelism,
				    sizeof(salt), ARGON2_HASH_LEN, Argon2_id);
	if ((s = prefixed_alloc("ARGON2ID", enc_len, &body)) == NULL) {
		explicit_bzero(salt, sizeof(salt));
		*error_r = "Out of memory";
		return -1;
	}
	ret = argon2id_hash_encoded(cost->time_cost, cost->memory_kib, cost->parallelism, plain,
				    len, salt, sizeof(salt), ARGON2_HASH_LEN, body, enc_len);
	explicit_bzero(salt, sizeof(salt));
	if (ret != ARGON2_OK) {
		free(s);
		*error_r = ret == ARGON2_MEMORY_ALLOCATION_ERROR ? "Out of memory"
								 : "Argon2id hashing failed";
		return -1;
	}
	*hash_r = s;
	return 0;
}

static int crypt_hash_new(const char *plain, const char *name, const char *prefix,
			  unsigned long count, char **hash_r, const char **error_r)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], *s, *body;
	struct crypt_data *cd;
	const char *out;
	size_t n;

	/* NULL random bytes: libxcrypt takes them from the kernel itself. */
	if (crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof(setting)) == NULL) {
		*error_r = "crypt_gensalt failed";
		return -1;
	}
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		*error_r = "Out of memory";
		return -1;
	}
	s = NULL;
	if ((out = crypt_rn(plain, setting, cd, sizeof(*cd))) == NULL) {
		*error_r = "crypt failed";
	} else {
		n = strlen(out);
		if ((s = prefixed_alloc(name, n + 1, &body)) == NULL)
			*error_r = "Out of memory";
		else
			memcpy(body, out, n + 1);
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	if (s == NULL)
		return -1;
	*hash_r = s;
	return 0;
}

int password_hash_scheme(const char *plain, enum password_scheme scheme,
			 const struct password_cost *cost, char **hash_r, const char **error_r)
{
	char *s, *body;
	size_t len;

	if (plain_check_len(plain, &len, error_r) < 0)
		return -1;
	if (len == 0) {
		*error_r = "Password is empty";
		return -1;
	}
	switch (scheme) {
	case PASSWORD_SCHEME_ARGON2ID:
		return argon2_hash_new(plain, len, cost != NULL ? cost : &password_cost_default,
				       hash_r, error_r);
	case PASSWORD_SCHEME_SHA512_CRYPT:
		return crypt_hash_new(plain, "SHA512-CRYPT", "$6$", SHA512_GEN_ROUNDS, hash_r,
				      error_r);
	case PASSWORD_SCHEME_BLF_CRYPT:
		return crypt_hash_new(plain, "BLF-CRYPT", "$2y$", BCRYPT_GEN_COST, hash_r,
				      error_r);
	case PASSWORD_SCHEME_PLAIN:
		if (!plain_is_allowed()) {
			*error_r = "{PLAIN} passwords are not allowed";
			return -1;
		}
		if ((s = prefixed_alloc("PLAIN", len + 1, &body)) == NULL) {
			*error_r = "Out of memory";
			return -1;
		}
		memcpy(body, plain, len + 1);
		*hash_r = s;
		return 0;
	}
	*error_r = "Unknown password scheme";
	return -1;
}

int password_hash(const char *plain, const struct password_cost *cost, char **hash_r,
		  const char **error_r)
{
	return password_hash_scheme(plain, PASSWORD_SCHEME_ARGON2ID, cost, hash_r, error_r);
}
