-- hilo schema, version 13: search that stays fast over a million messages (hilo-bench's
-- search scenario, docs/benchmarks.md). On SQLite this version adds FTS5 prefix indexes
-- and narrow search entries; PostgreSQL's GIN index already answers a prefix from its
-- sorted keys, so nothing changes here yet.
SELECT 1;
