/* corpusgen: a deterministic corpus of realistic mail for the benchmarks.
 *
 * One seed gives the same messages byte for byte on every run and machine
 * (our own PRNG, integer-only size draws); a corpus of N messages is a prefix
 * of one of N+k messages with the same seed.
 *
 * What the messages look like (tests/bench/README in docs/benchmarks.md):
 * - sizes from --min-size (1 KiB) to --max-size (5 MiB), log-normal around
 *   --median (6 KiB) with a long tail: ~1% above 250 KiB;
 * - plain text (7bit or quoted-printable UTF-8), multipart/alternative
 *   (text + HTML) and multipart/mixed with base64 attachments (some with
 *   RFC 2231 UTF-8 file names);
 * - RFC 2047 encoded non-ASCII names and subjects, Cc lists;
 * - threads: about a third are replies (Re:, In-Reply-To, References) to a
 *   recent message.
 *
 * Outputs, any combination:
 *   --mbox FILE      mboxrd, LF line ends (">From " quoting)
 *   --maildir DIR    DIR/{cur,new,tmp}, one LF file per message, named with
 *                    S= (file size) and W= (RFC822.SIZE), mtime = Date
 *   --lmtp FILE      LMTP input: per message MAIL FROM, RCPT TO (--rcpts of
 *                    --users recipients made from --rcpt-fmt, "%d" = user
 *                    number from 1), DATA and the dot-stuffed CRLF message
 *                    ending in CRLF "." CRLF.
 * A summary of the corpus goes to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

/* ---- PRNG: xoshiro256** seeded by splitmix64 ------------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
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

/* Uniform in [0, n). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Percent chance. */
static bool rng_pct(struct rng *r, unsigned pct)
{
	return rng_below(r, 100) < pct;
}

/* Standard normal from twelve uniforms (Irwin-Hall): integer arithmetic
 * only, so the draw is the same on every libm. */
static double rng_normal(struct rng *r)
{
	int64_t sum = 0;
	for (int i = 0; i < 12; i++)
		sum += (int64_t)(rng_next(r) >> 40); /* 24 bits */
	return (double)sum / (double)(1 << 24) - 6.0;
}

/* ---- growable buffer ------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_grow(struct buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		perror("corpusgen: realloc");
		exit(1);
	}
	b->p = p;
	b->cap = cap;
}

static void buf_add(struct buf *b, const void *data, size_t len)
{
	buf_grow(b, len);
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* ---- vocabulary ------------------------------------------------------ */

/* Ordered roughly by frequency: words are drawn with a skew towards the
 * front, so searches for "budget" (body), "invoice" (subject) and "alice"
 * (From) hit a medium share of a mailbox. */
static const char *const words[] = {
	"the", "and", "to", "of", "a", "in", "for", "is", "on", "that", "with", "we",
	"this", "you", "it", "be", "are", "as", "at", "will", "please", "team", "meeting",
	"project", "report", "update", "next", "week", "thanks", "review", "attached",
	"schedule", "customer", "release", "draft", "notes", "server", "budget", "plan",
	"question", "today", "tomorrow", "office", "contract", "call", "agenda", "design",
	"deadline", "support", "account", "invoice", "order", "delivery", "status",
	"document", "change", "request", "issue", "version", "feedback", "summary",
	"proposal", "quarter", "results", "numbers", "travel", "holiday", "lunch",
	"training", "security", "backup", "network", "migration", "database", "storage",
	"mailbox", "quota", "login", "password", "certificate", "renewal", "payment",
	"receipt", "shipping", "warehouse", "supplier", "pricing", "discount", "forecast",
	"analysis", "spreadsheet", "presentation", "slides", "workshop", "conference",
	"interview", "candidate", "hiring", "onboarding", "policy", "compliance", "audit",
	"legal", "signature", "approval", "escalation", "incident", "outage", "postmortem",
	"roadmap", "milestone", "sprint", "retrospective", "demo", "prototype", "benchmark",
	"latency", "throughput", "capacity", "kernel", "compiler", "library", "firmware",
	"zebra", "quasar", "marmalade", "obsidian", "lighthouse", "archipelago",
};
#define N_WORDS (sizeof(words) / sizeof(words[0]))

