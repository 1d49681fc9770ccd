/* Mailbox commands: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST,
 * LSUB, STATUS (RFC 3501 §6.3.3-§6.3.10, response codes of RFC 5530), with
 * LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE and
 * CREATE-SPECIAL-USE (RFC 6154), and STATUS DELETED / DELETED-STORAGE
 * (RFC 9208 §4.2, needed by QUOTA=RES-MESSAGE / QUOTA=RES-STORAGE).
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
 * - LIST sends \HasChildren / \HasNoChildren (RFC 3348) and \Noselect,
 *   and the special-use attributes in every LIST (RFC 6154 §2 allows it;
 *   LSUB sends none). With a trailing '%', levels that match but are no
 *   mailbox are listed as \Noselect (§6.3.8; \NonExistent in the extended
 *   syntax, RFC 5258 example 11), in LSUB levels that are not subscribed
 *   (§6.3.9). LSUB marks a subscribed name without a selectable mailbox
 *   \Noselect.
 * - Extended LIST: children attributes are sent whether asked for or not
 *   (RFC 5258 §4 allows it), except \HasNoChildren on a \NonExistent
 *   name unless RETURN (CHILDREN) asked. SPECIAL-USE is a base selection
 *   option (RFC 6154 §6), so RECURSIVEMATCH works with it and CHILDINFO
 *   names it. CHILDINFO is only sent when a selected name below is not
 *   itself listed (the SHOULD of RFC 5258 §3.5). RETURN (STATUS) sends a
 *   STATUS for every listed selectable mailbox.
 * - CREATE (USE (...)): one special use per mailbox and per account
 *   (schema/0012); \All and \Flagged cannot be created (no virtual
 *   mailboxes). Anything refused for its use is NO [USEATTR].
 * - STATUS counts \Recent without claiming it. DELETED-STORAGE is in KiB,
 *   the unit of QUOTA's STORAGE. */
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

/* STATUS items (RFC 3501 §6.3.10; DELETED and DELETED-STORAGE: RFC 9208
 * §4.2), also those of LIST's RETURN (STATUS (...)) (RFC 5819). */
enum {
	ST_MESSAGES,
	ST_RECENT,
	ST_UIDNEXT,
	ST_UIDVALIDITY,
	ST_UNSEEN,
	ST_DELETED,
	ST_DELETED_STORAGE,
	ST_HIGHESTMODSEQ, /* RFC 7162 §3.1.7 */
	ST_COUNT
};

static const char *const status_names[ST_COUNT] = {
	"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "DELETED-STORAGE",
	"HIGHESTMODSEQ"};

