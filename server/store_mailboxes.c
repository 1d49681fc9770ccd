/* Store: mailbox management (CREATE, DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE, LIST, LSUB, STATUS). */
#include "store_mailboxes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "mailbox_name.h" /* the name limits a RENAME must keep for children */
#include "store_internal.h"

/* The STATUS counters of mailbox m, in the order status_from_row() reads
 * them, shared by STATUS and LIST's RETURN (STATUS): $1 is the account, $3
 * the STORE_MAILBOXES_WANT_* bits. RFC 3501 §6.3.10: STATUS must not change
 * the mailbox, so \Recent is counted, not claimed. */
#define STATUS_COLUMNS                                                                     \
	"m.noselect, m.messages, m.uidnext, m.uidvalidity, m.unseen,"                      \
	" CASE WHEN $3::integer & 1 <> 0 THEN (SELECT count(*) FROM mailbox_messages mm"   \
	"   WHERE mm.account_id = $1 AND mm.mailbox_id = m.mailbox_id"                     \
	"     AND mm.uid >= m.recent_uid) ELSE 0 END,"                                      \
	" CASE WHEN $3::integer & 2 <> 0 THEN (SELECT count(*) FROM mailbox_messages mm"   \
	"   WHERE mm.account_id = $1 AND mm.mailbox_id = m.mailbox_id"                     \
	"     AND mm.flags & 8 <> 0) ELSE 0 END,"                                           \
	" CASE WHEN $3::integer & 4 <> 0 THEN (SELECT coalesce(sum(g.size), 0)"           \
	"   FROM mailbox_messages mm JOIN messages g"                                        \
	"     ON g.account_id = mm.account_id AND g.message_id = mm.message_id"           \
	"   WHERE mm.account_id = $1 AND mm.mailbox_id = m.mailbox_id"                     \
	"     AND mm.flags & 8 <> 0) ELSE 0 END,"                                           \
	" m.highestmodseq"

const struct db_statement store_mailboxes_statements[] = {
	{"mailboxes_create", "SELECT mailboxes_create_use($1, $2, $3, $4)"},
	{"mailboxes_delete", "SELECT mailboxes_delete($1, $2)"},
	{"mailboxes_rename", "SELECT mailbox_id, moved FROM mailboxes_rename($1, $2, $3, $4, $5, $6)"},
	{"mailboxes_subscribe", "SELECT mailboxes_subscribe($1, $2, $3)"},
	{"mailboxes_unsubscribe", "DELETE FROM subscriptions WHERE account_id = $1 AND name = $2"},
	/* Mailboxes, and with $2 also subscribed names (a subscription is a
	 * name: it may have no mailbox, RFC 3501 §6.3.6). */
	{"mailboxes_list",
	 "SELECT coalesce(m.name, s.name), m.name IS NOT NULL, s.name IS NOT NULL, m.special_use, "
	 STATUS_COLUMNS
	 " FROM (SELECT * FROM mailboxes WHERE account_id = $1) m"
	 " FULL JOIN (SELECT name FROM subscriptions WHERE account_id = $1 AND $2::boolean) s"
	 "   ON s.name = m.name"},
	/* A subscription is a name: it may have no mailbox (RFC 3501 §6.3.6). */
	{"mailboxes_lsub",
	 "SELECT s.name, coalesce(m.noselect, true) FROM subscriptions s"
	 " LEFT JOIN mailboxes m ON m.account_id = s.account_id AND m.name = s.name"
	 " WHERE s.account_id = $1"},
	{"mailboxes_status",
	 "SELECT " STATUS_COLUMNS " FROM mailboxes m WHERE m.account_id = $1 AND m.name = $2"},
};
const unsigned store_mailboxes_nstatements =
	sizeof(store_mailboxes_statements) / sizeof(store_mailboxes_statements[0]);

/* -- mutations ------------------------------------------------------------- */

struct mut_req {
	store_mailboxes_cb *cb;
	void *ctx;
};

static enum store_mailboxes_result map_reason(const char *reason)
{
	static const struct {
		const char *reason;
		enum store_mailboxes_result r;
	} map[] = {
		{"not_found", STORE_MAILBOXES_NONEXISTENT}, {"conflict", STORE_MAILBOXES_EXISTS},
		{"limit", STORE_MAILBOXES_LIMIT},	    {"forbidden", STORE_MAILBOXES_HASCHILDREN},
		{"invalid", STORE_MAILBOXES_CANNOT},
	};

