"""SSRF guard: private, loopback, link-local (and other non-public) targets are refused at
registration and again when a delivery connects, through a name (the resolver wrapper) and as an
IP literal, against a real receiver on loopback that must see nothing."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from sinks.outbound import guard
from sinks.outbound.dispatcher import Dispatcher, http_session
from sinks.outbound.store import Claimed
from tests.outbound.receiver import Receiver
from trackstream.settings import OutboundSettings


@pytest.mark.parametrize("address", [
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::",
])
def test_non_public_addresses_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not guard.address_allowed(ip, allow_private=False)
    assert guard.address_allowed(ip, allow_private=True)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert guard.address_allowed(ipaddress.ip_address(address), allow_private=False)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:9/hook", "not public"),
    ("http://localhost:9/hook", "not public"),  # a name: resolved now
    ("http://[::1]/hook", "host name or IPv4"),
    ("http://example.com/a b", "RFC 3986"),
    ("http://169.254.169.254/latest/meta-data", "not public"),
    ("ftp://example.com/x", "https://"),
    ("http://user:pw@example.com/", "credentials"),
    ("https:///nohost", "host name or IPv4"),
    ("http://example.com/#x", "fragment"),
])
async def test_registration_refuses(url: str, reason: str) -> None:
    with pytest.raises(guard.TargetRefused, match=reason):
        await guard.check_registration(url, allow_private=False)


async def test_a_host_that_does_not_resolve_yet_is_left_to_the_connection_check() -> None:
    await guard.check_registration("http://no-such-host.invalid/", allow_private=False)


async def test_registration_allows_loopback_only_when_private_targets_are_allowed() -> None:
    await guard.check_registration("http://localhost:9/hook", allow_private=True)
    await guard.check_registration("http://127.0.0.1:9/hook", allow_private=True)


def _claimed(url: str) -> Claimed:
    now = datetime.now(UTC)
    return Claimed(id=1, destination_id="sub_x", destination_kind="subscription", url=url,
                   secrets=("whsec_" + "A" * 43 + "=",), ordering_key="k", type="shipment.event", sequence=1,
                   payload={}, created_at=now, queued_at=now, attempts=0)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_delivery_refuses_to_connect_to_loopback(receiver: Receiver, host: str) -> None:
    """DNS can change after registration: the address connected to is checked at delivery."""
    settings = OutboundSettings(allow_private=False, timeout_seconds=5)
    dispatcher = Dispatcher("postgresql://unused@127.0.0.1:1/x", settings, "test")
    async with http_session(settings) as session:
        result = await dispatcher.attempt(session, _claimed(receiver.url_for("/hook", host)))
    assert result.status_code is None and result.error is not None and "target refused" in result.error
    assert receiver.requests == []
    allowed = OutboundSettings(allow_private=True, timeout_seconds=5)
    async with http_session(allowed) as session:
        result = await Dispatcher("postgresql://unused@127.0.0.1:1/x", allowed, "t").attempt(
            session, _claimed(receiver.url_for("/hook", host)))
    assert result.status_code == 200 and len(receiver.requests) == 1


def test_the_documented_url_pattern_is_the_one_enforced() -> None:
    from pathlib import Path

    import yaml

    document = yaml.safe_load((Path(guard.__file__).resolve().parents[2] / "api" / "openapi.yaml").read_text())
    body = document["paths"]["/v1/subscriptions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["url"]["pattern"] == guard.URL_PATTERN
