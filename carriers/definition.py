"""Carrier definition files: a new carrier's JSON payloads described as data, validated on load.

A definition (YAML or JSON, one carrier per file) names the carrier, says where the shipments,
the tracking number and the events sit in the payload, which field of an event holds the code,
the text, the time and the location, how to read the time, the code → status table and how its
webhook is authenticated. ``carriers.configured`` turns payloads into events with it; the README
("Adding a carrier without code") documents the format with a worked example.

Everything is checked here, once, when the file is loaded: an unknown key, a wrong type, a status
outside the taxonomy, a zone that does not exist, a ``strptime`` pattern that cannot read what it
writes, a name that clashes with a built-in adapter. ``DefinitionError`` names the file and the
field (``deploy/carriers/x.yaml: codes.DLV.status: unknown status 'delivred'``). The parse path
then never has to doubt the definition.

Field paths are dot-separated keys with optional list indexes: ``data.parcels``,
``tracking_numbers[0].number``, ``[0].events``. A key that itself contains ``.``, ``[`` or ``]``
cannot be addressed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from carriers.base import CodeMapping
from schemas.taxonomy import ALL_STATUSES, ALL_SUBSTATUSES

CARRIER_NAME = re.compile(r"[a-z0-9_-]{1,32}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # an HTTP token (RFC 9110)
_PATH = re.compile(r"(?:[^.\[\]]+|\[\d{1,6}\])(?:\.[^.\[\]]+|\[\d{1,6}\])*")
_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
SUFFIXES = (".yaml", ".yml", ".json")
MAX_PATH = 200
MAX_FILE_BYTES = 1_048_576

#: Timestamp formats with a name; anything else containing ``%`` is a ``strptime`` pattern.
ISO8601, EPOCH_SECONDS, EPOCH_MILLIS, STRPTIME = "iso8601", "epoch_seconds", "epoch_millis", "strptime"
NAMED_FORMATS = (ISO8601, EPOCH_SECONDS, EPOCH_MILLIS)
HMAC_SHA256, TOKEN = "hmac-sha256", "token"
HEX, BASE64 = "hex", "base64"

_TOP_KEYS = frozenset({
    "carrier", "title", "error", "shipments", "tracking_number", "events", "fields", "timestamp", "codes",
    "webhook",
})
_FIELD_KEYS = frozenset({"code", "description", "timestamp", "event_id", "tracking_number", "location",
                         "attributes"})
_LOCATION_KEYS = frozenset({"city", "postcode", "country", "region", "code", "lat", "lon"})
_TIMESTAMP_KEYS = frozenset({"format", "zone", "location_zone"})
_WEBHOOK_KEYS = frozenset({"auth", "header", "secret_env", "encoding", "prefix"})
_ROW_KEYS = frozenset({"status", "substatus"})


class DefinitionError(ValueError):
    """A carrier definition cannot be used; the message names the file and the field."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        super().__init__(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")
        self.source = source
        self.where = where
        self.problem = problem


