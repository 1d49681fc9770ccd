/* Commands that change the messages of the selected mailbox (RFC 3501 §6.4):
 * CHECK, CLOSE, EXPUNGE, STORE, COPY, MOVE (RFC 6851) (and their UID forms,
 * UID EXPUNGE from RFC 4315). Each mutation is one store call (one
 * transaction); the tagged OK is sent from its callback, after the commit. */
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
#include "store_messages.h"

#define READ_ONLY_TEXT "[READ-ONLY] Mailbox is read-only"

/* Parses a sequence-set argument and resolves it against the view (cmd->uid
 * selects UID mode). On a client error answers BAD and returns -1. */
static int resolve_set(struct imap_cmd *cmd, const struct imap_arg *arg, uint32_t **uids_r,
		       uint32_t *n_r)
{
	struct seqset *set;
	const char *err;

	if (arg->type != IMAP_ARG_ATOM) {
		imap_cmd_finish(cmd, IMAP_BAD, "Invalid sequence set");
		return -1;
	}
	if (seqset_parse(cmd->pool, arg->str, &set, &err) < 0 ||
	    mailbox_view_resolve(cmd->s->view, set, cmd->uid, cmd->pool, uids_r, n_r, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return -1;
	}
	return 0;
}

/* -- CHECK (§6.4.1) -------------------------------------------------------- */

void cmd_check(struct imap_cmd *cmd)
{
	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "CHECK takes no arguments");
		return;
	}
	/* Every change is committed when its command completes: nothing to
	 * checkpoint. The sync before the reply reports pending changes. */
	imap_cmd_finish(cmd, IMAP_OK, "CHECK completed");
}

/* -- EXPUNGE (§6.4.3) and CLOSE (§6.4.2) ------------------------------------ */

static void expunge_synced(void *arg)
{
	struct imap_cmd *cmd = arg;
	struct imap_session *s = cmd->s;

	if (s->view == NULL || imap_session_gone(s))
		imap_cmd_finish(cmd, IMAP_OK, "EXPUNGE completed");
	else
		imap_cmd_finish(cmd, IMAP_OK, "[HIGHESTMODSEQ %llu] EXPUNGE completed",
				(unsigned long long)mailbox_view_modseq(s->view));
}

static void expunge_done(void *ctx, const uint32_t *uids, uint32_t n,
			 const struct store_changes *changes, const char *reason, const char *error)
{
	struct imap_cmd *cmd = ctx;
	struct imap_session *s = cmd->s;

	if (uids == NULL) {
		if (reason == NULL || strcmp(reason, STORE_REASON_NOT_FOUND) != 0) {
			imap_cmd_fail(cmd, error);
		} else if (strcmp(cmd->name, "CLOSE") == 0) {
			/* Deleted meanwhile: closing it is all there is to do. */
			mailbox_view_close(s, &s->view);
			s->state = IMAP_STATE_AUTH;
			imap_cmd_finish(cmd, IMAP_OK, "CLOSE completed");
		} else {
			imap_cmd_finish(cmd, IMAP_NO, "[NONEXISTENT] Mailbox has been deleted");
		}
		return;
	}
	/* Committed: tell the other sessions, whether or not this client is
	 * still there. */
	if (n > 0)
		imap_session_publish_change(s, mailbox_view_id(s->view));
	if (imap_session_gone(s)) {
		imap_cmd_finish(cmd, IMAP_OK, "Gone");
		return;
	}
	if (strcmp(cmd->name, "CLOSE") == 0) {
		/* No untagged EXPUNGE (§6.4.2), and none about the mailbox at
		 * all: with the view closed, no sync runs before the reply. */
		mailbox_view_close(s, &s->view);
		s->state = IMAP_STATE_AUTH;
		imap_cmd_finish(cmd, IMAP_OK, "CLOSE completed");
		return;
	}
	/* Ascending UIDs: the view shifts the sequence numbers as it goes. */
	mailbox_view_expunged(s, uids, n);
	/* Then what others changed, read in the expunge's own transaction. */
	mailbox_view_sync_apply(s, cmd, changes);
	if (n > 0 && (s->enabled & IMAP_ENABLE_QRESYNC)) {
		/* RFC 7162 §3.2.7, §3.2.9: the new HIGHESTMODSEQ goes in the
		 * tagged OK; a sync first, so that every change up to it
		 * has been reported. */
		if (mailbox_view_fresh(s))
			expunge_synced(cmd);
		else
			mailbox_view_sync(s, cmd, expunge_synced, cmd);
		return;
	}
	imap_cmd_finish(cmd, IMAP_OK, "EXPUNGE completed");
}

