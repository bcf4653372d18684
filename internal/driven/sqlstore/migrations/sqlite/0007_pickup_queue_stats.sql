-- Pickup queue listing (console, `liveplane pickup queues`): when the
-- connection's current live session started (0 = none), and the push
-- notifications sent for it (counted in FinishPush's transaction, when a
-- notification is recorded as sent; last_push_at in unix microseconds).
-- Expand-only: older binaries ignore the columns (an older binary's session
-- shows no start time; its pushes are not counted).
ALTER TABLE pickup_connections ADD COLUMN session_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pickup_connections ADD COLUMN pushes_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pickup_connections ADD COLUMN last_push_at INTEGER NOT NULL DEFAULT 0;