_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A compiled path into a JSON value; ``get`` returns ``MISSING`` where the path ends nowhere."""

    text: str
    steps: tuple[str | int, ...]

    MISSING = _MISSING

    def get(self, node: Any) -> Any:
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return _MISSING
                node = node[step]
            else:
                if not isinstance(node, dict) or step not in node:
                    return _MISSING
                node = node[step]
        return node


@dataclass(frozen=True, slots=True)
class LocationFields:
    """Paths to an event's place. ``region`` (state / province), ``code`` (an IATA-style location
    code), ``lat`` / ``lon`` (decimal degrees) help find the zone of a local time (``carriers.zones``)."""

    city: FieldPath | None = None
    postcode: FieldPath | None = None
    country: FieldPath | None = None
    region: FieldPath | None = None
    code: FieldPath | None = None
    lat: FieldPath | None = None
    lon: FieldPath | None = None


@dataclass(frozen=True, slots=True)
class EventFields:
    """Paths from one event object (``code`` and ``timestamp`` are required)."""

    code: FieldPath
    timestamp: FieldPath
    description: FieldPath | None = None
    event_id: FieldPath | None = None
    tracking_number: FieldPath | None = None
    location: LocationFields = field(default_factory=LocationFields)
    attributes: Mapping[str, FieldPath] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimestampRule:
    """How to read an event's time. ``format`` is one of ``NAMED_FORMATS`` or ``STRPTIME`` (then
    ``pattern`` holds the pattern). ``zone`` (the carrier's home zone) resolves text without an
    offset; with ``location_zone`` the zone of the event's country is tried first."""

    format: str
    pattern: str | None = None
    zone: str | None = None
    location_zone: bool = True


@dataclass(frozen=True, slots=True)
class WebhookAuth:
    """``hmac-sha256``: the ``header`` holds the HMAC-SHA256 of the raw body keyed with the secret
    (``encoding`` hex or base64, after an optional ``prefix`` such as ``sha256=``). ``token``: the
    ``header`` holds the secret itself (after the optional ``prefix``, e.g. ``Bearer ``). The
    secret is read from the environment variable ``secret_env``."""

    auth: str
    header: str
    secret_env: str
    encoding: str = HEX
    prefix: str = ""

    @property
    def kind(self) -> str:
        """``signature`` or ``token``: the word the API's 401 error codes use."""
        return "signature" if self.auth == HMAC_SHA256 else "token"


@dataclass(frozen=True, slots=True)
class CarrierDefinition:
    carrier: str
    source: str  # the file it was loaded from (for messages)
    fields: EventFields
    timestamp: TimestampRule
    codes: Mapping[str, CodeMapping]
    title: str = ""
    error: FieldPath | None = None
    shipments: FieldPath | None = None
    tracking_number: FieldPath | None = None
    events: FieldPath | None = None
    webhook: WebhookAuth | None = None


# --- reading files ------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in out
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark) from exc
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def read_document(path: Path) -> Any:
    """The parsed content of a definition file (``DefinitionError`` when it cannot be read)."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DefinitionError(source, "", f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise DefinitionError(source, "", f"larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError(source, "", "not UTF-8 text") from exc
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, object_pairs_hook=_json_pairs)
        except ValueError as exc:
            raise DefinitionError(source, "", f"not valid JSON: {exc}") from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise DefinitionError(source, "", f"not valid YAML: {exc}") from exc


def load_definition(path: Path, builtin: frozenset[str] | None = None) -> CarrierDefinition:
    """Read and validate one definition file."""
    return validate(read_document(path), str(path), builtin)


def load_folder(folder: Path, builtin: frozenset[str] | None = None) -> dict[str, CarrierDefinition]:
    """Every ``*.yaml`` / ``*.yml`` / ``*.json`` file of ``folder`` (not its subfolders), by carrier
    name. Other files are ignored; two files defining the same carrier are an error."""
    if not folder.is_dir():
        raise DefinitionError(str(folder), "", "carrier definition folder does not exist (or is not a folder)")
    found: dict[str, CarrierDefinition] = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()):
        definition = load_definition(path, builtin)
        if definition.carrier in found:
            raise DefinitionError(str(path), "carrier",
                                  f"{definition.carrier!r} is already defined in {found[definition.carrier].source}")
        found[definition.carrier] = definition
    return found


# --- validation ---------------------------------------------------------------------------------


class _Checker:
    """Validation helpers that know the file they report on."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> DefinitionError:
        return DefinitionError(self.source, where, problem)

    def mapping(self, value: Any, where: str, allowed: frozenset[str]) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where or "(top level)", f"must be a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(where or "(top level)", f"keys must be text, got {key!r}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            prefix = f"{where}." if where else ""
            raise self.fail(f"{prefix}{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def text(self, value: Any, where: str, *, limit: int = 200) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be non-empty text, got {_kind(value)}")
        if len(value) > limit:
            raise self.fail(where, f"longer than {limit} characters")
        return value

    def path(self, value: Any, where: str) -> FieldPath:
        raw = self.text(value, where, limit=MAX_PATH).strip()
        if not _PATH.fullmatch(raw):
            raise self.fail(where, f"not a field path: {raw!r} (keys separated by '.', list items as [n])")
        steps: list[str | int] = []
        for index, key in _STEP.findall(raw):
            steps.append(int(index) if index else key)
        return FieldPath(raw, tuple(steps))

    def optional_path(self, data: Mapping[str, Any], key: str, where: str) -> FieldPath | None:
        return self.path(data[key], where) if data.get(key) is not None else None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "empty text" if not value.strip() else f"text ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _fields(c: _Checker, value: Any) -> EventFields:
    data = c.mapping(value, "fields", _FIELD_KEYS)
    for required in ("code", "timestamp"):
        if data.get(required) is None:
            raise c.fail(f"fields.{required}", "required (the path to the event's "
                         f"{'carrier code' if required == 'code' else 'time'})")
    location = LocationFields()
    if data.get("location") is not None:
        loc = c.mapping(data["location"], "fields.location", _LOCATION_KEYS)
        if not loc:
            raise c.fail("fields.location", "give at least one of city, postcode, country, region, code, lat, lon")
        location = LocationFields(**{k: c.optional_path(loc, k, f"fields.location.{k}") for k in _LOCATION_KEYS})
    attributes: dict[str, FieldPath] = {}
    if data.get("attributes") is not None:
        attrs = data["attributes"]
        if not isinstance(attrs, dict) or not attrs:
            raise c.fail("fields.attributes", f"must be a mapping of attribute name to path, got {_kind(attrs)}")
        for name, path in attrs.items():
            if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
                raise c.fail(f"fields.attributes.{name}", "attribute names are [a-z][a-z0-9_]{0,63}")
            attributes[name] = c.path(path, f"fields.attributes.{name}")
    return EventFields(
        code=c.path(data["code"], "fields.code"),
        timestamp=c.path(data["timestamp"], "fields.timestamp"),
        description=c.optional_path(data, "description", "fields.description"),
        event_id=c.optional_path(data, "event_id", "fields.event_id"),
        tracking_number=c.optional_path(data, "tracking_number", "fields.tracking_number"),
        location=location,
        attributes=attributes,
    )


