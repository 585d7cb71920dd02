-- stepcast schema version 3: the outbox, deliveries to LINE written with
-- the state change that decided them.
ALTER TABLE stepcast_accounts ADD COLUMN last_delivery bigint NOT NULL DEFAULT 0;

CREATE TABLE stepcast_outbox (
    account     text        NOT NULL,
    id          bigint      NOT NULL,
    key         text        NOT NULL,
    retry_key   uuid        NOT NULL,
    kind        text        NOT NULL,
    payload     bytea,
    status      smallint    NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL,
    error       text        NOT NULL DEFAULT '',
    request_id  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    done_at     timestamptz,
    leased_by   text        NOT NULL DEFAULT '',
    lease_until timestamptz,
    PRIMARY KEY (account, id),
    UNIQUE (account, key)
);
CREATE INDEX stepcast_outbox_pending ON stepcast_outbox (account, next_at) WHERE status = 1;
