#include "rpc_call.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "pool.h"
#include "workqueue.h"

#define AUDIT_STMT "admin.audit"
#define AUDIT_SQL                                                                                  \
	"INSERT INTO admin_audit (peer_uid, peer_pid, method, params, outcome, error) "            \
	"VALUES ($1::bigint, $2::bigint, $3, $4::jsonb, $5, $6)"

/* Room for every method's statement and the audit insert. */
#define RPC_MAX_STATEMENTS 64

static void call_log_ctx(const struct rpc_call *call, struct log_ctx *ctx, char *client,
                         size_t size)
{
	snprintf(client, size, "uid=%ld pid=%ld", call->peer.uid, call->peer.pid);
	ctx->session_id = call->peer.conn_id;
	ctx->account = NULL;
	ctx->client = client;
}

/* Overwrites every password the request carried before its JSON is freed
 * (STYLE.md: secrets are wiped right after use). */
static void call_wipe_secrets(struct rpc_call *call)
{
	const char *key;
	json_t *v;

	if (call->req.params == NULL || !json_is_object(call->req.params))
		return;
	json_object_foreach(call->req.params, key, v)
	{
		if (json_is_string(v) && strstr(key, "pass") != NULL)
			explicit_bzero((char *)json_string_value(v), json_string_length(v));
	}
}

static void call_free(struct rpc_call *call)
{
	call_wipe_secrets(call);
	rpc_request_free(&call->req);
	free(call->audit_params);
	if (call->job_result != NULL) {
		explicit_bzero(call->job_result, strlen(call->job_result));
		free(call->job_result);
	}
	pool_destroy(&call->pool);
	free(call);
}

/* Hands the response to the connection and frees the call. */
static void call_finish(struct rpc_call *call, char *response)
{
	rpc_done_fn *done = call->done;
	void *ctx = call->done_ctx;

	if (call->req.notification) {
		free(response);
		response = NULL;
	}
	call_free(call);
	done(ctx, response);
}

static void audit_done(void *ctx, PGresult *const *results, unsigned n, const char *error)
{
	char *method = ctx;

	if (error != NULL)
		LOG(ERROR, NULL, "audit of a %s call lost: %s", method, error);
	else if (PQresultStatus(results[0]) != PGRES_COMMAND_OK)
		LOG(ERROR, NULL, "audit of a %s call lost: %s", method,
		    db_error_message(results[0]));
	free(method);
}

/* Fills the audit statement's query. values must have room for 6. */
static void audit_query(struct rpc_call *call, struct db_query *q, const char **values,
                        const char *outcome, const char *error)
{
	values[0] = pool_printf(call->pool, "%ld", call->peer.uid);
	values[1] = pool_printf(call->pool, "%ld", call->peer.pid);
	values[2] = call->method->name;
	values[3] = call->audit_params;
	values[4] = outcome;
	values[5] = error;
	memset(q, 0, sizeof(*q));
	q->stmt = AUDIT_STMT;
	q->nparams = 6;
	q->values = values;
}

/* Records a mutation's outcome on its own, when it could not go with the
 * mutation's transaction (a failure, or db.migrate). Fire and forget: the
 * response does not wait for it; a lost row is logged as an error. */
static void audit_submit(struct rpc_call *call, const char *outcome, const char *error)
{
	struct db_query q;
	const char *values[6], *why;
	char *method;

	if (call->method == NULL || (call->method->flags & RPC_MUTATION) == 0)
		return;
	if (call->audit_params == NULL)
		call->audit_params = rpc_audit_params(call->req.params);
	if (call->env->stopping || call->env->db == NULL) {
		LOG(ERROR, NULL, "audit of a %s call lost: shutting down", call->method->name);
		return;
	}
	audit_query(call, &q, values, outcome, error);
	method = strdup(call->method->name);
	if (method == NULL)
		panic("rpc: out of memory");
	if (db_submit(call->env->db, &q, 1, audit_done, method, &why) == NULL) {
		LOG(ERROR, NULL, "audit of a %s call lost: %s", method, why);
		free(method);
	}
}

void rpc_call_result(struct rpc_call *call, json_t *result)
{
	struct log_ctx ctx;
	char client[64];

	call_log_ctx(call, &ctx, client, sizeof(client));
	LOG(INFO, &ctx, "%s: ok", call->method->name);
	if ((call->method->flags & RPC_MUTATION) != 0 && !call->audited)
		audit_submit(call, "ok", NULL);
	char *line = rpc_response_result(call->req.id, result);
	json_decref(result);
	call_finish(call, line);
}

