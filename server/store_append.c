/* Store: APPEND and MULTIAPPEND through mail_append_batch. */
#include "store_append.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "message_ingest.h"
#include "store.h"
#include "store_internal.h"

/* Element types of the binary arrays (pg_type OIDs). */
#define BYTEA_OID 17
#define INT8_OID 20
#define INT4_OID 23
#define TEXT_OID 25

#define APPEND_NPARAMS 25

const struct db_statement store_append_statements[] = {
    {"append_batch",
     "SELECT r_mailbox_id, r_uidvalidity, r_first_uid, r_count, r_keywords"
     " FROM mail_append_batch($1::bigint, $2::text, $3::integer, $4::integer[], $5::text[],"
     " $6::bigint[], $7::bytea[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bytea[],"
     " $12::bytea[], $13::bytea[], $14::bytea[], $15::bigint[], $16::text[], $17::text[],"
     " $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[],"
     " $24::integer[], $25::bytea[])"},
};
const unsigned store_append_nstatements =
    sizeof(store_append_statements) / sizeof(store_append_statements[0]);

struct append_req {
	store_append_cb *cb;
	void *ctx;
};

static void append_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct append_req *r = arg;
	struct store_append_result out;
	struct store_changes changes;
	struct store_change *changed = NULL;
	uint32_t *expunged = NULL;
	PGresult *q;

	if (error != NULL) {
		r->cb(r->ctx, NULL, NULL, error);
	} else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, NULL, db_error_reason(res[0]), db_error_message(res[0]));
	} else if (PQntuples(res[0]) != 1) {
		r->cb(r->ctx, NULL, NULL, "mail_append_batch returned no row");
	} else if (n > 1 && PQresultStatus(res[1]) != PGRES_TUPLES_OK) {
		/* The sync failed, and with it the request's transaction:
		 * nothing was appended. */
		r->cb(r->ctx, NULL, NULL, db_error_message(res[1]));
	} else {
		q = res[0];
		memset(&out, 0, sizeof(out));
		out.mailbox_id = strtoll(PQgetvalue(q, 0, 0), NULL, 10);
		out.uidvalidity = (uint32_t)strtoul(PQgetvalue(q, 0, 1), NULL, 10);
		out.first_uid = (uint32_t)strtoul(PQgetvalue(q, 0, 2), NULL, 10);
		out.count = (unsigned)strtoul(PQgetvalue(q, 0, 3), NULL, 10);
		out.mailbox_keywords = PQgetisnull(q, 0, 4) ? NULL : PQgetvalue(q, 0, 4);
		if (n > 1 && store_sync_parse(res[1], &changes, &changed, &expunged) == 0)
			out.changes = &changes;
		r->cb(r->ctx, &out, NULL, NULL);
		free(changed);
		free(expunged);
	}
	free(r);
}

/* -- PostgreSQL's binary format of one-dimensional arrays --------------------
 * ndim (1), has-nulls, element type, (size, lower bound 1), then per element
 * its length (-1 for NULL) and its octets. No escaping: bytea and text
 * elements travel as they are. All buffers are unlimited: appends cannot
 * fail. */

static void put32(struct buf *b, uint32_t v)
{
	uint32_t be = htonl(v);

	(void)buf_append(b, &be, 4);
}

static void array_begin(struct buf *b, uint32_t elem_oid, unsigned n)
{
	buf_init(b, 0);
	put32(b, 1);
	put32(b, 1); /* may hold NULLs (array_recv only checks 0 or 1) */
	put32(b, elem_oid);
	put32(b, n);
	put32(b, 1);
}

static void array_bytes(struct buf *b, const void *data, size_t len)
{
	put32(b, (uint32_t)len); /* len < INT32_MAX: checked in store_append */
	(void)buf_append(b, data, len);
}

/* A text element, or NULL. */
static void array_text(struct buf *b, const char *s)
{
	if (s == NULL)
		put32(b, UINT32_MAX); /* -1 */
	else
		array_bytes(b, s, strlen(s));
}

static void array_int4(struct buf *b, uint32_t v)
{
	put32(b, 4);
	put32(b, v);
}

static void array_int8(struct buf *b, int64_t v)
{
	uint64_t u = (uint64_t)v;

	put32(b, 8);
	put32(b, (uint32_t)(u >> 32));
	put32(b, (uint32_t)u);
}

static void array_int8_or_null(struct buf *b, bool present, int64_t v)
{
	if (present)
		array_int8(b, v);
	else
		put32(b, UINT32_MAX);
}

/* The arrays of the statement, parameters $4..$25 in order. */
enum {
	A_FLAGS,
	A_KEYWORDS,
	A_IDATES,
	A_SHAS,
	A_SIZES,
	A_HSIZES,
	A_LINES,
	A_ENVELOPES,
	A_BODIES,
	A_BODYSTRUCTURES,
	A_PARTMAPS,
	A_SDATES,
	A_SUBJECTS,
	A_FROMS,
	A_TOS,
	A_CCS,
	A_BCCS,
	A_MSGIDS,
	A_HEADERS,
	A_BODYTEXTS,
	A_NCHUNKS,
	A_CHUNKS,
	A_COUNT
};

