"""Access on the real system: every route × {no key, wrong key, key without the scope, key for
another customer, right key} gives its documented answer; customer isolation; spoof protection;
rate limits, revocation, expiry, last use, audit; the ``trackstream keys`` command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from api.access import SCOPES
from tests.conftest import System
from tests.support import bearer, eventually
from trackstream.alerts.lifecycle import alert_id

WRONG_KEY = "tsk_0123456789ab." + "x" * 43  # well-formed, never issued


@dataclass(frozen=True)
class World:
    """Two customers, a shipment of B with an event, and keys."""

    a: str
    b: str
    b_number: str
    carrier: str  # an own fleet carrier name: the keys may post for it
    keys: dict[str, str]  # name -> key


async def _wait_stored(http: aiohttp.ClientSession, carrier: str, number: str) -> dict[str, Any]:
    async def stored() -> Any:
        async with http.get(f"/v1/shipments/{carrier}/{number}") as resp:
            body = await resp.json()
            return body if resp.status == 200 and body["events"] else None

    found: dict[str, Any] = await eventually(stored, what=f"{carrier}:{number} queryable")
    return found


@pytest.fixture(scope="module")
async def world(system: System) -> AsyncIterator[World]:
    tag = uuid.uuid4().hex[:8]
    a, b, carrier = f"acc-a-{tag}", f"acc-b-{tag}", f"fleet{tag[:4]}"
    number = f"ACB{tag.upper()}"
    keys: dict[str, str] = {}
    for scope in SCOPES:
        if scope == "admin":
            continue
        keys[f"{scope}/b"] = (await system.create_key(scope, customers=(b,), carriers=(carrier,)))[1]
        keys[f"{scope}/a"] = (await system.create_key(scope, customers=(a,), carriers=(carrier,)))[1]
        keys[f"{scope}/all"] = (await system.create_key(scope, carriers=(carrier,)))[1]
    keys["admin"] = system.admin_key
    keys["admin/a"] = (await system.create_key("admin", customers=(a,)))[1]
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(system.admin_key)) as http:
        async with http.post("/v1/shipments", json={"carrier": carrier, "tracking_number": number,
                                                    "customer": b, "destination_postcode": "1011AB"}) as resp:
            assert resp.status == 202
        await _wait_stored_registration(http, carrier, number)
        async with http.post("/v1/events", json=[{"carrier": carrier, "tracking_number": number,
                                                  "status": "in_transit",
                                                  "occurred_at": "2026-11-20T10:00:00Z"}]) as resp:
            assert resp.status == 202
        await _wait_stored(http, carrier, number)
        # B's shipment has an alert too (an exception, then in transit again later in the table's routes)
        async with http.post("/v1/events", json=[{"carrier": carrier, "tracking_number": number,
                                                  "status": "exception", "substatus": "damaged",
                                                  "occurred_at": "2026-11-20T11:00:00Z"}]) as resp:
            assert resp.status == 202

        async def alerted() -> bool:
            async with http.get(f"/v1/alerts/{alert_id(f'{carrier}:{number}', 'carrier_exception')}") as resp:
                return resp.status == 200

        await eventually(alerted, what="B's alert")
    yield World(a, b, number, carrier, keys)


async def _wait_stored_registration(http: aiohttp.ClientSession, carrier: str, number: str) -> None:
    async def registered() -> bool:
        async with http.get(f"/v1/shipments/{carrier}/{number}") as resp:
            return resp.status == 200

    await eventually(registered, what="the registration")


@dataclass(frozen=True)
class Route:
    name: str
    path: Callable[[World], str]
    scopes: tuple[str, ...]  # the route's policy: a key with any of them
    body: Callable[[World], Any] | None = None
    right: int = 200
    other_customer: int = 404  # a key bound to customer A, about customer B's data
    content_type: str = "application/json"
    carrier_wide: bool = False  # the right key is one for every customer

    @property
    def method(self) -> str:
        return self.name.split(" ", 1)[0]


def _alert(w: World) -> str:
    return alert_id(f"{w.carrier}:{w.b_number}", "carrier_exception")


def _event(w: World, customer_number: str | None = None) -> list[dict[str, Any]]:
    return [{"carrier": w.carrier, "tracking_number": customer_number or w.b_number, "status": "in_transit",
             "code": "ACCESS", "occurred_at": "2026-11-21T09:00:00Z"}]


ROUTES = [
    Route("GET one shipment", lambda w: f"/v1/shipments/{w.carrier}/{w.b_number}", ("shipments:read",)),
    Route("GET search", lambda w: f"/v1/shipments?customer={w.b}", ("shipments:read",), other_customer=200),
    Route("POST shipment", lambda w: "/v1/shipments", ("shipments:write",),
          lambda w: {"carrier": w.carrier, "tracking_number": w.b_number + "R", "customer": w.b},
          right=202, other_customer=403),
    Route("POST events", lambda w: "/v1/events", ("events:write",), _event, right=202),
    Route("POST feed", lambda w: f"/v1/feeds/{w.carrier}", ("events:write",),
          lambda w: f"tracking_number,status,occurred_at\n{w.b_number},in_transit,2026-11-21T09:30:00Z\n",
          right=202, other_customer=403, content_type="text/csv", carrier_wide=True),
    Route("GET mappings", lambda w: "/v1/carriers/postnl/mappings", ("mappings:read", "mappings:write"),
          other_customer=403, carrier_wide=True),
    Route("GET unmapped codes", lambda w: "/v1/carriers/postnl/unmapped-codes", ("mappings:read", "mappings:write"),
          other_customer=403, carrier_wide=True),
    Route("PUT mapping", lambda w: "/v1/carriers/pigeonpost/mappings/ACCESS-TEST", ("mappings:write",),
          lambda w: {"status": "in_transit"}, right=201, other_customer=403, carrier_wide=True),
    Route("DELETE mapping", lambda w: "/v1/carriers/pigeonpost/mappings/NEVER-MAPPED", ("mappings:write",),
          right=404, other_customer=403, carrier_wide=True),
    Route("GET alerts", lambda w: f"/v1/alerts?customer={w.b}", ("alerts:read",), other_customer=200),
    Route("GET one alert", lambda w: f"/v1/alerts/{_alert(w)}", ("alerts:read",)),
    Route("POST ack alert", lambda w: f"/v1/alerts/{_alert(w)}/ack", ("alerts:write",)),
    Route("POST bulk ack", lambda w: "/v1/alerts/ack", ("alerts:write",), lambda w: {"ids": [_alert(w)]},
          other_customer=200),
    Route("GET track view", lambda w: f"/v1/track/{w.carrier}/{w.b_number}", ("track",)),
    Route("POST subscription (number)", lambda w: "/v1/subscriptions", ("subscriptions:write",),
          lambda w: {"url": "http://127.0.0.1:9/hook", "kinds": ["delivered"],
                     "tracking_numbers": [{"carrier": w.carrier, "tracking_number": w.b_number}]},
          right=201, other_customer=409),
    Route("POST subscription (customer)", lambda w: "/v1/subscriptions", ("subscriptions:write",),
          lambda w: {"url": "http://127.0.0.1:9/hook", "kinds": ["delivered"], "customer": w.b},
          right=201, other_customer=403),
    Route("GET subscriptions", lambda w: "/v1/subscriptions", ("subscriptions:write",), other_customer=200),
    Route("GET pollers", lambda w: "/v1/pollers", ("admin",), other_customer=200),
    Route("GET keys", lambda w: "/v1/keys", ("admin",), other_customer=200),
    Route("GET audit", lambda w: "/v1/audit?limit=5", ("admin",), other_customer=200),
    Route("GET one key", lambda w: "/v1/keys/tsk_ffffffffffff", ("admin",), right=404, other_customer=404),
]


async def _key_for(system: System, w: World, route: Route, who: str) -> str | None:
    if who == "no key":
        return None
    if who == "wrong key":
        return WRONG_KEY
    if who == "without scope":  # every other scope, admin aside
        return (await system.create_key(*(s for s in SCOPES if s not in (*route.scopes, "admin")),
                                        carriers=(w.carrier,)))[1]
    scope = route.scopes[0]
    if scope == "admin":
        return w.keys["admin/a"] if who == "other customer" else w.keys["admin"]
    if who == "other customer":
        return w.keys[f"{scope}/a"]
    return w.keys[f"{scope}/all" if route.carrier_wide else f"{scope}/b"]


async def _call(system: System, route: Route, w: World, key: str | None) -> tuple[int, dict[str, Any] | None]:
    headers = {"Content-Type": route.content_type}
    if key is not None:
        headers.update(bearer(key))
    body = route.body(w) if route.body else None
    data = None if body is None else body.encode() if isinstance(body, str) else orjson.dumps(body)
    async with aiohttp.ClientSession(base_url=system.base_url) as client:
        async with client.request(route.method, route.path(w), data=data, headers=headers) as resp:
            text = await resp.read()
            return resp.status, orjson.loads(text) if text and resp.content_type == "application/json" else None


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
async def test_every_keyed_route_answers_as_documented_for_each_caller(
    system: System, world: World, route: Route
) -> None:
    expected = {"no key": (401, "missing_key"), "wrong key": (401, "invalid_key"),
                "without scope": (403, "missing_scope"), "other customer": (route.other_customer, None),
                "right": (route.right, None)}
    seen: dict[str, tuple[int, str | None]] = {}
    for who, (_, error) in expected.items():
        got, body = await _call(system, route, world, await _key_for(system, world, route, who))
        seen[who] = (got, (body or {}).get("error") if error else None)
        if who == "without scope":
            assert body is not None and body.get("scope") == " or ".join(route.scopes), body  # names the scope
    assert seen == expected


async def test_open_and_carrier_routes_need_no_key_and_ignore_ours(system: System, world: World) -> None:
    for key in (None, WRONG_KEY, world.keys["admin"]):
        headers = bearer(key) if key else {}
        async with aiohttp.ClientSession(base_url=system.base_url, headers=headers) as client:
            for path in ("/healthz", "/readyz", "/v1/openapi.yaml", "/metrics"):
                async with client.get(path) as resp:
                    assert resp.status == 200, (path, key)
            # a webhook is authenticated by the carrier's own scheme: a trackstream key is no substitute
            async with client.post("/v1/webhooks/sendcloud", json={"action": "parcel_status_changed"}) as resp:
                assert resp.status == 401
                assert (await resp.json())["error"] == "invalid_signature"


async def test_a_customer_key_never_sees_another_customers_shipment(system: System, world: World) -> None:
    a_key, b_key = world.keys["shipments:read/a"], world.keys["shipments:read/b"]
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(a_key)) as a:
        for params in ({}, {"customer": world.b}, {"carrier": world.carrier}, {"order_number": "x"}):
            async with a.get("/v1/shipments", params={**params, "limit": "500"}) as resp:
                assert resp.status == 200
                items = (await resp.json())["items"]
                assert all(i["customer"] == world.a for i in items), params
        async with a.get(f"/v1/shipments/{world.carrier}/{world.b_number}") as resp:
            hidden = (resp.status, await resp.json())
        async with a.get(f"/v1/shipments/{world.carrier}/NOSUCH{world.b_number}") as resp:
            absent = (resp.status, await resp.json())
        # indistinguishable from a shipment that does not exist (apart from the key in the message)
        assert hidden[0] == absent[0] == 404 and hidden[1]["error"] == absent[1]["error"] == "shipment_not_found"
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(b_key)) as b:
        async with b.get("/v1/shipments", params={"carrier": world.carrier}) as resp:
            items = (await resp.json())["items"]
            assert {i["customer"] for i in items} == {world.b}
            assert world.b_number in {i["tracking_number"] for i in items}


async def test_customer_keys_register_only_for_their_customers(system: System, world: World) -> None:
    _, two = await system.create_key("shipments:write", customers=(world.a, world.b))
    one = world.keys["shipments:write/a"]
    number = f"REG{uuid.uuid4().hex[:8].upper()}"
    async with aiohttp.ClientSession(base_url=system.base_url) as client:
        def post(key: str, reg: dict[str, str]) -> Any:
            return client.post("/v1/shipments", json=reg, headers=bearer(key))

        async with post(two, {"carrier": world.carrier, "tracking_number": number}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (422, "customer_required")
        async with post(one, {"carrier": world.carrier, "tracking_number": number}) as resp:
            assert resp.status == 202  # registered for the key's only customer
        # another customer's shipment cannot be taken over by registering it again
        async with post(one, {"carrier": world.carrier, "tracking_number": world.b_number}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (409, "shipment_registered_elsewhere")
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(system.admin_key)) as admin:
        async def registered() -> Any:
            async with admin.get(f"/v1/shipments/{world.carrier}/{number}") as resp:
                return (await resp.json()) if resp.status == 200 else None

        assert (await eventually(registered, what="the registration"))["customer"] == world.a


async def test_events_only_for_bound_carriers_and_in_the_callers_namespace(system: System, world: World) -> None:
    key_id, key = await system.create_key("events:write", carriers=(world.carrier,))
    number = f"NS{uuid.uuid4().hex[:8].upper()}"
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(key)) as client:
        spoof = [{"carrier": "ups", "tracking_number": "1Z999AA10123456784", "status": "delivered",
                  "occurred_at": "2026-11-21T09:00:00Z", "event_id": "ups-real-event"}]
        async with client.post("/v1/events", json=spoof) as resp:
            body = await resp.json()
            assert (resp.status, body["error"], body["carriers"]) == (403, "carrier_not_allowed", ["ups"])
        own = [{"carrier": world.carrier, "tracking_number": number, "status": "in_transit",
                "occurred_at": "2026-11-21T09:00:00Z", "event_id": "e-1"},
               {"carrier": world.carrier, "tracking_number": number, "status": "delivered",
                "occurred_at": "2026-11-21T15:00:00Z"}]
        async with client.post("/v1/events", json=own) as resp:
            assert resp.status == 202, await resp.text()
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(system.admin_key)) as admin:
        shipment = await _wait_stored(admin, world.carrier, number)
        while len(shipment["events"]) < 2:
            await asyncio.sleep(0.2)
            shipment = await _wait_stored(admin, world.carrier, number)
    ids = [e["event_id"] for e in shipment["events"]]
    assert ids[0] == f"{key_id}:e-1"
    assert ids[1].startswith(f"{key_id}:") and len(ids[1]) == len(key_id) + 1 + 32  # a derived id, namespaced


async def test_a_customer_key_posts_events_only_for_its_registered_shipments(system: System, world: World) -> None:
    key = world.keys["events:write/a"]
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(key)) as client:
        for number in (world.b_number, f"UNREG{uuid.uuid4().hex[:6].upper()}"):  # B's, and nobody's
            async with client.post("/v1/events", json=_event(world, number)) as resp:
                body = await resp.json()
                assert (resp.status, body["error"]) == (404, "shipment_not_found")
                assert body["items"] == [{"index": 0, "shipment_key": f"{world.carrier}:{number}"}]


async def test_keys_naming_an_authenticated_carrier_need_the_admin_to_say_so(http: aiohttp.ClientSession) -> None:
    grant = {"name": "spoofer", "scopes": ["events:write"], "carriers": ["postnl"]}
    async with http.post("/v1/keys", json=grant) as resp:
        body = await resp.json()
        assert (resp.status, body["error"]) == (422, "invalid_key_request") and "postnl" in body["message"]
    async with http.post("/v1/keys", json={**grant, "allow_authenticated_carriers": True}) as resp:
        assert resp.status == 201
        assert (await resp.json())["carriers"] == ["postnl"]


async def test_rate_limit_answers_429_with_retry_after(system: System) -> None:
    _, key = await system.create_key("shipments:read", rate_limit=0.2)  # one request per 5 s, bursts of 1
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(key)) as client:
        async with client.get("/v1/shipments?limit=1") as resp:
            assert resp.status == 200
        async with client.get("/v1/shipments?limit=1") as resp:
            assert resp.status == 429
            assert (await resp.json())["error"] == "rate_limited"
            assert 1 <= int(resp.headers["Retry-After"]) <= 5


async def test_keys_over_http_created_used_revoked_and_audited(system: System, http: aiohttp.ClientSession) -> None:
    async with http.post("/v1/keys", json={"name": "helpdesk", "scopes": ["shipments:read"],
                                           "customers": ["acme"], "expires_days": 30}) as resp:
        assert resp.status == 201
        created = await resp.json()
    key, key_id = created["key"], created["id"]
    assert key.startswith(key_id + ".") and created["customers"] == ["acme"] and created["expires_at"]
    async with http.get(f"/v1/keys/{key_id}") as resp:
        listed = await resp.json()
        assert "key" not in listed and "secret_hash" not in listed and listed["last_used_at"] is None
    with system.db() as db:
        stored = db.execute("SELECT secret_hash FROM api_keys WHERE id = %s", (key_id,)).fetchone()
    assert stored is not None and isinstance(stored[0], bytes) and key.encode() not in stored[0]  # a hash only
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(key)) as client:
        async with client.get("/v1/shipments?limit=1") as resp:
            assert resp.status == 200

        async def used() -> Any:
            async with http.get(f"/v1/keys/{key_id}") as resp:
                return (await resp.json())["last_used_at"]

        await eventually(used, timeout=30, what="last_used_at")
        async with http.delete(f"/v1/keys/{key_id}") as resp:
            assert resp.status == 204
        async with http.delete(f"/v1/keys/{key_id}") as resp:
            assert resp.status == 404

        async def refused() -> Any:
            async with client.get("/v1/shipments?limit=1") as resp:
                return (await resp.json())["error"] if resp.status == 401 else None

        assert await eventually(refused, timeout=30, what="the revoked key refused") == "key_revoked"
    admin_id = system.admin_key.partition(".")[0]
    async with http.get("/v1/audit", params={"target_type": "key", "target_id": key_id}) as resp:
        records = (await resp.json())["items"]
    assert [(r["action"], r["actor"]) for r in records] == [("key.revoked", admin_id), ("key.created", admin_id)]


async def test_an_expired_key_is_refused(system: System) -> None:
    key_id, key = await system.create_key("shipments:read", expires_days=1)
    with system.db() as db:
        db.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s", (key_id,))
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(key)) as client:
        async def refused() -> Any:
            async with client.get("/v1/shipments?limit=1") as resp:
                return (await resp.json())["error"] if resp.status == 401 else None

        assert await eventually(refused, timeout=30, what="the expired key refused") == "key_expired"


async def test_mapping_changes_are_audited_with_the_key(system: System) -> None:
    key_id, key = await system.create_key("mappings:write")
    code = f"AUD-{uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(key)) as client:
        async with client.put(f"/v1/carriers/pigeonpost/mappings/{code}", json={"status": "delivered"}) as resp:
            assert resp.status == 201
        async with client.delete(f"/v1/carriers/pigeonpost/mappings/{code}") as resp:
            assert resp.status == 204
    with system.db() as db:
        rows = db.execute("SELECT action, actor FROM audit_log WHERE target_id = %s ORDER BY id",
                          (f"pigeonpost:{code}",)).fetchall()
    assert rows == [("mapping.created", key_id), ("mapping.deleted", key_id)]


def test_the_keys_command_creates_lists_and_revokes(system: System) -> None:
    env = {**os.environ, **system.env}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trackstream.cli", "keys", *args],
                              env=env, capture_output=True, text=True, timeout=60)

    made = run("create", "--name", "cli partner", "--scope", "track", "--scope", "subscriptions:write",
               "--customer", "acme", "--expires-days", "7")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]  # alone on the last line
    key_id = key.partition(".")[0]
    assert key_id.startswith("tsk_") and len(key) == len(key_id) + 1 + 43
    listing = run("list")
    assert listing.returncode == 0 and key_id in listing.stdout and key not in listing.stdout
    line = next(line for line in listing.stdout.splitlines() if line.startswith(key_id))
    assert "active" in line and "customers=acme" in line and "subscriptions:write,track" in line
    assert run("revoke", key_id).returncode == 0
    again = run("revoke", key_id)
    assert again.returncode == 1 and "no active key" in again.stderr
    assert "revoked" in next(line for line in run("list").stdout.splitlines() if line.startswith(key_id))
    bad = run("create", "--name", "x", "--scope", "events:write", "--carrier", "ups")
    assert bad.returncode == 2 and "ups" in bad.stderr


async def test_metrics_can_require_a_key(system: System) -> None:
    from aiohttp.test_utils import TestServer

    from api.server import init_app
    from tests.support import free_port
    from trackstream.settings import Settings

    app = init_app(Settings.from_env(dict(system.env, TRACKSTREAM_METRICS_REQUIRE_KEY="1")))
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    _, reader = await system.create_key("metrics:read")
    _, other = await system.create_key("shipments:read")
    try:
        async with aiohttp.ClientSession(base_url=str(server.make_url(""))) as client:
            for headers, status in (({}, 401), (bearer(other), 403), (bearer(reader), 200),
                                    (bearer(system.admin_key), 200)):
                async with client.get("/metrics", headers=headers) as resp:
                    assert resp.status == status, headers
                    if status == 200:
                        assert "trackstream_" in await resp.text()
            async with client.get("/healthz") as resp:
                assert resp.status == 200  # still open
    finally:
        await server.close()
