/* FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8, responses §7.4.2).
 *
 * Nothing is parsed here: ENVELOPE, BODY and BODYSTRUCTURE are sent as
 * stored, and sections are found through the stored partmap. The work is
 * bounded at every step, however large the set or the messages:
 *
 *   batch   up to FETCH_BATCH_MSGS messages (fewer when their ENVELOPE and
 *           BODYSTRUCTURE strings are big: the batch size adapts so that a
 *           batch holds about FETCH_BATCH_TEXT octets of them): one store
 *           request reads their
 *           metadata (after setting \Seen where a non-PEEK section asks for
 *           it, in the same transaction) and turns them into a list of
 *           pieces: response text, and ranges of raw octets to send;
 *   load    one store request reads the chunks covering the next ranges,
 *           up to FETCH_LOAD_CHUNKS chunks; the octets are written from
 *           the callback (never kept), so a 20 MB BODY[] streams through
 *           in 4 MiB steps;
 *   drain   when the client has more than IMAP_SESSION_OUTPUT_HIGH unread,
 *           the command waits for the output to drain before the next
 *           load or batch.
 *
 * Messages expunged by another session are simply left out (§7.4.1 allows
 * it; their rows are gone). If a message's octets vanish in the middle of a
 * literal already announced, the only correct thing left is to drop the
 * connection: never send octets that are not the message's. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fetch_parse.h"
#include "imap_cmd.h"
#include "imap_flags.h"
#include "log.h"
#include "mailbox_view.h"
#include "message_ingest.h"
#include "mime_header.h"
#include "partmap.h"
#include "pool.h"
#include "seqset.h"
#include "store.h"
#include "store_fetch.h"

#define FETCH_BATCH_MSGS  500
#define FETCH_BATCH_FIRST 100 /* when structure strings are asked for */
/* Metadata only (UID, FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ): ~60
 * octets of response per message and one mailbox_messages row, so a batch
 * is large: FETCH 1:* of 100,000 messages in 10 round trips, not 200. */
#define FETCH_BATCH_META 10000
#define FETCH_BATCH_TEXT  (4 * 1024 * 1024)
#define FETCH_LOAD_CHUNKS 16 /* 4 MiB of 256 KiB chunks per round trip */
#define FETCH_LOAD_RANGES 256

enum piece_kind {
	PIECE_TEXT,   /* text: response syntax and stored strings */
	PIECE_RAW,    /* octets [off, off + len) of the message */
	PIECE_FILTER, /* HEADER.FIELDS[.NOT] of the header at [off, off + len) */
};

struct piece {
	enum piece_kind kind;
	uint32_t msg; /* index in the batch */
	const char *text;
	size_t off, len;
	const struct fetch_item *item; /* PIECE_FILTER */
};

struct out_msg {
	int64_t message_id;
	uint32_t first, end; /* its pieces */
	int64_t first_body;  /* index of its first RAW/FILTER piece, -1 */
	bool started;        /* some of it was written */
};

struct fetch_ctx {
	struct imap_cmd *cmd;
	struct fetch_request req;
	struct fetch_modifiers mods; /* RFC 7162 CHANGEDSINCE, VANISHED */
	struct seqset *vanished_set; /* the UID set as given, for VANISHED */
	uint32_t *uids;
	uint32_t nuids, next;
	bool set_seen;
	/* The pre-reply sync rode in the last batch's request; its answer,
	 * kept until the responses are out (NULL: not read). */
	bool sync_asked;
	const struct store_changes *changes;
	bool chunk_asked; /* the batch's request reads its first chunk too */
	/* The current batch. */
	struct pool *bpool;
	struct out_msg *msgs;
	uint32_t nmsgs;
	struct piece *pieces;
	uint32_t npieces, cap;
	uint32_t batch;    /* messages per batch, adapted to their size */
	uint32_t batch_max;
	uint32_t last_seq; /* of the last message added, a hint */
	size_t batch_text; /* octets of text pieces in this batch */
	struct buf text;
	/* Write position: piece pi, octet po within it. */
	uint32_t pi;
	size_t po;
	/* The chunks asked for by the load in flight or just arrived. */
	struct store_chunk_range plan[FETCH_LOAD_RANGES];
	unsigned nplan;
};

static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void fetch_continue(struct fetch_ctx *x);

/* -- ending ---------------------------------------------------------------- */

