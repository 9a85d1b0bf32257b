"""The detector-ticks job (processors/jobs/detector_ticks.py) on the database, with the
shipped camera detectors behind the real BatchWriter and runner: a night intrusion the
camera never follows up resolves from the job's (fixed) clock, counted from when the
state was written, not from the events' own (past) times; and a worker and the job
touching one camera's state at once queue on its row, whichever comes first, so neither
loses the other's update."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from config.timezone import LOCAL_TZ
from events.models import CameraEvent
from processors.alerts.manager import AlertManager
from processors.cameras import load_camera_detectors
from processors.cameras.records import CameraRecordSink
from processors.jobs.base import run_exclusive
from processors.jobs.detector_ticks import JOB, DetectorTicksJob
from processors.runner import DetectorRunner, DetectorSet
from store.writer import Batch, BatchWriter
from tests.integration.stub_routing import StubRouting

pytestmark = pytest.mark.integration

NIGHT = datetime(2026, 11, 24, 23, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
GATE = "camranh_port_gate"  # gate_lane closed to people 22:00-05:00
GAP = timedelta(minutes=5)  # the shipped pack's intrusion episode_gap_seconds
TABLES = "line_crossings, plate_reads, camera_events, device_last_seen"


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
def detectors() -> DetectorSet:
    return DetectorSet(cameras=load_camera_detectors(), record_sink=CameraRecordSink.load())


@pytest.fixture
def job(detectors: DetectorSet) -> DetectorTicksJob:
    return DetectorTicksJob(AlertManager(StubRouting()), lambda: detectors)


def runner(detectors: DetectorSet) -> DetectorRunner:
    return DetectorRunner(AlertManager(StubRouting()), lambda: detectors)


def person(event_id: str, at: datetime, state: str = "new") -> CameraEvent:
    return CameraEvent(
        time=at, frame_time=at, event_id=event_id, source="frigate", camera=GATE,
        event_type="object", state=state, label="person", zones=("gate_lane",),
        attributes={"current_zones": ["gate_lane"]}, has_snapshot=True,
        snapshot=f"frigate:{event_id}",
    )  # fmt: skip


def alerts(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT status, alert_values->'event_ids' FROM alerts"
        " WHERE rule = 'camera.intrusion' ORDER BY started_at, id"
    ).fetchall()


def episode(conn: psycopg.Connection) -> dict[str, Any]:
    row = conn.execute(
        "SELECT state FROM detector_state WHERE detector = 'camera.intrusion' AND key = %s",
        (GATE,),
    ).fetchone()
    assert row is not None
    return row[0]


def written(conn: psycopg.Connection) -> datetime:
    """When a batch (or the job) last wrote the camera's intrusion state."""
    row = conn.execute(
        "SELECT updated_at FROM detector_state WHERE detector = 'camera.intrusion' AND key = %s",
        (GATE,),
    ).fetchone()
    assert row is not None
    return row[0]


def tick(conn: psycopg.Connection, job: DetectorTicksJob, now: datetime) -> int | None:
    return run_exclusive(conn, JOB, job, now)


def test_a_night_intrusion_nobody_follows_up_resolves_from_the_jobs_clock(
    conn: psycopg.Connection, detectors: DetectorSet, job: DetectorTicksJob
) -> None:
    writer = BatchWriter(conn, runner(detectors))
    seen = [person("p1", NIGHT), person("p1", NIGHT + timedelta(seconds=20), "update")]
    writer.write(Batch(camera_events=seen))
    writer.write(Batch(camera_events=seen))  # re-delivered: nothing new
    assert alerts(conn) == [("firing", ["p1"])]
    last = NIGHT + timedelta(seconds=20)
    # The events are days old (the clock says so), yet the episode is new to the system.
    at = written(conn)
    assert tick(conn, job, at + timedelta(seconds=15)) == 0
    assert tick(conn, job, at + GAP) == 0  # the gap itself is still the episode
    assert alerts(conn) == [("firing", ["p1"])]
    assert tick(conn, job, at + GAP + timedelta(seconds=15)) == 1
    assert alerts(conn) == [("resolved", ["p1"])]
    resolved_at, status = conn.execute(
        "SELECT h.event_time, h.status FROM alert_history h JOIN alerts a ON a.id = h.alert_id"
        " WHERE a.rule = 'camera.intrusion' ORDER BY h.id DESC LIMIT 1"
    ).fetchone()
    assert resolved_at == last + GAP and status == "resolved"
    assert episode(conn) == {}  # forgotten: the next sighting is a new episode
    assert tick(conn, job, at + GAP + timedelta(seconds=30)) == 0
    writer.write(Batch(camera_events=[person("p2", NIGHT + timedelta(minutes=20))]))
    assert alerts(conn) == [("resolved", ["p1"]), ("firing", ["p2"])]


