-- Fleet enrolment and configuration reconciliation (flow C). Times are
-- INTEGER unix microseconds, as everywhere; configuration documents are
-- JSON text: {"KEY": ["value", updated_at]}.

-- The provisioning key that enrolled a device ('' = made with devices create).
-- A key's uses are the devices it enrolled (no counter row to serialize on).
ALTER TABLE devices ADD COLUMN enrolled_with TEXT NOT NULL DEFAULT '';
CREATE INDEX devices_enrolled_with ON devices (enrolled_with) WHERE enrolled_with != '';

CREATE TABLE provisioning_keys (
	id          TEXT PRIMARY KEY,
	account_id  TEXT NOT NULL REFERENCES accounts (id),
	description TEXT NOT NULL,
	hash        TEXT NOT NULL UNIQUE, -- SHA-256 of the secret
	max_uses    INTEGER NOT NULL,     -- 0 = unlimited
	expires_at  INTEGER NOT NULL,     -- 0 = never
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX provisioning_keys_account ON provisioning_keys (account_id, id);

-- One row per device: desired (operator intent, version), reported (merged
-- reports), and the state of the command (device.Twin).
CREATE TABLE device_twins (
	device_id     TEXT PRIMARY KEY,
	account_id    TEXT NOT NULL,
	version       INTEGER NOT NULL,
	desired       TEXT NOT NULL,
	reported      TEXT NOT NULL,
	invalid       TEXT NOT NULL, -- {"KEY": "reason"}
	seen          INTEGER NOT NULL,
	last_boot     INTEGER NOT NULL,
	last_uplink   INTEGER NOT NULL,
	acked_version INTEGER NOT NULL,
	rejected      TEXT NOT NULL, -- {"KEY": "reason"}
	sent_version  INTEGER NOT NULL,
	unacked       INTEGER NOT NULL,
	drift         INTEGER NOT NULL, -- see device.Twin.Drift
	updated_at    INTEGER NOT NULL
) STRICT;

-- Devices made before this migration get their (empty) twin row.
INSERT INTO device_twins (device_id, account_id, version, desired, reported, invalid, seen, last_boot, last_uplink, acked_version, rejected, sent_version, unacked, drift, updated_at)
SELECT id, account_id, 0, '{}', '{}', '{}', 0, 0, 0, 0, '{}', 0, 0, 0, updated_at FROM devices;

CREATE TABLE config_defaults (
	account_id TEXT PRIMARY KEY,
	version    INTEGER NOT NULL,
	vals       TEXT NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

-- The audit history: one row per changed key. device_id '' = the account's
-- defaults. NULL old/new = absent before / deleted.
CREATE TABLE config_history (
	id         TEXT PRIMARY KEY,
	device_id  TEXT NOT NULL,
	account_id TEXT NOT NULL,
	key        TEXT NOT NULL,
	old_value  TEXT,
	new_value  TEXT,
	version    INTEGER NOT NULL,
	actor      TEXT NOT NULL,
	changed_at INTEGER NOT NULL,
	acked_at   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX config_history_device ON config_history (device_id, id);
CREATE INDEX config_history_defaults ON config_history (account_id, id) WHERE device_id = '';
CREATE INDEX config_history_unacked ON config_history (device_id, version) WHERE acked_at = 0;
