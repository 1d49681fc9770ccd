/* Store: FETCH reads (metadata of a batch, chunks of raw octets). Results
 * come in binary format: the stored strings and octets arrive as they are,
 * without hex escaping and unescaping. */
#include "store_fetch.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

const struct db_statement store_fetch_statements[] = {
    {"fetch_seen", "SELECT mail_fetch_seen($1::bigint, $2::bigint, $3::bigint[], $4::bigint[])"},
    /* Ranges hold only UIDs of the caller's view (runs of consecutive
     * UIDs it knows), so a message it has not been told of yet cannot
     * leak into the answer. */
    /* Metadata only (UID, FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ):
     * mailbox_messages alone, the size being copied there at insert
     * (schema/0014). Columns as fetch_messages, without the strings;
     * the range join as there (see below). */
    {"fetch_meta",
     "SELECT mm.uid, mm.message_id, mm.flags, array_to_string(mm.keywords, ' '),"
     "  floor(extract(epoch FROM mm.internaldate))::bigint, mm.modseq, mm.size"
     " FROM unnest($3::bigint[], $4::bigint[]) AS r(lo, hi)"
     " CROSS JOIN LATERAL (SELECT x.* FROM mailbox_messages x"
     "  WHERE x.account_id = $1::bigint AND x.mailbox_id = $2::bigint"
     "   AND x.uid BETWEEN r.lo AND r.hi ORDER BY x.uid OFFSET 0) mm"},
    {"fetch_messages",
     "SELECT mm.uid, mm.message_id, mm.flags, array_to_string(mm.keywords, ' '),"
     "  floor(extract(epoch FROM mm.internaldate))::bigint, mm.modseq, mm.size,"
     "  CASE WHEN $5::boolean THEN m.envelope END, CASE WHEN $6::boolean THEN m.body END,"
     "  CASE WHEN $7::boolean THEN m.bodystructure END,"
     "  CASE WHEN $8::boolean THEN m.partmap END"
     " FROM unnest($3::bigint[], $4::bigint[]) AS r(lo, hi)"
     /* A primary-key range scan per range, whatever plan the plan cache
      * holds. Joined directly, the generic plan PostgreSQL switches to
      * after five executions scans the whole mailbox and filters the
      * ranges afterwards (docs/benchmarks.md §1); in the subquery without
      * the ORDER BY, it may pick the (account, mailbox, modseq) index,
      * which reads the whole mailbox just the same (its estimates cannot
      * tell the two apart). The ORDER BY is free on the primary key and
      * not on the other. No ORDER BY outside: the ranges come ascending
      * and disjoint, so a nested loop over them returns the rows in UID
      * order (messages_done checks it). */
     " CROSS JOIN LATERAL (SELECT x.* FROM mailbox_messages x"
     "  WHERE x.account_id = $1::bigint AND x.mailbox_id = $2::bigint"
     "   AND x.uid BETWEEN r.lo AND r.hi ORDER BY x.uid OFFSET 0) mm"
     /* One primary-key lookup per row: left to itself the planner,
      * overestimating the UID range, hashes the batch and scans every
      * message of the account (31 s for FETCH 1:* of 100,000 messages
      * in 500-row batches); OFFSET 0 keeps the subquery per row. */
     " CROSS JOIN LATERAL (SELECT m.envelope, m.body, m.bodystructure, m.partmap"
     "  FROM messages m WHERE m.account_id = mm.account_id AND m.message_id = mm.message_id"
     "  OFFSET 0) m"},
    /* The first chunk of one message by UID, riding in the batch's
     * request: a FETCH of a whole message needs no round trip of its own
     * for the octets when they fit in one chunk (99% of the mixed
     * benchmark's corpus). */
    {"fetch_first_chunk",
     "SELECT c.message_id, c.chunk_no, c.data FROM mailbox_messages mm"
     " JOIN message_chunks c ON c.account_id = mm.account_id"
     "  AND c.message_id = mm.message_id AND c.chunk_no = 0"
     " WHERE mm.account_id = $1::bigint AND mm.mailbox_id = $2::bigint"
     "  AND mm.uid = $3::bigint"},
    {"fetch_chunks", "SELECT c.message_id, c.chunk_no, c.data"
                     " FROM unnest($2::bigint[], $3::integer[], $4::integer[]) AS r(mid, lo, hi)"
                     " JOIN message_chunks c ON c.account_id = $1::bigint AND c.message_id = r.mid"
                     "  AND c.chunk_no BETWEEN r.lo AND r.hi"
                     " ORDER BY c.message_id, c.chunk_no"},
};
const unsigned store_fetch_nstatements =
    sizeof(store_fetch_statements) / sizeof(store_fetch_statements[0]);

