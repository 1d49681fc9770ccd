-- Mailstead schema, migration 0002: the admin daemon's functions.
--
-- Every mutation of tenants is one call of one function here, so it happens
-- whole or not at all (one round trip, one transaction: STYLE.md "SQL").
-- Reads are functions too, so that the admin daemon's prepared statements
-- stay one line each and every result is one jsonb value it can pass on.
--
-- Names arrive already validated and lowercased by mailstead-admind
-- (server/lib/address.c); the functions still rely on the tables' CHECK
-- constraints as the last line of defence.
--
-- Errors use SQLSTATEs of class MS, mapped by db_error_reason():
--   MSNF0 not_found, MSCF0 conflict, MSIV0 invalid, MSLM0 limit, MSFB0 forbidden
-- (23505 unique_violation, from a race between two creations, is conflict).
--
-- Sessions are told about changes that affect them (account suspended,
-- deleted, password changed; domain suspended or deleted) on the NOTIFY
-- channel mailstead_account, payload JSON {"event", "account_id"} or
-- {"event", "domain_id"}. Admin changes are rare, so notifying inside the
-- transaction costs nothing that matters (unlike delivery: DESIGN.md §4).

-- JSON shapes -----------------------------------------------------------------

CREATE FUNCTION admin_domain_json(d domains) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'name', d.name,
		'status', d.status,
		'quota_bytes', d.quota_bytes,
		'max_accounts', d.max_accounts,
		'catchall', d.catchall,
		'accounts', (SELECT count(*) FROM accounts a WHERE a.domain_id = d.domain_id),
		'aliases', (SELECT count(*) FROM aliases a WHERE a.domain_id = d.domain_id),
		'created_at', d.created_at,
		'updated_at', d.updated_at)
$$;

CREATE FUNCTION admin_account_json(a accounts, dname text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'address', a.localpart || '@' || dname,
		'domain', dname,
		'status', a.status,
		'quota_bytes', a.quota_bytes,
		'quota_messages', a.quota_messages,
		'used_bytes', a.used_bytes,
		'used_messages', a.used_messages,
		'created_at', a.created_at,
		'updated_at', a.updated_at)
$$;

CREATE FUNCTION admin_alias_json(a aliases, dname text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'address', a.localpart || '@' || dname,
		'domain', dname,
		'destinations', to_jsonb(a.destinations),
		'created_at', a.created_at)
$$;

-- Helpers -----------------------------------------------------------------------

-- The domain row named p_name, locked when p_lock; raises not_found.
CREATE FUNCTION admin_domain_find(p_name text, p_lock boolean) RETURNS domains
LANGUAGE plpgsql AS $$
DECLARE
	d domains;
BEGIN
	IF p_lock THEN
		SELECT * INTO d FROM domains WHERE name = p_name FOR UPDATE;
	ELSE
		SELECT * INTO d FROM domains WHERE name = p_name;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'domain % does not exist', p_name USING ERRCODE = 'MSNF0';
	END IF;
	RETURN d;
END $$;

-- The account whose address is p_address, locked; raises not_found.
CREATE FUNCTION admin_account_find(p_address text) RETURNS accounts
LANGUAGE plpgsql AS $$
DECLARE
	a accounts;
BEGIN
	SELECT acc.* INTO a FROM addresses ad JOIN accounts acc USING (account_id)
	WHERE ad.address = p_address FOR UPDATE OF acc;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account % does not exist', p_address USING ERRCODE = 'MSNF0';
	END IF;
	RETURN a;
END $$;

