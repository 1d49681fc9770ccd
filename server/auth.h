/* Password authentication for the worker's sessions (IMAP, later POP3).
 *
 * auth_login looks the account up (async SQL), verifies the password on the
 * worker's thread pool (Argon2id costs tens of ms: never on the loop), and
 * applies the per-IP and per-account failure limits (counted in the
 * database, so they hold across workers and hosts). Failures are reported
 * only after cfg->auth_fail_delay_ms, to slow guessing. */
#ifndef MAILSTEAD_AUTH_H
#define MAILSTEAD_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct worker;

enum auth_result {
	AUTH_OK,
	AUTH_FAILED,      /* unknown user or wrong password */
	AUTH_SUSPENDED,   /* right password, account or domain suspended */
	AUTH_LIMITED,     /* too many failures from this IP or for this user */
	AUTH_UNAVAILABLE, /* database or thread pool unavailable */
};

/* account_id, domain_id and user (canonical address, valid during the
 * call) are set for AUTH_OK. */
typedef void auth_cb(void *ctx, enum auth_result r, int64_t account_id, int64_t domain_id,
		     const char *user);

/* Starts an authentication; cb runs exactly once, later, on the loop. The
 * password is copied (and wiped after use); the caller may wipe its copy at
 * once. The caller must keep ctx alive until cb runs. */
void auth_login(struct worker *w, const char *ip, const char *user, size_t user_len,
		const char *password, size_t password_len, auth_cb *cb, void *ctx);

#endif