/* -- binary result fields --------------------------------------------------- */

static int get_int(const PGresult *q, int row, int col, int64_t *v_r)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(q, row, col);
	int len = PQgetlength(q, row, col);
	uint64_t v = 0;

	if (PQgetisnull(q, row, col) || (len != 4 && len != 8))
		return -1;
	for (int i = 0; i < len; i++)
		v = (v << 8) | p[i];
	*v_r = len == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
	return 0;
}

/* A bytea or text field: pointer into the result and length (NULL, 0 when
 * SQL NULL). */
static const char *get_bytes(const PGresult *q, int row, int col, size_t *len_r)
{
	if (PQgetisnull(q, row, col)) {
		*len_r = 0;
		return NULL;
	}
	*len_r = (size_t)PQgetlength(q, row, col);
	return PQgetvalue(q, row, col);
}

/* -- metadata ---------------------------------------------------------------- */

struct fetch_req {
	store_fetch_cb *cb;
	void *ctx;
	bool set_seen;
	bool sync;
	unsigned fetch_at; /* index of the read's result */
	int chunk_at;      /* index of fetch_first_chunk's, -1 */
};

static int parse_chunks(PGresult *q, struct store_chunk **chunks_r, uint32_t *n_r);

static int msg_uid_cmp(const void *a, const void *b)
{
	const struct store_fetch_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void messages_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct fetch_req *r = arg;
	struct store_fetch_result out;
	struct store_fetch_msg *msgs = NULL;
	struct store_changes changes;
	struct store_change *changed = NULL;
	struct store_chunk *chunks = NULL;
	uint32_t *expunged = NULL;
	PGresult *q;
	bool strings;
	int nt;

	memset(&out, 0, sizeof(out));
	if (error != NULL) {
		r->cb(r->ctx, NULL, error);
		goto done;
	}
	/* Every statement, the sync's too: one failing rolls back the
	 * request's transaction, \Seen included. */
	for (unsigned i = 0; i < n; i++) {
		if (PQresultStatus(res[i]) != PGRES_TUPLES_OK) {
			r->cb(r->ctx, NULL, db_error_message(res[i]));
			goto done;
		}
	}
	if (r->sync) {
		if (store_sync_parse(res[n - 1], &changes, &changed, &expunged) < 0) {
			r->cb(r->ctx, NULL, "mailbox_changes: unusable result");
			goto done;
		}
		out.changes = &changes;
	}
	if (r->set_seen) {
		if (PQntuples(res[0]) != 1) {
			r->cb(r->ctx, NULL, "mail_fetch_seen returned no row");
			goto done;
		}
		out.seen_modseq = strtoull(PQgetvalue(res[0], 0, 0), NULL, 10);
	}
	if (r->chunk_at >= 0) {
		if (parse_chunks(res[r->chunk_at], &chunks, &out.nchunks) < 0) {
			r->cb(r->ctx, NULL, "fetch_first_chunk: malformed row");
			goto done;
		}
		out.chunks = chunks;
	}
	q = res[r->fetch_at];
	nt = PQntuples(q);
	strings = PQnfields(q) == 11;
	if (!strings && PQnfields(q) != 7) {
		r->cb(r->ctx, NULL, "fetch_messages: unexpected columns");
		goto done;
	}
	if (nt > 0) {
		msgs = calloc((size_t)nt, sizeof(*msgs));
		if (msgs == NULL)
			panic("store: out of memory");
	}
	for (int i = 0; i < nt; i++) {
		struct store_fetch_msg *m = &msgs[i];
		int64_t uid, mid, flags, idate, modseq, size;
		size_t kwlen;

		if (get_int(q, i, 0, &uid) < 0 || get_int(q, i, 1, &mid) < 0 ||
		    get_int(q, i, 2, &flags) < 0 || get_int(q, i, 4, &idate) < 0 ||
		    get_int(q, i, 5, &modseq) < 0 || get_int(q, i, 6, &size) < 0) {
			r->cb(r->ctx, NULL, "fetch_messages: malformed row");
			goto done;
		}
		m->uid = (uint32_t)uid;
		m->message_id = mid;
		m->flags = (uint32_t)flags;
		/* Binary text is not NUL-terminated in general, but libpq adds
		 * a NUL after every value. */
		m->keywords = get_bytes(q, i, 3, &kwlen);
		m->internaldate = idate;
		m->modseq = (uint64_t)modseq;
		m->size = (uint64_t)size;
		if (!strings)
			continue; /* fetch_meta: calloc left them NULL */
		m->envelope = get_bytes(q, i, 7, &m->envelope_len);
		m->body = get_bytes(q, i, 8, &m->body_len);
		m->bodystructure = get_bytes(q, i, 9, &m->bodystructure_len);
		m->partmap = (const unsigned char *)get_bytes(q, i, 10, &m->partmap_len);
	}
	/* In UID order by construction (see fetch_messages); should a plan
	 * ever differ, sorting here keeps the promise of store_fetch.h. */
	for (int i = 1; i < nt; i++) {
		if (msgs[i].uid <= msgs[i - 1].uid) {
			qsort(msgs, (size_t)nt, sizeof(*msgs), msg_uid_cmp);
			break;
		}
	}
	out.msgs = msgs;
	out.n = (uint32_t)nt;
	r->cb(r->ctx, &out, NULL);
done:
	free(chunks);
	free(changed);
	free(expunged);
	free(msgs);
	free(r);
}

