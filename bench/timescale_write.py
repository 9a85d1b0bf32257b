"""What TimescaleDB changes on the write path, measured; the figures behind the chunk,
compression and refresh settings (docs/performance.md, migration m0007).

1. COPY into the measurements hypertable (unique index + TimescaleDB's time index) vs
   the plain table (unique index + BRIN), interleaved rounds, one backend each: wall and
   backend CPU µs per row, bytes stored per row.
2. Compression of old chunks while new data arrives (a scratch TimescaleDB database):
   the COPY rate alone vs while `compress_chunk` runs on an old chunk; compression
   throughput; size before/after and the dashboard queries (store/queries.py: latest,
   a raw day of one series) on uncompressed and compressed chunks, for each candidate
   segment-by / order-by.
3. Continuous-aggregate refresh of a full hour: the 1-hour view from raw readings (as
   the schema had it) vs from the 1-minute view (hierarchical).
4. The `latest` query (no time bound, so it touches every chunk) against the number of
   chunks that 400 days of retention leave at each candidate chunk interval.
5. COPY into the current chunk as it grows past shared_buffers.

    .venv/bin/python bench/timescale_write.py [--rows 300000] [--rounds 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.engines import BenchDatabase, bench_databases  # noqa: E402
from config.settings import Settings, get_settings  # noqa: E402
from stack import postgres  # noqa: E402
from store import queries  # noqa: E402
from store.engine import Engine  # noqa: E402
from store.migrate import migrate  # noqa: E402

console = Console()
if not console.is_terminal:
    console.width = 130
BATCH_ROWS = 6_000  # a full worker batch: 2,000 messages of 3 readings
METRICS = ("pm25", "pm10", "temp")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def copy_text(prefix: str, devices: int, rows: int, start: datetime, step_s: float) -> bytes:
    """`rows` readings, the device's metrics at one time, times advancing by `step_s`."""
    out = []
    series = devices * len(METRICS)
    for i in range(rows):
        k, tick = i % series, i // series
        when = (start + timedelta(seconds=tick * step_s)).isoformat()
        out.append(f"{when}\t{prefix}{k // 3:04d}\t{METRICS[k % 3]}\t{(i % 97) * 0.5}\t0\n")
    return "".join(out).encode()


def copy_batches(conn: psycopg.Connection, text: bytes) -> tuple[float, float]:
    """COPY the rows in worker-sized batches, a transaction each; (wall s, backend CPU s)."""
    lines = text.splitlines(keepends=True)
    pid = conn.info.backend_pid
    cpu, wall = backend_cpu(pid), time.perf_counter()
    for start in range(0, len(lines), BATCH_ROWS):
        with (
            conn.transaction(),
            conn.cursor().copy(
                "COPY measurements (time, device_id, metric, value, quality) FROM STDIN"
            ) as copy,
        ):
            copy.write(b"".join(lines[start : start + BATCH_ROWS]))
    return time.perf_counter() - wall, backend_cpu(pid) - cpu


def stored_bytes(conn: psycopg.Connection, engine: Engine) -> int:
    if engine is Engine.TIMESCALE:
        return conn.execute("SELECT hypertable_size('measurements')").fetchone()[0]
    return conn.execute("SELECT pg_total_relation_size('measurements')").fetchone()[0]


