/* Incremental IMAP command parser: see imap_parser.h for the contract.
 *
 * One call of parse_byte() per octet outside literal data; literal data is
 * copied in bulk and never looked at. Partial tokens (tag, atom, quoted
 * string) accumulate in p->tok, which cannot outgrow max_line because every
 * non-literal byte is counted against it first. Arguments are built as a
 * tree of nodes in the per-command pool; a list's children are turned into
 * the array the caller sees when the list closes, so no recursion is needed.
 *
 * Errors: fail() records the reason and switches to PS_SKIP, which swallows
 * the rest of the command and reports BAD once the line has ended. A small
 * tracker (track_literal) watches every non-literal byte for a literal header
 * "{n}" / "{n+}" right before a line end, so that a bad command's {n+}
 * literal is skipped as data instead of being taken for the next command
 * (that would let a client smuggle commands past a BAD). */
#include "imap_parser.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"
#include "pool.h"

/* Above this size, or with unsafe octets, imap_quote() sends a literal. */
#define IMAP_QUOTE_MAX 1024

enum parser_state {
	PS_TAG,
	PS_NAME,
	PS_AFTER_ARG,  /* after the name or an argument: SP, ')' or line end */
	PS_ARG,        /* after SP: an argument must follow */
	PS_LIST_FIRST, /* after '(': an argument or ')' */
	PS_ATOM,
	PS_BRACKET,            /* inside an atom's [...] */
	PS_BRACKET_QUOTED,     /* a quoted string inside [...] */
	PS_BRACKET_QUOTED_ESC, /* after '\' in it */
	PS_TILDE,              /* '~' starting an argument: literal8 or atom */
	PS_QUOTED,
	PS_QUOTED_ESC,
	PS_LITERAL_OPEN, /* after '{': the first digit */
	PS_LITERAL_SIZE, /* digits, then '+' or '}' */
	PS_LITERAL_PLUS, /* after '+': '}' */
	PS_LITERAL_END,  /* after '}': CR or LF */
	PS_LITERAL_LF,   /* after "}\r": LF */
	PS_LITERAL_DATA,
	PS_CR,           /* CR ending the command: LF */
	PS_SKIP,         /* after a syntax error: up to the end of the command */
	PS_SKIP_LITERAL, /* a {n+} literal of a bad command */
	PS_DONE,
	PS_BAD,
	PS_FATAL,
};

/* Where the last non-literal bytes stand in a literal header. */
enum lit_track {
	LT_NONE,
	LT_OPEN,      /* '{' */
	LT_DIGITS,    /* '{' digits */
	LT_PLUS,      /* '{' digits '+' */
	LT_CLOSED,    /* ... '}' */
	LT_CLOSED_CR, /* ... '}' CR */
	LT_ENDED,     /* ... '}' [CR] LF: the line ended with a literal header */
};

/* An argument while the command is being built. */
struct node {
	struct imap_arg arg;
	struct node *parent;
	struct node *next;
	struct node *first, *last; /* children of a list */
	unsigned count;
};

struct imap_parser {
	struct imap_limits lim;
	struct pool *cmd_pool;
	struct buf tok; /* the token being read; bounded by max_line */
	enum parser_state state;
	const char *error;
	unsigned bad_count; /* consecutive BAD commands */

	/* The current command. */
	char *tag;
	char *name;
	struct node root; /* the top level: root.first... are the arguments */
	struct node *cur; /* the innermost open list (or &root) */
	unsigned depth;
	unsigned nargs;
	size_t line_len; /* non-literal bytes of the command so far */
	unsigned bracket_depth; /* parentheses inside an atom's [...] */
	bool bracket_special;   /* [...] held SP, '(' or '"' */

	/* The literal being read. */
	size_t literal_size;
	size_t literal_got;
	size_t literal_total; /* all literals of the command */
	bool literal_big;     /* the announced size exceeded every limit */
	bool literal_nonsync;
	bool literal8;
	char *literal_data;

	/* The literal-header tracker and the skipping of a bad command. */
	enum lit_track lt;
	size_t lt_size;
	bool lt_big;
	bool lt_nonsync;
	size_t skip_left;

	struct imap_command cmd;
};

static enum imap_parse_result parse_state(struct imap_parser *p, unsigned char c);

/* Character classes, RFC 3501 §9. */

