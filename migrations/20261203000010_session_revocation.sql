-- Ending sessions before their time (see core/src/identity/revocation.rs).

-- Disabling a user ends every session they have: access tokens and portal sessions
-- issued up to this instant are refused, also after the user is enabled again.
ALTER TABLE users ADD COLUMN sessions_valid_after timestamptz;

-- A refresh family (the tokens rotated from one sign-in) has an absolute end, carried
-- from token to token; existing families end no later than their current token does.
ALTER TABLE refresh_tokens ADD COLUMN family_expires_at timestamptz;
UPDATE refresh_tokens SET family_expires_at = expires_at;
ALTER TABLE refresh_tokens ALTER COLUMN family_expires_at SET NOT NULL;

-- A portal session names its user, so ending a user's sessions is one statement.
-- Sessions from before this migration name nobody; they are checked against
-- `sessions_valid_after` when read, like every other.
ALTER TABLE tower_sessions.session
    ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX session_user_id_idx ON tower_sessions.session (user_id)
    WHERE user_id IS NOT NULL;
