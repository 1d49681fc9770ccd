#include "db.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define DB_MAX_STATEMENTS 16 /* per request */
#define DB_MAX_INFLIGHT 64   /* requests pipelined on one connection */
#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 5000
#define DB_MAX_LISTEN 4

enum db_conn_state {
	DB_CONN_DOWN,       /* waiting for the reconnect timer */
	DB_CONN_CONNECTING, /* PQconnectPoll in progress */
	DB_CONN_PREPARING,  /* statements being prepared */
	DB_CONN_READY,
};

struct db_request {
	struct db *db;
	struct db_request *next;
	db_callback *cb;
	void *ctx;
	bool cancelled;
	bool internal; /* the prepare batch of a connection */
	unsigned n, got;
	const char *stmts[DB_MAX_STATEMENTS];
	bool unprepared[DB_MAX_STATEMENTS]; /* stmts[i] is SQL text */
	int nparams[DB_MAX_STATEMENTS];
	const char **values[DB_MAX_STATEMENTS];
	int *lengths[DB_MAX_STATEMENTS];
	int *formats[DB_MAX_STATEMENTS];
	int result_format[DB_MAX_STATEMENTS];
	PGresult *results[DB_MAX_STATEMENTS];
	char *blob; /* the copied parameter values and arrays */
};

struct db_conn {
	struct db *db;
	unsigned index;
	PGconn *pg;
	enum db_conn_state state;
	struct event *ev_read, *ev_write, *ev_timer;
	int fd;
	unsigned backoff_ms;
	struct db_request *head, *tail; /* in flight, in send order */
	unsigned inflight;
	int nulls; /* consecutive NULL results, to stop reading */
};

struct db {
	struct event_base *base;
	char *conninfo;
	const struct db_statement *stmts;
	unsigned nstmts;
	struct db_conn *conns;
	unsigned nconns;
	struct db_request *qhead, *qtail; /* waiting for a connection slot */
	unsigned queued;
	unsigned pending; /* queued + in flight */
	bool destroying;
	struct {
		char channel[64];
		char sql[80]; /* "LISTEN channel" */
		db_notify_cb *cb;
		void *ctx;
	} listens[DB_MAX_LISTEN];
	unsigned nlistens;
};

static void conn_start(struct db_conn *c);
static int request_copy(struct db_request *req, const struct db_query *q, unsigned n);
static void conn_fail(struct db_conn *c, const char *why);
static void db_dispatch(struct db *db);

static void request_free(struct db_request *req)
{
	for (unsigned i = 0; i < DB_MAX_STATEMENTS; i++)
		if (req->results[i] != NULL)
			PQclear(req->results[i]);
	free(req->blob);
	free(req);
}

/* Runs the callback (unless cancelled) and frees the request. */
static void request_complete(struct db_request *req, const char *error)
{
	struct db *db = req->db;

	if (!req->internal)
		db->pending--;
	if (!req->cancelled && req->cb != NULL)
		req->cb(req->ctx, error == NULL ? req->results : NULL, error == NULL ? req->n : 0,
			error);
	request_free(req);
}

static bool db_any_ready(const struct db *db)
{
	for (unsigned i = 0; i < db->nconns; i++)
		if (db->conns[i].state == DB_CONN_READY)
			return true;
	return false;
}

static bool db_any_coming(const struct db *db)
{
	for (unsigned i = 0; i < db->nconns; i++)
		if (db->conns[i].state == DB_CONN_CONNECTING || db->conns[i].state == DB_CONN_PREPARING)
			return true;
	return false;
}

/* Fails every queued request: used when no connection is left to run them. */
static void db_fail_queue(struct db *db, const char *why)
{
	while (db->qhead != NULL) {
		struct db_request *req = db->qhead;
		db->qhead = req->next;
		db->queued--;
		request_complete(req, why);
	}
	db->qtail = NULL;
}

static void conn_flush(struct db_conn *c)
{
	int r = PQflush(c->pg);

	if (r < 0) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (r == 1 && event_add(c->ev_write, NULL) < 0)
		panic("db: event_add failed");
}

