"""Dashboard panel queries over a month of >= 10 million readings, TimescaleDB and plain
PostgreSQL side by side (issue 11, acceptance 5: a 30-day environment dashboard query
answers in <= 150 ms p95).

One database per engine in the stack's cluster (`ioc_bench_dashboard_<engine>`, made
fresh, dropped at the end unless --keep) gets 30 days of a scaled-up simulators fleet
(bench/dashboard_data.py: readings generated server-side, rollups, compression, AQI
by the product's own job). Every panel query of the committed dashboards
(dashboards/json/<uid>.json) is expanded for the last 30 days with the Grafana macro
expander (dashboards/grafana_sql.py) and run as the read-only role
`ioc_dashboard_reader`, as Grafana would: a warm-up, then --runs timed runs per engine,
the engines alternating run by run so the shared machine's load falls on both alike.
Timing is the client's wall time from sending the query to having every row.

    .venv/bin/python bench/dashboard_queries.py           # against the stack in IOC_*
    .venv/bin/python bench/dashboard_queries.py --keep    # keep the data for a re-run
    .venv/bin/python bench/dashboard_queries.py --reuse   # time again on kept data
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import yaml  # noqa: E402
from psycopg import pq, sql  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import dashboard_data  # noqa: E402
from bench.common import StepBars, step_progress  # noqa: E402
from bench.engines import BenchDatabase  # noqa: E402
from config.settings import Settings, get_settings  # noqa: E402
from dashboards.grafana_sql import QueryContext, auto_interval, expand, interval_to_ms  # noqa: E402
from dashboards.grafana_variables import Choice, resolve  # noqa: E402
from stack import postgres  # noqa: E402
from store.engine import Engine  # noqa: E402
from store.migrate import migrate  # noqa: E402

TARGET_MS = 150.0
READER_ROLE = "ioc_dashboard_reader"
DASHBOARDS = ("ioc-environment", "ioc-wall")
# Marks a database this bench built completely (a --reuse of a half-built one refuses).
MARKER = "bench_dashboard_built"
console = Console()


@dataclass
class Query:
    dashboard: str
    panel: str
    ref: str
    text: str  # expanded SQL, what Grafana sends
    times: dict[str, list[float]] = field(default_factory=dict)  # engine label -> ms
    rows: dict[str, int] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # backend CPU, mean per run

    @property
    def name(self) -> str:
        return f"{self.panel} [{self.ref}]"


# --- databases -----------------------------------------------------------------------


def database_name(engine: Engine) -> str:
    return f"ioc_bench_dashboard_{engine.value}"


def databases(settings: Settings, reuse: bool) -> list[BenchDatabase]:
    """Plain PostgreSQL first, then TimescaleDB; migrated, and made afresh unless a
    complete build is to be reused."""
    out = []
    for engine in (Engine.POSTGRES, Engine.TIMESCALE):
        name = database_name(engine)
        update = {"pg_database": name, "db_engine": engine.value, "database_url": None}
        db = BenchDatabase(engine, settings.model_copy(update=update))
        with postgres.admin_connect(settings) as admin:
            found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if not (found.fetchone() and reuse and _built(db)):
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
                admin.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(settings.pg_user)
                    )
                )
        with psycopg.connect(db.dsn(), autocommit=True) as conn:
            report = migrate(conn, engine.value)
        if report.engine.engine is not engine:
            raise RuntimeError(f"{name} was made on {report.engine.engine}, not {engine}")
        out.append(db)
    return out


def _built(db: BenchDatabase) -> bool:
    """A build finished in this database (its marker table exists)."""
    with psycopg.connect(db.dsn()) as conn:
        return conn.execute("SELECT to_regclass(%s)", (MARKER,)).fetchone()[0] is not None


def drop(settings: Settings, dbs: list[BenchDatabase]) -> None:
    with postgres.admin_connect(settings) as admin:
        for db in dbs:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(db.settings.pg_database)
                )
            )


def build(
    dbs: list[BenchDatabase], copies: int, days: int, reuse: bool
) -> dict[str, dict[str, dict[str, float]]]:
    """The month of history in every engine database (unless reused), then every one
    topped up to the current minute, so all end together whatever the build took;
    returns seconds per step."""
    _, series = dashboard_data.fleet(copies)
    per_day = dashboard_data.readings_per_day(series)
    console.print(
        f"fleet: {copies} × simulators/fleet.yaml = {len({s.device_id for s in series})}"
        f" stations, {len(series)} series, ~{per_day:,} readings/day"
    )
    out: dict[str, dict[str, dict[str, float]]] = {"build": {}, "top-up": {}}
    with step_progress(console) as bar:
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        # A day more than the range, so the window never starts at the data's edge.
        start = (end - timedelta(days=days + 1)).replace(hour=0, minute=0)
        for db in dbs:
            if not (reuse and _built(db)):
                console.print(f"{db.label}: {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC")
                with psycopg.connect(db.dsn(), autocommit=True) as conn:
                    out["build"][db.label] = dashboard_data.build(
                        conn, db.engine, db.settings, copies, start, end, StepBars(bar, db.label)
                    )
                    conn.execute(f"CREATE TABLE {MARKER} (data_end timestamptz, copies int)")
                    conn.execute(f"INSERT INTO {MARKER} VALUES (%s, %s)", (end, copies))
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        for db in dbs:
            with psycopg.connect(db.dsn(), autocommit=True) as conn:
                kept = conn.execute(f"SELECT data_end, copies FROM {MARKER}").fetchone()
                if kept[1] != copies:
                    raise SystemExit(f"kept data has --copies {kept[1]}, not {copies}")
                out["top-up"][db.label] = dashboard_data.extend(
                    conn, db.engine, db.settings, copies, kept[0], end,
                    StepBars(bar, f"{db.label} top-up"),
                )  # fmt: skip
                conn.execute(f"UPDATE {MARKER} SET data_end = %s", (end,))
        for db in dbs:
            with psycopg.connect(db.dsn(), autocommit=True) as conn:
                dashboard_data.offline_job(conn, db.settings)
    return out


def data_summary(db: BenchDatabase) -> dict[str, object]:
    with psycopg.connect(db.dsn()) as conn:
        data_end = conn.execute(f"SELECT data_end FROM {MARKER}").fetchone()[0]
        readings, window = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE time >= now() - interval '30 days')"
            " FROM measurements"
        ).fetchone()
        sizes = conn.execute(
            "SELECT (SELECT count(*) FROM measurements_1m), (SELECT count(*) FROM measurements_1h),"
            " (SELECT count(*) FROM aqi_hourly), (SELECT count(*) FROM aqi_daily),"
            " (SELECT count(*) FROM alerts), (SELECT count(*) FROM devices),"
            " pg_database_size(current_database())"
        ).fetchone()
    keys = ("1m rows", "1h rows", "aqi_hourly", "aqi_daily", "alerts", "devices", "db bytes")
    return {"data_end": data_end.isoformat(),
            "readings": readings, "readings in 30 d": window,
            **dict(zip(keys, sizes, strict=True))}  # fmt: skip


# --- timing --------------------------------------------------------------------------


def reader_connection(db: BenchDatabase) -> psycopg.Connection:
    """A connection that runs queries as Grafana's read-only role when it exists."""
    conn = psycopg.connect(db.dsn(), autocommit=True)
    member = conn.execute(
        "SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s",
        (READER_ROLE,),
    ).fetchone()
    if member and member[0]:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(READER_ROLE)))
    else:
        console.print(f"[yellow]{db.label}: no role {READER_ROLE} to SET ROLE to; as the app role")
    conn.execute("SET statement_timeout = '60s'")
    return conn


