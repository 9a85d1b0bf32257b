"""When a worker's batch closes (ingest/worker.py, batching in ingest/routes.py): at the
earliest window of the messages it holds; camera formats may wait longer than readings,
never a reading longer than its own window."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ingest.decode import Decoded
from ingest.message import RawMessage
from ingest.routes import Batching, RoutesConfig, load_routes
from ingest.worker import SourceWorker

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "ingest" / "routes.yaml"


class IdleSource:
    transport = "mqtt"


def worker(batching: Batching, clock: list[float], monkeypatch: pytest.MonkeyPatch) -> SourceWorker:
    monkeypatch.setattr("ingest.worker.time.monotonic", lambda: clock[0])
    config = RoutesConfig(batching=batching)
    # Never started: no thread runs and no connection is made.
    return SourceWorker(IdleSource(), None, config, lambda: None, threading.Event())  # type: ignore[arg-type]


def item(format_name: str | None) -> Decoded:
    return Decoded(RawMessage("mqtt", "t", b"{}"), format_name, [])


def take(w: SourceWorker, *formats: str | None) -> float:
    decoded = [item(f) for f in formats]
    w._move_deadline(decoded)
    w._pending.extend(decoded)
    return w._deadline


def test_camera_events_wait_longer_and_a_reading_shortens_the_batch(monkeypatch) -> None:
    clock = [100.0]
    w = worker(
        Batching(max_wait_seconds=0.1, max_wait_by_format={"frigate": 0.5}), clock, monkeypatch
    )
    assert take(w, "frigate") == pytest.approx(100.5)
    clock[0] = 100.2
    assert take(w, "frigate") == pytest.approx(100.5)  # the first message's window holds
    clock[0] = 100.3
    assert take(w, "ioc_telemetry") == pytest.approx(100.4)  # a reading waits 0.1 s at most
    w._pending.clear()
    clock[0] = 101.0
    assert take(w, None, "frigate") == pytest.approx(101.1)  # unroutable: the default window


def test_windows_name_known_formats_within_ten_seconds() -> None:
    assert load_routes(SHIPPED).batching.wait_for("frigate") > load_routes(
        SHIPPED
    ).batching.wait_for("ioc_telemetry")
    with pytest.raises(ValueError, match="no_such_format"):
        Batching(max_wait_by_format={"no_such_format": 1.0})
    with pytest.raises(ValueError, match="not in"):
        Batching(max_wait_by_format={"frigate": 30})
