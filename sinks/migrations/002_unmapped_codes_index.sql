-- Operators' list of unknown carrier codes also shows codes that only a coarser fallback mapped
-- (PostNL: an unknown event code mapped through the status code of the same instant).
DROP INDEX IF EXISTS tracking_events_unmapped;
CREATE INDEX tracking_events_unknown_codes ON tracking_events (carrier, code)
    WHERE NOT mapped OR attributes ->> 'mapping_layer' = 'status_code';
