#include "mime_search.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "mime_address.h"
#include "mime_decode.h"
#include "mime_header.h"

/* Addresses per message the search fields list (like the ENVELOPE). */
#define SEARCH_MAX_ADDRESSES 10000

enum s_field { S_SUBJECT, S_FROM, S_TO, S_CC, S_BCC, S_FIELDS };

static const char *const s_field_names[S_FIELDS] = {"Subject", "From", "To", "Cc", "Bcc"};

struct s_ctx {
	struct pool *pool;
	const struct mime_message *msg;
	size_t max_text;
	bool truncated;
	unsigned int budget;
};

static char *finish(struct s_ctx *c, struct buf *b, size_t *len_r)
{
	char *s = pool_alloc(c->pool, b->len + 1);

	if (b->len > 0)
		memcpy(s, b->data, b->len);
	if (len_r != NULL)
		*len_r = b->len;
	buf_free(b);
	return s;
}

/* Appends decoded text; returns false once the field is full. */
static bool add_words(struct s_ctx *c, struct buf *b, const unsigned char *v, size_t len)
{
	size_t n;
	char *s = mime_header_decode_words(c->pool, v, len, &n);

	if (mime_decode_utf8_append(b, (const unsigned char *)s, n) < 0) {
		c->truncated = true;
		return false;
	}
	return true;
}

static bool add_str(struct s_ctx *c, struct buf *b, const char *s)
{
	if (mime_decode_utf8_append(b, (const unsigned char *)s, strlen(s)) < 0) {
		c->truncated = true;
		return false;
	}
	return true;
}

static bool add_address(struct s_ctx *c, struct buf *b, const struct mime_address *a)
{
	if (a->name != NULL &&
	    (!add_words(c, b, (const unsigned char *)a->name, a->name_len) || !add_str(c, b, " <")))
		return false;
	if (!add_words(c, b, (const unsigned char *)a->mailbox, a->mailbox_len))
		return false;
	if (strcmp(a->domain, MIME_ADDRESS_MISSING_DOMAIN) != 0 &&
	    (!add_str(c, b, "@") ||
	     !add_words(c, b, (const unsigned char *)a->domain, a->domain_len)))
		return false;
	return a->name == NULL || add_str(c, b, ">");
}

static void add_addresses(struct s_ctx *c, struct buf *b, const struct mime_header_field *f)
{
	struct mime_address *a = mime_address_parse(c->pool, f->value, f->value_len, &c->budget);
	bool first = true;

	for (; a != NULL; a = a->next) {
		if (a->mailbox == NULL) {
			/* group end */
			if (!add_str(c, b, ";"))
				return;
			first = false;
			continue;
		}
		if (!first && !add_str(c, b, ", "))
			return;
		if (a->domain == NULL) {
			/* group start: its members follow without a comma */
			if (!add_words(c, b, (const unsigned char *)a->mailbox, a->mailbox_len) ||
			    !add_str(c, b, ": "))
				return;
			first = true;
			continue;
		}
		first = false;
		if (!add_address(c, b, a))
			return;
	}
}

/* Appends "Name: decoded value\n" for each field of a header. */
static bool add_header(struct s_ctx *c, struct buf *b, const unsigned char *hdr, size_t len)
{
	struct mime_header_iter iter;
	struct mime_header_field f;

	mime_header_iter_init(&iter, hdr, len);
	while (mime_header_iter_next(&iter, &f) > 0) {
		if (f.name_len > 0 &&
		    (mime_decode_utf8_append(b, f.name, f.name_len) < 0 ||
		     mime_decode_utf8_append(b, (const unsigned char *)": ", 2) < 0)) {
			c->truncated = true;
			return false;
		}
		if (!add_words(c, b, f.value, f.value_len) || !add_str(c, b, "\n"))
			return false;
	}
	return true;
}

/* Appends the decoded text of a text part (or of a multipart without
 * boundary, whose body is all text). Returns false once body is full. */
static bool add_text(struct s_ctx *c, struct buf *b, const struct mime_part *p)
{
	const unsigned char *data = c->msg->data + p->body_off;
	/* Only what can still fit is decoded: base64 is 4 octets for 3, QP at
	 * most 3 for 1, and a charset needs at least 1 octet for 3 of UTF-8
	 * output... so 8 times the room left is always enough. */
	size_t room = b->limit - b->len;
	size_t inlen = p->body_len;
	const char *charset = NULL;
	size_t charset_len = 0, n;
	unsigned char *tmp = NULL;
	char *cs;
	struct mime_content ct = {.params = p->params, .param_count = p->param_count};
	int ret;

	if (room < (SIZE_MAX - 1024) / 8 && inlen > room * 8 + 1024)
		inlen = room * 8 + 1024;
	cs = mime_header_param_decode(c->pool, &ct, "charset", &charset_len);
	if (cs != NULL)
		charset = cs;
	if (p->cte_kind == MIME_CTE_BASE64 || p->cte_kind == MIME_CTE_QP) {
		tmp = malloc(inlen + 1);
		if (tmp == NULL)
			panic("mime_search: out of memory decoding %zu bytes", inlen);
		n = p->cte_kind == MIME_CTE_BASE64 ? mime_decode_base64_lenient(data, inlen, tmp)
		                                   : mime_decode_qp_lenient(data, inlen, tmp);
		data = tmp;
	} else {
		n = inlen; /* identity, or an unknown token: the bytes as they are */
	}
	ret = mime_decode_to_utf8(b, charset, charset_len, data, n);
	free(tmp);
	if (ret < 0 || mime_decode_utf8_append(b, (const unsigned char *)"\n", 1) < 0) {
		c->truncated = true;
		return false;
	}
	return true;
}

