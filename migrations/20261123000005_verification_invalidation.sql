-- Verification caches keys and verifiers in every instance. Whatever changes one (a
-- management change bumps `generation`; a new key may sit in a negative cache; a verifier
-- is created or revoked) announces it on the `locksmith_invalidate` channel. NOTIFY is
-- transactional: the message goes out when the change commits, and not at all if it
-- rolls back. Spending quota and recording use do not bump `generation`, so the hot
-- path's own writes announce nothing.

CREATE FUNCTION locksmith_announce_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('locksmith_invalidate', 'key:' || encode(NEW.digest, 'hex'));
    RETURN NULL;
END;
$$;

CREATE TRIGGER keys_announce_insert AFTER INSERT ON keys
    FOR EACH ROW EXECUTE FUNCTION locksmith_announce_key();
CREATE TRIGGER keys_announce_change AFTER UPDATE OF generation ON keys
    FOR EACH ROW EXECUTE FUNCTION locksmith_announce_key();

CREATE FUNCTION locksmith_announce_verifier() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('locksmith_invalidate', 'verifier:' || encode(NEW.digest, 'hex'));
    RETURN NULL;
END;
$$;

CREATE TRIGGER verifiers_announce AFTER INSERT OR UPDATE ON verifiers
    FOR EACH ROW EXECUTE FUNCTION locksmith_announce_verifier();