static bool is_ctl_or_8bit(unsigned char c)
{
	return c < 0x20 || c >= 0x7f;
}

/* The characters our atoms may hold: ASTRING-CHAR plus the list wildcards
 * '%' and '*'. '[' is an ATOM-CHAR; here it also opens a FETCH section. */
static bool is_arg_atom_char(unsigned char c)
{
	if (is_ctl_or_8bit(c))
		return false;
	switch (c) {
	case ' ':
	case '(':
	case ')':
	case '{':
	case '"':
	case '\\':
		return false;
	default:
		return true;
	}
}

/* ATOM-CHAR proper, for command names. */
static bool is_atom_char(unsigned char c)
{
	return is_arg_atom_char(c) && c != '%' && c != '*' && c != ']';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool is_tag_char(unsigned char c)
{
	return is_arg_atom_char(c) && c != '%' && c != '*' && c != '+';
}

/* Adds one digit to *n unless the result would exceed limit; returns false
 * (and leaves *n alone) when it would. Cannot overflow whatever limit is. */
static bool size_add_digit(size_t *n, unsigned char c, size_t limit)
{
	size_t d = (size_t)(c - '0');

	if (d > limit || *n > (limit - d) / 10)
		return false;
	*n = *n * 10 + d;
	return true;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Token buffer. Its size is bounded by the max_line check in parse_byte(). */

static void tok_add(struct imap_parser *p, unsigned char c)
{
	if (buf_append(&p->tok, &c, 1) < 0)
		panic("imap_parser: token buffer refused a byte");
}

static char *tok_take(struct imap_parser *p)
{
	char *s = pool_alloc(p->cmd_pool, p->tok.len + 1);

	if (p->tok.len > 0)
		memcpy(s, p->tok.data, p->tok.len);
	buf_reset(&p->tok);
	return s;
}

/* Outcomes. */

static enum imap_parse_result skip_byte(struct imap_parser *p, unsigned char c);

/* A syntax error at byte c (already consumed): skip the rest of the
 * command, c included, and report BAD when it has ended. */
static enum imap_parse_result fail(struct imap_parser *p, unsigned char c, const char *error)
{
	p->error = error;
	p->state = PS_SKIP;
	return skip_byte(p, c);
}

static enum imap_parse_result fatal_error(struct imap_parser *p, const char *error)
{
	p->error = error;
	p->state = PS_FATAL;
	return IMAP_PARSE_FATAL;
}

static enum imap_parse_result report_bad(struct imap_parser *p)
{
	if (++p->bad_count > p->lim.max_bad)
		return fatal_error(p, "Too many invalid commands");
	p->state = PS_BAD;
	return IMAP_PARSE_BAD;
}

/* Follows the non-literal bytes through literal headers; LT_ENDED means the
 * line just ended with one. */
static void track_literal(struct imap_parser *p, unsigned char c)
{
	switch (p->lt) {
	case LT_OPEN:
	case LT_DIGITS:
		if (is_digit(c)) {
			p->lt = LT_DIGITS;
			if (!p->lt_big &&
			    !size_add_digit(&p->lt_size, c, p->lim.max_nonsync_literal))
				p->lt_big = true;
			return;
		}
		if (p->lt == LT_DIGITS && c == '+') {
			p->lt = LT_PLUS;
			p->lt_nonsync = true;
			return;
		}
		if (p->lt == LT_DIGITS && c == '}') {
			p->lt = LT_CLOSED;
			return;
		}
		break;
	case LT_PLUS:
		if (c == '}') {
			p->lt = LT_CLOSED;
			return;
		}
		break;
	case LT_CLOSED:
	case LT_CLOSED_CR:
		if (c == '\n') {
			p->lt = LT_ENDED;
			return;
		}
		if (p->lt == LT_CLOSED && c == '\r') {
			p->lt = LT_CLOSED_CR;
			return;
		}
		break;
	default:
		break;
	}
	if (c == '{') {
		p->lt = LT_OPEN;
		p->lt_size = 0;
		p->lt_big = false;
		p->lt_nonsync = false;
	} else {
		p->lt = LT_NONE;
	}
}

/* A byte of a bad command. The command ends at a LF, unless that LF ends a
 * {n+} header: the client sends those bytes without waiting, so they are
 * skipped and the command goes on after them. A {n} header at the end of the
 * line is not skipped: the client waits for a "+" it will not get. */
static enum imap_parse_result skip_byte(struct imap_parser *p, unsigned char c)
{
	if (c != '\n')
		return IMAP_PARSE_MORE;
	if (p->lt == LT_ENDED && p->lt_nonsync) {
		if (p->lt_big)
			return fatal_error(p, "[TOOBIG] Literal too large");
		p->lt = LT_NONE;
		if (p->lt_size > 0) {
			p->skip_left = p->lt_size;
			p->state = PS_SKIP_LITERAL;
		}
		return IMAP_PARSE_MORE;
	}
	return report_bad(p);
}

/* Building the argument tree. */

/* Counts an argument that is starting; false when that is one too many. */
static bool arg_count(struct imap_parser *p)
{
	if (p->nargs >= p->lim.max_args)
		return false;
	p->nargs++;
	return true;
}

static struct node *node_add(struct imap_parser *p, enum imap_arg_type type)
{
	struct node *n = pool_alloc(p->cmd_pool, sizeof(*n));

	n->arg.type = type;
	n->parent = p->cur;
	if (p->cur->last == NULL)
		p->cur->first = n;
	else
		p->cur->last->next = n;
	p->cur->last = n;
	p->cur->count++;
	return n;
}

/* Turns the children of n into an array owned by the command pool. */
static struct imap_arg *node_children(struct imap_parser *p, const struct node *n)
{
	struct imap_arg *args;
	unsigned i = 0;

	if (n->count == 0)
		return NULL;
	args = pool_alloc(p->cmd_pool, sizeof(*args) * n->count);
	for (const struct node *c = n->first; c != NULL; c = c->next)
		args[i++] = c->arg;
	return args;
}

static void arg_add_string(struct imap_parser *p, enum imap_arg_type type)
{
	size_t len = p->tok.len;
	struct node *n = node_add(p, type);

	n->arg.str = tok_take(p);
	n->arg.len = len;
	p->state = PS_AFTER_ARG;
}

static void list_open(struct imap_parser *p)
{
	p->cur = node_add(p, IMAP_ARG_LIST);
	p->depth++;
	p->state = PS_LIST_FIRST;
}

static void list_close(struct imap_parser *p)
{
	struct node *n = p->cur;

	n->arg.list = node_children(p, n);
	n->arg.list_count = n->count;
	p->cur = n->parent;
	p->depth--;
	p->state = PS_AFTER_ARG;
}

static enum imap_parse_result command_done(struct imap_parser *p)
{
	p->cmd.tag = p->tag;
	p->cmd.name = p->name;
	p->cmd.args = node_children(p, &p->root);
	p->cmd.argc = p->root.count;
	p->bad_count = 0;
	p->state = PS_DONE;
	return IMAP_PARSE_DONE;
}

/* The states. Each handles byte c, already counted and tracked. */

static enum imap_parse_result line_end(struct imap_parser *p)
{
	if (p->depth > 0)
		return fail(p, '\n', "Unbalanced parentheses");
	return command_done(p);
}

static enum imap_parse_result after_arg(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case ' ':
		p->state = PS_ARG;
		return IMAP_PARSE_MORE;
	case ')':
		if (p->depth == 0)
			return fail(p, c, "Unbalanced parentheses");
		list_close(p);
		return IMAP_PARSE_MORE;
	case '\r':
		p->state = PS_CR;
		return IMAP_PARSE_MORE;
	case '\n':
		return line_end(p);
	default:
		return fail(p, c, "Missing space between arguments");
	}
}

/* The atom in p->tok ended at byte c. */
static enum imap_parse_result atom_end(struct imap_parser *p, unsigned char c)
{
	if (c != ' ' && c != ')' && c != '\r' && c != '\n')
		return fail(p, c, "Invalid character in atom");
	/* flag-extension = "\" atom; "\*" is the only wildcard form. */
	if (p->tok.len == 1 && p->tok.data[0] == '\\')
		return fail(p, c, "Invalid flag");
	if (p->tok.len == 3 && strncasecmp(p->tok.data, "NIL", 3) == 0)
		arg_add_string(p, IMAP_ARG_NIL);
	else
		arg_add_string(p, IMAP_ARG_ATOM);
	return after_arg(p, c);
}

static enum imap_parse_result atom_byte(struct imap_parser *p, unsigned char c)
{
	if (c == '\\' && p->tok.len == 0) {
		tok_add(p, c);
		return IMAP_PARSE_MORE;
	}
	if (!is_arg_atom_char(c))
		return atom_end(p, c);
	tok_add(p, c);
	if (c == '[') {
		p->bracket_depth = 0;
		p->bracket_special = false;
		p->state = PS_BRACKET;
	}
	return IMAP_PARSE_MORE;
}

/* Inside an atom's [...]: spaces, parenthesised lists and quoted strings are
 * part of the atom up to the ']' outside them. A '[' that never closes and
 * holds nothing special was just a character of an atom ("[Gmail"). */
static enum imap_parse_result bracket_byte(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case ']':
		if (p->bracket_depth == 0)
			p->state = PS_ATOM;
		break;
	case '(':
		if (p->bracket_depth >= p->lim.max_depth)
			return fail(p, c, "Too deeply nested");
		p->bracket_depth++;
		p->bracket_special = true;
		break;
	case ')':
		if (p->bracket_depth == 0) {
			if (!p->bracket_special)
				return atom_end(p, c);
			return fail(p, c, "Unbalanced parentheses in section");
		}
		p->bracket_depth--;
		break;
	case '"':
		p->bracket_special = true;
		p->state = PS_BRACKET_QUOTED;
		break;
	case ' ':
		p->bracket_special = true;
		break;
	case '\r':
	case '\n':
		if (!p->bracket_special)
			return atom_end(p, c);
		return fail(p, c, "Missing ]");
	default:
		if (!is_arg_atom_char(c))
			return fail(p, c, "Invalid character in section");
		break;
	}
	tok_add(p, c);
	return IMAP_PARSE_MORE;
}

