"""PostNL Shipping Status v2: per barcode, and the account's ``updatedshipments`` delta feed.

``GET /shipment/v2/status/barcode/{barcode}?detail=true&language=NL`` and
``GET /shipment/v2/status/{customerNumber}/updatedshipments?period=<from>&period=<to>`` (a window of
at most 2 hours reaching at most 48 hours back, times in Dutch local time without offset), both with
the ``apikey`` header. Published limit: 1,000 calls per minute per key; PostNL asks not to poll
every parcel every minute, so the delta feed carries most of the load and per-barcode polls are a
slower safety net (``Cadence.delta_scale``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pollers.accounts import RateLimit
from pollers.clients.base import CarrierClient, Fetched, Target, answer

_NL = ZoneInfo("Europe/Amsterdam")
MAX_WINDOW = timedelta(hours=2)
MAX_LOOKBACK = timedelta(hours=48)


def _offset_change(start: datetime, end: datetime) -> datetime | None:
    """The instant in ``(start, end]`` where Dutch time changes offset (to the second), if any."""
    if start.astimezone(_NL).utcoffset() == end.astimezone(_NL).utcoffset():
        return None
    low, high = start, end
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(_NL).utcoffset() == start.astimezone(_NL).utcoffset():
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def delta_windows(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """``[since, until)`` cut into windows PostNL accepts (≤ 2 h each, none older than 48 h).

    The windows are sent as Dutch local time without an offset, so none may span a daylight-saving
    change: there a 2-hour window would read as 1 or 3 local hours (or run backwards)."""
    start = max(since, until - MAX_LOOKBACK + timedelta(minutes=1))
    windows = []
    while start < until:
        end = min(start + MAX_WINDOW, until)
        change = _offset_change(start, end)
        if change is not None and start < change < end:
            end = change
        windows.append((start, end))
        start = end
    return windows


def local_text(instant: datetime) -> str:
    return instant.astimezone(_NL).strftime("%Y-%m-%dT%H:%M:%S")


class PostNLClient(CarrierClient):
    carrier = "postnl"
    default_base_url = "https://api.postnl.nl"
    default_rate = RateLimit(1000, 60)
    required_credentials = ("api_key",)

    def supports_delta(self) -> bool:
        return bool(self.account.credentials.get("customer_number"))

    def _headers(self) -> dict[str, str]:
        return {"apikey": self.account.credential("api_key"), "Accept": "application/json"}

    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        out = []
        for target in targets:
            url = f"{self.base_url}/shipment/v2/status/barcode/{quote(target.tracking_number, safe='')}"
            resp = await self.http.request("GET", url, params={"detail": "true", "language": "NL"},
                                           headers=self._headers())
            out.append(answer(resp, (target.tracking_number,)))
        return out

    async def delta(self, since: datetime, until: datetime) -> list[Fetched]:
        number = quote(self.account.credential("customer_number"), safe="")
        out = []
        for start, end in delta_windows(since.astimezone(UTC), until.astimezone(UTC)):
            url = f"{self.base_url}/shipment/v2/status/{number}/updatedshipments"
            resp = await self.http.request("GET", url, params=[("period", local_text(start)),
                                                               ("period", local_text(end))],
                                           headers=self._headers())
            out.append(answer(resp, ()))
        return out
