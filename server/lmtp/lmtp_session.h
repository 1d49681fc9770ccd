/* An LMTP session (RFC 2033): the protocol state machine of one connection
 * from the MTA, on top of conn.h like imap_session.c.
 *
 * Commands are read one line at a time and parsed by lmtp_parse.c; message
 * content goes through the lmtp_data.c decoder. A command that needs the
 * database (RCPT TO resolves the address, the end of DATA or BDAT LAST
 * stores the message) stops reading until its reply is written, so replies
 * to pipelined commands (RFC 2920) come back in order and a client cannot
 * make the server buffer unbounded input.
 *
 * After the content, one reply per accepted recipient, in RCPT order, each
 * sent after the transaction that stored that recipient's copies committed
 * (RFC 2033 §4.2). Extensions: PIPELINING, ENHANCEDSTATUSCODES (RFC 2034:
 * every 2xx/4xx/5xx reply carries one), 8BITMIME, SIZE (max_message_size),
 * CHUNKING (RFC 3030 BDAT). No authentication: LMTP is for the local MTA
 * (docs/delivery.md). */
#ifndef MAILSTEAD_LMTP_SESSION_H
#define MAILSTEAD_LMTP_SESSION_H

struct conn;
struct worker;

/* Starts a session on a new connection: greeting, idle timeout. The
 * session frees itself when the connection closes. */
void lmtp_session_start(struct worker *w, struct conn *conn);

#endif
