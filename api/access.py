"""Who may call what: every route declares a policy, every caller with a key is a ``Principal``.

A handler declares its policy with one of the decorators below; ``access_middleware`` enforces it
before the handler runs and refuses (fails closed) a route that declares none:

- ``@public``: anyone (``/healthz``, ``/readyz``, the OpenAPI file);
- ``@carrier_authenticated``: the carrier's own scheme, checked by the handler (webhooks);
- ``@requires("scope", ...)``: an API key (``Authorization: Bearer <key>``) holding one of the
  scopes (``admin`` holds all). No key or a wrong one: 401; a key without the scope: 403 naming it.

A handler then reads the caller with ``principal_of(request)`` and applies the customer binding
(``Principal.sees``) itself: another customer's shipment answers 404 exactly like one that does not
exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from api.errors import ApiError

#: The scopes a key can hold. ``admin`` holds every one of them.
SCOPES: dict[str, str] = {
    "shipments:read": "search shipments, read one shipment with its timeline, export",
    "shipments:write": "register shipments",
    "events:write": "post own-format events and feeds, for the carriers the key is bound to",
    "alerts:read": "read alerts",
    "alerts:write": "acknowledge, resolve and escalate alerts",
    "analytics:read": "read SLA and carrier-performance figures",
    "subscriptions:write": "create, change and delete webhook subscriptions",
    "track": "the third-party tracking view (no personal data unless granted)",
    "mappings:read": "read code mappings and unmapped codes",
    "mappings:write": "add, change and delete code mappings",
    "metrics:read": "read /metrics when TRACKSTREAM_METRICS_REQUIRE_KEY is set",
    "admin": "everything: keys, pollers, audit log, every scope above",
}
ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """The caller behind a verified API key."""

    key_id: str
    name: str
    scopes: frozenset[str]
    customers: frozenset[str] | None  # None: every customer
    carriers: frozenset[str]  # carriers it may post events and feeds for (admin: any)
    personal_data: bool  # the track view includes names, addresses, postcodes
    rate_limit: float  # requests per second; 0: unlimited

    @property
    def admin(self) -> bool:
        return ADMIN in self.scopes

    def has(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    def sees(self, customer: str | None) -> bool:
        """Whether a shipment of ``customer`` exists for this caller (a key bound to customers does
        not see shipments without a customer either)."""
        return self.customers is None or (customer is not None and customer in self.customers)

    def may_post_for(self, carrier: str) -> bool:
        """Whether events and feeds of ``carrier`` may come from this key."""
        return self.admin or carrier in self.carriers

    def customer_filter(self) -> list[str] | None:
        """For SQL: ``customer = ANY(%s)`` with this list, or no condition when None."""
        return None if self.customers is None else sorted(self.customers)


@dataclass(frozen=True)
class Policy:
    kind: str  # "public" | "carrier" | "key" | "metrics"
    scopes: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"key with {' or '.join(self.scopes)}" if self.kind == "key" else self.kind


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
POLICY_ATTRIBUTE = "__trackstream_policy__"
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)


def _declare(policy: Policy) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        setattr(handler, POLICY_ATTRIBUTE, policy)
        return handler

    return mark


def requires(*scopes: str) -> Callable[[H], H]:
    """The route needs a key holding any one of ``scopes`` (or ``admin``)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise ValueError(f"unknown scope(s) {unknown}" if unknown else "requires() needs a scope")
    return _declare(Policy("key", tuple(scopes)))


def public(handler: H) -> H:
    return _declare(Policy("public"))(handler)


def carrier_authenticated(handler: H) -> H:
    return _declare(Policy("carrier"))(handler)


def metrics_policy(handler: H) -> H:
    """Open, unless ``TRACKSTREAM_METRICS_REQUIRE_KEY`` asks for a key with ``metrics:read``."""
    return _declare(Policy("metrics", ("metrics:read",)))(handler)


def policy_of(handler: object) -> Policy | None:
    return getattr(handler, POLICY_ATTRIBUTE, None)


def principal_of(request: web.Request) -> Principal:
    """The verified caller of a ``@requires`` route (set by ``access_middleware``)."""
    return request[PRINCIPAL]


def carrier_wide(request: web.Request) -> Principal:
    """The caller of a route about a carrier as a whole (its mappings, its unknown codes): a key
    bound to customers is refused, since what it would read or change is every customer's."""
    principal = principal_of(request)
    if principal.customers is not None:
        raise ApiError(403, "customer_bound_key",
                       "a key bound to customers cannot read or change carrier-wide settings")
    return principal


def scope_names(scopes: Iterable[str]) -> list[str]:
    return sorted(set(scopes))
