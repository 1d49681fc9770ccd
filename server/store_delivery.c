/* Store: delivery through delivery_resolve and delivery_store (0009) and
 * delivery_store_batch (0016). */
#include "store_delivery.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "lmtp/lmtp_message.h"
#include "log.h"
#include "message_ingest.h"
#include "store_internal.h"

#define BYTEA_OID 17
#define INT4_OID 23
#define INT8_OID 20
#define TEXT_OID 25
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
	{"delivery_store_batch",
	 "SELECT r_index, r_uid, r_modseq FROM delivery_store_batch($1::integer[], $2::bigint[],"
	 " $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[], $8::bytea[],"
	 " $9::bigint[], $10::bigint[], $11::bytea[], $12::bytea[], $13::bytea[], $14::bigint[],"
	 " $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],"
	 " $21::text[], $22::text[], $23::integer) ORDER BY r_index"},
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

/* Deliveries are coalesced per worker (docs/delivery.md "Coalescing"). A
 * message that becomes ready is sent at once, as a batch of its own, when
 * fewer than DELIVERY_INFLIGHT batches are on their way and none of them
 * holds one of its INBOXes. Otherwise it waits, and when a batch completes
 * the waiting messages (from any LMTP session of the worker) whose INBOXes
 * are free go together as the next batch: one call of
 * delivery_store_batch, one transaction, one commit, one UID allocation
 * per INBOX. A message for an INBOX in flight would only wait for that
 * batch's row lock (held through its commit) in PostgreSQL, holding a
 * connection; waiting here instead lets the messages of a hot INBOX share
 * one transaction. A message is answered only from its batch's callback,
 * i.e. after the commit. A batch that fails in the database was rolled
 * back as a whole: each of its messages is then stored again alone with
 * delivery_store, whose per-recipient savepoints decide every reply
 * exactly (so one over-quota recipient cannot fail the others). Two
 * batches in flight (not one) keep PostgreSQL busy while the other
 * waits for its commit's flush: measured under load, one cost a third of
 * the throughput for ~20% less CPU per message. */
#define DELIVERY_INFLIGHT 2
#define DELIVERY_BATCH_MESSAGES 64
#define DELIVERY_BATCH_BYTES (4u * 1024 * 1024)
/* Larger messages go alone, without the copy a queued message needs. */
#define DELIVERY_ALONE_BYTES (1024u * 1024)

/* One account of a queued message: a copy of what differs per account. */
struct dentry {
	int64_t account_id, mailbox_id;
	unsigned group;
	const unsigned char *prefix, *partmap;
	size_t prefix_len, partmap_len;
	unsigned char sha256[MESSAGE_SHA256_LEN];
	const char *hdr_prefix;
};

/* One message: a copy of everything the store needs (pool), its callback. */
struct dmsg {
	struct dmsg *next;
	struct pool *pool;
	store_delivery_cb *cb;
	void *ctx;
	struct dentry *entries;
	unsigned n;
	const unsigned char *raw;
	size_t raw_len, header_base, lines;
	const char *envelope, *body, *bodystructure;
	size_t envelope_len, body_len, bodystructure_len;
	long long date; /* -1: none */
	const char *subject, *from, *to, *cc, *bcc, *message_id, *headers_tail, *body_text;
};

struct batch {
	struct batch *next; /* in flight */
	struct dmsg *head;
	unsigned nmsgs, nentries;
};

/* The worker's batcher (one process, one loop, one pool of connections). */
static struct {
	struct db *db;
	struct dmsg *head, *tail; /* waiting */
	struct batch *flying;	  /* in flight */
	unsigned inflight;
	/* Time with a batch in flight (store_delivery_busy_ms): the total of
	 * the finished busy spells, and when the current one began. */
	uint64_t busy_ms;
	uint64_t busy_since_ms;
} batcher;

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for MONOTONIC */
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t store_delivery_busy_ms(void)
{
	return batcher.busy_ms + (batcher.inflight > 0 ? monotonic_ms() - batcher.busy_since_ms : 0);
}

