#include "lmtp_message.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "partmap.h"
#include "pool.h"

char *lmtp_message_trace(struct pool *pool, const char *sender, const char *rcpt,
			 size_t *len_r)
{
	char *s = pool_printf(pool, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", sender, rcpt);

	*len_r = strlen(s);
	return s;
}

/* -- partmap ---------------------------------------------------------------- */

struct rd {
	const unsigned char *p;
	size_t len, i;
};

static int rd_varint(struct rd *r, uint64_t *v_r)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		unsigned char b;

		if (r->i >= r->len)
			return -1;
		b = r->p[r->i++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v_r = v;
			return 0;
		}
	}
	return -1;
}

static size_t put_varint(unsigned char *out, uint64_t v)
{
	size_t n = 0;

	do {
		unsigned char b = v & 0x7f;

		v >>= 7;
		out[n++] = v != 0 ? (unsigned char)(b | 0x80) : b;
	} while (v != 0);
	return n;
}

static int add_delta(uint64_t v, long long delta, uint64_t *out_r)
{
	if (delta < 0 && v < (uint64_t)(-delta))
		return -1;
	*out_r = delta < 0 ? v - (uint64_t)(-delta) : v + (uint64_t)delta;
	return 0;
}

/* partmap.h version 1: the message size, the root's header length and the
 * first child's header offset (relative to the root's, which is 0) are
 * the only absolute positions before the moved octets; every later part's
 * header offset is relative to the part before it, and body offsets are
 * relative to their own header's end. */
int lmtp_message_shift_partmap(struct pool *pool, const unsigned char *map, size_t len,
			       long long delta, unsigned char **out_r, size_t *out_len_r)
{
	struct rd r = {map, len, 0};
	uint64_t size, count, hoff, hlen, v;
	unsigned char flags, kind, cte, status;
	unsigned char *out;
	size_t o = 0;

	if (len < 1 || map[0] != PARTMAP_VERSION)
		return -1;
	r.i = 1;
	if (rd_varint(&r, &size) < 0 || rd_varint(&r, &count) < 0 || count < 1)
		return -1;
	/* Every rewritten number grows by at most one varint byte. */
	out = pool_alloc(pool, len + 3 * 10);
	out[o++] = PARTMAP_VERSION;
	if (add_delta(size, delta, &v) < 0)
		return -1;
	o += put_varint(out + o, v);
	o += put_varint(out + o, count);

	/* The root. */
	if (r.i >= len)
		return -1;
	flags = map[r.i++];
	kind = flags & 3;
	cte = (flags >> 2) & 3;
	status = (flags >> 4) & 3;
	out[o++] = flags;
	if (rd_varint(&r, &hoff) < 0 || hoff != 0 || rd_varint(&r, &hlen) < 0 ||
	    add_delta(hlen, delta, &v) < 0)
		return -1;
	o += put_varint(out + o, 0);
	o += put_varint(out + o, v);
	{
		/* Body offset (relative), body length, child count, decoded
		 * size: copied as they are. */
		size_t from = r.i;
		unsigned nfields = 2 + (kind == 1) + ((cte == 1 || cte == 2) && status == 0);

		for (unsigned k = 0; k < nfields; k++)
			if (rd_varint(&r, &v) < 0)
				return -1;
		memcpy(out + o, map + from, r.i - from);
		o += r.i - from;
	}
	/* The first child, if any. */
	if (count >= 2) {
		if (r.i >= len)
			return -1;
		out[o++] = map[r.i++];
		if (rd_varint(&r, &hoff) < 0 || add_delta(hoff, delta, &v) < 0)
			return -1;
		o += put_varint(out + o, v);
	}
	memcpy(out + o, map + r.i, len - r.i);
	o += len - r.i;
	*out_r = out;
	*out_len_r = o;
	return 0;
}

/* -- variants --------------------------------------------------------------- */

/* The SEARCH HEADER text of the trace fields, without the final line end:
 * what follows Delivered-To's value in the parsed text is the common tail
 * (normally "\n" and the received header's fields; a received message
 * that starts with white space continues Delivered-To's value, and that
 * continuation is part of the tail too). */
static char *search_prefix(struct pool *pool, const char *sender, const char *rcpt)
{
	return pool_printf(pool, "Return-Path: <%s>\nDelivered-To: %s", sender, rcpt);
}

/* The exact way, for messages whose parsed trace fields do not read as
 * written (never seen, but the parser decides): every variant parsed on
 * its own, its whole search header text its own. */
