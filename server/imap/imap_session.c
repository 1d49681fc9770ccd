#include "imap_session.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "imap_cmd.h"
#include "log.h"
#include "mailbox_view.h"
#include "notify.h"
#include "pool.h"

#define IMAP_PREAUTH_MAX_LINE 8192
#define IMAP_PREAUTH_MAX_LITERAL 8192
#define IMAP_MAX_BAD 20
/* MULTIAPPEND (RFC 3502) sends several messages in one command, and the
 * parser holds every literal of a command in memory until it is complete:
 * their total is bounded by this many maximal messages. So one session
 * holds at most 4 x max_message_size of literals, plus, while the command
 * is being stored, about as much again for the parsed data and twice more
 * for the database request (cmd_append.c, store_append.c). A literal past
 * the total is refused before it is sent (NO [TOOBIG]); the client can
 * send the rest in another APPEND. */
#define IMAP_LITERAL_TOTAL_MESSAGES 4
#define IMAP_OUTPUT_HIGH IMAP_SESSION_OUTPUT_HIGH

static void session_process(struct imap_session *s);

static void session_free(struct imap_session *s)
{
	if (s->view != NULL)
		mailbox_view_close(s, &s->view);
	imap_parser_destroy(&s->parser);
	pool_destroy(&s->pool);
	free(s);
}

static void session_maybe_free(struct imap_session *s)
{
	if (s->closed && s->cmd == NULL && s->refs == 0)
		session_free(s);
}

void imap_session_ref(struct imap_session *s)
{
	s->refs++;
}

void imap_session_unref(struct imap_session *s)
{
	s->refs--;
	session_maybe_free(s);
}

bool imap_session_gone(const struct imap_session *s)
{
	return s->closed;
}

static void set_limits(struct imap_session *s)
{
	const struct config *cfg = worker_config(s->w);
	struct imap_limits lim = {
		.max_tag = 64,
		.max_line = cfg->max_line,
		.max_literal = cfg->max_message_size,
		.max_nonsync_literal = cfg->max_nonsync_literal,
		/* Messages of a MULTIAPPEND plus the command's small
		 * strings. */
		.max_literal_total =
			IMAP_LITERAL_TOTAL_MESSAGES * cfg->max_message_size + 64 * 1024,
		.max_args = 10000,
		.max_depth = 16,
		.max_bad = IMAP_MAX_BAD,
	};

	/* STYLE.md: lower limits before login, so an anonymous client can
	 * make the server hold little. */
	if (s->state == IMAP_STATE_NOT_AUTH) {
		lim.max_line = IMAP_PREAUTH_MAX_LINE;
		lim.max_literal = IMAP_PREAUTH_MAX_LITERAL;
		lim.max_literal_total = 2 * IMAP_PREAUTH_MAX_LITERAL;
		if (lim.max_nonsync_literal > IMAP_PREAUTH_MAX_LITERAL)
			lim.max_nonsync_literal = IMAP_PREAUTH_MAX_LITERAL;
		lim.max_args = 100;
		lim.max_depth = 4;
	}
	if (s->parser == NULL)
		s->parser = imap_parser_create(s->pool, &lim);
	else
		imap_parser_set_limits(s->parser, &lim);
}

bool imap_session_plaintext_ok(const struct imap_session *s)
{
	const struct config *cfg = worker_config(s->w);

	return conn_is_tls(s->conn) || cfg->allow_plaintext_auth ||
	       (cfg->loopback_plaintext_auth && conn_is_loopback(s->conn));
}

const char *imap_session_capabilities(const struct imap_session *s)
{
	static char caps[512];
	size_t len;

	/* RFC 7888: LITERAL- promises non-synchronizing literals up to 4096
	 * octets, LITERAL+ of any size; a larger one than we take (the
	 * parser's limit) ends the connection. */
	len = (size_t)snprintf(caps, sizeof(caps), "IMAP4rev1 SASL-IR %s",
			       worker_config(s->w)->max_nonsync_literal >= 4096 &&
					       worker_config(s->w)->max_nonsync_literal >=
						       worker_config(s->w)->max_message_size
				       ? "LITERAL+"
				       : "LITERAL-");
	if (s->state == IMAP_STATE_NOT_AUTH) {
		if (!conn_is_tls(s->conn) && worker_tls(s->w) != NULL)
			len += (size_t)snprintf(caps + len, sizeof(caps) - len, " STARTTLS");
		if (imap_session_plaintext_ok(s))
			len += (size_t)snprintf(caps + len, sizeof(caps) - len, " AUTH=PLAIN");
		else
			len += (size_t)snprintf(caps + len, sizeof(caps) - len, " LOGINDISABLED");
	} else {
		/* RFC 7889: one limit for every mailbox, the parser's limit
		 * of one literal (a larger APPEND gets NO [TOOBIG]). */
		(void)snprintf(caps + len, sizeof(caps) - len, "%s APPENDLIMIT=%llu",
			       imap_cmd_capabilities(),
			       (unsigned long long)worker_config(s->w)->max_message_size);
	}
	return caps;
}

