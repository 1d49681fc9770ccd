#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "store_internal.h"

/* -- statements ------------------------------------------------------------ */

static const struct db_statement auth_statements[] = {
	/* The failure counts as mail_auth_failures() (schema/0008) computes
	 * them, written out: that SQL function cannot be inlined and was
	 * planned at each of its two calls per LOGIN. */
	{"auth_lookup",
	 "SELECT a.account_id, ad.address, a.password_hash, "
	 "       a.status = 'active' AND d.status = 'active', "
	 "       coalesce(fi.failures, 0), coalesce(fu.failures, 0), a.domain_id "
	 "FROM (VALUES (1)) v "
	 "LEFT JOIN auth_failures fi ON fi.key = 'ip:' || $2 "
	 "  AND fi.window_start >= now() - interval '1 minute' "
	 "LEFT JOIN auth_failures fu ON fu.key = 'user:' || $1 "
	 "  AND fu.window_start >= now() - interval '1 minute' "
	 "LEFT JOIN addresses ad ON ad.address = $1 AND ad.account_id IS NOT NULL "
	 "LEFT JOIN accounts a ON a.account_id = ad.account_id "
	 "LEFT JOIN domains d ON d.domain_id = a.domain_id"},
	{"auth_failure", "SELECT mail_auth_failure(ARRAY['ip:' || $1, 'user:' || $2])"},
	{"auth_expire", "SELECT mail_auth_failures_expire()"},
};

/* The notification of committed mailbox changes (server/notify.c). */
static const struct db_statement notify_statements[] = {
	{"notify_publish", "SELECT pg_notify('mailstead_mailbox', $1)"},
};
static const unsigned notify_nstatements =
	sizeof(notify_statements) / sizeof(notify_statements[0]);

static const unsigned auth_nstatements = sizeof(auth_statements) / sizeof(auth_statements[0]);

/* Every statement group of the store (one per store_*.c file); each
 * statement is prepared on every connection. */
static const struct {
	const struct db_statement *stmts;
	const unsigned *n;
} statement_groups[] = {
	{auth_statements, &auth_nstatements},
	{notify_statements, &notify_nstatements},
	{store_mailbox_statements, &store_mailbox_nstatements},
	{store_mailboxes_statements, &store_mailboxes_nstatements},
	{store_messages_statements, &store_messages_nstatements},
	{store_append_statements, &store_append_nstatements},
	{store_fetch_statements, &store_fetch_nstatements},
	{store_search_statements, &store_search_nstatements},
	{store_delivery_statements, &store_delivery_nstatements},
	{store_quota_statements, &store_quota_nstatements},
};

struct db *store_db_create(struct event_base *base, const struct config *cfg,
			   const char **error_r)
{
	static struct db_statement all[STORE_MAX_STATEMENTS];
	unsigned n = 0;

	for (size_t g = 0; g < sizeof(statement_groups) / sizeof(statement_groups[0]); g++)
		for (unsigned i = 0; i < *statement_groups[g].n; i++) {
			if (n == STORE_MAX_STATEMENTS)
				panic("store: too many statements");
			all[n++] = statement_groups[g].stmts[i];
		}
	return db_create(base, cfg->db_conninfo, (unsigned)cfg->db_connections, all, n, error_r);
}

/* -- authentication -------------------------------------------------------- */

struct auth_req {
	store_auth_cb *cb;
	void *ctx;
};

static void auth_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct auth_req *r = arg;
	struct store_auth a;

	if (error != NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK || PQntuples(res[0]) != 1) {
		r->cb(r->ctx, -1, NULL, error != NULL ? error : db_error_message(res[0]));
	} else {
		PGresult *q = res[0];
		memset(&a, 0, sizeof(a));
		a.ip_failures = (unsigned)strtoul(PQgetvalue(q, 0, 4), NULL, 10);
		a.user_failures = (unsigned)strtoul(PQgetvalue(q, 0, 5), NULL, 10);
		if (PQgetisnull(q, 0, 0)) {
			r->cb(r->ctx, 0, &a, NULL);
		} else {
			a.account_id = strtoll(PQgetvalue(q, 0, 0), NULL, 10);
			a.domain_id = strtoll(PQgetvalue(q, 0, 6), NULL, 10);
			a.address = PQgetvalue(q, 0, 1);
			a.password_hash = PQgetvalue(q, 0, 2);
			a.active = strcmp(PQgetvalue(q, 0, 3), "t") == 0;
			r->cb(r->ctx, 1, &a, NULL);
		}
	}
	free(r);
}

int store_auth_lookup(struct db *db, const char *address, const char *ip, store_auth_cb *cb,
		      void *ctx, const char **error_r)
{
	struct auth_req *r = malloc(sizeof(*r));
	const char *vals[] = {address, ip};
	struct db_query q = {"auth_lookup", 2, vals, NULL, NULL, 0};

	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, auth_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}

static void ignore_result(void *ctx, PGresult *const *res, unsigned n, const char *error)
{
	const char *what = ctx;

	if (error != NULL)
		LOG(WARN, NULL, "%s: %s", what, error);
	else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK)
		LOG(WARN, NULL, "%s: %s", what, db_error_message(res[0]));
}

void store_auth_failure(struct db *db, const char *address, const char *ip)
{
	const char *vals[] = {ip, address};
	struct db_query q = {"auth_failure", 2, vals, NULL, NULL, 0};
	const char *err;

	if (db_submit(db, &q, 1, ignore_result, "recording a failed login", &err) == NULL)
		LOG(WARN, NULL, "recording a failed login: %s", err);
}

void store_auth_expire(struct db *db)
{
	struct db_query q = {"auth_expire", 0, NULL, NULL, NULL, 0};
	const char *err;

	if (db_submit(db, &q, 1, ignore_result, "expiring login failures", &err) == NULL)
		LOG(DEBUG, NULL, "expiring login failures: %s", err);
}

/* Appends uids (ascending) as two array literals of range bounds: runs of
 * consecutive UIDs become one range, so a whole mailbox is usually a few
 * ranges. */
void store_uid_ranges(const uint32_t *uids, uint32_t n, struct buf *lo, struct buf *hi)
{
	const char *sep = "";

	(void)buf_append_str(lo, "{"); /* unlimited buffers: cannot fail */
	(void)buf_append_str(hi, "{");
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		(void)buf_printf(lo, "%s%u", sep, uids[i]);
		(void)buf_printf(hi, "%s%u", sep, uids[j]);
		sep = ",";
		i = j + 1;
	}
	(void)buf_append_str(lo, "}");
	(void)buf_append_str(hi, "}");
}
