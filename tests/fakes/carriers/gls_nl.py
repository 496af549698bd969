"""GLS Group Track And Trace V1: OAuth2 client credentials at ``/oauth2/v1/token`` (HTTP Basic or form
credentials, RFC 6749 §2.3.1) and ``GET /track-and-trace-v1/tracking/simple/trackids/{unitnos}``
(bearer; at most 10 comma-separated ids; per-parcel ``errorCode`` inside a 200), with the error
bodies of the spec: Apigee ``fault`` for 401 / 429, problem documents for 400.

State:
* ``api.responses[("gls_nl", unitno)]``: one parcel object (``gls_parcel``); unknown ids answer
  ``E_404_01``.
* ``api.state["gls_nl.client"]``: the (client_id, client_secret) accepted (``CLIENT``).
* ``api.state["gls_nl.internal_error"]``: ids that answer ``E_500_01``.
* ``api.state["gls_nl.token_requests"]``: token requests received.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi

CARRIER = "gls_nl"
CLIENT = ("gls-client", "gls-secret")
MAX_IDS = 10
TOKEN_EXPIRED = {"fault": {"faultstring": "The Token has expired: policy(Verify-JWT)",
                           "detail": {"errorcode": "steps.jwt.TokenExpired"}}}
QUOTA_VIOLATION = {"fault": {"faultstring": "Rate limit quota violation. Quota limit  exceeded. Identifier : "
                                            "14f8edf5-8954-45d8-986b-ee9db7cc68d3",
                             "detail": {"errorcode": "policies.ratelimit.QuotaViolation"}}}


def gls_parcel(unitno: str, status: str, status_at: str, events: list[tuple[str, str, str, str]]) -> bytes:
    """A parcel: events newest first as (code, description, ISO-2 country, ``…+0100`` timestamp)."""
    return orjson.dumps({
        "unitno": unitno, "status": status, "statusDateTime": status_at,
        "events": [{"code": code, "city": "Zwolle" if country == "NL" else "", "postalCode": "", "country": country,
                    "description": text, "eventDateTime": stamp} for code, text, country, stamp in events],
    })


def _client_credentials(request: web.Request, form: Any) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        return user, secret
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


def install(api: FakeCarrierApi, app: web.Application) -> None:
    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        with api.lock:
            api.state["gls_nl.token_requests"] = api.state.get("gls_nl.token_requests", 0) + 1
            expected = api.state.get("gls_nl.client", CLIENT)
        if _client_credentials(request, form) != tuple(expected) or form.get("grant_type") != "client_credentials":
            return api.json("gls_nl-oauth", request, None, 401, {"ErrorCode": "invalid_client",
                                                                  "Error": "ClientId is Invalid"})
        value = "gls-" + secrets.token_hex(16)
        with api.lock:
            api.tokens.add(value)
        return api.json("gls_nl-oauth", request, None, 200, {
            "access_token": value, "token_type": "Bearer", "expires_in": api.token_ttl})

    async def trackids(request: web.Request) -> web.Response:
        ids = [i for i in request.match_info["unitnos"].split(",") if i]
        label = ",".join(ids) or None
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with api.lock:
            valid = given.startswith("gls-") and given in api.tokens
        if not valid:
            return api.json(CARRIER, request, label, 401, TOKEN_EXPIRED)
        if len(ids) > MAX_IDS:
            return api.json(CARRIER, request, label, 400, {
                "type": "about:blank", "title": "Bad Request", "status": 400,
                "detail": f"Provided references of size '{len(ids)}' is more than allowed limit of {MAX_IDS}",
                "instance": request.path.removeprefix("/track-and-trace-v1")})
        with api.lock:
            malformed = sorted(set(ids) & api.state.get("gls_nl.malformed", set()))
        if malformed:  # a reference GLS cannot read fails the whole request
            return api.json(CARRIER, request, label, 400, {
                "type": "about:blank", "title": "Bad Request", "status": 400,
                "detail": f"Invalid reference '{malformed[0]}'",
                "instance": request.path.removeprefix("/track-and-trace-v1")})
        scripted = await api.scripted(CARRIER, request, label)
        if scripted is not None:
            return scripted
        parcels: list[dict[str, Any]] = []
        for unitno in ids:
            with api.lock:
                body = api.responses.get((CARRIER, unitno))
                failing = unitno in api.state.get("gls_nl.internal_error", set())
            if failing:
                parcels.append({"requested": unitno, "errorCode": "E_500_01", "errorMessage": "Internal Server Error"})
            elif body is None:
                parcels.append({"requested": unitno, "errorCode": "E_404_01", "errorMessage": "Resource Not Found"})
            else:
                parcels.append({"requested": unitno, **orjson.loads(body())})
        return api.json(CARRIER, request, label, 200, {"parcels": parcels})

    app.router.add_post("/oauth2/v1/token", token)
    app.router.add_get("/track-and-trace-v1/tracking/simple/trackids/{unitnos}", trackids)
