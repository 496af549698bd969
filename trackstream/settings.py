"""All configuration, read once from ``TRACKSTREAM_*`` environment variables and validated.

Faust reads its own unprefixed variables (``BROKER_URL``, ...) and lets them override arguments, so
trackstream keeps everything under its own prefix and passes values explicitly.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A TRACKSTREAM_* variable has a value trackstream cannot use."""


#: name -> (default, description). The README's configuration table is generated from this.
DOCUMENTED: dict[str, tuple[str, str]] = {
    "TRACKSTREAM_DATA_DIR": (".trackstream", "Local data: Kafka log, PostgreSQL cluster, RocksDB tables."),
    "TRACKSTREAM_KAFKA_BOOTSTRAP": ("127.0.0.1:9092", "Kafka bootstrap servers (host:port[,host:port])."),
    "TRACKSTREAM_DATABASE_URL": (
        "postgresql://trackstream@127.0.0.1:5433/trackstream", "PostgreSQL connection URL."
    ),
    "TRACKSTREAM_HTTP_HOST": ("127.0.0.1", "Address the HTTP API binds to."),
    "TRACKSTREAM_HTTP_PORT": ("8080", "Port of the HTTP API."),
    "TRACKSTREAM_PARTITIONS": ("8", "Partitions of every trackstream topic (co-partitioning)."),
    "TRACKSTREAM_APP_ID": ("trackstream", "Faust application id (consumer group, changelog prefix)."),
    "TRACKSTREAM_STORE": ("rocksdb://", "Faust table store: rocksdb:// (production) or memory://."),
    "TRACKSTREAM_MAX_BODY_BYTES": ("1048576", "Largest webhook / API body accepted (HTTP 413 above)."),
    "TRACKSTREAM_MAX_FEED_BYTES": ("67108864", "Largest POST /v1/feeds body / native JSON feed document (413 above)."),
    "TRACKSTREAM_DEDUP_HORIZON_DAYS": ("60", "Event ids are remembered this long (event time) per shipment."),
    "TRACKSTREAM_DEDUP_MAX_IDS": ("500", "At most this many event ids remembered per shipment."),
    "TRACKSTREAM_NORMALIZE_BATCH": ("500", "Raw messages the normalizer takes per batch."),
    "TRACKSTREAM_NORMALIZE_WITHIN": ("0.05", "Seconds the normalizer waits to fill a batch."),
    "TRACKSTREAM_SINK_BATCH": ("200", "shipment.changes messages the PostgreSQL writer takes per transaction."),
    "TRACKSTREAM_SINK_WITHIN": ("0.05", "Seconds the PostgreSQL writer waits to fill a batch."),
    "TRACKSTREAM_SINK_POOL_SIZE": ("4", "PostgreSQL connections per worker."),
    "TRACKSTREAM_LOG_LEVEL": ("info", "Log level of trackstream and of Faust/aiokafka (warning)."),
    "TRACKSTREAM_LOCAL_WORKERS": ("2", "Faust workers `trackstream up` and the benchmark start (one group)."),
    "TRACKSTREAM_FAST_REBALANCE": ("0", "1: short session/rebalance timeouts (tests, one-machine stacks)."),
    "TRACKSTREAM_SENDCLOUD_SECRET": ("", "Sendcloud integration secret: verifies Sendcloud-Signature."),
    "TRACKSTREAM_POSTNL_WEBHOOK_TOKEN": ("", "Bearer token PostNL (push pilot) must send to /v1/webhooks/postnl."),
    "TRACKSTREAM_MYPARCEL_API_KEY": ("", "MyParcel API key: verifies X-MyParcel-Authorization on its webhooks."),
    "TRACKSTREAM_UPS_WEBHOOK_CREDENTIAL": ("", "UPS Track Alert subscription credential (its `credential` header)."),
    "TRACKSTREAM_WORKER_ID": ("", "Name of this worker (its table folder); default: the host name."),
    "TRACKSTREAM_WORKER_HEARTBEAT_SECONDS": ("5", "How often a worker records it is alive (for /readyz)."),
}


def _int(env: Mapping[str, str], name: str, *, minimum: int = 0) -> int:
    raw = env.get(name, DOCUMENTED[name][0])
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name, DOCUMENTED[name][0])
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise SettingsError(f"{name} must be >= 0, got {value}")
    return value