static void fetch_free(struct fetch_ctx *x)
{
	free(x->pieces);
	x->pieces = NULL;
	free(x->msgs);
	x->msgs = NULL;
	buf_free(&x->text);
	if (x->bpool != NULL)
		pool_destroy(&x->bpool);
	x->cmd->drained_fn = NULL;
}

/* Ends the sync that rode in a batch's request, if one did: with the
 * answer after every FETCH response (the flags they carry are no newer
 * than it), or without one (failure: imap_cmd_finish asks on its own). */
static void fetch_sync_end(struct fetch_ctx *x, const struct store_changes *c)
{
	if (!x->sync_asked)
		return;
	x->sync_asked = false;
	mailbox_view_sync_apply(x->cmd->s, x->cmd, c);
}

static void fetch_ok(struct fetch_ctx *x)
{
	fetch_free(x);
	fetch_sync_end(x, x->changes);
	imap_cmd_finish(x->cmd, IMAP_OK, "%s completed", x->cmd->uid ? "UID FETCH" : "FETCH");
}

static void fetch_gone(struct fetch_ctx *x)
{
	fetch_free(x);
	fetch_sync_end(x, NULL);
	imap_cmd_finish(x->cmd, IMAP_NO, "Gone");
}

static void fetch_fail(struct fetch_ctx *x, const char *error)
{
	fetch_free(x);
	fetch_sync_end(x, NULL);
	imap_cmd_fail(x->cmd, error);
}

/* Appends v in decimal: the metadata of FETCH 1:* is mostly numbers, and
 * printf was a third of the worker's time formatting 100,000 lines. */
static void append_uint(struct buf *b, uint64_t v)
{
	char tmp[20];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	(void)buf_append(b, tmp + n, sizeof(tmp) - n);
}

/* True when no item needs more than the mailbox_messages row. */
static bool fetch_meta_only(const struct fetch_request *req)
{
	if (req->need_envelope || req->need_body || req->need_bodystructure || req->need_partmap)
		return false;
	for (unsigned i = 0; i < req->nitems; i++)
		if (req->items[i].att == FETCH_ATT_SECTION)
			return false;
	return true;
}

/* -- building a batch's pieces ------------------------------------------------ */

static struct piece *piece_add(struct fetch_ctx *x, enum piece_kind kind, uint32_t msg)
{
	struct piece *p;

