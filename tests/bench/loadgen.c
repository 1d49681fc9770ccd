/* loadgen: the benchmark load generator. One process, one libevent loop,
 * thousands of IMAP (plain or implicit TLS) and LMTP connections.
 *
 *   loadgen mixed   --port P [--tls] --clients K --iterations I --mbox FILE
 *   loadgen bigbox  --port P --user-fmt F --iterations I [--warmup W]
 *   loadgen deliver --port P --lmtp-file FILE --connections C [--messages N]
 *   loadgen idle    --port P --lmtp-port L --sessions N --users U --deliveries M
 *
 * Users are made from --user-fmt ("bench%d@bench.test", numbered from 1)
 * and share --password. Every random choice comes from --seed, per client,
 * so two runs (or two servers) see the same sequence of commands.
 *
 * Scenarios:
 * - mixed: each client loops connect, LOGIN, SELECT INBOX, FETCH 1:* (UID
 *   FLAGS), FETCH <random> (BODY.PEEK[] BODYSTRUCTURE), STORE <3 random>
 *   +FLAGS (\Seen), APPEND INBOX <a corpus message>, UID STORE <lowest UID>
 *   +FLAGS.SILENT (\Deleted), UID EXPUNGE <it> (STORE + EXPUNGE when the
 *   server lacks UIDPLUS), LOGOUT. Client i uses user (i mod --users) + 1;
 *   the mailbox size stays constant (one in, one out).
 * - bigbox: one session: SELECT, FETCH 1:* (UID FLAGS RFC822.SIZE), UID
 *   SEARCH SUBJECT/FROM/TEXT <word>, UID SEARCH TEXT <rare word>, STATUS,
 *   FETCH <last 50> ENVELOPE.
 * - deliver: replays a corpusgen LMTP input file over C connections (one
 *   transaction at a time per connection, every recipient must get 250).
 * - idle: N sessions LOGIN, SELECT INBOX and IDLE; prints "READY" on stdout
 *   when all idle and, with --wait-stdin, waits for a line on stdin (the
 *   driver measures memory meanwhile); then delivers M messages over LMTP,
 *   one at a time, each to one user, and measures the time from the end of
 *   the DATA to the "* n EXISTS" in every idle session of that user.
 *
 * Output: one JSON object on stdout: operations/s, per-command latency
 * percentiles (ms), errors. Any error (a NO/BAD, an unexpected close, a
 * timeout, a lost push) stops the run, is printed on stderr, and the exit
 * status is 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_RESPONSE (64u * 1024 * 1024) /* one response line without literals */
#define MAX_RCPTS 64

/* ---- PRNG (xoshiro256**, seeded by splitmix64) ------------------------ */

struct rng {
	uint64_t s[4];
};

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* ---- operations and their latencies ----------------------------------- */

enum op {
	OP_NONE,
	OP_CONNECT, /* TCP (+ TLS) connect until the greeting */
	OP_CAPABILITY,
	OP_LOGIN,
	OP_SELECT,
	OP_FETCH_FLAGS,	   /* FETCH 1:* (UID FLAGS) */
	OP_FETCH_BODY,	   /* FETCH n (BODY.PEEK[] BODYSTRUCTURE) */
	OP_STORE_SEEN,	   /* STORE a,b,c +FLAGS (\Seen) */
	OP_APPEND,	   /* APPEND, both round trips */
	OP_STORE_DELETED,  /* UID STORE u +FLAGS.SILENT (\Deleted) */
	OP_UID_EXPUNGE,	   /* UID EXPUNGE u */
	OP_EXPUNGE,	   /* EXPUNGE (no UIDPLUS) */
	OP_LOGOUT,
	OP_FETCH_ALL,	   /* FETCH 1:* (UID FLAGS RFC822.SIZE) */
	OP_SEARCH_SUBJECT, /* UID SEARCH SUBJECT w */
	OP_SEARCH_FROM,
	OP_SEARCH_TEXT,
	OP_SEARCH_RARE,	   /* UID SEARCH TEXT <a word in ~0.5% of messages> */
	OP_STATUS,
	OP_FETCH_ENVELOPE, /* FETCH n-49:n ENVELOPE */
	OP_IDLE,	   /* IDLE until "+" */
	OP_IDLE_DONE,	   /* DONE until the tagged OK */
	OP_PUSH,	   /* end of DATA until "* n EXISTS" in an idle session */
	OP_LHLO,
	OP_MAIL,
	OP_RCPT,
	OP_DATA,	   /* DATA until 354 */
	OP_DELIVER,	   /* MAIL FROM until the last per-recipient reply */
	OP_QUIT,
	OP_ALL_MIXED,	   /* every command of the mixed loop, LOGIN to LOGOUT */
	N_OPS
};

static const char *const op_names[N_OPS] = {
	[OP_NONE] = "none",
	[OP_CONNECT] = "connect",
	[OP_CAPABILITY] = "CAPABILITY",
	[OP_LOGIN] = "LOGIN",
	[OP_SELECT] = "SELECT",
	[OP_FETCH_FLAGS] = "FETCH 1:* (UID FLAGS)",
	[OP_FETCH_BODY] = "FETCH (BODY.PEEK[] BODYSTRUCTURE)",
	[OP_STORE_SEEN] = "STORE +FLAGS (\\Seen)",
	[OP_APPEND] = "APPEND",
	[OP_STORE_DELETED] = "UID STORE +FLAGS (\\Deleted)",
	[OP_UID_EXPUNGE] = "UID EXPUNGE",
	[OP_EXPUNGE] = "EXPUNGE",
	[OP_LOGOUT] = "LOGOUT",
	[OP_FETCH_ALL] = "FETCH 1:* (UID FLAGS RFC822.SIZE)",
	[OP_SEARCH_SUBJECT] = "UID SEARCH SUBJECT",
	[OP_SEARCH_FROM] = "UID SEARCH FROM",
	[OP_SEARCH_TEXT] = "UID SEARCH TEXT",
	[OP_SEARCH_RARE] = "UID SEARCH TEXT rare",
	[OP_STATUS] = "STATUS",
	[OP_FETCH_ENVELOPE] = "FETCH last 50 ENVELOPE",
	[OP_IDLE] = "IDLE",
	[OP_IDLE_DONE] = "DONE",
	[OP_PUSH] = "push (IDLE EXISTS)",
	[OP_LHLO] = "LHLO",
	[OP_MAIL] = "MAIL FROM",
	[OP_RCPT] = "RCPT TO",
	[OP_DATA] = "DATA",
	[OP_DELIVER] = "delivery",
	[OP_QUIT] = "QUIT",
	[OP_ALL_MIXED] = "all commands",
};

