"""Rollup refresh cost as an hour fills up, plain PostgreSQL and TimescaleDB in one run.

Plain PostgreSQL: the ingest workers refresh measurements_1m / measurements_1h every
30 s (store/rollups.py). TimescaleDB: continuous aggregates, refreshed by their policies
(migrations m0002, m0007). For each size, the bench fills an hour with that many readings
(already rolled up), adds what 30 s at a given rate brings to the end of that hour, and
times one refresh: wall time and the database backend's CPU. On TimescaleDB the two
views refresh separately (each has its own policy job), so each is timed apart; their
sum is the figure to compare with plain PostgreSQL's one refresh. One database per
engine in the stack's cluster (bench/engines.py); sizes interleave the engines, and the
rows belong to devices of the bench's own and are deleted afterwards.

    .venv/bin/python bench/rollups.py            # against the stack in IOC_* settings
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.engines import BenchDatabase, bench_databases  # noqa: E402
from config.settings import get_settings  # noqa: E402
from store import rollups  # noqa: E402
from store.engine import Engine  # noqa: E402

DEVICES = 50
METRICS = ("pm25", "pm10", "no2")
PREFIX = "bench-rollup-"


# The hour the bench fills: the previous full one, so every size lands in one hour bucket
# whatever the time of day the bench runs.
HOUR = "date_trunc('hour', now()) - interval '1 hour'"


def _fill(conn: psycopg.Connection, readings: int, span_s: float, ingested: str, salt: int) -> None:
    """`readings` readings spread over the last `span_s` seconds of HOUR, server-side."""
    per_series = max(1, readings // (DEVICES * len(METRICS)))
    conn.execute(
        f"INSERT INTO measurements (time, device_id, metric, value, quality, ingested_at)"
        f" SELECT {HOUR} + interval '1 second' * (3600 - %s * (1 - (s + %s::float8 / 7) / %s)),"
        f"        %s || d, m, (s %% 97)::float8, 0, {ingested}"
        f" FROM generate_series(1, %s) d, unnest(%s::text[]) m, generate_series(0, %s - 1) s"
        f" ON CONFLICT DO NOTHING",
        (span_s, salt, per_series, PREFIX, DEVICES, list(METRICS), per_series),
    )  # fmt: skip


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


VIEWS = ("measurements_1m", "measurements_1h")


def _clean(conn: psycopg.Connection, engine: Engine) -> None:
    conn.execute("DELETE FROM measurements WHERE device_id LIKE %s", (PREFIX + "%",))
    if engine is Engine.TIMESCALE:
        # Continuous aggregates forget deleted rows at their next refresh of that range.
        for view in VIEWS:
            _refresh_view(conn, view)
    else:
        for view in VIEWS:
            conn.execute(f"DELETE FROM {view} WHERE device_id LIKE %s", (PREFIX + "%",))


def _refresh_view(conn: psycopg.Connection, view: str) -> None:
    """What the view's policy does for the bench's hour (HOUR lies inside both policies'
    windows once it is over; the bench calls it at once). Identifiers are constants."""
    conn.execute(f"CALL refresh_continuous_aggregate('{view}', {HOUR}, {HOUR} + interval '1 hour')")


def measure(
    conn: psycopg.Connection, engine: Engine, in_hour: int, slice_rows: int
) -> dict[str, float]:
    if engine is Engine.TIMESCALE:
        return measure_timescale(conn, in_hour, slice_rows)
    _clean(conn, engine)
    _fill(conn, in_hour, 3600, "now() - interval '10 minutes'", salt=0)
    conn.execute("DELETE FROM rollup_watermarks")
    rollups.refresh(conn)  # the hour so far is rolled up, as it would be
    conn.execute("UPDATE rollup_watermarks SET refreshed_through = now()")
    conn.execute("VACUUM ANALYZE measurements")
    time.sleep(0.1)  # past the watermark: the slice's ingested_at is later
    _fill(conn, slice_rows, 30, "now()", salt=3)
    pid = conn.info.backend_pid
    cpu, wall = _backend_cpu(pid), time.perf_counter()
    rebuilt = rollups.refresh(conn)
    return {
        "wall": time.perf_counter() - wall,
        "cpu": _backend_cpu(pid) - cpu,
        "minutes": rebuilt.get("measurements_1m", 0),
        "hours": rebuilt.get("measurements_1h", 0),
    }


def measure_timescale(conn: psycopg.Connection, in_hour: int, slice_rows: int) -> dict[str, float]:
    _clean(conn, Engine.TIMESCALE)
    _fill(conn, in_hour, 3600, "now() - interval '10 minutes'", salt=0)
    for view in VIEWS:
        _refresh_view(conn, view)  # the hour so far is rolled up, as it would be
    conn.execute("VACUUM ANALYZE measurements")
    _fill(conn, slice_rows, 30, "now()", salt=3)
    pid = conn.info.backend_pid
    out: dict[str, float] = {"wall": 0.0, "cpu": 0.0}
    for view in VIEWS:
        cpu, wall = _backend_cpu(pid), time.perf_counter()
        _refresh_view(conn, view)
        out[f"{view} wall"] = time.perf_counter() - wall
        out[f"{view} cpu"] = _backend_cpu(pid) - cpu
        out["wall"] += out[f"{view} wall"]
        out["cpu"] += out[f"{view} cpu"]
    return out


Result = tuple[int, str, dict[str, float]]  # readings in the hour, engine label, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000000,3000000,6000000",
        help="readings already in the hour, comma-separated",
    )
    parser.add_argument("--rate", type=int, default=15_000, help="readings per second ingested")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "rollups.png")
    parser.add_argument("--fresh", action="store_true", help="re-create the bench databases")
    args = parser.parse_args()  # fmt: skip
    sizes = [int(s) for s in args.sizes.split(",")]
    slice_rows = args.rate * 30
    databases = bench_databases(get_settings(), fresh=args.fresh)
    results: list[Result] = []
    steps = [(size, db) for k, size in enumerate(sizes)
             for db in (databases if k % 2 == 0 else databases[::-1])]  # fmt: skip
    for size, db in track(steps, description="filling and refreshing"):
        results.append((size, db.label, run(db, size, slice_rows)))
    title = f"rollup refresh after 30 s at {args.rate:,} readings/s ({slice_rows:,} rows)"
    _print(results, [db.label for db in databases], title)
    _plot(results, [db.label for db in databases], args.out)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))


def run(db: BenchDatabase, size: int, slice_rows: int) -> dict[str, float]:
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        try:
            return measure(conn, db.engine, size, slice_rows)
        finally:
            _clean(conn, db.engine)


def _print(results: list[Result], labels: list[str], title: str) -> None:
    table = Table(title=title)
    columns = ["readings in the hour"]
    for label in labels:
        columns += [f"{label} refresh s", f"{label} backend CPU s"]
    columns += [f"{labels[-1]}: 1m / 1h s", f"{labels[-1]} / {labels[0]}"]
    for column in columns:
        table.add_column(column, justify="right")
    by = {(size, label): r for size, label, r in results}
    for size in dict.fromkeys(size for size, _, _ in results):
        cells = [f"{size:,}"]
        for label in labels:
            r = by[size, label]
            cells += [f"{r['wall']:.2f}", f"{r['cpu']:.2f}"]
        last = by[size, labels[-1]]
        split = [last.get(f"{view} wall") for view in VIEWS]
        cells.append(" / ".join(f"{v:.2f}" for v in split) if None not in split else "–")
        cells.append(f"{last['wall'] / by[size, labels[0]]['wall']:.2f}")
        table.add_row(*cells)
    console = Console()
    if not console.is_terminal:  # piped to a file: room for the columns
        console.width = 140
    console.print(table)


def _plot(results: list[Result], labels: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for label in labels:
        points = [(s / 1e6, r) for s, lab, r in results if lab == label]
        split = "measurements_1h wall" in points[0][1]
        name = f"{label}: one refresh, wall" + (" (1m + 1h views)" if split else "")
        line = ax.plot([s for s, _ in points], [r["wall"] for _, r in points], marker="o",
                       label=name)  # fmt: skip
        # Backend CPU: what the refresh itself cost, whatever else the machine was doing.
        ax.plot([s for s, _ in points], [r["cpu"] for _, r in points], marker="s", ls="--",
                color=line[0].get_color(), alpha=0.6, label=f"{label}: backend CPU")  # fmt: skip
        if split:
            ax.plot([s for s, _ in points], [r["measurements_1h wall"] for _, r in points],
                    marker="x", ls=":", label=f"{label}: of which the 1h view, wall")  # fmt: skip
    ax.set_xlabel("readings already in the hour (millions)")
    ax.set_ylabel("seconds")
    ax.set_title("rollup refresh after 30 s of new readings", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
