/* MIME structure of a message (RFC 2045, RFC 2046), parsed once when the
 * message enters the store (DESIGN.md §3 "Parse once").
 *
 * mime_parse() never fails: a malformed message still gets a structure
 * (RFC 2045 defaults, missing blank line, missing or unmatched boundaries,
 * bare LF line endings, NUL and 8-bit bytes, a missing close delimiter).
 * It reads each line once and compares it only against the boundaries of
 * the multiparts that are open, innermost first, so the work is linear in
 * the message size times the nesting depth, which the limits bound.
 *
 * Offsets and sizes are octets of the message as stored. A message with
 * bare LF line endings is described as it is: its line breaks are one
 * octet (the reference server converted such a message to CRLF first).
 *
 * The part tree is exposed read-only (like a config table) because the
 * ENVELOPE, BODYSTRUCTURE, partmap and search modules all walk it; nothing
 * outside server/mime should need its fields. */
#ifndef MAILSTEAD_MIME_PARSE_H
#define MAILSTEAD_MIME_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "mime_decode.h"
#include "mime_header.h"
#include "pool.h"

#define MIME_DEFAULT_MAX_DEPTH 50
#define MIME_DEFAULT_MAX_PARTS 10000
/* Content-Type and Content-Disposition parameters kept per message: more
 * are dropped, so that memory stays proportional to the message. */
#define MIME_MAX_PARAMS 100000
/* max_depth is clamped to this: the writers recurse once per level. */
#define MIME_MAX_DEPTH_CAP 500

struct mime_limits {
	/* A multipart or message/rfc822 part this deep (the message is depth
	 * 0) is not looked into: it becomes an opaque leaf. */
	unsigned int max_depth;
	/* Once the tree has this many parts, further delimiters are content
	 * and message/rfc822 parts stay opaque. (Made-up parts, below, may
	 * add at most one part per multipart beyond it.) */
	unsigned int max_parts;
};

enum mime_part_kind {
	MIME_PART_LEAF,
	MIME_PART_MULTIPART, /* children are body parts 1..n */
	MIME_PART_MESSAGE,   /* message/rfc822: one child, the encapsulated message */
};

enum mime_part_flag {
	/* Made up, as the reference server does, so that every multipart has a
	 * body part: for a multipart without a usable boundary (none, empty,
	 * or only boundary*=) or without any body part. Empty, text/plain. */
	MIME_PART_FLAG_SYNTHETIC = 1 << 0,
	/* Content-Type present but not type/subtype: RFC 2045 §5.2 default
	 * text/plain; charset=us-ascii applied, its parameters dropped. */
	MIME_PART_FLAG_CT_INVALID = 1 << 1,
	/* A multipart or message/rfc822 not looked into: depth or part limit,
	 * or a message/rfc822 in base64/quoted-printable (RFC 2046 §5.2.1
	 * forbids that; offsets into the raw message cannot describe the
	 * decoded inner parts). */
	MIME_PART_FLAG_OPAQUE = 1 << 2,
	/* The header was not ended by a blank line (RFC 3501 §6.4.5 allows
	 * BODY[HEADER] without one then). */
	MIME_PART_FLAG_NO_BLANK_LINE = 1 << 3,
	/* A multipart without a usable boundary: its body is all preamble. */
	MIME_PART_FLAG_NO_BOUNDARY = 1 << 4,
};

enum mime_binary_status {
	MIME_BINARY_OK,          /* binary_size is valid */
	MIME_BINARY_UNKNOWN_CTE, /* RFC 3516: NO [UNKNOWN-CTE] */
	MIME_BINARY_INVALID,     /* broken base64/QP: NO [UNKNOWN-CTE] too */
};

/* One part. For a message/rfc822 part P the header and body are P's MIME
 * header and the whole encapsulated message; its child C has the inner
 * message's header and body. For the root the header is the message
 * header. Offsets are octets into the message as stored; the header
 * includes its terminating blank line. Strings are pool-owned, unfolded,
 * as written (case kept), NUL-terminated; NULL means the field is absent. */
struct mime_part {
	struct mime_part *parent, *children, *next;
	unsigned int child_count;
	unsigned int depth;
	enum mime_part_kind kind;
	unsigned int flags; /* enum mime_part_flag */

	size_t hdr_off, hdr_len;
	size_t body_off, body_len;
	size_t body_lines; /* LF octets in the body (RFC 3501 body-fld-lines) */

	/* Content-Type with defaults applied (text/plain, or message/rfc822
	 * inside multipart/digest): never NULL. params as written. */
	const char *type, *subtype;
	struct mime_param *params;
	unsigned int param_count;

	const char *cte; /* the mechanism token as written, NULL if absent */
	enum mime_cte cte_kind;
	const char *id, *description, *md5, *location;
	size_t id_len, description_len, md5_len, location_len;
	struct mime_content disposition; /* type NULL if absent */
	char **languages;
	unsigned int language_count;

	/* Size of the part's body after Content-Transfer-Encoding decoding
	 * (RFC 3516 BINARY.SIZE). Multipart and message parts count as
	 * identity-encoded (RFC 2045 §6.4), so theirs is body_len. */
	enum mime_binary_status binary_status;
	size_t binary_size;
};

struct mime_message {
	const unsigned char *data; /* the caller's bytes: must outlive this */
	size_t len;
	struct mime_part *root;
	unsigned int part_count;
};

/* Parses the len bytes at data (kept, not copied: they must outlive the
 * result) with the given limits (NULL for the defaults). Returns the part
 * tree, allocated from pool; never NULL. */
struct mime_message *mime_parse(struct pool *pool, const unsigned char *data, size_t len,
                                const struct mime_limits *limits);

/* True when the part's type is type and, unless subtype is NULL, its
 * subtype is subtype (ASCII case ignored). */
bool mime_part_is(const struct mime_part *part, const char *type, const char *subtype);

#endif