struct samples {
	double *v; /* milliseconds */
	size_t n, cap;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- configuration and global state ------------------------------------ */

enum scenario { SC_MIXED, SC_BIGBOX, SC_DELIVER, SC_IDLE };

struct msgref {
	const char *p; /* in the mmapped mbox, LF line ends, mboxrd-quoted */
	size_t len;
};

struct txn {
	size_t hdr, data, end; /* offsets in the LMTP file: MAIL line, after DATA line, after ".\r\n" */
};

struct opts {
	enum scenario scenario;
	const char *host;
	int port, lmtp_port;
	bool tls;
	const char *user_fmt, *password;
	unsigned users, clients, iterations, warmup, connections, sessions, deliveries;
	unsigned connect_concurrency, timeout_s, max_seconds;
	uint64_t messages, seed;
	const char *mbox, *lmtp_file;
	const char *search_subject, *search_from, *search_text, *search_rare;
	bool wait_stdin;
};

struct client;

struct bench {
	struct opts o;
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	struct sockaddr_in addr, lmtp_addr;
	struct samples lat[N_OPS];
	uint64_t ops, errors, sessions_done, lit_bytes;
	char first_error[1024];
	double t_start, t_measure, t_end;
	bool measuring, stopping;
	unsigned active;
	int uidplus; /* -1 unknown, 0, 1 */
	/* corpora */
	struct msgref *msgs;
	size_t nmsgs;
	const char *lmtp_map;
	size_t lmtp_size;
	struct txn *txns;
	size_t ntxns, next_txn, delivered_msgs, delivered_rcpts, delivered_bytes;
	/* bigbox */
	long search_hits[4];
	uint32_t exists;
	/* idle */
	struct client **idle;
	unsigned idle_started, idle_ready, idle_closed, idle_ending;
	bool idle_all_ready, idle_go, idle_end_phase;
	struct client *pusher;
	unsigned pushes_done, push_waiting;
	double push_t0;
	unsigned push_user;
	struct event *push_timer, *stdin_ev, *deadline;
	double t_ready;
};

static struct bench B;

struct client {
	unsigned id;
	bool lmtp;
	struct bufferevent *bev;
	struct rng rng;
	int step;
	unsigned iter;
	bool closing, recording;
	/* the command in flight */
	enum op op;
	double t0;
	char tag[16];
	unsigned tagno;
	/* response assembly */
	char *resp;
	size_t resp_len, resp_cap, lit_left;
	/* IMAP state */
	uint32_t exists, min_uid, fetched;
	bool caps_known, in_idle, push_pending;
	long hits;
	char *append_buf;
	size_t append_len;
	unsigned user;
	/* LMTP state */
	size_t txn;
	const char *rcpt[MAX_RCPTS];
	size_t rcpt_len[MAX_RCPTS];
	unsigned nrcpt, rcpt_i, replies_left;
	double txn_t0;
};

static void client_connect(struct client *c);
static void client_close(struct client *c);
static void mixed_next(struct client *c);
static void bigbox_next(struct client *c);
static void idle_next(struct client *c);
static void lmtp_next(struct client *c, int code, const char *line);
static void lmtp_start(struct client *c);
static void lmtp_send_line(struct client *c, enum op op, const char *p, size_t n);
static void push_next(void);

static void lat_add(enum op op, double ms)
{
	struct samples *s = &B.lat[op];

	/* The mix's latency as one distribution: its p99 is "the p99 of
	 * the mixed load" (connect and the one CAPABILITY per client are
	 * not commands of the loop). */
	if (B.o.scenario == SC_MIXED && op >= OP_LOGIN && op <= OP_LOGOUT)
		lat_add(OP_ALL_MIXED, ms);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = realloc(s->v, s->cap * sizeof(double));
		if (s->v == NULL) {
			perror("loadgen: realloc");
			exit(1);
		}
	}
	s->v[s->n++] = ms;
}

/* Stops the run: the first error is the one reported. */
__attribute__((format(printf, 2, 3))) static void fail(struct client *c, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	B.errors++;
	if (B.first_error[0] == '\0')
		snprintf(B.first_error, sizeof(B.first_error), "client %u (%s, iteration %u): %s",
			 c ? c->id : 0, c ? op_names[c->op] : "-", c ? c->iter : 0, msg);
	fprintf(stderr, "loadgen: ERROR client %u: %s\n", c ? c->id : 0, msg);
	B.stopping = true;
	event_base_loopbreak(B.base);
}

static void make_user(char *out, size_t outlen, unsigned n)
{
	const char *pct = strstr(B.o.user_fmt, "%d");
	snprintf(out, outlen, "%.*s%u%s", (int)(pct - B.o.user_fmt), B.o.user_fmt, n, pct + 2);
}

/* ---- sending ---------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void imap_send(struct client *c, enum op op,
							     const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;
	snprintf(c->tag, sizeof(c->tag), "a%u", ++c->tagno);
	c->op = op;
	c->t0 = now_ms();
	evbuffer_add_printf(out, "%s ", c->tag);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* Finishes the command in flight: latency, count. */
static void op_done(struct client *c)
{
	double t = now_ms();
	if (c->recording) {
		lat_add(c->op, t - c->t0);
		B.ops++;
	}
	c->op = OP_NONE;
}

/* ---- IMAP responses --------------------------------------------------- */

static void resp_add(struct client *c, const char *p, size_t n)
{
	if (c->resp_len + n + 1 > c->resp_cap) {
		size_t cap = c->resp_cap ? c->resp_cap : 256;
		while (cap < c->resp_len + n + 1)
			cap *= 2;
		c->resp = realloc(c->resp, cap);
		if (c->resp == NULL) {
			perror("loadgen: realloc");
			exit(1);
		}
		c->resp_cap = cap;
	}
	memcpy(c->resp + c->resp_len, p, n);
	c->resp_len += n;
	c->resp[c->resp_len] = '\0';
}

static void parse_caps(struct client *c, const char *caps)
{
	c->caps_known = true;
	const char *p = strcasestr(caps, " UIDPLUS");
	bool has = p != NULL && (p[8] == ' ' || p[8] == ']' || p[8] == '\0');
	if (B.uidplus < 0)
		B.uidplus = has;
}

