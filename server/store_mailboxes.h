/* Store: managing an account's mailboxes and subscriptions (the IMAP
 * commands CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB,
 * STATUS). Every function is one statement or one call of a function of
 * schema/0004_mailboxes.sql or 0012_list_quota.sql: one round trip, one
 * transaction. Names are
 * canonical UTF-8 (mailbox_name.h). Like store.h, functions return 0 when
 * the request is on its way, or -1 with error_r (the callback will not
 * run). */
#ifndef MAILSTEAD_STORE_MAILBOXES_H
#define MAILSTEAD_STORE_MAILBOXES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

/* Per-account limits on what a client creates. */
#define STORE_MAILBOXES_MAX 10000
#define STORE_SUBSCRIPTIONS_MAX 10000

enum store_mailboxes_result {
	STORE_MAILBOXES_OK,
	STORE_MAILBOXES_ERROR,       /* database or internal failure: error says why */
	STORE_MAILBOXES_NONEXISTENT, /* no mailbox of that name */
	STORE_MAILBOXES_EXISTS,      /* the (new) name exists already */
	STORE_MAILBOXES_LIMIT,       /* a per-account limit would be exceeded */
	STORE_MAILBOXES_HASCHILDREN, /* DELETE of a \Noselect name with inferiors */
	STORE_MAILBOXES_CANNOT,      /* never possible (DELETE INBOX, RENAME into
				      * its own child, a child's new name invalid) */
	STORE_MAILBOXES_USEATTR,     /* CREATE: another mailbox has that special use */
};

/* The result of a mutation. mailbox_id: CREATE the mailbox; DELETE the
 * removed mailbox (sessions that have it selected must let go); RENAME the
 * renamed mailbox, or INBOX for RENAME INBOX. moved: RENAME INBOX only, the
 * number of messages that left INBOX (its sessions see them expunged). */
typedef void store_mailboxes_cb(void *ctx, enum store_mailboxes_result r, int64_t mailbox_id,
				uint64_t moved, const char *error);

/* CREATE: creates name and its missing parents; a \Noselect placeholder of
 * that name becomes selectable. special_use (RFC 6154 CREATE-SPECIAL-USE:
 * "Archive", "Drafts", "Junk", "Sent" or "Trash", without the backslash) or
 * NULL; an account has at most one mailbox per special use, so another
 * mailbox with it is STORE_MAILBOXES_USEATTR (and nothing is created). */
int store_mailboxes_create(struct db *db, int64_t account_id, const char *name,
			   const char *special_use, store_mailboxes_cb *cb, void *ctx,
			   const char **error_r);

/* DELETE: removes the mailbox and its messages; with inferiors it stays as
 * a \Noselect placeholder. */
int store_mailboxes_delete(struct db *db, int64_t account_id, const char *name,
			   store_mailboxes_cb *cb, void *ctx, const char **error_r);

/* RENAME: moves old and its inferiors to new (INBOX: moves its messages). */
int store_mailboxes_rename(struct db *db, int64_t account_id, const char *old_name,
			   const char *new_name, store_mailboxes_cb *cb, void *ctx,
			   const char **error_r);

/* SUBSCRIBE (subscribe) or UNSUBSCRIBE: the name need not exist;
 * unsubscribing a name that is not subscribed succeeds. */
int store_mailboxes_subscribe(struct db *db, int64_t account_id, const char *name,
			      bool subscribe, store_mailboxes_cb *cb, void *ctx,
			      const char **error_r);

/* What STATUS reports of a mailbox (RFC 3501 §6.3.10, RFC 9208 §4.2). */
struct store_mailboxes_status {
	bool noselect;
	uint32_t messages;
	uint32_t recent; /* messages no session has yet seen as \Recent */
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint32_t unseen;
	uint32_t deleted;        /* messages with \Deleted */
	uint64_t deleted_bytes;  /* their total size in octets */
	uint64_t highestmodseq;  /* RFC 7162 §3.1.7 */
};

/* Counters that cost a scan of the mailbox's messages, computed only when
 * asked for (the others are columns of the mailbox row): bits of `want`. */
#define STORE_MAILBOXES_WANT_RECENT 1
#define STORE_MAILBOXES_WANT_DELETED 2       /* deleted */
#define STORE_MAILBOXES_WANT_DELETED_BYTES 4 /* deleted_bytes */

/* One name for LIST or LSUB. */
struct store_mailboxes_entry {
	const char *name;
	bool exists;   /* LIST: a mailbox (maybe a \Noselect placeholder) has this
			* name; false for a subscribed name without one */
	bool noselect; /* LIST: not selectable (a placeholder, or no mailbox);
			* LSUB: no selectable mailbox of that name */
	bool subscribed;         /* LIST with subscriptions; LSUB: always */
	const char *special_use; /* LIST: "Sent", "Drafts", ... (RFC 6154 without
				  * the backslash) or NULL */
	struct store_mailboxes_status status; /* LIST: of an existing mailbox */
};

/* entries (unsorted) are valid during the call only; on error entries is
 * NULL and error says why. */
typedef void store_mailboxes_list_cb(void *ctx, const struct store_mailboxes_entry *entries,
				     size_t n, const char *error);

/* LIST: every mailbox of the account with its special use and STATUS
 * counters (the scanned ones per `want`). With subscriptions, also every
 * subscribed name that has no mailbox (exists false), and each entry's
 * subscription state. */
int store_mailboxes_list(struct db *db, int64_t account_id, bool subscriptions, unsigned want,
			 store_mailboxes_list_cb *cb, void *ctx, const char **error_r);

/* LSUB: every subscribed name (only name, noselect and subscribed are set). */
int store_mailboxes_lsub(struct db *db, int64_t account_id, store_mailboxes_list_cb *cb,
			 void *ctx, const char **error_r);

/* found: 1, 0 no such mailbox, -1 error. */
typedef void store_mailboxes_status_cb(void *ctx, int found,
				       const struct store_mailboxes_status *st,
				       const char *error);

/* STATUS: the counters of a mailbox, without claiming \Recent; the ones
 * that cost a scan only as `want` (STORE_MAILBOXES_WANT_*) says. */
int store_mailboxes_status(struct db *db, int64_t account_id, const char *name, unsigned want,
			   store_mailboxes_status_cb *cb, void *ctx, const char **error_r);

#endif
