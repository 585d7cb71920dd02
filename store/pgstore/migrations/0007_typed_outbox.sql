-- stepcast schema version 7: due work leased by kind, and the typed outbox.
--
-- A timer's kind is its key up to the first '/' ("reminder/booking-1" is
-- of kind "reminder"); Lease with kinds walks (account, kind, due), so due
-- timers of other kinds ahead cost nothing. Friend 0 holds the account's
-- own timers (no change needed: friend was never a foreign key).
ALTER TABLE stepcast_timers ADD COLUMN kind text GENERATED ALWAYS AS (split_part(key, '/', 1)) STORED;
CREATE INDEX stepcast_timers_kind_due ON stepcast_timers (account, kind, due);

-- Deliveries: a retry key only for the kinds that take one; the cause key,
-- the recipients' friend IDs, a priority, the first attempt and the reason
-- of a cancellation (status 4). Existing rows get the defaults.
ALTER TABLE stepcast_outbox
    ALTER COLUMN retry_key DROP NOT NULL,
    ADD COLUMN cause            text        NOT NULL DEFAULT '',
    ADD COLUMN friends          bigint[]    NOT NULL DEFAULT '{}',
    ADD COLUMN priority         integer     NOT NULL DEFAULT 0,
    ADD COLUMN first_attempt_at timestamptz,
    ADD COLUMN reason           text        NOT NULL DEFAULT '';

-- LeaseDeliveries: pending ones, higher priority first, then the oldest
-- next attempt, then the lowest ID.
DROP INDEX stepcast_outbox_pending;
CREATE INDEX stepcast_outbox_queue ON stepcast_outbox (account, priority DESC, next_at, id) WHERE status = 1;
-- Deliveries by status, by cause (and status): listing, cancelling by
-- cause, DeliveryProgress.
CREATE INDEX stepcast_outbox_by_status ON stepcast_outbox (account, status, id);
CREATE INDEX stepcast_outbox_by_cause ON stepcast_outbox (account, cause, status, id);
-- Cancelling pending ones by key prefix: a byte-order range on the key.
CREATE INDEX stepcast_outbox_pending_keys ON stepcast_outbox (account, key COLLATE "C") WHERE status = 1;

-- Each recipient of each delivery, for listing a friend's deliveries.
CREATE TABLE stepcast_outbox_friends (
    account text   NOT NULL,
    friend  bigint NOT NULL,
    id      bigint NOT NULL,
    PRIMARY KEY (account, friend, id)
);
