"""Vietnamese licence plates in one canonical spelling, so a watch-list entry matches
what any camera reads.

A plate is a province code (two digits), a series (a letter, then a letter or a digit:
`F`, `LD`, `F1` on motorbikes) and a serial (four or five digits, the new ones written
`123.45`). Cameras and people write it many ways: `51F-123.45`, `51F12345`, `51F 123.45`,
two rows (`51F` over `123.45`, `59-F1` over `234.56`) joined by a newline or a space or
nothing, lower case; readers confuse O/0, I/1, B/8, S/5, Z/2, G/6, A/4, T/7, D/0.

The canonical form is `<province><series>-<serial>`, upper case: `51F-12345`,
`59F1-23456`, `30LD-12345`. The hyphen is kept because it tells plates apart that
differ only there (the motorbike `59-F1 2345` and the car `59F-123.45`). Which letter or
digit a confusable character is follows from its position: the province and serial are
digits, the series' first character a letter. Separators the reader kept say where the
series ends; without them a string of eight characters whose fourth is a digit is read
as a car's new plate (`51F12345` = `51F-123.45`), the commoner of the two.

A string that is no plate of this shape (foreign, military, unreadable) is returned in
upper case without separators, so it still matches itself and nothing else.
Hand-written: no maintained library parses Vietnamese plates.
"""

from __future__ import annotations

import re
import unicodedata

# Letters Vietnamese series use (no I, J, O, Q, R, W).
SERIES_LETTERS = frozenset("ABCDEFGHKLMNPSTUVXYZ")
_TO_DIGIT = str.maketrans("OQDUILJZASGTB", "0000111245678")
# A digit where a letter must be: the letter it is taken for. O and Q are not series
# letters: a round character there is a D.
_TO_LETTER = str.maketrans("0OQ1245678", "DDDIZASGTB")
_SEPARATORS = re.compile(r"[^0-9A-Z]+")
_SERIALS = (4, 5)


def normalise(plate: str) -> str:
    """The canonical spelling of a plate as read (see the module doc)."""
    tokens = [t for t in _SEPARATORS.split(_fold(plate)) if t]
    compact = "".join(tokens)
    split = _series_end(tokens, compact)
    if split is None:
        return compact
    province = compact[:2].translate(_TO_DIGIT)
    series = _series(compact[2:split])
    serial = compact[split:].translate(_TO_DIGIT)
    if not (province.isdigit() and serial.isdigit() and series):
        return compact
    return f"{province}{series}-{serial}"


def _fold(plate: str) -> str:
    """Upper case ASCII: Đ (as in the moped series MĐ) is a D, accents go."""
    text = plate.upper().replace("Đ", "D")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _series_end(tokens: list[str], compact: str) -> int | None:
    """Where the serial starts in `compact`, or None if it cannot be a plate."""
    size = len(compact)
    if not 7 <= size <= 10:
        return None
    # A separator the reader kept, after the series' first character, that leaves a
    # serial of four or five characters.
    end = 0
    for token in tokens[:-1]:
        end += len(token)
        if end >= 3 and size - end in _SERIALS:
            return end
    if size == 7:
        return 3
    if size == 8:
        return 4 if _letter_like(compact[3]) else 3
    return size - 5


def _letter_like(char: str) -> bool:
    return char in SERIES_LETTERS


def _series(text: str) -> str:
    """First character a letter; then letters stay, confusable ones become digits."""
    if not 1 <= len(text) <= 3:
        return ""
    first = text[0].translate(_TO_LETTER)
    rest = "".join(
        c if _letter_like(c) or c.isdigit() else c.translate(_TO_DIGIT) for c in text[1:]
    )
    return first + rest
