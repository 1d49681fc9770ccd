/* SELECT and EXAMINE (RFC 3501 §6.3.1, §6.3.2), with the CONDSTORE and
 * QRESYNC select parameters (RFC 7162 §3.1.8, §3.2.5). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "fetch_parse.h"
#include "imap_cmd.h"
#include "imap_flags.h"
#include "log.h"
#include "mailbox_name.h"
#include "mailbox_view.h"
#include "pool.h"
#include "seqset.h"
#include "store.h"

struct select_ctx {
	struct imap_cmd *cmd;
	char *name;
	bool readonly;
	bool condstore; /* (CONDSTORE) */
	/* (QRESYNC (uidvalidity modseq [known-uids [seq-match-data]])) */
	bool qresync;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct seqset *known; /* NULL: every UID */
};

static void select_ok(struct select_ctx *x)
{
	imap_cmd_finish(x->cmd, IMAP_OK, "[%s] %s completed",
			x->readonly ? "READ-ONLY" : "READ-WRITE",
			x->readonly ? "EXAMINE" : "SELECT");
}

/* RFC 7162 §3.2.5.1: what changed since the client's modseq, after the
 * usual responses: the expunged UIDs it knows as VANISHED (EARLIER), then
 * the changed messages it knows as FETCH (UID FLAGS MODSEQ). */
static void qresync_loaded(void *arg, const struct store_since *c, const char *error)
{
	struct select_ctx *x = arg;
	struct imap_cmd *cmd = x->cmd;
	struct imap_session *s = cmd->s;
	struct mailbox_view *v = s->view;
	struct seqset *out;
	struct buf b;

	if (c == NULL) {
		/* A SELECT that fails leaves no mailbox selected. */
		mailbox_view_close(s, &s->view);
		s->state = IMAP_STATE_AUTH;
		imap_cmd_fail(cmd, error);
		return;
	}
	if (imap_session_gone(s) || v == NULL) {
		imap_cmd_finish(cmd, IMAP_NO, "Gone");
		return;
	}
	if (x->known == NULL) {
		x->known = seqset_create(cmd->pool);
		seqset_add_range(x->known, 1, UINT32_MAX);
	}
	out = seqset_create(cmd->pool);
	if (c->horizon > x->modseq) {
		/* The record of expunges since the modseq was pruned: every
		 * known UID that no longer exists (RFC 7162 §3.2.6, §5). */
		mailbox_view_missing(v, x->known, out);
	} else {
		for (uint32_t i = 0; i < c->nexpunged; i++)
			if (seqset_contains(x->known, c->expunged[i]) &&
			    mailbox_view_seq(v, c->expunged[i]) == 0)
				seqset_add_range(out, c->expunged[i], c->expunged[i]);
	}
	buf_init(&b, 0);
	(void)seqset_to_string(&b, out);
	if (b.len > 0)
		imap_untagged(s, "VANISHED (EARLIER) %s", b.data);
	for (uint32_t i = 0; i < c->nchanged; i++) {
		const struct store_change *ch = &c->changed[i];
		uint32_t seq = mailbox_view_seq(v, ch->uid);

		if (seq == 0 || !seqset_contains(x->known, ch->uid))
			continue;
		buf_reset(&b);
		(void)imap_flags_format(&b, ch->flags, ch->keywords,
					mailbox_view_is_recent(v, ch->uid));
		imap_untagged(s, "%u FETCH (UID %u FLAGS %s MODSEQ (%llu))", seq, ch->uid, b.data,
			      (unsigned long long)ch->modseq);
	}
	buf_free(&b);
	select_ok(x);
}

