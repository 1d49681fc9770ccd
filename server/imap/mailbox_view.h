/* A session's view of its selected mailbox (RFC 3501 §2.3.1.2).
 *
 * Message sequence numbers are positions in the view's sorted UID array.
 * The view changes only at points the protocol allows: mailbox_view_sync,
 * run before each tagged reply, asks the store what changed since the
 * view's modseq (new messages, flag changes, expunges by any session on
 * any worker or host) and reports it as untagged EXISTS / RECENT / FETCH /
 * EXPUNGE; expunges are held back while a FETCH, STORE or SEARCH runs
 * (RFC 3501 §7.4.1) and the sequence numbers stay as the client knows them. */
#ifndef MAILSTEAD_MAILBOX_VIEW_H
#define MAILSTEAD_MAILBOX_VIEW_H

#include <stdbool.h>
#include <stdint.h>

struct imap_cmd;
struct imap_session;
struct mailbox_view;
struct pool;
struct store_changes;
struct store_sync;

/* What a SELECT read in one snapshot. */
struct mailbox_view_init {
	int64_t mailbox_id;
	const char *name; /* UTF-8 */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	const uint32_t *uids; /* sorted ascending */
	uint32_t count;
	uint32_t recent_from; /* uids >= this (and < uidnext) are \Recent here */
	bool readonly;
};

/* Creates the view (owned by the session; mailbox_view_close frees it) and
 * watches the mailbox for changes by anyone (notify.h): a change wakes the
 * session's running command (IDLE). */
struct mailbox_view *mailbox_view_create(struct imap_session *s,
					 const struct mailbox_view_init *init);

/* Frees the view and sets *view_r to NULL. */
void mailbox_view_close(struct imap_session *s, struct mailbox_view **view_r);

/* Reports changes made since the view's state as untagged responses where
 * cmd allows, then calls done(arg). Always calls done, also on errors (a
 * failed sync is retried at the next command). */
void mailbox_view_sync(struct imap_session *s, struct imap_cmd *cmd, void (*done)(void *arg),
		       void *arg);

/* True when the view was read from the database (SELECT, a sync) after the
 * running command's last input: then every change committed before it is
 * in the view, and the sync before the tagged reply has nothing to add
 * that it must report (imap_cmd_finish skips it). */
bool mailbox_view_fresh(const struct imap_session *s);

/* A sync in the running command's own database request (a mutation of
 * the store that takes a struct store_sync): fills *sync_r for the
 * selected mailbox and returns true, or false when nothing is selected.
 * The command then passes what its callback got to
 * mailbox_view_sync_apply (NULL too), after its own responses. */
bool mailbox_view_sync_args(struct imap_session *s, struct store_sync *sync_r);

/* Reports c as mailbox_view_sync would (where cmd allows) and marks the
 * view fresh; with c NULL (the request failed) does nothing, and the sync
 * before the tagged reply asks on its own. */
void mailbox_view_sync_apply(struct imap_session *s, struct imap_cmd *cmd,
			     const struct store_changes *c);

/* A copy of c (its arrays and strings too) in pool, for a command that
 * applies it after writing responses built from the same request (FETCH:
 * the answer reaches it before its last batch is written). NULL for NULL. */
const struct store_changes *mailbox_view_changes_copy(struct pool *pool,
						      const struct store_changes *c);

int64_t mailbox_view_id(const struct mailbox_view *v);
const char *mailbox_view_name(const struct mailbox_view *v);
bool mailbox_view_readonly(const struct mailbox_view *v);
uint32_t mailbox_view_uidvalidity(const struct mailbox_view *v);
uint32_t mailbox_view_count(const struct mailbox_view *v);
uint64_t mailbox_view_modseq(const struct mailbox_view *v);
/* UIDNEXT as of the view's modseq: every UID below it was assigned. */
uint32_t mailbox_view_uidnext(const struct mailbox_view *v);

/* UID of sequence number seq (1-based), 0 when out of range. */
uint32_t mailbox_view_uid(const struct mailbox_view *v, uint32_t seq);

/* Sequence number of uid, 0 when the view does not hold it. */
uint32_t mailbox_view_seq(const struct mailbox_view *v, uint32_t uid);

/* Highest UID in the view (0 when empty): what '*' means in a UID set. */
uint32_t mailbox_view_max_uid(const struct mailbox_view *v);

/* True when uid is \Recent in this session. */
bool mailbox_view_is_recent(const struct mailbox_view *v, uint32_t uid);
uint32_t mailbox_view_recent_count(const struct mailbox_view *v);

/* The session's own change: these UIDs (ascending) are gone (its
 * EXPUNGE/MOVE). Sends "* n EXPUNGE" for each, or with QRESYNC enabled one
 * "* VANISHED uids" (RFC 7162 §3.2.10.2); the caller runs where that is
 * allowed. Every FETCH of a flag change the view reports carries MODSEQ
 * once CONDSTORE is on. */
void mailbox_view_expunged(struct imap_session *s, const uint32_t *uids, uint32_t n);

/* The session's own flag change (STORE): the rows that got modseq have been
 * reported by the command itself (or, with .SILENT, must not be), so the
 * next sync does not report them again as FETCH (RFC 3501 §6.4.6). A row
 * another session changes later has a higher modseq and is reported. */
void mailbox_view_own_modseq(struct mailbox_view *v, uint64_t modseq);

#endif

struct seqset;

/* Adds to out the numbers of the resolved UID set known that are below the
 * view's UIDNEXT and not in the view: the UIDs of known expunged as far as
 * the view knows (RFC 7162 §3.2.6, when the record of expunges is
 * incomplete). */
void mailbox_view_missing(const struct mailbox_view *v, const struct seqset *known,
			  struct seqset *out);

/* Resolves a client's set to the UIDs of the view's messages, ascending.
 * uid_mode: numbers are UIDs, '*' is the highest UID, UIDs the view does not
 * hold are skipped (RFC 3501 §6.4.8). Otherwise they are sequence numbers,
 * '*' is the message count, and a number past it is an error (-1, error_r).
 * The array is allocated from pool. */
int mailbox_view_resolve(const struct mailbox_view *v, struct seqset *set, bool uid_mode,
			 struct pool *pool, uint32_t **uids_r, uint32_t *n_r, const char **error_r);
