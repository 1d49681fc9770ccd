/* Mailbox names between the wire (modified UTF-7, RFC 3501 §5.1.3) and the
 * database (UTF-8, '/' as hierarchy delimiter, INBOX spelled "INBOX"). */
#ifndef MAILSTEAD_MAILBOX_NAME_H
#define MAILSTEAD_MAILBOX_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct imap_arg;
struct pool;

#define MAILBOX_NAME_MAX 1024 /* bytes of UTF-8 */
#define MAILBOX_DEPTH_MAX 32  /* hierarchy levels */

/* Decodes a mailbox name argument to canonical UTF-8: INBOX in any case
 * (and "inbox/child") becomes "INBOX"; refuses empty names, empty levels
 * ("a//b", "/a", "a/"), control characters, invalid mUTF-7, names too long
 * or too deep. Returns 0 or -1 with error_r. */
int mailbox_name_from_arg(struct pool *pool, const struct imap_arg *arg, char **name_r,
			  const char **error_r);

/* Appends name as an IMAP astring in modified UTF-7 (quoted or literal). */
int mailbox_name_write(struct buf *out, struct pool *pool, const char *utf8);

/* True for "INBOX". */
bool mailbox_name_is_inbox(const char *utf8);

#endif
