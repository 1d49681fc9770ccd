/* Store: changing the messages of a mailbox (STORE, COPY, MOVE, EXPUNGE). */
#include "store_messages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

const struct db_statement store_messages_statements[] = {
	{"messages_store_flags",
	 "SELECT r_uid, r_flags, r_keywords, r_modseq, r_report, r_failed FROM mail_store_flags_cond("
	 "$1::bigint, $2::bigint, $3::bigint[], $4::bigint[], $5::integer, $6::integer,"
	 " $7::text[], $8::bigint, $9::integer, $10::integer, $11::bigint)"},
	/* Without UNCHANGEDSINCE: the same rows without the wrapper's extra
	 * PL/pgSQL call and copy of every row. */
	{"messages_store_flags_plain",
	 "SELECT r_uid, r_flags, r_keywords, r_modseq, r_report, false FROM mail_store_flags("
	 "$1::bigint, $2::bigint, $3::bigint[], $4::bigint[], $5::integer, $6::integer,"
	 " $7::text[], $8::bigint, $9::integer, $10::integer)"},
	{"messages_copy",
	 "SELECT r_src_uid, r_dst_uid, r_dst_mailbox, r_dst_uidvalidity FROM mail_copy("
	 "$1::bigint, $2::bigint, $3::bigint[], $4::bigint[], $5::text, $6::integer)"},
	{"messages_expunge",
	 "SELECT r_uid FROM mail_expunge($1::bigint, $2::bigint, $3::bigint[], $4::bigint[])"},
	{"messages_move",
	 "SELECT r_src_uid, r_dst_uid, r_dst_mailbox, r_dst_uidvalidity FROM mail_move("
	 "$1::bigint, $2::bigint, $3::bigint[], $4::bigint[], $5::text, $6::integer)"},
};
const unsigned store_messages_nstatements =
	sizeof(store_messages_statements) / sizeof(store_messages_statements[0]);

/* A text[] literal with every element quoted (keywords may hold ',' or
 * '}'; '"' and '\' are escaped although keyword atoms cannot hold them). */
static void text_array(struct buf *out, const char *const *v, unsigned n)
{
	(void)buf_append_str(out, "{");
	for (unsigned i = 0; i < n; i++) {
		(void)buf_append_str(out, i ? ",\"" : "\"");
		for (const char *p = v[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				(void)buf_append(out, "\\", 1);
			(void)buf_append(out, p, 1);
		}
		(void)buf_append_str(out, "\"");
	}
	(void)buf_append_str(out, "}");
}

/* The failure of a request: (reason, message) for the callback. */
static const char *request_error(PGresult *const *res, const char *error, const char **reason_r)
{
	*reason_r = NULL;
	if (error != NULL)
		return error;
	*reason_r = db_error_reason(res[0]);
	return db_error_message(res[0]);
}

/* -- STORE ----------------------------------------------------------------- */

struct flags_req {
	store_flags_cb *cb;
	void *ctx;
};

static void flags_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct flags_req *r = arg;
	struct store_flags_result out;
	struct store_flags_row *rows = NULL;
	struct store_changes changes;
	struct store_change *changed = NULL;
	uint32_t *expunged = NULL;
	const char *reason;
	PGresult *q;
	int nt;

	if (error != NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		error = request_error(res, error, &reason);
		r->cb(r->ctx, NULL, reason, error);
		free(r);
		return;
	}
	if (n > 1 && PQresultStatus(res[1]) != PGRES_TUPLES_OK) {
		/* The sync failed, and with it the request's transaction:
		 * the flags were not stored. */
		r->cb(r->ctx, NULL, NULL, db_error_message(res[1]));
		free(r);
		return;
	}
	q = res[0];
	nt = PQntuples(q);
	if (nt < 1 || strcmp(PQgetvalue(q, 0, 0), "0") != 0) {
		r->cb(r->ctx, NULL, NULL, "mail_store_flags: no header row");
		free(r);
		return;
	}
	memset(&out, 0, sizeof(out));
	out.modseq = strtoull(PQgetvalue(q, 0, 3), NULL, 10);
	out.mailbox_keywords = PQgetisnull(q, 0, 2) ? NULL : PQgetvalue(q, 0, 2);
	if (nt > 1) {
		rows = malloc((size_t)(nt - 1) * sizeof(*rows));
		if (rows == NULL)
			panic("store: out of memory");
	}
	for (int i = 1; i < nt; i++) {
		struct store_flags_row *row = &rows[i - 1];
		row->uid = (uint32_t)strtoul(PQgetvalue(q, i, 0), NULL, 10);
		row->flags = (uint32_t)strtoul(PQgetvalue(q, i, 1), NULL, 10);
		row->keywords = PQgetvalue(q, i, 2);
		row->changed_elsewhere = strcmp(PQgetvalue(q, i, 4), "t") == 0;
		row->modseq = strtoull(PQgetvalue(q, i, 3), NULL, 10);
		row->failed = strcmp(PQgetvalue(q, i, 5), "t") == 0;
	}
	out.rows = rows;
	out.nrows = (uint32_t)(nt - 1);
	if (n > 1 && store_sync_parse(res[1], &changes, &changed, &expunged) == 0)
		out.changes = &changes;
	r->cb(r->ctx, &out, NULL, NULL);
	free(changed);
	free(expunged);
	free(rows);
	free(r);
}

