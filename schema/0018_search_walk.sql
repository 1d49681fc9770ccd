-- Mailstead schema, migration 0018: SEARCH walks a mailbox without reading
-- its rows.
--
-- A SEARCH BODY/TEXT for a common word (75% of a 100,000-message mailbox)
-- keeps the mailbox's rows whose message is among the word's hits: it walks
-- every (uid, message_id) of the mailbox in UID order. Through the primary
-- key that is a heap fetch per row, and the rows of one mailbox are not in
-- UID order in the heap (concurrent deliveries fill different pages): the
-- walk of 100,000 rows touched 12,000-69,000 buffers, many of them evicted
-- by the FETCH and header searches before it in the benchmark loop. With
-- message_id in the primary key's leaf tuples the walk is an index-only
-- scan of ~720 pages (498 without it), as far as the visibility map allows
-- (measured in docs/benchmarks.md).
--
-- The primary key itself carries it, not a second index on the same key:
-- that one cost a B-tree insert per new row and per flag change (~3-4 us
-- each), and as a second index on (account_id, mailbox_id, uid) it tied
-- with the others in generic plans, where the mailbox prefix is estimated
-- at one row: the change query (mailbox_changes, `modseq > $3`) switched
-- from mailbox_messages_modseq_idx to it and read the whole mailbox.
-- message_id never changes, so flag updates touch the same columns as
-- before (they are not HOT anyway: modseq is indexed).
ALTER TABLE mailbox_messages
	DROP CONSTRAINT mailbox_messages_pkey,
	ADD CONSTRAINT mailbox_messages_pkey PRIMARY KEY (account_id, mailbox_id, uid)
		INCLUDE (message_id);
