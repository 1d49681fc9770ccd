#include "fetch_parse.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap_parser.h"
#include "pool.h"

/* Items named by one word. RFC822 and RFC822.TEXT set \Seen like BODY[]
 * and BODY[TEXT]; RFC822.HEADER is BODY.PEEK[HEADER] (§6.4.5). */
static const struct {
	const char *name;
	enum fetch_att att;
	const char *section; /* for FETCH_ATT_SECTION */
	bool peek;
} simple_items[] = {
    {"UID", FETCH_ATT_UID, NULL, false},
    {"FLAGS", FETCH_ATT_FLAGS, NULL, false},
    {"INTERNALDATE", FETCH_ATT_INTERNALDATE, NULL, false},
    {"RFC822.SIZE", FETCH_ATT_RFC822_SIZE, NULL, false},
    {"ENVELOPE", FETCH_ATT_ENVELOPE, NULL, false},
    {"BODY", FETCH_ATT_BODY, NULL, false},
    {"BODYSTRUCTURE", FETCH_ATT_BODYSTRUCTURE, NULL, false},
    {"RFC822", FETCH_ATT_SECTION, "", false},
    {"RFC822.HEADER", FETCH_ATT_SECTION, "HEADER", true},
    {"RFC822.TEXT", FETCH_ATT_SECTION, "TEXT", false},
    {"MODSEQ", FETCH_ATT_MODSEQ, NULL, false},
};
#define N_SIMPLE (sizeof(simple_items) / sizeof(simple_items[0]))

/* The macros (§6.4.5) stand for these items; they are valid only alone. */
static const char *const macro_all[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", NULL};
static const char *const macro_fast[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", NULL};
static const char *const macro_full[] = {"FLAGS",    "INTERNALDATE", "RFC822.SIZE",
                                         "ENVELOPE", "BODY",         NULL};

static const char *const *find_macro(const char *s)
{
	if (strcasecmp(s, "ALL") == 0)
		return macro_all;
	if (strcasecmp(s, "FAST") == 0)
		return macro_fast;
	if (strcasecmp(s, "FULL") == 0)
		return macro_full;
	return NULL;
}

/* Case-insensitive prefix match; advances *p past it. */
static bool skip_word(const char **p, const char *word)
{
	size_t n = strlen(word);

	if (strncasecmp(*p, word, n) != 0)
		return false;
	*p += n;
	return true;
}

/* ATOM-CHAR of RFC 3501 §9: any CHAR except atom-specials. */
static bool atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

/* Parses a decimal number of at most 32 bits at *p. nz: nz-number (no
 * leading zero, not 0). Returns 0 or -1. */
static int parse_number(const char **p, bool nz, uint32_t *v_r)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s) || (nz && *s == '0'))
		return -1;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
		s++;
	}
	*p = s;
	*v_r = (uint32_t)v;
	return 0;
}

/* Appends a header field name to the response name: uppercased, as an
 * atom when it can be one, else as a quoted string. */
static void canon_field(struct buf *b, const char *name, size_t len)
{
	bool atom = true;

	for (size_t i = 0; i < len; i++)
		if (!atom_char((unsigned char)name[i]))
			atom = false;
	if (atom) {
		(void)buf_append(b, name, len); /* unlimited buffer */
		return;
	}
	(void)buf_append(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '"' || name[i] == '\\')
			(void)buf_append(b, "\\", 1);
		(void)buf_append(b, &name[i], 1);
	}
	(void)buf_append(b, "\"", 1);
}

/* header-list = "(" header-fld-name *(SP header-fld-name) ")", each name an
 * astring (atom or quoted string; the wire parser refuses literals inside
 * [...]). Names are stored uppercased and unquoted. */
static int parse_fields(struct pool *pool, const char **pp, struct fetch_item *it,
                        struct buf *canon, const char **error_r)
{
	const char *p = *pp;
	const char **fields = pool_alloc(pool, FETCH_MAX_FIELDS * sizeof(*fields));
	char name[FETCH_MAX_FIELD_LEN + 1];
	unsigned n = 0;

