"""Carrier accounts to poll, from the file named by ``TRACKSTREAM_POLL_ACCOUNTS`` (YAML or JSON).

    accounts:
      - name: postnl-main            # unique; one poller runs per account across all workers
        carrier: postnl
        credentials:                 # per carrier, see pollers/clients/<carrier>.py
          api_key: ${POSTNL_API_KEY} # ${VAR} is read from the environment (secrets stay out of files)
          customer_number: "11223344"
        # optional, with per-carrier defaults:
        base_url: https://api.postnl.nl
        rate_limit: {requests: 1000, per_seconds: 60}
        batch_size: 1
        timeout_seconds: 15
        customers: [acme]            # only shipments registered for these customers
        cadence: {near_delivery: 30m, in_transit: 2h, pre_transit: 4h, exception: 1h, not_found: 2h,
                  retire_after: 30d, delta: 10m}
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class AccountsError(ValueError):
    """The accounts file cannot be used; the message names the file and the field."""


def parse_duration(value: Any, where: str) -> timedelta:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=float(value))
    match = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise AccountsError(f"{where}: expected a duration like 90s, 30m, 2h, 1d or seconds, got {value!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class Cadence:
    """How often a shipment is polled, by its status (see ``pollers.schedule``)."""

    near_delivery: timedelta = timedelta(minutes=30)  # out for delivery, failed attempt
    in_transit: timedelta = timedelta(hours=2)
    pre_transit: timedelta = timedelta(hours=4)  # registered / label created / unknown
    exception: timedelta = timedelta(hours=1)
    pickup: timedelta = timedelta(hours=3)  # waiting at a pick-up point
    not_found: timedelta = timedelta(hours=2)  # the carrier does not know it (yet)
    error: timedelta = timedelta(minutes=5)  # first retry after a failure, doubling
    max_error: timedelta = timedelta(hours=6)
    retire_after: timedelta = timedelta(days=30)  # no carrier news this long: stop polling
    delta: timedelta = timedelta(minutes=10)  # delta feeds (PostNL updatedshipments)
    delta_scale: float = 4.0  # per-shipment polls this much rarer when a delta feed covers them
    idle: timedelta = timedelta(seconds=5)  # sleep when nothing is due
    throttle: timedelta = timedelta(seconds=30)  # account pause after a call still refused with 429, doubling
    max_throttle: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, data: Any, where: str) -> Cadence:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise AccountsError(f"{where}: must be a mapping")
        known = {f for f in cls.__dataclass_fields__ if f != "delta_scale"}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "delta_scale":
                if not isinstance(value, int | float) or value < 1:
                    raise AccountsError(f"{where}.delta_scale: must be a number >= 1")
                values[key] = float(value)
            elif key in known:
                values[key] = parse_duration(value, f"{where}.{key}")
            else:
                raise AccountsError(f"{where}: unknown field {key!r} (known: {', '.join(sorted(known))})")
        return cls(**values)


@dataclass(frozen=True)
class RateLimit:
    requests: float
    per_seconds: float
    burst: float | None = None


@dataclass(frozen=True)
class Account:
    name: str
    carrier: str
    credentials: Mapping[str, str] = field(repr=False)
    base_url: str | None = None
    rate_limit: RateLimit | None = None
    batch_size: int | None = None
    timeout_seconds: float = 15.0
    customers: tuple[str, ...] = ()
    cadence: Cadence = field(default_factory=Cadence)

    def credential(self, name: str) -> str:
        value = self.credentials.get(name)
        if not value:
            raise AccountsError(f"account {self.name!r} ({self.carrier}): credentials.{name} is required")
        return value


def _expand(value: Any, where: str, env: Mapping[str, str]) -> str:
    if not isinstance(value, str | int):
        raise AccountsError(f"{where}: must be text")
    text = str(value)

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise AccountsError(f"{where}: environment variable {name} is not set")
        return env[name]

    return _VAR.sub(sub, text)


def parse_accounts(data: Any, source: str, env: Mapping[str, str] | None = None) -> list[Account]:
    from pollers.clients import CLIENTS

    env = os.environ if env is None else env
    if isinstance(data, dict):
        data = data.get("accounts")
    if not isinstance(data, list):
        raise AccountsError(f"{source}: expected a list under 'accounts'")
    accounts: list[Account] = []
    seen: set[str] = set()
    allowed = {"name", "carrier", "credentials", "base_url", "rate_limit", "batch_size", "timeout_seconds",
               "customers", "cadence"}
    for index, item in enumerate(data):
        where = f"{source}: accounts[{index}]"
        if not isinstance(item, dict):
            raise AccountsError(f"{where}: must be a mapping")
        unknown = set(item) - allowed
        if unknown:
            raise AccountsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise AccountsError(f"{where}.name: required, [a-z0-9][a-z0-9_.-]{{0,63}}")
        if name in seen:
            raise AccountsError(f"{where}.name: {name!r} is used twice")
        seen.add(name)
        carrier = item.get("carrier")
        if carrier not in CLIENTS:
            raise AccountsError(f"{where}.carrier: {carrier!r} has no poller (known: {', '.join(sorted(CLIENTS))})")
        creds_raw = item.get("credentials") or {}
        if not isinstance(creds_raw, dict):
            raise AccountsError(f"{where}.credentials: must be a mapping")
        credentials = {str(k): _expand(v, f"{where}.credentials.{k}", env) for k, v in creds_raw.items()}
        base_url = item.get("base_url")
        if base_url is not None and (not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))):
            raise AccountsError(f"{where}.base_url: must be an http(s) URL")
        rate = item.get("rate_limit")
        rate_limit = None
        if rate is not None:
            if (not isinstance(rate, dict) or not isinstance(rate.get("requests"), int | float)
                    or not isinstance(rate.get("per_seconds"), int | float)
                    or rate["requests"] <= 0 or rate["per_seconds"] <= 0):
                raise AccountsError(f"{where}.rate_limit: expected {{requests: >0, per_seconds: >0[, burst]}}")
            rate_limit = RateLimit(float(rate["requests"]), float(rate["per_seconds"]),
                                   float(rate["burst"]) if rate.get("burst") else None)
        batch = item.get("batch_size")
        if batch is not None and (not isinstance(batch, int) or batch < 1):
            raise AccountsError(f"{where}.batch_size: must be a positive integer")
        timeout = item.get("timeout_seconds", 15.0)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise AccountsError(f"{where}.timeout_seconds: must be a positive number")
        customers = item.get("customers") or []
        if not isinstance(customers, list) or not all(isinstance(c, str) for c in customers):
            raise AccountsError(f"{where}.customers: must be a list of names")
        account = Account(name=name, carrier=carrier, credentials=credentials,
                          base_url=base_url.rstrip("/") if base_url else None, rate_limit=rate_limit,
                          batch_size=batch, timeout_seconds=float(timeout), customers=tuple(customers),
                          cadence=Cadence.from_config(item.get("cadence"), f"{where}.cadence"))
        CLIENTS[carrier].check(account)  # required credentials present
        accounts.append(account)
    return accounts


def load_accounts(path: str | Path, env: Mapping[str, str] | None = None) -> list[Account]:
    file = Path(path)
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise AccountsError(f"{file}: cannot read ({exc.strerror})") from exc
    try:
        data = orjson.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise AccountsError(f"{file}: not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}") from exc
    return parse_accounts(data, str(file), env)
