"""``/v1/subscriptions`` and ``/v1/track`` on the real stack (API, worker, Kafka, PostgreSQL) with
real keys: ownership (another key's subscription is 404), bad input as JSON errors, audit records,
unknown numbers registered for the key's customer, another customer's number refused (409), the
partner view without personal data unless granted, and the SSRF guard at registration."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api.server import init_app
from tests.conftest import System
from tests.outbound.receiver import Receiver
from tests.support import bearer, eventually, free_port
from trackstream.settings import Settings


def number(prefix: str = "S") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12].upper()}"


async def call(system: System, key: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(key)) as session:
        async with session.request(method, path, json=body) as resp:
            text = await resp.text()
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, text


async def test_a_subscription_is_its_owners_and_every_change_is_audited(system: System, receiver: Receiver) -> None:
    owner_id, owner = await system.create_key("track", "subscriptions:write", name="partner a")
    _, other = await system.create_key("track", "subscriptions:write", name="partner b")
    status, created = await call(system, owner, "POST", "/v1/subscriptions", {
        "url": receiver.url, "kinds": ["status_changed", "delivered"],
        "tracking_numbers": [{"carrier": "subtest", "tracking_number": "ab 123"}]})
    assert status == 201, created
    sid = created["id"]
    assert sid.startswith("sub_") and created["secret"].startswith("whsec_")
    assert created["tracking_numbers"] == [{"carrier": "subtest", "tracking_number": "AB123"}]
    assert (created["state"], created["kinds"], created["owner_key_id"]) == ("active", ["status_changed", "delivered"],
                                                                            owner_id)
    status, listed = await call(system, owner, "GET", "/v1/subscriptions")
    assert status == 200 and [s["id"] for s in listed["items"]] == [sid] and "secret" not in listed["items"][0]
    assert (await call(system, other, "GET", "/v1/subscriptions"))[1]["items"] == []
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/rotate-secret"), ("GET", "/deliveries")):
        status, body = await call(system, other, method, f"/v1/subscriptions/{sid}{path}")
        assert (status, body["error"]) == (404, "subscription_not_found"), (method, path, body)
    status, body = await call(system, other, "PATCH", f"/v1/subscriptions/{sid}", {"state": "paused"})
    assert (status, body["error"]) == (404, "subscription_not_found")
    status, body = await call(system, system.admin_key, "GET", f"/v1/subscriptions/{sid}")  # admins see all
    assert status == 200 and body["id"] == sid
    status, body = await call(system, owner, "PATCH", f"/v1/subscriptions/{sid}", {"state": "paused"})
    assert (status, body["state"], body["paused_by"]) == (200, "paused", owner_id)
    status, body = await call(system, owner, "PATCH", f"/v1/subscriptions/{sid}",
                              {"state": "active", "kinds": ["event"], "url": receiver.url_for("/other")})
    assert (status, body["state"], body["kinds"], body["url"]) == (200, "active", ["event"],
                                                                  receiver.url_for("/other"))
    status, rotated = await call(system, owner, "POST", f"/v1/subscriptions/{sid}/rotate-secret")
    assert status == 200 and rotated["secret"] != created["secret"] and rotated["previous_secret_valid_until"]
    status, _ = await call(system, owner, "DELETE", f"/v1/subscriptions/{sid}")
    assert status == 204
    assert (await call(system, owner, "GET", f"/v1/subscriptions/{sid}"))[0] == 404
    with system.db() as db:
        actions = db.execute("SELECT actor, action FROM audit_log WHERE target_type = 'subscription' "
                             "AND target_id = %s ORDER BY id", (sid,)).fetchall()
    assert actions == [(owner_id, a) for a in ("subscription.created", "subscription.paused", "subscription.changed",
                                               "subscription.resumed", "subscription.secret_rotated",
                                               "subscription.deleted")]


async def test_bad_requests_get_json_errors(system: System, anonymous: aiohttp.ClientSession,
                                            receiver: Receiver) -> None:
    _, partner = await system.create_key("track", "subscriptions:write", customers=("acme-x",))
    _, tracker = await system.create_key("track")
    ok_numbers = [{"carrier": "subtest", "tracking_number": number()}]
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/v1/subscriptions", {"tracking_numbers": ok_numbers}, 422, "invalid_subscription"),
        ("POST", "/v1/subscriptions", {"url": receiver.url}, 422, "invalid_subscription"),
        ("POST", "/v1/subscriptions", {"url": receiver.url, "tracking_numbers": []}, 422, "invalid_subscription"),
        ("POST", "/v1/subscriptions", {"url": receiver.url, "tracking_numbers": ok_numbers, "kinds": ["everything"]},
         422, "invalid_subscription"),
        ("POST", "/v1/subscriptions", {"url": receiver.url, "tracking_numbers": [{"tracking_number": "ZZ1"}]},
         422, "carrier_unknown"),
        ("POST", "/v1/subscriptions", {"url": "ftp://example.com/", "tracking_numbers": ok_numbers},
         422, "url_not_allowed"),
        ("POST", "/v1/subscriptions", {"url": receiver.url, "customer": "globex"}, 403, "customer_not_allowed"),
        ("POST", "/v1/subscriptions", {"url": receiver.url, "tracking_numbers": ok_numbers, "extra": 1},
         422, "invalid_subscription"),
        ("POST", "/v1/subscriptions", [1, 2], 400, "invalid_body"),
        ("GET", "/v1/subscriptions?limit=0", None, 400, "invalid_parameter"),
        ("GET", "/v1/subscriptions/sub_nope", None, 404, "subscription_not_found"),
        ("POST", "/v1/subscriptions/sub_00000000000000000000/replay", {"since": "yesterday"}, 422, "invalid_replay"),
    ]
    for method, path, body, status, error in cases:
        got_status, got = await call(system, partner, method, path, body)
        assert (got_status, got.get("error")) == (status, error), (path, body, got)
        assert isinstance(got["message"], str) and got["message"]
    async with aiohttp.ClientSession(base_url=system.base_url, headers=bearer(partner)) as session:
        async with session.post("/v1/subscriptions", data=b"{not json") as resp:
            assert (resp.status, (await resp.json())["error"]) == (400, "malformed_body")
    status, body = await call(system, tracker, "POST", "/v1/subscriptions", {"url": receiver.url,
                                                                             "tracking_numbers": ok_numbers})
    assert (status, body["error"]) == (403, "missing_scope")
    async with anonymous.get("/v1/subscriptions") as resp:
        assert resp.status == 401 and (await resp.json())["error"] == "missing_key"


async def _shipment(system: System, key: str) -> tuple[Any, ...] | None:
    with system.db() as db:
        return db.execute("SELECT customer, status FROM shipments WHERE shipment_key = %s", (key,)).fetchone()


async def test_an_unknown_number_is_registered_for_the_keys_customer_and_anothers_is_refused(
        system: System, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    _, partner = await system.create_key("track", "subscriptions:write", customers=("acme-r",))
    mine, theirs = number("M"), number("T")
    async with http.post("/v1/shipments", json={"carrier": "subtest", "tracking_number": theirs,
                                                "customer": "globex-r"}) as resp:
        assert resp.status == 202
    await eventually(lambda: _shipment(system, f"subtest:{theirs}"), timeout=60, what="their shipment stored")
    status, body = await call(system, partner, "POST", "/v1/subscriptions", {
        "url": receiver.url, "tracking_numbers": [{"carrier": "subtest", "tracking_number": mine},
                                                  {"carrier": "subtest", "tracking_number": theirs}]})
    assert (status, body["error"], body["shipment_keys"]) == (409, "shipment_registered_elsewhere",
                                                              [f"subtest:{theirs}"])
    assert await _shipment(system, f"subtest:{mine}") is None  # nothing registered for a refused request
    status, body = await call(system, partner, "POST", "/v1/subscriptions", {
        "url": receiver.url, "tracking_numbers": [{"carrier": "subtest", "tracking_number": mine}]})
    assert status == 201, body
    found = await eventually(lambda: _shipment(system, f"subtest:{mine}"), timeout=60, what="registered")
    assert found == ("acme-r", "pending")


async def test_the_track_view_leaves_personal_data_out_unless_granted(system: System,
                                                                      http: aiohttp.ClientSession) -> None:
    tracking = "1Z" + uuid.uuid4().hex[:16].upper()  # a UPS number: the carrier is detected
    async with http.post("/v1/shipments", json={
            "carrier": "ups", "tracking_number": tracking, "customer": "acme-t", "order_number": "ORD-77",
            "destination_postcode": "1012AB", "destination_country": "NL"}) as resp:
        assert resp.status == 202
    async with http.post("/v1/events", json=[{
            "carrier": "ups", "tracking_number": tracking, "status": "in_transit", "code": "I",
            "occurred_at": "2026-11-21T10:00:00+01:00", "event_id": f"{tracking}-1",
            "location": {"city": "Amsterdam", "country": "NL", "postcode": "1012AB", "text": "Damrak 1"}}]) as resp:
        assert resp.status == 202, await resp.text()

    async def stored() -> bool:
        row = await _shipment(system, f"ups:{tracking}")
        return row is not None and row[1] == "in_transit"

    await eventually(stored, timeout=60, what="the event stored")
    _, partner = await system.create_key("track", customers=("acme-t",))
    _, trusted = await system.create_key("track", customers=("acme-t",), personal_data=True)
    _, stranger = await system.create_key("track", customers=("globex-t",))
    status, view = await call(system, partner, "GET", f"/v1/track/ups/{tracking}")
    assert status == 200, view
    assert (view["status"], view["estimated_delivery"]) == ("in_transit", None)
    assert view["last_location"] == {"city": "Amsterdam", "country": "NL"}
    assert [(e["event_id"], e["status"], e["location"]) for e in view["events"]] == [
        (f"{tracking}-1", "in_transit", {"city": "Amsterdam", "country": "NL"})]
    assert not {"order_number", "customer", "destination_postcode"} & set(view)
    assert "1012AB" not in str(view) and "Damrak" not in str(view)
    status, detected = await call(system, partner, "GET", f"/v1/track/{tracking.lower()}")
    assert status == 200 and detected == view
    status, full = await call(system, trusted, "GET", f"/v1/track/ups/{tracking}")
    assert (status, full["order_number"], full["destination_postcode"]) == (200, "ORD-77", "1012AB")
    assert full["events"][0]["location"]["text"] == "Damrak 1"
    unknown = "1Z" + uuid.uuid4().hex[:16].upper()
    for path in (f"/v1/track/ups/{tracking}", f"/v1/track/{tracking}"):
        status, body = await call(system, stranger, "GET", path)
        assert (status, body["error"]) == (404, "shipment_not_found")
    status, body = await call(system, stranger, "GET", f"/v1/track/ups/{unknown}")
    assert (status, body["error"]) == (404, "shipment_not_found")
    status, body = await call(system, partner, "GET", "/v1/track/XYZ")
    assert (status, body["error"]) == (422, "carrier_unknown")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]/x",
                                 "http://169.254.169.254/latest", "http://10.0.0.8/x"])
async def test_registration_refuses_private_targets(url: str) -> None:
    """With TRACKSTREAM_OUTBOUND_ALLOW_PRIVATE off (the default) the API refuses the URL before it
    touches anything (no database, no broker here)."""
    from tests.support import admit_one_key

    env = {"TRACKSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
           "TRACKSTREAM_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"}
    app = init_app(Settings.from_env(env))
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with aiohttp.ClientSession(base_url=str(server.make_url("")), headers=admit_one_key(app)) as client:
            async with client.post("/v1/subscriptions", json={
                    "url": url, "tracking_numbers": [{"carrier": "subtest", "tracking_number": "X1"}]}) as resp:
                body = await resp.json()
            assert (resp.status, body["error"]) == (422, "url_not_allowed"), body
            assert "not public" in body["message"] or "IPv4" in body["message"]
            async with client.patch("/v1/subscriptions/sub_00000000000000000000", json={"url": url}) as resp:
                assert (resp.status, (await resp.json())["error"]) == (422, "url_not_allowed")
    finally:
        await server.close()


async def test_after_a_rotation_deliveries_verify_with_either_secret_and_replay_sends_again(
        system: System, receiver: Receiver, http: aiohttp.ClientSession) -> None:
    from standardwebhooks import Webhook

    _, partner = await system.create_key("track", "subscriptions:write")
    tracking = number("R")
    status, created = await call(system, partner, "POST", "/v1/subscriptions", {
        "url": receiver.url, "tracking_numbers": [{"carrier": "subtest", "tracking_number": tracking}]})
    assert status == 201, created
    sid = created["id"]
    status, rotated = await call(system, partner, "POST", f"/v1/subscriptions/{sid}/rotate-secret")
    assert status == 200
    async with http.post("/v1/events", json=[{
            "carrier": "subtest", "tracking_number": tracking, "status": "in_transit", "code": "X",
            "occurred_at": "2026-11-21T10:00:00+01:00", "event_id": f"{tracking}-1"}]) as resp:
        assert resp.status == 202, await resp.text()

    async def got(count: int) -> Any:
        async def check() -> bool:
            return len(receiver.accepted()) >= count
        return check

    await eventually(await got(1), timeout=60, what="the delivery")
    first = receiver.accepted()[0]
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    for secret in (created["secret"], rotated["secret"]):
        assert Webhook(secret).verify(first.body, first.headers)["event_id"] == f"{tracking}-1"
    status, body = await call(system, partner, "POST", f"/v1/subscriptions/{sid}/replay",
                              {"event_id": f"{tracking}-1"})
    assert (status, body) == (202, {"status": "accepted", "replayed": 1})
    await eventually(await got(2), timeout=60, what="the replayed delivery")
    again = receiver.accepted()[1]
    assert again.json()["event_id"] == f"{tracking}-1" and again.headers["webhook-id"] == first.headers["webhook-id"]
    status, log = await call(system, partner, "GET", f"/v1/subscriptions/{sid}/deliveries")
    assert status == 200 and [m["status"] for m in log["items"]] == ["delivered"]
    assert [a["status_code"] for a in log["items"][0]["attempt_log"]] == [200, 200]
    status, body = await call(system, partner, "POST", f"/v1/subscriptions/{sid}/replay", {"event_id": "nope"})
    assert (status, body) == (202, {"status": "accepted", "replayed": 0})  # nothing of that event to send