/* uids NULL: every \Deleted message; else only those among uids. */
static void start_expunge(struct imap_cmd *cmd, const uint32_t *uids, uint32_t n)
{
	struct imap_session *s = cmd->s;
	struct store_sync sync;
	bool with_sync;
	const char *err;

	/* The pre-reply sync rides in the same request, after the expunge
	 * (CLOSE reports nothing: its view goes away). */
	with_sync = strcmp(cmd->name, "CLOSE") != 0 && mailbox_view_sync_args(s, &sync);
	if (store_messages_expunge(worker_db(s->w), s->account_id, mailbox_view_id(s->view), uids,
				   n, with_sync ? &sync : NULL, expunge_done, cmd, &err) < 0)
		imap_cmd_fail(cmd, err);
}

void cmd_expunge(struct imap_cmd *cmd)
{
	uint32_t *uids = NULL, n = 0;

	if (cmd->argc != (cmd->uid ? 1u : 0u)) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s",
				cmd->uid ? "UID EXPUNGE needs a UID set"
					 : "EXPUNGE takes no arguments");
		return;
	}
	/* UID EXPUNGE (RFC 4315 §2.1): only the \Deleted messages among
	 * these UIDs; UIDs the session does not know are ignored. */
	if (cmd->uid && resolve_set(cmd, &cmd->args[0], &uids, &n) < 0)
		return;
	if (mailbox_view_readonly(cmd->s->view)) {
		imap_cmd_finish(cmd, IMAP_NO, READ_ONLY_TEXT);
		return;
	}
	if (cmd->uid && n == 0) {
		imap_cmd_finish(cmd, IMAP_OK, "EXPUNGE completed");
		return;
	}
	start_expunge(cmd, uids, n);
}

void cmd_close(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "CLOSE takes no arguments");
		return;
	}
	if (mailbox_view_readonly(s->view)) {
		/* §6.4.2: nothing is expunged from a mailbox opened by
		 * EXAMINE. */
		mailbox_view_close(s, &s->view);
		s->state = IMAP_STATE_AUTH;
		imap_cmd_finish(cmd, IMAP_OK, "CLOSE completed");
		return;
	}
	/* On a database failure the mailbox stays selected and the reply is
	 * NO: nothing was expunged, and the client may try again. */
	start_expunge(cmd, NULL, 0);
}

/* -- STORE (§6.4.6) --------------------------------------------------------- */

struct store_ctx {
	struct imap_cmd *cmd;
	bool silent;
	bool conditional;     /* UNCHANGEDSINCE (RFC 7162 §3.1.3) */
	const uint32_t *uids; /* the messages addressed, ascending */
	uint32_t nuids;
};

/* The row of uid in r, or NULL when the message was not there any more. */
static const struct store_flags_row *store_row(const struct store_flags_result *r, uint32_t uid)
{
	/* Two ascending runs: the rows considered, then those that failed. */
	for (int failed = 0; failed < 2; failed++) {
		uint32_t lo = 0, hi = r->nrows;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			const struct store_flags_row *row = &r->rows[mid];
			if (row->failed != (failed != 0)) {
				if (failed)
					lo = mid + 1;
				else
					hi = mid;
			} else if (row->uid == uid) {
				return row;
			} else if (row->uid < uid) {
				lo = mid + 1;
			} else {
				hi = mid;
			}
		}
	}
	return NULL;
}

