"""``trackstream keys create|list|revoke`` and the admin key ``trackstream up`` creates on first start."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from api.access import SCOPES
from sinks import keys as key_store
from trackstream.settings import Settings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", required=True)
    create = sub.add_parser("create", help="create an API key and print it (alone, on the last line); "
                                           "it is shown only this once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, choices=sorted(SCOPES), metavar="SCOPE",
                        help="repeatable; one of: " + ", ".join(SCOPES))
    create.add_argument("--customer", action="append", metavar="C",
                        help="bind the key to this customer (repeatable); default: every customer")
    create.add_argument("--carrier", action="append", metavar="K", default=[],
                        help="a carrier the key may post events and feeds for (repeatable)")
    create.add_argument("--allow-authenticated-carrier", action="store_true",
                        help="allow --carrier for a carrier that has its own authenticated webhook or poller")
    create.add_argument("--personal-data", action="store_true",
                        help="the track view includes personal data (names, addresses, postcodes)")
    create.add_argument("--rate-limit", type=float, metavar="PER_SECOND",
                        help="requests per second (default: TRACKSTREAM_KEY_RATE_LIMIT; 0: unlimited)")
    create.add_argument("--expires-days", type=int, metavar="N")
    listing = sub.add_parser("list", help="every key: id, name, scopes, bindings, expiry, last use")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    revoke = sub.add_parser("revoke", help="revoke a key by its id (it stops working within "
                                           "TRACKSTREAM_KEY_CACHE_SECONDS)")
    revoke.add_argument("id")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid-{os.getuid()}"


async def _connect(settings: Settings) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True)


async def _create(settings: Settings, args: argparse.Namespace) -> int:
    from api.keys import authenticated_carriers

    grant = key_store.Grant(
        name=args.name, scopes=tuple(args.scope), customers=tuple(args.customer) if args.customer else None,
        carriers=tuple(args.carrier), personal_data=args.personal_data,
        rate_limit=settings.key_rate_limit if args.rate_limit is None else args.rate_limit,
        expires_days=args.expires_days)
    try:
        grant = key_store.validate_grant(grant, authenticated_carriers(settings), args.allow_authenticated_carrier)
    except key_store.GrantError as exc:
        print(f"trackstream keys create: {exc}", file=sys.stderr)
        return 2
    async with await _connect(settings) as conn:
        row, key = await key_store.create(conn, grant, _actor(), datetime.now(UTC))
    print(f"created key {row['id']} ({row['name']}): scopes {', '.join(row['scopes'])}"
          + (f"; customers {', '.join(row['customers'])}" if row["customers"] else "; every customer")
          + (f"; expires {row['expires_at'].isoformat()}" if row["expires_at"] else ""))
    print("the key is shown only now; store it safely:")
    print(key)
    return 0


def _describe(row: dict[str, Any]) -> str:
    state = "revoked" if row["revoked_at"] else "active"
    if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC) and not row["revoked_at"]:
        state = "expired"
    used = row["last_used_at"].isoformat(timespec="seconds") if row["last_used_at"] else "never"
    return (f"{row['id']}  {state:<7}  {row['name']}  scopes={','.join(row['scopes'])}  "
            f"customers={','.join(row['customers']) if row['customers'] else '*'}  "
            f"carriers={','.join(row['carriers']) or '-'}  rate={row['rate_limit']:g}/s  "
            f"expires={row['expires_at'].isoformat(timespec='seconds') if row['expires_at'] else 'never'}  "
            f"last_used={used}")


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    import orjson

    async with await _connect(settings) as conn:
        rows = await key_store.list_all(conn)
    for row in rows:
        print(orjson.dumps(row).decode() if args.json else _describe(row))
    return 0


async def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    async with await _connect(settings) as conn:
        done = await key_store.revoke(conn, args.id, _actor(), datetime.now(UTC))
    if not done:
        print(f"trackstream keys revoke: no active key {args.id!r}", file=sys.stderr)
        return 1
    print(f"revoked {args.id}")
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    command = {"create": _create, "list": _list, "revoke": _revoke}[args.keys_command]
    try:
        return asyncio.run(command(settings, args))
    except psycopg.OperationalError as exc:
        print(f"trackstream keys: the database is not reachable ({exc})", file=sys.stderr)
        return 1


# --- the local stack's admin key ----------------------------------------------------------------


def read_key_file(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


async def _ensure_admin_key(database_url: str, path: Path) -> tuple[str, bool]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        existing = read_key_file(path)
        now = datetime.now(UTC)
        if existing is not None:
            key_id = key_store.key_id_of(existing)
            row = await key_store.lookup(conn, key_id) if key_id else None
            if (row is not None and key_store.matches(existing, row["secret_hash"])
                    and await key_store.active_admin_exists(conn, row["id"], now)):
                return row["id"], False
        grant = key_store.Grant(name="local admin (trackstream up)", scopes=("admin",), rate_limit=0.0)
        row, key = await key_store.create(conn, grant, "stack", now)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return row["id"], True


def ensure_admin_key(settings: Settings) -> Path:
    """The local stack's admin key: kept when the file holds a current admin key, created (and
    written to the file, mode 0600) otherwise. Returns the file."""
    path = settings.admin_key_path
    key_id, created = asyncio.run(_ensure_admin_key(settings.database_url, path))
    if created:
        log.info("created the admin API key %s; it is in %s (mode 0600)", key_id, path)
    else:
        log.info("admin API key %s is in %s", key_id, path)
    return path
