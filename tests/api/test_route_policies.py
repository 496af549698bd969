"""Every route of the application declares an access policy, and the declared policies are the
documented ones: a route added without a policy fails here (and ``access_middleware`` refuses it).

Pure test: building the app opens nothing."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from api.access import Policy, policy_of, requires
from api.auth import access_middleware
from api.errors import ApiError
from api.server import init_app
from trackstream.settings import Settings

#: (method, path) -> the policy every route must have: the table the README's access section lists.
EXPECTED: dict[tuple[str, str], str] = {
    ("POST", "/v1/webhooks/{carrier}"): "carrier",
    ("GET", "/v1/webhooks/{carrier}"): "carrier",
    ("GET", "/v1/webhooks/{carrier}/{token}"): "carrier",
    ("POST", "/v1/oauth/token"): "carrier",
    ("POST", "/v1/events"): "key with events:write",
    ("POST", "/v1/feeds/{carrier}"): "key with events:write",
    ("POST", "/v1/shipments"): "key with shipments:write",
    ("GET", "/v1/shipments"): "key with shipments:read",
    ("GET", "/v1/shipments/{carrier}/{tracking_number}"): "key with shipments:read",
    ("GET", "/v1/carriers/{carrier}/unmapped-codes"): "key with mappings:read or mappings:write",
    ("GET", "/v1/carriers/{carrier}/mappings"): "key with mappings:read or mappings:write",
    ("PUT", "/v1/carriers/{carrier}/mappings/{code}"): "key with mappings:write",
    ("DELETE", "/v1/carriers/{carrier}/mappings/{code}"): "key with mappings:write",
    ("GET", "/v1/pollers"): "key with admin",
    ("GET", "/v1/alerts"): "key with alerts:read",
    ("GET", "/v1/alerts/{alert_id}"): "key with alerts:read",
    ("POST", "/v1/alerts/ack"): "key with alerts:write",
    ("POST", "/v1/alerts/resolve"): "key with alerts:write",
    ("POST", "/v1/alerts/{alert_id}/ack"): "key with alerts:write",
    ("POST", "/v1/alerts/{alert_id}/resolve"): "key with alerts:write",
    ("GET", "/v1/keys"): "key with admin",
    ("POST", "/v1/keys"): "key with admin",
    ("GET", "/v1/keys/{key_id}"): "key with admin",
    ("DELETE", "/v1/keys/{key_id}"): "key with admin",
    ("GET", "/v1/audit"): "key with admin",
    ("POST", "/v1/subscriptions"): "key with subscriptions:write",
    ("GET", "/v1/subscriptions"): "key with subscriptions:write",
    ("GET", "/v1/subscriptions/{subscription_id}"): "key with subscriptions:write",
    ("PATCH", "/v1/subscriptions/{subscription_id}"): "key with subscriptions:write",
    ("DELETE", "/v1/subscriptions/{subscription_id}"): "key with subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/rotate-secret"): "key with subscriptions:write",
    ("GET", "/v1/subscriptions/{subscription_id}/deliveries"): "key with subscriptions:write",
    ("POST", "/v1/subscriptions/{subscription_id}/replay"): "key with subscriptions:write",
    ("GET", "/v1/track/{carrier}/{tracking_number}"): "key with track",
    ("GET", "/v1/track/{tracking_number}"): "key with track",
    ("GET", "/v1/openapi.yaml"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/metrics"): "metrics",
}


def routes() -> dict[tuple[str, str], Policy | None]:
    app = init_app(Settings.from_env({}))
    found: dict[tuple[str, str], Policy | None] = {}
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        found[(route.method, route.resource.canonical)] = policy_of(route.handler)
    return found


def test_every_route_declares_a_policy() -> None:
    missing = sorted(key for key, policy in routes().items() if policy is None)
    assert not missing, f"routes without an access policy: {missing}"


def test_the_policies_are_the_documented_ones() -> None:
    # a new route is listed here with its policy, so choosing one is a visible decision
    declared = {key: policy.describe() for key, policy in routes().items() if policy is not None}
    assert declared == EXPECTED


async def test_a_route_without_a_policy_is_refused() -> None:
    async def undeclared(request: web.Request) -> web.Response:
        return web.Response(text="open by accident")

    app = web.Application()
    app.router.add_get("/v1/new", undeclared)
    request = make_mocked_request("GET", "/v1/new", app=app)
    match = await app.router.resolve(request)
    request._match_info = match
    with pytest.raises(ApiError) as refused:
        await access_middleware(request, undeclared)
    assert (refused.value.status, refused.value.error) == (403, "route_without_policy")


def test_unknown_scopes_cannot_be_declared() -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        requires("shipments:delete")
    with pytest.raises(ValueError):
        requires()
