-- hilo schema, version 21: email digests (issue 10).
--
-- An account that has been away gets what waits unread mailed to its verified addresses
-- that want it (`digest`); `digested_seq` is how far a member's conversation was
-- mailed, so nothing is mailed twice and a digest never waits on what was read since.
ALTER TABLE user_emails ADD COLUMN digest BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE members ADD COLUMN digested_seq BIGINT NOT NULL DEFAULT 0;