int store_fetch_messages(struct db *db, const struct store_fetch_req *req, store_fetch_cb *cb,
                         void *ctx, const char **error_r)
{
	char acc[24], mb[24], uid[16];
	struct buf lo, hi;
	const char *vals[8], *cvals[3] = {acc, mb, uid};
	struct db_query qs[4];
	struct store_sync_query sq;
	struct fetch_req *r;
	unsigned nq = 0;
	int ret = 0;

	snprintf(acc, sizeof(acc), "%lld", (long long)req->account_id);
	snprintf(mb, sizeof(mb), "%lld", (long long)req->mailbox_id);
	buf_init(&lo, 0);
	buf_init(&hi, 0);
	store_uid_ranges(req->uids, req->nuids, &lo, &hi);
	vals[0] = acc;
	vals[1] = mb;
	vals[2] = lo.data;
	vals[3] = hi.data;
	vals[4] = req->want & STORE_FETCH_ENVELOPE ? "t" : "f";
	vals[5] = req->want & STORE_FETCH_BODY ? "t" : "f";
	vals[6] = req->want & STORE_FETCH_BODYSTRUCTURE ? "t" : "f";
	vals[7] = req->want & STORE_FETCH_PARTMAP ? "t" : "f";
	memset(qs, 0, sizeof(qs));
	/* One request, one transaction: the rows read see the \Seen set. */
	if (req->set_seen) {
		qs[nq].stmt = "fetch_seen";
		qs[nq].nparams = 4;
		qs[nq].values = vals;
		nq++;
	}
	/* Without strings, messages is not read at all. */
	qs[nq].stmt = req->want != 0 ? "fetch_messages" : "fetch_meta";
	qs[nq].nparams = req->want != 0 ? 8 : 4;
	qs[nq].values = vals;
	qs[nq].result_format = 1;
	nq++;
	r = malloc(sizeof(*r));
	if (r == NULL)
		panic("store: out of memory");
	r->chunk_at = -1;
	if (req->first_chunk && req->nuids == 1) {
		snprintf(uid, sizeof(uid), "%u", req->uids[0]);
		r->chunk_at = (int)nq;
		qs[nq].stmt = "fetch_first_chunk";
		qs[nq].nparams = 3;
		qs[nq].values = cvals;
		qs[nq].result_format = 1;
		nq++;
	}
	/* The sync last: the reply built from it is at least as new as the
	 * rows read (each statement of a request sees what committed
	 * before it started). */
	if (req->sync != NULL)
		store_sync_query(&sq, req->account_id, req->sync, &qs[nq++]);

	r->cb = cb;
	r->ctx = ctx;
	r->set_seen = req->set_seen;
	r->sync = req->sync != NULL;
	r->fetch_at = req->set_seen ? 1 : 0;
	if (db_submit(db, qs, nq, messages_done, r, error_r) == NULL) { /* copies the values */
		free(r);
		ret = -1;
	}
	buf_free(&lo);
	buf_free(&hi);
	return ret;
}