def _wait_for_lock(conn: psycopg.Connection, pid: int) -> None:
    """Until backend `pid` waits on a row lock (the test fails if it never does)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.05)
    raise AssertionError(f"backend {pid} never waited for a lock")


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(work()))
    thread.start()
    return thread, done


def test_a_worker_waits_for_the_job_and_then_sees_the_episode_closed(
    settings, conn: psycopg.Connection, detectors: DetectorSet, job: DetectorTicksJob
) -> None:
    BatchWriter(conn, runner(detectors)).write(Batch(camera_events=[person("p1", NIGHT)]))
    now = written(conn) + GAP + timedelta(seconds=30)
    with (
        psycopg.connect(settings.dsn()) as job_conn,
        psycopg.connect(settings.dsn(), autocommit=True) as worker_conn,
    ):
        assert job(job_conn, now) == 1  # its transaction stays open: the row stays locked
        # A person at the gate just as the job closes the episode.
        writer = BatchWriter(worker_conn, runner(detectors))
        seen = NIGHT + GAP + timedelta(seconds=30)
        thread, done = _in_thread(lambda: writer.write(Batch(camera_events=[person("p3", seen)])))
        _wait_for_lock(conn, worker_conn.info.backend_pid)
        assert alerts(conn) == [("firing", ["p1"])]  # nothing of the job visible yet
        job_conn.commit()
        thread.join(20)
        assert done, "the worker's batch did not finish"
    # The worker saw the closed episode: p3 is a new one, nothing overwritten.
    assert alerts(conn) == [("resolved", ["p1"]), ("firing", ["p3"])]
    assert episode(conn)["zones"]["gate_lane"]["ids"] == ["p3"]


def test_the_job_waits_for_a_worker_and_then_sees_its_sighting(
    settings, conn: psycopg.Connection, detectors: DetectorSet, job: DetectorTicksJob
) -> None:
    BatchWriter(conn, runner(detectors)).write(Batch(camera_events=[person("p1", NIGHT)]))
    # As if the camera had been silent for 6 minutes since: the job finds the episode due.
    conn.execute(
        "UPDATE detector_state SET updated_at = updated_at - interval '6 minutes'"
        " WHERE detector = 'camera.intrusion' AND key = %s",
        (GATE,),
    )
    now = written(conn) + timedelta(minutes=6)
    late = NIGHT + timedelta(minutes=4, seconds=50)  # p1 again, its message late
    with (
        psycopg.connect(settings.dsn()) as worker_conn,
        psycopg.connect(settings.dsn(), autocommit=True) as job_conn,
    ):
        # The worker's batch transaction, open: it holds the camera's state row.
        runner(detectors).process(worker_conn, Batch(camera_events=[person("p1", late, "update")]))
        thread, done = _in_thread(lambda: tick(job_conn, job, now))
        _wait_for_lock(conn, job_conn.info.backend_pid)
        worker_conn.commit()
        thread.join(20)
        assert done == [0]  # it decided on the worker's state: the episode goes on
    assert alerts(conn) == [("firing", ["p1"])]
    assert episode(conn)["zones"]["gate_lane"]["count"] == 2
    # Without the worker's sighting the job would have resolved it; with it, later.
    assert tick(conn, job, written(conn) + GAP + timedelta(seconds=1)) == 1
    assert alerts(conn) == [("resolved", ["p1"])]


def test_the_alert_service_runs_the_job_with_the_shipped_detectors(
    settings, conn: psycopg.Connection
) -> None:
    from processors.alerts.channels import channels_path, load_channels
    from processors.service import build_jobs

    (scheduled,) = [
        j for j in build_jobs(settings, load_channels(channels_path(settings)))
        if j.name == JOB
    ]  # fmt: skip
    assert isinstance(scheduled.job, DetectorTicksJob) and scheduled.every <= 30
    BatchWriter(conn, runner(DetectorSet(cameras=load_camera_detectors()))).write(
        Batch(camera_events=[person("p1", NIGHT)])
    )
    at = written(conn)
    assert run_exclusive(conn, JOB, scheduled.job, at + timedelta(minutes=1)) == 0
    assert run_exclusive(conn, JOB, scheduled.job, at + timedelta(minutes=6)) == 1
    assert alerts(conn) == [("resolved", ["p1"])]
