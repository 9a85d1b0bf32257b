"""Durations as rule packs write them: '90s', '15m', '2h', '1d', '1h30m', or seconds."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhd])+")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """A non-negative duration; the ValueError's text is what a rule author reads."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() == "0":
        seconds = 0.0
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        seconds = sum(float(n) * _SECONDS[u] for n, u in _PART.findall(value))
    else:
        raise ValueError(f"expected a duration like '5m', got {value!r}")
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"expected a duration like '5m', got {value!r}")
    return timedelta(seconds=seconds)


_WORDS_VI = {"d": "ngày", "h": "giờ", "m": "phút", "s": "giây"}


class Duration(str):
    """A duration for alert texts: compact ('1h30m') where read as a string (English
    texts, stored values), and in words for a Vietnamese text ('1 giờ 30 phút'), which
    text.VietnameseNumbers picks."""

    vietnamese: str

    def __new__(cls, parts: list[tuple[int, str]]) -> Duration:
        text = super().__new__(cls, "".join(f"{n}{u}" for n, u in parts) or "0s")
        text.vietnamese = " ".join(f"{n} {_WORDS_VI[u]}" for n, u in parts) or "0 giây"
        return text


def format_duration(value: timedelta) -> Duration:
    """Compact text for titles: 5400 s -> '1h30m' (Vietnamese: '1 giờ 30 phút')."""
    seconds = round(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append((count, unit))
    return Duration(parts)
