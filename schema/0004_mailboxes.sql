-- Mailstead schema, migration 0004: the mailbox commands of IMAP (CREATE,
-- DELETE, RENAME, SUBSCRIBE; RFC 3501 §6.3.3-§6.3.7).
--
-- Each command is one call of one function here: one round trip, one
-- transaction. Names arrive canonical (UTF-8, '/' delimited, INBOX spelled
-- "INBOX", no empty levels): server/imap/mailbox_name.c checks them.
-- Errors: MSNF0 no such mailbox, MSCF0 the name exists, MSLM0 a per-account
-- limit, MSFB0 a \Noselect name with children (DELETE), MSIV0 not possible
-- (DELETE INBOX, RENAME into its own child, a renamed child's name too long
-- or too deep).
--
-- Lock order as in 0003: mailbox rows (ascending mailbox_id), then the
-- account row. The account row is taken FOR NO KEY UPDATE (what the usage
-- updates of 0003 take) before counting mailboxes or subscriptions, so two
-- sessions cannot both pass a limit check; creating a child also takes it,
-- so DELETE's check for children cannot miss one being created.

-- The proper ancestors of a name, outermost first: 'a/b/c' gives 'a', 'a/b'.
CREATE FUNCTION mailboxes_ancestors(p_name text) RETURNS TABLE (name text, depth integer)
LANGUAGE sql IMMUTABLE AS $$
	SELECT array_to_string(p[1:i], '/'), i
	  FROM (SELECT string_to_array(p_name, '/') AS p) a,
	       generate_series(1, cardinality(a.p) - 1) AS i
$$;

