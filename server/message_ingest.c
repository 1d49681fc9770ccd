#include "message_ingest.h"

#include <openssl/evp.h>
#include <string.h>

#include "bodystructure.h"
#include "envelope.h"
#include "mime_parse.h"
#include "partmap.h"

int message_ingest(struct pool *pool, const unsigned char *data, size_t len,
                   struct message_ingest *r, const char **error_r)
{
	struct mime_message *msg;
	unsigned int mdlen = 0;
	unsigned char *pm;
	char *s;
	size_t slen;

	memset(r, 0, sizeof(*r));
	r->data = data;
	r->size = len;
	r->nchunks = (unsigned)((len + MESSAGE_CHUNK_SIZE - 1) / MESSAGE_CHUNK_SIZE);
	if (EVP_Digest(data, len, r->sha256, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != MESSAGE_SHA256_LEN) {
		*error_r = "SHA-256 failed";
		return -1;
	}

	msg = mime_parse(pool, data, len, NULL);
	r->header_size = msg->root->hdr_len;
	r->body_lines = msg->root->body_lines;

	if (envelope_write(pool, msg, msg->root, &s, &slen) < 0) {
		*error_r = "ENVELOPE too large";
		return -1;
	}
	r->envelope = s;
	r->envelope_len = slen;
	if (bodystructure_write(pool, msg, false, &s, &slen) < 0) {
		*error_r = "BODY too large";
		return -1;
	}
	r->body = s;
	r->body_len = slen;
	if (bodystructure_write(pool, msg, true, &s, &slen) < 0) {
		*error_r = "BODYSTRUCTURE too large";
		return -1;
	}
	r->bodystructure = s;
	r->bodystructure_len = slen;

	partmap_encode(pool, msg, &pm, &slen);
	r->partmap = pm;
	r->partmap_len = slen;

	mime_search_fields(pool, msg, 0, &r->search);
	return 0;
}
