-- stepcast schema version 9: the pending deliveries by due time alone.
--
-- LeaseDeliveries walks the queue index (account, priority DESC, next_at,
-- id) in its order, which cannot stop at the first delivery not yet due:
-- with nothing due it read every pending delivery waiting for later (a
-- retry's backoff, quiet hours' deferrals) — on every poll of an idle
-- account. This index answers first, from the deliveries due now alone,
-- whether there is anything to lease.
CREATE INDEX stepcast_outbox_due ON stepcast_outbox (account, next_at) WHERE status = 1;
