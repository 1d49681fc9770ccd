/* Store: delivery through delivery_resolve and delivery_store (0009). */
#include "store_delivery.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "lmtp/lmtp_message.h"
#include "log.h"
#include "message_ingest.h"
#include "store_internal.h"

#define BYTEA_OID 17
#define DELIVERY_NPARAMS 23

const struct db_statement store_delivery_statements[] = {
	{"delivery_resolve",
	 "SELECT r_status, r_account, r_mailbox FROM delivery_resolve($1::text, $2::text,"
	 " $3::bigint)"},
	{"delivery_store",
	 "SELECT r_index, r_status, r_uid, r_modseq FROM delivery_store($1::bigint[],"
	 " $2::bigint[], $3::integer[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[],"
	 " $8::bytea, $9::bigint, $10::bigint, $11::bytea, $12::bytea, $13::bytea,"
	 " to_timestamp($14::bigint), $15::text, $16::text, $17::text, $18::text, $19::text,"
	 " $20::text, $21::text, $22::text, $23::integer) ORDER BY r_index"},
};
const unsigned store_delivery_nstatements =
	sizeof(store_delivery_statements) / sizeof(store_delivery_statements[0]);

/* -- resolve --------------------------------------------------------------- */

struct resolve_req {
	store_resolve_cb *cb;
	void *ctx;
};

static const struct {
	const char *name;
	enum store_rcpt_status status;
} rcpt_statuses[] = {
	{"ok", STORE_RCPT_OK},
	{"unknown_domain", STORE_RCPT_UNKNOWN_DOMAIN},
	{"unknown_user", STORE_RCPT_UNKNOWN_USER},
	{"suspended", STORE_RCPT_SUSPENDED},
	{"over_quota", STORE_RCPT_OVER_QUOTA},
	{"loop", STORE_RCPT_LOOP},
	{"too_deep", STORE_RCPT_TOO_DEEP},
};

/* Fills r from one delivery_resolve result; targets are malloc'd into
 * *targets_r. Returns NULL or what went wrong. */
static const char *resolve_one(PGresult *q, struct store_rcpt_result *r,
			       struct store_rcpt_target **targets_r)
{
	const char *name;
	int rows;
	size_t k;

	if (PQresultStatus(q) != PGRES_TUPLES_OK)
		return db_error_message(q);
	rows = PQntuples(q);
	if (rows < 1)
		return "delivery_resolve returned no row";
	name = PQgetvalue(q, 0, 0);
	for (k = 0; k < sizeof(rcpt_statuses) / sizeof(rcpt_statuses[0]); k++)
		if (strcmp(name, rcpt_statuses[k].name) == 0)
			break;
	if (k == sizeof(rcpt_statuses) / sizeof(rcpt_statuses[0]))
		return "delivery_resolve: unknown status";
	r->status = rcpt_statuses[k].status;
	if (r->status != STORE_RCPT_OK)
		return NULL;
	*targets_r = calloc((size_t)rows, sizeof(**targets_r));
	if (*targets_r == NULL)
		panic("store: out of memory");
	for (int i = 0; i < rows; i++) {
		(*targets_r)[i].account_id = strtoll(PQgetvalue(q, i, 1), NULL, 10);
		(*targets_r)[i].mailbox_id = strtoll(PQgetvalue(q, i, 2), NULL, 10);
	}
	r->targets = *targets_r;
	r->ntargets = (unsigned)rows;
	return NULL;
}

static void resolve_done(void *arg, PGresult *const *res, unsigned n, const char *error)
{
	struct resolve_req *r = arg;
	struct store_rcpt_result out[STORE_RESOLVE_MAX];
	struct store_rcpt_target *targets[STORE_RESOLVE_MAX] = {NULL};

	memset(out, 0, sizeof(out));
	for (unsigned i = 0; error == NULL && i < n; i++)
		error = resolve_one(res[i], &out[i], &targets[i]);
	if (error != NULL)
		r->cb(r->ctx, NULL, 0, error);
	else
		r->cb(r->ctx, out, n, NULL);
	for (unsigned i = 0; i < n; i++)
		free(targets[i]);
	free(r);
}

