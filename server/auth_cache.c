#include "auth_cache.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define KEY_LEN 32

struct slot {
	unsigned char key[KEY_LEN];
	time_t added; /* 0 = empty */
};

struct auth_cache {
	unsigned char secret[KEY_LEN];
	struct slot *slots;
	unsigned nslots;
	unsigned ttl;
};

struct auth_cache *auth_cache_create(unsigned max_entries, unsigned ttl_seconds,
				     const char **error_r)
{
	struct auth_cache *c = calloc(1, sizeof(*c));

	if (c == NULL || (max_entries > 0 &&
			  (c->slots = calloc(max_entries, sizeof(*c->slots))) == NULL)) {
		free(c);
		*error_r = "auth cache: out of memory";
		return NULL;
	}
	if (getrandom(c->secret, sizeof(c->secret), 0) != (ssize_t)sizeof(c->secret)) {
		free(c->slots);
		free(c);
		*error_r = "auth cache: no randomness";
		return NULL;
	}
	c->nslots = max_entries;
	c->ttl = ttl_seconds;
	return c;
}

void auth_cache_destroy(struct auth_cache **c_r)
{
	struct auth_cache *c = *c_r;

	if (c == NULL)
		return;
	explicit_bzero(c->secret, sizeof(c->secret));
	if (c->slots != NULL) {
		explicit_bzero(c->slots, (size_t)c->nslots * sizeof(*c->slots));
		free(c->slots);
	}
	free(c);
	*c_r = NULL;
}

/* key = HMAC-SHA256(secret, user NUL password NUL stored_hash) */
static void make_key(const struct auth_cache *c, const char *user, const char *password,
		     const char *stored_hash, unsigned char key[KEY_LEN])
{
	size_t ul = strlen(user), pl = strlen(password), hl = strlen(stored_hash);
	size_t len = ul + 1 + pl + 1 + hl;
	unsigned char *msg = malloc(len);
	unsigned int out_len = KEY_LEN;

	if (msg == NULL)
		abort(); /* a few hundred bytes: out of memory is fatal anyway */
	memcpy(msg, user, ul + 1);
	memcpy(msg + ul + 1, password, pl + 1);
	memcpy(msg + ul + 1 + pl + 1, stored_hash, hl);
	if (HMAC(EVP_sha256(), c->secret, KEY_LEN, msg, len, key, &out_len) == NULL)
		abort(); /* cannot fail with valid arguments */
	explicit_bzero(msg, len);
	free(msg);
}

static struct slot *slot_for(const struct auth_cache *c, const unsigned char key[KEY_LEN])
{
	uint64_t h;

	memcpy(&h, key, sizeof(h)); /* the HMAC output is uniform */
	return &c->slots[h % c->nslots];
}

bool auth_cache_check(struct auth_cache *c, const char *user, const char *password,
		      const char *stored_hash, time_t now)
{
	unsigned char key[KEY_LEN];
	struct slot *s;
	bool hit;

	if (c->nslots == 0)
		return false;
	make_key(c, user, password, stored_hash, key);
	s = slot_for(c, key);
	hit = s->added != 0 && now >= s->added && now - s->added < (time_t)c->ttl &&
	      CRYPTO_memcmp(s->key, key, KEY_LEN) == 0;
	explicit_bzero(key, sizeof(key));
	return hit;
}

void auth_cache_add(struct auth_cache *c, const char *user, const char *password,
		    const char *stored_hash, time_t now)
{
	unsigned char key[KEY_LEN];
	struct slot *s;

	if (c->nslots == 0)
		return;
	make_key(c, user, password, stored_hash, key);
	s = slot_for(c, key);
	memcpy(s->key, key, KEY_LEN);
	s->added = now != 0 ? now : 1;
	explicit_bzero(key, sizeof(key));
}
