/* Modified UTF-7 (RFC 3501 §5.1.3) for mailbox names.
 *
 * Clients that have not enabled UTF8=ACCEPT name mailboxes in modified UTF-7;
 * we store names as UTF-8. Both directions accept only canonical input, so
 * that one mailbox has exactly one spelling on the wire: a client cannot
 * reach "ä" through two different byte strings, which matters for access
 * checks and for duplicate detection. */
#ifndef MAILSTEAD_MUTF7_H
#define MAILSTEAD_MUTF7_H

#include <stddef.h>

struct pool;

/* Decodes the len bytes of modified UTF-7 at in into a NUL-terminated UTF-8
 * string allocated from pool (*out_r). Returns 0, or -1 (*out_r untouched)
 * when the input is not canonical modified UTF-7:
 *  - an octet outside printable US-ASCII (0x20-0x7e) outside a shifted
 *    sequence, an unterminated '&', a character outside the modified BASE64
 *    alphabet (A-Z a-z 0-9 + ,) inside one;
 *  - a shifted sequence that encodes a printable US-ASCII character (they
 *    must represent themselves, '&' as "&-"), or U+0000;
 *  - a non-empty shifted sequence right after another one (they should have
 *    been one), a lone or reversed surrogate, leftover bits that are not
 *    zero or that make up a whole BASE64 character. */
int mutf7_to_utf8(struct pool *pool, const char *in, size_t len, char **out_r);

/* Encodes the len bytes of UTF-8 at in as modified UTF-7, a NUL-terminated
 * string allocated from pool (*out_r). Characters beyond U+FFFF become
 * surrogate pairs. Returns 0, or -1 (*out_r untouched) when the input is not
 * valid UTF-8 (overlong forms, surrogates, beyond U+10FFFF, truncated
 * sequences) or contains NUL. */
int mutf7_from_utf8(struct pool *pool, const char *in, size_t len, char **out_r);

#endif