def run_once(conn: psycopg.Connection, text: str) -> tuple[float, int]:
    """Milliseconds until every row is in the client, and the rows. Through libpq
    directly: the result as libpq holds it, as Grafana's Go driver gets it, without the
    cost of turning 40,000 rows into Python objects (which would be the bench's, not the
    query's, and 150 ms of it on this machine)."""
    query = text.encode()
    t0 = time.perf_counter()
    result = conn.pgconn.exec_(query)
    elapsed = (time.perf_counter() - t0) * 1000
    if result.status != pq.ExecStatus.TUPLES_OK:
        message = (result.error_message or b"").decode(errors="replace")
        raise RuntimeError(f"{message.strip()}\n{text}")
    return elapsed, result.ntuples


def backend_cpu_ms(conn: psycopg.Connection) -> float:
    """CPU time the connection's PostgreSQL backend has used (same host, /proc)."""
    fields = Path(f"/proc/{conn.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def time_queries(
    queries: list[Query], conns: dict[str, psycopg.Connection], runs: int, warmup: int
) -> None:
    """Warm-up runs, then `runs` timed runs per engine, the engines alternating (the
    order flips every run). Backend CPU is summed over the timed runs: on a shared
    machine wall time includes waiting for a core, CPU does not."""
    labels = list(conns)
    with step_progress(console) as bar:
        task = bar.add_task("timing panel queries", total=len(queries))
        for q in queries:
            for label in labels:
                for _ in range(warmup):
                    run_once(conns[label], q.text)
                q.times[label] = []
                q.cpu_ms[label] = 0.0
            for k in range(runs):
                for label in labels if k % 2 == 0 else labels[::-1]:
                    cpu = backend_cpu_ms(conns[label])
                    ms, rows = run_once(conns[label], q.text)
                    q.cpu_ms[label] += (backend_cpu_ms(conns[label]) - cpu) / runs
                    q.times[label].append(ms)
                    q.rows[label] = rows
            bar.advance(task)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def explain(conn: psycopg.Connection, text: str) -> str:
    rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + text).fetchall()
    return "\n".join(r[0] for r in rows)


