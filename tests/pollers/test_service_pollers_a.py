"""DHL Parcel NL, DHL Express, GLS and FedEx polled end to end: one ``trackstream poll`` process with
an account per carrier, pointed at the local carrier API, against the session's Kafka, PostgreSQL
and worker. Shipments registered through ``POST /v1/shipments`` are fetched in batches (the
registration's postcode in DHL's key), their events land in the store, unknown numbers are
recorded as not found."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import System
from tests.fakes.carrier_api import FakeCarrierApi
from tests.fakes.carriers.dhl_express import AUTH as DHL_EXPRESS_AUTH
from tests.fakes.carriers.dhl_express import mydhl_shipment
from tests.fakes.carriers.dhl_parcel_nl import native_parcel
from tests.fakes.carriers.fedex import CLIENT as FEDEX_CLIENT
from tests.fakes.carriers.fedex import fedex_result
from tests.fakes.carriers.gls_nl import CLIENT as GLS_CLIENT
from tests.fakes.carriers.gls_nl import gls_parcel
from tests.integration.test_pipeline import shipment
from tests.support import eventually
from trackstream.stack.process import ManagedProcess

CADENCE = {"pre_transit": "1s", "in_transit": "1s", "near_delivery": "1s", "exception": "1s", "pickup": "1s",
           "not_found": "1s", "error": "1s", "idle": "0.2s"}
RATE = {"requests": 20, "per_seconds": 1}


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeCarrierApi]:
    api = FakeCarrierApi().start()
    try:
        yield api
    finally:
        api.stop()


#: Only this module's shipments are polled: other tests (the Schemathesis run among them) register
#: shipments of the same carriers in the same database.
CUSTOMER = f"pollers-a-{uuid.uuid4().hex[:6]}"


def accounts(api: FakeCarrierApi) -> dict[str, Any]:
    common = {"rate_limit": RATE, "cadence": CADENCE, "customers": [CUSTOMER]}
    return {"accounts": [
        {"name": "pa-dhl-nl", "carrier": "dhl_parcel_nl", "base_url": api.base_url, **common},
        {"name": "pa-dhl-express", "carrier": "dhl_express", "base_url": f"{api.base_url}/mydhlapi",
         "credentials": {"username": DHL_EXPRESS_AUTH[0], "password": "${PA_MYDHL_PASSWORD}"}, **common},
        {"name": "pa-gls", "carrier": "gls_nl", "base_url": api.base_url,
         "credentials": {"client_id": GLS_CLIENT[0], "client_secret": "${PA_GLS_SECRET}"}, **common},
        {"name": "pa-fedex", "carrier": "fedex", "base_url": api.base_url,
         "credentials": {"client_id": FEDEX_CLIENT[0], "client_secret": "${PA_FEDEX_SECRET}"}, **common},
    ]}


@pytest.fixture(scope="module")
def poller_factory() -> Iterator[list[ManagedProcess]]:
    """The poller processes a test started; stopped at the end of the module."""
    started: list[ManagedProcess] = []
    yield started
    for proc in started:
        if proc.alive():
            proc.stop()


def start_poller(system: System, api: FakeCarrierApi, folder: Path, started: list[ManagedProcess]) -> ManagedProcess:
    path = folder / "accounts.json"
    path.write_bytes(orjson.dumps(accounts(api)))
    env = {**system.env, "TRACKSTREAM_POLL_ACCOUNTS": str(path), "TRACKSTREAM_WORKER_ID": "poller-pa",
           "PA_MYDHL_PASSWORD": DHL_EXPRESS_AUTH[1], "PA_GLS_SECRET": GLS_CLIENT[1],
           "PA_FEDEX_SECRET": FEDEX_CLIENT[1]}
    proc = ManagedProcess("poller-pa", [sys.executable, "-m", "trackstream.cli", "poll"], folder / "poller-pa.log",
                          env=env)
    proc.start()
    started.append(proc)
    return proc


def tn(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


async def register(http: aiohttp.ClientSession, carrier: str, number: str, postcode: str | None = None) -> None:
    body: dict[str, Any] = {"carrier": carrier, "tracking_number": number, "customer": CUSTOMER}
    if postcode:
        body.update(destination_postcode=postcode, destination_country="NL")
    async with http.post("/v1/shipments", json=body) as resp:
        assert resp.status == 202, await resp.text()


async def status_of(http: aiohttp.ClientSession, carrier: str, number: str) -> str | None:
    found = await shipment(http, carrier, number)
    return None if found is None else str(found["status"])


def poll_results(system: System, account: str) -> dict[str, str]:
    with system.db() as conn:
        rows = conn.execute("SELECT tracking_number, last_result FROM poll_state WHERE account = %s", (account,))
        return {str(r[0]): str(r[1]) for r in rows}


async def test_four_carriers_polled_in_batches_into_the_store(
        system: System, http: aiohttp.ClientSession, fake_api: FakeCarrierApi,
        poller_factory: list[ManagedProcess], tmp_path: Path) -> None:
    dhl_nl = [tn("3SPA") for _ in range(3)]
    express = [f"5{uuid.uuid4().int % 10**9:09d}" for _ in range(3)]
    gls = [f"{uuid.uuid4().int % 10**11:011d}" for _ in range(3)]
    fedex = [f"79{uuid.uuid4().int % 10**10:010d}" for _ in range(3)]
    for number in dhl_nl[:2]:
        fake_api.set("dhl_parcel_nl", number, native_parcel(number, [
            ("UNDERWAY", "PARCEL_SORTED_AT_HUB", "2026-11-20T17:00:00Z"),
            ("IN_DELIVERY", "OUT_FOR_DELIVERY", "2026-11-21T07:30:00Z")]))
    for number in express[:2]:
        fake_api.set("dhl_express", number, mydhl_shipment(number, [
            ("2026-11-20", "14:02:00", "PU", "Shipment picked up", "LEJ|LEIPZIG-DE"),
            ("2026-11-21", "13:20:00", "OK", "Delivered : J JANSEN", "AMS|AMSTERDAM-NL")]))
    for number in gls[:2]:
        fake_api.set("gls_nl", number, gls_parcel(number, "INTRANSIT", "2026-11-20T17:46:14+0100", [
            ("INTIAL.NORMAL", "The parcel was handed over to GLS.", "NL", "2026-11-20T17:46:14+0100"),
            ("INTIAL.PREADVICE", "The parcel data was entered into the GLS IT system.", "NL",
             "2026-11-20T09:30:00+0100")]))
    for number in fedex[:2]:
        fake_api.set("fedex", number, fedex_result(number, [
            ("DL", "DL", "Delivered", "2026-11-21T13:45:00-06:00"),
            ("PU", "PU", "Picked up", "2026-11-19T18:02:00-06:00")]))
    postcodes = ["1234 ab", None, "3542AD"]
    for number, postcode in zip(dhl_nl, postcodes, strict=True):
        await register(http, "dhl_parcel_nl", number, postcode)
    for carrier, numbers in (("dhl_express", express), ("gls_nl", gls), ("fedex", fedex)):
        for number in numbers:
            await register(http, carrier, number)
    everything = [("dhl_parcel_nl", n) for n in dhl_nl] + [("dhl_express", n) for n in express] + \
        [("gls_nl", n) for n in gls] + [("fedex", n) for n in fedex]

    async def all_registered() -> bool:
        return all([await status_of(http, c, n) == "pending" for c, n in everything])

    await eventually(all_registered, 60, what="the registrations in the store")
    # start polling only now: every shipment is due at once, so each carrier gets one batch
    start_poller(system, fake_api, tmp_path, poller_factory)

    expected = {("dhl_parcel_nl", n): "out_for_delivery" for n in dhl_nl[:2]}
    expected |= {("dhl_express", n): "delivered" for n in express[:2]}
    expected |= {("gls_nl", n): "in_transit" for n in gls[:2]}
    expected |= {("fedex", n): "delivered" for n in fedex[:2]}
    for (carrier, number), wanted in expected.items():
        async def arrived(carrier: str = carrier, number: str = number, wanted: str = wanted) -> bool:
            return await status_of(http, carrier, number) == wanted

        await eventually(arrived, 90, what=f"{carrier} {number} {wanted}")

    async def unknown_recorded() -> bool:
        return all(poll_results(system, account).get(numbers[2]) == "not_found" for account, numbers in (
            ("pa-dhl-nl", dhl_nl), ("pa-dhl-express", express), ("pa-gls", gls), ("pa-fedex", fedex)))

    await eventually(unknown_recorded, 60, what="the unknown numbers recorded as not found")
    for carrier, number in ((c, ns[2]) for c, ns in (("dhl_parcel_nl", dhl_nl), ("dhl_express", express),
                                                     ("gls_nl", gls), ("fedex", fedex))):
        assert await status_of(http, carrier, number) == "pending"

    # the first request to each carrier carried all three of its numbers
    with fake_api.lock:
        dhl_keys = list(fake_api.state["dhl_parcel_nl.keys"])
        express_queries = [r["query"] for r in fake_api.state["dhl_express.requests"]]
        fedex_bodies = [b["body"] for b in fake_api.state["fedex.bodies"]]
    assert sorted(dhl_keys[0]) == sorted(zip(dhl_nl, ["1234AB", None, "3542AD"], strict=True))
    assert sorted(v for k, v in express_queries[0] if k == "shipmentTrackingNumber") == sorted(express)
    [first_gls, *_] = fake_api.requests("gls_nl")
    assert sorted(first_gls.path.rsplit("/", 1)[-1].split(",")) == sorted(gls)
    assert sorted(i["trackingNumberInfo"]["trackingNumber"] for i in fedex_bodies[0]["trackingInfo"]) == sorted(fedex)


async def test_a_batch_refused_for_one_bad_number_is_asked_in_halves(
        system: System, http: aiohttp.ClientSession, fake_api: FakeCarrierApi,
        poller_factory: list[ManagedProcess], tmp_path: Path) -> None:
    """GLS refuses a whole request (400) for one reference it cannot read: the poller asks again in
    halves, so the other numbers of the batch are still tracked and only the bad one is in error."""
    good = [f"{uuid.uuid4().int % 10**11:011d}" for _ in range(3)]
    bad = f"{uuid.uuid4().int % 10**11:011d}"
    with fake_api.lock:
        fake_api.state.setdefault("gls_nl.malformed", set()).add(bad)
    for number in good:
        fake_api.set("gls_nl", number, gls_parcel(number, "INTRANSIT", "2026-11-20T17:46:14+0100", [
            ("INTIAL.NORMAL", "The parcel was handed over to GLS.", "NL", "2026-11-20T17:46:14+0100")]))
    for proc in poller_factory:  # a poller still running from another test would see the numbers one by one
        proc.stop()
    for number in [*good, bad]:
        await register(http, "gls_nl", number)

    async def all_registered() -> bool:
        return all([await status_of(http, "gls_nl", n) == "pending" for n in [*good, bad]])

    await eventually(all_registered, 60, what="the registrations in the store")
    # start polling only now: the four are due at once, so they are asked for in one batch
    start_poller(system, fake_api, tmp_path, poller_factory)
    for number in good:
        async def arrived(number: str = number) -> bool:
            return await status_of(http, "gls_nl", number) == "in_transit"

        await eventually(arrived, 90, what=f"gls {number} in transit despite the bad batch member")

    async def bad_in_error() -> bool:
        return poll_results(system, "pa-gls").get(bad) == "error"

    await eventually(bad_in_error, 60, what="the malformed number recorded as an error")
    refused = [r for r in fake_api.requests("gls_nl") if r.status == 400 and r.number and bad in r.number]
    assert any("," in (r.number or "") for r in refused)  # a batch was refused...
    assert any(r.number == bad for r in refused)  # ...and narrowed down to the bad number alone


def test_poll_check_shows_the_carriers_published_defaults(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        "  - {name: nl, carrier: dhl_parcel_nl}\n"
        "  - {name: nl-unified, carrier: dhl_parcel_nl, credentials: {api_key: k}}\n"
        "  - {name: ex, carrier: dhl_express, credentials: {username: u, password: p}}\n"
        "  - {name: gls, carrier: gls_nl, credentials: {client_id: i, client_secret: s}}\n"
        "  - {name: fdx, carrier: fedex, credentials: {client_id: i, client_secret: s}}\n")
    out = subprocess.run([sys.executable, "-m", "trackstream.cli", "poll", "--check", "--accounts", str(path)],
                         env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "nl: dhl_parcel_nl at https://api-gw.dhlparcel.nl, 2 requests per 1s, batches of 20" in lines
    assert any(line.startswith("nl-unified: dhl_parcel_nl") and "250 requests per 86400s, batches of 1" in line
               for line in lines)
    assert "ex: dhl_express at https://express.api.dhl.com/mydhlapi, 1 requests per 1s, batches of 200" in lines
    assert "gls: gls_nl at https://api.gls-group.net, 500 requests per 86400s, batches of 10" in lines
    assert "fdx: fedex at https://apis.fedex.com, 100000 requests per 86400s, batches of 30" in lines
    missing = tmp_path / "missing.yaml"
    missing.write_text("accounts:\n  - {name: fdx, carrier: fedex, credentials: {client_id: i}}\n")
    out = subprocess.run([sys.executable, "-m", "trackstream.cli", "poll", "--check", "--accounts", str(missing)],
                         env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "credentials.client_secret is required" in out.stderr
