-- A verifier's `last_used_at` is now written by the usage flusher, about once a second
-- for every busy verifier. That is the hot path's own write and must announce nothing
-- (like spending quota): the trigger fired on every UPDATE, so each flush dropped the
-- verifier from every instance's cache, costing a database read on the next request
-- and a 503 for it while the database was away. Only changes to what the cache holds
-- announce now.
DROP TRIGGER verifiers_announce ON verifiers;
CREATE TRIGGER verifiers_announce_insert AFTER INSERT ON verifiers
    FOR EACH ROW EXECUTE FUNCTION locksmith_announce_verifier();
CREATE TRIGGER verifiers_announce_change
    AFTER UPDATE OF keyspace_id, name, start, digest, revoked_at ON verifiers
    FOR EACH ROW EXECUTE FUNCTION locksmith_announce_verifier();
