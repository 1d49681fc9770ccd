/* APPEND (RFC 3501 §6.3.11) and MULTIAPPEND (RFC 3502), with APPENDUID
 * (RFC 4315) and the limit APPENDLIMIT advertises (RFC 7889).
 *
 * Each message arrives whole as a literal (bounded by max_message_size in
 * the wire parser, which answers a larger one with NO [TOOBIG] before the
 * client sends it; the literals of one command together by
 * 4 x max_message_size, see imap_session.c). They are parsed once
 * (message_ingest: ENVELOPE, BODYSTRUCTURE, partmap, search fields,
 * SHA-256): inline when small, on the worker's thread pool when big, so
 * that a 50 MB message does not stall every other session of the worker.
 * Then one store call, one transaction for all of them (all or nothing);
 * the tagged OK is sent after the commit. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "imap_cmd.h"
#include "imap_flags.h"
#include "log.h"
#include "mailbox_name.h"
#include "mailbox_view.h"
#include "message_ingest.h"
#include "pool.h"
#include "store.h"
#include "store_append.h"
#include "workqueue.h"

/* Messages above this (in total) are parsed in a workqueue thread.
 * Measured (one core, -O2): about 1 ms of CPU per MiB of plain text
 * (mostly SHA-256), about 9 ms per MiB of base64 attachments (their decoded
 * size is computed), 30-60 us for a typical small message. Below this size
 * the parse costs at most ~2 ms, less than the loop would lose to a job's
 * hand-off and wake-up. */
#define APPEND_INLINE_MAX (256 * 1024)

/* Keywords one mailbox may list, as for STORE (its FLAGS response stays
 * bounded). */
#define APPEND_MAX_MAILBOX_KEYWORDS 256

/* Messages one MULTIAPPEND may carry: bounds the work of one transaction
 * (and its row locks) whatever their sizes. More is NO [LIMIT]: the client
 * can split them over several APPENDs. */
#define APPEND_MAX_MESSAGES 1000

struct append_msg {
	uint32_t flags;
	const char **keywords;
	unsigned nkeywords;
	bool has_date;
	time_t date;
	const unsigned char *data; /* the literal, owned by the parser */
	size_t len;
	struct message_ingest msg; /* filled by ingest */
};

struct append_ctx {
	struct imap_cmd *cmd;
	char *mailbox;
	struct append_msg *msgs;
	unsigned n;
	size_t total; /* octets of all messages */
	/* Filled by ingest (possibly in a pool thread). */
	struct pool *jpool;
	bool has_nul;
	int ingest_ret;
	const char *ingest_err;
};

/* -- date-time (RFC 3501 §9) ------------------------------------------------ */

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, unsigned n, unsigned *v_r)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*v_r = v;
	return true;
}

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP
 * zone DQUOTE, e.g. "17-Jul-1996 02:44:25 -0700" (the quotes are gone by
 * now). The day is two characters (" 7" or "07"); a single digit is
 * accepted too, as some clients send it. Returns 0 with the instant, or
 * -1 for anything else, including dates that do not exist. */
static int parse_date_time(const char *s, size_t len, time_t *t_r)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned day, mon = 0, year, hh, mm, ss, zh, zm;
	int64_t t;
	bool leap;

	if (len == 25) { /* "7-Jul-..." */
		if (!digits(s, 1, &day))
			return -1;
		s += 1;
	} else if (len == 26) {
		if (!(s[0] == ' ' ? digits(s + 1, 1, &day) : digits(s, 2, &day)))
			return -1;
		s += 2;
	} else {
		return -1;
	}
	if (s[0] != '-' || s[4] != '-')
		return -1;
	for (mon = 0; mon < 12; mon++)
		if (strncasecmp(s + 1, months[mon], 3) == 0)
			break;
	if (mon == 12 || !digits(s + 5, 4, &year) || s[9] != ' ' || !digits(s + 10, 2, &hh) ||
	    s[12] != ':' || !digits(s + 13, 2, &mm) || s[15] != ':' || !digits(s + 16, 2, &ss) ||
	    s[18] != ' ' || (s[19] != '+' && s[19] != '-') || !digits(s + 20, 2, &zh) ||
	    !digits(s + 22, 2, &zm))
		return -1;
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (year < 1000 || day < 1 || day > mdays[mon] || (mon == 1 && day == 29 && !leap) ||
	    hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59)
		return -1;
	t = days_from_civil(year, mon + 1, day) * 86400 + hh * 3600 + mm * 60 + ss;
	t -= (s[19] == '+' ? 1 : -1) * (int64_t)(zh * 3600 + zm * 60);
	*t_r = (time_t)t;
	return 0;
}

/* -- store ------------------------------------------------------------------ */