/* Finishes a call that failed before or at validation: the method may be
 * unknown (NULL), and the id comes from wherever it could be read. */
static void call_fail_err(struct rpc_call *call, json_t *id, const struct rpc_error *err)
{
	struct log_ctx ctx;
	char client[64], method[RPC_NAME_MAX + 4];
	const char *m =
	    call->method != NULL ? call->method->name
	    : call->req.method != NULL
	        ? log_sanitize(method, sizeof(method), call->req.method, strlen(call->req.method))
	        : "-";

	call_log_ctx(call, &ctx, client, sizeof(client));
	if (err->code == RPC_INTERNAL_ERROR)
		LOG(ERROR, &ctx, "%s: internal error: %s", m, err->message);
	else
		LOG(INFO, &ctx, "%s: error %d %s: %s", m, err->code,
		    err->reason != NULL ? err->reason : "-", err->message);
	if (!call->audited)
		audit_submit(call, "error", err->message);
	call_finish(call, rpc_response_error(id, err));
}

void rpc_call_fail(struct rpc_call *call, int code, const char *reason, const char *fmt, ...)
{
	struct rpc_error err;
	va_list ap;

	err.code = code;
	err.reason = reason;
	err.param[0] = '\0';
	va_start(ap, fmt);
	(void)vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	call_fail_err(call, call->req.id, &err);
}

void rpc_call_start(struct rpc_env *env, const struct rpc_peer *peer, const char *line, size_t len,
                    rpc_done_fn *done, void *ctx)
{
	struct rpc_call *call = calloc(1, sizeof(*call));
	struct rpc_error err;
	json_t *id = NULL;

	if (call == NULL)
		panic("rpc: out of memory");
	call->env = env;
	call->peer = *peer;
	call->done = done;
	call->done_ctx = ctx;
	call->pool = pool_create(0);
	if (rpc_request_parse(line, len, &call->req, &id, &err) < 0) {
		/* Always answered, even without an id (JSON-RPC 2.0 §5). */
		call_fail_err(call, id, &err);
		json_decref(id);
		return;
	}
	call->method = rpc_method_find(call->req.method);
	if (call->method == NULL) {
		char name[RPC_NAME_MAX + 4];
		rpc_error_set(
		    &err, RPC_METHOD_NOT_FOUND, "invalid", NULL, "Method not found: %s",
		    log_sanitize(name, sizeof(name), call->req.method, strlen(call->req.method)));
		call_fail_err(call, call->req.id, &err);
		return;
	}
	if ((call->method->flags & RPC_MUTATION) != 0)
		call->audit_params = rpc_audit_params(call->req.params);
	if (rpc_params_check(call->method, call->req.params, call->pool, &call->vals, &err) < 0) {
		call_fail_err(call, call->req.id, &err);
		return;
	}
	call->method->handler(call);
}

static void sql_done(void *ctx, PGresult *const *results, unsigned n, const char *error)
{
	struct rpc_call *call = ctx;
	const char *reason;
	json_error_t jerr;
	json_t *result;
	bool audited = call->audited;

	/* Unless everything succeeded, the transaction that held the audit
	 * row rolled back: the failure gets a row of its own. */
	call->audited = false;
	if (error != NULL) {
		rpc_call_fail(call, RPC_INTERNAL_ERROR, NULL, "database error: %s", error);
		return;
	}
	if (PQresultStatus(results[0]) != PGRES_TUPLES_OK) {
		reason = db_error_reason(results[0]);
		if (reason == NULL)
			rpc_call_fail(call, RPC_INTERNAL_ERROR, NULL, "database error: %s",
			              db_error_message(results[0]));
		else
			rpc_call_fail(call, RPC_APP_ERROR, reason, "%s",
			              db_error_message(results[0]));
		return;
	}
	if (n > 1 && PQresultStatus(results[1]) != PGRES_COMMAND_OK) {
		rpc_call_fail(call, RPC_INTERNAL_ERROR, NULL, "audit insert failed: %s",
		              db_error_message(results[1]));
		return;
	}
	if (PQntuples(results[0]) != 1 || PQnfields(results[0]) != 1 ||
	    PQgetisnull(results[0], 0, 0)) {
		rpc_call_fail(call, RPC_INTERNAL_ERROR, NULL, "unexpected result shape");
		return;
	}
	result = json_loads(PQgetvalue(results[0], 0, 0), 0, &jerr);
	if (result == NULL) {
		rpc_call_fail(call, RPC_INTERNAL_ERROR, NULL, "bad JSON from the database: %s",
		              jerr.text);
		return;
	}
	call->audited = audited;
	rpc_call_result(call, result);
}

