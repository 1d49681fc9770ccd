#include "mailbox_view.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_flags.h"
#include "imap_session.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "seqset.h"
#include "store.h"

#define VIEW_MAX_RECENT_RANGES 32
#define VIEW_MAX_PENDING_EXPUNGES 100000
#define VIEW_MAX_OWN_MODSEQS 8

struct recent_range {
	uint32_t from, to; /* [from, to) */
};

struct mailbox_view {
	int64_t mailbox_id;
	char *name;
	uint32_t uidvalidity;
	bool readonly;
	uint32_t *uids; /* seq n is uids[n - 1], ascending */
	uint32_t count, cap;
	uint64_t modseq; /* changes up to here are reflected */
	uint32_t uidnext;
	struct recent_range recent[VIEW_MAX_RECENT_RANGES];
	unsigned nrecent;
	/* Expunges seen while they could not be reported (§7.4.1). */
	uint32_t *pending;
	uint32_t npending;
	/* While some are pending: a modseq below all of theirs. */
	uint64_t pending_floor;
	/* Modseqs of this session's own flag changes not yet synced past. */
	uint64_t own[VIEW_MAX_OWN_MODSEQS];
	unsigned nown;
	struct notify_watch watch;
	struct imap_session *s;
	/* The session's input_seq when the view's state was last read
	 * from the database (SELECT, a sync): equal to the current one,
	 * nothing committed before the running command's input can be
	 * missing from the view. */
	uint64_t synced_seq;
	/* A sync riding in a mutation's request (mailbox_view_sync_args):
	 * the input_seq and modseq it was asked at. */
	uint64_t req_seq, req_since;
	bool req_pending;
};

static void view_reserve(struct mailbox_view *v, uint32_t extra)
{
	uint32_t need = v->count + extra;
	uint32_t *p;

	if (need <= v->cap)
		return;
	while (v->cap < need)
		v->cap = v->cap ? v->cap * 2 : 64;
	p = realloc(v->uids, (size_t)v->cap * sizeof(*p));
	if (p == NULL)
		panic("view: out of memory");
	v->uids = p;
}

static void recent_add(struct mailbox_view *v, uint32_t from, uint32_t to)
{
	if (from >= to)
		return;
	if (v->nrecent > 0 && v->recent[v->nrecent - 1].to == from) {
		v->recent[v->nrecent - 1].to = to;
		return;
	}
	if (v->nrecent == VIEW_MAX_RECENT_RANGES) {
		/* Forget the oldest range: those messages lose \Recent, which
		 * RFC 3501 allows (it is advisory); memory stays bounded. */
		memmove(v->recent, v->recent + 1, (v->nrecent - 1) * sizeof(v->recent[0]));
		v->nrecent--;
	}
	v->recent[v->nrecent].from = from;
	v->recent[v->nrecent].to = to;
	v->nrecent++;
}

static void on_change(void *ctx)
{
	struct mailbox_view *v = ctx;

	/* An idling client hears now; others at their next command. */
	imap_session_changed(v->s);
}

struct mailbox_view *mailbox_view_create(struct imap_session *s,
					 const struct mailbox_view_init *init)
{
	struct mailbox_view *v = calloc(1, sizeof(*v));

	if (v == NULL || (v->name = strdup(init->name)) == NULL)
		panic("view: out of memory");
	v->mailbox_id = init->mailbox_id;
	v->uidvalidity = init->uidvalidity;
	v->readonly = init->readonly;
	v->modseq = init->highestmodseq;
	v->uidnext = init->uidnext;
	view_reserve(v, init->count);
	if (init->count > 0)
		memcpy(v->uids, init->uids, init->count * sizeof(*v->uids));
	v->count = init->count;
	recent_add(v, init->recent_from, init->uidnext);
	v->s = s;
	v->synced_seq = s->input_seq; /* read by this command, after its input */
	notify_watch_add(worker_notify(s->w), &v->watch, s->account_id, v->mailbox_id, on_change, v);
	return v;
}

