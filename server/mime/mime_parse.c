#include "mime_parse.h"

#include <string.h>
#include <strings.h>

#define MAX_LANGUAGES 16

enum phase {
	PH_HEADER,   /* reading the part's header */
	PH_BODY,     /* leaf or message body, or multipart before its close */
	PH_EPILOGUE, /* multipart after its close delimiter */
};

/* A part with the parser's private state; pub comes first so that a
 * struct mime_part pointer from this file can be converted back. */
struct ppart {
	struct mime_part pub;
	enum phase phase;
	size_t nl_hdr;  /* LF octets in the message before hdr_off */
	size_t nl_body; /* ... and before body_off */
	struct mime_part *last_child;
};

struct boundary {
	struct ppart *part;
	const unsigned char *b;
	size_t len;
};

struct parse_ctx {
	struct pool *pool;
	const unsigned char *d;
	size_t len;
	struct mime_limits lim;
	struct mime_message *msg;
	struct ppart *cur; /* the deepest open part */
	struct boundary *stack;
	unsigned int nbnd, bnd_cap;
	size_t nl;                 /* LF octets before the current line */
	unsigned int param_budget; /* MIME parameters still kept */
};

static struct ppart *pp(struct mime_part *p)
{
	return (struct ppart *)p;
}

bool mime_part_is(const struct mime_part *part, const char *type, const char *subtype)
{
	return strcasecmp(part->type, type) == 0 &&
	       (subtype == NULL || strcasecmp(part->subtype, subtype) == 0);
}

static struct ppart *part_new(struct parse_ctx *ctx, struct ppart *parent, size_t off, size_t nl)
{
	struct ppart *p = pool_alloc(ctx->pool, sizeof(*p));

	p->nl_hdr = nl;
	p->nl_body = nl;
	p->pub.hdr_off = off;
	p->pub.body_off = off;
	p->pub.type = "text";
	p->pub.subtype = "plain";
	p->phase = PH_HEADER;
	if (parent != NULL) {
		p->pub.parent = &parent->pub;
		p->pub.depth = parent->pub.depth + 1;
		if (parent->last_child != NULL)
			parent->last_child->next = &p->pub;
		else
			parent->pub.children = &p->pub;
		parent->last_child = &p->pub;
		parent->pub.child_count++;
	}
	ctx->msg->part_count++;
	return p;
}

static char *unfold(struct pool *pool, const struct mime_header_field *f, size_t *len_r)
{
	return mime_header_unfold(pool, f->value, f->value_len, len_r);
}

/* Reads the MIME fields of a finished header: the first of each field
 * counts (as in the reference answers for duplicated Content-Type). */
