/* The background word index for SEARCH BODY/TEXT (schema/0013_search_index.sql).
 *
 * Each imapd worker runs one indexer: a small state machine on the
 * worker's loop that runs one step at a time through the asynchronous pool
 * (one mailbox, at most `batch` messages): the worker reads the messages,
 * splits them into tokens in its workqueue (search_tokens.h) and stores
 * them (schema/0020_search_tokens_c.sql); or, where the database's lower()
 * does not allow that (checked once at start), one call of
 * mail_search_index_step that tokenises in PostgreSQL (0013). Delivery
 * never waits for it: SEARCH scans whatever it has not covered yet.
 *
 * What to index: the mailboxes named by the change notifications
 * (search_indexer_wake), kept in a small queue, one targeted step each
 * (a primary-key lookup); and sweeps, steps that look at every mailbox
 * (a scan of the mailboxes table), at start, after the listener
 * reconnects, when the queue overflows, and every
 * SEARCH_INDEXER_POLL_SECONDS: they catch up after the upgrade and after
 * notifications lost to a crash.
 *
 * Pacing: while work remains, the next step follows after pause_ms; when
 * other requests of this worker are queued on the pool, after at least
 * SEARCH_INDEXER_BUSY_FACTOR times as long as the last step took (the
 * indexer then uses at most a quarter of one connection: measured, an
 * indexer at half a connection slowed a bulk LMTP load of one mailbox on
 * a busy 2-core machine). During a delivery burst (search_indexer_burst),
 * after at least SEARCH_INDEXER_DELIVERY_FACTOR times as long as the step
 * took: the index then takes at most a twentieth of one connection and
 * yields the CPU to delivery (measured: at full pace it took ~20% of the
 * CPU of a 1-recipient LMTP run and ~40% of a 3-recipient one, ~1.5 ms per
 * message), and catches up at full pace once the burst is over. A burst
 * that lasts longer than SEARCH_INDEXER_BURST_MAX_SECONDS is sustained
 * load, not a burst: the indexer goes back to its normal pace, so the
 * backlog cannot grow without end. Index freshness never changes a SEARCH
 * answer, only its speed.
 * With nothing left it sleeps until woken or the next sweep; if it
 * indexed anything, it first merges the GIN pending lists into their
 * trees once it has been idle for SEARCH_INDEXER_FLUSH_MS
 * (schema/0022_search_gin_batch.sql): a search on a quiet server then
 * reads no pending list. After that merge it prunes the lexicon of one
 * account with many deleted index rows, if there is one
 * (schema/0024_search_lexicon_prune.sql).
 * Workers share the work through row locks (SKIP LOCKED): several never
 * index the same mailbox at once. */
#ifndef MAILSTEAD_SEARCH_INDEXER_H
#define MAILSTEAD_SEARCH_INDEXER_H

#include <stdbool.h>
#include <stdint.h>

struct db;
struct event_base;
struct search_indexer;
struct workqueue;

#define SEARCH_INDEXER_POLL_SECONDS 60
#define SEARCH_INDEXER_QUEUE 64        /* mailboxes waiting; past it, a sweep */
#define SEARCH_INDEXER_WAKE_MS 100     /* debounce of change notifications */
#define SEARCH_INDEXER_RETRY_SECONDS 5 /* after a failed step */
#define SEARCH_INDEXER_FLUSH_MS 2000   /* idle this long: flush the pending lists */
#define SEARCH_INDEXER_FLUSH_BACKOFF_SECONDS 600 /* no flush (prune) this long after one failed */
#define SEARCH_INDEXER_BUSY_FACTOR 3   /* pause / step time while sessions wait */
#define SEARCH_INDEXER_DELIVERY_FACTOR 19 /* pause / step time during a delivery burst */
#define SEARCH_INDEXER_BURST_CHANGES 100   /* mailbox changes per second that make a burst */
#define SEARCH_INDEXER_BURST_MAX_SECONDS 60 /* longer: sustained load, normal pace */

/* Pure rule, exposed for the unit test: whether the window_ms since the
 * last step ended was a delivery burst, given how long this worker had a
 * delivery batch in flight in it (store_delivery_busy_ms) and how many
 * mailbox changes the instance notified in it (every worker hears every
 * change: the connections of a benchmark or of an MTA may all sit on
 * another worker). */
bool search_indexer_burst(long window_ms, uint64_t delivery_busy_ms, unsigned changes);

/* Pure pacing rule, exposed for the unit test: the delay in ms before the
 * next step, given the last step's outcome (indexed messages, -1 on
 * error; more), its duration in ms, whether the pool has other requests
 * waiting, whether delivery kept the worker busy, and the configured
 * pause. Returns -1 for "sleep until woken". */
long search_indexer_delay_ms(int indexed, bool more, long elapsed_ms, bool pool_busy,
			     bool delivering, unsigned pause_ms);

/* Starts the indexer; the first step runs after start_delay_ms. It
 * tokenises in wq's threads (NULL: in the loop), when the database allows
 * (schema/0020_search_tokens_c.sql), and prunes the lexicon of accounts
 * with at least prune_min deleted index rows
 * (schema/0024_search_lexicon_prune.sql). Returns a handle owned by the
 * caller. */
struct search_indexer *search_indexer_create(struct event_base *base, struct db *db,
					     struct workqueue *wq, unsigned batch,
					     unsigned pause_ms, uint64_t prune_min,
					     unsigned start_delay_ms);

/* Mailbox mailbox_id of account_id may have new messages (0, 0: any
 * mailbox may have): index it soon. */
void search_indexer_wake(struct search_indexer *ix, int64_t account_id, int64_t mailbox_id);

/* Stops the timers; a step in flight completes into nothing. */
void search_indexer_destroy(struct search_indexer **ix_r);

#endif