def _str(env: Mapping[str, str], name: str) -> str:
    return env.get(name, DOCUMENTED[name][0])


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    kafka_bootstrap: str
    database_url: str
    http_host: str
    http_port: int
    partitions: int
    app_id: str
    store: str
    max_body_bytes: int
    max_feed_bytes: int
    dedup_horizon_days: int
    dedup_max_ids: int
    normalize_batch: int
    normalize_within: float
    sink_batch: int
    sink_within: float
    sink_pool_size: int
    log_level: str
    fast_rebalance: bool
    local_workers: int
    worker_heartbeat_seconds: float
    worker_id: str
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        store = _str(env, "TRACKSTREAM_STORE")
        if store not in ("rocksdb://", "memory://"):
            raise SettingsError(f"TRACKSTREAM_STORE must be rocksdb:// or memory://, got {store!r}")
        level = _str(env, "TRACKSTREAM_LOG_LEVEL").lower()
        if level not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"TRACKSTREAM_LOG_LEVEL must be debug/info/warning/error, got {level!r}")
        bootstrap = _str(env, "TRACKSTREAM_KAFKA_BOOTSTRAP").strip()
        if not bootstrap or any(":" not in hp for hp in bootstrap.split(",")):
            raise SettingsError(f"TRACKSTREAM_KAFKA_BOOTSTRAP must be host:port[,...], got {bootstrap!r}")
        db = _str(env, "TRACKSTREAM_DATABASE_URL")
        if not db.startswith(("postgresql://", "postgres://")):
            raise SettingsError("TRACKSTREAM_DATABASE_URL must be a postgresql:// URL")
        return cls(
            data_dir=Path(_str(env, "TRACKSTREAM_DATA_DIR")).absolute(),
            kafka_bootstrap=bootstrap,
            database_url=db,
            http_host=_str(env, "TRACKSTREAM_HTTP_HOST"),
            http_port=_int(env, "TRACKSTREAM_HTTP_PORT", minimum=0),
            partitions=_int(env, "TRACKSTREAM_PARTITIONS", minimum=1),
            app_id=_str(env, "TRACKSTREAM_APP_ID"),
            store=store,
            max_body_bytes=_int(env, "TRACKSTREAM_MAX_BODY_BYTES", minimum=1),
            max_feed_bytes=_int(env, "TRACKSTREAM_MAX_FEED_BYTES", minimum=1),
            dedup_horizon_days=_int(env, "TRACKSTREAM_DEDUP_HORIZON_DAYS", minimum=1),
            dedup_max_ids=_int(env, "TRACKSTREAM_DEDUP_MAX_IDS", minimum=1),
            normalize_batch=_int(env, "TRACKSTREAM_NORMALIZE_BATCH", minimum=1),
            normalize_within=_float(env, "TRACKSTREAM_NORMALIZE_WITHIN"),
            sink_batch=_int(env, "TRACKSTREAM_SINK_BATCH", minimum=1),
            sink_within=_float(env, "TRACKSTREAM_SINK_WITHIN"),
            sink_pool_size=_int(env, "TRACKSTREAM_SINK_POOL_SIZE", minimum=1),
            log_level=level,
            fast_rebalance=_str(env, "TRACKSTREAM_FAST_REBALANCE") in ("1", "true", "yes"),
            local_workers=_int(env, "TRACKSTREAM_LOCAL_WORKERS", minimum=1),
            worker_heartbeat_seconds=_float(env, "TRACKSTREAM_WORKER_HEARTBEAT_SECONDS"),
            worker_id=_str(env, "TRACKSTREAM_WORKER_ID") or socket.gethostname(),
            secrets={"sendcloud": _str(env, "TRACKSTREAM_SENDCLOUD_SECRET"),
                     "postnl": _str(env, "TRACKSTREAM_POSTNL_WEBHOOK_TOKEN"),
                     "myparcel": _str(env, "TRACKSTREAM_MYPARCEL_API_KEY"),
                     "ups": _str(env, "TRACKSTREAM_UPS_WEBHOOK_CREDENTIAL")},
        )

    @property
    def kafka_servers(self) -> list[str]:
        return [hp.strip() for hp in self.kafka_bootstrap.split(",")]
