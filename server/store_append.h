/* Store: a message enters a mailbox (IMAP APPEND; LMTP delivery later).
 *
 * One call of mail_append (schema/0005_append_fetch.sql): one round trip,
 * one transaction that stores the content once per account (dedup by
 * SHA-256), its chunks, and the mailbox row with its flags. The callback
 * runs after the commit (or the failure): a reply sent from it is
 * durable. */
#ifndef MAILSTEAD_STORE_APPEND_H
#define MAILSTEAD_STORE_APPEND_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct db;
struct message_ingest;

/* Failure reasons (db_error_reason of the SQLSTATE); NULL = internal. */
#define STORE_APPEND_NOT_FOUND  "not_found"  /* no such mailbox */
#define STORE_APPEND_NOSELECT   "forbidden"  /* a \Noselect name */
#define STORE_APPEND_OVER_QUOTA "over_quota" /* nothing was stored */
#define STORE_APPEND_LIMIT      "limit"      /* keywords, UID space */

struct store_append_req {
	int64_t account_id;
	const char *mailbox;         /* canonical UTF-8 name */
	uint32_t flags;              /* STORE_FLAG_* bits */
	const char *const *keywords; /* nkeywords atoms, no duplicates */
	unsigned nkeywords;
	bool has_internaldate; /* else: now */
	time_t internaldate;
	unsigned max_mailbox_keywords;
	const struct message_ingest *msg;
};

struct store_append_result {
	int64_t mailbox_id;
	uint32_t uidvalidity;
	uint32_t uid;
	/* The mailbox's whole keyword list (space-separated) when this append
	 * added keywords to it, else NULL. */
	const char *mailbox_keywords;
	int64_t message_id;
	bool deduplicated; /* the account already had this content */
};

/* r is NULL on failure: reason (STORE_APPEND_*, or NULL) and error (for
 * the log) say why. Valid during the call only. */
typedef void store_append_cb(void *ctx, const struct store_append_result *r, const char *reason,
                             const char *error);

/* Stores req->msg. Everything in req is copied before this returns (the
 * caller may free the message bytes at once). Returns 0, or -1 with
 * error_r when the database is unavailable (cb will not run). */
int store_append(struct db *db, const struct store_append_req *req, store_append_cb *cb, void *ctx,
                 const char **error_r);

#endif
