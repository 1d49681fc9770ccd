#include "notify.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "db.h"
#include "log.h"

#define NOTIFY_BUCKETS 4096
#define NOTIFY_MAX_PAYLOAD 7900 /* PostgreSQL's limit is 8000 bytes */
#define NOTIFY_MAX_PENDING 4096 /* distinct mailboxes per batch */

struct pending {
	int64_t account_id, mailbox_id;
};

struct notify {
	struct event_base *base;
	struct db *db;
	struct notify_watch *buckets[NOTIFY_BUCKETS];
	struct pending pending[NOTIFY_MAX_PENDING];
	unsigned npending;
	struct event *batch_timer, *poll_timer;
	notify_account_fn *account_fn;
	void *account_ctx;
	notify_change_fn *change_fn;
	void *change_ctx;
};

static unsigned bucket_of(int64_t account_id, int64_t mailbox_id)
{
	uint64_t h = (uint64_t)account_id * 0x9E3779B97F4A7C15ull ^ (uint64_t)mailbox_id;

	return (unsigned)((h ^ (h >> 29)) % NOTIFY_BUCKETS);
}

/* Wakes the watches of one mailbox (mailbox_id 0: every mailbox of the
 * account; account_id 0: everything). */
static void wake(struct notify *n, int64_t account_id, int64_t mailbox_id)
{
	if (account_id == 0 || mailbox_id == 0) {
		for (unsigned b = 0; b < NOTIFY_BUCKETS; b++) {
			struct notify_watch *w, *next;
			for (w = n->buckets[b]; w != NULL; w = next) {
				next = w->next;
				if (account_id == 0 || w->account_id == account_id)
					w->fn(w->ctx);
			}
		}
		return;
	}
	struct notify_watch *w, *next;
	for (w = n->buckets[bucket_of(account_id, mailbox_id)]; w != NULL; w = next) {
		next = w->next; /* fn may remove its own watch */
		if (w->account_id == account_id && w->mailbox_id == mailbox_id)
			w->fn(w->ctx);
	}
}

/* Payload: "a:m a:m ..." */
static void on_notify(void *ctx, const char *payload)
{
	struct notify *n = ctx;
	const char *p = payload;

	if (payload == NULL) {
		if (n->change_fn != NULL)
			n->change_fn(n->change_ctx, 0, 0);
		/* (Re)subscribed: anything may have happened meanwhile. */
		wake(n, 0, 0);
		return;
	}
	while (*p != '\0') {
		char *end;
		long long a = strtoll(p, &end, 10), m;
		if (end == p || *end != ':')
			break;
		p = end + 1;
		m = strtoll(p, &end, 10);
		if (end == p)
			break;
		wake(n, a, m);
		if (n->change_fn != NULL)
			n->change_fn(n->change_ctx, a, m);
		p = end;
		while (*p == ' ')
			p++;
	}
}

static void on_account(void *ctx, const char *payload)
{
	struct notify *n = ctx;
	json_t *j, *ev;
	json_error_t err;

	if (payload == NULL || n->account_fn == NULL)
		return; /* (re)subscribed: nothing to catch up on */
	j = json_loads(payload, 0, &err);
	ev = j != NULL ? json_object_get(j, "event") : NULL;
	if (!json_is_string(ev)) {
		LOG(WARN, NULL, "notify: malformed account event ignored");
		json_decref(j);
		return;
	}
	n->account_fn(n->account_ctx, json_string_value(ev),
		      json_integer_value(json_object_get(j, "account_id")),
		      json_integer_value(json_object_get(j, "domain_id")));
	json_decref(j);
}

void notify_on_account(struct notify *n, notify_account_fn *fn, void *ctx)
{
	n->account_fn = fn;
	n->account_ctx = ctx;
}

void notify_on_change(struct notify *n, notify_change_fn *fn, void *ctx)
{
	n->change_fn = fn;
	n->change_ctx = ctx;
}