static int prepare_each(struct pool *pool, struct lmtp_message *m, const char **error_r)
{
	for (unsigned i = 0; i < m->nvariants; i++) {
		struct lmtp_message_variant *v = &m->variants[i];
		struct message_ingest own;
		unsigned char *whole = pool_alloc(pool, v->prefix_len + m->raw_len);

		memcpy(whole, v->prefix, v->prefix_len);
		if (m->raw_len > 0)
			memcpy(whole + v->prefix_len, m->raw, m->raw_len);
		if (message_ingest(pool, whole, v->prefix_len + m->raw_len, &own, error_r) < 0)
			return -1;
		memcpy(v->sha256, own.sha256, MESSAGE_SHA256_LEN);
		v->partmap = (unsigned char *)own.partmap;
		v->partmap_len = own.partmap_len;
		v->size = own.size;
		v->header_size = own.header_size;
		v->hdr_prefix = pool_strdup(pool, own.search.headers != NULL ? own.search.headers : "");
	}
	m->headers_tail = "";
	return 0;
}

int lmtp_message_prepare(struct pool *pool, const unsigned char *raw, size_t raw_len,
			 const char *sender, const char *const *rcpts, unsigned n,
			 struct lmtp_message *msg_r, const char **error_r)
{
	struct lmtp_message_variant *v0;
	unsigned char *whole;
	const char *tail;

	memset(msg_r, 0, sizeof(*msg_r));
	msg_r->raw = raw;
	msg_r->raw_len = raw_len;
	msg_r->nvariants = n;
	msg_r->variants = pool_alloc(pool, sizeof(*msg_r->variants) * n);
	for (unsigned i = 0; i < n; i++) {
		struct lmtp_message_variant *v = &msg_r->variants[i];

		v->rcpt = rcpts[i];
		v->prefix = (unsigned char *)lmtp_message_trace(pool, sender, rcpts[i],
							      &v->prefix_len);
		v->hdr_prefix = search_prefix(pool, sender, rcpts[i]);
	}

	/* Parse once: variant 0's whole message. */
	v0 = &msg_r->variants[0];
	whole = pool_alloc(pool, v0->prefix_len + raw_len);
	memcpy(whole, v0->prefix, v0->prefix_len);
	if (raw_len > 0)
		memcpy(whole + v0->prefix_len, raw, raw_len);
	if (message_ingest(pool, whole, v0->prefix_len + raw_len, &msg_r->parsed, error_r) < 0)
		return -1;
	msg_r->header_base = msg_r->parsed.header_size - v0->prefix_len;
	tail = msg_r->parsed.search.headers != NULL ? msg_r->parsed.search.headers : "";
	if (strncmp(tail, v0->hdr_prefix, strlen(v0->hdr_prefix)) != 0)
		return prepare_each(pool, msg_r, error_r);
	msg_r->headers_tail = tail + strlen(v0->hdr_prefix);

	for (unsigned i = 0; i < n; i++) {
		struct lmtp_message_variant *v = &msg_r->variants[i];
		long long delta = (long long)v->prefix_len - (long long)v0->prefix_len;
		EVP_MD_CTX *md;
		unsigned mdlen = 0;

		v->size = msg_r->parsed.size + (size_t)delta;
		v->header_size = msg_r->parsed.header_size + (size_t)delta;
		if (i == 0) {
			memcpy(v->sha256, msg_r->parsed.sha256, MESSAGE_SHA256_LEN);
			v->partmap = (unsigned char *)msg_r->parsed.partmap;
			v->partmap_len = msg_r->parsed.partmap_len;
			continue;
		}
		if (lmtp_message_shift_partmap(pool, msg_r->parsed.partmap,
					       msg_r->parsed.partmap_len, delta, &v->partmap,
					       &v->partmap_len) < 0) {
			/* Cannot happen with the partmap.c of this build. */
			*error_r = "partmap of an unknown version";
			return -1;
		}
		md = EVP_MD_CTX_new();
		if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(md, v->prefix, v->prefix_len) != 1 ||
		    (raw_len > 0 && EVP_DigestUpdate(md, raw, raw_len) != 1) ||
		    EVP_DigestFinal_ex(md, v->sha256, &mdlen) != 1 || mdlen != MESSAGE_SHA256_LEN) {
			EVP_MD_CTX_free(md);
			*error_r = "SHA-256 failed";
			return -1;
		}
		EVP_MD_CTX_free(md);
	}
	return 0;
}
