#include "partmap.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* More parts than this cannot come from mime_parse's limits; a map that
 * claims more is corrupt (and would make us allocate for nothing). */
#define PARTMAP_MAX_PARTS (1u << 24)
#define VARINT_MAX        10

enum pm_kind { PM_LEAF = 0, PM_MULTIPART = 1, PM_MESSAGE = 2 };
enum pm_cte { PM_CTE_IDENTITY = 0, PM_CTE_BASE64 = 1, PM_CTE_QP = 2, PM_CTE_UNKNOWN = 3 };

struct pm_part {
	enum pm_kind kind;
	enum pm_cte cte;
	enum mime_binary_status binary_status;
	size_t hdr_off, hdr_len, body_off, body_len, binary_size;
	unsigned int child_count;
	unsigned int first_child; /* index, valid when child_count > 0 */
	unsigned int next;        /* next sibling's index, 0 if none */
};

struct partmap {
	size_t size;
	unsigned int count;
	struct pm_part *parts; /* pre-order; parts[0] is the message */
};

/* ---- encoding ------------------------------------------------------------- */

struct enc {
	unsigned char *p;
	size_t len;
};

static void put_varint(struct enc *e, uint64_t v)
{
	do {
		unsigned char b = v & 0x7f;

		v >>= 7;
		e->p[e->len++] = v != 0 ? (unsigned char)(b | 0x80) : b;
	} while (v != 0);
}

static enum pm_cte cte_class(const struct mime_part *p)
{
	if (p->kind != MIME_PART_LEAF || mime_part_is(p, "multipart", NULL))
		return PM_CTE_IDENTITY; /* RFC 2045 §6.4 */
	switch (p->cte_kind) {
	case MIME_CTE_BASE64:
		return PM_CTE_BASE64;
	case MIME_CTE_QP:
		return PM_CTE_QP;
	case MIME_CTE_UNKNOWN:
		return PM_CTE_UNKNOWN;
	default:
		return PM_CTE_IDENTITY;
	}
}

/* Pre-order walk without recursion: children, then the next sibling, then
 * back up through the parents. */
static const struct mime_part *preorder_next(const struct mime_part *p)
{
	if (p->children != NULL)
		return p->children;
	while (p != NULL && p->next == NULL)
		p = p->parent;
	return p != NULL ? p->next : NULL;
}

void partmap_encode(struct pool *pool, const struct mime_message *msg, unsigned char **data_r,
                    size_t *len_r)
{
	/* At most 1 + 6 varints per part, plus the header. */
	struct enc e = {
	    pool_alloc(pool, 1 + 2 * VARINT_MAX + (size_t)msg->part_count * (1 + 6 * VARINT_MAX)),
	    0};
	size_t prev_off = 0;

	e.p[e.len++] = PARTMAP_VERSION;
	put_varint(&e, msg->len);
	put_varint(&e, msg->part_count);
	for (const struct mime_part *p = msg->root; p != NULL; p = preorder_next(p)) {
		enum pm_cte cte = cte_class(p);
		enum pm_kind kind = p->kind == MIME_PART_MULTIPART ? PM_MULTIPART
		                    : p->kind == MIME_PART_MESSAGE ? PM_MESSAGE
		                                                   : PM_LEAF;

		e.p[e.len++] = (unsigned char)(kind | cte << 2 | p->binary_status << 4);
		put_varint(&e, p->hdr_off - prev_off);
		put_varint(&e, p->hdr_len);
		put_varint(&e, p->body_off - (p->hdr_off + p->hdr_len));
		put_varint(&e, p->body_len);
		if (kind == PM_MULTIPART)
			put_varint(&e, p->child_count);
		if ((cte == PM_CTE_BASE64 || cte == PM_CTE_QP) &&
		    p->binary_status == MIME_BINARY_OK)
			put_varint(&e, p->binary_size);
		prev_off = p->hdr_off;
	}
	*data_r = e.p;
	*len_r = e.len;
}

/* ---- decoding ------------------------------------------------------------- */

struct dec {
	const unsigned char *p;
	size_t len, i;
};

static int get_varint(struct dec *d, size_t *v_r)
{
	uint64_t v = 0;

	for (unsigned int shift = 0; shift < 64; shift += 7) {
		unsigned char b;

		if (d->i >= d->len)
			return -1;
		b = d->p[d->i++];
		if (shift == 63 && b > 1)
			return -1;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			if (v > SIZE_MAX)
				return -1;
			*v_r = (size_t)v;
			return 0;
		}
	}
	return -1;
}

