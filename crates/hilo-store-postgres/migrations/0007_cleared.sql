-- hilo schema, version 7: "delete conversation for me" and declined message requests.
-- A member's history up to cleared_seq is hidden from them; the conversation leaves their
-- lists until a newer message arrives.
ALTER TABLE members ADD COLUMN cleared_seq BIGINT;

-- A declined friend request stays, marked: the asker still sees it waiting (a decline is
-- not announced); the person asked no longer sees it.
ALTER TABLE friend_requests ADD COLUMN declined_at BIGINT;
