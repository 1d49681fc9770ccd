/* Store: SEARCH. */
#include "store_search.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "search_tokens.h"
#include "workqueue.h"
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
	/* schema/0020_search_tokens_c.sql */
	{"search_index_check", "SELECT mail_search_c_tokens_ok()"},
	/* schema/0022_search_gin_batch.sql */
	{"search_index_flush", "SELECT mail_search_index_flush()"},
	/* schema/0024_search_lexicon_prune.sql */
	{"search_lexicon_prune", "SELECT r_account, r_words FROM mail_search_lexicon_prune($1)"},
	{"search_index_read", "SELECT * FROM mail_search_index_read($1, $2, $3, $4)"},
	{"search_index_store",
	 "SELECT indexed, more FROM mail_search_index_store($1, $2, $3, $4, $5, $6, $7, $8)"},
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

struct check_req {
	store_search_check_cb *cb;
	void *ctx;
};

/* A one-value query: 't' is 1, 'f' 0, a number itself (clamped). */
static void check_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct check_req *r = arg;
	const char *v;

	if (error != NULL) {
		r->cb(r->ctx, -1, error);
	} else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK || PQntuples(res[0]) != 1) {
		r->cb(r->ctx, -1, db_error_message(res[0]));
	} else {
		v = PQgetvalue(res[0], 0, 0);
		if (strcmp(v, "t") == 0 || strcmp(v, "f") == 0) {
			r->cb(r->ctx, v[0] == 't' ? 1 : 0, NULL);
		} else {
			long long x = strtoll(v, NULL, 10);

			r->cb(r->ctx, x < 0 ? 0 : x > INT_MAX ? INT_MAX : (int)x, NULL);
		}
	}
	free(r);
}

static int submit_check(struct db *db, const char *stmt, store_search_check_cb *cb, void *ctx,
			const char **error_r)
{
	struct check_req *r = malloc(sizeof(*r));
	struct db_query q;

	if (r == NULL)
		panic("store: out of memory");
	memset(&q, 0, sizeof(q));
	q.stmt = stmt;
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, check_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}

int store_search_index_check(struct db *db, store_search_check_cb *cb, void *ctx,
			     const char **error_r)
{
	return submit_check(db, "search_index_check", cb, ctx, error_r);
}

int store_search_index_flush(struct db *db, store_search_check_cb *cb, void *ctx,
			     const char **error_r)
{
	return submit_check(db, "search_index_flush", cb, ctx, error_r);
}

struct prune_req {
	store_search_prune_cb *cb;
	void *ctx;
};

static void prune_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct prune_req *r = arg;

	if (error != NULL)
		r->cb(r->ctx, 0, 0, error);
	else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK || PQntuples(res[0]) > 1)
		r->cb(r->ctx, 0, 0, db_error_message(res[0]));
	else if (PQntuples(res[0]) == 0)
		r->cb(r->ctx, 0, 0, NULL);
	else
		r->cb(r->ctx, strtoll(PQgetvalue(res[0], 0, 0), NULL, 10),
		      strtoll(PQgetvalue(res[0], 0, 1), NULL, 10), NULL);
	free(r);
}

int store_search_lexicon_prune(struct db *db, uint64_t min_deleted, store_search_prune_cb *cb,
			       void *ctx, const char **error_r)
{
	struct prune_req *r = malloc(sizeof(*r));
	char min[24];
	const char *vals[1] = {min};
	struct db_query q;

	if (r == NULL)
		panic("store: out of memory");
	snprintf(min, sizeof(min), "%llu", (unsigned long long)min_deleted);
	memset(&q, 0, sizeof(q));
	q.stmt = "search_lexicon_prune";
	q.nparams = 1;
	q.values = vals;
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, prune_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}

/* The C tokens path: a read request, tokenising (in the workqueue when
 * there is one), then a store request. */
struct tok_req {
	struct db *db;
	struct workqueue *wq;
	store_search_index_cb *cb;
	void *ctx;
	bool more; /* the read said so */
	/* The read's account, mailbox, from and last (decimal integers). */
	char head[4][24];
	/* The messages to tokenise: copies of the read's values. */
	unsigned n;
	char **mids, **headers, **bodies;
	size_t *hlens, *blens;
	/* The store's array parameters: message ids, exact, ascii, other. */
	struct buf out[4];
};

static void tok_free(struct tok_req *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		free(r->mids[i]);
		free(r->headers[i]);
		free(r->bodies[i]);
	}
	free(r->mids);
	free(r->headers);
	free(r->bodies);
	free(r->hlens);
	free(r->blens);
	for (int i = 0; i < 4; i++)
		buf_free(&r->out[i]);
	free(r);
}

static char *copy_value(const PGresult *res, int row, int col, size_t *len_r)
{
	size_t len = (size_t)PQgetlength(res, row, col);
	char *p = malloc(len + 1);

	if (p == NULL)
		panic("store: out of memory");
	memcpy(p, PQgetvalue(res, row, col), len + 1);
	if (len_r != NULL)
		*len_r = len;
	return p;
}

/* Appends an element to an array literal being built ("{" so far: no
 * comma): tokens hold only [0-9a-z:], spaces and bytes >= 0x80
 * (search_tokens.h), so quoting them needs no escapes. */
static void array_elem(struct buf *b, bool quote, const char *s, size_t len)
{
	if ((b->len > 1 && buf_append(b, ",", 1) < 0) ||
	    (quote && buf_append(b, "\"", 1) < 0) || buf_append(b, s, len) < 0 ||
	    (quote && buf_append(b, "\"", 1) < 0))
		panic("store: cannot grow");
}

