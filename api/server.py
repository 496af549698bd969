"""The HTTP API: ``init_app(settings)`` builds it; resources open and close in ``cleanup_ctx``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from importlib import resources

from aiohttp import web
from aiokafka import AIOKafkaProducer
from psycopg_pool import AsyncConnectionPool

from api import alerts, feeds, health, ingress, keys, mappings, oauth, pollers, query, subscriptions, track
from api.access import public
from api.auth import access_context, access_middleware
from api.context import DB, LAG_PROBE, PACKER, PRODUCER, PRODUCER_STARTED, SETTINGS
from api.errors import error_middleware
from api.packer import RawPacker
from trackstream.admin import LagProbe
from trackstream.settings import Settings

log = logging.getLogger(__name__)


async def _kafka(app: web.Application) -> AsyncIterator[None]:
    """The producer connects in the background: the API starts (and answers 503 for writes, not
    ready on /readyz) while Kafka is down, and recovers when it comes back."""
    settings = app[SETTINGS]
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
        linger_ms=2, request_timeout_ms=10000, max_request_size=max(1048576, settings.max_body_bytes * 2),
    )
    app[PRODUCER] = producer
    app[PRODUCER_STARTED] = asyncio.Event()

    async def send(topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        await producer.send_and_wait(topic, value, headers=headers)

    app[PACKER] = packer = RawPacker(send)

    async def connect() -> None:
        delay = 0.5
        while True:
            try:
                await producer.start()
                app[PRODUCER_STARTED].set()
                return
            except Exception as exc:
                log.warning("Kafka not reachable yet (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    task = asyncio.create_task(connect())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(packer.drain(), timeout=10)  # writes callers are still waiting for
    await producer.stop()


async def _db(app: web.Application) -> AsyncIterator[None]:
    pool = AsyncConnectionPool(app[SETTINGS].database_url, min_size=1, max_size=8, open=False, timeout=5,
                               kwargs={"autocommit": True}, name="trackstream-api")
    await pool.open(wait=False)
    app[DB] = pool
    yield
    await pool.close()


async def _lag_probe(app: web.Application) -> AsyncIterator[None]:
    app[LAG_PROBE] = probe = LagProbe(app[SETTINGS])
    yield
    await probe.close()


@public
async def openapi(request: web.Request) -> web.Response:
    text = resources.files("api").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return web.Response(text=text, content_type="application/yaml")


def _path(template: str) -> str:
    """A route whose path parameters take any characters but ``/`` (aiohttp's default also refuses
    ``{`` and ``}``, which carrier codes and tracking numbers may hold); the canonical path, which
    ``api/openapi.yaml`` documents, stays the template."""
    return re.sub(r"\{(\w+)\}", r"{\1:[^/]+}", template)


def init_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[error_middleware, access_middleware],
                          client_max_size=settings.max_body_bytes + 1)
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([_kafka, _db, access_context, _lag_probe])
    app.router.add_post(_path("/v1/webhooks/{carrier}"), ingress.webhook)
    app.router.add_get(_path("/v1/webhooks/{carrier}"), ingress.webhook_get, allow_head=False)  # no token: 401
    app.router.add_get(_path("/v1/webhooks/{carrier}/{token}"), ingress.webhook_get, allow_head=False)
    app.router.add_post("/v1/events", ingress.post_events)
    app.router.add_post(_path("/v1/feeds/{carrier}"), feeds.post_feed)
    app.router.add_post("/v1/shipments", ingress.post_shipment)
    app.router.add_get("/v1/shipments", query.search_shipments)
    app.router.add_get(_path("/v1/shipments/{carrier}/{tracking_number}"), query.get_shipment)
    app.router.add_get(_path("/v1/carriers/{carrier}/unmapped-codes"), query.unmapped_codes)
    app.router.add_get(_path("/v1/carriers/{carrier}/mappings"), mappings.list_mappings)
    app.router.add_put(_path("/v1/carriers/{carrier}/mappings/{code}"), mappings.put_mapping)
    app.router.add_delete(_path("/v1/carriers/{carrier}/mappings/{code}"), mappings.delete_mapping)
    app.router.add_get("/v1/pollers", pollers.list_pollers)
    app.router.add_get("/v1/alerts", alerts.list_alerts)
    app.router.add_post("/v1/alerts/ack", alerts.bulk_ack)
    app.router.add_post("/v1/alerts/resolve", alerts.bulk_resolve)
    # ids only (al_ + 24 hex), so /v1/alerts/ack and /resolve are not also "the alert named ack"
    app.router.add_get("/v1/alerts/{alert_id:al_[0-9a-f]{24}}", alerts.get_alert)
    app.router.add_post("/v1/alerts/{alert_id:al_[0-9a-f]{24}}/ack", alerts.ack_alert)
    app.router.add_post("/v1/alerts/{alert_id:al_[0-9a-f]{24}}/resolve", alerts.resolve_alert)
    app.router.add_get("/v1/keys", keys.list_keys)
    app.router.add_post("/v1/keys", keys.create_key)
    app.router.add_get(_path("/v1/keys/{key_id}"), keys.get_key)
    app.router.add_delete(_path("/v1/keys/{key_id}"), keys.revoke_key)
    app.router.add_get("/v1/audit", keys.list_audit)
    subscriptions.add_routes(app)
    app.router.add_get("/v1/track/{carrier}/{tracking_number}", track.track)
    app.router.add_get("/v1/track/{tracking_number}", track.track_detected)
    app.router.add_post("/v1/oauth/token", oauth.token)
    app.router.add_get("/v1/openapi.yaml", openapi)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics_view)
    return app


def run(settings: Settings) -> None:
    web.run_app(init_app(settings), host=settings.http_host, port=settings.http_port,
                access_log=None, print=lambda *_: log.info("API on http://%s:%s", settings.http_host,
                                                           settings.http_port))
