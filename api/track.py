"""The partner tracking view: ``GET /v1/track/{carrier}/{tracking_number}`` and, when the number's
format names its carrier, ``GET /v1/track/{tracking_number}``.

For keys with scope ``track`` (marketplaces, payment providers, insurers, helpdesks): status,
substatus, the timeline, the last location as city and country only, the estimated delivery (null
until trackstream estimates one). Personal data (order number, customer, postcode, the carrier's
free location text and coordinates) only for a key whose grant includes it
(``Principal.personal_data``). Another customer's shipment answers 404 exactly like an unknown one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from psycopg.rows import dict_row

from api.access import Principal, principal_of, requires
from api.context import DB
from api.errors import ApiError, json_response
from api.query import _jsonable
from carriers.detect import candidates, detect_carrier
from schemas.events import normalize_tracking_number, shipment_key

_FIELDS = (
    "shipment_key, carrier, tracking_number, status, substatus, status_code, status_description, last_event_at, "
    "first_event_at, delivered_at, last_location, event_count, destination_country, updated_at, "
    "order_number, customer, destination_postcode, service_level, despatched_at, promised_delivery_date"
)
PERSONAL = ("order_number", "customer", "destination_postcode", "service_level", "despatched_at",
            "promised_delivery_date")


def place(location: dict[str, Any] | None, personal: bool) -> dict[str, Any] | None:
    """A location as the view shows it: city and country, the rest only with personal data."""
    if not location:
        return None
    if personal:
        return location
    return {"city": location.get("city"), "country": location.get("country")}


def view(row: dict[str, Any], events: list[dict[str, Any]], principal: Principal) -> dict[str, Any]:
    personal = principal.personal_data
    shipment = _jsonable(row)
    body: dict[str, Any] = {
        "shipment_key": shipment["shipment_key"], "carrier": shipment["carrier"],
        "tracking_number": shipment["tracking_number"], "status": shipment["status"],
        "substatus": shipment["substatus"], "code": shipment["status_code"],
        "description": shipment["status_description"], "last_event_at": shipment["last_event_at"],
        "delivered_at": shipment["delivered_at"], "last_location": place(row["last_location"], personal),
        "destination_country": shipment["destination_country"], "estimated_delivery": None,
        "updated_at": shipment["updated_at"],
    }
    if personal:
        body.update({name: shipment[name] for name in PERSONAL})
    body["events"] = [{
        "event_id": e["event_id"], "occurred_at": e["occurred_at"], "status": e["status"],
        "substatus": e["substatus"], "code": e["code"], "description": e["description"],
        "location": place(e["location"], personal),
    } for e in map(_jsonable, events)]
    return body


async def _answer(request: web.Request, keys: list[str]) -> web.Response:
    principal = principal_of(request)
    async with request.app[DB].connection() as conn:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT {_FIELDS} FROM shipments WHERE shipment_key = ANY(%s)", (keys,))
            rows = [r for r in await cur.fetchall() if principal.sees(r["customer"])]  # others': as if absent
            if not rows:
                raise ApiError(404, "shipment_not_found", f"no shipment {' or '.join(keys)}")
            if len(rows) > 1:
                raise ApiError(409, "carrier_ambiguous", "several carriers have this tracking number: name the "
                               "carrier (GET /v1/track/{carrier}/{tracking_number})",
                               carriers=sorted(r["carrier"] for r in rows))
            row = rows[0]
            await cur.execute(
                "SELECT event_id, occurred_at, status, substatus, code, description, location FROM tracking_events "
                "WHERE shipment_key = %s ORDER BY occurred_at, event_id", (row["shipment_key"],))
            events = list(await cur.fetchall())
    return json_response(view(row, events, principal))


@requires("track")
async def track(request: web.Request) -> web.Response:
    return await _answer(request, [shipment_key(request.match_info["carrier"], request.match_info["tracking_number"])])


@requires("track")
async def track_detected(request: web.Request) -> web.Response:
    """The carrier from the number's format: the one carrier it fits (``detect_carrier``), or when
    it fits several, the one of them that has the shipment."""
    number = normalize_tracking_number(request.match_info["tracking_number"])
    carrier = detect_carrier(number)
    fitting = [carrier] if carrier is not None else candidates(number)
    if not fitting:
        raise ApiError(422, "carrier_unknown", "the tracking number's format does not identify a carrier: "
                       "name it (GET /v1/track/{carrier}/{tracking_number})")
    return await _answer(request, [shipment_key(c, number) for c in fitting])
