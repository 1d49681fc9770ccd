-- Mailstead schema, migration 0008: failed-login counters shared by every
-- worker and host, so the per-IP and per-account limits hold for the whole
-- service rather than per process. One row per key ("ip:<address>" or
-- "user:<address>") and fixed one-minute window; rows of old windows are
-- removed by mail_auth_failures_expire(), which the workers call now and
-- then.
CREATE UNLOGGED TABLE auth_failures (
	key          text PRIMARY KEY CHECK (length(key) <= 400),
	window_start timestamptz NOT NULL,
	failures     integer NOT NULL CHECK (failures >= 0)
);

-- Counts one failure for each key; returns nothing.
CREATE FUNCTION mail_auth_failure(p_keys text[]) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO auth_failures AS f (key, window_start, failures)
	SELECT k, now(), 1 FROM unnest(p_keys) AS k
	ON CONFLICT (key) DO UPDATE
	   SET failures = CASE WHEN f.window_start < now() - interval '1 minute' THEN 1
	                       ELSE f.failures + 1 END,
	       window_start = CASE WHEN f.window_start < now() - interval '1 minute' THEN now()
	                           ELSE f.window_start END;
$$;

-- Failures of a key in its current window (0 when none or expired).
CREATE FUNCTION mail_auth_failures(p_key text) RETURNS integer
LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT failures FROM auth_failures
	                  WHERE key = p_key AND window_start >= now() - interval '1 minute'), 0);
$$;

CREATE FUNCTION mail_auth_failures_expire() RETURNS integer
LANGUAGE sql AS $$
	WITH d AS (DELETE FROM auth_failures WHERE window_start < now() - interval '1 minute'
	           RETURNING 1)
	SELECT count(*)::integer FROM d;
$$;