static const uint32_t array_oids[A_COUNT] = {
    INT4_OID,  TEXT_OID,  INT8_OID,  BYTEA_OID, INT8_OID, INT8_OID, INT8_OID, BYTEA_OID,
    BYTEA_OID, BYTEA_OID, BYTEA_OID, INT8_OID,  TEXT_OID, TEXT_OID, TEXT_OID, TEXT_OID,
    TEXT_OID,  TEXT_OID,  TEXT_OID,  TEXT_OID,  INT4_OID, BYTEA_OID,
};

static void add_message(struct buf *a, const struct store_append_msg *sm, struct buf *kw)
{
	const struct message_ingest *m = sm->msg;
	const struct mime_search_fields *f = &m->search;

	array_int4(&a[A_FLAGS], sm->flags);
	buf_reset(kw);
	for (unsigned k = 0; k < sm->nkeywords; k++) {
		/* Keywords are atoms: a space cannot be part of one. */
		if (k > 0)
			(void)buf_append(kw, " ", 1);
		(void)buf_append_str(kw, sm->keywords[k]);
	}
	array_bytes(&a[A_KEYWORDS], kw->data != NULL ? kw->data : "", kw->len);
	array_int8_or_null(&a[A_IDATES], sm->has_internaldate, (int64_t)sm->internaldate);
	array_bytes(&a[A_SHAS], m->sha256, MESSAGE_SHA256_LEN);
	array_int8(&a[A_SIZES], (int64_t)m->size);
	array_int8(&a[A_HSIZES], (int64_t)m->header_size);
	array_int8(&a[A_LINES], (int64_t)m->body_lines);
	array_bytes(&a[A_ENVELOPES], m->envelope, m->envelope_len);
	array_bytes(&a[A_BODIES], m->body, m->body_len);
	array_bytes(&a[A_BODYSTRUCTURES], m->bodystructure, m->bodystructure_len);
	array_bytes(&a[A_PARTMAPS], m->partmap, m->partmap_len);
	array_int8_or_null(&a[A_SDATES], f->date != (time_t)-1, (int64_t)f->date);
	array_text(&a[A_SUBJECTS], f->subject);
	array_text(&a[A_FROMS], f->from);
	array_text(&a[A_TOS], f->to);
	array_text(&a[A_CCS], f->cc);
	array_text(&a[A_BCCS], f->bcc);
	array_text(&a[A_MSGIDS], f->message_id);
	array_text(&a[A_HEADERS], f->headers);
	array_text(&a[A_BODYTEXTS], f->body);
	array_int4(&a[A_NCHUNKS], m->nchunks);
	for (unsigned i = 0; i < m->nchunks; i++)
		array_bytes(&a[A_CHUNKS], m->data + (size_t)i * MESSAGE_CHUNK_SIZE,
		            message_chunk_len(m->size, i));
}

int store_append(struct db *db, const struct store_append_req *req, store_append_cb *cb, void *ctx,
                 const char **error_r)
{
	char acc[24], maxkw[16];
	const char *vals[APPEND_NPARAMS];
	int lens[APPEND_NPARAMS], fmts[APPEND_NPARAMS];
	struct db_query q[2] = {{"append_batch", APPEND_NPARAMS, vals, lens, fmts, 0}};
	struct store_sync_query sq;
	struct buf a[A_COUNT], kw;
	unsigned nchunks = 0;
	struct append_req *r;
	int ret = 0;

	for (unsigned i = 0; i < req->nmsgs; i++)
		nchunks += req->msgs[i].msg->nchunks;
	for (unsigned i = 0; i < A_COUNT; i++)
		array_begin(&a[i], array_oids[i], i == A_CHUNKS ? nchunks : req->nmsgs);
	buf_init(&kw, 0);
	for (unsigned i = 0; i < req->nmsgs; i++)
		add_message(a, &req->msgs[i], &kw);
	buf_free(&kw);

	snprintf(acc, sizeof(acc), "%lld", (long long)req->account_id);
	snprintf(maxkw, sizeof(maxkw), "%u", req->max_mailbox_keywords);
	memset(lens, 0, sizeof(lens));
	memset(fmts, 0, sizeof(fmts));
	vals[0] = acc;
	vals[1] = req->mailbox;
	vals[2] = maxkw;
	for (unsigned i = 0; i < A_COUNT; i++) {
		/* A parameter's length is an int (and PostgreSQL takes no
		 * value over 1 GB anyway). */
		if (a[i].len > INT32_MAX - 64 * 1024) {
			*error_r = "messages too large for one request";
			ret = -1;
		}
		vals[3 + i] = a[i].data;
		lens[3 + i] = (int)a[i].len;
		fmts[3 + i] = 1;
	}
	if (ret == 0) {
		r = malloc(sizeof(*r));
		if (r == NULL)
			panic("store: out of memory");
		r->cb = cb;
		r->ctx = ctx;
		if (req->sync != NULL)
			store_sync_query(&sq, req->account_id, req->sync, &q[1]);
		/* copies the values */
		if (db_submit(db, q, req->sync != NULL ? 2 : 1, append_done, r, error_r) == NULL) {
			free(r);
			ret = -1;
		}
	}
	for (unsigned i = 0; i < A_COUNT; i++)
		buf_free(&a[i]);
	return ret;
}
