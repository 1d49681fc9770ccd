/* A mailstead-imapd worker process: one libevent loop serving many
 * sessions on the listeners inherited from the master.
 *
 * The worker owns the database pool, the thread pool for password hashing,
 * and the list of live sessions (told to say goodbye on SIGTERM). */
#ifndef MAILSTEAD_WORKER_H
#define MAILSTEAD_WORKER_H

#include <openssl/ssl.h>
#include <stdbool.h>

struct config;
struct conn;
struct db;
struct notify;
struct auth_cache;
struct event_base;
struct workqueue;

enum worker_listener_kind {
	WORKER_LISTEN_IMAP,  /* plaintext, STARTTLS offered */
	WORKER_LISTEN_IMAPS, /* implicit TLS */
	WORKER_LISTEN_LMTP,  /* LMTP delivery (TCP or unix socket), no per-IP limit */
};

struct worker_listener {
	int fd;
	enum worker_listener_kind kind;
};

struct worker;

/* A session registered with its worker: shutdown() is called once when the
 * worker stops (say BYE and close). Embedded in the session. */
struct worker_session {
	struct worker_session *prev, *next;
	void (*shutdown)(void *ctx);
	void *ctx;
	char ip[64]; /* client IP for the per-IP limit */
	/* Set by sessions of a logged-in account: kick(ctx, reason) ends the
	 * session when an administrator suspends or deletes the account or its
	 * domain, or changes the password (notify.h account events). */
	int64_t account_id, domain_id;
	void (*kick)(void *ctx, const char *reason);
};

/* Runs the worker until SIGTERM; exits the process (0 on a clean stop). */
void worker_run(const struct config *cfg, SSL_CTX *tls_ctx, const struct worker_listener *ls,
		unsigned nls, unsigned index) __attribute__((noreturn));

struct event_base *worker_base(struct worker *w);
struct db *worker_db(struct worker *w);
struct workqueue *worker_workqueue(struct worker *w);
struct notify *worker_notify(struct worker *w);
struct auth_cache *worker_auth_cache(struct worker *w);
const struct config *worker_config(struct worker *w);
SSL_CTX *worker_tls(struct worker *w);
bool worker_stopping(struct worker *w);

/* Session bookkeeping: add when a session starts, remove when it ends. */
void worker_session_add(struct worker *w, struct worker_session *s);
void worker_session_remove(struct worker *w, struct worker_session *s);

#endif
