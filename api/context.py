"""Typed application keys and the resources the API holds (opened and closed in ``cleanup_ctx``)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiokafka import AIOKafkaProducer
from psycopg_pool import AsyncConnectionPool

from api.packer import RawPacker
from trackstream.admin import LagProbe
from trackstream.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
PRODUCER: web.AppKey[AIOKafkaProducer] = web.AppKey("producer", AIOKafkaProducer)
DB: web.AppKey[AsyncConnectionPool] = web.AppKey("db", AsyncConnectionPool)
PRODUCER_STARTED: web.AppKey[asyncio.Event] = web.AppKey("producer_started", asyncio.Event)
LAG_PROBE: web.AppKey[LagProbe] = web.AppKey("lag_probe", LagProbe)
PACKER: web.AppKey[RawPacker] = web.AppKey("packer", RawPacker)
