#include "lmtp_session.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "config.h"
#include "conn.h"
#include "lmtp_data.h"
#include "lmtp_message.h"
#include "lmtp_parse.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "store_delivery.h"
#include "worker.h"
#include "workqueue.h"

/* RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for the
 * next command. */
#define LMTP_IDLE_TIMEOUT 300
/* RFC 5321 §4.5.3.1.8 asks for at least 100; Postfix sends at most
 * lmtp_destination_recipient_limit (50) per transaction. */
#define LMTP_MAX_RCPTS 1000
/* Syntax errors and unknown commands before the connection is dropped. */
#define LMTP_MAX_BAD 20
/* Stop reading commands while this much output waits for the client. */
#define LMTP_OUTPUT_HIGH (256 * 1024)
/* Messages above this are parsed in a workqueue thread (as APPEND does:
 * parsing costs milliseconds per MiB). */
#define LMTP_INLINE_MAX (256 * 1024)

/* RFC 5233: the sub-address delimiter. */
#define LMTP_DETAIL_DELIMITER '+'

enum recv_mode { RECV_NONE, RECV_DATA, RECV_BDAT };

struct lmtp_rcpt {
	char *address; /* normalised, +detail kept: the Delivered-To */
	struct store_rcpt_target *targets;
	unsigned ntargets;
};

/* A RCPT command waiting for its reply: an address to resolve, or a reply
 * already decided (a syntax error...) that must keep its place in the
 * order of replies. */
struct rcpt_pending {
	char *address; /* NULL for a decided reply */
	char *base;
	char *fixed;
};

/* Pipelined RCPT commands (RFC 2920) are resolved together, in one round
 * trip: Postfix sends all the recipients of a message at once. */
#define LMTP_RCPT_BATCH STORE_RESOLVE_MAX

struct lmtp_session {
	struct worker *w;
	struct conn *conn;
	struct log_ctx log; /* a copy that outlives the conn */
	char client[64];
	struct worker_session link;
	struct pool *pool;  /* the session's lifetime */
	struct pool *tpool; /* the mail transaction's: cleared when it ends */
	struct pool *cpool; /* one command's */
	bool lhlo;
	bool closed;   /* the conn is gone */
	bool quitting; /* QUIT or shutdown: closing after the output */
	bool busy;     /* waiting for the database or a parse job */
	bool stop_after; /* worker shutdown while busy: 421 once done */
	bool skipping; /* discarding the rest of an over-long line */
	unsigned refs; /* callbacks still to come */
	unsigned bad;

	/* The mail transaction. */
	bool has_mail;
	char *sender; /* "" for the null reverse-path */
	uint64_t mail_size;
	struct lmtp_rcpt *rcpts;
	unsigned nrcpts, rcpt_cap;
	/* One more than a full batch: the last line may add its reply and
	 * the 421 of too many errors. */
	struct rcpt_pending batch[LMTP_RCPT_BATCH + 1];
	unsigned nbatch, nbatch_db;
	bool quit_after_batch;

	/* Content. */
	enum recv_mode recv;
	struct lmtp_data *data;
	bool bdat_mode;	   /* BDAT was used: DATA and RCPT are over */
	bool bdat_failed;  /* a chunk made the message too big */
	bool bdat_last;
	const char *bdat_discard; /* the reply for a chunk read and dropped */
	uint64_t bdat_remaining;
	uint64_t bdat_total;
	struct timespec started; /* of the content, for the log */
};

#define s_log(s) (&(s)->log)

static void session_process(struct lmtp_session *s);

static const char *hostname(void)
{
	static char name[256];

	if (name[0] == '\0' && (gethostname(name, sizeof(name)) < 0 || name[0] == '\0'))
		snprintf(name, sizeof(name), "localhost");
	name[sizeof(name) - 1] = '\0';
	return name;
}

