/* Password schemes: hashing new passwords and verifying stored hashes.
 *
 * A stored password is "{SCHEME}data", the scheme name matched without
 * regard to case (the Dovecot convention, so hashes migrate unchanged):
 *
 *   {ARGON2ID}$argon2id$v=19$m=M,t=T,p=P$salt$hash   new hashes (RFC 9106)
 *   {SHA512-CRYPT}$6$[rounds=N$]salt$hash             legacy, verify only
 *   {BLF-CRYPT}$2y$NN$<53 chars>  ($2b$, $2a$ too)     legacy, verify only
 *   {PLAIN}text        only when password_set_plain_allowed(true) was called
 *
 * bcrypt reads only the first 72 bytes of a password: a BLF-CRYPT hash also
 * matches any password with the same first 72 bytes. Rehash such accounts
 * (password_needs_rehash) at their next login.
 *
 * Every function bounds its work before doing it: a password longer than
 * PASSWORD_MAX_LEN bytes, a stored string longer than PASSWORD_STORED_MAX_LEN
 * and a hash whose cost is above the PASSWORD_*_MAX limits are refused, so a
 * client or a bad row cannot make one verification take seconds or GiBs.
 *
 * Hashing and verifying cost tens of milliseconds by design (Argon2id at the
 * default cost: see password_cost_default): an event-loop process runs them
 * on its workqueue, never in the loop. All functions are thread-safe. */
#ifndef MAILSTEAD_PASSWORD_H
#define MAILSTEAD_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest password accepted, in bytes. Longer input is an error, never
 * silently truncated. */
#define PASSWORD_MAX_LEN 1024
/* Longest stored "{SCHEME}data" string accepted. */
#define PASSWORD_STORED_MAX_LEN 512

/* Argon2id cost limits for new hashes and for stored ones: a stored hash
 * above them is refused as malformed rather than computed (1 GiB or minutes
 * of CPU per login would be a denial of service). */
#define PASSWORD_ARGON2_MIN_MEMORY_KIB 8
#define PASSWORD_ARGON2_MAX_MEMORY_KIB (1024u * 1024u)
#define PASSWORD_ARGON2_MAX_TIME 64
#define PASSWORD_ARGON2_MAX_PARALLELISM 16
/* Legacy cost limits: SHA512-CRYPT rounds (5000 when the hash names none)
 * and the bcrypt log2 cost. */
#define PASSWORD_SHA512_MAX_ROUNDS 1000000
#define PASSWORD_BCRYPT_MAX_COST 16

/* Argon2id cost of new hashes, normally from config. */
struct password_cost {
	uint32_t memory_kib;  /* m: memory in KiB, >= 8 * parallelism */
	uint32_t time_cost;   /* t: passes over the memory, >= 1 */
	uint32_t parallelism; /* p: lanes (and threads libargon2 may use), >= 1 */
};

/* m=19456 KiB (19 MiB), t=2, p=1: the OWASP minimum for Argon2id. */
extern const struct password_cost password_cost_default;

enum password_scheme {
	PASSWORD_SCHEME_ARGON2ID,
	PASSWORD_SCHEME_SHA512_CRYPT,
	PASSWORD_SCHEME_BLF_CRYPT,
	PASSWORD_SCHEME_PLAIN,
};

/* Allows or refuses the {PLAIN} scheme process-wide (refused by default):
 * password_verify, password_check_stored and password_hash_scheme treat a
 * refused {PLAIN} as an error. Only for benchmarks and tests; call at
 * start-up, before other threads use this module. */
void password_set_plain_allowed(bool allowed);

/* Returns 0 when cost is within the limits above, else -1 with the reason
 * in *error_r (a static string). For the config checker. */
int password_cost_check(const struct password_cost *cost, const char **error_r);

/* Checks a password received from a client as (data, len) before it is
 * handed to the functions below as a C string: returns 0, or -1 with the
 * reason when it is longer than PASSWORD_MAX_LEN or contains a NUL byte
 * (which a C string would silently cut: "secret\0xyz" must not match
 * "secret"). */
int password_check_plain(const void *data, size_t len, const char **error_r);

/* Hashes plain with Argon2id at cost (NULL = password_cost_default) and a
 * fresh 16-byte random salt. Returns 0 and sets *hash_r to a malloc'd
 * "{ARGON2ID}..." string the caller frees; or -1 with the reason in
 * *error_r (password empty or too long, cost out of range, no randomness,
 * out of memory). */
int password_hash(const char *plain, const struct password_cost *cost, char **hash_r,
		  const char **error_r);

/* Like password_hash with a chosen scheme. SHA512-CRYPT (5000 rounds) and
 * BLF-CRYPT ($2y$, cost 5) are libxcrypt's defaults and exist for tests
 * only: new passwords are Argon2id. {PLAIN} only when allowed. cost is
 * used by ARGON2ID only. */
int password_hash_scheme(const char *plain, enum password_scheme scheme,
			 const struct password_cost *cost, char **hash_r, const char **error_r);

/* Verifies plain against a stored "{SCHEME}data". Returns 1 when it
 * matches, 0 when it does not, -1 with the reason in *error_r when it cannot
 * tell: the password is too long, the stored string is malformed, its
 * scheme is unknown or refused, its cost is above the limits. The final
 * comparison takes the same time wherever the first difference is. Only
 * a return of 1 grants access. */
int password_verify(const char *plain, const char *stored, const char **error_r);

/* Validates a stored hash an administrator supplies (account creation,
 * migration): returns 0 when it is well-formed for its scheme and within
 * the cost limits, so that password_verify will not fail on it with -1;
 * else -1 with the reason in *error_r. Does no hashing: it is cheap. */
int password_check_stored(const char *stored, const char **error_r);

/* Returns true when stored should be replaced by a fresh password_hash()
 * at the next successful login: it is not Argon2id, or not at exactly this
 * cost (NULL = password_cost_default), or has a shorter salt or hash than
 * password_hash makes (16 and 32 bytes), or is not valid at all. */
bool password_needs_rehash(const char *stored, const struct password_cost *cost);

#endif
