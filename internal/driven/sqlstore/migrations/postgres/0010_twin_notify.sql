-- Every change to a device twin or to an account's configuration defaults
-- is announced on the channel liveplane_twins, whoever makes it: the
-- payload is the device id or the account id, '*' after a TRUNCATE. Each
-- serve replica's twin cache listens and drops what changed (twinlisten.go).
-- A transaction's notifications are delivered when it commits, once per
-- distinct payload.
CREATE FUNCTION liveplane_twins_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify('liveplane_twins', '*');
	ELSIF TG_TABLE_NAME = 'device_twins' THEN
		IF TG_OP <> 'INSERT' THEN
			PERFORM pg_notify('liveplane_twins', OLD.device_id);
		END IF;
		IF TG_OP <> 'DELETE' THEN
			PERFORM pg_notify('liveplane_twins', NEW.device_id);
		END IF;
	ELSE
		IF TG_OP <> 'INSERT' THEN
			PERFORM pg_notify('liveplane_twins', OLD.account_id);
		END IF;
		IF TG_OP <> 'DELETE' THEN
			PERFORM pg_notify('liveplane_twins', NEW.account_id);
		END IF;
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER device_twins_notify AFTER INSERT OR UPDATE OR DELETE ON device_twins
	FOR EACH ROW EXECUTE FUNCTION liveplane_twins_notify();
CREATE TRIGGER device_twins_truncated AFTER TRUNCATE ON device_twins
	FOR EACH STATEMENT EXECUTE FUNCTION liveplane_twins_notify();
CREATE TRIGGER config_defaults_notify AFTER INSERT OR UPDATE OR DELETE ON config_defaults
	FOR EACH ROW EXECUTE FUNCTION liveplane_twins_notify();
CREATE TRIGGER config_defaults_truncated AFTER TRUNCATE ON config_defaults
	FOR EACH STATEMENT EXECUTE FUNCTION liveplane_twins_notify();
