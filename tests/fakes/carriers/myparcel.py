"""MyParcel API: ``GET /shipments?barcode=…`` (shipment search) and ``GET /tracktraces/{id;id…}``,
``Authorization: basic base64(api_key)`` (``bearer`` accepted too, as the docs' examples write it).

Bodies as MyParcel's developer docs (§6.E search result, §6.G tracktraces,
``samples/myparcel/tracktraces-response-doc-example.json``). State: ``state(api)``
(``api.state["myparcel"]``): the API key accepted and the shipments MyParcel knows (id → barcode);
``api.responses[("myparcel", barcode)]`` is that shipment's TrackTrace object (``tracktrace``).
A shipment id MyParcel does not know gives no TrackTrace; ids none of which it knows give 404 (with
``strict_ids``, one unknown id does).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi

MAIN = {2: "registered", 3: "handed_to_carrier", 4: "sorting", 5: "distribution", 7: "delivered"}


@dataclass
class MyParcelState:
    api_key: str = "mp-api-key"
    shipments: dict[int, str] = field(default_factory=dict)  # MyParcel shipment id -> barcode
    lookups: list[str] = field(default_factory=list)  # barcodes searched with GET /shipments
    tracktrace_ids: list[list[int]] = field(default_factory=list)  # ids of each GET /tracktraces
    #: True: one id MyParcel does not have makes the whole call a 404 (the docs do not say which
    #: MyParcel does; False: the ids it has are answered, and only none known is a 404)
    strict_ids: bool = False

    def add(self, shipment_id: int, barcode: str) -> None:
        self.shipments[shipment_id] = barcode


def state(api: FakeCarrierApi) -> MyParcelState:
    with api.lock:
        found = api.state.setdefault("myparcel", MyParcelState())
    assert isinstance(found, MyParcelState)
    return found


def tracktrace(shipment_id: int, barcode: str, history: list[tuple[str, int, str, str]]) -> bytes:
    """A PostNL TrackTrace: ``history`` items (PostNL code, MyParcel status, description,
    ``YYYY-MM-DD HH:MM:SS``), oldest first; the last one is also the object's current status."""
    *earlier, (code, status, text, stamp) = history
    link = f"https://postnl.nl/tracktrace/?B={barcode}&P=2132JE&D=NL&T=C&L=NL"
    return orjson.dumps({
        "shipment_id": shipment_id, "carrier_id": 1, "code": code, "description": text, "time": stamp,
        "link_consumer_portal": link, "link_tracktrace": link,
        "recipient": {"cc": "NL", "postal_code": "2132JE", "city": "Hoofddorp", "street": "Antareslaan",
                      "number": "31", "person": "Mr. Parcel"},
        "options": {"package_type": 1}, "pickup": None, "delayed": False, "location": None,
        "status": {"current": status, "main": MAIN.get(status), "final": status == 7},
        "history": [{"code": c, "status": s, "main": MAIN.get(s), "description": t, "time": at, "delayed": False,
                     "location": None} for c, s, t, at in earlier],
    })


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {"errors": [{"status": status, "code": code, "title": message, "message": message}], "message": message}


def install(api: FakeCarrierApi, app: web.Application) -> None:
    st = state(api)

    def authorised(request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        expected = base64.b64encode(st.api_key.encode()).decode()
        return scheme.lower() in ("basic", "bearer") and value.strip() == expected \
            and bool(request.headers.get("User-Agent"))

    async def shipments(request: web.Request) -> web.Response:
        barcode = request.query.get("barcode", "")
        if not authorised(request):
            return api.json("myparcel", request, barcode or None, 401, _error(401, 3000, "Access Denied"))
        scripted = await api.scripted("myparcel", request, barcode or None)
        if scripted is not None:
            return scripted
        with api.lock:
            st.lookups.append(barcode)
            found = [{"id": sid, "barcode": code, "carrier_id": 1, "status": 3, "reference_identifier": None}
                     for sid, code in st.shipments.items() if not barcode or code.upper() == barcode.upper()]
        return api.json("myparcel", request, barcode or None, 200,
                        {"data": {"shipments": found, "results": len(found)}})

    async def tracktraces(request: web.Request) -> web.Response:
        raw = request.match_info["ids"]
        if not authorised(request):
            return api.json("myparcel", request, raw, 401, _error(401, 3000, "Access Denied"))
        try:
            ids = [int(part) for part in raw.split(";")]
        except ValueError:
            return api.json("myparcel", request, raw, 400, _error(400, 3212, "Invalid shipment id"))
        with api.lock:
            st.tracktrace_ids.append(ids)
        scripted = await api.scripted("myparcel", request, raw)
        if scripted is not None:
            return scripted
        entries = []
        with api.lock:
            for sid in ids:
                barcode = st.shipments.get(sid)
                found = api.responses.get(("myparcel", barcode)) if barcode else None
                if found is not None:
                    entries.append(orjson.loads(found()))
        if (st.strict_ids and not all(sid in st.shipments for sid in ids)) \
                or not any(sid in st.shipments for sid in ids):
            return api.json("myparcel", request, raw, 404, _error(404, 3001, "Shipment not found"))
        return api.json("myparcel", request, raw, 200, {"data": {"tracktraces": entries}})

    app.router.add_get("/shipments", shipments)
    app.router.add_get("/tracktraces/{ids}", tracktraces)
