"""UPS Track API v1: ``GET /api/track/v1/details/{inquiryNumber}`` with an OAuth2 client-credentials
bearer token from ``/security/v1/oauth/token`` (HTTP Basic with client id and secret) and the
required ``transId`` / ``transactionSrc`` headers. One number per call."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from urllib.parse import quote

from pollers.accounts import Account, RateLimit
from pollers.clients.base import CarrierClient, Fetched, Target, answer
from pollers.http import CarrierHttp, OAuthClientCredentials


class UPSClient(CarrierClient):
    carrier = "ups"
    default_base_url = "https://onlinetools.ups.com"
    # UPS publishes no per-second figure for tracking; stay well below what their 429s suggest
    default_rate = RateLimit(10, 1)
    required_credentials = ("client_id", "client_secret")

    def __init__(self, account: Account, http: CarrierHttp) -> None:
        super().__init__(account, http)
        self.oauth = OAuthClientCredentials(
            http, f"{self.base_url}/security/v1/oauth/token", account.credential("client_id"),
            account.credential("client_secret"), basic_auth=True,
        )

    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        out = []
        for target in targets:
            url = f"{self.base_url}/api/track/v1/details/{quote(target.tracking_number, safe='')}"
            resp = await self.oauth.request(
                "GET", url, params={"locale": "en_US", "returnSignature": "false"},
                headers={"transId": uuid.uuid4().hex[:32], "transactionSrc": "trackstream",
                         "Accept": "application/json"},
            )
            out.append(answer(resp, (target.tracking_number,)))
        return out
