#include "search_compile.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap_flags.h"
#include "imap_parser.h"
#include "pool.h"
#include "seqset.h"

/* The flag fragments below spell the bits out. */
_Static_assert(IMAP_FLAG_SEEN == 1 && IMAP_FLAG_ANSWERED == 2 && IMAP_FLAG_FLAGGED == 4 &&
		       IMAP_FLAG_DELETED == 8 && IMAP_FLAG_DRAFT == 16,
	       "flag bits of schema/0001_init.sql");

/* -- the tree ------------------------------------------------------------
 *
 * Parsing builds a small tree; compiling walks it once. A leaf is a
 * constant SQL template in which "?1", "?2", "?3" stand for the leaf's own
 * parameters (they become $n when emitted); '?' appears nowhere else in the
 * templates. AND and OR are n-ary: nested ones are flattened so that long
 * OR chains, which clients build for "any of these senders", do not become
 * deep SQL. */

enum node_kind { N_CONST, N_LEAF, N_NOT, N_AND, N_OR };

#define NODE_MAX_VALS 3

struct node {
	enum node_kind kind;
	bool value;       /* N_CONST */
	const char *tmpl; /* N_LEAF */
	const char *vals[NODE_MAX_VALS];
	unsigned nvals;
	struct node **kids; /* N_NOT (1), N_AND, N_OR (>= 2) */
	unsigned nkids;
};

struct uid_range {
	uint32_t lo, hi;
};

struct compiler {
	struct pool *pool;
	const struct search_env *env;
	unsigned keys;
	unsigned ranges;
	enum search_status status;
	const char *error;
	bool join_message;
	bool has_modseq;
	struct node *recent; /* RECENT, built once */
	/* Output. */
	struct buf sql;
	const char **params;
	unsigned nparams, cap;
};

static struct node *fail(struct compiler *c, enum search_status status, const char *error)
{
	if (c->status == SEARCH_OK) {
		c->status = status;
		c->error = error;
	}
	return NULL;
}

static struct node *node_const(struct compiler *c, bool value)
{
	struct node *n = pool_alloc(c->pool, sizeof(*n));

	n->kind = N_CONST;
	n->value = value;
	return n;
}

/* A leaf; message is true when tmpl refers to `messages m`. */
static struct node *node_leaf(struct compiler *c, const char *tmpl, bool message, const char *v1,
			      const char *v2, const char *v3)
{
	struct node *n = pool_alloc(c->pool, sizeof(*n));

	n->kind = N_LEAF;
	n->tmpl = tmpl;
	if (v1 != NULL)
		n->vals[n->nvals++] = v1;
	if (v2 != NULL)
		n->vals[n->nvals++] = v2;
	if (v3 != NULL)
		n->vals[n->nvals++] = v3;
	if (message)
		c->join_message = true;
	return n;
}

static struct node *node_not(struct compiler *c, struct node *kid)
{
	struct node *n;

	if (kid->kind == N_CONST)
		return node_const(c, !kid->value);
	if (kid->kind == N_NOT)
		return kid->kids[0];
	n = pool_alloc(c->pool, sizeof(*n));
	n->kind = N_NOT;
	n->kids = pool_alloc(c->pool, sizeof(*n->kids));
	n->kids[0] = kid;
	n->nkids = 1;
	return n;
}

/* AND (is_and) or OR of kids[0..nkids-1], simplified: constants fold,
 * nested nodes of the same kind are flattened, one operand stands alone. */
