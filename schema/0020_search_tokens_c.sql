-- Mailstead schema, migration 0020: the search indexer tokenises in the
-- worker (C) instead of in PostgreSQL.
--
-- mail_search_index_step (0013) computed every message's tokens with
-- regexp_split_to_table(lower(text), '[^[:alnum:]]+'): ~1.5 ms of
-- PostgreSQL CPU per message indexed (per mailbox copy), ~75% of it in
-- regexp_split_to_table (perf), the rest the GIN insert. That made it the
-- largest CPU cost of the deliver and mixed benchmarks (docs/benchmarks.md).
-- Now a step is two requests of the worker (server/search_indexer.c,
-- server/store_search.c, server/search_tokens.c):
--   (A) mail_search_index_read picks a mailbox as the step did, claims it,
--       and returns its messages above the watermark that have no index
--       row yet, with their text (bounded by count and bytes);
--   (B) the worker splits the text into tokens, and
--       mail_search_index_store stores them and advances the watermark,
--       with the step's locks, lock order and watermark rules.
-- Message content never changes after insert, so text read in (A) is
-- still the message's text in (B).
-- Measured (catch-up of a 3,000-message corpusgen corpus, 24 MB of text,
-- 10 mailboxes, 3 A/B rounds): PostgreSQL CPU 1.27 -> 0.55 ms per message;
-- the worker's tokenising ~0.04 ms per message (~5 ns a byte). The same
-- 548,865 index words and no inexact row either way on that corpus.
--
-- Why SEARCH answers stay exactly those of the scan. 0013 proves it for
-- PostgreSQL's tokens, the maximal [[:alnum:]] runs of lower(text). It
-- holds as well for coarser tokens T, provided
--   (1) every token in T is a substring of lower(text), and
--   (2) the separators of T are a subset of lower(text)'s non-[[:alnum:]]
--       characters.
-- For an "indexable" needle n (lower(n) all [[:alnum:]]): an occurrence
-- of lower(n) in lower(text) lies inside one PostgreSQL run, which by (2)
-- lies inside one token of T; and a token of T containing lower(n) proves
-- an occurrence by (1). So "some token contains lower(n)" is still the
-- scan's answer, and the search side (0013's mail_search_terms, the GIN
-- lookup) is unchanged. The worker's tokens: split only at ASCII bytes
-- that are not [0-9A-Za-z] (never inside a UTF-8 multibyte sequence, whose
-- bytes are all >= 0x80), lower ASCII letters in C, and let this
-- function apply lower() to every token holding a non-ASCII byte. That
-- gives (1) and (2) when:
--   * lower() works character by character, with no context: then the
--     lower() of a piece of text is the matching piece of lower(text)
--     (true for the libc provider: towlower() per character; not for ICU,
--     e.g. Greek final sigma), and
--   * on ASCII, [[:alnum:]] is [0-9A-Za-z] and lower() is ASCII tolower()
--     (false e.g. in a Turkish locale, where lower('I') is 'ı'), and
--   * the text is UTF-8.
-- mail_search_c_tokens_ok() checks exactly that; a worker whose check
-- fails keeps calling mail_search_index_step (still here, still tested).
-- PostgreSQL's tokens are a refinement of the worker's: "foo—bar" (em
-- dash) is one token here, two for PostgreSQL; both find "foo".
--
-- The 200-byte limit keeps its meaning: a token over 200 bytes (with its
-- 'h:' prefix, after lower()) is left out and the row is not exact, so
-- SEARCH scans that message. Coarser tokens are longer, so a few more
-- rows may be inexact (answers do not change, only that message's speed).

-- Whether the worker's tokens are valid in this database (see above).
-- Also true only when messages' text columns use the database's collation:
-- lower() of a column uses the column's collation, lower() of a parameter
-- the database's.
CREATE FUNCTION mail_search_c_tokens_ok() RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT getdatabaseencoding() = 'UTF8'
	   AND (SELECT d.datlocprovider = 'c' FROM pg_database d
	         WHERE d.datname = current_database())
	   AND NOT EXISTS (SELECT 1 FROM pg_attribute a
	                    WHERE a.attrelid = 'messages'::regclass
	                      AND a.attname IN ('headers_text', 'body_text')
	                      AND a.attcollation <> 'pg_catalog.default'::regcollation)
	   AND NOT EXISTS (SELECT 1 FROM generate_series(1, 127) AS g(c)
	                    WHERE (chr(g.c) ~ '^[[:alnum:]]$') IS DISTINCT FROM
	                          (g.c BETWEEN 48 AND 57 OR g.c BETWEEN 65 AND 90
	                           OR g.c BETWEEN 97 AND 122)
	                       OR lower(chr(g.c)) IS DISTINCT FROM
	                          chr(CASE WHEN g.c BETWEEN 65 AND 90 THEN g.c + 32 ELSE g.c END))
$$;

-- A mailbox being indexed by a worker between its two requests: other
-- workers (every worker hears every change notification) leave it alone
-- until then, instead of reading and tokenising the same messages for
-- nothing. A claim of a worker that died lapses.
ALTER TABLE mailbox_search_state ADD COLUMN claimed_until timestamptz;

-- (A) The first row describes the step: the mailbox picked (NULL: none),
-- the watermark read (from_uid), the watermark (B) is to set when every
-- message is stored (last_uid: the last UID read, or uidnext - 1 when the
-- read reached the end), and more (work may remain: the batch was cut by
-- p_limit or p_bytes, or other mailboxes wait or are held). The other rows
-- are the messages to tokenise, once each: message_id, headers, body.
-- Bounded by p_limit messages of the mailbox and, past the first one to
-- tokenise, p_bytes of text. With p_mailbox only that mailbox of
-- p_account is considered, without every mailbox, as in
-- mail_search_index_step.
CREATE FUNCTION mail_search_index_read(p_limit integer, p_bytes bigint, p_account bigint,
                                       p_mailbox bigint)
RETURNS TABLE (r_account bigint, r_mailbox bigint, r_from bigint, r_last bigint,
               r_more boolean, r_message bigint, r_headers text, r_body text)
LANGUAGE plpgsql AS $$
DECLARE
	v record;
	v_from bigint;
	v_uidnext bigint;
	v_uids bigint[];
	v_mids bigint[];
	v_cut bigint;
	v_last bigint;
	v_account bigint;
	v_mailbox bigint;
	v_more boolean := false;
	v_candidates integer := 0;
	v_found boolean := false;
BEGIN
	IF p_limit < 1 THEN
		RAISE EXCEPTION 'p_limit must be positive' USING ERRCODE = 'MSIV0';
	END IF;
	FOR v IN (SELECT mb.account_id, mb.mailbox_id
	            FROM mailboxes mb
	            LEFT JOIN mailbox_search_state st
	              ON st.account_id = mb.account_id AND st.mailbox_id = mb.mailbox_id
	           WHERE p_mailbox IS NOT NULL
	             AND mb.account_id = p_account AND mb.mailbox_id = p_mailbox
	             AND mb.uidnext - 1 > coalesce(st.indexed_uid, 0))
	         UNION ALL
	         (SELECT mb.account_id, mb.mailbox_id
	            FROM mailboxes mb
	            LEFT JOIN mailbox_search_state st
	              ON st.account_id = mb.account_id AND st.mailbox_id = mb.mailbox_id
	           WHERE p_mailbox IS NULL
	             AND mb.uidnext - 1 > coalesce(st.indexed_uid, 0)
	           LIMIT 16)
	LOOP
		v_candidates := v_candidates + 1;
		IF v_found THEN
			v_more := true; -- another mailbox waits: one per step
			EXIT;
		END IF;
		BEGIN
			INSERT INTO mailbox_search_state (account_id, mailbox_id)
			VALUES (v.account_id, v.mailbox_id) ON CONFLICT DO NOTHING;
		EXCEPTION WHEN foreign_key_violation THEN
			CONTINUE; -- the mailbox was just deleted
		END;
		SELECT st.indexed_uid INTO v_from FROM mailbox_search_state st
		 WHERE st.account_id = v.account_id AND st.mailbox_id = v.mailbox_id
		   AND (st.claimed_until IS NULL OR st.claimed_until < clock_timestamp())
		   FOR UPDATE SKIP LOCKED;
		IF NOT FOUND THEN
			v_more := true; -- another indexer has it
			CONTINUE;
		END IF;
		-- One statement, one snapshot: the batch and the UIDs allocated.
		SELECT (SELECT mb.uidnext FROM mailboxes mb
		         WHERE mb.account_id = v.account_id AND mb.mailbox_id = v.mailbox_id),
		       ARRAY(SELECT mm.uid FROM mailbox_messages mm
		              WHERE mm.account_id = v.account_id AND mm.mailbox_id = v.mailbox_id
		                AND mm.uid > v_from ORDER BY mm.uid LIMIT p_limit),
		       ARRAY(SELECT mm.message_id FROM mailbox_messages mm
		              WHERE mm.account_id = v.account_id AND mm.mailbox_id = v.mailbox_id
		                AND mm.uid > v_from ORDER BY mm.uid LIMIT p_limit)
		  INTO v_uidnext, v_uids, v_mids;
		IF v_uidnext IS NULL THEN
			CONTINUE; -- deleted meanwhile
		END IF;
		v_found := true;
		UPDATE mailbox_search_state
		   SET claimed_until = clock_timestamp() + interval '30 seconds'
		 WHERE account_id = v.account_id AND mailbox_id = v.mailbox_id;
		IF cardinality(v_uids) < p_limit THEN
			v_last := v_uidnext - 1;
		ELSE
			v_last := v_uids[cardinality(v_uids)];
			v_more := true;
		END IF;
		-- Cut by bytes: the first message to tokenise that would start
		-- past p_bytes of text (octet_length of a stored value reads no
		-- data) is left for the next step, with every UID from it on.
		SELECT min(y.ord) INTO v_cut
		  FROM (SELECT x.ord,
		               sum(octet_length(m.headers_text) + octet_length(m.body_text))
		                 OVER (ORDER BY x.ord ROWS BETWEEN UNBOUNDED PRECEDING
		                                           AND 1 PRECEDING) AS before
		          FROM unnest(v_mids) WITH ORDINALITY AS x(mid, ord)
		          JOIN messages m ON m.account_id = v.account_id AND m.message_id = x.mid
		         WHERE NOT EXISTS (SELECT 1 FROM message_search s
		                            WHERE s.account_id = v.account_id
		                              AND s.message_id = x.mid)) y
		 WHERE y.before >= p_bytes;
		IF v_cut IS NOT NULL THEN
			v_last := v_uids[v_cut::integer] - 1;
			v_more := true;
		END IF;
		v_account := v.account_id;
		v_mailbox := v.mailbox_id;
	END LOOP;
	IF v_candidates >= 16 THEN
		v_more := true;
	END IF;
	RETURN QUERY SELECT v_account, v_mailbox, v_from, v_last, v_more,
	                    NULL::bigint, NULL::text, NULL::text;
	IF v_found THEN
		-- A message copied twice into the batch is read once.
		RETURN QUERY
		SELECT NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::boolean,
		       m.message_id, m.headers_text, m.body_text
		  FROM (SELECT DISTINCT ON (u.mid) u.mid, u.ord
		          FROM unnest(v_mids) WITH ORDINALITY AS u(mid, ord)
		         WHERE u.ord < coalesce(v_cut, cardinality(v_mids) + 1)
		           AND NOT EXISTS (SELECT 1 FROM message_search s
		                            WHERE s.account_id = v_account
		                              AND s.message_id = u.mid)
		         ORDER BY u.mid, u.ord) x
		  JOIN messages m ON m.account_id = v_account AND m.message_id = x.mid
		 ORDER BY x.ord;
	END IF;
END $$;

-- (B) Stores the tokens of the messages p_mids (p_ascii: lowered ASCII
-- tokens; p_other: tokens with non-ASCII bytes, lowered here; both
-- ' '-separated, 'h:' for header tokens; p_exact: no token was left out)
-- for mailbox p_mailbox, whose watermark was p_from when read, and
-- advances its watermark to p_last, or below the first message it could
-- not store. Returns what mail_search_index_step returns.
--
-- Locks as mail_search_index_step, in the same order: the state row
-- (SKIP LOCKED: held by another step, this one gives up and says more);
-- messages FOR KEY SHARE SKIP LOCKED (one being deleted is skipped and the
-- watermark stops below it); index rows in message_id order; lexicon rows
-- in word order. If the watermark moved since (A) (another worker took
-- over after the claim lapsed), the batch is stale: nothing is stored.
-- The messages of the mailbox up to p_last are those (A) saw, less any
-- expunged since: UIDs allocated later are above (A)'s uidnext (0013).
CREATE FUNCTION mail_search_index_store(p_account bigint, p_mailbox bigint, p_from bigint,
                                        p_last bigint, p_mids bigint[], p_exact boolean[],
                                        p_ascii text[], p_other text[],
                                        OUT indexed integer, OUT more boolean)
LANGUAGE plpgsql AS $$
DECLARE
	v_cur bigint;
	v_uids bigint[];
	v_mids bigint[];
	v_need bigint[];
	v_locked bigint[];
	v_new bigint;
	v_stop bigint;
BEGIN
	indexed := 0;
	more := false;
	SELECT st.indexed_uid INTO v_cur FROM mailbox_search_state st
	 WHERE st.account_id = p_account AND st.mailbox_id = p_mailbox
	   FOR UPDATE SKIP LOCKED;
	IF NOT FOUND THEN
		-- Held by another step (or the mailbox is gone: nothing to do).
		more := EXISTS (SELECT 1 FROM mailbox_search_state st
		                 WHERE st.account_id = p_account AND st.mailbox_id = p_mailbox);
		RETURN;
	END IF;
	IF v_cur <> p_from THEN
		more := true;
		RETURN;
	END IF;
	SELECT ARRAY(SELECT mm.uid FROM mailbox_messages mm
	              WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
	                AND mm.uid > p_from AND mm.uid <= p_last ORDER BY mm.uid),
	       ARRAY(SELECT mm.message_id FROM mailbox_messages mm
	              WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
	                AND mm.uid > p_from AND mm.uid <= p_last ORDER BY mm.uid)
	  INTO v_uids, v_mids;
	v_need := ARRAY(SELECT DISTINCT u.mid FROM unnest(v_mids) AS u(mid)
	                 WHERE NOT EXISTS (SELECT 1 FROM message_search s
	                                    WHERE s.account_id = p_account
	                                      AND s.message_id = u.mid)
	                 ORDER BY u.mid);
	v_locked := ARRAY(SELECT m.message_id FROM messages m
	                   WHERE m.account_id = p_account AND m.message_id = ANY (v_need)
	                     AND m.message_id = ANY (p_mids)
	                   ORDER BY m.message_id
	                     FOR KEY SHARE OF m SKIP LOCKED);
	WITH ins AS (
		INSERT INTO message_search (account_id, message_id, exact, words)
		SELECT p_account, t.mid, t.exact AND x.ok,
		       t.words || x.words || ('a:' || p_account::text)
		  FROM (SELECT u.mid, u.exact, string_to_array(u.ascii, ' ') AS words, u.other
		          FROM unnest(p_mids, p_exact, p_ascii, p_other) AS u(mid, exact, ascii, other)
		         WHERE u.mid = ANY (v_locked)) t,
		       -- lower() once per message over its non-ASCII tokens: it
		       -- works character by character (mail_search_c_tokens_ok),
		       -- so this is each token's lower(). It may map a token
		       -- onto another ('İ' to 'i'): DISTINCT, and not again.
		       LATERAL (SELECT coalesce(bool_and(octet_length(d.w) <= 200), true) AS ok,
		                       coalesce(array_agg(d.w) FILTER (WHERE octet_length(d.w) <= 200),
		                                '{}') AS words
		                  FROM (SELECT DISTINCT o.w
		                          FROM unnest(string_to_array(lower(t.other), ' ')) AS o(w)
		                         WHERE NOT o.w = ANY (t.words)) d) x
		 ORDER BY t.mid
		ON CONFLICT DO NOTHING
		RETURNING words)
	INSERT INTO search_words (account_id, word)
	SELECT p_account, x.w
	  FROM (SELECT DISTINCT CASE WHEN w LIKE 'h:%' THEN substr(w, 3) ELSE w END AS w
	          FROM ins, unnest(ins.words) AS w
	         WHERE w NOT LIKE 'a:%') x
	 ORDER BY x.w
	ON CONFLICT DO NOTHING;
	v_new := p_last;
	SELECT min(u.uid) - 1 INTO v_stop
	  FROM unnest(v_uids, v_mids) AS u(uid, mid)
	 WHERE u.mid = ANY (v_need) AND NOT u.mid = ANY (v_locked);
	IF v_stop IS NOT NULL AND v_stop < v_new THEN
		v_new := v_stop;
		more := true;
	END IF;
	UPDATE mailbox_search_state
	   SET indexed_uid = greatest(indexed_uid, v_new), claimed_until = NULL
	 WHERE account_id = p_account AND mailbox_id = p_mailbox;
	IF v_new > p_from THEN
		-- Progress: the messages now covered, indexed here or before.
		indexed := (SELECT count(*) FROM unnest(v_uids) AS u(uid) WHERE u.uid <= v_new);
	END IF;
END $$;
