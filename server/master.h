/* The mailstead-imapd master: forks the workers and supervises them.
 *
 * It runs after the listeners are bound and privileges dropped. It never
 * touches a client or the database. Signals are taken synchronously with
 * sigtimedwait (blocked otherwise), so no work happens in a handler and
 * forked workers start with a clean signal state. */
#ifndef MAILSTEAD_MASTER_H
#define MAILSTEAD_MASTER_H

#include <openssl/ssl.h>

#include "worker.h"

struct config;

/* Supervises cfg->workers workers (0 = one per CPU) until SIGTERM/SIGINT.
 * SIGHUP re-reads config_path (with the same -o overrides) and replaces the
 * workers, keeping the listeners. Returns the process exit status. */
int master_run(struct config *cfg, const char *config_path, char *const *overrides,
	       unsigned noverrides, SSL_CTX *tls_ctx, const struct worker_listener *ls,
	       unsigned nls);

#endif
