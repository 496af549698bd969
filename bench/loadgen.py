"""The steady mode's load generator, an open-loop HTTP client in a process of its own.

Request ``i`` is due at ``start + i / rate``; the loop sends every request that is due (all of
them at once when it fell behind) and then sleeps until the next one is due. No request waits for
an earlier answer, so the offered rate does not drop when the system slows down; how far behind
schedule the generator itself started each request is recorded, so a saturated generator shows.

Each request is ``POST /v1/events`` with one native event (``steady_plan``): unique event ids,
spread over many shipments that each move through several statuses, interleaved the way many
parcels in flight at once report.

    python -m bench.loadgen URL RATE SECONDS PREFIX OUT [--connections N] [--seed S]

writes ``OUT`` (JSON): per request its status (0 = no answer), how late it started, and its
latency from the scheduled and from the actual start; the error types; its own CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import resource
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from trackstream.eventloop import install as install_event_loop

#: The carrier name of the steady mode's events (a fleet without an adapter: native events).
CARRIER = "benchfleet"
STEPS = ("pre_transit", "in_transit", "in_transit", "out_for_delivery", "delivered")


def planned_count(rate: float, seconds: float) -> int:
    """Requests a run of ``seconds`` at ``rate`` per second sends (at least one)."""
    if rate <= 0 or seconds <= 0:
        raise ValueError("rate and seconds must be positive")
    return max(1, round(rate * seconds))


def due_at(index: int, rate: float) -> float:
    """Seconds after the start at which request ``index`` is due."""
    return index / rate


def due_count(elapsed: float, rate: float, total: int) -> int:
    """How many requests are due ``elapsed`` seconds after the start (those with ``due_at <= elapsed``)."""
    if elapsed < 0:
        return 0
    return min(total, math.floor(elapsed * rate + 1e-9) + 1)


def event_id(prefix: str, index: int) -> str:
    return f"{prefix}-{index:08d}"


def steady_plan(count: int, prefix: str, *, seed: int = 1, per_shipment: int = len(STEPS),
                active: int | None = None, start: datetime | None = None) -> list[dict[str, str]]:
    """``count`` native events in arrival order. ``active`` shipments are in flight at once (by
    default a fifth of the shipments the run needs, at most 5,000); each arriving event is the next
    status of one of them, picked at random, with a later ``occurred_at`` than its previous one; a
    shipment that reached ``delivered`` is replaced by a new one."""
    if count < 1 or not 1 <= per_shipment <= len(STEPS):
        raise ValueError("count must be positive and per_shipment within the steps")
    rng = random.Random(seed)
    base = start or datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    needed = math.ceil(count / per_shipment)
    width = max(1, min(active if active is not None else min(5000, max(1, needed // 5)), needed))
    shipments = 0

    def fresh() -> tuple[int, int, datetime]:
        nonlocal shipments
        shipments += 1
        return shipments - 1, 0, base + timedelta(seconds=rng.randint(0, 8 * 3600))

    slots = [fresh() for _ in range(width)]
    out: list[dict[str, str]] = []
    for n in range(count):
        i = rng.randrange(len(slots))
        number, step, at = slots[i]
        at += timedelta(seconds=rng.randint(1800, 6 * 3600))
        out.append({"carrier": CARRIER, "tracking_number": f"{prefix}{number:08d}", "status": STEPS[step],
                    "occurred_at": at.isoformat(), "event_id": event_id(prefix, n)})
        slots[i] = fresh() if step + 1 >= per_shipment else (number, step + 1, at)
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def send_all(url: str, bodies: list[bytes], rate: float, connections: int,
                   timeout: float = 30.0, grace: float = 60.0, key: str | None = None) -> dict[str, Any]:
    total = len(bodies)
    statuses = [0] * total
    late = [math.nan] * total
    from_due = [math.nan] * total
    from_sent = [math.nan] * total
    errors: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    in_flight: set[asyncio.Task[None]] = set()
    most_in_flight = 0
    cpu_start = _cpu()

    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def one(index: int, due: float) -> None:
            sent = loop.time()
            late[index] = sent - due
            try:
                async with session.post(url, data=bodies[index], headers=headers) as resp:
                    await resp.read()
                    statuses[index] = resp.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                errors[type(exc).__name__] += 1
            done = loop.time()
            from_due[index] = done - due
            from_sent[index] = done - sent

        start = loop.time() + 0.2
        started_wall = time.time() + 0.2
        index = 0
        while index < total:
            ready = due_count(loop.time() - start, rate, total)
            while index < ready:
                task = loop.create_task(one(index, start + due_at(index, rate)))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                index += 1
            most_in_flight = max(most_in_flight, len(in_flight))
            if index < total:
                await asyncio.sleep(max(0.0, start + due_at(index, rate) - loop.time()))
        dispatched = loop.time() - start
        if in_flight:
            _, pending = await asyncio.wait(set(in_flight), timeout=grace)
            for task in pending:
                task.cancel()
            errors["unanswered"] += len(pending)
        answered = loop.time() - start
    return {
        "rate": rate, "total": total, "connections": connections, "started_at": started_wall,
        "dispatched_seconds": dispatched, "answered_seconds": answered, "most_in_flight": most_in_flight,
        "statuses": statuses, "late": late, "from_due": from_due, "from_sent": from_sent, "errors": dict(errors),
        "cpu_seconds": _cpu() - cpu_start,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen")
    p.add_argument("url")
    p.add_argument("rate", type=float)
    p.add_argument("seconds", type=float)
    p.add_argument("prefix")
    p.add_argument("out", type=Path)
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--key-file", type=Path, help="file holding the API key to send (events:write)")
    args = p.parse_args(argv)
    install_event_loop("uvloop")
    plan = steady_plan(planned_count(args.rate, args.seconds), args.prefix, seed=args.seed)
    bodies = [orjson.dumps([item]) for item in plan]
    key = args.key_file.read_text(encoding="utf-8").strip() if args.key_file else None
    result = asyncio.run(send_all(args.url, bodies, args.rate, args.connections, key=key))
    result["shipments"] = len({item["tracking_number"] for item in plan})
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
