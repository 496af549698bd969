"""TNT: ExpressConnect Tracking XML 3.1, several consignment numbers per request.

``POST {base}/ectrack/track`` (FedEx-hosted ExpressConnect host ``https://necta.az.fxei.fedex.com``,
as karrioapi/community's TNT plugin uses it; see tests/fixtures/samples/tnt/SOURCES.md), form-encoded
(``application/x-www-form-urlencoded``) with one field ``xml_in`` holding the request::

    <TrackRequest locale="en_US" version="3.1">
      <SearchCriteria marketType="INTERNATIONAL" originCountry="NL">
        <ConsignmentNumber>…</ConsignmentNumber> …
      </SearchCriteria>
      <LevelOfDetail><Complete originAddress="true" destinationAddress="true"/></LevelOfDetail>
    </TrackRequest>

(``samples/tnt/expressconnect-track-request-v3.1.xml``; the ExpressConnect Tracking V3.1 technical
guide lists the ``marketType`` and ``originCountry`` attributes as mandatory for version 3.1 requests,
§3.8.2 in its table of contents), with HTTP Basic authentication and ``Accept: text/xml``.
``Complete`` returns every ``StatusData`` event.

Credentials: ``username``, ``password``; optional ``origin_country`` (default ``NL``) and
``market_type`` (``INTERNATIONAL`` (default) or ``DOMESTIC``).

The answer is one ``TrackResponse`` for all numbers (an unknown number comes back as a
``Consignment`` with ``SummaryCode`` ``CNF``; a number can come back several times, TNT reuses
them): it is passed untouched, with every number asked in ``Fetched.numbers`` and, comma-joined, in
``TRACKING_NUMBER_HEADER``. Wrong credentials are answered in the body, not with a status:
``<TrackResponse><Error><Code>9000</Code><Message>Unauthorized Access</Message></Error>``
(``samples/tnt/expressconnect-track-error-response.xml``): the client raises ``AuthError`` for it
(and for a 401/403). A 404 means a wrong URL (TNT answers unknown numbers with ``CNF``):
``RequestRejected``.

Batch: at most ``max_batch`` = 50 numbers per request (a conservative size; the public sources give
no hard cap, and larger answers risk TNT's continuation-key paging, which this client does not
follow). Rate: TNT publishes no request limit; the default is 2 requests per second per account
(up to 100 consignments per second), override with ``rate_limit``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from carriers._util import child_text, load_xml, local
from carriers.base import PayloadError
from pollers.accounts import Account, AccountsError, RateLimit
from pollers.clients.base import CarrierClient, Fetched, Target, answer
from pollers.http import AuthError, CarrierHttp, RequestRejected

TRACK_PATH = "/ectrack/track"
AUTH_ERROR_CODE = "9000"
MARKET_TYPES = ("INTERNATIONAL", "DOMESTIC")


def track_request(numbers: Sequence[str], origin_country: str, market_type: str) -> str:
    """The ``TrackRequest`` XML for these consignment numbers (complete level of detail)."""
    items = "".join(f"<ConsignmentNumber>{escape(n)}</ConsignmentNumber>" for n in numbers)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<TrackRequest locale="en_US" version="3.1">'
        f"<SearchCriteria marketType={quoteattr(market_type)} originCountry={quoteattr(origin_country)}>"
        f"{items}</SearchCriteria>"
        '<LevelOfDetail><Complete originAddress="true" destinationAddress="true"/></LevelOfDetail>'
        "</TrackRequest>"
    )


def auth_error(body: bytes) -> str | None:
    """The message of an ExpressConnect authorisation error (code 9000) in ``body``, else None."""
    if b"<Error" not in body[:4096]:
        return None
    try:
        root = load_xml(body)
    except PayloadError:
        return None
    for error in root.iter():
        if local(error.tag) != "Error":
            continue
        if child_text(error, "Code") == AUTH_ERROR_CODE:
            return child_text(error, "Message") or "Unauthorized Access"
    return None


class TNTClient(CarrierClient):
    carrier = "tnt"
    default_base_url = "https://necta.az.fxei.fedex.com"
    default_rate = RateLimit(2, 1)  # unpublished; conservative
    max_batch = 50
    required_credentials = ("username", "password")

    def __init__(self, account: Account, http: CarrierHttp) -> None:
        super().__init__(account, http)
        self.origin_country, self.market_type = self.search_criteria(account)
        pair = f"{account.credential('username')}:{account.credential('password')}".encode()
        self._authorization = "Basic " + base64.b64encode(pair).decode()

    @staticmethod
    def search_criteria(account: Account) -> tuple[str, str]:
        country = (account.credentials.get("origin_country") or "NL").strip().upper()
        market = (account.credentials.get("market_type") or "INTERNATIONAL").strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise AccountsError(f"account {account.name!r} (tnt): credentials.origin_country must be an "
                                f"ISO 3166 alpha-2 code, got {country!r}")
        if market not in MARKET_TYPES:
            raise AccountsError(f"account {account.name!r} (tnt): credentials.market_type must be one of "
                                f"{', '.join(MARKET_TYPES)}, got {market!r}")
        return country, market

    @classmethod
    def check(cls, account: Account) -> None:
        super().check(account)
        cls.search_criteria(account)

    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        numbers = tuple(dict.fromkeys(t.tracking_number for t in targets))
        if not numbers:
            return []
        url = f"{self.base_url}{TRACK_PATH}"
        form = {"xml_in": track_request(numbers, self.origin_country, self.market_type)}
        resp = await self.http.request("POST", url, data=form,
                                       headers={"Authorization": self._authorization, "Accept": "text/xml"})
        if resp.status == 404:
            raise RequestRejected(f"POST {url}: HTTP 404 (no ExpressConnect tracking at this address)")
        refused = auth_error(resp.body)
        if refused is not None:
            raise AuthError(f"TNT ExpressConnect error {AUTH_ERROR_CODE}: {refused}")
        return [answer(resp, numbers, default_type="text/xml")]
