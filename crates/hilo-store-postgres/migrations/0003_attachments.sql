-- hilo schema, version 3: attachments. The bytes live in the object store (a folder of
-- the data dir, or an S3 bucket) under attachments/<id> and thumbnails/<id>; a row says
-- what they are and who may read them.

CREATE TABLE attachments (
    id            TEXT PRIMARY KEY,
    uploader_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,                     -- sniffed from the bytes
    size          BIGINT NOT NULL,
    width         BIGINT,                            -- images
    height        BIGINT,
    has_thumbnail BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    sent_at       BIGINT,                           -- first put on a message
    deleted_at    BIGINT                             -- unreadable; its bytes are being removed
);
CREATE INDEX attachments_unsent ON attachments(created_at) WHERE sent_at IS NULL;
CREATE INDEX attachments_deleted ON attachments(deleted_at) WHERE deleted_at IS NOT NULL;

-- Which message carries which attachment (a forward shares the original's).
CREATE TABLE message_attachments (
    message_id    TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    attachment_id TEXT NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX message_attachments_by_attachment ON message_attachments(attachment_id);
