-- The pollers' "never polled yet" and "reopened" queries (pollers/store.py) look by carrier and time.
CREATE INDEX shipments_carrier_created ON shipments (carrier, created_at);
CREATE INDEX shipments_carrier_updated ON shipments (carrier, updated_at);
