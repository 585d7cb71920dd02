-- stepcast schema version 2: due work (scenario steps, reminders) with
-- leases, so that several engine instances share it without doing any
-- twice.
CREATE TABLE stepcast_timers (
    account     text        NOT NULL,
    friend      bigint      NOT NULL,
    key         text        NOT NULL,
    due         timestamptz NOT NULL,
    state       bytea,
    version     bigint      NOT NULL,
    leased_by   text        NOT NULL DEFAULT '',
    lease_until timestamptz,
    PRIMARY KEY (account, friend, key)
);
CREATE INDEX stepcast_timers_due ON stepcast_timers (account, due);
