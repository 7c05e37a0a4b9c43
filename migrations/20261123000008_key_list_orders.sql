-- The keys list's orders besides newest first (keys_created_idx): each is read in index
-- order with the id as tie-breaker, so a page costs the same at any depth and any size.
-- The expressions are those of queries/keys_list.sql: keys never used sort as -infinity,
-- keys that never expire as infinity.
CREATE INDEX keys_name_order_idx ON keys (name, id);
CREATE INDEX keys_expires_order_idx ON keys ((COALESCE(expires_at, 'infinity'::timestamptz)), id);
-- last_used_at moves at most once a second per used key (the usage flusher). Indexing it
-- makes those updates non-HOT; without it, ordering by last use scans and sorts the whole
-- table on every page (112 ms at 200 000 keys on a 2-core machine, growing with the table).
CREATE INDEX keys_last_used_order_idx ON keys ((COALESCE(last_used_at, '-infinity'::timestamptz)), id);
