-- hilo schema, version 19: mail sent to contacts (issue 10).
--
-- A message written in a conversation with email contacts is mailed to them: one row
-- per message, made by the same transaction as the message, tried until it is sent or
-- given up on. `claimed_until` keeps two nodes from sending it at once; `detail` says
-- why the last try failed (the relay's answer, or the bounce that came back).
CREATE TABLE outbound_mail (
    message_id      TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'delivered', 'failed')),
    detail          TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX outbound_mail_due ON outbound_mail(next_attempt_at) WHERE state = 'queued';
