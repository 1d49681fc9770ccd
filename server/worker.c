#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "auth_cache.h"
#include "conn.h"
#include "db.h"
#include "imap_session.h"
#include "listen.h"
#include "lmtp/lmtp_session.h"
#include "log.h"
#include "notify.h"
#include "search_indexer.h"
#include "store.h"
#include "workqueue.h"

#define WORKER_MAX_LISTENERS 8
#define WORKER_IP_BUCKETS 1024
#define WORKER_STOP_GRACE_SECONDS 5
#define WORKER_EXPIRE_SECONDS 300
#define WORKER_HASH_NICE 10 /* password hashing threads */

struct ip_count {
	struct ip_count *next;
	unsigned count;
	char ip[64];
};

struct worker;

struct listener {
	struct worker *w;
	struct worker_listener l;
	struct event *ev;
};

struct worker {
	const struct config *cfg;
	struct event_base *base;
	struct db *db;
	struct notify *notify;
	struct search_indexer *search_indexer; /* NULL when search_index = no */
	struct auth_cache *auth_cache;
	struct workqueue *wq;
	SSL_CTX *tls;
	struct listener ls[WORKER_MAX_LISTENERS];
	unsigned nls;
	struct event *sig_term, *sig_int, *sig_hup, *stop_timer, *expire_timer;
	struct worker_session sessions; /* list head */
	unsigned nsessions;
	unsigned long next_id;
	unsigned index;
	bool stopping;
	struct ip_count *ips[WORKER_IP_BUCKETS];
};

static unsigned ip_hash(const char *ip)
{
	unsigned h = 5381;

	for (; *ip != '\0'; ip++)
		h = h * 33 + (unsigned char)*ip;
	return h % WORKER_IP_BUCKETS;
}

/* Adjusts the connection count of ip by delta; returns the new count. */
static unsigned ip_adjust(struct worker *w, const char *ip, int delta)
{
	unsigned b = ip_hash(ip);
	struct ip_count **pp = &w->ips[b], *c;

	for (; (c = *pp) != NULL; pp = &c->next)
		if (strcmp(c->ip, ip) == 0)
			break;
	if (c == NULL) {
		if (delta < 0)
			return 0;
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			panic("worker: out of memory");
		snprintf(c->ip, sizeof(c->ip), "%s", ip);
		c->next = w->ips[b];
		w->ips[b] = c;
		pp = &w->ips[b];
	}
	c->count = (unsigned)((int)c->count + delta);
	if (c->count == 0) {
		*pp = c->next;
		free(c);
		return 0;
	}
	return c->count;
}

static void client_ip(const char *addr, char *ip, size_t size)
{
	const char *colon = strrchr(addr, ':');
	size_t len = colon ? (size_t)(colon - addr) : strlen(addr);

	if (len >= size)
		len = size - 1;
	memcpy(ip, addr, len);
	ip[len] = '\0';
}

/* Refuses a connection over a limit with a protocol-appropriate line. */
static void refuse(int fd, enum worker_listener_kind kind, const char *why)
{
	char line[160];
	int len;

	if (kind == WORKER_LISTEN_IMAP)
		len = snprintf(line, sizeof(line), "* BYE [UNAVAILABLE] %s\r\n", why);
	else if (kind == WORKER_LISTEN_LMTP)
		len = snprintf(line, sizeof(line), "421 4.3.2 %s\r\n", why);
	else
		len = 0; /* no TLS yet on IMAPS: just close */
	if (len > 0)
		(void)!write(fd, line, (size_t)len); /* best effort on a fresh socket */
	close(fd);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *li = arg;
	struct worker *w = li->w;
	const struct config *cfg = w->cfg;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char addr[80], ip[64];
	struct conn *conn;
	int fd;

	/* Several workers share the listener: losing the race is normal. */
	fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED &&
		    errno != EINTR)
			LOG(ERROR, NULL, "accept: %s", strerror(errno));
		return;
	}
	/* Replies often leave in two writes around a database round trip
	 * (untagged lines, then the tagged one): without TCP_NODELAY, Nagle
	 * and delayed ACKs add ~40 ms to such commands. */
	if (ss.ss_family != AF_UNIX &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int)) < 0)
		LOG(WARN, NULL, "TCP_NODELAY: %s", strerror(errno));
	listen_format((struct sockaddr *)&ss, addr, sizeof(addr));
	client_ip(addr, ip, sizeof(ip));
	if (w->stopping) {
		refuse(fd, li->l.kind, "Server shutting down");
		return;
	}
	if (w->nsessions >= cfg->max_connections_per_worker) {
		LOG(WARN, NULL, "connection from %s refused: worker full (%u)", addr, w->nsessions);
		refuse(fd, li->l.kind, "Too many connections");
		return;
	}
	/* The MTA is one client with many connections: no per-IP limit on
	 * LMTP (it listens on loopback or a unix socket). */
	if (li->l.kind != WORKER_LISTEN_LMTP && ip_adjust(w, ip, 0) >= cfg->max_connections_per_ip) {
		LOG(INFO, NULL, "connection from %s refused: too many from this address", addr);
		refuse(fd, li->l.kind, "Too many connections from your address");
		return;
	}
	conn = conn_create(w->base, fd, addr, ++w->next_id,
			   li->l.kind == WORKER_LISTEN_IMAPS ? w->tls : NULL);
	if (conn == NULL) {
		LOG(ERROR, NULL, "cannot set up a connection from %s", addr);
		return;
	}
	if (li->l.kind == WORKER_LISTEN_LMTP)
		lmtp_session_start(w, conn);
	else
		imap_session_start(w, conn, li->l.kind == WORKER_LISTEN_IMAPS);
}

