/* Store: changing the messages of a mailbox (STORE, COPY, MOVE, EXPUNGE,
 * CLOSE).
 *
 * Each function is one call of an SQL function of
 * schema/0006_flags_copy_expunge.sql (MOVE: 0010_uidplus_move.sql): one
 * round trip, one transaction. The callback runs after the transaction
 * committed (or failed), so a tagged OK sent from it is durable. UIDs are
 * given as an ascending array; the store sends them as ranges. Functions
 * return 0 when the request is on its way, or -1 with error_r (the callback
 * will not run). */
#ifndef MAILSTEAD_STORE_MESSAGES_H
#define MAILSTEAD_STORE_MESSAGES_H

#include <stdbool.h>
#include <stdint.h>

struct db;
struct store_changes;
struct store_sync;

/* Keywords one mailbox may list (its FLAGS response stays bounded). */
#define STORE_MAX_MAILBOX_KEYWORDS 256

/* Failure reasons given to callbacks (db_error_reason of the SQLSTATE);
 * NULL reason = internal or database failure. */
#define STORE_REASON_NOT_FOUND "not_found"
#define STORE_REASON_LIMIT "limit"
#define STORE_REASON_OVER_QUOTA "over_quota"

enum store_flags_mode {
	STORE_FLAGS_REPLACE = 0, /* FLAGS */
	STORE_FLAGS_ADD = 1,     /* +FLAGS */
	STORE_FLAGS_REMOVE = 2,  /* -FLAGS */
};

struct store_flags_row {
	uint32_t uid;
	uint32_t flags;       /* STORE_FLAG_* bits after the change */
	const char *keywords; /* space-separated, after the change */
	/* This call changed the row and another session had changed it too
	 * since the caller's view modseq: report it even with .SILENT. */
	bool changed_elsewhere;
	uint64_t modseq; /* the row's modseq after the call */
	/* Left alone: its modseq was above unchangedsince (then flags,
	 * keywords and modseq are its current ones). */
	bool failed;
};

struct store_flags_result {
	uint64_t modseq; /* the one new modseq, 0 when nothing changed */
	/* The mailbox's whole keyword list (space-separated) when this call
	 * added keywords to it, else NULL. */
	const char *mailbox_keywords;
	/* Addressed messages that exist: those considered (ascending uid),
	 * then those that failed the UNCHANGEDSINCE test (ascending uid). */
	const struct store_flags_row *rows;
	uint32_t nrows;
	/* The answer to req->sync, or NULL (not asked, or unreadable). */
	const struct store_changes *changes;
};

/* r is NULL on failure: reason (STORE_REASON_*, or NULL) and error (for the
 * log) say why. Everything is valid during the call only. */
typedef void store_flags_cb(void *ctx, const struct store_flags_result *r, const char *reason,
			    const char *error);

struct store_flags_req {
	int64_t account_id, mailbox_id;
	const uint32_t *uids; /* ascending */
	uint32_t nuids;       /* >= 1 */
	enum store_flags_mode mode;
	uint32_t flags;           /* STORE_FLAG_* bits */
	const char *const *keywords; /* nkeywords atoms, no duplicates */
	unsigned nkeywords;
	uint64_t since_modseq; /* the caller's view modseq */
	unsigned max_message_keywords;
	/* RFC 7162 §3.1.3 UNCHANGEDSINCE: only messages whose modseq is at
	 * most this are changed (with has_unchangedsince). */
	bool has_unchangedsince;
	uint64_t unchangedsince;
	/* Also read what changed in the mailbox, in the same transaction
	 * after the change (store.h), or NULL. */
	const struct store_sync *sync;
};

/* Changes flags and keywords of the messages (RFC 3501 §6.4.6). Reasons:
 * limit (too many keywords on a message or in the mailbox), not_found
 * (the mailbox is gone). */
int store_messages_flags(struct db *db, const struct store_flags_req *req, store_flags_cb *cb,
			 void *ctx, const char **error_r);

struct store_copy_result {
	int64_t dst_mailbox_id; /* 0 when nothing was copied */
	uint32_t dst_uidvalidity;
	const uint32_t *src_uids; /* ascending */
	const uint32_t *dst_uids; /* the copy of src_uids[i] */
	uint32_t n;
};

typedef void store_copy_cb(void *ctx, const struct store_copy_result *r, const char *reason,
			   const char *error);

/* Copies the messages of mailbox src_mailbox_id with the given UIDs to the
 * mailbox named dst_name (UTF-8 canonical; may be the source) (RFC 3501
 * §6.4.7). Reasons: not_found (no such target), over_quota (nothing
 * copied), limit (too many keywords in the target, UID space exhausted). */
int store_messages_copy(struct db *db, int64_t account_id, int64_t src_mailbox_id,
			const uint32_t *uids, uint32_t nuids, const char *dst_name,
			store_copy_cb *cb, void *ctx, const char **error_r);

/* Moves the messages of mailbox src_mailbox_id with the given UIDs to the
 * mailbox named dst_name (UTF-8 canonical; may be the source: new UIDs
 * there) in one transaction (RFC 6851, schema/0010_uidplus_move.sql): the
 * result is as for COPY, and the moved UIDs (src_uids) are expunged from the
 * source. Usage and quota do not change. Reasons as for COPY but never
 * over_quota. */
int store_messages_move(struct db *db, int64_t account_id, int64_t src_mailbox_id,
			const uint32_t *uids, uint32_t nuids, const char *dst_name,
			store_copy_cb *cb, void *ctx, const char **error_r);

/* uids: the expunged UIDs, ascending (n may be 0); NULL on failure.
 * changes: the answer to the sync asked for, or NULL. */
typedef void store_expunge_cb(void *ctx, const uint32_t *uids, uint32_t n,
			      const struct store_changes *changes, const char *reason,
			      const char *error);

/* Expunges the \Deleted messages of the mailbox (RFC 3501 §6.4.3); with
 * uids != NULL only those among them (UID EXPUNGE). With sync (or NULL)
 * also reads what changed, after the expunge in its transaction (store.h).
 * Reasons: not_found. */
int store_messages_expunge(struct db *db, int64_t account_id, int64_t mailbox_id,
			   const uint32_t *uids, uint32_t nuids, const struct store_sync *sync,
			   store_expunge_cb *cb, void *ctx, const char **error_r);

#endif
