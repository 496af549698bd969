"""``api/openapi.yaml`` describes exactly the API that ``api.server.init_app`` builds.

Pure test: building the app opens nothing (Kafka and PostgreSQL are opened in ``cleanup_ctx``).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import make_mocked_request

import api
from api import ingress, query
from api.access import Policy, policy_of
from api.server import init_app, openapi
from carriers import native
from schemas.events import Location, normalize_tracking_number
from schemas.shipments import ShipmentRegistration
from schemas.taxonomy import ALL_STATUSES, ALL_SUBSTATUSES, PENDING
from trackstream.settings import Settings

API_DIR = Path(api.__file__).resolve().parent
SPEC_PATH = API_DIR / "openapi.yaml"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
SHIPMENT_STATUSES = ALL_STATUSES | {PENDING}
Json = dict[str, Any]


@pytest.fixture(scope="module")
def spec() -> Json:
    data = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def resolve(spec: Json, node: Any) -> Any:
    """Follow local ``$ref``s until a node without one."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert isinstance(ref, str) and ref.startswith("#/"), f"only local refs expected: {ref!r}"
        assert ref not in seen, f"cyclic $ref {ref}"
        seen.add(ref)
        target: Any = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(target, dict) and part in target, f"unresolvable $ref {ref}"
            target = target[part]
        node = target
    return node


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, str(index)))


