"""UPS Track Alert v2 on the real system: UPS fetches a token from our token URL (client
credentials, HTTP Basic), then pushes with ``Authorization: Bearer`` and ``x-api-key``."""

from __future__ import annotations

import base64
import uuid

import aiohttp
import orjson

from tests.conftest import System, samples_dir
from tests.integration.test_pipeline import shipment
from tests.support import eventually


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def fetch_token(http: aiohttp.ClientSession, system: System, secret: str | None = None) -> aiohttp.ClientResponse:
    env = system.env
    return await http.post("/v1/oauth/token", data={"grant_type": "client_credentials"}, headers={
        "Authorization": basic(env["TRACKSTREAM_UPS_WEBHOOK_CLIENT_ID"],
                               secret or env["TRACKSTREAM_UPS_WEBHOOK_CLIENT_SECRET"])})


async def test_ups_v2_fetches_a_token_then_pushes(system: System, http: aiohttp.ClientSession) -> None:
    async with await fetch_token(http, system) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Cache-Control"] == "no-store"
        grant = await resp.json()
    assert grant["token_type"] == "Bearer" and grant["expires_in"] == 3600
    body = orjson.loads((samples_dir() / "ups" / "track-alert-webhook-delivered-doc-example.json").read_bytes())
    number = f"1ZV2{uuid.uuid4().hex[:14].upper()}"
    body["trackingNumber"] = number
    headers = {"Authorization": f"Bearer {grant['access_token']}", "User-Agent": "UPSPubSubTrackingService",
               "x-api-key": system.env["TRACKSTREAM_UPS_WEBHOOK_CLIENT_ID"], "Content-Type": "application/json"}
    async with http.post("/v1/webhooks/ups", data=orjson.dumps(body), headers=headers) as resp:
        assert resp.status == 200, await resp.text()

    async def delivered() -> bool:
        found = await shipment(http, "ups", number)
        return found is not None and found["status"] == "delivered"

    await eventually(delivered, 60, what="the v2 push stored")


async def test_ups_v2_refusals(system: System, anonymous: aiohttp.ClientSession) -> None:
    http = anonymous  # a carrier sends no trackstream key
    async with await fetch_token(http, system, secret="wrong-secret-0123456789") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
        assert (await resp.json())["error"] == "invalid_client"
    async with http.post("/v1/oauth/token", data={"grant_type": "password"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "unsupported_grant_type"
    async with http.post("/v1/oauth/token", json={"grant_type": "client_credentials"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"
    async with await fetch_token(http, system) as resp:
        token = (await resp.json())["access_token"]
    sample = (samples_dir() / "ups" / "track-alert-webhook-delivered-doc-example.json").read_bytes()
    for headers, why in (
        ({"Authorization": f"Bearer {token}x"}, "signature"),
        ({"Authorization": "Bearer ts1.e30.forged"}, "signature"),
        ({"Authorization": f"Bearer {token}", "x-api-key": "someone-else"}, "x-api-key"),
    ):
        async with http.post("/v1/webhooks/ups", data=sample, headers=headers) as resp:
            assert resp.status == 401, why
            answer = await resp.json()
            assert answer["error"] == "invalid_token" and why in answer["message"]
    # v1 keeps working next to v2
    async with http.post("/v1/webhooks/ups", data=sample, headers={"credential": "test-ups-credential"}) as resp:
        assert resp.status == 200