	if (x->npieces == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 256;
		x->pieces = realloc(x->pieces, x->cap * sizeof(*x->pieces));
		if (x->pieces == NULL)
			panic("fetch: out of memory");
	}
	p = &x->pieces[x->npieces++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->msg = msg;
	return p;
}

/* Turns the text gathered so far into a piece. */
static void text_flush(struct fetch_ctx *x, uint32_t msg)
{
	struct piece *p;

	if (x->text.len == 0)
		return;
	p = piece_add(x, PIECE_TEXT, msg);
	p->text = pool_memdup(x->bpool, x->text.data, x->text.len);
	p->len = x->text.len;
	x->batch_text += x->text.len;
	buf_reset(&x->text);
}

static void format_internaldate(struct buf *b, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	/* Stored as an instant (timestamptz): the client's zone is not kept,
	 * so it is given in UTC, which names the same instant. */
	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	(void)buf_printf(b, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
	                 month_names[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec);
}

/* Adds one section item of message m (index mi). Returns 0 or -1 with
 * error_r when the stored partmap is unusable. */
static int add_section(struct fetch_ctx *x, uint32_t mi, const struct store_fetch_msg *m,
                       const struct partmap *map, const struct fetch_item *it, const char **error_r)
{
	struct partmap_section sec;
	size_t off = 0, len = (size_t)m->size;
	struct piece *p;
	int r = 1;

	(void)buf_printf(&x->text, "%s ", it->name);
	memset(&sec, 0, sizeof(sec));
	if (it->section[0] != '\0') {
		r = partmap_find(map, it->section, &sec);
		if (r < 0) {
			*error_r = "partmap refused a valid section";
			return -1;
		}
		off = sec.off;
		len = sec.len;
	}
	if (r == 0) {
		/* A part that does not exist: an empty string, as for an
		 * origin past the end (the client asked for a number that
		 * the BODYSTRUCTURE does not have). */
		(void)buf_append_str(&x->text, "\"\"");
		return 0;
	}
	if (sec.filter != PARTMAP_FILTER_NONE) {
		/* Its length is known only once filtered: written whole by
		 * the load that brings the header. */
		text_flush(x, mi);
		p = piece_add(x, PIECE_FILTER, mi);
		p->off = off;
		p->len = len;
		p->item = it;
		return 0;
	}
	if (it->partial) {
		if (it->origin >= len) {
			len = 0;
		} else {
			off += it->origin;
			len -= it->origin;
			if (len > it->count)
				len = it->count;
		}
	}
	if (len == 0) {
		(void)buf_append_str(&x->text, "\"\"");
		return 0;
	}
	(void)buf_printf(&x->text, "{%zu}\r\n", len);
	text_flush(x, mi);
	p = piece_add(x, PIECE_RAW, mi);
	p->off = off;
	p->len = len;
	return 0;
}

/* Adds the pieces of one message's FETCH response. */
static int add_message(struct fetch_ctx *x, const struct store_fetch_msg *m, uint64_t seen_modseq,
                       const char **error_r)
{
	struct imap_session *s = x->cmd->s;
	struct mailbox_view *v = s->view;
	struct partmap *map = NULL;
	struct out_msg *om;
	uint32_t seq, mi;
	bool flags_sent = false, uid_sent = false, modseq_sent = false;

	/* Ascending UIDs, mostly one after the other in the view: the next
	 * sequence number is usually the one after the last. */
	seq = mailbox_view_uid(v, x->last_seq + 1) == m->uid ? x->last_seq + 1
							      : mailbox_view_seq(v, m->uid);
	if (seq == 0)
		return 0; /* not in the view (cannot happen: ranges come from it) */
	x->last_seq = seq;
	if (x->req.need_partmap) {
		if (m->partmap == NULL ||
		    partmap_decode(x->bpool, m->partmap, m->partmap_len, &map, error_r) < 0)
			return -1;
		if (partmap_message_size(map) != m->size) {
			*error_r = "partmap does not match the message size";
			return -1;
		}
	}
	mi = x->nmsgs++;
	om = &x->msgs[mi];
	memset(om, 0, sizeof(*om));
	om->message_id = m->message_id;
	om->first = x->npieces;
	om->first_body = -1;
	(void)buf_append(&x->text, "* ", 2);
	append_uint(&x->text, seq);
	(void)buf_append(&x->text, " FETCH (", 8);
	for (unsigned i = 0; i < x->req.nitems; i++) {
		const struct fetch_item *it = &x->req.items[i];

		if (i > 0)
			(void)buf_append(&x->text, " ", 1);
		switch (it->att) {
		case FETCH_ATT_UID:
			(void)buf_append(&x->text, "UID ", 4);
			append_uint(&x->text, m->uid);
			uid_sent = true;
			break;
		case FETCH_ATT_MODSEQ:
			(void)buf_append(&x->text, "MODSEQ (", 8);
			append_uint(&x->text, m->modseq);
			(void)buf_append(&x->text, ")", 1);
			modseq_sent = true;
			break;
		case FETCH_ATT_FLAGS:
			(void)buf_append_str(&x->text, "FLAGS ");
			(void)imap_flags_format(&x->text, m->flags, m->keywords,
			                        mailbox_view_is_recent(v, m->uid));
			flags_sent = true;
			break;
		case FETCH_ATT_INTERNALDATE:
			(void)buf_append_str(&x->text, "INTERNALDATE ");
			format_internaldate(&x->text, m->internaldate);
			break;
		case FETCH_ATT_RFC822_SIZE:
			(void)buf_append(&x->text, "RFC822.SIZE ", 12);
			append_uint(&x->text, m->size);
			break;
		case FETCH_ATT_ENVELOPE:
			(void)buf_append_str(&x->text, "ENVELOPE ");
			(void)buf_append(&x->text, m->envelope, m->envelope_len);
			break;
		case FETCH_ATT_BODY:
			(void)buf_append_str(&x->text, "BODY ");
			(void)buf_append(&x->text, m->body, m->body_len);
			break;
		case FETCH_ATT_BODYSTRUCTURE:
			(void)buf_append_str(&x->text, "BODYSTRUCTURE ");
			(void)buf_append(&x->text, m->bodystructure, m->bodystructure_len);
			break;
		case FETCH_ATT_SECTION:
			if (add_section(x, mi, m, map, it, error_r) < 0)
				return -1;
			break;
		}
	}
	if (seen_modseq != 0 && m->modseq == seen_modseq) {
		/* \Seen was set implicitly: the new flags go with the
		 * response (§6.4.5). */
		if (!flags_sent) {
			(void)buf_append_str(&x->text, " FLAGS ");
			(void)imap_flags_format(&x->text, m->flags, m->keywords,
			                        mailbox_view_is_recent(v, m->uid));
		}
		/* RFC 7162 §3.1, §3.2.4: once CONDSTORE is on, a flag change
		 * comes with the UID and the new mod-sequence. */
		if (s->enabled & IMAP_ENABLE_CONDSTORE) {
			if (!uid_sent)
				(void)buf_printf(&x->text, " UID %u", m->uid);
			if (!modseq_sent)
				(void)buf_printf(&x->text, " MODSEQ (%llu)",
				                 (unsigned long long)m->modseq);
		}
	}
	(void)buf_append_str(&x->text, ")\r\n");
	text_flush(x, mi);
	om->end = x->npieces;
	/* A zero-length header to filter needs no octets. */
	for (uint32_t p = om->first; p < om->end; p++)
		if (x->pieces[p].kind != PIECE_TEXT && x->pieces[p].len > 0) {
			om->first_body = p;
			break;
		}
	return 0;
}

/* -- writing -------------------------------------------------------------------- */

/* The loaded chunk (message_id, no), or NULL. chunks are ordered. */
static const struct store_chunk *chunk_find(const struct store_chunk *chunks, uint32_t n,
                                            int64_t mid, uint32_t no)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t k = lo + (hi - lo) / 2;
		const struct store_chunk *c = &chunks[k];
		if (c->message_id == mid && c->chunk_no == no)
			return c;
		if (c->message_id < mid || (c->message_id == mid && c->chunk_no < no))
			lo = k + 1;
		else
			hi = k;
	}
	return NULL;
}

