"""GLS (Track And Trace V1) client against the local API: OAuth2 client credentials (fetched once,
refreshed on 401 and before expiry), ten parcel ids per request, per-parcel errors inside a 200
(``E_404_01`` not found, ``E_500_01`` GLS failing), the Apigee 429 quota fault, the 500-a-day
quota in the default rate, and what the adapter makes of the answers."""

from __future__ import annotations

import orjson
import pytest

from pollers.accounts import Account, RateLimit
from pollers.clients.gls_nl import GLSNLClient, internal_error_only, parcels_of
from pollers.http import AuthError, RateLimited, RequestRejected, TransientError
from pollers.ratelimit import TokenBucket
from tests.fakes.carrier_api import FakeCarrierApi, Scripted
from tests.fakes.carriers.gls_nl import CLIENT, QUOTA_VIOLATION, gls_parcel
from tests.pollers.client_support import judge, make_client, target

PREADVICE = ("INTIAL.PREADVICE", "The parcel data was entered into the GLS IT system.", "NL",
             "2026-11-20T09:30:00+0100")
HANDED_OVER = ("INTIAL.NORMAL", "The parcel was handed over to GLS.", "NL", "2026-11-20T17:46:14+0100")
IN_DELIVERY = ("INDELI.NORMAL", "The parcel is expected to be delivered during the day.", "NL",
               "2026-11-21T07:05:00+0100")


def _client(api: FakeCarrierApi, secret: str = CLIENT[1]) -> GLSNLClient:
    return make_client(GLSNLClient, api.base_url, {"client_id": CLIENT[0], "client_secret": secret})


def _token_requests(api: FakeCarrierApi) -> int:
    with api.lock:
        return int(api.state.get("gls_nl.token_requests", 0))


def _transit(unitno: str) -> bytes:
    return gls_parcel(unitno, "INTRANSIT", HANDED_OVER[3], [HANDED_OVER, PREADVICE])


async def test_ten_ids_in_one_request_with_one_token(carrier_api: FakeCarrierApi) -> None:
    numbers = [f"3630191{i:04d}" for i in range(20)]
    for number in numbers:
        carrier_api.set("gls_nl", number, _transit(number))
    client = _client(carrier_api)
    try:
        first = await client.fetch([target(n) for n in numbers[:10]])
        second = await client.fetch([target(n) for n in numbers[10:]])
    finally:
        await client.http.close()
    log = carrier_api.requests("gls_nl")
    assert [r.path.rsplit("/", 1)[-1] for r in log] == [",".join(numbers[:10]), ",".join(numbers[10:])]
    assert _token_requests(carrier_api) == 1
    assert client.oauth.fetched == 1
    published, outcomes = judge("gls_nl", [*first, *second])
    assert published == [True, True]
    assert {o.result for o in outcomes.values()} == {"changed"}
    assert {o.status for o in outcomes.values()} == {"in_transit"}
    assert GLSNLClient.batch_size(Account("g", "gls_nl", {}, batch_size=50)) == 10


async def test_wrong_client_secret_is_an_auth_error(carrier_api: FakeCarrierApi) -> None:
    client = _client(carrier_api, secret="nope")
    try:
        with pytest.raises(AuthError):
            await client.fetch([target("36301910001")])
    finally:
        await client.http.close()
    assert _token_requests(carrier_api) == 1
    assert carrier_api.requests("gls_nl") == []


