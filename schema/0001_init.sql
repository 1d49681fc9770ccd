-- Mailstead schema, migration 0001: tenants, mail storage, audit.
--
-- Every table of mail data carries account_id and starts its primary key with
-- it (DESIGN.md §3): one account's data stays together and the schema can be
-- distributed by account later. Applied in one transaction by the migration
-- runner, which records it in schema_migrations.

CREATE TABLE schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
);

-- Tenants -------------------------------------------------------------------

CREATE TABLE domains (
	domain_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name         text NOT NULL UNIQUE
	             CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 253),
	status       text NOT NULL DEFAULT 'active'
	             CHECK (status IN ('active', 'suspended')),
	-- Storage all accounts of the domain may use together; 0 = unlimited.
	quota_bytes  bigint NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),
	-- 0 = unlimited.
	max_accounts integer NOT NULL DEFAULT 0 CHECK (max_accounts >= 0),
	-- Address (an existing account or alias) that receives mail for unknown
	-- local parts of this domain; NULL = none.
	catchall     text,
	created_at   timestamptz NOT NULL DEFAULT now(),
	updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
	account_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain_id      bigint NOT NULL REFERENCES domains ON DELETE CASCADE,
	localpart      text NOT NULL
	               CHECK (localpart = lower(localpart) AND length(localpart) BETWEEN 1 AND 64),
	password_hash  text NOT NULL CHECK (password_hash LIKE '{%}%'),
	status         text NOT NULL DEFAULT 'active'
	               CHECK (status IN ('active', 'suspended')),
	-- 0 = unlimited.
	quota_bytes    bigint NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),
	quota_messages bigint NOT NULL DEFAULT 0 CHECK (quota_messages >= 0),
	-- Usage, kept exact by the mail functions in the same transaction as
	-- the change (one row lock per account).
	used_bytes     bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
	used_messages  bigint NOT NULL DEFAULT 0 CHECK (used_messages >= 0),
	created_at     timestamptz NOT NULL DEFAULT now(),
	updated_at     timestamptz NOT NULL DEFAULT now(),
	UNIQUE (domain_id, localpart)
);

CREATE TABLE aliases (
	alias_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain_id    bigint NOT NULL REFERENCES domains ON DELETE CASCADE,
	localpart    text NOT NULL
	             CHECK (localpart = lower(localpart) AND length(localpart) BETWEEN 1 AND 64),
	-- Full local addresses (localpart@domain), each an account or alias.
	destinations text[] NOT NULL CHECK (cardinality(destinations) BETWEEN 1 AND 100),
	created_at   timestamptz NOT NULL DEFAULT now(),
	UNIQUE (domain_id, localpart)
);

-- One namespace per domain for accounts and aliases together: an address is
-- either an account or an alias, never both. Maintained by triggers so no
-- code path can forget it. Logins and deliveries resolve here in one lookup.
CREATE TABLE addresses (
	address    text PRIMARY KEY CHECK (address = lower(address)),
	domain_id  bigint NOT NULL REFERENCES domains ON DELETE CASCADE,
	localpart  text NOT NULL,
	account_id bigint REFERENCES accounts ON DELETE CASCADE,
	alias_id   bigint REFERENCES aliases ON DELETE CASCADE,
	UNIQUE (domain_id, localpart),
	CHECK ((account_id IS NULL) <> (alias_id IS NULL))
);
CREATE INDEX addresses_account_idx ON addresses (account_id);
CREATE INDEX addresses_alias_idx ON addresses (alias_id);

CREATE FUNCTION addresses_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	dname text;
BEGIN
	SELECT name INTO dname FROM domains WHERE domain_id = NEW.domain_id;
	IF TG_TABLE_NAME = 'accounts' THEN
		INSERT INTO addresses (address, domain_id, localpart, account_id)
		VALUES (NEW.localpart || '@' || dname, NEW.domain_id, NEW.localpart, NEW.account_id);
	ELSE
		INSERT INTO addresses (address, domain_id, localpart, alias_id)
		VALUES (NEW.localpart || '@' || dname, NEW.domain_id, NEW.localpart, NEW.alias_id);
	END IF;
	RETURN NEW;
