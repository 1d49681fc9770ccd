/* Store: running a compiled SEARCH (RFC 3501 §6.4.4) in the database.
 *
 * The condition comes from search_compile (server/imap/search_compile.h):
 * constant SQL fragments with $n parameters from $4 on. This module wraps
 * it into the one query that may be assembled at run time (db_query.sql,
 * unprepared: each search has its own shape), bounded to one mailbox's
 * primary-key range and to the UIDs the session's view knows. */
#ifndef MAILSTEAD_STORE_SEARCH_H
#define MAILSTEAD_STORE_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

struct db;
struct workqueue;

/* A search running longer is cancelled (and reported as
 * STORE_SEARCH_TIMEOUT): one client's search must not hold a pooled
 * connection, and the sessions queued behind it, indefinitely. */
#define STORE_SEARCH_TIMEOUT_MS 60000

enum store_search_status {
	STORE_SEARCH_OK,
	STORE_SEARCH_TIMEOUT, /* cancelled after STORE_SEARCH_TIMEOUT_MS */
	STORE_SEARCH_FAILED,  /* database error: error says why */
};

/* uids: the matching UIDs ascending (valid during the call only);
 * max_modseq: the highest mod-sequence among them (0 when none, or when
 * not asked for). */
typedef void store_search_cb(void *ctx, enum store_search_status status, const uint32_t *uids,
			     uint32_t n, uint64_t max_modseq, const char *error);

/* Runs `where` (with join_message: it refers to messages m) over the
 * messages of mailbox_id with UID <= max_uid; params are $4.. The callback's
 * max_modseq is computed only with want_modseq (0 otherwise). */
int store_search(struct db *db, int64_t account_id, int64_t mailbox_id, uint32_t max_uid,
		 const char *where, bool join_message, bool want_modseq, const char *const *params,
		 unsigned nparams, store_search_cb *cb, void *ctx, const char **error_r);

/* The background word index (schema/0013_search_index.sql): one step,
 * indexing up to batch messages of one mailbox: of mailbox_id (of
 * account_id), or with mailbox_id 0 of any mailbox that needs it (a
 * sweep). Without c_tokens, one call of mail_search_index_step (PostgreSQL
 * tokenises, one transaction); with c_tokens (only where
 * store_search_index_check said yes), mail_search_index_read, tokenising
 * in a job of wq (in the caller's loop when wq is NULL or full;
 * search_tokens.h), then mail_search_index_store
 * (schema/0020_search_tokens_c.sql), at most STORE_SEARCH_INDEX_BYTES of
 * text per step past the first message. The callback gets how many
 * messages were covered (-1 and error on failure) and whether more work
 * may be waiting. */
#define STORE_SEARCH_INDEX_BYTES (4u << 20)
typedef void store_search_index_cb(void *ctx, int indexed, bool more, const char *error);
int store_search_index_step(struct db *db, unsigned batch, bool c_tokens, struct workqueue *wq,
			    int64_t account_id, int64_t mailbox_id, store_search_index_cb *cb,
			    void *ctx, const char **error_r);

/* Whether this database allows the worker's tokens
 * (mail_search_c_tokens_ok, schema/0020_search_tokens_c.sql): the callback
 * gets 1 yes, 0 no, -1 and error when the check could not run. */
typedef void store_search_check_cb(void *ctx, int ok, const char *error);
int store_search_index_check(struct db *db, store_search_check_cb *cb, void *ctx,
			     const char **error_r);

/* Merges the search index's GIN pending lists into their trees
 * (mail_search_index_flush, schema/0022_search_gin_batch.sql): the
 * callback gets the pages merged, or -1 and error. */
int store_search_index_flush(struct db *db, store_search_check_cb *cb, void *ctx,
			     const char **error_r);

/* Prunes the search lexicon of one account with at least min_deleted
 * deleted index rows since its last prune (mail_search_lexicon_prune,
 * schema/0024_search_lexicon_prune.sql): the callback gets the account and
 * the words deleted (account 0: none to prune), or an error. */
typedef void store_search_prune_cb(void *ctx, int64_t account_id, int64_t words,
				   const char *error);
int store_search_lexicon_prune(struct db *db, uint64_t min_deleted, store_search_prune_cb *cb,
			       void *ctx, const char **error_r);

#endif