static void store_done(void *ctx, const struct store_flags_result *r, const char *reason,
		       const char *error)
{
	struct store_ctx *x = ctx;
	struct imap_cmd *cmd = x->cmd;
	struct imap_session *s = cmd->s;
	struct mailbox_view *v = s->view;
	bool condstore = (s->enabled & IMAP_ENABLE_CONDSTORE) != 0;
	struct seqset *modified;
	struct buf b;

	if (r == NULL) {
		if (reason != NULL && strcmp(reason, STORE_REASON_LIMIT) == 0)
			imap_cmd_finish(cmd, IMAP_NO, "[LIMIT] Too many keywords");
		else if (reason != NULL && strcmp(reason, STORE_REASON_NOT_FOUND) == 0)
			imap_cmd_finish(cmd, IMAP_NO, "[NONEXISTENT] Mailbox has been deleted");
		else
			imap_cmd_fail(cmd, error);
		return;
	}
	if (r->modseq != 0) {
		imap_session_publish_change(s, mailbox_view_id(v));
		/* Reported here (or silenced): the sync skips these rows. */
		mailbox_view_own_modseq(v, r->modseq);
	}
	if (imap_session_gone(s)) {
		imap_cmd_finish(cmd, IMAP_OK, "Gone");
		return;
	}
	buf_init(&b, 0);
	if (r->mailbox_keywords != NULL) {
		/* A keyword new to the mailbox: the client learns the new
		 * list as after SELECT (RFC 3501 §7.2.6, §7.1). */
		(void)imap_flags_mailbox(&b, r->mailbox_keywords);
		imap_untagged(s, "FLAGS %s", b.data);
		b.data[b.len - 1] = '\0';
		imap_untagged(s, "OK [PERMANENTFLAGS %s \\*)] Flags permitted", b.data);
	}
	for (uint32_t i = 0; i < r->nrows; i++) {
		const struct store_flags_row *row = &r->rows[i];
		bool ours = r->modseq != 0 && row->modseq == r->modseq;
		uint32_t seq;

		if (row->failed)
			continue; /* in [MODIFIED] below */
		seq = mailbox_view_seq(v, row->uid);
		if (seq == 0)
			continue;
		/* .SILENT still reports what another session changed in
		 * these messages meanwhile: the client would otherwise
		 * assume its own result. With CONDSTORE the client learns
		 * the new mod-sequence of what it changed, and after
		 * UNCHANGEDSINCE of every message that passed (RFC 7162
		 * §3.1.3: even with .SILENT). */
		if (x->silent && !row->changed_elsewhere) {
			if (condstore && (ours || x->conditional))
				imap_untagged(s, "%u FETCH (UID %u MODSEQ (%llu))", seq, row->uid,
					      (unsigned long long)row->modseq);
			continue;
		}
		buf_reset(&b);
		(void)imap_flags_format(&b, row->flags, row->keywords,
					mailbox_view_is_recent(v, row->uid));
		/* §6.4.8: responses to a UID command carry the UID; with
		 * CONDSTORE every one does, with its MODSEQ (RFC 7162
		 * §3.1, §3.2.4). */
		if (condstore)
			imap_untagged(s, "%u FETCH (UID %u FLAGS %s MODSEQ (%llu))", seq, row->uid,
				      b.data, (unsigned long long)row->modseq);
		else if (cmd->uid)
			imap_untagged(s, "%u FETCH (UID %u FLAGS %s)", seq, row->uid, b.data);
		else
			imap_untagged(s, "%u FETCH (FLAGS %s)", seq, b.data);
	}
	/* RFC 7162 §3.1.3: the messages not stored because they changed
	 * after UNCHANGEDSINCE (or are gone), as sequence numbers or UIDs. */
	modified = seqset_create(cmd->pool);
	for (uint32_t i = 0; x->conditional && i < x->nuids; i++) {
		const struct store_flags_row *row = store_row(r, x->uids[i]);
		uint32_t n = cmd->uid ? x->uids[i] : mailbox_view_seq(v, x->uids[i]);

		if ((row == NULL || row->failed) && n != 0)
			seqset_add_range(modified, n, n);
	}
	buf_reset(&b);
	(void)seqset_to_string(&b, modified);
	/* What others changed, read in the STORE's own transaction, after
	 * this command's responses (as the sync before the reply would). */
	mailbox_view_sync_apply(s, cmd, r->changes);
	if (b.len > 0) {
		char *set = pool_strdup(cmd->pool, b.data);
		buf_free(&b);
		imap_cmd_finish(cmd, IMAP_OK, "[MODIFIED %s] Conditional STORE failed", set);
		return;
	}
	buf_free(&b);
	imap_cmd_finish(cmd, IMAP_OK, "STORE completed");
}

