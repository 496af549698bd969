"""A real webhook receiver on 127.0.0.1 for the outbound tests: records every request (headers,
body, when) and answers with the status its ``answer`` function picks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.support import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    def __init__(self, answer: Callable[[Received], int] | None = None, delay: float = 0.0) -> None:
        self.answer = answer or (lambda _: 200)
        self.delay = delay  # seconds before each answer
        self.requests: list[Received] = []
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def url_for(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        got = Received(request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read(), 0)
        got.status = self.answer(got)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.requests.append(got)
        return web.Response(status=got.status, text="ok" if got.status < 300 else "no")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]