/* True when the load in flight or just done asked for the chunk. */
static bool chunk_planned(const struct fetch_ctx *x, int64_t mid, uint32_t no)
{
	for (unsigned i = 0; i < x->nplan; i++)
		if (x->plan[i].message_id == mid && no >= x->plan[i].first && no <= x->plan[i].last)
			return true;
	return false;
}

enum write_result {
	WRITE_DONE,  /* every piece of the batch is written */
	WRITE_LOAD,  /* the next piece needs chunks not loaded */
	WRITE_DRAIN, /* stopped at a message boundary: too much output queued */
	WRITE_LOST,  /* octets of a message already started are gone */
};

/* A chunk the next octets need: the chunk if loaded; else NULL with *lost
 * set when the load asked for it and it did not come (the message is
 * gone). */
static const struct store_chunk *need_chunk(const struct fetch_ctx *x,
                                            const struct store_chunk *chunks, uint32_t n,
                                            int64_t mid, uint32_t no, bool *lost)
{
	const struct store_chunk *c = chunk_find(chunks, n, mid, no);

	*lost = c == NULL && chunk_planned(x, mid, no);
	return c;
}

/* Writes a HEADER.FIELDS piece if its whole header is loaded. */
static enum write_result write_filter(struct fetch_ctx *x, const struct piece *p,
                                      const struct store_chunk *chunks, uint32_t n)
{
	struct imap_session *s = x->cmd->s;
	const struct out_msg *om = &x->msgs[p->msg];
	uint32_t c0 = (uint32_t)(p->off / MESSAGE_CHUNK_SIZE);
	uint32_t c1 = (uint32_t)((p->off + p->len - 1) / MESSAGE_CHUNK_SIZE);
	const struct fetch_item *it = p->item;
	unsigned char *hdr, *out;
	size_t outlen, off = 0, len;
	struct pool *tmp;
	char lit[32];
	bool lost;

	if (p->len == 0) {
		hdr = NULL;
	} else {
		hdr = malloc(p->len);
		if (hdr == NULL)
			panic("fetch: out of memory");
		for (uint32_t c = c0; c <= c1; c++) {
			const struct store_chunk *ch =
			    need_chunk(x, chunks, n, om->message_id, c, &lost);
			size_t from = c == c0 ? p->off - (size_t)c0 * MESSAGE_CHUNK_SIZE : 0;
			size_t take;

			if (ch == NULL || from >= ch->len) {
				free(hdr);
				return ch != NULL || lost ? WRITE_LOST : WRITE_LOAD;
			}
			take = ch->len - from;
			if (take > p->len - off)
				take = p->len - off;
			memcpy(hdr + off, ch->data + from, take);
			off += take;
		}
		if (off != p->len) {
			free(hdr);
			return WRITE_LOST;
		}
	}
	tmp = pool_create(0);
	mime_header_filter(tmp, hdr, p->len, it->fields, it->nfields, it->fields_not, &out,
	                   &outlen);
	free(hdr);
	off = 0;
	len = outlen;
	if (it->partial) {
		if (it->origin >= len) {
			len = 0;
		} else {
			off = it->origin;
			len -= it->origin;
			if (len > it->count)
				len = it->count;
		}
	}
	if (len == 0) {
		imap_write(s, "\"\"", 2);
	} else {
		int l = snprintf(lit, sizeof(lit), "{%zu}\r\n", len);
		imap_write(s, lit, (size_t)l);
		imap_write(s, out + off, len);
	}
	pool_destroy(&tmp);
	return WRITE_DONE;
}

