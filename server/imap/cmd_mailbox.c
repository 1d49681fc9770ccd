/* Mailbox commands: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST,
 * LSUB, STATUS (RFC 3501 §6.3.3-§6.3.10, response codes of RFC 5530).
 *
 * Choices where the RFCs leave room:
 * - CREATE and RENAME create missing parents as ordinary mailboxes; a
 *   trailing delimiter is ignored ("foo/" is "foo") in every name given to
 *   these commands.
 * - DELETE of a mailbox with inferiors expunges it and leaves a \Noselect
 *   placeholder (§6.3.4); DELETE of a \Noselect name with inferiors is
 *   NO [HASCHILDREN] (the code RFC 9051 §7.1 defines for it). Deleting the
 *   selected mailbox returns this session to the authenticated state.
 * - RENAME moves subscriptions with the names; DELETE keeps them (§6.3.6:
 *   never remove a subscription unilaterally).
 * - SUBSCRIBE accepts names that do not exist; UNSUBSCRIBE of a name that
 *   is not subscribed is OK (RFC 9051 §6.3.8).
 * - LIST sends \HasChildren / \HasNoChildren (RFC 3348) and \Noselect; no
 *   special-use attributes until SPECIAL-USE is advertised. With a trailing
 *   '%', levels that match but are no mailbox are listed as \Noselect
 *   (§6.3.8), in LSUB levels that are not subscribed (§6.3.9). LSUB marks a
 *   subscribed name without a selectable mailbox \Noselect.
 * - STATUS counts \Recent without claiming it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap_cmd.h"
#include "list_match.h"
#include "log.h"
#include "mailbox_name.h"
#include "mailbox_view.h"
#include "mutf7.h"
#include "pool.h"
#include "store_mailboxes.h"

/* Bytes of a LIST/LSUB reference or pattern as sent: an encoded name of
 * MAILBOX_NAME_MAX bytes of UTF-8 stays well below it. */
#define LIST_ARG_MAX (4 * MAILBOX_NAME_MAX)

struct mbox_ctx {
	struct imap_cmd *cmd;
	char *name;
	char *new_name; /* RENAME */
	/* LIST, LSUB */
	bool lsub;
	struct list_match *match;
	/* STATUS: the items in the order asked for */
	unsigned items[5];
	unsigned nitems;
};

static struct mbox_ctx *ctx_new(struct imap_cmd *cmd)
{
	struct mbox_ctx *x = pool_alloc(cmd->pool, sizeof(*x));

	x->cmd = cmd;
	return x;
}

/* Decodes a mailbox name argument; a single trailing delimiter is dropped
 * ("foo/" names "foo"), as clients send it to create a parent. */
static int name_arg(struct imap_cmd *cmd, const struct imap_arg *arg, char **name_r,
		    const char **error_r)
{
	struct imap_arg a = *arg;

	if (imap_arg_is_string(&a) && !imap_arg_is_nil(&a) && a.len > 1 &&
	    a.str[a.len - 1] == '/') {
		a.len--;
		a.str = pool_strndup(cmd->pool, a.str, a.len);
	}
	return mailbox_name_from_arg(cmd->pool, &a, name_r, error_r);
}

static void mutation_gone(struct mbox_ctx *x)
{
	imap_cmd_finish(x->cmd, IMAP_NO, "Connection gone");
}

