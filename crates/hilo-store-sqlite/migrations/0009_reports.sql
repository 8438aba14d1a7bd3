-- hilo schema, version 9: reports to the moderators.
CREATE TABLE reports (
    id              TEXT PRIMARY KEY,
    reporter_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message_id      TEXT REFERENCES messages(id) ON DELETE SET NULL,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL,
    subject_user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'dismissed', 'message_deleted', 'user_suspended')),
    created_at      INTEGER NOT NULL,
    resolved_at     INTEGER,
    resolved_by     TEXT REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX reports_by_status ON reports(status, created_at);

-- The report an event is about (report.resolved, to the reporter).
ALTER TABLE user_events ADD COLUMN report_id TEXT;