/* Writes pieces from the current position as far as the loaded chunks
 * (none when chunks is NULL) allow. */
static enum write_result write_pieces(struct fetch_ctx *x, const struct store_chunk *chunks,
                                      uint32_t n)
{
	struct imap_session *s = x->cmd->s;

	while (x->pi < x->npieces) {
		const struct piece *p = &x->pieces[x->pi];
		struct out_msg *om = &x->msgs[p->msg];
		bool lost;

		if (!om->started) {
			/* A message starts only when its octets are at hand,
			 * so one that is gone is left out whole. */
			if (chunks == NULL &&
			    imap_session_output_size(s) > IMAP_SESSION_OUTPUT_HIGH)
				return WRITE_DRAIN;
			if (om->first_body >= 0) {
				const struct piece *b = &x->pieces[om->first_body];
				uint32_t c = (uint32_t)(b->off / MESSAGE_CHUNK_SIZE);

				if (need_chunk(x, chunks, n, om->message_id, c, &lost) == NULL) {
					if (!lost)
						return WRITE_LOAD;
					x->pi = om->end; /* expunged meanwhile */
					x->po = 0;
					continue;
				}
			}
			om->started = true;
		}
		switch (p->kind) {
		case PIECE_TEXT:
			imap_write(s, p->text, p->len);
			break;
		case PIECE_RAW:
			while (x->po < p->len) {
				size_t pos = p->off + x->po;
				uint32_t c = (uint32_t)(pos / MESSAGE_CHUNK_SIZE);
				size_t from = pos - (size_t)c * MESSAGE_CHUNK_SIZE, take;
				const struct store_chunk *ch =
				    need_chunk(x, chunks, n, om->message_id, c, &lost);

				if (ch == NULL)
					return lost ? WRITE_LOST : WRITE_LOAD;
				if (from >= ch->len)
					return WRITE_LOST; /* shorter than the message says */
				take = ch->len - from;
				if (take > p->len - x->po)
					take = p->len - x->po;
				imap_write(s, ch->data + from, take);
				x->po += take;
			}
			break;
		case PIECE_FILTER: {
			enum write_result r = write_filter(x, p, chunks, n);
			if (r != WRITE_DONE)
				return r;
			break;
		}
		}
		x->pi++;
		x->po = 0;
	}
	return WRITE_DONE;
}

/* -- loading ---------------------------------------------------------------------- */

static int range_cmp(const void *a, const void *b)
{
	const struct store_chunk_range *x = a, *y = b;

	if (x->message_id != y->message_id)
		return x->message_id < y->message_id ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first ? 1 : 0;
}

/* Plans the next load from the write position: the chunks of the pieces
 * ahead, up to FETCH_LOAD_CHUNKS (a header to filter is taken whole). */
