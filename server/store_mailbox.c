/* Store: reading the selected mailbox (SELECT/EXAMINE) and its changes. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

/* One statement = one snapshot: the UID list, UIDNEXT and HIGHESTMODSEQ
 * agree with each other. The \Recent claim moves recent_uid up to the
 * snapshot's uidnext. */
const struct db_statement store_mailbox_statements[] = {
	/* Binary results. The UIDs come as an int8[] in index order (~10 ms for
	 * 100,000, where string_agg of their text took ~45 ms to make, and the
	 * text as long to parse), and not at all when the mailbox's message
	 * counter says that its lowest and highest UIDs enclose nothing else:
	 * two index probes then. The counter is kept exact in the same
	 * transactions as the rows (0003's triggers), so it agrees with the
	 * rows of this statement's snapshot. The first unseen comes from the
	 * partial index of unseen messages (schema/0014), looked for only when
	 * the unseen counter says there is one. min() instead of ORDER BY ...
	 * LIMIT 1 lets the generic plan aggregate over the modseq index: the
	 * whole mailbox (24 ms at 100,000). */
	{"mailbox_select",
	 "WITH snap AS ("
	 "  SELECT mailbox_id, uidvalidity, uidnext, highestmodseq, keywords, recent_uid, noselect,"
	 "    messages, unseen"
	 "  FROM mailboxes WHERE account_id = $1 AND name = $2),"
	 " claim AS ("
	 "  UPDATE mailboxes m SET recent_uid = s.uidnext FROM snap s"
	 "  WHERE $3::boolean AND m.account_id = $1 AND m.mailbox_id = s.mailbox_id"
	 "    AND m.recent_uid < s.uidnext RETURNING 1),"
	 " ends AS MATERIALIZED ("
	 "  SELECT s.*,"
	 "   (SELECT mm.uid FROM mailbox_messages mm"
	 "     WHERE mm.account_id = $1 AND mm.mailbox_id = s.mailbox_id ORDER BY mm.uid LIMIT 1) lo,"
	 "   (SELECT mm.uid FROM mailbox_messages mm WHERE mm.account_id = $1"
	 "     AND mm.mailbox_id = s.mailbox_id ORDER BY mm.uid DESC LIMIT 1) hi"
	 "  FROM snap s)"
	 "SELECT e.mailbox_id, e.uidvalidity, e.uidnext, e.highestmodseq,"
	 "  array_to_string(e.keywords, ' '), e.recent_uid, e.noselect,"
	 "  coalesce(e.lo, 0), coalesce(e.hi, 0),"
	 "  CASE WHEN e.lo IS NOT NULL AND e.messages <> e.hi - e.lo + 1 THEN"
	 "   (SELECT array_agg(x.uid) FROM (SELECT mm.uid FROM mailbox_messages mm"
	 "     WHERE mm.account_id = $1 AND mm.mailbox_id = e.mailbox_id ORDER BY mm.uid) x) END,"
	 "  CASE WHEN e.unseen > 0 THEN coalesce((SELECT mm.uid FROM mailbox_messages mm"
	 "     WHERE mm.account_id = $1 AND mm.mailbox_id = e.mailbox_id AND mm.flags & 1 = 0"
	 "     ORDER BY mm.uid LIMIT 1), 0) ELSE 0 END,"
	 "  (SELECT count(*) FROM claim)"
	 "FROM ends e"},
	/* The inner ORDER BY modseq is what mailbox_messages_modseq_idx gives
	 * for free: in the generic plan, where the (account, mailbox) prefix
	 * is estimated at one row, it tied with every other index on that
	 * prefix, and the primary key with `modseq > $3` as a filter read the
	 * whole mailbox (test_imap_bigbox; tipped by schema/0018's wider
	 * primary key). With the order asked for, any other index needs a sort
	 * and costs more. */
	{"mailbox_changes",
	 "WITH snap AS ("
	 "  SELECT uidnext, highestmodseq, recent_uid FROM mailboxes"
	 "  WHERE account_id = $1 AND mailbox_id = $2),"
	 " claim AS ("
	 "  UPDATE mailboxes m SET recent_uid = s.uidnext FROM snap s"
	 "  WHERE $4::boolean AND m.account_id = $1 AND m.mailbox_id = $2"
	 "    AND m.recent_uid < s.uidnext RETURNING 1)"
	 "SELECT 2, s.uidnext, s.highestmodseq, s.recent_uid, (SELECT count(*) FROM claim)::text"
	 "  FROM snap s "
	 "UNION ALL "
	 "SELECT 0, x.uid, x.modseq, x.flags, array_to_string(x.keywords, ' ')"
	 "  FROM (SELECT mm.uid, mm.modseq, mm.flags, mm.keywords FROM mailbox_messages mm"
	 "   WHERE mm.account_id = $1 AND mm.mailbox_id = $2 AND mm.modseq > $3"
	 "   ORDER BY mm.modseq) x "
	 "UNION ALL "
	 "SELECT 1, e.uid, e.modseq, 0, NULL FROM expunged e"
	 "  WHERE e.account_id = $1 AND e.mailbox_id = $2 AND e.modseq > $3 "
	 "ORDER BY 1 DESC, 2"},
	/* RFC 7162 CHANGEDSINCE / VANISHED / QRESYNC. The horizon first:
	 * one statement, so it and the expunged rows agree. The inner ORDER
	 * BY modseq as in mailbox_changes: without it the generic plan read
	 * the whole mailbox through the primary key (`uid <= $5`) and
	 * filtered on modseq (test_imap_bigbox: 11,989 rows for 5). */
	{"mailbox_since",
	 "SELECT 2, coalesce((SELECT h.modseq FROM expunged_horizon h"
	 "    WHERE h.account_id = $1 AND h.mailbox_id = $2), 0), 0, 0, NULL "
	 "UNION ALL "
	 "SELECT 1, e.uid, e.modseq, 0, NULL FROM expunged e"
	 "  WHERE $7::boolean AND e.account_id = $1 AND e.mailbox_id = $2"
	 "    AND e.modseq > $3::bigint AND e.modseq <= $4::bigint "
	 "UNION ALL "
	 "SELECT 0, x.uid, x.modseq, x.flags, array_to_string(x.keywords, ' ')"
	 "  FROM (SELECT mm.uid, mm.modseq, mm.flags, mm.keywords FROM mailbox_messages mm"
	 "   WHERE $6::boolean AND mm.account_id = $1 AND mm.mailbox_id = $2"
	 "     AND mm.modseq > $3::bigint AND mm.uid <= $5::bigint"
	 "   ORDER BY mm.modseq) x "
	 "ORDER BY 1 DESC, 2"},
};
const unsigned store_mailbox_nstatements =
	sizeof(store_mailbox_statements) / sizeof(store_mailbox_statements[0]);