static const char *const utf8_words[] = {
	"Grüße", "réunion", "Übersicht", "façade", "naïve", "Ångström", "smörgåsbord",
	"jalapeño", "Zürich", "café", "日本語", "会議", "Привет", "отчёт", "Καλημέρα",
	"żółw", "crème brûlée",
};
#define N_UTF8 (sizeof(utf8_words) / sizeof(utf8_words[0]))

struct person {
	const char *name; /* UTF-8 */
	const char *addr;
};

static const struct person people[] = {
	{"Alice Archer", "alice@example.com"}, {"Bob Baker", "bob@example.org"},
	{"Carol Chen", "carol.chen@example.net"}, {"Dave Dunn", "dave@corp.example"},
	{"Erin Evans", "erin@example.com"}, {"Frank Fischer", "frank@example.de"},
	{"José Müller", "jose.mueller@example.de"}, {"Zoë Ångström", "zoe@example.se"},
	{"Łukasz Żółć", "lukasz@example.pl"}, {"Ирина Петрова", "irina@example.ru"},
	{"李雷", "lilei@example.cn"}, {"Grace Hopper", "grace@navy.example"},
	{"Heidi Klum", "heidi@example.com"}, {"Ivan Ivanov", "ivan@example.bg"},
	{"Judy Jones", "judy@example.co.uk"}, {"Mallory Moss", "mallory@evil.example"},
	{"Niaj Nash", "niaj@example.in"}, {"Olivia Ortiz", "olivia@example.mx"},
	{"Peggy Park", "peggy@example.kr"}, {"Rupert Rowe", "rupert@example.au"},
	{"Sybil Stone", "sybil@example.com"}, {"Trent Tran", "trent@example.vn"},
	{"Victor Vega", "victor@example.es"}, {"Walter White", "walter@example.com"},
	{"Alice Liddell", "alice.l@wonder.example"}, {"Noreply Billing", "billing@shop.example"},
};
#define N_PEOPLE (sizeof(people) / sizeof(people[0]))

static const char *word(struct rng *r)
{
	/* Quadratic skew: index = N * u^2. */
	uint64_t u = rng_below(r, 65536);
	return words[(u * u * N_WORDS) >> 32];
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 2047 B-encoding of a UTF-8 string (one encoded word per 30 input
 * bytes, never splitting a character). */
static void add_encoded_words(struct buf *b, const char *s)
{
	size_t len = strlen(s), i = 0;
	while (i < len) {
		size_t n = len - i > 30 ? 30 : len - i;
		while (i + n < len && ((unsigned char)s[i + n] & 0xc0) == 0x80)
			n--; /* do not split a UTF-8 sequence */
		if (i > 0)
			buf_str(b, "\r\n ");
		buf_str(b, "=?UTF-8?B?");
		const unsigned char *p = (const unsigned char *)s + i;
		for (size_t k = 0; k < n; k += 3) {
			uint32_t v = (uint32_t)p[k] << 16;
			if (k + 1 < n)
				v |= (uint32_t)p[k + 1] << 8;
			if (k + 2 < n)
				v |= p[k + 2];
			char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63],
				     k + 1 < n ? b64[(v >> 6) & 63] : '=', k + 2 < n ? b64[v & 63] : '='};
			buf_add(b, q, 4);
		}
		buf_str(b, "?=");
		i += n;
	}
}

static void add_header_text(struct buf *b, const char *s)
{
	if (is_ascii(s))
		buf_str(b, s);
	else
		add_encoded_words(b, s);
}

static void add_person(struct buf *b, const struct person *p)
{
	if (is_ascii(p->name))
		buf_printf(b, "\"%s\" <%s>", p->name, p->addr);
	else {
		add_encoded_words(b, p->name);
		buf_printf(b, " <%s>", p->addr);
	}
}

/* ---- bodies ---------------------------------------------------------- */

/* Text of about `size` bytes in lines of at most 76 octets; `utf8` mixes in
 * non-ASCII words (the caller declares 8bit or encodes). */
