/* Sequence sets: see seqset.h for the contract.
 *
 * Ranges are kept as 64-bit pairs with '*' as SEQ_STAR = 2^32, one above
 * every real number. Storing '*' as UINT32_MAX would confuse it with the
 * legal number 4294967295, which must match nothing rather than the last
 * message. A range holding '*' has it as hi (lo <= hi always), and is never
 * merged with its neighbours before resolution: "5:*,200:300" must not
 * become "5:*", as the client may mean 200:300 beyond the last message. */
#include "seqset.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pool.h"

#define SEQ_STAR ((uint64_t)1 << 32)

struct seq_range {
	uint64_t lo, hi;
};

struct seqset {
	struct pool *pool;
	struct seq_range *r;
	unsigned count;
	unsigned cap;
};

struct seqset *seqset_create(struct pool *pool)
{
	struct seqset *set = pool_alloc(pool, sizeof(*set));

	set->pool = pool;
	return set;
}

static void seqset_reserve(struct seqset *set, unsigned need)
{
	struct seq_range *r;
	unsigned cap;

	if (need <= set->cap)
		return;
	if (set->cap > UINT32_MAX / 2)
		panic("seqset: too many ranges");
	cap = set->cap == 0 ? 8 : set->cap * 2;
	if (cap < need)
		cap = need;
	/* The old array stays in the pool: growth by doubling wastes at most
	 * as much as the set holds. */
	r = pool_alloc(set->pool, sizeof(*r) * cap);
	if (set->count > 0)
		memcpy(r, set->r, sizeof(*r) * set->count);
	set->r = r;
	set->cap = cap;
}

static int range_cmp(const void *a, const void *b)
{
	const struct seq_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

/* Sorts and merges overlapping or adjacent ranges; ranges ending in '*' are
 * only merged with identical ones. */
static void seqset_normalize(struct seqset *set)
{
	unsigned out = 0;

	if (set->count == 0)
		return;
	qsort(set->r, set->count, sizeof(*set->r), range_cmp);
	for (unsigned i = 1; i < set->count; i++) {
		struct seq_range *cur = &set->r[out], *next = &set->r[i];

		if (cur->hi != SEQ_STAR && next->hi != SEQ_STAR && next->lo <= cur->hi + 1) {
			if (next->hi > cur->hi)
				cur->hi = next->hi;
		} else if (cur->lo == next->lo && cur->hi == next->hi) {
			/* duplicate */
		} else {
			set->r[++out] = *next;
		}
	}
	set->count = out + 1;
}

static void range_append(struct seqset *set, uint64_t a, uint64_t b)
{
	seqset_reserve(set, set->count + 1);
	set->r[set->count].lo = a < b ? a : b;
	set->r[set->count].hi = a < b ? b : a;
	set->count++;
}

/* seq-number = nz-number / "*"; nz-number = digit-nz *DIGIT, at most
 * 4294967295. Advances *sp past it. */
static int parse_number(const char **sp, uint64_t *n_r, const char **error_r)
{
	const char *s = *sp;
	uint64_t n = 0;

	if (*s == '*') {
		*n_r = SEQ_STAR;
		*sp = s + 1;
		return 0;
	}
	if (*s < '1' || *s > '9') {
		if (*s == '0')
			*error_r = "Invalid number in sequence set (0 or leading zero)";
		else if (*s == ',' || *s == ':' || *s == '\0')
			*error_r = "Empty element in sequence set";
		else
			*error_r = "Invalid sequence set";
		return -1;
	}
	while (*s >= '0' && *s <= '9') {
		n = n * 10 + (uint64_t)(*s++ - '0');
		if (n > UINT32_MAX) { /* checked per digit: cannot overflow */
			*error_r = "Number too large in sequence set";
			return -1;
		}
	}
	*n_r = n;
	*sp = s;
	return 0;
}

int seqset_parse(struct pool *pool, const char *s, struct seqset **set_r, const char **error_r)
{
	struct seqset *set;
	unsigned elements = 1;
	uint64_t a, b;

	for (const char *c = s; *c != '\0'; c++) {
		if (*c == ',' && ++elements > SEQSET_MAX_RANGES) {
			*error_r = "Too many ranges in sequence set";
			return -1;
		}
	}
	if (*s == '\0') {
		*error_r = "Empty sequence set";
		return -1;
	}
	set = seqset_create(pool);
	seqset_reserve(set, elements);
	for (;;) {
		if (parse_number(&s, &a, error_r) < 0)
			return -1;
		b = a;
		if (*s == ':') {
			s++;
			if (parse_number(&s, &b, error_r) < 0)
				return -1;
		}
		range_append(set, a, b);
		if (*s == '\0')
			break;
		if (*s != ',') {
			*error_r = "Invalid sequence set";
			return -1;
		}
		s++; /* an element must follow: parse_number rejects "" */
	}
	seqset_normalize(set);
	*set_r = set;
	return 0;
}

void seqset_add_range(struct seqset *set, uint32_t lo, uint32_t hi)
{
	struct seq_range *last = set->count > 0 ? &set->r[set->count - 1] : NULL;
	uint64_t a = lo < hi ? lo : hi, b = lo < hi ? hi : lo;

	if (a == 0)
		panic("seqset_add_range: 0 is not a message number");
	/* Fast path: numbers added in ascending order. */
	if (last != NULL && last->hi != SEQ_STAR && a >= last->lo) {
		if (a <= last->hi + 1) {
			if (b > last->hi)
				last->hi = b;
			return;
		}
		range_append(set, a, b);
		return;
	}
	range_append(set, a, b);
	seqset_normalize(set);
}

bool seqset_has_star(const struct seqset *set)
{
	for (unsigned i = 0; i < set->count; i++)
		if (set->r[i].hi == SEQ_STAR)
			return true;
	return false;
}

void seqset_resolve_star(struct seqset *set, uint32_t max)
{
	unsigned out = 0;

	for (unsigned i = 0; i < set->count; i++) {
		uint64_t a = set->r[i].lo == SEQ_STAR ? max : set->r[i].lo;
		uint64_t b = set->r[i].hi == SEQ_STAR ? max : set->r[i].hi;

		if (a > b) {
			uint64_t t = a;
			a = b;
			b = t;
		}
		if (b == 0)
			continue; /* "*" in an empty mailbox */
		if (a == 0)
			a = 1;
		set->r[out].lo = a;
		set->r[out].hi = b;
		out++;
	}
	set->count = out;
	seqset_normalize(set);
}

bool seqset_contains(const struct seqset *set, uint32_t n)
{
	unsigned lo = 0, hi = set->count;

	if (seqset_has_star(set)) {
		/* Star ranges may overlap others: look at all of them. */
		for (unsigned i = 0; i < set->count; i++)
			if (n >= set->r[i].lo && n <= set->r[i].hi)
				return true;
		return false;
	}
	/* Disjoint and sorted: binary search for the last lo <= n. */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (set->r[mid].lo <= n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && n <= set->r[lo - 1].hi;
}

uint32_t seqset_count(const struct seqset *set)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < set->count; i++) {
		uint64_t hi = set->r[i].hi == SEQ_STAR ? UINT32_MAX : set->r[i].hi;
		uint64_t lo = set->r[i].lo == SEQ_STAR ? UINT32_MAX : set->r[i].lo;

		total += hi - lo + 1; /* <= 2^32, and total < 2^32 before: no overflow */
		if (total >= UINT32_MAX)
			return UINT32_MAX;
	}
	return (uint32_t)total;
}

