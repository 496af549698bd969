"""A local stand-in for carriers' tracking APIs (they cannot be reached from tests), speaking their
documented request and response formats, in a thread of its own so it answers whatever the test's
event loop is doing. Tests set the tracking data per number, script failures (429 with Retry-After,
5xx, slow answers, revoked tokens) and read the request log.

Each carrier's endpoints live in ``tests/fakes/carriers/<carrier>.py`` as ``install(api, app)``;
every module there is installed (discovered, so adding a carrier touches no shared file).
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from trackstream.stack.ephemeral import free_port

Installer = Callable[["FakeCarrierApi", web.Application], None]


def installers() -> list[Installer]:
    import tests.fakes.carriers as package

    found: list[Installer] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(module.install)
    return found


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
        self.tokens: set[str] = set()  # OAuth access tokens handed out (any carrier)
        self.state: dict[str, Any] = {}  # per-carrier extras
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
            for install in installers():
                install(self, app)
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

    async def scripted(self, carrier: str, request: web.Request, number: str | None) -> web.Response | None:
        """The next scripted answer for ``carrier`` (logged like any other), or None."""
        with self.lock:
            queue = self.scripts.get(carrier)
            answer = queue.popleft() if queue else None
        if answer is None:
            return None
        if answer.delay:
            await asyncio.sleep(answer.delay)
        self.record(carrier, request, number, answer.status)
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)

    def record(self, carrier: str, request: web.Request, number: str | None, status: int) -> None:
        with self.lock:
            self.log.append(Logged(time.monotonic(), carrier, request.path, number, status))

    def json(self, carrier: str, request: web.Request, number: str | None, status: int, body: Any) -> web.Response:
        self.record(carrier, request, number, status)
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return web.Response(status=status, body=data, content_type="application/json")

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
