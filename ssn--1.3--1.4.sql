-- ssn 1.3 -> 1.4: holding the threat model (Y.3808 §8.1): peers known by their
-- login, shares kept per origin, shares sealed before they are written, faults
-- that stay with the node that caused them
\echo Use "ALTER EXTENSION ssn UPDATE TO '1.4'" to load this file. \quit

---------------------------------------------------------------------------
-- peer identity: every peer logs in as a role of its own, bound to its
-- shareholder entry; held shares are kept per origin
---------------------------------------------------------------------------



---------------------------------------------------------------------------
-- sealed outbox: shares for peers are sealed before they are written
---------------------------------------------------------------------------



---------------------------------------------------------------------------
-- faults stay local: prepared renewal switches, bad replies
---------------------------------------------------------------------------



---------------------------------------------------------------------------
-- re-sharing: former holders, renewal afterwards
---------------------------------------------------------------------------

-- Who held which share index, in which state, and until when: written by a
-- trigger whenever a catalog entry comes, goes or changes its name, SAE ID,
-- share index or state (ssn.reshare, ssn.remove_shareholder, by hand).
-- ssn.reshare refuses a replacement that ever held an index of the secrets it
-- re-shares: it could keep an old share beside the rebuilt one.
CREATE TABLE ssn.shareholder_history (
	name text NOT NULL,
	sae_id text NOT NULL,
	share_index int,
	state text NOT NULL,
	held_from timestamptz NOT NULL DEFAULT clock_timestamp(),
	held_until timestamptz			-- NULL: still so
);
CREATE INDEX shareholder_history_name ON ssn.shareholder_history (name);
CREATE INDEX shareholder_history_sae_id ON ssn.shareholder_history (sae_id);
REVOKE ALL ON ssn.shareholder_history FROM PUBLIC;
COMMENT ON TABLE ssn.shareholder_history IS
	'Every shareholder catalog entry as it was: which node held which share index, in which state, from when until when';
SELECT pg_catalog.pg_extension_config_dump('ssn.shareholder_history', '');

CREATE FUNCTION ssn.shareholder_history_record() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		UPDATE ssn.shareholder_history h SET held_until = clock_timestamp()
		WHERE h.name = OLD.name AND h.held_until IS NULL;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		INSERT INTO ssn.shareholder_history (name, sae_id, share_index, state)
		VALUES (NEW.name, NEW.sae_id, NEW.share_index, NEW.state);
	END IF;
	RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION ssn.shareholder_history_record() FROM PUBLIC;
CREATE TRIGGER shareholder_history_insert_delete AFTER INSERT OR DELETE ON ssn.shareholder
	FOR EACH ROW EXECUTE FUNCTION ssn.shareholder_history_record();
CREATE TRIGGER shareholder_history_update AFTER UPDATE ON ssn.shareholder
	FOR EACH ROW WHEN ((OLD.name, OLD.sae_id, OLD.share_index, OLD.state)
					   IS DISTINCT FROM (NEW.name, NEW.sae_id, NEW.share_index, NEW.state))
	EXECUTE FUNCTION ssn.shareholder_history_record();
-- the catalog as it is now (from before 1.4 nothing else is known)
INSERT INTO ssn.shareholder_history (name, sae_id, share_index, state, held_from)
	SELECT s.name, s.sae_id, s.share_index, s.state, coalesce(s.added_at, now()) FROM ssn.shareholder s;

-- asked by an SSA before it re-shares onto this node at share index x: how many
-- shares of its secrets this node holds at other indexes
CREATE FUNCTION ssn.channel_reshare_check(origin text, x int) RETURNS bigint
	AS 'MODULE_PATHNAME', 'ssn_channel_reshare_check' LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION ssn.channel_reshare_check(text, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ssn.channel_reshare_check(text, int) TO ssn_peer;

COMMENT ON FUNCTION ssn.reshare(text, text, int) IS
	'Rebuild the shares a failed shareholder held of this node''s secrets on a replacement that never held any, give it the failed one''s share index, and queue a renewal of every secret (see the NOTICE for the run)';