static void append_done(void *ctx, const struct store_append_result *r, const char *reason,
                        const char *error)
{
	struct append_ctx *x = ctx;
	struct imap_cmd *cmd = x->cmd;
	struct imap_session *s = cmd->s;
	struct buf b;

	if (r == NULL) {
		if (reason != NULL && strcmp(reason, STORE_APPEND_NOT_FOUND) == 0)
			imap_cmd_finish(cmd, IMAP_NO, "[TRYCREATE] Mailbox does not exist");
		else if (reason != NULL && strcmp(reason, STORE_APPEND_NOSELECT) == 0)
			/* A \Noselect placeholder: CREATE makes it a real
			 * mailbox, so TRYCREATE is the right hint
			 * (RFC 3501 §6.3.11). */
			imap_cmd_finish(cmd, IMAP_NO,
			                "[TRYCREATE] Mailbox cannot hold messages (\\Noselect)");
		else if (reason != NULL && strcmp(reason, STORE_APPEND_OVER_QUOTA) == 0)
			imap_cmd_finish(cmd, IMAP_NO, "[OVERQUOTA] Quota exceeded");
		else if (reason != NULL && strcmp(reason, STORE_APPEND_LIMIT) == 0)
			imap_cmd_finish(cmd, IMAP_NO, "[LIMIT] Mailbox cannot take this message");
		else
			imap_cmd_fail(cmd, error);
		return;
	}
	/* Committed: tell every session, whether or not this client is still
	 * there. A new message in the selected mailbox is reported by the
	 * sync before the tagged OK (EXISTS). */
	imap_session_publish_change(s, r->mailbox_id);
	if (imap_session_gone(s)) {
		imap_cmd_finish(cmd, IMAP_OK, "Gone");
		return;
	}
	if (r->mailbox_keywords != NULL && s->view != NULL &&
	    mailbox_view_id(s->view) == r->mailbox_id) {
		/* New keywords in the selected mailbox: its FLAGS changed
		 * (RFC 3501 §7.2.6). */
		buf_init(&b, 0);
		(void)imap_flags_mailbox(&b, r->mailbox_keywords);
		imap_untagged(s, "FLAGS %s", b.data);
		if (!mailbox_view_readonly(s->view)) {
			b.data[b.len - 1] = '\0';
			imap_untagged(s, "OK [PERMANENTFLAGS %s \\*)] Flags permitted", b.data);
		}
		buf_free(&b);
	}
	/* What changed in the selected mailbox (this append included), read
	 * in the append's own transaction. */
	mailbox_view_sync_apply(s, cmd, r->changes);
	/* RFC 4315 §3: the UIDs the messages got, in the order sent (one
	 * range for a MULTIAPPEND: they are consecutive). */
	if (r->count > 1)
		imap_cmd_finish(cmd, IMAP_OK, "[APPENDUID %u %u:%u] APPEND completed",
		                r->uidvalidity, r->first_uid, r->first_uid + (r->count - 1));
	else
		imap_cmd_finish(cmd, IMAP_OK, "[APPENDUID %u %u] APPEND completed", r->uidvalidity,
		                r->first_uid);
}

/* The messages are parsed: check and store them. */
static void append_store(struct append_ctx *x)
{
	struct imap_cmd *cmd = x->cmd;
	struct imap_session *s = cmd->s;
	struct store_append_msg *msgs;
	struct store_append_req req;
	struct store_sync sync;
	const char *err;
	int ret;

	if (imap_session_gone(s)) {
		pool_destroy(&x->jpool);
		imap_cmd_finish(cmd, IMAP_NO, "Gone");
		return;
	}
	if (x->has_nul) {
		/* A literal is CHAR8: no NUL (RFC 3501 §9), and FETCH could
		 * not send the message back as it was received. */
		pool_destroy(&x->jpool);
		imap_cmd_finish(cmd, IMAP_BAD, "Message contains NUL octets");
		return;
	}
	if (x->ingest_ret < 0) {
		pool_destroy(&x->jpool);
		imap_cmd_fail(cmd, x->ingest_err);
		return;
	}
	msgs = pool_alloc(cmd->pool, x->n * sizeof(*msgs));
	for (unsigned i = 0; i < x->n; i++) {
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].flags = x->msgs[i].flags;
		msgs[i].keywords = x->msgs[i].keywords;
		msgs[i].nkeywords = x->msgs[i].nkeywords;
		msgs[i].has_internaldate = x->msgs[i].has_date;
		msgs[i].internaldate = x->msgs[i].date;
		msgs[i].msg = &x->msgs[i].msg;
	}
	memset(&req, 0, sizeof(req));
	req.account_id = s->account_id;
	req.mailbox = x->mailbox;
	req.msgs = msgs;
	req.nmsgs = x->n;
	req.max_mailbox_keywords = APPEND_MAX_MAILBOX_KEYWORDS;
	/* Into the selected mailbox: the pre-reply sync rides in the same
	 * request (its transaction already holds that mailbox's row; for
	 * another mailbox it would lock a second row out of the id order
	 * every other writer keeps, so the sync runs on its own). */
	if (s->view != NULL && strcmp(mailbox_view_name(s->view), x->mailbox) == 0 &&
	    mailbox_view_sync_args(s, &sync))
		req.sync = &sync;
	ret = store_append(worker_db(s->w), &req, append_done, x, &err);
	/* The request holds its own copy of everything. */
	pool_destroy(&x->jpool);
	if (ret < 0)
		imap_cmd_fail(cmd, err);
}

