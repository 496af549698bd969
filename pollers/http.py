"""The HTTP layer every carrier client shares: rate limit, timeouts, retries, error classes.

``CarrierHttp.request`` takes a token from the account's bucket before every request, retries
transient failures (timeouts, connection errors, 5xx) and 429s with backoff and jitter, honours
``Retry-After``, and classifies what is left into typed errors the poller understands.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from pollers.backoff import full_jitter, parse_retry_after
from pollers.ratelimit import TokenBucket
from trackstream import metrics

log = logging.getLogger(__name__)


class PollError(Exception):
    """A poll request failed; ``outcome`` is the metric label."""

    outcome = "error"


class TransientError(PollError):
    """Timeouts, connection errors, 5xx: worth retrying later."""

    outcome = "transient"


class RateLimited(TransientError):
    """429 after the retries allowed in one call."""

    outcome = "rate_limited"

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(PollError):
    """401/403: the credentials are wrong or expired (after one token refresh)."""

    outcome = "auth"


class RequestRejected(PollError):
    """Another 4xx: the request itself is wrong (a bug or a bad configuration)."""

    outcome = "rejected"


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # tries per call, for transient errors and 429
    base: float = 0.5  # seconds
    cap: float = 30.0
    retry_after_cap: float = 300.0


def request_outcome(status: int) -> str:
    """The metric label of an answer handed to the client: a 2xx is ``ok``; a 404 ``not_found``; an
    error status the client reads itself (a SOAP fault in an HTTP 500) ``carrier_error``."""
    if 200 <= status < 300:
        return "ok"
    if status == 404:
        return "not_found"
    return "carrier_error"


class CarrierHttp:
    """One account's HTTP access: a session, its token bucket and its retry policy."""

    def __init__(self, carrier: str, account: str, bucket: TokenBucket, *, timeout: float = 15.0,
                 retry: RetryPolicy | None = None, rng: random.Random | None = None) -> None:
        self.carrier = carrier
        self.account = account
        self.bucket = bucket
        self.retry = retry or RetryPolicy()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._rng = rng or random.Random()
        self.requests = 0  # sent to the carrier, for tests and metrics

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers={"User-Agent": "trackstream"})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _once(self, method: str, url: str, *, metered: bool = True, **kwargs: Any) -> Response:
        await self.open()
        assert self._session is not None
        if metered:
            waited = await self.bucket.acquire()
            if waited:
                metrics.POLL_RATE_WAIT.labels(self.carrier).observe(waited)
        self.requests += 1
        async with self._session.request(method, url, **kwargs) as resp:
            body = await resp.read()
            return Response(resp.status, dict(resp.headers), body)

    async def request(self, method: str, url: str, *, ok: tuple[int, ...] = (200,), metered: bool = True,
                      **kwargs: Any) -> Response:
        """Send, retrying what is transient; returns a response whose status is in ``ok`` (or 404,
        which carriers use for "not found" and adapters read as such). ``metered=False`` skips the
        token bucket: token endpoints are not counted against the tracking API's quota."""
        last: PollError | None = None
        for attempt in range(self.retry.attempts):
            try:
                resp = await self._once(method, url, metered=metered, **kwargs)
            except (TimeoutError, aiohttp.ClientError) as exc:
                metrics.POLL_REQUESTS.labels(self.carrier, "transient").inc()
                last = TransientError(f"{method} {url}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(full_jitter(attempt, self.retry.base, self.retry.cap, self._rng))
                continue
            if resp.status in ok or resp.status == 404:
                metrics.POLL_REQUESTS.labels(self.carrier, request_outcome(resp.status)).inc()
                return resp
            if resp.status == 429:
                metrics.POLL_REQUESTS.labels(self.carrier, "rate_limited").inc()
                after = parse_retry_after(resp.headers.get("Retry-After"), self.retry.retry_after_cap)
                pause = after if after is not None else full_jitter(attempt, self.retry.base, self.retry.cap,
                                                                    self._rng)
                # the whole account slows down, not just this call
                self.bucket.penalize(pause)
                last = RateLimited(f"{method} {url}: 429 Too Many Requests", after)
                log.info("%s/%s: rate limited, pausing %.1fs", self.carrier, self.account, pause)
                continue  # the next acquire() waits out the penalty
            if resp.status >= 500:
                metrics.POLL_REQUESTS.labels(self.carrier, "transient").inc()
                last = TransientError(f"{method} {url}: HTTP {resp.status}")
                await asyncio.sleep(full_jitter(attempt, self.retry.base, self.retry.cap, self._rng))
                continue
            if resp.status in (401, 403):
                metrics.POLL_REQUESTS.labels(self.carrier, "auth").inc()
                raise AuthError(f"{method} {url}: HTTP {resp.status}: {resp.body[:200]!r}")
            metrics.POLL_REQUESTS.labels(self.carrier, "rejected").inc()
            raise RequestRejected(f"{method} {url}: HTTP {resp.status}: {resp.body[:200]!r}")
        assert last is not None
        raise last


class OAuthClientCredentials:
    """An OAuth2 client-credentials token, fetched on first use and refreshed a minute before it
    expires or when the API rejects it (``invalidate``). Concurrent callers share one refresh."""

    def __init__(self, http: CarrierHttp, token_url: str, client_id: str, client_secret: str, *,
                 scope: str | None = None, basic_auth: bool = False, leeway: float = 60.0) -> None:
        self.http = http
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.basic_auth = basic_auth
        self.leeway = leeway
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetched = 0

    def invalidate(self) -> None:
        self._token = None

    async def token(self) -> str:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._token is not None and loop.time() < self._expires_at - self.leeway:
                return self._token
            form = {"grant_type": "client_credentials"}
            kwargs: dict[str, Any] = {}
            if self.basic_auth:
                pair = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
                kwargs["headers"] = {"Authorization": f"Basic {pair}"}
            else:
                form.update(client_id=self.client_id, client_secret=self.client_secret)
            if self.scope:
                form["scope"] = self.scope
            resp = await self.http.request("POST", self.token_url, data=form, metered=False, **kwargs)
            if resp.status != 200:
                raise AuthError(f"token endpoint answered HTTP {resp.status}")
            try:
                import orjson

                body = orjson.loads(resp.body)
                token = str(body["access_token"])
                expires_in = float(body.get("expires_in", 3600))
            except (ValueError, KeyError, TypeError) as exc:
                raise AuthError(f"token endpoint answered without a usable access_token: {exc}") from exc
            self._token = token
            self._expires_at = loop.time() + expires_in
            self.fetched += 1
            return token

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      **kwargs: Any) -> Response:
        """A bearer-authenticated request; one refresh and retry when the token is refused."""
        for attempt in range(2):
            token = await self.token()
            try:
                return await self.http.request(method, url, headers={**(headers or {}),
                                                                      "Authorization": f"Bearer {token}"},
                                               **kwargs)
            except AuthError:
                if attempt == 1:
                    raise
                self.invalidate()
        raise AssertionError("unreachable")
