/* The background word index for SEARCH BODY/TEXT (schema/0013_search_index.sql).
 *
 * Each imapd worker runs one indexer: a small state machine on the
 * worker's loop that calls the store's mail_search_index_step (one mailbox,
 * at most `batch` messages, one transaction) through the asynchronous pool,
 * never more than one call at a time. Delivery never waits for it: SEARCH
 * scans whatever it has not covered yet.
 *
 * Pacing: while work remains, the next step follows after pause_ms; when
 * other requests of this worker are queued on the pool, after at least as
 * long as the last step took (the indexer then uses at most half of one
 * connection). With nothing left it sleeps until a mailbox changes
 * (search_indexer_wake, from the change notifications) or
 * SEARCH_INDEXER_POLL_SECONDS pass. Workers share the work through row
 * locks (SKIP LOCKED): several never index the same mailbox at once. */
#ifndef MAILSTEAD_SEARCH_INDEXER_H
#define MAILSTEAD_SEARCH_INDEXER_H

#include <stdbool.h>

struct db;
struct event_base;
struct search_indexer;

#define SEARCH_INDEXER_POLL_SECONDS 30
#define SEARCH_INDEXER_WAKE_MS 100     /* debounce of change notifications */
#define SEARCH_INDEXER_RETRY_SECONDS 5 /* after a failed step */

/* Pure pacing rule, exposed for the unit test: the delay in ms before the
 * next step, given the last step's outcome (indexed messages, -1 on
 * error; more), its duration in ms, whether the pool has other requests
 * waiting, and the configured pause. Returns -1 for "sleep until woken". */
long search_indexer_delay_ms(int indexed, bool more, long elapsed_ms, bool pool_busy,
			     unsigned pause_ms);

/* Starts the indexer; the first step runs after start_delay_ms. Returns a
 * handle owned by the caller. */
struct search_indexer *search_indexer_create(struct event_base *base, struct db *db,
					     unsigned batch, unsigned pause_ms,
					     unsigned start_delay_ms);

/* A mailbox may have new messages: run a step soon if idle. */
void search_indexer_wake(struct search_indexer *ix);

/* Stops the timers; a step in flight completes into nothing. */
void search_indexer_destroy(struct search_indexer **ix_r);

#endif