/* The common answers of CREATE, DELETE, RENAME, (UN)SUBSCRIBE. */
static void mutation_answer(struct mbox_ctx *x, enum store_mailboxes_result r, const char *error,
			    const char *cannot)
{
	struct imap_cmd *cmd = x->cmd;

	switch (r) {
	case STORE_MAILBOXES_OK:
		imap_cmd_finish(cmd, IMAP_OK, "%s completed", cmd->name);
		break;
	case STORE_MAILBOXES_NONEXISTENT:
		imap_cmd_finish(cmd, IMAP_NO, "[NONEXISTENT] No such mailbox");
		break;
	case STORE_MAILBOXES_EXISTS:
		imap_cmd_finish(cmd, IMAP_NO, "[ALREADYEXISTS] Mailbox already exists");
		break;
	case STORE_MAILBOXES_LIMIT:
		imap_cmd_finish(cmd, IMAP_NO, "[LIMIT] Too many %s",
				strcmp(cmd->name, "SUBSCRIBE") == 0 ? "subscriptions" : "mailboxes");
		break;
	case STORE_MAILBOXES_HASCHILDREN:
		imap_cmd_finish(cmd, IMAP_NO,
				"[HASCHILDREN] Mailbox has inferior hierarchical names");
		break;
	case STORE_MAILBOXES_CANNOT:
		imap_cmd_finish(cmd, IMAP_NO, "[CANNOT] %s", cannot);
		break;
	case STORE_MAILBOXES_ERROR:
	default:
		imap_cmd_fail(cmd, error != NULL ? error : "unknown store result");
		break;
	}
}

/* -- CREATE ------------------------------------------------------------------ */

static void create_done(void *arg, enum store_mailboxes_result r, int64_t mailbox_id,
			uint64_t moved, const char *error)
{
	struct mbox_ctx *x = arg;

	if (imap_session_gone(x->cmd->s))
		mutation_gone(x);
	else
		mutation_answer(x, r, error, "Cannot create that mailbox");
}

