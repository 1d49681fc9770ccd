/* Store: SEARCH. */
#include "store_search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store_internal.h"

const struct db_statement store_search_statements[] = {
	/* Local to the request's transaction: only the search that follows
	 * runs under it. */
	/* JIT off: the search's cost estimates cross jit_above_cost, and
	 * compiling took 280 ms of a 100,000-message search whose work is
	 * index lookups and detoasting (measured), never expression-bound.
	 * Sequential scans off: every table a search reads is reached by key
	 * or index; PostgreSQL does not count the cost of detoasting a word
	 * array, and on a message_search of a few thousand rows it preferred
	 * reading all of them to the GIN index (300 ms instead of 40). */
	{"search_timeout",
	 "SELECT set_config('statement_timeout', $1, true), set_config('jit', 'off', true),"
	 " set_config('enable_seqscan', 'off', true)"},
	/* schema/0013_search_index.sql */
	{"search_index_step", "SELECT indexed, more FROM mail_search_index_step($1, $2, $3)"},
};
const unsigned store_search_nstatements =
	sizeof(store_search_statements) / sizeof(store_search_statements[0]);

/* The fixed parts of the query; the compiled condition goes between
 * them. $1..$3 are ours, the condition's parameters start at $4. */
/* The modseq column only when the reply needs it (a MODSEQ key): 75,000
 * fewer int8 values to format and parse for a common word. */
#define SEARCH_SELECT "SELECT mm.uid FROM mailbox_messages mm"
#define SEARCH_SELECT_MODSEQ "SELECT mm.uid, mm.modseq FROM mailbox_messages mm"
#define SEARCH_JOIN                                                                                \
	" JOIN messages m ON m.account_id = mm.account_id AND m.message_id = mm.message_id"
#define SEARCH_WHERE " WHERE mm.account_id = $1 AND mm.mailbox_id = $2 AND mm.uid <= $3 AND ("
#define SEARCH_ORDER ") ORDER BY mm.uid"

struct search_req {
	store_search_cb *cb;
	void *ctx;
};

static void search_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct search_req *r = arg;
	uint32_t *uids = NULL;
	uint64_t max_modseq = 0;
	const char *state;
	bool with_modseq;
	int rows;

	if (error != NULL) {
		r->cb(r->ctx, STORE_SEARCH_FAILED, NULL, 0, 0, error);
		goto out;
	}
	if (PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, STORE_SEARCH_FAILED, NULL, 0, 0, db_error_message(res[0]));
		goto out;
	}
	if (PQresultStatus(res[1]) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res[1], PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "57014") == 0) /* query_canceled */
			r->cb(r->ctx, STORE_SEARCH_TIMEOUT, NULL, 0, 0, db_error_message(res[1]));
		else
			r->cb(r->ctx, STORE_SEARCH_FAILED, NULL, 0, 0, db_error_message(res[1]));
		goto out;
	}
	rows = PQntuples(res[1]);
	if (rows > 0) {
		uids = malloc((size_t)rows * sizeof(*uids));
		if (uids == NULL)
			panic("store: out of memory");
	}
	with_modseq = PQnfields(res[1]) > 1;
	for (int i = 0; i < rows; i++) {
		uids[i] = (uint32_t)strtoul(PQgetvalue(res[1], i, 0), NULL, 10);
		if (with_modseq) {
			uint64_t m = strtoull(PQgetvalue(res[1], i, 1), NULL, 10);
			if (m > max_modseq)
				max_modseq = m;
		}
	}
	r->cb(r->ctx, STORE_SEARCH_OK, uids, (uint32_t)rows, max_modseq, NULL);
	free(uids);
out:
	free(r);
}

int store_search(struct db *db, int64_t account_id, int64_t mailbox_id, uint32_t max_uid,
		 const char *where, bool join_message, bool want_modseq, const char *const *params,
		 unsigned nparams, store_search_cb *cb, void *ctx, const char **error_r)
{
	const char *select = want_modseq ? SEARCH_SELECT_MODSEQ : SEARCH_SELECT;
	struct search_req *r;
	char acc[24], mb[24], max[16], timeout[16];
	const char *tvals[1] = {timeout};
	const char **vals;
	size_t len;
	char *sql;
	struct db_query q[2];
	int ret = 0;

	if (nparams > 65535 - 3) {
		*error_r = "too many search parameters";
		return -1;
	}
	len = strlen(select) + strlen(SEARCH_JOIN) + strlen(SEARCH_WHERE) + strlen(where) +
	      strlen(SEARCH_ORDER) + 1;
	sql = malloc(len);
	vals = malloc((nparams + 3) * sizeof(*vals));
	r = malloc(sizeof(*r));
	if (sql == NULL || vals == NULL || r == NULL)
		panic("store: out of memory");
	snprintf(sql, len, "%s%s%s%s%s", select, join_message ? SEARCH_JOIN : "",
		 SEARCH_WHERE, where, SEARCH_ORDER);
	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(mb, sizeof(mb), "%lld", (long long)mailbox_id);
	snprintf(max, sizeof(max), "%u", max_uid);
	snprintf(timeout, sizeof(timeout), "%d", STORE_SEARCH_TIMEOUT_MS);
	vals[0] = acc;
	vals[1] = mb;
	vals[2] = max;
	for (unsigned i = 0; i < nparams; i++)
		vals[3 + i] = params[i];

	memset(q, 0, sizeof(q));
	q[0].stmt = "search_timeout";
	q[0].nparams = 1;
	q[0].values = tvals;
	q[1].sql = sql;
	q[1].nparams = (int)nparams + 3;
	q[1].values = vals;
	r->cb = cb;
	r->ctx = ctx;
	/* db_submit copies the text and the values. */
	if (db_submit(db, q, 2, search_done, r, error_r) == NULL) {
		free(r);
		ret = -1;
	}
	free(sql);
	free(vals);
	return ret;
}

struct index_req {
	store_search_index_cb *cb;
	void *ctx;
};

static void index_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct index_req *r = arg;

	if (error != NULL)
		r->cb(r->ctx, -1, false, error);
	else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK || PQntuples(res[0]) != 1)
		r->cb(r->ctx, -1, false, db_error_message(res[0]));
	else
		r->cb(r->ctx, atoi(PQgetvalue(res[0], 0, 0)),
		      strcmp(PQgetvalue(res[0], 0, 1), "t") == 0, NULL);
	free(r);
}

int store_search_index_step(struct db *db, unsigned batch, int64_t account_id, int64_t mailbox_id,
			    store_search_index_cb *cb, void *ctx, const char **error_r)
{
	struct index_req *r = malloc(sizeof(*r));
	char lim[16], acc[24], mb[24];
	const char *vals[3] = {lim, mailbox_id != 0 ? acc : NULL, mailbox_id != 0 ? mb : NULL};
	struct db_query q;

	if (r == NULL)
		panic("store: out of memory");
	snprintf(lim, sizeof(lim), "%u", batch);
	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(mb, sizeof(mb), "%lld", (long long)mailbox_id);
	memset(&q, 0, sizeof(q));
	q.stmt = "search_index_step";
	q.nparams = 3;
	q.values = vals;
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, index_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}