static void imap_untagged(struct client *c, char *r)
{
	char *end;
	if (r[0] >= '0' && r[0] <= '9') {
		unsigned long n = strtoul(r, &end, 10);
		if (strncmp(end, " EXISTS", 7) == 0) {
			c->exists = (uint32_t)n;
			if (c->push_pending) {
				double t = now_ms();
				c->push_pending = false;
				lat_add(OP_PUSH, t - B.push_t0);
				B.ops++;
				if (--B.push_waiting == 0)
					push_next();
			}
		} else if (strncmp(end, " EXPUNGE", 8) == 0) {
			if (c->exists > 0)
				c->exists--;
		} else if (strncmp(end, " FETCH ", 7) == 0 &&
			   (c->op == OP_FETCH_FLAGS || c->op == OP_FETCH_ALL)) {
			c->fetched++;
			const char *u = strstr(end, "UID ");
			if (u != NULL) {
				uint32_t uid = (uint32_t)strtoul(u + 4, NULL, 10);
				if (c->min_uid == 0 || uid < c->min_uid)
					c->min_uid = uid;
			}
		}
		return;
	}
	if (strncmp(r, "OK ", 3) == 0) {
		if (c->op == OP_CONNECT) {
			/* The greeting. Its capabilities are the pre-login ones:
			 * UIDPLUS is learnt after LOGIN. */
			op_done(c);
			if (B.o.scenario == SC_MIXED)
				mixed_next(c);
			else if (B.o.scenario == SC_BIGBOX)
				bigbox_next(c);
			else
				idle_next(c);
		}
		return;
	}
	if (strncmp(r, "CAPABILITY ", 11) == 0) {
		parse_caps(c, r + 10);
		return;
	}
	if (strncmp(r, "SEARCH", 6) == 0) {
		long n = 0;
		for (const char *p = r + 6; *p; p++)
			if (*p == ' ' && p[1] >= '0' && p[1] <= '9')
				n++;
		c->hits = n;
		return;
	}
	if (strncmp(r, "BYE", 3) == 0) {
		if (c->op != OP_LOGOUT)
			fail(c, "unexpected BYE: %.200s", r);
		return;
	}
	if (strncmp(r, "NO", 2) == 0 || strncmp(r, "BAD", 3) == 0) {
		fail(c, "untagged %.300s", r);
		return;
	}
	/* FLAGS, STATUS, LIST, RECENT, ENABLED...: nothing to check. */
}

static void imap_tagged(struct client *c, char *r)
{
	size_t tl = strlen(c->tag);
	char *st = r + tl + 1;
	if (strncmp(st, "OK", 2) != 0) {
		fail(c, "%s failed: %.300s", op_names[c->op], r);
		return;
	}
	char *cap = strstr(st, "[CAPABILITY ");
	if (cap != NULL && c->op == OP_LOGIN)
		parse_caps(c, cap + 11);
	op_done(c);
	if (B.o.scenario == SC_MIXED)
		mixed_next(c);
	else if (B.o.scenario == SC_BIGBOX)
		bigbox_next(c);
	else
		idle_next(c);
}

static void imap_continue(struct client *c)
{
	if (c->op == OP_APPEND && c->append_buf != NULL) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		evbuffer_add(out, c->append_buf, c->append_len);
		evbuffer_add(out, "\r\n", 2);
		free(c->append_buf);
		c->append_buf = NULL;
	} else if (c->op == OP_IDLE) {
		op_done(c);
		idle_next(c);
	} else
		fail(c, "unexpected continuation: %.200s", c->resp);
}

static void imap_response(struct client *c)
{
	char *r = c->resp;
	size_t tl = strlen(c->tag);
	if (r[0] == '+')
		imap_continue(c);
	else if (r[0] == '*' && r[1] == ' ')
		imap_untagged(c, r + 2);
	else if (c->tag[0] && strncmp(r, c->tag, tl) == 0 && r[tl] == ' ')
		imap_tagged(c, r);
	else
		fail(c, "unexpected response: %.200s", r);
}

static void imap_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!c->closing && !B.stopping) {
		if (c->lit_left > 0) {
			size_t n = evbuffer_get_length(in);
			if (n == 0)
				break;
			if (n > c->lit_left)
				n = c->lit_left;
			evbuffer_drain(in, n);
			c->lit_left -= n;
			B.lit_bytes += n;
			continue;
		}
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF_STRICT);
		if (line == NULL) {
			if (evbuffer_get_length(in) > MAX_RESPONSE)
				fail(c, "response line too long");
			break;
		}
		resp_add(c, line, len);
		free(line);
		if (c->resp_len > MAX_RESPONSE) {
			fail(c, "response too long");
			break;
		}
		/* A line ending in {n} continues after n literal octets. */
		if (len >= 3 && c->resp[c->resp_len - 1] == '}') {
			char *open = strrchr(c->resp, '{');
			if (open != NULL) {
				char *end;
				unsigned long long n = strtoull(open + 1, &end, 10);
				if (*end == '}' || (*end == '+' && end[1] == '}')) {
					c->lit_left = n;
					continue;
				}
			}
		}
		imap_response(c);
		c->resp_len = 0;
	}
	if (c->closing)
		client_close(c);
}

/* ---- the mixed scenario ---------------------------------------------- */

enum {
	MX_GREETING,
	MX_LOGIN,
	MX_CAPA,
	MX_SELECT,
	MX_FETCH_FLAGS,
	MX_FETCH_BODY,
	MX_STORE,
	MX_APPEND,
	MX_STORE_DEL,
	MX_EXPUNGE,
	MX_LOGOUT
};

/* The message for APPEND: corpus message k in CRLF form, mboxrd quoting
 * undone, after a header line no other APPEND of any run has: a server
 * that stores a message an account already holds as a reference (as
 * Mailstead does) must store each APPEND in full, as maildir does. */
static void load_message(struct client *c, size_t k)
{
	static unsigned long serial;
	const struct msgref *m = &B.msgs[k];
	char *out = malloc(m->len * 2 + 96);
	size_t o;
	const char *p = m->p, *end = m->p + m->len;
	if (out == NULL) {
		perror("loadgen: malloc");
		exit(1);
	}
	o = (size_t)sprintf(out, "X-Loadgen-Append: %lld.%ld.%lu\r\n", (long long)time(NULL),
			    (long)getpid(), ++serial);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *q = p;
		while (q < p + n && *q == '>')
			q++;
		if (q > p && (size_t)(p + n - q) >= 5 && memcmp(q, "From ", 5) == 0) {
			p++; /* mboxrd: drop one '>' */
			n--;
		}
		memcpy(out + o, p, n);
		o += n;
		out[o++] = '\r';
		out[o++] = '\n';
		p += n + (nl ? 1 : 0);
	}
	c->append_buf = out;
	c->append_len = o;
}