struct pm_open {
	unsigned int idx;        /* a container whose children are coming */
	size_t remaining;        /* children still expected */
	unsigned int last_child; /* to link the next one */
};

int partmap_decode(struct pool *pool, const unsigned char *data, size_t len, struct partmap **map_r,
                   const char **error_r)
{
	struct dec d = {data, len, 0};
	struct partmap *map;
	struct pm_open *stk;
	size_t count, prev_off = 0;
	unsigned int depth = 0;

	*error_r = "Corrupt partmap";
	if (len < 1 || data[0] != PARTMAP_VERSION) {
		*error_r = "Unknown partmap version";
		return -1;
	}
	d.i = 1;
	map = pool_alloc(pool, sizeof(*map));
	/* Each part takes at least 5 bytes: a cheap bound on the count. */
	if (get_varint(&d, &map->size) < 0 || get_varint(&d, &count) < 0 || count == 0 ||
	    count > PARTMAP_MAX_PARTS || count > (len - d.i) / 5)
		return -1;
	map->count = (unsigned int)count;
	map->parts = pool_alloc(pool, count * sizeof(*map->parts));
	stk = pool_alloc(pool, (count + 1) * sizeof(*stk));
	for (unsigned int n = 0; n < count; n++) {
		struct pm_part *p = &map->parts[n];
		size_t delta, gap, children = 0;
		unsigned char flags;

		if (d.i >= d.len)
			return -1;
		flags = d.p[d.i++];
		if ((flags & 3) > PM_MESSAGE || (flags >> 4 & 3) > MIME_BINARY_INVALID ||
		    (flags & 0xc0) != 0)
			return -1;
		p->kind = (enum pm_kind)(flags & 3);
		p->cte = (enum pm_cte)(flags >> 2 & 3);
		p->binary_status = (enum mime_binary_status)(flags >> 4 & 3);
		if (get_varint(&d, &delta) < 0 || get_varint(&d, &p->hdr_len) < 0 ||
		    get_varint(&d, &gap) < 0 || get_varint(&d, &p->body_len) < 0)
			return -1;
		if (delta > map->size - prev_off)
			return -1;
		p->hdr_off = prev_off + delta;
		if (p->hdr_len > map->size - p->hdr_off ||
		    gap > map->size - p->hdr_off - p->hdr_len)
			return -1;
		p->body_off = p->hdr_off + p->hdr_len + gap;
		if (p->body_len > map->size - p->body_off)
			return -1;
		prev_off = p->hdr_off;
		if (p->kind == PM_MULTIPART && get_varint(&d, &children) < 0)
			return -1;
		if (p->kind == PM_MESSAGE)
			children = 1;
		if (children > count - n - 1)
			return -1;
		p->binary_size = p->body_len;
		if ((p->cte == PM_CTE_BASE64 || p->cte == PM_CTE_QP) &&
		    p->binary_status == MIME_BINARY_OK && get_varint(&d, &p->binary_size) < 0)
			return -1;
		if (n == 0) {
			if (p->hdr_off != 0 || p->body_off + p->body_len != map->size)
				return -1; /* the root is the whole message */
		} else {
			struct pm_open *o;
			const struct pm_part *parent;

			while (depth > 0 && stk[depth - 1].remaining == 0)
				depth--;
			if (depth == 0)
				return -1; /* more parts than the tree holds */
			o = &stk[depth - 1];
			parent = &map->parts[o->idx];
			if (p->hdr_off < parent->body_off ||
			    p->body_off + p->body_len > parent->body_off + parent->body_len)
				return -1; /* a part lies within its parent's body */
			if (map->parts[o->idx].child_count == 0)
				map->parts[o->idx].first_child = n;
			else
				map->parts[o->last_child].next = n;
			map->parts[o->idx].child_count++;
			o->last_child = n;
			o->remaining--;
		}
		if (children > 0) {
			stk[depth].idx = n;
			stk[depth].remaining = children;
			stk[depth].last_child = 0;
			depth++;
		}
	}
	while (depth > 0) {
		if (stk[--depth].remaining != 0)
			return -1; /* parts missing */
	}
	if (d.i != d.len)
		return -1; /* trailing bytes */
	*map_r = map;
	return 0;
}