# --- output --------------------------------------------------------------------------


def print_table(queries: list[Query], labels: list[str], title: str) -> None:
    table = Table(title=title)
    table.add_column("dashboard / panel [query]", overflow="fold")
    for label in labels:
        table.add_column(f"{label} rows", justify="right")
        table.add_column(f"{label} p50 / p95 / max ms", justify="right")
        table.add_column(f"{label} CPU ms", justify="right")
    table.add_column(f"{labels[-1]} / {labels[0]} p50, p95", justify="right")
    table.add_column(f"≤ {TARGET_MS:.0f} ms p95", justify="center")
    for q in queries:
        cells = [f"{q.dashboard}: {q.name}"]
        for label in labels:
            t = q.times[label]
            cells += [f"{q.rows[label]:,}",
                      f"{statistics.median(t):.1f} / {p95(t):.1f} / {max(t):.1f}",
                      f"{q.cpu_ms[label]:.1f}"]  # fmt: skip
        a, b = q.times[labels[-1]], q.times[labels[0]]
        cells.append(f"{statistics.median(a) / statistics.median(b):.2f}, {p95(a) / p95(b):.2f}")
        worst = max(p95(q.times[label]) for label in labels)
        cells.append("[green]yes" if worst <= TARGET_MS else "[red]NO")
        table.add_row(*cells)
    if not console.is_terminal:  # piped to a file: room for the columns
        console.width = 180
    console.print(table)


