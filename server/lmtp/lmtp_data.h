/* The message content of an LMTP transaction: an incremental decoder for
 * DATA (RFC 5321 §4.1.1.4, §4.5.2) and BDAT chunks (RFC 3030).
 *
 * Pure: it is fed whatever bytes the connection has, in any split, and
 * builds the message as it will be stored. Resumable after any byte.
 *
 * What it does to the bytes, and why:
 * - DATA ends at a line holding only "." (RFC 5321 §4.1.1.4); a leading dot
 *   of any other line is removed (dot-unstuffing, §4.5.2). A line ends at
 *   LF, with or without CR before it, so ".\n" ends DATA too (clients that
 *   send bare LF would otherwise never finish).
 * - Bare LF becomes CRLF: IMAP serves messages with CRLF line ends
 *   (RFC 3501 §2.3.1's message texts are RFC 5322, whose lines end in
 *   CRLF), and counting octets and lines for BODYSTRUCTURE needs one
 *   convention. A CR not followed by LF is kept as it is.
 * - NUL bytes: RFC 5322 text never contains them and IMAP literals cannot
 *   carry them (RFC 3501 §9 CHAR8 is %x01-ff), yet a message that contains
 *   one should not be lost. Policy LMTP_NUL_REPLACE (what the server uses)
 *   stores 0x80 instead, which every client shows as a replacement
 *   character; LMTP_NUL_REJECT fails the message (554 5.6.0) and
 *   LMTP_NUL_KEEP stores it as is.
 * - Lines longer than RFC 5321 §4.5.3.1.6's 1000 octets are accepted and
 *   kept whole (the RFC asks receivers to be liberal here; rewrapping would
 *   break signatures); they are only counted.
 * - Size: at most max_size octets are kept (the SIZE the server announces).
 *   Past it the decoder stops storing but still reads up to the end of the
 *   DATA, so the session can answer 552 5.3.4 and stay in step with the
 *   client.
 * The same rules, without the dot handling, apply to BDAT chunks (a CR at
 * the end of one chunk and LF at the start of the next are one CRLF). */
#ifndef MAILSTEAD_LMTP_DATA_H
#define MAILSTEAD_LMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>

struct lmtp_data;

enum lmtp_data_mode {
	LMTP_DATA_DOT,   /* DATA: dot-terminated, dot-stuffed */
	LMTP_DATA_CHUNK, /* BDAT: raw octets, the session counts the chunks */
};

enum lmtp_nul_policy {
	LMTP_NUL_REPLACE, /* NUL is stored as 0x80 */
	LMTP_NUL_REJECT,  /* the message fails with LMTP_DATA_HAS_NUL */
	LMTP_NUL_KEEP,
};

enum lmtp_data_result {
	LMTP_DATA_MORE, /* every byte given was consumed, the message goes on */
	LMTP_DATA_DONE, /* DATA's terminating line was consumed */
};

enum lmtp_data_status {
	LMTP_DATA_OK,
	LMTP_DATA_TOO_BIG, /* more than max_size octets */
	LMTP_DATA_HAS_NUL, /* a NUL under LMTP_NUL_REJECT */
};

/* Lines of more than this many octets (CRLF excluded) are counted. */
#define LMTP_DATA_LONG_LINE 998

struct lmtp_data_stats {
	size_t size;       /* octets of the decoded message, also past the limit */
	size_t bare_lf;    /* LF without CR, turned into CRLF */
	size_t nuls;       /* NUL bytes seen */
	size_t long_lines; /* lines longer than LMTP_DATA_LONG_LINE */
	size_t longest;    /* the longest line, CRLF excluded */
};

/* Returns a new decoder (heap; lmtp_data_destroy frees it). max_size >= 1. */
struct lmtp_data *lmtp_data_create(enum lmtp_data_mode mode, size_t max_size,
				   enum lmtp_nul_policy nul);

void lmtp_data_destroy(struct lmtp_data **d_r);

/* Decodes in (len bytes). In LMTP_DATA_DOT mode it stops right after the
 * terminating line and returns DONE; *used_r says how many bytes it took
 * (the rest belongs to the next command). In LMTP_DATA_CHUNK mode it takes
 * every byte and returns MORE. Calling it after DONE is a panic. */
enum lmtp_data_result lmtp_data_feed(struct lmtp_data *d, const void *in, size_t len,
				     size_t *used_r);

/* The content is complete (BDAT LAST): a CR left pending at the very end
 * is kept as it is. Not needed after DONE. */
void lmtp_data_finish(struct lmtp_data *d);

enum lmtp_data_status lmtp_data_status(const struct lmtp_data *d);
const struct lmtp_data_stats *lmtp_data_stats(const struct lmtp_data *d);

/* Takes the decoded message (status LMTP_DATA_OK only, after DONE or
 * finish): returns a malloc'd buffer the caller frees (NULL for an empty
 * message) and its length in *len_r. The decoder is left empty. */
unsigned char *lmtp_data_take(struct lmtp_data *d, size_t *len_r);

#endif
