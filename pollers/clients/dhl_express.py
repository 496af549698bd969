"""DHL Express, MyDHL API: ``GET https://express.api.dhl.com/mydhlapi/tracking`` with HTTP Basic.

* Request: ``shipmentTrackingNumber`` repeated once per waybill (an array query parameter, "supports
  up to 200 tracking numbers"; operation ``exp-api-shipments-tracking-multi`` of the MyDHL OpenAPI;
  karrio's ``mydhl`` connector sends it the same way), ``trackingView=all-checkpoints`` (every
  checkpoint, not only the last) and ``levelOfDetail=all`` (shipment and piece events; the adapter
  falls back to piece events when a shipment has none). Headers: ``Authorization: Basic`` with the
  MyDHL API username and password, ``Accept: application/json``, and an optional
  ``Message-Reference`` (a fresh UUID, 36 characters; the spec asks for 28-36) so a request can be
  found in DHL's logs.
* ``requestGMTOffsetPerEvent`` is only defined for the single-shipment operation
  (``/shipments/{n}/tracking``), so it is not sent: without it event times are local to the
  service area and the adapter resolves them from the service area's zone. Always using the same
  operation keeps event ids stable (they derive from the UTC instant): mixing answers with and
  without offsets could place one scan at two instants.
* **Batch: 200** numbers per request (the documented maximum). The response lists the shipments
  found (``{"shipments": [...]}``, passed on untouched); a 404 problem document means not found.
  What a batch with some unknown waybills answers is not documented, so a 404 batch is bisected
  (``pollers.clients.batching``) to let the known ones through.
* **Rate:** DHL publishes no per-second figure for MyDHL API tracking (limits are set per
  customer); the default is 1 request per second (the DHL developer portal's starter level for
  its tracking APIs), i.e. up to 200 waybills per second. Set ``rate_limit`` to what DHL granted.

Credentials: ``username``, ``password`` (MyDHL API). Test environment:
``base_url: https://express.api.dhl.com/mydhlapi/test``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence

from pollers.accounts import Account, RateLimit
from pollers.clients.base import CarrierClient, Fetched, Target, answer
from pollers.clients.batching import fetch_bisecting
from pollers.http import CarrierHttp


class DHLExpressClient(CarrierClient):
    carrier = "dhl_express"
    default_base_url = "https://express.api.dhl.com/mydhlapi"
    default_rate = RateLimit(1, 1)
    max_batch = 200
    required_credentials = ("username", "password")

    def __init__(self, account: Account, http: CarrierHttp) -> None:
        super().__init__(account, http)
        pair = f"{account.credential('username')}:{account.credential('password')}".encode()
        self._authorization = "Basic " + base64.b64encode(pair).decode("ascii")

    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        return await fetch_bisecting(targets, self._tracking)

    async def _tracking(self, targets: Sequence[Target]) -> Fetched:
        numbers = tuple(t.tracking_number for t in targets)
        params = [("shipmentTrackingNumber", n) for n in numbers]
        params += [("trackingView", "all-checkpoints"), ("levelOfDetail", "all")]
        resp = await self.http.request("GET", f"{self.base_url}/tracking", params=params, headers={
            "Authorization": self._authorization, "Accept": "application/json",
            "Message-Reference": str(uuid.uuid4()),
        })
        return answer(resp, numbers)
