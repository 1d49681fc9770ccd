#include "admind.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "rpc.h"
#include "rpc_call.h"
#include "workqueue.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif

/* Output a client has not read yet beyond which we stop answering its
 * pipelined requests until it catches up. */
#define ADMIND_MAX_OUTPUT (4u * 1024 * 1024)
/* Threads hashing passwords (and running db.migrate), and their backlog. */
#define ADMIND_WORK_THREADS 2
#define ADMIND_WORK_PENDING 64
#define ADMIND_MAX_GROUPS   256

struct admind_client {
	struct admind *ad;
	struct admind_client *prev, *next;
	struct bufferevent *bev; /* NULL once the connection is gone */
	struct rpc_peer peer;
	bool busy;       /* a call is in flight */
	bool eof;        /* the client is done sending: answer, then close */
	bool closing;    /* read nothing more; close once the output is out */
	bool in_process; /* client_process is on the stack */
};

struct admind {
	struct event_base *base;
	const struct config *cfg;
	struct rpc_env env;
	struct evconnlistener *listener;
	struct event *ev_term, *ev_int, *ev_stop;
	struct admind_client *clients;
	unsigned nclients;
	unsigned long next_id;
	bool stopping;
};

static char admind_error[512];

/* "what path[: strerror(err)]" in a static buffer. */
static const char *admind_fail(const char *what, const char *path, int err)
{
	snprintf(admind_error, sizeof(admind_error), "%s %s%s%s", what, path, err != 0 ? ": " : "",
	         err != 0 ? strerror(err) : "");
	return admind_error;
}

/* Returns 1 when something accepts connections on path, 0 when nothing does
 * (a stale socket), -1 on another error (errno set). */
static int socket_in_use(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -1;
	ret = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (ret == 0)
		ret = 1;
	else if (errno == ECONNREFUSED || errno == ENOENT)
		ret = 0;
	else
		ret = -1;
	(void)close(fd); /* nothing was written: nothing to lose */
	return ret;
}

int admind_listen(const struct config *cfg, const char **error_r)
{
	const char *path = cfg->admin_socket;
	struct sockaddr_un sun;
	struct stat st;
	mode_t old_umask;
	int fd, ret;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		*error_r =
		    admind_fail("admin_socket is empty or too long for a unix socket:", path, 0);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*error_r = admind_fail("admin_socket exists and is not a socket:", path, 0);
			return -1;
		}
		ret = socket_in_use(&sun);
		if (ret != 0) {
			*error_r =
			    ret > 0 ? admind_fail("another daemon listens on admin_socket", path, 0)
			            : admind_fail("admin_socket", path, errno);
			return -1;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			*error_r = admind_fail("cannot remove stale socket", path, errno);
			return -1;
		}
	} else if (errno != ENOENT) {
		*error_r = admind_fail("admin_socket", path, errno);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*error_r = admind_fail("socket() for", path, errno);
		return -1;
	}
	/* Never world-accessible, not even between bind and chmod. */
	old_umask = umask(0117);
	ret = bind(fd, (const struct sockaddr *)&sun, sizeof(sun));
	(void)umask(old_umask); /* returns the previous mask, cannot fail */
	if (ret < 0) {
		*error_r = admind_fail("cannot bind", path, errno);
		(void)close(fd);
		return -1;
	}
	if (chmod(path, 0660) < 0 ||
	    (cfg->admin_allowed_gid >= 0 &&
	     chown(path, (uid_t)-1, (gid_t)cfg->admin_allowed_gid) < 0) ||
	    listen(fd, 64) < 0) {
		*error_r = admind_fail("cannot set up", path, errno);
		(void)close(fd);
		(void)unlink(path);
		return -1;
	}
	return fd;
}

/* Root, the configured uid, or a member (primary or supplementary group)
 * of the configured gid. */