-- The name and its inferiors ('a' and 'a/...', not 'ab').
CREATE FUNCTION mailboxes_in_subtree(p_name text, p_root text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT p_name = p_root OR starts_with(p_name, p_root || '/')
$$;

CREATE FUNCTION mailboxes_lock_account(p_account bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM accounts WHERE account_id = p_account FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such account' USING ERRCODE = 'MSNF0';
	END IF;
END $$;

-- Creates the missing ancestors of p_name as ordinary mailboxes (RFC 3501
-- §6.3.3, §6.3.6: the server SHOULD create the superior names needed), and
-- p_name itself when p_self (a unique violation if it exists), after
-- checking that the account stays within p_max mailboxes. Returns the new
-- mailbox's id (p_self) or NULL.
CREATE FUNCTION mailboxes_make(p_account bigint, p_name text, p_self boolean, p_max integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	missing text[];
	adding integer;
	total bigint;
	id bigint;
BEGIN
	PERFORM mailboxes_lock_account(p_account);
	SELECT coalesce(array_agg(a.name ORDER BY a.depth), '{}') INTO missing
	  FROM mailboxes_ancestors(p_name) a
	 WHERE NOT EXISTS (SELECT 1 FROM mailboxes m
	                    WHERE m.account_id = p_account AND m.name = a.name);
	adding := cardinality(missing) + p_self::integer;
	IF adding > 0 THEN
		SELECT count(*) INTO total FROM mailboxes WHERE account_id = p_account;
		IF total + adding > p_max THEN
			RAISE EXCEPTION 'too many mailboxes (at most %)', p_max USING ERRCODE = 'MSLM0';
		END IF;
	END IF;
	INSERT INTO mailboxes (account_id, name)
	SELECT p_account, n FROM unnest(missing) WITH ORDINALITY AS u(n, o) ORDER BY o
	ON CONFLICT (account_id, name) DO NOTHING;
	IF p_self THEN
		INSERT INTO mailboxes (account_id, name) VALUES (p_account, p_name)
		RETURNING mailbox_id INTO id;
	END IF;
	RETURN id;
END $$;

-- CREATE. A \Noselect placeholder of the name (left by deleting a parent)
-- becomes an ordinary mailbox with a new UIDVALIDITY. Returns the mailbox id.
CREATE FUNCTION mailboxes_create(p_account bigint, p_name text, p_max integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	m mailboxes;
BEGIN
	IF p_name = 'INBOX' THEN
		RAISE EXCEPTION 'INBOX always exists' USING ERRCODE = 'MSCF0';
	END IF;
	SELECT * INTO m FROM mailboxes WHERE account_id = p_account AND name = p_name FOR UPDATE;
	IF FOUND THEN
		IF NOT m.noselect THEN
			RAISE EXCEPTION 'mailbox exists' USING ERRCODE = 'MSCF0';
		END IF;
		UPDATE mailboxes SET noselect = false,
		       uidvalidity = nextval('mailbox_uidvalidity_seq')
		 WHERE account_id = p_account AND mailbox_id = m.mailbox_id;
		RETURN m.mailbox_id;
	END IF;
	RETURN mailboxes_make(p_account, p_name, true, p_max);
END $$;

-- DELETE (RFC 3501 §6.3.4). The mailbox's messages go (the triggers of 0003
-- refund the quota and drop messages no other mailbox holds; its expunged
-- rows go by cascade). A mailbox with inferiors is replaced by a \Noselect
-- placeholder under a new mailbox_id, so that sessions that have it
-- selected find it gone. A \Noselect name with inferiors cannot be deleted
-- (MSFB0). Returns the id of the removed mailbox.
CREATE FUNCTION mailboxes_delete(p_account bigint, p_name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	m mailboxes;
	children boolean;
BEGIN
	IF p_name = 'INBOX' THEN
		RAISE EXCEPTION 'INBOX cannot be deleted' USING ERRCODE = 'MSIV0';
	END IF;
	SELECT * INTO m FROM mailboxes WHERE account_id = p_account AND name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	PERFORM mailboxes_lock_account(p_account);
	children := EXISTS (SELECT 1 FROM mailboxes
	                     WHERE account_id = p_account AND starts_with(name, p_name || '/'));
	IF m.noselect AND children THEN
		RAISE EXCEPTION 'mailbox has inferior hierarchical names' USING ERRCODE = 'MSFB0';
	END IF;
	DELETE FROM mailbox_messages WHERE account_id = p_account AND mailbox_id = m.mailbox_id;
	DELETE FROM mailboxes WHERE account_id = p_account AND mailbox_id = m.mailbox_id;
	IF children THEN
		INSERT INTO mailboxes (account_id, name, noselect) VALUES (p_account, p_name, true);
	END IF;
	RETURN m.mailbox_id;
END $$;

-- RENAME (RFC 3501 §6.3.5). A mailbox moves with all its inferiors, keeping
-- mailbox_id, UIDVALIDITY, UIDs and special_use; subscriptions of the moved
-- names follow them. Missing parents of the new name are created.
--
-- RENAME INBOX moves INBOX's messages into a new mailbox (new UIDVALIDITY,
-- UIDs 1..n in the old order) and leaves INBOX and its inferiors where they
-- are; INBOX records the moved UIDs as expunged under a new modseq so that
-- its sessions report EXPUNGE. Counters are set directly: the messages and
-- their size stay within the account, so its usage does not change.
--
-- Returns the id of the renamed mailbox (INBOX for RENAME INBOX) and how
-- many messages left INBOX.
CREATE FUNCTION mailboxes_rename(p_account bigint, p_old text, p_new text, p_max integer,
                                 p_max_depth integer, p_max_bytes integer,
                                 OUT mailbox_id bigint, OUT moved bigint)
LANGUAGE plpgsql AS $$
DECLARE
	m mailboxes;
	new_id bigint;
	inbox_modseq bigint;
	first_uid bigint;
	new_modseq bigint;
BEGIN
	moved := 0;
	IF p_new = 'INBOX' OR p_old = p_new THEN
		RAISE EXCEPTION 'mailbox exists' USING ERRCODE = 'MSCF0';
	END IF;
	IF p_old <> 'INBOX' AND starts_with(p_new, p_old || '/') THEN
		RAISE EXCEPTION 'cannot rename a mailbox into itself' USING ERRCODE = 'MSIV0';
	END IF;

	IF p_old = 'INBOX' THEN
		SELECT * INTO m FROM mailboxes mb
		 WHERE mb.account_id = p_account AND mb.name = 'INBOX' FOR UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
		END IF;
		IF EXISTS (SELECT 1 FROM mailboxes mb
		            WHERE mb.account_id = p_account AND mb.name = p_new) THEN
			RAISE EXCEPTION 'mailbox exists' USING ERRCODE = 'MSCF0';
		END IF;
		new_id := mailboxes_make(p_account, p_new, true, p_max);
		mailbox_id := m.mailbox_id;
		SELECT count(*) INTO moved FROM mailbox_messages mm
		 WHERE mm.account_id = p_account AND mm.mailbox_id = m.mailbox_id;
		IF moved = 0 THEN
			RETURN;
		END IF;
		inbox_modseq := mail_next_modseq(p_account, m.mailbox_id);
		SELECT a.first_uid, a.modseq INTO first_uid, new_modseq
		  FROM mail_allocate(p_account, new_id, moved::integer) a;
		INSERT INTO expunged (account_id, mailbox_id, uid, modseq)
		SELECT p_account, m.mailbox_id, mm.uid, inbox_modseq FROM mailbox_messages mm
		 WHERE mm.account_id = p_account AND mm.mailbox_id = m.mailbox_id
		ON CONFLICT DO NOTHING;
		UPDATE mailbox_messages mm
		   SET mailbox_id = new_id, uid = first_uid + s.rn - 1, modseq = new_modseq
		  FROM (SELECT x.uid, row_number() OVER (ORDER BY x.uid) AS rn
		          FROM mailbox_messages x
		         WHERE x.account_id = p_account AND x.mailbox_id = m.mailbox_id) s
		 WHERE mm.account_id = p_account AND mm.mailbox_id = m.mailbox_id AND mm.uid = s.uid;
		-- m holds INBOX's counters as of the row lock, which every change
		-- of INBOX's messages takes (mail_allocate, mail_next_modseq).
		UPDATE mailboxes mb SET messages = m.messages, unseen = m.unseen, bytes = m.bytes,
		       keywords = m.keywords
		 WHERE mb.account_id = p_account AND mb.mailbox_id = new_id;
		UPDATE mailboxes mb SET messages = 0, unseen = 0, bytes = 0
		 WHERE mb.account_id = p_account AND mb.mailbox_id = m.mailbox_id;
		RETURN;
	END IF;

	PERFORM 1 FROM mailboxes mb
	 WHERE mb.account_id = p_account AND mailboxes_in_subtree(mb.name, p_old)
	 ORDER BY mb.mailbox_id FOR UPDATE;
	SELECT * INTO m FROM mailboxes mb WHERE mb.account_id = p_account AND mb.name = p_old;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'MSNF0';
	END IF;
	IF EXISTS (SELECT 1 FROM mailboxes mb WHERE mb.account_id = p_account AND mb.name = p_new) THEN
		RAISE EXCEPTION 'mailbox exists' USING ERRCODE = 'MSCF0';
	END IF;
	-- The new names of inferiors must still be valid names.
	IF EXISTS (SELECT 1 FROM mailboxes mb
	            WHERE mb.account_id = p_account AND mailboxes_in_subtree(mb.name, p_old)
	              AND (octet_length(p_new || substr(mb.name, length(p_old) + 1)) > p_max_bytes
	                   OR cardinality(string_to_array(p_new || substr(mb.name, length(p_old) + 1),
	                                                  '/')) > p_max_depth)) THEN
		RAISE EXCEPTION 'a renamed name would be too long or too deep' USING ERRCODE = 'MSIV0';
	END IF;
	UPDATE mailboxes mb SET name = p_new || substr(mb.name, length(p_old) + 1)
	 WHERE mb.account_id = p_account AND mailboxes_in_subtree(mb.name, p_old);
	PERFORM mailboxes_make(p_account, p_new, false, p_max);
	INSERT INTO subscriptions (account_id, name)
	SELECT p_account, p_new || substr(s.name, length(p_old) + 1) FROM subscriptions s
	 WHERE s.account_id = p_account AND mailboxes_in_subtree(s.name, p_old)
	ON CONFLICT DO NOTHING;
	DELETE FROM subscriptions s
	 WHERE s.account_id = p_account AND mailboxes_in_subtree(s.name, p_old);
	mailbox_id := m.mailbox_id;
END $$;

-- SUBSCRIBE: names, existing or not (RFC 3501 §6.3.6); subscribing twice is
-- fine; at most p_max subscriptions per account.
CREATE FUNCTION mailboxes_subscribe(p_account bigint, p_name text, p_max integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	total bigint;
BEGIN
	PERFORM mailboxes_lock_account(p_account);
	IF EXISTS (SELECT 1 FROM subscriptions WHERE account_id = p_account AND name = p_name) THEN
		RETURN;
	END IF;
	SELECT count(*) INTO total FROM subscriptions WHERE account_id = p_account;
	IF total >= p_max THEN
		RAISE EXCEPTION 'too many subscriptions (at most %)', p_max USING ERRCODE = 'MSLM0';
	END IF;
	INSERT INTO subscriptions (account_id, name) VALUES (p_account, p_name);
END $$;
