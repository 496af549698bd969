"""The alert rules file: documented defaults, overrides per carrier and service level, and strict
errors that name the file and the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from trackstream.alerts.rules import DEFAULTS, RulesError, load_rules, parse_rules

FILE = """
defaults:
  failed_attempt_no_followup: 12h
  silent_shipment: {in_transit: 36h}
  severity: {silent_shipment: medium}
overrides:
  - carrier: postnl
    silent_shipment: {in_transit: 24h}
  - carrier: dhl_express
    service_level: express_worldwide
    stuck_at_location: 1d
  - carrier: DHL_Express
    stuck_at_location: 5d
    delivery_at_risk: {in_transit: 2}
"""


def test_defaults_without_a_file() -> None:
    rules = load_rules("")
    t = rules.for_shipment("postnl")
    assert t == DEFAULTS
    assert t.failed_attempt_no_followup == timedelta(hours=24)
    assert t.silent_shipment["in_transit"] == timedelta(hours=48)
    assert t.silent_shipment["out_for_delivery"] == timedelta(hours=12)
    assert t.silent_shipment["pre_transit"] == timedelta(days=3)
    assert t.silent_carrier_feed == timedelta(hours=6)


def test_defaults_then_carrier_then_carrier_and_service(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(FILE)
    rules = load_rules(path)
    gls = rules.for_shipment("gls_nl")
    assert gls.failed_attempt_no_followup == timedelta(hours=12)
    assert gls.silent_shipment["in_transit"] == timedelta(hours=36)
    assert gls.silent_shipment["out_for_delivery"] == timedelta(hours=12)  # maps merge, they do not replace
    assert gls.severity["silent_shipment"] == "medium" and gls.severity["carrier_exception"] == "high"
    assert rules.for_shipment("postnl").silent_shipment["in_transit"] == timedelta(hours=24)
    # the service-level entry beats the carrier entry although it comes first in the file
    express = rules.for_shipment("dhl_express", "express_worldwide")
    assert express.stuck_at_location == timedelta(days=1)
    assert express.delivery_at_risk["in_transit"] == 2  # and the carrier entry still applies underneath
    assert rules.for_shipment("dhl_express", "economy").stuck_at_location == timedelta(days=5)


@pytest.mark.parametrize(("text", "where"), [
    ("defaults: {failed_attempt_no_followup: 24x}", "defaults.failed_attempt_no_followup: '24x' is not a duration"),
    ("defaults: {failed_attempt_no_followup: 0h}", "defaults.failed_attempt_no_followup: must be longer than 0"),
    ("defaults: {silent_shipment: {delivered: 1h}}", "defaults.silent_shipment.delivered: unknown field"),
    ("defaults: {silent_shipment: [1h]}", "defaults.silent_shipment: must be a mapping"),
    ("defaults: {delivery_at_risk: {in_transit: -1}}", "defaults.delivery_at_risk.in_transit: must be a whole"),
    ("defaults: {severity: {carrier_exception: urgent}}", "defaults.severity.carrier_exception: must be one of"),
    ("defaults: {severity: {late: high}}", "defaults.severity.late: unknown field"),
    ("defaults: {stuck: 1h}", "defaults.stuck: unknown field"),
    ("thresholds: {}", "thresholds: unknown field"),
    ("overrides: {carrier: postnl}", "overrides: must be a list"),
    ("overrides: [{silent_carrier_feed: 1h}]", "overrides[0].carrier: is required"),
    ("overrides: [{carrier: 'Post NL', stuck_at_location: 1h}]", "overrides[0].carrier: must match"),
    ("overrides: [{carrier: postnl}]", "overrides[0]: changes nothing"),
    ("overrides: [{carrier: postnl, service_level: '', stuck_at_location: 1h}]", "overrides[0].service_level"),
    ("- just a list", "(top level): must be a mapping"),
])
def test_errors_name_the_file_and_the_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as error:
        load_rules(path)
    assert str(error.value).startswith(f"{path}: {where}"), str(error.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot be read"):
        load_rules(tmp_path / "missing.yaml")
    broken = tmp_path / "alerts.yaml"
    broken.write_text("defaults: [unclosed")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(broken)
    as_json = tmp_path / "alerts.json"
    as_json.write_text('{"defaults": {"stuck_at_location": "2d"}}')
    assert load_rules(as_json).for_shipment("x").stuck_at_location == timedelta(days=2)


def test_an_empty_file_is_the_defaults() -> None:
    assert parse_rules(None).for_shipment("tnt") == DEFAULTS