static struct node *node_junction(struct compiler *c, bool is_and, struct node **kids,
				  unsigned nkids)
{
	enum node_kind kind = is_and ? N_AND : N_OR;
	unsigned total = 0, k = 0;
	struct node *n;

	for (unsigned i = 0; i < nkids; i++) {
		if (kids[i]->kind == N_CONST) {
			if (kids[i]->value != is_and)
				return kids[i]; /* FALSE in an AND, TRUE in an OR */
		} else {
			total += kids[i]->kind == kind ? kids[i]->nkids : 1;
		}
	}
	if (total == 0)
		return node_const(c, is_and);
	n = pool_alloc(c->pool, sizeof(*n));
	n->kind = kind;
	n->kids = pool_alloc(c->pool, total * sizeof(*n->kids));
	for (unsigned i = 0; i < nkids; i++) {
		if (kids[i]->kind == N_CONST)
			continue;
		if (kids[i]->kind == kind) {
			for (unsigned j = 0; j < kids[i]->nkids; j++)
				n->kids[k++] = kids[i]->kids[j];
		} else {
			n->kids[k++] = kids[i];
		}
	}
	n->nkids = k;
	return k == 1 ? n->kids[0] : n;
}

/* -- SQL fragments --------------------------------------------------------
 * The only SQL text a search can produce. */

#define SQL_HAS_FIELD(name)                                                                        \
	"(m.headers_text ILIKE '%" name ":%' AND mail_search_header(m.headers_text, '" name        \
	"', ''))"

/* Keys without arguments. */
static const struct {
	const char *name;
	const char *tmpl;
} flag_keys[] = {
	{"ANSWERED", "(mm.flags & 2) <> 0"},  {"DELETED", "(mm.flags & 8) <> 0"},
	{"DRAFT", "(mm.flags & 16) <> 0"},    {"FLAGGED", "(mm.flags & 4) <> 0"},
	{"SEEN", "(mm.flags & 1) <> 0"},      {"UNANSWERED", "(mm.flags & 2) = 0"},
	{"UNDELETED", "(mm.flags & 8) = 0"},  {"UNDRAFT", "(mm.flags & 16) = 0"},
	{"UNFLAGGED", "(mm.flags & 4) = 0"},  {"UNSEEN", "(mm.flags & 1) = 0"},
};

#define SQL_UNSEEN "(mm.flags & 1) = 0"

/* String keys on one header column; with "" they test for the field. */
static const struct {
	const char *name;
	const char *tmpl;
	const char *has_field;
} header_keys[] = {
	{"BCC", "m.hdr_bcc ILIKE ?1", SQL_HAS_FIELD("bcc")},
	{"CC", "m.hdr_cc ILIKE ?1", SQL_HAS_FIELD("cc")},
	{"FROM", "m.hdr_from ILIKE ?1", SQL_HAS_FIELD("from")},
	{"SUBJECT", "m.hdr_subject ILIKE ?1", SQL_HAS_FIELD("subject")},
	{"TO", "m.hdr_to ILIKE ?1", SQL_HAS_FIELD("to")},
};

/* BODY and TEXT (schema/0013_search_index.sql explains why this is
 * exactly the scan's answer). ?1 is the ILIKE pattern, ?2 the needle.
 * An indexable needle is answered by the word index for the messages it
 * covers (UIDs up to the mailbox's indexed_uid, exact rows) and by the
 * scan for the others; any other needle is scanned. Each branch looks the
 * message up only when it must scan it, so a search the index answers
 * never reads `messages`. The scan is a scalar subquery, not EXISTS:
 * PostgreSQL turns an EXISTS under OR into a hashed subplan that reads
 * every message of the account (measured: 13 s for 100,000). The terms are
 * an InitPlan (computed once: as a filter they were computed per row).
 * With the needle known when the query is planned
 * (an unnamed statement gets a custom plan), mail_search_indexable()
 * folds to a constant and only one branch is planned. */
#define SQL_SCAN(cond)                                                                             \
	"coalesce((SELECT " cond " FROM messages m2 WHERE m2.account_id = $1"                      \
	" AND m2.message_id = mm.message_id), false)"
