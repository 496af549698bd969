"""PostNL Shipping Status v2: ``apikey`` header; per barcode and ``updatedshipments``.

State: ``api.responses[("postnl", barcode)]``; ``api.updated[customer_number]`` is the next
``updatedshipments`` answer (consumed when served).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi


def install(api: FakeCarrierApi, app: web.Application) -> None:
    async def barcode(request: web.Request) -> web.Response:
        number = request.match_info["barcode"]
        if request.headers.get("apikey") != api.postnl_key:
            return api.json("postnl", request, number, 401, {"fault": {"faultstring": "Invalid ApiKey"}})
        scripted = await api.scripted("postnl", request, number)
        if scripted is not None:
            return scripted
        with api.lock:
            body = api.responses.get(("postnl", number))
        if body is None:  # PostNL answers an unknown barcode with an empty status
            return api.json("postnl", request, number, 200, {"CurrentStatus": {"Shipment": []}})
        return api.json("postnl", request, number, 200, body())

    async def updated(request: web.Request) -> web.Response:
        if request.headers.get("apikey") != api.postnl_key:
            return api.json("postnl", request, None, 401, {"fault": {"faultstring": "Invalid ApiKey"}})
        periods = request.query.getall("period", [])
        if len(periods) != 2:
            return api.json("postnl", request, None, 400, {"Errors": [{"Description": "period twice"}]})
        with api.lock:
            items = api.updated.pop(request.match_info["customer"], [])
        return api.json("postnl", request, None, 200, items)

    app.router.add_get("/shipment/v2/status/barcode/{barcode}", barcode)
    app.router.add_get("/shipment/v2/status/{customer}/updatedshipments", updated)
