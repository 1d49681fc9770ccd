/* Tokens of a message for the SEARCH word index: see search_tokens.h. */
#include "search_tokens.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

void search_tokens_init(struct search_tokens *t)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->ascii, 0);
	buf_init(&t->other, 0);
	t->exact = true;
}

static void set_clear(struct search_tokens_set *s)
{
	if (s->nused > 0)
		memset(s->slots, 0, s->nslots * sizeof(*s->slots));
	s->nused = 0;
}

void search_tokens_reset(struct search_tokens *t)
{
	buf_reset(&t->ascii);
	buf_reset(&t->other);
	set_clear(&t->ascii_set);
	set_clear(&t->other_set);
	t->exact = true;
}

void search_tokens_free(struct search_tokens *t)
{
	buf_free(&t->ascii);
	buf_free(&t->other);
	free(t->ascii_set.slots);
	free(t->ascii_set.lens);
	free(t->other_set.slots);
	free(t->other_set.lens);
	memset(t, 0, sizeof(*t));
}

/* FNV-1a */
static uint32_t hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static void set_grow(struct search_tokens_set *s, const char *base)
{
	size_t n = s->nslots == 0 ? 256 : s->nslots * 2;
	uint32_t *slots = calloc(n, sizeof(*slots)), *lens = calloc(n, sizeof(*lens));

	if (slots == NULL || lens == NULL)
		panic("search_tokens: out of memory");
	for (size_t i = 0; i < s->nslots; i++) {
		size_t j;

		if (s->slots[i] == 0)
			continue;
		j = hash(base + s->slots[i] - 1, s->lens[i]) & (n - 1);
		while (slots[j] != 0)
			j = (j + 1) & (n - 1);
		slots[j] = s->slots[i];
		lens[j] = s->lens[i];
	}
	free(s->slots);
	free(s->lens);
	s->slots = slots;
	s->lens = lens;
	s->nslots = n;
}

/* Appends tok (len bytes, already prefixed and lowered, hash h) to b
 * unless the list holds it already. */
static void list_add(struct buf *b, struct search_tokens_set *s, const char *tok, size_t len,
                     uint32_t h)
{
	size_t j, off;

	if (b->len + len + 1 > UINT32_MAX - 1)
		panic("search_tokens: token list over 4 GiB");
	if (2 * (s->nused + 1) > s->nslots)
		set_grow(s, b->data);
	j = h & (s->nslots - 1);
	while (s->slots[j] != 0) {
		if (s->lens[j] == len && memcmp(b->data + s->slots[j] - 1, tok, len) == 0)
			return;
		j = (j + 1) & (s->nslots - 1);
	}
	if (b->len > 0 && buf_append(b, " ", 1) < 0)
		panic("search_tokens: cannot grow");
	off = b->len;
	if (buf_append(b, tok, len) < 0)
		panic("search_tokens: cannot grow");
	s->slots[j] = (uint32_t)off + 1;
	s->lens[j] = (uint32_t)len;
	s->nused++;
}

/* 0: an ASCII separator; 1: [0-9a-z]; 2: [A-Z]; 3: a non-ASCII byte. */
static unsigned byte_class(unsigned char c)
{
	if (c >= 0x80)
		return 3;
	if ((unsigned)(c - 'a') < 26 || (unsigned)(c - '0') < 10)
		return 1;
	if ((unsigned)(c - 'A') < 26)
		return 2;
	return 0;
}

void search_tokens_add(struct search_tokens *t, const char *prefix, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text, *end = p + len;
	size_t plen = strlen(prefix);
	uint32_t h0;
	/* A token of up to 4 * SEARCH_TOKENS_MAX bytes, prefixed and lowered;
	 * longer ones are only counted. */
	char tok[4 * SEARCH_TOKENS_MAX + 1];

	memcpy(tok, prefix, plen);
	h0 = hash(prefix, plen);
	while (p < end) {
		uint32_t h = h0;
		size_t n = plen;
		bool ascii = true;
		unsigned k;

		while (p < end && byte_class(*p) == 0)
			p++;
		for (; p < end && (k = byte_class(*p)) != 0; p++) {
			unsigned char c = *p;

			if (k == 2)
				c += 'a' - 'A';
			else if (k == 3)
				ascii = false;
			if (n < sizeof(tok))
				tok[n] = (char)c;
			n++;
			h = (h ^ c) * 16777619u;
		}
		if (n == plen)
			break;
		if (n > (ascii ? SEARCH_TOKENS_MAX : 4 * SEARCH_TOKENS_MAX)) {
			t->exact = false;
			continue;
		}
		if (ascii)
			list_add(&t->ascii, &t->ascii_set, tok, n, h);
		else
			list_add(&t->other, &t->other_set, tok, n, h);
	}
}
