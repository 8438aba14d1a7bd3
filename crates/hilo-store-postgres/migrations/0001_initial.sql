-- hilo schema, version 1, PostgreSQL dialect. Kept in step with the SQLite migration of the
-- same name: the same tables, columns and constraints. Forward-only: never edit once
-- released; add a new file (to both backends) instead.
-- Times are BIGINT milliseconds since the Unix epoch; ids are TEXT (UUIDv7).

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,          -- lower case
    display_name         TEXT NOT NULL,
    password_hash        TEXT NOT NULL,                 -- Argon2id PHC string
    is_admin             BOOLEAN NOT NULL DEFAULT FALSE,
    suspended            BOOLEAN NOT NULL DEFAULT FALSE,
    who_can_message      TEXT NOT NULL DEFAULT 'everyone',
    last_seen_visibility TEXT NOT NULL DEFAULT 'everyone',
    read_receipts        BOOLEAN NOT NULL DEFAULT TRUE,
    event_head           BIGINT NOT NULL DEFAULT 0,     -- newest cursor of the user's stream
    event_floor          BIGINT NOT NULL DEFAULT 0,     -- events at or below were pruned
    created_at           BIGINT NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,                  -- SHA-256 of the bearer token
    device_name  TEXT,
    ip           TEXT,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE invites (
    code_hash  TEXT PRIMARY KEY,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_by    TEXT REFERENCES users(id) ON DELETE SET NULL,
    used_at    BIGINT
);

-- People who are not accounts: an email address or an E.164 phone number.
CREATE TABLE contacts (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
    address      TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    name       TEXT,
    direct_key TEXT UNIQUE,                             -- sorted pair of parties; NULL for groups
    last_seq   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A participant is exactly one of: an account, a contact (later: a business page).
-- `position` is the insertion order SQLite keeps as rowid: members list in join order.
CREATE TABLE members (
    position        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id         TEXT REFERENCES users(id) ON DELETE CASCADE,
    contact_id      TEXT REFERENCES contacts(id) ON DELETE CASCADE,
    role            TEXT NOT NULL DEFAULT 'member',
    folder          TEXT NOT NULL DEFAULT 'inbox',
    last_read_seq   BIGINT NOT NULL DEFAULT 0,
    muted_until     BIGINT,
    notify          TEXT NOT NULL DEFAULT 'all',
    joined_at       BIGINT NOT NULL,
    left_at         BIGINT,                             -- NULL while a member
    CHECK ((user_id IS NULL) <> (contact_id IS NULL))
);
CREATE UNIQUE INDEX members_user ON members(conversation_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX members_contact ON members(conversation_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX members_by_user ON members(user_id, folder) WHERE user_id IS NOT NULL;

CREATE TABLE messages (
    id                TEXT PRIMARY KEY,
    conversation_id   TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq               BIGINT NOT NULL,
    sender_user_id    TEXT REFERENCES users(id) ON DELETE SET NULL,
    sender_contact_id TEXT REFERENCES contacts(id) ON DELETE SET NULL,
    channel           TEXT NOT NULL CHECK (channel IN ('chat', 'email', 'sms', 'widget', 'system')),
    text              TEXT,
    client_txn_id     TEXT,
    edited_at         BIGINT,
    deleted           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_by_txn ON messages(conversation_id, sender_user_id, client_txn_id)
    WHERE client_txn_id IS NOT NULL AND sender_user_id IS NOT NULL;

-- Each account's gap-free event stream. Rows hold references, not rendered payloads.
CREATE TABLE user_events (
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    cursor          BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    conversation_id TEXT,
    message_id      TEXT,
    subject_user_id TEXT,
    session_id      TEXT,
    number          BIGINT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, cursor)
);
