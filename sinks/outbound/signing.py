"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A secret is ``whsec_`` + base64 of random bytes; the key is the base64-decoded part after the
prefix. Each delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds of the attempt)
and ``webhook-signature``: ``v1,`` + base64 of HMAC-SHA256(key, ``id.timestamp.body``); during a
secret rotation one such signature per valid secret, separated by spaces.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random_secrets
from collections.abc import Sequence

PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64


class SecretError(ValueError):
    """Not a ``whsec_`` secret."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(random_secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise SecretError("a signing secret starts with whsec_")
    try:
        return base64.b64decode(secret[len(PREFIX):], validate=True)
    except ValueError as exc:
        raise SecretError("the part after whsec_ is not base64") from exc


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of one delivery with one secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret in ``secrets`` (current first)."""
    if not secrets:
        raise SecretError("no secret to sign with")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets),
    }
