/* A worker's cache of recently verified credentials, so a client that logs
 * in again and again (many do, per folder or per sync) does not cost an
 * Argon2id verification (~21 ms of CPU) every time.
 *
 * Security trade-off (docs/operations.md): an entry is
 * HMAC-SHA256(secret, user NUL password NUL stored_hash) with a random
 * secret made at start and never leaving the process; no password or
 * password-derived value that works without the secret is kept. Someone who
 * can read the worker's memory gets the secret too and can then test
 * password guesses at HMAC speed instead of Argon2id speed -- for the
 * accounts in the cache, within the TTL. Only successes are cached; the
 * account is still looked up in the database at every login, so a
 * suspension or a password change (a new stored hash, hence a different
 * key) takes effect at once. Bounded: a direct-mapped table of max_entries
 * slots, where a newer entry replaces an older one of the same slot. */
#ifndef MAILSTEAD_AUTH_CACHE_H
#define MAILSTEAD_AUTH_CACHE_H

#include <stdbool.h>
#include <time.h>

struct auth_cache;

/* max_entries 0 = a cache that never hits. Returns NULL on failure to get
 * randomness or memory (error_r). */
struct auth_cache *auth_cache_create(unsigned max_entries, unsigned ttl_seconds,
				     const char **error_r);
void auth_cache_destroy(struct auth_cache **c_r);

/* True when this user, password and stored hash were added less than the
 * TTL before now. */
bool auth_cache_check(struct auth_cache *c, const char *user, const char *password,
		      const char *stored_hash, time_t now);

/* Remembers a successful verification. */
void auth_cache_add(struct auth_cache *c, const char *user, const char *password,
		    const char *stored_hash, time_t now);

#endif
