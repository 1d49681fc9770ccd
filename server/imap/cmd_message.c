/* Commands that change the messages of the selected mailbox (RFC 3501 §6.4):
 * CHECK, CLOSE, EXPUNGE, STORE, COPY (and their UID forms). Each mutation is
 * one store call (one transaction); the tagged OK is sent from its callback,
 * after the commit. */
#include <string.h>
#include <strings.h>

#include "buf.h"
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

static void expunge_done(void *ctx, const uint32_t *uids, uint32_t n, const char *reason,
			 const char *error)
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
	imap_cmd_finish(cmd, IMAP_OK, "EXPUNGE completed");
}

static void start_expunge(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const char *err;

	if (store_messages_expunge(worker_db(s->w), s->account_id, mailbox_view_id(s->view), NULL,
				   0, expunge_done, cmd, &err) < 0)
		imap_cmd_fail(cmd, err);
}

void cmd_expunge(struct imap_cmd *cmd)
{
	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "EXPUNGE takes no arguments");
		return;
	}
	if (mailbox_view_readonly(cmd->s->view)) {
		imap_cmd_finish(cmd, IMAP_NO, READ_ONLY_TEXT);
		return;
	}
	start_expunge(cmd);
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
	start_expunge(cmd);
}

/* -- STORE (§6.4.6) --------------------------------------------------------- */

struct store_ctx {
	struct imap_cmd *cmd;
	bool silent;
};

static void store_done(void *ctx, const struct store_flags_result *r, const char *reason,
		       const char *error)
{
	struct store_ctx *x = ctx;
	struct imap_cmd *cmd = x->cmd;
	struct imap_session *s = cmd->s;
	struct mailbox_view *v = s->view;
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
		uint32_t seq;

		/* .SILENT still reports what another session changed in
		 * these messages meanwhile: the client would otherwise
		 * assume its own result. */
		if (x->silent && !row->changed_elsewhere)
			continue;
		seq = mailbox_view_seq(v, row->uid);
		if (seq == 0)
			continue;
		buf_reset(&b);
		(void)imap_flags_format(&b, row->flags, row->keywords,
					mailbox_view_is_recent(v, row->uid));
		/* §6.4.8: responses to a UID command carry the UID. */
		if (cmd->uid)
			imap_untagged(s, "%u FETCH (UID %u FLAGS %s)", seq, row->uid, b.data);
		else
			imap_untagged(s, "%u FETCH (FLAGS %s)", seq, b.data);
	}
	buf_free(&b);
	imap_cmd_finish(cmd, IMAP_OK, "STORE completed");
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
	struct store_ctx *x;
	struct imap_arg list;
	const struct imap_arg *flags_arg;
	const char **keywords;
	uint32_t *uids, n;
	const char *err;

	if (cmd->argc < 3) {
		imap_cmd_finish(cmd, IMAP_BAD, "STORE needs a sequence set, an item and flags");
		return;
	}
	memset(&req, 0, sizeof(req));
	x = pool_alloc(cmd->pool, sizeof(*x));
	x->cmd = cmd;
	if (parse_store_item(&cmd->args[1], &req.mode, &x->silent) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "Invalid STORE item");
		return;
	}
	/* store-att-flags: a flag list, or flags separated by spaces
	 * (RFC 3501 §9); the latter is read as one list. */
	flags_arg = &cmd->args[2];
	if (cmd->argc > 3 || cmd->args[2].type != IMAP_ARG_LIST) {
		memset(&list, 0, sizeof(list));
		list.type = IMAP_ARG_LIST;
		list.list = (struct imap_arg *)&cmd->args[2]; /* only read */
		list.list_count = cmd->argc - 2;
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
	if (n == 0) {
		imap_cmd_finish(cmd, IMAP_OK, "STORE completed");
		return;
	}
	req.account_id = s->account_id;
	req.mailbox_id = mailbox_view_id(s->view);
	req.uids = uids;
	req.nuids = n;
	req.keywords = keywords;
	req.since_modseq = mailbox_view_modseq(s->view);
	req.max_message_keywords = IMAP_MAX_KEYWORDS;
	if (store_messages_flags(worker_db(s->w), &req, store_done, x, &err) < 0)
		imap_cmd_fail(cmd, err);
}

/* -- COPY (§6.4.7) ---------------------------------------------------------- */

static void copy_done(void *ctx, const struct store_copy_result *r, const char *reason,
		      const char *error)
{
	struct imap_cmd *cmd = ctx;

	if (r == NULL) {
		if (reason != NULL && strcmp(reason, STORE_REASON_NOT_FOUND) == 0)
			imap_cmd_finish(cmd, IMAP_NO, "[TRYCREATE] Mailbox does not exist");
		else if (reason != NULL && strcmp(reason, STORE_REASON_OVER_QUOTA) == 0)
			imap_cmd_finish(cmd, IMAP_NO, "[OVERQUOTA] Quota exceeded");
		else if (reason != NULL && strcmp(reason, STORE_REASON_LIMIT) == 0)
			imap_cmd_finish(cmd, IMAP_NO,
					"[LIMIT] Target mailbox cannot take these messages");
		else
			imap_cmd_fail(cmd, error);
		return;
	}
	if (r->n > 0)
		imap_session_publish_change(cmd->s, r->dst_mailbox_id);
	/* COPYUID (RFC 4315) would be built from r->src_uids/dst_uids. A
	 * copy into the selected mailbox is reported by the sync (EXISTS). */
	imap_cmd_finish(cmd, IMAP_OK, "COPY completed");
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