void mailbox_view_close(struct imap_session *s, struct mailbox_view **view_r)
{
	struct mailbox_view *v = *view_r;

	if (v == NULL)
		return;
	notify_watch_remove(worker_notify(s->w), &v->watch);
	free(v->uids);
	free(v->pending);
	free(v->name);
	free(v);
	*view_r = NULL;
}

int64_t mailbox_view_id(const struct mailbox_view *v)
{
	return v->mailbox_id;
}

const char *mailbox_view_name(const struct mailbox_view *v)
{
	return v->name;
}

bool mailbox_view_readonly(const struct mailbox_view *v)
{
	return v->readonly;
}

uint32_t mailbox_view_uidvalidity(const struct mailbox_view *v)
{
	return v->uidvalidity;
}

uint32_t mailbox_view_count(const struct mailbox_view *v)
{
	return v->count;
}

uint64_t mailbox_view_modseq(const struct mailbox_view *v)
{
	return v->modseq;
}

uint32_t mailbox_view_uidnext(const struct mailbox_view *v)
{
	return v->uidnext;
}

uint32_t mailbox_view_uid(const struct mailbox_view *v, uint32_t seq)
{
	return seq >= 1 && seq <= v->count ? v->uids[seq - 1] : 0;
}

uint32_t mailbox_view_seq(const struct mailbox_view *v, uint32_t uid)
{
	uint32_t lo = 0, hi = v->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v->uids[mid] == uid)
			return mid + 1;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

uint32_t mailbox_view_max_uid(const struct mailbox_view *v)
{
	return v->count ? v->uids[v->count - 1] : 0;
}

bool mailbox_view_is_recent(const struct mailbox_view *v, uint32_t uid)
{
	for (unsigned i = 0; i < v->nrecent; i++)
		if (uid >= v->recent[i].from && uid < v->recent[i].to)
			return true;
	return false;
}

uint32_t mailbox_view_recent_count(const struct mailbox_view *v)
{
	uint32_t n = 0;

	/* Ranges are few; the UIDs in them are found by binary search. */
	for (unsigned i = 0; i < v->nrecent; i++) {
		uint32_t lo = 0, hi = v->count;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (v->uids[mid] < v->recent[i].from)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (uint32_t j = lo; j < v->count && v->uids[j] < v->recent[i].to; j++)
			n++;
	}
	return n;
}

/* Removes uid from the view and reports "* seq EXPUNGE". */
static void expunge_one(struct imap_session *s, struct mailbox_view *v, uint32_t uid)
{
	uint32_t seq = mailbox_view_seq(v, uid);

	if (seq == 0)
		return;
	memmove(v->uids + seq - 1, v->uids + seq, (v->count - seq) * sizeof(*v->uids));
	v->count--;
	imap_untagged(s, "%u EXPUNGE", seq);
}

/* Removes the UIDs (ascending) from the view and reports them: "* n
 * EXPUNGE" each, or with QRESYNC enabled one "* VANISHED uids" (RFC 7162
 * §3.2.10.2: never EXPUNGE then), naming only UIDs the view held. */
static void report_expunges(struct imap_session *s, struct mailbox_view *v, const uint32_t *uids,
			    uint32_t n)
{
	uint32_t i = 0, out = 0, first = 0, last = 0;
	bool have = false;
	struct buf b;

	if (!(s->enabled & IMAP_ENABLE_QRESYNC)) {
		for (i = 0; i < n; i++)
			expunge_one(s, v, uids[i]);
		return;
	}
	/* One merge of two ascending lists: the view keeps what is not
	 * expunged, and runs of consecutive expunged UIDs become ranges (a
	 * range never covers a UID the client did not know). */
	buf_init(&b, 0);
	for (uint32_t j = 0; j < v->count; j++) {
		uint32_t uid = v->uids[j];

		while (i < n && uids[i] < uid)
			i++;
		if (i == n || uids[i] != uid) {
			v->uids[out++] = uid;
			continue;
		}
		if (have && uid == last + 1) {
			last = uid;
			continue;
		}
		if (have)
			(void)buf_printf(&b, first == last ? "%s%u" : "%s%u:%u", b.len ? "," : "",
					 first, last);
		first = last = uid;
		have = true;
	}
	if (have) {
		(void)buf_printf(&b, first == last ? "%s%u" : "%s%u:%u", b.len ? "," : "", first,
				 last);
		imap_untagged(s, "VANISHED %s", b.data);
	}
	v->count = out;
	buf_free(&b);
}