int store_messages_flags(struct db *db, const struct store_flags_req *req, store_flags_cb *cb,
			 void *ctx, const char **error_r)
{
	struct flags_req *r;
	char acc[24], mb[24], mode[8], flags[16], since[24], maxmsg[16], maxmb[16], unch[24];
	struct buf lo, hi, kw;
	const char *vals[11];
	struct db_query qs[2] = {{"messages_store_flags", 11, vals, NULL, NULL, 0}};
	struct db_query *q = &qs[0];
	struct store_sync_query sq;
	int ret = 0;

	snprintf(acc, sizeof(acc), "%lld", (long long)req->account_id);
	snprintf(mb, sizeof(mb), "%lld", (long long)req->mailbox_id);
	snprintf(mode, sizeof(mode), "%d", (int)req->mode);
	snprintf(flags, sizeof(flags), "%u", req->flags);
	snprintf(since, sizeof(since), "%llu", (unsigned long long)req->since_modseq);
	snprintf(maxmsg, sizeof(maxmsg), "%u", req->max_message_keywords);
	snprintf(maxmb, sizeof(maxmb), "%u", STORE_MAX_MAILBOX_KEYWORDS);
	snprintf(unch, sizeof(unch), "%llu", (unsigned long long)req->unchangedsince);
	buf_init(&lo, 0);
	buf_init(&hi, 0);
	buf_init(&kw, 0);
	store_uid_ranges(req->uids, req->nuids, &lo, &hi);
	text_array(&kw, req->keywords, req->nkeywords);
	vals[0] = acc;
	vals[1] = mb;
	vals[2] = lo.data;
	vals[3] = hi.data;
	vals[4] = mode;
	vals[5] = flags;
	vals[6] = kw.data;
	vals[7] = since;
	vals[8] = maxmsg;
	vals[9] = maxmb;
	vals[10] = unch;
	if (!req->has_unchangedsince) {
		q->stmt = "messages_store_flags_plain";
		q->nparams = 10;
	}
	if (req->sync != NULL)
		store_sync_query(&sq, req->account_id, req->sync, &qs[1]);
	r = malloc(sizeof(*r));
	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	/* copies the values */
	if (db_submit(db, qs, req->sync != NULL ? 2 : 1, flags_done, r, error_r) == NULL) {
		free(r);
		ret = -1;
	}
	buf_free(&lo);
	buf_free(&hi);
	buf_free(&kw);
	return ret;
}

/* -- COPY ------------------------------------------------------------------ */

struct copy_req {
	store_copy_cb *cb;
	void *ctx;
};

static void copy_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct copy_req *r = arg;
	struct store_copy_result out;
	uint32_t *uids = NULL;
	const char *reason;
	PGresult *q;
	int nt;

	if (error != NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		error = request_error(res, error, &reason);
		r->cb(r->ctx, NULL, reason, error);
		free(r);
		return;
	}
	q = res[0];
	nt = PQntuples(q);
	memset(&out, 0, sizeof(out));
	if (nt > 0) {
		uids = malloc((size_t)nt * 2 * sizeof(*uids));
		if (uids == NULL)
			panic("store: out of memory");
		out.dst_mailbox_id = strtoll(PQgetvalue(q, 0, 2), NULL, 10);
		out.dst_uidvalidity = (uint32_t)strtoul(PQgetvalue(q, 0, 3), NULL, 10);
	}
	for (int i = 0; i < nt; i++) {
		uids[i] = (uint32_t)strtoul(PQgetvalue(q, i, 0), NULL, 10);
		uids[nt + i] = (uint32_t)strtoul(PQgetvalue(q, i, 1), NULL, 10);
	}
	out.src_uids = uids;
	out.dst_uids = uids != NULL ? uids + nt : NULL;
	out.n = (uint32_t)nt;
	r->cb(r->ctx, &out, NULL, NULL);
	free(uids);
	free(r);
}

