-- hilo schema, version 15: a page of a member's conversations is an index range.
--
-- Lists sort by the conversation's activity time (conversations.updated_at). Sorting the
-- joined memberships of a user with 5,000 conversations took 7 ms on PostgreSQL for every
-- page (hilo-bench's inbox scenario, docs/benchmarks.md), so each membership row keeps a
-- copy of that time (rows::SYNC_ACTIVITY writes it in the transaction that moves the
-- conversation's) and the index walks a folder newest first.
ALTER TABLE members ADD COLUMN activity_at BIGINT NOT NULL DEFAULT 0;
UPDATE members SET activity_at = (SELECT c.updated_at FROM conversations c WHERE c.id = members.conversation_id);
DROP INDEX members_by_user;
CREATE INDEX members_by_user ON members(user_id, folder, pinned, activity_at, conversation_id) WHERE user_id IS NOT NULL;