struct select_req {
	store_select_cb *cb;
	void *ctx;
};

/* -- binary fields of mailbox_select -------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An int2/int4/int8 field (or NULL: 0). */
static int bin_int(const PGresult *q, int col, int64_t *v_r)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(q, 0, col);
	int len = PQgetlength(q, 0, col);
	uint64_t v = 0;

	if (PQgetisnull(q, 0, col)) {
		*v_r = 0;
		return 0;
	}
	if (len != 2 && len != 4 && len != 8)
		return -1;
	for (int i = 0; i < len; i++)
		v = (v << 8) | p[i];
	*v_r = len == 8 ? (int64_t)v : len == 4 ? (int64_t)(int32_t)(uint32_t)v
						: (int64_t)(int16_t)(uint16_t)v;
	return 0;
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The UIDs of a selected mailbox, malloc'd: lo..hi when the query sent no
 * array (it found them contiguous), else the elements of the binary int8[]
 * at column col (PostgreSQL's array_send: ndim, has-nulls, element type,
 * per dimension size and lower bound, per element length and value).
 * Returns the count or -1 when malformed. */
static long select_uids(const PGresult *q, int col, int64_t lo, int64_t hi, uint32_t **uids_r)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(q, 0, col);
	size_t len = (size_t)PQgetlength(q, 0, col), n, cap;
	uint32_t *uids;
	bool sorted = true;

	*uids_r = NULL;
	if (lo < 0 || hi < lo || hi > UINT32_MAX)
		return -1;
	if (PQgetisnull(q, 0, col)) {
		if (lo == 0)
			return 0;
		cap = (size_t)(hi - lo) + 1;
		uids = malloc(cap * sizeof(*uids));
		if (uids == NULL)
			panic("store: out of memory");
		for (n = 0; n < cap; n++)
			uids[n] = (uint32_t)lo + (uint32_t)n;
		*uids_r = uids;
		return (long)cap;
	}
	/* One dimension of non-NULL int8. */
	if (len < 20 || be32(p) != 1 || be32(p + 4) != 0 || be32(p + 8) != 20 /* INT8OID */)
		return -1;
	cap = be32(p + 12);
	if (cap == 0 || (len - 20) / 12 != cap || (len - 20) % 12 != 0)
		return -1;
	uids = malloc(cap * sizeof(*uids));
	if (uids == NULL)
		panic("store: out of memory");
	p += 20;
	for (n = 0; n < cap; n++, p += 12) {
		uint64_t v = (uint64_t)be32(p + 4) << 32 | be32(p + 8);

		if (be32(p) != 8 || v < (uint64_t)lo || v > (uint64_t)hi) {
			free(uids);
			return -1;
		}
		uids[n] = (uint32_t)v;
		if (n > 0 && uids[n] <= uids[n - 1])
			sorted = false;
	}
	/* In index order by construction; sorted here should a plan ever
	 * differ (a duplicate would then show as unsorted again). */
	if (!sorted) {
		qsort(uids, cap, sizeof(*uids), uid_cmp);
		for (n = 1; n < cap; n++)
			if (uids[n] == uids[n - 1]) {
				free(uids);
				return -1;
			}
	}
	*uids_r = uids;
	return (long)cap;
}

