"""The store on both engines in one run: migrations, the batch writer's COPY, rollups,
retention and every read query of store/queries.py, on the test database (TimescaleDB
whenever the test cluster has the library: `make test` with IOC_TIMESCALEDB_SOURCE) and
on a second database of the same cluster made on plain PostgreSQL on purpose."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from events.models import CameraEvent, DeadLetter, Measurement, SecurityEvent
from stack import postgres
from store import queries, retention, rollups
from store.engine import Engine, recorded
from store.migrate import migrate
from store.writer import Batch, BatchWriter
from tests.integration.engines import PLAIN, TIMESCALE, plain_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
# Two devices, two metrics, 3 hours of one reading a minute; every 10th reading is bad
# quality and must stay out of the rollups.
ROWS = [
    (T0 + timedelta(minutes=i), device, metric, float(i % 60) + (0.5 if device == "b" else 0),
     2 if i % 10 == 0 else 0)
    for device in ("a", "b") for metric in ("pm25", "waterLevel") for i in range(180)
]  # fmt: skip
ENGINES = (TIMESCALE, PLAIN)
needs_timescale = pytest.mark.skipif(
    not postgres.timescale_installed(),
    reason="the TimescaleDB library is not installed here: `make test` builds it when"
    " IOC_TIMESCALEDB_SOURCE names the vendored source (../shared/vendor/timescaledb)",
)


@pytest.fixture(scope="module")
def plain_dsn(settings) -> Iterator[str]:
    with plain_database(settings, "ioc_store_plain") as dsn:
        yield dsn


@pytest.fixture(params=ENGINES)
def store_db(request, settings, plain_dsn) -> Iterator[psycopg.Connection]:
    """The main test database (TimescaleDB when installed) or the plain one."""
    if request.param == TIMESCALE and not postgres.timescale_installed():
        pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
    dsn = settings.dsn() if request.param == TIMESCALE else plain_dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, "auto" if request.param == TIMESCALE else "postgresql")
        yield conn


def _writer_batch() -> Batch:
    batch = Batch(
        measurements=[
            Measurement(time=t, device_id=d, metric=m, value=v, quality=q) for t, d, m, v, q in ROWS
        ],
        security_events=[
            SecurityEvent(
                time=T0 + timedelta(seconds=i),
                event_id=f"eng-{i}",
                dataset="system.auth",
                source_ip="203.0.113.7" if i % 2 else "198.51.100.9",
                message=f"fail {i}",
                raw=b"x",
            )
            for i in range(20)
        ],
        camera_events=[
            CameraEvent(
                time=T0 + timedelta(minutes=i),
                event_id=f"cam-{i}",
                source="frigate",
                camera="cong-cang" if i % 2 else "ben-xe",
                event_type="object",
                state="new",
                label="person",
                zones=("gate",),
            )
            for i in range(6)
        ],
        dead_letters=[
            DeadLetter(
                transport="mqtt", topic="ioc/v1/x/telemetry", payload=b"{", reason="bad json"
            )
        ],
    )
    batch.render()
    return batch


def _seed(conn: psycopg.Connection) -> None:
    """Through the real batch writer: COPY straight into the (hyper)tables."""
    conn.execute("TRUNCATE measurements, security_events, camera_events, dead_letters")
    conn.autocommit = False
    try:
        BatchWriter(conn).write(_writer_batch())
        conn.commit()
    finally:
        conn.autocommit = True


def _refresh(conn: psycopg.Connection) -> None:
    if recorded(conn) is Engine.TIMESCALE:
        for view in ("measurements_1m", "measurements_1h"):
            conn.execute(
                "CALL refresh_continuous_aggregate(%s, %s, %s)",
                (view, T0 - timedelta(hours=1), T0 + timedelta(hours=4)),
            )
    else:
        conn.execute("DELETE FROM rollup_watermarks")
        rollups.refresh(conn)


def _answers(conn: psycopg.Connection) -> dict[str, object]:
    """Every read query of store/queries.py, in a form both engines must agree on."""
    start, end = T0, T0 + timedelta(hours=3)
    return {
        "latest": [
            (r["metric"], r["time"], r["value"]) for r in queries.latest(conn, "b", since=start)
        ],
        "latest_after_end": queries.latest(conn, "b", since=end),
        "raw": len(queries.series(conn, "a", "pm25", start, end, "raw")),
        "1m": [
            (r["time"], r["avg"], r["count"])
            for r in queries.series(conn, "a", "pm25", start, end, "1m")
        ],
        "1h": [
            (r["time"], round(r["avg"], 6), r["min"], r["max"], r["count"])
            for r in queries.series(conn, "b", "waterLevel", start, end, "1h")
        ],
        "dead_letters": [(r["topic"], r["reason"]) for r in queries.dead_letters(conn)],
        "security": [
            r["event_id"] for r in queries.security_events(conn, T0, source_ip="203.0.113.7")
        ],
        "camera": [r["event_id"] for r in queries.camera_events(conn, T0, camera="cong-cang")],
        "counts": {k: v for k, v in queries.table_counts(conn).items() if k != "devices"},
    }


@pytest.mark.parametrize("which", ENGINES)
def test_engine_is_recorded_and_migrations_idempotent(which, settings, plain_dsn):
    if which == TIMESCALE and not postgres.timescale_installed():
        pytest.skip("TimescaleDB library not installed (IOC_TIMESCALEDB_SOURCE unset)")
    dsn = settings.dsn() if which == TIMESCALE else plain_dsn
    wanted = "auto" if which == TIMESCALE else "postgresql"
    with psycopg.connect(dsn, autocommit=True) as conn:
        first = migrate(conn, wanted)
        again = migrate(conn, wanted)
        expected = Engine.TIMESCALE if which == TIMESCALE else Engine.POSTGRES
        assert recorded(conn) is expected
        assert first.engine.engine is expected and again.engine.engine is expected
        assert again.applied == [] and again.version == first.version >= 5
        engines = {r[0] for r in conn.execute("SELECT engine FROM schema_migrations")}
        assert engines == {expected.value}


@needs_timescale
def test_timescale_hypertables_aggregates_and_policies(settings):
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        migrate(conn)
        hypertables = {
            r[0]
            for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        }
        assert {"measurements", "camera_events", "security_events"} <= hypertables
        caggs = {
            r[0]
            for r in conn.execute(
                "SELECT view_name FROM timescaledb_information.continuous_aggregates"
            )
        }
        assert caggs == {"measurements_1m", "measurements_1h"}
        jobs = {r[0] for r in conn.execute("SELECT proc_name FROM timescaledb_information.jobs")}
        assert {
            "policy_compression",
            "policy_retention",
            "policy_refresh_continuous_aggregate",
        } <= jobs


@needs_timescale
def test_same_queries_same_answers_on_both_engines(settings, plain_dsn):
    answers = {}
    for which, dsn, wanted in (
        (TIMESCALE, settings.dsn(), "auto"),
        (PLAIN, plain_dsn, "postgresql"),
    ):
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn, wanted)
            _seed(conn)
            _refresh(conn)
            answers[which] = _answers(conn)
    assert answers[TIMESCALE] == answers[PLAIN]
    plain = answers[PLAIN]
    assert plain["raw"] == 180
    assert len(plain["1m"]) == 162  # 180 minutes less the 18 bad-quality ones
    first_hour = plain["1h"][0]
    assert first_hour[4] == 54 and first_hour[2] == 1.5 and first_hour[3] == 59.5
    assert plain["security"] == [f"eng-{i}" for i in range(19, 0, -2)]
    assert plain["camera"] == ["cam-5", "cam-3", "cam-1"]
    assert plain["counts"] == {
        "measurements": 720, "camera_events": 6, "security_events": 20, "dead_letters": 1
    }  # fmt: skip


def test_queries_answer_on_plain_postgres_alone(plain_dsn):
    """The read queries on plain PostgreSQL, also where no TimescaleDB exists to compare."""
    with psycopg.connect(plain_dsn, autocommit=True) as conn:
        _seed(conn)
        _refresh(conn)
        answers = _answers(conn)
    assert answers["raw"] == 180 and len(answers["1m"]) == 162
    assert answers["latest"][0][1] == T0 + timedelta(minutes=179)
    assert answers["latest_after_end"] == []  # nothing newer than its bound
    assert answers["dead_letters"] == [("ioc/v1/x/telemetry", "bad json")]


def _rollup(conn: psycopg.Connection, table: str, device: str) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT bucket, metric, round(avg::numeric, 9), min, max, count FROM {table}"
        " WHERE device_id = %s ORDER BY bucket, metric",
        (device,),
    ).fetchall()


def _from_raw(conn: psycopg.Connection, width: str, device: str) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT date_bin(INTERVAL '{width}', time, TIMESTAMPTZ 'epoch') AS b, metric,"
        " round(avg(value)::numeric, 9), min(value), max(value), count(*) FROM measurements"
        " WHERE device_id = %s AND quality < 2 GROUP BY b, metric ORDER BY b, metric",
        (device,),
    ).fetchall()


def _refresh_for(conn: psycopg.Connection) -> None:
    """The engine's own way of catching up: the plain service job, or TimescaleDB's
    refresh (what its policy runs) over the test's window."""
    if recorded(conn) is Engine.TIMESCALE:
        _refresh(conn)
    else:
        rollups.refresh(conn)