def plot(queries: list[Query], labels: list[str], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    height = 1.5 + 0.2 * len(queries) * len(labels)
    fig, ax = plt.subplots(figsize=(9, height))
    bar_h = 0.8 / len(labels)
    colours = {"plain PG": "#4c72b0", "TimescaleDB": "#dd8452"}
    for i, label in enumerate(labels):
        ys = [k + i * bar_h for k in range(len(queries))]
        p50s = [statistics.median(q.times[label]) for q in queries]
        p95s = [p95(q.times[label]) for q in queries]
        ax.barh(ys, p95s, height=bar_h * 0.9, color=colours.get(label), alpha=0.35,
                label=f"{label} p95")  # fmt: skip
        ax.barh(ys, p50s, height=bar_h * 0.9, color=colours.get(label), label=f"{label} p50")
        ax.scatter([max(q.times[label]) for q in queries], ys, marker="|", s=60,
                   color=colours.get(label), label=f"{label} max")  # fmt: skip
    ax.axvline(TARGET_MS, color="red", ls="--", lw=1, label=f"target p95 {TARGET_MS:.0f} ms")
    ax.set_yticks([k + bar_h * (len(labels) - 1) / 2 for k in range(len(queries))])
    ax.set_yticklabels([f"{q.dashboard.removeprefix('ioc-')}: {q.name}"[:60] for q in queries],
                       fontsize=7)  # fmt: skip
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ms per query, sent until every row is in the client (log scale)")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    console.print(f"plot: {out}")


# --- panels --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5, help="times simulators/fleet.yaml")
    parser.add_argument("--days", type=int, default=30, help="dashboard range, days")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query and engine")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--reuse", action="store_true",
                        help="top up data kept by --keep (build what is missing)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--build-only", action="store_true", help="make the data, time nothing")
    parser.add_argument("--dashboards", default=",".join(DASHBOARDS))
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE misses")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard-queries.png")
    args = parser.parse_args()
    settings = get_settings()
    dbs = databases(settings, reuse=args.reuse)
    results: dict[str, object] = {}
    try:
        results["build seconds"] = build(dbs, args.copies, args.days, args.reuse)
        results["data"] = {db.label: data_summary(db) for db in dbs}
        console.print_json(data=results)
        if args.build_only:
            return
        now = datetime.now(UTC)
        start = now - timedelta(days=args.days)
        results["dashboards"] = json_provenance(args.dashboards.split(","))
        console.print(f"committed dashboards: {results['dashboards']}")
        conns = {db.label: reader_connection(db) for db in dbs}
        queries = load_queries(args.dashboards.split(","), conns[dbs[-1].label], start, now)
        try:
            time_queries(queries, conns, args.runs, args.warmup)
            labels = list(conns)
            title = (f"dashboard panel queries, last {args.days} days,"
                     f" {results['data'][labels[-1]]['readings in 30 d']:,} readings;"
                     f" {args.runs} runs each")  # fmt: skip
            print_table(queries, labels, title)
            plot(queries, labels, args.out, title)
            if args.explain:
                for q in queries:
                    for label in labels:
                        if p95(q.times[label]) > TARGET_MS:
                            console.rule(f"{label}: {q.dashboard}: {q.name}")
                            console.print(q.text)
                            console.print(explain(conns[label], q.text))
        finally:
            for conn in conns.values():
                conn.close()
        results["queries"] = [
            {"dashboard": q.dashboard, "panel": q.panel, "ref": q.ref, "rows": q.rows,
             "ms": q.times, "backend_cpu_ms": q.cpu_ms, "sql": q.text} for q in queries
        ]  # fmt: skip
        out = ROOT / "bench" / "out" / "dashboard-queries.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=str))
    finally:
        if not args.keep:
            drop(settings, dbs)
            console.print("bench databases dropped (--keep keeps them)")


# Screen widths the dashboards are looked at on: a desk's browser, the wall's screen.
# Grafana's maxDataPoints defaults to a panel's width in pixels, which sets $__interval.
SCREEN_PX = {"ioc-wall": 3840}
DESK_PX = 1920
# Variable choices timed: the dashboards open on All (every province and station); an
# operator then narrows $station to a few stations, here one of each type.
CHOICES = ("All", "3 stations")


