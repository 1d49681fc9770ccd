-- Mailstead schema, migration 0005: messages in and out -- APPEND (RFC 3501
-- §6.3.11; LMTP delivery later) and the implicit \Seen of FETCH (§6.4.5).
-- Depends on 0001 and 0003 only.
--
-- Lock order as in 0003: mailbox row, then message rows (the refs triggers
-- of 0003 update them while the mailbox is locked), then the account row
-- (quota). New content is inserted before the mailbox row is locked, so the
-- lock is held only for the last short steps (DESIGN.md §3); a new messages
-- row is invisible to every other transaction until commit, so nobody can
-- wait on it in the other order.

-- ENVELOPE, BODY and BODYSTRUCTURE are IMAP strings sent as they are
-- stored. They carry raw 8-bit header octets in whatever charset the
-- sender used (inside literals), which a text column of a UTF-8 database
-- refuses: they are bytes.
ALTER TABLE messages
	ALTER COLUMN envelope TYPE bytea USING convert_to(envelope, 'UTF8'),
	ALTER COLUMN body TYPE bytea USING convert_to(body, 'UTF8'),
	ALTER COLUMN bodystructure TYPE bytea USING convert_to(bodystructure, 'UTF8');

-- Stores a message's content (row and chunks) unless the account already
-- has content with this SHA-256. Returns the new message_id, or NULL when
-- the content exists (possibly inserted by a transaction that committed
-- while this one waited on the unique index).
CREATE FUNCTION mail_content_insert(p_account bigint, p_sha256 bytea, p_size bigint,
                                    p_header_size bigint, p_lines bigint, p_envelope bytea,
                                    p_body bytea, p_bodystructure bytea, p_partmap bytea,
                                    p_sent_date timestamptz, p_subject text, p_from text,
                                    p_to text, p_cc text, p_bcc text, p_message_id text,
                                    p_headers text, p_body_text text, p_chunks bytea[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	mid bigint;
BEGIN
	INSERT INTO messages (account_id, size, sha256, header_size, lines, envelope, body,
	                      bodystructure, partmap, sent_date, hdr_subject, hdr_from, hdr_to,
	                      hdr_cc, hdr_bcc, hdr_message_id, headers_text, body_text)
	VALUES (p_account, p_size, p_sha256, p_header_size, p_lines, p_envelope, p_body,
	        p_bodystructure, p_partmap, p_sent_date, coalesce(p_subject, ''),
	        coalesce(p_from, ''), coalesce(p_to, ''), coalesce(p_cc, ''), coalesce(p_bcc, ''),
	        coalesce(p_message_id, ''), coalesce(p_headers, ''), coalesce(p_body_text, ''))
	ON CONFLICT (account_id, sha256) DO NOTHING
	RETURNING message_id INTO mid;
	IF mid IS NOT NULL THEN
		INSERT INTO message_chunks (account_id, message_id, chunk_no, data)
		SELECT p_account, mid, (t.i - 1)::integer, t.c
		  FROM unnest(p_chunks) WITH ORDINALITY AS t(c, i);
	END IF;
	RETURN mid;
END $$;

-- APPEND: stores one message in the mailbox named p_name (canonical UTF-8)
-- in one transaction. The content is stored once per account: a message
-- whose SHA-256 the account already has reuses that row and its chunks
-- (the 0003 refs trigger counts the new reference). Flags are bits as in
-- mailbox_messages; keywords are matched case-insensitively against the
-- mailbox's list, spelt as it spells them, and the new ones are added to
-- it (at most p_max_mailbox_keywords in all, MSLM0). p_internaldate NULL
-- means now. The 0003 insert trigger refuses a message past the quota
-- (MSOQ0): then nothing at all is stored.
--
-- Errors: MSNF0 no such mailbox, MSFB0 the name is a \Noselect
-- placeholder, MSIV0 inconsistent arguments, MSLM0 a limit, MSOQ0 quota.
-- Returns one row: the mailbox, its UIDVALIDITY, the new UID, the
-- mailbox's whole keyword list when it grew (else NULL), the message_id
-- and whether existing content was reused.
CREATE FUNCTION mail_append(p_account bigint, p_name text, p_flags integer, p_keywords text[],
                            p_internaldate timestamptz, p_max_mailbox_keywords integer,
                            p_sha256 bytea, p_size bigint, p_header_size bigint,
                            p_lines bigint, p_envelope bytea, p_body bytea,
                            p_bodystructure bytea, p_partmap bytea, p_sent_date timestamptz,
                            p_subject text, p_from text, p_to text, p_cc text, p_bcc text,
                            p_message_id text, p_headers text, p_body_text text,
                            p_chunks bytea[])
RETURNS TABLE (r_mailbox_id bigint, r_uidvalidity bigint, r_uid bigint, r_keywords text,
               r_message_id bigint, r_deduplicated boolean)
LANGUAGE plpgsql AS $$
DECLARE
	v_mailbox bigint;
	v_noselect boolean;
	v_uidvalidity bigint;
	mid bigint;
	inserted boolean := false;
	first_uid bigint;
	new_modseq bigint;
	mb_keywords text[];
	kw text[];
	new_kw text[];
	attempts integer := 0;
BEGIN
	IF p_flags IS NULL OR p_flags NOT BETWEEN 0 AND 31 OR p_size < 1 OR
	   length(p_sha256) <> 32 OR
	   (SELECT coalesce(sum(length(c)), 0) FROM unnest(p_chunks) AS c) <> p_size THEN
		RAISE EXCEPTION 'invalid APPEND arguments' USING ERRCODE = 'MSIV0';
	END IF;
	SELECT m.mailbox_id, m.noselect INTO v_mailbox, v_noselect
	  FROM mailboxes m WHERE m.account_id = p_account AND m.name = p_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	IF v_noselect THEN
		RAISE EXCEPTION 'mailbox cannot hold messages' USING ERRCODE = 'MSFB0';
	END IF;

	-- New content first, without any lock held (see the top of the file).
	IF NOT EXISTS (SELECT 1 FROM messages
	                WHERE account_id = p_account AND sha256 = p_sha256) THEN
		mid := mail_content_insert(p_account, p_sha256, p_size, p_header_size, p_lines,
		                           p_envelope, p_body, p_bodystructure, p_partmap,
		                           p_sent_date, p_subject, p_from, p_to, p_cc, p_bcc,
		                           p_message_id, p_headers, p_body_text, p_chunks);
		inserted := mid IS NOT NULL;
	END IF;

	-- Locks the mailbox row until commit (MSNF0 if it went away or
	-- became \Noselect meanwhile).
	SELECT a.first_uid, a.modseq INTO first_uid, new_modseq
	  FROM mail_allocate(p_account, v_mailbox, 1) a;

	-- Existing content: lock its row now, after the mailbox, so an
	-- expunge dropping its last reference cannot delete it under us (and
	-- if one just did, store the content again).
	WHILE mid IS NULL LOOP
		attempts := attempts + 1;
		IF attempts > 3 THEN
			RAISE EXCEPTION 'message content keeps changing';
		END IF;
		SELECT m.message_id INTO mid FROM messages m
		 WHERE m.account_id = p_account AND m.sha256 = p_sha256
		   FOR NO KEY UPDATE;
		IF mid IS NULL THEN
			mid := mail_content_insert(p_account, p_sha256, p_size, p_header_size,
			                           p_lines, p_envelope, p_body, p_bodystructure,
			                           p_partmap, p_sent_date, p_subject, p_from, p_to,
			                           p_cc, p_bcc, p_message_id, p_headers,
			                           p_body_text, p_chunks);
			inserted := mid IS NOT NULL;
		END IF;
	END LOOP;

	SELECT m.keywords, m.uidvalidity INTO mb_keywords, v_uidvalidity
	  FROM mailboxes m WHERE m.account_id = p_account AND m.mailbox_id = v_mailbox;
	kw := ARRAY(SELECT coalesce((SELECT k FROM unnest(mb_keywords) WITH ORDINALITY AS kn(k, j)
	                              WHERE lower(kn.k) = lower(t.x) ORDER BY kn.j LIMIT 1), t.x)
	              FROM unnest(coalesce(p_keywords, '{}'::text[])) WITH ORDINALITY AS t(x, i)
	             ORDER BY t.i);
	new_kw := ARRAY(SELECT t.x FROM unnest(kw) WITH ORDINALITY AS t(x, i)
	                 WHERE t.x <> ALL (mb_keywords) ORDER BY t.i);
	IF cardinality(new_kw) > 0 THEN
		IF cardinality(mb_keywords) + cardinality(new_kw) > p_max_mailbox_keywords THEN
			RAISE EXCEPTION 'too many keywords in the mailbox' USING ERRCODE = 'MSLM0';
		END IF;
		UPDATE mailboxes m SET keywords = m.keywords || new_kw
		 WHERE m.account_id = p_account AND m.mailbox_id = v_mailbox
		RETURNING m.keywords INTO mb_keywords;
	END IF;

	INSERT INTO mailbox_messages (account_id, mailbox_id, uid, message_id, flags, keywords,
	                              modseq, internaldate)
	VALUES (p_account, v_mailbox, first_uid, mid, p_flags, kw, new_modseq,
	        coalesce(p_internaldate, now()));

	r_mailbox_id := v_mailbox;
	r_uidvalidity := v_uidvalidity;
	r_uid := first_uid;
	r_keywords := CASE WHEN cardinality(new_kw) > 0 THEN array_to_string(mb_keywords, ' ') END;
	r_message_id := mid;
	r_deduplicated := NOT inserted;
	RETURN NEXT;
END $$;

-- FETCH of a body section without .PEEK sets \Seen (RFC 3501 §6.4.5) on
-- the messages of the mailbox in the UID ranges (lo[i]..hi[i]) that lack
-- it, in one statement with one new modseq, as STORE does. Returns that
-- modseq, or 0 when nothing changed (the mailbox row is then not locked
-- at all, so reading mail that is already seen costs no write).
CREATE FUNCTION mail_fetch_seen(p_account bigint, p_mailbox bigint, p_lo bigint[],
                                p_hi bigint[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	next_modseq bigint;
	changed bigint;
	got bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM mailbox_messages mm
	                 JOIN unnest(p_lo, p_hi) AS r(lo, hi) ON mm.uid BETWEEN r.lo AND r.hi
	                WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
	                  AND mm.flags & 1 = 0) THEN
		RETURN 0;
	END IF;
	SELECT m.highestmodseq + 1 INTO next_modseq FROM mailboxes m
	 WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox AND NOT m.noselect
	   FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RETURN 0; -- deleted meanwhile: the FETCH finds no messages either
	END IF;
	UPDATE mailbox_messages mm SET flags = mm.flags | 1, modseq = next_modseq
	  FROM unnest(p_lo, p_hi) AS r(lo, hi)
	 WHERE mm.account_id = p_account AND mm.mailbox_id = p_mailbox
	   AND mm.uid BETWEEN r.lo AND r.hi AND mm.flags & 1 = 0;
	GET DIAGNOSTICS changed = ROW_COUNT;
	IF changed = 0 THEN
		RETURN 0;
	END IF;
	got := mail_next_modseq(p_account, p_mailbox);
	IF got <> next_modseq THEN
		-- Impossible while the row lock is held.
		RAISE EXCEPTION 'modseq moved under a locked mailbox';
	END IF;
	RETURN next_modseq;
END $$;
