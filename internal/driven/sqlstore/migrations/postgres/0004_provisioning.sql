-- Read model of accounts across clusters (internal/driven/sqlstore/projections_schema.go
-- holds the same text with a table prefix, for rebuilds).
CREATE TABLE rm_accounts (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	state      TEXT NOT NULL,
	generation BIGINT NOT NULL,
	finalized  BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE rm_clusters (
	name           TEXT PRIMARY KEY,
	daemon_version TEXT NOT NULL,
	registered_at  BIGINT NOT NULL,
	last_heartbeat BIGINT NOT NULL
);
CREATE TABLE rm_account_status (
	account_id          TEXT NOT NULL,
	cluster             TEXT NOT NULL,
	namespace           TEXT NOT NULL,
	observed_generation BIGINT NOT NULL,
	conditions          TEXT NOT NULL,
	deleted             BIGINT NOT NULL,
	report_time         BIGINT NOT NULL,
	PRIMARY KEY (account_id, cluster)
);
CREATE TABLE rm_checkpoint (
	name TEXT PRIMARY KEY,
	seq  BIGINT NOT NULL
);
