-- stepcast schema version 1: friends, the change log and the event log,
-- per account. Records are JSON in the shape of store.MarshalChange /
-- MarshalEvent / store.Friend; the columns beside them are for lookups.
CREATE TABLE stepcast_accounts (
    account     text PRIMARY KEY,
    last_friend bigint NOT NULL DEFAULT 0,
    last_change bigint NOT NULL DEFAULT 0,
    last_event  bigint NOT NULL DEFAULT 0
);

CREATE TABLE stepcast_friends (
    account text   NOT NULL,
    id      bigint NOT NULL,
    user_id text   NOT NULL,
    record  jsonb  NOT NULL,
    PRIMARY KEY (account, id),
    UNIQUE (account, user_id)
);

CREATE TABLE stepcast_changes (
    account text   NOT NULL,
    seq     bigint NOT NULL,
    record  jsonb  NOT NULL,
    PRIMARY KEY (account, seq)
);

CREATE TABLE stepcast_events (
    account  text   NOT NULL,
    seq      bigint NOT NULL,
    event_id text   NOT NULL,
    record   jsonb  NOT NULL,
    PRIMARY KEY (account, seq),
    UNIQUE (account, event_id)
);
