"""Carrier definition files: loading and strict validation (``carriers.definition``)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import carriers
from carriers.base import CodeMapping
from carriers.definition import (
    BASE64,
    EPOCH_MILLIS,
    HEX,
    ISO8601,
    STRPTIME,
    TOKEN,
    DefinitionError,
    FieldPath,
    load_definition,
    load_folder,
    validate,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "carriers" / "example-carrier.yaml"
FIXTURE = ROOT / "tests" / "fixtures" / "carriers" / "pigeonpost.yaml"


def base() -> dict[str, Any]:
    """A small valid definition; each case below breaks one thing."""
    return {
        "carrier": "swallow",
        "shipments": "data.parcels",
        "tracking_number": "barcode",
        "events": "events",
        "fields": {"code": "code", "timestamp": "at", "description": "text",
                   "location": {"city": "city", "country": "country"}},
        "timestamp": {"format": "iso8601", "zone": "Europe/Amsterdam"},
        "codes": {"A": "in_transit", "D": {"status": "delivered", "substatus": "delivered_recipient"}},
        "webhook": {"auth": "hmac-sha256", "header": "X-Swallow-Signature", "secret_env": "SWALLOW_SECRET"},
    }


def check(doc: Any, where: str, problem: str) -> None:
    with pytest.raises(DefinitionError) as info:
        validate(doc, "defs/swallow.yaml")
    error = info.value
    assert (error.source, error.where) == ("defs/swallow.yaml", where), str(error)
    assert problem in error.problem, str(error)
    assert str(error).startswith(f"defs/swallow.yaml: {where}: " if where else "defs/swallow.yaml: ")


def test_valid_definition() -> None:
    definition = validate(base(), "defs/swallow.yaml")
    assert definition.carrier == "swallow" and definition.source == "defs/swallow.yaml"
    assert definition.shipments == FieldPath("data.parcels", ("data", "parcels"))
    assert definition.fields.location.city is not None and definition.fields.location.postcode is None
    assert definition.codes == {"A": CodeMapping("in_transit"), "D": CodeMapping("delivered", "delivered_recipient")}
    assert definition.timestamp.format == ISO8601 and definition.timestamp.location_zone is True
    assert definition.webhook is not None
    assert (definition.webhook.encoding, definition.webhook.prefix, definition.webhook.kind) == (HEX, "", "signature")


def test_minimal_definition_defaults() -> None:
    doc = {"carrier": "x1", "fields": {"code": "c", "timestamp": "t", "tracking_number": "n"},
           "timestamp": {"format": "epoch_millis"}, "codes": {}}
    definition = validate(doc, "x.json")
    assert (definition.shipments, definition.events, definition.tracking_number, definition.webhook) == (
        None, None, None, None)
    assert definition.timestamp.format == EPOCH_MILLIS and definition.timestamp.zone is None


def test_field_paths_with_list_indexes() -> None:
    doc = base()
    doc["tracking_number"] = "numbers[0].value"
    doc["shipments"] = "[1].items"
    definition = validate(doc, "x.yaml")
    assert definition.tracking_number is not None
    assert definition.tracking_number.steps == ("numbers", 0, "value")
    assert definition.shipments is not None and definition.shipments.steps == (1, "items")
    assert definition.tracking_number.get({"numbers": [{"value": "N1"}]}) == "N1"
    assert definition.tracking_number.get({"numbers": []}) is FieldPath.MISSING
    assert definition.tracking_number.get({"numbers": {"0": 1}}) is FieldPath.MISSING


def test_strptime_pattern_and_token_webhook() -> None:
    doc = base()
    doc["timestamp"] = {"format": "%d/%m/%Y %H:%M:%S", "zone": "America/Chicago", "location_zone": False}
    doc["webhook"] = {"auth": "token", "header": "Authorization", "prefix": "Bearer ", "secret_env": "S"}
    definition = validate(doc, "x.yaml")
    assert (definition.timestamp.format, definition.timestamp.pattern) == (STRPTIME, "%d/%m/%Y %H:%M:%S")
    assert definition.timestamp.location_zone is False
    assert definition.webhook is not None
    assert (definition.webhook.auth, definition.webhook.prefix, definition.webhook.kind) == (TOKEN, "Bearer ", "token")


def test_strptime_pattern_with_offset_needs_no_zone() -> None:
    doc = base()
    doc["timestamp"] = {"format": "%Y-%m-%d %H:%M %z"}
    assert validate(doc, "x.yaml").timestamp.zone is None


def test_base64_encoding() -> None:
    doc = base()
    doc["webhook"]["encoding"] = "base64"
    definition = validate(doc, "x.yaml")
    assert definition.webhook is not None and definition.webhook.encoding == BASE64


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = doc
        for part in parents:
            node = node[part]
        node[last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = doc
        for part in parents:
            node = node[part]
        del node[last]

    return change


INVALID: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("unknown top-level key", _set("shipment", "x"), "shipment", "unknown key"),
    ("carrier missing", _delete("carrier"), "carrier", "required"),
    ("carrier not text", _set("carrier", 7), "carrier", "must match"),
    ("carrier upper case", _set("carrier", "Swallow"), "carrier", "must match"),
    ("carrier too long", _set("carrier", "s" * 33), "carrier", "must match"),
    ("carrier clashes with a built-in", _set("carrier", "postnl"), "carrier", "built-in adapter"),
    ("native is built in too", _set("carrier", "native"), "carrier", "built-in adapter"),
    ("fields missing", _delete("fields"), "fields", "required"),
    ("timestamp missing", _delete("timestamp"), "timestamp", "required"),
    ("codes missing", _delete("codes"), "codes", "required"),
    ("fields not a mapping", _set("fields", ["code"]), "fields", "must be a mapping"),
    ("unknown field", _set("fields/when", "x"), "fields.when", "unknown key"),
    ("code path missing", _delete("fields/code"), "fields.code", "required"),
    ("timestamp path missing", _delete("fields/timestamp"), "fields.timestamp", "required"),
    ("path not text", _set("fields/code", 5), "fields.code", "non-empty text"),
    ("path empty", _set("fields/description", "  "), "fields.description", "non-empty text"),
    ("path with empty step", _set("fields/code", "a..b"), "fields.code", "not a field path"),
    ("path with bad index", _set("fields/code", "a[x]"), "fields.code", "not a field path"),
    ("path too long", _set("events", "a" * 201), "events", "longer than 200"),
    ("shipments path invalid", _set("shipments", "data."), "shipments", "not a field path"),
    ("error path invalid", _set("error", "[0"), "error", "not a field path"),
    ("location not a mapping", _set("fields/location", "city"), "fields.location", "must be a mapping"),
    ("location empty", _set("fields/location", {}), "fields.location", "at least one"),
    ("location unknown key", _set("fields/location/street", "s"), "fields.location.street", "unknown key"),
    ("location path invalid", _set("fields/location/city", ".c"), "fields.location.city", "not a field path"),
    ("attributes not a mapping", _set("fields/attributes", ["a"]), "fields.attributes", "must be a mapping"),
    ("attribute name", _set("fields/attributes", {"Order": "o"}), "fields.attributes.Order", "attribute names"),
    ("attribute path", _set("fields/attributes", {"order": 3}), "fields.attributes.order", "non-empty text"),
    ("no tracking number anywhere", _delete("tracking_number"), "tracking_number", "required"),
    ("title not text", _set("title", ["x"]), "title", "text of at most 200"),
    ("timestamp not a mapping", _set("timestamp", "iso8601"), "timestamp", "must be a mapping"),
    ("timestamp unknown key", _set("timestamp/tz", "UTC"), "timestamp.tz", "unknown key"),
    ("format missing", _delete("timestamp/format"), "timestamp.format", "non-empty text"),
    ("format unknown", _set("timestamp/format", "rfc2822"), "timestamp.format", "no strptime pattern"),
    ("strptime bad directive", _set("timestamp/format", "%Y-%m-%d %Q"), "timestamp.format", "cannot read"),
    ("zone unknown", _set("timestamp/zone", "Europe/Atlantis"), "timestamp.zone", "unknown IANA time zone"),
    ("zone malformed", _set("timestamp/zone", "../etc/passwd"), "timestamp.zone", "unknown IANA time zone"),
    ("zone required for iso8601", _delete("timestamp/zone"), "timestamp.zone", "required for this format"),
    ("location_zone not a boolean", _set("timestamp/location_zone", "yes"), "timestamp.location_zone",
     "true or false"),
    ("codes not a mapping", _set("codes", ["A"]), "codes", "must be a mapping"),
    ("code read as a number by YAML", _set("codes", {1: "delivered"}), "codes.1", "quote it"),
    ("code read as a boolean by YAML", _set("codes", {True: "delivered"}), "codes.True", "quote it"),
    ("code empty", _set("codes", {" ": "delivered"}), "codes. ", "1 to 200"),
    ("same code twice after trimming", _set("codes", {"A": "delivered", "A ": "in_transit"}), "codes.A ",
     "same code twice"),
    ("status unknown", _set("codes/A", "delivred"), "codes.A", "unknown status 'delivred'"),
    ("pending is no event status", _set("codes/A", "pending"), "codes.A", "unknown status"),
    ("row status missing", _set("codes/D", {"substatus": "lost"}), "codes.D.status", "unknown status None"),
    ("row status not text", _set("codes/D", {"status": ["delivered"]}), "codes.D.status", "unknown status"),
    ("row unknown key", _set("codes/D", {"status": "delivered", "sub": "x"}), "codes.D.sub", "unknown key"),
    ("row not a mapping", _set("codes/D", ["delivered"]), "codes.D", "must be a mapping"),
    ("substatus unknown", _set("codes/D", {"status": "delivered", "substatus": "teleported"}),
     "codes.D.substatus", "unknown substatus"),
    ("webhook not a mapping", _set("webhook", "hmac"), "webhook", "must be a mapping"),
    ("webhook unknown key", _set("webhook/secret", "s3cr3t"), "webhook.secret", "unknown key"),
    ("auth unknown", _set("webhook/auth", "basic"), "webhook.auth", "hmac-sha256 or token"),
    ("header missing", _delete("webhook/header"), "webhook.header", "non-empty text"),
    ("header not a header name", _set("webhook/header", "X Sig"), "webhook.header", "not an HTTP header"),
    ("secret_env missing", _delete("webhook/secret_env"), "webhook.secret_env", "non-empty text"),
    ("secret_env not a variable name", _set("webhook/secret_env", "MY-SECRET"), "webhook.secret_env",
     "not an environment variable"),
    ("encoding unknown", _set("webhook/encoding", "base32"), "webhook.encoding", "hex or base64"),
    ("prefix not text", _set("webhook/prefix", 5), "webhook.prefix", "at most 32"),
]


@pytest.mark.parametrize(("change", "where", "problem"), [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_invalid_definition_names_file_and_field(change: Callable[[dict[str, Any]], None], where: str,
                                                 problem: str) -> None:
    doc = copy.deepcopy(base())
    change(doc)
    check(doc, where, problem)


def test_token_webhook_takes_no_encoding() -> None:
    doc = base()
    doc["webhook"] = {"auth": "token", "header": "X-Token", "secret_env": "S", "encoding": "hex"}
    check(doc, "webhook.encoding", "only for hmac-sha256")


def test_document_not_a_mapping() -> None:
    check(["carrier"], "(top level)", "must be a mapping")
    check(None, "(top level)", "must be a mapping")


def test_top_level_keys_must_be_text() -> None:
    doc: dict[Any, Any] = base()
    doc[3] = "x"
    check(doc, "(top level)", "keys must be text")


# --- files and folders --------------------------------------------------------------------------


def test_yaml_and_json_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(base()))
    other = base()
    other["carrier"] = "robin"
    (tmp_path / "b.yml").write_text(json.dumps(other))  # JSON is YAML too
    (tmp_path / "README.md").write_text("not a definition")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("carrier: [")  # subfolders are not read
    found = load_folder(tmp_path)
    assert sorted(found) == ["robin", "swallow"]
    assert found["swallow"].source == str(tmp_path / "a.json")


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("bad.yaml", "carrier: [unclosed", "not valid YAML"),
    ("bad.json", '{"carrier": ', "not valid JSON"),
    ("dup.yaml", "carrier: a\ncarrier: b\n", "duplicate key 'carrier'"),
    ("dup.json", '{"carrier": "a", "carrier": "b"}', "duplicate key 'carrier'"),
    ("dupcode.yaml", "codes:\n  A: delivered\n  A: in_transit\n", "duplicate key 'A'"),
    ("tag.yaml", "carrier: !!python/object:os.system x\n", "not valid YAML"),
])
def test_unreadable_files(tmp_path: Path, name: str, content: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    assert info.value.source == str(path) and problem in str(info.value)


def test_not_utf8_and_too_large(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("carrier: caf\xe9".encode("latin-1"))
    with pytest.raises(DefinitionError, match="not UTF-8"):
        load_definition(latin)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 1_048_577)
    with pytest.raises(DefinitionError, match="larger than"):
        load_definition(big)
    with pytest.raises(DefinitionError, match="cannot read"):
        load_definition(tmp_path / "missing.yaml")


def test_validation_errors_in_a_file_name_the_file(tmp_path: Path) -> None:
    doc = base()
    doc["codes"]["A"] = "arrived"
    path = tmp_path / "swallow.yaml"
    path.write_text(json.dumps(doc))
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    assert str(info.value).startswith(f"{path}: codes.A: unknown status 'arrived'")


def test_two_files_for_one_carrier(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(json.dumps(base()))
    (tmp_path / "b.yaml").write_text(json.dumps(base()))
    with pytest.raises(DefinitionError) as info:
        load_folder(tmp_path)
    assert info.value.source == str(tmp_path / "b.yaml") and info.value.where == "carrier"
    assert f"already defined in {tmp_path / 'a.yaml'}" in str(info.value)


def test_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="does not exist"):
        load_folder(tmp_path / "nowhere")
    (tmp_path / "file").write_text("")
    with pytest.raises(DefinitionError, match="not a folder"):
        load_folder(tmp_path / "file")


def test_shipped_example_and_test_fixture_are_valid() -> None:
    example = load_definition(EXAMPLE)
    assert example.carrier == "kestrel" and example.webhook is not None
    assert example.webhook.encoding == BASE64 and example.timestamp.format == STRPTIME
    assert example.carrier not in carriers.ADAPTERS
    fixture = load_definition(FIXTURE)
    assert fixture.carrier == "pigeonpost" and fixture.webhook is not None


def test_builtin_names_can_be_given() -> None:
    doc = base()
    with pytest.raises(DefinitionError, match="built-in"):
        validate(doc, "x.yaml", builtin=frozenset({"swallow"}))
