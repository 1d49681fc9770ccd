-- A read-only PostgreSQL role for Postfix's pgsql: lookups (deploy/postfix/).
-- Run once as the database owner, e.g.:
--   psql -d mailstead -v pw="'secret'" -f grants.sql
-- It may read what the three lookup tables need and nothing else: no mail,
-- and no password hashes (column privileges on accounts).
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postfix') THEN
		CREATE ROLE postfix LOGIN;
	END IF;
END $$;
GRANT SELECT (domain_id, name, status, catchall) ON domains TO postfix;
GRANT SELECT (address, account_id, alias_id) ON addresses TO postfix;
GRANT SELECT (account_id, domain_id, status) ON accounts TO postfix;
GRANT SELECT (alias_id, destinations) ON aliases TO postfix;
\if :{?pw}
ALTER ROLE postfix PASSWORD :pw;
\endif