/* -- chunks ------------------------------------------------------------------ */

struct chunks_req {
	store_chunks_cb *cb;
	void *ctx;
};

/* The rows of fetch_chunks or fetch_first_chunk into *chunks_r (malloc'd,
 * pointing into q). Returns 0, or -1 on a failed result or malformed row. */
static int parse_chunks(PGresult *q, struct store_chunk **chunks_r, uint32_t *n_r)
{
	struct store_chunk *chunks;
	int nt;

	*chunks_r = NULL;
	*n_r = 0;
	if (PQresultStatus(q) != PGRES_TUPLES_OK)
		return -1;
	nt = PQntuples(q);
	chunks = calloc(nt > 0 ? (size_t)nt : 1, sizeof(*chunks));
	if (chunks == NULL)
		panic("store: out of memory");
	for (int i = 0; i < nt; i++) {
		int64_t mid, no;

		if (get_int(q, i, 0, &mid) < 0 || get_int(q, i, 1, &no) < 0 || no < 0 ||
		    PQgetisnull(q, i, 2)) {
			free(chunks);
			return -1;
		}
		chunks[i].message_id = mid;
		chunks[i].chunk_no = (uint32_t)no;
		chunks[i].data = (const unsigned char *)PQgetvalue(q, i, 2);
		chunks[i].len = (size_t)PQgetlength(q, i, 2);
	}
	*chunks_r = chunks;
	*n_r = (uint32_t)nt;
	return 0;
}

static void chunks_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct chunks_req *r = arg;
	struct store_chunk *chunks;
	uint32_t nt;

	if (error != NULL || PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, NULL, 0, error != NULL ? error : db_error_message(res[0]));
		free(r);
		return;
	}
	if (parse_chunks(res[0], &chunks, &nt) < 0) {
		r->cb(r->ctx, NULL, 0, "fetch_chunks: malformed row");
		free(r);
		return;
	}
	r->cb(r->ctx, chunks, nt, NULL);
	free(chunks);
	free(r);
}

int store_fetch_chunks(struct db *db, int64_t account_id, const struct store_chunk_range *ranges,
                       unsigned n, store_chunks_cb *cb, void *ctx, const char **error_r)
{
	char acc[24];
	struct buf mids, los, his;
	const char *vals[4];
	struct db_query q = {"fetch_chunks", 4, vals, NULL, NULL, 1};
	struct chunks_req *r;
	int ret = 0;

	snprintf(acc, sizeof(acc), "%lld", (long long)account_id);
	buf_init(&mids, 0);
	buf_init(&los, 0);
	buf_init(&his, 0);
	(void)buf_append_str(&mids, "{"); /* unlimited buffers: cannot fail */
	(void)buf_append_str(&los, "{");
	(void)buf_append_str(&his, "{");
	for (unsigned i = 0; i < n; i++) {
		const char *sep = i ? "," : "";
		(void)buf_printf(&mids, "%s%lld", sep, (long long)ranges[i].message_id);
		(void)buf_printf(&los, "%s%u", sep, ranges[i].first);
		(void)buf_printf(&his, "%s%u", sep, ranges[i].last);
	}
	(void)buf_append_str(&mids, "}");
	(void)buf_append_str(&los, "}");
	(void)buf_append_str(&his, "}");
	vals[0] = acc;
	vals[1] = mids.data;
	vals[2] = los.data;
	vals[3] = his.data;

	r = malloc(sizeof(*r));
	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, chunks_done, r, error_r) == NULL) {
		free(r);
		ret = -1;
	}
	buf_free(&mids);
	buf_free(&los);
	buf_free(&his);
	return ret;
}
