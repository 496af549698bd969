"""All configuration, read once from ``TRACKSTREAM_*`` environment variables and validated.

Faust reads its own unprefixed variables (``BROKER_URL``, ...) and lets them override arguments, so
trackstream keeps everything under its own prefix and passes values explicitly.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carriers.definition import CarrierDefinition


class SettingsError(ValueError):
    """A TRACKSTREAM_* variable has a value trackstream cannot use."""


#: name -> (default, description). The README's configuration table is generated from this.
DOCUMENTED: dict[str, tuple[str, str]] = {
    "TRACKSTREAM_DATA_DIR": (
        ".trackstream",
        "Local data: Kafka log, PostgreSQL cluster (as root: under /var/lib/trackstream), RocksDB tables.",
    ),
    "TRACKSTREAM_KAFKA_BOOTSTRAP": ("127.0.0.1:9092", "Kafka bootstrap servers (host:port[,host:port])."),
    "TRACKSTREAM_DATABASE_URL": (
        "postgresql://trackstream@127.0.0.1:5433/trackstream", "PostgreSQL connection URL."
    ),
    "TRACKSTREAM_HTTP_HOST": ("127.0.0.1", "Address the HTTP API binds to."),
    "TRACKSTREAM_HTTP_PORT": ("8080", "Port of the HTTP API."),
    "TRACKSTREAM_PARTITIONS": ("8", "Partitions of every trackstream topic (co-partitioning)."),
    "TRACKSTREAM_APP_ID": ("trackstream", "Faust application id (consumer group, changelog prefix)."),
    "TRACKSTREAM_STORE": ("rocksdb://", "Faust table store: rocksdb:// (production) or memory://."),
    "TRACKSTREAM_EVENT_LOOP": ("uvloop", "Event loop of the worker and the API: uvloop or asyncio."),
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
    "TRACKSTREAM_UPS_WEBHOOK_CLIENT_ID": (
        "", "UPS Track Alert v2: client id UPS uses at POST /v1/oauth/token (and sends as x-api-key)."
    ),
    "TRACKSTREAM_UPS_WEBHOOK_CLIENT_SECRET": ("", "UPS Track Alert v2: the client secret for that token request."),
    "TRACKSTREAM_DPD_PUSH_TOKEN": ("", "Secret path segment of DPD's push URL: GET /v1/webhooks/dpd_nl/<token>."),
    "TRACKSTREAM_DPD_PUSH_ALLOW": ("", "CIDR list DPD pushes may come from; empty: any source."),
    "TRACKSTREAM_FEDEX_WEBHOOK_TOKEN": ("", "FedEx AIV security token: verifies the fdx-signature header."),
    "TRACKSTREAM_FEDEX_WEBHOOK_ALLOW": ("", "CIDR list FedEx AIV pushes may come from; empty: any source."),
    "TRACKSTREAM_DHL_PARCEL_NL_WEBHOOK_TOKEN": ("", "API key DHL Parcel NL's Track & Trace Pusher sends in X-API-Key."),
    "TRACKSTREAM_TRUSTED_PROXIES": ("", "CIDR list of reverse proxies whose X-Forwarded-For is believed."),
    "TRACKSTREAM_POLL_ACCOUNTS": (
        "", "YAML/JSON file of carrier accounts to poll (see pollers/accounts.py); empty: no polling."
    ),
    "TRACKSTREAM_POLL_IN_WORKER": (
        "1", "1: workers run the pollers (one per account across all workers); 0: only `trackstream poll` does."
    ),
    "TRACKSTREAM_WORKER_ID": ("", "Name of this worker (its table folder); default: the host name."),
    "TRACKSTREAM_WORKER_HEARTBEAT_SECONDS": ("5", "How often a worker records it is alive (for /readyz)."),
    "TRACKSTREAM_STALL_SECONDS": (
        "30", "A source partition with a backlog, nothing in flight and no fetch for this long is fetched again."
    ),
    "TRACKSTREAM_CARRIERS_DIR": ("", "Folder of carrier definition files (*.yaml, *.yml, *.json); empty: none."),
    "TRACKSTREAM_MAPPING_REFRESH_SECONDS": ("5", "How often the normalizer reloads code mapping overrides."),
    "TRACKSTREAM_PRODUCER_LINGER": ("0.001", "Seconds the worker's producer waits to batch messages (0: at once)."),
    "TRACKSTREAM_LAG_REFRESH_SECONDS": ("10", "/metrics measures consumer lag at most this often."),
    "TRACKSTREAM_KEY_RATE_LIMIT": (
        "50", "Requests per second a new API key may make (per API process; burst: twice that); 0: unlimited."
    ),
    "TRACKSTREAM_KEY_CACHE_SECONDS": (
        "5", "The API re-reads a key from PostgreSQL after this long: a revoked key stops working within it."
    ),
    "TRACKSTREAM_METRICS_REQUIRE_KEY": ("0", "1: /metrics needs a key with scope metrics:read (or admin)."),
    "TRACKSTREAM_ALERT_RULES": (
        "", "YAML/JSON file of alert thresholds (trackstream/alerts/rules.py); empty: the documented defaults."
    ),
    "TRACKSTREAM_ALERT_TICK_SECONDS": ("10", "How often every partition's alert due-time index is visited."),
    "TRACKSTREAM_ALERT_TICK_LIMIT": ("2000", "At most this many due shipments per partition per tick."),
    "TRACKSTREAM_ADMIN_KEY_FILE": (
        "", "Where `trackstream up` writes the admin key it creates on first start (mode 0600); "
        "default: admin-key in the data folder."
    ),
    # outbound delivery (sinks/outbound): webhook subscriptions, later alert channels and OMS pushes
    "TRACKSTREAM_OUTBOUND_IN_WORKER": ("1", "1: every worker runs the outbound dispatcher; 0: only `deliver`."),
    "TRACKSTREAM_OUTBOUND_ALLOW_PRIVATE": (
        "false", "true: targets on private, loopback and link-local addresses are allowed (development, tests)."
    ),
    "TRACKSTREAM_OUTBOUND_CONCURRENCY": ("32", "Deliveries one dispatcher has in flight at most."),
    "TRACKSTREAM_OUTBOUND_TIMEOUT_SECONDS": ("10", "A delivery without an answer within this long failed."),
    "TRACKSTREAM_OUTBOUND_POLL_SECONDS": ("1", "The dispatcher looks for due retries at least this often."),
    "TRACKSTREAM_OUTBOUND_RETRY_BASE_SECONDS": ("5", "Backoff: the n-th retry waits up to base × 2^(n-1), at random."),
    "TRACKSTREAM_OUTBOUND_RETRY_MAX_SECONDS": ("3600", "Backoff: no wait longer than this."),
    "TRACKSTREAM_OUTBOUND_RETRY_WINDOW_SECONDS": (
        "259200", "A message is retried until this long after it was queued (last try at the end), then given up."
    ),
    "TRACKSTREAM_OUTBOUND_PAUSE_AFTER_FAILURES": ("20", "A destination is paused after this many failures in a row"),
    "TRACKSTREAM_OUTBOUND_PAUSE_AFTER_SECONDS": ("86400", "... spanning at least this long without a success."),
    "TRACKSTREAM_OUTBOUND_SECRET_GRACE_SECONDS": ("86400", "After a rotation the previous secret signs too this long."),
    "TRACKSTREAM_PUBLIC_URL": ("", "Base URL of the API as subscribers reach it (links in webhooks); empty: paths."),
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


def _positive(env: Mapping[str, str], name: str) -> float:
    value = _float(env, name)
    if value <= 0:
        raise SettingsError(f"{name} must be > 0, got {value}")
    return value


def _non_negative(env: Mapping[str, str], name: str) -> float:
    value = _float(env, name)
    if value < 0:
        raise SettingsError(f"{name} must be >= 0, got {value}")
    return value


def _str(env: Mapping[str, str], name: str) -> str:
    return env.get(name, DOCUMENTED[name][0])


def _push_clients(env: Mapping[str, str]) -> dict[str, PushClient]:
    client_id = _str(env, "TRACKSTREAM_UPS_WEBHOOK_CLIENT_ID").strip()
    secret = _str(env, "TRACKSTREAM_UPS_WEBHOOK_CLIENT_SECRET")
    if bool(client_id) != bool(secret):
        raise SettingsError("set both TRACKSTREAM_UPS_WEBHOOK_CLIENT_ID and TRACKSTREAM_UPS_WEBHOOK_CLIENT_SECRET, "
                            "or neither")
    if secret and len(secret) < 16:
        raise SettingsError("TRACKSTREAM_UPS_WEBHOOK_CLIENT_SECRET must be at least 16 characters")
    return {"ups": PushClient("ups", client_id, secret)} if client_id else {}


def _alert_rules(env: Mapping[str, str]) -> str:
    """The rules file, validated now (SettingsError naming file and field), so a bad file stops
    every process at start."""
    path = _str(env, "TRACKSTREAM_ALERT_RULES").strip()
    if path:
        from trackstream.alerts.rules import RulesError, load_rules

        try:
            load_rules(path)
        except RulesError as exc:
            raise SettingsError(f"TRACKSTREAM_ALERT_RULES: {exc}") from exc
    return path


def load_carrier_definitions(env: Mapping[str, str]) -> dict[str, CarrierDefinition]:
    """The carriers defined in ``TRACKSTREAM_CARRIERS_DIR`` (none when it is empty), validated;
    SettingsError naming the file and field when one is invalid."""
    from carriers.definition import DefinitionError, load_folder

    folder = _str(env, "TRACKSTREAM_CARRIERS_DIR").strip()
    if not folder:
        return {}
    try:
        definitions = load_folder(Path(folder))
    except DefinitionError as exc:
        raise SettingsError(f"TRACKSTREAM_CARRIERS_DIR: {exc}") from exc
    for definition in definitions.values():
        if definition.webhook is not None and definition.webhook.secret_env in DOCUMENTED:
            raise SettingsError(f"TRACKSTREAM_CARRIERS_DIR: {definition.source}: webhook.secret_env: "
                                f"{definition.webhook.secret_env} is a trackstream setting, not a secret")
    return definitions


def _configured_secrets(env: Mapping[str, str], definitions: Mapping[str, CarrierDefinition]) -> dict[str, str]:
    """Each configured carrier's webhook secret, from the variable its definition names."""
    return {name: env.get(d.webhook.secret_env, "") for name, d in definitions.items() if d.webhook is not None}


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    """A comma/space separated CIDR list (a bare address is a /32 or /128)."""
    out: list[Network] = []
    for part in _str(env, name).replace(",", " ").split():
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise SettingsError(f"{name} must be a list of CIDR networks, got {part!r}") from exc
    return tuple(out)


