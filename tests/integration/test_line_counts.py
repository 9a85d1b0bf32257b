"""The alert service's camera jobs on both engines: counting-line counts and ANPR speeds
become readings once per closed minute, through the writer and detector runner; read
plates and ISAPI pictures go after their retention period."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from events.camera_records import LineCrossing, PlateRead
from events.models import Measurement
from processors.jobs.base import run_exclusive
from processors.jobs.line_counts import JOB, LineCountsJob
from processors.jobs.plate_retention import PlateRetentionJob
from stack import postgres
from store import cameras
from store.writer import Batch
from tests.integration.engines import PLAIN, TIMESCALE, plain_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 08:00 local
MINUTE = timedelta(minutes=1)
REGISTRY = """
timezone: Asia/Ho_Chi_Minh
cameras:
  kh-cam01:
    site: Cảng Cam Ranh
    frame: {width: 1280, height: 720}
    lines:
      lan_vao: {points: [[0.1, 0.6], [0.9, 0.6]]}
      lan_ra: {points: [[0.1, 0.3], [0.9, 0.3]], in: right_to_left}
  ql1-cam02: {site: QL1A km 1, source: hikvision}
  ql1-cam03: {site: QL1A km 3, source: hikvision}
segments:
  ql1-test: {from: ql1-cam02, to: ql1-cam03, distance_m: 1800}
"""
CLASS_METRICS = 12


@pytest.fixture(scope="module", params=(TIMESCALE, PLAIN))
def dsn(request, settings) -> Iterator[str]:
    if request.param == TIMESCALE:
        if not postgres.timescale_installed():
            pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
        yield settings.dsn()
        return
    with plain_database(settings, "ioc_line_counts_plain") as plain:
        yield plain


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE line_crossings, plate_reads, measurements, device_last_seen")
        conn.execute("DELETE FROM job_watermarks WHERE job = %s", (JOB,))
        yield conn
        conn.execute("DELETE FROM job_watermarks WHERE job = %s", (JOB,))


class Recorder:
    """The detector runner's place: what the job hands on, per write."""

    def __init__(self) -> None:
        self.seen: list[list[Measurement]] = []

    def process(self, conn: psycopg.Connection, fresh: Batch) -> None:
        self.seen.append(list(fresh.measurements))


@pytest.fixture
def job(tmp_path: Path) -> tuple[LineCountsJob, Recorder]:
    path = tmp_path / "registry.yaml"
    path.write_text(REGISTRY)
    recorder = Recorder()
    return LineCountsJob.load(path, lambda: recorder), recorder


def _crossing(event_id: str, at: timedelta, line: str = "lan_vao", label: str = "car",
              direction: str = "in") -> LineCrossing:  # fmt: skip
    return LineCrossing(
        time=T0 + at, camera="kh-cam01", line=line, direction=direction,  # type: ignore[arg-type]
        label=label, event_id=event_id, source="frigate",
    )  # fmt: skip


def _read(event_id: str, camera: str, plate: str, at: timedelta) -> PlateRead:
    return PlateRead(
        time=T0 + at, camera=camera, plate=plate, plate_norm=plate, score=0.9,
        direction=None, vehicle_type="car", event_id=event_id, snapshot=None,
        source="hikvision",
    )  # fmt: skip


def _heard(conn: psycopg.Connection, camera: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO device_last_seen (device_id, last_seen) VALUES (%s, %s)"
        " ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen",
        (camera, at),
    )


def _stored(conn: psycopg.Connection) -> dict[tuple[timedelta, str, str], float]:
    rows = conn.execute("SELECT time, device_id, metric, value FROM measurements").fetchall()
    return {(t - T0, d, m): v for t, d, m, v in rows}


def _run(conn: psycopg.Connection, job: LineCountsJob, now: datetime) -> int | None:
    return run_exclusive(conn, JOB, job, now)