static void select_done(void *arg, int found, const struct store_selected *m, const char *error)
{
	struct select_ctx *x = arg;
	struct imap_cmd *cmd = x->cmd;
	struct imap_session *s = cmd->s;
	struct mailbox_view_init init;
	struct buf b;
	uint32_t unseen_seq = 0;

	if (found < 0) {
		imap_cmd_fail(cmd, error);
		return;
	}
	if (found == 0 || m->noselect) {
		imap_cmd_finish(cmd, IMAP_NO, "[NONEXISTENT] No such mailbox");
		return;
	}
	if (imap_session_gone(s)) {
		imap_cmd_finish(cmd, IMAP_NO, "Gone");
		return;
	}
	memset(&init, 0, sizeof(init));
	init.mailbox_id = m->mailbox_id;
	init.name = x->name;
	init.uidvalidity = m->uidvalidity;
	init.uidnext = m->uidnext;
	init.highestmodseq = m->highestmodseq;
	init.uids = m->uids;
	init.count = m->count;
	init.recent_from = x->readonly ? m->uidnext : m->recent_from;
	init.readonly = x->readonly;
	s->view = mailbox_view_create(s, &init);
	s->state = IMAP_STATE_SELECTED;
	if (x->condstore || x->qresync)
		imap_condstore_enable(s); /* RFC 7162 §3.1.8 */

	buf_init(&b, 0);
	(void)imap_flags_mailbox(&b, m->keywords);
	imap_untagged(s, "FLAGS %s", b.data);
	imap_untagged(s, "%u EXISTS", m->count);
	imap_untagged(s, "%u RECENT", mailbox_view_recent_count(s->view));
	if (m->first_unseen_uid != 0)
		unseen_seq = mailbox_view_seq(s->view, m->first_unseen_uid);
	if (unseen_seq != 0)
		imap_untagged(s, "OK [UNSEEN %u] First unseen", unseen_seq);
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", m->uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID", m->uidnext);
	/* RFC 7162 §3.1.2.1: every mailbox keeps mod-sequences. */
	imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest", (unsigned long long)m->highestmodseq);
	buf_reset(&b);
	(void)imap_flags_mailbox(&b, m->keywords);
	/* \* : clients may create keywords (RFC 3501 §7.1). */
	b.data[b.len - 1] = '\0';
	imap_untagged(s, "OK [PERMANENTFLAGS %s%s)] Limited", x->readonly ? "(" : b.data,
		      x->readonly ? "" : " \\*");
	buf_free(&b);
	/* A different UIDVALIDITY: the client's cache is void, and this is
	 * an ordinary SELECT (RFC 7162 §3.2.5). */
	if (x->qresync && x->uidvalidity == m->uidvalidity && x->modseq < m->highestmodseq) {
		const char *err;

		if (store_mailbox_since(worker_db(s->w), s->account_id, m->mailbox_id, x->modseq,
					m->highestmodseq, mailbox_view_max_uid(s->view), true, true,
					qresync_loaded, x, &err) < 0)
			qresync_loaded(x, NULL, err);
		return;
	}
	select_ok(x);
}

/* A known-uids or seq-match-data set: a sequence-set without '*' (RFC 7162
 * §7). NULL when invalid. */
static struct seqset *known_set(struct imap_cmd *cmd, const struct imap_arg *a)
{
	struct seqset *set;
	const char *err;

	if (a->type != IMAP_ARG_ATOM || strchr(a->str, '*') != NULL ||
	    seqset_parse(cmd->pool, a->str, &set, &err) < 0)
		return NULL;
	return set;
}

/* select-params (RFC 4466 §2.1): "(" CONDSTORE / QRESYNC (...) ")".
 * Returns 0, or -1 after answering BAD. */
