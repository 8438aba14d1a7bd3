-- hilo schema, version 17: account security (issue 8).
--
-- Two-factor auth: the TOTP secret once enrolment is confirmed, the one being enrolled,
-- and the last time step a code was accepted for (a step is usable once, RFC 6238 §5.2).
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;

-- A deleted account stays as a tombstone so that its messages keep a sender ("Deleted
-- user") for the others; everything else of it is gone.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;

-- Login alerts: what the User-Agent says the device is, and the address's network (an
-- IPv4 /24 or IPv6 /48), for telling a login from a new device or network.
ALTER TABLE sessions ADD COLUMN agent TEXT;
ALTER TABLE sessions ADD COLUMN network TEXT;

-- Ten single-use recovery codes per account with 2FA on, Argon2id-hashed.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    n         BIGINT NOT NULL,
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, n)
);

-- The security audit log: logins, failed logins, 2FA changes, revocations, password
-- changes, admin actions. Ids are UUIDv7, so id order is time order. The username is
-- kept as it was, so an entry outlives its account.
CREATE TABLE audit_events (
    id       TEXT PRIMARY KEY,
    user_id  TEXT REFERENCES users(id) ON DELETE SET NULL,
    username TEXT,
    actor_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    kind     TEXT NOT NULL,
    at       BIGINT NOT NULL,
    ip       TEXT,
    device   TEXT,
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_user ON audit_events(user_id, id);

-- Counters behind the rate limits, shared by every node: a fixed window (`started_at` is
-- when the window began, `count` what it has seen) or, for login failures, a run of
-- failures (`started_at` is the last one). Rows older than a day are swept.
CREATE TABLE rate_limits (
    key        TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    count      BIGINT NOT NULL
);
CREATE INDEX rate_limits_by_age ON rate_limits(started_at);