def test_each_closed_minute_becomes_readings_once_zeros_included(conn, job) -> None:
    line_job, recorder = job
    cameras.insert_crossings(conn, [
        _crossing("a", timedelta(seconds=10)),
        _crossing("b", timedelta(seconds=40), label="motorcycle"),
        _crossing("c", timedelta(seconds=50), label="person", direction="out"),
        _crossing("d", timedelta(minutes=1, seconds=5), line="lan_ra", label="truck",
                  direction="out"),
        _crossing("e", timedelta(minutes=1, seconds=6), line="cong_phu", label="van"),
        _crossing("late", timedelta(minutes=2, seconds=59)),
    ])  # fmt: skip
    cameras.store_plate_reads(conn, [
        _read("u1", "ql1-cam02", "51F-12345", timedelta(seconds=-30)),
        _read("d1", "ql1-cam03", "51F-12345", timedelta(minutes=1, seconds=30)),  # 54 km/h
    ])  # fmt: skip
    cameras.set_watermark(conn, JOB, T0)
    _heard(conn, "kh-cam01", T0 + 2 * MINUTE)
    # 03:00.5 - 60 s grace: minutes 00 and 01 are closed, 02 is not.
    written = _run(conn, line_job, T0 + 3 * MINUTE + timedelta(milliseconds=500))
    stored = _stored(conn)
    registry_points = 2 * 2 * (CLASS_METRICS + 1)  # two lines, two minutes
    extra = 1  # the unregistered line's vehicle_count (its class has no count metric)
    assert written == len(stored) == registry_points + extra + 1  # + one speed
    zero = timedelta(0)
    assert stored[(zero, "kh-cam01:lan_vao", "count_car_in")] == 1
    assert stored[(zero, "kh-cam01:lan_vao", "count_motorcycle_in")] == 1
    assert stored[(zero, "kh-cam01:lan_vao", "count_person_out")] == 1
    assert stored[(zero, "kh-cam01:lan_vao", "vehicle_count")] == 2
    assert stored[(zero, "kh-cam01:lan_ra", "vehicle_count")] == 0
    assert stored[(MINUTE, "kh-cam01:lan_ra", "count_truck_out")] == 1
    assert stored[(MINUTE, "kh-cam01:lan_vao", "count_car_in")] == 0
    assert stored[(MINUTE, "kh-cam01:cong_phu", "vehicle_count")] == 1
    assert stored[(MINUTE, "ql1-test", "speed_kmh")] == pytest.approx(54)
    assert sum(v for k, v in stored.items() if k[0] == zero) == 1 + 1 + 1 + 2
    assert [len(batch) for batch in recorder.seen] == [written]
    # The same moment again, and a moment before the next minute closes: nothing new.
    assert _run(conn, line_job, T0 + 3 * MINUTE + timedelta(seconds=30)) == 0
    assert len(recorder.seen) == 1
    # Minute 02 closes: the late crossing at 02:59 is in it.
    assert _run(conn, line_job, T0 + 4 * MINUTE + timedelta(seconds=1)) == 2 * (CLASS_METRICS + 1)
    assert _stored(conn)[(2 * MINUTE, "kh-cam01:lan_vao", "count_car_in")] == 1


def test_a_lost_watermark_writes_the_same_readings_once(conn, job) -> None:
    line_job, recorder = job
    cameras.insert_crossings(conn, [_crossing("a", timedelta(seconds=10))])
    _heard(conn, "kh-cam01", T0 + MINUTE)
    now = T0 + 2 * MINUTE + timedelta(seconds=1)  # minute 00 is the last closed one
    assert _run(conn, line_job, now) == 2 * (CLASS_METRICS + 1)
    before = _stored(conn)
    conn.execute("DELETE FROM job_watermarks WHERE job = %s", (JOB,))
    _run(conn, line_job, now)
    assert _stored(conn) == before
    assert recorder.seen[1] == []  # the runner saw nothing twice


def test_a_first_run_writes_only_the_last_closed_minute_and_backfill_is_bounded(conn, job) -> None:
    line_job, _ = job
    now = T0 + timedelta(hours=12)
    _heard(conn, "kh-cam01", now)
    assert _run(conn, line_job, now) == 2 * (CLASS_METRICS + 1)
    assert cameras.watermark(conn, JOB) == now - MINUTE
    # Down for a day: at most MAX_MINUTES per run, never before the backfill horizon.
    later = now + timedelta(days=1)
    _run(conn, line_job, later)
    assert cameras.watermark(conn, JOB) == later - MINUTE - timedelta(hours=6) + 60 * MINUTE


