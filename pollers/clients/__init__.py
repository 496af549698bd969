"""Carrier API clients, one module per carrier; ``CLIENTS`` maps a carrier name to its class."""

from __future__ import annotations

from pollers.clients.base import CarrierClient
from pollers.clients.dhl_express import DHLExpressClient
from pollers.clients.dhl_parcel_nl import DHLParcelNLClient
from pollers.clients.fedex import FedExClient
from pollers.clients.gls_nl import GLSNLClient
from pollers.clients.postnl import PostNLClient
from pollers.clients.ups import UPSClient

CLIENTS: dict[str, type[CarrierClient]] = {
    client.carrier: client for client in (
        PostNLClient,
        UPSClient,
        DHLParcelNLClient,
        DHLExpressClient,
        GLSNLClient,
        FedExClient,
    )
}