/* Whether an INBOX of d is in a batch in flight. */
static bool dmsg_conflicts(const struct dmsg *d)
{
	for (const struct batch *b = batcher.flying; b != NULL; b = b->next) {
		for (const struct dmsg *o = b->head; o != NULL; o = o->next)
			for (unsigned i = 0; i < d->n; i++)
				for (unsigned k = 0; k < o->n; k++)
					if (d->entries[i].mailbox_id == o->entries[k].mailbox_id &&
					    d->entries[i].account_id == o->entries[k].account_id)
						return true;
	}
	return false;
}

static void batch_flying_add(struct batch *b)
{
	b->next = batcher.flying;
	batcher.flying = b;
	if (batcher.inflight++ == 0)
		batcher.busy_since_ms = monotonic_ms();
}

static void batch_flying_remove(struct batch *b)
{
	for (struct batch **p = &batcher.flying; *p != NULL; p = &(*p)->next)
		if (*p == b) {
			*p = b->next;
			if (--batcher.inflight == 0)
				batcher.busy_ms += monotonic_ms() - batcher.busy_since_ms;
			return;
		}
	panic("store: delivery batch not in flight");
}

static const char *pool_strdup_null(struct pool *p, const char *s)
{
	return s != NULL ? pool_strdup(p, s) : NULL;
}

static struct dmsg *dmsg_new(const struct lmtp_message *msg,
			     const struct store_delivery_entry *entries, unsigned n,
			     store_delivery_cb *cb, void *ctx, bool copy_raw)
{
	const struct message_ingest *m = &msg->parsed;
	const struct mime_search_fields *f = &m->search;
	struct pool *p = pool_create(copy_raw ? msg->raw_len + 16 * 1024 : 16 * 1024);
	struct dmsg *d = pool_alloc(p, sizeof(*d));

	d->pool = p;
	d->cb = cb;
	d->ctx = ctx;
	d->n = n;
	d->entries = pool_alloc(p, sizeof(*d->entries) * n);
	for (unsigned i = 0; i < n; i++) {
		const struct lmtp_message_variant *v = &msg->variants[entries[i].variant];
		struct dentry *e = &d->entries[i];

		e->account_id = entries[i].account_id;
		e->mailbox_id = entries[i].mailbox_id;
		e->group = entries[i].group;
		e->prefix = pool_memdup(p, v->prefix, v->prefix_len);
		e->prefix_len = v->prefix_len;
		e->partmap = pool_memdup(p, v->partmap, v->partmap_len);
		e->partmap_len = v->partmap_len;
		memcpy(e->sha256, v->sha256, MESSAGE_SHA256_LEN);
		e->hdr_prefix = pool_strdup(p, v->hdr_prefix);
	}
	d->raw_len = msg->raw_len;
	/* An empty message still needs a non-NULL value. */
	d->raw = copy_raw && msg->raw_len > 0 ? pool_memdup(p, msg->raw, msg->raw_len)
		 : msg->raw_len > 0	      ? msg->raw
					      : (const unsigned char *)"";
	d->header_base = msg->header_base;
	d->lines = m->body_lines;
	d->envelope = pool_memdup(p, m->envelope, m->envelope_len);
	d->envelope_len = m->envelope_len;
	d->body = pool_memdup(p, m->body, m->body_len);
	d->body_len = m->body_len;
	d->bodystructure = pool_memdup(p, m->bodystructure, m->bodystructure_len);
	d->bodystructure_len = m->bodystructure_len;
	d->date = f->date == (time_t)-1 ? -1 : (long long)f->date;
	d->subject = pool_strdup_null(p, f->subject);
	d->from = pool_strdup_null(p, f->from);
	d->to = pool_strdup_null(p, f->to);
	d->cc = pool_strdup_null(p, f->cc);
	d->bcc = pool_strdup_null(p, f->bcc);
	d->message_id = pool_strdup_null(p, f->message_id);
	d->headers_tail = pool_strdup_null(p, msg->headers_tail);
	d->body_text = pool_strdup_null(p, f->body);
	return d;
}