@dataclass(frozen=True)
class PushClient:
    """A carrier that fetches an OAuth2 token from trackstream before it pushes (UPS Track Alert v2)."""

    carrier: str
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class OutboundSettings:
    """The outbound delivery engine's figures (``TRACKSTREAM_OUTBOUND_*``)."""

    in_worker: bool = True
    allow_private: bool = False
    concurrency: int = 32
    timeout_seconds: float = 10.0
    poll_seconds: float = 1.0
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 3600.0
    retry_window_seconds: float = 259200.0
    pause_after_failures: int = 20
    pause_after_seconds: float = 86400.0
    secret_grace_seconds: float = 86400.0
    public_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OutboundSettings:
        allow = _str(env, "TRACKSTREAM_OUTBOUND_ALLOW_PRIVATE").strip().lower()
        if allow not in ("1", "0", "true", "false", "yes", "no"):
            raise SettingsError(f"TRACKSTREAM_OUTBOUND_ALLOW_PRIVATE must be true or false, got {allow!r}")
        public_url = _str(env, "TRACKSTREAM_PUBLIC_URL").strip().rstrip("/")
        if public_url and not public_url.startswith(("http://", "https://")):
            raise SettingsError(f"TRACKSTREAM_PUBLIC_URL must be an http(s) URL, got {public_url!r}")
        return cls(
            in_worker=_str(env, "TRACKSTREAM_OUTBOUND_IN_WORKER") in ("1", "true", "yes"),
            allow_private=allow in ("1", "true", "yes"),
            concurrency=_int(env, "TRACKSTREAM_OUTBOUND_CONCURRENCY", minimum=1),
            timeout_seconds=_positive(env, "TRACKSTREAM_OUTBOUND_TIMEOUT_SECONDS"),
            poll_seconds=_positive(env, "TRACKSTREAM_OUTBOUND_POLL_SECONDS"),
            retry_base_seconds=_positive(env, "TRACKSTREAM_OUTBOUND_RETRY_BASE_SECONDS"),
            retry_max_seconds=_positive(env, "TRACKSTREAM_OUTBOUND_RETRY_MAX_SECONDS"),
            retry_window_seconds=_positive(env, "TRACKSTREAM_OUTBOUND_RETRY_WINDOW_SECONDS"),
            pause_after_failures=_int(env, "TRACKSTREAM_OUTBOUND_PAUSE_AFTER_FAILURES", minimum=1),
            pause_after_seconds=_non_negative(env, "TRACKSTREAM_OUTBOUND_PAUSE_AFTER_SECONDS"),
            secret_grace_seconds=_non_negative(env, "TRACKSTREAM_OUTBOUND_SECRET_GRACE_SECONDS"),
            public_url=public_url,
        )


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
    event_loop: str  # "uvloop" or "asyncio"
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
    stall_seconds: float
    worker_id: str
    mapping_refresh_seconds: float
    lag_refresh_seconds: float = 10.0
    key_rate_limit: float = 50.0
    key_cache_seconds: float = 5.0
    metrics_require_key: bool = False
    admin_key_file: Path | None = None
    alert_rules: str = ""
    alert_tick_seconds: float = 10.0
    alert_tick_limit: int = 2000
    producer_linger: float = 0.001
    poll_accounts: str = ""
    poll_in_worker: bool = True
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: carrier -> networks its pushes may come from (absent or empty: any source)
    webhook_allow: Mapping[str, tuple[Network, ...]] = field(default_factory=dict)
    trusted_proxies: tuple[Network, ...] = ()
    push_clients: Mapping[str, PushClient] = field(default_factory=dict, repr=False)
    carrier_definitions: Mapping[str, CarrierDefinition] = field(default_factory=dict, repr=False)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        store = _str(env, "TRACKSTREAM_STORE")
        if store not in ("rocksdb://", "memory://"):
            raise SettingsError(f"TRACKSTREAM_STORE must be rocksdb:// or memory://, got {store!r}")
        event_loop = _str(env, "TRACKSTREAM_EVENT_LOOP")
        if event_loop not in ("uvloop", "asyncio"):
            raise SettingsError(f"TRACKSTREAM_EVENT_LOOP must be uvloop or asyncio, got {event_loop!r}")
        level = _str(env, "TRACKSTREAM_LOG_LEVEL").lower()
        if level not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"TRACKSTREAM_LOG_LEVEL must be debug/info/warning/error, got {level!r}")
        bootstrap = _str(env, "TRACKSTREAM_KAFKA_BOOTSTRAP").strip()
        if not bootstrap or any(":" not in hp for hp in bootstrap.split(",")):
            raise SettingsError(f"TRACKSTREAM_KAFKA_BOOTSTRAP must be host:port[,...], got {bootstrap!r}")
        db = _str(env, "TRACKSTREAM_DATABASE_URL")
        if not db.startswith(("postgresql://", "postgres://")):
            raise SettingsError("TRACKSTREAM_DATABASE_URL must be a postgresql:// URL")
        definitions = load_carrier_definitions(env)
        return cls(
            data_dir=Path(_str(env, "TRACKSTREAM_DATA_DIR")).absolute(),
            kafka_bootstrap=bootstrap,
            database_url=db,
            http_host=_str(env, "TRACKSTREAM_HTTP_HOST"),
            http_port=_int(env, "TRACKSTREAM_HTTP_PORT", minimum=0),
            partitions=_int(env, "TRACKSTREAM_PARTITIONS", minimum=1),
            app_id=_str(env, "TRACKSTREAM_APP_ID"),
            store=store,
            event_loop=event_loop,
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
            stall_seconds=_positive(env, "TRACKSTREAM_STALL_SECONDS"),
            worker_id=_str(env, "TRACKSTREAM_WORKER_ID") or socket.gethostname(),
            mapping_refresh_seconds=_positive(env, "TRACKSTREAM_MAPPING_REFRESH_SECONDS"),
            lag_refresh_seconds=_positive(env, "TRACKSTREAM_LAG_REFRESH_SECONDS"),
            key_rate_limit=_non_negative(env, "TRACKSTREAM_KEY_RATE_LIMIT"),
            key_cache_seconds=_non_negative(env, "TRACKSTREAM_KEY_CACHE_SECONDS"),
            metrics_require_key=_str(env, "TRACKSTREAM_METRICS_REQUIRE_KEY") in ("1", "true", "yes"),
            alert_rules=_alert_rules(env),
            alert_tick_seconds=_positive(env, "TRACKSTREAM_ALERT_TICK_SECONDS"),
            alert_tick_limit=_int(env, "TRACKSTREAM_ALERT_TICK_LIMIT", minimum=1),
            admin_key_file=Path(_str(env, "TRACKSTREAM_ADMIN_KEY_FILE")).absolute()
            if _str(env, "TRACKSTREAM_ADMIN_KEY_FILE") else None,
            producer_linger=_non_negative(env, "TRACKSTREAM_PRODUCER_LINGER"),
            poll_accounts=_str(env, "TRACKSTREAM_POLL_ACCOUNTS"),
            poll_in_worker=_str(env, "TRACKSTREAM_POLL_IN_WORKER") in ("1", "true", "yes"),
            secrets={**_configured_secrets(env, definitions),
                     "sendcloud": _str(env, "TRACKSTREAM_SENDCLOUD_SECRET"),
                     "postnl": _str(env, "TRACKSTREAM_POSTNL_WEBHOOK_TOKEN"),
                     "myparcel": _str(env, "TRACKSTREAM_MYPARCEL_API_KEY"),
                     "ups": _str(env, "TRACKSTREAM_UPS_WEBHOOK_CREDENTIAL"),
                     "dpd_nl": _str(env, "TRACKSTREAM_DPD_PUSH_TOKEN"),
                     "fedex": _str(env, "TRACKSTREAM_FEDEX_WEBHOOK_TOKEN"),
                     "dhl_parcel_nl": _str(env, "TRACKSTREAM_DHL_PARCEL_NL_WEBHOOK_TOKEN")},
            webhook_allow={"dpd_nl": _networks(env, "TRACKSTREAM_DPD_PUSH_ALLOW"),
                           "fedex": _networks(env, "TRACKSTREAM_FEDEX_WEBHOOK_ALLOW")},
            trusted_proxies=_networks(env, "TRACKSTREAM_TRUSTED_PROXIES"),
            push_clients=_push_clients(env),
            carrier_definitions=definitions,
            outbound=OutboundSettings.from_env(env),
        )

    @property
    def configured_carriers(self) -> tuple[str, ...]:
        """Carriers defined by a file in ``TRACKSTREAM_CARRIERS_DIR``, sorted."""
        return tuple(sorted(self.carrier_definitions))

    @property
    def admin_key_path(self) -> Path:
        """The file ``trackstream up`` keeps its admin key in."""
        return self.admin_key_file or self.data_dir / "admin-key"

    @property
    def kafka_servers(self) -> list[str]:
        return [hp.strip() for hp in self.kafka_bootstrap.split(",")]
