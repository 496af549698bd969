"""DHL Parcel NL: the native gateway ``GET /track-trace?key=<barcode>[+<postcode>][,...]`` (no
authentication; a JSON array of parcels, 404 ``No parcel found for the given key(s)``) and the
Unified API ``GET /track/shipments?trackingNumber=…&service=parcel-nl`` (``DHL-API-Key``; 404
``problem+json``), as DHL's API documentation (api-gw.dhlparcel.nl/docs) and karrio's
``dhl_universal`` tracking tests show them.

State:
* ``api.responses[("dhl_parcel_nl", key)]``: one native parcel object (``native_parcel``), found by
  the barcode part of a key (set it under an alias too to answer for the alias).
* ``api.responses[("dhl_parcel_nl:unified", number)]``: one Unified shipment (``unified_shipment``).
* ``api.state["dhl_parcel_nl.keys"]``: per native request, the ``(barcode, postcode)`` pairs it
  carried, decoded the way a server decodes a query string (a bare ``+`` is a space).
* ``api.state["dhl_parcel_nl.all_or_nothing"] = True``: a batch with any unknown key answers 404
  (DHL does not document which of the two behaviours it has).
* ``api.state["dhl_parcel_nl.api_key"]``: the Unified API key accepted (``UNIFIED_KEY``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi

CARRIER = "dhl_parcel_nl"
UNIFIED = "dhl_parcel_nl:unified"
UNIFIED_KEY = "dhl-unified-key"
NOT_FOUND_TEXT = "No parcel found for the given key(s)"
_NL = ZoneInfo("Europe/Amsterdam")


def native_parcel(barcode: str, events: list[tuple[str, str, str]], *, aliases: tuple[str, ...] = (),
                  is_return: bool = False) -> bytes:
    """A native track-trace parcel: events as (category, status, UTC ``YYYY-MM-DDTHH:MM:SSZ``)."""
    out: list[dict[str, Any]] = []
    for category, status, stamp in events:
        instant = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        out.append({"category": category, "status": status, "timestamp": stamp.replace("Z", ".000Z"),
                    "localTimestamp": instant.astimezone(_NL).isoformat(),
                    "facility": {"city": "Utrecht", "countryCode": "NL"}})
    return orjson.dumps({"barcode": barcode, "barcodes": [barcode, *aliases], "events": out,
                         "isReturn": is_return, "type": "RETOUR" if is_return else "NORMAL"})


def unified_shipment(number: str, events: list[tuple[str, str, str, str]]) -> bytes:
    """A Unified API shipment: events as (statusCode, status, ISO timestamp, description), newest first."""
    items = [{"timestamp": stamp, "statusCode": code, "status": status, "description": text,
              "location": {"address": {"countryCode": "NL", "postalCode": "3542AD", "addressLocality": "Utrecht"}}}
             for code, status, stamp, text in events]
    return orjson.dumps({"id": number, "service": "parcel-nl", "status": items[0] if items else {},
                         "events": items})


def _problem(api: FakeCarrierApi, carrier: str, request: web.Request, number: str | None, status: int,
             title: str, detail: str) -> web.Response:
    api.record(carrier, request, number, status)
    return web.Response(status=status, content_type="application/problem+json", body=orjson.dumps(
        {"title": title, "detail": detail, "status": status, "instance": request.path}))


def install(api: FakeCarrierApi, app: web.Application) -> None:
    async def track_trace(request: web.Request) -> web.Response:
        raw = request.query.get("key", "")
        keys: list[tuple[str, str | None]] = []
        for part in (p for p in raw.split(",") if p):
            barcode, plus, postcode = part.partition("+")
            keys.append((barcode, postcode if plus else None))
        label = ",".join(barcode for barcode, _ in keys) or None
        with api.lock:
            api.state.setdefault("dhl_parcel_nl.keys", []).append(keys)
        if not keys:
            return _problem(api, CARRIER, request, None, 400, "Bad Request", "key is required")
        scripted = await api.scripted(CARRIER, request, label)
        if scripted is not None:
            return scripted
        with api.lock:
            bodies = [api.responses.get((CARRIER, barcode)) for barcode, _ in keys]
            strict = bool(api.state.get("dhl_parcel_nl.all_or_nothing"))
        found = [orjson.loads(body()) for body in bodies if body is not None]
        if not found or (strict and len(found) < len(keys)):
            api.record(CARRIER, request, label, 404)
            return web.Response(status=404, text=NOT_FOUND_TEXT, content_type="text/plain")
        return api.json(CARRIER, request, label, 200, found)

    async def unified(request: web.Request) -> web.Response:
        number = request.query.get("trackingNumber", "")
        with api.lock:
            key = api.state.get("dhl_parcel_nl.api_key", UNIFIED_KEY)
        if request.headers.get("DHL-API-Key") != key:
            return _problem(api, UNIFIED, request, number, 401, "Unauthorized", "Unauthorized for given resource.")
        if not number:
            return _problem(api, UNIFIED, request, None, 400, "Bad Request", "trackingNumber is required")
        scripted = await api.scripted(UNIFIED, request, number)
        if scripted is not None:
            return scripted
        with api.lock:
            body = api.responses.get((UNIFIED, number))
            api.state.setdefault("dhl_parcel_nl.unified_queries", []).append(dict(request.query))
        if body is None or request.query.get("service", "parcel-nl") != "parcel-nl":
            return _problem(api, UNIFIED, request, number, 404, "No result found",
                            "No shipment with given tracking number found.")
        return api.json(UNIFIED, request, number, 200, {"shipments": [orjson.loads(body())]})

    app.router.add_get("/track-trace", track_trace)
    app.router.add_get("/track/shipments", unified)