static void dmsg_free(struct dmsg *d)
{
	struct pool *p = d->pool;

	pool_destroy(&p);
}

static void put32(struct buf *b, uint32_t v)
{
	uint32_t be = htonl(v);

	(void)buf_append(b, &be, 4); /* unlimited buffer: cannot fail */
}

static void put64(struct buf *b, uint64_t v)
{
	put32(b, (uint32_t)(v >> 32));
	put32(b, (uint32_t)v);
}

/* PostgreSQL's binary format of a one-dimensional array (as in
 * store_append.c): ndim, has-nulls, element type, (size, lower bound),
 * then (length or -1 for NULL, octets) per element. */
static void array_begin(struct buf *b, uint32_t elem_oid, unsigned n)
{
	put32(b, 1);
	put32(b, 0); /* PostgreSQL finds the NULLs itself */
	put32(b, elem_oid);
	put32(b, n);
	put32(b, 1);
}

static void array_add(struct buf *b, const void *data, size_t len)
{
	put32(b, (uint32_t)len);
	(void)buf_append(b, data, len);
}

static void array_add_null(struct buf *b)
{
	put32(b, UINT32_MAX); /* -1 */
}

static void array_add_str(struct buf *b, const char *s)
{
	if (s == NULL)
		array_add_null(b);
	else
		array_add(b, s, strlen(s));
}

static void array_add_int8(struct buf *b, long long v)
{
	put32(b, 8);
	put64(b, (uint64_t)v);
}

