/* Asynchronous PostgreSQL access for event-loop processes.
 *
 * A `struct db` is a small pool of libpq connections driven by a libevent
 * loop, in pipeline mode (libpq 14+). A request is one or more statements
 * sent together and closed by one Sync, so PostgreSQL runs them as one
 * implicit transaction: either all of them commit or none does, and one
 * request's error never aborts another's. The callback runs on the loop once
 * every result of the request has arrived. Nothing here blocks the loop.
 *
 * Statements are named constants registered at db_create() and prepared on
 * every connection (STYLE.md: never SQL built from strings). Values are
 * always parameters.
 *
 * When PostgreSQL goes away, requests in flight on that connection complete
 * with an error; the connection is re-established with back-off (0.1 s
 * doubling to 5 s). While no connection is up, new requests fail at once
 * with an error rather than piling up.
 *
 * Only the server's store module and the admin daemon include this header:
 * it exposes libpq's PGresult. */
#ifndef MAILSTEAD_DB_H
#define MAILSTEAD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct db;
struct db_request;

/* A named statement, prepared on each connection. */
struct db_statement {
	const char *name;
	const char *sql;
};

/* One statement of a request. values[i] == NULL is SQL NULL. lengths and
 * formats may be NULL (all text). Values are copied by db_submit. */
struct db_query {
	const char *stmt;
	int nparams;
	const char *const *values;
	const int *lengths;
	const int *formats; /* 1 = binary (for bytea) */
	int result_format;  /* 0 text, 1 binary */
	/* Instead of stmt: SQL text run unprepared. Only for queries the
	 * server assembles from its own constant fragments (SEARCH); client
	 * values still travel only as parameters. Copied by db_submit. */
	const char *sql;
};

/* Called once per request on the loop thread. On success error is NULL and
 * results[0..n-1] are the statements' results (check each status: after a
 * failing statement the rest are PGRES_PIPELINE_ABORTED). On a connection
 * failure error says why and results is NULL. The results are freed when
 * the callback returns: copy what must outlive it. The callback may submit
 * new requests but must not call db_destroy. */
typedef void db_callback(void *ctx, PGresult *const *results, unsigned n, const char *error);

/* Creates the pool and starts connecting nconns connections; stmts (array
 * of nstmts, static storage) are prepared on each. Returns NULL with
 * error_r on invalid arguments. Connections that fail are retried. */
struct db *db_create(struct event_base *base, const char *conninfo, unsigned nconns,
		     const struct db_statement *stmts, unsigned nstmts, const char **error_r);

/* Closes every connection; pending requests get their callback with an
 * error first, unless cancelled. Sets *db_r to NULL. */
void db_destroy(struct db **db_r);

/* Queues a request of n statements (1..16). Returns a handle usable with
 * db_request_cancel until the callback runs, or NULL when no connection is
 * available (error_r says why; the callback will not run). */
struct db_request *db_submit(struct db *db, const struct db_query *queries, unsigned n,
			     db_callback *cb, void *ctx, const char **error_r);

/* The callback of req will not be called (its results are discarded when
 * they arrive). For a session that goes away while waiting. */
void db_request_cancel(struct db_request *req);

/* Notification callback: payload is a NOTIFY payload, or NULL when the
 * listening connection was (re)established -- notifications may have been
 * missed while it was down, so the receiver should resynchronise. */
typedef void db_notify_cb(void *ctx, const char *payload);

/* Makes the first connection LISTEN on channel (a constant SQL identifier,
 * never client text) after every (re)connect, and routes its notifications
 * to cb. Up to 4 channels; call right after db_create. */
void db_listen(struct db *db, const char *channel, db_notify_cb *cb, void *ctx);

/* True when at least one connection is ready. */
bool db_is_up(const struct db *db);

/* Number of requests queued or in flight (for tests and stats). */
unsigned db_pending(const struct db *db);

/* Maps a failed result to a short machine reason using its SQLSTATE:
 * the class "MS" codes raised by schema/ functions (MSNF0 not_found, MSCF0
 * conflict, MSIV0 invalid, MSLM0 limit, MSFB0 forbidden, MSOQ0 over_quota), unique violations
 * (conflict), check/foreign-key/not-null violations and bad input syntax
 * (invalid); anything else is NULL (an internal error). */
const char *db_error_reason(const PGresult *res);

/* The primary message of a failed result, without trailing newline, in a
 * static buffer. */
const char *db_error_message(const PGresult *res);

#endif
