-- Times are BIGINT unix microseconds on both engines, so shared code reads
-- and writes them the same way.

CREATE TABLE accounts (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL,
	display_name TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL,
	generation   BIGINT NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_name ON accounts (name);

CREATE TABLE api_keys (
	id          TEXT PRIMARY KEY,
	account_id  TEXT NOT NULL REFERENCES accounts (id),
	description TEXT NOT NULL DEFAULT '',
	hash        TEXT NOT NULL UNIQUE,
	created_at  BIGINT NOT NULL,
	revoked_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_account ON api_keys (account_id, id);

-- One admin token per installation (slot = 1); its hash only.
CREATE TABLE admin_tokens (
	slot       INTEGER PRIMARY KEY CHECK (slot = 1),
	id         TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);

-- Transactional outbox: rows are written with the state they describe and
-- deleted once JetStream acknowledged them. Per-aggregate order holds because
-- writers of one aggregate serialise on its row lock before appending.
CREATE TABLE outbox (
	seq        BIGSERIAL PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	subject    TEXT NOT NULL,
	data       BYTEA NOT NULL,
	created_at BIGINT NOT NULL
);