/* A quoted string inside [...] is kept as sent, quotes and escapes included;
 * it is checked like any quoted string but must be ASCII. */
static enum imap_parse_result bracket_quoted_byte(struct imap_parser *p, unsigned char c)
{
	if (p->state == PS_BRACKET_QUOTED_ESC) {
		if (c != '"' && c != '\\')
			return fail(p, c, "Invalid escape in quoted string");
		p->state = PS_BRACKET_QUOTED;
	} else if (c == '"') {
		p->state = PS_BRACKET;
	} else if (c == '\\') {
		p->state = PS_BRACKET_QUOTED_ESC;
	} else if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80) {
		return fail(p, c, "Invalid character in section");
	}
	tok_add(p, c);
	return IMAP_PARSE_MORE;
}

static enum imap_parse_result quoted_byte(struct imap_parser *p, unsigned char c)
{
	if (p->state == PS_QUOTED_ESC) {
		/* RFC 3501 §4.3: only \" and \\ are escapes. */
		if (c != '"' && c != '\\')
			return fail(p, c, "Invalid escape in quoted string");
		p->state = PS_QUOTED;
		tok_add(p, c);
		return IMAP_PARSE_MORE;
	}
	switch (c) {
	case '"':
		arg_add_string(p, IMAP_ARG_QUOTED);
		return IMAP_PARSE_MORE;
	case '\\':
		p->state = PS_QUOTED_ESC;
		return IMAP_PARSE_MORE;
	case '\0':
		return fail(p, c, "NUL in quoted string");
	case '\r':
	case '\n':
		return fail(p, c, "Unterminated quoted string");
	default:
		/* 8-bit octets stay: UTF-8 for SEARCH CHARSET and UTF8=ACCEPT. */
		tok_add(p, c);
		return IMAP_PARSE_MORE;
	}
}

