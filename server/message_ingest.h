/* A message entering the store (IMAP APPEND, LMTP delivery): everything the
 * store keeps of it, computed once from the raw bytes (DESIGN.md §3 "Parse
 * once"): SHA-256 (per-account dedup), sizes, the ENVELOPE, BODY and
 * BODYSTRUCTURE strings, the partmap that FETCH uses to find sections,
 * the SEARCH fields, and the cut into chunks.
 *
 * Pure computation: no protocol, no database, no shared state, so it may
 * run in a workqueue thread (a big message costs milliseconds of CPU). The
 * raw bytes are never rewritten: what is stored is what was received. */
#ifndef MAILSTEAD_MESSAGE_INGEST_H
#define MAILSTEAD_MESSAGE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "mime_search.h"
#include "pool.h"

/* Raw bytes are stored in chunks of this size (the last one may be
 * shorter): chunk n holds octets [n * size, (n + 1) * size). FETCH reads
 * only the chunks covering the octets it sends. Changing it would need a
 * migration of every stored message. */
#define MESSAGE_CHUNK_SIZE (256 * 1024)

#define MESSAGE_SHA256_LEN 32

struct message_ingest {
	const unsigned char *data; /* the caller's bytes, not copied */
	size_t size;
	unsigned char sha256[MESSAGE_SHA256_LEN];
	size_t header_size; /* the header with its blank line (if any) */
	size_t body_lines;  /* LF octets in the body */
	/* IMAP strings as they are sent (may hold literals and 8-bit octets:
	 * they are bytes, not text). */
	const char *envelope, *body, *bodystructure;
	size_t envelope_len, body_len, bodystructure_len;
	const unsigned char *partmap; /* partmap.h encoding */
	size_t partmap_len;
	struct mime_search_fields search; /* valid UTF-8, no NUL */
	unsigned nchunks;                 /* ceil(size / MESSAGE_CHUNK_SIZE) */
};

/* Computes everything for the len bytes at data (which must outlive the
 * result; len >= 1). Results are allocated from pool. Returns 0, or -1 with
 * a static *error_r when a writer could not build its string (bounded by
 * the message size, so in practice never). */
int message_ingest(struct pool *pool, const unsigned char *data, size_t len,
                   struct message_ingest *r, const char **error_r);

/* Chunk n of a message of size bytes: offset and length. */
static inline size_t message_chunk_len(size_t size, unsigned n)
{
	size_t off = (size_t)n * MESSAGE_CHUNK_SIZE;

	if (off >= size)
		return 0;
	return size - off < MESSAGE_CHUNK_SIZE ? size - off : MESSAGE_CHUNK_SIZE;
}

#endif
