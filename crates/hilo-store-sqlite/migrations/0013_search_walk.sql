-- hilo schema, version 13: search that stays fast over a million messages (hilo-bench's
-- search scenario, docs/benchmarks.md).
--
-- Every query term is a prefix ("reserv" finds "reservamos"). Without a prefix index
-- FTS5 answers a prefix by merging the lists of every word that starts with it, across the
-- whole server, before returning a single row: some 600,000 entries for "the", and nearly
-- everything for a one-letter query typed into a search box. Prefix indexes of one, two
-- and three characters make those one list that is read lazily, newest first, and left
-- as soon as the query has its window; longer prefixes start few enough words to merge.
DROP TABLE message_search;
CREATE VIRTUAL TABLE message_search USING fts5(
    words,
    stems,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0',
    prefix = '1 2 3'
);

-- A search walks matches newest first and keeps those the searcher may read. Each entry
-- now carries what that check and the filters need (conversation, position, sender,
-- time), so the walk reads this narrow table instead of the messages themselves.
CREATE TABLE message_search_entries (
    docid           INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    sender_user_id  TEXT,
    created_at      INTEGER NOT NULL
);
-- Entries keep their docids (which grow with time: the walk's order).
INSERT INTO message_search_entries (docid, message_id, conversation_id, seq, sender_user_id, created_at)
    SELECT d.docid, d.message_id, m.conversation_id, m.seq, m.sender_user_id, m.created_at
    FROM message_search_docs d JOIN messages m ON m.id = d.message_id;
DROP TABLE message_search_docs;

-- The new index is filled again, in Rust (the terms are made there), when the store opens.
INSERT OR IGNORE INTO search_backlog (message_id)
    SELECT message_id FROM message_search_entries;
