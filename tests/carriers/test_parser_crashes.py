"""The parser crashes found once the adapters lost their catch-all ``except Exception`` tails, kept
as examples: each payload made an adapter raise something other than a ``ParseError`` (ValueError,
OverflowError), which the tail used to relabel "malformed payload". Now each is either read
(events that pass ``check_event``) or refused with a ``PayloadError`` that names the problem.

The causes, once each: ``str.isdigit`` is true for "²" but ``int("²")`` fails; a local time at the
edge of ``datetime``'s range (year 1 east of UTC, year 9999 west of it) has no UTC instant;
``urlsplit`` raises ``ValueError`` for a bracketed host that is not an IPv6 address; DHL Express's
GMTOffset pattern admits offsets no zone has (+25:00).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import carriers
from carriers import configured
from carriers.base import PayloadError
from carriers.definition import load_definition
from schemas.events import TrackingEvent
from tests.carriers.properties import RECEIVED, as_payload, carrier_samples, check_event

READ = "read"  # the payload gives events
REFUSED = "refused"  # PayloadError

PIGEON = load_definition(Path(__file__).resolve().parents[1] / "fixtures" / "carriers" / "pigeonpost.yaml")
NUMBER_HEADER = {"X-Trackstream-Tracking-Number": "05222222222222"}


def _postnl(code: str, stamp: str) -> Any:
    return [{"Barcode": "3SABCD1234567", "Status": {"StatusCode": code, "TimeStamp": stamp}}]


def _sendcloud_webhook(status_id: Any) -> Any:
    return {"action": "parcel_status_changed", "timestamp": 1700000000000,
            "parcel": {"tracking_number": "3SSC1", "status": {"id": status_id, "message": "Delivered"}}}


def _mydhl(event: dict[str, Any], **shipment: Any) -> Any:
    return {"shipments": [{"shipmentTrackingNumber": "1234567890",
                           "events": [{"typeCode": "PU", "date": "2024-01-02", "time": "10:00:00", **event}],
                           **shipment}]}


def _fedex(scan: dict[str, Any]) -> Any:
    return {"output": {"completeTrackResults": [{"trackingNumber": "123456789012", "trackResults": [{
        "trackingNumberInfo": {"trackingNumber": "123456789012"},
        "scanEvents": [{"eventType": "DE", "date": "2024-01-02T10:00:00-05:00", **scan}]}]}]}}


def _ups(**fields: Any) -> Any:
    return {"trackingNumber": "1Z0000000000000001", "localActivityDate": "20240102", "localActivityTime": "100000",
            "activityLocation": {"countryCode": "NL"},
            "activityStatus": {"type": "D", "code": "KB", "descriptionCode": "011"}, **fields}


def _tnt(pieces: str = "1", date: str = "20240102", time: str = "1000") -> bytes:
    root = ET.fromstring((carrier_samples("tnt") / "expressconnect-track-response-v3.1.xml").read_bytes())
    for node in root.iter():
        tag = node.tag.rsplit("}", 1)[-1]
        if tag == "PieceQuantity":
            node.text = pieces
        elif tag == "LocalEventDate":
            node.text = date
        elif tag == "LocalEventTime":
            node.text = time
    return ET.tostring(root)


def _myparcel(**entry: Any) -> Any:
    base = {"shipment_id": 1, "barcode": "3SMYPA1", "code": "A01", "time": "2024-01-02 10:00:00", "history": []}
    return {"data": {"tracktraces": [{**base, **entry}]}}


def _dpd_push(statusdate: str, prefix: str = "") -> bytes:
    return f"{prefix}pnr=05222222222222&status=start_order&statusdate={statusdate}".encode()


CASES: list[tuple[str, str, Any, str]] = [
    # (carrier, what made it crash, payload, outcome now)
    ("postnl", 'StatusCode "²" (isdigit, then int)', _postnl("²", "02-01-2024 10:00:00"), READ),
    ("postnl", "TimeStamp in year 1, Amsterdam time", _postnl("1", "01-01-0001 00:00:00"), REFUSED),
    ("postnl", "ISO TimeStamp in year 1", _postnl("1", "0001-01-01T00:00:00"), REFUSED),
    ("sendcloud", 'webhook status id "²"', _sendcloud_webhook("²"), REFUSED),
    ("sendcloud", "v2 tracking URL with a bracketed host",
     {"statuses": [], "carrier_tracking_url": "http://[x/?code=1"}, REFUSED),
    ("sendcloud", "v3 event_at in year 1 at +01:00",
     {"tracking_numbers": [{"tracking_number": "3SSC1"}],
      "events": [{"status_code": "delivered", "event_at": "0001-01-01T00:00:00+01:00"}]}, REFUSED),
    ("dhl_parcel_nl", "local timestamp in year 1",
     {"barcode": "3SDHL1", "events": [{"status": "DELIVERED", "localTimestamp": "0001-01-01T00:00:00"}]}, REFUSED),
    ("dhl_express", 'GMTOffset "+25:00"', _mydhl({"GMTOffset": "+25:00"}), REFUSED),
    ("dhl_express", "date in year 1 at GMTOffset +01:00",
     _mydhl({"date": "0001-01-01", "time": "00:00:00", "GMTOffset": "+01:00"}), REFUSED),
    ("dhl_express", "date in year 1 without an offset", _mydhl({"date": "0001-01-01", "time": "00:00:00"}), REFUSED),
    ("dhl_express", "estimated delivery at the end of year 9999 in New York",
     _mydhl({"GMTOffset": "+01:00"}, estimatedDeliveryDate="9999-12-31T23:59:59",
            receiverDetails={"postalAddress": {"countryCode": "US"}}), READ),
    ("dpd_nl", "push statusdate in year 1", _dpd_push("01010001000000"), REFUSED),
    ("dpd_nl", "push URL with a bracketed host", _dpd_push("02012024100000", "http://[x/push?"), REFUSED),
    ("gls_nl", "eventDateTime in year 1",
     {"parcels": [{"unitno": "36301910007", "events": [{"code": "INTRANSIT", "eventDateTime": "0001-01-01T00:00:00",
                                                         "country": "NL"}]}]}, REFUSED),
    ("fedex", 'exceptionCode "²"', _fedex({"exceptionCode": "²"}), READ),
    ("ups", 'status code "²"', _ups(activityStatus={"type": "D", "code": "KB", "descriptionCode": "²"}), READ),
    ("ups", "local time in year 1 at gmtOffset +05", _ups(localActivityDate="00010101", localActivityTime="000000",
                                                          gmtOffset="+05"), REFUSED),
    ("ups", "local time in year 1, Dutch time", _ups(localActivityDate="00010101", localActivityTime="000000"),
     REFUSED),
    ("tnt", 'PieceQuantity "²"', _tnt(pieces="²"), READ),
    ("tnt", "LocalEventDate in year 1", _tnt(date="00010101", time="0000"), REFUSED),
    ("myparcel", 'history status "²"', _myparcel(history=[{"status": "²", "code": "A01", "time": "2024-01-02 09:00"}]),
     REFUSED),
    ("myparcel", "link_tracktrace with a bracketed host", _myparcel(link_tracktrace="http://[x/track"), READ),
    ("myparcel", "link_consumer_portal with a bracketed host and no barcode",
     _myparcel(barcode="", link_consumer_portal="http://[x/track"), READ),
    ("myparcel", "time in year 1", _myparcel(time="0001-01-01 00:00:00"), REFUSED),
]


def _parse(carrier: str, payload: bytes) -> list[TrackingEvent]:
    parser = carriers.get_parser(carrier)
    assert parser is not None
    return list(parser(payload, NUMBER_HEADER if carrier == "dpd_nl" else {}, RECEIVED))


def _outcome(events: list[TrackingEvent]) -> str:
    for event in events:
        check_event(event)
    return READ if events else "no events"


@pytest.mark.parametrize(("carrier", "cause", "payload", "expected"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_a_former_crash_is_read_or_refused_by_name(carrier: str, cause: str, payload: Any, expected: str) -> None:
    try:
        outcome = _outcome(_parse(carrier, as_payload(payload)))
    except PayloadError as exc:
        assert str(exc)  # a reason a dead letter can show
        outcome = REFUSED
    assert outcome == expected


def test_a_configured_carrier_refuses_an_iso_time_without_a_utc_instant() -> None:
    payload = {"data": {"shipments": [{"ref": "pp-1", "history": [
        {"status": {"code": "ACC"}, "time": "0001-01-01T00:00:00+01:00"}]}]}}
    with pytest.raises(PayloadError, match="out of range"):
        configured.parse(PIGEON, as_payload(payload), {}, RECEIVED)