_SAMPLE_INSTANT = datetime(2024, 10, 27, 2, 30, 45, 123000, tzinfo=timezone(timedelta(hours=2)))


def _timestamp(c: _Checker, value: Any) -> TimestampRule:
    data = c.mapping(value, "timestamp", _TIMESTAMP_KEYS)
    fmt = c.text(data.get("format"), "timestamp.format", limit=100)
    pattern: str | None = None
    if fmt not in NAMED_FORMATS:
        if "%" not in fmt:
            raise c.fail("timestamp.format", f"{fmt!r} is none of {', '.join(NAMED_FORMATS)} and no strptime "
                         "pattern (no % directive)")
        try:
            datetime.strptime(_SAMPLE_INSTANT.strftime(fmt), fmt)
        except ValueError as exc:
            raise c.fail("timestamp.format", f"strptime pattern {fmt!r} cannot read what it writes: {exc}") from exc
        pattern, fmt = fmt, STRPTIME
    zone_name: str | None = None
    if data.get("zone") is not None:
        zone_name = c.text(data["zone"], "timestamp.zone", limit=64).strip()
        try:
            ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise c.fail("timestamp.zone", f"unknown IANA time zone {zone_name!r}") from exc
    elif fmt == ISO8601 or (fmt == STRPTIME and "%z" not in (pattern or "")):
        raise c.fail("timestamp.zone", "required for this format: the IANA zone (e.g. Europe/Amsterdam) of "
                     "times without an offset")
    location_zone = data.get("location_zone", True)
    if not isinstance(location_zone, bool):
        raise c.fail("timestamp.location_zone", f"must be true or false, got {_kind(location_zone)}")
    return TimestampRule(format=fmt, pattern=pattern, zone=zone_name, location_zone=location_zone)


