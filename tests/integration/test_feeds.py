"""File feeds end to end: ``trackstream import`` (the installed command, run with the system's
environment) and ``POST /v1/feeds/{carrier}`` put carrier payload files, JSON lines and CSV into the
raw topics; the shipments become queryable with the right statuses. A feed with a bad line is
refused with its line number and nothing reaches the broker (the raw topics' end offsets do not move).

Sample payloads get tracking numbers of their own per run, so other tests posting the same samples
cannot make these pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from api.server import init_app
from tests.conftest import System, samples_dir
from tests.support import bearer, eventually, free_port
from trackstream.settings import Settings

UPS_ALERT_NUMBER = b"1Z204W4R0308071865"
UPS_DETAILS_NUMBER = b"1Z023E2X0214323462"
POSTNL_PREFIX = b"3SDEVC"
CSV_HEADER = "tracking_number,status,substatus,code,description,occurred_at,location_city,location_postcode," \
             "location_country,event_id\n"


def uid(length: int = 8) -> str:
    return uuid.uuid4().hex[:length].upper()


def sample(carrier: str, name: str, old: bytes, new: bytes) -> bytes:
    data = (samples_dir() / carrier / name).read_bytes()
    assert old in data, (carrier, name, old)
    return data.replace(old, new)


def run_import(system: System, *args: str, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "trackstream"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKSTREAM_")} | system.env | env_overrides
    return subprocess.run([str(command), "import", *args], env=env, capture_output=True, text=True, timeout=180,
                          check=False)


async def end_offsets(system: System, *topics: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=system.settings.kafka_bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(system.settings.partitions)]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def shipment(http: aiohttp.ClientSession, carrier: str, number: str) -> dict[str, Any] | None:
    async with http.get(f"/v1/shipments/{carrier}/{number}") as resp:
        if resp.status == 404:
            return None
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def settled(http: aiohttp.ClientSession, carrier: str, number: str, status: str,
                  events: int | None = None) -> dict[str, Any]:
    """The shipment once it has ``status`` (and ``events`` events)."""
    async def check() -> dict[str, Any] | None:
        found = await shipment(http, carrier, number)
        if found is None or found["status"] != status:
            return None
        if events is not None and found["event_count"] != events:
            return None
        return found

    result: dict[str, Any] = await eventually(check, timeout=90, what=f"{carrier}/{number} {status}")
    return result


async def test_cli_imports_folders_of_two_carriers_and_an_own_fleet_csv(
    system: System, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    ups_alert, ups_details = f"1ZFD{uid(12)}", f"1ZFE{uid(12)}"
    ups = tmp_path / "ups"
    ups.mkdir()
    (ups / "1-out-for-delivery.json").write_bytes(sample(
        "ups", "track-alert-webhook-out-for-delivery-doc-example.json", UPS_ALERT_NUMBER, ups_alert.encode()))
    (ups / "2-delivered.json").write_bytes(sample(
        "ups", "track-alert-webhook-delivered-doc-example.json", UPS_ALERT_NUMBER, ups_alert.encode()))
    (ups / "3-details.json").write_bytes(sample(
        "ups", "track-v1-details-response-api-doc-example.json", UPS_DETAILS_NUMBER, ups_details.encode()))
    (ups / ".hidden.json").write_text("{not json, and never read")
    (ups / "notes.txt").write_text("not a feed")

    prefix = f"3SF{uid(3)}"
    postnl = tmp_path / "postnl"
    postnl.mkdir()
    for name in ("shippingstatus-v2-status-response-out-for-delivery.json",
                 "shippingstatus-v2-updatedshipments-response.json"):
        (postnl / name).write_bytes(sample("postnl", name, POSTNL_PREFIX, prefix.encode()))

    fleet = f"fleet{uid().lower()}"
    csv_file = tmp_path / "fleet.csv"
    csv_file.write_text(
        CSV_HEADER
        + "F1,pre_transit,,ANN,Announced,2026-11-20T08:00:00+01:00,,,,\n"
        + 'F1,in_transit,,HUB,"Sorted at hub, Utrecht",2026-11-20T18:30:00+01:00,Utrecht,3542 AB,NL,\n'
        + "F1,delivered,delivered_neighbour,DLV,At the neighbours,2026-11-21T11:05:00+01:00,Zeist,,NL,f1-dlv\n"
        + "F2,in_transit,,HUB,Sorted,2026-11-20T19:00:00+01:00,,,,\n"
        + "F2,failed_attempt,recipient_absent,NH,Not home,2026-11-21T12:00:00+01:00,,,,\n")

    result = run_import(system, "ups", str(ups))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported 3 files: 3 payloads and 0 events sent in 3 messages, 0 invalid")
    assert result.stderr == ""  # no terminal: no progress bar
    result = run_import(system, "postnl", str(postnl))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported 2 files: 2 payloads and 0 events sent in 2 messages")
    result = run_import(system, fleet, str(csv_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported 1 file: 0 payloads and 5 events sent")

    alert = await settled(http, "ups", ups_alert, "delivered", events=2)
    assert {e["source"] for e in alert["events"]} == {"feed"}
    await settled(http, "ups", ups_details, "exception")
    ofd = await settled(http, "postnl", f"{prefix}288882229", "out_for_delivery")
    assert [e["code"] for e in ofd["events"]][-1] == "J05"
    await settled(http, "postnl", f"{prefix}2260332157", "in_transit")
    await settled(http, "postnl", f"{prefix}336510881", "pre_transit")
    f1 = await settled(http, fleet, "F1", "delivered", events=3)
    assert [e["description"] for e in f1["events"]] == ["Announced", "Sorted at hub, Utrecht", "At the neighbours"]
    assert f1["events"][1]["location"]["city"] == "Utrecht"
    assert f1["events"][2]["event_id"] == "f1-dlv" and f1["substatus"] == "delivered_neighbour"
    assert f1["events"][0]["occurred_at"] == "2026-11-20T07:00:00Z"
    await settled(http, fleet, "F2", "failed_attempt", events=2)


async def test_feed_endpoint_takes_csv_json_lines_and_batch_documents(
    system: System, http: aiohttp.ClientSession
) -> None:
    fleet = f"fleet{uid().lower()}"
    rows = 3000  # more than TRACKSTREAM_MAX_BODY_BYTES in the tests: feeds have their own limit
    body = CSV_HEADER + "".join(
        f"N{n:05d},in_transit,,HUB,Sorted at the hub of the region,2026-11-20T10:{n % 60:02d}:00Z,Utrecht,,NL,\n"
        for n in range(rows)) + "N00007,delivered,,DLV,Delivered,2026-11-21T10:00:00Z,,,,\n"
    assert len(body) > system.settings.max_body_bytes
    async with http.post(f"/v1/feeds/{fleet}?name=daily.csv", data=body.encode(),
                         headers={"Content-Type": "text/csv"}) as resp:
        assert resp.status == 202, await resp.text()
        answer = await resp.json()
    assert answer["status"] == "accepted" and answer["format"] == "csv"
    assert (answer["events"], answer["payloads"], answer["invalid"]) == (rows + 1, 0, 0)
    assert answer["messages"] >= (rows + 1) // 500 and answer["topic"] == "carrier.native.raw"

    raw = orjson.loads((samples_dir() / "sendcloud" / "webhook-parcel_status_changed-raw-body.json").read_bytes())
    numbers = [f"3SSC{uid(10)}" for _ in range(2)]
    lines = []
    for number in numbers:
        raw["parcel"]["tracking_number"] = number
        lines.append(orjson.dumps(raw))
    async with http.post("/v1/feeds/sendcloud", data=b"\n".join(lines) + b"\n",
                         headers={"Content-Type": "application/x-ndjson"}) as resp:
        assert resp.status == 202, await resp.text()
        answer = await resp.json()
    assert (answer["payloads"], answer["events"], answer["format"]) == (2, 0, "jsonl")

    other = f"courier{uid().lower()}"
    items = [{"carrier": other, "tracking_number": "C1", "status": "available_for_pickup",
              "occurred_at": "2026-11-21T09:00:00+01:00"},
             {"carrier": fleet, "tracking_number": "N00001", "status": "delivered",
              "occurred_at": "2026-11-21T12:00:00Z"}]
    async with http.post("/v1/feeds/native", data=b"\n".join(orjson.dumps(i) for i in items),
                         headers={"Content-Type": "application/jsonl"}) as resp:
        assert resp.status == 202, await resp.text()
        assert (await resp.json())["events"] == 2

    prefix = f"3SF{uid(3)}"
    batch = sample("postnl", "shippingstatus-v2-status-response-out-for-delivery.json", POSTNL_PREFIX,
                   prefix.encode())
    async with http.post("/v1/feeds/postnl", data=batch, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 202, await resp.text()
        assert (await resp.json())["payloads"] == 1

    await settled(http, fleet, "N00007", "delivered", events=2)
    await settled(http, fleet, "N00001", "delivered", events=2)
    last = await settled(http, fleet, f"N{rows - 1:05d}", "in_transit", events=1)
    assert last["events"][0]["source"] == "feed"
    for number in numbers:
        await settled(http, "sendcloud", number, "pre_transit")
    await settled(http, other, "C1", "available_for_pickup")
    await settled(http, "postnl", f"{prefix}288882229", "out_for_delivery")


async def test_feed_endpoint_takes_an_xml_polling_response(http: aiohttp.ClientSession) -> None:
    awb = str(uuid.uuid4().int)[:10]
    body = sample("dhl_express", "xmlpi-tracking-response-picked-up.xml", b"9053283201", awb.encode())
    async with http.post("/v1/feeds/dhl_express?name=xmlpi.xml", data=body,
                         headers={"Content-Type": "application/xml"}) as resp:
        assert resp.status == 202, await resp.text()
        answer = await resp.json()
    assert (answer["topic"], answer["payloads"], answer["format"]) == ("carrier.dhl_express.raw", 1, "batch")
    found = await settled(http, "dhl_express", awb, "in_transit")
    assert found["events"][0]["code"] == "PU" and found["events"][0]["source"] == "feed"


async def test_a_bad_line_is_refused_with_its_line_number_and_nothing_is_sent(
    system: System, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fleet = f"fleet{uid().lower()}"
    csv_file = tmp_path / "fleet.csv"
    csv_file.write_text(CSV_HEADER
                        + "G1,in_transit,,,,2026-11-20T10:00:00Z,,,,\n"
                        + "G2,in_transit,,,,2026-11-20T10:00:00Z,,,,\n"
                        + "G3,in_transit,,,,2026-11-20 10:00,,,,\n"
                        + "G4,delivered,,,,2026-11-20T12:00:00Z,,,,\n")
    ups = tmp_path / "ups"
    ups.mkdir()
    (ups / "a.json").write_bytes(sample("ups", "track-alert-webhook-delivered-doc-example.json",
                                        UPS_ALERT_NUMBER, f"1ZFG{uid(12)}".encode()))
    (ups / "b.jsonl").write_text('{"a": 1}\n{"a": \n')
    topics = ("carrier.native.raw", "carrier.ups.raw")
    before = await end_offsets(system, *topics)

    result = run_import(system, fleet, str(csv_file))
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (f"trackstream import: {csv_file}:4: occurred_at: timestamp without "
                                             "offset: '2026-11-20 10:00' (add Z or +hh:mm)")
    assert "nothing was sent" in result.stderr
    result = run_import(system, "ups", str(ups))
    assert result.returncode == 1
    assert f"{ups / 'b.jsonl'}:2: not well-formed JSON" in result.stderr

    async with http.post(f"/v1/feeds/{fleet}", data=csv_file.read_bytes(),
                         headers={"Content-Type": "text/csv"}) as resp:
        assert resp.status == 422
        body = await resp.json()
    assert body["error"] == "invalid_feed" and "nothing was stored" in body["message"]
    assert [(e["line"], e["field"], e["error"]) for e in body["errors"]] == [(4, "occurred_at", "invalid_line")]
    async with http.post("/v1/feeds/ups", data=(ups / "b.jsonl").read_bytes(),
                         headers={"Content-Type": "application/x-ndjson"}) as resp:
        assert resp.status == 422
        assert [e["line"] for e in (await resp.json())["errors"]] == [2]

    assert await end_offsets(system, *topics) == before
    assert await shipment(http, fleet, "G1") is None


async def test_skip_invalid_sends_the_valid_lines_and_reports_the_others(
    system: System, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fleet = f"fleet{uid().lower()}"
    csv_file = tmp_path / "fleet.csv"
    csv_file.write_text("tracking_number,status,occurred_at\n"
                        "H1,in_transit,2026-11-20T10:00:00Z\n"
                        "H2,vanished,2026-11-20T10:00:00Z\n"
                        "H3,delivered,2026-11-20T10:00:00Z\n")
    result = run_import(system, fleet, str(csv_file), "--skip-invalid")
    assert result.returncode == 1
    assert f"{csv_file}:3: status: unknown status 'vanished'" in result.stderr
    assert "1 problem skipped (not sent)" in result.stderr
    assert result.stdout.startswith("imported 1 file: 0 payloads and 2 events sent in")
    assert ", 1 invalid," in result.stdout

    other = f"fleet{uid().lower()}"
    async with http.post(f"/v1/feeds/{other}?skip_invalid=true", data=csv_file.read_bytes(),
                         headers={"Content-Type": "text/csv"}) as resp:
        assert resp.status == 202
        answer = await resp.json()
    assert (answer["events"], answer["invalid"]) == (2, 1)
    assert [(e["line"], e["field"]) for e in answer["errors"]] == [(3, "status")]

    for carrier in (fleet, other):
        await settled(http, carrier, "H1", "in_transit")
        await settled(http, carrier, "H3", "delivered")
        assert await shipment(http, carrier, "H2") is None  # it was in the same chunk: never sent


async def test_feed_endpoint_errors(http: aiohttp.ClientSession) -> None:
    cases: list[tuple[str, bytes, str, int, str]] = [
        ("/v1/feeds/dhl.express", b"<a/>", "application/xml", 404, "unknown_carrier"),
        ("/v1/feeds/Not%20A%20Carrier", b"x", "text/csv", 404, "unknown_carrier"),
        ("/v1/feeds/ups", b"{}", "text/plain", 415, "unsupported_media_type"),
        ("/v1/feeds/ups", b"  ", "application/json", 400, "malformed_feed"),
        ("/v1/feeds/ups", b"<a><b></a>", "application/xml", 400, "malformed_feed"),
        ("/v1/feeds/fleet", b"tracking_number,status\nA,delivered\n", "text/csv", 400, "malformed_feed"),
        ("/v1/feeds/native", b'{"carrier": "x"}\n', "application/x-ndjson", 422, "invalid_feed"),
    ]
    for path, data, media_type, status, error in cases:
        async with http.post(path, data=data, headers={"Content-Type": media_type}) as resp:
            assert resp.status == status, (path, await resp.text())
            body = await resp.json()
            assert body["error"] == error and body["message"], (path, body)
    async with http.post("/v1/feeds/fleet", data=b"tracking_number,status\nA,delivered\n",
                         headers={"Content-Type": "text/csv"}) as resp:
        body = await resp.json()
    assert body["errors"] == [{"line": 1, "item": None, "field": "", "error": "malformed_feed",
                               "message": "line 1: missing column(s) occurred_at"}]


async def test_feed_size_limit_and_unreachable_broker(system: System) -> None:
    small = dict(system.env, TRACKSTREAM_MAX_FEED_BYTES="2048")
    no_kafka = dict(system.env, TRACKSTREAM_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    row = "Z1,in_transit,2026-11-20T10:00:00Z\n"
    for env, data, status, error in [
        (small, "tracking_number,status,occurred_at\n" + row * 100, 413, "payload_too_large"),
        (no_kafka, "tracking_number,status,occurred_at\n" + row, 503, "broker_unavailable"),
    ]:
        server = TestServer(init_app(Settings.from_env(env)), host="127.0.0.1", port=free_port())
        await server.start_server()
        try:
            async with aiohttp.ClientSession(base_url=str(server.make_url("")),
                                             headers=bearer(system.admin_key)) as client:
                async with client.post("/v1/feeds/fleet", data=data.encode(),
                                       headers={"Content-Type": "text/csv"}) as resp:
                    assert resp.status == status, await resp.text()
                    assert (await resp.json())["error"] == error
        finally:
            await server.close()


async def test_a_message_the_broker_refuses_stops_the_import_and_says_what_was_stored(
    system: System, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Payloads may be larger than the broker takes (a misconfiguration): the broker's refusal is
    exit 3, and the summary counts only what was acknowledged before it."""
    number = f"1ZFH{uid(12)}"
    (tmp_path / "a.json").write_bytes(sample("ups", "track-alert-webhook-delivered-doc-example.json",
                                             UPS_ALERT_NUMBER, number.encode()))
    (tmp_path / "b.json").write_bytes(orjson.dumps({"pad": "x" * 3_000_000}))  # > the broker's 1 MiB
    result = run_import(system, "ups", str(tmp_path), TRACKSTREAM_MAX_BODY_BYTES=str(4_000_000))
    assert result.returncode == 3, result.stderr
    assert "the broker did not acknowledge a message" in result.stderr
    assert f"stopped in {tmp_path / 'b.json'}" in result.stderr
    assert result.stdout.startswith("partly imported 2 files: 1 payload and 0 events sent in 1 message")
    await settled(http, "ups", number, "delivered")


