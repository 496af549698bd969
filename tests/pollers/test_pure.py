"""Pollers' pure parts: token bucket, backoff, cadence, accounts file, delta windows, classification."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import carriers
from pollers.accounts import AccountsError, Cadence, load_accounts, parse_accounts, parse_duration
from pollers.backoff import full_jitter, parse_retry_after
from pollers.clients.base import Fetched
from pollers.clients.postnl import delta_windows, local_text
from pollers.ratelimit import TokenBucket
from pollers.schedule import Throttle, base_interval, next_poll
from pollers.service import classify
from tests.fakes.carrier_api import postnl_status, ups_details

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


# --- token bucket ---------------------------------------------------------------------------------

async def test_bucket_never_exceeds_its_rate() -> None:
    bucket = TokenBucket(rate=20, per=1)
    started = time.monotonic()
    stamps = []
    for _ in range(30):
        await bucket.acquire()
        stamps.append(time.monotonic() - started)
    # starts with one token, then 20/s: the 30th token cannot come before 29/20 s
    assert stamps[-1] >= 29 / 20 - 0.01
    # no 1-second window holds more than capacity + rate tokens
    for i, t in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s < t + 1.0) <= bucket.capacity + 20


async def test_bucket_penalty_pauses_everyone() -> None:
    bucket = TokenBucket(rate=100, per=1)
    await bucket.acquire()
    bucket.penalize(0.5)
    started = time.monotonic()
    await asyncio.gather(bucket.acquire(), bucket.acquire())
    assert time.monotonic() - started >= 0.5


def test_bucket_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, per=1)


def test_bucket_refills_up_to_capacity_only() -> None:
    clock = [0.0]
    bucket = TokenBucket(rate=10, per=1, burst=3, clock=lambda: clock[0])
    clock[0] = 100.0
    assert bucket.delay() == 0.0
    bucket._tokens -= 3  # spend the burst
    assert bucket.delay() == pytest.approx(0.1)


# --- backoff --------------------------------------------------------------------------------------

def test_full_jitter_stays_within_its_ceiling() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        values = [full_jitter(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0.0 <= v <= min(30.0, 0.5 * 2 ** attempt) for v in values)
        assert max(values) > min(30.0, 0.5 * 2 ** attempt) * 0.8  # it does spread


@pytest.mark.parametrize(("header", "expected"), [
    ("5", 5.0), ("0", 0.0), ("2.5", 2.5), ("9999", 300.0), (None, None), ("", None), ("-1", None),
    ("Wed, 21 Oct 2026 07:28:00 GMT", None),
])
def test_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, 300.0) == expected


# --- cadence --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "interval"), [
    ("out_for_delivery", timedelta(minutes=30)), ("failed_attempt", timedelta(minutes=30)),
    ("in_transit", timedelta(hours=2)), ("exception", timedelta(hours=1)),
    ("available_for_pickup", timedelta(hours=3)), ("pre_transit", timedelta(hours=4)),
    ("pending", timedelta(hours=4)), ("unknown", timedelta(hours=4)),
    ("delivered", None), ("returned_to_sender", None), ("cancelled", None),
])
def test_interval_by_status(status: str, interval: timedelta | None) -> None:
    assert base_interval(status, Cadence()) == interval


def test_next_poll_never_after_a_final_status() -> None:
    for result in ("changed", "unchanged", "not_found"):
        assert next_poll(result, "delivered", NOW, Cadence()) is None


def test_next_poll_is_jittered_around_the_interval() -> None:
    rng = random.Random(1)
    times = {next_poll("changed", "in_transit", NOW, Cadence(), rng=rng) for _ in range(50)}
    assert len(times) > 40
    for t in times:
        assert t is not None and timedelta(hours=1.8) <= t - NOW <= timedelta(hours=2.2)


def test_errors_back_off_exponentially_up_to_a_cap() -> None:
    cadence = Cadence()
    gaps = [next_poll("error", "in_transit", NOW, cadence, failures=f, rng=random.Random(0)) for f in range(12)]
    deltas = [g - NOW for g in gaps if g is not None]
    assert deltas[1] > deltas[0] * 1.5
    assert max(deltas) <= cadence.max_error * 1.1


def test_not_found_waits_longer_each_time_and_delta_feeds_slow_per_shipment_polls() -> None:
    c = Cadence()
    first = next_poll("not_found", "pending", NOW, c, failures=0, rng=random.Random(0))
    later = next_poll("not_found", "pending", NOW, c, failures=3, rng=random.Random(0))
    assert first is not None and later is not None and later - NOW > first - NOW
    plain = next_poll("changed", "in_transit", NOW, c, rng=random.Random(0))
    scaled = next_poll("changed", "in_transit", NOW, c, covered_by_delta=True, rng=random.Random(0))
    assert plain is not None and scaled is not None
    assert abs((scaled - NOW) - (plain - NOW) * c.delta_scale) < timedelta(seconds=1)


# --- accounts -------------------------------------------------------------------------------------

GOOD: dict[str, list[dict[str, Any]]] = {"accounts": [
    {"name": "pnl", "carrier": "postnl", "credentials": {"api_key": "${PNL_KEY}", "customer_number": "11223344"},
     "rate_limit": {"requests": 5, "per_seconds": 1}, "cadence": {"in_transit": "90s", "idle": 0.5}},
    {"name": "ups-eu", "carrier": "ups", "credentials": {"client_id": "a", "client_secret": "b"},
     "base_url": "http://127.0.0.1:9/", "customers": ["acme"]},
]}


def test_accounts_parse_with_environment_secrets() -> None:
    accounts = parse_accounts(GOOD, "test", {"PNL_KEY": "s3cret"})
    assert [a.name for a in accounts] == ["pnl", "ups-eu"]
    assert accounts[0].credentials["api_key"] == "s3cret"
    assert accounts[0].cadence.in_transit == timedelta(seconds=90)
    assert accounts[0].cadence.idle == timedelta(seconds=0.5)
    assert accounts[1].base_url == "http://127.0.0.1:9"
    assert accounts[1].customers == ("acme",)
    assert "s3cret" not in repr(accounts[0])


def _with(change: dict[str, Any], index: int = 0) -> dict[str, Any]:
    accounts: list[dict[str, Any]] = [dict(a) for a in GOOD["accounts"]]
    accounts[index].update(change)
    return {"accounts": accounts}


@pytest.mark.parametrize(("data", "message"), [
    ({"accounts": "x"}, "expected a list"),
    (_with({"name": "Bad Name"}), "accounts[0].name"),
    (_with({"name": "ups-eu"}), "used twice"),
    (_with({"carrier": "pigeon"}), "has no poller"),
    (_with({"credentials": {"customer_number": "1"}}), "credentials.api_key is required"),
    (_with({"credentials": {"api_key": "${MISSING_VAR}"}}), "MISSING_VAR is not set"),
    (_with({"base_url": "ftp://x"}), "base_url"),
    (_with({"rate_limit": {"requests": 0, "per_seconds": 1}}), "rate_limit"),
    (_with({"batch_size": 0}), "batch_size"),
    (_with({"timeout_seconds": -1}), "timeout_seconds"),
    (_with({"customers": "acme"}), "customers"),
    (_with({"cadence": {"in_transit": "soon"}}), "cadence.in_transit"),
    (_with({"cadence": {"often": "1m"}}), "unknown field 'often'"),
    (_with({"colour": "red"}), "unknown field(s) colour"),
])
def test_accounts_errors_name_the_field(data: object, message: str) -> None:
    with pytest.raises(AccountsError) as info:
        parse_accounts(data, "accounts.yaml", {"PNL_KEY": "k"})
    assert message in str(info.value)


def test_accounts_file_yaml_json_and_errors(tmp_path: Path) -> None:
    yml = tmp_path / "a.yaml"
    yml.write_text("accounts:\n  - name: p\n    carrier: postnl\n    credentials: {api_key: k}\n")
    assert load_accounts(yml, {})[0].carrier == "postnl"
    js = tmp_path / "a.json"
    js.write_text('{"accounts": [{"name": "u", "carrier": "ups", "credentials": {"client_id": "i", '
                  '"client_secret": "s"}}]}')
    assert load_accounts(js, {})[0].carrier == "ups"
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(AccountsError, match="not valid JSON"):
        load_accounts(bad, {})
    with pytest.raises(AccountsError, match="cannot read"):
        load_accounts(tmp_path / "missing.yaml", {})


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400),
                                               ("250ms", 0.25), (15, 15)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text, "x").total_seconds() == seconds


# --- PostNL delta windows -------------------------------------------------------------------------

def test_delta_windows_are_at_most_two_hours_and_48_hours_back() -> None:
    windows = delta_windows(NOW - timedelta(days=5), NOW)
    assert windows[-1][1] == NOW
    assert all(end - start <= timedelta(hours=2) for start, end in windows)
    assert windows[0][0] > NOW - timedelta(hours=48)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert delta_windows(NOW, NOW) == []
    assert delta_windows(NOW - timedelta(minutes=10), NOW) == [(NOW - timedelta(minutes=10), NOW)]


@pytest.mark.parametrize(("since", "until"), [
    (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), datetime(2026, 10, 25, 3, 0, tzinfo=UTC)),  # clocks go back
    (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), datetime(2026, 3, 29, 3, 0, tzinfo=UTC)),  # clocks go forward
])
def test_delta_windows_never_span_a_daylight_saving_change(since: datetime, until: datetime) -> None:
    windows = delta_windows(since, until)
    assert windows[0][0] == since and windows[-1][1] == until
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    change = datetime(since.year, since.month, since.day + 1, 1, 0, tzinfo=UTC)
    assert change in [w[1] for w in windows]  # cut exactly at the change (01:00 UTC)
    for start, end in windows:
        assert local_text(start) < local_text(end)  # never backwards in local time
        assert start.astimezone(ZoneInfo("Europe/Amsterdam")).utcoffset() == \
            (end - timedelta(seconds=1)).astimezone(ZoneInfo("Europe/Amsterdam")).utcoffset()


def test_delta_window_times_are_dutch_local_without_offset() -> None:
    assert local_text(datetime(2026, 7, 1, 10, 0, tzinfo=UTC)) == "2026-07-01T12:00:00"  # CEST
    assert local_text(datetime(2026, 12, 1, 10, 0, tzinfo=UTC)) == "2026-12-01T11:00:00"  # CET


# --- classification -------------------------------------------------------------------------------

def test_classify_changed_then_unchanged() -> None:
    body = postnl_status("3SABCD123", [("J05", "Bezorger onderweg", "21-11-2026 09:15:00")])
    fetched = Fetched(body, ("3SABCD123",))
    publish, outcome = classify("postnl", fetched, {}, NOW)
    assert publish and outcome["3SABCD123"].result == "changed"
    assert outcome["3SABCD123"].status == "out_for_delivery"
    again, second = classify("postnl", fetched, {"3SABCD123": outcome["3SABCD123"].payload_hash}, NOW)
    assert not again and second["3SABCD123"].result == "unchanged"


def test_classify_not_found_is_not_published() -> None:
    publish, outcome = classify("postnl", Fetched(b'{"CurrentStatus": {"Shipment": []}}', ("3SX",)), {}, NOW)
    assert not publish and outcome["3SX"].result == "not_found"
    ups = (b'{"trackResponse":{"shipment":[{"warnings":[{"code":"TW0001",'
           b'"message":"Tracking Information Not Found"}]}]}}')
    publish, outcome = classify("ups", Fetched(ups, ("1Z1",)), {}, NOW)
    assert not publish and outcome["1Z1"].result == "not_found"


def test_classify_garbage_is_published_for_the_dead_letter_topic_unless_404() -> None:
    publish, outcome = classify("ups", Fetched(b"<html>oops</html>", ("1Z1",)), {}, NOW)
    assert publish and outcome["1Z1"].result == "error" and outcome["1Z1"].error
    publish, outcome = classify("ups", Fetched(b"<html>gone</html>", ("1Z1",), headers={"http-status": "404"}),
                                {}, NOW)
    assert not publish and outcome["1Z1"].result == "not_found"


def test_classify_publishes_an_answer_the_parser_crashes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A parser bug (not a ParseError) is not the poller's crash: the answer is published, so the
    normalizer dead-letters it as internal_error, and the numbers record the error."""
    secret = "acct-9a8b7c-private"
    accounts: dict[str, list[Any]] = {}

    def broken(payload: bytes, headers: Mapping[str, str], received_at: datetime) -> list[Any]:
        return accounts[secret]  # a KeyError quoting the answer

    monkeypatch.setitem(carriers.PARSERS, "postnl", broken)
    body = postnl_status("3SABCD123", [("J05", "Bezorger onderweg", "21-11-2026 09:15:00")])
    with caplog.at_level(logging.ERROR, logger="pollers.service"):
        publish, outcome = classify("postnl", Fetched(body, ("3SABCD123", "3SABCD124")), {}, NOW)
    assert publish
    assert {n: o.result for n, o in outcome.items()} == {"3SABCD123": "error", "3SABCD124": "error"}
    error = outcome["3SABCD123"].error or ""
    assert error.startswith("internal error in the postnl parser: KeyError at tests/pollers/test_pure.py:")
    assert "Traceback (most recent call last)" in caplog.text
    assert secret not in error and secret not in caplog.text