size_t partmap_message_size(const struct partmap *map)
{
	return map->size;
}

unsigned int partmap_part_count(const struct partmap *map)
{
	return map->count;
}

/* ---- section lookup -------------------------------------------------------- */

static bool keyword(const char **s, const char *word)
{
	size_t n = strlen(word);

	if (strncasecmp(*s, word, n) != 0)
		return false;
	*s += n;
	return true;
}

static void set_range(struct partmap_section *sec, size_t off, size_t len)
{
	sec->off = off;
	sec->len = len;
}

/* HEADER, HEADER.FIELDS[.NOT] or TEXT of the message whose header is m's.
 * Returns 1, or -1 for other text. */
static int msgtext(const struct pm_part *m, const char *s, struct partmap_section *sec)
{
	if (keyword(&s, "HEADER")) {
		set_range(sec, m->hdr_off, m->hdr_len);
		if (*s == '\0')
			return 1;
		if (!keyword(&s, ".FIELDS"))
			return -1;
		sec->filter = PARTMAP_FILTER_FIELDS;
		if (*s == '\0')
			return 1;
		if (!keyword(&s, ".NOT") || *s != '\0')
			return -1;
		sec->filter = PARTMAP_FILTER_FIELDS_NOT;
		return 1;
	}
	if (keyword(&s, "TEXT") && *s == '\0') {
		set_range(sec, m->body_off, m->body_len);
		return 1;
	}
	return -1;
}

int partmap_find(const struct partmap *map, const char *section, struct partmap_section *sec_r)
{
	const struct pm_part *p = &map->parts[0];
	const char *s = section;
	bool found = true;

	memset(sec_r, 0, sizeof(*sec_r));
	if (*s == '\0') {
		set_range(sec_r, 0, map->size);
		sec_r->is_part = true;
		sec_r->binary_size = map->size;
		return 1;
	}
	if (*s < '0' || *s > '9')
		return msgtext(p, s, sec_r);
	for (;;) {
		uint64_t num = 0;

		if (*s < '1' || *s > '9')
			return -1; /* nz-number */
		while (*s >= '0' && *s <= '9') {
			if (num <= UINT32_MAX)
				num = num * 10 + (uint64_t)(*s - '0');
			s++;
		}
		if (*s != '\0' && *s != '.')
			return -1;
		if (!found) {
			/* keep checking the syntax */
		} else if (p->kind == PM_MULTIPART) {
			unsigned int idx = p->first_child;

			if (num > p->child_count) {
				found = false;
			} else {
				for (uint64_t k = 1; k < num; k++)
					idx = map->parts[idx].next;
				p = &map->parts[idx];
			}
		} else if (num != 1) {
			found = false; /* a non-multipart has only part 1: its body */
		}
		if (*s == '\0')
			break;
		s++;
		if (*s >= '0' && *s <= '9') {
			/* More numbers: they pick a multipart's body part, or
			 * go on inside a message/rfc822 part's encapsulated
			 * message; a leaf has no parts below it. */
			if (found && p->kind == PM_MESSAGE)
				p = &map->parts[p->first_child];
			else if (p->kind == PM_LEAF)
				found = false;
			continue;
		}
		if (keyword(&s, "MIME")) {
			if (*s != '\0')
				return -1;
			if (found)
				set_range(sec_r, p->hdr_off, p->hdr_len);
			return found ? 1 : 0;
		}
		/* HEADER/TEXT need a message/rfc822 part (RFC 3501 §6.4.5). */
		if (msgtext(p, s, sec_r) < 0)
			return -1;
		if (!found || p->kind != PM_MESSAGE) {
			memset(sec_r, 0, sizeof(*sec_r));
			return 0;
		}
		return msgtext(&map->parts[p->first_child], s, sec_r);
	}
	if (!found)
		return 0;
	set_range(sec_r, p->body_off, p->body_len);
	sec_r->is_part = true;
	sec_r->cte = p->cte == PM_CTE_BASE64    ? MIME_CTE_BASE64
	             : p->cte == PM_CTE_QP      ? MIME_CTE_QP
	             : p->cte == PM_CTE_UNKNOWN ? MIME_CTE_UNKNOWN
	                                        : MIME_CTE_7BIT;
	sec_r->binary_status = p->binary_status;
	sec_r->binary_size = p->binary_size;
	return 1;
}
