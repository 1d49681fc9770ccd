/* Search fields: the text of a message that IMAP SEARCH (RFC 3501 §6.4.4)
 * looks at, extracted once at APPEND/LMTP time for SQL to search.
 *
 * Every string is valid UTF-8 without NUL bytes (PostgreSQL text accepts
 * nothing else), RFC 2047 decoded, and at most max_text bytes long, cut at
 * a character boundary. Case folding is left to SQL. */
#ifndef MAILSTEAD_MIME_SEARCH_H
#define MAILSTEAD_MIME_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "mime_parse.h"
#include "pool.h"

#define MIME_SEARCH_DEFAULT_MAX_TEXT (1024 * 1024)

/* NULL means the message has no such header field ("SUBJECT \"\"" must
 * match only messages that have a Subject field). Repeated fields are
 * joined with "\n". Strings are owned by the pool given. */
struct mime_search_fields {
	char *subject; /* decoded, unfolded */
	/* Addresses as "Display Name <local@domain>", "local@domain" or, for
	 * a group, "Group Name: ...;", joined with ", "; names decoded. */
	char *from, *to, *cc, *bcc;
	char *message_id; /* last Message-ID, unfolded, white space trimmed */
	time_t date;      /* last Date: field, UTC; -1 when absent or unparsable */
	/* Every field of the top-level header as "Name: decoded value\n"
	 * (SEARCH HEADER, and TEXT together with body). */
	char *headers;
	/* SEARCH BODY/TEXT: the text parts, decoded from base64 or
	 * quoted-printable and converted from their charset, each followed by
	 * "\n", in order; the header of every attached message/rfc822 part is
	 * included as above. Non-text parts, preamble and epilogue are
	 * skipped. Unlike the reference server, a text part is searched even
	 * with an invalid Content-Type (RFC 2045 §5.2) or an unknown transfer
	 * encoding (its bytes as they are), and a multipart without a usable
	 * boundary (no body part found) is searched as text: RFC 3501 §6.4.4
	 * asks for the text in the body. */
	char *body;
	size_t headers_len, body_len;
	bool truncated; /* some field was cut at max_text */
};

/* Extracts the search fields of msg, each bounded by max_text bytes (0 =
 * MIME_SEARCH_DEFAULT_MAX_TEXT). Decoding is lenient (RFC 2045 §6.7, §6.8)
 * and only as much of a body as can still fit is decoded. Cannot fail. */
void mime_search_fields(struct pool *pool, const struct mime_message *msg, size_t max_text,
                        struct mime_search_fields *fields_r);

#endif
