-- stepcast schema version 4: definitions (scenarios, rules, experiments,
-- saved segments), versioned documents.
CREATE TABLE stepcast_definitions (
    account    text        NOT NULL,
    kind       text        NOT NULL,
    name       text        NOT NULL,
    body       bytea,
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account, kind, name)
);