/* '{' or "~{" began a literal's header. */
static void literal_start(struct imap_parser *p, bool literal8)
{
	p->literal_size = 0;
	p->literal_big = false;
	p->literal_nonsync = false;
	p->literal8 = literal8;
	p->state = PS_LITERAL_OPEN;
}

/* The first byte of an argument. */
static enum imap_parse_result arg_start(struct imap_parser *p, unsigned char c)
{
	if (c == ')' && p->state == PS_LIST_FIRST) {
		list_close(p);
		return IMAP_PARSE_MORE;
	}
	if ((c == '\r' || c == '\n') && p->depth > 0)
		return fail(p, c, "Unbalanced parentheses");
	if (c == ' ' || c == '\r' || c == '\n' || c == ')')
		return fail(p, c, "Missing argument");
	if (!arg_count(p))
		return fail(p, c, "Too many arguments");
	switch (c) {
	case '"':
		p->state = PS_QUOTED;
		return IMAP_PARSE_MORE;
	case '{':
		literal_start(p, false);
		return IMAP_PARSE_MORE;
	case '~':
		p->state = PS_TILDE;
		return IMAP_PARSE_MORE;
	case '(':
		if (p->depth >= p->lim.max_depth)
			return fail(p, c, "Too deeply nested");
		list_open(p);
		return IMAP_PARSE_MORE;
	default:
		p->state = PS_ATOM;
		if (c != '\\' && !is_arg_atom_char(c))
			return fail(p, c, "Invalid character in argument");
		return atom_byte(p, c);
	}
}

