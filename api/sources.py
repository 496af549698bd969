"""Where a request comes from, for the webhook source allow-lists (pure functions).

The address is the TCP peer (aiohttp's ``request.remote``). ``X-Forwarded-For`` is only believed
when that peer is one of ``TRACKSTREAM_TRUSTED_PROXIES``: then the client is the right-most entry
that is not itself a trusted proxy (entries to its left were written by the client and can be
forged). Without trusted proxies the header is ignored, so a client cannot talk its way past an
allow-list by sending one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from trackstream.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str | None) -> Address | None:
    """An IP address (IPv4-mapped IPv6 → IPv4, zone ids and ``[ ]`` dropped), None when unreadable."""
    if not text:
        return None
    value = text.strip().strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(remote: str | None, forwarded_for: str | None,
                   trusted_proxies: tuple[Network, ...]) -> Address | None:
    """The address a request comes from (see the module docstring); None when it cannot be told."""
    peer = parse_address(remote)
    if not forwarded_for or not in_networks(peer, trusted_proxies):
        return peer
    hops = [part.strip() for part in forwarded_for.split(",")]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return None  # a garbled hop: who sent it cannot be told
        if not in_networks(address, trusted_proxies):
            return address
    return parse_address(hops[0])  # every hop is a trusted proxy: the first one is the origin


def source_allowed(remote: str | None, forwarded_for: str | None, allow: tuple[Network, ...],
                   trusted_proxies: tuple[Network, ...]) -> bool:
    """True when no allow-list is set, or the request's client address is inside it."""
    if not allow:
        return True
    return in_networks(client_address(remote, forwarded_for, trusted_proxies), allow)
