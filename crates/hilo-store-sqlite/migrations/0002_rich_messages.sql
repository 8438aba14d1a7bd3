-- hilo schema, version 2: replies, mentions, locations, forwards, reactions, edits and
-- "delete for me".

ALTER TABLE messages ADD COLUMN reply_to_id TEXT REFERENCES messages(id) ON DELETE SET NULL;
ALTER TABLE messages ADD COLUMN mentions TEXT;              -- space-separated user ids; NULL: none
ALTER TABLE messages ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN location_lat REAL;
ALTER TABLE messages ADD COLUMN location_lon REAL;
ALTER TABLE messages ADD COLUMN location_label TEXT;

-- At most one of each emoji per person per message.
CREATE TABLE reactions (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
) WITHOUT ROWID;

-- The texts a message had before each edit, for its sender.
CREATE TABLE message_versions (
    message_id  TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,                      -- 1 = the original text
    text        TEXT NOT NULL,
    replaced_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, version)
) WITHOUT ROWID;

-- Messages a member deleted for themselves only.
CREATE TABLE hidden_messages (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    hidden_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
) WITHOUT ROWID;