static bool peer_allowed(const struct config *cfg, int fd, const struct ucred *cred)
{
	gid_t groups[ADMIND_MAX_GROUPS];
	socklen_t len = sizeof(groups);

	if (cred->uid == 0)
		return true;
	if (cfg->admin_allowed_uid >= 0 && (int64_t)cred->uid == cfg->admin_allowed_uid)
		return true;
	if (cfg->admin_allowed_gid < 0)
		return false;
	if ((int64_t)cred->gid == cfg->admin_allowed_gid)
		return true;
	/* A peer in more than ADMIND_MAX_GROUPS groups (ERANGE) is judged by
	 * its primary group only. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if ((int64_t)groups[i] == cfg->admin_allowed_gid)
			return true;
	return false;
}

/* Sends one error line to a connection we will not serve, and closes it. */
static void reject(int fd, const char *reason, const char *message)
{
	struct rpc_error err;
	char *line;
	size_t len;

	rpc_error_set(&err, RPC_APP_ERROR, reason, NULL, "%s", message);
	line = rpc_response_error(NULL, &err);
	len = strlen(line);
	/* Best effort: a fresh socket's buffer takes one short line; if the
	 * peer is gone there is nobody to tell. */
	(void)!send(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)!send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(line);
	(void)close(fd);
}

static void client_process(struct admind_client *c);
static void client_close_if_done(struct admind_client *c);

static void admind_check_stopped(struct admind *ad)
{
	if (ad->stopping && ad->nclients == 0 && event_base_loopexit(ad->base, NULL) < 0)
		panic("admind: event_base_loopexit failed");
}

/* Drops the connection. The struct lives on while a call is in flight:
 * client_done frees it when the call finishes. */
static void client_free(struct admind_client *c)
{
	struct admind *ad = c->ad;

	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->busy)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ad->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ad->nclients--;
	free(c);
	admind_check_stopped(ad);
}

static void client_send(struct admind_client *c, char *line)
{
	if (bufferevent_write(c->bev, line, strlen(line)) < 0 ||
	    bufferevent_write(c->bev, "\n", 1) < 0) {
		LOG(ERROR, NULL, "admind: cannot queue a response: closing");
		c->closing = true;
	}
	free(line);
}

/* The end of a call (rpc_done_fn). */
static void client_done(void *ctx, char *response)
{
	struct admind_client *c = ctx;

	c->busy = false;
	if (c->bev == NULL) {
		free(response);
		client_free(c);
		return;
	}
	if (response != NULL)
		client_send(c, response);
	if (c->ad->stopping)
		c->closing = true;
	if (!c->closing && !c->eof && bufferevent_enable(c->bev, EV_READ) < 0)
		c->closing = true;
	if (!c->in_process) {
		client_process(c);
		client_close_if_done(c);
	}
}

static void client_too_long(struct admind_client *c)
{
	struct rpc_error err;

	LOG(INFO, NULL, "admind: conn %lu uid=%ld: request over %llu bytes: closing",
	    c->peer.conn_id, c->peer.uid, (unsigned long long)c->ad->cfg->admin_max_request);
	rpc_error_set(&err, RPC_INVALID_REQUEST, "limit", NULL,
	              "Invalid request: request larger than %llu bytes",
	              (unsigned long long)c->ad->cfg->admin_max_request);
	client_send(c, rpc_response_error(NULL, &err));
	c->closing = true;
	/* Not one byte more is read. */
	(void)bufferevent_disable(c->bev, EV_READ); /* cannot fail for a socket */
}

/* Starts the next complete request line, if any, when no call is in
 * flight. A line longer than admin_max_request is refused as soon as that
 * many bytes have arrived without a line end. */
static void client_process(struct admind_client *c)
{
	size_t max = c->ad->cfg->admin_max_request;

	if (c->in_process)
		return;
	c->in_process = true;
	while (c->bev != NULL && !c->busy && !c->closing) {
		struct evbuffer *in = bufferevent_get_input(c->bev);
		struct evbuffer_ptr eol;
		size_t eol_len = 0, linelen, len;
		unsigned char *data;

		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > ADMIND_MAX_OUTPUT)
			break; /* resumed by on_write once the client reads */
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			/* +1: a CR may precede the LF still to come. */
			if (evbuffer_get_length(in) > max + 1)
				client_too_long(c);
			break;
		}
		linelen = (size_t)eol.pos;
		data = evbuffer_pullup(in, (ev_ssize_t)(linelen + 1));
		if (data == NULL)
			panic("admind: evbuffer_pullup failed");
		len = linelen;
		if (len > 0 && data[len - 1] == '\r')
			len--;
		if (len > max) {
			client_too_long(c);
			break;
		}
		if (len > 0) {
			c->busy = true;
			/* Reading waits until this call is answered: in order,
			 * and no idle timeout while the server works. */
			(void)bufferevent_disable(c->bev, EV_READ); /* cannot fail */
			rpc_call_start(&c->ad->env, &c->peer, (const char *)data, len, client_done,
			               c);
		}
		/* The line may hold a password: wipe it before the buffer
		 * memory is reused. */
		explicit_bzero(data, linelen + 1);
		if (evbuffer_drain(in, linelen + 1) < 0)
			panic("admind: evbuffer_drain failed");
	}
	c->in_process = false;
}

