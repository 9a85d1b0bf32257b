"""What PostgreSQL and Python can both hold, as pydantic types for input that is
refused rather than repaired (the API, silences): text without NUL or lone surrogates,
instants with an offset in a range every layer handles.

PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate (JSON lets a
client send "\\ud800"): both are refused with a message naming the field instead of
failing in the driver. A year-1 time with a +07:00 offset is year 0 in UTC, which Python
cannot represent, and window arithmetic near year 9999 overflows; so instants are kept
to 1970–2199. (events/text.py repairs text from devices and logs instead: a reading is
kept with its text cleaned, a person's request is told what is wrong.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from error
    return value


def rfc3339_only(value: Any) -> Any:
    """pydantic also reads a number as Unix time; an instant here is written out."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and _NUMBER.fullmatch(value.strip())
    ):
        raise ValueError("an RFC 3339 date-time is expected, e.g. 2026-11-24T08:00:00+07:00")
    return value


def bounded_instant(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a timezone offset, e.g. 2026-11-24T08:00:00+07:00")
    # The year first, so that the exact comparison never meets year 1 or 9999 (whose
    # conversion to UTC can overflow).
    if not EARLIEST.year - 1 <= value.year <= LATEST.year or not EARLIEST <= value < LATEST:
        raise ValueError(
            f"must lie between {EARLIEST.date().isoformat()} and {LATEST.date().isoformat()}"
        )
    return value


Text = Annotated[str, AfterValidator(storable_text)]
Instant = Annotated[datetime, BeforeValidator(rfc3339_only), AfterValidator(bounded_instant)]
