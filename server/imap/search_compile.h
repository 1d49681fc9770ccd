/* SEARCH criteria (RFC 3501 §6.4.4) compiled into one SQL condition.
 *
 * search_compile() reads the arguments of SEARCH / UID SEARCH as the wire
 * parser returned them, checks them, and turns them into a boolean SQL
 * expression over the tables `mailbox_messages mm` and (when
 * join_message is set) `messages m`, plus the values of its parameters.
 *
 * The expression is assembled only from constant fragments written in
 * search_compile.c; every value that comes from the client (strings,
 * dates, numbers, sequence sets) travels as a $n parameter, never as SQL
 * text. Sequence numbers, '*' and \Recent are resolved here against the
 * session's view (search_env), so the database only ever sees UIDs.
 *
 * The module is pure: no I/O, no SQL execution, no session. The store
 * (store_search.c) wraps the expression into its query, whose parameters
 * $1..$3 are its own: $1 account, $2 mailbox, $3 the view's highest UID.
 *
 * What the string keys search (filled by the MIME module when a message
 * enters, schema/0001_init.sql):
 *   SUBJECT FROM TO CC BCC  m.hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc
 *                           (decoded field values); with an empty string:
 *                           every message that has the field
 *   HEADER name string      the lines of m.headers_text ("Name: value\n",
 *                           unfolded, decoded) whose name is `name`
 *                           (case-insensitive) and whose value contains
 *                           the string; "" = has the field
 *   BODY                    m.body_text (decoded text parts)
 *   TEXT                    m.headers_text or m.body_text
 * Matching is a case-insensitive substring match (ILIKE with LIKE's
 * wildcards escaped), with PostgreSQL's Unicode case folding. BODY and
 * TEXT get the same answers through the background word index where it
 * covers the messages and the needle (schema/0013_search_index.sql); their
 * expressions then read `messages` only for the messages they must scan,
 * through a subquery, and do not set join_message.
 *
 * Dates ignore time and time zone (RFC 3501 §6.4.4) by comparing the UTC
 * calendar date: BEFORE/ON/SINCE use mm.internaldate, SENTBEFORE/SENTON/
 * SENTSINCE m.sent_date (a message without a usable Date: field matches no
 * SENT* key; NOT SENTON and the like then match it). The UTC date may differ by a day
 * from the date written in the Date: field of a message sent near
 * midnight in a zone far from UTC: the schema keeps the instant, not the
 * sender's zone.
 *
 * MODSEQ [entry-name entry-type] n (RFC 7162 §3.1.5) matches messages
 * whose mod-sequence is at least n. Mailstead keeps one mod-sequence per
 * message (the last change of any of its flags), so the entry name and
 * type are checked and ignored, as the RFC allows. */
#ifndef MAILSTEAD_SEARCH_COMPILE_H
#define MAILSTEAD_SEARCH_COMPILE_H

#include <stdbool.h>
#include <stdint.h>

struct imap_arg;
struct pool;

/* Limits of one search, beyond the wire parser's (line, arguments, list
 * depth). They bound the server's recursion and the size of the SQL. */
#define SEARCH_MAX_KEYS 1000     /* search keys, operators and groups included */
#define SEARCH_MAX_DEPTH 100     /* nesting of NOT, OR and parenthesised groups */
#define SEARCH_MAX_STRING 1024   /* bytes of one search string or field name */
#define SEARCH_MAX_RANGES 100000 /* UID ranges of all sequence-set keys together */

/* The first parameter number the compiled expression uses ($1..$3 belong
 * to the store's query around it). */
#define SEARCH_FIRST_PARAM 4

enum search_status {
	SEARCH_OK,
	SEARCH_BAD,        /* syntax error, unknown key: tagged BAD */
	SEARCH_BADCHARSET, /* CHARSET other than UTF-8 / US-ASCII: NO [BADCHARSET] */
	SEARCH_LIMIT,      /* past a SEARCH_MAX_* limit: NO [LIMIT] */
};

/* What compiling needs to know of the selected mailbox. */
struct search_env {
	uint32_t count;   /* messages in the view (highest sequence number) */
	uint32_t max_uid; /* highest UID in the view, 0 when empty */
	/* UID of sequence number seq (1..count). */
	uint32_t (*uid_at)(const void *view, uint32_t seq);
	/* True when uid is \Recent in this session. */
	bool (*is_recent)(const void *view, uint32_t uid);
	const void *view;
};

struct search_query {
	const char *where;   /* the SQL condition, never empty */
	bool join_message;   /* refers to `messages m` */
	/* A MODSEQ key was used (RFC 7162 §3.1.5): the reply ends with the
	 * highest modseq of the messages found. */
	bool has_modseq;
	unsigned nparams;    /* parameters $SEARCH_FIRST_PARAM.. */
	const char **params; /* their values (text), none NULL */
};

/* Compiles the SEARCH arguments args[0..argc-1] (an optional CHARSET
 * specification, then one or more search keys) against env. On SEARCH_OK
 * fills *query_r; otherwise *error_r is a static reason for the reply.
 * Everything is allocated from pool. */
enum search_status search_compile(struct pool *pool, const struct imap_arg *args, unsigned argc,
				  const struct search_env *env, struct search_query *query_r,
				  const char **error_r);

#endif