/* Runs inline or in a pool thread: touches only x's inputs and results. */
static void append_ingest(void *arg)
{
	struct append_ctx *x = arg;

	for (unsigned i = 0; i < x->n; i++) {
		if (memchr(x->msgs[i].data, '\0', x->msgs[i].len) != NULL) {
			x->has_nul = true;
			return;
		}
	}
	for (unsigned i = 0; i < x->n && x->ingest_ret == 0; i++)
		x->ingest_ret = message_ingest(x->jpool, x->msgs[i].data, x->msgs[i].len,
		                               &x->msgs[i].msg, &x->ingest_err);
}

static void append_ingest_done(void *arg, bool cancelled)
{
	struct append_ctx *x = arg;
	struct imap_cmd *cmd = x->cmd;

	imap_session_unref(cmd->s); /* the command still holds the session */
	if (cancelled) {
		pool_destroy(&x->jpool);
		imap_cmd_finish(cmd, IMAP_NO, "[UNAVAILABLE] Server shutting down");
		return;
	}
	append_store(x);
}

/* append = "APPEND" SP mailbox 1*append-message (RFC 3502 §6), where
 * append-message = [SP flag-list] [SP date-time] SP literal. Every message
 * is checked before anything is stored. */
void cmd_append(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct append_ctx *x;
	unsigned i = 1, nlit = 0;
	const char *err;

	if (cmd->argc < 2) {
		imap_cmd_finish(cmd, IMAP_BAD,
		                "APPEND needs a mailbox, [flags], [date] and a message");
		return;
	}
	x = pool_alloc(cmd->pool, sizeof(*x));
	memset(x, 0, sizeof(*x));
	x->cmd = cmd;
	if (mailbox_name_from_arg(cmd->pool, &cmd->args[0], &x->mailbox, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	/* One entry per literal, and one for trailing arguments that turn
	 * out to be no message (BAD). */
	for (unsigned j = 1; j < cmd->argc; j++)
		nlit += cmd->args[j].type == IMAP_ARG_LITERAL;
	x->msgs = pool_alloc(cmd->pool, (nlit + 1) * sizeof(*x->msgs));
	while (i < cmd->argc) {
		struct append_msg *m = &x->msgs[x->n];
		const struct imap_arg *lit;

		memset(m, 0, sizeof(*m));
		if (cmd->args[i].type == IMAP_ARG_LIST) {
			if (imap_flags_parse(cmd->pool, &cmd->args[i], false, &m->flags,
			                     &m->keywords, &m->nkeywords, &err) < 0) {
				imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
				return;
			}
			i++;
		}
		if (i < cmd->argc && cmd->args[i].type == IMAP_ARG_QUOTED) {
			if (parse_date_time(cmd->args[i].str, cmd->args[i].len, &m->date) < 0) {
				imap_cmd_finish(cmd, IMAP_BAD, "Invalid date-time");
				return;
			}
			m->has_date = true;
			i++;
		}
		lit = i < cmd->argc ? &cmd->args[i] : NULL;
		if (lit == NULL || lit->type != IMAP_ARG_LITERAL) {
			imap_cmd_finish(cmd, IMAP_BAD, "APPEND needs the message as a literal");
			return;
		}
		if (lit->literal8) {
			/* RFC 3516 literal8 needs the BINARY capability. */
			imap_cmd_finish(cmd, IMAP_BAD, "literal8 is not supported");
			return;
		}
		if (lit->len > worker_config(s->w)->max_message_size) {
			/* The APPENDLIMIT we advertise (RFC 7889 §4). Only a
			 * {n+} literal gets here (max_nonsync_literal may be
			 * larger): the parser refuses a larger {n} before the
			 * client sends it. */
			imap_cmd_finish(cmd, IMAP_NO, "[TOOBIG] Message larger than APPENDLIMIT");
			return;
		}
		m->data = (const unsigned char *)lit->str;
		m->len = lit->len;
		x->total += lit->len;
		x->n++;
		i++;
	}
	for (unsigned j = 0; j < x->n; j++) {
		if (x->msgs[j].len == 0) {
			/* An empty message has no header: nothing a client
			 * could display or fetch meaningfully. */
			imap_cmd_finish(cmd, IMAP_NO, "[CANNOT] Refusing to save an empty message");
			return;
		}
	}
	if (x->n > APPEND_MAX_MESSAGES) {
		imap_cmd_finish(cmd, IMAP_NO, "[LIMIT] At most %u messages in one APPEND",
		                APPEND_MAX_MESSAGES);
		return;
	}
	x->jpool = pool_create(64 * 1024);
	if (x->total <= APPEND_INLINE_MAX) {
		append_ingest(x);
		append_store(x);
		return;
	}
	imap_session_ref(s);
	if (workqueue_submit(worker_workqueue(s->w), append_ingest, append_ingest_done, x) < 0) {
		imap_session_unref(s);
		pool_destroy(&x->jpool);
		LOG(WARN, s_log(s), "APPEND: parse queue full");
		imap_cmd_finish(cmd, IMAP_NO, "[UNAVAILABLE] Server busy, try again later");
	}
}