/* Runs in a workqueue thread (or the loop's): touches only r. */
static void tok_work(void *arg)
{
	struct tok_req *r = arg;
	struct search_tokens t;

	search_tokens_init(&t);
	for (int i = 0; i < 4; i++) {
		buf_init(&r->out[i], 0);
		if (buf_append(&r->out[i], "{", 1) < 0)
			panic("store: cannot grow");
	}
	for (unsigned i = 0; i < r->n; i++) {
		search_tokens_reset(&t);
		search_tokens_add(&t, "", r->bodies[i], r->blens[i]);
		search_tokens_add(&t, "h:", r->headers[i], r->hlens[i]);
		array_elem(&r->out[0], false, r->mids[i], strlen(r->mids[i]));
		array_elem(&r->out[1], false, t.exact ? "t" : "f", 1);
		array_elem(&r->out[2], true, t.ascii.data != NULL ? t.ascii.data : "", t.ascii.len);
		array_elem(&r->out[3], true, t.other.data != NULL ? t.other.data : "", t.other.len);
	}
	search_tokens_free(&t);
	for (int i = 0; i < 4; i++)
		if (buf_append(&r->out[i], "}", 1) < 0)
			panic("store: cannot grow");
}

static void tok_stored(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct tok_req *r = arg;

	if (error != NULL)
		r->cb(r->ctx, -1, false, error);
	else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK || PQntuples(res[0]) != 1)
		r->cb(r->ctx, -1, false, db_error_message(res[0]));
	else
		r->cb(r->ctx, atoi(PQgetvalue(res[0], 0, 0)),
		      r->more || strcmp(PQgetvalue(res[0], 0, 1), "t") == 0, NULL);
	tok_free(r);
}

/* In the loop thread, after tok_work: sends the tokens. */
static void tok_done(void *arg, bool cancelled)
{
	struct tok_req *r = arg;
	const char *vals[8], *err;
	struct db_query q;

	if (cancelled) {
		r->cb(r->ctx, -1, false, "shutting down");
		tok_free(r);
		return;
	}
	for (int i = 0; i < 4; i++) {
		vals[i] = r->head[i];
		vals[4 + i] = r->out[i].data;
	}
	memset(&q, 0, sizeof(q));
	q.stmt = "search_index_store";
	q.nparams = 8;
	q.values = vals;
	/* db_submit copies the values. */
	if (db_submit(r->db, &q, 1, tok_stored, r, &err) == NULL) {
		r->cb(r->ctx, -1, false, err);
		tok_free(r);
	}
}

static void tok_read(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct tok_req *r = arg;
	int rows;

	if (error != NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK ||
	    PQntuples(res[0]) < 1) {
		r->cb(r->ctx, -1, false, error != NULL ? error : db_error_message(res[0]));
		tok_free(r);
		return;
	}
	r->more = strcmp(PQgetvalue(res[0], 0, 4), "t") == 0;
	if (PQgetisnull(res[0], 0, 0)) {
		/* No mailbox to index now. */
		r->cb(r->ctx, 0, r->more, NULL);
		tok_free(r);
		return;
	}
	for (int i = 0; i < 4; i++)
		snprintf(r->head[i], sizeof(r->head[i]), "%s", PQgetvalue(res[0], 0, i));
	rows = PQntuples(res[0]);
	r->mids = calloc((size_t)rows, sizeof(*r->mids));
	r->headers = calloc((size_t)rows, sizeof(*r->headers));
	r->bodies = calloc((size_t)rows, sizeof(*r->bodies));
	r->hlens = calloc((size_t)rows, sizeof(*r->hlens));
	r->blens = calloc((size_t)rows, sizeof(*r->blens));
	if (r->mids == NULL || r->headers == NULL || r->bodies == NULL || r->hlens == NULL ||
	    r->blens == NULL)
		panic("store: out of memory");
	for (int i = 1; i < rows; i++) {
		r->mids[r->n] = copy_value(res[0], i, 5, NULL);
		r->headers[r->n] = copy_value(res[0], i, 6, &r->hlens[r->n]);
		r->bodies[r->n] = copy_value(res[0], i, 7, &r->blens[r->n]);
		r->n++;
	}
	/* Tokenising runs at ~4 ns a byte (up to STORE_SEARCH_INDEX_BYTES
	 * and one message a step): off the loop, at the workqueue's lower
	 * priority, when there is one. */
	if (r->wq != NULL && workqueue_submit(r->wq, tok_work, tok_done, r) == 0)
		return;
	tok_work(r);
	tok_done(r, false);
}

int store_search_index_step(struct db *db, unsigned batch, bool c_tokens, struct workqueue *wq,
			    int64_t account_id, int64_t mailbox_id, store_search_index_cb *cb,
			    void *ctx, const char **error_r)
{
	struct index_req *r = malloc(sizeof(*r));
	char lim[16], acc[24], mb[24], bytes[16];
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
	if (c_tokens) {
		struct tok_req *t = calloc(1, sizeof(*t));
		const char *tvals[4] = {lim, bytes, vals[1], vals[2]};

		if (t == NULL)
			panic("store: out of memory");
		free(r);
		snprintf(bytes, sizeof(bytes), "%u", STORE_SEARCH_INDEX_BYTES);
		q.stmt = "search_index_read";
		q.nparams = 4;
		q.values = tvals;
		t->db = db;
		t->wq = wq;
		t->cb = cb;
		t->ctx = ctx;
		if (db_submit(db, &q, 1, tok_read, t, error_r) == NULL) {
			tok_free(t);
			return -1;
		}
		return 0;
	}
	if (db_submit(db, &q, 1, index_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}
