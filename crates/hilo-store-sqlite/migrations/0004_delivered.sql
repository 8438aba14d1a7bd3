-- hilo schema, version 4: delivery receipts. A member's `delivered_seq` is the newest
-- message some device of theirs received (reading implies it).

ALTER TABLE members ADD COLUMN delivered_seq INTEGER NOT NULL DEFAULT 0;
