"""Carriers defined by a file: the parser and the webhook check (``carriers.configured``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import carriers
from carriers import configured
from carriers.base import CarrierErrorResponse, PayloadError, SignatureError
from carriers.definition import CarrierDefinition, WebhookAuth, load_definition, validate
from schemas.events import TZ_ASSUMED, TZ_CARRIER_ZONE, TZ_COUNTRY, TZ_GIVEN, Location, TrackingEvent, derive_event_id
from tests.carriers.properties import (
    RECEIVED,
    arbitrary_bytes_test,
    arbitrary_json_test,
    check_event,
    mutated_samples_test,
    utc,
)

ROOT = Path(__file__).resolve().parents[2]
KESTREL = load_definition(ROOT / "deploy" / "carriers" / "example-carrier.yaml")
PIGEON = load_definition(ROOT / "tests" / "fixtures" / "carriers" / "pigeonpost.yaml")

KESTREL_PAYLOAD: dict[str, Any] = {"delivery_updates": [
    {"parcel": {"barcode": "KP 1234 5678 NL"},
     "scans": [
         {"scan_id": "s-981", "code": "PU", "text": "Picked up from sender", "at": "27-10-2024 02:30",
          "depot": {"city": "Utrecht", "zip": "3542 AB", "country": "NL"}},
         {"scan_id": "s-982", "code": "OFD", "text": "Out for delivery", "at": "28-10-2024 08:05",
          "depot": {"city": "Antwerpen", "zip": "2030", "country": "BE"}, "van": "VAN-17"}]}]}

PIGEON_PAYLOAD: dict[str, Any] = {"data": {"shipments": [
    {"ref": "pp-1", "history": [
        {"id": "e1", "status": {"code": "ACC", "text": "Accepted"}, "time": "2026-03-29T01:30:00Z"},
        {"id": "e2", "status": {"code": "OUT", "text": "With the pigeon"}, "time": "2026-03-29T09:00:00+02:00",
         "where": {"city": "Gent", "country": "BE"}}]},
    {"ref": "pp-2", "history": [
        {"status": {"code": "DEL", "text": "Delivered"}, "time": "2026-03-30T12:00:00",
         "where": {"country": "GB"}}]}]}}


def define(**changes: Any) -> CarrierDefinition:
    doc: dict[str, Any] = {
        "carrier": "swallow", "tracking_number": "n", "events": "events",
        "fields": {"code": "c", "timestamp": "t", "description": "d", "location": {"country": "cc"}},
        "timestamp": {"format": "iso8601", "zone": "Europe/Amsterdam"},
        "codes": {"A": "in_transit", "D": {"status": "delivered", "substatus": "delivered_recipient"}},
    }
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return validate(doc, "swallow.yaml")


def parse(definition: CarrierDefinition, body: Any, headers: dict[str, str] | None = None) -> list[TrackingEvent]:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return configured.parse(definition, payload, headers or {}, RECEIVED)


def one(definition: CarrierDefinition, event: dict[str, Any]) -> TrackingEvent:
    [parsed] = parse(definition, {"n": "N1", "events": [event]})
    return parsed


# --- shapes -------------------------------------------------------------------------------------


def test_example_carrier_worked_example() -> None:
    first, second = parse(KESTREL, KESTREL_PAYLOAD)
    assert first.key == "kestrel:KP12345678NL" and first.carrier == "kestrel"
    assert (first.code, first.description, first.status, first.substatus, first.mapped) == (
        "PU", "Picked up from sender", "in_transit", "picked_up", True)
    # the autumn hour that occurs twice: the first occurrence (summer time, +02:00)
    assert first.occurred_at == utc(2024, 10, 27, 0, 30)
    assert (first.local_time, first.tz_source) == ("27-10-2024 02:30", TZ_COUNTRY)
    assert first.location == Location(city="Utrecht", postcode="3542 AB", country="NL")
    assert first.event_id == "s-981" and first.source == "webhook" and first.received_at == RECEIVED
    assert (second.status, second.substatus, second.event_id) == ("out_for_delivery", "driver_en_route", "s-982")
    assert second.occurred_at == utc(2024, 10, 28, 7, 5)  # Brussels, winter time
    assert second.attributes == {"vehicle": "VAN-17"} and first.attributes == {}


def test_list_of_shipments_each_with_its_events() -> None:
    events = parse(PIGEON, PIGEON_PAYLOAD)
    assert [(e.tracking_number, e.code) for e in events] == [("PP-1", "ACC"), ("PP-1", "OUT"), ("PP-2", "DEL")]
    assert [e.status for e in events] == ["in_transit", "out_for_delivery", "delivered"]
    assert events[0].occurred_at == utc(2026, 3, 29, 1, 30) and events[0].tz_source == TZ_GIVEN
    assert events[1].occurred_at == utc(2026, 3, 29, 7, 0) and events[1].tz_source == TZ_GIVEN
    # no offset, in Great Britain (summer time since 29 March): 12:00 BST = 11:00 UTC
    assert (events[2].occurred_at, events[2].tz_source) == (utc(2026, 3, 30, 11, 0), TZ_COUNTRY)
    assert events[2].event_id == derive_event_id("pigeonpost", "PP-2", utc(2026, 3, 30, 11, 0), "DEL")


def test_one_shipment_object_instead_of_a_list() -> None:
    body = {"data": {"shipments": PIGEON_PAYLOAD["data"]["shipments"][1]}}
    assert [e.code for e in parse(PIGEON, body)] == ["DEL"]


def test_one_event_object_instead_of_a_list() -> None:
    [event] = parse(define(), {"n": "N1", "events": {"c": "A", "t": "2026-01-01T00:00:00Z"}})
    assert event.status == "in_transit"


def test_body_is_the_shipment_and_the_event() -> None:
    definition = define(events=None)
    [event] = parse(definition, {"n": "n 9", "c": "D", "t": "2026-01-01T10:00:00+01:00", "d": "ok"})
    assert (event.tracking_number, event.status, event.substatus, event.description) == (
        "N9", "delivered", "delivered_recipient", "ok")


def test_tracking_number_at_event_level() -> None:
    definition = define(tracking_number=None, shipments="items", fields={"code": "c", "timestamp": "t",
                                                                          "tracking_number": "parcel.no"})
    body = {"items": [{"events": [{"c": "A", "t": "2026-01-01T00:00:00Z", "parcel": {"no": "a1"}},
                                  {"c": "A", "t": "2026-01-01T00:00:00Z", "parcel": {"no": "b2"}}]}]}
    assert [e.key for e in parse(definition, body)] == ["swallow:A1", "swallow:B2"]


def test_event_level_number_wins_over_shipment_level() -> None:
    definition = define(fields={"code": "c", "timestamp": "t", "tracking_number": "no"})
    body = {"n": "SHIP", "events": [{"c": "A", "t": "2026-01-01T00:00:00Z", "no": "OWN"},
                                    {"c": "A", "t": "2026-01-01T00:00:00Z"}]}
    assert [e.tracking_number for e in parse(definition, body)] == ["OWN", "SHIP"]


def test_shipment_without_events() -> None:
    assert parse(define(), {"n": "N1", "events": []}) == []
    assert parse(define(), {"n": "N1", "events": None}) == []
    assert parse(PIGEON, {"data": {"shipments": []}}) == []


def test_deep_paths_with_indexes() -> None:
    definition = define(tracking_number="numbers[1].value", events="tracking[0].events")
    body = {"numbers": [{"value": "X"}, {"value": "Y 2"}],
            "tracking": [{"events": [{"c": "A", "t": "2026-01-01T00:00:00Z"}]}]}
    [event] = parse(definition, body)
    assert event.tracking_number == "Y2"


def test_source_from_the_raw_message_header() -> None:
    body = {"n": "N1", "events": [{"c": "A", "t": "2026-01-01T00:00:00Z"}]}
    assert parse(define(), body, {"source": "poll"})[0].source == "poll"
    assert parse(define(), body, {"Source": "feed"})[0].source == "feed"
    assert parse(define(), body, {"source": "carrier-pigeon"})[0].source == "webhook"


def test_location_and_attributes() -> None:
    definition = define(fields={"code": "c", "timestamp": "t", "location": {
        "city": "l.city", "postcode": "l.pc", "country": "l.cc"}, "attributes": {"hub": "h", "weight": "w"}})
    event = one(definition, {"c": "A", "t": "2026-01-01T00:00:00Z", "l": {"city": " Köln ", "pc": 50667, "cc": "de"},
                             "h": "CGN", "w": None})
    assert event.location == Location(city="Köln", postcode="50667", country="DE")
    assert event.attributes == {"hub": "CGN"}
    other = one(definition, {"c": "A", "t": "2026-01-01T00:00:00Z", "l": {"cc": "Deutschland"}})
    assert other.location == Location(text="Deutschland")  # not an ISO code: kept as text
    assert one(definition, {"c": "A", "t": "2026-01-01T00:00:00Z"}).location is None


# --- mapping ------------------------------------------------------------------------------------


def _kestrel_rows() -> Iterator[tuple[str, str, str | None]]:
    yield from (
        ("PRE", "pre_transit", "announced"), ("PU", "in_transit", "picked_up"), ("HUB", "in_transit", "sorting"),
        ("OFD", "out_for_delivery", "driver_en_route"), ("NH", "failed_attempt", "recipient_absent"),
        ("PSP", "available_for_pickup", "at_pickup_point"), ("DLV", "delivered", "delivered_recipient"),
        ("DNB", "delivered", "delivered_neighbour"), ("DMG", "exception", "damaged"),
        ("RTS", "returned_to_sender", None),
    )


@pytest.mark.parametrize(("code", "status", "substatus"), list(_kestrel_rows()))
def test_every_row_of_the_example_table(code: str, status: str, substatus: str | None) -> None:
    body = {"delivery_updates": [{"parcel": {"barcode": "KP1"}, "scans": [
        {"code": code, "text": "t", "at": "01-02-2025 10:00"}]}]}
    [event] = parse(KESTREL, body)
    assert (event.code, event.status, event.substatus, event.mapped) == (code, status, substatus, True)


def test_table_covers_every_example_row() -> None:
    assert {code for code, _, _ in _kestrel_rows()} == set(KESTREL.codes)


@pytest.mark.parametrize(("code", "status", "substatus"), [
    ("ACC", "in_transit", "accepted"), ("OUT", "out_for_delivery", None), ("DEL", "delivered", "delivered_recipient"),
])
def test_every_row_of_the_test_carrier(code: str, status: str, substatus: str | None) -> None:
    body = {"data": {"shipments": [{"ref": "R", "history": [{"status": {"code": code}, "time": "2026-01-01Z"}]}]}}
    [event] = parse(PIGEON, body)
    assert (event.status, event.substatus, event.mapped) == (status, substatus, True)


def test_unmapped_code_is_unknown_and_kept() -> None:
    event = one(define(), {"c": "ZZ9", "d": "Something new", "t": "2026-01-01T00:00:00Z"})
    assert (event.status, event.substatus, event.mapped) == ("unknown", "unmapped_code", False)
    assert (event.code, event.description) == ("ZZ9", "Something new")


def test_codes_are_exact_but_trimmed() -> None:
    assert one(define(), {"c": " A ", "t": "2026-01-01T00:00:00Z"}).status == "in_transit"
    assert one(define(), {"c": "a", "t": "2026-01-01T00:00:00Z"}).mapped is False
    assert one(define(codes={"7": "delivered"}), {"c": 7, "t": "2026-01-01T00:00:00Z"}).status == "delivered"


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "country", "instant", "source"), [
    ("2026-07-01T10:00:00Z", None, utc(2026, 7, 1, 10), TZ_GIVEN),
    ("2026-07-01T10:00:00z", None, utc(2026, 7, 1, 10), TZ_GIVEN),
    ("2026-07-01T10:00:00-04:00", "NL", utc(2026, 7, 1, 14), TZ_GIVEN),
    ("2026-07-01T10:00:00.250+02:00", None, utc(2026, 7, 1, 8, 0, 0, 250000), TZ_GIVEN),
    ("2026-07-01T10:00:00", None, utc(2026, 7, 1, 8), TZ_ASSUMED),  # Amsterdam, summer
    ("2026-01-15T10:00:00", None, utc(2026, 1, 15, 9), TZ_ASSUMED),  # Amsterdam, winter
    ("2026-07-01T10:00:00", "GB", utc(2026, 7, 1, 9), TZ_COUNTRY),
    ("2026-07-01T10:00:00", "US", utc(2026, 7, 1, 14), TZ_ASSUMED),  # several zones: New York assumed
    ("2026-07-01T10:00:00", "XX", utc(2026, 7, 1, 8), TZ_ASSUMED),  # no zone known for the country
    ("2026-10-25T02:30:00", None, utc(2026, 10, 25, 0, 30), TZ_ASSUMED),  # twice: the first (summer) one
    ("2026-03-29T02:30:00", None, utc(2026, 3, 29, 1, 30), TZ_ASSUMED),  # skipped hour: offset before the jump
    ("2026-07-01", None, utc(2026, 6, 30, 22), TZ_ASSUMED),
])
def test_iso8601(text: str, country: str | None, instant: datetime, source: str) -> None:
    event = one(define(), {"c": "A", "t": text, "cc": country})
    assert (event.occurred_at, event.tz_source, event.local_time) == (instant, source, text)


def test_location_zone_can_be_switched_off() -> None:
    definition = define(timestamp={"format": "iso8601", "zone": "Asia/Tokyo", "location_zone": False})
    event = one(definition, {"c": "A", "t": "2026-07-01T10:00:00", "cc": "NL"})
    assert (event.occurred_at, event.tz_source) == (utc(2026, 7, 1, 1), TZ_CARRIER_ZONE)


@pytest.mark.parametrize(("fmt", "value", "instant", "local"), [
    ("epoch_seconds", 1_767_225_600, utc(2026, 1, 1), "1767225600"),
    ("epoch_seconds", 1_767_225_600.5, utc(2026, 1, 1, 0, 0, 0, 500000), "1767225600.5"),
    ("epoch_seconds", "1767225600", utc(2026, 1, 1), "1767225600"),
    ("epoch_millis", 1_767_225_600_123, utc(2026, 1, 1, 0, 0, 0, 123000), "1767225600123"),
    ("epoch_millis", " 1767225600000 ", utc(2026, 1, 1), "1767225600000"),
])
def test_epochs_are_utc(fmt: str, value: Any, instant: datetime, local: str) -> None:
    event = one(define(timestamp={"format": fmt}), {"c": "A", "t": value, "cc": "US"})
    assert (event.occurred_at, event.tz_source, event.local_time) == (instant, TZ_GIVEN, local)


def test_strptime_local_time() -> None:
    definition = define(timestamp={"format": "%d.%m.%Y %H:%M", "zone": "Europe/Berlin"})
    event = one(definition, {"c": "A", "t": "31.12.2026 23:30"})
    assert (event.occurred_at, event.tz_source, event.local_time) == (utc(2026, 12, 31, 22, 30), TZ_ASSUMED,
                                                                      "31.12.2026 23:30")
    in_be = one(definition, {"c": "A", "t": "01.07.2026 12:00", "cc": "PT"})
    # PT has several zones (the Azores) and no city is given: Lisbon (WEST), PT's main zone, assumed
    assert (in_be.occurred_at, in_be.tz_source) == (utc(2026, 7, 1, 11), TZ_ASSUMED)


def test_strptime_with_offset() -> None:
    definition = define(timestamp={"format": "%Y%m%d%H%M%S%z"})
    event = one(definition, {"c": "A", "t": "20260701120000+0530"})
    assert (event.occurred_at, event.tz_source) == (utc(2026, 7, 1, 6, 30), TZ_GIVEN)


@pytest.mark.parametrize(("fmt", "value", "problem"), [
    ("iso8601", None, "missing timestamp"),
    ("iso8601", "", "missing timestamp"),
    ("iso8601", "yesterday", "unreadable timestamp"),
    ("iso8601", 1767225600, "must be text"),
    ("%d.%m.%Y", "2026-01-01", "unreadable timestamp"),
    ("epoch_seconds", True, "must be a number"),
    ("epoch_seconds", [1], "must be a number"),
    ("epoch_seconds", "soon", "unreadable epoch"),
    ("epoch_seconds", 10**20, "unreadable epoch"),
    ("epoch_millis", -(10**18), "unreadable epoch"),
])
def test_unreadable_times(fmt: str, value: Any, problem: str) -> None:
    rule: dict[str, Any] = {"format": fmt}
    if fmt not in ("epoch_seconds", "epoch_millis"):
        rule["zone"] = "UTC"
    with pytest.raises(PayloadError, match=problem) as info:
        one(define(timestamp=rule), {"c": "A", "t": value})
    assert "events[0].t" in str(info.value)


def test_missing_timestamp_key() -> None:
    with pytest.raises(PayloadError, match="missing timestamp"):
        one(define(), {"c": "A"})


# --- event ids ----------------------------------------------------------------------------------


def test_event_ids() -> None:
    definition = define(fields={"code": "c", "timestamp": "t", "event_id": "id"})
    own = one(definition, {"c": "A", "t": "2026-01-01T00:00:00Z", "id": 42})
    assert own.event_id == "42"
    long_id = "x" * 129
    hashed = one(definition, {"c": "A", "t": "2026-01-01T00:00:00Z", "id": long_id})
    assert len(hashed.event_id) == 32 and hashed.event_id == one(
        definition, {"c": "A", "t": "2026-01-01T00:00:00Z", "id": long_id}).event_id
    derived = one(definition, {"c": "A", "t": "2026-01-01T01:00:00+01:00", "id": ""})
    assert derived.event_id == derive_event_id("swallow", "N1", utc(2026, 1, 1), "A")


# --- errors -------------------------------------------------------------------------------------


def test_carrier_error_path() -> None:
    with pytest.raises(CarrierErrorResponse, match="Parcel not found"):
        parse(KESTREL, {"error": {"message": "Parcel not found"}})
    assert len(parse(KESTREL, {**KESTREL_PAYLOAD, "error": {"message": None}})) == 2


@pytest.mark.parametrize(("definition", "body", "problem"), [
    (PIGEON, b"", "empty payload"),
    (PIGEON, b"<xml/>", "not JSON"),
    (PIGEON, {"data": {}}, "no shipments at 'data.shipments'"),
    (PIGEON, {"data": {"shipments": ["pp-1"]}}, "shipments[0] must be an object"),
    (PIGEON, {"data": {"shipments": [{"ref": "pp-1"}]}}, "shipments[0]: no events at 'history'"),
    (PIGEON, {"data": {"shipments": [{"ref": "pp-1", "history": [7]}]}}, "shipments[0].history[0] must be an object"),
    (PIGEON, {"data": {"shipments": [{"history": [{"status": {"code": "ACC"}, "time": "2026-01-01Z"}]}]}},
     "missing tracking number"),
    (PIGEON, {"data": {"shipments": [{"ref": " ", "history": [{"status": {"code": "ACC"}, "time": "2026-01-01Z"}]}]}},
     "missing tracking number"),
    (PIGEON, {"data": {"shipments": [{"ref": "R" * 65, "history": []}]}}, "longer than 64"),
    (PIGEON, {"data": {"shipments": [{"ref": "R", "history": [{"time": "2026-01-01Z"}]}]}},
     "shipments[0].history[0].status.code: missing carrier code"),
    (PIGEON, {"data": {"shipments": [{"ref": "R", "history": [{"status": {"code": True}, "time": "2026-01-01Z"}]}]}},
     "missing carrier code"),
])
def test_malformed_payloads(definition: CarrierDefinition, body: Any, problem: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse(definition, body)
    assert problem in str(info.value)


def test_not_bytes() -> None:
    with pytest.raises(PayloadError):
        configured.parse(PIGEON, "text", {}, RECEIVED)  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------------------


def _parse_pigeon(payload: bytes) -> list[TrackingEvent]:
    return configured.parse(PIGEON, payload, {}, RECEIVED)


def _parse_kestrel(payload: bytes) -> list[TrackingEvent]:
    return configured.parse(KESTREL, payload, {}, RECEIVED)


def _load(name: str) -> Any:
    return json.loads(json.dumps({"pigeon": PIGEON_PAYLOAD, "kestrel": KESTREL_PAYLOAD}[name]))


def _check(event: TrackingEvent) -> None:
    check_event(event)
    assert event.occurred_at.tzinfo is not None and event.tracking_number and event.code
    assert event.mapped == (event.status != "unknown" or event.substatus != "unmapped_code")


test_arbitrary_bytes_only_raise_parse_error = arbitrary_bytes_test(_parse_pigeon, max_examples=200)
test_arbitrary_json_only_raises_parse_error = arbitrary_json_test(_parse_kestrel, max_examples=200)
test_arbitrary_json_in_the_envelope_only_raises_parse_error = arbitrary_json_test(
    _parse_pigeon, max_examples=200,
    wrap=lambda data, value: {"data": {"shipments": [{"ref": "R", "history": [value]}]}},
)
test_mutated_pigeon_payloads = mutated_samples_test(_parse_pigeon, _load, ["pigeon"], max_examples=300,
                                                    check=_check)
test_mutated_kestrel_payloads = mutated_samples_test(_parse_kestrel, _load, ["kestrel"], max_examples=300,
                                                     check=_check)


# --- webhook authentication ---------------------------------------------------------------------

BODY = b'{"data": {"shipments": []}}'


def _hmac(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


@pytest.mark.parametrize(("auth", "headers"), [
    (WebhookAuth("hmac-sha256", "X-Sig", "S"), {"X-Sig": _hmac("k", BODY).hex()}),
    (WebhookAuth("hmac-sha256", "X-Sig", "S"), {"x-sig": " " + _hmac("k", BODY).hex().upper()}),
    (WebhookAuth("hmac-sha256", "X-Sig", "S", prefix="sha256="), {"X-Sig": "sha256=" + _hmac("k", BODY).hex()}),
    (WebhookAuth("hmac-sha256", "X-Sig", "S", encoding="base64"),
     {"X-Sig": base64.b64encode(_hmac("k", BODY)).decode()}),
    (WebhookAuth("token", "Authorization", "S", prefix="Bearer "), {"authorization": "Bearer k"}),
    (WebhookAuth("token", "X-Token", "S"), {"X-Token": "k"}),
])
def test_webhook_accepted(auth: WebhookAuth, headers: dict[str, str]) -> None:
    configured.verify_webhook(auth, BODY, headers, "k")


@pytest.mark.parametrize(("auth", "headers", "secret", "problem"), [
    (WebhookAuth("hmac-sha256", "X-Sig", "S"), {"X-Sig": _hmac("k", BODY).hex()}, "", "no webhook secret"),
    (WebhookAuth("hmac-sha256", "X-Sig", "S"), {}, "k", "missing X-Sig"),
    (WebhookAuth("hmac-sha256", "X-Sig", "S"), {"X-Sig": "  "}, "k", "missing X-Sig"),
    (WebhookAuth("hmac-sha256", "X-Sig", "S"), {"X-Sig": _hmac("other", BODY).hex()}, "k", "does not match"),
    (WebhookAuth("hmac-sha256", "X-Sig", "S"), {"X-Sig": _hmac("k", BODY + b" ").hex()}, "k", "does not match"),
    (WebhookAuth("hmac-sha256", "X-Sig", "S"), {"X-Sig": "zz"}, "k", "is not hex"),
    (WebhookAuth("hmac-sha256", "X-Sig", "S", encoding="base64"), {"X-Sig": "***"}, "k", "is not base64"),
    (WebhookAuth("hmac-sha256", "X-Sig", "S", encoding="base64"), {"X-Sig": _hmac("k", BODY).hex()}, "k",
     "does not match"),
    (WebhookAuth("hmac-sha256", "X-Sig", "S", prefix="sha256="), {"X-Sig": _hmac("k", BODY).hex()}, "k",
     "does not start with"),
    (WebhookAuth("token", "X-Token", "S"), {"X-Token": "K"}, "k", "does not match"),
    (WebhookAuth("token", "Authorization", "S", prefix="Bearer "), {"Authorization": "k"}, "k", "does not start"),
])
def test_webhook_refused(auth: WebhookAuth, headers: dict[str, str], secret: str, problem: str) -> None:
    with pytest.raises(SignatureError, match=problem):
        configured.verify_webhook(auth, BODY, headers, secret)


# --- registry -----------------------------------------------------------------------------------


def test_get_parser_finds_registered_definitions() -> None:
    try:
        carriers.use_definitions([PIGEON, KESTREL])
        assert carriers.configured_carriers() == ("kestrel", "pigeonpost")
        parser = carriers.get_parser(" PigeonPost")
        assert parser is not None
        assert [e.code for e in parser(json.dumps(PIGEON_PAYLOAD).encode(), {}, RECEIVED)] == ["ACC", "OUT", "DEL"]
        assert carriers.get_parser("postnl") is carriers.PARSERS["postnl"]
        carriers.use_definitions([KESTREL])  # replaces, does not add
        assert carriers.get_parser("pigeonpost") is None and carriers.get_parser("kestrel") is not None
    finally:
        carriers.use_definitions([])
    assert carriers.get_parser("kestrel") is None


def test_a_builtin_name_cannot_be_registered() -> None:
    fake = validate({"carrier": "postnl", "tracking_number": "n", "fields": {"code": "c", "timestamp": "t"},
                     "timestamp": {"format": "epoch_seconds"}, "codes": {}}, "x.yaml", builtin=frozenset())
    with pytest.raises(ValueError, match="built-in"):
        carriers.use_definitions([fake])
    assert carriers.get_parser("postnl") is carriers.PARSERS["postnl"]


def test_received_at_is_passed_through() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    [event] = configured.parse(define(), b'{"n": "N", "events": [{"c": "A", "t": "2026-01-01Z"}]}', {}, at)
    assert event.received_at == at


# --- the README's worked example ----------------------------------------------------------------


def _readme_blocks() -> tuple[Any, Any]:
    import yaml

    section = (ROOT / "README.md").read_text().split("## Adding a carrier without code", 1)[1].split("\n## ", 1)[0]
    payload = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    definition = yaml.safe_load(section.split("```yaml", 1)[1].split("```", 1)[0])
    return payload, definition


def test_readme_worked_example_is_true() -> None:
    payload, document = _readme_blocks()
    assert payload == KESTREL_PAYLOAD
    definition = validate(document, "README.md")
    assert definition.carrier == KESTREL.carrier and definition.webhook == KESTREL.webhook
    assert definition.timestamp == KESTREL.timestamp and definition.fields == KESTREL.fields
    assert {code: KESTREL.codes[code] for code in definition.codes} == definition.codes
    first, second = parse(definition, payload)
    assert (first.key, first.code, first.status, first.substatus) == ("kestrel:KP12345678NL", "PU", "in_transit",
                                                                      "picked_up")
    assert (first.occurred_at, first.tz_source) == (utc(2024, 10, 27, 0, 30), TZ_COUNTRY)
    assert (second.code, second.status, second.occurred_at) == ("OFD", "out_for_delivery", utc(2024, 10, 28, 7, 5))
    assert second.attributes == {"vehicle": "VAN-17"}