int store_delivery_resolve(struct db *db, const struct store_rcpt_query *queries, unsigned n,
			   uint64_t size, store_resolve_cb *cb, void *ctx, const char **error_r)
{
	char sz[24];
	const char *vals[STORE_RESOLVE_MAX][3];
	struct db_query q[STORE_RESOLVE_MAX];
	struct resolve_req *r;

	if (n < 1 || n > STORE_RESOLVE_MAX)
		panic("store: %u recipients to resolve", n);
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)(size > INT64_MAX ? INT64_MAX : size));
	memset(q, 0, sizeof(q));
	for (unsigned i = 0; i < n; i++) {
		vals[i][0] = queries[i].address;
		vals[i][1] = queries[i].base;
		vals[i][2] = sz;
		q[i].stmt = "delivery_resolve";
		q[i].nparams = 3;
		q[i].values = vals[i];
	}
	r = malloc(sizeof(*r));
	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	/* n read-only statements under one Sync: one round trip. */
	if (db_submit(db, q, n, resolve_done, r, error_r) == NULL) {
		free(r);
		return -1;
	}
	return 0;
}

/* -- store ----------------------------------------------------------------- */

struct store_req {
	store_delivery_cb *cb;
	void *ctx;
	unsigned n;
};

static void store_done(void *arg, PGresult *const *res, unsigned nres, const char *error)
{
	struct store_req *r = arg;
	struct store_delivery_result *out = NULL;
	PGresult *q;

	if (error != NULL) {
		r->cb(r->ctx, NULL, 0, error);
		goto done;
	}
	q = res[0];
	if (PQresultStatus(q) != PGRES_TUPLES_OK) {
		r->cb(r->ctx, NULL, 0, db_error_message(q));
		goto done;
	}
	if ((unsigned)PQntuples(q) != r->n) {
		r->cb(r->ctx, NULL, 0, "delivery_store returned the wrong number of rows");
		goto done;
	}
	out = calloc(r->n, sizeof(*out));
	if (out == NULL)
		panic("store: out of memory");
	for (unsigned i = 0; i < r->n; i++) {
		const char *st = PQgetvalue(q, (int)i, 1);

		if (strcmp(st, "ok") == 0) {
			out[i].status = STORE_DELIVERY_OK;
			out[i].uid = (uint32_t)strtoul(PQgetvalue(q, (int)i, 2), NULL, 10);
			out[i].modseq = strtoull(PQgetvalue(q, (int)i, 3), NULL, 10);
		} else if (strcmp(st, "over_quota") == 0) {
			out[i].status = STORE_DELIVERY_OVER_QUOTA;
		} else if (strcmp(st, "limit") == 0) {
			out[i].status = STORE_DELIVERY_LIMIT;
		} else {
			out[i].status = STORE_DELIVERY_NOT_FOUND;
		}
	}
	r->cb(r->ctx, out, r->n, NULL);
done:
	free(out);
	free(r);
}

static void put32(struct buf *b, uint32_t v)
{
	uint32_t be = htonl(v);

	(void)buf_append(b, &be, 4); /* unlimited buffer: cannot fail */
}

/* PostgreSQL's binary format of a one-dimensional bytea[] (as in
 * store_append.c): ndim, has-nulls, element type, (size, lower bound),
 * then (length, octets) per element. */
static void bytea_array_begin(struct buf *b, unsigned n)
{
	put32(b, 1);
	put32(b, 0);
	put32(b, BYTEA_OID);
	put32(b, n);
	put32(b, 1);
}

static void bytea_array_add(struct buf *b, const void *data, size_t len)
{
	put32(b, (uint32_t)len);
	(void)buf_append(b, data, len);
}

/* A text[] literal with every element quoted. */
static void text_array_add(struct buf *b, const char *s, bool first)
{
	(void)buf_append_str(b, first ? "\"" : ",\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			(void)buf_append(b, "\\", 1);
		(void)buf_append(b, s, 1);
	}
	(void)buf_append_str(b, "\"");
}