static void publish_done(void *ctx, PGresult *const *res, unsigned nres, const char *error)
{
	if (error != NULL)
		LOG(WARN, NULL, "notify: publishing failed: %s", error);
	else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK)
		LOG(WARN, NULL, "notify: publishing failed: %s", db_error_message(res[0]));
}

static void flush_batch(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	struct buf payload;
	unsigned i = 0;
	const char *err;

	buf_init(&payload, NOTIFY_MAX_PAYLOAD);
	while (i < n->npending) {
		char item[48];
		int len = snprintf(item, sizeof(item), "%s%" PRId64 ":%" PRId64,
				   payload.len ? " " : "", n->pending[i].account_id,
				   n->pending[i].mailbox_id);
		if (buf_append(&payload, item, (size_t)len) == 0) {
			i++;
			if (i < n->npending)
				continue;
		}
		/* Full, or the last item: send this payload. */
		{
			const char *vals[] = {payload.data};
			struct db_query q = {.stmt = "notify_publish", .nparams = 1, .values = vals};
			if (db_submit(n->db, &q, 1, publish_done, n, &err) == NULL)
				LOG(WARN, NULL, "notify: cannot publish: %s", err);
		}
		buf_reset(&payload);
	}
	buf_free(&payload);
	n->npending = 0;
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	wake(arg, 0, 0);
}

struct notify *notify_create(struct event_base *base, struct db *db)
{
	struct notify *n = calloc(1, sizeof(*n));
	struct timeval poll = {NOTIFY_POLL_SECONDS, 0};

	if (n == NULL)
		panic("notify: out of memory");
	n->base = base;
	n->db = db;
	n->batch_timer = evtimer_new(base, flush_batch, n);
	n->poll_timer = event_new(base, -1, EV_PERSIST, on_poll, n);
	if (n->batch_timer == NULL || n->poll_timer == NULL || event_add(n->poll_timer, &poll) < 0)
		panic("notify: cannot create timers");
	db_listen(db, NOTIFY_CHANNEL, on_notify, n);
	db_listen(db, NOTIFY_ACCOUNT_CHANNEL, on_account, n);
	return n;
}

void notify_destroy(struct notify **n_r)
{
	struct notify *n = *n_r;

	if (n == NULL)
		return;
	event_free(n->batch_timer);
	event_free(n->poll_timer);
	free(n);
	*n_r = NULL;
}

void notify_watch_add(struct notify *n, struct notify_watch *w, int64_t account_id,
		      int64_t mailbox_id, void (*fn)(void *ctx), void *ctx)
{
	unsigned b = bucket_of(account_id, mailbox_id);

	w->account_id = account_id;
	w->mailbox_id = mailbox_id;
	w->fn = fn;
	w->ctx = ctx;
	w->prev = NULL;
	w->next = n->buckets[b];
	if (w->next != NULL)
		w->next->prev = w;
	n->buckets[b] = w;
	w->active = 1;
}

void notify_watch_remove(struct notify *n, struct notify_watch *w)
{
	if (!w->active)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		n->buckets[bucket_of(w->account_id, w->mailbox_id)] = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->active = 0;
}

void notify_publish(struct notify *n, int64_t account_id, int64_t mailbox_id)
{
	struct timeval tv = {0, NOTIFY_BATCH_MS * 1000};

	wake(n, account_id, mailbox_id);
	for (unsigned i = 0; i < n->npending; i++)
		if (n->pending[i].account_id == account_id && n->pending[i].mailbox_id == mailbox_id)
			return;
	if (n->npending == NOTIFY_MAX_PENDING)
		flush_batch(-1, 0, n);
	n->pending[n->npending].account_id = account_id;
	n->pending[n->npending].mailbox_id = mailbox_id;
	n->npending++;
	if (!evtimer_pending(n->batch_timer, NULL) && evtimer_add(n->batch_timer, &tv) < 0)
		panic("notify: cannot arm timer");
}