def test_rollups_follow_new_and_late_readings(store_db):
    """After new readings, late ones for an hour already rolled up, and a bad-quality
    one, both rollups equal the same aggregates taken from raw rows, on either engine."""
    conn, device = store_db, f"late-{uuid.uuid4().hex[:6]}"
    insert = (
        "INSERT INTO measurements (time, device_id, metric, value, quality)"
        " VALUES (%s, %s, %s, %s, %s)"
    )
    _refresh_for(conn)  # what other tests left is not this test's business
    with conn.cursor() as cur:
        cur.executemany(
            insert, [(T0 + timedelta(seconds=20 * i), device, "pm25", i, 0) for i in range(360)]
        )
    _refresh_for(conn)
    assert _rollup(conn, "measurements_1h", device) == _from_raw(conn, "1 hour", device)
    with conn.cursor() as cur:
        cur.executemany(
            insert,
            [
                (T0 + timedelta(minutes=5, seconds=7), device, "pm25", 1000.0, 0),  # late
                (T0 + timedelta(minutes=5, seconds=8), device, "pm25", -50.0, 2),  # bad
                (T0 + timedelta(hours=3, seconds=1), device, "pm25", 7.25, 0),  # new hour
                (T0 + timedelta(minutes=30, seconds=1), device, "pm10", 3.5, 1),  # new metric
            ],
        )
    _refresh_for(conn)
    assert _rollup(conn, "measurements_1m", device) == _from_raw(conn, "1 minute", device)
    assert _rollup(conn, "measurements_1h", device) == _from_raw(conn, "1 hour", device)
    first_hour = _rollup(conn, "measurements_1h", device)[1]
    assert first_hour[1:] == ("pm25", first_hour[2], 0, 1000.0, 181)
    conn.execute("DELETE FROM measurements WHERE device_id = %s", (device,))