/* store-modifiers (RFC 4466 §2.5): "(UNCHANGEDSINCE n)" (RFC 7162 §3.1.3,
 * mod-sequence-valzer). Returns 0, or -1 after answering BAD. */
static int parse_store_modifiers(struct imap_cmd *cmd, const struct imap_arg *arg,
				 struct store_flags_req *req)
{
	for (unsigned i = 0; i < arg->list_count; i++) {
		const struct imap_arg *a = &arg->list[i];

		if (a->type != IMAP_ARG_ATOM || strcasecmp(a->str, "UNCHANGEDSINCE") != 0 ||
		    req->has_unchangedsince) {
			imap_cmd_finish(cmd, IMAP_BAD, "Unknown or repeated STORE modifier");
			return -1;
		}
		if (++i == arg->list_count || arg->list[i].type != IMAP_ARG_ATOM ||
		    fetch_parse_modseq(arg->list[i].str, true, &req->unchangedsince) < 0) {
			imap_cmd_finish(cmd, IMAP_BAD, "UNCHANGEDSINCE needs a mod-sequence");
			return -1;
		}
		req->has_unchangedsince = true;
	}
	if (arg->list_count == 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "Empty STORE modifier list");
		return -1;
	}
	return 0;
}

/* Parses "[+|-]FLAGS[.SILENT]". Returns 0 or -1. */
static int parse_store_item(const struct imap_arg *a, enum store_flags_mode *mode_r,
			    bool *silent_r)
{
	const char *p;

	if (a->type != IMAP_ARG_ATOM)
		return -1;
	p = a->str;
	*mode_r = STORE_FLAGS_REPLACE;
	if (*p == '+' || *p == '-') {
		*mode_r = *p == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		p++;
	}
	if (strncasecmp(p, "FLAGS", 5) != 0)
		return -1;
	p += 5;
	*silent_r = strcasecmp(p, ".SILENT") == 0;
	return *silent_r || *p == '\0' ? 0 : -1;
}

void cmd_store(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct store_flags_req req;
	struct store_sync sync;
	struct store_ctx *x;
	struct imap_arg list;
	const struct imap_arg *flags_arg;
	const char **keywords;
	uint32_t *uids, n;
	const char *err;
	unsigned item = 1; /* after the modifiers, if any */

	memset(&req, 0, sizeof(req));
	if (cmd->argc >= 2 && cmd->args[1].type == IMAP_ARG_LIST) {
		if (parse_store_modifiers(cmd, &cmd->args[1], &req) < 0)
			return;
		item = 2;
	}
	if (cmd->argc < item + 2) {
		imap_cmd_finish(cmd, IMAP_BAD, "STORE needs a sequence set, an item and flags");
		return;
	}
	x = pool_alloc(cmd->pool, sizeof(*x));
	x->cmd = cmd;
	if (parse_store_item(&cmd->args[item], &req.mode, &x->silent) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "Invalid STORE item");
		return;
	}
	/* store-att-flags: a flag list, or flags separated by spaces
	 * (RFC 3501 §9); the latter is read as one list. */
	flags_arg = &cmd->args[item + 1];
	if (cmd->argc > item + 2 || cmd->args[item + 1].type != IMAP_ARG_LIST) {
		memset(&list, 0, sizeof(list));
		list.type = IMAP_ARG_LIST;
		list.list = (struct imap_arg *)&cmd->args[item + 1]; /* only read */
		list.list_count = cmd->argc - item - 1;
		flags_arg = &list;
	}
	if (imap_flags_parse(cmd->pool, flags_arg, false, &req.flags, &keywords, &req.nkeywords,
			     &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (mailbox_view_readonly(s->view)) {
		imap_cmd_finish(cmd, IMAP_NO, READ_ONLY_TEXT);
		return;
	}
	if (resolve_set(cmd, &cmd->args[0], &uids, &n) < 0)
		return;
	if (req.has_unchangedsince)
		imap_condstore_enable(s); /* RFC 7162 §3.1 */
	if (n == 0) {
		imap_cmd_finish(cmd, IMAP_OK, "STORE completed");
		return;
	}
	x->conditional = req.has_unchangedsince;
	x->uids = uids;
	x->nuids = n;
	req.account_id = s->account_id;
	req.mailbox_id = mailbox_view_id(s->view);
	req.uids = uids;
	req.nuids = n;
	req.keywords = keywords;
	req.since_modseq = mailbox_view_modseq(s->view);
	req.max_message_keywords = IMAP_MAX_KEYWORDS;
	/* The pre-reply sync rides in the same request, after the change. */
	if (mailbox_view_sync_args(s, &sync))
		req.sync = &sync;
	if (store_messages_flags(worker_db(s->w), &req, store_done, x, &err) < 0)
		imap_cmd_fail(cmd, err);
}

/* -- COPY (§6.4.7) and MOVE (RFC 6851) -------------------------------------- */

/* Appends ascending uids as a uid-set, runs of consecutive UIDs as ranges
 * ("3:5,9"). */
static void append_uid_set(struct buf *b, const uint32_t *uids, uint32_t n)
{
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (j > i)
			(void)buf_printf(b, "%s%u:%u", i ? "," : "", uids[i], uids[j]);
		else
			(void)buf_printf(b, "%s%u", i ? "," : "", uids[i]);
		i = j + 1;
	}
}