#define SQL_INDEXED(headers, cond)                                                                 \
	"(CASE WHEN mail_search_indexable(?2::text) THEN"                                          \
	" (mm.message_id IN (SELECT s.message_id FROM message_search s"                            \
	" WHERE s.words @> ARRAY['a:' || $1::text] AND s.words && (SELECT mail_search_terms($1, ?2::text, " \
	headers ")))"                                                       \
	" OR ((mm.uid > (SELECT coalesce(max(st.indexed_uid), 0) FROM mailbox_search_state st"     \
	" WHERE st.account_id = $1 AND st.mailbox_id = $2)"                                        \
	" OR mm.message_id IN (SELECT s.message_id FROM message_search s"                          \
	" WHERE s.account_id = $1 AND NOT s.exact))"                                               \
	" AND " SQL_SCAN(cond) "))"                                                               \
	" ELSE " SQL_SCAN(cond) " END)"
#define SQL_BODY SQL_INDEXED("false", "m2.body_text ILIKE ?1")
#define SQL_TEXT SQL_INDEXED("true", "(m2.headers_text ILIKE ?1 OR m2.body_text ILIKE ?1)")
/* Needles the index can never answer (see needle_may_be_indexable) keep
 * the plain scan, a join with `messages m`. */
#define SQL_BODY_SCAN "m.body_text ILIKE ?1"
#define SQL_TEXT_SCAN "(m.headers_text ILIKE ?1 OR m.body_text ILIKE ?1)"
/* ?1 narrows with a pattern the trigram index can use (a line "Name:
 * ...value..." implies it); the function then checks name and value on
 * one line. */
#define SQL_HEADER "(m.headers_text ILIKE ?1 AND mail_search_header(m.headers_text, ?2, ?3))"
#define SQL_KEYWORD "EXISTS (SELECT 1 FROM unnest(mm.keywords) AS k(kw) WHERE lower(k.kw) = lower(?1::text))"
#define SQL_UID_RANGE "mm.uid BETWEEN ?1 AND ?2"
/* The BETWEEN lets the planner narrow the primary-key range scan. */
#define SQL_UID_SET "(mm.uid BETWEEN ?1 AND ?2 AND mm.uid <@ ?3::int8multirange)"

/* Date keys: ?1 is 'YYYY-MM-DD'; a day is [date 00:00 UTC, date+1 00:00 UTC).
 * sent_date may be NULL: coalesce keeps NOT SENTBEFORE (and the other SENT* keys) two-valued. */
#define DAY_START "(?1::date::timestamp AT TIME ZONE 'UTC')"
#define DAY_END "((?1::date + 1)::timestamp AT TIME ZONE 'UTC')"
static const struct {
	const char *name;
	const char *tmpl;
	bool message;
} date_keys[] = {
	{"BEFORE", "mm.internaldate < " DAY_START, false},
	{"ON", "(mm.internaldate >= " DAY_START " AND mm.internaldate < " DAY_END ")", false},
	{"SENTBEFORE", "coalesce(m.sent_date < " DAY_START ", FALSE)", true},
	{"SENTON", "coalesce(m.sent_date >= " DAY_START " AND m.sent_date < " DAY_END ", FALSE)",
	 true},
	{"SENTSINCE", "coalesce(m.sent_date >= " DAY_START ", FALSE)", true},
	{"SINCE", "mm.internaldate >= " DAY_START, false},
};

#define SQL_MODSEQ "mm.modseq >= ?1::bigint"
#define SQL_LARGER "m.size > ?1::bigint"
#define SQL_SMALLER "m.size < ?1::bigint"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* -- argument checks ------------------------------------------------------ */

/* RFC 3629 well-formed UTF-8: no overlong forms, surrogates or values past
 * U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Takes the next argument as a search string (astring) into *s_r, a copy
 * from the pool. */
