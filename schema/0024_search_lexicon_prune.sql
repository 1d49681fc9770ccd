-- Mailstead schema, migration 0024: the per-account search lexicon loses
-- the words of deleted messages.
--
-- search_words (0013) holds every distinct token an account's indexed
-- messages ever had (message IDs and signatures included), so that a
-- BODY/TEXT needle can be expanded to the words containing it. It only
-- grew: rows of deleted messages went, their words stayed. Now the
-- deletions are counted per account, and the indexer, when idle, prunes
-- the lexicon of an account with at least search_lexicon_prune_min
-- deletions since its last prune (mail_search_lexicon_prune): the words
-- that no index row of the account holds any more are deleted.
--
-- Why SEARCH answers stay exact. A search needs every word of every
-- committed index row of the account in the lexicon. An index row and its
-- words are stored in one transaction (0013, 0020), and every insert into
-- message_search first takes the account's lexicon lock in shared mode
-- (the trigger below), held to its commit. The prune takes it in exclusive
-- mode, without waiting (a store in flight: it leaves the account for its
-- next try), so every store that held it has committed and the prune's
-- next statement's snapshot sees their rows: it keeps their words. A store
-- that starts during the prune waits for its commit, and then inserts any
-- word the prune removed again (ON CONFLICT finds no row). Rows deleted
-- during the prune only leave words behind, for the next one.
--
-- The lock: pg_advisory_xact_lock(1297306456, account_id mod 2^31 - 1).
-- Two accounts may share a key: they then only wait for each other.

-- Deletions of index rows since the account's last prune. No foreign key:
-- the rows of an account being deleted are counted while its row goes,
-- and a foreign key would make that delete fail. The prune removes an
-- orphan once it reaches the threshold; below it, a row of a few bytes
-- stays.
CREATE TABLE search_lexicon_state (
	account_id bigint PRIMARY KEY,
	deleted    bigint NOT NULL DEFAULT 0 CHECK (deleted >= 0),
	pruned_at  timestamptz
);
CREATE INDEX search_lexicon_state_deleted_idx ON search_lexicon_state (deleted);

CREATE FUNCTION mail_search_lexicon_key(p_account bigint) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT (p_account % 2147483647)::integer
$$;

CREATE FUNCTION mail_search_lexicon_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_advisory_xact_lock_shared(1297306456, mail_search_lexicon_key(NEW.account_id));
	RETURN NEW;
END $$;

CREATE TRIGGER message_search_lexicon_guard BEFORE INSERT ON message_search
	FOR EACH ROW EXECUTE FUNCTION mail_search_lexicon_guard();

CREATE FUNCTION mail_search_lexicon_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO search_lexicon_state AS s (account_id, deleted)
	SELECT g.account_id, count(*) FROM gone g GROUP BY g.account_id
	 ORDER BY g.account_id
	ON CONFLICT (account_id) DO UPDATE SET deleted = s.deleted + EXCLUDED.deleted;
	RETURN NULL;
END $$;

CREATE TRIGGER message_search_lexicon_count AFTER DELETE ON message_search
	REFERENCING OLD TABLE AS gone
	FOR EACH STATEMENT EXECUTE FUNCTION mail_search_lexicon_count();

-- Prunes the lexicon of one account with at least p_min deletions since
-- its last prune, and at least a tenth of its index rows (the most
-- first), unless another prune or a store holds
-- it (then nothing: the next idle moment tries again). Returns the account
-- and the words deleted, or no row when there was nothing to do. Work is
-- one pass over the account's index rows (their word arrays) and one over
-- its lexicon.
CREATE FUNCTION mail_search_lexicon_prune(p_min bigint,
                                          OUT r_account bigint, OUT r_words bigint)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE
	v record;
BEGIN
	IF p_min < 1 THEN
		RAISE EXCEPTION 'p_min must be positive' USING ERRCODE = 'MSIV0';
	END IF;
	-- Also at least a tenth of the account's index rows: the pass costs
	-- ~67 us per index row (20,000 messages: 1.3 s), so a big account
	-- pays at most ~0.7 ms per deleted row.
	FOR v IN SELECT s.account_id, s.deleted FROM search_lexicon_state s
	          WHERE s.deleted >= p_min
	            AND s.deleted * 10 >= (SELECT count(*) FROM message_search x
	                                    WHERE x.account_id = s.account_id)
	          ORDER BY s.deleted DESC, s.account_id LIMIT 8
	LOOP
		IF NOT EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = v.account_id) THEN
			DELETE FROM search_lexicon_state WHERE account_id = v.account_id;
			CONTINUE;
		END IF;
		IF NOT pg_try_advisory_xact_lock(1297306456,
		                                 mail_search_lexicon_key(v.account_id)) THEN
			CONTINUE;
		END IF;
		-- A new statement, a new snapshot: every store that held the
		-- lock has committed.
		WITH live AS (
			SELECT DISTINCT CASE WHEN u.w LIKE 'h:%' THEN substr(u.w, 3) ELSE u.w END AS w
			  FROM message_search s, unnest(s.words) AS u(w)
			 WHERE s.account_id = v.account_id AND u.w NOT LIKE 'a:%'
		), del AS (
			DELETE FROM search_words sw
			 WHERE sw.account_id = v.account_id
			   AND NOT EXISTS (SELECT 1 FROM live l WHERE l.w = sw.word)
			RETURNING 1
		)
		SELECT count(*) INTO r_words FROM del;
		-- Deletions counted since the pick stay for the next prune.
		UPDATE search_lexicon_state
		   SET deleted = greatest(deleted - v.deleted, 0), pruned_at = now()
		 WHERE account_id = v.account_id;
		r_account := v.account_id;
		RETURN NEXT;
		RETURN;
	END LOOP;
END $$;
