/* IMAP BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, formal syntax §9) of a
 * parsed message, as ready IMAP strings for storage.
 *
 * Matches the reference answers of the shared corpus (Dovecot 2.3) byte for
 * byte, except where those violate RFC 2045 §5.2 (an invalid Content-Type
 * such as "text; charset=us-ascii" or "/plain" is text/plain;
 * charset=us-ascii here, not ("" "" ...)). Conventions copied from the
 * reference: case of types, subtypes, parameter names and encodings kept
 * as written; text parts without a charset get "charset" "us-ascii"
 * appended to their parameters; RFC 2231 continuations joined but not
 * decoded; a message/rfc822 part that is not looked into (base64, limits)
 * gets an all-NIL envelope and an empty text/plain body; message/global is
 * a basic part. */
#ifndef MAILSTEAD_BODYSTRUCTURE_H
#define MAILSTEAD_BODYSTRUCTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "mime_parse.h"
#include "pool.h"

/* Writes BODY (extended == false: no extension data) or BODYSTRUCTURE
 * (extended: body-ext-1part md5, disposition, language, location and
 * body-ext-mpart parameters, disposition, language, location) of msg.
 * Returns 0 with a NUL-terminated *out_r (pool) of *len_r bytes, or -1 if
 * the output could not be built (it is bounded by the message size and
 * ENVELOPE_MAX_ADDRESSES, so in practice never). */
int bodystructure_write(struct pool *pool, const struct mime_message *msg, bool extended,
                        char **out_r, size_t *len_r);

#endif