/* Literals. */

static void literal_finish(struct imap_parser *p)
{
	struct node *n = node_add(p, IMAP_ARG_LITERAL);

	p->literal_data[p->literal_size] = '\0';
	n->arg.str = p->literal_data;
	n->arg.len = p->literal_size;
	n->arg.literal8 = p->literal8;
	n->arg.nonsync = p->literal_nonsync;
	p->literal_data = NULL;
	p->lt = LT_NONE;
	p->state = PS_AFTER_ARG;
}

/* '}' closed a literal header: check the size against the limits now, before
 * the CRLF, so that no "+" is ever sent for a literal we would refuse. */
static enum imap_parse_result literal_close(struct imap_parser *p, unsigned char c)
{
	size_t limit = p->literal_nonsync ? p->lim.max_nonsync_literal : p->lim.max_literal;
	size_t total = p->lim.max_literal_total;

	/* literal_total > total only if the limits were lowered in
	 * mid-command. */
	if (p->literal_big || p->literal_size > limit ||
	    (total != 0 &&
	     (p->literal_total > total || p->literal_size > total - p->literal_total))) {
		/* RFC 7888 §4: the {n+} bytes are on their way and we will not
		 * read them; with {n} the client waits for our answer. */
		if (p->literal_nonsync)
			return fatal_error(p, "[TOOBIG] Literal too large");
		return fail(p, c, "[TOOBIG] Literal too large");
	}
	p->state = PS_LITERAL_END;
	return IMAP_PARSE_MORE;
}

static enum imap_parse_result literal_header_done(struct imap_parser *p)
{
	/* Cannot overflow: at most max_args literals of at most max_literal
	 * bytes each, all of which were allocated. */
	p->literal_total += p->literal_size;
	p->literal_got = 0;
	p->literal_data = pool_alloc(p->cmd_pool, p->literal_size + 1);
	if (p->literal_size == 0)
		literal_finish(p);
	else
		p->state = PS_LITERAL_DATA;
	return p->literal_nonsync ? IMAP_PARSE_MORE : IMAP_PARSE_CONTINUE;
}

static enum imap_parse_result literal_header_byte(struct imap_parser *p, unsigned char c)
{
	size_t cap;

	switch (p->state) {
	case PS_LITERAL_OPEN:
	case PS_LITERAL_SIZE:
		if (is_digit(c)) {
			/* Checked per digit against the larger limit, so the
			 * size cannot overflow; which limit applies is known
			 * only at '+' or '}'. */
			cap = p->lim.max_literal > p->lim.max_nonsync_literal
				      ? p->lim.max_literal
				      : p->lim.max_nonsync_literal;
			if (!p->literal_big && !size_add_digit(&p->literal_size, c, cap))
				p->literal_big = true;
			p->state = PS_LITERAL_SIZE;
			return IMAP_PARSE_MORE;
		}
		if (p->state == PS_LITERAL_SIZE && c == '+') {
			p->literal_nonsync = true;
			p->state = PS_LITERAL_PLUS;
			return IMAP_PARSE_MORE;
		}
		if (p->state == PS_LITERAL_SIZE && c == '}')
			return literal_close(p, c);
		return fail(p, c, "Invalid literal size");
	case PS_LITERAL_PLUS:
		if (c == '}')
			return literal_close(p, c);
		return fail(p, c, "Invalid literal size");
	case PS_LITERAL_END:
		if (c == '\r') {
			p->state = PS_LITERAL_LF;
			return IMAP_PARSE_MORE;
		}
		/* fall through */
	case PS_LITERAL_LF:
		if (c == '\n')
			return literal_header_done(p);
		return fail(p, c, "Missing CRLF after literal size");
	default:
		panic("imap_parser: literal_header_byte in state %d", (int)p->state);
	}
}

