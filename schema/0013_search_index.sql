-- Mailstead schema, migration 0013: an asynchronous word index for SEARCH
-- BODY and TEXT (RFC 3501 §6.4.4), built outside delivery.
--
-- BODY/TEXT are case-insensitive substring matches; until now they scanned
-- messages.body_text/headers_text with ILIKE: ~4 s for 100,000 messages,
-- mostly lower-casing and detoasting (docs/benchmarks.md). Indexing those
-- columns at delivery costs ~1 ms of CPU per message (DESIGN.md §9), so
-- mailstead-imapd workers index them in the background
-- (server/search_indexer.c calling mail_search_index_step) and SEARCH uses
-- the index where it is complete and exact, and scans the rest.
--
-- Why the answer stays exactly that of the scan. ILIKE on a UTF-8
-- database compares lower(text) with lower(pattern), so TEXT "n" matches
-- when strpos(lower(text), lower(n)) > 0. The index stores, per message,
-- its tokens: the maximal runs of [[:alnum:]] characters of lower(text),
-- computed by PostgreSQL itself (same lower(), same character classes as
-- the query, whatever the locale). Then, for a needle whose lower() is made
-- of [[:alnum:]] characters only ("indexable"):
--   * a token containing lower(n) proves a match (a token is a substring
--     of lower(text));
--   * a match proves such a token: an occurrence of lower(n) in lower(text)
--     contains no separator, so it lies inside one maximal run.
-- So "some token contains lower(n)" is exactly the scan's answer. Tokens
-- containing the needle are found in a per-account lexicon (search_words)
-- through a trigram index, then messages holding any of them through a GIN
-- index on message_search.words. Needles with other characters (spaces,
-- punctuation) and messages the index cannot answer for are scanned:
--   * messages of a mailbox above its indexed_uid (mailbox_search_state);
--   * messages whose index row is not exact (a token over 200 bytes, which
--     the GIN index could not hold, was left out).
--
-- Why indexed_uid is safe: UIDs of one mailbox are allocated under its row
-- lock and commit in UID order (0003), so a snapshot that sees UID u sees
-- every committed UID below it; the indexer covers a mailbox's rows up to
-- the highest UID of its batch (or uidnext - 1 when the batch reached the
-- end) in the transaction that stores their index rows. Index rows are
-- keyed by message and deleted with it (ON DELETE CASCADE), so
-- an expunged message leaves nothing behind; a mailbox's watermark goes with
-- the mailbox. Words of deleted messages stay in the account's lexicon (it
-- only widens the term list of a search) until the account is deleted.

CREATE TABLE message_search (
	account_id bigint NOT NULL,
	message_id bigint NOT NULL,
	-- false: a token was too long to index; SEARCH scans this message.
	exact      boolean NOT NULL,
	-- Distinct tokens of lower(body_text), those of lower(headers_text)
	-- prefixed 'h:', and 'a:<account_id>' (':' separates tokens, so none
	-- of these is a body token). The account token makes the GIN index
	-- the only index a search's word lookup can use: with an account_id
	-- condition PostgreSQL may read the account's rows through the primary
	-- key, or the table sequentially when it is small, and compare every
	-- word array (measured: 300 ms instead of 40 ms for 20,000 messages).
	words      text[] NOT NULL,
	-- Never read. PostgreSQL moves values out of line only from rows of
	-- more than ~2 KB, and most word arrays are smaller: inline they made
	-- the heap 1.3 KB per message, and a common word's bitmap heap scan
	-- read 17,000 pages (125 ms of a 200 ms search of 100,000 messages).
	-- These 2 KB of spaces push every row over that threshold; with
	-- toast_tuple_target = 128 the words then go to the TOAST table and the
	-- pad stays inline, compressed to ~30 bytes: ~100 bytes per row (10 MB
	-- per 100,000 messages), 1,300 pages, 30 ms.
	toast_pad  text NOT NULL DEFAULT repeat(' ', 2048),
	PRIMARY KEY (account_id, message_id),
	FOREIGN KEY (account_id, message_id) REFERENCES messages ON DELETE CASCADE
) WITH (toast_tuple_target = 128);

CREATE INDEX message_search_words_idx ON message_search USING gin (words);
CREATE INDEX message_search_inexact_idx ON message_search (account_id, message_id)
	WHERE NOT exact;

CREATE TABLE search_words (
	account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
	word       text NOT NULL,
	PRIMARY KEY (account_id, word)
);
CREATE INDEX search_words_trgm_idx ON search_words USING gin (account_id, word gin_trgm_ops);

CREATE TABLE mailbox_search_state (
	account_id  bigint NOT NULL,
	mailbox_id  bigint NOT NULL,
	-- Every message of the mailbox with a UID up to this has its
	-- message_search row.
	indexed_uid bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, mailbox_id),
	FOREIGN KEY (account_id, mailbox_id) REFERENCES mailboxes ON DELETE CASCADE
);

