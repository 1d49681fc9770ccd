#include "conn.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONN_CLOSE_GRACE_SECONDS 5
#define CONN_LOW_WATERMARK (64 * 1024)

struct conn {
	struct event_base *base;
	struct bufferevent *bev;
	const struct conn_handler *h;
	void *ctx;
	struct log_ctx log;
	char client[64];
	unsigned long id;
	unsigned idle_timeout;
	bool tls;
	bool loopback;
	bool closing;
	bool closed;
	struct event *close_timer;
	struct event *flush_timer;
};

static void conn_finish(struct conn *conn);

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *conn = arg;

	if (!conn->closing && conn->h != NULL)
		conn->h->input(conn, conn->ctx);
}

/* Bytes not yet handed to the kernel: with STARTTLS the filter's output
 * first moves to the underlying plaintext bufferevent. */
static size_t conn_unwritten(const struct conn *conn)
{
	struct bufferevent *under = bufferevent_get_underlying(conn->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(conn->bev));

	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void on_flush_poll(evutil_socket_t fd, short what, void *arg);

/* While closing: finish once everything is written; otherwise look again
 * shortly (the grace timer bounds the wait). */
static void conn_try_finish(struct conn *conn)
{
	struct timeval tv = {0, 20000};

	if (conn_unwritten(conn) == 0) {
		conn_finish(conn);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0) {
		if (conn->flush_timer == NULL)
			conn->flush_timer = evtimer_new(conn->base, on_flush_poll, conn);
		if (conn->flush_timer == NULL || evtimer_add(conn->flush_timer, &tv) < 0)
			panic("conn: cannot create timer");
	}
}

static void on_flush_poll(evutil_socket_t fd, short what, void *arg)
{
	conn_try_finish(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *conn = arg;

	if (conn->closing) {
		conn_try_finish(conn);
		return;
	}
	if (conn->h != NULL && conn->h->drained != NULL)
		conn->h->drained(conn, conn->ctx);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *conn = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && !conn->closing) {
		if (conn->h != NULL && conn->h->timeout != NULL) {
			conn->h->timeout(conn, conn->ctx);
			return;
		}
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e;
		char buf[256];
		while ((e = bufferevent_get_openssl_error(bev)) != 0) {
			ERR_error_string_n(e, buf, sizeof(buf));
			LOG(INFO, &conn->log, "TLS error: %s", buf);
		}
	}
	conn_finish(conn);
}

static void on_close_timer(evutil_socket_t fd, short what, void *arg)
{
	conn_finish(arg);
}

static void conn_setup_bev(struct conn *conn)
{
	bufferevent_setcb(conn->bev, on_read, on_write, on_event, conn);
	bufferevent_setwatermark(conn->bev, EV_WRITE, CONN_LOW_WATERMARK, 0);
}

struct conn *conn_create(struct event_base *base, int fd, const char *client_addr,
			 unsigned long id, SSL_CTX *tls_ctx)
{
	struct conn *conn = calloc(1, sizeof(*conn));

	if (conn == NULL) {
		close(fd);
		return NULL;
	}
	conn->base = base;
	conn->id = id;
	snprintf(conn->client, sizeof(conn->client), "%s", client_addr);
	conn->loopback = strncmp(client_addr, "127.", 4) == 0 ||
			 strncmp(client_addr, "[::1]", 5) == 0;
	conn->log.session_id = id;
	conn->log.client = conn->client;
	if (tls_ctx != NULL) {
		SSL *ssl = SSL_new(tls_ctx);
		if (ssl == NULL) {
			close(fd);
			free(conn);
			return NULL;
		}
		conn->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
							   BEV_OPT_CLOSE_ON_FREE);
		conn->tls = true;
	} else {
		conn->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (conn->bev == NULL) {
		close(fd);
		free(conn);
		return NULL;
	}
	conn_setup_bev(conn);
	return conn;
}

void conn_set_handler(struct conn *conn, const struct conn_handler *h, void *ctx)
{
	conn->h = h;
	conn->ctx = ctx;
	conn_read_enable(conn, true);
	bufferevent_enable(conn->bev, EV_WRITE);
}

void conn_read_enable(struct conn *conn, bool on)
{
	if (conn->closing)
		return;
	if (on) {
		(void)bufferevent_enable(conn->bev, EV_READ); /* fails only on bad args */
		/* Input that arrived while reading was off is still buffered:
		 * process it now rather than waiting for more bytes. */
		if (evbuffer_get_length(bufferevent_get_input(conn->bev)) > 0)
			bufferevent_trigger(conn->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	} else {
		(void)bufferevent_disable(conn->bev, EV_READ);
	}
}

void conn_set_idle_timeout(struct conn *conn, unsigned seconds)
{
	struct timeval tv = {seconds, 0};

	conn->idle_timeout = seconds;
	(void)bufferevent_set_timeouts(conn->bev, seconds ? &tv : NULL, NULL);
}

struct evbuffer *conn_input(struct conn *conn)
{
	return bufferevent_get_input(conn->bev);
}

void conn_write(struct conn *conn, const void *data, size_t len)
{
	if (conn->closed)
		return;
	if (bufferevent_write(conn->bev, data, len) < 0)
		LOG(WARN, &conn->log, "write failed");
}

void conn_write_str(struct conn *conn, const char *s)
{
	conn_write(conn, s, strlen(s));
}

void conn_printf(struct conn *conn, const char *fmt, ...)
{
	va_list ap;

	if (conn->closed)
		return;
	va_start(ap, fmt);
	if (evbuffer_add_vprintf(bufferevent_get_output(conn->bev), fmt, ap) < 0)
		LOG(WARN, &conn->log, "write failed");
	va_end(ap);
}

void conn_write_evbuffer(struct conn *conn, struct evbuffer *buf)
{
	if (conn->closed)
		return;
	if (bufferevent_write_buffer(conn->bev, buf) < 0)
		LOG(WARN, &conn->log, "write failed");
}

size_t conn_output_size(const struct conn *conn)
{
	return conn_unwritten(conn);
}

int conn_starttls(struct conn *conn, SSL_CTX *tls_ctx)
{
	struct bufferevent *tls_bev;
	SSL *ssl;

	if (conn->tls)
		return -1;
	ssl = SSL_new(tls_ctx);
	if (ssl == NULL)
		return -1;
	/* RFC 3501 §6.2.1 / RFC 2595: anything pipelined after STARTTLS in
	 * plaintext must not be taken as a command after the handshake. */
	(void)evbuffer_drain(bufferevent_get_input(conn->bev),
			     evbuffer_get_length(bufferevent_get_input(conn->bev)));
	tls_bev = bufferevent_openssl_filter_new(conn->base, conn->bev, ssl,
						 BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls_bev == NULL) {
		SSL_free(ssl);
		return -1;
	}
	conn->bev = tls_bev;
	conn->tls = true;
	conn_setup_bev(conn);
	conn_set_idle_timeout(conn, conn->idle_timeout);
	(void)bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	return 0;
}

bool conn_is_tls(const struct conn *conn)
{
	return conn->tls;
}

bool conn_is_loopback(const struct conn *conn)
{
	return conn->loopback;
}

const char *conn_client(const struct conn *conn)
{
	return conn->client;
}

unsigned long conn_id(const struct conn *conn)
{
	return conn->id;
}

struct log_ctx *conn_log_ctx(struct conn *conn)
{
	return &conn->log;
}

/* Frees everything and tells the session. */
static void conn_finish(struct conn *conn)
{
	if (conn->closed)
		return;
	conn->closed = true;
	if (conn->close_timer != NULL)
		event_free(conn->close_timer);
	if (conn->flush_timer != NULL)
		event_free(conn->flush_timer);
	conn->close_timer = conn->flush_timer = NULL;
	if (conn->h != NULL && conn->h->closed != NULL)
		conn->h->closed(conn, conn->ctx);
	bufferevent_free(conn->bev);
	free(conn);
}

void conn_close(struct conn *conn)
{
	struct timeval tv = {CONN_CLOSE_GRACE_SECONDS, 0};

	if (conn->closing || conn->closed)
		return;
	conn->closing = true;
	(void)bufferevent_disable(conn->bev, EV_READ);
	if (conn_unwritten(conn) == 0) {
		/* Finish from the loop, not from inside the caller's stack. */
		bufferevent_trigger(conn->bev, EV_WRITE,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	} else {
		/* Call on_write when everything is written. */
		bufferevent_setwatermark(conn->bev, EV_WRITE, 0, 0);
	}
	conn->close_timer = evtimer_new(conn->base, on_close_timer, conn);
	if (conn->close_timer == NULL || evtimer_add(conn->close_timer, &tv) < 0)
		panic("conn: cannot create timer");
}

void conn_abort(struct conn *conn)
{
	conn->closing = true;
	conn_finish(conn);
}
