"""Standard Webhooks signatures, checked by an independent verifier (the ``standardwebhooks``
package from PyPI), including the two signatures of a secret rotation."""

from __future__ import annotations

import base64
import time

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from sinks.outbound.signing import new_secret, sign, webhook_headers


def test_a_secret_is_whsec_and_base64_of_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret() != secret


def test_the_standard_webhooks_verifier_accepts_our_signature_and_refuses_a_changed_body() -> None:
    secret = new_secret()
    body = orjson.dumps({"id": "msg_1", "type": "shipment.event", "status": "delivered"})
    headers = webhook_headers("msg_1", int(time.time()), body, [secret])
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == orjson.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"delivered", b"exception"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    body = b'{"id":"msg_7"}'
    now = int(time.time())
    headers = webhook_headers("msg_7", now, body, [new, old])
    signatures = headers["webhook-signature"].split(" ")
    assert signatures == [sign(new, "msg_7", now, body), sign(old, "msg_7", now, body)]
    assert Webhook(new).verify(body, headers) is not None
    assert Webhook(old).verify(body, headers) is not None
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
