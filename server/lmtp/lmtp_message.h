/* A delivered message as stored for each account: the received octets with
 * a trace block in front (RFC 5321 §4.4: Return-Path; Delivered-To as
 * Postfix and Dovecot write it), parsed once.
 *
 * The trace block differs per recipient (Delivered-To names the address
 * the message was delivered to, +detail included), so the stored messages
 * differ; but only in their first lines. The whole message of the first
 * variant is parsed (message_ingest) and every other variant is derived
 * from it without parsing again: the MIME tree is the same with every
 * offset moved by the difference in trace length (partmap.h's format makes
 * that two numbers: the root's header length and the first child's
 * header offset), the header size and message size move likewise, the
 * ENVELOPE and BODYSTRUCTURE are the same (no trace field is in either),
 * and the SEARCH header text differs only in the trace fields. Only the
 * SHA-256 is computed per variant (it covers the trace block).
 *
 * Pure computation: safe to run in a workqueue thread. */
#ifndef MAILSTEAD_LMTP_MESSAGE_H
#define MAILSTEAD_LMTP_MESSAGE_H

#include <stddef.h>

#include "message_ingest.h"

struct pool;

struct lmtp_message_variant {
	const char *rcpt;	 /* input: the Delivered-To address */
	unsigned char *prefix;	 /* the trace block, CRLF line ends */
	size_t prefix_len;
	unsigned char sha256[MESSAGE_SHA256_LEN]; /* of prefix + received octets */
	unsigned char *partmap; /* of the whole stored message */
	size_t partmap_len;
	size_t size, header_size; /* of the whole stored message */
	/* The SEARCH HEADER text (mime_search.h) of this variant is
	 * hdr_prefix followed by the message's headers_tail. */
	char *hdr_prefix;
};

struct lmtp_message {
	const unsigned char *raw; /* the received octets (not copied) */
	size_t raw_len;
	/* The parse of variant 0's whole message: its ENVELOPE, BODY,
	 * BODYSTRUCTURE, lines and search fields hold for every variant. */
	struct message_ingest parsed;
	size_t header_base;	  /* header size of the received octets alone */
	const char *headers_tail; /* SEARCH HEADER text common to all variants */
	struct lmtp_message_variant *variants;
	unsigned nvariants;
};

/* Writes the trace block for one recipient into pool memory: returns it
 * (CRLF line ends, NUL-terminated) and its length in *len_r. sender "" is
 * the null reverse-path ("<>"). Both strings must be header-safe (no CR,
 * LF or NUL): lmtp_parse guarantees that. */
char *lmtp_message_trace(struct pool *pool, const char *sender, const char *rcpt,
			 size_t *len_r);

/* Prepares the n >= 1 variants of the raw_len octets at raw (which must
 * outlive msg_r) for the recipients rcpts[0..n-1]. Everything is allocated
 * from pool. Returns 0, or -1 with a static *error_r (message_ingest's). */
int lmtp_message_prepare(struct pool *pool, const unsigned char *raw, size_t raw_len,
			 const char *sender, const char *const *rcpts, unsigned n,
			 struct lmtp_message *msg_r, const char **error_r);

/* The partmap (partmap.h, version 1) of a message whose first header grew
 * by delta octets (negative: shrank) at its very start. Returns 0 with a
 * pool copy in *out_r, or -1 when the map is not a version-1 map this
 * function can read. */
int lmtp_message_shift_partmap(struct pool *pool, const unsigned char *map, size_t len,
			       long long delta, unsigned char **out_r, size_t *out_len_r);

#endif
