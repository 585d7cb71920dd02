-- stepcast schema version 8: the timers of a kind in the order of due work.
--
-- DueTimers pages through the timers of one kind by (due, friend, key), the
-- order Lease hands them out in: with the index on (account, kind, due)
-- alone, a page among many timers due at the same instant (a reminder's
-- goals, all at 10:00 the day before) read every one of them, and sorted
-- them, again for each page. The wider index serves Lease by kind as the
-- narrow one did, and hands its timers out already in order.
CREATE INDEX stepcast_timers_kind_due_key ON stepcast_timers (account, kind, due, friend, key COLLATE "C");
DROP INDEX stepcast_timers_kind_due;
