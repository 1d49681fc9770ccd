/* Incremental IMAP command parser (RFC 3501 §9 command grammar, RFC 7888
 * LITERAL+ {n+}, RFC 3516 literal8 ~{n}).
 *
 * The parser is a byte-at-a-time state machine that never touches a socket:
 * the connection feeds it whatever it has read, in any split, and acts on the
 * result. It stops consuming right after a complete command (DONE) and right
 * after a synchronizing literal's header (CONTINUE), so the caller can reply
 * and decide what happens to the bytes that follow (after STARTTLS they must
 * be discarded).
 *
 * Arguments are returned as a tree (lists nest) of typed values; the parser
 * knows the generic grammar only, each command handler checks its own
 * arguments. The grammar is applied strictly: exactly one space between
 * arguments, none after '(', before ')' or before the line end.
 *
 * Atoms are 1*ASTRING-CHAR plus the list wildcards '%' and '*' (so sequence
 * sets, LIST patterns and "]" are atoms), optionally starting with '\'
 * (flags: \Seen, \*). One exception to the generic grammar: an atom
 * containing '[' runs to the matching ']' even across spaces, parenthesised
 * lists and quoted strings (kept as sent), then goes on as an atom, so that
 * FETCH items such as BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.2048> are a
 * single atom for the FETCH handler to parse. A literal inside [...] is BAD.
 * A '[' followed by atom characters only and never closed is just a
 * character ("[Gmail" is an atom, like "[Gmail]/Sent"); with a space, '('
 * or '"' after it, a missing ']' is BAD.
 *
 * Memory: the command lives in a per-command pool that imap_parser_reset()
 * clears. Everything the parser holds is bounded by struct imap_limits. */
#ifndef MAILSTEAD_IMAP_PARSER_H
#define MAILSTEAD_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct pool;

enum imap_parse_result {
	IMAP_PARSE_MORE,     /* all input consumed, the command is not complete */
	IMAP_PARSE_DONE,     /* a command is complete: imap_parser_command() */
	IMAP_PARSE_CONTINUE, /* a synchronizing literal was announced: send "+" */
	IMAP_PARSE_BAD,      /* syntax error, the bad command has been consumed */
	IMAP_PARSE_FATAL,    /* the connection cannot be resynchronised: close it */
};

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,
};

/* One argument. Strings are NUL-terminated copies owned by the command's
 * pool; a literal may contain NUL, so always use len for it. A NIL keeps the
 * client's spelling in str ("nil", "NIL", ...). */
struct imap_arg {
	enum imap_arg_type type;
	const char *str;       /* NULL for a list */
	size_t len;            /* bytes in str */
	struct imap_arg *list; /* IMAP_ARG_LIST: the elements (NULL when empty) */
	unsigned list_count;
	unsigned literal8 : 1; /* IMAP_ARG_LITERAL sent as ~{n} (RFC 3516) */
	unsigned nonsync : 1;  /* IMAP_ARG_LITERAL sent as {n+} (RFC 7888) */
};

struct imap_command {
	const char *tag;
	const char *name; /* uppercased ("UID" for UID FETCH: FETCH is args[0]) */
	struct imap_arg *args;
	unsigned argc;
};

/* Hard limits. 0 means zero (no literal, no list, ...) except for
 * max_literal_total, so initialise them all. They may be raised after login
 * with imap_parser_set_limits(). */
struct imap_limits {
	size_t max_tag;             /* tag length, >= 1 */
	size_t max_line;            /* bytes of a command that are not literal data,
				     * line ends and literal headers included */
	size_t max_literal;         /* one synchronizing literal ({n}, ~{n}) */
	size_t max_nonsync_literal; /* one non-synchronizing literal ({n+}, ~{n+}) */
	size_t max_literal_total;   /* literal bytes of all literals of one command;
				     * 0 = only the per-literal limits (then a
				     * command may hold max_args literals) */
	unsigned max_args;          /* arguments of a command, list elements and the
				     * lists themselves included */
	unsigned max_depth;         /* nesting of parenthesised lists */
	unsigned max_bad;           /* consecutive BAD commands tolerated; one more
				     * is FATAL */
};

