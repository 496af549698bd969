-- Alerts: one row per (shipment or feed, type), id derived from the two (trackstream/alerts/lifecycle.py).
-- The stream opens and resolves them (tracking.alerts, and shipment.changes for this table); people
-- acknowledge and resolve them over the API. `stream_at` is when the newest stream change applied
-- was decided, so a replayed or older change never moves an alert back.
CREATE TABLE alerts (
    id               text PRIMARY KEY,
    type             text NOT NULL,
    state            text NOT NULL,          -- open | acknowledged | resolved
    severity         text NOT NULL,
    shipment_key     text,
    feed             text,
    carrier          text NOT NULL,
    tracking_number  text,
    customer         text,
    reason           text NOT NULL,
    opened_at        timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,                   -- system (the condition ended) or the key that resolved it
    resolution       text,
    occurrences      integer NOT NULL DEFAULT 1,
    stream_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_list ON alerts (updated_at, id);
CREATE INDEX alerts_state ON alerts (state, type);
CREATE INDEX alerts_shipment ON alerts (shipment_key) WHERE shipment_key IS NOT NULL;
CREATE INDEX alerts_customer ON alerts (customer, state) WHERE customer IS NOT NULL;
CREATE INDEX alerts_carrier ON alerts (carrier, state);
