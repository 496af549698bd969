"""Builds the Faust application from settings, and nothing else.

    settings = Settings.from_env()
    app = create_app(settings)

``faust -A app worker`` works too; ``trackstream worker`` is the supported way.
"""

from __future__ import annotations

from datetime import timedelta

import faust

import carriers
from agents import deadletters, heartbeat, mapping_overrides, normalize, outbound, polling, track, write_postgres
from agents.alerting import Alerting
from agents.shipment_state import DedupPolicy
from sinks.postgres import PostgresSink
from tables.shipment_states import shipment_states_table
from trackstream.alerts.due_index import DueIndex
from trackstream.alerts.rules import load_rules
from trackstream.settings import Settings
from trackstream.topics_faust import declare_topics

PRODUCER_BUFFER_MESSAGES = 1000


def create_app(settings: Settings) -> faust.App:
    fast = settings.fast_rebalance
    carriers.use_definitions(settings.carrier_definitions.values())
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{hp}" for hp in settings.kafka_servers],
        store=settings.store,
        datadir=str(settings.data_dir / "worker" / settings.worker_id),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_disable_leader=True,
        table_standby_replicas=0,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.producer_linger,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        stream_recovery_delay=0.0,
        broker_commit_interval=1.0,
        broker_session_timeout=6.0 if fast else 60.0,
        broker_heartbeat_interval=1.0 if fast else 3.0,
        broker_rebalance_timeout=10.0 if fast else 60.0,
        broker_request_timeout=30.0 if fast else 90.0,
    )
    # Faust stalls stream processing whenever more than 100 messages (changelog writes included)
    # wait in its producer buffer; every table write is one, so allow a realistic backlog.
    app.producer.buffer.max_messages = PRODUCER_BUFFER_MESSAGES
    topics = declare_topics(app, settings)
    states = shipment_states_table(app, settings.partitions)
    sink = PostgresSink(settings.database_url, settings.sink_pool_size, settings.outbound.public_url)
    policy = DedupPolicy(horizon=timedelta(days=settings.dedup_horizon_days), max_ids=settings.dedup_max_ids)
    overrides = mapping_overrides.register(app, sink, settings)
    normalize.register(app, topics, settings, overrides)
    alerting = Alerting(rules=load_rules(settings.alert_rules),
                        index=DueIndex(settings.data_dir / "worker" / settings.worker_id / "alert-due"),
                        partitions=settings.partitions, tick_seconds=settings.alert_tick_seconds,
                        per_tick=settings.alert_tick_limit)
    track.register(app, topics, states, policy, alerting)
    write_postgres.register(app, topics, sink, settings)
    deadletters.register(app, topics, sink)
    heartbeat.register(app, topics, sink, settings)
    polling.register(app, settings)
    outbound.register(app, settings)
    return app
