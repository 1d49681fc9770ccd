/* Store: an account's quota and usage for the IMAP QUOTA extension
 * (RFC 9208). Limits are set by the operator (mailstead-admin); usage is
 * kept exact by the triggers of schema/0003_mail_core.sql in the same
 * transaction as every change, so reading it is one row. Like store.h,
 * functions return 0 when the request is on its way, or -1 with error_r
 * (the callback will not run). */
#ifndef MAILSTEAD_STORE_QUOTA_H
#define MAILSTEAD_STORE_QUOTA_H

#include <stdint.h>

struct db;

/* Limits of 0 mean unlimited. */
struct store_quota {
	uint64_t bytes_used, bytes_limit;       /* the account's */
	uint64_t messages_used, messages_limit; /* the account's */
	uint64_t domain_bytes_used;  /* all accounts of its domain together; only
				      * computed when domain_bytes_limit > 0 */
	uint64_t domain_bytes_limit; /* the domain's */
};

/* found: 1; 0 when a mailbox was named and does not exist (q is still
 * set); -1 error (q NULL, error says why). */
typedef void store_quota_cb(void *ctx, int found, const struct store_quota *q,
			    const char *error);

/* Reads the quota of the account and, with mailbox not NULL (a canonical
 * name), whether that mailbox exists. */
int store_quota_get(struct db *db, int64_t account_id, const char *mailbox, store_quota_cb *cb,
		    void *ctx, const char **error_r);

#endif
