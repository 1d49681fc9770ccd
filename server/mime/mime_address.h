/* RFC 5322 §3.4 address lists, parsed leniently (obsolete forms of §4.4,
 * comments, source routes, groups, missing parts) into the shape of the
 * IMAP ENVELOPE address structure (RFC 3501 §7.4.2). */
#ifndef MAILSTEAD_MIME_ADDRESS_H
#define MAILSTEAD_MIME_ADDRESS_H

#include <stddef.h>

#include "pool.h"

/* Placeholders for parts an address lacks (what Dovecot sends, and NIL
 * would mean group syntax). */
#define MIME_ADDRESS_MISSING_MAILBOX "MISSING_MAILBOX"
#define MIME_ADDRESS_MISSING_DOMAIN  "MISSING_DOMAIN"

/* One address, or a group marker: a group start has the group's name in
 * mailbox and domain NULL; a group end has mailbox and domain NULL. All
 * strings are NUL-terminated, owned by the pool, raw (not RFC 2047
 * decoded) and may hold 8-bit bytes. */
struct mime_address {
	struct mime_address *next;
	char *name; /* display name or, failing that, a comment; NULL if none */
	size_t name_len;
	char *route; /* "@a.example,@b.example" or NULL */
	size_t route_len;
	char *mailbox; /* local part, unquoted */
	size_t mailbox_len;
	char *domain;
	size_t domain_len;
};

/* Parses an address-list field value (folding allowed). Never fails:
 * whatever cannot be read as an address is skipped. At most *budget
 * entries are returned (group ends excepted) and *budget is decreased by
 * the number returned, so that one budget can bound all lists of a message.
 * Returns the first entry, or NULL for an empty list. */
struct mime_address *mime_address_parse(struct pool *pool, const unsigned char *value, size_t len,
                                        unsigned int *budget);

#endif
