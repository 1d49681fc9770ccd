/* Store: reading messages for FETCH (RFC 3501 §6.4.5).
 *
 * Two requests, both bounded by the caller: store_fetch_messages reads the
 * stored metadata of a batch of messages (flags, dates, sizes, the ENVELOPE
 * and BODYSTRUCTURE strings, the partmap), optionally after setting \Seen
 * on them in the same transaction; store_fetch_chunks reads only the
 * chunks of raw octets the caller asks for. Nothing is parsed here: the
 * strings were made when the message entered (message_ingest.h). */
#ifndef MAILSTEAD_STORE_FETCH_H
#define MAILSTEAD_STORE_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct store_chunk;
struct store_changes;
struct store_sync;

/* Optional columns of store_fetch_messages (the rest always come). */
#define STORE_FETCH_ENVELOPE      1
#define STORE_FETCH_BODY          2
#define STORE_FETCH_BODYSTRUCTURE 4
#define STORE_FETCH_PARTMAP       8

struct store_fetch_req {
	int64_t account_id, mailbox_id;
	const uint32_t *uids; /* ascending, sent as ranges */
	uint32_t nuids;       /* >= 1 */
	unsigned want;        /* STORE_FETCH_* */
	/* First set \Seen on those that lack it (one new modseq). */
	bool set_seen;
	/* Also the caller's pre-reply sync (store.h), after the read in the
	 * same request: it sees the rows read and everything committed
	 * before them. NULL: none. */
	const struct store_sync *sync;
	/* With nuids == 1: also the message's first chunk of raw octets,
	 * in the same request (what a whole-message FETCH needs next). */
	bool first_chunk;
};

struct store_fetch_msg {
	uint32_t uid;
	int64_t message_id;
	uint32_t flags;       /* STORE_FLAG_* */
	const char *keywords; /* space-separated */
	int64_t internaldate; /* seconds since the epoch */
	uint64_t modseq;
	uint64_t size;
	/* Requested strings (NULL when not asked for); bytes, not text. */
	const char *envelope, *body, *bodystructure;
	size_t envelope_len, body_len, bodystructure_len;
	const unsigned char *partmap;
	size_t partmap_len;
};

struct store_fetch_result {
	/* With set_seen: the modseq given to the rows that got \Seen now (a
	 * row has it when msg->modseq equals it), 0 when none changed. */
	uint64_t seen_modseq;
	const struct store_fetch_msg *msgs; /* the UIDs that still exist, ascending */
	uint32_t n;
	/* With req->sync: what changed in the mailbox (store.h). */
	const struct store_changes *changes;
	/* With req->first_chunk: chunk 0 of the message, or none (gone). */
	const struct store_chunk *chunks;
	uint32_t nchunks;
};

/* r is NULL on failure (error says why). Valid during the call only. */
typedef void store_fetch_cb(void *ctx, const struct store_fetch_result *r, const char *error);

/* Reads the messages of req->uids that still exist (expunged ones are
 * simply missing). Returns 0, or -1 with error_r (cb will not run). */
int store_fetch_messages(struct db *db, const struct store_fetch_req *req, store_fetch_cb *cb,
                         void *ctx, const char **error_r);

/* Chunks first..last (inclusive) of one message. */
struct store_chunk_range {
	int64_t message_id;
	uint32_t first, last;
};

struct store_chunk {
	int64_t message_id;
	uint32_t chunk_no;
	const unsigned char *data;
	size_t len;
};

/* chunks: those found, ordered by (message_id, chunk_no); a message that
 * is gone has none. NULL on failure (error says why). The octets are valid
 * during the call only. */
typedef void store_chunks_cb(void *ctx, const struct store_chunk *chunks, uint32_t n,
                             const char *error);

/* Reads the chunks in ranges (n >= 1; the ranges of one message must not
 * overlap) of messages of account_id. Returns 0, or -1 with error_r. */
int store_fetch_chunks(struct db *db, int64_t account_id, const struct store_chunk_range *ranges,
                       unsigned n, store_chunks_cb *cb, void *ctx, const char **error_r);

#endif