	if (reason != NULL)
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(reason, map[i].reason) == 0)
				return map[i].r;
	return STORE_MAILBOXES_ERROR;
}

static void mut_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct mut_req *r = arg;
	enum store_mailboxes_result result;
	int64_t id = 0;
	uint64_t moved = 0;
	ExecStatusType st;

	if (error != NULL) {
		r->cb(r->ctx, STORE_MAILBOXES_ERROR, 0, 0, error);
		free(r);
		return;
	}
	st = PQresultStatus(res[0]);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res[0], PG_DIAG_SQLSTATE);
		/* MSUA0: mailboxes_create_use's "special use taken". */
		result = state != NULL && strcmp(state, "MSUA0") == 0
				 ? STORE_MAILBOXES_USEATTR
				 : map_reason(db_error_reason(res[0]));
		r->cb(r->ctx, result, 0, 0,
		      result == STORE_MAILBOXES_ERROR ? db_error_message(res[0]) : NULL);
		free(r);
		return;
	}
	if (st == PGRES_TUPLES_OK && PQntuples(res[0]) > 0) {
		if (!PQgetisnull(res[0], 0, 0))
			id = strtoll(PQgetvalue(res[0], 0, 0), NULL, 10);
		if (PQnfields(res[0]) > 1 && !PQgetisnull(res[0], 0, 1))
			moved = strtoull(PQgetvalue(res[0], 0, 1), NULL, 10);
	}
	r->cb(r->ctx, STORE_MAILBOXES_OK, id, moved, NULL);
	free(r);
}

static int mut_submit(struct db *db, const char *stmt, int nparams, const char *const *vals,
		      store_mailboxes_cb *cb, void *ctx, const char **error_r)
{
	struct mut_req *r = malloc(sizeof(*r));
	struct db_query q = {stmt, nparams, vals, NULL, NULL, 0, NULL};

	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, mut_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}

int store_mailboxes_create(struct db *db, int64_t account_id, const char *name,
			   const char *special_use, store_mailboxes_cb *cb, void *ctx,
			   const char **error_r)
{
	char acc[24], max[16];
	const char *vals[] = {acc, name, max, special_use};

	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(max, sizeof(max), "%d", STORE_MAILBOXES_MAX);
	return mut_submit(db, "mailboxes_create", 4, vals, cb, ctx, error_r);
}

int store_mailboxes_delete(struct db *db, int64_t account_id, const char *name,
			   store_mailboxes_cb *cb, void *ctx, const char **error_r)
{
	char acc[24];
	const char *vals[] = {acc, name};

	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	return mut_submit(db, "mailboxes_delete", 2, vals, cb, ctx, error_r);
}

int store_mailboxes_rename(struct db *db, int64_t account_id, const char *old_name,
			   const char *new_name, store_mailboxes_cb *cb, void *ctx,
			   const char **error_r)
{
	char acc[24], max[16], depth[16], bytes[16];
	const char *vals[] = {acc, old_name, new_name, max, depth, bytes};

	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(max, sizeof(max), "%d", STORE_MAILBOXES_MAX);
	snprintf(depth, sizeof(depth), "%d", MAILBOX_DEPTH_MAX);
	snprintf(bytes, sizeof(bytes), "%d", MAILBOX_NAME_MAX);
	return mut_submit(db, "mailboxes_rename", 6, vals, cb, ctx, error_r);
}

int store_mailboxes_subscribe(struct db *db, int64_t account_id, const char *name,
			      bool subscribe, store_mailboxes_cb *cb, void *ctx,
			      const char **error_r)
{
	char acc[24], max[16];
	const char *vals[] = {acc, name, max};

	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(max, sizeof(max), "%d", STORE_SUBSCRIPTIONS_MAX);
	return mut_submit(db, subscribe ? "mailboxes_subscribe" : "mailboxes_unsubscribe",
			  subscribe ? 3 : 2, vals, cb, ctx, error_r);
}

/* -- LIST, LSUB, STATUS -------------------------------------------------------- */

