-- hilo schema, version 22: the SMS channel (issue 11).
--
-- A message to a phone contact is queued like a mail, in `outbound_mail` with `channel`
-- 'sms'. `handed_at` is when it was handed to the provider: it is never claimed again
-- (a text is sent at most once), and only the provider's status callbacks move its state
-- from then on, never backwards.
ALTER TABLE outbound_mail ADD COLUMN channel TEXT NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms'));
ALTER TABLE outbound_mail ADD COLUMN handed_at BIGINT;

-- The text a message came or went as: the provider account (its configured id) and the
-- provider's id of the text, unique, so a webhook delivered twice stores one message.
CREATE TABLE message_sms (
    message_id      TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    provider        TEXT NOT NULL,
    sid             TEXT NOT NULL,
    inbound         BOOLEAN NOT NULL,
    from_number     TEXT NOT NULL,
    to_number       TEXT NOT NULL,
    segments        BIGINT NOT NULL,
    encoding        TEXT NOT NULL
);
CREATE UNIQUE INDEX message_sms_sid ON message_sms(provider, sid);

-- Whose conversation a text from `their_number` to `our_number` belongs to: each pair
-- of numbers carries one conversation, so a reply always finds the thread it answers.
CREATE TABLE sms_routes (
    our_number      TEXT NOT NULL,
    their_number    TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (our_number, their_number)
);
CREATE INDEX sms_routes_by_conversation ON sms_routes(conversation_id);

-- Numbers that texted STOP to one of ours: nothing more is sent them from it until START.
CREATE TABLE sms_opt_outs (
    our_number   TEXT NOT NULL,
    their_number TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (our_number, their_number)
);

-- A status callback that came before hilo recorded the provider's answer to the send
-- (the two race): applied, and removed, when the answer is recorded.
CREATE TABLE sms_early_status (
    provider    TEXT NOT NULL,
    sid         TEXT NOT NULL,
    state       TEXT NOT NULL,
    detail      TEXT,
    received_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sms_early_status_once ON sms_early_status(provider, sid, state);
CREATE INDEX sms_early_status_age ON sms_early_status(received_at);

-- An account's own phone numbers are kept with its outside email addresses in
-- `user_emails` (an address that starts with '+'): the same code, tries and one-owner rule.
