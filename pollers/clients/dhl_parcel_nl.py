"""DHL Parcel NL (DHL eCommerce Benelux): the native track-trace gateway, or DHL's Unified API.

**Native** (default, no credentials): ``GET https://api-gw.dhlparcel.nl/track-trace?key=<part>[,<part>...]``
where a part is ``<barcode>+<postcode>`` or just ``<barcode>``.

* No authentication: DHL's API guide (chapter 5, Track and Trace, api-gw-accept.dhlparcel.nl/docs)
  says a token is only needed to create labels, not to track.
* ``key`` is "a comma separated list of keyparts ... barcode+postalcode; querying with a single
  barcode is also possible, in which case the API returns a reduced set of information" (DHL's API
  description, dhlparcel/dhl-api-wrapper ``getTrackAndTrace.php``). The receiver's postcode is
  ``Target.postcode`` (the registration's ``destination_postcode``), sent without spaces and
  upper-cased (``1234 ab`` → ``1234AB``); a postcode with other characters is left out rather than
  risk a rejected batch. The ``+`` is sent as ``%2B``: a bare ``+`` in a query string reads as a
  space (DHL Parcel API docs, chapter 5, Track and Trace).
* The answer is a JSON array of parcels even for one key, passed on untouched; the numbers asked
  for go in ``X-Trackstream-Tracking-Number`` (comma-joined), which the adapter uses to keep the
  registered number when it is one of a parcel's ``barcodes[]`` aliases. An unknown barcode is
  HTTP 404 ``No parcel found for the given key(s)``.
* **Batch: 20 keys per request.** DHL documents the list but no maximum. 20 parts of at most ~35
  characters (a 24-character barcode, ``%2B``, a postcode) keep the URL under 1 KB, far from the
  8 KB request-line limits of common gateways, and bound what one malformed key (a 400 for the
  whole request) holds back; at the default rate that is still 40 parcels per second. Whether a
  batch with one unknown key answers the known parcels or a 404 is not documented: a 404 batch is
  bisected (``pollers.clients.batching``) so the known parcels still come through.
* **Rate:** DHL publishes no limit for this open endpoint; the default is a polite 2 requests per
  second per account.

**Unified** (when the account has ``credentials.api_key``): ``GET https://api-eu.dhl.com/track/shipments
?trackingNumber=<n>&service=parcel-nl[&recipientPostalCode=<postcode>]`` with header
``DHL-API-Key`` (karrio ``dhl_universal`` proxy; DHL developer portal). One number per request.
Default rate: the developer portal's initial service level for this API, 250 calls per day at most
1 per second (developer.dhl.com "Rate limits"; higher levels on request: set ``rate_limit``). A 404
``problem+json`` is its not-found answer.

Credentials: none (native), or ``api_key`` (Unified API).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from pollers.accounts import Account, RateLimit
from pollers.clients.base import CarrierClient, Fetched, Target, answer
from pollers.clients.batching import fetch_bisecting
from pollers.http import CarrierHttp

UNIFIED_BASE_URL = "https://api-eu.dhl.com"
UNIFIED_RATE = RateLimit(250, 86_400)
_POSTCODE = re.compile(r"^[A-Z0-9-]{2,10}$")
_SPACES = re.compile(r"\s+")


def clean_postcode(postcode: str | None) -> str | None:
    """The postcode as DHL's key expects it (``1234AB``), or None when there is none usable."""
    if not postcode:
        return None
    value = _SPACES.sub("", postcode).upper()
    return value if _POSTCODE.match(value) else None


def key_part(target: Target) -> str:
    """One ``key`` list item, percent-encoded: ``<barcode>%2B<postcode>`` or ``<barcode>``."""
    postcode = clean_postcode(target.postcode)
    part = f"{target.tracking_number}+{postcode}" if postcode else target.tracking_number
    return quote(part, safe="")


class DHLParcelNLClient(CarrierClient):
    carrier = "dhl_parcel_nl"
    default_base_url = "https://api-gw.dhlparcel.nl"
    default_rate = RateLimit(2, 1)
    max_batch = 20
    required_credentials = ()

    def __init__(self, account: Account, http: CarrierHttp) -> None:
        super().__init__(account, http)
        self.unified = self.uses_unified(account)

    @classmethod
    def resolved_base_url(cls, account: Account) -> str:
        if account.base_url:
            return account.base_url
        return UNIFIED_BASE_URL if cls.uses_unified(account) else cls.default_base_url

    @staticmethod
    def uses_unified(account: Account) -> bool:
        return bool(account.credentials.get("api_key"))

    @classmethod
    def rate_limit(cls, account: Account) -> RateLimit:
        if account.rate_limit is not None:
            return account.rate_limit
        return UNIFIED_RATE if cls.uses_unified(account) else cls.default_rate

    @classmethod
    def batch_size(cls, account: Account) -> int:
        return 1 if cls.uses_unified(account) else super().batch_size(account)

    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        if self.unified:
            return [await self._unified(target) for target in targets]
        return await fetch_bisecting(targets, self._native)

    async def _native(self, targets: Sequence[Target]) -> Fetched:
        url = f"{self.base_url}/track-trace?key={','.join(key_part(t) for t in targets)}"
        resp = await self.http.request("GET", url, headers={"Accept": "application/json"})
        numbers = tuple(t.tracking_number for t in targets)
        return answer(resp, numbers)

    async def _unified(self, target: Target) -> Fetched:
        params = {"trackingNumber": target.tracking_number, "service": "parcel-nl"}
        postcode = clean_postcode(target.postcode)
        if postcode:
            params["recipientPostalCode"] = postcode
        resp = await self.http.request("GET", f"{self.base_url}/track/shipments", params=params,
                                       headers={"DHL-API-Key": self.account.credential("api_key"),
                                                "Accept": "application/json"})
        return answer(resp, (target.tracking_number,))
