"""The group committer's bound: past `max_queued_items` a request is refused (the API
answers 503 with Retry-After) instead of queueing without limit, and a request that
gave up before its group started is not written behind its back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from ingest.decode import Decoded, reject
from ingest.http import group as group_module
from ingest.http.group import Busy, GroupCommitter, Unavailable
from ingest.message import RawMessage
from ingest.routes import HttpConfig, load_routes


def letters(n: int) -> list[Decoded]:
    now = datetime.now(UTC)
    return [
        reject(RawMessage("http", "http/syslog", f"x{i}".encode(), received_at=now), "syslog", "x")
        for i in range(n)
    ]


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_full_queue_refuses_and_a_cancelled_request_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(group_module, "CONNECT_ATTEMPTS", 1)
    release = threading.Event()
    connects = []

    def connect() -> psycopg.Connection:
        connects.append(1)
        release.wait(10)  # the database is slow to answer
        raise psycopg.OperationalError("no database here")

    committer = GroupCommitter(connect, lambda: None, max_batch_items=100, max_queued_items=10)
    first = committer.submit(letters(5))
    wait_until(lambda: connects and committer.queued() == 0)  # being written
    second = committer.submit(letters(8))
    with pytest.raises(Busy):
        committer.submit(letters(5))
    third = committer.submit(letters(2))
    assert committer.queued() == 10
    assert third.cancel()  # the request timed out while queued
    release.set()
    with pytest.raises(Unavailable):
        first.result(10)
    with pytest.raises(Unavailable):
        second.result(10)
    committer.close()
    assert len(connects) == 2  # the first group, then the second; never the cancelled one


def test_one_request_larger_than_the_queue_bound_is_still_taken_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(group_module, "CONNECT_ATTEMPTS", 1)
    release = threading.Event()

    def connect() -> psycopg.Connection:
        release.wait(10)
        raise psycopg.OperationalError("no database here")

    committer = GroupCommitter(connect, lambda: None, max_batch_items=5, max_queued_items=3)
    future = committer.submit(letters(7))  # within max_items, over the queue bound
    release.set()
    with pytest.raises(Unavailable):
        future.result(10)
    committer.close()


def recording_groups(
    monkeypatch: pytest.MonkeyPatch,
    linger_seconds: float,
    linger_by_format: dict[str, float] | None = None,
) -> tuple[GroupCommitter, list[int]]:
    """A committer that writes nothing and records how many requests each group held."""
    groups: list[int] = []

    def commit(self: GroupCommitter, jobs: list[object]) -> list[list[object]]:
        groups.append(len(jobs))
        return [[] for _ in jobs]

    monkeypatch.setattr(GroupCommitter, "_commit", commit)
    committer = GroupCommitter(
        lambda: None,  # type: ignore[arg-type,return-value]
        lambda: None,
        max_batch_items=100,
        max_queued_items=100,
        linger_seconds=linger_seconds,
        linger_by_format=linger_by_format,
    )
    return committer, groups


def test_requests_close_together_share_one_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """A camera's push alone is a group of one; two pushes within the linger share one
    transaction, and neither waits longer than the linger for company."""
    committer, groups = recording_groups(monkeypatch, linger_seconds=0.3)
    first = committer.submit(letters(1))
    time.sleep(0.05)
    second = committer.submit(letters(1))
    first.result(5)
    second.result(5)
    started = time.monotonic()
    committer.submit(letters(1)).result(5)
    alone = time.monotonic() - started
    committer.close()
    assert groups == [2, 1]
    assert alone >= 0.25  # it waited for company (result(5) bounds the rest), then went alone


def isapi_push() -> list[Decoded]:
    now = datetime.now(UTC)
    message = RawMessage("http", "http/isapi/cam-1", b"<x/>", received_at=now)
    return [reject(message, "isapi", "x")]


def test_a_format_lingers_for_its_own_time_and_a_group_closes_at_the_earliest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Camera pushes wait longer for company than the default; a request of another
    format joining such a group still waits no longer than its own linger."""
    committer, groups = recording_groups(
        monkeypatch, linger_seconds=0.0, linger_by_format={"isapi": 0.6}
    )

    def timed(items: list[Decoded]) -> float:
        started = time.monotonic()
        committer.submit(items).result(5)
        return time.monotonic() - started

    assert timed(letters(1)) < 0.3  # syslog: no linger
    assert timed(isapi_push()) >= 0.55  # a push alone waits its linger for company
    push = committer.submit(isapi_push())
    time.sleep(0.05)
    started = time.monotonic()
    committer.submit(letters(1)).result(5)  # joins the push's group, closes it at once
    joined = time.monotonic() - started
    push.result(5)
    committer.close()
    assert joined < 0.3
    assert groups == [1, 1, 2]


def test_lingers_name_known_formats_within_a_second() -> None:
    shipped = load_routes(Path(__file__).resolve().parents[2] / "deploy/ingest/routes.yaml")
    assert shipped.http.linger_by_format["isapi"] > shipped.http.linger_seconds
    with pytest.raises(ValueError, match="no_such_format"):
        HttpConfig(linger_by_format={"no_such_format": 0.1})
    with pytest.raises(ValueError, match="not in"):
        HttpConfig(linger_by_format={"isapi": 5})