void imap_write(struct imap_session *s, const void *data, size_t len)
{
	if (!s->closed)
		conn_write(s->conn, data, len);
}

void imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	char *line;

	if (s->closed)
		return;
	va_start(ap, fmt);
	line = pool_vprintf(s->cmd != NULL ? s->cmd->pool : s->pool, fmt, ap);
	va_end(ap);
	conn_printf(s->conn, "* %s\r\n", line);
}

void imap_session_changed(struct imap_session *s)
{
	if (!s->closed && s->cmd != NULL && s->cmd->wake_fn != NULL)
		s->cmd->wake_fn(s->cmd);
}

void imap_session_publish_change(struct imap_session *s, int64_t mailbox_id)
{
	notify_publish(worker_notify(s->w), s->account_id, mailbox_id);
}

void imap_session_bye(struct imap_session *s, const char *text)
{
	if (s->closed || s->logging_out)
		return;
	conn_printf(s->conn, "* BYE %s\r\n", text);
	s->logging_out = true;
	conn_close(s->conn);
}

size_t imap_session_output_size(const struct imap_session *s)
{
	return s->closed ? 0 : conn_output_size(s->conn);
}

void imap_session_abort(struct imap_session *s, const char *reason)
{
	if (s->closed)
		return;
	LOG(WARN, s_log(s), "connection dropped: %s", reason);
	conn_abort(s->conn); /* runs on_closed before it returns */
}

static void on_kick(void *ctx, const char *reason)
{
	imap_session_bye(ctx, reason);
}

void imap_session_login(struct imap_session *s, int64_t account_id, int64_t domain_id,
			const char *username)
{
	s->account_id = account_id;
	/* The worker closes this session when the admin suspends or deletes
	 * the account or domain, or changes the password. */
	s->link.account_id = account_id;
	s->link.domain_id = domain_id;
	s->link.kick = on_kick;
	s->username = pool_strdup(s->pool, username);
	s->state = IMAP_STATE_AUTH;
	s->log.account = s->username;
	conn_log_ctx(s->conn)->account = s->username;
	conn_set_idle_timeout(s->conn, (unsigned)worker_config(s->w)->autologout);
	set_limits(s);
}

/* Writes the tagged reply and gets ready for the next command. */
static void cmd_end(struct imap_cmd *cmd, enum imap_status status, const char *text)
{
	static const char *const words[] = {"OK", "NO", "BAD"};
	struct imap_session *s = cmd->s;
	struct pool *pool = cmd->pool; /* cmd lives in it: NULL it here, not there */

	/* A NULL tag: the handler already wrote its reply (STARTTLS). */
	if (!s->closed && cmd->tag != NULL)
		conn_printf(s->conn, "%s %s %s\r\n", cmd->tag, words[status], text);
	s->cmd = NULL;
	imap_parser_reset(s->parser);
	pool_destroy(&pool);
	if (s->closed) {
		session_maybe_free(s);
		return;
	}
	if (s->logging_out) {
		conn_close(s->conn);
		return;
	}
	conn_read_enable(s->conn, true);
}

struct finish_ctx {
	struct imap_cmd *cmd;
	enum imap_status status;
	char *text;
};

static void finish_after_sync(void *arg)
{
	struct finish_ctx *f = arg;

	cmd_end(f->cmd, f->status, f->text);
}

