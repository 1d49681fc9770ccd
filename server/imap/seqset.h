/* Sequence sets (RFC 3501 §9 sequence-set): "1:5,7,10:*".
 *
 * Used for message sequence numbers and UIDs alike. A parsed set is a sorted
 * list of disjoint ranges; '*' stands for "the largest number in use", which
 * only the caller knows (message count or largest UID), so it stays symbolic
 * until seqset_resolve_star(). RFC 5182 "$" is not supported. */
#ifndef MAILSTEAD_SEQSET_H
#define MAILSTEAD_SEQSET_H

#include <stdbool.h>
#include <stdint.h>

struct buf;
struct pool;

/* The most elements ("a" or "a:b") a client's set may have: bounds memory and
 * the time spent sorting. */
#define SEQSET_MAX_RANGES 10000

struct seqset;

/* Walks the numbers of a set in ascending order. Fields are private. */
struct seqset_iter {
	const struct seqset *set;
	unsigned range;
	uint64_t next;
};

/* Returns an empty set allocated from pool, for building with
 * seqset_add_range(). */
struct seqset *seqset_create(struct pool *pool);

/* Parses the NUL-terminated sequence-set s into a set allocated from pool.
 * Numbers are 1..4294967295 without leading zeros; a range may be given in
 * either order ("5:3" is "3:5"); '*' may appear anywhere a number may. Returns
 * 0 and *set_r, or -1 with a static reason in *error_r (empty element,
 * trailing comma, 0, overflow, more than SEQSET_MAX_RANGES elements, ...). */
int seqset_parse(struct pool *pool, const char *s, struct seqset **set_r, const char **error_r);

/* Adds lo..hi (either order; both >= 1, which is checked with panic()) to the
 * set, keeping it sorted and merged. Server-built sets have no range limit:
 * their size follows from the mailbox, not from the client. */
void seqset_add_range(struct seqset *set, uint32_t lo, uint32_t hi);

/* Returns true when the set still holds a '*'. */
bool seqset_has_star(const struct seqset *set);

/* Replaces '*' by max (the message count, or the largest UID), then sorts and
 * merges again. RFC 3501 §9: "n:*" always includes max, even when n > max.
 * With max = 0 (an empty mailbox) '*' matches nothing: "*" disappears and
 * "5:*" becomes "1:5". */
void seqset_resolve_star(struct seqset *set, uint32_t max);

/* Returns true when n is in the set. Before resolution a '*' counts as
 * "no upper bound". */
bool seqset_contains(const struct seqset *set, uint32_t n);

/* Returns how many numbers the set holds, saturated at UINT32_MAX (a
 * resolved set of 32-bit numbers cannot hold more). Exact only once '*' is
 * resolved; before, '*' counts as 4294967295. */
uint32_t seqset_count(const struct seqset *set);

/* The ranges, ascending and disjoint once '*' is resolved: 0 <= i <
 * seqset_range_count(). An unresolved '*' reads as UINT32_MAX. */
unsigned seqset_range_count(const struct seqset *set);
void seqset_range_get(const struct seqset *set, unsigned i, uint32_t *lo_r, uint32_t *hi_r);

/* Iterates over every number of a resolved set:
 *	for (seqset_iter_init(&it, set); seqset_iter_next(&it, &n);) ... */
void seqset_iter_init(struct seqset_iter *it, const struct seqset *set);
bool seqset_iter_next(struct seqset_iter *it, uint32_t *n_r);

/* Appends the set in its shortest form ("1:5,7", "3:*") to out; an empty set
 * appends nothing. Returns 0, or -1 (out unchanged) when out's limit was
 * hit. */
int seqset_to_string(struct buf *out, const struct seqset *set);

#endif
