"""MyParcel (NL/BE) ``/tracktraces``: the catch-up path behind its ``shipment_status_change`` webhook.

``GET {base}/tracktraces/{id}[;{id}…]?extra_info=delivery_moment`` returns one TrackTrace per
MyParcel shipment id, several per call (MyParcel developer docs §6.G "Track Shipment", which
recommends passing many ids per call because of the rate limit). Auth on every call:
``Authorization: basic base64(api_key)`` and a ``User-Agent`` (§1.B, §6.G.3). Credentials:
``api_key``. Base URL ``https://api.myparcel.nl``.

**Barcodes and shipment ids (decision).** trackstream tracks by the carrier's barcode (what the
webhook's ``barcode`` and the tracktraces' links carry, and what ``POST /v1/shipments`` registers),
while ``/tracktraces`` is keyed by MyParcel's own shipment id. The client resolves a barcode to its
shipment id once, with ``GET {base}/shipments?barcode=<barcode>`` (a ``barcode`` filter of
``GET /shipments`` in MyParcel's current OpenAPI, myparcelnl/sdk ``ShipmentApi::getShipments``; the
older developer docs §6.E offer the free-text ``q`` filter, which matches any field and so is not
used), keeps only a result whose ``barcode`` equals the one asked (case-insensitive), and remembers
the id in ``shipment_ids`` for the life of the client. The alternative, taking the id from the
registration (order number / reference), was rejected: a registration's order number is the
shop's, not MyParcel's id, and the poller's ``Target`` carries only the tracking number. The cost is
one lookup per shipment per poller lifetime (a restart or takeover resolves again, through the same
token bucket). A barcode MyParcel does not know (yet) is left out of the request: the service then
records it as not found and retries it at the not-found cadence; unknown barcodes are not
remembered, since the shipment may be created later.

Every response goes on untouched, with the barcodes of the ids asked in ``Fetched.numbers`` and,
comma-joined, in ``TRACKING_NUMBER_HEADER``. The adapter (``carriers/myparcel.py``) reads each
TrackTrace's barcode from its ``barcode`` field or its consumer-portal / track-and-trace link. The
docs do not say what a call with one id MyParcel no longer has answers: a 404 for several ids is
asked again in halves (``pollers.clients.batching.fetch_bisecting``), and a 404 for one id forgets
it (the shipment was deleted), so it is looked up again next time.

Batch: up to 30 ids per call (the default page ``size`` of ``/tracktraces``, §6.G, so one page
holds every answer). Rate: MyParcel limits ``GET /tracktraces`` per method and endpoint; its docs
give 100 calls per 5 minutes (developer docs §1.D and API release notes 3.300.0, 2022-09-07; the
public sources say 300). The default uses the stricter figure, shared with the ``/shipments``
lookups (override with ``rate_limit``); a 429 is backed off by ``CarrierHttp``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

import orjson

from carriers.myparcel import SHIPMENT_BARCODES_HEADER
from pollers.accounts import Account, RateLimit
from pollers.clients.base import CarrierClient, Fetched, Target, answer
from pollers.clients.batching import fetch_bisecting
from pollers.http import CarrierHttp

log = logging.getLogger(__name__)

USER_AGENT = "CustomApiCall/2 trackstream"


def _shipments(body: Any) -> list[dict[str, Any]]:
    """The shipment objects of a ``GET /shipments`` answer (``data.shipments``, or
    ``data.search_results.shipments`` as in the docs' search example)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return []
    found = data.get("shipments")
    if found is None and isinstance(data.get("search_results"), dict):
        found = data["search_results"].get("shipments")
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def shipment_id_for(body: bytes, barcode: str) -> int | None:
    """The id of the shipment whose ``barcode`` is ``barcode`` in a ``GET /shipments`` answer (the
    newest when several match), None when none does."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    wanted = barcode.strip().upper()
    ids = []
    for shipment in _shipments(parsed):
        found = shipment.get("id")
        if str(shipment.get("barcode") or "").strip().upper() == wanted and isinstance(found, int) \
                and not isinstance(found, bool):
            ids.append(found)
    return max(ids) if ids else None


class MyParcelClient(CarrierClient):
    carrier = "myparcel"
    default_base_url = "https://api.myparcel.nl"
    default_rate = RateLimit(100, 300)
    max_batch = 30
    required_credentials = ("api_key",)

    def __init__(self, account: Account, http: CarrierHttp) -> None:
        super().__init__(account, http)
        key = base64.b64encode(account.credential("api_key").encode()).decode()
        self._headers = {"Authorization": f"basic {key}", "User-Agent": USER_AGENT,
                         "Accept": "application/json;charset=utf-8"}
        self.shipment_ids: dict[str, int] = {}  # barcode (upper case) -> MyParcel shipment id
        self.lookups = 0  # GET /shipments calls made

    async def resolve(self, barcode: str) -> int | None:
        """MyParcel's shipment id for ``barcode`` (remembered once found)."""
        key = barcode.strip().upper()
        if key in self.shipment_ids:
            return self.shipment_ids[key]
        url = f"{self.base_url}/shipments"
        self.lookups += 1
        resp = await self.http.request("GET", url, params={"barcode": barcode}, headers=self._headers)
        if resp.status == 404:
            return None
        found = shipment_id_for(resp.body, barcode)
        if found is None:
            log.info("%s/%s: MyParcel has no shipment with barcode %s (yet)", self.carrier, self.account.name,
                     barcode)
            return None
        self.shipment_ids[key] = found
        return found

    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        known: list[Target] = []
        ids: set[int] = set()
        for target in targets:
            found = await self.resolve(target.tracking_number)
            if found is not None and found not in ids:
                ids.add(found)
                known.append(target)
        if not known:
            return []  # nothing MyParcel knows: the service records them as not found
        return await fetch_bisecting(known, self._tracktraces)

    async def _tracktraces(self, targets: Sequence[Target]) -> Fetched:
        barcodes = tuple(t.tracking_number for t in targets)
        ids = ";".join(str(self.shipment_ids[b.strip().upper()]) for b in barcodes)
        url = f"{self.base_url}/tracktraces/{ids}"
        resp = await self.http.request("GET", url, params={"extra_info": "delivery_moment"}, headers=self._headers)
        if resp.status == 404 and len(barcodes) == 1:
            self.shipment_ids.pop(barcodes[0].strip().upper(), None)  # gone at MyParcel: look it up again
        asked = ",".join(f"{self.shipment_ids[b.strip().upper()]}={b}" for b in barcodes
                         if b.strip().upper() in self.shipment_ids)
        return answer(resp, barcodes, headers={SHIPMENT_BARCODES_HEADER: asked})
