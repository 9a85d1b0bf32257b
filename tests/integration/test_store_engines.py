"""The store on both engines: migrations, and the same read queries giving the same
answers on TimescaleDB (PGlite build, via its wire server) and on plain PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from store import queries, retention, rollups
from store.engine import Engine, detect
from store.migrate import migrate

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
# Two devices, two metrics, 3 hours of one reading a minute; every 10th reading is bad
# quality and must stay out of the rollups.
ROWS = [
    (T0 + timedelta(minutes=i), device, metric, float(i % 60) + (0.5 if device == "b" else 0),
     2 if i % 10 == 0 else 0)
    for device in ("a", "b") for metric in ("pm25", "waterLevel") for i in range(180)
]  # fmt: skip


def _pglite_dsn(settings) -> str:
    return (
        f"host={settings.pg_host} port={settings.pglite_port} dbname=postgres user=postgres"
        " password=postgres sslmode=disable gssencmode=disable"
    )


def _pglite(settings) -> psycopg.Connection:
    # PGlite serves every client from one backend session, so server-side prepared
    # statements from an earlier connection would collide: never prepare there.
    return psycopg.connect(_pglite_dsn(settings), autocommit=True, prepare_threshold=None)


def _seed(conn: psycopg.Connection) -> None:
    # Plain INSERT, not the batch writer's COPY: the PGlite server cannot take COPY FROM STDIN.
    conn.execute("TRUNCATE measurements")
    # Small pipelines too: one pipeline of all rows crashes the PGlite server.
    with conn.cursor() as cur:
        for start in range(0, len(ROWS), 50):
            cur.executemany(
                "INSERT INTO measurements (time, device_id, metric, value, quality)"
                " VALUES (%s, %s, %s, %s, %s)",
                ROWS[start : start + 50],
            )


def _answers(conn: psycopg.Connection) -> dict[str, object]:
    start, end = T0, T0 + timedelta(hours=3)
    return {
        "latest": [(r["metric"], r["time"], r["value"]) for r in queries.latest(conn, "b")],
        "raw": len(queries.series(conn, "a", "pm25", start, end, "raw")),
        "1m": [
            (r["time"], r["avg"], r["count"])
            for r in queries.series(conn, "a", "pm25", start, end, "1m")
        ],
        "1h": [
            (r["time"], round(r["avg"], 6), r["min"], r["max"], r["count"])
            for r in queries.series(conn, "b", "waterLevel", start, end, "1h")
        ],
    }


def _refresh(conn: psycopg.Connection) -> None:
    if detect(conn).engine is Engine.TIMESCALE:
        for view in ("measurements_1m", "measurements_1h"):
            conn.execute(
                "CALL refresh_continuous_aggregate(%s, %s, %s)",
                (view, T0 - timedelta(hours=1), T0 + timedelta(hours=4)),
            )
    else:
        conn.execute("DELETE FROM rollup_watermarks")
        rollups.refresh(conn)


def test_timescale_migrations_and_policies(settings):
    with _pglite(settings) as conn:
        first = migrate(conn)
        again = migrate(conn)
        assert first.engine.engine is Engine.TIMESCALE
        assert again.applied == [] and again.version == first.version >= 2
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


def test_same_queries_same_answers_on_both_engines(settings):
    with _pglite(settings) as ts:
        migrate(ts)
        _seed(ts)
        _refresh(ts)
        timescale = _answers(ts)
    with psycopg.connect(settings.dsn(), autocommit=True) as pg:
        migrate(pg)
        assert detect(pg).engine is Engine.POSTGRES
        _seed(pg)
        _refresh(pg)
        postgres = _answers(pg)
    assert timescale == postgres
    assert postgres["raw"] == 180
    assert len(postgres["1m"]) == 162  # 180 minutes less the 18 bad-quality ones
    first_hour = postgres["1h"][0]
    assert first_hour[4] == 54 and first_hour[2] == 1.5 and first_hour[3] == 59.5


def _rollup(pg: psycopg.Connection, table: str, device: str) -> list[tuple[object, ...]]:
    return pg.execute(
        f"SELECT bucket, metric, round(avg::numeric, 9), min, max, count FROM {table}"
        " WHERE device_id = %s ORDER BY bucket, metric",
        (device,),
    ).fetchall()


def _from_raw(pg: psycopg.Connection, width: str, device: str) -> list[tuple[object, ...]]:
    return pg.execute(
        f"SELECT date_bin(INTERVAL '{width}', time, TIMESTAMPTZ 'epoch') AS b, metric,"
        " round(avg(value)::numeric, 9), min(value), max(value), count(*) FROM measurements"
        " WHERE device_id = %s AND quality < 2 GROUP BY b, metric ORDER BY b, metric",
        (device,),
    ).fetchall()


def test_plain_rollups_follow_new_and_late_readings(settings):
    """Each refresh rebuilds the minutes that got readings and the hours around them (an
    hour from its minutes); after new readings, late ones for an hour already rolled up,
    and a bad-quality one, both rollups equal the same aggregates taken from raw rows."""
    device = f"late-{uuid.uuid4().hex[:6]}"
    insert = (
        "INSERT INTO measurements (time, device_id, metric, value, quality)"
        " VALUES (%s, %s, %s, %s, %s)"
    )
    with psycopg.connect(settings.dsn(), autocommit=True) as pg:
        migrate(pg)
        rollups.refresh(pg)  # what other tests left is not this test's business
        with pg.cursor() as cur:
            cur.executemany(
                insert, [(T0 + timedelta(seconds=20 * i), device, "pm25", i, 0) for i in range(360)]
            )
        rollups.refresh(pg)
        assert _rollup(pg, "measurements_1h", device) == _from_raw(pg, "1 hour", device)
        with pg.cursor() as cur:
            cur.executemany(
                insert,
                [
                    (T0 + timedelta(minutes=5, seconds=7), device, "pm25", 1000.0, 0),  # late
                    (T0 + timedelta(minutes=5, seconds=8), device, "pm25", -50.0, 2),  # bad
                    (T0 + timedelta(hours=3, seconds=1), device, "pm25", 7.25, 0),  # new hour
                    (T0 + timedelta(minutes=30, seconds=1), device, "pm10", 3.5, 1),  # new metric
                ],
            )
        rollups.refresh(pg)
        assert _rollup(pg, "measurements_1m", device) == _from_raw(pg, "1 minute", device)
        assert _rollup(pg, "measurements_1h", device) == _from_raw(pg, "1 hour", device)
        first_hour = _rollup(pg, "measurements_1h", device)[1]
        assert first_hour[1:] == ("pm25", first_hour[2], 0, 1000.0, 181)


def test_plain_retention_deletes_only_expired_rows_in_batches(settings):
    device = f"ret-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    keep = retention.RETENTION["measurements"]
    expired = [now - keep - timedelta(hours=1, seconds=i) for i in range(25)]
    kept = [now - keep + timedelta(hours=1, seconds=i) for i in range(5)]
    with psycopg.connect(settings.dsn(), autocommit=True) as pg:
        migrate(pg)
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
        pg.execute("DELETE FROM measurements WHERE device_id = %s", (device,))
        pg.execute("DELETE FROM security_events WHERE event_id LIKE %s", (f"{device}-%",))


def test_timescale_leaves_retention_to_its_policies(settings):
    with _pglite(settings) as ts:
        migrate(ts)
        assert retention.prune(ts, datetime.now(UTC)) == {}
