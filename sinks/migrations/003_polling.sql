-- Pollers: per account and shipment, when it is polled next and what the last poll found; one
-- lease row per account (who polls it, for operators); delta-feed cursors.

CREATE TABLE poll_state (
    account              text NOT NULL,
    shipment_key         text NOT NULL,
    carrier              text NOT NULL,
    tracking_number      text NOT NULL,
    next_poll_at         timestamptz,          -- NULL: final, not polled again
    last_polled_at       timestamptz NOT NULL,
    last_result          text NOT NULL,        -- changed | unchanged | not_found | error
    last_error           text,
    payload_hash         text,
    failures             integer NOT NULL DEFAULT 0,
    polls                bigint NOT NULL DEFAULT 1,
    polled_by            text NOT NULL,
    PRIMARY KEY (account, shipment_key)
);
CREATE INDEX poll_state_due ON poll_state (account, next_poll_at) WHERE next_poll_at IS NOT NULL;

CREATE TABLE poller_leases (
    account      text PRIMARY KEY,
    carrier      text NOT NULL,
    holder       text NOT NULL,
    acquired_at  timestamptz NOT NULL,
    renewed_at   timestamptz NOT NULL
);

CREATE TABLE poll_cursors (
    account    text PRIMARY KEY,
    cursor_at  timestamptz NOT NULL
);