static void add_text(struct buf *b, struct rng *r, size_t size, bool utf8)
{
	size_t start = b->len, line = 0;
	bool sentence_start = true;
	while (b->len - start < size) {
		const char *w = utf8 && rng_pct(r, 6) ? utf8_words[rng_below(r, N_UTF8)] : word(r);
		size_t wl = strlen(w);
		if (line + wl + 2 > 72) {
			buf_str(b, "\r\n");
			line = 0;
			if (rng_pct(r, 12)) {
				buf_str(b, "\r\n"); /* paragraph */
				sentence_start = true;
			}
		} else if (line > 0) {
			buf_str(b, " ");
			line++;
		}
		if (sentence_start && w[0] >= 'a' && w[0] <= 'z') {
			char c = (char)(w[0] - 'a' + 'A');
			buf_add(b, &c, 1);
			buf_add(b, w + 1, wl - 1);
		} else
			buf_add(b, w, wl);
		line += wl;
		sentence_start = false;
		if (rng_pct(r, 10)) {
			buf_str(b, rng_pct(r, 80) ? "." : "?");
			line++;
			sentence_start = true;
		}
	}
	buf_str(b, "\r\n");
}

/* Quoted-printable (RFC 2045 §6.7) of CRLF text, soft breaks at 76. */
static void add_qp(struct buf *b, const char *s, size_t len)
{
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' && i + 1 < len && s[i + 1] == '\n') {
			buf_str(b, "\r\n");
			i++;
			col = 0;
			continue;
		}
		char enc[4];
		size_t n;
		if ((c >= 33 && c <= 126 && c != '=') || c == ' ') {
			enc[0] = (char)c;
			n = 1;
		} else {
			snprintf(enc, sizeof(enc), "=%02X", c);
			n = 3;
		}
		if (col + n > 75) {
			buf_str(b, "=\r\n");
			col = 0;
		}
		buf_add(b, enc, n);
		col += n;
	}
}

static void add_base64_random(struct buf *b, struct rng *r, size_t raw)
{
	size_t col = 0;
	for (size_t k = 0; k < raw; k += 3) {
		uint32_t v = (uint32_t)(rng_next(r) >> 40);
		size_t n = raw - k < 3 ? raw - k : 3;
		char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63], n > 1 ? b64[(v >> 6) & 63] : '=',
			     n > 2 ? b64[v & 63] : '='};
		buf_add(b, q, 4);
		col += 4;
		if (col >= 76) {
			buf_str(b, "\r\n");
			col = 0;
		}
	}
	if (col)
		buf_str(b, "\r\n");
}

/* The rare body word: in 0.5% of the messages (chosen by message number)
 * the first "archipelago" of the first text part becomes RARE_WORD, which
 * has the same length, so the random stream and every size, hence the
 * rest of the corpus, stay as they were. */
#define RARE_WORD "zanzibarite"
static bool rare_pending;

static void add_rare_word(struct buf *b, size_t start)
{
	char *w;

	if (rare_pending && b->len > start &&
	    (w = memmem(b->p + start, b->len - start, "archipelago", 11)) != NULL)
		memcpy(w, RARE_WORD, 11);
	rare_pending = false;
}

