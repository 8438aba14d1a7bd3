-- hilo schema, version 16: on PostgreSQL, search walks a B-tree of postings newest first
-- (see that backend's 0016). SQLite's FTS5 already walks its own lists that way
-- (version 13): nothing changes here.
SELECT 1;