static void mixed_next(struct client *c)
{
	char user[256];
	switch (c->step) {
	case MX_GREETING:
		make_user(user, sizeof(user), c->user);
		c->step = MX_LOGIN;
		imap_send(c, OP_LOGIN, "LOGIN \"%s\" \"%s\"", user, B.o.password);
		break;
	case MX_LOGIN:
		if (!c->caps_known) {
			c->step = MX_CAPA;
			imap_send(c, OP_CAPABILITY, "CAPABILITY");
			break;
		}
		/* fall through */
	case MX_CAPA:
		c->step = MX_SELECT;
		imap_send(c, OP_SELECT, "SELECT INBOX");
		break;
	case MX_SELECT:
		c->step = MX_FETCH_FLAGS;
		c->fetched = 0;
		c->min_uid = 0;
		imap_send(c, OP_FETCH_FLAGS, "FETCH 1:* (UID FLAGS)");
		break;
	case MX_FETCH_FLAGS:
		if (c->fetched != c->exists) {
			fail(c, "FETCH 1:* returned %u messages, EXISTS said %u", c->fetched, c->exists);
			return;
		}
		if (c->exists < 4) {
			fail(c, "the mailbox has %u messages: preload at least 4", c->exists);
			return;
		}
		c->step = MX_FETCH_BODY;
		imap_send(c, OP_FETCH_BODY, "FETCH %u (BODY.PEEK[] BODYSTRUCTURE)",
			  1 + rng_below(&c->rng, c->exists));
		break;
	case MX_FETCH_BODY:
		c->step = MX_STORE;
		imap_send(c, OP_STORE_SEEN, "STORE %u,%u,%u +FLAGS (\\Seen)",
			  1 + rng_below(&c->rng, c->exists), 1 + rng_below(&c->rng, c->exists),
			  1 + rng_below(&c->rng, c->exists));
		break;
	case MX_STORE:
		c->step = MX_APPEND;
		load_message(c, rng_below(&c->rng, (uint32_t)B.nmsgs));
		imap_send(c, OP_APPEND, "APPEND INBOX {%zu}", c->append_len);
		break;
	case MX_APPEND:
		c->step = MX_STORE_DEL;
		imap_send(c, OP_STORE_DELETED, "UID STORE %u +FLAGS.SILENT (\\Deleted)", c->min_uid);
		break;
	case MX_STORE_DEL:
		c->step = MX_EXPUNGE;
		if (B.uidplus == 1)
			imap_send(c, OP_UID_EXPUNGE, "UID EXPUNGE %u", c->min_uid);
		else
			imap_send(c, OP_EXPUNGE, "EXPUNGE");
		break;
	case MX_EXPUNGE:
		c->step = MX_LOGOUT;
		imap_send(c, OP_LOGOUT, "LOGOUT");
		break;
	case MX_LOGOUT:
		B.sessions_done++;
		c->iter++;
		c->closing = true; /* closed by the read loop; reconnects if more to do */
		break;
	}
}

/* ---- the bigbox scenario ---------------------------------------------- */

enum { BB_GREETING, BB_LOGIN, BB_CAPA, BB_SELECT, BB_FETCH, BB_S1, BB_S2, BB_S3, BB_S4, BB_STATUS, BB_ENV, BB_LOGOUT };

static void bigbox_begin_iteration(struct client *c)
{
	c->recording = c->iter >= B.o.warmup;
	if (c->recording && !B.measuring) {
		B.measuring = true;
		B.t_measure = now_ms();
	}
	c->step = BB_SELECT;
	imap_send(c, OP_SELECT, "SELECT INBOX");
}

static void bigbox_next(struct client *c)
{
	char user[256];
	switch (c->step) {
	case BB_GREETING:
		make_user(user, sizeof(user), c->user);
		c->step = BB_LOGIN;
		imap_send(c, OP_LOGIN, "LOGIN \"%s\" \"%s\"", user, B.o.password);
		break;
	case BB_LOGIN:
		if (!c->caps_known) {
			c->step = BB_CAPA;
			imap_send(c, OP_CAPABILITY, "CAPABILITY");
			break;
		}
		/* fall through */
	case BB_CAPA:
		bigbox_begin_iteration(c);
		break;
	case BB_SELECT:
		c->step = BB_FETCH;
		c->fetched = 0;
		imap_send(c, OP_FETCH_ALL, "FETCH 1:* (UID FLAGS RFC822.SIZE)");
		break;
	case BB_FETCH:
		if (c->fetched != c->exists) {
			fail(c, "FETCH 1:* returned %u messages, EXISTS said %u", c->fetched, c->exists);
			return;
		}
		B.exists = c->exists;
		c->step = BB_S1;
		c->hits = -1;
		imap_send(c, OP_SEARCH_SUBJECT, "UID SEARCH SUBJECT \"%s\"", B.o.search_subject);
		break;
	case BB_S1:
		B.search_hits[0] = c->hits;
		c->step = BB_S2;
		c->hits = -1;
		imap_send(c, OP_SEARCH_FROM, "UID SEARCH FROM \"%s\"", B.o.search_from);
		break;
	case BB_S2:
		B.search_hits[1] = c->hits;
		c->step = BB_S3;
		c->hits = -1;
		imap_send(c, OP_SEARCH_TEXT, "UID SEARCH TEXT \"%s\"", B.o.search_text);
		break;
	case BB_S3:
		B.search_hits[2] = c->hits;
		c->step = BB_S4;
		c->hits = -1;
		imap_send(c, OP_SEARCH_RARE, "UID SEARCH TEXT \"%s\"", B.o.search_rare);
		break;
	case BB_S4:
		B.search_hits[3] = c->hits;
		c->step = BB_STATUS;
		imap_send(c, OP_STATUS, "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)");
		break;
	case BB_STATUS:
		c->step = BB_ENV;
		imap_send(c, OP_FETCH_ENVELOPE, "FETCH %u:%u ENVELOPE",
			  c->exists > 50 ? c->exists - 49 : 1, c->exists ? c->exists : 1);
		break;
	case BB_ENV:
		if (++c->iter < B.o.warmup + B.o.iterations) {
			bigbox_begin_iteration(c);
			break;
		}
		c->step = BB_LOGOUT;
		imap_send(c, OP_LOGOUT, "LOGOUT");
		break;
	case BB_LOGOUT:
		B.sessions_done++;
		c->closing = true;
		break;
	}
}

/* ---- the idle scenario ------------------------------------------------ */

enum { ID_GREETING, ID_LOGIN, ID_SELECT, ID_IDLE, ID_DONE, ID_LOGOUT };

static void idle_start_more(void);
static void idle_end_more(void);

static void idle_all_ready(void)
{
	B.idle_all_ready = true;
	B.t_ready = now_ms();
	printf("READY %u %.3f\n", B.idle_ready, (B.t_ready - B.t_start) / 1000.0);
	fflush(stdout);
	if (!B.o.wait_stdin)
		push_next();
	else if (event_add(B.stdin_ev, NULL) != 0)
		fail(NULL, "event_add(stdin)");
}

static void idle_next(struct client *c)
{
	char user[256];
	switch (c->step) {
	case ID_GREETING:
		make_user(user, sizeof(user), c->user);
		c->step = ID_LOGIN;
		imap_send(c, OP_LOGIN, "LOGIN \"%s\" \"%s\"", user, B.o.password);
		break;
	case ID_LOGIN:
		c->step = ID_SELECT;
		imap_send(c, OP_SELECT, "SELECT INBOX");
		break;
	case ID_SELECT:
		c->step = ID_IDLE;
		imap_send(c, OP_IDLE, "IDLE");
		break;
	case ID_IDLE:
		/* In IDLE: no read timeout until we end it. */
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		c->in_idle = true;
		B.idle_ready++;
		if (B.idle_ready == B.o.sessions)
			idle_all_ready();
		else
			idle_start_more();
		break;
	case ID_DONE:
		c->step = ID_LOGOUT;
		imap_send(c, OP_LOGOUT, "LOGOUT");
		break;
	case ID_LOGOUT:
		B.sessions_done++;
		c->closing = true;
		break;
	}
}