# -- 1. COPY into the hypertable vs the plain table ---------------------------------------
def copy_cost(databases: list[BenchDatabase], rows: int, rounds: int) -> Table:
    results: dict[str, list[tuple[float, float, float]]] = {db.label: [] for db in databases}
    for n in range(rounds):
        for db in databases if n % 2 == 0 else databases[::-1]:
            prefix = f"bench-copy-{uuid.uuid4().hex[:6]}-"
            # Recent readings, as a worker writes them: into the newest chunk.
            start = datetime.now(UTC) - timedelta(minutes=50)
            text = copy_text(prefix, 200, rows, start, 0.01)
            with psycopg.connect(db.dsn(), autocommit=True) as conn:
                before = stored_bytes(conn, db.engine)
                wall, cpu = copy_batches(conn, text)
                grown = stored_bytes(conn, db.engine) - before
                conn.execute("DELETE FROM measurements WHERE device_id LIKE %s", (prefix + "%",))
            results[db.label].append((wall / rows * 1e6, cpu / rows * 1e6, grown / rows))
            console.print(f"  COPY round {n + 1} {db.label}: {wall / rows * 1e6:.2f} µs/row")
    labels = [db.label for db in databases]
    title = (f"1. COPY into measurements, {rows:,} rows in batches of {BATCH_ROWS:,} per engine"
             f" and round, {rounds} interleaved rounds; median (min – max)")  # fmt: skip
    table = Table(title=title)
    table.add_column("figure")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column(f"{labels[-1]} / {labels[0]}", justify="right")
    for k, name in enumerate(("wall µs/row", "backend CPU µs/row", "bytes stored/row")):
        cells = [spread([r[k] for r in results[label]]) for label in labels]
        ratios = [a[k] / b[k] for a, b in zip(results[labels[-1]], results[labels[0]], strict=True)
                  if b[k]]  # fmt: skip
        table.add_row(name, *cells, spread(ratios))
    return table


def spread(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):.2f} ({min(values):.2f} – {max(values):.2f})"


# -- scratch TimescaleDB databases ---------------------------------------------------------
@contextmanager
def scratch_timescale(settings: Settings, name: str) -> Iterator[str]:
    """A fresh database on TimescaleDB with the app's schema; dropped afterwards."""
    ident = sql.Identifier(name)
    with postgres.admin_connect(settings) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, sql.Identifier(settings.pg_user))
        )
    dsn = settings.model_copy(update={"pg_database": name, "database_url": None}).dsn()
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn, "timescaledb")
            # The bench decides when compression and refreshes run.
            conn.execute(
                "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
                " WHERE proc_name IN ('policy_compression', 'policy_refresh_continuous_aggregate')"
            )
        yield dsn
    finally:
        with postgres.admin_connect(settings) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def fill_old(conn: psycopg.Connection, days: int, per_day: int, devices: int) -> None:
    """`per_day` readings on each of `days` days 9+ days ago (past the 7-day compression
    age), spread evenly over the day for `devices` × 3 series, server-side."""
    per_series = per_day // (devices * len(METRICS))
    step = 86_400 / per_series
    for day in range(days):
        conn.execute(
            "INSERT INTO measurements (time, device_id, metric, value, quality)"
            " SELECT date_trunc('day', now()) - make_interval(days => 9 + %s)"
            "        + make_interval(secs => s * %s),"
            "        'old-' || lpad(d::text, 4, '0'), m, (s %% 97) * 0.5, 0"
            " FROM generate_series(0, %s - 1) d, unnest(%s::text[]) m,"
            "      generate_series(0, %s - 1) s",
            (day, step, devices, list(METRICS), per_series),
        )
    conn.execute("VACUUM ANALYZE measurements")


def old_chunks(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'measurements' AND range_end < now() - interval '7 days'"
            " ORDER BY range_start"
        )
    ]


