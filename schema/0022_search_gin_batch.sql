-- Mailstead schema, migration 0022: the search index's GIN indexes batch
-- their inserts again, and the indexer empties their pending lists when
-- it has caught up.
--
-- 0021 bounded the pending lists (none for the lexicon's trigram index,
-- 256 kB for the words index) so that a search never reads megabytes of
-- them. That made the indexer merge its entries into the GIN trees almost
-- one message at a time, and merging is most of what indexing costs: a
-- profile of the catch-up after the deliver benchmark (3,000 messages to
-- 100 accounts) had half of PostgreSQL's CPU under gininsert, a third of
-- it inserting trigrams one by one into search_words_trgm_idx. Measured
-- on that catch-up (PostgreSQL CPU, the same database re-indexed twice per
-- setting):
--
--   0021 settings (no list / 256 kB)                  3.21-3.85 s
--   1 MB lists on both indexes                        2.49-2.61 s
--   4 MB lists (PostgreSQL's default) on both         2.26-2.33 s
--   1 MB lists, word arrays compressed with lz4       2.22-2.38 s
--
-- So both indexes keep a 1 MB pending list (128 pages, a quarter of the
-- default: a search reads at most that much of each), the word arrays
-- are compressed with lz4 instead of pglz (they are written once and never
-- read back: GIN answers && without rechecking the row), and
-- mail_search_index_flush() merges what is pending into the trees. The
-- indexer calls it once it has found no work for a while
-- (server/search_indexer.c), so a search on a quiet server reads no
-- pending list at all, and one during a burst at most 1 MB per index.
ALTER INDEX search_words_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 1024);
ALTER INDEX message_search_words_idx SET (gin_pending_list_limit = 1024);

DO $$
BEGIN
	ALTER TABLE message_search ALTER COLUMN words SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	RAISE NOTICE 'lz4 is not supported by this server: word arrays keep pglz';
END $$;

-- Merges both pending lists into their trees; returns the pages merged
-- (0 when both were empty, which costs two metapage reads). Needs the
-- indexes' owner: the role that runs the migrations and the daemons.
CREATE FUNCTION mail_search_index_flush() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
	SELECT gin_clean_pending_list('message_search_words_idx'::regclass)
	     + gin_clean_pending_list('search_words_trgm_idx'::regclass)
$$;
