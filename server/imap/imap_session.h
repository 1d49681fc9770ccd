/* An IMAP session: the protocol state machine of one client connection.
 *
 * Bytes from the conn go through the incremental parser; each complete
 * command is dispatched through the command table (imap_cmd.c) to a handler
 * (cmd_*.c). A command runs until its handler calls imap_cmd_finish(),
 * possibly after database round trips; meanwhile the session reads no more
 * input, so commands execute one at a time in order and a client cannot
 * make the server buffer unbounded input.
 *
 * Memory: s->pool lives as long as the session; cmd->pool is cleared after
 * each tagged reply. */
#ifndef MAILSTEAD_IMAP_SESSION_H
#define MAILSTEAD_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_parser.h"
#include "log.h"
#include "worker.h"

struct conn;
struct imap_session;
struct mailbox_view;
struct pool;

enum imap_state {
	IMAP_STATE_NOT_AUTH = 1,
	IMAP_STATE_AUTH = 2,
	IMAP_STATE_SELECTED = 4,
	IMAP_STATE_LOGOUT = 8,
};

enum imap_status { IMAP_OK, IMAP_NO, IMAP_BAD };

/* ENABLE-able extensions (RFC 5161), bits of imap_session.enabled. */
#define IMAP_ENABLE_CONDSTORE 1
#define IMAP_ENABLE_QRESYNC 2
/* With IMAP_ENABLE_CONDSTORE: turned on by a command that uses CONDSTORE
 * (RFC 7162 §3.1), not by ENABLE, which still lists it when asked. */
#define IMAP_ENABLE_CONDSTORE_IMPLICIT 4

struct imap_cmd;
typedef void imap_cmd_fn(struct imap_cmd *cmd);

/* A raw input line for handlers that take over the input (AUTHENTICATE
 * continuation, IDLE's DONE): called once per line without CRLF. */
typedef void imap_line_fn(struct imap_cmd *cmd, const char *line, size_t len);

struct imap_cmd {
	struct imap_session *s;
	struct pool *pool; /* cleared after the tagged reply */
	const char *tag;
	const char *name; /* "FETCH", also for "UID FETCH" (then uid is true) */
	bool uid;
	const struct imap_arg *args;
	unsigned argc;
	void *ctx; /* the handler's state across round trips */
	imap_line_fn *line_fn;
	/* Called when the selected mailbox changed (a notification) while
	 * this command runs: IDLE pushes the changes at once. */
	void (*wake_fn)(struct imap_cmd *cmd);
	/* Called when the connection closes while the command waits for an
	 * input line (line_fn set); NULL: the command ends with NO. */
	void (*closed_fn)(struct imap_cmd *cmd);
	/* Called when queued output has drained (for handlers that produce
	 * large responses in parts), or NULL. */
	void (*drained_fn)(struct imap_cmd *cmd);
	/* RFC 3501 §7.4.1: no EXPUNGE responses during FETCH, STORE, SEARCH
	 * (non-UID forms). Set by the dispatcher. */
	bool no_expunge;
};

struct imap_session {
	struct worker *w;
	struct conn *conn;
	struct log_ctx log; /* a copy that outlives the conn */
	char client[64];
	struct worker_session link;
	struct pool *pool;
	struct imap_parser *parser;
	enum imap_state state;
	bool implicit_tls;
	bool busy;        /* a command is running */
	bool closed;      /* conn gone: finish quietly */
	bool logging_out;
	unsigned refs;    /* outstanding async work that will call back */
	struct imap_cmd *cmd; /* the running command, or NULL */
	/* Counts the client's inputs: each command, each line a command
	 * reads (IDLE's DONE, AUTHENTICATE). mailbox_view_fresh compares
	 * against it. */
	uint64_t input_seq;

	/* Authenticated state. */
	int64_t account_id;
	char *username;

	/* Extensions the client turned on with ENABLE (IMAP_ENABLE_*). */
	unsigned enabled;

	/* Selected state (NULL when not selected). */
	struct mailbox_view *view;
};

#define s_log(s) (&(s)->log)

/* Starts a session on a new connection (greeting, timeouts). */
void imap_session_start(struct worker *w, struct conn *conn, bool implicit_tls);

/* Writes an untagged response line "* <text>\r\n". */
void imap_untagged(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes raw bytes (for literals and long FETCH responses built in parts). */
void imap_write(struct imap_session *s, const void *data, size_t len);

/* Ends the running command with "<tag> OK|NO|BAD <text>\r\n" (text may start
 * with a response code "[CODE] "), after any pending mailbox updates the
 * protocol allows at this point. Clears the command pool and resumes
 * reading input. */
void imap_cmd_finish(struct imap_cmd *cmd, enum imap_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A database or internal failure: NO [UNAVAILABLE] or [SERVERBUG] and a log
 * line. */
void imap_cmd_fail(struct imap_cmd *cmd, const char *error);

/* Sends "+ <text>" and routes the next input lines to fn. */
void imap_cmd_continue(struct imap_cmd *cmd, const char *text, imap_line_fn *fn);

/* True when the session's connection has gone away: a handler whose async
 * step completes must then call imap_cmd_finish anyway (it releases
 * everything) but need not do more work. */
bool imap_session_gone(const struct imap_session *s);

/* Hold/release the session across async work whose callback touches it
 * (a workqueue job). The session is freed only when refs reach 0. */
void imap_session_ref(struct imap_session *s);
void imap_session_unref(struct imap_session *s);

/* Says BYE and closes (after flushing). */
void imap_session_bye(struct imap_session *s, const char *text);

/* Output a command may queue before it waits for cmd->drained_fn (which
 * the session also calls when the connection goes away meanwhile, so the
 * command can end). */
#define IMAP_SESSION_OUTPUT_HIGH (1024 * 1024)

/* Bytes of output queued and not yet sent; 0 once the connection is gone. */
size_t imap_session_output_size(const struct imap_session *s);

/* Drops the connection at once, discarding queued output, for a response
 * that cannot be completed correctly (a literal whose octets are gone):
 * nothing more may reach the client. The running command still ends with
 * imap_cmd_finish. */
void imap_session_abort(struct imap_session *s, const char *reason);

/* Enters the authenticated state (after a successful login). */
void imap_session_login(struct imap_session *s, int64_t account_id, int64_t domain_id,
			const char *username);

/* The selected mailbox may have changed: wakes a running command that
 * asked for it (wake_fn). */
void imap_session_changed(struct imap_session *s);

/* This session committed a change of one of its account's mailboxes: tells
 * every other session (any worker, any host) through notify.h. */
void imap_session_publish_change(struct imap_session *s, int64_t mailbox_id);

/* The CAPABILITY list for the session's current state (without "* CAPABILITY "). */
const char *imap_session_capabilities(const struct imap_session *s);

/* Whether plaintext authentication is allowed on this connection now. */
bool imap_session_plaintext_ok(const struct imap_session *s);

#endif
