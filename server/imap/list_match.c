#include "list_match.h"

#include <string.h>

#include "mailbox_name.h"
#include "pool.h"

/* After collapsing runs of wildcards ("%*%" is "*", "%%" is "%"), a
 * pattern that can match a name of at most MAILBOX_NAME_MAX bytes has at
 * most that many literals and one wildcard between each two of them. */
#define LM_MAX_STATES (2 * MAILBOX_NAME_MAX + 2)
#define LM_MAX_WORDS ((LM_MAX_STATES + 63) / 64)

/* State i means "the first i tokens have matched"; state `accept` (the
 * token count) means the whole pattern has. Sets of states are bit sets of
 * `words` 64-bit words. */
struct list_match {
	unsigned words;
	unsigned accept;
	bool never; /* more literals than any name has bytes */
	bool trailing_percent;
	uint64_t *lit;     /* [256][words]: states whose token is that byte */
	uint64_t *star;    /* states whose token is '*' */
	uint64_t *percent; /* states whose token is '%' */
	uint64_t *wild;    /* star | percent */
};

char *list_match_join(struct pool *pool, const char *ref, const char *pattern)
{
	size_t rlen = strlen(ref);

	if (rlen > 0 && ref[rlen - 1] == '/' && pattern[0] == '/')
		pattern++;
	return pool_printf(pool, "%s%s", ref, pattern);
}

static void set_bit(uint64_t *set, unsigned i)
{
	set[i / 64] |= (uint64_t)1 << (i % 64);
}

static bool test_bit(const uint64_t *set, unsigned i)
{
	return (set[i / 64] >> (i % 64)) & 1;
}

struct list_match *list_match_compile(struct pool *pool, const char *pattern)
{
	struct list_match *m = pool_alloc(pool, sizeof(*m));
	size_t len = strlen(pattern);
	unsigned char *kinds = pool_alloc(pool, len + 1); /* 0 literal, '%', '*' */
	unsigned char *bytes = pool_alloc(pool, len + 1);
	unsigned n = 0, nlit = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)pattern[i];
		if (c == '*' || c == '%') {
			if (n > 0 && kinds[n - 1] != 0) {
				if (c == '*')
					kinds[n - 1] = '*'; /* "%*" and "*%" are "*" */
				continue;
			}
			kinds[n++] = c;
		} else {
			if (++nlit > MAILBOX_NAME_MAX) {
				m->never = true;
				return m;
			}
			kinds[n] = 0;
			bytes[n++] = c;
		}
	}
	m->trailing_percent = len > 0 && pattern[len - 1] == '%';
	m->accept = n;
	m->words = (n + 1 + 63) / 64;
	m->lit = pool_alloc(pool, 256 * m->words * sizeof(uint64_t));
	m->star = pool_alloc(pool, m->words * sizeof(uint64_t));
	m->percent = pool_alloc(pool, m->words * sizeof(uint64_t));
	m->wild = pool_alloc(pool, m->words * sizeof(uint64_t));
	for (unsigned i = 0; i < n; i++) {
		if (kinds[i] == 0) {
			set_bit(m->lit + (size_t)bytes[i] * m->words, i);
		} else {
			set_bit(kinds[i] == '*' ? m->star : m->percent, i);
			set_bit(m->wild, i);
		}
	}
	return m;
}

bool list_match_trailing_percent(const struct list_match *m)
{
	return m->trailing_percent;
}

static unsigned char other_case(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned char)(c + 32);
	if (c >= 'a' && c <= 'z')
		return (unsigned char)(c - 32);
	return c;
}

/* Whether the accepting state is in cur, whose words outside [lo, hi] are
 * zero (and may hold stale bits). */
static bool accepting(const struct list_match *m, const uint64_t *cur, unsigned lo, unsigned hi)
{
	unsigned w = m->accept / 64;

	return w >= lo && w <= hi && test_bit(cur, m->accept);
}