static void reply(struct lmtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply(struct lmtp_session *s, const char *fmt, ...)
{
	va_list ap;
	char *line;

	if (s->closed)
		return;
	va_start(ap, fmt);
	line = pool_vprintf(s->cpool, fmt, ap);
	va_end(ap);
	conn_printf(s->conn, "%s\r\n", line);
}

static void session_free(struct lmtp_session *s)
{
	lmtp_data_destroy(&s->data);
	pool_destroy(&s->cpool);
	pool_destroy(&s->tpool);
	pool_destroy(&s->pool);
	free(s);
}

static void session_maybe_free(struct lmtp_session *s)
{
	if (s->closed && s->refs == 0)
		session_free(s);
}

static void transaction_reset(struct lmtp_session *s)
{
	s->has_mail = false;
	s->sender = NULL;
	s->mail_size = 0;
	s->rcpts = NULL;
	s->nrcpts = s->rcpt_cap = 0;
	s->nbatch = s->nbatch_db = 0;
	s->recv = RECV_NONE;
	lmtp_data_destroy(&s->data);
	s->bdat_mode = s->bdat_failed = s->bdat_last = false;
	s->bdat_discard = NULL;
	s->bdat_remaining = s->bdat_total = 0;
	pool_clear(s->tpool);
}

static void session_quit(struct lmtp_session *s)
{
	s->quitting = true;
	if (!s->closed)
		conn_close(s->conn);
}

/* The database or parse job that made the session wait is done. */
static void session_resume(struct lmtp_session *s)
{
	s->busy = false;
	if (s->closed)
		return;
	if (s->stop_after) {
		reply(s, "421 4.3.2 %s Service shutting down", hostname());
		session_quit(s);
		return;
	}
	conn_read_enable(s->conn, true); /* buffered input is processed */
}

static void session_wait(struct lmtp_session *s)
{
	s->busy = true;
	conn_read_enable(s->conn, false);
}

/* One reply per accepted recipient, all the same (content refused). */
static void reply_each(struct lmtp_session *s, const char *code, const char *text)
{
	for (unsigned i = 0; i < s->nrcpts; i++)
		reply(s, "%s <%s> %s", code, s->rcpts[i].address, text);
}

/* -- RCPT ----------------------------------------------------------------- */

static void rcpt_add(struct lmtp_session *s, char *address,
		     const struct store_rcpt_target *t, unsigned n)
{
	struct lmtp_rcpt *r;

	if (s->nrcpts == s->rcpt_cap) {
		unsigned cap = s->rcpt_cap ? s->rcpt_cap * 2 : 8;
		struct lmtp_rcpt *nr = pool_alloc(s->tpool, sizeof(*nr) * cap);

		if (s->nrcpts > 0)
			memcpy(nr, s->rcpts, sizeof(*nr) * s->nrcpts);
		s->rcpts = nr;
		s->rcpt_cap = cap;
	}
	r = &s->rcpts[s->nrcpts++];
	r->address = address;
	r->targets = pool_memdup(s->tpool, t, sizeof(*t) * n);
	r->ntargets = n;
}

/* Queues the reply of a RCPT command decided without the database. */
static void rcpt_fixed(struct lmtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void rcpt_fixed(struct lmtp_session *s, const char *fmt, ...)
{
	struct rcpt_pending *p = &s->batch[s->nbatch++];
	va_list ap;

	va_start(ap, fmt);
	p->fixed = pool_vprintf(s->tpool, fmt, ap);
	va_end(ap);
	p->address = p->base = NULL;
}

/* The reply of one resolved recipient (accepting it on success). */
static void rcpt_answer(struct lmtp_session *s, const struct rcpt_pending *p,
			const struct store_rcpt_result *r, const char *error)
{
	const char *a = p->address;

	if (error != NULL) {
		reply(s, "451 4.3.0 <%s> Temporary failure, try again later", a);
		return;
	}
	switch (r->status) {
	case STORE_RCPT_OK:
		rcpt_add(s, p->address, r->targets, r->ntargets);
		reply(s, "250 2.1.5 <%s> Recipient OK", a);
		break;
	case STORE_RCPT_UNKNOWN_DOMAIN:
		reply(s, "550 5.1.2 <%s> Domain not hosted here", a);
		break;
	case STORE_RCPT_UNKNOWN_USER:
		reply(s, "550 5.1.1 <%s> User unknown", a);
		break;
	case STORE_RCPT_SUSPENDED:
		reply(s, "550 5.2.1 <%s> Mailbox disabled", a);
		break;
	case STORE_RCPT_OVER_QUOTA:
		reply(s, "552 5.2.2 <%s> Mailbox full", a);
		break;
	case STORE_RCPT_LOOP:
		LOG(WARN, s_log(s), "RCPT <%s>: alias loop", a);
		reply(s, "550 5.4.6 <%s> Alias loop", a);
		break;
	case STORE_RCPT_TOO_DEEP:
		LOG(WARN, s_log(s), "RCPT <%s>: alias nesting too deep", a);
		reply(s, "550 5.4.6 <%s> Alias nesting too deep", a);
		break;
	}
}

/* Writes the replies of the batch in order; results (NULL with error, or
 * for a batch without queries) answer its queries in order. */
static void rcpt_batch_answer(struct lmtp_session *s, const struct store_rcpt_result *results,
			      const char *error)
{
	unsigned q = 0;

	if (error != NULL)
		LOG(WARN, s_log(s), "RCPT: resolving recipients failed: %s", error);
	for (unsigned i = 0; i < s->nbatch; i++) {
		const struct rcpt_pending *p = &s->batch[i];

		if (p->fixed != NULL)
			reply(s, "%s", p->fixed);
		else
			rcpt_answer(s, p, error != NULL ? NULL : &results[q++], error);
	}
	s->nbatch = s->nbatch_db = 0;
	if (s->quit_after_batch)
		session_quit(s);
}

static void rcpt_resolved(void *ctx, const struct store_rcpt_result *results, unsigned n,
			  const char *error)
{
	struct lmtp_session *s = ctx;

	s->refs--;
	if (s->closed) {
		session_maybe_free(s);
		return;
	}
	rcpt_batch_answer(s, results, error);
	session_resume(s);
}

/* Answers the RCPT commands read so far: at once if none needs the
 * database, else after one round trip for all of them. */
static void rcpt_flush(struct lmtp_session *s)
{
	struct store_rcpt_query q[LMTP_RCPT_BATCH];
	unsigned n = 0;
	const char *err;

	if (s->nbatch_db == 0) {
		rcpt_batch_answer(s, NULL, NULL);
		return;
	}
	for (unsigned i = 0; i < s->nbatch; i++)
		if (s->batch[i].fixed == NULL) {
			q[n].address = s->batch[i].address;
			q[n].base = s->batch[i].base;
			n++;
		}
	if (store_delivery_resolve(worker_db(s->w), q, n, s->mail_size, rcpt_resolved, s, &err) <
	    0) {
		rcpt_batch_answer(s, NULL, err);
		return;
	}
	s->refs++;
	session_wait(s);
}

/* Whether the next complete line in the input is another RCPT command
 * that may join the batch. */
static bool next_is_rcpt(struct lmtp_session *s, struct evbuffer *in)
{
	size_t eol_len = 0;
	struct evbuffer_ptr p;
	char head[5];

	if (s->nbatch >= LMTP_RCPT_BATCH)
		return false;
	p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos < (ev_ssize_t)sizeof(head) ||
	    evbuffer_copyout(in, head, sizeof(head)) != (ev_ssize_t)sizeof(head))
		return false;
	return strncasecmp(head, "RCPT ", sizeof(head)) == 0;
}

static void cmd_rcpt(struct lmtp_session *s, const struct lmtp_command *c)
{
	struct address_parts parts;
	struct rcpt_pending *p;
	char shown[96];
	const char *why;

	if (!s->has_mail) {
		rcpt_fixed(s, "503 5.5.1 MAIL first");
		return;
	}
	if (s->bdat_mode) {
		rcpt_fixed(s, "503 5.5.1 RCPT after BDAT");
		return;
	}
	if (s->nrcpts + s->nbatch_db >= LMTP_MAX_RCPTS) {
		rcpt_fixed(s, "452 4.5.3 Too many recipients");
		return;
	}
	log_sanitize(shown, sizeof(shown), c->path, strlen(c->path));
	if (strcasecmp(c->path, "postmaster") == 0) {
		/* RFC 5321 §4.5.1's domainless form: there is no default
		 * domain in a multi-domain store. */
		rcpt_fixed(s, "550 5.1.1 <%s> User unknown (give a domain)", shown);
		return;
	}
	if (address_parse(c->path, LMTP_DETAIL_DELIMITER, &parts, &why) < 0) {
		rcpt_fixed(s, "553 5.1.3 <%s> Bad recipient address syntax", shown);
		return;
	}
	p = &s->batch[s->nbatch++];
	p->fixed = NULL;
	if (parts.has_detail) {
		p->address = pool_printf(s->tpool, "%s%c%s@%s", parts.local, LMTP_DETAIL_DELIMITER,
					 parts.detail, parts.domain);
		p->base = pool_printf(s->tpool, "%s@%s", parts.local, parts.domain);
	} else {
		p->address = pool_printf(s->tpool, "%s@%s", parts.local, parts.domain);
		p->base = NULL;
	}
	s->nbatch_db++;
}

/* -- delivery ------------------------------------------------------------- */

/* One message on its way to the store. Outlives the session if the client
 * goes away meanwhile (the session is kept until the callbacks ran). */
struct delivery {
	struct lmtp_session *s;
	struct pool *pool; /* the parse results */
	unsigned char *raw;
	size_t raw_len;
	const char *sender;
	const char **vrcpts; /* the owner of each variant */
	unsigned nvariants;
	struct store_delivery_entry *entries;
	unsigned nentries;
	struct lmtp_message msg;
	int ret;
	const char *err;
};

static void delivery_free(struct delivery *d)
{
	pool_destroy(&d->pool);
	free(d->raw);
	free(d->entries);
	free(d->vrcpts);
	free(d);
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void delivered(void *ctx, const struct store_delivery_result *res, unsigned n,
		      const char *error)
{
	struct delivery *d = ctx;
	struct lmtp_session *s = d->s;
	unsigned ok = 0;

	/* Committed: tell the sessions of those INBOXes (IDLE, NOOP) now,
	 * whatever became of this client. */
	for (unsigned i = 0; error == NULL && i < n; i++)
		if (res[i].status == STORE_DELIVERY_OK)
			notify_publish(worker_notify(s->w), d->entries[i].account_id,
				       d->entries[i].mailbox_id);
	s->refs--;
	if (s->closed) {
		if (error == NULL)
			LOG(INFO, s_log(s), "delivered after the client left (%zu octets)",
			    d->raw_len);
		delivery_free(d);
		session_maybe_free(s);
		return;
	}
	if (error != NULL)
		LOG(WARN, s_log(s), "delivery failed: %s", error);
	for (unsigned r = 0; r < s->nrcpts; r++) {
		const struct lmtp_rcpt *rc = &s->rcpts[r];
		enum store_delivery_status worst = STORE_DELIVERY_OK;

		if (error != NULL) {
			reply(s, "451 4.3.0 <%s> Temporary failure, try again later", rc->address);
			continue;
		}
		/* Every account of this recipient, whichever recipient's group
		 * stored it. */
		for (unsigned t = 0; t < rc->ntargets; t++)
			for (unsigned e = 0; e < n; e++)
				if (d->entries[e].account_id == rc->targets[t].account_id &&
				    res[e].status != STORE_DELIVERY_OK)
					worst = res[e].status;
		switch (worst) {
		case STORE_DELIVERY_OK:
			ok++;
			reply(s, "250 2.0.0 <%s> Delivered", rc->address);
			break;
		case STORE_DELIVERY_OVER_QUOTA:
			reply(s, "552 5.2.2 <%s> Mailbox full", rc->address);
			break;
		case STORE_DELIVERY_NOT_FOUND:
			reply(s, "550 5.1.1 <%s> User unknown", rc->address);
			break;
		case STORE_DELIVERY_LIMIT:
			reply(s, "452 4.3.1 <%s> Mailbox cannot take more messages", rc->address);
			break;
		}
	}
	LOG(INFO, s_log(s), "message of %zu octets from <%s>: %u of %u recipients delivered, "
			    "%u account(s), %.1f ms",
	    d->raw_len, d->sender, ok, s->nrcpts, n, elapsed_ms(&s->started));
	delivery_free(d);
	transaction_reset(s);
	session_resume(s);
}

/* Sends the prepared message to the store (loop thread). */
static void delivery_store(struct delivery *d)
{
	struct lmtp_session *s = d->s;
	const char *err;

	if (d->ret < 0) {
		LOG(ERROR, s_log(s), "cannot parse a delivered message: %s", d->err);
		s->refs--;
		if (!s->closed)
			reply_each(s, "451 4.3.0", "Temporary failure, try again later");
	} else if (store_delivery_store(worker_db(s->w), &d->msg, d->entries, d->nentries,
					delivered, d, &err) < 0) {
		LOG(WARN, s_log(s), "delivery: database unavailable: %s", err);
		s->refs--;
		if (!s->closed)
			reply_each(s, "451 4.3.0", "Temporary failure, try again later");
	} else {
		/* The request holds its own copy of every value. */
		pool_destroy(&d->pool);
		free(d->raw);
		d->raw = NULL;
		return;
	}
	delivery_free(d);
	if (s->closed) {
		session_maybe_free(s);
		return;
	}
	transaction_reset(s);
	session_resume(s);
}

/* Parse once (inline or in a pool thread): touches only d. */
static void delivery_prepare(void *arg)
{
	struct delivery *d = arg;

	d->ret = lmtp_message_prepare(d->pool, d->raw, d->raw_len, d->sender, d->vrcpts,
				      d->nvariants, &d->msg, &d->err);
}

static void delivery_prepared(void *arg, bool cancelled)
{
	struct delivery *d = arg;

	if (cancelled) {
		d->ret = -1;
		d->err = "server shutting down";
	}
	delivery_store(d);
}

/* The content is complete and within the limits: store it. */
static void deliver(struct lmtp_session *s)
{
	struct delivery *d = calloc(1, sizeof(*d));
	unsigned max = 0;

	if (d == NULL)
		panic("lmtp: out of memory");
	d->s = s;
	d->sender = s->sender;
	d->raw = lmtp_data_take(s->data, &d->raw_len);
	lmtp_data_destroy(&s->data);
	for (unsigned r = 0; r < s->nrcpts; r++)
		max += s->rcpts[r].ntargets;
	d->entries = calloc(max, sizeof(*d->entries));
	d->vrcpts = calloc(s->nrcpts, sizeof(*d->vrcpts));
	if (d->entries == NULL || d->vrcpts == NULL)
		panic("lmtp: out of memory");
	/* Each account once, owned by the first recipient that names it:
	 * its bytes are stored once, with that recipient's Delivered-To. */
	for (unsigned r = 0; r < s->nrcpts; r++) {
		int variant = -1;

		for (unsigned t = 0; t < s->rcpts[r].ntargets; t++) {
			const struct store_rcpt_target *tg = &s->rcpts[r].targets[t];
			bool seen = false;

			for (unsigned e = 0; e < d->nentries && !seen; e++)
				seen = d->entries[e].account_id == tg->account_id;
			if (seen)
				continue;
			if (variant < 0) {
				variant = (int)d->nvariants;
				d->vrcpts[d->nvariants++] = s->rcpts[r].address;
			}
			d->entries[d->nentries].account_id = tg->account_id;
			d->entries[d->nentries].mailbox_id = tg->mailbox_id;
			d->entries[d->nentries].group = r;
			d->entries[d->nentries].variant = (unsigned)variant;
			d->nentries++;
		}
	}
	d->pool = pool_create(64 * 1024);
	s->refs++;
	session_wait(s);
	if (d->raw_len <= LMTP_INLINE_MAX) {
		delivery_prepare(d);
		delivery_store(d);
		return;
	}
	if (workqueue_submit(worker_workqueue(s->w), delivery_prepare, delivery_prepared, d) < 0) {
		LOG(WARN, s_log(s), "delivery: parse queue full");
		s->refs--;
		delivery_free(d);
		reply_each(s, "451 4.3.2", "System busy, try again later");
		transaction_reset(s);
		session_resume(s);
	}
}

/* The end of DATA or of the last BDAT chunk. */
static void content_done(struct lmtp_session *s)
{
	switch (lmtp_data_status(s->data)) {
	case LMTP_DATA_OK:
		deliver(s);
		return;
	case LMTP_DATA_TOO_BIG:
		LOG(INFO, s_log(s), "message refused: more than %llu octets",
		    (unsigned long long)worker_config(s->w)->max_message_size);
		reply_each(s, "552 5.3.4", "Message too big for system");
		break;
	case LMTP_DATA_HAS_NUL:
		reply_each(s, "554 5.6.0", "Message contains NUL octets");
		break;
	}
	transaction_reset(s);
}

static struct lmtp_data *new_decoder(struct lmtp_session *s, enum lmtp_data_mode mode)
{
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	return lmtp_data_create(mode, (size_t)worker_config(s->w)->max_message_size,
				LMTP_NUL_REPLACE);
}

/* -- DATA and BDAT -------------------------------------------------------- */

static void cmd_data(struct lmtp_session *s)
{
	if (!s->has_mail) {
		reply(s, "503 5.5.1 MAIL first");
		return;
	}
	if (s->bdat_mode) {
		reply(s, "503 5.5.1 DATA after BDAT");
		return;
	}
	/* RFC 2033 §4.2: DATA fails with 503 without an accepted RCPT. */
	if (s->nrcpts == 0) {
		reply(s, "503 5.5.1 No valid recipients");
		return;
	}
	s->data = new_decoder(s, LMTP_DATA_DOT);
	s->recv = RECV_DATA;
	reply(s, "354 Start mail input; end with <CRLF>.<CRLF>");
}

/* RFC 3030 §2: the chunk's octets follow the command line at once and are
 * read whatever the reply will be, so the session stays in step. */
static void cmd_bdat(struct lmtp_session *s, const struct lmtp_command *c)
{
	uint64_t max = worker_config(s->w)->max_message_size;

	s->recv = RECV_BDAT;
	s->bdat_remaining = c->chunk_size;
	s->bdat_last = c->last;
	s->bdat_discard = NULL;
	if (!s->has_mail) {
		s->bdat_discard = "503 5.5.1 MAIL first";
		return;
	}
	s->bdat_mode = true;
	if (s->nrcpts == 0) {
		s->bdat_discard = "503 5.5.1 No valid recipients";
		return;
	}
	if (s->bdat_failed || c->chunk_size > max || s->bdat_total + c->chunk_size > max) {
		s->bdat_failed = true;
		s->bdat_discard = "552 5.3.4 Message too big for system";
		return;
	}
	s->bdat_total += c->chunk_size;
	if (s->data == NULL)
		s->data = new_decoder(s, LMTP_DATA_CHUNK);
}

/* All octets of a chunk have been read. */
static void bdat_done(struct lmtp_session *s)
{
	s->recv = RECV_NONE;
	if (s->bdat_discard != NULL) {
		if (s->bdat_failed && s->bdat_last && s->nrcpts > 0)
			reply_each(s, "552 5.3.4", "Message too big for system");
		else
			reply(s, "%s", s->bdat_discard);
		if (s->bdat_last && s->has_mail)
			transaction_reset(s);
		s->bdat_discard = NULL;
		return;
	}
	if (!s->bdat_last) {
		reply(s, "250 2.0.0 %llu octets received", (unsigned long long)s->bdat_total);
		return;
	}
	lmtp_data_finish(s->data);
	content_done(s);
}

/* -- the other commands --------------------------------------------------- */

static void cmd_lhlo(struct lmtp_session *s)
{
	transaction_reset(s);
	s->lhlo = true;
	reply(s, "250-%s", hostname());
	reply(s, "250-PIPELINING");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250-8BITMIME");
	reply(s, "250-SIZE %llu", (unsigned long long)worker_config(s->w)->max_message_size);
	reply(s, "250 CHUNKING");
}

static void cmd_mail(struct lmtp_session *s, const struct lmtp_command *c)
{
	if (!s->lhlo) {
		reply(s, "503 5.5.1 Say LHLO first");
		return;
	}
	if (s->has_mail) {
		reply(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	/* RFC 1870 §6.3: a declared size over the limit is refused now. */
	if (c->has_size && c->size > worker_config(s->w)->max_message_size) {
		reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	s->has_mail = true;
	s->sender = pool_strdup(s->tpool, c->path);
	s->mail_size = c->size;
	reply(s, "250 2.1.0 Sender OK");
}

static void session_command(struct lmtp_session *s, const char *line, size_t len)
{
	struct lmtp_command c;
	const char *err;

	pool_clear(s->cpool);
	if (lmtp_parse_command(line, len, s->cpool, &c, &err) < 0) {
		bool batched = s->nbatch > 0; /* a RCPT line inside a batch */

		if (batched)
			rcpt_fixed(s, "%s", err);
		else
			reply(s, "%s", err);
		if (++s->bad >= LMTP_MAX_BAD) {
			LOG(INFO, s_log(s), "too many bad commands");
			if (batched) {
				rcpt_fixed(s, "421 4.7.0 %s Too many errors, closing", hostname());
				s->quit_after_batch = true;
			} else {
				reply(s, "421 4.7.0 %s Too many errors, closing", hostname());
				session_quit(s);
			}
		}
		return;
	}
	switch (c.verb) {
	case LMTP_CMD_LHLO:
		cmd_lhlo(s);
		break;
	case LMTP_CMD_MAIL:
		cmd_mail(s, &c);
		break;
	case LMTP_CMD_RCPT:
		cmd_rcpt(s, &c);
		break;
	case LMTP_CMD_DATA:
		cmd_data(s);
		break;
	case LMTP_CMD_BDAT:
		cmd_bdat(s, &c);
		break;
	case LMTP_CMD_RSET:
		transaction_reset(s);
		reply(s, "250 2.0.0 OK");
		break;
	case LMTP_CMD_NOOP:
		reply(s, "250 2.0.0 OK");
		break;
	case LMTP_CMD_VRFY:
		/* RFC 5321 §3.5.3: no verification, but no refusal either. */
		reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt "
			 "delivery");
		break;
	case LMTP_CMD_QUIT:
		reply(s, "221 2.0.0 %s Bye", hostname());
		session_quit(s);
		break;
	}
}

/* -- input ---------------------------------------------------------------- */

/* Feeds the decoder (DATA) or the chunk (BDAT) from the buffered input.
 * Returns false when more input is needed. */
static bool session_content(struct lmtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	size_t used, n;

	if (s->recv == RECV_BDAT && s->bdat_remaining == 0) {
		bdat_done(s);
		return true;
	}
	if (evbuffer_get_length(in) == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return false;
	if (s->recv == RECV_DATA) {
		enum lmtp_data_result r = lmtp_data_feed(s->data, v.iov_base, v.iov_len, &used);

		(void)evbuffer_drain(in, used); /* used <= the buffered length */
		if (r == LMTP_DATA_DONE) {
			s->recv = RECV_NONE;
			content_done(s);
		}
		return true;
	}
	n = v.iov_len < s->bdat_remaining ? v.iov_len : (size_t)s->bdat_remaining;
	if (s->bdat_discard == NULL)
		(void)lmtp_data_feed(s->data, v.iov_base, n, &used); /* chunk mode: takes all */
	(void)evbuffer_drain(in, n);
	s->bdat_remaining -= n;
	return true;
}

/* Discards the rest of an over-long command line. Returns false when more
 * input is needed. */
static bool session_skip(struct lmtp_session *s, struct evbuffer *in)
{
	size_t eol_len = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);

	if (p.pos < 0) {
		(void)evbuffer_drain(in, evbuffer_get_length(in));
		return false;
	}
	(void)evbuffer_drain(in, (size_t)p.pos + eol_len);
	s->skipping = false;
	reply(s, "500 5.5.2 Line too long");
	if (++s->bad >= LMTP_MAX_BAD) {
		reply(s, "421 4.7.0 %s Too many errors, closing", hostname());
		session_quit(s);
	}
	return true;
}

static void session_process(struct lmtp_session *s)
{
	while (!s->closed && !s->quitting && !s->busy) {
		struct evbuffer *in = conn_input(s->conn);
		size_t len;
		char *line;

		if (s->recv != RECV_NONE) {
			if (!session_content(s, in))
				return;
			continue;
		}
		if (s->nbatch > 0 && !next_is_rcpt(s, in)) {
			rcpt_flush(s);
			continue;
		}
		if (conn_output_size(s->conn) > LMTP_OUTPUT_HIGH)
			return; /* resumed by the drained callback */
		if (s->skipping) {
			if (!session_skip(s, in))
				return;
			continue;
		}
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > LMTP_MAX_LINE)
				s->skipping = true;
			else
				return;
			continue;
		}
		if (len > LMTP_MAX_LINE) {
			reply(s, "500 5.5.2 Line too long");
			s->bad++;
		} else {
			session_command(s, line, len);
		}
		free(line);
	}
}

static void on_input(struct conn *conn, void *ctx)
{
	session_process(ctx);
}

static void on_drained(struct conn *conn, void *ctx)
{
	session_process(ctx);
}

static void on_timeout(struct conn *conn, void *ctx)
{
	struct lmtp_session *s = ctx;

	LOG(INFO, s_log(s), "idle timeout%s", s->recv != RECV_NONE ? " during the content" : "");
	reply(s, "421 4.4.2 %s Timeout, closing", hostname());
	session_quit(s);
}

static void on_closed(struct conn *conn, void *ctx)
{
	struct lmtp_session *s = ctx;

	if (s->recv != RECV_NONE)
		LOG(INFO, s_log(s), "client left during the message content: nothing stored");
	else
		LOG(DEBUG, s_log(s), "disconnected");
	s->closed = true;
	worker_session_remove(s->w, &s->link);
	session_maybe_free(s);
}

static void on_shutdown(void *ctx)
{
	struct lmtp_session *s = ctx;

	if (s->busy) {
		/* A message is being stored: answer for it first. */
		s->stop_after = true;
		return;
	}
	reply(s, "421 4.3.2 %s Service shutting down", hostname());
	session_quit(s);
}

static const struct conn_handler lmtp_handler = {
	.input = on_input,
	.drained = on_drained,
	.timeout = on_timeout,
	.closed = on_closed,
};

void lmtp_session_start(struct worker *w, struct conn *conn)
{
	struct lmtp_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		panic("lmtp: out of memory");
	s->w = w;
	s->conn = conn;
	snprintf(s->client, sizeof(s->client), "%s", conn_client(conn));
	s->log.session_id = conn_id(conn);
	s->log.client = s->client;
	s->pool = pool_create(1024);
	s->tpool = pool_create(4096);
	s->cpool = pool_create(1024);
	s->link.shutdown = on_shutdown;
	s->link.ctx = s;
	s->link.ip[0] = '\0'; /* no per-IP accounting for the MTA */
	worker_session_add(w, &s->link);
	conn_set_idle_timeout(conn, LMTP_IDLE_TIMEOUT);
	conn_set_handler(conn, &lmtp_handler, s);
	LOG(DEBUG, s_log(s), "LMTP connection");
	reply(s, "220 %s LMTP Mailstead ready", hostname());
}
