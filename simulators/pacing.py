"""Splitting one global message rate across streams, evenly interleaved."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping


def split_rate(rate: float, shares: Mapping[str, float], chosen: list[str]) -> dict[str, float]:
    """Messages per second for each chosen stream; unchosen streams' shares are shared
    out in proportion, so `--rate` is always the total."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    unknown = set(chosen) - set(shares)
    if unknown:
        raise ValueError(f"unknown streams {sorted(unknown)}; known: {sorted(shares)}")
    total = sum(shares[name] for name in chosen)
    if total <= 0:
        raise ValueError("the chosen streams have no share of the rate")
    return {name: rate * shares[name] / total for name in chosen if shares[name] > 0}


class Pacer:
    """Earliest-deadline scheduling: each stream has a next due time, spaced 1/rate apart.

    If sending stalls (a broker holding back acknowledgements), the backlog older than
    `max_lag_s` is dropped instead of sent in a burst: a simulator that catches up by
    flooding would test something nobody asked for.
    """

    def __init__(self, rates: Mapping[str, float], start: float, max_lag_s: float = 1.0) -> None:
        if not rates:
            raise ValueError("nothing to pace")
        self._interval = {name: 1.0 / r for name, r in rates.items()}
        self._due = dict.fromkeys(rates, start)
        self._max_lag = max_lag_s

    def next(self, now: float) -> tuple[str, float]:
        """The stream to serve next and when; advances that stream's deadline."""
        name = min(self._due, key=self._due.__getitem__)
        due = max(self._due[name], now - self._max_lag)
        self._due[name] = due + self._interval[name]
        return name, due


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in '90s', '30m', '48h', '2d' or '1h30m' (a bare number is seconds)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 48h or 2d")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def backfill_rates(
    shares: Mapping[str, float], chosen: list[str], device_count: int, step_s: float
) -> dict[str, float]:
    """Messages per simulated second for replaying the past: every device reports once
    per `step_s` (a real station's cadence, not the live demo rate), and the other
    streams keep their share of the mix relative to the sensors."""
    if step_s <= 0 or device_count <= 0:
        raise ValueError("a backfill needs devices and a positive step")
    if shares.get("sensors", 0) <= 0:
        raise ValueError("a backfill paces by the sensors' share, which is zero")
    return split_rate(device_count / step_s / shares["sensors"], shares, chosen)


def simulated_schedule(
    rates: Mapping[str, float], start: float, end: float
) -> Iterator[tuple[str, float]]:
    """(stream, simulated time) for every message due in [start, end), interleaved as
    the live pacer would; nothing waits for the wall clock."""
    pacer = Pacer(rates, start, max_lag_s=math.inf)
    now = start
    while True:
        stream, due = pacer.next(now)
        if due >= end:
            return
        now = due
        yield stream, due