static int parse_params(struct imap_cmd *cmd, const struct imap_arg *arg, struct select_ctx *x)
{
	struct imap_session *s = cmd->s;

	if (arg->type != IMAP_ARG_LIST || arg->list_count == 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "Invalid %s parameters", cmd->name);
		return -1;
	}
	for (unsigned i = 0; i < arg->list_count; i++) {
		const struct imap_arg *a = &arg->list[i], *q;
		uint64_t uv;

		if (a->type == IMAP_ARG_ATOM && strcasecmp(a->str, "CONDSTORE") == 0 &&
		    !x->condstore) {
			x->condstore = true;
			continue;
		}
		if (a->type != IMAP_ARG_ATOM || strcasecmp(a->str, "QRESYNC") != 0 || x->qresync) {
			imap_cmd_finish(cmd, IMAP_BAD, "Unknown or repeated %s parameter", cmd->name);
			return -1;
		}
		/* RFC 7162 §3.2.3: QRESYNC only after ENABLE QRESYNC. */
		if (!(s->enabled & IMAP_ENABLE_QRESYNC)) {
			imap_cmd_finish(cmd, IMAP_BAD, "QRESYNC needs ENABLE QRESYNC first");
			return -1;
		}
		x->qresync = true;
		q = ++i < arg->list_count ? &arg->list[i] : NULL;
		if (q == NULL || q->type != IMAP_ARG_LIST || q->list_count < 2 ||
		    q->list_count > 4 || q->list[0].type != IMAP_ARG_ATOM ||
		    q->list[1].type != IMAP_ARG_ATOM ||
		    fetch_parse_modseq(q->list[0].str, false, &uv) < 0 || uv > UINT32_MAX ||
		    fetch_parse_modseq(q->list[1].str, false, &x->modseq) < 0) {
			imap_cmd_finish(cmd, IMAP_BAD,
					"QRESYNC needs (uidvalidity modseq [known-uids [seq-match-data]])");
			return -1;
		}
		x->uidvalidity = (uint32_t)uv;
		if (q->list_count >= 3 && q->list[2].type == IMAP_ARG_ATOM) {
			if ((x->known = known_set(cmd, &q->list[2])) == NULL) {
				imap_cmd_finish(cmd, IMAP_BAD, "Invalid QRESYNC known-uids");
				return -1;
			}
		} else if (q->list_count == 4) {
			imap_cmd_finish(cmd, IMAP_BAD, "Invalid QRESYNC known-uids");
			return -1;
		}
		if (q->list_count == 4 || (q->list_count == 3 && q->list[2].type == IMAP_ARG_LIST)) {
			/* seq-match-data: checked, not used: with every
			 * expunge kept (schema/0011) the exact answer is
			 * cheaper than narrowing it (RFC 7162 §3.2.5.2 lets
			 * the server ignore it). */
			const struct imap_arg *m = &q->list[q->list_count - 1];
			if (m->type != IMAP_ARG_LIST || m->list_count != 2 ||
			    known_set(cmd, &m->list[0]) == NULL ||
			    known_set(cmd, &m->list[1]) == NULL) {
				imap_cmd_finish(cmd, IMAP_BAD, "Invalid QRESYNC seq-match-data");
				return -1;
			}
		}
	}
	return 0;
}

static void do_select(struct imap_cmd *cmd, bool readonly)
{
	struct imap_session *s = cmd->s;
	struct select_ctx *x;
	const char *err;

	if (cmd->argc != 1 && cmd->argc != 2) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s needs one mailbox name", cmd->name);
		return;
	}
	x = pool_alloc(cmd->pool, sizeof(*x));
	x->cmd = cmd;
	x->readonly = readonly;
	if (mailbox_name_from_arg(cmd->pool, &cmd->args[0], &x->name, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (cmd->argc == 2 && parse_params(cmd, &cmd->args[1], x) < 0)
		return;
	/* RFC 3501 §6.3.1: a SELECT deselects the current mailbox first, even
	 * when it then fails. With QRESYNC, [CLOSED] marks where the old
	 * mailbox's responses end (RFC 7162 §3.2.11). */
	if (s->view != NULL) {
		mailbox_view_close(s, &s->view);
		s->state = IMAP_STATE_AUTH;
		if (s->enabled & IMAP_ENABLE_QRESYNC)
			imap_untagged(s, "OK [CLOSED] Previous mailbox closed");
	}
	if (store_mailbox_select(worker_db(s->w), s->account_id, x->name, !readonly, select_done,
				 x, &err) < 0)
		imap_cmd_fail(cmd, err);
}

void cmd_select(struct imap_cmd *cmd)
{
	do_select(cmd, false);
}

void cmd_examine(struct imap_cmd *cmd)
{
	do_select(cmd, true);
}