struct imap_parser;

/* Returns a parser allocated from pool (the connection's pool); it creates its
 * own per-command pool and a token buffer, which imap_parser_destroy() frees.
 * The limits are copied. */
struct imap_parser *imap_parser_create(struct pool *pool, const struct imap_limits *lim);

/* Replaces the limits (copied); they apply from the next byte fed. */
void imap_parser_set_limits(struct imap_parser *p, const struct imap_limits *lim);

/* Parses up to len bytes of data and sets *consumed_r to how many it used.
 * Returns
 *  MORE      all of data was consumed; feed more when it arrives.
 *  DONE      a command ended at data[*consumed_r - 1] (its LF); the rest of
 *            data was not looked at.
 *  CONTINUE  a synchronizing literal's header ended at data[*consumed_r - 1];
 *            send a continuation request, then feed the literal's bytes.
 *  BAD       the command was invalid. BAD is reported only once the whole bad
 *            command has been consumed (up to its line end, and across any
 *            {n+} literals it announced), so the next byte starts a new
 *            command. imap_parser_error() says why, imap_parser_tag() gives
 *            the tag when one was read.
 *  FATAL     the input cannot be resynchronised (a {n+} literal over its
 *            limit: its bytes are already on the way) or more than max_bad
 *            consecutive BADs. Close the connection; later feeds return FATAL.
 * Feeding after DONE or BAD starts the next command, as imap_parser_reset()
 * would; feeding after CONTINUE continues the same command. The result does
 * not depend on how the input is split. */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const unsigned char *data,
					size_t len, size_t *consumed_r);

/* Returns the command after DONE, owned by the parser's per-command pool and
 * valid until the next feed or reset; NULL in any other state. */
const struct imap_command *imap_parser_command(struct imap_parser *p);

/* Returns a static description of the error after BAD or FATAL ("[TOOBIG]
 * Literal too large", ...), suitable for the reply; NULL otherwise. */
const char *imap_parser_error(struct imap_parser *p);

/* Returns the current command's tag once it has been read (during MORE,
 * CONTINUE, after DONE, BAD or FATAL), else NULL: reply "* BAD" then. Owned
 * by the per-command pool. */
const char *imap_parser_tag(struct imap_parser *p);

/* After CONTINUE: the size the client announced for its literal. */
size_t imap_parser_literal_size(struct imap_parser *p);

/* Forgets the current command (clears the per-command pool) and waits for a
 * new one. The count of consecutive BADs survives; it is reset by a DONE. */
void imap_parser_reset(struct imap_parser *p);

/* Frees the parser's pools and buffers and sets *p_r to NULL. */
void imap_parser_destroy(struct imap_parser **p_r);

/* Returns true when a is an astring: atom, quoted, literal, or NIL (the atom
 * "NIL" is an astring too: a mailbox may be named NIL). */
bool imap_arg_is_string(const struct imap_arg *a);

/* Returns true when a is NIL. */
bool imap_arg_is_nil(const struct imap_arg *a);

/* Returns a's text when imap_arg_is_string(a), else NULL. */
const char *imap_arg_str(const struct imap_arg *a);

/* Appends the len bytes at s to out as an IMAP string: quoted when that is
 * safe (no CR, LF, NUL or 8-bit octet, and shorter than 1024 bytes), else as
 * a literal "{len}\r\n<bytes>". Returns 0, or -1 when out's limit was hit
 * (out may then hold part of the string). */
int imap_quote(struct buf *out, const char *s, size_t len);

/* Like imap_quote(), but appends NIL when s is NULL (an nstring). */
int imap_quote_nil(struct buf *out, const char *s, size_t len);

#endif