static void plan_load(struct fetch_ctx *x)
{
	unsigned budget = FETCH_LOAD_CHUNKS, n = 0;

	for (uint32_t i = x->pi; i < x->npieces && n < FETCH_LOAD_RANGES && budget > 0; i++) {
		const struct piece *p = &x->pieces[i];
		size_t start, end;
		uint32_t c0, c1;

		if (p->kind == PIECE_TEXT || p->len == 0)
			continue;
		start = p->off + (i == x->pi && p->kind == PIECE_RAW ? x->po : 0);
		end = p->off + p->len;
		c0 = (uint32_t)(start / MESSAGE_CHUNK_SIZE);
		c1 = (uint32_t)((end - 1) / MESSAGE_CHUNK_SIZE);
		if (c1 - c0 + 1 > budget) {
			if (p->kind == PIECE_FILTER && n > 0)
				break; /* next time, whole */
			if (p->kind == PIECE_RAW)
				c1 = c0 + budget - 1;
		}
		x->plan[n].message_id = x->msgs[p->msg].message_id;
		x->plan[n].first = c0;
		x->plan[n].last = c1;
		n++;
		budget = c1 - c0 + 1 >= budget ? 0 : budget - (c1 - c0 + 1);
	}
	/* One range per run of chunks: the ranges of a message must not
	 * overlap (BODY[TEXT] and BODY[1] share chunks). */
	qsort(x->plan, n, sizeof(x->plan[0]), range_cmp);
	x->nplan = 0;
	for (unsigned i = 0; i < n; i++) {
		struct store_chunk_range *last = x->nplan ? &x->plan[x->nplan - 1] : NULL;
		if (last != NULL && last->message_id == x->plan[i].message_id &&
		    x->plan[i].first <= last->last + 1) {
			if (x->plan[i].last > last->last)
				last->last = x->plan[i].last;
		} else {
			x->plan[x->nplan++] = x->plan[i];
		}
	}
}

/* Writes what the chunks of the plan allow. Returns false when the command
 * ended (a message vanished in the middle of its literal). */
static bool write_loaded(struct fetch_ctx *x, const struct store_chunk *chunks, uint32_t n)
{
	struct imap_session *s = x->cmd->s;

	if (write_pieces(x, chunks, n) == WRITE_LOST) {
		/* Part of a literal is out and the rest cannot be had: the
		 * response cannot be completed correctly. */
		LOG(WARN, s_log(s), "FETCH: message %lld vanished while being sent",
		    (long long)x->msgs[x->pieces[x->pi].msg].message_id);
		imap_session_abort(s, "message vanished during FETCH");
		fetch_gone(x);
		return false;
	}
	x->nplan = 0;
	return true;
}

static void chunks_loaded(void *ctx, const struct store_chunk *chunks, uint32_t n,
                          const char *error)
{
	struct fetch_ctx *x = ctx;
	struct imap_session *s = x->cmd->s;

	if (chunks == NULL) {
		fetch_fail(x, error);
		return;
	}
	if (imap_session_gone(s)) {
		fetch_gone(x);
		return;
	}
	if (write_loaded(x, chunks, n))
		fetch_continue(x);
}

/* -- batches ------------------------------------------------------------------------ */

static void batch_loaded(void *ctx, const struct store_fetch_result *r, const char *error)
{
	struct fetch_ctx *x = ctx;
	struct imap_session *s = x->cmd->s;
	const char *err;

	if (r == NULL) {
		fetch_fail(x, error);
		return;
	}
	if (r->seen_modseq != 0) {
		/* Committed: others learn of it; this session reports the
		 * flags in the responses below, so its sync skips them. */
		imap_session_publish_change(s, mailbox_view_id(s->view));
		mailbox_view_own_modseq(s->view, r->seen_modseq);
	}
	if (r->changes != NULL)
		x->changes = mailbox_view_changes_copy(x->cmd->pool, r->changes);
	if (imap_session_gone(s)) {
		fetch_gone(x);
		return;
	}
	x->msgs = realloc(x->msgs, (r->n ? r->n : 1) * sizeof(*x->msgs));
	if (x->msgs == NULL)
		panic("fetch: out of memory");
	for (uint32_t i = 0; i < r->n; i++) {
		if (add_message(x, &r->msgs[i], r->seen_modseq, &err) < 0) {
			LOG(ERROR, s_log(s), "FETCH: stored data of UID %u unusable: %s",
			    r->msgs[i].uid, err);
			fetch_fail(x, err);
			return;
		}
	}
	/* The next batch holds about FETCH_BATCH_TEXT octets of text, if
	 * these messages were typical. */
	if (x->batch_text > FETCH_BATCH_TEXT) {
		uint64_t b = (uint64_t)x->batch * FETCH_BATCH_TEXT / x->batch_text;
		x->batch = b > 0 ? (uint32_t)b : 1;
	} else if (x->batch_text < FETCH_BATCH_TEXT / 4 && x->batch < x->batch_max) {
		x->batch = x->batch * 2 < x->batch_max ? x->batch * 2 : x->batch_max;
	}
	if (x->chunk_asked) {
		/* The first chunk came with the batch: written as a load of
		 * that chunk would have been (its absence means the message
		 * is gone; further chunks are loaded as usual). */
		x->chunk_asked = false;
		if (x->nmsgs == 1) {
			x->plan[0].message_id = x->msgs[0].message_id;
			x->plan[0].first = 0;
			x->plan[0].last = 0;
			x->nplan = 1;
			if (!write_loaded(x, r->chunks, r->nchunks))
				return;
		}
	}
	fetch_continue(x);
}

