/* QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA.
 *
 * Choices where the RFC leaves room:
 * - Quota roots. "" is the account: STORAGE (its quota_bytes) and MESSAGE
 *   (its quota_messages). "domain" is the account's domain: STORAGE only
 *   (domains.quota_bytes), used by all accounts of the domain together, as
 *   the delivery and APPEND checks of schema/0003 count it. Every mailbox
 *   of the account has the same roots. A second root rather than a limit
 *   folded into the account's: the domain's limit moves with the other
 *   accounts' usage, and a client that shows each root explains that.
 * - A QUOTA response needs at least one resource with a limit (§6.1's
 *   quota-list), and an unlimited resource has none. So a resource is
 *   reported only when it is limited, and a root only while it has a
 *   limited resource: for an account without any limit GETQUOTAROOT names
 *   no root ("* QUOTAROOT INBOX") and GETQUOTA "" is NO [NONEXISTENT].
 * - STORAGE counts units of 1024 octets (§5.1.1): usage rounded up (a
 *   message of 10 octets uses space), the limit rounded down (never promise
 *   more than is allowed). The usage is the sum of the messages' sizes per
 *   mailbox that holds them, exactly what the limit is checked against.
 * - Limits are the operator's (mailstead-admin account set --quota):
 *   SETQUOTA, once its syntax is checked, is NO [NOPERM], and QUOTASET is
 *   not advertised.
 * - The optional QUOTA response with NO [OVERQUOTA] (§4.3) is not sent. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap_cmd.h"
#include "mailbox_name.h"
#include "pool.h"
#include "store_quota.h"

#define ROOT_ACCOUNT ""
#define ROOT_DOMAIN "domain"

struct quota_ctx {
	struct imap_cmd *cmd;
	char *mailbox;    /* GETQUOTAROOT */
	const char *root; /* GETQUOTA: ROOT_ACCOUNT or ROOT_DOMAIN */
};

static bool account_root(const struct store_quota *q)
{
	return q->bytes_limit > 0 || q->messages_limit > 0;
}

static bool domain_root(const struct store_quota *q)
{
	return q->domain_bytes_limit > 0;
}

static unsigned long long kib_up(uint64_t bytes)
{
	return (unsigned long long)(bytes / 1024 + (bytes % 1024 != 0));
}

/* "* QUOTA root (resource usage limit ...)" of a root that exists. */
static void quota_write(struct imap_cmd *cmd, const char *root, const struct store_quota *q)
{
	struct buf b;

	buf_init(&b, 0);
	(void)buf_append_str(&b, "QUOTA ");
	(void)imap_quote(&b, root, strlen(root));
	if (strcmp(root, ROOT_DOMAIN) == 0) {
		(void)buf_printf(&b, " (STORAGE %llu %llu)", kib_up(q->domain_bytes_used),
				 (unsigned long long)(q->domain_bytes_limit / 1024));
	} else {
		(void)buf_append_str(&b, " (");
		if (q->bytes_limit > 0)
			(void)buf_printf(&b, "STORAGE %llu %llu", kib_up(q->bytes_used),
					 (unsigned long long)(q->bytes_limit / 1024));
		if (q->messages_limit > 0)
			(void)buf_printf(&b, "%sMESSAGE %llu %llu", q->bytes_limit > 0 ? " " : "",
					 (unsigned long long)q->messages_used,
					 (unsigned long long)q->messages_limit);
		(void)buf_append_str(&b, ")");
	}
	imap_untagged(cmd->s, "%s", b.data);
	buf_free(&b);
}

/* -- GETQUOTAROOT -------------------------------------------------------------- */

static void getquotaroot_done(void *arg, int found, const struct store_quota *q, const char *error)
{
	struct quota_ctx *x = arg;
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
	buf_init(&b, 0);
	(void)buf_append_str(&b, "QUOTAROOT ");
	(void)mailbox_name_write(&b, cmd->pool, x->mailbox);
	if (account_root(q))
		(void)buf_append_str(&b, " \"\"");
	if (domain_root(q))
		(void)buf_append_str(&b, " \"" ROOT_DOMAIN "\"");
	imap_untagged(cmd->s, "%s", b.data);
	buf_free(&b);
	if (account_root(q))
		quota_write(cmd, ROOT_ACCOUNT, q);
	if (domain_root(q))
		quota_write(cmd, ROOT_DOMAIN, q);
	imap_cmd_finish(cmd, IMAP_OK, "GETQUOTAROOT completed");
}

