#include "mime_header.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"
#include "mime_decode.h"

/* ---- small helpers --------------------------------------------------------- */

/* strchr() that does not match the terminating NUL. */
static bool in_set(unsigned char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- iteration over fields ---------------------------------------------- */

/* The line at pos: *content_end excludes the line ending, *next is the
 * start of the following line (len at the end). */
static void line_at(const unsigned char *data, size_t len, size_t pos, size_t *content_end,
                    size_t *next)
{
	const unsigned char *nl = memchr(data + pos, '\n', len - pos);

	if (nl == NULL) {
		*content_end = len;
		*next = len;
		return;
	}
	*next = (size_t)(nl - data) + 1;
	*content_end = (size_t)(nl - data);
	if (*content_end > pos && data[*content_end - 1] == '\r')
		(*content_end)--;
}

void mime_header_iter_init(struct mime_header_iter *iter, const unsigned char *hdr, size_t len)
{
	iter->data = hdr;
	iter->len = len;
	iter->pos = 0;
	iter->done = false;
}

int mime_header_iter_next(struct mime_header_iter *iter, struct mime_header_field *field_r)
{
	const unsigned char *d = iter->data;
	size_t start = iter->pos, cend, next, colon, vstart, vend;
	const unsigned char *c;

	if (iter->done || start >= iter->len)
		return 0;
	line_at(d, iter->len, start, &cend, &next);
	if (cend == start) {
		/* The blank line that ends the header. */
		iter->done = true;
		return 0;
	}
	memset(field_r, 0, sizeof(*field_r));
	c = d[start] == ' ' || d[start] == '\t' ? NULL : memchr(d + start, ':', cend - start);
	colon = c != NULL ? (size_t)(c - d) : cend;
	if (c != NULL) {
		size_t nend = colon;

		/* obs-optional: white space before the colon is allowed. */
		while (nend > start && (d[nend - 1] == ' ' || d[nend - 1] == '\t'))
			nend--;
		field_r->name = d + start;
		field_r->name_len = nend - start;
		for (size_t i = start; i < nend; i++) {
			if (d[i] <= ' ' || d[i] == 0x7f) {
				/* "counter to RFC 2822, there's no: x" is text,
				 * not a field called "counter to ...". */
				field_r->name_len = 0;
				break;
			}
		}
	}
	vstart = c != NULL ? colon + 1 : start;
	while (vstart < cend && (d[vstart] == ' ' || d[vstart] == '\t'))
		vstart++;
	vend = cend;
	/* Continuation lines start with white space (RFC 5322 §2.2.3). */
	while (next < iter->len && (d[next] == ' ' || d[next] == '\t')) {
		size_t lend, lnext;

		line_at(d, iter->len, next, &lend, &lnext);
		vend = lend;
		next = lnext;
	}
	if (field_r->name_len == 0) {
		field_r->name = NULL;
		vstart = start;
	}
	field_r->value = d + vstart;
	field_r->value_len = vend > vstart ? vend - vstart : 0;
	field_r->off = start;
	field_r->len = next - start;
	iter->pos = next;
	return 1;
}

bool mime_header_field_is(const struct mime_header_field *field, const char *name)
{
	size_t n = strlen(name);

	return field->name != NULL && field->name_len == n &&
	       strncasecmp((const char *)field->name, name, n) == 0;
}

int mime_header_find(const unsigned char *hdr, size_t len, const char *name, bool last,
                     struct mime_header_field *field_r)
{
	struct mime_header_iter iter;
	struct mime_header_field f;
	int found = 0;

	mime_header_iter_init(&iter, hdr, len);
	while (mime_header_iter_next(&iter, &f) > 0) {
		if (mime_header_field_is(&f, name)) {
			*field_r = f;
			found = 1;
			if (!last)
				break;
		}
	}
	return found;
}

char *mime_header_unfold(struct pool *pool, const unsigned char *value, size_t len, size_t *len_r)
{
	char *out = pool_alloc(pool, len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (value[i] != '\r' && value[i] != '\n')
			out[o++] = (char)value[i];
	}
	out[o] = '\0';
	*len_r = o;
	return out;
}

/* ---- RFC 2047 encoded-words ---------------------------------------------- */

struct encoded_word {
	const unsigned char *charset;
	size_t charset_len;     /* without an RFC 2231 "*language" suffix */
	unsigned char encoding; /* 'B' or 'Q' */
	const unsigned char *text;
	size_t text_len;
	size_t end; /* offset just after "?=" */
};

static bool ew_charset_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && !in_set(c, "?=()<>@,;:\"/[]\\");
}

