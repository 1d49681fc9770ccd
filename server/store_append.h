/* Store: messages enter a mailbox (IMAP APPEND and MULTIAPPEND).
 *
 * One call of mail_append_batch (schema/0010_uidplus_move.sql): one round
 * trip, one transaction that stores each content once per account (dedup
 * by SHA-256), its chunks, and the mailbox rows with their flags -- all of
 * the messages or none (RFC 3502). The callback runs after the commit (or
 * the failure): a reply sent from it is durable. */
#ifndef MAILSTEAD_STORE_APPEND_H
#define MAILSTEAD_STORE_APPEND_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct db;
struct message_ingest;
struct store_changes;
struct store_sync;

/* Failure reasons (db_error_reason of the SQLSTATE); NULL = internal. */
#define STORE_APPEND_NOT_FOUND  "not_found"  /* no such mailbox */
#define STORE_APPEND_NOSELECT   "forbidden"  /* a \Noselect name */
#define STORE_APPEND_OVER_QUOTA "over_quota" /* nothing was stored */
#define STORE_APPEND_LIMIT      "limit"      /* keywords, UID space */

/* One message of the request. */
struct store_append_msg {
	uint32_t flags;              /* STORE_FLAG_* bits */
	const char *const *keywords; /* nkeywords atoms, no duplicates */
	unsigned nkeywords;
	bool has_internaldate; /* else: now */
	time_t internaldate;
	const struct message_ingest *msg;
};

struct store_append_req {
	int64_t account_id;
	const char *mailbox; /* canonical UTF-8 name */
	const struct store_append_msg *msgs;
	unsigned nmsgs; /* >= 1 */
	unsigned max_mailbox_keywords;
	/* Also read what changed in this mailbox, in the same transaction
	 * after the append (store.h), or NULL. */
	const struct store_sync *sync;
};

struct store_append_result {
	int64_t mailbox_id;
	uint32_t uidvalidity;
	/* Message i of the request got UID first_uid + i (consecutive UIDs,
	 * in request order). */
	uint32_t first_uid;
	unsigned count;
	/* The mailbox's whole keyword list (space-separated) when this append
	 * added keywords to it, else NULL. */
	const char *mailbox_keywords;
	/* The answer to req->sync, or NULL (not asked, or unreadable). */
	const struct store_changes *changes;
};

/* r is NULL on failure: reason (STORE_APPEND_*, or NULL) and error (for
 * the log) say why. Valid during the call only. */
typedef void store_append_cb(void *ctx, const struct store_append_result *r, const char *reason,
                             const char *error);

/* Stores req's messages, all or none. Everything in req is copied before
 * this returns (the caller may free the message bytes at once). Returns 0,
 * or -1 with error_r when the database is unavailable or the request is
 * too large for one statement (cb will not run). */
int store_append(struct db *db, const struct store_append_req *req, store_append_cb *cb, void *ctx,
                 const char **error_r);

#endif
