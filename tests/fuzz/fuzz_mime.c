/* libFuzzer target for the MIME module: parses the input as a message,
 * writes its ENVELOPEs, BODY and BODYSTRUCTURE, extracts the search fields,
 * encodes and decodes the partmap and looks up every section of every
 * part, decodes every part as BINARY would, and feeds the input to the
 * header helpers and to the partmap decoder directly.
 *
 * Besides crashes (ASan, UBSan) it aborts on broken invariants: a map we
 * encoded must decode, sections must lie inside the message, search text
 * must be valid UTF-8 without NUL.
 *
 * The sources it needs, for tests/fuzz/run.sh (a line comment, because
 * the glob's slash-star would open a comment inside a block comment): */
// FUZZ-SOURCES: server/mime/*.c server/lib/pool.c server/lib/buf.c server/lib/log.c
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodystructure.h"
#include "envelope.h"
#include "mime_decode.h"
#include "mime_header.h"
#include "mime_parse.h"
#include "mime_search.h"
#include "partmap.h"
#include "pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_utf8(const char *s, size_t len)
{
	struct buf b;

	if (s == NULL)
		return;
	if (memchr(s, '\0', len) != NULL)
		abort();
	/* Valid UTF-8 passes through the sanitiser unchanged. */
	buf_init(&b, 0);
	(void)mime_decode_utf8_append(&b, (const unsigned char *)s, len);
	if (b.len != len || (len > 0 && memcmp(b.data, s, len) != 0))
		abort();
	buf_free(&b);
}

static void check_section(const struct partmap *map, size_t size, const char *section)
{
	struct partmap_section sec;

	if (partmap_find(map, section, &sec) == 1 && (sec.off > size || sec.len > size - sec.off))
		abort();
}

/* Looks up every section RFC 3501 defines for the parts below p, whose
 * section numbers start with prefix. */
static void walk_sections(struct pool *pool, const struct partmap *map, size_t size,
                          const struct mime_part *p, const char *prefix, unsigned int *budget)
{
	static const char *const suffixes[] = {"",      ".MIME",          ".HEADER",
	                                       ".TEXT", ".HEADER.FIELDS", ".HEADER.FIELDS.NOT"};
	unsigned int n = 1;

	if (p->kind == MIME_PART_MESSAGE)
		p = p->children;
	for (const struct mime_part *c = p->kind == MIME_PART_MULTIPART ? p->children : p;
	     c != NULL && *budget > 0; c = p->kind == MIME_PART_MULTIPART ? c->next : NULL, n++) {
		char *path = prefix[0] == '\0' ? pool_printf(pool, "%u", n)
		                               : pool_printf(pool, "%s.%u", prefix, n);

		(*budget)--;
		for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
			check_section(map, size, pool_printf(pool, "%s%s", path, suffixes[i]));
		if (c->kind != MIME_PART_LEAF && c != p)
			walk_sections(pool, map, size, c, path, budget);
		else if (c->kind == MIME_PART_MESSAGE)
			walk_sections(pool, map, size, c->children, path, budget);
	}
}

static void decode_parts(struct pool *pool, const struct mime_message *msg,
                         const struct mime_part *p)
{
	for (; p != NULL; p = p->next) {
		unsigned char *out;
		size_t outlen, size;
		const char *error;
		int r1 = mime_decode_part(pool, p->cte_kind, msg->data + p->body_off, p->body_len,
		                          &out, &outlen, &error);
		int r2 = mime_decode_size(p->cte_kind, msg->data + p->body_off, p->body_len, &size);

		/* The counting and the decoding pass must agree. */
		if (r1 != r2 || (r1 == 0 && size != outlen))
			abort();
		decode_parts(pool, msg, p->children);
	}
}

static void envelopes(struct pool *pool, const struct mime_message *msg, const struct mime_part *p)
{
	for (; p != NULL; p = p->next) {
		char *s;
		size_t len;

		if (p->kind == MIME_PART_MESSAGE &&
		    envelope_write(pool, msg, p->children, &s, &len) < 0)
			abort();
		envelopes(pool, msg, p->children);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const odd_sections[] = {
	    "",
	    "HEADER",
	    "TEXT",
	    "MIME",
	    "header.fields.not",
	    "0",
	    "01",
	    "1.",
	    ".1",
	    "1..2",
	    "1.MIME.1",
	    "4294967297",
	    "1.x",
	    "HEADER.FIELDS.NOTX",
	    "1.TEXT",
	    "1.1.1",
	    "2.HEADER",
	    "99.MIME",
	};
	static const char *const names[] = {"From", "SUBJECT", "date", "Content-Type", ""};
	struct mime_limits limits = {8, 200};
	struct pool *pool = pool_create(0);
	struct mime_message *msg;
	struct mime_search_fields sf;
	struct partmap *map;
	unsigned char *enc, *out;
	size_t enc_len, len, outlen;
	unsigned int budget = 2000;
	const char *error;
	char *s;

	/* Small limits so that the fuzzer reaches them; the default limits
	 * once, for the paths they guard. */
	msg = mime_parse(pool, data, size, (size & 1) != 0 ? &limits : NULL);
	if (envelope_write(pool, msg, msg->root, &s, &len) < 0 ||
	    bodystructure_write(pool, msg, false, &s, &len) < 0 ||
	    bodystructure_write(pool, msg, true, &s, &len) < 0)
		abort();
	envelopes(pool, msg, msg->root);
	decode_parts(pool, msg, msg->root);

	mime_search_fields(pool, msg, 4096, &sf);
	check_utf8(sf.subject, sf.subject != NULL ? strlen(sf.subject) : 0);
	check_utf8(sf.from, sf.from != NULL ? strlen(sf.from) : 0);
	check_utf8(sf.to, sf.to != NULL ? strlen(sf.to) : 0);
	check_utf8(sf.message_id, sf.message_id != NULL ? strlen(sf.message_id) : 0);
	check_utf8(sf.headers, sf.headers_len);
	check_utf8(sf.body, sf.body_len);
	if (sf.headers_len > 4096 || sf.body_len > 4096)
		abort();

	partmap_encode(pool, msg, &enc, &enc_len);
	if (partmap_decode(pool, enc, enc_len, &map, &error) < 0 ||
	    partmap_part_count(map) != msg->part_count || partmap_message_size(map) != size)
		abort();
	for (size_t i = 0; i < sizeof(odd_sections) / sizeof(odd_sections[0]); i++)
		check_section(map, size, odd_sections[i]);
	walk_sections(pool, map, size, msg->root, "", &budget);

	mime_header_filter(pool, data + msg->root->hdr_off, msg->root->hdr_len, names, 5, false,
	                   &out, &outlen);
	mime_header_filter(pool, data, size, names, 5, true, &out, &outlen);
	(void)mime_header_parse_date(data, size, NULL);
	s = mime_header_decode_words(pool, data, size, &len);
	check_utf8(s, len);

	/* The input as a stored partmap: refused or usable, never a crash. */
	if (partmap_decode(pool, data, size, &map, &error) == 0) {
		for (size_t i = 0; i < sizeof(odd_sections) / sizeof(odd_sections[0]); i++)
			check_section(map, partmap_message_size(map), odd_sections[i]);
	}
	pool_destroy(&pool);
	return 0;
}
