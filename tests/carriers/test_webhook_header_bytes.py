"""Every carrier's webhook check refuses header values that are not ASCII or not even UTF-8 (aiohttp
passes such bytes through as surrogates) with SignatureError, never a crash (a 500)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from carriers import dhl_parcel_nl, fedex, myparcel, sendcloud, ups
from carriers.base import SignatureError
from carriers.configured import verify_webhook as verify_configured
from carriers.definition import HMAC_SHA256, WebhookAuth

BODY = b'{"x": 1}'
SECRET = "s3cret-for-tests"
BAD_VALUES = ["\udcff\udcfe", "caf\u00e9", "\u2603" * 40, "Bearer \udcff"]

Verify = Callable[[str], None]

VERIFIERS: dict[str, Verify] = {
    "sendcloud": lambda v: sendcloud.verify_signature(BODY, v, SECRET),
    "fedex": lambda v: fedex.verify_webhook(BODY, {fedex.SIGNATURE_HEADER: v}, SECRET),
    "dhl_parcel_nl": lambda v: dhl_parcel_nl.verify_webhook(BODY, {dhl_parcel_nl.WEBHOOK_HEADER: v}, SECRET),
    "myparcel": lambda v: myparcel.verify_webhook(BODY, {myparcel.AUTH_HEADER: v}, SECRET),
    "ups": lambda v: ups.verify_webhook(BODY, {ups.CREDENTIAL_HEADER: v}, SECRET),
    "configured-token": lambda v: verify_configured(WebhookAuth("token", "X-Token", "ENV"), BODY, {"X-Token": v},
                                                    SECRET),
    "configured-hmac": lambda v: verify_configured(WebhookAuth(HMAC_SHA256, "X-Sig", "ENV"), BODY, {"X-Sig": v},
                                                   SECRET),
}


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("carrier", sorted(VERIFIERS))
def test_odd_header_bytes_are_refused_not_a_crash(carrier: str, value: str) -> None:
    with pytest.raises(SignatureError):
        VERIFIERS[carrier](value)
