-- Mailstead schema, migration 0006: the commands that change messages of a
-- mailbox (RFC 3501 §6.4): STORE, COPY, EXPUNGE (and CLOSE's silent expunge).
--
-- Each command is one call of one function here: one round trip, one
-- transaction. Depends on 0001 and 0003 only. Every function locks the
-- mailbox rows it changes first (ascending mailbox_id, FOR NO KEY UPDATE, so
-- foreign-key checks of concurrent inserts elsewhere are not blocked), then
-- touches mailbox_messages; the 0003 triggers then lock the account row.
-- One new modseq per call, taken only when something changes.
--
-- Message sets arrive as two arrays of UID range bounds (lo[i]..hi[i],
-- disjoint): the server compresses the UIDs it resolved, so "1:*" over a
-- large mailbox stays a short parameter (mail_uids expands them).
--
-- Keywords compare case-insensitively; a mailbox's keywords column keeps
-- the first spelling used, and keywords stored on messages are spelt that
-- way (mail_keywords_canon), so FLAGS lists each keyword once.

-- Fix of 0003's mail_refs_delete: it decremented refs and deleted the
-- unreferenced messages in one statement (an UPDATE in a WITH and the DELETE
-- of the same rows), and PostgreSQL skips a row that another part of the
-- same statement already changed, so messages no mailbox held stayed
-- forever. Two statements: the DELETE sees the new refs. (Runs after
-- mailbox_messages_counts_del, which still needs the message sizes:
-- statement triggers of one event fire in name order.)
CREATE OR REPLACE FUNCTION mail_refs_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE messages m SET refs = m.refs - c.n
	  FROM (SELECT account_id, message_id, count(*) AS n FROM old_rows
	         GROUP BY account_id, message_id) c
	 WHERE m.account_id = c.account_id AND m.message_id = c.message_id;
	DELETE FROM messages m
	 USING (SELECT DISTINCT account_id, message_id FROM old_rows) o
	 WHERE m.account_id = o.account_id AND m.message_id = o.message_id AND m.refs = 0;
	RETURN NULL;
END $$;

-- The UIDs of the ranges lo[i]..hi[i]. Callers pass ranges of UIDs they
-- resolved (runs of consecutive existing UIDs), so the expansion is no
-- bigger than the set and joins by equality (index or hash), where a join
-- on BETWEEN would compare every range with every row.
CREATE FUNCTION mail_uids(p_lo bigint[], p_hi bigint[]) RETURNS TABLE (uid bigint)
LANGUAGE sql IMMUTABLE AS $$
	SELECT generate_series(r.lo, r.hi) FROM unnest(p_lo, p_hi) AS r(lo, hi)
$$;

-- kw with each element replaced by the spelling known has for it.
CREATE FUNCTION mail_keywords_canon(kw text[], known text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(array_agg(coalesce(
	         (SELECT kn.k FROM unnest(known) WITH ORDINALITY AS kn(k, j)
	           WHERE lower(kn.k) = lower(t.k) ORDER BY kn.j LIMIT 1), t.k) ORDER BY t.i),
	         '{}'::text[])
	  FROM unnest(kw) WITH ORDINALITY AS t(k, i)
$$;

-- Flag bits after a STORE: mode 0 replaces (FLAGS), 1 adds (+FLAGS),
-- 2 removes (-FLAGS).
CREATE FUNCTION mail_flags_apply(old integer, mode integer, bits integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE mode WHEN 0 THEN bits WHEN 1 THEN old | bits ELSE old & ~bits END
$$;

-- Keywords after a STORE (same modes); order kept, no duplicates.
CREATE FUNCTION mail_keywords_apply(old text[], mode integer, kw text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
	  WHEN mode = 0 THEN kw
	  WHEN cardinality(kw) = 0 THEN old
	  WHEN mode = 1 THEN old || ARRAY(
	         SELECT t.k FROM unnest(kw) WITH ORDINALITY AS t(k, i)
	          WHERE lower(t.k) <> ALL (SELECT lower(o) FROM unnest(old) AS o) ORDER BY t.i)
	  ELSE ARRAY(
	         SELECT t.k FROM unnest(old) WITH ORDINALITY AS t(k, i)
	          WHERE lower(t.k) <> ALL (SELECT lower(x) FROM unnest(kw) AS x) ORDER BY t.i)
	END
$$;

-- True when a and b hold the same keywords (as sets, case-insensitively).
CREATE FUNCTION mail_keywords_same(a text[], b text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT a = b OR
	       (SELECT coalesce(array_agg(DISTINCT lower(x) ORDER BY lower(x)), '{}') FROM unnest(a) AS x) =
	       (SELECT coalesce(array_agg(DISTINCT lower(y) ORDER BY lower(y)), '{}') FROM unnest(b) AS y)
$$;

-- STORE (RFC 3501 §6.4.6). Changes the flags and keywords of the mailbox's
-- messages in the UID ranges; only rows whose flags or keywords really
-- change get the one new modseq (none is taken when nothing changes).
-- Keywords new to the mailbox are added to mailboxes.keywords, at most
-- p_max_mailbox_keywords in all; a message holds at most
-- p_max_message_keywords (MSLM0 otherwise, nothing changed).
--
-- Returns first a header row (r_uid 0): r_modseq is the new modseq or 0,
-- r_keywords the mailbox's whole keyword list when it grew (else NULL).
-- Then one row per addressed message that still exists, ascending UID,
-- with its flags and keywords after the change; r_report is true for a row
-- this call changed that another session had also changed after p_since
-- (the caller's view modseq): the caller must report it even with .SILENT.
CREATE FUNCTION mail_store_flags(p_account bigint, p_mailbox bigint, p_lo bigint[], p_hi bigint[],
                                 p_mode integer, p_flags integer, p_keywords text[],
                                 p_since bigint, p_max_message_keywords integer,
                                 p_max_mailbox_keywords integer)
RETURNS TABLE (r_uid bigint, r_flags integer, r_keywords text, r_modseq bigint, r_report boolean)
LANGUAGE plpgsql AS $$
DECLARE
	mb_keywords text[];
	next_modseq bigint;
	kw text[];
	kw_matter boolean;
	new_kw text[] := '{}';
	others bigint[];
	changed bigint;
	max_kw integer;
	got bigint;
BEGIN
	IF p_mode NOT IN (0, 1, 2) OR p_flags NOT BETWEEN 0 AND 31 OR
	   cardinality(p_lo) IS DISTINCT FROM cardinality(p_hi) THEN
		RAISE EXCEPTION 'invalid STORE arguments' USING ERRCODE = 'MSIV0';
	END IF;
	SELECT m.keywords, m.highestmodseq + 1 INTO mb_keywords, next_modseq
	  FROM mailboxes m
	 WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox AND NOT m.noselect
	   FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	kw := mail_keywords_canon(coalesce(p_keywords, '{}'), mb_keywords);
	-- +FLAGS/-FLAGS without keywords leave every row's keywords alone.
	kw_matter := p_mode = 0 OR cardinality(kw) > 0;
	IF p_mode <> 2 THEN
		new_kw := ARRAY(SELECT t.k FROM unnest(kw) WITH ORDINALITY AS t(k, i)
		                 WHERE t.k <> ALL (mb_keywords) ORDER BY t.i);
		IF cardinality(mb_keywords) + cardinality(new_kw) > p_max_mailbox_keywords THEN
			RAISE EXCEPTION 'too many keywords in the mailbox' USING ERRCODE = 'MSLM0';
		END IF;
	END IF;

	-- Changed by someone else since the caller's view: with the mailbox
	-- row locked no flag writer can run now.
	others := ARRAY(SELECT mm.uid FROM mailbox_messages mm
	                  JOIN mail_uids(p_lo, p_hi) AS s(uid) ON mm.uid = s.uid
	                 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
	                   AND mm.modseq > p_since);

	-- New values computed from the row being updated (not from an earlier
	-- read), and only rows that change are written: one statement, so the
	-- 0003 update trigger adjusts the unseen counter once.
	WITH u AS (
		UPDATE mailbox_messages mm
		   SET flags = mail_flags_apply(mm.flags, p_mode, p_flags),
		       keywords = CASE WHEN NOT kw_matter THEN mm.keywords
		                       ELSE mail_keywords_apply(mm.keywords, p_mode, kw) END,
		       modseq = next_modseq
		  FROM mail_uids(p_lo, p_hi) AS s(uid)
		 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox AND mm.uid = s.uid
		   AND (mm.flags <> mail_flags_apply(mm.flags, p_mode, p_flags) OR
		        -- Cheap tests first: the keyword functions are not inlined.
		        (kw_matter AND NOT (p_mode = 0 AND mm.keywords = kw) AND
		         NOT mail_keywords_same(mm.keywords,
		                                mail_keywords_apply(mm.keywords, p_mode, kw))))
		RETURNING cardinality(mm.keywords) AS nkw)
	SELECT count(*), coalesce(max(u.nkw), 0) INTO changed, max_kw FROM u;

	IF max_kw > p_max_message_keywords THEN
		RAISE EXCEPTION 'too many keywords on a message' USING ERRCODE = 'MSLM0';
	END IF;
	IF changed > 0 THEN
		got := mail_next_modseq(p_account, p_mailbox);
		IF got <> next_modseq THEN
			-- Impossible while the row lock is held.
			RAISE EXCEPTION 'modseq moved under a locked mailbox';
		END IF;
		IF cardinality(new_kw) > 0 THEN
			UPDATE mailboxes m SET keywords = m.keywords || new_kw
			 WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox
			RETURNING m.keywords INTO mb_keywords;
		END IF;
	END IF;

	r_uid := 0;
	r_flags := 0;
	r_keywords := CASE WHEN changed > 0 AND cardinality(new_kw) > 0
	                   THEN array_to_string(mb_keywords, ' ') END;
	r_modseq := CASE WHEN changed > 0 THEN next_modseq ELSE 0 END;
	r_report := false;
	RETURN NEXT;
	RETURN QUERY
		SELECT mm.uid, mm.flags, array_to_string(mm.keywords, ' '), mm.modseq,
		       changed > 0 AND mm.modseq = next_modseq AND o.uid IS NOT NULL
		  FROM mailbox_messages mm
		  JOIN mail_uids(p_lo, p_hi) AS s(uid) ON mm.uid = s.uid
		  LEFT JOIN unnest(others) AS o(uid) ON o.uid = mm.uid -- a join, not = ANY: n x n
		 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
		 ORDER BY mm.uid;
END $$;

-- COPY (RFC 3501 §6.4.7). Copies the source mailbox's messages in the UID
-- ranges to the mailbox named p_dst_name (which may be the source): new
-- UIDs in source UID order from one mail_allocate, same message_id (the
-- bytes are stored once per account; the 0003 triggers count the new
-- references), flags, keywords and internaldate kept. \Recent is a
-- per-session property and is not copied; the copies are \Recent for the
-- next session that claims them. Quota is enforced by the 0003 insert
-- trigger (MSOQ0: nothing copied). A missing or \Noselect target is MSNF0.
--
-- Returns (source uid, new uid, target mailbox id, target uidvalidity) per
-- copied message, ascending source UID (COPYUID, RFC 4315); no rows when
-- none of the source messages exists any more.
CREATE FUNCTION mail_copy(p_account bigint, p_src bigint, p_lo bigint[], p_hi bigint[],
                          p_dst_name text, p_max_mailbox_keywords integer)
RETURNS TABLE (r_src_uid bigint, r_dst_uid bigint, r_dst_mailbox bigint, r_dst_uidvalidity bigint)
LANGUAGE plpgsql AS $$
DECLARE
	mb record;
	dst_id bigint;
	dst_uidvalidity bigint;
	dst_keywords text[];
	new_kw text[];
	n bigint;
	first bigint;
	ms bigint;
BEGIN
	IF cardinality(p_lo) IS DISTINCT FROM cardinality(p_hi) THEN
		RAISE EXCEPTION 'invalid COPY arguments' USING ERRCODE = 'MSIV0';
	END IF;
	-- Both rows locked in ascending mailbox_id (DESIGN.md lock order).
	FOR mb IN
		SELECT m.mailbox_id, m.name, m.uidvalidity, m.keywords, m.noselect
		  FROM mailboxes m
		 WHERE m.account_id = p_account AND (m.mailbox_id = p_src OR m.name = p_dst_name)
		 ORDER BY m.mailbox_id
		   FOR NO KEY UPDATE
	LOOP
		IF mb.name = p_dst_name AND NOT mb.noselect THEN
			dst_id := mb.mailbox_id;
			dst_uidvalidity := mb.uidvalidity;
			dst_keywords := mb.keywords;
		END IF;
	END LOOP;
	IF dst_id IS NULL THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;

	SELECT count(*) INTO n
	  FROM mailbox_messages mm
	  JOIN mail_uids(p_lo, p_hi) AS s(uid) ON mm.uid = s.uid
	 WHERE mm.account_id = p_account AND mm.mailbox_id = p_src;
	IF n = 0 THEN
		RETURN;
	END IF;

	-- Keywords of the copies that the target does not list yet.
	new_kw := ARRAY(
		SELECT min(k.k)
		  FROM mailbox_messages mm
		  JOIN mail_uids(p_lo, p_hi) AS s(uid) ON mm.uid = s.uid
		  CROSS JOIN LATERAL unnest(mm.keywords) AS k(k)
		 WHERE mm.account_id = p_account AND mm.mailbox_id = p_src
		   AND lower(k.k) <> ALL (SELECT lower(x) FROM unnest(dst_keywords) AS x)
		 GROUP BY lower(k.k) ORDER BY 1);
	IF cardinality(new_kw) > 0 THEN
		IF cardinality(dst_keywords) + cardinality(new_kw) > p_max_mailbox_keywords THEN
			RAISE EXCEPTION 'too many keywords in the target mailbox' USING ERRCODE = 'MSLM0';
		END IF;
		UPDATE mailboxes m SET keywords = m.keywords || new_kw
		 WHERE m.account_id = p_account AND m.mailbox_id = dst_id
		RETURNING m.keywords INTO dst_keywords;
	END IF;

	SELECT a.first_uid, a.modseq INTO first, ms FROM mail_allocate(p_account, dst_id, n::integer) a;

	RETURN QUERY
		WITH src AS (
			SELECT mm.uid, mm.message_id, mm.flags, mm.keywords, mm.internaldate,
			       first + row_number() OVER (ORDER BY mm.uid) - 1 AS new_uid
			  FROM mailbox_messages mm
			  JOIN mail_uids(p_lo, p_hi) AS s(uid) ON mm.uid = s.uid
			 WHERE mm.account_id = p_account AND mm.mailbox_id = p_src),
		ins AS (
			INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags,
			                              keywords, modseq, internaldate)
			SELECT p_account, dst_id, src.new_uid, src.message_id, src.flags,
			       CASE WHEN src.keywords <@ dst_keywords THEN src.keywords -- already
			            ELSE mail_keywords_canon(src.keywords, dst_keywords) END,
			       ms, src.internaldate
			  FROM src
			RETURNING 1)
		SELECT src.uid, src.new_uid, dst_id, dst_uidvalidity FROM src ORDER BY src.uid;
END $$;

-- EXPUNGE (RFC 3501 §6.4.3) and CLOSE (§6.4.2): removes the mailbox's
-- messages flagged \Deleted now; with p_lo/p_hi not NULL only those in the
-- UID ranges (UID EXPUNGE, RFC 4315). One new modseq, recorded with each
-- UID in expunged (how other sessions and QRESYNC learn of it); the 0003
-- triggers refund the quota and drop messages no mailbox holds any more.
-- Returns the expunged UIDs ascending (none: no modseq taken).
CREATE FUNCTION mail_expunge(p_account bigint, p_mailbox bigint, p_lo bigint[], p_hi bigint[])
RETURNS TABLE (r_uid bigint)
LANGUAGE plpgsql AS $$
DECLARE
	ms bigint;
BEGIN
	IF cardinality(p_lo) IS DISTINCT FROM cardinality(p_hi) THEN
		RAISE EXCEPTION 'invalid EXPUNGE arguments' USING ERRCODE = 'MSIV0';
	END IF;
	PERFORM 1 FROM mailboxes m
	  WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox AND NOT m.noselect
	    FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	IF NOT EXISTS (
		SELECT 1 FROM mailbox_messages mm
		 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox AND mm.flags & 8 <> 0
		   AND (p_lo IS NULL OR mm.uid IN (SELECT s.uid FROM mail_uids(p_lo, p_hi) AS s(uid)))) THEN
		RETURN;
	END IF;
	ms := mail_next_modseq(p_account, p_mailbox);
	RETURN QUERY
		WITH d AS (
			DELETE FROM mailbox_messages mm
			 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
			   AND mm.flags & 8 <> 0
			   AND (p_lo IS NULL OR mm.uid IN (SELECT s.uid FROM mail_uids(p_lo, p_hi) AS s(uid)))
			RETURNING mm.uid),
		e AS (
			INSERT INTO expunged (account_id, mailbox_id, uid, modseq)
			SELECT p_account, p_mailbox, d.uid, ms FROM d)
		SELECT d.uid FROM d ORDER BY d.uid;
END $$;
