"""Access tokens for carriers that fetch one before pushing (UPS Track Alert v2): pure checks."""

from __future__ import annotations

import pytest

from api.oauth import TokenError, issue_token, verify_bearer, verify_token
from trackstream.settings import PushClient, Settings, SettingsError

CLIENT = PushClient("ups", "client-a", "secret-a-0123456789abcdef")
NOW = 1_800_000_000.0


def test_a_token_verifies_until_it_expires() -> None:
    token = issue_token(CLIENT, NOW, lifetime=60)
    verify_token(token, CLIENT, NOW + 59)
    with pytest.raises(TokenError, match="expired"):
        verify_token(token, CLIENT, NOW + 60)


@pytest.mark.parametrize("other", [
    PushClient("ups", "client-a", "another-secret-0123456789"),  # rotated secret revokes old tokens
    PushClient("ups", "client-b", "secret-a-0123456789abcdef"),  # another client
    PushClient("fedex", "client-a", "secret-a-0123456789abcdef"),  # another carrier
])
def test_a_token_is_only_good_for_its_client(other: PushClient) -> None:
    with pytest.raises(TokenError):
        verify_token(issue_token(CLIENT, NOW), other, NOW)


@pytest.mark.parametrize("token", ["", "abc", "ts1.x.y", "ts2.a.b", "ts1..", "ts1.e30.bad-signature"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        verify_token(token, CLIENT, NOW)


def test_tampered_claims_are_refused() -> None:
    prefix, claims, signature = issue_token(CLIENT, NOW).split(".")
    forged = claims[:-2] + ("AA" if claims[-2:] != "AA" else "BB")
    with pytest.raises(TokenError, match="signature"):
        verify_token(f"{prefix}.{forged}.{signature}", CLIENT, NOW)


def test_bearer_header_and_api_key() -> None:
    token = issue_token(CLIENT, NOW)
    verify_bearer({"Authorization": f"Bearer {token}", "x-api-key": "client-a"}, CLIENT, NOW)
    verify_bearer({"Authorization": f"bearer {token}"}, CLIENT, NOW)  # x-api-key is optional
    with pytest.raises(TokenError, match="x-api-key"):
        verify_bearer({"Authorization": f"Bearer {token}", "x-api-key": "client-b"}, CLIENT, NOW)
    with pytest.raises(TokenError, match="missing"):
        verify_bearer({"Authorization": f"Basic {token}"}, CLIENT, NOW)


def test_settings_need_both_halves_and_a_long_secret() -> None:
    base = {"TRACKSTREAM_UPS_WEBHOOK_CLIENT_ID": "c"}
    with pytest.raises(SettingsError, match="both"):
        Settings.from_env(base)
    with pytest.raises(SettingsError, match="16 characters"):
        Settings.from_env({**base, "TRACKSTREAM_UPS_WEBHOOK_CLIENT_SECRET": "short"})
    settings = Settings.from_env({**base, "TRACKSTREAM_UPS_WEBHOOK_CLIENT_SECRET": "x" * 16})
    assert settings.push_clients["ups"].client_id == "c"
    assert "x" * 16 not in repr(settings)
    assert Settings.from_env({}).push_clients == {}


def test_non_utf8_header_bytes_are_refused_not_a_crash() -> None:
    # aiohttp hands header bytes that are not UTF-8 over as surrogate escapes ("\udcff")
    token = issue_token(CLIENT, NOW)
    with pytest.raises(TokenError, match="signature"):
        verify_bearer({"Authorization": f"Bearer {token[:-2]}\udcff\udcfe"}, CLIENT, NOW)
    with pytest.raises(TokenError, match="x-api-key"):
        verify_bearer({"Authorization": f"Bearer {token}", "x-api-key": "client-\udcff"}, CLIENT, NOW)
