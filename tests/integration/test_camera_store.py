"""Line crossings, plate reads and the watch list on both engines: migration 14's tables
and grants, store/cameras.py, and the record sink behind the detector runner (a camera
detector's records stored with its events; a watch-listed plate raises one alert per
pass however often its messages come)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from events.camera_records import LineCrossing, PlateRead
from events.models import CameraEvent
from processors.alerts.manager import AlertManager
from processors.cameras.records import CameraRecordSink
from processors.detector import Outcome, State
from processors.runner import DetectorRunner, DetectorSet
from stack import postgres
from store import cameras
from store.migrations.m0009_dashboard_reads import READER_ROLE
from store.writer import Batch, BatchWriter
from tests.integration.engines import PLAIN, TIMESCALE, plain_database
from tests.integration.stub_routing import StubRouting

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TABLES = "line_crossings, plate_reads, plate_watchlist, camera_events, device_last_seen"


@pytest.fixture(scope="module", params=(TIMESCALE, PLAIN))
def dsn(request, settings) -> Iterator[str]:
    if request.param == TIMESCALE:
        if not postgres.timescale_installed():
            pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
        yield settings.dsn()
        return
    with plain_database(settings, "ioc_camera_store_plain") as plain:
        yield plain


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES}")
        conn.execute("DELETE FROM alerts WHERE rule = 'camera.plate_watch'")
        yield conn
        conn.execute("DELETE FROM alerts WHERE rule = 'camera.plate_watch'")


def _read(event_id: str, plate: str, norm: str, score: float | None, seconds: int = 0,
          camera: str = "ql1-cam02") -> PlateRead:  # fmt: skip
    return PlateRead(
        time=T0 + timedelta(seconds=seconds), camera=camera, plate=plate, plate_norm=norm,
        score=score, direction="forward", vehicle_type="car", event_id=event_id,
        snapshot=f"isapi:{event_id}.jpg", source="hikvision",
    )  # fmt: skip


def _crossing(event_id: str, seconds: float, label: str = "car", direction: str = "in",
              line: str = "lan_vao") -> LineCrossing:  # fmt: skip
    return LineCrossing(
        time=T0 + timedelta(seconds=seconds), camera="kh-cam01", line=line,
        direction=direction, label=label, event_id=event_id, source="frigate",
    )  # type: ignore[arg-type]  # fmt: skip


def test_the_dashboard_reader_reads_crossings_but_never_plates(conn) -> None:
    for table, allowed in (
        ("line_crossings", True), ("plate_reads", False), ("plate_watchlist", False),
    ):  # fmt: skip
        with conn.transaction(force_rollback=True):
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(READER_ROLE)))
            if allowed:
                conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                continue
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))


def test_crossings_are_stored_once_and_counted_per_minute(conn) -> None:
    batch = [
        _crossing("a", 5), _crossing("b", 20), _crossing("c", 30, direction="out"),
        _crossing("d", 59.9, label="person"), _crossing("e", 60), _crossing("f", 61, line="x"),
    ]  # fmt: skip
    assert cameras.insert_crossings(conn, batch) == 6
    assert cameras.insert_crossings(conn, [*batch[:3], _crossing("g", 70)]) == 1
    counts = cameras.crossing_counts(conn, T0, T0 + timedelta(minutes=2))
    got = {(c.minute - T0, c.line, c.label, c.direction): c.count for c in counts}
    minute = timedelta(minutes=1)
    assert got == {
        (timedelta(0), "lan_vao", "car", "in"): 2,
        (timedelta(0), "lan_vao", "car", "out"): 1,
        (timedelta(0), "lan_vao", "person", "in"): 1,
        (minute, "lan_vao", "car", "in"): 2,
        (minute, "x", "car", "in"): 1,
    }
    assert cameras.crossing_counts(conn, T0 + minute, T0 + minute) == []


def test_a_pass_keeps_its_best_read_and_is_matched_when_its_plate_changes(conn) -> None:
    first = _read("p1", "51F 123.45", "51F-12345", 0.6)
    assert cameras.store_plate_reads(conn, [first]) == [first]
    assert cameras.store_plate_reads(conn, [first]) == []  # re-delivered
    worse = _read("p1", "51F 123.46", "51F-12346", 0.5)
    same_better = _read("p1", "51F-123.45", "51F-12345", 0.8)
    assert cameras.store_plate_reads(conn, [worse, same_better]) == []
    other_better = _read("p1", "51F-123.48", "51F-12348", 0.9)
    assert cameras.store_plate_reads(conn, [other_better]) == [other_better]
    rows = conn.execute("SELECT plate, plate_norm, score, snapshot FROM plate_reads").fetchall()
    assert rows == [("51F-123.48", "51F-12348", pytest.approx(0.9), "isapi:p1.jpg")]
    # A batch holding several reads of one new pass stores its best one.
    reads = [_read("p2", "29A 999.99", "29A-99999", s, seconds=9) for s in (0.7, None, 0.95)]
    assert cameras.store_plate_reads(conn, reads) == [reads[2]]
    assert conn.execute("SELECT count(*) FROM plate_reads").fetchone()[0] == 2


def test_watch_hits_are_active_unexpired_entries_by_normalised_plate(conn) -> None:
    conn.execute(
        "INSERT INTO plate_watchlist (plate_norm, plate, reason, added_by, expires_at) VALUES"
        " ('51F-12345', '51F-123.45', 'xe bị trộm', 'op', NULL),"
        " ('29A-99999', '29A-999.99', 'hết hạn', 'op', now() - interval '1 minute'),"
        " ('30G-11111', '30G-111.11', 'còn hạn', 'op', now() + interval '1 day')"
    )
    reads = [
        _read("a", "51F12345", "51F-12345", 0.9),
        _read("b", "29A99999", "29A-99999", 0.9),
        _read("c", "30G 111.11", "30G-11111", 0.9),
        _read("d", "43A 000.01", "43A-00001", 0.9),
        _read("e", "", "", None),
    ]
    hits = cameras.watch_hits(conn, reads)
    assert [(r.event_id, e.reason) for r, e in hits] == [("a", "xe bị trộm"), ("c", "còn hạn")]


def test_segment_speed_pairs_each_read_with_the_plates_latest_read_upstream(conn) -> None:
    up, down = "ql1-cam02", "ql1-cam03"
    reads = [
        # 1800 m in 90 s = 72 km/h; the earlier upstream read of the same plate is ignored
        _read("u1", "51F12345", "51F-12345", 0.9, seconds=-600, camera=up),
        _read("u2", "51F12345", "51F-12345", 0.9, seconds=0, camera=up),
        _read("d1", "51F12345", "51F-12345", 0.9, seconds=90, camera=down),
        # 1800 m in 120 s = 54 km/h, same minute of the downstream read
        _read("u3", "29A99999", "29A-99999", 0.9, seconds=-10, camera=up),
        _read("d2", "29A99999", "29A-99999", 0.9, seconds=110, camera=down),
        # too fast (a misread: 1800 m in 5 s), too slow (read upstream 2 h before), unpaired
        _read("u4", "30G11111", "30G-11111", 0.9, seconds=100, camera=up),
        _read("d3", "30G11111", "30G-11111", 0.9, seconds=105, camera=down),
        _read("u5", "43A00001", "43A-00001", 0.9, seconds=-7200, camera=up),
        _read("d4", "43A00001", "43A-00001", 0.9, seconds=100, camera=down),
        _read("d5", "60C55555", "60C-55555", 0.9, seconds=100, camera=down),
        _read("d6", "", "", None, seconds=100, camera=down),
    ]
    cameras.store_plate_reads(conn, reads)
    speeds = cameras.segment_speeds(conn, up, down, 1800, T0, T0 + timedelta(minutes=5))
    assert [(s.minute, s.pairs) for s in speeds] == [(T0 + timedelta(minutes=1), 2)]
    assert speeds[0].speed_kmh == pytest.approx((72 + 54) / 2)


def test_watermarks(conn) -> None:
    conn.execute("DELETE FROM job_watermarks WHERE job = 'test-h2'")
    assert cameras.watermark(conn, "test-h2") is None
    cameras.set_watermark(conn, "test-h2", T0)
    cameras.set_watermark(conn, "test-h2", T0 + timedelta(minutes=1))
    assert cameras.watermark(conn, "test-h2") == T0 + timedelta(minutes=1)
    conn.execute("DELETE FROM job_watermarks WHERE job = 'test-h2'")


class PlateEcho:
    """A camera detector standing in for the rule pack's: each ANPR message becomes a
    plate read, each message with a `line` attribute a crossing. It keeps no state."""

    name = "test-plate-echo"

    def keys(self, events: Sequence[CameraEvent]) -> set[str]:
        return {e.camera for e in events}

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        out = Outcome()
        for e in events:
            if e.plate:
                norm = e.plate.replace(" ", "").replace(".", "").replace("-", "")
                out.records.append(PlateRead(
                    time=e.time, camera=e.camera, plate=e.plate, plate_norm=norm,
                    score=e.plate_score, direction=e.direction, vehicle_type=e.label,
                    event_id=e.event_id, snapshot=e.snapshot, source=e.source,
                ))  # fmt: skip
            if "line" in e.attributes:
                out.records.append(LineCrossing(
                    time=e.frame_time or e.time, camera=e.camera, line=e.attributes["line"],
                    direction="in", label=e.label or "car", event_id=e.event_id,
                    source=e.source,
                ))  # fmt: skip
        return out


def _anpr(event_id: str, plate: str, score: float, frame: int, state: str = "update",
          camera: str = "ql1-cam02") -> CameraEvent:  # fmt: skip
    return CameraEvent(
        time=T0, event_id=event_id, source="frigate", camera=camera, event_type="object",
        state=state, label="car", frame_time=T0 + timedelta(seconds=frame), plate=plate,
        plate_score=score, snapshot=f"frigate:{event_id}", attributes={"line": "lan_vao"},
    )  # fmt: skip


@pytest.fixture
def writer(conn) -> BatchWriter:
    sink = CameraRecordSink.load()
    runner = DetectorRunner(
        AlertManager(StubRouting()), lambda: DetectorSet(cameras=[PlateEcho()], record_sink=sink)
    )
    return BatchWriter(conn, runner)


def test_a_watched_plate_raises_one_alert_per_pass_through_the_runner(conn, writer) -> None:
    conn.execute(
        "INSERT INTO plate_watchlist (plate_norm, plate, reason, added_by)"
        " VALUES ('51F12345', '51F-123.45', 'xe bị trộm', 'op')"
    )
    first = [_anpr("car-1", "51F 123.46", 0.5, 0), _anpr("car-1", "51F 123.45", 0.7, 1)]
    writer.write(Batch(camera_events=first))
    writer.write(Batch(camera_events=first))  # re-delivered
    writer.write(Batch(camera_events=[_anpr("car-1", "51F 123.45", 0.9, 2, "end")]))
    # Another pass of the same car at the next camera: its own alert.
    writer.write(Batch(camera_events=[_anpr("car-2", "51F-123.45", 0.8, 60, camera="ql1-cam03")]))
    alerts = conn.execute(
        "SELECT labels, alert_values, event_ids, title_vi FROM alerts"
        " WHERE rule = 'camera.plate_watch' ORDER BY started_at, labels->>'camera'"
    ).fetchall()
    assert [(a[0], a[2]) for a in alerts] == [
        ({"camera": "ql1-cam02", "event_id": "car-1"}, ["car-1"]),
        ({"camera": "ql1-cam03", "event_id": "car-2"}, ["car-2"]),
    ]
    values = alerts[0][1]
    assert values["plate"] == "51F 123.45" and values["reason"] == "xe bị trộm"
    assert values["snapshot"] == "frigate:car-1" and values["event_ids"] == ["car-1"]
    assert "51F-123.45" in alerts[0][3]
    reads = conn.execute("SELECT event_id, plate, score FROM plate_reads ORDER BY 1").fetchall()
    assert reads == [
        ("car-1", "51F 123.45", pytest.approx(0.9)), ("car-2", "51F-123.45", pytest.approx(0.8))
    ]  # fmt: skip
    # Each message moved on once: crossings keyed by their moment, each stored once.
    assert conn.execute("SELECT count(*) FROM line_crossings").fetchone()[0] == 4
    seen = dict(conn.execute("SELECT device_id, last_seen FROM device_last_seen").fetchall())
    assert seen == {"ql1-cam02": T0 + timedelta(seconds=2), "ql1-cam03": T0 + timedelta(minutes=1)}


class Crashing:
    """A detector with a bug: every batch raises."""

    name = "test.crashing"

    def keys(self, events: Sequence[Any]) -> set[str]:
        return {"k"}

    def process(self, states: Mapping[str, State], events: Sequence[Any]) -> Outcome:
        raise KeyError("live")


def test_a_detector_that_raises_costs_its_own_detection_only(conn) -> None:
    from prometheus_client import REGISTRY

    def errors() -> float:
        labels = {"detector": "test.crashing"}
        return REGISTRY.get_sample_value("ioc_detector_errors_total", labels) or 0.0

    conn.execute(
        "INSERT INTO plate_watchlist (plate_norm, plate, reason, added_by)"
        " VALUES ('51F12345', '51F-123.45', 'xe bị trộm', 'op')"
    )
    conn.execute("DELETE FROM detector_state WHERE detector = 'test.crashing'")
    sink = CameraRecordSink.load()
    runner = DetectorRunner(
        AlertManager(StubRouting()),
        lambda: DetectorSet(cameras=[Crashing(), PlateEcho()], record_sink=sink),
    )
    before = errors()
    result = BatchWriter(conn, runner).write(
        Batch(camera_events=[_anpr("car-9", "51F 123.45", 0.9, 0)])
    )
    assert result.camera_events == 1  # stored
    assert errors() == before + 1
    # The other detector ran: its plate read stored, the watch-listed plate alerted.
    assert conn.execute("SELECT count(*) FROM plate_reads").fetchone() == (1,)
    assert conn.execute(
        "SELECT count(*) FROM alerts WHERE rule = 'camera.plate_watch'"
    ).fetchone() == (1,)
    # The broken detector's state row holds nothing new.
    rows = conn.execute(
        "SELECT state FROM detector_state WHERE detector = 'test.crashing'"
    ).fetchall()
    assert all(not r[0] for r in rows)