void worker_session_add(struct worker *w, struct worker_session *s)
{
	s->next = w->sessions.next;
	s->prev = &w->sessions;
	w->sessions.next->prev = s;
	w->sessions.next = s;
	w->nsessions++;
	if (s->ip[0] != '\0')
		(void)ip_adjust(w, s->ip, +1);
}

void worker_session_remove(struct worker *w, struct worker_session *s)
{
	if (s->next == NULL)
		return;
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->next = s->prev = NULL;
	w->nsessions--;
	if (s->ip[0] != '\0')
		(void)ip_adjust(w, s->ip, -1);
	if (w->stopping && w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	LOG(WARN, NULL, "worker %u: %u sessions still open after %d s, exiting", w->index,
	    w->nsessions, WORKER_STOP_GRACE_SECONDS);
	event_base_loopbreak(w->base);
}

/* SIGTERM: stop accepting, tell every session goodbye, exit when they are
 * gone (or after a grace period). */
static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = {WORKER_STOP_GRACE_SECONDS, 0};
	struct worker_session *s, *next;

	if (w->stopping)
		return;
	w->stopping = true;
	LOG(INFO, NULL, "worker %u stopping, %u sessions", w->index, w->nsessions);
	for (unsigned i = 0; i < w->nls; i++)
		event_del(w->ls[i].ev);
	for (s = w->sessions.next; s != &w->sessions; s = next) {
		next = s->next;
		s->shutdown(s->ctx);
	}
	if (w->nsessions == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	w->stop_timer = evtimer_new(w->base, on_stop_timer, w);
	if (w->stop_timer == NULL || evtimer_add(w->stop_timer, &tv) < 0)
		panic("worker: cannot create timer");
}

/* An administrator suspended, deleted or changed the password of an
 * account (or suspended/deleted a domain): its sessions here end. */
static void on_account_event(void *ctx, const char *event, int64_t account_id,
			     int64_t domain_id)
{
	struct worker *w = ctx;
	struct worker_session *s, *next;
	const char *reason = strcmp(event, "password_changed") == 0
				     ? "Password changed, please log in again"
				     : "Account no longer available";

	for (s = w->sessions.next; s != &w->sessions; s = next) {
		next = s->next; /* kick may remove s */
		if (s->kick == NULL)
			continue;
		if ((account_id != 0 && s->account_id == account_id) ||
		    (domain_id != 0 && s->domain_id == domain_id)) {
			LOG(INFO, NULL, "closing a session of account %lld: %s",
			    (long long)s->account_id, event);
			s->kick(s->ctx, reason);
		}
	}
}

/* A mailbox changed (0, 0: any may have): the search indexer may have
 * work. */
static void on_mailbox_change(void *ctx, int64_t account_id, int64_t mailbox_id)
{
	struct worker *w = ctx;

	if (!w->stopping)
		search_indexer_wake(w->search_indexer, account_id, mailbox_id);
}

/* Now and then, one worker or another drops stale login-failure rows. */
static void on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	store_auth_expire(w->db);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	/* The master handles reloads by replacing workers. */
}

