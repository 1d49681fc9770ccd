/* SELECT and EXAMINE (RFC 3501 §6.3.1, §6.3.2). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_cmd.h"
#include "imap_flags.h"
#include "log.h"
#include "mailbox_name.h"
#include "mailbox_view.h"
#include "pool.h"
#include "store.h"

struct select_ctx {
	struct imap_cmd *cmd;
	char *name;
	bool readonly;
};

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
	buf_reset(&b);
	(void)imap_flags_mailbox(&b, m->keywords);
	/* \* : clients may create keywords (RFC 3501 §7.1). */
	b.data[b.len - 1] = '\0';
	imap_untagged(s, "OK [PERMANENTFLAGS %s%s)] Limited", x->readonly ? "(" : b.data,
		      x->readonly ? "" : " \\*");
	buf_free(&b);
	imap_cmd_finish(cmd, IMAP_OK, "[%s] %s completed", x->readonly ? "READ-ONLY" : "READ-WRITE",
			x->readonly ? "EXAMINE" : "SELECT");
}

static void do_select(struct imap_cmd *cmd, bool readonly)
{
	struct imap_session *s = cmd->s;
	struct select_ctx *x;
	const char *err;

	if (cmd->argc != 1) {
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
	/* RFC 3501 §6.3.1: a SELECT deselects the current mailbox first, even
	 * when it then fails. */
	if (s->view != NULL) {
		mailbox_view_close(s, &s->view);
		s->state = IMAP_STATE_AUTH;
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