/* "COPYUID <uidvalidity> <source set> <target set>" (RFC 4315 §3): the n-th
 * UID of one set maps to the n-th of the other. The store gives both in
 * ascending source order and the target UIDs ascend with them, so each set
 * can be compressed on its own. The buffer is unlimited. */
static void format_copyuid(struct buf *b, const struct store_copy_result *r)
{
	(void)buf_printf(b, "COPYUID %u ", r->dst_uidvalidity);
	append_uid_set(b, r->src_uids, r->n);
	(void)buf_append(b, " ", 1);
	append_uid_set(b, r->dst_uids, r->n);
}

/* A failure of COPY or MOVE (r was NULL). */
static void copy_failed(struct imap_cmd *cmd, const char *reason, const char *error)
{
	if (reason != NULL && strcmp(reason, STORE_REASON_NOT_FOUND) == 0)
		imap_cmd_finish(cmd, IMAP_NO, "[TRYCREATE] Mailbox does not exist");
	else if (reason != NULL && strcmp(reason, STORE_REASON_OVER_QUOTA) == 0)
		imap_cmd_finish(cmd, IMAP_NO, "[OVERQUOTA] Quota exceeded");
	else if (reason != NULL && strcmp(reason, STORE_REASON_LIMIT) == 0)
		imap_cmd_finish(cmd, IMAP_NO, "[LIMIT] Target mailbox cannot take these messages");
	else
		imap_cmd_fail(cmd, error);
}

static void copy_done(void *ctx, const struct store_copy_result *r, const char *reason,
		      const char *error)
{
	struct imap_cmd *cmd = ctx;
	struct buf b;

	if (r == NULL) {
		copy_failed(cmd, reason, error);
		return;
	}
	if (r->n == 0) {
		/* Nothing copied (the messages were expunged meanwhile): no
		 * COPYUID, whose sets cannot be empty. */
		imap_cmd_finish(cmd, IMAP_OK, "COPY completed");
		return;
	}
	imap_session_publish_change(cmd->s, r->dst_mailbox_id);
	/* A copy into the selected mailbox is reported by the sync
	 * (EXISTS). */
	buf_init(&b, 0);
	format_copyuid(&b, r);
	imap_cmd_finish(cmd, IMAP_OK, "[%s] COPY completed", b.data);
	buf_free(&b);
}