void mailbox_view_expunged(struct imap_session *s, const uint32_t *uids, uint32_t n)
{
	report_expunges(s, s->view, uids, n);
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void pending_add(struct mailbox_view *v, uint32_t uid)
{
	uint32_t *p;

	if (mailbox_view_seq(v, uid) == 0)
		return;
	for (uint32_t i = 0; i < v->npending; i++)
		if (v->pending[i] == uid)
			return;
	if (v->npending >= VIEW_MAX_PENDING_EXPUNGES)
		return; /* reported at the next full resync instead */
	p = realloc(v->pending, (v->npending + 1) * sizeof(*p));
	if (p == NULL)
		panic("view: out of memory");
	v->pending = p;
	v->pending[v->npending++] = uid;
}

void mailbox_view_own_modseq(struct mailbox_view *v, uint64_t modseq)
{
	/* Full: the rows are reported once more at the next sync, which is
	 * harmless (the flags are current). */
	if (v->nown < VIEW_MAX_OWN_MODSEQS)
		v->own[v->nown++] = modseq;
}

static bool is_own_modseq(const struct mailbox_view *v, uint64_t modseq)
{
	for (unsigned i = 0; i < v->nown; i++)
		if (v->own[i] == modseq)
			return true;
	return false;
}

/* Reports c (what changed since v->modseq, read after the running
 * command's input) as untagged responses where cmd allows, and brings the
 * view to it. */
static void apply_changes(struct imap_session *s, struct mailbox_view *v, struct imap_cmd *cmd,
			  const struct store_changes *c)
{
	uint32_t old_count;
	unsigned nown;
	struct buf b;

	if (c->gone) {
		/* Deleted (or renamed away) by another session: nothing in it
		 * can be reached any more (RFC 3501 §7.1.5). */
		imap_session_bye(s, "Selected mailbox was deleted, have to disconnect");
		return;
	}
	/* Expunges first, then new messages, then flag changes: sequence
	 * numbers in each response are those the client knows after the
	 * previous one. */
	if (v->npending == 0)
		v->pending_floor = v->modseq; /* what is expunged now is above */
	for (uint32_t i = 0; i < c->nexpunged; i++)
		pending_add(v, c->expunged[i]);
	if (!cmd->no_expunge && v->npending > 0) {
		qsort(v->pending, v->npending, sizeof(*v->pending), uid_cmp);
		report_expunges(s, v, v->pending, v->npending);
		v->npending = 0;
	}
	old_count = v->count;
	for (uint32_t i = 0; i < c->nchanged; i++) {
		uint32_t uid = c->changed[i].uid;
		if (uid > mailbox_view_max_uid(v)) {
			view_reserve(v, 1);
			v->uids[v->count++] = uid;
		}
	}
	if (c->recent_claimed)
		recent_add(v, c->recent_from, c->uidnext);
	if (v->count != old_count) {
		imap_untagged(s, "%u EXISTS", v->count);
		imap_untagged(s, "%u RECENT", mailbox_view_recent_count(v));
	}
	buf_init(&b, 0);
	for (uint32_t i = 0; i < c->nchanged; i++) {
		const struct store_change *ch = &c->changed[i];
		uint32_t seq = mailbox_view_seq(v, ch->uid);
		if (seq == 0 || seq > old_count)
			continue; /* new messages: the client fetches them itself */
		if (is_own_modseq(v, ch->modseq))
			continue; /* reported by the STORE that made it */
		buf_reset(&b);
		(void)imap_flags_format(&b, ch->flags, ch->keywords,
					mailbox_view_is_recent(v, ch->uid));
		if (s->enabled & IMAP_ENABLE_CONDSTORE) /* RFC 7162 §3.1, §3.2.4 */
			imap_untagged(s, "%u FETCH (UID %u FLAGS %s MODSEQ (%llu))", seq, ch->uid,
				      b.data, (unsigned long long)ch->modseq);
		else
			imap_untagged(s, "%u FETCH (UID %u FLAGS %s)", seq, ch->uid, b.data);
	}
	buf_free(&b);
	v->modseq = c->highestmodseq;
	v->uidnext = c->uidnext;
	if (v->npending > 0 && (s->enabled & IMAP_ENABLE_QRESYNC)) {
		/* The client may have seen higher MODSEQs in FETCH responses
		 * while VANISHED waits: a client that resynchronises from
		 * them after losing the connection would miss the expunges.
		 * So its HIGHESTMODSEQ is set back below them (RFC 7162
		 * §3.2.10.2 and §5, errata 1810 to RFC 5162). */
		imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Expunges pending",
			      (unsigned long long)v->pending_floor);
	}
	nown = 0; /* own changes the snapshot covered are done with */
	for (unsigned i = 0; i < v->nown; i++)
		if (v->own[i] > v->modseq)
			v->own[nown++] = v->own[i];
	v->nown = nown;
}