def test_classify_newest_status_wins() -> None:
    body = ups_details("1Z9", [("D", "KB", "011", "Delivered", "20261121143000"),
                               ("I", "OR", "005", "Origin Scan", "20261120101500")])
    _, outcome = classify("ups", Fetched(body, ("1Z9",)), {}, NOW)
    assert outcome["1Z9"].status == "delivered"


def test_throttle_doubles_per_refusal_up_to_its_cap_and_honours_retry_after() -> None:
    throttle = Throttle(Cadence(throttle=timedelta(seconds=30), max_throttle=timedelta(minutes=15)))
    assert [throttle.refused(None) for _ in range(7)] == [30, 60, 120, 240, 480, 900, 900]
    assert throttle.refused(12.0) == 12.0  # the carrier said how long
    throttle.served()
    assert throttle.refused(None) == 30


def test_share_keeps_room_for_overdue_polls_behind_a_bulk_registration() -> None:
    from pollers.clients.base import Target
    from pollers.store import share

    def targets(prefix: str, n: int) -> list[Target]:
        return [Target(f"k:{prefix}{i}", f"{prefix}{i}", "in_transit") for i in range(n)]

    picked = share(targets("o", 100), targets("n", 100), targets("r", 100), 20)
    assert [t.tracking_number[0] for t in picked] == ["o"] * 10 + ["r"] * 5 + ["n"] * 5
    # unused shares go to the others
    picked = share(targets("o", 3), targets("n", 100), [], 20)
    assert len(picked) == 20 and sum(t.tracking_number[0] == "o" for t in picked) == 3
    picked = share(targets("o", 100), [], [], 20)
    assert [t.tracking_number for t in picked] == [f"o{i}" for i in range(20)]
    # a shipment in two lists is polled once
    both = targets("o", 2)
    assert len(share(both, both, [], 20)) == 2


