"""Pollers: async carrier API clients and the service that polls active shipments.

``pollers.service.PollerService`` runs one poll loop per configured carrier account, only while it
holds that account's PostgreSQL advisory lock, so exactly one process polls an account however
many workers run. Poll responses go, untouched, to the carrier's raw topic like webhook bodies do;
the ``normalize`` agent parses them with the same pure adapters.
"""
