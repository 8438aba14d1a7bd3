-- hilo schema, version 18: the email channel (issue 10).
--
-- The mail that came or went with a message: what hilo keeps of its headers (never Bcc),
-- the whole text (the thread shows it without quoted history and signature) and the HTML
-- as received. `rfc_id` is its Message-ID without angle brackets; `recipients` a line
-- per To or Cc address ("to|cc", address, name, tab-separated); `auth` the SPF, DKIM and
-- DMARC results ("spf dkim dmarc") once checked.
CREATE TABLE message_emails (
    message_id      TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    rfc_id          TEXT NOT NULL,
    inbound         INTEGER NOT NULL,
    subject         TEXT,
    from_address    TEXT NOT NULL,
    recipients      TEXT NOT NULL DEFAULT '',
    auth            TEXT,
    full_text       TEXT NOT NULL DEFAULT '',
    html            TEXT
);
CREATE INDEX message_emails_by_rfc_id ON message_emails(rfc_id);
-- The same mail arriving twice (a retry after a lost 250, or two copies of one message)
-- is stored once per conversation.
CREATE UNIQUE INDEX message_emails_once ON message_emails(conversation_id, rfc_id) WHERE inbound = 1;