/* Parses "=?charset?e?text?=" at value[i]; text is printable ASCII other
 * than '?' and space (RFC 2047 §2). */
static bool ew_parse(const unsigned char *v, size_t len, size_t i, struct encoded_word *ew)
{
	size_t j = i + 2, cs = i + 2, star;

	while (j < len && ew_charset_char(v[j]))
		j++;
	if (j == cs || j + 4 > len || v[j] != '?')
		return false;
	for (star = cs; star < j && v[star] != '*'; star++)
		;
	if (star == cs)
		return false;
	ew->charset = v + cs;
	ew->charset_len = star - cs;
	j++;
	if (v[j] != 'B' && v[j] != 'b' && v[j] != 'Q' && v[j] != 'q')
		return false;
	ew->encoding = (unsigned char)(v[j] & ~0x20);
	if (v[j + 1] != '?')
		return false;
	j += 2;
	ew->text = v + j;
	while (j < len && v[j] > ' ' && v[j] < 0x7f && v[j] != '?')
		j++;
	if (j + 1 >= len || v[j] != '?' || v[j + 1] != '=')
		return false;
	ew->text_len = (size_t)(v + j - ew->text);
	ew->end = j + 2;
	return true;
}

static bool ew_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Decodes the encoded text of a word and appends the octets to raw. */
static void ew_decode(const struct encoded_word *ew, struct buf *raw)
{
	unsigned char tmp[256];
	size_t i = 0;

	if (ew->encoding == 'B') {
		/* In one go: chunks might split a quantum. Lenient: a missing
		 * '=' padding is forgiven. */
		unsigned char *out = ew->text_len <= sizeof(tmp) ? tmp : malloc(ew->text_len);

		if (out == NULL)
			panic("mime_header: out of memory decoding %zu bytes", ew->text_len);
		(void)buf_append(raw, out, mime_decode_base64_lenient(ew->text, ew->text_len, out));
		if (out != tmp)
			free(out);
		return;
	}
	while (i < ew->text_len) {
		size_t o = 0;

		while (i < ew->text_len && o < sizeof(tmp)) {
			unsigned char c = ew->text[i++];

			if (c == '_') {
				c = ' '; /* RFC 2047 §4.2 (2) */
			} else if (c == '=' && i + 1 < ew->text_len &&
			           hex_digit(ew->text[i]) >= 0 && hex_digit(ew->text[i + 1]) >= 0) {
				c = (unsigned char)(hex_digit(ew->text[i]) * 16 +
				                    hex_digit(ew->text[i + 1]));
				i += 2;
			}
			tmp[o++] = c;
		}
		(void)buf_append(raw, tmp, o);
	}
}

/* Appends ordinary header text, dropping the CR and LF of folds. */
static void ew_append_text(struct buf *out, const unsigned char *v, size_t start, size_t end)
{
	size_t seg = start;

	for (size_t i = start; i < end; i++) {
		if (v[i] == '\r' || v[i] == '\n') {
			(void)mime_decode_utf8_append(out, v + seg, i - seg);
			seg = i + 1;
		}
	}
	(void)mime_decode_utf8_append(out, v + seg, end - seg);
}

