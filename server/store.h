/* The mail store: every database access of mailstead-imapd.
 *
 * Only this module (store*.c) includes libpq. Each function submits one
 * request (usually one call of an SQL function of schema/, one round trip,
 * one transaction) and reports through a typed callback on the worker's
 * loop. Functions return 0 when the request is on its way, or -1 with
 * error_r when the database is unavailable (the callback will not run). */
#ifndef MAILSTEAD_STORE_H
#define MAILSTEAD_STORE_H

#include <stdbool.h>
#include <stdint.h>

struct config;
struct db;
struct event_base;

/* Creates the worker's connection pool with every statement prepared. */
struct db *store_db_create(struct event_base *base, const struct config *cfg,
			   const char **error_r);

/* -- authentication ---------------------------------------------------- */

struct store_auth {
	int64_t account_id;
	int64_t domain_id;
	const char *address;       /* canonical login name */
	const char *password_hash; /* valid during the callback only */
	bool active;               /* account and domain both active */
	unsigned ip_failures;      /* failed logins in the current window */
	unsigned user_failures;
};

/* found: 1 found, 0 no such account (a still carries the failure counts),
 * -1 error (a is NULL, error says why). */
typedef void store_auth_cb(void *ctx, int found, const struct store_auth *a, const char *error);

/* Looks up a login name (a normalised address) among accounts, with the
 * recent failure counts of the client's IP and of the name (shared by all
 * workers and hosts, schema 0008). */
int store_auth_lookup(struct db *db, const char *address, const char *ip, store_auth_cb *cb,
		      void *ctx, const char **error_r);

/* Counts a failed login against ip and address (fire and forget). */
void store_auth_failure(struct db *db, const char *address, const char *ip);

/* Drops failure counters of past windows (fire and forget). */
void store_auth_expire(struct db *db);

#endif

/* -- selected mailbox ------------------------------------------------------ */

struct store_selected {
	int64_t mailbox_id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	const char *keywords; /* space-separated keywords used in the mailbox */
	uint32_t recent_from; /* uids >= this are \Recent for this session */
	bool noselect;
	const uint32_t *uids; /* ascending */
	uint32_t count;
	uint32_t first_unseen_uid; /* 0 = none */
};

/* found: 1, 0 no such mailbox, -1 error. Valid during the call only. */
typedef void store_select_cb(void *ctx, int found, const struct store_selected *m,
			     const char *error);

/* Reads a mailbox for SELECT (claim_recent) or EXAMINE in one snapshot. */
int store_mailbox_select(struct db *db, int64_t account_id, const char *name, bool claim_recent,
			 store_select_cb *cb, void *ctx, const char **error_r);

struct store_change {
	uint32_t uid;
	uint32_t flags;       /* STORE_FLAG_* bits */
	const char *keywords; /* space-separated */
	uint64_t modseq;
};

struct store_changes {
	bool gone; /* the mailbox was deleted */
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t recent_from; /* with recent_claimed: uids in [recent_from, uidnext) */
	bool recent_claimed;
	const struct store_change *changed; /* ascending uid */
	uint32_t nchanged;
	const uint32_t *expunged; /* ascending */
	uint32_t nexpunged;
};

typedef void store_changes_cb(void *ctx, const struct store_changes *c, const char *error);

/* The same question asked inside a mutation's own request (STORE, EXPUNGE,
 * APPEND take one): a statement after the mutation's, in its transaction,
 * so it sees the mutation and everything committed before it, at no extra
 * round trip. The answer reaches the mutation's callback as a
 * store_changes, or NULL when the request failed. */
struct store_sync {
	int64_t mailbox_id;
	uint64_t since_modseq;
	bool claim_recent;
};

/* What changed in a mailbox since modseq (one snapshot). With claim_recent
 * the messages new since the last claim become \Recent for the caller. */
int store_mailbox_changes(struct db *db, int64_t account_id, int64_t mailbox_id,
			  uint64_t since_modseq, bool claim_recent, store_changes_cb *cb, void *ctx,
			  const char **error_r);

/* What changed in a mailbox since a mod-sequence a client gave (FETCH
 * CHANGEDSINCE, UID FETCH VANISHED, SELECT QRESYNC, RFC 7162), in one
 * snapshot. */
struct store_since {
	/* Expunges with a modseq up to this one may have been pruned from
	 * the record (schema/0011); 0 when nothing was. */
	uint64_t horizon;
	const struct store_change *changed; /* ascending uid */
	uint32_t nchanged;
	const uint32_t *expunged; /* ascending */
	uint32_t nexpunged;
};

typedef void store_since_cb(void *ctx, const struct store_since *c, const char *error);

/* Reads, with want_changed, the messages with UID <= max_uid whose modseq
 * is above since (current flags, keywords, modseq), and with want_expunged
 * the UIDs expunged with a modseq in (since, bound]. Valid during the call
 * only. */
int store_mailbox_since(struct db *db, int64_t account_id, int64_t mailbox_id, uint64_t since,
			uint64_t bound, uint32_t max_uid, bool want_changed, bool want_expunged,
			store_since_cb *cb, void *ctx, const char **error_r);

/* System flag bits as stored in mailbox_messages.flags. */
#define STORE_FLAG_SEEN 1
#define STORE_FLAG_ANSWERED 2
#define STORE_FLAG_FLAGGED 4
#define STORE_FLAG_DELETED 8
#define STORE_FLAG_DRAFT 16