/* COPY and MOVE take the same parameters and give the same rows. */
static int copy_or_move(struct db *db, const char *stmt, int64_t account_id,
			int64_t src_mailbox_id, const uint32_t *uids, uint32_t nuids,
			const char *dst_name, store_copy_cb *cb, void *ctx, const char **error_r)
{
	struct copy_req *r;
	char acc[24], mb[24], maxmb[16];
	struct buf lo, hi;
	const char *vals[6];
	struct db_query q = {stmt, 6, vals, NULL, NULL, 0};
	int ret = 0;

	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(mb, sizeof(mb), "%lld", (long long)src_mailbox_id);
	snprintf(maxmb, sizeof(maxmb), "%u", STORE_MAX_MAILBOX_KEYWORDS);
	buf_init(&lo, 0);
	buf_init(&hi, 0);
	store_uid_ranges(uids, nuids, &lo, &hi);
	vals[0] = acc;
	vals[1] = mb;
	vals[2] = lo.data;
	vals[3] = hi.data;
	vals[4] = dst_name;
	vals[5] = maxmb;
	r = malloc(sizeof(*r));
	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, copy_done, r, error_r) == NULL) {
		free(r);
		ret = -1;
	}
	buf_free(&lo);
	buf_free(&hi);
	return ret;
}

int store_messages_copy(struct db *db, int64_t account_id, int64_t src_mailbox_id,
			const uint32_t *uids, uint32_t nuids, const char *dst_name,
			store_copy_cb *cb, void *ctx, const char **error_r)
{
	return copy_or_move(db, "messages_copy", account_id, src_mailbox_id, uids, nuids,
			    dst_name, cb, ctx, error_r);
}

int store_messages_move(struct db *db, int64_t account_id, int64_t src_mailbox_id,
			const uint32_t *uids, uint32_t nuids, const char *dst_name,
			store_copy_cb *cb, void *ctx, const char **error_r)
{
	return copy_or_move(db, "messages_move", account_id, src_mailbox_id, uids, nuids,
			    dst_name, cb, ctx, error_r);
}

/* -- EXPUNGE --------------------------------------------------------------- */

struct expunge_req {
	store_expunge_cb *cb;
	void *ctx;
};

static void expunge_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct expunge_req *r = arg;
	uint32_t *uids = NULL;
	struct store_changes changes, *cp = NULL;
	struct store_change *changed = NULL;
	uint32_t *expunged = NULL;
	const char *reason;
	int nt;

	if (error != NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		error = request_error(res, error, &reason);
		r->cb(r->ctx, NULL, 0, NULL, reason, error);
		free(r);
		return;
	}
	if (n > 1 && PQresultStatus(res[1]) != PGRES_TUPLES_OK) {
		/* The sync failed, and with it the request's transaction:
		 * nothing was expunged. */
		r->cb(r->ctx, NULL, 0, NULL, NULL, db_error_message(res[1]));
		free(r);
		return;
	}
	nt = PQntuples(res[0]);
	uids = malloc((size_t)(nt > 0 ? nt : 1) * sizeof(*uids));
	if (uids == NULL)
		panic("store: out of memory");
	for (int i = 0; i < nt; i++)
		uids[i] = (uint32_t)strtoul(PQgetvalue(res[0], i, 0), NULL, 10);
	if (n > 1 && store_sync_parse(res[1], &changes, &changed, &expunged) == 0)
		cp = &changes;
	r->cb(r->ctx, uids, (uint32_t)nt, cp, NULL, NULL);
	free(changed);
	free(expunged);
	free(uids);
	free(r);
}

int store_messages_expunge(struct db *db, int64_t account_id, int64_t mailbox_id,
			   const uint32_t *uids, uint32_t nuids, const struct store_sync *sync,
			   store_expunge_cb *cb, void *ctx, const char **error_r)
{
	struct expunge_req *r;
	char acc[24], mb[24];
	struct buf lo, hi;
	const char *vals[4];
	struct db_query q[2] = {{"messages_expunge", 4, vals, NULL, NULL, 0}};
	struct store_sync_query sq;
	int ret = 0;

	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(mb, sizeof(mb), "%lld", (long long)mailbox_id);
	buf_init(&lo, 0);
	buf_init(&hi, 0);
	vals[0] = acc;
	vals[1] = mb;
	vals[2] = NULL; /* NULL ranges: every \Deleted message */
	vals[3] = NULL;
	if (uids != NULL) {
		store_uid_ranges(uids, nuids, &lo, &hi);
		vals[2] = lo.data;
		vals[3] = hi.data;
	}
	r = malloc(sizeof(*r));
	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	if (sync != NULL)
		store_sync_query(&sq, account_id, sync, &q[1]);
	if (db_submit(db, q, sync != NULL ? 2 : 1, expunge_done, r, error_r) == NULL) {
		free(r);
		ret = -1;
	}
	buf_free(&lo);
	buf_free(&hi);
	return ret;
}