static void read_mime_fields(struct parse_ctx *ctx, struct ppart *p)
{
	struct mime_part *pub = &p->pub;
	const unsigned char *hdr = ctx->d + pub->hdr_off;
	struct mime_header_iter iter;
	struct mime_header_field f;
	bool have_ct = false, have_cte = false, have_dsp = false, have_lang = false;
	bool digest = pub->parent != NULL && pub->parent->kind == MIME_PART_MULTIPART &&
	              mime_part_is(pub->parent, "multipart", "digest");
	size_t n;

	/* RFC 2046 §5.1.5: in a digest the default is message/rfc822. */
	if (digest && !(pub->flags & MIME_PART_FLAG_SYNTHETIC)) {
		pub->type = "message";
		pub->subtype = "rfc822";
	}
	mime_header_iter_init(&iter, hdr, pub->hdr_len);
	while (mime_header_iter_next(&iter, &f) > 0) {
		if (f.name_len < 8 || strncasecmp((const char *)f.name, "Content-", 8) != 0)
			continue;
		if (!have_ct && mime_header_field_is(&f, "Content-Type")) {
			struct mime_content ct;

			have_ct = true;
			if (mime_header_parse_content_type(ctx->pool, f.value, f.value_len,
			                                   &ctx->param_budget, &ct) < 0) {
				/* RFC 2045 §5.2: "text/plain; charset=us-ascii".
				 * Deliberately unlike the reference server,
				 * which answers "" "" (corpus README). */
				pub->flags |= MIME_PART_FLAG_CT_INVALID;
				pub->type = "text";
				pub->subtype = "plain";
			} else {
				pub->type = ct.type;
				pub->subtype = ct.subtype;
				pub->params = ct.params;
				pub->param_count = ct.param_count;
			}
		} else if (!have_cte && mime_header_field_is(&f, "Content-Transfer-Encoding")) {
			const unsigned char *tok =
			    mime_header_first_token(f.value, f.value_len, &n);

			have_cte = true;
			if (tok != NULL) {
				char *cte = pool_alloc(ctx->pool, n + 1);

				memcpy(cte, tok, n);
				pub->cte = cte;
				pub->cte_kind = mime_decode_cte_parse(cte, n);
			}
		} else if (pub->id == NULL && mime_header_field_is(&f, "Content-ID")) {
			pub->id = unfold(ctx->pool, &f, &pub->id_len);
		} else if (pub->description == NULL &&
		           mime_header_field_is(&f, "Content-Description")) {
			pub->description = unfold(ctx->pool, &f, &pub->description_len);
		} else if (pub->md5 == NULL && mime_header_field_is(&f, "Content-MD5")) {
			pub->md5 = unfold(ctx->pool, &f, &pub->md5_len);
		} else if (pub->location == NULL && mime_header_field_is(&f, "Content-Location")) {
			pub->location = unfold(ctx->pool, &f, &pub->location_len);
		} else if (!have_dsp && mime_header_field_is(&f, "Content-Disposition")) {
			have_dsp = true;
			mime_header_parse_disposition(ctx->pool, f.value, f.value_len,
			                              &ctx->param_budget, &pub->disposition);
		} else if (!have_lang && mime_header_field_is(&f, "Content-Language")) {
			have_lang = true;
			pub->languages = pool_alloc(ctx->pool, MAX_LANGUAGES * sizeof(char *));
			pub->language_count = mime_header_parse_language(
			    ctx->pool, f.value, f.value_len, pub->languages, MAX_LANGUAGES);
		}
	}
}

static void push_boundary(struct parse_ctx *ctx, struct ppart *p, const char *b, size_t len)
{
	if (ctx->nbnd == ctx->bnd_cap) {
		struct boundary *ns;

		/* Bounded by max_depth: only open multiparts are stacked. */
		ctx->bnd_cap = ctx->bnd_cap == 0 ? 8 : ctx->bnd_cap * 2;
		ns = pool_alloc(ctx->pool, ctx->bnd_cap * sizeof(*ns));
		if (ctx->nbnd > 0)
			memcpy(ns, ctx->stack, ctx->nbnd * sizeof(*ns));
		ctx->stack = ns;
	}
	ctx->stack[ctx->nbnd].part = p;
	ctx->stack[ctx->nbnd].b = (const unsigned char *)b;
	ctx->stack[ctx->nbnd].len = len;
	ctx->nbnd++;
}

static void close_part(struct parse_ctx *ctx, struct ppart *p, size_t *end, size_t *nl_end);

/* The made-up empty text/plain part of a multipart that has none. */
static void add_synthetic(struct parse_ctx *ctx, struct ppart *p)
{
	struct ppart *s = part_new(ctx, p, p->pub.body_off, p->nl_body);

	s->pub.flags |= MIME_PART_FLAG_SYNTHETIC;
	s->phase = PH_BODY;
}

/* The header of p is complete (hdr_len and body_off are set): decide what
 * the part is. closed: the part has already ended (no body follows). */
