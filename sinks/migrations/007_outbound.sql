-- Outbound delivery: one engine for everything trackstream sends out by HTTP (webhook
-- subscriptions first; alert channels and commerce/OMS pushes later). A destination is a URL with
-- its signing secrets and its health; messages wait in a durable queue per destination, go out in
-- order per ordering key (the shipment), and every attempt is logged.

CREATE TABLE outbound_destinations (
    id                    text PRIMARY KEY,        -- sub_<random> for a subscription
    kind                  text NOT NULL,           -- subscription (later: alert_channel, oms_push, ...)
    url                   text NOT NULL,
    secret                text NOT NULL,           -- whsec_<base64>: signs every delivery
    previous_secret       text,                    -- after a rotation: signs too, until previous_valid_until
    previous_valid_until  timestamptz,
    state                 text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused')),
    paused_reason         text,                    -- the notice shown on the destination
    paused_at             timestamptz,
    paused_by             text,                    -- key id, or system (kept failing)
    failing_since         timestamptz,             -- first failed attempt since the last success
    consecutive_failures  integer NOT NULL DEFAULT 0,
    last_success_at       timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Webhook subscriptions: per tracking number (subscription_shipments) or per customer.
CREATE TABLE subscriptions (
    id            text PRIMARY KEY REFERENCES outbound_destinations (id) ON DELETE CASCADE,
    owner_key_id  text NOT NULL,                   -- the API key that created it: the only one (and admins) that sees it
    kinds         text[] NOT NULL,                 -- event, status_changed, delivered, exception
    customer      text,                            -- a per-customer subscription; NULL: per tracking number
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_customer ON subscriptions (customer) WHERE customer IS NOT NULL;
CREATE INDEX subscriptions_owner ON subscriptions (owner_key_id, created_at);

CREATE TABLE subscription_shipments (
    shipment_key     text NOT NULL,
    subscription_id  text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    carrier          text NOT NULL,
    tracking_number  text NOT NULL,
    PRIMARY KEY (shipment_key, subscription_id)
);
CREATE INDEX subscription_shipments_subscription ON subscription_shipments (subscription_id);

-- The queue. One row per (destination, event, type): a replay of the same changes inserts nothing.
CREATE TABLE outbound_messages (
    id               bigserial PRIMARY KEY,        -- webhook-id msg_<id>; order within an ordering key
    destination_id   text NOT NULL REFERENCES outbound_destinations (id) ON DELETE CASCADE,
    ordering_key     text NOT NULL,                -- the shipment key: its messages go out one after another
    event_id         text NOT NULL,
    type             text NOT NULL,
    sequence         bigint,                       -- per (destination, ordering key), from 1
    payload          jsonb NOT NULL,
    received_at      timestamptz,                  -- when trackstream received what caused it
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),  -- emitted_at
    queued_at        timestamptz NOT NULL DEFAULT clock_timestamp(),  -- the retry window starts here (a replay restarts it)
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'given_up')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    leased_until     timestamptz,                  -- a dispatcher is delivering it until then
    leased_by        text,
    finished_at      timestamptz,
    last_status_code integer,
    last_error       text,
    UNIQUE (destination_id, event_id, type)
);
CREATE INDEX outbound_messages_due ON outbound_messages (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbound_messages_head ON outbound_messages (destination_id, ordering_key, id) WHERE status = 'pending';
CREATE INDEX outbound_messages_log ON outbound_messages (destination_id, created_at, id);

CREATE TABLE outbound_sequences (
    destination_id  text NOT NULL REFERENCES outbound_destinations (id) ON DELETE CASCADE,
    ordering_key    text NOT NULL,
    last_sequence   bigint NOT NULL,
    PRIMARY KEY (destination_id, ordering_key)
);

CREATE TABLE outbound_attempts (
    id              bigserial PRIMARY KEY,
    message_id      bigint NOT NULL REFERENCES outbound_messages (id) ON DELETE CASCADE,
    destination_id  text NOT NULL,
    attempt         integer NOT NULL,
    attempted_at    timestamptz NOT NULL,
    duration_ms     double precision NOT NULL,
    status_code     integer,                       -- NULL: no HTTP answer (timeout, connection error, refused address)
    error           text,
    outcome         text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'given_up')),
    next_attempt_at timestamptz
);
CREATE INDEX outbound_attempts_destination ON outbound_attempts (destination_id, attempted_at, id);
CREATE INDEX outbound_attempts_message ON outbound_attempts (message_id, id);