struct sync_ctx {
	struct imap_session *s;
	struct imap_cmd *cmd;
	uint64_t seq; /* the session's input_seq when asked */
	void (*done)(void *arg);
	void *arg;
};

static void sync_done(void *arg, const struct store_changes *c, const char *error)
{
	struct sync_ctx *x = arg;
	struct imap_session *s = x->s;
	struct mailbox_view *v = s->view;

	if (error != NULL) {
		LOG(WARN, s_log(s), "mailbox sync failed: %s", error);
		goto out;
	}
	if (imap_session_gone(s) || v == NULL)
		goto out;
	apply_changes(s, v, x->cmd, c);
	v->synced_seq = x->seq;
out:
	x->done(x->arg);
	free(x);
}

void mailbox_view_sync(struct imap_session *s, struct imap_cmd *cmd, void (*done)(void *arg),
		       void *arg)
{
	struct mailbox_view *v = s->view;
	struct sync_ctx *x;
	const char *err;

	/* Always asked, notified or not: a notification reaches the other
	 * workers a few ms after the commit, and a client that changes a
	 * mailbox in one session and looks from another right after its
	 * tagged OK must see the change (it is committed). One indexed query
	 * that returns nothing when nothing changed. */
	x = malloc(sizeof(*x));
	if (x == NULL)
		panic("view: out of memory");
	x->s = s;
	x->cmd = cmd;
	x->seq = s->input_seq;
	x->done = done;
	x->arg = arg;
	if (store_mailbox_changes(worker_db(s->w), s->account_id, v->mailbox_id, v->modseq,
				  !v->readonly, sync_done, x, &err) < 0) {
		LOG(WARN, s_log(s), "mailbox sync: %s", err);
		free(x);
		done(arg);
	}
}

bool mailbox_view_fresh(const struct imap_session *s)
{
	return s->view != NULL && s->view->synced_seq == s->input_seq;
}

bool mailbox_view_sync_args(struct imap_session *s, struct store_sync *sync_r)
{
	struct mailbox_view *v = s->view;

	if (v == NULL || s->closed)
		return false;
	sync_r->mailbox_id = v->mailbox_id;
	sync_r->since_modseq = v->modseq;
	sync_r->claim_recent = !v->readonly;
	v->req_seq = s->input_seq;
	v->req_since = v->modseq;
	v->req_pending = true;
	return true;
}

void mailbox_view_sync_apply(struct imap_session *s, struct imap_cmd *cmd,
			     const struct store_changes *c)
{
	struct mailbox_view *v = s->view;

	if (v == NULL || !v->req_pending)
		return;
	v->req_pending = false;
	/* Not read, or the view moved meanwhile: the sync before the tagged
	 * reply asks again. */
	if (c == NULL || imap_session_gone(s) || v->modseq != v->req_since)
		return;
	apply_changes(s, v, cmd, c);
	v->synced_seq = v->req_seq;
}

