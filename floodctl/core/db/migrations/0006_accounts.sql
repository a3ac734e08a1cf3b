-- Accounts, roles and the audit log (floodctl.auth.store, floodctl.audit).

CREATE TABLE users (
    id             serial PRIMARY KEY,
    name           text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9_.-]{2,64}$'),   -- login name, lowercase
    display_name   text,
    password_hash  text NOT NULL,                                  -- argon2id (pwdlib), never the password
    town_code      text REFERENCES towns (code),                   -- a town officer's town
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    token_version  integer NOT NULL DEFAULT 0                      -- bumped to revoke every issued token
);

-- A new account has no role, hence no right, until one is granted.
CREATE TABLE user_roles (
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL
                CHECK (role IN ('admin', 'commander', 'duty_officer', 'inspector', 'town_officer', 'viewer')),
    granted_by  text NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role)
);

-- Who did what, written in the same transaction as the change it records.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,                       -- user name, or cli:<os user>
    action    text NOT NULL,                       -- user.create, user.grant, auth.login, …
    subject   text,                                -- what it was done to: user:alice, order:12, …
    drill_id  integer NOT NULL DEFAULT 0,          -- 0 = live operations
    details   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_subject_idx ON audit_log (subject);
