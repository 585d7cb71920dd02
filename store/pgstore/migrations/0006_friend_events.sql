-- stepcast schema version 6: each friend's history, latest first.
ALTER TABLE stepcast_events ADD COLUMN friend bigint;
UPDATE stepcast_events SET friend = (record->>'friend')::bigint;
ALTER TABLE stepcast_events ALTER COLUMN friend SET NOT NULL;
CREATE INDEX stepcast_events_by_friend ON stepcast_events (account, friend, seq);