-- Removes every trace of the addresses in p_gone from the rest of the
-- tenants, before those addresses go away: they are taken out of alias
-- destinations; an alias left with no destination is deleted, and its own
-- address is removed in turn (an alias may point at an alias); catch-alls
-- that pointed at any of them are cleared. Loops until nothing changes, at
-- most once per level of alias nesting.
CREATE FUNCTION admin_forget_addresses(p_gone text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	gone text[] := p_gone;
	emptied text[];
BEGIN
	WHILE cardinality(gone) > 0 LOOP
		UPDATE domains SET catchall = NULL, updated_at = now()
		WHERE catchall = ANY (gone);
		-- Aliases whose every destination goes away go too.
		SELECT coalesce(array_agg(ad.address), '{}') INTO emptied
		FROM aliases al JOIN addresses ad ON ad.alias_id = al.alias_id
		WHERE al.destinations <@ gone AND NOT ad.address = ANY (gone);
		DELETE FROM aliases WHERE destinations <@ gone;
		UPDATE aliases
		SET destinations = ARRAY(SELECT x FROM unnest(destinations) WITH ORDINALITY AS u(x, n)
		                         WHERE NOT x = ANY (gone) ORDER BY n)
		WHERE destinations && gone;
		gone := emptied;
	END LOOP;
END $$;

-- Domains ---------------------------------------------------------------------------

CREATE FUNCTION admin_domain_create(p_name text, p_quota_bytes bigint, p_max_accounts integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	d domains;
BEGIN
	IF EXISTS (SELECT 1 FROM domains WHERE name = p_name) THEN
		RAISE EXCEPTION 'domain % already exists', p_name USING ERRCODE = 'MSCF0';
	END IF;
	INSERT INTO domains (name, quota_bytes, max_accounts)
	VALUES (p_name, coalesce(p_quota_bytes, 0), coalesce(p_max_accounts, 0))
	RETURNING * INTO d;
	RETURN admin_domain_json(d);
END $$;

CREATE FUNCTION admin_domain_get(p_name text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN admin_domain_json(admin_domain_find(p_name, false));
END $$;

CREATE FUNCTION admin_domain_list(p_offset bigint, p_limit integer) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
		'total', (SELECT count(*) FROM domains),
		'offset', p_offset,
		'domains', coalesce((SELECT jsonb_agg(admin_domain_json(d) ORDER BY d.name)
		                     FROM (SELECT * FROM domains ORDER BY name
		                           OFFSET p_offset LIMIT p_limit) d), '[]'))
$$;

CREATE FUNCTION admin_domain_update(p_name text, p_quota_bytes bigint, p_max_accounts integer,
                                    p_status text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	d domains := admin_domain_find(p_name, true);
BEGIN
	UPDATE domains
	SET quota_bytes = coalesce(p_quota_bytes, quota_bytes),
	    max_accounts = coalesce(p_max_accounts, max_accounts),
	    status = coalesce(p_status, status),
	    updated_at = now()
	WHERE domain_id = d.domain_id
	RETURNING * INTO d;
	IF p_status = 'suspended' THEN
		PERFORM pg_notify('mailstead_account', jsonb_build_object(
			'event', 'domain_suspended', 'domain_id', d.domain_id)::text);
	END IF;
	RETURN admin_domain_json(d);
END $$;

-- Refuses a domain that still has accounts unless p_force: deleting one
-- deletes their mail.
CREATE FUNCTION admin_domain_delete(p_name text, p_force boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	d domains := admin_domain_find(p_name, true);
	n bigint;
BEGIN
	SELECT count(*) INTO n FROM accounts WHERE domain_id = d.domain_id;
	IF n > 0 AND NOT coalesce(p_force, false) THEN
		RAISE EXCEPTION 'domain % still has % account(s); use force to delete them too',
			p_name, n USING ERRCODE = 'MSCF0';
	END IF;
	-- Aliases of other domains may point into this one.
	PERFORM admin_forget_addresses(ARRAY(SELECT address FROM addresses
	                                     WHERE domain_id = d.domain_id));
	DELETE FROM domains WHERE domain_id = d.domain_id;
	PERFORM pg_notify('mailstead_account', jsonb_build_object(
		'event', 'domain_deleted', 'domain_id', d.domain_id)::text);
	RETURN jsonb_build_object('name', p_name, 'deleted', true, 'accounts_deleted', n);
END $$;

-- Sets (or with NULL clears) the catch-all of a domain: an existing account
-- or alias of the same domain.
CREATE FUNCTION admin_domain_set_catchall(p_name text, p_destination text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	d domains := admin_domain_find(p_name, true);
	dest_domain bigint;
BEGIN
	IF p_destination IS NOT NULL THEN
		SELECT domain_id INTO dest_domain FROM addresses WHERE address = p_destination;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'address % does not exist', p_destination
				USING ERRCODE = 'MSNF0';
		END IF;
		IF dest_domain <> d.domain_id THEN
			RAISE EXCEPTION 'catch-all % is not an address of domain %',
				p_destination, p_name USING ERRCODE = 'MSIV0';
		END IF;
	END IF;
	UPDATE domains SET catchall = p_destination, updated_at = now()
	WHERE domain_id = d.domain_id
	RETURNING * INTO d;
	RETURN admin_domain_json(d);
END $$;

-- Accounts --------------------------------------------------------------------------

-- Creates the account with its standard mailboxes (RFC 6154 special-use),
-- all subscribed. The domain row is locked so that two concurrent creations
-- cannot both pass the max_accounts check.
CREATE FUNCTION admin_account_create(p_address text, p_password_hash text,
                                     p_quota_bytes bigint, p_quota_messages bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	lp text := split_part(p_address, '@', 1);
	d domains := admin_domain_find(split_part(p_address, '@', 2), true);
	a accounts;
	n bigint;
BEGIN
	IF d.max_accounts > 0 THEN
		SELECT count(*) INTO n FROM accounts WHERE domain_id = d.domain_id;
		IF n >= d.max_accounts THEN
			RAISE EXCEPTION 'domain % already has its maximum of % account(s)',
				d.name, d.max_accounts USING ERRCODE = 'MSLM0';
		END IF;
	END IF;
	IF EXISTS (SELECT 1 FROM addresses WHERE address = p_address) THEN
		RAISE EXCEPTION 'address % already exists', p_address USING ERRCODE = 'MSCF0';
	END IF;
	INSERT INTO accounts (domain_id, localpart, password_hash, quota_bytes, quota_messages)
	VALUES (d.domain_id, lp, p_password_hash, coalesce(p_quota_bytes, 0),
	        coalesce(p_quota_messages, 0))
	RETURNING * INTO a;
	INSERT INTO mailboxes (account_id, name, special_use)
	VALUES (a.account_id, 'INBOX', NULL),
	       (a.account_id, 'Drafts', 'Drafts'),
	       (a.account_id, 'Sent', 'Sent'),
	       (a.account_id, 'Trash', 'Trash'),
	       (a.account_id, 'Junk', 'Junk'),
	       (a.account_id, 'Archive', 'Archive');
	INSERT INTO subscriptions (account_id, name)
	SELECT a.account_id, name FROM mailboxes WHERE account_id = a.account_id;
	RETURN admin_account_json(a, d.name);
END $$;

CREATE FUNCTION admin_account_get(p_address text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	r jsonb;
BEGIN
	SELECT admin_account_json(acc, dom.name) INTO r
	FROM addresses ad JOIN accounts acc USING (account_id)
	JOIN domains dom ON dom.domain_id = acc.domain_id
	WHERE ad.address = p_address;
	IF r IS NULL THEN
		RAISE EXCEPTION 'account % does not exist', p_address USING ERRCODE = 'MSNF0';
	END IF;
	RETURN r;
END $$;

-- Accounts of one domain (or all, p_domain NULL) by address, a page at a time.
CREATE FUNCTION admin_account_list(p_domain text, p_offset bigint, p_limit integer)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	did bigint;
BEGIN
	IF p_domain IS NOT NULL THEN
		did := (admin_domain_find(p_domain, false)).domain_id;
	END IF;
	RETURN jsonb_build_object(
		'total', (SELECT count(*) FROM accounts WHERE did IS NULL OR domain_id = did),
		'offset', p_offset,
		'accounts', coalesce((
			SELECT jsonb_agg(admin_account_json(x.r, x.dname) ORDER BY x.dname, x.localpart)
			FROM (SELECT acc AS r, acc.localpart, dom.name AS dname
			      FROM accounts acc JOIN domains dom USING (domain_id)
			      WHERE did IS NULL OR acc.domain_id = did
			      ORDER BY dom.name, acc.localpart
			      OFFSET p_offset LIMIT p_limit) x), '[]'));
END $$;

-- Changes what is not NULL. A new password hash or a suspension is told to
-- live sessions (they close).
CREATE FUNCTION admin_account_update(p_address text, p_quota_bytes bigint,
                                     p_quota_messages bigint, p_password_hash text,
                                     p_status text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	a accounts := admin_account_find(p_address);
BEGIN
	UPDATE accounts
	SET quota_bytes = coalesce(p_quota_bytes, quota_bytes),
	    quota_messages = coalesce(p_quota_messages, quota_messages),
	    password_hash = coalesce(p_password_hash, password_hash),
	    status = coalesce(p_status, status),
	    updated_at = now()
	WHERE account_id = a.account_id
	RETURNING * INTO a;
	IF p_password_hash IS NOT NULL OR p_status = 'suspended' THEN
		PERFORM pg_notify('mailstead_account', jsonb_build_object(
			'event', CASE WHEN p_status = 'suspended' THEN 'suspended'
			              ELSE 'password_changed' END,
			'account_id', a.account_id)::text);
	END IF;
	RETURN admin_account_json(a, split_part(p_address, '@', 2));
END $$;

-- Deletes the account and its mail; the address leaves alias destinations
-- (aliases left empty go) and catch-alls.
CREATE FUNCTION admin_account_delete(p_address text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	a accounts := admin_account_find(p_address);
BEGIN
	PERFORM admin_forget_addresses(ARRAY[p_address]);
	DELETE FROM accounts WHERE account_id = a.account_id;
	PERFORM pg_notify('mailstead_account', jsonb_build_object(
		'event', 'deleted', 'account_id', a.account_id)::text);
	RETURN jsonb_build_object('address', p_address, 'deleted', true);
END $$;

-- Aliases ----------------------------------------------------------------------------

-- Creates an alias whose destinations are existing local addresses
-- (accounts or aliases of any hosted domain). Refuses a destination that
-- expands back to the alias (a loop) and nesting deeper than 10 levels,
-- which delivery would have to follow.
CREATE FUNCTION admin_alias_create(p_address text, p_destinations jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	d domains := admin_domain_find(split_part(p_address, '@', 2), true);
	-- Duplicates dropped, first occurrence kept in place.
	dests text[] := ARRAY(SELECT x FROM jsonb_array_elements_text(p_destinations)
	                            WITH ORDINALITY AS u(x, n) GROUP BY x ORDER BY min(n));
	missing text;
	depth integer;
	looped boolean;
	created aliases;
BEGIN
	IF EXISTS (SELECT 1 FROM addresses WHERE address = p_address) THEN
		RAISE EXCEPTION 'address % already exists', p_address USING ERRCODE = 'MSCF0';
	END IF;
	IF p_address = ANY (dests) THEN
		RAISE EXCEPTION 'alias loop: % cannot be its own destination', p_address
			USING ERRCODE = 'MSIV0';
	END IF;
	SELECT x INTO missing FROM unnest(dests) x
	WHERE NOT EXISTS (SELECT 1 FROM addresses WHERE address = x) LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'destination % does not exist', missing USING ERRCODE = 'MSNF0';
	END IF;
	-- Expand the destinations through existing aliases, one level per
	-- step. The recursion stops at depth 11 whatever the data, so even a
	-- loop already present (which these functions never create) cannot
	-- make it run forever.
	WITH RECURSIVE expand(address, depth) AS (
		SELECT x, 1 FROM unnest(dests) x
		UNION
		SELECT dst, e.depth + 1
		FROM expand e
		JOIN addresses ad ON ad.address = e.address AND ad.alias_id IS NOT NULL
		JOIN aliases al ON al.alias_id = ad.alias_id
		CROSS JOIN LATERAL unnest(al.destinations) dst
		WHERE e.depth <= 10
	)
	SELECT max(e.depth), coalesce(bool_or(e.address = p_address), false)
	INTO depth, looped FROM expand e;
	IF looped THEN
		RAISE EXCEPTION 'alias loop: a destination expands back to %', p_address
			USING ERRCODE = 'MSIV0';
	END IF;
	IF depth > 10 THEN
		RAISE EXCEPTION 'alias nesting deeper than 10 levels' USING ERRCODE = 'MSLM0';
	END IF;
	INSERT INTO aliases (domain_id, localpart, destinations)
	VALUES (d.domain_id, split_part(p_address, '@', 1), dests)
	RETURNING * INTO created;
	RETURN admin_alias_json(created, d.name);
END $$;

CREATE FUNCTION admin_alias_list(p_domain text, p_offset bigint, p_limit integer)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	did bigint;
BEGIN
	IF p_domain IS NOT NULL THEN
		did := (admin_domain_find(p_domain, false)).domain_id;
	END IF;
	RETURN jsonb_build_object(
		'total', (SELECT count(*) FROM aliases WHERE did IS NULL OR domain_id = did),
		'offset', p_offset,
		'aliases', coalesce((
			SELECT jsonb_agg(admin_alias_json(x.r, x.dname) ORDER BY x.dname, x.localpart)
			FROM (SELECT al AS r, al.localpart, dom.name AS dname
			      FROM aliases al JOIN domains dom USING (domain_id)
			      WHERE did IS NULL OR al.domain_id = did
			      ORDER BY dom.name, al.localpart
			      OFFSET p_offset LIMIT p_limit) x), '[]'));
END $$;

CREATE FUNCTION admin_alias_delete(p_address text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	aid bigint;
BEGIN
	SELECT alias_id INTO aid FROM addresses
	WHERE address = p_address AND alias_id IS NOT NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'alias % does not exist', p_address USING ERRCODE = 'MSNF0';
	END IF;
	PERFORM 1 FROM aliases WHERE alias_id = aid FOR UPDATE;
	PERFORM admin_forget_addresses(ARRAY[p_address]);
	DELETE FROM aliases WHERE alias_id = aid;
	RETURN jsonb_build_object('address', p_address, 'deleted', true);
END $$;

-- Quota and statistics ---------------------------------------------------------------

CREATE FUNCTION admin_quota_get(p_address text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	r jsonb;
BEGIN
	SELECT jsonb_build_object(
		'address', p_address,
		'quota_bytes', acc.quota_bytes,
		'quota_messages', acc.quota_messages,
		'used_bytes', acc.used_bytes,
		'used_messages', acc.used_messages,
		'domain_quota_bytes', dom.quota_bytes,
		'domain_used_bytes', (SELECT coalesce(sum(used_bytes), 0)
		                      FROM accounts WHERE domain_id = dom.domain_id))
	INTO r
	FROM addresses ad JOIN accounts acc USING (account_id)
	JOIN domains dom ON dom.domain_id = acc.domain_id
	WHERE ad.address = p_address;
	IF r IS NULL THEN
		RAISE EXCEPTION 'account % does not exist', p_address USING ERRCODE = 'MSNF0';
	END IF;
	RETURN r;
END $$;

-- Counts per domain (one domain, or all when p_domain is NULL).
CREATE FUNCTION admin_stats_get(p_domain text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
	did bigint;
BEGIN
	IF p_domain IS NOT NULL THEN
		did := (admin_domain_find(p_domain, false)).domain_id;
	END IF;
	RETURN jsonb_build_object('domains', coalesce((
		SELECT jsonb_agg(jsonb_build_object(
			'name', dom.name,
			'status', dom.status,
			'accounts', coalesce(s.accounts, 0),
			'aliases', (SELECT count(*) FROM aliases al WHERE al.domain_id = dom.domain_id),
			'messages', coalesce(s.messages, 0),
			'bytes', coalesce(s.bytes, 0)) ORDER BY dom.name)
		FROM domains dom
		LEFT JOIN (SELECT domain_id, count(*) AS accounts, sum(used_messages) AS messages,
		                  sum(used_bytes) AS bytes
		           FROM accounts GROUP BY domain_id) s USING (domain_id)
		WHERE did IS NULL OR dom.domain_id = did), '[]'));
END $$;