bool list_match_name(const struct list_match *m, const char *name, uint64_t *levels_r)
{
	uint64_t a[LM_MAX_WORDS], b[LM_MAX_WORDS];
	uint64_t *cur = a, *next = b, *tmp;
	unsigned level = 0, lo = 0, hi = 0;
	bool inbox;

	if (levels_r != NULL)
		*levels_r = 0;
	if (m->never)
		return false;
	/* A wildcard also matches nothing: its state leads on to the next
	 * one. Wildcards never follow each other after compiling, so one
	 * shift is the whole closure. */
	cur[0] = 1 | ((1 & m->wild[0]) << 1);
	/* RFC 3501 §5.1: INBOX is case-insensitive, also as a parent. */
	inbox = strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/');
	for (size_t j = 0; name[j] != '\0'; j++) {
		unsigned char c = (unsigned char)name[j];
		const uint64_t *row = m->lit + (size_t)c * m->words;
		const uint64_t *row2 = inbox && j < 5 ? m->lit + (size_t)other_case(c) * m->words
						      : NULL;
		/* States only stay or advance by one: the active set can
		 * grow by at most one word, and never below lo. */
		unsigned end = hi + 1 < m->words ? hi + 1 : hi;
		uint64_t carry = 0, wcarry = 0;
		bool any = false;

		if (c == '/') {
			if (levels_r != NULL && level < 64 && accepting(m, cur, lo, hi))
				*levels_r |= (uint64_t)1 << level;
			level++;
		}
		for (unsigned w = lo; w <= end; w++) {
			uint64_t cw = w <= hi ? cur[w] : 0;
			uint64_t lit = row2 != NULL ? row[w] | row2[w] : row[w];
			uint64_t adv = cw & lit;
			uint64_t x = (adv << 1) | carry, wl;
			carry = adv >> 63;
			x |= cw & m->star[w];
			if (c != '/')
				x |= cw & m->percent[w];
			wl = x & m->wild[w];
			x |= (wl << 1) | wcarry;
			wcarry = wl >> 63;
			next[w] = x;
		}
		/* New bounds of the active words. */
		while (lo <= end && next[lo] == 0)
			lo++;
		for (unsigned w = lo; w <= end; w++)
			if (next[w] != 0) {
				hi = w;
				any = true;
			}
		if (!any)
			return false; /* no longer prefix can match either */
		tmp = cur;
		cur = next;
		next = tmp;
	}
	return accepting(m, cur, lo, hi);
}

void list_match_set_add(struct pool *pool, struct list_match_set *set, const char *pattern)
{
	if (set->n == set->cap) {
		unsigned cap = set->cap == 0 ? 4 : set->cap * 2;
		struct list_match **m = pool_alloc(pool, cap * sizeof(*m));
		if (set->n > 0)
			memcpy(m, set->m, set->n * sizeof(*m));
		set->m = m;
		set->cap = cap;
	}
	set->m[set->n++] = list_match_compile(pool, pattern);
}

bool list_match_set_name(const struct list_match_set *set, const char *name,
			 uint64_t *levels_r, uint64_t *percent_levels_r)
{
	bool any = false;

	if (levels_r != NULL)
		*levels_r = 0;
	if (percent_levels_r != NULL)
		*percent_levels_r = 0;
	for (unsigned i = 0; i < set->n; i++) {
		bool pct = percent_levels_r != NULL && set->m[i]->trailing_percent;
		uint64_t levels = 0;
		if (list_match_name(set->m[i], name, levels_r != NULL || pct ? &levels : NULL))
			any = true;
		if (levels_r != NULL)
			*levels_r |= levels;
		if (pct)
			*percent_levels_r |= levels;
	}
	return any;
}

static int inbox_rank(const char *n, size_t len)
{
	return len >= 5 && memcmp(n, "INBOX", 5) == 0 && (len == 5 || n[5] == '/') ? 0 : 1;
}

int list_match_cmp_len(const char *a, size_t alen, const char *b, size_t blen)
{
	int ra = inbox_rank(a, alen), rb = inbox_rank(b, blen);

	if (ra != rb)
		return ra - rb;
	for (size_t i = 0;; i++) {
		/* '/' sorts right after the end of the string. */
		unsigned ca = i == alen ? 0 : a[i] == '/' ? 1 : (unsigned char)a[i];
		unsigned cb = i == blen ? 0 : b[i] == '/' ? 1 : (unsigned char)b[i];
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca == 0)
			return 0;
	}
}

int list_match_cmp(const char *a, const char *b)
{
	return list_match_cmp_len(a, strlen(a), b, strlen(b));
}