static enum imap_parse_result parse_state(struct imap_parser *p, unsigned char c)
{
	switch (p->state) {
	case PS_TAG:
		if (is_tag_char(c)) {
			if (p->tok.len >= p->lim.max_tag)
				return fail(p, c, "Tag too long");
			tok_add(p, c);
			return IMAP_PARSE_MORE;
		}
		if (p->tok.len == 0)
			return fail(p, c, c == '\r' || c == '\n' ? "Empty command line"
								 : "Invalid tag");
		if (c != ' ' && c != '\r' && c != '\n')
			return fail(p, c, "Invalid tag");
		p->tag = tok_take(p);
		if (c != ' ')
			return fail(p, c, "Missing command name");
		p->state = PS_NAME;
		return IMAP_PARSE_MORE;
	case PS_NAME:
		if (is_atom_char(c)) {
			tok_add(p, c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
			return IMAP_PARSE_MORE;
		}
		if (p->tok.len == 0)
			return fail(p, c, "Missing command name");
		if (c != ' ' && c != '\r' && c != '\n')
			return fail(p, c, "Invalid command name");
		p->name = tok_take(p);
		p->state = c == ' ' ? PS_ARG : PS_AFTER_ARG;
		return c == ' ' ? IMAP_PARSE_MORE : after_arg(p, c);
	case PS_AFTER_ARG:
		return after_arg(p, c);
	case PS_ARG:
	case PS_LIST_FIRST:
		return arg_start(p, c);
	case PS_ATOM:
		return atom_byte(p, c);
	case PS_BRACKET:
		return bracket_byte(p, c);
	case PS_BRACKET_QUOTED:
	case PS_BRACKET_QUOTED_ESC:
		return bracket_quoted_byte(p, c);
	case PS_TILDE:
		if (c == '{') {
			literal_start(p, true);
			return IMAP_PARSE_MORE;
		}
		/* '~' is an ordinary atom character ("~peter/mail"). */
		p->state = PS_ATOM;
		tok_add(p, '~');
		return atom_byte(p, c);
	case PS_QUOTED:
	case PS_QUOTED_ESC:
		return quoted_byte(p, c);
	case PS_LITERAL_OPEN:
	case PS_LITERAL_SIZE:
	case PS_LITERAL_PLUS:
	case PS_LITERAL_END:
	case PS_LITERAL_LF:
		return literal_header_byte(p, c);
	case PS_CR:
		if (c == '\n')
			return line_end(p);
		return fail(p, c, "CR not followed by LF");
	case PS_SKIP:
		return skip_byte(p, c);
	case PS_LITERAL_DATA:
	case PS_SKIP_LITERAL:
	case PS_DONE:
	case PS_BAD:
	case PS_FATAL:
		break;
	}
	panic("imap_parser: byte in state %d", (int)p->state);
}

static enum imap_parse_result parse_byte(struct imap_parser *p, unsigned char c)
{
	track_literal(p, c);
	if (p->state == PS_SKIP)
		return skip_byte(p, c);
	if (p->line_len >= p->lim.max_line)
		return fail(p, c, "Command line too long");
	p->line_len++;
	return parse_state(p, c);
}

/* Public API. */

/* A token buffer grown by a long line is given back, so that thousands of
 * idle connections do not each keep max_line bytes. */
#define TOK_KEEP 4096

static void parser_clear_command(struct imap_parser *p)
{
	pool_clear(p->cmd_pool);
	if (p->tok.cap > TOK_KEEP)
		buf_free(&p->tok);
	buf_reset(&p->tok);
	p->error = NULL;
	p->tag = NULL;
	p->name = NULL;
	memset(&p->root, 0, sizeof(p->root));
	p->root.arg.type = IMAP_ARG_LIST;
	p->cur = &p->root;
	p->depth = 0;
	p->nargs = 0;
	p->line_len = 0;
	p->bracket_depth = 0;
	p->bracket_special = false;
	p->literal_size = 0;
	p->literal_got = 0;
	p->literal_total = 0;
	p->literal_big = false;
	p->literal_nonsync = false;
	p->literal8 = false;
	p->literal_data = NULL;
	p->lt = LT_NONE;
	p->lt_size = 0;
	p->lt_big = false;
	p->lt_nonsync = false;
	p->skip_left = 0;
	memset(&p->cmd, 0, sizeof(p->cmd));
	p->state = PS_TAG;
}

struct imap_parser *imap_parser_create(struct pool *pool, const struct imap_limits *lim)
{
	struct imap_parser *p = pool_alloc(pool, sizeof(*p));

