"""Vietnamese plate normalisation (processors/cameras/plates.py): every spelling of one
plate gives one canonical form; different plates stay different."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.cameras.plates import normalise

# One plate per group; every spelling in a group is that plate as some reader or person
# writes it (the examples first).
SAME_PLATE = {
    "51F-12345": [
        "51F-123.45",
        "51F12345",
        "51F 123.45",
        "51f-123.45",
        "51F\n123.45",  # two rows joined by a newline
        "51F 12345",
        " 51F-123.45 ",
        "51 F 123 45",
        "51F.123.45",
        "5lF-l23.45",  # l for 1 in the province and the serial
        "5IF-I23.45",  # I for 1
        "51F-123.4S",  # S for 5 in the serial
        "S1F-12345",  # S for 5 in the province
    ],
    "51F1-23456": [
        "51-F1 234.56",  # motorbike, the example
        "51F1 234.56",
        "51-F1\n234.56",  # two rows
        "51F1\n23456",
        "51F123456",  # nine characters run together
        "51-FI 234.56",  # I for 1 in the series' digit
        "51-F1 234.S6",
        "5l-F1 234.56",
    ],
    "59F1-2345": ["59-F1 2345", "59F1 2345", "59-F1\n2345", "S9-F1 2345"],
    "59F-12345": ["59F-123.45", "59F12345", "59F\n123.45"],
    "51F-1234": ["51F-1234", "51F 1234", "51F1234", "51F-l234"],
    "30LD-12345": ["30LD-123.45", "30LD12345", "30LD\n123.45", "3OLD-123.45"],
    "68C-12345": ["68C-123.45", "68C12345", "68 C 123.45", "6BC-123.45", "68C-I23.4S"],
    "29MD1-12345": ["29-MĐ1 123.45", "29MD1-123.45", "29-MĐ1\n123.45"],
    "80NG-12345": ["80-NG-123-45", "80NG12345"],
}


@pytest.mark.parametrize(
    ("canonical", "spelling"),
    [(canon, s) for canon, spellings in SAME_PLATE.items() for s in spellings],
)
def test_every_spelling_gives_the_canonical_form(canonical: str, spelling: str) -> None:
    assert normalise(spelling) == canonical


def test_the_canonical_form_is_a_fixed_point() -> None:
    for canonical in SAME_PLATE:
        assert normalise(canonical) == canonical


def test_different_plates_stay_different() -> None:
    forms = list(SAME_PLATE)
    for a, b in itertools.combinations(forms, 2):
        assert normalise(a) != normalise(b), (a, b)
    # One digit apart, a motorbike and a car of the same characters, a series letter.
    pairs = [
        ("51F-123.45", "51F-123.46"),
        ("51F-123.45", "52F-123.45"),
        ("51F-123.45", "51G-123.45"),
        ("59-F1 2345", "59F-123.45"),
        ("30LD-123.45", "30D-123.45"),
        ("51F-1234", "51F-12340"),
    ]
    for a, b in pairs:
        assert normalise(a) != normalise(b), (a, b)


def test_a_digit_in_the_series_position_is_read_as_its_letter() -> None:
    assert normalise("518-123.45") == normalise("51B-123.45") == "51B-12345"
    assert normalise("510-123.45") == "51D-12345"  # O and 0 there are a D


def test_what_is_not_a_plate_of_this_shape_matches_only_itself() -> None:
    assert normalise("KT-12-34") == "KT1234"  # letters first: a military plate
    assert normalise("ABC") == "ABC"
    assert normalise("") == ""
    assert normalise("KT-12-34") != normalise("KT-12-35")


plate_text = st.text(alphabet="0123456789ABCDEFGHKLMNPSTUVXYZ-. \nOI", max_size=14)


@given(plate_text)
def test_normalising_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@given(
    st.integers(10, 99),
    st.sampled_from("ABCDEFGHKLMNPSTUVXYZ"),
    st.integers(0, 99999),
    st.integers(0, 99999),
)
def test_distinct_car_plates_never_collide(province: int, letter: str, a: int, b: int) -> None:
    first, second = f"{province}{letter}-{a:05d}", f"{province}{letter}-{b:05d}"
    assert (normalise(first) == normalise(second)) == (a == b)
    assert normalise(f"{province}{letter}-{a // 100:03d}.{a % 100:02d}") == first