/* Sends req's statements and a Sync; returns 0 or -1 (connection failed). */
static int conn_send(struct db_conn *c, struct db_request *req)
{
	for (unsigned i = 0; i < req->n; i++) {
		int ok;
		if (req->internal)
			ok = PQsendPrepare(c->pg, req->stmts[i], req->values[i][0], 0, NULL);
		else if (req->unprepared[i])
			ok = PQsendQueryParams(c->pg, req->stmts[i], req->nparams[i], NULL,
					       req->values[i], req->lengths[i], req->formats[i],
					       req->result_format[i]);
		else
			ok = PQsendQueryPrepared(c->pg, req->stmts[i], req->nparams[i],
						 req->values[i], req->lengths[i], req->formats[i],
						 req->result_format[i]);
		if (!ok)
			return -1;
	}
	if (!PQpipelineSync(c->pg))
		return -1;
	req->next = NULL;
	if (c->tail != NULL)
		c->tail->next = req;
	else
		c->head = req;
	c->tail = req;
	c->inflight++;
	return 0;
}

static void conn_notifies(struct db_conn *c)
{
	PGnotify *n;

	while ((n = PQnotifies(c->pg)) != NULL) {
		for (unsigned i = 0; i < c->db->nlistens; i++)
			if (strcmp(n->relname, c->db->listens[i].channel) == 0)
				c->db->listens[i].cb(c->db->listens[i].ctx, n->extra);
		PQfreemem(n);
	}
}

static void conn_read(struct db_conn *c)
{
	if (!PQconsumeInput(c->pg)) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	conn_notifies(c);
	c->nulls = 0;
	while (c->head != NULL && !PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		struct db_request *req = c->head;

		if (res == NULL) {
			/* End of one statement's results; two in a row means
			 * nothing more is available now. */
			if (++c->nulls > 1)
				break;
			continue;
		}
		c->nulls = 0;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			c->head = req->next;
			if (c->head == NULL)
				c->tail = NULL;
			c->inflight--;
			if (req->internal) {
				const char *why = NULL;
				for (unsigned i = 0; i < req->got && why == NULL; i++)
					if (PQresultStatus(req->results[i]) != PGRES_COMMAND_OK)
						why = db_error_message(req->results[i]);
				if (why == NULL && req->got != req->n)
					why = "statements not prepared";
				request_free(req);
				if (why != NULL) {
					LOG(ERROR, NULL, "db: preparing statements failed: %s", why);
					conn_fail(c, why);
					return;
				}
				c->state = DB_CONN_READY;
				c->backoff_ms = DB_BACKOFF_MIN_MS;
				LOG(DEBUG, NULL, "db: connection %u ready", c->index);
			} else {
				request_complete(req, NULL);
				/* The callback may have submitted work whose send
				 * failed and dropped this connection. */
				if (c->pg == NULL)
					return;
			}
			continue;
		}
		if (req->got < req->n)
			req->results[req->got++] = res;
		else
			PQclear(res); /* cannot happen with single statements */
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	conn_notifies(c);
	db_dispatch(c->db);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	conn_read(arg);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;

	if (c->state == DB_CONN_READY || c->state == DB_CONN_PREPARING)
		conn_flush(c);
}

static void conn_close(struct db_conn *c)
{
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	c->ev_read = c->ev_write = NULL;
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
	c->fd = -1;
}

/* Drops the connection, fails what was in flight on it, and schedules a
 * reconnect. */
static void conn_fail(struct db_conn *c, const char *why)
{
	struct db *db = c->db;
	struct db_request *req, *next;
	char msg[256];
	size_t len;
	struct timeval tv;

	snprintf(msg, sizeof(msg), "database connection lost: %s", why ? why : "unknown error");
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	if (db->destroying)
		LOG(DEBUG, NULL, "db: connection %u closed", c->index);
	else if (c->state == DB_CONN_READY)
		LOG(ERROR, NULL, "db: connection %u: %s", c->index, msg);
	else
		LOG(WARN, NULL, "db: connection %u: %s", c->index, msg);
	req = c->head;
	c->head = c->tail = NULL;
	c->inflight = 0;
	conn_close(c);
	c->state = DB_CONN_DOWN;
	for (; req != NULL; req = next) {
		next = req->next;
		if (req->internal)
			request_free(req);
		else
			request_complete(req, msg);
	}
	if (!db->destroying) {
		tv.tv_sec = c->backoff_ms / 1000;
		tv.tv_usec = (c->backoff_ms % 1000) * 1000;
		if (evtimer_add(c->ev_timer, &tv) < 0)
			panic("db: evtimer_add failed");
		c->backoff_ms = c->backoff_ms * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS
								      : c->backoff_ms * 2;
		if (!db_any_ready(db) && !db_any_coming(db))
			db_fail_queue(db, "database unavailable");
	}
}