/* Ends IDLE in at most --connect-concurrency sessions at a time (each
 * closing session starts the next), as clients leave at different times:
 * 10,000 DONEs at once would measure a thundering herd nobody sees. */
static void idle_end_more(void)
{
	struct timeval tv = {B.o.timeout_s, 0};
	if (!B.idle_end_phase)
		return;
	while (B.idle_ending < B.o.sessions &&
	       B.idle_ending - B.idle_closed < B.o.connect_concurrency) {
		struct client *c = B.idle[B.idle_ending++];
		c->step = ID_DONE;
		c->in_idle = false;
		c->op = OP_IDLE_DONE;
		c->t0 = now_ms();
		evbuffer_add(bufferevent_get_output(c->bev), "DONE\r\n", 6);
		bufferevent_set_timeouts(c->bev, &tv, NULL);
	}
}

static void idle_end_all(void)
{
	B.idle_end_phase = true;
	B.idle_ending = 0;
	idle_end_more();
}

static struct client *client_new(unsigned id, bool lmtp);

static void idle_start_more(void)
{
	while (B.idle_started < B.o.sessions &&
	       B.idle_started - B.idle_ready < B.o.connect_concurrency) {
		unsigned i = B.idle_started++;
		struct client *c = client_new(i, false);
		c->user = i % B.o.users + 1;
		B.idle[i] = c;
		client_connect(c);
	}
}

static void push_timeout(evutil_socket_t fd, short what, void *arg)
{
	fail(NULL, "push %u to user %u: %u idle session(s) got no EXISTS within %u s", B.pushes_done,
	     B.push_user, B.push_waiting, B.o.timeout_s);
}

/* Delivers push number B.pushes_done once the previous one is complete:
 * every idle session of its user saw EXISTS and the LMTP transaction ended. */
static void push_next(void)
{
	if (B.stopping || B.push_waiting > 0)
		return;
	if (B.pusher == NULL) {
		B.pusher = client_new(B.o.sessions, true);
		client_connect(B.pusher);
		return; /* lmtp_next calls us again after LHLO */
	}
	if (B.pusher->op != OP_NONE)
		return; /* the transaction is still waiting for its 250 */
	(void)event_del(B.push_timer);
	if (B.pushes_done >= B.o.deliveries) {
		lmtp_send_line(B.pusher, OP_QUIT, "QUIT\r\n", 6);
		idle_end_all();
		return;
	}
	/* The sessions of user u are u-1, u-1+users, u-1+2*users, ... */
	unsigned u = 1 + rng_below(&B.pusher->rng, B.o.users < B.o.sessions ? B.o.users : B.o.sessions);
	B.push_user = u;
	for (unsigned i = u - 1; i < B.o.sessions; i += B.o.users) {
		B.idle[i]->push_pending = true;
		B.push_waiting++;
	}
	B.pushes_done++;
	lmtp_start(B.pusher);
	struct timeval tv = {B.o.timeout_s, 0};
	if (event_add(B.push_timer, &tv) != 0)
		fail(NULL, "event_add(push timer)");
}

static void stdin_read(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return;
	(void)event_del(B.stdin_ev);
	if (!B.idle_go) {
		B.idle_go = true;
		B.t_measure = now_ms();
		B.measuring = true;
		push_next();
	}
}

/* ---- LMTP ------------------------------------------------------------- */

/* Reads the next transaction's MAIL and RCPT lines into c. */
static int lmtp_take_txn(struct client *c)
{
	if (B.next_txn >= B.ntxns || (B.o.messages && B.next_txn >= B.o.messages))
		return 0;
	c->txn = B.next_txn++;
	const struct txn *t = &B.txns[c->txn];
	const char *p = B.lmtp_map + t->hdr, *end = B.lmtp_map + t->data;
	c->nrcpt = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(nl - p) + 1;
		if (n > 8 && strncasecmp(p, "RCPT TO:", 8) == 0 && c->nrcpt < MAX_RCPTS) {
			c->rcpt[c->nrcpt] = p;
			c->rcpt_len[c->nrcpt++] = n;
		}
		p += n;
	}
	return 1;
}

static void lmtp_send_line(struct client *c, enum op op, const char *p, size_t n)
{
	c->op = op;
	c->t0 = now_ms();
	evbuffer_add(bufferevent_get_output(c->bev), p, n);
}

/* Starts the next transaction on c (or QUIT when there is none). */
static void lmtp_start(struct client *c)
{
	static char push_rcpt[300];
	static const char push_mail[] = "MAIL FROM:<push@bench.example>\r\n";
	if (B.o.scenario == SC_IDLE) {
		char user[256];
		make_user(user, sizeof(user), B.push_user);
		snprintf(push_rcpt, sizeof(push_rcpt), "RCPT TO:<%s>\r\n", user);
		c->rcpt[0] = push_rcpt;
		c->rcpt_len[0] = strlen(push_rcpt);
		c->nrcpt = 1;
		c->txn_t0 = now_ms();
		lmtp_send_line(c, OP_MAIL, push_mail, sizeof(push_mail) - 1);
		return;
	}
	if (!lmtp_take_txn(c)) {
		lmtp_send_line(c, OP_QUIT, "QUIT\r\n", 6);
		return;
	}
	const struct txn *t = &B.txns[c->txn];
	const char *mail = B.lmtp_map + t->hdr;
	const char *nl = memchr(mail, '\n', t->data - t->hdr);
	c->txn_t0 = now_ms();
	lmtp_send_line(c, OP_MAIL, mail, (size_t)(nl - mail) + 1);
}

