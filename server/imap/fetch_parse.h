/* FETCH data items (RFC 3501 §6.4.5, grammar §9 fetch-att, section).
 *
 * A pure parser: turns the argument after the sequence set (an atom, or a
 * parenthesised list of atoms; the wire parser hands a whole
 * "BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.2048>" as one atom) into a list
 * of items with their response names (§7.4.2). It knows nothing of
 * messages: where a section lies in a message is partmap_find's business,
 * given the section string this parser produces.
 *
 * Strict grammar, case-insensitive keywords; every count and length is
 * bounded (FETCH_MAX_*). Items that would answer the same response name
 * twice are kept once. */
#ifndef MAILSTEAD_FETCH_PARSE_H
#define MAILSTEAD_FETCH_PARSE_H

#include <stdbool.h>
#include <stdint.h>

struct imap_arg;
struct pool;

#define FETCH_MAX_ITEMS      100 /* items of one FETCH */
#define FETCH_MAX_FIELDS     200 /* names in one HEADER.FIELDS list */
#define FETCH_MAX_FIELD_LEN  200 /* octets of one field name */
#define FETCH_MAX_PART_DEPTH 50  /* numbers in a section part ("1.2.3") */

enum fetch_att {
	FETCH_ATT_UID,
	FETCH_ATT_FLAGS,
	FETCH_ATT_INTERNALDATE,
	FETCH_ATT_RFC822_SIZE,
	FETCH_ATT_ENVELOPE,
	FETCH_ATT_BODY, /* the non-extensible BODYSTRUCTURE */
	FETCH_ATT_BODYSTRUCTURE,
	/* BODY[...], BODY.PEEK[...], RFC822 (BODY[]), RFC822.HEADER
	 * (BODY.PEEK[HEADER]), RFC822.TEXT (BODY[TEXT]). */
	FETCH_ATT_SECTION,
	FETCH_ATT_MODSEQ, /* RFC 7162 §3.1.4.2 */
};

struct fetch_item {
	enum fetch_att att;
	/* The response item name: "UID", "RFC822.TEXT", "BODY[1.2.MIME]",
	 * "BODY[HEADER.FIELDS (FROM SUBJECT)]<0>" (keywords and field names
	 * uppercased, partial fetches with their origin only, §7.4.2). */
	const char *name;

	/* FETCH_ATT_SECTION only: */
	/* The section for partmap_find: the part numbers and keyword without
	 * the field list ("", "HEADER", "1.2", "3.MIME", "HEADER.FIELDS.NOT"). */
	const char *section;
	const char *const *fields; /* HEADER.FIELDS names (uppercased) */
	unsigned nfields;
	bool fields_not; /* HEADER.FIELDS.NOT */
	bool peek;       /* does not set \Seen */
	bool partial;    /* <origin.count> */
	uint32_t origin, count;
};

struct fetch_request {
	struct fetch_item *items;
	unsigned nitems;
	bool set_seen; /* some section item without PEEK */
	bool need_envelope, need_body, need_bodystructure;
	bool need_partmap; /* some section other than the whole message */
	bool has_sections;
};

/* Parses the FETCH items in arg (the argument after the sequence set):
 * a macro (ALL, FAST, FULL), one item, or a list of one or more items.
 * With uid (UID FETCH) a UID item comes first unless one was asked for
 * (§6.4.8). Everything is allocated from pool. Returns 0 with *req_r, or
 * -1 with a static *error_r for the BAD reply. */
int fetch_parse(struct pool *pool, const struct imap_arg *arg, bool uid,
                struct fetch_request *req_r, const char **error_r);

/* Adds the MODSEQ item to a parsed request unless it has one (CHANGEDSINCE
 * implies it, RFC 7162 §3.1.4.1). */
void fetch_request_want_modseq(struct fetch_request *req);

/* The largest mod-sequence (RFC 7162 §7: unsigned 63-bit). */
#define FETCH_MODSEQ_MAX 9223372036854775807ULL

/* Parses a mod-sequence-value (1..FETCH_MODSEQ_MAX, digits only) or with
 * allow_zero a mod-sequence-valzer (0 too). Returns 0 or -1. */
int fetch_parse_modseq(const char *s, bool allow_zero, uint64_t *v_r);

/* FETCH modifiers (RFC 4466 §2.4): CHANGEDSINCE (RFC 7162 §3.1.4.1) and,
 * for UID FETCH, VANISHED (§3.2.6). */
struct fetch_modifiers {
	bool changedsince;
	uint64_t since;
	bool vanished;
};

/* Parses the parenthesised modifier list after the FETCH items. VANISHED
 * needs uid and CHANGEDSINCE; each modifier may be given once. Returns 0
 * with *mods_r, or -1 with a static *error_r for the BAD reply. Whether
 * the session may use VANISHED (ENABLE QRESYNC) is the caller's check. */
int fetch_parse_modifiers(const struct imap_arg *arg, bool uid, struct fetch_modifiers *mods_r,
                          const char **error_r);

#endif