static void select_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct select_req *r = arg;
	struct store_selected m;
	uint32_t *uids = NULL;
	long count;

	if (error != NULL) {
		r->cb(r->ctx, -1, NULL, error);
	} else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, -1, NULL, db_error_message(res[0]));
	} else if (PQntuples(res[0]) == 0) {
		r->cb(r->ctx, 0, NULL, NULL);
	} else {
		PGresult *q = res[0];
		int64_t v[12];

		memset(&m, 0, sizeof(m));
		count = -1;
		if (PQnfields(q) == 12 && bin_int(q, 0, &v[0]) == 0 && bin_int(q, 1, &v[1]) == 0 &&
		    bin_int(q, 2, &v[2]) == 0 && bin_int(q, 3, &v[3]) == 0 &&
		    bin_int(q, 5, &v[5]) == 0 && bin_int(q, 7, &v[7]) == 0 &&
		    bin_int(q, 8, &v[8]) == 0 && bin_int(q, 10, &v[10]) == 0 &&
		    bin_int(q, 11, &v[11]) == 0 && PQgetlength(q, 0, 6) == 1) {
			m.mailbox_id = v[0];
			m.uidvalidity = (uint32_t)v[1];
			m.uidnext = (uint32_t)v[2];
			m.highestmodseq = (uint64_t)v[3];
			/* Binary text: the bytes, and libpq adds a NUL. */
			m.keywords = PQgetvalue(q, 0, 4);
			m.recent_from = (uint32_t)v[5];
			m.noselect = PQgetvalue(q, 0, 6)[0] != 0;
			count = select_uids(q, 9, v[7], v[8], &uids);
			m.first_unseen_uid = (uint32_t)v[10];
			if (v[11] == 0)
				m.recent_from = m.uidnext; /* nothing claimed: nothing recent */
		}
		if (count < 0) {
			r->cb(r->ctx, -1, NULL, "malformed UID list");
		} else {
			m.uids = uids;
			m.count = (uint32_t)count;
			r->cb(r->ctx, 1, &m, NULL);
		}
		free(uids);
	}
	free(r);
}

int store_mailbox_select(struct db *db, int64_t account_id, const char *name, bool claim_recent,
			 store_select_cb *cb, void *ctx, const char **error_r)
{
	struct select_req *r = malloc(sizeof(*r));
	char acc[24];
	const char *vals[3] = {acc, name, claim_recent ? "t" : "f"};
	struct db_query q = {"mailbox_select", 3, vals, NULL, NULL, 1};

	if (r == NULL)
		panic("store: out of memory");
	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, select_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}

/* Rows of the change queries: kind 0 a changed message (uid, modseq,
 * flags, keywords), kind 1 an expunged UID, kind 2 the mailbox itself.
 * Fills the malloc'd arrays (the caller frees them) and returns the row of
 * kind 2, or -1 when there is none. */
static int parse_change_rows(PGresult *q, struct store_change **changed_r, uint32_t *nchanged_r,
			     uint32_t **expunged_r, uint32_t *nexpunged_r)
{
	int rows = PQntuples(q), meta = -1;
	struct store_change *changed = NULL;
	uint32_t *expunged = NULL, nc = 0, ne = 0;

	if (rows > 0) {
		changed = malloc((size_t)rows * sizeof(*changed));
		expunged = malloc((size_t)rows * sizeof(*expunged));
		if (changed == NULL || expunged == NULL)
			panic("store: out of memory");
	}
	for (int i = 0; i < rows; i++) {
		int kind = atoi(PQgetvalue(q, i, 0));
		if (kind == 2) {
			meta = i;
		} else if (kind == 0) {
			struct store_change *ch = &changed[nc++];
			ch->uid = (uint32_t)strtoul(PQgetvalue(q, i, 1), NULL, 10);
			ch->modseq = strtoull(PQgetvalue(q, i, 2), NULL, 10);
			ch->flags = (uint32_t)strtoul(PQgetvalue(q, i, 3), NULL, 10);
			ch->keywords = PQgetvalue(q, i, 4);
		} else {
			expunged[ne++] = (uint32_t)strtoul(PQgetvalue(q, i, 1), NULL, 10);
		}
	}
	*changed_r = changed;
	*nchanged_r = nc;
	*expunged_r = expunged;
	*nexpunged_r = ne;
	return meta;
}

