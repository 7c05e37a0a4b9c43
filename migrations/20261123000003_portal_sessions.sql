-- Portal sessions (tower-sessions' PostgreSQL store reads and writes this table; created
-- here so that the whole schema lives in migrations).
CREATE SCHEMA IF NOT EXISTS tower_sessions;
CREATE TABLE tower_sessions.session (
    id          text        PRIMARY KEY NOT NULL,
    data        bytea       NOT NULL,
    expiry_date timestamptz NOT NULL
);
CREATE INDEX session_expiry_date_idx ON tower_sessions.session (expiry_date);
