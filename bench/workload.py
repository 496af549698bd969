"""A realistic mixed-carrier stream for the benchmark, as raw carrier payloads.

Per shipment five events (announced → picked up → sorted → out for delivery → delivered). The
carriers are mixed the way they reach trackstream: Sendcloud webhooks (one event per message),
PostNL Shipping Status responses (a poll: one to three new events of one shipment per message) and
trackstream's own format from an own-fleet app or file feed (100 events of many shipments per
message). About 5% of the events are delivered twice and about 5% arrive after a newer event of
the same shipment.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SENDCLOUD_STEPS = [(1, "Announced"), (22, "Shipment picked up by driver"), (5, "Sorted"),
                   (92, "Driver en route"), (11, "Delivered")]
POSTNL_STEPS = [("A01", "Shipment expected, but not yet arrived at PostNL"), ("B01", "Shipment received by PostNL"),
                ("J01", "Shipment has been sorted"), ("J05", "Driver is en route"), ("I01", "Shipment delivered")]
NATIVE_STEPS = ["pre_transit", "in_transit", "in_transit", "out_for_delivery", "delivered"]


@dataclass(frozen=True)
class RawMessage:
    carrier: str  # raw topic carrier
    payload: bytes
    events: int  # events in the payload (duplicates included)


@dataclass(frozen=True)
class Workload:
    messages: list[RawMessage]
    unique_events: int
    shipments: int
    duplicates: int
    late: int


def _sendcloud(number: str, step: int, at: datetime) -> bytes:
    sid, message = SENDCLOUD_STEPS[step]
    return orjson.dumps({
        "action": "parcel_status_changed", "timestamp": int(at.timestamp() * 1000),
        "parcel": {"id": abs(hash(number)) % 10**8, "tracking_number": number, "order_number": f"O-{number}",
                   "status": {"id": sid, "message": message}, "city": "Eindhoven", "postal_code": "5642CV",
                   "country": {"iso_2": "NL", "iso_3": "NLD", "name": "Netherlands"},
                   "carrier": {"code": "postnl"}, "shipment": {"id": 8, "name": "PostNL Standard"}},
    })


def _postnl(number: str, steps: list[tuple[int, datetime]]) -> bytes:
    events = []
    for step, at in sorted(steps, key=lambda s: s[1], reverse=True):  # PostNL: newest first
        code, text = POSTNL_STEPS[step]
        events.append({"Code": code, "Description": text, "LocationCode": "171966",
                       "TimeStamp": at.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M:%S")})
    return orjson.dumps({"CompleteStatus": {"Shipment": {
        "MainBarcode": number, "Barcode": number, "Event": events,
        "Address": [{"AddressType": "01", "City": "Utrecht", "CountryCode": "NL", "Zipcode": "3571ZZ"}],
    }}})


def build(total_events: int, shipments: int, seed: int = 1,
          mix: tuple[float, float] = (0.3, 0.3)) -> Workload:
    """``mix``: shares of shipments tracked through Sendcloud and PostNL; the rest is own format."""
    rng = random.Random(seed)
    per = max(1, min(5, total_events // max(1, shipments)))
    start = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    plan: list[tuple[str, str, int, datetime]] = []  # (carrier, number, step, at), in arrival order
    times: dict[str, list[datetime]] = {}
    carriers_of: dict[str, str] = {}
    for s in range(shipments):
        roll = rng.random()
        carrier = "sendcloud" if roll < mix[0] else "postnl" if roll < mix[0] + mix[1] else "native"
        number = {"sendcloud": f"SC{s:08d}", "postnl": f"3SBENC{s:08d}", "native": f"FL{s:08d}"}[carrier]
        at = start + timedelta(seconds=rng.randint(0, 3600 * 8))
        stamps = []
        for _ in range(per):
            at += timedelta(seconds=rng.randint(1800, 6 * 3600))
            stamps.append(at)
        times[number] = stamps
        carriers_of[number] = carrier
    late = 0
    for step in range(per):
        numbers = list(times)
        rng.shuffle(numbers)
        for number in numbers:
            plan.append((carriers_of[number], number, step, times[number][step]))
    # late arrivals: swap an event with the next one of its shipment (~5%)
    index_of = {(p[1], p[2]): i for i, p in enumerate(plan)}
    for number in times:
        for step in range(per - 1):
            if rng.random() < 0.05 / max(1, (per - 1) / per):
                a, b = index_of[(number, step)], index_of[(number, step + 1)]
                plan[a], plan[b] = plan[b], plan[a]
                index_of[(number, step)], index_of[(number, step + 1)] = b, a
                late += 1
    unique = len(plan)
    # redeliveries (~5%), later in the stream
    duplicates = 0
    for _ in range(unique // 20):
        i = rng.randrange(len(plan))
        plan.insert(min(len(plan), i + rng.randint(1, 5000)), plan[i])
        duplicates += 1
    messages: list[RawMessage] = []
    native_batch: list[dict[str, object]] = []
    postnl_pending: dict[str, list[tuple[int, datetime]]] = {}
    for carrier, number, step, at in plan:
        if carrier == "sendcloud":
            messages.append(RawMessage("sendcloud", _sendcloud(number, step, at), 1))
        elif carrier == "postnl":
            pending = postnl_pending.setdefault(number, [])
            pending.append((step, at))
            if len(pending) >= rng.randint(1, 3) or step == per - 1:
                messages.append(RawMessage("postnl", _postnl(number, pending), len(pending)))
                del postnl_pending[number]
        else:
            native_batch.append({"carrier": "fleet", "tracking_number": number, "status": NATIVE_STEPS[step],
                                 "code": f"S{step}", "occurred_at": at.isoformat()})
            if len(native_batch) == 100:
                messages.append(RawMessage("native", orjson.dumps(native_batch), 100))
                native_batch = []
    for number, pending in postnl_pending.items():
        messages.append(RawMessage("postnl", _postnl(number, pending), len(pending)))
    if native_batch:
        messages.append(RawMessage("native", orjson.dumps(native_batch), len(native_batch)))
    return Workload(messages, unique, shipments, duplicates, late)