static uint32_t u32(const PGresult *res, int row, int col)
{
	unsigned long long v = strtoull(PQgetvalue(res, row, col), NULL, 10);

	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Reads STATUS_COLUMNS starting at column col of row. A NULL noselect (a
 * subscribed name without a mailbox) reads as not selectable. */
static void status_from_row(const PGresult *res, int row, int col,
			    struct store_mailboxes_status *st)
{
	memset(st, 0, sizeof(*st));
	st->noselect = PQgetisnull(res, row, col) || strcmp(PQgetvalue(res, row, col), "t") == 0;
	st->messages = u32(res, row, col + 1);
	st->uidnext = u32(res, row, col + 2);
	st->uidvalidity = u32(res, row, col + 3);
	st->unseen = u32(res, row, col + 4);
	st->recent = u32(res, row, col + 5);
	st->deleted = u32(res, row, col + 6);
	st->deleted_bytes = strtoull(PQgetvalue(res, row, col + 7), NULL, 10);
	st->highestmodseq = strtoull(PQgetvalue(res, row, col + 8), NULL, 10);
}

struct list_req {
	store_mailboxes_list_cb *cb;
	void *ctx;
	bool lsub;
};

static void list_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct list_req *r = arg;
	struct store_mailboxes_entry *entries;
	int rows;

	if (error != NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, NULL, 0, error != NULL ? error : db_error_message(res[0]));
		free(r);
		return;
	}
	rows = PQntuples(res[0]);
	entries = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*entries));
	if (entries == NULL)
		panic("store: out of memory");
	for (int i = 0; i < rows; i++) {
		struct store_mailboxes_entry *e = &entries[i];
		e->name = PQgetvalue(res[0], i, 0);
		if (r->lsub) {
			e->noselect = strcmp(PQgetvalue(res[0], i, 1), "t") == 0;
			e->subscribed = true;
			continue;
		}
		e->exists = strcmp(PQgetvalue(res[0], i, 1), "t") == 0;
		e->subscribed = strcmp(PQgetvalue(res[0], i, 2), "t") == 0;
		e->special_use = PQgetisnull(res[0], i, 3) ? NULL : PQgetvalue(res[0], i, 3);
		status_from_row(res[0], i, 4, &e->status);
		e->noselect = e->status.noselect;
	}
	r->cb(r->ctx, entries, (size_t)rows, NULL);
	free(entries);
	free(r);
}

static int list_submit(struct db *db, const struct db_query *q, bool lsub,
		       store_mailboxes_list_cb *cb, void *ctx, const char **error_r)
{
	struct list_req *r = malloc(sizeof(*r));

	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	r->lsub = lsub;
	if (db_submit(db, q, 1, list_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}

int store_mailboxes_list(struct db *db, int64_t account_id, bool subscriptions, unsigned want,
			 store_mailboxes_list_cb *cb, void *ctx, const char **error_r)
{
	char acc[24], wants[16];
	const char *vals[] = {acc, subscriptions ? "t" : "f", wants};
	struct db_query q = {"mailboxes_list", 3, vals, NULL, NULL, 0, NULL};

	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(wants, sizeof(wants), "%u", want);
	return list_submit(db, &q, false, cb, ctx, error_r);
}

int store_mailboxes_lsub(struct db *db, int64_t account_id, store_mailboxes_list_cb *cb,
			 void *ctx, const char **error_r)
{
	char acc[24];
	const char *vals[] = {acc};
	struct db_query q = {"mailboxes_lsub", 1, vals, NULL, NULL, 0, NULL};

	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	return list_submit(db, &q, true, cb, ctx, error_r);
}

struct status_req {
	store_mailboxes_status_cb *cb;
	void *ctx;
};

static void status_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct status_req *r = arg;
	struct store_mailboxes_status st;

	if (error != NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, -1, NULL, error != NULL ? error : db_error_message(res[0]));
	} else if (PQntuples(res[0]) == 0) {
		r->cb(r->ctx, 0, NULL, NULL);
	} else {
		status_from_row(res[0], 0, 0, &st);
		r->cb(r->ctx, 1, &st, NULL);
	}
	free(r);
}

int store_mailboxes_status(struct db *db, int64_t account_id, const char *name, unsigned want,
			   store_mailboxes_status_cb *cb, void *ctx, const char **error_r)
{
	struct status_req *r = malloc(sizeof(*r));
	char acc[24], wants[16];
	const char *vals[] = {acc, name, wants};
	struct db_query q = {"mailboxes_status", 3, vals, NULL, NULL, 0, NULL};

	if (r == NULL)
		panic("store: out of memory");
	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(wants, sizeof(wants), "%u", want);
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, status_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}