char *mime_header_decode_words(struct pool *pool, const unsigned char *v, size_t len, size_t *len_r)
{
	struct buf out, raw;
	const unsigned char *charset = NULL;
	size_t charset_len = 0, run_start = 0, last_end = SIZE_MAX;
	bool group = false;
	char *ret;

	buf_init(&out, 0);
	buf_init(&raw, 0);
	for (size_t i = 0; i + 1 < len;) {
		struct encoded_word ew;
		bool adjacent;

		if (v[i] != '=' || v[i + 1] != '?' ||
		    !(i == 0 || i == last_end || in_set(v[i - 1], " \t\r\n(\"")) ||
		    !ew_parse(v, len, i, &ew) ||
		    !(ew.end == len || in_set(v[ew.end], " \t\r\n)\",;>") ||
		      (v[ew.end] == '=' && ew.end + 1 < len && v[ew.end + 1] == '?'))) {
			i++;
			continue;
		}
		/* Only white space since the previous word: drop it (§6.2). */
		adjacent = group;
		for (size_t j = run_start; adjacent && j < i; j++)
			adjacent = ew_space(v[j]);
		if (group && !(adjacent && ew.charset_len == charset_len &&
		               strncasecmp((const char *)ew.charset, (const char *)charset,
		                           charset_len) == 0)) {
			(void)mime_decode_to_utf8(&out, (const char *)charset, charset_len,
			                          (const unsigned char *)raw.data, raw.len);
			buf_reset(&raw);
			group = false;
		}
		if (!adjacent)
			ew_append_text(&out, v, run_start, i);
		if (!group) {
			charset = ew.charset;
			charset_len = ew.charset_len;
			group = true;
		}
		ew_decode(&ew, &raw);
		i = ew.end;
		last_end = ew.end;
		run_start = ew.end;
	}
	if (group)
		(void)mime_decode_to_utf8(&out, (const char *)charset, charset_len,
		                          (const unsigned char *)raw.data, raw.len);
	ew_append_text(&out, v, run_start, len);
	ret = pool_alloc(pool, out.len + 1);
	if (out.len > 0)
		memcpy(ret, out.data, out.len);
	*len_r = out.len;
	buf_free(&out);
	buf_free(&raw);
	return ret;
}

/* ---- structured values: Content-Type and friends ------------------------- */

struct cursor {
	const unsigned char *p;
	size_t len, i;
};

static bool is_ctl(unsigned char c)
{
	return c < ' ' || c == 0x7f;
}

static bool is_tspecial(unsigned char c)
{
	return in_set(c, "()<>@,;:\\\"/[]?=");
}

static void skip_comment(struct cursor *c)
{
	unsigned int depth = 0;

	while (c->i < c->len) {
		unsigned char ch = c->p[c->i++];

		if (ch == '\\') {
			if (c->i < c->len)
				c->i++;
		} else if (ch == '(') {
			depth++;
		} else if (ch == ')') {
			if (depth <= 1)
				return;
			depth--;
		}
	}
}

static void skip_cfws(struct cursor *c)
{
	while (c->i < c->len) {
		unsigned char ch = c->p[c->i];

		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			c->i++;
		else if (ch == '(')
			skip_comment(c);
		else
			break;
	}
}

/* An RFC 2045 token; type names must also be ASCII. */
static size_t scan_token(struct cursor *c, bool ascii_only)
{
	size_t start = c->i;

	while (c->i < c->len) {
		unsigned char ch = c->p[c->i];

		if (is_ctl(ch) || ch == ' ' || is_tspecial(ch) || (ascii_only && ch >= 0x80))
			break;
		c->i++;
	}
	return c->i - start;
}

/* An unquoted parameter value, leniently: "boundary=----=_Part_1" and
 * "type=multipart/alternative" are everyday mail. */
static size_t scan_value(struct cursor *c)
{
	size_t start = c->i;

	while (c->i < c->len) {
		unsigned char ch = c->p[c->i];

		if (is_ctl(ch) || ch == ' ' || ch == ';' || ch == '"' || ch == '(')
			break;
		c->i++;
	}
	return c->i - start;
}

static void skip_quoted(struct cursor *c);

/* A quoted-string at c->i ('"'): returns its content unescaped and unfolded
 * (pool), to the end of the value when the closing quote is missing. */
