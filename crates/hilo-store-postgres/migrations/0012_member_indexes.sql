-- hilo schema, version 12: indexes found missing by hilo-bench (docs/benchmarks.md).
--
-- A conversation's members by conversation alone: members_user is partial (user_id IS NOT
-- NULL), so loading a conversation's member list, which names no user, scanned every
-- membership row of the server (found by hilo-bench's inbox scenario).
CREATE INDEX members_of_conversation ON members(conversation_id, joined_at);

-- A folder's pinned conversations without reading the unpinned ones, and the unpinned
-- without the pinned: the first page of a list asks for each.
DROP INDEX members_by_user;
CREATE INDEX members_by_user ON members(user_id, folder, pinned) WHERE user_id IS NOT NULL;

-- The conversations a sender opened lately (the spam filter's behaviour signals), read
-- from first messages only instead of every message the sender wrote that day.
CREATE INDEX messages_opened_by_sender ON messages(sender_user_id, created_at) WHERE seq = 1;
