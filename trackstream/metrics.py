"""Prometheus metrics: ``trackstream_<noun>_<unit>``, labels of low cardinality only.

The worker and the API are separate processes. When ``PROMETHEUS_MULTIPROC_DIR`` is set (the local
stack sets it), both write to it and the API's ``/metrics`` serves the sum; otherwise each process
serves its own.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter("trackstream_raw_messages_total", "Raw carrier messages consumed", ["carrier"])
EVENTS_OUT = Counter("trackstream_events_total", "Normalized events produced", ["carrier", "status"])
DEADLETTERED = Counter("trackstream_deadletter_total", "Messages dead-lettered", ["carrier", "error"])
PARSER_INTERNAL_ERRORS = Counter(
    "trackstream_parser_internal_errors_total",
    "Payloads a carrier parser crashed on (a parser bug; dead-lettered as internal_error)", ["carrier"],
)
UNMAPPED = Counter("trackstream_unmapped_codes_total", "Events whose carrier code is unmapped", ["carrier"])
TIMEZONE_ASSUMED = Counter(
    "trackstream_timezone_assumed_total",
    "Events whose local time nothing in the payload placed in a zone (read in the carrier's home zone, "
    "tz_source=assumed)", ["carrier"],
)
MAPPING_OVERRIDES_APPLIED = Counter(
    "trackstream_mapping_overrides_applied_total", "Events mapped by an operator's code mapping override", ["carrier"],
)
DUPLICATES = Counter("trackstream_duplicate_events_total", "Duplicate events absorbed", ["carrier"])
LATE = Counter("trackstream_late_events_total", "Events older than the shipment's newest", ["carrier"])
STATE_CHANGES = Counter("trackstream_status_changes_total", "Shipment status transitions", ["carrier", "status"])
SINK_BATCH_SECONDS = Histogram(
    "trackstream_sink_batch_seconds", "PostgreSQL batch write latency",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SINK_ROWS = Counter("trackstream_sink_rows_total", "Rows written to PostgreSQL", ["table"])
SINK_ERRORS = Counter("trackstream_sink_errors_total", "Failed PostgreSQL writes (retried)")
CONSUMER_LAG = Gauge(
    "trackstream_consumer_lag_messages", "Messages behind the log end, per topic", ["topic"],
    multiprocess_mode="livesum",
)
INGRESS = Counter("trackstream_ingress_requests_total", "HTTP ingress requests", ["endpoint", "outcome"])
INGRESS_SECONDS = Histogram(
    "trackstream_ingress_seconds", "Ingress latency until the broker acknowledged", ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
POLL_REQUESTS = Counter("trackstream_poll_requests_total", "Carrier API calls by pollers", ["carrier", "outcome"])
POLL_RATE_WAIT = Histogram(
    "trackstream_poll_rate_wait_seconds", "Time a poll request waited for its rate limit", ["carrier"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60),
)
PARTITION_REFETCHES = Counter(
    "trackstream_partition_refetches_total", "Stalled source partitions the worker's watchdog fetched again"
)
SKIPPED_MESSAGES_STOPS = Counter(
    "trackstream_skipped_messages_stops_total",
    "Worker stops because the consumer skipped messages that still exist (see agents/gap_guard.py)",
)
POLLED = Counter("trackstream_polled_shipments_total", "Shipments polled, by result", ["carrier", "result"])
POLL_LEADER = Gauge(
    "trackstream_poller_leader", "1 while this process polls the account", ["carrier", "account"],
    multiprocess_mode="livesum",
)
OUTBOUND_QUEUED = Counter("trackstream_outbound_queued_total", "Outbound messages queued (webhook subscriptions, ...)")
OUTBOUND_ATTEMPTS = Counter(
    "trackstream_outbound_attempts_total", "Outbound delivery attempts, by outcome (delivered, retry, given_up)",
    ["outcome"],
)
OUTBOUND_PAUSED = Counter("trackstream_outbound_paused_total", "Destinations paused because they kept failing")
OUTBOUND_SECONDS = Histogram(
    "trackstream_outbound_attempt_seconds", "Duration of one outbound HTTP attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ALERTS = Counter("trackstream_alerts_total", "Alerts opened and resolved by the stream", ["type", "state"])
ALERT_TICK_DUE = Histogram(
    "trackstream_alert_tick_due_shipments", "Shipments due on one partition's alert tick",
    buckets=(0, 1, 10, 100, 1000, 2000, 10000),
)
