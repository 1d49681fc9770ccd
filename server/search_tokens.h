/* Tokens of a message for the SEARCH word index, computed in the worker
 * (schema/0020_search_tokens_c.sql explains why they give the same
 * answers as PostgreSQL's own tokens).
 *
 * A token is a maximal run of bytes that are not ASCII separators (ASCII
 * bytes other than [0-9A-Za-z]); UTF-8 multibyte sequences never contain
 * ASCII bytes, so a token always ends on a character boundary. ASCII
 * letters are lowered here (ASCII tolower). Tokens made of ASCII bytes
 * only go to `ascii`; tokens holding any non-ASCII byte go to `other`, for
 * PostgreSQL's lower() of their non-ASCII characters in the store
 * statement (it lowers character by character, so lowering the ASCII ones
 * first changes nothing). Both lists are separated by
 * single spaces and hold each token once; each token carries the prefix
 * given to search_tokens_add ("h:" for headers).
 *
 * Like PostgreSQL's tokens, a token over SEARCH_TOKENS_MAX bytes (with its
 * prefix) is left out and `exact` becomes false (SEARCH then scans the
 * message). For `other` tokens the limit applies after lower(), in SQL;
 * here only those that cannot fit whatever lower() does (over 4 times the
 * limit: lower() maps a character to at least one byte) are left out. */
#ifndef MAILSTEAD_SEARCH_TOKENS_H
#define MAILSTEAD_SEARCH_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SEARCH_TOKENS_MAX 200

/* A set of tokens already in a list: offsets into the list's buffer. */
struct search_tokens_set {
	uint32_t *slots; /* offset + 1 of a token's first byte; 0 = empty */
	uint32_t *lens;
	size_t nslots, nused;
};

struct search_tokens {
	struct buf ascii; /* lowered ASCII tokens, ' '-separated, distinct */
	struct buf other; /* tokens with a non-ASCII byte, as in the text */
	bool exact;       /* no token was left out */
	struct search_tokens_set ascii_set, other_set;
};

/* An empty token list; free with search_tokens_free. */
void search_tokens_init(struct search_tokens *t);

/* Empties the lists (keeping memory) and sets exact again. */
void search_tokens_reset(struct search_tokens *t);

void search_tokens_free(struct search_tokens *t);

/* Adds the tokens of text[0..len) (UTF-8, any bytes accepted), each
 * prefixed with prefix (a constant of ASCII letters and ':'). */
void search_tokens_add(struct search_tokens *t, const char *prefix, const char *text, size_t len);

#endif