	if (*p++ != '(') {
		*error_r = "Expected a list of header field names";
		return -1;
	}
	(void)buf_append(canon, "(", 1);
	for (;;) {
		size_t len = 0;

		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				else if (*p == '\0' || *p == '\\' || *p == '\r' || *p == '\n' ||
				         (unsigned char)*p >= 0x80) {
					*error_r = "Invalid quoted header field name";
					return -1;
				}
				if (len == FETCH_MAX_FIELD_LEN) {
					*error_r = "Header field name too long";
					return -1;
				}
				name[len++] = (char)toupper((unsigned char)*p);
			}
			p++;
		} else {
			/* ASTRING-CHAR: atom characters and ']' */
			while (atom_char((unsigned char)*p) || *p == ']') {
				if (len == FETCH_MAX_FIELD_LEN) {
					*error_r = "Header field name too long";
					return -1;
				}
				name[len++] = (char)toupper((unsigned char)*p++);
			}
		}
		if (len == 0) {
			*error_r = "Empty header field name";
			return -1;
		}
		if (n == FETCH_MAX_FIELDS) {
			*error_r = "Too many header field names";
			return -1;
		}
		fields[n++] = pool_strndup(pool, name, len);
		if (n > 1)
			(void)buf_append(canon, " ", 1);
		canon_field(canon, name, len);
		if (*p == ')')
			break;
		if (*p != ' ') {
			*error_r = "Invalid header field list";
			return -1;
		}
		p++;
	}
	(void)buf_append(canon, ")", 1);
	*pp = p + 1;
	it->fields = fields;
	it->nfields = n;
	return 0;
}

/* section-spec after "BODY[" or "BODY.PEEK[" (s), through "]" and an
 * optional partial "<origin.count>" to the end of the atom. */
static int parse_section(struct pool *pool, const char *s, struct fetch_item *it,
                         const char **error_r)
{
	struct buf canon, sec;
	const char *p = s;
	unsigned depth = 0;
	bool dot = false;
	int ret = -1;

	buf_init(&canon, 0);
	buf_init(&sec, 0);
	*error_r = "Invalid section";
	while (isdigit((unsigned char)*p)) {
		uint32_t num;

		if (parse_number(&p, true, &num) < 0) {
			*error_r = "Invalid section part number";
			goto out;
		}
		if (++depth > FETCH_MAX_PART_DEPTH) {
			*error_r = "Section part nested too deeply";
			goto out;
		}
		(void)buf_printf(&sec, "%s%u", depth > 1 ? "." : "", num);
		if (*p != '.')
			break;
		p++;
		dot = true;
		if (!isdigit((unsigned char)*p))
			break; /* section-text follows */
		dot = false;
	}
	if (dot)
		(void)buf_append(&sec, ".", 1);
	if (*p == ']') {
		if (dot)
			goto out; /* "1.]" */
	} else if (depth > 0 && !dot) {
		goto out; /* "1x]" */
	} else if (skip_word(&p, "HEADER.FIELDS")) {
		it->fields_not = skip_word(&p, ".NOT");
		(void)buf_append_str(&sec, it->fields_not ? "HEADER.FIELDS.NOT" : "HEADER.FIELDS");
		(void)buf_printf(&canon, "%s ", sec.data);
		if (*p++ != ' ' || parse_fields(pool, &p, it, &canon, error_r) < 0)
			goto out;
	} else if (skip_word(&p, "HEADER")) {
		(void)buf_append_str(&sec, "HEADER");
	} else if (skip_word(&p, "TEXT")) {
		(void)buf_append_str(&sec, "TEXT");
	} else if (depth > 0 && skip_word(&p, "MIME")) {
		(void)buf_append_str(&sec, "MIME");
	} else {
		goto out;
	}
	if (*p++ != ']')
		goto out;
	if (canon.len == 0 && sec.len > 0)
		(void)buf_append_str(&canon, sec.data);
	if (*p == '<') {
		p++;
		if (parse_number(&p, false, &it->origin) < 0 || *p++ != '.' ||
		    parse_number(&p, true, &it->count) < 0 || *p++ != '>') {
			*error_r = "Invalid partial range";
			goto out;
		}
		it->partial = true;
	}
	if (*p != '\0')
		goto out;
	it->att = FETCH_ATT_SECTION;
	it->section = pool_strdup(pool, sec.data != NULL ? sec.data : "");
	if (it->partial)
		it->name = pool_printf(pool, "BODY[%s]<%u>", canon.data != NULL ? canon.data : "",
		                       it->origin);
	else
		it->name = pool_printf(pool, "BODY[%s]", canon.data != NULL ? canon.data : "");
	ret = 0;
out:
	buf_free(&canon);
	buf_free(&sec);
	return ret;
}

