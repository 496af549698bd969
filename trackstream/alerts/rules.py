"""Alert thresholds: one file (``TRACKSTREAM_ALERT_RULES``, YAML or JSON), validated strictly at start.

The file is optional; without it the documented defaults (``DEFAULTS``) apply. It has two parts:

    defaults:                       # any subset; what is not given keeps the built-in default
      failed_attempt_no_followup: 24h
      stuck_at_location: 72h
      silent_shipment: {in_transit: 48h, out_for_delivery: 12h, pre_transit: 3d}
      silent_carrier_feed: 6h
      delivery_at_risk: {pre_transit: 2, in_transit: 1}   # business days a status still needs
      severity: {carrier_exception: high}
    overrides:                      # later entries win; a carrier + service entry beats a carrier one
      - carrier: postnl
        silent_shipment: {in_transit: 24h}
      - carrier: dhl_express
        service_level: express_worldwide
        stuck_at_location: 24h

Durations are ``<n>s``, ``<n>m``, ``<n>h``, ``<n>d`` or ``<n>w``. An error names the file and the
field (``alerts.yaml: overrides[1].silent_shipment.in_transit: '2x' is not a duration ...``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from schemas.taxonomy import FINAL_STATUSES, PENDING, Status

CARRIER_EXCEPTION = "carrier_exception"
FAILED_ATTEMPT_NO_FOLLOWUP = "failed_attempt_no_followup"
STUCK_AT_LOCATION = "stuck_at_location"
SILENT_SHIPMENT = "silent_shipment"
SILENT_CARRIER_FEED = "silent_carrier_feed"
DELIVERY_AT_RISK = "delivery_at_risk"
DEADLINE_BREACHED = "deadline_breached"
ALERT_TYPES = (CARRIER_EXCEPTION, FAILED_ATTEMPT_NO_FOLLOWUP, STUCK_AT_LOCATION, SILENT_SHIPMENT,
               SILENT_CARRIER_FEED, DELIVERY_AT_RISK, DEADLINE_BREACHED)
SEVERITIES = ("low", "medium", "high", "critical")
#: Statuses a shipment can be silent in (every one that is not final).
ACTIVE_STATUSES = (*(s.value for s in Status if s.value not in FINAL_STATUSES), PENDING)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME = re.compile(r"^[a-z0-9_-]{1,32}$")


class RulesError(ValueError):
    """The rules file cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Thresholds:
    """What applies to one carrier (and service level)."""

    failed_attempt_no_followup: timedelta = timedelta(hours=24)
    stuck_at_location: timedelta = timedelta(hours=72)
    #: status (or ``pending``: registered, no carrier event yet) → how long without a newer event
    silent_shipment: Mapping[str, timedelta] = field(default_factory=lambda: {
        PENDING: timedelta(days=3), Status.PRE_TRANSIT: timedelta(days=3), Status.IN_TRANSIT: timedelta(hours=48),
        Status.OUT_FOR_DELIVERY: timedelta(hours=12), Status.FAILED_ATTEMPT: timedelta(hours=48),
        Status.AVAILABLE_FOR_PICKUP: timedelta(days=7), Status.EXCEPTION: timedelta(hours=48),
        Status.UNKNOWN: timedelta(hours=48),
    })
    silent_carrier_feed: timedelta = timedelta(hours=6)
    #: status → business days it still needs before delivery (the promise is at risk below that)
    delivery_at_risk: Mapping[str, int] = field(default_factory=lambda: {
        PENDING: 2, Status.PRE_TRANSIT: 2, Status.IN_TRANSIT: 1, Status.EXCEPTION: 1, Status.FAILED_ATTEMPT: 1,
        Status.UNKNOWN: 1,
    })
    severity: Mapping[str, str] = field(default_factory=lambda: {
        CARRIER_EXCEPTION: "high", FAILED_ATTEMPT_NO_FOLLOWUP: "medium", STUCK_AT_LOCATION: "medium",
        SILENT_SHIPMENT: "low", SILENT_CARRIER_FEED: "high", DELIVERY_AT_RISK: "medium", DEADLINE_BREACHED: "high",
    })


DEFAULTS = Thresholds()


@dataclass(frozen=True)
class Override:
    carrier: str
    service_level: str | None
    changes: Mapping[str, Any]  # field -> value (maps merge into the defaults' maps)


@dataclass(frozen=True)
class AlertRules:
    defaults: Thresholds = DEFAULTS
    overrides: tuple[Override, ...] = ()

    def for_shipment(self, carrier: str, service_level: str | None = None) -> Thresholds:
        """The thresholds of a carrier's shipment: the defaults, then the carrier's overrides, then
        those for its carrier and service level (each in file order)."""
        found = self.defaults
        for specific in (False, True):
            for o in self.overrides:
                if o.carrier != carrier or (o.service_level is not None) != specific:
                    continue
                if specific and o.service_level != service_level:
                    continue
                found = _apply(found, o.changes)
        return found


