"""DHL Express MyDHL API ``GET /mydhlapi/tracking?shipmentTrackingNumber=…`` (HTTP Basic; up to 200
numbers; ``trackingView`` / ``levelOfDetail`` enums), answering ``{"shipments": [...]}`` with the
shipments it knows and a 404 problem document (``instance``/``detail``/``title``/``status``) when it
knows none, as the MyDHL OpenAPI describes it.

State:
* ``api.responses[("dhl_express", waybill)]``: one shipment object (``mydhl_shipment``).
* ``api.state["dhl_express.auth"]``: the (username, password) accepted (``AUTH``).
* ``api.state["dhl_express.requests"]``: every request's ``query`` (a list of (name, value) pairs)
  and ``headers``.
* ``api.state["dhl_express.all_or_nothing"] = True``: a batch with any unknown number answers 404.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi

CARRIER = "dhl_express"
AUTH = ("mydhl-user", "mydhl-pass")
MAX_NUMBERS = 200
VIEWS = {"all-checkpoints", "all-checkpoints-with-remarks", "last-checkpoint", "shipment-details-only",
         "advance-shipment", "bbx-children"}
DETAILS = {"shipment", "piece", "all"}


def mydhl_shipment(number: str, events: list[tuple[str, str, str, str, str]]) -> bytes:
    """A MyDHL shipment: events oldest first as (date, time, typeCode, description, "CODE|AREA-CC")."""
    items = []
    for date, time, code, text, area in events:
        area_code, _, area_text = area.partition("|")
        items.append({"date": date, "time": time, "typeCode": code, "description": text,
                      "serviceArea": [{"code": area_code, "description": area_text}]})
    return orjson.dumps({
        "shipmentTrackingNumber": number, "status": "Success", "shipmentTimestamp": "2026-11-19T10:00:00",
        "productCode": "P", "description": "DOCUMENTS",
        "shipperDetails": {"name": "", "postalAddress": {"countryCode": "DE"},
                           "serviceArea": [{"code": "LEJ", "description": "LEIPZIG-DE"}]},
        "receiverDetails": {"name": "", "postalAddress": {"countryCode": "NL"},
                            "serviceArea": [{"code": "AMS", "description": "AMSTERDAM-NL"}]},
        "totalWeight": 0.5, "unitOfMeasurements": "metric", "events": items,
        "pieces": [{"number": 1, "trackingNumber": f"JD0{number}", "events": []}],
    })


def _problem(api: FakeCarrierApi, request: web.Request, number: str | None, status: int, title: str,
             detail: str) -> web.Response:
    api.record(CARRIER, request, number, status)
    return web.Response(status=status, content_type="application/json", body=orjson.dumps(
        {"instance": "/expressapi/tracking", "detail": detail, "title": title, "message": title,
         "status": str(status)}))


def install(api: FakeCarrierApi, app: web.Application) -> None:
    async def tracking(request: web.Request) -> web.Response:
        numbers = request.query.getall("shipmentTrackingNumber", [])
        label = ",".join(numbers) or None
        with api.lock:
            user, password = api.state.get("dhl_express.auth", AUTH)
            api.state.setdefault("dhl_express.requests", []).append(
                {"query": list(request.query.items()), "headers": dict(request.headers)})
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _problem(api, request, label, 401, "Unauthorized", "Invalid Credentials")
        view = request.query.get("trackingView", "all-checkpoints")
        detail = request.query.get("levelOfDetail", "shipment")
        if not numbers or len(numbers) > MAX_NUMBERS or view not in VIEWS or detail not in DETAILS:
            return _problem(api, request, label, 400, "Bad request",
                            f"shipmentTrackingNumber: 1 to {MAX_NUMBERS} values; trackingView/levelOfDetail enums")
        scripted = await api.scripted(CARRIER, request, label)
        if scripted is not None:
            return scripted
        with api.lock:
            bodies = [api.responses.get((CARRIER, n)) for n in numbers]
            strict = bool(api.state.get("dhl_express.all_or_nothing"))
        found: list[dict[str, Any]] = [orjson.loads(body()) for body in bodies if body is not None]
        if not found or (strict and len(found) < len(numbers)):
            return _problem(api, request, label, 404, "Not Found", "Shipment not found")
        for shipment in found:
            if view == "last-checkpoint":
                shipment["events"] = shipment["events"][-1:]
            if detail == "shipment":
                shipment.pop("pieces", None)
        return api.json(CARRIER, request, label, 200, {"shipments": found})

    app.router.add_get("/mydhlapi/tracking", tracking)