def test_plain_retention_deletes_only_expired_rows_in_batches(plain_dsn):
    device = f"ret-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    keep = retention.RETENTION["measurements"]
    expired = [now - keep - timedelta(hours=1, seconds=i) for i in range(25)]
    kept = [now - keep + timedelta(hours=1, seconds=i) for i in range(5)]
    with psycopg.connect(plain_dsn, autocommit=True) as pg:
        retention.prune(pg, now)  # what other tests left is not this test's business
        with pg.cursor() as cur:
            cur.executemany(
                "INSERT INTO measurements (time, device_id, metric, value)"
                " VALUES (%s, %s, 'pm25', 1)",
                [(t, device) for t in expired + kept],
            )
            cur.executemany(
                "INSERT INTO security_events (time, event_id, dataset, raw)"
                " VALUES (%s, %s, 'system.auth', ''::bytea)",
                [
                    (now - timedelta(days=366), f"{device}-old"),
                    (now - timedelta(days=364), f"{device}-new"),
                ],
            )
        # 10 per batch, 2 batches a run: a backlog of 25 takes two runs.
        first = retention.prune(pg, now, batch_rows=10, max_batches=2)
        assert first["measurements"] == 20 and first["security_events"] == 1
        second = retention.prune(pg, now, batch_rows=10, max_batches=2)
        assert second["measurements"] == 5 and second["security_events"] == 0
        times = pg.execute(
            "SELECT time FROM measurements WHERE device_id = %s ORDER BY time", (device,)
        ).fetchall()
        assert [t for (t,) in times] == kept
        ids = pg.execute(
            "SELECT event_id FROM security_events WHERE event_id LIKE %s", (f"{device}-%",)
        ).fetchall()
        assert ids == [(f"{device}-new",)]


