-- Mailstead schema, migration 0014: what a mailbox of 100,000 messages
-- needs to stay fast (docs/benchmarks.md, bigbox):
-- * the message size on mailbox_messages (FETCH RFC822.SIZE without
--   reading messages);
-- * an index of the unseen messages (SELECT's first unseen);
-- * custom plans for the functions acting on UID ranges, and UID EXPUNGE
--   by range scans (no statement on a few messages reads the mailbox).
--
-- FETCH of metadata only (UID, FLAGS, INTERNALDATE, RFC822.SIZE, MODSEQ:
-- what a client asks for every message of a big mailbox when it opens it)
-- needed one messages row per message for RFC822.SIZE alone. messages rows
-- are wide (ENVELOPE, BODYSTRUCTURE, search text): one page each, so on a
-- 100,000-message mailbox the join was ~3 buffer accesses per row and, once
-- the rows no longer fit in shared_buffers, reads: 65 ms per 10,000 rows
-- against 9 ms for mailbox_messages alone (docs/benchmarks.md §1). A
-- message's size never changes, so a copy of it on each mailbox_messages
-- row cannot go stale.
--
-- Every insert fills it without any change to the functions that insert
-- (APPEND, MULTIAPPEND, delivery, COPY; MOVE and RENAME of INBOX update
-- rows, which keeps the column): a BEFORE INSERT trigger copies it from
-- messages when the INSERT leaves it NULL. An INSERT that sets it must set
-- messages.size (it is then taken as given, which saves the lookup).
--
-- Depends on 0001 (the tables), 0003 (the statement triggers the backfill
-- fires), 0005, 0006, 0010 and 0011 (the functions whose
-- plans are fixed; 0015 replaces mail_expunge).

ALTER TABLE mailbox_messages ADD COLUMN size bigint;

UPDATE mailbox_messages mm SET size = m.size
  FROM messages m
 WHERE m.account_id = mm.account_id AND m.message_id = mm.message_id;

ALTER TABLE mailbox_messages ALTER COLUMN size SET NOT NULL,
	ADD CONSTRAINT mailbox_messages_size_check CHECK (size >= 0);

-- A missing message is a foreign key violation, as the constraint would
-- report it after the row (delivery maps that SQLSTATE to "not found").
CREATE FUNCTION mail_message_size_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	SELECT m.size INTO NEW.size FROM messages m
	 WHERE m.account_id = NEW.account_id AND m.message_id = NEW.message_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'message % of account % does not exist', NEW.message_id,
		      NEW.account_id USING ERRCODE = 'foreign_key_violation';
	END IF;
	RETURN NEW;
END $$;

CREATE TRIGGER mailbox_messages_size BEFORE INSERT ON mailbox_messages
	FOR EACH ROW WHEN (NEW.size IS NULL) EXECUTE FUNCTION mail_message_size_fill();

-- SELECT reports the first unseen message (RFC 3501 §7.1, [UNSEEN]). In a
-- big mailbox whose old messages are all read, finding it in the primary
-- key reads nearly every row (10-25 ms at 100,000); this index holds only
-- the unseen ones, so the lowest is one probe. It costs an entry per
-- unseen row (a delivered message is unseen until read), none for the
-- rest; flag changes update mailbox_messages' modseq index anyway, so no
-- update loses HOT because of it.
CREATE INDEX mailbox_messages_unseen_idx ON mailbox_messages (account_id, mailbox_id, uid)
	WHERE flags & 1 = 0;

-- Plans of the functions that act on UID ranges. They join mailbox_messages
-- with mail_uids(p_lo, p_hi), an inlined generate_series() over unnest()
-- that the planner sizes at 1,000 rows per range whatever the ranges are,
-- and PL/pgSQL caches a generic plan per statement after five calls, whose
-- estimates take a mailbox for an average one (small, on a server of many
-- accounts). Either way the plan was a hash join reading the whole mailbox:
-- STORE, COPY or MOVE of 3 messages of a 12,000-message mailbox read
-- 12,000 rows per statement, of a 100,000-message one 100,000 from the
-- sixth call on (auto_explain; tests/integration/test_imap_bigbox.py).
-- Now mail_uids is a PL/pgSQL function, which is not inlined, so the
-- planner takes its ROWS (a few UIDs), and these functions are planned
-- with their values every time (the mailbox's real size comes from the
-- statistics): each UID is a primary-key lookup. A big set costs more
-- lookups than a hash join would (~1 us each); planning costs ~0.1-0.3 ms
-- per statement.
CREATE OR REPLACE FUNCTION mail_uids(p_lo bigint[], p_hi bigint[]) RETURNS TABLE (uid bigint)
LANGUAGE plpgsql IMMUTABLE ROWS 16 AS $$
BEGIN
	RETURN QUERY SELECT generate_series(r.lo, r.hi) FROM unnest(p_lo, p_hi) AS r(lo, hi);
END $$;

ALTER FUNCTION mail_fetch_seen(bigint, bigint, bigint[], bigint[])
	SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mail_store_flags(bigint, bigint, bigint[], bigint[], integer, integer, text[],
                                bigint, integer, integer)
	SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mail_store_flags_cond(bigint, bigint, bigint[], bigint[], integer, integer,
                                     text[], bigint, integer, integer, bigint)
	SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mail_copy(bigint, bigint, bigint[], bigint[], text, integer)
	SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION mail_move(bigint, bigint, bigint[], bigint[], text, integer)
	SET plan_cache_mode = force_custom_plan;

-- EXPUNGE and UID EXPUNGE: the `uid IN (SELECT ... mail_uids())` form of
-- 0006 was a hash semi-join over the whole mailbox even with custom plans
-- (the planner cannot size mail_uids()): 100,000 rows read twice to expunge
-- one message. 0015 rewrites mail_expunge (UIDs expanded into an array,
-- rows found by primary key, custom plans).
