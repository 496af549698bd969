"""The due-time index: per partition, the shipments whose next alert condition falls due, by time.

A local RocksDB (rocksdict) per partition with keys ``<due µs, 20 digits>|<shipment key>``, so the
entries due by a tick are a scan from the start that stops at the first later key: a tick with
1,000,000 active shipments and 1,000 due reads about 1,000 entries. It is derived data: the
truth is ``ShipmentState.due`` in the ``shipment_states`` table, so the index is rebuilt from that
table whenever the worker (re)gains a partition or starts (``rebuild``), and a stale entry (the
state's due moved) is simply dropped when a tick meets it. It adds no Kafka message: nothing of it
goes to a changelog.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import rocksdict

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


def entry(due: datetime, key: str) -> bytes:
    return f"{micros(due):020d}|{key}".encode()


def parse_entry(raw: bytes) -> tuple[int, str]:
    due, _, key = raw.decode().partition("|")
    return int(due), key


class DueIndex:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._dbs: dict[int, rocksdict.Rdict] = {}

    def _db(self, partition: int) -> rocksdict.Rdict:
        db = self._dbs.get(partition)
        if db is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            db = self._dbs[partition] = rocksdict.Rdict(str(self.folder / f"p{partition}"),
                                                         options=rocksdict.Options(raw_mode=True))
        return db

    def rebuild(self, partition: int, dues: Iterable[tuple[str, datetime]]) -> int:
        """Forget the partition's entries and index ``(shipment key, due)`` pairs; how many."""
        db = self._dbs.pop(partition, None)
        if db is not None:
            db.close()
        shutil.rmtree(self.folder / f"p{partition}", ignore_errors=True)
        db = self._db(partition)
        count = 0
        for key, due in dues:
            db[entry(due, key)] = b""
            count += 1
        return count

    def move(self, partition: int, key: str, old: datetime | None, new: datetime | None) -> None:
        if old == new:
            return
        db = self._db(partition)
        if old is not None:
            db.delete(entry(old, key))
        if new is not None:
            db[entry(new, key)] = b""

    def due(self, partition: int, now: datetime, limit: int) -> list[tuple[datetime, str]]:
        """At most ``limit`` entries due at ``now``, earliest first."""
        bound = micros(now)
        out: list[tuple[datetime, str]] = []
        it = self._db(partition).iter()
        it.seek_to_first()
        while it.valid() and len(out) < limit:
            due_us, key = parse_entry(it.key())
            if due_us > bound:
                break
            out.append((_EPOCH + timedelta(microseconds=due_us), key))
            it.next()
        return out

    def drop(self, partition: int, due: datetime, key: str) -> None:
        self._db(partition).delete(entry(due, key))

    def size(self, partition: int) -> int:
        return sum(1 for _ in self._db(partition).keys())

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
