"""Carrier API clients, one module per carrier; ``CLIENTS`` maps a carrier name to its class."""

from __future__ import annotations

from pollers.clients.base import CarrierClient
from pollers.clients.postnl import PostNLClient
from pollers.clients.ups import UPSClient

CLIENTS: dict[str, type[CarrierClient]] = {
    client.carrier: client for client in (PostNLClient, UPSClient)
}
