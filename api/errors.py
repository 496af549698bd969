"""Domain errors → JSON HTTP errors, in one place: ``{"error": "<stable code>", "message": "..."}``."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
import psycopg
from aiohttp import web
from psycopg_pool import PoolTimeout

log = logging.getLogger(__name__)

#: Path parameters that are secrets (DPD's push URL ends in one).
_SECRET_PARAMS = frozenset({"token"})
#: Request headers whose values are credentials: never in a log line.
_SECRET_HEADER = re.compile(r"authorization|token|secret|signature|credential|api-?key|cookie", re.IGNORECASE)
REDACTED = "<redacted>"


def request_secrets(request: web.Request) -> list[str]:
    """The secret values a request carries: secret path parameters and credential headers."""
    found = [value for name, value in request.match_info.items() if name in _SECRET_PARAMS and value]
    found += [value for name, value in request.headers.items() if _SECRET_HEADER.search(name) and value.strip()]
    # longest first, so a secret that contains another is replaced whole
    return sorted(set(found), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def loggable_path(request: web.Request) -> str:
    """The request path with secret path parameters replaced (no query string: it can carry
    personal data)."""
    secrets = [v for name, v in request.match_info.items() if name in _SECRET_PARAMS and v]
    return redact(request.path, secrets)


class ApiError(Exception):
    """An answer with a JSON error body: ``extra`` goes into the body, ``headers`` into the response
    (``Retry-After``, ``WWW-Authenticate``, ``Allow``)."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def error_response(status: int, error: str, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> web.Response:
    return json_response({"error": error, "message": message, **extra}, status=status, headers=headers)


#: Headers of aiohttp's own errors that belong to the answer (RFC 9110: a 405 lists the methods).
_KEPT_ERROR_HEADERS = ("Allow",)


_STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "invalid", 429: "rate_limited", 503: "unavailable",
}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.error, exc.message, headers=exc.headers, **exc.extra)
    except (psycopg.OperationalError, PoolTimeout) as exc:
        return error_response(503, "database_unavailable", f"the database is not reachable ({type(exc).__name__})")
    except web.HTTPException as exc:  # aiohttp's own (404 route, 405, 413 ...)
        if exc.status < 400:
            raise
        kept = {name: exc.headers[name] for name in _KEPT_ERROR_HEADERS if name in exc.headers}
        return error_response(exc.status, _STATUS_CODES.get(exc.status, "http_error"), exc.reason, headers=kept)
    except Exception:
        # the traceback's message can quote what the request carried: its secrets are cut out
        details = redact(traceback.format_exc(), request_secrets(request))
        log.error("unhandled error on %s %s\n%s", request.method, loggable_path(request), details.rstrip())
        return error_response(500, "internal_error", "an internal error occurred; it has been logged")
