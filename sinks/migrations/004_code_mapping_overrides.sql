-- Operators' code mappings (PUT /v1/carriers/{carrier}/mappings/{code}): they add a code a carrier
-- table does not know, or correct one it maps wrongly, for a built-in or a configured carrier. The
-- normalizer reloads the table every TRACKSTREAM_MAPPING_REFRESH_SECONDS; a row wins over the
-- adapter's own mapping for events of that carrier whose code is exactly `code`.
CREATE TABLE code_mapping_overrides (
    carrier     text NOT NULL,
    code        text NOT NULL,
    status      text NOT NULL,
    substatus   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (carrier, code)
);
