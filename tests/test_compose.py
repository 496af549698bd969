"""Static checks of ``docker-compose.yml``, the ``Dockerfile`` and the Prometheus/Grafana provisioning.

No Docker engine is needed (``docker compose config`` is not available everywhere): the files are
parsed and checked against the code they configure — the ``TRACKSTREAM_*`` settings, the metric
names, the port the API listens on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from trackstream import metrics
from trackstream.settings import DOCUMENTED, Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
EXPECTED_SERVICES = {"kafka", "postgres", "migrate", "worker", "api", "prometheus", "grafana"}
APP_SERVICES = ("migrate", "worker", "api")
Json = dict[str, Any]

_INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value: str) -> str:
    """Compose variable substitution, with every variable unset: ``${VAR:-default}`` → default."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        braced = match.group("braced")
        if braced is None:
            return ""
        found = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:(:?-)(?P<default>.*)|(?P<op>:?[?+])(?P<rest>.*))?",
                             braced, re.S)
        assert found, f"unsupported substitution ${{{braced}}}"
        if found.group("op"):
            assert "?" not in found.group("op"), f"${{{braced}}} requires a variable to be set"
            return ""  # ${VAR:+alt}: VAR unset → empty
        return found.group("default") or ""

    return _INTERPOLATION.sub(substitute, value)


