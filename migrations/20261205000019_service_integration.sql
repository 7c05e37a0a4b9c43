-- Services cache verification answers themselves (`GET /v1/verify/invalidations`) and
-- know a key by its id, never by its digest: a key's announcement now names its keyspace
-- and id after the digest (`key:<digest hex>:<keyspace id>:<key id>`). Instances read the
-- older form too, so announcements of either form are understood during an upgrade.
CREATE OR REPLACE FUNCTION locksmith_announce_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('locksmith_invalidate',
        'key:' || encode(NEW.digest, 'hex') || ':' || NEW.keyspace_id || ':' || NEW.id);
    RETURN NULL;
END;
$$;

-- Which request header a proxy in front of the keyspace's service finds the key in
-- (`GET /v1/authz`): a lower-case header name; `authorization` means
-- `Authorization: Bearer <key>`.
ALTER TABLE keyspaces
    ADD COLUMN key_header text NOT NULL DEFAULT 'x-api-key'
        CHECK (key_header ~ '^[a-z0-9!#$%&''*+.^_`|~-]{1,64}$');

-- Verifiers are cached with their keyspace's settings: a change of the settings
-- announces every verifier of the keyspace.
CREATE FUNCTION locksmith_announce_keyspace_verifiers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('locksmith_invalidate', 'verifier:' || encode(v.digest, 'hex'))
        FROM verifiers v WHERE v.keyspace_id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER keyspaces_announce_change AFTER UPDATE OF key_header ON keyspaces
    FOR EACH ROW WHEN (OLD.key_header IS DISTINCT FROM NEW.key_header)
    EXECUTE FUNCTION locksmith_announce_keyspace_verifiers();
