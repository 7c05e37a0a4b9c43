-- Sign-in lockout counters, one row per thing counted: an account from one address
-- (`account_address:<email digest>|<ip>`), an account from anywhere
-- (`account:<email digest>`) and an address (`address:<ip>`), each with its own threshold.
-- Keyed on a SHA-256 of the normalised email, so an unknown email locks exactly like a
-- real one, a lockout tells nothing, and the table keeps no addresses.
-- Replaces the per-address table and the per-user columns: every attempt is counted
-- here before its password is checked (see core/src/identity/lockout.rs).
DROP TABLE login_throttle;
ALTER TABLE users DROP COLUMN failed_logins, DROP COLUMN locked_until;

CREATE TABLE login_counters (
    key          text        PRIMARY KEY CHECK (length(key) <= 400),
    failures     integer     NOT NULL CHECK (failures >= 0),
    window_start timestamptz NOT NULL,
    locked_until timestamptz
);
-- The hourly purge deletes counters whose window and lock are both over.
CREATE INDEX login_counters_window_start_idx ON login_counters (window_start);