END $$;

CREATE TRIGGER accounts_address AFTER INSERT ON accounts
	FOR EACH ROW EXECUTE FUNCTION addresses_sync();
CREATE TRIGGER aliases_address AFTER INSERT ON aliases
	FOR EACH ROW EXECUTE FUNCTION addresses_sync();

-- Renaming is not supported for accounts, aliases or domains (an address is
-- an identity); forbid it so addresses cannot go stale.
CREATE FUNCTION forbid_rename() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'renaming is not supported' USING ERRCODE = 'feature_not_supported';
END $$;
CREATE TRIGGER accounts_no_rename BEFORE UPDATE OF localpart, domain_id ON accounts
	FOR EACH ROW WHEN (OLD.localpart <> NEW.localpart OR OLD.domain_id <> NEW.domain_id)
	EXECUTE FUNCTION forbid_rename();
CREATE TRIGGER aliases_no_rename BEFORE UPDATE OF localpart, domain_id ON aliases
	FOR EACH ROW WHEN (OLD.localpart <> NEW.localpart OR OLD.domain_id <> NEW.domain_id)
	EXECUTE FUNCTION forbid_rename();
CREATE TRIGGER domains_no_rename BEFORE UPDATE OF name ON domains
	FOR EACH ROW WHEN (OLD.name <> NEW.name) EXECUTE FUNCTION forbid_rename();

-- Mail ------------------------------------------------------------------------

-- UIDVALIDITY values only ever grow, so a mailbox deleted and created again
-- under the same name never repeats one (RFC 3501 §2.3.1.1). Starts at the
-- time of installation in seconds, as many servers do.
CREATE SEQUENCE mailbox_uidvalidity_seq MAXVALUE 4294967295;
SELECT setval('mailbox_uidvalidity_seq', extract(epoch FROM now())::bigint);

CREATE TABLE mailboxes (
	account_id    bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
	mailbox_id    bigint GENERATED ALWAYS AS IDENTITY,
	-- UTF-8, '/' delimited, INBOX always spelled "INBOX".
	name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 1024),
	uidvalidity   bigint NOT NULL DEFAULT nextval('mailbox_uidvalidity_seq') CHECK (uidvalidity BETWEEN 1 AND 4294967295),
	uidnext       bigint NOT NULL DEFAULT 1 CHECK (uidnext BETWEEN 1 AND 4294967296),
	highestmodseq bigint NOT NULL DEFAULT 1 CHECK (highestmodseq >= 1),
	-- First UID no session has yet seen as \Recent (RFC 3501 §2.3.2).
	recent_uid    bigint NOT NULL DEFAULT 1,
	-- RFC 6154 attribute without the backslash ('Drafts', 'Sent', ...) or NULL.
	special_use   text CHECK (special_use IN ('All', 'Archive', 'Drafts', 'Flagged',
	                                          'Junk', 'Sent', 'Trash')),
	-- \Noselect placeholder kept for children of a deleted parent (RFC 3501 §6.3.4).
	noselect      boolean NOT NULL DEFAULT false,
	messages      bigint NOT NULL DEFAULT 0 CHECK (messages >= 0),
	unseen        bigint NOT NULL DEFAULT 0 CHECK (unseen >= 0),
	bytes         bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
	-- Keywords ever used in this mailbox, for the FLAGS response.
	keywords      text[] NOT NULL DEFAULT '{}',
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, mailbox_id),
	UNIQUE (account_id, name)
);

-- Subscriptions are names, not mailboxes: RFC 3501 §6.3.6 allows subscribing
-- to a name that does not exist (any more).
CREATE TABLE subscriptions (
	account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
	name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 1024),
	PRIMARY KEY (account_id, name)
);

