/* The background word index for SEARCH BODY/TEXT: see search_indexer.h. */
#include "search_indexer.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "store_delivery.h"
#include "store_search.h"

/* Longest back-off when steps find only locked mailboxes. */
#define SEARCH_INDEXER_LOCKED_MS 1000

struct search_indexer {
	struct event_base *base;
	struct db *db;
	struct workqueue *wq;
	unsigned batch, pause_ms;
	uint64_t prune_min;
	struct event *timer;
	bool running;   /* a step is in flight */
	bool sweep;     /* a sweep is due now */
	long next_sweep_ms; /* the periodic sweep (monotonic ms) */
	/* The step in flight: its mailbox (0: a sweep). */
	int64_t cur_account, cur_mailbox;
	/* Mailboxes to index, in arrival order, without duplicates. */
	struct {
		int64_t account_id, mailbox_id;
	} queue[SEARCH_INDEXER_QUEUE];
	unsigned nqueue;
	bool scheduled; /* the timer is armed */
	long scheduled_ms; /* when it fires (monotonic ms) */
	long started_ms;
	/* At the end of the last step: when, and store_delivery_busy_ms(). */
	long mark_ms;
	uint64_t mark_busy_ms;
	unsigned changes; /* change notifications since the last step ended */
	long burst_start_ms; /* when the current delivery burst began, or 0 */
	/* The pacing rule's earliest start of the next step (monotonic ms):
	 * a wake-up does not bring a step before it. */
	long not_before_ms;
	/* Whether this worker tokenises (store_search_index_check): -1 not
	 * known yet, 0 no (PostgreSQL does), 1 yes. */
	int c_tokens;
	/* Messages were indexed since the last flush of the pending lists,
	 * the last time at last_work_ms (monotonic ms). */
	bool dirty;
	long last_work_ms;
	/* After a failed flush, none before this (monotonic ms): a role that
	 * does not own the indexes must not log a warning per message. */
	long flush_not_before_ms;
	/* The same after a failed prune of a lexicon. */
	long prune_not_before_ms;
	/* The in-flight step's callback context: detached on destroy. */
	struct search_indexer **inflight;
};

static long now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for MONOTONIC */
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long search_indexer_delay_ms(int indexed, bool more, long elapsed_ms, bool pool_busy,
			     bool delivering, unsigned pause_ms)
{
	long d = (long)pause_ms;

	if (indexed < 0)
		return SEARCH_INDEXER_RETRY_SECONDS * 1000L;
	if (!more)
		return -1;
	if (indexed == 0)
		/* Only mailboxes another worker holds, or a message being
		 * deleted: nothing for us right now. */
		return d > SEARCH_INDEXER_LOCKED_MS ? d : SEARCH_INDEXER_LOCKED_MS;
	if (pool_busy && SEARCH_INDEXER_BUSY_FACTOR * elapsed_ms > d)
		/* Sessions wait: at most a quarter of one connection. */
		d = SEARCH_INDEXER_BUSY_FACTOR * elapsed_ms;
	if (delivering && SEARCH_INDEXER_DELIVERY_FACTOR * elapsed_ms > d)
		/* A delivery burst: yield, but keep making progress. */
		d = SEARCH_INDEXER_DELIVERY_FACTOR * elapsed_ms;
	return d;
}

bool search_indexer_burst(long window_ms, uint64_t delivery_busy_ms, unsigned changes)
{
	if (window_ms <= 0)
		return false;
	/* This worker's deliveries had a batch in flight half of the time,
	 * or the instance's workers changed mailboxes at a burst's rate. */
	return 2 * delivery_busy_ms >= (uint64_t)window_ms ||
	       (uint64_t)changes * 1000 >= (uint64_t)SEARCH_INDEXER_BURST_CHANGES * (uint64_t)window_ms;
}

static void schedule(struct search_indexer *ix, long delay_ms)
{
	struct timeval tv;
	long at = now_ms() + delay_ms;

	if (ix->scheduled && ix->scheduled_ms <= at)
		return; /* an earlier step is already due */
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	if (evtimer_add(ix->timer, &tv) < 0)
		panic("search_indexer: cannot arm timer");
	ix->scheduled = true;
	ix->scheduled_ms = at;
}

