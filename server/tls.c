#include "tls.h"

#include <openssl/err.h>
#include <stdio.h>

static char tls_error[512];

static SSL_CTX *tls_fail(SSL_CTX *ctx, const char *what, const char *file, const char **error_r)
{
	unsigned long e = ERR_get_error();
	char reason[256];

	ERR_error_string_n(e, reason, sizeof(reason));
	snprintf(tls_error, sizeof(tls_error), "%s %s: %s", what, file, e ? reason : "failed");
	ERR_clear_error();
	*error_r = tls_error;
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_ctx_create(const char *cert_file, const char *key_file, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return tls_fail(NULL, "creating TLS context", "", error_r);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		return tls_fail(ctx, "setting TLS minimum version", "", error_r);
	/* No compression (CRIME), no renegotiation, server cipher preference. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* less memory per idle session */
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		return tls_fail(ctx, "loading certificate", cert_file, error_r);
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
		return tls_fail(ctx, "loading key", key_file, error_r);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tls_fail(ctx, "key does not match certificate", cert_file, error_r);
	return ctx;
}
