-- hilo schema, version 14: a conversation a member deleted (or declined) is gone for them
-- until a new message, or their opening it again, brings it back. Version 7 derived that
-- from cleared_seq >= last_seq, which could not tell "opened again, nothing new yet" from
-- "deleted"; the flag can.
ALTER TABLE members ADD COLUMN hidden BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE members SET hidden = TRUE WHERE cleared_seq IS NOT NULL AND cleared_seq >= (SELECT c.last_seq FROM conversations c WHERE c.id = members.conversation_id);
