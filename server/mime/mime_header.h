/* RFC 5322 / MIME header fields: iteration over a raw header block,
 * unfolding, RFC 2047 encoded-words, Content-Type style values with RFC 2231
 * parameters, dates, and the HEADER.FIELDS filter of FETCH.
 *
 * Every function works on raw bytes with explicit lengths: headers may hold
 * NUL and 8-bit bytes, and none of that may make a function fail. Results
 * are allocated from the pool given, or point into the caller's bytes where
 * a comment says so. */
#ifndef MAILSTEAD_MIME_HEADER_H
#define MAILSTEAD_MIME_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "pool.h"

/* One field of a header block. name/value point into the header. */
struct mime_header_field {
	const unsigned char *name; /* without trailing white space */
	size_t name_len;           /* 0: a line that is not a field (no colon) */
	/* After the colon and the white space that follows it on the first
	 * line, up to the field's final line ending; folding CRLFs are kept. */
	const unsigned char *value;
	size_t value_len;
	size_t off, len; /* the whole field, continuation lines and final line
	                    ending included, relative to the header start */
};

struct mime_header_iter {
	const unsigned char *data;
	size_t len, pos;
	bool done;
};

/* Starts iterating over the fields of hdr (len bytes; the blank line that
 * ends a header, and anything after it, is not returned). */
void mime_header_iter_init(struct mime_header_iter *iter, const unsigned char *hdr, size_t len);

/* Returns 1 and the next field in *field_r, or 0 at the end of the header. */
int mime_header_iter_next(struct mime_header_iter *iter, struct mime_header_field *field_r);

/* True when the field's name equals name, ignoring ASCII case. */
bool mime_header_field_is(const struct mime_header_field *field, const char *name);

/* Finds the first (last == false) or last field called name in hdr.
 * Returns 1 with *field_r, or 0 when there is none. */
int mime_header_find(const unsigned char *hdr, size_t len, const char *name, bool last,
                     struct mime_header_field *field_r);

/* Returns value with every CR and LF removed (RFC 5322 §2.2.3 unfolding,
 * keeping the white space of the folds), NUL-terminated, owned by pool.
 * *len_r gets the length (the copy may itself hold NUL bytes). */
char *mime_header_unfold(struct pool *pool, const unsigned char *value, size_t len, size_t *len_r);

/* Unfolds value and decodes the RFC 2047 encoded-words in it, returning
 * valid UTF-8 without NUL bytes (owned by pool, NUL-terminated, *len_r
 * bytes). White space between adjacent encoded-words is dropped (§6.2),
 * and the octets of adjacent words in the same charset are joined before
 * conversion, so a character split across two words survives. A word must
 * stand apart from other text (§5), may carry an RFC 2231 language
 * ("=?utf-8*en?q?...?="), and is left as it is when malformed. Raw 8-bit
 * text that is not UTF-8 becomes U+FFFD; unknown charsets are kept as
 * UTF-8 where valid. */
char *mime_header_decode_words(struct pool *pool, const unsigned char *value, size_t len,
                               size_t *len_r);

struct mime_param {
	char *name; /* NUL-terminated; as written (case kept) */
	size_t name_len;
	char *value; /* unquoted, unescaped, unfolded; may hold 8-bit */
	size_t value_len;
};

/* A parsed Content-Type (type/subtype; params) or Content-Disposition
 * (type only; subtype NULL) value. Strings are owned by the pool. */
struct mime_content {
	char *type; /* NULL when missing or invalid */
	size_t type_len;
	char *subtype; /* NULL when missing or invalid */
	size_t subtype_len;
	struct mime_param *params;
	unsigned int param_count;
};

/* Upper bound on parameters kept per field; more are dropped. Real mail
 * stays far below (a long RFC 2231 file name takes a few dozen pieces). */
#define MIME_HEADER_MAX_PARAMS 128

/* Parses a Content-Type value (RFC 2045 §5.1), leniently: comments and
 * white space anywhere, "a = b", a trailing ';', quoted values folded over
 * lines. A parameter without '=' is dropped; an unquoted value ends at
 * white space, ';', '"' or '(' ("name=a b" gives "a"). RFC 2231
 * continuations (name*0, name*1*, ...) are joined in numeric order into one
 * parameter at the place of the first piece, called name* if that piece was
 * extended (its charset'language' prefix and %-escapes are then kept).
 * Parameters containing '*' come after the others, sorted by name. At
 * most MIME_HEADER_MAX_PARAMS parameters are read, and when param_budget
 * is not NULL at most *param_budget, which is decreased by the number read.
 * Returns 0, or -1 when the type or subtype is not a token, in which case
 * *ct_r still holds what was parsed (RFC 2045 §5.2: the caller then uses
 * text/plain; charset=us-ascii). */
int mime_header_parse_content_type(struct pool *pool, const unsigned char *value, size_t len,
                                   unsigned int *param_budget, struct mime_content *ct_r);

/* Parses a Content-Disposition value (RFC 2183) the same way: type is the
 * disposition type (NULL if missing), subtype is NULL. */
void mime_header_parse_disposition(struct pool *pool, const unsigned char *value, size_t len,
                                   unsigned int *param_budget, struct mime_content *ct_r);

/* Returns the first parameter called exactly name (ASCII case ignored), or
 * NULL. */
const struct mime_param *mime_header_param_find(const struct mime_content *ct, const char *name);

/* Returns the value of parameter name decoded to UTF-8 (owned by pool,
 * NUL-terminated), or NULL if there is none: a plain value has its RFC 2047
 * encoded-words decoded; an extended one (name*, as joined above) has its
 * RFC 2231 charset'language' prefix and %-escapes decoded. */
char *mime_header_param_decode(struct pool *pool, const struct mime_content *ct, const char *name,
                               size_t *len_r);

/* Returns the first token of value after comments and white space (e.g.
 * a Content-Transfer-Encoding mechanism), pointing into value, with its
 * length in *len_r; NULL and 0 if there is none. */
const unsigned char *mime_header_first_token(const unsigned char *value, size_t len, size_t *len_r);

/* Splits a Content-Language value (RFC 3282) into its tags; returns their
 * number (at most max) with the pool-owned strings in langs (max slots). */
unsigned int mime_header_parse_language(struct pool *pool, const unsigned char *value, size_t len,
                                        char **langs, unsigned int max);

/* Parses an RFC 5322 §3.3 date-time, including the obsolete forms of §4.3
 * (2- and 3-digit years, zone names, comments and folding anywhere, no day
 * of week, no seconds) and the asctime order "Thu Feb 13 23:32:00 1969".
 * Returns the time as seconds since the epoch (UTC), or -1 when the value
 * is not a date. *tz_minutes_r (may be NULL) gets the zone offset; unknown
 * zone names count as +0000 (RFC 5322 §4.3 says -0000). */
time_t mime_header_parse_date(const unsigned char *value, size_t len, int *tz_minutes_r);

/* FETCH BODY[HEADER.FIELDS (names)] and, with exclude, HEADER.FIELDS.NOT
 * (RFC 3501 §6.4.5): the fields of hdr whose name is (not) in names (count
 * C strings, ASCII case ignored), whole with their continuation lines and
 * in their original order, followed by a blank line. Lines that are not
 * fields count as not matching. A last field without line ending gets one;
 * the blank line uses the header's own line ending (CRLF, or LF for a bare
 * LF message). *out_r is owned by pool; the function cannot fail. */
void mime_header_filter(struct pool *pool, const unsigned char *hdr, size_t len,
                        const char *const *names, size_t count, bool exclude, unsigned char **out_r,
                        size_t *outlen_r);

#endif
