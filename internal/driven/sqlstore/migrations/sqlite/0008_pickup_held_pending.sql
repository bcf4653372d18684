-- The pickup service asks every second which sessions this instance holds
-- have messages pending (PendingLeases: normally none, adds for a live
-- session go in flight at once). Through pickup_connections_instance that
-- read visited every session the instance holds: 1,000 sessions took 13 ms
-- of serve's one core each second, all other work waiting behind it. This
-- index holds only sessions with pending messages. SQLite only: on
-- PostgreSQL the read runs in its own backend, and an index whose condition
-- names pending would make every counter update of an add a non-HOT update.
-- Expand-only.
CREATE INDEX pickup_connections_held_pending ON pickup_connections (instance) WHERE session_id != '' AND pending > 0;
