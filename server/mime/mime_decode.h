/* Content-Transfer-Encoding decoding (RFC 2045 §6) and conversion of text
 * to UTF-8 (glibc iconv).
 *
 * Two decoding modes: strict, for FETCH BINARY (RFC 3516), where broken data
 * must be reported rather than guessed at; and lenient, for SEARCH text,
 * which follows the robustness advice of RFC 2045 §6.7 and §6.8 and never
 * fails. Everything that produces text for PostgreSQL goes through the
 * UTF-8 sanitiser: the output is always valid UTF-8 without NUL bytes. */
#ifndef MAILSTEAD_MIME_DECODE_H
#define MAILSTEAD_MIME_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "pool.h"

enum mime_cte {
	MIME_CTE_7BIT, /* also an absent or empty field (RFC 2045 §6.1) */
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_BASE64,
	MIME_CTE_QP,
	MIME_CTE_UNKNOWN, /* x-uuencode, "7-bit", ...: RFC 3516 UNKNOWN-CTE */
};

/* Classifies a Content-Transfer-Encoding mechanism token (case-insensitive;
 * surrounding white space ignored; len 0 means 7bit). */
enum mime_cte mime_decode_cte_parse(const char *name, size_t len);

/* True for 7bit, 8bit and binary: the stored bytes are the content. */
bool mime_decode_cte_is_identity(enum mime_cte cte);

/* Strict decoded size of data in the given encoding, without allocating:
 * returns 0 with *size_r, or -1 when the encoding is unknown or the data is
 * not valid in it (see mime_decode_part for what counts as invalid). */
int mime_decode_size(enum mime_cte cte, const unsigned char *data, size_t len, size_t *size_r);

/* Strict decoding for FETCH BINARY: returns 0 with *out_r (owned by pool,
 * NUL-terminated for convenience, *outlen_r bytes) or -1 with *error_r (a
 * static string) when the encoding is unknown or the data is broken, so that
 * the server answers NO [UNKNOWN-CTE] (RFC 3516 §4.2). Invalid means: for
 * base64 a final quantum that is incomplete or unpadded, or alphabet
 * characters after the padding (characters outside the alphabet are
 * skipped, RFC 2045 §6.8); for quoted-printable a '=' followed by neither
 * two hex digits nor the end of the line. Identity encodings return a copy. */
int mime_decode_part(struct pool *pool, enum mime_cte cte, const unsigned char *data, size_t len,
                     unsigned char **out_r, size_t *outlen_r, const char **error_r);

/* Lenient decoding: never fails. Base64 skips what is not in the alphabet
 * and decodes an unpadded tail; quoted-printable keeps an invalid '=' as is
 * (RFC 2045 §6.7 note 1). out must have room for len bytes (decoded data is
 * never longer than its encoding). Returns the number of bytes written. */
size_t mime_decode_base64_lenient(const unsigned char *in, size_t len, unsigned char *out);
size_t mime_decode_qp_lenient(const unsigned char *in, size_t len, unsigned char *out);

/* Appends len bytes of text in the given charset (name of charset_len bytes,
 * as in a MIME parameter; NULL or unknown to iconv = treat as UTF-8) to b as
 * valid UTF-8: bytes that are invalid in the charset become U+FFFD, NUL
 * bytes are dropped. Honours b's limit by truncating at a character
 * boundary. Returns 0, or -1 when the limit cut the text short. */
int mime_decode_to_utf8(struct buf *b, const char *charset, size_t charset_len,
                        const unsigned char *data, size_t len);

/* Appends data to b as valid UTF-8 without NUL: each maximal invalid
 * subsequence becomes U+FFFD. Limit handling as mime_decode_to_utf8. */
int mime_decode_utf8_append(struct buf *b, const unsigned char *data, size_t len);

/* For cutting valid UTF-8 data of len bytes to at most max bytes: returns
 * the largest n <= max such that data[n] does not continue a sequence. */
size_t mime_decode_utf8_cut(const unsigned char *data, size_t len, size_t max);

#endif
