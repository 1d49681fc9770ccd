/* Store: mail delivery (LMTP, docs/delivery.md).
 *
 * Two requests, each one call of a function of schema/0009_delivery.sql:
 * resolving one recipient address (RCPT TO), and storing one message for
 * every accepted recipient of a transaction (after DATA or BDAT LAST) in
 * one round trip and one transaction, in which each recipient's group of
 * accounts is atomic on its own. Callbacks run after the commit (or the
 * failure), so a 250 sent from them is durable. Functions return 0 when
 * the request is on its way, or -1 with error_r when the database is
 * unavailable (the callback will not run). */
#ifndef MAILSTEAD_STORE_DELIVERY_H
#define MAILSTEAD_STORE_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct lmtp_message;

enum store_rcpt_status {
	STORE_RCPT_OK,
	STORE_RCPT_UNKNOWN_DOMAIN,
	STORE_RCPT_UNKNOWN_USER,
	STORE_RCPT_SUSPENDED,
	STORE_RCPT_OVER_QUOTA,
	STORE_RCPT_LOOP,
	STORE_RCPT_TOO_DEEP,
};

/* One account a recipient delivers to. */
struct store_rcpt_target {
	int64_t account_id;
	int64_t mailbox_id; /* its INBOX */
};

/* Recipients resolved in one request (pipelined RCPT commands). */
#define STORE_RESOLVE_MAX 16

struct store_rcpt_query {
	const char *address; /* normalised, "+detail" included */
	const char *base;    /* the address without its detail, or NULL */
};

struct store_rcpt_result {
	enum store_rcpt_status status;
	/* STORE_RCPT_OK: the n >= 1 accounts, ascending account_id. */
	const struct store_rcpt_target *targets;
	unsigned ntargets;
};

/* error non-NULL: the database failed (results is NULL). Otherwise
 * results[i] answers queries[i]; valid during the call only. */
typedef void store_resolve_cb(void *ctx, const struct store_rcpt_result *results, unsigned n,
			      const char *error);

/* Resolves n (1..STORE_RESOLVE_MAX) addresses for delivery in one round
 * trip. size is the size announced by MAIL FROM's SIZE= (0 if none), for
 * the quota check. */
int store_delivery_resolve(struct db *db, const struct store_rcpt_query *queries, unsigned n,
			   uint64_t size, store_resolve_cb *cb, void *ctx, const char **error_r);

/* One account of a delivery. */
struct store_delivery_entry {
	int64_t account_id;
	int64_t mailbox_id;
	unsigned group;	  /* the recipient (RCPT index) this account belongs to */
	unsigned variant; /* index into msg->variants: its trace block */
};

enum store_delivery_status {
	STORE_DELIVERY_OK,
	STORE_DELIVERY_OVER_QUOTA, /* the group was refused by the quota */
	STORE_DELIVERY_NOT_FOUND,  /* an account or INBOX went away */
	STORE_DELIVERY_LIMIT,	   /* UID space of an INBOX exhausted */
};

struct store_delivery_result {
	enum store_delivery_status status;
	uint32_t uid;	 /* STORE_DELIVERY_OK only */
	uint64_t modseq; /* STORE_DELIVERY_OK only */
};

/* error non-NULL: nothing was stored (the transaction failed). Otherwise
 * results[i] is entry i's outcome (its group's). */
typedef void store_delivery_cb(void *ctx, const struct store_delivery_result *results,
			       unsigned n, const char *error);

/* Stores msg once for each of the n entries (distinct accounts). Every
 * value is copied before this returns. */
int store_delivery_store(struct db *db, const struct lmtp_message *msg,
			 const struct store_delivery_entry *entries, unsigned n,
			 store_delivery_cb *cb, void *ctx, const char **error_r);

/* Milliseconds this process has spent with at least one delivery batch in
 * flight, since it started: the search indexer compares two readings to
 * tell whether delivery kept the worker busy meanwhile. */
uint64_t store_delivery_busy_ms(void);

#endif
