"""FedEx Track API v1: ``POST https://apis.fedex.com/track/v1/trackingnumbers`` with an OAuth2 bearer token.

* Token: ``POST /oauth/token``, form body ``grant_type=client_credentials&client_id=…&client_secret=…``
  (FedEx API Authorization; the form-body variant public FedEx integrations use). Cached,
  refreshed a minute before the ``expires_in`` FedEx sends, or when the API answers 401
  ``NOT.AUTHORIZED.ERROR`` ("Access token expired").
* Body: ``{"includeDetailedScans": true, "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": …}}, …]}``
  (karrio's vendored Track OpenAPI, ``track.json``); without ``includeDetailedScans`` FedEx
  answers no ``scanEvents`` and the adapter has nothing to read. Headers: ``Content-Type:
  application/json``, ``X-locale: en_US``, and ``x-customer-transaction-id`` (a fresh UUID, echoed as
  ``customerTransactionId``, for FedEx support).
* **Batch: 30** numbers per request: FedEx's Track by Tracking Number reference (in its FedEx
  Freight edition: "maximum 30 tracking numbers per request") and the limit public Track API v1
  clients enforce; for Track API v1 itself FedEx publishes no figure. Not-found numbers
  come back as per-result ``TRACKING.TRACKINGNUMBER.NOTFOUND`` errors inside a 200, so one unknown
  number never hides the others; the response is passed on untouched (the adapter reads several
  results per number). FedEx's 404 (``NOT.FOUND.ERROR``, "the
  resource you requested is no longer available") means a wrong URL: ``RequestRejected``.
* **Rate** (developer.fedex.com "Quotas & rate limits guide"): 1,400 transactions per 10 s per
  project (fixed 10-second windows, then 429 for the rest of the window), and a default quota of
  100,000 Track requests per day per project (then 429 "Daily transaction quota exceeded" until
  midnight GMT). The daily quota binds first for continuous polling (1,400 per 10 s would spend it
  in 12 minutes), so the default is 100,000 per day (1.16 requests per second, 34 numbers per
  second in full batches) with a burst of 140, which can never reach 1,400 in one window. Set
  ``rate_limit`` when FedEx granted more.

Credentials: ``client_id`` (API key), ``client_secret`` (secret key) of a FedEx developer project
with the Track API. Sandbox: ``base_url: https://apis-sandbox.fedex.com``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import orjson

from pollers.accounts import Account, RateLimit
from pollers.clients.base import CarrierClient, Fetched, Target, answer
from pollers.http import CarrierHttp, OAuthClientCredentials, RequestRejected


def track_body(numbers: Sequence[str]) -> bytes:
    return orjson.dumps({
        "includeDetailedScans": True,
        "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in numbers],
    })


class FedExClient(CarrierClient):
    carrier = "fedex"
    default_base_url = "https://apis.fedex.com"
    default_rate = RateLimit(100_000, 86_400, burst=140)
    max_batch = 30
    required_credentials = ("client_id", "client_secret")

    def __init__(self, account: Account, http: CarrierHttp) -> None:
        super().__init__(account, http)
        self.oauth = OAuthClientCredentials(
            http, f"{self.base_url}/oauth/token", account.credential("client_id"),
            account.credential("client_secret"),
        )

    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        numbers = tuple(t.tracking_number for t in targets)
        resp = await self.oauth.request(
            "POST", f"{self.base_url}/track/v1/trackingnumbers", data=track_body(numbers),
            headers={"Content-Type": "application/json", "Accept": "application/json", "X-locale": "en_US",
                     "x-customer-transaction-id": str(uuid.uuid4())},
        )
        if resp.status == 404:  # unknown numbers are NOTFOUND results inside a 200; a 404 is a wrong URL
            raise RequestRejected(f"POST {self.base_url}/track/v1/trackingnumbers: HTTP 404 (check base_url): "
                                  f"{resp.body[:200]!r}")
        return [answer(resp, numbers)]
