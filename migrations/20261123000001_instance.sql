-- The installation this database belongs to: exactly one row, written when the schema is
-- created, so a restart against the same data shows the same instance id.
CREATE TABLE instance (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO instance DEFAULT VALUES;
