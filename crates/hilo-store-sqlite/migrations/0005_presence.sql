-- hilo schema, version 5: presence across nodes. Each node keeps a row for every user
-- with an event stream open on it, renewed while the stream lasts; a user is online while
-- any node's row for them is current.

CREATE TABLE presence (
    node_id  TEXT NOT NULL,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    until_at INTEGER NOT NULL,                           -- current until then
    PRIMARY KEY (node_id, user_id)
);
CREATE INDEX presence_by_user ON presence(user_id, until_at);
