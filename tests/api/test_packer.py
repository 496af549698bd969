"""The ingress packer's decisions: alone at low load, packed while writes are in flight, bounded by
count and bytes, every caller told the fate of the record that held its payload."""

from __future__ import annotations

import asyncio

import pytest

from api.packer import RawPacker
from schemas.raw import ENVELOPE_HEADER, unpack


class Broker:
    """Records what the packer sends; ``gate`` holds writes until the test opens it."""

    def __init__(self) -> None:
        self.records: list[tuple[str, list[bytes]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def send(self, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        assert dict(headers)[ENVELOPE_HEADER] == b"pack/1"
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.records.append((topic, [i.payload for i in unpack(value)]))


async def test_a_lone_payload_goes_out_at_once_and_alone() -> None:
    broker = Broker()
    packer = RawPacker(broker.send)
    assert await packer.put("carrier.ups.raw", b"a", {"source": "webhook"}) == 1
    assert broker.records == [("carrier.ups.raw", [b"a"])]


async def test_payloads_arriving_during_a_write_share_the_next_record() -> None:
    broker = Broker()
    packer = RawPacker(broker.send, max_in_flight=1)
    broker.gate.clear()
    first = asyncio.create_task(packer.put("t", b"first", {}))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(packer.put("t", f"p{i}".encode(), {})) for i in range(10)]
    await asyncio.sleep(0.01)
    assert broker.records == [] and not first.done()  # nobody is answered before the broker acked
    broker.gate.set()
    assert await first == 1
    assert await asyncio.gather(*rest) == [10] * 10
    assert broker.records == [("t", [b"first"]), ("t", [f"p{i}".encode() for i in range(10)])]
    assert (packer.records, packer.payloads) == (2, 11)


async def test_records_are_bounded_by_count_and_bytes_and_topics_are_separate() -> None:
    broker = Broker()
    packer = RawPacker(broker.send, max_in_flight=1, max_items=3, max_bytes=200)
    broker.gate.clear()
    tasks = [asyncio.create_task(packer.put("a", b"x" * 10, {})) for _ in range(8)]
    big = asyncio.create_task(packer.put("a", b"y" * 500, {}))  # larger than max_bytes: alone
    other = asyncio.create_task(packer.put("b", b"z", {}))
    await asyncio.sleep(0)
    broker.gate.set()
    await asyncio.gather(*tasks, big, other)
    sizes = [len(payloads) for topic, payloads in broker.records if topic == "a"]
    assert sizes == [1, 3, 3, 1, 1]  # 1 at once, then 3 + 3 + 1 by count, then the big one alone
    assert ("b", [b"z"]) in broker.records


async def test_a_failed_write_fails_exactly_the_callers_it_carried() -> None:
    broker = Broker()
    packer = RawPacker(broker.send, max_in_flight=1)
    broker.gate.clear()
    broker.fail = ConnectionError("broker went away")
    doomed = [asyncio.create_task(packer.put("t", b"d", {})) for _ in range(3)]
    await asyncio.sleep(0)
    broker.gate.set()
    results = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    broker.fail = None
    assert await packer.put("t", b"ok", {}) == 1
    assert broker.records == [("t", [b"ok"])]


async def test_a_caller_that_gives_up_still_has_its_payload_written() -> None:
    broker = Broker()
    packer = RawPacker(broker.send)
    broker.gate.clear()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(packer.put("t", b"impatient", {}), timeout=0.01)
    broker.gate.set()
    await packer.drain()
    assert broker.records == [("t", [b"impatient"])]
