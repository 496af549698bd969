"""DPD NL, TNT, Sendcloud (v3 and v2) and MyParcel polled end to end: one ``trackstream poll``
process with an account per carrier against the local carrier API, the session's Kafka, PostgreSQL
and worker normalizing what it publishes.

Shipments registered through ``POST /v1/shipments`` get their carrier status; TNT's numbers go in
one request, MyParcel's ids in one ``/tracktraces`` call after a barcode lookup each; DPD's token,
revoked mid-run, is renewed by logging in again; unknown numbers stay pending, recorded as not found,
and nothing reaches the dead-letter table.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.conftest import System
from tests.fakes.carrier_api import FakeCarrierApi
from tests.fakes.carriers import dpd_nl, myparcel, sendcloud, tnt
from tests.integration.test_pipeline import shipment
from tests.support import eventually
from trackstream.stack.process import ManagedProcess

CADENCE = {"pre_transit": "1s", "in_transit": "1s", "near_delivery": "1s", "exception": "1s", "pickup": "1s",
           "not_found": "1s", "error": "1s", "idle": "0.2s"}
CUSTOMER = "it-pollers-b"
RUN = uuid.uuid4().hex[:6].upper()

DPD_OUT, DPD_UNKNOWN = f"0530{RUN}01", f"0530{RUN}02"
TNT_OUT, TNT_DONE, TNT_UNKNOWN = f"7{RUN}01", f"7{RUN}02", f"7{RUN}03"
SC_V3, SC_V2 = f"3SSC{RUN}3", f"3SSC{RUN}2"
MP_OUT, MP_SORTED = f"3SMYPA{RUN}1", f"3SMYPA{RUN}2"
MP_IDS = {MP_OUT: 80_000_001, MP_SORTED: 80_000_002}
DPD_STEPS = [("PickedUp", "Parcel handed to DPD", "Mechelen (BE)", "11/20/2026 6:05:00 PM"),
             ("Courier", "Parcel out for delivery", "Nieuwegein (NL)", "11/21/2026 7:34:34 AM"),
             ("Delivered", "Delivered", "Nieuwegein (NL)", "11/21/2026 2:15:00 PM")]
SORTED = [("A01", 2, "De zending is aangemeld bij PostNL", "2026-11-20 09:00:00"),
          ("B01", 3, "Zending is ontvangen door PostNL", "2026-11-20 17:09:55")]


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeCarrierApi]:
    api = FakeCarrierApi().start()
    try:
        yield api
    finally:
        api.stop()


def _accounts(api: FakeCarrierApi) -> dict[str, object]:
    def account(name: str, carrier: str, credentials: dict[str, str], customers: list[str] | None = None
                ) -> dict[str, object]:
        return {"name": name, "carrier": carrier, "base_url": api.base_url, "credentials": credentials,
                "rate_limit": {"requests": 20, "per_seconds": 1}, "cadence": CADENCE,
                "customers": customers or [CUSTOMER]}

    return {"accounts": [
        account("itb-dpd", "dpd_nl", {"delis_id": "KD1234", "password": "${IT_DPD_PASSWORD}"}),
        account("itb-tnt", "tnt", {"username": "tnt-user", "password": "tnt-password"}),
        account("itb-sendcloud", "sendcloud", {"public_key": "sc-public", "secret_key": "sc-secret"}),
        account("itb-sendcloud-v2", "sendcloud", {"public_key": "sc-public", "secret_key": "sc-secret",
                                                  "api_version": "2"}, [f"{CUSTOMER}-v2"]),
        account("itb-myparcel", "myparcel", {"api_key": "mp-api-key"}),
    ]}


async def _register(http: aiohttp.ClientSession, carrier: str, number: str, customer: str = CUSTOMER) -> None:
    async with http.post("/v1/shipments", json={"carrier": carrier, "tracking_number": number,
                                                "customer": customer}) as resp:
        assert resp.status == 202, await resp.text()


async def _status(http: aiohttp.ClientSession, carrier: str, number: str) -> str | None:
    found = await shipment(http, carrier, number)
    return None if found is None else str(found["status"])


def _poll_rows(system: System, account: str) -> dict[str, tuple[object, ...]]:
    with system.db() as conn:
        rows = conn.execute("SELECT tracking_number, last_result, polled_by, polls FROM poll_state "
                            "WHERE account = %s", (account,))
        return {str(r[0]): tuple(r) for r in rows}


async def test_four_carriers_polled_end_to_end(system: System, http: aiohttp.ClientSession,
                                               fake_api: FakeCarrierApi, tmp_path: Path) -> None:
    fake_api.set("dpd_nl", DPD_OUT, dpd_nl.tracking_response(DPD_STEPS, reached=2))
    fake_api.set("tnt", TNT_OUT, tnt.consignment(TNT_OUT, [
        ("OD", "Out For Delivery.", "20261121", "0747", "QAR"),
        ("IS", "Shipment Received At Tnt Location", "20261120", "2145", "QAR")]))
    fake_api.set("tnt", TNT_DONE, tnt.consignment(TNT_DONE, [
        ("OK", "Shipment Delivered In Good Condition.", "20261121", "1020", "QAR")], summary="DEL"))
    fake_api.set("sendcloud", SC_V3, sendcloud.v3_tracking(SC_V3, [
        ("accepted", "Parcel has been accepted by the carrier.", "2026-11-20T18:00:00Z"),
        ("delivered", "Delivered", "2026-11-21T10:12:00Z")]))
    fake_api.set("sendcloud_v2", SC_V2, sendcloud.v2_tracking("629", [
        ("shipment-on-route", "", "2026-11-21 08:43:13.615997+00:00"),
        ("ready-to-send", "Ready to send", "2026-11-20 14:42:06.318296+00:00")]))
    for barcode, history in ((MP_OUT, [*SORTED, ("J05", 5, "Bezorger is onderweg", "2026-11-21 08:35:51")]),
                             (MP_SORTED, SORTED)):
        myparcel.state(fake_api).add(MP_IDS[barcode], barcode)
        fake_api.set("myparcel", barcode, myparcel.tracktrace(MP_IDS[barcode], barcode, history))

    registered = [("dpd_nl", DPD_OUT), ("dpd_nl", DPD_UNKNOWN), ("tnt", TNT_OUT), ("tnt", TNT_DONE),
                  ("tnt", TNT_UNKNOWN), ("sendcloud", SC_V3), ("myparcel", MP_OUT), ("myparcel", MP_SORTED)]
    for carrier, number in registered:
        await _register(http, carrier, number)
    await _register(http, "sendcloud", SC_V2, f"{CUSTOMER}-v2")
    for carrier, number in [*registered, ("sendcloud", SC_V2)]:
        # all registered before the poller starts, so each carrier's first poll sees them together
        await eventually(_stored(http, carrier, number), 60, what=f"{carrier} {number} stored")

    accounts = tmp_path / "accounts.json"
    accounts.write_bytes(orjson.dumps(_accounts(fake_api)))
    env = {**system.env, "TRACKSTREAM_POLL_ACCOUNTS": str(accounts), "TRACKSTREAM_WORKER_ID": "poller-b",
           "IT_DPD_PASSWORD": "dpd-password"}
    proc = ManagedProcess("poller-b", [sys.executable, "-m", "trackstream.cli", "poll"], tmp_path / "poller-b.log",
                          env=env)
    proc.start()
    try:
        expected = {("dpd_nl", DPD_OUT): "out_for_delivery", ("tnt", TNT_OUT): "out_for_delivery",
                    ("tnt", TNT_DONE): "delivered", ("sendcloud", SC_V3): "delivered",
                    ("sendcloud", SC_V2): "in_transit", ("myparcel", MP_OUT): "out_for_delivery",
                    ("myparcel", MP_SORTED): "in_transit"}
        for (carrier, number), wanted in expected.items():
            await eventually(_check(http, carrier, number, wanted), 90, what=f"{carrier} {number} {wanted}")

        # batching: TNT's three numbers in one request, MyParcel's two ids in one /tracktraces call
        assert sorted([TNT_OUT, TNT_DONE, TNT_UNKNOWN]) in [sorted(b) for b in tnt.state(fake_api).batches]
        assert sorted(MP_IDS.values()) in [sorted(ids) for ids in myparcel.state(fake_api).tracktrace_ids]
        lookups = myparcel.state(fake_api).lookups
        assert lookups.count(MP_OUT) == 1 and lookups.count(MP_SORTED) == 1  # resolved once

        # DPD: a token revoked on DPD's side is renewed by logging in again, and polling goes on
        logins = dpd_nl.state(fake_api).logins
        dpd_nl.state(fake_api).revoke()
        fake_api.set("dpd_nl", DPD_OUT, dpd_nl.tracking_response(DPD_STEPS))
        await eventually(lambda: _is(http, "dpd_nl", DPD_OUT, "delivered"), 90, what="dpd delivered after re-login")
        assert dpd_nl.state(fake_api).logins == logins + 1

        # unknown numbers: still pending, recorded as not found
        for carrier, account, number in (("dpd_nl", "itb-dpd", DPD_UNKNOWN), ("tnt", "itb-tnt", TNT_UNKNOWN)):
            assert await _status(http, carrier, number) == "pending"
            row = _poll_rows(system, account)[number]
            assert row[1] == "not_found" and row[2] == "poller-b"
        with system.db() as conn:
            leases = {str(r[0]): str(r[1]) for r in
                      conn.execute("SELECT account, holder FROM poller_leases WHERE account LIKE 'itb-%'")}
            dead = conn.execute("SELECT count(*) FROM dead_letters WHERE carrier IN "
                                "('dpd_nl', 'tnt', 'sendcloud', 'myparcel') AND headers::text LIKE %s",
                                (f"%{RUN}%",)).fetchone()
        assert leases == {a: "poller-b" for a in ("itb-dpd", "itb-tnt", "itb-sendcloud", "itb-sendcloud-v2",
                                                   "itb-myparcel")}
        assert dead is not None and dead[0] == 0
    finally:
        proc.stop()


async def _is(http: aiohttp.ClientSession, carrier: str, number: str, wanted: str) -> bool:
    return await _status(http, carrier, number) == wanted


def _stored(http: aiohttp.ClientSession, carrier: str, number: str) -> Callable[[], Awaitable[str | None]]:
    return lambda: _status(http, carrier, number)


def _check(http: aiohttp.ClientSession, carrier: str, number: str, wanted: str) -> Callable[[], Awaitable[bool]]:
    return lambda: _is(http, carrier, number, wanted)
