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



