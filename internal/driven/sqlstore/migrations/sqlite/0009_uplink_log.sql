-- liveplane:contract
-- Uplinks are stored in arrival order; the per-device indexes follow in bulk.
--
-- Before this, activity was clustered by (device, boot, uplink), with a second
-- b-tree by (device, receive time), and sensor_data by (device, receive time):
-- every uplink changed a leaf in each of the three at a place of its own
-- (1,000 devices, 1,000 places). At 5,000 uplinks/s that was 15,000 of the
-- WAL's 4 KiB frames a second, and thousands of distinct pages for every
-- checkpoint to copy back into the database file on serve's one core: the
-- CoAP answers' tail (p99 60-180 ms) was those copies. Now an uplink appends
-- its activity row (keyed by seq, its arrival order) and its sensor rows
-- (keyed by that seq) at the end of two b-trees, where a batch's rows share
-- pages. The writer indexes them afterwards (uplinkindex.go): every few
-- seconds it adds the rows that arrived since, sorted by device, to
-- activity_keys (the idempotency key) and activity_times (the time-range
-- reads), so each device's entries of those seconds land on one or two
-- leaves. activity_indexed says up to which seq they are complete; the reads
-- add the rows above it by scanning them (uplinktelemetry.go), and the writer
-- keeps their keys in memory for the idempotency check.

ALTER TABLE activity RENAME TO activity_by_device;
ALTER TABLE sensor_data RENAME TO sensor_data_by_device;
DROP INDEX activity_time;

CREATE TABLE activity (
	seq           INTEGER PRIMARY KEY, -- arrival order, never reused
	device_id     TEXT NOT NULL,
	boot_count    INTEGER NOT NULL,
	uplink_count  INTEGER NOT NULL,
	received_at   INTEGER NOT NULL,
	reboot_reason TEXT NOT NULL,
	sleep_s       INTEGER NOT NULL,
	modem_s       INTEGER NOT NULL,
	gnss_s        INTEGER NOT NULL,
	wifi_s        INTEGER NOT NULL,
	other_s       INTEGER NOT NULL,
	device_time   INTEGER NOT NULL
) STRICT;

INSERT INTO activity (device_id, boot_count, uplink_count, received_at, reboot_reason,
	sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time)
SELECT device_id, boot_count, uplink_count, received_at, reboot_reason,
	sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time
FROM activity_by_device ORDER BY received_at, device_id, boot_count, uplink_count;

-- The idempotency key of every uplink with seq <= activity_indexed.through.
CREATE TABLE activity_keys (
	device_id    TEXT NOT NULL,
	boot_count   INTEGER NOT NULL,
	uplink_count INTEGER NOT NULL,
	seq          INTEGER NOT NULL,
	PRIMARY KEY (device_id, boot_count, uplink_count)
) WITHOUT ROWID, STRICT;

-- A device's uplinks by receive time, for the same rows.
CREATE TABLE activity_times (
	device_id    TEXT NOT NULL,
	received_at  INTEGER NOT NULL,
	boot_count   INTEGER NOT NULL,
	uplink_count INTEGER NOT NULL,
	seq          INTEGER NOT NULL,
	PRIMARY KEY (device_id, received_at, boot_count, uplink_count, seq)
) WITHOUT ROWID, STRICT;

INSERT INTO activity_keys SELECT device_id, boot_count, uplink_count, seq FROM activity;
INSERT INTO activity_times SELECT device_id, received_at, boot_count, uplink_count, seq FROM activity;

-- One row per temperature reading (kind 't', value = centi-degrees C) and
-- per wifi scan (kind 'w', value = RSSI dBm, bssid set) of the uplink seq.
CREATE TABLE sensor_data (
	seq   INTEGER NOT NULL,
	idx   INTEGER NOT NULL,
	kind  TEXT NOT NULL,
	value INTEGER NOT NULL,
	bssid BLOB,
	PRIMARY KEY (seq, idx)
) WITHOUT ROWID, STRICT;

INSERT INTO sensor_data
SELECT k.seq, s.idx, s.kind, s.value, s.bssid
FROM sensor_data_by_device s
JOIN activity_keys k USING (device_id, boot_count, uplink_count);

CREATE TABLE activity_indexed (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	through INTEGER NOT NULL -- every uplink with seq <= through is in activity_keys and activity_times
) STRICT;
INSERT INTO activity_indexed VALUES (1, COALESCE((SELECT max(seq) FROM activity), 0));

DROP TABLE activity_by_device;
DROP TABLE sensor_data_by_device;
