#include "imap_cmd.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define ANY (IMAP_STATE_NOT_AUTH | IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define NOT_AUTH IMAP_STATE_NOT_AUTH
#define AUTH (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define SELECTED IMAP_STATE_SELECTED

/* Sorted by name: imap_cmd_find does a binary search, and test_imap_cmd
 * checks the order. */
static const struct imap_cmd_def imap_cmds[] = {
	{"APPEND", cmd_append, AUTH, 0},
	{"AUTHENTICATE", cmd_authenticate, NOT_AUTH, 0},
	{"CAPABILITY", cmd_capability, ANY, 0},
	{"CHECK", cmd_check, SELECTED, 0},
	{"CLOSE", cmd_close, SELECTED, 0},
	{"COPY", cmd_copy, SELECTED, IMAP_CMD_UID},
	{"CREATE", cmd_create, AUTH, 0},
	{"DELETE", cmd_delete, AUTH, 0},
	{"ENABLE", cmd_enable, AUTH, 0},
	{"EXAMINE", cmd_examine, AUTH, 0},
	{"EXPUNGE", cmd_expunge, SELECTED, IMAP_CMD_UID}, /* UID EXPUNGE: RFC 4315 */
	{"FETCH", cmd_fetch, SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE},
	{"GETQUOTA", cmd_getquota, AUTH, 0},
	{"GETQUOTAROOT", cmd_getquotaroot, AUTH, 0},
	{"ID", cmd_id, ANY, 0},
	{"IDLE", cmd_idle, AUTH, 0},
	{"LIST", cmd_list, AUTH, 0},
	{"LOGIN", cmd_login, NOT_AUTH, 0},
	{"LOGOUT", cmd_logout, ANY, 0},
	{"LSUB", cmd_lsub, AUTH, 0},
	{"MOVE", cmd_move, SELECTED, IMAP_CMD_UID},
	{"NAMESPACE", cmd_namespace, AUTH, 0},
	{"NOOP", cmd_noop, ANY, 0},
	{"RENAME", cmd_rename, AUTH, 0},
	{"SEARCH", cmd_search, SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE},
	{"SELECT", cmd_select, AUTH, 0},
	{"SETQUOTA", cmd_setquota, AUTH, 0},
	{"STARTTLS", cmd_starttls, NOT_AUTH, 0},
	{"STATUS", cmd_status, AUTH, 0},
	{"STORE", cmd_store, SELECTED, IMAP_CMD_UID | IMAP_CMD_NO_EXPUNGE},
	{"SUBSCRIBE", cmd_subscribe, AUTH, 0},
	{"UNSELECT", cmd_unselect, SELECTED, 0},
	{"UNSUBSCRIBE", cmd_unsubscribe, AUTH, 0},
};
#define N_CMDS (sizeof(imap_cmds) / sizeof(imap_cmds[0]))

const struct imap_cmd_def *imap_cmd_table(unsigned *count_r)
{
	*count_r = N_CMDS;
	return imap_cmds;
}

const struct imap_cmd_def *imap_cmd_find(const char *name)
{
	size_t lo = 0, hi = N_CMDS;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, imap_cmds[mid].name);
		if (c == 0)
			return &imap_cmds[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Extensions advertised after login, each only when complete. One line
 * per extension: each names what makes it true. */
static const char *const imap_caps[] = {
	"CHILDREN", /* LIST returns \HasChildren/\HasNoChildren (RFC 3348) */
	"CONDSTORE", /* RFC 7162 §3.1: every mailbox keeps mod-sequences */
	"CREATE-SPECIAL-USE", /* RFC 6154 §3: CREATE name (USE (\Sent)) */
	"ENABLE",   /* RFC 5161 */
	"ID",       /* RFC 2971 */
	"IDLE",     /* RFC 2177: pushed through notify.c */
	"LIST-EXTENDED", /* RFC 5258: selection/return options, several patterns */
	"LIST-STATUS", /* RFC 5819: LIST ... RETURN (STATUS (...)) */
	"MOVE",     /* RFC 6851: mail_move, COPYUID before the EXPUNGEs */
	"MULTIAPPEND", /* RFC 3502: one mail_append_batch, all or nothing */
	"NAMESPACE", /* RFC 2342: one personal namespace */
	"QRESYNC",  /* RFC 7162 §3.2: VANISHED from `expunged` (schema/0011) */
	"QUOTA",    /* RFC 9208: roots "" (account) and "domain"; cmd_quota.c */
	"QUOTA=RES-MESSAGE", /* with STATUS DELETED */
	"QUOTA=RES-STORAGE", /* with STATUS DELETED-STORAGE */
	"SPECIAL-USE", /* RFC 6154: every LIST, LIST (SPECIAL-USE), RETURN (SPECIAL-USE) */
	"UIDPLUS",  /* RFC 4315: APPENDUID, COPYUID, UID EXPUNGE */
	"UNSELECT", /* RFC 3691 */
	/* APPENDLIMIT=<max_message_size> (RFC 7889) depends on the config:
	 * imap_session_capabilities() adds it. */
};

const char *imap_cmd_capabilities(void)
{
	static char caps[512];

	if (caps[0] == '\0') {
		size_t len = 0;
		for (size_t i = 0; i < sizeof(imap_caps) / sizeof(imap_caps[0]); i++)
			len += (size_t)snprintf(caps + len, sizeof(caps) - len, " %s", imap_caps[i]);
	}
	return caps;
}

void imap_cmd_dispatch(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const struct imap_cmd_def *def;

	if (strcmp(cmd->name, "UID") == 0) {
		if (cmd->argc == 0 || cmd->args[0].type != IMAP_ARG_ATOM) {
			imap_cmd_finish(cmd, IMAP_BAD, "UID needs a command");
			return;
		}
		char sub[16];
		size_t i;
		/* Command names are case-insensitive, also after UID. */
		for (i = 0; i < cmd->args[0].len && i < sizeof(sub) - 1; i++)
			sub[i] = (char)toupper((unsigned char)cmd->args[0].str[i]);
		sub[i] = '\0';
		def = cmd->args[0].len < sizeof(sub) ? imap_cmd_find(sub) : NULL;
		if (def == NULL || !(def->flags & IMAP_CMD_UID)) {
			imap_cmd_finish(cmd, IMAP_BAD, "Unknown UID command");
			return;
		}
		cmd->uid = true;
		cmd->name = def->name;
		cmd->args++;
		cmd->argc--;
	} else {
		def = imap_cmd_find(cmd->name);
		if (def == NULL) {
			imap_cmd_finish(cmd, IMAP_BAD, "Unknown command");
			return;
		}
		cmd->name = def->name;
		cmd->no_expunge = (def->flags & IMAP_CMD_NO_EXPUNGE) != 0;
	}
	if (!(def->states & s->state)) {
		imap_cmd_finish(cmd, IMAP_BAD, "%s",
				s->state == IMAP_STATE_NOT_AUTH ? "Log in first"
				: def->states == NOT_AUTH	? "Already logged in"
								: "Select a mailbox first");
		return;
	}
	def->fn(cmd);
}