void imap_cmd_finish(struct imap_cmd *cmd, enum imap_status status, const char *fmt, ...)
{
	struct imap_session *s = cmd->s;
	struct finish_ctx *f;
	va_list ap;

	f = pool_alloc(cmd->pool, sizeof(*f));
	f->cmd = cmd;
	f->status = status;
	va_start(ap, fmt);
	f->text = pool_vprintf(cmd->pool, fmt, ap);
	va_end(ap);
	cmd->line_fn = NULL;
	/* Changes made by other sessions are reported before the tagged
	 * reply, where the protocol allows it (RFC 3501 §5.2, §7.4.1): every
	 * change committed before the command's input. Not asked again when
	 * the view was read after that input (SELECT, or a sync that rode
	 * in the command's own request), nor at LOGOUT (the client is
	 * leaving; updates are never obligatory, and the BYE is sent). */
	if (!s->closed && s->view != NULL && status != IMAP_BAD && !s->logging_out &&
	    !mailbox_view_fresh(s))
		mailbox_view_sync(s, cmd, finish_after_sync, f);
	else
		finish_after_sync(f);
}

void imap_cmd_fail(struct imap_cmd *cmd, const char *error)
{
	LOG(ERROR, s_log(cmd->s), "%s failed: %s", cmd->name, error);
	imap_cmd_finish(cmd, IMAP_NO, "[UNAVAILABLE] Internal error, try again later");
}

void imap_cmd_continue(struct imap_cmd *cmd, const char *text, imap_line_fn *fn)
{
	struct imap_session *s = cmd->s;

	cmd->line_fn = fn;
	if (s->closed)
		return;
	conn_printf(s->conn, "+ %s\r\n", text);
	conn_read_enable(s->conn, true);
}

/* Runs one parsed command. */
static void session_dispatch(struct imap_session *s, const struct imap_command *pc)
{
	/* The command lives in its own pool, destroyed at the tagged reply. */
	struct pool *pool = pool_create(0);
	struct imap_cmd *cmd = pool_alloc(pool, sizeof(*cmd));

	cmd->pool = pool;
	cmd->s = s;
	cmd->tag = pc->tag;
	cmd->name = pc->name;
	cmd->args = pc->args;
	cmd->argc = pc->argc;
	s->cmd = cmd;
	s->input_seq++;
	conn_read_enable(s->conn, false);
	imap_cmd_dispatch(cmd);
}

/* Reads one CRLF-terminated line for a handler's line_fn. Returns false when
 * no full line is buffered yet. */
static bool session_line(struct imap_session *s)
{
	struct evbuffer *in = conn_input(s->conn);
	struct imap_cmd *cmd = s->cmd;
	size_t len, max = worker_config(s->w)->max_line;
	char *line;
	imap_line_fn *fn;

	line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > max) {
			LOG(INFO, s_log(s), "continuation line too long");
			imap_session_bye(s, "Line too long");
		}
		return false;
	}
	if (len > max) {
		free(line);
		imap_session_bye(s, "Line too long");
		return false;
	}
	fn = cmd->line_fn;
	cmd->line_fn = NULL;
	s->input_seq++;
	conn_read_enable(s->conn, false);
	fn(cmd, line, len);
	explicit_bzero(line, len); /* may hold SASL credentials */
	free(line);
	return true;
}

static void session_process(struct imap_session *s)
{
	struct evbuffer *in;

	while (!s->closed && !s->logging_out) {
		struct evbuffer_iovec v;
		enum imap_parse_result r;
		size_t used = 0;

		if (s->cmd != NULL) {
			if (s->cmd->line_fn == NULL || !session_line(s))
				return;
			continue;
		}
		if (conn_output_size(s->conn) > IMAP_OUTPUT_HIGH)
			return; /* resume from the drained callback */
		in = conn_input(s->conn);
		if (evbuffer_get_length(in) == 0)
			return;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return;
		r = imap_parser_feed(s->parser, v.iov_base, v.iov_len, &used);
		(void)evbuffer_drain(in, used); /* used <= buffered length */
		switch (r) {
		case IMAP_PARSE_MORE:
			break;
		case IMAP_PARSE_CONTINUE:
			conn_write_str(s->conn, "+ Ready for literal data\r\n");
			break;
		case IMAP_PARSE_DONE:
			session_dispatch(s, imap_parser_command(s->parser));
			break;
		case IMAP_PARSE_BAD: {
			const char *tag = imap_parser_tag(s->parser);
			const char *err = imap_parser_error(s->parser);
			/* A literal over the limits is refused before the "+",
			 * so the client sent none of it: no syntax error but a
			 * limit, which RFC 7889 §4 answers with a tagged NO
			 * [TOOBIG] (for APPEND; as good for any command). */
			conn_printf(s->conn, "%s %s %s\r\n", tag != NULL ? tag : "*",
				    strncmp(err, "[TOOBIG]", 8) == 0 ? "NO" : "BAD", err);
			imap_parser_reset(s->parser);
			break;
		}
		case IMAP_PARSE_FATAL:
			LOG(INFO, s_log(s), "protocol error: %s", imap_parser_error(s->parser));
			imap_session_bye(s, imap_parser_error(s->parser));
			return;
		}
	}
}

