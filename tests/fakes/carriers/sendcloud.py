"""Sendcloud tracking: v3 ``GET /api/v3/parcels/tracking/{number}`` and v2
``GET /api/v2/tracking/{number}``, HTTP Basic with the public and secret key.

Bodies as Sendcloud's OpenAPI examples (``samples/sendcloud/tracking-v*-response-doc-example.json``):
v3 answers an unknown number with 404 ``{"detail": "Parcel does not exist"}``, v2 with its
``{"error": {...}}`` object; wrong keys get 401. State: ``state(api)`` (``api.state["sendcloud"]``:
the key pair accepted); ``api.responses[("sendcloud", number)]`` is the v3 body,
``api.responses[("sendcloud_v2", number)]`` the v2 body (``v3_tracking`` / ``v2_tracking``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi


@dataclass
class SendcloudState:
    public_key: str = "sc-public"
    secret_key: str = "sc-secret"


def state(api: FakeCarrierApi) -> SendcloudState:
    with api.lock:
        found = api.state.setdefault("sendcloud", SendcloudState())
    assert isinstance(found, SendcloudState)
    return found


def v3_tracking(number: str, events: list[tuple[str, str, str]], *, carrier: str = "postnl") -> bytes:
    """A v3 parcel-tracking response: events (status_code, description, ISO ``Z`` time), oldest first."""
    return orjson.dumps({
        "announced_at": "2026-11-20T08:00:00Z", "created_at": "2026-11-20T08:00:00Z",
        "details": {"brand_id": 1, "expected_delivery_date": "2026-11-22", "integration_id": 2,
                    "is_mail_box": False, "is_return": False, "is_to_service_point": False},
        "events": [{"event_at": at, "event_type": "carrier", "status_code": code, "status_description": text,
                    "status_type": "success", "sub_status_code": "none"} for code, text, at in events],
        "source_id": "123",
        "to_address": {"city": "Eindhoven", "country_code": "NL", "postal_code": "5611 EM"},
        "tracking_numbers": [{"carrier_code": carrier, "tracking_number": number, "tracking_url": "https://example.com"}],
        "updated_at": events[-1][2] if events else "2026-11-20T08:00:00Z",
    })


def v2_tracking(parcel_id: str, statuses: list[tuple[str, str, str]], *, carrier: str = "postnl") -> bytes:
    """A v2 tracking response (no tracking number): statuses (parent_status, message,
    ``YYYY-MM-DD HH:MM:SS.ffffff+00:00``), newest first."""
    return orjson.dumps({
        "parcel_id": parcel_id, "carrier_code": carrier, "created_at": "2026-11-20 08:00:00.000000+00:00",
        "carrier_tracking_url": "", "sendcloud_tracking_url": "",
        "is_return": False, "is_to_service_point": False, "is_mail_box": False,
        "expected_delivery_date": "2026-11-22",
        "statuses": [{"carrier_update_timestamp": at, "parcel_status_history_id": str(100 + i),
                      "parent_status": slug, "carrier_code": carrier, "carrier_message": text}
                     for i, (slug, text, at) in enumerate(statuses)],
    })


def _json(api: FakeCarrierApi, request: web.Request, number: str, status: int, body: Any) -> web.Response:
    return api.json("sendcloud", request, number, status, body)


def install(api: FakeCarrierApi, app: web.Application) -> None:
    st = state(api)

    def authorised(request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{st.public_key}:{st.secret_key}".encode()).decode()
        return request.headers.get("Authorization") == expected

    async def v3(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        if not authorised(request):
            return _json(api, request, number, 401, {"errors": [
                {"status": "401", "code": "authentication_failed", "detail": "Invalid username/password."}]})
        scripted = await api.scripted("sendcloud", request, number)
        if scripted is not None:
            return scripted
        with api.lock:
            found = api.responses.get(("sendcloud", number))
        if found is None:
            return _json(api, request, number, 404, {"detail": "Parcel does not exist"})
        return _json(api, request, number, 200, found())

    async def v2(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        if not authorised(request):
            return _json(api, request, number, 401, {"error": {
                "code": 401, "request": f"api/v2/tracking/{number}", "message": "Invalid username/password."}})
        scripted = await api.scripted("sendcloud", request, number)
        if scripted is not None:
            return scripted
        with api.lock:
            found = api.responses.get(("sendcloud_v2", number))
        if found is None:
            return _json(api, request, number, 404, {"error": {
                "code": 404, "request": f"api/v2/tracking/{number}", "message": "No Parcel matches the given query."}})
        return _json(api, request, number, 200, found())

    app.router.add_get("/api/v3/parcels/tracking/{number}", v3)
    app.router.add_get("/api/v2/tracking/{number}", v2)
