/* Store: quota and usage (RFC 9208). */
#include "store_quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store_internal.h"

const struct db_statement store_quota_statements[] = {
	/* The domain's usage is what mail_quota_charge (0003) compares with
	 * its limit: the sum over its accounts. */
	{"quota_get",
	 "SELECT a.used_bytes, a.quota_bytes, a.used_messages, a.quota_messages,"
	 "  CASE WHEN d.quota_bytes > 0 THEN (SELECT coalesce(sum(o.used_bytes), 0)"
	 "    FROM accounts o WHERE o.domain_id = a.domain_id) ELSE 0 END, d.quota_bytes,"
	 "  $2::text IS NULL OR EXISTS (SELECT 1 FROM mailboxes m"
	 "    WHERE m.account_id = a.account_id AND m.name = $2)"
	 " FROM accounts a JOIN domains d ON d.domain_id = a.domain_id"
	 " WHERE a.account_id = $1"},
};
const unsigned store_quota_nstatements =
	sizeof(store_quota_statements) / sizeof(store_quota_statements[0]);

struct quota_req {
	store_quota_cb *cb;
	void *ctx;
};

static uint64_t u64(const PGresult *res, int col)
{
	return strtoull(PQgetvalue(res, 0, col), NULL, 10);
}

static void quota_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct quota_req *r = arg;
	struct store_quota q;

	if (error != NULL) {
		r->cb(r->ctx, -1, NULL, error);
	} else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, -1, NULL, db_error_message(res[0]));
	} else if (PQntuples(res[0]) != 1) {
		/* The session's account is gone (deleted meanwhile). */
		r->cb(r->ctx, -1, NULL, "account not found");
	} else {
		q.bytes_used = u64(res[0], 0);
		q.bytes_limit = u64(res[0], 1);
		q.messages_used = u64(res[0], 2);
		q.messages_limit = u64(res[0], 3);
		q.domain_bytes_used = u64(res[0], 4);
		q.domain_bytes_limit = u64(res[0], 5);
		r->cb(r->ctx, strcmp(PQgetvalue(res[0], 0, 6), "t") == 0 ? 1 : 0, &q, NULL);
	}
	free(r);
}

int store_quota_get(struct db *db, int64_t account_id, const char *mailbox, store_quota_cb *cb,
		    void *ctx, const char **error_r)
{
	struct quota_req *r = malloc(sizeof(*r));
	char acc[24];
	const char *vals[] = {acc, mailbox};
	struct db_query q = {"quota_get", 2, vals, NULL, NULL, 0, NULL};

	if (r == NULL)
		panic("store: out of memory");
	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, quota_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}
