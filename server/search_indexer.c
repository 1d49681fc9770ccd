/* The background word index for SEARCH BODY/TEXT: see search_indexer.h. */
#include "search_indexer.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "store_search.h"

/* Longest back-off when steps find only locked mailboxes. */
#define SEARCH_INDEXER_LOCKED_MS 1000

struct search_indexer {
	struct event_base *base;
	struct db *db;
	unsigned batch, pause_ms;
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
			     unsigned pause_ms)
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
	return d;
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

static void step_done(void *ctx, int indexed, bool more, const char *error)
{
	struct search_indexer **slot = ctx, *ix = *slot;
	long elapsed, delay;

	free(slot);
	if (ix == NULL)
		return; /* destroyed meanwhile */
	ix->inflight = NULL;
	ix->running = false;
	elapsed = now_ms() - ix->started_ms;
	if (error != NULL)
		LOG(WARN, NULL, "search index: step failed: %s", error);
	else if (indexed > 0)
		LOG(DEBUG, NULL, "search index: %d messages in %ld ms%s", indexed, elapsed,
		    more ? ", more to do" : "");
	/* Work left where this step was: carry on there. A failed step is
	 * redone by the next sweep. */
	if (error != NULL || more) {
		if (ix->cur_mailbox == 0 || error != NULL)
			ix->sweep = true;
		else if (!enqueue(ix, ix->cur_account, ix->cur_mailbox))
			ix->sweep = true;
	}
	delay = search_indexer_delay_ms(error != NULL ? -1 : indexed, more, elapsed,
					db_pending(ix->db) > 0, ix->pause_ms);
	if (delay < 0 && (ix->nqueue > 0 || ix->sweep))
		delay = ix->pause_ms; /* other mailboxes wait */
	if (delay < 0) {
		/* Idle until woken or the periodic sweep (the safety net). */
		delay = ix->next_sweep_ms - now_ms();
		if (delay < 0)
			delay = 0;
	}
	schedule(ix, delay);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct search_indexer *ix = arg;
	struct search_indexer **slot;
	const char *err;

	ix->scheduled = false;
	if (ix->running)
		return; /* step_done schedules the next */
	if (ix->nqueue > 0) {
		ix->cur_account = ix->queue[0].account_id;
		ix->cur_mailbox = ix->queue[0].mailbox_id;
		ix->nqueue--;
		memmove(&ix->queue[0], &ix->queue[1], ix->nqueue * sizeof(ix->queue[0]));
	} else if (ix->sweep || now_ms() >= ix->next_sweep_ms) {
		ix->cur_account = ix->cur_mailbox = 0;
		ix->sweep = false;
		ix->next_sweep_ms = now_ms() + SEARCH_INDEXER_POLL_SECONDS * 1000L;
	} else {
		/* Nothing to do until woken, or the periodic sweep. */
		schedule(ix, ix->next_sweep_ms - now_ms());
		return;
	}
	slot = malloc(sizeof(*slot));
	if (slot == NULL)
		panic("search_indexer: out of memory");
	*slot = ix;
	ix->running = true;
	ix->started_ms = now_ms();
	if (store_search_index_step(ix->db, ix->batch, ix->cur_account, ix->cur_mailbox, step_done,
				    slot, &err) < 0) {
		/* No connection up: a sweep later catches up. */
		free(slot);
		ix->running = false;
		ix->sweep = true;
		schedule(ix, SEARCH_INDEXER_RETRY_SECONDS * 1000L);
		return;
	}
	ix->inflight = slot;
}

struct search_indexer *search_indexer_create(struct event_base *base, struct db *db,
					     unsigned batch, unsigned pause_ms,
					     unsigned start_delay_ms)
{
	struct search_indexer *ix = calloc(1, sizeof(*ix));

	if (ix == NULL)
		panic("search_indexer: out of memory");
	ix->base = base;
	ix->db = db;
	ix->batch = batch;
	ix->pause_ms = pause_ms;
	ix->timer = evtimer_new(base, on_timer, ix);
	if (ix->timer == NULL)
		panic("search_indexer: cannot create timer");
	ix->sweep = true; /* catch up on whatever happened while we were down */
	ix->next_sweep_ms = now_ms() + SEARCH_INDEXER_POLL_SECONDS * 1000L;
	schedule(ix, start_delay_ms);
	return ix;
}

void search_indexer_wake(struct search_indexer *ix, int64_t account_id, int64_t mailbox_id)
{
	if (mailbox_id == 0 || !enqueue(ix, account_id, mailbox_id))
		ix->sweep = true;
	if (!ix->running)
		schedule(ix, SEARCH_INDEXER_WAKE_MS); /* step_done schedules otherwise */
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