static void listen_done(void *ctx, PGresult *const *res, unsigned n, const char *error)
{
	struct db *db = ctx;

	if (error != NULL)
		return; /* the connection failed: it will LISTEN again */
	for (unsigned i = 0; i < n && i < db->nlistens; i++) {
		if (PQresultStatus(res[i]) == PGRES_COMMAND_OK)
			db->listens[i].cb(db->listens[i].ctx, NULL);
		else
			LOG(ERROR, NULL, "db: %s failed: %s", db->listens[i].sql,
			    db_error_message(res[i]));
	}
}

/* Queues "LISTEN channel" on c right behind its prepares. */
static int conn_send_listen(struct db_conn *c)
{
	struct db_request *req = calloc(1, sizeof(*req));
	struct db_query q[DB_MAX_LISTEN];

	if (req == NULL)
		panic("db: out of memory");
	memset(q, 0, sizeof(q));
	for (unsigned i = 0; i < c->db->nlistens; i++)
		q[i].sql = c->db->listens[i].sql;
	req->db = c->db;
	req->cb = listen_done;
	req->ctx = c->db;
	req->n = c->db->nlistens;
	(void)request_copy(req, q, req->n); /* no parameters: cannot fail */
	c->db->pending++;
	if (conn_send(c, req) < 0) {
		c->db->pending--;
		request_free(req);
		return -1;
	}
	return 0;
}

