-- Mailstead schema, migration 0009: mail delivery (LMTP, RFC 2033).
--
-- delivery_resolve: one recipient address to the accounts that get the
-- message, or the reason none does (one call per RCPT TO).
-- delivery_store: one message into the INBOX of a set of accounts, in one
-- transaction, with each recipient's group of accounts atomic on its own
-- (one call per DATA/BDAT LAST: one round trip, one commit for all the
-- recipients of the transaction).
--
-- Depends on 0001, 0003 (mail_allocate, the counter/quota/refs triggers)
-- and 0005 (mail_content_insert). Lock order as everywhere: mailbox rows in
-- ascending mailbox_id, then account rows (the 0003 triggers).

-- Resolves p_address (normalised "local[+detail]@domain") for delivery.
-- p_base is the address without its +detail (NULL when there is none);
-- p_size the announced message size (SIZE=, 0 if unknown).
--
-- Order: the address itself (an account or an alias), then p_base (RFC
-- 5233 sub-addressing: "user+tag@d" reaches "user@d" unless "user+tag@d"
-- exists), then the domain's catch-all. Aliases are expanded through any
-- number of branches but at most 10 levels deep (the limit
-- admin_alias_create enforces); a chain that goes deeper is 'too_deep',
-- or 'loop' when an alias reachable from the address reaches itself (the
-- admin functions never create one, but the data may hold one).
--
-- Returns one row per account that gets the message (r_status 'ok', the
-- account and its INBOX), or a single row with the reason:
--   unknown_domain  the domain is not hosted
--   unknown_user    no such address and no catch-all (or an alias whose
--                   destinations are all gone)
--   suspended       the address's domain is suspended, or the account it
--                   names directly; through an alias, suspended members
--                   are left out and only an alias with none left is
--   over_quota      an account (or its domain) cannot take p_size more
--                   octets or one more message
--   loop, too_deep  see above
-- Read-only: the quota is checked again, exactly, when the message is
-- stored (the 0003 insert trigger).
CREATE FUNCTION delivery_resolve(p_address text, p_base text, p_size bigint)
RETURNS TABLE (r_status text, r_account bigint, r_mailbox bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_domain domains;
	v_start addresses;
	v_depth integer;
	v_loop boolean;
	v_reached text[];
	v_members bigint[];
	v_accounts bigint[] := '{}';
	v_inboxes bigint[] := '{}';
	v_full boolean := false;
	v_size bigint := greatest(coalesce(p_size, 0), 1);
	n_active integer;
	r record;
BEGIN
	SELECT * INTO v_domain FROM domains WHERE name = split_part(p_address, '@', 2);
	IF NOT FOUND THEN
		r_status := 'unknown_domain';
		RETURN NEXT;
		RETURN;
	END IF;
	IF v_domain.status <> 'active' THEN
		r_status := 'suspended';
		RETURN NEXT;
		RETURN;
	END IF;
	SELECT * INTO v_start FROM addresses WHERE address = p_address;
	IF NOT FOUND AND p_base IS NOT NULL THEN
		SELECT * INTO v_start FROM addresses WHERE address = p_base;
	END IF;
	IF v_start.address IS NULL AND v_domain.catchall IS NOT NULL THEN
		SELECT * INTO v_start FROM addresses WHERE address = v_domain.catchall;
	END IF;
	IF v_start.address IS NULL THEN
		r_status := 'unknown_user';
		RETURN NEXT;
		RETURN;
	END IF;

	IF v_start.account_id IS NOT NULL THEN
		-- An account named directly: its own state decides.
		SELECT a.account_id, a.status = 'active' AND d.status = 'active' AS active,
		       (a.quota_bytes > 0 AND a.used_bytes + v_size > a.quota_bytes) OR
		       (a.quota_messages > 0 AND a.used_messages + 1 > a.quota_messages) OR
		       (d.quota_bytes > 0 AND
		        (SELECT sum(x.used_bytes) FROM accounts x WHERE x.domain_id = d.domain_id)
		          + v_size > d.quota_bytes) AS full,
		       (SELECT m.mailbox_id FROM mailboxes m
		         WHERE m.account_id = a.account_id AND m.name = 'INBOX') AS inbox
		  INTO r
		  FROM accounts a JOIN domains d ON d.domain_id = a.domain_id
		 WHERE a.account_id = v_start.account_id;
		r_status := CASE WHEN NOT r.active THEN 'suspended'
		                 WHEN r.full THEN 'over_quota'
		                 WHEN r.inbox IS NULL THEN 'unknown_user'
		                 ELSE 'ok' END;
		IF r_status = 'ok' THEN
			r_account := r.account_id;
			r_mailbox := r.inbox;
		END IF;
		RETURN NEXT;
		RETURN;
	END IF;

	-- An alias: every address reachable in 0..11 steps, each (address,
	-- depth) once, so diamonds do not multiply the work and a loop stops
	-- at depth 11.
	WITH RECURSIVE walk(address, depth) AS (
		SELECT v_start.address, 0
		UNION
		SELECT dst, w.depth + 1
		  FROM walk w
		  JOIN addresses ad ON ad.address = w.address AND ad.alias_id IS NOT NULL
		  JOIN aliases al ON al.alias_id = ad.alias_id
		 CROSS JOIN LATERAL unnest(al.destinations) dst
		 WHERE w.depth <= 10
	)
	SELECT max(w.depth), array_agg(DISTINCT w.address) INTO v_depth, v_reached FROM walk w;

	IF v_depth > 10 THEN
		-- Deeper than allowed: a loop, or a chain that is too long.
		WITH RECURSIVE reach(src, dst) AS (
			SELECT ad.address, d
			  FROM addresses ad JOIN aliases al ON al.alias_id = ad.alias_id
			 CROSS JOIN LATERAL unnest(al.destinations) d
			 WHERE ad.address = ANY (v_reached)
			UNION
			SELECT r2.src, d
			  FROM reach r2
			  JOIN addresses ad ON ad.address = r2.dst AND ad.alias_id IS NOT NULL
			  JOIN aliases al ON al.alias_id = ad.alias_id
			 CROSS JOIN LATERAL unnest(al.destinations) d
		)
		SELECT EXISTS (SELECT 1 FROM reach WHERE src = dst) INTO v_loop;
		r_status := CASE WHEN v_loop THEN 'loop' ELSE 'too_deep' END;
		RETURN NEXT;
		RETURN;
	END IF;

	v_members := ARRAY(SELECT DISTINCT ad.account_id FROM addresses ad
	                    WHERE ad.address = ANY (v_reached) AND ad.account_id IS NOT NULL);
	IF cardinality(v_members) = 0 THEN
		r_status := 'unknown_user';
		RETURN NEXT;
		RETURN;
	END IF;

	-- The active members with an INBOX; any of them full refuses the
	-- whole recipient (its accounts are stored atomically together).
	n_active := 0;
	FOR r IN
		SELECT a.account_id,
		       (SELECT m.mailbox_id FROM mailboxes m
		         WHERE m.account_id = a.account_id AND m.name = 'INBOX') AS inbox,
		       (a.quota_bytes > 0 AND a.used_bytes + v_size > a.quota_bytes) OR
		       (a.quota_messages > 0 AND a.used_messages + 1 > a.quota_messages) OR
		       (d.quota_bytes > 0 AND
		        (SELECT sum(x.used_bytes) FROM accounts x WHERE x.domain_id = d.domain_id)
		          + v_size > d.quota_bytes) AS full
		  FROM accounts a JOIN domains d ON d.domain_id = a.domain_id
		 WHERE a.account_id = ANY (v_members) AND a.status = 'active' AND d.status = 'active'
		 ORDER BY a.account_id
	LOOP
		IF r.inbox IS NOT NULL THEN
			n_active := n_active + 1;
			v_full := v_full OR r.full;
			v_accounts := v_accounts || r.account_id;
			v_inboxes := v_inboxes || r.inbox;
		END IF;
	END LOOP;
	IF n_active = 0 THEN
		r_status := 'suspended';
		RETURN NEXT;
		RETURN;
	END IF;
	IF v_full THEN
		r_status := 'over_quota';
		RETURN NEXT;
		RETURN;
	END IF;
	RETURN QUERY SELECT 'ok'::text, t.a, t.mb FROM unnest(v_accounts, v_inboxes) AS t(a, mb);
END $$;

-- The chunks of p_data as message_ingest.h cuts them: chunk n holds octets
-- [n * p_size, (n + 1) * p_size).
CREATE FUNCTION delivery_chunks(p_data bytea, p_size integer) RETURNS bytea[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(array_agg(substring(p_data FROM k * p_size + 1 FOR p_size) ORDER BY k),
	                '{}'::bytea[])
	  FROM generate_series(0, (length(p_data) - 1) / p_size) AS k
	 WHERE length(p_data) > 0
$$;

-- Stores one delivered message. Entry i (1..n) is one account: its INBOX
-- p_mailboxes[i], the recipient group p_groups[i] it belongs to, and what
-- differs per account: the trace header block p_prefixes[i] (Return-Path,
-- Delivered-To) that is stored in front of the received octets p_raw, the
-- SHA-256 and partmap of that whole message, and the search text of the
-- trace fields (p_hdr_prefixes[i], before p_headers_tail). Everything else
-- was parsed once and is the same for every account; the received octets
-- travel once.
--
-- Each account gets one copy of the content (deduplicated by SHA-256
-- against what it already holds, 0005) and one INBOX row. Each group is
-- atomic on its own: a group whose insert fails on quota (MSOQ0), a vanished
-- account or INBOX (MSNF0) or a limit (MSLM0, UID space) is rolled back to
-- its savepoint and the others still commit; any other error fails the
-- whole call (the caller answers 451 and the MTA retries: nothing is
-- half-stored).
--
-- Returns one row per entry: r_status 'ok', 'over_quota', 'not_found' or
-- 'limit' (its group's outcome), and for 'ok' the UID and modseq.
CREATE FUNCTION delivery_store(p_accounts bigint[], p_mailboxes bigint[], p_groups integer[],
                               p_prefixes bytea[], p_sha256s bytea[], p_partmaps bytea[],
                               p_hdr_prefixes text[], p_raw bytea, p_header_base bigint,
                               p_lines bigint, p_envelope bytea, p_body bytea,
                               p_bodystructure bytea, p_sent_date timestamptz, p_subject text,
                               p_from text, p_to text, p_cc text, p_bcc text,
                               p_message_id text, p_headers_tail text, p_body_text text,
                               p_chunk_size integer)
RETURNS TABLE (r_index integer, r_status text, r_uid bigint, r_modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
	n integer := coalesce(cardinality(p_accounts), 0);
	mids bigint[];
	inserted boolean[];
	statuses text[];
	uids bigint[];
	modseqs bigint[];
	v_full bytea;
	v_group integer;
	v_status text;
	v_uid bigint;
	v_modseq bigint;
	mid bigint;
	attempts integer;
	i integer;
BEGIN
	IF n = 0 OR cardinality(p_mailboxes) <> n OR cardinality(p_groups) <> n OR
	   cardinality(p_prefixes) <> n OR cardinality(p_sha256s) <> n OR
	   cardinality(p_partmaps) <> n OR cardinality(p_hdr_prefixes) <> n OR
	   p_chunk_size < 1 OR
	   (SELECT count(DISTINCT a) FROM unnest(p_accounts) AS a) <> n THEN
		RAISE EXCEPTION 'invalid delivery arguments' USING ERRCODE = 'MSIV0';
	END IF;
	mids := array_fill(NULL::bigint, ARRAY[n]);
	inserted := array_fill(false, ARRAY[n]);
	statuses := array_fill(NULL::text, ARRAY[n]);
	uids := array_fill(NULL::bigint, ARRAY[n]);
	modseqs := array_fill(NULL::bigint, ARRAY[n]);

	-- 1. New content, before any mailbox lock is held (as mail_append:
	-- a new messages row is invisible to everybody else until commit).
	FOR i IN 1..n LOOP
		IF NOT EXISTS (SELECT 1 FROM messages
		                WHERE account_id = p_accounts[i] AND sha256 = p_sha256s[i]) THEN
			v_full := p_prefixes[i] || p_raw;
			mids[i] := mail_content_insert(
				p_accounts[i], p_sha256s[i], length(v_full),
				p_header_base + length(p_prefixes[i]), p_lines, p_envelope, p_body,
				p_bodystructure, p_partmaps[i], p_sent_date, p_subject, p_from, p_to,
				p_cc, p_bcc, p_message_id,
				p_hdr_prefixes[i] || coalesce(p_headers_tail, ''), p_body_text,
				delivery_chunks(v_full, p_chunk_size));
			inserted[i] := mids[i] IS NOT NULL;
		END IF;
	END LOOP;
	v_full := NULL;

	-- 2. Every INBOX of the call, locked in ascending mailbox_id order
	-- before any group touches one: two deliveries that share accounts
	-- then cannot deadlock, whatever the order of their groups.
	PERFORM 1 FROM mailboxes m
	  JOIN unnest(p_accounts, p_mailboxes) AS t(a, mb)
	    ON m.account_id = t.a AND m.mailbox_id = t.mb
	 ORDER BY m.mailbox_id
	   FOR NO KEY UPDATE OF m;

	-- 3. Group by group, each under its own savepoint.
	FOR v_group IN SELECT DISTINCT g FROM unnest(p_groups) AS g ORDER BY g LOOP
		BEGIN
			FOR i IN SELECT t.i::integer
			           FROM unnest(p_groups, p_mailboxes) WITH ORDINALITY AS t(g, mb, i)
			          WHERE t.g = v_group ORDER BY t.mb LOOP
				SELECT a.first_uid, a.modseq INTO v_uid, v_modseq
				  FROM mail_allocate(p_accounts[i], p_mailboxes[i], 1) a;
				mid := mids[i];
				attempts := 0;
				-- Existing content: lock its row after the mailbox so an
				-- expunge of its last reference cannot delete it under
				-- us; if one just did, store the content again.
				WHILE mid IS NULL LOOP
					attempts := attempts + 1;
					IF attempts > 3 THEN
						RAISE EXCEPTION 'message content keeps changing';
					END IF;
					SELECT m.message_id INTO mid FROM messages m
					 WHERE m.account_id = p_accounts[i] AND m.sha256 = p_sha256s[i]
					   FOR NO KEY UPDATE;
					IF mid IS NULL THEN
						v_full := p_prefixes[i] || p_raw;
						mid := mail_content_insert(
							p_accounts[i], p_sha256s[i], length(v_full),
							p_header_base + length(p_prefixes[i]), p_lines,
							p_envelope, p_body, p_bodystructure, p_partmaps[i],
							p_sent_date, p_subject, p_from, p_to, p_cc, p_bcc,
							p_message_id,
							p_hdr_prefixes[i] || coalesce(p_headers_tail, ''),
							p_body_text, delivery_chunks(v_full, p_chunk_size));
						v_full := NULL;
					END IF;
				END LOOP;
				INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id,
				                              flags, keywords, modseq, internaldate)
				VALUES (p_accounts[i], p_mailboxes[i], v_uid, mid, 0, '{}', v_modseq,
				        now());
				uids[i] := v_uid;
				modseqs[i] := v_modseq;
			END LOOP;
			v_status := 'ok';
		EXCEPTION
			WHEN SQLSTATE 'MSOQ0' THEN v_status := 'over_quota';
			WHEN SQLSTATE 'MSNF0' THEN v_status := 'not_found';
			WHEN foreign_key_violation THEN v_status := 'not_found';
			WHEN SQLSTATE 'MSLM0' THEN v_status := 'limit';
		END;
		FOR i IN SELECT t.i::integer FROM unnest(p_groups) WITH ORDINALITY AS t(g, i)
		          WHERE t.g = v_group LOOP
			statuses[i] := v_status;
		END LOOP;
	END LOOP;

	-- 4. Content stored in step 1 for a group that failed holds no
	-- reference: it goes (its chunks with it).
	FOR i IN 1..n LOOP
		IF inserted[i] AND statuses[i] <> 'ok' THEN
			DELETE FROM messages
			 WHERE account_id = p_accounts[i] AND message_id = mids[i] AND refs = 0;
		END IF;
	END LOOP;

	FOR i IN 1..n LOOP
		r_index := i;
		r_status := statuses[i];
		r_uid := CASE WHEN statuses[i] = 'ok' THEN uids[i] END;
		r_modseq := CASE WHEN statuses[i] = 'ok' THEN modseqs[i] END;
		RETURN NEXT;
	END LOOP;
END $$;
