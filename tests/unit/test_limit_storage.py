"""api/limit_storage.py under limits' own sliding-window strategy, on a fixed clock."""

from __future__ import annotations

import threading

import pytest
from limits import parse
from limits.strategies import SlidingWindowCounterRateLimiter

from api.errors import ApiProblem
from api.limit_storage import SweptMemoryStorage
from api.limits import RateLimits


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock) -> tuple[SlidingWindowCounterRateLimiter, SweptMemoryStorage]:
    storage = SweptMemoryStorage(clock=clock)
    return SlidingWindowCounterRateLimiter(storage), storage


def test_a_window_allows_its_limit_then_refuses() -> None:
    clock = Clock(1_800_000_000.0)  # the start of a minute window
    rate, _ = limiter(clock)
    item = parse("5/minute")
    allowed = [rate.hit(item, "token", "k") for _ in range(7)]
    assert allowed == [True] * 5 + [False] * 2
    assert rate.hit(item, "token", "other")  # keys count apart


def test_the_previous_window_counts_by_how_much_of_it_is_left() -> None:
    clock = Clock(1_800_000_000.0)
    rate, _ = limiter(clock)
    item = parse("10/minute")
    assert all(rate.hit(item, "k") for _ in range(10))
    clock.now += 60 + 30  # halfway through the next window: 10 × 0.5 = 5 still count
    allowed = [rate.hit(item, "k") for _ in range(7)]
    assert allowed == [True] * 5 + [False] * 2
    stats = rate.get_window_stats(item, "k")
    assert stats.remaining == 0


def test_counts_expire_after_two_windows_and_are_swept() -> None:
    clock = Clock(1_800_000_000.0)
    rate, storage = limiter(clock)
    item = parse("3/minute")
    for key in range(100):
        assert rate.hit(item, "address", str(key))
    assert len(storage) == 100
    clock.now += 121  # both windows of every key are over
    assert rate.hit(item, "address", "late")  # a hit sweeps what expired
    assert len(storage) == 1
    assert all(rate.hit(item, "address", "0") for _ in range(3))


def test_a_hit_starts_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """limits' MemoryStorage started a timer thread on most hits (the reason for this
    storage); hits spread over time here must start none."""
    started: list[threading.Thread] = []
    monkeypatch.setattr(threading.Thread, "start", started.append)
    clock = Clock()
    rate, _ = limiter(clock)
    item = parse("1000/minute")
    for _ in range(200):
        clock.now += 0.02
        assert rate.hit(item, "token", "k")
    assert started == []


def test_clear_and_reset() -> None:
    clock = Clock()
    rate, storage = limiter(clock)
    item = parse("1/minute")
    assert rate.hit(item, "k")
    assert not rate.hit(item, "k")
    rate.clear(item, "k")
    assert rate.hit(item, "k")
    assert storage.reset() == 1
    assert rate.hit(item, "k")


def test_the_api_limits_use_it() -> None:
    limits = RateLimits(
        auth_failures=parse("2/minute"),
        token_requests=parse("3/minute"),
        limiter=SlidingWindowCounterRateLimiter(SweptMemoryStorage(clock=Clock())),
    )
    limits.failed("192.0.2.1")
    limits.check_address("192.0.2.1")
    limits.failed("192.0.2.1")
    with pytest.raises(ApiProblem) as refused:
        limits.check_address("192.0.2.1")
    assert refused.value.status == 429