/* Connected: enter pipeline mode and prepare every statement. */
static void conn_connected(struct db_conn *c)
{
	struct db *db = c->db;
	struct db_request *req;

	if (!PQenterPipelineMode(c->pg)) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	event_free(c->ev_read);
	c->ev_read = event_new(db->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(db->base, c->fd, EV_WRITE, on_write, c);
	if (c->ev_read == NULL || c->ev_write == NULL || event_add(c->ev_read, NULL) < 0)
		panic("db: cannot create events");
	c->state = DB_CONN_PREPARING;
	/* Prepare in batches of DB_MAX_STATEMENTS, as internal requests. */
	for (unsigned first = 0; first < db->nstmts || first == 0; first += DB_MAX_STATEMENTS) {
		req = calloc(1, sizeof(*req));
		if (req == NULL)
			panic("db: out of memory");
		req->db = db;
		req->internal = true;
		req->blob = malloc(sizeof(char *) * DB_MAX_STATEMENTS);
		if (req->blob == NULL)
			panic("db: out of memory");
		for (unsigned i = first; i < db->nstmts && req->n < DB_MAX_STATEMENTS; i++) {
			const char **sql = (const char **)req->blob + req->n;
			*sql = db->stmts[i].sql;
			req->stmts[req->n] = db->stmts[i].name;
			req->values[req->n] = sql;
			req->n++;
		}
		if (conn_send(c, req) < 0) {
			request_free(req);
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		if (db->nstmts == 0)
			break;
	}
	if (c->index == 0 && db->nlistens > 0 && conn_send_listen(c) < 0) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	conn_flush(c);
}

static void on_connect_poll(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	PostgresPollingStatusType st = PQconnectPoll(c->pg);
	short ev;

	switch (st) {
	case PGRES_POLLING_OK:
		if (PQsetnonblocking(c->pg, 1) != 0) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		c->fd = PQsocket(c->pg);
		conn_connected(c);
		return;
	case PGRES_POLLING_FAILED:
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	case PGRES_POLLING_READING:
	case PGRES_POLLING_WRITING:
	default:
		ev = st == PGRES_POLLING_WRITING ? EV_WRITE : EV_READ;
		/* The socket may change between polls (several hosts). */
		c->fd = PQsocket(c->pg);
		event_free(c->ev_read);
		c->ev_read = event_new(c->db->base, c->fd, ev, on_connect_poll, c);
		if (c->ev_read == NULL || event_add(c->ev_read, NULL) < 0)
			panic("db: cannot create events");
		return;
	}
}

static void conn_start(struct db_conn *c)
{
	c->pg = PQconnectStart(c->db->conninfo);
	if (c->pg == NULL)
		panic("db: out of memory");
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		c->state = DB_CONN_CONNECTING; /* so conn_fail logs and backs off */
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	c->state = DB_CONN_CONNECTING;
	c->fd = PQsocket(c->pg);
	c->ev_read = event_new(c->db->base, c->fd, EV_WRITE, on_connect_poll, c);
	if (c->ev_read == NULL || event_add(c->ev_read, NULL) < 0)
		panic("db: cannot create events");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	conn_start(arg);
}

struct db *db_create(struct event_base *base, const char *conninfo, unsigned nconns,
		     const struct db_statement *stmts, unsigned nstmts, const char **error_r)
{
	struct db *db;
	PQconninfoOption *opts;
	char *err = NULL;

	if (nconns == 0 || nconns > 64) {
		*error_r = "db: connection count must be 1..64";
		return NULL;
	}
	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL) {
		*error_r = "db: invalid db_conninfo";
		PQfreemem(err);
		return NULL;
	}
	PQconninfoFree(opts);
	db = calloc(1, sizeof(*db));
	if (db == NULL || (db->conninfo = strdup(conninfo)) == NULL ||
	    (db->conns = calloc(nconns, sizeof(*db->conns))) == NULL)
		panic("db: out of memory");
	db->base = base;
	db->stmts = stmts;
	db->nstmts = nstmts;
	db->nconns = nconns;
	for (unsigned i = 0; i < nconns; i++) {
		struct db_conn *c = &db->conns[i];
		c->db = db;
		c->index = i;
		c->fd = -1;
		c->backoff_ms = DB_BACKOFF_MIN_MS;
		c->ev_timer = evtimer_new(base, on_timer, c);
		if (c->ev_timer == NULL)
			panic("db: cannot create timer");
		conn_start(c);
	}
	return db;
}

void db_destroy(struct db **db_r)
{
	struct db *db = *db_r;

	if (db == NULL)
		return;
	db->destroying = true;
	db_fail_queue(db, "shutting down");
	for (unsigned i = 0; i < db->nconns; i++) {
		struct db_conn *c = &db->conns[i];
		if (c->pg != NULL)
			conn_fail(c, "shutting down");
		event_free(c->ev_timer);
	}
	free(db->conns);
	free(db->conninfo);
	free(db);
	*db_r = NULL;
}

static const char *db_find_statement(const struct db *db, const char *name)
{
	for (unsigned i = 0; i < db->nstmts; i++)
		if (strcmp(db->stmts[i].name, name) == 0)
			return db->stmts[i].name;
	return NULL;
}

/* Copies the caller's parameters into one allocation owned by req. */
static int request_copy(struct db_request *req, const struct db_query *q, unsigned n)
{
	size_t total = 0, off = 0;
	char *p;

	for (unsigned i = 0; i < n; i++) {
		if (q[i].nparams < 0 || q[i].nparams > 65535)
			return -1;
		total += (size_t)q[i].nparams * (sizeof(char *) + 2 * sizeof(int));
		if (q[i].sql != NULL)
			total += strlen(q[i].sql) + 1;
		for (int j = 0; j < q[i].nparams; j++) {
			const char *v = q[i].values[j];
			bool bin = q[i].formats != NULL && q[i].formats[j] == 1;
			if (v != NULL)
				total += (bin ? (size_t)q[i].lengths[j] : strlen(v)) + 1;
		}
	}
	req->blob = malloc(total + 1);
	if (req->blob == NULL)
		panic("db: out of memory copying %zu bytes of parameters", total);
	p = req->blob;
	/* Arrays first (pointer-aligned because malloc'd), then the bytes. */
	for (unsigned i = 0; i < n; i++) {
		int np = q[i].nparams;
		req->values[i] = (const char **)(void *)(p + off);
		off += (size_t)np * sizeof(char *);
	}
	for (unsigned i = 0; i < n; i++) {
		int np = q[i].nparams;
		req->lengths[i] = (int *)(void *)(p + off);
		off += (size_t)np * sizeof(int);
		req->formats[i] = (int *)(void *)(p + off);
		off += (size_t)np * sizeof(int);
	}
	for (unsigned i = 0; i < n; i++) {
		if (q[i].sql != NULL) {
			size_t len = strlen(q[i].sql);
			memcpy(p + off, q[i].sql, len + 1);
			req->stmts[i] = p + off;
			req->unprepared[i] = true;
			off += len + 1;
		}
		req->nparams[i] = q[i].nparams;
		req->result_format[i] = q[i].result_format;
		for (int j = 0; j < q[i].nparams; j++) {
			const char *v = q[i].values[j];
			bool bin = q[i].formats != NULL && q[i].formats[j] == 1;
			size_t len;
			req->formats[i][j] = bin ? 1 : 0;
			if (v == NULL) {
				req->values[i][j] = NULL;
				req->lengths[i][j] = 0;
				continue;
			}
			len = bin ? (size_t)q[i].lengths[j] : strlen(v);
			memcpy(p + off, v, len);
			p[off + len] = '\0';
			req->values[i][j] = p + off;
			req->lengths[i][j] = (int)len;
			off += len + 1;
		}
	}
	return 0;
}

struct db_request *db_submit(struct db *db, const struct db_query *queries, unsigned n,
			     db_callback *cb, void *ctx, const char **error_r)
{
	struct db_request *req;

	if (n == 0 || n > DB_MAX_STATEMENTS) {
		*error_r = "db: bad statement count";
		return NULL;
	}
	if (!db_any_ready(db) && !db_any_coming(db)) {
		*error_r = "database unavailable";
		return NULL;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL)
		panic("db: out of memory");
	req->db = db;
	req->cb = cb;
	req->ctx = ctx;
	req->n = n;
	for (unsigned i = 0; i < n; i++) {
		if (queries[i].sql != NULL)
			continue; /* request_copy takes the text */
		req->stmts[i] = db_find_statement(db, queries[i].stmt);
		if (req->stmts[i] == NULL)
			panic("db: unknown statement %s", queries[i].stmt);
	}
	if (request_copy(req, queries, n) < 0) {
		request_free(req);
		*error_r = "db: bad parameter count";
		return NULL;
	}
	req->next = NULL;
	if (db->qtail != NULL)
		db->qtail->next = req;
	else
		db->qhead = req;
	db->qtail = req;
	db->queued++;
	db->pending++;
	db_dispatch(db);
	return req;
}

/* Moves queued requests onto ready connections, least loaded first. */
static void db_dispatch(struct db *db)
{
	bool sent_any[64] = {false};

	while (db->qhead != NULL) {
		struct db_conn *best = NULL;
		struct db_request *req;

		for (unsigned i = 0; i < db->nconns; i++) {
			struct db_conn *c = &db->conns[i];
			if (c->state == DB_CONN_READY && c->inflight < DB_MAX_INFLIGHT &&
			    (best == NULL || c->inflight < best->inflight))
				best = c;
		}
		if (best == NULL)
			break;
		req = db->qhead;
		db->qhead = req->next;
		if (db->qhead == NULL)
			db->qtail = NULL;
		db->queued--;
		if (req->cancelled) {
			db->pending--;
			request_free(req);
			continue;
		}
		if (conn_send(best, req) < 0) {
			/* Put it back in front: another connection may take it. */
			req->next = db->qhead;
			db->qhead = req;
			if (db->qtail == NULL)
				db->qtail = req;
			db->queued++;
			conn_fail(best, PQerrorMessage(best->pg));
			continue;
		}
		sent_any[best->index] = true;
	}
	for (unsigned i = 0; i < db->nconns; i++)
		if (sent_any[i] && db->conns[i].state == DB_CONN_READY)
			conn_flush(&db->conns[i]);
}

void db_request_cancel(struct db_request *req)
{
	req->cancelled = true;
}

void db_listen(struct db *db, const char *channel, db_notify_cb *cb, void *ctx)
{
	unsigned i = db->nlistens;

	if (i == DB_MAX_LISTEN || strlen(channel) >= sizeof(db->listens[i].channel))
		panic("db: too many or too long LISTEN channels");
	snprintf(db->listens[i].channel, sizeof(db->listens[i].channel), "%s", channel);
	snprintf(db->listens[i].sql, sizeof(db->listens[i].sql), "LISTEN %s", channel);
	db->listens[i].cb = cb;
	db->listens[i].ctx = ctx;
	db->nlistens++;
}

bool db_is_up(const struct db *db)
{
	return db_any_ready(db);
}

unsigned db_pending(const struct db *db)
{
	return db->pending;
}

const char *db_error_reason(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state == NULL)
		return NULL;
	if (strncmp(state, "MS", 2) == 0) {
		static const struct {
			const char *code, *reason;
		} map[] = {{"MSNF0", "not_found"}, {"MSCF0", "conflict"}, {"MSIV0", "invalid"},
			   {"MSLM0", "limit"},	   {"MSFB0", "forbidden"}, {"MSOQ0", "over_quota"}};
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(state, map[i].code) == 0)
				return map[i].reason;
		return NULL;
	}
	if (strcmp(state, "23505") == 0)
		return "conflict";
	/* 23514 check, 23503 foreign key, 23502 not null, class 22 data exceptions */
	if (strcmp(state, "23514") == 0 || strcmp(state, "23503") == 0 ||
	    strcmp(state, "23502") == 0 || strncmp(state, "22", 2) == 0)
		return "invalid";
	return NULL;
}

const char *db_error_message(const PGresult *res)
{
	static char msg[512];
	const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	size_t len;

	if (m == NULL)
		m = PQresultErrorMessage(res);
	snprintf(msg, sizeof(msg), "%s", m ? m : "unknown error");
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	return msg;
}
