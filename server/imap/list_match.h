/* Mailbox name patterns of LIST and LSUB (RFC 3501 §6.3.8, §6.3.9).
 *
 * Pure functions over UTF-8 names with '/' as the hierarchy delimiter, as
 * mailbox_name.h stores them: "*" matches anything, "%" anything but '/'.
 * The first level "INBOX" matches case-insensitively (RFC 3501 §5.1); every
 * other byte is compared exactly. Matching works byte by byte: a literal in
 * a pattern is whole UTF-8 characters and wildcards can only stop between
 * characters, so 8-bit names need no special care.
 *
 * The matcher is a bit-parallel NFA: its cost is linear in the name times
 * the pattern's size in 64-bit words, never exponential however many
 * wildcards a client sends. */
#ifndef MAILSTEAD_LIST_MATCH_H
#define MAILSTEAD_LIST_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct list_match;
struct pool;

/* Joins a LIST/LSUB reference and a (non-empty) pattern into one pattern
 * (RFC 3501 §6.3.8: the reference is prefixed to the pattern). One '/' is
 * dropped when the reference ends with it and the pattern starts with it,
 * so "a/" + "/b" is "a/b", not the never-matching "a//b". Returns a string
 * owned by pool. */
char *list_match_join(struct pool *pool, const char *ref, const char *pattern);

/* Compiles a joined pattern. Returns the matcher, owned by pool. */
struct list_match *list_match_compile(struct pool *pool, const char *pattern);

/* True when the whole name matches. With levels_r (may be NULL), also
 * reports which of the name's proper ancestors match: bit i is set when the
 * name's first i+1 levels (the text before its (i+1)-th '/') match; levels
 * past 64 are not reported. */
bool list_match_name(const struct list_match *m, const char *name, uint64_t *levels_r);

/* True when the pattern ends with '%': RFC 3501 §6.3.8 then also returns
 * matching levels of hierarchy that are not themselves mailboxes (as
 * \Noselect), and §6.3.9 the same for LSUB. */
bool list_match_trailing_percent(const struct list_match *m);

/* Several patterns (RFC 5258 §3: a name matches a list of patterns when it
 * matches any of them). Build with list_match_set_add. */
struct list_match_set {
	struct list_match **m;
	unsigned n, cap;
};

/* Compiles a joined pattern into set (memory from pool). */
void list_match_set_add(struct pool *pool, struct list_match_set *set, const char *pattern);

/* True when the whole name matches one of the patterns. levels_r (may be
 * NULL): the name's proper ancestors that match one of them, as in
 * list_match_name; percent_levels_r (may be NULL): those that match one
 * ending with '%' (the levels RFC 3501 §6.3.8 lists). */
bool list_match_set_name(const struct list_match_set *set, const char *name,
			 uint64_t *levels_r, uint64_t *percent_levels_r);

/* The order of LIST/LSUB responses, for qsort of names: INBOX and its
 * children first, then by bytes with '/' before every other byte so that
 * a mailbox's children directly follow it. */
int list_match_cmp(const char *a, const char *b);

/* list_match_cmp of the first alen bytes of a and blen bytes of b (names
 * of hierarchy levels that are prefixes of longer names). */
int list_match_cmp_len(const char *a, size_t alen, const char *b, size_t blen);

#endif
