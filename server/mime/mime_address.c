#include "mime_address.h"

#include <stdbool.h>
#include <string.h>

struct actx {
	struct pool *pool;
	const unsigned char *p;
	size_t len, i;
	/* The last comment skipped: the name of an address written as
	 * "user@host (Full Name)". */
	const unsigned char *comment;
	size_t comment_len;
	unsigned int *budget;
	struct mime_address *head, **tail;
	/* Scratch space for the four strings of the address being read,
	 * allocated once per list: nothing built from a value is longer than
	 * the value, and the results are copied out at their own size. */
	char *scratch[4];
};

/* A string under construction in one of the scratch buffers. */
struct astr {
	char *s;
	size_t len;
};

static void astr_init(struct actx *c, struct astr *a, unsigned int slot)
{
	if (c->scratch[slot] == NULL)
		c->scratch[slot] = pool_alloc(c->pool, c->len + 1);
	a->s = c->scratch[slot];
	a->len = 0;
}

/* The finished string, copied out of the scratch buffer (whole: it may
 * hold NUL bytes, so no strndup). */
static char *astr_keep(struct actx *c, const struct astr *a)
{
	char *s = pool_alloc(c->pool, a->len + 1);

	memcpy(s, a->s, a->len);
	return s;
}

static void astr_add(struct astr *a, const unsigned char *data, size_t len)
{
	memcpy(a->s + a->len, data, len);
	a->len += len;
	a->s[a->len] = '\0';
}