struct changes_req {
	store_changes_cb *cb;
	void *ctx;
};

int store_sync_parse(PGresult *q, struct store_changes *c, struct store_change **changed_r,
		     uint32_t **expunged_r)
{
	int meta;

	*changed_r = NULL;
	*expunged_r = NULL;
	if (q == NULL || PQresultStatus(q) != PGRES_TUPLES_OK)
		return -1;
	memset(c, 0, sizeof(*c));
	meta = parse_change_rows(q, changed_r, &c->nchanged, expunged_r, &c->nexpunged);
	c->gone = meta < 0;
	if (meta >= 0) {
		c->uidnext = (uint32_t)strtoul(PQgetvalue(q, meta, 1), NULL, 10);
		c->highestmodseq = strtoull(PQgetvalue(q, meta, 2), NULL, 10);
		c->recent_from = (uint32_t)strtoul(PQgetvalue(q, meta, 3), NULL, 10);
		c->recent_claimed = strcmp(PQgetvalue(q, meta, 4), "0") != 0;
	}
	c->changed = *changed_r;
	c->expunged = *expunged_r;
	return 0;
}

void store_sync_query(struct store_sync_query *a, int64_t account_id, const struct store_sync *sync,
		      struct db_query *q)
{
	snprintf(a->acc, sizeof(a->acc), "%lld", (long long)account_id);
	snprintf(a->mb, sizeof(a->mb), "%lld", (long long)sync->mailbox_id);
	snprintf(a->ms, sizeof(a->ms), "%llu", (unsigned long long)sync->since_modseq);
	a->vals[0] = a->acc;
	a->vals[1] = a->mb;
	a->vals[2] = a->ms;
	a->vals[3] = sync->claim_recent ? "t" : "f";
	memset(q, 0, sizeof(*q));
	q->stmt = "mailbox_changes";
	q->nparams = 4;
	q->values = a->vals;
}

static void changes_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct changes_req *r = arg;
	struct store_changes c;
	struct store_change *changed;
	uint32_t *expunged;

	if (error != NULL || store_sync_parse(res[0], &c, &changed, &expunged) < 0) {
		r->cb(r->ctx, NULL, error != NULL ? error : db_error_message(res[0]));
		free(r);
		return;
	}
	r->cb(r->ctx, &c, NULL);
	free(changed);
	free(expunged);
	free(r);
}

int store_mailbox_changes(struct db *db, int64_t account_id, int64_t mailbox_id,
			  uint64_t since_modseq, bool claim_recent, store_changes_cb *cb, void *ctx,
			  const char **error_r)
{
	struct changes_req *r = malloc(sizeof(*r));
	struct store_sync sync = {mailbox_id, since_modseq, claim_recent};
	struct store_sync_query a;
	struct db_query q;

	if (r == NULL)
		panic("store: out of memory");
	store_sync_query(&a, account_id, &sync, &q);
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, changes_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}

struct since_req {
	store_since_cb *cb;
	void *ctx;
};

static void since_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct since_req *r = arg;
	struct store_since c;
	struct store_change *changed;
	uint32_t *expunged;
	PGresult *q;
	int meta;

	if (error != NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, NULL, error != NULL ? error : db_error_message(res[0]));
		free(r);
		return;
	}
	q = res[0];
	memset(&c, 0, sizeof(c));
	meta = parse_change_rows(q, &changed, &c.nchanged, &expunged, &c.nexpunged);
	if (meta >= 0)
		c.horizon = strtoull(PQgetvalue(q, meta, 1), NULL, 10);
	c.changed = changed;
	c.expunged = expunged;
	r->cb(r->ctx, &c, NULL);
	free(changed);
	free(expunged);
	free(r);
}

int store_mailbox_since(struct db *db, int64_t account_id, int64_t mailbox_id, uint64_t since,
			uint64_t bound, uint32_t max_uid, bool want_changed, bool want_expunged,
			store_since_cb *cb, void *ctx, const char **error_r)
{
	struct since_req *r = malloc(sizeof(*r));
	char acc[24], mb[24], ms[24], bd[24], mu[16];
	const char *vals[7] = {acc, mb, ms, bd, mu, want_changed ? "t" : "f",
			       want_expunged ? "t" : "f"};
	struct db_query q = {"mailbox_since", 7, vals, NULL, NULL, 0, NULL};

	if (r == NULL)
		panic("store: out of memory");
	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	snprintf(mb, sizeof(mb), "%lld", (long long)mailbox_id);
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)since);
	snprintf(bd, sizeof(bd), "%llu", (unsigned long long)bound);
	snprintf(mu, sizeof(mu), "%u", max_uid);
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, since_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}