static void batch_start(struct fetch_ctx *x)
{
	struct imap_session *s = x->cmd->s;
	struct store_fetch_req req;
	struct store_sync sync;
	uint32_t n = x->nuids - x->next;
	const char *err;

	if (n > x->batch)
		n = x->batch;
	pool_clear(x->bpool);
	x->nmsgs = 0;
	x->npieces = 0;
	x->batch_text = 0;
	x->pi = 0;
	x->po = 0;
	x->nplan = 0;
	memset(&req, 0, sizeof(req));
	req.account_id = s->account_id;
	req.mailbox_id = mailbox_view_id(s->view);
	req.uids = x->uids + x->next;
	req.nuids = n;
	req.want = (x->req.need_envelope ? STORE_FETCH_ENVELOPE : 0) |
	           (x->req.need_body ? STORE_FETCH_BODY : 0) |
	           (x->req.need_bodystructure ? STORE_FETCH_BODYSTRUCTURE : 0) |
	           (x->req.need_partmap ? STORE_FETCH_PARTMAP : 0);
	req.set_seen = x->set_seen;
	/* One message wanted whole (the usual BODY.PEEK[] of a client
	 * opening a message): its first chunk comes in the same request. */
	x->chunk_asked = req.first_chunk = n == 1 && x->req.has_sections && !x->req.need_partmap;
	x->next += n;
	/* The last batch carries the pre-reply sync, after its read (one
	 * round trip less); earlier batches would read it too early. */
	if (x->next == x->nuids && !x->sync_asked && mailbox_view_sync_args(s, &sync)) {
		req.sync = &sync;
		x->sync_asked = true;
	}
	if (store_fetch_messages(worker_db(s->w), &req, batch_loaded, x, &err) < 0)
		fetch_fail(x, err); /* ends the sync too */
}

static void on_drained(struct imap_cmd *cmd)
{
	fetch_continue(cmd->ctx);
}

/* Goes on from wherever the command stands: write, load, next batch, or
 * wait for the client to read. */
static void fetch_continue(struct fetch_ctx *x)
{
	struct imap_cmd *cmd = x->cmd;
	struct imap_session *s = cmd->s;
	enum write_result r;
	const char *err;

	cmd->drained_fn = NULL;
	if (imap_session_gone(s)) {
		fetch_gone(x);
		return;
	}
	r = write_pieces(x, NULL, 0);
	if (r == WRITE_DONE && x->next == x->nuids) {
		fetch_ok(x);
		return;
	}
	if (imap_session_output_size(s) > IMAP_SESSION_OUTPUT_HIGH) {
		cmd->drained_fn = on_drained;
		return;
	}
	if (r == WRITE_DONE) {
		batch_start(x);
		return;
	}
	plan_load(x);
	if (x->nplan == 0) {
		/* write_pieces wants octets that no piece ahead needs. */
		fetch_fail(x, "FETCH: nothing to load");
		return;
	}
	if (store_fetch_chunks(worker_db(s->w), s->account_id, x->plan, x->nplan, chunks_loaded, x,
	                       &err) < 0)
		fetch_fail(x, err);
}

/* CHANGEDSINCE (RFC 7162 §3.1.4.1), VANISHED (§3.2.6): reports the UIDs of
 * the set expunged since the mod-sequence, then keeps only the messages
 * changed since it. */