def load_queries(
    uids: list[str], conn: psycopg.Connection, start: datetime, end: datetime
) -> list[Query]:
    """Every SQL target of the committed dashboards, expanded as Grafana would send it
    for [start, end], once per variable choice (a query the choice does not change is
    kept once); the variables' own queries too. `conn` runs the variables' queries."""

    asked: list[str] = []

    def run_sql(text: str) -> tuple[list[str], list[tuple[object, ...]]]:
        asked.append(text)
        cur = conn.execute(text)
        return [c.name for c in cur.description or []], cur.fetchall()

    out: list[Query] = []
    for uid in uids:
        board = json.loads((ROOT / "dashboards" / "json" / f"{uid}.json").read_text())
        base = QueryContext(start, end, timedelta(minutes=1), timescaledb=_timescaledb_flag())
        # The variables' own queries, as Grafana runs them when the dashboard loads.
        asked.clear()
        resolve(board, base, Choice.ALL, run_sql)
        names = [v["name"] for v in board.get("templating", {}).get("list", [])
                 if v.get("type", "query") == "query"]  # fmt: skip
        for name, text in zip(names, asked, strict=True):
            out.append(Query(uid, f"variable ${name}", "var", text))
        seen: set[str] = set()
        for choice in CHOICES:
            ctx = resolve(board, base, Choice.ALL, run_sql)
            if choice != "All":
                ctx = _one_station_per_type(ctx, conn)
            for panel, target in _targets(board):
                p_start, p_end = _panel_range(panel, start, end)
                panel_ctx = replace(ctx, time_from=p_start, time_to=p_end,
                                    interval=_interval(uid, panel, p_start, p_end))  # fmt: skip
                text = expand(target["rawSql"], panel_ctx)
                if text in seen:
                    continue
                seen.add(text)
                title = panel.get("title") or f"panel {panel.get('id')}"
                ref = target.get("refId", "A")
                ref += "" if choice == "All" else f", {choice}"
                out.append(Query(uid, title, ref, text))
    return out


def _timescaledb_flag() -> bool:
    """jsonData.timescaledb of the provisioned data source ($__timeGroup follows it)."""
    path = ROOT / "dashboards" / "provisioning" / "datasources"
    for file in sorted(path.glob("*.y*ml")):
        for source in yaml.safe_load(file.read_text(encoding="utf-8")).get("datasources", []):
            if source.get("uid") == "ioc-timescaledb":
                return bool(source.get("jsonData", {}).get("timescaledb"))
    raise RuntimeError(f"no data source ioc-timescaledb under {path}")


def _one_station_per_type(ctx: QueryContext, conn: psycopg.Connection) -> QueryContext:
    """$station narrowed to the first station (by id) of each device type."""
    station = ctx.variables.get("station")
    if station is None:
        return ctx
    ids = [row[0] for row in conn.execute(
        "SELECT DISTINCT ON (type) id FROM devices WHERE id = ANY(%s) ORDER BY type, id",
        (list(station.options),))]  # fmt: skip
    picked = replace(station, value=ids, text=ids)
    return replace(ctx, variables={**ctx.variables, "station": picked})


def json_provenance(uids: list[str]) -> dict[str, str]:
    """Which committed version of each dashboard the figures come from, and whether the
    file read differs from it (then the figures are not the committed dashboard's)."""
    out = {}
    for uid in uids:
        path = f"dashboards/json/{uid}.json"
        commit = subprocess.run(["git", "log", "-1", "--format=%h %cI", "--", path], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", path], cwd=ROOT).returncode
        out[uid] = f"{commit or 'NOT COMMITTED'}{' + UNCOMMITTED CHANGES' if dirty else ''}"
    return out


def _targets(board: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every raw SQL target Grafana runs (not hidden ones), rows'
    folded panels included."""

    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    return [(panel, target) for panel in walk(board.get("panels", []))
            for target in panel.get("targets", []) or []
            if target.get("rawSql") and not target.get("hide")]  # fmt: skip


def _panel_range(
    panel: dict[str, Any], start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """A panel's relative time override: `timeFrom` is now-<timeFrom>..now instead of the
    dashboard's range, `timeShift` moves the range back."""
    if panel.get("timeFrom"):
        start = end - timedelta(milliseconds=interval_to_ms(panel["timeFrom"]))
    if panel.get("timeShift"):
        shift = timedelta(milliseconds=interval_to_ms(panel["timeShift"]))
        start, end = start - shift, end - shift
    return start, end


def _interval(uid: str, panel: dict[str, Any], start: datetime, end: datetime) -> timedelta:
    width = panel.get("gridPos", {}).get("w", 24) / 24 * SCREEN_PX.get(uid, DESK_PX)
    points = panel.get("maxDataPoints") or int(width)
    return auto_interval(start, end, points, panel.get("interval") or None)


if __name__ == "__main__":
    main()
