-- Mailstead schema, migration 0015: cheaper STORE, EXPUNGE and FETCH \Seen.
--
-- Measured on the mixed benchmark (docs/benchmarks.md §3): mail_store_flags
-- cost ~1.3-2.6 ms per call for 3 messages, most of it planning (its
-- statements got a custom plan on every call) and hash joins that read
-- every row of the mailbox to find the 3 addressed, plus a statement
-- trigger whose only job was the unseen counter. This migration rewrites
-- the three functions so that:
--
-- * the UID ranges are expanded into an array once (callers send runs of
--   UIDs they resolved, so the array is no bigger than the set) and rows
--   are found with `uid = ANY(array)` on the primary key. Plans are
--   custom (SET plan_cache_mode = force_custom_plan): a generic plan
--   assumes an average mailbox (the prefix account_id = $1 AND
--   mailbox_id = $2 estimated at one row), so every index on that prefix
--   ties with the primary key, and it picked the modseq or unseen index
--   with uid as a mere filter, reading all 12,000 rows of a big mailbox
--   for a STORE of 3 (tests/integration/test_imap_bigbox.py catches it).
--   Planning costs ~0.1-0.3 ms a statement; reading a 100,000-message
--   mailbox costs tens of ms;
-- * the mailbox row is updated once per call: the new modseq, the unseen
--   counter and new keywords in one UPDATE (was mail_next_modseq, a
--   trigger's UPDATE and a keywords UPDATE);
-- * the statement-level UPDATE trigger of 0003 (mail_counts_update) is
--   dropped. Only flag changes move a counter (unseen), and the functions
--   that change flags now adjust it themselves, in the same UPDATE of the
--   mailbox row that takes their modseq: mail_store_flags and
--   mail_fetch_seen here. The other UPDATEs of mailbox_messages never
--   change flags (mail_move and the INBOX rename of 0004 move rows and
--   set the counters of both mailboxes themselves). A new function that
--   changes flags must do the same; the integration tests compare the
--   counters with a recount after concurrent changes.
--
-- Semantics, arguments and results are those of 0005, 0006 and 0011.

DROP TRIGGER mailbox_messages_counts_upd ON mailbox_messages;
DROP FUNCTION mail_counts_update();

-- STORE (RFC 3501 §6.4.6): see 0006 for the contract. The steps: lock the
-- mailbox row (no other flag writer can run until commit), read the
-- addressed rows, update those whose flags or keywords change, then one
-- UPDATE of the mailbox row (modseq, unseen, keywords) when something
-- changed, and the rows in ascending UID from what was read and written.
CREATE OR REPLACE FUNCTION mail_store_flags(p_account bigint, p_mailbox bigint, p_lo bigint[],
                                            p_hi bigint[], p_mode integer, p_flags integer,
                                            p_keywords text[], p_since bigint,
                                            p_max_message_keywords integer,
                                            p_max_mailbox_keywords integer)
RETURNS TABLE (r_uid bigint, r_flags integer, r_keywords text, r_modseq bigint, r_report boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	mb_keywords text[];
	next_modseq bigint;
	kw text[] := '{}';
	kw_matter boolean;
	new_kw text[] := '{}';
	uids bigint[];
	c_uid bigint[];
	c_flags integer[];
	c_kw text[];
	c_ms bigint[];
	u_uid bigint[];
	u_flags integer[];
	u_kw text[];
	changed bigint;
	max_kw integer;
	unseen_delta bigint;
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
	IF coalesce(cardinality(p_keywords), 0) > 0 THEN
		kw := mail_keywords_canon(p_keywords, mb_keywords);
	END IF;
	-- +FLAGS/-FLAGS without keywords leave every row's keywords alone.
	kw_matter := p_mode = 0 OR cardinality(kw) > 0;
	IF p_mode <> 2 AND cardinality(kw) > 0 THEN
		new_kw := ARRAY(SELECT t.k FROM unnest(kw) WITH ORDINALITY AS t(k, i)
		                 WHERE t.k <> ALL (mb_keywords) ORDER BY t.i);
		IF cardinality(mb_keywords) + cardinality(new_kw) > p_max_mailbox_keywords THEN
			RAISE EXCEPTION 'too many keywords in the mailbox' USING ERRCODE = 'MSLM0';
		END IF;
	END IF;

	uids := ARRAY(SELECT g.uid FROM unnest(p_lo, p_hi) AS r(lo, hi),
	                                  generate_series(r.lo, r.hi) AS g(uid));
	-- The addressed rows as they are (with the mailbox row locked, no
	-- flag writer can run now): their old modseq says which ones another
	-- session changed after the caller's view (p_since).
	SELECT coalesce(array_agg(mm.uid ORDER BY mm.uid), '{}'),
	       array_agg(mm.flags ORDER BY mm.uid),
	       array_agg(array_to_string(mm.keywords, ' ') ORDER BY mm.uid),
	       array_agg(mm.modseq ORDER BY mm.uid)
	  INTO c_uid, c_flags, c_kw, c_ms
	  FROM mailbox_messages mm
	 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox AND mm.uid = ANY (uids);
	IF cardinality(c_uid) = 0 THEN
		changed := 0;
	ELSE
		-- New values computed from the row being updated; only rows that
		-- change are written.
		WITH u AS (
			UPDATE mailbox_messages mm
			   SET flags = mail_flags_apply(mm.flags, p_mode, p_flags),
			       keywords = CASE WHEN NOT kw_matter THEN mm.keywords
			                       ELSE mail_keywords_apply(mm.keywords, p_mode, kw) END,
			       modseq = next_modseq
			 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
			   AND mm.uid = ANY (c_uid)
			   AND (mm.flags <> mail_flags_apply(mm.flags, p_mode, p_flags) OR
			        -- Cheap tests first: the keyword functions are not inlined.
			        (kw_matter AND NOT (p_mode = 0 AND mm.keywords = kw) AND
			         NOT mail_keywords_same(mm.keywords,
			                                mail_keywords_apply(mm.keywords, p_mode, kw))))
			RETURNING mm.uid, mm.flags, array_to_string(mm.keywords, ' ') AS kws,
			          cardinality(mm.keywords) AS nkw)
		SELECT count(*), coalesce(max(u.nkw), 0),
		       -- unseen after - before = seen before - seen after
		       coalesce(sum((c.flags & 1) - (u.flags & 1)), 0),
		       array_agg(u.uid), array_agg(u.flags), array_agg(u.kws)
		  INTO changed, max_kw, unseen_delta, u_uid, u_flags, u_kw
		  FROM u JOIN unnest(c_uid, c_flags) AS c(uid, flags) ON c.uid = u.uid;
		IF max_kw > p_max_message_keywords THEN
			RAISE EXCEPTION 'too many keywords on a message' USING ERRCODE = 'MSLM0';
		END IF;
	END IF;
	IF changed > 0 THEN
		UPDATE mailboxes m
		   SET highestmodseq = m.highestmodseq + 1, unseen = m.unseen + unseen_delta,
		       keywords = CASE WHEN cardinality(new_kw) > 0 THEN m.keywords || new_kw
		                       ELSE m.keywords END
		 WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox
		RETURNING m.highestmodseq, m.keywords INTO got, mb_keywords;
		IF got IS DISTINCT FROM next_modseq THEN
			-- Impossible while the row lock is held.
			RAISE EXCEPTION 'modseq moved under a locked mailbox';
		END IF;
	END IF;

	r_uid := 0;
	r_flags := 0;
	r_keywords := CASE WHEN changed > 0 AND cardinality(new_kw) > 0
	                   THEN array_to_string(mb_keywords, ' ') END;
	r_modseq := CASE WHEN changed > 0 THEN next_modseq ELSE 0 END;
	r_report := false;
	RETURN NEXT;
	IF cardinality(c_uid) = 0 THEN
		RETURN;
	END IF;
	RETURN QUERY
		SELECT c.uid, coalesce(u.flags, c.flags), coalesce(u.kws, c.kws),
		       CASE WHEN u.uid IS NULL THEN c.ms ELSE next_modseq END,
		       u.uid IS NOT NULL AND c.ms > p_since
		  FROM unnest(c_uid, c_flags, c_kw, c_ms) AS c(uid, flags, kws, ms)
		  LEFT JOIN unnest(u_uid, u_flags, u_kw) AS u(uid, flags, kws) ON u.uid = c.uid
		 ORDER BY c.uid;
END $$;

-- STORE ... (UNCHANGEDSINCE): as 0011, custom plans; the unconditional
-- STORE calls mail_store_flags directly (server/store_messages.c).
ALTER FUNCTION mail_store_flags_cond(bigint, bigint, bigint[], bigint[], integer, integer, text[],
                                     bigint, integer, integer, bigint)
	SET plan_cache_mode = force_custom_plan;

-- EXPUNGE and CLOSE: see 0006 for the contract. Lock the mailbox row,
-- delete and record in one statement with the next modseq, then take that
-- modseq (one UPDATE of the mailbox row) when something was expunged. The
-- 0003 delete triggers refund the quota and drop unreferenced messages.
CREATE OR REPLACE FUNCTION mail_expunge(p_account bigint, p_mailbox bigint, p_lo bigint[],
                                        p_hi bigint[])
RETURNS TABLE (r_uid bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	ms bigint;
	uids bigint[];
	gone bigint[];
	got bigint;
BEGIN
	IF cardinality(p_lo) IS DISTINCT FROM cardinality(p_hi) THEN
		RAISE EXCEPTION 'invalid EXPUNGE arguments' USING ERRCODE = 'MSIV0';
	END IF;
	SELECT m.highestmodseq + 1 INTO ms FROM mailboxes m
	  WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox AND NOT m.noselect
	    FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	IF p_lo IS NULL THEN
		WITH d AS (
			DELETE FROM mailbox_messages mm
			 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
			   AND mm.flags & 8 <> 0
			RETURNING mm.uid),
		e AS (
			INSERT INTO expunged (account_id, mailbox_id, uid, modseq)
			SELECT p_account, p_mailbox, d.uid, ms FROM d)
		SELECT coalesce(array_agg(d.uid ORDER BY d.uid), '{}') INTO gone FROM d;
	ELSE
		uids := ARRAY(SELECT g.uid FROM unnest(p_lo, p_hi) AS r(lo, hi),
	                                  generate_series(r.lo, r.hi) AS g(uid));
		WITH d AS (
			DELETE FROM mailbox_messages mm
			 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
			   AND mm.uid = ANY (uids) AND mm.flags & 8 <> 0
			RETURNING mm.uid),
		e AS (
			INSERT INTO expunged (account_id, mailbox_id, uid, modseq)
			SELECT p_account, p_mailbox, d.uid, ms FROM d)
		SELECT coalesce(array_agg(d.uid ORDER BY d.uid), '{}') INTO gone FROM d;
	END IF;
	IF cardinality(gone) = 0 THEN
		RETURN; -- nothing was \Deleted: no modseq taken
	END IF;
	UPDATE mailboxes m SET highestmodseq = m.highestmodseq + 1
	 WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox
	RETURNING m.highestmodseq INTO got;
	IF got IS DISTINCT FROM ms THEN
		RAISE EXCEPTION 'modseq moved under a locked mailbox';
	END IF;
	RETURN QUERY SELECT g.uid FROM unnest(gone) WITH ORDINALITY AS g(uid, i) ORDER BY g.i;
END $$;

-- FETCH's implicit \Seen (RFC 3501 §6.4.5): see 0005 for the contract.
-- Now also lowers the unseen counter (the UPDATE trigger is gone).
CREATE OR REPLACE FUNCTION mail_fetch_seen(p_account bigint, p_mailbox bigint, p_lo bigint[],
                                           p_hi bigint[])
RETURNS bigint LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	uids bigint[];
	next_modseq bigint;
	changed bigint;
	got bigint;
BEGIN
	uids := ARRAY(SELECT g.uid FROM unnest(p_lo, p_hi) AS r(lo, hi),
	                                  generate_series(r.lo, r.hi) AS g(uid));
	IF NOT EXISTS (SELECT 1 FROM mailbox_messages mm
	                WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
	                  AND mm.uid = ANY (uids) AND mm.flags & 1 = 0) THEN
		RETURN 0;
	END IF;
	SELECT m.highestmodseq + 1 INTO next_modseq FROM mailboxes m
	 WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox AND NOT m.noselect
	   FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RETURN 0; -- deleted meanwhile: the FETCH finds no messages either
	END IF;
	UPDATE mailbox_messages mm SET flags = mm.flags | 1, modseq = next_modseq
	 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
	   AND mm.uid = ANY (uids) AND mm.flags & 1 = 0;
	GET DIAGNOSTICS changed = ROW_COUNT;
	IF changed = 0 THEN
		RETURN 0;
	END IF;
	UPDATE mailboxes m SET highestmodseq = m.highestmodseq + 1, unseen = m.unseen - changed
	 WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox
	RETURNING m.highestmodseq INTO got;
	IF got IS DISTINCT FROM next_modseq THEN
		-- Impossible while the row lock is held.
		RAISE EXCEPTION 'modseq moved under a locked mailbox';
	END IF;
	RETURN next_modseq;
END $$;

-- APPEND (0010's mail_append_batch), unchanged but for two costs measured
-- with pg_stat_statements on the mixed benchmark: its INSERT into
-- mailbox_messages was planned on every call (0.8 ms of a ~7 ms APPEND:
-- a custom plan each time), now one generic plan per session; and
-- mail_keywords_canon, an SQL function planned at each call, is not called
-- for a message without keywords (the common case).
CREATE OR REPLACE FUNCTION mail_append_batch(p_account bigint, p_name text, p_max_mailbox_keywords integer,
                                  p_flags integer[], p_keywords text[],
                                  p_internaldates bigint[], p_sha256s bytea[], p_sizes bigint[],
                                  p_header_sizes bigint[], p_lines bigint[],
                                  p_envelopes bytea[], p_bodies bytea[],
                                  p_bodystructures bytea[], p_partmaps bytea[],
                                  p_sent_dates bigint[], p_subjects text[], p_froms text[],
                                  p_tos text[], p_ccs text[], p_bccs text[],
                                  p_message_ids text[], p_headers text[], p_body_texts text[],
                                  p_nchunks integer[], p_chunks bytea[])
RETURNS TABLE (r_mailbox_id bigint, r_uidvalidity bigint, r_first_uid bigint, r_count integer,
               r_keywords text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	n integer := coalesce(cardinality(p_flags), 0);
	v_mailbox bigint;
	v_noselect boolean;
	v_uidvalidity bigint;
	mids bigint[];
	firsts integer[]; -- index in p_chunks of message i's first chunk
	pos integer := 1;
	first_uid bigint;
	new_modseq bigint;
	mb_keywords text[];
	new_kw text[] := '{}';
	k text;
	mid bigint;
	attempts integer;
	i integer;
BEGIN
	IF n = 0 OR cardinality(p_keywords) <> n OR cardinality(p_internaldates) <> n OR
	   cardinality(p_sha256s) <> n OR cardinality(p_sizes) <> n OR
	   cardinality(p_header_sizes) <> n OR cardinality(p_lines) <> n OR
	   cardinality(p_envelopes) <> n OR cardinality(p_bodies) <> n OR
	   cardinality(p_bodystructures) <> n OR cardinality(p_partmaps) <> n OR
	   cardinality(p_sent_dates) <> n OR cardinality(p_subjects) <> n OR
	   cardinality(p_froms) <> n OR cardinality(p_tos) <> n OR cardinality(p_ccs) <> n OR
	   cardinality(p_bccs) <> n OR cardinality(p_message_ids) <> n OR
	   cardinality(p_headers) <> n OR cardinality(p_body_texts) <> n OR
	   cardinality(p_nchunks) <> n OR
	   (SELECT coalesce(sum(c), -1) FROM unnest(p_nchunks) AS c) <> cardinality(p_chunks) THEN
		RAISE EXCEPTION 'invalid APPEND arguments' USING ERRCODE = 'MSIV0';
	END IF;
	firsts := array_fill(0, ARRAY[n]);
	FOR i IN 1..n LOOP
		IF p_flags[i] IS NULL OR p_flags[i] NOT BETWEEN 0 AND 31 OR p_sizes[i] < 1 OR
		   p_nchunks[i] < 1 OR length(p_sha256s[i]) IS DISTINCT FROM 32 OR
		   (SELECT coalesce(sum(length(c)), 0)
		      FROM unnest(p_chunks[pos:pos + p_nchunks[i] - 1]) AS c) <> p_sizes[i] THEN
			RAISE EXCEPTION 'invalid APPEND arguments' USING ERRCODE = 'MSIV0';
		END IF;
		firsts[i] := pos;
		pos := pos + p_nchunks[i];
	END LOOP;

	SELECT m.mailbox_id, m.noselect INTO v_mailbox, v_noselect
	  FROM mailboxes m WHERE m.account_id = p_account AND m.name = p_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	IF v_noselect THEN
		RAISE EXCEPTION 'mailbox cannot hold messages' USING ERRCODE = 'MSFB0';
	END IF;

	-- 1. New content, without any lock held.
	mids := array_fill(NULL::bigint, ARRAY[n]);
	FOR i IN 1..n LOOP
		IF NOT EXISTS (SELECT 1 FROM messages
		                WHERE account_id = p_account AND sha256 = p_sha256s[i]) THEN
			mids[i] := mail_content_insert(
				p_account, p_sha256s[i], p_sizes[i], p_header_sizes[i], p_lines[i],
				p_envelopes[i], p_bodies[i], p_bodystructures[i], p_partmaps[i],
				to_timestamp(p_sent_dates[i]), p_subjects[i], p_froms[i], p_tos[i],
				p_ccs[i], p_bccs[i], p_message_ids[i], p_headers[i], p_body_texts[i],
				p_chunks[firsts[i]:firsts[i] + p_nchunks[i] - 1]);
		END IF;
	END LOOP;

	-- 2. The mailbox row, locked until commit (MSNF0 if it went away or
	-- became \Noselect meanwhile): n UIDs, one modseq.
	SELECT a.first_uid, a.modseq INTO first_uid, new_modseq
	  FROM mail_allocate(p_account, v_mailbox, n) a;

	-- 3. Existing content (or content of an earlier message of this
	-- batch), locked after the mailbox.
	FOR i IN 1..n LOOP
		mid := mids[i];
		attempts := 0;
		WHILE mid IS NULL LOOP
			attempts := attempts + 1;
			IF attempts > 3 THEN
				RAISE EXCEPTION 'message content keeps changing';
			END IF;
			SELECT m.message_id INTO mid FROM messages m
			 WHERE m.account_id = p_account AND m.sha256 = p_sha256s[i]
			   FOR NO KEY UPDATE;
			IF mid IS NULL THEN
				mid := mail_content_insert(
					p_account, p_sha256s[i], p_sizes[i], p_header_sizes[i],
					p_lines[i], p_envelopes[i], p_bodies[i], p_bodystructures[i],
					p_partmaps[i], to_timestamp(p_sent_dates[i]), p_subjects[i],
					p_froms[i], p_tos[i], p_ccs[i], p_bccs[i], p_message_ids[i],
					p_headers[i], p_body_texts[i],
					p_chunks[firsts[i]:firsts[i] + p_nchunks[i] - 1]);
			END IF;
		END LOOP;
		mids[i] := mid;
	END LOOP;

	-- 4. Keywords new to the mailbox, in order of first use.
	SELECT m.keywords, m.uidvalidity INTO mb_keywords, v_uidvalidity
	  FROM mailboxes m WHERE m.account_id = p_account AND m.mailbox_id = v_mailbox;
	FOR i IN 1..n LOOP
		FOREACH k IN ARRAY coalesce(string_to_array(p_keywords[i], ' '), '{}') LOOP
			IF lower(k) <> ALL (SELECT lower(x) FROM unnest(mb_keywords || new_kw) AS x) THEN
				new_kw := new_kw || k;
			END IF;
		END LOOP;
	END LOOP;
	IF cardinality(new_kw) > 0 THEN
		IF cardinality(mb_keywords) + cardinality(new_kw) > p_max_mailbox_keywords THEN
			RAISE EXCEPTION 'too many keywords in the mailbox' USING ERRCODE = 'MSLM0';
		END IF;
		UPDATE mailboxes m SET keywords = m.keywords || new_kw
		 WHERE m.account_id = p_account AND m.mailbox_id = v_mailbox
		RETURNING m.keywords INTO mb_keywords;
	END IF;

	-- 5. One statement: the triggers count (and judge the quota of) the
	-- whole batch at once.
	INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags, keywords,
	                              modseq, internaldate)
	SELECT p_account, v_mailbox, first_uid + t.i - 1, mids[t.i], p_flags[t.i],
	       CASE WHEN coalesce(p_keywords[t.i], '') = '' THEN '{}'::text[]
	            ELSE mail_keywords_canon(string_to_array(p_keywords[t.i], ' '), mb_keywords) END,
	       new_modseq, coalesce(to_timestamp(p_internaldates[t.i]), now())
	  FROM generate_series(1, n) AS t(i);

	r_mailbox_id := v_mailbox;
	r_uidvalidity := v_uidvalidity;
	r_first_uid := first_uid;
	r_count := n;
	r_keywords := CASE WHEN cardinality(new_kw) > 0 THEN array_to_string(mb_keywords, ' ') END;
	RETURN NEXT;
END $$;
