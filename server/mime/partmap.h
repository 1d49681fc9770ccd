/* Partmap: the MIME part tree reduced to what FETCH needs to find a
 * section in the raw message without parsing it again (DESIGN.md §3).
 *
 * Encoded once at APPEND/LMTP time (a few bytes per part, stored as a
 * bytea next to the message); decoded at FETCH time by a process that has
 * only the stored bytes of the map, and asked "where is BODY[x]".
 *
 * Format (version 1). Integers are unsigned LEB128 varints (7 bits per
 * byte, low group first, high bit = more; at most 10 bytes).
 *   u8     version = 1
 *   varint message size (octets as stored)
 *   varint part count N (>= 1)
 *   N parts in pre-order (a part, then its children in order):
 *     u8     flags: bits 0-1 kind (0 leaf, 1 multipart, 2 message/rfc822
 *            with its encapsulated message as the one child),
 *            bits 2-3 transfer encoding (0 identity, 1 base64,
 *            2 quoted-printable, 3 unknown), bits 4-5 BINARY.SIZE status
 *            (enum mime_binary_status), bits 6-7 zero
 *     varint header offset minus the previous part's header offset
 *            (pre-order never goes backwards; the root's is 0)
 *     varint header length (its blank line included)
 *     varint body offset minus (header offset + header length)
 *     varint body length
 *     varint child count                 (multipart only)
 *     varint decoded size                (base64/QP with status OK only;
 *                                         otherwise it is the body length)
 * Decoding checks every offset against the message size and the tree
 * shape against the count, so a corrupt map is refused, never trusted. */
#ifndef MAILSTEAD_PARTMAP_H
#define MAILSTEAD_PARTMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "mime_decode.h"
#include "mime_parse.h"
#include "pool.h"

#define PARTMAP_VERSION 1

struct partmap;

/* What the server does with the range before sending it. */
enum partmap_filter {
	PARTMAP_FILTER_NONE,
	PARTMAP_FILTER_FIELDS,     /* HEADER.FIELDS: mime_header_filter() */
	PARTMAP_FILTER_FIELDS_NOT, /* HEADER.FIELDS.NOT: the same, exclude */
};

struct partmap_section {
	size_t off, len; /* octets of the raw message */
	enum partmap_filter filter;
	/* Set for "" and for a part number without suffix, the sections
	 * BINARY[] and BINARY.SIZE[] accept (RFC 3516): */
	bool is_part;
	enum mime_cte cte; /* MIME_CTE_7BIT for identity encodings */
	enum mime_binary_status binary_status;
	/* Valid when binary_status is MIME_BINARY_OK. A multipart or
	 * message/rfc822 part is identity-encoded (RFC 2045 §6.4): its
	 * BINARY is its raw body and this is that size (RFC 3516 §4.2 wants
	 * BINARY.SIZE to be what BINARY sends; the reference server's numbers
	 * for such parts match neither). */
	size_t binary_size;
};

/* Serialises msg's part tree. Returns the encoding (owned by pool) in
 * *data_r and *len_r; cannot fail. */
void partmap_encode(struct pool *pool, const struct mime_message *msg, unsigned char **data_r,
                    size_t *len_r);

/* Rebuilds a map from its encoding. Returns 0 with *map_r (pool), or -1
 * with *error_r (static text) when the data is not a valid version-1 map. */
int partmap_decode(struct pool *pool, const unsigned char *data, size_t len, struct partmap **map_r,
                   const char **error_r);

/* Size of the message the map describes (RFC822.SIZE). */
size_t partmap_message_size(const struct partmap *map);

/* Number of parts in the map (the message itself included). */
unsigned int partmap_part_count(const struct partmap *map);

/* Finds a FETCH BODY[section] (RFC 3501 §6.4.5): section is the text
 * between the brackets without a HEADER.FIELDS name list, e.g. "",
 * "HEADER", "TEXT", "1", "1.2", "2.MIME", "3.HEADER", "3.TEXT",
 * "4.1.HEADER.FIELDS", "4.1.HEADER.FIELDS.NOT" (keywords in any case).
 * Part numbers follow RFC 3501: part 1 of a message that is not multipart
 * is its body; inside a message/rfc822 part the numbers go on in the
 * encapsulated message; HEADER and TEXT after a number need a
 * message/rfc822 part and give its encapsulated header and text; MIME
 * gives the part's own MIME header (the message header for part 1 of a
 * non-multipart message). Returns 1 with *sec_r, 0 when the section does
 * not exist in this message, -1 when section is not valid syntax. */
int partmap_find(const struct partmap *map, const char *section, struct partmap_section *sec_r);

#endif
