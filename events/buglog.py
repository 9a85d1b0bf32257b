"""Rate-limited tracebacks for bugs the service survives (a decoder or a detector that
raised): one traceback per place and exception type per interval — enough for a
developer to see the bug, not one per message when a sender repeats what triggers it."""

from __future__ import annotations

import logging
import threading
import time

INTERVAL_SECONDS = 60.0


class BugLog:
    """Remembers when each (place, exception type) was last logged; thread-safe (the
    polling threads and writer threads share one)."""

    def __init__(self, logger: logging.Logger, what: str, outcome: str) -> None:
        self._log = logger
        self._what = what  # e.g. "decoder bug in format"
        self._outcome = outcome  # e.g. "message dead-lettered"
        self._lock = threading.Lock()
        self._last: dict[tuple[str | None, str], float] = {}
        self._suppressed: dict[tuple[str | None, str], int] = {}

    def report(self, place: str | None, error: BaseException) -> None:
        key = (place, type(error).__qualname__)
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < INTERVAL_SECONDS:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        self._log.error(
            "%s %s: %s (%s; %d more like it since the last traceback)",
            self._what, place, type(error).__name__, self._outcome, suppressed, exc_info=error,
        )  # fmt: skip