static int parse_item(struct pool *pool, const char *s, struct fetch_item *it, const char **error_r)
{
	const char *p = s;

	memset(it, 0, sizeof(*it));
	for (size_t i = 0; i < N_SIMPLE; i++) {
		if (strcasecmp(s, simple_items[i].name) == 0) {
			it->att = simple_items[i].att;
			it->name = simple_items[i].name;
			it->section = simple_items[i].section;
			it->peek = simple_items[i].peek;
			return 0;
		}
	}
	if (skip_word(&p, "BODY.PEEK["))
		it->peek = true;
	else if (!skip_word(&p, "BODY[")) {
		*error_r = "Unknown FETCH item";
		return -1;
	}
	return parse_section(pool, p, it, error_r);
}

static int add_item(struct pool *pool, struct fetch_request *req, const char *s,
                    const char **error_r)
{
	struct fetch_item it;

	if (parse_item(pool, s, &it, error_r) < 0)
		return -1;
	for (unsigned i = 0; i < req->nitems; i++)
		if (strcmp(req->items[i].name, it.name) == 0) {
			/* The same answer twice: once is enough. A PEEK and a
			 * non-PEEK form share the name; the non-PEEK one sets
			 * \Seen. */
			req->items[i].peek = req->items[i].peek && it.peek;
			return 0;
		}
	if (req->nitems == FETCH_MAX_ITEMS) {
		*error_r = "Too many FETCH items";
		return -1;
	}
	req->items[req->nitems++] = it;
	return 0;
}

int fetch_parse(struct pool *pool, const struct imap_arg *arg, bool uid,
                struct fetch_request *req_r, const char **error_r)
{
	struct fetch_request req;
	const char *const *macro;

