-- Mailstead schema, migration 0019: delivery_store_batch does the work of
-- the 0003 insert triggers and of the 0014 size trigger itself, once per
-- batch, in set-based statements.
--
-- After 0016 a batch of deliveries made one INSERT into mailbox_messages,
-- so the statement triggers ran once per batch; but each run is a
-- PL/pgSQL function with its own queries (a join of the transition table
-- with messages per trigger, then one UPDATE per mailbox and one
-- mail_quota_charge call per account), and every row paid the BEFORE
-- INSERT size trigger of 0014 (~37 us: a lookup of messages the batch
-- function had just written). Together they were ~16% of PostgreSQL's CPU
-- in the deliver benchmark (docs/benchmarks.md, Delivery). The batch
-- function already knows every size (it stored the new content, and it
-- locks the existing content's row anyway), so it now:
--
-- * inserts the new content of the whole batch in one INSERT into
--   messages and one into message_chunks (was two INSERTs per entry
--   through mail_content_insert and delivery_chunks);
-- * sets mailbox_messages.size in its INSERT (the 0014 trigger is then
--   skipped by its WHEN clause);
-- * allocates the UIDs and modseq of every INBOX and adds to its counters
--   (messages, unseen, bytes) in one UPDATE of the mailbox rows (was one
--   mail_allocate call per INBOX plus one UPDATE per INBOX in the trigger);
-- * charges every account in one UPDATE and checks the account and domain
--   limits as mail_quota_charge does (MSOQ0), the domain's after locking
--   its row, which mail_quota_charge now does too (see the end of this
--   file: concurrent charges of one domain could both pass its limit);
-- * adds the references of the content in the UPDATE of each content row
--   that also locks it and reads its size (was a SELECT ... FOR NO KEY
--   UPDATE per existing content row plus the refs trigger's UPDATE);
-- * and tells the two insert triggers of 0003 that their work is done
--   through a transaction-local setting, mailstead.delivery_counted, that
--   it sets around its own INSERT only. Every other INSERT (APPEND, COPY,
--   MOVE, delivery_store) leaves it unset and the triggers run as before.
--
-- Lock order as in 0016 and the triggers: mailbox rows in ascending
-- mailbox_id, then content rows, then account rows (here explicitly in
-- ascending account_id, as the trigger's loop went), then the rows of
-- domains that have a limit (ascending domain_id). The quota stays exact
-- under concurrency: the account rows, and the domain rows with a limit,
-- are locked before their sums are compared, and a batch that would
-- exceed a limit fails as a whole (the server then stores each of its
-- messages alone with delivery_store, whose savepoints give each recipient
-- its own reply), as before.
--
-- Arguments, results and errors are those of 0016.

-- The triggers skip their work when the inserting statement has done it
-- (only delivery_store_batch sets the flag, around its own INSERT).
DROP TRIGGER mailbox_messages_counts_ins ON mailbox_messages;
CREATE TRIGGER mailbox_messages_counts_ins AFTER INSERT ON mailbox_messages
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT
	WHEN (current_setting('mailstead.delivery_counted', true) IS DISTINCT FROM 'on')
	EXECUTE FUNCTION mail_counts_insert();
DROP TRIGGER mailbox_messages_refs_ins ON mailbox_messages;
CREATE TRIGGER mailbox_messages_refs_ins AFTER INSERT ON mailbox_messages
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT
	WHEN (current_setting('mailstead.delivery_counted', true) IS DISTINCT FROM 'on')
	EXECUTE FUNCTION mail_refs_insert();

CREATE OR REPLACE FUNCTION delivery_store_batch(p_msg integer[], p_accounts bigint[],
                                                p_mailboxes bigint[], p_prefixes bytea[],
                                                p_sha256s bytea[], p_partmaps bytea[],
                                                p_hdr_prefixes text[], p_raws bytea[],
                                                p_header_bases bigint[], p_lines bigint[],
                                                p_envelopes bytea[], p_bodies bytea[],
                                                p_bodystructures bytea[],
                                                p_sent_dates bigint[], p_subjects text[],
                                                p_froms text[], p_tos text[], p_ccs text[],
                                                p_bccs text[], p_message_ids text[],
                                                p_headers_tails text[], p_body_texts text[],
                                                p_chunk_size integer)
RETURNS TABLE (r_index integer, r_uid bigint, r_modseq bigint)
LANGUAGE plpgsql
-- As in 0016: lookups by key and joins of small unnested arrays, whose
-- generic plan is the custom one, planned once per connection. But a
-- generic plan is made with the statistics of its first call, when the
-- tables may be small, and it sizes every unnest() at 10 rows: with
-- 0016's PERFORM it hash-joined a sequential scan of mailboxes (every
-- version of every row: each delivery updates one) for a batch of 1-4
-- INBOXes, and the set-based UPDATEs below planned the same way would
-- scan accounts and messages. Every join here goes from the arrays to a
-- table by its key, so the plans are made nested loops over the keys.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
	n integer := coalesce(cardinality(p_accounts), 0);
	m integer := coalesce(cardinality(p_raws), 0);
	mids bigint[];
	sizes bigint[];
	uids bigint[];
	modseqs bigint[];
	al_accounts bigint[];
	al_mailboxes bigint[];
	al_first bigint[];
	al_modseq bigint[];
	n_inboxes integer;
	v_over boolean;
	v_full bytea;
	v_size bigint;
	mid bigint;
	attempts integer;
	i integer;
	j integer;
BEGIN
	IF n = 0 OR m = 0 OR cardinality(p_msg) <> n OR cardinality(p_mailboxes) <> n OR
	   cardinality(p_prefixes) <> n OR cardinality(p_sha256s) <> n OR
	   cardinality(p_partmaps) <> n OR cardinality(p_hdr_prefixes) <> n OR
	   cardinality(p_header_bases) <> m OR cardinality(p_lines) <> m OR
	   cardinality(p_envelopes) <> m OR cardinality(p_bodies) <> m OR
	   cardinality(p_bodystructures) <> m OR cardinality(p_sent_dates) <> m OR
	   cardinality(p_subjects) <> m OR cardinality(p_froms) <> m OR
	   cardinality(p_tos) <> m OR cardinality(p_ccs) <> m OR cardinality(p_bccs) <> m OR
	   cardinality(p_message_ids) <> m OR cardinality(p_headers_tails) <> m OR
	   cardinality(p_body_texts) <> m OR p_chunk_size < 1 OR
	   EXISTS (SELECT 1 FROM unnest(p_msg) AS x WHERE x IS NULL OR x < 1 OR x > m) OR
	   (SELECT count(DISTINCT (x, a)) FROM unnest(p_msg, p_accounts) AS t(x, a)) <> n THEN
		RAISE EXCEPTION 'invalid delivery arguments' USING ERRCODE = 'MSIV0';
	END IF;
	mids := array_fill(NULL::bigint, ARRAY[n]);
	sizes := array_fill(NULL::bigint, ARRAY[n]);

	-- 1. New content, before any mailbox lock is held (as 0016), in two
	-- statements for the whole batch: the messages rows of every entry
	-- whose content its account does not hold yet (once per account and
	-- content: two entries of the batch may carry the same), then their
	-- chunks, cut as delivery_chunks cuts them. Was one mail_content_insert
	-- call per entry (two INSERTs each, their CHECK constraints compiled
	-- again each time, and delivery_chunks parsed and planned each time
	-- as a SQL function). A row that a concurrent transaction inserted
	-- meanwhile is left to it (ON CONFLICT DO NOTHING), as before.
	WITH e AS (
		SELECT DISTINCT ON (t.a, t.sha) t.i::integer AS i, t.a, t.sha, t.x
		  FROM unnest(p_accounts, p_sha256s, p_msg) WITH ORDINALITY AS t(a, sha, x, i)
		 WHERE NOT EXISTS (SELECT 1 FROM messages y
		                    WHERE y.account_id = t.a AND y.sha256 = t.sha)
		 ORDER BY t.a, t.sha, t.i
	), ins AS (
		INSERT INTO messages (account_id, size, sha256, header_size, lines, envelope, body,
		                      bodystructure, partmap, sent_date, hdr_subject, hdr_from,
		                      hdr_to, hdr_cc, hdr_bcc, hdr_message_id, headers_text,
		                      body_text)
		SELECT e.a, length(p_prefixes[e.i]) + length(p_raws[e.x]), e.sha,
		       p_header_bases[e.x] + length(p_prefixes[e.i]), p_lines[e.x],
		       p_envelopes[e.x], p_bodies[e.x], p_bodystructures[e.x], p_partmaps[e.i],
		       to_timestamp(p_sent_dates[e.x]), coalesce(p_subjects[e.x], ''),
		       coalesce(p_froms[e.x], ''), coalesce(p_tos[e.x], ''),
		       coalesce(p_ccs[e.x], ''), coalesce(p_bccs[e.x], ''),
		       coalesce(p_message_ids[e.x], ''),
		       p_hdr_prefixes[e.i] || coalesce(p_headers_tails[e.x], ''),
		       coalesce(p_body_texts[e.x], '')
		  FROM e
		ON CONFLICT (account_id, sha256) DO NOTHING
		RETURNING account_id, message_id, sha256
	)
	INSERT INTO message_chunks (account_id, message_id, chunk_no, data)
	SELECT ins.account_id, ins.message_id, k.k,
	       substring(f.full_octets FROM k.k * p_chunk_size + 1 FOR p_chunk_size)
	  FROM ins
	  JOIN e ON e.a = ins.account_id AND e.sha = ins.sha256
	 CROSS JOIN LATERAL (SELECT p_prefixes[e.i] || p_raws[e.x] AS full_octets) f
	 CROSS JOIN LATERAL generate_series(0, (length(f.full_octets) - 1) / p_chunk_size) AS k(k)
	 WHERE length(f.full_octets) > 0;

	-- 2. Every INBOX of the batch, locked in ascending mailbox_id order.
	PERFORM 1 FROM mailboxes mb
	  JOIN (SELECT DISTINCT a, b FROM unnest(p_accounts, p_mailboxes) AS t(a, b)) t
	    ON mb.account_id = t.a AND mb.mailbox_id = t.b
	 ORDER BY mb.mailbox_id
	   FOR NO KEY UPDATE OF mb;

	-- 3. Every entry's content row, by the account's (account_id,
	-- sha256) key: one UPDATE adds the entry's reference (what the refs
	-- trigger did) and returns the message and its size. It also locks
	-- existing content after the mailbox, so an expunge of its last
	-- reference cannot delete it under us; if one just did, the content
	-- is stored again. A second entry of this batch with the same content
	-- for the same account adds its reference to the same row.
	FOR i IN 1..n LOOP
		attempts := 0;
		LOOP
			UPDATE messages x SET refs = x.refs + 1
			 WHERE x.account_id = p_accounts[i] AND x.sha256 = p_sha256s[i]
			RETURNING x.message_id, x.size INTO mid, v_size;
			EXIT WHEN FOUND;
			attempts := attempts + 1;
			IF attempts > 3 THEN
				RAISE EXCEPTION 'message content keeps changing';
			END IF;
			j := p_msg[i];
			v_full := p_prefixes[i] || p_raws[j];
			PERFORM mail_content_insert(
				p_accounts[i], p_sha256s[i], length(v_full),
				p_header_bases[j] + length(p_prefixes[i]), p_lines[j],
				p_envelopes[j], p_bodies[j], p_bodystructures[j], p_partmaps[i],
				to_timestamp(p_sent_dates[j]), p_subjects[j], p_froms[j],
				p_tos[j], p_ccs[j], p_bccs[j], p_message_ids[j],
				p_hdr_prefixes[i] || coalesce(p_headers_tails[j], ''),
				p_body_texts[j], delivery_chunks(v_full, p_chunk_size));
			v_full := NULL;
		END LOOP;
		mids[i] := mid;
		sizes[i] := v_size;
	END LOOP;

	-- 4. UIDs, modseq and counters of every INBOX in one UPDATE (what
	-- mail_allocate and the counts trigger did per INBOX). A delivered
	-- message has no flags: every new row is unseen.
	SELECT count(*) INTO n_inboxes
	  FROM (SELECT DISTINCT a, b FROM unnest(p_accounts, p_mailboxes) AS t(a, b)) t;
	WITH g AS (SELECT t.a, t.b, count(*) AS c, sum(t.s)::bigint AS bytes
	             FROM unnest(p_accounts, p_mailboxes, sizes) AS t(a, b, s)
	            GROUP BY t.a, t.b),
	     u AS (UPDATE mailboxes mb
	              SET uidnext = mb.uidnext + g.c, highestmodseq = mb.highestmodseq + 1,
	                  messages = mb.messages + g.c, unseen = mb.unseen + g.c,
	                  bytes = mb.bytes + g.bytes
	             FROM g
	            WHERE mb.account_id = g.a AND mb.mailbox_id = g.b AND NOT mb.noselect
	           RETURNING mb.account_id, mb.mailbox_id, mb.uidnext - g.c AS first,
	                     mb.uidnext - 1 AS last, mb.highestmodseq)
	SELECT array_agg(u.account_id), array_agg(u.mailbox_id), array_agg(u.first),
	       array_agg(u.highestmodseq)
	  INTO al_accounts, al_mailboxes, al_first, al_modseq
	  FROM u
	 WHERE u.last <= 4294967295;
	IF coalesce(cardinality(al_accounts), 0) <> n_inboxes THEN
		-- Which one: a vanished INBOX, or one out of UIDs.
		IF (SELECT count(*) FROM mailboxes mb
		     JOIN (SELECT DISTINCT a, b FROM unnest(p_accounts, p_mailboxes) AS t(a, b)) t
		       ON mb.account_id = t.a AND mb.mailbox_id = t.b AND NOT mb.noselect)
		   = n_inboxes THEN
			RAISE EXCEPTION 'UID space of the mailbox exhausted' USING ERRCODE = 'MSLM0';
		END IF;
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	SELECT array_agg(f.first + e.k ORDER BY e.i), array_agg(f.ms ORDER BY e.i)
	  INTO uids, modseqs
	  FROM (SELECT t.i, t.a, t.b,
	               row_number() OVER (PARTITION BY t.a, t.b ORDER BY t.i) - 1 AS k
	          FROM unnest(p_accounts, p_mailboxes) WITH ORDINALITY AS t(a, b, i)) e
	  JOIN unnest(al_accounts, al_mailboxes, al_first, al_modseq) AS f(a, b, first, ms)
	    ON f.a = e.a AND f.b = e.b;

	-- 5. Quota: every account charged in one UPDATE, its rows locked in
	-- ascending account_id first (as the trigger's ordered loop), then
	-- the limits checked as mail_quota_charge does. An account that went
	-- away is not charged (its rows below fail on the foreign key).
	PERFORM 1 FROM accounts a
	 WHERE a.account_id IN (SELECT DISTINCT x FROM unnest(p_accounts) AS x)
	 ORDER BY a.account_id
	   FOR NO KEY UPDATE;
	WITH g AS (SELECT t.a, count(*) AS c, sum(t.s)::bigint AS bytes
	             FROM unnest(p_accounts, sizes) AS t(a, s) GROUP BY t.a),
	     u AS (UPDATE accounts a
	              SET used_bytes = a.used_bytes + g.bytes,
	                  used_messages = a.used_messages + g.c
	             FROM g
	            WHERE a.account_id = g.a
	           RETURNING (a.quota_bytes > 0 AND a.used_bytes > a.quota_bytes) OR
	                     (a.quota_messages > 0 AND a.used_messages > a.quota_messages)
	                       AS over)
	SELECT coalesce(bool_or(u.over), false) INTO v_over FROM u;
	IF v_over THEN
		RAISE EXCEPTION 'mailbox quota exceeded' USING ERRCODE = 'MSOQ0';
	END IF;
	-- A domain's limit is on the sum of its accounts, which other
	-- transactions charge through other account rows: its row is locked
	-- (in domain_id order, after every account row) before the sum is
	-- read, so that of two concurrent deliveries into one domain the
	-- second sees the first's charge (mail_quota_charge below does the
	-- same). Domains without a limit are not locked.
	PERFORM 1 FROM domains d
	 WHERE d.quota_bytes > 0
	   AND d.domain_id IN (SELECT a.domain_id FROM accounts a
	                        WHERE a.account_id = ANY (p_accounts))
	 ORDER BY d.domain_id
	   FOR NO KEY UPDATE;
	IF FOUND AND EXISTS (
		SELECT 1 FROM domains d
		 WHERE d.quota_bytes > 0
		   AND d.domain_id IN (SELECT a.domain_id FROM accounts a
		                        WHERE a.account_id = ANY (p_accounts))
		   AND (SELECT sum(x.used_bytes) FROM accounts x
		         WHERE x.domain_id = d.domain_id) > d.quota_bytes) THEN
		RAISE EXCEPTION 'domain quota exceeded' USING ERRCODE = 'MSOQ0';
	END IF;

	-- 6. One INSERT for every INBOX row, size included; the 0003 insert
	-- triggers see the flag and leave the counters, quota and refs,
	-- done above, alone.
	PERFORM set_config('mailstead.delivery_counted', 'on', true);
	INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags, keywords,
	                              modseq, internaldate, size)
	SELECT t.a, t.b, t.u, t.mid, 0, '{}', t.ms, now(), t.s
	  FROM unnest(p_accounts, p_mailboxes, uids, mids, modseqs, sizes)
	       AS t(a, b, u, mid, ms, s);
	PERFORM set_config('mailstead.delivery_counted', 'off', true);

	RETURN QUERY SELECT t.i::integer, t.u, t.ms
	               FROM unnest(uids, modseqs) WITH ORDINALITY AS t(u, ms, i);
