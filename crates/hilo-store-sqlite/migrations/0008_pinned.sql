-- hilo schema, version 8: conversations a member pinned come first in their lists.
ALTER TABLE members ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
