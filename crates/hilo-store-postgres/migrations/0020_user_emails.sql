-- hilo schema, version 20: addresses of one's own, and addresses one blocks (issue 10).
--
-- An account adds an outside email address and proves it is theirs with a code mailed
-- to it; from then on mail from that address (when its domain vouches for it, DMARC)
-- is theirs in hilo, in their direct conversation with whoever it was sent to. An
-- address is verified by one account at most. `code_hash` is the SHA-256 of the code
-- sent (kept only while waiting); `attempts` counts codes tried against it.
CREATE TABLE user_emails (
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address         TEXT NOT NULL,
    verified_at     BIGINT,
    code_hash       TEXT,
    code_expires_at BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, address)
);
CREATE UNIQUE INDEX user_emails_verified ON user_emails(address) WHERE verified_at IS NOT NULL;

-- Outside addresses an account blocks: their mail to it is taken and dropped, counted
-- in `dropped` and nothing else.
CREATE TABLE blocked_addresses (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    dropped    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, address)
);
