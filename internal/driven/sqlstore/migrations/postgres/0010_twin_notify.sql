-- Every change to a device twin or to an account's configuration defaults
-- is announced on the channel liveplane_twins, whoever makes it: the
-- payload is the device id or the account id, '*' after a TRUNCATE. Each
-- serve replica's twin cache listens and drops what changed (twinlisten.go).
-- A transaction's notifications are delivered when it commits, once per
-- distinct payload.
CREATE FUNCTION liveplane_twins_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	-- TG_ARGV[0]: the key column of the table.
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify('liveplane_twins', '*');
		RETURN NULL;
	END IF;
	IF TG_OP <> 'INSERT' THEN
		PERFORM pg_notify('liveplane_twins', to_jsonb(OLD) ->> TG_ARGV[0]);
	END IF;
	IF TG_OP <> 'DELETE' THEN
		PERFORM pg_notify('liveplane_twins', to_jsonb(NEW) ->> TG_ARGV[0]);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER device_twins_notify AFTER INSERT OR UPDATE OR DELETE ON device_twins
	FOR EACH ROW EXECUTE FUNCTION liveplane_twins_notify('device_id');
CREATE TRIGGER device_twins_truncated AFTER TRUNCATE ON device_twins
	FOR EACH STATEMENT EXECUTE FUNCTION liveplane_twins_notify();
CREATE TRIGGER config_defaults_notify AFTER INSERT OR UPDATE OR DELETE ON config_defaults
	FOR EACH ROW EXECUTE FUNCTION liveplane_twins_notify('account_id');
CREATE TRIGGER config_defaults_truncated AFTER TRUNCATE ON config_defaults
	FOR EACH STATEMENT EXECUTE FUNCTION liveplane_twins_notify();