-- A message's bytes and parse results, stored once per account however
-- many mailboxes hold it.
CREATE TABLE messages (
	account_id     bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
	message_id     bigint GENERATED ALWAYS AS IDENTITY,
	size           bigint NOT NULL CHECK (size >= 0),
	sha256         bytea NOT NULL CHECK (length(sha256) = 32),
	-- How many mailbox_messages rows point here; the row goes when it is 0.
	refs           integer NOT NULL DEFAULT 0 CHECK (refs >= 0),
	header_size    bigint NOT NULL,
	lines          bigint NOT NULL DEFAULT 0,
	envelope       text NOT NULL,
	body           text NOT NULL,
	bodystructure  text NOT NULL,
	partmap        bytea NOT NULL,
	-- Search fields, decoded to UTF-8 when the message entered.
	sent_date      timestamptz,
	hdr_subject    text NOT NULL DEFAULT '',
	hdr_from       text NOT NULL DEFAULT '',
	hdr_to         text NOT NULL DEFAULT '',
	hdr_cc         text NOT NULL DEFAULT '',
	hdr_bcc        text NOT NULL DEFAULT '',
	hdr_message_id text NOT NULL DEFAULT '',
	headers_text   text NOT NULL DEFAULT '',
	body_text      text NOT NULL DEFAULT '',
	created_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, message_id),
	UNIQUE (account_id, sha256)
);

-- Raw RFC 5322 bytes exactly as received, in chunks so partial FETCH and
-- big messages stream without one huge value.
CREATE TABLE message_chunks (
	account_id bigint NOT NULL,
	message_id bigint NOT NULL,
	chunk_no   integer NOT NULL CHECK (chunk_no >= 0),
	data       bytea NOT NULL,
	PRIMARY KEY (account_id, message_id, chunk_no),
	FOREIGN KEY (account_id, message_id) REFERENCES messages ON DELETE CASCADE
);

-- Flag bits: 1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted, 16 \Draft.
CREATE TABLE mailbox_messages (
	account_id   bigint NOT NULL,
	mailbox_id   bigint NOT NULL,
	uid          bigint NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
	message_id   bigint NOT NULL,
	flags        integer NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 31),
	keywords     text[] NOT NULL DEFAULT '{}',
	modseq       bigint NOT NULL CHECK (modseq >= 1),
	internaldate timestamptz NOT NULL,
	savedate     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account_id, mailbox_id, uid),
	FOREIGN KEY (account_id, mailbox_id) REFERENCES mailboxes ON DELETE CASCADE,
	FOREIGN KEY (account_id, message_id) REFERENCES messages
);
CREATE INDEX mailbox_messages_modseq_idx ON mailbox_messages (account_id, mailbox_id, modseq);
CREATE INDEX mailbox_messages_message_idx ON mailbox_messages (account_id, message_id);

-- UIDs expunged, with the modseq of the expunge, for QRESYNC VANISHED.
CREATE TABLE expunged (
	account_id bigint NOT NULL,
	mailbox_id bigint NOT NULL,
	uid        bigint NOT NULL,
	modseq     bigint NOT NULL,
	PRIMARY KEY (account_id, mailbox_id, uid),
	FOREIGN KEY (account_id, mailbox_id) REFERENCES mailboxes ON DELETE CASCADE
);
CREATE INDEX expunged_modseq_idx ON expunged (account_id, mailbox_id, modseq);

-- Audit -------------------------------------------------------------------------

CREATE TABLE admin_audit (
	audit_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at        timestamptz NOT NULL DEFAULT now(),
	peer_uid  bigint NOT NULL,
	peer_pid  bigint,
	method    text NOT NULL,
	-- Parameters with every secret (password, password_hash) removed.
	params    jsonb NOT NULL,
	outcome   text NOT NULL CHECK (outcome IN ('ok', 'error')),
	error     text
);
CREATE INDEX admin_audit_at_idx ON admin_audit (at);
