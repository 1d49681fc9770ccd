/* Store: APPEND (and later LMTP delivery) through mail_append. */
#include "store_append.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "message_ingest.h"
#include "store.h"
#include "store_internal.h"

#define BYTEA_OID 17

const struct db_statement store_append_statements[] = {
    {"append_message",
     "SELECT r_mailbox_id, r_uidvalidity, r_uid, r_keywords, r_message_id, r_deduplicated"
     " FROM mail_append($1::bigint, $2::text, $3::integer, $4::text[],"
     " to_timestamp($5::bigint), $6::integer, $7::bytea, $8::bigint, $9::bigint, $10::bigint,"
     " $11::bytea, $12::bytea, $13::bytea, $14::bytea, to_timestamp($15::bigint), $16::text,"
     " $17::text, $18::text, $19::text, $20::text, $21::text, $22::text, $23::text,"
     " $24::bytea[])"},
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
	PGresult *q;

	if (error != NULL) {
		r->cb(r->ctx, NULL, NULL, error);
	} else if (PQresultStatus(res[0]) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, NULL, db_error_reason(res[0]), db_error_message(res[0]));
	} else if (PQntuples(res[0]) != 1) {
		r->cb(r->ctx, NULL, NULL, "mail_append returned no row");
	} else {
		q = res[0];
		memset(&out, 0, sizeof(out));
		out.mailbox_id = strtoll(PQgetvalue(q, 0, 0), NULL, 10);
		out.uidvalidity = (uint32_t)strtoul(PQgetvalue(q, 0, 1), NULL, 10);
		out.uid = (uint32_t)strtoul(PQgetvalue(q, 0, 2), NULL, 10);
		out.mailbox_keywords = PQgetisnull(q, 0, 3) ? NULL : PQgetvalue(q, 0, 3);
		out.message_id = strtoll(PQgetvalue(q, 0, 4), NULL, 10);
		out.deduplicated = strcmp(PQgetvalue(q, 0, 5), "t") == 0;
		r->cb(r->ctx, &out, NULL, NULL);
	}
	free(r);
}

/* A text[] literal with every element quoted. */
static void text_array(struct buf *out, const char *const *v, unsigned n)
{
	(void)buf_append_str(out, "{"); /* unlimited buffer: cannot fail */
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

static void put32(struct buf *b, uint32_t v)
{
	uint32_t be = htonl(v);

	(void)buf_append(b, &be, 4);
}

/* The message's chunks as a one-dimensional bytea[] in PostgreSQL's binary
 * array format: ndim, has-nulls, element type, (size, lower bound), then
 * (length, octets) per element. No escaping: the octets travel as they
 * are. */
static void chunk_array(struct buf *b, const struct message_ingest *m)
{
	put32(b, 1);
	put32(b, 0);
	put32(b, BYTEA_OID);
	put32(b, m->nchunks);
	put32(b, 1);
	for (unsigned i = 0; i < m->nchunks; i++) {
		size_t len = message_chunk_len(m->size, i);
		put32(b, (uint32_t)len);
		(void)buf_append(b, m->data + (size_t)i * MESSAGE_CHUNK_SIZE, len);
	}
}

int store_append(struct db *db, const struct store_append_req *req, store_append_cb *cb, void *ctx,
                 const char **error_r)
{
	const struct message_ingest *m = req->msg;
	const struct mime_search_fields *f = &m->search;
	char acc[24], flags[16], idate[24], maxkw[16], size[24], hsize[24], lines[24], sdate[24];
	const char *vals[24];
	int lens[24], fmts[24];
	struct db_query q = {"append_message", 24, vals, lens, fmts, 0};
	struct buf kw, chunks;
	struct append_req *r;
	int ret = 0;

	if (m->size > INT32_MAX - 64 * 1024) {
		*error_r = "message too large for one request";
		return -1;
	}
	snprintf(acc, sizeof(acc), "%lld", (long long)req->account_id);
	snprintf(flags, sizeof(flags), "%u", req->flags);
	snprintf(idate, sizeof(idate), "%lld", (long long)req->internaldate);
	snprintf(maxkw, sizeof(maxkw), "%u", req->max_mailbox_keywords);
	snprintf(size, sizeof(size), "%zu", m->size);
	snprintf(hsize, sizeof(hsize), "%zu", m->header_size);
	snprintf(lines, sizeof(lines), "%zu", m->body_lines);
	snprintf(sdate, sizeof(sdate), "%lld", (long long)f->date);
	buf_init(&kw, 0);
	buf_init(&chunks, 0);
	text_array(&kw, req->keywords, req->nkeywords);
	chunk_array(&chunks, m);

	memset(lens, 0, sizeof(lens));
	memset(fmts, 0, sizeof(fmts));
	vals[0] = acc;
	vals[1] = req->mailbox;
	vals[2] = flags;
	vals[3] = kw.data;
	vals[4] = req->has_internaldate ? idate : NULL;
	vals[5] = maxkw;
	vals[6] = (const char *)m->sha256;
	lens[6] = MESSAGE_SHA256_LEN;
	fmts[6] = 1;
	vals[7] = size;
	vals[8] = hsize;
	vals[9] = lines;
	vals[10] = m->envelope;
	lens[10] = (int)m->envelope_len;
	fmts[10] = 1;
	vals[11] = m->body;
	lens[11] = (int)m->body_len;
	fmts[11] = 1;
	vals[12] = m->bodystructure;
	lens[12] = (int)m->bodystructure_len;
	fmts[12] = 1;
	vals[13] = (const char *)m->partmap;
	lens[13] = (int)m->partmap_len;
	fmts[13] = 1;
	vals[14] = f->date == (time_t)-1 ? NULL : sdate;
	vals[15] = f->subject;
	vals[16] = f->from;
	vals[17] = f->to;
	vals[18] = f->cc;
	vals[19] = f->bcc;
	vals[20] = f->message_id;
	vals[21] = f->headers;
	vals[22] = f->body;
	vals[23] = chunks.data;
	lens[23] = (int)chunks.len;
	fmts[23] = 1;

	r = malloc(sizeof(*r));
	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	if (db_submit(db, &q, 1, append_done, r, error_r) == NULL) { /* copies the values */
		free(r);
		ret = -1;
	}
	buf_free(&kw);
	buf_free(&chunks);
	return ret;
}
