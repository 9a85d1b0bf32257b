"""Detector state on the database (processors/state.py, processors/runner.py): every
detector of a batch locks its keys in one round trip and saves in one statement; a
detector that raises loses only its own part; a second transaction wanting one of the
locked rows waits for the commit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
import pytest

from processors import state as state_store
from processors.detector import Outcome, State
from processors.runner import run_outcomes

pytestmark = pytest.mark.integration

PREFIX = "test.state."


@pytest.fixture
def conn(settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn()) as conn:
        _clean(conn)
        yield conn
        conn.rollback()
        _clean(conn)


def _clean(conn: psycopg.Connection) -> None:
    conn.execute("DELETE FROM detector_state WHERE detector LIKE %s", (PREFIX + "%",))
    conn.commit()


def stored(conn: psycopg.Connection) -> dict[tuple[str, str], dict[str, Any]]:
    rows = conn.execute(
        "SELECT detector, key, state FROM detector_state WHERE detector LIKE %s",
        (PREFIX + "%",),
    ).fetchall()
    return {(name, key): state for name, key, state in rows}


class Counting:
    """Counts events per key; `fail` names the step that raises (a bug)."""

    def __init__(self, name: str, fail: str = "") -> None:
        self.name = PREFIX + name
        self.fail = fail

    def keys(self, events: Sequence[Any]) -> set[str]:
        if self.fail == "keys":
            raise RuntimeError("bug in keys")
        return {str(e) for e in events}

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        if self.fail == "process":
            raise RuntimeError("bug in process")
        after: dict[str, State | None] = {}
        for key in sorted({str(e) for e in events}):
            seen = (after.get(key) or states.get(key) or {}).get("n", 0)
            after[key] = {"n": seen + sum(1 for e in events if str(e) == key)}
        # The runner only gathers signals; a name per key stands for one here.
        return Outcome(states=after, signals=[self.name for _ in after])  # type: ignore[misc]


def test_two_detectors_share_one_lock_and_one_save(conn: psycopg.Connection) -> None:
    a, b = Counting("a"), Counting("b")
    run_outcomes(conn, [(a, ["x", "y", "x"]), (b, ["x"])])
    conn.commit()
    run_outcomes(conn, [(a, ["x"]), (b, ["z"])])
    conn.commit()
    assert stored(conn) == {
        (a.name, "x"): {"n": 3},
        (a.name, "y"): {"n": 1},
        (b.name, "x"): {"n": 1},
        (b.name, "z"): {"n": 1},
    }


def test_a_detector_that_raises_loses_only_its_part(conn: psycopg.Connection) -> None:
    good, in_keys, in_process = Counting("good"), Counting("k", "keys"), Counting("p", "process")
    run_outcomes(conn, [(good, ["x"])])
    conn.commit()
    outcome = run_outcomes(conn, [(in_keys, ["x"]), (in_process, ["x"]), (good, ["x"])])
    conn.commit()
    assert outcome.signals == [good.name]
    # the failing ones keep no state; the placeholder of the one whose keys were read
    # stays empty (to a detector that is a new key)
    assert stored(conn) == {(good.name, "x"): {"n": 2}, (in_process.name, "x"): {}}


def test_forgotten_keys_and_keys_cut_to_one_prefix(conn: psycopg.Connection) -> None:
    long = "k" * (state_store.MAX_KEY_CHARS + 10)
    state_store.save_many(
        conn,
        {PREFIX + "a": {long: {"n": 1}, long + "x": {"n": 2}, "gone": None}},
    )
    conn.commit()
    assert stored(conn) == {
        (PREFIX + "a", long[: state_store.MAX_KEY_CHARS]): {"n": 2},
        (PREFIX + "a", "gone"): {},
    }
    locked = state_store.lock_many(conn, {PREFIX + "a": [long, "gone", "new"], PREFIX + "b": []})
    assert locked == {PREFIX + "a": {long[: state_store.MAX_KEY_CHARS]: {"n": 2}}, PREFIX + "b": {}}


def test_a_second_transaction_waits_for_the_locked_row(conn: psycopg.Connection, settings) -> None:
    state_store.lock_many(conn, {PREFIX + "a": ["x"], PREFIX + "b": ["y"]})
    with psycopg.connect(settings.dsn()) as other:
        other.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            state_store.lock_many(other, {PREFIX + "b": ["y"]})
        other.rollback()
        other.execute("SET lock_timeout = '200ms'")
        assert state_store.lock_many(other, {PREFIX + "b": ["free"]}) == {PREFIX + "b": {}}
        other.rollback()
        conn.commit()
        other.execute("SET lock_timeout = '200ms'")
        assert state_store.lock_many(other, {PREFIX + "b": ["y"]}) == {PREFIX + "b": {}}
