"""UPS Track API v1 (``/api/track/v1/details/{number}``, bearer token, ``transId`` and
``transactionSrc`` required) and its OAuth2 client-credentials token endpoint (HTTP Basic)."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi


def install(api: FakeCarrierApi, app: web.Application) -> None:
    async def token(request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{api.ups_client[0]}:{api.ups_client[1]}".encode()).decode()
        form = await request.post()
        with api.lock:
            api.token_requests += 1
        if request.headers.get("Authorization") != expected or form.get("grant_type") != "client_credentials":
            return api.json("ups-oauth", request, None, 401, {"response": {"errors": [
                {"code": "10401", "message": "ClientId is Invalid"}]}})
        value = secrets.token_hex(16)
        with api.lock:
            api.tokens.add(value)
        return api.json("ups-oauth", request, None, 200, {
            "token_type": "Bearer", "access_token": value, "expires_in": str(api.token_ttl), "status": "approved",
        })

    async def details(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with api.lock:
            valid = given in api.tokens
        if not valid:
            return api.json("ups", request, number, 401, {"response": {"errors": [
                {"code": "250002", "message": "Invalid Authentication Information."}]}})
        if not request.headers.get("transId") or not request.headers.get("transactionSrc"):
            return api.json("ups", request, number, 400, {"response": {"errors": [
                {"code": "TV1001", "message": "Missing transId or transactionSrc"}]}})
        scripted = await api.scripted("ups", request, number)
        if scripted is not None:
            return scripted
        with api.lock:
            body = api.responses.get(("ups", number))
        if body is None:
            return api.json("ups", request, number, 200, {"trackResponse": {"shipment": [{"warnings": [
                {"code": "TW0001", "message": "Tracking Information Not Found"}]}]}})
        return api.json("ups", request, number, 200, body())

    app.router.add_post("/security/v1/oauth/token", token)
    app.router.add_get("/api/track/v1/details/{number}", details)