# -- 2. compression while new data arrives -------------------------------------------------
def compression_under_ingest(dsn: str, rows: int) -> tuple[Table, dict[str, float]]:
    """Alternating: COPY `rows` rows alone, then COPY continuously while one old chunk is
    compressed; µs/row of each, and the compression's own time."""
    alone: list[float] = []
    during: list[float] = []
    compress_s: list[float] = []
    chunk_rows: list[int] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        chunks = old_chunks(conn)
        for chunk in chunks:
            chunk_rows.append(conn.execute(f"SELECT count(*) FROM {chunk}").fetchone()[0])
            start = datetime.now(UTC) - timedelta(minutes=30)
            wall, _ = copy_batches(conn, copy_text(f"new-{uuid.uuid4().hex[:4]}-", 200, rows,
                                                   start, 0.01))  # fmt: skip
            alone.append(wall / rows * 1e6)
            done = threading.Event()
            took: list[float] = []

            def compress(
                chunk: str = chunk, took: list[float] = took, done: threading.Event = done
            ) -> None:
                with psycopg.connect(dsn, autocommit=True) as other:
                    t0 = time.perf_counter()
                    other.execute("SELECT compress_chunk(%s::regclass)", (chunk,))
                    took.append(time.perf_counter() - t0)
                done.set()

            thread = threading.Thread(target=compress)
            thread.start()
            copied, spent = 0, 0.0
            while not done.is_set():
                start = datetime.now(UTC) - timedelta(minutes=30)
                text = copy_text(f"new-{uuid.uuid4().hex[:4]}-", 200, BATCH_ROWS * 5, start, 0.01)
                wall, _ = copy_batches(conn, text)
                copied, spent = copied + BATCH_ROWS * 5, spent + wall
            thread.join()
            during.append(spent / copied * 1e6 if copied else float("nan"))
            compress_s.append(took[0])
            console.print(
                f"  {chunk}: {chunk_rows[-1]:,} rows compressed in {took[0]:.1f} s;"
                f" COPY alone {alone[-1]:.2f}, during {during[-1]:.2f} µs/row"
            )
    table = Table(title=f"2a. COPY while an old chunk is compressed ({len(chunks)} chunks, "
                  "alternating); median (min – max)")  # fmt: skip
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("COPY alone, wall µs/row", spread(alone))
    table.add_row("COPY while compress_chunk runs, wall µs/row", spread(during))
    table.add_row("  during / alone", spread([d / a for d, a in zip(during, alone, strict=True)]))
    rates = [r / s for r, s in zip(chunk_rows, compress_s, strict=True)]
    table.add_row("compress_chunk, rows/s (while COPY runs)", spread(rates))
    table.add_row("rows per old chunk", f"{statistics.median(chunk_rows):,.0f}")
    return table, {"compress_rows_per_s": statistics.median(rates)}


# latest() as it was before it took a bound: what this section measures is the cost of
# the chunk count to a query that opens every chunk.
EVERY_CHUNK = datetime(1970, 1, 1, tzinfo=UTC)


def query_times(conn: psycopg.Connection, devices: int) -> dict[str, float]:
    """Median ms of the dashboard's reads (store/queries.py) on the old, maybe compressed,
    days: the latest readings of a device, and one raw day of one series."""
    day = conn.execute("SELECT date_trunc('day', now()) - interval '10 days'").fetchone()[0]
    out: dict[str, list[float]] = {"latest(device) ms": [], "series raw, 1 day ms": [],
                                   "series raw, 1 hour ms": []}  # fmt: skip
    for k in range(9):
        device = f"old-{(k * 37) % devices:04d}"
        for name, call in (
            ("latest(device) ms", lambda d=device: queries.latest(conn, d, EVERY_CHUNK)),
            ("series raw, 1 day ms",
             lambda d=device: queries.series(conn, d, "pm25", day, day + timedelta(days=1))),
            ("series raw, 1 hour ms",
             lambda d=device: queries.series(conn, d, "pm10", day + timedelta(hours=5),
                                             day + timedelta(hours=6))),
        ):  # fmt: skip
            t0 = time.perf_counter()
            call()
            out[name].append((time.perf_counter() - t0) * 1000)
    return {name: statistics.median(v) for name, v in out.items()}


CANDIDATES = {
    "segmentby device_id, metric; orderby time DESC (m0002)": ("device_id, metric", "time DESC"),
    "segmentby device_id; orderby metric, time DESC": ("device_id", "metric, time DESC"),
}


