-- Mailstead schema, migration 0011: CONDSTORE and QRESYNC (RFC 7162).
--
-- Mod-sequences themselves are as old as 0001: mailboxes.highestmodseq,
-- mailbox_messages.modseq (the modseq of the row's last change, with an
-- index on it) and expunged (uid, modseq). This migration adds what the
-- extensions need beyond that:
--
-- * mail_store_flags_cond: STORE ... (UNCHANGEDSINCE n), on top of 0006's
--   mail_store_flags.
-- * The retention of `expunged`. Policy: every expunge is kept (one small
--   row per expunged message, removed with its mailbox), so QRESYNC and
--   UID FETCH (VANISHED) answer exactly for any mod-sequence, however old.
--   An operator who wants the table smaller calls
--   mail_expunged_prune(before) (e.g. from cron: rows older than a year).
--   Pruning records, per mailbox, the highest modseq it removed
--   (expunged_horizon). A client asking about expunges since a modseq
--   below that horizon is then answered as RFC 7162 §3.2.6 / §5 allow:
--   every UID of its known set that no longer exists is reported as
--   vanished (the server computes that from its view of the mailbox, not
--   from `expunged`).
--
-- Depends on 0001 and 0006 (mail_store_flags, mail_uids).

-- When each expunge happened, for mail_expunged_prune (rows that existed
-- before this migration get its time). A constant default: no rewrite of
-- the table, and the inserts of 0006 and later need no change.
ALTER TABLE expunged ADD COLUMN expunged_at timestamptz NOT NULL DEFAULT now();

-- The highest modseq of the expunged rows pruned from a mailbox: for a
-- modseq below it, `expunged` is incomplete.
CREATE TABLE expunged_horizon (
	account_id bigint NOT NULL,
	mailbox_id bigint NOT NULL,
	modseq     bigint NOT NULL CHECK (modseq >= 1),
	PRIMARY KEY (account_id, mailbox_id),
	FOREIGN KEY (account_id, mailbox_id) REFERENCES mailboxes ON DELETE CASCADE
);

-- STORE with an optional UNCHANGEDSINCE (RFC 7162 §3.1.3). With
-- p_unchangedsince NULL this is mail_store_flags. Otherwise the messages of
-- the ranges whose modseq is above p_unchangedsince are left alone (every
-- message has a modseq >= 1, so UNCHANGEDSINCE 0 fails for all, as the RFC
-- says it must); the others are changed by mail_store_flags under the same
-- mailbox row lock, taken here before the test so that no flag writer can
-- run between the test and the change.
--
-- Returns mail_store_flags's rows (header row first, r_failed false), then
-- one row per message that failed the test (r_failed true, its current
-- flags and modseq), ascending UID.
CREATE FUNCTION mail_store_flags_cond(p_account bigint, p_mailbox bigint, p_lo bigint[],
                                      p_hi bigint[], p_mode integer, p_flags integer,
                                      p_keywords text[], p_since bigint,
                                      p_max_message_keywords integer,
                                      p_max_mailbox_keywords integer, p_unchangedsince bigint)
RETURNS TABLE (r_uid bigint, r_flags integer, r_keywords text, r_modseq bigint, r_report boolean,
               r_failed boolean)
LANGUAGE plpgsql AS $$
DECLARE
	failed bigint[];
	lo bigint[];
	hi bigint[];
BEGIN
	IF p_unchangedsince IS NULL THEN
		RETURN QUERY
			SELECT f.r_uid, f.r_flags, f.r_keywords, f.r_modseq, f.r_report, false
			  FROM mail_store_flags(p_account, p_mailbox, p_lo, p_hi, p_mode, p_flags,
			                        p_keywords, p_since, p_max_message_keywords,
			                        p_max_mailbox_keywords) AS f;
		RETURN;
	END IF;
	IF p_unchangedsince < 0 OR cardinality(p_lo) IS DISTINCT FROM cardinality(p_hi) THEN
		RAISE EXCEPTION 'invalid STORE arguments' USING ERRCODE = 'MSIV0';
	END IF;
	PERFORM 1 FROM mailboxes m
	  WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox AND NOT m.noselect
	    FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	failed := ARRAY(SELECT mm.uid FROM mailbox_messages mm
	                  JOIN mail_uids(p_lo, p_hi) AS s(uid) ON mm.uid = s.uid
	                 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
	                   AND mm.modseq > p_unchangedsince
	                 ORDER BY mm.uid);
	IF cardinality(failed) = 0 THEN
		lo := p_lo;
		hi := p_hi;
	ELSE
		-- The other UIDs, again as runs of consecutive UIDs.
		SELECT coalesce(array_agg(g.lo ORDER BY g.lo), '{}'),
		       coalesce(array_agg(g.hi ORDER BY g.lo), '{}')
		  INTO lo, hi
		  FROM (SELECT min(k.uid) AS lo, max(k.uid) AS hi
		          FROM (SELECT s.uid, s.uid - row_number() OVER (ORDER BY s.uid) AS run
		                  FROM mail_uids(p_lo, p_hi) AS s(uid)
		                  LEFT JOIN unnest(failed) AS f(uid) ON f.uid = s.uid
		                 WHERE f.uid IS NULL) AS k
		         GROUP BY k.run) AS g;
	END IF;
	RETURN QUERY
		SELECT f.r_uid, f.r_flags, f.r_keywords, f.r_modseq, f.r_report, false
		  FROM mail_store_flags(p_account, p_mailbox, lo, hi, p_mode, p_flags, p_keywords,
		                        p_since, p_max_message_keywords, p_max_mailbox_keywords) AS f;
	RETURN QUERY
		SELECT mm.uid, mm.flags, array_to_string(mm.keywords, ' '), mm.modseq, false, true
		  FROM mailbox_messages mm
		  JOIN unnest(failed) AS f(uid) ON mm.uid = f.uid
		 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
		 ORDER BY mm.uid;
END $$;

-- Removes the expunged rows recorded before p_before, in every mailbox,
-- and raises each mailbox's expunged_horizon to the highest modseq removed
-- (one statement: a reader sees both or neither). Returns the number of
-- rows removed. Maintenance, not a hot path: it scans `expunged`.
CREATE FUNCTION mail_expunged_prune(p_before timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	WITH d AS (
		DELETE FROM expunged e WHERE e.expunged_at < p_before
		RETURNING e.account_id, e.mailbox_id, e.modseq),
	g AS (
		SELECT d.account_id, d.mailbox_id, max(d.modseq) AS modseq, count(*) AS n
		  FROM d GROUP BY d.account_id, d.mailbox_id),
	h AS (
		INSERT INTO expunged_horizon AS x (account_id, mailbox_id, modseq)
		SELECT g.account_id, g.mailbox_id, g.modseq FROM g
		    ON CONFLICT (account_id, mailbox_id)
		    DO UPDATE SET modseq = greatest(x.modseq, EXCLUDED.modseq))
	-- (A data-modifying WITH runs to completion whether or not it is read.)
	SELECT coalesce(sum(g.n), 0) INTO n FROM g;
	RETURN n;
END $$;