unsigned seqset_range_count(const struct seqset *set)
{
	return set->count;
}

static uint32_t seq_value(uint64_t v)
{
	return v == SEQ_STAR ? UINT32_MAX : (uint32_t)v;
}

void seqset_range_get(const struct seqset *set, unsigned i, uint32_t *lo_r, uint32_t *hi_r)
{
	if (i >= set->count)
		panic("seqset_range_get: range %u of %u", i, set->count);
	*lo_r = seq_value(set->r[i].lo);
	*hi_r = seq_value(set->r[i].hi);
}

void seqset_iter_init(struct seqset_iter *it, const struct seqset *set)
{
	it->set = set;
	it->range = 0;
	it->next = set->count > 0 ? set->r[0].lo : 0;
}

bool seqset_iter_next(struct seqset_iter *it, uint32_t *n_r)
{
	const struct seqset *set = it->set;

	while (it->range < set->count) {
		uint64_t hi = seq_value(set->r[it->range].hi);

		if (it->next <= hi) {
			*n_r = seq_value(it->next);
			it->next++; /* 64-bit: cannot wrap after 4294967295 */
			return true;
		}
		if (++it->range < set->count)
			it->next = set->r[it->range].lo;
	}
	return false;
}

static int append_number(struct buf *out, uint64_t v)
{
	if (v == SEQ_STAR)
		return buf_append(out, "*", 1);
	return buf_printf(out, "%u", (unsigned)v);
}

int seqset_to_string(struct buf *out, const struct seqset *set)
{
	size_t old_len = out->len;

	for (unsigned i = 0; i < set->count; i++) {
		const struct seq_range *r = &set->r[i];

		if ((i > 0 && buf_append(out, ",", 1) < 0) || append_number(out, r->lo) < 0 ||
		    (r->lo != r->hi && (buf_append(out, ":", 1) < 0 || append_number(out, r->hi) < 0))) {
			out->len = old_len;
			if (out->data != NULL)
				out->data[old_len] = '\0';
			return -1;
		}
	}
	return 0;
}
