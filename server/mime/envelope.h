/* IMAP ENVELOPE (RFC 3501 §7.4.2) of a message or of an encapsulated
 * message/rfc822 part, as a ready IMAP string for storage. */
#ifndef MAILSTEAD_ENVELOPE_H
#define MAILSTEAD_ENVELOPE_H

#include <stddef.h>

#include "buf.h"
#include "mime_parse.h"
#include "pool.h"

/* Upper bound on addresses (group markers included) in one ENVELOPE, and
 * in all the envelopes of one BODYSTRUCTURE together: the answer stays
 * proportional to the message even for a header of a million commas. */
#define ENVELOPE_MAX_ADDRESSES 10000

/* Writes the ENVELOPE of the message whose header is the header of part
 * (msg->root for the message itself, or the child of a MIME_PART_MESSAGE
 * part): "(date subject from sender reply-to to cc bcc in-reply-to
 * message-id)". Date, Subject, In-Reply-To and Message-ID come from the
 * last such field, unfolded (CRLF removed); subject and display names are
 * normalised as mime_imapstr_human() says; address fields that occur more
 * than once are concatenated; Sender and Reply-To default to From when
 * absent or empty. Encoded-words are left as they are (the client decodes).
 * Returns 0 with a NUL-terminated *out_r (pool) of *len_r bytes. The only
 * failure (-1) is an output too large to build, which the address bound
 * makes impossible in practice. */
int envelope_write(struct pool *pool, const struct mime_message *msg, const struct mime_part *part,
                   char **out_r, size_t *len_r);

/* The same, appended to b, for the BODYSTRUCTURE writer: hdr is the raw
 * header, budget the addresses still allowed (decreased). Returns 0 or -1
 * when b's limit was reached. */
int envelope_append(struct buf *b, struct pool *pool, const unsigned char *hdr, size_t hdr_len,
                    unsigned int *budget);

#endif