static bool take_string(struct compiler *c, const struct imap_arg *args, unsigned argc,
			unsigned *i, const char **s_r)
{
	const struct imap_arg *a;

	if (*i >= argc) {
		fail(c, SEARCH_BAD, "Missing search string");
		return false;
	}
	a = &args[(*i)++];
	if (!imap_arg_is_string(a)) {
		fail(c, SEARCH_BAD, "Search string expected");
		return false;
	}
	if (a->len > SEARCH_MAX_STRING) {
		fail(c, SEARCH_LIMIT, "Search string too long");
		return false;
	}
	if (memchr(a->str, '\0', a->len) != NULL) {
		fail(c, SEARCH_BAD, "NUL in search string");
		return false;
	}
	/* UTF-8 (and US-ASCII, its subset) are the charsets we take; stored
	 * text is UTF-8, so anything else could never match. */
	if (!utf8_valid((const unsigned char *)a->str, a->len)) {
		fail(c, SEARCH_BAD, "Search string is not valid UTF-8");
		return false;
	}
	*s_r = pool_strndup(c->pool, a->str, a->len);
	return true;
}

/* '%' s '%' with LIKE's special characters escaped (backslash is ILIKE's
 * default escape character). */
static const char *like_pattern(struct compiler *c, const char *s)
{
	size_t len = strlen(s);
	char *p = pool_alloc(c->pool, 2 * len + 3), *o = p;

	*o++ = '%';
	for (; *s != '\0'; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '%';
	*o = '\0';
	return p;
}

static bool is_atom_char(unsigned char ch)
{
	/* RFC 3501 §9 ATOM-CHAR: no CTL, SP, '(' ')' '{' '%' '*' '"' '\' ']'. */
	return ch > 0x20 && ch < 0x7f && strchr("(){%*\"\\]", ch) == NULL;
}

/* RFC 5322 §3.6.8 field-name: printable US-ASCII except ':'. */
static bool is_field_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 33 || (unsigned char)*s > 126 || *s == ':')
			return false;
	return true;
}

/* RFC 3501 §9 date: 1*2DIGIT "-" Mon "-" 4DIGIT, optionally in quotes.
 * Returns 'YYYY-MM-DD' or NULL. */
static const char *parse_date(struct compiler *c, const struct imap_arg *a)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *s;
	unsigned day = 0, year = 0, mon = 12, nd = 0;

	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED)
		return NULL;
	s = a->str;
	while (nd < 2 && *s >= '0' && *s <= '9')
		day = day * 10 + (unsigned)(*s++ - '0'), nd++;
	if (nd == 0 || *s++ != '-')
		return NULL;
	for (unsigned m = 0; m < 12; m++)
		if (strncasecmp(s, months[m], 3) == 0)
			mon = m;
	if (mon == 12 || s[3] != '-')
		return NULL;
	s += 4;
	for (unsigned k = 0; k < 4; k++, s++) {
		if (*s < '0' || *s > '9')
			return NULL;
		year = year * 10 + (unsigned)(*s - '0');
	}
	if (*s != '\0' || (size_t)(s - a->str) != a->len || year == 0 || day == 0 ||
	    day > mdays[mon])
		return NULL;
	if (mon == 1 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return NULL;
	return pool_printf(c->pool, "%04u-%02u-%02u", year, mon + 1, day);
}