def operations(spec: Json) -> Iterator[tuple[str, str, Json]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation


def schema_properties(spec: Json, schema: Any) -> dict[str, Any]:
    """Properties of a schema, merged over ``allOf`` (refs resolved)."""
    schema = resolve(spec, schema)
    props: dict[str, Any] = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        props.update(schema_properties(spec, part))
    return props


def enum_values(spec: Json, schema: Any) -> set[str]:
    schema = resolve(spec, schema)
    values = set(schema.get("enum", []))
    for key in ("oneOf", "anyOf", "allOf"):
        for part in schema.get(key, []):
            values |= enum_values(spec, part)
    return values


def json_schema_of(spec: Json, response: Any) -> Any:
    content = resolve(spec, response).get("content", {})
    assert "application/json" in content, "error responses are JSON"
    return content["application/json"]["schema"]


# --- document shape -------------------------------------------------------------------------------


def test_is_an_openapi_3_1_document(spec: Json) -> None:
    assert str(spec["openapi"]).startswith("3.1.")
    assert isinstance(spec["info"]["title"], str) and spec["info"]["title"]
    assert isinstance(spec["info"]["version"], str) and spec["info"]["version"]
    assert isinstance(spec["paths"], dict) and spec["paths"]
    assert isinstance(spec["components"]["schemas"], dict)
    operation_ids: list[str] = []
    for method, path, operation in operations(spec):
        assert path.startswith("/"), path
        assert isinstance(operation.get("responses"), dict) and operation["responses"], (method, path)
        for code in operation["responses"]:
            assert re.fullmatch(r"[1-5]\d\d", str(code)), (method, path, code)
        operation_ids.append(operation["operationId"])
        declared = {p["name"] for p in (resolve(spec, p) for p in operation.get("parameters", []))
                    if p["in"] == "path"}
        assert declared == set(re.findall(r"\{([^}]+)\}", path)), (method, path)
        for param in operation.get("parameters", []):
            param = resolve(spec, param)
            assert param["in"] in ("path", "query", "header", "cookie")
            if param["in"] == "path":
                assert param.get("required") is True, (method, path, param["name"])
    assert len(operation_ids) == len(set(operation_ids)), "operationIds are unique"


def test_every_ref_resolves(spec: Json) -> None:
    refs = [node["$ref"] for _, node in walk(spec) if isinstance(node, dict) and "$ref" in node]
    assert refs
    for ref in refs:
        resolve(spec, {"$ref": ref})


async def test_served_document_is_the_file() -> None:
    request = make_mocked_request("GET", "/v1/openapi.yaml")
    response = await openapi(request)
    assert response.status == 200
    assert response.content_type == "application/yaml"
    assert response.text == SPEC_PATH.read_text(encoding="utf-8")


# --- routes -----------------------------------------------------------------------------------------


def registered_routes() -> set[tuple[str, str]]:
    app = init_app(Settings.from_env({}))
    routes: set[tuple[str, str]] = set()
    for route in app.router.routes():
        if route.method == "HEAD":  # aiohttp adds one for every GET
            continue
        assert route.resource is not None
        routes.add((route.method, route.resource.canonical))
    return routes


#: Documented paths that are instances of one route: the feeds of `native` and of each carrier with
#: an adapter take other bodies than an own carrier's, so each has its own path in the document.
FEED_ROUTE = "/v1/feeds/{carrier}"


def route_of(path: str) -> str:
    return FEED_ROUTE if path.startswith("/v1/feeds/") else path


def test_spec_documents_exactly_the_registered_routes(spec: Json) -> None:
    documented = {(method, route_of(path)) for method, path, _ in operations(spec)}
    registered = registered_routes()
    assert documented == registered, (
        f"undocumented: {sorted(registered - documented)}; not served: {sorted(documented - registered)}"
    )


def route_policies() -> dict[tuple[str, str], Policy]:
    app = init_app(Settings.from_env({}))
    found: dict[tuple[str, str], Policy] = {}
    for route in app.router.routes():
        policy = policy_of(route.handler)
        if route.method != "HEAD" and route.resource is not None and policy is not None:
            found[(route.method, route.resource.canonical)] = policy
    return found


def test_security_and_scopes_are_the_routes_policies(spec: Json) -> None:
    """A keyed route takes the bearer key (the document's default security), lists the scopes that
    admit it and documents 401/403/429; an open route (public, the carrier's own authentication,
    /metrics by default) says ``security: []``."""
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        **spec["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"bearerAuth": []}]
    policies = route_policies()
    for method, path, operation in operations(spec):
        policy = policies[(method, route_of(path))]
        where = f"{method} {path}"
        if policy.kind == "key":
            assert "security" not in operation, where
            assert operation["x-required-scopes"] == list(policy.scopes), where
            for status, name in (("401", "Unauthorized"), ("403", "Forbidden"), ("429", "RateLimited")):
                assert operation["responses"][status] == {"$ref": f"#/components/responses/{name}"}, where
        else:
            assert operation["security"] == [], where
            assert operation["x-required-scopes"] == [], where
    rate_limited = spec["components"]["responses"]["RateLimited"]
    assert "Retry-After" in rate_limited["headers"]
    assert "scope" in schema_properties(spec, json_schema_of(spec, spec["components"]["responses"]["Forbidden"]))


def test_feed_paths_are_native_and_every_carrier_with_an_adapter(spec: Json) -> None:
    from trackstream.feeds.formats import NATIVE, payload_carriers

    own = {path.removeprefix("/v1/feeds/") for path in spec["paths"] if path.startswith("/v1/feeds/")} - {"{carrier}"}
    assert own == {NATIVE, *payload_carriers(())}
    for name in own - {NATIVE}:
        operation = spec["paths"][f"/v1/feeds/{name}"]["post"]
        assert operation["requestBody"] == {"$ref": "#/components/requestBodies/CarrierFeed"}, name


def test_csv_feed_patterns_take_the_documented_example_and_the_taxonomy(spec: Json) -> None:
    bodies = spec["components"]["requestBodies"]
    own = bodies["OwnCarrierFeed"]["content"]["text/csv"]
    pattern = re.compile(own["schema"]["pattern"].replace("\\u0000", "\\x00"))
    assert pattern.fullmatch(own["example"].rstrip("\n"))
    assert pattern.fullmatch(own["example"])
    header = own["example"].splitlines()[0]
    for status in ALL_STATUSES:
        assert pattern.fullmatch(f"{header}\nA1,{status},,,,2026-11-21T10:00:00Z,,,,"), status
    for substatus in ALL_SUBSTATUSES:
        assert pattern.fullmatch(f"{header}\nA1,delivered,{substatus},,,2026-11-21T10:00:00Z,,,,"), substatus
    assert not pattern.fullmatch(f"{header}\nA1,lost,,,,2026-11-21T10:00:00Z,,,,")
    native = re.compile(bodies["NativeFeed"]["content"]["text/csv"]["schema"]["pattern"].replace("\\u0000", "\\x00"))
    assert native.fullmatch(f"carrier,{header}\nacme,A1,delivered,,,,2026-11-21T10:00:00Z,,,,")


#: What the API strips and removes as whitespace (str.strip, normalize_tracking_number): Python's.
PYTHON_WHITESPACE = frozenset(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())


def test_whitespace_in_patterns_is_pythons(spec: Json) -> None:
    """A pattern's ``\\s`` is not Python's whitespace (``\\x1c``-``\\x1f`` and ``\\x85`` are Python's,
    ``\\ufeff`` is not): the patterns spell the set out, and it is exactly the one the API strips."""
    patterns = [node["pattern"] for _, node in walk(spec) if isinstance(node, dict)
                and isinstance(node.get("pattern"), str)]
    assert not [p for p in patterns if "\\s" in p or "\\S" in p]
    number = re.compile(spec["components"]["schemas"]["NativeEvent"]["properties"]["tracking_number"]["pattern"])
    for char in PYTHON_WHITESPACE:
        assert not number.fullmatch(char * 3), hex(ord(char))
        assert number.fullmatch(f"{char}A{char}B{char}"), hex(ord(char))
    for char in ("\ufeff", "\x84", "\x00"):
        assert number.fullmatch(char) and normalize_tracking_number(char) == char.upper()


def test_every_error_code_the_handlers_raise_is_documented(spec: Json) -> None:
    pattern = re.compile(r"(?:ApiError|error_response)\(\s*(\d{3}),\s*\"([a-z_]+)\"")
    raised: set[tuple[str, str]] = set()
    for source in API_DIR.glob("*.py"):
        raised |= {(status, code) for status, code in pattern.findall(source.read_text(encoding="utf-8"))}
    assert ("503", "broker_unavailable") in raised and ("404", "shipment_not_found") in raised
    documented: set[tuple[str, str]] = set()
    for _, _, operation in operations(spec):
        for status, response in operation["responses"].items():
            content = resolve(spec, response).get("content", {})
            if "application/json" not in content:
                continue
            error = schema_properties(spec, content["application/json"]["schema"]).get("error")
            if error is not None:
                documented |= {(str(status), code) for code in enum_values(spec, error)}
    assert raised <= documented, f"undocumented error codes: {sorted(raised - documented)}"


def test_error_responses_use_the_error_schema(spec: Json) -> None:
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    assert error["properties"]["error"]["type"] == "string"
    assert error["properties"]["message"]["type"] == "string"
    item = resolve(spec, error["properties"]["items"]["items"])
    assert set(item["required"]) == {"index", "field", "error", "message"}
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            props = schema_properties(spec, json_schema_of(spec, response))
            assert {"error", "message"} <= set(props), (method, path, status)
            assert enum_values(spec, props["error"]), f"{method} {path} {status}: list its error codes"


def test_webhook_carriers_match_the_ingress(spec: Json) -> None:
    operation = spec["paths"]["/v1/webhooks/{carrier}"]["post"]
    params = {p["name"]: p for p in operation["parameters"]}
    by_post = {c for c, hook in ingress.WEBHOOKS.items() if hook.method == "POST"}
    assert enum_values(spec, params["carrier"]["schema"]) == by_post
    for header in ("Sendcloud-Signature", "fdx-signature", "X-API-Key"):
        assert params[header]["in"] == "header", header
    assert {"application/json", "application/xml"} <= set(operation["requestBody"]["content"])
    assert set(operation["responses"]) == {"200", "202", "400", "401", "403", "404", "405", "413", "500", "503"}
    get = spec["paths"]["/v1/webhooks/{carrier}/{token}"]["get"]
    get_params = {p["name"]: p for p in get["parameters"]}
    by_get = {c for c, hook in ingress.WEBHOOKS.items() if hook.method == "GET"}
    assert by_get == {"dpd_nl"}
    assert set(get_params["carrier"]["schema"]["enum"]) == by_get
    without_token = spec["paths"]["/v1/webhooks/{carrier}"]["get"]["parameters"]
    assert set(next(p for p in without_token if p["name"] == "carrier")["schema"]["enum"]) == by_get
    assert get_params["token"]["in"] == "path"
    assert set(get["responses"]) == {"200", "400", "401", "403", "404", "405", "413", "500", "503"}


def test_every_carrier_success_answer_is_documented(spec: Json) -> None:
    for carrier, hook in ingress.WEBHOOKS.items():
        path = "/v1/webhooks/{carrier}/{token}" if hook.method == "GET" else "/v1/webhooks/{carrier}"
        response = spec["paths"][path][hook.method.lower()]["responses"][str(hook.ack.status)]
        assert hook.ack.content_type in response["content"], carrier
        assert f"`{carrier}`" in response["description"] or hook.method == "GET", carrier


def test_ingress_status_codes(spec: Json) -> None:
    paths = spec["paths"]
    assert set(paths["/v1/events"]["post"]["responses"]) >= {"202", "400", "404", "413", "422", "500", "503"}
    assert set(paths["/v1/shipments"]["post"]["responses"]) >= {"202", "400", "409", "413", "422", "500", "503"}
    # a 202 creates nothing yet: no Location (a client or fuzzer would expect the shipment there at once)
    assert "headers" not in paths["/v1/shipments"]["post"]["responses"]["202"]
    invalid = json_schema_of(spec, paths["/v1/events"]["post"]["responses"]["422"])
    assert "items" in schema_properties(spec, invalid)


# --- schemas against the code ---------------------------------------------------------------------


def test_native_event_schema_has_every_field_of_the_native_format(spec: Json) -> None:
    schemas = spec["components"]["schemas"]
    event = schemas["NativeEvent"]
    assert set(event["properties"]) == set(native._FIELDS)
    assert set(event["required"]) == {"carrier", "tracking_number", "status", "occurred_at"}
    assert event["additionalProperties"] is False
    assert event["properties"]["occurred_at"]["format"] == "date-time"
    location = schemas["Location"]
    assert set(location["properties"]) == {f.name for f in dataclasses.fields(Location)}
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    lists = [resolve(spec, part) for part in body["oneOf"]]
    assert any(part.get("type") == "array" for part in lists)
    assert any("events" in part.get("properties", {}) for part in lists)


def test_feed_event_is_the_native_event_without_carrier(spec: Json) -> None:
    schemas = spec["components"]["schemas"]
    native = {k: v for k, v in schemas["NativeEvent"]["properties"].items() if k != "carrier"}
    assert schemas["FeedEvent"]["properties"] == native
    assert set(schemas["FeedEvent"]["required"]) == set(schemas["NativeEvent"]["required"]) - {"carrier"}
    assert schemas["FeedEvent"]["additionalProperties"] is False


def test_registration_schema_matches_the_registration(spec: Json) -> None:
    schema = spec["components"]["schemas"]["ShipmentRegistration"]
    fields = {f.name for f in dataclasses.fields(ShipmentRegistration)} - {"registered_at"}
    assert set(schema["properties"]) == fields
    assert set(schema["required"]) == {"tracking_number"}  # the carrier can be detected from the number


def test_shipment_schema_matches_the_query_output(spec: Json) -> None:
    columns = [c.strip() for c in query._SHIPMENT_FIELDS.split(",")]
    produced = set(query.shipment_json(dict.fromkeys(columns)))
    assert set(spec["components"]["schemas"]["Shipment"]["properties"]) == produced
    detail = schema_properties(spec, spec["components"]["schemas"]["ShipmentDetail"])
    assert set(detail) == produced | {"events", "alerts"}
    timeline = resolve(spec, detail["events"]["items"])
    assert set(timeline["properties"]) == {
        "event_id", "occurred_at", "status", "substatus", "code", "description", "location",
        "local_time", "tz_source", "mapped", "source", "received_at",
    }
    page = spec["components"]["schemas"]["ShipmentPage"]
    assert set(page["required"]) == {"items", "next_cursor"}


def test_search_parameters(spec: Json) -> None:
    operation = spec["paths"]["/v1/shipments"]["get"]
    params = {p["name"]: p for p in (resolve(spec, p) for p in operation["parameters"])}
    assert set(params) == {
        "carrier", "status", "customer", "destination_country", "destination_postcode", "order_number",
        "despatched_from", "despatched_to", "updated_since", "limit", "cursor",
    }
    assert all(p["in"] == "query" for p in params.values())
    limit = params["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, query.MAX_LIMIT, 50)
    status = params["status"]
    assert (status["style"], status["explode"], status["schema"]["type"]) == ("form", False, "array")
    assert set(operation["responses"]) == {"200", "400", "401", "403", "429", "500", "503"}


# --- taxonomy ---------------------------------------------------------------------------------------


def test_every_status_enum_is_the_taxonomy(spec: Json) -> None:
    status_enums = [
        (path, set(node["enum"])) for path, node in walk(spec)
        if isinstance(node, dict) and isinstance(node.get("enum"), list)
        and set(node["enum"]) & SHIPMENT_STATUSES
    ]
    assert len(status_enums) >= 2
    for path, values in status_enums:
        assert values in (set(ALL_STATUSES), set(SHIPMENT_STATUSES)), "/".join(path)
    schemas = spec["components"]["schemas"]
    assert set(schemas["Status"]["enum"]) == ALL_STATUSES
    assert set(schemas["ShipmentStatus"]["enum"]) == SHIPMENT_STATUSES
    assert set(schemas["Substatus"]["enum"]) == ALL_SUBSTATUSES


def test_status_fields_use_the_right_vocabulary(spec: Json) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("NativeEvent", "TimelineEvent"):
        assert enum_values(spec, schemas[name]["properties"]["status"]) == ALL_STATUSES, name
        assert enum_values(spec, schemas[name]["properties"]["substatus"]) == ALL_SUBSTATUSES, name
    assert enum_values(spec, schemas["Shipment"]["properties"]["status"]) == SHIPMENT_STATUSES
    assert enum_values(spec, schemas["Shipment"]["properties"]["substatus"]) == ALL_SUBSTATUSES
    search = {p["name"]: p for p in spec["paths"]["/v1/shipments"]["get"]["parameters"]}
    assert enum_values(spec, search["status"]["schema"]["items"]) == SHIPMENT_STATUSES
