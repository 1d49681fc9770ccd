#include "bodystructure.h"

#include <string.h>
#include <strings.h>

#include "buf.h"
#include "envelope.h"
#include "mime_imapstr.h"

struct bs_ctx {
	struct buf *b;
	struct pool *pool;
	const struct mime_message *msg;
	bool extended;
	unsigned int budget; /* addresses left for all nested envelopes */
	int ret;
};

static void put(struct bs_ctx *c, const char *s)
{
	if (buf_append(c->b, s, strlen(s)) < 0)
		c->ret = -1;
}

static void put_nstring(struct bs_ctx *c, const char *s, size_t len)
{
	if (mime_imapstr_nstring(c->b, s, len) < 0)
		c->ret = -1;
}

static void put_cstring(struct bs_ctx *c, const char *s)
{
	put_nstring(c, s, s != NULL ? strlen(s) : 0);
}

static void put_number(struct bs_ctx *c, size_t n)
{
	if (buf_printf(c->b, "%zu", n) < 0)
		c->ret = -1;
}

/* body-fld-param: NIL or ("name" "value" ...). add_charset: a text part
 * without a charset parameter gets "charset" "us-ascii" at the end. */
static void put_params(struct bs_ctx *c, const struct mime_param *params, unsigned int count,
                       bool add_charset)
{
	for (unsigned int i = 0; i < count && add_charset; i++) {
		if (strcasecmp(params[i].name, "charset") == 0)
			add_charset = false;
	}
	if (count == 0 && !add_charset) {
		put(c, "NIL");
		return;
	}
	put(c, "(");
	for (unsigned int i = 0; i < count; i++) {
		if (i > 0)
			put(c, " ");
		put_nstring(c, params[i].name, params[i].name_len);
		put(c, " ");
		put_nstring(c, params[i].value, params[i].value_len);
	}
	if (add_charset)
		put(c, count > 0 ? " \"charset\" \"us-ascii\"" : "\"charset\" \"us-ascii\"");
	put(c, ")");
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void put_dsp_lang_loc(struct bs_ctx *c, const struct mime_part *p)
{
	if (p->disposition.type == NULL) {
		put(c, "NIL");
	} else {
		put(c, "(");
		put_nstring(c, p->disposition.type, p->disposition.type_len);
		put(c, " ");
		put_params(c, p->disposition.params, p->disposition.param_count, false);
		put(c, ")");
	}
	put(c, " ");
	if (p->language_count == 0) {
		put(c, "NIL");
	} else {
		put(c, "(");
		for (unsigned int i = 0; i < p->language_count; i++) {
			if (i > 0)
				put(c, " ");
			put_cstring(c, p->languages[i]);
		}
		put(c, ")");
	}
	put(c, " ");
	put_nstring(c, p->location, p->location_len);
}

/* The body of a message/rfc822 part that was not looked into. */
static void put_empty_text(struct bs_ctx *c)
{
	put(c, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0");
	put(c, c->extended ? " NIL NIL NIL NIL)" : ")");
}

static void put_part(struct bs_ctx *c, const struct mime_part *p)
{
	bool text = mime_part_is(p, "text", NULL);

	if (p->kind == MIME_PART_MULTIPART) {
		put(c, "(");
		for (const struct mime_part *ch = p->children; ch != NULL; ch = ch->next)
			put_part(c, ch);
		put(c, " ");
		put_cstring(c, p->subtype);
		if (c->extended) {
			put(c, " ");
			put_params(c, p->params, p->param_count, false);
			put(c, " ");
			put_dsp_lang_loc(c, p);
		}
		put(c, ")");
		return;
	}
	put(c, "(");
	if (mime_part_is(p, "message", "rfc822")) {
		put(c, "\"message\" \"rfc822\""); /* lower case, like the reference */
	} else {
		put_cstring(c, p->type);
		put(c, " ");
		put_cstring(c, p->subtype);
	}
	put(c, " ");
	put_params(c, p->params, p->param_count, text);
	put(c, " ");
	put_nstring(c, p->id, p->id_len);
	put(c, " ");
	put_nstring(c, p->description, p->description_len);
	put(c, " ");
	put_cstring(c, p->cte != NULL ? p->cte : "7bit");
	put(c, " ");
	put_number(c, p->body_len);
	if (text) {
		put(c, " ");
		put_number(c, p->body_lines);
	} else if (mime_part_is(p, "message", "rfc822")) {
		/* RFC 3501 §9 body-type-msg: envelope, body and lines are
		 * required, so a part not looked into gets placeholders. */
		put(c, " ");
		if (p->kind == MIME_PART_MESSAGE) {
			const struct mime_part *m = p->children;

			if (envelope_append(c->b, c->pool, c->msg->data + m->hdr_off, m->hdr_len,
			                    &c->budget) < 0)
				c->ret = -1;
			put(c, " ");
			put_part(c, m);
		} else {
			put(c, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ");
			put_empty_text(c);
		}
		put(c, " ");
		put_number(c, p->body_lines);
	}
	if (c->extended) {
		put(c, " ");
		put_nstring(c, p->md5, p->md5_len);
		put(c, " ");
		put_dsp_lang_loc(c, p);
	}
	put(c, ")");
}

int bodystructure_write(struct pool *pool, const struct mime_message *msg, bool extended,
                        char **out_r, size_t *len_r)
{
	struct buf b;
	struct bs_ctx c = {&b, pool, msg, extended, ENVELOPE_MAX_ADDRESSES, 0};

	buf_init(&b, 0); /* bounded: see the header */
	put_part(&c, msg->root);
	if (c.ret == 0) {
		*out_r = pool_memdup(pool, b.data, b.len + 1); /* and its NUL */
		*len_r = b.len;
	}
	buf_free(&b);
	return c.ret;
}
