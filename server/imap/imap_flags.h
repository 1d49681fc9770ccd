/* IMAP message flags: system flags as bits, keywords as atoms. */
#ifndef MAILSTEAD_IMAP_FLAGS_H
#define MAILSTEAD_IMAP_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct imap_arg;
struct pool;

#define IMAP_FLAG_SEEN 1
#define IMAP_FLAG_ANSWERED 2
#define IMAP_FLAG_FLAGGED 4
#define IMAP_FLAG_DELETED 8
#define IMAP_FLAG_DRAFT 16
#define IMAP_MAX_KEYWORDS 64      /* per message */
#define IMAP_MAX_KEYWORD_LEN 100

/* Appends "(\Seen ... kw1 kw2)" for bits, the space-separated keywords
 * string (may be NULL or empty) and recent. Returns 0 or -1 (limit). */
int imap_flags_format(struct buf *out, uint32_t bits, const char *keywords, bool recent);

/* Parses a flag list argument (a parenthesised list, or a single flag when
 * allow_single). System flags become bits; keywords (atoms, no '\') are
 * collected into *keywords_r as a NULL-terminated array from pool, without
 * duplicates (case-insensitive). \Recent is refused (RFC 3501 §2.3.2: it
 * cannot be set by a client). Returns 0 or -1 with error_r. */
int imap_flags_parse(struct pool *pool, const struct imap_arg *arg, bool allow_single,
		     uint32_t *bits_r, const char ***keywords_r, unsigned *nkeywords_r,
		     const char **error_r);

/* The FLAGS line of a mailbox: system flags plus its keywords. */
int imap_flags_mailbox(struct buf *out, const char *keywords);

#endif