/* A size: digits, at most 2^63 - 1 (RFC 9051 number64). */
static const char *parse_number(struct compiler *c, const struct imap_arg *a)
{
	unsigned long long v = 0;

	if (a->type != IMAP_ARG_ATOM || a->len == 0)
		return NULL;
	for (const char *s = a->str; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return NULL;
		if (v > ((unsigned long long)INT64_MAX - (unsigned)(*s - '0')) / 10)
			return NULL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	return pool_printf(c->pool, "%llu", v);
}

/* -- UID sets ------------------------------------------------------------- */

static struct node *uid_set_node(struct compiler *c, const struct uid_range *r, unsigned n)
{
	struct buf b;
	const char *lo, *hi, *set;

	if (n == 0)
		return node_const(c, false);
	lo = pool_printf(c->pool, "%u", r[0].lo);
	hi = pool_printf(c->pool, "%u", r[n - 1].hi);
	if (n == 1)
		return node_leaf(c, SQL_UID_RANGE, false, lo, hi, NULL);
	/* Server-built from bounded ranges: no limit needed. */
	buf_init(&b, 0);
	(void)buf_append_str(&b, "{");
	for (unsigned i = 0; i < n; i++)
		(void)buf_printf(&b, "%s[%u,%u]", i ? "," : "", r[i].lo, r[i].hi);
	(void)buf_append_str(&b, "}");
	set = pool_strdup(c->pool, b.data);
	buf_free(&b);
	return node_leaf(c, SQL_UID_SET, false, lo, hi, set);
}

/* A sequence-set key (uid_mode false) or UID key: the set in UIDs. For
 * sequence numbers, a number past the last message matches nothing (a
 * search is a filter: no error, as for a message expunged meanwhile). */
static struct node *set_node(struct compiler *c, const struct imap_arg *a, bool uid_mode)
{
	const struct search_env *env = c->env;
	struct seqset *set;
	const char *err;
	struct uid_range *r;
	unsigned nr, n = 0;

	if (a->type != IMAP_ARG_ATOM)
		return fail(c, SEARCH_BAD, "Invalid sequence set");
	if (seqset_parse(c->pool, a->str, &set, &err) < 0)
		return fail(c, SEARCH_BAD, err);
	seqset_resolve_star(set, uid_mode ? env->max_uid : env->count);
	nr = seqset_range_count(set);
	if (nr > SEARCH_MAX_RANGES - c->ranges)
		return fail(c, SEARCH_LIMIT, "Too many ranges in the search");
	c->ranges += nr;
	r = pool_alloc(c->pool, (nr ? nr : 1) * sizeof(*r));
	for (unsigned i = 0; i < nr; i++) {
		uint32_t lo, hi, last = uid_mode ? env->max_uid : env->count;
		seqset_range_get(set, i, &lo, &hi);
		if (lo > last)
			break; /* ranges ascend */
		if (hi > last)
			hi = last;
		if (uid_mode) {
			r[n].lo = lo;
			r[n].hi = hi;
		} else {
			/* Sequence numbers lo..hi are a contiguous slice of
			 * the view, whose UIDs are exactly the mailbox's UIDs
			 * in [uid(lo), uid(hi)]: the view holds every UID up
			 * to its highest. */
			r[n].lo = env->uid_at(env->view, lo);
			r[n].hi = env->uid_at(env->view, hi);
		}
		n++;
	}
	return uid_set_node(c, r, n);
}

/* The view's \Recent messages as UID ranges: runs of consecutive
 * sequence numbers that are all recent. */
static struct node *recent_node(struct compiler *c)
{
	const struct search_env *env = c->env;
	struct uid_range *r = NULL;
	unsigned n = 0, cap = 0;
	bool in_run = false;

	if (c->recent != NULL)
		return c->recent;
	for (uint32_t seq = 1; seq <= env->count; seq++) {
		uint32_t uid = env->uid_at(env->view, seq);
		if (!env->is_recent(env->view, uid)) {
			in_run = false;
			continue;
		}
		if (in_run) {
			r[n - 1].hi = uid;
			continue;
		}
		if (n == cap) {
			struct uid_range *nr;
			cap = cap ? cap * 2 : 8;
			nr = pool_alloc(c->pool, cap * sizeof(*nr));
			if (n > 0)
				memcpy(nr, r, n * sizeof(*r));
			r = nr;
		}
		r[n].lo = r[n].hi = uid;
		n++;
		in_run = true;
	}
	c->recent = uid_set_node(c, r, n);
	return c->recent;
}

/* -- parsing ---------------------------------------------------------------- */

static struct node *parse_key(struct compiler *c, const struct imap_arg *args, unsigned argc,
			      unsigned *i, unsigned depth);

/* All keys of args[0..argc-1], ANDed (a parenthesised list, or the whole
 * command: RFC 3501 §6.4.4 "multiple search keys are ANDed"). */
static struct node *parse_all(struct compiler *c, const struct imap_arg *args, unsigned argc,
			      unsigned depth)
{
	struct node **kids = pool_alloc(c->pool, (argc ? argc : 1) * sizeof(*kids));
	unsigned n = 0, i = 0;

	if (argc == 0)
		return fail(c, SEARCH_BAD, "Missing search key");
	while (i < argc) {
		if ((kids[n] = parse_key(c, args, argc, &i, depth)) == NULL)
			return NULL;
		n++;
	}
	return node_junction(c, true, kids, n);
}

/* False when mail_search_indexable() (schema/0013) is false for s in any
 * locale: s has an ASCII character other than a letter or digit (lower()
 * keeps such a character as it is, and no locale counts it as [[:alnum:]]).
 * Otherwise the database decides. */
static bool needle_may_be_indexable(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x80 && !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				   (ch >= '0' && ch <= '9')))
			return false;
	}
	return true;
}

