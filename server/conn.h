/* A client connection of a worker: socket, optional TLS, buffers, timeouts.
 *
 * Protocol sessions (IMAP, LMTP) sit on top through struct conn_handler and
 * never touch the socket or OpenSSL. Input is read into an evbuffer that the
 * session consumes; output is queued with conn_write*. A session that waits
 * for the database pauses reading, so a client cannot make the server buffer
 * unbounded input; conn_output_size lets a session stop producing output
 * until the client has read what is queued (drained callback). */
#ifndef MAILSTEAD_CONN_H
#define MAILSTEAD_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "log.h"

struct conn;
struct evbuffer;
struct event_base;

struct conn_handler {
	/* Bytes are available in conn_input(). */
	void (*input)(struct conn *conn, void *ctx);
	/* Queued output fell below the low watermark (optional). */
	void (*drained)(struct conn *conn, void *ctx);
	/* No input for the idle timeout; the session should say goodbye and
	 * call conn_close. */
	void (*timeout)(struct conn *conn, void *ctx);
	/* The connection is gone (peer closed, error, or conn_close finished).
	 * The session releases itself; the conn is freed after this returns. */
	void (*closed)(struct conn *conn, void *ctx);
};

/* Takes ownership of fd. tls_ctx non-NULL: implicit TLS (handshake first).
 * Returns NULL when the buffers cannot be set up (fd is closed). */
struct conn *conn_create(struct event_base *base, int fd, const char *client_addr,
			 unsigned long id, SSL_CTX *tls_ctx);

/* Attaches the protocol session and starts reading. */
void conn_set_handler(struct conn *conn, const struct conn_handler *h, void *ctx);

/* Reading on or off (off while a command waits for the database). */
void conn_read_enable(struct conn *conn, bool on);

/* Seconds without input before handler->timeout (0 = none). */
void conn_set_idle_timeout(struct conn *conn, unsigned seconds);

struct evbuffer *conn_input(struct conn *conn);

/* Queue output. Errors surface later as closed(). */
void conn_write(struct conn *conn, const void *data, size_t len);
void conn_write_str(struct conn *conn, const char *s);
void conn_printf(struct conn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves all of buf's data to the output without copying. */
void conn_write_evbuffer(struct conn *conn, struct evbuffer *buf);

/* Bytes queued and not yet written. */
size_t conn_output_size(const struct conn *conn);

/* Starts TLS on a plaintext connection (STARTTLS): whatever the client sent
 * after the command and is still buffered is discarded (RFC 3501 §6.2.1,
 * no plaintext injection); queued output (the tagged OK) still goes out in
 * plaintext first. Returns 0 or -1. */
int conn_starttls(struct conn *conn, SSL_CTX *tls_ctx);

bool conn_is_tls(const struct conn *conn);
/* True for clients on loopback (plaintext auth may be allowed there). */
bool conn_is_loopback(const struct conn *conn);
const char *conn_client(const struct conn *conn);
unsigned long conn_id(const struct conn *conn);

/* Log context of this connection; a session sets account after login. */
struct log_ctx *conn_log_ctx(struct conn *conn);

/* Closes after the queued output is written (bounded by a few seconds);
 * handler->closed runs when done. Idempotent. */
void conn_close(struct conn *conn);

/* Closes at once without flushing; handler->closed runs before it returns. */
void conn_abort(struct conn *conn);

#endif
