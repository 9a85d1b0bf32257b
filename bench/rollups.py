"""Plain-PostgreSQL rollup refresh cost as the current hour fills up.

The ingest workers refresh measurements_1m / measurements_1h every 30 s on plain
PostgreSQL (store/rollups.py). For each size, the bench fills an hour with that many
readings (already rolled up), adds what 30 s at a given rate brings to the end of that
hour, and times one refresh: wall time and the database backend's CPU. Its rows belong
to devices of its own and are deleted afterwards. TimescaleDB does this with continuous
aggregates and is not measured here.

    .venv/bin/python bench/rollups.py            # against the stack in IOC_* settings
"""

from __future__ import annotations

import argparse
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

from config.settings import get_settings  # noqa: E402
from store import rollups  # noqa: E402

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


def _clean(conn: psycopg.Connection) -> None:
    for table in ("measurements", "measurements_1m", "measurements_1h"):
        conn.execute(f"DELETE FROM {table} WHERE device_id LIKE %s", (PREFIX + "%",))


def measure(conn: psycopg.Connection, in_hour: int, slice_rows: int) -> dict[str, float]:
    _clean(conn)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000000,3000000,6000000",
        help="readings already in the hour, comma-separated",
    )
    parser.add_argument("--rate", type=int, default=15_000, help="readings per second ingested")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "rollups.png")
    args = parser.parse_args()  # fmt: skip
    sizes = [int(s) for s in args.sizes.split(",")]
    slice_rows = args.rate * 30
    results = []
    with psycopg.connect(get_settings().dsn(), autocommit=True) as conn:
        try:
            for size in track(sizes, description="filling and refreshing"):
                results.append((size, measure(conn, size, slice_rows)))
        finally:
            _clean(conn)
    _print(results, f"rollup refresh after 30 s at {args.rate:,} readings/s ({slice_rows:,} rows)")
    _plot(results, args.out)


def _print(results: list[tuple[int, dict[str, float]]], title: str) -> None:
    table = Table(title=title)
    for column in ("readings in the hour", "refresh s", "backend CPU s", "1m / 1h rebuilt"):
        table.add_column(column, justify="right")
    for size, r in results:
        rebuilt = f"{r['minutes']:,} / {r['hours']:,}"
        table.add_row(f"{size:,}", f"{r['wall']:.2f}", f"{r['cpu']:.2f}", rebuilt)
    Console().print(table)


def _plot(results: list[tuple[int, dict[str, float]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s / 1e6 for s, _ in results], [r["wall"] for _, r in results], marker="o")
    ax.set_xlabel("readings already in the hour (millions)")
    ax.set_ylabel("one refresh, seconds")
    ax.set_title("plain-PostgreSQL rollup refresh")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