-- Can the index answer for this needle? (See above.)
CREATE FUNCTION mail_search_indexable(p_needle text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT lower(p_needle) ~ '^[[:alnum:]]+$'
$$;

-- The index row of one message: exact is false when a token was left out.
CREATE FUNCTION mail_search_words(p_headers text, p_body text, OUT exact boolean,
                                  OUT words text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	WITH t(w) AS (
		SELECT DISTINCT b FROM regexp_split_to_table(lower(coalesce(p_body, '')),
		                                             '[^[:alnum:]]+') AS b
		 WHERE b <> ''
		UNION ALL
		SELECT DISTINCT 'h:' || h FROM regexp_split_to_table(lower(coalesce(p_headers, '')),
		                                                      '[^[:alnum:]]+') AS h
		 WHERE h <> '')
	SELECT coalesce(bool_and(octet_length(w) <= 200), true),
	       coalesce(array_agg(w) FILTER (WHERE octet_length(w) <= 200), '{}')
	  FROM t
$$;

-- The index terms for a needle: the account's tokens that contain it
-- (LIKE for the trigram index, strpos as the exact test), and with
-- p_headers their 'h:' forms too. Only meaningful for indexable needles.
CREATE FUNCTION mail_search_terms(p_account bigint, p_needle text, p_headers boolean)
RETURNS text[] LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
	SELECT coalesce(array_agg(w.word) ||
	                CASE WHEN p_headers THEN array_agg('h:' || w.word) ELSE '{}' END, '{}')
	  FROM search_words w
	 WHERE w.account_id = p_account
	   AND w.word LIKE '%' || lower(p_needle) || '%'
	   AND strpos(w.word, lower(p_needle)) > 0
$$;

-- One step of the background indexer: picks one mailbox with UIDs above
-- its watermark that no other indexer holds (FOR UPDATE SKIP LOCKED),
-- indexes up to p_limit of its messages, and advances the watermark.
-- With p_mailbox, only that mailbox of p_account is considered (the
-- workers know from the change notifications which mailboxes changed);
-- without, every mailbox (a sweep: a scan of mailboxes, ~0.5 us per
-- mailbox, for the catch-up after the upgrade, restarts and notifications
-- lost). Returns how many messages it indexed, and whether work may
-- remain (more: call again soon); "indexed" counts the mailbox's messages
-- newly covered by its watermark, 0 when it could not move (another
-- indexer holds the mailbox, or a message is being deleted). Bounded work
-- per call; one transaction.
--
-- Locks, in this order, so that concurrent steps cannot deadlock: the
-- state row; messages FOR KEY SHARE SKIP LOCKED (a message being deleted
-- is skipped, and the watermark stops below it, so a delete that rolls back
-- leaves nothing unindexed; an expunge never waits for us); index rows in
-- message_id order; lexicon rows in word order.
CREATE FUNCTION mail_search_index_step(p_limit integer, p_account bigint, p_mailbox bigint,
                                       OUT indexed integer, OUT more boolean)
LANGUAGE plpgsql AS $$
DECLARE
	v record;
	v_from bigint;
	v_uidnext bigint;
	v_uids bigint[];
	v_mids bigint[];
	v_need bigint[];
	v_locked bigint[];
	v_new bigint;
	v_stop bigint;
	v_candidates integer := 0;
BEGIN
	indexed := 0;
	more := false;
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
		IF v_from IS NOT NULL THEN
			more := true; -- another mailbox waits: one per step
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
		   FOR UPDATE SKIP LOCKED;
		IF NOT FOUND THEN
			more := true; -- another indexer has it
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
			v_from := NULL; -- deleted meanwhile
			CONTINUE;
		END IF;
		v_need := ARRAY(SELECT DISTINCT u.mid FROM unnest(v_mids) AS u(mid)
		                 WHERE NOT EXISTS (SELECT 1 FROM message_search s
		                                    WHERE s.account_id = v.account_id
		                                      AND s.message_id = u.mid)
		                 ORDER BY u.mid);
		v_locked := ARRAY(SELECT m.message_id FROM messages m
		                   WHERE m.account_id = v.account_id AND m.message_id = ANY (v_need)
		                   ORDER BY m.message_id
		                     FOR KEY SHARE OF m SKIP LOCKED);
		WITH ins AS (
			INSERT INTO message_search (account_id, message_id, exact, words)
			SELECT v.account_id, m.message_id, t.exact,
			       t.words || ('a:' || v.account_id::text)
			  FROM messages m, LATERAL mail_search_words(m.headers_text, m.body_text) t
			 WHERE m.account_id = v.account_id AND m.message_id = ANY (v_locked)
			 ORDER BY m.message_id
			ON CONFLICT DO NOTHING
			RETURNING words)
		INSERT INTO search_words (account_id, word)
		SELECT v.account_id, x.w
		  FROM (SELECT DISTINCT CASE WHEN w LIKE 'h:%' THEN substr(w, 3) ELSE w END AS w
		          FROM ins, unnest(ins.words) AS w
		         WHERE w NOT LIKE 'a:%') x
		 ORDER BY x.w
		ON CONFLICT DO NOTHING;
		IF cardinality(v_uids) < p_limit THEN
			v_new := v_uidnext - 1;
		ELSE
			v_new := v_uids[cardinality(v_uids)];
			more := true;
		END IF;
		SELECT min(u.uid) - 1 INTO v_stop
		  FROM unnest(v_uids, v_mids) AS u(uid, mid)
		 WHERE u.mid = ANY (v_need) AND NOT u.mid = ANY (v_locked);
		IF v_stop IS NOT NULL AND v_stop < v_new THEN
			v_new := v_stop;
			more := true;
		END IF;
		IF v_new > v_from THEN
			UPDATE mailbox_search_state SET indexed_uid = v_new
			 WHERE account_id = v.account_id AND mailbox_id = v.mailbox_id;
			-- Progress: the messages now covered, indexed here or before
			-- (a copy of an indexed message needs no new row).
			indexed := (SELECT count(*) FROM unnest(v_uids) AS u(uid) WHERE u.uid <= v_new);
		END IF;
	END LOOP;
	IF v_candidates >= 16 THEN
		more := true;
	END IF;
END $$;
