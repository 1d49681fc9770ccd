-- Mailstead schema, migration 0003: the core of every mail mutation.
--
-- * mail_allocate / mail_next_modseq: UIDs and modseqs come from the
--   mailbox row, updated inside the mutating transaction (never from a
--   sequence: UIDs must become visible in order, DESIGN.md §3). The row lock
--   is held until commit, so transactions on one mailbox commit in UID and
--   modseq order. Lock order everywhere: mailboxes (ascending mailbox_id),
--   then the account row.
-- * Statement triggers on mailbox_messages keep the mailbox counters
--   (messages, unseen, bytes) and the account's usage exact in the same
--   transaction, and refuse an insert that would exceed the account's or the
--   domain's quota (SQLSTATE MSOQ0), so APPEND, COPY, MOVE and delivery
--   cannot get around it.

CREATE FUNCTION mail_allocate(p_account bigint, p_mailbox bigint, p_count integer,
                              OUT first_uid bigint, OUT modseq bigint)
LANGUAGE plpgsql AS $$
BEGIN
	IF p_count < 1 THEN
		RAISE EXCEPTION 'nothing to allocate' USING ERRCODE = 'MSIV0';
	END IF;
	UPDATE mailboxes m
	   SET uidnext = m.uidnext + p_count, highestmodseq = m.highestmodseq + 1
	 WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox AND NOT m.noselect
	RETURNING m.uidnext - p_count, m.highestmodseq INTO first_uid, modseq;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	IF first_uid + p_count - 1 > 4294967295 THEN
		RAISE EXCEPTION 'UID space of the mailbox exhausted' USING ERRCODE = 'MSLM0';
	END IF;
END $$;