void rpc_call_submit(struct rpc_call *call, const char *stmt, const char *const *values, int n)
{
	struct db_query q[2];
	const char *audit_values[6], *why;
	unsigned nq = 1;

	if (call->env->stopping || call->env->db == NULL) {
		rpc_call_fail(call, RPC_INTERNAL_ERROR, NULL, "shutting down");
		return;
	}
	memset(q, 0, sizeof(q));
	q[0].stmt = stmt;
	q[0].nparams = n;
	q[0].values = values;
	if ((call->method->flags & RPC_MUTATION) != 0) {
		/* Same request, same transaction: no change without its row. */
		audit_query(call, &q[1], audit_values, "ok", NULL);
		nq = 2;
		call->audited = true;
	}
	if (db_submit(call->env->db, q, nq, sql_done, call, &why) == NULL) {
		call->audited = false;
		rpc_call_fail(call, RPC_INTERNAL_ERROR, NULL, "%s", why);
	}
}

void rpc_call_sql(struct rpc_call *call)
{
	rpc_call_submit(call, call->method->name, call->vals.text, (int)call->vals.n);
}

static void offload_work(void *arg)
{
	struct rpc_call *call = arg;

	call->job_work(call);
}

static void offload_done(void *arg, bool cancelled)
{
	struct rpc_call *call = arg;

	if (cancelled) {
		rpc_call_fail(call, RPC_INTERNAL_ERROR, NULL, "shutting down");
		return;
	}
	call->job_cont(call);
}

int rpc_call_offload(struct rpc_call *call, void (*work)(struct rpc_call *call),
                     void (*cont)(struct rpc_call *call))
{
	call->job_work = work;
	call->job_cont = cont;
	if (call->env->wq == NULL) {
		work(call);
		cont(call);
		return 0;
	}
	if (workqueue_submit(call->env->wq, offload_work, offload_done, call) < 0) {
		rpc_call_fail(call, RPC_APP_ERROR, "limit", "server busy, try again");
		return -1;
	}
	return 0;
}

static void hash_work(struct rpc_call *call)
{
	char *hash = NULL;

	if (password_hash(call->job_input, &call->env->cost, &hash, &call->job_error) == 0)
		call->job_result = hash;
}

static void hash_cont(struct rpc_call *call)
{
	if (call->job_result == NULL) {
		rpc_call_fail(call, RPC_INTERNAL_ERROR, NULL, "password hashing failed: %s",
		              call->job_error != NULL ? call->job_error : "unknown error");
		return;
	}
	call->job_next(call);
}

void rpc_call_hash_password(struct rpc_call *call, const char *plain,
                            void (*cont)(struct rpc_call *call))
{
	call->job_input = plain;
	call->job_error = NULL;
	call->job_next = cont;
	(void)rpc_call_offload(call, hash_work, hash_cont); /* fails the call itself */
}

static struct db_statement rpc_statements[RPC_MAX_STATEMENTS];
static unsigned rpc_nstatements;

static void add_statement(const struct rpc_method *m, void *ctx)
{
	if (m->sql == NULL)
		return;
	if (rpc_nstatements >= RPC_MAX_STATEMENTS)
		panic("rpc: too many statements");
	rpc_statements[rpc_nstatements].name = m->name;
	rpc_statements[rpc_nstatements].sql = m->sql;
	rpc_nstatements++;
}

const struct db_statement *rpc_call_statements(unsigned *n_r)
{
	if (rpc_nstatements == 0) {
		rpc_statements[0].name = AUDIT_STMT;
		rpc_statements[0].sql = AUDIT_SQL;
		rpc_nstatements = 1;
		rpc_method_foreach(add_statement, NULL);
	}
	*n_r = rpc_nstatements;
	return rpc_statements;
}