def compression_settings(dsn: str, devices: int) -> Table:
    """Each candidate: compress every old chunk, then size and the dashboard queries."""
    table = Table(title="2b. compression settings on the old chunks (uncompressed first)")
    for column in ("settings", "size MB", "ratio", "compress s", "latest ms", "1 day raw ms",
                   "1 hour raw ms"):  # fmt: skip
        table.add_column(column, justify="left" if column == "settings" else "right")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for chunk in old_chunks(conn):
            conn.execute("SELECT decompress_chunk(%s::regclass, if_compressed => true)", (chunk,))
        conn.execute("VACUUM ANALYZE measurements")
        size0 = _old_size(conn)
        q = query_times(conn, devices)
        table.add_row("uncompressed", f"{size0 / 2**20:,.0f}", "1.0", "–",
                      *[f"{v:.1f}" for v in q.values()])  # fmt: skip
        for name, (segment_by, order_by) in CANDIDATES.items():
            for chunk in old_chunks(conn):
                conn.execute("SELECT decompress_chunk(%s::regclass, if_compressed => true)",
                             (chunk,))  # fmt: skip
            # Constants above, never input.
            conn.execute(
                f"ALTER TABLE measurements SET (timescaledb.compress_segmentby"
                f" = '{segment_by}', timescaledb.compress_orderby = '{order_by}')"
            )
            t0 = time.perf_counter()
            for chunk in old_chunks(conn):
                conn.execute("SELECT compress_chunk(%s::regclass)", (chunk,))
            took = time.perf_counter() - t0
            conn.execute("ANALYZE measurements")
            size = _old_size(conn)
            q = query_times(conn, devices)
            table.add_row(name, f"{size / 2**20:,.0f}", f"{size0 / size:.1f}", f"{took:.1f}",
                          *[f"{v:.1f}" for v in q.values()])  # fmt: skip
            console.print(f"  {name}: {size / 2**20:,.0f} MB, queries {q}")
    return table


def _old_size(conn: psycopg.Connection) -> int:
    return (
        conn.execute(
            "SELECT coalesce(sum(total_bytes), 0) FROM chunks_detailed_size('measurements') d"
            " JOIN timescaledb_information.chunks c ON c.chunk_name = d.chunk_name"
            " AND c.chunk_schema = d.chunk_schema WHERE c.range_end < now() - interval '7 days'"
        ).fetchone()[0]
        + conn.execute(
            # Compressed data lives in the compressed chunks, which chunks_detailed_size
            # reports under their parent only from chunk_compression_stats.
            "SELECT coalesce(sum(after_compression_total_bytes), 0)"
            " FROM chunk_compression_stats('measurements') WHERE compression_status = 'Compressed'"
        ).fetchone()[0]
    )


def late_into_compressed(dsn: str) -> Table:
    """Late readings (times between the stored ones) into a compressed day: what a
    re-delivery or a device catching up after 9 days costs."""
    table = Table(title="2c. late readings into a compressed chunk")
    table.add_column("figure")
    table.add_column("value", justify="right")
    with psycopg.connect(dsn, autocommit=True) as conn:
        day = conn.execute("SELECT date_trunc('day', now()) - interval '10 days'").fetchone()[0]
        text = copy_text("old-", 200, BATCH_ROWS, day + timedelta(seconds=0.5), 97.3)
        wall, cpu = copy_batches(conn, text)
        table.add_row("COPY 6,000 late rows into a compressed day, wall µs/row",
                      f"{wall / BATCH_ROWS * 1e6:.1f}")  # fmt: skip
        table.add_row("  backend CPU µs/row", f"{cpu / BATCH_ROWS * 1e6:.1f}")
        # A re-delivery of the same rows: the unique identity must still refuse them.
        try:
            copy_batches(conn, text)
            table.add_row("the same rows again (re-delivery)", "[red]ACCEPTED: duplicates")
        except psycopg.errors.UniqueViolation:
            table.add_row("the same rows again (re-delivery)", "refused: unique violation")
    return table


# -- 3. continuous aggregates: the 1-hour view from raw vs from the 1-minute view ----------
HOUR = "date_trunc('hour', now()) - interval '2 hours'"
HIERARCHICAL = (
    "CREATE MATERIALIZED VIEW bench_1h_from_1m"
    " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"
    " SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, device_id, metric,"
    " sum(avg * count) / sum(count) AS avg, min(min) AS min, max(max) AS max,"
    " sum(count)::bigint AS count FROM measurements_1m GROUP BY 1, device_id, metric"
    " WITH NO DATA"
)


