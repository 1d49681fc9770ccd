-- Mailstead schema, migration 0012: SPECIAL-USE and CREATE-SPECIAL-USE
-- (RFC 6154). LIST-EXTENDED, LIST-STATUS and QUOTA need no schema change:
-- they read mailboxes, subscriptions and the usage columns that 0003's
-- triggers keep exact.
--
-- One mailbox per special use per account. RFC 6154 allows several, but a
-- client looking for "the" Sent or Trash mailbox takes the first it finds,
-- so a second one would be a trap; CREATE (USE (\Sent)) while another
-- mailbox is \Sent is refused (NO [USEATTR]). RENAME keeps a mailbox's
-- special use; DELETE takes it away with the mailbox.
--
-- Depends on 0001 (mailboxes.special_use) and 0004 (mailboxes_create,
-- mailboxes_lock_account).

-- Data from before this migration may hold duplicates (only SQL could
-- make them): the oldest mailbox keeps the use.
UPDATE mailboxes m SET special_use = NULL
 WHERE m.special_use IS NOT NULL
   AND EXISTS (SELECT 1 FROM mailboxes o
                WHERE o.account_id = m.account_id AND o.special_use = m.special_use
                  AND o.mailbox_id < m.mailbox_id);

CREATE UNIQUE INDEX mailboxes_special_use_idx ON mailboxes (account_id, special_use)
	WHERE special_use IS NOT NULL;

-- CREATE with an optional special use (p_use without the backslash, or
-- NULL). Errors as mailboxes_create (0004), and MSUA0 when p_use cannot be
-- given: not one a client may create (\All and \Flagged are virtual
-- mailboxes this server does not have), or another mailbox has it. Nothing
-- is created then (one transaction).
--
-- Lock order as in 0003: mailboxes_create takes the mailbox row (or, for a
-- new name, the account row); the account row is taken after it, so two
-- CREATEs with the same use serialise on it and the second sees the first.
CREATE FUNCTION mailboxes_create_use(p_account bigint, p_name text, p_max integer, p_use text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	id bigint;
BEGIN
	IF p_use IS NOT NULL AND p_use NOT IN ('Archive', 'Drafts', 'Junk', 'Sent', 'Trash') THEN
		RAISE EXCEPTION 'special use % cannot be created', p_use USING ERRCODE = 'MSUA0';
	END IF;
	id := mailboxes_create(p_account, p_name, p_max);
	IF p_use IS NULL THEN
		RETURN id;
	END IF;
	PERFORM mailboxes_lock_account(p_account);
	IF EXISTS (SELECT 1 FROM mailboxes
	            WHERE account_id = p_account AND special_use = p_use AND mailbox_id <> id) THEN
		RAISE EXCEPTION 'another mailbox is \%', p_use USING ERRCODE = 'MSUA0';
	END IF;
	UPDATE mailboxes SET special_use = p_use WHERE account_id = p_account AND mailbox_id = id;
	RETURN id;
END $$;