	p->lim = *lim;
	p->cmd_pool = pool_create(0);
	/* No buf limit: parse_byte() bounds the token by max_line, and a limit
	 * lowered in mid-command must not turn into a refused append. */
	buf_init(&p->tok, 0);
	parser_clear_command(p);
	return p;
}

void imap_parser_set_limits(struct imap_parser *p, const struct imap_limits *lim)
{
	p->lim = *lim;
}

void imap_parser_reset(struct imap_parser *p)
{
	if (p->state == PS_FATAL)
		return;
	parser_clear_command(p);
}

void imap_parser_destroy(struct imap_parser **p_r)
{
	struct imap_parser *p = *p_r;

	if (p == NULL)
		return;
	pool_destroy(&p->cmd_pool);
	buf_free(&p->tok);
	*p_r = NULL;
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const unsigned char *data,
					size_t len, size_t *consumed_r)
{
	enum imap_parse_result ret = IMAP_PARSE_MORE;
	size_t i = 0, n;

	if (p->state == PS_FATAL) {
		*consumed_r = 0;
		return IMAP_PARSE_FATAL;
	}
	if (p->state == PS_DONE || p->state == PS_BAD)
		parser_clear_command(p);
	while (i < len && ret == IMAP_PARSE_MORE) {
		switch (p->state) {
		case PS_LITERAL_DATA:
			/* Counted, copied, never scanned. */
			n = p->literal_size - p->literal_got;
			if (n > len - i)
				n = len - i;
			memcpy(p->literal_data + p->literal_got, data + i, n);
			p->literal_got += n;
			i += n;
			if (p->literal_got == p->literal_size)
				literal_finish(p);
			break;
		case PS_SKIP_LITERAL:
			n = p->skip_left < len - i ? p->skip_left : len - i;
			p->skip_left -= n;
			i += n;
			if (p->skip_left == 0)
				p->state = PS_SKIP;
			break;
		default:
			ret = parse_byte(p, data[i++]);
			break;
		}
	}
	*consumed_r = i;
	return ret;
}

const struct imap_command *imap_parser_command(struct imap_parser *p)
{
	return p->state == PS_DONE ? &p->cmd : NULL;
}

const char *imap_parser_error(struct imap_parser *p)
{
	return p->state == PS_BAD || p->state == PS_FATAL ? p->error : NULL;
}

const char *imap_parser_tag(struct imap_parser *p)
{
	return p->tag;
}

size_t imap_parser_literal_size(struct imap_parser *p)
{
	return p->literal_size;
}

/* Argument helpers. */

bool imap_arg_is_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED ||
	       a->type == IMAP_ARG_LITERAL || a->type == IMAP_ARG_NIL;
}

bool imap_arg_is_nil(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_NIL;
}

const char *imap_arg_str(const struct imap_arg *a)
{
	return imap_arg_is_string(a) ? a->str : NULL;
}

static bool quote_is_safe(const char *s, size_t len)
{
	if (len >= IMAP_QUOTE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

static int quote_append(struct buf *out, const char *s, size_t len)
{
	size_t start = 0;

	if (!quote_is_safe(s, len)) {
		if (buf_printf(out, "{%zu}\r\n", len) < 0)
			return -1;
		return buf_append(out, s, len);
	}
	if (buf_append(out, "\"", 1) < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (buf_append(out, s + start, i - start) < 0 || buf_append(out, "\\", 1) < 0)
			return -1;
		start = i;
	}
	if (buf_append(out, s + start, len - start) < 0)
		return -1;
	return buf_append(out, "\"", 1);
}

int imap_quote(struct buf *out, const char *s, size_t len)
{
	size_t old_len = out->len;

	if (quote_append(out, s, len) < 0) {
		/* Leave out as it was, not with half a string. */
		out->len = old_len;
		if (out->data != NULL)
			out->data[old_len] = '\0';
		return -1;
	}
	return 0;
}

int imap_quote_nil(struct buf *out, const char *s, size_t len)
{
	if (s == NULL)
		return buf_append_str(out, "NIL");
	return imap_quote(out, s, len);
}
