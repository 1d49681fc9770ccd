/* IDLE (RFC 2177): the client waits; changes of the selected mailbox made by
 * any session, on any worker or host, are pushed as soon as a notification
 * arrives (notify.c), until the client sends DONE. */
#include <string.h>
#include <strings.h>

#include "imap_cmd.h"
#include "log.h"
#include "mailbox_view.h"
#include "pool.h"

struct idle_ctx {
	bool pushing;      /* a sync is in flight */
	bool again;        /* another change arrived meanwhile */
	bool finish;       /* DONE (or the client gone) while pushing */
	enum imap_status status;
	const char *text;
};

static void idle_push(struct imap_cmd *cmd);

static void idle_end(struct imap_cmd *cmd, enum imap_status status, const char *text)
{
	struct idle_ctx *x = cmd->ctx;

	cmd->wake_fn = NULL;
	cmd->closed_fn = NULL;
	if (x->pushing) {
		/* Finish once the push in flight is written: two syncs of one
		 * view must never overlap. */
		x->finish = true;
		x->status = status;
		x->text = text;
		return;
	}
	imap_cmd_finish(cmd, status, "%s", text);
}

static void push_done(void *arg)
{
	struct imap_cmd *cmd = arg;
	struct idle_ctx *x = cmd->ctx;

	x->pushing = false;
	if (x->finish) {
		imap_cmd_finish(cmd, x->status, "%s", x->text);
		return;
	}
	if (x->again)
		idle_push(cmd);
}

static void idle_push(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct idle_ctx *x = cmd->ctx;

	if (x->pushing) {
		x->again = true;
		return;
	}
	if (s->view == NULL || imap_session_gone(s))
		return;
	x->pushing = true;
	x->again = false;
	mailbox_view_sync(s, cmd, push_done, cmd);
}

static void idle_line(struct imap_cmd *cmd, const char *line, size_t len)
{
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0) {
		idle_end(cmd, IMAP_OK, "IDLE terminated");
		return;
	}
	idle_end(cmd, IMAP_BAD, "Expected DONE");
}

static void idle_closed(struct imap_cmd *cmd)
{
	idle_end(cmd, IMAP_NO, "Connection closed");
}

void cmd_idle(struct imap_cmd *cmd)
{
	struct idle_ctx *x;

	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "IDLE takes no arguments");
		return;
	}
	x = pool_alloc(cmd->pool, sizeof(*x));
	cmd->ctx = x;
	cmd->wake_fn = idle_push;
	cmd->closed_fn = idle_closed;
	imap_cmd_continue(cmd, "idling", idle_line);
	/* Anything that changed since the last reply goes out at once. */
	idle_push(cmd);
}
