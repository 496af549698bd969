"""``POST /v1/feeds/{carrier}``: a file feed over HTTP, read and validated by ``trackstream.feeds``
exactly like ``trackstream import``.

The body (at most ``TRACKSTREAM_MAX_FEED_BYTES``) is checked completely first, in a thread so the
event loop keeps serving: a feed that cannot be read is ``400``, invalid lines are ``422`` with one
entry per line and nothing is sent, unless ``?skip_invalid=true`` asks to send the valid ones. The
answer is ``202`` only after the broker acknowledged every message; ``503`` otherwise (re-sending
the whole feed is safe: the pipeline absorbs duplicates).
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

from aiohttp import web

from api.access import principal_of, requires
from api.context import PRODUCER, PRODUCER_STARTED, SETTINGS
from api.errors import ApiError, json_response
from api.ingress import read_body
from carriers.native import CARRIER_PATTERN
from trackstream import metrics
from trackstream.feeds.formats import MEDIA_TYPES, Format, Target, UnknownCarrier, format_of_media_type, resolve_target
from trackstream.feeds.read import FeedMessage, FeedStats, FileProblem, Limits, MessageBuilder, Problem, read_records
from trackstream.feeds.send import Sender, SendFailed, partitions_of

MAX_LISTED_ERRORS = 100
_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_METADATA_TIMEOUT = 15.0


def _problem_json(problem: Problem, error: str = "invalid_line") -> dict[str, Any]:
    return {"line": problem.line, "item": problem.item, "field": problem.field, "error": error,
            "message": problem.text()}


def _check(body: bytes, fmt: Format, target: Target, limits: Limits, xml_hint: bool) -> FeedStats:
    stats = FeedStats(keep=MAX_LISTED_ERRORS)
    for _ in read_records(io.BytesIO(body), fmt, target, limits, stats, "body", xml_hint=xml_hint):
        pass
    return stats


def _messages(body: bytes, fmt: Format, target: Target, limits: Limits, partitions: int, name: str,
              xml_hint: bool) -> Iterator[FeedMessage]:
    builder = MessageBuilder(target, partitions, name, limits)
    stats = FeedStats(keep=0)
    for record in read_records(io.BytesIO(body), fmt, target, limits, stats, name, xml_hint=xml_hint):
        yield from builder.add(record)
    yield from builder.flush()


def _flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter: ``true`` or ``false`` (absent: false); 400 otherwise."""
    value = request.query.get(name, "false")
    if value not in ("true", "false"):
        raise ApiError(400, "invalid_parameter", f"{name} must be true or false, got {value!r}")
    return value == "true"


@requires("events:write")
async def post_feed(request: web.Request) -> web.Response:
    started = time.perf_counter()
    carrier = request.match_info["carrier"]
    if not CARRIER_PATTERN.fullmatch(carrier):  # exactly a carrier name, as documented (no case folding)
        metrics.INGRESS.labels("feed", "unknown_carrier").inc()
        raise ApiError(404, "unknown_carrier", f"not a carrier name: {carrier!r} (must match [a-z0-9_-]{{1,32}})")
    principal = principal_of(request)
    if not principal.may_post_for(carrier):
        raise ApiError(403, "carrier_not_allowed", f"this key may not post {carrier} data", carrier=carrier)
    if principal.customers is not None:
        raise ApiError(403, "customer_bound_key", "a key bound to customers cannot post feeds (a feed's "
                       "shipments are not checked one by one); post its events to /v1/events")
    skip_invalid = _flag(request, "skip_invalid")
    fmt = format_of_media_type(request.content_type)
    if fmt is None:
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type {request.content_type!r} is not a feed format; use one of "
                       + ", ".join(sorted(MEDIA_TYPES)))
    settings = request.app[SETTINGS]
    try:
        target = resolve_target(carrier, fmt, settings.configured_carriers)
    except UnknownCarrier as exc:
        metrics.INGRESS.labels("feed", "unknown_carrier").inc()
        raise ApiError(404, "unknown_carrier", str(exc)) from exc
    body = await read_body(request, settings.max_feed_bytes)
    if not body.strip():
        raise ApiError(400, "malformed_feed", "empty body")
    limits = Limits(settings.max_body_bytes, settings.max_feed_bytes)
    xml_hint = "xml" in request.content_type
    name = _NAME.sub("_", request.query.get("name", "")).strip("._")[:200] or "http"

    try:
        stats = await asyncio.to_thread(_check, body, fmt, target, limits, xml_hint)
    except FileProblem as exc:
        metrics.INGRESS.labels("feed", "invalid").inc()
        raise ApiError(400, "malformed_feed", f"the feed cannot be read: {exc.problem.text()}",
                       errors=[_problem_json(exc.problem, "malformed_feed")]) from exc
    errors = [_problem_json(p) for _, p in stats.problems]
    if stats.invalid and (not skip_invalid or not stats.records):
        metrics.INGRESS.labels("feed", "invalid").inc()
        raise ApiError(422, "invalid_feed", f"{stats.invalid} invalid line(s) or item(s); nothing was stored"
                       + (f" (the first {len(errors)} are listed)" if stats.invalid > len(errors) else ""),
                       invalid=stats.invalid, errors=errors)

    if not request.app[PRODUCER_STARTED].is_set():
        raise ApiError(503, "broker_unavailable", "the event store is not reachable; retry")
    producer = request.app[PRODUCER]
    sender = Sender(producer, ack_timeout=30.0)
    try:
        partitions = await asyncio.wait_for(partitions_of(producer, target.topic), _METADATA_TIMEOUT)
        messages = _messages(body, fmt, target, limits, partitions, name, xml_hint)
        while batch := await asyncio.to_thread(lambda: list(islice(messages, 200))):
            for message in batch:
                await sender.send(message)
        await sender.drain()
    except (SendFailed, TimeoutError) as exc:
        stored = (f"; {sender.acked} of its messages were stored before the failure, re-sending the whole "
                  "feed is safe (duplicates are absorbed)" if sender.acked else "; nothing was stored")
        raise ApiError(503, "broker_unavailable",
                       f"the event store did not acknowledge the feed ({exc or type(exc).__name__}){stored}",
                       acknowledged_messages=sender.acked) from exc
    metrics.INGRESS.labels("feed", "accepted").inc()
    metrics.INGRESS_SECONDS.labels("feed").observe(time.perf_counter() - started)
    answer: dict[str, Any] = {
        "status": "accepted", "format": fmt.value, "topic": target.topic, "messages": sender.acked,
        "payloads": sender.acked_payloads, "events": sender.acked_events, "invalid": stats.invalid,
    }
    if errors:
        answer["errors"] = errors
    return json_response(answer, status=202)