static void since_loaded(void *ctx, const struct store_since *c, const char *error)
{
	struct fetch_ctx *x = ctx;
	struct imap_session *s = x->cmd->s;
	struct mailbox_view *v = s->view;
	uint32_t n = 0, j = 0;

	if (c == NULL) {
		fetch_fail(x, error);
		return;
	}
	if (imap_session_gone(s)) {
		fetch_gone(x);
		return;
	}
	if (x->mods.vanished) {
		struct seqset *out = seqset_create(x->cmd->pool);
		struct buf b;

		seqset_resolve_star(x->vanished_set, UINT32_MAX);
		if (c->horizon > x->mods.since) {
			/* Expunges after the modseq may have been pruned: every
			 * UID of the set that no longer exists (§3.2.6). */
			mailbox_view_missing(v, x->vanished_set, out);
		} else {
			/* Expunged, and already reported as such to this
			 * session (one it still holds is announced by the
			 * sync that ends the command). */
			for (uint32_t i = 0; i < c->nexpunged; i++)
				if (seqset_contains(x->vanished_set, c->expunged[i]) &&
				    mailbox_view_seq(v, c->expunged[i]) == 0)
					seqset_add_range(out, c->expunged[i], c->expunged[i]);
		}
		/* Before any FETCH response (§3.2.6). */
		buf_init(&b, 0);
		(void)seqset_to_string(&b, out);
		if (b.len > 0)
			imap_untagged(s, "VANISHED (EARLIER) %s", b.data);
		buf_free(&b);
	}
	/* Both ascending: keep the UIDs of the set that changed. */
	for (uint32_t i = 0; i < x->nuids; i++) {
		while (j < c->nchanged && c->changed[j].uid < x->uids[i])
			j++;
		if (j < c->nchanged && c->changed[j].uid == x->uids[i])
			x->uids[n++] = x->uids[i];
	}
	x->nuids = n;
	if (n == 0) {
		fetch_ok(x);
		return;
	}
	batch_start(x);
}

void cmd_fetch(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct fetch_ctx *x;
	struct seqset *set;
	const char *err;

	if (cmd->argc != 2 && cmd->argc != 3) {
		imap_cmd_finish(cmd, IMAP_BAD, "FETCH needs a sequence set and items");
		return;
	}
	x = pool_alloc(cmd->pool, sizeof(*x));
	x->cmd = cmd;
	if (cmd->argc == 3) {
		if (fetch_parse_modifiers(&cmd->args[2], cmd->uid, &x->mods, &err) < 0) {
			imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
			return;
		}
		if (x->mods.vanished && !(s->enabled & IMAP_ENABLE_QRESYNC)) {
			/* RFC 7162 §3.2.3 */
			imap_cmd_finish(cmd, IMAP_BAD, "VANISHED needs ENABLE QRESYNC first");
			return;
		}
		/* The set once more, '*' left open: a UID expunged above the
		 * highest one left is still reported as vanished. */
		if (x->mods.vanished && (cmd->args[0].type != IMAP_ARG_ATOM ||
		                         seqset_parse(cmd->pool, cmd->args[0].str,
		                                      &x->vanished_set, &err) < 0)) {
			imap_cmd_finish(cmd, IMAP_BAD, "Invalid sequence set");
			return;
		}
	}
	if (cmd->args[0].type != IMAP_ARG_ATOM ||
	    seqset_parse(cmd->pool, cmd->args[0].str, &set, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "Invalid sequence set");
		return;
	}
	if (fetch_parse(cmd->pool, &cmd->args[1], cmd->uid, &x->req, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (x->mods.changedsince)
		fetch_request_want_modseq(&x->req);
	for (unsigned i = 0; i < x->req.nitems; i++)
		if (x->req.items[i].att == FETCH_ATT_MODSEQ)
			imap_condstore_enable(s); /* RFC 7162 §3.1 */
	if (mailbox_view_resolve(s->view, set, cmd->uid, cmd->pool, &x->uids, &x->nuids, &err) <
	    0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (x->nuids == 0 && !x->mods.vanished) {
		imap_cmd_finish(cmd, IMAP_OK, "%s completed", cmd->uid ? "UID FETCH" : "FETCH");
		return;
	}
	/* EXAMINE: nothing changes, not even \Seen (§6.3.2). */
	x->set_seen = x->req.set_seen && !mailbox_view_readonly(s->view);
	x->batch_max = fetch_meta_only(&x->req) ? FETCH_BATCH_META : FETCH_BATCH_MSGS;
	x->batch = x->req.need_envelope || x->req.need_body || x->req.need_bodystructure
	               ? FETCH_BATCH_FIRST
	               : x->batch_max;
	x->bpool = pool_create(64 * 1024);
	buf_init(&x->text, 0);
	cmd->ctx = x;
	if (x->mods.changedsince) {
		/* One indexed query narrows the set to the changed messages
		 * (and finds the vanished ones) before any batch. */
		if (store_mailbox_since(worker_db(s->w), s->account_id, mailbox_view_id(s->view),
		                        x->mods.since, mailbox_view_modseq(s->view),
		                        mailbox_view_max_uid(s->view), x->nuids > 0, x->mods.vanished,
		                        since_loaded, x, &err) < 0)
			fetch_fail(x, err);
		return;
	}
	batch_start(x);
}
