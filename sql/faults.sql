-- faults stay local (1.4): renewal switches in doubt, on one node
SET client_min_messages = warning;
ALTER EXTENSION ssn UPDATE TO '1.4';
SELECT extversion FROM pg_extension WHERE extname = 'ssn';
SELECT has_function_privilege('public', 'ssn.resolve_prepared(text, boolean)', 'EXECUTE') AS public_may_resolve,
	   has_function_privilege('ssn_peer', 'ssn.renewal_switch_status(text, text, uuid[])', 'EXECUTE') AS peers_may_ask,
	   has_function_privilege('public', 'ssn.renewal_switch_status(text, text, uuid[])', 'EXECUTE') AS public_may_ask,
	   has_table_privilege('public', 'ssn.renewal_switch', 'SELECT') AS public_reads_switches,
	   has_table_privilege('public', 'ssn.prepared_decision', 'SELECT') AS public_reads_decisions;
-- what peers call waits for a lock 10 s at most
SELECT p.proname, p.proconfig FROM pg_proc p
WHERE p.pronamespace = 'ssn'::regnamespace AND p.proname IN ('channel_announce', 'channel_fetch', 'channel_receive', 'channel_serve',
	'channel_take', 'renewal_switch_status') ORDER BY 1;

-- a switch neither prepared nor committed here: recorded aborted (a veto that
-- makes a late PREPARE of it fail), answered 'aborted' to whom says we hold its
-- secrets (NULL: the coordinator), 'unknown' if we hold none of those named
SELECT ssn.renewal_switch_status('ssn_renew_00_1_1', 'nodeX', NULL);
SELECT ssn.renewal_switch_status('ssn_renew_00_1_1', 'nodeX', NULL);
SELECT ssn.renewal_switch_status('ssn_renew_00_1_2', 'nodeX', ARRAY['00000000-0000-0000-0000-000000000001'::uuid]);
SELECT ssn.renewal_switch_status(NULL, 'nodeX', NULL) IS NULL AS null_gid;
SELECT gid, coordinator, outcome FROM ssn.renewal_switch ORDER BY gid;
-- the settings (the library is loaded now)
SELECT current_setting('ssn.lock_timeout') AS lock_timeout, current_setting('ssn.prepared_timeout') AS prepared_timeout,
	   current_setting('ssn.test_pause_after_prepare') = '' AS no_test_pause;

-- the operator: only a switch prepared here
SELECT count(*) FROM ssn.prepared_switches;
SELECT ssn.resolve_prepared('ssn_renew_nosuch', true);
SELECT ssn.resolve_prepared('ssn_renew_nosuch', NULL) IS NULL AS strict;