def _apply(base: Thresholds, changes: Mapping[str, Any]) -> Thresholds:
    merged: dict[str, Any] = {}
    for name, value in changes.items():
        current = getattr(base, name)
        merged[name] = {**current, **value} if isinstance(value, Mapping) else value
    return replace(base, **merged)


# --- reading the file ---------------------------------------------------------------------------


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> RulesError:
        return RulesError(f"{self.source}: {where}: {problem}")

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping, got {type(value).__name__}")
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise self.fail(where, f"keys must be text, got {bad[0]!r}")
        return value

    def duration(self, value: Any, where: str) -> timedelta:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise self.fail(where, f"{value!r} is not a duration (e.g. 90m, 48h, 3d)")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        if seconds <= 0:
            raise self.fail(where, "must be longer than 0")
        return timedelta(seconds=seconds)

    def days(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60:
            raise self.fail(where, f"must be a whole number of business days from 0 to 60, got {value!r}")
        return value

    def known(self, value: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}" if where else unknown[0],
                            f"unknown field (allowed: {', '.join(allowed)})")

    def thresholds(self, value: Any, where: str) -> dict[str, Any]:
        data = self.mapping(value, where)
        fields = ("failed_attempt_no_followup", "stuck_at_location", "silent_shipment", "silent_carrier_feed",
                  "delivery_at_risk", "severity")
        self.known({k: v for k, v in data.items() if k not in ("carrier", "service_level")}, fields, where)
        out: dict[str, Any] = {}
        for name in ("failed_attempt_no_followup", "stuck_at_location", "silent_carrier_feed"):
            if name in data:
                out[name] = self.duration(data[name], f"{where}.{name}")
        if "silent_shipment" in data:
            statuses = self.mapping(data["silent_shipment"], f"{where}.silent_shipment")
            self.known(statuses, ACTIVE_STATUSES, f"{where}.silent_shipment")
            out["silent_shipment"] = {s: self.duration(v, f"{where}.silent_shipment.{s}") for s, v in statuses.items()}
        if "delivery_at_risk" in data:
            statuses = self.mapping(data["delivery_at_risk"], f"{where}.delivery_at_risk")
            self.known(statuses, ACTIVE_STATUSES, f"{where}.delivery_at_risk")
            out["delivery_at_risk"] = {s: self.days(v, f"{where}.delivery_at_risk.{s}") for s, v in statuses.items()}
        if "severity" in data:
            levels = self.mapping(data["severity"], f"{where}.severity")
            self.known(levels, ALERT_TYPES, f"{where}.severity")
            for kind, level in levels.items():
                if level not in SEVERITIES:
                    raise self.fail(f"{where}.severity.{kind}",
                                    f"must be one of {', '.join(SEVERITIES)}, got {level!r}")
            out["severity"] = dict(levels)
        return out

    def name(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _NAME.match(value.strip().lower()):
            raise self.fail(where, f"must match [a-z0-9_-]{{1,32}}, got {value!r}")
        return value.strip().lower()


def parse_rules(data: Any, source: str = "alert rules") -> AlertRules:
    """Rules from a parsed document (``None``: an empty file, the defaults)."""
    reader = _Reader(source)
    if data is None:
        return AlertRules()
    top = reader.mapping(data, "(top level)")
    reader.known(top, ("defaults", "overrides"), "")
    defaults = _apply(DEFAULTS, reader.thresholds(top["defaults"], "defaults")) if "defaults" in top else DEFAULTS
    overrides: list[Override] = []
    raw = top.get("overrides", [])
    if not isinstance(raw, list):
        raise reader.fail("overrides", "must be a list")
    for i, entry in enumerate(raw):
        where = f"overrides[{i}]"
        item = reader.mapping(entry, where)
        if "carrier" not in item:
            raise reader.fail(f"{where}.carrier", "is required")
        carrier = reader.name(item["carrier"], f"{where}.carrier")
        service = item.get("service_level")
        if service is not None and (not isinstance(service, str) or not service.strip() or len(service) > 64):
            raise reader.fail(f"{where}.service_level", f"must be text of at most 64 characters, got {service!r}")
        changes = reader.thresholds(item, where)
        if not changes:
            raise reader.fail(where, "changes nothing (give at least one threshold)")
        overrides.append(Override(carrier, service.strip() if service else None, changes))
    return AlertRules(defaults, tuple(overrides))


def load_rules(path: str | Path | None) -> AlertRules:
    """The rules in ``path`` (YAML, or JSON by its suffix); the defaults when ``path`` is empty."""
    if not path:
        return AlertRules()
    import orjson
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{file}: cannot be read ({exc.strerror or exc})") from exc
    try:
        data = orjson.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise RulesError(f"{file}: not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}") from exc
    return parse_rules(data, str(file))