@pytest.fixture(scope="module")
def compose() -> Json:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: Json) -> dict[str, Json]:
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def raw_environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {k: v for k, v in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    return {k: interpolate(v) for k, v in raw_environment(service).items()}


def settings_of(service: Mapping[str, Any]) -> Settings:
    return Settings.from_env(environment(service))


def mounts(service: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(source, target) of every volume entry, short or long syntax."""
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            yield str(entry.get("source", "")), str(entry["target"])
        else:
            parts = str(entry).split(":")
            yield (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])


def bind_source(service: Mapping[str, Any], target: str) -> Path:
    sources = [src for src, dst in mounts(service) if dst == target]
    assert len(sources) == 1, f"expected one mount at {target}"
    assert sources[0].startswith("./"), f"{target} should be a bind mount from the repository"
    return ROOT / sources[0]


def published(service: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(host ip, host port, container port) of every published port."""
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            yield str(entry.get("host_ip", "")), str(entry.get("published", "")), str(entry["target"])
        else:
            text = interpolate(str(entry)).split("/")[0]
            parts = text.rsplit(":", 2)
            if len(parts) == 3:
                yield parts[0], parts[1], parts[2]
            elif len(parts) == 2:
                yield "", parts[0], parts[1]
            else:
                yield "", "", parts[0]


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` → {NAME: (host, port)}."""
    out: dict[str, tuple[str, int]] = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def command(service: Mapping[str, Any]) -> list[str]:
    cmd = service.get("command")
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd or []]


def exposed_metric_names() -> set[str]:
    """Sample names trackstream.metrics exposes (Counter ``_total``, Histogram ``_bucket`` ...)."""
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",),
                "histogram": ("_bucket", "_sum", "_count", "_created"), "summary": ("", "_sum", "_count")}
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names |= {family.name + suffix for suffix in suffixes[family.type]}
    return names


# --- services ---------------------------------------------------------------------------------------


def test_expected_services(services: dict[str, Json]) -> None:
    assert EXPECTED_SERVICES <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert str(services["postgres"]["image"]).split(":")[1].startswith("15")
    assert str(services["prometheus"]["image"]).startswith("prom/prometheus")
    assert str(services["grafana"]["image"]).startswith("grafana/grafana")
    for name in APP_SERVICES:
        build = services[name]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert Path(ROOT, context).resolve() == ROOT, name
    assert command(services["migrate"]) == ["migrate"]
    assert command(services["worker"]) == ["worker"]
    assert command(services["api"]) == ["api"]
    assert services["migrate"].get("restart", "no") == "no"


def test_dockerfile(services: dict[str, Json]) -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms and froms[-1] == "python:3.11-slim", "the runtime image is python:3.11-slim"
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "runs as a non-root user"
    assert re.search(r"pip (?:install|wheel)\b.*(?:\s\.|trackstream)", text), "installs the project"
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])", text, re.M)
    assert entrypoint and json.loads(entrypoint.group(1)) == ["trackstream"]
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".venv" in ignored and ".git" in ignored


def test_every_trackstream_variable_is_documented(services: dict[str, Json]) -> None:
    for name, service in services.items():
        unknown = {k for k in raw_environment(service) if k.startswith("TRACKSTREAM_")} - set(DOCUMENTED)
        assert not unknown, f"{name}: not in trackstream.settings.DOCUMENTED: {sorted(unknown)}"
    referenced = set(re.findall(r"TRACKSTREAM_[A-Z0-9_]+", COMPOSE.read_text(encoding="utf-8")))
    assert referenced <= set(DOCUMENTED), sorted(referenced - set(DOCUMENTED))


SECRET_OR_SOURCE = re.compile(r"_(SECRET|TOKEN|API_KEY|CREDENTIAL|ALLOW|PROXIES|ACCOUNTS)$")


def test_every_secret_and_source_rule_can_be_set(services: dict[str, Json]) -> None:
    """Webhook secrets, allow-lists and the poll accounts are passed through from the host."""
    wanted = {name for name in DOCUMENTED if SECRET_OR_SOURCE.search(name)}
    assert len(wanted) >= 10
    for name in ("worker", "api"):
        env = raw_environment(services[name])
        for variable in wanted:
            assert env.get(variable) == f"${{{variable}:-}}", f"{name}: {variable} is not passed through"


def test_app_services_have_valid_settings(services: dict[str, Json]) -> None:
    for name in APP_SERVICES:
        settings_of(services[name])  # raises SettingsError when a value is unusable


def test_worker_and_api_agree(services: dict[str, Json]) -> None:
    worker, api = settings_of(services["worker"]), settings_of(services["api"])
    for field in ("kafka_bootstrap", "database_url", "partitions", "app_id", "data_dir", "max_body_bytes"):
        assert getattr(worker, field) == getattr(api, field), field
    assert settings_of(services["migrate"]).database_url == api.database_url
    assert api.http_host == "0.0.0.0", "the API must listen on the container's network"
    assert str(api.data_dir) == "/data"
    for name in ("worker", "api"):
        env = raw_environment(services[name])
        assert env["TRACKSTREAM_SENDCLOUD_SECRET"] == "${TRACKSTREAM_SENDCLOUD_SECRET:-}", name
        assert any(dst == "/data" and src and not src.startswith(("./", "/")) for src, dst in
                   mounts(services[name])), f"{name}: a named volume at TRACKSTREAM_DATA_DIR"


def test_kafka_bootstrap_is_the_advertised_listener(services: dict[str, Json]) -> None:
    kafka_env = environment(services["kafka"])
    advertised = listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    bound = listeners(kafka_env["KAFKA_LISTENERS"])
    assert kafka_env["KAFKA_PROCESS_ROLES"].replace(" ", "") in ("broker,controller", "controller,broker")
    names = {n for n in kafka_env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")}
    assert names <= set(bound), "the controller listener is bound"
    for name in ("worker", "api", "migrate"):
        for server in settings_of(services[name]).kafka_servers:
            host, _, port = server.rpartition(":")
            matching = [n for n, address in advertised.items() if address == (host, int(port))]
            assert matching, f"{name}: {server} is not an advertised listener of kafka"
            assert host in ("kafka", services["kafka"].get("hostname")), f"{name}: {server} is not kafka"
            assert bound[matching[0]][1] == int(port), f"{name}: listener {matching[0]} binds another port"


def test_database_url_is_the_postgres_service(services: dict[str, Json]) -> None:
    pg_env = environment(services["postgres"])
    for name in APP_SERVICES:
        url = urlsplit(settings_of(services[name]).database_url)
        assert url.hostname == "postgres", name
        assert (url.port or 5432) == 5432, name
        assert url.username == pg_env["POSTGRES_USER"], name
        assert url.path.lstrip("/") == pg_env.get("POSTGRES_DB", pg_env["POSTGRES_USER"]), name
        if pg_env.get("POSTGRES_HOST_AUTH_METHOD") != "trust":
            assert url.password == pg_env["POSTGRES_PASSWORD"], name


def test_published_ports_bind_localhost(services: dict[str, Json]) -> None:
    for name, service in services.items():
        for host_ip, _, _ in published(service):
            assert host_ip == "127.0.0.1", f"{name} publishes a port beyond 127.0.0.1"
    api_port = str(settings_of(services["api"]).http_port)
    assert any(target == api_port for _, _, target in published(services["api"]))


def test_metrics_of_worker_and_api_are_served_together(services: dict[str, Json]) -> None:
    worker, api = environment(services["worker"]), environment(services["api"])
    directory = api["PROMETHEUS_MULTIPROC_DIR"]
    assert worker["PROMETHEUS_MULTIPROC_DIR"] == directory
    worker_volume = {dst: src for src, dst in mounts(services["worker"])}[directory]
    api_volume = {dst: src for src, dst in mounts(services["api"])}[directory]
    assert worker_volume == api_volume, "the worker's metric files must be visible to the API"
    # files are named by PID: both processes need distinct PIDs, i.e. one PID namespace
    assert services["worker"].get("pid") == "service:api"


# --- Prometheus and Grafana -------------------------------------------------------------------------


def test_prometheus_scrapes_the_api(services: dict[str, Json]) -> None:
    config = yaml.safe_load(bind_source(services["prometheus"], "/etc/prometheus/prometheus.yml")
                            .read_text(encoding="utf-8"))
    api_target = f"api:{settings_of(services['api']).http_port}"
    jobs = [job for job in config["scrape_configs"]
            if any(api_target in static.get("targets", []) for static in job.get("static_configs", []))]
    assert jobs, f"no scrape job targets {api_target}"
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in jobs)


def test_grafana_datasource_is_prometheus(services: dict[str, Json]) -> None:
    provisioning = bind_source(services["grafana"], "/etc/grafana/provisioning")
    assert provisioning == ROOT / "deploy" / "grafana" / "provisioning"
    config = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))
    (source,) = [d for d in config["datasources"] if d["type"] == "prometheus"]
    url = urlsplit(source["url"])
    assert url.hostname == "prometheus" and url.port == 9090


def dashboards(services: dict[str, Json]) -> list[Json]:
    provisioning = bind_source(services["grafana"], "/etc/grafana/provisioning")
    config = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text(encoding="utf-8"))
    found: list[Json] = []
    for provider in config["providers"]:
        folder = bind_source(services["grafana"], provider["options"]["path"])
        files = sorted(folder.glob("*.json"))
        assert files, f"no dashboards in {folder}"
        found += [json.loads(f.read_text(encoding="utf-8")) for f in files]
    return found


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from expressions(value)


def test_dashboards_reference_only_existing_metrics(services: dict[str, Json]) -> None:
    exposed = exposed_metric_names()
    assert {"trackstream_events_total", "trackstream_sink_batch_seconds_bucket",
            "trackstream_consumer_lag_messages"} <= exposed
    used: set[str] = set()
    for dashboard in dashboards(services):
        assert dashboard["title"] and dashboard["panels"]
        for expr in expressions(dashboard):
            used |= set(re.findall(r"\btrackstream_[a-z0-9_]+", expr))
    assert used, "the dashboards query trackstream metrics"
    assert used <= exposed, f"unknown metrics: {sorted(used - exposed)}"
    assert {"trackstream_events_total", "trackstream_deadletter_total", "trackstream_consumer_lag_messages",
            "trackstream_sink_batch_seconds_bucket"} <= used


def test_interpolation() -> None:
    assert interpolate("${A:-x}/${B-y}/${C}/$D/$$E") == "x/y///$E"
    assert interpolate("${TRACKSTREAM_SENDCLOUD_SECRET:-}") == ""
    assert interpolate("${A:+z}") == ""


def test_a_worker_that_stops_to_avoid_skipping_messages_comes_back(services: dict[str, Json]) -> None:
    # agents/gap_guard.py: a worker exits 75 rather than commit past messages its consumer skipped,
    # and relies on being restarted to resume from the committed offset
    assert services["worker"].get("restart") in ("always", "unless-stopped", "on-failure")