CREATE FUNCTION mail_next_modseq(p_account bigint, p_mailbox bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v bigint;
BEGIN
	UPDATE mailboxes m SET highestmodseq = m.highestmodseq + 1
	 WHERE m.account_id = p_account AND m.mailbox_id = p_mailbox
	RETURNING m.highestmodseq INTO v;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	RETURN v;
END $$;

-- Counters and quota, per statement (transition tables: one update per
-- mailbox and account however many rows the statement touched).
CREATE FUNCTION mail_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT n.account_id, n.mailbox_id, count(*) AS msgs,
		       count(*) FILTER (WHERE n.flags & 1 = 0) AS unseen, sum(m.size)::bigint AS bytes
		  FROM new_rows n JOIN messages m
		    ON m.account_id = n.account_id AND m.message_id = n.message_id
		 GROUP BY n.account_id, n.mailbox_id ORDER BY n.account_id, n.mailbox_id
	LOOP
		UPDATE mailboxes SET messages = messages + r.msgs, unseen = unseen + r.unseen,
		       bytes = bytes + r.bytes
		 WHERE account_id = r.account_id AND mailbox_id = r.mailbox_id;
	END LOOP;
	FOR r IN
		SELECT n.account_id, count(*) AS msgs, sum(m.size)::bigint AS bytes
		  FROM new_rows n JOIN messages m
		    ON m.account_id = n.account_id AND m.message_id = n.message_id
		 GROUP BY n.account_id ORDER BY n.account_id
	LOOP
		PERFORM mail_quota_charge(r.account_id, r.bytes, r.msgs);
	END LOOP;
	RETURN NULL;
END $$;

CREATE FUNCTION mail_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT o.account_id, o.mailbox_id, count(*) AS msgs,
		       count(*) FILTER (WHERE o.flags & 1 = 0) AS unseen, sum(m.size)::bigint AS bytes
		  FROM old_rows o JOIN messages m
		    ON m.account_id = o.account_id AND m.message_id = o.message_id
		 GROUP BY o.account_id, o.mailbox_id ORDER BY o.account_id, o.mailbox_id
	LOOP
		UPDATE mailboxes SET messages = messages - r.msgs, unseen = unseen - r.unseen,
		       bytes = bytes - r.bytes
		 WHERE account_id = r.account_id AND mailbox_id = r.mailbox_id;
	END LOOP;
	FOR r IN
		SELECT o.account_id, count(*) AS msgs, sum(m.size)::bigint AS bytes
		  FROM old_rows o JOIN messages m
		    ON m.account_id = o.account_id AND m.message_id = o.message_id
		 GROUP BY o.account_id ORDER BY o.account_id
	LOOP
		-- A whole account being deleted takes its row with it: nothing
		-- to refund then.
		UPDATE accounts SET used_bytes = greatest(used_bytes - r.bytes, 0),
		       used_messages = greatest(used_messages - r.msgs, 0)
		 WHERE account_id = r.account_id;
	END LOOP;
	RETURN NULL;
END $$;

CREATE FUNCTION mail_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	-- Only \Seen changes the counters.
	FOR r IN
		SELECT n.account_id, n.mailbox_id,
		       sum(CASE WHEN o.flags & 1 = 0 AND n.flags & 1 = 1 THEN -1
		                WHEN o.flags & 1 = 1 AND n.flags & 1 = 0 THEN 1 ELSE 0 END) AS d
		  FROM new_rows n JOIN old_rows o
		    ON o.account_id = n.account_id AND o.mailbox_id = n.mailbox_id AND o.uid = n.uid
		 GROUP BY n.account_id, n.mailbox_id ORDER BY n.account_id, n.mailbox_id
	LOOP
		IF r.d <> 0 THEN
			UPDATE mailboxes SET unseen = unseen + r.d
			 WHERE account_id = r.account_id AND mailbox_id = r.mailbox_id;
		END IF;
	END LOOP;
	RETURN NULL;
END $$;

-- Charges usage to an account; refuses (MSOQ0) when a positive charge
-- would exceed the account's or its domain's limit (0 = unlimited).
CREATE FUNCTION mail_quota_charge(p_account bigint, p_bytes bigint, p_messages bigint)
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
		SELECT sum(used_bytes) INTO domain_used FROM accounts WHERE domain_id = a.domain_id;
		IF domain_used > d.quota_bytes THEN
			RAISE EXCEPTION 'domain quota exceeded' USING ERRCODE = 'MSOQ0';
		END IF;
	END IF;
END $$;

CREATE TRIGGER mailbox_messages_counts_ins AFTER INSERT ON mailbox_messages
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION mail_counts_insert();
CREATE TRIGGER mailbox_messages_counts_del AFTER DELETE ON mailbox_messages
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION mail_counts_delete();
CREATE TRIGGER mailbox_messages_counts_upd AFTER UPDATE ON mailbox_messages
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION mail_counts_update();

-- A message's bytes stay while some mailbox holds it (refs); the last
-- reference gone, the message and its chunks go in the same transaction.
CREATE FUNCTION mail_refs_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE messages m SET refs = m.refs + c.n
	  FROM (SELECT account_id, message_id, count(*) AS n FROM new_rows
	         GROUP BY account_id, message_id) c
	 WHERE m.account_id = c.account_id AND m.message_id = c.message_id;
	RETURN NULL;
END $$;

CREATE FUNCTION mail_refs_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	WITH c AS (SELECT account_id, message_id, count(*) AS n FROM old_rows
	            GROUP BY account_id, message_id),
	     u AS (UPDATE messages m SET refs = m.refs - c.n FROM c
	            WHERE m.account_id = c.account_id AND m.message_id = c.message_id
	           RETURNING m.account_id, m.message_id, m.refs)
	DELETE FROM messages m USING u
	 WHERE m.account_id = u.account_id AND m.message_id = u.message_id AND u.refs = 0;
	RETURN NULL;
END $$;

CREATE TRIGGER mailbox_messages_refs_ins AFTER INSERT ON mailbox_messages
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION mail_refs_insert();
CREATE TRIGGER mailbox_messages_refs_del AFTER DELETE ON mailbox_messages
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION mail_refs_delete();
