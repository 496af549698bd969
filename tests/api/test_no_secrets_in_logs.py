"""An unhandled error never writes a request's secrets to the log.

DPD's push URL ends in the secret (``GET /v1/webhooks/dpd_nl/<token>``) and other carriers send
credentials in headers. A bug anywhere under the route logs a traceback, and an exception's text
can quote whatever it was handed: the error middleware cuts the secrets out of the path and the
traceback. The real app and route run on loopback; the fault is injected into the authentication
step, as a bug there would raise it.
"""

from __future__ import annotations

import logging
import secrets as random_secrets
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api import ingress
from api.errors import REDACTED
from api.server import init_app
from trackstream.settings import Settings
from trackstream.stack.ephemeral import free_port


@pytest.fixture
def dpd_token() -> str:
    return random_secrets.token_hex(24)


async def _get(settings: Settings, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    server = TestServer(init_app(settings), host="127.0.0.1", port=free_port())
    await server.start_server(access_log=None)  # as api.server.run serves the app
    try:
        async with aiohttp.ClientSession(base_url=str(server.make_url(""))) as client:
            async with client.get(path, headers=headers) as resp:
                return resp.status, await resp.json()
    finally:
        await server.close()


def _settings(token: str) -> Settings:
    return Settings.from_env({
        "TRACKSTREAM_DPD_PUSH_TOKEN": token,
        "TRACKSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # nothing listens: never reached
        "TRACKSTREAM_DATABASE_URL": f"postgresql://x@127.0.0.1:{free_port()}/x",
    })


async def test_an_error_on_the_dpd_token_path_does_not_log_the_token(
    dpd_token: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(carrier: str, request: Any, push: ingress.Presented) -> None:
        raise RuntimeError(f"could not check {push.path_token!r} for {request.path}")

    monkeypatch.setattr(ingress, "authenticate", broken)
    caplog.set_level(logging.INFO)
    status, body = await _get(_settings(dpd_token), f"/v1/webhooks/dpd_nl/{dpd_token}?pushid=1&pnr=0123")
    assert status == 500 and body["error"] == "internal_error"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "unhandled error on GET /v1/webhooks/dpd_nl/" + REDACTED in logged
    assert "RuntimeError" in logged  # the traceback is kept, without the secret
    assert dpd_token not in logged
    assert dpd_token not in caplog.text


async def test_credential_headers_are_cut_out_of_the_traceback(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = "ups-" + random_secrets.token_hex(16)

    def broken(request: Any, method: str) -> str:
        raise KeyError(f"no route for credential {request.headers['credential']}")

    monkeypatch.setattr(ingress, "_route", broken)
    caplog.set_level(logging.INFO)
    status, _ = await _get(_settings("unused-token"), "/v1/webhooks/ups/x", headers={"credential": credential})
    assert status == 500
    assert "KeyError" in caplog.text
    assert credential not in caplog.text
