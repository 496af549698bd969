"""``/healthz`` (the process answers), ``/readyz`` (Kafka, PostgreSQL and a worker are up, and
under ``trackstream up`` no piece of the stack is down) and ``/metrics`` (Prometheus, with consumer
lag measured from the broker at most once per ``TRACKSTREAM_LAG_REFRESH_SECONDS``, over clients the
API keeps open)."""

from __future__ import annotations

import asyncio
import logging
import os

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from api.access import metrics_policy, public
from api.context import DB, LAG_PROBE, PRODUCER, PRODUCER_STARTED, SETTINGS
from api.errors import json_response
from trackstream import metrics
from trackstream.stack.supervision import STATUS_FILE, read_status, stack_problems

log = logging.getLogger(__name__)


@public
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _check_kafka(request: web.Request) -> str | None:
    if not request.app[PRODUCER_STARTED].is_set():
        return "kafka: not connected"
    try:
        client = request.app[PRODUCER].client
        await asyncio.wait_for(client.fetch_all_metadata(), timeout=3)
        return None
    except Exception as exc:
        return f"kafka: {type(exc).__name__}"


async def _check_db_and_workers(request: web.Request) -> list[str]:
    settings = request.app[SETTINGS]
    fresh = settings.worker_heartbeat_seconds * 3 + 5
    # the supervisor of `trackstream up` (our parent) lists what is down; run alone, there is no file
    pieces = read_status(settings.data_dir / STATUS_FILE, os.getppid())
    try:
        async with asyncio.timeout(3):
            async with request.app[DB].connection() as conn:
                cur = await conn.execute(
                    "SELECT worker_id, info->>'pid' FROM worker_heartbeats"
                    " WHERE seen_at > now() - make_interval(secs => %s)",
                    (fresh,),
                )
                rows = await cur.fetchall()
    except Exception as exc:
        return [f"postgresql: {type(exc).__name__}", "worker: unknown", *stack_problems(pieces or {}, None)]
    problems = [] if rows else [f"worker: no worker heartbeat in the last {fresh:.0f}s"]
    if pieces:
        pids = {str(worker): int(pid) for worker, pid in rows if isinstance(pid, str) and pid.isdigit()}
        problems += stack_problems(pieces, pids)
    return problems


@public
async def readyz(request: web.Request) -> web.Response:
    kafka, rest = await asyncio.gather(_check_kafka(request), _check_db_and_workers(request))
    problems = ([kafka] if kafka else []) + rest
    if problems:
        return json_response({"status": "not_ready", "error": "not_ready", "message": "; ".join(problems),
                              "problems": problems}, status=503)
    return json_response({"status": "ready"})


@metrics_policy
async def metrics_view(request: web.Request) -> web.Response:
    lag = await request.app[LAG_PROBE].lag()  # bounded: at most one broker round trip per interval
    for topic, value in (lag or {}).items():
        metrics.CONSUMER_LAG.labels(topic).set(value)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        output = generate_latest(registry)
    else:
        output = generate_latest(REGISTRY)
    return web.Response(body=output, headers={"Content-Type": CONTENT_TYPE_LATEST})
