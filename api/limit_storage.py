"""In-process storage for the API's rate limits: counters that expire without a timer thread.

Why not `limits`' own MemoryStorage: it expires keys from a `threading.Timer` of 10 ms,
and every hit that finds the last timer finished starts a new thread, waiting on the
event loop until the thread has started. At a few hundred requests a second (cameras
pushing ISAPI events, each authenticated) that was one thread start per request, about
two fifths of the event loop's busy time on a push (py-spy, docs/performance.md,
cameras). The library's documented extension point is a custom storage, so the strategy
(`SlidingWindowCounterRateLimiter`, its weighting and its keys) stays the library's; only
the counters live here, written by hand because no maintained library offers a
thread-free in-process one for `limits`.

Expiry is lazy: a key read after its expiry reads as absent, and at most once every
`sweep_seconds` a hit walks the counters and drops the expired ones, so memory holds only
the keys of the last two windows (what MemoryStorage holds too). One lock: every
operation is a few dictionary steps, and the API calls it from the event loop and from
worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from math import floor

from limits.storage import SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow

SWEEP_SECONDS = 1.0


class SweptMemoryStorage(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    STORAGE_SCHEME = ["ioc-memory"]  # noqa: RUF012 (the type limits declares: a list)

    def __init__(
        self,
        uri: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sweep_seconds: float = SWEEP_SECONDS,
        **options: float | str | bool,
    ) -> None:
        self._clock = clock
        self._sweep_seconds = sweep_seconds
        self._counts: dict[str, int] = {}
        self._expires_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + sweep_seconds
        super().__init__(uri, wrap_exceptions=False, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def __len__(self) -> int:
        """Keys held, expired ones not yet swept included."""
        return len(self._counts)

    # -- counters (the Storage interface) --------------------------------------------------
    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        with self._lock:
            now = self._clock()
            self._sweep_if_due(now)
            count = self._live(key, now) + amount
            self._counts[key] = count
            if count == amount:
                self._expires_at[key] = now + expiry
            return count

    def decr(self, key: str, amount: int = 1) -> int:
        with self._lock:
            count = max(self._live(key, self._clock()) - amount, 0)
            if key in self._counts:
                self._counts[key] = count
            return count

    def get(self, key: str) -> int:
        with self._lock:
            return self._live(key, self._clock())

    def get_expiry(self, key: str) -> float:
        with self._lock:
            return self._expires_at.get(key, self._clock())

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            held = len(self._counts)
            self._counts.clear()
            self._expires_at.clear()
            return held

    def clear(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    # -- sliding window counter (the strategy's arithmetic, as MemoryStorage does it) -------
    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        with self._lock:
            now = self._clock()
            self._sweep_if_due(now)
            previous_key, current_key = self.sliding_window_keys(key, expiry, now)
            previous, previous_ttl, current, _ = self._window(
                previous_key, current_key, expiry, now
            )
            if floor(previous * previous_ttl / expiry + current) + amount > limit:
                return False
            # A counter lives two windows: it is the previous window for the next one.
            if current == 0:
                self._expires_at[current_key] = now + 2 * expiry
            self._counts[current_key] = current + amount
            return True

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        with self._lock:
            now = self._clock()
            previous_key, current_key = self.sliding_window_keys(key, expiry, now)
            return self._window(previous_key, current_key, expiry, now)

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        with self._lock:
            for window_key in self.sliding_window_keys(key, expiry, self._clock()):
                self._drop(window_key)

    # -- under the lock ----------------------------------------------------------------------
    def _window(
        self, previous_key: str, current_key: str, expiry: int, now: float
    ) -> tuple[int, float, int, float]:
        previous = self._live(previous_key, now)
        previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous else 0.0
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, self._live(current_key, now), current_ttl

    def _live(self, key: str, now: float) -> int:
        if self._expires_at.get(key, 0.0) <= now:
            self._drop(key)
            return 0
        return self._counts.get(key, 0)

    def _drop(self, key: str) -> None:
        self._counts.pop(key, None)
        self._expires_at.pop(key, None)

    def _sweep_if_due(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_seconds
        for key in [k for k, at in self._expires_at.items() if at <= now]:
            self._drop(key)