/* Closes the connection when nothing is left to do on it. */
static void client_close_if_done(struct admind_client *c)
{
	struct evbuffer_ptr eol;
	size_t eol_len;

	if (c->bev == NULL || c->busy || c->in_process)
		return;
	if (c->eof && !c->closing) {
		eol = evbuffer_search_eol(bufferevent_get_input(c->bev), NULL, &eol_len,
		                          EVBUFFER_EOL_LF);
		if (eol.pos < 0)
			c->closing = true; /* an unterminated last line is dropped */
	}
	if (c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct admind_client *c = arg;

	client_process(c);
	client_close_if_done(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct admind_client *c = arg;

	client_process(c);
	client_close_if_done(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct admind_client *c = arg;

	if ((what & BEV_EVENT_EOF) != 0 && (what & BEV_EVENT_READING) != 0) {
		c->eof = true;
		client_process(c);
		client_close_if_done(c);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) != 0)
		LOG(INFO, NULL, "admind: conn %lu uid=%ld: idle timeout", c->peer.conn_id,
		    c->peer.uid);
	else
		LOG(INFO, NULL, "admind: conn %lu uid=%ld: connection lost", c->peer.conn_id,
		    c->peer.uid);
	client_free(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
	struct admind *ad = arg;
	struct admind_client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct timeval idle = {ADMIND_IDLE_TIMEOUT, 0};

	if (ad->stopping) {
		(void)close(fd); /* nothing sent yet */
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		LOG(ERROR, NULL, "admind: SO_PEERCRED: %s", strerror(errno));
		(void)close(fd);
		return;
	}
	if (!peer_allowed(ad->cfg, fd, &cred)) {
		LOG(WARN, NULL, "admind: refused peer uid=%ld gid=%ld pid=%ld: not allowed",
		    (long)cred.uid, (long)cred.gid, (long)cred.pid);
		reject(fd, "forbidden", "Forbidden: this user may not use the admin socket");
		return;
	}
	if (ad->nclients >= ad->cfg->admin_max_clients) {
		LOG(WARN, NULL, "admind: refused peer uid=%ld pid=%ld: %u clients already",
		    (long)cred.uid, (long)cred.pid, ad->nclients);
		reject(fd, "limit", "Too many clients, try again later");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		panic("admind: out of memory");
	c->ad = ad;
	c->peer.uid = (long)cred.uid;
	c->peer.gid = (long)cred.gid;
	c->peer.pid = (long)cred.pid;
	c->peer.conn_id = ++ad->next_id;
	c->bev = bufferevent_socket_new(ad->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		LOG(ERROR, NULL, "admind: bufferevent_socket_new failed");
		(void)close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	/* Read no more than one line's limit (and its line end) ahead. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, ad->cfg->admin_max_request + 2);
	if (bufferevent_set_timeouts(c->bev, &idle, NULL) < 0 ||
	    bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0) {
		LOG(ERROR, NULL, "admind: cannot set up a connection");
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	c->next = ad->clients;
	if (ad->clients != NULL)
		ad->clients->prev = c;
	ad->clients = c;
	ad->nclients++;
	LOG(DEBUG, NULL, "admind: conn %lu from uid=%ld pid=%ld", c->peer.conn_id, c->peer.uid,
	    c->peer.pid);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	/* EMFILE and the like: logged, the listener keeps going. */
	LOG(ERROR, NULL, "admind: accept: %s", strerror(errno));
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct admind *ad = arg;

	LOG(WARN, NULL, "admind: %u connection(s) still busy after %d s: stopping anyway",
	    ad->nclients, ADMIND_STOP_TIMEOUT);
	if (event_base_loopexit(ad->base, NULL) < 0)
		panic("admind: event_base_loopexit failed");
}

/* SIGTERM/SIGINT: stop accepting, let in-flight calls finish (bounded),
 * close idle connections at once. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct admind *ad = arg;
	struct timeval tv = {ADMIND_STOP_TIMEOUT, 0};
	struct admind_client *c, *next;

	if (ad->stopping)
		return;
	LOG(INFO, NULL, "admind: signal %d: stopping", (int)sig);
	ad->stopping = true;
	evconnlistener_free(ad->listener);
	ad->listener = NULL;
	/* Only we may have created it; a failure leaves a stale socket that
	 * the next start removes. */
	if (unlink(ad->cfg->admin_socket) < 0 && errno != ENOENT)
		LOG(WARN, NULL, "admind: cannot remove %s: %s", ad->cfg->admin_socket,
		    strerror(errno));
	for (c = ad->clients; c != NULL; c = next) {
		next = c->next;
		c->closing = true;
		if (c->bev != NULL)
			(void)bufferevent_disable(c->bev, EV_READ); /* cannot fail */
		client_close_if_done(c);
	}
	ad->ev_stop = evtimer_new(ad->base, on_stop_timeout, ad);
	if (ad->ev_stop == NULL || evtimer_add(ad->ev_stop, &tv) < 0)
		panic("admind: cannot arm the stop timer");
	admind_check_stopped(ad);
}

int admind_run(const struct config *cfg, int listen_fd, int schema_fd, const char **error_r)
{
	struct admind ad;
	const struct db_statement *stmts;
	unsigned nstmts;
	struct admind_client *c, *next;

	memset(&ad, 0, sizeof(ad));
	ad.cfg = cfg;
	/* A client that disconnects while we write must not kill us. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		*error_r = "cannot ignore SIGPIPE";
		return -1;
	}
	ad.base = event_base_new();
	if (ad.base == NULL) {
		*error_r = "event_base_new failed";
		return -1;
	}
	ad.env.cfg = cfg;
	ad.env.schema_fd = schema_fd;
	ad.env.cost.memory_kib = (uint32_t)cfg->argon2_memory_kib;
	ad.env.cost.time_cost = (uint32_t)cfg->argon2_iterations;
	ad.env.cost.parallelism = 1;
	if (password_cost_check(&ad.env.cost, error_r) < 0)
		goto fail_base;
	ad.env.wq = workqueue_create(ad.base, ADMIND_WORK_THREADS, ADMIND_WORK_PENDING, error_r);
	if (ad.env.wq == NULL)
		goto fail_base;
	stmts = rpc_call_statements(&nstmts);
	ad.env.db = db_create(ad.base, cfg->db_conninfo, (unsigned)cfg->db_connections, stmts,
	                      nstmts, error_r);
	if (ad.env.db == NULL)
		goto fail_wq;
	ad.listener =
	    evconnlistener_new(ad.base, on_accept, &ad, LEV_OPT_CLOSE_ON_FREE, -1, listen_fd);
	ad.ev_term = evsignal_new(ad.base, SIGTERM, on_signal, &ad);
	ad.ev_int = evsignal_new(ad.base, SIGINT, on_signal, &ad);
	if (ad.listener == NULL || ad.ev_term == NULL || ad.ev_int == NULL ||
	    evsignal_add(ad.ev_term, NULL) < 0 || evsignal_add(ad.ev_int, NULL) < 0) {
		*error_r = "cannot set up the listener or signal events";
		goto fail_events;
	}
	evconnlistener_set_error_cb(ad.listener, on_accept_error);
	LOG(INFO, NULL, "admind: listening on %s", cfg->admin_socket);
	if (event_base_dispatch(ad.base) < 0) {
		*error_r = "event loop failed";
		goto fail_events;
	}

	/* Stopped: calls still running finish with errors as their job or
	 * database request is cancelled, and free their dead connections. */
	ad.env.stopping = true;
	if (ad.listener != NULL)
		evconnlistener_free(ad.listener);
	for (c = ad.clients; c != NULL; c = next) {
		next = c->next;
		client_free(c);
	}
	workqueue_destroy(&ad.env.wq);
	db_destroy(&ad.env.db);
	if (ad.nclients != 0)
		LOG(ERROR, NULL, "admind: %u connection(s) left at exit", ad.nclients);
	if (ad.ev_stop != NULL)
		event_free(ad.ev_stop);
	event_free(ad.ev_term);
	event_free(ad.ev_int);
	event_base_free(ad.base);
	LOG(INFO, NULL, "admind: stopped");
	return 0;

fail_events:
	if (ad.listener != NULL)
		evconnlistener_free(ad.listener);
	if (ad.ev_term != NULL)
		event_free(ad.ev_term);
	if (ad.ev_int != NULL)
		event_free(ad.ev_int);
	db_destroy(&ad.env.db);
fail_wq:
	workqueue_destroy(&ad.env.wq);
fail_base:
	event_base_free(ad.base);
	return -1;
}
