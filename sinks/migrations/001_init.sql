-- trackstream schema, version 1: shipments, their events, dead letters, worker heartbeats.

CREATE TABLE shipments (
    shipment_key            text PRIMARY KEY,
    carrier                 text NOT NULL,
    tracking_number         text NOT NULL,
    status                  text NOT NULL,
    substatus               text,
    status_code             text,
    status_description      text,
    last_event_id           text,
    last_event_at           timestamptz,
    first_event_at          timestamptz,
    delivered_at            timestamptz,
    last_location           jsonb,
    event_count             integer NOT NULL DEFAULT 0,
    order_number            text,
    customer                text,
    destination_postcode    text,
    destination_country     text,
    service_level           text,
    despatched_at           timestamptz,
    promised_delivery_date  date,
    registered_at           timestamptz,
    version                 bigint NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipments_carrier_status ON shipments (carrier, status);
CREATE INDEX shipments_status ON shipments (status);
CREATE INDEX shipments_customer ON shipments (customer) WHERE customer IS NOT NULL;
CREATE INDEX shipments_order_number ON shipments (order_number) WHERE order_number IS NOT NULL;
CREATE INDEX shipments_destination ON shipments (destination_country, destination_postcode);
CREATE INDEX shipments_despatched_at ON shipments (despatched_at);
CREATE INDEX shipments_updated_at ON shipments (updated_at, shipment_key);

CREATE TABLE tracking_events (
    shipment_key    text NOT NULL,
    event_id        text NOT NULL,
    carrier         text NOT NULL,
    tracking_number text NOT NULL,
    status          text NOT NULL,
    substatus       text,
    code            text NOT NULL,
    description     text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    local_time      text NOT NULL,
    tz_source       text NOT NULL,
    location        jsonb,
    mapped          boolean NOT NULL,
    source          text NOT NULL,
    attributes      jsonb,
    received_at     timestamptz NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (shipment_key, event_id)
);
CREATE INDEX tracking_events_timeline ON tracking_events (shipment_key, occurred_at);
CREATE INDEX tracking_events_unmapped ON tracking_events (carrier, code) WHERE NOT mapped;

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,          -- topic:partition:offset, unique: replays do not duplicate
    carrier     text NOT NULL,
    error       text NOT NULL,
    reason      text NOT NULL,
    payload     text,
    payload_b64 text,
    headers     jsonb,
    received_at timestamptz NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source)
);

CREATE TABLE worker_heartbeats (
    worker_id   text PRIMARY KEY,
    seen_at     timestamptz NOT NULL,
    info        jsonb
);
