-- hilo schema, version 10: message search.
--
-- The terms are made in Rust (hilo_core::search: folded words weighted A, their stems
-- weighted B) and written as a tsvector with the message, in the same transaction;
-- PostgreSQL's own parser and unaccent never see the text, so both stores index the
-- same terms.
ALTER TABLE messages ADD COLUMN search tsvector;
CREATE INDEX messages_search ON messages USING gin (search);

-- Messages written before this version, indexed by the store when it opens.
CREATE TABLE search_backlog (message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE);
INSERT INTO search_backlog (message_id)
    SELECT id FROM messages m WHERE NOT deleted
        AND (text IS NOT NULL OR EXISTS (SELECT 1 FROM message_attachments ma WHERE ma.message_id = m.id));
