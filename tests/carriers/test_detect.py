from __future__ import annotations

import pytest

from carriers.detect import candidates, detect_carrier


@pytest.mark.parametrize(("number", "carrier"), [
    ("1Z999AA10123456784", "ups"),
    ("1zcietst0111111114", "ups"),
    ("JVGL0123456789012", "dhl_parcel_nl"),
    ("JJD0012345678901", "dhl_parcel_nl"),
    ("1234567890", "dhl_express"),
    ("123456789", "tnt"),
    ("GE123456789WW", "tnt"),
    ("36301917596", "gls_nl"),
    ("05308801410058", "dpd_nl"),
    ("0530 8801 4100 58", "dpd_nl"),
    ("123456789012345", "fedex"),
])
def test_distinctive_formats_are_recognised(number: str, carrier: str) -> None:
    assert detect_carrier(number) == carrier


@pytest.mark.parametrize("number", [
    "3SDEVC288882229",  # PostNL and DHL Parcel NL both issue 3S barcodes
    "776094337676",  # 12 digits: FedEx or GLS
    "S0M3TR4CK1NGNUMB3R", "", "ABC",
])
def test_ambiguous_or_unknown_formats_are_not_guessed(number: str) -> None:
    assert detect_carrier(number) is None


def test_candidates_explain_an_ambiguity() -> None:
    assert set(candidates("3SDEVC288882229")) == {"postnl", "dhl_parcel_nl"}
