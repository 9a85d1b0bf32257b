"""Device HTTP logins this API process verified lately, so a camera pushing every few
seconds is not looked up in the database on every push.

Why: the lookup was a trip to the thread pool, a pooled connection and a query for
every ISAPI push, a fifth of the API's work on one (docs/performance.md, cameras).

When an entry is forgotten:
- whenever the database says logins changed: a revoke, a rotation, an expiry set, a
  device disabled or deleted, by any path, sends a notification on commit
  (store/migrations/m0025_login_changes.py) and the API's one listening connection
  (api/feed.py) clears the whole cache on it;
- while this process is not listening (starting, reconnecting) the cache is off and
  every login goes to the database; it is cleared when listening starts again, since
  notifications sent in between are lost;
- after `ttl_seconds` in any case, and at the end of a rotation's grace period (its
  `expires_at`), which no statement announces.
Only successful logins are kept, under the token's SHA-256 (never the token). Failed
ones are never cached: they are counted against the client address (api/limits.py).
Bounded: past `max_entries` the least recently verified entry goes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from store.device_credentials import HttpLogin

KIND = "credentials"  # the notification's kind (m0025_login_changes.LOGINS_CHANGED)
TTL_SECONDS = 60.0
MAX_ENTRIES = 20_000


class LoginCache:
    def __init__(
        self,
        ttl_seconds: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._on = False
        # Bumped by every clear: a login looked up before a clear is not remembered
        # after it (its revoke may be what the clear was for).
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def device_for(self, token: str) -> str | None:
        """The device of a login verified lately, or None (look it up)."""
        if not self._on:
            return None
        key = _key(token)
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            device_id, until = found
            if until <= self._clock():
                del self._entries[key]
                return None
            return device_id

    def generation(self) -> int:
        """Read before looking a login up; pass it to remember()."""
        return self._generation

    def remember(self, token: str, login: HttpLogin, generation: int) -> None:
        if not self._on:
            return
        now = self._clock()
        until = now + self._ttl
        if login.expires_at is not None:
            until = min(until, now + (login.expires_at - self._wall_clock()).total_seconds())
        if until <= now:
            return
        key = _key(token)
        with self._lock:
            if not self._on or generation != self._generation:
                return  # cleared while this login was being looked up
            self._entries[key] = (login.device_id, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    # -- the feed's watcher interface (api/feed.py) ----------------------------------------
    kind = KIND

    def notified(self, message: dict[str, Any]) -> None:
        self.clear()

    def listening(self, on: bool) -> None:
        """The feed's listening connection came up (on) or was lost: either way what
        is held may have been revoked unheard."""
        with self._lock:
            self._on = on
            self._entries.clear()
            self._generation += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