void cmd_copy(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	uint32_t *uids, n;
	char *name;
	const char *err;

	if (cmd->argc != 2) {
		imap_cmd_finish(cmd, IMAP_BAD, "COPY needs a sequence set and a mailbox name");
		return;
	}
	if (mailbox_name_from_arg(cmd->pool, &cmd->args[1], &name, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (resolve_set(cmd, &cmd->args[0], &uids, &n) < 0)
		return;
	if (n == 0) {
		/* UID COPY of UIDs that are all gone: nothing to do. */
		imap_cmd_finish(cmd, IMAP_OK, "COPY completed");
		return;
	}
	if (store_messages_copy(worker_db(s->w), s->account_id, mailbox_view_id(s->view), uids, n,
				name, copy_done, cmd, &err) < 0)
		imap_cmd_fail(cmd, err);
}

static void move_synced(void *arg)
{
	struct imap_cmd *cmd = arg;
	struct imap_session *s = cmd->s;

	if (s->view == NULL || imap_session_gone(s))
		imap_cmd_finish(cmd, IMAP_OK, "MOVE completed");
	else
		imap_cmd_finish(cmd, IMAP_OK, "[HIGHESTMODSEQ %llu] MOVE completed",
				(unsigned long long)mailbox_view_modseq(s->view));
}

/* RFC 6851 §4.3 with UIDPLUS: the COPYUID comes in an untagged OK before the
 * EXPUNGE responses (the client can map the UIDs before the sequence numbers
 * shift), then one "* n EXPUNGE" per moved message (VANISHED with QRESYNC,
 * §4.4: mailbox_view_expunged). */
static void move_done(void *ctx, const struct store_copy_result *r, const char *reason,
		      const char *error)
{
	struct imap_cmd *cmd = ctx;
	struct imap_session *s = cmd->s;
	int64_t src = mailbox_view_id(s->view);
	struct buf b;

	if (r == NULL) {
		copy_failed(cmd, reason, error);
		return;
	}
	/* Committed: tell every session of both mailboxes, whether or not
	 * this client is still there. */
	if (r->n > 0) {
		imap_session_publish_change(s, src);
		if (r->dst_mailbox_id != src)
			imap_session_publish_change(s, r->dst_mailbox_id);
	}
	if (imap_session_gone(s)) {
		imap_cmd_finish(cmd, IMAP_OK, "Gone");
		return;
	}
	if (r->n > 0) {
		buf_init(&b, 0);
		format_copyuid(&b, r);
		imap_untagged(s, "OK [%s] Moved", b.data);
		buf_free(&b);
		/* Ascending source UIDs: the view shifts the sequence numbers
		 * as it goes. Messages moved into the selected mailbox itself
		 * come back as EXISTS from the sync before the tagged OK. */
		mailbox_view_expunged(s, r->src_uids, r->n);
		if (s->enabled & IMAP_ENABLE_QRESYNC) {
			/* RFC 6851 §4.4: the source's new HIGHESTMODSEQ in the
			 * tagged OK, after a sync that reported every change
			 * up to it (as EXPUNGE does). */
			mailbox_view_sync(s, cmd, move_synced, cmd);
			return;
		}
	}
	imap_cmd_finish(cmd, IMAP_OK, "MOVE completed");
}

/* MOVE and UID MOVE (RFC 6851 §3): as COPY, then the messages leave the
 * source, atomically. Moving into the selected mailbox itself is allowed:
 * the messages get new UIDs there (what COPY + EXPUNGE would do; RFC 6851
 * does not forbid it). */
void cmd_move(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	uint32_t *uids, n;
	char *name;
	const char *err;

	if (cmd->argc != 2) {
		imap_cmd_finish(cmd, IMAP_BAD, "MOVE needs a sequence set and a mailbox name");
		return;
	}
	if (mailbox_name_from_arg(cmd->pool, &cmd->args[1], &name, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (resolve_set(cmd, &cmd->args[0], &uids, &n) < 0)
		return;
	if (mailbox_view_readonly(s->view)) {
		/* The source would lose messages: as EXPUNGE. */
		imap_cmd_finish(cmd, IMAP_NO, READ_ONLY_TEXT);
		return;
	}
	if (n == 0) {
		/* UID MOVE of UIDs that are all gone: nothing to do. */
		imap_cmd_finish(cmd, IMAP_OK, "MOVE completed");
		return;
	}
	if (store_messages_move(worker_db(s->w), s->account_id, mailbox_view_id(s->view), uids, n,
				name, move_done, cmd, &err) < 0)
		imap_cmd_fail(cmd, err);
}