const struct store_changes *mailbox_view_changes_copy(struct pool *pool,
						      const struct store_changes *c)
{
	struct store_changes *out;
	struct store_change *changed;

	if (c == NULL)
		return NULL;
	out = pool_memdup(pool, c, sizeof(*c));
	changed = pool_alloc(pool, (c->nchanged ? c->nchanged : 1) * sizeof(*changed));
	for (uint32_t i = 0; i < c->nchanged; i++) {
		changed[i] = c->changed[i];
		if (c->changed[i].keywords != NULL)
			changed[i].keywords = pool_strdup(pool, c->changed[i].keywords);
	}
	out->changed = changed;
	out->expunged = c->nexpunged > 0 ? pool_memdup(pool, c->expunged,
						       c->nexpunged * sizeof(*c->expunged))
					 : NULL;
	return out;
}

/* Index of the first uid >= x. */
static uint32_t lower_bound(const struct mailbox_view *v, uint32_t x)
{
	uint32_t lo = 0, hi = v->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v->uids[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int mailbox_view_resolve(const struct mailbox_view *v, struct seqset *set, bool uid_mode,
			 struct pool *pool, uint32_t **uids_r, uint32_t *n_r, const char **error_r)
{
	unsigned nr;
	uint64_t total = 0;
	uint32_t *out, n = 0;

	if (uid_mode) {
		seqset_resolve_star(set, mailbox_view_max_uid(v) ? mailbox_view_max_uid(v) : 1);
	} else {
		if (seqset_has_star(set) && v->count == 0) {
			*error_r = "No messages in the mailbox";
			return -1;
		}
		seqset_resolve_star(set, v->count);
	}
	nr = seqset_range_count(set);
	for (unsigned i = 0; i < nr; i++) {
		uint32_t lo, hi;
		seqset_range_get(set, i, &lo, &hi);
		if (uid_mode) {
			total += lower_bound(v, hi == UINT32_MAX ? hi : hi + 1) - lower_bound(v, lo);
			if (hi == UINT32_MAX && v->count > 0 && v->uids[v->count - 1] == UINT32_MAX)
				total++;
		} else {
			if (hi > v->count) {
				*error_r = "Invalid message sequence number";
				return -1;
			}
			total += hi - lo + 1;
		}
	}
	/* Ranges are disjoint and sorted, so total <= count. */
	out = pool_alloc(pool, (size_t)(total ? total : 1) * sizeof(*out));
	for (unsigned i = 0; i < nr; i++) {
		uint32_t lo, hi;
		seqset_range_get(set, i, &lo, &hi);
		if (uid_mode) {
			for (uint32_t j = lower_bound(v, lo); j < v->count && v->uids[j] <= hi; j++)
				out[n++] = v->uids[j];
		} else {
			for (uint64_t sq = lo; sq <= hi; sq++)
				out[n++] = v->uids[sq - 1];
		}
	}
	*uids_r = out;
	*n_r = n;
	return 0;
}

void mailbox_view_missing(const struct mailbox_view *v, const struct seqset *known,
			  struct seqset *out)
{
	unsigned nr = seqset_range_count(known);

	for (unsigned i = 0; i < nr; i++) {
		uint32_t lo, hi, j;
		uint64_t cur;

		seqset_range_get(known, i, &lo, &hi);
		if (v->uidnext <= 1 || lo >= v->uidnext)
			break; /* ranges ascend */
		if (hi >= v->uidnext)
			hi = v->uidnext - 1;
		cur = lo;
		for (j = lower_bound(v, lo); cur <= hi; j++) {
			if (j == v->count || v->uids[j] > hi) {
				seqset_add_range(out, (uint32_t)cur, hi);
				break;
			}
			if (v->uids[j] > cur)
				seqset_add_range(out, (uint32_t)cur, v->uids[j] - 1);
			cur = (uint64_t)v->uids[j] + 1;
		}
	}
}
