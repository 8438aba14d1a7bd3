-- hilo schema, version 3: attachments. The bytes live in the object store (a folder of
-- the data dir, or an S3 bucket) under attachments/<id> and thumbnails/<id>; a row says
-- what they are and who may read them.

CREATE TABLE attachments (
    id            TEXT PRIMARY KEY,
    uploader_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,                     -- sniffed from the bytes
    size          INTEGER NOT NULL,
    width         INTEGER,                           -- images
    height        INTEGER,
    has_thumbnail INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER,                           -- first put on a message
    deleted_at    INTEGER                            -- unreadable; its bytes are being removed
);
CREATE INDEX attachments_unsent ON attachments(created_at) WHERE sent_at IS NULL;
CREATE INDEX attachments_deleted ON attachments(deleted_at) WHERE deleted_at IS NOT NULL;

-- Which message carries which attachment (a forward shares the original's).
CREATE TABLE message_attachments (
    message_id    TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    attachment_id TEXT NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, position)
) WITHOUT ROWID;
CREATE INDEX message_attachments_by_attachment ON message_attachments(attachment_id);