/* One complete reply (its code and last line) to the command in flight. */
static void lmtp_next(struct client *c, int code, const char *line)
{
	bool pusher = B.o.scenario == SC_IDLE;
	bool ok = (c->op == OP_CONNECT && code == 220) || (c->op == OP_DATA && code == 354) ||
		  (c->op == OP_QUIT && code == 221) ||
		  (code == 250 && c->op != OP_CONNECT && c->op != OP_DATA && c->op != OP_QUIT);
	if (!ok) {
		fail(c, "LMTP %s: %.300s", op_names[c->op], line);
		return;
	}
	switch (c->op) {
	case OP_CONNECT:
		op_done(c);
		lmtp_send_line(c, OP_LHLO, "LHLO bench.example\r\n", 20);
		return;
	case OP_LHLO:
		op_done(c);
		if (pusher)
			push_next();
		else
			lmtp_start(c);
		return;
	case OP_MAIL:
		op_done(c);
		c->rcpt_i = 0;
		lmtp_send_line(c, OP_RCPT, c->rcpt[0], c->rcpt_len[0]);
		return;
	case OP_RCPT:
		op_done(c);
		if (++c->rcpt_i < c->nrcpt)
			lmtp_send_line(c, OP_RCPT, c->rcpt[c->rcpt_i], c->rcpt_len[c->rcpt_i]);
		else
			lmtp_send_line(c, OP_DATA, "DATA\r\n", 6);
		return;
	case OP_DATA: {
		op_done(c);
		struct evbuffer *out = bufferevent_get_output(c->bev);
		c->replies_left = c->nrcpt;
		c->op = OP_DELIVER;
		if (pusher) {
			evbuffer_add_printf(out,
					    "From: push@bench.example\r\nTo: user@bench.test\r\n"
					    "Subject: push %u\r\nMessage-ID: <push.%u@bench.example>\r\n\r\n"
					    "Pushed to IDLE sessions.\r\n.\r\n",
					    B.pushes_done, B.pushes_done);
			B.push_t0 = now_ms();
		} else {
			const struct txn *t = &B.txns[c->txn];
			evbuffer_add_reference(out, B.lmtp_map + t->data, t->end - t->data, NULL, NULL);
		}
		return;
	}
	case OP_DELIVER:
		if (--c->replies_left > 0)
			return;
		c->t0 = c->txn_t0; /* the whole transaction, from MAIL FROM */
		op_done(c);
		B.delivered_msgs++;
		B.delivered_rcpts += c->nrcpt;
		if (pusher)
			push_next();
		else {
			B.delivered_bytes += B.txns[c->txn].end - B.txns[c->txn].data;
			lmtp_start(c);
		}
		return;
	case OP_QUIT:
		op_done(c);
		B.sessions_done++;
		c->closing = true;
		return;
	default:
		fail(c, "LMTP reply with no command in flight: %.200s", line);
		return;
	}
}

static void lmtp_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!c->closing && !B.stopping) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > 65536)
				fail(c, "LMTP reply line too long");
			break;
		}
		if (len < 3 || line[0] < '1' || line[0] > '5') {
			fail(c, "bad LMTP reply: %.200s", line);
			free(line);
			break;
		}
		if (len == 3 || line[3] != '-')
			lmtp_next(c, atoi(line), line);
		free(line);
	}
	if (c->closing)
		client_close(c);
}

/* ---- connections ------------------------------------------------------ */

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		fail(c, "timeout (%u s) waiting for %s", B.o.timeout_s, op_names[c->op]);
		return;
	}
	unsigned long e = bufferevent_get_openssl_error(bev);
	char ebuf[256] = "";
	if (e)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	if (what & BEV_EVENT_EOF)
		fail(c, "connection closed by the server while waiting for %s", op_names[c->op]);
	else
		fail(c, "connection error while waiting for %s: %s %s", op_names[c->op],
		     strerror(EVUTIL_SOCKET_ERROR()), ebuf);
}

static struct client *client_new(unsigned id, bool lmtp)
{
	struct client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		perror("loadgen: calloc");
		exit(1);
	}
	c->id = id;
	c->lmtp = lmtp;
	c->recording = true;
	rng_seed(&c->rng, B.o.seed * 1000003ULL + id);
	B.active++;
	return c;
}

static void client_connect(struct client *c)
{
	bool tls = B.o.tls && !c->lmtp;
	if (tls) {
		SSL *ssl = SSL_new(B.ssl_ctx);
		if (ssl == NULL) {
			fail(c, "SSL_new failed");
			return;
		}
		c->bev = bufferevent_openssl_socket_new(B.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
							BEV_OPT_CLOSE_ON_FREE);
	} else
		c->bev = bufferevent_socket_new(B.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		fail(c, "bufferevent_socket_new failed");
		return;
	}
	bufferevent_setcb(c->bev, c->lmtp ? lmtp_read : imap_read, NULL, client_event, c);
	struct timeval tv = {B.o.timeout_s, 0};
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
		fail(c, "bufferevent_enable failed");
		return;
	}
	c->step = 0;
	c->op = OP_CONNECT;
	c->tag[0] = '\0';
	c->resp_len = 0;
	c->lit_left = 0;
	c->caps_known = c->caps_known || B.uidplus >= 0;
	c->t0 = now_ms();
	const struct sockaddr_in *sa = c->lmtp ? &B.lmtp_addr : &B.addr;
	if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)sa, sizeof(*sa)) != 0)
		fail(c, "connect: %s", strerror(errno));
}

static void run_done(void)
{
	if (!B.stopping) {
		B.t_end = now_ms();
		event_base_loopbreak(B.base);
	}
}

/* Called by the read loops once a client is finished with its connection. */
static void client_close(struct client *c)
{
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->closing = false;
	if (B.o.scenario == SC_MIXED && c->iter < B.o.iterations) {
		client_connect(c);
		return;
	}
	if (B.o.scenario == SC_IDLE) {
		if (!c->lmtp) {
			B.idle_closed++;
			idle_end_more();
		}
		if (B.idle_closed == B.o.sessions && B.pusher != NULL && B.pusher->bev == NULL)
			run_done();
		return; /* freed at exit */
	}
	free(c->resp);
	free(c);
	if (--B.active == 0)
		run_done();
}

/* ---- corpora ---------------------------------------------------------- */

static const char *map_file(const char *path, size_t *size_r)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "loadgen: cannot open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (st.st_size == 0) {
		fprintf(stderr, "loadgen: %s is empty\n", path);
		exit(2);
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "loadgen: cannot map %s: %s\n", path, strerror(errno));
		exit(2);
	}
	close(fd);
	*size_r = (size_t)st.st_size;
	return p;
}

static void load_mbox(const char *path)
{
	size_t size, cap = 0;
	const char *map = map_file(path, &size), *p = map, *end = map + size;
	if (size < 5 || memcmp(map, "From ", 5) != 0) {
		fprintf(stderr, "loadgen: %s is not an mbox\n", path);
		exit(2);
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)); /* the From_ line */
		if (nl == NULL)
			break;
		const char *start = nl + 1, *q = start, *next = end;
		for (;;) {
			const char *f = memmem(q, (size_t)(end - q), "\n\nFrom ", 7);
			if (f == NULL)
				break;
			next = f + 2;
			break;
		}
		if (B.nmsgs == cap) {
			cap = cap ? cap * 2 : 1024;
			B.msgs = realloc(B.msgs, cap * sizeof(*B.msgs));
			if (B.msgs == NULL) {
				perror("loadgen: realloc");
				exit(1);
			}
		}
		/* The message ends before the separating empty line. */
		size_t len = (size_t)(next - start);
		if (next == end && len > 0 && start[len - 1] == '\n')
			len--;
		else if (next != end)
			len -= 1;
		B.msgs[B.nmsgs].p = start;
		B.msgs[B.nmsgs].len = len;
		B.nmsgs++;
		p = next;
	}
	if (B.nmsgs == 0) {
		fprintf(stderr, "loadgen: no messages in %s\n", path);
		exit(2);
	}
}