int store_delivery_store(struct db *db, const struct lmtp_message *msg,
			 const struct store_delivery_entry *entries, unsigned n,
			 store_delivery_cb *cb, void *ctx, const char **error_r)
{
	const struct message_ingest *m = &msg->parsed;
	const struct mime_search_fields *f = &m->search;
	struct buf accounts, mailboxes, groups, prefixes, shas, partmaps, hdrs;
	char hbase[24], lines[24], sdate[24], chunk[16];
	const char *vals[DELIVERY_NPARAMS];
	int lens[DELIVERY_NPARAMS], fmts[DELIVERY_NPARAMS];
	struct db_query q = {"delivery_store", DELIVERY_NPARAMS, vals, lens, fmts, 0};
	struct store_req *r;
	int ret = 0;

	if (msg->raw_len > INT32_MAX - 64 * 1024) {
		*error_r = "message too large for one request";
		return -1;
	}
	buf_init(&accounts, 0);
	buf_init(&mailboxes, 0);
	buf_init(&groups, 0);
	buf_init(&prefixes, 0);
	buf_init(&shas, 0);
	buf_init(&partmaps, 0);
	buf_init(&hdrs, 0);
	(void)buf_append_str(&accounts, "{");
	(void)buf_append_str(&mailboxes, "{");
	(void)buf_append_str(&groups, "{");
	(void)buf_append_str(&hdrs, "{");
	bytea_array_begin(&prefixes, n);
	bytea_array_begin(&shas, n);
	bytea_array_begin(&partmaps, n);
	for (unsigned i = 0; i < n; i++) {
		const struct lmtp_message_variant *v = &msg->variants[entries[i].variant];

		(void)buf_printf(&accounts, "%s%lld", i ? "," : "", (long long)entries[i].account_id);
		(void)buf_printf(&mailboxes, "%s%lld", i ? "," : "",
				 (long long)entries[i].mailbox_id);
		(void)buf_printf(&groups, "%s%u", i ? "," : "", entries[i].group);
		bytea_array_add(&prefixes, v->prefix, v->prefix_len);
		bytea_array_add(&shas, v->sha256, MESSAGE_SHA256_LEN);
		bytea_array_add(&partmaps, v->partmap, v->partmap_len);
		text_array_add(&hdrs, v->hdr_prefix, i == 0);
	}
	(void)buf_append_str(&accounts, "}");
	(void)buf_append_str(&mailboxes, "}");
	(void)buf_append_str(&groups, "}");
	(void)buf_append_str(&hdrs, "}");
	snprintf(hbase, sizeof(hbase), "%zu", msg->header_base);
	snprintf(lines, sizeof(lines), "%zu", m->body_lines);
	snprintf(sdate, sizeof(sdate), "%lld", (long long)f->date);
	snprintf(chunk, sizeof(chunk), "%d", MESSAGE_CHUNK_SIZE);

	memset(lens, 0, sizeof(lens));
	memset(fmts, 0, sizeof(fmts));
#define BIN(i, p, l)                                                                               \
	do {                                                                                       \
		vals[i] = (const char *)(p);                                                       \
		lens[i] = (int)(l);                                                                \
		fmts[i] = 1;                                                                       \
	} while (0)
	vals[0] = accounts.data;
	vals[1] = mailboxes.data;
	vals[2] = groups.data;
	BIN(3, prefixes.data, prefixes.len);
	BIN(4, shas.data, shas.len);
	BIN(5, partmaps.data, partmaps.len);
	vals[6] = hdrs.data;
	/* An empty message still needs a non-NULL value. */
	BIN(7, msg->raw_len > 0 ? (const char *)msg->raw : "", msg->raw_len);
	vals[8] = hbase;
	vals[9] = lines;
	BIN(10, m->envelope, m->envelope_len);
	BIN(11, m->body, m->body_len);
	BIN(12, m->bodystructure, m->bodystructure_len);
	vals[13] = f->date == (time_t)-1 ? NULL : sdate;
	vals[14] = f->subject;
	vals[15] = f->from;
	vals[16] = f->to;
	vals[17] = f->cc;
	vals[18] = f->bcc;
	vals[19] = f->message_id;
	vals[20] = msg->headers_tail;
	vals[21] = f->body;
	vals[22] = chunk;
#undef BIN

	r = malloc(sizeof(*r));
	if (r == NULL)
		panic("store: out of memory");
	r->cb = cb;
	r->ctx = ctx;
	r->n = n;
	if (db_submit(db, &q, 1, store_done, r, error_r) == NULL) { /* copies the values */
		free(r);
		ret = -1;
	}
	buf_free(&accounts);
	buf_free(&mailboxes);
	buf_free(&groups);
	buf_free(&prefixes);
	buf_free(&shas);
	buf_free(&partmaps);
	buf_free(&hdrs);
	return ret;
}
