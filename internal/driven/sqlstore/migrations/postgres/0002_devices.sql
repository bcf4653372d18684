-- Devices and what they report (the CoAP uplink flow). Times are BIGINT
-- unix microseconds, as everywhere.

CREATE TABLE devices (
	id             TEXT PRIMARY KEY,
	account_id     TEXT NOT NULL REFERENCES accounts (id),
	name           TEXT NOT NULL,
	key_hash       TEXT NOT NULL,
	key_generation BIGINT NOT NULL,
	disabled       BOOLEAN NOT NULL DEFAULT FALSE,
	generation     BIGINT NOT NULL,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX devices_account_name ON devices (account_id, name);
CREATE INDEX devices_account ON devices (account_id, id);

-- Installation secrets (the one PSKs are derived from); first writer wins.
CREATE TABLE installation_secrets (
	name  TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);

-- The latest reported state, one row per device, upserted by each uplink
-- unless a newer one (by receive time) is already there (spool replays).
CREATE TABLE device_config (
	device_id       TEXT PRIMARY KEY,
	config          TEXT NOT NULL, -- JSON object
	ack             TEXT NOT NULL, -- JSON: applied version and per-key results
	firmware        TEXT NOT NULL,
	hardware        TEXT NOT NULL,
	boot_count      BIGINT NOT NULL,
	uplink_count    BIGINT NOT NULL,
	reported_at     BIGINT NOT NULL
);

-- One row per uplink. The primary key is the uplink's idempotency key:
-- retransmissions and replays insert nothing.
CREATE TABLE activity (
	device_id     TEXT NOT NULL,
	boot_count    BIGINT NOT NULL,
	uplink_count  BIGINT NOT NULL,
	received_at   BIGINT NOT NULL,
	reboot_reason TEXT NOT NULL,
	sleep_s       BIGINT NOT NULL,
	modem_s       BIGINT NOT NULL,
	gnss_s        BIGINT NOT NULL,
	wifi_s        BIGINT NOT NULL,
	other_s       BIGINT NOT NULL,
	device_time   BIGINT NOT NULL,
	PRIMARY KEY (device_id, boot_count, uplink_count)
);
CREATE INDEX activity_time ON activity (device_id, received_at);

-- One row per temperature reading (kind 't', value = centi-degrees C) and
-- per wifi scan (kind 'w', value = RSSI dBm, bssid set). Rows are written
-- only for uplinks whose activity row was new (the idempotency key lives
-- there), so the key here serves the time-range reads: one b-tree.
CREATE TABLE sensor_data (
	device_id    TEXT NOT NULL,
	received_at  BIGINT NOT NULL,
	boot_count   BIGINT NOT NULL,
	uplink_count BIGINT NOT NULL,
	idx          BIGINT NOT NULL,
	kind         TEXT NOT NULL,
	value        BIGINT NOT NULL,
	bssid        BYTEA,
	PRIMARY KEY (device_id, received_at, boot_count, uplink_count, idx)
);
