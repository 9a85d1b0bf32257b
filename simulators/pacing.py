"""Splitting one global message rate across streams, evenly interleaved."""

from __future__ import annotations

from collections.abc import Mapping


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