static struct node *string_key(struct compiler *c, const char *name, const char *s)
{
	for (size_t k = 0; k < NELEM(header_keys); k++)
		if (strcasecmp(name, header_keys[k].name) == 0)
			return *s == '\0' ? node_leaf(c, header_keys[k].has_field, true, NULL, NULL,
						      NULL)
					  : node_leaf(c, header_keys[k].tmpl, true,
						      like_pattern(c, s), NULL, NULL);
	if (*s == '\0')
		return node_const(c, true); /* every message has a body, maybe empty */
	if (!needle_may_be_indexable(s))
		return node_leaf(c, strcasecmp(name, "BODY") == 0 ? SQL_BODY_SCAN : SQL_TEXT_SCAN,
				 true, like_pattern(c, s), NULL, NULL);
	return node_leaf(c, strcasecmp(name, "BODY") == 0 ? SQL_BODY : SQL_TEXT, false,
			 like_pattern(c, s), s, NULL);
}

static struct node *header_key(struct compiler *c, const char *name, const char *s)
{
	if (!is_field_name(name))
		return fail(c, SEARCH_BAD, "Invalid header field name");
	/* The fields with their own column are searched there (same
	 * values, and indexed). */
	if (*s != '\0')
		for (size_t k = 0; k < NELEM(header_keys); k++)
			if (strcasecmp(name, header_keys[k].name) == 0)
				return string_key(c, header_keys[k].name, s);
	return node_leaf(c, SQL_HEADER, true,
			 like_pattern(c, *s != '\0' ? s : pool_printf(c->pool, "%s:", name)), name,
			 s);
}