async def test_a_large_feed_imported_while_the_worker_is_down_is_processed_when_it_comes_back(
    system: System, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Regression: the backlog of a large import made the normalizer group megabytes of events into
    one message per partition, which the producer refused forever (the worker stalled)."""
    fleet = f"fleet{uid().lower()}"
    rows, shipments = 24_000, 4_000
    feed = tmp_path / "backlog.csv"
    feed.write_text(CSV_HEADER + "".join(
        f"B{n % shipments:05d},{'delivered' if n >= rows - shipments else 'in_transit'},,C{n // shipments},"
        f"Event {n} of the backlog at the regional hub,2026-11-20T{n // shipments + 8:02d}:00:00Z,Utrecht,,NL,\n"
        for n in range(rows)))
    system.worker.stop()
    try:
        result = run_import(system, fleet, str(feed), "--skip-invalid")
        assert result.returncode == 0, result.stderr
        assert f"{rows:,} events sent" in result.stdout
    finally:
        system.restart_worker()
    system.wait_ready()

    async def stored() -> bool:
        with system.db() as conn:
            row = conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'delivered') FROM shipments "
                               "WHERE carrier = %s", (fleet,)).fetchone()
        return row == (shipments, shipments)

    await eventually(stored, timeout=240, interval=1.0, what="every shipment of the backlog delivered")
    last = await settled(http, fleet, f"B{shipments - 1:05d}", "delivered", events=rows // shipments)
    assert [e["code"] for e in last["events"]] == [f"C{i}" for i in range(rows // shipments)]