END $$;

-- The quota charge of every other insert (the 0003 trigger: APPEND, COPY,
-- MOVE, delivery_store): as in 0003, plus the lock of the domain row before
-- its sum is read. Without it two transactions charging two accounts of one
-- domain each saw only its own charge, and both could pass a domain limit
-- that only one of them fitted in (tests/integration/test_lmtp_batch.py
-- saw 6 deliveries accepted where the domain had room for 4).
CREATE OR REPLACE FUNCTION mail_quota_charge(p_account bigint, p_bytes bigint,
                                             p_messages bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	a accounts;
	d domains;
	domain_used bigint;
BEGIN
	UPDATE accounts SET used_bytes = used_bytes + p_bytes,
	       used_messages = used_messages + p_messages
	 WHERE account_id = p_account RETURNING * INTO a;
	IF NOT FOUND OR (p_bytes <= 0 AND p_messages <= 0) THEN
		RETURN;
	END IF;
	IF (a.quota_bytes > 0 AND a.used_bytes > a.quota_bytes) OR
	   (a.quota_messages > 0 AND a.used_messages > a.quota_messages) THEN
		RAISE EXCEPTION 'mailbox quota exceeded' USING ERRCODE = 'MSOQ0';
	END IF;
	SELECT * INTO d FROM domains WHERE domain_id = a.domain_id;
	IF d.quota_bytes > 0 THEN
		PERFORM 1 FROM domains WHERE domain_id = a.domain_id FOR NO KEY UPDATE;
		SELECT sum(used_bytes) INTO domain_used FROM accounts WHERE domain_id = a.domain_id;
		IF domain_used > d.quota_bytes THEN
			RAISE EXCEPTION 'domain quota exceeded' USING ERRCODE = 'MSOQ0';
		END IF;
	END IF;
END $$;
