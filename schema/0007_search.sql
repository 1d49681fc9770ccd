-- Mailstead schema, migration 0007: SEARCH (RFC 3501 §6.4.4).
--
-- SEARCH runs as one query over the selected mailbox's primary-key range
-- (server/store_search.c, criteria compiled by server/imap/search_compile.c).
-- String keys are case-insensitive substring matches (ILIKE '%...%'), which
-- a B-tree cannot help with; pg_trgm GIN indexes can.
--
-- Which columns get an index is a trade-off measured on 100k-message
-- mailboxes (PostgreSQL 15, 310k messages over 3 accounts):
-- * The header columns clients search most (Subject, From, To, Cc) are
--   short: their trigram indexes cost ~0.03 ms per delivered message and
--   turn a rare-word search of 100k messages from ~170 ms into ~1 ms.
-- * body_text and headers_text are long: indexing them cost ~0.3 ms per
--   1.2 KB message at delivery (growing with the text), on top of a ~0.01 ms
--   insert, which is the synchronous indexing cost DESIGN.md §9 rules out.
--   BODY and TEXT therefore scan the mailbox (~50 ms per 10k messages, ~0.5-1 s
--   per 100k). An index maintained outside delivery can narrow them later.
--
-- Each index leads with account_id (btree_gin) so that a search reads the
-- posting lists of one account, not of every tenant.
--
-- Extensions: pg_trgm and btree_gin ship with postgresql-contrib and are
-- "trusted" since PostgreSQL 13, so the migration runs as a role with CREATE
-- on the database (its owner); in the dev/test clusters the mailstead role
-- is a superuser anyway. Where the role may not create extensions, the DBA
-- runs both CREATE EXTENSION statements once beforehand.
--
-- On an existing large installation, CREATE INDEX here locks messages
-- against writes while it builds; create the indexes by hand with CREATE
-- INDEX CONCURRENTLY first (same names) to avoid that.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX IF NOT EXISTS messages_subject_trgm_idx
	ON messages USING gin (account_id, hdr_subject gin_trgm_ops);
CREATE INDEX IF NOT EXISTS messages_from_trgm_idx
	ON messages USING gin (account_id, hdr_from gin_trgm_ops);
CREATE INDEX IF NOT EXISTS messages_to_trgm_idx
	ON messages USING gin (account_id, hdr_to gin_trgm_ops);
CREATE INDEX IF NOT EXISTS messages_cc_trgm_idx
	ON messages USING gin (account_id, hdr_cc gin_trgm_ops);

-- HEADER <field-name> <string>: does headers_text (one "Name: value" line
-- per field, unfolded and decoded) have a field named p_name (any case)
-- whose value contains p_needle (any case)? An empty needle asks whether
-- the field is present at all. The caller narrows with an ILIKE on the
-- whole text first, which the planner can evaluate more cheaply.
CREATE FUNCTION mail_search_header(p_headers text, p_name text, p_needle text)
RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT EXISTS (
		SELECT 1 FROM unnest(string_to_array(p_headers, E'\n')) AS l(line)
		 WHERE strpos(l.line, ':') > 0
		   AND lower(rtrim(split_part(l.line, ':', 1))) = lower(p_name)
		   AND strpos(lower(substr(l.line, strpos(l.line, ':') + 1)), lower(p_needle)) > 0)
$$;