static void add_plain_part(struct buf *b, struct rng *r, size_t size, bool headers)
{
	bool utf8 = rng_pct(r, 35);
	if (!utf8) {
		if (headers)
			buf_str(b, "Content-Type: text/plain; charset=us-ascii\r\n"
				   "Content-Transfer-Encoding: 7bit\r\n\r\n");
		size_t start = b->len;
		add_text(b, r, size, false);
		add_rare_word(b, start);
		return;
	}
	struct buf t = {0};
	add_text(&t, r, size * 9 / 10, true);
	add_rare_word(&t, 0);
	if (headers)
		buf_str(b, "Content-Type: text/plain; charset=utf-8\r\n"
			   "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	add_qp(b, t.p, t.len);
	free(t.p);
}

static void add_html_part(struct buf *b, struct rng *r, size_t size)
{
	buf_str(b, "Content-Type: text/html; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	struct buf t = {0};
	buf_str(&t, "<html><body>\r\n");
	while (t.len < size * 9 / 10) {
		buf_str(&t, "<p>");
		add_text(&t, r, 200 + rng_below(r, 600), true);
		buf_str(&t, "</p>\r\n");
	}
	buf_str(&t, "</body></html>\r\n");
	add_qp(b, t.p, t.len);
	free(t.p);
}

static const struct {
	const char *type, *ext;
} attach_types[] = {
	{"application/pdf", "pdf"}, {"image/jpeg", "jpg"}, {"application/zip", "zip"},
	{"image/png", "png"}, {"application/vnd.oasis.opendocument.text", "odt"},
};

static void add_attachment(struct buf *b, struct rng *r, size_t encoded)
{
	unsigned t = rng_below(r, sizeof(attach_types) / sizeof(attach_types[0]));
	const char *w = word(r);
	if (rng_pct(r, 20)) {
		/* RFC 2231 UTF-8 file name. */
		const char *u = utf8_words[rng_below(r, N_UTF8)];
		buf_printf(b, "Content-Type: %s\r\nContent-Disposition: attachment;\r\n filename*=UTF-8''",
			   attach_types[t].type);
		for (const unsigned char *p = (const unsigned char *)u; *p; p++) {
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
				buf_add(b, p, 1);
			else
				buf_printf(b, "%%%02X", *p);
		}
		buf_printf(b, "-%s.%s\r\n", w, attach_types[t].ext);
	} else
		buf_printf(b, "Content-Type: %s; name=\"%s-%u.%s\"\r\n"
			      "Content-Disposition: attachment; filename=\"%s-%u.%s\"\r\n",
			   attach_types[t].type, w, rng_below(r, 1000), attach_types[t].ext, w,
			   rng_below(r, 1000), attach_types[t].ext);
	buf_str(b, "Content-Transfer-Encoding: base64\r\n\r\n");
	add_base64_random(b, r, encoded / 4 * 3);
}

static void boundary(char out[40], struct rng *r)
{
	snprintf(out, 40, "=_bench_%016" PRIx64, rng_next(r));
}

/* ---- messages -------------------------------------------------------- */

#define THREAD_RING 256
#define MAX_REFS 8

struct sent {
	char msgid[96];
	char subject[256]; /* UTF-8, without Re: */
	char refs[MAX_REFS][96];
	int nrefs;
};

struct gen {
	struct rng r;
	uint64_t seed;
	size_t median, min_size, max_size;
	double sigma;
	struct sent ring[THREAD_RING];
	uint64_t produced;
	/* statistics */
	uint64_t total_bytes, n_multipart, n_attach, n_nonascii, n_reply;
	size_t smallest, largest;
};

static size_t draw_size(struct gen *g)
{
	double v = (double)g->median * exp(g->sigma * rng_normal(&g->r));
	if (v < (double)g->min_size)
		return g->min_size;
	if (v > (double)g->max_size)
		return g->max_size;
	return (size_t)v;
}

static void make_subject(struct gen *g, char *out, size_t outlen, bool *nonascii)
{
	struct rng *r = &g->r;
	size_t len = 0;
	unsigned n = 3 + rng_below(r, 6);
	out[0] = '\0';
	*nonascii = false;
	/* A fixed share of subjects names the searched word, like mail from a
	 * billing system. */
	if (rng_pct(r, 4))
		len += (size_t)snprintf(out + len, outlen - len, "Invoice %u:", rng_below(r, 99999));
	for (unsigned i = 0; i < n && len + 40 < outlen; i++) {
		const char *w = word(r);
		if (rng_pct(r, 5)) {
			w = utf8_words[rng_below(r, N_UTF8)];
			*nonascii = true;
		}
		len += (size_t)snprintf(out + len, outlen - len, "%s%s", len ? " " : "", w);
	}
	if (out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 'a' + 'A');
}

/* Builds message number g->produced (CRLF) into m; date_r is its time. */
static void make_message(struct gen *g, struct buf *m, time_t *date_r)
{
	struct rng *r = &g->r;
	uint64_t i = g->produced;
	size_t target = draw_size(g);
	const struct person *from = &people[rng_below(r, N_PEOPLE)];
	struct sent *me = &g->ring[i % THREAD_RING];
	struct sent parent;
	bool reply = i > 4 && rng_pct(r, 33), nonascii = false;

	if (reply) {
		uint64_t back = 1 + rng_below(r, i < THREAD_RING - 1 ? (uint32_t)i : THREAD_RING - 1);
		parent = g->ring[(i - back) % THREAD_RING];
	}
	time_t date = (time_t)1704067200 + (time_t)(i * 137) + (time_t)rng_below(r, 120);
	*date_r = date;
	struct tm tm;
	gmtime_r(&date, &tm);
	char datestr[64];
	strftime(datestr, sizeof(datestr), "%a, %d %b %Y %H:%M:%S +0000", &tm);

	char subject[256];
	if (reply)
		snprintf(subject, sizeof(subject), "%s", parent.subject);
	else
		make_subject(g, subject, sizeof(subject), &nonascii);
	nonascii = nonascii || !is_ascii(subject) || !is_ascii(from->name);

	/* Record this message for later replies before writing it. */
	snprintf(me->msgid, sizeof(me->msgid), "<%" PRIu64 ".%016" PRIx64 ".%" PRIx64 "@bench.example>",
		 i, rng_next(r), g->seed);
	snprintf(me->subject, sizeof(me->subject), "%s", subject);
	me->nrefs = 0;
	if (reply) {
		int start = parent.nrefs >= MAX_REFS ? 1 : 0; /* keep the root, drop the oldest */
		if (start)
			memcpy(me->refs[me->nrefs++], parent.refs[0], 96);
		for (int k = start ? 2 : 0; k < parent.nrefs; k++)
			memcpy(me->refs[me->nrefs++], parent.refs[k], 96);
		memcpy(me->refs[me->nrefs++], parent.msgid, 96);
	}

	m->len = 0;
	buf_printf(m, "Return-Path: <%s>\r\n", from->addr);
	buf_printf(m, "Received: from mx.bench.example (mx.bench.example [192.0.2.%u])\r\n"
		      "\tby mail.bench.test with ESMTPS id %016" PRIx64 "\r\n\tfor <user@bench.test>; %s\r\n",
		   1 + rng_below(r, 250), rng_next(r), datestr);
	buf_printf(m, "Date: %s\r\n", datestr);
	buf_str(m, "From: ");
	add_person(m, from);
	buf_str(m, "\r\nTo: \"Bench User\" <user@bench.test>\r\n");
	if (rng_pct(r, 20)) {
		buf_str(m, "Cc: ");
		unsigned n = 1 + rng_below(r, 3);
		for (unsigned k = 0; k < n; k++) {
			if (k)
				buf_str(m, ",\r\n ");
			add_person(m, &people[rng_below(r, N_PEOPLE)]);
		}
		buf_str(m, "\r\n");
	}
	buf_str(m, "Subject: ");
	if (reply)
		buf_str(m, "Re: ");
	add_header_text(m, subject);
	buf_printf(m, "\r\nMessage-ID: %s\r\n", me->msgid);
	if (reply) {
		buf_printf(m, "In-Reply-To: %s\r\nReferences:", parent.msgid);
		for (int k = 0; k < me->nrefs; k++)
			buf_printf(m, "%s%s", k ? "\r\n " : " ", me->refs[k]);
		buf_str(m, "\r\n");
		g->n_reply++;
	}
	buf_str(m, "MIME-Version: 1.0\r\n");
	rare_pending = (i * 2654435761u) % 1000 < 5;

	size_t head = m->len;
	size_t body = target > head + 200 ? target - head : 200;
	bool mixed = body >= 48 * 1024 || (body >= 8 * 1024 && rng_pct(r, 10));
	char bnd[40], bnd2[40];
	if (mixed) {
		boundary(bnd, r);
		buf_printf(m, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", bnd);
		buf_str(m, "This is a multi-part message in MIME format.\r\n");
		size_t text = 400 + rng_below(r, 3000);
		buf_printf(m, "\r\n--%s\r\n", bnd);
		if (rng_pct(r, 40)) {
			boundary(bnd2, r);
			buf_printf(m, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", bnd2);
			buf_printf(m, "--%s\r\n", bnd2);
			add_plain_part(m, r, text, true);
			buf_printf(m, "\r\n--%s\r\n", bnd2);
			add_html_part(m, r, text * 2);
			buf_printf(m, "\r\n--%s--\r\n", bnd2);
		} else
			add_plain_part(m, r, text, true);
		size_t used = m->len - head;
		size_t rest = body > used + 300 ? body - used - 300 : 1024;
		unsigned natt = 1 + (rest > 200000 ? rng_below(r, 3) : 0);
		for (unsigned k = 0; k < natt; k++) {
			buf_printf(m, "\r\n--%s\r\n", bnd);
			add_attachment(m, r, rest / natt);
		}
		buf_printf(m, "\r\n--%s--\r\n", bnd);
		g->n_multipart++;
		g->n_attach++;
	} else if (body >= 4096 && rng_pct(r, 50)) {
		boundary(bnd, r);
		buf_printf(m, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", bnd);
		buf_printf(m, "--%s\r\n", bnd);
		add_plain_part(m, r, body / 3, true);
		buf_printf(m, "\r\n--%s\r\n", bnd);
		add_html_part(m, r, body * 2 / 3);
		buf_printf(m, "\r\n--%s--\r\n", bnd);
		g->n_multipart++;
	} else
		add_plain_part(m, r, body, true);

	if (nonascii)
		g->n_nonascii++;
	g->total_bytes += m->len;
	if (g->smallest == 0 || m->len < g->smallest)
		g->smallest = m->len;
	if (m->len > g->largest)
		g->largest = m->len;
	g->produced++;
}

/* ---- writers --------------------------------------------------------- */

static void die(const char *what, const char *path)
{
	fprintf(stderr, "corpusgen: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* CRLF -> LF copy of m into lf. */
static void to_lf(const struct buf *m, struct buf *lf)
{
	lf->len = 0;
	buf_grow(lf, m->len);
	for (size_t k = 0; k < m->len; k++)
		if (!(m->p[k] == '\r' && k + 1 < m->len && m->p[k + 1] == '\n'))
			lf->p[lf->len++] = m->p[k];
	lf->p[lf->len] = '\0';
}

static void write_mbox(FILE *f, const struct buf *lf, time_t date)
{
	struct tm tm;
	char ds[64];
	gmtime_r(&date, &tm);
	strftime(ds, sizeof(ds), "%a %b %e %H:%M:%S %Y", &tm);
	fprintf(f, "From bench@bench.example %s\n", ds);
	const char *p = lf->p, *end = lf->p + lf->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		/* mboxrd: ">*From " gets one more '>'. */
		const char *q = p;
		while (q < p + n && *q == '>')
			q++;
		if ((size_t)(p + n - q) >= 5 && memcmp(q, "From ", 5) == 0)
			fputc('>', f);
		fwrite(p, 1, n, f);
		p += n;
	}
	fputc('\n', f);
}

static void write_lmtp(FILE *f, const struct buf *m, const char *sender, const char *rcpt_fmt,
		       unsigned users, unsigned rcpts, struct rng *r)
{
	fprintf(f, "MAIL FROM:<%s>\r\n", sender);
	unsigned first = 1 + rng_below(r, users);
	for (unsigned k = 0; k < rcpts && k < users; k++) {
		unsigned u = 1 + (first - 1 + k) % users;
		const char *pct = strstr(rcpt_fmt, "%d");
		fprintf(f, "RCPT TO:<%.*s%u%s>\r\n", (int)(pct - rcpt_fmt), rcpt_fmt, u, pct + 2);
	}
	fputs("DATA\r\n", f);
	const char *p = m->p, *end = m->p + m->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if (*p == '.')
			fputc('.', f); /* RFC 5321 §4.5.2 */
		fwrite(p, 1, n, f);
		p += n;
	}
	fputs(".\r\n", f);
}

static void write_maildir_file(const char *dir, uint64_t i, uint64_t seed, const struct buf *lf,
			       size_t vsize, time_t date)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/cur/%lld.M%" PRIu64 "P%" PRIx64 ".bench,S=%zu,W=%zu:2,", dir,
		 (long long)date, i, seed, lf->len, vsize);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("cannot create", path);
	size_t off = 0;
	while (off < lf->len) {
		ssize_t n = write(fd, lf->p + off, lf->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("cannot write", path);
		}
		off += (size_t)n;
	}
	if (close(fd) != 0)
		die("cannot close", path);
	struct utimbuf ut = {.actime = date, .modtime = date};
	if (utime(path, &ut) != 0)
		die("cannot set time of", path);
}

static size_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		goto bad;
	if (*end == 'k' || *end == 'K')
		v *= 1024, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1024 * 1024, end++;
	if (*end != '\0')
		goto bad;
	return (size_t)v;
bad:
	fprintf(stderr, "corpusgen: bad size: %s\n", s);
	exit(2);
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: corpusgen --count N [--seed S] [--mbox FILE] [--maildir DIR]\n"
		"                 [--lmtp FILE --rcpt-fmt 'user%%d@domain' --users U --rcpts R]\n"
		"                 [--median 6K] [--sigma 1.6] [--min-size 1K] [--max-size 5M]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct gen g = {.seed = 1, .median = 6 * 1024, .min_size = 1024, .max_size = 5 * 1024 * 1024,
			.sigma = 1.6};
	uint64_t count = 0;
	const char *mbox = NULL, *maildir = NULL, *lmtp = NULL, *rcpt_fmt = NULL;
	unsigned users = 1, rcpts = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--count") == 0)
			count = strtoull(v, NULL, 10);
		else if (strcmp(a, "--seed") == 0)
			g.seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--mbox") == 0)
			mbox = v;
		else if (strcmp(a, "--maildir") == 0)
			maildir = v;
		else if (strcmp(a, "--lmtp") == 0)
			lmtp = v;
		else if (strcmp(a, "--rcpt-fmt") == 0)
			rcpt_fmt = v;
		else if (strcmp(a, "--users") == 0)
			users = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--rcpts") == 0)
			rcpts = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--median") == 0)
			g.median = parse_size(v);
		else if (strcmp(a, "--sigma") == 0)
			g.sigma = strtod(v, NULL);
		else if (strcmp(a, "--min-size") == 0)
			g.min_size = parse_size(v);
		else if (strcmp(a, "--max-size") == 0)
			g.max_size = parse_size(v);
		else
			usage();
	}
	if (count == 0 || g.min_size < 512 || g.max_size < g.min_size || users == 0 || rcpts == 0 ||
	    !(g.sigma >= 0 && g.sigma <= 4))
		usage();
	if (lmtp && (rcpt_fmt == NULL || strstr(rcpt_fmt, "%d") == NULL ||
		     strchr(strstr(rcpt_fmt, "%d") + 1, '%') != NULL || strchr(rcpt_fmt, '%') !=
		     strstr(rcpt_fmt, "%d"))) {
		fprintf(stderr, "corpusgen: --lmtp needs --rcpt-fmt with exactly one %%d\n");
		exit(2);
	}
	rng_seed(&g.r, g.seed);
	struct rng rcpt_rng;
	rng_seed(&rcpt_rng, g.seed ^ 0x6c6d7470ULL); /* recipients do not shift the messages */

	FILE *fm = NULL, *fl = NULL;
	if (mbox && (fm = fopen(mbox, "w")) == NULL)
		die("cannot create", mbox);
	if (lmtp && (fl = fopen(lmtp, "w")) == NULL)
		die("cannot create", lmtp);
	if (maildir) {
		char p[4096];
		const char *sub[] = {"", "/cur", "/new", "/tmp"};
		for (int k = 0; k < 4; k++) {
			snprintf(p, sizeof(p), "%s%s", maildir, sub[k]);
			if (mkdir(p, 0700) != 0 && errno != EEXIST)
				die("cannot create", p);
		}
	}
	static char iobuf1[1 << 20], iobuf2[1 << 20];
	if (fm)
		setvbuf(fm, iobuf1, _IOFBF, sizeof(iobuf1));
	if (fl)
		setvbuf(fl, iobuf2, _IOFBF, sizeof(iobuf2));

	struct buf m = {0}, lf = {0};
	size_t *sizes = calloc(count, sizeof(size_t));
	if (sizes == NULL)
		die("out of memory for", "sizes");
	for (uint64_t i = 0; i < count; i++) {
		time_t date;
		make_message(&g, &m, &date);
		sizes[i] = m.len;
		if (fm || maildir)
			to_lf(&m, &lf);
		if (fm)
			write_mbox(fm, &lf, date);
		if (fl)
			write_lmtp(fl, &m, "sender@bench.example", rcpt_fmt, users, rcpts, &rcpt_rng);
		if (maildir)
			write_maildir_file(maildir, i, g.seed, &lf, m.len, date);
	}
	if (fm && fclose(fm) != 0)
		die("cannot write", mbox);
	if (fl && fclose(fl) != 0)
		die("cannot write", lmtp);

	qsort(sizes, count, sizeof(size_t), cmp_size);
	fprintf(stderr,
		"corpusgen: %" PRIu64 " messages, %.1f MiB, sizes min %zu median %zu p99 %zu max %zu; "
		"%" PRIu64 " multipart, %" PRIu64 " with attachments, %" PRIu64 " non-ASCII headers, "
		"%" PRIu64 " replies\n",
		count, (double)g.total_bytes / 1048576.0, sizes[0], sizes[count / 2],
		sizes[count * 99 / 100], sizes[count - 1], g.n_multipart, g.n_attach, g.n_nonascii,
		g.n_reply);
	free(sizes);
	free(m.p);
	free(lf.p);
	return 0;
}