async def test_an_expired_token_is_refreshed_and_the_request_repeated(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("gls_nl", "36301910002", _transit("36301910002"))
    client = _client(carrier_api)
    try:
        await client.fetch([target("36301910002")])
        carrier_api.revoke_tokens()  # GLS answers 401 steps.jwt.TokenExpired
        [fetched] = await client.fetch([target("36301910002")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("gls_nl")] == [200, 401, 200]
    assert _token_requests(carrier_api) == 2
    assert judge("gls_nl", [fetched])[1]["36301910002"].result == "changed"


async def test_a_token_is_renewed_before_it_expires(carrier_api: FakeCarrierApi) -> None:
    carrier_api.token_ttl = 30  # inside the one-minute leeway: every call needs a new token
    carrier_api.set("gls_nl", "36301910003", _transit("36301910003"))
    client = _client(carrier_api)
    try:
        await client.fetch([target("36301910003")])
        await client.fetch([target("36301910003")])
    finally:
        await client.http.close()
    assert _token_requests(carrier_api) == 2
    assert [r.status for r in carrier_api.requests("gls_nl")] == [200, 200]


async def test_per_parcel_not_found_inside_a_200(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("gls_nl", "36301910004", _transit("36301910004"))
    client = _client(carrier_api)
    try:
        mixed = await client.fetch([target("36301910004"), target("99999999904")])
        unknown = await client.fetch([target("99999999905"), target("99999999906")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("gls_nl")] == [200, 200]
    published, outcomes = judge("gls_nl", mixed)
    assert published == [True]
    assert (outcomes["36301910004"].result, outcomes["99999999904"].result) == ("changed", "not_found")
    published, outcomes = judge("gls_nl", unknown)
    assert published == [False]
    assert {o.result for o in outcomes.values()} == {"not_found"}


async def test_e_500_01_for_every_parcel_is_transient_not_a_dead_letter(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("gls_nl", "36301910007", _transit("36301910007"))
    carrier_api.state["gls_nl.internal_error"] = {"36301910007", "36301910008"}
    client = _client(carrier_api)
    try:
        with pytest.raises(TransientError, match="E_500_01"):
            await client.fetch([target("36301910007"), target("36301910008")])
        carrier_api.state["gls_nl.internal_error"] = {"36301910008"}
        mixed = await client.fetch([target("36301910007"), target("36301910008")])
    finally:
        await client.http.close()
    _, outcomes = judge("gls_nl", mixed)
    assert outcomes["36301910007"].result == "changed"
    # GLS failed for that one parcel: an error (retried soon, backing off), not "not found"
    assert outcomes["36301910008"].result == "error"
    assert "E_500_01" in (outcomes["36301910008"].error or "")
    assert mixed[0].failed == {"36301910008": "GLS E_500_01: Internal Server Error"}
    assert not internal_error_only(parcels_of(b'{"parcels": []}')) and not internal_error_only(parcels_of(b"not json"))


async def test_quota_violation_429_is_retried_then_rate_limited(carrier_api: FakeCarrierApi) -> None:
    fault = orjson.dumps(QUOTA_VIOLATION)
    carrier_api.set("gls_nl", "36301910009", _transit("36301910009"))
    carrier_api.script("gls_nl", Scripted(429, {"Content-Type": "application/json"}, fault))
    client = _client(carrier_api)
    try:
        [fetched] = await client.fetch([target("36301910009")])
        carrier_api.script("gls_nl", *[Scripted(429, {"Content-Type": "application/json"}, fault)
                                       for _ in range(3)])
        with pytest.raises(RateLimited):
            await client.fetch([target("36301910009")])
    finally:
        await client.http.close()
    assert [r.status for r in carrier_api.requests("gls_nl")] == [429, 200, 429, 429, 429]
    assert judge("gls_nl", [fetched])[1]["36301910009"].result == "changed"


async def test_the_parcel_status_dates_an_unlisted_event(carrier_api: FakeCarrierApi) -> None:
    carrier_api.set("gls_nl", "36301910010", gls_parcel("36301910010", "INDELIVERY", IN_DELIVERY[3],
                                                        [IN_DELIVERY, HANDED_OVER, PREADVICE]))
    client = _client(carrier_api)
    try:
        responses = await client.fetch([target("36301910010")])
    finally:
        await client.http.close()
    assert judge("gls_nl", responses)[1]["36301910010"].status == "out_for_delivery"


def test_the_default_rate_is_gls_daily_quota() -> None:
    account = Account("g", "gls_nl", {"client_id": "i", "client_secret": "s"})
    rate = GLSNLClient.rate_limit(account)
    assert rate == RateLimit(500, 86_400)
    clock = [0.0]
    bucket = TokenBucket(rate.requests, rate.per_seconds, rate.burst, clock=lambda: clock[0])
    granted = 0
    for second in range(86_400):  # a day, one attempt per second
        clock[0] = float(second)
        if bucket.delay() == 0.0:
            bucket._tokens -= 1.0
            granted += 1
    assert granted <= 500
    assert granted >= 499


async def test_a_404_is_a_wrong_call_not_every_parcel_not_found(carrier_api: FakeCarrierApi) -> None:
    problem = orjson.dumps({"type": "about:blank", "title": "Not Found", "status": 404,
                            "detail": "No static resource tracking/simple/trackid/36301910011.",
                            "instance": "/tracking/simple/trackid/36301910011"})
    carrier_api.script("gls_nl", Scripted(404, {"Content-Type": "application/json"}, problem))
    client = _client(carrier_api)
    try:
        with pytest.raises(RequestRejected, match="wrong call"):
            await client.fetch([target("36301910011"), target("36301910012")])
    finally:
        await client.http.close()
