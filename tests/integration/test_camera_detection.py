"""The shipped camera detectors (processors/cameras/, the shipped registry and rule pack)
behind the real BatchWriter and detector runner on the database: state through JSONB,
records through the record sink, alerts through the alert manager; a re-delivered batch
changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from config.timezone import LOCAL_TZ
from events.models import CameraEvent
from processors.alerts.manager import AlertManager
from processors.cameras import load_camera_detectors
from processors.cameras.records import CameraRecordSink
from processors.runner import DetectorRunner, DetectorSet
from store.writer import Batch, BatchWriter
from tests.integration.stub_routing import StubRouting

pytestmark = pytest.mark.integration

NIGHT = datetime(2026, 11, 24, 23, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
DAY = datetime(2026, 11, 24, 10, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
GATE = "camranh_port_gate"  # gate_lane closed 22:00-05:00; gate_line at y = 0.7
TABLES = "line_crossings, plate_reads, plate_watchlist, camera_events, device_last_seen"


@pytest.fixture
def conn(settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        _clean(conn)
        yield conn
        _clean(conn)


def _clean(conn: psycopg.Connection) -> None:
    conn.execute(f"TRUNCATE {TABLES}")
    conn.execute("DELETE FROM alerts WHERE rule LIKE 'camera.%'")
    conn.execute("DELETE FROM detector_state WHERE detector LIKE 'camera.%'")


@pytest.fixture
def writer(conn) -> BatchWriter:
    detectors = DetectorSet(cameras=load_camera_detectors(), record_sink=CameraRecordSink.load())
    return BatchWriter(conn, DetectorRunner(AlertManager(StubRouting()), lambda: detectors))


def frigate(at: datetime, seconds: float, event_id: str, state: str, foot_y: float,
            **fields: Any) -> CameraEvent:  # fmt: skip
    """A Frigate message: a person in the gate lane, the box's foot at height foot_y."""
    y = foot_y * 720
    return CameraEvent(
        time=at, frame_time=at + timedelta(seconds=seconds), event_id=event_id,
        source="frigate", camera=GATE, event_type="object", state=state, label="person",
        zones=("gate_lane",), attributes={"current_zones": ["gate_lane"]},
        box=(610.0, y - 140, 670.0, y), has_snapshot=True, snapshot=f"frigate:{event_id}",
        **fields,
    )  # fmt: skip


def walk(at: datetime, event_id: str, **fields: Any) -> list[CameraEvent]:
    feet = [0.5, 0.6, 0.68, 0.74, 0.8, 0.85]
    states = ["new", "update", "update", "update", "update", "end"]
    return [
        frigate(at, 2 * i, event_id, s, y, **fields)
        for i, (s, y) in enumerate(zip(states, feet, strict=True))
    ]


def test_a_night_walk_through_the_gate_is_one_alert_one_crossing_and_one_read(
    conn: psycopg.Connection, writer: BatchWriter
) -> None:
    conn.execute(
        "INSERT INTO plate_watchlist (plate_norm, plate, reason, added_by)"
        " VALUES ('51F-12345', '51F-123.45', 'xe bị trộm', 'op')"
    )
    events = walk(NIGHT, "p1", plate="51F 123.45", plate_score=0.8)
    # In three batches, then all of it again (a re-delivery).
    writer.write(Batch(camera_events=events[:2]))
    writer.write(Batch(camera_events=events[2:4]))
    writer.write(Batch(camera_events=events[4:]))
    writer.write(Batch(camera_events=events))
    alerts = conn.execute(
        "SELECT rule, labels, status, alert_values->'event_ids', alert_values->>'snapshot'"
        " FROM alerts WHERE rule LIKE 'camera.%' ORDER BY rule"
    ).fetchall()
    assert alerts == [
        ("camera.intrusion", {"camera": GATE, "zone": "gate_lane"}, "firing", ["p1"],
         "frigate:p1"),
        ("camera.plate_watch", {"camera": GATE, "event_id": "p1"}, "firing", ["p1"],
         "frigate:p1"),
    ]  # fmt: skip
    crossings = conn.execute(
        "SELECT camera, line, direction, label, event_id FROM line_crossings"
    ).fetchall()
    assert crossings == [(GATE, "gate_line", "in", "person", "p1")]
    reads = conn.execute("SELECT plate, plate_norm, event_id FROM plate_reads").fetchall()
    assert reads == [("51F 123.45", "51F-12345", "p1")]


def test_the_same_walk_by_day_raises_nothing_but_still_counts(
    conn: psycopg.Connection, writer: BatchWriter
) -> None:
    writer.write(Batch(camera_events=walk(DAY, "p2")))
    assert conn.execute("SELECT count(*) FROM alerts WHERE rule LIKE 'camera.%'").fetchone() == (0,)
    assert conn.execute("SELECT direction FROM line_crossings").fetchall() == [("in",)]