static void load_lmtp(const char *path)
{
	size_t cap = 0, off = 0;
	B.lmtp_map = map_file(path, &B.lmtp_size);
	while (off < B.lmtp_size) {
		const char *p = B.lmtp_map + off;
		size_t left = B.lmtp_size - off;
		const char *d = memmem(p, left, "\r\nDATA\r\n", 8);
		if (left < 10 || strncasecmp(p, "MAIL FROM:", 10) != 0 || d == NULL) {
			fprintf(stderr, "loadgen: %s: bad transaction at offset %zu\n", path, off);
			exit(2);
		}
		size_t data = (size_t)(d + 8 - B.lmtp_map);
		const char *e = memmem(B.lmtp_map + data, B.lmtp_size - data, "\r\n.\r\n", 5);
		if (e == NULL) {
			fprintf(stderr, "loadgen: %s: unterminated DATA at offset %zu\n", path, off);
			exit(2);
		}
		if (B.ntxns == cap) {
			cap = cap ? cap * 2 : 1024;
			B.txns = realloc(B.txns, cap * sizeof(*B.txns));
			if (B.txns == NULL) {
				perror("loadgen: realloc");
				exit(1);
			}
		}
		B.txns[B.ntxns++] = (struct txn){off, data, (size_t)(e + 5 - B.lmtp_map)};
		off = (size_t)(e + 5 - B.lmtp_map);
	}
}

/* ---- report ----------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const struct samples *s, double p)
{
	size_t k = (size_t)ceil(p / 100.0 * (double)s->n);
	if (k < 1)
		k = 1;
	if (k > s->n)
		k = s->n;
	return s->v[k - 1];
}

static void report(void)
{
	static const char *const sc[] = {"mixed", "bigbox", "deliver", "idle"};
	double end = B.t_end > 0 ? B.t_end : now_ms();
	double start = B.measuring ? B.t_measure : B.t_start;
	double secs = (end - start) / 1000.0;
	printf("{\"scenario\": \"%s\", \"tls\": %s, \"seconds\": %.3f, \"ops\": %" PRIu64
	       ", \"ops_per_sec\": %.1f, \"sessions\": %" PRIu64 ", \"errors\": %" PRIu64,
	       sc[B.o.scenario], B.o.tls ? "true" : "false", secs, B.ops,
	       secs > 0 ? (double)B.ops / secs : 0.0, B.sessions_done, B.errors);
	if (B.first_error[0]) {
		printf(", \"first_error\": \"");
		for (const char *p = B.first_error; *p; p++) {
			if (*p == '"' || *p == '\\')
				putchar('\\');
			putchar((unsigned char)*p < 0x20 ? ' ' : *p);
		}
		printf("\"");
	}
	printf(", \"uidplus\": %s", B.uidplus == 1 ? "true" : B.uidplus == 0 ? "false" : "null");
	/* The client's own CPU: it shares the machine with the servers. */
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf(", \"client_cpu_s\": %.2f",
		       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	if (B.o.scenario == SC_BIGBOX)
		printf(", \"exists\": %u, \"search_hits\": {\"SUBJECT\": %ld, \"FROM\": %ld, \"TEXT\": %ld, "
		       "\"TEXT rare\": %ld}",
		       B.exists, B.search_hits[0], B.search_hits[1], B.search_hits[2], B.search_hits[3]);
	if (B.o.scenario == SC_DELIVER || B.o.scenario == SC_IDLE)
		printf(", \"messages\": %zu, \"recipients\": %zu, \"bytes\": %zu, "
		       "\"messages_per_sec\": %.1f",
		       B.delivered_msgs, B.delivered_rcpts, B.delivered_bytes,
		       secs > 0 ? (double)B.delivered_msgs / secs : 0.0);
	if (B.o.scenario == SC_IDLE)
		printf(", \"sessions_idle\": %u, \"ready_seconds\": %.3f", B.idle_ready,
		       B.t_ready > 0 ? (B.t_ready - B.t_start) / 1000.0 : -1.0);
	printf(", \"literal_bytes\": %" PRIu64 ", \"commands\": {", B.lit_bytes);
	bool first = true;
	for (int i = 1; i < N_OPS; i++) {
		struct samples *s = &B.lat[i];
		if (s->n == 0)
			continue;
		qsort(s->v, s->n, sizeof(double), cmp_double);
		double sum = 0;
		for (size_t k = 0; k < s->n; k++)
			sum += s->v[k];
		printf("%s\"", first ? "" : ", ");
		for (const char *p = op_names[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				putchar('\\');
			putchar(*p);
		}
		printf("\": {\"n\": %zu, \"mean_ms\": %.3f, \"p50_ms\": %.3f, \"p95_ms\": %.3f, "
		       "\"p99_ms\": %.3f, \"max_ms\": %.3f}",
		       s->n, sum / (double)s->n, pct(s, 50), pct(s, 95), pct(s, 99), s->v[s->n - 1]);
		first = false;
	}
	printf("}}\n");
	fflush(stdout);
}

/* ---- main ------------------------------------------------------------- */

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	fail(NULL, "the run exceeded --max-seconds %u", B.o.max_seconds);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen mixed|bigbox|deliver|idle [options]\n"
		"  --host 127.0.0.1 --port P [--tls] [--lmtp-port P]\n"
		"  --user-fmt 'bench%%d@bench.test' --password PW --users U --seed S\n"
		"  mixed:   --clients K --iterations I --mbox FILE\n"
		"  bigbox:  --iterations I --warmup W [--search-subject W --search-from W --search-text W\n"
		"           --search-rare W]\n"
		"  deliver: --lmtp-file FILE --connections C [--messages N]\n"
		"  idle:    --sessions N --deliveries M [--connect-concurrency 100] [--wait-stdin]\n"
		"  --timeout S (per command, 120) --max-seconds S (whole run, 1800)\n");
	exit(2);
}

static unsigned uarg(const char *v)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end || n > 100000000UL)
		usage();
	return (unsigned)n;
}

