"""Vietnamese licence plates as cameras read them.

Plates (Circular 24/2023/TT-BCA): a two-digit province code, a series, and a number.
Cars carry one row, `51F-123.45`, or on a short plate two rows, `51F` over `123.45`;
motorbikes two rows, `59-F1` over `234.56`. A reader writes a two-row plate on one line
with a space, a newline or nothing between the rows, drops the punctuation, and mixes up
O with 0 and I with 1. The watch list has to match all of these to one plate
(processors/cameras/plates.py normalises them); the simulator produces them so it is
tested against what cameras send.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

PlateKind = Literal["car", "car_two_row", "motorbike"]
# Codes of the provinces the fleet sits in (before the 2025 merger) and two big cities
# whose vehicles pass through: Hồ Chí Minh City 51, Cần Thơ 65.
PROVINCE_CODES = {"Kiên Giang": 68, "An Giang": 67, "Hậu Giang": 95, "Khánh Hòa": 79}
VISITING_CODES = (51, 65)
_CAR_SERIES = "ACDFGHK"  # A private car, C truck, D van, F/G/H/K more recent series
_BIKE_LETTERS = "BCDEFGHKLMNPSTUVXYZ"


@dataclass(frozen=True)
class Plate:
    """A plate as printed: `rows` is one row, or the top and bottom rows."""

    rows: tuple[str, ...]
    kind: PlateKind

    @property
    def printed(self) -> str:
        """The way a person writes it on one line (the watch list's usual spelling)."""
        return " ".join(self.rows)


def random_plate(rng: random.Random, kind: PlateKind, code: int | None = None) -> Plate:
    code = code or rng.choice([*PROVINCE_CODES.values(), *VISITING_CODES])
    number = f"{rng.randint(100, 999)}.{rng.randint(0, 99):02d}"
    if kind == "motorbike":
        series = f"{rng.choice(_BIKE_LETTERS)}{rng.randint(1, 9)}"
        return Plate((f"{code}-{series}", number), kind)
    series = rng.choice(_CAR_SERIES)
    if kind == "car_two_row":
        return Plate((f"{code}{series}", number), kind)
    return Plate((f"{code}{series}-{number}",), kind)


def reading(plate: Plate, style: str) -> str:
    """One reader's spelling of `plate`.

    styles: `printed` (as on the plate, rows joined by a space), `newline` (rows on two
    lines), `compact` (no spaces, dashes or dots), `o_for_0` (compact, every 0 read as
    the letter O), `i_for_1` (compact, every 1 read as the letter I)."""
    compact = "".join(plate.rows).replace("-", "").replace(".", "")
    if style == "printed":
        return plate.printed
    if style == "newline":
        return "\n".join(plate.rows)
    if style == "compact":
        return compact
    if style == "o_for_0":
        return compact.replace("0", "O")
    if style == "i_for_1":
        return compact.replace("1", "I")
    raise ValueError(f"unknown reading style {style!r}")


READING_STYLES = ("printed", "newline", "compact", "o_for_0", "i_for_1")


def misread(plate: Plate, rng: random.Random) -> str:
    """A reading in a style drawn at random: mostly clean, sometimes confused."""
    style = rng.choices(READING_STYLES, weights=(5, 2, 5, 1, 1))[0]
    return reading(plate, style)
