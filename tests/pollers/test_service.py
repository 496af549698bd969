"""Pollers end to end on the real parts: two poller processes against the session's Kafka and
PostgreSQL, a local carrier API, the worker normalizing what they publish.

Exactly one process polls each account (the PostgreSQL advisory lock); when it is killed the other
takes over from the stored schedule; final shipments are never polled again; unchanged responses
are not republished; the UPS account's rate limit holds (measured); PostNL's delta feed is read.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import WORKER_POLLED_CUSTOMER, System
from tests.fakes.carrier_api import FakeCarrierApi, postnl_status, ups_details
from tests.integration.test_pipeline import shipment
from tests.support import eventually
from trackstream.stack.process import ManagedProcess

CADENCE = {"pre_transit": "1s", "in_transit": "1s", "near_delivery": "1s", "exception": "1s", "pickup": "1s",
           "not_found": "1s", "error": "1s", "idle": "0.2s", "delta": "1s", "delta_scale": 1}
UPS_RATE = 4  # requests per second
CUSTOMER = "it-pollers"  # the accounts poll only this customer's shipments
RESTART_CUSTOMER = "it-restart"


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeCarrierApi]:
    api = FakeCarrierApi().start()
    try:
        yield api
    finally:
        api.stop()


class Pollers(dict[str, ManagedProcess]):
    """The poller processes by worker id; ``start`` adds one."""

    start: Callable[[str], ManagedProcess]


@pytest.fixture(scope="module")
def pollers(system: System, fake_api: FakeCarrierApi, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Pollers]:
    folder = tmp_path_factory.mktemp("pollers")
    accounts = folder / "accounts.json"
    accounts.write_bytes(orjson.dumps({"accounts": [
        {"name": "it-postnl", "carrier": "postnl", "base_url": fake_api.base_url,
         "credentials": {"api_key": "${IT_POSTNL_KEY}", "customer_number": "11223344"},
         "rate_limit": {"requests": 50, "per_seconds": 1}, "cadence": CADENCE, "customers": [CUSTOMER]},
        {"name": "it-ups", "carrier": "ups", "base_url": fake_api.base_url,
         "credentials": {"client_id": "ups-id", "client_secret": "ups-secret"},
         "rate_limit": {"requests": UPS_RATE, "per_seconds": 1}, "cadence": CADENCE, "customers": [CUSTOMER]},
        # default cadence (hours): for the restart test
        {"name": "it-restart", "carrier": "ups", "base_url": fake_api.base_url,
         "credentials": {"client_id": "ups-id", "client_secret": "ups-secret"}, "customers": [RESTART_CUSTOMER],
         "cadence": {"idle": "0.2s"}},
    ]}))
    procs = Pollers()

    def start(name: str) -> ManagedProcess:
        env = {**system.env, "TRACKSTREAM_POLL_ACCOUNTS": str(accounts), "TRACKSTREAM_WORKER_ID": name,
               "IT_POSTNL_KEY": "pnl-key"}
        proc = ManagedProcess(name, [sys.executable, "-m", "trackstream.cli", "poll"], folder / f"{name}.log",
                              env=env)
        proc.start()
        procs[name] = proc
        return proc

    procs.start = start
    start("poller-a")
    start("poller-b")
    try:
        yield procs
    finally:
        for proc in procs.values():
            if proc.alive():
                proc.stop()


def tn(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


async def register(http: aiohttp.ClientSession, carrier: str, number: str, customer: str = CUSTOMER) -> None:
    registration = {"carrier": carrier, "tracking_number": number, "customer": customer}
    async with http.post("/v1/shipments", json=registration) as resp:
        assert resp.status == 202, await resp.text()


def leases(system: System) -> dict[str, str]:
    with system.db() as conn:
        return {str(r[0]): str(r[1]) for r in conn.execute("SELECT account, holder FROM poller_leases")}


def poll_rows(system: System, account: str) -> list[tuple[Any, ...]]:
    with system.db() as conn:
        return list(conn.execute(
            "SELECT tracking_number, polled_by, last_result, next_poll_at, polls FROM poll_state WHERE account = %s",
            (account,)))


async def status_of(http: aiohttp.ClientSession, carrier: str, number: str) -> str | None:
    found = await shipment(http, carrier, number)
    return None if found is None else str(found["status"])


async def test_polled_events_land_and_one_process_polls_each_account(
        system: System, http: aiohttp.ClientSession, fake_api: FakeCarrierApi,
        pollers: Pollers) -> None:
    postnl_numbers = [tn("3SIT") for _ in range(3)]
    ups_numbers = [tn("1ZIT") for _ in range(10)]
    for number in postnl_numbers:
        fake_api.set("postnl", number, postnl_status(number, [("J05", "Bezorger onderweg", "21-11-2026 09:15:00"),
                                                              ("B01", "Ontvangen", "20-11-2026 18:00:00")]))
        await register(http, "postnl", number)
    for number in ups_numbers:
        fake_api.set("ups", number, ups_details(number, [("I", "OR", "005", "Origin Scan", "20261120101500")]))
        await register(http, "ups", number)

    for number in postnl_numbers:
        await eventually(_check(http, "postnl", number, "out_for_delivery"), 90, what=f"postnl {number}")
    for number in ups_numbers:
        await eventually(_check(http, "ups", number, "in_transit"), 90, what=f"ups {number}")

    holders = leases(system)
    assert set(holders) >= {"it-postnl", "it-ups"}
    for account in ("it-postnl", "it-ups"):
        assert holders[account] in pollers
        assert {row[1] for row in poll_rows(system, account)} == {holders[account]}

    # the UPS account's limit, measured at the carrier's side
    stamps = sorted(r.at for r in fake_api.requests("ups"))
    busiest = max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps)
    span = stamps[-1] - stamps[0]
    print(f"\nUPS poller: {len(stamps)} requests in {span:.2f}s ({len(stamps) / max(span, 1e-9):.1f}/s), "
          f"busiest second {busiest} (limit {UPS_RATE}/s)")
    assert busiest <= UPS_RATE + 1


def _check(http: aiohttp.ClientSession, carrier: str, number: str, wanted: str) -> Callable[[], Awaitable[bool]]:
    return lambda: _is(http, carrier, number, wanted)


async def _is(http: aiohttp.ClientSession, carrier: str, number: str, wanted: str) -> bool:
    return await status_of(http, carrier, number) == wanted


async def test_final_shipments_are_not_polled_again_and_unchanged_answers_are_not_republished(
        system: System, http: aiohttp.ClientSession, fake_api: FakeCarrierApi,
        pollers: Pollers) -> None:
    done, moving = tn("1ZDN"), tn("1ZMV")
    fake_api.set("ups", done, ups_details(done, [("D", "KB", "011", "Delivered", "20261121143000"),
                                                 ("I", "OR", "005", "Origin Scan", "20261120101500")]))
    fake_api.set("ups", moving, ups_details(moving, [("I", "OR", "005", "Origin Scan", "20261120101500")]))
    await register(http, "ups", done)
    await register(http, "ups", moving)
    await eventually(lambda: _is(http, "ups", done, "delivered"), 90, what="delivered")
    await eventually(lambda: _is(http, "ups", moving, "in_transit"), 90, what="in transit")

    async def polled_again() -> bool:
        rows = {r[0]: r for r in poll_rows(system, "it-ups")}
        return moving in rows and rows[moving][4] >= 3 and rows[moving][2] == "unchanged"

    await eventually(polled_again, 60, what="the moving shipment polled again, unchanged")
    polls_of_done = len(fake_api.requests("ups", done))
    await asyncio.sleep(3)  # three cadence periods
    assert len(fake_api.requests("ups", done)) == polls_of_done
    rows = {r[0]: r for r in poll_rows(system, "it-ups")}
    assert rows[done][3] is None  # next_poll_at: never
    found = await shipment(http, "ups", moving)
    assert found is not None and found["event_count"] == 1  # polled many times, stored once


async def test_the_other_process_takes_over_when_the_poller_dies(
        system: System, http: aiohttp.ClientSession, fake_api: FakeCarrierApi,
        pollers: Pollers) -> None:
    holder = leases(system)["it-postnl"]
    pollers[holder].stop(sig=signal.SIGKILL)
    number = tn("3SKL")
    fake_api.set("postnl", number, postnl_status(number, [("B01", "Ontvangen", "21-11-2026 08:00:00")]))
    await register(http, "postnl", number)
    await eventually(lambda: _is(http, "postnl", number, "in_transit"), 90, what="polled by the survivor")
    survivor = next(name for name in pollers if name != holder)
    assert leases(system)["it-postnl"] == survivor
    rows = {r[0]: r for r in poll_rows(system, "it-postnl")}
    assert rows[number][1] == survivor


async def test_postnl_delta_feed_reports_changes(
        system: System, http: aiohttp.ClientSession, fake_api: FakeCarrierApi,
        pollers: Pollers) -> None:
    number = tn("3SDL")  # the per-barcode API does not know it: only the delta feed does
    await register(http, "postnl", number)
    with fake_api.lock:
        fake_api.updated["11223344"] = [{
            "Barcode": number, "CreationDate": "2026-11-20T00:00:00", "CustomerNumber": "11223344",
            "CustomerCode": "DEVC", "Status": {"Timestamp": "2026-11-21T10:00:00", "StatusCode": "11",
                                               "StatusDescription": "Zending afgeleverd", "PhaseCode": "4",
                                               "PhaseDescription": "Afgeleverd"}}]
    await eventually(lambda: _is(http, "postnl", number, "delivered"), 90, what="delta feed delivered")


def test_poll_check_validates_the_accounts_file(system: System, tmp_path: Path) -> None:
    import subprocess

    good = tmp_path / "ok.yaml"
    good.write_text("accounts:\n  - name: p\n    carrier: postnl\n    credentials: {api_key: k}\n")
    out = subprocess.run([sys.executable, "-m", "trackstream.cli", "poll", "--check", "--accounts", str(good)],
                         env=system.env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "p: postnl at https://api.postnl.nl, 1000 requests per 60s" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - name: p\n    carrier: pigeon\n")
    out = subprocess.run([sys.executable, "-m", "trackstream.cli", "poll", "--check", "--accounts", str(bad)],
                         env=system.env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "accounts[0].carrier: 'pigeon' has no poller" in out.stderr


async def test_a_final_shipment_with_news_after_all_is_polled_again(
        system: System, http: aiohttp.ClientSession, fake_api: FakeCarrierApi, pollers: Pollers) -> None:
    number = tn("1ZRO")
    fake_api.set("ups", number, ups_details(number, [("D", "KB", "011", "Delivered", "20261121143000")]))
    await register(http, "ups", number)
    await eventually(_check(http, "ups", number, "delivered"), 90, what="delivered")

    async def closed() -> bool:
        rows = {r[0]: r for r in poll_rows(system, "it-ups")}
        return number in rows and rows[number][3] is None

    await eventually(closed, 30, what="no next poll after delivery")
    before = len(fake_api.requests("ups", number))
    # news after all (e.g. from another source): the parcel comes back with an exception
    async with http.post("/v1/events", json=[{
            "carrier": "ups", "tracking_number": number, "status": "exception", "code": "X",
            "occurred_at": "2026-11-22T09:00:00+01:00"}]) as resp:
        assert resp.status == 202
    fake_api.set("ups", number, ups_details(number, [("X", "RS", "005", "Returning to shipper",
                                                      "20261122100000"),
                                                     ("D", "KB", "011", "Delivered", "20261121143000")]))

    async def polled_again() -> bool:
        return len(fake_api.requests("ups", number)) > before

    await eventually(polled_again, 60, what="the reopened shipment polled again")


async def test_an_answer_larger_than_the_broker_takes_is_an_error_not_a_loop(
        system: System, http: aiohttp.ClientSession, fake_api: FakeCarrierApi, pollers: Pollers) -> None:
    number = tn("1ZBG")
    huge = "x" * 1_500_000  # the broker's default message limit is about 1 MB
    fake_api.set("ups", number, ups_details(number, [("I", "OR", "005", huge, "20261120101500")]))
    await register(http, "ups", number)

    async def in_error() -> tuple[Any, ...] | None:
        rows = {r[0]: r for r in poll_rows(system, "it-ups")}
        return rows.get(number) if rows.get(number) and rows[number][2] == "error" else None

    row = await eventually(in_error, 60, what="the oversized answer recorded as an error")
    assert row[3] is not None  # polled again later, with backoff
    with system.db() as conn:
        error = conn.execute("SELECT last_error FROM poll_state WHERE account = 'it-ups' AND tracking_number = %s",
                             (number,)).fetchone()
    assert error is not None and "larger than the broker accepts" in str(error[0])
    # other shipments of the account are still polled
    fine = tn("1ZOK")
    fake_api.set("ups", fine, ups_details(fine, [("I", "OR", "005", "Origin Scan", "20261120101500")]))
    await register(http, "ups", fine)
    await eventually(_check(http, "ups", fine, "in_transit"), 60, what="the next shipment")


async def test_the_worker_runs_the_pollers_too(system: System, http: aiohttp.ClientSession) -> None:
    """The session worker has its own account (tests/conftest.py): no separate poller process."""
    number = tn("3SWK")
    system.carrier_api.set("postnl", number, postnl_status(number, [("J05", "Bezorger onderweg",
                                                                     "21-11-2026 09:15:00")]))
    await register(http, "postnl", number, customer=WORKER_POLLED_CUSTOMER)
    await eventually(_check(http, "postnl", number, "out_for_delivery"), 90, what="polled by the worker")
    assert leases(system)["session-postnl"] == "worker-1"
    assert {r[0]: r[1] for r in poll_rows(system, "session-postnl")}[number] == "worker-1"

    async with http.get("/v1/pollers") as resp:
        assert resp.status == 200
        items = {item["account"]: item for item in (await resp.json())["items"]}
    mine = items["session-postnl"]
    assert mine["carrier"] == "postnl" and mine["holder"] == "worker-1" and mine["live"] is True
    assert mine["shipments"] >= 1 and mine["active"] >= 1
    # the worker's own INFO lines reach its log (not only warnings)
    log = (system.settings.data_dir / "logs" / "worker-1.log").read_text(errors="replace")
    assert "INFO pollers.service: poller session-postnl (postnl): polling in worker-1" in log
    assert sum(mine["last_results"].values()) == mine["shipments"]


async def test_a_restart_resumes_the_schedule_without_a_storm(
        system: System, http: aiohttp.ClientSession, fake_api: FakeCarrierApi,
        pollers: Pollers) -> None:
    """Shipments polled before a restart are not polled again on start: the schedule is stored."""
    numbers = [tn("1ZRS") for _ in range(5)]
    for number in numbers:
        fake_api.set("ups", number, ups_details(number, [("I", "OR", "005", "Origin Scan", "20261120101500")]))
        await register(http, "ups", number, customer=RESTART_CUSTOMER)
    for number in numbers:
        await eventually(_check(http, "ups", number, "in_transit"), 90, what=f"ups {number}")
    # (a request retried after a timeout on a loaded machine counts twice at the carrier: compare
    # with the counts before the restart rather than with 1)
    before = [len(fake_api.requests("ups", n)) for n in numbers]
    for proc in pollers.values():
        if proc.alive():
            proc.stop(sig=signal.SIGKILL)
    fresh = pollers.start("poller-c")

    async def leads() -> bool:
        return leases(system).get("it-restart") == "poller-c" and leases(system).get("it-ups") == "poller-c"

    await eventually(leads, 60, what="the restarted poller to take the accounts")
    await asyncio.sleep(3)  # many idle cycles of the account loop
    assert fresh.alive()
    assert [len(fake_api.requests("ups", n)) for n in numbers] == before, [
        [(r.status, round(r.at, 2)) for r in fake_api.requests("ups", n)] for n in numbers]
    rows = {r[0]: r for r in poll_rows(system, "it-restart")}
    assert all(rows[n][3] is not None and rows[n][4] == 1 for n in numbers)  # still scheduled, polled once