int main(int argc, char **argv)
{
	struct opts *o = &B.o;
	*o = (struct opts){.host = "127.0.0.1", .user_fmt = "bench%d@bench.test",
			   .password = "bench-password", .users = 1, .clients = 1, .iterations = 5,
			   .connections = 4, .sessions = 100, .deliveries = 100,
			   .connect_concurrency = 100, .timeout_s = 120,
			   .max_seconds = 1800, .seed = 1, .search_subject = "invoice",
			   .search_from = "alice", .search_text = "archipelago",
			   .search_rare = "zanzibarite"};
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "mixed") == 0)
		o->scenario = SC_MIXED;
	else if (strcmp(argv[1], "bigbox") == 0)
		o->scenario = SC_BIGBOX;
	else if (strcmp(argv[1], "deliver") == 0)
		o->scenario = SC_DELIVER;
	else if (strcmp(argv[1], "idle") == 0)
		o->scenario = SC_IDLE;
	else
		usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--tls") == 0) {
			o->tls = true;
			continue;
		}
		if (strcmp(a, "--wait-stdin") == 0) {
			o->wait_stdin = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (strcmp(a, "--host") == 0)
			o->host = v;
		else if (strcmp(a, "--port") == 0)
			o->port = (int)uarg(v);
		else if (strcmp(a, "--lmtp-port") == 0)
			o->lmtp_port = (int)uarg(v);
		else if (strcmp(a, "--user-fmt") == 0)
			o->user_fmt = v;
		else if (strcmp(a, "--password") == 0)
			o->password = v;
		else if (strcmp(a, "--users") == 0)
			o->users = uarg(v);
		else if (strcmp(a, "--clients") == 0)
			o->clients = uarg(v);
		else if (strcmp(a, "--iterations") == 0)
			o->iterations = uarg(v);
		else if (strcmp(a, "--warmup") == 0)
			o->warmup = uarg(v);
		else if (strcmp(a, "--connections") == 0)
			o->connections = uarg(v);
		else if (strcmp(a, "--sessions") == 0)
			o->sessions = uarg(v);
		else if (strcmp(a, "--deliveries") == 0)
			o->deliveries = uarg(v);
		else if (strcmp(a, "--connect-concurrency") == 0)
			o->connect_concurrency = uarg(v);
		else if (strcmp(a, "--timeout") == 0)
			o->timeout_s = uarg(v);
		else if (strcmp(a, "--max-seconds") == 0)
			o->max_seconds = uarg(v);
		else if (strcmp(a, "--messages") == 0)
			o->messages = uarg(v);
		else if (strcmp(a, "--seed") == 0)
			o->seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--mbox") == 0)
			o->mbox = v;
		else if (strcmp(a, "--lmtp-file") == 0)
			o->lmtp_file = v;
		else if (strcmp(a, "--search-subject") == 0)
			o->search_subject = v;
		else if (strcmp(a, "--search-from") == 0)
			o->search_from = v;
		else if (strcmp(a, "--search-text") == 0)
			o->search_text = v;
		else if (strcmp(a, "--search-rare") == 0)
			o->search_rare = v;
		else
			usage();
	}
	const char *pct_d = strstr(o->user_fmt, "%d");
	if (pct_d == NULL || strchr(o->user_fmt, '%') != pct_d || strchr(pct_d + 1, '%') != NULL) {
		fprintf(stderr, "loadgen: --user-fmt needs exactly one %%d\n");
		return 2;
	}
	if (o->port <= 0 || o->port > 65535 || o->port == 2024 || o->lmtp_port == 2024 ||
	    o->users == 0 || o->clients == 0 || o->timeout_s == 0 || o->connections == 0 ||
	    o->sessions == 0 || o->connect_concurrency == 0) {
		fprintf(stderr, "loadgen: bad or missing --port/--users/--clients/... (never port 2024)\n");
		return 2;
	}
	if (o->scenario == SC_MIXED && o->mbox == NULL) {
		fprintf(stderr, "loadgen: mixed needs --mbox\n");
		return 2;
	}
	if (o->scenario == SC_DELIVER && o->lmtp_file == NULL) {
		fprintf(stderr, "loadgen: deliver needs --lmtp-file\n");
		return 2;
	}
	if (o->scenario == SC_IDLE && o->lmtp_port <= 0) {
		fprintf(stderr, "loadgen: idle needs --lmtp-port\n");
		return 2;
	}
	struct in_addr ia;
	if (inet_pton(AF_INET, o->host, &ia) != 1 || (ntohl(ia.s_addr) >> 24) != 127) {
		fprintf(stderr, "loadgen: --host must be a loopback IPv4 address\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl); /* best effort: the connects fail loudly otherwise */
	}

	B.uidplus = -1;
	B.addr.sin_family = AF_INET;
	B.addr.sin_addr = ia;
	B.addr.sin_port = htons((uint16_t)o->port);
	B.lmtp_addr = B.addr;
	B.lmtp_addr.sin_port = htons((uint16_t)(o->scenario == SC_DELIVER ? o->port : o->lmtp_port));
	if (o->mbox)
		load_mbox(o->mbox);
	if (o->lmtp_file)
		load_lmtp(o->lmtp_file);

	B.base = event_base_new();
	if (B.base == NULL) {
		fprintf(stderr, "loadgen: event_base_new failed\n");
		return 1;
	}
	if (o->tls) {
		B.ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (B.ssl_ctx == NULL) {
			fprintf(stderr, "loadgen: SSL_CTX_new failed\n");
			return 1;
		}
		/* A throwaway self-signed certificate on loopback: no verification. */
		SSL_CTX_set_verify(B.ssl_ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_min_proto_version(B.ssl_ctx, TLS1_2_VERSION);
	}
	B.deadline = evtimer_new(B.base, deadline_cb, NULL);
	struct timeval dl = {o->max_seconds, 0};
	if (B.deadline == NULL || evtimer_add(B.deadline, &dl) != 0) {
		fprintf(stderr, "loadgen: cannot arm the deadline\n");
		return 1;
	}
	B.t_start = now_ms();
	switch (o->scenario) {
	case SC_MIXED:
		for (unsigned i = 0; i < o->clients; i++) {
			struct client *c = client_new(i, false);
			c->user = i % o->users + 1;
			client_connect(c);
		}
		break;
	case SC_BIGBOX: {
		struct client *c = client_new(0, false);
		c->user = 1;
		client_connect(c);
		break;
	}
	case SC_DELIVER:
		for (unsigned i = 0; i < o->connections; i++) {
			struct client *c = client_new(i, true);
			client_connect(c);
		}
		break;
	case SC_IDLE:
		B.idle = calloc(o->sessions, sizeof(*B.idle));
		B.push_timer = evtimer_new(B.base, push_timeout, NULL);
		B.stdin_ev = event_new(B.base, 0, EV_READ, stdin_read, NULL);
		if (B.idle == NULL || B.push_timer == NULL || B.stdin_ev == NULL) {
			fprintf(stderr, "loadgen: out of memory\n");
			return 1;
		}
		idle_start_more();
		break;
	}
	if (!B.stopping)
		event_base_dispatch(B.base);
	if (B.t_end == 0)
		B.t_end = now_ms();
	report();
	if (B.errors) {
		fprintf(stderr, "loadgen: FAILED: %" PRIu64 " error(s); first: %s\n", B.errors,
			B.first_error);
		return 1;
	}
	return 0;
}
