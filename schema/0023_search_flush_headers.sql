-- Mailstead schema, migration 0023: the indexer's idle merge of GIN
-- pending lists (0022) covers the header trigram indexes too.
--
-- SEARCH SUBJECT/FROM/TO/CC go through the trigram indexes on messages
-- (0007), written at delivery, whose pending lists keep PostgreSQL's
-- default limit (4 MB): every such search reads them whole. Measured on a
-- 20,000-message mailbox (the index part of SUBJECT "invoice", 5 runs):
-- 7.8 ms with empty lists, 12.7 ms after 3,000 deliveries to 100 other
-- accounts had left 490 pending pages in the subject index. The limit
-- stays 4 MB: a smaller one would make deliveries merge more often
-- themselves, inside their transactions. Merging when the indexer has
-- been idle for 2 s (it indexes every new message, so it is dirty after
-- any delivery or APPEND) gives a quiet server empty lists.
CREATE OR REPLACE FUNCTION mail_search_index_flush() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
	SELECT gin_clean_pending_list('message_search_words_idx'::regclass)
	     + gin_clean_pending_list('search_words_trgm_idx'::regclass)
	     + gin_clean_pending_list('messages_subject_trgm_idx'::regclass)
	     + gin_clean_pending_list('messages_from_trgm_idx'::regclass)
	     + gin_clean_pending_list('messages_to_trgm_idx'::regclass)
	     + gin_clean_pending_list('messages_cc_trgm_idx'::regclass)
$$;
