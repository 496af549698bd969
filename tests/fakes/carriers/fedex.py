"""FedEx Track API v1: OAuth2 client credentials at ``/oauth/token`` (form body) and
``POST /track/v1/trackingnumbers`` (bearer; at most 30 numbers; ``scanEvents`` only with
``includeDetailedScans: true``; per-result ``TRACKING.TRACKINGNUMBER.NOTFOUND`` errors inside a 200;
top-level ``errors[]`` for request failures), with FedEx's error bodies.

State:
* ``api.responses[("fedex", number)]``: one ``completeTrackResults`` item (``fedex_result``).
* ``api.state["fedex.client"]``: the (client_id, client_secret) accepted (``CLIENT``).
* ``api.state["fedex.bodies"]``: every track request body (parsed JSON) and its headers.
* ``api.state["fedex.token_requests"]``: token requests received.
"""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi

CARRIER = "fedex"
CLIENT = ("fedex-key", "fedex-secret")
MAX_NUMBERS = 30
TOO_MANY = {"transactionId": "f2d5e7c1-2b54-4f0c-9a4d-1a5f0c3b9e10", "errors": [{
    "code": "TOO.MANY.REQUESTS.ERROR",
    "message": "We have received too many requests in a short duration. Please wait a while to try again."}]}
UNAVAILABLE = {"transactionId": "624deea6-b709-470c-8c39-4b5511281492", "errors": [{
    "code": "SERVICE.UNAVAILABLE.ERROR",
    "message": "The service is currently unavailable and we are working to resolve the issue."}]}


def fedex_result(number: str, scans: list[tuple[str, str, str, str]]) -> bytes:
    """One ``completeTrackResults`` item: scans newest first as (eventType, derivedStatusCode,
    eventDescription, ISO date with offset), all in Memphis, TN."""
    return orjson.dumps({"trackingNumber": number, "trackResults": [{
        "trackingNumberInfo": {"trackingNumber": number, "trackingNumberUniqueId": f"12024~{number}~FDEG",
                               "carrierCode": "FDXG"},
        "latestStatusDetail": {"code": scans[0][0] if scans else "", "derivedCode": scans[0][1] if scans else ""},
        "scanEvents": [{"date": date, "eventType": kind, "eventDescription": text, "derivedStatusCode": derived,
                        "scanLocation": {"city": "MEMPHIS", "stateOrProvinceCode": "TN", "countryCode": "US"}}
                       for kind, derived, text, date in scans],
    }]})


def _not_found(number: str) -> dict[str, Any]:
    return {"trackingNumber": number, "trackResults": [{
        "trackingNumberInfo": {"trackingNumber": number, "trackingNumberUniqueId": "", "carrierCode": ""},
        "error": {"code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
                  "message": "Tracking number cannot be found. Please correct the tracking number and try again."},
    }]}


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"transactionId": str(uuid.uuid4()), "errors": [{"code": code, "message": message}]}


def install(api: FakeCarrierApi, app: web.Application) -> None:
    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        with api.lock:
            api.state["fedex.token_requests"] = api.state.get("fedex.token_requests", 0) + 1
            expected = tuple(api.state.get("fedex.client", CLIENT))
        given = (str(form.get("client_id", "")), str(form.get("client_secret", "")))
        if given != expected or form.get("grant_type") != "client_credentials":
            return api.json("fedex-oauth", request, None, 401, _errors(
                "NOT.AUTHORIZED.ERROR", "The given client credentials were not valid. Please modify your request "
                                        "and try again."))
        value = "fdx-" + secrets.token_hex(16)
        with api.lock:
            api.tokens.add(value)
        return api.json("fedex-oauth", request, None, 200, {
            "access_token": value, "token_type": "bearer", "expires_in": api.token_ttl, "scope": "CXS"})

    async def trackingnumbers(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with api.lock:
            valid = given.startswith("fdx-") and given in api.tokens
        if not valid:
            return api.json(CARRIER, request, None, 401, _errors(
                "NOT.AUTHORIZED.ERROR", "Access token expired. Please modify your request and try again."))
        try:
            body = orjson.loads(await request.read())
            infos = body.get("trackingInfo") or []
            numbers = [str(i["trackingNumberInfo"]["trackingNumber"]) for i in infos]
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            return api.json(CARRIER, request, None, 400, _errors("INVALID.INPUT.EXCEPTION", "Invalid field value"))
        label = ",".join(numbers) or None
        with api.lock:
            api.state.setdefault("fedex.bodies", []).append({"body": body, "headers": dict(request.headers)})
        if request.content_type != "application/json":
            return api.json(CARRIER, request, label, 400, _errors("INVALID.INPUT.EXCEPTION", "Invalid content type"))
        if not numbers:
            return api.json(CARRIER, request, label, 400, _errors("TRACKING.TRACKINGNUMBER.EMPTY",
                                                                  "Please provide tracking number."))
        if len(numbers) > MAX_NUMBERS:
            return api.json(CARRIER, request, label, 400, _errors(
                "TRACKING.TRACKINGNUMBER.LIMITEXCEEDED", f"At most {MAX_NUMBERS} tracking numbers per request."))
        scripted = await api.scripted(CARRIER, request, label)
        if scripted is not None:
            return scripted
        results: list[dict[str, Any]] = []
        for number in numbers:
            with api.lock:
                stored = api.responses.get((CARRIER, number))
            result = orjson.loads(stored()) if stored is not None else _not_found(number)
            if body.get("includeDetailedScans") is not True:
                for track in result["trackResults"]:
                    track.pop("scanEvents", None)
            results.append(result)
        return api.json(CARRIER, request, label, 200, {
            "transactionId": str(uuid.uuid4()),
            "customerTransactionId": request.headers.get("x-customer-transaction-id", ""),
            "output": {"completeTrackResults": results}})

    app.router.add_post("/oauth/token", token)
    app.router.add_post("/track/v1/trackingnumbers", trackingnumbers)
