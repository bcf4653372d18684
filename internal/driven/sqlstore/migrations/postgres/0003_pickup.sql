-- Message pickup repository (flow E). Times are unix microseconds.

-- One row per queue: counters that make counts and quotas cheap, and the
-- connection's live-session lease (session_id '' = none; epoch grows on every
-- addLiveSession; holder is the gateway socket, instance its process).
CREATE TABLE pickup_connections (
	account_id    TEXT NOT NULL,
	connection_id TEXT NOT NULL,
	queued        BIGINT NOT NULL DEFAULT 0, -- stored messages, pending or in flight
	queued_bytes  BIGINT NOT NULL DEFAULT 0,
	pending       BIGINT NOT NULL DEFAULT 0, -- available to take
	session_id    TEXT NOT NULL DEFAULT '',
	epoch         BIGINT NOT NULL DEFAULT 0,
	holder        TEXT NOT NULL DEFAULT '',
	instance      TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (account_id, connection_id)
);
CREATE INDEX pickup_connections_holder ON pickup_connections (holder) WHERE holder != '';
CREATE INDEX pickup_connections_instance ON pickup_connections (instance) WHERE session_id != '';

-- The queues. seq is the server sequence (FIFO). deadline 0 = pending; else
-- in flight to holder (a socket) at epoch (0 when taken without a session)
-- until deadline. dids is the recipient list as "\n" + did + "\n" + ... so a
-- DID filter is one substring test.
CREATE TABLE pickup_messages (
	seq           BIGSERIAL PRIMARY KEY,
	id            TEXT NOT NULL UNIQUE,
	account_id    TEXT NOT NULL,
	connection_id TEXT NOT NULL,
	dids          TEXT NOT NULL,
	payload       BYTEA NOT NULL,
	size          BIGINT NOT NULL,
	received_at   BIGINT NOT NULL,
	epoch         BIGINT NOT NULL DEFAULT 0,
	holder        TEXT NOT NULL DEFAULT '',
	deadline      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pickup_messages_queue ON pickup_messages (account_id, connection_id, seq);
CREATE INDEX pickup_messages_deadline ON pickup_messages (deadline) WHERE deadline > 0;

-- Gateway processes and how long their leases count as live.
CREATE TABLE pickup_instances (
	id         TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);

-- Push notifications: one row per token, the claim of its current window and
-- the outbox of its notification.
CREATE TABLE pickup_push (
	token_hash    TEXT PRIMARY KEY,
	type          TEXT NOT NULL,
	token         TEXT NOT NULL,
	account_id    TEXT NOT NULL,
	connection_id TEXT NOT NULL,
	message_id    TEXT NOT NULL,
	window_start  BIGINT NOT NULL,
	state         TEXT NOT NULL,
	due_at        BIGINT NOT NULL,
	attempts      BIGINT NOT NULL DEFAULT 0,
	last_error    TEXT NOT NULL DEFAULT '',
	sent_at       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pickup_push_due ON pickup_push (due_at) WHERE state = 'due';
