-- Accounts across clusters: the ResourceQuota and group the daemons apply
-- in every cluster, and finalised (DELETED) accounts, whose names may be
-- taken again: the name is unique among accounts not DELETED.
ALTER TABLE accounts ADD COLUMN quota_cpu TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN quota_memory TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN quota_pods BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN group_name TEXT NOT NULL DEFAULT '';
DROP INDEX accounts_name;
CREATE UNIQUE INDEX accounts_name ON accounts (name) WHERE state <> 'DELETED';
CREATE INDEX accounts_state ON accounts (state, id);
