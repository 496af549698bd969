"""GLS Netherlands via GLS Group "Track And Trace V1" (OpenAPI 1.0.7, as vendored by karrio:
``modules/connectors/gls/vendor/ecitrackandtrace.yaml``).

* ``GET https://api.gls-group.net/track-and-trace-v1/tracking/simple/trackids/{unitnos}``: the parcel
  numbers comma-separated in the path, "a maximum limit of 10 parcel IDs per request" (**batch:
  10**; 11 is a 400 "more than allowed limit of 10"). Events are included by default
  (``showEvents`` defaults to true). The answer ``{"parcels": [...]}`` is passed on untouched.
* Auth: OAuth2 client credentials at ``/oauth2/v1/token`` (the spec's ``tokenUrl``), the client id
  and secret sent as HTTP Basic (RFC 6749 §2.3.1; karrio's GLS connector does the same); the
  bearer token is cached and refreshed before it expires or when the API answers 401
  (``steps.jwt.TokenExpired``).
* Errors come per parcel inside a 200: ``errorCode`` ``E_404_01`` (not found) and the others are
  for the adapter. ``E_500_01`` ("Internal Server Error") for *every* parcel of a response is GLS
  failing, not an answer: it raises ``TransientError`` (retried with the error backoff, nothing
  published) instead of reaching the dead-letter topic. GLS answers 404 only to a wrong call ("No
  static resource"): ``RequestRejected``, never "not found" for the whole batch.
* **Rate: 500 requests per day**, GLS's default quota ("By default, clients are limited to 500
  requests per day"; more on request to GLS: set ``rate_limit``). The token bucket spreads them
  evenly: one request every 173 s, 10 parcels each, so at most 5,000 parcel polls a day.
  Exceeding the quota is a 429 ``policies.ratelimit.QuotaViolation``.

Credentials: ``client_id``, ``client_secret`` (GLS developer portal app).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import orjson

from pollers.accounts import Account, RateLimit
from pollers.clients.base import CarrierClient, Fetched, Target, answer
from pollers.http import CarrierHttp, OAuthClientCredentials, RequestRejected, TransientError

INTERNAL_ERROR = "E_500_01"


def parcels_of(body: bytes) -> list[Any]:
    """The ``parcels`` of a Track And Trace answer, as given (none when it is not one)."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    parcels = data.get("parcels") if isinstance(data, dict) else None
    return parcels if isinstance(parcels, list) else []


def internal_error_only(parcels: Sequence[Any]) -> bool:
    """Whether every parcel is ``E_500_01`` (GLS failed, retry later)."""
    return bool(parcels) and all(isinstance(p, dict) and p.get("errorCode") == INTERNAL_ERROR for p in parcels)


def parcel_errors(parcels: Sequence[Any]) -> dict[str, str]:
    """Parcels GLS answered with an error other than "not found" (``E_404_*``): requested id → reason."""
    out: dict[str, str] = {}
    for parcel in parcels:
        if not isinstance(parcel, dict):
            continue
        code, requested = str(parcel.get("errorCode") or ""), str(parcel.get("requested") or "").strip()
        if code and requested and not code.upper().startswith("E_404"):
            out[requested.upper()] = f"GLS {code}: {parcel.get('errorMessage') or ''}".strip()
    return out


class GLSNLClient(CarrierClient):
    carrier = "gls_nl"
    default_base_url = "https://api.gls-group.net"
    default_rate = RateLimit(500, 86_400)
    max_batch = 10
    required_credentials = ("client_id", "client_secret")

    def __init__(self, account: Account, http: CarrierHttp) -> None:
        super().__init__(account, http)
        self.oauth = OAuthClientCredentials(
            http, f"{self.base_url}/oauth2/v1/token", account.credential("client_id"),
            account.credential("client_secret"), basic_auth=True,
        )

    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        numbers = tuple(t.tracking_number for t in targets)
        ids = ",".join(quote(n, safe="") for n in numbers)
        url = f"{self.base_url}/track-and-trace-v1/tracking/simple/trackids/{ids}"
        resp = await self.oauth.request("GET", url, headers={"Accept": "application/json"})
        if resp.status == 404:  # parcels GLS does not know are E_404_01 inside a 200; a 404 is a wrong URL
            raise RequestRejected(f"GET {url}: HTTP 404 (GLS: wrong call, check base_url): {resp.body[:200]!r}")
        parcels = parcels_of(resp.body) if resp.status == 200 else []
        if internal_error_only(parcels):
            raise TransientError(f"GET {url}: GLS answered {INTERNAL_ERROR} (internal error) for every parcel")
        failed = parcel_errors(parcels)
        return [answer(resp, numbers, failed={n: failed[n.upper()] for n in numbers if n.upper() in failed})]