void worker_run(const struct config *cfg, SSL_CTX *tls_ctx, const struct worker_listener *ls,
		unsigned nls, unsigned index)
{
	static struct worker worker;
	struct worker *w = &worker;
	const char *err;

	w->cfg = cfg;
	w->tls = tls_ctx;
	w->index = index;
	w->sessions.next = w->sessions.prev = &w->sessions;
	w->base = event_base_new();
	if (w->base == NULL)
		fatal("worker: cannot create event loop");
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("worker: cannot ignore SIGPIPE");
	w->sig_term = evsignal_new(w->base, SIGTERM, on_sigterm, w);
	w->sig_int = evsignal_new(w->base, SIGINT, on_sigterm, w);
	w->sig_hup = evsignal_new(w->base, SIGHUP, on_sighup, w);
	if (w->sig_term == NULL || w->sig_int == NULL || w->sig_hup == NULL ||
	    evsignal_add(w->sig_term, NULL) < 0 || evsignal_add(w->sig_int, NULL) < 0 ||
	    evsignal_add(w->sig_hup, NULL) < 0)
		fatal("worker: cannot set up signals");
	w->db = store_db_create(w->base, cfg, &err);
	if (w->db == NULL)
		fatal("worker: %s", err);
	w->notify = notify_create(w->base, w->db);
	notify_on_account(w->notify, on_account_event, w);
	{
		struct timeval tv = {WORKER_EXPIRE_SECONDS + (time_t)index * 7, 0};
		w->expire_timer = event_new(w->base, -1, EV_PERSIST, on_expire, w);
		if (w->expire_timer == NULL || event_add(w->expire_timer, &tv) < 0)
			fatal("worker: cannot create timer");
	}
	/* Password verification (Argon2id: tens of ms of CPU) runs here so a
	 * login never stalls the other sessions of this worker. */
	w->wq = workqueue_create(w->base, 2, 128, &err);
	if (w->wq == NULL)
		fatal("worker: %s", err);
	/* At lower priority: the first logins of many accounts at once (a
	 * restart, the start of the mixed benchmark: 100 verifications of
	 * ~21 ms on 2 cores) otherwise take the CPU from the commands of
	 * sessions already logged in; the logins wait instead. */
	if (workqueue_set_nice(w->wq, WORKER_HASH_NICE) < 0)
		fatal("worker: bad hashing priority");
	if (cfg->search_index) {
		/* Workers start their first step a little apart. The index's
		 * tokenising shares the workqueue, at the same low priority. */
		w->search_indexer = search_indexer_create(
			w->base, w->db, w->wq, (unsigned)cfg->search_index_batch,
			(unsigned)cfg->search_index_pause_ms, cfg->search_lexicon_prune_min,
			1000 + index * 300);
		notify_on_change(w->notify, on_mailbox_change, w);
	}
	w->auth_cache = auth_cache_create((unsigned)cfg->auth_cache_size,
					  (unsigned)cfg->auth_cache_ttl, &err);
	if (w->auth_cache == NULL)
		fatal("worker: %s", err);
	if (nls > WORKER_MAX_LISTENERS)
		fatal("worker: too many listeners");
	for (unsigned i = 0; i < nls; i++) {
		w->ls[i].w = w;
		w->ls[i].l = ls[i];
		w->ls[i].ev = event_new(w->base, ls[i].fd, EV_READ | EV_PERSIST, on_accept,
					&w->ls[i]);
		if (w->ls[i].ev == NULL || event_add(w->ls[i].ev, NULL) < 0)
			fatal("worker: cannot watch listener");
	}
	w->nls = nls;
	LOG(INFO, NULL, "worker %u ready", index);
	if (event_base_dispatch(w->base) < 0)
		fatal("worker: event loop failed");
	LOG(INFO, NULL, "worker %u stopped", index);
	exit(0);
}

struct event_base *worker_base(struct worker *w)
{
	return w->base;
}

struct db *worker_db(struct worker *w)
{
	return w->db;
}

struct auth_cache *worker_auth_cache(struct worker *w)
{
	return w->auth_cache;
}

struct notify *worker_notify(struct worker *w)
{
	return w->notify;
}

struct workqueue *worker_workqueue(struct worker *w)
{
	return w->wq;
}

const struct config *worker_config(struct worker *w)
{
	return w->cfg;
}

SSL_CTX *worker_tls(struct worker *w)
{
	return w->tls;
}

bool worker_stopping(struct worker *w)
{
	return w->stopping;
}