	memset(&req, 0, sizeof(req));
	/* Two more slots: the UID of UID FETCH, the MODSEQ of CHANGEDSINCE. */
	req.items = pool_alloc(pool, (FETCH_MAX_ITEMS + 2) * sizeof(*req.items));
	if (arg->type == IMAP_ARG_ATOM && (macro = find_macro(arg->str)) != NULL) {
		for (; *macro != NULL; macro++)
			if (add_item(pool, &req, *macro, error_r) < 0)
				return -1;
	} else if (arg->type == IMAP_ARG_ATOM) {
		if (add_item(pool, &req, arg->str, error_r) < 0)
			return -1;
	} else if (arg->type == IMAP_ARG_LIST) {
		if (arg->list_count == 0) {
			*error_r = "Empty FETCH item list";
			return -1;
		}
		for (unsigned i = 0; i < arg->list_count; i++) {
			const struct imap_arg *a = &arg->list[i];
			if (a->type != IMAP_ARG_ATOM) {
				*error_r = "Invalid FETCH item";
				return -1;
			}
			if (find_macro(a->str) != NULL) {
				*error_r = "FETCH macros cannot be in a list";
				return -1;
			}
			if (add_item(pool, &req, a->str, error_r) < 0)
				return -1;
		}
	} else {
		*error_r = "Invalid FETCH items";
		return -1;
	}
	if (uid) {
		bool have = false;
		for (unsigned i = 0; i < req.nitems; i++)
			have = have || req.items[i].att == FETCH_ATT_UID;
		if (!have) {
			memmove(req.items + 1, req.items, req.nitems * sizeof(*req.items));
			memset(&req.items[0], 0, sizeof(req.items[0]));
			req.items[0].att = FETCH_ATT_UID;
			req.items[0].name = "UID";
			req.nitems++;
		}
	}
	for (unsigned i = 0; i < req.nitems; i++) {
		const struct fetch_item *it = &req.items[i];
		switch (it->att) {
		case FETCH_ATT_ENVELOPE:
			req.need_envelope = true;
			break;
		case FETCH_ATT_BODY:
			req.need_body = true;
			break;
		case FETCH_ATT_BODYSTRUCTURE:
			req.need_bodystructure = true;
			break;
		case FETCH_ATT_SECTION:
			req.has_sections = true;
			req.set_seen = req.set_seen || !it->peek;
			req.need_partmap = req.need_partmap || it->section[0] != '\0';
			break;
		default:
			break;
		}
	}
	*req_r = req;
	return 0;
}

void fetch_request_want_modseq(struct fetch_request *req)
{
	/* fetch_parse reserved the slot. */
	for (unsigned i = 0; i < req->nitems; i++)
		if (req->items[i].att == FETCH_ATT_MODSEQ)
			return;
	memset(&req->items[req->nitems], 0, sizeof(req->items[0]));
	req->items[req->nitems].att = FETCH_ATT_MODSEQ;
	req->items[req->nitems].name = "MODSEQ";
	req->nitems++;
}

int fetch_parse_modseq(const char *s, bool allow_zero, uint64_t *v_r)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		if (v > (FETCH_MODSEQ_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v == 0 && !allow_zero)
		return -1;
	*v_r = v;
	return 0;
}

int fetch_parse_modifiers(const struct imap_arg *arg, bool uid, struct fetch_modifiers *mods_r,
                          const char **error_r)
{
	struct fetch_modifiers m;

	memset(&m, 0, sizeof(m));
	if (arg->type != IMAP_ARG_LIST || arg->list_count == 0) {
		*error_r = "Invalid FETCH modifiers";
		return -1;
	}
	for (unsigned i = 0; i < arg->list_count; i++) {
		const struct imap_arg *a = &arg->list[i];

		if (a->type != IMAP_ARG_ATOM) {
			*error_r = "Invalid FETCH modifier";
			return -1;
		}
		if (strcasecmp(a->str, "CHANGEDSINCE") == 0 && !m.changedsince) {
			/* chgsince-fetch-mod takes a mod-sequence-value: not 0. */
			if (i + 1 == arg->list_count || arg->list[i + 1].type != IMAP_ARG_ATOM ||
			    fetch_parse_modseq(arg->list[i + 1].str, false, &m.since) < 0) {
				*error_r = "CHANGEDSINCE needs a mod-sequence (1 to 2^63-1)";
				return -1;
			}
			m.changedsince = true;
			i++;
		} else if (strcasecmp(a->str, "VANISHED") == 0 && !m.vanished) {
			m.vanished = true;
		} else {
			*error_r = "Unknown or repeated FETCH modifier";
			return -1;
		}
	}
	/* RFC 7162 §3.2.6: VANISHED only in UID FETCH, only with CHANGEDSINCE. */
	if (m.vanished && !uid) {
		*error_r = "VANISHED is allowed only in UID FETCH";
		return -1;
	}
	if (m.vanished && !m.changedsince) {
		*error_r = "VANISHED needs CHANGEDSINCE";
		return -1;
	}
	*mods_r = m;
	return 0;
}
