"""Which carrier a tracking number belongs to, where its format says so unambiguously.

Used only when a registration names no carrier; an explicit carrier always wins. A number that
fits several carriers' formats (PostNL and DHL Parcel NL both issue ``3S…`` barcodes; FedEx and GLS
both have 12-digit numbers) is not guessed.
"""

from __future__ import annotations

import re

from schemas.events import normalize_tracking_number

#: (carrier, pattern on the normalized number). Order does not matter: ambiguity means no answer.
FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ups", re.compile(r"1Z[0-9A-Z]{16}")),
    ("postnl", re.compile(r"3S[A-Z]{4}\d{5,13}")),
    ("dhl_parcel_nl", re.compile(r"3S[A-Z]{4}\d{5,13}|JVGL\d{8,20}|JJD\d{10,20}")),
    ("dhl_express", re.compile(r"\d{10}")),
    ("tnt", re.compile(r"\d{9}|GE\d{9}WW")),
    ("gls_nl", re.compile(r"\d{11,12}")),
    ("fedex", re.compile(r"\d{12}|\d{15}|\d{20}|\d{22}")),
    ("dpd_nl", re.compile(r"\d{14}")),
)


def candidates(tracking_number: str) -> list[str]:
    number = normalize_tracking_number(tracking_number)
    return [carrier for carrier, pattern in FORMATS if pattern.fullmatch(number)]


def detect_carrier(tracking_number: str) -> str | None:
    """The one carrier whose format the number fits, or None (no fit, or several)."""
    found = candidates(tracking_number)
    return found[0] if len(found) == 1 else None
