-- Access: API keys (stored only as a SHA-256 of the secret part; the id is the visible prefix) and
-- the audit log of who created, changed or revoked keys, mappings and subscriptions.

CREATE TABLE api_keys (
    id             text PRIMARY KEY,            -- the visible prefix, e.g. tsk_3f9a1c0b7d2e
    name           text NOT NULL,
    secret_hash    bytea NOT NULL,              -- sha256 of the whole key
    scopes         text[] NOT NULL,
    customers      text[],                      -- NULL: every customer
    carriers       text[] NOT NULL DEFAULT '{}',
    personal_data  boolean NOT NULL DEFAULT false,
    rate_limit     double precision NOT NULL,   -- requests per second; 0: unlimited
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL,               -- key id, or cli:<user>, or stack
    expires_at     timestamptz,
    revoked_at     timestamptz,
    revoked_by     text,
    last_used_at   timestamptz
);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor        text NOT NULL,                 -- key id, or cli:<user>, or system
    action       text NOT NULL,                 -- e.g. key.created, mapping.deleted, subscription.paused
    target_type  text NOT NULL,
    target_id    text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, at);