static struct node *parse_key(struct compiler *c, const struct imap_arg *args, unsigned argc,
			      unsigned *i, unsigned depth)
{
	const struct imap_arg *a;
	const char *name, *s, *s2;
	struct node *kids[2];

	if (*i >= argc)
		return fail(c, SEARCH_BAD, "Missing search key");
	if (depth > SEARCH_MAX_DEPTH)
		return fail(c, SEARCH_LIMIT, "Search nested too deeply");
	if (++c->keys > SEARCH_MAX_KEYS)
		return fail(c, SEARCH_LIMIT, "Too many search keys");
	a = &args[(*i)++];
	if (a->type == IMAP_ARG_LIST)
		return parse_all(c, a->list, a->list_count, depth + 1);
	if (a->type != IMAP_ARG_ATOM)
		return fail(c, SEARCH_BAD, "Search key expected");
	name = a->str;
	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*')
		return set_node(c, a, false);

	for (size_t k = 0; k < NELEM(flag_keys); k++)
		if (strcasecmp(name, flag_keys[k].name) == 0)
			return node_leaf(c, flag_keys[k].tmpl, false, NULL, NULL, NULL);
	for (size_t k = 0; k < NELEM(date_keys); k++) {
		if (strcasecmp(name, date_keys[k].name) != 0)
			continue;
		if (*i >= argc || (s = parse_date(c, &args[*i])) == NULL)
			return fail(c, SEARCH_BAD, "Invalid date");
		(*i)++;
		return node_leaf(c, date_keys[k].tmpl, date_keys[k].message, s, NULL, NULL);
	}
	for (size_t k = 0; k < NELEM(header_keys); k++)
		if (strcasecmp(name, header_keys[k].name) == 0)
			return take_string(c, args, argc, i, &s) ? string_key(c, name, s) : NULL;

	if (strcasecmp(name, "ALL") == 0)
		return node_const(c, true);
	if (strcasecmp(name, "BODY") == 0 || strcasecmp(name, "TEXT") == 0)
		return take_string(c, args, argc, i, &s) ? string_key(c, name, s) : NULL;
	if (strcasecmp(name, "HEADER") == 0) {
		if (!take_string(c, args, argc, i, &s) || !take_string(c, args, argc, i, &s2))
			return NULL;
		return header_key(c, s, s2);
	}
	if (strcasecmp(name, "KEYWORD") == 0 || strcasecmp(name, "UNKEYWORD") == 0) {
		struct node *n;
		if (!take_string(c, args, argc, i, &s))
			return NULL;
		for (const char *p = s; *p != '\0'; p++)
			if (!is_atom_char((unsigned char)*p))
				return fail(c, SEARCH_BAD, "Invalid keyword");
		if (*s == '\0')
			return fail(c, SEARCH_BAD, "Invalid keyword");
		n = node_leaf(c, SQL_KEYWORD, false, s, NULL, NULL);
		return name[0] == 'U' || name[0] == 'u' ? node_not(c, n) : n;
	}
	if (strcasecmp(name, "LARGER") == 0 || strcasecmp(name, "SMALLER") == 0) {
		if (*i >= argc || (s = parse_number(c, &args[*i])) == NULL)
			return fail(c, SEARCH_BAD, "Invalid size");
		(*i)++;
		return node_leaf(c, strcasecmp(name, "LARGER") == 0 ? SQL_LARGER : SQL_SMALLER,
				 true, s, NULL, NULL);
	}
	if (strcasecmp(name, "MODSEQ") == 0) {
		/* [entry-name entry-type-req]: a quoted "/flags/..." name,
		 * then priv, shared or all (RFC 7162 §7). */
		if (*i < argc && args[*i].type == IMAP_ARG_QUOTED) {
			const struct imap_arg *t = *i + 1 < argc ? &args[*i + 1] : NULL;
			if (strncasecmp(args[*i].str, "/flags/", 7) != 0 || args[*i].len == 7 ||
			    t == NULL || t->type != IMAP_ARG_ATOM ||
			    (strcasecmp(t->str, "priv") != 0 && strcasecmp(t->str, "shared") != 0 &&
			     strcasecmp(t->str, "all") != 0))
				return fail(c, SEARCH_BAD, "Invalid MODSEQ entry name or type");
			*i += 2;
		}
		/* mod-sequence-valzer: 0 to 2^63 - 1. */
		if (*i >= argc || (s = parse_number(c, &args[*i])) == NULL)
			return fail(c, SEARCH_BAD, "Invalid MODSEQ value");
		(*i)++;
		c->has_modseq = true;
		return node_leaf(c, SQL_MODSEQ, false, s, NULL, NULL);
	}
	if (strcasecmp(name, "NEW") == 0) {
		/* RFC 3501: "functionally equivalent to (RECENT UNSEEN)". */
		kids[0] = recent_node(c);
		kids[1] = node_leaf(c, SQL_UNSEEN, false, NULL, NULL, NULL);
		return node_junction(c, true, kids, 2);
	}
	if (strcasecmp(name, "NOT") == 0) {
		if ((kids[0] = parse_key(c, args, argc, i, depth + 1)) == NULL)
			return NULL;
		return node_not(c, kids[0]);
	}
	if (strcasecmp(name, "OLD") == 0)
		return node_not(c, recent_node(c));
	if (strcasecmp(name, "OR") == 0) {
		if ((kids[0] = parse_key(c, args, argc, i, depth + 1)) == NULL ||
		    (kids[1] = parse_key(c, args, argc, i, depth + 1)) == NULL)
			return NULL;
		return node_junction(c, false, kids, 2);
	}
	if (strcasecmp(name, "RECENT") == 0)
		return recent_node(c);
	if (strcasecmp(name, "UID") == 0) {
		if (*i >= argc)
			return fail(c, SEARCH_BAD, "Missing UID set");
		return set_node(c, &args[(*i)++], true);
	}
	return fail(c, SEARCH_BAD, "Unknown search key");
}