/* Adds a mailbox to the queue; false when it is full. */
static bool enqueue(struct search_indexer *ix, int64_t account_id, int64_t mailbox_id)
{
	for (unsigned i = 0; i < ix->nqueue; i++)
		if (ix->queue[i].account_id == account_id && ix->queue[i].mailbox_id == mailbox_id)
			return true;
	if (ix->nqueue == SEARCH_INDEXER_QUEUE)
		return false;
	ix->queue[ix->nqueue].account_id = account_id;
	ix->queue[ix->nqueue].mailbox_id = mailbox_id;
	ix->nqueue++;
	return true;
}

/* Every request (step, check, flush, prune) carries a slot pointing at the
 * indexer, so that search_indexer_destroy can detach a request in flight:
 * request_begin makes it and marks the indexer running; request_end, first
 * thing in each callback (or when the submit failed), frees it and returns
 * the indexer, or NULL when it was destroyed meanwhile. */
static struct search_indexer **request_begin(struct search_indexer *ix)
{
	struct search_indexer **slot = malloc(sizeof(*slot));

	if (slot == NULL)
		panic("search_indexer: out of memory");
	*slot = ix;
	ix->running = true;
	ix->inflight = slot;
	return slot;
}

static struct search_indexer *request_end(void *ctx)
{
	struct search_indexer **slot = ctx, *ix = *slot;

	free(slot);
	if (ix != NULL) {
		ix->inflight = NULL;
		ix->running = false;
	}
	return ix;
}

static void step_done(void *ctx, int indexed, bool more, const char *error)
{
	struct search_indexer *ix = request_end(ctx);
	long elapsed, delay, now, window;
	uint64_t busy;
	bool delivering, pool_busy;

	if (ix == NULL)
		return; /* destroyed meanwhile */
	now = now_ms();
	elapsed = now - ix->started_ms;
	/* Delivery is busy when it had a batch in flight for at least half
	 * of the time since the last step ended (pause and step). */
	busy = store_delivery_busy_ms();
	window = now - ix->mark_ms;
	if (!search_indexer_burst(window, busy - ix->mark_busy_ms, ix->changes))
		ix->burst_start_ms = 0;
	else if (ix->burst_start_ms == 0)
		ix->burst_start_ms = now;
	delivering = ix->burst_start_ms != 0 &&
		     now - ix->burst_start_ms <= SEARCH_INDEXER_BURST_MAX_SECONDS * 1000L;
	ix->mark_ms = now;
	ix->mark_busy_ms = busy;
	ix->changes = 0;
	if (error != NULL)
		LOG(WARN, NULL, "search index: step failed: %s", error);
	else if (indexed > 0)
		LOG(DEBUG, NULL, "search index: %d messages in %ld ms%s%s", indexed, elapsed,
		    more ? ", more to do" : "", delivering ? ", delivery burst" : "");
	if (error == NULL && indexed > 0) {
		ix->dirty = true;
		ix->last_work_ms = now;
	}
	/* Work left where this step was: carry on there. A failed step is
	 * redone by the next sweep. */
	if (error != NULL || more) {
		if (ix->cur_mailbox == 0 || error != NULL)
			ix->sweep = true;
		else if (!enqueue(ix, ix->cur_account, ix->cur_mailbox))
			ix->sweep = true;
	}
	pool_busy = db_pending(ix->db) > 0;
	delay = search_indexer_delay_ms(error != NULL ? -1 : indexed, more, elapsed, pool_busy,
					delivering, ix->pause_ms);
	if (delay < 0 && (ix->nqueue > 0 || ix->sweep))
		/* This mailbox is done but others wait: paced as if it had
		 * more (during a delivery burst every step ends its mailbox,
		 * and would otherwise never yield). */
		delay = indexed > 0 ? search_indexer_delay_ms(indexed, true, elapsed, pool_busy,
							      delivering, ix->pause_ms)
				    : ix->pause_ms;
	ix->not_before_ms = delay >= 0 ? now + delay : 0;
	if (delay < 0 && ix->dirty) {
		/* Caught up: flush the pending lists unless woken before. */
		delay = SEARCH_INDEXER_FLUSH_MS;
	} else if (delay < 0) {
		/* Idle until woken or the periodic sweep (the safety net). */
		delay = ix->next_sweep_ms - now_ms();
		if (delay < 0)
			delay = 0;
	}
	schedule(ix, delay);
}