def refresh_hour(dsn: str, sizes: list[int]) -> Table:
    table = Table(title="3. refreshing one full hour of readings (as the hourly policy does)")
    for column in ("readings in the hour", "1m view s", "1h view from raw s",
                   "1h view from 1m view s", "1h from raw / from 1m"):  # fmt: skip
        table.add_column(column, justify="right")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(HIERARCHICAL)
        for size in sizes:
            conn.execute("DELETE FROM measurements WHERE time >= now() - interval '1 day'")
            per_series = size // (200 * len(METRICS))
            conn.execute(
                "INSERT INTO measurements (time, device_id, metric, value, quality)"
                f" SELECT {HOUR} + make_interval(secs => s * 3600.0 / %s),"
                "        'hr-' || lpad(d::text, 4, '0'), m, (s %% 97) * 0.5, 0"
                " FROM generate_series(0, 199) d, unnest(%s::text[]) m,"
                "      generate_series(0, %s - 1) s",
                (per_series, list(METRICS), per_series),
            )
            conn.execute("VACUUM ANALYZE measurements")
            took = {}
            for view in ("measurements_1m", "measurements_1h", "bench_1h_from_1m"):
                t0 = time.perf_counter()
                conn.execute(f"CALL refresh_continuous_aggregate('{view}', {HOUR},"
                             f" {HOUR} + interval '1 hour')")  # fmt: skip
                took[view] = time.perf_counter() - t0
            same = conn.execute(
                "SELECT count(*) FROM measurements_1h a JOIN bench_1h_from_1m b"
                " USING (bucket, device_id, metric) WHERE a.count = b.count"
                " AND a.min = b.min AND a.max = b.max AND abs(a.avg - b.avg) < 1e-9"
                f" AND a.bucket = {HOUR}"
            ).fetchone()[0]
            console.print(f"  {size:,}: {took}; {same} hourly rows agree")
            table.add_row(f"{size:,}", *[f"{v:.2f}" for v in took.values()],
                          f"{took['measurements_1h'] / took['bench_1h_from_1m']:.1f}")  # fmt: skip
    return table


# -- 4. chunks that retention leaves vs the latest() query -------------------------------
def chunk_count_cost(settings: Settings, intervals: list[str], days: int) -> Table:
    table = Table(title=f"4. latest(device): no time bound, so every chunk of {days} days")
    for column in ("chunk interval", "chunks", "latest ms (median of 9)"):
        table.add_column(column, justify="right")
    for interval in intervals:
        name = f"ioc_bench_chunks_{uuid.uuid4().hex[:6]}"
        with scratch_timescale(settings, name) as dsn, psycopg.connect(dsn, autocommit=True) as c:
            c.execute("SELECT set_chunk_time_interval('measurements', %s::interval)", (interval,))
            # One reading per device and metric per chunk interval: a chunk each. Ten days
            # per transaction: one creating thousands of chunks runs out of lock slots.
            for first in range(days, -1, -10):
                c.execute(
                    "INSERT INTO measurements (time, device_id, metric, value, quality)"
                    " SELECT t, 'dev-' || d, m, 1, 0 FROM generate_series(1, 20) d,"
                    " unnest(%s::text[]) m, generate_series(now() - make_interval(days => %s),"
                    " now() - make_interval(days => greatest(%s - 10, 0)), %s::interval) t"
                    " ON CONFLICT DO NOTHING",
                    (list(METRICS), first, first, interval),
                )
            c.execute("ANALYZE measurements")
            chunks = c.execute(
                "SELECT count(*) FROM timescaledb_information.chunks"
                " WHERE hypertable_name = 'measurements'"
            ).fetchone()[0]
            times = []
            try:
                for k in range(9):
                    t0 = time.perf_counter()
                    queries.latest(c, f"dev-{k + 1}")
                    times.append((time.perf_counter() - t0) * 1000)
                shown = f"{statistics.median(times):.1f}"
            except psycopg.errors.OutOfMemory as exc:  # a lock per chunk and per index
                shown = f"fails: {exc.diag.message_primary}"
            table.add_row(interval, f"{chunks:,}", shown)
            console.print(f"  {interval}: {chunks} chunks, latest {shown} ms")
    return table


