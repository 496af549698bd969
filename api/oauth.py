"""An OAuth2 client-credentials token endpoint for carriers that fetch a token before they push.

UPS Track Alert v2 does not sign its pushes: UPS first fetches an access token from *our* token URL
with the client id and secret registered in the UPS developer portal (``client_secret_basic``), then
sends ``Authorization: Bearer <token>`` and ``x-api-key: <client id>`` with every event
(UPS-API/api-documentation, ``UPSTrackAlert.yaml``: ``clientOauth2``, ``x-api-key``).
``POST /v1/oauth/token`` issues those tokens.

Tokens are stateless, so every API replica accepts every other's: ``ts1.<claims>.<signature>``
where claims are base64url JSON ``{"sub": client id, "carrier": ..., "exp": epoch seconds}`` and
the signature is HMAC-SHA256 over ``ts1.<claims>`` with a key derived from the client secret, so
rotating the secret revokes every token issued under it. Errors follow RFC 6749 section 5.2
(``error`` + ``error_description``), plus trackstream's ``message``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from api.access import carrier_authenticated
from api.context import SETTINGS
from api.ingress import read_body
from carriers._util import same_text
from trackstream.settings import PushClient

TOKEN_SECONDS = 3600
PREFIX = "ts1"


class TokenError(Exception):
    """A bearer token is missing, malformed, forged, expired or for another client."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(client: PushClient) -> bytes:
    return hmac.new(client.client_secret.encode(), b"trackstream access token v1", hashlib.sha256).digest()


def issue_token(client: PushClient, now: float, lifetime: int = TOKEN_SECONDS) -> str:
    claims = _b64(orjson.dumps({"sub": client.client_id, "carrier": client.carrier, "exp": int(now) + lifetime}))
    signed = f"{PREFIX}.{claims}"
    return f"{signed}.{_b64(hmac.new(_key(client), signed.encode(), hashlib.sha256).digest())}"


def verify_token(token: str, client: PushClient, now: float) -> None:
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("not an access token issued by /v1/oauth/token")
    signed = f"{parts[0]}.{parts[1]}"
    expected = _b64(hmac.new(_key(client), signed.encode(), hashlib.sha256).digest())
    if not same_text(parts[2], expected):
        raise TokenError("access token signature does not match")
    try:
        claims = orjson.loads(_unb64(parts[1]))
    except (ValueError, binascii.Error) as exc:
        raise TokenError("access token claims are unreadable") from exc
    if not isinstance(claims, dict) or claims.get("sub") != client.client_id or claims.get("carrier") != client.carrier:
        raise TokenError("access token was issued to another client")
    expires = claims.get("exp")
    if not isinstance(expires, int) or expires <= now:
        raise TokenError("access token expired; fetch a new one from /v1/oauth/token")


def verify_bearer(headers: Mapping[str, str], client: PushClient, now: float) -> None:
    """``Authorization: Bearer <token>`` valid for ``client``; ``x-api-key``, when sent, its id."""
    given = headers.get("Authorization", "")
    if given[:7].lower() != "bearer ":
        raise TokenError("missing bearer token")
    verify_token(given[7:], client, now)
    api_key = headers.get("x-api-key")
    if api_key is not None and not same_text(api_key, client.client_id):
        raise TokenError("x-api-key is not the client id the token was issued to")


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="trackstream"'
    return web.json_response({"error": error, "error_description": description, "message": description},
                             status=status, headers=headers)


def _credentials(request: web.Request, form: Mapping[str, str]) -> tuple[str, str] | None:
    given = request.headers.get("Authorization", "")
    if given[:6].lower() == "basic ":
        try:
            pair = base64.b64decode(given[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = pair.partition(":")
        return (client_id, secret) if sep else None
    if "client_id" in form and "client_secret" in form:  # client_secret_post
        return form["client_id"], form["client_secret"]
    return None


@carrier_authenticated
async def token(request: web.Request) -> web.Response:
    """``POST /v1/oauth/token`` (``application/x-www-form-urlencoded``, ``grant_type=client_credentials``)."""
    clients: Mapping[str, PushClient] = request.app[SETTINGS].push_clients
    body = await read_body(request, 16384)
    if "application/x-www-form-urlencoded" not in request.content_type:
        return _oauth_error(400, "invalid_request", "send grant_type=client_credentials as a form")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError):
        return _oauth_error(400, "invalid_request", "the form body is not readable")
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    given = _credentials(request, form)
    client = next((c for c in clients.values() if given and hmac.compare_digest(c.client_id.encode(),
                                                                                given[0].encode())), None)
    if given is None or client is None or not hmac.compare_digest(client.client_secret.encode(), given[1].encode()):
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    return web.json_response(
        {"access_token": issue_token(client, time.time()), "token_type": "Bearer", "expires_in": TOKEN_SECONDS},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