static void check_done(void *ctx, int ok, const char *error)
{
	struct search_indexer *ix = request_end(ctx);

	if (ix == NULL)
		return; /* destroyed meanwhile */
	if (ok < 0) {
		LOG(WARN, NULL, "search index: cannot check the database's tokens: %s", error);
		schedule(ix, SEARCH_INDEXER_RETRY_SECONDS * 1000L);
		return;
	}
	ix->c_tokens = ok;
	if (ok == 0)
		LOG(INFO, NULL, "search index: this database's lower() or character classes"
				" differ from the worker's: PostgreSQL tokenises");
	else
		LOG(DEBUG, NULL, "search index: the worker tokenises");
	schedule(ix, 0);
}

/* Asks the database once whether the worker's tokens are valid there
 * (schema/0020_search_tokens_c.sql). */
static void check_tokens(struct search_indexer *ix)
{
	struct search_indexer **slot = request_begin(ix);
	const char *err;

	if (store_search_index_check(ix->db, check_done, slot, &err) < 0) {
		request_end(slot);
		schedule(ix, SEARCH_INDEXER_RETRY_SECONDS * 1000L);
	}
}

/* After a flush or a prune: the next step, or sleep. */
static void schedule_idle(struct search_indexer *ix)
{
	if (ix->nqueue > 0 || ix->sweep)
		schedule(ix, ix->pause_ms);
	else
		schedule(ix, ix->next_sweep_ms - now_ms());
}

static void prune_done(void *ctx, int64_t account_id, int64_t words, const char *error)
{
	struct search_indexer *ix = request_end(ctx);

	if (ix == NULL)
		return; /* destroyed meanwhile */
	if (error != NULL) {
		ix->prune_not_before_ms = now_ms() + SEARCH_INDEXER_FLUSH_BACKOFF_SECONDS * 1000L;
		LOG(WARN, NULL, "search index: cannot prune a lexicon (next try in %d s): %s",
		    SEARCH_INDEXER_FLUSH_BACKOFF_SECONDS, error);
	} else if (account_id > 0)
		LOG(INFO, NULL, "search index: %lld words of deleted messages pruned from the"
				" lexicon of account %lld", (long long)words, (long long)account_id);
	schedule_idle(ix);
}

/* Prunes one account's lexicon, if one has enough deleted index rows
 * (schema/0024_search_lexicon_prune.sql). */
static void prune(struct search_indexer *ix)
{
	struct search_indexer **slot = request_begin(ix);
	const char *err;

	if (store_search_lexicon_prune(ix->db, ix->prune_min, prune_done, slot, &err) < 0) {
		request_end(slot);
		schedule_idle(ix);
	}
}

static void flush_done(void *ctx, int pages, const char *error)
{
	struct search_indexer *ix = request_end(ctx);

	if (ix == NULL)
		return; /* destroyed meanwhile */
	/* Not retried at once: inserts merge a full list themselves, and
	 * autovacuum merges them too. */
	ix->dirty = false;
	if (pages < 0) {
		ix->flush_not_before_ms = now_ms() + SEARCH_INDEXER_FLUSH_BACKOFF_SECONDS * 1000L;
		LOG(WARN, NULL, "search index: cannot flush the pending lists (next try in %d s): %s",
		    SEARCH_INDEXER_FLUSH_BACKOFF_SECONDS, error);
	} else {
		LOG(DEBUG, NULL, "search index: %d pending pages merged", pages);
		if (ix->nqueue == 0 && !ix->sweep && now_ms() >= ix->prune_not_before_ms) {
			prune(ix);
			return;
		}
	}
	schedule_idle(ix);
}

