-- stepcast schema version 5: experiment tallies.
CREATE TABLE stepcast_tallies (
    account     text             NOT NULL,
    experiment  text             NOT NULL,
    variant     text             NOT NULL,
    recipients  bigint           NOT NULL DEFAULT 0,
    clickers    bigint           NOT NULL DEFAULT 0,
    converters  bigint           NOT NULL DEFAULT 0,
    revenue     double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (account, experiment, variant)
);