struct mbox_ctx {
	struct imap_cmd *cmd;
	char *name;
	char *new_name; /* RENAME */
	/* LIST, LSUB */
	bool lsub;
	struct list_match *match;   /* LSUB */
	struct list_match_set set;  /* LIST: its patterns */
	unsigned list_flags;        /* LIST_* */
	/* STATUS: the items in the order asked for */
	unsigned items[ST_COUNT];
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
	case STORE_MAILBOXES_USEATTR:
		imap_cmd_finish(cmd, IMAP_NO,
				"[USEATTR] Another mailbox already has that special use");
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

/* The special uses CREATE can give a mailbox (RFC 6154 §3). \All and
 * \Flagged name virtual mailboxes (every message, every flagged message),
 * which this server does not have. */
static const char *const creatable_uses[] = {"Archive", "Drafts", "Junk", "Sent", "Trash"};

/* Reads CREATE's parameter list (RFC 4466 §2.2); USE (RFC 6154 §3) is the
 * only parameter. Sets *use_r to the special use (without backslash) or
 * NULL. Returns 0; -1 for a BAD or 1 for a NO, with the text in error_r. */
static int create_params(const struct imap_arg *arg, const char **use_r, const char **error_r)
{
	const struct imap_arg *uses = NULL;

	*use_r = NULL;
	if (arg->type != IMAP_ARG_LIST || arg->list_count == 0) {
		*error_r = "CREATE parameters must be a non-empty list";
		return -1;
	}
	for (unsigned i = 0; i < arg->list_count; i++) {
		const struct imap_arg *a = &arg->list[i];
		if (a->type != IMAP_ARG_ATOM || strcasecmp(a->str, "USE") != 0 ||
		    i + 1 == arg->list_count || arg->list[i + 1].type != IMAP_ARG_LIST) {
			*error_r = "Unknown CREATE parameter";
			return -1;
		}
		if (uses != NULL) {
			*error_r = "USE given twice";
			return -1;
		}
		uses = &arg->list[++i];
	}
	for (unsigned i = 0; i < uses->list_count; i++) {
		const struct imap_arg *u = &uses->list[i];
		if (u->type != IMAP_ARG_ATOM || u->len < 2 || u->str[0] != '\\') {
			*error_r = "USE needs special-use attributes (\\Sent ...)";
			return -1;
		}
	}
	/* One special use per mailbox (mailboxes.special_use): the same
	 * attribute twice is still one. */
	for (unsigned i = 0; i < uses->list_count; i++) {
		const char *found = NULL;
		for (size_t k = 0; k < sizeof(creatable_uses) / sizeof(creatable_uses[0]); k++)
			if (strcasecmp(uses->list[i].str + 1, creatable_uses[k]) == 0)
				found = creatable_uses[k];
		if (found == NULL) {
			*error_r = "[USEATTR] Unsupported special-use attribute";
			return 1;
		}
		if (*use_r != NULL && *use_r != found) {
			*error_r = "[USEATTR] A mailbox can have only one special use";
			return 1;
		}
		*use_r = found;
	}
	return 0;
}

void cmd_create(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	const char *err, *use = NULL;
	int r = 0;

	if (cmd->argc != 1 && cmd->argc != 2) {
		imap_cmd_finish(cmd, IMAP_BAD, "CREATE needs one mailbox name");
		return;
	}
	if (name_arg(cmd, &cmd->args[0], &x->name, &err) < 0 ||
	    (cmd->argc == 2 && (r = create_params(&cmd->args[1], &use, &err)) < 0)) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (mailbox_name_is_inbox(x->name)) {
		imap_cmd_finish(cmd, IMAP_NO, "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	if (r > 0) {
		imap_cmd_finish(cmd, IMAP_NO, "%s", err);
		return;
	}
	if (store_mailboxes_create(worker_db(s->w), s->account_id, x->name, use, create_done, x,
				   &err) < 0)
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

/* -- STATUS items ------------------------------------------------------------ */

/* Adds a non-empty list of STATUS items to x->items, each once, in the
 * order asked for. Returns 0, or -1 with error_r (a BAD). */
static int status_items(struct mbox_ctx *x, const struct imap_arg *arg, const char **error_r)
{
	unsigned seen = 0;

	for (unsigned i = 0; i < x->nitems; i++)
		seen |= 1u << x->items[i];
	if (arg->type != IMAP_ARG_LIST || arg->list_count == 0) {
		*error_r = "STATUS items must be a non-empty list";
		return -1;
	}
	for (unsigned i = 0; i < arg->list_count; i++) {
		const struct imap_arg *a = &arg->list[i];
		unsigned item = ST_COUNT;
		if (a->type == IMAP_ARG_ATOM)
			for (unsigned k = 0; k < ST_COUNT; k++)
				if (strcasecmp(a->str, status_names[k]) == 0)
					item = k;
		if (item == ST_COUNT) {
			*error_r = "Unknown STATUS item";
			return -1;
		}
		/* An item asked for twice is answered once. */
		if (!(seen & (1u << item))) {
			seen |= 1u << item;
			x->items[x->nitems++] = item;
		}
		if (item == ST_HIGHESTMODSEQ)
			imap_condstore_enable(x->cmd->s); /* RFC 7162 §3.1 */
	}
	return 0;
}

/* The counters that cost the store a scan (STORE_MAILBOXES_WANT_*). */
static unsigned status_want(const struct mbox_ctx *x)
{
	unsigned want = 0;

	for (unsigned i = 0; i < x->nitems; i++)
		want |= x->items[i] == ST_RECENT	   ? STORE_MAILBOXES_WANT_RECENT
			: x->items[i] == ST_DELETED	   ? STORE_MAILBOXES_WANT_DELETED
			: x->items[i] == ST_DELETED_STORAGE ? STORE_MAILBOXES_WANT_DELETED_BYTES
							    : 0;
	return want;
}

static uint64_t status_value(const struct store_mailboxes_status *st, unsigned item)
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
	case ST_UNSEEN:
		return st->unseen;
	case ST_DELETED:
		return st->deleted;
	case ST_HIGHESTMODSEQ:
		return st->highestmodseq;
	default:
		/* DELETED-STORAGE: in the unit of QUOTA's STORAGE resource,
		 * 1024 octets (RFC 9208 §5.1.1), rounded up like it. */
		return st->deleted_bytes / 1024 + (st->deleted_bytes % 1024 != 0);
	}
}

/* Writes "* STATUS name (item value ...)" with x's items; b is scratch. */
static void status_write(struct mbox_ctx *x, struct buf *b, struct pool *pool, const char *name,
			 const struct store_mailboxes_status *st)
{
	buf_reset(b);
	(void)buf_append_str(b, "* STATUS ");
	(void)mailbox_name_write(b, pool, name);
	(void)buf_append_str(b, " (");
	for (unsigned i = 0; i < x->nitems; i++)
		(void)buf_printf(b, "%s%s %llu", i > 0 ? " " : "", status_names[x->items[i]],
				 (unsigned long long)status_value(st, x->items[i]));
	(void)buf_append(b, ")\r\n", 3);
	imap_write(x->cmd->s, b->data, b->len);
}

/* -- LIST, LSUB ---------------------------------------------------------------- */

/* LIST options (RFC 5258 §3, RFC 5819, RFC 6154 §4), bits of x->list_flags.
 * REMOTE is accepted and changes nothing: there are no remote mailboxes.
 * RETURN (SPECIAL-USE) changes nothing either: LIST always sends the
 * special-use attributes (RFC 6154 §2 allows it for every LIST). */
#define LIST_SEL_SUBSCRIBED 0x01
#define LIST_SEL_SPECIAL_USE 0x02
#define LIST_SEL_RECURSIVE 0x04
#define LIST_SEL_BASE (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIAL_USE)
#define LIST_RET_SUBSCRIBED 0x10
#define LIST_RET_CHILDREN 0x20
#define LIST_RET_STATUS 0x40
#define LIST_EXTENDED 0x80 /* the command used the RFC 5258 syntax */

/* Bytes of all patterns of one LIST together: each compiled pattern costs
 * about 32 bytes of matcher per byte. */
#define LIST_PATTERNS_MAX (4 * LIST_ARG_MAX)

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

/* Writes one LSUB response. A listing can be long (thousands of names), so
 * the line goes straight to the output and its encoding's memory is
 * released at once. */
static void lsub_line(struct mbox_ctx *x, struct buf *b, struct pool *scratch, const char *attrs,
		      const char *name)
{
	buf_reset(b);
	(void)buf_printf(b, "* LSUB (%s) \"/\" ", attrs);
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

/* The entries in the order of the responses; owned by cmd->pool. */
static const struct store_mailboxes_entry **sort_entries(struct imap_cmd *cmd,
							 const struct store_mailboxes_entry *entries,
							 size_t n)
{
	const struct store_mailboxes_entry **sorted = pool_alloc(cmd->pool, (n + 1) * sizeof(*sorted));

	for (size_t i = 0; i < n; i++)
		sorted[i] = &entries[i];
	qsort(sorted, n, sizeof(*sorted), entry_cmp);
	return sorted;
}

static void lsub_done(void *arg, const struct store_mailboxes_entry *entries, size_t n,
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
	sorted = sort_entries(cmd, entries, n);
	buf_init(&b, 0);
	scratch = pool_create(0);
	for (size_t i = 0; i < n; i++) {
		const char *name = sorted[i]->name;
		size_t len = strlen(name);
		uint64_t levels = 0;
		bool full = list_match_name(x->match, name, parents ? &levels : NULL);

		/* Matching levels above this name that are not subscribed
		 * (§6.3.9). In the sorted order an entry's inferiors directly
		 * follow it, so a level was dealt with before exactly when
		 * the previous entry lies in its subtree. */
		for (unsigned lv = 0, pos = 0; levels != 0 && pos < len; pos++) {
			if (name[pos] != '/')
				continue;
			if (((levels >> lv) & 1) &&
			    (i == 0 || !in_subtree(sorted[i - 1]->name, name, pos)))
				lsub_line(x, &b, scratch, "\\Noselect", pool_strndup(scratch, name, pos));
			if (++lv == 64)
				break;
		}
		if (full)
			lsub_line(x, &b, scratch, sorted[i]->noselect ? "\\Noselect" : "", name);
	}
	pool_destroy(&scratch);
	buf_free(&b);
	imap_cmd_finish(cmd, IMAP_OK, "%s completed", cmd->name);
}

void cmd_lsub(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	char *ref, *pattern;
	const char *err;

	x->lsub = true;
	if (cmd->argc != 2) {
		imap_cmd_finish(cmd, IMAP_BAD, "LSUB needs a reference and a mailbox pattern");
		return;
	}
	if (pattern_arg(cmd, &cmd->args[0], &ref, &err) < 0 ||
	    pattern_arg(cmd, &cmd->args[1], &pattern, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (pattern[0] == '\0') {
		/* §6.3.9 refers to §6.3.8: the delimiter and the root of the
		 * reference's hierarchy, which has no name here. */
		imap_untagged(s, "LSUB (\\Noselect) \"/\" \"\"");
		imap_cmd_finish(cmd, IMAP_OK, "LSUB completed");
		return;
	}
	x->match = list_match_compile(cmd->pool, list_match_join(cmd->pool, ref, pattern));
	if (store_mailboxes_lsub(worker_db(s->w), s->account_id, lsub_done, x, &err) < 0)
		imap_cmd_fail(cmd, err);
}

/* LIST answers with nodes: the store's entries (mailboxes and, with
 * subscriptions, subscribed names) and the levels of hierarchy above them
 * that have no entry but must be reported (RFC 3501 §6.3.8's levels for a
 * trailing '%', RFC 5258 §3.5's parents for CHILDINFO). */
struct list_node {
	const char *name; /* len bytes (a level is a prefix of an entry's name) */
	size_t len;
	const struct store_mailboxes_entry *e; /* NULL for a level */
	unsigned flags;                        /* LN_* */
};

#define LN_MATCHED 0x01   /* the name matches a pattern */
#define LN_SELECTED 0x02  /* an entry that meets the selection criteria */
#define LN_LEVEL 0x04     /* a matching level above a mailbox, reported for a
			   * pattern with a trailing '%' (RFC 3501 §6.3.8) */
#define LN_CI_SOURCE 0x08 /* selected but not matched: its matching
			   * ancestors get CHILDINFO (RFC 5258 §3.5) */
#define LN_CI_TARGET 0x10 /* a matching ancestor of a CI_SOURCE */

struct list_nodes {
	struct list_node *v;
	size_t n, cap;
};

#define NO_NODE ((size_t)-1)

static size_t node_add(struct list_nodes *ns, const char *name, size_t len,
		       const struct store_mailboxes_entry *e, unsigned flags)
{
	if (ns->n == ns->cap) {
		ns->cap = ns->cap == 0 ? 64 : ns->cap * 2;
		ns->v = realloc(ns->v, ns->cap * sizeof(*ns->v));
		if (ns->v == NULL)
			panic("LIST: out of memory");
	}
	ns->v[ns->n] = (struct list_node){name, len, e, flags};
	return ns->n++;
}

static int node_cmp(const void *a, const void *b)
{
	const struct list_node *na = a, *nb = b;

	return list_match_cmp_len(na->name, na->len, nb->name, nb->len);
}

/* True when node a lies below node root in the hierarchy. */
static bool node_below(const struct list_node *a, const struct list_node *root)
{
	return a->len > root->len && a->name[root->len] == '/' &&
	       memcmp(a->name, root->name, root->len) == 0;
}

/* RFC 5258 §3: "selection criteria" are all selection options together;
 * without SUBSCRIBED or SPECIAL-USE they select the existing mailboxes. */
static bool list_selected(unsigned flags, const struct store_mailboxes_entry *e)
{
	if (!(flags & LIST_SEL_BASE))
		return e->exists;
	if ((flags & LIST_SEL_SUBSCRIBED) && !e->subscribed)
		return false;
	if ((flags & LIST_SEL_SPECIAL_USE) && (!e->exists || e->special_use == NULL))
		return false;
	return true;
}

/* Builds the nodes from the sorted entries: one per entry, and one per
 * level that must be reported and is no entry. Each level is made once:
 * path holds the levels of the previous entry (sorted entries share their
 * common levels with the previous one). The result is unsorted. */
static void list_nodes_build(struct mbox_ctx *x, const struct store_mailboxes_entry *const *sorted,
			     size_t n, struct list_nodes *ns)
{
	unsigned f = x->list_flags;
	/* Levels of §6.3.8 belong to listing the existing mailboxes. */
	bool level_mode = !(f & LIST_SEL_BASE);
	bool recursive = (f & LIST_SEL_RECURSIVE) != 0;
	struct {
		size_t len, idx;
	} path[MAILBOX_DEPTH_MAX + 1];
	unsigned depth = 0;
	const char *prev = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct store_mailboxes_entry *e = sorted[i];
		const char *name = e->name;
		uint64_t any = 0, pct = 0, want_level, want_ci;
		bool matched = list_match_set_name(&x->set, name, recursive ? &any : NULL,
						   level_mode ? &pct : NULL);
		bool selected = list_selected(f, e);
		bool source = recursive && selected && !matched;
		size_t lcp = 0;
		unsigned keep = 0, d = 0;

		want_level = level_mode && e->exists ? pct : 0;
		want_ci = source ? any : 0;
		if (prev != NULL)
			while (prev[lcp] != '\0' && prev[lcp] == name[lcp])
				lcp++;
		/* The previous entry's levels that are levels of this name. */
		while (keep < depth && path[keep].len <= lcp && name[path[keep].len] == '/')
			keep++;
		depth = keep;
		for (size_t pos = 0;; pos++) {
			unsigned fl = 0;

			if (name[pos] != '/' && name[pos] != '\0')
				continue;
			if (name[pos] == '\0') {
				size_t idx = node_add(ns, name, pos, e,
						      (matched ? LN_MATCHED : 0) |
							      (selected ? LN_SELECTED : 0) |
							      (source ? LN_CI_SOURCE : 0));
				if (d <= MAILBOX_DEPTH_MAX) {
					path[d].len = pos;
					path[d].idx = idx;
					depth = d + 1;
				} else {
					depth = 0; /* deeper than names may be: no sharing */
				}
				break;
			}
			/* The level name[0..pos), at depth d. */
			if (d < 64) {
				if ((want_level >> d) & 1)
					fl |= LN_LEVEL;
				if ((want_ci >> d) & 1)
					fl |= LN_CI_TARGET;
			}
			if (d < depth) {
				if (fl != 0 && path[d].idx == NO_NODE)
					path[d].idx = node_add(ns, name, pos, NULL, fl);
				else if (fl != 0)
					ns->v[path[d].idx].flags |= fl;
			} else if (d <= MAILBOX_DEPTH_MAX) {
				path[d].len = pos;
				path[d].idx = fl != 0 ? node_add(ns, name, pos, NULL, fl) : NO_NODE;
				depth = d + 1;
			}
			d++;
		}
		prev = name;
	}
}

/* Writes the LIST response of node i (and its STATUS, RFC 5819). has_children:
 * a mailbox lies below it; childinfo: RECURSIVEMATCH found a selected name
 * below it that the patterns do not match. */
static void list_node_write(struct mbox_ctx *x, struct buf *b, struct pool *scratch,
			    const struct list_node *node, bool has_children, bool childinfo)
{
	const struct store_mailboxes_entry *e = node->e;
	unsigned f = x->list_flags;
	bool exists = e != NULL && e->exists;
	const char *sep = "";

	buf_reset(b);
	(void)buf_append_str(b, "* LIST (");
	if (!exists) {
		/* RFC 5258 §3: \NonExistent (which implies \Noselect) for
		 * the extended syntax; RFC 3501 §6.3.8's \Noselect else. */
		(void)buf_append_str(b, (f & LIST_EXTENDED) ? "\\NonExistent" : "\\Noselect");
		sep = " ";
	} else if (e->noselect) {
		(void)buf_append_str(b, "\\Noselect");
		sep = " ";
	}
	/* CHILDREN (RFC 3348, RFC 5258 §4) always, except that a name
	 * without a mailbox is only said to have none when asked. */
	if (exists || has_children || (f & LIST_RET_CHILDREN)) {
		(void)buf_printf(b, "%s%s", sep, has_children ? "\\HasChildren" : "\\HasNoChildren");
		sep = " ";
	}
	if ((f & LIST_RET_SUBSCRIBED) && e != NULL && e->subscribed) {
		(void)buf_printf(b, "%s\\Subscribed", sep);
		sep = " ";
	}
	if (exists && e->special_use != NULL)
		(void)buf_printf(b, "%s\\%s", sep, e->special_use);
	(void)buf_append_str(b, ") \"/\" ");
	(void)mailbox_name_write(b, scratch, pool_strndup(scratch, node->name, node->len));
	if (childinfo) {
		/* RFC 5258 §3.5: the selection criteria that caused it. */
		(void)buf_append_str(b, " (\"CHILDINFO\" (");
		if (f & LIST_SEL_SUBSCRIBED)
			(void)buf_append_str(b, (f & LIST_SEL_SPECIAL_USE) ? "\"SUBSCRIBED\" "
									  : "\"SUBSCRIBED\"");
		if (f & LIST_SEL_SPECIAL_USE)
			(void)buf_append_str(b, "\"SPECIAL-USE\"");
		(void)buf_append_str(b, "))");
	}
	(void)buf_append(b, "\r\n", 2);
	imap_write(x->cmd->s, b->data, b->len);
	/* RFC 5819 §2: STATUS right after the LIST response of each
	 * selectable mailbox. */
	if ((f & LIST_RET_STATUS) && exists && !e->noselect)
		status_write(x, b, scratch, e->name, &e->status);
	pool_clear(scratch);
}

static void list_done(void *arg, const struct store_mailboxes_entry *entries, size_t n,
		      const char *error)
{
	struct mbox_ctx *x = arg;
	struct imap_cmd *cmd = x->cmd;
	struct list_nodes ns = {NULL, 0, 0};
	size_t *next_exists, *next_source, ne, nsrc;
	bool recursive = (x->list_flags & LIST_SEL_RECURSIVE) != 0;
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
	list_nodes_build(x, sort_entries(cmd, entries, n), n, &ns);
	if (ns.n > 0)
		qsort(ns.v, ns.n, sizeof(*ns.v), node_cmp);
	/* In the sorted order the nodes below a node directly follow it: it
	 * has a mailbox (a CHILDINFO source) below it exactly when the next
	 * one after it lies below it. */
	next_exists = malloc((ns.n + 1) * sizeof(*next_exists));
	next_source = malloc((ns.n + 1) * sizeof(*next_source));
	if (next_exists == NULL || next_source == NULL)
		panic("LIST: out of memory");
	ne = nsrc = ns.n;
	for (size_t i = ns.n; i-- > 0;) {
		next_exists[i] = ne;
		next_source[i] = nsrc;
		if (ns.v[i].e != NULL && ns.v[i].e->exists)
			ne = i;
		if (ns.v[i].flags & LN_CI_SOURCE)
			nsrc = i;
	}

	buf_init(&b, 0);
	scratch = pool_create(0);
	for (size_t i = 0; i < ns.n; i++) {
		const struct list_node *node = &ns.v[i];
		bool children = next_exists[i] < ns.n && node_below(&ns.v[next_exists[i]], node);
		bool childinfo = recursive && next_source[i] < ns.n &&
				 node_below(&ns.v[next_source[i]], node);
		bool out;

		if (node->e != NULL)
			out = ((node->flags & LN_MATCHED) &&
			       ((node->flags & LN_SELECTED) || childinfo)) ||
			      (node->flags & LN_LEVEL);
		else
			out = (node->flags & LN_LEVEL) || ((node->flags & LN_CI_TARGET) && childinfo);
		if (out)
			list_node_write(x, &b, scratch, node, children, childinfo);
	}
	pool_destroy(&scratch);
	buf_free(&b);
	free(next_exists);
	free(next_source);
	free(ns.v);
	imap_cmd_finish(cmd, IMAP_OK, "LIST completed");
}

/* Adds one pattern (joined with the reference) to x->set; *total counts the
 * bytes of all patterns. */
static int list_pattern(struct mbox_ctx *x, const char *ref, const struct imap_arg *arg,
			size_t *total, const char **error_r)
{
	struct imap_cmd *cmd = x->cmd;
	char *pattern;

	if (pattern_arg(cmd, arg, &pattern, error_r) < 0)
		return -1;
	*total += arg->len;
	if (*total > LIST_PATTERNS_MAX) {
		*error_r = "Mailbox patterns too long";
		return -1;
	}
	/* RFC 5258 §3: in an extended LIST an empty pattern is no request
	 * for the delimiter; it matches nothing. */
	if (pattern[0] != '\0')
		list_match_set_add(cmd->pool, &x->set, list_match_join(cmd->pool, ref, pattern));
	return 0;
}

/* LIST selection options (RFC 5258 §3.1, RFC 6154 §4). */
static int list_select_opts(struct mbox_ctx *x, const struct imap_arg *arg, const char **error_r)
{
	static const struct {
		const char *name;
		unsigned flag;
	} opts[] = {{"SUBSCRIBED", LIST_SEL_SUBSCRIBED},
		    {"REMOTE", 0},
		    {"RECURSIVEMATCH", LIST_SEL_RECURSIVE},
		    {"SPECIAL-USE", LIST_SEL_SPECIAL_USE}};

	for (unsigned i = 0; i < arg->list_count; i++) {
		const struct imap_arg *a = &arg->list[i];
		size_t k = sizeof(opts) / sizeof(opts[0]);
		if (a->type == IMAP_ARG_ATOM)
			for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
				if (strcasecmp(a->str, opts[k].name) == 0)
					break;
		if (k == sizeof(opts) / sizeof(opts[0])) {
			/* §3: options the server does not recognise are BAD. */
			*error_r = "Unknown LIST selection option";
			return -1;
		}
		x->list_flags |= opts[k].flag;
	}
	if ((x->list_flags & LIST_SEL_RECURSIVE) && !(x->list_flags & LIST_SEL_BASE)) {
		*error_r = "RECURSIVEMATCH needs another selection option";
		return -1;
	}
	return 0;
}

/* LIST return options (RFC 5258 §3.2, RFC 5819, RFC 6154 §4). */
static int list_return_opts(struct mbox_ctx *x, const struct imap_arg *arg, const char **error_r)
{
	for (unsigned i = 0; i < arg->list_count; i++) {
		const struct imap_arg *a = &arg->list[i];
		if (a->type != IMAP_ARG_ATOM) {
			*error_r = "Unknown LIST return option";
			return -1;
		}
		if (strcasecmp(a->str, "SUBSCRIBED") == 0) {
			x->list_flags |= LIST_RET_SUBSCRIBED;
		} else if (strcasecmp(a->str, "CHILDREN") == 0) {
			x->list_flags |= LIST_RET_CHILDREN;
		} else if (strcasecmp(a->str, "SPECIAL-USE") == 0) {
			/* always sent */
		} else if (strcasecmp(a->str, "STATUS") == 0 && i + 1 < arg->list_count) {
			/* Given twice, the items add up (§3: as if once). */
			if (status_items(x, &arg->list[++i], error_r) < 0)
				return -1;
			x->list_flags |= LIST_RET_STATUS;
		} else {
			*error_r = "Unknown LIST return option";
			return -1;
		}
	}
	return 0;
}

void cmd_list(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	const struct imap_arg *args = cmd->args, *pat;
	unsigned argc = cmd->argc, i = 0;
	size_t total = 0;
	char *ref, *pattern;
	const char *err;

	/* RFC 5258 §1: the extended syntax is selection options first, a
	 * list of patterns, or return options at the end. */
	if (argc > 0 && args[0].type == IMAP_ARG_LIST) {
		x->list_flags |= LIST_EXTENDED;
		if (list_select_opts(x, &args[0], &err) < 0) {
			imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
			return;
		}
		i = 1;
	}
	if (argc - i < 2 || (argc - i != 2 && argc - i != 4)) {
		imap_cmd_finish(cmd, IMAP_BAD, "LIST needs a reference and a mailbox pattern");
		return;
	}
	if (argc - i == 4) {
		if (args[i + 2].type != IMAP_ARG_ATOM || strcasecmp(args[i + 2].str, "RETURN") != 0 ||
		    args[i + 3].type != IMAP_ARG_LIST) {
			imap_cmd_finish(cmd, IMAP_BAD, "LIST return options expected");
			return;
		}
		x->list_flags |= LIST_EXTENDED;
		if (list_return_opts(x, &args[i + 3], &err) < 0) {
			imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
			return;
		}
	}
	if (pattern_arg(cmd, &args[i], &ref, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	pat = &args[i + 1];
	if (pat->type == IMAP_ARG_LIST) {
		x->list_flags |= LIST_EXTENDED;
		if (pat->list_count == 0) {
			imap_cmd_finish(cmd, IMAP_BAD, "Empty list of mailbox patterns");
			return;
		}
		for (unsigned k = 0; k < pat->list_count; k++)
			if (list_pattern(x, ref, &pat->list[k], &total, &err) < 0) {
				imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
				return;
			}
	} else if (!(x->list_flags & LIST_EXTENDED)) {
		if (pattern_arg(cmd, pat, &pattern, &err) < 0) {
			imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
			return;
		}
		if (pattern[0] == '\0') {
			/* §6.3.8: the delimiter and the root of the
			 * reference's hierarchy, which has no name here. */
			imap_untagged(s, "LIST (\\Noselect) \"/\" \"\"");
			imap_cmd_finish(cmd, IMAP_OK, "LIST completed");
			return;
		}
		list_match_set_add(cmd->pool, &x->set, list_match_join(cmd->pool, ref, pattern));
	} else if (list_pattern(x, ref, pat, &total, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	/* RFC 5258 §3.1: the SUBSCRIBED selection implies the return option. */
	if (x->list_flags & LIST_SEL_SUBSCRIBED)
		x->list_flags |= LIST_RET_SUBSCRIBED;
	if (x->set.n == 0) {
		imap_cmd_finish(cmd, IMAP_OK, "LIST completed");
		return;
	}
	if (store_mailboxes_list(worker_db(s->w), s->account_id,
				 (x->list_flags & LIST_RET_SUBSCRIBED) != 0,
				 (x->list_flags & LIST_RET_STATUS) ? status_want(x) : 0, list_done, x,
				 &err) < 0)
		imap_cmd_fail(cmd, err);
}

/* -- STATUS -------------------------------------------------------------------- */

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
	status_write(x, &b, cmd->pool, x->name, st);
	buf_free(&b);
	imap_cmd_finish(cmd, IMAP_OK, "STATUS completed");
}

void cmd_status(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct mbox_ctx *x = ctx_new(cmd);
	const char *err;

	if (cmd->argc != 2 || cmd->args[1].type != IMAP_ARG_LIST || cmd->args[1].list_count == 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "STATUS needs a mailbox name and a list of items");
		return;
	}
	if (name_arg(cmd, &cmd->args[0], &x->name, &err) < 0 ||
	    status_items(x, &cmd->args[1], &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (store_mailboxes_status(worker_db(s->w), s->account_id, x->name, status_want(x),
				   status_done, x, &err) < 0)
		imap_cmd_fail(cmd, err);
}