/* Walks the parts in order; returns false once body is full. The MIME
 * header of every body part is text of the message body too (the
 * reference's TEXT finds "attachment" and file names there). */
static bool add_body(struct s_ctx *c, struct buf *b, const struct mime_part *p)
{
	if (p->parent != NULL && p->parent->kind == MIME_PART_MULTIPART &&
	    !add_header(c, b, c->msg->data + p->hdr_off, p->hdr_len))
		return false;
	switch (p->kind) {
	case MIME_PART_MULTIPART:
		/* No boundary, or one that never matched: the body is all
		 * preamble, and the only part a made-up empty one. */
		if (p->child_count == 1 && (p->children->flags & MIME_PART_FLAG_SYNTHETIC))
			return add_text(c, b, p);
		for (const struct mime_part *ch = p->children; ch != NULL; ch = ch->next) {
			if (!add_body(c, b, ch))
				return false;
		}
		return true;
	case MIME_PART_MESSAGE:
		/* The attached message's header is text of the body too. */
		if (!add_header(c, b, c->msg->data + p->children->hdr_off, p->children->hdr_len))
			return false;
		return add_body(c, b, p->children);
	case MIME_PART_LEAF:
		break;
	}
	if (!mime_part_is(p, "text", NULL) || (p->flags & MIME_PART_FLAG_SYNTHETIC))
		return true;
	return add_text(c, b, p);
}

void mime_search_fields(struct pool *pool, const struct mime_message *msg, size_t max_text,
                        struct mime_search_fields *fields_r)
{
	struct s_ctx c = {pool, msg, max_text != 0 ? max_text : MIME_SEARCH_DEFAULT_MAX_TEXT, false,
	                  SEARCH_MAX_ADDRESSES};
	const unsigned char *hdr = msg->data + msg->root->hdr_off;
	struct buf fields[S_FIELDS], b;
	bool have[S_FIELDS] = {false};
	struct mime_header_field f, date, msgid;
	bool have_date = false, have_msgid = false;
	struct mime_header_iter iter;
	char **out[S_FIELDS];

	memset(fields_r, 0, sizeof(*fields_r));
	memset(&date, 0, sizeof(date));
	memset(&msgid, 0, sizeof(msgid));
	out[S_SUBJECT] = &fields_r->subject;
	out[S_FROM] = &fields_r->from;
	out[S_TO] = &fields_r->to;
	out[S_CC] = &fields_r->cc;
	out[S_BCC] = &fields_r->bcc;
	for (int i = 0; i < S_FIELDS; i++)
		buf_init(&fields[i], c.max_text);
	mime_header_iter_init(&iter, hdr, msg->root->hdr_len);
	while (mime_header_iter_next(&iter, &f) > 0) {
		if (mime_header_field_is(&f, "Date")) {
			date = f;
			have_date = true;
		} else if (mime_header_field_is(&f, "Message-ID")) {
			msgid = f;
			have_msgid = true;
		}
		for (int i = 0; i < S_FIELDS; i++) {
			if (!mime_header_field_is(&f, s_field_names[i]))
				continue;
			if (have[i])
				(void)add_str(&c, &fields[i], "\n");
			have[i] = true;
			if (i == S_SUBJECT)
				(void)add_words(&c, &fields[i], f.value, f.value_len);
			else
				add_addresses(&c, &fields[i], &f);
		}
	}
	for (int i = 0; i < S_FIELDS; i++) {
		if (have[i])
			*out[i] = finish(&c, &fields[i], NULL);
		else
			buf_free(&fields[i]);
	}
	fields_r->date = have_date ? mime_header_parse_date(date.value, date.value_len, NULL) : -1;
	if (have_msgid) {
		size_t n;
		char *s = mime_header_decode_words(pool, msgid.value, msgid.value_len, &n);

		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			s[--n] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		fields_r->message_id = s;
	}

	buf_init(&b, c.max_text);
	(void)add_header(&c, &b, hdr, msg->root->hdr_len);
	fields_r->headers = finish(&c, &b, &fields_r->headers_len);
	buf_init(&b, c.max_text);
	(void)add_body(&c, &b, msg->root);
	fields_r->body = finish(&c, &b, &fields_r->body_len);
	fields_r->truncated = c.truncated;
}
