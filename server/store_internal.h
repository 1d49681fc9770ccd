/* Shared between the store's files (store*.c) only. */
#ifndef MAILSTEAD_STORE_INTERNAL_H
#define MAILSTEAD_STORE_INTERNAL_H

#include <stdint.h>

#include "db.h"

#define STORE_MAX_STATEMENTS 256

struct buf;

/* Appends uids (ascending) to lo and hi as two SQL array literals of range
 * bounds: runs of consecutive UIDs become one range, so a whole mailbox is
 * usually a few ranges (mail_uids() in schema/0006 expands them). */
void store_uid_ranges(const uint32_t *uids, uint32_t n, struct buf *lo, struct buf *hi);

struct store_sync;
struct store_changes;
struct store_change;

/* The mailbox_changes statement of a store_sync, for a request that
 * carries it after its own statements; q points into a. */
struct store_sync_query {
	char acc[24], mb[24], ms[24];
	const char *vals[4];
};
void store_sync_query(struct store_sync_query *a, int64_t account_id, const struct store_sync *sync,
		      struct db_query *q);

/* Parses a mailbox_changes result into c. Returns 0 (the caller frees
 * *changed_r and *expunged_r after using c), or -1 when res is not a
 * usable result (failed, aborted). */
int store_sync_parse(PGresult *res, struct store_changes *c, struct store_change **changed_r,
		     uint32_t **expunged_r);

/* Statement groups, one per store_*.c file; store.c prepares them all. */
extern const struct db_statement store_mailbox_statements[];
extern const unsigned store_mailbox_nstatements;
extern const struct db_statement store_mailboxes_statements[];
extern const unsigned store_mailboxes_nstatements;
extern const struct db_statement store_messages_statements[];
extern const unsigned store_messages_nstatements;
extern const struct db_statement store_append_statements[];
extern const unsigned store_append_nstatements;
extern const struct db_statement store_fetch_statements[];
extern const unsigned store_fetch_nstatements;
extern const struct db_statement store_search_statements[];
extern const unsigned store_search_nstatements;
extern const struct db_statement store_delivery_statements[];
extern const unsigned store_delivery_nstatements;
extern const struct db_statement store_quota_statements[];
extern const unsigned store_quota_nstatements;

#endif
