"""Server-side request forgery guard: outbound targets must be public addresses.

Checked twice: when a URL is registered (its host resolved now), and when a delivery connects
(``GuardedResolver`` sits in the HTTP client's connector, so the addresses it may connect to are the
ones checked, whatever DNS answers by then; an IP literal in the URL, which the connector does not
resolve, is checked by ``check_literal``). ``allow_private`` (``TRACKSTREAM_OUTBOUND_ALLOW_PRIVATE``)
lifts the address rule for development and tests; the URL rules stay.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import Any
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

MAX_URL_LENGTH = 2048
#: The URLs a destination may have: http(s), a host name or IPv4 address, an optional port, a path
#: and query of RFC 3986 characters (percent-encoded otherwise); no credentials, no fragment, no
#: IPv6 literal. ``api/openapi.yaml`` documents exactly this pattern.
URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?("
    r":([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2"
    r"][0-9]|6553[0-5]))?([/?]([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$"
)
_URL = re.compile(URL_PATTERN)
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(OSError):
    """The target may not be called: bad URL, or an address that is not public. An ``OSError``
    so that, raised from the resolver, the HTTP client reports it as a connection failure."""


def address_allowed(address: IpAddress, allow_private: bool) -> bool:
    """Public unicast addresses only (not private, loopback, link-local, shared, reserved,
    multicast, unspecified; an IPv4-mapped IPv6 address counts as its IPv4 address)."""
    if allow_private:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # judged as the IPv4 address it maps (Pythons before the CVE-2024-4032 fix did not)
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse_target(url: str) -> SplitResult:
    """The URL's parts, or TargetRefused saying what is wrong with it."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"url must be an http(s) URL of at most {MAX_URL_LENGTH} characters")
    if not _URL.fullmatch(url):
        if "@" in url.partition("//")[2].partition("/")[0]:
            raise TargetRefused("url must not carry credentials (user:password@)")
        if "#" in url:
            raise TargetRefused("url must not have a #fragment")
        if not url.lower().startswith(("http://", "https://")):
            raise TargetRefused("url must start with https:// or http://")
        raise TargetRefused("url must be http(s)://host[:port][/path][?query] with a host name or IPv4 address and "
                            "RFC 3986 characters (percent-encode the others)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"url is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("url must start with https:// or http://")
    if not parts.hostname:
        raise TargetRefused("url has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("url must not carry credentials (user:password@)")
    if parts.fragment:
        raise TargetRefused("url must not have a #fragment")
    if port == 0:
        raise TargetRefused("url has port 0")
    return parts


def literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_literal(url: str, allow_private: bool) -> None:
    """At delivery: a host that is an IP literal (never resolved by the connector) must be allowed."""
    address = literal_address(parse_target(url).hostname or "")
    if address is not None and not address_allowed(address, allow_private):
        raise TargetRefused(f"{address} is not a public address")


async def check_registration(url: str, allow_private: bool) -> None:
    """At registration: a valid URL whose host, where it resolves now, resolves to public addresses
    only."""
    parts = parse_target(url)
    host = parts.hostname or ""
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                           type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            # not resolvable now (a name not yet in DNS, no DNS here): nothing to refuse yet; every
            # connection is checked again (GuardedResolver), so it can never reach a private address
            return
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    refused = sorted({str(a) for a in addresses if not address_allowed(a, allow_private)})
    if refused:
        raise TargetRefused(f"the host {host!r} resolves to addresses that are not public ({', '.join(refused)})")


class GuardedResolver(AbstractResolver):
    """The default resolver, keeping only the addresses a delivery may connect to."""

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_private = allow_private
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        kept = [r for r in found if address_allowed(ipaddress.ip_address(r["host"]), self.allow_private)]
        if not kept:
            raise TargetRefused(f"{host} resolves to no public address "
                                f"({', '.join(sorted({r['host'] for r in found}))})")
        return kept

    async def close(self) -> None:
        await self.inner.close()
