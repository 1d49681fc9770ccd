/* Small extension commands: ENABLE (RFC 5161), ID (RFC 2971), NAMESPACE
 * (RFC 2342), UNSELECT (RFC 3691). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap_cmd.h"
#include "log.h"
#include "mailbox_view.h"
#include "pool.h"

#define ID_MAX_PAIRS 30      /* RFC 2971 §3.3 */
#define ID_MAX_FIELD 30
#define ID_MAX_VALUE 1024

/* What ENABLE can turn on; extensions add themselves here when they are
 * complete (and to the CAPABILITY list). */
static const struct {
	const char *name;
	unsigned bit;
	unsigned implies; /* turned on with it */
} enableable[] = {
	{"CONDSTORE", IMAP_ENABLE_CONDSTORE, 0}, /* RFC 7162 §3.1 */
	/* RFC 7162 §3.2.3: ENABLE QRESYNC is also a CONDSTORE enabling
	 * command. */
	{"QRESYNC", IMAP_ENABLE_QRESYNC, IMAP_ENABLE_CONDSTORE},
	{NULL, 0, 0},
};

/* The extensions an earlier ENABLE turned on: a CONDSTORE that a command
 * turned on by using it is listed again when the client ENABLEs it, so
 * that the client learns it is on. */
static unsigned enabled_by_enable(const struct imap_session *s)
{
	unsigned e = s->enabled & ~IMAP_ENABLE_CONDSTORE_IMPLICIT;

	if (s->enabled & IMAP_ENABLE_CONDSTORE_IMPLICIT)
		e &= ~IMAP_ENABLE_CONDSTORE;
	return e;
}

void imap_condstore_enable(struct imap_session *s)
{
	if (!(s->enabled & IMAP_ENABLE_CONDSTORE))
		s->enabled |= IMAP_ENABLE_CONDSTORE | IMAP_ENABLE_CONDSTORE_IMPLICIT;
}

void cmd_enable(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct buf out;

	if (cmd->argc == 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "ENABLE needs at least one capability");
		return;
	}
	if (s->state != IMAP_STATE_AUTH) {
		/* RFC 5161 §3.1: only before a mailbox is selected. */
		imap_cmd_finish(cmd, IMAP_BAD, "ENABLE is valid only before SELECT");
		return;
	}
	buf_init(&out, 0);
	for (unsigned i = 0; i < cmd->argc; i++) {
		const struct imap_arg *a = &cmd->args[i];
		if (a->type != IMAP_ARG_ATOM) {
			buf_free(&out);
			imap_cmd_finish(cmd, IMAP_BAD, "Capability names are atoms");
			return;
		}
		/* Unknown names are ignored (RFC 5161 §3.1). */
		for (size_t k = 0; enableable[k].name != NULL; k++) {
			if (strcasecmp(a->str, enableable[k].name) == 0 &&
			    !(enabled_by_enable(s) & enableable[k].bit)) {
				if (enableable[k].bit == IMAP_ENABLE_CONDSTORE)
					s->enabled &= ~IMAP_ENABLE_CONDSTORE_IMPLICIT;
				s->enabled |= enableable[k].bit | enableable[k].implies;
				(void)buf_printf(&out, " %s", enableable[k].name);
			}
		}
	}
	imap_untagged(s, "ENABLED%s", out.data != NULL ? out.data : "");
	buf_free(&out);
	imap_cmd_finish(cmd, IMAP_OK, "ENABLE completed");
}

void cmd_id(struct imap_cmd *cmd)
{
	const struct imap_arg *a = cmd->args;
	char line[512];
	size_t len = 0;

	if (cmd->argc != 1 || (a->type != IMAP_ARG_LIST && !imap_arg_is_nil(a))) {
		imap_cmd_finish(cmd, IMAP_BAD, "ID takes a parameter list or NIL");
		return;
	}
	if (a->type == IMAP_ARG_LIST) {
		if (a->list_count % 2 != 0 || a->list_count / 2 > ID_MAX_PAIRS) {
			imap_cmd_finish(cmd, IMAP_BAD, "ID takes up to 30 field/value pairs");
			return;
		}
		for (unsigned i = 0; i < a->list_count; i += 2) {
			const struct imap_arg *f = &a->list[i], *v = &a->list[i + 1];
			if (!imap_arg_is_string(f) || imap_arg_is_nil(f) || f->len > ID_MAX_FIELD ||
			    (!imap_arg_is_string(v) && !imap_arg_is_nil(v)) ||
			    (!imap_arg_is_nil(v) && v->len > ID_MAX_VALUE)) {
				imap_cmd_finish(cmd, IMAP_BAD, "Invalid ID field or value");
				return;
			}
			/* Logged for support, sanitised and bounded. */
			if (len < sizeof(line) - 1 && !imap_arg_is_nil(v)) {
				char fs[40], vs[80];
				int n = snprintf(line + len, sizeof(line) - len, "%s%s=%s",
						 len ? " " : "", log_sanitize(fs, sizeof(fs), f->str, f->len),
						 log_sanitize(vs, sizeof(vs), v->str, v->len));
				len += n > 0 ? (size_t)n : 0;
				if (len >= sizeof(line))
					len = sizeof(line) - 1;
			}
		}
		if (len > 0)
			LOG(INFO, s_log(cmd->s), "client ID: %s", line);
	}
	imap_untagged(cmd->s, "ID (\"name\" \"Mailstead\" \"vendor\" \"Mailstead\")");
	imap_cmd_finish(cmd, IMAP_OK, "ID completed");
}

void cmd_namespace(struct imap_cmd *cmd)
{
	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "NAMESPACE takes no arguments");
		return;
	}
	/* One personal namespace, no other users' or shared ones. */
	imap_untagged(cmd->s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_cmd_finish(cmd, IMAP_OK, "NAMESPACE completed");
}

void cmd_unselect(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;

	if (cmd->argc != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "UNSELECT takes no arguments");
		return;
	}
	/* Like CLOSE without the expunge; no untagged responses about the
	 * mailbox follow (the view is gone before the tagged reply). */
	mailbox_view_close(s, &s->view);
	s->state = IMAP_STATE_AUTH;
	imap_cmd_finish(cmd, IMAP_OK, "UNSELECT completed");
}
