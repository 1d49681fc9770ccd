/* Change notifications between sessions, workers and hosts (DESIGN.md §4).
 *
 * After a mutation commits, the worker publishes "account:mailbox" with
 * pg_notify, batched over NOTIFY_BATCH_MS into one statement (a NOTIFY inside
 * the mutating transaction serialises commits cluster-wide). Every worker
 * LISTENs on one connection and wakes the watches of that mailbox; a woken
 * session asks the store what changed since its modseq. Watches on the
 * publishing worker wake at once. Lost notifications (a crash between commit
 * and publish, a dropped listening connection) are covered by waking every
 * watch after a reconnect and every NOTIFY_POLL_SECONDS. */
#ifndef MAILSTEAD_NOTIFY_H
#define MAILSTEAD_NOTIFY_H

#include <stdint.h>

struct notify;
struct db;
struct event_base;

#define NOTIFY_CHANNEL "mailstead_mailbox"
#define NOTIFY_ACCOUNT_CHANNEL "mailstead_account"
#define NOTIFY_BATCH_MS 10
#define NOTIFY_POLL_SECONDS 30

/* A session's interest in one mailbox; embedded in the watcher. */
struct notify_watch {
	struct notify_watch *prev, *next; /* in its hash bucket */
	int64_t account_id, mailbox_id;
	void (*fn)(void *ctx);
	void *ctx;
	int active;
};

/* Starts listening on db (call right after db_create). */
struct notify *notify_create(struct event_base *base, struct db *db);
void notify_destroy(struct notify **n_r);

/* Calls w->fn(w->ctx) whenever the mailbox may have changed. */
void notify_watch_add(struct notify *n, struct notify_watch *w, int64_t account_id,
		      int64_t mailbox_id, void (*fn)(void *ctx), void *ctx);
void notify_watch_remove(struct notify *n, struct notify_watch *w);

/* A committed change of the mailbox: wakes local watches now and tells the
 * other workers and hosts shortly. */
void notify_publish(struct notify *n, int64_t account_id, int64_t mailbox_id);

/* Account events from mailstead-admind (channel NOTIFY_ACCOUNT_CHANNEL,
 * JSON payloads, docs/admin-protocol.md): event is "suspended",
 * "password_changed", "deleted" (account_id set) or "domain_suspended",
 * "domain_deleted" (domain_id set; the other id is 0). */
typedef void notify_account_fn(void *ctx, const char *event, int64_t account_id,
			       int64_t domain_id);
void notify_on_account(struct notify *n, notify_account_fn *fn, void *ctx);

/* fn(ctx, account_id, mailbox_id) for every mailbox change received on
 * NOTIFY_CHANNEL (from any worker or host, this one included), and
 * fn(ctx, 0, 0) after the listener reconnects (changes may have been
 * missed). For background work that follows changes
 * (server/search_indexer.h). */
typedef void notify_change_fn(void *ctx, int64_t account_id, int64_t mailbox_id);
void notify_on_change(struct notify *n, notify_change_fn *fn, void *ctx);

#endif