static bool a_space(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* atext of RFC 5322 §3.2.3, plus 8-bit bytes (RFC 6532). */
static bool a_atext(unsigned char ch)
{
	return ch > ' ' && ch != 0x7f && strchr("()<>[]:;@\\,.\"", ch) == NULL;
}

static void a_comment(struct actx *c)
{
	size_t start = ++c->i;
	unsigned int depth = 1;

	while (c->i < c->len) {
		unsigned char ch = c->p[c->i++];

		if (ch == '\\') {
			if (c->i < c->len)
				c->i++;
		} else if (ch == '(') {
			depth++;
		} else if (ch == ')' && --depth == 0) {
			c->comment = c->p + start;
			c->comment_len = c->i - 1 - start;
			return;
		}
	}
	c->comment = c->p + start; /* unterminated: to the end */
	c->comment_len = c->len - start;
}

static void a_skip(struct actx *c)
{
	while (c->i < c->len) {
		if (a_space(c->p[c->i]))
			c->i++;
		else if (c->p[c->i] == '(')
			a_comment(c);
		else
			break;
	}
}

/* Appends the content of the quoted-string at c->i, unescaped, without
 * the CR/LF of folds. */
static void a_quoted(struct actx *c, struct astr *a)
{
	c->i++;
	while (c->i < c->len) {
		unsigned char ch = c->p[c->i++];

		if (ch == '"')
			return;
		if (ch == '\\' && c->i < c->len)
			ch = c->p[c->i++];
		if (ch != '\r' && ch != '\n')
			astr_add(a, &ch, 1);
	}
}

/* phrase / obs-phrase: words (atoms that may hold dots, quoted strings)
 * joined by one space. */
static void a_phrase(struct actx *c, struct astr *a)
{
	bool first = true;

	for (;;) {
		size_t start;

		a_skip(c);
		if (c->i >= c->len)
			return;
		if (c->p[c->i] != '"' && !a_atext(c->p[c->i]) && c->p[c->i] != '.')
			return;
		if (!first)
			astr_add(a, (const unsigned char *)" ", 1);
		first = false;
		if (c->p[c->i] == '"') {
			a_quoted(c, a);
			continue;
		}
		start = c->i;
		while (c->i < c->len && (a_atext(c->p[c->i]) || c->p[c->i] == '.'))
			c->i++;
		astr_add(a, c->p + start, c->i - start);
	}
}

/* local-part / obs-local-part: words and dots, white space dropped. */
static void a_local(struct actx *c, struct astr *a)
{
	for (;;) {
		size_t start;

		a_skip(c);
		if (c->i >= c->len)
			return;
		if (c->p[c->i] == '"') {
			a_quoted(c, a);
		} else if (c->p[c->i] == '.') {
			astr_add(a, c->p + c->i++, 1);
		} else if (a_atext(c->p[c->i])) {
			start = c->i;
			while (c->i < c->len && a_atext(c->p[c->i]))
				c->i++;
			astr_add(a, c->p + start, c->i - start);
		} else {
			return;
		}
	}
}

/* domain / obs-domain, domain literals kept with their brackets. */
static void a_domain(struct actx *c, struct astr *a)
{
	for (;;) {
		size_t start;

		a_skip(c);
		if (c->i >= c->len)
			return;
		if (c->p[c->i] == '[') {
			start = c->i;
			while (c->i < c->len && c->p[c->i] != ']') {
				if (c->p[c->i] == '\\' && c->i + 1 < c->len)
					c->i++;
				c->i++;
			}
			if (c->i < c->len)
				c->i++;
			for (size_t k = start; k < c->i; k++) {
				if (c->p[k] != '\r' && c->p[k] != '\n')
					astr_add(a, c->p + k, 1);
			}
		} else if (c->p[c->i] == '.') {
			astr_add(a, c->p + c->i++, 1);
		} else if (a_atext(c->p[c->i])) {
			start = c->i;
			while (c->i < c->len && a_atext(c->p[c->i]))
				c->i++;
			astr_add(a, c->p + start, c->i - start);
		} else {
			return;
		}
	}
}

static struct mime_address *a_emit(struct actx *c, bool counted)
{
	struct mime_address *addr;

	if (counted) {
		if (*c->budget == 0)
			return NULL;
		(*c->budget)--;
	}
	addr = pool_alloc(c->pool, sizeof(*addr));
	*c->tail = addr;
	c->tail = &addr->next;
	return addr;
}

/* Copies the last comment as a name: unescaped, without CR/LF. */
static void a_comment_name(struct actx *c, struct astr *a)
{
	for (size_t k = 0; k < c->comment_len; k++) {
		unsigned char ch = c->comment[k];

		if (ch == '\\' && k + 1 < c->comment_len)
			ch = c->comment[++k];
		if (ch != '\r' && ch != '\n')
			astr_add(a, &ch, 1);
	}
}

/* mailbox = name-addr / addr-spec, with a missing local part or domain
 * replaced by the placeholders. */
static void a_mailbox(struct actx *c)
{
	struct astr name, route, local, domain;
	size_t start = c->i;
	bool angle = false;
	struct mime_address *addr;

	astr_init(c, &name, 0);
	astr_init(c, &route, 1);
	astr_init(c, &local, 2);
	astr_init(c, &domain, 3);
	c->comment = NULL;
	a_phrase(c, &name);
	a_skip(c);
	if (c->i < c->len && c->p[c->i] == '<') {
		angle = true;
		c->i++;
		a_skip(c);
		/* obs-route: "@a.example,@b.example:" before the address */
		if (c->i < c->len && c->p[c->i] == '@') {
			while (c->i < c->len && c->p[c->i] == '@') {
				if (route.len > 0)
					astr_add(&route, (const unsigned char *)",", 1);
				astr_add(&route, c->p + c->i++, 1);
				a_domain(c, &route);
				a_skip(c);
				while (c->i < c->len && c->p[c->i] == ',') {
					c->i++;
					a_skip(c);
				}
			}
			if (c->i < c->len && c->p[c->i] == ':')
				c->i++;
		}
		a_local(c, &local);
		a_skip(c);
		if (c->i < c->len && c->p[c->i] == '@') {
			c->i++;
			a_domain(c, &domain);
			a_skip(c);
		}
		if (c->i < c->len && c->p[c->i] == '>')
			c->i++;
		if (name.len == 0) {
			c->comment = NULL;
			a_skip(c);
		}
	} else {
		/* No angle brackets: what looked like a phrase was the local
		 * part of an addr-spec ("user@host", "postmaster"). */
		bool at = false;

		c->i = start;
		c->comment = NULL;
		name.len = 0;
		a_local(c, &local);
		a_skip(c);
		if (c->i < c->len && c->p[c->i] == '@') {
			at = true;
			c->i++;
			a_domain(c, &domain);
			a_skip(c);
		}
		if (local.len == 0 && !at)
			return; /* nothing here that could be an address */
	}
	if (name.len == 0 && c->comment != NULL)
		a_comment_name(c, &name);
	if ((addr = a_emit(c, true)) == NULL)
		return;
	if (name.len > 0) {
		addr->name = astr_keep(c, &name);
		addr->name_len = name.len;
	}
	if (angle && route.len > 0) {
		addr->route = astr_keep(c, &route);
		addr->route_len = route.len;
	}
	if (local.len == 0) {
		addr->mailbox = pool_strdup(c->pool, MIME_ADDRESS_MISSING_MAILBOX);
		addr->mailbox_len = strlen(MIME_ADDRESS_MISSING_MAILBOX);
	} else {
		addr->mailbox = astr_keep(c, &local);
		addr->mailbox_len = local.len;
	}
	if (domain.len == 0) {
		addr->domain = pool_strdup(c->pool, MIME_ADDRESS_MISSING_DOMAIN);
		addr->domain_len = strlen(MIME_ADDRESS_MISSING_DOMAIN);
	} else {
		addr->domain = astr_keep(c, &domain);
		addr->domain_len = domain.len;
	}
}

/* address = mailbox / group */
static void a_address(struct actx *c)
{
	struct astr name;
	size_t start = c->i;
	struct mime_address *addr;

	astr_init(c, &name, 0);
	a_phrase(c, &name);
	a_skip(c);
	if (c->i >= c->len || c->p[c->i] != ':') {
		c->i = start;
		a_mailbox(c);
		return;
	}
	c->i++;
	if (*c->budget < 2 || (addr = a_emit(c, true)) == NULL) {
		*c->budget = 0;
		return;
	}
	addr->mailbox = astr_keep(c, &name);
	addr->mailbox_len = name.len;
	while (c->i<c->len && * c->budget> 0) {
		size_t before;

		a_skip(c);
		if (c->i >= c->len)
			break;
		if (c->p[c->i] == ';') {
			c->i++;
			break;
		}
		if (c->p[c->i] == ',') {
			c->i++;
			continue;
		}
		before = c->i;
		a_mailbox(c);
		if (c->i == before)
			c->i++; /* a stray special: skip it */
	}
	(void)a_emit(c, false); /* the group end, never refused */
}

struct mime_address *mime_address_parse(struct pool *pool, const unsigned char *value, size_t len,
                                        unsigned int *budget)
{
	struct actx c;

	memset(&c, 0, sizeof(c));
	c.pool = pool;
	c.p = value;
	c.len = len;
	c.budget = budget;
	c.tail = &c.head;
	while (c.i<c.len && * budget> 0) {
		size_t before;

		a_skip(&c);
		if (c.i >= c.len)
			break;
		if (c.p[c.i] == ',' || c.p[c.i] == ';') {
			c.i++;
			continue;
		}
		before = c.i;
		a_address(&c);
		if (c.i == before)
			c.i++;
	}
	return c.head;
}
