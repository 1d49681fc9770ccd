/* One JSON-RPC call's way through the admin daemon: parse and validate the
 * line (rpc.h), run the method's handler, which runs SQL through db.h or a
 * blocking job on the workqueue, write admin_audit for mutations, and hand
 * the response line back to the connection that sent the request.
 *
 * The connection (admind.c) knows nothing of methods; handlers know nothing
 * of sockets: they see a validated struct rpc_call and finish it with
 * rpc_call_result() or rpc_call_fail(), exactly once.
 *
 * Audit: a mutation's audit row (outcome ok) is inserted in the same
 * request, hence the same transaction, as the mutation itself, so there is
 * no change without its row. When the mutation fails (or its params are
 * invalid) a row with outcome error is inserted on its own afterwards. */
#ifndef MAILSTEAD_RPC_CALL_H
#define MAILSTEAD_RPC_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include "password.h"
#include "rpc.h"

struct config;
struct db;
struct db_statement;
struct workqueue;

/* What calls share: owned by admind, outlives every call. */
struct rpc_env {
	struct db *db;
	struct workqueue *wq; /* NULL: blocking jobs run inline (tests) */
	const struct config *cfg;
	int schema_fd; /* cfg->schema_dir, opened before the privilege drop */
	struct password_cost cost;
	bool stopping;  /* no new database work: finish calls with errors */
	bool migrating; /* a db.migrate job is running */
};

/* Who sent the request (SO_PEERCRED). */
struct rpc_peer {
	long uid, gid, pid;
	unsigned long conn_id; /* for log lines */
};

/* Receives the response line of a call (malloc'd, no line end; the callee
 * frees it) or NULL when none is due (a notification). Called exactly once
 * per rpc_call_start, possibly before rpc_call_start returns. */
typedef void rpc_done_fn(void *ctx, char *response);

/* A call in progress. Handlers read it; only rpc_call.c changes it. */
struct rpc_call {
	struct rpc_env *env;
	struct pool *pool; /* freed with the call */
	const struct rpc_method *method;
	struct rpc_request req;
	struct rpc_values vals;
	struct rpc_peer peer;
	char *audit_params; /* mutations: params without secrets */
	bool audited;       /* the audit row went with the mutation's SQL */
	rpc_done_fn *done;
	void *done_ctx;

	/* A job on the workqueue (rpc_call_offload). */
	void (*job_work)(struct rpc_call *call);
	void (*job_cont)(struct rpc_call *call);
	void (*job_next)(struct rpc_call *call); /* after a password hash */
	const char *job_input;                   /* borrowed */
	char *job_result;                        /* malloc'd by job_work, freed with the call */
	const char *job_error;
	int job_int;
};

/* Handles one request line (len bytes, line end removed). The caller may
 * reuse or wipe line as soon as this returns: the call keeps what it needs. */
void rpc_call_start(struct rpc_env *env, const struct rpc_peer *peer, const char *line, size_t len,
                    rpc_done_fn *done, void *ctx);

/* The statements every call may run (each method's, the audit insert), for
 * db_create. Returns a static array and its size in *n_r. */
const struct db_statement *rpc_call_statements(unsigned *n_r);

/* Finishes call with result (a JSON object; the reference is stolen). */
void rpc_call_result(struct rpc_call *call, json_t *result);

/* Finishes call with an error (reason: see rpc.h; NULL with
 * RPC_INTERNAL_ERROR). */
void rpc_call_fail(struct rpc_call *call, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The generic handler: runs method->sql with the checked values as $1..$n
 * and returns the one jsonb value it yields. */
void rpc_call_sql(struct rpc_call *call);

/* Runs statement stmt (a method name) with values as $1..$n and finishes
 * the call with its jsonb result, or its error mapped to a reason. */
void rpc_call_submit(struct rpc_call *call, const char *stmt, const char *const *values, int n);

/* Runs work(call) on a workqueue thread (inline without a workqueue), then
 * cont(call) on the loop. work may only touch call->job_*. Returns 0; or
 * -1 when the queue is full: the call has then been failed with reason
 * "limit" (and freed). */
int rpc_call_offload(struct rpc_call *call, void (*work)(struct rpc_call *call),
                     void (*cont)(struct rpc_call *call));

/* Hashes the call's plaintext password (Argon2id at env->cost) off the
 * loop, then calls cont with the hash in call->job_result; fails the call
 * on error. plain must stay valid until cont runs (it lives in the
 * request). */
void rpc_call_hash_password(struct rpc_call *call, const char *plain,
                            void (*cont)(struct rpc_call *call));

#endif
