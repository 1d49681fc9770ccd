/* TLS server context (OpenSSL), loaded by the master before it drops
 * privileges so the key file may stay readable by root only. */
#ifndef MAILSTEAD_TLS_H
#define MAILSTEAD_TLS_H

#include <openssl/ssl.h>

/* Returns a context for TLS 1.2+ with the certificate chain and key, or
 * NULL with error_r (static buffer). The caller owns it (SSL_CTX_free). */
SSL_CTX *tls_ctx_create(const char *cert_file, const char *key_file, const char **error_r);

#endif
