/* Commands of any state and of the not-authenticated state (RFC 3501
 * §6.1, §6.2): CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "imap_cmd.h"
#include "log.h"
#include "pool.h"

#define SASL_MAX_RESPONSE 8192

void cmd_capability(struct imap_cmd *cmd)
{
	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "CAPABILITY takes no arguments");
		return;
	}
	imap_untagged(cmd->s, "CAPABILITY %s", imap_session_capabilities(cmd->s));
	imap_cmd_finish(cmd, IMAP_OK, "CAPABILITY completed");
}

void cmd_noop(struct imap_cmd *cmd)
{
	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "NOOP takes no arguments");
		return;
	}
	/* Pending mailbox changes go out before the tagged reply. */
	imap_cmd_finish(cmd, IMAP_OK, "NOOP completed");
}

void cmd_logout(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "LOGOUT takes no arguments");
		return;
	}
	imap_untagged(s, "BYE Logging out");
	s->logging_out = true;
	s->state = IMAP_STATE_LOGOUT;
	imap_cmd_finish(cmd, IMAP_OK, "LOGOUT completed");
}

void cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct worker *w = s->w;

	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "STARTTLS takes no arguments");
		return;
	}
	if (worker_tls(w) == NULL) {
		imap_cmd_finish(cmd, IMAP_BAD, "TLS is not configured");
		return;
	}
	if (conn_is_tls(s->conn)) {
		imap_cmd_finish(cmd, IMAP_BAD, "TLS is already active");
		return;
	}
	/* The tagged OK must go out in plaintext, then the handshake. The
	 * parser stopped right after this command's CRLF, so whatever the
	 * client pipelined behind it is still unparsed: conn_starttls discards
	 * it (RFC 3501 §6.2.1). */
	conn_printf(s->conn, "%s OK Begin TLS negotiation now\r\n", cmd->tag);
	if (conn_starttls(s->conn, worker_tls(w)) < 0) {
		LOG(ERROR, s_log(s), "STARTTLS setup failed");
		imap_session_bye(s, "TLS setup failed");
	}
	/* The reply is already written: end the command without another. */
	cmd->tag = NULL;
	imap_cmd_finish(cmd, IMAP_OK, "%s", "");
}

static void auth_finished(void *ctx, enum auth_result r, int64_t account_id, int64_t domain_id,
			  const char *user)
{
	struct imap_cmd *cmd = ctx;
	struct imap_session *s = cmd->s;

	if (imap_session_gone(s)) {
		imap_cmd_finish(cmd, IMAP_NO, "Gone");
		return;
	}
	switch (r) {
	case AUTH_OK:
		LOG(INFO, s_log(s), "login as %s", user);
		imap_session_login(s, account_id, domain_id, user);
		imap_cmd_finish(cmd, IMAP_OK, "[CAPABILITY %s] Logged in",
				imap_session_capabilities(s));
		return;
	case AUTH_SUSPENDED:
		LOG(INFO, s_log(s), "login as %s refused: suspended", user);
		imap_cmd_finish(cmd, IMAP_NO, "[CONTACTADMIN] Account suspended");
		return;
	case AUTH_LIMITED:
		LOG(INFO, s_log(s), "login as %s refused: too many failures", user);
		imap_cmd_finish(cmd, IMAP_NO,
				"[AUTHENTICATIONFAILED] Too many failed logins, try again later");
		return;
	case AUTH_UNAVAILABLE:
		imap_cmd_finish(cmd, IMAP_NO, "[UNAVAILABLE] Authentication unavailable, try later");
		return;
	case AUTH_FAILED:
		break;
	}
	LOG(INFO, s_log(s), "login as %s failed", user);
	imap_cmd_finish(cmd, IMAP_NO, "[AUTHENTICATIONFAILED] Authentication failed");
}

static bool plaintext_refused(struct imap_cmd *cmd)
{
	if (imap_session_plaintext_ok(cmd->s))
		return false;
	imap_cmd_finish(cmd, IMAP_NO, "[PRIVACYREQUIRED] Use STARTTLS first");
	return true;
}