# -- 5. COPY into a chunk as it outgrows shared_buffers -------------------------------
def copy_into_growing_chunk(dsn: str, rows: int, fills: list[int]) -> Table:
    """COPY cost into today's chunk while it holds 0, then more and more rows (filled
    server-side for 200 devices × 3 series, as the day's earlier readings)."""
    table = Table(title="5. COPY into the current chunk as it grows")
    for column in ("rows already in the chunk", "chunk MB", "wall µs/row", "backend CPU µs/row"):
        table.add_column(column, justify="right")
    with psycopg.connect(dsn, autocommit=True) as conn:
        held = 0
        for target in [0, *fills]:
            if target > held:
                per_series = (target - held) // (200 * len(METRICS))
                conn.execute(
                    "INSERT INTO measurements (time, device_id, metric, value, quality)"
                    " SELECT date_trunc('day', now()) + make_interval(secs => %s + s * 0.01),"
                    "        'grow-' || lpad(d::text, 4, '0'), m, (s %% 97) * 0.5, 0"
                    " FROM generate_series(0, 199) d, unnest(%s::text[]) m,"
                    "      generate_series(0, %s - 1) s",
                    ((held // (200 * len(METRICS))) * 0.01, list(METRICS), per_series),
                )
                held = target
                conn.execute("VACUUM ANALYZE measurements")
            start = datetime.now(UTC) - timedelta(minutes=5)
            text = copy_text(f"g{uuid.uuid4().hex[:4]}-", 200, rows, start, 0.0001)
            wall, cpu = copy_batches(conn, text)
            size = conn.execute(
                "SELECT coalesce(sum(total_bytes), 0) FROM chunks_detailed_size('measurements')"
            ).fetchone()[0]
            table.add_row(f"{held:,}", f"{size / 2**20:,.0f}", f"{wall / rows * 1e6:.2f}",
                          f"{cpu / rows * 1e6:.2f}")  # fmt: skip
            console.print(f"  {held:,} rows held: {wall / rows * 1e6:.2f} µs/row")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000, help="rows per COPY measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--old-days", type=int, default=3, help="old chunks to compress")
    parser.add_argument("--old-rows", type=int, default=1_500_000, help="readings per old day")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--hour-sizes", default="1000000,3000000")
    parser.add_argument("--intervals", default="1 day,6 hours,2 hours")
    parser.add_argument("--grow", default="3000000,9000000", help="section 5's chunk fills")
    parser.add_argument("--only", default="1,2,3,4,5", help="sections to run")
    args = parser.parse_args()
    only = set(args.only.split(","))
    settings = get_settings()
    tables = []
    if "1" in only:
        console.print("[bold]1. COPY into the hypertable vs the plain table[/]")
        tables.append(copy_cost(bench_databases(settings), args.rows, args.rounds))
        console.print(tables[-1])
    if only & {"2", "3"}:
        with scratch_timescale(settings, "ioc_bench_tswrite") as dsn:
            if "2" in only:
                console.print("[bold]2. compression of old chunks while new data arrives[/]")
                with psycopg.connect(dsn, autocommit=True) as conn:
                    fill_old(conn, args.old_days, args.old_rows, args.devices)
                table, _ = compression_under_ingest(dsn, args.rows)
                tables += [
                    table,
                    compression_settings(dsn, args.devices),
                    late_into_compressed(dsn),
                ]
                for t in tables[-3:]:
                    console.print(t)
            if "3" in only:
                console.print("[bold]3. continuous-aggregate refresh of a full hour[/]")
                sizes = [int(s) for s in args.hour_sizes.split(",")]
                tables.append(refresh_hour(dsn, sizes))
                console.print(tables[-1])
    if "5" in only:
        console.print("[bold]5. COPY into a growing chunk[/]")
        with scratch_timescale(settings, "ioc_bench_tsgrow") as dsn:
            fills = [int(f) for f in args.grow.split(",")]
            tables.append(copy_into_growing_chunk(dsn, args.rows, fills))
        console.print(tables[-1])
    if "4" in only:
        console.print("[bold]4. chunk count vs latest()[/]")
        tables.append(chunk_count_cost(settings, args.intervals.split(","), 400))
        console.print(tables[-1])
    console.rule("all sections")
    for table in tables:
        console.print(table)


if __name__ == "__main__":
    main()
