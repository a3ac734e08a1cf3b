-- Failed-login throttling (floodctl.auth.throttle), shared by every API process.
-- One row per key: 'user:<name>' (guesses at an account from unknown clients), 'ip:<address>' (guesses
-- from one address), 'device:<id>' (guesses through one known-device cookie). A key that reaches
-- FLOOD_LOGIN_MAX_FAILURES is locked, for FLOOD_LOGIN_WINDOW_S seconds at first, doubling with every
-- further failure (capped at FLOOD_LOGIN_BACKOFF_MAX_S); a quiet window forgives it.

CREATE TABLE login_throttle (
    key              text PRIMARY KEY,
    failures         integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failure_at  timestamptz,
    locked_until     timestamptz
);
CREATE INDEX login_throttle_last_failure_idx ON login_throttle (last_failure_at);
