"""API keys in PostgreSQL: created once, shown once, stored only as a hash.

A key reads ``tsk_<12 hex>.<43 url-safe characters>``: the part before the dot is the key's id,
its visible prefix (in ``keys list``, the audit log and log lines); the rest is 256 random bits.
Only the SHA-256 of the whole key is stored; that is enough for a secret of that length (no
password-style stretching is needed when nothing guessable goes in). Creating and revoking write
an audit record in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api.access import ADMIN, SCOPES
from sinks import audit

PREFIX = "tsk_"
_KEY = re.compile(r"^(tsk_[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$")
_CARRIER = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_NAME = 100
MAX_CUSTOMER = 200
MAX_LIST = 100

#: What a listing shows of a key (never its hash).
COLUMNS = ("id, name, scopes, customers, carriers, personal_data, rate_limit, created_at, created_by, "
           "expires_at, revoked_at, revoked_by, last_used_at")


class GrantError(ValueError):
    """What a key would be allowed to do is not a valid grant; the message names the field."""


@dataclass(frozen=True)
class Grant:
    """What a new key may do."""

    name: str
    scopes: tuple[str, ...]
    customers: tuple[str, ...] | None = None  # None: every customer
    carriers: tuple[str, ...] = ()
    personal_data: bool = False
    rate_limit: float = 50.0  # requests per second; 0: unlimited
    expires_days: int | None = None


def validate_grant(grant: Grant, authenticated_carriers: frozenset[str], allow_authenticated: bool) -> Grant:
    """The grant, normalized; GrantError naming the field otherwise.

    ``authenticated_carriers`` have their own authenticated webhook or poller: a key may post
    events for one of them only when ``allow_authenticated`` says an admin wants exactly that, so a
    key cannot spoof a carrier's data by accident."""
    name = grant.name.strip()
    if not name or len(name) > MAX_NAME or "\x00" in name:
        raise GrantError(f"name must be 1 to {MAX_NAME} characters (no NUL)")
    if not grant.scopes:
        raise GrantError("at least one scope is needed (scopes: " + ", ".join(SCOPES) + ")")
    unknown = [s for s in grant.scopes if s not in SCOPES]
    if unknown:
        raise GrantError(f"unknown scope {unknown[0]!r} (scopes: {', '.join(SCOPES)})")
    if len(grant.carriers) > MAX_LIST or len(grant.customers or ()) > MAX_LIST:  # as given, before duplicates go
        raise GrantError(f"at most {MAX_LIST} customers and {MAX_LIST} carriers per key")
    customers = None
    if grant.customers is not None:
        customers = tuple(sorted({c.strip() for c in grant.customers}))
        if not customers or any(not c or len(c) > MAX_CUSTOMER or "\x00" in c for c in customers):
            raise GrantError(f"customers must be 1 to {MAX_CUSTOMER} characters each (no NUL), and at least one")
        if len(customers) > MAX_LIST:
            raise GrantError(f"at most {MAX_LIST} customers per key")
    carriers = tuple(sorted({c.strip().lower() for c in grant.carriers}))
    bad = [c for c in carriers if not _CARRIER.match(c)]
    if bad:
        raise GrantError(f"carrier {bad[0]!r} must match [a-z0-9_-]{{1,32}}")
    if len(carriers) > MAX_LIST:
        raise GrantError(f"at most {MAX_LIST} carriers per key")
    own = sorted(set(carriers) & authenticated_carriers)
    if own and not allow_authenticated:
        raise GrantError(f"carrier {own[0]!r} sends its own authenticated data (webhook or poller); a key may "
                         "post events for it only when the grant says so explicitly (allow_authenticated_carriers)")
    if grant.rate_limit < 0 or grant.rate_limit != grant.rate_limit or grant.rate_limit > 1_000_000:
        raise GrantError("rate_limit must be between 0 (unlimited) and 1000000 requests per second")
    if grant.expires_days is not None and not 1 <= grant.expires_days <= 3650:
        raise GrantError("expires_days must be between 1 and 3650")
    return Grant(name, tuple(sorted(set(grant.scopes))), customers, carriers, grant.personal_data,
                 float(grant.rate_limit), grant.expires_days)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_id_of(key: str) -> str | None:
    """The id of a well-formed key; None for anything else."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def matches(key: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_key(key), bytes(stored_hash))


def new_key() -> tuple[str, str]:
    """(id, the whole key)."""
    key_id = PREFIX + secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)  # 32 bytes: 43 characters
    return key_id, f"{key_id}.{secret}"


async def create(conn: AsyncConnection[Any], grant: Grant, actor: str, now: datetime) -> tuple[dict[str, Any], str]:
    """Store a validated grant as a new key; (its row, the key: shown once, never again)."""
    key_id, key = new_key()
    expires = now + timedelta(days=grant.expires_days) if grant.expires_days else None
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO api_keys (id, name, secret_hash, scopes, customers, carriers, personal_data, rate_limit, "
            f"created_at, created_by, expires_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING {COLUMNS}",
            (key_id, grant.name, hash_key(key), list(grant.scopes),
             None if grant.customers is None else list(grant.customers), list(grant.carriers),
             grant.personal_data, grant.rate_limit, now, actor, expires),
        )
        row = await cur.fetchone()
        assert row is not None
        await audit.record(conn, actor=actor, action="key.created", target_type="key", target_id=key_id,
                           details={"name": grant.name, "scopes": list(grant.scopes),
                                    "customers": row["customers"], "carriers": list(grant.carriers),
                                    "personal_data": grant.personal_data, "rate_limit": grant.rate_limit,
                                    "expires_at": expires.isoformat() if expires else None})
    return row, key


async def list_all(conn: AsyncConnection[Any], include_revoked: bool = True) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        await cur.execute(f"SELECT {COLUMNS} FROM api_keys{where} ORDER BY created_at, id")
        return await cur.fetchall()


async def get(conn: AsyncConnection[Any], key_id: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {COLUMNS} FROM api_keys WHERE id = %s", (key_id,))
        return await cur.fetchone()


async def lookup(conn: AsyncConnection[Any], key_id: str) -> dict[str, Any] | None:
    """A key's row with its hash, for verification."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {COLUMNS}, secret_hash FROM api_keys WHERE id = %s", (key_id,))
        return await cur.fetchone()


async def revoke(conn: AsyncConnection[Any], key_id: str, actor: str, now: datetime) -> bool:
    """Revoke a key (False when there is no such key or it was revoked before)."""
    async with conn.transaction():
        cursor = await conn.execute(
            "UPDATE api_keys SET revoked_at = %s, revoked_by = %s WHERE id = %s AND revoked_at IS NULL",
            (now, actor, key_id))
        if cursor.rowcount != 1:
            return False
        await audit.record(conn, actor=actor, action="key.revoked", target_type="key", target_id=key_id)
    return True


async def touch(conn: AsyncConnection[Any], used: dict[str, datetime]) -> None:
    """Record last-used times (batched by the API, at most about once a minute per key)."""
    if not used:
        return
    ids = sorted(used)
    await conn.execute(
        "UPDATE api_keys k SET last_used_at = greatest(k.last_used_at, u.at) "
        "FROM unnest(%s::text[], %s::timestamptz[]) AS u(id, at) WHERE k.id = u.id",
        (ids, [used[i] for i in ids]))


async def active_admin_exists(conn: AsyncConnection[Any], key_id: str, now: datetime) -> bool:
    cursor = await conn.execute(
        "SELECT 1 FROM api_keys WHERE id = %s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > %s) "
        "AND %s = ANY(scopes)", (key_id, now, ADMIN))
    return await cursor.fetchone() is not None