/* -- emitting SQL ----------------------------------------------------------- */

static unsigned add_param(struct compiler *c, const char *value)
{
	if (c->nparams == c->cap) {
		const char **np;
		c->cap = c->cap ? c->cap * 2 : 16;
		np = pool_alloc(c->pool, c->cap * sizeof(*np));
		if (c->nparams > 0)
			memcpy(np, c->params, c->nparams * sizeof(*np));
		c->params = np;
	}
	c->params[c->nparams] = value;
	return SEARCH_FIRST_PARAM + c->nparams++;
}

static void emit(struct compiler *c, const struct node *n)
{
	unsigned first;

	switch (n->kind) {
	case N_CONST:
		(void)buf_append_str(&c->sql, n->value ? "TRUE" : "FALSE");
		break;
	case N_LEAF:
		first = 0;
		for (unsigned v = 0; v < n->nvals; v++) {
			unsigned p = add_param(c, n->vals[v]);
			if (v == 0)
				first = p;
		}
		for (const char *t = n->tmpl; *t != '\0'; t++) {
			if (t[0] == '?' && t[1] >= '1' && t[1] <= '0' + NODE_MAX_VALS) {
				(void)buf_printf(&c->sql, "$%u", first + (unsigned)(t[1] - '1'));
				t++;
			} else {
				(void)buf_append(&c->sql, t, 1);
			}
		}
		break;
	case N_NOT:
		(void)buf_append_str(&c->sql, "NOT (");
		emit(c, n->kids[0]);
		(void)buf_append_str(&c->sql, ")");
		break;
	case N_AND:
	case N_OR:
		(void)buf_append_str(&c->sql, "(");
		for (unsigned k = 0; k < n->nkids; k++) {
			if (k > 0)
				(void)buf_append_str(&c->sql, n->kind == N_AND ? " AND " : " OR ");
			emit(c, n->kids[k]);
		}
		(void)buf_append_str(&c->sql, ")");
		break;
	}
}

enum search_status search_compile(struct pool *pool, const struct imap_arg *args, unsigned argc,
				  const struct search_env *env, struct search_query *query_r,
				  const char **error_r)
{
	struct compiler c;
	struct node *root;

	memset(&c, 0, sizeof(c));
	c.pool = pool;
	c.env = env;
	/* RFC 3501 §6.4.4: [CHARSET astring] before the keys. */
	if (argc > 0 && args[0].type == IMAP_ARG_ATOM && strcasecmp(args[0].str, "CHARSET") == 0) {
		if (argc < 2 || !imap_arg_is_string(&args[1])) {
			*error_r = "CHARSET needs a charset name";
			return SEARCH_BAD;
		}
		if (strcasecmp(imap_arg_str(&args[1]), "UTF-8") != 0 &&
		    strcasecmp(imap_arg_str(&args[1]), "US-ASCII") != 0) {
			*error_r = "Unsupported charset";
			return SEARCH_BADCHARSET;
		}
		args += 2;
		argc -= 2;
	}
	root = parse_all(&c, args, argc, 1);
	if (root == NULL) {
		*error_r = c.error;
		return c.status;
	}
	/* Every leaf and operator emits O(1) text per key and per range:
	 * bounded by the limits above, so no buffer limit. */
	buf_init(&c.sql, 0);
	emit(&c, root);
	query_r->where = pool_strdup(pool, c.sql.data);
	buf_free(&c.sql);
	query_r->join_message = c.join_message;
	query_r->has_modseq = c.has_modseq;
	query_r->nparams = c.nparams;
	query_r->params = c.params;
	return SEARCH_OK;
}