static void array_add_int4(struct buf *b, int v)
{
	put32(b, 4);
	put32(b, (uint32_t)v);
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

#define BIN(i, p, l)                                                                               \
	do {                                                                                       \
		vals[i] = (const char *)(p);                                                       \
		lens[i] = (int)(l);                                                                \
		fmts[i] = 1;                                                                       \
	} while (0)

/* -- one message alone (delivery_store, per-recipient savepoints) -- */

static void single_done(void *arg, PGresult *const *res, unsigned nres, const char *error)
{
	struct dmsg *d = arg;
	struct store_delivery_result *out = NULL;
	PGresult *q;

	if (error != NULL) {
		d->cb(d->ctx, NULL, 0, error);
		goto done;
	}
	q = res[0];
	if (PQresultStatus(q) != PGRES_TUPLES_OK) {
		d->cb(d->ctx, NULL, 0, db_error_message(q));
		goto done;
	}
	if ((unsigned)PQntuples(q) != d->n) {
		d->cb(d->ctx, NULL, 0, "delivery_store returned the wrong number of rows");
		goto done;
	}
	out = calloc(d->n, sizeof(*out));
	if (out == NULL)
		panic("store: out of memory");
	for (unsigned i = 0; i < d->n; i++) {
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
	d->cb(d->ctx, out, d->n, NULL);
done:
	free(out);
	dmsg_free(d);
}

/* Sends d alone. Returns 0 (single_done will run and free d) or -1 with
 * error_r (d untouched). */
static int single_submit(struct db *db, struct dmsg *d, const char **error_r)
{
	struct buf accounts, mailboxes, groups, prefixes, shas, partmaps, hdrs;
	char hbase[24], lines[24], sdate[24], chunk[16];
	const char *vals[DELIVERY_NPARAMS];
	int lens[DELIVERY_NPARAMS], fmts[DELIVERY_NPARAMS];
	struct db_query q = {"delivery_store", DELIVERY_NPARAMS, vals, lens, fmts, 0};
	int ret = 0;

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
	array_begin(&prefixes, BYTEA_OID, d->n);
	array_begin(&shas, BYTEA_OID, d->n);
	array_begin(&partmaps, BYTEA_OID, d->n);
	for (unsigned i = 0; i < d->n; i++) {
		const struct dentry *e = &d->entries[i];

		(void)buf_printf(&accounts, "%s%lld", i ? "," : "", (long long)e->account_id);
		(void)buf_printf(&mailboxes, "%s%lld", i ? "," : "", (long long)e->mailbox_id);
		(void)buf_printf(&groups, "%s%u", i ? "," : "", e->group);
		array_add(&prefixes, e->prefix, e->prefix_len);
		array_add(&shas, e->sha256, MESSAGE_SHA256_LEN);
		array_add(&partmaps, e->partmap, e->partmap_len);
		text_array_add(&hdrs, e->hdr_prefix, i == 0);
	}
	(void)buf_append_str(&accounts, "}");
	(void)buf_append_str(&mailboxes, "}");
	(void)buf_append_str(&groups, "}");
	(void)buf_append_str(&hdrs, "}");
	snprintf(hbase, sizeof(hbase), "%zu", d->header_base);
	snprintf(lines, sizeof(lines), "%zu", d->lines);
	snprintf(sdate, sizeof(sdate), "%lld", d->date);
	snprintf(chunk, sizeof(chunk), "%d", MESSAGE_CHUNK_SIZE);

	memset(lens, 0, sizeof(lens));
	memset(fmts, 0, sizeof(fmts));
	vals[0] = accounts.data;
	vals[1] = mailboxes.data;
	vals[2] = groups.data;
	BIN(3, prefixes.data, prefixes.len);
	BIN(4, shas.data, shas.len);
	BIN(5, partmaps.data, partmaps.len);
	vals[6] = hdrs.data;
	BIN(7, d->raw, d->raw_len);
	vals[8] = hbase;
	vals[9] = lines;
	BIN(10, d->envelope, d->envelope_len);
	BIN(11, d->body, d->body_len);
	BIN(12, d->bodystructure, d->bodystructure_len);
	vals[13] = d->date < 0 ? NULL : sdate;
	vals[14] = d->subject;
	vals[15] = d->from;
	vals[16] = d->to;
	vals[17] = d->cc;
	vals[18] = d->bcc;
	vals[19] = d->message_id;
	vals[20] = d->headers_tail;
	vals[21] = d->body_text;
	vals[22] = chunk;

	if (db_submit(db, &q, 1, single_done, d, error_r) == NULL) /* copies the values */
		ret = -1;
	buf_free(&accounts);
	buf_free(&mailboxes);
	buf_free(&groups);
	buf_free(&prefixes);
	buf_free(&shas);
	buf_free(&partmaps);
	buf_free(&hdrs);
	return ret;
}

/* -- batches (delivery_store_batch: all or nothing) -- */

static void batcher_flush(void);

/* The batch failed in the database, so nothing of it was stored: each
 * message goes again on its own, where its recipients get their own
 * outcome. */
static void batch_retry_alone(struct batch *b, const char *why)
{
	struct dmsg *d, *next;

	LOG(INFO, NULL, "delivery: a batch of %u messages failed (%s): storing each alone",
	    b->nmsgs, why);
	for (d = b->head; d != NULL; d = next) {
		const char *err;

		next = d->next;
		if (single_submit(batcher.db, d, &err) < 0) {
			d->cb(d->ctx, NULL, 0, err);
			dmsg_free(d);
		}
	}
}

static void batch_done(void *arg, PGresult *const *res, unsigned nres, const char *error)
{
	struct batch *b = arg;
	struct store_delivery_result *out = NULL;
	struct dmsg *d, *next;
	unsigned row = 0;
	PGresult *q = error == NULL ? res[0] : NULL;

	batch_flying_remove(b);
	/* The messages that waited go now, before the callbacks below make
	 * their sessions ready for more. */
	batcher_flush();
	if (error != NULL) {
		/* The connection failed: whether the commit happened is
		 * unknown, so no message may be retried here (451: the MTA
		 * retries, and the account's dedup keeps one copy of the
		 * octets). */
		for (d = b->head; d != NULL; d = next) {
			next = d->next;
			d->cb(d->ctx, NULL, 0, error);
			dmsg_free(d);
		}
		free(b);
		return;
	}
	if (PQresultStatus(q) != PGRES_TUPLES_OK || (unsigned)PQntuples(q) != b->nentries) {
		batch_retry_alone(b, PQresultStatus(q) != PGRES_TUPLES_OK
					     ? db_error_message(q)
					     : "wrong number of rows");
		free(b);
		return;
	}
	out = calloc(DELIVERY_BATCH_MESSAGES > b->nentries ? DELIVERY_BATCH_MESSAGES : b->nentries,
		     sizeof(*out));
	if (out == NULL)
		panic("store: out of memory");
	for (d = b->head; d != NULL; d = next) {
		next = d->next;
		for (unsigned i = 0; i < d->n; i++, row++) {
			out[i].status = STORE_DELIVERY_OK;
			out[i].uid = (uint32_t)strtoul(PQgetvalue(q, (int)row, 1), NULL, 10);
			out[i].modseq = strtoull(PQgetvalue(q, (int)row, 2), NULL, 10);
		}
		d->cb(d->ctx, out, d->n, NULL);
		dmsg_free(d);
	}
	free(out);
	free(b);
}

/* Sends the messages of b as one batch. Returns 0 (batch_done will run)
 * or -1 with error_r (nothing sent, b untouched). */
static int batch_submit(struct batch *b, const char **error_r)
{
	enum { NB = 23 };
	struct buf a[NB];
	const char *vals[NB];
	int lens[NB], fmts[NB];
	struct db_query q = {"delivery_store_batch", NB, vals, lens, fmts, 0};
	static const uint32_t oids[NB] = {
		INT4_OID,  INT8_OID,  INT8_OID, BYTEA_OID, BYTEA_OID, BYTEA_OID, TEXT_OID, BYTEA_OID,
		INT8_OID,  INT8_OID,  BYTEA_OID, BYTEA_OID, BYTEA_OID, INT8_OID, TEXT_OID,  TEXT_OID,
		TEXT_OID,  TEXT_OID,  TEXT_OID,  TEXT_OID,  TEXT_OID,  TEXT_OID, 0};
	char chunk[16];
	unsigned k = 1;
	int ret = 0;

	for (unsigned i = 0; i < NB - 1; i++) {
		buf_init(&a[i], 0);
		array_begin(&a[i], oids[i], i < 7 ? b->nentries : b->nmsgs);
	}
	for (const struct dmsg *d = b->head; d != NULL; d = d->next, k++) {
		for (unsigned i = 0; i < d->n; i++) {
			const struct dentry *e = &d->entries[i];

			array_add_int4(&a[0], (int)k);
			array_add_int8(&a[1], e->account_id);
			array_add_int8(&a[2], e->mailbox_id);
			array_add(&a[3], e->prefix, e->prefix_len);
			array_add(&a[4], e->sha256, MESSAGE_SHA256_LEN);
			array_add(&a[5], e->partmap, e->partmap_len);
			array_add_str(&a[6], e->hdr_prefix);
		}
		array_add(&a[7], d->raw, d->raw_len);
		array_add_int8(&a[8], (long long)d->header_base);
		array_add_int8(&a[9], (long long)d->lines);
		array_add(&a[10], d->envelope, d->envelope_len);
		array_add(&a[11], d->body, d->body_len);
		array_add(&a[12], d->bodystructure, d->bodystructure_len);
		if (d->date < 0)
			array_add_null(&a[13]);
		else
			array_add_int8(&a[13], d->date);
		array_add_str(&a[14], d->subject);
		array_add_str(&a[15], d->from);
		array_add_str(&a[16], d->to);
		array_add_str(&a[17], d->cc);
		array_add_str(&a[18], d->bcc);
		array_add_str(&a[19], d->message_id);
		array_add_str(&a[20], d->headers_tail);
		array_add_str(&a[21], d->body_text);
	}
	for (unsigned i = 0; i < NB - 1; i++)
		BIN(i, a[i].data, a[i].len);
	snprintf(chunk, sizeof(chunk), "%d", MESSAGE_CHUNK_SIZE);
	vals[NB - 1] = chunk;
	lens[NB - 1] = 0;
	fmts[NB - 1] = 0;
	if (db_submit(batcher.db, &q, 1, batch_done, b, error_r) == NULL) /* copies */
		ret = -1;
	for (unsigned i = 0; i < NB - 1; i++)
		buf_free(&a[i]);
	return ret;
}

/* Sends what waits, batch by batch, while a batch may be in flight: the
 * waiting messages whose INBOXes no batch in flight holds, in order, up to
 * the limits. The others keep waiting, in order. */
static void batcher_flush(void)
{
	while (batcher.head != NULL && batcher.inflight < DELIVERY_INFLIGHT) {
		struct batch *b = calloc(1, sizeof(*b));
		struct dmsg **tail = &b->head, **link = &batcher.head, *d;
		size_t bytes = 0;
		const char *err;

		if (b == NULL)
			panic("store: out of memory");
		batcher.tail = NULL;
		while ((d = *link) != NULL) {
			if (b->nmsgs < DELIVERY_BATCH_MESSAGES &&
			    (b->nmsgs == 0 || bytes + d->raw_len <= DELIVERY_BATCH_BYTES) &&
			    !dmsg_conflicts(d)) {
				*link = d->next;
				d->next = NULL;
				*tail = d;
				tail = &d->next;
				b->nmsgs++;
				b->nentries += d->n;
				bytes += d->raw_len;
				continue;
			}
			batcher.tail = d;
			link = &d->next;
		}
		if (b->nmsgs == 0) {
			free(b); /* everything left waits for an INBOX in flight */
			return;
		}
		if (batch_submit(b, &err) < 0) {
			for (d = b->head; d != NULL; d = b->head) {
				b->head = d->next;
				d->cb(d->ctx, NULL, 0, err);
				dmsg_free(d);
			}
			free(b);
			continue;
		}
		batch_flying_add(b);
	}
}

int store_delivery_store(struct db *db, const struct lmtp_message *msg,
			 const struct store_delivery_entry *entries, unsigned n,
			 store_delivery_cb *cb, void *ctx, const char **error_r)
{
	struct dmsg *d;

	if (msg->raw_len > INT32_MAX - 64 * 1024) {
		*error_r = "message too large for one request";
		return -1;
	}
	if (n == 0) {
		*error_r = "no recipient to deliver to";
		return -1;
	}
	if (msg->raw_len > DELIVERY_ALONE_BYTES) {
		d = dmsg_new(msg, entries, n, cb, ctx, false);
		if (single_submit(db, d, error_r) < 0) {
			dmsg_free(d);
			return -1;
		}
		return 0;
	}
	if (batcher.db != db) {
		/* One pool per worker; a new one (tests) starts afresh. */
		if (batcher.head != NULL || batcher.inflight > 0)
			panic("store: deliveries queued on another database pool");
		batcher.db = db;
	}
	d = dmsg_new(msg, entries, n, cb, ctx, true);
	d->next = NULL;
	if (batcher.inflight < DELIVERY_INFLIGHT && !dmsg_conflicts(d)) {
		/* Sent here rather than queued for batcher_flush: a failure
		 * must be returned, since the callback may not run before we
		 * return. */
		struct batch *b = calloc(1, sizeof(*b));

		if (b == NULL)
			panic("store: out of memory");
		b->head = d;
		b->nmsgs = 1;
		b->nentries = n;
		if (batch_submit(b, error_r) < 0) {
			free(b);
			dmsg_free(d);
			return -1;
		}
		batch_flying_add(b);
		return 0;
	}
	if (batcher.tail != NULL)
		batcher.tail->next = d;
	else
		batcher.head = d;
	batcher.tail = d;
	return 0;
}