@needs_timescale
def test_timescale_retention_policy_drops_expired_chunks(settings):
    """TimescaleDB leaves the service job alone and its own policy drops whole chunks:
    run the measurements policy now and the expired rows are gone, the kept ones not."""
    device = f"ret-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    keep = retention.RETENTION["measurements"]
    with psycopg.connect(settings.dsn(), autocommit=True) as ts:
        migrate(ts)
        assert retention.prune(ts, now) == {}
        ts.execute(
            "INSERT INTO measurements (time, device_id, metric, value) VALUES"
            " (%s, %s, 'pm25', 1), (%s, %s, 'pm25', 2)",
            (now - keep - timedelta(days=3), device, now - keep + timedelta(days=3), device),
        )
        job = ts.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'"
            " AND hypertable_name = 'measurements'"
        ).fetchone()[0]
        ts.execute("CALL run_job(%s)", (job,))
        values = ts.execute(
            "SELECT value FROM measurements WHERE device_id = %s", (device,)
        ).fetchall()
        assert values == [(2.0,)]
        ts.execute("DELETE FROM measurements WHERE device_id = %s", (device,))


def _run_rollup_policies(ts: psycopg.Connection) -> None:
    """Run the continuous-aggregate policies themselves (minutes first, as the hour is
    built from them), not a refresh chosen by the test."""
    for view in ("measurements_1m", "measurements_1h"):
        job = ts.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE hypertable_name = %s"
            " AND proc_name = 'policy_refresh_continuous_aggregate'",
            (view,),
        ).fetchone()[0]
        ts.execute("CALL run_job(%s)", (job,))


@needs_timescale
def test_timescale_policies_roll_up_readings_uploaded_hours_late(settings):
    """A station that buffered through an outage uploads readings 5 hours old, behind
    both rollups' watermarks: after one run of each policy both rollups hold them
    (migration 8; with the minute policy's 3-hour window they reached neither)."""
    device = f"late-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    insert = "INSERT INTO measurements (time, device_id, metric, value) VALUES (%s, %s, 'pm25', %s)"
    with psycopg.connect(settings.dsn(), autocommit=True) as ts:
        migrate(ts)
        ts.execute(insert, (now - timedelta(minutes=90), device, 1.0))
        _run_rollup_policies(ts)  # both watermarks are now past the outage
        late_hour = now.replace(minute=0) - timedelta(hours=5)
        with ts.cursor() as cur:
            cur.executemany(
                insert, [(late_hour + timedelta(minutes=m), device, 10.0 + m) for m in range(60)]
            )
        _run_rollup_policies(ts)
        minutes = [
            r for r in _rollup(ts, "measurements_1m", device) if r[0] < now - timedelta(hours=2)
        ]
        assert minutes == [
            r for r in _from_raw(ts, "1 minute", device) if r[0] < now - timedelta(hours=2)
        ]
        assert len(minutes) == 60
        hours = _rollup(ts, "measurements_1h", device)
        assert hours[0] == (late_hour, "pm25", Decimal("39.5"), 10.0, 69.0, 60)
        ts.execute("DELETE FROM measurements WHERE device_id = %s", (device,))