static void finish_header(struct parse_ctx *ctx, struct ppart *p, bool closed)
{
	struct mime_part *pub = &p->pub;

	read_mime_fields(ctx, p);
	if (mime_part_is(pub, "multipart", NULL) && !(pub->flags & MIME_PART_FLAG_CT_INVALID)) {
		const struct mime_param *b;

		if (pub->depth >= ctx->lim.max_depth) {
			pub->flags |= MIME_PART_FLAG_OPAQUE;
			return;
		}
		pub->kind = MIME_PART_MULTIPART;
		/* boundary*= (RFC 2231) is not understood, as in the
		 * reference answers (cpython msg_33). */
		b = mime_header_param_find(
		    &(struct mime_content){.params = pub->params, .param_count = pub->param_count},
		    "boundary");
		if (b == NULL || b->value_len == 0)
			pub->flags |= MIME_PART_FLAG_NO_BOUNDARY;
		if (b != NULL && b->value_len > 0 && !closed)
			push_boundary(ctx, p, b->value, b->value_len);
		else
			add_synthetic(ctx, p);
	} else if (mime_part_is(pub, "message", "rfc822")) {
		struct ppart *child;

		if (pub->depth >= ctx->lim.max_depth ||
		    ctx->msg->part_count >= ctx->lim.max_parts ||
		    pub->cte_kind == MIME_CTE_BASE64 || pub->cte_kind == MIME_CTE_QP) {
			pub->flags |= MIME_PART_FLAG_OPAQUE;
			return;
		}
		pub->kind = MIME_PART_MESSAGE;
		child = part_new(ctx, p, pub->body_off, p->nl_body);
		if (closed) {
			size_t end = pub->body_off, nl = p->nl_body;

			close_part(ctx, child, &end, &nl);
		} else {
			ctx->cur = child;
		}
	}
}

/* Moves the (empty) descendants of p to offset off: used when p's body
 * turns out to start earlier than its blank line suggested. */
static void relocate_children(struct mime_part *p, size_t off)
{
	for (struct mime_part *c = p->children; c != NULL; c = c->next) {
		c->hdr_off = off;
		c->hdr_len = 0;
		c->body_off = off;
		c->body_len = 0;
		c->body_lines = 0;
		relocate_children(c, off);
	}
}

/* Ends part p at *end (*nl_end: LF octets before it). A part cannot end
 * before it starts: then *end and *nl_end are moved up to its start, so
 * that the caller closes the enclosing parts no earlier. */
static void close_part(struct parse_ctx *ctx, struct ppart *p, size_t *end, size_t *nl_end)
{
	struct mime_part *pub = &p->pub;

	if (*end < pub->hdr_off) {
		*end = pub->hdr_off;
		*nl_end = p->nl_hdr;
	}
	if (p->phase == PH_HEADER) {
		pub->flags |= MIME_PART_FLAG_NO_BLANK_LINE;
		pub->hdr_len = *end - pub->hdr_off;
		pub->body_off = *end;
		pub->body_len = 0;
		p->nl_body = *nl_end;
		p->phase = PH_BODY;
		finish_header(ctx, p, true);
		return;
	}
	if (*end < pub->body_off) {
		/* The blank line was the line break that belongs to the next
		 * delimiter (RFC 2046 §5.1.1): no blank line after all. */
		pub->hdr_len = *end - pub->hdr_off;
		pub->body_off = *end;
		pub->body_len = 0;
		pub->body_lines = 0;
		relocate_children(pub, *end);
	} else {
		pub->body_len = *end - pub->body_off;
		pub->body_lines = *nl_end - p->nl_body;
	}
	if (pub->kind == MIME_PART_MULTIPART && pub->child_count == 0)
		add_synthetic(ctx, p);
}

/* Returns the index of the innermost open boundary the line [ls, le)
 * starts with ("--" already checked), or -1. RFC 2046 §5.1.1: the boundary
 * need only appear in its entirety at the start of the line. */
static int match_boundary(const struct parse_ctx *ctx, size_t ls, size_t le, bool *close_r)
{
	for (unsigned int k = ctx->nbnd; k-- > 0;) {
		const struct boundary *b = &ctx->stack[k];

		if (le - ls - 2 < b->len || memcmp(ctx->d + ls + 2, b->b, b->len) != 0)
			continue;
		*close_r = le - ls - 2 - b->len >= 2 && ctx->d[ls + 2 + b->len] == '-' &&
		           ctx->d[ls + 3 + b->len] == '-';
		return (int)k;
	}
	return -1;
}

/* A delimiter line of boundary k at [ls, next). Returns false when the
 * line is to be taken as content (the part limit is reached). */
