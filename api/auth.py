"""Enforcing the route policies of ``api.access``: key verification, scopes, rate limits.

``access_middleware`` runs before every handler. A route without a declared policy is refused (a
route added without one cannot be open by accident; ``tests/api/test_route_policies.py`` also
fails for it). Verified keys are cached for ``TRACKSTREAM_KEY_CACHE_SECONDS`` (a revoked key stops
working within that time on every API process); unknown keys too, briefly, so guessing costs the
database nothing. Last-used times are written in batches, about once a minute per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from api.access import PRINCIPAL, Handler, Policy, Principal, policy_of
from api.context import DB, SETTINGS
from api.errors import ApiError
from sinks import keys as key_store

log = logging.getLogger(__name__)

_CACHE_SIZE = 10_000
_TOUCH_SECONDS = 60.0


@dataclass(frozen=True)
class _Verdict:
    principal: Principal | None
    expires_at: datetime | None
    refusal: str  # why no principal: "invalid" | "revoked"
    checked: float  # monotonic time of the lookup


def principal_from_row(row: dict[str, Any]) -> Principal:
    customers = row["customers"]
    return Principal(
        key_id=row["id"], name=row["name"], scopes=frozenset(row["scopes"]),
        customers=None if customers is None else frozenset(customers), carriers=frozenset(row["carriers"]),
        personal_data=bool(row["personal_data"]), rate_limit=float(row["rate_limit"]),
    )


class KeyVerifier:
    """Key → principal, with a bounded cache and batched last-used writes."""

    def __init__(self, pool: AsyncConnectionPool[Any], cache_seconds: float) -> None:
        self._pool = pool
        self._ttl = cache_seconds
        self._cache: OrderedDict[bytes, _Verdict] = OrderedDict()
        self._used: dict[str, datetime] = {}
        self._touched: dict[str, float] = {}
        self._flush_soon = False

    async def verify(self, key: str, now: datetime) -> Principal:
        """The key's principal; ApiError 401 when it is not a valid, current key."""
        key_id = key_store.key_id_of(key)
        if key_id is None:
            raise ApiError(401, "invalid_key", "the API key is not one trackstream issued")
        digest = key_store.hash_key(key)
        verdict = self._cache.get(digest)
        clock = time.monotonic()
        if verdict is None or clock - verdict.checked >= self._ttl:
            verdict = await self._look_up(key, key_id, clock)
            self._cache[digest] = verdict
            self._cache.move_to_end(digest)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        if verdict.principal is None:
            if verdict.refusal == "revoked":
                raise ApiError(401, "key_revoked", "this API key has been revoked")
            raise ApiError(401, "invalid_key", "the API key is not one trackstream issued")
        if verdict.expires_at is not None and verdict.expires_at <= now:
            raise ApiError(401, "key_expired", f"this API key expired at {verdict.expires_at.isoformat()}")
        self._note_use(verdict.principal.key_id, now, clock)
        return verdict.principal

    async def _look_up(self, key: str, key_id: str, clock: float) -> _Verdict:
        async with self._pool.connection() as conn:
            row = await key_store.lookup(conn, key_id)
        if row is None or not key_store.matches(key, row["secret_hash"]):
            return _Verdict(None, None, "invalid", clock)
        if row["revoked_at"] is not None:
            return _Verdict(None, None, "revoked", clock)
        return _Verdict(principal_from_row(row), row["expires_at"], "", clock)

    def _note_use(self, key_id: str, now: datetime, clock: float) -> None:
        self._used[key_id] = now
        if clock - self._touched.get(key_id, -math.inf) >= _TOUCH_SECONDS:
            self._touched[key_id] = clock
            self._flush_soon = True

    async def flush(self) -> None:
        """Write the last-used times noted since the previous flush."""
        used, self._used = self._used, {}
        self._flush_soon = False
        if used:
            async with self._pool.connection() as conn:
                await key_store.touch(conn, used)

    async def run_flusher(self, interval: float = 5.0) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._flush_soon:
                try:
                    await self.flush()
                except Exception as exc:  # the flusher's boundary: a lost last-used time is logged, not fatal
                    log.warning("could not record API keys' last-used times: %s", exc)


class RateLimiter:
    """A token bucket per key: ``rate`` requests per second, bursts of twice that (at least 1)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, monotonic time)

    def take(self, key_id: str, rate: float, clock: float) -> float:
        """0 when the request may go now; otherwise the seconds until it may."""
        if rate <= 0:
            return 0.0
        capacity = max(1.0, 2 * rate)
        tokens, then = self._buckets.get(key_id, (capacity, clock))
        tokens = min(capacity, tokens + (clock - then) * rate)
        if tokens >= 1:
            self._buckets[key_id] = (tokens - 1, clock)
            return 0.0
        self._buckets[key_id] = (tokens, clock)
        return (1 - tokens) / rate


VERIFIER: web.AppKey[KeyVerifier] = web.AppKey("key_verifier", KeyVerifier)
LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter", RateLimiter)


async def access_context(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` entry (after the database pool): the verifier, the limiter, the flusher."""
    app[VERIFIER] = verifier = KeyVerifier(app[DB], app[SETTINGS].key_cache_seconds)
    app[LIMITER] = RateLimiter()
    task = asyncio.create_task(verifier.run_flusher())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(Exception):
        await verifier.flush()


def bearer_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "invalid_authorization", "send the API key as 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": 'Bearer realm="trackstream"'})
    return value.strip()


async def authorize(request: web.Request, policy: Policy) -> Principal:
    """The verified caller holding one of ``policy.scopes``; ApiError 401/403/429 otherwise."""
    key = bearer_key(request)
    if key is None:
        raise ApiError(401, "missing_key", "this route needs an API key: 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": 'Bearer realm="trackstream"'})
    principal = await request.app[VERIFIER].verify(key, datetime.now(UTC))
    if not any(principal.has(scope) for scope in policy.scopes):
        needed = " or ".join(policy.scopes)
        raise ApiError(403, "missing_scope", f"this key lacks the scope {needed}", scope=needed)
    wait = request.app[LIMITER].take(principal.key_id, principal.rate_limit, time.monotonic())
    if wait > 0:
        raise ApiError(429, "rate_limited", f"this key may make {principal.rate_limit:g} requests per second",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return principal


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match_info = request.match_info
    if match_info.http_exception is not None:  # no such route, or not this method: aiohttp's 404/405
        return await handler(request)
    policy = policy_of(match_info.handler)
    if policy is None:
        log.error("route %s %s declares no access policy; refused", request.method,
                  match_info.route.resource.canonical if match_info.route.resource else "?")
        raise ApiError(403, "route_without_policy", "this route declares no access policy")
    if policy.kind == "key" or (policy.kind == "metrics" and request.app[SETTINGS].metrics_require_key):
        request[PRINCIPAL] = await authorize(request, policy)
    return await handler(request)
