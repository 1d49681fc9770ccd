-- Mailstead schema, migration 0017: lz4 for the search text of messages.
--
-- messages.body_text and headers_text (the decoded text SEARCH and the
-- background search index read, 0007/0013) are TOAST-compressed when a
-- message's text passes ~2 KB. With the default pglz, compressing them was
-- 6.7% of PostgreSQL's CPU in delivery after 0016 moved the raw chunks to
-- lz4 (perf of the backends, deliver scenario); lz4 compresses several
-- times faster and decompresses faster for the indexer and the scan, at a
-- similar ratio on text. It applies to values written from now on; older
-- values stay readable as they are. A server built without lz4 keeps pglz.
DO $$
BEGIN
	ALTER TABLE messages ALTER COLUMN body_text SET COMPRESSION lz4,
	                     ALTER COLUMN headers_text SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	RAISE NOTICE 'lz4 is not supported by this server: messages text keeps pglz';
END $$;
