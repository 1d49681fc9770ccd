/* LMTP command lines (RFC 2033, on the SMTP grammar of RFC 5321 §4.1).
 *
 * Pure parsing of one complete command line (CRLF already removed): the
 * verb, its argument, the path of MAIL FROM / RCPT TO and their ESMTP
 * parameters (RFC 5321 §4.1.2 Mail-parameters), the size and LAST of BDAT
 * (RFC 3030). Knows nothing of sockets, sessions or the database; the
 * session (lmtp_session.c) decides what a valid command means in its state.
 *
 * On a syntax error the parser returns the whole reply line to send,
 * with its RFC 3463 enhanced status code (RFC 2034), so every syntax reply
 * is spelled in one place:
 *   500 5.5.1  unknown command, or HELO/EHLO (RFC 2033 §4.1: LMTP is LHLO)
 *   500 5.5.2  NUL or other control bytes in the line
 *   501 5.5.4  bad arguments (missing domain, path without <>, ...)
 *   501 5.1.7  bad sender path      501 5.1.3  bad recipient path
 *   555 5.5.4  unknown or unsupported MAIL/RCPT parameter (RFC 5321 §4.1.1.11)
 *
 * Paths: a source route ("<@a,@b:user@d>", RFC 5321 §4.1.1.3 says to
 * accept and ignore it) is dropped; a quoted local part is kept as sent,
 * quotes included (address_parse() will refuse it later, which gives the
 * recipient a clean 553 instead of a syntax error). Paths are at most
 * LMTP_MAX_PATH bytes (RFC 5321 §4.5.3.1.3: 256 octets). */
#ifndef MAILSTEAD_LMTP_PARSE_H
#define MAILSTEAD_LMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;

/* A command line may be longer than RFC 5321's 512 octets once ESMTP
 * parameters are added (§4.5.3.1.4 lets extensions raise it). */
#define LMTP_MAX_LINE 2048
#define LMTP_MAX_PATH 256
#define LMTP_MAX_PARAMS 16

enum lmtp_verb {
	LMTP_CMD_LHLO,
	LMTP_CMD_MAIL,
	LMTP_CMD_RCPT,
	LMTP_CMD_DATA,
	LMTP_CMD_BDAT,
	LMTP_CMD_RSET,
	LMTP_CMD_NOOP,
	LMTP_CMD_QUIT,
	LMTP_CMD_VRFY,
};

/* BODY= of MAIL FROM (RFC 6152); BINARYMIME is not offered. */
enum lmtp_body {
	LMTP_BODY_NONE,
	LMTP_BODY_7BIT,
	LMTP_BODY_8BITMIME,
};

struct lmtp_command {
	enum lmtp_verb verb;
	/* LHLO: the client's name; VRFY: the string to verify; NOOP: its
	 * optional string or NULL. Pool-owned. */
	const char *arg;
	/* MAIL/RCPT: the mailbox between the angle brackets without a source
	 * route, "" for MAIL FROM:<> (the null reverse-path). Pool-owned. */
	const char *path;
	/* MAIL: SIZE= (RFC 1870), 0 when absent; has_size tells them apart. */
	uint64_t size;
	bool has_size;
	enum lmtp_body body;
	/* BDAT: the chunk size and whether it is the LAST chunk. */
	uint64_t chunk_size;
	bool last;
};

/* Parses line (len bytes, no CRLF; may contain any byte). Returns 0 with
 * *cmd_r filled (strings copied into pool), or -1 with *reply_r set to a
 * complete reply line without CRLF (static text). */
int lmtp_parse_command(const char *line, size_t len, struct pool *pool,
		       struct lmtp_command *cmd_r, const char **reply_r);

/* The verb's name in upper case ("LHLO"...), for logs. */
const char *lmtp_verb_name(enum lmtp_verb verb);

#endif