void cmd_login(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const struct imap_arg *a = cmd->args;

	if (cmd->argc != 2 || !imap_arg_is_string(&a[0]) || !imap_arg_is_string(&a[1])) {
		imap_cmd_finish(cmd, IMAP_BAD, "LOGIN needs a user name and a password");
		return;
	}
	if (plaintext_refused(cmd))
		return;
	auth_login(s->w, s->link.ip, a[0].str, a[0].len, a[1].str, a[1].len, auth_finished, cmd);
	/* auth_login copied the password; wipe the parser's copy. */
	explicit_bzero((char *)a[1].str, a[1].len);
}

/* RFC 4616: authzid NUL authcid NUL passwd. An authzid other than the
 * authcid (proxy login) is refused. */
static void sasl_plain(struct imap_cmd *cmd, const char *b64, size_t b64_len)
{
	struct imap_session *s = cmd->s;
	unsigned char *raw;
	int len;
	const char *authz, *authc, *pass, *end;
	size_t authz_len, authc_len;

	if (b64_len == 1 && b64[0] == '*') {
		imap_cmd_finish(cmd, IMAP_BAD, "Authentication cancelled");
		return;
	}
	if (b64_len == 0 || b64_len > SASL_MAX_RESPONSE || b64_len % 4 != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "Invalid base64 in SASL response");
		return;
	}
	raw = pool_alloc(cmd->pool, b64_len / 4 * 3 + 1);
	len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len);
	if (len < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "Invalid base64 in SASL response");
		return;
	}
	/* EVP_DecodeBlock counts padding as zero bytes: take them off. */
	if (b64_len >= 1 && b64[b64_len - 1] == '=')
		len--;
	if (b64_len >= 2 && b64[b64_len - 2] == '=')
		len--;
	end = (const char *)raw + len;
	authz = (const char *)raw;
	authc = memchr(authz, '\0', (size_t)(end - authz));
	pass = authc ? memchr(authc + 1, '\0', (size_t)(end - authc - 1)) : NULL;
	if (authc == NULL || pass == NULL) {
		explicit_bzero(raw, (size_t)len);
		imap_cmd_finish(cmd, IMAP_BAD, "Malformed PLAIN response");
		return;
	}
	authz_len = (size_t)(authc - authz);
	authc++;
	authc_len = (size_t)(pass - authc);
	pass++;
	if (authz_len != 0 && (authz_len != authc_len || memcmp(authz, authc, authc_len) != 0)) {
		explicit_bzero(raw, (size_t)len);
		imap_cmd_finish(cmd, IMAP_NO, "[AUTHORIZATIONFAILED] Proxy authentication not allowed");
		return;
	}
	auth_login(s->w, s->link.ip, authc, authc_len, pass, (size_t)(end - pass), auth_finished,
		   cmd);
	explicit_bzero(raw, (size_t)len);
}

static void plain_line(struct imap_cmd *cmd, const char *line, size_t len)
{
	sasl_plain(cmd, line, len);
}

void cmd_authenticate(struct imap_cmd *cmd)
{
	const struct imap_arg *a = cmd->args;

	if (cmd->argc < 1 || cmd->argc > 2 || a[0].type != IMAP_ARG_ATOM ||
	    (cmd->argc == 2 && !imap_arg_is_string(&a[1]))) {
		imap_cmd_finish(cmd, IMAP_BAD, "AUTHENTICATE needs a mechanism");
		return;
	}
	if (strcasecmp(a[0].str, "PLAIN") != 0) {
		imap_cmd_finish(cmd, IMAP_NO, "Unsupported authentication mechanism");
		return;
	}
	if (plaintext_refused(cmd))
		return;
	if (cmd->argc == 2) {
		/* RFC 4959 SASL-IR: "=" is an empty initial response. */
		if (a[1].len == 1 && a[1].str[0] == '=')
			imap_cmd_continue(cmd, "", plain_line);
		else
			sasl_plain(cmd, a[1].str, a[1].len);
		return;
	}
	imap_cmd_continue(cmd, "", plain_line);
}
