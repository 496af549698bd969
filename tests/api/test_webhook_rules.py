"""Pure parts of the webhook ingress: source allow-lists, the query check, the WEBHOOKS table."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

import carriers
from api import ingress
from api.errors import ApiError
from api.sources import client_address, parse_address, source_allowed
from carriers.base import SignatureError
from trackstream.settings import DOCUMENTED, Settings, SettingsError
from trackstream.topics import RAW_CARRIERS

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
FEDEX = (ipaddress.ip_network("20.65.16.22/31"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20.65.16.23", "20.65.16.23"),
        (" 20.65.16.23 ", "20.65.16.23"),
        ("::ffff:20.65.16.22", "20.65.16.22"),  # IPv4-mapped (dual-stack socket)
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("", None),
        (None, None),
        ("unknown", None),
        ("20.65.16.22:443", None),
    ],
)
def test_parse_address(text: str | None, expected: str | None) -> None:
    address = parse_address(text)
    assert (str(address) if address else None) == expected


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        # no trusted proxies: the header is ignored, whatever it says
        ("198.51.100.7", "20.65.16.22", (), "198.51.100.7"),
        ("127.0.0.1", "20.65.16.22", (), "127.0.0.1"),
        # the peer is a trusted proxy: the right-most hop that is not a trusted proxy
        ("127.0.0.1", "20.65.16.22", LOOPBACK, "20.65.16.22"),
        ("127.0.0.1", "10.9.9.9, 20.65.16.22", LOOPBACK, "20.65.16.22"),  # a forged left part is skipped
        ("127.0.0.1", "20.65.16.22, 127.0.0.1", LOOPBACK, "20.65.16.22"),  # two proxies in a row
        ("127.0.0.1", "127.0.0.1, ::1", LOOPBACK, "127.0.0.1"),  # only proxies: the origin
        ("127.0.0.1", "", LOOPBACK, "127.0.0.1"),
        ("127.0.0.1", None, LOOPBACK, "127.0.0.1"),
        ("127.0.0.1", "20.65.16.22, garbage", LOOPBACK, None),  # cannot tell who sent it
        # the peer is not trusted: its header is not believed
        ("198.51.100.7", "20.65.16.22", LOOPBACK, "198.51.100.7"),
        (None, "20.65.16.22", LOOPBACK, None),
    ],
)
def test_client_address(remote: str | None, forwarded: str | None, trusted: tuple[ipaddress.IPv4Network, ...],
                        expected: str | None) -> None:
    address = client_address(remote, forwarded, trusted)
    assert (str(address) if address else None) == expected


@pytest.mark.parametrize(
    ("remote", "forwarded", "allow", "trusted", "ok"),
    [
        ("198.51.100.7", None, (), (), True),  # no allow-list: any source
        ("20.65.16.22", None, FEDEX, (), True),
        ("20.65.16.23", None, FEDEX, (), True),  # /31: two addresses
        ("20.65.16.24", None, FEDEX, (), False),
        ("::ffff:20.65.16.23", None, FEDEX, (), True),
        ("198.51.100.7", "20.65.16.22", FEDEX, (), False),  # a forged header does not help
        ("127.0.0.1", "20.65.16.22", FEDEX, LOOPBACK, True),  # through a trusted proxy
        ("127.0.0.1", "198.51.100.7", FEDEX, LOOPBACK, False),
        ("127.0.0.1", None, FEDEX, LOOPBACK, False),  # the proxy itself is not FedEx
        (None, None, FEDEX, (), False),
    ],
)
def test_source_allowed(remote: str | None, forwarded: str | None, allow: tuple[ipaddress.IPv4Network, ...],
                        trusted: tuple[ipaddress.IPv4Network, ...], ok: bool) -> None:
    assert source_allowed(remote, forwarded, allow, trusted) is ok


def test_settings_read_the_allow_lists_and_secrets() -> None:
    settings = Settings.from_env({
        "TRACKSTREAM_DPD_PUSH_ALLOW": "10.0.0.0/8, 192.0.2.1 2001:db8::/32",
        "TRACKSTREAM_FEDEX_WEBHOOK_ALLOW": "20.65.16.22/31",
        "TRACKSTREAM_TRUSTED_PROXIES": "127.0.0.1",
        "TRACKSTREAM_DPD_PUSH_TOKEN": "t1", "TRACKSTREAM_FEDEX_WEBHOOK_TOKEN": "t2",
        "TRACKSTREAM_DHL_PARCEL_NL_WEBHOOK_TOKEN": "t3",
    })
    assert [str(n) for n in settings.webhook_allow["dpd_nl"]] == ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"]
    assert [str(n) for n in settings.webhook_allow["fedex"]] == ["20.65.16.22/31"]
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32"]
    assert (settings.secrets["dpd_nl"], settings.secrets["fedex"], settings.secrets["dhl_parcel_nl"]) == (
        "t1", "t2", "t3")
    defaults = Settings.from_env({})
    assert defaults.webhook_allow == {"dpd_nl": (), "fedex": ()} and defaults.trusted_proxies == ()


@pytest.mark.parametrize("value", ["10.0.0.0/33", "dpd.example", "10.0.0.0/8;10.1.0.0/16"])
def test_bad_allow_list_is_a_settings_error(value: str) -> None:
    with pytest.raises(SettingsError, match="TRACKSTREAM_FEDEX_WEBHOOK_ALLOW"):
        Settings.from_env({"TRACKSTREAM_FEDEX_WEBHOOK_ALLOW": value})


@pytest.mark.parametrize(
    "query",
    [
        b"statusdate=05012022100200&receiver=&ref=&pnr=01906000683796&status=start_order&pushid=92056930",
        b"pnr=1&scaninfo=Zugestellt%20an%20Nachbar&ref=A+B",
        b"pushid=1",
    ],
)
def test_well_formed_push_queries(query: bytes) -> None:
    ingress.check_query(query)


@pytest.mark.parametrize("query", [b"", b"   ", b"pnr", b"pnr=1&status", b"pnr=\xff\xfe", b"a=1&&b"])
def test_malformed_push_queries(query: bytes) -> None:
    with pytest.raises(ApiError) as info:
        ingress.check_query(query)
    assert (info.value.status, info.value.error) == (400, "malformed_query")


def test_webhook_table_is_consistent() -> None:
    for carrier, hook in ingress.WEBHOOKS.items():
        assert carrier in carriers.ADAPTERS, carrier  # something parses what is stored
        assert carrier in RAW_CARRIERS, carrier  # and there is a topic to store it on
        assert hook.method in ("GET", "POST")
        assert hook.kind in ("signature", "token")
        assert hook.secret_variable in DOCUMENTED
        assert hook.allow_variable is None or hook.allow_variable in DOCUMENTED
        assert 200 <= hook.ack.status < 300
    assert set(Settings.from_env({}).secrets) == set(ingress.WEBHOOKS)
    assert {c for c, h in ingress.WEBHOOKS.items() if h.allow_variable} == set(Settings.from_env({}).webhook_allow)


@pytest.mark.parametrize(
    ("carrier", "status", "content_type"),
    [
        ("sendcloud", 202, "application/json"), ("postnl", 202, "application/json"),
        ("myparcel", 202, "application/json"), ("ups", 200, "application/json"),
        ("fedex", 200, "application/json"), ("dhl_parcel_nl", 200, "application/json"),
        ("dpd_nl", 200, "text/xml"),
    ],
)
def test_each_carrier_gets_the_answer_it_expects(carrier: str, status: int, content_type: str) -> None:
    ack = ingress.WEBHOOKS[carrier].ack
    assert (ack.status, ack.content_type) == (status, content_type)


def test_dpd_ack_echoes_the_push_id() -> None:
    body = ingress.WEBHOOKS["dpd_nl"].ack.body(b"pnr=01906000683796&pushid=92056930&status=start_order")
    assert body == b"<push><pushid>92056930</pushid><status>OK</status></push>"
    assert ingress.WEBHOOKS["fedex"].ack.body(b"{}") == b'{"status":"accepted"}'


@pytest.mark.parametrize("verify", [ingress._verify_bearer, ingress._verify_path_token])
def test_static_tokens_with_non_utf8_bytes_are_refused_not_a_crash(
        verify: Callable[[ingress.Presented, str], None]) -> None:
    # aiohttp hands header bytes that are not UTF-8 over as surrogate escapes ("\udcff")
    push = ingress.Presented(b"{}", {"Authorization": "Bearer s3cret\udcff"}, path_token="s3cret\udcff")
    with pytest.raises(SignatureError):
        verify(push, "s3cret")
