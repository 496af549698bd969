"""A local stand-in for carriers' tracking APIs (they cannot be reached from tests), speaking their
documented request and response formats, in a thread of its own so it answers whatever the test's
event loop is doing. Tests set the tracking data per number, script failures (429 with Retry-After,
5xx, slow answers, revoked tokens) and read the request log.

Implemented: PostNL Shipping Status v2 (``apikey`` header; per barcode and ``updatedshipments``),
UPS Track API v1 with its OAuth2 client-credentials token endpoint (HTTP Basic).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from trackstream.stack.ephemeral import free_port


@dataclass
class Logged:
    at: float  # time.monotonic()
    carrier: str
    path: str
    number: str | None
    status: int


@dataclass
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


class FakeCarrierApi:
    def __init__(self, *, postnl_key: str = "pnl-key", ups_client: tuple[str, str] = ("ups-id", "ups-secret"),
                 token_ttl: int = 3600) -> None:
        self.postnl_key = postnl_key
        self.ups_client = ups_client
        self.token_ttl = token_ttl
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.responses: dict[tuple[str, str], Callable[[], bytes]] = {}  # (carrier, number) -> body
        self.updated: dict[str, list[dict[str, Any]]] = {}  # PostNL customer number -> updatedshipments
        self.scripts: dict[str, deque[Scripted]] = {}  # carrier -> next answers
        self.tokens: set[str] = set()
        self.log: list[Logged] = []
        self.token_requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- control, from tests ----------------------------------------------------------------------
    def set(self, carrier: str, number: str, body: bytes | Callable[[], bytes]) -> None:
        with self.lock:
            self.responses[(carrier, number)] = body if callable(body) else (lambda: body)

    def script(self, carrier: str, *answers: Scripted) -> None:
        with self.lock:
            self.scripts.setdefault(carrier, deque()).extend(answers)

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def requests(self, carrier: str, number: str | None = None) -> list[Logged]:
        with self.lock:
            return [r for r in self.log if r.carrier == carrier and (number is None or r.number == number)]

    # --- server -----------------------------------------------------------------------------------
    def start(self) -> FakeCarrierApi:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get("/shipment/v2/status/barcode/{barcode}", self._postnl_barcode)
            app.router.add_get("/shipment/v2/status/{customer}/updatedshipments", self._postnl_updated)
            app.router.add_post("/security/v1/oauth/token", self._ups_token)
            app.router.add_get("/api/track/v1/details/{number}", self._ups_details)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-carrier-api", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake carrier API did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _scripted(self, carrier: str) -> web.Response | None:
        with self.lock:
            queue = self.scripts.get(carrier)
            answer = queue.popleft() if queue else None
        if answer is None:
            return None
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)

    def _record(self, carrier: str, request: web.Request, number: str | None, status: int) -> None:
        with self.lock:
            self.log.append(Logged(time.monotonic(), carrier, request.path, number, status))

    def _json(self, carrier: str, request: web.Request, number: str | None, status: int, body: Any) -> web.Response:
        self._record(carrier, request, number, status)
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return web.Response(status=status, body=data, content_type="application/json")

    # --- PostNL -----------------------------------------------------------------------------------
    async def _postnl_barcode(self, request: web.Request) -> web.Response:
        number = request.match_info["barcode"]
        if request.headers.get("apikey") != self.postnl_key:
            return self._json("postnl", request, number, 401, {"fault": {"faultstring": "Invalid ApiKey"}})
        scripted = await self._scripted("postnl")
        if scripted is not None:
            self._record("postnl", request, number, scripted.status)
            return scripted
        with self.lock:
            body = self.responses.get(("postnl", number))
        if body is None:  # PostNL answers an unknown barcode with an empty status
            return self._json("postnl", request, number, 200, {"CurrentStatus": {"Shipment": []}})
        return self._json("postnl", request, number, 200, body())

    async def _postnl_updated(self, request: web.Request) -> web.Response:
        if request.headers.get("apikey") != self.postnl_key:
            return self._json("postnl", request, None, 401, {"fault": {"faultstring": "Invalid ApiKey"}})
        periods = request.query.getall("period", [])
        if len(periods) != 2:
            return self._json("postnl", request, None, 400, {"Errors": [{"Description": "period twice"}]})
        with self.lock:
            items = self.updated.pop(request.match_info["customer"], [])
        return self._json("postnl", request, None, 200, items)

    # --- UPS --------------------------------------------------------------------------------------
    async def _ups_token(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.ups_client[0]}:{self.ups_client[1]}".encode()).decode()
        form = await request.post()
        with self.lock:
            self.token_requests += 1
        if request.headers.get("Authorization") != expected or form.get("grant_type") != "client_credentials":
            return self._json("ups-oauth", request, None, 401, {"response": {"errors": [
                {"code": "10401", "message": "ClientId is Invalid"}]}})
        token = secrets.token_hex(16)
        with self.lock:
            self.tokens.add(token)
        return self._json("ups-oauth", request, None, 200, {
            "token_type": "Bearer", "access_token": token, "expires_in": str(self.token_ttl), "status": "approved",
        })

    async def _ups_details(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            valid = token in self.tokens
        if not valid:
            return self._json("ups", request, number, 401, {"response": {"errors": [
                {"code": "250002", "message": "Invalid Authentication Information."}]}})
        if not request.headers.get("transId") or not request.headers.get("transactionSrc"):
            return self._json("ups", request, number, 400, {"response": {"errors": [
                {"code": "TV1001", "message": "Missing transId or transactionSrc"}]}})
        scripted = await self._scripted("ups")
        if scripted is not None:
            self._record("ups", request, number, scripted.status)
            return scripted
        with self.lock:
            body = self.responses.get(("ups", number))
        if body is None:
            return self._json("ups", request, number, 200, {"trackResponse": {"shipment": [{"warnings": [
                {"code": "TW0001", "message": "Tracking Information Not Found"}]}]}})
        return self._json("ups", request, number, 200, body())


# --- documented response bodies -------------------------------------------------------------------

def postnl_status(barcode: str, events: list[tuple[str, str, str]]) -> bytes:
    """A Shipping Status v2 ``CurrentStatus`` with ``Event`` history: (code, description, dd-MM-yyyy HH:mm:ss)."""
    return orjson.dumps({"CurrentStatus": {"Shipment": {
        "Barcode": barcode, "MainBarcode": barcode, "ShipmentAmount": "1", "ShipmentCounter": "1",
        "Customer": {"CustomerCode": "DEVC", "CustomerNumber": "11223344"},
        "Event": [{"Code": code, "Description": text, "LocationCode": "888888", "TimeStamp": stamp}
                  for code, text, stamp in events],
    }}})


def ups_details(number: str, activities: list[tuple[str, str, str, str, str]]) -> bytes:
    """A Track API v1 ``details`` response: (type, code, statusCode, description, YYYYMMDDHHMMSS local in NL)."""
    return orjson.dumps({"trackResponse": {"shipment": [{"inquiryNumber": number, "package": [{
        "trackingNumber": number,
        "activity": [{
            "date": stamp[:8], "time": stamp[8:],
            "location": {"address": {"city": "Amsterdam", "countryCode": "NL", "country": "NL"}},
            "status": {"type": kind, "code": code, "description": text, "statusCode": status_code},
        } for kind, code, status_code, text, stamp in activities],
    }]}]}})