def test_zeros_only_while_the_camera_is_heard_from(conn, job) -> None:
    line_job, _ = job
    cameras.insert_crossings(conn, [_crossing("a", 3 * MINUTE + timedelta(seconds=1))])
    cameras.set_watermark(conn, JOB, T0)
    # Last heard at 01:30, expected every 60 s: alive in a minute ending at most 60 s
    # before 01:30 or later, so minutes 00 and 01; minute 02 ends 90 s after: silent.
    _heard(conn, "kh-cam01", T0 + MINUTE + timedelta(seconds=30))
    _run(conn, line_job, T0 + 6 * MINUTE)
    minutes = {(k[0] // MINUTE, k[1]) for k in _stored(conn) if k[2] == "vehicle_count"}
    assert minutes == {
        (0, "kh-cam01:lan_vao"), (0, "kh-cam01:lan_ra"),
        (1, "kh-cam01:lan_vao"), (1, "kh-cam01:lan_ra"),
        (3, "kh-cam01:lan_vao"),  # crossed while silent otherwise: its counts, no zeros
    }  # fmt: skip
    # A registered device's own interval counts: every 5 minutes keeps it alive longer.
    conn.execute(
        "INSERT INTO devices (id, type, province, lat, lon, expected_interval_s) VALUES"
        " ('kh-cam01', 'camera', 'Khánh Hòa', 11.92, 109.16, 300)"
        " ON CONFLICT (id) DO UPDATE SET expected_interval_s = 300"
    )
    try:
        conn.execute("TRUNCATE measurements")
        cameras.set_watermark(conn, JOB, T0)
        _run(conn, line_job, T0 + 6 * MINUTE)
        got = {k[0] // MINUTE for k in _stored(conn) if k[1] == "kh-cam01:lan_ra"}
        assert got == {0, 1, 2, 3, 4}  # 01:30 + 300 s: every minute closed by now
    finally:
        conn.execute("DELETE FROM devices WHERE id = 'kh-cam01'")


def test_plate_retention_deletes_old_reads_and_pictures_only(conn, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    ages = {"old-40d": 40, "old-31d": 31, "keep-29d": 29, "keep-1d": 1}
    cameras.store_plate_reads(conn, [
        _read(name, "ql1-cam02", "51F-12345", now - T0 - timedelta(days=days))
        for name, days in ages.items()
    ])  # fmt: skip
    pictures = tmp_path / "snapshots"
    pictures.mkdir()
    files = {
        "a" * 64 + ".jpg": 31,
        "b" * 64 + ".png": 29,
        "notes.txt": 90,
        "c" * 64 + ".jpg": 45,
    }
    for name, days in files.items():
        (pictures / name).write_bytes(b"x")
        stamp = (now - timedelta(days=days)).timestamp()
        os.utime(pictures / name, (stamp, stamp))
    pruned = run_exclusive(conn, "plate-retention", PlateRetentionJob(30, pictures), now)
    assert pruned is not None and pruned.snapshots == 2
    left = {r[0] for r in conn.execute("SELECT event_id FROM plate_reads").fetchall()}
    assert left == {"keep-29d", "keep-1d"}
    assert sorted(p.name for p in pictures.iterdir()) == ["b" * 64 + ".png", "notes.txt"]


def test_a_busy_line_raises_congestion_through_the_real_rules(settings) -> None:
    """The shipped registry, traffic rules and runner: 25 trucks a minute through the Cam
    Ranh port gate (its threshold is 20) for 7 minutes is one traffic.congestion alert."""
    from processors.catalog import build_runner
    from processors.environment.detector import state_key
    from processors.jobs.line_counts import LineCountsJob as Job

    point = "camranh_port_gate:gate_line"
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute("TRUNCATE line_crossings, measurements, device_last_seen")
        conn.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (point,))
        conn.execute("DELETE FROM job_watermarks WHERE job = %s", (JOB,))
        # Earlier tests' alert services counted this line "now"; the rule's state would
        # then hold a later time than these 2026-11-24 readings and skip them as late.
        conn.execute(
            "DELETE FROM detector_state WHERE detector = 'environment' AND key LIKE %s",
            (state_key("traffic.%", point, "%"),),
        )
        try:
            cameras.insert_crossings(conn, [_truck(minute, i) for minute in range(7)
                                            for i in range(25)])  # fmt: skip
            _heard(conn, "camranh_port_gate", T0 + 7 * MINUTE)
            cameras.set_watermark(conn, JOB, T0)
            job = Job.load(settings.camera_registry, lambda: build_runner(settings))
            run_exclusive(conn, JOB, job, T0 + 8 * MINUTE)
            alerts = conn.execute(
                "SELECT rule, status, alert_values->>'value' FROM alerts"
                " WHERE labels->>'device_id' = %s",
                (point,),
            ).fetchall()
            assert alerts == [("traffic.congestion", "firing", "25.0")]
        finally:
            conn.execute("DELETE FROM alerts WHERE labels->>'device_id' = %s", (point,))
            conn.execute("DELETE FROM job_watermarks WHERE job = %s", (JOB,))


def _truck(minute: int, i: int) -> LineCrossing:
    return LineCrossing(
        time=T0 + minute * MINUTE + timedelta(seconds=2 * i), camera="camranh_port_gate",
        line="gate_line", direction="in", label="truck", event_id=f"truck-{minute}-{i}",
        source="frigate",
    )  # fmt: skip