/* Merges the GIN pending lists (schema/0022_search_gin_batch.sql). */
static void flush(struct search_indexer *ix)
{
	struct search_indexer **slot = request_begin(ix);
	const char *err;

	if (store_search_index_flush(ix->db, flush_done, slot, &err) < 0) {
		request_end(slot);
		ix->dirty = false; /* no connection up: as a failed flush */
		schedule(ix, ix->next_sweep_ms - now_ms());
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct search_indexer *ix = arg;
	struct search_indexer **slot;
	const char *err;

	ix->scheduled = false;
	if (ix->running)
		return; /* step_done schedules the next */
	if (ix->c_tokens < 0) {
		check_tokens(ix);
		return;
	}
	if (ix->nqueue > 0) {
		ix->cur_account = ix->queue[0].account_id;
		ix->cur_mailbox = ix->queue[0].mailbox_id;
		ix->nqueue--;
		memmove(&ix->queue[0], &ix->queue[1], ix->nqueue * sizeof(ix->queue[0]));
	} else if (ix->sweep || now_ms() >= ix->next_sweep_ms) {
		ix->cur_account = ix->cur_mailbox = 0;
		ix->sweep = false;
		ix->next_sweep_ms = now_ms() + SEARCH_INDEXER_POLL_SECONDS * 1000L;
	} else if (ix->dirty && now_ms() < ix->flush_not_before_ms) {
		/* A flush failed a short while ago: skip this one. */
		ix->dirty = false;
		schedule(ix, ix->next_sweep_ms - now_ms());
		return;
	} else if (ix->dirty) {
		/* Nothing to do: once idle for SEARCH_INDEXER_FLUSH_MS, empty
		 * the pending lists. */
		long left = ix->last_work_ms + SEARCH_INDEXER_FLUSH_MS - now_ms();

		if (left > 0)
			schedule(ix, left);
		else
			flush(ix);
		return;
	} else {
		/* Nothing to do until woken, or the periodic sweep. */
		schedule(ix, ix->next_sweep_ms - now_ms());
		return;
	}
	slot = request_begin(ix);
	ix->started_ms = now_ms();
	if (store_search_index_step(ix->db, ix->batch, ix->c_tokens > 0, ix->wq, ix->cur_account,
				    ix->cur_mailbox, step_done, slot, &err) < 0) {
		/* No connection up: a sweep later catches up. */
		request_end(slot);
		ix->sweep = true;
		schedule(ix, SEARCH_INDEXER_RETRY_SECONDS * 1000L);
	}
}

struct search_indexer *search_indexer_create(struct event_base *base, struct db *db,
					     struct workqueue *wq, unsigned batch,
					     unsigned pause_ms, uint64_t prune_min,
					     unsigned start_delay_ms)
{
	struct search_indexer *ix = calloc(1, sizeof(*ix));

	if (ix == NULL)
		panic("search_indexer: out of memory");
	ix->base = base;
	ix->db = db;
	ix->wq = wq;
	ix->batch = batch;
	ix->pause_ms = pause_ms;
	ix->prune_min = prune_min;
	ix->timer = evtimer_new(base, on_timer, ix);
	if (ix->timer == NULL)
		panic("search_indexer: cannot create timer");
	ix->sweep = true; /* catch up on whatever happened while we were down */
	ix->c_tokens = -1;
	ix->mark_ms = now_ms();
	ix->mark_busy_ms = store_delivery_busy_ms();
	ix->next_sweep_ms = now_ms() + SEARCH_INDEXER_POLL_SECONDS * 1000L;
	schedule(ix, start_delay_ms);
	return ix;
}

void search_indexer_wake(struct search_indexer *ix, int64_t account_id, int64_t mailbox_id)
{
	ix->changes++;
	if (mailbox_id == 0 || !enqueue(ix, account_id, mailbox_id))
		ix->sweep = true;
	if (!ix->running) {
		/* step_done schedules otherwise. During a delivery burst a
		 * notification comes every few ms: it must not cut short the
		 * pause step_done chose. */
		long d = ix->not_before_ms - now_ms();

		schedule(ix, d > SEARCH_INDEXER_WAKE_MS ? d : SEARCH_INDEXER_WAKE_MS);
	}
}

void search_indexer_destroy(struct search_indexer **ix_r)
{
	struct search_indexer *ix = *ix_r;

	if (ix == NULL)
		return;
	if (ix->inflight != NULL)
		*ix->inflight = NULL;
	event_free(ix->timer);
	free(ix);
	*ix_r = NULL;
}