def _codes(c: _Checker, value: Any) -> dict[str, CodeMapping]:
    if not isinstance(value, dict):
        raise c.fail("codes", f"must be a mapping of carrier code to status, got {_kind(value)}")
    statuses = ", ".join(sorted(ALL_STATUSES))
    table: dict[str, CodeMapping] = {}
    for code, row in value.items():
        where = f"codes.{code}"
        if not isinstance(code, str):
            raise c.fail(where, f"codes must be text; quote it in YAML ('{code}') so it is not read as {_kind(code)}")
        if not code.strip() or len(code) > 200:
            raise c.fail(where, "a code is 1 to 200 characters of text")
        status: Any
        substatus: Any
        if isinstance(row, str):
            status, substatus, status_where = row, None, where
        else:
            data = c.mapping(row, where, _ROW_KEYS)
            status, substatus, status_where = data.get("status"), data.get("substatus"), f"{where}.status"
        if not isinstance(status, str) or status not in ALL_STATUSES:
            raise c.fail(status_where, f"unknown status {status!r} (one of {statuses})")
        if substatus is not None and (not isinstance(substatus, str) or substatus not in ALL_SUBSTATUSES):
            raise c.fail(f"{where}.substatus", f"unknown substatus {substatus!r} (see schemas/taxonomy.py)")
        if code.strip() in table:
            raise c.fail(where, "the same code twice (after trimming spaces)")
        table[code.strip()] = CodeMapping(status, substatus)
    return table


def _webhook(c: _Checker, value: Any) -> WebhookAuth:
    data = c.mapping(value, "webhook", _WEBHOOK_KEYS)
    auth = data.get("auth")
    if auth not in (HMAC_SHA256, TOKEN):
        raise c.fail("webhook.auth", f"must be {HMAC_SHA256} or {TOKEN}, got {_kind(auth)}")
    header = c.text(data.get("header"), "webhook.header", limit=64).strip()
    if not HEADER_NAME.fullmatch(header):
        raise c.fail("webhook.header", f"not an HTTP header name: {header!r}")
    secret_env = c.text(data.get("secret_env"), "webhook.secret_env", limit=128).strip()
    if not ENV_NAME.fullmatch(secret_env):
        raise c.fail("webhook.secret_env", f"not an environment variable name: {secret_env!r}")
    encoding = data.get("encoding")
    if auth == TOKEN and encoding is not None:
        raise c.fail("webhook.encoding", "only for hmac-sha256 (a token is compared as it is)")
    if encoding is None:
        encoding = HEX
    if encoding not in (HEX, BASE64):
        raise c.fail("webhook.encoding", f"must be {HEX} or {BASE64}, got {_kind(encoding)}")
    prefix = data.get("prefix", "")
    if not isinstance(prefix, str) or len(prefix) > 32:
        raise c.fail("webhook.prefix", "must be text of at most 32 characters")
    return WebhookAuth(auth=auth, header=header, secret_env=secret_env, encoding=encoding, prefix=prefix)


def validate(document: Any, source: str, builtin: frozenset[str] | None = None) -> CarrierDefinition:
    """A parsed definition document → ``CarrierDefinition``; ``DefinitionError`` naming the field.

    ``builtin``: carrier names that have an adapter module (default ``carriers.ADAPTERS``).
    """
    if builtin is None:
        from carriers import ADAPTERS

        builtin = frozenset(ADAPTERS)
    c = _Checker(source)
    data = c.mapping(document, "", _TOP_KEYS)
    carrier = data.get("carrier")
    if not isinstance(carrier, str) or not CARRIER_NAME.fullmatch(carrier):
        raise c.fail("carrier", f"required, must match [a-z0-9_-]{{1,32}}, got {_kind(carrier)}")
    if carrier in builtin:
        raise c.fail("carrier", f"{carrier!r} is a built-in adapter (carriers/{carrier}.py); choose another name")
    for required in ("fields", "timestamp", "codes"):
        if required not in data:
            raise c.fail(required, "required")
    fields = _fields(c, data["fields"])
    shipment_number = c.optional_path(data, "tracking_number", "tracking_number")
    if shipment_number is None and fields.tracking_number is None:
        raise c.fail("tracking_number", "required: the path to the tracking number in a shipment "
                     "(tracking_number) or in an event (fields.tracking_number)")
    title = data.get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise c.fail("title", "must be text of at most 200 characters")
    return CarrierDefinition(
        carrier=carrier,
        source=source,
        title=title,
        error=c.optional_path(data, "error", "error"),
        shipments=c.optional_path(data, "shipments", "shipments"),
        tracking_number=shipment_number,
        events=c.optional_path(data, "events", "events"),
        fields=fields,
        timestamp=_timestamp(c, data["timestamp"]),
        codes=_codes(c, data["codes"]),
        webhook=_webhook(c, data["webhook"]) if data.get("webhook") is not None else None,
    )