void cmd_getquotaroot(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct quota_ctx *x = pool_alloc(cmd->pool, sizeof(*x));
	const char *err;

	x->cmd = cmd;
	if (cmd->argc != 1) {
		imap_cmd_finish(cmd, IMAP_BAD, "GETQUOTAROOT needs one mailbox name");
		return;
	}
	if (mailbox_name_from_arg(cmd->pool, &cmd->args[0], &x->mailbox, &err) < 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s", err);
		return;
	}
	if (store_quota_get(worker_db(s->w), s->account_id, x->mailbox, getquotaroot_done, x,
			    &err) < 0)
		imap_cmd_fail(cmd, err);
}

/* -- GETQUOTA ------------------------------------------------------------------ */

static void getquota_done(void *arg, int found, const struct store_quota *q, const char *error)
{
	struct quota_ctx *x = arg;
	struct imap_cmd *cmd = x->cmd;

	if (found < 0) {
		imap_cmd_fail(cmd, error);
		return;
	}
	if (imap_session_gone(cmd->s)) {
		imap_cmd_finish(cmd, IMAP_NO, "Connection gone");
		return;
	}
	if (strcmp(x->root, ROOT_DOMAIN) == 0 ? !domain_root(q) : !account_root(q)) {
		imap_cmd_finish(cmd, IMAP_NO, "[NONEXISTENT] No such quota root");
		return;
	}
	quota_write(cmd, x->root, q);
	imap_cmd_finish(cmd, IMAP_OK, "GETQUOTA completed");
}

void cmd_getquota(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	struct quota_ctx *x = pool_alloc(cmd->pool, sizeof(*x));
	const struct imap_arg *a;
	const char *err;

	x->cmd = cmd;
	if (cmd->argc != 1 || !imap_arg_is_string(&cmd->args[0])) {
		imap_cmd_finish(cmd, IMAP_BAD, "GETQUOTA needs one quota root name");
		return;
	}
	a = &cmd->args[0];
	/* Root names are compared exactly (a literal may hold a NUL). */
	if (a->len == 0)
		x->root = ROOT_ACCOUNT;
	else if (a->len == strlen(ROOT_DOMAIN) && memcmp(a->str, ROOT_DOMAIN, a->len) == 0)
		x->root = ROOT_DOMAIN;
	else {
		imap_cmd_finish(cmd, IMAP_NO, "[NONEXISTENT] No such quota root");
		return;
	}
	if (store_quota_get(worker_db(s->w), s->account_id, NULL, getquota_done, x, &err) < 0)
		imap_cmd_fail(cmd, err);
}

/* -- SETQUOTA ------------------------------------------------------------------ */

static bool is_number(const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_ATOM || a->len == 0 || a->len > 19)
		return false;
	for (size_t i = 0; i < a->len; i++)
		if (a->str[i] < '0' || a->str[i] > '9')
			return false;
	return true;
}

void cmd_setquota(struct imap_cmd *cmd)
{
	const struct imap_arg *list = cmd->argc == 2 ? &cmd->args[1] : NULL;

	/* §6.1: SETQUOTA quota-root-name (resource-name SP limit ...). */
	if (list == NULL || !imap_arg_is_string(&cmd->args[0]) || list->type != IMAP_ARG_LIST ||
	    list->list_count % 2 != 0) {
		imap_cmd_finish(cmd, IMAP_BAD, "SETQUOTA needs a quota root and a list of limits");
		return;
	}
	for (unsigned i = 0; i < list->list_count; i += 2)
		if (list->list[i].type != IMAP_ARG_ATOM || !is_number(&list->list[i + 1])) {
			imap_cmd_finish(cmd, IMAP_BAD, "SETQUOTA limits are resource names and numbers");
			return;
		}
	imap_cmd_finish(cmd, IMAP_NO, "[NOPERM] Quotas are set by the administrator");
}
