/* The IMAP command table and dispatcher.
 *
 * One sorted static table maps command names to handlers and the states in
 * which they are valid; the dispatcher checks state (and unwraps UID) so a
 * handler only sees calls that may run. Handlers are declared here and live
 * in cmd_<group>.c files. */
#ifndef MAILSTEAD_IMAP_CMD_H
#define MAILSTEAD_IMAP_CMD_H

#include "imap_session.h"

struct imap_cmd_def {
	const char *name;
	imap_cmd_fn *fn;
	unsigned states; /* IMAP_STATE_* bits */
	unsigned flags;  /* IMAP_CMD_* */
};

#define IMAP_CMD_UID 1        /* valid after UID */
#define IMAP_CMD_NO_EXPUNGE 2 /* no EXPUNGE responses while it runs (non-UID form) */

/* Finds name (uppercase) in the table; NULL when unknown. */
const struct imap_cmd_def *imap_cmd_find(const char *name);

/* The table and its size, for the unit test of its order. */
const struct imap_cmd_def *imap_cmd_table(unsigned *count_r);

/* Checks state and runs the handler (or answers BAD). */
void imap_cmd_dispatch(struct imap_cmd *cmd);

/* Extensions advertised after login (each only when complete), starting
 * with a space, e.g. " UIDPLUS MOVE". */
const char *imap_cmd_capabilities(void);

/* Handlers. */
imap_cmd_fn cmd_authenticate, cmd_capability, cmd_login, cmd_logout, cmd_noop, cmd_starttls;
imap_cmd_fn cmd_select, cmd_examine;
imap_cmd_fn cmd_enable, cmd_id, cmd_idle, cmd_namespace, cmd_unselect;
imap_cmd_fn cmd_search;
imap_cmd_fn cmd_create, cmd_delete, cmd_list, cmd_lsub, cmd_rename, cmd_status, cmd_subscribe,
	cmd_unsubscribe;
imap_cmd_fn cmd_check, cmd_close, cmd_copy, cmd_expunge, cmd_move, cmd_store;
imap_cmd_fn cmd_append, cmd_fetch;
imap_cmd_fn cmd_getquota, cmd_getquotaroot, cmd_setquota;

/* Turns CONDSTORE on for the session because a command used it (RFC 7162
 * §3.1: MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE, SELECT (CONDSTORE), STATUS
 * HIGHESTMODSEQ): from now on every FETCH response about flag changes
 * carries MODSEQ. */
void imap_condstore_enable(struct imap_session *s);

#endif