void cmd_create(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	const char *err;

	if (cmd->argc != 1) {
		imap_cmd_finish(cmd, IMAP_BAD, "CREATE needs one mailbox name");
		return;
	}
	if (name_arg(cmd, &cmd->args[0], &x->name, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (mailbox_name_is_inbox(x->name)) {
		imap_cmd_finish(cmd, IMAP_NO, "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	if (store_mailboxes_create(worker_db(s->w), s->account_id, x->name, create_done, x, &err) <
	    0)
		imap_cmd_fail(cmd, err);
}

/* -- DELETE ------------------------------------------------------------------ */

static void delete_done(void *arg, enum store_mailboxes_result r, int64_t mailbox_id,
			uint64_t moved, const char *error)
{
	struct mbox_ctx *x = arg;
	struct imap_session *s = x->cmd->s;

	if (r == STORE_MAILBOXES_OK) {
		/* Other sessions that have it selected find it gone at
		 * their next sync and say BYE. */
		imap_session_publish_change(s, mailbox_id);
		if (!imap_session_gone(s) && s->view != NULL &&
		    mailbox_view_id(s->view) == mailbox_id) {
			/* Our own selected mailbox: nothing is left to sync
			 * with, so leave the selected state now. */
			mailbox_view_close(s, &s->view);
			s->state = IMAP_STATE_AUTH;
		}
	}
	if (imap_session_gone(s))
		mutation_gone(x);
	else
		mutation_answer(x, r, error, "Cannot delete that mailbox");
}

void cmd_delete(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	const char *err;

	if (cmd->argc != 1) {
		imap_cmd_finish(cmd, IMAP_BAD, "DELETE needs one mailbox name");
		return;
	}
	if (name_arg(cmd, &cmd->args[0], &x->name, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (mailbox_name_is_inbox(x->name)) {
		imap_cmd_finish(cmd, IMAP_NO, "[CANNOT] INBOX cannot be deleted");
		return;
	}
	if (store_mailboxes_delete(worker_db(s->w), s->account_id, x->name, delete_done, x, &err) <
	    0)
		imap_cmd_fail(cmd, err);
}

/* -- RENAME ------------------------------------------------------------------ */

static void rename_done(void *arg, enum store_mailboxes_result r, int64_t mailbox_id,
			uint64_t moved, const char *error)
{
	struct mbox_ctx *x = arg;
	struct imap_session *s = x->cmd->s;

	/* RENAME INBOX expunged INBOX's messages (they live on under the new
	 * name): INBOX's sessions must hear of it. A renamed mailbox keeps
	 * its id, so sessions that have it selected carry on. */
	if (r == STORE_MAILBOXES_OK && moved > 0)
		imap_session_publish_change(s, mailbox_id);
	if (imap_session_gone(s))
		mutation_gone(x);
	else
		mutation_answer(x, r, error,
				"Cannot rename a mailbox into itself or make a name too long");
}

void cmd_rename(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	const char *err;
	size_t olen;

	if (cmd->argc != 2) {
		imap_cmd_finish(cmd, IMAP_BAD, "RENAME needs two mailbox names");
		return;
	}
	if (name_arg(cmd, &cmd->args[0], &x->name, &err) < 0 ||
	    name_arg(cmd, &cmd->args[1], &x->new_name, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (strcmp(x->name, x->new_name) == 0 || mailbox_name_is_inbox(x->new_name)) {
		imap_cmd_finish(cmd, IMAP_NO, "[ALREADYEXISTS] Mailbox already exists");
		return;
	}
	/* INBOX's inferiors stay behind when INBOX is renamed, so only for
	 * other mailboxes is "into its own child" impossible. */
	olen = strlen(x->name);
	if (!mailbox_name_is_inbox(x->name) && strncmp(x->new_name, x->name, olen) == 0 &&
	    x->new_name[olen] == '/') {
		imap_cmd_finish(cmd, IMAP_NO, "[CANNOT] Cannot rename a mailbox into its own child");
		return;
	}
	if (store_mailboxes_rename(worker_db(s->w), s->account_id, x->name, x->new_name,
				   rename_done, x, &err) < 0)
		imap_cmd_fail(cmd, err);
}

/* -- SUBSCRIBE, UNSUBSCRIBE ---------------------------------------------------- */

static void subscribe_done(void *arg, enum store_mailboxes_result r, int64_t mailbox_id,
			   uint64_t moved, const char *error)
{
	struct mbox_ctx *x = arg;

	if (imap_session_gone(x->cmd->s))
		mutation_gone(x);
	else
		mutation_answer(x, r, error, "Cannot subscribe to that name");
}

static void do_subscribe(struct imap_cmd *cmd, bool subscribe)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	const char *err;

	if (cmd->argc != 1) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s needs one mailbox name", cmd->name);
		return;
	}
	if (name_arg(cmd, &cmd->args[0], &x->name, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (store_mailboxes_subscribe(worker_db(s->w), s->account_id, x->name, subscribe,
				      subscribe_done, x, &err) < 0)
		imap_cmd_fail(cmd, err);
}

void cmd_subscribe(struct imap_cmd *cmd)
{
	do_subscribe(cmd, true);
}

void cmd_unsubscribe(struct imap_cmd *cmd)
{
	do_subscribe(cmd, false);
}

/* -- LIST, LSUB ---------------------------------------------------------------- */

/* Decodes a reference or pattern (list-mailbox: modified UTF-7 with the
 * wildcards as themselves) to UTF-8. */
static int pattern_arg(struct imap_cmd *cmd, const struct imap_arg *arg, char **out_r,
		       const char **error_r)
{
	if (!imap_arg_is_string(arg)) {
		*error_r = "Reference and mailbox pattern must be strings";
		return -1;
	}
	if (arg->len > LIST_ARG_MAX) {
		*error_r = "Mailbox pattern too long";
		return -1;
	}
	if (memchr(arg->str, '\0', arg->len) != NULL ||
	    mutf7_to_utf8(cmd->pool, arg->str, arg->len, out_r) < 0) {
		*error_r = "Invalid mailbox name encoding (modified UTF-7 expected)";
		return -1;
	}
	return 0;
}

/* True when name is root or one of its inferiors. */
static bool in_subtree(const char *name, const char *root, size_t rlen)
{
	return strncmp(name, root, rlen) == 0 && (name[rlen] == '\0' || name[rlen] == '/');
}

/* Writes one LIST/LSUB response. A listing can be long (thousands of
 * names), so the line goes straight to the output and its encoding's
 * memory is released at once. */
static void list_line(struct mbox_ctx *x, struct buf *b, struct pool *scratch, const char *attrs,
		      const char *name)
{
	buf_reset(b);
	(void)buf_printf(b, "* %s (%s) \"/\" ", x->lsub ? "LSUB" : "LIST", attrs);
	(void)mailbox_name_write(b, scratch, name);
	(void)buf_append(b, "\r\n", 2);
	imap_write(x->cmd->s, b->data, b->len);
	pool_clear(scratch);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct store_mailboxes_entry *const *ea = a, *const *eb = b;

	return list_match_cmp((*ea)->name, (*eb)->name);
}

static void list_done(void *arg, const struct store_mailboxes_entry *entries, size_t n,
		      const char *error)
{
	struct mbox_ctx *x = arg;
	struct imap_cmd *cmd = x->cmd;
	const struct store_mailboxes_entry **sorted;
	bool parents = list_match_trailing_percent(x->match);
	struct pool *scratch;
	struct buf b;

	if (error != NULL) {
		imap_cmd_fail(cmd, error);
		return;
	}
	if (imap_session_gone(cmd->s)) {
		imap_cmd_finish(cmd, IMAP_NO, "Connection gone");
		return;
	}
	sorted = pool_alloc(cmd->pool, (n + 1) * sizeof(*sorted));
	for (size_t i = 0; i < n; i++)
		sorted[i] = &entries[i];
	qsort(sorted, n, sizeof(*sorted), entry_cmp);

	buf_init(&b, 0);
	scratch = pool_create(0);
	for (size_t i = 0; i < n; i++) {
		const char *name = sorted[i]->name;
		size_t len = strlen(name);
		uint64_t levels = 0;
		bool full = list_match_name(x->match, name, parents ? &levels : NULL);

		/* Matching levels above this name that are no entry of
		 * their own (§6.3.8, §6.3.9). In the sorted order an entry's
		 * inferiors directly follow it, so a level was dealt with
		 * before exactly when the previous entry lies in its
		 * subtree. */
		for (unsigned lv = 0, pos = 0; levels != 0 && pos < len; pos++) {
			if (name[pos] != '/')
				continue;
			if (((levels >> lv) & 1) &&
			    (i == 0 || !in_subtree(sorted[i - 1]->name, name, pos)))
				list_line(x, &b, scratch,
					  x->lsub ? "\\Noselect" : "\\Noselect \\HasChildren",
					  pool_strndup(scratch, name, pos));
			if (++lv == 64)
				break;
		}
		if (!full)
			continue;
		if (x->lsub) {
			list_line(x, &b, scratch, sorted[i]->noselect ? "\\Noselect" : "", name);
		} else {
			bool children = i + 1 < n && in_subtree(sorted[i + 1]->name, name, len);
			list_line(x, &b, scratch,
				  sorted[i]->noselect ? (children ? "\\Noselect \\HasChildren"
								  : "\\Noselect \\HasNoChildren")
						      : (children ? "\\HasChildren" : "\\HasNoChildren"),
				  name);
		}
	}
	pool_destroy(&scratch);
	buf_free(&b);
	imap_cmd_finish(cmd, IMAP_OK, "%s completed", cmd->name);
}

static void do_list(struct imap_cmd *cmd, bool lsub)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	char *ref, *pattern;
	const char *err;

	x->lsub = lsub;
	if (cmd->argc != 2) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s needs a reference and a mailbox pattern",
				cmd->name);
		return;
	}
	if (pattern_arg(cmd, &cmd->args[0], &ref, &err) < 0 ||
	    pattern_arg(cmd, &cmd->args[1], &pattern, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (pattern[0] == '\0') {
		/* §6.3.8: the delimiter and the root of the reference's
		 * hierarchy, which has no name here. */
		imap_untagged(s, "%s (\\Noselect) \"/\" \"\"", cmd->name);
		imap_cmd_finish(cmd, IMAP_OK, "%s completed", cmd->name);
		return;
	}
	x->match = list_match_compile(cmd->pool, list_match_join(cmd->pool, ref, pattern));
	if (store_mailboxes_list(worker_db(s->w), s->account_id, lsub, list_done, x, &err) < 0)
		imap_cmd_fail(cmd, err);
}

void cmd_list(struct imap_cmd *cmd)
{
	do_list(cmd, false);
}

void cmd_lsub(struct imap_cmd *cmd)
{
	do_list(cmd, true);
}

/* -- STATUS -------------------------------------------------------------------- */

enum { ST_MESSAGES, ST_RECENT, ST_UIDNEXT, ST_UIDVALIDITY, ST_UNSEEN, ST_COUNT };

static const char *const status_names[ST_COUNT] = {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY",
						   "UNSEEN"};

static uint32_t status_value(const struct store_mailboxes_status *st, unsigned item)
{
	switch (item) {
	case ST_MESSAGES:
		return st->messages;
	case ST_RECENT:
		return st->recent;
	case ST_UIDNEXT:
		return st->uidnext;
	case ST_UIDVALIDITY:
		return st->uidvalidity;
	default:
		return st->unseen;
	}
}

static void status_done(void *arg, int found, const struct store_mailboxes_status *st,
			const char *error)
{
	struct mbox_ctx *x = arg;
	struct imap_cmd *cmd = x->cmd;
	struct buf b;

	if (found < 0) {
		imap_cmd_fail(cmd, error);
		return;
	}
	if (imap_session_gone(cmd->s)) {
		imap_cmd_finish(cmd, IMAP_NO, "Connection gone");
		return;
	}
	if (found == 0) {
		imap_cmd_finish(cmd, IMAP_NO, "[NONEXISTENT] No such mailbox");
		return;
	}
	if (st->noselect) {
		imap_cmd_finish(cmd, IMAP_NO, "[NONEXISTENT] Mailbox is not selectable");
		return;
	}
	buf_init(&b, 0);
	(void)buf_append_str(&b, "STATUS ");
	(void)mailbox_name_write(&b, cmd->pool, x->name);
	(void)buf_append_str(&b, " (");
	for (unsigned i = 0; i < x->nitems; i++) {
		(void)buf_printf(&b, "%s%s %u", i > 0 ? " " : "", status_names[x->items[i]],
				 status_value(st, x->items[i]));
	}
	(void)buf_append_str(&b, ")");
	imap_untagged(cmd->s, "%s", b.data);
	buf_free(&b);
	imap_cmd_finish(cmd, IMAP_OK, "STATUS completed");
}

void cmd_status(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	const struct imap_arg *list;
	unsigned seen = 0;
	const char *err;

	if (cmd->argc != 2 || cmd->args[1].type != IMAP_ARG_LIST || cmd->args[1].list_count == 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "STATUS needs a mailbox name and a list of items");
		return;
	}
	if (name_arg(cmd, &cmd->args[0], &x->name, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	list = cmd->args[1].list;
	for (unsigned i = 0; i < cmd->args[1].list_count; i++) {
		unsigned item = ST_COUNT;
		if (list[i].type == IMAP_ARG_ATOM)
			for (unsigned k = 0; k < ST_COUNT; k++)
				if (strcasecmp(list[i].str, status_names[k]) == 0)
					item = k;
		if (item == ST_COUNT) {
			imap_cmd_finish(cmd, IMAP_BAD, "Unknown STATUS item");
			return;
		}
		/* An item asked for twice is answered once. */
		if (!(seen & (1u << item))) {
			seen |= 1u << item;
			x->items[x->nitems++] = item;
		}
	}
	if (store_mailboxes_status(worker_db(s->w), s->account_id, x->name,
				   (seen & (1u << ST_RECENT)) != 0, status_done, x, &err) < 0)
		imap_cmd_fail(cmd, err);
}