static bool handle_delimiter(struct parse_ctx *ctx, unsigned int k, size_t ls, size_t next,
                             bool close, bool has_lf)
{
	struct ppart *m = ctx->stack[k].part;
	size_t end = ls, nl_end = ctx->nl;

	if (!close && ctx->msg->part_count >= ctx->lim.max_parts)
		return false;
	/* The line break before the delimiter belongs to it. */
	if (end > 0 && ctx->d[end - 1] == '\n') {
		end--;
		nl_end--;
		if (end > 0 && ctx->d[end - 1] == '\r')
			end--;
	}
	while (ctx->cur != m) {
		close_part(ctx, ctx->cur, &end, &nl_end);
		ctx->cur = pp(ctx->cur->pub.parent);
	}
	if (close) {
		ctx->nbnd = k;
		m->phase = PH_EPILOGUE;
		if (m->pub.child_count == 0)
			add_synthetic(ctx, m);
	} else {
		struct ppart *child;

		ctx->nbnd = k + 1;
		child = part_new(ctx, m, next, ctx->nl + (has_lf ? 1 : 0));
		ctx->cur = child;
	}
	return true;
}

/* Fills in BINARY.SIZE for every part; leaf bodies do not overlap, so the
 * decoding work is linear. */
static void compute_binary(struct mime_message *msg, struct mime_part *p)
{
	for (; p != NULL; p = p->next) {
		if (p->kind != MIME_PART_LEAF || mime_part_is(p, "multipart", NULL)) {
			p->binary_status = MIME_BINARY_OK;
			p->binary_size = p->body_len;
			compute_binary(msg, p->children);
			continue;
		}
		if (p->cte_kind == MIME_CTE_UNKNOWN)
			p->binary_status = MIME_BINARY_UNKNOWN_CTE;
		else if (mime_decode_size(p->cte_kind, msg->data + p->body_off, p->body_len,
		                          &p->binary_size) < 0)
			p->binary_status = MIME_BINARY_INVALID;
		else
			p->binary_status = MIME_BINARY_OK;
	}
}

struct mime_message *mime_parse(struct pool *pool, const unsigned char *data, size_t len,
                                const struct mime_limits *limits)
{
	struct parse_ctx ctx;
	size_t pos = 0;

	memset(&ctx, 0, sizeof(ctx));
	ctx.pool = pool;
	ctx.param_budget = MIME_MAX_PARAMS;
	ctx.d = data;
	ctx.len = len;
	ctx.lim.max_depth = limits != NULL ? limits->max_depth : MIME_DEFAULT_MAX_DEPTH;
	ctx.lim.max_parts = limits != NULL ? limits->max_parts : MIME_DEFAULT_MAX_PARTS;
	if (ctx.lim.max_parts == 0)
		ctx.lim.max_parts = 1;
	/* The writers recurse once per level: keep the stack bounded. */
	if (ctx.lim.max_depth > MIME_MAX_DEPTH_CAP)
		ctx.lim.max_depth = MIME_MAX_DEPTH_CAP;
	ctx.msg = pool_alloc(pool, sizeof(*ctx.msg));
	ctx.msg->data = data;
	ctx.msg->len = len;
	ctx.cur = part_new(&ctx, NULL, 0, 0);
	ctx.msg->root = &ctx.cur->pub;

	while (pos < len) {
		const unsigned char *lf = memchr(data + pos, '\n', len - pos);
		size_t next = lf != NULL ? (size_t)(lf - data) + 1 : len;
		size_t cend = lf != NULL ? (size_t)(lf - data) : len;
		bool close = false;
		int k;

		if (lf != NULL && cend > pos && data[cend - 1] == '\r')
			cend--;
		if (ctx.nbnd > 0 && cend - pos >= 2 && data[pos] == '-' && data[pos + 1] == '-' &&
		    (k = match_boundary(&ctx, pos, cend, &close)) >= 0 &&
		    handle_delimiter(&ctx, (unsigned int)k, pos, next, close, lf != NULL)) {
			/* handled */
		} else if (ctx.cur->phase == PH_HEADER && cend == pos) {
			struct ppart *p = ctx.cur;

			p->pub.hdr_len = next - p->pub.hdr_off;
			p->pub.body_off = next;
			p->nl_body = ctx.nl + 1;
			p->phase = PH_BODY;
			finish_header(&ctx, p, false);
		}
		if (lf != NULL)
			ctx.nl++;
		pos = next;
	}
	{
		size_t end = len, nl_end = ctx.nl;

		while (ctx.cur != NULL) {
			close_part(&ctx, ctx.cur, &end, &nl_end);
			ctx.cur = pp(ctx.cur->pub.parent);
		}
	}
	compute_binary(ctx.msg, ctx.msg->root);
	return ctx.msg;
}