static char *scan_quoted(struct pool *pool, struct cursor *c, size_t *len_r)
{
	struct cursor end = *c;
	char *out;
	size_t o = 0;

	skip_quoted(&end); /* to size the copy: at most the quoted text */
	out = pool_alloc(pool, end.i - c->i + 1);
	c->i++;
	while (c->i < c->len) {
		unsigned char ch = c->p[c->i++];

		if (ch == '"')
			break;
		if (ch == '\\' && c->i < c->len)
			ch = c->p[c->i++];
		if (ch == '\r' || ch == '\n')
			continue;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	*len_r = o;
	return out;
}

static void skip_quoted(struct cursor *c)
{
	c->i++;
	while (c->i < c->len) {
		unsigned char ch = c->p[c->i++];

		if (ch == '"')
			break;
		if (ch == '\\' && c->i < c->len)
			c->i++;
	}
}

/* Skips to the next ';' that is not inside a quoted string or comment. */
static void skip_to_semicolon(struct cursor *c)
{
	while (c->i < c->len && c->p[c->i] != ';') {
		if (c->p[c->i] == '"')
			skip_quoted(c);
		else if (c->p[c->i] == '(')
			skip_comment(c);
		else
			c->i++;
	}
}

static char *pool_copy(struct pool *pool, const unsigned char *data, size_t len)
{
	char *s = pool_alloc(pool, len + 1);

	if (len > 0)
		memcpy(s, data, len);
	return s;
}

/* Recognises an RFC 2231 continuation name: base "*" digits ["*"]. */
static bool continuation_name(const char *name, size_t len, size_t *base_len_r,
                              unsigned int *index_r, bool *extended_r)
{
	size_t n = len, d;
	unsigned int idx = 0;

	*extended_r = false;
	if (n > 0 && name[n - 1] == '*') {
		*extended_r = true;
		n--;
	}
	for (d = n; d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9'; d--)
		;
	if (d == n || n - d > 4 || d < 2 || name[d - 1] != '*')
		return false;
	for (size_t i = d; i < n; i++)
		idx = idx * 10 + (unsigned int)(name[i] - '0');
	*base_len_r = d - 1;
	*index_r = idx;
	return true;
}

struct star_key {
	unsigned int i;   /* index into the raw parameters */
	size_t base_len;  /* name without "*N", "*N*" or "*" */
	unsigned int idx; /* continuation number, 0 if none */
	bool joinable;    /* name is base*, base*N or base*N* */
	const struct mime_param *raw;
};

static int star_cmp(const void *va, const void *vb)
{
	const struct star_key *a = va, *b = vb;
	size_t n = a->base_len < b->base_len ? a->base_len : b->base_len;
	int r = strncasecmp(a->raw[a->i].name, b->raw[b->i].name, n);

	if (r != 0)
		return r;
	if (a->base_len != b->base_len)
		return a->base_len < b->base_len ? -1 : 1;
	if (a->idx != b->idx)
		return a->idx < b->idx ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i ? 1 : 0; /* stable */
}

/* Orders the raw parameters as the stored BODYSTRUCTURE shows them, into
 * ct (pool): plain names first in their order, then the names holding '*'
 * (RFC 2231) sorted by name and continuation number, continuations joined
 * into one parameter (see mime_header_parse_content_type). */
static void join_continuations(struct pool *pool, const struct mime_param *raw, unsigned int n,
                               struct mime_content *ct)
{
	struct star_key keys[MIME_HEADER_MAX_PARAMS];
	struct mime_param *res = pool_alloc(pool, n * sizeof(*res));
	unsigned int out = 0, m = 0;

	for (unsigned int i = 0; i < n; i++) {
		const char *name = raw[i].name;
		size_t len = raw[i].name_len;
		const char *star = memchr(name, '*', len);
		struct star_key *k = &keys[m];
		bool ext;

		if (star == NULL) {
			res[out++] = raw[i];
			continue;
		}
		k->i = i;
		k->raw = raw;
		k->idx = 0;
		if (continuation_name(name, len, &k->base_len, &k->idx, &ext)) {
			k->joinable = true;
		} else {
			k->base_len = (size_t)(star - name);
			k->joinable = star == name + len - 1;
		}
		m++;
	}
	qsort(keys, m, sizeof(keys[0]), star_cmp);
	for (unsigned int a = 0; a < m;) {
		unsigned int b = a + 1, last_idx;
		const struct mime_param *first = &raw[keys[a].i];
		size_t total = 0, o = 0;
		char *value;

		while (b < m && keys[a].joinable && keys[b].joinable &&
		       keys[b].base_len == keys[a].base_len &&
		       strncasecmp(raw[keys[b].i].name, first->name, keys[a].base_len) == 0)
			b++;
		if (b == a + 1) {
			res[out++] = *first;
			a = b;
			continue;
		}
		for (unsigned int k = a; k < b; k++) {
			if (k == a || keys[k].idx != keys[k - 1].idx)
				total += raw[keys[k].i].value_len;
		}
		value = pool_alloc(pool, total + 1);
		last_idx = 0;
		for (unsigned int k = a; k < b; k++) {
			const struct mime_param *p = &raw[keys[k].i];

			if (k > a && keys[k].idx == last_idx)
				continue; /* a repeated piece: the first counts */
			last_idx = keys[k].idx;
			if (p->value_len > 0)
				memcpy(value + o, p->value, p->value_len);
			o += p->value_len;
		}
		/* Called name* when the first piece was extended (name*0*). */
		res[out].name_len = keys[a].base_len + (first->name[first->name_len - 1] == '*');
		res[out].name =
		    pool_copy(pool, (const unsigned char *)first->name, res[out].name_len);
		if (res[out].name_len > keys[a].base_len)
			res[out].name[keys[a].base_len] = '*';
		res[out].value = value;
		res[out].value_len = total;
		out++;
		a = b;
	}
	ct->params = res;
	ct->param_count = out;
}

static void parse_params(struct pool *pool, struct cursor *c, unsigned int *budget,
                         struct mime_content *ct)
{
	struct mime_param raw[MIME_HEADER_MAX_PARAMS];
	unsigned int count = 0, max = MIME_HEADER_MAX_PARAMS;

	if (budget != NULL && *budget < max)
		max = *budget;
	while (count < max) {
		size_t nstart, nlen;
		struct mime_param *p;

		skip_to_semicolon(c);
		if (c->i >= c->len)
			break;
		c->i++;
		skip_cfws(c);
		nstart = c->i;
		nlen = scan_token(c, false);
		if (nlen == 0)
			continue;
		skip_cfws(c);
		if (c->i >= c->len || c->p[c->i] != '=')
			continue; /* a parameter without value is dropped */
		c->i++;
		skip_cfws(c);
		p = &raw[count++];
		p->name = pool_copy(pool, c->p + nstart, nlen);
		p->name_len = nlen;
		if (c->i < c->len && c->p[c->i] == '"') {
			p->value = scan_quoted(pool, c, &p->value_len);
		} else {
			size_t vstart = c->i;

			p->value_len = scan_value(c);
			p->value = pool_copy(pool, c->p + vstart, p->value_len);
		}
	}
	if (budget != NULL)
		*budget -= count;
	if (count > 0)
		join_continuations(pool, raw, count, ct);
}

int mime_header_parse_content_type(struct pool *pool, const unsigned char *value, size_t len,
                                   unsigned int *param_budget, struct mime_content *ct_r)
{
	struct cursor c = {value, len, 0};
	size_t tstart, tlen, sstart = 0, slen = 0;

	memset(ct_r, 0, sizeof(*ct_r));
	skip_cfws(&c);
	tstart = c.i;
	tlen = scan_token(&c, true);
	skip_cfws(&c);
	if (c.i < c.len && c.p[c.i] == '/') {
		c.i++;
		skip_cfws(&c);
		sstart = c.i;
		slen = scan_token(&c, true);
	}
	if (tlen > 0) {
		ct_r->type = pool_copy(pool, value + tstart, tlen);
		ct_r->type_len = tlen;
	}
	if (slen > 0) {
		ct_r->subtype = pool_copy(pool, value + sstart, slen);
		ct_r->subtype_len = slen;
	}
	parse_params(pool, &c, param_budget, ct_r);
	return tlen > 0 && slen > 0 ? 0 : -1;
}

void mime_header_parse_disposition(struct pool *pool, const unsigned char *value, size_t len,
                                   unsigned int *param_budget, struct mime_content *ct_r)
{
	struct cursor c = {value, len, 0};
	size_t tstart, tlen;

	memset(ct_r, 0, sizeof(*ct_r));
	skip_cfws(&c);
	tstart = c.i;
	tlen = scan_token(&c, false);
	if (tlen > 0) {
		ct_r->type = pool_copy(pool, value + tstart, tlen);
		ct_r->type_len = tlen;
	}
	parse_params(pool, &c, param_budget, ct_r);
}

const struct mime_param *mime_header_param_find(const struct mime_content *ct, const char *name)
{
	size_t n = strlen(name);

	for (unsigned int i = 0; i < ct->param_count; i++) {
		if (ct->params[i].name_len == n && strncasecmp(ct->params[i].name, name, n) == 0)
			return &ct->params[i];
	}
	return NULL;
}

char *mime_header_param_decode(struct pool *pool, const struct mime_content *ct, const char *name,
                               size_t *len_r)
{
	const struct mime_param *p = mime_header_param_find(ct, name);
	const char *v, *q1, *q2, *charset = NULL;
	size_t vlen, charset_len = 0, o = 0;
	unsigned char *raw;
	struct buf out;
	char *ret;

	if (p != NULL)
		return mime_header_decode_words(pool, (const unsigned char *)p->value, p->value_len,
		                                len_r);
	p = mime_header_param_find(ct, pool_printf(pool, "%s*", name));
	if (p == NULL)
		return NULL;
	/* RFC 2231 §4: charset'language'%-encoded-octets */
	v = p->value;
	vlen = p->value_len;
	q1 = memchr(v, '\'', vlen);
	q2 = q1 != NULL ? memchr(q1 + 1, '\'', vlen - (size_t)(q1 + 1 - v)) : NULL;
	if (q2 != NULL) {
		charset = v;
		charset_len = (size_t)(q1 - v);
		vlen -= (size_t)(q2 + 1 - v);
		v = q2 + 1;
	}
	raw = pool_alloc(pool, vlen + 1);
	for (size_t i = 0; i < vlen; i++) {
		if (v[i] == '%' && i + 2 < vlen && hex_digit((unsigned char)v[i + 1]) >= 0 &&
		    hex_digit((unsigned char)v[i + 2]) >= 0) {
			raw[o++] = (unsigned char)(hex_digit((unsigned char)v[i + 1]) * 16 +
			                           hex_digit((unsigned char)v[i + 2]));
			i += 2;
		} else {
			raw[o++] = (unsigned char)v[i];
		}
	}
	buf_init(&out, 0);
	(void)mime_decode_to_utf8(&out, charset, charset_len, raw, o);
	ret = pool_copy(pool, (const unsigned char *)out.data, out.len);
	*len_r = out.len;
	buf_free(&out);
	return ret;
}

const unsigned char *mime_header_first_token(const unsigned char *value, size_t len, size_t *len_r)
{
	struct cursor c = {value, len, 0};
	size_t start, n;

	skip_cfws(&c);
	start = c.i;
	n = scan_token(&c, false);
	*len_r = n;
	return n > 0 ? value + start : NULL;
}

unsigned int mime_header_parse_language(struct pool *pool, const unsigned char *value, size_t len,
                                        char **langs, unsigned int max)
{
	struct cursor c = {value, len, 0};
	unsigned int n = 0;

	while (c.i < c.len && n < max) {
		size_t start, tlen;

		skip_cfws(&c);
		start = c.i;
		while (c.i < c.len && c.p[c.i] != ',' && c.p[c.i] != '(' && !is_ctl(c.p[c.i]) &&
		       c.p[c.i] != ' ' && c.p[c.i] != '"' && c.p[c.i] != ';')
			c.i++;
		tlen = c.i - start;
		if (tlen > 0)
			langs[n++] = pool_copy(pool, value + start, tlen);
		skip_cfws(&c);
		if (c.i < c.len && c.p[c.i] != ',' && tlen == 0)
			c.i++; /* stray character: always make progress */
		else if (c.i < c.len && c.p[c.i] == ',')
			c.i++;
	}
	return n;
}

/* ---- dates ---------------------------------------------------------------- */

static bool d_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool d_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Reads a run of letters; returns its length (the word is not copied). */
static size_t d_word(struct cursor *c, const unsigned char **w)
{
	size_t start = c->i;

	while (c->i < c->len && d_alpha(c->p[c->i]))
		c->i++;
	*w = c->p + start;
	return c->i - start;
}

/* Reads up to max digits; returns how many were read. */
static unsigned int d_number(struct cursor *c, unsigned int max, unsigned int *v)
{
	unsigned int n = 0;

	*v = 0;
	while (c->i < c->len && d_digit(c->p[c->i]) && n < max) {
		*v = *v * 10 + (unsigned int)(c->p[c->i] - '0');
		c->i++;
		n++;
	}
	return n;
}

static int d_lookup(const unsigned char *w, size_t n, const char *const *names, int count)
{
	if (n < 3)
		return -1;
	for (int i = 0; i < count; i++) {
		if (strncasecmp((const char *)w, names[i], 3) == 0)
			return i;
	}
	return -1;
}

static const char *const d_months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const d_days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* Minutes east of UTC for the zone names of RFC 5322 §4.3; military
 * letters and unknown names give 0 (that section says -0000). */
static int d_zone_name(const unsigned char *w, size_t n)
{
	static const struct {
		const char *name;
		int minutes;
	} zones[] = {
	    {"UT", 0},        {"GMT", 0},       {"UTC", 0},       {"EST", -5 * 60},
	    {"EDT", -4 * 60}, {"CST", -6 * 60}, {"CDT", -5 * 60}, {"MST", -7 * 60},
	    {"MDT", -6 * 60}, {"PST", -8 * 60}, {"PDT", -7 * 60},
	};

	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (strlen(zones[i].name) == n &&
		    strncasecmp((const char *)w, zones[i].name, n) == 0)
			return zones[i].minutes;
	}
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic, so
 * no loop over years). */
static int64_t d_days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static unsigned int d_month_days(unsigned int y, unsigned int m)
{
	static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Reads "hh:mm[:ss]" with optional CFWS around the colons (obs-time). */
static bool d_time(struct cursor *c, unsigned int *h, unsigned int *mi, unsigned int *s)
{
	if (d_number(c, 2, h) == 0)
		return false;
	skip_cfws(c);
	if (c->i >= c->len || c->p[c->i] != ':')
		return false;
	c->i++;
	skip_cfws(c);
	if (d_number(c, 2, mi) != 2)
		return false;
	*s = 0;
	{
		size_t save = c->i;

		skip_cfws(c);
		if (c->i < c->len && c->p[c->i] == ':') {
			c->i++;
			skip_cfws(c);
			if (d_number(c, 2, s) != 2)
				return false;
		} else {
			c->i = save;
		}
	}
	return *h <= 23 && *mi <= 59 && *s <= 60;
}

static unsigned int d_year(unsigned int y, unsigned int digits)
{
	if (digits == 2)
		return y < 50 ? 2000 + y : 1900 + y; /* RFC 5322 §4.3 */
	if (digits == 3)
		return 1900 + y;
	return y;
}

time_t mime_header_parse_date(const unsigned char *value, size_t len, int *tz_minutes_r)
{
	struct cursor c = {value, len, 0};
	const unsigned char *w;
	size_t wlen;
	unsigned int day, month = 0, year = 0, ydigits, h, mi, s;
	int tz = 0, m;
	bool month_first = false;

	if (tz_minutes_r != NULL)
		*tz_minutes_r = 0;
	skip_cfws(&c);
	if (c.i < c.len && d_alpha(c.p[c.i])) {
		wlen = d_word(&c, &w);
		if (d_lookup(w, wlen, d_days, 7) < 0)
			return -1;
		skip_cfws(&c);
		if (c.i < c.len && c.p[c.i] == ',')
			c.i++;
		skip_cfws(&c);
		if (c.i < c.len && d_alpha(c.p[c.i])) {
			/* asctime order: Thu Feb 13 23:32:00 1969 */
			wlen = d_word(&c, &w);
			if ((m = d_lookup(w, wlen, d_months, 12)) < 0)
				return -1;
			month = (unsigned int)m + 1;
			month_first = true;
		}
	}
	skip_cfws(&c);
	if (d_number(&c, 2, &day) == 0 || (c.i < c.len && d_digit(c.p[c.i])))
		return -1;
	skip_cfws(&c);
	if (!month_first) {
		if (c.i < c.len && c.p[c.i] == '-')
			c.i++; /* 21-Nov-97 */
		skip_cfws(&c);
		wlen = d_word(&c, &w);
		if ((m = d_lookup(w, wlen, d_months, 12)) < 0)
			return -1;
		month = (unsigned int)m + 1;
		skip_cfws(&c);
		if (c.i < c.len && c.p[c.i] == '-')
			c.i++;
		skip_cfws(&c);
		ydigits = d_number(&c, 5, &year);
		if (ydigits < 2 || (c.i < c.len && d_digit(c.p[c.i])))
			return -1;
		year = d_year(year, ydigits);
		skip_cfws(&c);
		if (!d_time(&c, &h, &mi, &s))
			return -1;
	} else {
		if (!d_time(&c, &h, &mi, &s))
			return -1;
		skip_cfws(&c);
		if (c.i < c.len && d_alpha(c.p[c.i])) {
			wlen = d_word(&c, &w); /* a zone before the year */
			tz = d_zone_name(w, wlen);
			skip_cfws(&c);
		}
		ydigits = d_number(&c, 5, &year);
		if (ydigits < 2)
			return -1;
		year = d_year(year, ydigits);
	}
	skip_cfws(&c);
	if (c.i < c.len && (c.p[c.i] == '+' || c.p[c.i] == '-')) {
		int sign = c.p[c.i] == '-' ? -1 : 1;
		unsigned int zone;

		c.i++;
		if (d_number(&c, 4, &zone) != 4 || zone % 100 > 59)
			return -1;
		tz = sign * (int)((zone / 100) * 60 + zone % 100);
	} else if (c.i < c.len && d_alpha(c.p[c.i])) {
		wlen = d_word(&c, &w);
		tz = d_zone_name(w, wlen);
	}
	if (year < 1900 || year > 9999 || day < 1 || day > d_month_days(year, month))
		return -1;
	if (tz_minutes_r != NULL)
		*tz_minutes_r = tz;
	return (time_t)(d_days_from_civil(year, month, day) * 86400 + (int64_t)h * 3600 +
	                (int64_t)mi * 60 + s - (int64_t)tz * 60);
}

/* ---- HEADER.FIELDS -------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

static bool name_listed(const char *const *sorted, size_t count, const unsigned char *name,
                        size_t len)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *s = sorted[mid];
		size_t slen = strlen(s);
		int r = strncasecmp((const char *)name, s, len < slen ? len : slen);

		if (r == 0)
			r = len < slen ? -1 : len > slen ? 1 : 0;
		if (r == 0)
			return true;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

void mime_header_filter(struct pool *pool, const unsigned char *hdr, size_t len,
                        const char *const *names, size_t count, bool exclude, unsigned char **out_r,
                        size_t *outlen_r)
{
	const char **sorted = pool_alloc(pool, (count + 1) * sizeof(*sorted));
	unsigned char *out = pool_alloc(pool, len + 5);
	const unsigned char *nl = memchr(hdr, '\n', len);
	bool crlf = nl == NULL || (nl > hdr && nl[-1] == '\r');
	struct mime_header_iter iter;
	struct mime_header_field f;
	size_t o = 0;

	for (size_t i = 0; i < count; i++)
		sorted[i] = names[i];
	qsort(sorted, count, sizeof(*sorted), name_cmp);
	mime_header_iter_init(&iter, hdr, len);
	while (mime_header_iter_next(&iter, &f) > 0) {
		bool listed = f.name_len > 0 && name_listed(sorted, count, f.name, f.name_len);

		if (listed == exclude)
			continue;
		memcpy(out + o, hdr + f.off, f.len);
		o += f.len;
		if (hdr[f.off + f.len - 1] != '\n') {
			/* Only the last line of a header without a blank
			 * line can lack its line ending. */
			if (crlf)
				out[o++] = '\r';
			out[o++] = '\n';
		}
	}
	if (crlf)
		out[o++] = '\r';
	out[o++] = '\n';
	out[o] = '\0';
	*out_r = out;
	*outlen_r = o;
}