static void on_input(struct conn *conn, void *ctx)
{
	session_process(ctx);
}

static void on_drained(struct conn *conn, void *ctx)
{
	struct imap_session *s = ctx;

	if (s->cmd == NULL)
		session_process(s);
	else if (s->cmd->drained_fn != NULL)
		s->cmd->drained_fn(s->cmd);
}

static void on_timeout(struct conn *conn, void *ctx)
{
	struct imap_session *s = ctx;

	LOG(INFO, s_log(s), "idle timeout");
	imap_session_bye(s, s->state == IMAP_STATE_NOT_AUTH ? "Timeout before login"
							     : "Autologout; idle for too long");
	if (!s->logging_out)
		conn_close(conn);
}

static void on_closed(struct conn *conn, void *ctx)
{
	struct imap_session *s = ctx;

	LOG(DEBUG, s_log(s), "disconnected");
	s->closed = true;
	worker_session_remove(s->w, &s->link);
	if (s->cmd != NULL && s->cmd->drained_fn != NULL) {
		/* A command waiting for output to drain would never hear
		 * again: let it see the session gone and end. */
		void (*fn)(struct imap_cmd *) = s->cmd->drained_fn;
		s->cmd->drained_fn = NULL;
		imap_session_ref(s);
		fn(s->cmd);
		imap_session_unref(s); /* frees s if the command ended */
		return;
	}
	if (s->cmd != NULL && s->cmd->line_fn != NULL) {
		/* Waiting for a line that will never come (AUTHENTICATE, IDLE):
		 * the command ends now, or when its own async work does. */
		struct imap_cmd *cmd = s->cmd;
		cmd->line_fn = NULL;
		imap_session_ref(s);
		if (cmd->closed_fn != NULL)
			cmd->closed_fn(cmd);
		else
			imap_cmd_finish(cmd, IMAP_NO, "Connection closed");
		imap_session_unref(s);
		return;
	}
	session_maybe_free(s);
}

static void on_shutdown(void *ctx)
{
	imap_session_bye(ctx, "Server shutting down");
}

static const struct conn_handler imap_handler = {
	.input = on_input,
	.drained = on_drained,
	.timeout = on_timeout,
	.closed = on_closed,
};

void imap_session_start(struct worker *w, struct conn *conn, bool implicit_tls)
{
	struct imap_session *s = calloc(1, sizeof(*s));
	const char *client = conn_client(conn);
	const char *colon = strrchr(client, ':');
	size_t iplen = colon ? (size_t)(colon - client) : strlen(client);

	if (s == NULL)
		panic("imap: out of memory");
	s->w = w;
	s->conn = conn;
	snprintf(s->client, sizeof(s->client), "%s", client);
	s->log.session_id = conn_id(conn);
	s->log.client = s->client;
	s->pool = pool_create(1024);
	s->state = IMAP_STATE_NOT_AUTH;
	s->implicit_tls = implicit_tls;
	set_limits(s);
	s->link.shutdown = on_shutdown;
	s->link.ctx = s;
	if (iplen >= sizeof(s->link.ip))
		iplen = sizeof(s->link.ip) - 1;
	memcpy(s->link.ip, client, iplen);
	worker_session_add(w, &s->link);
	conn_set_idle_timeout(conn, (unsigned)worker_config(w)->preauth_timeout);
	conn_set_handler(conn, &imap_handler, s);
	LOG(DEBUG, s_log(s), "connected%s", implicit_tls ? " (TLS)" : "");
	conn_printf(conn, "* OK [CAPABILITY %s] Mailstead ready.\r\n",
		    imap_session_capabilities(s));
}