def test_classify_sees_the_status_an_operator_override_gives() -> None:
    from carriers.base import CodeMapping

    body = postnl_status("3SOVR1", [("J05", "Bezorger onderweg", "21-11-2026 09:15:00")])
    _, plain = classify("postnl", Fetched(body, ("3SOVR1",)), {}, NOW)
    assert plain["3SOVR1"].status == "out_for_delivery"
    code = carriers_code("postnl", body)
    overrides = {("postnl", code): CodeMapping("delivered", "delivered_recipient")}
    _, overridden = classify("postnl", Fetched(body, ("3SOVR1",)), {}, NOW, overrides)
    assert overridden["3SOVR1"].status == "delivered"  # final: the schedule stops, as the store will show
    other = {("ups", code): CodeMapping("delivered")}  # another carrier's override changes nothing
    assert classify("postnl", Fetched(body, ("3SOVR1",)), {}, NOW, other)[1]["3SOVR1"].status == "out_for_delivery"


def carriers_code(carrier: str, body: bytes) -> str:
    import carriers

    parser = carriers.get_parser(carrier)
    assert parser is not None
    return str(parser(body, {}, NOW)[0].code)


@pytest.mark.parametrize(("status", "label"), [(200, "ok"), (204, "ok"), (404, "not_found"), (500, "carrier_error")])
def test_answers_a_client_reads_itself_are_labelled_by_what_they_are(status: int, label: str) -> None:
    from pollers.http import request_outcome

    assert request_outcome(status) == label
