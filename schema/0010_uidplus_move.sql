-- Mailstead schema, migration 0010: MULTIAPPEND (RFC 3502) and MOVE
-- (RFC 6851). UIDPLUS (RFC 4315) needs nothing new: mail_copy already
-- returns the UID mapping (COPYUID) and mail_expunge takes UID ranges
-- (UID EXPUNGE); APPENDUID comes from mail_append_batch below.
--
-- Depends on 0001, 0003 (mail_allocate, mail_next_modseq, the counter,
-- quota and refs triggers), 0005 (mail_content_insert) and 0006 (mail_uids,
-- mail_keywords_canon). Lock order as everywhere: mailbox rows in ascending
-- mailbox_id (FOR NO KEY UPDATE), then message rows, then the account row
-- (the 0003 triggers).

-- APPEND of one or more messages (RFC 3501 §6.3.11, RFC 3502 MULTIAPPEND)
-- into the mailbox named p_name (canonical UTF-8), all or nothing, in one
-- transaction: n messages take n consecutive UIDs from one mail_allocate
-- (first_uid .. first_uid + n - 1, in argument order) and share one new
-- modseq, and one INSERT puts them all in, so the 0003 quota trigger judges
-- the batch as a whole (MSOQ0: nothing at all is stored).
--
-- Message i is described by element i of each array. p_keywords[i] holds
-- its keywords separated by spaces ('' for none: keywords are atoms);
-- p_internaldates[i] and p_sent_dates[i] are Unix times (NULL: now, and
-- unknown). Its raw bytes are p_nchunks[i] consecutive elements of
-- p_chunks, after those of the messages before it. Content is stored once
-- per account (dedup by SHA-256) as mail_append does: new content before
-- the mailbox row is locked (a new messages row is invisible to every other
-- transaction until commit, so nobody waits on it in the other order);
-- existing content is locked after the mailbox row, so that an expunge of
-- its last reference cannot delete it under us (and if one just did, the
-- content is stored again).
--
-- Keywords compare case-insensitively: each is spelt as the mailbox (or
-- the first message of the batch that uses it) spells it, and the new ones
-- are added to the mailbox's list, at most p_max_mailbox_keywords in all.
--
-- Errors: MSNF0 no such mailbox, MSFB0 the name is a \Noselect
-- placeholder, MSIV0 inconsistent arguments, MSLM0 a limit (keywords, UID
-- space), MSOQ0 quota. Returns one row: the mailbox, its UIDVALIDITY, the
-- first new UID, the number of messages, and the mailbox's whole keyword
-- list when it grew (else NULL).
CREATE FUNCTION mail_append_batch(p_account bigint, p_name text, p_max_mailbox_keywords integer,
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
LANGUAGE plpgsql AS $$
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
	       mail_keywords_canon(coalesce(string_to_array(p_keywords[t.i], ' '), '{}'),
	                           mb_keywords),
	       new_modseq, coalesce(to_timestamp(p_internaldates[t.i]), now())
	  FROM generate_series(1, n) AS t(i);

	r_mailbox_id := v_mailbox;
	r_uidvalidity := v_uidvalidity;
	r_first_uid := first_uid;
	r_count := n;
	r_keywords := CASE WHEN cardinality(new_kw) > 0 THEN array_to_string(mb_keywords, ' ') END;
	RETURN NEXT;
END $$;

-- MOVE (RFC 6851): moves the source mailbox's messages in the UID ranges to
-- the mailbox named p_dst_name, atomically: every message is in exactly one
-- of the two mailboxes at any time anyone can look. The target may be the
-- source itself (the messages get new UIDs there, as COPY + EXPUNGE would
-- give them).
--
-- The rows are moved, not copied and deleted: one UPDATE gives each its
-- target mailbox, its new UID (in source UID order, from one mail_allocate
-- of the target), the target's new modseq and a new savedate; flags,
-- internaldate and the message content stay (keywords are spelt as the
-- target spells them, and new ones added to its list, as COPY does). So no
-- insert or delete trigger runs: the account's usage and the messages'
-- reference counts do not change -- a move never needs quota, not even in
-- an account at or over its limit -- and the 0003 update trigger, which
-- matches old and new rows by (mailbox, uid), finds no pair (a new UID is
-- above every old one), so the two mailboxes' counters are moved here.
-- The source records each UID in expunged with one new modseq of its own
-- (how other sessions and QRESYNC learn of it; RFC 6851 §4.4), or with the
-- target's when both are the same mailbox.
--
-- A missing or \Noselect target is MSNF0; too many keywords for the target
-- or its UID space exhausted MSLM0. Returns (source uid, new uid, target
-- mailbox id, target uidvalidity) per moved message, ascending source UID
-- (COPYUID, RFC 4315); no rows when none of the messages exists any more.
CREATE FUNCTION mail_move(p_account bigint, p_src bigint, p_lo bigint[], p_hi bigint[],
                          p_dst_name text, p_max_mailbox_keywords integer)
RETURNS TABLE (r_src_uid bigint, r_dst_uid bigint, r_dst_mailbox bigint, r_dst_uidvalidity bigint)
LANGUAGE plpgsql AS $$
DECLARE
	mb record;
	src_found boolean := false;
	dst_id bigint;
	dst_uidvalidity bigint;
	dst_keywords text[];
	new_kw text[];
	src_uids bigint[];
	n bigint;
	moved bigint;
	n_unseen bigint;
	n_bytes bigint;
	first bigint;
	dst_ms bigint;
	src_ms bigint;
BEGIN
	IF cardinality(p_lo) IS DISTINCT FROM cardinality(p_hi) THEN
		RAISE EXCEPTION 'invalid MOVE arguments' USING ERRCODE = 'MSIV0';
	END IF;
	-- Both rows locked in ascending mailbox_id (DESIGN.md lock order).
	FOR mb IN
		SELECT m.mailbox_id, m.name, m.uidvalidity, m.keywords, m.noselect
		  FROM mailboxes m
		 WHERE m.account_id = p_account AND (m.mailbox_id = p_src OR m.name = p_dst_name)
		 ORDER BY m.mailbox_id
		   FOR NO KEY UPDATE
	LOOP
		IF mb.mailbox_id = p_src AND NOT mb.noselect THEN
			src_found := true;
		END IF;
		IF mb.name = p_dst_name AND NOT mb.noselect THEN
			dst_id := mb.mailbox_id;
			dst_uidvalidity := mb.uidvalidity;
			dst_keywords := mb.keywords;
		END IF;
	END LOOP;
	IF dst_id IS NULL THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	IF NOT src_found THEN
		RETURN; -- the source is gone: nothing to move (the caller's view learns why)
	END IF;

	-- Ascending UIDs: the i-th gets the target's i-th new UID.
	SELECT coalesce(array_agg(mm.uid ORDER BY mm.uid), '{}'),
	       count(*) FILTER (WHERE mm.flags & 1 = 0), coalesce(sum(m.size), 0)
	  INTO src_uids, n_unseen, n_bytes
	  FROM mailbox_messages mm
	  JOIN mail_uids(p_lo, p_hi) AS s(uid) ON mm.uid = s.uid
	  JOIN messages m ON m.account_id = mm.account_id AND m.message_id = mm.message_id
	 WHERE mm.account_id = p_account AND mm.mailbox_id = p_src;
	n := cardinality(src_uids);
	IF n = 0 THEN
		RETURN;
	END IF;

	-- Keywords of the moved messages that the target does not list yet.
	IF dst_id <> p_src THEN
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
				RAISE EXCEPTION 'too many keywords in the target mailbox'
					USING ERRCODE = 'MSLM0';
			END IF;
			UPDATE mailboxes m SET keywords = m.keywords || new_kw
			 WHERE m.account_id = p_account AND m.mailbox_id = dst_id
			RETURNING m.keywords INTO dst_keywords;
		END IF;
	END IF;

	SELECT a.first_uid, a.modseq INTO first, dst_ms
	  FROM mail_allocate(p_account, dst_id, n::integer) a;
	IF dst_id = p_src THEN
		src_ms := dst_ms;
	ELSE
		src_ms := mail_next_modseq(p_account, p_src);
	END IF;

	UPDATE mailbox_messages mm
	   SET mailbox_id = dst_id, uid = first + t.i - 1, modseq = dst_ms, savedate = now(),
	       keywords = CASE WHEN mm.keywords <@ dst_keywords THEN mm.keywords -- already
	                       ELSE mail_keywords_canon(mm.keywords, dst_keywords) END
	  FROM unnest(src_uids) WITH ORDINALITY AS t(uid, i)
	 WHERE mm.account_id = p_account AND mm.mailbox_id = p_src AND mm.uid = t.uid;
	GET DIAGNOSTICS moved = ROW_COUNT;
	IF moved <> n THEN
		-- Impossible while the source row lock is held.
		RAISE EXCEPTION 'messages changed under a locked mailbox';
	END IF;

	INSERT INTO expunged (account_id, mailbox_id, uid, modseq)
	SELECT p_account, p_src, t.uid, src_ms FROM unnest(src_uids) AS t(uid);

	IF dst_id <> p_src THEN
		UPDATE mailboxes m
		   SET messages = m.messages - n, unseen = m.unseen - n_unseen, bytes = m.bytes - n_bytes
		 WHERE m.account_id = p_account AND m.mailbox_id = p_src;
		UPDATE mailboxes m
		   SET messages = m.messages + n, unseen = m.unseen + n_unseen, bytes = m.bytes + n_bytes
		 WHERE m.account_id = p_account AND m.mailbox_id = dst_id;
	END IF;

	RETURN QUERY
		SELECT t.uid, first + t.i - 1, dst_id, dst_uidvalidity
		  FROM unnest(src_uids) WITH ORDINALITY AS t(uid, i) ORDER BY t.i;
END $$;
