"""api/login_cache.py on fixed clocks: when a verified device login is used, and when not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.login_cache import LoginCache
from store.device_credentials import HttpLogin

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam


class Clocks:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return NOW + timedelta(seconds=self.seconds - 1000.0)


def cache(clocks: Clocks, ttl_seconds: float = 60.0, max_entries: int = 100) -> LoginCache:
    logins = LoginCache(ttl_seconds, max_entries, clocks.monotonic, clocks.wall)
    logins.listening(True)
    return logins


def test_a_verified_login_is_used_until_its_ttl() -> None:
    clocks = Clocks()
    logins = cache(clocks, ttl_seconds=60)
    logins.remember("token-a", HttpLogin("cam-1", None), logins.generation())
    assert logins.device_for("token-a") == "cam-1"
    assert logins.device_for("token-b") is None
    clocks.seconds += 59.9
    assert logins.device_for("token-a") == "cam-1"
    clocks.seconds += 0.2
    assert logins.device_for("token-a") is None
    assert len(logins) == 0


def test_never_past_the_end_of_a_grace_period() -> None:
    clocks = Clocks()
    logins = cache(clocks, ttl_seconds=60)
    ends = clocks.wall() + timedelta(seconds=5)
    logins.remember("old-token", HttpLogin("cam-1", ends), logins.generation())
    clocks.seconds += 4.9
    assert logins.device_for("old-token") == "cam-1"
    clocks.seconds += 0.2
    assert logins.device_for("old-token") is None
    over = clocks.wall() - timedelta(seconds=1)
    logins.remember("older-token", HttpLogin("cam-1", over), logins.generation())
    assert logins.device_for("older-token") is None


def test_off_until_listening_and_cleared_when_listening_stops_or_logins_change() -> None:
    clocks = Clocks()
    logins = LoginCache(clock=clocks.monotonic, wall_clock=clocks.wall)
    logins.remember("token-a", HttpLogin("cam-1", None), logins.generation())
    assert logins.device_for("token-a") is None  # not listening: nothing kept
    logins.listening(True)
    logins.remember("token-a", HttpLogin("cam-1", None), logins.generation())
    assert logins.device_for("token-a") == "cam-1"
    logins.notified({"kind": "credentials"})
    assert logins.device_for("token-a") is None
    logins.remember("token-a", HttpLogin("cam-1", None), logins.generation())
    logins.listening(False)
    assert logins.device_for("token-a") is None
    logins.listening(True)
    assert logins.device_for("token-a") is None  # what was held before the gap is gone


def test_a_lookup_overtaken_by_a_change_is_not_remembered() -> None:
    """The login was looked up (valid), then revoked and the cache cleared, then the
    lookup's answer arrives: it must not be kept."""
    logins = cache(Clocks())
    before = logins.generation()
    logins.notified({"kind": "credentials"})
    logins.remember("token-a", HttpLogin("cam-1", None), before)
    assert logins.device_for("token-a") is None


def test_bounded_by_dropping_the_least_recently_verified() -> None:
    logins = cache(Clocks(), max_entries=3)
    for n in range(5):
        logins.remember(f"token-{n}", HttpLogin(f"cam-{n}", None), logins.generation())
    assert len(logins) == 3
    assert [logins.device_for(f"token-{n}") for n in range(5)] == [
        None,
        None,
        "cam-2",
        "cam-3",
        "cam-4",
    ]


def test_tokens_are_kept_only_as_digests() -> None:
    logins = cache(Clocks())
    logins.remember("a-secret-token", HttpLogin("cam-1", None), logins.generation())
    assert "a-secret-token" not in repr(vars(logins))
