-- hilo schema, version 10: message search.
--
-- The terms are made in Rust (hilo_core::search: folded words, and apart their stems),
-- so the index stores no text of its own: a contentless FTS5 table whose rows are
-- deleted and replaced with the message's, in the same transaction as the message.
-- Its rowids come from message_search_docs, whose INTEGER PRIMARY KEY survives VACUUM
-- (messages' own rowids may not, and `hilo backup` is a VACUUM INTO).
CREATE TABLE message_search_docs (
    docid      INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE
);
CREATE VIRTUAL TABLE message_search USING fts5(
    words,
    stems,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);

-- Messages written before this version, indexed by the store when it opens.
CREATE TABLE search_backlog (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO search_backlog (message_id)
    SELECT id FROM messages m WHERE deleted = 0
        AND (text IS NOT NULL OR EXISTS (SELECT 1 FROM message_attachments ma WHERE ma.message_id = m.id));
